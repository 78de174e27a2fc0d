/*
 * placement.c - filter offers by requirements, keep each connection's best
 * instance type, score connections by cost and latency, sort.
 */
#define _GNU_SOURCE /* strcasestr */
#include "controllers/infra/placement.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- latency ------------------------------------------------------------ */

typedef struct latency_key {
    char *key;
    size_t index; /* row and column of the key in rtt */
} latency_key;

struct kumo_placement_latency {
    latency_key *keys; /* sorted by key for lookup */
    size_t count;
    float *rtt; /* count x count, -1 unknown */
};

double kumo_placement_estimate_rtt_ms(double lat1, double lon1, double lat2, double lon2)
{
    const double radius_km = 6371.0, rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    double km = 2 * radius_km * atan2(sqrt(a), sqrt(1 - a));
    /* Light in fibre covers ~200 km/ms; real routes are ~1.5x the great circle. */
    return 2.0 * km * 1.5 / 200.0 + 1.0;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(((const latency_key *)a)->key, ((const latency_key *)b)->key);
}

static int key_index(const kumo_placement_latency *t, const char *key)
{
    latency_key probe = {(char *)key, 0};
    const latency_key *found = bsearch(&probe, t->keys, t->count, sizeof(*t->keys), compare_keys);
    return found ? (int)found->index : -1;
}

double kumo_placement_latency_between(const kumo_placement_latency *t, const char *from,
                                      const char *to)
{
    if (t == NULL || from == NULL || to == NULL)
        return -1;
    int i = key_index(t, from), j = key_index(t, to);
    if (i < 0 || j < 0)
        return -1;
    return t->rtt[(size_t)i * t->count + (size_t)j];
}

void kumo_placement_latency_destroy(kumo_placement_latency *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; t->keys && i < t->count; i++)
        free(t->keys[i].key);
    free(t->keys);
    free(t->rtt);
    free(t);
}

/* Splits a CSV line in place; returns the number of fields, empty trailing ones dropped. */
static size_t split_csv(char *line, char **fields, size_t max)
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max; p++) {
        fields[n++] = p;
        p = strchr(p, ',');
        if (p == NULL)
            break;
        *p = '\0';
    }
    while (n > 0 && fields[n - 1][0] == '\0')
        n--;
    return n;
}

kumo_error kumo_placement_latency_load(const char *path, kumo_placement_latency **out,
                                       kumo_diag *diag)
{
    enum { MAX_KEYS = 4096 };
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", errno, "cannot read %s: %s",
                                     path, strerror(errno));
    kumo_placement_latency *t = calloc(1, sizeof(*t));
    char *line = NULL, **fields = calloc(MAX_KEYS + 1, sizeof(*fields));
    size_t cap = 0;
    kumo_error err = KUMO_ERROR_OK;
    int lineno = 1;
    if (t == NULL || fields == NULL || getline(&line, &cap, f) < 0) {
        err = kumo_diag_set(diag, KUMO_ERROR_PARSE, "%s: empty or unreadable", path);
        goto done;
    }
    size_t n = split_csv(line, fields, MAX_KEYS + 1);
    t->count = n > 0 ? n - 1 : 0;
    t->keys = calloc(t->count + 1, sizeof(*t->keys));
    t->rtt = malloc((t->count * t->count + 1) * sizeof(*t->rtt));
    if (t->count == 0 || t->keys == NULL || t->rtt == NULL) {
        err = kumo_diag_set(diag, KUMO_ERROR_PARSE, "%s:1: no region keys in the header", path);
        goto done;
    }
    for (size_t i = 0; i < t->count * t->count; i++)
        t->rtt[i] = -1;
    for (size_t i = 0; i < t->count; i++) {
        t->keys[i].key = strdup(fields[i + 1]);
        t->keys[i].index = i;
        if (t->keys[i].key == NULL) {
            err = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
            goto done;
        }
    }
    for (size_t row = 0; row < t->count && getline(&line, &cap, f) > 0; row++) {
        lineno++;
        size_t got = split_csv(line, fields, MAX_KEYS + 1);
        if (got == 0 || strcmp(fields[0], t->keys[row].key) != 0) {
            err = kumo_diag_set(diag, KUMO_ERROR_PARSE, "%s:%d: expected the row of \"%s\"", path,
                                lineno, t->keys[row].key);
            goto done;
        }
        for (size_t col = 0; col + 1 < got && col < t->count; col++) {
            char *end;
            double v = strtod(fields[col + 1], &end);
            if (end != fields[col + 1] && v >= 0)
                t->rtt[row * t->count + col] = (float)v;
        }
    }
    qsort(t->keys, t->count, sizeof(*t->keys), compare_keys);
done:
    free(line);
    free(fields);
    fclose(f);
    if (err != KUMO_ERROR_OK) {
        kumo_placement_latency_destroy(t);
        return err;
    }
    *out = t;
    return KUMO_ERROR_OK;
}

/* ---- ranking ------------------------------------------------------------ */

static int listed(const char *value, char *const *list, size_t count)
{
    if (count == 0)
        return 1;
    for (size_t i = 0; i < count; i++)
        if (value && strcasecmp(value, list[i]) == 0)
            return 1;
    return 0;
}

static int excluded(const char *connection, const char *const *excluded_list)
{
    for (const char *const *e = excluded_list; e && *e; e++)
        if (strcmp(*e, connection) == 0)
            return 1;
    return 0;
}

static int meets(const Kumo__V1alpha1__PlacementRequirements *r, const kumo_placement_offer *o)
{
    if (o->vcpu < r->vcpu_min || (r->vcpu_max > 0 && o->vcpu > r->vcpu_max))
        return 0;
    if (o->memory_mib < r->memory_mib_min ||
        (r->memory_mib_max > 0 && o->memory_mib > r->memory_mib_max))
        return 0;
    if (o->gpu_count < r->gpu_count)
        return 0;
    if (r->gpu_model && r->gpu_model[0] &&
        (o->gpu_model == NULL || strcasestr(o->gpu_model, r->gpu_model) == NULL))
        return 0;
    if (r->max_price_per_hour > 0 && o->price_per_hour > r->max_price_per_hour)
        return 0;
    return listed(o->provider, r->providers, r->n_providers) &&
           listed(o->region, r->regions, r->n_regions);
}

/* Where an RTT came from, best first. */
enum { SOURCE_MEASURED, SOURCE_TABLE, SOURCE_ESTIMATED, SOURCE_UNKNOWN };
static const char *const source_names[] = {"measured", "table", "estimated", "unknown"};

/* RTT from the offer to one user, and where it came from. */
static double rtt_to(const kumo_placement_input *in, const kumo_placement_offer *o, const char *key,
                     const kumo_placement_user *u, int *source)
{
    double rtt = -1, age;
    if (in->measured && u->connection && o->connection &&
        strcmp(u->connection, o->connection) != 0 &&
        in->measured(in->measured_context, in->ns ? in->ns : "default", o->connection,
                     u->connection, &rtt, &age) == 0 &&
        rtt >= 0) {
        *source = SOURCE_MEASURED;
        return rtt;
    }
    rtt = kumo_placement_latency_between(in->latency, key, u->region_key);
    *source = SOURCE_TABLE;
    if (rtt < 0 && u->has_location && o->has_location) {
        rtt = kumo_placement_estimate_rtt_ms(o->latitude, o->longitude, u->latitude, u->longitude);
        *source = SOURCE_ESTIMATED;
    }
    if (rtt < 0) {
        rtt = 300; /* unknown: assume far away rather than near */
        *source = SOURCE_UNKNOWN;
    }
    return rtt;
}

/* Weighted mean RTT from the offer's region to the users (0 without users); *source is the
 * least good source any user's RTT came from. */
static double user_latency(const kumo_placement_input *in, const kumo_placement_offer *o,
                           int *source)
{
    double total = 0, weights = 0;
    char key[160];
    snprintf(key, sizeof(key), "%s-%s", o->provider ? o->provider : "", o->region ? o->region : "");
    *source = SOURCE_MEASURED;
    for (size_t i = 0; i < in->user_count; i++) {
        const kumo_placement_user *u = &in->users[i];
        int from;
        double rtt = rtt_to(in, o, key, u, &from);
        if (from > *source)
            *source = from;
        double w = u->weight > 0 ? u->weight : 1;
        total += rtt * w;
        weights += w;
    }
    return weights > 0 ? total / weights : 0;
}

/* Is a better than b for the same connection? Cheaper, then more headroom is not needed. */
static int better_type(const kumo_placement_offer *a, const kumo_placement_offer *b)
{
    if (a->price_per_hour != b->price_per_hour)
        return a->price_per_hour < b->price_per_hour;
    if (a->vcpu != b->vcpu)
        return a->vcpu < b->vcpu;
    return strcmp(a->instance_type, b->instance_type) < 0;
}

static int compare_candidates(const void *pa, const void *pb)
{
    const kumo_placement_candidate *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    return strcmp(a->offer->connection, b->offer->connection);
}

/* Observe: one candidate per connection, its best qualifying instance type. Returns how many. */
static size_t candidates_pick(const kumo_placement_input *in, kumo_placement_candidate *c)
{
    size_t count = 0;
    for (size_t i = 0; i < in->offer_count; i++) {
        const kumo_placement_offer *o = &in->offers[i];
        if (excluded(o->connection, in->excluded) || !meets(in->requirements, o))
            continue;
        size_t j = 0;
        while (j < count && strcmp(c[j].offer->connection, o->connection) != 0)
            j++;
        if (j == count)
            c[count++].offer = o;
        else if (better_type(o, c[j].offer))
            c[j].offer = o;
    }
    return count;
}

/* Why no connection qualifies, in the requirements' own terms. */
static void nothing_qualifies(const kumo_placement_input *in, kumo_diag *diag)
{
    const Kumo__V1alpha1__PlacementRequirements *r = in->requirements;
    char vcpu[48];
    if (r->vcpu_max > 0)
        snprintf(vcpu, sizeof(vcpu), "%d-%d vCPU", r->vcpu_min, r->vcpu_max);
    else
        snprintf(vcpu, sizeof(vcpu), "at least %d vCPU", r->vcpu_min);
    kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND,
                  "no instance type with %s, >= %d MiB memory, >= %d GPU%s%s under "
                  "%s among %zu offers%s",
                  vcpu, r->memory_mib_min, r->gpu_count, r->gpu_model && r->gpu_model[0] ? " " : "",
                  r->gpu_model ? r->gpu_model : "",
                  r->max_price_per_hour > 0 ? "the price limit" : "any price", in->offer_count,
                  in->excluded && in->excluded[0] ? " (after excluding failed connections)" : "");
}

/* Plan: latency to the users and a score by the preference (lower is better). */
static void candidates_score(const kumo_placement_input *in, kumo_placement_candidate *c,
                             size_t count)
{
    double best_price = INFINITY, best_latency = INFINITY;
    for (size_t i = 0; i < count; i++) {
        int source;
        c[i].latency_ms = user_latency(in, c[i].offer, &source);
        c[i].latency_source = source_names[source];
        best_price = fmin(best_price, c[i].offer->price_per_hour);
        best_latency = fmin(best_latency, c[i].latency_ms);
    }
    for (size_t i = 0; i < count; i++) {
        double price_ratio = c[i].offer->price_per_hour / fmax(best_price, 1e-9);
        double latency_ratio = (c[i].latency_ms + 1) / (best_latency + 1);
        switch (in->requirements->preference) {
        case KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Latency:
            c[i].score = latency_ratio + price_ratio * 1e-3;
            break;
        case KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Balanced:
            c[i].score = 0.5 * price_ratio + 0.5 * latency_ratio;
            break;
        default: /* Cost, and unspecified */
            c[i].score = price_ratio + latency_ratio * 1e-3;
            break;
        }
    }
}

/* Report: each candidate's reason, "rank i of n by <preference>: ...". */
static void candidates_explain(const kumo_placement_input *in, kumo_placement_candidate *c,
                               size_t count)
{
    int preference = in->requirements->preference;
    const char *pref = preference == KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Latency
                           ? "latency"
                       : preference == KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Balanced
                           ? "cost and latency"
                           : "cost";
    for (size_t i = 0; i < count; i++) {
        const kumo_placement_offer *o = c[i].offer;
        char latency[64] = "";
        if (in->user_count > 0)
            snprintf(latency, sizeof(latency), ", %.*f ms to users (%s)",
                     c[i].latency_ms < 10 ? 1 : 0, c[i].latency_ms, c[i].latency_source);
        snprintf(c[i].reason, sizeof(c[i].reason),
                 "rank %zu of %zu by %s: %s %s-%s %s (%d vCPU, %d MiB) at %.4f/h%s", i + 1, count,
                 pref, o->connection, o->provider ? o->provider : "", o->region ? o->region : "",
                 o->instance_type, o->vcpu, o->memory_mib, o->price_per_hour, latency);
    }
}

size_t kumo_placement_rank(const kumo_placement_input *in, kumo_placement_candidate *out,
                           size_t max, kumo_diag *diag)
{
    kumo_placement_candidate *c = calloc(in->offer_count + 1, sizeof(*c));
    if (c == NULL) {
        kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        return 0;
    }
    size_t count = candidates_pick(in, c);
    if (count == 0) {
        nothing_qualifies(in, diag);
        free(c);
        return 0;
    }
    candidates_score(in, c, count);
    qsort(c, count, sizeof(*c), compare_candidates);
    candidates_explain(in, c, count);
    size_t n = count < max ? count : max;
    memcpy(out, c, n * sizeof(*c));
    free(c);
    return count;
}
