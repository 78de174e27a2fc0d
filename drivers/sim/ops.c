/*
 * ops.c - the sim's operations: the frame every call runs in (sim_run), the
 * bodies every kind shares (observe, list), the catalog calls, and machines.
 * Networks, security groups and key pairs are in network.c.
 *
 * Invariants: a body runs under the state's mu and never sleeps; a change is
 * applied in memory and its record queued in the same critical section, and
 * the call returns only after that record is durable. Reads skip resources
 * younger than the connection's consistency delay; mutations (create by
 * token, update, delete by id) see them, like a real cloud's own ids do.
 */
#include "drivers/sim/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const human[SIM_KIND_COUNT] = {"machine", "network", "security group",
                                                  "key pair", "load balancer"};

const char *sim_not_found_code(int kind)
{
    switch (kind) {
    case SIM_MACHINE:
        return "InvalidInstanceID.NotFound";
    case SIM_NETWORK:
        return "InvalidVpcID.NotFound";
    case SIM_SECURITY_GROUP:
        return "InvalidGroup.NotFound";
    case SIM_LOAD_BALANCER:
        return "LoadBalancerNotFound";
    default:
        return "InvalidKeyPair.NotFound";
    }
}

/* ---- The frame ---------------------------------------------------------- */

kumo_driver_code sim_run(struct kumo_driver_conn *c, int op, int64_t deadline_ns, sim_body_fn body,
                         struct sim_request *r, struct kumo_driver_diag *diag)
{
    struct sim_call call;
    struct kumo_driver_diag scratch;
    char err[300];
    if (diag == NULL)
        diag = &scratch; /* the caller does not want detail */
    r->block = NULL;
    r->appended = 0;
    r->seq = 0;
    kumo_driver_code rc = sim_call_begin(c, op, deadline_ns, &call, diag);
    if (rc == KUMO_DRIVER_OK) {
        struct sim_state *st = c->state;
        sim_conn_config(c, &r->cfg);
        r->state = st;
        pthread_mutex_lock(&st->mu);
        r->now_ns = sim_host->realtime_ns(sim_host->ctx);
        sim_state_sweep(st, r->now_ns);
        rc = body(c, r, diag);
        pthread_mutex_unlock(&st->mu);
        if (r->appended && sim_journal_commit(st, r->seq, err, sizeof(err)) != 0) {
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError", "%s: %s",
                                      sim_op_name(op), err);
        }
    }
    rc = sim_call_end(&call, rc, diag);
    if (rc != KUMO_DRIVER_OK) {
        kumo_driver_free(sim_host, r->block);
        r->block = NULL;
    }
    return rc;
}

kumo_driver_code sim_result(struct sim_request *r, const struct sim_object *o,
                            struct kumo_driver_diag *diag)
{
    r->block = sim_pack_object(r->state, o, r->now_ns);
    if (r->block == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError",
                                    "out of memory returning %s %s", human[o->kind], o->id);
    return KUMO_DRIVER_OK;
}

/* ---- Lookups ------------------------------------------------------------ */

static int in_scope(const struct sim_request *r, const struct sim_object *o)
{
    return strcmp(o->provider, r->cfg.provider) == 0 && strcmp(o->region, r->cfg.region->name) == 0;
}

struct sim_object *sim_find_kind(struct kumo_driver_conn *c, struct sim_request *r, int kind,
                                 const char *id)
{
    struct sim_object *o = id && id[0] ? sim_state_find_id(c->state, id) : NULL;
    if (o == NULL || o->kind != kind || strcmp(o->id, id) != 0 || !in_scope(r, o) ||
        sim_object_gone(o, r->now_ns))
        return NULL;
    return o;
}

struct sim_object *sim_lookup(struct kumo_driver_conn *c, struct sim_request *r, int for_read,
                              kumo_driver_code *rc, struct kumo_driver_diag *diag)
{
    const struct kumo_driver_ref *ref = r->ref;
    struct sim_object *o = NULL;
    int by_id = ref->provider_id != NULL && ref->provider_id[0] != '\0';
    if (by_id) {
        o = sim_find_kind(c, r, r->kind, ref->provider_id);
    } else if (ref->token != NULL && ref->token[0] != '\0') {
        o = sim_state_find_token(c->state, r->kind, r->cfg.provider, r->cfg.region->name,
                                 ref->token);
        if (o != NULL && sim_object_gone(o, r->now_ns))
            o = NULL;
    } else {
        *rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                   "a %s reference needs a provider id or a token", human[r->kind]);
        return NULL;
    }
    if (o != NULL && for_read && o->visible_ns > r->now_ns)
        o = NULL; /* eventual consistency: not visible yet */
    if (o == NULL) {
        if (by_id)
            *rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, sim_not_found_code(r->kind),
                                       "The %s ID '%s' does not exist in %s", human[r->kind],
                                       ref->provider_id, r->cfg.region->name);
        else
            *rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, sim_not_found_code(r->kind),
                                       "no %s with token '%s' exists in %s", human[r->kind],
                                       ref->token, r->cfg.region->name);
    }
    return o;
}

struct sim_object *sim_existing(struct kumo_driver_conn *c, struct sim_request *r)
{
    struct sim_object *o =
        sim_state_find_token(c->state, r->kind, r->cfg.provider, r->cfg.region->name, r->token);
    if (o == NULL || sim_object_gone(o, r->now_ns) ||
        (o->kind == SIM_MACHINE && o->power == SIM_POWER_TERMINATED))
        return NULL; /* a deleted resource's token may be used again */
    return o;
}

/* ---- Changes ------------------------------------------------------------ */

kumo_driver_code sim_copy_tags(struct sim_object *o, const struct kumo_driver_tag *tags,
                               size_t count, struct kumo_driver_diag *diag)
{
    for (size_t i = 0; i < o->tag_count; i++) {
        free(o->tags[i].key);
        free(o->tags[i].value);
    }
    free(o->tags);
    o->tags = NULL;
    o->tag_count = 0;
    if (count > 50)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "TagLimitExceeded",
                                    "%zu tags given; a resource may have at most 50", count);
    if (count == 0)
        return KUMO_DRIVER_OK;
    o->tags = calloc(count, sizeof(*o->tags));
    if (o->tags == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError",
                                    "out of memory copying tags");
    for (size_t i = 0; i < count; i++) {
        const char *key = tags[i].key, *value = tags[i].value ? tags[i].value : "";
        if (key == NULL || key[0] == '\0' || strlen(key) > 128 || strlen(value) > 256)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "tag %zu (\"%s\"): keys need 1 to 128 characters, values at most 256", i,
                key ? key : "");
        if (strcmp(key, KUMO_DRIVER_TOKEN_TAG) == 0)
            continue; /* the driver sets it from the token */
        for (size_t j = 0; j < o->tag_count; j++)
            if (strcmp(o->tags[j].key, key) == 0)
                return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                            "tag key \"%s\" is given twice", key);
        struct kumo_driver_kit_tag *t = &o->tags[o->tag_count];
        if (sim_set_str(&t->key, key) != 0 || sim_set_str(&t->value, value) != 0) {
            free(t->key);
            t->key = NULL;
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError",
                                        "out of memory copying tags");
        }
        o->tag_count++;
    }
    return KUMO_DRIVER_OK;
}

kumo_driver_code sim_add_new(struct kumo_driver_conn *c, struct sim_request *r,
                             struct sim_object *o, const char *id_prefix,
                             struct kumo_driver_diag *diag)
{
    char id[64];
    struct sim_state *st = c->state;
    sim_state_new_id(st, id_prefix, id, sizeof(id), &o->serial);
    o->created_ns = r->now_ns;
    o->visible_ns = r->now_ns + r->cfg.consistency_delay_ms * 1000000;
    if (sim_set_str(&o->id, id) != 0 || sim_set_str(&o->token, r->token) != 0 ||
        sim_set_str(&o->provider, r->cfg.provider) != 0 ||
        sim_set_str(&o->region, r->cfg.region->name) != 0 || sim_state_insert(st, o) != 0) {
        sim_object_free(o);
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError",
                                    "out of memory creating %s", human[r->kind]);
    }
    r->seq = sim_journal_put(st, o);
    r->appended = 1;
    return sim_result(r, o, diag);
}

kumo_driver_code sim_commit_change(struct kumo_driver_conn *c, struct sim_request *r,
                                   struct sim_object *old, struct sim_object *copy,
                                   struct kumo_driver_diag *diag)
{
    if (sim_state_replace(c->state, old, copy) != 0) {
        sim_object_free(copy);
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError",
                                    "out of memory updating %s %s", human[r->kind], old->id);
    }
    r->seq = sim_journal_put(c->state, copy);
    r->appended = 1;
    return sim_result(r, copy, diag);
}

void sim_delete_now(struct kumo_driver_conn *c, struct sim_request *r, struct sim_object *o)
{
    r->seq = sim_journal_delete(c->state, o);
    r->appended = 1;
    sim_state_remove(c->state, o);
}

/* ---- Shared bodies ------------------------------------------------------ */

kumo_driver_code sim_observe_body(struct kumo_driver_conn *c, struct sim_request *r,
                                  struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 1, &rc, diag);
    return o == NULL ? rc : sim_result(r, o, diag);
}

static int matches(const struct sim_object *o, const struct kumo_driver_filter *f)
{
    if (f == NULL || f->tag_key == NULL || f->tag_key[0] == '\0')
        return 1;
    const char *value = sim_object_tag(o, f->tag_key);
    const char *prefix = f->tag_value_prefix ? f->tag_value_prefix : "";
    return value != NULL && strncmp(value, prefix, strlen(prefix)) == 0;
}

kumo_driver_code sim_list_body(struct kumo_driver_conn *c, struct sim_request *r,
                               struct kumo_driver_diag *diag)
{
    struct sim_state *st = c->state;
    struct sim_object **hits = malloc((st->count ? st->count : 1) * sizeof(*hits));
    size_t n = 0;
    if (hits == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError",
                                    "out of memory listing");
    for (size_t i = 0; i < st->count; i++) {
        struct sim_object *o = st->objects[i];
        if (o->kind == r->kind && in_scope(r, o) && !sim_object_gone(o, r->now_ns) &&
            o->visible_ns <= r->now_ns && matches(o, r->filter))
            hits[n++] = o;
    }
    qsort(hits, n, sizeof(*hits), sim_object_by_serial);
    r->block = sim_pack_list(st, hits, n, r->now_ns);
    free(hits);
    if (r->block == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError",
                                    "out of memory listing");
    return KUMO_DRIVER_OK;
}

/* ---- Catalog ------------------------------------------------------------ */

static kumo_driver_code regions_body(struct kumo_driver_conn *c, struct sim_request *r,
                                     struct kumo_driver_diag *diag)
{
    (void)c;
    r->block = sim_pack_regions(r->cfg.provider);
    return r->block
               ? KUMO_DRIVER_OK
               : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
}

static kumo_driver_code types_body(struct kumo_driver_conn *c, struct sim_request *r,
                                   struct kumo_driver_diag *diag)
{
    (void)c;
    r->block = sim_pack_instance_types(r->cfg.region);
    return r->block
               ? KUMO_DRIVER_OK
               : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
}

static kumo_driver_code images_body(struct kumo_driver_conn *c, struct sim_request *r,
                                    struct kumo_driver_diag *diag)
{
    (void)c;
    r->block = sim_pack_images(r->cfg.region);
    return r->block
               ? KUMO_DRIVER_OK
               : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
}

#define SIM_CATALOG_OP(fn, op, body, type)                                                         \
    kumo_driver_code fn(struct kumo_driver_conn *c, int64_t deadline_ns, struct type **out,        \
                        struct kumo_driver_diag *diag)                                             \
    {                                                                                              \
        struct sim_request r;                                                                      \
        if (out == NULL)                                                                           \
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",             \
                                        #fn ": out is NULL");                                      \
        memset(&r, 0, sizeof(r));                                                                  \
        kumo_driver_code rc = sim_run(c, op, deadline_ns, body, &r, diag);                         \
        *out = r.block;                                                                            \
        return rc;                                                                                 \
    }

SIM_CATALOG_OP(sim_catalog_regions, SIM_OP_CATALOG_REGIONS, regions_body, kumo_driver_region_list)
SIM_CATALOG_OP(sim_catalog_instance_types, SIM_OP_CATALOG_INSTANCE_TYPES, types_body,
               kumo_driver_instance_type_list)
SIM_CATALOG_OP(sim_catalog_images, SIM_OP_CATALOG_IMAGES, images_body, kumo_driver_image_list)

/* ---- Machines ----------------------------------------------------------- */

/* Counts what the region's machines hold: all, of one type, vCPUs. */
static void count_machines(struct kumo_driver_conn *c, struct sim_request *r, const char *type,
                           int64_t *all, int64_t *same_type, int64_t *vcpus)
{
    struct sim_state *st = c->state;
    *all = *same_type = *vcpus = 0;
    for (size_t i = 0; i < st->count; i++) {
        const struct sim_object *o = st->objects[i];
        if (o->kind != SIM_MACHINE || !in_scope(r, o))
            continue;
        kumo_driver_machine_phase ph = sim_machine_phase(o, r->now_ns);
        if (ph == KUMO_DRIVER_MACHINE_STOPPED || ph == KUMO_DRIVER_MACHINE_TERMINATED)
            continue;
        (*all)++;
        *vcpus += o->vcpu;
        if (strcmp(o->type, type) == 0)
            (*same_type)++;
    }
}

/* Is there room (capacity, quotas) for one more running machine of `type`? */
static kumo_driver_code check_room(struct kumo_driver_conn *c, struct sim_request *r,
                                   const struct sim_type *type, const char *zone,
                                   struct kumo_driver_diag *diag)
{
    int64_t all, same, vcpus;
    const struct sim_config *cfg = &r->cfg;
    int64_t type_cap = cfg->type_capacity[type - sim_types];
    if (type_cap == SIM_UNLIMITED && cfg->capacity == SIM_UNLIMITED &&
        cfg->quota_machines == SIM_UNLIMITED && cfg->quota_vcpus == SIM_UNLIMITED)
        return KUMO_DRIVER_OK; /* nothing to count against */
    count_machines(c, r, type->name, &all, &same, &vcpus);
    if ((type_cap != SIM_UNLIMITED && same >= type_cap) ||
        (cfg->capacity != SIM_UNLIMITED && all >= cfg->capacity)) {
        kumo_driver_code rc = kumo_driver_kit_fail(
            diag, KUMO_DRIVER_CAPACITY, "InsufficientInstanceCapacity",
            "We currently do not have sufficient %s capacity in the Availability Zone you "
            "requested (%s). Our system will be working on provisioning additional capacity.",
            type->name, zone);
        diag->retry_after_ms = SIM_CAPACITY_RETRY_MS;
        return rc;
    }
    if (cfg->quota_machines != SIM_UNLIMITED && all >= cfg->quota_machines)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_QUOTA, "InstanceLimitExceeded",
            "You have requested more instances (%lld) than your current instance "
            "limit of %lld allows for region %s",
            (long long)all + 1, (long long)cfg->quota_machines, cfg->region->name);
    if (cfg->quota_vcpus != SIM_UNLIMITED && vcpus + type->vcpu > cfg->quota_vcpus)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_QUOTA, "VcpuLimitExceeded",
            "You have requested more vCPU capacity (%lld) than your current vCPU "
            "limit of %lld allows for region %s",
            (long long)(vcpus + type->vcpu), (long long)cfg->quota_vcpus, cfg->region->name);
    return KUMO_DRIVER_OK;
}

/* Validates security group ids against the machine's network, into o. */
static kumo_driver_code set_groups(struct kumo_driver_conn *c, struct sim_request *r,
                                   struct sim_object *o, const char *const *ids, size_t count,
                                   struct kumo_driver_diag *diag)
{
    kumo_driver_kit_strings_free(o->sg_ids, o->sg_count);
    o->sg_ids = NULL;
    o->sg_count = 0;
    if (count > 16)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "SecurityGroupsPerInstanceLimitExceeded",
            "%zu security groups given; a machine may have at most 16", count);
    if (count == 0)
        return KUMO_DRIVER_OK;
    o->sg_ids = calloc(count, sizeof(char *));
    if (o->sg_ids == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
    for (size_t i = 0; i < count; i++) {
        const struct sim_object *g = sim_find_kind(c, r, SIM_SECURITY_GROUP, ids[i]);
        if (g == NULL)
            return kumo_driver_kit_group_missing(ids[i], r->cfg.region->name, diag);
        kumo_driver_code rc =
            kumo_driver_kit_group_network_check(g->id, g->network_id, o->network_id, diag);
        if (rc != KUMO_DRIVER_OK)
            return rc;
        if (sim_set_str(&o->sg_ids[o->sg_count], g->id) != 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
        o->sg_count++;
    }
    return KUMO_DRIVER_OK;
}

/* Picks a free private address in the pool's CIDR and a public one. */
static kumo_driver_code allocate_addresses(struct kumo_driver_conn *c, struct sim_object *o,
                                           const char *pool, const char *cidr,
                                           struct kumo_driver_diag *diag)
{
    struct sim_state *st = c->state;
    char key[256], ip[20];
    uint32_t base;
    int prefix;
    if (sim_cidr_parse(cidr, &base, &prefix) != 0 || prefix > 28)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError", "bad pool CIDR %s",
                                    cidr);
    uint32_t size = prefix == 0 ? 0xffffffffu : 1u << (32 - prefix);
    uint32_t usable = size - 5; /* the cloud keeps the first four and the last */
    uint32_t start = (uint32_t)(sim_state_random(st) % usable);
    for (uint32_t k = 0; k < usable; k++) {
        uint32_t addr = base + 4 + (start + k) % usable;
        sim_ip_format(addr, ip, sizeof(ip));
        snprintf(key, sizeof(key), "%s|%s", pool, ip);
        if (sim_map_get(&st->by_ip, key) != NULL)
            continue;
        o->private_ip = addr;
        if (sim_set_str(&o->ip_key, key) != 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
        break;
    }
    if (o->private_ip == 0)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_CAPACITY, "InsufficientFreeAddressesInSubnet",
            "The specified subnet (%s, %s) does not have enough free addresses", pool, cidr);
    return sim_public_address(st, o, diag);
}

kumo_driver_code sim_public_address(struct sim_state *st, struct sim_object *o,
                                    struct kumo_driver_diag *diag)
{
    char key[256], ip[20];
    for (uint32_t k = 0; k < (1u << 17); k++) {
        uint32_t off = st->next_public++;
        if (st->next_public >= (1u << 17) - 1)
            st->next_public = 1;
        sim_ip_format(0xc6120000u + off, ip, sizeof(ip));
        snprintf(key, sizeof(key), "public|%s", ip);
        if (sim_map_get(&st->by_ip, key) != NULL)
            continue;
        o->public_ip = 0xc6120000u + off;
        return sim_set_str(&o->public_ip_key, key) == 0
                   ? KUMO_DRIVER_OK
                   : kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError",
                                          "out of memory");
    }
    return KUMO_DRIVER_OK; /* no public address left: private only */
}

/* Where a new machine goes: its network and subnet (the spec's subnet, else
 * the spec's network and its first subnet, else none) and its zone. */
struct placement {
    const struct sim_object *net;
    const struct kumo_driver_kit_subnet *sub;
    const char *zone;
};

static kumo_driver_code place_network(struct kumo_driver_conn *c, struct sim_request *r,
                                      const struct kumo_driver_machine_spec *spec,
                                      struct placement *p, struct kumo_driver_diag *diag)
{
    const char *region = r->cfg.region->name;
    if (spec->subnet_id != NULL && spec->subnet_id[0] != '\0') {
        struct sim_object *o = sim_state_find_id(c->state, spec->subnet_id);
        if (o != NULL && o->kind == SIM_NETWORK && in_scope(r, o))
            for (size_t i = 0; i < o->subnet_count; i++)
                if (strcmp(o->subnets[i].id, spec->subnet_id) == 0)
                    p->sub = &o->subnets[i];
        if (p->sub == NULL)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidSubnetID.NotFound",
                                        "The subnet ID '%s' does not exist in %s", spec->subnet_id,
                                        region);
        p->net = o;
        if (spec->network_id != NULL && spec->network_id[0] && strcmp(spec->network_id, o->id) != 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameter",
                                        "subnet %s belongs to network %s, not %s", p->sub->id,
                                        o->id, spec->network_id);
    } else if (spec->network_id != NULL && spec->network_id[0] != '\0') {
        p->net = sim_find_kind(c, r, SIM_NETWORK, spec->network_id);
        if (p->net == NULL)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidVpcID.NotFound",
                                        "The network ID '%s' does not exist in %s",
                                        spec->network_id, region);
        p->sub = p->net->subnet_count > 0 ? &p->net->subnets[0] : NULL;
    }
    return KUMO_DRIVER_OK;
}

static kumo_driver_code place_machine(struct kumo_driver_conn *c, struct sim_request *r,
                                      const struct kumo_driver_machine_spec *spec,
                                      struct placement *p, struct kumo_driver_diag *diag)
{
    const struct sim_config *cfg = &r->cfg;
    *p = (struct placement){NULL, NULL, NULL};
    kumo_driver_code rc = place_network(c, r, spec, p, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    const char *zone = spec->zone != NULL && spec->zone[0] ? spec->zone : NULL;
    if (p->sub != NULL && zone != NULL && strcmp(zone, p->sub->zone) != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterCombination",
                                    "zone %s was asked but subnet %s is in %s", zone, p->sub->id,
                                    p->sub->zone);
    p->zone = p->sub != NULL ? p->sub->zone : zone != NULL ? zone : cfg->zone;
    if (!sim_zone_valid(cfg->region, p->zone))
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "Invalid availability zone: [%s] is not a zone of %s", p->zone,
                                    cfg->region->name);
    if (spec->key_pair_id != NULL && spec->key_pair_id[0] &&
        sim_find_kind(c, r, SIM_KEY_PAIR, spec->key_pair_id) == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidKeyPair.NotFound",
                                    "The key pair '%s' does not exist in %s", spec->key_pair_id,
                                    cfg->region->name);
    if (spec->user_data != NULL && strlen(spec->user_data) > 16384)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "User data is limited to 16384 bytes (%zu given)",
                                    strlen(spec->user_data));
    return KUMO_DRIVER_OK;
}

/* The new machine object (its addresses not yet allocated); NULL: no memory. */
static struct sim_object *new_machine(const struct sim_request *r, const struct sim_type *type,
                                      const struct placement *p)
{
    const struct kumo_driver_machine_spec *spec = r->spec;
    const struct sim_config *cfg = &r->cfg;
    struct sim_object *o = sim_object_new(SIM_MACHINE);
    if (o == NULL)
        return NULL;
    int nomem = sim_set_str(&o->name, spec->name ? spec->name : "") |
                sim_set_str(&o->zone, p->zone) | sim_set_str(&o->type, type->name) |
                sim_set_str(&o->image, spec->image) |
                sim_set_str(&o->network_id, p->net ? p->net->id : NULL) |
                sim_set_str(&o->subnet_id, p->sub ? p->sub->id : NULL) |
                sim_set_str(&o->key_id,
                            spec->key_pair_id && spec->key_pair_id[0] ? spec->key_pair_id : NULL) |
                sim_set_str(&o->user_data, spec->user_data) |
                sim_set_str(&o->root_disk_type, spec->root_disk_type);
    if (nomem) {
        sim_object_free(o);
        return NULL;
    }
    o->root_disk_gib = spec->root_disk_gib;
    o->power = SIM_POWER_RUNNING;
    o->transition_ns = o->launch_ns = r->now_ns;
    o->boot_ms = (int64_t)(cfg->boot_seconds * 1000);
    o->stop_ms = (int64_t)(cfg->stop_seconds * 1000);
    o->terminate_ms = (int64_t)(cfg->terminate_seconds * 1000);
    o->price = sim_type_price(type, cfg->region);
    o->vcpu = type->vcpu;
    return o;
}

static kumo_driver_code machine_create_body(struct kumo_driver_conn *c, struct sim_request *r,
                                            struct kumo_driver_diag *diag)
{
    const struct kumo_driver_machine_spec *spec = r->spec;
    const struct sim_config *cfg = &r->cfg;
    struct placement p;
    struct sim_object *existing = sim_existing(c, r);
    if (existing != NULL)
        return sim_result(r, existing, diag);
    const struct sim_type *type = sim_type_find(cfg->provider, spec->instance_type);
    if (type == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "Invalid value '%s' for InstanceType: not offered by %s in %s",
                                    spec->instance_type ? spec->instance_type : "", cfg->provider,
                                    cfg->region->name);
    if (sim_image_find(cfg->provider, cfg->region, spec->image) == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidAMIID.NotFound",
                                    "The image '%s' does not exist in %s",
                                    spec->image ? spec->image : "", cfg->region->name);
    kumo_driver_code rc = place_machine(c, r, spec, &p, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = check_room(c, r, type, p.zone, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct sim_object *o = new_machine(r, type, &p);
    if (o == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
    char pool[160];
    const char *cidr = p.sub ? p.sub->cidr : p.net ? p.net->cidr : "172.31.0.0/16";
    if (p.sub != NULL || p.net != NULL)
        snprintf(pool, sizeof(pool), "%s", p.sub ? p.sub->id : p.net->id);
    else
        snprintf(pool, sizeof(pool), "default:%s:%s", cfg->provider, cfg->region->name);
    rc = sim_copy_tags(o, spec->tags, spec->tag_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = set_groups(c, r, o, spec->security_group_ids, spec->security_group_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = allocate_addresses(c, o, pool, cidr, diag);
    if (rc != KUMO_DRIVER_OK) {
        sim_object_free(o);
        return rc;
    }
    return sim_add_new(c, r, o, "i-0", diag);
}

static kumo_driver_code machine_update_body(struct kumo_driver_conn *c, struct sim_request *r,
                                            struct kumo_driver_diag *diag)
{
    const struct kumo_driver_machine_update *u = r->update;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    if (o->power == SIM_POWER_TERMINATED)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "IncorrectInstanceState",
                                    "The instance '%s' is terminating and cannot be changed",
                                    o->id);
    kumo_driver_machine_phase phase = sim_machine_phase(o, r->now_ns);
    struct sim_object *copy = sim_object_clone(o);
    if (copy == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
    int changed = 0;
    if ((u->fields & KUMO_DRIVER_MACHINE_SET_INSTANCE_TYPE) && u->instance_type &&
        strcmp(u->instance_type, o->type) != 0) {
        const struct sim_type *t = sim_type_find(r->cfg.provider, u->instance_type);
        if (t == NULL)
            rc =
                kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                     "Invalid value '%s' for InstanceType: not offered by %s in %s",
                                     u->instance_type, r->cfg.provider, r->cfg.region->name);
        else if (phase != KUMO_DRIVER_MACHINE_STOPPED)
            rc = kumo_driver_kit_fail(
                diag, KUMO_DRIVER_CONFLICT, "IncorrectInstanceState",
                "The instance '%s' is %s; it must be stopped to change its type", o->id,
                sim_phase_word(phase));
        else if (sim_set_str(&copy->type, t->name) != 0)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
        if (t != NULL) {
            copy->price = sim_type_price(t, r->cfg.region);
            copy->vcpu = t->vcpu;
        }
        changed = 1;
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_SECURITY_GROUPS)) {
        rc = set_groups(c, r, copy, u->security_group_ids, u->security_group_count, diag);
        changed = 1;
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_TAGS)) {
        rc = sim_copy_tags(copy, u->tags, u->tag_count, diag);
        changed = 1;
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_POWER)) {
        if (u->power == KUMO_DRIVER_POWER_RUNNING) {
            if (phase == KUMO_DRIVER_MACHINE_STOPPING) {
                rc = kumo_driver_kit_fail(
                    diag, KUMO_DRIVER_CONFLICT, "IncorrectInstanceState",
                    "The instance '%s' is stopping; start it once it is stopped", o->id);
            } else if (phase == KUMO_DRIVER_MACHINE_STOPPED) {
                rc = check_room(c, r, sim_type_find(r->cfg.provider, copy->type), copy->zone, diag);
                copy->power = SIM_POWER_RUNNING;
                copy->transition_ns = copy->launch_ns = r->now_ns;
                copy->boot_ms = (int64_t)(r->cfg.boot_seconds * 1000);
                changed = 1;
            }
        } else if (u->power == KUMO_DRIVER_POWER_STOPPED) {
            if (phase == KUMO_DRIVER_MACHINE_PENDING || phase == KUMO_DRIVER_MACHINE_RUNNING) {
                copy->power = SIM_POWER_STOPPED;
                copy->transition_ns = r->now_ns;
                copy->stop_ms = (int64_t)(r->cfg.stop_seconds * 1000);
                changed = 1;
            }
        } else {
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                      "power %d is neither running (0) nor stopped (1)",
                                      (int)u->power);
        }
    }
    if (rc != KUMO_DRIVER_OK || !changed) {
        sim_object_free(copy);
        return rc != KUMO_DRIVER_OK ? rc : sim_result(r, o, diag);
    }
    return sim_commit_change(c, r, o, copy, diag);
}

/* Terminates a machine: at once when terminate_seconds is 0, else it shows
 * shutting-down until then. */
static kumo_driver_code terminate(struct kumo_driver_conn *c, struct sim_request *r,
                                  struct sim_object *o, struct kumo_driver_diag *diag)
{
    if (o->power == SIM_POWER_TERMINATED)
        return KUMO_DRIVER_OK; /* already going */
    int64_t terminate_ms = (int64_t)(r->cfg.terminate_seconds * 1000);
    if (terminate_ms == 0) {
        sim_delete_now(c, r, o);
        return KUMO_DRIVER_OK;
    }
    struct sim_object *copy = sim_object_clone(o);
    if (copy == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
    copy->power = SIM_POWER_TERMINATED;
    copy->transition_ns = r->now_ns;
    copy->terminate_ms = terminate_ms;
    kumo_driver_code rc = sim_commit_change(c, r, o, copy, diag);
    kumo_driver_free(sim_host, r->block); /* delete returns no resource */
    r->block = NULL;
    return rc;
}

static kumo_driver_code machine_delete_body(struct kumo_driver_conn *c, struct sim_request *r,
                                            struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    return o == NULL ? rc : terminate(c, r, o, diag);
}

static kumo_driver_code force_body(struct kumo_driver_conn *c, struct sim_request *r,
                                   struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    const char *action = r->token; /* reused: the action word */
    struct sim_object *o = sim_lookup(c, r, 0, &rc, diag);
    if (o == NULL)
        return rc;
    if (strcmp(action, "terminate") == 0)
        return terminate(c, r, o, diag);
    if (o->power == SIM_POWER_TERMINATED)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "IncorrectInstanceState",
                                    "The instance '%s' is terminating", o->id);
    int stop = strcmp(action, "stop") == 0;
    if ((stop && o->power == SIM_POWER_STOPPED) || (!stop && o->power == SIM_POWER_RUNNING))
        return KUMO_DRIVER_OK;
    struct sim_object *copy = sim_object_clone(o);
    if (copy == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
    copy->power = stop ? SIM_POWER_STOPPED : SIM_POWER_RUNNING;
    copy->transition_ns = r->now_ns;
    if (!stop)
        copy->launch_ns = r->now_ns;
    rc = sim_commit_change(c, r, o, copy, diag);
    kumo_driver_free(sim_host, r->block);
    r->block = NULL;
    return rc;
}

kumo_driver_code sim_machine_force(struct kumo_driver_conn *c, const char *id, const char *action,
                                   struct kumo_driver_diag *diag)
{
    struct sim_request r;
    struct kumo_driver_ref ref = {id, NULL};
    char err[300];
    memset(&r, 0, sizeof(r));
    r.kind = SIM_MACHINE;
    r.ref = &ref;
    r.token = action;
    sim_conn_config(c, &r.cfg);
    pthread_mutex_lock(&c->state->mu);
    r.now_ns = sim_host->realtime_ns(sim_host->ctx);
    kumo_driver_code rc = force_body(c, &r, diag);
    pthread_mutex_unlock(&c->state->mu);
    if (r.appended && sim_journal_commit(c->state, r.seq, err, sizeof(err)) != 0)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError", "%s", err);
    return rc;
}

/* ---- The machine entry points ------------------------------------------- */

kumo_driver_code sim_missing(struct kumo_driver_diag *diag, const char *op, const char *what)
{
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter", "%s: %s is required",
                                op, what);
}

SIM_DEFINE_OPS(machine, MACHINE, SIM_MACHINE, machine_create_body, machine_update_body,
               machine_delete_body)
