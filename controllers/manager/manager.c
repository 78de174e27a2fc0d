/*
 * manager.c - leases, a supervisor thread, metrics and driver control on NATS.
 *
 * One slot per controller of controllers/infra. The lease thread only flips
 * the slot's `leading` flag and wakes the supervisor, which starts the
 * controller (informers list, workers start) when it leads and stops it when
 * it does not, so a slow start never delays a lease renewal. A failed start
 * is tried again after a second.
 */
#include "controllers/manager/manager.h"

#include <malloc.h>
#include <math.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "bus/client/client.h"
#include "controllers/app/app.h"
#include "controllers/loadbalancer/loadbalancer.h"
#include "controllers/migration/migration.h"
#include "controllers/infra/infra.h"
#include "controllers/runtime/lease/lease.h"
#include "controllers/runtime/recorder/recorder.h"

#define DEFAULT_PREFIX "kumo.v1"
#define MAX_SLOTS      16

/* How the manager starts, stops and reads one controller, whatever its package. */
typedef struct controller_ops {
    kumo_error (*start)(struct kumo_manager *m, const char *name, void **out, kumo_diag *diag);
    void (*stop)(void *controller);
    kumo_controller *(*runtime)(void *controller);
} controller_ops;

typedef struct slot {
    struct kumo_manager *manager;
    const char *name;
    const controller_ops *ops;
    int enabled;
    kumo_lease *lease;
    atomic_int leading;
    void *running; /* under manager->lock */
    double retry_at_ms;
} slot;

struct kumo_manager {
    kumo_manager_options options;
    char url[512], prefix[128], drivers_dir[1024], holder[256];
    kumo_client *client;
    kumo_informer_set *informers;
    kumo_limiter_set *limiters;
    kumo_cloud *cloud;
    kumo_placement_latency *latency;
    kumo_recorder *recorder;
    kumo_infra_env env;
    natsConnection *agents; /* the agent bus (NULL: no app controller) */
    slot slots[MAX_SLOTS];
    size_t slot_count;
    natsConnection *nc;
    natsSubscription *metrics_sub, *control_sub;
    char metrics_subject[256];
    atomic_int handlers_running; /* NATS callbacks in progress */
    atomic_int closing;          /* set before teardown: callbacks return at once */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the controllers list ----------------------------------------------------------- */

/* 1 when `name` is in the comma list (or the list is NULL/"all"). */
/* ---- the controllers it runs ------------------------------------------------------------ */

static kumo_error infra_start(struct kumo_manager *m, const char *name, void **out, kumo_diag *diag)
{
    return kumo_infra_controller_start(name, &m->env, (kumo_infra_controller **)out, diag);
}

static void infra_stop(void *c)
{
    kumo_infra_controller_stop(c);
}

static kumo_controller *infra_runtime(void *c)
{
    return kumo_infra_controller_runtime(c);
}

static kumo_error app_start(struct kumo_manager *m, const char *name, void **out, kumo_diag *diag)
{
    (void)name;
    kumo_app_env env = {
        .client = m->client,
        .agents = m->agents,
        .ns = m->options.ns,
        .informers = m->informers,
        .recorder = m->recorder,
    };
    return kumo_app_controller_start(&env, (kumo_app_controller **)out, diag);
}

static void app_stop(void *c)
{
    kumo_app_controller_stop(c);
}

static kumo_controller *app_runtime(void *c)
{
    return kumo_app_controller_runtime(c);
}

static kumo_error lb_start(struct kumo_manager *m, const char *name, void **out, kumo_diag *diag)
{
    (void)name;
    kumo_lb_env env = {.client = m->client,
                       .cloud = m->cloud,
                       .ns = m->options.ns,
                       .informers = m->informers,
                       .read_credential = m->options.read_credential,
                       .credential_context = m->options.credential_context};
    return kumo_lb_controller_start(&env, (kumo_lb_controller **)out, diag);
}

static void lb_stop(void *c)
{
    kumo_lb_controller_stop(c);
}

static kumo_controller *lb_runtime(void *c)
{
    return kumo_lb_controller_runtime(c);
}

static kumo_error migration_start(struct kumo_manager *m, const char *name, void **out,
                                  kumo_diag *diag)
{
    (void)name;
    kumo_migration_env env = {.client = m->client, .ns = m->options.ns, .informers = m->informers};
    return kumo_migration_controller_start(&env, (kumo_migration_controller **)out, diag);
}

static void migration_stop(void *c)
{
    kumo_migration_controller_stop(c);
}

static kumo_controller *migration_runtime(void *c)
{
    return kumo_migration_controller_runtime(c);
}

static const controller_ops infra_ops = {infra_start, infra_stop, infra_runtime};
static const controller_ops app_ops = {app_start, app_stop, app_runtime};
static const controller_ops lb_ops = {lb_start, lb_stop, lb_runtime};
static const controller_ops migration_ops = {migration_start, migration_stop, migration_runtime};

/* The controllers after the infra package's, in start order. */
static const struct {
    const char *name;
    const controller_ops *ops;
} others[] = {{"app", &app_ops}, {"loadbalancer", &lb_ops}, {"migration", &migration_ops}};

/* Every controller by name, in start order: the infra package's, then the others. */
static size_t controller_count(void)
{
    return kumo_infra_controller_count() + sizeof(others) / sizeof(others[0]);
}

static const char *controller_name(size_t i)
{
    size_t n = kumo_infra_controller_count();
    return i < n ? kumo_infra_controller_name(i) : others[i - n].name;
}

static const controller_ops *controller_ops_of(size_t i)
{
    size_t n = kumo_infra_controller_count();
    return i < n ? &infra_ops : others[i - n].ops;
}

static int listed(const char *list, const char *name)
{
    if (list == NULL || list[0] == '\0' || strcmp(list, "all") == 0)
        return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

int kumo_manager_controllers_check(const char *list, char *why, size_t why_size)
{
    if (list == NULL || strcmp(list, "all") == 0 || strcmp(list, "none") == 0)
        return 0;
    char known[512] = "";
    size_t at = 0;
    for (size_t i = 0; i < controller_count(); i++)
        at += (size_t)snprintf(known + at, sizeof(known) - at, "%s%s", i ? ", " : "",
                               controller_name(i));
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int found = 0;
        for (size_t i = 0; i < controller_count() && !found; i++)
            found = strlen(controller_name(i)) == len && strncmp(p, controller_name(i), len) == 0;
        if (!found) {
            snprintf(why, why_size,
                     "unknown controller \"%.*s\" in \"%s\"; use all, none or a comma-separated "
                     "list of: %s",
                     (int)len, p, list, known);
            return -1;
        }
        p += len + (end != NULL);
    }
    return 0;
}

/* ---- JSON out ----------------------------------------------------------------------- */

typedef struct jbuf {
    kumo_codec_buffer b;
    int failed;
} jbuf;

static void jprintf(jbuf *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jprintf(jbuf *j, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(small) ||
        kumo_codec_buffer_append(&j->b, small, (size_t)n) != KUMO_ERROR_OK)
        j->failed = 1;
}

/* A JSON string (names and keys here are plain, but quote and backslash are escaped). */
static void jstring(jbuf *j, const char *s)
{
    jprintf(j, "\"");
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            jprintf(j, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            jprintf(j, "\\u%04x", (unsigned char)*s);
        else
            jprintf(j, "%c", *s);
    }
    jprintf(j, "\"");
}

typedef struct conn_walk {
    jbuf *j;
    int first;
} conn_walk;

static void connection_json(void *context, const kumo_cloud_stats *st)
{
    conn_walk *w = context;
    jprintf(w->j, "%s{\"connection\":", w->first ? "" : ",");
    w->first = 0;
    jstring(w->j, st->key);
    jprintf(w->j, ",\"driver\":");
    jstring(w->j, st->driver);
    jprintf(w->j,
            ",\"calls\":%llu,\"failures\":%llu,\"cloudThrottled\":%llu,\"limiterDeferred\":%llu,"
            "\"limiterTimeouts\":%llu,\"inFlight\":%d,\"peakInFlight\":%d,\"qps\":%g}",
            (unsigned long long)st->calls, (unsigned long long)st->failures,
            (unsigned long long)st->cloud_throttled, (unsigned long long)st->limiter_deferred,
            (unsigned long long)st->limiter.timeouts, st->limiter.in_flight,
            st->limiter.peak_in_flight, st->qps);
}

char *kumo_manager_metrics(kumo_manager *m)
{
    jbuf j;
    memset(&j, 0, sizeof(j));
    kumo_codec_buffer_init(&j.b);
    time_t now = time(NULL);
    struct tm tm;
    char when[40];
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    jprintf(&j, "{\"holder\":");
    jstring(&j, m->holder);
    jprintf(&j, ",\"pid\":%d,\"time\":\"%s\",\"controllers\":[", (int)getpid(), when);
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->slot_count; i++) {
        slot *s = &m->slots[i];
        jprintf(&j, "%s{\"name\":\"%s\",\"enabled\":%s,\"leader\":%s,\"running\":%s", i ? "," : "",
                s->name, s->enabled ? "true" : "false", atomic_load(&s->leading) ? "true" : "false",
                s->running ? "true" : "false");
        if (s->running) {
            kumo_controller *c = s->ops->runtime(s->running);
            kumo_controller_stats st;
            kumo_controller_stats_get(c, &st);
            kumo_informer *inf = kumo_controller_informer(c);
            jprintf(&j,
                    ",\"reconciles\":%llu,\"errors\":%llu,\"queueDepth\":%zu,\"delayed\":%zu,"
                    "\"latencyP50Ms\":%.3f,\"latencyP99Ms\":%.3f,\"cachedObjects\":%zu,"
                    "\"cacheBytes\":%zu",
                    (unsigned long long)st.reconciles, (unsigned long long)st.errors,
                    st.queue_depth, st.delayed, st.latency_p50_ms, st.latency_p99_ms,
                    inf ? kumo_informer_count(inf) : 0, inf ? kumo_informer_memory(inf) : 0);
        }
        jprintf(&j, "}");
    }
    pthread_mutex_unlock(&m->lock);
    jprintf(&j, "],\"connections\":[");
    conn_walk w = {&j, 1};
    if (m->cloud)
        kumo_cloud_stats_each(m->cloud, connection_json, &w);
    jprintf(&j, "]}");
    if (j.failed) {
        kumo_codec_buffer_fini(&j.b);
        return NULL;
    }
    return kumo_codec_buffer_take(&j.b, NULL);
}

/* ---- NATS handlers ------------------------------------------------------------------- */

static int leads_any(kumo_manager *m)
{
    for (size_t i = 0; i < m->slot_count; i++)
        if (atomic_load(&m->slots[i].leading))
            return 1;
    return 0;
}

/* Requests are answered by managers that lead something (a follower has nothing to say). */
static void on_metrics(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    kumo_manager *m = closure;
    atomic_fetch_add(&m->handlers_running, 1);
    const char *reply = atomic_load(&m->closing) ? NULL : natsMsg_GetReply(msg);
    if (reply && reply[0] && leads_any(m)) {
        char *json = kumo_manager_metrics(m);
        if (json)
            natsConnection_PublishString(nc, reply, json);
        free(json);
    }
    natsMsg_Destroy(msg);
    atomic_fetch_sub(&m->handlers_running, 1);
}

static int leads(kumo_manager *m, const char *name)
{
    for (size_t i = 0; i < m->slot_count; i++)
        if (strcmp(m->slots[i].name, name) == 0)
            return atomic_load(&m->slots[i].leading);
    return 0;
}

static void reply_error(natsConnection *nc, const char *reply, kumo_error e, const char *message)
{
    jbuf j;
    memset(&j, 0, sizeof(j));
    kumo_codec_buffer_init(&j.b);
    jprintf(&j, "{\"error\":");
    jstring(&j, message);
    jprintf(&j, ",\"reason\":\"%s\"}", kumo_error_reason(e)[0] ? kumo_error_reason(e) : "Error");
    if (!j.failed)
        natsConnection_PublishString(nc, reply, j.b.data);
    kumo_codec_buffer_fini(&j.b);
}

/* P.control.connections.<ns>.<name> {"op": ..., "input": {...}} */
static void on_control(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    kumo_manager *m = closure;
    atomic_fetch_add(&m->handlers_running, 1);
    const char *reply = natsMsg_GetReply(msg);
    if (atomic_load(&m->closing) || reply == NULL || reply[0] == '\0' || !leads(m, "connection")) {
        natsMsg_Destroy(msg);
        atomic_fetch_sub(&m->handlers_running, 1);
        return; /* the process that leads the connection controller answers */
    }
    char subject[512], *ns = NULL, *name = NULL;
    snprintf(subject, sizeof(subject), "%s", natsMsg_GetSubject(msg));
    char *tail = subject + strlen(m->prefix) + strlen(".control.connections.");
    if (strlen(subject) > (size_t)(tail - subject)) {
        ns = tail;
        name = strchr(tail, '.');
        if (name)
            *name++ = '\0';
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_value *body = NULL;
    const kumo_value *op = NULL, *input = NULL;
    kumo_codec_buffer in;
    kumo_codec_buffer_init(&in);
    kumo_error e = KUMO_ERROR_OK;
    if (ns == NULL || name == NULL || name[0] == '\0') {
        e = kumo_diag_set(&diag, KUMO_ERROR_INVALID_ARGUMENT,
                          "subject must be %s.control.connections.<namespace>.<name>", m->prefix);
    } else if ((e = kumo_codec_value_parse_json(natsMsg_GetData(msg),
                                                (size_t)natsMsg_GetDataLength(msg), NULL, &body,
                                                &diag)) == KUMO_ERROR_OK) {
        op = kumo_codec_value_get(body, "op");
        input = kumo_codec_value_get(body, "input");
        if (op == NULL || op->type != KUMO_VALUE_STRING)
            e = kumo_diag_set(&diag, KUMO_ERROR_INVALID_ARGUMENT,
                              "the request needs {\"op\": \"<operation>\", \"input\": {...}}");
        else if (input)
            e = kumo_codec_value_to_json(input, 0, &in);
    }
    ProtobufCMessage *connection = NULL;
    kumo_cloud_conn *conn = NULL;
    char *out = NULL;
    if (e == KUMO_ERROR_OK)
        e = kumo_client_get(m->client, kumo_object_kind_lookup("Connection"), ns, name, &connection,
                            &diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_cloud_open(m->cloud, connection, &conn, &diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_cloud_control(conn, op->text, input ? in.data : NULL, &out, &diag);
    if (e == KUMO_ERROR_OK)
        natsConnection_PublishString(nc, reply, out);
    else
        reply_error(nc, reply, e, diag.message[0] ? diag.message : kumo_error_text(e));
    free(out);
    kumo_cloud_conn_release(conn);
    kumo_object_destroy(connection);
    kumo_codec_buffer_fini(&in);
    kumo_codec_value_destroy(body);
    kumo_diag_fini(&diag);
    natsMsg_Destroy(msg);
    atomic_fetch_sub(&m->handlers_running, 1);
}

/* ---- supervision ------------------------------------------------------------------- */

static void on_lease(void *context, int leading)
{
    slot *s = context;
    atomic_store(&s->leading, leading);
    KUMO_LOG_INFO("manager", leading ? "leading" : "not leading", "controller=%s holder=%s",
                  s->name, s->manager->holder);
    pthread_mutex_lock(&s->manager->lock);
    pthread_cond_signal(&s->manager->wake);
    pthread_mutex_unlock(&s->manager->lock);
}

static void slot_step(kumo_manager *m, slot *s)
{
    int leading = atomic_load(&s->leading);
    pthread_mutex_lock(&m->lock);
    void *running = s->running;
    pthread_mutex_unlock(&m->lock);
    int connected = natsConnection_Status(m->nc) == NATS_CONN_STATUS_CONNECTED;
    if (leading && running == NULL && now_ms() >= s->retry_at_ms && connected) {
        kumo_diag diag;
        kumo_diag_init(&diag);
        void *c = NULL;
        double started = now_ms();
        kumo_error e = s->ops->start(m, s->name, &c, &diag);
        if (e == KUMO_ERROR_OK) {
            pthread_mutex_lock(&m->lock);
            s->running = c;
            pthread_mutex_unlock(&m->lock);
            KUMO_LOG_INFO("manager", "controller started", "controller=%s took_ms=%.0f", s->name,
                          now_ms() - started);
        } else {
            s->retry_at_ms = now_ms() + 1000;
            KUMO_LOG_WARN("manager", "controller did not start; retrying",
                          "controller=%s error=%s detail=\"%s\"", s->name, kumo_error_name(e),
                          diag.message);
        }
        kumo_diag_fini(&diag);
    } else if (!leading && running != NULL) {
        pthread_mutex_lock(&m->lock);
        s->running = NULL;
        pthread_mutex_unlock(&m->lock);
        s->ops->stop(running);
        KUMO_LOG_INFO("manager", "controller stopped (lease lost)", "controller=%s", s->name);
    }
}

static void publish_metrics(kumo_manager *m)
{
    char *json = kumo_manager_metrics(m);
    if (json)
        natsConnection_PublishString(m->nc, m->metrics_subject, json);
    free(json);
}

static void *supervise(void *arg)
{
    kumo_manager *m = arg;
    double next_metrics = now_ms() + m->options.metrics_interval_ms;
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        pthread_mutex_unlock(&m->lock);
        for (size_t i = 0; i < m->slot_count; i++) {
            pthread_mutex_lock(&m->lock);
            int stop = m->stopping;
            pthread_mutex_unlock(&m->lock);
            if (stop)
                break;
            if (m->slots[i].enabled)
                slot_step(m, &m->slots[i]);
        }
        if (now_ms() >= next_metrics) {
            publish_metrics(m);
            next_metrics = now_ms() + m->options.metrics_interval_ms;
#ifdef __GLIBC__
            /* Bursts (thousands of objects decoded, queued, encoded) leave free memory in
             * glibc's per-thread arenas; give it back to the system. */
            malloc_trim(0);
#endif
        }
        pthread_mutex_lock(&m->lock);
        if (m->stopping)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->wake, &m->lock, &until);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* ---- start/stop -------------------------------------------------------------------- */

#define MANAGER_CONNECTION_NAME "kumo-controller-manager"

static kumo_error nats_connect(kumo_manager *m, kumo_diag *diag)
{
    natsStatus s = kumo_client_nats_connect(m->url, NULL, NULL, MANAGER_CONNECTION_NAME, &m->nc);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&m->metrics_sub, m->nc, m->metrics_subject, on_metrics, m);
    char control[300];
    snprintf(control, sizeof(control), "%s.control.connections.*.*", m->prefix);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&m->control_sub, m->nc, control, on_control, m);
    if (s != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "controller manager: cannot use NATS at %s: %s", m->url,
                                     natsStatus_GetText(s));
    return KUMO_ERROR_OK;
}

/* kumod's user on the agent bus, for the app controller. */
static kumo_error agents_connect(kumo_manager *m, kumo_diag *diag)
{
    natsStatus s =
        kumo_client_nats_connect(m->options.agent_url, m->options.agent_user,
                                 m->options.agent_password, MANAGER_CONNECTION_NAME, &m->agents);
    if (s != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "controller manager: cannot join the agent bus at %s: %s",
                                     m->options.agent_url, natsStatus_GetText(s));
    return KUMO_ERROR_OK;
}

/* A lease name from the prefix and the controller: letters, digits, - and _ only. */
static void lease_name(const char *prefix, const char *controller, char *buf, size_t size)
{
    snprintf(buf, size, "%s-controller-%s", prefix, controller);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            *p = '_';
}

kumo_error kumo_manager_start(const kumo_manager_options *options, kumo_manager **out,
                              kumo_diag *diag)
{
    *out = NULL;
    char why[512];
    if (options->nats_url == NULL || options->drivers_dir == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "controller manager: a NATS URL and a drivers dir are required");
    if (kumo_manager_controllers_check(options->controllers, why, sizeof(why)) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "%s", why);
    kumo_manager *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    m->options = *options;
    snprintf(m->url, sizeof(m->url), "%s", options->nats_url);
    snprintf(m->prefix, sizeof(m->prefix), "%s",
             options->prefix ? options->prefix : DEFAULT_PREFIX);
    snprintf(m->drivers_dir, sizeof(m->drivers_dir), "%s", options->drivers_dir);
    if (options->holder) {
        snprintf(m->holder, sizeof(m->holder), "%s", options->holder);
    } else {
        char host[128] = "host";
        gethostname(host, sizeof(host) - 1);
        snprintf(m->holder, sizeof(m->holder), "%s-%d", host, (int)getpid());
    }
    if (m->options.metrics_interval_ms <= 0)
        m->options.metrics_interval_ms = 5000;
    snprintf(m->metrics_subject, sizeof(m->metrics_subject), "%s.metrics.controllers", m->prefix);
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &attr);
    pthread_condattr_destroy(&attr);

    kumo_error e = KUMO_ERROR_OK;
    kumo_client_options co = {.url = m->url,
                              .prefix = m->prefix,
                              .format = KUMO_CODEC_FORMAT_PROTOBUF,
                              /* Bounds how long a stop waits for a start stuck on a dead
                               * NATS; writes that time out are retried idempotently. */
                              .timeout_ms = 3000,
                              .name = "kumo-controllers"};
    e = kumo_client_connect(&co, &m->client, diag);
    if (e == KUMO_ERROR_OK) {
        kumo_recorder_options ro = {.client = m->client,
                                    .component = "kumo-controllers",
                                    .instance = m->holder,
                                    .ttl_seconds = options->event_ttl_seconds,
                                    .namespace_max = options->events_per_namespace};
        e = kumo_recorder_create(&ro, &m->recorder, diag);
    }
    if (e == KUMO_ERROR_OK && options->latency_table && options->latency_table[0])
        e = kumo_placement_latency_load(options->latency_table, &m->latency, diag);
    if (e == KUMO_ERROR_OK &&
        (m->informers = kumo_informer_set_create(m->client, options->ns)) == NULL)
        e = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    if (e == KUMO_ERROR_OK && (m->limiters = kumo_limiter_set_create()) == NULL)
        e = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    if (e == KUMO_ERROR_OK) {
        kumo_cloud_options cloud = {.drivers_dir = m->drivers_dir,
                                    .limiters = m->limiters,
                                    .call_timeout_ms = options->call_timeout_ms,
                                    .read_credential = options->read_credential,
                                    .credential_context = options->credential_context,
                                    .state_root = options->state_root};
        e = kumo_cloud_create(&cloud, &m->cloud, diag);
    }
    if (e == KUMO_ERROR_OK)
        e = nats_connect(m, diag);
    m->env =
        (kumo_infra_env){.client = m->client,
                         .cloud = m->cloud,
                         .latency = m->latency,
                         .ns = options->ns,
                         .informers = m->informers,
                         .workers = options->workers,
                         .drift_poll_ms = options->drift_poll_ms,
                         .boot_poll_ms = options->boot_poll_ms,
                         .probe_interval_ms = options->probe_interval_ms,
                         .agent_bootstrap = options->agent_url ? options->agent_bootstrap : NULL,
                         .agent_context = options->agent_context,
                         .recorder = m->recorder,
                         .max_machines_per_namespace = options->max_machines_per_namespace,
                         .measured_latency = options->measured_latency,
                         .measured_context = options->measured_context};
    int none = options->controllers && strcmp(options->controllers, "none") == 0;
    if (e == KUMO_ERROR_OK && options->agent_url && !none && listed(options->controllers, "app"))
        e = agents_connect(m, diag);
    for (size_t i = 0; e == KUMO_ERROR_OK && i < controller_count() && i < MAX_SLOTS; i++) {
        slot *s = &m->slots[m->slot_count++];
        s->manager = m;
        s->name = controller_name(i);
        s->ops = controller_ops_of(i);
        /* The app controller needs the agent bus. */
        s->enabled = !none && listed(options->controllers, s->name) &&
                     (s->ops != &app_ops || m->agents != NULL);
        atomic_init(&s->leading, 0);
        if (!s->enabled)
            continue;
        char name[200];
        lease_name(m->prefix, s->name, name, sizeof(name));
        kumo_lease_options lo = {.url = m->url,
                                 .name = name,
                                 .holder = m->holder,
                                 .duration_ms = options->lease_duration_ms,
                                 .on_change = on_lease,
                                 .context = s};
        e = kumo_lease_start(&lo, &s->lease, diag);
    }
    if (e == KUMO_ERROR_OK) {
        if (pthread_create(&m->thread, NULL, supervise, m) != 0)
            e = kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "cannot start the manager thread");
        else
            m->thread_started = 1;
    }
    if (e != KUMO_ERROR_OK) {
        kumo_manager_stop(m);
        return e;
    }
    KUMO_LOG_INFO("manager", "controller manager started", "holder=%s controllers=%s drivers=%s",
                  m->holder, options->controllers ? options->controllers : "all", m->drivers_dir);
    *out = m;
    return KUMO_ERROR_OK;
}

void kumo_manager_stop(kumo_manager *m)
{
    if (m == NULL)
        return;
    /* No handler may run once the controllers and the registry go. */
    atomic_store(&m->closing, 1);
    natsSubscription *subs[2] = {m->control_sub, m->metrics_sub};
    for (int i = 0; i < 2; i++)
        if (subs[i] && natsConnection_Status(m->nc) == NATS_CONN_STATUS_CONNECTED &&
            natsSubscription_Drain(subs[i]) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(subs[i], 2000);
    if (m->thread_started) {
        pthread_mutex_lock(&m->lock);
        m->stopping = 1;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    /* Controllers first (reverse start order: the Infra stops before the Machines). */
    for (size_t i = m->slot_count; i-- > 0;) {
        pthread_mutex_lock(&m->lock);
        void *c = m->slots[i].running;
        m->slots[i].running = NULL;
        pthread_mutex_unlock(&m->lock);
        if (c)
            m->slots[i].ops->stop(c);
    }
    for (size_t i = 0; i < m->slot_count; i++)
        if (m->slots[i].lease)
            kumo_lease_stop(m->slots[i].lease);
    for (int i = 0; i < 2; i++)
        if (subs[i])
            natsSubscription_Unsubscribe(subs[i]);
    for (int waited = 0; atomic_load(&m->handlers_running) > 0 && waited < 10000; waited++) {
        struct timespec pause = {0, 1000000L};
        nanosleep(&pause, NULL);
    }
    kumo_informer_set_destroy(m->informers);
    kumo_recorder_destroy(m->recorder);
    natsSubscription_Destroy(m->control_sub);
    natsSubscription_Destroy(m->metrics_sub);
    natsConnection_Destroy(m->nc);
    natsConnection_Destroy(m->agents);
    kumo_cloud_destroy(m->cloud);
    kumo_limiter_set_destroy(m->limiters);
    kumo_placement_latency_destroy(m->latency);
    kumo_client_destroy(m->client);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m);
}

int kumo_manager_running(kumo_manager *m, const char *controller)
{
    int running = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->slot_count; i++)
        if (strcmp(m->slots[i].name, controller) == 0)
            running = m->slots[i].running != NULL;
    pthread_mutex_unlock(&m->lock);
    return running;
}
