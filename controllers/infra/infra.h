/*
 * infra.h - the infrastructure controllers: Connection, Network,
 * SecurityGroup, KeyPair, Machine and Infra.
 *
 *   connection     probes each Connection through its driver and writes
 *                  reachability, location and catalog to its status;
 *   network, securitygroup, keypair, machine
 *                  keep one cloud resource per object, with one shared
 *                  reconcile shape (resource.c): finalizer, create-pending
 *                  marker, observe by id or token, create with the uid as
 *                  token, drift repair, delete until the cloud says gone;
 *   infra          turns an Infra into Machines (one per node) and, per
 *                  connection used, a Network, SecurityGroup and KeyPair,
 *                  all owned by the Infra; places groups (placement.h) and
 *                  fails over on capacity or quota errors; rolls status up.
 *
 * The controllers talk to each other only through objects. They share one
 * cloud registry (runtime/cloud) and so one limiter per Connection. The
 * design is docs/controllers.md; placement is docs/placement.md.
 *
 * Thread safety: start/stop from one thread; a started controller runs on
 * its own workers.
 */
#ifndef KUMO_INFRA_H
#define KUMO_INFRA_H

#include <stddef.h>

#include "bus/client/client.h"
#include "controllers/infra/placement.h"
#include "controllers/runtime/cloud/cloud.h"
#include "controllers/runtime/controller/controller.h"
#include "controllers/runtime/recorder/recorder.h"

/* The finalizer every cloud resource object carries while it may exist in a cloud. */
#define KUMO_INFRA_FINALIZER "kumo.dev/cloud-cleanup"
/* Every Connection carries it while Machines, Networks, SecurityGroups, KeyPairs or
 * LoadBalancers use it. */
#define KUMO_INFRA_IN_USE "kumo.dev/connection-in-use"
/* Every Credential carries it while a Connection names it in credentialRef. */
#define KUMO_INFRA_CREDENTIAL_IN_USE "kumo.dev/credential-in-use"
/* Written (with the time) before the first create call of an object. */
#define KUMO_INFRA_CREATE_PENDING "kumo.dev/create-pending"
#define KUMO_INFRA_LABEL_INFRA    "kumo.dev/infra"
#define KUMO_INFRA_LABEL_GROUP    "kumo.dev/group"
/* An Infra annotated KUMO_INFRA_GROUP_HOLD_PREFIX<group> has that group held by a
 * Migration: its outdated Machines are kept (as with updatePolicy KeepExisting) and a
 * shrinking group removes them first; the Migration decides when they go. */
#define KUMO_INFRA_GROUP_HOLD_PREFIX "kumo.dev/migration."

/* The defaults of kumo_infra_env's zero fields. */
#define KUMO_INFRA_DEFAULT_WORKERS                    128
#define KUMO_INFRA_DEFAULT_DRIFT_POLL_MS              30000
#define KUMO_INFRA_DEFAULT_PROBE_INTERVAL_MS          60000
#define KUMO_INFRA_DEFAULT_STATUS_INTERVAL_MS         500
#define KUMO_INFRA_DEFAULT_MAX_MACHINES_PER_NAMESPACE 50000

/* What the controllers share; everything is borrowed and must outlive them. */
typedef struct kumo_infra_env {
    kumo_client *client;
    kumo_cloud *cloud;
    const kumo_placement_latency *latency; /* NULL: great-circle estimates only */
    const char *ns;                        /* NULL: all namespaces */
    kumo_informer_set *informers;          /* shared informers; NULL: each controller its own */
    int workers;                           /* per cloud-resource controller; 0: 128 */
    double drift_poll_ms;      /* Running machines are observed this often (+-20%); 0: 30000 */
    double boot_poll_ms;       /* first observe after a create; 0: learnt per connection */
    double probe_interval_ms;  /* Connection probes; 0: 60000 */
    double status_interval_ms; /* least time between Infra status writes while busy; 0: 500 */
    /* The bootstrap document of a new machine's kumo-agent (malloc'd JSON, bus/agent/agent.h),
     * handed to the driver at create; NULL function or NULL result: the machine has no agent. */
    char *(*agent_bootstrap)(void *context, const char *ns, const char *name, const char *uid);
    void *agent_context;
    kumo_recorder *recorder;         /* Events; NULL: none recorded */
    long max_machines_per_namespace; /* Machines Infras may make in one namespace; 0: 50000 */
    /* Round trips measured between Connections (kumod's monitor); NULL: none. */
    kumo_placement_measured_fn measured_latency;
    void *measured_context;
} kumo_infra_env;

typedef struct kumo_infra_controller kumo_infra_controller;

/* The controllers of this package, in the order they should start. */
size_t kumo_infra_controller_count(void);
const char *kumo_infra_controller_name(size_t index);

/*
 * Starts controller `name` (one of the names above): lists its kinds, then
 * reconciles on its workers. Errors: NOT_FOUND (unknown name), and the
 * informers' list errors (UNAVAILABLE, ...).
 */
kumo_error kumo_infra_controller_start(const char *name, const kumo_infra_env *env,
                                       kumo_infra_controller **out, kumo_diag *diag);
/* Stops the workers and informers and frees. NULL is a no-op. */
void kumo_infra_controller_stop(kumo_infra_controller *controller);
/* The runtime controller (for its stats). Borrowed until stop. */
kumo_controller *kumo_infra_controller_runtime(kumo_infra_controller *controller);

#endif
