/*
 * lb.c - the local driver's load balancers (ABI 1.2): one HAProxy per load
 * balancer (haproxy.c) in its own network namespace <prefix>-<C>-lb-<8 hex>
 * with an address on the connection's default network (veth kl<8 hex>), so
 * the host and every machine that can route to that network reach it.
 *
 * The object in the state file holds the id, token, name, address and the
 * HAProxy master's PID and start time; the desired listeners and targets
 * live in the HAProxy configuration file itself. HAProxy is started by the
 * same detached helper as a machine's process, so it keeps serving while
 * kumod is down, and a restarted kumod finds it again through the PID in the
 * state: there is never a second HAProxy for one load balancer.
 *
 * Crash safety follows the machines': the object is recorded (building)
 * before any side effect, every step is idempotent, and delete removes the
 * process, the namespace, the veth and every file before the object goes.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Validation ---------------------------------------------------------------------- */

static int name_ok(const char *s, size_t max, int dots)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 (dots && ((ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '_'));
        if (!ok)
            return 0;
    }
    return 1;
}

static kumo_driver_code invalid(struct kumo_driver_diag *diag, const char *fmt, const char *a,
                                long long b)
{
    char text[400];
    snprintf(text, sizeof(text), fmt, a, b);
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue", "%s", text);
}

static kumo_driver_code check_listeners(const struct kumo_driver_load_balancer_spec *spec,
                                        struct kumo_driver_diag *diag)
{
    if (spec->listener_count == 0 || spec->listener_count > LOCAL_LB_MAX_LISTENERS)
        return invalid(diag, "load balancer%s: 1 to %lld listeners are needed", "",
                       LOCAL_LB_MAX_LISTENERS);
    for (size_t i = 0; i < spec->listener_count; i++) {
        const struct kumo_driver_lb_listener *l = spec->listeners[i];
        if (!name_ok(l->name, 32, 0))
            return invalid(diag, "listener \"%s\" (#%lld): a name of 1-32 [a-z0-9-] is needed",
                           l->name ? l->name : "", (long long)i);
        if (l->port < 1 || l->port > 65535)
            return invalid(diag, "listener %s: port %lld is not in 1-65535", l->name, l->port);
        if (l->protocol < KUMO_DRIVER_LB_TCP || l->protocol > KUMO_DRIVER_LB_HTTPS)
            return invalid(diag, "listener %s: unknown protocol %lld", l->name, l->protocol);
        if (l->protocol == KUMO_DRIVER_LB_HTTPS &&
            (!l->tls_certificate_pem || !l->tls_certificate_pem[0] || !l->tls_private_key_pem ||
             !l->tls_private_key_pem[0]))
            return invalid(diag, "listener %s: HTTPS needs a certificate and a key%s", l->name, 0);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(spec->listeners[j]->name, l->name) == 0)
                return invalid(diag, "listener name %s is used twice%lld", l->name, 0);
            if (spec->listeners[j]->port == l->port)
                return invalid(diag, "listener %s: port %lld is already used by another listener",
                               l->name, l->port);
        }
    }
    return KUMO_DRIVER_OK;
}

static int has_listener(const struct kumo_driver_load_balancer_spec *spec, const char *name)
{
    for (size_t i = 0; name && i < spec->listener_count; i++)
        if (strcmp(spec->listeners[i]->name, name) == 0)
            return 1;
    return 0;
}

kumo_driver_code local_lb_check_spec(const struct kumo_driver_load_balancer_spec *spec,
                                     struct kumo_driver_diag *diag)
{
    if (spec->policy != KUMO_DRIVER_LB_ROUND_ROBIN &&
        spec->policy != KUMO_DRIVER_LB_LEAST_CONNECTIONS)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNSUPPORTED, "UnsupportedPolicy",
                                    "the local load balancer has no policy %d", spec->policy);
    if (spec->affinity < KUMO_DRIVER_LB_AFFINITY_NONE ||
        spec->affinity > KUMO_DRIVER_LB_AFFINITY_COOKIE)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNSUPPORTED, "UnsupportedAffinity",
                                    "the local load balancer has no affinity %d", spec->affinity);
    kumo_driver_code rc = check_listeners(spec, diag);
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < spec->target_count; i++) {
        const struct kumo_driver_lb_target *t = spec->targets[i];
        uint32_t ip;
        if (!name_ok(t->name, 100, 1))
            return invalid(diag, "target \"%s\" (#%lld): a name of 1-100 [A-Za-z0-9_.-] is needed",
                           t->name ? t->name : "", (long long)i);
        if (!has_listener(spec, t->listener))
            return invalid(diag, "target %s: no listener named as its listener (#%lld)", t->name,
                           (long long)i);
        if (t->address == NULL || local_ip_parse(t->address, &ip) != 0)
            return invalid(diag, "target %s: address is not an IPv4 address (#%lld)", t->name,
                           (long long)i);
        if (t->port < 1 || t->port > 65535)
            return invalid(diag, "target %s: port %lld is not in 1-65535", t->name, t->port);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->targets[j]->name, t->name) == 0 &&
                strcmp(spec->targets[j]->listener, t->listener) == 0)
                return invalid(diag, "target %s is named twice in one listener%lld", t->name, 0);
    }
    return rc;
}

/* ---- Files ------------------------------------------------------------------------- */

/* Writes each HTTPS listener's certificate and key into one PEM file (0600). */
static kumo_driver_code write_pems(const struct local_lb_paths *p,
                                   const struct kumo_driver_load_balancer_spec *spec,
                                   struct kumo_driver_diag *diag)
{
    char path[LOCAL_NAME_MAX + 128], err[600];
    for (size_t i = 0; i < spec->listener_count; i++) {
        const struct kumo_driver_lb_listener *l = spec->listeners[i];
        if (l->protocol != KUMO_DRIVER_LB_HTTPS)
            continue;
        struct kumo_driver_kit_buf b;
        kumo_driver_kit_buf_init(&b);
        kumo_driver_kit_buf_printf(&b, "%s\n%s\n", l->tls_certificate_pem, l->tls_private_key_pem);
        snprintf(path, sizeof(path), "%s.%s", p->pem_prefix, l->name);
        int failed = b.failed || local_lb_write_file(path, b.data, 0600, err, sizeof(err)) != 0;
        kumo_driver_kit_buf_fini(&b);
        if (failed)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError", "%s", err);
    }
    return KUMO_DRIVER_OK;
}

/* ---- The process ---------------------------------------------------------------------- */

static kumo_driver_code start_haproxy(struct local_call *call, struct local_object *o,
                                      const struct local_lb_paths *p, struct kumo_driver_diag *diag)
{
    char haproxy[LOCAL_NAME_MAX], netns[LOCAL_NAME_MAX], err[600];
    if (local_find_program("haproxy", haproxy, sizeof(haproxy)) != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNAVAILABLE, "HaproxyMissing",
                                    "load balancer %s: haproxy is not installed (apt-get install "
                                    "haproxy)",
                                    o->id);
    local_netns_name(call->conn, o->id, netns, sizeof(netns));
    char *argv[] = {"haproxy", "-W", "-f", (char *)p->cfg, NULL};
    char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    struct local_spawn s = {netns, haproxy, argv, envp, p->log, 0, {NULL, NULL}};
    int64_t pid;
    uint64_t start;
    int started = local_spawn_start(&s, call->deadline_ns, &pid, &start, err, sizeof(err));
    if (started == -2)
        return local_timeout(call, err, diag);
    if (started != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "HaproxyFailed",
                                    "load balancer %s: %s", o->id, err);
    o->pid = pid;
    o->pid_start = start;
    o->launch_ns = call->now_ns;
    return KUMO_DRIVER_OK;
}

/* Installs the configuration of spec: a checked file, then the runtime API for targets
 * or a hitless reload for anything else. */
static kumo_driver_code apply_spec(struct local_call *call, struct local_object *o,
                                   const struct kumo_driver_load_balancer_spec *spec,
                                   const struct local_lb_paths *p, struct kumo_driver_diag *diag)
{
    char haproxy[LOCAL_NAME_MAX], fresh[LOCAL_NAME_MAX + 80], err[600], what[96];
    snprintf(what, sizeof(what), "load balancer %s: checking its configuration", o->id);
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    local_lb_config(spec, o->ip, p, &b);
    char *old = local_lb_read_file(p->cfg);
    int alive = local_pid_alive(o->pid, o->pid_start);
    int reload = old == NULL || local_lb_config_frame_differs(old, b.data ? b.data : "") ||
                 (spec->affinity == KUMO_DRIVER_LB_AFFINITY_COOKIE && strcmp(old, b.data) != 0);
    snprintf(fresh, sizeof(fresh), "%s.new", p->cfg);
    kumo_driver_code rc = b.failed ? local_nomem(diag) : write_pems(p, spec, diag);
    if (rc == KUMO_DRIVER_OK && local_lb_write_file(fresh, b.data, 0600, err, sizeof(err)) != 0)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError", "%s", err);
    if (rc == KUMO_DRIVER_OK && reload) {
        if (local_find_program("haproxy", haproxy, sizeof(haproxy)) != 0)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_UNAVAILABLE, "HaproxyMissing",
                                      "haproxy is not installed (apt-get install haproxy)");
        else
            rc = local_lb_check_config(haproxy, fresh, call->deadline_ns, what, diag);
    }
    if (rc == KUMO_DRIVER_OK && rename(fresh, p->cfg) != 0)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError", "renaming %s: %s",
                                  fresh, strerror(errno));
    if (rc != KUMO_DRIVER_OK)
        unlink(fresh);
    if (rc == KUMO_DRIVER_OK && alive)
        rc = reload ? local_lb_reload(p->socket, p, o->pid, o->pid_start, call->deadline_ns, diag)
                    : local_lb_sync_targets(p->socket, spec, call->deadline_ns, diag);
    if (rc == KUMO_DRIVER_OK && !alive)
        rc = start_haproxy(call, o, p, diag);
    free(old);
    kumo_driver_kit_buf_fini(&b);
    return rc;
}

/* A load balancer reaches machines on every bridge of this host through the host's routing:
 * IPv4 forwarding must be on (as for Docker). Turned on once, and logged. */
static void forwarding_on(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "r+");
    if (f == NULL)
        return;
    int on = fgetc(f) == '1';
    if (!on && fseek(f, 0, SEEK_SET) == 0 && fputs("1\n", f) >= 0)
        local_log(KUMO_DRIVER_LOG_INFO, "turned on net.ipv4.ip_forward: load balancers route to "
                                        "machines on other bridges");
    fclose(f);
}

/* Converges the host to load balancer o: namespace, address, HAProxy running spec (NULL:
 * keep the configuration file as it is). */
kumo_driver_code local_lb_ensure(struct local_call *call, struct local_object *o,
                                 const struct kumo_driver_load_balancer_spec *spec,
                                 struct kumo_driver_diag *diag)
{
    struct local_lb_paths p;
    struct local_pool pool;
    local_lb_paths(call->conn, o->id, &p);
    if (mkdir("/run/kumo", 0755) != 0 && errno != EEXIST)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError",
                                    "mkdir /run/kumo: %s", strerror(errno));
    if (mkdir(LOCAL_LB_SOCKET_DIR, 0700) != 0 && errno != EEXIST)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError", "mkdir %s: %s",
                                    LOCAL_LB_SOCKET_DIR, strerror(errno));
    forwarding_on();
    kumo_driver_code rc = local_machine_pool(call, "", "", &pool, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_network_ensure(call, "", diag);
    char netns[LOCAL_NAME_MAX];
    local_netns_name(call->conn, o->id, netns, sizeof(netns));
    if (rc == KUMO_DRIVER_OK && !local_netns_exists(netns) &&
        local_pid_alive(o->pid, o->pid_start) &&
        local_pid_stop(o->pid, o->pid_start, 1, 0, call->deadline_ns) != 0)
        return local_timeout(call, "stopping the haproxy of a vanished namespace", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_netns_attach(call, o->id, o->token, &pool, o->ip, diag);
    if (rc == KUMO_DRIVER_OK && spec != NULL)
        return apply_spec(call, o, spec, &p, diag);
    if (rc == KUMO_DRIVER_OK && !local_pid_alive(o->pid, o->pid_start))
        rc = start_haproxy(call, o, &p, diag);
    return rc;
}

kumo_driver_code local_lb_teardown(struct local_call *call, const struct local_object *o,
                                   struct kumo_driver_diag *diag)
{
    struct local_lb_paths p;
    struct local_lb_listener ls[LOCAL_LB_MAX_LISTENERS];
    char path[LOCAL_NAME_MAX + 128];
    local_lb_paths(call->conn, o->id, &p);
    kumo_driver_code rc = local_machine_teardown(call, o->id, o->pid, o->pid_start, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char *cfg = local_lb_read_file(p.cfg);
    size_t n = cfg ? local_lb_read_listeners(cfg, ls, LOCAL_LB_MAX_LISTENERS) : 0;
    free(cfg);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s.%s", p.pem_prefix, ls[i].name);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s.new", p.cfg);
    unlink(path);
    unlink(p.cfg);
    unlink(p.servers);
    unlink(p.socket);
    return KUMO_DRIVER_OK;
}
