/*
 * internal.h - what the files of controllers/migration share.
 *
 *   controller.c  start/stop, what each change enqueues, per-Migration memory
 *   world.c       one pass's view: the Migration, its Infra and group, the
 *                 Apps on the group, the LoadBalancer, the Machines; checks
 *                 of the inputs (bad input -> a reason, nothing changed)
 *   edits.c       the Infra group and LoadBalancer spec each stage wants,
 *                 written only when they differ from what is stored
 *   steps.c       status: steps, counters, conditions
 *   reconcile.c   the phases: Pending -> Provisioning -> Deploying ->
 *                 CuttingOver -> Draining -> Completed, and RollingBack
 *
 * Locking: c->memory (runtime/keystate) locks itself; no lock is held across an API call.
 */
#ifndef KUMO_MIGRATION_INTERNAL_H
#define KUMO_MIGRATION_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/error/error.h"
#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/kumo/v1alpha1/migration.pb-c.h"
#include "apis/map/map.h"
#include "controllers/migration/migration.h"
#include "controllers/runtime/keystate/keystate.h"

#define MIG_LOG           "migration"
#define MIG_MAX_APPS      8
#define MIG_TARGET_SUFFIX "-target"
/* A Migration that cannot go on yet (world incomplete, paused) looks again this soon. */
#define MIG_WAIT_MS 5000

typedef Kumo__V1alpha1__MigrationStatus__Phase mig_phase;
#define MIG_PHASE(x)    KUMO__V1ALPHA1__MIGRATION_STATUS__PHASE__##x
#define MIG_STATE(x)    KUMO__V1ALPHA1__MIGRATION_STEP__STATE__##x
#define MIG_STRATEGY(x) KUMO__V1ALPHA1__MIGRATION_SPEC__STRATEGY__##x

struct kumo_migration_controller {
    kumo_migration_env env;
    kumo_controller *controller;
    kumo_informer *infras, *machines, *apps, *lbs, *connections;
    kumo_keystate *memory; /* "ns/name" -> mig_memory */
};

/* What the controller remembers of one Migration between passes (lost on restart, then
 * measured again). Only the worker reconciling its key touches it. */
typedef struct mig_memory {
    int step;       /* the steps[] index the gate's baseline belongs to; -1: none */
    int64_t errors; /* the target backends' errors when that step began */
    int counting;   /* endpoints seen before: new ones count from 0 */
    kumo_map *seen; /* "<listener>/<target>" -> mig_seen: counters at the last look */
} mig_memory;

typedef struct mig_seen {
    int64_t requests, failed;
} mig_seen;

/* One Machine of the group as this pass sees it. */
typedef struct mig_machine {
    char name[256];
    long index; /* n of <infra>-<group>-<n>, -1 when it does not parse */
    int target; /* labelled with this Migration */
    int deleting;
    int running;   /* phase Running and Ready */
    int app_ready; /* every App instance on it ready (1 when no App runs on the group) */
} mig_machine;

/* One pass over one Migration. */
typedef struct mig_run {
    kumo_migration_controller *c;
    const char *ns, *name;
    char key[320];
    double now;               /* wall clock, seconds */
    ProtobufCMessage *object; /* the Migration as cached (owned) */
    const Kumo__V1alpha1__Migration *m;
    const Kumo__V1alpha1__MigrationSpec *spec;
    ProtobufCMessage *fresh; /* a copy whose status this pass edits (owned) */
    Kumo__V1alpha1__MigrationStatus *st;
    /* the world */
    ProtobufCMessage *infra_object; /* owned, or NULL */
    Kumo__V1alpha1__Infra *infra;
    int group; /* index in infra->spec->groups, -1: none */
    char group_name[64];
    ProtobufCMessage *lb_object; /* owned, or NULL (no cutover.loadBalancerRef or missing) */
    Kumo__V1alpha1__LoadBalancer *lb;
    char apps[MIG_MAX_APPS][256]; /* Apps running on the group */
    size_t app_count;
    mig_machine *machines; /* the group's Machines */
    size_t machine_count;
    /* what a bad input or a failed check says (nothing is changed then) */
    char problem_reason[64];
    char problem[768];
    int drop_finalizer; /* deleting and nothing to undo: the finalizer goes after the status */
} mig_run;

/* ---- controller.c ---- */
double mig_now(void);
/* The memory of key, created when absent (NULL: out of memory). Borrowed until forget. */
mig_memory *mig_memory_of(kumo_migration_controller *c, const char *key);
void mig_memory_forget(kumo_migration_controller *c, const char *key);

/* ---- world.c ---- */
/* Loads the Infra, group, Apps, LoadBalancer and Machines; 0, or -1 when out of memory. */
int mig_world_load(mig_run *run);
void mig_world_free(mig_run *run);
/* Checks the inputs before anything is changed; 0, or -1 with run->problem* set. */
int mig_world_check(mig_run *run);
/* 1 when the Infra's group is held by this Migration (lock annotation). */
int mig_world_holds_group(const mig_run *run);
int mig_world_holds_lb(const mig_run *run);
/* 1 when the LoadBalancer backend serves an App on the group. */
int mig_world_fronts(const mig_run *run, const Kumo__V1alpha1__LoadBalancerBackend *b);
/* Counts of the group's Machines: source (not ours) / target (ours), alive (not deleting),
 * running and app-ready. */
typedef struct mig_counts {
    int source, target, target_ready, source_listed;
} mig_counts;
mig_counts mig_world_count(const mig_run *run);
/* The source machine a shrinking group removes next (see infra's stale order); NULL: none. */
const mig_machine *mig_world_next_victim(const mig_run *run);
/* Which side a LoadBalancer backend of the current spec is: 0 the source (an App backend
 * of the group), 1 its "-target" half, -1 not ours. */
int mig_world_backend_side(const mig_run *run, const char *backend);
/* Sums of the LoadBalancer's backend counters, per side. */
typedef struct mig_lb_view {
    int found;   /* the LB status lists our backends */
    int applied; /* observedGeneration == generation */
    int target_endpoints, target_healthy;
    int source_endpoints, source_healthy;
    int64_t target_errors, source_sessions;
} mig_lb_view;
mig_lb_view mig_world_lb_view(const mig_run *run);
/* Sessions still open on the endpoints of Machine `name` (0 when none is listed). */
int64_t mig_world_machine_sessions(const mig_run *run, const char *name);

/* ---- edits.c ---- */
/* What the LoadBalancer should look like now. */
typedef struct mig_lb_want {
    int source_weight, target_weight;
    const char *const *drain_source; /* Machine names drained on the source backends */
    size_t drain_source_count;
    int drain_targets;   /* every target machine drained */
    int source_restored; /* source backends as the user wrote them (finalize, first half) */
} mig_lb_want;
/* Each returns 1 when it wrote (the next pass sees it), 0 when nothing was to change, -1 on
 * a failed write (run->problem* set). */
int mig_edit_infra_group(mig_run *run, int32_t size);
int mig_edit_infra_restore(mig_run *run);
int mig_edit_infra_finish(mig_run *run);
int mig_edit_lb(mig_run *run, const mig_lb_want *want);
int mig_edit_lb_restore(mig_run *run);
/* The original spec of the held LoadBalancer (owned), or NULL. */
Kumo__V1alpha1__LoadBalancerSpec *mig_lb_original(const mig_run *run);

/* ---- steps.c ---- */
/* The running (last) step, or NULL. */
Kumo__V1alpha1__MigrationStep *mig_step_current(const mig_run *run);
/* Seconds since the running step began (0 without one). */
double mig_step_elapsed(const mig_run *run);
/* Ends the running step (if any) with state/message and starts `name` (NULL: none). -1: NOMEM. */
int mig_step_next(mig_run *run, Kumo__V1alpha1__MigrationStep__State state, const char *message,
                  const char *name);
int mig_step_message(mig_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds what the load balancer counted on the group's endpoints since the last look to the
 * status, and the duration. */
void mig_status_counters(mig_run *run);
/* Sets Ready, Progressing and Degraded from the phase and run->problem*; -1: NOMEM. */
int mig_status_conditions(mig_run *run);
double mig_time_seconds(const Kumo__V1alpha1__Time *t);
void mig_time_set(Kumo__V1alpha1__Time **slot, double seconds);

/* ---- reconcile.c ---- */
kumo_controller_result mig_reconcile(void *context, const char *ns, const char *name);

#endif
