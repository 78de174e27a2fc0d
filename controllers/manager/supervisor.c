/*
 * supervisor.c - the lease supervisor (supervisor.h): the slots of the
 * enabled rows, their leases, and the thread that starts and stops the
 * controllers as leadership comes and goes.
 */
#include "controllers/manager/supervisor.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apis/log/log.h"
#include "controllers/manager/metrics.h"
#include "controllers/runtime/clock/clock.h"

int manager_listed(const char *list, const manager_row *row)
{
    if (list == NULL || list[0] == '\0' || strcmp(list, "all") == 0)
        return row->default_on;
    size_t n = strlen(row->name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, row->name, n) == 0)
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

static void on_lease(void *context, int leading)
{
    manager_slot *s = context;
    atomic_store(&s->leading, leading);
    KUMO_LOG_INFO("manager", leading ? "leading" : "not leading", "controller=%s holder=%s",
                  s->row->name, s->manager->holder);
    pthread_mutex_lock(&s->manager->lock);
    pthread_cond_signal(&s->manager->wake);
    pthread_mutex_unlock(&s->manager->lock);
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

kumo_error manager_slots_open(kumo_manager *m, kumo_diag *diag)
{
    size_t count;
    const manager_row *rows = manager_rows(&count);
    kumo_error e = KUMO_ERROR_OK;
    for (size_t i = 0; e == KUMO_ERROR_OK && i < count && i < MANAGER_MAX_SLOTS; i++) {
        manager_slot *s = &m->slots[m->slot_count++];
        s->manager = m;
        s->row = &rows[i];
        s->enabled = manager_listed(m->options.controllers, s->row) &&
                     (!(s->row->needs & MANAGER_NEEDS_AGENT_BUS) || m->env.agents != NULL);
        atomic_init(&s->leading, 0);
        if (!s->enabled)
            continue;
        char name[200];
        lease_name(m->prefix, s->row->name, name, sizeof(name));
        kumo_lease_options lo = {.url = m->url,
                                 .name = name,
                                 .holder = m->holder,
                                 .duration_ms = m->options.lease_duration_ms,
                                 .on_change = on_lease,
                                 .context = s};
        e = kumo_lease_start(&lo, &s->lease, diag);
    }
    return e;
}

static void slot_start(kumo_manager *m, manager_slot *s)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    void *c = NULL;
    double started = kumo_clock_now_ms();
    kumo_error e = s->row->start(&m->env, s->row->name, &c, &diag);
    if (e == KUMO_ERROR_OK) {
        pthread_mutex_lock(&m->lock);
        s->running = c;
        pthread_mutex_unlock(&m->lock);
        KUMO_LOG_INFO("manager", "controller started", "controller=%s took_ms=%.0f", s->row->name,
                      kumo_clock_now_ms() - started);
    } else {
        s->retry_at_ms = kumo_clock_now_ms() + MANAGER_RETRY_START_MS;
        KUMO_LOG_WARN("manager", "controller did not start; retrying",
                      "controller=%s error=%s detail=\"%s\"", s->row->name, kumo_error_name(e),
                      diag.message);
    }
    kumo_diag_fini(&diag);
}

/* Starts the slot's controller when it leads (and NATS is up), stops it when it does not. */
static void slot_step(kumo_manager *m, manager_slot *s)
{
    int leading = atomic_load(&s->leading);
    pthread_mutex_lock(&m->lock);
    void *running = s->running;
    pthread_mutex_unlock(&m->lock);
    int connected = natsConnection_Status(m->nc) == NATS_CONN_STATUS_CONNECTED;
    if (leading && running == NULL && kumo_clock_now_ms() >= s->retry_at_ms && connected) {
        slot_start(m, s);
    } else if (!leading && running != NULL) {
        pthread_mutex_lock(&m->lock);
        s->running = NULL;
        pthread_mutex_unlock(&m->lock);
        s->row->stop(running);
        KUMO_LOG_INFO("manager", "controller stopped (lease lost)", "controller=%s", s->row->name);
    }
}

static int stopping(kumo_manager *m)
{
    pthread_mutex_lock(&m->lock);
    int stop = m->stopping;
    pthread_mutex_unlock(&m->lock);
    return stop;
}

/* Sleeps until woken or MANAGER_TICK_MS pass. Under m->lock. */
static void tick_wait(kumo_manager *m)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += MANAGER_TICK_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&m->wake, &m->lock, &until);
}

static void *supervise(void *arg)
{
    kumo_manager *m = arg;
    double next_metrics = kumo_clock_now_ms() + m->options.metrics_interval_ms;
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        pthread_mutex_unlock(&m->lock);
        for (size_t i = 0; i < m->slot_count && !stopping(m); i++)
            if (m->slots[i].enabled)
                slot_step(m, &m->slots[i]);
        if (kumo_clock_now_ms() >= next_metrics) {
            manager_metrics_publish(m);
            next_metrics = kumo_clock_now_ms() + m->options.metrics_interval_ms;
#ifdef __GLIBC__
            /* Bursts (thousands of objects decoded, queued, encoded) leave free memory in
             * glibc's per-thread arenas; give it back to the system. */
            malloc_trim(0);
#endif
        }
        pthread_mutex_lock(&m->lock);
        if (m->stopping)
            break;
        tick_wait(m);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

kumo_error manager_supervisor_start(kumo_manager *m, kumo_diag *diag)
{
    if (pthread_create(&m->thread, NULL, supervise, m) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "cannot start the manager thread");
    m->thread_started = 1;
    return KUMO_ERROR_OK;
}

void manager_supervisor_stop(kumo_manager *m)
{
    if (m->thread_started) {
        pthread_mutex_lock(&m->lock);
        m->stopping = 1;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
        m->thread_started = 0;
    }
    /* Controllers first (reverse start order: the Infra stops before the Machines). */
    for (size_t i = m->slot_count; i-- > 0;) {
        pthread_mutex_lock(&m->lock);
        void *c = m->slots[i].running;
        m->slots[i].running = NULL;
        pthread_mutex_unlock(&m->lock);
        if (c)
            m->slots[i].row->stop(c);
    }
    for (size_t i = 0; i < m->slot_count; i++)
        if (m->slots[i].lease)
            kumo_lease_stop(m->slots[i].lease);
}

int manager_slot_leads(kumo_manager *m, const char *name)
{
    for (size_t i = 0; i < m->slot_count; i++)
        if (strcmp(m->slots[i].row->name, name) == 0)
            return atomic_load(&m->slots[i].leading);
    return 0;
}

int manager_leads_any(kumo_manager *m)
{
    for (size_t i = 0; i < m->slot_count; i++)
        if (atomic_load(&m->slots[i].leading))
            return 1;
    return 0;
}
