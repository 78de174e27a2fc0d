/*
 * lb.c - the simulated cloud's load balancers (ABI 1.2): an address from the
 * public pool, listeners and targets kept in the state file like every
 * other resource, API latency, throttling and faults from the common frame.
 *
 * Health is simulated from the account's machines: a target whose address
 * is a machine of the region that runs is healthy; once that machine stops,
 * is stopping or goes, the target is unhealthy after the health-check window
 * (interval x unhealthy threshold); an address no machine has is unhealthy.
 * There is no traffic, so the counters stay 0. Like a cloud network load
 * balancer it balances round robin only: LEAST_CONNECTIONS is UNSUPPORTED.
 */
#include "drivers/sim/internal.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kumo_driver_code nomem(struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
}

/* ---- checking and keeping a spec ------------------------------------------------------------ */

static kumo_driver_code check_spec(const struct kumo_driver_load_balancer_spec *s,
                                   struct kumo_driver_diag *diag)
{
    if (s->policy != KUMO_DRIVER_LB_ROUND_ROBIN)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNSUPPORTED, "UnsupportedPolicy",
                                    "the simulated load balancer balances round robin only "
                                    "(policy %d)",
                                    s->policy);
    if (s->listener_count == 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                    "a load balancer needs at least one listener");
    for (size_t i = 0; i < s->listener_count; i++) {
        const struct kumo_driver_lb_listener *l = s->listeners[i];
        if (l->name == NULL || !l->name[0] || l->port < 1 || l->port > 65535 ||
            l->protocol < KUMO_DRIVER_LB_TCP || l->protocol > KUMO_DRIVER_LB_HTTPS)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                        "listener %zu: a name, a port 1-65535 and a protocol are "
                                        "needed",
                                        i);
        for (size_t j = 0; j < i; j++)
            if (s->listeners[j]->port == l->port)
                return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "DuplicateListener",
                                            "port %d is used by two listeners", l->port);
    }
    for (size_t i = 0; i < s->target_count; i++) {
        const struct kumo_driver_lb_target *t = s->targets[i];
        int known = 0;
        for (size_t j = 0; j < s->listener_count && t->listener && !known; j++)
            known = strcmp(s->listeners[j]->name, t->listener) == 0;
        if (t->name == NULL || !t->name[0] || !known || t->address == NULL || !t->address[0] ||
            t->port < 1 || t->port > 65535)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "ValidationError",
                                        "target %zu (%s): a name, a listener of the load "
                                        "balancer, an address and a port are needed",
                                        i, t->name ? t->name : "");
    }
    return KUMO_DRIVER_OK;
}

static void free_parts(struct sim_lb_listener *listeners, size_t listener_count,
                       struct sim_lb_target *targets, size_t target_count)
{
    for (size_t i = 0; i < listener_count; i++)
        free(listeners[i].name);
    for (size_t i = 0; i < target_count; i++) {
        free(targets[i].name);
        free(targets[i].listener);
        free(targets[i].address);
    }
    free(listeners);
    free(targets);
}

/* Replaces o's listeners, targets and settings by spec's. 0, or -1 when out of memory (o is
 * unchanged). */
static int keep_spec(struct sim_object *o, const struct kumo_driver_load_balancer_spec *s)
{
    struct sim_lb_listener *ls = calloc(s->listener_count + 1, sizeof(*ls));
    struct sim_lb_target *ts = calloc(s->target_count + 1, sizeof(*ts));
    int failed = ls == NULL || ts == NULL;
    for (size_t i = 0; !failed && i < s->listener_count; i++) {
        ls[i].port = s->listeners[i]->port;
        ls[i].protocol = s->listeners[i]->protocol;
        failed = sim_set_str(&ls[i].name, s->listeners[i]->name);
    }
    for (size_t i = 0; !failed && i < s->target_count; i++) {
        const struct kumo_driver_lb_target *t = s->targets[i];
        ts[i] =
            (struct sim_lb_target){NULL, NULL, NULL, t->port, t->weight, t->backup, t->draining};
        failed = sim_set_str(&ts[i].name, t->name) | sim_set_str(&ts[i].listener, t->listener) |
                 sim_set_str(&ts[i].address, t->address);
    }
    if (failed) {
        free_parts(ls, ls ? s->listener_count : 0, ts, ts ? s->target_count : 0);
        return -1;
    }
    free_parts(o->listeners, o->listener_count, o->targets, o->target_count);
    o->listeners = ls;
    o->listener_count = s->listener_count;
    o->targets = ts;
    o->target_count = s->target_count;
    const struct kumo_driver_lb_health_check *hc = s->health_check;
    int interval = hc && hc->interval_ms > 0 ? hc->interval_ms : SIM_LB_CHECK_INTERVAL_MS;
    int threshold =
        hc && hc->unhealthy_threshold > 0 ? hc->unhealthy_threshold : SIM_LB_UNHEALTHY_THRESHOLD;
    o->lb_window_ms = (int64_t)interval * threshold;
    o->lb_policy = s->policy;
    return 0;
}

/* ---- bodies ------------------------------------------------------------------------------- */

static kumo_driver_code create_body(struct kumo_driver_conn *c, struct sim_request *r,
                                    struct kumo_driver_diag *diag)
{
    const struct kumo_driver_load_balancer_spec *spec = r->spec;
    struct sim_object *existing = sim_existing(c, r);
    if (existing != NULL)
        return sim_result(r, existing, diag);
    kumo_driver_code rc = check_spec(spec, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct sim_object *o = sim_object_new(SIM_LOAD_BALANCER);
    if (o == NULL)
        return nomem(diag);
    if (sim_set_str(&o->name, spec->name && spec->name[0] ? spec->name : r->token) != 0 ||
        keep_spec(o, spec) != 0)
        rc = nomem(diag);
    if (rc == KUMO_DRIVER_OK)
        rc = sim_copy_tags(o, spec->tags, spec->tag_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = sim_public_address(c->state, o, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(o);
        return rc;
    }
    return sim_add_new(c, r, o, "lb-0", diag);
}

static kumo_driver_code update_body(struct kumo_driver_conn *c, struct sim_request *r,
                                    struct kumo_driver_diag *diag)
{
    const struct kumo_driver_load_balancer_update *u = r->update;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    if (u->spec == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "load_balancer_update: the spec is required");
    if ((rc = check_spec(u->spec, diag)) != KUMO_DRIVER_OK)
        return rc;
    struct sim_object *copy = sim_object_clone(o);
    if (copy == NULL)
        return nomem(diag);
    if ((u->fields &
         (KUMO_DRIVER_LOAD_BALANCER_SET_TARGETS | KUMO_DRIVER_LOAD_BALANCER_SET_CONFIG)) &&
        keep_spec(copy, u->spec) != 0)
        rc = nomem(diag);
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_LOAD_BALANCER_SET_TAGS))
        rc = sim_copy_tags(copy, u->spec->tags, u->spec->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(copy);
        return rc;
    }
    return sim_commit_change(c, r, o, copy, diag);
}

static kumo_driver_code delete_body(struct kumo_driver_conn *c, struct sim_request *r,
                                    struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    sim_delete_now(c, r, o);
    return KUMO_DRIVER_OK;
}

SIM_DEFINE_OPS(load_balancer, LOAD_BALANCER, SIM_LOAD_BALANCER, create_body, update_body,
               delete_body)

/* ---- health and packing -----------------------------------------------------------------------
 */

/* The machine of o's region at address, or NULL. */
static const struct sim_object *machine_at(struct sim_state *st, const struct sim_object *o,
                                           const char *address, int64_t now_ns)
{
    for (size_t i = 0; st && i < st->count; i++) {
        const struct sim_object *m = st->objects[i];
        char ip[20];
        if (m->kind != SIM_MACHINE || m->private_ip == 0 || sim_object_gone(m, now_ns) ||
            strcmp(m->region, o->region) != 0 || strcmp(m->provider, o->provider) != 0)
            continue;
        sim_ip_format(m->private_ip, ip, sizeof(ip));
        if (strcmp(ip, address) == 0)
            return m;
    }
    return NULL;
}

static int health_of(struct sim_state *st, const struct sim_object *o,
                     const struct sim_lb_target *t, int64_t now_ns, const char **reason,
                     int64_t *since_ns)
{
    const struct sim_object *m = machine_at(st, o, t->address, now_ns);
    *since_ns = o->created_ns;
    if (m == NULL) {
        *reason = "no machine of the region has this address";
        return KUMO_DRIVER_LB_HEALTH_UNHEALTHY;
    }
    kumo_driver_machine_phase phase = sim_machine_phase(m, now_ns);
    if (phase == KUMO_DRIVER_MACHINE_RUNNING) {
        *reason = "";
        *since_ns = m->launch_ns;
        return t->draining ? KUMO_DRIVER_LB_HEALTH_DRAINING : KUMO_DRIVER_LB_HEALTH_HEALTHY;
    }
    *since_ns = m->transition_ns;
    if (phase != KUMO_DRIVER_MACHINE_PENDING &&
        now_ns - m->transition_ns < o->lb_window_ms * 1000000)
        return t->draining ? KUMO_DRIVER_LB_HEALTH_DRAINING : KUMO_DRIVER_LB_HEALTH_HEALTHY;
    *reason = phase == KUMO_DRIVER_MACHINE_PENDING ? "Target.NotInUse: the machine is still booting"
                                                   : "Target.Timeout: health checks failed";
    return KUMO_DRIVER_LB_HEALTH_UNHEALTHY;
}

static const struct kumo_driver_lb_target_status *
pack_target(struct kumo_driver_kit_pack *p, struct sim_state *st, const struct sim_object *o,
            const struct sim_lb_target *t, int64_t now_ns)
{
    struct kumo_driver_lb_target_status *out =
        kumo_driver_kit_pack_take(p, sizeof(*out), alignof(struct kumo_driver_lb_target_status));
    struct kumo_driver_lb_target_status v;
    memset(&v, 0, sizeof(v));
    const char *reason = "";
    v.struct_size = sizeof(v);
    v.health = health_of(st, o, t, now_ns, &reason, &v.last_change_ns);
    v.name = kumo_driver_kit_pack_str(p, t->name);
    v.listener = kumo_driver_kit_pack_str(p, t->listener);
    v.address = kumo_driver_kit_pack_str(p, t->address);
    v.reason = kumo_driver_kit_pack_str(p, reason);
    v.port = t->port;
    v.weight = t->draining ? 0 : t->weight;
    v.backup = t->backup;
    v.draining = t->draining;
    if (out != NULL)
        *out = v;
    return out;
}

const void *sim_pack_load_balancer(struct kumo_driver_kit_pack *p, struct sim_state *st,
                                   const struct sim_object *o, int64_t now_ns)
{
    struct kumo_driver_load_balancer *out =
        kumo_driver_kit_pack_take(p, sizeof(*out), alignof(struct kumo_driver_load_balancer));
    struct kumo_driver_load_balancer v;
    memset(&v, 0, sizeof(v));
    char ip[20], host[160];
    sim_ip_format(o->public_ip, ip, sizeof(ip));
    snprintf(host, sizeof(host), "%s.elb.%s.sim.kumo.dev", o->id, o->region);
    char *addresses[1] = {ip};
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.region = kumo_driver_kit_pack_str(p, o->region);
    v.state = kumo_driver_kit_pack_str(p, "active");
    v.message = kumo_driver_kit_pack_str(p, "");
    v.address = kumo_driver_kit_pack_str(p, o->public_ip ? ip : "");
    v.hostname = kumo_driver_kit_pack_str(p, host);
    v.addresses = kumo_driver_kit_pack_strings(p, addresses, 1);
    v.address_count = 1;
    const void **ls =
        kumo_driver_kit_pack_take(p, (o->listener_count + 1) * sizeof(void *), alignof(void *));
    for (size_t i = 0; i < o->listener_count; i++) {
        struct kumo_driver_lb_listener *l =
            kumo_driver_kit_pack_take(p, sizeof(*l), alignof(struct kumo_driver_lb_listener));
        struct kumo_driver_lb_listener lv;
        memset(&lv, 0, sizeof(lv));
        lv.struct_size = sizeof(lv);
        lv.name = kumo_driver_kit_pack_str(p, o->listeners[i].name);
        lv.port = o->listeners[i].port;
        lv.protocol = o->listeners[i].protocol;
        lv.tls_certificate_pem = lv.tls_private_key_pem = kumo_driver_kit_pack_str(p, "");
        if (l != NULL && ls != NULL) {
            *l = lv;
            ls[i] = l;
        }
    }
    v.listeners = (const struct kumo_driver_lb_listener *const *)ls;
    v.listener_count = o->listener_count;
    const void **ts =
        kumo_driver_kit_pack_take(p, (o->target_count + 1) * sizeof(void *), alignof(void *));
    for (size_t i = 0; i < o->target_count; i++) {
        const void *t = pack_target(p, st, o, &o->targets[i], now_ns);
        if (ts != NULL)
            ts[i] = t;
    }
    v.targets = (const struct kumo_driver_lb_target_status *const *)ts;
    v.target_count = o->target_count;
    v.created_ns = o->created_ns;
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (out != NULL)
        *out = v;
    return out;
}
