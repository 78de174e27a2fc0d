/*
 * table.h - the controllers the manager runs: one row per controller.
 *
 * The manager iterates this table and nothing else: it decides from a row
 * whether the controller is on (the --controllers list, else the row's
 * default), what it needs (the cloud registry, the agent bus), how to start
 * it, stop it and read its runtime stats. Rows are in start order (what
 * others depend on first); stop runs in reverse. Adding a controller is one
 * folder under controllers/ plus one row in table.c (docs/extending.md).
 */
#ifndef KUMO_MANAGER_TABLE_H
#define KUMO_MANAGER_TABLE_H

#include <stddef.h>

#include <nats/nats.h>

#include "controllers/infra/placement.h"
#include "controllers/manager/manager.h"
#include "controllers/runtime/controller/controller.h"
#include "controllers/runtime/recorder/recorder.h"

/* What a row needs the manager to hold before it can start. */
#define MANAGER_NEEDS_CLOUD     0x1u /* the cloud registry (drivers, one limiter per Connection) */
#define MANAGER_NEEDS_AGENT_BUS 0x2u /* kumod's connection to the agent bus; off without one */

/* What a controller is started with; all borrowed, all outlive the controller. */
typedef struct manager_env {
    const kumo_manager_options *options;
    kumo_client *client;
    kumo_informer_set *informers;
    kumo_recorder *recorder;
    kumo_cloud *cloud;                     /* NULL unless some row needs it */
    const kumo_placement_latency *latency; /* NULL: no measured table */
    natsConnection *agents;                /* NULL: no agent bus */
} manager_env;

typedef struct manager_row {
    const char *name; /* the --controllers name and the lease's */
    unsigned needs;   /* MANAGER_NEEDS_* */
    int default_on;   /* runs when --controllers is absent or "all" */
    kumo_error (*start)(const manager_env *env, const char *name, void **out, kumo_diag *diag);
    void (*stop)(void *controller);
    kumo_controller *(*runtime)(void *controller);
} manager_row;

/* The rows, in start order; *count is set. Static storage. */
const manager_row *manager_rows(size_t *count);

#endif
