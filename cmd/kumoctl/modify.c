/*
 * modify.c - what patch, scale, label, annotate and edit share: naming one
 * object (KIND NAME or KIND/NAME), and changing it safely.
 *
 * Two ways to change an object:
 *   - a JSON merge patch sent to kumod's patch verb (atomic on the server;
 *     the only way that keeps a Credential's write-only data);
 *   - read, change the JSON value tree, and update with the read's
 *     resourceVersion as a precondition, retrying from the read when another
 *     writer came first (Conflict), at most KUMOCTL_MODIFY_ATTEMPTS times.
 * Both first compute the result locally, so a change that changes nothing
 * is reported as such and not written.
 */
#include "cmd/kumoctl/modify.h"

#include <stdlib.h>
#include <string.h>

#define KUMOCTL_MODIFY_ATTEMPTS 5
#define MODIFY_CONFLICT         (-100)

int kumoctl_single_target(const kumoctl_targets *t, const char *command)
{
    if (t->kind_count != 1 || t->name_count != 1)
        return kumoctl_usage_error(command, "name one object: KIND NAME or KIND/NAME");
    return KUMOCTL_EXIT_OK;
}

kumo_value *kumoctl_object_to_value(const ProtobufCMessage *object)
{
    kumo_value *v = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_codec_message_to_value(object, NULL, &v, &diag);
    kumo_diag_fini(&diag);
    return v;
}

/* Removes metadata.resourceVersion (it moves on every write) before comparing. */
static void forget_revision(kumo_value *v)
{
    kumo_value *meta = (kumo_value *)kumo_codec_value_get(v, "metadata");
    for (size_t i = 0; meta && meta->type == KUMO_VALUE_OBJECT && i < meta->count; i++)
        if (strcmp(meta->members[i].key, "resourceVersion") == 0) {
            free(meta->members[i].key);
            kumo_codec_value_destroy(meta->members[i].value);
            memmove(&meta->members[i], &meta->members[i + 1],
                    (meta->count - i - 1) * sizeof(*meta->members));
            meta->count--;
            return;
        }
}

static int not_found(const kumoctl_remote *remote, const kumo_object_kind *kind, const char *ns,
                     const char *name)
{
    char ref[512];
    kumoctl_object_ref(kind, name, ref, sizeof(ref));
    (void)remote;
    return kumoctl_error("%s not found in namespace \"%s\"", ref, ns);
}

int kumoctl_object_read(kumoctl_remote *remote, const kumo_object_kind *kind, const char *name,
                        ProtobufCMessage **out)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    const char *ns = kumoctl_remote_namespace(remote);
    kumo_error e = kumo_client_get(remote->client, kind, ns, name, out, &diag);
    int status = KUMOCTL_EXIT_OK;
    if (e == KUMO_ERROR_NOT_FOUND)
        status = not_found(remote, kind, ns, name);
    else if (e != KUMO_ERROR_OK)
        status = kumoctl_remote_fail(remote, &diag, "getting %s \"%s\"", kind->kind, name);
    kumo_diag_fini(&diag);
    return status;
}

int kumoctl_object_merge_patch(kumoctl_remote *remote, const kumo_object_kind *kind,
                               const char *name, const kumo_value *patch, int *changed)
{
    ProtobufCMessage *object = NULL;
    *changed = 0;
    int status = kumoctl_object_read(remote, kind, name, &object);
    if (status != KUMOCTL_EXIT_OK)
        return status;
    kumo_value *before = kumoctl_object_to_value(object), *after = kumo_codec_value_clone(before);
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_codec_buffer text;
    kumo_codec_buffer_init(&text);
    if (before == NULL || after == NULL ||
        kumo_codec_value_merge_patch(&after, patch, &diag) != KUMO_ERROR_OK ||
        kumo_codec_value_to_json(patch, 0, &text) != KUMO_ERROR_OK) {
        status = kumoctl_error("cannot apply the patch: %s",
                               diag.message[0] ? diag.message : "out of memory");
    } else if (!kumo_codec_value_equal(before, after)) {
        *changed = 1;
        kumo_error e = kumo_client_patch(remote->client, kind, kumoctl_remote_namespace(remote),
                                         name, text.data, NULL, &diag);
        if (e != KUMO_ERROR_OK)
            status = kumoctl_remote_fail(remote, &diag, "patching %s \"%s\"", kind->kind, name);
    }
    kumo_codec_buffer_fini(&text);
    kumo_diag_fini(&diag);
    kumo_codec_value_destroy(before);
    kumo_codec_value_destroy(after);
    kumo_object_destroy(object);
    return status;
}

/* One read-change-update round: MODIFY_CONFLICT (try again), else an exit code. */
static int modify_once(kumoctl_remote *remote, const kumo_object_kind *kind, const char *name,
                       kumoctl_modify_fn fn, void *context, int *changed)
{
    ProtobufCMessage *object = NULL, *next = NULL;
    int status = kumoctl_object_read(remote, kind, name, &object);
    if (status != KUMOCTL_EXIT_OK)
        return status;
    kumo_value *before = kumoctl_object_to_value(object), *after = kumo_codec_value_clone(before);
    char err[1024] = "out of memory";
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (before == NULL || after == NULL || fn(context, &after, err, sizeof(err)) != 0) {
        status = kumoctl_error("%s", err);
        goto done;
    }
    forget_revision(before);
    kumo_value *compare = kumo_codec_value_clone(after);
    if (compare)
        forget_revision(compare);
    *changed = compare == NULL || !kumo_codec_value_equal(before, compare);
    kumo_codec_value_destroy(compare);
    if (!*changed)
        goto done;
    if (kumo_codec_message_from_value(kind->descriptor, after, NULL, &next, &diag) !=
        KUMO_ERROR_OK) {
        char ref[512];
        kumoctl_object_ref(kind, name, ref, sizeof(ref));
        status = kumoctl_error("%s: the changed object does not decode: %s", ref, diag.message);
        goto done;
    }
    kumo_error e = kumo_client_update(remote->client, next, NULL, &diag);
    if (e == KUMO_ERROR_CONFLICT)
        status = MODIFY_CONFLICT;
    else if (e != KUMO_ERROR_OK)
        status = kumoctl_remote_fail(remote, &diag, "updating %s \"%s\"", kind->kind, name);
done:
    kumo_diag_fini(&diag);
    kumo_codec_value_destroy(before);
    kumo_codec_value_destroy(after);
    kumo_object_destroy(object);
    kumo_object_destroy(next);
    return status;
}

int kumoctl_object_modify(kumoctl_remote *remote, const kumo_object_kind *kind, const char *name,
                          kumoctl_modify_fn fn, void *context, int *changed)
{
    *changed = 0;
    for (int attempt = 1;; attempt++) {
        int status = modify_once(remote, kind, name, fn, context, changed);
        if (status != MODIFY_CONFLICT)
            return status;
        if (attempt == KUMOCTL_MODIFY_ATTEMPTS)
            return kumoctl_error("%s \"%s\" kept changing while it was being updated (%d "
                                 "conflicts); try again",
                                 kind->kind, name, attempt);
    }
}

kumo_value *kumoctl_value_parse(const char *text, const char *what)
{
    kumo_value *v = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_value **docs = NULL;
    size_t count = 0;
    /* JSON is YAML too; kubectl's -p takes either. */
    if (kumo_codec_value_parse_yaml(text, strlen(text), NULL, &docs, &count, &diag) !=
            KUMO_ERROR_OK ||
        count != 1) {
        kumoctl_error("%s is not one JSON or YAML value: %s", what,
                      diag.message[0] ? diag.message : "found none or several documents");
    } else {
        v = docs[0];
        docs[0] = NULL;
    }
    kumo_codec_value_array_destroy(docs, count);
    kumo_diag_fini(&diag);
    return v;
}
