/*
 * metrics.c - the machine's metrics in node_exporter's terms (CPU seconds by
 * mode, load, memory, filesystems, network per interface), the machine's own
 * cgroup, and per App instance CPU, RSS, restarts, up/ready and health-check
 * latency: one AgentMetricsReport, published protobuf-packed on
 * <prefix>.<uid>.metrics every metrics interval (docs/monitoring.md).
 *
 * Also the round trips to peer agents: kumod names a few agents in other
 * connections (AgentPeers on <prefix>.<uid>.peers); the agent sends each a
 * ping through the agent bus (<prefix>.<peer>.ping, answered at once by the
 * peer's bus thread) and reports the times the answers took.
 *
 * Everything in a report is malloc'd, so protobuf-c's free_unpacked frees it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "bus/agent/agent.h"
#include "cmd/kumo-agent/internal.h"

#define MAX_FILESYSTEMS 8
#define MAX_INTERFACES  16
#define MAX_PEERS       64

typedef Kumo__V1alpha1__AgentMetricsReport report_t;

static void cpu_and_count(report_t *r, double hz)
{
    FILE *f = fopen("/proc/stat", "re");
    char line[512];
    Kumo__V1alpha1__AgentCpuSeconds *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (f)
            fclose(f);
        return;
    }
    kumo__v1alpha1__agent_cpu_seconds__init(c);
    r->cpu = c;
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long long v[8] = {0};
        if (strncmp(line, "cpu ", 4) == 0 &&
            sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) >= 4) {
            c->user = (double)v[0] / hz;
            c->nice = (double)v[1] / hz;
            c->system = (double)v[2] / hz;
            c->idle = (double)v[3] / hz;
            c->iowait = (double)v[4] / hz;
            c->irq = (double)v[5] / hz;
            c->softirq = (double)v[6] / hz;
            c->steal = (double)v[7] / hz;
        } else if (strncmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9') {
            r->cpu_count++;
        }
    }
    if (f)
        fclose(f);
    f = fopen("/proc/loadavg", "re");
    if (f && fscanf(f, "%lf %lf %lf", &r->load1, &r->load5, &r->load15) != 3)
        r->load1 = r->load5 = r->load15 = 0;
    if (f)
        fclose(f);
}

static void memory(report_t *r)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long long kb;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
            r->memory_total_bytes = kb * 1024;
        else if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            r->memory_available_bytes = kb * 1024;
    }
    if (f)
        fclose(f);
}

static int real_fstype(const char *type)
{
    static const char *const types[] = {"ext2", "ext3", "ext4", "xfs",     "btrfs",
                                        "zfs",  "vfat", "f2fs", "overlay", NULL};
    for (int i = 0; types[i]; i++)
        if (strcmp(type, types[i]) == 0)
            return 1;
    return 0;
}

/* Mounted disk filesystems (not pseudo ones), one per device, at most MAX_FILESYSTEMS. */
static void filesystems(report_t *r)
{
    r->filesystems = calloc(MAX_FILESYSTEMS, sizeof(*r->filesystems));
    FILE *f = fopen("/proc/self/mounts", "re");
    char device[256], mountpoint[512], type[64];
    while (r->filesystems && f && r->n_filesystems < MAX_FILESYSTEMS &&
           fscanf(f, "%255s %511s %63s %*[^\n]", device, mountpoint, type) == 3) {
        int seen = !real_fstype(type);
        for (size_t i = 0; i < r->n_filesystems && !seen; i++)
            seen = strcmp(r->filesystems[i]->device, device) == 0;
        struct statvfs st;
        if (seen || statvfs(mountpoint, &st) != 0 || st.f_blocks == 0)
            continue;
        Kumo__V1alpha1__AgentFilesystem *fs = calloc(1, sizeof(*fs));
        if (fs == NULL)
            break;
        kumo__v1alpha1__agent_filesystem__init(fs);
        fs->device = strdup(device);
        fs->mountpoint = strdup(mountpoint);
        fs->fstype = strdup(type);
        fs->size_bytes = (int64_t)st.f_blocks * (int64_t)st.f_frsize;
        fs->avail_bytes = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
        r->filesystems[r->n_filesystems++] = fs;
    }
    if (f)
        fclose(f);
}

/* /proc/net/dev: every interface but lo (per network namespace: the machine's own). */
static void interfaces(report_t *r)
{
    r->interfaces = calloc(MAX_INTERFACES, sizeof(*r->interfaces));
    FILE *f = fopen("/proc/net/dev", "re");
    char line[512];
    while (r->interfaces && f && r->n_interfaces < MAX_INTERFACES && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        const char *name = line + strspn(line, " ");
        unsigned long long v[11];
        if (strcmp(name, "lo") == 0 ||
            sscanf(colon + 1, "%llu %llu %llu %*u %*u %*u %*u %*u %llu %llu %llu", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5]) != 6)
            continue;
        Kumo__V1alpha1__AgentInterface *i = calloc(1, sizeof(*i));
        if (i == NULL)
            break;
        kumo__v1alpha1__agent_interface__init(i);
        i->device = strdup(name);
        i->receive_bytes = (int64_t)v[0];
        i->receive_packets = (int64_t)v[1];
        i->receive_errs = (int64_t)v[2];
        i->transmit_bytes = (int64_t)v[3];
        i->transmit_packets = (int64_t)v[4];
        i->transmit_errs = (int64_t)v[5];
        r->interfaces[r->n_interfaces++] = i;
    }
    if (f)
        fclose(f);
}

/* The machine's own cgroup (v2) when the agent is not in the root one: 0 or -1. */
static int machine_cgroup(report_t *r)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[1024], path[1200];
    int found = -1;
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "0::/", 4) != 0 || line[4] == '\0')
            continue;
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.stat", line + 3);
        FILE *stat = fopen(path, "re");
        char row[128];
        long long usec;
        while (stat && fgets(row, sizeof(row), stat))
            if (sscanf(row, "usage_usec %lld", &usec) == 1) {
                r->machine_cpu_seconds = (double)usec / 1e6;
                found = 0;
            }
        if (stat)
            fclose(stat);
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.current", line + 3);
        r->machine_memory_bytes = agent_read_number(path);
        if (r->machine_memory_bytes < 0)
            found = -1;
    }
    if (f)
        fclose(f);
    return found;
}

static void instances(agent *a, report_t *r, double hz, long page)
{
    size_t n = 0;
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next)
            n++;
    r->instances = calloc(n + 1, sizeof(*r->instances));
    uint64_t ticks = 0, t;
    int64_t pages = 0, rss = 0;
    if (agent_proc_stat(0, &t, &rss) == 0) {
        ticks += t;
        pages += rss;
    }
    for (agent_app *app = a->apps; app && r->instances; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next) {
            Kumo__V1alpha1__AgentInstanceMetrics *m = calloc(1, sizeof(*m));
            if (m == NULL)
                return;
            kumo__v1alpha1__agent_instance_metrics__init(m);
            m->app = strdup(app->name);
            m->component = strdup(in->spec->name);
            m->replica = in->replica;
            m->restarts = in->restarts;
            m->ready = in->ready;
            m->health_seconds = in->health.last_seconds;
            if (in->pid > 0 && agent_proc_stat(in->pid, &t, &rss) == 0) {
                m->up = 1;
                m->cpu_seconds = (double)t / hz;
                m->rss_bytes = rss * page;
                ticks += t;
                pages += rss;
            }
            r->instances[r->n_instances++] = m;
        }
    if (machine_cgroup(r) != 0) { /* no cgroup of its own: the agent and its instances */
        r->machine_cpu_seconds = (double)ticks / hz;
        r->machine_memory_bytes = pages * page;
    }
}

static void rtts(agent *a, report_t *r)
{
    agent_rtt_sample samples[64];
    size_t n = agent_bus_rtts_take(a->bus, samples, 64);
    r->rtts = calloc(n + 1, sizeof(*r->rtts));
    for (size_t i = 0; r->rtts && i < n; i++) {
        Kumo__V1alpha1__AgentRtt *x = calloc(1, sizeof(*x));
        if (x == NULL)
            return;
        kumo__v1alpha1__agent_rtt__init(x);
        x->peer_uid = strdup(samples[i].peer);
        x->rtt_ms = samples[i].ms;
        r->rtts[r->n_rtts++] = x;
    }
}

int agent_metrics_interval(const agent *a)
{
    int ms = a->bootstrap->metrics_interval_ms;
    return ms <= 0                           ? AGENT_METRICS_INTERVAL_MS
           : ms < AGENT_METRICS_INTERVAL_MIN ? AGENT_METRICS_INTERVAL_MIN
                                             : ms;
}

report_t *agent_metrics_build(agent *a, int with_rtts)
{
    report_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    kumo__v1alpha1__agent_metrics_report__init(r);
    double hz = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    r->machine_uid = strdup(a->bootstrap->machine_uid);
    r->seq = ++a->metrics_seq;
    r->time_ms = agent_wall_ns() / 1000000;
    r->interval_ms = agent_metrics_interval(a);
    cpu_and_count(r, hz > 0 ? hz : 100);
    memory(r);
    filesystems(r);
    interfaces(r);
    instances(a, r, hz > 0 ? hz : 100, page);
    r->machine_memory_limit_bytes = agent_memory_limit();
    if (with_rtts)
        rtts(a, r);
    if (r->machine_uid == NULL || r->cpu == NULL || r->filesystems == NULL ||
        r->interfaces == NULL || r->instances == NULL || (with_rtts && r->rtts == NULL)) {
        agent_metrics_free(r);
        return NULL;
    }
    return r;
}

void agent_metrics_free(report_t *r)
{
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

uint8_t *agent_metrics_pack(agent *a, int with_rtts, size_t *len)
{
    report_t *r = agent_metrics_build(a, with_rtts);
    if (r == NULL)
        return NULL;
    *len = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *out = malloc(*len ? *len : 1);
    if (out)
        protobuf_c_message_pack(&r->base, out);
    agent_metrics_free(r);
    return out;
}

/* ---- peers ---------------------------------------------------------------------------- */

int agent_peers_set(agent *a, const char *body, size_t len)
{
    ProtobufCMessage *m = NULL;
    kumo_codec_decode_options o = {.lenient = 1};
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e =
        kumo_codec_json_decode(&kumo__v1alpha1__agent_peers__descriptor, body, len, &o, &m, &d);
    if (e != KUMO_ERROR_OK) {
        KUMO_LOG_WARN(AGENT_LOG, "bad peers document", "error=\"%s\"", d.message);
        kumo_diag_fini(&d);
        return -1;
    }
    kumo_diag_fini(&d);
    const Kumo__V1alpha1__AgentPeers *p = (const Kumo__V1alpha1__AgentPeers *)m;
    size_t n = p->n_peer_uids < MAX_PEERS ? p->n_peer_uids : MAX_PEERS;
    char **peers = calloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; peers && i < n; i++) {
        char subject[256];
        if (kumo_agent_subject(subject, sizeof(subject), a->prefix, p->peer_uids[i], "ping") == 0 &&
            strlen(p->peer_uids[i]) < sizeof(((agent_rtt_sample *)0)->peer))
            peers[k++] = strdup(p->peer_uids[i]);
    }
    if (peers) {
        agent_strv_free(a->peers);
        a->peers = peers;
        a->peer_interval_ms = p->interval_ms > 0 ? p->interval_ms : AGENT_PEER_INTERVAL_MS;
        if (a->ping_due == 0)
            a->ping_due = agent_now();
    }
    kumo_codec_message_free(m);
    return peers ? 0 : -1;
}

void agent_peers_ping(agent *a)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    for (size_t i = 0; a->peers && a->peers[i]; i++) {
        char subject[256], body[128];
        if (kumo_agent_subject(subject, sizeof(subject), a->prefix, a->peers[i], "ping") != 0)
            continue;
        int n = snprintf(body, sizeof(body), "%s %lld", a->peers[i], ns);
        agent_bus_request(a->bus, subject, a->subject_rtt, body, (size_t)n);
    }
    a->ping_due =
        agent_now() + (a->peer_interval_ms > 0 ? a->peer_interval_ms : AGENT_PEER_INTERVAL_MS);
}
