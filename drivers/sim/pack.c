/*
 * pack.c - turns sim objects and catalog rows into the driver.h result
 * structs, each result ONE block from the host allocator (the struct, its
 * arrays and its strings inside), so the host frees it with one call.
 *
 * Every packer runs twice over the same data through the kit's arena
 * (KUMO_DRIVER_KIT_PACK_TWICE): first only measuring, then into a block of
 * exactly the measured size. Strings in the results are never NULL ("" when
 * absent).
 */
#include "drivers/sim/internal.h"

#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const void *pack_machine(struct kumo_driver_kit_pack *p, const struct sim_object *o,
                                int64_t now_ns)
{
    char ip[20];
    struct kumo_driver_machine *m =
        kumo_driver_kit_pack_take(p, sizeof(*m), alignof(struct kumo_driver_machine));
    struct kumo_driver_machine v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.phase = sim_machine_phase(o, now_ns);
    v.provider_state =
        kumo_driver_kit_pack_str(p, sim_phase_word((kumo_driver_machine_phase)v.phase));
    v.instance_type = kumo_driver_kit_pack_str(p, o->type);
    v.image = kumo_driver_kit_pack_str(p, o->image);
    v.region = kumo_driver_kit_pack_str(p, o->region);
    v.zone = kumo_driver_kit_pack_str(p, o->zone);
    v.network_id = kumo_driver_kit_pack_str(p, o->network_id);
    v.subnet_id = kumo_driver_kit_pack_str(p, o->subnet_id);
    v.security_group_ids = kumo_driver_kit_pack_strings(p, o->sg_ids, o->sg_count);
    v.security_group_count = o->sg_count;
    v.key_pair_id = kumo_driver_kit_pack_str(p, o->key_id);
    sim_ip_format(o->private_ip, ip, sizeof(ip));
    v.private_ip = kumo_driver_kit_pack_str(p, o->private_ip ? ip : "");
    sim_ip_format(o->public_ip, ip, sizeof(ip));
    int has_public = o->public_ip && (v.phase == KUMO_DRIVER_MACHINE_PENDING ||
                                      v.phase == KUMO_DRIVER_MACHINE_RUNNING);
    v.public_ip = kumo_driver_kit_pack_str(p, has_public ? ip : "");
    v.created_ns = o->created_ns;
    v.launch_ns = o->launch_ns;
    v.price_per_hour = o->price;
    v.currency = kumo_driver_kit_pack_str(p, "USD");
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (m != NULL)
        *m = v;
    return m;
}

static const void *pack_network(struct kumo_driver_kit_pack *p, const struct sim_object *o)
{
    struct kumo_driver_network *n =
        kumo_driver_kit_pack_take(p, sizeof(*n), alignof(struct kumo_driver_network));
    struct kumo_driver_network v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.region = kumo_driver_kit_pack_str(p, o->region);
    v.cidr = kumo_driver_kit_pack_str(p, o->cidr);
    v.state = kumo_driver_kit_pack_str(p, "available");
    v.subnets = kumo_driver_kit_pack_subnets(p, o->subnets, o->subnet_count);
    v.subnet_count = o->subnet_count;
    v.created_ns = o->created_ns;
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (n != NULL)
        *n = v;
    return n;
}

static const void *pack_security_group(struct kumo_driver_kit_pack *p, const struct sim_object *o)
{
    struct kumo_driver_security_group *g =
        kumo_driver_kit_pack_take(p, sizeof(*g), alignof(struct kumo_driver_security_group));
    struct kumo_driver_security_group v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.region = kumo_driver_kit_pack_str(p, o->region);
    v.network_id = kumo_driver_kit_pack_str(p, o->network_id);
    v.rules = kumo_driver_kit_pack_rules(p, o->rules, o->rule_count);
    v.rule_count = o->rule_count;
    v.created_ns = o->created_ns;
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (g != NULL)
        *g = v;
    return g;
}

static const void *pack_key_pair(struct kumo_driver_kit_pack *p, const struct sim_object *o)
{
    struct kumo_driver_key_pair *k =
        kumo_driver_kit_pack_take(p, sizeof(*k), alignof(struct kumo_driver_key_pair));
    struct kumo_driver_key_pair v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.region = kumo_driver_kit_pack_str(p, o->region);
    v.fingerprint = kumo_driver_kit_pack_str(p, o->fingerprint);
    v.public_key = kumo_driver_kit_pack_str(p, o->public_key);
    v.created_ns = o->created_ns;
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (k != NULL)
        *k = v;
    return k;
}

static const void *pack_any(struct kumo_driver_kit_pack *p, struct sim_state *st,
                            const struct sim_object *o, int64_t now_ns)
{
    switch (o->kind) {
    case SIM_LOAD_BALANCER:
        return sim_pack_load_balancer(p, st, o, now_ns);
    case SIM_MACHINE:
        return pack_machine(p, o, now_ns);
    case SIM_NETWORK:
        return pack_network(p, o);
    case SIM_SECURITY_GROUP:
        return pack_security_group(p, o);
    default:
        return pack_key_pair(p, o);
    }
}

void *sim_pack_object(struct sim_state *st, const struct sim_object *o, int64_t now_ns)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(sim_host, block, p, pack_any(p, st, o, now_ns));
    return block;
}

static void pack_list(struct kumo_driver_kit_pack *p, struct sim_state *st,
                      struct sim_object *const *objects, size_t count, int64_t now_ns)
{
    const void **items = kumo_driver_kit_pack_list(p, count);
    for (size_t i = 0; i < count; i++) {
        const void *item = pack_any(p, st, objects[i], now_ns);
        if (items != NULL)
            items[i] = item;
    }
}

void *sim_pack_list(struct sim_state *st, struct sim_object *const *objects, size_t count,
                    int64_t now_ns)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(sim_host, block, p, pack_list(p, st, objects, count, now_ns));
    return block;
}

static void pack_regions(struct kumo_driver_kit_pack *p, const char *provider)
{
    size_t count = 0;
    char zone[80];
    for (size_t i = 0; i < sim_region_count; i++)
        count += strcmp(sim_regions[i].provider, provider) == 0;
    const void **items = kumo_driver_kit_pack_list(p, count);
    size_t n = 0;
    for (size_t i = 0; i < sim_region_count; i++) {
        const struct sim_region *r = &sim_regions[i];
        if (strcmp(r->provider, provider) != 0)
            continue;
        struct kumo_driver_region *item =
            kumo_driver_kit_pack_take(p, sizeof(*item), alignof(struct kumo_driver_region));
        struct kumo_driver_region v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = kumo_driver_kit_pack_str(p, r->name);
        v.display_name = kumo_driver_kit_pack_str(p, r->display);
        v.latitude = r->latitude;
        v.longitude = r->longitude;
        const char **zones =
            kumo_driver_kit_pack_take(p, SIM_ZONES_PER_REGION * sizeof(char *), alignof(char *));
        for (int z = 0; z < SIM_ZONES_PER_REGION; z++) {
            sim_zone_name(r, z, zone, sizeof(zone));
            const char *s = kumo_driver_kit_pack_str(p, zone);
            if (zones != NULL)
                zones[z] = s;
        }
        v.zones = zones;
        v.zone_count = SIM_ZONES_PER_REGION;
        if (item != NULL) {
            *item = v;
            items[n] = item;
        }
        n++;
    }
}

void *sim_pack_regions(const char *provider)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(sim_host, block, p, pack_regions(p, provider));
    return block;
}

static void pack_types(struct kumo_driver_kit_pack *p, const struct sim_region *region)
{
    size_t count = 0;
    for (size_t i = 0; i < sim_type_count; i++)
        count += strcmp(sim_types[i].provider, region->provider) == 0;
    const void **items = kumo_driver_kit_pack_list(p, count);
    size_t n = 0;
    for (size_t i = 0; i < sim_type_count; i++) {
        const struct sim_type *t = &sim_types[i];
        if (strcmp(t->provider, region->provider) != 0)
            continue;
        struct kumo_driver_instance_type *item =
            kumo_driver_kit_pack_take(p, sizeof(*item), alignof(struct kumo_driver_instance_type));
        struct kumo_driver_instance_type v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = kumo_driver_kit_pack_str(p, t->name);
        v.vcpu = t->vcpu;
        v.memory_mib = t->memory_mib;
        v.gpu_count = t->gpu_count;
        v.gpu_memory_mib = t->gpu_memory_mib;
        v.gpu_model = kumo_driver_kit_pack_str(p, t->gpu_model);
        v.arch = kumo_driver_kit_pack_str(p, t->arch);
        v.price_per_hour = sim_type_price(t, region);
        v.currency = kumo_driver_kit_pack_str(p, "USD");
        if (item != NULL) {
            *item = v;
            items[n] = item;
        }
        n++;
    }
}

void *sim_pack_instance_types(const struct sim_region *region)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(sim_host, block, p, pack_types(p, region));
    return block;
}

static void pack_images(struct kumo_driver_kit_pack *p, const struct sim_region *region)
{
    size_t count = 0;
    char id[128];
    for (size_t i = 0; i < sim_image_count; i++)
        count += strcmp(sim_images[i].provider, region->provider) == 0;
    const void **items = kumo_driver_kit_pack_list(p, count);
    size_t n = 0;
    for (size_t i = 0; i < sim_image_count; i++) {
        const struct sim_image *im = &sim_images[i];
        if (strcmp(im->provider, region->provider) != 0)
            continue;
        struct kumo_driver_image *item =
            kumo_driver_kit_pack_take(p, sizeof(*item), alignof(struct kumo_driver_image));
        struct kumo_driver_image v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = kumo_driver_kit_pack_str(p, im->name);
        v.os = kumo_driver_kit_pack_str(p, im->os);
        v.arch = kumo_driver_kit_pack_str(p, im->arch);
        sim_image_id(im, region, id, sizeof(id));
        v.provider_id = kumo_driver_kit_pack_str(p, id);
        v.description = kumo_driver_kit_pack_str(p, im->description);
        if (item != NULL) {
            *item = v;
            items[n] = item;
        }
        n++;
    }
}

void *sim_pack_images(const struct sim_region *region)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(sim_host, block, p, pack_images(p, region));
    return block;
}

char *sim_pack_text(const char *text)
{
    return kumo_driver_kit_pack_text(sim_host, text);
}
