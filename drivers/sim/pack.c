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

_Static_assert((int)SIM_MACHINE == (int)KUMO_DRIVER_KIT_MACHINE &&
                   (int)SIM_NETWORK == (int)KUMO_DRIVER_KIT_NETWORK &&
                   (int)SIM_SECURITY_GROUP == (int)KUMO_DRIVER_KIT_SECURITY_GROUP &&
                   (int)SIM_KEY_PAIR == (int)KUMO_DRIVER_KIT_KEY_PAIR,
               "sim kinds are numbered as the kit's");

static const void *pack_any(struct kumo_driver_kit_pack *p, struct sim_state *st,
                            const struct sim_object *o, int64_t now_ns)
{
    if (o->kind == SIM_LOAD_BALANCER)
        return sim_pack_load_balancer(p, st, o, now_ns);
    char private_ip[20], public_ip[20];
    struct kumo_driver_kit_record r = KUMO_DRIVER_KIT_RECORD_OF(o);
    r.region = o->region;
    if (o->kind == SIM_MACHINE) {
        r.phase = sim_machine_phase(o, now_ns);
        r.provider_state = sim_phase_word((kumo_driver_machine_phase)r.phase);
        sim_ip_format(o->private_ip, private_ip, sizeof(private_ip));
        r.private_ip = o->private_ip ? private_ip : "";
        sim_ip_format(o->public_ip, public_ip, sizeof(public_ip));
        int has_public = o->public_ip && (r.phase == KUMO_DRIVER_MACHINE_PENDING ||
                                          r.phase == KUMO_DRIVER_MACHINE_RUNNING);
        r.public_ip = has_public ? public_ip : "";
        r.price_per_hour = o->price;
    }
    return kumo_driver_kit_pack_record(p, o->kind, &r);
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
    char zones[SIM_ZONES_PER_REGION][80];
    const char *zone_names[SIM_ZONES_PER_REGION];
    for (size_t i = 0; i < sim_region_count; i++)
        count += strcmp(sim_regions[i].provider, provider) == 0;
    const void **items = kumo_driver_kit_pack_list(p, count);
    size_t n = 0;
    for (size_t i = 0; i < sim_region_count; i++) {
        const struct sim_region *r = &sim_regions[i];
        if (strcmp(r->provider, provider) != 0)
            continue;
        for (int z = 0; z < SIM_ZONES_PER_REGION; z++) {
            sim_zone_name(r, z, zones[z], sizeof(zones[z]));
            zone_names[z] = zones[z];
        }
        struct kumo_driver_region row = {
            .name = r->name,
            .display_name = r->display,
            .latitude = r->latitude,
            .longitude = r->longitude,
            .zones = zone_names,
            .zone_count = SIM_ZONES_PER_REGION,
        };
        const void *item = kumo_driver_kit_pack_region(p, &row);
        if (items != NULL)
            items[n] = item;
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
        struct kumo_driver_instance_type row = {
            .name = t->name,
            .vcpu = t->vcpu,
            .memory_mib = t->memory_mib,
            .gpu_count = t->gpu_count,
            .gpu_memory_mib = t->gpu_memory_mib,
            .gpu_model = t->gpu_model,
            .arch = t->arch,
            .price_per_hour = sim_type_price(t, region),
        };
        const void *item = kumo_driver_kit_pack_instance_type(p, &row);
        if (items != NULL)
            items[n] = item;
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
        sim_image_id(im, region, id, sizeof(id));
        struct kumo_driver_image row = {
            .name = im->name,
            .os = im->os,
            .arch = im->arch,
            .provider_id = id,
            .description = im->description,
        };
        const void *item = kumo_driver_kit_pack_image(p, &row);
        if (items != NULL)
            items[n] = item;
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
