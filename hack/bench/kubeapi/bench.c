/*
 * bench.c - the Kubernetes-compatible API benchmark driven by
 * hack/bench/kubeapi.sh (read that first).
 *
 * Against a running nats-server and kumod (--http-listen) it measures, in
 * one run:
 *   get      GET of one object: HTTPS with keep-alive (libcurl) and the same
 *            over NATS request-reply, 1 client each: p50/p99
 *   list     one list of 10,000 Machines as a meta.k8s.io Table over HTTPS
 *   watch    commit -> watcher latency of events over an HTTPS watch and over
 *            a NATS subscription, the same commits seen by both, at 500
 *            applies/s: p99
 *   applies  server-side applies/s with 32 concurrent HTTPS clients
 * and ends with
 *   BENCH kubeapi get_ratio=<https p50/nats p50> list10k_s=<s> watch_p99_ms=<ms>
 *         nats_watch_p99_ms=<ms> applies_per_s=<n> ...
 *
 * Usage: bench --nats URL --https URL --dir DATA_DIR [--seconds S]
 */
#include <curl/curl.h>
#include <getopt.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hack/bench/timing.h"

#define GROUP_PATH "/apis/kumo.dev/v1alpha1/namespaces/default/"
#define MACHINES   10000
#define CLIENTS    32

static const char *nats_url, *https_url, *data_dir;
static double seconds = 5;
static char ca[1024], auth[200];

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    size_t *total = arg;
    if (total)
        *total += size * n;
    return size * n;
}

static CURL *https_handle(const char *path, struct curl_slist *headers, size_t *received)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", https_url, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, received);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    return c;
}

static long perform(CURL *c)
{
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static natsConnection *connect_nats(void)
{
    natsConnection *nc = NULL;
    if (natsConnection_ConnectTo(&nc, nats_url) != NATS_OK) {
        fprintf(stderr, "bench: cannot connect to %s\n", nats_url);
        exit(1);
    }
    return nc;
}

static int nats_request(natsConnection *nc, const char *subject, const char *name, const char *body)
{
    natsMsg *m = NULL, *reply = NULL;
    natsMsg_Create(&m, subject, NULL, body, body ? (int)strlen(body) : 0);
    if (name)
        natsMsgHeader_Set(m, "Kumo-Name", name);
    int ok = natsConnection_RequestMsg(&reply, nc, m, 10000) == NATS_OK;
    const char *code = NULL;
    if (ok && natsMsgHeader_Get(reply, "Kumo-Code", &code) == NATS_OK)
        ok = code[0] == '2';
    natsMsg_Destroy(m);
    natsMsg_Destroy(reply);
    return ok;
}

static void connection_body(char *buf, size_t size, const char *name, const char *label)
{
    snprintf(buf, size,
             "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\",\"metadata\":"
             "{\"name\":\"%s\",\"namespace\":\"default\",\"labels\":{\"t\":\"%s\"}},\"spec\":"
             "{\"driver\":\"sim\",\"provider\":\"aws\",\"region\":\"us-east-1\"}}",
             name, label);
}

/* ---- get: HTTPS vs NATS ---- */

static void get_latency(double *https50, double *https99, double *nats50, double *nats99)
{
    enum { N = 3000 };
    static double h[N], n[N];
    char body[512];
    connection_body(body, sizeof(body), "bench-get", "0");
    natsConnection *nc = connect_nats();
    nats_request(nc, "kumo.v1.api.apply.connections.default", NULL, body);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    CURL *c = https_handle(GROUP_PATH "connections/bench-get", headers, NULL);
    for (int i = 0; i < N / 10; i++) /* warm up both (TLS handshake, caches) */
        perform(c), nats_request(nc, "kumo.v1.api.get.connections.default", "bench-get", NULL);
    for (int i = 0; i < N; i++) {
        double t0 = now_s();
        if (perform(c) != 200)
            fprintf(stderr, "bench: HTTPS GET failed\n");
        double t1 = now_s();
        nats_request(nc, "kumo.v1.api.get.connections.default", "bench-get", NULL);
        double t2 = now_s();
        h[i] = (t1 - t0) * 1000, n[i] = (t2 - t1) * 1000;
    }
    *https50 = percentile(h, N, 0.5), *https99 = percentile(h, N, 0.99);
    *nats50 = percentile(n, N, 0.5), *nats99 = percentile(n, N, 0.99);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    natsConnection_Destroy(nc);
}

/* ---- list 10,000 Machines as a Table ---- */

typedef struct loader {
    int from, to;
} loader;

static void *load_main(void *arg)
{
    loader *l = arg;
    natsConnection *nc = connect_nats();
    char body[768];
    for (int i = l->from; i < l->to; i++) {
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Machine\",\"metadata\":{"
                 "\"name\":\"m%05d\",\"namespace\":\"default\",\"labels\":{\"bench\":\"list\"}},"
                 "\"spec\":{\"connection\":\"bench-get\",\"instanceType\":\"t3.micro\","
                 "\"image\":\"ubuntu-22.04\"}}",
                 i);
        nats_request(nc, "kumo.v1.api.apply.machines.default", NULL, body);
    }
    natsConnection_Destroy(nc);
    return NULL;
}

static double list_table(size_t *bytes)
{
    pthread_t threads[CLIENTS];
    loader parts[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        parts[i].from = i * MACHINES / CLIENTS, parts[i].to = (i + 1) * MACHINES / CLIENTS;
        pthread_create(&threads[i], NULL, load_main, &parts[i]);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(threads[i], NULL);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Accept: application/json;as=Table;v=v1;g=meta.k8s.io,"
                                         "application/json");
    CURL *c = https_handle(GROUP_PATH "machines?limit=10000", headers, bytes);
    perform(c); /* warm */
    *bytes = 0;
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        *bytes = 0;
        double t0 = now_s();
        perform(c);
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    return best;
}

/* ---- watch latency: the same commits seen over HTTPS and NATS ----
 * NATS events carry Kumo-Revision and Kumo-Commit-Time (the server's clock at
 * the commit); HTTPS events carry the revision as resourceVersion. Receive
 * times are kept per revision and matched at the end, so both latencies are
 * commit -> watcher for the same commits. */

#define SLOTS 65536

typedef struct slot {
    int64_t revision, commit_ns, https_ns, nats_ns;
} slot;

static slot *slots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int watch_stop;

static slot *slot_of(int64_t revision)
{
    slot *s = &slots[revision % SLOTS];
    if (s->revision != revision)
        memset(s, 0, sizeof(*s)), s->revision = revision;
    return s;
}

static size_t on_watch_data(char *data, size_t size, size_t n, void *arg)
{
    (void)arg;
    static char line[65536];
    static size_t len;
    int64_t now = realtime_ns();
    for (size_t i = 0; i < size * n; i++) {
        if (data[i] != '\n') {
            if (len + 1 < sizeof(line))
                line[len++] = data[i];
            continue;
        }
        line[len] = '\0';
        len = 0;
        const char *rv = strstr(line, "\"resourceVersion\":\"");
        if (rv == NULL || strncmp(line, "{\"type\":\"BOOKMARK\"", 19) == 0)
            continue;
        pthread_mutex_lock(&slots_lock);
        slot_of(strtoll(rv + 19, NULL, 10))->https_ns = now;
        pthread_mutex_unlock(&slots_lock);
    }
    return watch_stop ? 0 : size * n;
}

/* Ends the watch transfer once the run is over, also when no data arrives. */
static int watch_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)arg, (void)a, (void)b, (void)c, (void)d;
    return watch_stop;
}

static void *https_watch_main(void *arg)
{
    (void)arg;
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    CURL *c =
        https_handle(GROUP_PATH "connections?watch=true&labelSelector=w%3Dbench", headers, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_watch_data);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 0L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    return NULL;
}

static void on_nats_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub, (void)closure;
    int64_t now = realtime_ns();
    const char *rev = NULL, *commit = NULL;
    if (natsMsgHeader_Get(msg, "Kumo-Revision", &rev) == NATS_OK &&
        natsMsgHeader_Get(msg, "Kumo-Commit-Time", &commit) == NATS_OK) {
        pthread_mutex_lock(&slots_lock);
        slot *s = slot_of(strtoll(rev, NULL, 10));
        s->nats_ns = now;
        s->commit_ns = strtoll(commit, NULL, 10);
        pthread_mutex_unlock(&slots_lock);
    }
    natsMsg_Destroy(msg);
}

static void watch_latency(double *https99, double *nats99, size_t *count)
{
    slots = calloc(SLOTS, sizeof(*slots));
    natsConnection *nc = connect_nats(), *events = connect_nats();
    natsSubscription *sub = NULL;
    natsConnection_Subscribe(&sub, events, "kumo.v1.events.connections.default.*", on_nats_event,
                             NULL);
    natsConnection_Flush(events);
    pthread_t watcher;
    pthread_create(&watcher, NULL, https_watch_main, NULL);
    struct timespec pause = {0, 300 * 1000000};
    nanosleep(&pause, NULL);
    int rate = 500;
    double start = now_s();
    char body[768], name[32];
    for (long i = 0; now_s() < start + seconds; i++) {
        while (now_s() < start + (double)i / rate) {
            struct timespec tick = {0, 200000};
            nanosleep(&tick, NULL);
        }
        snprintf(name, sizeof(name), "bw-%ld", i % 50);
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\",\"metadata\":"
                 "{\"name\":\"%s\",\"namespace\":\"default\",\"labels\":{\"w\":\"bench\","
                 "\"seq\":\"%ld\"}},\"spec\":{\"driver\":\"sim\",\"provider\":\"aws\","
                 "\"region\":\"us-east-1\"}}",
                 name, i);
        natsMsg *m = NULL;
        natsMsg_Create(&m, "kumo.v1.api.apply.connections.default", "bench.void", body,
                       (int)strlen(body));
        natsConnection_PublishMsg(nc, m); /* no waiting for the reply: a steady rate */
        natsMsg_Destroy(m);
    }
    nanosleep(&pause, NULL);
    nanosleep(&pause, NULL);
    watch_stop = 1;
    pthread_join(watcher, NULL);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(events);
    natsConnection_Destroy(nc);
    double *h = calloc(SLOTS, sizeof(double)), *n = calloc(SLOTS, sizeof(double));
    size_t hn = 0, nn = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        if (slots[i].commit_ns == 0)
            continue;
        if (slots[i].https_ns > 0)
            h[hn++] = (double)(slots[i].https_ns - slots[i].commit_ns) / 1e6;
        n[nn++] = (double)(slots[i].nats_ns - slots[i].commit_ns) / 1e6;
    }
    *count = hn;
    *https99 = percentile(h, hn, 0.99);
    *nats99 = percentile(n, nn, 0.99);
    free(h), free(n), free(slots);
}

/* ---- server-side applies/s with 32 HTTPS clients ---- */

static volatile int applies_stop;

static void *apply_main(void *arg)
{
    long id = (long)(intptr_t)arg, done = 0;
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/apply-patch+yaml");
    char path[256], name[32], body[768], seq[32];
    snprintf(name, sizeof(name), "ba-%ld", id);
    snprintf(path, sizeof(path), GROUP_PATH "connections/%s?fieldManager=bench&force=true", name);
    CURL *c = https_handle(path, headers, NULL);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
    while (!applies_stop) {
        snprintf(seq, sizeof(seq), "%ld", done);
        connection_body(body, sizeof(body), name, seq);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        long code = perform(c);
        if (code == 200 || code == 201)
            done++;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    return (void *)(intptr_t)done;
}

static double applies_per_s(void)
{
    pthread_t threads[CLIENTS];
    for (long i = 0; i < CLIENTS; i++)
        pthread_create(&threads[i], NULL, apply_main, (void *)(intptr_t)i);
    double t0 = now_s();
    struct timespec total = {(time_t)seconds, 0};
    nanosleep(&total, NULL);
    applies_stop = 1;
    long sum = 0;
    for (int i = 0; i < CLIENTS; i++) {
        void *done;
        pthread_join(threads[i], &done);
        sum += (long)(intptr_t)done;
    }
    return (double)sum / (now_s() - t0);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"nats", required_argument, NULL, 'n'},
                                            {"https", required_argument, NULL, 'h'},
                                            {"dir", required_argument, NULL, 'd'},
                                            {"seconds", required_argument, NULL, 's'},
                                            {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (c == 'n')
            nats_url = optarg;
        else if (c == 'h')
            https_url = optarg;
        else if (c == 'd')
            data_dir = optarg;
        else if (c == 's')
            seconds = strtod(optarg, NULL);
        else
            return 2;
    }
    if (!nats_url || !https_url || !data_dir) {
        fprintf(stderr, "usage: bench --nats URL --https URL --dir DATA_DIR [--seconds S]\n");
        return 2;
    }
    snprintf(ca, sizeof(ca), "%s/kubeapi/ca.crt", data_dir);
    char path[1100], token[128] = "";
    snprintf(path, sizeof(path), "%s/kubeapi/token", data_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(token, sizeof(token), f) == NULL) {
        fprintf(stderr, "bench: cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    curl_global_init(CURL_GLOBAL_ALL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    double h50, h99, n50, n99;
    get_latency(&h50, &h99, &n50, &n99);
    printf("get one object: HTTPS p50 %.3f ms p99 %.3f ms; NATS p50 %.3f ms p99 %.3f ms\n", h50,
           h99, n50, n99);
    size_t bytes = 0;
    double list_s = list_table(&bytes);
    printf("list %d Machines as a Table over HTTPS: %.3f s (%zu bytes)\n", MACHINES, list_s, bytes);
    double w_https, w_nats;
    size_t events = 0;
    watch_latency(&w_https, &w_nats, &events);
    printf("commit -> watcher p99 at 500 applies/s: HTTPS %.2f ms, NATS %.2f ms (%zu events)\n",
           w_https, w_nats, events);
    double aps = applies_per_s();
    printf("server-side applies/s over HTTPS, %d clients: %.0f\n", CLIENTS, aps);
    printf("BENCH kubeapi get_ratio=%.2f list10k_s=%.3f watch_p99_ms=%.2f nats_watch_p99_ms=%.2f "
           "applies_per_s=%.0f https_get_p50_ms=%.3f nats_get_p50_ms=%.3f\n",
           n50 > 0 ? h50 / n50 : 0, list_s, w_https, w_nats, aps, h50, n50);
    curl_global_cleanup();
    return 0;
}
