/*
 * fleet.c - every agent's latest report: taken from the agent bus
 * (protobuf, checked against the subject's uid: an agent may only speak for
 * itself), dropped once stale, written as Prometheus series with node_exporter's
 * names and each machine's labels, and summed for `kumoctl top`.
 *
 * Cardinality: per machine a fixed set of series, plus at most 8 filesystems
 * and 16 interfaces (the agent caps them) and its App instances (at most 64
 * replicas per component). A machine that stops reporting keeps only
 * kumo_machine_up 0 until its Machine is deleted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/log/log.h"
#include "bus/monitor/internal.h"

typedef Kumo__V1alpha1__AgentMetricsReport report_t;

/* The machine's labels, then (7..10) the labels of some series' own. */
static const char *const machine_label_names[] = {
    "namespace", "machine", "connection", "provider",   "region", "infra",
    "group",     "mode",    "device",     "mountpoint", "fstype",
};
static const char *const instance_label_names[] = {"namespace", "machine", "connection", "provider",
                                                   "region",    "infra",   "group",      "app",
                                                   "component", "replica"};

/* Series a report turns into (for the ingest counters). */
static size_t sample_count(const report_t *r)
{
    return 1 + 8 + 9 + 2 * r->n_filesystems + 6 * r->n_interfaces + 6 * r->n_instances;
}

/* "<prefix>.<uid>.metrics" -> uid (into buf); -1 when the subject has another shape. */
static int subject_uid(const char *subject, char *buf, size_t size)
{
    const char *end = strrchr(subject, '.');
    if (end == NULL || strcmp(end, ".metrics") != 0)
        return -1;
    const char *start = end - 1;
    while (start > subject && *start != '.')
        start--;
    if (*start == '.')
        start++;
    size_t len = (size_t)(end - start);
    if (len == 0 || len >= size)
        return -1;
    memcpy(buf, start, len);
    buf[len] = '\0';
    return 0;
}

static void entry_free(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    monitor_entry *e = value;
    if (e == NULL)
        return;
    if (e->report)
        protobuf_c_message_free_unpacked(&e->report->base, NULL);
    if (e->previous)
        protobuf_c_message_free_unpacked(&e->previous->base, NULL);
    free(e);
}

void monitor_on_metrics(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    kumo_monitor *m = closure;
    if (!monitor_callback_enter(m)) {
        natsMsg_Destroy(msg);
        return;
    }
    char uid[128];
    report_t *r = NULL;
    if (subject_uid(natsMsg_GetSubject(msg), uid, sizeof(uid)) == 0)
        r = (report_t *)protobuf_c_message_unpack(&kumo__v1alpha1__agent_metrics_report__descriptor,
                                                  NULL, (size_t)natsMsg_GetDataLength(msg),
                                                  (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    if (r == NULL || strcmp(r->machine_uid, uid) != 0) {
        kumo_metrics_add(m->rejected, 1);
        if (r)
            protobuf_c_message_free_unpacked(&r->base, NULL);
        monitor_callback_leave(m);
        return;
    }
    double now = kumo_metrics_now();
    kumo_metrics_add(m->reports, 1);
    kumo_metrics_add(m->samples, (double)sample_count(r));
    pthread_mutex_lock(&m->lock);
    monitor_entry *e = kumo_map_get(m->entries, uid);
    if (e == NULL && (e = calloc(1, sizeof(*e))) != NULL &&
        kumo_map_put(m->entries, uid, e, NULL) != 0) {
        free(e);
        e = NULL;
    }
    if (e) {
        if (r->n_rtts)
            monitor_latency_add(m, uid, r, now);
        if (e->previous)
            protobuf_c_message_free_unpacked(&e->previous->base, NULL);
        e->previous = e->report;
        e->previous_seen = e->seen;
        e->report = r;
        e->seen = now;
        r = NULL;
    }
    pthread_mutex_unlock(&m->lock);
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    monitor_callback_leave(m);
}

typedef struct sweep_state {
    kumo_monitor *m;
    double now;
    const char *drop[64];
    size_t drop_count;
} sweep_state;

static void sweep_one(void *context, const char *uid, void *value)
{
    sweep_state *s = context;
    monitor_entry *e = value;
    if (e->report == NULL) {
        /* silent already: forgotten with its Machine */
        if (kumo_map_get(s->m->machines, uid) == NULL && s->drop_count < 64)
            s->drop[s->drop_count++] = uid;
        return;
    }
    double interval = e->report->interval_ms > 0 ? e->report->interval_ms / 1000.0 : 10;
    if (s->now - e->seen <= 1.5 * interval)
        return;
    protobuf_c_message_free_unpacked(&e->report->base, NULL);
    if (e->previous)
        protobuf_c_message_free_unpacked(&e->previous->base, NULL);
    e->report = e->previous = NULL;
    if (kumo_map_get(s->m->machines, uid) == NULL && s->drop_count < 64)
        s->drop[s->drop_count++] = uid;
}

void monitor_fleet_sweep(kumo_monitor *m, double now)
{
    sweep_state s = {.m = m, .now = now};
    do {
        s.drop_count = 0;
        kumo_map_each(m->entries, sweep_one, &s);
        char keys[64][128];
        for (size_t i = 0; i < s.drop_count; i++)
            snprintf(keys[i], sizeof(keys[i]), "%s", s.drop[i]);
        for (size_t i = 0; i < s.drop_count; i++)
            entry_free(NULL, NULL, kumo_map_remove(m->entries, keys[i]));
    } while (s.drop_count == 64);
}

void monitor_fleet_free(kumo_monitor *m)
{
    kumo_map_each(m->entries, entry_free, NULL);
}

/* ---- series ------------------------------------------------------------------------- */

typedef struct row {
    const char *uid;
    const monitor_entry *entry;
    const char *labels[MONITOR_LABELS + 4];
} row;

typedef struct rows {
    kumo_monitor *m;
    row *items;
    size_t count;
} rows;

static void collect(void *context, const char *uid, void *value)
{
    rows *rs = context;
    row *r = &rs->items[rs->count++];
    r->uid = uid;
    r->entry = value;
    monitor_labels_of(rs->m, uid, r->labels);
}

/* The machine-wide figures, one series each. */
static const struct {
    const char *name, *help;
    kumo_metrics_type type;
} scalars[] = {
    {"node_load1", "1m load average.", KUMO_METRICS_GAUGE},
    {"node_load5", "5m load average.", KUMO_METRICS_GAUGE},
    {"node_load15", "15m load average.", KUMO_METRICS_GAUGE},
    {"node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes.", KUMO_METRICS_GAUGE},
    {"node_memory_MemAvailable_bytes", "Memory information field MemAvailable_bytes.",
     KUMO_METRICS_GAUGE},
    {"kumo_machine_cpus", "CPUs the machine sees.", KUMO_METRICS_GAUGE},
    {"kumo_machine_cpu_seconds_total",
     "CPU seconds used by the machine's own cgroup (else by its agent and instances).",
     KUMO_METRICS_COUNTER},
    {"kumo_machine_memory_bytes",
     "Memory used by the machine's own cgroup (else the RSS of its agent and instances).",
     KUMO_METRICS_GAUGE},
    {"kumo_machine_memory_limit_bytes", "The machine's memory limit (cgroup, else MemTotal).",
     KUMO_METRICS_GAUGE},
};

/* The value of scalars[which] in a report. */
static double scalar_value(const report_t *r, size_t which)
{
    switch (which) {
    case 0:
        return r->load1;
    case 1:
        return r->load5;
    case 2:
        return r->load15;
    case 3:
        return (double)r->memory_total_bytes;
    case 4:
        return (double)r->memory_available_bytes;
    case 5:
        return r->cpu_count;
    case 6:
        return r->machine_cpu_seconds;
    case 7:
        return (double)r->machine_memory_bytes;
    default:
        return (double)r->machine_memory_limit_bytes;
    }
}

static void write_cpu(kumo_metrics_text *t, const rows *rs)
{
    static const char *const modes[] = {"user",   "nice", "system",  "idle",
                                        "iowait", "irq",  "softirq", "steal"};
    kumo_metrics_text_family(t, "node_cpu_seconds_total",
                             "Seconds the CPUs spent in each mode, summed over the CPUs.",
                             KUMO_METRICS_COUNTER);
    for (size_t i = 0; i < rs->count; i++) {
        const report_t *r = rs->items[i].entry->report;
        if (r == NULL || r->cpu == NULL)
            continue;
        const double v[] = {r->cpu->user,   r->cpu->nice, r->cpu->system,  r->cpu->idle,
                            r->cpu->iowait, r->cpu->irq,  r->cpu->softirq, r->cpu->steal};
        const char **l = rs->items[i].labels;
        for (int k = 0; k < 8; k++) {
            l[MONITOR_LABELS] = modes[k];
            kumo_metrics_text_sample(t, "node_cpu_seconds_total", machine_label_names, l,
                                     MONITOR_LABELS + 1, v[k]);
        }
    }
}

static void write_filesystems(kumo_metrics_text *t, const rows *rs)
{
    static const char *const names[] = {"node_filesystem_size_bytes",
                                        "node_filesystem_avail_bytes"};
    static const char *const helps[] = {"Filesystem size in bytes.",
                                        "Filesystem space available to non-root users in bytes."};
    for (int f = 0; f < 2; f++) {
        kumo_metrics_text_family(t, names[f], helps[f], KUMO_METRICS_GAUGE);
        for (size_t i = 0; i < rs->count; i++) {
            const report_t *r = rs->items[i].entry->report;
            const char **l = rs->items[i].labels;
            for (size_t k = 0; r && k < r->n_filesystems; k++) {
                const Kumo__V1alpha1__AgentFilesystem *fs = r->filesystems[k];
                l[MONITOR_LABELS] = NULL;
                l[MONITOR_LABELS + 1] = fs->device;
                l[MONITOR_LABELS + 2] = fs->mountpoint;
                l[MONITOR_LABELS + 3] = fs->fstype;
                kumo_metrics_text_sample(t, names[f], machine_label_names, l, MONITOR_LABELS + 4,
                                         (double)(f == 0 ? fs->size_bytes : fs->avail_bytes));
            }
        }
    }
}

static void write_interfaces(kumo_metrics_text *t, const rows *rs)
{
    static const char *const names[] = {
        "node_network_receive_bytes_total",    "node_network_receive_packets_total",
        "node_network_receive_errs_total",     "node_network_transmit_bytes_total",
        "node_network_transmit_packets_total", "node_network_transmit_errs_total"};
    for (int f = 0; f < 6; f++) {
        kumo_metrics_text_family(t, names[f], "Network device statistic.", KUMO_METRICS_COUNTER);
        for (size_t i = 0; i < rs->count; i++) {
            const report_t *r = rs->items[i].entry->report;
            const char **l = rs->items[i].labels;
            for (size_t k = 0; r && k < r->n_interfaces; k++) {
                const Kumo__V1alpha1__AgentInterface *n = r->interfaces[k];
                const int64_t v[] = {n->receive_bytes,  n->receive_packets,  n->receive_errs,
                                     n->transmit_bytes, n->transmit_packets, n->transmit_errs};
                l[MONITOR_LABELS] = NULL;
                l[MONITOR_LABELS + 1] = n->device;
                kumo_metrics_text_sample(t, names[f], machine_label_names, l, MONITOR_LABELS + 2,
                                         (double)v[f]);
            }
        }
    }
}

static double instance_value(const Kumo__V1alpha1__AgentInstanceMetrics *in, int f)
{
    switch (f) {
    case 0:
        return in->cpu_seconds;
    case 1:
        return (double)in->rss_bytes;
    case 2:
        return in->restarts;
    case 3:
        return in->up;
    case 4:
        return in->ready;
    default:
        return in->health_seconds;
    }
}

static void write_instances(kumo_metrics_text *t, const rows *rs)
{
    static const struct {
        const char *name, *help;
        kumo_metrics_type type;
    } fams[] = {
        {"kumo_app_instance_cpu_seconds_total", "CPU seconds of the instance's process.",
         KUMO_METRICS_COUNTER},
        {"kumo_app_instance_resident_memory_bytes", "Resident memory of the instance's process.",
         KUMO_METRICS_GAUGE},
        {"kumo_app_instance_restarts_total", "Restarts of the instance.", KUMO_METRICS_COUNTER},
        {"kumo_app_instance_up", "1 when the instance's process is alive.", KUMO_METRICS_GAUGE},
        {"kumo_app_instance_ready", "1 when the instance is ready (its health check passes).",
         KUMO_METRICS_GAUGE},
        {"kumo_app_instance_health_check_seconds", "Duration of the last health check.",
         KUMO_METRICS_GAUGE},
    };
    for (int f = 0; f < 6; f++) {
        kumo_metrics_text_family(t, fams[f].name, fams[f].help, fams[f].type);
        for (size_t i = 0; i < rs->count; i++) {
            const report_t *r = rs->items[i].entry->report;
            const char *l[10];
            memcpy(l, rs->items[i].labels, MONITOR_LABELS * sizeof(char *));
            for (size_t k = 0; r && k < r->n_instances; k++) {
                const Kumo__V1alpha1__AgentInstanceMetrics *in = r->instances[k];
                const char *slash = strchr(in->app, '/');
                char replica[16];
                snprintf(replica, sizeof(replica), "%d", in->replica);
                l[7] = slash ? slash + 1 : in->app;
                l[8] = in->component;
                l[9] = replica;
                kumo_metrics_text_sample(t, fams[f].name, instance_label_names, l, 10,
                                         instance_value(in, f));
            }
        }
    }
}

void monitor_fleet_write(kumo_monitor *m, kumo_metrics_text *t)
{
    rows rs = {m, calloc(kumo_map_count(m->entries) + 1, sizeof(row)), 0};
    if (rs.items == NULL) {
        t->failed = 1;
        return;
    }
    kumo_map_each(m->entries, collect, &rs);
    kumo_metrics_text_family(t, "kumo_machine_up",
                             "1 while the machine's agent reports, 0 once it is silent.",
                             KUMO_METRICS_GAUGE);
    for (size_t i = 0; i < rs.count; i++)
        kumo_metrics_text_sample(t, "kumo_machine_up", machine_label_names, rs.items[i].labels,
                                 MONITOR_LABELS, rs.items[i].entry->report ? 1 : 0);
    write_cpu(t, &rs);
    for (size_t f = 0; f < sizeof(scalars) / sizeof(scalars[0]); f++) {
        kumo_metrics_text_family(t, scalars[f].name, scalars[f].help, scalars[f].type);
        for (size_t i = 0; i < rs.count; i++)
            if (rs.items[i].entry->report)
                kumo_metrics_text_sample(t, scalars[f].name, machine_label_names,
                                         rs.items[i].labels, MONITOR_LABELS,
                                         scalar_value(rs.items[i].entry->report, f));
    }
    write_filesystems(t, &rs);
    write_interfaces(t, &rs);
    write_instances(t, &rs);
    free(rs.items);
}
