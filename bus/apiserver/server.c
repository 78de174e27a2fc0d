/*
 * server.c - the apiserver's life: connect, subscribe, serve with a pool of
 * worker threads, drain, destroy.
 *
 * nats.c delivers every message of one subscription on one thread. That
 * thread only appends the request to a queue; `workers` threads take from
 * it. A worker blocks in the store for as long as a commit takes, so many
 * workers are what lets concurrent clients' writes land in one group commit.
 *
 * Invariants: a request taken from the queue is always answered (a reply or,
 * for a request without a reply subject, nothing); drain answers everything
 * that reached the subscription before it stopped.
 */
#include "bus/apiserver/internal.h"

#include <stdlib.h>
#include <string.h>

#include "apis/log/log.h"

kumo_error apiserver_nats_error(kumo_diag *diag, natsStatus status, const char *what)
{
    kumo_error code = KUMO_ERROR_UNAVAILABLE;
    switch (status) {
    case NATS_NO_MEMORY:
        code = KUMO_ERROR_NOMEM;
        break;
    case NATS_TIMEOUT:
        code = KUMO_ERROR_TIMEOUT;
        break;
    case NATS_MAX_PAYLOAD:
        code = KUMO_ERROR_TOO_LARGE;
        break;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
        code = KUMO_ERROR_INVALID_ARGUMENT;
        break;
    default:
        break;
    }
    return kumo_diag_set_foreign(diag, code, "nats", (long)status, "%s: %s", what,
                                 natsStatus_GetText(status));
}

size_t apiserver_max_reply_bytes(const kumo_apiserver *server)
{
    int64_t max = natsConnection_GetMaxPayload(server->conn);
    /* Headers of a reply are a few hundred bytes; keep generous room. */
    return max > 8192 ? (size_t)max - 4096 : 4096;
}

/* ---- the request queue ---- */

/* Replies 503 to a request the queue has no room for (on the NATS thread). */
static void reject_overloaded(kumo_apiserver *s, natsMsg *msg)
{
    const char *reply = natsMsg_GetReply(msg);
    if (reply != NULL && reply[0] != '\0') {
        kumo_diag diag;
        kumo_diag_init(&diag);
        kumo_diag_set(&diag, KUMO_ERROR_UNAVAILABLE,
                      "kumod is overloaded (%d requests queued); retry later", APISERVER_MAX_QUEUE);
        kumo_codec_buffer out;
        kumo_codec_buffer_init(&out);
        int code = apiserver_encode_status(&diag, NULL, NULL, KUMO_CODEC_FORMAT_JSON, &out);
        char code_text[16];
        snprintf(code_text, sizeof(code_text), "%d", code);
        const char *headers[] = {KUMO_PROTOCOL_HEADER_CODE, code_text,
                                 KUMO_PROTOCOL_HEADER_CONTENT_TYPE, KUMO_PROTOCOL_CONTENT_JSON,
                                 NULL};
        apiserver_publish(s->conn, reply, out.data, out.len, headers);
        kumo_codec_buffer_fini(&out);
        kumo_diag_fini(&diag);
    }
    natsMsg_Destroy(msg);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    kumo_apiserver *s = closure;
    pthread_mutex_lock(&s->lock);
    if (s->queue_count == s->queue_cap && s->queue_cap < APISERVER_MAX_QUEUE) {
        size_t cap = s->queue_cap ? s->queue_cap * 2 : 256;
        natsMsg **grown = malloc(cap * sizeof(*grown));
        if (grown != NULL) {
            for (size_t i = 0; i < s->queue_count; i++)
                grown[i] = s->queue[(s->queue_head + i) % s->queue_cap];
            free(s->queue);
            s->queue = grown;
            s->queue_cap = cap;
            s->queue_head = 0;
        }
    }
    if (s->queue_count == s->queue_cap) {
        pthread_mutex_unlock(&s->lock);
        reject_overloaded(s, msg);
        return;
    }
    s->queue[(s->queue_head + s->queue_count) % s->queue_cap] = msg;
    s->queue_count++;
    pthread_cond_signal(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
}

static void *worker_main(void *arg)
{
    apiserver_worker *w = arg;
    kumo_apiserver *s = w->server;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->queue_count == 0 && !s->stopping)
            pthread_cond_wait(&s->work_cond, &s->lock);
        if (s->queue_count == 0)
            break; /* stopping and nothing left */
        natsMsg *msg = s->queue[s->queue_head];
        s->queue_head = (s->queue_head + 1) % s->queue_cap;
        s->queue_count--;
        s->in_flight++;
        pthread_mutex_unlock(&s->lock);

        apiserver_serve(w, msg);

        pthread_mutex_lock(&s->lock);
        s->in_flight--;
        if (s->queue_count == 0 && s->in_flight == 0)
            pthread_cond_broadcast(&s->idle_cond);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- connection callbacks: logs only; nats.c reconnects by itself ---- */

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    apiserver_conn *c = closure;
    if (!c->closing)
        KUMO_LOG_WARN("apiserver", "disconnected from NATS; reconnecting", "url=%s connection=%s",
                      c->server->url, c->role);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    apiserver_conn *c = closure;
    KUMO_LOG_INFO("apiserver", "reconnected to NATS", "url=%s connection=%s", c->server->url,
                  c->role);
}

/* The last callback nats.c makes for a connection: after it, the closure may be freed. */
static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    apiserver_conn *c = closure;
    pthread_mutex_lock(&c->server->lock);
    c->closed = 1;
    pthread_cond_broadcast(&c->server->idle_cond);
    pthread_mutex_unlock(&c->server->lock);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc;
    (void)sub;
    apiserver_conn *c = closure;
    KUMO_LOG_WARN("apiserver", "NATS asynchronous error", "connection=%s error=\"%s\"", c->role,
                  natsStatus_GetText(err));
}

/*
 * Connects one of the apiserver's connections. send_asap: every publish is
 * written at once (replies: a client waits for each) instead of by nats.c's
 * flusher thread, which adds about a millisecond.
 */
static kumo_error connect_nats(kumo_apiserver *s, apiserver_conn *c, const char *role,
                               int send_asap, kumo_diag *diag)
{
    c->server = s;
    c->role = role;
    char name[64];
    snprintf(name, sizeof(name), "kumod-%s", role);
    natsOptions *opts = NULL;
    natsStatus st = natsOptions_Create(&opts);
    if (st == NATS_OK)
        st = natsOptions_SetURL(opts, s->url);
    if (st == NATS_OK)
        st = natsOptions_SetName(opts, name);
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(opts, -1); /* forever */
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(opts, 250);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectBufSize(opts, 64 << 20);
    if (st == NATS_OK)
        st = natsOptions_SetMaxPendingMsgs(opts, 1 << 20);
    if (st == NATS_OK)
        st = natsOptions_SetSendAsap(opts, send_asap ? true : false);
    if (st == NATS_OK)
        st = natsOptions_SetDisconnectedCB(opts, on_disconnected, c);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectedCB(opts, on_reconnected, c);
    if (st == NATS_OK)
        st = natsOptions_SetErrorHandler(opts, on_error, c);
    if (st == NATS_OK)
        st = natsOptions_SetClosedCB(opts, on_closed, c);
    if (st == NATS_OK)
        st = natsConnection_Connect(&c->nc, opts);
    natsOptions_Destroy(opts);
    if (st != NATS_OK) {
        c->nc = NULL;
        return kumo_diag_set_foreign(
            diag, st == NATS_NO_MEMORY ? KUMO_ERROR_NOMEM : KUMO_ERROR_UNAVAILABLE, "nats",
            (long)st,
            "cannot connect to NATS at %s: %s (is nats-server running "
            "there?)",
            s->url, natsStatus_GetText(st));
    }
    return KUMO_ERROR_OK;
}

/* Closes a connection and waits until nats.c will call none of its callbacks again. */
static void close_nats(kumo_apiserver *s, apiserver_conn *c)
{
    if (c->nc == NULL)
        return;
    c->closing = 1;
    natsConnection_Close(c->nc);
    /* nats.c calls the connection callbacks on its own thread, in order: once the closed
     * callback ran, none can run after c (and s) are freed. */
    pthread_mutex_lock(&s->lock);
    while (!c->closed)
        pthread_cond_wait(&s->idle_cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    natsConnection_Destroy(c->nc);
    c->nc = NULL;
}

kumo_error kumo_apiserver_start(const kumo_apiserver_options *options, kumo_apiserver **out,
                                kumo_diag *diag)
{
    *out = NULL;
    if (options == NULL || options->nats_url == NULL || options->store == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "the apiserver needs a NATS URL and a store");
    kumo_apiserver *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    snprintf(s->prefix, sizeof(s->prefix), "%s",
             options->prefix ? options->prefix : KUMO_PROTOCOL_DEFAULT_PREFIX);
    snprintf(s->url, sizeof(s->url), "%s", options->nats_url);
    s->store = options->store;
    s->bookmark_ms = options->bookmark_ms > 0 ? options->bookmark_ms : 1000;
    s->max_request_bytes = APISERVER_MAX_REQUEST_BYTES;
    s->worker_count = options->workers > 0 ? options->workers : KUMO_APISERVER_DEFAULT_WORKERS;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work_cond, NULL);
    pthread_cond_init(&s->idle_cond, NULL);
    pthread_mutex_init(&s->events.lock, NULL);
    pthread_cond_init(&s->events.cond, NULL);

    kumo_error err = connect_nats(s, &s->api, "api", 1, diag);
    if (err == KUMO_ERROR_OK)
        err = connect_nats(s, &s->events_link, "events", 0, diag);
    for (int k = 0; k < APISERVER_REPLY_CONNECTIONS && err == KUMO_ERROR_OK; k++)
        err = connect_nats(s, &s->reply_links[k], "reply", 1, diag);
    if (err != KUMO_ERROR_OK)
        goto fail;
    s->conn = s->api.nc;
    s->events_conn = s->events_link.nc;
    err = apiserver_events_start(s, diag);
    if (err != KUMO_ERROR_OK)
        goto fail;
    kumo_store_set_commit_hook(s->store, apiserver_commit_hook, s);
    s->hook_set = 1;

    s->workers = calloc((size_t)s->worker_count, sizeof(*s->workers));
    if (s->workers == NULL) {
        err = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->worker_count; i++) {
        apiserver_worker *w = &s->workers[i];
        w->server = s;
        w->reply_conn = s->reply_links[i % APISERVER_REPLY_CONNECTIONS].nc;
        kumo_apiserver_response_init(&w->response);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            err = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start worker thread %d", i);
            goto fail;
        }
        s->workers_started++;
    }

    char subject[200];
    snprintf(subject, sizeof(subject), "%s.api.>", s->prefix);
    natsStatus st = natsConnection_QueueSubscribe(&s->api_sub, s->conn, subject,
                                                  KUMO_APISERVER_QUEUE_GROUP, on_request, s);
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(s->api_sub, 1 << 20, 1 << 30);
    if (st == NATS_OK)
        st = natsConnection_Flush(s->conn); /* the subscription is live when start returns */
    if (st != NATS_OK) {
        err = apiserver_nats_error(diag, st, "subscribe to the API subjects");
        goto fail;
    }
    if (options->desired_stream) {
        err = apiserver_desired_start(s, diag);
        if (err != KUMO_ERROR_OK)
            goto fail;
    }
    KUMO_LOG_INFO("apiserver", "serving the API", "url=%s prefix=%s workers=%d desired=%d", s->url,
                  s->prefix, s->worker_count, options->desired_stream);
    *out = s;
    return KUMO_ERROR_OK;
fail:
    kumo_apiserver_destroy(s);
    return err;
}

/* How long drain waits for nats-server (to confirm the unsubscribe, to flush). */
#define DRAIN_TIMEOUT_MS 5000

/* Removes the commit hook and waits until no call of it can be running. */
static void remove_hook(kumo_apiserver *s)
{
    if (!s->hook_set)
        return;
    kumo_store_set_commit_hook(s->store, NULL, NULL);
    /* The hook runs on the store's writer thread, outside the store's lock: a
     * call may be under way. The writer handles requests one batch after the
     * other, so once a request queued now has been answered, every earlier
     * hook call has returned. Compaction is such a request and harmless. */
    kumo_store_compact(s->store, NULL);
    s->hook_set = 0;
}

static void stop_workers(kumo_apiserver *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->workers_started; i++)
        pthread_join(s->workers[i].thread, NULL);
    s->workers_started = 0;
}

void kumo_apiserver_drain(kumo_apiserver *s)
{
    if (s == NULL || s->drained)
        return;
    s->drained = 1;
    apiserver_desired_stop(s);
    int connected = s->conn != NULL && natsConnection_Status(s->conn) == NATS_CONN_STATUS_CONNECTED;
    if (s->api_sub != NULL) {
        /* No new requests; the ones nats-server already sent still arrive. Without a
         * connection there is nothing to wait for (and no one to answer). */
        if (connected && natsSubscription_DrainTimeout(s->api_sub, DRAIN_TIMEOUT_MS) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(s->api_sub, DRAIN_TIMEOUT_MS + 1000);
        else
            natsSubscription_Unsubscribe(s->api_sub);
    }
    pthread_mutex_lock(&s->lock);
    while (s->queue_count > 0 || s->in_flight > 0) {
        if (s->workers_started == 0) {
            /* no worker to serve them (start failed half-way): drop */
            while (s->queue_count > 0) {
                natsMsg_Destroy(s->queue[s->queue_head]);
                s->queue_head = (s->queue_head + 1) % s->queue_cap;
                s->queue_count--;
            }
            break;
        }
        pthread_cond_wait(&s->idle_cond, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    stop_workers(s);
    remove_hook(s);
    apiserver_events_stop(s);
    if (s->conn != NULL && natsConnection_Status(s->conn) == NATS_CONN_STATUS_CONNECTED)
        natsConnection_FlushTimeout(s->conn, DRAIN_TIMEOUT_MS);
    if (s->events_conn != NULL &&
        natsConnection_Status(s->events_conn) == NATS_CONN_STATUS_CONNECTED)
        natsConnection_FlushTimeout(s->events_conn, DRAIN_TIMEOUT_MS);
    for (int k = 0; k < APISERVER_REPLY_CONNECTIONS; k++)
        if (s->reply_links[k].nc != NULL &&
            natsConnection_Status(s->reply_links[k].nc) == NATS_CONN_STATUS_CONNECTED)
            natsConnection_FlushTimeout(s->reply_links[k].nc, DRAIN_TIMEOUT_MS);
    if (s->api_sub != NULL)
        KUMO_LOG_INFO("apiserver", "drained", "url=%s", s->url);
}

void kumo_apiserver_destroy(kumo_apiserver *s)
{
    if (s == NULL)
        return;
    kumo_apiserver_drain(s);
    natsSubscription_Destroy(s->api_sub);
    if (s->desired.sub != NULL)
        natsSubscription_Destroy(s->desired.sub);
    jsCtx_Destroy(s->desired.js);
    close_nats(s, &s->api);
    close_nats(s, &s->events_link);
    for (int k = 0; k < APISERVER_REPLY_CONNECTIONS; k++)
        close_nats(s, &s->reply_links[k]);
    s->conn = s->events_conn = NULL;
    for (int i = 0; s->workers != NULL && i < s->worker_count; i++)
        kumo_apiserver_response_fini(&s->workers[i].response);
    free(s->workers);
    while (s->queue_count > 0) {
        natsMsg_Destroy(s->queue[s->queue_head]);
        s->queue_head = (s->queue_head + 1) % s->queue_cap;
        s->queue_count--;
    }
    free(s->queue);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work_cond);
    pthread_cond_destroy(&s->idle_cond);
    pthread_mutex_destroy(&s->events.lock);
    pthread_cond_destroy(&s->events.cond);
    free(s);
}
