/*
 * metrics.c - the metrics publisher (metrics.h): the counters of every row and
 * every Connection as one JSON document (shape: docs/controllers.md).
 */
#include "controllers/manager/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controllers/manager/json.h"
#include "controllers/manager/supervisor.h"

typedef struct conn_walk {
    manager_json *j;
    int first;
} conn_walk;

static void connection_json(void *context, const kumo_cloud_stats *st)
{
    conn_walk *w = context;
    manager_json_printf(w->j, "%s{\"connection\":", w->first ? "" : ",");
    w->first = 0;
    manager_json_string(w->j, st->key);
    manager_json_printf(w->j, ",\"driver\":");
    manager_json_string(w->j, st->driver);
    manager_json_printf(
        w->j,
        ",\"calls\":%llu,\"failures\":%llu,\"cloudThrottled\":%llu,\"limiterDeferred\":%llu,"
        "\"limiterTimeouts\":%llu,\"inFlight\":%d,\"peakInFlight\":%d,\"qps\":%g}",
        (unsigned long long)st->calls, (unsigned long long)st->failures,
        (unsigned long long)st->cloud_throttled, (unsigned long long)st->limiter_deferred,
        (unsigned long long)st->limiter.timeouts, st->limiter.in_flight, st->limiter.peak_in_flight,
        st->qps);
}

/* One row's entry; the runtime counters only while it runs. Under m->lock. */
static void slot_json(manager_json *j, const manager_slot *s, int first)
{
    manager_json_printf(j, "%s{\"name\":\"%s\",\"enabled\":%s,\"leader\":%s,\"running\":%s",
                        first ? "" : ",", s->row->name, s->enabled ? "true" : "false",
                        atomic_load(&s->leading) ? "true" : "false", s->running ? "true" : "false");
    if (s->running) {
        kumo_controller *c = s->row->runtime(s->running);
        kumo_controller_stats st;
        kumo_controller_stats_get(c, &st);
        kumo_informer *inf = kumo_controller_informer(c);
        manager_json_printf(
            j,
            ",\"reconciles\":%llu,\"errors\":%llu,\"queueDepth\":%zu,\"delayed\":%zu,"
            "\"latencyP50Ms\":%.3f,\"latencyP99Ms\":%.3f,\"cachedObjects\":%zu,"
            "\"cacheBytes\":%zu",
            (unsigned long long)st.reconciles, (unsigned long long)st.errors, st.queue_depth,
            st.delayed, st.latency_p50_ms, st.latency_p99_ms, inf ? kumo_informer_count(inf) : 0,
            inf ? kumo_informer_memory(inf) : 0);
    }
    manager_json_printf(j, "}");
}

char *kumo_manager_metrics(kumo_manager *m)
{
    manager_json j;
    manager_json_init(&j);
    time_t now = time(NULL);
    struct tm tm;
    char when[40];
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    manager_json_printf(&j, "{\"holder\":");
    manager_json_string(&j, m->holder);
    manager_json_printf(&j, ",\"pid\":%d,\"time\":\"%s\",\"controllers\":[", (int)getpid(), when);
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->slot_count; i++)
        slot_json(&j, &m->slots[i], i == 0);
    pthread_mutex_unlock(&m->lock);
    manager_json_printf(&j, "],\"connections\":[");
    conn_walk w = {&j, 1};
    if (m->env.cloud)
        kumo_cloud_stats_each(m->env.cloud, connection_json, &w);
    manager_json_printf(&j, "]}");
    if (j.failed) {
        kumo_codec_buffer_fini(&j.b);
        return NULL;
    }
    return kumo_codec_buffer_take(&j.b, NULL);
}

/* Requests are answered by managers that lead something (a follower has nothing to say). */
static void on_metrics(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    kumo_manager *m = closure;
    if (manager_handler_enter(m)) {
        const char *reply = natsMsg_GetReply(msg);
        if (reply && reply[0] && manager_leads_any(m)) {
            char *json = kumo_manager_metrics(m);
            if (json)
                natsConnection_PublishString(nc, reply, json);
            free(json);
        }
        manager_handler_leave(m);
    }
    natsMsg_Destroy(msg);
}

kumo_error manager_metrics_subscribe(kumo_manager *m, kumo_diag *diag)
{
    snprintf(m->metrics_subject, sizeof(m->metrics_subject), "%s.metrics.controllers", m->prefix);
    natsStatus s =
        natsConnection_Subscribe(&m->metrics_sub, m->nc, m->metrics_subject, on_metrics, m);
    if (s != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "controller manager: cannot subscribe to %s: %s",
                                     m->metrics_subject, natsStatus_GetText(s));
    return KUMO_ERROR_OK;
}

void manager_metrics_publish(kumo_manager *m)
{
    char *json = kumo_manager_metrics(m);
    if (json)
        natsConnection_PublishString(m->nc, m->metrics_subject, json);
    free(json);
}
