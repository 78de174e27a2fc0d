/*
 * controller.c - informers feed a work queue; workers reconcile keys.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "controllers/runtime/controller/controller.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/log/log.h"
#include "apis/metrics/metrics.h"
#include "controllers/runtime/clock/clock.h"

enum { MAX_WATCHES = 8, MAX_WORKERS = 512, LATENCY_WINDOW = 1024 };

typedef struct watch_slot {
    kumo_controller *controller;
    const kumo_object_kind *kind;
    kumo_controller_map_fn map; /* NULL for the primary kind */
    kumo_informer *informer;
    int handler_id; /* > 0: the informer is the set's, shared, with our handler added */
} watch_slot;

struct kumo_controller {
    kumo_controller_options options;
    kumo_queue *queue;
    watch_slot watches[MAX_WATCHES]; /* [0] is the primary kind */
    int watch_count;
    pthread_t workers[MAX_WORKERS];
    int worker_count;
    pthread_mutex_t stats_lock;
    uint64_t reconciles, errors;
    double latencies[LATENCY_WINDOW];
    size_t latency_count;
    kumo_metrics_series *reconciles_total, *errors_total, *duration, *depth; /* /metrics */
};

/* This controller's series of the process's metrics (docs/monitoring.md). */
static void metrics_init(kumo_controller *c)
{
    static const double buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};
    kumo_metrics_spec specs[] = {
        {.name = "kumo_controller_reconciles_total",
         .help = "Reconciles run.",
         .type = KUMO_METRICS_COUNTER,
         .labels = {"controller"}},
        {.name = "kumo_controller_reconcile_errors_total",
         .help = "Reconciles that ended in a retry or a terminal error.",
         .type = KUMO_METRICS_COUNTER,
         .labels = {"controller"}},
        {.name = "kumo_controller_reconcile_duration_seconds",
         .help = "Time of one reconcile.",
         .type = KUMO_METRICS_HISTOGRAM,
         .labels = {"controller"},
         .buckets = buckets,
         .bucket_count = sizeof(buckets) / sizeof(double)},
        {.name = "kumo_controller_queue_depth",
         .help = "Keys waiting in the work queue (after the last reconcile).",
         .type = KUMO_METRICS_GAUGE,
         .labels = {"controller"}},
    };
    kumo_metrics_series **series[] = {&c->reconciles_total, &c->errors_total, &c->duration,
                                      &c->depth};
    const char *name[] = {c->options.name};
    for (int i = 0; i < 4; i++)
        *series[i] = kumo_metrics_series_get(kumo_metrics_family_get(&specs[i]), name);
}

static void make_key(const char *ns, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", ns && ns[0] ? ns : "default", name);
}

void kumo_controller_enqueue_after(kumo_controller *c, const char *ns, const char *name,
                                   double delay_ms)
{
    char key[320];
    make_key(ns, name, key, sizeof(key));
    kumo_queue_add_after(c->queue, key, delay_ms);
}

void kumo_controller_enqueue(kumo_controller *c, const char *ns, const char *name)
{
    kumo_controller_enqueue_after(c, ns, name, 0);
}

/* The default mapping of a secondary object: its controller owner, if of the primary kind. */
static void map_to_owner(kumo_controller *c, const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    for (size_t i = 0; meta && i < meta->n_owner_references; i++) {
        const Kumo__V1alpha1__OwnerReference *o = meta->owner_references[i];
        if (o->controller && o->kind && strcmp(o->kind, c->options.kind->kind) == 0)
            kumo_controller_enqueue(c, meta->namespace_, o->name);
    }
}

static void on_change(void *context, kumo_client_event_type type, const ProtobufCMessage *object)
{
    (void)type;
    watch_slot *slot = context;
    kumo_controller *c = slot->controller;
    if (slot == &c->watches[0])
        kumo_controller_enqueue(c, kumo_object_namespace(object), kumo_object_name(object));
    else if (slot->map)
        slot->map(c->options.context, c, object);
    else
        map_to_owner(c, object);
}

kumo_error kumo_controller_create(const kumo_controller_options *options, kumo_controller **out,
                                  kumo_diag *diag)
{
    *out = NULL;
    kumo_controller *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    c->options = *options;
    if (c->options.workers <= 0)
        c->options.workers = 4;
    if (c->options.workers > MAX_WORKERS)
        c->options.workers = MAX_WORKERS;
    c->queue = kumo_queue_create(&options->queue);
    if (c->queue == NULL) {
        free(c);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&c->stats_lock, NULL);
    metrics_init(c);
    c->watches[0] = (watch_slot){c, options->kind, NULL, NULL, 0};
    c->watch_count = 1;
    *out = c;
    return KUMO_ERROR_OK;
}

/*
 * Starts an informer for the slot (handler context: the slot), or takes the set's and adds
 * our handler; the caller stores *informer and *handler_id in the slot.
 */
static kumo_error open_informer(kumo_controller *c, watch_slot *slot, kumo_informer **informer,
                                int *handler_id, kumo_diag *diag)
{
    *informer = NULL;
    *handler_id = 0;
    if (c->options.informers == NULL) {
        kumo_informer_options io = {.client = c->options.client,
                                    .kind = slot->kind,
                                    .ns = c->options.ns,
                                    .handler = on_change,
                                    .context = slot};
        return kumo_informer_start(&io, informer, diag);
    }
    kumo_error err = kumo_informer_set_acquire(c->options.informers, slot->kind, informer, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    *handler_id = kumo_informer_handler_add(*informer, on_change, slot);
    if (*handler_id == 0) {
        kumo_informer_set_release(c->options.informers, *informer);
        *informer = NULL;
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "controller %s: too many handlers on %s",
                             c->options.name, slot->kind->kind);
    }
    return KUMO_ERROR_OK;
}

static void close_informer(kumo_controller *c, watch_slot *slot)
{
    if (slot->handler_id > 0) {
        kumo_informer_handler_remove(slot->informer, slot->handler_id);
        kumo_informer_set_release(c->options.informers, slot->informer);
    } else {
        kumo_informer_stop(slot->informer);
    }
    slot->informer = NULL;
}

kumo_error kumo_controller_watch(kumo_controller *c, const kumo_object_kind *kind,
                                 kumo_controller_map_fn map, kumo_informer **informer_out,
                                 kumo_diag *diag)
{
    if (c->watch_count == MAX_WATCHES)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "controller %s watches too many kinds", c->options.name);
    watch_slot *slot = &c->watches[c->watch_count++];
    *slot = (watch_slot){c, kind, map, NULL, 0};
    kumo_error err = open_informer(c, slot, &slot->informer, &slot->handler_id, diag);
    if (err != KUMO_ERROR_OK) {
        c->watch_count--;
        return err;
    }
    if (informer_out)
        *informer_out = slot->informer;
    return KUMO_ERROR_OK;
}

kumo_informer *kumo_controller_informer(kumo_controller *c)
{
    /* Secondary watch threads may ask while start is still filling it in. */
    pthread_mutex_lock(&c->stats_lock);
    kumo_informer *informer = c->watches[0].informer;
    pthread_mutex_unlock(&c->stats_lock);
    return informer;
}

static void record(kumo_controller *c, double took_ms, int failed)
{
    kumo_metrics_add(c->reconciles_total, 1);
    kumo_metrics_add(c->errors_total, failed);
    kumo_metrics_observe(c->duration, took_ms / 1000);
    kumo_metrics_set(c->depth, (double)kumo_queue_len(c->queue));
    pthread_mutex_lock(&c->stats_lock);
    c->reconciles++;
    c->errors += failed;
    c->latencies[c->latency_count++ % LATENCY_WINDOW] = took_ms;
    pthread_mutex_unlock(&c->stats_lock);
}

static void *worker(void *arg)
{
    kumo_controller *c = arg;
    char key[320];
    char thread_name[16];
    snprintf(thread_name, sizeof(thread_name), "ctl-%s", c->options.name);
    pthread_setname_np(pthread_self(), thread_name); /* for top -H and perf */
    while (kumo_queue_get(c->queue, key, sizeof(key))) {
        char *slash = strchr(key, '/');
        const char *ns = key, *name = "";
        if (slash) {
            *slash = '\0';
            name = slash + 1;
        }
        double start = kumo_clock_now_ms();
        kumo_controller_result r = c->options.reconcile(c->options.context, ns, name);
        double took = kumo_clock_now_ms() - start;
        if (slash)
            *slash = '/';
        record(c, took,
               r.outcome == KUMO_CONTROLLER_RETRY || r.outcome == KUMO_CONTROLLER_TERMINAL);
        switch (r.outcome) {
        case KUMO_CONTROLLER_RETRY:
            kumo_queue_add_rate_limited(c->queue, key);
            break;
        case KUMO_CONTROLLER_REQUEUE:
            kumo_queue_forget(c->queue, key);
            kumo_queue_add_after(c->queue, key, r.after_ms);
            break;
        case KUMO_CONTROLLER_DONE:
        case KUMO_CONTROLLER_TERMINAL:
            kumo_queue_forget(c->queue, key);
            break;
        }
        kumo_queue_done(c->queue, key);
    }
    return NULL;
}

static void enqueue_cached(kumo_controller *c)
{
    size_t count = 0;
    char **keys = kumo_informer_keys(c->watches[0].informer, &count);
    for (size_t i = 0; keys && i < count; i++)
        if (keys[i])
            kumo_queue_add(c->queue, keys[i]);
    kumo_informer_keys_free(keys, count);
}

kumo_error kumo_controller_start(kumo_controller *c, kumo_diag *diag)
{
    kumo_informer *primary = NULL;
    int handler_id = 0;
    kumo_error err = open_informer(c, &c->watches[0], &primary, &handler_id, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    pthread_mutex_lock(&c->stats_lock);
    c->watches[0].informer = primary;
    c->watches[0].handler_id = handler_id;
    pthread_mutex_unlock(&c->stats_lock);
    enqueue_cached(c);
    for (int i = 0; i < c->options.workers; i++) {
        if (pthread_create(&c->workers[i], NULL, worker, c) != 0)
            return kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "controller %s: cannot start workers",
                                 c->options.name);
        c->worker_count++;
    }
    KUMO_LOG_INFO("controller", "started", "controller=%s workers=%d objects=%zu", c->options.name,
                  c->worker_count, kumo_informer_count(c->watches[0].informer));
    return KUMO_ERROR_OK;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void kumo_controller_stats_get(kumo_controller *c, kumo_controller_stats *out)
{
    double sorted[LATENCY_WINDOW];
    pthread_mutex_lock(&c->stats_lock);
    size_t n = c->latency_count < LATENCY_WINDOW ? c->latency_count : LATENCY_WINDOW;
    memcpy(sorted, c->latencies, n * sizeof(double));
    out->reconciles = c->reconciles;
    out->errors = c->errors;
    pthread_mutex_unlock(&c->stats_lock);
    qsort(sorted, n, sizeof(double), compare_double);
    out->latency_p50_ms = n ? sorted[n / 2] : 0;
    out->latency_p99_ms = n ? sorted[(n * 99) / 100] : 0;
    out->queue_depth = kumo_queue_len(c->queue);
    out->delayed = kumo_queue_delayed_len(c->queue);
}

void kumo_controller_destroy(kumo_controller *c)
{
    if (c == NULL)
        return;
    /* Workers first (a running reconcile may read the caches), then the informers, whose
     * events only enqueue into the shut-down queue until they stop. */
    kumo_queue_shutdown(c->queue);
    for (int i = 0; i < c->worker_count; i++)
        pthread_join(c->workers[i], NULL);
    for (int i = c->watch_count - 1; i >= 0; i--)
        if (c->watches[i].informer)
            close_informer(c, &c->watches[i]);
    kumo_queue_destroy(c->queue);
    pthread_mutex_destroy(&c->stats_lock);
    free(c);
}

double kumo_controller_jitter(double spread)
{
    static _Atomic uint64_t state = 0x9e3779b97f4a7c15ull;
    uint64_t x = atomic_fetch_add(&state, 0x9e3779b97f4a7c15ull);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    double unit = (double)(x >> 11) / (double)(1ull << 53);
    return 1.0 + spread * (2.0 * unit - 1.0);
}
