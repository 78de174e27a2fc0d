/*
 * app_test.c - Apps on real machines (root): kumod with every controller, two
 * local-driver Connections (network namespaces on two bridges), an Infra of
 * four machines spread over both, kumo-agent in each, and an HTTP service
 * answering real requests; `kumoctl logs` of an instance (-f receiving what it
 * writes after the command started); `kumoctl scale` up and down, each
 * followed by `kumoctl rollout status` of the Infra and the App. Then: the app process killed (the
 * agent restarts it), a machine's namespace deleted behind kumo's back (machine and instance come
 * back), a broken App and an unhealthy App next to the good one (clear conditions, the good one
 * undisturbed), and deletion (no namespace, link, nftables table or process of the test left).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "tests/agentbus/agentbus.h"
#include "tests/e2e/e2e.h"
#include "tests/e2e/local_world.h"

#define MACHINES 4

/* GET / from ip:port; 1 when the answer is 200 and its body holds `want`. */
static int http_get(const char *ip, int port, const char *want)
{
    int code = 0;
    char *body = agentbus_http_get(ip, port, "/", &code);
    int ok = body && code == 200 && strstr(body, want) != NULL;
    free(body);
    return ok;
}

typedef struct app_want {
    const char *name;
    const char *condition, *status, *reason; /* reason NULL: any */
    int min_restarts;                        /* every instance at least */
} app_want;

static int app_is(e2e *t, void *arg)
{
    app_want *w = arg;
    Kumo__V1alpha1__App *a = (Kumo__V1alpha1__App *)e2e_get(t, "App", w->name);
    const Kumo__V1alpha1__Condition *c =
        a ? kumo_object_condition_get(&a->base, w->condition) : NULL;
    int ok = c && strcmp(c->status, w->status) == 0 &&
             (w->reason == NULL || strcmp(c->reason, w->reason) == 0) && a->status &&
             a->status->n_instances == MACHINES;
    for (size_t i = 0; ok && i < a->status->n_instances; i++)
        ok = a->status->instances[i]->restarts >= w->min_restarts;
    kumo_object_destroy(a ? &a->base : NULL);
    return ok;
}

/* Every instance of App `name` answers HTTP with its machine's greeting. */
static int every_instance_answers(e2e *t, void *arg)
{
    const local_world *w = arg;
    Kumo__V1alpha1__App *a = (Kumo__V1alpha1__App *)e2e_get(t, "App", "hello");
    int ok = a && a->status && a->status->n_instances == MACHINES;
    for (size_t i = 0; ok && i < a->status->n_instances; i++) {
        const Kumo__V1alpha1__AppInstance *in = a->status->instances[i];
        char want[300];
        snprintf(want, sizeof(want), "hello from %s", in->machine);
        ok = in->address[0] && http_get(in->address, w->port, want);
    }
    kumo_object_destroy(a ? &a->base : NULL);
    return ok;
}

/* The namespace name of Machine `name` (from the local driver's inventory); 0 when found. */
static int netns_of(e2e *t, const char *connection, const char *provider_id, char *buf, size_t size)
{
    kumo_value *inv = e2e_control(t, connection, "inventory", NULL);
    const kumo_value *machines = inv ? kumo_codec_value_get(inv, "machines") : NULL;
    int found = -1;
    for (size_t i = 0;
         machines && machines->type == KUMO_VALUE_ARRAY && i < machines->count && found != 0; i++) {
        const kumo_value *m = machines->items[i];
        if (strcmp(e2e_string(m, "id"), provider_id) == 0) {
            snprintf(buf, size, "%s", e2e_string(m, "netns"));
            found = 0;
        }
    }
    kumo_codec_value_destroy(inv);
    return found;
}

/* The machine's namespace exists again, with processes in it, and the Machine is Running. */
typedef struct rebuilt_want {
    const char *machine, *netns;
} rebuilt_want;

static int machine_rebuilt(e2e *t, void *arg)
{
    rebuilt_want *w = arg;
    Kumo__V1alpha1__Machine *m = (Kumo__V1alpha1__Machine *)e2e_get(t, "Machine", w->machine);
    int ok = m && m->status && m->status->phase == KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running &&
             local_world_sh("test -n \"$(ip netns pids %s 2>/dev/null)\"", w->netns) == 0;
    kumo_object_destroy(m ? &m->base : NULL);
    return ok;
}

/* Starts build/bin/kumoctl with the NULL-terminated arguments, output into out_path. */
static pid_t kumoctl_spawn(e2e *t, const char *out_path, const char *arg, ...)
{
    char binary[1024];
    kumo_test_build_path("bin/kumoctl", binary, sizeof(binary));
    const char *argv[16] = {binary};
    int argc = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("KUMO_NATS_URL", t->url, 1);
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Waits for a kumoctl run (at most `seconds`, then kills it); its exit status. */
static int kumoctl_wait(pid_t pid, double seconds)
{
    double deadline = kumo_test_now() + seconds;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (kumo_test_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        e2e_sleep_ms(50);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

typedef struct file_want {
    const char *path, *text;
} file_want;

static int file_contains(e2e *t, void *arg)
{
    (void)t;
    file_want *w = arg;
    char *text = kumo_test_read_file(w->path, NULL);
    int ok = text && strstr(text, w->text) != NULL;
    free(text);
    return ok;
}

/*
 * kumoctl logs through kumod and the machine's agent: -f receives a line the
 * instance writes after it started (python's access log of a request made
 * then), --tail, --since and the errors that name what is missing.
 */
static void logs_checks(e2e *t, const local_world *w)
{
    Kumo__V1alpha1__App *a = (Kumo__V1alpha1__App *)e2e_get(t, "App", "hello");
    char address[64] = "";
    for (size_t i = 0; a && a->status && i < a->status->n_instances; i++)
        if (strcmp(a->status->instances[i]->machine, "web-front-0") == 0)
            snprintf(address, sizeof(address), "%s", a->status->instances[i]->address);
    kumo_object_destroy(a ? &a->base : NULL);
    KUMO_REQUIRE(address[0] != '\0');
    char out[600], path[64];
    snprintf(out, sizeof(out), "%s/logs-follow.out", t->dir);
    snprintf(path, sizeof(path), "/kumoctl-logs-%d", (int)getpid());
    pid_t follower = kumoctl_spawn(t, out, "logs", "app/hello", "--machine", "web-front-0", "-f",
                                   "--tail", "1", NULL);
    file_want started = {out, "\"GET / HTTP/1."}; /* the last line so far: a health probe's */
    KUMO_EXPECT(e2e_wait(t, 30, file_contains, &started));
    int code = 0;
    char *body = agentbus_http_get(address, w->port, path, &code);
    free(body);
    KUMO_EXPECT_INT_EQ(code, 404);
    char line[128];
    snprintf(line, sizeof(line), "\"GET %s HTTP/1.0\" 404", path);
    file_want request = {out, line};
    int ok = e2e_wait(t, 30, file_contains, &request);
    if (!ok) {
        char *text = kumo_test_read_file(out, NULL);
        fprintf(stderr, "kumoctl logs -f printed:\n%s\n", text ? text : "");
        free(text);
    }
    KUMO_EXPECT(ok);
    KUMO_EXPECT(kill(follower, SIGINT) == 0);
    kumoctl_wait(follower, 10);

    char once[600];
    snprintf(once, sizeof(once), "%s/logs-once.out", t->dir);
    KUMO_EXPECT_INT_EQ(
        kumoctl_wait(kumoctl_spawn(t, once, "logs", "app/hello", "--machine", "web-front-0", "-c",
                                   "http", "--since", "1h", NULL),
                     30),
        0);
    file_want since = {once, line};
    KUMO_EXPECT(file_contains(t, &since));
    KUMO_EXPECT_INT_EQ(kumoctl_wait(kumoctl_spawn(t, once, "logs", "app", "hello", "--machine",
                                                  "web-front-0", "--tail", "1", NULL),
                                    30),
                       0);
    char *text = kumo_test_read_file(once, NULL);
    KUMO_EXPECT(text && strchr(text, '\n') == text + strlen(text) - 1); /* one line */
    free(text);
    struct {
        const char *machine, *component, *error;
    } bad[] = {
        {"nope", "http", "Machine \"nope\" not found in namespace \"default\""},
        {"web-front-0", "nope", "no component nope replica 0 on this machine (components: http)"},
        {NULL, NULL, "App hello runs on 4 machines"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int status = bad[i].machine
                         ? kumoctl_wait(kumoctl_spawn(t, once, "logs", "app/hello", "--machine",
                                                      bad[i].machine, "-c", bad[i].component, NULL),
                                        30)
                         : kumoctl_wait(kumoctl_spawn(t, once, "logs", "app/hello", NULL), 30);
        KUMO_EXPECT_INT_EQ(status, 1);
        file_want said = {once, bad[i].error};
        KUMO_EXPECT(file_contains(t, &said));
    }
}

typedef struct instances_want {
    int count;
} instances_want;

/* The App has exactly `count` instances, all ready. */
static int app_instances(e2e *t, void *arg)
{
    const instances_want *w = arg;
    Kumo__V1alpha1__App *a = (Kumo__V1alpha1__App *)e2e_get(t, "App", "hello");
    int ok =
        a && a->status && (int)a->status->n_instances == w->count && a->status->ready == w->count;
    kumo_object_destroy(a ? &a->base : NULL);
    return ok;
}

/* kumoctl scale, then kumoctl rollout status until the Infra and the App have caught up. */
static void scale_and_rollout(e2e *t, int machines)
{
    char out[600], replicas[16];
    snprintf(out, sizeof(out), "%s/rollout.out", t->dir);
    snprintf(replicas, sizeof(replicas), "%d", machines);
    KUMO_EXPECT_INT_EQ(kumoctl_wait(kumoctl_spawn(t, out, "scale", "infra/web", "--group", "front",
                                                  "--replicas", replicas, NULL),
                                    30),
                       0);
    file_want scaled = {out, "infra.kumo.dev/web scaled\n"};
    KUMO_EXPECT(file_contains(t, &scaled));
    /* the Infra's rollout; then the App follows the machines (its own spec did not change,
     * so its rollout is its instances being ready on every machine) */
    const char *kinds[2] = {"infra/web", "app/hello"};
    for (int i = 0; i < 2; i++) {
        if (i == 1) {
            instances_want want = {machines};
            KUMO_EXPECT(e2e_wait(t, 120, app_instances, &want));
        }
        int status = kumoctl_wait(
            kumoctl_spawn(t, out, "rollout", "status", kinds[i], "--timeout=150s", NULL), 170);
        char *text = kumo_test_read_file(out, NULL);
        if (status != 0)
            fprintf(stderr, "kumoctl rollout status %s (%d):\n%s\n", kinds[i], status,
                    text ? text : "");
        KUMO_EXPECT_INT_EQ(status, 0);
        KUMO_EXPECT_CONTAINS(text, "successfully rolled out\n");
        free(text);
    }
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)e2e_get(t, "Infra", "web");
    KUMO_EXPECT(infra && infra->status && infra->status->ready == machines);
    kumo_object_destroy(infra ? &infra->base : NULL);
}

KUMO_TEST(app_on_local_machines)
{
    local_world_require_root();
    local_world w;
    local_world_init(&w, "ka");
    e2e t;
    e2e_start(&t, "2");
    int net = w.net;
    E2E_REQUIRE(&t, local_world_connection(&t, &w, w.east, net) == 0);
    E2E_REQUIRE(&t, local_world_connection(&t, &w, w.west, net + 70) == 0);
    E2E_REQUIRE(&t, local_world_infra(&t, &w, MACHINES) == 0);
    char command[600], health[200];
    snprintf(
        command, sizeof(command),
        "\"files\": [{\"path\": \"serve.sh\", \"mode\": \"0755\", \"content\":"
        " \"#!/bin/sh\\necho \\\"hello from $KUMO_MACHINE_NAME\\\" > index.html\\nexec python3 -m "
        "http.server %d\\n\"}], \"command\": [\"./serve.sh\"]",
        w.port);
    snprintf(health, sizeof(health), "{\"type\": \"HTTP\", \"port\": %d, \"path\": \"/\"}", w.port);
    E2E_REQUIRE(&t, local_world_app(&t, "hello", command, health) == 0);

    /* Every instance answers real HTTP on its machine's address. */
    app_want ready = {"hello", "Ready", "True", NULL, 0};
    int ok = e2e_wait(&t, 120, app_is, &ready);
    if (!ok) {
        e2e_dump_log(&t, 60);
        local_world_dump(&t, "App", "hello");
        local_world_dump(&t, "Machine", "web-front-0");
    }
    E2E_REQUIRE(&t, ok);
    KUMO_EXPECT(e2e_wait(&t, 20, every_instance_answers, &w));
    local_world_links_collect(&t, &w);
    KUMO_EXPECT(w.link_count >= MACHINES + 2); /* a veth per machine, a bridge per network */
    logs_checks(&t, &w);
    scale_and_rollout(&t, MACHINES + 1);
    scale_and_rollout(&t, MACHINES);

    /* The app process dies: each agent starts it again. */
    KUMO_EXPECT(local_world_sh("pkill -KILL -f 'http[.]server %d'", w.port) == 0);
    app_want restarted = {"hello", "Ready", "True", NULL, 1};
    KUMO_EXPECT(e2e_wait(&t, 60, app_is, &restarted));
    KUMO_EXPECT(e2e_wait(&t, 20, every_instance_answers, &w));

    /* A broken App and an unhealthy one beside it: clear conditions, hello undisturbed. */
    E2E_REQUIRE(&t, local_world_app(&t, "broken", "\"command\": [\"no-such-program-kumo\"]",
                                    "{\"type\": \"TCP\", \"port\": 1}") == 0);
    E2E_REQUIRE(&t, local_world_app(&t, "sick", "\"command\": [\"sleep\", \"3600\"]",
                                    "{\"type\": \"HTTP\", \"port\": 9, \"path\": \"/\"}") == 0);
    app_want broken = {"broken", "Degraded", "True", "InstanceFailed", 0};
    app_want sick = {"sick", "Degraded", "True", "Unhealthy", 0};
    KUMO_EXPECT(e2e_wait(&t, 60, app_is, &broken));
    KUMO_EXPECT(e2e_wait(&t, 60, app_is, &sick));
    Kumo__V1alpha1__App *b = (Kumo__V1alpha1__App *)e2e_get(&t, "App", "broken");
    const Kumo__V1alpha1__Condition *c = b ? kumo_object_condition_get(&b->base, "Degraded") : NULL;
    KUMO_EXPECT(c != NULL);
    if (c)
        KUMO_EXPECT_CONTAINS(c->message, "no-such-program-kumo");
    kumo_object_destroy(b ? &b->base : NULL);
    Kumo__V1alpha1__App *s = (Kumo__V1alpha1__App *)e2e_get(&t, "App", "sick");
    c = s ? kumo_object_condition_get(&s->base, "Degraded") : NULL;
    KUMO_EXPECT(c != NULL && strcmp(c->status, "True") == 0);
    if (c)
        fprintf(stderr, "sick: Degraded %s: %s\n", c->reason, c->message);
    kumo_object_destroy(s ? &s->base : NULL);
    KUMO_EXPECT(app_is(&t, &restarted));
    KUMO_EXPECT(every_instance_answers(&t, &w));
    E2E_REQUIRE(&t, e2e_delete(&t, "App", "broken") == 0);
    E2E_REQUIRE(&t, e2e_delete(&t, "App", "sick") == 0);

    /* A machine's namespace deleted behind kumo's back: the machine and its instance return. */
    Kumo__V1alpha1__Machine *m = (Kumo__V1alpha1__Machine *)e2e_get(&t, "Machine", "web-front-0");
    E2E_REQUIRE(&t, m != NULL && m->status != NULL);
    char old_id[64], netns[200] = "";
    snprintf(old_id, sizeof(old_id), "%s", m->status->provider_id);
    int found = netns_of(&t, m->spec->connection, old_id, netns, sizeof(netns));
    kumo_object_destroy(&m->base);
    E2E_REQUIRE(&t, found == 0);
    KUMO_EXPECT(local_world_sh("ip netns del %s", netns) == 0);
    rebuilt_want rw = {"web-front-0", netns};
    e2e_sleep_ms(500);
    KUMO_EXPECT(e2e_wait(&t, 60, machine_rebuilt, &rw));
    KUMO_EXPECT(e2e_wait(&t, 60, app_is, &ready));
    KUMO_EXPECT(e2e_wait(&t, 30, every_instance_answers, &w));
    local_world_links_collect(&t, &w);

    /* Delete the App and the Infra: nothing of ours is left on the host. */
    local_world_finish(&t, &w);
    e2e_stop(&t);
}
