/*
 * events.c - every committed change, published once and in revision order on
 * <prefix>.events.<resource>.<namespace>.<name> (docs/api.md §4).
 *
 * The store calls apiserver_commit_hook on its writer thread after each
 * durable commit, before the writers are acknowledged. The hook must be
 * quick: it packs each changed object (protobuf, the cheapest deep copy) into
 * one allocation with its key and appends it to a queue. One publisher thread
 * takes the queue in order, works out the Prev headers, strips write-only
 * fields, encodes the Event as JSON and publishes it. Because the queue is
 * appended in commit order and drained by one thread on one connection,
 * events leave in revision order.
 *
 * Prev headers are computed over every committed change, including changes
 * whose event could not be sent (overload, NATS down): a watcher that missed
 * one sees a Kumo-Prev-Revision that is not its last revision and catches up.
 * Under overload (more than EVENTS_MAX_QUEUED_BYTES waiting) the hook keeps
 * only the key and revision of new changes, never blocking the writer.
 *
 * Bookmarks: every bookmark_ms, for each resource + namespace that changed,
 * a BOOKMARK on <prefix>.events.<resource>.<namespace>._bookmark carrying the
 * last revision, and for each resource on <prefix>.events.<resource>._all._bookmark.
 */
#include "bus/apiserver/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/event.pb-c.h"
#include "apis/log/log.h"

#define EVENTS_MAX_QUEUED_BYTES ((size_t)512 << 20)
#define EVENTS_BUCKETS          1024

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void apiserver_commit_hook(void *ctx, const kumo_store_event *events, size_t count)
{
    kumo_apiserver *s = ctx;
    apiserver_events *ev = &s->events;
    int64_t now = realtime_ns();
    pthread_mutex_lock(&ev->lock);
    int overloaded = ev->queued_bytes > EVENTS_MAX_QUEUED_BYTES;
    pthread_mutex_unlock(&ev->lock);

    apiserver_event *head = NULL, *tail = NULL;
    size_t bytes = 0;
    uint64_t dropped = 0;
    for (size_t i = 0; i < count; i++) {
        const kumo_store_event *e = &events[i];
        const char *ns = kumo_object_namespace(e->object);
        const char *name = kumo_object_name(e->object);
        size_t ns_len = strlen(ns), name_len = strlen(name);
        size_t packed_len = overloaded ? 0 : protobuf_c_message_get_packed_size(e->object);
        size_t size = sizeof(apiserver_event) + ns_len + 1 + name_len + 1 + packed_len;
        apiserver_event *copy = malloc(size);
        if (copy == NULL && packed_len > 0) {
            packed_len = 0; /* keep at least the key: Prev headers stay right */
            size = sizeof(apiserver_event) + ns_len + 1 + name_len + 1;
            copy = malloc(size);
        }
        if (copy == NULL) {
            dropped++;
            continue;
        }
        memset(copy, 0, sizeof(*copy));
        copy->type = e->type;
        copy->revision = e->revision;
        copy->commit_ns = now;
        copy->kind = e->kind;
        copy->ns = (char *)(copy + 1);
        memcpy(copy->ns, ns, ns_len + 1);
        copy->name = copy->ns + ns_len + 1;
        memcpy(copy->name, name, name_len + 1);
        if (packed_len > 0) {
            copy->packed = (uint8_t *)copy->name + name_len + 1;
            copy->packed_len = protobuf_c_message_pack(e->object, copy->packed);
        } else {
            dropped++;
        }
        if (tail != NULL)
            tail->next = copy;
        else
            head = copy;
        tail = copy;
        bytes += size;
    }
    pthread_mutex_lock(&ev->lock);
    if (head != NULL) {
        if (ev->tail != NULL)
            ev->tail->next = head;
        else
            ev->head = head;
        ev->tail = tail;
        ev->queued_bytes += bytes;
        pthread_cond_signal(&ev->cond);
    }
    ev->dropped += dropped;
    pthread_mutex_unlock(&ev->lock);
}

static size_t kind_index(const kumo_object_kind *kind)
{
    for (size_t i = 0; i < kumo_object_kind_count(); i++)
        if (kumo_object_kind_at(i) == kind)
            return i;
    return 0;
}

static apiserver_ns_entry *ns_entry(apiserver_events *ev, const kumo_object_kind *kind,
                                    const char *ns)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)kind;
    for (const char *p = ns; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    apiserver_ns_entry **bucket = &ev->buckets[h % ev->bucket_count];
    for (apiserver_ns_entry *e = *bucket; e != NULL; e = e->next)
        if (e->kind == kind && strcmp(e->ns, ns) == 0)
            return e;
    apiserver_ns_entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->kind = kind;
    snprintf(e->ns, sizeof(e->ns), "%s", ns);
    e->next = *bucket;
    *bucket = e;
    return e;
}

/* 1 when `token` can stand as one subject token. */
static int subject_token_ok(const char *token)
{
    if (token[0] == '\0')
        return 0;
    for (const char *p = token; *p; p++)
        if (*p == '.' || *p == '*' || *p == '>' || *p == ' ' || *p == '\t' || *p == '\r' ||
            *p == '\n')
            return 0;
    return 1;
}

static void publish_event(kumo_apiserver *s, const apiserver_event *e)
{
    apiserver_events *ev = &s->events;
    apiserver_ns_entry *entry = ns_entry(ev, e->kind, e->ns);
    int64_t prev = 0; /* also when out of memory for the entry: watchers then catch up */
    if (entry != NULL) {
        prev = entry->last_revision;
        entry->last_revision = e->revision;
        entry->changed = 1;
    }
    size_t k = kind_index(e->kind);
    int64_t prev_resource = ev->resource_last[k];
    ev->resource_last[k] = e->revision;
    ev->resource_changed[k] = 1;
    if (e->packed == NULL)
        return; /* dropped under overload; the Prev headers tell watchers */
    if (!subject_token_ok(e->ns) || !subject_token_ok(e->name)) {
        KUMO_LOG_WARN("apiserver", "no event for an object whose name cannot be a subject token",
                      "kind=%s namespace=%s name=%s revision=%lld", e->kind->kind, e->ns, e->name,
                      (long long)e->revision);
        return;
    }
    ProtobufCMessage *object =
        protobuf_c_message_unpack(e->kind->descriptor, NULL, e->packed_len, e->packed);
    if (object == NULL) {
        KUMO_LOG_ERROR("apiserver", "cannot unpack a committed object for its event",
                       "kind=%s revision=%lld", e->kind->kind, (long long)e->revision);
        return;
    }
    apiserver_strip(e->kind, object);
    Kumo__V1alpha1__Event event;
    kumo__v1alpha1__event__init(&event);
    event.type = (char *)kumo_store_event_type_name(e->type);
    event.revision = e->revision;
    apiserver_event_set_object(&event.base, e->kind, object);
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (apiserver_encode(&event.base, KUMO_CODEC_FORMAT_JSON, &ev->out, &diag) != KUMO_ERROR_OK) {
        KUMO_LOG_ERROR("apiserver", "cannot encode an event", "kind=%s revision=%lld error=%s",
                       e->kind->kind, (long long)e->revision, kumo_error_name(diag.code));
        goto out;
    }
    char subject[512], revision[24], prev_text[24], prev_resource_text[24], commit[24];
    kumo_protocol_event_subject(s->prefix, e->kind, e->ns, e->name, subject, sizeof(subject));
    snprintf(revision, sizeof(revision), "%lld", (long long)e->revision);
    snprintf(prev_text, sizeof(prev_text), "%lld", (long long)prev);
    snprintf(prev_resource_text, sizeof(prev_resource_text), "%lld", (long long)prev_resource);
    snprintf(commit, sizeof(commit), "%lld", (long long)e->commit_ns);
    const char *headers[] = {KUMO_PROTOCOL_HEADER_REVISION,
                             revision,
                             KUMO_PROTOCOL_HEADER_PREV_REVISION,
                             prev_text,
                             KUMO_PROTOCOL_HEADER_PREV_RESOURCE,
                             prev_resource_text,
                             KUMO_PROTOCOL_HEADER_COMMIT_TIME,
                             commit,
                             KUMO_PROTOCOL_HEADER_CONTENT_TYPE,
                             KUMO_PROTOCOL_CONTENT_JSON,
                             NULL};
    natsStatus st = apiserver_publish(s->events_conn, subject, ev->out.data, ev->out.len, headers);
    if (st == NATS_OK)
        apiserver_metrics_event(e->kind);
    else
        KUMO_LOG_WARN("apiserver", "cannot publish an event; watchers will catch up",
                      "subject=%s revision=%lld error=\"%s\"", subject, (long long)e->revision,
                      natsStatus_GetText(st));
out:
    kumo_diag_fini(&diag);
    kumo_object_destroy(object);
}

static void publish_bookmark(kumo_apiserver *s, const char *subject, int64_t revision)
{
    apiserver_events *ev = &s->events;
    Kumo__V1alpha1__Event event;
    kumo__v1alpha1__event__init(&event);
    event.type = "BOOKMARK";
    event.revision = revision;
    if (apiserver_encode(&event.base, KUMO_CODEC_FORMAT_JSON, &ev->out, NULL) != KUMO_ERROR_OK)
        return;
    char text[24];
    snprintf(text, sizeof(text), "%lld", (long long)revision);
    const char *headers[] = {KUMO_PROTOCOL_HEADER_REVISION, text, KUMO_PROTOCOL_HEADER_CONTENT_TYPE,
                             KUMO_PROTOCOL_CONTENT_JSON, NULL};
    apiserver_publish(s->events_conn, subject, ev->out.data, ev->out.len, headers);
}

static void publish_bookmarks(kumo_apiserver *s)
{
    apiserver_events *ev = &s->events;
    char subject[512];
    for (size_t b = 0; b < ev->bucket_count; b++) {
        for (apiserver_ns_entry *e = ev->buckets[b]; e != NULL; e = e->next) {
            if (!e->changed)
                continue;
            e->changed = 0;
            if (!subject_token_ok(e->ns))
                continue;
            snprintf(subject, sizeof(subject), "%s.events.%s.%s.%s", s->prefix, e->kind->plural,
                     e->ns, KUMO_PROTOCOL_BOOKMARK_TOKEN);
            publish_bookmark(s, subject, e->last_revision);
        }
    }
    for (size_t k = 0; k < kumo_object_kind_count(); k++) {
        if (!ev->resource_changed[k])
            continue;
        ev->resource_changed[k] = 0;
        snprintf(subject, sizeof(subject), "%s.events.%s.%s.%s", s->prefix,
                 kumo_object_kind_at(k)->plural, KUMO_PROTOCOL_ALL_TOKEN,
                 KUMO_PROTOCOL_BOOKMARK_TOKEN);
        publish_bookmark(s, subject, ev->resource_last[k]);
    }
}

static void *publisher_main(void *arg)
{
    kumo_apiserver *s = arg;
    apiserver_events *ev = &s->events;
    int64_t next_bookmark = monotonic_ms() + s->bookmark_ms;
    uint64_t dropped_logged = 0;
    pthread_mutex_lock(&ev->lock);
    for (;;) {
        if (ev->head == NULL && !ev->stopping) {
            int64_t wait_ms = next_bookmark - monotonic_ms();
            if (wait_ms > 0) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += (time_t)(wait_ms / 1000);
                until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                    until.tv_sec++;
                    until.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&ev->cond, &ev->lock, &until);
            }
        }
        apiserver_event *batch = ev->head;
        ev->head = ev->tail = NULL;
        ev->queued_bytes = 0;
        int stopping = ev->stopping;
        uint64_t dropped = ev->dropped;
        pthread_mutex_unlock(&ev->lock);

        int published = batch != NULL;
        while (batch != NULL) {
            apiserver_event *next = batch->next;
            publish_event(s, batch);
            free(batch);
            batch = next;
        }
        /* One write for the whole batch (and a round trip to nats-server, during which the
         * next batch gathers) instead of waiting for nats.c's flusher thread. */
        if (published && natsConnection_Status(s->events_conn) == NATS_CONN_STATUS_CONNECTED)
            natsConnection_FlushTimeout(s->events_conn, 1000);
        if (dropped != dropped_logged) {
            KUMO_LOG_WARN("apiserver", "events not published under overload; watchers catch up",
                          "dropped_total=%llu", (unsigned long long)dropped);
            dropped_logged = dropped;
        }
        if (monotonic_ms() >= next_bookmark || stopping) {
            publish_bookmarks(s);
            next_bookmark = monotonic_ms() + s->bookmark_ms;
        }
        pthread_mutex_lock(&ev->lock);
        if (stopping && ev->head == NULL)
            break;
    }
    pthread_mutex_unlock(&ev->lock);
    return NULL;
}

kumo_error apiserver_events_start(kumo_apiserver *s, kumo_diag *diag)
{
    apiserver_events *ev = &s->events;
    ev->bucket_count = EVENTS_BUCKETS;
    ev->buckets = calloc(ev->bucket_count, sizeof(*ev->buckets));
    ev->resource_last = calloc(kumo_object_kind_count(), sizeof(*ev->resource_last));
    ev->resource_changed = calloc(kumo_object_kind_count(), sizeof(*ev->resource_changed));
    kumo_codec_buffer_init(&ev->out);
    if (ev->buckets == NULL || ev->resource_last == NULL || ev->resource_changed == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    if (pthread_create(&ev->thread, NULL, publisher_main, s) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start the event publisher thread");
    ev->started = 1;
    return KUMO_ERROR_OK;
}

void apiserver_events_stop(kumo_apiserver *s)
{
    apiserver_events *ev = &s->events;
    if (ev->started) {
        pthread_mutex_lock(&ev->lock);
        ev->stopping = 1;
        pthread_cond_signal(&ev->cond);
        pthread_mutex_unlock(&ev->lock);
        pthread_join(ev->thread, NULL);
        ev->started = 0;
    }
    while (ev->head != NULL) { /* only when the thread never ran */
        apiserver_event *next = ev->head->next;
        free(ev->head);
        ev->head = next;
    }
    ev->tail = NULL;
    for (size_t b = 0; ev->buckets != NULL && b < ev->bucket_count; b++) {
        while (ev->buckets[b] != NULL) {
            apiserver_ns_entry *next = ev->buckets[b]->next;
            free(ev->buckets[b]);
            ev->buckets[b] = next;
        }
    }
    free(ev->buckets);
    ev->buckets = NULL;
    free(ev->resource_last);
    ev->resource_last = NULL;
    free(ev->resource_changed);
    ev->resource_changed = NULL;
    kumo_codec_buffer_fini(&ev->out);
}
