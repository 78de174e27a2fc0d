/*
 * top.c - the figures of `kumoctl top machines` and `kumoctl top apps`:
 * rates over each agent's last two reports (CPU seconds and network bytes
 * per second of the agent's own clock), memory as last reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/monitor/internal.h"

typedef Kumo__V1alpha1__AgentMetricsReport report_t;

static double seconds_between(const report_t *now, const report_t *before)
{
    return before && now->time_ms > before->time_ms ? (now->time_ms - before->time_ms) / 1000.0 : 0;
}

static void net_totals(const report_t *r, double *rx, double *tx)
{
    *rx = *tx = 0;
    for (size_t i = 0; r && i < r->n_interfaces; i++) {
        *rx += (double)r->interfaces[i]->receive_bytes;
        *tx += (double)r->interfaces[i]->transmit_bytes;
    }
}

typedef struct machines_state {
    kumo_monitor *m;
    Kumo__V1alpha1__TopMachines *out;
    double now;
} machines_state;

static void add_machine(void *context, const char *uid, void *value)
{
    machines_state *s = context;
    const monitor_entry *e = value;
    if (e->report == NULL)
        return;
    Kumo__V1alpha1__TopMachine *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return;
    kumo__v1alpha1__top_machine__init(t);
    const char *l[MONITOR_LABELS];
    monitor_labels_of(s->m, uid, l);
    t->namespace_ = strdup(l[0]);
    t->name = strdup(l[1]);
    t->connection = strdup(l[2]);
    t->infra = strdup(l[5]);
    t->group = strdup(l[6]);
    t->machine_uid = strdup(uid);
    const report_t *r = e->report, *p = e->previous;
    double dt = seconds_between(r, p);
    if (dt > 0) {
        double rx, tx, prx, ptx;
        net_totals(r, &rx, &tx);
        net_totals(p, &prx, &ptx);
        t->cpu_percent = (r->machine_cpu_seconds - p->machine_cpu_seconds) / dt * 100;
        t->receive_bytes_per_second = rx >= prx ? (rx - prx) / dt : 0;
        t->transmit_bytes_per_second = tx >= ptx ? (tx - ptx) / dt : 0;
        if (t->cpu_percent < 0)
            t->cpu_percent = 0;
    }
    t->memory_bytes = r->machine_memory_bytes;
    t->memory_limit_bytes = r->machine_memory_limit_bytes;
    t->age_seconds = s->now - e->seen;
    s->out->items[s->out->n_items++] = t;
}

Kumo__V1alpha1__TopMachines *monitor_top_machines(kumo_monitor *m)
{
    Kumo__V1alpha1__TopMachines *out = calloc(1, sizeof(*out));
    if (out == NULL)
        return NULL;
    kumo__v1alpha1__top_machines__init(out);
    out->items = calloc(kumo_map_count(m->entries) + 1, sizeof(*out->items));
    if (out->items == NULL) {
        free(out);
        return NULL;
    }
    machines_state s = {m, out, kumo_metrics_now()};
    kumo_map_each(m->entries, add_machine, &s);
    return out;
}

/* ---- apps ----------------------------------------------------------------------------- */

typedef struct apps_state {
    kumo_monitor *m;
    kumo_map *by_name; /* "<ns>/<app>" -> TopApp (owned by out) */
    Kumo__V1alpha1__TopApps *out;
    size_t cap;
} apps_state;

static const Kumo__V1alpha1__AgentInstanceMetrics *
previous_of(const report_t *p, const Kumo__V1alpha1__AgentInstanceMetrics *in)
{
    for (size_t i = 0; p && i < p->n_instances; i++)
        if (p->instances[i]->replica == in->replica && strcmp(p->instances[i]->app, in->app) == 0 &&
            strcmp(p->instances[i]->component, in->component) == 0)
            return p->instances[i];
    return NULL;
}

static Kumo__V1alpha1__TopApp *app_of(apps_state *s, const char *name)
{
    Kumo__V1alpha1__TopApp *a = kumo_map_get(s->by_name, name);
    if (a != NULL)
        return a;
    if (s->out->n_items == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        Kumo__V1alpha1__TopApp **grown = realloc(s->out->items, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        s->out->items = grown;
        s->cap = cap;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL)
        return NULL;
    kumo__v1alpha1__top_app__init(a);
    const char *slash = strchr(name, '/');
    a->namespace_ = slash ? strndup(name, (size_t)(slash - name)) : strdup("");
    a->name = strdup(slash ? slash + 1 : name);
    s->out->items[s->out->n_items++] = a;
    kumo_map_put(s->by_name, name, a, NULL);
    return a;
}

static void add_instances(void *context, const char *uid, void *value)
{
    (void)uid;
    apps_state *s = context;
    const monitor_entry *e = value;
    const report_t *r = e->report;
    double dt = r ? seconds_between(r, e->previous) : 0;
    for (size_t i = 0; r && i < r->n_instances; i++) {
        const Kumo__V1alpha1__AgentInstanceMetrics *in = r->instances[i];
        Kumo__V1alpha1__TopApp *a = app_of(s, in->app);
        if (a == NULL)
            return;
        const Kumo__V1alpha1__AgentInstanceMetrics *before = previous_of(e->previous, in);
        a->instances++;
        a->ready += in->ready;
        a->restarts += in->restarts;
        a->memory_bytes += in->rss_bytes;
        if (dt > 0 && before && in->cpu_seconds >= before->cpu_seconds)
            a->cpu_percent += (in->cpu_seconds - before->cpu_seconds) / dt * 100;
    }
}

Kumo__V1alpha1__TopApps *monitor_top_apps(kumo_monitor *m)
{
    Kumo__V1alpha1__TopApps *out = calloc(1, sizeof(*out));
    kumo_map *by_name = kumo_map_create();
    if (out == NULL || by_name == NULL) {
        free(out);
        kumo_map_destroy(by_name);
        return NULL;
    }
    kumo__v1alpha1__top_apps__init(out);
    apps_state s = {m, by_name, out, 0};
    kumo_map_each(m->entries, add_instances, &s);
    kumo_map_destroy(by_name);
    return out;
}
