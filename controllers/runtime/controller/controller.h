/*
 * controller.h - the reconcile loop every kumo controller runs.
 *
 * A controller watches one primary kind through an informer; every change
 * (and every change of a secondary kind that maps back to a primary key)
 * puts the object's key "namespace/name" in a work queue; N workers take
 * keys and call reconcile(key). The result decides what happens next:
 *
 *   DONE      forget the key's backoff; nothing until the next change
 *   REQUEUE   run again after result.after_ms (polling, drift repair)
 *   RETRY     an error: run again after the key's exponential backoff
 *   TERMINAL  an error retrying cannot fix (the reconcile set a condition)
 *
 * Level-based: reconcile receives only the key and reads current state from
 * the informers' caches (or the API); it must be idempotent.
 *
 * Counters (reconciles, errors, queue depth, latency) are kept per
 * controller and can be read at any time.
 *
 * Thread safety: reconcile runs on up to `workers` threads at once, never
 * twice at the same time for one key.
 */
#ifndef KUMO_CONTROLLER_H
#define KUMO_CONTROLLER_H

#include <stdint.h>

#include "bus/client/client.h"
#include "controllers/runtime/informer/informer.h"
#include "controllers/runtime/queue/queue.h"

typedef struct kumo_controller kumo_controller;

typedef enum kumo_controller_outcome {
    KUMO_CONTROLLER_DONE = 0,
    KUMO_CONTROLLER_REQUEUE,
    KUMO_CONTROLLER_RETRY,
    KUMO_CONTROLLER_TERMINAL,
} kumo_controller_outcome;

typedef struct kumo_controller_result {
    kumo_controller_outcome outcome;
    double after_ms; /* REQUEUE only */
} kumo_controller_result;

/* Reconciles the object "ns/name" (it may be gone: then clean up). */
typedef kumo_controller_result (*kumo_controller_reconcile_fn)(void *context, const char *ns,
                                                               const char *name);

/*
 * Maps a change of a secondary object to the primary keys to enqueue, by
 * calling enqueue(controller, ns, name) for each. The default for a
 * secondary kind is: the owner named by its controller ownerReference.
 */
typedef void (*kumo_controller_map_fn)(void *context, kumo_controller *controller,
                                       const ProtobufCMessage *object);

typedef struct kumo_controller_options {
    const char *name; /* "infra", for logs, counters and the lease */
    kumo_client *client;
    const kumo_object_kind *kind; /* the primary kind */
    const char *ns;               /* NULL: all namespaces */
    int workers;                  /* 0: 4 */
    kumo_queue_options queue;     /* backoff and global rate */
    /* Informers shared with other controllers (NULL: this controller runs its own). */
    kumo_informer_set *informers;
    kumo_controller_reconcile_fn reconcile;
    void *context;
} kumo_controller_options;

/* Creates a controller (not yet running). */
kumo_error kumo_controller_create(const kumo_controller_options *options, kumo_controller **out,
                                  kumo_diag *diag);

/*
 * Also watch `kind`; its changes enqueue primary keys through `map` (NULL:
 * the controller owner reference). The informer is returned so reconcile can
 * read the cache; borrowed until destroy. Call before start.
 */
kumo_error kumo_controller_watch(kumo_controller *controller, const kumo_object_kind *kind,
                                 kumo_controller_map_fn map, kumo_informer **informer_out,
                                 kumo_diag *diag);

/* The primary kind's informer (after start). Borrowed until destroy. */
kumo_informer *kumo_controller_informer(kumo_controller *controller);

/* Starts the informers (lists) and the workers; every cached object is enqueued once. */
kumo_error kumo_controller_start(kumo_controller *controller, kumo_diag *diag);

/* Enqueues a primary key now / after a delay. */
void kumo_controller_enqueue(kumo_controller *controller, const char *ns, const char *name);
void kumo_controller_enqueue_after(kumo_controller *controller, const char *ns, const char *name,
                                   double delay_ms);

/* A random factor in [1 - spread, 1 + spread] for requeue delays (lock-free, thread-safe). */
double kumo_controller_jitter(double spread);

typedef struct kumo_controller_stats {
    uint64_t reconciles;
    uint64_t errors; /* RETRY and TERMINAL outcomes */
    size_t queue_depth;
    size_t delayed;
    double latency_p50_ms; /* over the last 1024 reconciles */
    double latency_p99_ms;
} kumo_controller_stats;

void kumo_controller_stats_get(kumo_controller *controller, kumo_controller_stats *out);

/* Stops workers and informers (waits for running reconciles) and frees. NULL is a no-op. */
void kumo_controller_destroy(kumo_controller *controller);

#endif
