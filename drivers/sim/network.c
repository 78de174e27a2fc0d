/*
 * network.c - networks (with subnets), security groups and key pairs of the
 * simulated cloud. Same frame as machines (ops.c): idempotent create by
 * token, in-place update through a modified clone, delete refused while
 * other resources depend on the resource (DependencyViolation), as real
 * clouds do.
 */
#include "drivers/sim/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kumo_driver_code nomem(struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
}

/* ---- Networks ----------------------------------------------------------- */

/* Validates the subnets of a network into `o` (which holds the cidr), keeping
 * the ids of `old`'s subnets of the same name. */
static kumo_driver_code set_subnets(struct kumo_driver_conn *c, struct sim_request *r,
                                    struct sim_object *o, const struct sim_object *old,
                                    const struct kumo_driver_subnet *subs, size_t count,
                                    struct kumo_driver_diag *diag)
{
    char id[64], zone[80];
    if (count > 200)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "SubnetLimitExceeded",
                                    "%zu subnets given; a network may have at most 200", count);
    kumo_driver_code rc =
        kumo_driver_kit_subnets_check(o->cidr, KUMO_DRIVER_KIT_CIDR_EXACT, subs, count, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    kumo_driver_kit_subnets_free(o->subnets, o->subnet_count);
    o->subnets = count ? calloc(count, sizeof(*o->subnets)) : NULL;
    o->subnet_count = 0;
    if (count && o->subnets == NULL)
        return nomem(diag);
    for (size_t i = 0; i < count; i++) {
        const struct kumo_driver_subnet *s = &subs[i];
        const char *name = s->name;
        snprintf(zone, sizeof(zone), "%s", s->zone && s->zone[0] ? s->zone : r->cfg.zone);
        if (!sim_zone_valid(r->cfg.region, zone))
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "subnet %s: [%s] is not a zone of %s", name, zone,
                                        r->cfg.region->name);
        const struct kumo_driver_kit_subnet *kept = NULL;
        for (size_t j = 0; old != NULL && j < old->subnet_count; j++)
            if (strcmp(old->subnets[j].name, name) == 0)
                kept = &old->subnets[j];
        if (kept != NULL && (strcmp(kept->cidr, s->cidr) != 0 || strcmp(kept->zone, zone) != 0))
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "subnet %s (%s) cannot change its CIDR or zone in place (it is %s in "
                "%s)",
                name, kept->id, kept->cidr, kept->zone);
        if (kept != NULL) {
            snprintf(id, sizeof(id), "%s", kept->id);
        } else {
            uint64_t serial;
            sim_state_new_id(c->state, "subnet-0", id, sizeof(id), &serial);
        }
        struct kumo_driver_kit_subnet *d = &o->subnets[o->subnet_count];
        if (sim_set_str(&d->id, id) | sim_set_str(&d->name, name) | sim_set_str(&d->cidr, s->cidr) |
            sim_set_str(&d->zone, zone)) {
            free(d->id);
            free(d->name);
            free(d->cidr);
            free(d->zone);
            memset(d, 0, sizeof(*d));
            return nomem(diag);
        }
        o->subnet_count++;
    }
    return KUMO_DRIVER_OK;
}

/* Live machines in subnet `id` (by_subnet) or network `id`. */
static size_t machines_using(struct kumo_driver_conn *c, struct sim_request *r, int by_subnet,
                             const char *id)
{
    size_t n = 0;
    struct sim_state *st = c->state;
    for (size_t i = 0; i < st->count; i++) {
        const struct sim_object *o = st->objects[i];
        const char *value = by_subnet ? o->subnet_id : o->network_id;
        if (o->kind == SIM_MACHINE && !sim_object_gone(o, r->now_ns) && value != NULL &&
            strcmp(value, id) == 0)
            n++;
    }
    return n;
}

static kumo_driver_code network_create_body(struct kumo_driver_conn *c, struct sim_request *r,
                                            struct kumo_driver_diag *diag)
{
    const struct kumo_driver_network_spec *spec = r->spec;
    struct sim_object *existing = sim_existing(c, r);
    if (existing != NULL)
        return sim_result(r, existing, diag);
    uint32_t base;
    int prefix;
    if (sim_cidr_parse(spec->cidr, &base, &prefix) != 0 || prefix < 16 || prefix > 28)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "InvalidVpc.Range",
            "The CIDR '%s' is invalid: expected an IPv4 network from /16 to /28, "
            "e.g. 10.0.0.0/16",
            spec->cidr ? spec->cidr : "");
    struct sim_object *o = sim_object_new(SIM_NETWORK);
    if (o == NULL)
        return nomem(diag);
    kumo_driver_code rc = KUMO_DRIVER_OK;
    if (sim_set_str(&o->name, spec->name ? spec->name : "") != 0 ||
        sim_set_str(&o->cidr, spec->cidr) != 0)
        rc = nomem(diag);
    if (rc == KUMO_DRIVER_OK)
        rc = set_subnets(c, r, o, NULL, spec->subnets, spec->subnet_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = sim_copy_tags(o, spec->tags, spec->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(o);
        return rc;
    }
    return sim_add_new(c, r, o, "vpc-0", diag);
}

static kumo_driver_code network_update_body(struct kumo_driver_conn *c, struct sim_request *r,
                                            struct kumo_driver_diag *diag)
{
    const struct kumo_driver_network_update *u = r->update;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    struct sim_object *copy = sim_object_clone(o);
    if (copy == NULL)
        return nomem(diag);
    if (u->fields & KUMO_DRIVER_NETWORK_SET_SUBNETS) {
        rc = set_subnets(c, r, copy, o, u->subnets, u->subnet_count, diag);
        /* A subnet that goes away must be empty. */
        for (size_t i = 0; rc == KUMO_DRIVER_OK && i < o->subnet_count; i++) {
            int kept = 0;
            for (size_t j = 0; j < copy->subnet_count; j++)
                kept |= strcmp(copy->subnets[j].id, o->subnets[i].id) == 0;
            size_t users = kept ? 0 : machines_using(c, r, 1, o->subnets[i].id);
            if (users > 0)
                rc = kumo_driver_kit_fail(
                    diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
                    "The subnet '%s' has dependencies and cannot be deleted (%zu "
                    "machines)",
                    o->subnets[i].id, users);
        }
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_NETWORK_SET_TAGS))
        rc = sim_copy_tags(copy, u->tags, u->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(copy);
        return rc;
    }
    return sim_commit_change(c, r, o, copy, diag);
}

static kumo_driver_code network_delete_body(struct kumo_driver_conn *c, struct sim_request *r,
                                            struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    size_t machines = machines_using(c, r, 0, o->id), groups = 0;
    for (size_t i = 0; i < c->state->count; i++) {
        const struct sim_object *g = c->state->objects[i];
        groups +=
            g->kind == SIM_SECURITY_GROUP && g->network_id && strcmp(g->network_id, o->id) == 0;
    }
    if (machines + groups > 0)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
            "The network '%s' has dependencies and cannot be deleted (%zu machines, "
            "%zu security groups)",
            o->id, machines, groups);
    sim_delete_now(c, r, o);
    return KUMO_DRIVER_OK;
}

SIM_DEFINE_OPS(network, NETWORK, SIM_NETWORK, network_create_body, network_update_body,
               network_delete_body)

/* ---- Security groups ---------------------------------------------------- */

static kumo_driver_code set_rules(struct sim_object *o, const struct kumo_driver_rule *rules,
                                  size_t count, struct kumo_driver_diag *diag)
{
    uint32_t base;
    int prefix;
    kumo_driver_kit_rules_free(o->rules, o->rule_count);
    o->rules = NULL;
    o->rule_count = 0;
    if (count > 120)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "RulesPerSecurityGroupLimitExceeded",
                                    "%zu rules given; a security group may have at most 120",
                                    count);
    if (count == 0)
        return KUMO_DRIVER_OK;
    o->rules = calloc(count, sizeof(*o->rules));
    if (o->rules == NULL)
        return nomem(diag);
    for (size_t i = 0; i < count; i++) {
        const struct kumo_driver_rule *in = &rules[i];
        int ports = in->protocol == KUMO_DRIVER_TCP || in->protocol == KUMO_DRIVER_UDP;
        if (in->direction != KUMO_DRIVER_INBOUND && in->direction != KUMO_DRIVER_OUTBOUND)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "rule %zu: direction %d is neither inbound (1) nor outbound (2)", i,
                (int)in->direction);
        if (in->protocol < KUMO_DRIVER_TCP || in->protocol > KUMO_DRIVER_ALL_PROTOCOLS)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "rule %zu: protocol %d is not tcp (1), udp (2), icmp (3) or all (4)", i,
                (int)in->protocol);
        if (ports && (in->from_port < 0 || in->to_port > 65535 || in->from_port > in->to_port))
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "rule %zu: ports %d-%d are not a range inside 0-65535", i,
                                        (int)in->from_port, (int)in->to_port);
        if (sim_cidr_parse(in->cidr, &base, &prefix) != 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "rule %zu: CIDR '%s' is not an IPv4 network like 0.0.0.0/0",
                                        i, in->cidr ? in->cidr : "");
        if (in->description && strlen(in->description) > 255)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "rule %zu: the description is longer than 255 characters",
                                        i);
        struct kumo_driver_kit_rule *d = &o->rules[o->rule_count];
        d->direction = in->direction;
        d->protocol = in->protocol;
        d->from_port = ports ? in->from_port : 0;
        d->to_port = ports ? in->to_port : 0;
        if (sim_set_str(&d->cidr, in->cidr) != 0 ||
            sim_set_str(&d->description, in->description ? in->description : "") != 0) {
            free(d->cidr);
            d->cidr = NULL;
            return nomem(diag);
        }
        o->rule_count++;
    }
    return KUMO_DRIVER_OK;
}

static kumo_driver_code security_group_create_body(struct kumo_driver_conn *c,
                                                   struct sim_request *r,
                                                   struct kumo_driver_diag *diag)
{
    const struct kumo_driver_security_group_spec *spec = r->spec;
    struct sim_object *existing = sim_existing(c, r);
    if (existing != NULL)
        return sim_result(r, existing, diag);
    const char *network = spec->network_id && spec->network_id[0] ? spec->network_id : NULL;
    if (network != NULL && sim_find_kind(c, r, SIM_NETWORK, network) == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidVpcID.NotFound",
                                    "The network ID '%s' does not exist in %s", network,
                                    r->cfg.region->name);
    const char *name = spec->name ? spec->name : "";
    for (size_t i = 0; name[0] && i < c->state->count; i++) {
        const struct sim_object *g = c->state->objects[i];
        if (g->kind == SIM_SECURITY_GROUP && strcmp(g->name, name) == 0 &&
            strcmp(g->region, r->cfg.region->name) == 0 &&
            strcmp(g->provider, r->cfg.provider) == 0 &&
            strcmp(g->network_id ? g->network_id : "", network ? network : "") == 0)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_ALREADY_EXISTS, "InvalidGroup.Duplicate",
                "The security group '%s' already exists in network '%s' (%s)", name,
                network ? network : "default", g->id);
    }
    struct sim_object *o = sim_object_new(SIM_SECURITY_GROUP);
    if (o == NULL)
        return nomem(diag);
    kumo_driver_code rc = KUMO_DRIVER_OK;
    if (sim_set_str(&o->name, name) != 0 || sim_set_str(&o->network_id, network) != 0)
        rc = nomem(diag);
    if (rc == KUMO_DRIVER_OK)
        rc = set_rules(o, spec->rules, spec->rule_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = sim_copy_tags(o, spec->tags, spec->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(o);
        return rc;
    }
    return sim_add_new(c, r, o, "sg-0", diag);
}

static kumo_driver_code security_group_update_body(struct kumo_driver_conn *c,
                                                   struct sim_request *r,
                                                   struct kumo_driver_diag *diag)
{
    const struct kumo_driver_security_group_update *u = r->update;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    struct sim_object *copy = sim_object_clone(o);
    if (copy == NULL)
        return nomem(diag);
    if (u->fields & KUMO_DRIVER_SECURITY_GROUP_SET_RULES)
        rc = set_rules(copy, u->rules, u->rule_count, diag);
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_SECURITY_GROUP_SET_TAGS))
        rc = sim_copy_tags(copy, u->tags, u->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(copy);
        return rc;
    }
    return sim_commit_change(c, r, o, copy, diag);
}

static kumo_driver_code security_group_delete_body(struct kumo_driver_conn *c,
                                                   struct sim_request *r,
                                                   struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    size_t users = 0;
    for (size_t i = 0; i < c->state->count; i++) {
        const struct sim_object *m = c->state->objects[i];
        if (m->kind != SIM_MACHINE || sim_object_gone(m, r->now_ns))
            continue;
        for (size_t j = 0; j < m->sg_count; j++)
            users += strcmp(m->sg_ids[j], o->id) == 0;
    }
    if (users > 0)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
            "The security group '%s' is used by %zu machines and cannot be deleted", o->id, users);
    sim_delete_now(c, r, o);
    return KUMO_DRIVER_OK;
}

SIM_DEFINE_OPS(security_group, SECURITY_GROUP, SIM_SECURITY_GROUP, security_group_create_body,
               security_group_update_body, security_group_delete_body)

/* ---- Key pairs ---------------------------------------------------------- */

static kumo_driver_code key_pair_create_body(struct kumo_driver_conn *c, struct sim_request *r,
                                             struct kumo_driver_diag *diag)
{
    const struct kumo_driver_key_pair_spec *spec = r->spec;
    struct sim_object *existing = sim_existing(c, r);
    if (existing != NULL)
        return sim_result(r, existing, diag);
    const char *key = spec->public_key ? spec->public_key : "";
    if (strncmp(key, "ssh-", 4) != 0 && strncmp(key, "ecdsa-sha2-", 11) != 0)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "InvalidKey.Format",
            "Key is not in valid OpenSSH public key format (expected \"ssh-ed25519 "
            "AAAA...\", \"ssh-rsa ...\" or \"ecdsa-sha2-...\")");
    if (strlen(key) > 16384)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidKey.Format",
                                    "the key is too long");
    const char *name = spec->name && spec->name[0] ? spec->name : r->token;
    for (size_t i = 0; i < c->state->count; i++) {
        const struct sim_object *k = c->state->objects[i];
        if (k->kind == SIM_KEY_PAIR && strcmp(k->name, name) == 0 &&
            strcmp(k->region, r->cfg.region->name) == 0 &&
            strcmp(k->provider, r->cfg.provider) == 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_ALREADY_EXISTS,
                                        "InvalidKeyPair.Duplicate",
                                        "The key pair '%s' already exists (%s)", name, k->id);
    }
    char fingerprint[64];
    kumo_driver_kit_fingerprint(key, fingerprint, sizeof(fingerprint));
    struct sim_object *o = sim_object_new(SIM_KEY_PAIR);
    if (o == NULL)
        return nomem(diag);
    kumo_driver_code rc = KUMO_DRIVER_OK;
    if (sim_set_str(&o->name, name) != 0 || sim_set_str(&o->public_key, key) != 0 ||
        sim_set_str(&o->fingerprint, fingerprint) != 0)
        rc = nomem(diag);
    if (rc == KUMO_DRIVER_OK)
        rc = sim_copy_tags(o, spec->tags, spec->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(o);
        return rc;
    }
    return sim_add_new(c, r, o, "key-0", diag);
}

static kumo_driver_code key_pair_update_body(struct kumo_driver_conn *c, struct sim_request *r,
                                             struct kumo_driver_diag *diag)
{
    const struct kumo_driver_key_pair_update *u = r->update;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    if (!(u->fields & KUMO_DRIVER_KEY_PAIR_SET_TAGS))
        return sim_result(r, o, diag);
    struct sim_object *copy = sim_object_clone(o);
    if (copy == NULL)
        return nomem(diag);
    rc = sim_copy_tags(copy, u->tags, u->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(copy);
        return rc;
    }
    return sim_commit_change(c, r, o, copy, diag);
}

static kumo_driver_code key_pair_delete_body(struct kumo_driver_conn *c, struct sim_request *r,
                                             struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    sim_delete_now(c, r, o); /* machines keep running with the key they were given */
    return KUMO_DRIVER_OK;
}

SIM_DEFINE_OPS(key_pair, KEY_PAIR, SIM_KEY_PAIR, key_pair_create_body, key_pair_update_body,
               key_pair_delete_body)
