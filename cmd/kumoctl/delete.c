/*
 * delete.c - `kumoctl delete`: delete named objects (or those of manifests)
 * and, unless --wait=false, wait until all are really gone (one --timeout for
 * the whole command): an object with finalizers stays, marked for deletion,
 * until its controller removes them. Objects go users first, what they use
 * last (Credentials after Connections), whatever the order of the files.
 * --cascade=orphan keeps the dependents (their owner reference is removed);
 * the default, background, lets kumod delete them too.
 */
#include "cmd/kumoctl/remote.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

const char kumoctl_delete_help[] =
    "Delete objects, and wait until they are gone. Objects that use others go\n"
    "first (Apps, Infras, Machines, ...), Connections and Credentials last,\n"
    "whatever the order of the files.\n"
    "\n"
    "Usage:\n"
    "  kumoctl delete KIND NAME [NAME...] [flags]\n"
    "  kumoctl delete KIND/NAME [KIND/NAME...] [flags]\n"
    "  kumoctl delete -f FILE|DIR|- [flags]\n"
    "  kumoctl delete KIND -l SELECTOR [flags]\n"
    "  kumoctl delete KIND --all [flags]\n"
    "\n"
    "Flags:\n"
    "  -f, --filename FILE|DIR|-  delete the objects named in these manifests\n"
    "  -R, --recursive            also read the subdirectories of a DIR\n"
    "  -l, --selector SEL         every object of KIND matching a label selector\n"
    "      --all                  every object of KIND in the namespace\n"
    "      --wait=true|false      wait until each object is gone (default true)\n"
    "      --timeout D            how long to wait for all of them (default: no limit)\n"
    "      --cascade=background|orphan\n"
    "                             background (default): dependents are deleted too;\n"
    "                             orphan: dependents stay, without this owner\n"
    "      --ignore-not-found     an object that does not exist is not an "
    "error\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl delete infra hello\n"
    "  kumoctl delete inf/hello --cascade=orphan\n"
    "  kumoctl delete -f examples/quickstart.yaml --wait=false\n"
    "  kumoctl delete machines -l kumo.dev/infra=web\n"
    "  kumoctl delete connections --all\n"
    "\n"
    "Output: \"infra.kumo.dev \\\"hello\\\" deleted\" per object. Exit status: 0 deleted;\n"
    "1 an object did not exist, a wait timed out or kumod could not be reached; 2\n"
    "usage error.\n";

typedef struct delete_state {
    kumoctl_remote remote;
    kumoctl_targets targets;
    int wait;
    int orphan;
    int ignore_not_found;
    int64_t timeout_ms;
    /* objects from -f (their names point into these) */
    ProtobufCMessage **objects;
    size_t object_count;
    int failed_documents;
    /* -l / --all: the objects listed (target names point into it) */
    const char *selector;
    int all;
    ProtobufCMessage *selected;
} delete_state;

static int delete_flag(void *context, int id, const char *value)
{
    delete_state *s = context;
    int taken = kumoctl_remote_flag(&s->remote, id, value);
    if (taken != KUMOCTL_INPUT_NOT_MINE)
        return taken == KUMOCTL_INPUT_TAKEN ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_USAGE;
    switch (id) {
    case KUMOCTL_FLAG_WAIT:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return kumoctl_usage_error(s->remote.command, "--wait takes true or false, e.g. "
                                                          "--wait=false");
        s->wait = value[0] == 't';
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_CASCADE:
        if (strcmp(value, "orphan") == 0)
            s->orphan = 1;
        else if (strcmp(value, "background") == 0 || strcmp(value, "true") == 0)
            s->orphan = 0;
        else
            return kumoctl_usage_error(s->remote.command,
                                       "--cascade \"%s\": use background or orphan", value);
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_TIMEOUT:
        if (kumoctl_parse_duration(value, &s->timeout_ms) != 0)
            return kumoctl_usage_error(s->remote.command,
                                       "--timeout \"%s\" is not a duration; write e.g. 30s or 5m",
                                       value);
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_IGNORE_NOT_FOUND:
        s->ignore_not_found = 1;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_SELECTOR:
        s->selector = value;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_ALL:
        s->all = 1;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_PARSE_ARGUMENT:
        return kumoctl_targets_add(&s->targets, s->remote.command, value);
    default:
        return KUMOCTL_EXIT_USAGE;
    }
}

/* -f: remember each document's object (no limit on how many). */
static void delete_document(void *context, const kumoctl_source *source, kumo_object_document *doc)
{
    delete_state *s = context;
    char location[4200];
    kumoctl_location(source, doc->line, location, sizeof(location));
    if (doc->diag.code != KUMO_ERROR_OK || doc->object == NULL) {
        s->failed_documents++;
        kumoctl_print_document_errors(location, doc, &doc->diag);
        return;
    }
    ProtobufCMessage **grown = realloc(s->objects, (s->object_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        s->failed_documents++;
        return;
    }
    s->objects = grown;
    s->objects[s->object_count++] = doc->object;
    doc->object = NULL;
}

/* One object to delete. */
typedef struct delete_item {
    const kumo_object_kind *kind;
    const char *ns, *name;
    int deleted;
} delete_item;

/*
 * The order objects go in: what uses others first, what is used last (Credentials after
 * the Connections that name them, Connections after every cloud resource made through
 * them), whatever the order of the files. The controllers' finalizers make any order
 * safe; this order lets each object go at once instead of waiting for its users.
 */
static int kind_rank(const kumo_object_kind *kind)
{
    static const char *const order[] = {
        "Migration",     "LoadBalancer", "App",        "Infra",      "Machine", "KeyPair",
        "SecurityGroup", "Network",      "Connection", "Credential", NULL};
    for (int i = 0; order[i]; i++)
        if (strcmp(kind->kind, order[i]) == 0)
            return i;
    return -1; /* other kinds (Events) first */
}

/* Every object to delete, in deletion order (caller frees); NULL when out of memory. */
static delete_item *delete_items(const delete_state *s, size_t *count_out)
{
    size_t n = (size_t)s->targets.name_count + s->object_count;
    delete_item *items = calloc(n + 1, sizeof(*items));
    if (items == NULL)
        return NULL;
    const char *ns = kumoctl_remote_namespace(&s->remote);
    for (int i = 0; i < s->targets.name_count; i++)
        items[i] = (delete_item){s->targets.name_kinds[i], ns, s->targets.names[i], 0};
    for (size_t i = 0; i < s->object_count; i++) {
        const char *object_ns = kumo_object_namespace(s->objects[i]);
        items[(size_t)s->targets.name_count + i] =
            (delete_item){kumo_object_kind_of(s->objects[i]->descriptor),
                          object_ns[0] ? object_ns : ns, kumo_object_name(s->objects[i]), 0};
    }
    /* A stable insertion sort by rank: file order within a kind. */
    for (size_t i = 1; i < n; i++) {
        delete_item x = items[i];
        size_t j = i;
        while (j > 0 && kind_rank(items[j - 1].kind) > kind_rank(x.kind)) {
            items[j] = items[j - 1];
            j--;
        }
        items[j] = x;
    }
    *count_out = n;
    return items;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int delete_one(delete_state *s, delete_item *item, kumo_diag *diag)
{
    kumo_client_delete_options options = {NULL, NULL, s->orphan};
    kumo_error e = kumo_client_delete(s->remote.client, item->kind, item->ns, item->name, &options,
                                      NULL, diag);
    if (e == KUMO_ERROR_OK) {
        printf("%s.%s \"%s\" deleted\n", item->kind->singular, KUMO_API_GROUP, item->name);
        item->deleted = 1;
        return KUMOCTL_EXIT_OK;
    }
    fflush(stdout);
    if (e != KUMO_ERROR_NOT_FOUND)
        return kumoctl_remote_fail(&s->remote, diag, "deleting %s \"%s\" in namespace \"%s\"",
                                   item->kind->kind, item->name, item->ns);
    if (s->ignore_not_found)
        return KUMOCTL_EXIT_OK;
    char ref[512];
    kumoctl_object_ref(item->kind, item->name, ref, sizeof(ref));
    return kumoctl_error("%s not found in namespace \"%s\" (list what exists with: kumoctl get "
                         "%s -n %s)",
                         ref, item->ns, item->kind->plural, item->ns);
}

/* 1 unless a get says the object is gone. */
static int still_exists(delete_state *s, const delete_item *item)
{
    ProtobufCMessage *object = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e =
        kumo_client_get(s->remote.client, item->kind, item->ns, item->name, &object, &diag);
    kumo_diag_fini(&diag);
    kumo_object_destroy(object);
    return e != KUMO_ERROR_NOT_FOUND;
}

/* Deletes in dependency order, then waits for all of them within one overall --timeout. */
static int delete_all(delete_state *s)
{
    size_t n = 0;
    delete_item *items = delete_items(s, &n);
    if (items == NULL)
        return kumoctl_error("out of memory");
    int status = KUMOCTL_EXIT_OK;
    kumo_diag diag;
    kumo_diag_init(&diag);
    for (size_t i = 0; i < n; i++) {
        int r = delete_one(s, &items[i], &diag);
        if (r != KUMOCTL_EXIT_OK)
            status = r;
        kumo_diag_fini(&diag);
    }
    fflush(stdout);
    double deadline = now_ms() + (double)s->timeout_ms;
    size_t late = 0, len = 0;
    char names[600] = "";
    for (size_t i = 0; s->wait && i < n; i++) {
        if (!items[i].deleted)
            continue;
        double left = s->timeout_ms > 0 ? deadline - now_ms() : 0;
        if (s->timeout_ms > 0 && left < 1 && still_exists(s, &items[i])) {
            char ref[512];
            kumoctl_object_ref(items[i].kind, items[i].name, ref, sizeof(ref));
            if (late++ < 5 && len < sizeof(names))
                len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
                                        late > 1 ? ", " : "", ref);
            continue;
        }
        int waited = kumoctl_wait_for(&s->remote, items[i].kind, items[i].ns, items[i].name, NULL,
                                      NULL, s->timeout_ms > 0 ? (int64_t)left : 0, 0);
        if (waited != KUMOCTL_EXIT_OK)
            status = waited;
    }
    if (late > 0)
        status = kumoctl_error("%zu more object%s still exist%s: %s%s (the --timeout is for the "
                               "whole delete)",
                               late, late == 1 ? "" : "s", late == 1 ? "s" : "", names,
                               late > 5 ? ", ..." : "");
    free(items);
    return status;
}

/* -l / --all: the names of the kind's objects that match become the targets. */
static int select_targets(delete_state *s)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    const kumo_object_kind *kind = s->targets.kinds[0];
    const char *ns = kumoctl_remote_namespace(&s->remote);
    kumo_client_list_options lo = {s->selector, NULL, 0, NULL};
    kumo_error e = kumo_client_list(s->remote.client, kind, ns, &lo, &s->selected, &diag);
    int status = e == KUMO_ERROR_OK
                     ? KUMOCTL_EXIT_OK
                     : kumoctl_remote_fail(&s->remote, &diag, "listing %s", kind->plural);
    kumo_diag_fini(&diag);
    if (status != KUMOCTL_EXIT_OK)
        return status;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(s->selected->descriptor, "items");
    size_t count = *(size_t *)((char *)s->selected + f->quantifier_offset);
    ProtobufCMessage **items = *(ProtobufCMessage ***)((char *)s->selected + f->offset);
    if (count > sizeof(s->targets.names) / sizeof(s->targets.names[0]))
        return kumoctl_error("%zu %s match; kumoctl deletes at most %zu at once", count,
                             kind->plural, sizeof(s->targets.names) / sizeof(s->targets.names[0]));
    for (size_t i = 0; i < count; i++) {
        s->targets.name_kinds[s->targets.name_count] = kind;
        s->targets.names[s->targets.name_count++] = kumo_object_name(items[i]);
    }
    if (count == 0)
        fprintf(stderr, "No resources found\n");
    return KUMOCTL_EXIT_OK;
}

static int has_filename_flag(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strncmp(argv[i], "-f", 2) == 0 || strncmp(argv[i], "--filename", 10) == 0)
            return 1;
    }
    return 0;
}

int kumoctl_delete_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_INPUT_FLAGS,
        KUMOCTL_REMOTE_FLAGS,
        {"wait", 0, 1, KUMOCTL_FLAG_WAIT, "true or false"},
        {"cascade", 0, 1, KUMOCTL_FLAG_CASCADE, "background or orphan"},
        {"timeout", 0, 1, KUMOCTL_FLAG_TIMEOUT, "a duration such as 60s"},
        {"ignore-not-found", 0, 0, KUMOCTL_FLAG_IGNORE_NOT_FOUND, NULL},
        {"selector", 'l', 1, KUMOCTL_FLAG_SELECTOR, "a label selector such as app=web"},
        {"all", 0, 0, KUMOCTL_FLAG_ALL, NULL},
    };
    delete_state s;
    memset(&s, 0, sizeof(s));
    s.wait = 1;
    kumoctl_remote_init(&s.remote, "kumoctl delete");
    kumoctl_input input;
    kumoctl_input_init(&input, s.remote.command);
    int status;
    if (has_filename_flag(argc, argv)) {
        status = kumoctl_input_parse(&input, flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
                                     kumoctl_delete_help, delete_flag, &s);
        if (status == KUMOCTL_CONTINUE) {
            size_t unreadable = kumoctl_input_decode(&input, delete_document, &s);
            status = unreadable || s.failed_documents ? KUMOCTL_EXIT_FAILED : KUMOCTL_CONTINUE;
            if (status == KUMOCTL_EXIT_FAILED)
                kumoctl_error("nothing deleted: fix the manifests above first");
        }
    } else {
        kumoctl_parser parser;
        kumoctl_parser_init(&parser, s.remote.command, flags, sizeof(flags) / sizeof(flags[0]),
                            argc, argv);
        int id;
        status = KUMOCTL_CONTINUE;
        while (status == KUMOCTL_CONTINUE &&
               (id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
            if (id == KUMOCTL_FLAG_HELP) {
                fputs(kumoctl_delete_help, stdout);
                status = KUMOCTL_EXIT_OK;
            } else if (id == KUMOCTL_PARSE_ERROR) {
                status = KUMOCTL_EXIT_USAGE;
            } else if (id == KUMOCTL_FLAG_RECURSIVE || id == KUMOCTL_FLAG_MAX_BYTES) {
                status = kumoctl_usage_error(s.remote.command, "-R and --max-bytes go with -f");
            } else {
                int r = delete_flag(&s, id, parser.value);
                status = r == KUMOCTL_EXIT_OK ? KUMOCTL_CONTINUE : r;
            }
        }
        int selecting = s.selector != NULL || s.all;
        if (status == KUMOCTL_CONTINUE && selecting &&
            (s.targets.kind_count != 1 || s.targets.name_count > 0))
            status = kumoctl_usage_error(s.remote.command,
                                         "-l and --all go with one KIND and no names, e.g. "
                                         "kumoctl delete machines -l app=web");
        if (status == KUMOCTL_CONTINUE && !selecting && s.targets.name_count == 0)
            status = kumoctl_usage_error(s.remote.command,
                                         "name what to delete: KIND NAME, KIND/NAME, -f FILE, "
                                         "KIND -l SELECTOR or KIND --all");
    }
    if (status == KUMOCTL_CONTINUE && s.object_count > 0 && (s.selector || s.all))
        status = kumoctl_usage_error(s.remote.command, "-l and --all do not go with -f");
    if (status == KUMOCTL_CONTINUE) {
        status = kumoctl_remote_connect(&s.remote);
        if (status == KUMOCTL_EXIT_OK && (s.selector != NULL || s.all))
            status = select_targets(&s);
        if (status == KUMOCTL_EXIT_OK)
            status = delete_all(&s);
    }
    kumo_object_destroy(s.selected);
    for (size_t i = 0; i < s.object_count; i++)
        kumo_object_destroy(s.objects[i]);
    free(s.objects);
    kumoctl_input_fini(&input);
    kumoctl_remote_fini(&s.remote);
    return status;
}
