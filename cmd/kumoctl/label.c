/*
 * label.c - `kumoctl label` and `kumoctl annotate`: set (key=value) or
 * remove (key-) labels or annotations of objects, as kubectl does.
 *
 * Changing a key that already has another value needs --overwrite. The
 * change is a JSON merge patch on metadata.labels (or annotations), so
 * kumod validates the keys and values like any other write.
 */
#include "cmd/kumoctl/jsonpath.h"
#include "cmd/kumoctl/modify.h"

#include <stdlib.h>
#include <string.h>

#define LABEL_HELP(verb, noun, field, example_key)                                                 \
    "Set or remove the " noun " of objects.\n"                                                     \
    "\n"                                                                                           \
    "Usage:\n"                                                                                     \
    "  kumoctl " verb " KIND NAME [NAME...] KEY=VALUE ... KEY- ... [flags]\n"                      \
    "  kumoctl " verb " KIND/NAME ... KEY=VALUE ... [flags]\n"                                     \
    "\n"                                                                                           \
    "KEY=VALUE sets metadata." field "[KEY]; KEY- removes it.\n"                                   \
    "\n"                                                                                           \
    "Flags:\n"                                                                                     \
    "      --overwrite            allow changing a key that already has another value\n"           \
    "  -l, --selector SEL         every object of KIND matching a label selector\n"                \
    "      --all                  every object of KIND in the "                                    \
    "namespace\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"                                                   \
    "Examples:\n"                                                                                  \
    "  kumoctl " verb " infra web " example_key "=gold\n"                                          \
    "  kumoctl " verb " infra/web " example_key "=silver --overwrite\n"                            \
    "  kumoctl " verb " infra web " example_key "-\n"                                              \
    "  kumoctl " verb " machines --all " example_key "=gold\n"                                     \
    "\n"                                                                                           \
    "Output: \"infra.kumo.dev/web " verb "ed\" per object (\"not " verb "ed\" when nothing\n"      \
    "changed). Exit status: 0 done; 1 an object does not exist, a key has another\n"               \
    "value without --overwrite, or kumod refused the change; 2 usage error.\n"

const char kumoctl_label_help[] = LABEL_HELP("label", "labels", "labels", "tier");
const char kumoctl_annotate_help[] =
    LABEL_HELP("annotate", "annotations", "annotations", "example.com/owner");

typedef struct label_options {
    kumoctl_remote remote;
    kumoctl_targets targets;
    const char *field; /* "labels" or "annotations" */
    const char *done;  /* "labeled" or "annotated" */
    const char *changes[128];
    int change_count;
    int overwrite;
    int all;
    const char *selector;
} label_options;

/* After the kind, "k=v" and "k-" are changes (an object name never ends with '-'). */
static int is_change(const label_options *o, const char *arg)
{
    size_t n = strlen(arg);
    return o->targets.kind_count > 0 && (strchr(arg, '=') != NULL || (n > 1 && arg[n - 1] == '-'));
}

static int label_flag(void *context, int id, const char *value)
{
    label_options *o = context;
    int taken = kumoctl_remote_flag(&o->remote, id, value);
    if (taken != KUMOCTL_INPUT_NOT_MINE)
        return taken == KUMOCTL_INPUT_TAKEN ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_USAGE;
    switch (id) {
    case KUMOCTL_FLAG_OVERWRITE:
        o->overwrite = 1;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_ALL:
        o->all = 1;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_SELECTOR:
        o->selector = value;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_PARSE_ARGUMENT:
        if (is_change(o, value)) {
            if (o->change_count == (int)(sizeof(o->changes) / sizeof(o->changes[0])))
                return kumoctl_usage_error(o->remote.command, "too many changes");
            o->changes[o->change_count++] = value;
            return KUMOCTL_EXIT_OK;
        }
        return kumoctl_targets_add(&o->targets, o->remote.command, value);
    default:
        return KUMOCTL_EXIT_USAGE;
    }
}

/* The merge patch {"metadata": {field: {k: v, gone: null}}} of the changes. */
static kumo_value *changes_patch(const label_options *o)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_codec_buffer_append(&buf, "{\"metadata\":{\"", 14);
    kumo_codec_buffer_append(&buf, o->field, strlen(o->field));
    kumo_codec_buffer_append(&buf, "\":{", 3);
    for (int i = 0; i < o->change_count; i++) {
        const char *c = o->changes[i], *eq = strchr(c, '=');
        size_t key_len = eq ? (size_t)(eq - c) : strlen(c) - 1;
        char *key = strndup(c, key_len);
        kumo_value k = {KUMO_VALUE_STRING, 0, 0, key, key_len, NULL, NULL, 0, 0};
        kumo_value v = {KUMO_VALUE_STRING,
                        0,
                        0,
                        (char *)(eq ? eq + 1 : ""),
                        eq ? strlen(eq + 1) : 0,
                        NULL,
                        NULL,
                        0,
                        0};
        if (i > 0)
            kumo_codec_buffer_append(&buf, ",", 1);
        kumoctl_value_print_json(&k, &buf);
        kumo_codec_buffer_append(&buf, ":", 1);
        if (eq)
            kumoctl_value_print_json(&v, &buf);
        else
            kumo_codec_buffer_append(&buf, "null", 4);
        free(key);
    }
    kumo_codec_buffer_append(&buf, "}}}", 3);
    kumo_value *patch = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_codec_value_parse_json(buf.data, buf.len, NULL, &patch, &diag);
    kumo_diag_fini(&diag);
    kumo_codec_buffer_fini(&buf);
    return patch;
}

/* Without --overwrite, a key that has another value is an error (as kubectl). */
static int check_overwrite(const label_options *o, const kumo_object_kind *kind, const char *name)
{
    if (o->overwrite)
        return KUMOCTL_EXIT_OK;
    ProtobufCMessage *object = NULL;
    int status = kumoctl_object_read((kumoctl_remote *)&o->remote, kind, name, &object);
    kumo_value *v = status == KUMOCTL_EXIT_OK ? kumoctl_object_to_value(object) : NULL;
    const kumo_value *map = kumo_codec_value_get(kumo_codec_value_get(v, "metadata"), o->field);
    for (int i = 0; status == KUMOCTL_EXIT_OK && i < o->change_count; i++) {
        const char *c = o->changes[i], *eq = strchr(c, '=');
        if (eq == NULL)
            continue;
        char key[320];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - c), c);
        const kumo_value *have = kumo_codec_value_get(map, key);
        if (have != NULL && have->type == KUMO_VALUE_STRING && strcmp(have->text, eq + 1) != 0)
            status = kumoctl_error("'%s' already has a value (%s), and --overwrite is false", key,
                                   have->text);
    }
    kumo_codec_value_destroy(v);
    kumo_object_destroy(object);
    return status;
}

/* The names of every object of the kind (--all) or matching -l. */
static int select_names(label_options *o, ProtobufCMessage **list)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    const kumo_object_kind *kind = o->targets.kinds[0];
    kumo_client_list_options lo = {o->selector, NULL, 0, NULL};
    kumo_error e = kumo_client_list(o->remote.client, kind, kumoctl_remote_namespace(&o->remote),
                                    &lo, list, &diag);
    int status = e == KUMO_ERROR_OK
                     ? KUMOCTL_EXIT_OK
                     : kumoctl_remote_fail(&o->remote, &diag, "listing %s", kind->plural);
    kumo_diag_fini(&diag);
    if (status != KUMOCTL_EXIT_OK)
        return status;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name((*list)->descriptor, "items");
    size_t count = *(size_t *)((char *)*list + f->quantifier_offset);
    ProtobufCMessage **items = *(ProtobufCMessage ***)((char *)*list + f->offset);
    for (size_t i = 0; i < count && o->targets.name_count < 256; i++) {
        o->targets.name_kinds[o->targets.name_count] = kind;
        o->targets.names[o->targets.name_count++] = kumo_object_name(items[i]);
    }
    return KUMOCTL_EXIT_OK;
}

static int label_each(label_options *o)
{
    kumo_value *patch = changes_patch(o);
    int status = patch ? KUMOCTL_EXIT_OK : kumoctl_error("out of memory");
    for (int i = 0; patch && i < o->targets.name_count; i++) {
        const kumo_object_kind *kind = o->targets.name_kinds[i];
        const char *name = o->targets.names[i];
        int changed = 0, one = check_overwrite(o, kind, name);
        if (one == KUMOCTL_EXIT_OK)
            one = kumoctl_object_merge_patch(&o->remote, kind, name, patch, &changed);
        char ref[512];
        kumoctl_object_ref(kind, name, ref, sizeof(ref));
        if (one == KUMOCTL_EXIT_OK)
            printf("%s %s%s\n", ref, changed ? "" : "not ", o->done);
        else
            status = one;
        fflush(stdout);
    }
    kumo_codec_value_destroy(patch);
    return status;
}

static int label_or_annotate(int argc, char **argv, const char *command, const char *field,
                             const char *done, const char *help)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"overwrite", 0, 0, KUMOCTL_FLAG_OVERWRITE, NULL},
        {"all", 0, 0, KUMOCTL_FLAG_ALL, NULL},
        {"selector", 'l', 1, KUMOCTL_FLAG_SELECTOR, "a label selector"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    label_options o;
    memset(&o, 0, sizeof(o));
    o.field = field;
    o.done = done;
    kumoctl_remote_init(&o.remote, command);
    int status = kumoctl_parse(command, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, help,
                               label_flag, &o);
    if (status != KUMOCTL_CONTINUE)
        return status;
    status = KUMOCTL_EXIT_OK;
    int selecting = o.all || o.selector != NULL;
    if (status == KUMOCTL_EXIT_OK && o.change_count == 0)
        status = kumoctl_usage_error(command, "give at least one KEY=VALUE or KEY-");
    if (status == KUMOCTL_EXIT_OK &&
        (o.targets.kind_count != 1 ||
         (selecting ? o.targets.name_count != 0 : o.targets.name_count == 0)))
        status = kumoctl_usage_error(command, "name the objects: KIND NAME..., KIND/NAME..., or "
                                              "KIND with --all or -l SELECTOR");
    if (status == KUMOCTL_EXIT_OK)
        status = kumoctl_remote_connect(&o.remote);
    ProtobufCMessage *list = NULL;
    if (status == KUMOCTL_EXIT_OK && selecting)
        status = select_names(&o, &list);
    if (status == KUMOCTL_EXIT_OK)
        status = label_each(&o);
    kumo_object_destroy(list);
    kumoctl_remote_fini(&o.remote);
    return status;
}

int kumoctl_label_run(int argc, char **argv)
{
    return label_or_annotate(argc, argv, "kumoctl label", "labels", "labeled", kumoctl_label_help);
}

int kumoctl_annotate_run(int argc, char **argv)
{
    return label_or_annotate(argc, argv, "kumoctl annotate", "annotations", "annotated",
                             kumoctl_annotate_help);
}
