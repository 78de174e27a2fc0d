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

static const void *pack_machine(struct kumo_driver_kit_pack *p, const struct local_object *o,
                                const struct local_machine_view *view)
{
    struct kumo_driver_machine *m =
        kumo_driver_kit_pack_take(p, sizeof(*m), alignof(struct kumo_driver_machine));
    struct kumo_driver_machine v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.phase = view->phase;
    v.provider_state = kumo_driver_kit_pack_str(p, view->provider_state);
    v.instance_type = kumo_driver_kit_pack_str(p, o->type);
    v.image = kumo_driver_kit_pack_str(p, o->image);
    v.region = kumo_driver_kit_pack_str(p, view->region);
    v.zone = kumo_driver_kit_pack_str(p, o->zone);
    v.network_id = kumo_driver_kit_pack_str(p, o->network_id);
    v.subnet_id = kumo_driver_kit_pack_str(p, o->subnet_id);
    v.security_group_ids = kumo_driver_kit_pack_strings(p, o->sg_ids, o->sg_count);
    v.security_group_count = o->sg_count;
    v.key_pair_id = kumo_driver_kit_pack_str(p, o->key_id);
    v.private_ip = kumo_driver_kit_pack_str(p, o->ip);
    v.public_ip = kumo_driver_kit_pack_str(p, "");
    v.created_ns = o->created_ns;
    v.launch_ns = o->launch_ns;
    v.price_per_hour = view->price;
    v.currency = kumo_driver_kit_pack_str(p, "USD");
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (m != NULL)
        *m = v;
    return m;
}

static const void *pack_network(struct kumo_driver_kit_pack *p, const struct local_object *o,
                                const char *region)
{
    struct kumo_driver_network *n =
        kumo_driver_kit_pack_take(p, sizeof(*n), alignof(struct kumo_driver_network));
    struct kumo_driver_network v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.region = kumo_driver_kit_pack_str(p, region);
    v.cidr = kumo_driver_kit_pack_str(p, o->cidr);
    v.state = kumo_driver_kit_pack_str(p, o->status == LOCAL_READY ? "available" : "pending");
    v.subnets = kumo_driver_kit_pack_subnets(p, o->subnets, o->subnet_count);
    v.subnet_count = o->subnet_count;
    v.created_ns = o->created_ns;
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (n != NULL)
        *n = v;
    return n;
}

static const void *pack_security_group(struct kumo_driver_kit_pack *p, const struct local_object *o,
                                       const char *region)
{
    struct kumo_driver_security_group *g =
        kumo_driver_kit_pack_take(p, sizeof(*g), alignof(struct kumo_driver_security_group));
    struct kumo_driver_security_group v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.region = kumo_driver_kit_pack_str(p, region);
    v.network_id = kumo_driver_kit_pack_str(p, o->network_id);
    v.rules = kumo_driver_kit_pack_rules(p, o->rules, o->rule_count);
    v.rule_count = o->rule_count;
    v.created_ns = o->created_ns;
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (g != NULL)
        *g = v;
    return g;
}

static const void *pack_key_pair(struct kumo_driver_kit_pack *p, const struct local_object *o,
                                 const char *region)
{
    struct kumo_driver_key_pair *k =
        kumo_driver_kit_pack_take(p, sizeof(*k), alignof(struct kumo_driver_key_pair));
    struct kumo_driver_key_pair v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = kumo_driver_kit_pack_str(p, o->id);
    v.token = kumo_driver_kit_pack_str(p, o->token);
    v.name = kumo_driver_kit_pack_str(p, o->name);
    v.region = kumo_driver_kit_pack_str(p, region);
    v.fingerprint = kumo_driver_kit_pack_str(p, o->fingerprint);
    v.public_key = kumo_driver_kit_pack_str(p, o->public_key);
    v.created_ns = o->created_ns;
    v.tags = kumo_driver_kit_pack_tags(p, o->token, o->tags, o->tag_count, &v.tag_count);
    if (k != NULL)
        *k = v;
    return k;
}

static const void *pack_any(struct kumo_driver_kit_pack *p, const struct local_object *o,
                            const struct local_machine_view *view, const char *region)
{
    switch (o->kind) {
    case LOCAL_MACHINE:
        return pack_machine(p, o, view);
    case LOCAL_NETWORK:
        return pack_network(p, o, region);
    case LOCAL_SECURITY_GROUP:
        return pack_security_group(p, o, region);
    default:
        return pack_key_pair(p, o, region);
    }
}

void *local_pack_machine(const struct local_object *o, const struct local_machine_view *v)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_machine(p, o, v));
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
    struct kumo_driver_region *r =
        kumo_driver_kit_pack_take(p, sizeof(*r), alignof(struct kumo_driver_region));
    struct kumo_driver_region v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.name = kumo_driver_kit_pack_str(p, cfg->region);
    v.display_name = kumo_driver_kit_pack_str(p, display);
    v.latitude = cfg->latitude;
    v.longitude = cfg->longitude;
    const char **zones = kumo_driver_kit_pack_take(p, sizeof(char *), alignof(char *));
    const char *zone = kumo_driver_kit_pack_str(p, cfg->zone);
    if (zones != NULL)
        zones[0] = zone;
    v.zones = zones;
    v.zone_count = 1;
    if (r != NULL) {
        *r = v;
        items[0] = r;
    }
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
        struct kumo_driver_instance_type *item =
            kumo_driver_kit_pack_take(p, sizeof(*item), alignof(struct kumo_driver_instance_type));
        struct kumo_driver_instance_type v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = kumo_driver_kit_pack_str(p, t->name);
        v.vcpu = t->vcpu;
        v.memory_mib = t->memory_mib;
        v.gpu_model = kumo_driver_kit_pack_str(p, "");
        v.arch = kumo_driver_kit_pack_str(p, local_arch());
        v.price_per_hour = t->price;
        v.currency = kumo_driver_kit_pack_str(p, "USD");
        if (item != NULL) {
            *item = v;
            items[i] = item;
        }
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
        struct kumo_driver_image *item =
            kumo_driver_kit_pack_take(p, sizeof(*item), alignof(struct kumo_driver_image));
        struct kumo_driver_image v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = kumo_driver_kit_pack_str(p, local_image_name(i));
        v.os = kumo_driver_kit_pack_str(p, "linux");
        v.arch = kumo_driver_kit_pack_str(p, local_arch());
        snprintf(id, sizeof(id), "host:%s", local_image_name(i));
        v.provider_id = kumo_driver_kit_pack_str(p, id);
        v.description = kumo_driver_kit_pack_str(p, local_image_description(i));
        if (item != NULL) {
            *item = v;
            items[i] = item;
        }
    }
}

void *local_pack_images(void)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(local_host, block, p, pack_images(p));
    return block;
}
