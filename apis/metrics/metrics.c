/*
 * metrics.c - the registry (families with fixed tables of series, claimed
 * lock-free) and the Prometheus text writer.
 *
 * Invariants: a series slot goes FREE -> CLAIMING -> READY once and never
 * back; its label values are written only while CLAIMING, by the thread that
 * claimed it, and read only once READY (acquire/release). Families are never
 * freed: the registry is the process's.
 */
#include "apis/metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FAMILIES     64
#define DEFAULT_CAPACITY 256

enum { SLOT_FREE, SLOT_CLAIMING, SLOT_READY };

struct kumo_metrics_series {
    _Atomic int state;
    uint64_t hash;
    char values[KUMO_METRICS_MAX_LABELS][KUMO_METRICS_VALUE_SIZE];
    _Atomic uint64_t bits;  /* the value (counter, gauge) or the sum (histogram), a double */
    _Atomic uint64_t count; /* histogram observations */
    _Atomic uint64_t buckets[KUMO_METRICS_MAX_BUCKETS];
};

struct kumo_metrics_family {
    char name[128];
    char help[256];
    kumo_metrics_type type;
    size_t label_count;
    char labels[KUMO_METRICS_MAX_LABELS][32];
    double bounds[KUMO_METRICS_MAX_BUCKETS];
    size_t bucket_count;
    size_t capacity;
    kumo_metrics_series *slots; /* capacity + 1: the last is the overflow series */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static kumo_metrics_family *families[MAX_FAMILIES];
static _Atomic size_t family_count;

static kumo_metrics_family *family_create(const kumo_metrics_spec *spec)
{
    kumo_metrics_family *f = calloc(1, sizeof(*f));
    size_t capacity = spec->capacity ? spec->capacity : DEFAULT_CAPACITY;
    if (f == NULL || (f->slots = calloc(capacity + 1, sizeof(*f->slots))) == NULL) {
        free(f);
        return NULL;
    }
    snprintf(f->name, sizeof(f->name), "%s", spec->name);
    snprintf(f->help, sizeof(f->help), "%s", spec->help ? spec->help : "");
    f->type = spec->type;
    f->capacity = capacity;
    while (f->label_count < KUMO_METRICS_MAX_LABELS && spec->labels[f->label_count]) {
        snprintf(f->labels[f->label_count], sizeof(f->labels[0]), "%s",
                 spec->labels[f->label_count]);
        f->label_count++;
    }
    for (size_t i = 0; i < spec->bucket_count && i < KUMO_METRICS_MAX_BUCKETS; i++)
        f->bounds[f->bucket_count++] = spec->buckets[i];
    kumo_metrics_series *other = &f->slots[capacity];
    for (size_t i = 0; i < f->label_count; i++)
        snprintf(other->values[i], sizeof(other->values[i]), "_other");
    atomic_store(&other->state, SLOT_READY);
    return f;
}

kumo_metrics_family *kumo_metrics_family_get(const kumo_metrics_spec *spec)
{
    if (spec == NULL || spec->name == NULL)
        return NULL;
    pthread_mutex_lock(&registry_lock);
    size_t n = atomic_load(&family_count);
    kumo_metrics_family *f = NULL;
    for (size_t i = 0; i < n && f == NULL; i++)
        if (strcmp(families[i]->name, spec->name) == 0)
            f = families[i];
    if (f == NULL && n < MAX_FAMILIES && (f = family_create(spec)) != NULL) {
        families[n] = f;
        atomic_store(&family_count, n + 1);
    }
    pthread_mutex_unlock(&registry_lock);
    return f;
}

static uint64_t hash_values(const kumo_metrics_family *f, const char *const *values)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < f->label_count; i++) {
        for (const char *p = values && values[i] ? values[i] : ""; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    return h;
}

static int same_values(const kumo_metrics_family *f, const kumo_metrics_series *s,
                       const char *const *values)
{
    for (size_t i = 0; i < f->label_count; i++) {
        const char *v = values && values[i] ? values[i] : "";
        if (strncmp(s->values[i], v, KUMO_METRICS_VALUE_SIZE - 1) != 0)
            return 0;
    }
    return 1;
}

kumo_metrics_series *kumo_metrics_series_get(kumo_metrics_family *f, const char *const *values)
{
    if (f == NULL)
        return NULL;
    uint64_t h = hash_values(f, values);
    for (size_t probe = 0; probe < f->capacity; probe++) {
        kumo_metrics_series *s = &f->slots[(h + probe) % f->capacity];
        int state = atomic_load_explicit(&s->state, memory_order_acquire);
        if (state == SLOT_FREE) {
            int expected = SLOT_FREE;
            if (atomic_compare_exchange_strong(&s->state, &expected, SLOT_CLAIMING)) {
                s->hash = h;
                for (size_t i = 0; i < f->label_count; i++)
                    snprintf(s->values[i], sizeof(s->values[i]), "%s",
                             values && values[i] ? values[i] : "");
                atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
                return s;
            }
            state = expected;
        }
        while (state == SLOT_CLAIMING) /* another thread is writing the labels: a moment */
            state = atomic_load_explicit(&s->state, memory_order_acquire);
        if (s->hash == h && same_values(f, s, values))
            return s;
    }
    return &f->slots[f->capacity];
}

static void add_double(_Atomic uint64_t *bits, double value)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed), next;
    do {
        double d;
        memcpy(&d, &old, sizeof(d));
        d += value;
        memcpy(&next, &d, sizeof(next));
    } while (!atomic_compare_exchange_weak_explicit(bits, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static double load_double(_Atomic uint64_t *bits)
{
    uint64_t v = atomic_load_explicit(bits, memory_order_relaxed);
    double d;
    memcpy(&d, &v, sizeof(d));
    return d;
}

void kumo_metrics_add(kumo_metrics_series *s, double value)
{
    if (s)
        add_double(&s->bits, value);
}

void kumo_metrics_set(kumo_metrics_series *s, double value)
{
    if (s == NULL)
        return;
    uint64_t v;
    memcpy(&v, &value, sizeof(v));
    atomic_store_explicit(&s->bits, v, memory_order_relaxed);
}

/* The family of a series: the slots are one array, so find it by address. */
static const kumo_metrics_family *family_of(const kumo_metrics_series *s)
{
    size_t n = atomic_load(&family_count);
    for (size_t i = 0; i < n; i++) {
        const kumo_metrics_family *f = families[i];
        if (s >= f->slots && s <= f->slots + f->capacity)
            return f;
    }
    return NULL;
}

static void observe_in(const kumo_metrics_family *f, kumo_metrics_series *s, double value)
{
    for (size_t i = 0; i < f->bucket_count; i++)
        if (value <= f->bounds[i]) {
            atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    add_double(&s->bits, value);
}

void kumo_metrics_observe(kumo_metrics_series *s, double value)
{
    const kumo_metrics_family *f = s ? family_of(s) : NULL;
    if (f)
        observe_in(f, s, value);
}

void kumo_metrics_count(kumo_metrics_family *f, const char *const *values, double value)
{
    kumo_metrics_add(kumo_metrics_series_get(f, values), value);
}

void kumo_metrics_record(kumo_metrics_family *f, const char *const *values, double value)
{
    if (f)
        observe_in(f, kumo_metrics_series_get(f, values), value);
}

double kumo_metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- text format -------------------------------------------------------------------- */

void kumo_metrics_text_init(kumo_metrics_text *t)
{
    memset(t, 0, sizeof(*t));
}

void kumo_metrics_text_fini(kumo_metrics_text *t)
{
    free(t->data);
    memset(t, 0, sizeof(*t));
}

void kumo_metrics_text_append(kumo_metrics_text *t, const char *data, size_t len)
{
    if (t->failed)
        return;
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + len + 1)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (grown == NULL) {
            t->failed = 1;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, data, len);
    t->len += len;
    t->data[t->len] = '\0';
}

static void append_str(kumo_metrics_text *t, const char *s)
{
    kumo_metrics_text_append(t, s, strlen(s));
}

/* Escapes backslash and newline (help), and the double quote too (label values). */
static void append_escaped(kumo_metrics_text *t, const char *s, int quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *with = *s == '\\'           ? "\\\\"
                           : *s == '\n'         ? "\\n"
                           : quote && *s == '"' ? "\\\""
                                                : NULL;
        if (with == NULL)
            continue;
        kumo_metrics_text_append(t, run, (size_t)(s - run));
        append_str(t, with);
        run = s + 1;
    }
    kumo_metrics_text_append(t, run, (size_t)(s - run));
}

static const char *type_name(kumo_metrics_type type)
{
    switch (type) {
    case KUMO_METRICS_COUNTER:
        return "counter";
    case KUMO_METRICS_GAUGE:
        return "gauge";
    case KUMO_METRICS_HISTOGRAM:
        return "histogram";
    case KUMO_METRICS_SUMMARY:
        return "summary";
    }
    return "untyped";
}

void kumo_metrics_text_family(kumo_metrics_text *t, const char *name, const char *help,
                              kumo_metrics_type type)
{
    append_str(t, "# HELP ");
    append_str(t, name);
    append_str(t, " ");
    append_escaped(t, help, 0);
    append_str(t, "\n# TYPE ");
    append_str(t, name);
    append_str(t, " ");
    append_str(t, type_name(type));
    append_str(t, "\n");
}

static void append_value(kumo_metrics_text *t, double value)
{
    char buf[40];
    if (isnan(value))
        snprintf(buf, sizeof(buf), "NaN");
    else if (isinf(value))
        snprintf(buf, sizeof(buf), value > 0 ? "+Inf" : "-Inf");
    else if (value == (double)(int64_t)value && fabs(value) < 1e15)
        snprintf(buf, sizeof(buf), "%lld", (long long)value);
    else
        snprintf(buf, sizeof(buf), "%.17g", value);
    append_str(t, buf);
}

void kumo_metrics_text_sample(kumo_metrics_text *t, const char *name, const char *const *names,
                              const char *const *values, size_t count, double value)
{
    append_str(t, name);
    int first = 1;
    for (size_t i = 0; i < count; i++) {
        if (values[i] == NULL || values[i][0] == '\0')
            continue;
        append_str(t, first ? "{" : ",");
        first = 0;
        append_str(t, names[i]);
        append_str(t, "=\"");
        append_escaped(t, values[i], 1);
        append_str(t, "\"");
    }
    append_str(t, first ? " " : "} ");
    append_value(t, value);
    append_str(t, "\n");
}

static void write_histogram(kumo_metrics_text *t, const kumo_metrics_family *f,
                            kumo_metrics_series *s, const char **names, const char **values)
{
    char name[160], le[40];
    size_t n = f->label_count;
    names[n] = "le";
    values[n] = le;
    snprintf(name, sizeof(name), "%s_bucket", f->name);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < f->bucket_count; b++) {
        cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
        snprintf(le, sizeof(le), "%g", f->bounds[b]);
        kumo_metrics_text_sample(t, name, names, values, n + 1, (double)cumulative);
    }
    uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
    snprintf(le, sizeof(le), "+Inf");
    kumo_metrics_text_sample(t, name, names, values, n + 1,
                             (double)(count > cumulative ? count : cumulative));
    snprintf(name, sizeof(name), "%s_sum", f->name);
    kumo_metrics_text_sample(t, name, names, values, n, load_double(&s->bits));
    snprintf(name, sizeof(name), "%s_count", f->name);
    kumo_metrics_text_sample(t, name, names, values, n,
                             (double)(count > cumulative ? count : cumulative));
}

static void write_family(kumo_metrics_text *t, const kumo_metrics_family *f)
{
    const char *names[KUMO_METRICS_MAX_LABELS + 1], *values[KUMO_METRICS_MAX_LABELS + 1];
    for (size_t i = 0; i < f->label_count; i++)
        names[i] = f->labels[i];
    int header = 0;
    for (size_t k = 0; k <= f->capacity; k++) {
        kumo_metrics_series *s = &f->slots[k];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_READY)
            continue;
        if (k == f->capacity && atomic_load(&s->count) == 0 && atomic_load(&s->bits) == 0)
            continue; /* the overflow series, never used */
        if (!header)
            kumo_metrics_text_family(t, f->name, f->help, f->type);
        header = 1;
        for (size_t i = 0; i < f->label_count; i++)
            values[i] = s->values[i];
        if (f->type == KUMO_METRICS_HISTOGRAM)
            write_histogram(t, f, s, names, values);
        else
            kumo_metrics_text_sample(t, f->name, names, values, f->label_count,
                                     load_double(&s->bits));
    }
}

void kumo_metrics_write(kumo_metrics_text *t)
{
    size_t n = atomic_load(&family_count);
    for (size_t i = 0; i < n; i++)
        write_family(t, families[i]);
}
