/*
 * manager.c - starts and stops the manager's jobs in order (internal.h): the
 * shared clients, the subscriptions, the agent-bus link, the leases and the
 * supervisor. Which controllers exist is table.c's business, not this file's.
 */
#include "controllers/manager/manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/log/log.h"
#include "controllers/manager/agentlink.h"
#include "controllers/manager/control.h"
#include "controllers/manager/internal.h"
#include "controllers/manager/metrics.h"
#include "controllers/manager/supervisor.h"

#define DEFAULT_PREFIX "kumo.v1"
/* Bounds how long a stop waits for a start stuck on a dead NATS; writes that time out
 * are retried idempotently. */
#define MANAGER_CLIENT_TIMEOUT_MS 3000
#define MANAGER_DRAIN_WAIT_MS     2000  /* per subscription, at stop */
#define MANAGER_HANDLER_WAIT_MS   10000 /* for NATS callbacks still running, at stop */

/* ---- the table, by name ----------------------------------------------------------------- */

size_t kumo_manager_controller_count(void)
{
    size_t count;
    manager_rows(&count);
    return count;
}

const char *kumo_manager_controller_name(size_t index)
{
    size_t count;
    const manager_row *rows = manager_rows(&count);
    return index < count ? rows[index].name : NULL;
}

/* 1 when the list's entry p[0..len) names a row. */
static int known(const char *p, size_t len)
{
    for (size_t i = 0; i < kumo_manager_controller_count(); i++) {
        const char *name = kumo_manager_controller_name(i);
        if (strlen(name) == len && strncmp(p, name, len) == 0)
            return 1;
    }
    return 0;
}

kumo_error kumo_manager_controllers_check(const char *list, kumo_diag *diag)
{
    if (list == NULL || strcmp(list, "all") == 0 || strcmp(list, "none") == 0)
        return KUMO_ERROR_OK;
    char names[512] = "";
    size_t at = 0;
    for (size_t i = 0; i < kumo_manager_controller_count() && at < sizeof(names); i++)
        at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s", i ? ", " : "",
                               kumo_manager_controller_name(i));
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!known(p, len))
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "unknown controller \"%.*s\" in \"%s\"; use all, none or a "
                                 "comma-separated list of: %s",
                                 (int)len, p, list, names);
        p += len + (end != NULL);
    }
    return KUMO_ERROR_OK;
}

/* ---- start: named steps ----------------------------------------------------------------- */

/* 1 when some row the list turns on needs `what` (MANAGER_NEEDS_*). */
static int needed(const kumo_manager_options *o, unsigned what)
{
    size_t count;
    const manager_row *rows = manager_rows(&count);
    for (size_t i = 0; i < count; i++)
        if ((rows[i].needs & what) && manager_listed(o->controllers, &rows[i]))
            return 1;
    return 0;
}

static kumo_error options_check(const kumo_manager_options *o, kumo_diag *diag)
{
    if (o->nats_url == NULL || o->drivers_dir == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "controller manager: a NATS URL and a drivers dir are required");
    return kumo_manager_controllers_check(o->controllers, diag);
}

/* Allocates the manager and copies the options with their defaults; NULL when out of memory. */
static kumo_manager *manager_create(const kumo_manager_options *o)
{
    kumo_manager *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->options = *o;
    m->env.options = &m->options;
    snprintf(m->url, sizeof(m->url), "%s", o->nats_url);
    snprintf(m->prefix, sizeof(m->prefix), "%s", o->prefix ? o->prefix : DEFAULT_PREFIX);
    snprintf(m->drivers_dir, sizeof(m->drivers_dir), "%s", o->drivers_dir);
    if (o->holder) {
        snprintf(m->holder, sizeof(m->holder), "%s", o->holder);
    } else {
        char host[128] = "host";
        gethostname(host, sizeof(host) - 1);
        snprintf(m->holder, sizeof(m->holder), "%s-%d", host, (int)getpid());
    }
    if (m->options.metrics_interval_ms <= 0)
        m->options.metrics_interval_ms = MANAGER_METRICS_INTERVAL_MS;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &attr);
    pthread_condattr_destroy(&attr);
    return m;
}

/* The API client, the event recorder and the shared informers. */
static kumo_error clients_open(kumo_manager *m, kumo_diag *diag)
{
    kumo_client_options co = {.url = m->url,
                              .prefix = m->prefix,
                              .format = KUMO_CODEC_FORMAT_PROTOBUF,
                              .timeout_ms = MANAGER_CLIENT_TIMEOUT_MS,
                              .name = "kumo-controllers"};
    kumo_error e = kumo_client_connect(&co, &m->env.client, diag);
    if (e == KUMO_ERROR_OK) {
        kumo_recorder_options ro = {.client = m->env.client,
                                    .component = "kumo-controllers",
                                    .instance = m->holder,
                                    .ttl_seconds = m->options.event_ttl_seconds,
                                    .namespace_max = m->options.events_per_namespace};
        e = kumo_recorder_create(&ro, &m->env.recorder, diag);
    }
    if (e == KUMO_ERROR_OK &&
        (m->env.informers = kumo_informer_set_create(m->env.client, m->options.ns)) == NULL)
        e = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    return e;
}

/* The latency table, the limiters and the cloud registry, when a row needs the cloud. */
static kumo_error cloud_open(kumo_manager *m, kumo_diag *diag)
{
    const kumo_manager_options *o = &m->options;
    kumo_error e = KUMO_ERROR_OK;
    if (o->latency_table && o->latency_table[0]) {
        e = kumo_placement_latency_load(o->latency_table, &m->latency, diag);
        m->env.latency = m->latency;
    }
    if (e != KUMO_ERROR_OK || !needed(o, MANAGER_NEEDS_CLOUD))
        return e;
    if ((m->limiters = kumo_limiter_set_create()) == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    kumo_cloud_options cloud = {.drivers_dir = m->drivers_dir,
                                .limiters = m->limiters,
                                .call_timeout_ms = o->call_timeout_ms,
                                .read_credential = o->read_credential,
                                .credential_context = o->credential_context,
                                .state_root = o->state_root};
    return kumo_cloud_create(&cloud, &m->env.cloud, diag);
}

/* The manager's own connection, with the metrics and control subscriptions. */
static kumo_error services_open(kumo_manager *m, kumo_diag *diag)
{
    natsStatus s =
        kumo_client_nats_connect(m->url, NULL, NULL, KUMO_MANAGER_CONNECTION_NAME, &m->nc);
    if (s != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "controller manager: cannot use NATS at %s: %s", m->url,
                                     natsStatus_GetText(s));
    kumo_error e = manager_metrics_subscribe(m, diag);
    if (e == KUMO_ERROR_OK)
        e = manager_control_subscribe(m, diag);
    return e;
}

kumo_error kumo_manager_start(const kumo_manager_options *options, kumo_manager **out,
                              kumo_diag *diag)
{
    *out = NULL;
    kumo_error e = options_check(options, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    kumo_manager *m = manager_create(options);
    if (m == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    e = clients_open(m, diag);
    if (e == KUMO_ERROR_OK)
        e = cloud_open(m, diag);
    if (e == KUMO_ERROR_OK)
        e = services_open(m, diag);
    if (e == KUMO_ERROR_OK && options->agent_url && needed(options, MANAGER_NEEDS_AGENT_BUS))
        e = manager_agent_bus_connect(m, diag);
    if (e == KUMO_ERROR_OK)
        e = manager_slots_open(m, diag);
    if (e == KUMO_ERROR_OK)
        e = manager_supervisor_start(m, diag);
    if (e != KUMO_ERROR_OK) {
        kumo_manager_stop(m);
        return e;
    }
    KUMO_LOG_INFO("manager", "controller manager started", "holder=%s controllers=%s drivers=%s",
                  m->holder, options->controllers ? options->controllers : "all", m->drivers_dir);
    *out = m;
    return KUMO_ERROR_OK;
}

/* ---- stop ------------------------------------------------------------------------------- */

static void handlers_quiesce(kumo_manager *m)
{
    /* No handler may run once the controllers and the registry go. */
    atomic_store(&m->closing, 1);
    natsSubscription *subs[2] = {m->control_sub, m->metrics_sub};
    for (int i = 0; i < 2; i++)
        if (subs[i] && natsConnection_Status(m->nc) == NATS_CONN_STATUS_CONNECTED &&
            natsSubscription_Drain(subs[i]) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(subs[i], MANAGER_DRAIN_WAIT_MS);
}

static void handlers_close(kumo_manager *m)
{
    natsSubscription *subs[2] = {m->control_sub, m->metrics_sub};
    for (int i = 0; i < 2; i++)
        if (subs[i])
            natsSubscription_Unsubscribe(subs[i]);
    for (int waited = 0; atomic_load(&m->handlers_running) > 0 && waited < MANAGER_HANDLER_WAIT_MS;
         waited++) {
        struct timespec pause = {0, 1000000L};
        nanosleep(&pause, NULL);
    }
    for (int i = 0; i < 2; i++)
        natsSubscription_Destroy(subs[i]);
}

void kumo_manager_stop(kumo_manager *m)
{
    if (m == NULL)
        return;
    handlers_quiesce(m);
    manager_supervisor_stop(m);
    handlers_close(m);
    kumo_informer_set_destroy(m->env.informers);
    kumo_recorder_destroy(m->env.recorder);
    natsConnection_Destroy(m->nc);
    natsConnection_Destroy(m->env.agents);
    kumo_cloud_destroy(m->env.cloud);
    kumo_limiter_set_destroy(m->limiters);
    kumo_placement_latency_destroy(m->latency);
    kumo_client_destroy(m->env.client);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m);
}

int kumo_manager_running(kumo_manager *m, const char *controller)
{
    int running = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->slot_count; i++)
        if (strcmp(m->slots[i].row->name, controller) == 0)
            running = m->slots[i].running != NULL;
    pthread_mutex_unlock(&m->lock);
    return running;
}
