/*
 * watch.c - reading the revision log: the watch cursor.
 *
 * A watcher remembers the last revision it has seen and asks for what came
 * after. Kind and namespace filters are answered from the log record's key
 * without decoding. With a label or field selector, a MODIFIED change is
 * judged against the previous state of the object too (the log entry its
 * `previous` link names), so a watcher sees an object leave its selection as
 * DELETED and enter it as ADDED, as Kubernetes watchers do.
 */
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

const char *kumo_store_event_type_name(kumo_store_event_type type)
{
    switch (type) {
    case KUMO_STORE_EVENT_ADDED:
        return "ADDED";
    case KUMO_STORE_EVENT_MODIFIED:
        return "MODIFIED";
    case KUMO_STORE_EVENT_DELETED:
        return "DELETED";
    }
    return "UNKNOWN";
}

void kumo_store_events_free(kumo_store_event *events, size_t count)
{
    if (events == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        kumo_object_destroy(events[i].object);
    free(events);
}

/* Does the state before log entry e match the selector? */
static int previous_matches(kumo_store *store, MDB_txn *txn, const kumo_object_kind *kind,
                            const store_log_entry *e, const kumo_object_selector *selector)
{
    store_log_entry prev;
    if (e->previous <= 0 || store_log_get(store, txn, e->previous, &prev) != 0 ||
        prev.type == KUMO_STORE_EVENT_DELETED)
        return 0;
    ProtobufCMessage *obj = NULL;
    if (store_payload_decode(store, kind, e->key, e->key_len, prev.flags, prev.payload,
                             prev.payload_len, &obj, NULL) != KUMO_ERROR_OK)
        return 0;
    int match = kumo_object_selector_matches(selector, obj);
    kumo_object_destroy(obj);
    return match;
}

kumo_error kumo_store_watch_next(kumo_store *store, int64_t from_revision,
                                 const kumo_store_watch_filter *filter, size_t max,
                                 kumo_store_event **events_out, size_t *count_out,
                                 int64_t *next_revision_out, kumo_diag *diag)
{
    *events_out = NULL;
    *count_out = 0;
    *next_revision_out = from_revision;
    kumo_store_watch_filter none = {NULL, NULL, NULL};
    if (filter == NULL)
        filter = &none;
    const kumo_object_selector *selector =
        kumo_object_selector_is_empty(filter->selector) ? NULL : filter->selector;
    size_t kind_len = filter->kind ? strlen(filter->kind->kind) : 0;
    size_t ns_len = filter->namespace_ && filter->namespace_[0] ? strlen(filter->namespace_) : 0;
    MDB_txn *txn;
    kumo_error err = store_read_begin(store, &txn, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    int64_t compacted = 0;
    MDB_val mk = {9, "compacted"}, mv;
    if (mdb_get(txn, store->dbi_meta, &mk, &mv) == 0 && mv.mv_size == 8)
        compacted = (int64_t)store_be64_get(mv.mv_data);
    if (from_revision < compacted) {
        store_read_end(store, txn);
        return kumo_diag_set(diag, KUMO_ERROR_GONE,
                             "watch from revision %lld: history before revision %lld has been "
                             "compacted; list again and watch from the list's revision",
                             (long long)from_revision, (long long)compacted + 1);
    }
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, store->dbi_log, &cur);
    kumo_store_event *events = NULL;
    size_t count = 0, cap = 0;
    uint8_t rk[8];
    store_be64_put(rk, (uint64_t)from_revision + 1);
    MDB_val k = {8, rk}, v;
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && count < max) {
        store_log_entry e;
        if (!store_log_parse(&k, &v, &e)) {
            err = kumo_diag_set(diag, KUMO_ERROR_STORAGE, "corrupt log record at revision %llu",
                                (unsigned long long)store_be64_get(k.mv_data));
            break;
        }
        int64_t revision = e.revision;
        const char *kname = "", *kns = "", *kobj;
        store_key_split(e.key, e.key_len, &kname, &kns, &kobj);
        int wanted = 1;
        if (filter->kind && (strlen(kname) != kind_len || strcmp(kname, filter->kind->kind)))
            wanted = 0;
        if (wanted && ns_len && (strlen(kns) != ns_len || strcmp(kns, filter->namespace_)))
            wanted = 0;
        const kumo_object_kind *kind = wanted ? kumo_object_kind_lookup(kname) : NULL;
        if (kind != NULL) {
            ProtobufCMessage *obj = NULL;
            err = store_payload_decode(store, kind, e.key, e.key_len, e.flags, e.payload,
                                       e.payload_len, &obj, diag);
            if (err != KUMO_ERROR_OK)
                break;
            kumo_store_event_type type = (kumo_store_event_type)e.type;
            if (selector) {
                int now = kumo_object_selector_matches(selector, obj);
                int before = type == KUMO_STORE_EVENT_MODIFIED &&
                             previous_matches(store, txn, kind, &e, selector);
                if (type == KUMO_STORE_EVENT_MODIFIED && now != before)
                    type = now ? KUMO_STORE_EVENT_ADDED : KUMO_STORE_EVENT_DELETED;
                else if (!now)
                    type = 0;
            }
            if (type == 0) {
                kumo_object_destroy(obj);
            } else {
                if (count == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    kumo_store_event *grown = realloc(events, ncap * sizeof(*grown));
                    if (grown == NULL) {
                        kumo_object_destroy(obj);
                        err = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
                        break;
                    }
                    events = grown;
                    cap = ncap;
                }
                events[count++] = (kumo_store_event){type, revision, kind, obj};
            }
        }
        *next_revision_out = revision;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (err == KUMO_ERROR_OK && rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_error(diag, rc, "watch");
    if (cur)
        mdb_cursor_close(cur);
    store_read_end(store, txn);
    if (err != KUMO_ERROR_OK) {
        kumo_store_events_free(events, count);
        *next_revision_out = from_revision;
        return err;
    }
    *events_out = events;
    *count_out = count;
    return KUMO_ERROR_OK;
}
