/*
 * timing.h - clocks and percentiles shared by the benchmark clients in
 * hack/bench/ (each a CMake target of hack/bench/CMakeLists.txt; included as
 * "hack/bench/timing.h").
 */
#ifndef KUMO_BENCH_TIMING_H
#define KUMO_BENCH_TIMING_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Monotonic seconds, for durations. */
static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall clock in nanoseconds, comparable with the server's Kumo-Commit-Time. */
static inline int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile (0..1) of v; sorts v. 0 when empty. */
static inline double percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), bench_cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

#endif
