/*
 * contract.h - the driver contract suite: what every kumo driver must do,
 * written against drivers/driver.h only so any driver can run it. A driver's
 * tests fill a contract_env (how to open connections on one cloud account,
 * a cheap instance type and image, its boot time) and call the checks.
 *
 * Each check opens and closes its own connections, frees every block it gets
 * and uses tokens unique to the run.
 */
#ifndef KUMO_TEST_DRIVERS_CONTRACT_H
#define KUMO_TEST_DRIVERS_CONTRACT_H

#include "drivers/driver.h"

struct contract_env {
    const struct kumo_driver *driver;
    const struct kumo_driver_host *host;
    /* Opens a connection to the account under test; the same arguments
     * reopened meet the same resources ("a kumod restart"). */
    const struct kumo_driver_open_args *open_args;
    const char *instance_type; /* cheap, always available */
    const char *image;
    double boot_seconds;   /* a new machine runs after at most this */
    double delete_seconds; /* a deleted machine is gone after at most this */
    int lb_targets_answer; /* a running machine answers load balancer health checks */
};

/* Two creates with one token make one resource (every resource type). */
void contract_create_idempotent(const struct contract_env *env);
/* After close + reopen, observe by token (and by id) finds what was made. */
void contract_observe_after_restart(const struct contract_env *env);
/* delete then delete again: OK then NOT_FOUND; observe says NOT_FOUND. */
void contract_delete_idempotent(const struct contract_env *env);
/* list with a tag filter returns exactly the tagged resources; the token tag works too. */
void contract_list_by_tag(const struct contract_env *env);
/* A passed deadline gives TIMEOUT at once; calls return by their deadline. */
void contract_deadlines(const struct contract_env *env);
/* create returns Pending without waiting; observe shows Running after boot_seconds. */
void contract_machine_boots(const struct contract_env *env);
/* update: tags, and (with CAP_MACHINE_POWER) stop and start. */
void contract_machine_update(const struct contract_env *env);
/* A network in use cannot be deleted (CONFLICT); afterwards it can. */
void contract_dependencies(const struct contract_env *env);
/* Regions with coordinates, instance types with prices, images. */
void contract_catalog(const struct contract_env *env);
/* Bad input gets INVALID/NOT_FOUND with a message, never a crash. */
void contract_bad_input(const struct contract_env *env);
/* Load balancers (contract_lb.c): idempotent create, health with reasons, draining, a gone
 * machine's target unhealthy, list by tag, bad update refused, delete. Skips without the
 * capability. */
void contract_load_balancer(const struct contract_env *env);

#endif
