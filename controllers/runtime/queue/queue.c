/*
 * queue.c - de-duplicating, delaying, rate-limiting work queue.
 *
 * Every key the queue knows has one entry in a map by key. An entry
 * is in at most one of: the ready FIFO (dirty and not processing), the delay
 * heap (waiting for `due`), or neither. `processing` is set between get and
 * done; `dirty` means "must be reconciled (again)". An entry is freed when it
 * is none of dirty, processing, delayed, and has no failures to remember.
 *
 * Invariants: dirty && !processing <=> in the ready FIFO; heap_index >= 0 <=>
 * in the delay heap.
 */
#include "controllers/runtime/queue/queue.h"

#include "apis/map/map.h"
#include "controllers/runtime/clock/clock.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct entry {
    char *key;
    struct entry *ready_next;
    struct lane *lane; /* while ready */
    int dirty;
    int processing;
    long heap_index; /* -1: not delayed */
    double due_ms;
    int failures;
} entry;

/* The ready keys of one owner, in order; lanes with keys form a ring taken in turn. */
typedef struct lane {
    char *owner;
    entry *head, *tail;
    struct lane *ring_next;
} lane;

struct kumo_queue {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    kumo_queue_options options;
    kumo_map *entries; /* key -> entry */
    kumo_map *lanes;   /* owner -> lane, only lanes with ready keys */
    lane *ring_head, *ring_tail;
    size_t ready_count;
    entry **heap;
    size_t heap_count, heap_cap;
    double tokens;
    double tokens_at_ms;
    int shut_down;
};

kumo_queue *kumo_queue_create(const kumo_queue_options *options)
{
    kumo_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    if (options)
        q->options = *options;
    if (q->options.backoff_base_ms <= 0)
        q->options.backoff_base_ms = KUMO_QUEUE_DEFAULT_BACKOFF_BASE_MS;
    if (q->options.backoff_max_ms <= 0)
        q->options.backoff_max_ms = KUMO_QUEUE_DEFAULT_BACKOFF_MAX_MS;
    if (q->options.global_qps <= 0)
        q->options.global_qps = KUMO_QUEUE_DEFAULT_GLOBAL_QPS;
    if (q->options.global_burst <= 0)
        q->options.global_burst = 300;
    q->tokens = q->options.global_burst;
    q->tokens_at_ms = kumo_clock_now_ms();
    q->entries = kumo_map_create();
    q->lanes = kumo_map_create();
    if (q->entries == NULL || q->lanes == NULL) {
        kumo_map_destroy(q->entries);
        kumo_map_destroy(q->lanes);
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &attr);
    pthread_condattr_destroy(&attr);
    return q;
}

static void free_entry(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    entry *e = value;
    free(e->key);
    free(e);
}

static void free_lane(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    lane *l = value;
    free(l->owner);
    free(l);
}

void kumo_queue_destroy(kumo_queue *q)
{
    if (q == NULL)
        return;
    kumo_map_each(q->entries, free_entry, NULL);
    kumo_map_destroy(q->entries);
    kumo_map_each(q->lanes, free_lane, NULL);
    kumo_map_destroy(q->lanes);
    free(q->heap);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->wake);
    free(q);
}

static entry *find(kumo_queue *q, const char *key)
{
    return kumo_map_get(q->entries, key);
}

static entry *find_or_make(kumo_queue *q, const char *key)
{
    entry *e = find(q, key);
    if (e != NULL)
        return e;
    e = calloc(1, sizeof(*e));
    if (e == NULL || (e->key = strdup(key)) == NULL ||
        kumo_map_put(q->entries, key, e, NULL) != 0) {
        if (e)
            free(e->key);
        free(e);
        return NULL;
    }
    e->heap_index = -1;
    return e;
}

/* Frees the entry when nothing about it needs remembering. */
static void release_if_idle(kumo_queue *q, entry *e)
{
    if (e->dirty || e->processing || e->heap_index >= 0 || e->failures > 0)
        return;
    kumo_map_remove(q->entries, e->key);
    free(e->key);
    free(e);
}

/* The owner of a key: without a trailing "-<digits>" when the queue is fair, else "". */
static void owner_of(const kumo_queue *q, const char *key, char *buf, size_t size)
{
    size_t n = q->options.fair_by_owner ? strlen(key) : 0, end = n;
    while (end > 0 && key[end - 1] >= '0' && key[end - 1] <= '9')
        end--;
    if (end > 0 && end < n && key[end - 1] == '-')
        n = end - 1;
    snprintf(buf, size, "%.*s", (int)n, key);
}

/* Appends the entry to its owner's lane (a new lane joins the ring at its end). */
static void ready_push(kumo_queue *q, entry *e)
{
    char owner[512];
    owner_of(q, e->key, owner, sizeof(owner));
    lane *l = kumo_map_get(q->lanes, owner);
    if (l == NULL) {
        l = calloc(1, sizeof(*l));
        if (l == NULL || (l->owner = strdup(owner)) == NULL ||
            kumo_map_put(q->lanes, owner, l, NULL) != 0) {
            if (l)
                free(l->owner);
            free(l);
            return; /* out of memory: the key is dropped like a failed add */
        }
        if (q->ring_tail)
            q->ring_tail->ring_next = l;
        else
            q->ring_head = l;
        q->ring_tail = l;
    }
    e->ready_next = NULL;
    e->lane = l;
    if (l->tail)
        l->tail->ready_next = e;
    else
        l->head = e;
    l->tail = e;
    q->ready_count++;
    pthread_cond_signal(&q->wake);
}

/* Takes the first key of the first lane; the lane goes to the ring's end (or away). */
static entry *ready_pop(kumo_queue *q)
{
    lane *l = q->ring_head;
    entry *e = l->head;
    l->head = e->ready_next;
    if (l->head == NULL)
        l->tail = NULL;
    q->ring_head = l->ring_next;
    if (q->ring_head == NULL)
        q->ring_tail = NULL;
    l->ring_next = NULL;
    if (l->head != NULL) {
        if (q->ring_tail)
            q->ring_tail->ring_next = l;
        else
            q->ring_head = l;
        q->ring_tail = l;
    } else {
        kumo_map_remove(q->lanes, l->owner);
        free(l->owner);
        free(l);
    }
    e->lane = NULL;
    q->ready_count--;
    return e;
}

/* ---- the delay heap (min-heap on due_ms) ---- */

static void heap_set(kumo_queue *q, size_t i, entry *e)
{
    q->heap[i] = e;
    e->heap_index = (long)i;
}

static void heap_up(kumo_queue *q, size_t i)
{
    entry *e = q->heap[i];
    while (i > 0 && q->heap[(i - 1) / 2]->due_ms > e->due_ms) {
        heap_set(q, i, q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(q, i, e);
}

static void heap_down(kumo_queue *q, size_t i)
{
    entry *e = q->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->heap_count)
            break;
        if (child + 1 < q->heap_count && q->heap[child + 1]->due_ms < q->heap[child]->due_ms)
            child++;
        if (q->heap[child]->due_ms >= e->due_ms)
            break;
        heap_set(q, i, q->heap[child]);
        i = child;
    }
    heap_set(q, i, e);
}

static void heap_remove(kumo_queue *q, entry *e)
{
    size_t i = (size_t)e->heap_index;
    e->heap_index = -1;
    q->heap_count--;
    if (i == q->heap_count)
        return;
    entry *moved = q->heap[q->heap_count];
    heap_set(q, i, moved);
    heap_up(q, i);
    heap_down(q, (size_t)moved->heap_index);
}

/* Marks the entry dirty (cancelling a pending delay); queues it unless a worker has it. */
static void mark_dirty(kumo_queue *q, entry *e)
{
    if (e->heap_index >= 0)
        heap_remove(q, e);
    if (e->dirty)
        return;
    e->dirty = 1;
    if (!e->processing)
        ready_push(q, e);
}

/* Schedules the entry at `due` unless it is already due sooner (or ready). */
static int schedule(kumo_queue *q, entry *e, double due)
{
    if (e->dirty)
        return 0; /* it will run before the delay would have passed */
    if (e->heap_index >= 0) {
        if (e->due_ms <= due)
            return 0;
        e->due_ms = due;
        heap_up(q, (size_t)e->heap_index);
        pthread_cond_signal(&q->wake);
        return 0;
    }
    if (q->heap_count == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 64;
        entry **grown = realloc(q->heap, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        q->heap = grown;
        q->heap_cap = cap;
    }
    e->due_ms = due;
    heap_set(q, q->heap_count++, e);
    heap_up(q, q->heap_count - 1);
    pthread_cond_signal(&q->wake);
    return 0;
}

int kumo_queue_add_after(kumo_queue *q, const char *key, double delay_ms)
{
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    entry *e = q->shut_down ? NULL : find_or_make(q, key);
    if (e == NULL)
        rc = -1;
    else if (delay_ms <= 0)
        mark_dirty(q, e);
    else if (schedule(q, e, kumo_clock_now_ms() + delay_ms) != 0) {
        rc = -1;
        release_if_idle(q, e);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int kumo_queue_add(kumo_queue *q, const char *key)
{
    return kumo_queue_add_after(q, key, 0);
}

/* Takes one token from the global bucket; returns how long to wait for it. */
static double bucket_delay(kumo_queue *q)
{
    double now = kumo_clock_now_ms();
    double rate = q->options.global_qps / 1000.0; /* tokens per ms */
    q->tokens = fmin(q->options.global_burst, q->tokens + (now - q->tokens_at_ms) * rate);
    q->tokens_at_ms = now;
    q->tokens -= 1;
    return q->tokens >= 0 ? 0 : -q->tokens / rate;
}

int kumo_queue_add_rate_limited(kumo_queue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    entry *e = q->shut_down ? NULL : find_or_make(q, key);
    if (e == NULL) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    double backoff = q->options.backoff_base_ms * pow(2.0, fmin(e->failures, 62));
    backoff = fmin(backoff, q->options.backoff_max_ms);
    e->failures++;
    double delay = fmax(backoff, bucket_delay(q));
    int rc = schedule(q, e, kumo_clock_now_ms() + delay);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void kumo_queue_forget(kumo_queue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    entry *e = find(q, key);
    if (e != NULL) {
        e->failures = 0;
        release_if_idle(q, e);
    }
    pthread_mutex_unlock(&q->lock);
}

int kumo_queue_failures(kumo_queue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    entry *e = find(q, key);
    int failures = e ? e->failures : 0;
    pthread_mutex_unlock(&q->lock);
    return failures;
}

/* Moves every entry whose delay has passed into line; returns ms until the next one (or -1). */
static double promote_due(kumo_queue *q)
{
    double now = kumo_clock_now_ms();
    while (q->heap_count > 0 && q->heap[0]->due_ms <= now) {
        mark_dirty(q, q->heap[0]);
    }
    return q->heap_count > 0 ? q->heap[0]->due_ms - now : -1;
}

int kumo_queue_get(kumo_queue *q, char *buf, size_t size)
{
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->shut_down) {
            pthread_mutex_unlock(&q->lock);
            return 0;
        }
        double wait_ms = promote_due(q);
        if (q->ring_head != NULL)
            break;
        if (wait_ms < 0) {
            pthread_cond_wait(&q->wake, &q->lock);
        } else {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            double ns = (double)until.tv_nsec + wait_ms * 1e6 + 1e5;
            until.tv_sec += (time_t)(ns / 1e9);
            until.tv_nsec = (long)fmod(ns, 1e9);
            pthread_cond_timedwait(&q->wake, &q->lock, &until);
        }
    }
    entry *e = ready_pop(q);
    e->dirty = 0;
    e->processing = 1;
    size_t n = strlen(e->key);
    if (n >= size)
        n = size - 1;
    memcpy(buf, e->key, n);
    buf[n] = '\0';
    pthread_mutex_unlock(&q->lock);
    return 1;
}

void kumo_queue_done(kumo_queue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    entry *e = find(q, key);
    if (e != NULL && e->processing) {
        e->processing = 0;
        if (e->dirty)
            ready_push(q, e);
        else
            release_if_idle(q, e);
    }
    pthread_mutex_unlock(&q->lock);
}

size_t kumo_queue_len(kumo_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->ready_count;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t kumo_queue_delayed_len(kumo_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->heap_count;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void kumo_queue_shutdown(kumo_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->shut_down = 1;
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
}
