/*
 * record.c - packs a driver's resources and catalog rows into the driver.h
 * result structs through the kit's arena: the part of every driver's packer
 * that does not depend on its cloud. A driver describes a resource as a
 * kumo_driver_kit_record (borrowed strings) and a catalog row as the ABI
 * struct itself (borrowed strings); these copy them into the arena.
 *
 * Like every arena packer, each function takes the same pieces in its
 * measuring and filling passes, and returns NULL while measuring.
 */
#include "drivers/kit/kit.h"

#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#define TAKE(p, type) ((type *)kumo_driver_kit_pack_take((p), sizeof(type), alignof(type)))

/* The fields every resource result has (v: the result being filled), from r. */
#define PACK_COMMON(p, v, r)                                                                       \
    do {                                                                                           \
        memset(&(v), 0, sizeof(v));                                                                \
        (v).struct_size = sizeof(v);                                                               \
        (v).provider_id = kumo_driver_kit_pack_str(p, (r)->provider_id);                           \
        (v).token = kumo_driver_kit_pack_str(p, (r)->token);                                       \
        (v).name = kumo_driver_kit_pack_str(p, (r)->name);                                         \
        (v).region = kumo_driver_kit_pack_str(p, (r)->region);                                     \
        (v).created_ns = (r)->created_ns;                                                          \
        (v).tags =                                                                                 \
            kumo_driver_kit_pack_tags(p, (r)->token, (r)->tags, (r)->tag_count, &(v).tag_count);   \
    } while (0)

static const void *pack_machine(struct kumo_driver_kit_pack *p,
                                const struct kumo_driver_kit_record *r)
{
    struct kumo_driver_machine *m = TAKE(p, struct kumo_driver_machine);
    struct kumo_driver_machine v;
    PACK_COMMON(p, v, r);
    v.phase = r->phase;
    v.provider_state = kumo_driver_kit_pack_str(p, r->provider_state);
    v.instance_type = kumo_driver_kit_pack_str(p, r->instance_type);
    v.image = kumo_driver_kit_pack_str(p, r->image);
    v.zone = kumo_driver_kit_pack_str(p, r->zone);
    v.network_id = kumo_driver_kit_pack_str(p, r->network_id);
    v.subnet_id = kumo_driver_kit_pack_str(p, r->subnet_id);
    v.security_group_ids =
        kumo_driver_kit_pack_strings(p, r->security_group_ids, r->security_group_count);
    v.security_group_count = r->security_group_count;
    v.key_pair_id = kumo_driver_kit_pack_str(p, r->key_pair_id);
    v.private_ip = kumo_driver_kit_pack_str(p, r->private_ip);
    v.public_ip = kumo_driver_kit_pack_str(p, r->public_ip);
    v.launch_ns = r->launch_ns;
    v.price_per_hour = r->price_per_hour;
    v.currency = kumo_driver_kit_pack_str(p, r->currency ? r->currency : "USD");
    if (m != NULL)
        *m = v;
    return m;
}

static const void *pack_network(struct kumo_driver_kit_pack *p,
                                const struct kumo_driver_kit_record *r)
{
    struct kumo_driver_network *n = TAKE(p, struct kumo_driver_network);
    struct kumo_driver_network v;
    PACK_COMMON(p, v, r);
    v.cidr = kumo_driver_kit_pack_str(p, r->cidr);
    v.state = kumo_driver_kit_pack_str(p, r->state ? r->state : "available");
    v.subnets = kumo_driver_kit_pack_subnets(p, r->subnets, r->subnet_count);
    v.subnet_count = r->subnet_count;
    if (n != NULL)
        *n = v;
    return n;
}

static const void *pack_security_group(struct kumo_driver_kit_pack *p,
                                       const struct kumo_driver_kit_record *r)
{
    struct kumo_driver_security_group *g = TAKE(p, struct kumo_driver_security_group);
    struct kumo_driver_security_group v;
    PACK_COMMON(p, v, r);
    v.network_id = kumo_driver_kit_pack_str(p, r->network_id);
    v.rules = kumo_driver_kit_pack_rules(p, r->rules, r->rule_count);
    v.rule_count = r->rule_count;
    if (g != NULL)
        *g = v;
    return g;
}

static const void *pack_key_pair(struct kumo_driver_kit_pack *p,
                                 const struct kumo_driver_kit_record *r)
{
    struct kumo_driver_key_pair *k = TAKE(p, struct kumo_driver_key_pair);
    struct kumo_driver_key_pair v;
    PACK_COMMON(p, v, r);
    v.fingerprint = kumo_driver_kit_pack_str(p, r->fingerprint);
    v.public_key = kumo_driver_kit_pack_str(p, r->public_key);
    if (k != NULL)
        *k = v;
    return k;
}

const void *kumo_driver_kit_pack_record(struct kumo_driver_kit_pack *p, int kind,
                                        const struct kumo_driver_kit_record *r)
{
    switch (kind) {
    case KUMO_DRIVER_KIT_MACHINE:
        return pack_machine(p, r);
    case KUMO_DRIVER_KIT_NETWORK:
        return pack_network(p, r);
    case KUMO_DRIVER_KIT_SECURITY_GROUP:
        return pack_security_group(p, r);
    default:
        return pack_key_pair(p, r);
    }
}

/* ---- Catalog rows ------------------------------------------------------------ */

const struct kumo_driver_region *kumo_driver_kit_pack_region(struct kumo_driver_kit_pack *p,
                                                             const struct kumo_driver_region *row)
{
    struct kumo_driver_region *r = TAKE(p, struct kumo_driver_region);
    struct kumo_driver_region v = *row;
    v.struct_size = sizeof(v);
    v.name = kumo_driver_kit_pack_str(p, row->name);
    v.display_name = kumo_driver_kit_pack_str(p, row->display_name);
    v.zones = kumo_driver_kit_pack_strings(p, (char *const *)row->zones, row->zone_count);
    if (r != NULL)
        *r = v;
    return r;
}

const struct kumo_driver_instance_type *
kumo_driver_kit_pack_instance_type(struct kumo_driver_kit_pack *p,
                                   const struct kumo_driver_instance_type *row)
{
    struct kumo_driver_instance_type *t = TAKE(p, struct kumo_driver_instance_type);
    struct kumo_driver_instance_type v = *row;
    v.struct_size = sizeof(v);
    v.name = kumo_driver_kit_pack_str(p, row->name);
    v.gpu_model = kumo_driver_kit_pack_str(p, row->gpu_model);
    v.arch = kumo_driver_kit_pack_str(p, row->arch);
    v.currency = kumo_driver_kit_pack_str(p, row->currency ? row->currency : "USD");
    if (t != NULL)
        *t = v;
    return t;
}

const struct kumo_driver_image *kumo_driver_kit_pack_image(struct kumo_driver_kit_pack *p,
                                                           const struct kumo_driver_image *row)
{
    struct kumo_driver_image *im = TAKE(p, struct kumo_driver_image);
    struct kumo_driver_image v;
    v.struct_size = sizeof(v);
    v.name = kumo_driver_kit_pack_str(p, row->name);
    v.os = kumo_driver_kit_pack_str(p, row->os);
    v.arch = kumo_driver_kit_pack_str(p, row->arch);
    v.provider_id = kumo_driver_kit_pack_str(p, row->provider_id);
    v.description = kumo_driver_kit_pack_str(p, row->description);
    if (im != NULL)
        *im = v;
    return im;
}

/* ---- What resources check the same way on every cloud ------------------------------- */

void kumo_driver_kit_fingerprint(const char *public_key, char *buf, size_t size)
{
    uint64_t a = 1469598103934665603ull, b = 0x9e3779b97f4a7c15ull;
    for (const char *p = public_key; *p; p++) {
        a = (a ^ (unsigned char)*p) * 1099511628211ull;
        b = (b ^ (unsigned char)*p) * 0x100000001b3ull + 0x7f4a7c15u;
    }
    size_t n = 0;
    for (int i = 0; i < 16 && n + 3 < size; i++) {
        unsigned byte = (unsigned)((i < 8 ? a >> (8 * i) : b >> (8 * (i - 8))) & 255);
        n += (size_t)snprintf(buf + n, size - n, i ? ":%02x" : "%02x", byte);
    }
}

kumo_driver_code kumo_driver_kit_group_missing(const char *group_id, const char *region,
                                               struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidGroup.NotFound",
                                "The security group '%s' does not exist in %s",
                                group_id ? group_id : "", region);
}

kumo_driver_code kumo_driver_kit_group_network_check(const char *group_id,
                                                     const char *group_network,
                                                     const char *machine_network,
                                                     struct kumo_driver_diag *diag)
{
    const char *want = machine_network ? machine_network : "";
    const char *have = group_network ? group_network : "";
    if (strcmp(want, have) == 0)
        return KUMO_DRIVER_OK;
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameter",
                                "security group %s belongs to network '%s' but the machine is in "
                                "network '%s'",
                                group_id, have, want);
}
