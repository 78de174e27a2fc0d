/*
 * bench.c - the load generator of hack/bench/metrics.sh (read that first).
 *
 * Simulates --machines agents on kumod's agent bus, joined as the bench-only
 * user (KUMO_AGENT_BUS_BENCH_USER): each machine publishes an
 * AgentMetricsReport (protobuf, 8 CPU modes, 2 filesystems, 2 interfaces, 2
 * App instances: 46 samples) every --interval seconds, the machines spread
 * evenly over the interval. After one interval of warm-up it measures, over
 * --seconds, kumod's CPU time (/proc/PID/stat) and the samples published,
 * and prints
 *   reports=N samples=N kumod_cpu_s=S samples_per_core_s=R rss_kib_before=N rss_kib_after=N
 * for the script to read. It keeps publishing until it is killed when
 * --hold is given (the script then scrapes the full fleet).
 *
 * Usage: bench --nats URL --user U --password P --kumod-pid PID [--machines N]
 *              [--interval S] [--seconds S] [--hold]
 */
#include <getopt.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/kumo/v1alpha1/agent.pb-c.h"
#include "hack/bench/timing.h"

/* utime+stime of a process in seconds, and its RSS in KiB. */
static int proc_usage(int pid, double *cpu_s, long *rss_kib)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    long long rss;
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                            "%*d %*d %*d %*u %*u %lld",
                            &ut, &st, &rss) != 3)
        return -1;
    *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    *rss_kib = (long)(rss * sysconf(_SC_PAGESIZE) / 1024);
    return 0;
}

/* One machine's report, filled with plausible counters that grow with seq. */
typedef struct machine {
    char uid[32], subject[64];
    Kumo__V1alpha1__AgentMetricsReport report;
    Kumo__V1alpha1__AgentCpuSeconds cpu;
    Kumo__V1alpha1__AgentFilesystem fs[2], *fs_ptrs[2];
    Kumo__V1alpha1__AgentInterface net[2], *net_ptrs[2];
    Kumo__V1alpha1__AgentInstanceMetrics inst[2], *inst_ptrs[2];
} machine;

static void machine_init(machine *m, int i, int interval_s)
{
    snprintf(m->uid, sizeof(m->uid), "bench-%06d", i);
    snprintf(m->subject, sizeof(m->subject), "kumo.agent.%s.metrics", m->uid);
    kumo__v1alpha1__agent_metrics_report__init(&m->report);
    kumo__v1alpha1__agent_cpu_seconds__init(&m->cpu);
    m->report.machine_uid = m->uid;
    m->report.interval_ms = interval_s * 1000;
    m->report.cpu = &m->cpu;
    m->report.cpu_count = 2;
    m->report.memory_total_bytes = 4L << 30;
    m->report.machine_memory_limit_bytes = 4L << 30;
    static char *mounts[] = {"/", "/data"}, *devices[] = {"/dev/vda1", "/dev/vdb"},
                *ifaces[] = {"eth0", "eth1"}, *components[] = {"web", "worker"};
    for (int k = 0; k < 2; k++) {
        kumo__v1alpha1__agent_filesystem__init(&m->fs[k]);
        m->fs[k].mountpoint = mounts[k];
        m->fs[k].device = devices[k];
        m->fs[k].fstype = "ext4";
        m->fs[k].size_bytes = 20L << 30;
        m->fs_ptrs[k] = &m->fs[k];
        kumo__v1alpha1__agent_interface__init(&m->net[k]);
        m->net[k].device = ifaces[k];
        m->net_ptrs[k] = &m->net[k];
        kumo__v1alpha1__agent_instance_metrics__init(&m->inst[k]);
        m->inst[k].app = "default/shop";
        m->inst[k].component = components[k];
        m->inst[k].up = m->inst[k].ready = 1;
        m->inst_ptrs[k] = &m->inst[k];
    }
    m->report.filesystems = m->fs_ptrs;
    m->report.n_filesystems = 2;
    m->report.interfaces = m->net_ptrs;
    m->report.n_interfaces = 2;
    m->report.instances = m->inst_ptrs;
    m->report.n_instances = 2;
}

static size_t machine_pack(machine *m, uint8_t *buf, size_t cap)
{
    int64_t s = ++m->report.seq;
    m->report.time_ms = (int64_t)time(NULL) * 1000;
    m->cpu.user = 10.0 * (double)s;
    m->cpu.system = 3.0 * (double)s;
    m->cpu.idle = 7.0 * (double)s;
    m->report.load1 = 0.5;
    m->report.memory_available_bytes = (3L << 30) - s * 4096;
    m->report.machine_cpu_seconds = 13.0 * (double)s;
    m->report.machine_memory_bytes = (1L << 30) + s * 4096;
    for (int k = 0; k < 2; k++) {
        m->fs[k].avail_bytes = (10L << 30) - s * 4096;
        m->net[k].receive_bytes = s * 150000;
        m->net[k].transmit_bytes = s * 90000;
        m->net[k].receive_packets = s * 1000;
        m->net[k].transmit_packets = s * 800;
        m->inst[k].cpu_seconds = 4.0 * (double)s;
        m->inst[k].rss_bytes = 80L << 20;
    }
    size_t n = protobuf_c_message_get_packed_size(&m->report.base);
    return n <= cap ? protobuf_c_message_pack(&m->report.base, buf) : 0;
}

typedef struct options {
    const char *url, *user, *password;
    int pid, machines, interval, hold;
    double seconds;
} options;

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.machines = 10000, .interval = 10, .seconds = 30};
    static const struct option table[] = {
        {"nats", 1, NULL, 'n'},      {"user", 1, NULL, 'u'},     {"password", 1, NULL, 'p'},
        {"kumod-pid", 1, NULL, 'k'}, {"machines", 1, NULL, 'm'}, {"interval", 1, NULL, 'i'},
        {"seconds", 1, NULL, 's'},   {"hold", 0, NULL, 'h'},     {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", table, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->url = optarg;
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'p':
            o->password = optarg;
            break;
        case 'k':
            o->pid = (int)strtol(optarg, NULL, 10);
            break;
        case 'm':
            o->machines = (int)strtol(optarg, NULL, 10);
            break;
        case 'i':
            o->interval = (int)strtol(optarg, NULL, 10);
            break;
        case 's':
            o->seconds = strtod(optarg, NULL);
            break;
        case 'h':
            o->hold = 1;
            break;
        default:
            return -1;
        }
    }
    if (o->url == NULL || o->user == NULL || o->password == NULL || o->pid <= 0 ||
        o->machines <= 0 || o->interval <= 0) {
        fprintf(stderr, "usage: bench --nats URL --user U --password P --kumod-pid PID "
                        "[--machines N] [--interval S] [--seconds S] [--hold]\n");
        return -1;
    }
    return 0;
}

/* The fleet's publisher: each machine reports once per interval, spread over 10 ms ticks. */
typedef struct fleet {
    const options *o;
    natsConnection *nc;
    machine *machines;
    long reports, measured;
    int measuring;
} fleet;

/* Publishes the reports of the machines whose turn falls in tick `tick`. */
static void fleet_tick(fleet *f, long tick)
{
    uint8_t buf[4096];
    long per_tick = (long)((double)f->o->machines * 0.01 / f->o->interval + 0.5);
    for (long k = 0; k < (per_tick > 0 ? per_tick : 1); k++) {
        machine *m = &f->machines[(tick * per_tick + k) % f->o->machines];
        size_t n = machine_pack(m, buf, sizeof(buf));
        if (n && natsConnection_Publish(f->nc, m->subject, buf, (int)n) == NATS_OK) {
            f->reports++;
            f->measured += f->measuring;
        }
    }
}

/* One interval of warm-up, then `seconds` measured: prints kumod's CPU and RSS figures once;
 * with hold, keeps publishing until killed. */
static void fleet_run(fleet *f)
{
    const options *o = f->o;
    size_t samples_each = 1 + 8 + 9 + 2 * 2 + 6 * 2 + 6 * 2; /* as kumod counts them */
    double cpu0 = 0, cpu1 = 0;
    long rss_before = 0, rss_after = 0;
    proc_usage(o->pid, &cpu0, &rss_before);
    double start = now_s(), measure_from = start + o->interval, until = measure_from + o->seconds;
    int reported = 0;
    for (long tick = 0;; tick++) {
        double t = start + tick * 0.01;
        while (now_s() < t)
            usleep(1000);
        fleet_tick(f, tick);
        if (!f->measuring && now_s() >= measure_from) {
            natsConnection_FlushTimeout(f->nc, 5000);
            proc_usage(o->pid, &cpu0, &rss_after);
            f->measuring = 1;
        }
        if (f->measuring && !reported && now_s() >= until) {
            natsConnection_FlushTimeout(f->nc, 5000);
            usleep(200 * 1000); /* let kumod take what is in flight */
            proc_usage(o->pid, &cpu1, &rss_after);
            double cpu = cpu1 - cpu0;
            uint8_t buf[4096];
            printf("reports=%ld samples=%ld kumod_cpu_s=%.3f samples_per_core_s=%.0f "
                   "rss_kib_before=%ld rss_kib_after=%ld bytes_per_report=%zu\n",
                   f->measured, f->measured * (long)samples_each, cpu,
                   cpu > 0 ? (double)f->measured * (double)samples_each / cpu : 0, rss_before,
                   rss_after, machine_pack(&f->machines[0], buf, sizeof(buf)));
            fflush(stdout);
            reported = 1;
            if (!o->hold)
                return;
        }
    }
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    natsOptions *no = NULL;
    fleet f = {.o = &o};
    natsOptions_Create(&no);
    natsOptions_SetURL(no, o.url);
    natsOptions_SetUserInfo(no, o.user, o.password);
    natsOptions_SetIOBufSize(no, 1 << 20);
    if (natsConnection_Connect(&f.nc, no) != NATS_OK) {
        fprintf(stderr, "bench: cannot join the agent bus %s: %s\n", o.url,
                nats_GetLastError(NULL));
        return 1;
    }
    f.machines = calloc((size_t)o.machines, sizeof(*f.machines));
    if (f.machines == NULL)
        return 1;
    for (int i = 0; i < o.machines; i++)
        machine_init(&f.machines[i], i, o.interval);
    fleet_run(&f);
    natsConnection_Destroy(f.nc);
    natsOptions_Destroy(no);
    free(f.machines);
    nats_Close();
    return 0;
}
