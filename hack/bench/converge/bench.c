/*
 * bench.c - the converge benchmark's client (hack/bench/converge.sh runs it).
 *
 * Talks to a running kumod over NATS only (libnats, JSON; no kumo library):
 *   1. creates N sim Connections (each its own sim account/state file, API
 *      latency L ms +- J, boot B s, the sim's rate limit = the Connection's
 *      rateLimit.qps) and waits until every one is Ready;
 *   2. reads kumod's RSS and CPU time (/proc/<pid>), resets the sims' stats;
 *   3. applies one Infra with one group of M/N machines per connection and
 *      polls it until status.ready == M (every Machine Running);
 *   4. reads kumod's RSS and CPU again, the sims' stats (calls by operation,
 *      peak QPS, throttles) and the controllers' counters
 *      (<prefix>.metrics.controllers);
 *   5. prints the figures, the lower bound the limits imply, and
 *        BENCH converge machines=M connections=N time_s=T lower_bound_s=LB
 *              ratio=T/LB bytes_per_object=B cpu_us_per_reconcile=C ...
 *
 * Fairness: a small Infra (2 machines on a Connection of its own) is made
 * once before the big one (its time alone is the peer) and once 3 s after
 * the big one was applied, while its 10,000 machines fill kumod's queues;
 * small_ratio = its time behind the big one / its time alone.
 *
 * Lower bound, per connection (they run in parallel): every machine needs at
 * least one create and one observe that sees it Running, all through the
 * connection's token bucket, so (2 * M/N) / qps seconds of calls; the last
 * machine created still needs its boot time and one call's latency:
 *     LB = 2 * (M/N) / qps + boot + latency
 * (the initial burst is ignored: it is under 1% here).
 */
#define _GNU_SOURCE
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hack/bench/timing.h"

static const char *regions[] = {
    "us-east-1",      "us-east-2",      "us-west-1",      "us-west-2",      "ca-central-1",
    "sa-east-1",      "eu-west-1",      "eu-west-2",      "eu-central-1",   "eu-north-1",
    "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ap-south-1"};

typedef struct options {
    const char *url;
    const char *state_dir;
    int kumod_pid;
    int connections;
    int machines;
    double qps;
    int burst;
    int in_flight;
    double latency_ms, jitter_ms, boot_s;
    double timeout_s;
} options;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static natsConnection *nc;

/* A request on `subject` with optional Kumo-Name header; returns the reply body (malloc'd). */
static char *request(const char *subject, const char *name, const char *body, int timeout_ms)
{
    natsMsg *msg = NULL, *reply = NULL;
    natsStatus s = natsMsg_Create(&msg, subject, NULL, body, (int)strlen(body));
    if (s == NATS_OK && name)
        s = natsMsgHeader_Set(msg, "Kumo-Name", name);
    if (s == NATS_OK)
        s = natsConnection_RequestMsg(&reply, nc, msg, timeout_ms);
    natsMsg_Destroy(msg);
    if (s != NATS_OK)
        return NULL;
    char *out = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    natsMsg_Destroy(reply);
    return out;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

/* The number after the LAST `"key":` in json (-1 when absent). */
static double last_number(const char *json, const char *key)
{
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    const char *found = NULL;
    for (const char *p = json; p && (p = strstr(p, pattern)) != NULL; p++)
        found = p;
    if (found == NULL)
        return -1;
    found += strlen(pattern);
    if (*found == '"')
        found++;
    return strtod(found, NULL);
}

/* The number after the FIRST `"key":` at or after `from`. */
static double number_after(const char *json, const char *key)
{
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    const char *p = json ? strstr(json, pattern) : NULL;
    if (p == NULL)
        return -1;
    p += strlen(pattern);
    if (*p == '"')
        p++;
    return strtod(p, NULL);
}

/* A "Name:   N kB" line of /proc/<pid>/status, in KiB (-1 when absent). */
static long status_kib(int pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    size_t n = strlen(name);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, name, n) == 0 && line[n] == ':')
            kib = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static long rss_kib(int pid)
{
    return status_kib(pid, "VmRSS");
}

/* utime + stime of the process in seconds. */
static double cpu_s(int pid)
{
    char path[64], text[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')');
    if (p == NULL)
        return -1;
    /* after ") ": state(3) ppid ... utime is field 14, stime 15 */
    p += 2;
    for (int field = 3; field < 14 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (p == NULL)
        return -1;
    char *end;
    double utime = strtod(p, &end);
    double stime = strtod(end, NULL);
    return (utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int connection_ready(int i)
{
    char name[32];
    snprintf(name, sizeof(name), "c%d", i);
    char *json = request("kumo.v1.api.get.connections.default", name, "", 5000);
    int ready = json && strstr(json, "\"type\":\"Ready\",\"status\":\"True\"") != NULL;
    free(json);
    return ready;
}

static char *control(int i, const char *op)
{
    char subject[128], body[128];
    snprintf(subject, sizeof(subject), "kumo.v1.control.connections.default.c%d", i);
    snprintf(body, sizeof(body), "{\"op\": \"%s\"}", op);
    return request(subject, NULL, body, 10000);
}

/* Applies a 2-machine Infra `name` on connection c<index>; seconds until both Machines are
 * ready, or -1 after timeout_s. */
static double small_infra_s(const char *name, int index, double timeout_s)
{
    char *body = format("{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Infra\","
                        "\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\"},"
                        "\"spec\":{\"groups\":[{\"name\":\"a\",\"size\":2,\"connection\":"
                        "\"c%d\",\"instanceType\":\"t3.micro\",\"image\":\"ubuntu-22.04\"}]}}",
                        name, index);
    double t0 = now_s();
    free(request("kumo.v1.api.apply.infras.default", NULL, body, 10000));
    free(body);
    while (now_s() - t0 < timeout_s) {
        char *json = request("kumo.v1.api.get.infras.default", name, "", 10000);
        double ready = json ? last_number(json, "ready") : 0;
        free(json);
        if (ready >= 2)
            return now_s() - t0;
        sleep_ms(50);
    }
    return -1;
}

typedef struct behind {
    int index;
    double timeout_s, seconds;
} behind;

/* The small Infra made 3 s after the big one (a thread beside the main poll). */
static void *small_behind(void *arg)
{
    behind *b = arg;
    sleep_ms(3000);
    b->seconds = small_infra_s("small-behind", b->index, b->timeout_s);
    return NULL;
}

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.connections = 20,
                   .machines = 10000,
                   .qps = 50,
                   .burst = 10,
                   .in_flight = 8,
                   .latency_ms = 50,
                   .jitter_ms = 20,
                   .boot_s = 2,
                   .timeout_s = 600};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--nats") == 0)
            o->url = v;
        else if (strcmp(k, "--state-dir") == 0)
            o->state_dir = v;
        else if (strcmp(k, "--kumod-pid") == 0)
            o->kumod_pid = (int)strtol(v, NULL, 10);
        else if (strcmp(k, "--connections") == 0)
            o->connections = (int)strtol(v, NULL, 10);
        else if (strcmp(k, "--machines") == 0)
            o->machines = (int)strtol(v, NULL, 10);
        else if (strcmp(k, "--qps") == 0)
            o->qps = strtod(v, NULL);
        else if (strcmp(k, "--burst") == 0)
            o->burst = (int)strtol(v, NULL, 10);
        else if (strcmp(k, "--max-in-flight") == 0)
            o->in_flight = (int)strtol(v, NULL, 10);
        else if (strcmp(k, "--latency-ms") == 0)
            o->latency_ms = strtod(v, NULL);
        else if (strcmp(k, "--jitter-ms") == 0)
            o->jitter_ms = strtod(v, NULL);
        else if (strcmp(k, "--boot-s") == 0)
            o->boot_s = strtod(v, NULL);
        else if (strcmp(k, "--timeout-s") == 0)
            o->timeout_s = strtod(v, NULL);
        else {
            fprintf(stderr, "bench-converge: unknown option %s\n", k);
            return -1;
        }
    }
    if (o->url == NULL || o->state_dir == NULL || o->kumod_pid <= 0 || o->connections < 1 ||
        o->machines < o->connections) {
        fprintf(stderr, "bench-converge: need --nats URL --state-dir DIR --kumod-pid PID\n");
        return -1;
    }
    return 0;
}

/* Creates Connections c0..c<connections> (the last one for the small Infras) and waits until
 * every one is Ready; 0, or -1 with the reason on stderr. */
static int connections_create(const options *o)
{
    for (int i = 0; i <= o->connections; i++) {
        char *body = format(
            "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\","
            "\"metadata\":{\"name\":\"c%d\",\"namespace\":\"default\"},"
            "\"spec\":{\"driver\":\"sim\",\"provider\":\"aws\",\"region\":\"%s\","
            "\"rateLimit\":{\"qps\":%g,\"burst\":%d,\"maxInFlight\":%d},"
            "\"config\":{\"state\":\"%s/c%d.state\",\"fsync\":\"false\",\"qps\":\"%g\","
            "\"burst\":\"%g\",\"latency_ms\":\"%g\",\"latency_jitter_ms\":\"%g\","
            "\"boot_seconds\":\"%g\"}}}",
            i, regions[i % (int)(sizeof(regions) / sizeof(regions[0]))], o->qps, o->burst,
            o->in_flight, o->state_dir, i, o->qps, o->qps, o->latency_ms, o->jitter_ms, o->boot_s);
        char *reply = request("kumo.v1.api.apply.connections.default", NULL, body, 10000);
        free(body);
        if (reply == NULL || strstr(reply, "\"kind\":\"Status\"")) {
            fprintf(stderr, "bench-converge: cannot create Connection c%d: %s\n", i,
                    reply ? reply : "no reply");
            free(reply);
            return -1;
        }
        free(reply);
    }
    double wait_until = now_s() + 120;
    for (int i = 0; i <= o->connections; i++)
        while (!connection_ready(i)) {
            if (now_s() > wait_until) {
                fprintf(stderr, "bench-converge: Connection c%d is not Ready after 120 s\n", i);
                return -1;
            }
            sleep_ms(100);
        }
    return 0;
}

/* The sum of every controller's reconciles in a metrics reply. */
static double reconciles_in(const char *metrics)
{
    double sum = 0;
    for (const char *p = metrics; p && (p = strstr(p, "\"reconciles\":")) != NULL; p++)
        sum += number_after(p, "reconciles");
    return sum;
}

/* kumod's memory, CPU time and reconciles at one moment. */
typedef struct sample {
    long rss_kib, anon_kib, file_kib;
    double cpu_s, reconciles;
} sample;

static sample sample_take(int pid)
{
    sample s = {rss_kib(pid), status_kib(pid, "RssAnon"), status_kib(pid, "RssFile"), cpu_s(pid),
                0};
    char *metrics = request("kumo.v1.metrics.controllers", NULL, "", 5000);
    s.reconciles = reconciles_in(metrics);
    free(metrics);
    return s;
}

/* Applies the big Infra: one group of `per` machines on each connection; 0 or -1. */
static int big_infra_apply(const options *o, int per)
{
    size_t cap = (size_t)o->connections * 200 + 256, at = 0;
    char *infra = malloc(cap);
    at += (size_t)snprintf(infra + at, cap - at,
                           "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Infra\","
                           "\"metadata\":{\"name\":\"bench\",\"namespace\":\"default\"},"
                           "\"spec\":{\"groups\":[");
    for (int i = 0; i < o->connections; i++)
        at += (size_t)snprintf(infra + at, cap - at,
                               "%s{\"name\":\"g%d\",\"size\":%d,\"connection\":\"c%d\","
                               "\"instanceType\":\"t3.micro\",\"image\":\"ubuntu-22.04\"}",
                               i ? "," : "", i, per, i);
    snprintf(infra + at, cap - at, "]}}");
    char *reply = request("kumo.v1.api.apply.infras.default", NULL, infra, 10000);
    free(infra);
    int failed = reply == NULL || strstr(reply, "\"kind\":\"Status\"");
    if (failed)
        fprintf(stderr, "bench-converge: cannot create the Infra: %s\n", reply ? reply : "none");
    free(reply);
    return failed ? -1 : 0;
}

/* One progress line on stderr: the controllers' counters, cloud calls, kumod's RSS and CPU. */
static void progress_print(const options *o, double elapsed, double ready, long rss,
                           double cpu_used)
{
    char *m = request("kumo.v1.metrics.controllers", NULL, "", 5000);
    const char *mc = m ? strstr(m, "\"name\":\"machine\"") : NULL;
    const char *ic = m ? strstr(m, "\"name\":\"infra\"") : NULL;
    double cloud_calls = 0;
    for (const char *p = m ? strstr(m, "\"connections\"") : NULL;
         p && (p = strstr(p, "\"calls\":")) != NULL; p++)
        cloud_calls += number_after(p, "calls");
    fprintf(stderr,
            "  %5.1f s: %.0f of %d running; machine controller: %.0f reconciles, queue "
            "%.0f, delayed %.0f, p50 %.0f ms, p99 %.0f ms; infra reconciles %.0f (p50 %.0f "
            "ms); cloud "
            "calls %.0f; kumod RSS %ld MiB, CPU %.1f s\n",
            elapsed, ready < 0 ? 0 : ready, o->machines, number_after(mc, "reconciles"),
            number_after(mc, "queueDepth"), number_after(mc, "delayed"),
            number_after(mc, "latencyP50Ms"), number_after(mc, "latencyP99Ms"),
            number_after(ic, "reconciles"), number_after(ic, "latencyP50Ms"), cloud_calls,
            rss / 1024, cpu_used);
    free(m);
}

/* Polls the big Infra until every Machine is ready or the timeout; returns the machines ready
 * and keeps kumod's peak RSS in *peak_rss. */
static double big_infra_wait(const options *o, double t0, double cpu_before, long *peak_rss)
{
    double ready = 0, last_print = t0;
    while (ready < o->machines && now_s() - t0 < o->timeout_s) {
        sleep_ms(100);
        char *json = request("kumo.v1.api.get.infras.default", "bench", "", 10000);
        ready = json ? last_number(json, "ready") : 0;
        free(json);
        long rss = rss_kib(o->kumod_pid);
        if (rss > *peak_rss)
            *peak_rss = rss;
        if (now_s() - last_print >= 2) {
            progress_print(o, now_s() - t0, ready, rss, cpu_s(o->kumod_pid) - cpu_before);
            last_print = now_s();
        }
    }
    return ready;
}

/* What the sims saw, summed (peaks: the highest) over the big Infra's connections. */
typedef struct sim_stats {
    double calls, creates, observes, throttled, peak_qps, peak_in_flight;
} sim_stats;

static sim_stats sim_stats_collect(const options *o)
{
    sim_stats t = {0};
    for (int i = 0; i < o->connections; i++) {
        char *stats = control(i, "stats");
        if (stats == NULL)
            continue;
        t.calls += number_after(stats, "calls");
        t.throttled += number_after(stats, "throttled");
        double pq = number_after(stats, "peakQps"), pf = number_after(stats, "peakInFlight");
        t.peak_qps = pq > t.peak_qps ? pq : t.peak_qps;
        t.peak_in_flight = pf > t.peak_in_flight ? pf : t.peak_in_flight;
        const char *by = strstr(stats, "\"byOp\"");
        t.creates += number_after(by, "machine_create");
        t.observes += number_after(by, "machine_observe");
        free(stats);
    }
    return t;
}

/* What one run measured, for the report. */
typedef struct outcome {
    int per, converged;
    double elapsed, small_alone, small_behind;
    long peak_rss;
    sample before, after;
    sim_stats sims;
} outcome;

static void report_print(const options *o, const outcome *r)
{
    /* Managed objects: Machines, 3 shared objects and a Connection per connection, the Infra;
     * and the small Infras' (4 Machines, 2 Infras, 3 shared objects and a Connection). */
    double objects = o->machines + 4.0 * o->connections + 1 + 10;
    double lower = 2.0 * r->per / o->qps + o->boot_s + o->latency_ms / 1000.0;
    /* Tighter: the last boots overlap the remaining observes when those take longer. */
    double creates_s = r->per / o->qps, calls_s = 2.0 * r->per / o->qps;
    double tight = (calls_s > creates_s + o->boot_s ? calls_s : creates_s + o->boot_s) +
                   o->latency_ms / 1000.0;
    const sample *b = &r->before, *a = &r->after;
    double bytes_per_object = (double)(a->rss_kib - b->rss_kib) * 1024.0 / objects;
    double anon_per_object = (double)(a->anon_kib - b->anon_kib) * 1024.0 / objects;
    double cpu = a->cpu_s - b->cpu_s, reconciles = a->reconciles - b->reconciles;
    double cpu_us_per_reconcile = reconciles > 0 ? cpu * 1e6 / reconciles : 0;
    double small_ratio = r->small_alone > 0 ? r->small_behind / r->small_alone : 0;
    const sim_stats *t = &r->sims;
    printf("converge: %d machines over %d sim connections (latency %g+-%g ms, boot %g s, "
           "%g QPS/burst %d/in flight %d per connection)\n",
           o->machines, o->connections, o->latency_ms, o->jitter_ms, o->boot_s, o->qps, o->burst,
           o->in_flight);
    printf("  all Running after     %.2f s%s\n", r->elapsed,
           r->converged ? "" : " (NOT converged)");
    printf("  lower bound           %.2f s = 2 calls x %d machines / %g QPS + %g s boot + %g ms "
           "latency\n",
           lower, r->per, o->qps, o->boot_s, o->latency_ms);
    printf("  ratio                 %.3f\n", r->elapsed / lower);
    printf("  tighter bound         %.2f s = max(2 x %d / %g, %d / %g + %g s boot) + %g ms latency "
           "(boots overlap the later calls): ratio %.3f\n",
           tight, r->per, o->qps, r->per, o->qps, o->boot_s, o->latency_ms, r->elapsed / tight);
    printf(
        "  cloud calls           %.0f (%.2f per machine: %.0f creates, %.0f observes), "
        "throttled %.0f, peak %.0f/s per connection (limit %g + burst %d), peak in flight %.0f\n",
        t->calls, t->calls / o->machines, t->creates, t->observes, t->throttled, t->peak_qps,
        o->qps, o->burst, t->peak_in_flight);
    printf("  kumod RSS             %ld -> %ld KiB (peak %ld), %.0f bytes per managed object "
           "(%.0f objects)\n",
           b->rss_kib, a->rss_kib, r->peak_rss, bytes_per_object, objects);
    printf(
        "    of which            heap and stacks (RssAnon) %ld -> %ld KiB: %.0f bytes per object;"
        " mapped files (RssFile: the store's LMDB map) %ld -> %ld KiB: %.0f bytes per object\n",
        b->anon_kib, a->anon_kib, anon_per_object, b->file_kib, a->file_kib,
        (double)(a->file_kib - b->file_kib) * 1024.0 / objects);
    printf("  kumod CPU             %.2f s for %.0f reconciles: %.0f us per reconcile; %.0f us per "
           "machine\n",
           cpu, reconciles, cpu_us_per_reconcile, cpu * 1e6 / o->machines);
    printf("  small Infra           2 machines on their own Connection: Ready after %.2f s alone, "
           "%.2f s when made 3 s after the big one (ratio %.2f)\n",
           r->small_alone, r->small_behind, small_ratio);
    printf("BENCH converge machines=%d connections=%d time_s=%.2f lower_bound_s=%.2f ratio=%.3f "
           "bytes_per_object=%.0f anon_bytes_per_object=%.0f cpu_us_per_reconcile=%.0f "
           "calls_per_machine=%.2f "
           "throttled=%.0f peak_qps=%.0f ratio_tight=%.3f converged=%d small_alone_s=%.2f "
           "small_behind_s=%.2f small_ratio=%.2f\n",
           o->machines, o->connections, r->elapsed, lower, r->elapsed / lower, bytes_per_object,
           anon_per_object, cpu_us_per_reconcile, t->calls / o->machines, t->throttled, t->peak_qps,
           r->elapsed / tight, r->converged, r->small_alone, r->small_behind, small_ratio);
}

/* The big Infra with the small one 3 s behind it, measured from before to after; 0 or -1. */
static int measure(const options *o, outcome *r)
{
    for (int i = 0; i < o->connections; i++)
        free(control(i, "reset_stats"));
    r->before = sample_take(o->kumod_pid);
    r->peak_rss = r->before.rss_kib;
    double t0 = now_s();
    behind late = {o->connections, o->timeout_s, -1};
    pthread_t late_thread;
    int late_started = pthread_create(&late_thread, NULL, small_behind, &late) == 0;
    if (big_infra_apply(o, r->per) != 0)
        return -1;
    double ready = big_infra_wait(o, t0, r->before.cpu_s, &r->peak_rss);
    r->elapsed = now_s() - t0;
    r->converged = ready >= o->machines;
    if (late_started)
        pthread_join(late_thread, NULL);
    r->small_behind = late.seconds;
    sleep_ms(200);
    r->after = sample_take(o->kumod_pid);
    r->sims = sim_stats_collect(o);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    if (natsConnection_ConnectTo(&nc, o.url) != NATS_OK) {
        fprintf(stderr, "bench-converge: cannot connect to %s\n", o.url);
        return 1;
    }
    outcome r = {.per = o.machines / o.connections};
    o.machines = r.per * o.connections;
    if (connections_create(&o) != 0)
        return 1;
    sleep_ms(500); /* let the probes' status writes settle before measuring */
    r.small_alone = small_infra_s("small-alone", o.connections, 60);
    if (measure(&o, &r) != 0)
        return 1;
    report_print(&o, &r);
    natsConnection_Destroy(nc);
    nats_Close();
    return 0;
}
