/*
 * migration_test.c - Migrations with real traffic (root for the local cases):
 * kumod with every controller, two local Connections, an Infra group
 * "front" of four machines on the first one running a small HTTP service,
 * a LoadBalancer (a real HAProxy) in front of it, and real GETs from this
 * process through it during every migration, counted exactly.
 *
 *   migration_local_bluegreen  a BlueGreen migration whose target instances
 *                              fail their health check rolls back; a second
 *                              Migration of the group is refused meanwhile;
 *                              one whose target fails during the cutover is
 *                              rolled back by the health gate; then BlueGreen
 *                              10% -> 50% -> 100% completes; 0 failed GETs
 *                              throughout
 *   migration_local_crash      a group spread over both connections (the
 *                              quickstart's) moved BlueGreen onto the second
 *                              with kumod killed (-9) once in each of
 *                              Provisioning, CuttingOver and Draining, then
 *                              Rolling onto the first; 0 failed GETs, no
 *                              machine leaked or doubled
 *   migration_sim_cold         bad inputs give a clear condition and change
 *                              nothing; without rollbackOnFailure a failed
 *                              Migration holds, and deleting it rolls back;
 *                              a paused Migration changes nothing until
 *                              resumed; Cold on the sim reports its downtime
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/migration.pb-c.h"
#include "apis/object/object.h"
#include "tests/agentbus/agentbus.h"
#include "tests/e2e/e2e.h"
#include "tests/e2e/local_world.h"

#define PHASE(x) KUMO__V1ALPHA1__MIGRATION_STATUS__PHASE__##x
/* E2E_REQUIRE on a call made once (E2E_REQUIRE evaluates its condition again on failure). */
#define E2E_REQUIRE_CALL(t, call)                                                                  \
    do {                                                                                           \
        int ok_ = (call);                                                                          \
        E2E_REQUIRE(t, ok_);                                                                       \
    } while (0)

/* ---- traffic: GETs one after the other until stopped, bounded in count ------------------ */

typedef struct traffic {
    char ip[64];
    int port, max;
    atomic_int stop, ok, failed;
    char last_error[160];
    pthread_t thread;
} traffic;

static void *traffic_main(void *arg)
{
    traffic *l = arg;
    for (int i = 0; i < l->max && !atomic_load(&l->stop); i++) {
        int code = 0;
        char *body = agentbus_http_get(l->ip, l->port, "/", &code);
        if (body != NULL && code == 200) {
            atomic_fetch_add(&l->ok, 1);
        } else {
            atomic_fetch_add(&l->failed, 1);
            snprintf(l->last_error, sizeof(l->last_error), "code %d body \"%.60s\"", code,
                     body ? body : "(no answer)");
        }
        free(body);
        e2e_sleep_ms(5);
    }
    return NULL;
}

static void traffic_start(traffic *l, const char *ip, int port)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->ip, sizeof(l->ip), "%s", ip);
    l->port = port;
    l->max = 200000;
    pthread_create(&l->thread, NULL, traffic_main, l);
}

static void traffic_stop(traffic *l, const char *what)
{
    atomic_store(&l->stop, 1);
    pthread_join(l->thread, NULL);
    fprintf(stderr, "%s: %d GETs ok, %d failed%s%s\n", what, atomic_load(&l->ok),
            atomic_load(&l->failed), atomic_load(&l->failed) ? "; last: " : "",
            atomic_load(&l->failed) ? l->last_error : "");
}

/* ---- the Migration ---------------------------------------------------------------------- */

static int migration_apply(e2e *t, const char *name, const char *strategy, const char *connection,
                           const char *more)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Migration\","
                     " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                     " \"spec\": {\"source\": {\"infraRef\": {\"name\": \"web\"}, \"group\": "
                     "\"front\"}, \"target\": {\"connection\": \"%s\", \"instanceType\": \"%s\"},"
                     " \"strategy\": \"%s\"%s}}",
                     name, connection, strstr(connection, "sim") ? "t3.micro" : "local.nano",
                     strategy, more);
}

typedef struct phase_want {
    const char *name;
    int phase;
} phase_want;

static Kumo__V1alpha1__Migration *migration_get(e2e *t, const char *name)
{
    return (Kumo__V1alpha1__Migration *)e2e_get(t, "Migration", name);
}

static int phase_of(e2e *t, const char *name)
{
    Kumo__V1alpha1__Migration *m = migration_get(t, name);
    int p = m && m->status ? (int)m->status->phase : -1;
    kumo_object_destroy(m ? &m->base : NULL);
    return p;
}

static int phase_is(e2e *t, void *arg)
{
    phase_want *w = arg;
    return phase_of(t, w->name) == w->phase;
}

static int wait_phase(e2e *t, const char *name, int phase, double seconds)
{
    phase_want w = {name, phase};
    int ok = e2e_wait(t, seconds, phase_is, &w);
    if (!ok) {
        e2e_dump_log(t, 60);
        local_world_dump(t, "Migration", name);
        local_world_dump(t, "LoadBalancer", "front");
    }
    return ok;
}

typedef struct condition_want {
    const char *name, *type, *status, *reason;
} condition_want;

static int condition_is(e2e *t, void *arg)
{
    condition_want *w = arg;
    ProtobufCMessage *m = e2e_get(t, "Migration", w->name);
    const Kumo__V1alpha1__Condition *c = m ? kumo_object_condition_get(m, w->type) : NULL;
    int ok = c && strcmp(c->status, w->status) == 0 && strcmp(c->reason, w->reason) == 0;
    if (ok)
        fprintf(stderr, "%s %s=%s %s: %s\n", w->name, w->type, w->status, w->reason, c->message);
    kumo_object_destroy(m);
    return ok;
}

static int gone(e2e *t, void *arg)
{
    ProtobufCMessage *m = e2e_get(t, "Migration", arg);
    kumo_object_destroy(m);
    return m == NULL;
}

static int64_t infra_generation(e2e *t)
{
    ProtobufCMessage *o = e2e_get(t, "Infra", "web");
    int64_t g = o ? ((Kumo__V1alpha1__Infra *)o)->metadata->generation : -1;
    kumo_object_destroy(o);
    return g;
}

/* The group as the user would have written it: on `connection`, no migration label, and no
 * migration annotation on the Infra. */
static int infra_describes(e2e *t, const char *connection)
{
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)e2e_get(t, "Infra", "web");
    int ok = infra && infra->spec->n_groups == 1 &&
             strcmp(infra->spec->groups[0]->connection, connection) == 0 &&
             infra->spec->groups[0]->n_labels == 0 && infra->metadata->n_annotations == 0 &&
             infra->spec->groups[0]->size == 4;
    if (!ok)
        local_world_dump(t, "Infra", "web");
    kumo_object_destroy(infra ? &infra->base : NULL);
    return ok;
}

/* ---- the local world -------------------------------------------------------------------- */

typedef struct mig_world {
    local_world w;
    int lb_port;
    char flags[128]; /* a file <flags>/<machine> keeps that machine's service from starting */
    char address[64];
} mig_world;

static int lb_ready(e2e *t, void *arg)
{
    mig_world *mw = arg;
    Kumo__V1alpha1__LoadBalancer *lb =
        (Kumo__V1alpha1__LoadBalancer *)e2e_get(t, "LoadBalancer", "front");
    int ok = lb && lb->status && lb->status->address[0] && lb->status->healthy_endpoints == 4 &&
             lb->status->total_endpoints == 4;
    if (ok)
        snprintf(mw->address, sizeof(mw->address), "%s", lb->status->address);
    kumo_object_destroy(lb ? &lb->base : NULL);
    return ok;
}

/* The LoadBalancer as the user wrote it: RoundRobin, one backend, no migration annotation. */
static int lb_original(e2e *t)
{
    Kumo__V1alpha1__LoadBalancer *lb =
        (Kumo__V1alpha1__LoadBalancer *)e2e_get(t, "LoadBalancer", "front");
    int ok = lb && lb->spec->policy == KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__RoundRobin &&
             lb->spec->n_backends == 1 && lb->metadata->n_annotations == 0 &&
             lb->spec->backends[0]->machine_selector == NULL;
    if (!ok)
        local_world_dump(t, "LoadBalancer", "front");
    kumo_object_destroy(lb ? &lb->base : NULL);
    return ok;
}

/* The world: the group on the first connection, or (spread) placed over both like the
 * quickstart's. 0 once the App is Ready and the LoadBalancer serves every instance. */
static int world_start(e2e *t, mig_world *mw, const char *tag, int spread)
{
    memset(mw, 0, sizeof(*mw));
    local_world_init(&mw->w, tag);
    mw->lb_port = mw->w.port + 1;
    snprintf(mw->flags, sizeof(mw->flags), "/tmp/kumo-migtest-%d", (int)getpid());
    mkdir(mw->flags, 0755);
    e2e_start(t, "2");
    int net = mw->w.net;
    if (local_world_connection(t, &mw->w, mw->w.east, net) != 0 ||
        local_world_connection(t, &mw->w, mw->w.west, net + 70) != 0)
        return -1;
    if (spread ? local_world_infra(t, &mw->w, 4) != 0
               : e2e_apply(t,
                           "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                           " \"metadata\": {\"name\": \"web\", \"namespace\": \"default\"},"
                           " \"spec\": {\"groups\": [{\"name\": \"front\", \"size\": 4,"
                           " \"connection\": \"%s\", \"instanceType\": \"local.nano\", \"image\":"
                           " \"debian-12\", \"securityRules\": [{\"direction\": \"Inbound\","
                           " \"protocol\": \"TCP\", \"fromPort\": %d, \"toPort\": %d,"
                           " \"cidr\": \"0.0.0.0/0\"}]}]}}",
                           mw->w.east, mw->w.port, mw->w.port) != 0)
        return -1;
    char command[700], health[200];
    snprintf(command, sizeof(command),
             "\"files\": [{\"path\": \"serve.sh\", \"mode\": \"0755\", \"content\":"
             " \"#!/bin/sh\\n[ -e %s/$KUMO_MACHINE_NAME ] && exit 1\\n"
             "echo \\\"$KUMO_MACHINE_NAME\\\" > index.html\\nexec python3 -m "
             "http.server %d\\n\"}], \"command\": [\"./serve.sh\"]",
             mw->flags, mw->w.port);
    snprintf(health, sizeof(health), "{\"type\": \"HTTP\", \"port\": %d, \"path\": \"/\"}",
             mw->w.port);
    if (local_world_app(t, "hello", command, health) != 0 ||
        !local_world_app_ready(t, "hello", 4, 150))
        return -1;
    if (e2e_apply(t,
                  "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"LoadBalancer\","
                  " \"metadata\": {\"name\": \"front\", \"namespace\": \"default\"},"
                  " \"spec\": {\"connection\": \"%s\", \"policy\": \"RoundRobin\","
                  " \"listeners\": [{\"name\": \"http\", \"port\": %d, \"protocol\": \"HTTP\"}],"
                  " \"healthCheck\": {\"type\": \"HTTP\", \"path\": \"/\", \"intervalMillis\": "
                  "250, \"timeoutMillis\": 250, \"failureThreshold\": 3, \"successThreshold\": 1},"
                  " \"drainTimeoutSeconds\": 10, \"backends\": [{\"name\": \"web\", \"appRef\":"
                  " {\"name\": \"hello\"}, \"component\": \"http\", \"port\": %d}]}}",
                  mw->w.east, mw->lb_port, mw->w.port) != 0)
        return -1;
    return e2e_wait(t, 60, lb_ready, mw) ? 0 : -1;
}

static int lb_gone(e2e *t, void *arg)
{
    const mig_world *mw = arg;
    ProtobufCMessage *o = e2e_get(t, "LoadBalancer", "front");
    kumo_object_destroy(o);
    return o == NULL && local_world_sh("ip netns list | grep -q '^%s-.*-lb-' && exit 1; exit 0",
                                       mw->w.prefix) == 0;
}

static void world_end(e2e *t, mig_world *mw)
{
    local_world_sh("rm -rf %s", mw->flags);
    KUMO_EXPECT(e2e_delete(t, "LoadBalancer", "front") == 0);
    KUMO_EXPECT(e2e_wait(t, 30, lb_gone, mw));
    local_world_finish(t, &mw->w);
    e2e_stop(t);
}

static int machines_on(e2e *t, const char *connection)
{
    char names[16][128];
    return local_world_machines_of(t, connection, names, 16);
}

/* Machine namespaces of this run on the host (load balancers' left out). */
static int host_machines(const mig_world *mw)
{
    return local_world_sh_count("ip netns list | awk '/^%s-/ && !/-lb-/ {print $1}'", mw->w.prefix);
}

/* After a completed move to `connection`: everything there, nothing left behind, the App
 * Ready with 4 instances, the objects as the user would have written them. */
static void expect_moved(e2e *t, const mig_world *mw, const char *name, const char *connection,
                         const char *other)
{
    KUMO_EXPECT_INT_EQ(machines_on(t, connection), 4);
    KUMO_EXPECT_INT_EQ(machines_on(t, other), 0);
    KUMO_EXPECT_INT_EQ(host_machines(mw), 4);
    KUMO_EXPECT(local_world_app_ready(t, "hello", 4, 60));
    KUMO_EXPECT(infra_describes(t, connection));
    KUMO_EXPECT(lb_original(t));
    Kumo__V1alpha1__Migration *m = migration_get(t, name);
    E2E_REQUIRE_CALL(t, m && m->status);
    fprintf(stderr,
            "%s: %.1fs, split %.1fs, %lld requests served, %lld failed (load balancer), %zu "
            "steps\n",
            name, m->status->duration_seconds, m->status->split_seconds,
            (long long)m->status->requests_served, (long long)m->status->requests_failed,
            m->status->n_steps);
    KUMO_EXPECT(m->status->requests_served > 0);
    KUMO_EXPECT_INT_EQ(m->status->requests_failed, 0);
    KUMO_EXPECT_INT_EQ(m->status->target_weight, 100);
    KUMO_EXPECT(m->status->completion_time != NULL);
    kumo_object_destroy(&m->base);
    condition_want ready = {name, "Ready", "True", "Completed"};
    KUMO_EXPECT(condition_is(t, &ready));
}

/* After a rollback: the reason, everything as before, the rollback quick; the Migration
 * deleted. */
static void expect_rolled_back(e2e *t, const mig_world *mw, const char *name, const char *reason)
{
    condition_want rolled = {name, "Degraded", "True", reason};
    KUMO_EXPECT(condition_is(t, &rolled));
    KUMO_EXPECT_INT_EQ(machines_on(t, mw->w.west), 0);
    KUMO_EXPECT_INT_EQ(machines_on(t, mw->w.east), 4);
    KUMO_EXPECT_INT_EQ(host_machines(mw), 4);
    KUMO_EXPECT(infra_describes(t, mw->w.east));
    KUMO_EXPECT(lb_original(t));
    Kumo__V1alpha1__Migration *m = migration_get(t, name);
    const Kumo__V1alpha1__MigrationStep *last =
        m && m->status && m->status->n_steps ? m->status->steps[m->status->n_steps - 1] : NULL;
    KUMO_EXPECT(last && strcmp(last->name, "Rollback") == 0 && last->completion_time);
    if (last && last->completion_time) {
        double took = (double)(last->completion_time->seconds - last->start_time->seconds);
        fprintf(stderr, "%s: rolled back in %.0fs (%s)\n", name, took, m->status->message);
        KUMO_EXPECT(took <= 30);
    }
    kumo_object_destroy(m ? &m->base : NULL);
    E2E_REQUIRE_CALL(t, e2e_delete(t, "Migration", name) == 0);
    KUMO_EXPECT(e2e_wait(t, 30, gone, (void *)name));
}

typedef struct step_want {
    const char *name, *step;
} step_want;

static int step_running(e2e *t, void *arg)
{
    step_want *w = arg;
    Kumo__V1alpha1__Migration *m = migration_get(t, w->name);
    const Kumo__V1alpha1__MigrationStep *last =
        m && m->status && m->status->n_steps ? m->status->steps[m->status->n_steps - 1] : NULL;
    int ok = last && strcmp(last->name, w->step) == 0 &&
             last->state == KUMO__V1ALPHA1__MIGRATION_STEP__STATE__Running;
    kumo_object_destroy(m ? &m->base : NULL);
    return ok;
}

/* Keeps the service of every machine of `connection` down: flag files, then a kill. */
static void service_down(e2e *t, const mig_world *mw, const char *connection)
{
    char names[16][128];
    int n = local_world_machines_of(t, connection, names, 16);
    for (int i = 0; i < n; i++)
        local_world_sh("touch %s/%s", mw->flags, names[i]);
    local_world_kill_service(t, &mw->w, connection);
}

#define CUTOVER                                                                                    \
    ", \"cutover\": {\"loadBalancerRef\": {\"name\": \"front\"}, \"steps\": [{\"weight\": 10,"     \
    " \"pauseSeconds\": 2}, {\"weight\": 50, \"pauseSeconds\": 2}, {\"weight\": 100}]},"           \
    " \"timeouts\": {\"drainSeconds\": 10, \"deploySeconds\": %d}"

/* ---- the cases ------------------------------------------------------------------------------ */

KUMO_TEST(migration_local_bluegreen)
{
    local_world_require_root();
    e2e t;
    mig_world mw;
    E2E_REQUIRE_CALL(&t, world_start(&t, &mw, "mig", 0) == 0);
    traffic load;
    traffic_start(&load, mw.address, mw.lb_port);
    char more[400];

    /* The target's instances never start (web-front-4..7 are the new machines): rollback. */
    for (int i = 4; i < 8; i++)
        local_world_sh("touch %s/web-front-%d", mw.flags, i);
    snprintf(more, sizeof(more), CUTOVER, 20);
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "broken", "BlueGreen", mw.w.west, more) == 0);
    E2E_REQUIRE_CALL(&t, wait_phase(&t, "broken", PHASE(Provisioning), 30));
    /* A second Migration of the same group is refused and changes nothing. */
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "second", "BlueGreen", mw.w.west, "") == 0);
    condition_want busy = {"second", "Ready", "False", "GroupBusy"};
    KUMO_EXPECT(e2e_wait(&t, 30, condition_is, &busy));
    KUMO_EXPECT(phase_of(&t, "second") <= PHASE(Pending));
    E2E_REQUIRE_CALL(&t, e2e_delete(&t, "Migration", "second") == 0);
    KUMO_EXPECT(e2e_wait(&t, 30, gone, "second"));

    E2E_REQUIRE_CALL(&t, wait_phase(&t, "broken", PHASE(RolledBack), 150));
    expect_rolled_back(&t, &mw, "broken", "DeployTimeout");
    KUMO_EXPECT_INT_EQ(atomic_load(&load.failed), 0);

    /* The target serves, then fails during the first cutover step: the gate rolls back. */
    local_world_sh("rm -f %s/*", mw.flags);
    snprintf(more, sizeof(more),
             ", \"cutover\": {\"loadBalancerRef\": {\"name\": \"front\"}, \"steps\": "
             "[{\"weight\": 10, \"pauseSeconds\": 60}, {\"weight\": 100}]},"
             " \"timeouts\": {\"drainSeconds\": 10}");
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "sick", "BlueGreen", mw.w.west, more) == 0);
    step_want cutting = {"sick", "CutOver 10%"};
    E2E_REQUIRE_CALL(&t, e2e_wait(&t, 120, step_running, &cutting));
    service_down(&t, &mw, mw.w.west);
    E2E_REQUIRE_CALL(&t, wait_phase(&t, "sick", PHASE(RolledBack), 90));
    expect_rolled_back(&t, &mw, "sick", "HealthGateFailed");
    KUMO_EXPECT_INT_EQ(atomic_load(&load.failed), 0);

    /* Now the target works: 10% -> 50% -> 100%, the source drained and removed. */
    local_world_sh("rm -f %s/*", mw.flags);
    snprintf(more, sizeof(more), CUTOVER, 120);
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "move", "BlueGreen", mw.w.west, more) == 0);
    E2E_REQUIRE_CALL(&t, wait_phase(&t, "move", PHASE(Completed), 240));
    traffic_stop(&load, "during the migrations");
    KUMO_EXPECT(atomic_load(&load.ok) > 0);
    KUMO_EXPECT_INT_EQ(atomic_load(&load.failed), 0);
    expect_moved(&t, &mw, "move", mw.w.west, mw.w.east);
    world_end(&t, &mw);
}

KUMO_TEST(migration_local_crash)
{
    local_world_require_root();
    e2e t;
    mig_world mw;
    E2E_REQUIRE_CALL(&t, world_start(&t, &mw, "mic", 1) == 0);
    traffic load;
    traffic_start(&load, mw.address, mw.lb_port);
    char more[400];
    snprintf(more, sizeof(more), CUTOVER, 120);
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "move", "BlueGreen", mw.w.west, more) == 0);
    /* kill -9 once in each phase, as soon as the Migration reports it. */
    const int phases[3] = {PHASE(Provisioning), PHASE(CuttingOver), PHASE(Draining)};
    for (int k = 0; k < 3; k++) {
        E2E_REQUIRE_CALL(&t, wait_phase(&t, "move", phases[k], 180));
        e2e_kumod_kill(&t, SIGKILL);
        fprintf(stderr, "kumod killed in phase %d\n", phases[k]);
        E2E_REQUIRE_CALL(&t, e2e_kumod_start(&t) == 0);
    }
    E2E_REQUIRE_CALL(&t, wait_phase(&t, "move", PHASE(Completed), 240));
    KUMO_EXPECT_INT_EQ(atomic_load(&load.failed), 0);
    expect_moved(&t, &mw, "move", mw.w.west, mw.w.east);

    /* And back, machine by machine. */
    snprintf(more, sizeof(more),
             ", \"cutover\": {\"loadBalancerRef\": {\"name\": \"front\"}},"
             " \"timeouts\": {\"drainSeconds\": 10}");
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "back", "Rolling", mw.w.east, more) == 0);
    E2E_REQUIRE_CALL(&t, wait_phase(&t, "back", PHASE(Completed), 300));
    traffic_stop(&load, "during the migrations");
    KUMO_EXPECT_INT_EQ(atomic_load(&load.failed), 0);
    expect_moved(&t, &mw, "back", mw.w.east, mw.w.west);
    world_end(&t, &mw);
}

/* ---- the simulated cloud ------------------------------------------------------------------- */

static int sim_machines_on(e2e *t, void *arg)
{
    const char *connection = arg;
    char names[16][128];
    return local_world_machines_of(t, connection, names, 16) == 3 && e2e_infra_ready(t, "web", 3);
}

KUMO_TEST(migration_sim_cold)
{
    e2e t;
    e2e_start(&t, "2");
    E2E_REQUIRE_CALL(&t, e2e_sim_connection(&t, "sim1", "us-east-1", 50, 10, 8, NULL) == 0);
    E2E_REQUIRE_CALL(&t, e2e_sim_connection(&t, "sim2", "eu-west-1", 50, 10, 8, NULL) == 0);
    E2E_REQUIRE_CALL(&t,
                     e2e_apply(&t, "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                                   " \"metadata\": {\"name\": \"web\", \"namespace\": \"default\"},"
                                   " \"spec\": {\"groups\": [{\"name\": \"front\", \"size\": 3,"
                                   " \"connection\": \"sim1\", \"instanceType\": \"t3.micro\","
                                   " \"image\": \"ubuntu-22.04\"}]}}") == 0);
    E2E_REQUIRE_CALL(&t, e2e_wait(&t, 60, sim_machines_on, "sim1"));
    E2E_REQUIRE_CALL(&t,
                     e2e_apply(&t, "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": "
                                   "\"LoadBalancer\", \"metadata\": {\"name\": \"fixed\","
                                   " \"namespace\": \"default\"}, \"spec\": {\"connection\": "
                                   "\"sim1\", \"listeners\": [{\"name\": \"tcp\", \"port\": 443}],"
                                   " \"backends\": [{\"name\": \"pool\", \"addresses\": "
                                   "[\"10.0.0.1\"], \"port\": 8443}]}}") == 0);
    int64_t generation = infra_generation(&t);

    /* Bad inputs: a clear condition each, nothing changed. */
    struct {
        const char *name, *source, *connection, *more, *reason;
    } bad[] = {
        {"no-connection", "front", "nowhere", "", "TargetConnectionNotFound"},
        {"no-group", "back", "sim2", "", "SourceNotFound"},
        {"no-lb", "front", "sim2", ", \"cutover\": {\"loadBalancerRef\": {\"name\": \"nope\"}}",
         "LoadBalancerNotFound"},
        {"not-fronting", "front", "sim2",
         ", \"cutover\": {\"loadBalancerRef\": {\"name\": \"fixed\"}}", "LoadBalancerNotFronting"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        E2E_REQUIRE_CALL(
            &t, e2e_apply(&t,
                          "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Migration\","
                          " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                          " \"spec\": {\"source\": {\"infraRef\": {\"name\": \"web\"},"
                          " \"group\": \"%s\"}, \"target\": {\"connection\": \"%s\","
                          " \"instanceType\": \"t3.micro\"}%s}}",
                          bad[i].name, bad[i].source, bad[i].connection, bad[i].more) == 0);
        condition_want want = {bad[i].name, "Ready", "False", bad[i].reason};
        KUMO_EXPECT(e2e_wait(&t, 30, condition_is, &want));
        condition_want degraded = {bad[i].name, "Degraded", "True", bad[i].reason};
        KUMO_EXPECT(condition_is(&t, &degraded));
        KUMO_EXPECT(phase_of(&t, bad[i].name) <= PHASE(Pending));
    }
    KUMO_EXPECT_INT_EQ(infra_generation(&t), generation);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        E2E_REQUIRE_CALL(&t, e2e_delete(&t, "Migration", bad[i].name) == 0);
        KUMO_EXPECT(e2e_wait(&t, 30, gone, (void *)bad[i].name));
    }

    /* No rollback on failure: the Migration stops in Failed with its edits held; deleting it
     * then rolls back (sim3 has no capacity, so its machines never run). */
    E2E_REQUIRE_CALL(&t, e2e_sim_connection(&t, "sim3", "eu-west-1", 50, 10, 8,
                                            "\"capacity.t3.micro\": \"0\"") == 0);
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "stuck", "BlueGreen", "sim3",
                                         ", \"rollbackOnFailure\": false, \"timeouts\": "
                                         "{\"provisionSeconds\": 3}") == 0);
    E2E_REQUIRE_CALL(&t, wait_phase(&t, "stuck", PHASE(Failed), 60));
    condition_want failed = {"stuck", "Degraded", "True", "ProvisionTimeout"};
    KUMO_EXPECT(condition_is(&t, &failed));
    KUMO_EXPECT_INT_EQ(machines_on(&t, "sim3"), 3);
    E2E_REQUIRE_CALL(&t, e2e_delete(&t, "Migration", "stuck") == 0);
    KUMO_EXPECT(e2e_wait(&t, 60, gone, "stuck"));
    KUMO_EXPECT(e2e_wait(&t, 60, sim_machines_on, "sim1"));
    KUMO_EXPECT_INT_EQ(machines_on(&t, "sim3"), 0);
    Kumo__V1alpha1__Infra *restored = (Kumo__V1alpha1__Infra *)e2e_get(&t, "Infra", "web");
    KUMO_EXPECT(restored && strcmp(restored->spec->groups[0]->connection, "sim1") == 0 &&
                restored->spec->groups[0]->n_labels == 0 && restored->metadata->n_annotations == 0);
    kumo_object_destroy(restored ? &restored->base : NULL);
    generation = infra_generation(&t);

    /* Paused before it starts: nothing changes until it is resumed. */
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "cold", "Cold", "sim2", ", \"paused\": true") == 0);
    condition_want paused = {"cold", "Progressing", "False", "Paused"};
    KUMO_EXPECT(e2e_wait(&t, 30, condition_is, &paused));
    e2e_sleep_ms(1500);
    KUMO_EXPECT_INT_EQ(infra_generation(&t), generation);

    /* Cold: stop the source, then start the target; the downtime is measured. */
    E2E_REQUIRE_CALL(&t, migration_apply(&t, "cold", "Cold", "sim2", "") == 0);
    E2E_REQUIRE_CALL(&t, wait_phase(&t, "cold", PHASE(Completed), 120));
    E2E_REQUIRE_CALL(&t, e2e_wait(&t, 30, sim_machines_on, "sim2"));
    KUMO_EXPECT_INT_EQ(machines_on(&t, "sim1"), 0);
    Kumo__V1alpha1__Migration *m = migration_get(&t, "cold");
    E2E_REQUIRE_CALL(&t, m && m->status);
    fprintf(stderr, "cold: downtime %.1fs of %.1fs\n", m->status->downtime_seconds,
            m->status->duration_seconds);
    KUMO_EXPECT(m->status->downtime_seconds > 0);
    KUMO_EXPECT(m->status->downtime_seconds <= m->status->duration_seconds);
    kumo_object_destroy(&m->base);
    /* kumoctl: the table, the step table, wait. */
    char kumoctl[1024];
    kumo_test_build_path("bin/kumoctl", kumoctl, sizeof(kumoctl));
    KUMO_EXPECT(local_world_sh("KUMO_NATS_URL=%s %s get migrations -o wide | grep -q "
                               "'^cold *Completed *0/0 *100%% .* Cold *sim2 .* Completed'",
                               t.url, kumoctl) == 0);
    KUMO_EXPECT(local_world_sh("KUMO_NATS_URL=%s %s describe migration cold | grep -qE "
                               "'^  StopSource +Succeeded .* the source machines are gone'",
                               t.url, kumoctl) == 0);
    KUMO_EXPECT(local_world_sh("KUMO_NATS_URL=%s %s wait --for=condition=Ready migration/cold "
                               "--timeout=10s >/dev/null",
                               t.url, kumoctl) == 0);
    KUMO_EXPECT(local_world_sh("KUMO_NATS_URL=%s %s wait --for=condition=Ready migration/no-such "
                               "--timeout=1s >/dev/null 2>&1",
                               t.url, kumoctl) != 0);
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)e2e_get(&t, "Infra", "web");
    KUMO_EXPECT(infra && strcmp(infra->spec->groups[0]->connection, "sim2") == 0 &&
                infra->spec->groups[0]->n_labels == 0 && infra->metadata->n_annotations == 0);
    kumo_object_destroy(infra ? &infra->base : NULL);
    e2e_stop(&t);
}
