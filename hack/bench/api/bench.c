/*
 * bench.c - the API benchmark driven by hack/bench/api.sh (read that first).
 *
 * Against a running nats-server and kumod it measures, in one run:
 *   echo     a bare NATS request-reply echo with the same payload (the floor),
 *            1 client: p50/p99; 64 clients: requests/s
 *   fsync    4 KiB write + fdatasync on the disk of the data directory, median
 *   apply    apply round trip (a real write: each apply changes a label),
 *            1 client: p50/p99; 64 clients: applies/s
 *   events   commit-to-watcher latency (receive time - Kumo-Commit-Time) of
 *            events while applies arrive at a steady --event-rate per second
 * and prints one human line per figure and the summary line
 *   BENCH api ratio=<apply p50/(echo p50 + fsync)> applies_per_s=<n> event_p99_ms=<ms>
 *
 * Usage: bench --nats URL --dir DIR [--seconds S] [--clients N] [--event-rate R]
 *              [--only latency|throughput|events]   (profiling: one phase, no BENCH line)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hack/bench/timing.h"

static const char *nats_url;
static const char *data_dir;
static double seconds = 5;
static int clients = 64;
static int event_rate = 10000;
static const char *only; /* NULL: every phase */

static natsConnection *connect_or_die(void)
{
    natsConnection *nc = NULL;
    natsStatus st = natsConnection_ConnectTo(&nc, nats_url);
    if (st != NATS_OK) {
        fprintf(stderr, "bench: cannot connect to %s: %s\n", nats_url, natsStatus_GetText(st));
        exit(1);
    }
    return nc;
}

/* The apply body: object `name`, label seq=<seq> so that every apply is a real write. */
static int apply_body(char *buf, size_t size, const char *name, long seq)
{
    return snprintf(buf, size,
                    "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\","
                    "\"metadata\":{\"name\":\"%s\",\"namespace\":\"bench\",\"labels\":{"
                    "\"app\":\"bench\",\"seq\":\"s%ld\"}},\"spec\":{\"driver\":\"sim\","
                    "\"provider\":\"aws\",\"region\":\"us-east-1\"}}",
                    name, seq);
}

/* One request; returns the round trip in seconds, or -1 when it failed. */
static double request(natsConnection *nc, const char *subject, const char *body, int len,
                      int check_code)
{
    natsMsg *reply = NULL;
    double t0 = now_s();
    natsStatus st = natsConnection_Request(&reply, nc, subject, body, len, 5000);
    double t = now_s() - t0;
    int ok = st == NATS_OK;
    if (ok && check_code) {
        const char *code = NULL;
        ok = natsMsgHeader_Get(reply, "Kumo-Code", &code) == NATS_OK && code != NULL &&
             (strcmp(code, "200") == 0 || strcmp(code, "201") == 0);
        if (!ok)
            fprintf(stderr, "bench: apply failed: %s %.200s\n", code ? code : "?",
                    natsMsg_GetData(reply));
    }
    natsMsg_Destroy(reply);
    return ok ? t : -1;
}

/* ---- the echo peer ---- */

static void echo_handler(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                           natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/* ---- latency with one client ---- */

static void latency(const char *what, const char *subject, int is_apply, int count, double *p50,
                    double *p99)
{
    natsConnection *nc = connect_or_die();
    double *t = malloc((size_t)count * sizeof(*t));
    size_t n = 0;
    char body[1024];
    for (int i = -200; i < count; i++) { /* 200 warm-up requests */
        int len = apply_body(body, sizeof(body), "lat", i + 1000000L * is_apply);
        double rt = request(nc, subject, body, len, is_apply);
        if (i >= 0 && rt >= 0)
            t[n++] = rt;
    }
    *p50 = percentile(t, n, 0.50) * 1e3;
    *p99 = percentile(t, n, 0.99) * 1e3;
    printf("%-7s 1 client: p50=%.3f ms p99=%.3f ms (%zu requests)\n", what, *p50, *p99, n);
    free(t);
    natsConnection_Destroy(nc);
}

/* ---- throughput with many clients ---- */

/* Clients share connections, CLIENTS_PER_CONNECTION each (nats.c multiplexes requests). */
#define CLIENTS_PER_CONNECTION 8

typedef struct client {
    pthread_t thread;
    natsConnection *nc;
    int id;
    const char *subject;
    int is_apply;
    volatile int *stop;
    long done, failed;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    natsConnection *nc = c->nc;
    char body[1024], name[32];
    for (long i = 0; !*c->stop; i++) {
        snprintf(name, sizeof(name), "c%d-%ld", c->id, i % 50);
        int len = apply_body(body, sizeof(body), name, i);
        if (request(nc, c->subject, body, len, c->is_apply) >= 0)
            c->done++;
        else
            c->failed++;
    }
    return NULL;
}

static double throughput(const char *what, const char *subject, int is_apply)
{
    client *cs = calloc((size_t)clients, sizeof(*cs));
    int connections = (clients + CLIENTS_PER_CONNECTION - 1) / CLIENTS_PER_CONNECTION;
    natsConnection **ncs = calloc((size_t)connections, sizeof(*ncs));
    for (int i = 0; i < connections; i++)
        ncs[i] = connect_or_die();
    volatile int stop = 0;
    for (int i = 0; i < clients; i++) {
        cs[i] = (client){.id = i,
                         .nc = ncs[i / CLIENTS_PER_CONNECTION],
                         .subject = subject,
                         .is_apply = is_apply,
                         .stop = &stop};
        pthread_create(&cs[i].thread, NULL, client_main, &cs[i]);
    }
    struct timespec warm = {1, 0};
    nanosleep(&warm, NULL);
    long start_done = 0;
    for (int i = 0; i < clients; i++)
        start_done += cs[i].done;
    double t0 = now_s();
    struct timespec run = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&run, NULL);
    long end_done = 0, failed = 0;
    for (int i = 0; i < clients; i++)
        end_done += cs[i].done;
    double elapsed = now_s() - t0;
    stop = 1;
    for (int i = 0; i < clients; i++) {
        pthread_join(cs[i].thread, NULL);
        failed += cs[i].failed;
    }
    double rate = (double)(end_done - start_done) / elapsed;
    printf("%-7s %d clients on %d connections: %.0f requests/s (%ld failed)\n", what, clients,
           connections, rate, failed);
    for (int i = 0; i < connections; i++)
        natsConnection_Destroy(ncs[i]);
    free(ncs);
    free(cs);
    return rate;
}

/* ---- fsync on the data directory's disk ---- */

static double fsync_ms(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/fsync-probe", data_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return 0;
    }
    char block[4096];
    memset(block, 'k', sizeof(block));
    enum { ROUNDS = 200 };
    double t[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        if (pwrite(fd, block, sizeof(block), (off_t)(i % 16) * 4096) != (ssize_t)sizeof(block))
            break;
        double t0 = now_s();
        fdatasync(fd);
        t[i] = now_s() - t0;
    }
    close(fd);
    unlink(path);
    double median = percentile(t, ROUNDS, 0.5) * 1e3;
    printf("fsync   4 KiB write + fdatasync: median=%.3f ms\n", median);
    return median;
}

/* ---- commit-to-watcher event latency ---- */

typedef struct watch_stats {
    pthread_mutex_t lock;
    double *latency_ms;
    size_t count, cap;
} watch_stats;

static void on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    int64_t received = realtime_ns();
    watch_stats *w = closure;
    const char *commit = NULL;
    if (natsMsgHeader_Get(msg, "Kumo-Commit-Time", &commit) == NATS_OK && commit != NULL) {
        double ms = (double)(received - strtoll(commit, NULL, 10)) / 1e6;
        pthread_mutex_lock(&w->lock);
        if (w->count < w->cap)
            w->latency_ms[w->count++] = ms;
        pthread_mutex_unlock(&w->lock);
    }
    natsMsg_Destroy(msg);
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    long *failed = closure;
    const char *code = NULL;
    if (natsMsgHeader_Get(msg, "Kumo-Code", &code) != NATS_OK || code == NULL ||
        (strcmp(code, "200") != 0 && strcmp(code, "201") != 0))
        __atomic_add_fetch(failed, 1, __ATOMIC_RELAXED);
    natsMsg_Destroy(msg);
}

static double event_latency(void)
{
    watch_stats w = {.cap = (size_t)(event_rate * (seconds + 2))};
    pthread_mutex_init(&w.lock, NULL);
    w.latency_ms = malloc(w.cap * sizeof(*w.latency_ms));
    natsConnection *watcher = connect_or_die(), *writer = connect_or_die();
    natsSubscription *events = NULL, *replies = NULL;
    long failed = 0;
    natsConnection_Subscribe(&events, watcher, "kumo.v1.events.connections.bench.*", on_event, &w);
    natsSubscription_SetPendingLimits(events, -1, -1);
    natsConnection_Subscribe(&replies, writer, "bench.replies", on_reply, &failed);
    natsSubscription_SetPendingLimits(replies, -1, -1);
    natsConnection_Flush(watcher);
    natsConnection_Flush(writer);

    /* Applies at a steady rate, spread over 64 objects, without waiting for replies. */
    long total = (long)(event_rate * seconds);
    double start = now_s();
    char body[1024], name[32];
    for (long i = 0; i < total; i++) {
        double due = start + (double)i / event_rate;
        double wait = due - now_s();
        if (wait > 0) {
            struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
        }
        snprintf(name, sizeof(name), "ev%ld", i % 64);
        int len = apply_body(body, sizeof(body), name, i + 5000000);
        natsConnection_PublishRequest(writer, "kumo.v1.api.apply.connections.bench",
                                      "bench.replies", body, len);
    }
    double sent_for = now_s() - start;
    natsConnection_Flush(writer);
    /* every event should arrive: wait for the last ones (up to 10 s) */
    double settle_until = now_s() + 10;
    for (;;) {
        pthread_mutex_lock(&w.lock);
        size_t have = w.count;
        pthread_mutex_unlock(&w.lock);
        if ((long)have >= total || now_s() > settle_until)
            break;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    natsSubscription_Unsubscribe(events);
    pthread_mutex_lock(&w.lock);
    size_t n = w.count;
    double p50 = percentile(w.latency_ms, n, 0.50), p99 = percentile(w.latency_ms, n, 0.99);
    double max = n ? w.latency_ms[n - 1] : 0;
    pthread_mutex_unlock(&w.lock);
    printf("events  at %.0f applies/s (asked %d/s): commit-to-watcher p50=%.3f ms p99=%.3f ms "
           "max=%.3f ms (%zu of %ld events, %ld failed applies)\n",
           (double)total / sent_for, event_rate, p50, p99, max, n, total, failed);
    natsSubscription_Destroy(events);
    natsSubscription_Destroy(replies);
    natsConnection_Destroy(watcher);
    natsConnection_Destroy(writer);
    free(w.latency_ms);
    pthread_mutex_destroy(&w.lock);
    return n > 0 ? p99 : -1;
}

static int parse(int argc, char **argv)
{
    static const struct option options[] = {
        {"nats", required_argument, NULL, 'n'},
        {"dir", required_argument, NULL, 'd'},
        {"seconds", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"event-rate", required_argument, NULL, 'r'},
        {"only", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            nats_url = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 's':
            seconds = strtod(optarg, NULL);
            break;
        case 'c':
            clients = (int)strtol(optarg, NULL, 10);
            break;
        case 'r':
            event_rate = (int)strtol(optarg, NULL, 10);
            break;
        case 'o':
            only = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench --nats URL --dir DIR [--seconds S] [--clients N] "
                            "[--event-rate R]\n");
            return -1;
        }
    }
    if (nats_url == NULL || data_dir == NULL || seconds <= 0 || clients < 1 || event_rate < 1) {
        fprintf(stderr, "bench: --nats and --dir are required\n");
        return -1;
    }
    return 0;
}

/* The echo peer: one subscription, replies sent at once (SendAsap, as a replier should be
 * configured; buffered replies would wait for nats.c's flusher and flatter kumod). Returns 0
 * with *nc and *sub set, or -1. */
static int echo_peer_start(natsConnection **nc, natsSubscription **sub)
{
    natsOptions *opts = NULL;
    if (natsOptions_Create(&opts) != NATS_OK || natsOptions_SetURL(opts, nats_url) ||
        natsOptions_SetSendAsap(opts, true) || natsConnection_Connect(nc, opts) != NATS_OK) {
        fprintf(stderr, "bench: cannot connect the echo peer to %s\n", nats_url);
        natsOptions_Destroy(opts);
        return -1;
    }
    natsOptions_Destroy(opts);
    natsConnection_Subscribe(sub, *nc, "bench.echo", echo_handler, NULL);
    natsSubscription_SetPendingLimits(*sub, -1, -1);
    natsConnection_Flush(*nc);
    return 0;
}

/* --only PHASE: one phase alone, for profiling (no BENCH line). */
static void phase_run(const char *phase)
{
    double a, b;
    if (strcmp(phase, "latency") == 0) {
        latency("echo", "bench.echo", 0, 5000, &a, &b);
        latency("apply", "kumo.v1.api.apply.connections.bench", 1, 5000, &a, &b);
    } else if (strcmp(phase, "throughput") == 0) {
        throughput("echo", "bench.echo", 0);
        throughput("apply", "kumo.v1.api.apply.connections.bench", 1);
    } else {
        event_latency();
    }
}

/* Every phase, the goals and the BENCH line. */
static void all_run(void)
{
    double echo_p50, echo_p99, apply_p50, apply_p99;
    latency("echo", "bench.echo", 0, 5000, &echo_p50, &echo_p99);
    double sync_ms = fsync_ms();
    latency("apply", "kumo.v1.api.apply.connections.bench", 1, 5000, &apply_p50, &apply_p99);
    throughput("echo", "bench.echo", 0);
    double applies = throughput("apply", "kumo.v1.api.apply.connections.bench", 1);
    double event_p99 = event_latency();

    double floor = echo_p50 + sync_ms;
    double ratio = floor > 0 ? apply_p50 / floor : 0;
    printf("goals: apply p50 %.3f ms <= 2 x (echo p50 %.3f + fsync %.3f) = %.3f ms: %s; "
           "%.0f applies/s >= 50000: %s; event p99 %.3f ms <= 2 ms: %s\n",
           apply_p50, echo_p50, sync_ms, 2 * floor, ratio <= 2 ? "met" : "NOT met", applies,
           applies >= 50000 ? "met" : "NOT met", event_p99,
           event_p99 >= 0 && event_p99 <= 2 ? "met" : "NOT met");
    printf("BENCH api ratio=%.2f applies_per_s=%.0f event_p99_ms=%.3f\n", ratio, applies,
           event_p99);
}

int main(int argc, char **argv)
{
    if (parse(argc, argv) != 0)
        return 2;
    natsConnection *echo_nc = NULL;
    natsSubscription *echo_sub = NULL;
    if (echo_peer_start(&echo_nc, &echo_sub) != 0)
        return 1;
    if (only != NULL)
        phase_run(only);
    else
        all_run();
    natsSubscription_Destroy(echo_sub);
    natsConnection_Destroy(echo_nc);
    nats_Close();
    return 0;
}
