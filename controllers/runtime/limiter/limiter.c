/*
 * limiter.c - token bucket + in-flight cap, and a set of them by key.
 *
 * Tokens are reserved: a caller takes its token at once (the bucket may go
 * below zero) and sleeps without the lock exactly until it is due, so no
 * caller is ever woken for a token another one gets. Callers short of an
 * in-flight slot wait on one condition variable, woken one per release (all
 * of them on a limits change).
 */
#include "controllers/runtime/limiter/limiter.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kumo_limiter {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    kumo_limiter_limits limits;
    double tokens;
    double tokens_at; /* seconds, monotonic */
    kumo_limiter_stats stats;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void normalise(kumo_limiter_limits *l)
{
    if (l->burst < 1)
        l->burst = 1;
}

kumo_limiter *kumo_limiter_create(const kumo_limiter_limits *limits)
{
    kumo_limiter *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->limits = *limits;
    normalise(&l->limits);
    l->tokens = l->limits.burst;
    l->tokens_at = now_s();
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &attr);
    pthread_condattr_destroy(&attr);
    return l;
}

void kumo_limiter_destroy(kumo_limiter *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l);
}

static int limits_equal(const kumo_limiter_limits *a, const kumo_limiter_limits *b)
{
    return a->qps == b->qps && a->burst == b->burst && a->max_in_flight == b->max_in_flight;
}

void kumo_limiter_set_limits(kumo_limiter *l, const kumo_limiter_limits *limits)
{
    kumo_limiter_limits wanted = *limits;
    normalise(&wanted);
    pthread_mutex_lock(&l->lock);
    if (!limits_equal(&l->limits, &wanted)) {
        l->limits = wanted;
        if (l->tokens > l->limits.burst)
            l->tokens = l->limits.burst;
        pthread_cond_broadcast(&l->wake);
    }
    pthread_mutex_unlock(&l->lock);
}

/* Refills the bucket up to now. Tokens below zero are reserved by callers still sleeping. */
static void refill(kumo_limiter *l, double now)
{
    if (l->limits.qps <= 0)
        return;
    l->tokens = fmin(l->limits.burst, l->tokens + (now - l->tokens_at) * l->limits.qps);
    l->tokens_at = now;
}

static int slot_free(const kumo_limiter *l)
{
    return l->limits.max_in_flight <= 0 || l->stats.in_flight < l->limits.max_in_flight;
}

static void sleep_s(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void abs_time(double when, struct timespec *ts)
{
    ts->tv_sec = (time_t)when;
    ts->tv_nsec = (long)((when - (double)ts->tv_sec) * 1e9);
}

/*
 * Reservation: a caller takes its token at once (the bucket may go below
 * zero) and sleeps, without the lock, exactly until that token is due; so
 * nobody is woken for a token that another caller gets. Callers waiting for
 * an in-flight slot are woken one per release. A caller whose token would
 * come later than it may wait takes nothing.
 */
static int acquire(kumo_limiter *l, int timeout_ms, int sleep_on_timeout, double *retry_after_ms)
{
    pthread_mutex_lock(&l->lock);
    double now = now_s();
    double deadline = timeout_ms < 0 ? INFINITY : now + timeout_ms / 1000.0;
    refill(l, now);
    double wait = l->limits.qps > 0 && l->tokens < 1 ? (1 - l->tokens) / l->limits.qps : 0;
    if (now + wait > deadline) {
        l->stats.timeouts++;
        pthread_mutex_unlock(&l->lock);
        if (retry_after_ms)
            *retry_after_ms = wait * 1000.0;
        if (sleep_on_timeout)
            sleep_s(deadline - now);
        return -1;
    }
    if (l->limits.qps > 0)
        l->tokens -= 1;
    pthread_mutex_unlock(&l->lock);
    sleep_s(wait);
    pthread_mutex_lock(&l->lock);
    while (!slot_free(l)) {
        if (now_s() >= deadline) {
            l->tokens += 1; /* give the token back */
            l->stats.timeouts++;
            pthread_mutex_unlock(&l->lock);
            if (retry_after_ms)
                *retry_after_ms = 50;
            return -1;
        }
        struct timespec until;
        abs_time(fmin(deadline, now_s() + 1.0), &until);
        pthread_cond_timedwait(&l->wake, &l->lock, &until);
    }
    l->stats.acquired++;
    l->stats.in_flight++;
    if (l->stats.in_flight > l->stats.peak_in_flight)
        l->stats.peak_in_flight = l->stats.in_flight;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

int kumo_limiter_acquire(kumo_limiter *l, int timeout_ms)
{
    return acquire(l, timeout_ms, 1, NULL);
}

int kumo_limiter_acquire_within(kumo_limiter *l, int max_wait_ms, double *retry_after_ms)
{
    *retry_after_ms = 0;
    return acquire(l, max_wait_ms, 0, retry_after_ms);
}

void kumo_limiter_release(kumo_limiter *l)
{
    pthread_mutex_lock(&l->lock);
    if (l->stats.in_flight > 0)
        l->stats.in_flight--;
    pthread_cond_signal(&l->wake); /* one slot: one waiter */
    pthread_mutex_unlock(&l->lock);
}

void kumo_limiter_stats_get(kumo_limiter *l, kumo_limiter_stats *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->stats;
    pthread_mutex_unlock(&l->lock);
}

typedef struct set_entry {
    char *key;
    kumo_limiter *limiter;
    struct set_entry *next;
} set_entry;

struct kumo_limiter_set {
    pthread_mutex_t lock;
    set_entry *entries;
};

kumo_limiter_set *kumo_limiter_set_create(void)
{
    kumo_limiter_set *s = calloc(1, sizeof(*s));
    if (s != NULL)
        pthread_mutex_init(&s->lock, NULL);
    return s;
}

void kumo_limiter_set_destroy(kumo_limiter_set *s)
{
    if (s == NULL)
        return;
    set_entry *e = s->entries;
    while (e) {
        set_entry *next = e->next;
        kumo_limiter_destroy(e->limiter);
        free(e->key);
        free(e);
        e = next;
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

kumo_limiter *kumo_limiter_set_get(kumo_limiter_set *s, const char *key,
                                   const kumo_limiter_limits *limits)
{
    pthread_mutex_lock(&s->lock);
    set_entry *e = s->entries;
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e != NULL && ((e->key = strdup(key)) == NULL ||
                          (e->limiter = kumo_limiter_create(limits)) == NULL)) {
            free(e->key);
            free(e);
            e = NULL;
        }
        if (e != NULL) {
            e->next = s->entries;
            s->entries = e;
        }
    } else {
        kumo_limiter_set_limits(e->limiter, limits);
    }
    pthread_mutex_unlock(&s->lock);
    return e ? e->limiter : NULL;
}
