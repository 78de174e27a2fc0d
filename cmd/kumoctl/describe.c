/*
 * describe.c - `kumoctl describe`: one object in full, for a human:
 * metadata, labels, owner, a summary of spec and status, the conditions as a
 * table, its dependents (objects whose ownerReferences point at it) and its
 * recent Events (events.c).
 *
 * Spec and status are printed from their JSON form as indented "key: value"
 * lines; lists longer than DESCRIBE_MAX_ITEMS (a Connection's catalog) are
 * summarised as a count.
 */
#include "cmd/kumoctl/remote.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DESCRIBE_MAX_ITEMS 10

const char kumoctl_describe_help[] =
    "Show one object (or every object of a kind) in detail: metadata, labels,\n"
    "owner, spec and status summaries, conditions, dependents and recent events.\n"
    "\n"
    "Usage:\n"
    "  kumoctl describe KIND NAME [NAME...] [flags]\n"
    "  kumoctl describe KIND/NAME [flags]\n"
    "  kumoctl describe KIND [flags]          every object of the kind\n"
    "\n"
    "Flags:\n"
    "  -l, --selector SEL         with KIND alone: only objects matching the labels\n"
    "" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl describe infra hello\n"
    "  kumoctl describe conn/aws-use1\n"
    "\n"
    "Exit status: 0 described; 1 an object does not exist or kumod could not be\n"
    "reached; 2 usage error.\n";

static void print_time(const char *label, const Kumo__V1alpha1__Time *t)
{
    if (t == NULL || t->seconds == 0)
        return;
    char when[64], age[32];
    time_t seconds = (time_t)t->seconds;
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    kumoctl_age(t->seconds, age, sizeof(age));
    printf("%-18s%s (%s ago)\n", label, when, age);
}

/* One "key=value" line of a labels or annotations block. */
static void print_pair(const char *label, size_t index, const char *key, const char *value)
{
    printf("%-18s%s=%s\n", index ? "" : label, key, value);
}

/* Prints a JSON value tree as indented "key: value" lines. */
static void print_value(const char *key, const kumo_value *v, int indent)
{
    if (v == NULL)
        return;
    switch (v->type) {
    case KUMO_VALUE_OBJECT:
        if (key)
            printf("%*s%s:\n", indent, "", key);
        for (size_t i = 0; i < v->count; i++)
            print_value(v->members[i].key, v->members[i].value, key ? indent + 2 : indent);
        break;
    case KUMO_VALUE_ARRAY:
        if (v->count > DESCRIBE_MAX_ITEMS) {
            printf("%*s%s: <%zu items>\n", indent, "", key ? key : "-", v->count);
            break;
        }
        printf("%*s%s:\n", indent, "", key ? key : "-");
        for (size_t i = 0; i < v->count; i++) {
            const kumo_value *item = v->items[i];
            if (item->type == KUMO_VALUE_OBJECT && item->count > 0) {
                /* "- first: x" (when x is a scalar) then the other members under it */
                const kumo_value *first = item->members[0].value;
                size_t m = 0;
                if (first->type != KUMO_VALUE_OBJECT && first->type != KUMO_VALUE_ARRAY) {
                    printf("%*s- ", indent + 2, "");
                    print_value(item->members[0].key, first, 0);
                    m = 1;
                } else {
                    printf("%*s-\n", indent + 2, "");
                }
                for (; m < item->count; m++)
                    print_value(item->members[m].key, item->members[m].value, indent + 4);
            } else {
                printf("%*s- %s\n", indent + 2, "",
                       item->type == KUMO_VALUE_BOOL ? (item->boolean ? "true" : "false")
                       : item->text                  ? item->text
                                                     : "null");
            }
        }
        break;
    case KUMO_VALUE_BOOL:
        printf("%*s%s: %s\n", indent, "", key ? key : "-", v->boolean ? "true" : "false");
        break;
    case KUMO_VALUE_NULL:
        printf("%*s%s: null\n", indent, "", key ? key : "-");
        break;
    default: {
        /* Multi-line strings (user data, keys): first line and a count. */
        const char *nl = strchr(v->text, '\n');
        if (nl && nl[1] != '\0')
            printf("%*s%s: %.*s ... (%zu bytes)\n", indent, "", key ? key : "-",
                   (int)(nl - v->text), v->text, v->length);
        else
            printf("%*s%s: %.*s\n", indent, "", key ? key : "-",
                   (int)(nl ? (size_t)(nl - v->text) : v->length), v->text);
        break;
    }
    }
}

static void print_section(const char *title, const ProtobufCMessage *part, const char *skip)
{
    printf("%s:\n", title);
    kumo_value *v = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (part != NULL && kumo_codec_message_to_value(part, NULL, &v, &diag) == KUMO_ERROR_OK &&
        v->type == KUMO_VALUE_OBJECT && v->count > 0) {
        int any = 0;
        for (size_t i = 0; i < v->count; i++) {
            if (skip && strcmp(v->members[i].key, skip) == 0)
                continue;
            print_value(v->members[i].key, v->members[i].value, 2);
            any = 1;
        }
        if (!any)
            printf("  <none>\n");
    } else {
        printf("  <none>\n");
    }
    kumo_codec_value_destroy(v);
    kumo_diag_fini(&diag);
}

static void print_conditions(const ProtobufCMessage *object)
{
    const ProtobufCMessage *status = kumo_object_status(object);
    const ProtobufCFieldDescriptor *f =
        status ? protobuf_c_message_descriptor_get_field_by_name(status->descriptor, "conditions")
               : NULL;
    size_t count = f ? *(const size_t *)((const char *)status + f->quantifier_offset) : 0;
    Kumo__V1alpha1__Condition *const *items =
        f ? *(Kumo__V1alpha1__Condition *const *const *)((const char *)status + f->offset) : NULL;
    printf("Conditions:\n");
    if (count == 0) {
        printf("  <none>\n");
        return;
    }
    size_t wt = 4, ws = 6, wr = 6;
    for (size_t i = 0; i < count; i++) {
        size_t a = strlen(items[i]->type), b = strlen(items[i]->status),
               c = strlen(items[i]->reason);
        wt = a > wt ? a : wt;
        ws = b > ws ? b : ws;
        wr = c > wr ? c : wr;
    }
    printf("  %-*s   %-*s   %-*s   %-6s   %s\n", (int)wt, "TYPE", (int)ws, "STATUS", (int)wr,
           "REASON", "AGE", "MESSAGE");
    for (size_t i = 0; i < count; i++) {
        char age[32];
        const Kumo__V1alpha1__Condition *c = items[i];
        kumoctl_age(c->last_transition_time ? c->last_transition_time->seconds : 0, age,
                    sizeof(age));
        printf("  %-*s   %-*s   %-*s   %-6s   %s\n", (int)wt, c->type, (int)ws, c->status, (int)wr,
               c->reason, age, c->message);
    }
}

/* Lists every kind in the namespace and prints the objects owned by `uid`. */
static void print_dependents(kumoctl_remote *remote, const char *ns, const char *uid)
{
    printf("Dependents:\n");
    int found = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    for (size_t k = 0; k < kumo_object_kind_count(); k++) {
        const kumo_object_kind *kind = kumo_object_kind_at(k);
        if (strcmp(kind->kind, "Event") == 0)
            continue; /* Events name their object in involvedObject: the Events section */
        char *token = NULL;
        for (;;) {
            kumo_client_list_options lo = {NULL, NULL, 500, token};
            ProtobufCMessage *list = NULL;
            kumo_error e = kumo_client_list(remote->client, kind, ns, &lo, &list, &diag);
            free(token);
            token = NULL;
            if (e != KUMO_ERROR_OK) {
                printf("  <cannot list %s: %s>\n", kind->plural, diag.message);
                kumo_diag_fini(&diag);
                break;
            }
            const ProtobufCFieldDescriptor *fi =
                protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "items");
            const ProtobufCFieldDescriptor *fm =
                protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "metadata");
            size_t count = *(const size_t *)((const char *)list + fi->quantifier_offset);
            ProtobufCMessage *const *items =
                *(ProtobufCMessage *const *const *)((const char *)list + fi->offset);
            for (size_t i = 0; i < count; i++) {
                const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(items[i]);
                for (size_t r = 0; m && r < m->n_owner_references; r++) {
                    if (strcmp(m->owner_references[r]->uid, uid) != 0)
                        continue;
                    if (!found++)
                        printf("  %-14s   %s\n", "KIND", "NAME");
                    printf("  %-14s   %s\n", kind->kind, m->name);
                }
            }
            const Kumo__V1alpha1__ListMeta *lm =
                *(const Kumo__V1alpha1__ListMeta *const *)((const char *)list + fm->offset);
            if (lm && lm->continue_[0])
                token = strdup(lm->continue_);
            kumo_object_destroy(list);
            if (token == NULL)
                break;
        }
    }
    kumo_diag_fini(&diag);
    if (!found)
        printf("  <none>\n");
}

/* The sections some kinds add after their status (describe_<kind>.c). */
static void kind_sections(const kumo_object_kind *kind, const ProtobufCMessage *object)
{
    static const struct {
        const char *kind;
        void (*print)(const ProtobufCMessage *object);
    } sections[] = {
        {"Infra", kumoctl_describe_infra},
        {"LoadBalancer", kumoctl_describe_load_balancer},
        {"Migration", kumoctl_describe_migration},
    };
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        if (strcmp(kind->kind, sections[i].kind) == 0)
            sections[i].print(object);
}

static void describe_object(kumoctl_remote *remote, const kumo_object_kind *kind,
                            const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    printf("%-18s%s\n", "Name:", m->name);
    printf("%-18s%s\n", "Namespace:", m->namespace_);
    printf("%-18s%s\n", "Kind:", kind->kind);
    printf("%-18s%s\n", "API Version:", KUMO_API_VERSION);
    printf("%-18s%s\n", "UID:", m->uid);
    printf("%-18s%s\n", "Resource Version:", m->resource_version);
    printf("%-18s%lld\n", "Generation:", (long long)m->generation);
    print_time("Created:", m->creation_timestamp);
    if (m->deletion_timestamp && m->deletion_timestamp->seconds)
        print_time("Deleting since:", m->deletion_timestamp);
    if (m->n_labels == 0)
        printf("%-18s<none>\n", "Labels:");
    for (size_t i = 0; i < m->n_labels; i++)
        print_pair("Labels:", i, m->labels[i]->key, m->labels[i]->value);
    if (m->n_annotations == 0)
        printf("%-18s<none>\n", "Annotations:");
    for (size_t i = 0; i < m->n_annotations; i++)
        print_pair("Annotations:", i, m->annotations[i]->key, m->annotations[i]->value);
    printf("%-18s", "Finalizers:");
    if (m->n_finalizers == 0)
        printf("<none>\n");
    for (size_t i = 0; i < m->n_finalizers; i++)
        printf("%s%s\n", i ? "                  " : "", m->finalizers[i]);
    printf("%-18s", "Owners:");
    if (m->n_owner_references == 0)
        printf("<none>\n");
    for (size_t i = 0; i < m->n_owner_references; i++) {
        const Kumo__V1alpha1__OwnerReference *o = m->owner_references[i];
        printf("%s%s/%s%s\n", i ? "                  " : "", o->kind, o->name,
               o->controller ? " (controller)" : "");
    }
    print_section("Spec", kumo_object_spec(object), NULL);
    print_section("Status", kumo_object_status(object), "conditions");
    kind_sections(kind, object);
    print_conditions(object);
    print_dependents(remote, m->namespace_, m->uid);
    if (strcmp(kind->kind, "Event") != 0)
        kumoctl_describe_events(remote, m->namespace_, m->uid);
}

enum { DESCRIBE_HELP_SHOWN = -2 }; /* parse_arguments printed the help: exit 0 */

/* The command line: the targets, the selector and the remote's flags. */
static int parse_arguments(int argc, char **argv, kumoctl_remote *remote, kumoctl_targets *targets,
                           const char **selector)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"selector", 'l', 1, KUMOCTL_FLAG_SELECTOR, "a label selector such as app=web"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    kumoctl_parser parser;
    kumoctl_parser_init(&parser, remote->command, flags, sizeof(flags) / sizeof(flags[0]), argc,
                        argv);
    int id, status = KUMOCTL_EXIT_OK;
    while (status == KUMOCTL_EXIT_OK && (id = kumoctl_parser_next(&parser)) != KUMOCTL_PARSE_END) {
        if (id == KUMOCTL_FLAG_HELP) {
            fputs(kumoctl_describe_help, stdout);
            return DESCRIBE_HELP_SHOWN;
        }
        if (id == KUMOCTL_PARSE_ERROR)
            return KUMOCTL_EXIT_USAGE;
        if (id == KUMOCTL_PARSE_ARGUMENT) {
            status = kumoctl_targets_add(targets, remote->command, parser.value);
        } else if (id == KUMOCTL_FLAG_SELECTOR) {
            *selector = parser.value;
        } else {
            int taken = kumoctl_remote_flag(remote, id, parser.value);
            status = taken == KUMOCTL_INPUT_TAKEN ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_USAGE;
        }
    }
    return status;
}

/* Every object of the kind in the namespace (that matches the selector). */
static int describe_list(kumoctl_remote *remote, const kumo_object_kind *kind, const char *ns,
                         const char *selector)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *list = NULL;
    int status = KUMOCTL_EXIT_OK;
    kumo_client_list_options lo = {selector, NULL, 0, NULL};
    if (kumo_client_list(remote->client, kind, ns, &lo, &list, &diag) != KUMO_ERROR_OK) {
        status = kumoctl_remote_fail(remote, &diag, "listing %s", kind->plural);
    } else {
        const ProtobufCFieldDescriptor *fi =
            protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "items");
        size_t count = *(const size_t *)((const char *)list + fi->quantifier_offset);
        ProtobufCMessage *const *items =
            *(ProtobufCMessage *const *const *)((const char *)list + fi->offset);
        for (size_t i = 0; i < count; i++) {
            if (i)
                printf("\n");
            describe_object(remote, kind, items[i]);
        }
        if (count == 0)
            fprintf(stderr, "No resources found in %s namespace.\n", ns);
    }
    kumo_object_destroy(list);
    kumo_diag_fini(&diag);
    return status;
}

/* The i-th named target; a missing one says how to list what exists. */
static int describe_named(kumoctl_remote *remote, const kumoctl_targets *targets, int i,
                          const char *ns)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *object = NULL;
    int status = KUMOCTL_EXIT_OK;
    const kumo_object_kind *kind = targets->name_kinds[i];
    kumo_error e = kumo_client_get(remote->client, kind, ns, targets->names[i], &object, &diag);
    if (e == KUMO_ERROR_OK) {
        if (i)
            printf("\n");
        describe_object(remote, kind, object);
    } else if (e == KUMO_ERROR_NOT_FOUND) {
        char ref[512];
        kumoctl_object_ref(kind, targets->names[i], ref, sizeof(ref));
        fflush(stdout);
        status = kumoctl_error("%s not found in namespace \"%s\" (list what exists with: "
                               "kumoctl get %s -n %s)",
                               ref, ns, kind->plural, ns);
    } else {
        status =
            kumoctl_remote_fail(remote, &diag, "getting %s \"%s\"", kind->kind, targets->names[i]);
    }
    kumo_object_destroy(object);
    kumo_diag_fini(&diag);
    return status;
}

int kumoctl_describe_run(int argc, char **argv)
{
    kumoctl_remote remote;
    kumoctl_targets targets;
    memset(&targets, 0, sizeof(targets));
    const char *selector = NULL;
    kumoctl_remote_init(&remote, "kumoctl describe");
    int status = parse_arguments(argc, argv, &remote, &targets, &selector);
    if (status == DESCRIBE_HELP_SHOWN)
        return KUMOCTL_EXIT_OK;
    if (status != KUMOCTL_EXIT_OK)
        return status;
    if (targets.kind_count != 1)
        return kumoctl_usage_error(remote.command, "name one kind and its objects, e.g. kumoctl "
                                                   "describe infra web");
    status = kumoctl_remote_connect(&remote);
    if (status != KUMOCTL_EXIT_OK)
        return status;
    const char *ns = kumoctl_remote_namespace(&remote);
    if (targets.name_count == 0)
        status = describe_list(&remote, targets.kinds[0], ns, selector);
    for (int i = 0; i < targets.name_count; i++) {
        int one = describe_named(&remote, &targets, i, ns);
        if (one != KUMOCTL_EXIT_OK)
            status = one;
    }
    fflush(stdout);
    kumoctl_remote_fini(&remote);
    return status;
}
