/*
 * conn.c - what makes a sim connection feel like a cloud API: settings,
 * latency (real sleeping, bounded by the caller's deadline), a token-bucket
 * rate limit that answers RequestLimitExceeded, injected faults, and the
 * stats a test reads back through `control` (calls per op, peak requests in
 * any one-second window, throttles, faults, timeouts).
 *
 * A call's latency is split into a request leg (before the cloud acts) and a
 * response leg (after). A deadline that ends during the request leg means the
 * cloud never saw the call; during the response leg it means the change WAS
 * applied but the caller gets TIMEOUT — exactly the case idempotency tokens
 * exist for.
 */
#include "drivers/sim/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct kumo_driver_host *sim_host;

static const char *const op_names[SIM_OP_COUNT] = {
#define SIM_OP_NAME(name, text) text,
    SIM_OPS(SIM_OP_NAME)
#undef SIM_OP_NAME
};

const char *sim_op_name(int op)
{
    return op >= 0 && op < SIM_OP_COUNT ? op_names[op] : "unknown";
}

/* ---- Settings ----------------------------------------------------------- */

void sim_config_defaults(struct sim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->provider, sizeof(cfg->provider), "aws");
    cfg->fsync = 1;
    cfg->compact_bytes = 8 << 20;
    cfg->boot_seconds = 5;
    cfg->stop_seconds = 2;
    cfg->terminate_seconds = 0;
    cfg->capacity = SIM_UNLIMITED;
    for (int i = 0; i < SIM_MAX_TYPES; i++)
        cfg->type_capacity[i] = SIM_UNLIMITED;
    cfg->quota_machines = SIM_UNLIMITED;
    cfg->quota_vcpus = SIM_UNLIMITED;
}

static kumo_driver_code set_provider(const struct kumo_driver_kit_settings *settings, void *config,
                                     const char *key, const char *value,
                                     struct kumo_driver_diag *diag)
{
    struct sim_config *cfg = config;
    if (!sim_provider_known(value))
        return kumo_driver_kit_setting_bad(settings, key, value, "one of aws, gcp, azure", diag);
    snprintf(cfg->provider, sizeof(cfg->provider), "%s", value);
    return KUMO_DRIVER_OK;
}

static kumo_driver_code set_type_capacity(const struct kumo_driver_kit_settings *settings,
                                          void *config, const char *key, const char *value,
                                          struct kumo_driver_diag *diag)
{
    struct sim_config *cfg = config;
    const char *type = key + strlen("capacity.");
    const struct sim_type *t = sim_type_find(cfg->provider, type);
    int64_t n;
    if (t == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "sim config %s: \"%s\" is not an instance type of provider %s "
                                    "(set provider before capacity.<type>)",
                                    key, type, cfg->provider);
    if (strcmp(value, "unlimited") == 0 || strcmp(value, "-1") == 0)
        n = SIM_UNLIMITED;
    else if (kumo_driver_kit_parse_int(value, 0, INT64_MAX, &n) != 0)
        return kumo_driver_kit_setting_bad(settings, key, value,
                                           "a machine count >= 0 or \"unlimited\"", diag);
    cfg->type_capacity[t - sim_types] = n;
    return KUMO_DRIVER_OK;
}

static kumo_driver_code set_seed(const struct kumo_driver_kit_settings *settings, void *config,
                                 const char *key, const char *value, struct kumo_driver_diag *diag)
{
    struct sim_config *cfg = config;
    int64_t n;
    if (kumo_driver_kit_parse_int(value, 0, INT64_MAX, &n) != 0)
        return kumo_driver_kit_setting_bad(settings, key, value, "an integer >= 0", diag);
    cfg->seed = (uint64_t)n;
    cfg->has_seed = 1;
    return KUMO_DRIVER_OK;
}

#define AT_OPEN  KUMO_DRIVER_KIT_SETTING_AT_OPEN
#define FIELD(f) offsetof(struct sim_config, f), sizeof(((struct sim_config *)0)->f)
#define STRING   KUMO_DRIVER_KIT_SETTING_STRING
#define DOUBLE   KUMO_DRIVER_KIT_SETTING_DOUBLE
#define INT      KUMO_DRIVER_KIT_SETTING_INT
#define LIMIT    KUMO_DRIVER_KIT_SETTING_LIMIT
#define CUSTOM   KUMO_DRIVER_KIT_SETTING_CUSTOM

_Static_assert(SIM_LATENCY_UNIFORM == 0 && SIM_LATENCY_NORMAL == 1 && SIM_LATENCY_EXPONENTIAL == 2,
               "latency_distribution's choices are in the enum's order");

static const struct kumo_driver_kit_setting rows[] = {
    {"provider", CUSTOM, 0, 0, 0, 0, NULL, NULL, AT_OPEN, set_provider},
    /* Resolved against the provider once every key is read. */
    {"region", STRING, FIELD(region_name), 1, 0, NULL, "a region name of the provider", AT_OPEN,
     NULL},
    {"zone", STRING, FIELD(zone), 0, 0, NULL, "a zone name", AT_OPEN, NULL},
    {"endpoint", KUMO_DRIVER_KIT_SETTING_IGNORED, 0, 0, 0, 0, NULL, NULL, AT_OPEN, NULL},
    {"state", STRING, FIELD(state_path), 1, 0, NULL, "the path of the sim's state file", AT_OPEN,
     NULL},
    {"fsync", KUMO_DRIVER_KIT_SETTING_BOOL, FIELD(fsync), 0, 0, NULL, "true or false", AT_OPEN,
     NULL},
    {"compact_bytes", INT, FIELD(compact_bytes), 4096, 0, NULL, "a size in bytes >= 4096", AT_OPEN,
     NULL},
    {"latency_ms", DOUBLE, FIELD(latency_ms), 0, 600000, NULL, "milliseconds >= 0", 0, NULL},
    {"latency_jitter_ms", DOUBLE, FIELD(latency_jitter_ms), 0, 600000, NULL, "milliseconds >= 0", 0,
     NULL},
    {"latency_distribution", KUMO_DRIVER_KIT_SETTING_CHOICE, FIELD(latency_shape), 0, 0,
     "uniform|normal|exponential", "uniform, normal or exponential", 0, NULL},
    {"boot_seconds", DOUBLE, FIELD(boot_seconds), 0, 86400, NULL, "seconds between 0 and 86400", 0,
     NULL},
    {"stop_seconds", DOUBLE, FIELD(stop_seconds), 0, 86400, NULL, "seconds between 0 and 86400", 0,
     NULL},
    {"terminate_seconds", DOUBLE, FIELD(terminate_seconds), 0, 86400, NULL,
     "seconds between 0 and 86400", 0, NULL},
    {"capacity", LIMIT, FIELD(capacity), 0, 0, NULL, "a machine count >= 0 or \"unlimited\"", 0,
     NULL},
    {"capacity.", CUSTOM, 0, 0, 0, 0, "<instance type>", NULL, KUMO_DRIVER_KIT_SETTING_PREFIX,
     set_type_capacity},
    {"quota_machines", LIMIT, FIELD(quota_machines), 0, 0, NULL,
     "a machine count >= 0 or \"unlimited\"", 0, NULL},
    {"quota_vcpus", LIMIT, FIELD(quota_vcpus), 0, 0, NULL, "a vCPU count >= 0 or \"unlimited\"", 0,
     NULL},
    {"qps", DOUBLE, FIELD(qps), 0, 1e6, NULL, "requests per second >= 0 (0: unlimited)", 0, NULL},
    {"burst", DOUBLE, FIELD(burst), 1, 1e6, NULL, "a bucket size >= 1", 0, NULL},
    {"fault_rate", DOUBLE, FIELD(fault_rate), 0, 1, NULL, "a probability between 0 and 1", 0, NULL},
    {"fault_after_rate", DOUBLE, FIELD(fault_after_rate), 0, 1, NULL,
     "a probability between 0 and 1", 0, NULL},
    {"consistency_delay_ms", INT, FIELD(consistency_delay_ms), 0, 0, NULL, "milliseconds >= 0", 0,
     NULL},
    {"seed", CUSTOM, 0, 0, 0, 0, NULL, NULL, 0, set_seed},
    {"auth_secret", STRING, FIELD(auth_secret), 0, 0, NULL, "a secret shorter than 128 characters",
     AT_OPEN, NULL},
};

static const struct kumo_driver_kit_settings settings = {"sim", "UnknownParameter", rows,
                                                         sizeof(rows) / sizeof(rows[0])};

kumo_driver_code sim_config_set(struct sim_config *cfg, const char *key, const char *value,
                                int at_open, struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_settings_apply(&settings, cfg, key, value, at_open, diag);
}

/* ---- Randomness, time, sleeping ------------------------------------------ */

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = (*state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double unit_random(uint64_t *state)
{
    return (double)(next_random(state) >> 11) / 9007199254740992.0;
}

double sim_conn_random(struct kumo_driver_conn *c)
{
    pthread_mutex_lock(&c->mu);
    double r = unit_random(&c->rng);
    pthread_mutex_unlock(&c->mu);
    return r;
}

static int64_t mono_now(void)
{
    return sim_host->monotonic_ns(sim_host->ctx);
}

/* Sleeps until `target` or `deadline` (host monotonic), whichever is first.
 * Returns 1 when the deadline cut the sleep short. */
static int sleep_until(int64_t target, int64_t deadline)
{
    int cut = deadline < target;
    int64_t end = cut ? deadline : target;
    for (;;) {
        int64_t left = end - mono_now();
        if (left <= 0)
            return cut;
        struct timespec ts = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
        nanosleep(&ts, NULL);
    }
}

/* Caller holds c->mu. */
static int64_t sample_latency_ns(struct kumo_driver_conn *c)
{
    const struct sim_config *cfg = &c->cfg;
    double ms = cfg->latency_ms, j = cfg->latency_jitter_ms;
    if (j > 0) {
        double u = unit_random(&c->rng);
        if (cfg->latency_shape == SIM_LATENCY_UNIFORM) {
            ms += (2 * u - 1) * j;
        } else if (cfg->latency_shape == SIM_LATENCY_NORMAL) {
            double v = unit_random(&c->rng);
            ms += j * sqrt(-2 * log(u > 0 ? u : 1e-12)) * cos(2 * M_PI * v);
        } else {
            ms += -j * log(1 - u);
        }
    }
    return ms <= 0 ? 0 : (int64_t)(ms * 1e6);
}

/* ---- Stats -------------------------------------------------------------- */

static void window_add(struct sim_window *w, int64_t now)
{
    while (w->len > 0 && w->ring[w->head] <= now - 1000000000) {
        w->head = (w->head + 1) % SIM_RING;
        w->len--;
    }
    if (w->len == SIM_RING) { /* saturated: more than SIM_RING per second */
        w->head = (w->head + 1) % SIM_RING;
        w->len--;
    }
    w->ring[(w->head + w->len) % SIM_RING] = now;
    w->len++;
    if (w->len > w->peak)
        w->peak = w->len;
}

void sim_conn_stats_json(struct kumo_driver_conn *c, struct kumo_driver_kit_buf *out)
{
    pthread_mutex_lock(&c->mu);
    kumo_driver_kit_buf_str(out, "{");
    kumo_driver_kit_buf_json_key(out, "connection", 1);
    kumo_driver_kit_buf_json_str(out, c->name);
    kumo_driver_kit_buf_json_key(out, "region", 0);
    kumo_driver_kit_buf_json_str(out, c->cfg.region->name);
    kumo_driver_kit_buf_printf(
        out,
        ",\"qpsLimit\":%g,\"burst\":%g,\"calls\":%llu,\"accepted\":%llu,"
        "\"throttled\":%llu,\"faults\":%llu,\"timeouts\":%llu,\"peakQps\":%zu,"
        "\"peakAcceptedQps\":%zu,\"inFlight\":%d,\"peakInFlight\":%d,\"byOp\":{",
        c->cfg.qps, c->cfg.burst, (unsigned long long)c->total_calls,
        (unsigned long long)c->accepted, (unsigned long long)c->throttled,
        (unsigned long long)c->faults, (unsigned long long)c->timeouts, c->requests.peak,
        c->accepted_window.peak, c->in_flight, c->peak_in_flight);
    for (int i = 0; i < SIM_OP_COUNT; i++) {
        kumo_driver_kit_buf_json_key(out, op_names[i], i == 0);
        kumo_driver_kit_buf_printf(out, "%llu", (unsigned long long)c->calls[i]);
    }
    kumo_driver_kit_buf_str(out, "}}\n");
    pthread_mutex_unlock(&c->mu);
}

void sim_conn_stats_reset(struct kumo_driver_conn *c)
{
    pthread_mutex_lock(&c->mu);
    memset(c->calls, 0, sizeof(c->calls));
    c->total_calls = c->accepted = c->throttled = c->faults = c->timeouts = 0;
    memset(&c->requests, 0, sizeof(c->requests));
    memset(&c->accepted_window, 0, sizeof(c->accepted_window));
    c->peak_in_flight = c->in_flight;
    pthread_mutex_unlock(&c->mu);
}

void sim_conn_config(struct kumo_driver_conn *c, struct sim_config *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->cfg;
    pthread_mutex_unlock(&c->mu);
}

/* ---- Calls -------------------------------------------------------------- */

static void leave(struct kumo_driver_conn *c)
{
    pthread_mutex_lock(&c->mu);
    if (--c->in_flight == 0)
        pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->mu);
}

kumo_driver_code sim_call_begin(struct kumo_driver_conn *c, int op, int64_t deadline_ns,
                                struct sim_call *call, struct kumo_driver_diag *diag)
{
    call->conn = c;
    call->op = op;
    call->deadline_ns = deadline_ns;
    call->reached = 0;
    pthread_mutex_lock(&c->mu);
    c->in_flight++;
    if (c->in_flight > c->peak_in_flight)
        c->peak_in_flight = c->in_flight;
    int64_t latency = sample_latency_ns(c);
    pthread_mutex_unlock(&c->mu);
    call->response_ns = latency - latency / 2;

    int64_t start = mono_now();
    if (deadline_ns <= start)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
                                    "%s: the deadline had passed before the request was sent",
                                    sim_op_name(op));
    if (sleep_until(start + latency / 2, deadline_ns))
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
            "%s: no answer within the deadline; the request did not reach the cloud",
            sim_op_name(op));

    /* The request arrives at the cloud. */
    call->reached = 1;
    int64_t now = mono_now();
    kumo_driver_code rc = KUMO_DRIVER_OK;
    pthread_mutex_lock(&c->mu);
    c->calls[op]++;
    c->total_calls++;
    window_add(&c->requests, now);
    const struct sim_config *cfg = &c->cfg;
    if (!c->authorized) {
        rc = kumo_driver_kit_fail(
            diag, KUMO_DRIVER_UNAUTHORIZED, "AuthFailure",
            "connection %s: the credentials were refused (secret_key does not match)", c->name);
    } else if (cfg->qps > 0) {
        double burst = cfg->burst > 0 ? cfg->burst : (cfg->qps > 1 ? cfg->qps : 1);
        c->tokens += (double)(now - c->bucket_ns) / 1e9 * cfg->qps;
        if (c->tokens > burst)
            c->tokens = burst;
        c->bucket_ns = now;
        if (c->tokens >= 1) {
            c->tokens -= 1;
        } else {
            c->throttled++;
            rc = kumo_driver_kit_fail(
                diag, KUMO_DRIVER_THROTTLED, "RequestLimitExceeded",
                "Request limit exceeded: connection %s allows %g requests per second "
                "(burst %g)",
                c->name, cfg->qps, burst);
            diag->retry_after_ms = (uint32_t)((1 - c->tokens) / cfg->qps * 1000) + 1;
        }
    }
    if (rc == KUMO_DRIVER_OK && cfg->fault_rate > 0 && unit_random(&c->rng) < cfg->fault_rate) {
        c->faults++;
        if (unit_random(&c->rng) < 0.5)
            rc = kumo_driver_kit_fail(
                diag, KUMO_DRIVER_UNAVAILABLE, "Unavailable",
                "%s: the service is unavailable, please try again (injected fault)",
                sim_op_name(op));
        else
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError",
                                      "%s: an internal error has occurred (injected fault)",
                                      sim_op_name(op));
    }
    if (rc == KUMO_DRIVER_OK) {
        c->accepted++;
        window_add(&c->accepted_window, now);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

kumo_driver_code sim_call_end(struct sim_call *call, kumo_driver_code rc,
                              struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    if (call->reached) {
        if (sleep_until(mono_now() + call->response_ns, call->deadline_ns)) {
            rc = kumo_driver_kit_fail(
                diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
                "%s: no answer within the deadline; the request may have been applied",
                sim_op_name(call->op));
        } else if (rc == KUMO_DRIVER_OK) {
            pthread_mutex_lock(&c->mu);
            int lost =
                c->cfg.fault_after_rate > 0 && unit_random(&c->rng) < c->cfg.fault_after_rate;
            if (lost)
                c->faults++;
            pthread_mutex_unlock(&c->mu);
            if (lost)
                rc = kumo_driver_kit_fail(
                    diag, KUMO_DRIVER_INTERNAL, "InternalError",
                    "%s: an internal error has occurred after the request was applied "
                    "(injected fault)",
                    sim_op_name(call->op));
        }
    }
    if (rc == KUMO_DRIVER_TIMEOUT) {
        pthread_mutex_lock(&c->mu);
        c->timeouts++;
        pthread_mutex_unlock(&c->mu);
    }
    leave(c);
    return rc;
}
