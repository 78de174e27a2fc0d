/*
 * resource.c - security groups and key pairs of the local driver, and what
 * every kind shares (lookup by ref, list filters, observe and list of kinds
 * kept only in the state).
 *
 * A SecurityGroup is a set of rules in the state; machines that use it get
 * them in the connection's nftables table (net.c). A KeyPair is bookkeeping:
 * its public key is handed to the machine's process
 * (KUMO_MACHINE_SSH_PUBLIC_KEY).
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *not_found_code(int kind)
{
    switch (kind) {
    case LOCAL_MACHINE:
        return "InvalidInstanceID.NotFound";
    case LOCAL_NETWORK:
        return "InvalidVpcID.NotFound";
    case LOCAL_SECURITY_GROUP:
        return "InvalidGroup.NotFound";
    case LOCAL_LOAD_BALANCER:
        return "LoadBalancerNotFound";
    default:
        return "InvalidKeyPair.NotFound";
    }
}

struct local_object *local_lookup(struct local_call *call, int kind,
                                  const struct kumo_driver_ref *ref, kumo_driver_code *rc,
                                  struct kumo_driver_diag *diag)
{
    struct local_state *st = &call->conn->state;
    const char *human = local_kind_human(kind);
    if (ref != NULL && ref->provider_id != NULL && ref->provider_id[0] != '\0') {
        struct local_object *o = local_state_find_id(st, kind, ref->provider_id);
        if (o == NULL)
            *rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, not_found_code(kind),
                                       "The %s ID '%s' does not exist in %s", human,
                                       ref->provider_id, call->conn->cfg.region);
        return o;
    }
    if (ref != NULL && ref->token != NULL && ref->token[0] != '\0') {
        struct local_object *o = local_state_find_token(st, kind, ref->token);
        if (o == NULL)
            *rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, not_found_code(kind),
                                       "No %s with token '%s' exists in %s", human, ref->token,
                                       call->conn->cfg.region);
        return o;
    }
    *rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                               "a %s reference needs a provider id or a token", human);
    return NULL;
}

int local_filter_match(const struct kumo_driver_filter *f, const struct local_object *o)
{
    if (f == NULL || f->tag_key == NULL)
        return 1;
    const char *prefix = f->tag_value_prefix ? f->tag_value_prefix : "";
    size_t n = strlen(prefix);
    if (strcmp(f->tag_key, KUMO_DRIVER_TOKEN_TAG) == 0)
        return strncmp(o->token, prefix, n) == 0;
    for (size_t i = 0; i < o->tag_count; i++)
        if (strcmp(o->tags[i].key, f->tag_key) == 0 && strncmp(o->tags[i].value, prefix, n) == 0)
            return 1;
    return 0;
}

kumo_driver_code local_answer(struct local_call *call, const struct local_object *o, void **out,
                              struct kumo_driver_diag *diag)
{
    *out = local_pack_object(o, call->conn->cfg.region);
    return *out ? KUMO_DRIVER_OK : local_nomem(diag);
}

kumo_driver_code local_observe_kind(struct kumo_driver_conn *c, int kind, const char *op,
                                    const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                    void **out, struct kumo_driver_diag *diag)
{
    struct local_call call;
    kumo_driver_code rc = local_call_begin(c, op, deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    const struct local_object *o = local_lookup(&call, kind, ref, &rc, diag);
    if (o != NULL)
        rc = local_answer(&call, o, out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_list_kind(struct kumo_driver_conn *c, int kind, const char *op,
                                 const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                 void **out, struct kumo_driver_diag *diag)
{
    struct local_call call;
    kumo_driver_code rc = local_call_begin(c, op, deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object **items = calloc(c->state.count + 1, sizeof(*items));
    size_t n = 0;
    for (size_t i = 0; items != NULL && i < c->state.count; i++)
        if (c->state.objects[i]->kind == kind && local_filter_match(filter, c->state.objects[i]))
            items[n++] = c->state.objects[i];
    *out = items ? local_pack_list(items, NULL, n, c->cfg.region) : NULL;
    rc = *out ? KUMO_DRIVER_OK : local_nomem(diag);
    free(items);
    local_call_end(&call);
    return rc;
}

/* ---- Security groups ----------------------------------------------------------- */

static kumo_driver_code set_rules(struct local_object *o, const struct kumo_driver_rule *rules,
                                  size_t count, struct kumo_driver_diag *diag)
{
    kumo_driver_kit_rules_free(o->rules, o->rule_count);
    o->rules = NULL;
    o->rule_count = 0;
    if (count > 100)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "RulesPerSecurityGroupLimitExceeded",
                                    "%zu rules given; at most 100 are allowed", count);
    if (count && (o->rules = calloc(count, sizeof(*o->rules))) == NULL)
        return local_nomem(diag);
    for (size_t i = 0; i < count; i++) {
        const struct kumo_driver_rule *r = &rules[i];
        uint32_t base;
        int prefix;
        const char *cidr = r->cidr && r->cidr[0] ? r->cidr : "0.0.0.0/0";
        if (r->direction != KUMO_DRIVER_INBOUND && r->direction != KUMO_DRIVER_OUTBOUND)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "rule %zu: direction %d is neither inbound (1) nor outbound (2)", i, r->direction);
        if (r->protocol < KUMO_DRIVER_TCP || r->protocol > KUMO_DRIVER_ALL_PROTOCOLS)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "rule %zu: protocol %d is not tcp (1), udp (2), icmp (3) or all (4)", i,
                r->protocol);
        if ((r->protocol == KUMO_DRIVER_TCP || r->protocol == KUMO_DRIVER_UDP) &&
            (r->from_port < 0 || r->to_port > 65535 || r->from_port > r->to_port))
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "rule %zu: ports %d-%d are not a range within 0-65535", i,
                                        r->from_port, r->to_port);
        if (strchr(cidr, ':') == NULL && local_cidr_parse(cidr, &base, &prefix) != 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "rule %zu: '%s' is not a CIDR range", i, cidr);
        struct kumo_driver_kit_rule *d = &o->rules[o->rule_count];
        *d = (struct kumo_driver_kit_rule){r->direction, r->protocol, r->from_port,
                                           r->to_port,   NULL,        NULL};
        if (local_set_str(&d->cidr, cidr) | local_set_str(&d->description, r->description)) {
            free(d->cidr);
            free(d->description);
            return local_nomem(diag);
        }
        o->rule_count++;
    }
    return KUMO_DRIVER_OK;
}

static size_t machines_using_group(struct local_state *st, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < st->count; i++) {
        const struct local_object *m = st->objects[i];
        for (size_t j = 0; m->kind == LOCAL_MACHINE && j < m->sg_count; j++)
            n += strcmp(m->sg_ids[j], id) == 0;
    }
    return n;
}

kumo_driver_code local_security_group_observe(struct kumo_driver_conn *c,
                                              const struct kumo_driver_ref *ref,
                                              int64_t deadline_ns,
                                              struct kumo_driver_security_group **out,
                                              struct kumo_driver_diag *diag)
{
    LOCAL_NEED_OUT("security_group_observe");
    return local_observe_kind(c, LOCAL_SECURITY_GROUP, "security_group_observe", ref, deadline_ns,
                              (void **)out, diag);
}

kumo_driver_code local_security_group_list(struct kumo_driver_conn *c,
                                           const struct kumo_driver_filter *filter,
                                           int64_t deadline_ns,
                                           struct kumo_driver_security_group_list **out,
                                           struct kumo_driver_diag *diag)
{
    LOCAL_NEED_OUT("security_group_list");
    return local_list_kind(c, LOCAL_SECURITY_GROUP, "security_group_list", filter, deadline_ns,
                           (void **)out, diag);
}

kumo_driver_code local_security_group_create(struct kumo_driver_conn *c,
                                             const struct kumo_driver_security_group_spec *spec,
                                             const char *token, int64_t deadline_ns,
                                             struct kumo_driver_security_group **out,
                                             struct kumo_driver_diag *diag)
{
    struct local_call call;
    char id[32];
    LOCAL_NEED_OUT("security_group_create");
    if (spec == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "security_group_create: spec is required");
    kumo_driver_code rc = local_check_token(token, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_call_begin(c, "security_group_create", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *g = local_state_find_token(&c->state, LOCAL_SECURITY_GROUP, token);
    if (g != NULL) {
        rc = local_answer(&call, g, (void **)out, diag);
        local_call_end(&call);
        return rc;
    }
    const char *network = spec->network_id && spec->network_id[0] ? spec->network_id : NULL;
    const char *name = spec->name && spec->name[0] ? spec->name : token;
    if (network && local_state_find_id(&c->state, LOCAL_NETWORK, network) == NULL)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidVpcID.NotFound",
                                  "The network ID '%s' does not exist in %s", network,
                                  c->cfg.region);
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < c->state.count; i++) {
        const struct local_object *o = c->state.objects[i];
        if (o->kind == LOCAL_SECURITY_GROUP && strcmp(o->name, name) == 0 &&
            strcmp(o->network_id ? o->network_id : "", network ? network : "") == 0)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_ALREADY_EXISTS, "InvalidGroup.Duplicate",
                                      "The security group '%s' already exists in network '%s' (%s)",
                                      name, network ? network : "default", o->id);
    }
    g = rc == KUMO_DRIVER_OK ? local_object_new(LOCAL_SECURITY_GROUP) : NULL;
    if (rc == KUMO_DRIVER_OK && g == NULL)
        rc = local_nomem(diag);
    if (g != NULL) {
        local_new_id(c, LOCAL_SECURITY_GROUP, id, sizeof(id));
        if (local_set_str(&g->id, id) | local_set_str(&g->token, token) |
            local_set_str(&g->name, name) | local_set_str(&g->network_id, network))
            rc = local_nomem(diag);
        if (rc == KUMO_DRIVER_OK)
            rc = set_rules(g, spec->rules, spec->rule_count, diag);
        if (rc == KUMO_DRIVER_OK)
            rc = local_copy_tags(g, spec->tags, spec->tag_count, diag);
        g->created_ns = call.now_ns;
        if (rc == KUMO_DRIVER_OK && local_state_add(&c->state, g) != 0)
            rc = local_nomem(diag);
        if (rc != KUMO_DRIVER_OK) {
            local_object_free(g);
            g = NULL;
        }
    }
    if (rc == KUMO_DRIVER_OK)
        rc = local_save(&call, "recording the new security group", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_answer(&call, g, (void **)out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code
local_security_group_update(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                            const struct kumo_driver_security_group_update *u, int64_t deadline_ns,
                            struct kumo_driver_security_group **out, struct kumo_driver_diag *diag)
{
    struct local_call call;
    LOCAL_NEED_OUT("security_group_update");
    if (u == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "security_group_update: update is required");
    kumo_driver_code rc = local_call_begin(c, "security_group_update", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *g = local_lookup(&call, LOCAL_SECURITY_GROUP, ref, &rc, diag);
    struct local_object *copy = g ? local_object_clone(g) : NULL;
    if (g != NULL && copy == NULL)
        rc = local_nomem(diag);
    if (copy != NULL && (u->fields & KUMO_DRIVER_SECURITY_GROUP_SET_RULES))
        rc = set_rules(copy, u->rules, u->rule_count, diag);
    if (copy != NULL && rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_SECURITY_GROUP_SET_TAGS))
        rc = local_copy_tags(copy, u->tags, u->tag_count, diag);
    if (copy == NULL || rc != KUMO_DRIVER_OK) {
        local_object_free(copy);
        local_call_end(&call);
        return rc;
    }
    local_state_replace(&c->state, g, copy);
    g = copy;
    rc = local_save(&call, "recording the change", diag);
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_SECURITY_GROUP_SET_RULES) &&
        machines_using_group(&c->state, g->id) > 0)
        rc = local_firewall_apply(&call, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_answer(&call, g, (void **)out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_security_group_delete(struct kumo_driver_conn *c,
                                             const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                             struct kumo_driver_diag *diag)
{
    struct local_call call;
    kumo_driver_code rc = local_call_begin(c, "security_group_delete", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *g = local_lookup(&call, LOCAL_SECURITY_GROUP, ref, &rc, diag);
    size_t users = g ? machines_using_group(&c->state, g->id) : 0;
    if (users > 0)
        rc = kumo_driver_kit_fail(
            diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
            "The security group '%s' is used by %zu machines and cannot be deleted", g->id, users);
    else if (g != NULL) {
        local_state_remove(&c->state, g);
        rc = local_save(&call, "recording the delete", diag);
    }
    local_call_end(&call);
    return rc;
}

/* ---- Key pairs ------------------------------------------------------------------ */

kumo_driver_code local_key_pair_observe(struct kumo_driver_conn *c,
                                        const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                        struct kumo_driver_key_pair **out,
                                        struct kumo_driver_diag *diag)
{
    LOCAL_NEED_OUT("key_pair_observe");
    return local_observe_kind(c, LOCAL_KEY_PAIR, "key_pair_observe", ref, deadline_ns, (void **)out,
                              diag);
}

kumo_driver_code local_key_pair_list(struct kumo_driver_conn *c,
                                     const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                     struct kumo_driver_key_pair_list **out,
                                     struct kumo_driver_diag *diag)
{
    LOCAL_NEED_OUT("key_pair_list");
    return local_list_kind(c, LOCAL_KEY_PAIR, "key_pair_list", filter, deadline_ns, (void **)out,
                           diag);
}

kumo_driver_code local_key_pair_create(struct kumo_driver_conn *c,
                                       const struct kumo_driver_key_pair_spec *spec,
                                       const char *token, int64_t deadline_ns,
                                       struct kumo_driver_key_pair **out,
                                       struct kumo_driver_diag *diag)
{
    struct local_call call;
    char id[32], fingerprint[64];
    LOCAL_NEED_OUT("key_pair_create");
    if (spec == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "key_pair_create: spec is required");
    kumo_driver_code rc = local_check_token(token, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_call_begin(c, "key_pair_create", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *k = local_state_find_token(&c->state, LOCAL_KEY_PAIR, token);
    if (k != NULL) {
        rc = local_answer(&call, k, (void **)out, diag);
        local_call_end(&call);
        return rc;
    }
    const char *key = spec->public_key ? spec->public_key : "";
    const char *name = spec->name && spec->name[0] ? spec->name : token;
    if ((strncmp(key, "ssh-", 4) != 0 && strncmp(key, "ecdsa-sha2-", 11) != 0) ||
        strchr(key, ' ') == NULL)
        rc = kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "InvalidKey.Format",
            "Key is not in valid OpenSSH public key format (expected \"ssh-ed25519 "
            "AAAA...\", \"ssh-rsa ...\" or \"ecdsa-sha2-...\")");
    else if (strlen(key) > 16384)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidKey.Format",
                                  "the key is too long");
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < c->state.count; i++)
        if (c->state.objects[i]->kind == LOCAL_KEY_PAIR &&
            strcmp(c->state.objects[i]->name, name) == 0)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_ALREADY_EXISTS, "InvalidKeyPair.Duplicate",
                                      "The key pair '%s' already exists (%s)", name,
                                      c->state.objects[i]->id);
    k = rc == KUMO_DRIVER_OK ? local_object_new(LOCAL_KEY_PAIR) : NULL;
    if (rc == KUMO_DRIVER_OK && k == NULL)
        rc = local_nomem(diag);
    if (k != NULL) {
        local_new_id(c, LOCAL_KEY_PAIR, id, sizeof(id));
        kumo_driver_kit_fingerprint(key, fingerprint, sizeof(fingerprint));
        if (local_set_str(&k->id, id) | local_set_str(&k->token, token) |
            local_set_str(&k->name, name) | local_set_str(&k->public_key, key) |
            local_set_str(&k->fingerprint, fingerprint))
            rc = local_nomem(diag);
        if (rc == KUMO_DRIVER_OK)
            rc = local_copy_tags(k, spec->tags, spec->tag_count, diag);
        k->created_ns = call.now_ns;
        if (rc == KUMO_DRIVER_OK && local_state_add(&c->state, k) != 0)
            rc = local_nomem(diag);
        if (rc != KUMO_DRIVER_OK) {
            local_object_free(k);
            k = NULL;
        }
    }
    if (rc == KUMO_DRIVER_OK)
        rc = local_save(&call, "recording the new key pair", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_answer(&call, k, (void **)out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_key_pair_update(struct kumo_driver_conn *c,
                                       const struct kumo_driver_ref *ref,
                                       const struct kumo_driver_key_pair_update *u,
                                       int64_t deadline_ns, struct kumo_driver_key_pair **out,
                                       struct kumo_driver_diag *diag)
{
    struct local_call call;
    LOCAL_NEED_OUT("key_pair_update");
    if (u == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "key_pair_update: update is required");
    kumo_driver_code rc = local_call_begin(c, "key_pair_update", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *k = local_lookup(&call, LOCAL_KEY_PAIR, ref, &rc, diag);
    if (k != NULL && (u->fields & KUMO_DRIVER_KEY_PAIR_SET_TAGS)) {
        struct local_object *copy = local_object_clone(k);
        rc = copy ? local_copy_tags(copy, u->tags, u->tag_count, diag) : local_nomem(diag);
        if (rc == KUMO_DRIVER_OK) {
            local_state_replace(&c->state, k, copy);
            k = copy;
            rc = local_save(&call, "recording the change", diag);
        } else {
            local_object_free(copy);
        }
    }
    if (k != NULL && rc == KUMO_DRIVER_OK)
        rc = local_answer(&call, k, (void **)out, diag);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_key_pair_delete(struct kumo_driver_conn *c,
                                       const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                       struct kumo_driver_diag *diag)
{
    struct local_call call;
    kumo_driver_code rc = local_call_begin(c, "key_pair_delete", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *k = local_lookup(&call, LOCAL_KEY_PAIR, ref, &rc, diag);
    if (k != NULL) {
        local_state_remove(&c->state, k); /* machines keep the key they were given */
        rc = local_save(&call, "recording the delete", diag);
    }
    local_call_end(&call);
    return rc;
}
