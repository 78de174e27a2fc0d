/*
 * get.c - `kumoctl get`: list objects (or get named ones) and print them as a
 * table, wide table, YAML, JSON or names; with -w, go on printing every
 * change until interrupted.
 *
 * -w lists first (printing the table aligned), then watches from the list's
 * revision through the client library, which delivers every later change
 * once and in order, across NATS and kumod restarts.
 */
#include "cmd/kumoctl/remote.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

const char kumoctl_get_help[] =
    "Show objects: a table by default, or YAML, JSON or names.\n"
    "\n"
    "Usage:\n"
    "  kumoctl get KIND[,KIND...] [NAME...] [flags]\n"
    "  kumoctl get KIND/NAME [KIND/NAME...] [flags]\n"
    "\n"
    "KIND is a kind, its plural or a short name (kumoctl api-resources lists them):\n"
    "infras, inf, machines, ma, connections, conn, apps, app, loadbalancers, lb, ...\n"
    "\"all\" is every kind but Event; only kinds with objects are printed.\n"
    "\n"
    "Flags:\n"
    "  -A, --all-namespaces       every namespace (adds a NAMESPACE column)\n"
    "  -l, --selector SEL         label selector: app=web,tier!=db,env in (a,b),!legacy\n"
    "      --field-selector SEL   FIELD=VALUE, FIELD!=VALUE, ...: metadata.name and\n"
    "                             metadata.namespace are filtered by kumod, any other\n"
    "                             field (status.phase=Running) by kumoctl\n"
    "  -o, --output FORMAT        table (default), wide, yaml, json, name,\n"
    "                             jsonpath=TEMPLATE, jsonpath-file=FILE,\n"
    "                             custom-columns=HEADER:PATH[,HEADER:PATH...] or\n"
    "                             custom-columns-file=FILE (headers, then paths)\n"
    "      --sort-by PATH         order by a JSONPath such as .metadata.name or\n"
    "                             .status.ready (numbers by value, text naturally)\n"
    "      --show-labels          tables get a LABELS column\n"
    "  -w, --watch                after printing, print every change until Ctrl-C\n"
    "      --no-headers           tables without the header line\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl get infras\n"
    "  kumoctl get machines -o wide -l kumo.dev/infra=web\n"
    "  kumoctl get inf web -o yaml\n"
    "  kumoctl get infras,connections -A\n"
    "  kumoctl get machines -w\n"
    "  kumoctl get all\n"
    "  kumoctl get machines -o jsonpath='{range "
    ".items[*]}{.metadata.name}{\"\\t\"}{.status.phase}{\"\\n\"}{end}'\n"
    "  kumoctl get machines -o custom-columns=NAME:.metadata.name,IP:.status.addresses[0].address\n"
    "  kumoctl get machines --sort-by=.metadata.creationTimestamp --show-labels\n"
    "\n"
    "Exit status: 0 printed (also when nothing matched); 1 a named object does not\n"
    "exist or kumod could not be reached; 2 usage error.\n";

typedef struct get_options {
    kumoctl_remote remote;
    kumoctl_targets targets;
    int all_namespaces;
    const char *label_selector;
    const char *field_selector; /* what kumod filters: NULL or the metadata terms */
    kumoctl_field_selector fields;
    kumoctl_output output;
    const char *template; /* of -o jsonpath= / custom-columns= */
    const char *sort_by;
    int show_labels;
    int watch;
    int no_headers;
} get_options;

/* Collected objects of one kind. */
typedef struct get_bucket {
    const kumo_object_kind *kind;
    ProtobufCMessage **items;
    size_t count, cap;
    int64_t revision; /* of the list */
} get_bucket;

static int bucket_push(get_bucket *b, ProtobufCMessage *object)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        ProtobufCMessage **grown = realloc(b->items, cap * sizeof(*grown));
        if (grown == NULL) {
            kumo_object_destroy(object);
            return -1;
        }
        b->items = grown;
        b->cap = cap;
    }
    b->items[b->count++] = object;
    return 0;
}

static void bucket_free(get_bucket *b)
{
    for (size_t i = 0; i < b->count; i++)
        kumo_object_destroy(b->items[i]);
    free(b->items);
}

/* The items and metadata of a List message, generically. */
static ProtobufCMessage ***list_items(ProtobufCMessage *list, size_t **count)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "items");
    *count = (size_t *)((char *)list + f->quantifier_offset);
    return (ProtobufCMessage ***)((char *)list + f->offset);
}

static const Kumo__V1alpha1__ListMeta *list_meta(const ProtobufCMessage *list)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "metadata");
    return *(const Kumo__V1alpha1__ListMeta *const *)((const char *)list + f->offset);
}

/* Lists every page of one kind into the bucket. */
static int list_kind(get_options *o, get_bucket *b)
{
    char *token = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    int status = KUMOCTL_EXIT_OK;
    for (int page = 0;; page++) {
        kumo_client_list_options lo = {o->label_selector, o->field_selector, 500, token};
        ProtobufCMessage *list = NULL;
        kumo_error e = kumo_client_list(
            o->remote.client, b->kind,
            o->all_namespaces ? NULL : kumoctl_remote_namespace(&o->remote), &lo, &list, &diag);
        free(token);
        token = NULL;
        if (e != KUMO_ERROR_OK) {
            status = kumoctl_remote_fail(&o->remote, &diag, "listing %s", b->kind->plural);
            break;
        }
        size_t *count;
        ProtobufCMessage ***items = list_items(list, &count);
        for (size_t i = 0; i < *count; i++) {
            if (kumoctl_field_selector_matches(&o->fields, (*items)[i]))
                bucket_push(b, (*items)[i]);
            else
                kumo_object_destroy((*items)[i]);
        }
        *count = 0;
        const Kumo__V1alpha1__ListMeta *meta = list_meta(list);
        if (page == 0 && meta)
            b->revision = strtoll(meta->resource_version, NULL, 10);
        if (meta && meta->continue_[0])
            token = strdup(meta->continue_);
        kumo_object_destroy(list);
        if (token == NULL)
            break;
    }
    kumo_diag_fini(&diag);
    return status;
}

static int get_flag(void *context, int id, const char *value)
{
    get_options *o = context;
    int taken = kumoctl_remote_flag(&o->remote, id, value);
    if (taken != KUMOCTL_INPUT_NOT_MINE)
        return taken == KUMOCTL_INPUT_TAKEN ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_USAGE;
    switch (id) {
    case KUMOCTL_FLAG_ALL_NAMESPACES:
        o->all_namespaces = 1;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_SELECTOR:
        o->label_selector = value;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_FIELD_SELECTOR:
        if (kumoctl_field_selector_parse(o->remote.command, value, &o->fields) != KUMOCTL_EXIT_OK)
            return KUMOCTL_EXIT_USAGE;
        o->field_selector = o->fields.server[0] ? o->fields.server : NULL;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_OUTPUT:
        return kumoctl_output_parse(o->remote.command, value, &o->output, &o->template) == 0
                   ? KUMOCTL_EXIT_OK
                   : KUMOCTL_EXIT_USAGE;
    case KUMOCTL_FLAG_SORT_BY:
        o->sort_by = value;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_SHOW_LABELS:
        o->show_labels = 1;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_WATCH:
        o->watch = 1;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_NO_HEADERS:
        o->no_headers = 1;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_PARSE_ARGUMENT:
        return kumoctl_targets_add(&o->targets, o->remote.command, value);
    default:
        return KUMOCTL_EXIT_USAGE;
    }
}

/* Objects in a non-table output; `list` as for kumoctl_print_objects. */
static int print_some(const get_options *o, ProtobufCMessage *const *objects, size_t count,
                      int list, int no_headers)
{
    if (o->output == KUMOCTL_OUTPUT_JSONPATH)
        return kumoctl_print_jsonpath(objects, count, list, o->template, stdout);
    if (o->output == KUMOCTL_OUTPUT_CUSTOM_COLUMNS)
        return kumoctl_print_custom_columns(objects, count, o->template,
                                            no_headers || o->no_headers, stdout);
    return kumoctl_print_objects(objects, count, o->output, list, stdout);
}

/* ---- -w ---------------------------------------------------------------------------- */

typedef struct get_watch {
    get_options *options;
    kumoctl_table *table;
    pthread_mutex_t lock;
} get_watch;

static void on_change(void *context, kumo_client_event_type type, int64_t revision,
                      const ProtobufCMessage *object)
{
    (void)type;
    (void)revision;
    get_watch *gw = context;
    if (!kumoctl_field_selector_matches(&gw->options->fields, object))
        return;
    pthread_mutex_lock(&gw->lock);
    kumoctl_output output = gw->options->output;
    if (output == KUMOCTL_OUTPUT_TABLE || output == KUMOCTL_OUTPUT_WIDE) {
        kumoctl_table_add(gw->table, object);
        kumoctl_table_print_more(gw->table, stdout);
    } else {
        ProtobufCMessage *const one[] = {(ProtobufCMessage *)object};
        print_some(gw->options, one, 1, 0, 1);
    }
    fflush(stdout);
    pthread_mutex_unlock(&gw->lock);
}

/* Watches from the list's revision until SIGINT or SIGTERM (blocked by the caller). */
static int watch_changes(get_options *o, get_bucket *b, kumoctl_table *table,
                         const sigset_t *stop_signals)
{
    get_watch gw = {o, table, PTHREAD_MUTEX_INITIALIZER};
    char name_selector[300];
    const char *fields = o->field_selector;
    if (o->targets.name_count == 1) {
        snprintf(name_selector, sizeof(name_selector), "metadata.name=%s", o->targets.names[0]);
        fields = name_selector;
    }
    kumo_client_watch_options wo = {o->label_selector, fields, b->revision};
    kumo_client_watch *w = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_client_watch_start(
        o->remote.client, b->kind, o->all_namespaces ? NULL : kumoctl_remote_namespace(&o->remote),
        &wo, on_change, &gw, &w, &diag);
    int status = KUMOCTL_EXIT_OK;
    if (e != KUMO_ERROR_OK) {
        status = kumoctl_remote_fail(&o->remote, &diag, "watching %s", b->kind->plural);
    } else {
        int signal_number = 0;
        sigwait(stop_signals, &signal_number);
        kumo_client_watch_stop(w);
    }
    kumo_diag_fini(&diag);
    return status;
}

/* ---- printing ------------------------------------------------------------------------- */

static void print_empty(const get_options *o)
{
    if (o->all_namespaces)
        fprintf(stderr, "No resources found\n");
    else
        fprintf(stderr, "No resources found in %s namespace.\n",
                kumoctl_remote_namespace(&o->remote));
}

static int print_buckets(get_options *o, get_bucket *buckets, int count,
                         const sigset_t *stop_signals)
{
    size_t total = 0;
    for (int k = 0; k < count; k++)
        total += buckets[k].count;
    if (o->output == KUMOCTL_OUTPUT_TABLE || o->output == KUMOCTL_OUTPUT_WIDE) {
        int printed = 0, status = KUMOCTL_EXIT_OK;
        for (int k = 0; k < count; k++) {
            get_bucket *b = &buckets[k];
            kumoctl_table table;
            kumoctl_table_init(&table, b->kind, o->output, o->all_namespaces, count > 1);
            table.no_headers = o->no_headers;
            if (o->show_labels)
                kumoctl_table_show_labels(&table);
            for (size_t i = 0; i < b->count; i++)
                kumoctl_table_add(&table, b->items[i]);
            if (b->count > 0 || o->watch) {
                if (printed++)
                    printf("\n");
                kumoctl_table_print(&table, stdout);
            }
            fflush(stdout);
            if (o->watch)
                status = watch_changes(o, b, &table, stop_signals);
            kumoctl_table_fini(&table);
        }
        if (total == 0 && !o->watch && o->targets.name_count == 0)
            print_empty(o);
        return status;
    }
    ProtobufCMessage **all = calloc(total ? total : 1, sizeof(*all));
    if (all == NULL)
        return kumoctl_error("out of memory");
    size_t n = 0;
    for (int k = 0; k < count; k++)
        for (size_t i = 0; i < buckets[k].count; i++)
            all[n++] = buckets[k].items[i];
    int status = o->sort_by ? kumoctl_sort_objects(all, n, o->sort_by) : KUMOCTL_EXIT_OK;
    if (status != KUMOCTL_EXIT_OK) {
        free(all);
        return status;
    }
    int one = o->targets.name_count == 1 && total == 1;
    if (total > 0 || o->output == KUMOCTL_OUTPUT_JSON || o->output == KUMOCTL_OUTPUT_JSONPATH)
        status = print_some(o, all, n, !one, 0);
    free(all);
    fflush(stdout);
    if (total == 0 && o->output != KUMOCTL_OUTPUT_JSON && o->output != KUMOCTL_OUTPUT_JSONPATH &&
        !o->watch && o->targets.name_count == 0)
        print_empty(o);
    if (status == KUMOCTL_EXIT_OK && o->watch)
        status = watch_changes(o, &buckets[0], NULL, stop_signals);
    return status;
}

static int get_run(get_options *o, const sigset_t *stop_signals)
{
    get_bucket buckets[16];
    int count = o->targets.kind_count, status = KUMOCTL_EXIT_OK;
    memset(buckets, 0, sizeof(buckets));
    for (int k = 0; k < count; k++)
        buckets[k].kind = o->targets.kinds[k];
    if (o->targets.name_count > 0) {
        kumo_diag diag;
        kumo_diag_init(&diag);
        for (int i = 0; i < o->targets.name_count; i++) {
            get_bucket *b = NULL;
            for (int k = 0; k < count; k++)
                if (buckets[k].kind == o->targets.name_kinds[i])
                    b = &buckets[k];
            ProtobufCMessage *object = NULL;
            const char *ns = kumoctl_remote_namespace(&o->remote);
            kumo_error e =
                kumo_client_get(o->remote.client, b->kind, ns, o->targets.names[i], &object, &diag);
            if (e == KUMO_ERROR_OK) {
                const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
                int64_t rv = m ? strtoll(m->resource_version, NULL, 10) : 0;
                if (rv > b->revision)
                    b->revision = rv;
                bucket_push(b, object);
            } else if (e == KUMO_ERROR_NOT_FOUND) {
                char ref[512];
                kumoctl_object_ref(b->kind, o->targets.names[i], ref, sizeof(ref));
                fflush(stdout);
                status = kumoctl_error("%s not found in namespace \"%s\" (list what exists with: "
                                       "kumoctl get %s -n %s)",
                                       ref, ns, b->kind->plural, ns);
            } else {
                status = kumoctl_remote_fail(&o->remote, &diag, "getting %s \"%s\"", b->kind->kind,
                                             o->targets.names[i]);
            }
            kumo_diag_fini(&diag);
        }
    } else {
        for (int k = 0; k < count && status == KUMOCTL_EXIT_OK; k++)
            status = list_kind(o, &buckets[k]);
    }
    /* tables are one per kind, each sorted; other outputs are sorted as one list */
    int tables = o->output == KUMOCTL_OUTPUT_TABLE || o->output == KUMOCTL_OUTPUT_WIDE;
    for (int k = 0; tables && o->sort_by && status == KUMOCTL_EXIT_OK && k < count; k++)
        status = kumoctl_sort_objects(buckets[k].items, buckets[k].count, o->sort_by);
    if (status == KUMOCTL_EXIT_OK || o->targets.name_count > 1) {
        int printed = print_buckets(o, buckets, count, stop_signals);
        if (status == KUMOCTL_EXIT_OK)
            status = printed;
    }
    for (int k = 0; k < count; k++)
        bucket_free(&buckets[k]);
    return status;
}

int kumoctl_get_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"all-namespaces", 'A', 0, KUMOCTL_FLAG_ALL_NAMESPACES, NULL},
        {"selector", 'l', 1, KUMOCTL_FLAG_SELECTOR, "a label selector such as app=web"},
        {"field-selector", 0, 1, KUMOCTL_FLAG_FIELD_SELECTOR, "e.g. metadata.name=web"},
        {"output", 'o', 1, KUMOCTL_FLAG_OUTPUT, "table, wide, yaml, json or name"},
        {"watch", 'w', 0, KUMOCTL_FLAG_WATCH, NULL},
        {"no-headers", 0, 0, KUMOCTL_FLAG_NO_HEADERS, NULL},
        {"sort-by", 0, 1, KUMOCTL_FLAG_SORT_BY, "a JSONPath such as .metadata.name"},
        {"show-labels", 0, 0, KUMOCTL_FLAG_SHOW_LABELS, NULL},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    get_options o;
    memset(&o, 0, sizeof(o));
    kumoctl_remote_init(&o.remote, "kumoctl get");
    int status = kumoctl_parse(o.remote.command, flags, sizeof(flags) / sizeof(flags[0]), argc,
                               argv, kumoctl_get_help, get_flag, &o);
    if (status != KUMOCTL_CONTINUE)
        return status;
    if (o.targets.kind_count == 0)
        return kumoctl_usage_error(o.remote.command,
                                   "name a kind, e.g. kumoctl get infras (see kumoctl "
                                   "api-resources)");
    if (o.all_namespaces && o.remote.ns)
        return kumoctl_usage_error(o.remote.command, "give either -n or -A, not both");
    if (o.all_namespaces && o.targets.name_count > 0)
        return kumoctl_usage_error(o.remote.command,
                                   "names are looked up in one namespace; drop -A and use -n");
    if (o.watch && (o.targets.kind_count > 1 || o.targets.name_count > 1))
        return kumoctl_usage_error(o.remote.command, "-w watches one kind (and at most one name)");
    /* -w: the watch thread and NATS's threads inherit the blocked stop signals. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (o.watch)
        pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    status = kumoctl_remote_connect(&o.remote);
    if (status == KUMOCTL_EXIT_OK)
        status = get_run(&o, &stop_signals);
    kumoctl_remote_fini(&o.remote);
    return status;
}
