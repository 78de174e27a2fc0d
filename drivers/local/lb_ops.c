/*
 * lb_ops.c - the load balancer operations of the local driver (ABI 1.2) and
 * their results: create, observe, update, delete and list over lb.c's
 * namespace and HAProxy, packed as one host block each.
 *
 * observe reads the listeners from the configuration file and every
 * target's health and counters from HAProxy's `show stat`; state is
 * "active" while HAProxy runs, "provisioning" while a create is unfinished
 * and "failed" (with the reason) when HAProxy is gone or its namespace
 * vanished - an update repairs both.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What observe saw besides the object. */
struct lb_view {
    const char *state;
    char message[1200];
    struct local_lb_listener listeners[LOCAL_LB_MAX_LISTENERS];
    size_t listener_count;
    struct local_lb_server *servers;
    size_t server_count;
};

/* ---- Packing ------------------------------------------------------------------------- */

static int health_of(const struct local_lb_server *s)
{
    if (strncmp(s->status, "DRAIN", 5) == 0 || (s->draining && strncmp(s->status, "UP", 2) == 0))
        return KUMO_DRIVER_LB_HEALTH_DRAINING;
    if (strncmp(s->status, "MAINT", 5) == 0)
        return KUMO_DRIVER_LB_HEALTH_DISABLED;
    if (strncmp(s->status, "UP", 2) == 0 || strncmp(s->status, "no check", 8) == 0)
        return KUMO_DRIVER_LB_HEALTH_HEALTHY;
    if (strncmp(s->status, "DOWN", 4) == 0 || strncmp(s->status, "NOLB", 4) == 0)
        return KUMO_DRIVER_LB_HEALTH_UNHEALTHY;
    return KUMO_DRIVER_LB_HEALTH_UNKNOWN;
}

static const struct kumo_driver_lb_target_status *pack_target(struct kumo_driver_kit_pack *p,
                                                              const struct local_lb_server *s)
{
    struct kumo_driver_lb_target_status *t = kumo_driver_kit_pack_take(p, sizeof(*t), 8);
    struct kumo_driver_lb_target_status v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.name = kumo_driver_kit_pack_str(p, s->name);
    v.listener = kumo_driver_kit_pack_str(p, s->listener);
    v.address = kumo_driver_kit_pack_str(p, s->address);
    v.port = s->port;
    v.health = health_of(s);
    v.reason =
        kumo_driver_kit_pack_str(p, v.health == KUMO_DRIVER_LB_HEALTH_HEALTHY ? "" : s->reason);
    v.weight = s->weight;
    v.backup = s->backup;
    v.draining = s->draining || v.health == KUMO_DRIVER_LB_HEALTH_DRAINING;
    v.last_change_ns = s->last_change_ns;
    v.current_sessions = s->sessions;
    v.requests = s->requests;
    v.connection_errors = s->connection_errors;
    v.responses_5xx = s->responses_5xx;
    v.retries = s->retries;
    v.redispatches = s->redispatches;
    if (t != NULL)
        *t = v;
    return t;
}

static const struct kumo_driver_load_balancer *pack_lb(struct kumo_driver_kit_pack *p,
                                                       const struct local_object *o,
                                                       const struct lb_view *w, const char *region)
{
    struct kumo_driver_load_balancer *lb = kumo_driver_kit_pack_take(p, sizeof(*lb), 8);
    struct kumo_driver_load_balancer v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.region = kumo_driver_kit_pack_str(p, region);
    v.state = kumo_driver_kit_pack_str(p, w->state);
    v.message = kumo_driver_kit_pack_str(p, w->message);
    v.address = kumo_driver_kit_pack_str(p, o->ip);
    v.hostname = kumo_driver_kit_pack_str(p, "");
    char *addresses[1] = {o->ip ? o->ip : ""};
    v.addresses = kumo_driver_kit_pack_strings(p, addresses, 1);
    v.address_count = 1;
    const void **ls = kumo_driver_kit_pack_take(p, w->listener_count * sizeof(void *) + 1, 8);
    for (size_t i = 0; i < w->listener_count; i++) {
        struct kumo_driver_lb_listener *l = kumo_driver_kit_pack_take(p, sizeof(*l), 8);
        struct kumo_driver_lb_listener lv;
        memset(&lv, 0, sizeof(lv));
        lv.struct_size = sizeof(lv);
        lv.name = kumo_driver_kit_pack_str(p, w->listeners[i].name);
        lv.port = w->listeners[i].port;
        lv.protocol = w->listeners[i].protocol;
        lv.tls_certificate_pem = lv.tls_private_key_pem = kumo_driver_kit_pack_str(p, "");
        if (l != NULL) {
            *l = lv;
            ls[i] = l;
        }
    }
    v.listeners = (const struct kumo_driver_lb_listener *const *)ls;
    v.listener_count = w->listener_count;
    const void **ts = kumo_driver_kit_pack_take(p, w->server_count * sizeof(void *) + 1, 8);
    for (size_t i = 0; i < w->server_count; i++) {
        const void *t = pack_target(p, &w->servers[i]);
        if (ts != NULL)
            ts[i] = t;
    }
    v.targets = (const struct kumo_driver_lb_target_status *const *)ts;
    v.target_count = w->server_count;
    v.created_ns = o->created_ns;
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (lb != NULL)
        *lb = v;
    return lb;
}

/* ---- Observing ---------------------------------------------------------------------- */

/* What the host shows of o; with_targets asks HAProxy for its servers. */
static void view_of(struct local_call *call, const struct local_object *o, int with_targets,
                    struct lb_view *w)
{
    struct local_lb_paths p;
    char netns[LOCAL_NAME_MAX];
    memset(w, 0, sizeof(*w));
    local_lb_paths(call->conn, o->id, &p);
    local_netns_name(call->conn, o->id, netns, sizeof(netns));
    char *cfg = local_lb_read_file(p.cfg);
    w->listener_count =
        cfg ? local_lb_read_listeners(cfg, w->listeners, LOCAL_LB_MAX_LISTENERS) : 0;
    free(cfg);
    w->state = "active";
    if (o->status == LOCAL_BUILDING) {
        w->state = "provisioning";
    } else if (o->status == LOCAL_DELETING) {
        w->state = "deleting";
    } else if (!local_netns_exists(netns)) {
        w->state = "failed";
        snprintf(w->message, sizeof(w->message), "its network namespace %s vanished", netns);
    } else if (!local_pid_alive(o->pid, o->pid_start)) {
        w->state = "failed";
        snprintf(w->message, sizeof(w->message), "haproxy (pid %lld) is not running; see %s",
                 (long long)o->pid, p.log);
    } else if (with_targets) {
        struct kumo_driver_diag scratch;
        int64_t deadline = local_host->monotonic_ns(local_host->ctx) + 2000000000LL;
        if (deadline > call->deadline_ns)
            deadline = call->deadline_ns;
        if (local_lb_servers(p.socket, deadline, call->now_ns, &w->servers, &w->server_count,
                             &scratch) != KUMO_DRIVER_OK)
            snprintf(w->message, sizeof(w->message), "%s", scratch.message);
    }
}

static kumo_driver_code answer(struct local_call *call, const struct local_object *o,
                               struct kumo_driver_load_balancer **out,
                               struct kumo_driver_diag *diag)
{
    struct lb_view w;
    view_of(call, o, 1, &w);
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_lb(p, o, &w, call->conn->cfg.region));
    free(w.servers);
    *out = block;
    return block ? KUMO_DRIVER_OK : local_nomem(diag);
}

void local_lb_inventory_json(struct local_call *call, struct kumo_driver_kit_buf *b)
{
    struct kumo_driver_conn *c = call->conn;
    char text[LOCAL_NAME_MAX + 64];
    int first = 1;
    for (size_t i = 0; i < c->state.count; i++) {
        const struct local_object *o = c->state.objects[i];
        if (o->kind != LOCAL_LOAD_BALANCER)
            continue;
        struct lb_view w;
        struct local_lb_paths p;
        view_of(call, o, 0, &w);
        local_lb_paths(c, o->id, &p);
        kumo_driver_kit_buf_str(b, first ? "{\"id\":" : ",{\"id\":");
        first = 0;
        kumo_driver_kit_buf_json_str(b, o->id);
        kumo_driver_kit_buf_str(b, ",\"token\":");
        kumo_driver_kit_buf_json_str(b, o->token);
        local_netns_name(c, o->id, text, sizeof(text));
        kumo_driver_kit_buf_str(b, ",\"netns\":");
        kumo_driver_kit_buf_json_str(b, text);
        local_veth_name(o->id, text, sizeof(text));
        kumo_driver_kit_buf_printf(b,
                                   ",\"veth\":\"%s\",\"ip\":\"%s\",\"state\":\"%s\",\"pid\":%lld",
                                   text, o->ip ? o->ip : "", w.state,
                                   (long long)(local_pid_alive(o->pid, o->pid_start) ? o->pid : 0));
        kumo_driver_kit_buf_str(b, ",\"config\":");
        kumo_driver_kit_buf_json_str(b, p.cfg);
        kumo_driver_kit_buf_str(b, ",\"socket\":");
        kumo_driver_kit_buf_json_str(b, p.socket);
        kumo_driver_kit_buf_str(b, "}");
    }
}

/* ---- The operations ------------------------------------------------------------------ */

static kumo_driver_code delete_lb(struct local_call *call, struct local_object *o,
                                  struct kumo_driver_diag *diag)
{
    o->status = LOCAL_DELETING;
    kumo_driver_code rc = local_save(call, "recording the delete", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_lb_teardown(call, o, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    local_state_remove(&call->conn->state, o);
    rc = local_save(call, "recording the delete", diag);
    return rc == KUMO_DRIVER_OK ? local_default_network_release(call, diag) : rc;
}

static kumo_driver_code new_lb(struct local_call *call,
                               const struct kumo_driver_load_balancer_spec *spec, const char *token,
                               struct local_object **out, struct kumo_driver_diag *diag)
{
    struct local_pool pool;
    char id[32], ip[32];
    kumo_driver_code rc = local_machine_pool(call, "", "", &pool, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_pool_allocate(call->conn, &pool, ip, sizeof(ip), diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    local_new_id(call->conn, LOCAL_LOAD_BALANCER, id, sizeof(id));
    struct local_object *o = local_object_new(LOCAL_LOAD_BALANCER);
    if (o == NULL || local_set_str(&o->id, id) || local_set_str(&o->token, token) ||
        local_set_str(&o->name, spec->name ? spec->name : "") || local_set_str(&o->ip, ip) ||
        local_set_str(&o->network_id, "")) {
        local_object_free(o);
        return local_nomem(diag);
    }
    o->status = LOCAL_BUILDING;
    o->created_ns = call->now_ns;
    rc = local_copy_tags(o, spec->tags, spec->tag_count, diag);
    if (rc == KUMO_DRIVER_OK && local_state_add(&call->conn->state, o) != 0)
        rc = local_nomem(diag);
    if (rc != KUMO_DRIVER_OK) {
        local_object_free(o);
        return rc;
    }
    *out = o;
    return local_save(call, "recording the new load balancer", diag);
}

kumo_driver_code local_load_balancer_create(struct kumo_driver_conn *c,
                                            const struct kumo_driver_load_balancer_spec *spec,
                                            const char *token, int64_t deadline_ns,
                                            struct kumo_driver_load_balancer **out,
                                            struct kumo_driver_diag *diag)
{
    struct local_call call;
    if (spec == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "load_balancer_create: spec is required");
    LOCAL_NEED_OUT("load_balancer_create");
    kumo_driver_code rc = local_check_token(token, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_lb_check_spec(spec, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_call_begin(c, "load_balancer_create", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *o = local_state_find_token(&c->state, LOCAL_LOAD_BALANCER, token);
    if (o != NULL && o->status == LOCAL_DELETING) {
        rc = delete_lb(&call, o, diag); /* finish it; the token makes a new one */
        o = NULL;
    }
    int fresh = o == NULL;
    if (rc == KUMO_DRIVER_OK && o == NULL)
        rc = new_lb(&call, spec, token, &o, diag);
    if (rc == KUMO_DRIVER_OK) {
        /* The same token again finishes or repairs that load balancer, as it is. */
        rc = local_lb_ensure(&call, o, fresh || o->status == LOCAL_BUILDING ? spec : NULL, diag);
        if (rc == KUMO_DRIVER_OK) {
            o->status = LOCAL_READY;
            rc = local_save(&call, "recording the load balancer", diag);
        } else if (fresh && rc != KUMO_DRIVER_TIMEOUT) {
            struct kumo_driver_diag scratch; /* a failure for good: take back what was made */
            delete_lb(&call, o, &scratch);
            o = NULL;
        }
    }
    if (rc == KUMO_DRIVER_OK)
        rc = answer(&call, o, out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_load_balancer_observe(struct kumo_driver_conn *c,
                                             const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                             struct kumo_driver_load_balancer **out,
                                             struct kumo_driver_diag *diag)
{
    struct local_call call;
    LOCAL_NEED_OUT("load_balancer_observe");
    kumo_driver_code rc = local_call_begin(c, "load_balancer_observe", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    const struct local_object *o = local_lookup(&call, LOCAL_LOAD_BALANCER, ref, &rc, diag);
    if (o != NULL)
        rc = answer(&call, o, out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_load_balancer_update(struct kumo_driver_conn *c,
                                            const struct kumo_driver_ref *ref,
                                            const struct kumo_driver_load_balancer_update *update,
                                            int64_t deadline_ns,
                                            struct kumo_driver_load_balancer **out,
                                            struct kumo_driver_diag *diag)
{
    struct local_call call;
    if (update == NULL || update->spec == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "load_balancer_update: update and its spec are required");
    LOCAL_NEED_OUT("load_balancer_update");
    kumo_driver_code rc = local_lb_check_spec(update->spec, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_call_begin(c, "load_balancer_update", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *o = local_lookup(&call, LOCAL_LOAD_BALANCER, ref, &rc, diag);
    if (o != NULL && o->status == LOCAL_DELETING)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "IncorrectState",
                                  "load balancer %s is being deleted", o->id);
    if (rc == KUMO_DRIVER_OK && o != NULL && (update->fields & KUMO_DRIVER_LOAD_BALANCER_SET_TAGS))
        rc = local_copy_tags(o, update->spec->tags, update->spec->tag_count, diag);
    if (rc == KUMO_DRIVER_OK && o != NULL)
        rc = local_lb_ensure(&call, o, update->spec, diag);
    if (rc == KUMO_DRIVER_OK && o != NULL) {
        o->status = LOCAL_READY;
        rc = local_save(&call, "recording the load balancer", diag);
    }
    if (rc == KUMO_DRIVER_OK && o != NULL)
        rc = answer(&call, o, out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_load_balancer_delete(struct kumo_driver_conn *c,
                                            const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                            struct kumo_driver_diag *diag)
{
    struct local_call call;
    kumo_driver_code rc = local_call_begin(c, "load_balancer_delete", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *o = local_lookup(&call, LOCAL_LOAD_BALANCER, ref, &rc, diag);
    if (o != NULL)
        rc = delete_lb(&call, o, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_load_balancer_list(struct kumo_driver_conn *c,
                                          const struct kumo_driver_filter *filter,
                                          int64_t deadline_ns,
                                          struct kumo_driver_load_balancer_list **out,
                                          struct kumo_driver_diag *diag)
{
    struct local_call call;
    LOCAL_NEED_OUT("load_balancer_list");
    kumo_driver_code rc = local_call_begin(c, "load_balancer_list", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    size_t n = 0;
    struct local_object **picked = calloc(c->state.count + 1, sizeof(*picked));
    struct lb_view *views = calloc(c->state.count + 1, sizeof(*views));
    for (size_t i = 0; picked && views && i < c->state.count; i++) {
        struct local_object *o = c->state.objects[i];
        if (o->kind == LOCAL_LOAD_BALANCER && local_filter_match(filter, o))
            view_of(&call, o, 0, &views[n]), picked[n++] = o;
    }
    void *block = NULL;
    if (picked && views)
        KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, {
            const void **items = kumo_driver_kit_pack_list(p, n);
            for (size_t i = 0; i < n; i++) {
                const void *item = pack_lb(p, picked[i], &views[i], c->cfg.region);
                if (items != NULL)
                    items[i] = item;
            }
        });
    free(picked);
    free(views);
    *out = block;
    rc = block ? KUMO_DRIVER_OK : local_nomem(diag);
    local_call_end(&call);
    return rc;
}
