/*
 * compact.c - bounding the revision log.
 *
 * A log entry may go once it is older than the last keep_revisions revisions
 * AND older than keep_seconds. The writer walks the log in revision order
 * from compacted+1, in small bounded steps inside its transactions, and
 * advances `compacted` past every entry it has dealt with.
 *
 * What is dropped for an entry r of key k (like etcd's compaction, which
 * keeps the newest version of each key):
 *   - every older entry of k (found through the `previous` links): they
 *     describe states before r;
 *   - r itself when it is a deletion (with k's tombstone, if it is r's), or
 *     when it is k's current state (then held by `objects`; if k changes
 *     later the writer puts the entry back, see resurrect() in txn.c).
 * Otherwise r stays as the state of k between r and k's next change, which
 * continue tokens at revisions >= compacted may still need. So the log holds
 * the retention window plus at most one older state for each key changed
 * within the window: disk stays bounded under endless churn.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void log_delete(store_txn *t, int64_t revision)
{
    uint8_t rk[8];
    store_be64_put(rk, (uint64_t)revision);
    MDB_val k = {8, rk};
    int rc = mdb_del(t->txn, t->store->dbi_log, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        store_txn_fail(t, rc, "compact log");
}

/* The revision stored for key in db (objects: the record's, deleted: the tombstone); 0. */
static int64_t revision_of(store_txn *t, MDB_dbi dbi, int object, const uint8_t *key,
                           size_t key_len)
{
    MDB_val k = {key_len, (void *)key}, v;
    int rc = mdb_get(t->txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0 || v.mv_size < (object ? STORE_OBJECT_HEADER : 8u)) {
        store_txn_fail(t, rc ? rc : MDB_CORRUPTED, "compact");
        return 0;
    }
    return (int64_t)store_be64_get((const uint8_t *)v.mv_data + (object ? 1 : 0));
}

/* Deals with log entry `revision` of `key`. */
static void compact_entry(store_txn *t, const uint8_t *key, size_t key_len, int64_t revision,
                          int type, int64_t previous)
{
    /* older states of the key: not needed by anybody at or after `revision` */
    for (int64_t p = previous; p > 0 && !t->rc;) {
        store_log_entry e;
        int rc = store_log_get(t->store, t->txn, p, &e);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc != 0) {
            store_txn_fail(t, rc, "compact log");
            return;
        }
        int64_t next = e.previous;
        log_delete(t, p);
        p = next;
    }
    if (t->rc)
        return;
    if (type == KUMO_STORE_EVENT_DELETED) {
        log_delete(t, revision);
        if (revision_of(t, t->store->dbi_deleted, 0, key, key_len) == revision) {
            MDB_val k = {key_len, (void *)key};
            int rc = mdb_del(t->txn, t->store->dbi_deleted, &k, NULL);
            if (rc != 0)
                store_txn_fail(t, rc, "compact tombstone");
        }
    } else if (revision_of(t, t->store->dbi_objects, 1, key, key_len) == revision) {
        log_delete(t, revision); /* the current record holds this state */
    }
}

int store_compact_step(store_txn *t, size_t budget)
{
    const kumo_store_options *o = &t->store->options;
    if ((uint64_t)t->revision <= o->keep_revisions)
        return 0;
    uint64_t max_revision = (uint64_t)t->revision - o->keep_revisions;
    uint64_t keep_ms = o->keep_seconds * 1000;
    if (max_revision <= (uint64_t)t->compacted)
        return 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->store->dbi_log, &cur);
    if (rc != 0) {
        store_txn_fail(t, rc, "log cursor");
        return 0;
    }
    size_t done = 0;
    int more = 0;
    uint8_t key[STORE_KEY_MAX];
    while (!t->rc) {
        uint8_t rk[8];
        store_be64_put(rk, (uint64_t)t->compacted + 1);
        MDB_val k = {8, rk}, v;
        /* re-seek each time: deleting entries moves what a cursor points at */
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc != 0) {
            store_txn_fail(t, rc, "compact log");
            break;
        }
        store_log_entry e;
        if (!store_log_parse(&k, &v, &e) || e.key_len > sizeof(key)) {
            store_txn_fail(t, MDB_CORRUPTED, "compact log");
            break;
        }
        if ((uint64_t)e.revision > max_revision || e.time_ms + keep_ms > t->now_ms)
            break;
        if (done == budget) {
            more = 1;
            break;
        }
        /* copy what is needed: deleting moves LMDB memory */
        size_t key_len = e.key_len;
        memcpy(key, e.key, key_len);
        compact_entry(t, key, key_len, e.revision, e.type, e.previous);
        t->compacted = e.revision;
        done++;
    }
    mdb_cursor_close(cur);
    return more && !t->rc;
}
