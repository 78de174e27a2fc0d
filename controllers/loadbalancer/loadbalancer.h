/*
 * loadbalancer.h - the LoadBalancer controller: keeps a real load balancer
 * (the driver of spec.connection: HAProxy on the local cloud, a simulation
 * on sim, a cloud's own elsewhere) serving each LoadBalancer's listeners
 * with its backends' endpoints (docs/loadbalancer.md).
 *
 * Endpoints are App instances (from the App's status: machine, address,
 * readiness), optionally narrowed to Machines of one Connection or matching
 * a label selector, and fixed addresses. The policy becomes weights and
 * backup flags per target; an endpoint that goes away (scale-in, a Machine
 * deleted, narrowing, spec.backends[].drain) is drained first and removed
 * once its connections ended or the drain timeout passed. The data plane's
 * view (health, reasons, counters) is written to status with the conditions
 * Ready and Degraded.
 *
 * Never leak, never duplicate: the finalizer KUMO_LB_FINALIZER and the
 * create-pending annotation are stored before the first create, which
 * passes the object's uid as the token.
 *
 * Thread safety: start/stop from one thread.
 */
#ifndef KUMO_LOADBALANCER_H
#define KUMO_LOADBALANCER_H

#include "bus/client/client.h"
#include "controllers/runtime/cloud/cloud.h"
#include "controllers/runtime/controller/controller.h"

#define KUMO_LB_FINALIZER      "kumo.dev/loadbalancer-cleanup"
#define KUMO_LB_CREATE_PENDING "kumo.dev/create-pending"

/* What the controller uses; everything is borrowed and must outlive it. */
/* How often a load balancer's health is read when kumo_lb_env.poll_ms is 0. */
#define KUMO_LB_DEFAULT_POLL_MS 1000

typedef struct kumo_lb_env {
    kumo_client *client;
    kumo_cloud *cloud;            /* driver connections */
    const char *ns;               /* NULL: all namespaces */
    kumo_informer_set *informers; /* shared informers; NULL: its own */
    int workers;                  /* 0: 4 */
    double poll_ms;               /* how often a load balancer's health is read; 0: 1000 */
    /* Reads a Credential with its data (tls listeners); NULL: HTTPS listeners fail. */
    kumo_cloud_credential_fn read_credential;
    void *credential_context;
} kumo_lb_env;

typedef struct kumo_lb_controller kumo_lb_controller;

/*
 * Starts the controller: watches LoadBalancers, Apps, Machines and
 * Connections, then reconciles on its workers. Errors: INVALID_ARGUMENT (no
 * client or cloud), the informers' list errors, NOMEM. On error *out is NULL.
 */
kumo_error kumo_lb_controller_start(const kumo_lb_env *env, kumo_lb_controller **out,
                                    kumo_diag *diag);
/* Stops the workers and informers and frees. Load balancers keep serving. NULL: no-op. */
void kumo_lb_controller_stop(kumo_lb_controller *controller);
/* The runtime controller (for its stats). Borrowed until stop. */
kumo_controller *kumo_lb_controller_runtime(kumo_lb_controller *controller);

#endif
