/* limiter_test.c - the per-Connection API limiter: QPS, burst, in-flight cap, sharing. */
#include "controllers/runtime/limiter/limiter.h"
#include "tests/harness/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

typedef struct hammer {
    kumo_limiter *limiter;
    double until;
    int hold_us;
    atomic_int calls;
} hammer;

static void *hammer_thread(void *arg)
{
    hammer *h = arg;
    while (kumo_test_now() < h->until) {
        if (kumo_limiter_acquire(h->limiter, 50) != 0)
            continue;
        atomic_fetch_add(&h->calls, 1);
        if (h->hold_us)
            usleep((useconds_t)h->hold_us);
        kumo_limiter_release(h->limiter);
    }
    return NULL;
}

static int run_hammer(hammer *h, int threads, double seconds)
{
    pthread_t t[16];
    h->until = kumo_test_now() + seconds;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, hammer_thread, h);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return atomic_load(&h->calls);
}

KUMO_TEST(limiter_qps_and_burst)
{
    kumo_limiter_limits limits = {.qps = 100, .burst = 10};
    hammer h = {.limiter = kumo_limiter_create(&limits)};
    int calls = run_hammer(&h, 8, 1.0);
    /* At most burst + qps * t; and the limiter must not starve callers either. */
    KUMO_EXPECT_INT_LE(calls, 10 + 100 * 1.0 + 5);
    KUMO_EXPECT_INT_GE(calls, 80);
    kumo_limiter_destroy(h.limiter);
}

KUMO_TEST(limiter_in_flight_cap)
{
    kumo_limiter_limits limits = {.max_in_flight = 3};
    hammer h = {.limiter = kumo_limiter_create(&limits), .hold_us = 2000};
    run_hammer(&h, 10, 0.3);
    kumo_limiter_stats stats;
    kumo_limiter_stats_get(h.limiter, &stats);
    KUMO_EXPECT_INT_EQ(stats.peak_in_flight, 3);
    KUMO_EXPECT_INT_EQ(stats.in_flight, 0);
    KUMO_EXPECT_INT_GT(stats.acquired, 50);
    kumo_limiter_destroy(h.limiter);
}

KUMO_TEST(limiter_timeout)
{
    kumo_limiter_limits limits = {.qps = 1, .burst = 1};
    kumo_limiter *l = kumo_limiter_create(&limits);
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire(l, 0), 0);
    kumo_limiter_release(l);
    double start = kumo_test_now();
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire(l, 100), -1);
    KUMO_EXPECT_INT_GE((kumo_test_now() - start) * 1000, 99);
    kumo_limiter_stats stats;
    kumo_limiter_stats_get(l, &stats);
    KUMO_EXPECT_INT_EQ(stats.timeouts, 1);
    kumo_limiter_destroy(l);
}

KUMO_TEST(limiter_set_shared)
{
    kumo_limiter_set *set = kumo_limiter_set_create();
    kumo_limiter_limits a = {.qps = 5, .burst = 1};
    kumo_limiter_limits b = {.qps = 1000, .burst = 1000};
    kumo_limiter *one = kumo_limiter_set_get(set, "default/aws-use1", &a);
    kumo_limiter *two = kumo_limiter_set_get(set, "default/aws-use1", &a);
    kumo_limiter *other = kumo_limiter_set_get(set, "default/gcp-euw1", &a);
    KUMO_EXPECT(one == two);
    KUMO_EXPECT(one != other);
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire(one, 0), 0);
    kumo_limiter_release(one);
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire(one, 0), -1);
    /* New limits reach the shared limiter. */
    kumo_limiter_set_get(set, "default/aws-use1", &b);
    usleep(10000);
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire(one, 0), 0);
    kumo_limiter_release(one);
    kumo_limiter_set_destroy(set);
}
