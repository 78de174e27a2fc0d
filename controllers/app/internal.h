/*
 * internal.h - what the files of controllers/app share.
 *
 *   app.c        start/stop, the watches and what each change enqueues
 *   agents.c     the agent bus: the latest status of every agent (by Machine
 *                uid), the status subscription, apply and get requests
 *   reconcile.c  one App's reconcile: targets, applies (rolling update),
 *                stopping it elsewhere, the finalizer
 *   status.c     the App's status: instances, counts and conditions
 *
 * Locking: c->lock guards c->agents (and every app_agent in it); nothing
 * else is shared between threads except through the informers and the work
 * queue, which lock themselves. No lock is held across a NATS request or an
 * API call.
 */
#ifndef KUMO_APP_INTERNAL_H
#define KUMO_APP_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/kumo/v1alpha1/agent.pb-c.h"
#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/map/map.h"
#include "controllers/app/app.h"
#include "controllers/runtime/clock/clock.h"

#define APP_LOG           "app"
#define APP_DRAIN_WAIT_MS 5000 /* for status messages in progress, at stop */

struct kumo_app_controller {
    kumo_app_env env; /* defaults filled in */
    char prefix[128];
    kumo_controller *controller;
    kumo_informer *machines, *infras; /* secondary informers (the Apps: the primary's) */
    natsSubscription *statuses;
    pthread_mutex_t lock;
    kumo_map *agents; /* Machine uid -> app_agent */
};

/* What the controller knows about one agent (one Machine uid). */
typedef struct app_agent {
    Kumo__V1alpha1__AgentStatus *status;   /* the newest document, owned; NULL: none yet */
    double received_ms;                    /* when it arrived (monotonic) */
    double wanted_ms;                      /* when a reconcile first wanted this agent */
    double get_ms;                         /* the last get request */
    char ns[64], machine[256], infra[256]; /* its Machine, from the Machine informer */
} app_agent;

/* A copy of what is known about one agent, for one reconcile. */
typedef struct app_agent_view {
    Kumo__V1alpha1__AgentStatus *status; /* owned copy, NULL when none yet */
    double age_ms;                       /* since the newest document; -1 when none */
    double wanted_for_ms;                /* since a reconcile first wanted it */
} app_agent_view;

/* "ns/name" split in place at the first '/'; 0, or -1 when there is none. */
int app_key_split(char *key, const char **ns, const char **name);

/* ---- agents.c ---- */

/* The subscription callback of "<prefix>.*.status" (closure: the controller). */
void app_agents_on_status(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
/* Frees every entry of c->agents (at stop). */
void app_agents_free(kumo_app_controller *c);
/* Notes (or, deleted: forgets) the Machine of an agent. */
void app_agents_machine(kumo_app_controller *c, const char *uid, const char *ns,
                        const char *machine, const char *infra, int deleted);
/* A copy of what is known about agent `uid`; marks it wanted. Caller frees view->status. */
void app_agents_view(kumo_app_controller *c, const char *uid, app_agent_view *view);
/* Asks agent `uid` for its status when it has not reported lately and was not asked in the
 * last two seconds; a reply is recorded. */
void app_agents_fetch(kumo_app_controller *c, const char *uid);

/* The outcome of one apply request. */
typedef enum app_apply_result {
    APP_APPLY_OK = 0,
    APP_APPLY_REFUSED,     /* the agent answered not ok; error says why */
    APP_APPLY_UNREACHABLE, /* no agent answered (no responders, timeout) */
    APP_APPLY_ERROR,       /* we could not encode or send it */
} app_apply_result;

/* Sends `apply` to agent `uid` and records the status in the reply. error[] gets the
 * agent's or the bus's words when the result is not OK. */
app_apply_result app_agents_apply(kumo_app_controller *c, const char *uid,
                                  const Kumo__V1alpha1__AgentApply *apply, char *error,
                                  size_t error_size);

/* An agent that reports an App, found by app_agents_reporting. */
typedef struct app_reporter {
    char uid[128];
    size_t instances;
    int live; /* reported within agent_timeout_ms */
} app_reporter;

/* Every agent whose newest status lists app "ns/name" (malloc'd array; caller frees). */
app_reporter *app_agents_reporting(kumo_app_controller *c, const char *app_key, size_t *count_out);

/* ---- app.c ---- */

/* Enqueues the Apps of namespace ns whose spec.infraRef names `infra` (NULL: every App of ns). */
void app_enqueue_infra(kumo_app_controller *c, const char *ns, const char *infra);

/* ---- reconcile.c ---- */

kumo_controller_result app_reconcile(void *context, const char *ns, const char *name);

/* What a target machine is to its App in this reconcile. */
typedef enum app_machine_state {
    APP_MACHINE_UNREACHABLE = 0, /* no live agent */
    APP_MACHINE_ABSENT,          /* the agent does not run the App (or another App of that name) */
    APP_MACHINE_OUTDATED,        /* the agent runs another generation */
    APP_MACHINE_CURRENT,         /* the agent runs this generation */
} app_machine_state;

/* One target Machine. Strings borrow from the run's machine objects. */
typedef struct app_target {
    const char *machine, *uid, *address;
    app_agent_view agent;
    const Kumo__V1alpha1__AgentAppStatus
        *report; /* in agent.status (also when silent); NULL: not listed */
    app_machine_state state;
    int available;    /* every instance reported ready (the machine serves) */
    int applied;      /* this reconcile sent it the App */
    int apply_failed; /* ... and the agent refused it: apply_error says why */
    char apply_error[512];
} app_target;

/* One reconcile of one App. */
typedef struct app_run {
    kumo_app_controller *c;
    const char *ns, *name;
    char key[320];
    ProtobufCMessage *object; /* the App, owned */
    Kumo__V1alpha1__App *app; /* == object */
    int64_t generation;
    int infra_found;
    ProtobufCMessage **machines; /* the target Machines, owned */
    app_target *targets;         /* one per machine, sorted by name */
    size_t target_count;
    int32_t per_machine; /* instances wanted on each target: the sum of replicas */
} app_run;

/* replicas of a component (1 when unset). */
int32_t app_component_replicas(const Kumo__V1alpha1__AppComponent *component);

/* ---- status.c ---- */

/* Progress of a status for the requeue decision. */
typedef struct app_progress {
    int ready;       /* every desired instance is ready at this generation */
    int progressing; /* machines still need this generation */
} app_progress;

/*
 * The App's new status from the run, on a copy of run->object (caller frees), or NULL when
 * out of memory.
 */
ProtobufCMessage *app_status_build(const app_run *run, app_progress *progress);

#endif
