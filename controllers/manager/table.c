/*
 * table.c - the row of every controller kumod runs, and the adapters that
 * turn the manager's environment into each package's own.
 *
 * To add a controller: its folder under controllers/ (with start, stop and
 * runtime functions), an adapter here that fills its env from manager_env,
 * and one row in `rows` at its place in start order.
 */
#include "controllers/manager/table.h"

#include "controllers/app/app.h"
#include "controllers/infra/infra.h"
#include "controllers/loadbalancer/loadbalancer.h"
#include "controllers/migration/migration.h"

/* ---- the infra package: one start function for its seven controllers ----------------- */

static kumo_error infra_start(const manager_env *m, const char *name, void **out, kumo_diag *diag)
{
    const kumo_manager_options *o = m->options;
    kumo_infra_env env = {
        .client = m->client,
        .cloud = m->cloud,
        .latency = m->latency,
        .ns = o->ns,
        .informers = m->informers,
        .workers = o->workers,
        .drift_poll_ms = o->drift_poll_ms,
        .boot_poll_ms = o->boot_poll_ms,
        .probe_interval_ms = o->probe_interval_ms,
        .agent_bootstrap = o->agent_url ? o->agent_bootstrap : NULL,
        .agent_context = o->agent_context,
        .recorder = m->recorder,
        .max_machines_per_namespace = o->max_machines_per_namespace,
        .measured_latency = o->measured_latency,
        .measured_context = o->measured_context,
    };
    return kumo_infra_controller_start(name, &env, (kumo_infra_controller **)out, diag);
}

static void infra_stop(void *c)
{
    kumo_infra_controller_stop(c);
}

static kumo_controller *infra_runtime(void *c)
{
    return kumo_infra_controller_runtime(c);
}

/* ---- app ------------------------------------------------------------------------------ */

static kumo_error app_start(const manager_env *m, const char *name, void **out, kumo_diag *diag)
{
    (void)name;
    kumo_app_env env = {
        .client = m->client,
        .agents = m->agents,
        .ns = m->options->ns,
        .informers = m->informers,
        .recorder = m->recorder,
    };
    return kumo_app_controller_start(&env, (kumo_app_controller **)out, diag);
}

static void app_stop(void *c)
{
    kumo_app_controller_stop(c);
}

static kumo_controller *app_runtime(void *c)
{
    return kumo_app_controller_runtime(c);
}

/* ---- loadbalancer --------------------------------------------------------------------- */

static kumo_error lb_start(const manager_env *m, const char *name, void **out, kumo_diag *diag)
{
    (void)name;
    kumo_lb_env env = {
        .client = m->client,
        .cloud = m->cloud,
        .ns = m->options->ns,
        .informers = m->informers,
        .read_credential = m->options->read_credential,
        .credential_context = m->options->credential_context,
    };
    return kumo_lb_controller_start(&env, (kumo_lb_controller **)out, diag);
}

static void lb_stop(void *c)
{
    kumo_lb_controller_stop(c);
}

static kumo_controller *lb_runtime(void *c)
{
    return kumo_lb_controller_runtime(c);
}

/* ---- migration ------------------------------------------------------------------------ */

static kumo_error migration_start(const manager_env *m, const char *name, void **out,
                                  kumo_diag *diag)
{
    (void)name;
    kumo_migration_env env = {.client = m->client, .ns = m->options->ns, .informers = m->informers};
    return kumo_migration_controller_start(&env, (kumo_migration_controller **)out, diag);
}

static void migration_stop(void *c)
{
    kumo_migration_controller_stop(c);
}

static kumo_controller *migration_runtime(void *c)
{
    return kumo_migration_controller_runtime(c);
}

/* ---- the table ------------------------------------------------------------------------ */

#define INFRA(name)                                                                                \
    {                                                                                              \
        name, MANAGER_NEEDS_CLOUD, 1, infra_start, infra_stop, infra_runtime                       \
    }

/* Start order: what others depend on first (a Connection before what uses it, Machines
 * before the Infra that makes them). */
static const manager_row rows[] = {
    INFRA("connection"),
    INFRA("credential"),
    INFRA("network"),
    INFRA("securitygroup"),
    INFRA("keypair"),
    INFRA("machine"),
    INFRA("infra"),
    {"app", MANAGER_NEEDS_AGENT_BUS, 1, app_start, app_stop, app_runtime},
    {"loadbalancer", MANAGER_NEEDS_CLOUD, 1, lb_start, lb_stop, lb_runtime},
    {"migration", 0, 1, migration_start, migration_stop, migration_runtime},
};

const manager_row *manager_rows(size_t *count)
{
    *count = sizeof(rows) / sizeof(rows[0]);
    return rows;
}
