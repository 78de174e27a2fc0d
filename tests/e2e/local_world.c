/*
 * local_world.c - the local machines world of the end-to-end tests (see
 * local_world.h).
 */
#define _GNU_SOURCE
#include "tests/e2e/local_world.h"

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

/* Runs the formatted line with system() (count 0: its exit status) or popen() (count 1: the
 * lines it printed); -1 when it cannot run. */
static int run_line(int count, const char *fmt, va_list ap)
{
    char line[4096];
    vsnprintf(line, sizeof(line), fmt, ap);
    if (!count) {
        int rc = system(line);
        return rc == -1 ? -1 : WEXITSTATUS(rc);
    }
    FILE *p = popen(line, "r");
    if (p == NULL)
        return -1;
    int n = 0, ch, last = '\n';
    while ((ch = fgetc(p)) != EOF) {
        n += ch == '\n';
        last = ch;
    }
    n += last != '\n';
    pclose(p);
    return n;
}

int local_world_sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = run_line(0, fmt, ap);
    va_end(ap);
    return rc;
}

int local_world_sh_count(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = run_line(1, fmt, ap);
    va_end(ap);
    return rc;
}

void local_world_require_root(void)
{
    if (geteuid() != 0)
        kumo_test_skip("local machines need root (network namespaces, bridges)");
    if (local_world_sh("command -v ip >/dev/null && command -v python3 >/dev/null") != 0)
        kumo_test_skip("needs ip (iproute2) and python3");
}

/* The second octet of the network the Infra controller gives a connection (10.N.0.0/16). */
static unsigned network_octet(const char *connection)
{
    uint32_t h = 2166136261u;
    for (const char *p = connection; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return 16 + h % 224;
}

/*
 * Removes whatever a run with this world left on the host (a failed run stops kumod before
 * it could delete anything): the namespaces and their processes, the firewall tables, the
 * bridges of the Infra's networks and of the connections, the load balancers' sockets.
 */
static local_world sweep_world;
static void sweep(void)
{
    const local_world *w = &sweep_world;
    if (w->prefix[0] == '\0')
        return;
    local_world_sh(
        "for ns in $(ip netns list | awk '/^%s-/ {print $1}'); do ip netns pids $ns | xargs -r "
        "kill -9; ip netns del $ns; done; for t in $(nft list tables 2>/dev/null | awk '$3 ~ "
        "/^%s_/ {print $2\":\"$3}'); do nft delete table ${t%%%%:*} ${t#*:}; done; "
        "for o in 10.%u. 10.%u. 10.253.%d. 10.253.%d.; do ip -o -4 addr show | awk -v o=\"$o\" "
        "'index($4, o) == 1 {print $2}' | xargs -r -n1 ip link del; done; "
        "rm -f /run/kumo/lb/%s-*; pkill -KILL -f 'http[.]server %d'; true",
        w->prefix, w->prefix, network_octet(w->east), network_octet(w->west), w->net, w->net + 70,
        w->prefix, w->port);
}

/* 1 when the host already routes the Infra network of `connection` (another run's bridge). */
static int network_taken(const char *connection)
{
    return local_world_sh("ip -4 route show | grep -q '^10\\.%u\\.'", network_octet(connection)) ==
           0;
}

void local_world_init(local_world *w, const char *tag)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->prefix, sizeof(w->prefix), "%s%d", tag, (int)(getpid() % 100000));
    w->port = 20000 + (int)(getpid() % 20000);
    /* Connection names whose Infra networks (10.<hash>.0.0/16) no other run uses. */
    for (int k = 0; k < 26; k++) {
        char suffix[2] = {k ? (char)('a' + k - 1) : '\0', '\0'};
        snprintf(w->east, sizeof(w->east), "east%d%s", (int)(getpid() % 100000), suffix);
        snprintf(w->west, sizeof(w->west), "west%d%s", (int)(getpid() % 100000), suffix);
        if (network_octet(w->east) != network_octet(w->west) && !network_taken(w->east) &&
            !network_taken(w->west))
            break;
    }
    /* Connection networks no other run uses. */
    w->net = 100 + (int)(getpid() % 70);
    for (int k = 0; k < 70; k++, w->net = 100 + (w->net - 99) % 70)
        if (local_world_sh("ip -4 route show | grep -qE '^10\\.253\\.(%d|%d)\\.'", w->net,
                           w->net + 70) != 0)
            break;
    sweep_world = *w;
    atexit(sweep); /* also after a failed check */
}

int local_world_connection(e2e *t, const local_world *w, const char *name, int net)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                     " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                     " \"spec\": {\"driver\": \"local\", \"region\": \"%s\", \"config\": {"
                     " \"name_prefix\": \"%s\", \"state_dir\": \"%s/%s\","
                     " \"cidr\": \"10.253.%d.0/24\", \"stop_grace_ms\": \"2000\"}}}",
                     name, name, w->prefix, t->dir, name, net);
}

int local_world_infra(e2e *t, const local_world *w, int size)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                     " \"metadata\": {\"name\": \"web\", \"namespace\": \"default\"},"
                     " \"spec\": {\"groups\": [{\"name\": \"front\", \"size\": %d,"
                     " \"image\": \"debian-12\", \"placement\": {\"vcpuMin\": 1,"
                     " \"spreadConnections\": 2}, \"securityRules\": [{\"direction\":"
                     " \"Inbound\", \"protocol\": \"TCP\", \"fromPort\": %d, \"toPort\": %d,"
                     " \"cidr\": \"0.0.0.0/0\"}]}]}}",
                     size, w->port, w->port);
}

int local_world_app(e2e *t, const char *name, const char *command_json, const char *health_json)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"App\","
                     " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                     " \"spec\": {\"infraRef\": {\"name\": \"web\"}, \"target\": {\"group\": "
                     "\"front\"}, \"rollingUpdate\": {\"maxUnavailable\": \"1\"},"
                     " \"components\": [{\"name\": \"http\", %s, \"healthCheck\": %s}]}}",
                     name, command_json, health_json);
}

typedef struct ready_want {
    const char *name;
    int instances;
} ready_want;

static int app_ready(e2e *t, void *arg)
{
    ready_want *w = arg;
    Kumo__V1alpha1__App *a = (Kumo__V1alpha1__App *)e2e_get(t, "App", w->name);
    const Kumo__V1alpha1__Condition *c = a ? kumo_object_condition_get(&a->base, "Ready") : NULL;
    int ok = c && strcmp(c->status, "True") == 0 && a->status &&
             (int)a->status->n_instances == w->instances;
    kumo_object_destroy(a ? &a->base : NULL);
    return ok;
}

int local_world_app_ready(e2e *t, const char *name, int instances, double seconds)
{
    ready_want w = {name, instances};
    int ok = e2e_wait(t, seconds, app_ready, &w);
    if (!ok) {
        e2e_dump_log(t, 60);
        local_world_dump(t, "App", name);
    }
    return ok;
}

int local_world_machines_of(e2e *t, const char *connection, char names[][128], int max)
{
    ProtobufCMessage *list = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    int n = 0;
    if (kumo_client_list(t->client, kumo_object_kind_lookup("Machine"), "default", NULL, &list,
                         &d) == KUMO_ERROR_OK) {
        const Kumo__V1alpha1__MachineList *ml = (const Kumo__V1alpha1__MachineList *)list;
        for (size_t i = 0; i < ml->n_items && n < max; i++) {
            const Kumo__V1alpha1__Machine *m = ml->items[i];
            if (m->spec && strcmp(m->spec->connection, connection) == 0)
                snprintf(names[n++], 128, "%s", m->metadata->name);
        }
    }
    kumo_object_destroy(list);
    kumo_diag_fini(&d);
    return n;
}

void local_world_kill_service(e2e *t, const local_world *w, const char *connection)
{
    kumo_value *inv = e2e_control(t, connection, "inventory", NULL);
    const kumo_value *machines = inv ? kumo_codec_value_get(inv, "machines") : NULL;
    for (size_t i = 0; machines && machines->type == KUMO_VALUE_ARRAY && i < machines->count; i++)
        local_world_sh("for p in $(ip netns pids %s); do tr '\\0' ' ' </proc/$p/cmdline "
                       "2>/dev/null | grep -q 'http.server %d' && kill -9 $p; done; true",
                       e2e_string(machines->items[i], "netns"), w->port);
    kumo_codec_value_destroy(inv);
}

static void link_add(local_world *w, const char *name)
{
    for (size_t i = 0; i < w->link_count; i++)
        if (strcmp(w->links[i], name) == 0)
            return;
    if (name[0] && w->link_count < 32)
        snprintf(w->links[w->link_count++], sizeof(w->links[0]), "%s", name);
}

void local_world_links_collect(e2e *t, local_world *w)
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

static int nothing_left(e2e *t, void *arg)
{
    const local_world *w = arg;
    ProtobufCMessage *m = e2e_get(t, "Machine", "web-front-0");
    kumo_object_destroy(m);
    if (m != NULL)
        return 0;
    for (size_t i = 0; i < w->link_count; i++)
        if (local_world_sh("ip link show dev %s >/dev/null 2>&1", w->links[i]) == 0)
            return 0;
    return local_world_sh("ip netns list | grep -q '^%s-' && exit 1; nft list tables 2>/dev/null "
                          "| grep -q ' %s_' && exit 1; pgrep -f 'http[.]server %d' >/dev/null && "
                          "exit 1; exit 0",
                          w->prefix, w->prefix, w->port) == 0;
}

void local_world_finish(e2e *t, local_world *w)
{
    local_world_links_collect(t, w);
    E2E_REQUIRE(t, e2e_delete(t, "App", "hello") == 0);
    E2E_REQUIRE(t, e2e_delete(t, "Infra", "web") == 0);
    int ok = e2e_wait(t, 90, nothing_left, w);
    if (!ok) {
        e2e_dump_log(t, 40);
        local_world_sh("ip netns list; ip -o link | grep -E 'kb|kv|kl'; nft list tables");
    }
    KUMO_EXPECT(ok);
    e2e_delete(t, "Connection", w->east);
    e2e_delete(t, "Connection", w->west);
}

void local_world_dump(e2e *t, const char *kind, const char *name)
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

char *local_world_json_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        const char *text = ch == '\n' ? "\\n" : ch == '"' ? "\\\"" : ch == '\\' ? "\\\\" : NULL;
        char one = (char)ch;
        kumo_codec_buffer_append(&b, text ? text : &one, text ? strlen(text) : 1);
    }
    fclose(f);
    kumo_codec_buffer_append(&b, "", 1);
    return kumo_codec_buffer_take(&b, NULL);
}
