/*
 * queue.h - the controllers' work queue.
 *
 * Keys (strings such as "default/web") wait here to be reconciled. The queue
 *   - de-duplicates: a key added many times before a worker takes it is
 *     reconciled once;
 *   - never hands one key to two workers: a key added while it is being
 *     processed waits until kumo_queue_done, then goes back in line;
 *   - delays: kumo_queue_add_after puts a key in line after a delay (an
 *     earlier add wins over a later one);
 *   - rate limits: kumo_queue_add_rate_limited delays a key by its own
 *     exponential backoff (base * 2^failures, capped) and by a global token
 *     bucket shared by all keys; kumo_queue_forget resets a key's backoff;
 *   - with fair_by_owner, is fair between owners: ready keys wait in one line
 *     per owner, and get takes from the lines in turn, so 10,000 keys of one
 *     owner do not make another owner's few keys wait behind them. The owner
 *     of a key is the key without a trailing "-<digits>" (the Infra group of
 *     "default/web-a-12" is "default/web-a"; other keys are their own).
 *
 * Thread safety: every function may be called from any thread. get blocks
 * until a key is ready or the queue shuts down.
 */
#ifndef KUMO_QUEUE_H
#define KUMO_QUEUE_H

#include <stddef.h>

typedef struct kumo_queue kumo_queue;

/* The defaults of kumo_queue_options' zero fields. */
#define KUMO_QUEUE_DEFAULT_BACKOFF_BASE_MS 5
#define KUMO_QUEUE_DEFAULT_BACKOFF_MAX_MS  60000
#define KUMO_QUEUE_DEFAULT_GLOBAL_QPS      50

typedef struct kumo_queue_options {
    double backoff_base_ms; /* first retry delay; 0: 5 ms */
    double backoff_max_ms;  /* cap of the per-key backoff; 0: 60000 ms */
    double global_qps;      /* token bucket rate for rate-limited adds; 0: 50 */
    double global_burst;    /* token bucket size; 0: 300 */
    int fair_by_owner;      /* 1: ready keys are taken owner by owner in turn (above) */
} kumo_queue_options;

/* Creates a queue (options may be NULL). NULL when out of memory. */
kumo_queue *kumo_queue_create(const kumo_queue_options *options);

/* Frees the queue. Call after every worker has returned from get. NULL is a no-op. */
void kumo_queue_destroy(kumo_queue *queue);

/* Puts `key` in line now (no-op when it is already waiting). Returns 0, or -1 when out of
 * memory or shut down. */
int kumo_queue_add(kumo_queue *queue, const char *key);

/* Puts `key` in line after `delay_ms` (<= 0 is add). An earlier pending time is kept. */
int kumo_queue_add_after(kumo_queue *queue, const char *key, double delay_ms);

/* Puts `key` in line after its backoff and the global bucket's delay; counts a failure. */
int kumo_queue_add_rate_limited(kumo_queue *queue, const char *key);

/* Forgets the key's failures (after a successful reconcile). */
void kumo_queue_forget(kumo_queue *queue, const char *key);

/* How many times the key was rate-limited since it was last forgotten. */
int kumo_queue_failures(kumo_queue *queue, const char *key);

/*
 * Takes the next ready key, blocking until there is one. Copies it into buf
 * (keys shorter than size are never truncated). Returns 1 with a key, 0 once
 * the queue is shut down (keys still waiting are dropped).
 */
int kumo_queue_get(kumo_queue *queue, char *buf, size_t size);

/* Marks the key taken by get as processed; if it was added meanwhile, it goes back in line. */
void kumo_queue_done(kumo_queue *queue, const char *key);

/* Keys waiting now (ready, not delayed, not processing). */
size_t kumo_queue_len(kumo_queue *queue);
/* Keys waiting for a delay to pass. */
size_t kumo_queue_delayed_len(kumo_queue *queue);

/* Wakes every get (they return 0); later adds are refused. */
void kumo_queue_shutdown(kumo_queue *queue);

#endif
