/*
 * pack.c - results as ONE block from the host allocator each (the struct, its
 * arrays and every string inside), so the host frees a result with one call;
 * and the small text buffer with JSON string escaping the driver uses for
 * control replies, command input and the state file.
 *
 * Every packer runs twice over the same data: measuring (no block), then
 * filling a block of exactly the measured size. Strings are never NULL.
 */
#include "drivers/local/internal.h"

#include <assert.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Text buffer ----------------------------------------------------------- */

void local_buf_init(struct local_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void local_buf_fini(struct local_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void local_buf_add(struct local_buf *b, const char *data, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void local_buf_str(struct local_buf *b, const char *s)
{
    local_buf_add(b, s, strlen(s));
}

void local_buf_printf(struct local_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        local_buf_add(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    local_buf_add(b, big, (size_t)n);
    free(big);
}

void local_buf_json_str(struct local_buf *b, const char *s)
{
    local_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            local_buf_add(b, esc, 2);
        } else if (*p < 0x20) {
            local_buf_printf(b, "\\u%04x", *p);
        } else {
            local_buf_add(b, (const char *)p, 1);
        }
    }
    local_buf_add(b, "\"", 1);
}

/* ---- Packing ---------------------------------------------------------------- */

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

/* Tags, the token tag first. */
static const struct kumo_driver_tag *tags(struct pack *p, const struct local_object *o,
                                          size_t *count)
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

static const void *pack_machine(struct pack *p, const struct local_object *o,
                                const struct local_machine_view *view)
{
    struct kumo_driver_machine *m = take(p, sizeof(*m), alignof(struct kumo_driver_machine));
    struct kumo_driver_machine v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = str(p, o->id);
    v.token = str(p, o->token);
    v.name = str(p, o->name);
    v.phase = view->phase;
    v.provider_state = str(p, view->provider_state);
    v.instance_type = str(p, o->type);
    v.image = str(p, o->image);
    v.region = str(p, view->region);
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
    v.private_ip = str(p, o->ip);
    v.public_ip = str(p, "");
    v.created_ns = o->created_ns;
    v.launch_ns = o->launch_ns;
    v.price_per_hour = view->price;
    v.currency = str(p, "USD");
    v.tags = tags(p, o, &v.tag_count);
    if (m != NULL)
        *m = v;
    return m;
}

static const void *pack_network(struct pack *p, const struct local_object *o, const char *region)
{
    struct kumo_driver_network *n = take(p, sizeof(*n), alignof(struct kumo_driver_network));
    struct kumo_driver_network v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = str(p, o->id);
    v.token = str(p, o->token);
    v.name = str(p, o->name);
    v.region = str(p, region);
    v.cidr = str(p, o->cidr);
    v.state = str(p, o->status == LOCAL_READY ? "available" : "pending");
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

static const void *pack_security_group(struct pack *p, const struct local_object *o,
                                       const char *region)
{
    struct kumo_driver_security_group *g =
        take(p, sizeof(*g), alignof(struct kumo_driver_security_group));
    struct kumo_driver_security_group v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = str(p, o->id);
    v.token = str(p, o->token);
    v.name = str(p, o->name);
    v.region = str(p, region);
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

static const void *pack_key_pair(struct pack *p, const struct local_object *o, const char *region)
{
    struct kumo_driver_key_pair *k = take(p, sizeof(*k), alignof(struct kumo_driver_key_pair));
    struct kumo_driver_key_pair v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.provider_id = str(p, o->id);
    v.token = str(p, o->token);
    v.name = str(p, o->name);
    v.region = str(p, region);
    v.fingerprint = str(p, o->fingerprint);
    v.public_key = str(p, o->public_key);
    v.created_ns = o->created_ns;
    v.tags = tags(p, o, &v.tag_count);
    if (k != NULL)
        *k = v;
    return k;
}

static const void *pack_any(struct pack *p, const struct local_object *o,
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

/* Runs `fill` measuring, allocates, runs it again into the block. */
#define PACK_TWICE(block, fill)                                                                    \
    do {                                                                                           \
        struct pack measure_ = {NULL, 0, 0};                                                       \
        struct pack *p = &measure_;                                                                \
        fill;                                                                                      \
        struct pack real_ = {local_host->mem_alloc(local_host->ctx, measure_.used), measure_.used, \
                             0};                                                                   \
        if (real_.base == NULL)                                                                    \
            return NULL;                                                                           \
        p = &real_;                                                                                \
        block = real_.base;                                                                        \
        fill;                                                                                      \
    } while (0)

void *local_pack_machine(const struct local_object *o, const struct local_machine_view *v)
{
    void *block = NULL;
    PACK_TWICE(block, pack_machine(p, o, v));
    return block;
}

void *local_pack_object(const struct local_object *o, const char *region)
{
    void *block = NULL;
    PACK_TWICE(block, pack_any(p, o, NULL, region));
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

static void pack_list(struct pack *p, struct local_object *const *objects,
                      const struct local_machine_view *views, size_t count, const char *region)
{
    struct any_list *list = take(p, sizeof(*list), alignof(struct any_list));
    const void **items = take(p, count * sizeof(void *), alignof(void *));
    for (size_t i = 0; i < count; i++) {
        const void *item = pack_any(p, objects[i], views ? &views[i] : NULL, region);
        if (items != NULL)
            items[i] = item;
    }
    if (list != NULL) {
        list->struct_size = sizeof(struct any_list);
        list->count = count;
        list->items = items;
    }
}

void *local_pack_list(struct local_object *const *objects, const struct local_machine_view *views,
                      size_t count, const char *region)
{
    void *block = NULL;
    PACK_TWICE(block, pack_list(p, objects, views, count, region));
    return block;
}

void *local_pack_text(const char *text)
{
    size_t n = strlen(text) + 1;
    char *block = local_host->mem_alloc(local_host->ctx, n);
    if (block != NULL)
        memcpy(block, text, n);
    return block;
}

/* ---- Catalog ---------------------------------------------------------------- */

static void pack_regions(struct pack *p, const struct local_config *cfg)
{
    char host[128] = "", display[256];
    gethostname(host, sizeof(host) - 1);
    snprintf(display, sizeof(display), "This host (%s)", host[0] ? host : "localhost");
    struct any_list *list = take(p, sizeof(*list), alignof(struct any_list));
    const void **items = take(p, sizeof(void *), alignof(void *));
    struct kumo_driver_region *r = take(p, sizeof(*r), alignof(struct kumo_driver_region));
    struct kumo_driver_region v;
    memset(&v, 0, sizeof(v));
    v.struct_size = sizeof(v);
    v.name = str(p, cfg->region);
    v.display_name = str(p, display);
    v.latitude = cfg->latitude;
    v.longitude = cfg->longitude;
    const char **zones = take(p, sizeof(char *), alignof(char *));
    const char *zone = str(p, cfg->zone);
    if (zones != NULL)
        zones[0] = zone;
    v.zones = zones;
    v.zone_count = 1;
    if (r != NULL) {
        *r = v;
        items[0] = r;
        list->struct_size = sizeof(struct any_list);
        list->count = 1;
        list->items = items;
    }
}

void *local_pack_regions(const struct local_config *cfg)
{
    void *block = NULL;
    PACK_TWICE(block, pack_regions(p, cfg));
    return block;
}

static void pack_types(struct pack *p)
{
    struct any_list *list = take(p, sizeof(*list), alignof(struct any_list));
    const void **items = take(p, local_type_count * sizeof(void *), alignof(void *));
    for (size_t i = 0; i < local_type_count; i++) {
        const struct local_type *t = &local_types[i];
        struct kumo_driver_instance_type *item =
            take(p, sizeof(*item), alignof(struct kumo_driver_instance_type));
        struct kumo_driver_instance_type v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = str(p, t->name);
        v.vcpu = t->vcpu;
        v.memory_mib = t->memory_mib;
        v.gpu_model = str(p, "");
        v.arch = str(p, local_arch());
        v.price_per_hour = t->price;
        v.currency = str(p, "USD");
        if (item != NULL) {
            *item = v;
            items[i] = item;
        }
    }
    if (list != NULL) {
        list->struct_size = sizeof(struct any_list);
        list->count = local_type_count;
        list->items = items;
    }
}

void *local_pack_types(void)
{
    void *block = NULL;
    PACK_TWICE(block, pack_types(p));
    return block;
}

static void pack_images(struct pack *p)
{
    char id[160];
    size_t count = local_image_count();
    struct any_list *list = take(p, sizeof(*list), alignof(struct any_list));
    const void **items = take(p, count * sizeof(void *), alignof(void *));
    for (size_t i = 0; i < count; i++) {
        struct kumo_driver_image *item = take(p, sizeof(*item), alignof(struct kumo_driver_image));
        struct kumo_driver_image v;
        memset(&v, 0, sizeof(v));
        v.struct_size = sizeof(v);
        v.name = str(p, local_image_name(i));
        v.os = str(p, "linux");
        v.arch = str(p, local_arch());
        snprintf(id, sizeof(id), "host:%s", local_image_name(i));
        v.provider_id = str(p, id);
        v.description = str(p, local_image_description(i));
        if (item != NULL) {
            *item = v;
            items[i] = item;
        }
    }
    if (list != NULL) {
        list->struct_size = sizeof(struct any_list);
        list->count = count;
        list->items = items;
    }
}

void *local_pack_images(void)
{
    void *block = NULL;
    PACK_TWICE(block, pack_images(p));
    return block;
}
