/*
 * verbs.c - the write verbs as callers see them, and get.
 *
 * Everything that does not need the stored state runs here, on the caller's
 * thread, so the single writer does as little as possible: copying the input,
 * defaulting, validation, canonical form, uid and timestamps, the key, a
 * first size check. The request then goes to the writer (writer.c), which
 * applies it against the stored state (txn.c).
 *
 * patch and apply read the stored object here, compute the new one and
 * submit an update with the revision they read as precondition; a Conflict
 * (somebody wrote in between) makes them read and merge again, like the
 * Kubernetes apiserver's GuaranteedUpdate.
 */
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

#define RETRIES 16

typedef enum prepare_mode {
    PREPARE_CREATE,
    PREPARE_UPDATE,
    PREPARE_STATUS,
} prepare_mode;

static const kumo_object_kind *kind_of_object(const ProtobufCMessage *object)
{
    const kumo_object_kind *kind = object ? kumo_object_kind_of(object->descriptor) : NULL;
    return kind && kind->descriptor == object->descriptor ? kind : NULL;
}

static kumo_error set_type_fields(ProtobufCMessage *obj, const kumo_object_kind *kind)
{
    const ProtobufCFieldDescriptor *f;
    f = protobuf_c_message_descriptor_get_field_by_name(obj->descriptor, "api_version");
    if (f && store_string_set((char **)((char *)obj + f->offset), KUMO_API_VERSION))
        return KUMO_ERROR_NOMEM;
    f = protobuf_c_message_descriptor_get_field_by_name(obj->descriptor, "kind");
    if (f && store_string_set((char **)((char *)obj + f->offset), kind->kind))
        return KUMO_ERROR_NOMEM;
    return KUMO_ERROR_OK;
}

/* Fills req from a caller's object: copy, defaults, validation, key. */
static kumo_error prepare(kumo_store *store, const ProtobufCMessage *object, prepare_mode mode,
                          store_request *req, kumo_diag *diag)
{
    memset(req, 0, sizeof(*req));
    req->diag = diag;
    req->kind = kind_of_object(object);
    if (req->kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND, "%s is not a kumo kind",
                             object ? object->descriptor->name : "(null)");
    ProtobufCMessage *obj = store_clone(object);
    Kumo__V1alpha1__ObjectMeta *meta = obj ? kumo_object_meta_ensure(obj) : NULL;
    if (meta == NULL || set_type_fields(obj, req->kind) != KUMO_ERROR_OK) {
        kumo_object_destroy(obj);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    req->input = obj;
    if (meta->namespace_[0] == '\0' && store_string_set(&meta->namespace_, "default"))
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    if (meta->name[0] == '\0') {
        kumo_diag_add_cause(diag, KUMO_CAUSE_REQUIRED, "metadata.name", NULL, "name is required");
        return kumo_diag_set(diag, KUMO_ERROR_INVALID,
                             "%s is invalid: metadata.name: Required value: name is required",
                             req->kind->kind);
    }
    /* size first: no point validating 100 MiB. Only the parts the writer keeps count (the
     * status of an update and the rest of a status update are replaced); the writer checks
     * the exact final size again. */
    size_t size = protobuf_c_message_get_packed_size(obj);
    const ProtobufCMessage *status = kumo_object_status(obj);
    size_t status_size = status ? protobuf_c_message_get_packed_size(status) : 0;
    if (mode == PREPARE_UPDATE)
        size -= status_size < size ? status_size : size;
    else if (mode == PREPARE_STATUS)
        size = status_size;
    if (size > store->options.max_object_bytes)
        return kumo_diag_set(diag, KUMO_ERROR_TOO_LARGE,
                             STORE_NAME_FMT " is %zu bytes; the limit is %zu", req->kind->kind,
                             meta->name, size, store->options.max_object_bytes);
    if (mode != PREPARE_STATUS) {
        kumo_error err = kumo_object_default(obj, diag);
        if (err == KUMO_ERROR_OK)
            err = kumo_object_validate(obj, diag);
        if (err == KUMO_ERROR_OK)
            err = kumo_object_machines_check(obj, store->options.max_machines_per_infra, diag);
        if (err != KUMO_ERROR_OK)
            return err;
        meta = kumo_object_meta(obj);
    }
    req->key_len =
        store_key_build(req->key, sizeof(req->key), req->kind->kind, meta->namespace_, meta->name);
    if (req->key_len == 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID, STORE_NAME_FMT " is invalid: name too long",
                             req->kind->kind, meta->name);
    int64_t rv = store_revision_parse(meta->resource_version);
    if (rv < 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             STORE_NAME_FMT ": invalid resourceVersion \"%s\"", req->kind->kind,
                             meta->name, meta->resource_version);
    if (mode == PREPARE_CREATE) {
        if (rv != 0)
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 STORE_NAME_FMT
                                 ": resourceVersion should not be set on objects to be created",
                                 req->kind->kind, meta->name);
        char uid[37];
        Kumo__V1alpha1__Time now;
        kumo__v1alpha1__time__init(&now);
        kumo_object_time_now(&now);
        if (store_uuid(uid) != KUMO_ERROR_OK)
            return kumo_diag_set(diag, KUMO_ERROR_CRYPTO, "no random bytes for a uid");
        if (store_string_set(&meta->uid, uid) || store_time_set(&meta->creation_timestamp, &now) ||
            store_time_set(&meta->deletion_timestamp, NULL))
            return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        meta->generation = 1;
    }
    req->precondition_revision = rv;
    store_canonicalize(obj);
    return KUMO_ERROR_OK;
}

/* Write verbs on a read-only store fail before any work. */
static kumo_error refuse_read_only(kumo_store *store, kumo_diag *diag)
{
    return kumo_diag_set(diag, KUMO_ERROR_FORBIDDEN, "store %s is open read-only", store->path);
}

static void request_fini(store_request *req)
{
    kumo_object_destroy(req->input);
    kumo_object_destroy(req->result);
    req->input = req->result = NULL;
}

/* Runs one prepared request and hands its results out. */
static kumo_error finish(kumo_store *store, store_request *req, ProtobufCMessage **out,
                         int64_t *revision_out)
{
    kumo_error err = store_submit(store, req);
    if (err == KUMO_ERROR_OK)
        err = req->err;
    if (err == KUMO_ERROR_OK) {
        if (out) {
            *out = req->result;
            req->result = NULL;
        }
        if (revision_out)
            *revision_out = req->revision;
    }
    request_fini(req);
    return err;
}

static kumo_error write_verb(kumo_store *store, const ProtobufCMessage *object, store_op op,
                             prepare_mode mode, ProtobufCMessage **out, int64_t *revision_out,
                             kumo_diag *diag)
{
    if (out)
        *out = NULL;
    if (store->read_only)
        return refuse_read_only(store, diag);
    store_request req;
    kumo_error err = prepare(store, object, mode, &req, diag);
    if (err != KUMO_ERROR_OK) {
        request_fini(&req);
        return err;
    }
    req.op = op;
    return finish(store, &req, out, revision_out);
}

kumo_error kumo_store_create(kumo_store *store, const ProtobufCMessage *object,
                             ProtobufCMessage **out, int64_t *revision_out, kumo_diag *diag)
{
    return write_verb(store, object, STORE_OP_CREATE, PREPARE_CREATE, out, revision_out, diag);
}

kumo_error kumo_store_update(kumo_store *store, const ProtobufCMessage *object,
                             ProtobufCMessage **out, int64_t *revision_out, kumo_diag *diag)
{
    return write_verb(store, object, STORE_OP_UPDATE, PREPARE_UPDATE, out, revision_out, diag);
}

kumo_error kumo_store_update_status(kumo_store *store, const ProtobufCMessage *object,
                                    ProtobufCMessage **out, int64_t *revision_out, kumo_diag *diag)
{
    return write_verb(store, object, STORE_OP_UPDATE_STATUS, PREPARE_STATUS, out, revision_out,
                      diag);
}

kumo_error kumo_store_create_many(kumo_store *store, const ProtobufCMessage *const *objects,
                                  size_t count, kumo_error *errors, kumo_diag *diag)
{
    enum { CHUNK = 512 };
    if (store->read_only)
        return refuse_read_only(store, diag);
    kumo_error first = KUMO_ERROR_OK;
    store_request *reqs = malloc(CHUNK * sizeof(*reqs));
    kumo_diag *diags = malloc(CHUNK * sizeof(*diags));
    if (reqs == NULL || diags == NULL) {
        free(reqs);
        free(diags);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    size_t index[CHUNK]; /* reqs[q] is objects[base + index[q]] */
    for (size_t base = 0; base < count; base += CHUNK) {
        size_t n = count - base < CHUNK ? count - base : CHUNK, queued = 0;
        for (size_t i = 0; i < n; i++) {
            kumo_diag_init(&diags[i]);
            store_request *req = &reqs[queued];
            kumo_error err = prepare(store, objects[base + i], PREPARE_CREATE, req, &diags[i]);
            if (err != KUMO_ERROR_OK) {
                request_fini(req);
                if (errors)
                    errors[base + i] = err;
                if (first == KUMO_ERROR_OK) {
                    first = err;
                    kumo_diag_copy(diag, &diags[i]);
                }
                continue;
            }
            req->op = STORE_OP_CREATE;
            index[queued++] = i;
        }
        kumo_error err = queued ? store_submit_many(store, reqs, queued) : KUMO_ERROR_OK;
        for (size_t q = 0; q < queued; q++) {
            kumo_error e = err != KUMO_ERROR_OK ? err : reqs[q].err;
            if (errors)
                errors[base + index[q]] = e;
            if (e != KUMO_ERROR_OK && first == KUMO_ERROR_OK) {
                first = e;
                kumo_diag_copy(diag, &diags[index[q]]);
            }
            request_fini(&reqs[q]);
        }
        for (size_t i = 0; i < n; i++)
            kumo_diag_fini(&diags[i]);
    }
    free(reqs);
    free(diags);
    return first;
}

kumo_error kumo_store_delete(kumo_store *store, const kumo_object_kind *kind,
                             const char *namespace_, const char *name,
                             const kumo_store_delete_options *options, ProtobufCMessage **out,
                             int64_t *revision_out, kumo_diag *diag)
{
    if (out)
        *out = NULL;
    if (store->read_only)
        return refuse_read_only(store, diag);
    store_request req;
    memset(&req, 0, sizeof(req));
    req.diag = diag;
    req.op = STORE_OP_DELETE;
    req.kind = kind;
    if (kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND, "no kind given");
    if (namespace_ == NULL || namespace_[0] == '\0')
        namespace_ = "default";
    req.key_len =
        store_key_build(req.key, sizeof(req.key), kind->kind, namespace_, name ? name : "");
    if (req.key_len == 0 || name == NULL || name[0] == '\0')
        return kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, STORE_NAME_FMT " not found", kind->kind,
                             name ? name : "");
    if (options != NULL) {
        req.propagation = options->propagation;
        if (options->uid)
            snprintf(req.precondition_uid, sizeof(req.precondition_uid), "%s", options->uid);
        req.precondition_revision = store_revision_parse(options->resource_version);
        if (req.precondition_revision < 0)
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "invalid resourceVersion precondition \"%s\"",
                                 options->resource_version);
    }
    return finish(store, &req, out, revision_out);
}

/* ---- get ------------------------------------------------------------------ */

kumo_error kumo_store_get(kumo_store *store, const kumo_object_kind *kind, const char *namespace_,
                          const char *name, ProtobufCMessage **out, int64_t *revision_out,
                          kumo_diag *diag)
{
    *out = NULL;
    if (kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND, "no kind given");
    if (namespace_ == NULL || namespace_[0] == '\0')
        namespace_ = "default";
    char key[STORE_KEY_MAX];
    size_t key_len = store_key_build(key, sizeof(key), kind->kind, namespace_, name ? name : "");
    if (key_len == 0 || name == NULL || name[0] == '\0')
        return kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, STORE_NAME_FMT " not found", kind->kind,
                             name ? name : "");
    MDB_txn *txn;
    kumo_error err = store_read_begin(store, &txn, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    MDB_val k = {key_len, key}, v;
    int rc = mdb_get(txn, store->dbi_objects, &k, &v);
    if (rc == MDB_NOTFOUND) {
        err = kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, STORE_NAME_FMT " not found", kind->kind,
                            name);
    } else if (rc != 0) {
        err = store_lmdb_error(diag, rc, "read object");
    } else if (v.mv_size < STORE_OBJECT_HEADER) {
        err = kumo_diag_set(diag, KUMO_ERROR_STORAGE, "stored " STORE_NAME_FMT " is corrupt",
                            kind->kind, name);
    } else {
        const uint8_t *rec = v.mv_data;
        if (revision_out)
            *revision_out = (int64_t)store_be64_get(rec + 1);
        err = store_payload_decode(store, kind, key, key_len, rec[0], rec + STORE_OBJECT_HEADER,
                                   v.mv_size - STORE_OBJECT_HEADER, out, diag);
    }
    store_read_end(store, txn);
    return err;
}

/* ---- patch ------------------------------------------------------------------- */

/* metadata.resourceVersion of a patch value, or NULL. */
static const char *patch_revision(const kumo_value *patch)
{
    const kumo_value *meta = kumo_codec_value_get(patch, "metadata");
    const kumo_value *rv = meta ? kumo_codec_value_get(meta, "resourceVersion") : NULL;
    return rv && rv->type == KUMO_VALUE_STRING ? rv->text : NULL;
}

/* current + patch -> a new message; the name and namespace may not change. */
static kumo_error patched(const kumo_object_kind *kind, const ProtobufCMessage *current,
                          const kumo_value *patch, ProtobufCMessage **out, kumo_diag *diag)
{
    *out = NULL;
    kumo_codec_encode_options enc = {0, 0};
    kumo_value *value = NULL;
    kumo_error err = kumo_codec_message_to_value(current, &enc, &value, diag);
    if (err == KUMO_ERROR_OK)
        err = kumo_codec_value_merge_patch(&value, patch, diag);
    if (err == KUMO_ERROR_OK) {
        kumo_codec_decode_options dec = {0, 0, 0};
        err = kumo_codec_message_from_value(kind->descriptor, value, &dec, out, diag);
    }
    kumo_codec_value_destroy(value);
    if (err != KUMO_ERROR_OK)
        return err;
    const char *name = kumo_object_name(current);
    if (strcmp(kumo_object_name(*out), name) != 0 ||
        strcmp(kumo_object_namespace(*out), kumo_object_namespace(current)) != 0) {
        kumo_object_destroy(*out);
        *out = NULL;
        kumo_diag_add_cause(diag, KUMO_CAUSE_INVALID, "metadata.name", NULL, "field is immutable");
        return kumo_diag_set(diag, KUMO_ERROR_INVALID,
                             STORE_NAME_FMT " is invalid: metadata.name and metadata.namespace "
                                            "are immutable",
                             kind->kind, name);
    }
    return KUMO_ERROR_OK;
}

kumo_error kumo_store_patch(kumo_store *store, const kumo_object_kind *kind, const char *namespace_,
                            const char *name, const char *patch, size_t patch_len, unsigned flags,
                            ProtobufCMessage **out, int64_t *revision_out, kumo_diag *diag)
{
    if (out)
        *out = NULL;
    if (kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND, "no kind given");
    if (store->read_only)
        return refuse_read_only(store, diag);
    kumo_value *pv = NULL;
    kumo_error err = kumo_codec_value_parse_json(patch, patch_len, NULL, &pv, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    const char *fixed_rv = patch_revision(pv);
    int stat = (flags & KUMO_STORE_PATCH_STATUS) != 0;
    for (int attempt = 0;; attempt++) {
        ProtobufCMessage *current = NULL, *next = NULL;
        int64_t rev = 0;
        err = kumo_store_get(store, kind, namespace_, name, &current, &rev, diag);
        if (err == KUMO_ERROR_OK)
            err = patched(kind, current, pv, &next, diag);
        kumo_object_destroy(current);
        if (err != KUMO_ERROR_OK)
            break;
        Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta_ensure(next);
        char rv[24];
        snprintf(rv, sizeof(rv), "%lld", (long long)rev);
        if (meta == NULL ||
            store_string_set(&meta->resource_version, fixed_rv ? fixed_rv : rv) != KUMO_ERROR_OK) {
            kumo_object_destroy(next);
            err = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
            break;
        }
        err = stat ? kumo_store_update_status(store, next, out, revision_out, diag)
                   : kumo_store_update(store, next, out, revision_out, diag);
        kumo_object_destroy(next);
        if (err != KUMO_ERROR_CONFLICT || fixed_rv != NULL || attempt == RETRIES)
            break;
        kumo_diag_fini(diag);
    }
    kumo_codec_value_destroy(pv);
    return err;
}

/* ---- apply --------------------------------------------------------------------- */

static kumo_error finalizers_union(Kumo__V1alpha1__ObjectMeta *into,
                                   const Kumo__V1alpha1__ObjectMeta *from)
{
    for (size_t i = 0; i < from->n_finalizers; i++) {
        int have = 0;
        for (size_t j = 0; j < into->n_finalizers && !have; j++)
            have = strcmp(into->finalizers[j], from->finalizers[i]) == 0;
        if (have)
            continue;
        char **grown = realloc(into->finalizers, (into->n_finalizers + 1) * sizeof(*grown));
        if (grown == NULL)
            return KUMO_ERROR_NOMEM;
        into->finalizers = grown;
        grown[into->n_finalizers] = NULL;
        if (store_string_set(&grown[into->n_finalizers], from->finalizers[i]))
            return KUMO_ERROR_NOMEM;
        into->n_finalizers++;
    }
    return KUMO_ERROR_OK;
}

static kumo_error owner_refs_copy(Kumo__V1alpha1__ObjectMeta *into,
                                  const Kumo__V1alpha1__ObjectMeta *from)
{
    if (from->n_owner_references == 0)
        return KUMO_ERROR_OK;
    into->owner_references = malloc(from->n_owner_references * sizeof(*into->owner_references));
    if (into->owner_references == NULL)
        return KUMO_ERROR_NOMEM;
    for (size_t i = 0; i < from->n_owner_references; i++) {
        into->owner_references[i] =
            (Kumo__V1alpha1__OwnerReference *)store_clone(&from->owner_references[i]->base);
        if (into->owner_references[i] == NULL)
            return KUMO_ERROR_NOMEM;
        into->n_owner_references = i + 1;
    }
    return KUMO_ERROR_OK;
}

kumo_error kumo_store_apply(kumo_store *store, const ProtobufCMessage *manifest,
                            ProtobufCMessage **out, int64_t *revision_out, int *created_out,
                            kumo_diag *diag)
{
    if (out)
        *out = NULL;
    if (created_out)
        *created_out = 0;
    if (store->read_only)
        return refuse_read_only(store, diag);
    const kumo_object_kind *kind = kind_of_object(manifest);
    if (kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND, "%s is not a kumo kind",
                             manifest ? manifest->descriptor->name : "(null)");
    const char *fixed_rv = NULL;
    const Kumo__V1alpha1__ObjectMeta *mm = kumo_object_meta(manifest);
    if (mm && mm->resource_version && mm->resource_version[0])
        fixed_rv = mm->resource_version;
    kumo_error err;
    for (int attempt = 0;; attempt++) {
        ProtobufCMessage *current = NULL;
        int64_t rev = 0;
        err = kumo_store_get(store, kind, kumo_object_namespace(manifest),
                             kumo_object_name(manifest), &current, &rev, diag);
        if (err == KUMO_ERROR_NOT_FOUND && fixed_rv == NULL) {
            kumo_diag_fini(diag);
            ProtobufCMessage *fresh = store_clone(manifest);
            Kumo__V1alpha1__ObjectMeta *fm = fresh ? kumo_object_meta_ensure(fresh) : NULL;
            if (fm == NULL) {
                kumo_object_destroy(fresh);
                return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
            }
            store_string_set(&fm->uid, NULL);
            err = kumo_store_create(store, fresh, out, revision_out, diag);
            kumo_object_destroy(fresh);
            if (err == KUMO_ERROR_OK && created_out)
                *created_out = 1;
            if (err != KUMO_ERROR_ALREADY_EXISTS || attempt == RETRIES)
                return err;
            kumo_diag_fini(diag);
            continue;
        }
        if (err != KUMO_ERROR_OK)
            return err;
        ProtobufCMessage *next = store_clone(manifest);
        Kumo__V1alpha1__ObjectMeta *nm = next ? kumo_object_meta_ensure(next) : NULL;
        const Kumo__V1alpha1__ObjectMeta *cm = kumo_object_meta(current);
        char rv[24];
        snprintf(rv, sizeof(rv), "%lld", (long long)rev);
        err = nm == NULL ? KUMO_ERROR_NOMEM : KUMO_ERROR_OK;
        if (err == KUMO_ERROR_OK)
            err = store_string_set(&nm->resource_version, fixed_rv ? fixed_rv : rv);
        if (err == KUMO_ERROR_OK)
            err = store_string_set(&nm->uid, cm->uid);
        if (err == KUMO_ERROR_OK)
            err = finalizers_union(nm, cm);
        if (err == KUMO_ERROR_OK && nm->n_owner_references == 0)
            err = owner_refs_copy(nm, cm);
        kumo_object_destroy(current);
        if (err != KUMO_ERROR_OK) {
            kumo_object_destroy(next);
            return kumo_diag_set(diag, err, "out of memory");
        }
        err = kumo_store_update(store, next, out, revision_out, diag);
        kumo_object_destroy(next);
        if (err != KUMO_ERROR_CONFLICT || fixed_rv != NULL || attempt == RETRIES)
            return err;
        kumo_diag_fini(diag);
    }
}
