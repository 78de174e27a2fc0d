/*
 * agent_test.c - kumo-agent as kumod sees it: the built binary, a real
 * nats-server with the agent bus authorization, real processes (python3's
 * http.server, sh, sleep). Each case talks to the agent only over the bus
 * (apply, get, status) and checks the processes themselves.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "tests/agent/fixture.h"
#include "tests/agentbus/agentbus.h"
#include "tests/harness/test.h"

#define PHASE(p) KUMO__V1ALPHA1__APP_INSTANCE__PHASE__##p

typedef Kumo__V1alpha1__AgentReply reply_t;
typedef Kumo__V1alpha1__AgentStatus status_t;

static void reply_free(reply_t *r)
{
    kumo_codec_message_free((ProtobufCMessage *)r);
}

/* Applies and requires ok. */
static void apply_ok(agent_fixture *f, const char *body)
{
    reply_t *r = fixture_request(f, "apply", body);
    KUMO_REQUIRE_PTR_NONNULL(r);
    if (!r->ok)
        fprintf(stderr, "apply refused: %s\n", r->error);
    int ok = r->ok;
    reply_free(r);
    KUMO_REQUIRE(ok);
}

/* One instance of interest and what it should show. */
typedef struct want {
    const char *app, *component;
    int replica;
    int phase;         /* 0: any */
    int ready;         /* -1: any */
    int restarts;      /* -1: any, else at least */
    const char *error; /* substring of last_error, NULL: any */
    int not_pid;       /* the pid must differ from this one (0: any) */
} want;

static int matches(const status_t *s, void *arg)
{
    const want *w = arg;
    const Kumo__V1alpha1__AgentInstance *in = status_instance(s, w->app, w->component, w->replica);
    return in && (w->phase == 0 || (int)in->phase == w->phase) &&
           (w->ready < 0 || in->ready == w->ready) &&
           (w->restarts < 0 || in->restarts >= w->restarts) &&
           (w->error == NULL || strstr(in->last_error, w->error)) &&
           (w->not_pid == 0 || (in->pid != 0 && in->pid != w->not_pid));
}

static int app_absent(const status_t *s, void *arg)
{
    return status_app(s, arg) == NULL;
}

/* Waits for w; returns the instance's pid. */
static int wait_for(agent_fixture *f, want w, int timeout_ms)
{
    reply_t *r = fixture_wait(f, matches, &w, timeout_ms);
    KUMO_REQUIRE_PTR_NONNULL(r);
    int pid = status_instance(r->status, w.app, w.component, w.replica)->pid;
    reply_free(r);
    return pid;
}

static void http_component(char *buf, size_t size, const char *name, int port, const char *path)
{
    snprintf(buf, size,
             "{\"name\": \"%s\", \"command\": [\"python3\", \"-m\", \"http.server\"],"
             " \"args\": [\"%d\", \"--bind\", \"127.0.0.1\"],"
             " \"env\": [{\"name\": \"PATH\", \"value\": \"/usr/bin:/bin\"}],"
             " \"files\": [{\"path\": \"index.html\", \"content\": \"hello from kumo\\n\"},"
             "             {\"path\": \"bin/run.sh\", \"content\": \"#!/bin/sh\\n\", \"mode\": "
             "\"0755\"}],"
             " \"healthCheck\": {\"type\": \"HTTP\", \"port\": %d, \"path\": \"%s\","
             " \"intervalSeconds\": 30}}",
             name, port, port, path);
}

KUMO_TEST(http_app_runs_and_restarts)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    int port = free_port();
    char comp[1024], body[2048];
    http_component(comp, sizeof(comp), "web", port, "/index.html");
    snprintf(body, sizeof(body),
             "{\"app\": \"default/site\", \"appUid\": \"u-site\", \"generation\": \"3\","
             " \"components\": [%s]}",
             comp);
    apply_ok(&f, body);
    int pid = wait_for(&f, (want){"default/site", "web", 0, PHASE(Running), 1, -1, NULL, 0}, 10000);
    int code = 0;
    char *page = agentbus_http_get("127.0.0.1", port, "/index.html", &code);
    KUMO_EXPECT_INT_EQ(code, 200);
    KUMO_EXPECT_STR_EQ(page ? page : "", "hello from kumo\n");
    free(page);

    /* The status stream carries the same, with seq increasing. */
    natsMsg *m = NULL;
    long long seq1 = 0, seq2 = 0;
    KUMO_REQUIRE(natsSubscription_NextMsg(&m, f.status, 3000) == NATS_OK);
    KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"default/site\"");
    KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"memoryLimitBytes\"");
    const char *s = strstr(natsMsg_GetData(m), "\"seq\":");
    if (s)
        sscanf(s, "\"seq\":\"%lld\"", &seq1);
    natsMsg_Destroy(m);
    KUMO_REQUIRE(natsSubscription_NextMsg(&m, f.status, 3000) == NATS_OK);
    s = strstr(natsMsg_GetData(m), "\"seq\":");
    if (s)
        sscanf(s, "\"seq\":\"%lld\"", &seq2);
    natsMsg_Destroy(m);
    KUMO_EXPECT_INT_GT(seq1, 0);
    KUMO_EXPECT_INT_GT(seq2, seq1);

    /* kill -9: the agent starts it again (after 0.5 s), and it becomes ready again long before
     * the check's 30 s interval: a restarted instance is probed fast until it is ready. */
    KUMO_REQUIRE(kill(pid, SIGKILL) == 0);
    int again =
        wait_for(&f, (want){"default/site", "web", 0, PHASE(Running), 1, 1, NULL, pid}, 10000);
    KUMO_EXPECT_INT_NE(again, pid);
    reply_t *r = fixture_request(&f, "get", "");
    KUMO_REQUIRE(r && r->status);
    const Kumo__V1alpha1__AgentInstance *in = status_instance(r->status, "default/site", "web", 0);
    KUMO_REQUIRE_PTR_NONNULL(in);
    KUMO_EXPECT_INT_EQ(in->restarts, 1);
    KUMO_EXPECT_INT_EQ(in->exit_code, -9);
    KUMO_EXPECT_INT_EQ(in->generation, 3);
    KUMO_EXPECT_STR_EQ(r->status->apps[0]->app_uid, "u-site");
    reply_free(r);
    page = agentbus_http_get("127.0.0.1", port, "/index.html", &code);
    KUMO_EXPECT_INT_EQ(code, 200);
    free(page);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

KUMO_TEST(unknown_command_fails_alone)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    apply_ok(&f, "{\"app\": \"default/calm\", \"components\": [{\"name\": \"sleeper\","
                 " \"command\": [\"sleep\", \"1000\"]}]}");
    int pid =
        wait_for(&f, (want){"default/calm", "sleeper", 0, PHASE(Running), 1, -1, NULL, 0}, 10000);
    apply_ok(&f, "{\"app\": \"default/broken\", \"components\": [{\"name\": \"bad\","
                 " \"command\": [\"nosuchprog\", \"--flag\"]}]}");
    wait_for(&f,
             (want){"default/broken", "bad", 0, PHASE(Failed), 0, -1,
                    "exec \"nosuchprog\": No such file or directory", 0},
             5000);
    /* The other app is untouched: same process, still ready. */
    reply_t *r = fixture_request(&f, "get", "");
    KUMO_REQUIRE(r && r->status);
    const Kumo__V1alpha1__AgentInstance *calm =
        status_instance(r->status, "default/calm", "sleeper", 0);
    KUMO_REQUIRE_PTR_NONNULL(calm);
    KUMO_EXPECT_INT_EQ(calm->pid, pid);
    KUMO_EXPECT(calm->ready);
    KUMO_EXPECT_INT_EQ(calm->restarts, 0);
    reply_free(r);
    KUMO_EXPECT(pid_alive(pid));
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

KUMO_TEST(health_check_never_passes)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    int port = free_port(), dead = free_port();
    char comp[1024], body[4096];
    http_component(comp, sizeof(comp), "web", port, "/missing");
    snprintf(body, sizeof(body),
             "{\"app\": \"default/sick\", \"components\": [%s, {\"name\": \"deaf\","
             " \"command\": [\"sleep\", \"1000\"],"
             " \"healthCheck\": {\"type\": \"TCP\", \"port\": %d}}]}",
             comp, dead);
    apply_ok(&f, body);
    char expect[128];
    snprintf(expect, sizeof(expect), "health check: HTTP GET :%d/missing returned 404", port);
    int pid =
        wait_for(&f, (want){"default/sick", "web", 0, PHASE(Starting), 0, -1, expect, 0}, 10000);
    snprintf(expect, sizeof(expect), "health check: TCP :%d: connection refused", dead);
    wait_for(&f, (want){"default/sick", "deaf", 0, PHASE(Starting), 0, -1, expect, 0}, 10000);
    /* Readiness only: a failing check never restarts the process. */
    struct timespec pause = {1, 0};
    nanosleep(&pause, NULL);
    reply_t *r = fixture_request(&f, "get", "");
    KUMO_REQUIRE(r && r->status);
    const Kumo__V1alpha1__AgentInstance *in = status_instance(r->status, "default/sick", "web", 0);
    KUMO_REQUIRE_PTR_NONNULL(in);
    KUMO_EXPECT_INT_EQ(in->pid, pid);
    KUMO_EXPECT_INT_EQ(in->restarts, 0);
    KUMO_EXPECT(!in->ready);
    reply_free(r);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

static void expect_refused(agent_fixture *f, const char *body, const char *error)
{
    reply_t *r = fixture_request(f, "apply", body);
    KUMO_REQUIRE_PTR_NONNULL(r);
    KUMO_EXPECT(!r->ok);
    KUMO_EXPECT_CONTAINS(r->error, error);
    KUMO_EXPECT(r->status == NULL);
    reply_free(r);
}

KUMO_TEST(bad_apply_refused)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    apply_ok(&f, "{\"app\": \"default/keep\", \"components\": [{\"name\": \"s\","
                 " \"command\": [\"sleep\", \"1000\"]}]}");
    int pid = wait_for(&f, (want){"default/keep", "s", 0, PHASE(Running), 1, -1, NULL, 0}, 10000);
    expect_refused(&f, "not json", "invalid JSON");
    expect_refused(&f, "{\"app\": \"default/keep\", \"components\": [{\"name\": \"s\"}]}",
                   "components[0].command: Required value");
    expect_refused(&f,
                   "{\"app\": \"default/keep\", \"components\": [{\"name\": \"s\", \"command\":"
                   " [\"sleep\", \"1\"], \"replicas\": -1}]}",
                   "components[0].replicas: Invalid value: -1");
    expect_refused(&f,
                   "{\"app\": \"default/keep\", \"components\": [{\"name\": \"s\", \"command\":"
                   " [\"true\"]}, {\"name\": \"t\", \"command\": [\"true\"], \"files\":"
                   " [{\"path\": \"a\", \"mode\": \"999\"}]}]}",
                   "components[1].files[0].mode: Invalid value: \"999\"");
    expect_refused(&f,
                   "{\"app\": \"default/keep\", \"components\": [{\"name\": \"s\", \"command\":"
                   " [\"true\"], \"files\": [{\"path\": \"../../etc/x\"}]}]}",
                   "components[0].files[0].path");
    expect_refused(&f, "{\"app\": \"keep\", \"components\": []}", "app: Invalid value");
    expect_refused(&f, "{\"app\": \"default/keep\", \"components\": [{\"name\": 5}]}",
                   "components[0].name");
    /* Nothing changed. */
    reply_t *r = fixture_request(&f, "get", "");
    KUMO_REQUIRE(r && r->status);
    KUMO_EXPECT_INT_EQ(r->status->n_apps, 1);
    const Kumo__V1alpha1__AgentInstance *in = status_instance(r->status, "default/keep", "s", 0);
    KUMO_EXPECT(in && in->pid == pid && in->phase == PHASE(Running));
    reply_free(r);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

KUMO_TEST(empty_apply_stops_and_forgets)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    apply_ok(&f, "{\"app\": \"default/pair\", \"components\": [{\"name\": \"s\","
                 " \"command\": [\"sleep\", \"1000\"], \"replicas\": 2}]}");
    int p0 = wait_for(&f, (want){"default/pair", "s", 0, PHASE(Running), 1, -1, NULL, 0}, 10000);
    int p1 = wait_for(&f, (want){"default/pair", "s", 1, PHASE(Running), 1, -1, NULL, 0}, 10000);
    KUMO_EXPECT(pid_alive(p0) && pid_alive(p1));
    /* Down to one replica: replica 1 goes, replica 0 keeps its process. */
    apply_ok(&f, "{\"app\": \"default/pair\", \"components\": [{\"name\": \"s\","
                 " \"command\": [\"sleep\", \"1000\"], \"replicas\": 1}]}");
    reply_t *r = fixture_wait(
        &f, matches, &(want){"default/pair", "s", 0, PHASE(Running), 1, -1, NULL, 0}, 5000);
    KUMO_REQUIRE_PTR_NONNULL(r);
    reply_free(r);
    for (int i = 0; i < 50 && pid_alive(p1); i++)
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    KUMO_EXPECT(!pid_alive(p1));
    KUMO_EXPECT(pid_alive(p0));
    apply_ok(&f, "{\"app\": \"default/pair\", \"generation\": \"2\"}");
    r = fixture_wait(&f, app_absent, "default/pair", 8000);
    KUMO_EXPECT_PTR_NONNULL(r);
    reply_free(r);
    KUMO_EXPECT(!pid_alive(p0));
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

static int all_stopped(const status_t *s, void *arg)
{
    (void)arg;
    int n = 0;
    for (size_t i = 0; i < s->n_apps; i++)
        for (size_t j = 0; j < s->apps[i]->n_instances; j++, n++)
            if (s->apps[i]->instances[j]->phase != PHASE(Stopped) || s->apps[i]->instances[j]->pid)
                return 0;
    return n == 2;
}

KUMO_TEST(sigterm_stops_everything)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    /* "stubborn" ignores SIGTERM (and so do its children): the agent must SIGKILL it. */
    apply_ok(&f, "{\"app\": \"default/two\", \"components\": [{\"name\": \"s\","
                 " \"command\": [\"sleep\", \"1000\"]}, {\"name\": \"stubborn\", \"command\":"
                 " [\"sh\", \"-c\", \"trap '' TERM; while :; do sleep 0.2; done\"]}]}");
    int p0 = wait_for(&f, (want){"default/two", "s", 0, PHASE(Running), 1, -1, NULL, 0}, 10000);
    int p1 =
        wait_for(&f, (want){"default/two", "stubborn", 0, PHASE(Running), 1, -1, NULL, 0}, 10000);
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, f.status, 10) == NATS_OK)
        natsMsg_Destroy(m);
    double t0 = kumo_test_now();
    KUMO_REQUIRE(kill(f.agent, SIGTERM) == 0);
    int status = -1;
    pid_t w = 0;
    for (int i = 0; i < 200 && (w = waitpid(f.agent, &status, WNOHANG)) == 0; i++)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    KUMO_EXPECT_INT_EQ(w, f.agent);
    KUMO_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (w == f.agent)
        f.agent = 0;
    KUMO_EXPECT_INT_GE(kumo_test_now() - t0, 4.5); /* the grace period before SIGKILL */
    KUMO_EXPECT(!pid_alive(p0));
    KUMO_EXPECT(!pid_alive(p1));
    /* The last document says so. */
    char *last = NULL;
    while (natsSubscription_NextMsg(&m, f.status, 500) == NATS_OK) {
        free(last);
        last = strdup(natsMsg_GetData(m));
        natsMsg_Destroy(m);
    }
    KUMO_REQUIRE_PTR_NONNULL(last);
    ProtobufCMessage *doc = NULL;
    KUMO_REQUIRE(kumo_codec_json_decode(&kumo__v1alpha1__agent_status__descriptor, last,
                                        strlen(last), NULL, &doc, NULL) == KUMO_ERROR_OK);
    KUMO_EXPECT(all_stopped((status_t *)doc, NULL));
    kumo_codec_message_free(doc);
    free(last);
    fixture_stop(&f);
}

KUMO_TEST(child_environment_is_clean)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    apply_ok(&f, "{\"app\": \"default/envapp\", \"components\": [{\"name\": \"dump\","
                 " \"command\": [\"sh\", \"-c\", \"env > out.txt; pwd >> out.txt\"],"
                 " \"env\": [{\"name\": \"FOO\", \"value\": \"bar\"}],"
                 " \"restartPolicy\": \"Never\"}]}");
    wait_for(&f, (want){"default/envapp", "dump", 0, PHASE(Stopped), 0, -1, NULL, 0}, 10000);
    char path[1200];
    snprintf(path, sizeof(path), "%s/apps/default/envapp/dump/out.txt", f.data_dir);
    char *env = kumo_test_read_file(path, NULL);
    KUMO_REQUIRE_PTR_NONNULL(env);
    KUMO_EXPECT(strstr(env, "KUMO_AGENT_BOOTSTRAP") == NULL);
    KUMO_EXPECT(strstr(env, "seed") == NULL);
    KUMO_EXPECT(strstr(env, "ASAN_OPTIONS") == NULL); /* a clean base, not the agent's */
    KUMO_EXPECT_CONTAINS(env, "FOO=bar\n");
    KUMO_EXPECT_CONTAINS(env, "KUMO_APP=default/envapp\n");
    KUMO_EXPECT_CONTAINS(env, "KUMO_COMPONENT=dump\n");
    KUMO_EXPECT_CONTAINS(env, "KUMO_REPLICA=0\n");
    KUMO_EXPECT_CONTAINS(env, "KUMO_MACHINE_NAME=m1\n");
    KUMO_EXPECT_CONTAINS(env, "PATH=");
    KUMO_EXPECT_CONTAINS(env, "/apps/default/envapp/dump\n");
    free(env);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

KUMO_TEST(same_spec_keeps_process)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    const char *v1 = "{\"app\": \"default/gen\", \"generation\": \"%d\", \"components\":"
                     " [{\"name\": \"s\", \"command\": [\"sleep\", \"%s\"],"
                     " \"restartPolicy\": \"OnFailure\"}]}";
    char body[512];
    snprintf(body, sizeof(body), v1, 1, "1000");
    apply_ok(&f, body);
    int pid = wait_for(&f, (want){"default/gen", "s", 0, PHASE(Running), 1, -1, NULL, 0}, 10000);
    snprintf(body, sizeof(body), v1, 2, "1000");
    apply_ok(&f, body);
    reply_t *r = fixture_request(&f, "get", "");
    KUMO_REQUIRE(r && r->status);
    const Kumo__V1alpha1__AgentInstance *in = status_instance(r->status, "default/gen", "s", 0);
    KUMO_EXPECT(in && in->pid == pid && in->generation == 2);
    reply_free(r);
    /* A changed spec: a new process. */
    snprintf(body, sizeof(body), v1, 3, "999");
    apply_ok(&f, body);
    int fresh =
        wait_for(&f, (want){"default/gen", "s", 0, PHASE(Running), 1, -1, NULL, pid}, 10000);
    KUMO_EXPECT_INT_NE(fresh, pid);
    KUMO_EXPECT(!pid_alive(pid));
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

KUMO_TEST(bus_down_at_start)
{
    agent_fixture f;
    fixture_start(&f, 0, 1); /* no server yet on f.port */
    nanosleep(&(struct timespec){1, 500 * 1000 * 1000}, NULL);
    KUMO_EXPECT(pid_alive(f.agent));
    fixture_start_server(&f);
    reply_t *r = NULL;
    for (int i = 0; i < 50 && r == NULL; i++)
        r = fixture_request(&f, "get", "");
    KUMO_REQUIRE_PTR_NONNULL(r);
    KUMO_EXPECT(r->ok);
    KUMO_EXPECT(r->status && strcmp(r->status->machine, "m1") == 0);
    reply_free(r);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}
