/*
 * process_test.c - the kumod binary: flags, one kumod per data directory,
 * SIGTERM drains, kill -9 during a write storm loses no acknowledged write,
 * desired state published while kumod is down is applied when it is back,
 * the embedded nats-server.
 */
#include "tests/apiserver/helper.h"
#include "tests/harness/test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pause_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void require_kumod(void)
{
    char path[1024];
    if (access(api_kumod_path(path, sizeof(path)), X_OK) != 0)
        kumo_test_skip("%s not built", path);
}

/* Runs kumod to completion with args; returns its exit status and its output in out. */
static int run_kumod(const char *const *args, const char *log, char **out)
{
    pid_t pid = api_kumod_spawn(args, log);
    int status = pid > 0 ? api_kumod_wait(pid, 10000) : -1;
    *out = kumo_test_read_file(log, NULL);
    return status;
}

KUMO_TEST(kumod_flags)
{
    require_kumod();
    char log[512];
    snprintf(log, sizeof(log), "%s/out", kumo_test_tmpdir());
    char *out = NULL;
    const char *help[] = {"--help", NULL};
    KUMO_EXPECT_INT_EQ(run_kumod(help, log, &out), 0);
    KUMO_EXPECT_CONTAINS(out, "--data-dir");
    KUMO_EXPECT_CONTAINS(out, "--embedded-nats-addr");
    free(out);
    unlink(log);
    const char *version[] = {"--version", NULL};
    KUMO_EXPECT_INT_EQ(run_kumod(version, log, &out), 0);
    KUMO_EXPECT_CONTAINS(out, "kumod v");
    free(out);
    unlink(log);
    const char *bad[] = {"--frobnicate", NULL};
    KUMO_EXPECT_INT_EQ(run_kumod(bad, log, &out), 2);
    KUMO_EXPECT_CONTAINS(out, "--frobnicate");
    free(out);
    unlink(log);
    const char *level[] = {"--log-level", "loud", NULL};
    KUMO_EXPECT_INT_EQ(run_kumod(level, log, &out), 2);
    KUMO_EXPECT_CONTAINS(out, "--log-level");
    free(out);
    unlink(log);
    const char *limit[] = {"--max-machines-per-infra", "0", NULL};
    KUMO_EXPECT_INT_EQ(run_kumod(limit, log, &out), 2);
    KUMO_EXPECT_CONTAINS(out, "--max-machines-per-infra \"0\" must be a whole number");
    free(out);
}

/* An external nats-server with JetStream for kumod --nats. */
static kumo_natsd *start_natsd(void)
{
    char js[512];
    snprintf(js, sizeof(js), "%s/js", kumo_test_tmpdir());
    kumo_natsd_options o = {.store_dir = js, .max_payload = 8L << 20};
    kumo_natsd *n = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_natsd_start(&o, &n, &d), KUMO_ERROR_OK);
    kumo_diag_fini(&d);
    return n;
}

/* Starts `kumod --nats URL --data-dir DIR` and waits until it serves. */
static pid_t start_kumod(const char *url, const char *data_dir, const char *log)
{
    const char *args[] = {"--nats", url, "--data-dir", data_dir, "--log-level", "warn", NULL};
    unlink(log); /* a fresh log: "ready" must come from this kumod */
    pid_t pid = api_kumod_spawn(args, log);
    KUMO_REQUIRE_INT_GE(pid, 1);
    if (!api_wait_for_log(log, "kumod ready", 15000)) {
        char *out = kumo_test_read_file(log, NULL);
        fprintf(stderr, "kumod did not start:\n%s\n", out ? out : "");
        free(out);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        KUMO_REQUIRE(0);
    }
    return pid;
}

KUMO_TEST(kumod_second_refused)
{
    require_kumod();
    kumo_natsd *n = start_natsd();
    char data[512], log1[512], log2[512];
    const char *dir = kumo_test_tmpdir();
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log1, sizeof(log1), "%s/kumod1.log", dir);
    snprintf(log2, sizeof(log2), "%s/kumod2.log", dir);
    pid_t first = start_kumod(kumo_natsd_url(n), data, log1);
    /* the second one, without --nats: it must fail before starting any nats-server */
    const char *args[] = {"--data-dir", data, "--embedded-nats-addr", "127.0.0.1:1", NULL};
    char *out = NULL;
    KUMO_EXPECT_INT_EQ(run_kumod(args, log2, &out), 1);
    KUMO_EXPECT_CONTAINS(out, "in use by another kumod");
    KUMO_EXPECT_CONTAINS(out, data);
    KUMO_EXPECT(strstr(out, "nats-server") == NULL);
    free(out);
    kill(first, SIGTERM);
    KUMO_EXPECT_INT_EQ(api_kumod_wait(first, 15000), 0);
    kumo_natsd_destroy(n);
    nats_Close();
}

KUMO_TEST(kumod_sigterm_drains)
{
    require_kumod();
    kumo_natsd *n = start_natsd();
    char data[512], log[512];
    const char *dir = kumo_test_tmpdir();
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/kumod.log", dir);
    pid_t pid = start_kumod(kumo_natsd_url(n), data, log);
    natsConnection *nc = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_ConnectTo(&nc, kumo_natsd_url(n)), NATS_OK);
    natsSubscription *inbox = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_SubscribeSync(&inbox, nc, "drain.replies"), NATS_OK);
    natsSubscription_SetPendingLimits(inbox, -1, -1);
    enum { REQUESTS = 300 };
    for (int i = 0; i < REQUESTS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "drain-%d", i);
        const char *body = api_connection_json(name, "default", NULL);
        natsConnection_PublishRequest(nc, "kumo.v1.api.apply.connections.default", "drain.replies",
                                      body, (int)strlen(body));
    }
    /* Once the flush returns, nats-server has handed every request to kumod. */
    KUMO_REQUIRE_INT_EQ(natsConnection_Flush(nc), NATS_OK);
    kill(pid, SIGTERM);
    int replies = 0, created = 0;
    natsMsg *m = NULL;
    while (replies < REQUESTS && natsSubscription_NextMsg(&m, inbox, 10000) == NATS_OK) {
        const char *code = NULL;
        natsMsgHeader_Get(m, "Kumo-Code", &code);
        created += code != NULL && strcmp(code, "201") == 0;
        replies++;
        natsMsg_Destroy(m);
    }
    KUMO_EXPECT_INT_EQ(replies, REQUESTS);
    KUMO_EXPECT_INT_EQ(created, REQUESTS);
    KUMO_EXPECT_INT_EQ(api_kumod_wait(pid, 15000), 0);
    char *out = kumo_test_read_file(log, NULL);
    KUMO_EXPECT(out != NULL && strstr(out, "ERROR") == NULL);
    free(out);
    /* and every one of them is there after a restart */
    pid = start_kumod(kumo_natsd_url(n), data, log);
    api_reply r;
    api_request(nc, "kumo.v1.api.list.connections.default",
                (const char *[]){"Kumo-Limit", "1000", NULL}, NULL, 0, &r);
    int listed = 0;
    for (const char *p = r.body; p && (p = strstr(p, "\"name\":\"drain-")) != NULL; p++)
        listed++;
    KUMO_EXPECT_INT_EQ(listed, REQUESTS);
    api_reply_fini(&r);
    kill(pid, SIGTERM);
    KUMO_EXPECT_INT_EQ(api_kumod_wait(pid, 15000), 0);
    natsSubscription_Destroy(inbox);
    natsConnection_Destroy(nc);
    kumo_natsd_destroy(n);
    nats_Close();
}

typedef struct storm_writer {
    const char *url;
    int id;
    volatile int *stop;
    char (*acked)[32];
    int acked_count;
    int cap;
} storm_writer;

static void *storm_main(void *arg)
{
    storm_writer *w = arg;
    natsConnection *nc = NULL;
    if (natsConnection_ConnectTo(&nc, w->url) != NATS_OK)
        return NULL;
    for (int i = 0; !*w->stop && w->acked_count < w->cap; i++) {
        char name[32];
        snprintf(name, sizeof(name), "k%d-%d", w->id, i);
        const char *body = api_connection_json(name, "default", NULL);
        api_reply r;
        api_request(nc, "kumo.v1.api.apply.connections.default", NULL, body, strlen(body), &r);
        if (r.status == NATS_OK && r.code == 201)
            snprintf(w->acked[w->acked_count++], 32, "%s", name);
        else if (r.status != NATS_OK)
            pause_ms(5);
        api_reply_fini(&r);
    }
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    return NULL;
}

KUMO_TEST(kumod_kill9_write_storm)
{
    require_kumod();
    kumo_natsd *n = start_natsd();
    char data[512], log[512];
    const char *dir = kumo_test_tmpdir();
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/kumod.log", dir);
    pid_t pid = start_kumod(kumo_natsd_url(n), data, log);
    enum { WRITERS = 16, CAP = 100000 };
    storm_writer writers[WRITERS];
    pthread_t threads[WRITERS];
    volatile int stop = 0;
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (storm_writer){.url = kumo_natsd_url(n), .id = i, .stop = &stop, .cap = CAP};
        writers[i].acked = calloc(CAP, sizeof(*writers[i].acked));
        pthread_create(&threads[i], NULL, storm_main, &writers[i]);
    }
    pause_ms(1500);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    pause_ms(200);
    stop = 1;
    int acked = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(threads[i], NULL);
        acked += writers[i].acked_count;
    }
    KUMO_EXPECT_INT_GT(acked, 50);
    pid = start_kumod(kumo_natsd_url(n), data, log);
    natsConnection *nc = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_ConnectTo(&nc, kumo_natsd_url(n)), NATS_OK);
    int missing = 0;
    for (int i = 0; i < WRITERS; i++) {
        for (int j = 0; j < writers[i].acked_count; j++) {
            const char *h[] = {"Kumo-Name", writers[i].acked[j], NULL};
            api_reply r;
            api_request(nc, "kumo.v1.api.get.connections.default", h, NULL, 0, &r);
            if (r.code != 200) {
                if (missing++ < 5)
                    fprintf(stderr, "acknowledged but missing: %s (code %d)\n", writers[i].acked[j],
                            r.code);
            }
            api_reply_fini(&r);
        }
        free(writers[i].acked);
    }
    fprintf(stderr, "kill -9 storm: %d acknowledged writes, %d missing\n", acked, missing);
    KUMO_EXPECT_INT_EQ(missing, 0);
    kill(pid, SIGTERM);
    KUMO_EXPECT_INT_EQ(api_kumod_wait(pid, 15000), 0);
    natsConnection_Destroy(nc);
    kumo_natsd_destroy(n);
    nats_Close();
}

KUMO_TEST(kumod_desired_while_down)
{
    require_kumod();
    kumo_natsd *n = start_natsd();
    char data[512], log[512];
    const char *dir = kumo_test_tmpdir();
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/kumod.log", dir);
    pid_t pid = start_kumod(kumo_natsd_url(n), data, log); /* creates the stream */
    kill(pid, SIGTERM);
    KUMO_REQUIRE_INT_EQ(api_kumod_wait(pid, 15000), 0);

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_ConnectTo(&nc, kumo_natsd_url(n)), NATS_OK);
    KUMO_REQUIRE_INT_EQ(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    enum { OBJECTS = 20 };
    for (int i = 0; i < OBJECTS; i++) {
        char name[32], subject[128];
        snprintf(name, sizeof(name), "down-%d", i);
        snprintf(subject, sizeof(subject), "kumo.v1.desired.connections.default.%s", name);
        const char *body = api_connection_json(name, "default", NULL);
        jsPubAck *ack = NULL;
        KUMO_EXPECT_INT_EQ(js_Publish(&ack, js, subject, body, (int)strlen(body), NULL, NULL),
                           NATS_OK);
        jsPubAck_Destroy(ack);
    }
    pid = start_kumod(kumo_natsd_url(n), data, log);
    int found = 0;
    double deadline = kumo_test_now() + 10;
    while (found < OBJECTS && kumo_test_now() < deadline) {
        found = 0;
        for (int i = 0; i < OBJECTS; i++) {
            char name[32];
            snprintf(name, sizeof(name), "down-%d", i);
            const char *h[] = {"Kumo-Name", name, NULL};
            api_reply r;
            api_request(nc, "kumo.v1.api.get.connections.default", h, NULL, 0, &r);
            found += r.code == 200;
            api_reply_fini(&r);
        }
        if (found < OBJECTS)
            pause_ms(100);
    }
    KUMO_EXPECT_INT_EQ(found, OBJECTS);
    kill(pid, SIGTERM);
    KUMO_EXPECT_INT_EQ(api_kumod_wait(pid, 15000), 0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    kumo_natsd_destroy(n);
    nats_Close();
}

static int free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

static int nats_answers(const char *url)
{
    natsConnection *nc = NULL;
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetTimeout(o, 500);
    natsOptions_SetAllowReconnect(o, false);
    int ok = natsConnection_Connect(&nc, o) == NATS_OK;
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    return ok;
}

/* Entries of a directory besides . and .. */
static int files_in(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

KUMO_TEST(kumod_embedded_nats)
{
    require_kumod();
    char data[512], log[512], addr[64], url[64];
    const char *dir = kumo_test_tmpdir();
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/kumod.log", dir);
    int port = free_port();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
    const char *args[] = {"--data-dir", data, "--embedded-nats-addr", addr, NULL};
    /* Its own TMPDIR: a kill -9 must leave nothing there (configuration files). */
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    KUMO_REQUIRE(mkdir(tmp, 0700) == 0);
    const char *saved_tmp = getenv("TMPDIR");
    char saved[600] = "";
    snprintf(saved, sizeof(saved), "%s", saved_tmp ? saved_tmp : "");
    setenv("TMPDIR", tmp, 1);
    pid_t pid = api_kumod_spawn(args, log);
    KUMO_REQUIRE(api_wait_for_log(log, "kumod ready", 15000));
    natsConnection *nc = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_ConnectTo(&nc, url), NATS_OK);
    const char *body = api_connection_json("emb", "default", NULL);
    api_reply r;
    api_request(nc, "kumo.v1.api.apply.connections.default", NULL, body, strlen(body), &r);
    KUMO_EXPECT_INT_EQ(r.code, 201);
    api_reply_fini(&r);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);

    /* kill -9 leaves the child nats-server behind; the next kumod stops it and starts its own */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    KUMO_EXPECT(nats_answers(url));
    KUMO_EXPECT_INT_EQ(files_in(tmp), 0);
    char log2[512];
    snprintf(log2, sizeof(log2), "%s/kumod2.log", dir);
    pid = api_kumod_spawn(args, log2);
    KUMO_EXPECT(api_wait_for_log(log2, "left behind", 15000));
    KUMO_REQUIRE(api_wait_for_log(log2, "kumod ready on", 15000));
    KUMO_REQUIRE_INT_EQ(natsConnection_ConnectTo(&nc, url), NATS_OK);
    const char *h[] = {"Kumo-Name", "emb", NULL};
    double deadline = kumo_test_now() + 5;
    do {
        api_request(nc, "kumo.v1.api.get.connections.default", h, NULL, 0, &r);
        int code = r.code;
        api_reply_fini(&r);
        if (code == 200)
            break;
        pause_ms(50);
    } while (kumo_test_now() < deadline);
    api_request(nc, "kumo.v1.api.get.connections.default", h, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    api_reply_fini(&r);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);

    /* SIGTERM stops kumod and its nats-server */
    kill(pid, SIGTERM);
    KUMO_EXPECT_INT_EQ(api_kumod_wait(pid, 15000), 0);
    KUMO_EXPECT(!nats_answers(url));
    KUMO_EXPECT_INT_EQ(files_in(tmp), 0);
    if (saved[0])
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    nats_Close();
}

KUMO_TEST(kumod_sigterm_without_nats)
{
    require_kumod();
    kumo_natsd *n = start_natsd();
    char data[512], log[512];
    const char *dir = kumo_test_tmpdir();
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/kumod.log", dir);
    pid_t pid = start_kumod(kumo_natsd_url(n), data, log);
    kumo_natsd_kill(n, SIGKILL);
    pause_ms(300);
    double start = kumo_test_now();
    kill(pid, SIGTERM);
    KUMO_EXPECT_INT_EQ(api_kumod_wait(pid, 15000), 0);
    KUMO_EXPECT_INT_LT(kumo_test_now() - start, 5);
    kumo_natsd_destroy(n);
    nats_Close();
}
