/*
 * app_test.c - Apps on real machines (root): kumod with every controller, two
 * local-driver Connections (network namespaces on two bridges), an Infra of
 * four machines spread over both, kumo-agent in each, and an HTTP service
 * answering real requests. Then: the app process killed (the agent restarts
 * it), a machine's namespace deleted behind kumo's back (machine and
 * instance come back), a broken App and an unhealthy App next to the good
 * one (clear conditions, the good one undisturbed), and deletion (no
 * namespace, link, nftables table or process of the test left).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "tests/agentbus/agentbus.h"
#include "tests/e2e/e2e.h"

#define MACHINES 4

typedef struct local_world {
    char prefix[16]; /* name_prefix of both connections: every host name we make starts so */
    int port;        /* the service's port, unique to this run */
    char east[16], west[16]; /* connection names, unique to this run */
    char links[32][64];      /* bridges and veths seen (their names do not carry the prefix) */
    size_t link_count;
} local_world;

static void link_add(local_world *w, const char *name)
{
    for (size_t i = 0; i < w->link_count; i++)
        if (strcmp(w->links[i], name) == 0)
            return;
    if (name[0] && w->link_count < 32)
        snprintf(w->links[w->link_count++], sizeof(w->links[0]), "%s", name);
}

/* Remembers the host links the local driver made for both connections. */
static void links_collect(e2e *t, local_world *w)
{
    const char *names[2] = {w->east, w->west};
    for (int c = 0; c < 2; c++) {
        kumo_value *inv = e2e_control(t, names[c], "inventory", NULL);
        if (inv == NULL)
            continue;
        link_add(w, e2e_string(inv, "bridge"));
        const char *lists[2] = {"networks", "machines"}, *keys[2] = {"bridge", "veth"};
        for (int l = 0; l < 2; l++) {
            const kumo_value *list = kumo_codec_value_get(inv, lists[l]);
            for (size_t i = 0; list && list->type == KUMO_VALUE_ARRAY && i < list->count; i++)
                link_add(w, e2e_string(list->items[i], keys[l]));
        }
        kumo_codec_value_destroy(inv);
    }
}

/* The second octet of the network the Infra controller gives a connection (10.N.0.0/16). */
static unsigned network_octet(const char *connection)
{
    uint32_t h = 2166136261u;
    for (const char *p = connection; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return 16 + h % 224;
}

/* Runs a shell command line; its exit status (-1 when it cannot run). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    int rc = system(line);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* GET / from ip:port; 1 when the answer is 200 and its body holds `want`. */
static int http_get(const char *ip, int port, const char *want)
{
    int code = 0;
    char *body = agentbus_http_get(ip, port, "/", &code);
    int ok = body && code == 200 && strstr(body, want) != NULL;
    free(body);
    return ok;
}

/*
 * Removes whatever a run with this world left on the host (a failed run stops kumod
 * before it could delete anything): the machines' namespaces and processes, the
 * firewall tables, the bridges of the Infra's networks.
 */
static local_world sweep_world;
static void sweep(void)
{
    const local_world *w = &sweep_world;
    if (w->prefix[0] == '\0')
        return;
    sh("for ns in $(ip netns list | awk '/^%s-/ {print $1}'); do ip netns pids $ns | xargs -r kill "
       "-9; ip netns del $ns; done; for t in $(nft list tables 2>/dev/null | awk '$3 ~ /^%s_/ "
       "{print $2\":\"$3}'); do nft delete table ${t%%%%:*} ${t#*:}; done; "
       "for o in %u %u; do ip -o -4 addr show | awk -v o=\"10.$o.\" 'index($4, o) == 1 "
       "{print $2}' | xargs -r -n1 ip link del; done; pkill -KILL -f 'http[.]server %d'; true",
       w->prefix, w->prefix, network_octet(w->east), network_octet(w->west), w->port);
}

static int local_connection(e2e *t, const local_world *w, const char *name, int net)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                     " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                     " \"spec\": {\"driver\": \"local\", \"region\": \"%s\", \"config\": {"
                     " \"name_prefix\": \"%s\", \"state_dir\": \"%s/%s\","
                     " \"cidr\": \"10.253.%d.0/24\", \"stop_grace_ms\": \"2000\"}}}",
                     name, name, w->prefix, t->dir, name, net);
}

static int app_apply(e2e *t, const char *name, const char *command_json, const char *health_json)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"App\","
                     " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                     " \"spec\": {\"infraRef\": {\"name\": \"web\"}, \"target\": {\"group\": "
                     "\"front\"}, \"rollingUpdate\": {\"maxUnavailable\": \"1\"},"
                     " \"components\": [{\"name\": \"http\", %s, \"healthCheck\": %s}]}}",
                     name, command_json, health_json);
}

/* Prints an object as YAML to stderr (for failures). */
static void dump_object(e2e *t, const char *kind, const char *name)
{
    ProtobufCMessage *o = e2e_get(t, kind, name);
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    kumo_diag d;
    kumo_diag_init(&d);
    if (o && kumo_codec_yaml_encode(o, &b, &d) == KUMO_ERROR_OK)
        fprintf(stderr, "---\n%s", b.data);
    kumo_diag_fini(&d);
    kumo_codec_buffer_fini(&b);
    kumo_object_destroy(o);
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
             sh("test -n \"$(ip netns pids %s 2>/dev/null)\"", w->netns) == 0;
    kumo_object_destroy(m ? &m->base : NULL);
    return ok;
}

static int nothing_left(e2e *t, void *arg)
{
    (void)t;
    const local_world *w = arg;
    ProtobufCMessage *m = e2e_get(t, "Machine", "web-front-0");
    kumo_object_destroy(m);
    if (m != NULL)
        return 0;
    for (size_t i = 0; i < w->link_count; i++)
        if (sh("ip link show dev %s >/dev/null 2>&1", w->links[i]) == 0)
            return 0;
    return sh("ip netns list | grep -q '^%s-' && exit 1; nft list tables 2>/dev/null | grep -q"
              " ' %s_' && exit 1; pgrep -f 'http[.]server %d' >/dev/null && exit 1; exit 0",
              w->prefix, w->prefix, w->port) == 0;
}

KUMO_TEST(app_on_local_machines)
{
    if (geteuid() != 0)
        kumo_test_skip("Apps on local machines need root (network namespaces, bridges)");
    if (sh("command -v ip >/dev/null && command -v python3 >/dev/null") != 0)
        kumo_test_skip("needs ip (iproute2) and python3");
    local_world w;
    memset(&w, 0, sizeof(w));
    snprintf(w.prefix, sizeof(w.prefix), "ka%d", (int)(getpid() % 100000));
    w.port = 20000 + (int)(getpid() % 20000);
    snprintf(w.east, sizeof(w.east), "east%d", (int)(getpid() % 100000));
    snprintf(w.west, sizeof(w.west), "west%d", (int)(getpid() % 100000));
    sweep_world = w;
    atexit(sweep); /* also after a failed check */
    e2e t;
    e2e_start(&t, "2");
    int net = 100 + (int)(getpid() % 70);
    E2E_REQUIRE(&t, local_connection(&t, &w, w.east, net) == 0);
    E2E_REQUIRE(&t, local_connection(&t, &w, w.west, net + 70) == 0);
    E2E_REQUIRE(&t,
                e2e_apply(&t,
                          "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                          " \"metadata\": {\"name\": \"web\", \"namespace\": \"default\"},"
                          " \"spec\": {\"groups\": [{\"name\": \"front\", \"size\": %d,"
                          " \"image\": \"debian-12\", \"placement\": {\"vcpuMin\": 1,"
                          " \"spreadConnections\": 2}, \"securityRules\": [{\"direction\":"
                          " \"Inbound\", \"protocol\": \"TCP\", \"fromPort\": %d, \"toPort\": %d,"
                          " \"cidr\": \"0.0.0.0/0\"}]}]}}",
                          MACHINES, w.port, w.port) == 0);
    char command[600], health[200];
    snprintf(
        command, sizeof(command),
        "\"files\": [{\"path\": \"serve.sh\", \"mode\": \"0755\", \"content\":"
        " \"#!/bin/sh\\necho \\\"hello from $KUMO_MACHINE_NAME\\\" > index.html\\nexec python3 -m "
        "http.server %d\\n\"}], \"command\": [\"./serve.sh\"]",
        w.port);
    snprintf(health, sizeof(health), "{\"type\": \"HTTP\", \"port\": %d, \"path\": \"/\"}", w.port);
    E2E_REQUIRE(&t, app_apply(&t, "hello", command, health) == 0);

    /* Every instance answers real HTTP on its machine's address. */
    app_want ready = {"hello", "Ready", "True", NULL, 0};
    int ok = e2e_wait(&t, 120, app_is, &ready);
    if (!ok) {
        e2e_dump_log(&t, 60);
        dump_object(&t, "App", "hello");
        dump_object(&t, "Machine", "web-front-0");
    }
    E2E_REQUIRE(&t, ok);
    KUMO_EXPECT(e2e_wait(&t, 20, every_instance_answers, &w));
    links_collect(&t, &w);
    KUMO_EXPECT(w.link_count >= MACHINES + 2); /* a veth per machine, a bridge per network */

    /* The app process dies: each agent starts it again. */
    KUMO_EXPECT(sh("pkill -KILL -f 'http[.]server %d'", w.port) == 0);
    app_want restarted = {"hello", "Ready", "True", NULL, 1};
    KUMO_EXPECT(e2e_wait(&t, 60, app_is, &restarted));
    KUMO_EXPECT(e2e_wait(&t, 20, every_instance_answers, &w));

    /* A broken App and an unhealthy one beside it: clear conditions, hello undisturbed. */
    E2E_REQUIRE(&t, app_apply(&t, "broken", "\"command\": [\"no-such-program-kumo\"]",
                              "{\"type\": \"TCP\", \"port\": 1}") == 0);
    E2E_REQUIRE(&t, app_apply(&t, "sick", "\"command\": [\"sleep\", \"3600\"]",
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
    KUMO_EXPECT(sh("ip netns del %s", netns) == 0);
    rebuilt_want rw = {"web-front-0", netns};
    e2e_sleep_ms(500);
    KUMO_EXPECT(e2e_wait(&t, 60, machine_rebuilt, &rw));
    KUMO_EXPECT(e2e_wait(&t, 60, app_is, &ready));
    KUMO_EXPECT(e2e_wait(&t, 30, every_instance_answers, &w));
    links_collect(&t, &w);

    /* Delete the App and the Infra: nothing of ours is left on the host. */
    E2E_REQUIRE(&t, e2e_delete(&t, "App", "hello") == 0);
    E2E_REQUIRE(&t, e2e_delete(&t, "Infra", "web") == 0);
    ok = e2e_wait(&t, 90, nothing_left, &w);
    if (!ok) {
        e2e_dump_log(&t, 40);
        sh("ip netns list; ip -o link | grep -E 'kb|kv'; nft list tables");
    }
    KUMO_EXPECT(ok);
    e2e_delete(&t, "Connection", w.east);
    e2e_delete(&t, "Connection", w.west);
    e2e_stop(&t);
}
