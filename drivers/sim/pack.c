/*
 * pack.c - turns sim objects and catalog rows into the driver.h result
 * structs, each result ONE block from the host allocator (the struct, its
 * arrays and its strings inside), so the host frees it with one call.
 *
 * Every packer runs twice over the same data: first with no block, only
 * measuring; then into a block of exactly the measured size. Strings in the
 * results are never NULL ("" when absent).
 */
#include "drivers/sim/internal.h"

#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct pack {
    char *base; /* NULL while measuring */
    size_t size;
    size_t used;
};

static void *take(struct pack *p, size_t n, size_t align)
{
    size_t off = (p->used + align - 1) & ~(align - 1);
    p->used = off + n;
    if (p->base == NULL)
        return NULL;
    assert(p->used <= p->size);
    return p->base + off;
}

static const char *str(struct pack *p, const char *s)
{
    if (s == NULL)
        s = "";
    size_t n = strlen(s) + 1;
    char *d = take(p, n, 1);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/* Tags with the token tag first. */
static const struct kumo_driver_tag *tags(struct pack *p, const struct sim_object *o, size_t *count)
{
    *count = o->tag_count + 1;
    struct kumo_driver_tag *t = take(p, *count * sizeof(*t), alignof(struct kumo_driver_tag));
    for (size_t i = 0; i < *count; i++) {
        const char *k = str(p, i == 0 ? KUMO_DRIVER_TOKEN_TAG : o->tags[i - 1].key);
        const char *v = str(p, i == 0 ? o->token : o->tags[i - 1].value);
        if (t != NULL) {
            t[i].key = k;
            t[i].value = v;
        }
    }
    return t;
}

static const void *pack_machine(struct pack *p, const struct sim_object *o, int64_t now_ns)
{
    char ip[20];
    struct kumo_driver_machine *m = take(p, sizeof(*m), alignof(struct kumo_driver_machine));
    struct kumo_driver_machine v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = str(p, o->id);
    v.token = str(p, o->token);
    v.name = str(p, o->name);
    v.phase = sim_machine_phase(o, now_ns);
    v.provider_state = str(p, sim_phase_word((kumo_driver_machine_phase)v.phase));
    v.instance_type = str(p, o->type);
    v.image = str(p, o->image);
    v.region = str(p, o->region);
    v.zone = str(p, o->zone);
    v.network_id = str(p, o->network_id);
    v.subnet_id = str(p, o->subnet_id);
    const char **sgs = take(p, o->sg_count * sizeof(char *), alignof(char *));
    for (size_t i = 0; i < o->sg_count; i++) {
        const char *s = str(p, o->sg_ids[i]);
        if (sgs != NULL)
            sgs[i] = s;
    }
    v.security_group_ids = sgs;
    v.security_group_count = o->sg_count;
    v.key_pair_id = str(p, o->key_id);
    sim_ip_format(o->private_ip, ip, sizeof(ip));
    v.private_ip = str(p, o->private_ip ? ip : "");
    sim_ip_format(o->public_ip, ip, sizeof(ip));
    int has_public = o->public_ip && (v.phase == KUMO_DRIVER_MACHINE_PENDING ||
                                      v.phase == KUMO_DRIVER_MACHINE_RUNNING);
    v.public_ip = str(p, has_public ? ip : "");
    v.created_ns = o->created_ns;
    v.launch_ns = o->launch_ns;
    v.price_per_hour = o->price;
    v.currency = str(p, "USD");
    v.tags = tags(p, o, &v.tag_count);
    if (m != NULL)
        *m = v;
    return m;
}

static const void *pack_network(struct pack *p, const struct sim_object *o)
{
    struct kumo_driver_network *n = take(p, sizeof(*n), alignof(struct kumo_driver_network));
    struct kumo_driver_network v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = str(p, o->id);
    v.token = str(p, o->token);
    v.name = str(p, o->name);
    v.region = str(p, o->region);
    v.cidr = str(p, o->cidr);
    v.state = str(p, "available");
    struct kumo_driver_subnet *subs =
        take(p, o->subnet_count * sizeof(*subs), alignof(struct kumo_driver_subnet));
    for (size_t i = 0; i < o->subnet_count; i++) {
        struct kumo_driver_subnet s;
        s.name = str(p, o->subnets[i].name);
        s.cidr = str(p, o->subnets[i].cidr);
        s.zone = str(p, o->subnets[i].zone);
        s.provider_id = str(p, o->subnets[i].id);
        if (subs != NULL)
            subs[i] = s;
    }
    v.subnets = subs;
    v.subnet_count = o->subnet_count;
    v.created_ns = o->created_ns;
    v.tags = tags(p, o, &v.tag_count);
    if (n != NULL)
        *n = v;
    return n;
}

static const void *pack_security_group(struct pack *p, const struct sim_object *o)
{
    struct kumo_driver_security_group *g =
        take(p, sizeof(*g), alignof(struct kumo_driver_security_group));
    struct kumo_driver_security_group v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = str(p, o->id);
    v.token = str(p, o->token);
    v.name = str(p, o->name);
    v.region = str(p, o->region);
    v.network_id = str(p, o->network_id);
    struct kumo_driver_rule *rules =
        take(p, o->rule_count * sizeof(*rules), alignof(struct kumo_driver_rule));
    for (size_t i = 0; i < o->rule_count; i++) {
        struct kumo_driver_rule r;
        r.direction = o->rules[i].direction;
        r.protocol = o->rules[i].protocol;
        r.from_port = o->rules[i].from_port;
        r.to_port = o->rules[i].to_port;
        r.cidr = str(p, o->rules[i].cidr);
        r.description = str(p, o->rules[i].description);
        if (rules != NULL)
            rules[i] = r;
    }
    v.rules = rules;
    v.rule_count = o->rule_count;
    v.created_ns = o->created_ns;
    v.tags = tags(p, o, &v.tag_count);
    if (g != NULL)
        *g = v;
    return g;
}

static const void *pack_key_pair(struct pack *p, const struct sim_object *o)
{
    struct kumo_driver_key_pair *k = take(p, sizeof(*k), alignof(struct kumo_driver_key_pair));
    struct kumo_driver_key_pair v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = str(p, o->id);
    v.token = str(p, o->token);
    v.name = str(p, o->name);
    v.region = str(p, o->region);
    v.fingerprint = str(p, o->fingerprint);
    v.public_key = str(p, o->public_key);
    v.created_ns = o->created_ns;
    v.tags = tags(p, o, &v.tag_count);
    if (k != NULL)
        *k = v;
    return k;
}

static const void *pack_any(struct pack *p, const struct sim_object *o, int64_t now_ns)
{
    switch (o->kind) {
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

/* Runs `fill` measuring, allocates, runs it again into the block. */
#define PACK_TWICE(block, fill)                                                                    \
    do {                                                                                           \
        struct pack measure_ = {NULL, 0, 0};                                                       \
        struct pack *p = &measure_;                                                                \
        fill;                                                                                      \
        struct pack real_ = {sim_host->mem_alloc(sim_host->ctx, measure_.used), measure_.used, 0}; \
        if (real_.base == NULL)                                                                    \
            return NULL;                                                                           \
        p = &real_;                                                                                \
        block = real_.base;                                                                        \
        fill;                                                                                      \
    } while (0)

void *sim_pack_object(const struct sim_object *o, int64_t now_ns)
{
    void *block = NULL;
    PACK_TWICE(block, pack_any(p, o, now_ns));
    return block;
}

/* All list structs share this shape. */
struct any_list {
    size_t struct_size;
    size_t count;
    const void *const *items;
};

#define SAME_SHAPE(type)                                                                           \
    _Static_assert(sizeof(struct type) == sizeof(struct any_list) &&                               \
                       offsetof(struct type, count) == offsetof(struct any_list, count) &&         \
                       offsetof(struct type, items) == offsetof(struct any_list, items),           \
                   #type " must have the shape of any_list")
SAME_SHAPE(kumo_driver_machine_list);
SAME_SHAPE(kumo_driver_network_list);
SAME_SHAPE(kumo_driver_security_group_list);
SAME_SHAPE(kumo_driver_key_pair_list);
SAME_SHAPE(kumo_driver_region_list);
SAME_SHAPE(kumo_driver_instance_type_list);
SAME_SHAPE(kumo_driver_image_list);

static void pack_list(struct pack *p, struct sim_object *const *objects, size_t count,
                      int64_t now_ns)
{
    struct any_list *list = take(p, sizeof(*list), alignof(struct any_list));
    const void **items = take(p, count * sizeof(void *), alignof(void *));
    for (size_t i = 0; i < count; i++) {
        const void *item = pack_any(p, objects[i], now_ns);
        if (items != NULL)
            items[i] = item;
    }
    if (list != NULL) {
        list->struct_size = sizeof(struct kumo_driver_machine_list);
        list->count = count;
        list->items = items;
    }
}

void *sim_pack_list(struct sim_object *const *objects, size_t count, int64_t now_ns)
{
    void *block = NULL;
    PACK_TWICE(block, pack_list(p, objects, count, now_ns));
    return block;
}

static void pack_regions(struct pack *p, const char *provider)
{
    size_t count = 0;
    char zone[80];
    for (size_t i = 0; i < sim_region_count; i++)
        count += strcmp(sim_regions[i].provider, provider) == 0;
    struct any_list *list = take(p, sizeof(*list), alignof(struct any_list));
    const void **items = take(p, count * sizeof(void *), alignof(void *));
    size_t n = 0;
    for (size_t i = 0; i < sim_region_count; i++) {
        const struct sim_region *r = &sim_regions[i];
        if (strcmp(r->provider, provider) != 0)
            continue;
        struct kumo_driver_region *item =
            take(p, sizeof(*item), alignof(struct kumo_driver_region));
        struct kumo_driver_region v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = str(p, r->name);
        v.display_name = str(p, r->display);
        v.latitude = r->latitude;
        v.longitude = r->longitude;
        const char **zones = take(p, SIM_ZONES_PER_REGION * sizeof(char *), alignof(char *));
        for (int z = 0; z < SIM_ZONES_PER_REGION; z++) {
            sim_zone_name(r, z, zone, sizeof(zone));
            const char *s = str(p, zone);
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
    if (list != NULL) {
        list->struct_size = sizeof(struct kumo_driver_region_list);
        list->count = count;
        list->items = items;
    }
}

void *sim_pack_regions(const char *provider)
{
    void *block = NULL;
    PACK_TWICE(block, pack_regions(p, provider));
    return block;
}

static void pack_types(struct pack *p, const struct sim_region *region)
{
    size_t count = 0;
    for (size_t i = 0; i < sim_type_count; i++)
        count += strcmp(sim_types[i].provider, region->provider) == 0;
    struct any_list *list = take(p, sizeof(*list), alignof(struct any_list));
    const void **items = take(p, count * sizeof(void *), alignof(void *));
    size_t n = 0;
    for (size_t i = 0; i < sim_type_count; i++) {
        const struct sim_type *t = &sim_types[i];
        if (strcmp(t->provider, region->provider) != 0)
            continue;
        struct kumo_driver_instance_type *item =
            take(p, sizeof(*item), alignof(struct kumo_driver_instance_type));
        struct kumo_driver_instance_type v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = str(p, t->name);
        v.vcpu = t->vcpu;
        v.memory_mib = t->memory_mib;
        v.gpu_count = t->gpu_count;
        v.gpu_memory_mib = t->gpu_memory_mib;
        v.gpu_model = str(p, t->gpu_model);
        v.arch = str(p, t->arch);
        v.price_per_hour = sim_type_price(t, region);
        v.currency = str(p, "USD");
        if (item != NULL) {
            *item = v;
            items[n] = item;
        }
        n++;
    }
    if (list != NULL) {
        list->struct_size = sizeof(struct kumo_driver_instance_type_list);
        list->count = count;
        list->items = items;
    }
}

void *sim_pack_instance_types(const struct sim_region *region)
{
    void *block = NULL;
    PACK_TWICE(block, pack_types(p, region));
    return block;
}

static void pack_images(struct pack *p, const struct sim_region *region)
{
    size_t count = 0;
    char id[128];
    for (size_t i = 0; i < sim_image_count; i++)
        count += strcmp(sim_images[i].provider, region->provider) == 0;
    struct any_list *list = take(p, sizeof(*list), alignof(struct any_list));
    const void **items = take(p, count * sizeof(void *), alignof(void *));
    size_t n = 0;
    for (size_t i = 0; i < sim_image_count; i++) {
        const struct sim_image *im = &sim_images[i];
        if (strcmp(im->provider, region->provider) != 0)
            continue;
        struct kumo_driver_image *item = take(p, sizeof(*item), alignof(struct kumo_driver_image));
        struct kumo_driver_image v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = str(p, im->name);
        v.os = str(p, im->os);
        v.arch = str(p, im->arch);
        sim_image_id(im, region, id, sizeof(id));
        v.provider_id = str(p, id);
        v.description = str(p, im->description);
        if (item != NULL) {
            *item = v;
            items[n] = item;
        }
        n++;
    }
    if (list != NULL) {
        list->struct_size = sizeof(struct kumo_driver_image_list);
        list->count = count;
        list->items = items;
    }
}

void *sim_pack_images(const struct sim_region *region)
{
    void *block = NULL;
    PACK_TWICE(block, pack_images(p, region));
    return block;
}

char *sim_pack_text(const char *text)
{
    size_t n = strlen(text) + 1;
    char *block = sim_host->mem_alloc(sim_host->ctx, n);
    if (block != NULL)
        memcpy(block, text, n);
    return block;
}
