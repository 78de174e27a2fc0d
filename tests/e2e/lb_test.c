/*
 * lb_test.c - LoadBalancers with real traffic (root): kumod with every
 * controller, two local Connections, an Infra of four machines over both
 * running a small HTTP service that answers its machine's name, and a
 * LoadBalancer (a real HAProxy in its own namespace) in front of it. Real
 * GETs from this process to the load balancer's address count every answer
 * by machine and every failure, exactly.
 *
 *   lb_local_policies   RoundRobin spreads evenly, a drained endpoint gets nothing,
 *                       ClientIP affinity sticks, Weighted 3:1, Failover to
 *                       priority 1 while priority 0 is down and back, a
 *                       kill -9 of app processes under load fails no GET,
 *                       deleting the LoadBalancer leaves nothing of it
 *   lb_local_changes    scaling 4 -> 6 -> 2 under load fails no GET and new
 *                       instances serve within 2 s of being ready; kill -9 of
 *                       kumod during a change: HAProxy serves on, one HAProxy
 *                       after the restart, targets converge; deleting
 *                       everything leaves nothing on the host
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "tests/agentbus/agentbus.h"
#include "tests/e2e/e2e.h"
#include "tests/e2e/local_world.h"

/* ---- the world ------------------------------------------------------------------------ */

typedef struct lb_world {
    local_world w;
    int lb_port;
    char flags[128]; /* a file <flags>/<machine> keeps that machine's service down */
} lb_world;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Two connections, four machines, the service on each; 0 once the App is Ready. */
static int world_start(e2e *t, lb_world *lw)
{
    memset(lw, 0, sizeof(*lw));
    local_world_init(&lw->w, "kl");
    lw->lb_port = lw->w.port + 1;
    snprintf(lw->flags, sizeof(lw->flags), "/tmp/kumo-lbtest-%d", (int)getpid());
    mkdir(lw->flags, 0755);
    e2e_start(t, "2");
    int net = lw->w.net;
    if (local_world_connection(t, &lw->w, lw->w.east, net) != 0 ||
        local_world_connection(t, &lw->w, lw->w.west, net + 70) != 0 ||
        local_world_infra(t, &lw->w, 4) != 0)
        return -1;
    char command[700];
    snprintf(command, sizeof(command),
             "\"files\": [{\"path\": \"serve.sh\", \"mode\": \"0755\", \"content\":"
             " \"#!/bin/sh\\n[ -e %s/$KUMO_MACHINE_NAME ] && exit 1\\n"
             "echo \\\"$KUMO_MACHINE_NAME\\\" > index.html\\nexec python3 -m "
             "http.server %d\\n\"}], \"command\": [\"./serve.sh\"]",
             lw->flags, lw->w.port);
    char health[200];
    snprintf(health, sizeof(health), "{\"type\": \"HTTP\", \"port\": %d, \"path\": \"/\"}",
             lw->w.port);
    if (local_world_app(t, "hello", command, health) != 0)
        return -1;
    return local_world_app_ready(t, "hello", 4, 150) ? 0 : -1;
}

/* Applies the LoadBalancer "front" with this policy and these backends (JSON array items). */
/* more: further spec members, "" or ", \"sessionAffinity\": {...}". */
static int lb_apply_more(e2e *t, const lb_world *lw, const char *policy, const char *backends,
                         const char *more)
{
    return e2e_apply(
        t,
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"LoadBalancer\","
        " \"metadata\": {\"name\": \"front\", \"namespace\": \"default\"},"
        " \"spec\": {\"connection\": \"%s\", \"policy\": \"%s\","
        " \"listeners\": [{\"name\": \"http\", \"port\": %d, \"protocol\": \"HTTP\"}],"
        " \"healthCheck\": {\"type\": \"HTTP\", \"path\": \"/\", \"intervalMillis\": 250,"
        " \"timeoutMillis\": 250, \"failureThreshold\": 3, \"successThreshold\": 1},"
        " \"drainTimeoutSeconds\": 10, \"backends\": [%s]%s}}",
        lw->w.east, policy, lw->lb_port, backends, more);
}

static int lb_apply(e2e *t, const lb_world *lw, const char *policy, const char *backends)
{
    return lb_apply_more(t, lw, policy, backends, "");
}

static char *app_backend(char *buf, size_t size, const lb_world *lw, const char *name,
                         const char *more)
{
    snprintf(buf, size,
             "{\"name\": \"%s\", \"appRef\": {\"name\": \"hello\"}, \"component\": \"http\","
             " \"port\": %d%s}",
             name, lw->w.port, more);
    return buf;
}

/* ---- reading the LoadBalancer ------------------------------------------------------------ */

static int ready_true(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(object, "Ready");
    return c && strcmp(c->status, "True") == 0;
}

typedef struct lb_want {
    int healthy;          /* healthy endpoints, or -1: any */
    int total;            /* endpoints, or -1: any */
    const char *backends; /* "a,b": exactly these backends have endpoints, or NULL */
    char address[64];     /* filled in */
} lb_want;

static int lb_is(e2e *t, void *arg)
{
    lb_want *w = arg;
    Kumo__V1alpha1__LoadBalancer *lb =
        (Kumo__V1alpha1__LoadBalancer *)e2e_get(t, "LoadBalancer", "front");
    int ok = lb && lb->status && lb->status->address[0] && ready_true(&lb->base) &&
             lb->metadata->generation == lb->status->observed_generation &&
             (w->healthy < 0 || lb->status->healthy_endpoints == w->healthy) &&
             (w->total < 0 || lb->status->total_endpoints == w->total);
    for (size_t i = 0; ok && w->backends && i < lb->status->n_endpoints; i++) {
        char key[80];
        snprintf(key, sizeof(key), ",%s,", lb->status->endpoints[i]->backend);
        char list[200];
        snprintf(list, sizeof(list), ",%s,", w->backends);
        ok = strstr(list, key) != NULL;
    }
    if (ok)
        snprintf(w->address, sizeof(w->address), "%s", lb->status->address);
    kumo_object_destroy(lb ? &lb->base : NULL);
    return ok;
}

/* ---- traffic --------------------------------------------------------------------------- */

#define MAX_NAMES 16

typedef struct tally {
    pthread_mutex_t mu;
    char names[MAX_NAMES][64];
    int counts[MAX_NAMES];
    int ok, failed;
    char last_error[200];
} tally;

static void tally_add(tally *y, const char *body, int code)
{
    pthread_mutex_lock(&y->mu);
    if (body == NULL || code != 200) {
        y->failed++;
        snprintf(y->last_error, sizeof(y->last_error), "code %d body \"%.60s\"", code,
                 body ? body : "(no answer)");
    } else {
        y->ok++;
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(body, "\r\n"), body);
        int i = 0;
        while (i < MAX_NAMES && y->names[i][0] && strcmp(y->names[i], name) != 0)
            i++;
        if (i < MAX_NAMES) {
            snprintf(y->names[i], sizeof(y->names[i]), "%s", name);
            y->counts[i]++;
        }
    }
    pthread_mutex_unlock(&y->mu);
}

static int tally_of(tally *y, const char *prefix)
{
    int n = 0;
    pthread_mutex_lock(&y->mu);
    for (int i = 0; i < MAX_NAMES; i++)
        if (y->names[i][0] && strncmp(y->names[i], prefix, strlen(prefix)) == 0)
            n += y->counts[i];
    pthread_mutex_unlock(&y->mu);
    return n;
}

static void tally_reset(tally *y)
{
    pthread_mutex_lock(&y->mu);
    memset(y->names, 0, sizeof(y->names));
    memset(y->counts, 0, sizeof(y->counts));
    y->ok = y->failed = 0;
    pthread_mutex_unlock(&y->mu);
}

static int tally_sum(tally *y, char names[][128], int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += tally_of(y, names[i]);
    return sum;
}

static void tally_print(tally *y, const char *what)
{
    fprintf(stderr, "%s: ok %d failed %d", what, y->ok, y->failed);
    for (int i = 0; i < MAX_NAMES && y->names[i][0]; i++)
        fprintf(stderr, " %s=%d", y->names[i], y->counts[i]);
    fprintf(stderr, "%s%s\n", y->failed ? " last error: " : "", y->failed ? y->last_error : "");
}

/* n GETs one after the other. */
static void get_n(tally *y, const char *ip, int port, int n)
{
    for (int i = 0; i < n; i++) {
        int code = 0;
        char *body = agentbus_http_get(ip, port, "/", &code);
        tally_add(y, body, code);
        free(body);
    }
}

/* A steady load: GETs every few milliseconds until stopped (bounded by max requests). */
typedef struct load {
    tally y;
    char ip[64];
    int port, max;
    atomic_int stop;
    pthread_t thread;
} load;

static void *load_main(void *arg)
{
    load *l = arg;
    for (int i = 0; i < l->max && !atomic_load(&l->stop); i++) {
        get_n(&l->y, l->ip, l->port, 1);
        e2e_sleep_ms(4);
    }
    return NULL;
}

static void load_start(load *l, const char *ip, int port, int max)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->y.mu, NULL);
    snprintf(l->ip, sizeof(l->ip), "%s", ip);
    l->port = port;
    l->max = max;
    pthread_create(&l->thread, NULL, load_main, l);
}

static void load_stop(load *l)
{
    atomic_store(&l->stop, 1);
    pthread_join(l->thread, NULL);
}

/* 20 GETs in a row reach one machine. */
typedef struct sticky_want {
    tally *y;
    const char *ip;
    int port;
} sticky_want;

static int sticks(e2e *t, void *arg)
{
    (void)t;
    sticky_want *w = arg;
    tally_reset(w->y);
    get_n(w->y, w->ip, w->port, 20);
    return w->y->failed == 0 && w->y->counts[0] == 20;
}

/* ---- service up and down -------------------------------------------------------------- */

/* Keeps the service of every Machine of `connection` down (flag file + kill) or lets it up. */
static void service_set(e2e *t, const lb_world *lw, const char *connection, int down)
{
    char names[8][128];
    int n = local_world_machines_of(t, connection, names, 8);
    for (int i = 0; i < n; i++) {
        if (down)
            local_world_sh("touch %s/%s", lw->flags, names[i]);
        else
            local_world_sh("rm -f %s/%s", lw->flags, names[i]);
    }
    if (down)
        local_world_kill_service(t, &lw->w, connection);
}

/* Every endpoint of backend (or every one when NULL) is healthy (want 1) or not (want 0). */
typedef struct health_want {
    const char *connection;
    int healthy;
} health_want;

static int endpoints_are(e2e *t, void *arg)
{
    health_want *w = arg;
    Kumo__V1alpha1__LoadBalancer *lb =
        (Kumo__V1alpha1__LoadBalancer *)e2e_get(t, "LoadBalancer", "front");
    int seen = 0, ok = lb && lb->status;
    for (size_t i = 0; ok && i < lb->status->n_endpoints; i++) {
        const Kumo__V1alpha1__LoadBalancerEndpoint *e = lb->status->endpoints[i];
        if (strcmp(e->connection, w->connection) != 0)
            continue;
        seen++;
        ok = e->healthy == w->healthy;
    }
    kumo_object_destroy(lb ? &lb->base : NULL);
    return ok && seen > 0;
}

/* ---- the LoadBalancer's host objects ------------------------------------------------------ */

/* The number of HAProxy master processes of this run's load balancers (-1: unknown). */
static int haproxy_masters(const lb_world *lw)
{
    return local_world_sh_count("for ns in $(ip netns list | awk '/^%s-.*-lb-/ {print $1}'); do "
                                "for p in $(ip netns pids $ns); do pp=$(awk '{print $4}' "
                                "/proc/$p/stat); grep -q haproxy /proc/$pp/cmdline 2>/dev/null || "
                                "grep -l haproxy /proc/$p/cmdline; done; done",
                                lw->w.prefix);
}

static int lb_gone(e2e *t, void *arg)
{
    const lb_world *lw = arg;
    ProtobufCMessage *o = e2e_get(t, "LoadBalancer", "front");
    kumo_object_destroy(o);
    return o == NULL &&
           local_world_sh("ip netns list | grep -q '^%s-.*-lb-' && exit 1; "
                          "ls /run/kumo/lb/%s-* >/dev/null 2>&1 && exit 1; exit 0",
                          lw->w.prefix, lw->w.prefix) == 0 &&
           haproxy_masters(lw) == 0;
}

static void world_end(e2e *t, lb_world *lw)
{
    local_world_sh("rm -rf %s", lw->flags);
    KUMO_EXPECT(e2e_delete(t, "LoadBalancer", "front") == 0);
    KUMO_EXPECT(e2e_wait(t, 30, lb_gone, lw)); /* HAProxy, its namespace, veth and socket */
    local_world_finish(t, &lw->w);
}

/* ---- the cases ------------------------------------------------------------------------- */

static int share(tally *y, const char *prefix, int total, double want, double tolerance)
{
    double got = total > 0 ? (double)tally_of(y, prefix) / total : 0;
    fprintf(stderr, "share of %s: %.3f (want %.2f +- %.2f)\n", prefix, got, want, tolerance);
    return got >= want - tolerance && got <= want + tolerance;
}

KUMO_TEST(lb_local_policies)
{
    local_world_require_root();
    e2e t;
    lb_world lw;
    E2E_REQUIRE(&t, world_start(&t, &lw) == 0);
    char b1[300], b2[300], backends[700];
    E2E_REQUIRE(&t,
                lb_apply(&t, &lw, "RoundRobin", app_backend(b1, sizeof(b1), &lw, "web", "")) == 0);
    lb_want all = {4, 4, "web", ""};
    int ok = e2e_wait(&t, 60, lb_is, &all);
    if (!ok)
        local_world_dump(&t, "LoadBalancer", "front");
    E2E_REQUIRE(&t, ok);

    /* RoundRobin: every instance 25% +- 5% of 400 GETs. */
    tally y;
    memset(&y, 0, sizeof(y));
    pthread_mutex_init(&y.mu, NULL);
    get_n(&y, all.address, lw.lb_port, 400);
    tally_print(&y, "round robin");
    KUMO_EXPECT(y.failed == 0);
    for (int i = 0; i < 4; i++) {
        KUMO_EXPECT(y.names[i][0] != '\0');
        KUMO_EXPECT(y.counts[i] >= 80 && y.counts[i] <= 120);
    }
    /* kumoctl: address, policy and healthy/total; describe: the endpoint table. */
    char kumoctl[1024];
    kumo_test_build_path("bin/kumoctl", kumoctl, sizeof(kumoctl));
    KUMO_EXPECT(local_world_sh("KUMO_NATS_URL=%s %s get lb front -o wide | grep -q "
                               "'%s *RoundRobin *4/4 *True.*%s *1 *%d'",
                               t.url, kumoctl, all.address, lw.w.east, lw.lb_port) == 0);
    KUMO_EXPECT(
        local_world_sh("KUMO_NATS_URL=%s %s describe lb front | grep -c 'web-front-.*healthy'"
                       " | grep -qx 4",
                       t.url, kumoctl) == 0);

    /* One endpoint drained through the spec (what a migration does): it takes no traffic. */
    E2E_REQUIRE(&t, lb_apply(&t, &lw, "RoundRobin",
                             app_backend(b1, sizeof(b1), &lw, "web",
                                         ", \"drain\": [\"web-front-0\"]")) == 0);
    lb_want drained = {3, 4, "web", ""};
    E2E_REQUIRE(&t, e2e_wait(&t, 60, lb_is, &drained));
    tally_reset(&y);
    get_n(&y, all.address, lw.lb_port, 90);
    tally_print(&y, "web-front-0 drained");
    KUMO_EXPECT(y.failed == 0 && tally_of(&y, "web-front-0") == 0 && y.ok == 90);

    /* ClientIP affinity: every GET of this one client reaches one machine (once the reload
     * that brings the stick table has taken over). */
    E2E_REQUIRE(&t,
                lb_apply_more(&t, &lw, "RoundRobin", app_backend(b1, sizeof(b1), &lw, "web", ""),
                              ", \"sessionAffinity\": {\"type\": \"ClientIP\"}") == 0);
    E2E_REQUIRE(&t, e2e_wait(&t, 60, lb_is, &all));
    sticky_want sw = {&y, all.address, lw.lb_port};
    KUMO_EXPECT(e2e_wait(&t, 20, sticks, &sw));
    tally_reset(&y);
    get_n(&y, all.address, lw.lb_port, 60);
    tally_print(&y, "client IP affinity");
    KUMO_EXPECT(y.failed == 0 && y.names[0][0] != '\0' && y.counts[0] == 60);

    /* Weighted 3:1 between the machines of the two connections. */
    char more[200];
    snprintf(more, sizeof(more), ", \"weight\": 3, \"machineConnection\": \"%s\"", lw.w.east);
    app_backend(b1, sizeof(b1), &lw, "east", more);
    snprintf(more, sizeof(more), ", \"weight\": 1, \"machineConnection\": \"%s\"", lw.w.west);
    app_backend(b2, sizeof(b2), &lw, "west", more);
    snprintf(backends, sizeof(backends), "%s, %s", b1, b2);
    E2E_REQUIRE(&t, lb_apply(&t, &lw, "Weighted", backends) == 0);
    lb_want split = {4, 4, "east,west", ""};
    E2E_REQUIRE(&t, e2e_wait(&t, 60, lb_is, &split));
    tally_reset(&y);
    get_n(&y, all.address, lw.lb_port, 400);
    tally_print(&y, "weighted 3:1");
    KUMO_EXPECT(y.failed == 0);
    KUMO_EXPECT(share(&y, "web-front", 400, 1.0, 0.0));
    char names[8][128];
    int n = local_world_machines_of(&t, lw.w.east, names, 8);
    int east_total = tally_sum(&y, names, n);
    fprintf(stderr, "east (%d machines): %d of 400\n", n, east_total);
    KUMO_EXPECT(east_total >= 280 && east_total <= 320);

    /* Failover: everything to priority 0 (east) until it is down, then to west, and back. */
    snprintf(more, sizeof(more), ", \"priority\": 0, \"machineConnection\": \"%s\"", lw.w.east);
    app_backend(b1, sizeof(b1), &lw, "east", more);
    snprintf(more, sizeof(more), ", \"priority\": 1, \"machineConnection\": \"%s\"", lw.w.west);
    app_backend(b2, sizeof(b2), &lw, "west", more);
    snprintf(backends, sizeof(backends), "%s, %s", b1, b2);
    E2E_REQUIRE(&t, lb_apply(&t, &lw, "Failover", backends) == 0);
    E2E_REQUIRE(&t, e2e_wait(&t, 60, lb_is, &split));
    load l;
    load_start(&l, all.address, lw.lb_port, 30000);
    e2e_sleep_ms(1000);
    int east_before = tally_sum(&l.y, names, n);
    KUMO_EXPECT(east_before == l.y.ok && l.y.ok > 0);
    /* kill -9 of east's app processes under load (kept down by their flag files). */
    double killed = now_ms();
    service_set(&t, &lw, lw.w.east, 1);
    health_want east_down = {lw.w.east, 0}, east_up = {lw.w.east, 1};
    ok = e2e_wait(&t, 30, endpoints_are, &east_down);
    double detect = now_ms() - killed;
    if (!ok)
        local_world_dump(&t, "LoadBalancer", "front");
    KUMO_EXPECT(ok);
    fprintf(stderr, "east marked unhealthy after %.0f ms (250 ms x 3 + status poll)\n", detect);
    KUMO_EXPECT(detect <= 250 * 3 + 1000 + 1500); /* + the controller's 1 s status poll */
    int west_before = l.y.ok - east_before;
    e2e_sleep_ms(1000);
    n = local_world_machines_of(&t, lw.w.west, names, 8);
    int west_now = tally_sum(&l.y, names, n);
    KUMO_EXPECT(west_now > west_before);
    service_set(&t, &lw, lw.w.east, 0);
    KUMO_EXPECT(e2e_wait(&t, 60, endpoints_are, &east_up));
    e2e_sleep_ms(500);
    int west_after = tally_sum(&l.y, names, n);
    e2e_sleep_ms(1000);
    int west_later = tally_sum(&l.y, names, n);
    KUMO_EXPECT(west_later == west_after); /* back on priority 0 */
    load_stop(&l);
    tally_print(&l.y, "failover under load");
    KUMO_EXPECT(l.y.failed == 0);

    world_end(&t, &lw);
    e2e_stop(&t);
}

/* Machines of the Infra that answered through the load balancer. */
static int new_machine_served(e2e *t, void *arg)
{
    (void)t;
    load *l = arg;
    int served = 0;
    for (int i = 4; i < 6; i++) {
        char name[64];
        snprintf(name, sizeof(name), "web-front-%d", i);
        served += tally_of(&l->y, name) > 0;
    }
    return served == 2;
}

KUMO_TEST(lb_local_changes)
{
    local_world_require_root();
    e2e t;
    lb_world lw;
    E2E_REQUIRE(&t, world_start(&t, &lw) == 0);
    char b1[300];
    E2E_REQUIRE(&t,
                lb_apply(&t, &lw, "RoundRobin", app_backend(b1, sizeof(b1), &lw, "web", "")) == 0);
    lb_want four = {4, 4, "web", ""};
    E2E_REQUIRE(&t, e2e_wait(&t, 60, lb_is, &four));
    load l;
    load_start(&l, four.address, lw.lb_port, 60000);

    /* 4 -> 6: the new instances serve within 2 s of being ready. */
    E2E_REQUIRE(&t, local_world_infra(&t, &lw.w, 6) == 0);
    KUMO_EXPECT(local_world_app_ready(&t, "hello", 6, 120));
    double ready = now_ms();
    KUMO_EXPECT(e2e_wait(&t, 10, new_machine_served, &l));
    double served_ms = now_ms() - ready;
    fprintf(stderr, "new instances served %.0f ms after the App said ready\n", served_ms);
    KUMO_EXPECT(served_ms <= 2000);
    lb_want six = {6, 6, "web", ""};
    KUMO_EXPECT(e2e_wait(&t, 30, lb_is, &six));

    /* 6 -> 2 under load. */
    E2E_REQUIRE(&t, local_world_infra(&t, &lw.w, 2) == 0);
    KUMO_EXPECT(local_world_app_ready(&t, "hello", 2, 120));
    lb_want two = {2, 2, "web", ""};
    KUMO_EXPECT(e2e_wait(&t, 60, lb_is, &two));
    tally_print(&l.y, "scale 4 -> 6 -> 2");
    KUMO_EXPECT(l.y.failed == 0);

    /* kill -9 of kumod during a change: HAProxy serves on; one HAProxy after the restart. */
    E2E_REQUIRE(&t, local_world_infra(&t, &lw.w, 4) == 0);
    e2e_sleep_ms(1500);
    e2e_kumod_kill(&t, SIGKILL);
    int before = l.y.ok;
    e2e_sleep_ms(2000);
    KUMO_EXPECT(l.y.ok > before);
    KUMO_EXPECT(haproxy_masters(&lw) == 1);
    E2E_REQUIRE(&t, e2e_kumod_start(&t) == 0);
    KUMO_EXPECT(local_world_app_ready(&t, "hello", 4, 150));
    KUMO_EXPECT(e2e_wait(&t, 60, lb_is, &four));
    KUMO_EXPECT(haproxy_masters(&lw) == 1);
    load_stop(&l);
    tally_print(&l.y, "scale and kumod kill -9");
    KUMO_EXPECT(l.y.failed == 0);

    world_end(&t, &lw);
    e2e_stop(&t);
}

/* ---- bad input -------------------------------------------------------------------------- */

typedef struct condition_want {
    const char *type, *status, *reason;
} condition_want;

static int lb_condition(e2e *t, void *arg)
{
    condition_want *w = arg;
    ProtobufCMessage *lb = e2e_get(t, "LoadBalancer", "front");
    const Kumo__V1alpha1__Condition *c = lb ? kumo_object_condition_get(lb, w->type) : NULL;
    int ok = c && strcmp(c->status, w->status) == 0 && strcmp(c->reason, w->reason) == 0;
    if (ok)
        fprintf(stderr, "%s %s %s: %s\n", w->type, w->status, w->reason, c->message);
    kumo_object_destroy(lb);
    return ok;
}

/* A tls Credential "front-tls" from PEM files (NULL: garbage instead). */
static int tls_credential(e2e *t, const char *dir, int valid)
{
    char *crt = NULL, *key = NULL;
    if (valid) {
        char path[300];
        snprintf(path, sizeof(path), "%s/tls.crt", dir);
        crt = local_world_json_file(path);
        snprintf(path, sizeof(path), "%s/tls.key", dir);
        key = local_world_json_file(path);
    }
    int rc = e2e_apply(t,
                       "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Credential\","
                       " \"metadata\": {\"name\": \"front-tls\", \"namespace\": \"default\"},"
                       " \"spec\": {\"type\": \"tls\", \"data\": {\"tls.crt\": \"%s\","
                       " \"tls.key\": \"%s\"}}}",
                       crt ? crt : "not a certificate", key ? key : "not a key");
    free(crt);
    free(key);
    return rc;
}

KUMO_TEST(lb_local_bad_input)
{
    local_world_require_root();
    if (local_world_sh("command -v openssl >/dev/null && command -v curl >/dev/null") != 0)
        kumo_test_skip("needs openssl and curl");
    e2e t;
    lb_world lw;
    E2E_REQUIRE(&t, world_start(&t, &lw) == 0);
    E2E_REQUIRE(&t, local_world_sh("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=front "
                                   "-days 2 -keyout %s/tls.key -out %s/tls.crt 2>/dev/null",
                                   lw.flags, lw.flags) == 0);
    E2E_REQUIRE(&t, tls_credential(&t, lw.flags, 1) == 0);
    /* An HTTPS listener, and a backend naming an App that does not exist. */
    char b1[300], b2[300], backends[700];
    app_backend(b1, sizeof(b1), &lw, "web", "");
    snprintf(b2, sizeof(b2),
             "{\"name\": \"ghost\", \"appRef\": {\"name\": \"ghost\"}, \"component\": \"http\","
             " \"port\": %d}",
             lw.w.port);
    snprintf(backends, sizeof(backends), "%s, %s", b1, b2);
    E2E_REQUIRE(&t, e2e_apply(&t,
                              "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"LoadBalancer\","
                              " \"metadata\": {\"name\": \"front\", \"namespace\": \"default\"},"
                              " \"spec\": {\"connection\": \"%s\", \"listeners\": ["
                              "{\"name\": \"http\", \"port\": %d, \"protocol\": \"HTTP\"},"
                              "{\"name\": \"https\", \"port\": %d, \"protocol\": \"HTTPS\","
                              " \"tlsCredentialRef\": {\"name\": \"front-tls\"}}],"
                              " \"backends\": [%s]}}",
                              lw.w.east, lw.lb_port, lw.lb_port + 1, backends) == 0);
    lb_want all = {8, 8, "web", ""};
    E2E_REQUIRE(&t, e2e_wait(&t, 60, lb_is, &all));
    condition_want ghost = {"Degraded", "True", "BackendNotFound"};
    KUMO_EXPECT(e2e_wait(&t, 20, lb_condition, &ghost));
    /* HTTPS terminates TLS with the Credential's certificate. */
    KUMO_EXPECT(local_world_sh("curl -sk --max-time 5 https://%s:%d/ | grep -q web-front",
                               all.address, lw.lb_port + 1) == 0);
    KUMO_EXPECT(local_world_sh("curl -s --max-time 5 --cacert %s/tls.crt --resolve "
                               "front:%d:%s https://front:%d/ | grep -q web-front",
                               lw.flags, lw.lb_port + 1, all.address, lw.lb_port + 1) == 0);

    /* A Credential that is no certificate: that listener goes, the rest serves on. */
    E2E_REQUIRE(&t, tls_credential(&t, lw.flags, 0) == 0);
    condition_want bad_tls = {"Degraded", "True", "TLSCredentialInvalid"};
    KUMO_EXPECT(e2e_wait(&t, 30, lb_condition, &bad_tls));
    tally y;
    memset(&y, 0, sizeof(y));
    pthread_mutex_init(&y.mu, NULL);
    get_n(&y, all.address, lw.lb_port, 50);
    KUMO_EXPECT(y.failed == 0);
    condition_want serving = {"Ready", "True", "Serving"};
    KUMO_EXPECT(lb_condition(&t, &serving));

    /* A listener port used twice is refused at the door, naming the field. */
    KUMO_EXPECT(e2e_apply(&t,
                          "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"LoadBalancer\","
                          " \"metadata\": {\"name\": \"twice\", \"namespace\": \"default\"},"
                          " \"spec\": {\"connection\": \"%s\", \"listeners\": ["
                          "{\"name\": \"a\", \"port\": 80}, {\"name\": \"b\", \"port\": 80}],"
                          " \"backends\": [%s]}}",
                          lw.w.east, b1) != 0);
    get_n(&y, all.address, lw.lb_port, 50);
    KUMO_EXPECT(y.failed == 0);
    e2e_delete(&t, "Credential", "front-tls");
    world_end(&t, &lw);
    e2e_stop(&t);
}

/* ---- on the simulated cloud (no root) -------------------------------------------------------- */

static int machine_ip(e2e *t, const char *name, char *ip, size_t size)
{
    Kumo__V1alpha1__Machine *m = (Kumo__V1alpha1__Machine *)e2e_get(t, "Machine", name);
    int ok = m && m->status && m->status->phase == KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running &&
             m->status->n_addresses > 0;
    if (ok)
        snprintf(ip, size, "%s", m->status->addresses[0]->address);
    kumo_object_destroy(m ? &m->base : NULL);
    return ok;
}

static int machines_running(e2e *t, void *arg)
{
    char ip[64];
    (void)arg;
    return machine_ip(t, "m0", ip, sizeof(ip)) && machine_ip(t, "m1", ip, sizeof(ip));
}

static int sim_lb_apply(e2e *t, const char *connection, const char *policy, const char *a,
                        const char *b)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"LoadBalancer\","
                     " \"metadata\": {\"name\": \"front\", \"namespace\": \"default\"},"
                     " \"spec\": {\"connection\": \"%s\", \"policy\": \"%s\","
                     " \"listeners\": [{\"name\": \"tcp\", \"port\": 443}],"
                     " \"healthCheck\": {\"type\": \"TCP\", \"intervalMillis\": 200,"
                     " \"failureThreshold\": 2}, \"backends\": [{\"name\": \"pool\","
                     " \"addresses\": [\"%s\", \"%s\"], \"port\": 8443}]}}",
                     connection, policy, a, b);
}

static int sim_lbs(e2e *t, void *arg)
{
    kumo_value *inv = e2e_inventory(t);
    size_t n = inv ? e2e_inventory_count(inv, "loadBalancers") : 99;
    kumo_codec_value_destroy(inv);
    return n == (size_t)(intptr_t)arg;
}

KUMO_TEST(lb_sim_conditions)
{
    e2e t;
    e2e_start(&t, "2");
    E2E_REQUIRE(&t, e2e_sim_connection(&t, "sim1", "us-east-1", 50, 10, 8, NULL) == 0);
    for (int i = 0; i < 2; i++)
        E2E_REQUIRE(&t, e2e_apply(&t,
                                  "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Machine\","
                                  " \"metadata\": {\"name\": \"m%d\", \"namespace\": \"default\"},"
                                  " \"spec\": {\"connection\": \"sim1\", \"instanceType\": "
                                  "\"t3.micro\", \"image\": \"ubuntu-22.04\"}}",
                                  i) == 0);
    E2E_REQUIRE(&t, e2e_wait(&t, 60, machines_running, NULL));
    char a[64], b[64];
    machine_ip(&t, "m0", a, sizeof(a));
    machine_ip(&t, "m1", b, sizeof(b));

    /* A Connection that does not exist: a clear condition. */
    E2E_REQUIRE(&t, sim_lb_apply(&t, "nowhere", "RoundRobin", a, b) == 0);
    condition_want missing = {"Degraded", "True", "ConnectionNotFound"};
    KUMO_EXPECT(e2e_wait(&t, 30, lb_condition, &missing));

    /* On the sim: two healthy endpoints (the machines run). */
    E2E_REQUIRE(&t, sim_lb_apply(&t, "sim1", "RoundRobin", a, b) == 0);
    lb_want two = {2, 2, "pool", ""};
    KUMO_EXPECT(e2e_wait(&t, 30, lb_is, &two));
    KUMO_EXPECT(e2e_wait(&t, 10, sim_lbs, (void *)(intptr_t)1));

    /* A policy the driver does not support: DriverUnsupported, the old one keeps serving. */
    E2E_REQUIRE(&t, sim_lb_apply(&t, "sim1", "LeastConnections", a, b) == 0);
    condition_want unsupported = {"Degraded", "True", "DriverUnsupported"};
    KUMO_EXPECT(e2e_wait(&t, 30, lb_condition, &unsupported));
    condition_want serving = {"Ready", "True", "Serving"};
    KUMO_EXPECT(lb_condition(&t, &serving));

    /* A machine goes: its endpoint turns unhealthy after the check window. */
    E2E_REQUIRE(&t, sim_lb_apply(&t, "sim1", "RoundRobin", a, b) == 0);
    E2E_REQUIRE(&t, e2e_delete(&t, "Machine", "m1") == 0);
    lb_want one = {1, 2, "pool", ""};
    KUMO_EXPECT(e2e_wait(&t, 30, lb_is, &one));
    condition_want sick = {"Degraded", "True", "EndpointsUnhealthy"};
    KUMO_EXPECT(e2e_wait(&t, 10, lb_condition, &sick));

    /* Deleted: nothing left in the cloud. */
    E2E_REQUIRE(&t, e2e_delete(&t, "LoadBalancer", "front") == 0);
    KUMO_EXPECT(e2e_wait(&t, 30, sim_lbs, (void *)(intptr_t)0));
    e2e_stop(&t);
}
