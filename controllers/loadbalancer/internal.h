/*
 * internal.h - what the files of controllers/loadbalancer share.
 *
 *   controller.c  start/stop, the watches and what each change enqueues, the
 *                 per-LoadBalancer memory (what was last sent, drain clocks)
 *   targets.c     the desired targets: listeners (TLS from Credentials) and
 *                 endpoints of every backend, weights and backup flags by
 *                 policy, leaving endpoints kept draining
 *   reconcile.c   one LoadBalancer: finalizer, create-pending, observe,
 *                 create/update/delete through the driver
 *   status.c      endpoints, counters per backend, conditions
 *
 * Locking: c->memory (runtime/keystate) locks itself; no lock is held across a driver or API
 * call.
 */
#ifndef KUMO_LOADBALANCER_INTERNAL_H
#define KUMO_LOADBALANCER_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/error/error.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/map/map.h"
#include "controllers/loadbalancer/loadbalancer.h"
#include "controllers/runtime/clock/clock.h"
#include "controllers/runtime/keystate/keystate.h"

#define LB_LOG "loadbalancer"
/* While a LoadBalancer is deleted: looked at again after these (ms). */
#define LB_DELETE_BLOCKED_MS 5000 /* its Connection or driver cannot be used yet */
#define LB_DELETING_MS       100  /* the driver accepted the delete */
#define LB_DELETE_RETRY_MS   1000 /* the driver failed and named no delay */

struct kumo_lb_controller {
    kumo_lb_env env; /* defaults filled in */
    kumo_controller *controller;
    kumo_informer *apps, *machines, *connections;
    kumo_keystate *memory; /* "ns/name" -> lb_memory */
};

/* A leaving target's drain clock. */
typedef struct lb_drain {
    char key[272]; /* "<listener>/<target>" */
    double since_ms;
} lb_drain;

/* What the controller remembers of one LoadBalancer between reconciles. */
typedef struct lb_memory {
    char *sent;       /* fingerprint of the last spec the driver accepted; NULL: none */
    double status_ms; /* when status was last written (monotonic) */
    lb_drain *drains;
    size_t drain_count;
} lb_memory;

/* One target: an endpoint of a backend on one listener. */
typedef struct lb_target {
    char name[200]; /* backend.machine or backend.address */
    char listener[64];
    char backend[64];
    char machine[256]; /* "" for fixed addresses */
    char connection[256];
    char address[64];
    int32_t port;
    int32_t priority;
    int32_t backend_weight;
    int weight, backup, draining;
    int leaving; /* no longer wanted: draining until empty or the drain timeout */
    const struct kumo_driver_lb_target_status *seen; /* in the run's observed block, or NULL */
} lb_target;

/* A listener with its TLS material (owned). */
typedef struct lb_listener {
    struct kumo_driver_lb_listener abi;
    char name[64];
    char *certificate, *key;
} lb_listener;

/* One reconcile of one LoadBalancer. */
typedef struct lb_run {
    kumo_lb_controller *c;
    const char *ns, *name;
    char key[320];
    ProtobufCMessage *object; /* owned */
    Kumo__V1alpha1__LoadBalancer *lb;
    const Kumo__V1alpha1__LoadBalancerSpec *spec;
    lb_listener *listeners;
    size_t listener_count;
    lb_target *targets;
    size_t target_count;
    char problem_reason[64]; /* the first problem with the backends or listeners */
    char problem[768];
    struct kumo_driver_load_balancer *seen; /* the driver's answer (host block), or NULL */
    const struct kumo_driver_host *host;    /* frees `seen` */
    char driver_reason[64];                 /* a driver failure for the conditions */
    char driver_message[768];
    double now_ms;
} lb_run;

/* ---- controller.c: memory ---- */

/* The memory of key (created when absent; NULL: out of memory), with the memory locked
 * until lb_memory_release (also after NULL). */
lb_memory *lb_memory_acquire(kumo_lb_controller *c, const char *key);
void lb_memory_release(kumo_lb_controller *c);
void lb_memory_forget(kumo_lb_controller *c, const char *key);

/* ---- targets.c ---- */

/* Fills run->listeners and run->targets from the spec, the App statuses and Machines; notes
 * the first problem (BackendNotFound, TLSCredentialInvalid, ...) in run->problem*. */
void lb_targets_build(lb_run *run);
/* Adds the observed targets no longer wanted as leaving (draining), and drops those whose
 * drain ended (no session left, or the drain timeout passed). */
void lb_targets_keep_leaving(lb_run *run);
/* The driver spec over run's listeners and targets; arrays malloc'd (lb_spec_fini). */
typedef struct lb_spec {
    struct kumo_driver_load_balancer_spec abi;
    struct kumo_driver_lb_health_check health;
    const struct kumo_driver_lb_listener **listeners;
    struct kumo_driver_lb_target *targets;
    const struct kumo_driver_lb_target **target_ptrs;
} lb_spec;
int lb_spec_init(lb_spec *s, const lb_run *run);
void lb_spec_fini(lb_spec *s);
/* A text that changes whenever the spec the driver would get changes. malloc'd. */
char *lb_spec_fingerprint(const lb_spec *s);
void lb_run_free(lb_run *run);

/* ---- status.c ---- */

/* The new status on a copy of run->object (caller frees), NULL when out of memory. *ready
 * says whether every listener has a healthy endpoint. */
ProtobufCMessage *lb_status_build(const lb_run *run, int *ready);
/* 1 when the statuses of two LoadBalancers differ at most in their counters (sessions,
 * requests, errors, 5xx, retries): such a change is written at most once per poll. */
int lb_status_only_counters(const ProtobufCMessage *a, const ProtobufCMessage *b);

/* ---- reconcile.c ---- */

kumo_controller_result lb_reconcile(void *context, const char *ns, const char *name);

#endif
