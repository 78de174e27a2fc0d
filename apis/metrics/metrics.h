/*
 * metrics.h - kumo's process metrics: a small registry of counters, gauges
 * and histograms cheap enough for the API, store and controller hot paths,
 * and a writer of Prometheus's text exposition format (version 0.0.4)
 * (docs/monitoring.md).
 *
 * A family (name, help, type, label names) is registered once and lives for
 * the process. Its series live in a fixed table allocated when the family is
 * registered: finding or adding a series is a hash and a linear probe with
 * atomic compare-and-swap, never a lock and never an allocation, so updating
 * a metric costs a few tens of nanoseconds. When a family's table is full, new
 * label sets share one series whose label values are all "_other": the number
 * of series is bounded whatever the callers pass.
 *
 * Values are updated with relaxed atomics; a scrape reads each value once, so
 * a histogram read while it is being updated may be off by the observations
 * in flight (Prometheus tolerates that; its client libraries do the same).
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef KUMO_METRICS_H
#define KUMO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define KUMO_METRICS_MAX_LABELS  4
#define KUMO_METRICS_MAX_BUCKETS 16
#define KUMO_METRICS_VALUE_SIZE  64 /* longer label values are cut */

typedef enum kumo_metrics_type {
    KUMO_METRICS_COUNTER,
    KUMO_METRICS_GAUGE,
    KUMO_METRICS_HISTOGRAM,
    KUMO_METRICS_SUMMARY, /* only written by callers of kumo_metrics_text_*, never registered */
} kumo_metrics_type;

typedef struct kumo_metrics_family kumo_metrics_family;
typedef struct kumo_metrics_series kumo_metrics_series;

/* What a family is. Strings are copied. */
typedef struct kumo_metrics_spec {
    const char *name; /* kumo_<subsystem>_<what>_<unit>[_total] */
    const char *help;
    kumo_metrics_type type;
    const char *labels[KUMO_METRICS_MAX_LABELS]; /* label names; unused ones NULL */
    const double *buckets;                       /* histograms: upper bounds, ascending */
    size_t bucket_count;                         /* <= KUMO_METRICS_MAX_BUCKETS */
    size_t capacity;                             /* series; 0: 256 */
} kumo_metrics_spec;

/*
 * The family named spec->name, registered on the first call (later calls with
 * the same name return it and ignore the rest of spec). NULL when out of
 * memory or when more than 64 families exist; every update function takes
 * NULL as a no-op, so callers need not check.
 */
kumo_metrics_family *kumo_metrics_family_get(const kumo_metrics_spec *spec);

/*
 * The series with these label values (as many as the family has labels; NULL
 * values are ""), added on first use. Never NULL for a non-NULL family; the
 * pointer stays valid for the process, so callers may keep it.
 */
kumo_metrics_series *kumo_metrics_series_get(kumo_metrics_family *family,
                                             const char *const *values);

void kumo_metrics_add(kumo_metrics_series *series, double value);     /* counter or gauge */
void kumo_metrics_set(kumo_metrics_series *series, double value);     /* gauge */
void kumo_metrics_observe(kumo_metrics_series *series, double value); /* histogram */

/* Shorthands: family lookup by label values, then the update. */
void kumo_metrics_count(kumo_metrics_family *family, const char *const *values, double value);
void kumo_metrics_record(kumo_metrics_family *family, const char *const *values, double value);

/* Seconds since an unspecified start (CLOCK_MONOTONIC), for latency observations. */
double kumo_metrics_now(void);

/* ---- the text format --------------------------------------------------------------- */

/* A growing text buffer. */
typedef struct kumo_metrics_text {
    char *data; /* NUL-terminated once anything was written; owned */
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} kumo_metrics_text;

void kumo_metrics_text_init(kumo_metrics_text *text);
void kumo_metrics_text_fini(kumo_metrics_text *text);
void kumo_metrics_text_append(kumo_metrics_text *text, const char *data, size_t len);

/* "# HELP name help\n# TYPE name type\n" (help escaped). */
void kumo_metrics_text_family(kumo_metrics_text *text, const char *name, const char *help,
                              kumo_metrics_type type);

/*
 * One sample line: name{l1="v1",...} value. `names` and `values` hold `count`
 * label pairs; pairs with a NULL or empty value are left out. Values are
 * escaped (backslash, quote, newline). NaN and infinities print as Prometheus
 * spells them.
 */
void kumo_metrics_text_sample(kumo_metrics_text *text, const char *name, const char *const *names,
                              const char *const *values, size_t count, double value);

/* Every registered family with its series, in registration order. */
void kumo_metrics_write(kumo_metrics_text *text);

#endif
