/*
 * txn.c - the verbs as the writer applies them, inside the batch's write
 * transaction: create, update, update_status and delete, and the two
 * primitives every change goes through (store_txn_put, store_txn_remove),
 * which keep the objects, log, deleted and owners databases in step.
 *
 * Validate, then write: each verb checks everything that can fail for the
 * caller's reasons (existence, preconditions, immutable fields, size) before
 * its first write, so a refused request leaves nothing behind and the other
 * requests of the batch go on. Only an LMDB failure (t->rc) abandons the
 * whole transaction; the writer then retries or fails the batch.
 *
 * Each op works on req->input and re-derives every server-set part from the
 * freshly loaded stored object, so the writer can re-run a batch after
 * growing the map.
 */
#include "store/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

kumo_error store_txn_fail(store_txn *t, int rc, const char *where)
{
    if (t->rc == 0) {
        t->rc = rc;
        t->rc_where = where;
    }
    return KUMO_ERROR_STORAGE;
}

static const char *key_name(const char *key, size_t len)
{
    const char *kind, *ns, *name;
    return store_key_split(key, len, &kind, &ns, &name) ? name : "?";
}

static kumo_error event_add(store_txn *t, kumo_store_event_type type, int64_t revision,
                            const kumo_object_kind *kind, ProtobufCMessage *obj, int owned)
{
    if (t->event_count == t->event_cap) {
        size_t cap = t->event_cap ? t->event_cap * 2 : 64;
        kumo_store_event *ev = realloc(t->events, cap * sizeof(*ev));
        if (ev == NULL)
            return KUMO_ERROR_NOMEM;
        t->events = ev;
        unsigned char *own = realloc(t->event_owned, cap);
        if (own == NULL)
            return KUMO_ERROR_NOMEM;
        t->event_owned = own;
        t->event_cap = cap;
    }
    t->events[t->event_count] = (kumo_store_event){type, revision, kind, obj};
    t->event_owned[t->event_count++] = (unsigned char)owned;
    return KUMO_ERROR_OK;
}

kumo_error store_txn_load(store_txn *t, const kumo_object_kind *kind, const char *key,
                          size_t key_len, ProtobufCMessage **out, int64_t *revision,
                          kumo_diag *diag)
{
    *out = NULL;
    MDB_val k = {key_len, (void *)key}, v;
    int rc = mdb_get(t->txn, t->store->dbi_objects, &k, &v);
    if (rc == MDB_NOTFOUND)
        return KUMO_ERROR_NOT_FOUND;
    if (rc != 0)
        return store_txn_fail(t, rc, "read object");
    if (v.mv_size < STORE_OBJECT_HEADER)
        return kumo_diag_set(diag, KUMO_ERROR_STORAGE, "stored record of %s is corrupt",
                             key_name(key, key_len));
    const uint8_t *rec = v.mv_data;
    *revision = (int64_t)store_be64_get(rec + 1);
    return store_payload_decode(t->store, kind, key, key_len, rec[0], rec + STORE_OBJECT_HEADER,
                                v.mv_size - STORE_OBJECT_HEADER, out, diag);
}

int store_txn_owner_exists(store_txn *t, const char *kind, const char *ns, const char *name,
                           const char *uid)
{
    const kumo_object_kind *k = kumo_object_kind_lookup(kind);
    char key[STORE_KEY_MAX];
    size_t key_len;
    if (k == NULL || strcmp(k->kind, kind) != 0 ||
        (key_len = store_key_build(key, sizeof(key), kind, ns, name)) == 0)
        return 0;
    ProtobufCMessage *owner = NULL;
    int64_t rev;
    if (store_txn_load(t, k, key, key_len, &owner, &rev, NULL) != KUMO_ERROR_OK)
        return 0;
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(owner);
    int exists = m && m->uid && strcmp(m->uid, uid) == 0;
    kumo_object_destroy(owner);
    return exists;
}

/* ---- the owners index --------------------------------------------------------- */

static int has_ref(const Kumo__V1alpha1__ObjectMeta *m, const char *uid)
{
    for (size_t i = 0; m && i < m->n_owner_references; i++)
        if (m->owner_references[i]->uid && strcmp(m->owner_references[i]->uid, uid) == 0)
            return 1;
    return 0;
}

static int owners_key(uint8_t *buf, size_t size, const char *uid, const char *key, size_t key_len)
{
    size_t u = strlen(uid);
    if (u + 1 + key_len > size)
        return 0;
    memcpy(buf, uid, u);
    buf[u] = '\0';
    memcpy(buf + u + 1, key, key_len);
    return (int)(u + 1 + key_len);
}

/* Adds and removes owners entries so that they match new_meta's references. */
static void owners_update(store_txn *t, const char *key, size_t key_len,
                          const Kumo__V1alpha1__ObjectMeta *old_meta,
                          const Kumo__V1alpha1__ObjectMeta *new_meta)
{
    uint8_t buf[STORE_UID_MAX + STORE_KEY_MAX + 2];
    for (size_t i = 0; old_meta && i < old_meta->n_owner_references && !t->rc; i++) {
        const char *uid = old_meta->owner_references[i]->uid;
        if (uid == NULL || uid[0] == '\0' || has_ref(new_meta, uid))
            continue;
        int n = owners_key(buf, sizeof(buf), uid, key, key_len);
        MDB_val k = {(size_t)n, buf};
        int rc = n ? mdb_del(t->txn, t->store->dbi_owners, &k, NULL) : 0;
        if (rc != 0 && rc != MDB_NOTFOUND)
            store_txn_fail(t, rc, "owners index");
    }
    for (size_t i = 0; new_meta && i < new_meta->n_owner_references && !t->rc; i++) {
        const Kumo__V1alpha1__OwnerReference *ref = new_meta->owner_references[i];
        if (ref->uid == NULL || ref->uid[0] == '\0' || has_ref(old_meta, ref->uid))
            continue;
        int n = owners_key(buf, sizeof(buf), ref->uid, key, key_len);
        if (n == 0)
            continue;
        MDB_val k = {(size_t)n, buf}, v = {0, ""};
        int rc = mdb_put(t->txn, t->store->dbi_owners, &k, &v, 0);
        if (rc != 0) {
            store_txn_fail(t, rc, "owners index");
            return;
        }
        /* an owner that is already gone: collect this dependent like Kubernetes' GC would */
        if (!store_txn_owner_exists(t, ref->kind ? ref->kind : "", new_meta->namespace_,
                                    ref->name ? ref->name : "", ref->uid))
            store_gc_queue(t, ref->uid);
    }
}

/* ---- the change primitives ------------------------------------------------------- */

/* Puts back the log entry of a state that compaction dropped because it was current: it is
 * needed again now that it is being replaced (see compact.c). */
static void resurrect(store_txn *t, const char *key, size_t key_len, int64_t old_revision)
{
    if (old_revision <= 0 || old_revision > t->compacted)
        return;
    uint8_t rk[8];
    store_be64_put(rk, (uint64_t)old_revision);
    MDB_val lk = {8, rk}, lv;
    int rc = mdb_get(t->txn, t->store->dbi_log, &lk, &lv);
    if (rc == 0)
        return;
    if (rc != MDB_NOTFOUND) {
        store_txn_fail(t, rc, "read log");
        return;
    }
    MDB_val ok = {key_len, (void *)key}, ov;
    rc = mdb_get(t->txn, t->store->dbi_objects, &ok, &ov);
    if (rc != 0) {
        store_txn_fail(t, rc, "read object");
        return;
    }
    size_t payload = ov.mv_size - STORE_OBJECT_HEADER;
    if (store_buf_reserve(&t->scratch, STORE_LOG_HEADER + key_len + payload) != 0) {
        store_txn_fail(t, ENOMEM, "resurrect");
        return;
    }
    uint8_t *p = t->scratch.data;
    p[0] = KUMO_STORE_EVENT_MODIFIED;
    p[1] = ((const uint8_t *)ov.mv_data)[0];
    p[2] = (uint8_t)(key_len >> 8);
    p[3] = (uint8_t)key_len;
    store_be64_put(p + 4, 0);  /* time: long gone */
    store_be64_put(p + 12, 0); /* what came before is compacted */
    memcpy(p + STORE_LOG_HEADER, key, key_len);
    memcpy(p + STORE_LOG_HEADER + key_len, (const uint8_t *)ov.mv_data + STORE_OBJECT_HEADER,
           payload);
    MDB_val v = {STORE_LOG_HEADER + key_len + payload, p};
    rc = mdb_put(t->txn, t->store->dbi_log, &lk, &v, 0);
    if (rc != 0)
        store_txn_fail(t, rc, "resurrect log entry");
}

/* Sets resourceVersion, packs and (for secret kinds) encrypts obj into the payload; the
 * packed object may have at most `limit` bytes. */
static kumo_error encode(store_txn *t, const kumo_object_kind *kind, const char *key,
                         size_t key_len, ProtobufCMessage *obj, int64_t revision, size_t limit,
                         const uint8_t **payload, size_t *payload_len, unsigned *flags,
                         kumo_diag *diag)
{
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta_ensure(obj);
    char rv[24];
    snprintf(rv, sizeof(rv), "%" PRId64, revision);
    if (meta == NULL || store_string_set(&meta->resource_version, rv) != KUMO_ERROR_OK ||
        store_pack(obj, &t->pack) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    if (t->pack.len > limit)
        return kumo_diag_set(diag, KUMO_ERROR_TOO_LARGE,
                             STORE_NAME_FMT " is %zu bytes; the limit is %zu", kind->kind,
                             key_name(key, key_len), t->pack.len, limit);
    *flags = 0;
    *payload = t->pack.data;
    *payload_len = t->pack.len;
    if (kind->write_only_spec) {
        kumo_error err =
            store_encrypt(t->store, key, key_len, t->pack.data, t->pack.len, &t->crypt, diag);
        if (err != KUMO_ERROR_OK)
            return err;
        *flags = STORE_FLAG_ENCRYPTED;
        *payload = t->crypt.data;
        *payload_len = t->crypt.len;
        t->wrote_encrypted = 1;
    }
    return KUMO_ERROR_OK;
}

/* Appends the log entry of one change. */
static void log_append(store_txn *t, const char *key, size_t key_len, int64_t revision,
                       kumo_store_event_type type, unsigned flags, int64_t previous,
                       const uint8_t *payload, size_t payload_len)
{
    uint8_t rk[8];
    store_be64_put(rk, (uint64_t)revision);
    MDB_val k = {8, rk}, v = {STORE_LOG_HEADER + key_len + payload_len, NULL};
    int rc = mdb_put(t->txn, t->store->dbi_log, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc != 0) {
        store_txn_fail(t, rc, "append log");
        return;
    }
    uint8_t *p = v.mv_data;
    p[0] = (uint8_t)type;
    p[1] = (uint8_t)flags;
    p[2] = (uint8_t)(key_len >> 8);
    p[3] = (uint8_t)key_len;
    store_be64_put(p + 4, t->now_ms);
    store_be64_put(p + 12, (uint64_t)previous);
    memcpy(p + STORE_LOG_HEADER, key, key_len);
    memcpy(p + STORE_LOG_HEADER + key_len, payload, payload_len);
}

/* The tombstone of key (its deletion's revision), removed; 0 when none. */
static int64_t tombstone_take(store_txn *t, const char *key, size_t key_len)
{
    MDB_val k = {key_len, (void *)key}, v;
    int rc = mdb_get(t->txn, t->store->dbi_deleted, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0 || v.mv_size != 8)
        return store_txn_fail(t, rc ? rc : MDB_CORRUPTED, "read tombstone"), 0;
    int64_t revision = (int64_t)store_be64_get(v.mv_data);
    rc = mdb_del(t->txn, t->store->dbi_deleted, &k, NULL);
    if (rc != 0)
        store_txn_fail(t, rc, "delete tombstone");
    return revision;
}

kumo_error store_txn_put(store_txn *t, const kumo_object_kind *kind, const char *key,
                         size_t key_len, const ProtobufCMessage *old, int64_t old_revision,
                         ProtobufCMessage *obj, kumo_store_event_type type, int owned,
                         kumo_diag *diag)
{
    int64_t revision = t->revision + 1;
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    unsigned flags = 0;
    kumo_error err =
        encode(t, kind, key, key_len, obj, revision, t->store->options.max_object_bytes, &payload,
               &payload_len, &flags, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    int64_t previous = old_revision;
    if (old != NULL)
        resurrect(t, key, key_len, old_revision);
    else
        previous = tombstone_take(t, key, key_len); /* a new life of a deleted key */
    if (t->rc)
        return KUMO_ERROR_STORAGE;
    MDB_val k = {key_len, (void *)key}, v = {STORE_OBJECT_HEADER + payload_len, NULL};
    int rc = mdb_put(t->txn, t->store->dbi_objects, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return store_txn_fail(t, rc, "write object");
    uint8_t *p = v.mv_data;
    p[0] = (uint8_t)flags;
    store_be64_put(p + 1, (uint64_t)revision);
    memcpy(p + STORE_OBJECT_HEADER, payload, payload_len);
    log_append(t, key, key_len, revision, type, flags, previous, payload, payload_len);
    owners_update(t, key, key_len, old ? kumo_object_meta(old) : NULL, kumo_object_meta(obj));
    if (t->rc)
        return KUMO_ERROR_STORAGE;
    t->revision = revision;
    if (event_add(t, type, revision, kind, obj, owned) != KUMO_ERROR_OK)
        return store_txn_fail(t, ENOMEM, "event");
    return KUMO_ERROR_OK;
}

kumo_error store_txn_remove(store_txn *t, const kumo_object_kind *kind, const char *key,
                            size_t key_len, int64_t old_revision, ProtobufCMessage *obj, int owned,
                            kumo_diag *diag)
{
    int64_t revision = t->revision + 1;
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    unsigned flags = 0;
    /* the final state may be over the limit only if the limit was lowered: still remove it */
    kumo_error err = encode(t, kind, key, key_len, obj, revision, SIZE_MAX, &payload, &payload_len,
                            &flags, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    resurrect(t, key, key_len, old_revision);
    if (t->rc)
        return KUMO_ERROR_STORAGE;
    MDB_val k = {key_len, (void *)key};
    int rc = mdb_del(t->txn, t->store->dbi_objects, &k, NULL);
    if (rc != 0)
        return store_txn_fail(t, rc, "delete object");
    log_append(t, key, key_len, revision, KUMO_STORE_EVENT_DELETED, flags, old_revision, payload,
               payload_len);
    uint8_t rb[8];
    store_be64_put(rb, (uint64_t)revision);
    MDB_val tv = {8, rb};
    if (!t->rc && (rc = mdb_put(t->txn, t->store->dbi_deleted, &k, &tv, 0)) != 0)
        store_txn_fail(t, rc, "tombstone");
    owners_update(t, key, key_len, kumo_object_meta(obj), NULL);
    if (t->rc)
        return KUMO_ERROR_STORAGE;
    t->revision = revision;
    if (event_add(t, KUMO_STORE_EVENT_DELETED, revision, kind, obj, owned) != KUMO_ERROR_OK)
        return store_txn_fail(t, ENOMEM, "event");
    return KUMO_ERROR_OK;
}

/* ---- the verbs ------------------------------------------------------------------ */

/* A copy of sub-message field `name` of msg (NULL when unset); *ok 0 when out of memory. */
static ProtobufCMessage *copy_field(const ProtobufCMessage *msg, const char *name, int *ok)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
    const ProtobufCMessage *sub =
        f ? *(ProtobufCMessage *const *)((const char *)msg + f->offset) : NULL;
    ProtobufCMessage *copy = sub ? store_clone(sub) : NULL;
    if (sub != NULL && copy == NULL)
        *ok = 0;
    return copy;
}

/* Puts sub into field `name` of msg (freeing what was there); takes ownership. */
static void attach(ProtobufCMessage *msg, const char *name, ProtobufCMessage *sub)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
    if (f == NULL) {
        if (sub)
            protobuf_c_message_free_unpacked(sub, NULL);
        return;
    }
    ProtobufCMessage **slot = (ProtobufCMessage **)((char *)msg + f->offset);
    if (*slot != NULL)
        protobuf_c_message_free_unpacked(*slot, NULL);
    *slot = sub;
}

static kumo_error not_found(store_request *req)
{
    return kumo_diag_set(req->diag, KUMO_ERROR_NOT_FOUND, STORE_NAME_FMT " not found",
                         req->kind->kind, key_name(req->key, req->key_len));
}

static kumo_error conflict(store_request *req)
{
    return kumo_diag_set(req->diag, KUMO_ERROR_CONFLICT,
                         "Operation cannot be fulfilled on " STORE_NAME_FMT
                         ": the object has been modified; please apply your changes to the "
                         "latest version and try again",
                         req->kind->kind, key_name(req->key, req->key_len));
}

/* Loads the stored object of req; NOT_FOUND and the precondition are reported. */
static kumo_error load_for_write(store_txn *t, store_request *req, ProtobufCMessage **old,
                                 int64_t *old_rev)
{
    kumo_error err = store_txn_load(t, req->kind, req->key, req->key_len, old, old_rev, req->diag);
    if (err == KUMO_ERROR_NOT_FOUND)
        return not_found(req);
    if (err != KUMO_ERROR_OK)
        return err;
    if (req->precondition_revision > 0 && req->precondition_revision != *old_rev) {
        kumo_object_destroy(*old);
        *old = NULL;
        return conflict(req);
    }
    return KUMO_ERROR_OK;
}

static int spec_changed(store_txn *t, const ProtobufCMessage *old, const ProtobufCMessage *neu)
{
    const ProtobufCMessage *a = kumo_object_spec(old), *b = kumo_object_spec(neu);
    t->spec_old.len = t->spec_new.len = 0;
    if (a != NULL && store_pack(a, &t->spec_old) != 0)
        return 1;
    if (b != NULL && store_pack(b, &t->spec_new) != 0)
        return 1;
    return t->spec_old.len != t->spec_new.len ||
           (t->spec_old.len && memcmp(t->spec_old.data, t->spec_new.data, t->spec_old.len) != 0);
}

/* 1 when neu packs to the same bytes as old with old's resourceVersion. */
static int unchanged(store_txn *t, const ProtobufCMessage *old, ProtobufCMessage *neu)
{
    const Kumo__V1alpha1__ObjectMeta *om = kumo_object_meta(old);
    Kumo__V1alpha1__ObjectMeta *nm = kumo_object_meta_ensure(neu);
    if (om == NULL || nm == NULL ||
        store_string_set(&nm->resource_version, om->resource_version) != KUMO_ERROR_OK)
        return 0;
    if (store_pack(old, &t->spec_old) != 0 || store_pack(neu, &t->spec_new) != 0)
        return 0;
    return t->spec_old.len == t->spec_new.len &&
           memcmp(t->spec_old.data, t->spec_new.data, t->spec_old.len) == 0;
}

static int has_string(char **items, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i], s) == 0)
            return 1;
    return 0;
}

/* Writes neu as the new state, or removes the object when its last finalizer went. */
static kumo_error write_update(store_txn *t, store_request *req, const ProtobufCMessage *old,
                               int64_t old_rev)
{
    ProtobufCMessage *neu = req->input;
    if (unchanged(t, old, neu)) {
        req->revision = old_rev;
        return KUMO_ERROR_OK;
    }
    const Kumo__V1alpha1__ObjectMeta *nm = kumo_object_meta(neu);
    kumo_error err;
    if (nm->deletion_timestamp != NULL && nm->n_finalizers == 0) {
        err = store_txn_remove(t, req->kind, req->key, req->key_len, old_rev, neu, 0, req->diag);
        if (err == KUMO_ERROR_OK && nm->uid && nm->uid[0])
            store_gc_queue(t, nm->uid);
    } else {
        err = store_txn_put(t, req->kind, req->key, req->key_len, old, old_rev, neu,
                            KUMO_STORE_EVENT_MODIFIED, 0, req->diag);
    }
    if (err == KUMO_ERROR_OK)
        req->revision = t->revision;
    return err;
}

static kumo_error op_create(store_txn *t, store_request *req)
{
    MDB_val k = {req->key_len, req->key}, v;
    int rc = mdb_get(t->txn, t->store->dbi_objects, &k, &v);
    if (rc == 0)
        return kumo_diag_set(req->diag, KUMO_ERROR_ALREADY_EXISTS, STORE_NAME_FMT " already exists",
                             req->kind->kind, key_name(req->key, req->key_len));
    if (rc != MDB_NOTFOUND)
        return store_txn_fail(t, rc, "read object");
    kumo_error err = store_txn_put(t, req->kind, req->key, req->key_len, NULL, 0, req->input,
                                   KUMO_STORE_EVENT_ADDED, 0, req->diag);
    if (err == KUMO_ERROR_OK)
        req->revision = t->revision;
    return err;
}

static kumo_error op_update(store_txn *t, store_request *req)
{
    ProtobufCMessage *old = NULL;
    int64_t old_rev = 0;
    kumo_error err = load_for_write(t, req, &old, &old_rev);
    if (err != KUMO_ERROR_OK)
        return err;
    ProtobufCMessage *neu = req->input;
    Kumo__V1alpha1__ObjectMeta *om = kumo_object_meta(old);
    Kumo__V1alpha1__ObjectMeta *nm = kumo_object_meta_ensure(neu);
    if (om == NULL || nm == NULL) {
        kumo_object_destroy(old);
        return kumo_diag_set(req->diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    const char *name = key_name(req->key, req->key_len);
    if (nm->uid != NULL && nm->uid[0] != '\0' && strcmp(nm->uid, om->uid) != 0) {
        kumo_diag_add_cause(req->diag, KUMO_CAUSE_INVALID, "metadata.uid", nm->uid,
                            "field is immutable");
        err = kumo_diag_set(req->diag, KUMO_ERROR_INVALID,
                            STORE_NAME_FMT " is invalid: metadata.uid: Invalid value: \"%s\": "
                                           "field is immutable",
                            req->kind->kind, name, nm->uid);
        kumo_object_destroy(old);
        return err;
    }
    if (om->deletion_timestamp != NULL) {
        for (size_t i = 0; i < nm->n_finalizers; i++) {
            if (has_string(om->finalizers, om->n_finalizers, nm->finalizers[i]))
                continue;
            kumo_diag_add_cause(req->diag, KUMO_CAUSE_FORBIDDEN, "metadata.finalizers",
                                nm->finalizers[i],
                                "no new finalizers can be added if the object is being deleted");
            err = kumo_diag_set(req->diag, KUMO_ERROR_INVALID,
                                STORE_NAME_FMT " is invalid: metadata.finalizers: Forbidden: no "
                                               "new finalizers can be added if the object is "
                                               "being deleted, found new finalizers [\"%s\"]",
                                req->kind->kind, name, nm->finalizers[i]);
            kumo_object_destroy(old);
            return err;
        }
    }
    if (store_string_set(&nm->uid, om->uid) != KUMO_ERROR_OK ||
        store_time_set(&nm->creation_timestamp, om->creation_timestamp) != KUMO_ERROR_OK ||
        store_time_set(&nm->deletion_timestamp, om->deletion_timestamp) != KUMO_ERROR_OK) {
        kumo_object_destroy(old);
        return kumo_diag_set(req->diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    int ok = 1;
    attach(neu, "status", copy_field(old, "status", &ok));
    if (!ok) {
        kumo_object_destroy(old);
        return kumo_diag_set(req->diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    nm->generation = om->generation + (spec_changed(t, old, neu) ? 1 : 0);
    err = write_update(t, req, old, old_rev);
    kumo_object_destroy(old);
    return err;
}

static kumo_error op_update_status(store_txn *t, store_request *req)
{
    ProtobufCMessage *old = NULL;
    int64_t old_rev = 0;
    kumo_error err = load_for_write(t, req, &old, &old_rev);
    if (err != KUMO_ERROR_OK)
        return err;
    ProtobufCMessage *neu = req->input;
    int ok = 1;
    attach(neu, "metadata", copy_field(old, "metadata", &ok));
    attach(neu, "spec", copy_field(old, "spec", &ok));
    if (!ok || kumo_object_meta(neu) == NULL) {
        kumo_object_destroy(old);
        return kumo_diag_set(req->diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    err = write_update(t, req, old, old_rev);
    kumo_object_destroy(old);
    return err;
}

static kumo_error op_delete(store_txn *t, store_request *req)
{
    kumo_object_destroy(req->input); /* left from an earlier attempt of this batch */
    req->input = NULL;
    ProtobufCMessage *old = NULL;
    int64_t old_rev = 0;
    kumo_error err = load_for_write(t, req, &old, &old_rev);
    if (err != KUMO_ERROR_OK)
        return err;
    Kumo__V1alpha1__ObjectMeta *om = kumo_object_meta_ensure(old);
    if (om == NULL) {
        kumo_object_destroy(old);
        return kumo_diag_set(req->diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    if (req->precondition_uid[0] && strcmp(req->precondition_uid, om->uid) != 0) {
        err = kumo_diag_set(req->diag, KUMO_ERROR_CONFLICT,
                            "Operation cannot be fulfilled on " STORE_NAME_FMT
                            ": Precondition failed: UID in precondition: %s, UID in object "
                            "meta: %s",
                            req->kind->kind, om->name, req->precondition_uid, om->uid);
        kumo_object_destroy(old);
        return err;
    }
    req->input = old;
    if (req->propagation == KUMO_STORE_PROPAGATION_ORPHAN && om->uid[0]) {
        err = store_gc_orphan(t, om->uid);
        if (err != KUMO_ERROR_OK)
            return err;
    }
    if (om->n_finalizers > 0) {
        if (om->deletion_timestamp != NULL) {
            req->revision = old_rev;
            return KUMO_ERROR_OK;
        }
        Kumo__V1alpha1__Time now;
        kumo__v1alpha1__time__init(&now);
        kumo_object_time_now(&now);
        if (store_time_set(&om->deletion_timestamp, &now) != KUMO_ERROR_OK)
            return kumo_diag_set(req->diag, KUMO_ERROR_NOMEM, "out of memory");
        err = store_txn_put(t, req->kind, req->key, req->key_len, old, old_rev, old,
                            KUMO_STORE_EVENT_MODIFIED, 0, req->diag);
    } else {
        err = store_txn_remove(t, req->kind, req->key, req->key_len, old_rev, old, 0, req->diag);
        if (err == KUMO_ERROR_OK && req->propagation == KUMO_STORE_PROPAGATION_BACKGROUND &&
            om->uid[0])
            store_gc_queue(t, om->uid);
    }
    if (err == KUMO_ERROR_OK)
        req->revision = t->revision;
    return err;
}

void store_txn_apply(store_txn *t, store_request *req)
{
    kumo_error err;
    switch (req->op) {
    case STORE_OP_CREATE:
        err = op_create(t, req);
        break;
    case STORE_OP_UPDATE:
        err = op_update(t, req);
        break;
    case STORE_OP_UPDATE_STATUS:
        err = op_update_status(t, req);
        break;
    case STORE_OP_DELETE:
        err = op_delete(t, req);
        break;
    case STORE_OP_COMPACT:
        err = KUMO_ERROR_OK;
        break;
    default:
        err = kumo_diag_set(req->diag, KUMO_ERROR_INTERNAL, "unknown store op %d", (int)req->op);
        break;
    }
    req->err = err;
}
