/*
 * cloud.c - slots by Connection key, each holding the current open conn;
 * drivers loaded once by name; limiter brackets around driver calls.
 *
 * slot (one per "ns/name", kept until destroy): the current conn (one
 * reference held by the slot), the uid/generation it was opened for, the
 * counters, and a remembered open failure. A reopen swaps in a new conn and
 * drops the slot's reference to the old one; the old driver connection is
 * closed by whoever releases it last.
 */
#include "controllers/runtime/cloud/cloud.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/log/log.h"
#include "apis/metrics/metrics.h"
#include "apis/map/map.h"
#include "apis/object/object.h"
#include "drivers/loader/loader.h"
#include "controllers/runtime/clock/clock.h"

/* A failed open is not retried for the same generation before this many ms. */
#define OPEN_FAILURE_HOLD_MS 3000
/* A Connection's API limits when its spec.rateLimit leaves them out. */
#define CLOUD_DEFAULT_QPS       10.0
#define CLOUD_DEFAULT_BURST     20.0
#define CLOUD_DEFAULT_IN_FLIGHT 8

typedef struct slot slot;

struct kumo_cloud_conn {
    kumo_cloud *cloud;
    slot *slot;
    atomic_int refs;
    const struct kumo_driver *driver;
    const struct kumo_driver_host *host;
    struct kumo_driver_conn *handle;
    kumo_limiter *limiter;
    double qps;
    int max_waiting;
    char provider[64];
    char region[64];
};

struct slot {
    char key[320];
    char driver[64];
    kumo_cloud_conn *current;
    char uid[64];
    int64_t generation;
    int invalid;
    /* a remembered failed open */
    char failed_uid[64];
    int64_t failed_generation;
    double failed_at_ms;
    kumo_diag failure;
    /* counters */
    atomic_ullong calls, failures, cloud_throttled, limiter_deferred;
    atomic_int waiting;
    /* Deferred callers are told to come back one token apart, in the order they were
     * deferred: the end of that line, in microseconds of the monotonic clock. */
    atomic_llong deferred_until_us;
};

typedef struct loaded_driver {
    char name[64];
    kumo_driver_handle *handle;
} loaded_driver;

typedef struct known_region {
    char provider[32];
    char name[64];
    double latitude, longitude;
} known_region;

struct kumo_cloud {
    kumo_cloud_options options;
    char drivers_dir[1024];
    char state_root[1024];
    kumo_limiter_set *limiters;
    int own_limiters;
    pthread_mutex_t lock;
    kumo_map *slots; /* key -> slot */
    loaded_driver *drivers;
    size_t driver_count;
    known_region *regions;
    size_t region_count, region_cap;
};

kumo_error kumo_cloud_create(const kumo_cloud_options *options, kumo_cloud **out, kumo_diag *diag)
{
    *out = NULL;
    if (options == NULL || options->drivers_dir == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "cloud registry: no drivers dir");
    kumo_cloud *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    c->options = *options;
    snprintf(c->drivers_dir, sizeof(c->drivers_dir), "%s", options->drivers_dir);
    c->options.drivers_dir = c->drivers_dir;
    snprintf(c->state_root, sizeof(c->state_root), "%s",
             options->state_root ? options->state_root : "");
    c->options.state_root = c->state_root[0] ? c->state_root : NULL;
    if (c->options.call_timeout_ms <= 0)
        c->options.call_timeout_ms = KUMO_CLOUD_DEFAULT_CALL_TIMEOUT_MS;
    if (c->options.limiter_wait_ms <= 0)
        c->options.limiter_wait_ms = KUMO_CLOUD_DEFAULT_LIMITER_WAIT_MS;
    c->limiters = options->limiters;
    if (c->limiters == NULL) {
        c->limiters = kumo_limiter_set_create();
        c->own_limiters = 1;
    }
    c->slots = kumo_map_create();
    pthread_mutex_init(&c->lock, NULL);
    if (c->limiters == NULL || c->slots == NULL) {
        kumo_cloud_destroy(c);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    *out = c;
    return KUMO_ERROR_OK;
}

static void conn_free(kumo_cloud_conn *conn)
{
    if (conn->handle)
        conn->driver->close(conn->handle);
    free(conn);
}

void kumo_cloud_conn_release(kumo_cloud_conn *conn)
{
    if (conn != NULL && atomic_fetch_sub(&conn->refs, 1) == 1)
        conn_free(conn);
}

static void slot_free(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    slot *s = value;
    kumo_cloud_conn_release(s->current);
    kumo_diag_fini(&s->failure);
    free(s);
}

void kumo_cloud_destroy(kumo_cloud *c)
{
    if (c == NULL)
        return;
    if (c->slots) {
        kumo_map_each(c->slots, slot_free, NULL);
        kumo_map_destroy(c->slots);
    }
    for (size_t i = 0; i < c->driver_count; i++)
        kumo_driver_unload(c->drivers[i].handle);
    free(c->drivers);
    free(c->regions);
    if (c->own_limiters)
        kumo_limiter_set_destroy(c->limiters);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The loaded driver `name`, loading it on first use. Caller holds the lock. */
static kumo_error driver_get(kumo_cloud *c, const char *name, kumo_driver_handle **out,
                             kumo_diag *diag)
{
    for (size_t i = 0; i < c->driver_count; i++) {
        if (strcmp(c->drivers[i].name, name) == 0) {
            *out = c->drivers[i].handle;
            return KUMO_ERROR_OK;
        }
    }
    kumo_driver_handle *h = NULL;
    kumo_error e = kumo_driver_load(c->drivers_dir, name, &h, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    loaded_driver *grown = realloc(c->drivers, (c->driver_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        kumo_driver_unload(h);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    c->drivers = grown;
    snprintf(grown[c->driver_count].name, sizeof(grown->name), "%s", name);
    grown[c->driver_count++].handle = h;
    KUMO_LOG_INFO("cloud", "driver loaded", "driver=%s path=%s", name, kumo_driver_path(h));
    *out = h;
    return KUMO_ERROR_OK;
}

/* ---- opening ----------------------------------------------------------------------- */

typedef struct kv_list {
    struct kumo_driver_kv *items;
    size_t count, cap;
} kv_list;

static int kv_add(kv_list *l, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return 0;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct kumo_driver_kv *grown = realloc(l->items, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count].key = key;
    l->items[l->count++].value = value;
    return 0;
}

/* A `state`/`state_dir` value that is a relative path, resolved into buf; else the value. */
static const char *state_path(const kumo_cloud *c, const char *key, const char *value, char *buf,
                              size_t size)
{
    if (c->options.state_root == NULL || value == NULL || value[0] == '\0' || value[0] == '/' ||
        (strcmp(key, "state") != 0 && strcmp(key, "state_dir") != 0))
        return value;
    snprintf(buf, size, "%s/%s", c->options.state_root, value);
    return buf;
}

static int well_known(const char *key)
{
    return strcmp(key, "provider") == 0 || strcmp(key, "region") == 0 || strcmp(key, "zone") == 0 ||
           strcmp(key, "endpoint") == 0;
}

/* Opens a new conn for the Connection. Called without the lock held. */
/* The Connection's Credential (*out, caller destroys; NULL when it names none), checked to
 * be of the Connection's driver or provider. */
static kumo_error credential_read(kumo_cloud *c, const Kumo__V1alpha1__Connection *connection,
                                  ProtobufCMessage **out, kumo_diag *diag)
{
    const Kumo__V1alpha1__ConnectionSpec *spec = connection->spec;
    *out = NULL;
    if (!(spec->credential_ref && spec->credential_ref->name && spec->credential_ref->name[0]))
        return KUMO_ERROR_OK;
    if (c->options.read_credential == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE,
                             "Connection \"%s\": credentialRef \"%s\" cannot be read: this "
                             "controller manager has no access to Credential data",
                             connection->metadata->name, spec->credential_ref->name);
    ProtobufCMessage *credential = NULL;
    kumo_error e =
        c->options.read_credential(c->options.credential_context, connection->metadata->namespace_,
                                   spec->credential_ref->name, &credential, diag);
    if (e != KUMO_ERROR_OK) {
        if (e == KUMO_ERROR_NOT_FOUND)
            kumo_diag_set(diag, e, "Connection \"%s\": Credential \"%s\" not found",
                          connection->metadata->name, spec->credential_ref->name);
        return e;
    }
    const Kumo__V1alpha1__Credential *cr = (const Kumo__V1alpha1__Credential *)credential;
    const char *type = cr->spec && cr->spec->type ? cr->spec->type : "";
    if (strcmp(type, spec->driver) != 0 &&
        (spec->provider == NULL || spec->provider[0] == 0 || strcmp(type, spec->provider) != 0)) {
        e = kumo_diag_set(diag, KUMO_ERROR_INVALID,
                          "Connection \"%s\": Credential \"%s\" has type \"%s\"; a %s "
                          "Connection needs a Credential of type \"%s\"",
                          connection->metadata->name, spec->credential_ref->name, type,
                          spec->driver, spec->driver);
        kumo_object_destroy(credential);
        return e;
    }
    *out = credential;
    return KUMO_ERROR_OK;
}

/* The driver's config (well-known fields, then spec.config with state paths resolved into
 * paths[]) and credentials. 0, or -1 when out of memory. */
static int driver_args_build(kumo_cloud *c, const Kumo__V1alpha1__ConnectionSpec *spec,
                             const Kumo__V1alpha1__Credential *cred, kv_list *config,
                             kv_list *creds, char paths[2][2048])
{
    int bad = kv_add(config, "provider", spec->provider) ||
              kv_add(config, "region", spec->region) || kv_add(config, "zone", spec->zone) ||
              kv_add(config, "endpoint", spec->endpoint);
    size_t path_count = 0;
    for (size_t i = 0; !bad && i < spec->n_config; i++) {
        const char *key = spec->config[i]->key, *value = spec->config[i]->value;
        if (well_known(key))
            continue;
        if (path_count < 2 &&
            state_path(c, key, value, paths[path_count], sizeof(paths[0])) != value)
            value = paths[path_count++];
        bad = kv_add(config, key, value);
    }
    for (size_t i = 0; !bad && cred && cred->spec && i < cred->spec->n_data; i++)
        bad = kv_add(creds, cred->spec->data[i]->key, cred->spec->data[i]->value);
    return bad ? -1 : 0;
}

/* Opens the driver's connection; *out NULL on failure (diag set). */
static kumo_error driver_open(kumo_cloud *c, slot *s, const Kumo__V1alpha1__ConnectionSpec *spec,
                              kumo_driver_handle *driver_handle, const kv_list *config,
                              const kv_list *creds, kumo_cloud_conn **out, kumo_diag *diag)
{
    kumo_cloud_conn *conn = calloc(1, sizeof(*conn));
    *out = NULL;
    if (conn == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    conn->cloud = c;
    conn->slot = s;
    atomic_init(&conn->refs, 1);
    conn->driver = kumo_driver_table(driver_handle);
    conn->host = kumo_driver_host_of(driver_handle);
    snprintf(conn->provider, sizeof(conn->provider), "%s",
             spec->provider && spec->provider[0] ? spec->provider : spec->driver);
    snprintf(conn->region, sizeof(conn->region), "%s", spec->region);
    struct kumo_driver_open_args args = {.struct_size = sizeof(args),
                                         .connection = s->key,
                                         .config = config->items,
                                         .config_count = config->count,
                                         .credentials = creds->items,
                                         .credential_count = creds->count};
    struct kumo_driver_diag dd;
    memset(&dd, 0, sizeof(dd));
    kumo_driver_code rc = conn->driver->open(&args, &conn->handle, &dd);
    if (rc != KUMO_DRIVER_OK) {
        kumo_error e = kumo_driver_diag_to_kumo(rc, &dd, conn->driver->name, "open", diag);
        free(conn);
        return e;
    }
    *out = conn;
    return KUMO_ERROR_OK;
}

/* The Connection's API limits (spec.rateLimit, else the defaults) and its limiter. */
static kumo_error conn_limit(kumo_cloud *c, slot *s, const Kumo__V1alpha1__ConnectionSpec *spec,
                             kumo_cloud_conn *conn, kumo_diag *diag)
{
    double qps = CLOUD_DEFAULT_QPS, burst = CLOUD_DEFAULT_BURST;
    int in_flight = CLOUD_DEFAULT_IN_FLIGHT;
    if (spec->rate_limit) {
        if (spec->rate_limit->qps > 0)
            qps = spec->rate_limit->qps;
        if (spec->rate_limit->burst > 0)
            burst = spec->rate_limit->burst;
        if (spec->rate_limit->max_in_flight > 0)
            in_flight = spec->rate_limit->max_in_flight;
    }
    kumo_limiter_limits limits = {.qps = qps, .burst = burst, .max_in_flight = in_flight};
    conn->limiter = kumo_limiter_set_get(c->limiters, s->key, &limits);
    conn->qps = qps;
    /* Waiters beyond what the limiter serves within ~0.5 s are turned away. */
    conn->max_waiting = (int)fmax(fmax(2.0 * in_flight, qps / 2), 4);
    if (conn->limiter == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    return KUMO_ERROR_OK;
}

/* credential -> driver arguments -> driver open (secrets wiped after) -> limiter */
static kumo_error conn_open(kumo_cloud *c, slot *s, const Kumo__V1alpha1__Connection *connection,
                            kumo_driver_handle *driver_handle, kumo_cloud_conn **out,
                            kumo_diag *diag)
{
    const Kumo__V1alpha1__ConnectionSpec *spec = connection->spec;
    ProtobufCMessage *credential = NULL;
    kumo_error e = credential_read(c, connection, &credential, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    const Kumo__V1alpha1__Credential *cred = (const Kumo__V1alpha1__Credential *)credential;
    kv_list config = {0}, creds = {0};
    char paths[2][2048]; /* resolved state and state_dir */
    kumo_cloud_conn *conn = NULL;
    if (driver_args_build(c, spec, cred, &config, &creds, paths) != 0)
        e = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    else
        e = driver_open(c, s, spec, driver_handle, &config, &creds, &conn, diag);
    free(config.items);
    free(creds.items);
    /* Secrets do not outlive the call: the driver copied what it keeps. */
    for (size_t i = 0; cred && cred->spec && i < cred->spec->n_data; i++)
        for (volatile char *p = cred->spec->data[i]->value; p && *p; p++)
            *p = 0;
    kumo_object_destroy(credential);
    if (conn == NULL)
        return e;
    if ((e = conn_limit(c, s, spec, conn, diag)) != KUMO_ERROR_OK) {
        conn_free(conn);
        return e;
    }
    *out = conn;
    return KUMO_ERROR_OK;
}

/* The slot of key, made when absent; NULL when out of memory. Under c->lock. */
static slot *slot_of(kumo_cloud *c, const char *key)
{
    slot *s = kumo_map_get(c->slots, key);
    if (s != NULL)
        return s;
    s = calloc(1, sizeof(*s));
    if (s == NULL || kumo_map_put(c->slots, key, s, NULL) != 0) {
        free(s);
        return NULL;
    }
    snprintf(s->key, sizeof(s->key), "%s", key);
    kumo_diag_init(&s->failure);
    return s;
}

/* 1 when the slot's open connection is this object's uid and generation. Under c->lock. */
static int slot_current(const slot *s, const Kumo__V1alpha1__ObjectMeta *m)
{
    return s->current && !s->invalid && s->generation == m->generation &&
           strcmp(s->uid, m->uid) == 0;
}

/* 1 when this uid and generation failed to open less than OPEN_FAILURE_HOLD_MS ago: the same
 * failure is returned without asking the driver again. Under c->lock. */
static int slot_failed_recently(const slot *s, const Kumo__V1alpha1__ObjectMeta *m)
{
    return s->failure.code != KUMO_ERROR_OK && s->failed_generation == m->generation &&
           strcmp(s->failed_uid, m->uid) == 0 && !s->invalid &&
           kumo_clock_now_ms() - s->failed_at_ms < OPEN_FAILURE_HOLD_MS;
}

/* Records a failed open. Under c->lock. */
static void slot_fail(slot *s, const Kumo__V1alpha1__ObjectMeta *m, kumo_error e,
                      const kumo_diag *diag)
{
    kumo_diag_fini(&s->failure);
    kumo_diag_copy(&s->failure, diag);
    if (s->failure.code == KUMO_ERROR_OK)
        s->failure.code = e;
    snprintf(s->failed_uid, sizeof(s->failed_uid), "%s", m->uid);
    s->failed_generation = m->generation;
    s->failed_at_ms = kumo_clock_now_ms();
}

/* Makes fresh the slot's connection, unless another thread installed one meanwhile. Returns
 * the connection to release (the old one, or fresh). Under c->lock. */
static kumo_cloud_conn *slot_install(slot *s, const Kumo__V1alpha1__ObjectMeta *m,
                                     kumo_cloud_conn *fresh)
{
    if (slot_current(s, m))
        return fresh; /* another thread opened it meanwhile: use theirs */
    kumo_cloud_conn *old = s->current;
    s->current = fresh;
    s->generation = m->generation;
    snprintf(s->uid, sizeof(s->uid), "%s", m->uid);
    s->invalid = 0;
    kumo_diag_fini(&s->failure);
    KUMO_LOG_INFO("cloud", "connection opened", "connection=%s driver=%s provider=%s region=%s",
                  s->key, fresh->driver->name, fresh->provider, fresh->region);
    return old;
}

/* slot -> reuse (or a recent failure) -> driver -> open, unlocked -> install */
kumo_error kumo_cloud_open(kumo_cloud *c, const ProtobufCMessage *object, kumo_cloud_conn **out,
                           kumo_diag *diag)
{
    *out = NULL;
    const Kumo__V1alpha1__Connection *connection = (const Kumo__V1alpha1__Connection *)object;
    if (object == NULL || object->descriptor != &kumo__v1alpha1__connection__descriptor ||
        connection->metadata == NULL || connection->spec == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "not a Connection");
    const Kumo__V1alpha1__ObjectMeta *m = connection->metadata;
    char key[320];
    snprintf(key, sizeof(key), "%s/%s", m->namespace_, m->name);
    pthread_mutex_lock(&c->lock);
    slot *s = slot_of(c, key);
    kumo_error e = s ? KUMO_ERROR_OK : kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    if (s)
        snprintf(s->driver, sizeof(s->driver), "%s", connection->spec->driver);
    if (s && slot_current(s, m)) {
        atomic_fetch_add(&s->current->refs, 1);
        *out = s->current;
        pthread_mutex_unlock(&c->lock);
        return KUMO_ERROR_OK;
    }
    if (s && slot_failed_recently(s, m)) {
        e = s->failure.code;
        kumo_diag_copy(diag, &s->failure);
        pthread_mutex_unlock(&c->lock);
        return e;
    }
    kumo_driver_handle *driver = NULL;
    if (e == KUMO_ERROR_OK &&
        (e = driver_get(c, connection->spec->driver, &driver, diag)) == KUMO_ERROR_NOT_FOUND)
        kumo_diag_set(diag, e, "Connection \"%s\": driver \"%s\" not found in %s", m->name,
                      connection->spec->driver, c->drivers_dir);
    pthread_mutex_unlock(&c->lock);
    if (s == NULL)
        return e;
    kumo_cloud_conn *fresh = NULL;
    if (e == KUMO_ERROR_OK)
        e = conn_open(c, s, connection, driver, &fresh, diag);
    pthread_mutex_lock(&c->lock);
    if (e != KUMO_ERROR_OK) {
        slot_fail(s, m, e, diag);
        pthread_mutex_unlock(&c->lock);
        KUMO_LOG_WARN("cloud", "cannot open connection", "connection=%s error=%s detail=\"%s\"",
                      key, kumo_error_name(e), diag ? diag->message : "");
        return e;
    }
    kumo_cloud_conn *old = slot_install(s, m, fresh);
    atomic_fetch_add(&s->current->refs, 1);
    *out = s->current;
    pthread_mutex_unlock(&c->lock);
    kumo_cloud_conn_release(old);
    return KUMO_ERROR_OK;
}

void kumo_cloud_invalidate(kumo_cloud *c, const char *ns, const char *name)
{
    char key[320];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    pthread_mutex_lock(&c->lock);
    slot *s = kumo_map_get(c->slots, key);
    if (s)
        s->invalid = 1;
    pthread_mutex_unlock(&c->lock);
}

void kumo_cloud_forget(kumo_cloud *c, const char *ns, const char *name)
{
    char key[320];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    pthread_mutex_lock(&c->lock);
    slot *s = kumo_map_get(c->slots, key);
    kumo_cloud_conn *old = NULL;
    if (s) {
        old = s->current;
        s->current = NULL;
        s->invalid = 1;
    }
    pthread_mutex_unlock(&c->lock);
    kumo_cloud_conn_release(old);
}

const struct kumo_driver *kumo_cloud_conn_driver(const kumo_cloud_conn *conn)
{
    return conn->driver;
}

const struct kumo_driver_host *kumo_cloud_conn_host(const kumo_cloud_conn *conn)
{
    return conn->host;
}

struct kumo_driver_conn *kumo_cloud_conn_handle(const kumo_cloud_conn *conn)
{
    return conn->handle;
}

const char *kumo_cloud_conn_key(const kumo_cloud_conn *conn)
{
    return conn->slot->key;
}

const char *kumo_cloud_conn_provider(const kumo_cloud_conn *conn)
{
    return conn->provider;
}

const char *kumo_cloud_conn_region(const kumo_cloud_conn *conn)
{
    return conn->region;
}

/* ---- calls ------------------------------------------------------------------------ */

/* When this thread's driver call began (calls are never nested on one thread). */
static _Thread_local double call_started;

static const double wait_buckets[] = {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
static const double call_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

/* The families of driver-call metrics (docs/monitoring.md); [0] calls, [1] latency, [2] limiter
 * waits, [3] calls turned away by the limiter, [4] THROTTLED answers. */
static kumo_metrics_family *call_families[5];
static pthread_once_t call_families_once = PTHREAD_ONCE_INIT;

static void call_families_get(void)
{
    kumo_metrics_spec specs[] = {
        {.name = "kumo_cloud_driver_calls_total",
         .help = "Driver calls, by connection, operation and result.",
         .type = KUMO_METRICS_COUNTER,
         .labels = {"connection", "driver", "op", "result"},
         .capacity = 1024},
        {.name = "kumo_cloud_driver_call_duration_seconds",
         .help = "Time of one driver call.",
         .type = KUMO_METRICS_HISTOGRAM,
         .labels = {"connection", "op"},
         .buckets = call_buckets,
         .bucket_count = sizeof(call_buckets) / sizeof(double),
         .capacity = 512},
        {.name = "kumo_cloud_limiter_wait_seconds",
         .help = "Time a driver call waited for its Connection's API limiter.",
         .type = KUMO_METRICS_HISTOGRAM,
         .labels = {"connection"},
         .buckets = wait_buckets,
         .bucket_count = sizeof(wait_buckets) / sizeof(double)},
        {.name = "kumo_cloud_limiter_deferred_total",
         .help = "Driver calls not started because the Connection's limiter was saturated.",
         .type = KUMO_METRICS_COUNTER,
         .labels = {"connection"}},
        {.name = "kumo_cloud_throttled_total",
         .help = "THROTTLED answers from the cloud.",
         .type = KUMO_METRICS_COUNTER,
         .labels = {"connection"}},
    };
    for (int i = 0; i < 5; i++)
        call_families[i] = kumo_metrics_family_get(&specs[i]);
}

kumo_error kumo_cloud_call_begin(kumo_cloud_conn *conn, int64_t *deadline_ns,
                                 double *retry_after_ms, kumo_diag *diag)
{
    slot *s = conn->slot;
    *retry_after_ms = 0;
    int waiting = atomic_fetch_add(&s->waiting, 1) + 1;
    int acquired = -1;
    double token_in_ms = 0;
    pthread_once(&call_families_once, call_families_get);
    const char *key[] = {s->key};
    double wait_started = kumo_metrics_now();
    if (waiting <= conn->max_waiting)
        acquired = kumo_limiter_acquire_within(conn->limiter, conn->cloud->options.limiter_wait_ms,
                                               &token_in_ms);
    atomic_fetch_sub(&s->waiting, 1);
    call_started = kumo_metrics_now();
    kumo_metrics_record(call_families[2], key, call_started - wait_started);
    if (acquired != 0) {
        atomic_fetch_add(&s->limiter_deferred, 1);
        kumo_metrics_count(call_families[3], key, 1);
        /* Come back when the callers deferred before us have been served: one token each.
         * (Telling every one "about a second" would bring 10,000 deferred keys back every
         * second to be deferred again: a retry storm that burns a core for nothing.) */
        long long now_us = conn->host->monotonic_ns(conn->host->ctx) / 1000;
        long long step_us = (long long)(1e6 / (conn->qps > 0 ? conn->qps : 10));
        long long until = atomic_load(&s->deferred_until_us), next;
        do {
            next = (until > now_us ? until : now_us) + step_us;
        } while (!atomic_compare_exchange_weak(&s->deferred_until_us, &until, next));
        double queue_ms = (double)(next - now_us) / 1000.0;
        *retry_after_ms = token_in_ms > queue_ms ? token_in_ms : queue_ms;
        return kumo_diag_set(diag, KUMO_ERROR_THROTTLED,
                             "connection %s: %d calls already wait for its API limit (%.0f/s)",
                             s->key, waiting - 1, conn->qps);
    }
    atomic_fetch_add(&s->calls, 1);
    *deadline_ns = conn->host->monotonic_ns(conn->host->ctx) +
                   (int64_t)conn->cloud->options.call_timeout_ms * 1000000;
    return KUMO_ERROR_OK;
}

void kumo_cloud_call_end(kumo_cloud_conn *conn, kumo_driver_code result)
{
    kumo_cloud_call_end_op(conn, "call", result);
}

void kumo_cloud_call_end_op(kumo_cloud_conn *conn, const char *op, kumo_driver_code result)
{
    kumo_limiter_release(conn->limiter);
    if (result != KUMO_DRIVER_OK)
        atomic_fetch_add(&conn->slot->failures, 1);
    if (result == KUMO_DRIVER_THROTTLED) {
        atomic_fetch_add(&conn->slot->cloud_throttled, 1);
        kumo_metrics_count(call_families[4], (const char *[]){conn->slot->key}, 1);
    }
    const char *labels[] = {conn->slot->key, conn->driver->name, op, kumo_driver_code_name(result)};
    kumo_metrics_count(call_families[0], labels, 1);
    kumo_metrics_record(call_families[1], (const char *[]){conn->slot->key, op},
                        kumo_metrics_now() - call_started);
}

kumo_error kumo_cloud_control(kumo_cloud_conn *conn, const char *op, const char *json_in,
                              char **json_out, kumo_diag *diag)
{
    *json_out = NULL;
    if (conn->driver->control == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNSUPPORTED, "driver %s has no control operations",
                             conn->driver->name);
    char *block = NULL;
    struct kumo_driver_diag dd;
    memset(&dd, 0, sizeof(dd));
    kumo_driver_code rc = conn->driver->control(conn->handle, op, json_in, &block, &dd);
    if (rc != KUMO_DRIVER_OK)
        return kumo_driver_diag_to_kumo(rc, &dd, conn->driver->name, op, diag);
    *json_out = strdup(block ? block : "{}");
    kumo_driver_free(conn->host, block);
    if (*json_out == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    return KUMO_ERROR_OK;
}

/* ---- regions ---------------------------------------------------------------------- */

void kumo_cloud_regions_learn(kumo_cloud *c, const char *provider,
                              const struct kumo_driver_region_list *regions)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; regions && i < regions->count; i++) {
        const struct kumo_driver_region *r = regions->items[i];
        size_t j = 0;
        while (j < c->region_count && !(strcmp(c->regions[j].provider, provider) == 0 &&
                                        strcmp(c->regions[j].name, r->name) == 0))
            j++;
        if (j == c->region_count) {
            if (c->region_count == c->region_cap) {
                size_t cap = c->region_cap ? c->region_cap * 2 : 64;
                known_region *grown = realloc(c->regions, cap * sizeof(*grown));
                if (grown == NULL)
                    break;
                c->regions = grown;
                c->region_cap = cap;
            }
            c->region_count++;
        }
        snprintf(c->regions[j].provider, sizeof(c->regions[j].provider), "%s", provider);
        snprintf(c->regions[j].name, sizeof(c->regions[j].name), "%s", r->name);
        c->regions[j].latitude = r->latitude;
        c->regions[j].longitude = r->longitude;
    }
    pthread_mutex_unlock(&c->lock);
}

int kumo_cloud_region_find(kumo_cloud *c, const char *provider, const char *region,
                           double *latitude, double *longitude, char *provider_out,
                           size_t provider_size)
{
    int found = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->region_count && !found; i++) {
        const known_region *r = &c->regions[i];
        if (strcmp(r->name, region) != 0 || (provider && strcmp(r->provider, provider) != 0))
            continue;
        *latitude = r->latitude;
        *longitude = r->longitude;
        if (provider_out)
            snprintf(provider_out, provider_size, "%s", r->provider);
        found = 1;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* ---- stats ------------------------------------------------------------------------- */

typedef struct stats_walk {
    void (*fn)(void *context, const kumo_cloud_stats *stats);
    void *context;
} stats_walk;

static void stats_one(void *context, const char *key, void *value)
{
    stats_walk *w = context;
    slot *s = value;
    kumo_cloud_stats st;
    memset(&st, 0, sizeof(st));
    st.key = key;
    st.driver = s->driver;
    st.calls = atomic_load(&s->calls);
    st.failures = atomic_load(&s->failures);
    st.cloud_throttled = atomic_load(&s->cloud_throttled);
    st.limiter_deferred = atomic_load(&s->limiter_deferred);
    if (s->current) {
        kumo_limiter_stats_get(s->current->limiter, &st.limiter);
        st.qps = s->current->qps;
    }
    w->fn(w->context, &st);
}

void kumo_cloud_stats_each(kumo_cloud *c, void (*fn)(void *context, const kumo_cloud_stats *stats),
                           void *context)
{
    stats_walk w = {fn, context};
    pthread_mutex_lock(&c->lock);
    kumo_map_each(c->slots, stats_one, &w);
    pthread_mutex_unlock(&c->lock);
}
