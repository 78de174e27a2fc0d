/*
 * monitor.c - starting and stopping the monitor: the agent-bus subscription
 * (reports in), the peers thread (peers out, stale machines swept once a
 * second), the API-bus subscription that answers `kumoctl top`, and
 * `/metrics` over HTTP with libevent's evhttp on a thread of its own.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "bus/agent/agent.h"
#include "bus/monitor/internal.h"

static const double scrape_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

static void counters_init(kumo_monitor *m)
{
    kumo_metrics_spec reports = {.name = "kumo_monitor_reports_total",
                                 .help = "Agent metric reports taken.",
                                 .type = KUMO_METRICS_COUNTER};
    kumo_metrics_spec samples = {.name = "kumo_monitor_samples_total",
                                 .help = "Samples in the agent metric reports taken.",
                                 .type = KUMO_METRICS_COUNTER};
    kumo_metrics_spec rejected = {
        .name = "kumo_monitor_reports_rejected_total",
        .help = "Agent metric reports refused (not protobuf, or another machine's uid).",
        .type = KUMO_METRICS_COUNTER};
    kumo_metrics_spec scrape = {.name = "kumo_monitor_scrape_seconds",
                                .help = "Time to write /metrics.",
                                .type = KUMO_METRICS_HISTOGRAM,
                                .buckets = scrape_buckets,
                                .bucket_count = sizeof(scrape_buckets) / sizeof(double)};
    m->reports = kumo_metrics_series_get(kumo_metrics_family_get(&reports), NULL);
    m->samples = kumo_metrics_series_get(kumo_metrics_family_get(&samples), NULL);
    m->rejected = kumo_metrics_series_get(kumo_metrics_family_get(&rejected), NULL);
    m->scrape_seconds = kumo_metrics_family_get(&scrape);
}

void kumo_monitor_write(kumo_monitor *m, kumo_metrics_text *text)
{
    double start = kumo_metrics_now();
    kumo_metrics_write(text);
    pthread_mutex_lock(&m->lock);
    monitor_fleet_sweep(m, start);
    monitor_fleet_write(m, text);
    monitor_latency_write(m, text, start);
    pthread_mutex_unlock(&m->lock);
    kumo_metrics_record(m->scrape_seconds, NULL, kumo_metrics_now() - start);
}

/* ---- HTTP ----------------------------------------------------------------------------- */

static void free_text(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

static void on_http(struct evhttp_request *req, void *arg)
{
    kumo_monitor *m = arg;
    struct evbuffer *body = evbuffer_new();
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (body == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    if (path == NULL || strcmp(path, "/metrics") != 0) {
        evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
        evbuffer_add_printf(body, "kumod serves only /metrics here\n");
        evhttp_send_reply(req, HTTP_NOTFOUND, "Not Found", body);
    } else if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
               evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evhttp_add_header(headers, "Allow", "GET, HEAD");
        evhttp_send_reply(req, 405, "Method Not Allowed", body);
    } else {
        kumo_metrics_text text;
        kumo_metrics_text_init(&text);
        kumo_monitor_write(m, &text);
        if (text.failed) {
            evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        } else {
            evhttp_add_header(headers, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            if (evbuffer_add_reference(body, text.data, text.len, free_text, NULL) == 0)
                text.data = NULL; /* the buffer frees it once sent */
            evhttp_send_reply(req, HTTP_OK, "OK", body);
        }
        kumo_metrics_text_fini(&text);
    }
    evbuffer_free(body);
}

static void *http_main(void *arg)
{
    kumo_monitor *m = arg;
    event_base_dispatch(m->base);
    return NULL;
}

static kumo_error http_start(kumo_monitor *m, const char *listen, kumo_diag *diag)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= sizeof(host) ||
        end == NULL || *end != '\0' || port < 0 || port > 65535)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "--metrics-listen: Invalid value: \"%s\": must be HOST:PORT", listen);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    evthread_use_pthreads();
    m->base = event_base_new();
    m->http = m->base ? evhttp_new(m->base) : NULL;
    if (m->http == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot create the HTTP server");
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(m->http, on_http, m);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(m->http, host, (int)port);
    if (bound == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE,
                             "--metrics-listen %s: cannot listen (%s); pick another port with "
                             "--metrics-listen HOST:PORT, or none",
                             listen, strerror(errno));
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &len) == 0)
        m->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                 : ((struct sockaddr_in *)&sa)->sin_port);
    if (pthread_create(&m->http_thread, NULL, http_main, m) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "cannot start the HTTP thread");
    m->http_started = 1;
    return KUMO_ERROR_OK;
}

/* ---- the top requests: <prefix>.monitor.machines|apps|latency ---------------------------- */

static void on_top(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    kumo_monitor *m = closure;
    if (!monitor_callback_enter(m)) {
        natsMsg_Destroy(msg);
        return;
    }
    const char *subject = natsMsg_GetSubject(msg), *reply = natsMsg_GetReply(msg);
    const char *what = strrchr(subject, '.');
    ProtobufCMessage *answer = NULL;
    pthread_mutex_lock(&m->lock);
    monitor_fleet_sweep(m, kumo_metrics_now());
    if (what && strcmp(what, ".machines") == 0)
        answer = (ProtobufCMessage *)monitor_top_machines(m);
    else if (what && strcmp(what, ".apps") == 0)
        answer = (ProtobufCMessage *)monitor_top_apps(m);
    else if (what && strcmp(what, ".latency") == 0)
        answer = (ProtobufCMessage *)monitor_latency_matrix(m, kumo_metrics_now());
    pthread_mutex_unlock(&m->lock);
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    if (answer == NULL || kumo_codec_json_encode(answer, NULL, &out, NULL) != KUMO_ERROR_OK) {
        kumo_codec_buffer_reset(&out);
        const char *e = "{\"error\":\"unknown monitor request or out of memory\"}";
        kumo_codec_buffer_append(&out, e, strlen(e));
    }
    if (reply && reply[0])
        natsConnection_Publish(nc, reply, out.data, (int)out.len);
    if (answer)
        protobuf_c_message_free_unpacked(answer, NULL);
    kumo_codec_buffer_fini(&out);
    natsMsg_Destroy(msg);
    monitor_callback_leave(m);
}

int monitor_callback_enter(kumo_monitor *m)
{
    atomic_fetch_add(&m->active, 1);
    if (!atomic_load(&m->closing))
        return 1;
    atomic_fetch_sub(&m->active, 1);
    return 0;
}

void monitor_callback_leave(kumo_monitor *m)
{
    atomic_fetch_sub(&m->active, 1);
}

/* ---- the peers thread ------------------------------------------------------------------ */

static void *peers_main(void *arg)
{
    kumo_monitor *m = arg;
    double next_peers = 0;
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&m->wake, &m->lock, &until);
        if (m->stopping)
            break;
        double now = kumo_metrics_now();
        monitor_fleet_sweep(m, now);
        if (now < next_peers || m->agent_nc == NULL)
            continue;
        next_peers = now + m->peers_interval_ms / 1000.0;
        pthread_mutex_unlock(&m->lock);
        monitor_peers_send(m);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

static kumo_error buses_start(kumo_monitor *m, const kumo_monitor_options *o, kumo_diag *diag)
{
    char subject[200];
    snprintf(subject, sizeof(subject), "%s.monitor.*", m->api_prefix);
    natsStatus s = kumo_client_nats_connect(o->api_url, NULL, NULL, "kumod-monitor", &m->api_nc);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&m->top_sub, m->api_nc, subject, on_top, m);
    if (s != NATS_OK)
        return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE, "monitor: API bus %s: %s", o->api_url,
                             natsStatus_GetText(s));
    if (o->agent_url == NULL)
        return KUMO_ERROR_OK;
    snprintf(subject, sizeof(subject), "%s.*.metrics", m->agent_prefix);
    s = kumo_client_nats_connect(o->agent_url, o->agent_user, o->agent_password, "kumod-monitor",
                                 &m->agent_nc);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&m->metrics_sub, m->agent_nc, subject, monitor_on_metrics, m);
    if (s == NATS_OK) /* reports may come in bursts: hold them rather than drop them */
        s = natsSubscription_SetPendingLimits(m->metrics_sub, 1000000, 1024 * 1024 * 1024);
    if (s == NATS_OK) /* subscribed before anything says kumod serves */
        s = natsConnection_FlushTimeout(m->agent_nc, 5000);
    if (s != NATS_OK)
        return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE, "monitor: agent bus %s: %s",
                             o->agent_url, natsStatus_GetText(s));
    return KUMO_ERROR_OK;
}

kumo_error kumo_monitor_start(const kumo_monitor_options *o, kumo_monitor **out, kumo_diag *diag)
{
    kumo_monitor *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    snprintf(m->agent_prefix, sizeof(m->agent_prefix), "%s", KUMO_AGENT_PREFIX);
    snprintf(m->api_prefix, sizeof(m->api_prefix), "%s", o->api_prefix ? o->api_prefix : "kumo.v1");
    m->peers_interval_ms = o->peers_interval_ms > 0 ? o->peers_interval_ms : 10000;
    m->machines = kumo_map_create();
    m->connections = kumo_map_create();
    m->entries = kumo_map_create();
    m->cells = kumo_map_create();
    counters_init(m);
    kumo_error e = m->machines && m->connections && m->entries && m->cells
                       ? KUMO_ERROR_OK
                       : kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    kumo_client_options co = {.url = o->api_url, .prefix = o->api_prefix, .name = "kumod-monitor"};
    if (e == KUMO_ERROR_OK)
        e = kumo_client_connect(&co, &m->client, diag);
    if (e == KUMO_ERROR_OK)
        e = monitor_labels_start(m, diag);
    if (e == KUMO_ERROR_OK)
        e = buses_start(m, o, diag);
    if (e == KUMO_ERROR_OK && o->listen && o->listen[0] && strcmp(o->listen, "none") != 0)
        e = http_start(m, o->listen, diag);
    if (e == KUMO_ERROR_OK) {
        if (pthread_create(&m->peers_thread, NULL, peers_main, m) != 0)
            e = kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "cannot start the monitor thread");
        else
            m->peers_started = 1;
    }
    if (e != KUMO_ERROR_OK) {
        kumo_monitor_stop(m);
        return e;
    }
    *out = m;
    return KUMO_ERROR_OK;
}

int kumo_monitor_port(const kumo_monitor *m)
{
    return m ? m->port : 0;
}

static void free_value(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    free(value);
}

void kumo_monitor_stop(kumo_monitor *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->stopping = 1;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
    if (m->peers_started)
        pthread_join(m->peers_thread, NULL);
    if (m->http_started) {
        event_base_loopbreak(m->base);
        pthread_join(m->http_thread, NULL);
    }
    if (m->http)
        evhttp_free(m->http);
    if (m->base)
        event_base_free(m->base);
    /* Callbacks that start from now on return at once; wait for those in flight (also when
     * the bus is gone: closing never waits for a server). */
    atomic_store(&m->closing, 1);
    if (m->agent_nc)
        natsConnection_Close(m->agent_nc);
    if (m->api_nc)
        natsConnection_Close(m->api_nc);
    for (int i = 0; i < 5000 && atomic_load(&m->active) > 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    natsSubscription_Destroy(m->metrics_sub);
    natsSubscription_Destroy(m->top_sub);
    natsConnection_Destroy(m->agent_nc);
    natsConnection_Destroy(m->api_nc);
    kumo_client_watch_stop(m->machine_watch);
    kumo_client_watch_stop(m->connection_watch);
    kumo_client_destroy(m->client);
    if (m->entries)
        monitor_fleet_free(m);
    if (m->cells)
        monitor_latency_free(m);
    if (m->machines)
        kumo_map_each(m->machines, free_value, NULL);
    if (m->connections)
        kumo_map_each(m->connections, free_value, NULL);
    kumo_map_destroy(m->machines);
    kumo_map_destroy(m->connections);
    kumo_map_destroy(m->entries);
    kumo_map_destroy(m->cells);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
