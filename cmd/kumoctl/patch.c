/*
 * patch.c - `kumoctl patch` (a JSON merge patch or a JSON patch) and
 * `kumoctl scale` (an Infra group's size, an App component's replicas).
 *
 * A merge patch goes to kumod's patch verb; a JSON patch (RFC 6902) and
 * scale are applied to the object read, then written back with its
 * resourceVersion as a precondition (modify.c).
 */
#include "cmd/kumoctl/modify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char kumoctl_patch_help[] =
    "Change fields of one object with a patch.\n"
    "\n"
    "Usage:\n"
    "  kumoctl patch KIND NAME -p PATCH [--type merge|json] [flags]\n"
    "  kumoctl patch KIND/NAME -p PATCH [--type merge|json] [flags]\n"
    "\n"
    "Flags:\n"
    "  -p, --patch PATCH          the patch, as JSON or YAML\n"
    "      --patch-file FILE      read the patch from a file\n"
    "      --type merge|json      merge (default): a JSON merge patch (RFC 7386), null\n"
    "                             removes a field; json: a JSON patch (RFC 6902), a list\n"
    "                             of add/remove/replace/move/copy/test "
    "operations\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl patch infra hello -p "
    "'{\"spec\":{\"groups\":[{\"name\":\"front\",\"size\":3,...}]}}'\n"
    "  kumoctl patch conn/aws-use1 -p '{\"metadata\":{\"labels\":{\"tier\":\"gold\"}}}'\n"
    "  kumoctl patch infra hello --type json -p "
    "'[{\"op\":\"replace\",\"path\":\"/spec/groups/0/size\",\"value\":3}]'\n"
    "\n"
    "Output: \"infra.kumo.dev/hello patched\", or \"patched (no change)\" when the patch\n"
    "changes nothing (then nothing is written). Exit status: 0 patched; 1 the object\n"
    "does not exist, the patch does not apply or the result is invalid; 2 usage error.\n";

const char kumoctl_scale_help[] =
    "Set the size of an Infra group or the replicas of an App component.\n"
    "\n"
    "Usage:\n"
    "  kumoctl scale infra NAME --replicas N [--group GROUP] [flags]\n"
    "  kumoctl scale app NAME --replicas N [--component COMPONENT] [flags]\n"
    "\n"
    "Flags:\n"
    "      --replicas N           the new size (machines of the group, or processes of\n"
    "                             the component on each of its machines)\n"
    "      --group GROUP          the Infra group; needed when the Infra has several\n"
    "      --component NAME       the App component; needed when the App has "
    "several\n" KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl scale infra/web --group front --replicas 3\n"
    "  kumoctl scale app hello --replicas 2\n"
    "  kumoctl scale infra web --group front --replicas 3 && kumoctl rollout status infra/web\n"
    "\n"
    "Output: \"infra.kumo.dev/web scaled\". Exit status: 0 scaled; 1 the object or the\n"
    "group does not exist or kumod refused the size; 2 usage error.\n";

typedef struct patch_options {
    kumoctl_remote remote;
    kumoctl_targets targets;
    const char *patch;
    const char *patch_file;
    int json;
    long replicas;
    const char *group;
    const char *component;
} patch_options;

enum { FLAG_PATCH_FILE = 300, FLAG_COMPONENT };

static int patch_flag(void *context, int id, const char *value)
{
    patch_options *o = context;
    int taken = kumoctl_remote_flag(&o->remote, id, value);
    if (taken != KUMOCTL_INPUT_NOT_MINE)
        return taken == KUMOCTL_INPUT_TAKEN ? KUMOCTL_EXIT_OK : KUMOCTL_EXIT_USAGE;
    char *end;
    switch (id) {
    case KUMOCTL_FLAG_PATCH:
        o->patch = value;
        return KUMOCTL_EXIT_OK;
    case FLAG_PATCH_FILE:
        o->patch_file = value;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_TYPE:
        if (strcmp(value, "merge") != 0 && strcmp(value, "json") != 0)
            return kumoctl_usage_error(o->remote.command,
                                       "--type \"%s\": use merge or json (kumo has no strategic "
                                       "merge patch)",
                                       value);
        o->json = value[0] == 'j';
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_REPLICAS:
        errno = 0;
        o->replicas = strtol(value, &end, 10);
        if (errno != 0 || *end != '\0' || end == value || o->replicas < 0 || o->replicas > 1000000)
            return kumoctl_usage_error(o->remote.command,
                                       "--replicas \"%s\" is not a count (0 or more)", value);
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_FLAG_GROUP:
        o->group = value;
        return KUMOCTL_EXIT_OK;
    case FLAG_COMPONENT:
        o->component = value;
        return KUMOCTL_EXIT_OK;
    case KUMOCTL_PARSE_ARGUMENT:
        return kumoctl_targets_add(&o->targets, o->remote.command, value);
    default:
        return KUMOCTL_EXIT_USAGE;
    }
}

/* Parses flags and one target, then connects. KUMOCTL_CONTINUE or an exit code. */
static int patch_parse(patch_options *o, const kumoctl_flag *flags, size_t count, int argc,
                       char **argv, const char *help)
{
    int status = kumoctl_parse(o->remote.command, flags, count, argc, argv, help, patch_flag, o);
    if (status != KUMOCTL_CONTINUE)
        return status;
    status = KUMOCTL_EXIT_OK;
    if (status == KUMOCTL_EXIT_OK)
        status = kumoctl_single_target(&o->targets, o->remote.command);
    return status == KUMOCTL_EXIT_OK ? KUMOCTL_CONTINUE : status;
}

static int json_patch_fn(void *context, kumo_value **root, char *err, size_t size)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    int rc = kumo_codec_value_json_patch(root, context, &diag) == KUMO_ERROR_OK ? 0 : -1;
    if (rc != 0)
        snprintf(err, size, "the JSON patch does not apply: %s", diag.message);
    kumo_diag_fini(&diag);
    return rc;
}

/* The patch text: -p, or the whole --patch-file (caller frees). */
static char *patch_text(const patch_options *o)
{
    if (o->patch != NULL)
        return strdup(o->patch);
    kumoctl_source source = {(char *)o->patch_file, 0};
    size_t length = 0;
    return kumoctl_source_read(&source, KUMO_CODEC_DEFAULT_MAX_BYTES, &length);
}

int kumoctl_patch_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"patch", 'p', 1, KUMOCTL_FLAG_PATCH, "a JSON or YAML patch"},
        {"patch-file", 0, 1, FLAG_PATCH_FILE, "a file holding the patch"},
        {"type", 0, 1, KUMOCTL_FLAG_TYPE, "merge or json"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    patch_options o;
    memset(&o, 0, sizeof(o));
    kumoctl_remote_init(&o.remote, "kumoctl patch");
    int status =
        patch_parse(&o, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, kumoctl_patch_help);
    if (status != KUMOCTL_CONTINUE) {
        kumoctl_remote_fini(&o.remote);
        return status; /* --help, or a usage error */
    }
    if (status == KUMOCTL_CONTINUE && (o.patch == NULL) == (o.patch_file == NULL))
        status = kumoctl_usage_error(o.remote.command, "give the patch with -p or --patch-file");
    const kumo_object_kind *kind = o.targets.name_kinds[0];
    if (status == KUMOCTL_CONTINUE && o.json && strcmp(kind->kind, "Credential") == 0)
        status = kumoctl_error("a Credential's data is write-only: change it with a merge patch "
                               "(--type merge) or apply");
    char *text = status == KUMOCTL_CONTINUE ? patch_text(&o) : NULL;
    kumo_value *patch = text ? kumoctl_value_parse(text, "the patch") : NULL;
    if (status == KUMOCTL_CONTINUE)
        status = patch == NULL ? KUMOCTL_EXIT_FAILED : kumoctl_remote_connect(&o.remote);
    if (status == KUMOCTL_EXIT_OK) {
        int changed = 0;
        const char *name = o.targets.names[0];
        status = o.json
                     ? kumoctl_object_modify(&o.remote, kind, name, json_patch_fn, patch, &changed)
                     : kumoctl_object_merge_patch(&o.remote, kind, name, patch, &changed);
        char ref[512];
        kumoctl_object_ref(kind, name, ref, sizeof(ref));
        if (status == KUMOCTL_EXIT_OK)
            printf("%s patched%s\n", ref, changed ? "" : " (no change)");
    }
    kumo_codec_value_destroy(patch);
    free(text);
    kumoctl_remote_fini(&o.remote);
    return status;
}

/* ---- scale -------------------------------------------------------------------------------- */

/* Sets `field` of the item of array `list_path` named `item_name` (or the only item). */
static int scale_fn(void *context, kumo_value **root, char *err, size_t size)
{
    const patch_options *o = context;
    int infra = strcmp(o->targets.name_kinds[0]->kind, "Infra") == 0;
    const char *list_name = infra ? "groups" : "components", *what = infra ? "group" : "component";
    const char *wanted = infra ? o->group : o->component;
    const kumo_value *spec = kumo_codec_value_get(*root, "spec");
    kumo_value *list = (kumo_value *)kumo_codec_value_get(spec, list_name);
    size_t count = list && list->type == KUMO_VALUE_ARRAY ? list->count : 0;
    kumo_value **item = NULL;
    for (size_t i = 0; i < count; i++) {
        const kumo_value *name = kumo_codec_value_get(list->items[i], "name");
        if (wanted == NULL ? count == 1
                           : name && name->type == KUMO_VALUE_STRING && !strcmp(name->text, wanted))
            item = &list->items[i];
    }
    if (item == NULL) {
        char names[512] = "";
        for (size_t i = 0, len = 0; i < count && len < sizeof(names); i++) {
            const kumo_value *name = kumo_codec_value_get(list->items[i], "name");
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                    name && name->text ? name->text : "?");
        }
        if (wanted != NULL)
            snprintf(err, size, "%s %s has no %s \"%s\" (it has: %s)",
                     o->targets.name_kinds[0]->kind, o->targets.names[0], what, wanted, names);
        else
            snprintf(err, size, "%s %s has %zu %ss (%s): say which with --%s",
                     o->targets.name_kinds[0]->kind, o->targets.names[0], count, what, names, what);
        return -1;
    }
    char text[64];
    snprintf(text, sizeof(text), "{\"%s\": %ld}", infra ? "size" : "replicas", o->replicas);
    kumo_value *patch = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    int rc =
        kumo_codec_value_parse_json(text, strlen(text), NULL, &patch, &diag) == KUMO_ERROR_OK &&
                kumo_codec_value_merge_patch(item, patch, &diag) == KUMO_ERROR_OK
            ? 0
            : -1;
    kumo_codec_value_destroy(patch);
    kumo_diag_fini(&diag);
    return rc;
}

int kumoctl_scale_run(int argc, char **argv)
{
    static const kumoctl_flag flags[] = {
        KUMOCTL_REMOTE_FLAGS,
        {"replicas", 0, 1, KUMOCTL_FLAG_REPLICAS, "a count"},
        {"group", 0, 1, KUMOCTL_FLAG_GROUP, "an Infra group's name"},
        {"component", 'c', 1, FLAG_COMPONENT, "an App component's name"},
        {"help", 'h', 0, KUMOCTL_FLAG_HELP, NULL},
    };
    patch_options o;
    memset(&o, 0, sizeof(o));
    o.replicas = -1;
    kumoctl_remote_init(&o.remote, "kumoctl scale");
    int status =
        patch_parse(&o, flags, sizeof(flags) / sizeof(flags[0]), argc, argv, kumoctl_scale_help);
    if (status != KUMOCTL_CONTINUE) {
        kumoctl_remote_fini(&o.remote);
        return status; /* --help, or a usage error */
    }
    const kumo_object_kind *kind = o.targets.name_kinds[0];
    if (status == KUMOCTL_CONTINUE && o.replicas < 0)
        status = kumoctl_usage_error(o.remote.command, "give the new size with --replicas N");
    if (status == KUMOCTL_CONTINUE && strcmp(kind->kind, "Infra") != 0 &&
        strcmp(kind->kind, "App") != 0)
        status = kumoctl_usage_error(o.remote.command,
                                     "%s cannot be scaled; scale an infra (its groups) or an app "
                                     "(its components)",
                                     kind->plural);
    if (status == KUMOCTL_CONTINUE)
        status = kumoctl_remote_connect(&o.remote);
    if (status == KUMOCTL_EXIT_OK) {
        int changed = 0;
        status = kumoctl_object_modify(&o.remote, kind, o.targets.names[0], scale_fn, &o, &changed);
        char ref[512];
        kumoctl_object_ref(kind, o.targets.names[0], ref, sizeof(ref));
        if (status == KUMOCTL_EXIT_OK)
            printf("%s scaled\n", ref);
    }
    kumoctl_remote_fini(&o.remote);
    return status;
}
