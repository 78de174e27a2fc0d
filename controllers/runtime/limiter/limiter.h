/*
 * limiter.h - the per-Connection cloud API limiter.
 *
 * Clouds throttle per account and region, so every controller that calls
 * one Connection shares one limiter: a token bucket (sustained QPS and a
 * burst) and a cap on calls in flight. Callers acquire before each cloud
 * call and release after it. A set (kumo_limiter_set) hands out the limiter
 * of a connection by name, so controllers in one process share it.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef KUMO_LIMITER_H
#define KUMO_LIMITER_H

#include <stdint.h>

typedef struct kumo_limiter kumo_limiter;

typedef struct kumo_limiter_limits {
    double qps;        /* sustained calls per second; <= 0: unlimited */
    double burst;      /* bucket size; < 1: 1 */
    int max_in_flight; /* concurrent calls; <= 0: unlimited */
} kumo_limiter_limits;

kumo_limiter *kumo_limiter_create(const kumo_limiter_limits *limits);
void kumo_limiter_destroy(kumo_limiter *limiter);
/* Changes the limits (a Connection was edited); waiting callers see them at once. */
void kumo_limiter_set_limits(kumo_limiter *limiter, const kumo_limiter_limits *limits);

/*
 * Waits for a token and an in-flight slot, at most `timeout_ms` (< 0:
 * forever). Returns 0 when acquired (call kumo_limiter_release after the
 * call), -1 on timeout.
 */
int kumo_limiter_acquire(kumo_limiter *limiter, int timeout_ms);
/*
 * Like acquire, but when the token would come later than `max_wait_ms` it
 * returns -1 at once (no waiting) with *retry_after_ms set to when it would
 * come: a caller with other work does that first.
 */
int kumo_limiter_acquire_within(kumo_limiter *limiter, int max_wait_ms, double *retry_after_ms);
void kumo_limiter_release(kumo_limiter *limiter);

typedef struct kumo_limiter_stats {
    uint64_t acquired;
    uint64_t timeouts;
    int in_flight;
    int peak_in_flight;
} kumo_limiter_stats;

void kumo_limiter_stats_get(kumo_limiter *limiter, kumo_limiter_stats *out);

/* Limiters by connection key ("namespace/name"). */
typedef struct kumo_limiter_set kumo_limiter_set;

kumo_limiter_set *kumo_limiter_set_create(void);
void kumo_limiter_set_destroy(kumo_limiter_set *set);
/*
 * The limiter of `key`, created with `limits` on first use and updated to
 * `limits` when they differ. Borrowed: valid until the set is destroyed.
 * NULL when out of memory.
 */
kumo_limiter *kumo_limiter_set_get(kumo_limiter_set *set, const char *key,
                                   const kumo_limiter_limits *limits);

#endif
