/*
 * driver.c - the sim driver's entry point and table, connections (open,
 * close, the per-process registry that lets several connections share one
 * state file), and `control`, the test hatch.
 *
 * One state file is one fake cloud account: connections to different regions
 * (or the same region) that name the same file share one in-memory state and
 * one writer. A second process that opens the file for writing is refused.
 */
#include "drivers/sim/internal.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Host logging ------------------------------------------------------- */

static void log_to_host(int level, const char *message)
{
    if (sim_host->log_enabled(sim_host->ctx, level))
        sim_host->log(sim_host->ctx, level, "sim", message);
}

/* ---- The registry of open states ---------------------------------------- */

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sim_state *registry;

/* The absolute, symlink-free path of a file that may not exist yet. */
static int resolve(const char *path, char *out, size_t size)
{
    char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    snprintf(base, sizeof(base), "%s", path);
    if (realpath(dirname(dir), real) == NULL)
        return -1;
    int n = snprintf(out, size, "%s/%s", real, basename(base));
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static kumo_driver_code attach(struct kumo_driver_conn *c, struct kumo_driver_diag *diag)
{
    char path[PATH_MAX + 8], err[512];
    int locked = 0;
    if (resolve(c->cfg.state_path, path, sizeof(path)) != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "sim config state=\"%s\": its folder does not exist (%s)",
                                    c->cfg.state_path, strerror(errno));
    pthread_mutex_lock(&registry_mu);
    struct sim_state *st = registry;
    while (st != NULL && (strcmp(st->path, path) != 0 || st->pid != (long)getpid()))
        st = st->next;
    if (st == NULL) {
        st = sim_state_open(path, 0, c->cfg.fsync, c->cfg.compact_bytes, &locked, err, sizeof(err));
        if (st != NULL) {
            st->next = registry;
            registry = st;
        }
    }
    if (st != NULL)
        st->refs++;
    pthread_mutex_unlock(&registry_mu);
    if (st == NULL)
        return kumo_driver_kit_fail(diag, locked ? KUMO_DRIVER_UNAVAILABLE : KUMO_DRIVER_INTERNAL,
                                    locked ? "StateLocked" : "StateUnreadable", "%s", err);
    c->state = st;
    return KUMO_DRIVER_OK;
}

static void detach(struct sim_state *st)
{
    pthread_mutex_lock(&registry_mu);
    if (--st->refs == 0) {
        struct sim_state **p = &registry;
        while (*p != st)
            p = &(*p)->next;
        *p = st->next;
        sim_state_close(st);
    }
    pthread_mutex_unlock(&registry_mu);
}

/* ---- Open and close ----------------------------------------------------- */

static void sim_close(struct kumo_driver_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    while (c->in_flight > 0)
        pthread_cond_wait(&c->idle, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (c->state != NULL)
        detach(c->state);
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static kumo_driver_code sim_open(const struct kumo_driver_open_args *args,
                                 struct kumo_driver_conn **out, struct kumo_driver_diag *diag)
{
    if (out == NULL || args == NULL)
        return sim_missing(diag, "open", "args and out");
    *out = NULL;
    struct kumo_driver_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->idle, NULL);
    snprintf(c->name, sizeof(c->name), "%s", args->connection ? args->connection : "sim");
    sim_config_defaults(&c->cfg);
    kumo_driver_code rc = KUMO_DRIVER_OK;
    /* provider first: capacity.<type> keys are checked against its catalog. */
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < args->config_count; i++)
        if (args->config[i].key && strcmp(args->config[i].key, "provider") == 0)
            rc = sim_config_set(&c->cfg, "provider", args->config[i].value, 1, diag);
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < args->config_count; i++)
        if (args->config[i].key == NULL)
            rc = sim_missing(diag, "open", "every config key");
        else if (strcmp(args->config[i].key, "provider") != 0)
            rc = sim_config_set(&c->cfg, args->config[i].key, args->config[i].value, 1, diag);
    struct sim_config *cfg = &c->cfg;
    if (rc == KUMO_DRIVER_OK && cfg->region_name[0] == '\0')
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                  "sim config region is required (a region of %s, e.g. %s)",
                                  cfg->provider,
                                  strcmp(cfg->provider, "gcp") == 0     ? "us-central1"
                                  : strcmp(cfg->provider, "azure") == 0 ? "eastus"
                                                                        : "us-east-1");
    if (rc == KUMO_DRIVER_OK) {
        cfg->region = sim_region_find(cfg->provider, cfg->region_name);
        if (cfg->region == NULL)
            rc =
                kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                     "sim config region=\"%s\" is not a region of provider %s (see "
                                     "kumo-sim catalog --provider %s)",
                                     cfg->region_name, cfg->provider, cfg->provider);
    }
    if (rc == KUMO_DRIVER_OK && cfg->zone[0] == '\0')
        sim_zone_name(cfg->region, 0, cfg->zone, sizeof(cfg->zone));
    if (rc == KUMO_DRIVER_OK && !sim_zone_valid(cfg->region, cfg->zone))
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                  "sim config zone=\"%s\" is not a zone of %s", cfg->zone,
                                  cfg->region->name);
    if (rc == KUMO_DRIVER_OK && cfg->state_path[0] == '\0')
        rc = kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "MissingParameter",
            "sim config state is required: the path of the file that holds the "
            "simulated cloud (connections naming the same file share one account)");
    c->authorized = 1;
    if (rc == KUMO_DRIVER_OK && cfg->auth_secret[0] != '\0') {
        c->authorized = 0;
        for (size_t i = 0; i < args->credential_count; i++)
            if (args->credentials[i].key && strcmp(args->credentials[i].key, "secret_key") == 0 &&
                args->credentials[i].value &&
                strcmp(args->credentials[i].value, cfg->auth_secret) == 0)
                c->authorized = 1;
    }
    if (rc == KUMO_DRIVER_OK) {
        c->rng = cfg->has_seed
                     ? cfg->seed
                     : (uint64_t)sim_host->realtime_ns(sim_host->ctx) ^ (uint64_t)(uintptr_t)c;
        c->tokens = cfg->burst > 0 ? cfg->burst : (cfg->qps > 1 ? cfg->qps : 1);
        c->bucket_ns = sim_host->monotonic_ns(sim_host->ctx);
        rc = attach(c, diag);
    }
    if (rc != KUMO_DRIVER_OK) {
        sim_close(c);
        return rc;
    }
    sim_log(KUMO_DRIVER_LOG_DEBUG, "connection %s opened: %s %s, state %s", c->name, cfg->provider,
            cfg->region->name, c->state->path);
    *out = c;
    return KUMO_DRIVER_OK;
}

/* ---- control ------------------------------------------------------------ */

static kumo_driver_code reply(char **json_out, const char *text, struct kumo_driver_diag *diag)
{
    *json_out = sim_pack_text(text);
    return *json_out
               ? KUMO_DRIVER_OK
               : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
}

/* Applies every member of a flat JSON object as a config key. */
static kumo_driver_code configure(struct kumo_driver_conn *c, const char *json,
                                  struct kumo_driver_diag *diag)
{
    char key[128], value[256];
    const char *cursor = json ? json : "{}";
    struct sim_config next;
    sim_conn_config(c, &next);
    int rc;
    while ((rc = sim_json_next(&cursor, key, sizeof(key), value, sizeof(value))) == 1) {
        kumo_driver_code code = sim_config_set(&next, key, value, 0, diag);
        if (code != KUMO_DRIVER_OK)
            return code;
    }
    if (rc < 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MalformedInput",
                                    "configure: expected a flat JSON object of settings, like "
                                    "{\"qps\":\"50\",\"capacity.t3.micro\":3}");
    pthread_mutex_lock(&c->mu);
    if (next.qps != c->cfg.qps || next.burst != c->cfg.burst)
        c->tokens = next.burst > 0 ? next.burst : (next.qps > 1 ? next.qps : 1);
    c->cfg = next;
    pthread_mutex_unlock(&c->mu);
    return KUMO_DRIVER_OK;
}

static const char control_ops[] = "stats, reset_stats, configure, set_capacity, machine_stop, "
                                  "machine_start, machine_terminate, inventory";

static kumo_driver_code sim_control(struct kumo_driver_conn *c, const char *op, const char *json_in,
                                    char **json_out, struct kumo_driver_diag *diag)
{
    char value[256], type[128];
    struct kumo_driver_kit_buf b;
    if (json_out == NULL || op == NULL)
        return sim_missing(diag, "control", "op and json_out");
    *json_out = NULL;
    kumo_driver_kit_buf_init(&b);
    kumo_driver_code rc = KUMO_DRIVER_OK;
    if (strcmp(op, "stats") == 0) {
        sim_conn_stats_json(c, &b);
    } else if (strcmp(op, "reset_stats") == 0) {
        sim_conn_stats_reset(c);
        kumo_driver_kit_buf_str(&b, "{}");
    } else if (strcmp(op, "configure") == 0) {
        rc = configure(c, json_in, diag);
        kumo_driver_kit_buf_str(&b, "{}");
    } else if (strcmp(op, "set_capacity") == 0) {
        /* {"type":"t3.micro","capacity":3} or {"capacity":"unlimited"} for the region */
        if (sim_json_get(json_in, "capacity", value, sizeof(value)) != 1)
            rc =
                kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                     "set_capacity needs {\"capacity\":N} and optionally \"type\"");
        struct sim_config next;
        sim_conn_config(c, &next);
        char key[160] = "capacity";
        if (sim_json_get(json_in, "type", type, sizeof(type)) == 1)
            snprintf(key, sizeof(key), "capacity.%s", type);
        if (rc == KUMO_DRIVER_OK)
            rc = sim_config_set(&next, key, value, 0, diag);
        if (rc == KUMO_DRIVER_OK) {
            pthread_mutex_lock(&c->mu);
            c->cfg = next;
            pthread_mutex_unlock(&c->mu);
        }
        kumo_driver_kit_buf_str(&b, "{}");
    } else if (strcmp(op, "machine_stop") == 0 || strcmp(op, "machine_start") == 0 ||
               strcmp(op, "machine_terminate") == 0) {
        if (sim_json_get(json_in, "id", value, sizeof(value)) != 1)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                      "%s needs {\"id\":\"i-...\"}", op);
        else
            rc = sim_machine_force(c, value, op + 8, diag);
        kumo_driver_kit_buf_str(&b, "{}");
    } else if (strcmp(op, "inventory") == 0) {
        int has_region = sim_json_get(json_in, "region", value, sizeof(value)) == 1;
        pthread_mutex_lock(&c->state->mu);
        sim_inventory_json(c->state, sim_host->realtime_ns(sim_host->ctx), NULL,
                           has_region ? value : NULL, &b);
        pthread_mutex_unlock(&c->state->mu);
    } else {
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_UNSUPPORTED, "UnknownOperation",
                                  "sim has no control op \"%s\"; known: %s", op, control_ops);
    }
    if (rc == KUMO_DRIVER_OK)
        rc = b.failed
                 ? kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory")
                 : reply(json_out, b.data ? b.data : "{}", diag);
    kumo_driver_kit_buf_fini(&b);
    return rc;
}

/* ---- The table ---------------------------------------------------------- */

static const struct kumo_driver table = {
    KUMO_DRIVER_KIT_TABLE_VERSION,
    .name = "sim",
    .description = "simulated cloud: realistic catalogs, latency, limits and faults, state in a "
                   "file",
    .capabilities = KUMO_DRIVER_CAP_MACHINES | KUMO_DRIVER_CAP_NETWORKS |
                    KUMO_DRIVER_CAP_SECURITY_GROUPS | KUMO_DRIVER_CAP_KEY_PAIRS |
                    KUMO_DRIVER_CAP_CATALOG | KUMO_DRIVER_CAP_CONTROL |
                    KUMO_DRIVER_CAP_MACHINE_POWER | KUMO_DRIVER_CAP_TOKENS |
                    KUMO_DRIVER_CAP_SIMULATED | KUMO_DRIVER_CAP_LOAD_BALANCERS,
    KUMO_DRIVER_KIT_TABLE_BASE(sim),
    KUMO_DRIVER_KIT_TABLE_OPS(sim, machine),
    KUMO_DRIVER_KIT_TABLE_OPS(sim, network),
    KUMO_DRIVER_KIT_TABLE_OPS(sim, security_group),
    KUMO_DRIVER_KIT_TABLE_OPS(sim, key_pair),
    .control = sim_control,
    KUMO_DRIVER_KIT_TABLE_OPS(sim, load_balancer),
};

__attribute__((visibility("default"))) const struct kumo_driver *
kumo_driver_entry(const struct kumo_driver_host *host)
{
    /* The host must give at least what ABI 1.0 hosts give. */
    if (host == NULL || host->abi_major != KUMO_DRIVER_ABI_MAJOR ||
        host->struct_size < offsetof(struct kumo_driver_host, realtime_ns) + sizeof(void *))
        return NULL;
    sim_host = host;
    sim_log_hook = log_to_host;
    return &table;
}
