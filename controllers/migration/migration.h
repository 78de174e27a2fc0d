/*
 * migration.h - the Migration controller: moves one node group of an Infra
 * (and the App instances on it) to another connection or placement while
 * its LoadBalancer keeps serving, or rolls back (docs/migration.md).
 *
 * It edits objects only: the Infra (the group's placement, size and a
 * label that marks the new machines) and the LoadBalancer (a target backend
 * beside each backend of the App, weights, drain lists). Every edit is
 * marked with annotations naming the Migration, the originals are kept in
 * annotations so that a rollback restores them, and at the end the Infra
 * and the LoadBalancer read as if the user had written the new placement.
 * The Infra, App and LoadBalancer controllers do the rest.
 *
 * Everything the controller needs to resume after a crash is in the
 * Migration's status and in those annotations: a restarted kumod continues
 * at the step it stopped at, and never edits twice what it already edited.
 *
 * Thread safety: start/stop from one thread.
 */
#ifndef KUMO_MIGRATION_H
#define KUMO_MIGRATION_H

#include "bus/client/client.h"
#include "controllers/runtime/controller/controller.h"

#define KUMO_MIGRATION_FINALIZER "kumo.dev/migration-rollback"
/* Label put on the group (so on its new Machines) while a Migration runs: value its name. */
#define KUMO_MIGRATION_LABEL "kumo.dev/migration"
/* How often a running Migration looks again when kumo_migration_env.poll_ms is 0. */
#define KUMO_MIGRATION_DEFAULT_POLL_MS 500
/* Infra annotations, one per group: the Migration that holds the group, the original group. */
#define KUMO_MIGRATION_LOCK_PREFIX     "kumo.dev/migration."
#define KUMO_MIGRATION_ORIGINAL_PREFIX "kumo.dev/migration-original."
/* LoadBalancer annotations: the Migration that edits it, its original spec. */
#define KUMO_MIGRATION_LB_LOCK     "kumo.dev/migration"
#define KUMO_MIGRATION_LB_ORIGINAL "kumo.dev/migration-original"

/* What the controller uses; everything is borrowed and must outlive it. */
typedef struct kumo_migration_env {
    kumo_client *client;
    const char *ns;               /* NULL: all namespaces */
    kumo_informer_set *informers; /* shared informers; NULL: its own */
    int workers;                  /* 0: 2 */
    double poll_ms;               /* how often a running Migration looks again; 0: 500 */
} kumo_migration_env;

typedef struct kumo_migration_controller kumo_migration_controller;

/*
 * Starts the controller: watches Migrations, Infras, Machines, Apps and
 * LoadBalancers, then reconciles on its workers. Errors: INVALID_ARGUMENT
 * (no client), the informers' list errors, NOMEM. On error *out is NULL.
 */
kumo_error kumo_migration_controller_start(const kumo_migration_env *env,
                                           kumo_migration_controller **out, kumo_diag *diag);
/* Stops the workers and informers and frees. NULL: no-op. */
void kumo_migration_controller_stop(kumo_migration_controller *controller);
/* The runtime controller (for its stats). Borrowed until stop. */
kumo_controller *kumo_migration_controller_runtime(kumo_migration_controller *controller);

#endif
