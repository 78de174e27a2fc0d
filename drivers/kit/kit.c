/*
 * kit.c - the helpers of kit.h: diag filling, the text buffer with JSON
 * string writing, and the measure-then-fill pack arena.
 *
 * Invariant of the arena: a filling pass takes exactly the pieces, sizes and
 * alignments its measuring pass took, so it never runs past the block.
 */
#include "drivers/kit/kit.h"

#include <assert.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Diagnostics ------------------------------------------------------------ */

kumo_driver_code kumo_driver_kit_fail(struct kumo_driver_diag *diag, kumo_driver_code code,
                                      const char *cloud_code, const char *fmt, ...)
{
    if (diag == NULL)
        return code;
    va_list ap;
    diag->code = (int32_t)code;
    diag->retry_after_ms = 0;
    snprintf(diag->cloud_code, sizeof(diag->cloud_code), "%s", cloud_code ? cloud_code : "");
    va_start(ap, fmt);
    vsnprintf(diag->message, sizeof(diag->message), fmt, ap);
    va_end(ap);
    return code;
}

/* ---- Text buffer ------------------------------------------------------------ */

void kumo_driver_kit_buf_init(struct kumo_driver_kit_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void kumo_driver_kit_buf_fini(struct kumo_driver_kit_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static int reserve(struct kumo_driver_kit_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

void kumo_driver_kit_buf_add(struct kumo_driver_kit_buf *b, const void *data, size_t len)
{
    if (reserve(b, len) != 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void kumo_driver_kit_buf_str(struct kumo_driver_kit_buf *b, const char *s)
{
    kumo_driver_kit_buf_add(b, s, strlen(s));
}

void kumo_driver_kit_buf_printf(struct kumo_driver_kit_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void kumo_driver_kit_buf_json_str(struct kumo_driver_kit_buf *b, const char *s)
{
    kumo_driver_kit_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            kumo_driver_kit_buf_add(b, "\\\"", 2);
            break;
        case '\\':
            kumo_driver_kit_buf_add(b, "\\\\", 2);
            break;
        case '\n':
            kumo_driver_kit_buf_add(b, "\\n", 2);
            break;
        case '\r':
            kumo_driver_kit_buf_add(b, "\\r", 2);
            break;
        case '\t':
            kumo_driver_kit_buf_add(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20)
                kumo_driver_kit_buf_printf(b, "\\u%04x", *p);
            else
                kumo_driver_kit_buf_add(b, p, 1);
        }
    }
    kumo_driver_kit_buf_add(b, "\"", 1);
}

void kumo_driver_kit_buf_json_key(struct kumo_driver_kit_buf *b, const char *key, int first)
{
    if (!first)
        kumo_driver_kit_buf_add(b, ",", 1);
    kumo_driver_kit_buf_json_str(b, key);
    kumo_driver_kit_buf_add(b, ":", 1);
}

/* ---- Packing results ---------------------------------------------------------- */

#define SAME_SHAPE(type)                                                                           \
    _Static_assert(                                                                                \
        sizeof(struct type) == sizeof(struct kumo_driver_kit_list) &&                              \
            offsetof(struct type, count) == offsetof(struct kumo_driver_kit_list, count) &&        \
            offsetof(struct type, items) == offsetof(struct kumo_driver_kit_list, items),          \
        #type " must have the shape of kumo_driver_kit_list")
SAME_SHAPE(kumo_driver_machine_list);
SAME_SHAPE(kumo_driver_network_list);
SAME_SHAPE(kumo_driver_security_group_list);
SAME_SHAPE(kumo_driver_key_pair_list);
SAME_SHAPE(kumo_driver_region_list);
SAME_SHAPE(kumo_driver_instance_type_list);
SAME_SHAPE(kumo_driver_image_list);

void *kumo_driver_kit_pack_take(struct kumo_driver_kit_pack *p, size_t n, size_t align)
{
    size_t off = (p->used + align - 1) & ~(align - 1);
    p->used = off + n;
    if (p->base == NULL)
        return NULL;
    assert(p->used <= p->size);
    return p->base + off;
}

const char *kumo_driver_kit_pack_str(struct kumo_driver_kit_pack *p, const char *s)
{
    if (s == NULL)
        s = "";
    size_t n = strlen(s) + 1;
    char *d = kumo_driver_kit_pack_take(p, n, 1);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

const char *const *kumo_driver_kit_pack_strings(struct kumo_driver_kit_pack *p,
                                                char *const *strings, size_t count)
{
    const char **out = kumo_driver_kit_pack_take(p, count * sizeof(char *), alignof(char *));
    for (size_t i = 0; i < count; i++) {
        const char *s = kumo_driver_kit_pack_str(p, strings[i]);
        if (out != NULL)
            out[i] = s;
    }
    return out;
}

const struct kumo_driver_tag *kumo_driver_kit_pack_tags(struct kumo_driver_kit_pack *p,
                                                        const char *token,
                                                        const struct kumo_driver_kit_tag *tags,
                                                        size_t count, size_t *out_count)
{
    *out_count = count + 1;
    struct kumo_driver_tag *t =
        kumo_driver_kit_pack_take(p, *out_count * sizeof(*t), alignof(struct kumo_driver_tag));
    for (size_t i = 0; i < *out_count; i++) {
        const char *k =
            kumo_driver_kit_pack_str(p, i == 0 ? KUMO_DRIVER_TOKEN_TAG : tags[i - 1].key);
        const char *v = kumo_driver_kit_pack_str(p, i == 0 ? token : tags[i - 1].value);
        if (t != NULL) {
            t[i].key = k;
            t[i].value = v;
        }
    }
    return t;
}

const struct kumo_driver_subnet *
kumo_driver_kit_pack_subnets(struct kumo_driver_kit_pack *p,
                             const struct kumo_driver_kit_subnet *subnets, size_t count)
{
    struct kumo_driver_subnet *out =
        kumo_driver_kit_pack_take(p, count * sizeof(*out), alignof(struct kumo_driver_subnet));
    for (size_t i = 0; i < count; i++) {
        struct kumo_driver_subnet s;
        s.name = kumo_driver_kit_pack_str(p, subnets[i].name);
        s.cidr = kumo_driver_kit_pack_str(p, subnets[i].cidr);
        s.zone = kumo_driver_kit_pack_str(p, subnets[i].zone);
        s.provider_id = kumo_driver_kit_pack_str(p, subnets[i].id);
        if (out != NULL)
            out[i] = s;
    }
    return out;
}

const struct kumo_driver_rule *kumo_driver_kit_pack_rules(struct kumo_driver_kit_pack *p,
                                                          const struct kumo_driver_kit_rule *rules,
                                                          size_t count)
{
    struct kumo_driver_rule *out =
        kumo_driver_kit_pack_take(p, count * sizeof(*out), alignof(struct kumo_driver_rule));
    for (size_t i = 0; i < count; i++) {
        struct kumo_driver_rule r;
        r.direction = rules[i].direction;
        r.protocol = rules[i].protocol;
        r.from_port = rules[i].from_port;
        r.to_port = rules[i].to_port;
        r.cidr = kumo_driver_kit_pack_str(p, rules[i].cidr);
        r.description = kumo_driver_kit_pack_str(p, rules[i].description);
        if (out != NULL)
            out[i] = r;
    }
    return out;
}

void kumo_driver_kit_tags_free(struct kumo_driver_kit_tag *tags, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(tags[i].key);
        free(tags[i].value);
    }
    free(tags);
}

void kumo_driver_kit_subnets_free(struct kumo_driver_kit_subnet *subnets, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(subnets[i].id);
        free(subnets[i].name);
        free(subnets[i].cidr);
        free(subnets[i].zone);
    }
    free(subnets);
}

void kumo_driver_kit_rules_free(struct kumo_driver_kit_rule *rules, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(rules[i].cidr);
        free(rules[i].description);
    }
    free(rules);
}

void kumo_driver_kit_strings_free(char **strings, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(strings[i]);
    free(strings);
}

const void **kumo_driver_kit_pack_list(struct kumo_driver_kit_pack *p, size_t count)
{
    struct kumo_driver_kit_list *list =
        kumo_driver_kit_pack_take(p, sizeof(*list), alignof(struct kumo_driver_kit_list));
    const void **items = kumo_driver_kit_pack_take(p, count * sizeof(void *), alignof(void *));
    if (list != NULL) {
        list->struct_size = sizeof(struct kumo_driver_kit_list);
        list->count = count;
        list->items = items;
    }
    return items;
}

char *kumo_driver_kit_pack_text(const struct kumo_driver_host *host, const char *text)
{
    size_t n = strlen(text) + 1;
    char *block = host->mem_alloc(host->ctx, n);
    if (block != NULL)
        memcpy(block, text, n);
    return block;
}
