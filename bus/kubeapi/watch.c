/*
 * watch.c - GET ...?watch=true: a chunked reply of newline-delimited watch
 * events ({"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}),
 * from the store's revision log.
 *
 * A watch starts on the loop thread: without resourceVersion (or "0") it
 * first sends every matching object as ADDED (a list), else it catches up
 * from the log after that revision; a revision older than the retained
 * history gets one ERROR event carrying a 410 Gone Status. Then it is live.
 *
 * Live events: one feeder thread waits for new commits (kumo_store_wait),
 * reads them from the log once for every watcher, and hands each batch to
 * the loop, which sends every watcher the events it has not seen (revision
 * above its own last) that match its kind, namespace and selectors. A
 * watcher's catch-up always reads up to the store's current revision, so a
 * batch that arrives later only repeats what it skips; nothing falls
 * between the two.
 *
 * Selectors: the log's catch-up already turns an object that starts or stops
 * matching into ADDED or DELETED. For live events the watcher keeps the set
 * of objects it has as matching (filled from a list when it starts) and does
 * the same: a change that makes an object stop matching is sent as DELETED,
 * one that makes it match as ADDED.
 *
 * A timer ends watches at timeoutSeconds and sends BOOKMARKs to watchers
 * that asked (allowWatchBookmarks). With a Table Accept each event's object
 * is a one-row Table.
 */
#include "bus/kubeapi/internal.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/log/log.h"
#include "apis/map/map.h"

#define FEED_BATCH   1000
#define FEED_WAIT_MS 500
#define TICK_MS      1000

typedef struct kubeapi_watcher {
    struct kubeapi_watcher *next, *prev;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    const kumo_object_kind *kind;
    char ns[64];
    kumo_object_selector *selector;
    kumo_map *matching; /* with a selector: ns/name of the objects the watcher has as matching */
    int table, bookmarks, core;
    int64_t last;
    int64_t deadline_ms; /* 0: none */
    int64_t next_bookmark_ms;
} kubeapi_watcher;

typedef struct kubeapi_batch {
    struct kubeapi_batch *next;
    kumo_store_event *events;
    size_t count;
    int64_t upto;
    int gone;
} kubeapi_batch;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_chunk(kubeapi_watcher *w, const kumo_codec_buffer *b)
{
    struct evbuffer *chunk = evbuffer_new();
    if (chunk == NULL)
        return;
    evbuffer_add(chunk, b->data, b->len);
    evhttp_send_reply_chunk(w->req, chunk);
    evbuffer_free(chunk);
}

static void matching_key(const ProtobufCMessage *object, char *key, size_t size)
{
    snprintf(key, size, "%s/%s", kumo_object_namespace(object), kumo_object_name(object));
}

/* Records that the watcher was sent `type` for object (the set of matching objects). */
static void matching_note(kubeapi_watcher *w, const char *type, const ProtobufCMessage *object)
{
    if (w->matching == NULL)
        return;
    char key[400];
    matching_key(object, key, sizeof(key));
    if (strcmp(type, "DELETED") == 0)
        kumo_map_remove(w->matching, key);
    else
        kumo_map_put(w->matching, key, (void *)1, NULL);
}

/*
 * The type a live event is sent as to this watcher, or NULL when it is not
 * sent: kind, namespace, and with a selector the transitions in and out.
 */
static const char *live_type(const kubeapi_watcher *w, const kumo_store_event *e)
{
    if (e->kind != w->kind || (w->ns[0] && strcmp(kumo_object_namespace(e->object), w->ns) != 0))
        return NULL;
    const char *type = kumo_store_event_type_name(e->type);
    if (w->matching == NULL)
        return kumo_object_selector_matches(w->selector, e->object) ? type : NULL;
    char key[400];
    matching_key(e->object, key, sizeof(key));
    int was = kumo_map_get(w->matching, key) != NULL;
    int now =
        e->type != KUMO_STORE_EVENT_DELETED && kumo_object_selector_matches(w->selector, e->object);
    if (e->type == KUMO_STORE_EVENT_DELETED)
        return was ? type : NULL;
    if (now)
        return was ? type : "ADDED";
    return was ? "DELETED" : NULL;
}

/* Appends {"type":T,"object":<object or one-row Table>}\n. */
static kumo_error encode_event(const kubeapi_watcher *w, const char *type, ProtobufCMessage *object,
                               int64_t revision, kumo_codec_buffer *b, kumo_diag *diag)
{
    kubeapi_json_format(b, "{\"type\":\"%s\",\"object\":", type);
    if (w->table) {
        kumo_error err = kubeapi_table_encode(w->kind, &object, 1, revision, NULL, 1, b, diag);
        kubeapi_json_raw(b, "}\n");
        return err;
    }
    /* the object is shared by every watcher: the core/v1 shape goes on a copy */
    ProtobufCMessage *core = w->core ? kumo_codec_message_clone(object) : NULL;
    if (core != NULL)
        kubeapi_core_event_shape(core);
    kumo_error err = kubeapi_object_encode(core != NULL ? core : object, b, diag);
    kumo_codec_message_free(core);
    kubeapi_json_raw(b, "}\n");
    return err;
}

/* Ends the reply (which frees a request whose client went away) and forgets the watch. */
static void watcher_end(kumo_kubeapi *s, kubeapi_watcher *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else if (s->watchers == w)
        s->watchers = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    evhttp_send_reply_end(w->req);
    kumo_object_selector_destroy(w->selector);
    kumo_map_destroy(w->matching);
    __atomic_sub_fetch(&s->watcher_count, 1, __ATOMIC_RELAXED);
    free(w);
}

static void send_error_event(kubeapi_watcher *w, const kumo_diag *diag)
{
    kumo_codec_buffer b, status;
    kumo_codec_buffer_init(&b);
    kumo_codec_buffer_init(&status);
    kumo_apiserver_status_encode(diag, w->kind, NULL, KUMO_CODEC_FORMAT_JSON, &status);
    kubeapi_json_raw(&b, "{\"type\":\"ERROR\",\"object\":");
    kumo_codec_buffer_append(&b, status.data, status.len);
    kubeapi_json_raw(&b, "}\n");
    send_chunk(w, &b);
    kumo_codec_buffer_fini(&b);
    kumo_codec_buffer_fini(&status);
}

/* Sends the events of one read; returns the last revision sent. */
static void send_events(kubeapi_watcher *w, kumo_store_event *events, size_t count)
{
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    for (size_t i = 0; i < count; i++) {
        const char *type = kumo_store_event_type_name(events[i].type);
        kumo_apiserver_strip(events[i].kind, events[i].object);
        encode_event(w, type, events[i].object, events[i].revision, &b, NULL);
        matching_note(w, type, events[i].object);
        w->last = events[i].revision;
    }
    if (b.len > 0)
        send_chunk(w, &b);
    kumo_codec_buffer_fini(&b);
}

/*
 * Every matching object, sent as ADDED (send 1; w->last becomes the list's
 * revision) or only noted as matching (send 0).
 */
static kumo_error list_matching(kumo_kubeapi *s, kubeapi_watcher *w, const char *labels,
                                const char *fields, int send, kumo_diag *diag)
{
    kumo_store_list_options options = {.namespace_ = w->ns[0] ? w->ns : NULL,
                                       .label_selector = labels,
                                       .field_selector = fields,
                                       .limit = 500};
    char token[1024] = "";
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    kumo_error err = KUMO_ERROR_OK;
    for (;;) {
        kumo_store_list_result result;
        memset(&result, 0, sizeof(result));
        options.continue_token = token[0] ? token : NULL;
        err = kumo_store_list(s->store, w->kind, &options, &result, diag);
        for (size_t i = 0; err == KUMO_ERROR_OK && i < result.count; i++) {
            kumo_apiserver_strip(w->kind, result.items[i]);
            if (send)
                encode_event(w, "ADDED", result.items[i], result.revision, &b, NULL);
            matching_note(w, "ADDED", result.items[i]);
        }
        if (err == KUMO_ERROR_OK && send)
            w->last = result.revision;
        snprintf(token, sizeof(token), "%s", result.continue_token ? result.continue_token : "");
        kumo_store_list_result_fini(&result);
        if (err != KUMO_ERROR_OK || token[0] == '\0')
            break;
    }
    if (b.len > 0)
        send_chunk(w, &b);
    kumo_codec_buffer_fini(&b);
    return err;
}

/* The changes after `from`, up to the store's current revision. */
static kumo_error catch_up(kumo_kubeapi *s, kubeapi_watcher *w, int64_t from, kumo_diag *diag)
{
    kumo_store_watch_filter filter = {
        .kind = w->kind, .namespace_ = w->ns[0] ? w->ns : NULL, .selector = w->selector};
    int64_t now = kumo_store_revision(s->store);
    w->last = from;
    while (from < now) {
        kumo_store_event *events = NULL;
        size_t count = 0;
        int64_t next = from;
        kumo_error err = kumo_store_watch_next(s->store, from, &filter, FEED_BATCH, &events, &count,
                                               &next, diag);
        if (err != KUMO_ERROR_OK)
            return err;
        send_events(w, events, count);
        kumo_store_events_free(events, count);
        if (next <= from)
            break;
        from = next;
    }
    if (w->last < now)
        w->last = now;
    return KUMO_ERROR_OK;
}

void kubeapi_watch_start(kumo_kubeapi *s, struct evhttp_request *req, const kubeapi_target *t,
                         const char *query, const char *accept)
{
    char labels[KUBEAPI_MAX_HEADERS], fields[KUBEAPI_MAX_HEADERS], rv[32], timeout[32];
    const char *label_text = kubeapi_query(query, "labelSelector", labels, sizeof(labels));
    const char *field_text = kubeapi_query(query, "fieldSelector", fields, sizeof(fields));
    const char *rv_text = kubeapi_query(query, "resourceVersion", rv, sizeof(rv));
    const char *timeout_text = kubeapi_query(query, "timeoutSeconds", timeout, sizeof(timeout));
    kumo_diag diag;
    kumo_diag_init(&diag);
    kubeapi_watcher *w = calloc(1, sizeof(*w));
    char *end = NULL;
    long long from = rv_text && rv_text[0] ? strtoll(rv_text, &end, 10) : 0;
    long long seconds = timeout_text ? strtoll(timeout_text, NULL, 10) : 0;
    if (w == NULL) {
        kubeapi_send_error(req, KUMO_ERROR_NOMEM, "out of memory");
        goto out;
    }
    if (end != NULL && (*end != '\0' || from < 0)) {
        kubeapi_send_error(req, KUMO_ERROR_INVALID_ARGUMENT,
                           "resourceVersion \"%s\" is not a revision (a decimal number)", rv_text);
        goto out;
    }
    if (kumo_object_selector_parse(label_text, field_text, &w->selector, &diag) != KUMO_ERROR_OK) {
        kubeapi_send_status(req, &diag, t->kind, NULL);
        goto out;
    }
    w->req = req;
    w->evcon = evhttp_request_get_connection(req);
    w->kind = t->kind;
    snprintf(w->ns, sizeof(w->ns), "%s", t->ns);
    w->table = kubeapi_wants_table(accept);
    w->bookmarks = kubeapi_query_true(query, "allowWatchBookmarks");
    w->core = t->core;
    w->deadline_ms = seconds > 0 ? now_ms() + seconds * 1000 : 0;
    w->next_bookmark_ms = now_ms() + s->bookmark_ms;
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", "application/json");
    evhttp_add_header(headers, "Cache-Control", "no-cache, private");
    evhttp_send_reply_start(req, 200, "OK");
    w->next = s->watchers;
    if (s->watchers != NULL)
        s->watchers->prev = w;
    s->watchers = w;
    __atomic_add_fetch(&s->watcher_count, 1, __ATOMIC_RELAXED);
    if (!kumo_object_selector_is_empty(w->selector))
        w->matching = kumo_map_create();
    kumo_error err = from == 0 ? list_matching(s, w, label_text, field_text, 1, &diag)
                               : catch_up(s, w, from, &diag);
    if (err == KUMO_ERROR_OK && from != 0 && w->matching != NULL)
        err = list_matching(s, w, label_text, field_text, 0, &diag);
    if (err != KUMO_ERROR_OK) {
        send_error_event(w, &diag);
        watcher_end(s, w);
    }
    w = NULL;
out:
    if (w != NULL) {
        kumo_object_selector_destroy(w->selector);
        free(w);
    }
    kumo_diag_fini(&diag);
}

/* Loop: fans one batch out to every watcher. */
static void fan_out(kumo_kubeapi *s, kubeapi_batch *batch)
{
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    for (size_t i = 0; i < batch->count; i++)
        kumo_apiserver_strip(batch->events[i].kind, batch->events[i].object);
    for (kubeapi_watcher *w = s->watchers; w != NULL; w = w->next) {
        kumo_codec_buffer_reset(&b);
        for (size_t i = 0; i < batch->count; i++) {
            const kumo_store_event *e = &batch->events[i];
            const char *type = e->revision > w->last ? live_type(w, e) : NULL;
            if (type == NULL)
                continue;
            encode_event(w, type, e->object, e->revision, &b, NULL);
            matching_note(w, type, e->object);
            w->last = e->revision;
        }
        if (b.len > 0)
            send_chunk(w, &b);
    }
    kumo_codec_buffer_fini(&b);
    if (batch->upto > s->fed_revision)
        s->fed_revision = batch->upto;
}

static void end_all_gone(kumo_kubeapi *s)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_diag_set(&diag, KUMO_ERROR_GONE,
                  "the watch fell behind the retained history; list again and watch from "
                  "the list's resourceVersion");
    while (s->watchers != NULL) {
        send_error_event(s->watchers, &diag);
        watcher_end(s, s->watchers);
    }
    kumo_diag_fini(&diag);
}

static void on_feed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kumo_kubeapi *s = arg;
    pthread_mutex_lock(&s->lock);
    kubeapi_batch *batch = s->batch_head;
    s->batch_head = s->batch_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (batch != NULL) {
        kubeapi_batch *next = batch->next;
        if (batch->gone)
            end_all_gone(s);
        else
            fan_out(s, batch);
        kumo_store_events_free(batch->events, batch->count);
        free(batch);
        batch = next;
    }
}

static void post_batch(kumo_kubeapi *s, kubeapi_batch *batch)
{
    pthread_mutex_lock(&s->lock);
    if (s->batch_tail != NULL)
        s->batch_tail->next = batch;
    else
        s->batch_head = batch;
    s->batch_tail = batch;
    pthread_mutex_unlock(&s->lock);
    event_active(s->feed_event, EV_READ, 0);
}

static void *feeder_main(void *arg)
{
    kumo_kubeapi *s = arg;
    int64_t from = kumo_store_revision(s->store);
    kumo_diag diag;
    kumo_diag_init(&diag);
    while (!s->feeder_stop) {
        int64_t now = 0;
        if (kumo_store_wait(s->store, from, FEED_WAIT_MS, &now) != KUMO_ERROR_OK || now <= from)
            continue;
        if (__atomic_load_n(&s->watcher_count, __ATOMIC_RELAXED) == 0) {
            from = now; /* a new watcher catches up to at least here by itself */
            continue;
        }
        kubeapi_batch *batch = calloc(1, sizeof(*batch));
        if (batch == NULL)
            continue;
        int64_t next = from;
        kumo_error err = kumo_store_watch_next(s->store, from, NULL, FEED_BATCH, &batch->events,
                                               &batch->count, &next, &diag);
        kumo_diag_fini(&diag);
        if (err == KUMO_ERROR_GONE) {
            batch->gone = 1;
            next = now;
        } else if (err != KUMO_ERROR_OK) {
            free(batch);
            continue;
        }
        batch->upto = next;
        from = next > from ? next : now;
        post_batch(s, batch);
    }
    return NULL;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kumo_kubeapi *s = arg;
    int64_t now = now_ms();
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    for (kubeapi_watcher *w = s->watchers, *next; w != NULL; w = next) {
        next = w->next;
        if (w->deadline_ms > 0 && now >= w->deadline_ms) {
            watcher_end(s, w);
            continue;
        }
        if (!w->bookmarks || now < w->next_bookmark_ms)
            continue;
        w->next_bookmark_ms = now + s->bookmark_ms;
        int64_t rv = w->last > s->fed_revision ? w->last : s->fed_revision;
        kumo_codec_buffer_reset(&b);
        kubeapi_json_format(&b,
                            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":"
                            "\"%s\",\"metadata\":{\"resourceVersion\":\"%lld\"}}}\n",
                            w->kind->kind, KUMO_API_VERSION, (long long)rv);
        send_chunk(w, &b);
    }
    kumo_codec_buffer_fini(&b);
}

kumo_error kubeapi_watch_init(kumo_kubeapi *s, kumo_diag *diag)
{
    s->fed_revision = kumo_store_revision(s->store);
    s->feed_event = event_new(s->base, -1, 0, on_feed, s);
    s->bookmark_event = event_new(s->base, -1, EV_PERSIST, on_tick, s);
    struct timeval tick = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    if (s->feed_event == NULL || s->bookmark_event == NULL ||
        event_add(s->bookmark_event, &tick) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot create the watch events");
    if (pthread_create(&s->feeder, NULL, feeder_main, s) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start the watch feeder thread");
    s->feeder_started = 1;
    return KUMO_ERROR_OK;
}

void kubeapi_watch_connection_closed(kumo_kubeapi *s, struct evhttp_connection *evcon)
{
    for (kubeapi_watcher *w = s->watchers, *next; w != NULL; w = next) {
        next = w->next;
        if (w->evcon == evcon)
            watcher_end(s, w);
    }
}

void kubeapi_watch_fini(kumo_kubeapi *s)
{
    if (s->feeder_started) {
        s->feeder_stop = 1;
        pthread_join(s->feeder, NULL);
        s->feeder_started = 0;
    }
    while (s->watchers != NULL)
        watcher_end(s, s->watchers);
    while (s->batch_head != NULL) {
        kubeapi_batch *next = s->batch_head->next;
        kumo_store_events_free(s->batch_head->events, s->batch_head->count);
        free(s->batch_head);
        s->batch_head = next;
    }
    if (s->feed_event != NULL)
        event_free(s->feed_event);
    if (s->bookmark_event != NULL)
        event_free(s->bookmark_event);
    s->feed_event = s->bookmark_event = NULL;
}
