/*
 * controllers.c - the table of the package's controllers and their start/stop,
 * and the create-watch-start sequence every controller of the package shares.
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    const char *name;
    const resource_class *cls; /* cloud resource controllers */
    kumo_error (*start)(const kumo_infra_env *env, kumo_infra_controller *out, kumo_diag *diag);
} entry;

/* Start order: what others depend on first. */
static const entry table[] = {
    {"connection", NULL, infra_connection_start},
    {"credential", NULL, infra_credential_start},
    {"network", &infra_network_class, NULL},
    {"securitygroup", &infra_security_group_class, NULL},
    {"keypair", &infra_key_pair_class, NULL},
    {"machine", &infra_machine_class, NULL},
    {"infra", NULL, infra_infra_start},
};

size_t kumo_infra_controller_count(void)
{
    return sizeof(table) / sizeof(table[0]);
}

const char *kumo_infra_controller_name(size_t index)
{
    return index < kumo_infra_controller_count() ? table[index].name : NULL;
}

kumo_error kumo_infra_controller_start(const char *name, const kumo_infra_env *env,
                                       kumo_infra_controller **out, kumo_diag *diag)
{
    *out = NULL;
    const entry *e = NULL;
    for (size_t i = 0; i < kumo_infra_controller_count() && e == NULL; i++)
        if (strcmp(table[i].name, name) == 0)
            e = &table[i];
    if (e == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, "no controller named \"%s\"", name);
    kumo_infra_env defaults = *env;
    if (defaults.workers <= 0)
        defaults.workers = KUMO_INFRA_DEFAULT_WORKERS;
    if (defaults.drift_poll_ms <= 0)
        defaults.drift_poll_ms = KUMO_INFRA_DEFAULT_DRIFT_POLL_MS;
    if (defaults.probe_interval_ms <= 0)
        defaults.probe_interval_ms = KUMO_INFRA_DEFAULT_PROBE_INTERVAL_MS;
    if (defaults.status_interval_ms <= 0)
        defaults.status_interval_ms = KUMO_INFRA_DEFAULT_STATUS_INTERVAL_MS;
    if (defaults.max_machines_per_namespace <= 0)
        defaults.max_machines_per_namespace = KUMO_INFRA_DEFAULT_MAX_MACHINES_PER_NAMESPACE;
    kumo_infra_controller *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    snprintf(c->name, sizeof(c->name), "%s", name);
    kumo_error err =
        e->cls ? infra_resource_start(e->cls, &defaults, c, diag) : e->start(&defaults, c, diag);
    if (err != KUMO_ERROR_OK) {
        kumo_infra_controller_stop(c);
        return err;
    }
    *out = c;
    return KUMO_ERROR_OK;
}

void kumo_infra_controller_stop(kumo_infra_controller *c)
{
    if (c == NULL)
        return;
    kumo_controller_destroy(c->controller);
    if (c->context_free)
        c->context_free(c->context);
    free(c);
}

kumo_error infra_controller_run(const kumo_controller_options *options, const infra_watch *watches,
                                size_t watch_count, kumo_infra_controller *out,
                                kumo_controller **self, kumo_diag *diag)
{
    kumo_error e = kumo_controller_create(options, &out->controller, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    *self = out->controller;
    for (size_t i = 0; e == KUMO_ERROR_OK && i < watch_count; i++)
        e = kumo_controller_watch(out->controller, kumo_object_kind_lookup(watches[i].kind),
                                  watches[i].map, watches[i].informer_out, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_start(out->controller, diag);
    return e;
}

kumo_controller *kumo_infra_controller_runtime(kumo_infra_controller *c)
{
    return c->controller;
}
