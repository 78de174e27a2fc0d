/*
 * app.h - the App controller: runs each App's components on the Machines
 * of its Infra through the kumo-agent inside every machine (docs/app.md).
 *
 * The controller watches Apps, Machines and Infras on the API bus and the
 * agents' status documents on the agent bus (bus/agent/agent.h). For every
 * App it works out the target machines (the Infra's Running Machines,
 * narrowed by target.group or target.selector), sends each live agent the
 * App's components (AgentApply) - new machines at once, machines running an
 * older generation a few at a time (rollingUpdate.maxUnavailable) - stops the
 * App on machines that are no longer targets, and rolls the agents' reports
 * up into the App's status (instances, Ready, Progressing, Degraded).
 * Deleting an App stops it everywhere before its finalizer
 * KUMO_APP_FINALIZER is removed.
 *
 * A reconcile only ever sends applies for its own App: a bad App cannot
 * disturb another one on the same machines.
 *
 * Thread safety: start/stop from one thread; a started controller runs on
 * its own workers and on the agent connection's callback thread.
 */
#ifndef KUMO_APP_H
#define KUMO_APP_H

#include <nats/nats.h>

#include "bus/client/client.h"
#include "controllers/runtime/controller/controller.h"
#include "controllers/runtime/recorder/recorder.h"

/* Every App carries it until no live agent runs an instance of it any more. */
#define KUMO_APP_FINALIZER "kumo.dev/app-cleanup"

/* The labels the Infra controller puts on its Machines (the Infra's contract, restated here
 * because controllers never include each other's headers). */
#define KUMO_APP_LABEL_INFRA "kumo.dev/infra" /* the Infra's name */
#define KUMO_APP_LABEL_GROUP "kumo.dev/group" /* the node group's name */

/* The defaults of kumo_app_env's zero fields. */
#define KUMO_APP_DEFAULT_WORKERS          8
#define KUMO_APP_DEFAULT_AGENT_TIMEOUT_MS 10000
#define KUMO_APP_DEFAULT_APPLY_TIMEOUT_MS 2000
#define KUMO_APP_DEFAULT_RESYNC_MS        30000

/* What the controller uses; everything is borrowed and must outlive it. */
typedef struct kumo_app_env {
    kumo_client *client;          /* the API bus */
    natsConnection *agents;       /* the agent bus, connected as kumod's user */
    const char *agent_prefix;     /* NULL: "kumo.agent" */
    const char *ns;               /* NULL: all namespaces */
    kumo_informer_set *informers; /* shared informers; NULL: its own */
    int workers;                  /* 0: 8 */
    double agent_timeout_ms;      /* an agent silent this long is unreachable; 0: 10000 */
    double apply_timeout_ms;      /* one apply or get request to an agent; 0: 2000 */
    double resync_ms;             /* converged Apps are reconciled this often (+-10%); 0: 30000 */
    kumo_recorder *recorder;      /* Events; NULL: none recorded */
} kumo_app_env;

typedef struct kumo_app_controller kumo_app_controller;

/*
 * Starts the controller: lists Apps, Machines and Infras, subscribes to
 * "<prefix>.*.status" on env->agents, then reconciles on its workers.
 * Errors: INVALID_ARGUMENT (no client or no agent connection, a bad prefix),
 * UNAVAILABLE (the subscription failed; the message has nats.c's text), the
 * informers' list errors, NOMEM. On error *out is NULL and nothing is left
 * running.
 */
kumo_error kumo_app_controller_start(const kumo_app_env *env, kumo_app_controller **out,
                                     kumo_diag *diag);

/* Unsubscribes, stops the workers and informers (waiting for running reconciles) and frees.
 * Agents keep running what they were told. NULL is a no-op. */
void kumo_app_controller_stop(kumo_app_controller *controller);

/* The runtime controller (for its stats). Borrowed until stop. */
kumo_controller *kumo_app_controller_runtime(kumo_app_controller *controller);

#endif
