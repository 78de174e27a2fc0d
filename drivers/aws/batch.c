/*
 * batch.c - one DescribeInstances for many concurrent lookups.
 *
 * Every machine observe (and the lookup before each create) asks EC2 about
 * one instance. Under load many of them wait for the API at once; answering
 * each with its own call costs a call per lookup and, on servers that scan
 * every instance per call (moto), time proportional to the fleet. So lookups
 * of a connection join a batch: while one DescribeInstances is in flight,
 * new lookups gather in the next batch, sent as one call (Filter
 * tag:kumo:uid, or instance-id, with up to BATCH_MAX values) when the call in
 * flight returns. An idle connection sends a lookup at once, alone.
 *
 * Freshness: a batch is sent after every lookup in it began, so an answer is
 * never older than the question (a RunInstances whose reply was lost before
 * a retried create began is seen by that create's lookup, as with a call of
 * its own). Lookups by id and by token go in separate batches (EC2 ANDs
 * filters). A lookup whose deadline passes while it waits returns TIMEOUT;
 * the batch's call is bounded by the deadline of the lookup that sends it.
 */
#include "drivers/aws/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 100 /* values per filter; EC2 accepts up to 200 */

struct aws_batch {
    struct aws_batch *next; /* in the queue, while open */
    int by_id;
    char **keys;
    size_t count;
    int refs, done;
    kumo_driver_code rc;
    struct kumo_driver_diag diag;
    struct aws_reply reply;
};

static void batch_unref(struct aws_batch *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    for (size_t i = 0; i < b->count; i++)
        free(b->keys[i]);
    free(b->keys);
    aws_reply_free(&b->reply);
    free(b);
}

/* Adds key to the last open batch of the queue (a new one when none is open or it is full). */
static struct aws_batch *batch_join(struct aws_batcher *q, int by_id, const char *key)
{
    struct aws_batch *b = q->tail;
    if (b == NULL || b->count == BATCH_MAX) {
        b = calloc(1, sizeof(*b));
        if (b == NULL || (b->keys = calloc(BATCH_MAX, sizeof(char *))) == NULL) {
            free(b);
            return NULL;
        }
        b->by_id = by_id;
        b->refs = 1; /* the queue's, passed to whoever sends it */
        if (q->tail)
            q->tail->next = b;
        else
            q->head = b;
        q->tail = b;
    }
    b->keys[b->count] = strdup(key);
    if (b->keys[b->count] == NULL)
        return NULL;
    b->count++;
    b->refs++;
    return b;
}

/* The call of one batch; run without the lock. */
static void batch_send(struct kumo_driver_conn *c, struct aws_batch *b, int64_t deadline_ns)
{
    struct aws_params p;
    aws_params_init(&p, "DescribeInstances");
    aws_params_add(&p, "Filter.1.Name", b->by_id ? "instance-id" : "tag:" KUMO_DRIVER_TOKEN_TAG);
    for (size_t i = 0; i < b->count; i++) {
        char key[40];
        snprintf(key, sizeof(key), "Filter.1.Value.%zu", i + 1);
        aws_params_add(&p, key, b->keys[i]);
    }
    aws_params_live_filter(&p, 2);
    char what[96];
    snprintf(what, sizeof(what), "%zu instance%s by %s", b->count, b->count == 1 ? "" : "s",
             b->by_id ? "id" : "token");
    memset(&b->diag, 0, sizeof(b->diag));
    b->rc = p.failed ? kumo_driver_kit_fail(&b->diag, KUMO_DRIVER_NOMEM, "", "out of memory")
                     : aws_call(c, &p, what, deadline_ns, &b->reply, &b->diag);
    aws_params_fini(&p);
}

/* Waits on the connection's condition until deadline_ns; ETIMEDOUT when it passed. */
static int wait_until(struct kumo_driver_conn *c, int64_t deadline_ns)
{
    if (deadline_ns == KUMO_DRIVER_NO_DEADLINE)
        return pthread_cond_wait(&c->batch_cv, &c->mu);
    int64_t left = deadline_ns - aws_host->monotonic_ns(aws_host->ctx);
    if (left <= 0)
        return ETIMEDOUT;
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    int64_t ns = (int64_t)at.tv_nsec + left % 1000000000;
    at.tv_sec += (time_t)(left / 1000000000 + ns / 1000000000);
    at.tv_nsec = (long)(ns % 1000000000);
    return pthread_cond_timedwait(&c->batch_cv, &c->mu, &at);
}

/* The instance of the batch's reply that key names, or NULL. */
static xmlNodePtr batch_find(const struct aws_batch *b, const char *key)
{
    AWS_XML_ITEMS(r, b->reply.root, "reservationSet")
    AWS_XML_ITEMS(it, r, "instancesSet")
    {
        if (strcmp(aws_xml_text(aws_xml_child(it, "instanceState"), "name"), "terminated") == 0)
            continue;
        if (b->by_id ? strcmp(aws_xml_text(it, "instanceId"), key) == 0
                     : aws_xml_find_tag(it, KUMO_DRIVER_TOKEN_TAG, key))
            return it;
    }
    return NULL;
}

kumo_driver_code aws_batch_lookup(struct kumo_driver_conn *c, int by_id, const char *key,
                                  int64_t deadline_ns, struct aws_found *found,
                                  struct kumo_driver_diag *diag)
{
    memset(found, 0, sizeof(*found));
    if (deadline_ns != KUMO_DRIVER_NO_DEADLINE &&
        deadline_ns <= aws_host->monotonic_ns(aws_host->ctx))
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
                                    "EC2 DescribeInstances in %s (%s): the deadline passed "
                                    "before the call",
                                    c->region, key);
    struct aws_batcher *q = by_id ? &c->by_id : &c->by_token;
    pthread_mutex_lock(&c->mu);
    struct aws_batch *b = batch_join(q, by_id, key);
    if (b == NULL) {
        pthread_mutex_unlock(&c->mu);
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory");
    }
    while (!b->done) {
        if (!q->sending && q->head == b) {
            q->sending = 1;
            q->head = b->next; /* the queue's reference passes to this sender */
            if (q->tail == b)
                q->tail = NULL;
            pthread_mutex_unlock(&c->mu);
            batch_send(c, b, deadline_ns);
            pthread_mutex_lock(&c->mu);
            b->done = 1;
            q->sending = 0;
            batch_unref(b);
            pthread_cond_broadcast(&c->batch_cv);
            break;
        }
        if (wait_until(c, deadline_ns) == ETIMEDOUT && !b->done) {
            batch_unref(b);
            pthread_mutex_unlock(&c->mu);
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
                                        "EC2 DescribeInstances in %s: no answer about %s before "
                                        "the deadline",
                                        c->region, key);
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (b->rc != KUMO_DRIVER_OK) {
        if (diag)
            *diag = b->diag;
        kumo_driver_code rc = b->rc;
        aws_found_release(c, &(struct aws_found){b, NULL});
        return rc;
    }
    found->batch = b;
    found->it = batch_find(b, key);
    if (found->it != NULL)
        return KUMO_DRIVER_OK;
    aws_found_release(c, found);
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidInstanceID.NotFound",
                                "EC2 in %s: no live instance %s%s", c->region,
                                by_id ? "" : "with token ", key);
}

void aws_found_release(struct kumo_driver_conn *c, struct aws_found *found)
{
    if (found->batch == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    batch_unref(found->batch);
    pthread_mutex_unlock(&c->mu);
    found->batch = NULL;
    found->it = NULL;
}

void aws_batcher_fini(struct aws_batcher *q)
{
    while (q->head != NULL) {
        struct aws_batch *b = q->head;
        q->head = b->next;
        batch_unref(b);
    }
    q->tail = NULL;
}
