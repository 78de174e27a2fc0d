/* queue_test.c - the work queue: de-duplication, exclusivity, delays, rate limits. */
#include "controllers/runtime/queue/queue.h"
#include "tests/harness/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

KUMO_TEST(queue_dedup)
{
    kumo_queue *q = kumo_queue_create(NULL);
    char key[64];
    kumo_queue_add(q, "default/a");
    kumo_queue_add(q, "default/b");
    kumo_queue_add(q, "default/a");
    KUMO_EXPECT_INT_EQ(kumo_queue_len(q), 2);
    KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
    KUMO_EXPECT_STR_EQ(key, "default/a");
    kumo_queue_done(q, key);
    KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
    KUMO_EXPECT_STR_EQ(key, "default/b");
    kumo_queue_done(q, key);
    KUMO_EXPECT_INT_EQ(kumo_queue_len(q), 0);
    kumo_queue_destroy(q);
}

KUMO_TEST(queue_readd_while_processing)
{
    kumo_queue *q = kumo_queue_create(NULL);
    char key[64];
    kumo_queue_add(q, "k");
    KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
    /* Added while a worker has it: not handed out again until done. */
    kumo_queue_add(q, "k");
    kumo_queue_add(q, "k");
    KUMO_EXPECT_INT_EQ(kumo_queue_len(q), 0);
    kumo_queue_done(q, "k");
    KUMO_EXPECT_INT_EQ(kumo_queue_len(q), 1);
    KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
    kumo_queue_done(q, "k");
    KUMO_EXPECT_INT_EQ(kumo_queue_len(q), 0);
    kumo_queue_destroy(q);
}

enum { KEYS = 16, WORKERS = 8, ADDS = 20000 };

typedef struct exclusivity {
    kumo_queue *q;
    atomic_int active[KEYS];
    atomic_int overlaps;
    atomic_int processed;
} exclusivity;

static void *worker(void *arg)
{
    exclusivity *x = arg;
    char key[32];
    while (kumo_queue_get(x->q, key, sizeof(key))) {
        int k = atoi(key);
        if (atomic_fetch_add(&x->active[k], 1) != 0)
            atomic_fetch_add(&x->overlaps, 1);
        usleep(50);
        atomic_fetch_sub(&x->active[k], 1);
        atomic_fetch_add(&x->processed, 1);
        kumo_queue_done(x->q, key);
    }
    return NULL;
}

KUMO_TEST(queue_never_two_workers)
{
    exclusivity x = {.q = kumo_queue_create(NULL)};
    pthread_t threads[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&threads[i], NULL, worker, &x);
    char key[32];
    for (int i = 0; i < ADDS; i++) {
        snprintf(key, sizeof(key), "%d", i % KEYS);
        kumo_queue_add(x.q, key);
    }
    while (kumo_queue_len(x.q) > 0)
        usleep(1000);
    usleep(20000);
    kumo_queue_shutdown(x.q);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    KUMO_EXPECT_INT_EQ(atomic_load(&x.overlaps), 0);
    /* De-duplication: far fewer reconciles than adds, but every key at least once. */
    KUMO_EXPECT_INT_GE(atomic_load(&x.processed), KEYS);
    KUMO_EXPECT_INT_LT(atomic_load(&x.processed), ADDS);
    kumo_queue_destroy(x.q);
}

KUMO_TEST(queue_add_after)
{
    kumo_queue *q = kumo_queue_create(NULL);
    char key[64];
    double start = kumo_test_now();
    kumo_queue_add_after(q, "late", 80);
    kumo_queue_add_after(q, "early", 30);
    kumo_queue_add_after(q, "late", 20000); /* a later time does not postpone */
    KUMO_EXPECT_INT_EQ(kumo_queue_delayed_len(q), 2);
    KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
    KUMO_EXPECT_STR_EQ(key, "early");
    KUMO_EXPECT_INT_GE((kumo_test_now() - start) * 1000, 29);
    kumo_queue_done(q, key);
    KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
    KUMO_EXPECT_STR_EQ(key, "late");
    double took = (kumo_test_now() - start) * 1000;
    KUMO_EXPECT_INT_GE(took, 79);
    KUMO_EXPECT_INT_LT(took, 10000);
    kumo_queue_done(q, key);
    /* An immediate add cancels a pending delay: the key runs once, now. */
    kumo_queue_add_after(q, "x", 50);
    kumo_queue_add(q, "x");
    KUMO_EXPECT_INT_EQ(kumo_queue_delayed_len(q), 0);
    KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
    kumo_queue_done(q, key);
    usleep(70000);
    KUMO_EXPECT_INT_EQ(kumo_queue_len(q), 0);
    kumo_queue_destroy(q);
}

KUMO_TEST(queue_backoff_exponential)
{
    kumo_queue_options o = {
        .backoff_base_ms = 10, .backoff_max_ms = 80, .global_qps = 1e6, .global_burst = 1e6};
    kumo_queue *q = kumo_queue_create(&o);
    char key[64];
    double expected[] = {10, 20, 40, 80, 80};
    for (int i = 0; i < 5; i++) {
        double start = kumo_test_now();
        kumo_queue_add_rate_limited(q, "k");
        KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
        double took = (kumo_test_now() - start) * 1000;
        KUMO_EXPECT_INT_GE(took, expected[i] - 1);
        KUMO_EXPECT_INT_LT(took, expected[i] + 500);
        kumo_queue_done(q, key);
    }
    KUMO_EXPECT_INT_EQ(kumo_queue_failures(q, "k"), 5);
    kumo_queue_forget(q, "k");
    KUMO_EXPECT_INT_EQ(kumo_queue_failures(q, "k"), 0);
    kumo_queue_destroy(q);
}

KUMO_TEST(queue_token_bucket)
{
    /* 100 keys through a 200/s bucket with a burst of 20: about 0.4 s. */
    kumo_queue_options o = {.backoff_base_ms = 0.001, .global_qps = 200, .global_burst = 20};
    kumo_queue *q = kumo_queue_create(&o);
    char key[64];
    double start = kumo_test_now();
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        kumo_queue_add_rate_limited(q, key);
    }
    for (int i = 0; i < 100; i++) {
        KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
        kumo_queue_done(q, key);
    }
    double took = kumo_test_now() - start;
    KUMO_EXPECT_INT_GE(took * 1000, 390);
    KUMO_EXPECT_INT_LT(took * 1000, 5000);
    kumo_queue_destroy(q);
}

static void *blocked_get(void *arg)
{
    char key[16];
    return (void *)(intptr_t)kumo_queue_get(arg, key, sizeof(key));
}

KUMO_TEST(queue_shutdown)
{
    kumo_queue *q = kumo_queue_create(NULL);
    pthread_t t;
    pthread_create(&t, NULL, blocked_get, q);
    usleep(20000);
    kumo_queue_shutdown(q);
    void *result;
    pthread_join(t, &result);
    KUMO_EXPECT_INT_EQ((intptr_t)result, 0);
    KUMO_EXPECT_INT_EQ(kumo_queue_add(q, "late"), -1);
    kumo_queue_destroy(q);
}

/* 1,000 ready keys of one owner do not make another owner's key wait behind them. */
KUMO_TEST(queue_fair_by_owner)
{
    kumo_queue_options o = {.fair_by_owner = 1};
    kumo_queue *q = kumo_queue_create(&o);
    KUMO_REQUIRE(q != NULL);
    char key[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "default/big-a-%d", i);
        KUMO_REQUIRE_INT_EQ(kumo_queue_add(q, key), 0);
    }
    KUMO_REQUIRE_INT_EQ(kumo_queue_add(q, "default/small-a-0"), 0);
    KUMO_REQUIRE_INT_EQ(kumo_queue_add(q, "default/small-a-1"), 0);
    KUMO_REQUIRE_INT_EQ(kumo_queue_add(q, "default/bastion"), 0);
    int small_at = -1, bastion_at = -1;
    for (int i = 0; i < 1003; i++) {
        KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
        if (strcmp(key, "default/small-a-0") == 0)
            small_at = i;
        if (strcmp(key, "default/bastion") == 0)
            bastion_at = i;
        kumo_queue_done(q, key);
    }
    KUMO_EXPECT_INT_LE(small_at, 2); /* taken in turn: big, small, bastion, big, small, ... */
    KUMO_EXPECT_INT_LE(bastion_at, 3);
    KUMO_EXPECT_INT_EQ(kumo_queue_len(q), 0);
    /* Within an owner, the order stays first in, first out. */
    KUMO_REQUIRE_INT_EQ(kumo_queue_add(q, "default/big-a-7"), 0);
    KUMO_REQUIRE_INT_EQ(kumo_queue_add(q, "default/big-a-3"), 0);
    KUMO_REQUIRE_INT_EQ(kumo_queue_get(q, key, sizeof(key)), 1);
    KUMO_EXPECT_STR_EQ(key, "default/big-a-7");
    kumo_queue_done(q, key);
    kumo_queue_destroy(q);
}
