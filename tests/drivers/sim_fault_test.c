/*
 * sim_fault_test.c - the sim under pressure: rate limiting with many threads,
 * injected faults, latency against deadlines, concurrent creates with shared
 * tokens, a second writer process, and kill -9 at random moments.
 */
#include "tests/drivers/helpers.h"
#include "tests/harness/test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LONG 30.0

struct hammer {
    struct fixture *f;
    struct kumo_driver_conn *conn;
    double seconds;
    int ok;
    int throttled;
    int other;
    int hinted; /* THROTTLED replies with a retry_after_ms hint */
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    double start = kumo_test_now();
    struct kumo_driver_ref ref = {NULL, "uid-nothing"};
    while (kumo_test_now() - start < h->seconds) {
        struct kumo_driver_diag d;
        struct kumo_driver_machine *m = NULL;
        kumo_driver_code rc =
            h->f->drv->machine_observe(h->conn, &ref, deadline_in(h->f->host, LONG), &m, &d);
        if (rc == KUMO_DRIVER_NOT_FOUND) {
            h->ok++;
        } else if (rc == KUMO_DRIVER_THROTTLED) {
            h->throttled++;
            h->hinted += d.retry_after_ms > 0 && strcmp(d.cloud_code, "RequestLimitExceeded") == 0;
        } else {
            h->other++;
        }
        kumo_driver_free(h->f->host, m);
    }
    return NULL;
}

KUMO_TEST(sim_throttle)
{
    struct fixture f;
    enum { THREADS = 8 };
    pthread_t threads[THREADS];
    struct hammer h[THREADS];
    fixture_load(&f);
    struct kumo_driver_conn *conn =
        fixture_open(&f, "region=us-east-1;qps=20;burst=5;latency_ms=1");
    for (int i = 0; i < THREADS; i++) {
        h[i] = (struct hammer){&f, conn, 1.5, 0, 0, 0, 0};
        pthread_create(&threads[i], NULL, hammer_run, &h[i]);
    }
    int ok = 0, throttled = 0, other = 0, hinted = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        ok += h[i].ok;
        throttled += h[i].throttled;
        other += h[i].other;
        hinted += h[i].hinted;
    }
    char *stats = fixture_control(&f, conn, "stats", NULL);
    double peak = json_number(stats, "peakAcceptedQps");
    double peak_requests = json_number(stats, "peakQps");
    printf("throttle: accepted %d, throttled %d, peak accepted %.0f/s, peak requests %.0f/s\n", ok,
           throttled, peak, peak_requests);
    KUMO_EXPECT_INT_EQ(other, 0);
    KUMO_EXPECT_INT_GT(throttled, 100);
    KUMO_EXPECT_INT_EQ(hinted, throttled);
    struct kumo_driver_machine_list *list = NULL;
    int throttled_without_diag = 0;
    for (int i = 0; i < 50 && !throttled_without_diag; i++) {
        throttled_without_diag = f.drv->machine_list(conn, NULL, deadline_in(f.host, LONG), &list,
                                                     NULL) == KUMO_DRIVER_THROTTLED;
        kumo_driver_free(f.host, list);
    }
    KUMO_EXPECT(throttled_without_diag);
    /* A token bucket lets through at most burst + qps in any one second. */
    KUMO_EXPECT(peak >= 20 && peak <= 25);
    KUMO_EXPECT(peak_requests > 25);
    /* 5 + 20/s over 1.5 s, give or take the scheduling. */
    KUMO_EXPECT(ok >= 30 && ok <= 37);
    KUMO_EXPECT_INT_EQ(json_number(stats, "accepted"), ok);
    KUMO_EXPECT_INT_EQ(json_number(stats, "throttled"), throttled);
    kumo_driver_free(f.host, stats);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_fault_rate)
{
    struct fixture f;
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1;fault_rate=0.2;seed=7");
    int faults = 0, unavailable = 0;
    const int calls = 2000;
    for (int i = 0; i < calls; i++) {
        struct kumo_driver_diag d;
        struct kumo_driver_image_list *images = NULL;
        kumo_driver_code rc = f.drv->catalog_images(conn, deadline_in(f.host, LONG), &images, &d);
        KUMO_EXPECT((rc == KUMO_DRIVER_OK) == (images != NULL));
        if (rc != KUMO_DRIVER_OK) {
            faults++;
            unavailable += rc == KUMO_DRIVER_UNAVAILABLE;
            KUMO_EXPECT(rc == KUMO_DRIVER_UNAVAILABLE || rc == KUMO_DRIVER_INTERNAL);
        }
        kumo_driver_free(f.host, images);
    }
    printf("faults: %d of %d (%d unavailable)\n", faults, calls, unavailable);
    KUMO_EXPECT(faults > 300 && faults < 500); /* 400 expected; 3 sigma is ~54 */
    KUMO_EXPECT(unavailable > faults / 4 && unavailable < faults * 3 / 4);
    /* A fault after the change: the machine exists although create failed. */
    kumo_driver_free(f.host, fixture_control(&f, conn, "configure",
                                             "{\"fault_rate\":0,\"fault_after_rate\":1}"));
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "x",
                                            .instance_type = "t3.micro",
                                            .image = "ubuntu-22.04"};
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag d;
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-lost", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_INTERNAL);
    KUMO_EXPECT(m == NULL);
    KUMO_EXPECT_CONTAINS(d.message, "after the request was applied");
    kumo_driver_free(f.host, fixture_control(&f, conn, "configure", "{\"fault_after_rate\":0}"));
    m = create_machine(&f, conn, "uid-lost"); /* the retry finds it, no duplicate */
    struct kumo_driver_filter filter = {KUMO_DRIVER_TOKEN_TAG, "uid-lost"};
    struct kumo_driver_machine_list *list = NULL;
    KUMO_REQUIRE_INT_EQ(f.drv->machine_list(conn, &filter, deadline_in(f.host, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(list->count, 1);
    KUMO_EXPECT_STR_EQ(list->items[0]->provider_id, m->provider_id);
    kumo_driver_free(f.host, list);
    kumo_driver_free(f.host, m);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_latency_deadline)
{
    struct fixture f;
    struct kumo_driver_diag d;
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1;latency_ms=200");
    struct kumo_driver_ref ref = {NULL, "uid-slow"};
    struct kumo_driver_machine *m = NULL;
    /* A call takes its latency ... */
    double start = kumo_test_now();
    KUMO_EXPECT_INT_EQ(f.drv->machine_observe(conn, &ref, deadline_in(f.host, LONG), &m, &d),
                       KUMO_DRIVER_NOT_FOUND);
    double took = kumo_test_now() - start;
    KUMO_EXPECT(took >= 0.19 && took < 0.5);
    /* ... but returns by its deadline: TIMEOUT, and the request never arrived. */
    start = kumo_test_now();
    KUMO_EXPECT_INT_EQ(f.drv->machine_observe(conn, &ref, deadline_in(f.host, 0.05), &m, &d),
                       KUMO_DRIVER_TIMEOUT);
    took = kumo_test_now() - start;
    KUMO_EXPECT(took >= 0.045 && took < 0.15);
    KUMO_EXPECT_CONTAINS(d.message, "did not reach the cloud");
    /* A deadline inside the response leg: the machine WAS made, the caller cannot know. */
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "x",
                                            .instance_type = "t3.micro",
                                            .image = "ubuntu-22.04"};
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-slow", deadline_in(f.host, 0.15), &m, &d),
        KUMO_DRIVER_TIMEOUT);
    KUMO_EXPECT(m == NULL);
    KUMO_EXPECT_CONTAINS(d.message, "may have been applied");
    kumo_driver_free(f.host, fixture_control(&f, conn, "configure", "{\"latency_ms\":0}"));
    KUMO_EXPECT_INT_EQ(f.drv->machine_observe(conn, &ref, deadline_in(f.host, LONG), &m, &d),
                       KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    char *stats = fixture_control(&f, conn, "stats", NULL);
    KUMO_EXPECT_INT_EQ(json_number(stats, "timeouts"), 2);
    kumo_driver_free(f.host, stats);
    /* Jittered latency stays within its bounds. */
    kumo_driver_free(f.host, fixture_control(&f, conn, "configure",
                                             "{\"latency_ms\":20,\"latency_jitter_ms\":10}"));
    for (int i = 0; i < 10; i++) {
        start = kumo_test_now();
        KUMO_EXPECT_INT_EQ(f.drv->machine_observe(conn, &ref, deadline_in(f.host, LONG), &m, &d),
                           KUMO_DRIVER_OK);
        kumo_driver_free(f.host, m);
        took = kumo_test_now() - start;
        KUMO_EXPECT(took >= 0.0095 && took < 0.1);
    }
    f.drv->close(conn);
    fixture_unload(&f);
}

struct creator {
    struct fixture *f;
    struct kumo_driver_conn *conn;
    int offset;
    int failures;
};

static void *creator_run(void *arg)
{
    struct creator *c = arg;
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "x",
                                            .instance_type = "t3.micro",
                                            .image = "ubuntu-22.04"};
    for (int i = 0; i < 60; i++) {
        char token[32];
        struct kumo_driver_diag d;
        struct kumo_driver_machine *m = NULL;
        snprintf(token, sizeof(token), "uid-shared-%d", (i + c->offset) % 60);
        if (c->f->drv->machine_create(c->conn, &spec, token, deadline_in(c->f->host, LONG), &m,
                                      &d) != KUMO_DRIVER_OK)
            c->failures++;
        kumo_driver_free(c->f->host, m);
    }
    return NULL;
}

KUMO_TEST(sim_concurrent_creates)
{
    struct fixture f;
    enum { THREADS = 6 };
    pthread_t threads[THREADS];
    struct creator c[THREADS];
    struct kumo_driver_diag d;
    fixture_load(&f);
    /* Two connections on one file (two regions' workers of one kumod) and six threads
     * racing on the same 60 tokens. */
    struct kumo_driver_conn *a = fixture_open(&f, "region=us-east-1;latency_ms=1");
    struct kumo_driver_conn *b = fixture_open(&f, "region=us-east-1;latency_ms=1");
    for (int i = 0; i < THREADS; i++) {
        c[i] = (struct creator){&f, i % 2 ? a : b, i * 7, 0};
        pthread_create(&threads[i], NULL, creator_run, &c[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        KUMO_EXPECT_INT_EQ(c[i].failures, 0);
    }
    struct kumo_driver_machine_list *list = NULL;
    KUMO_REQUIRE_INT_EQ(f.drv->machine_list(a, NULL, deadline_in(f.host, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(list->count, 60);
    kumo_driver_free(f.host, list);
    f.drv->close(a);
    f.drv->close(b);
    fixture_unload(&f);
}

KUMO_TEST(sim_second_writer_refused)
{
    struct fixture f;
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1");
    int pipefd[2];
    KUMO_REQUIRE(pipe(pipefd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    KUMO_REQUIRE(pid >= 0);
    if (pid == 0) {
        /* Another process (a second kumod) on the same file. */
        struct kumo_driver_conn *other = NULL;
        struct kumo_driver_diag d;
        memset(&d, 0, sizeof(d));
        kumo_driver_code rc = fixture_try_open(&f, "region=us-east-1", &other, &d);
        char line[600];
        int n = snprintf(line, sizeof(line), "%d %s", (int)rc, d.message);
        if (write(pipefd[1], line, (size_t)n) < 0)
            _exit(2);
        _exit(0);
    }
    close(pipefd[1]);
    char line[600] = "";
    ssize_t n = read(pipefd[0], line, sizeof(line) - 1);
    line[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    waitpid(pid, NULL, 0);
    KUMO_EXPECT_INT_EQ(strtol(line, NULL, 10), KUMO_DRIVER_UNAVAILABLE);
    KUMO_EXPECT_CONTAINS(line, "is in use by another process");
    char pid_text[32];
    snprintf(pid_text, sizeof(pid_text), "pid %ld", (long)getpid());
    KUMO_EXPECT_CONTAINS(line, pid_text);
    f.drv->close(conn);
    fixture_unload(&f);
}

/* The child of sim_crash_durability: creates machines from token index
 * `first` on, with 3 threads, reporting each acknowledged create on fd. */
struct crash_child {
    struct fixture *f;
    struct kumo_driver_conn *conn;
    int fd;
    int next;
    pthread_mutex_t mu;
};

static void *crash_worker(void *arg)
{
    struct crash_child *c = arg;
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "x",
                                            .instance_type = "t3.micro",
                                            .image = "ubuntu-22.04"};
    for (;;) {
        char token[32], line[40];
        pthread_mutex_lock(&c->mu);
        int i = c->next++;
        pthread_mutex_unlock(&c->mu);
        snprintf(token, sizeof(token), "uid-crash-%05d", i);
        struct kumo_driver_diag d;
        struct kumo_driver_machine *m = NULL;
        if (c->f->drv->machine_create(c->conn, &spec, token, deadline_in(c->f->host, LONG), &m,
                                      &d) != KUMO_DRIVER_OK)
            _exit(3);
        int n = snprintf(line, sizeof(line), "%s\n", token);
        if (write(c->fd, line, (size_t)n) != n) /* one write: atomic on a pipe */
            _exit(4);
        kumo_driver_free(c->f->host, m);
    }
    return NULL;
}

static void crash_child_main(struct fixture *f, int fd, int first)
{
    struct crash_child c = {f, NULL, fd, first, PTHREAD_MUTEX_INITIALIZER};
    c.conn = fixture_open(f, "region=us-east-1;compact_bytes=16384");
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&threads[i], NULL, crash_worker, &c);
    pause(); /* until SIGKILL */
    _exit(5);
}

KUMO_TEST(sim_crash_durability)
{
    struct fixture f;
    enum { ROUNDS = 20, MAX_TOKENS = 20000 };
    static unsigned char acked[MAX_TOKENS];
    int acked_count = 0, next = 0;
    fixture_load(&f);
    memset(acked, 0, sizeof(acked));
    srand((unsigned)getpid());
    for (int round = 0; round < ROUNDS; round++) {
        int pipefd[2];
        KUMO_REQUIRE(pipe(pipefd) == 0);
        fflush(NULL);
        /* Each child starts a little before where the last one stopped, so it
         * also retries creates that may or may not have happened. */
        int first = next > 5 ? next - 5 : 0;
        pid_t pid = fork();
        KUMO_REQUIRE(pid >= 0);
        if (pid == 0) {
            close(pipefd[0]);
            crash_child_main(&f, pipefd[1], first);
        }
        close(pipefd[1]);
        sleep_seconds(0.02 + (rand() % 100) / 1000.0);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        KUMO_EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* Everything fully written to the pipe was acknowledged before the kill. */
        FILE *in = fdopen(pipefd[0], "r");
        char line[64];
        while (fgets(line, sizeof(line), in) != NULL) {
            if (strchr(line, '\n') == NULL)
                break; /* torn line: not an acknowledgement */
            int i = (int)strtol(line + strlen("uid-crash-"), NULL, 10);
            KUMO_REQUIRE(i >= 0 && i < MAX_TOKENS);
            if (!acked[i])
                acked_count++;
            acked[i] = 1;
            if (i + 1 > next)
                next = i + 1;
        }
        fclose(in);
    }
    /* Reopen after the last kill: every acknowledged machine exists exactly once. */
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1");
    struct kumo_driver_machine_list *list = NULL;
    struct kumo_driver_diag d;
    KUMO_REQUIRE_INT_EQ(f.drv->machine_list(conn, NULL, deadline_in(f.host, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    static unsigned short seen[MAX_TOKENS];
    memset(seen, 0, sizeof(seen));
    for (size_t k = 0; k < list->count; k++) {
        int i = (int)strtol(list->items[k]->token + strlen("uid-crash-"), NULL, 10);
        KUMO_REQUIRE(i >= 0 && i < MAX_TOKENS);
        seen[i]++;
    }
    int missing = 0, duplicated = 0;
    for (int i = 0; i < MAX_TOKENS; i++) {
        missing += acked[i] && seen[i] == 0;
        duplicated += seen[i] > 1;
    }
    printf("crash: %d rounds, %d acknowledged creates, %zu machines, %d missing, %d duplicated\n",
           ROUNDS, acked_count, list->count, missing, duplicated);
    KUMO_EXPECT_INT_GT(acked_count, 20);
    KUMO_EXPECT_INT_EQ(missing, 0);
    KUMO_EXPECT_INT_EQ(duplicated, 0);
    kumo_driver_free(f.host, list);
    f.drv->close(conn);
    fixture_unload(&f);
}
