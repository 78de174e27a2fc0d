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

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

/* A count that may be "unlimited" (or -1). */
static int parse_limit(const char *s, int64_t *out)
{
    if (strcmp(s, "unlimited") == 0 || strcmp(s, "-1") == 0) {
        *out = SIM_UNLIMITED;
        return 0;
    }
    return parse_int(s, 0, out);
}

static int parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "on") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcmp(s, "off") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

static kumo_driver_code bad(struct kumo_driver_diag *diag, const char *key, const char *value,
                            const char *expected)
{
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                "sim config %s=\"%s\": expected %s", key, value, expected);
}

static const char known_keys[] =
    "provider, region, zone, endpoint, state, fsync, compact_bytes, latency_ms, "
    "latency_jitter_ms, latency_distribution, boot_seconds, stop_seconds, terminate_seconds, "
    "capacity, capacity.<instance type>, quota_machines, quota_vcpus, qps, burst, fault_rate, "
    "fault_after_rate, consistency_delay_ms, seed, auth_secret";

kumo_driver_code sim_config_set(struct sim_config *cfg, const char *key, const char *value,
                                int at_open, struct kumo_driver_diag *diag)
{
    int64_t n;
    double d;
    if (value == NULL)
        value = "";
    if (strcmp(key, "provider") == 0 || strcmp(key, "region") == 0 || strcmp(key, "zone") == 0 ||
        strcmp(key, "state") == 0 || strcmp(key, "fsync") == 0 ||
        strcmp(key, "compact_bytes") == 0 || strcmp(key, "endpoint") == 0 ||
        strcmp(key, "auth_secret") == 0) {
        if (!at_open)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "sim config %s can only be set when the connection is opened", key);
        if (strcmp(key, "provider") == 0) {
            if (!sim_provider_known(value))
                return bad(diag, key, value, "one of aws, gcp, azure");
            snprintf(cfg->provider, sizeof(cfg->provider), "%s", value);
        } else if (strcmp(key, "region") == 0) {
            if (value[0] == '\0' || strlen(value) >= sizeof(cfg->region_name))
                return bad(diag, key, value, "a region name of the provider");
            /* Resolved against the provider once every key is read. */
            snprintf(cfg->region_name, sizeof(cfg->region_name), "%s", value);
        } else if (strcmp(key, "zone") == 0) {
            if (strlen(value) >= sizeof(cfg->zone))
                return bad(diag, key, value, "a zone name");
            snprintf(cfg->zone, sizeof(cfg->zone), "%s", value);
        } else if (strcmp(key, "state") == 0) {
            if (value[0] == '\0' || strlen(value) >= sizeof(cfg->state_path))
                return bad(diag, key, value, "the path of the sim's state file");
            snprintf(cfg->state_path, sizeof(cfg->state_path), "%s", value);
        } else if (strcmp(key, "fsync") == 0) {
            if (parse_bool(value, &cfg->fsync) != 0)
                return bad(diag, key, value, "true or false");
        } else if (strcmp(key, "compact_bytes") == 0) {
            if (parse_int(value, 4096, &cfg->compact_bytes) != 0)
                return bad(diag, key, value, "a size in bytes >= 4096");
        } else if (strcmp(key, "auth_secret") == 0) {
            if (strlen(value) >= sizeof(cfg->auth_secret))
                return bad(diag, key, value, "a secret shorter than 128 characters");
            snprintf(cfg->auth_secret, sizeof(cfg->auth_secret), "%s", value);
        }
        return KUMO_DRIVER_OK; /* endpoint: accepted and ignored */
    }
    if (strcmp(key, "latency_ms") == 0) {
        if (parse_double(value, 0, 600000, &cfg->latency_ms) != 0)
            return bad(diag, key, value, "milliseconds >= 0");
    } else if (strcmp(key, "latency_jitter_ms") == 0) {
        if (parse_double(value, 0, 600000, &cfg->latency_jitter_ms) != 0)
            return bad(diag, key, value, "milliseconds >= 0");
    } else if (strcmp(key, "latency_distribution") == 0) {
        if (strcmp(value, "uniform") == 0)
            cfg->latency_shape = SIM_LATENCY_UNIFORM;
        else if (strcmp(value, "normal") == 0)
            cfg->latency_shape = SIM_LATENCY_NORMAL;
        else if (strcmp(value, "exponential") == 0)
            cfg->latency_shape = SIM_LATENCY_EXPONENTIAL;
        else
            return bad(diag, key, value, "uniform, normal or exponential");
    } else if (strcmp(key, "boot_seconds") == 0 || strcmp(key, "stop_seconds") == 0 ||
               strcmp(key, "terminate_seconds") == 0) {
        if (parse_double(value, 0, 86400, &d) != 0)
            return bad(diag, key, value, "seconds between 0 and 86400");
        if (strcmp(key, "boot_seconds") == 0)
            cfg->boot_seconds = d;
        else if (strcmp(key, "stop_seconds") == 0)
            cfg->stop_seconds = d;
        else
            cfg->terminate_seconds = d;
    } else if (strcmp(key, "capacity") == 0) {
        if (parse_limit(value, &cfg->capacity) != 0)
            return bad(diag, key, value, "a machine count >= 0 or \"unlimited\"");
    } else if (strncmp(key, "capacity.", 9) == 0) {
        const struct sim_type *t = sim_type_find(cfg->provider, key + 9);
        if (t == NULL)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "sim config %s: \"%s\" is not an instance type of provider %s (set "
                "provider before capacity.<type>)",
                key, key + 9, cfg->provider);
        if (parse_limit(value, &n) != 0)
            return bad(diag, key, value, "a machine count >= 0 or \"unlimited\"");
        cfg->type_capacity[t - sim_types] = n;
    } else if (strcmp(key, "quota_machines") == 0) {
        if (parse_limit(value, &cfg->quota_machines) != 0)
            return bad(diag, key, value, "a machine count >= 0 or \"unlimited\"");
    } else if (strcmp(key, "quota_vcpus") == 0) {
        if (parse_limit(value, &cfg->quota_vcpus) != 0)
            return bad(diag, key, value, "a vCPU count >= 0 or \"unlimited\"");
    } else if (strcmp(key, "qps") == 0) {
        if (parse_double(value, 0, 1e6, &cfg->qps) != 0)
            return bad(diag, key, value, "requests per second >= 0 (0: unlimited)");
    } else if (strcmp(key, "burst") == 0) {
        if (parse_double(value, 1, 1e6, &cfg->burst) != 0)
            return bad(diag, key, value, "a bucket size >= 1");
    } else if (strcmp(key, "fault_rate") == 0 || strcmp(key, "fault_after_rate") == 0) {
        if (parse_double(value, 0, 1, &d) != 0)
            return bad(diag, key, value, "a probability between 0 and 1");
        if (strcmp(key, "fault_rate") == 0)
            cfg->fault_rate = d;
        else
            cfg->fault_after_rate = d;
    } else if (strcmp(key, "consistency_delay_ms") == 0) {
        if (parse_int(value, 0, &cfg->consistency_delay_ms) != 0)
            return bad(diag, key, value, "milliseconds >= 0");
    } else if (strcmp(key, "seed") == 0) {
        if (parse_int(value, 0, &n) != 0)
            return bad(diag, key, value, "an integer >= 0");
        cfg->seed = (uint64_t)n;
        cfg->has_seed = 1;
    } else {
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "UnknownParameter",
                                    "sim config key \"%s\" is unknown; known keys: %s", key,
                                    known_keys);
    }
    return KUMO_DRIVER_OK;
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
