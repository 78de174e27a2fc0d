/*
 * store_bench.c - kumo's store against etcd, in the same run, on the same disk.
 *
 *   store_bench --dir DIR [--etcd http://127.0.0.1:PORT] [--seconds S]
 *               [--objects N] [--list N]
 *
 * 1. Durable writes of 1 KiB objects at 1, 16 and 64 concurrent writers, for
 *    S seconds each: kumo (threads calling kumo_store_create; a create returns
 *    once its transaction is synced) and etcd (threads POSTing the same bytes
 *    to its v3 JSON gateway /v3/kv/put, one keep-alive libcurl handle each;
 *    etcd answers once its WAL is fsync'd). Throughput, p50 and p99.
 * 2. Loads N objects (default 1,000,000; one namespace holds --list of them),
 *    times listing that namespace (median of 5) and 100,000 random gets.
 * Prints human lines, then one `BENCH store ...` line. Exit 0 when it ran.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/network.pb-c.h"
#include "apis/log/log.h"
#include "apis/object/object.h"
#include "hack/bench/timing.h"
#include "store/store.h"

static char *dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    memcpy(d, s, n);
    return d;
}

/* A Network of about 1 KiB packed. */
static ProtobufCMessage *make_object(const char *ns, const char *name, size_t pad)
{
    ProtobufCMessage *obj = kumo_object_new(kumo_object_kind_lookup("Network"));
    Kumo__V1alpha1__Network *n = (Kumo__V1alpha1__Network *)obj;
    n->metadata->name = dup(name);
    n->metadata->namespace_ = dup(ns);
    n->metadata->n_labels = 1;
    n->metadata->labels = malloc(sizeof(*n->metadata->labels));
    n->metadata->labels[0] = malloc(sizeof(**n->metadata->labels));
    kumo__v1alpha1__object_meta__labels_entry__init(n->metadata->labels[0]);
    n->metadata->labels[0]->key = dup("app");
    n->metadata->labels[0]->value = dup("bench");
    n->metadata->n_annotations = 1;
    n->metadata->annotations = malloc(sizeof(*n->metadata->annotations));
    n->metadata->annotations[0] = malloc(sizeof(**n->metadata->annotations));
    kumo__v1alpha1__object_meta__annotations_entry__init(n->metadata->annotations[0]);
    n->metadata->annotations[0]->key = dup("kumo.dev/payload");
    char *payload = malloc(pad + 1);
    size_t salt = strlen(name);
    for (size_t i = 0; i < pad; i++)
        payload[i] = (char)('a' + (i * 7 + salt) % 26);
    payload[pad] = '\0';
    n->metadata->annotations[0]->value = payload;
    n->spec = malloc(sizeof(*n->spec));
    kumo__v1alpha1__network_spec__init(n->spec);
    n->spec->connection = dup("aws-us-east-1");
    n->spec->cidr = dup("10.0.0.0/16");
    return obj;
}

/* ---- the write phase --------------------------------------------------------------- */

typedef struct worker {
    int id;
    int level;
    int run; /* which run_level call: names never repeat across rounds */
    double end;
    kumo_store *store;
    CURL *curl;
    const char *etcd;
    double *lat;
    size_t count, cap;
    size_t errors;
    char err[256];
} worker;

static void record(worker *w, double seconds)
{
    if (w->count == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->lat = realloc(w->lat, w->cap * sizeof(double));
    }
    w->lat[w->count++] = seconds;
}

static void *kumo_writer(void *arg)
{
    worker *w = arg;
    for (long i = 0; now_s() < w->end; i++) {
        char name[64];
        snprintf(name, sizeof(name), "w%d-r%d-%d-%ld", w->level, w->run, w->id, i);
        ProtobufCMessage *obj = make_object("bench", name, 900);
        kumo_diag d;
        kumo_diag_init(&d);
        double t0 = now_s();
        kumo_error err = kumo_store_create(w->store, obj, NULL, NULL, &d);
        double t1 = now_s();
        if (err == KUMO_ERROR_OK)
            record(w, t1 - t0);
        else if (w->errors++ == 0)
            snprintf(w->err, sizeof(w->err), "%.200s", d.message);
        kumo_diag_fini(&d);
        kumo_object_destroy(obj);
    }
    return NULL;
}

static size_t sink(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    char *buf = ctx;
    size_t n = size * nmemb, have = strlen(buf);
    size_t room = 511 - have;
    memcpy(buf + have, ptr, n < room ? n : room);
    buf[have + (n < room ? n : room)] = '\0';
    return n;
}

static void *etcd_writer(void *arg)
{
    worker *w = arg;
    char url[256];
    snprintf(url, sizeof(url), "%s/v3/kv/put", w->etcd);
    CURL *c = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    char reply[512];
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    uint8_t *packed = malloc(4096);
    char *b64 = malloc(8192), *body = malloc(16384);
    for (long i = 0; now_s() < w->end; i++) {
        char name[64];
        snprintf(name, sizeof(name), "w%d-r%d-%d-%ld", w->level, w->run, w->id, i);
        /* the same bytes kumo stores: the packed object */
        ProtobufCMessage *obj = make_object("bench", name, 900);
        size_t n = protobuf_c_message_pack(obj, packed);
        kumo_object_destroy(obj);
        char key[128], kb64[256];
        int klen = snprintf(key, sizeof(key), "/kumo/networks/bench/%s", name);
        EVP_EncodeBlock((unsigned char *)kb64, (const unsigned char *)key, klen);
        EVP_EncodeBlock((unsigned char *)b64, packed, (int)n);
        snprintf(body, 16384, "{\"key\":\"%s\",\"value\":\"%s\"}", kb64, b64);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        reply[0] = '\0';
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(c);
        double t1 = now_s();
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status == 200 && strstr(reply, "\"header\"") != NULL)
            record(w, t1 - t0);
        else if (w->errors++ == 0)
            snprintf(w->err, sizeof(w->err), "curl %d http %ld %.200s", (int)rc, status, reply);
    }
    free(packed);
    free(b64);
    free(body);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return NULL;
}

typedef struct result {
    double per_s, p50_ms, p99_ms;
    size_t ops, errors;
} result;

static result run_level(const char *what, int level, double seconds, kumo_store *store,
                        const char *etcd)
{
    static int runs;
    int run = runs++;
    worker *w = calloc((size_t)level, sizeof(*w));
    pthread_t *th = calloc((size_t)level, sizeof(*th));
    double start = now_s(), end = start + seconds;
    for (int i = 0; i < level; i++) {
        w[i] =
            (worker){.id = i, .level = level, .run = run, .end = end, .store = store, .etcd = etcd};
        pthread_create(&th[i], NULL, store ? kumo_writer : etcd_writer, &w[i]);
    }
    size_t total = 0, errors = 0;
    for (int i = 0; i < level; i++) {
        pthread_join(th[i], NULL);
        total += w[i].count;
        errors += w[i].errors;
    }
    double took = now_s() - start;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < level; i++) {
        memcpy(all + k, w[i].lat, w[i].count * sizeof(double));
        k += w[i].count;
        if (w[i].errors && i == 0)
            fprintf(stderr, "%s: %zu errors, first: %s\n", what, w[i].errors, w[i].err);
        free(w[i].lat);
    }
    qsort(all, total, sizeof(double), bench_cmp_double);
    result r = {(double)total / took, percentile(all, total, 0.5) * 1e3,
                percentile(all, total, 0.99) * 1e3, total, errors};
    printf("%-5s writers=%-3d writes=%-8zu writes/s=%-9.0f p50=%.3f ms p99=%.3f ms errors=%zu\n",
           what, level, total, r.per_s, r.p50_ms, r.p99_ms, errors);
    fflush(stdout);
    free(all);
    free(w);
    free(th);
    return r;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return v[n / 2];
}

/* Field-wise medians of several rounds. */
static result median_result(const result *r, int n)
{
    double a[16], b[16], c[16];
    for (int i = 0; i < n; i++) {
        a[i] = r[i].per_s;
        b[i] = r[i].p50_ms;
        c[i] = r[i].p99_ms;
    }
    result m = {median_of(a, n), median_of(b, n), median_of(c, n), 0, 0};
    return m;
}

/* ---- the read phase ------------------------------------------------------------------- */

/* Object `id`'s namespace and name (both 32 bytes): the first list_ns_count objects are in
 * "big", the one namespace listed; the others spread over 90 namespaces. */
static void object_key(size_t id, size_t list_ns_count, char *ns, char *name)
{
    if (id < list_ns_count)
        snprintf(ns, 32, "big");
    else
        snprintf(ns, 32, "ns-%03zu", id % 90);
    snprintf(name, 32, "obj-%07zu", id);
}

static void load(kumo_store *s, size_t objects, size_t list_ns_count)
{
    enum { CHUNK = 5000 };
    ProtobufCMessage **batch = malloc(CHUNK * sizeof(*batch));
    double start = now_s();
    size_t done = 0;
    while (done < objects) {
        size_t n = objects - done < CHUNK ? objects - done : CHUNK;
        for (size_t i = 0; i < n; i++) {
            char ns[32], name[32];
            object_key(done + i, list_ns_count, ns, name);
            batch[i] = make_object(ns, name, 900);
        }
        kumo_diag d;
        kumo_diag_init(&d);
        if (kumo_store_create_many(s, (const ProtobufCMessage *const *)batch, n, NULL, &d) !=
            KUMO_ERROR_OK)
            fprintf(stderr, "load: %s\n", d.message);
        kumo_diag_fini(&d);
        for (size_t i = 0; i < n; i++)
            kumo_object_destroy(batch[i]);
        done += n;
        if (done % 100000 == 0) {
            printf("load  %zu objects, %.0f objects/s\n", done, (double)done / (now_s() - start));
            fflush(stdout);
        }
    }
    free(batch);
    printf("load  %zu objects in %.1f s (%.0f objects/s)\n", objects, now_s() - start,
           (double)objects / (now_s() - start));
}

typedef struct options {
    const char *dir, *etcd;
    double seconds;
    int rounds;
    size_t objects, list_count;
    int only_level;
} options;

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.seconds = 3, .rounds = 3, .objects = 1000000, .list_count = 100000};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            o->dir = argv[++i];
        else if (strcmp(argv[i], "--etcd") == 0 && i + 1 < argc)
            o->etcd = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            o->seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--objects") == 0 && i + 1 < argc)
            o->objects = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--list") == 0 && i + 1 < argc)
            o->list_count = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            o->rounds = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc)
            o->only_level = (int)strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: store_bench --dir DIR [--etcd URL] [--seconds S] "
                            "[--objects N] [--list N] [--rounds R] [--level W]\n");
            return -1;
        }
    }
    if (o->dir == NULL) {
        fprintf(stderr, "store_bench: --dir is required\n");
        return -1;
    }
    if (o->rounds < 1)
        o->rounds = 1;
    return 0;
}

/* Opens a store in <dir>/<sub>; NULL with the reason on stderr. */
static kumo_store *store_open_in(const char *dir, const char *sub)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    kumo_store_options so;
    kumo_store_options_init(&so);
    so.path = path;
    kumo_store *s = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_store_open(&so, &s, &d) != KUMO_ERROR_OK)
        fprintf(stderr, "store_bench: %s\n", d.message);
    kumo_diag_fini(&d);
    return s;
}

enum { LEVELS = 3 };
static const int levels[LEVELS] = {1, 16, 64};

/* Durable writes at each level, kumo and etcd alternating round after round so that both see
 * the same disk weather; each figure is the median over the rounds. */
static void writes_compare(const options *o, kumo_store *s, result *kumo, result *et)
{
    memset(et, 0, LEVELS * sizeof(*et));
    memset(kumo, 0, LEVELS * sizeof(*kumo));
    for (int i = 0; i < LEVELS; i++) {
        if (o->only_level && levels[i] != o->only_level)
            continue;
        result kr[16], er[16];
        memset(er, 0, sizeof(er));
        int n = o->rounds < 16 ? o->rounds : 16;
        for (int r = 0; r < n; r++) {
            kr[r] = run_level("kumo", levels[i], o->seconds, s, NULL);
            if (o->etcd)
                er[r] = run_level("etcd", levels[i], o->seconds, NULL, o->etcd);
        }
        kumo[i] = median_result(kr, n);
        et[i] = median_result(er, n);
        printf("median of %d: writers=%d kumo %.0f/s p50 %.3f p99 %.3f ms | etcd %.0f/s p50 %.3f "
               "p99 %.3f ms | ratio %.1f\n",
               n, levels[i], kumo[i].per_s, kumo[i].p50_ms, kumo[i].p99_ms, et[i].per_s,
               et[i].p50_ms, et[i].p99_ms, et[i].per_s > 0 ? kumo[i].per_s / et[i].per_s : 0);
        fflush(stdout);
    }
}

/* The median seconds of 5 lists of namespace "big". */
static double list_median_s(kumo_store *s, const options *o)
{
    const kumo_object_kind *net = kumo_object_kind_lookup("Network");
    double runs[5];
    size_t listed = 0;
    kumo_diag d;
    kumo_diag_init(&d);
    for (int r = 0; r < 5; r++) {
        kumo_store_list_options lo = {"big", NULL, NULL, 0, NULL};
        kumo_store_list_result res;
        double t0 = now_s();
        if (kumo_store_list(s, net, &lo, &res, &d) != KUMO_ERROR_OK)
            fprintf(stderr, "list: %s\n", d.message);
        runs[r] = now_s() - t0;
        listed = res.count;
        kumo_store_list_result_fini(&res);
    }
    kumo_diag_fini(&d);
    qsort(runs, 5, sizeof(double), bench_cmp_double);
    printf("list  %zu objects of %zu: median %.3f s (min %.3f, max %.3f)\n", listed, o->objects,
           runs[2], runs[0], runs[4]);
    return runs[2];
}

/* One pass of random gets (pass 0: most pages not yet mapped in this process, page faults
 * included; pass 1: other random keys, mapped, as in a long-running server): p50 and p99 in
 * microseconds. */
static void gets_pass(kumo_store *s, const options *o, int pass, double *p50, double *p99)
{
    enum { GETS = 100000 };
    const kumo_object_kind *net = kumo_object_kind_lookup("Network");
    double *lat = malloc(GETS * sizeof(double));
    unsigned seed = 12345u + (unsigned)pass;
    size_t misses = 0;
    double gstart = now_s();
    for (int i = 0; i < GETS; i++) {
        char ns[32], name[32];
        object_key((size_t)rand_r(&seed) % o->objects, o->list_count, ns, name);
        ProtobufCMessage *got = NULL;
        double t0 = now_s();
        kumo_error err = kumo_store_get(s, net, ns, name, &got, NULL, NULL);
        lat[i] = now_s() - t0;
        misses += err != KUMO_ERROR_OK;
        kumo_object_destroy(got);
    }
    double gtook = now_s() - gstart;
    qsort(lat, GETS, sizeof(double), bench_cmp_double);
    *p50 = percentile(lat, GETS, 0.5) * 1e6;
    *p99 = percentile(lat, GETS, 0.99) * 1e6;
    printf("get   %d random of %zu (%s): p50 %.1f us, p99 %.1f us, %.0f gets/s, misses %zu\n", GETS,
           o->objects, pass ? "second pass" : "first pass", *p50, *p99, GETS / gtook, misses);
    free(lat);
}

/* What the read phase measured. */
typedef struct reads {
    double list_s, get_p50, get_p99, warm_p50, warm_p99;
} reads;

/* Reads: a fresh store with o->objects objects, a list, two passes of random gets. */
static int reads_measure(const options *o, reads *r)
{
    kumo_store *s = store_open_in(o->dir, "reads");
    if (s == NULL)
        return -1;
    load(s, o->objects, o->list_count);
    r->list_s = list_median_s(s, o);
    gets_pass(s, o, 0, &r->get_p50, &r->get_p99);
    gets_pass(s, o, 1, &r->warm_p50, &r->warm_p99);
    kumo_store_stats st;
    kumo_store_stats_get(s, &st, NULL);
    printf("disk  %.1f MiB for %zu objects (log %zu entries)\n", st.file_bytes / 1048576.0,
           st.objects, st.log_entries);
    kumo_store_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    kumo_log_set_level(KUMO_LOG_LEVEL_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    kumo_store *s = store_open_in(o.dir, "writes");
    if (s == NULL)
        return 1;
    ProtobufCMessage *probe = make_object("bench", "probe-0000000", 900);
    printf("object: %zu bytes packed\n", protobuf_c_message_get_packed_size(probe));
    kumo_object_destroy(probe);
    result kumo[LEVELS], et[LEVELS];
    writes_compare(&o, s, kumo, et);
    kumo_store_close(s);
    reads r;
    if (reads_measure(&o, &r) != 0)
        return 1;
    double ratio = et[2].per_s > 0 ? kumo[2].per_s / et[2].per_s : 0;
    printf("BENCH store kumo_w64_per_s=%.0f etcd_w64_per_s=%.0f ratio=%.1f kumo_w1_p99_ms=%.3f "
           "etcd_w1_p99_ms=%.3f list_100k_s=%.3f get_p99_us=%.1f kumo_w1_per_s=%.0f "
           "etcd_w1_per_s=%.0f kumo_w16_per_s=%.0f etcd_w16_per_s=%.0f kumo_w64_p99_ms=%.3f "
           "etcd_w64_p99_ms=%.3f get_p50_us=%.1f get_warm_p50_us=%.1f get_warm_p99_us=%.1f\n",
           kumo[2].per_s, et[2].per_s, ratio, kumo[0].p99_ms, et[0].p99_ms, r.list_s, r.get_p99,
           kumo[0].per_s, et[0].per_s, kumo[1].per_s, et[1].per_s, kumo[2].p99_ms, et[2].p99_ms,
           r.get_p50, r.warm_p50, r.warm_p99);
    curl_global_cleanup();
    return 0;
}
