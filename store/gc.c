/*
 * gc.c - garbage collection through ownerReferences, on the writer thread.
 *
 * Deleting an object (background propagation) puts its uid in the `gc`
 * database in the same transaction. The writer then collects, in bounded
 * steps inside its transactions, every dependent found in the `owners` index
 * under that uid, like the Kubernetes garbage collector:
 *   - a dependent that still has another owner that exists only loses the
 *     reference to the deleted owner;
 *   - otherwise it is deleted: with finalizers it gets deletionTimestamp,
 *     without it goes at once and its own dependents are queued in turn.
 * Orphan propagation instead removes the reference from every dependent
 * before the owner goes. A dependent written with a reference to an owner
 * that does not exist is queued too, so nothing escapes collection.
 * Because the queue is durable, a crash in the middle of a cascade resumes
 * after restart.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void store_gc_queue(store_txn *t, const char *uid)
{
    MDB_val k = {strlen(uid), (void *)uid}, v = {0, ""};
    int rc = mdb_put(t->txn, t->store->dbi_gc, &k, &v, 0);
    if (rc != 0)
        store_txn_fail(t, rc, "gc queue");
    t->gc_queued = 1;
}

typedef struct key_list {
    char (*keys)[STORE_KEY_MAX];
    size_t *lens;
    size_t count;
} key_list;

static void key_list_fini(key_list *l)
{
    free(l->keys);
    free(l->lens);
}

/* The dependents of uid in the owners index, at most max. */
static int dependents(store_txn *t, const char *uid, size_t max, key_list *out)
{
    memset(out, 0, sizeof(*out));
    size_t u = strlen(uid);
    uint8_t prefix[STORE_UID_MAX + 1];
    if (u + 1 > sizeof(prefix))
        return 0;
    memcpy(prefix, uid, u);
    prefix[u] = '\0';
    out->keys = malloc(max * sizeof(*out->keys));
    out->lens = malloc(max * sizeof(*out->lens));
    if (out->keys == NULL || out->lens == NULL)
        return store_txn_fail(t, ENOMEM, "gc"), -1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->store->dbi_owners, &cur);
    if (rc != 0)
        return store_txn_fail(t, rc, "owners cursor"), -1;
    MDB_val k = {u + 1, prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && out->count < max && k.mv_size > u + 1 &&
           memcmp(k.mv_data, prefix, u + 1) == 0) {
        size_t len = k.mv_size - u - 1;
        if (len <= STORE_KEY_MAX) {
            memcpy(out->keys[out->count], (const char *)k.mv_data + u + 1, len);
            out->lens[out->count++] = len;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return store_txn_fail(t, rc, "owners index"), -1;
    return 0;
}

static void owners_entry_delete(store_txn *t, const char *uid, const char *key, size_t key_len)
{
    uint8_t buf[STORE_UID_MAX + STORE_KEY_MAX + 2];
    size_t u = strlen(uid);
    if (u + 1 + key_len > sizeof(buf))
        return;
    memcpy(buf, uid, u);
    buf[u] = '\0';
    memcpy(buf + u + 1, key, key_len);
    MDB_val k = {u + 1 + key_len, buf};
    int rc = mdb_del(t->txn, t->store->dbi_owners, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        store_txn_fail(t, rc, "owners index");
}

/* Removes every reference to uid from meta; returns how many went. */
static size_t refs_remove(Kumo__V1alpha1__ObjectMeta *meta, const char *uid)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < meta->n_owner_references; i++) {
        Kumo__V1alpha1__OwnerReference *ref = meta->owner_references[i];
        if (ref->uid && strcmp(ref->uid, uid) == 0) {
            protobuf_c_message_free_unpacked(&ref->base, NULL);
            removed++;
        } else {
            meta->owner_references[kept++] = ref;
        }
    }
    meta->n_owner_references = kept;
    return removed;
}

/* Loads one dependent; NULL when it is gone (the index entry is dropped). */
static ProtobufCMessage *dependent_load(store_txn *t, const char *uid, const char *key,
                                        size_t key_len, const kumo_object_kind **kind, int64_t *rev)
{
    const char *kind_name, *ns, *name;
    *kind = store_key_split(key, key_len, &kind_name, &ns, &name)
                ? kumo_object_kind_lookup(kind_name)
                : NULL;
    ProtobufCMessage *obj = NULL;
    if (*kind == NULL || store_txn_load(t, *kind, key, key_len, &obj, rev, NULL) != KUMO_ERROR_OK) {
        if (!t->rc)
            owners_entry_delete(t, uid, key, key_len);
        return NULL;
    }
    return obj;
}

kumo_error store_gc_orphan(store_txn *t, const char *uid)
{
    for (;;) {
        key_list deps;
        if (dependents(t, uid, 256, &deps) != 0) {
            key_list_fini(&deps);
            return KUMO_ERROR_STORAGE;
        }
        size_t count = deps.count;
        for (size_t i = 0; i < deps.count && !t->rc; i++) {
            const kumo_object_kind *kind;
            int64_t rev;
            ProtobufCMessage *dep = dependent_load(t, uid, deps.keys[i], deps.lens[i], &kind, &rev);
            if (dep == NULL)
                continue;
            ProtobufCMessage *old = store_clone(dep);
            Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(dep);
            if (old == NULL || refs_remove(meta, uid) == 0) {
                owners_entry_delete(t, uid, deps.keys[i], deps.lens[i]);
                kumo_object_destroy(dep);
            } else {
                /* owned: the event frees it */
                store_txn_put(t, kind, deps.keys[i], deps.lens[i], old, rev, dep,
                              KUMO_STORE_EVENT_MODIFIED, 1, NULL);
            }
            kumo_object_destroy(old);
        }
        key_list_fini(&deps);
        if (t->rc)
            return KUMO_ERROR_STORAGE;
        if (count < 256)
            return KUMO_ERROR_OK;
    }
}

/* Collects one dependent of the deleted owner uid. */
static void collect(store_txn *t, const char *uid, const char *key, size_t key_len)
{
    const kumo_object_kind *kind;
    int64_t rev;
    ProtobufCMessage *dep = dependent_load(t, uid, key, key_len, &kind, &rev);
    if (dep == NULL)
        return;
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(dep);
    int other_owner = 0;
    for (size_t i = 0; i < meta->n_owner_references && !other_owner; i++) {
        const Kumo__V1alpha1__OwnerReference *ref = meta->owner_references[i];
        if (ref->uid && strcmp(ref->uid, uid) != 0)
            other_owner =
                store_txn_owner_exists(t, ref->kind, meta->namespace_, ref->name, ref->uid);
    }
    owners_entry_delete(t, uid, key, key_len);
    if (t->rc) {
        kumo_object_destroy(dep);
        return;
    }
    if (other_owner) {
        ProtobufCMessage *old = store_clone(dep);
        if (old != NULL && refs_remove(meta, uid) > 0) {
            store_txn_put(t, kind, key, key_len, old, rev, dep, KUMO_STORE_EVENT_MODIFIED, 1, NULL);
            dep = NULL;
        }
        kumo_object_destroy(old);
        kumo_object_destroy(dep);
        return;
    }
    if (meta->n_finalizers > 0) {
        if (meta->deletion_timestamp != NULL) {
            kumo_object_destroy(dep);
            return;
        }
        Kumo__V1alpha1__Time now;
        kumo__v1alpha1__time__init(&now);
        kumo_object_time_now(&now);
        if (store_time_set(&meta->deletion_timestamp, &now) != KUMO_ERROR_OK) {
            kumo_object_destroy(dep);
            store_txn_fail(t, ENOMEM, "gc");
            return;
        }
        store_txn_put(t, kind, key, key_len, dep, rev, dep, KUMO_STORE_EVENT_MODIFIED, 1, NULL);
        return;
    }
    char dep_uid[STORE_UID_MAX];
    snprintf(dep_uid, sizeof(dep_uid), "%s", meta->uid ? meta->uid : "");
    if (store_txn_remove(t, kind, key, key_len, rev, dep, 1, NULL) == KUMO_ERROR_OK && dep_uid[0])
        store_gc_queue(t, dep_uid);
}

int store_gc_step(store_txn *t, size_t budget)
{
    size_t done = 0;
    while (done < budget && !t->rc) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(t->txn, t->store->dbi_gc, &cur);
        if (rc != 0) {
            store_txn_fail(t, rc, "gc cursor");
            return 0;
        }
        MDB_val k, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        char uid[STORE_UID_MAX];
        if (rc == 0)
            snprintf(uid, sizeof(uid), "%.*s", (int)k.mv_size, (const char *)k.mv_data);
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc != 0) {
            store_txn_fail(t, rc, "gc queue");
            return 0;
        }
        key_list deps;
        if (dependents(t, uid, budget - done, &deps) != 0) {
            key_list_fini(&deps);
            return 0;
        }
        if (deps.count == 0) {
            MDB_val dk = {strlen(uid), uid};
            rc = mdb_del(t->txn, t->store->dbi_gc, &dk, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND)
                store_txn_fail(t, rc, "gc queue");
        }
        for (size_t i = 0; i < deps.count && !t->rc; i++)
            collect(t, uid, deps.keys[i], deps.lens[i]);
        done += deps.count;
        key_list_fini(&deps);
    }
    return !t->rc && done >= budget;
}
