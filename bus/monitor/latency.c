/*
 * latency.c - the connection x connection round-trip matrix.
 *
 * Agents time pings to a few agents of every other connection through the
 * agent bus and report the samples; each (namespace, from, to) cell keeps
 * the last MONITOR_RTT_RING of them and shows their median and 90th
 * percentile and the age of the newest. A cell whose newest sample is older
 * than KUMO_MONITOR_LATENCY_FRESH_S is stale: shown, never used by placement.
 *
 * Peers: every peers interval each reporting agent is sent (AgentPeers) the
 * first MONITOR_PEERS_EACH reporting machines (by uid order of the map walk)
 * of every other connection of its namespace.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "bus/agent/agent.h"
#include "bus/monitor/internal.h"

static monitor_cell *cell_of(kumo_monitor *m, const char *ns, const char *from, const char *to)
{
    char key[400];
    snprintf(key, sizeof(key), "%s/%s/%s", ns, from, to);
    monitor_cell *c = kumo_map_get(m->cells, key);
    if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
        snprintf(c->ns, sizeof(c->ns), "%s", ns);
        snprintf(c->from, sizeof(c->from), "%s", from);
        snprintf(c->to, sizeof(c->to), "%s", to);
        if (kumo_map_put(m->cells, key, c, NULL) != 0) {
            free(c);
            c = NULL;
        }
    }
    return c;
}

void monitor_latency_add(kumo_monitor *m, const char *uid,
                         const Kumo__V1alpha1__AgentMetricsReport *r, double now)
{
    const monitor_machine *self = kumo_map_get(m->machines, uid);
    if (self == NULL || self->connection[0] == '\0')
        return;
    for (size_t i = 0; i < r->n_rtts; i++) {
        const monitor_machine *peer = kumo_map_get(m->machines, r->rtts[i]->peer_uid);
        double ms = r->rtts[i]->rtt_ms;
        if (peer == NULL || strcmp(peer->ns, self->ns) != 0 ||
            strcmp(peer->connection, self->connection) == 0 || !(ms >= 0 && ms < 60000))
            continue;
        monitor_cell *c = cell_of(m, self->ns, self->connection, peer->connection);
        if (c == NULL)
            return;
        c->ms[c->next] = ms;
        c->at[c->next] = now;
        c->next = (c->next + 1) % MONITOR_RTT_RING;
        if (c->count < MONITOR_RTT_RING)
            c->count++;
    }
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median, 90th percentile (nearest rank) and the newest sample's time of a cell. */
static void cell_stats(const monitor_cell *c, double *median, double *p90, double *newest)
{
    double sorted[MONITOR_RTT_RING];
    memcpy(sorted, c->ms, (size_t)c->count * sizeof(double));
    qsort(sorted, (size_t)c->count, sizeof(double), compare_double);
    *median =
        c->count % 2 ? sorted[c->count / 2] : (sorted[c->count / 2 - 1] + sorted[c->count / 2]) / 2;
    int rank = (int)ceil(0.9 * c->count);
    *p90 = sorted[rank > 0 ? rank - 1 : 0];
    *newest = 0;
    for (int i = 0; i < c->count; i++)
        *newest = fmax(*newest, c->at[i]);
}

typedef struct matrix_state {
    Kumo__V1alpha1__LatencyMatrix *out;
    kumo_metrics_text *text;
    int pass;
    double now;
} matrix_state;

static void add_cell(void *context, const char *key, void *value)
{
    (void)key;
    matrix_state *s = context;
    const monitor_cell *c = value;
    double median, p90, newest;
    if (c->count == 0)
        return;
    cell_stats(c, &median, &p90, &newest);
    double age = s->now - newest;
    if (s->text) {
        static const char *const names[] = {"namespace", "from", "to", "quantile"};
        const char *values[] = {c->ns, c->from, c->to, s->pass == 0 ? "0.5" : "0.9"};
        double sum = 0;
        for (int i = 0; i < c->count; i++)
            sum += c->ms[i] / 1000;
        if (s->pass < 2)
            kumo_metrics_text_sample(s->text, "kumo_connection_rtt_seconds", names, values, 4,
                                     (s->pass == 0 ? median : p90) / 1000);
        else if (s->pass == 2)
            kumo_metrics_text_sample(s->text, "kumo_connection_rtt_seconds_sum", names, values, 3,
                                     sum);
        else if (s->pass == 3)
            kumo_metrics_text_sample(s->text, "kumo_connection_rtt_seconds_count", names, values, 3,
                                     c->count);
        else
            kumo_metrics_text_sample(s->text, "kumo_connection_rtt_age_seconds", names, values, 3,
                                     age);
        return;
    }
    Kumo__V1alpha1__LatencyCell *cell = calloc(1, sizeof(*cell));
    if (cell == NULL)
        return;
    kumo__v1alpha1__latency_cell__init(cell);
    cell->namespace_ = strdup(c->ns);
    cell->from = strdup(c->from);
    cell->to = strdup(c->to);
    cell->median_ms = median;
    cell->p90_ms = p90;
    cell->samples = c->count;
    cell->age_seconds = age;
    cell->fresh = age <= KUMO_MONITOR_LATENCY_FRESH_S;
    s->out->items[s->out->n_items++] = cell;
}

void monitor_latency_write(kumo_monitor *m, kumo_metrics_text *text, double now)
{
    kumo_metrics_text_family(text, "kumo_connection_rtt_seconds",
                             "Round trip between agents of two connections (over the last 64 "
                             "samples).",
                             KUMO_METRICS_SUMMARY);
    matrix_state s = {.text = text, .now = now};
    for (s.pass = 0; s.pass < 4; s.pass++)
        kumo_map_each(m->cells, add_cell, &s);
    kumo_metrics_text_family(text, "kumo_connection_rtt_age_seconds",
                             "Age of the newest round-trip sample between two connections.",
                             KUMO_METRICS_GAUGE);
    kumo_map_each(m->cells, add_cell, &s);
}

Kumo__V1alpha1__LatencyMatrix *monitor_latency_matrix(kumo_monitor *m, double now)
{
    Kumo__V1alpha1__LatencyMatrix *out = calloc(1, sizeof(*out));
    if (out == NULL)
        return NULL;
    kumo__v1alpha1__latency_matrix__init(out);
    out->fresh_seconds = KUMO_MONITOR_LATENCY_FRESH_S;
    out->items = calloc(kumo_map_count(m->cells) + 1, sizeof(*out->items));
    if (out->items == NULL) {
        free(out);
        return NULL;
    }
    matrix_state s = {.out = out, .now = now};
    kumo_map_each(m->cells, add_cell, &s);
    return out;
}

static void cell_free(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    free(value);
}

void monitor_latency_free(kumo_monitor *m)
{
    kumo_map_each(m->cells, cell_free, NULL);
}

int kumo_monitor_latency(void *monitor, const char *ns, const char *from, const char *to,
                         double *median_ms, double *age_seconds)
{
    kumo_monitor *m = monitor;
    if (m == NULL || ns == NULL || from == NULL || to == NULL)
        return -1;
    char key[400];
    snprintf(key, sizeof(key), "%s/%s/%s", ns, from, to);
    int rc = -1;
    pthread_mutex_lock(&m->lock);
    const monitor_cell *c = kumo_map_get(m->cells, key);
    if (c && c->count > 0) {
        double median, p90, newest;
        cell_stats(c, &median, &p90, &newest);
        *median_ms = median;
        *age_seconds = kumo_metrics_now() - newest;
        rc = *age_seconds <= KUMO_MONITOR_LATENCY_FRESH_S ? 0 : -1;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ---- peers ---------------------------------------------------------------------------- */

typedef struct reporter {
    char uid[128], ns[64], connection[128];
} reporter;

typedef struct reporters {
    kumo_monitor *m;
    reporter *items;
    size_t count;
} reporters;

static void collect_reporter(void *context, const char *uid, void *value)
{
    reporters *rs = context;
    const monitor_entry *e = value;
    const monitor_machine *info = kumo_map_get(rs->m->machines, uid);
    if (e->report == NULL || info == NULL || info->connection[0] == '\0')
        return;
    reporter *r = &rs->items[rs->count++];
    snprintf(r->uid, sizeof(r->uid), "%s", uid);
    snprintf(r->ns, sizeof(r->ns), "%s", info->ns);
    snprintf(r->connection, sizeof(r->connection), "%s", info->connection);
}

/* The first MONITOR_PEERS_EACH reporters of one connection. */
typedef struct peer_group {
    const char *ns, *connection;
    char *uids[MONITOR_PEERS_EACH];
    size_t count;
} peer_group;

/* Groups the reporters by connection; returns how many groups (<= rs->count). */
static size_t peer_groups(const reporters *rs, peer_group *groups)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->count; i++) {
        const reporter *r = &rs->items[i];
        size_t g = 0;
        while (g < n && !(strcmp(groups[g].ns, r->ns) == 0 &&
                          strcmp(groups[g].connection, r->connection) == 0))
            g++;
        if (g == n)
            groups[n++] = (peer_group){.ns = r->ns, .connection = r->connection};
        if (groups[g].count < MONITOR_PEERS_EACH)
            groups[g].uids[groups[g].count++] = (char *)r->uid;
    }
    return n;
}

/* The peers of `me` (every other connection's group in its namespace) as AgentPeers JSON. */
static int peers_json(const reporter *me, const peer_group *groups, size_t group_count,
                      int interval_ms, kumo_codec_buffer *out)
{
    char *uids[64];
    size_t n = 0;
    for (size_t g = 0; g < group_count; g++) {
        if (strcmp(groups[g].ns, me->ns) != 0 || strcmp(groups[g].connection, me->connection) == 0)
            continue;
        for (size_t k = 0; k < groups[g].count && n < 64; k++)
            uids[n++] = groups[g].uids[k];
    }
    Kumo__V1alpha1__AgentPeers p = KUMO__V1ALPHA1__AGENT_PEERS__INIT;
    p.peer_uids = uids;
    p.n_peer_uids = n;
    p.interval_ms = interval_ms;
    kumo_codec_buffer_reset(out);
    return n > 0 && kumo_codec_json_encode(&p.base, NULL, out, NULL) == KUMO_ERROR_OK ? 0 : -1;
}

void monitor_peers_send(kumo_monitor *m)
{
    pthread_mutex_lock(&m->lock);
    reporters rs = {m, calloc(kumo_map_count(m->entries) + 1, sizeof(reporter)), 0};
    if (rs.items)
        kumo_map_each(m->entries, collect_reporter, &rs);
    pthread_mutex_unlock(&m->lock);
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    peer_group *groups = rs.items ? calloc(rs.count + 1, sizeof(*groups)) : NULL;
    size_t group_count = groups ? peer_groups(&rs, groups) : 0;
    for (size_t i = 0; group_count > 1 && i < rs.count; i++) {
        char subject[256];
        if (peers_json(&rs.items[i], groups, group_count, m->peers_interval_ms, &out) != 0 ||
            kumo_agent_subject(subject, sizeof(subject), m->agent_prefix, rs.items[i].uid,
                               "peers") != 0)
            continue;
        natsConnection_Publish(m->agent_nc, subject, out.data, (int)out.len);
    }
    kumo_codec_buffer_fini(&out);
    free(groups);
    free(rs.items);
}
