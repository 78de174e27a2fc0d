/*
 * pack.c - local objects and the catalog as driver.h results, each ONE block
 * from the host allocator (the struct, its arrays and every string inside),
 * so the host frees a result with one call.
 *
 * Every packer runs twice over the same data through the kit's arena
 * (KUMO_DRIVER_KIT_PACK_TWICE): measuring, then filling a block of exactly
 * the measured size. Strings are never NULL.
 */
#include "drivers/local/internal.h"

#include <assert.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert((int)LOCAL_MACHINE == (int)KUMO_DRIVER_KIT_MACHINE &&
                   (int)LOCAL_NETWORK == (int)KUMO_DRIVER_KIT_NETWORK &&
                   (int)LOCAL_SECURITY_GROUP == (int)KUMO_DRIVER_KIT_SECURITY_GROUP &&
                   (int)LOCAL_KEY_PAIR == (int)KUMO_DRIVER_KIT_KEY_PAIR,
               "local kinds are numbered as the kit's");

/* view: the machine's live view (machines only); region: the connection's. */
static const void *pack_any(struct kumo_driver_kit_pack *p, const struct local_object *o,
                            const struct local_machine_view *view, const char *region)
{
    struct kumo_driver_kit_record r = KUMO_DRIVER_KIT_RECORD_OF(o);
    r.region = region;
    if (o->kind == LOCAL_MACHINE) {
        r.region = view->region;
        r.phase = view->phase;
        r.provider_state = view->provider_state;
        r.private_ip = o->ip;
        r.price_per_hour = view->price;
    } else if (o->kind == LOCAL_NETWORK) {
        r.state = o->status == LOCAL_READY ? "available" : "pending";
    }
    return kumo_driver_kit_pack_record(p, o->kind, &r);
}

void *local_pack_machine(const struct local_object *o, const struct local_machine_view *v)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_any(p, o, v, NULL));
    return block;
}

void *local_pack_object(const struct local_object *o, const char *region)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_any(p, o, NULL, region));
    return block;
}

static void pack_list(struct kumo_driver_kit_pack *p, struct local_object *const *objects,
                      const struct local_machine_view *views, size_t count, const char *region)
{
    const void **items = kumo_driver_kit_pack_list(p, count);
    for (size_t i = 0; i < count; i++) {
        const void *item = pack_any(p, objects[i], views ? &views[i] : NULL, region);
        if (items != NULL)
            items[i] = item;
    }
}

void *local_pack_list(struct local_object *const *objects, const struct local_machine_view *views,
                      size_t count, const char *region)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_list(p, objects, views, count, region));
    return block;
}

void *local_pack_text(const char *text)
{
    return kumo_driver_kit_pack_text(local_host, text);
}

/* ---- Catalog ---------------------------------------------------------------- */

static void pack_regions(struct kumo_driver_kit_pack *p, const struct local_config *cfg)
{
    char host[128] = "", display[256];
    gethostname(host, sizeof(host) - 1);
    snprintf(display, sizeof(display), "This host (%s)", host[0] ? host : "localhost");
    const void **items = kumo_driver_kit_pack_list(p, 1);
    const char *zones[1] = {cfg->zone};
    struct kumo_driver_region row = {
        .name = cfg->region,
        .display_name = display,
        .latitude = cfg->latitude,
        .longitude = cfg->longitude,
        .zones = zones,
        .zone_count = 1,
    };
    const void *item = kumo_driver_kit_pack_region(p, &row);
    if (items != NULL)
        items[0] = item;
}

void *local_pack_regions(const struct local_config *cfg)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_regions(p, cfg));
    return block;
}

static void pack_types(struct kumo_driver_kit_pack *p)
{
    const void **items = kumo_driver_kit_pack_list(p, local_type_count);
    for (size_t i = 0; i < local_type_count; i++) {
        const struct local_type *t = &local_types[i];
        struct kumo_driver_instance_type row = {
            .name = t->name,
            .vcpu = t->vcpu,
            .memory_mib = t->memory_mib,
            .arch = local_arch(),
            .price_per_hour = t->price,
        };
        const void *item = kumo_driver_kit_pack_instance_type(p, &row);
        if (items != NULL)
            items[i] = item;
    }
}

void *local_pack_types(void)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_types(p));
    return block;
}

static void pack_images(struct kumo_driver_kit_pack *p)
{
    char id[160];
    size_t count = local_image_count();
    const void **items = kumo_driver_kit_pack_list(p, count);
    for (size_t i = 0; i < count; i++) {
        snprintf(id, sizeof(id), "host:%s", local_image_name(i));
        struct kumo_driver_image row = {
            .name = local_image_name(i),
            .os = "linux",
            .arch = local_arch(),
            .provider_id = id,
            .description = local_image_description(i),
        };
        const void *item = kumo_driver_kit_pack_image(p, &row);
        if (items != NULL)
            items[i] = item;
    }
}

void *local_pack_images(void)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_images(p));
    return block;
}
