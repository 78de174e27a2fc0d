/*
 * apply.c - `kumoctl apply -f` and `kumoctl create -f`: send every object of
 * the manifests to kumod, in order, and say for each what happened:
 *   infra.kumo.dev/web created | configured | unchanged
 *
 * apply creates what is absent and replaces spec, labels, annotations,
 * finalizers and owner references of what exists (docs/api.md §3); create
 * fails for what exists. An object whose stored spec, labels, annotations,
 * finalizers and owner references already equal what apply would send is
 * "unchanged" and is not written at all. A document that fails does not stop the others;
 * the exit status is 1 when any failed.
 */
#include "cmd/kumoctl/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APPLY_HELP_FLAGS                                                                           \
    "  -f, --filename FILE|DIR|-  a manifest (YAML, several documents allowed, or\n"               \
    "                             JSON), a directory of *.yaml, *.yml and *.json files\n"          \
    "                             (sorted by name), or - for stdin; repeatable\n"                  \
    "  -R, --recursive            also read the subdirectories of a DIR\n"                         \
    "      --max-bytes N          refuse an input larger than N bytes (default 16Mi)\n"

const char kumoctl_apply_help[] =
    "Create or update objects from manifests: what does not exist is created;\n"
    "what exists gets the manifest's spec, labels, annotations, finalizers and\n"
    "owner references (its status is kept).\n"
    "\n"
    "Usage:\n"
    "  kumoctl apply -f FILE|DIR|- [-f ...] [flags]\n"
    "\n"
    "Flags:\n" APPLY_HELP_FLAGS KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Objects without metadata.namespace go to -n's namespace (default: default).\n"
    "\n"
    "Examples:\n"
    "  kumoctl apply -f examples/quickstart.yaml\n"
    "  kumoctl apply -f examples/\n"
    "  kumoctl convert -f infra.yaml -o json | kumoctl apply -f -\n"
    "\n"
    "Output: one line per object, e.g. \"infra.kumo.dev/web created\" (or\n"
    "configured, or unchanged). Exit status: 0 all applied; 1 an object failed (the\n"
    "others are still applied); 2 usage error.\n";

const char kumoctl_create_help[] =
    "Create objects from manifests; an object that already exists is an error.\n"
    "\n"
    "Usage:\n"
    "  kumoctl create -f FILE|DIR|- [-f ...] [flags]\n"
    "\n"
    "Flags:\n" APPLY_HELP_FLAGS KUMOCTL_REMOTE_FLAGS_HELP "\n"
    "Examples:\n"
    "  kumoctl create -f examples/connection.yaml\n"
    "\n"
    "Exit status: 0 all created; 1 an object failed (the others are still created);\n"
    "2 usage error.\n";

typedef struct apply_state {
    kumoctl_remote remote;
    int create; /* 1: create, else apply */
    size_t objects;
    size_t failed;
} apply_state;

static int apply_flag(void *context, int id, const char *value)
{
    apply_state *state = context;
    int taken = kumoctl_remote_flag(&state->remote, id, value);
    if (taken == KUMOCTL_INPUT_TAKEN)
        return KUMOCTL_EXIT_OK;
    if (taken == KUMOCTL_INPUT_ERROR)
        return KUMOCTL_EXIT_USAGE;
    return kumoctl_usage_error(state->remote.command, "unexpected flag");
}

/* Equal members `key` of two value trees (both absent counts as equal). */
static int same_member(const kumo_value *a, const kumo_value *b, const char *key)
{
    const kumo_value *x = kumo_codec_value_get(a, key), *y = kumo_codec_value_get(b, key);
    return x == NULL || y == NULL ? x == y : kumo_codec_value_equal(x, y);
}

/*
 * 1 when applying `manifest` would change `stored`: what apply sends is
 * compared with what is stored, as kubectl does, never the resourceVersion
 * (status writes move it). The manifest is defaulted first, as kumod will.
 * A Credential's data is never read back: for it the answer is 2, "send it
 * and compare the generations" (kumod bumps generation only on a spec change).
 */
static int apply_changes(const ProtobufCMessage *manifest, const ProtobufCMessage *stored)
{
    ProtobufCMessage *sent = kumo_codec_message_clone(manifest);
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_value *m = NULL, *s = NULL;
    int changed = 1;
    if (sent != NULL && kumo_object_default(sent, &diag) == KUMO_ERROR_OK &&
        kumo_codec_message_to_value(sent, NULL, &m, &diag) == KUMO_ERROR_OK &&
        kumo_codec_message_to_value(stored, NULL, &s, &diag) == KUMO_ERROR_OK) {
        const kumo_value *mm = kumo_codec_value_get(m, "metadata");
        const kumo_value *sm = kumo_codec_value_get(s, "metadata");
        const kumo_value *finalizers = kumo_codec_value_get(mm, "finalizers");
        const kumo_value *stored_finalizers = kumo_codec_value_get(sm, "finalizers");
        changed = !same_member(m, s, "spec") || !same_member(mm, sm, "labels") ||
                  !same_member(mm, sm, "annotations") ||
                  (kumo_codec_value_get(mm, "ownerReferences") != NULL &&
                   !same_member(mm, sm, "ownerReferences"));
        /* finalizers are the union of stored and manifest ones */
        for (size_t i = 0; !changed && finalizers && i < finalizers->count; i++) {
            int found = 0;
            for (size_t j = 0; stored_finalizers && j < stored_finalizers->count; j++)
                found |= kumo_codec_value_equal(finalizers->items[i], stored_finalizers->items[j]);
            changed = !found;
        }
    }
    kumo_codec_value_destroy(m);
    kumo_codec_value_destroy(s);
    kumo_object_destroy(sent);
    kumo_diag_fini(&diag);
    if (!changed && strcmp(kumo_object_kind_of(manifest->descriptor)->kind, "Credential") == 0)
        return 2;
    return changed;
}

static int64_t generation_of(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = object ? kumo_object_meta(object) : NULL;
    return m ? m->generation : -1;
}

static void apply_document(void *context, const kumoctl_source *source, kumo_object_document *doc)
{
    apply_state *state = context;
    char location[4200];
    kumoctl_location(source, doc->line, location, sizeof(location));
    state->objects++;
    if (doc->diag.code != KUMO_ERROR_OK || doc->object == NULL) {
        state->failed++;
        kumoctl_print_document_errors(location, doc, &doc->diag);
        return;
    }
    const kumo_object_kind *kind = doc->kind;
    const char *name = kumo_object_name(doc->object);
    char ref[512];
    kumoctl_object_ref(kind, name, ref, sizeof(ref));
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta_ensure(doc->object);
    const char *ns = kumoctl_remote_namespace(&state->remote);
    if (meta == NULL) {
        state->failed++;
        kumoctl_error("out of memory");
        return;
    }
    if (meta->namespace_[0] == '\0') {
        kumo_codec_string_set(&meta->namespace_, ns);
    } else if (state->remote.ns != NULL && strcmp(meta->namespace_, state->remote.ns) != 0) {
        state->failed++;
        kumoctl_error("%s: %s is in namespace \"%s\" but -n says \"%s\"; remove -n or change "
                      "metadata.namespace",
                      location, ref, meta->namespace_, state->remote.ns);
        return;
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *before = NULL, *after = NULL;
    kumo_error e = KUMO_ERROR_OK;
    const char *what = "created";
    if (state->create) {
        e = kumo_client_create(state->remote.client, doc->object, &after, &diag);
    } else {
        /* Read it first, to tell "configured" from "unchanged". */
        e = kumo_client_get(state->remote.client, kind, meta->namespace_, name, &before, &diag);
        if (e == KUMO_ERROR_NOT_FOUND) {
            kumo_diag_fini(&diag);
            e = KUMO_ERROR_OK;
        }
        int created = 0, changes = before != NULL ? apply_changes(doc->object, before) : 1;
        if (e == KUMO_ERROR_OK && changes == 0)
            what = "unchanged"; /* nothing to send */
        else if (e == KUMO_ERROR_OK)
            e = kumo_client_apply(state->remote.client, doc->object, &after, &created, &diag);
        if (e == KUMO_ERROR_OK && !created && before != NULL && after != NULL)
            what = changes == 2 && generation_of(before) == generation_of(after) ? "unchanged"
                                                                                 : "configured";
    }
    if (e == KUMO_ERROR_OK) {
        printf("%s %s\n", ref, what);
    } else {
        state->failed++;
        fflush(stdout);
        kumoctl_remote_fail(&state->remote, &diag, "%s: %s %s in namespace \"%s\"", location,
                            state->create ? "creating" : "applying", ref, meta->namespace_);
    }
    kumo_object_destroy(before);
    kumo_object_destroy(after);
    kumo_diag_fini(&diag);
}

static int apply_or_create(int argc, char **argv, int create)
{
    static const kumoctl_flag flags[] = {KUMOCTL_INPUT_FLAGS, KUMOCTL_REMOTE_FLAGS};
    const char *command = create ? "kumoctl create" : "kumoctl apply";
    apply_state state;
    memset(&state, 0, sizeof(state));
    state.create = create;
    kumoctl_remote_init(&state.remote, command);
    kumoctl_input input;
    kumoctl_input_init(&input, command);
    int status =
        kumoctl_input_parse(&input, flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
                            create ? kumoctl_create_help : kumoctl_apply_help, apply_flag, &state);
    int connected = 0;
    if (status == KUMOCTL_CONTINUE) {
        status = kumoctl_remote_connect(&state.remote);
        connected = status == KUMOCTL_EXIT_OK;
    }
    if (connected) {
        size_t unreadable = kumoctl_input_decode(&input, apply_document, &state);
        if (unreadable == 0 && state.objects == 0) {
            status = kumoctl_error("no objects found in the input; a manifest needs apiVersion, "
                                   "kind and metadata.name");
        } else if (unreadable > 0 || state.failed > 0) {
            fflush(stdout);
            status = kumoctl_error("%zu of %zu object%s failed%s", state.failed, state.objects,
                                   state.objects == 1 ? "" : "s",
                                   unreadable ? "; some inputs could not be read" : "");
        }
    }
    kumoctl_input_fini(&input);
    kumoctl_remote_fini(&state.remote);
    return status;
}

int kumoctl_apply_run(int argc, char **argv)
{
    return apply_or_create(argc, argv, 0);
}

int kumoctl_create_run(int argc, char **argv)
{
    return apply_or_create(argc, argv, 1);
}
