/*
 * internal.h - the manager object its job files share.
 *
 * The manager is four jobs around one table (table.h):
 *   supervisor.c  one lease per enabled row; starts a row's controller while
 *                 it leads, stops it when it does not (supervisor.h);
 *   metrics.c     the counters document, published and answered (metrics.h);
 *   control.c     the driver-control RPC on Connections (control.h);
 *   agentlink.c   kumod's own connection to the agent bus (agentlink.h);
 * and manager.c starts and stops them in order.
 */
#ifndef KUMO_MANAGER_INTERNAL_H
#define KUMO_MANAGER_INTERNAL_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

#include "controllers/manager/manager.h"
#include "controllers/manager/table.h"
#include "controllers/runtime/lease/lease.h"
#include "controllers/runtime/limiter/limiter.h"

#define MANAGER_MAX_SLOTS 32

/* One row of the table in this manager. */
typedef struct manager_slot {
    struct kumo_manager *manager;
    const manager_row *row;
    int enabled;
    kumo_lease *lease;
    atomic_int leading;
    void *running; /* under manager->lock */
    double retry_at_ms;
} manager_slot;

struct kumo_manager {
    kumo_manager_options options;
    char url[512], prefix[128], drivers_dir[1024], holder[256];
    manager_env env; /* what every row's start gets; owned here */
    kumo_limiter_set *limiters;
    kumo_placement_latency *latency;
    manager_slot slots[MANAGER_MAX_SLOTS];
    size_t slot_count;
    natsConnection *nc; /* metrics and control subscriptions */
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

/* A NATS callback begins with enter (0: the manager is closing, return) and ends with leave. */
static inline int manager_handler_enter(struct kumo_manager *m)
{
    atomic_fetch_add(&m->handlers_running, 1);
    if (!atomic_load(&m->closing))
        return 1;
    atomic_fetch_sub(&m->handlers_running, 1);
    return 0;
}

static inline void manager_handler_leave(struct kumo_manager *m)
{
    atomic_fetch_sub(&m->handlers_running, 1);
}

#endif
