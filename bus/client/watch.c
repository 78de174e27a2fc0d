/*
 * watch.c - list-then-watch that never misses a change and never repeats
 * one (docs/api.md §5).
 *
 * Each watch owns two synchronous subscriptions and one thread:
 *   events   <prefix>.events.<resource>.<namespace>.>  (or .<resource>.> for
 *            all namespaces): live events and bookmarks, buffered by NATS
 *            while the thread is busy;
 *   replies  <inbox>.*: replies to the watch's own list and catch-up
 *            requests (its own inbox, so that waiting stays interruptible).
 *
 * State (thread-private once the thread runs):
 *   cursor          every change with revision <= cursor has been examined
 *                   and, when it concerns the caller, delivered;
 *   last_delivered  revision of the last callback;
 *   known           "namespace/name" -> (revision, uid) of what the caller
 *                   holds: turns a relist into differences, and live events
 *                   into ADDED/DELETED when an object starts or stops
 *                   matching the selector.
 *
 * Rules:
 *   - a live event with revision <= cursor is a duplicate and dropped;
 *   - a live event is taken only when its Kumo-Prev-Revision (all
 *     namespaces: Kumo-Prev-Resource-Revision) is known and <= cursor, i.e.
 *     nothing between cursor and it is missing; otherwise the watch catches
 *     up from cursor with the watch verb (paged), which is authoritative and
 *     lets cursor advance to the revision the read reflects;
 *   - it also catches up on a bookmark ahead of cursor, after a NATS
 *     reconnection, after a slow-consumer drop, and after WATCH_IDLE_MS
 *     without any message (a missed tail with no bookmark to reveal it);
 *   - Gone (410) from a catch-up: relist and deliver the difference against
 *     `known`, sorted by revision; deletions found this way come last and
 *     carry the list's revision (several may share it) and only metadata.
 *
 * Callbacks run on the watch's thread only, one at a time.
 */
#include "bus/client/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/event.pb-c.h"
#include "apis/log/log.h"

/* Page size of the watch's list and catch-up requests. */
#define WATCH_PAGE 500
/* Catch up after this long without any event or bookmark. */
#define WATCH_IDLE_MS 5000
/* Pending messages the events subscription may buffer before NATS drops (then we catch up). */
#define WATCH_PENDING_MSGS  (256 * 1024)
#define WATCH_PENDING_BYTES (256 * 1024 * 1024)

typedef struct snapshot {
    ProtobufCMessage **items;
    size_t count, cap;
    int64_t revision;
} snapshot;

struct kumo_client_watch {
    kumo_client *client;
    kumo_client_watch *next; /* the client's list, under client->lock */
    const kumo_object_kind *kind;
    char ns[64]; /* "" for all namespaces */
    int all;
    char *label_selector;
    char *field_selector;
    kumo_object_selector *selector;
    kumo_client_watch_fn fn;
    void *context;

    natsSubscription *events;
    natsSubscription *replies;
    char inbox[128];
    char bookmark_subject[512];
    uint64_t sequence;

    pthread_t thread;
    int thread_started;
    atomic_int stopping;
    atomic_int synced;
    _Atomic int64_t published_cursor;

    int64_t cursor;
    int64_t last_delivered;
    client_keymap known;
    unsigned reconnects_seen;
    snapshot initial; /* from_revision 0: delivered first by the thread */
    int has_initial;
};

static int stopping(const kumo_client_watch *w)
{
    return atomic_load(&((kumo_client_watch *)w)->stopping);
}

static void set_cursor(kumo_client_watch *w, int64_t revision)
{
    if (revision > w->cursor) {
        w->cursor = revision;
        atomic_store(&w->published_cursor, revision);
    }
}

static void pause_ms(kumo_client_watch *w, int ms)
{
    for (int t = 0; t < ms && !stopping(w); t += 50)
        client_sleep_ms(50);
}

static void snapshot_free(snapshot *s)
{
    for (size_t i = 0; i < s->count; i++)
        kumo_object_destroy(s->items[i]);
    free(s->items);
    memset(s, 0, sizeof(*s));
}

/* ---- requests on the watch's own inbox ------------------------------------------------ */

/*
 * One request, waiting for its reply in slices so that stop is prompt.
 * Errors: CANCELLED when the watch is stopping; UNAVAILABLE when NATS
 * reconnected meanwhile (the request may be lost) or nobody serves; TIMEOUT;
 * the server's error.
 */
static kumo_error watch_call(kumo_client_watch *w, kumo_protocol_verb verb,
                             const client_params *params,
                             const ProtobufCMessageDescriptor *descriptor, ProtobufCMessage **out,
                             kumo_diag *diag)
{
    kumo_client *c = w->client;
    char reply_subject[192];
    snprintf(reply_subject, sizeof(reply_subject), "%s.%" PRIu64, w->inbox, ++w->sequence);
    unsigned reconnects = atomic_load(&c->reconnects);
    natsMsg *request = NULL;
    kumo_error e =
        client_request_new(c, verb, w->kind, w->ns, reply_subject, NULL, 0, NULL, &request, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    natsStatus s = client_params_apply(request, params);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(c->conn, request);
    natsMsg_Destroy(request);
    if (s != NATS_OK)
        return client_nats_error(c, s, kumo_protocol_verb_token(verb), diag);
    int64_t deadline = client_now_ms() + c->timeout_ms;
    for (;;) {
        if (stopping(w))
            return kumo_diag_set(diag, KUMO_ERROR_CANCELLED, "watch stopped");
        if (atomic_load(&c->reconnects) != reconnects)
            return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE,
                                 "reconnected to NATS while waiting for a reply; asking again");
        int64_t left = deadline - client_now_ms();
        if (left <= 0)
            return client_nats_error(c, NATS_TIMEOUT, kumo_protocol_verb_token(verb), diag);
        natsMsg *reply = NULL;
        s = natsSubscription_NextMsg(&reply, w->replies, left < 100 ? left : 100);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK)
            return client_nats_error(c, s, kumo_protocol_verb_token(verb), diag);
        if (strcmp(natsMsg_GetSubject(reply), reply_subject) != 0) {
            natsMsg_Destroy(reply); /* a late reply to an earlier request */
            continue;
        }
        e = client_reply_decode(c, reply, descriptor, out, NULL, diag);
        natsMsg_Destroy(reply);
        return e;
    }
}

/* Lists every page (all at the first page's revision) into *out. */
static kumo_error watch_list(kumo_client_watch *w, snapshot *out, kumo_diag *diag)
{
    memset(out, 0, sizeof(*out));
    char *token = NULL;
    kumo_error e = KUMO_ERROR_OK;
    for (int page = 0;; page++) {
        client_params p = {.label_selector = w->label_selector,
                           .field_selector = w->field_selector,
                           .limit = WATCH_PAGE,
                           .continue_token = token};
        ProtobufCMessage *list = NULL;
        e = watch_call(w, w->all ? KUMO_PROTOCOL_VERB_LIST_ALL : KUMO_PROTOCOL_VERB_LIST, &p,
                       w->kind->list_descriptor, &list, diag);
        free(token);
        token = NULL;
        if (e != KUMO_ERROR_OK)
            break;
        size_t count = 0;
        ProtobufCMessage **items = client_list_items(list, &count);
        if (out->count + count > out->cap) {
            size_t cap = out->cap ? out->cap : 64;
            while (cap < out->count + count)
                cap *= 2;
            ProtobufCMessage **grown = realloc(out->items, cap * sizeof(*grown));
            if (grown == NULL) {
                kumo_object_destroy(list);
                e = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
                break;
            }
            out->items = grown;
            out->cap = cap;
        }
        for (size_t i = 0; i < count; i++)
            out->items[out->count++] = items[i];
        client_list_forget_items(list);
        const Kumo__V1alpha1__ListMeta *meta = client_list_meta(list);
        if (page == 0)
            out->revision = meta ? client_parse_revision(meta->resource_version) : -1;
        if (meta && meta->continue_ && meta->continue_[0])
            token = strdup(meta->continue_);
        kumo_object_destroy(list);
        if (token == NULL)
            break;
    }
    if (e != KUMO_ERROR_OK)
        snapshot_free(out);
    else if (out->revision < 0)
        out->revision = 0;
    return e;
}

/* ---- delivery ---------------------------------------------------------------------- */

static void deliver(kumo_client_watch *w, kumo_client_event_type type, int64_t revision,
                    const ProtobufCMessage *object)
{
    if (stopping(w))
        return;
    w->fn(w->context, type, revision, object);
    if (revision > w->last_delivered)
        w->last_delivered = revision;
}

static int parse_type(const char *text, kumo_client_event_type *out)
{
    static const struct {
        const char *name;
        kumo_client_event_type type;
    } types[] = {{"ADDED", KUMO_CLIENT_EVENT_ADDED},
                 {"MODIFIED", KUMO_CLIENT_EVENT_MODIFIED},
                 {"DELETED", KUMO_CLIENT_EVENT_DELETED}};
    for (size_t i = 0; text && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(text, types[i].name) == 0) {
            *out = types[i].type;
            return 0;
        }
    return -1;
}

/*
 * One change (revision > cursor). Catch-up events come filtered and typed by
 * the server; live events are filtered here with the same semantics.
 */
static void watch_event(kumo_client_watch *w, kumo_client_event_type type, int64_t revision,
                        const ProtobufCMessage *object, int live)
{
    char key[400];
    client_keymap_key(kumo_object_namespace(object), kumo_object_name(object), key, sizeof(key));
    const client_keymap_entry *entry = client_keymap_get(&w->known, key);
    int wanted = 1;
    if (live && w->selector != NULL) {
        int matches = kumo_object_selector_matches(w->selector, object);
        if (type == KUMO_CLIENT_EVENT_DELETED)
            wanted = entry != NULL || matches;
        else if (matches)
            type = entry == NULL ? KUMO_CLIENT_EVENT_ADDED : type;
        else if (entry != NULL)
            type = KUMO_CLIENT_EVENT_DELETED; /* it stopped matching */
        else
            wanted = 0;
    }
    if (!wanted)
        return;
    if (type == KUMO_CLIENT_EVENT_DELETED) {
        client_keymap_remove(&w->known, key);
    } else {
        const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
        if (client_keymap_put(&w->known, key, revision, meta ? meta->uid : NULL) != 0)
            KUMO_LOG_WARN("client", "out of memory tracking a watched object", "key=%s", key);
    }
    deliver(w, type, revision, object);
}

/* The object of an Event (the member of its oneof), or NULL. */
static const ProtobufCMessage *event_object(const Kumo__V1alpha1__Event *event)
{
    if (event->object_case == KUMO__V1ALPHA1__EVENT__OBJECT__NOT_SET ||
        event->object_case == KUMO__V1ALPHA1__EVENT__OBJECT_ERROR)
        return NULL;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(event->base.descriptor, event->object_case);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    return *(const ProtobufCMessage *const *)((const char *)event + f->offset);
}

typedef struct ranked {
    ProtobufCMessage *object;
    int64_t revision;
} ranked;

static int by_revision(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return x->revision < y->revision ? -1 : x->revision > y->revision;
}

/* Delivers DELETED for an object the caller holds but the list no longer has. */
static void deliver_vanished(kumo_client_watch *w, const client_keymap_entry *gone,
                             int64_t revision)
{
    ProtobufCMessage *stub = kumo_object_new(w->kind);
    Kumo__V1alpha1__ObjectMeta *meta = stub ? kumo_object_meta(stub) : NULL;
    const char *slash = strchr(gone->key, '/');
    char ns[64], rv[32];
    snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - gone->key) : 0, gone->key);
    snprintf(rv, sizeof(rv), "%" PRId64, revision);
    if (meta == NULL || kumo_codec_string_set(&meta->name, slash ? slash + 1 : gone->key) ||
        kumo_codec_string_set(&meta->namespace_, ns) ||
        kumo_codec_string_set(&meta->uid, gone->uid) ||
        kumo_codec_string_set(&meta->resource_version, rv)) {
        KUMO_LOG_WARN("client", "out of memory reporting a deletion", "key=%s", gone->key);
    } else {
        deliver(w, KUMO_CLIENT_EVENT_DELETED, revision, stub);
    }
    kumo_object_destroy(stub);
}

typedef struct vanished {
    kumo_client_watch *watch;
    const client_keymap *fresh;
    int64_t revision;
} vanished;

/* DELETED for a known object that the new list does not have. */
static void deliver_if_vanished(void *context, const client_keymap_entry *entry)
{
    const vanished *v = context;
    if (client_keymap_get(v->fresh, entry->key) == NULL)
        deliver_vanished(v->watch, entry, v->revision);
}

/*
 * Makes `known` the list's content. deliver: report the differences (the
 * first list and every relist); else only seed `known` with the objects
 * unchanged since `seed_revision` (a watch started from a revision).
 */
static void apply_snapshot(kumo_client_watch *w, const snapshot *s, int report,
                           int64_t seed_revision)
{
    ranked *order = s->count ? malloc(s->count * sizeof(*order)) : NULL;
    if (s->count && order == NULL) {
        KUMO_LOG_WARN("client", "out of memory applying a list", "kind=%s", w->kind->kind);
        return;
    }
    for (size_t i = 0; i < s->count; i++) {
        const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(s->items[i]);
        order[i].object = s->items[i];
        order[i].revision = client_parse_revision(meta ? meta->resource_version : NULL);
    }
    if (s->count)
        qsort(order, s->count, sizeof(*order), by_revision);
    client_keymap fresh;
    client_keymap_init(&fresh);
    for (size_t i = 0; i < s->count; i++) {
        const ProtobufCMessage *object = order[i].object;
        const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
        const char *uid = meta ? meta->uid : "";
        char key[400];
        client_keymap_key(kumo_object_namespace(object), kumo_object_name(object), key,
                          sizeof(key));
        if (!report && order[i].revision > seed_revision)
            continue;
        if (client_keymap_put(&fresh, key, order[i].revision, uid) != 0)
            KUMO_LOG_WARN("client", "out of memory tracking a watched object", "key=%s", key);
        if (!report)
            continue;
        const client_keymap_entry *had = client_keymap_get(&w->known, key);
        if (had == NULL)
            deliver(w, KUMO_CLIENT_EVENT_ADDED, order[i].revision, object);
        else if (had->revision != order[i].revision || strcmp(had->uid, uid ? uid : "") != 0)
            deliver(w, KUMO_CLIENT_EVENT_MODIFIED, order[i].revision, object);
    }
    if (report) {
        vanished v = {w, &fresh, s->revision};
        client_keymap_each(&w->known, deliver_if_vanished, &v);
    }
    client_keymap_fini(&w->known);
    w->known = fresh;
    free(order);
    set_cursor(w, report ? s->revision : seed_revision);
}

/* ---- catching up --------------------------------------------------------------------- */

/* Asks the watch verb for every change after cursor, page by page, and delivers them. */
static kumo_error catch_up(kumo_client_watch *w, kumo_diag *diag)
{
    int64_t from = w->cursor;
    size_t delivered = 0;
    for (;;) {
        char rv[32];
        snprintf(rv, sizeof(rv), "%" PRId64, from);
        client_params p = {.resource_version = rv,
                           .label_selector = w->label_selector,
                           .field_selector = w->field_selector,
                           .limit = WATCH_PAGE};
        ProtobufCMessage *reply = NULL;
        kumo_error e =
            watch_call(w, w->all ? KUMO_PROTOCOL_VERB_WATCH_ALL : KUMO_PROTOCOL_VERB_WATCH, &p,
                       &kumo__v1alpha1__event_list__descriptor, &reply, diag);
        if (e != KUMO_ERROR_OK)
            return e;
        const Kumo__V1alpha1__EventList *list = (const Kumo__V1alpha1__EventList *)reply;
        for (size_t i = 0; i < list->n_items && e == KUMO_ERROR_OK; i++) {
            const Kumo__V1alpha1__Event *event = list->items[i];
            kumo_client_event_type type;
            if (stopping(w)) {
                e = kumo_diag_set(diag, KUMO_ERROR_CANCELLED, "watch stopped");
            } else if (event->object_case == KUMO__V1ALPHA1__EVENT__OBJECT_ERROR) {
                e = kumo_protocol_status_to_diag(event->error, diag);
            } else if (event->revision > w->cursor && parse_type(event->type, &type) == 0) {
                const ProtobufCMessage *object = event_object(event);
                if (object != NULL && object->descriptor == w->kind->descriptor) {
                    watch_event(w, type, event->revision, object, 0);
                    delivered++;
                }
                set_cursor(w, event->revision);
            }
        }
        /* resourceVersion: every change up to it is in this reply or was before `from`;
         * continue (the same revision) says more remain. */
        int64_t read_revision =
            list->metadata ? client_parse_revision(list->metadata->resource_version) : -1;
        int more = list->metadata && list->metadata->continue_ && list->metadata->continue_[0];
        int64_t next = more ? client_parse_revision(list->metadata->continue_) : -1;
        if (more && next <= from && list->n_items > 0)
            next = list->items[list->n_items - 1]->revision;
        kumo_object_destroy(reply);
        if (e != KUMO_ERROR_OK)
            return e;
        set_cursor(w, read_revision);
        if (!more || next <= from) {
            if (delivered > 0)
                KUMO_LOG_DEBUG("client", "watch caught up",
                               "kind=%s ns=%s events=%zu revision=%" PRId64, w->kind->kind,
                               w->all ? "*" : w->ns, delivered, w->cursor);
            return KUMO_ERROR_OK;
        }
        set_cursor(w, next);
        from = w->cursor;
    }
}

/* Gone: list again and deliver the difference. */
static kumo_error relist(kumo_client_watch *w, kumo_diag *diag)
{
    snapshot s;
    kumo_error e = watch_list(w, &s, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    KUMO_LOG_INFO("client", "watch fell behind the retained history; relisted",
                  "kind=%s ns=%s "
                  "from=%" PRId64 " list_revision=%" PRId64 " objects=%zu",
                  w->kind->kind, w->all ? "*" : w->ns, w->cursor, s.revision, s.count);
    apply_snapshot(w, &s, 1, 0);
    snapshot_free(&s);
    return KUMO_ERROR_OK;
}

/* ---- live events ----------------------------------------------------------------------- */

static int is_bookmark(const char *subject)
{
    static const char suffix[] = "." KUMO_PROTOCOL_BOOKMARK_TOKEN;
    size_t len = strlen(subject), slen = sizeof(suffix) - 1;
    return len > slen && strcmp(subject + len - slen, suffix) == 0;
}

/* Takes one live message. Returns 1 when the watch must catch up. */
static int take_live(kumo_client_watch *w, natsMsg *msg)
{
    const char *subject = natsMsg_GetSubject(msg);
    int64_t revision = client_parse_revision(client_header(msg, KUMO_PROTOCOL_HEADER_REVISION));
    if (is_bookmark(subject))
        return strcmp(subject, w->bookmark_subject) == 0 && revision > w->cursor;
    if (revision < 0)
        return 1;
    if (revision <= w->cursor)
        return 0; /* already seen (delivered by a catch-up, or a duplicate) */
    int64_t prev = client_parse_revision(client_header(
        msg, w->all ? KUMO_PROTOCOL_HEADER_PREV_RESOURCE : KUMO_PROTOCOL_HEADER_PREV_REVISION));
    if (prev <= 0 || prev > w->cursor)
        return 1; /* something between cursor and this event is missing (or unknown) */
    kumo_codec_format format = KUMO_CODEC_FORMAT_JSON;
    const char *content_type = client_header(msg, KUMO_PROTOCOL_HEADER_CONTENT_TYPE);
    if (content_type && kumo_protocol_format_of(content_type, &format, NULL) != KUMO_ERROR_OK)
        format = KUMO_CODEC_FORMAT_JSON;
    kumo_codec_decode_options lenient = {1, 0, 0};
    ProtobufCMessage *decoded = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    kumo_error e =
        format == KUMO_CODEC_FORMAT_PROTOBUF
            ? kumo_codec_protobuf_decode(&kumo__v1alpha1__event__descriptor, (const uint8_t *)data,
                                         len, &lenient, &decoded, &diag)
            : kumo_codec_json_decode(&kumo__v1alpha1__event__descriptor, data, len, &lenient,
                                     &decoded, &diag);
    int need = 0;
    if (e != KUMO_ERROR_OK) {
        KUMO_LOG_WARN("client", "undecodable event; catching up instead",
                      "subject=%s revision=%" PRId64 " error=\"%s\"", subject, revision,
                      diag.message);
        need = 1;
    } else {
        const Kumo__V1alpha1__Event *event = (const Kumo__V1alpha1__Event *)decoded;
        const ProtobufCMessage *object = event_object(event);
        kumo_client_event_type type;
        if (object == NULL || object->descriptor != w->kind->descriptor ||
            parse_type(event->type, &type) != 0) {
            need = 1; /* e.g. an event the server sent without its object */
        } else {
            watch_event(w, type, revision, object, 1);
            set_cursor(w, revision);
        }
    }
    kumo_codec_message_free(decoded);
    kumo_diag_fini(&diag);
    return need;
}

/* ---- the thread ------------------------------------------------------------------------- */

static void *watch_main(void *arg)
{
    kumo_client_watch *w = arg;
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (w->has_initial) {
        apply_snapshot(w, &w->initial, 1, 0);
        snapshot_free(&w->initial);
        w->has_initial = 0;
    }
    atomic_store(&w->synced, 1);
    int need = 1, backoff = 100;
    int64_t last_activity = client_now_ms();
    while (!stopping(w)) {
        unsigned reconnects = atomic_load(&w->client->reconnects);
        if (reconnects != w->reconnects_seen) {
            w->reconnects_seen = reconnects;
            need = 1;
        }
        if (need) {
            kumo_diag_fini(&diag);
            kumo_error e = catch_up(w, &diag);
            if (e == KUMO_ERROR_GONE) {
                kumo_diag_fini(&diag);
                e = relist(w, &diag);
                if (e == KUMO_ERROR_OK)
                    continue; /* and catch up from the list's revision */
            }
            if (e == KUMO_ERROR_CANCELLED)
                break;
            if (e != KUMO_ERROR_OK) {
                KUMO_LOG_DEBUG("client", "watch catch-up failed; retrying",
                               "kind=%s error=%s backoff_ms=%d msg=\"%s\"", w->kind->kind,
                               kumo_error_name(e), backoff, diag.message);
                pause_ms(w, backoff);
                backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
                continue;
            }
            need = 0;
            backoff = 100;
            last_activity = client_now_ms();
        }
        natsMsg *msg = NULL;
        natsStatus s = natsSubscription_NextMsg(&msg, w->events, 100);
        if (s == NATS_TIMEOUT) {
            if (client_now_ms() - last_activity >= WATCH_IDLE_MS)
                need = 1;
            continue;
        }
        if (s != NATS_OK) {
            /* NATS_SLOW_CONSUMER (messages were dropped) or the connection closing. */
            need = 1;
            if (s != NATS_SLOW_CONSUMER)
                pause_ms(w, 100);
            continue;
        }
        last_activity = client_now_ms();
        need = take_live(w, msg);
        natsMsg_Destroy(msg);
    }
    kumo_diag_fini(&diag);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

static void watch_free(kumo_client_watch *w)
{
    if (w->thread_started) {
        atomic_store(&w->stopping, 1);
        pthread_join(w->thread, NULL);
    }
    natsSubscription_Destroy(w->events);
    natsSubscription_Destroy(w->replies);
    kumo_object_selector_destroy(w->selector);
    client_keymap_fini(&w->known);
    snapshot_free(&w->initial);
    free(w->label_selector);
    free(w->field_selector);
    free(w);
}

static char *dup_or_null(const char *text)
{
    return text && text[0] ? strdup(text) : NULL;
}

/* In *out, a watch of kind in ns ("" or NULL: all namespaces) with its selectors parsed;
 * not yet subscribed. */
static kumo_error watch_new(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                            const kumo_client_watch_options *o, kumo_client_watch_fn fn,
                            void *context, kumo_client_watch **out, kumo_diag *diag)
{
    kumo_client_watch *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (w == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    w->client = client;
    w->kind = kind;
    w->all = ns == NULL || ns[0] == '\0';
    snprintf(w->ns, sizeof(w->ns), "%s", w->all ? "" : ns);
    w->fn = fn;
    w->context = context;
    atomic_init(&w->stopping, 0);
    atomic_init(&w->synced, 0);
    atomic_init(&w->published_cursor, 0);
    client_keymap_init(&w->known);
    w->reconnects_seen = atomic_load(&client->reconnects);
    w->label_selector = dup_or_null(o->label_selector);
    w->field_selector = dup_or_null(o->field_selector);
    kumo_error e = KUMO_ERROR_OK;
    if ((o->label_selector && o->label_selector[0] && !w->label_selector) ||
        (o->field_selector && o->field_selector[0] && !w->field_selector))
        e = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    if (e == KUMO_ERROR_OK)
        e = kumo_object_selector_parse(w->label_selector, w->field_selector, &w->selector, diag);
    if (e != KUMO_ERROR_OK)
        watch_free(w);
    else
        *out = w;
    return e;
}

/* Subscribes w to its kind's events (and its bookmarks) and to the replies of its own
 * lists, and makes sure the server knows both before anything is read. */
static kumo_error watch_subscribe(kumo_client_watch *w, kumo_diag *diag)
{
    kumo_client *client = w->client;
    const char *plural = w->kind->plural;
    char events_subject[512], replies_subject[160];
    if (w->all) {
        snprintf(events_subject, sizeof(events_subject), "%s.events.%s.>", client->prefix, plural);
        snprintf(w->bookmark_subject, sizeof(w->bookmark_subject), "%s.events.%s.%s.%s",
                 client->prefix, plural, KUMO_PROTOCOL_ALL_TOKEN, KUMO_PROTOCOL_BOOKMARK_TOKEN);
    } else {
        snprintf(events_subject, sizeof(events_subject), "%s.events.%s.%s.>", client->prefix,
                 plural, w->ns);
        snprintf(w->bookmark_subject, sizeof(w->bookmark_subject), "%s.events.%s.%s.%s",
                 client->prefix, plural, w->ns, KUMO_PROTOCOL_BOOKMARK_TOKEN);
    }
    natsInbox *inbox = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        snprintf(w->inbox, sizeof(w->inbox), "%s", (const char *)inbox);
        natsInbox_Destroy(inbox);
    }
    snprintf(replies_subject, sizeof(replies_subject), "%s.*", w->inbox);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&w->events, client->conn, events_subject);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(w->events, WATCH_PENDING_MSGS, WATCH_PENDING_BYTES);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&w->replies, client->conn, replies_subject);
    /* The server must know the subscription before we read: nothing slips between. */
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(client->conn, client->timeout_ms);
    return s == NATS_OK ? KUMO_ERROR_OK
                        : client_nats_error(client, s, "subscribing to events", diag);
}

/* The first list: kept for the watch thread to deliver (from the start), or applied now
 * when the caller resumes from a revision. */
static kumo_error watch_first_list(kumo_client_watch *w, int64_t from_revision, kumo_diag *diag)
{
    snapshot first;
    kumo_error e = watch_list(w, &first, diag);
    if (e == KUMO_ERROR_OK && from_revision <= 0) {
        w->initial = first;
        w->has_initial = 1;
    } else if (e == KUMO_ERROR_OK) {
        apply_snapshot(w, &first, 0, from_revision);
        snapshot_free(&first);
        atomic_store(&w->synced, 1);
    }
    return e;
}

kumo_error kumo_client_watch_start(kumo_client *client, const kumo_object_kind *kind,
                                   const char *ns, const kumo_client_watch_options *options,
                                   kumo_client_watch_fn fn, void *context, kumo_client_watch **out,
                                   kumo_diag *diag)
{
    kumo_client_watch_options defaults = {0};
    const kumo_client_watch_options *o = options ? options : &defaults;
    *out = NULL;
    if (kind == NULL || fn == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "a watch needs a kind and a callback");
    if (ns && ns[0] && !kumo_object_namespace_is_valid(ns))
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "namespace \"%s\" is not a DNS-1123 label", ns);
    kumo_client_watch *w = NULL;
    kumo_error e = watch_new(client, kind, ns, o, fn, context, &w, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    e = watch_subscribe(w, diag);
    if (e == KUMO_ERROR_OK)
        e = watch_first_list(w, o->from_revision, diag);
    if (e == KUMO_ERROR_OK) {
        if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
            e = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start the watch thread");
        else
            w->thread_started = 1;
    }
    if (e != KUMO_ERROR_OK) {
        watch_free(w);
        return e;
    }
    pthread_mutex_lock(&client->lock);
    w->next = client->watches;
    client->watches = w;
    pthread_mutex_unlock(&client->lock);
    *out = w;
    return KUMO_ERROR_OK;
}

int64_t kumo_client_watch_revision(const kumo_client_watch *watch)
{
    return atomic_load(&((kumo_client_watch *)watch)->published_cursor);
}

int kumo_client_watch_synced(const kumo_client_watch *watch)
{
    return atomic_load(&((kumo_client_watch *)watch)->synced);
}

void kumo_client_watch_stop(kumo_client_watch *watch)
{
    if (watch == NULL)
        return;
    kumo_client *c = watch->client;
    pthread_mutex_lock(&c->lock);
    for (kumo_client_watch **p = &c->watches; *p; p = &(*p)->next)
        if (*p == watch) {
            *p = watch->next;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    watch_free(watch);
}

void client_watches_stop_all(kumo_client *client)
{
    for (;;) {
        pthread_mutex_lock(&client->lock);
        kumo_client_watch *w = client->watches;
        if (w)
            client->watches = w->next;
        pthread_mutex_unlock(&client->lock);
        if (w == NULL)
            return;
        watch_free(w);
    }
}
