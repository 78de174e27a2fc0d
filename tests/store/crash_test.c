/*
 * crash_test.c - durability under SIGKILL.
 *
 * A child process writes as fast as it can (four threads: creates, and
 * updates of a per-thread counter object) and reports every acknowledged
 * write over a pipe. The parent kills it with SIGKILL at a random moment,
 * reopens the store and checks that it opens cleanly and that every
 * acknowledged write is there. At least 50 rounds; the store starts with a
 * small map so that some kills land during map growth.
 */
#include "tests/store/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ROUNDS = 60, THREADS = 4 };

typedef struct child_writer {
    kumo_store *s;
    int fd;
    int round;
    int id;
} child_writer;

static void report(int fd, const char *line)
{
    size_t n = strlen(line);
    while (write(fd, line, n) < 0 && errno == EINTR)
        ;
}

static void *child_main(void *arg)
{
    child_writer *w = arg;
    char payload[301];
    memset(payload, 'c', 300);
    payload[300] = '\0';
    ProtobufCMessage *counter = NULL;
    char cname[32];
    snprintf(cname, sizeof(cname), "ctr-%d", w->id);
    kumo_store_get(w->s, t_kind("Network"), "default", cname, &counter, NULL, NULL);
    if (counter == NULL) {
        ProtobufCMessage *in = t_network("default", cname, "10.0.0.0/16");
        kumo_store_create(w->s, in, &counter, NULL, NULL);
        kumo_object_destroy(in);
    }
    for (long i = 0;; i++) {
        char name[64], line[128];
        int64_t rev = 0;
        if (i % 4 == 3 && counter != NULL) {
            char v[24];
            snprintf(v, sizeof(v), "%d-%ld", w->round, i);
            t_label(counter, "n", v);
            ProtobufCMessage *out = NULL;
            if (kumo_store_update(w->s, counter, &out, &rev, NULL) == KUMO_ERROR_OK) {
                kumo_object_destroy(counter);
                counter = out;
                snprintf(line, sizeof(line), "U %s %s %lld\n", cname, v, (long long)rev);
                report(w->fd, line);
            }
            continue;
        }
        snprintf(name, sizeof(name), "r%d-t%d-%ld", w->round, w->id, i);
        ProtobufCMessage *in = t_network("default", name, "10.0.0.0/16");
        t_annotation(in, "kumo.dev/payload", payload);
        if (kumo_store_create(w->s, in, NULL, &rev, NULL) == KUMO_ERROR_OK) {
            snprintf(line, sizeof(line), "C %s %lld\n", name, (long long)rev);
            report(w->fd, line);
        }
        kumo_object_destroy(in);
    }
    return NULL;
}

static void child(const char *dir, int fd, int round)
{
    kumo_store_options o = t_options(dir);
    o.map_size = 1 << 20;
    kumo_store *s = NULL;
    if (kumo_store_open(&o, &s, NULL) != KUMO_ERROR_OK)
        _exit(3);
    pthread_t th[THREADS];
    child_writer w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (child_writer){s, fd, round, i};
        pthread_create(&th[i], NULL, child_main, &w[i]);
    }
    for (;;)
        pause();
}

typedef struct acked {
    char (*names)[64];
    size_t count, cap;
    char counter_value[THREADS][32]; /* last acknowledged "round-i" per counter */
    int64_t max_revision;
} acked;

/* Parses complete lines from buf; keeps a partial tail. */
static void consume(acked *a, char *buf, size_t *len)
{
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', (size_t)(buf + *len - start))) != NULL) {
        *nl = '\0';
        char kind = start[0], name[64] = "", value[32] = "";
        long long rev = 0;
        if (kind == 'C' && sscanf(start + 2, "%63s %lld", name, &rev) == 2) {
            if (a->count == a->cap) {
                a->cap = a->cap ? a->cap * 2 : 1024;
                a->names = realloc(a->names, a->cap * sizeof(*a->names));
            }
            snprintf(a->names[a->count++], sizeof(a->names[0]), "%s", name);
        } else if (kind == 'U' && sscanf(start + 2, "%63s %31s %lld", name, value, &rev) == 3) {
            int id = name[4] - '0';
            if (id >= 0 && id < THREADS)
                snprintf(a->counter_value[id], sizeof(a->counter_value[id]), "%s", value);
        }
        if (rev > a->max_revision)
            a->max_revision = rev;
        start = nl + 1;
    }
    *len = (size_t)(buf + *len - start);
    memmove(buf, start, *len);
}

/* "round-i" values compare by round, then i. */
static int counter_at_least(const char *stored, const char *acked_value)
{
    long sr = 0, si = 0, ar = 0, ai = 0;
    if (sscanf(acked_value, "%ld-%ld", &ar, &ai) != 2)
        return 1;
    if (sscanf(stored, "%ld-%ld", &sr, &si) != 2)
        return 0;
    return sr > ar || (sr == ar && si >= ai);
}

static void verify(const char *dir, acked *a, size_t from, int round)
{
    kumo_store *s = t_open(dir, NULL); /* must open cleanly */
    if (kumo_store_revision(s) < a->max_revision)
        kumo_test_fail_(__FILE__, __LINE__, 1,
                        "round %d: store at revision %lld, a write at %lld was acknowledged", round,
                        (long long)kumo_store_revision(s), (long long)a->max_revision);
    for (size_t i = from; i < a->count; i++) {
        ProtobufCMessage *got = NULL;
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_error err =
            kumo_store_get(s, t_kind("Network"), "default", a->names[i], &got, NULL, &d);
        if (err != KUMO_ERROR_OK)
            kumo_test_fail_(__FILE__, __LINE__, 1, "round %d: acknowledged %s lost: %s", round,
                            a->names[i], d.message);
        kumo_diag_fini(&d);
        kumo_object_destroy(got);
    }
    for (int t = 0; t < THREADS; t++) {
        if (a->counter_value[t][0] == '\0')
            continue;
        char cname[16];
        snprintf(cname, sizeof(cname), "ctr-%d", t);
        ProtobufCMessage *got = NULL;
        KUMO_REQUIRE_INT_EQ(
            kumo_store_get(s, t_kind("Network"), "default", cname, &got, NULL, NULL),
            KUMO_ERROR_OK);
        const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(got);
        const char *stored = m->n_labels ? m->labels[0]->value : "";
        if (!counter_at_least(stored, a->counter_value[t]))
            kumo_test_fail_(__FILE__, __LINE__, 1,
                            "round %d: counter %s is %s, but %s was acknowledged", round, cname,
                            stored, a->counter_value[t]);
        kumo_object_destroy(got);
    }
    kumo_store_close(s);
}

KUMO_TEST(crash_sigkill)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_close(t_open(dir, NULL));
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "  crash_sigkill seed=%u\n", seed);
    acked a;
    memset(&a, 0, sizeof(a));
    double start = kumo_test_now();
    int kills = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        KUMO_REQUIRE_INT_EQ(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        KUMO_REQUIRE_INT_GE(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child(dir, fds[1], round);
            _exit(0);
        }
        close(fds[1]);
        size_t from = a.count;
        /* read acknowledgements until a random moment, then kill */
        int delay_ms = 5 + (int)(rand_r(&seed) % 200);
        double deadline = kumo_test_now() + delay_ms / 1000.0;
        char buf[8192];
        size_t len = 0;
        for (;;) {
            int left = (int)((deadline - kumo_test_now()) * 1000);
            if (left <= 0)
                break;
            struct pollfd p = {fds[0], POLLIN, 0};
            if (poll(&p, 1, left) <= 0)
                continue;
            ssize_t n = read(fds[0], buf + len, sizeof(buf) - len - 1);
            if (n <= 0)
                break;
            len += (size_t)n;
            consume(&a, buf, &len);
        }
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        KUMO_REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        kills++;
        /* what the child reported before it died is still in the pipe */
        ssize_t n;
        while ((n = read(fds[0], buf + len, sizeof(buf) - len - 1)) > 0) {
            len += (size_t)n;
            consume(&a, buf, &len);
        }
        close(fds[0]);
        verify(dir, &a, from, round);
    }
    fprintf(stderr, "  %d kills, %zu acknowledged creates, revision %lld, %.1f s\n", kills, a.count,
            (long long)a.max_revision, kumo_test_now() - start);
    KUMO_EXPECT_INT_GE(kills, 50);
    KUMO_EXPECT_INT_GT(a.count, 100);
    verify(dir, &a, 0, -1); /* everything, once more */
    free(a.names);
}
