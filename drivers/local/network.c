/*
 * network.c - networks of the local driver. A Network is a bridge
 * kbn-<8 hex> with the first address of each subnet (or of the whole range
 * when it has no subnets); machines in a subnet draw their addresses from
 * it. New ranges must not overlap another network of the connection, the
 * default network or a route the host already has. The default network (a
 * machine without network) is the connection's bridge kbr-<C>, made with its
 * first machine and removed with its last.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The ranges a network puts on its bridge: its subnets, else its whole range. */
static size_t network_ranges(const struct local_object *n, uint32_t *bases, int *prefixes,
                             size_t max)
{
    size_t count = 0;
    if (n->subnet_count == 0 && local_cidr_parse(n->cidr, &bases[0], &prefixes[0]) == 0)
        return 1;
    for (size_t i = 0; i < n->subnet_count && count < max; i++)
        if (local_cidr_parse(n->subnets[i].cidr, &bases[count], &prefixes[count]) == 0)
            count++;
    return count;
}

kumo_driver_code local_network_ensure(struct local_call *call, const char *network_id,
                                      struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char bridge[32], alias[LOCAL_NAME_MAX], what[128];
    uint32_t bases[64];
    int prefixes[64];
    size_t count;
    local_bridge_name(c, network_id, bridge, sizeof(bridge));
    if (network_id == NULL || network_id[0] == '\0') {
        bases[0] = c->cfg.cidr_base;
        prefixes[0] = c->cfg.cidr_prefix;
        count = 1;
        local_alias(c, "default", c->name, alias, sizeof(alias));
        snprintf(what, sizeof(what), "default network of connection %.60s", c->name);
    } else {
        const struct local_object *n = local_state_find_id(&c->state, LOCAL_NETWORK, network_id);
        if (n == NULL)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidVpcID.NotFound",
                                        "The network ID '%s' does not exist in %s", network_id,
                                        c->cfg.region);
        count = network_ranges(n, bases, prefixes, 64);
        local_alias(c, n->id, n->token, alias, sizeof(alias));
        snprintf(what, sizeof(what), "network %s", n->id);
    }
    return local_bridge_ensure(call, bridge, alias, bases, prefixes, count, what, diag);
}

/* CONFLICT when [base/prefix] overlaps the default network or another network. */
static kumo_driver_code check_overlap(struct local_call *call, const char *self, uint32_t base,
                                      int prefix, const char *cidr, struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char range[32];
    if (local_cidr_overlap(base, prefix, c->cfg.cidr_base, c->cfg.cidr_prefix)) {
        local_ip_format(c->cfg.cidr_base, range, sizeof(range));
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "InvalidVpc.Range",
                                    "%s overlaps the default network %s/%d of connection %s", cidr,
                                    range, c->cfg.cidr_prefix, c->name);
    }
    for (size_t i = 0; i < c->state.count; i++) {
        const struct local_object *o = c->state.objects[i];
        uint32_t other;
        int other_prefix;
        if (o->kind != LOCAL_NETWORK || (self && strcmp(o->id, self) == 0) ||
            local_cidr_parse(o->cidr, &other, &other_prefix) != 0)
            continue;
        if (local_cidr_overlap(base, prefix, other, other_prefix))
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "InvalidVpc.Range",
                                        "%s overlaps network %s (%s)", cidr, o->id, o->cidr);
    }
    return KUMO_DRIVER_OK;
}

static void free_subnets(struct local_object *o)
{
    kumo_driver_kit_subnets_free(o->subnets, o->subnet_count);
    o->subnets = NULL;
    o->subnet_count = 0;
}

/* Machines whose network (by_subnet: subnet) is id. */
static size_t machines_in(struct local_state *st, int by_subnet, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < st->count; i++) {
        const struct local_object *m = st->objects[i];
        const char *value = by_subnet ? m->subnet_id : m->network_id;
        n += m->kind == LOCAL_MACHINE && value != NULL && strcmp(value, id) == 0;
    }
    return n;
}

/* Validates subnets into o (which holds its cidr), keeping the ids of old's
 * subnets of the same name; CONFLICT when a used subnet would go. */
static kumo_driver_code set_subnets(struct local_call *call, struct local_object *o,
                                    const struct local_object *old,
                                    const struct kumo_driver_subnet *subs, size_t count,
                                    struct kumo_driver_diag *diag)
{
    char id[32];
    if (count > 64)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "SubnetLimitExceeded",
                                    "%zu subnets given; a local network may have at most 64",
                                    count);
    kumo_driver_code rc = kumo_driver_kit_subnets_check(o->cidr, 0, subs, count, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    free_subnets(o);
    if (count && (o->subnets = calloc(count, sizeof(*o->subnets))) == NULL)
        return local_nomem(diag);
    for (size_t i = 0; i < count; i++) {
        const struct kumo_driver_subnet *s = &subs[i];
        const char *name = s->name;
        const char *zone = s->zone && s->zone[0] ? s->zone : call->conn->cfg.zone;
        if (strcmp(zone, call->conn->cfg.zone) != 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "subnet %s: [%s] is not a zone of %s (its one zone is %s)",
                                        name, zone, call->conn->cfg.region, call->conn->cfg.zone);
        const struct kumo_driver_kit_subnet *kept = NULL;
        for (size_t j = 0; old != NULL && j < old->subnet_count; j++)
            if (strcmp(old->subnets[j].name, name) == 0)
                kept = &old->subnets[j];
        if (kept != NULL && strcmp(kept->cidr, s->cidr) != 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "subnet %s (%s) cannot change its CIDR in place (it is %s)",
                                        name, kept->id, kept->cidr);
        if (kept != NULL)
            snprintf(id, sizeof(id), "%s", kept->id);
        else
            local_new_id(call->conn, LOCAL_SUBNET_ID, id, sizeof(id));
        struct kumo_driver_kit_subnet *d = &o->subnets[o->subnet_count];
        if (local_set_str(&d->id, id) | local_set_str(&d->name, name) |
            local_set_str(&d->cidr, s->cidr) | local_set_str(&d->zone, zone)) {
            free(d->id);
            free(d->name);
            free(d->cidr);
            free(d->zone);
            memset(d, 0, sizeof(*d));
            return local_nomem(diag);
        }
        o->subnet_count++;
    }
    for (size_t j = 0; old != NULL && j < old->subnet_count; j++) {
        int kept = 0;
        for (size_t i = 0; i < o->subnet_count && !kept; i++)
            kept = strcmp(o->subnets[i].id, old->subnets[j].id) == 0;
        size_t users = kept ? 0 : machines_in(&call->conn->state, 1, old->subnets[j].id);
        if (users > 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
                                        "subnet %s (%s) has %zu machines and cannot be removed",
                                        old->subnets[j].name, old->subnets[j].id, users);
    }
    return KUMO_DRIVER_OK;
}

kumo_driver_code local_network_observe(struct kumo_driver_conn *c,
                                       const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                       struct kumo_driver_network **out,
                                       struct kumo_driver_diag *diag)
{
    LOCAL_NEED_OUT("network_observe");
    return local_observe_kind(c, LOCAL_NETWORK, "network_observe", ref, deadline_ns, (void **)out,
                              diag);
}

kumo_driver_code local_network_list(struct kumo_driver_conn *c,
                                    const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                    struct kumo_driver_network_list **out,
                                    struct kumo_driver_diag *diag)
{
    LOCAL_NEED_OUT("network_list");
    return local_list_kind(c, LOCAL_NETWORK, "network_list", filter, deadline_ns, (void **)out,
                           diag);
}

/* A network with token already recorded: a live one is ensured and answered
 * (*done), an interrupted delete is finished so that the create goes on. */
static kumo_driver_code existing_network(struct local_call *call, const char *token,
                                         struct kumo_driver_network **out, int *done,
                                         struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char bridge[32];
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct local_object *n = local_state_find_token(&c->state, LOCAL_NETWORK, token);
    *done = n != NULL && n->status != LOCAL_DELETING;
    if (*done) {
        rc = local_network_ensure(call, n->id, diag);
        if (rc == KUMO_DRIVER_OK && n->status != LOCAL_READY) {
            n->status = LOCAL_READY;
            rc = local_save(call, "recording the network", diag);
        }
        return rc == KUMO_DRIVER_OK ? local_answer(call, n, (void **)out, diag) : rc;
    }
    if (n != NULL) { /* an interrupted delete of this token: finish it */
        local_bridge_name(c, n->id, bridge, sizeof(bridge));
        rc = local_bridge_delete(call, bridge, "finishing a network delete", diag);
        if (rc == KUMO_DRIVER_OK)
            local_state_remove(&c->state, n);
    }
    return rc;
}

/* A new network object from spec (range base/prefix) into *made, checked
 * against the host's routes. */
static kumo_driver_code new_network(struct local_call *call,
                                    const struct kumo_driver_network_spec *spec, const char *token,
                                    uint32_t base, int prefix, struct local_object **made,
                                    struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    uint32_t bases[64];
    int prefixes[64];
    char id[32], bridge[32], normal[40], ip[32];
    struct local_object *n = local_object_new(LOCAL_NETWORK);
    *made = NULL;
    if (n == NULL)
        return local_nomem(diag);
    local_new_id(c, LOCAL_NETWORK, id, sizeof(id));
    local_ip_format(base, ip, sizeof(ip));
    snprintf(normal, sizeof(normal), "%s/%d", ip, prefix);
    kumo_driver_code rc = KUMO_DRIVER_OK;
    if (local_set_str(&n->id, id) | local_set_str(&n->token, token) |
        local_set_str(&n->name, spec->name && spec->name[0] ? spec->name : token) |
        local_set_str(&n->cidr, normal))
        rc = local_nomem(diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_copy_tags(n, spec->tags, spec->tag_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = set_subnets(call, n, NULL, spec->subnets, spec->subnet_count, diag);
    local_bridge_name(c, id, bridge, sizeof(bridge));
    size_t count = rc == KUMO_DRIVER_OK ? network_ranges(n, bases, prefixes, 64) : 0;
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < count; i++)
        rc = local_check_host_routes(bases[i], prefixes[i], bridge, spec->cidr, diag);
    n->created_ns = call->now_ns;
    n->status = LOCAL_BUILDING;
    if (rc != KUMO_DRIVER_OK) {
        local_object_free(n);
        return rc;
    }
    *made = n;
    return KUMO_DRIVER_OK;
}

/* Records n (building), makes its bridge, records it ready; a failure other
 * than TIMEOUT rolls it back (n is gone then). */
static kumo_driver_code build_network(struct local_call *call, struct local_object *n,
                                      struct kumo_driver_network **out,
                                      struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char bridge[32];
    local_bridge_name(c, n->id, bridge, sizeof(bridge));
    if (local_state_add(&c->state, n) != 0) {
        local_object_free(n);
        return local_nomem(diag);
    }
    kumo_driver_code rc = local_save(call, "recording the new network", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_network_ensure(call, n->id, diag);
    if (rc == KUMO_DRIVER_OK) {
        n->status = LOCAL_READY;
        rc = local_save(call, "recording the new network", diag);
    } else if (rc != KUMO_DRIVER_TIMEOUT) {
        struct kumo_driver_diag scratch;
        local_bridge_delete(call, bridge, "rolling back a network", &scratch);
        local_state_remove(&c->state, n);
        local_save(call, "rolling back a network", &scratch);
        return rc;
    }
    return rc == KUMO_DRIVER_OK ? local_answer(call, n, (void **)out, diag) : rc;
}

kumo_driver_code local_network_create(struct kumo_driver_conn *c,
                                      const struct kumo_driver_network_spec *spec,
                                      const char *token, int64_t deadline_ns,
                                      struct kumo_driver_network **out,
                                      struct kumo_driver_diag *diag)
{
    struct local_call call;
    uint32_t base = 0;
    int prefix = 0, done = 0;
    LOCAL_NEED_OUT("network_create");
    if (spec == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "network_create: spec is required");
    kumo_driver_code rc = local_check_token(token, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_call_begin(c, "network_create", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = existing_network(&call, token, out, &done, diag);
    if (rc == KUMO_DRIVER_OK && !done &&
        (local_cidr_parse(spec->cidr, &base, &prefix) != 0 || prefix < 16 || prefix > 28))
        rc =
            kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidVpc.Range",
                                 "The CIDR '%s' is invalid: expected an IPv4 range from /16 to /28",
                                 spec->cidr ? spec->cidr : "");
    if (rc == KUMO_DRIVER_OK && !done)
        rc = check_overlap(&call, NULL, base, prefix, spec->cidr, diag);
    if (rc == KUMO_DRIVER_OK && !done) {
        struct local_object *n = NULL;
        rc = new_network(&call, spec, token, base, prefix, &n, diag);
        if (rc == KUMO_DRIVER_OK)
            rc = build_network(&call, n, out, diag);
    }
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_network_update(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                      const struct kumo_driver_network_update *u,
                                      int64_t deadline_ns, struct kumo_driver_network **out,
                                      struct kumo_driver_diag *diag)
{
    struct local_call call;
    LOCAL_NEED_OUT("network_update");
    if (u == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "network_update: update is required");
    kumo_driver_code rc = local_call_begin(c, "network_update", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *n = local_lookup(&call, LOCAL_NETWORK, ref, &rc, diag);
    struct local_object *copy = n ? local_object_clone(n) : NULL;
    if (n != NULL && copy == NULL)
        rc = local_nomem(diag);
    if (copy != NULL && (u->fields & KUMO_DRIVER_NETWORK_SET_SUBNETS))
        rc = set_subnets(&call, copy, n, u->subnets, u->subnet_count, diag);
    if (copy != NULL && rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_NETWORK_SET_TAGS))
        rc = local_copy_tags(copy, u->tags, u->tag_count, diag);
    if (copy == NULL || rc != KUMO_DRIVER_OK) {
        local_object_free(copy);
        local_call_end(&call);
        return rc;
    }
    /* Addresses of removed subnets leave the bridge; new ones join it. */
    uint32_t old_bases[64], new_bases[64];
    int old_prefixes[64], new_prefixes[64];
    size_t old_count = network_ranges(n, old_bases, old_prefixes, 64);
    size_t new_count = network_ranges(copy, new_bases, new_prefixes, 64);
    char bridge[32], ip[40];
    local_bridge_name(c, n->id, bridge, sizeof(bridge));
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < new_count; i++) {
        int had = 0;
        for (size_t j = 0; j < old_count && !had; j++)
            had = old_bases[j] == new_bases[i] && old_prefixes[j] == new_prefixes[i];
        if (!had)
            rc = local_check_host_routes(new_bases[i], new_prefixes[i], bridge, n->id, diag);
    }
    if (rc == KUMO_DRIVER_OK) {
        local_state_replace(&c->state, n, copy);
        n = copy;
        rc = local_save(&call, "recording the change", diag);
    } else {
        local_object_free(copy);
    }
    for (size_t j = 0; rc == KUMO_DRIVER_OK && j < old_count; j++) {
        int kept = 0;
        for (size_t i = 0; i < new_count && !kept; i++)
            kept = old_bases[j] == new_bases[i] && old_prefixes[j] == new_prefixes[i];
        if (kept)
            continue;
        local_ip_format(old_bases[j] + 1, ip, sizeof(ip));
        snprintf(ip + strlen(ip), sizeof(ip) - strlen(ip), "/%d", old_prefixes[j]);
        struct kumo_driver_diag scratch; /* already gone is fine */
        local_ip(c, call.deadline_ns, n->id, &scratch, "addr", "del", ip, "dev", bridge, NULL);
    }
    if (rc == KUMO_DRIVER_OK)
        rc = local_network_ensure(&call, n->id, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_answer(&call, n, (void **)out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_network_delete(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                      int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct local_call call;
    kumo_driver_code rc = local_call_begin(c, "network_delete", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *n = local_lookup(&call, LOCAL_NETWORK, ref, &rc, diag);
    if (n == NULL) {
        local_call_end(&call);
        return rc;
    }
    size_t machines = machines_in(&c->state, 0, n->id), groups = 0;
    for (size_t i = 0; i < c->state.count; i++) {
        const struct local_object *g = c->state.objects[i];
        groups +=
            g->kind == LOCAL_SECURITY_GROUP && g->network_id && strcmp(g->network_id, n->id) == 0;
    }
    if (machines + groups > 0) {
        rc = kumo_driver_kit_fail(
            diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
            "The network '%s' has %zu machines and %zu security groups and cannot be "
            "deleted",
            n->id, machines, groups);
        local_call_end(&call);
        return rc;
    }
    char bridge[32];
    local_bridge_name(c, n->id, bridge, sizeof(bridge));
    n->status = LOCAL_DELETING;
    rc = local_save(&call, "recording the delete", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_bridge_delete(&call, bridge, n->id, diag);
    if (rc == KUMO_DRIVER_OK) {
        local_state_remove(&c->state, n);
        rc = local_save(&call, "recording the delete", diag);
    }
    local_call_end(&call);
    return rc;
}
