/*
 * limiter.c - token bucket + in-flight cap, and a set of them by key.
 *
 * Waiters sleep on one condition variable; a release or a limits change
 * wakes them, and a waiter short of a token sleeps exactly until the next
 * token is due.
 */
#include "controllers/runtime/limiter/limiter.h"

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

/* Seconds until a token is available (0 when one is). */
static double token_wait(kumo_limiter *l, double now)
{
    if (l->limits.qps <= 0)
        return 0;
    l->tokens = fmin(l->limits.burst, l->tokens + (now - l->tokens_at) * l->limits.qps);
    l->tokens_at = now;
    return l->tokens >= 1 ? 0 : (1 - l->tokens) / l->limits.qps;
}

static int slot_free(const kumo_limiter *l)
{
    return l->limits.max_in_flight <= 0 || l->stats.in_flight < l->limits.max_in_flight;
}

static void sleep_until(kumo_limiter *l, double when)
{
    struct timespec ts;
    ts.tv_sec = (time_t)when;
    ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&l->wake, &l->lock, &ts);
}

int kumo_limiter_acquire(kumo_limiter *l, int timeout_ms)
{
    pthread_mutex_lock(&l->lock);
    double deadline = timeout_ms < 0 ? INFINITY : now_s() + timeout_ms / 1000.0;
    for (;;) {
        double now = now_s();
        double wait = token_wait(l, now);
        if (wait == 0 && slot_free(l))
            break;
        if (now >= deadline) {
            l->stats.timeouts++;
            pthread_mutex_unlock(&l->lock);
            return -1;
        }
        /* Short of a slot: wait for a release; short of a token: until it is due. */
        double until = slot_free(l) ? now + wait : now + 1.0;
        sleep_until(l, fmin(until, deadline));
    }
    if (l->limits.qps > 0)
        l->tokens -= 1;
    l->stats.acquired++;
    l->stats.in_flight++;
    if (l->stats.in_flight > l->stats.peak_in_flight)
        l->stats.peak_in_flight = l->stats.in_flight;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

void kumo_limiter_release(kumo_limiter *l)
{
    pthread_mutex_lock(&l->lock);
    if (l->stats.in_flight > 0)
        l->stats.in_flight--;
    pthread_cond_broadcast(&l->wake);
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
