/* Tests of apis/metrics: series, histograms, bounded cardinality, escaping, concurrency. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/metrics/metrics.h"
#include "tests/harness/test.h"

static char *written(void)
{
    kumo_metrics_text t;
    kumo_metrics_text_init(&t);
    kumo_metrics_write(&t);
    KUMO_REQUIRE(!t.failed);
    return t.data;
}

KUMO_TEST(counter_labels)
{
    kumo_metrics_spec spec = {.name = "test_requests_total",
                              .help = "Requests.",
                              .type = KUMO_METRICS_COUNTER,
                              .labels = {"verb", "code"}};
    kumo_metrics_family *f = kumo_metrics_family_get(&spec);
    KUMO_REQUIRE_PTR_NONNULL(f);
    KUMO_EXPECT(kumo_metrics_family_get(&spec) == f);
    kumo_metrics_count(f, (const char *[]){"get", "200"}, 1);
    kumo_metrics_count(f, (const char *[]){"get", "200"}, 2);
    kumo_metrics_count(f, (const char *[]){"create", "409"}, 1);
    KUMO_EXPECT(kumo_metrics_series_get(f, (const char *[]){"get", "200"}) ==
                kumo_metrics_series_get(f, (const char *[]){"get", "200"}));
    char *text = written();
    KUMO_EXPECT_CONTAINS(text, "# HELP test_requests_total Requests.\n"
                               "# TYPE test_requests_total counter\n");
    KUMO_EXPECT_CONTAINS(text, "test_requests_total{verb=\"get\",code=\"200\"} 3\n");
    KUMO_EXPECT_CONTAINS(text, "test_requests_total{verb=\"create\",code=\"409\"} 1\n");
    free(text);
}

KUMO_TEST(histogram_buckets)
{
    static const double buckets[] = {0.001, 0.01, 0.1};
    kumo_metrics_spec spec = {.name = "test_latency_seconds",
                              .help = "Latency.",
                              .type = KUMO_METRICS_HISTOGRAM,
                              .labels = {"op"},
                              .buckets = buckets,
                              .bucket_count = 3};
    kumo_metrics_family *f = kumo_metrics_family_get(&spec);
    const char *op[] = {"commit"};
    kumo_metrics_record(f, op, 0.0005);
    kumo_metrics_record(f, op, 0.005);
    kumo_metrics_record(f, op, 0.05);
    kumo_metrics_observe(kumo_metrics_series_get(f, op), 5);
    char *text = written();
    KUMO_EXPECT_CONTAINS(text, "test_latency_seconds_bucket{op=\"commit\",le=\"0.001\"} 1\n");
    KUMO_EXPECT_CONTAINS(text, "test_latency_seconds_bucket{op=\"commit\",le=\"0.01\"} 2\n");
    KUMO_EXPECT_CONTAINS(text, "test_latency_seconds_bucket{op=\"commit\",le=\"0.1\"} 3\n");
    KUMO_EXPECT_CONTAINS(text, "test_latency_seconds_bucket{op=\"commit\",le=\"+Inf\"} 4\n");
    KUMO_EXPECT_CONTAINS(text, "test_latency_seconds_count{op=\"commit\"} 4\n");
    KUMO_EXPECT_CONTAINS(text, "test_latency_seconds_sum{op=\"commit\"} 5.0555");
    free(text);
}

KUMO_TEST(overflow_bounded)
{
    kumo_metrics_spec spec = {.name = "test_bounded_total",
                              .help = "Bounded.",
                              .type = KUMO_METRICS_COUNTER,
                              .labels = {"name"},
                              .capacity = 8};
    kumo_metrics_family *f = kumo_metrics_family_get(&spec);
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        kumo_metrics_count(f, (const char *[]){name}, 1);
    }
    char *text = written();
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "test_bounded_total{")) != NULL; p++)
        lines++;
    KUMO_EXPECT_INT_EQ(lines, 9); /* 8 series and the shared one */
    KUMO_EXPECT_CONTAINS(text, "test_bounded_total{name=\"_other\"} 92\n");
    free(text);
}

KUMO_TEST(escaping)
{
    kumo_metrics_text t;
    kumo_metrics_text_init(&t);
    kumo_metrics_text_family(&t, "x", "a \\ b\nc", KUMO_METRICS_GAUGE);
    const char *names[] = {"a", "b", "c"};
    const char *values[] = {"q\"uote\\\n", "", NULL};
    kumo_metrics_text_sample(&t, "x", names, values, 3, 0.25);
    kumo_metrics_text_sample(&t, "x", names, (const char *[]){"", NULL, NULL}, 3, 1.0 / 0.0);
    KUMO_EXPECT_STR_EQ(t.data, "# HELP x a \\\\ b\\nc\n# TYPE x gauge\n"
                               "x{a=\"q\\\"uote\\\\\\n\"} 0.25\nx +Inf\n");
    kumo_metrics_text_fini(&t);
}

static kumo_metrics_family *threads_family;

static void *adder(void *arg)
{
    char name[16];
    snprintf(name, sizeof(name), "t%d", (int)(long)arg % 3);
    for (int i = 0; i < 100000; i++)
        kumo_metrics_count(threads_family, (const char *[]){name}, 1);
    return NULL;
}

KUMO_TEST(threads_add)
{
    kumo_metrics_spec spec = {
        .name = "test_threads_total", .type = KUMO_METRICS_COUNTER, .labels = {"who"}};
    threads_family = kumo_metrics_family_get(&spec);
    pthread_t threads[6];
    for (long i = 0; i < 6; i++)
        pthread_create(&threads[i], NULL, adder, (void *)i);
    for (int i = 0; i < 6; i++)
        pthread_join(threads[i], NULL);
    char *text = written();
    KUMO_EXPECT_CONTAINS(text, "test_threads_total{who=\"t0\"} 200000\n");
    KUMO_EXPECT_CONTAINS(text, "test_threads_total{who=\"t1\"} 200000\n");
    KUMO_EXPECT_CONTAINS(text, "test_threads_total{who=\"t2\"} 200000\n");
    free(text);
}
