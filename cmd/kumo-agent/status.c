/*
 * status.c - the AgentStatus document (apps, instances, machine metrics) and
 * the AgentReply around it, encoded with the codec like every other kumo
 * document.
 *
 * Metrics come from /proc and the cgroup filesystem as seen from inside the
 * machine: CPU is the agent's and its instances' utime+stime (children
 * included) since the previous document; memory is the sum of their RSS;
 * network counters are /proc/net/dev, which is per network namespace, so on
 * the local driver they are the machine's own.
 *
 * The messages are built on the heap pointing at the agent's own strings
 * (borrowed), encoded, and only the arrays are freed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "bus/agent/agent.h"
#include "cmd/kumo-agent/internal.h"

int agent_proc_stat(pid_t pid, uint64_t *ticks, int64_t *rss_pages)
{
    char path[64], buf[1024];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    else
        snprintf(path, sizeof(path), "/proc/self/stat");
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold anything */
    if (p == NULL)
        return -1;
    unsigned long long ut, st, cut, cst;
    long long rss;
    /* ") S ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
     * cstime priority nice threads itrealvalue starttime vsize rss" */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu %*d %*d %*d %*d "
               "%*u %*u %lld",
               &ut, &st, &cut, &cst, &rss) != 5)
        return -1;
    *ticks = ut + st + cut + cst;
    *rss_pages = rss;
    return 0;
}

int64_t agent_read_number(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    long long v = -1;
    if (fscanf(f, "%lld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

int64_t agent_memory_limit(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[1024];
    int64_t limit = -1;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "0::", 3) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        char path[1200];
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max",
                 strcmp(line + 3, "/") == 0 ? "" : line + 3);
        limit = agent_read_number(path); /* "max" reads as -1 */
    }
    if (f)
        fclose(f);
    if (limit > 0)
        return limit;
    f = fopen("/proc/meminfo", "re");
    while (f && fgets(line, sizeof(line), f)) {
        long long kb;
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1) {
            limit = kb * 1024;
            break;
        }
    }
    if (f)
        fclose(f);
    return limit > 0 ? limit : 0;
}

static void net_counters(int64_t *rx, int64_t *tx)
{
    *rx = *tx = 0;
    FILE *f = fopen("/proc/net/dev", "re");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue; /* the two header lines */
        *colon = '\0';
        const char *name = line + strspn(line, " ");
        if (strcmp(name, "lo") == 0)
            continue;
        unsigned long long r, t;
        if (sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &r, &t) == 2) {
            *rx += (int64_t)r;
            *tx += (int64_t)t;
        }
    }
    if (f)
        fclose(f);
}

static void metrics(agent *a, Kumo__V1alpha1__AgentMetrics *m)
{
    long page = sysconf(_SC_PAGESIZE);
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t ticks = 0, t;
    int64_t pages = 0, rss = 0;
    if (agent_proc_stat(0, &t, &rss) == 0) {
        ticks += t;
        pages += rss;
    }
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next)
            if (in->pid > 0 && agent_proc_stat(in->pid, &t, &rss) == 0) {
                ticks += t;
                pages += rss;
                m->processes++;
            }
    int64_t now = agent_now();
    if (a->cpu.at != 0 && now > a->cpu.at && ticks >= a->cpu.ticks && hz > 0)
        m->cpu_percent =
            (double)(ticks - a->cpu.ticks) / (double)hz * 100000.0 / (double)(now - a->cpu.at);
    a->cpu.ticks = ticks;
    a->cpu.at = now;
    m->memory_bytes = pages * page;
    m->memory_limit_bytes = agent_memory_limit();
    net_counters(&m->net_rx_bytes, &m->net_tx_bytes);
    long long size, resident;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f && fscanf(f, "%lld %lld", &size, &resident) == 2)
        m->agent_rss_bytes = resident * page;
    if (f)
        fclose(f);
}

static void set_time(Kumo__V1alpha1__Time *t, int64_t wall_ns)
{
    kumo__v1alpha1__time__init(t);
    t->seconds = wall_ns / 1000000000;
    t->nanos = (int32_t)(wall_ns % 1000000000);
}

/* Everything one document allocates, freed together. */
typedef struct status_parts {
    Kumo__V1alpha1__AgentAppStatus *apps, **app_ptrs;
    Kumo__V1alpha1__AgentInstance *instances, **instance_ptrs;
    Kumo__V1alpha1__Time *times, boot, now;
    Kumo__V1alpha1__AgentMetrics metrics;
} status_parts;

static void parts_free(status_parts *p)
{
    free(p->apps);
    free(p->app_ptrs);
    free(p->instances);
    free(p->instance_ptrs);
    free(p->times);
}

static int build(agent *a, Kumo__V1alpha1__AgentStatus *s, status_parts *p)
{
    size_t napps = 0, ninst = 0;
    for (agent_app *app = a->apps; app; app = app->next, napps++)
        for (agent_instance *in = app->instances; in; in = in->next)
            ninst++;
    memset(p, 0, sizeof(*p));
    p->apps = calloc(napps + 1, sizeof(*p->apps));
    p->app_ptrs = calloc(napps + 1, sizeof(*p->app_ptrs));
    p->instances = calloc(ninst + 1, sizeof(*p->instances));
    p->instance_ptrs = calloc(ninst + 1, sizeof(*p->instance_ptrs));
    p->times = calloc(ninst + 1, sizeof(*p->times));
    if (!p->apps || !p->app_ptrs || !p->instances || !p->instance_ptrs || !p->times)
        return -1;
    kumo__v1alpha1__agent_status__init(s);
    s->machine_uid = a->bootstrap->machine_uid;
    s->machine = a->bootstrap->machine;
    s->agent_version = (char *)KUMO_AGENT_VERSION;
    set_time(&p->boot, a->boot_wall_ns);
    set_time(&p->now, agent_wall_ns());
    s->boot_time = &p->boot;
    s->time = &p->now;
    s->seq = ++a->seq;
    size_t i = 0, k = 0;
    for (agent_app *app = a->apps; app; app = app->next, i++) {
        Kumo__V1alpha1__AgentAppStatus *as = &p->apps[i];
        kumo__v1alpha1__agent_app_status__init(as);
        as->app = app->name;
        as->app_uid = app->uid ? app->uid : "";
        as->generation = app->generation;
        as->instances = &p->instance_ptrs[k];
        for (agent_instance *in = app->instances; in; in = in->next, k++) {
            Kumo__V1alpha1__AgentInstance *ai = &p->instances[k];
            kumo__v1alpha1__agent_instance__init(ai);
            ai->component = in->spec->name;
            ai->replica = in->replica;
            ai->phase = in->phase;
            ai->ready = in->ready;
            ai->restarts = in->restarts;
            ai->pid = in->pid;
            ai->exit_code = in->exit_code;
            ai->last_error = in->last_error;
            if (in->start_wall_ns) {
                set_time(&p->times[k], in->start_wall_ns);
                ai->start_time = &p->times[k];
            }
            ai->generation = in->generation;
            p->instance_ptrs[k] = ai;
            as->n_instances++;
        }
        p->app_ptrs[i] = as;
    }
    s->apps = p->app_ptrs;
    s->n_apps = napps;
    kumo__v1alpha1__agent_metrics__init(&p->metrics);
    metrics(a, &p->metrics);
    s->metrics = &p->metrics;
    return 0;
}

static char *encode(const ProtobufCMessage *m, size_t *len)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_codec_json_encode(m, NULL, &buf, &d);
    kumo_diag_fini(&d);
    if (e != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&buf);
        return NULL;
    }
    return kumo_codec_buffer_take(&buf, len);
}

char *agent_status_json(agent *a, size_t *len)
{
    Kumo__V1alpha1__AgentStatus s;
    status_parts p;
    char *json = build(a, &s, &p) == 0 ? encode(&s.base, len) : NULL;
    parts_free(&p);
    return json;
}

char *agent_reply_json(agent *a, int ok, const char *error, int with_metrics, size_t *len)
{
    Kumo__V1alpha1__AgentReply r;
    kumo__v1alpha1__agent_reply__init(&r);
    r.ok = ok;
    r.error = (char *)(error ? error : "");
    Kumo__V1alpha1__AgentStatus s;
    status_parts p;
    memset(&p, 0, sizeof(p));
    if (ok) {
        if (build(a, &s, &p) != 0) {
            parts_free(&p);
            return NULL;
        }
        r.status = &s;
        if (with_metrics)
            r.metrics = agent_metrics_build(a, 0);
    }
    char *json = encode(&r.base, len);
    agent_metrics_free(r.metrics);
    parts_free(&p);
    return json;
}
