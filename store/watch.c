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

/* One pass over the log for kumo_store_watch_next. */
typedef struct watch_scan {
    kumo_store *store;
    MDB_txn *txn;
    const kumo_store_watch_filter *filter;
    const kumo_object_selector *selector; /* NULL when empty */
    size_t kind_len, ns_len;              /* of the filter's kind and namespace; 0: any */
    kumo_store_event *events;
    size_t count, cap;
} watch_scan;

/* GONE when the history after from_revision has been compacted away. */
static kumo_error history_check(const watch_scan *w, int64_t from_revision, kumo_diag *diag)
{
    int64_t compacted = 0;
    MDB_val mk = {9, "compacted"}, mv;
    if (mdb_get(w->txn, w->store->dbi_meta, &mk, &mv) == 0 && mv.mv_size == 8)
        compacted = (int64_t)store_be64_get(mv.mv_data);
    if (from_revision < compacted)
        return kumo_diag_set(diag, KUMO_ERROR_GONE,
                             "watch from revision %lld: history before revision %lld has been "
                             "compacted; list again and watch from the list's revision",
                             (long long)from_revision, (long long)compacted + 1);
    return KUMO_ERROR_OK;
}

/* The kind of a log entry when the kind and namespace filters want it, else NULL. */
static const kumo_object_kind *entry_kind(const watch_scan *w, const store_log_entry *e)
{
    const char *kname = "", *kns = "", *kobj;
    store_key_split(e->key, e->key_len, &kname, &kns, &kobj);
    const kumo_store_watch_filter *f = w->filter;
    if (f->kind && (strlen(kname) != w->kind_len || strcmp(kname, f->kind->kind)))
        return NULL;
    if (w->ns_len && (strlen(kns) != w->ns_len || strcmp(kns, f->namespace_)))
        return NULL;
    return kumo_object_kind_lookup(kname);
}

/* The event type a selector watcher sees for entry e (0: none): an object that
 * leaves the selection is DELETED for it, one that enters is ADDED. */
static kumo_store_event_type selected_type(const watch_scan *w, const kumo_object_kind *kind,
                                           const store_log_entry *e, const ProtobufCMessage *obj)
{
    kumo_store_event_type type = (kumo_store_event_type)e->type;
    if (w->selector == NULL)
        return type;
    int now = kumo_object_selector_matches(w->selector, obj);
    int before = type == KUMO_STORE_EVENT_MODIFIED &&
                 previous_matches(w->store, w->txn, kind, e, w->selector);
    if (type == KUMO_STORE_EVENT_MODIFIED && now != before)
        return now ? KUMO_STORE_EVENT_ADDED : KUMO_STORE_EVENT_DELETED;
    return now ? type : 0;
}

/* Appends an event (takes the object, freed when out of memory). */
static kumo_error events_append(watch_scan *w, kumo_store_event event, kumo_diag *diag)
{
    if (w->count == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 16;
        kumo_store_event *grown = realloc(w->events, ncap * sizeof(*grown));
        if (grown == NULL) {
            kumo_object_destroy(event.object);
            return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        }
        w->events = grown;
        w->cap = ncap;
    }
    w->events[w->count++] = event;
    return KUMO_ERROR_OK;
}

/* The event of one log record, appended when the filter wants it. */
static kumo_error scan_record(watch_scan *w, MDB_val *k, MDB_val *v, int64_t *revision,
                              kumo_diag *diag)
{
    store_log_entry e;
    if (!store_log_parse(k, v, &e))
        return kumo_diag_set(diag, KUMO_ERROR_STORAGE, "corrupt log record at revision %llu",
                             (unsigned long long)store_be64_get(k->mv_data));
    *revision = e.revision;
    const kumo_object_kind *kind = entry_kind(w, &e);
    if (kind == NULL)
        return KUMO_ERROR_OK;
    ProtobufCMessage *obj = NULL;
    kumo_error err = store_payload_decode(w->store, kind, e.key, e.key_len, e.flags, e.payload,
                                          e.payload_len, &obj, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    kumo_store_event_type type = selected_type(w, kind, &e, obj);
    if (type == 0) {
        kumo_object_destroy(obj);
        return KUMO_ERROR_OK;
    }
    return events_append(w, (kumo_store_event){type, e.revision, kind, obj}, diag);
}

kumo_error kumo_store_watch_next(kumo_store *store, int64_t from_revision,
                                 const kumo_store_watch_filter *filter, size_t max,
                                 kumo_store_event **events_out, size_t *count_out,
                                 int64_t *next_revision_out, kumo_diag *diag)
{
    *events_out = NULL;
    *count_out = 0;
    *next_revision_out = from_revision;
    static const kumo_store_watch_filter none = {NULL, NULL, NULL};
    watch_scan w = {.store = store, .filter = filter ? filter : &none};
    w.selector = kumo_object_selector_is_empty(w.filter->selector) ? NULL : w.filter->selector;
    w.kind_len = w.filter->kind ? strlen(w.filter->kind->kind) : 0;
    w.ns_len = w.filter->namespace_ && w.filter->namespace_[0] ? strlen(w.filter->namespace_) : 0;
    kumo_error err = store_read_begin(store, &w.txn, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    err = history_check(&w, from_revision, diag);
    MDB_cursor *cur = NULL;
    int rc = err == KUMO_ERROR_OK ? mdb_cursor_open(w.txn, store->dbi_log, &cur) : 0;
    uint8_t rk[8];
    store_be64_put(rk, (uint64_t)from_revision + 1);
    MDB_val k = {8, rk}, v;
    if (err == KUMO_ERROR_OK && rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (err == KUMO_ERROR_OK && rc == 0 && w.count < max) {
        err = scan_record(&w, &k, &v, next_revision_out, diag);
        if (err == KUMO_ERROR_OK)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (err == KUMO_ERROR_OK && rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_error(diag, rc, "watch");
    if (cur)
        mdb_cursor_close(cur);
    store_read_end(store, w.txn);
    if (err != KUMO_ERROR_OK) {
        kumo_store_events_free(w.events, w.count);
        *next_revision_out = from_revision;
        return err;
    }
    *events_out = w.events;
    *count_out = w.count;
    return KUMO_ERROR_OK;
}
