/*
 * validate_values.c - the rule vocabulary of validation, part two: numbers,
 * IPv4 addresses and CIDRs, lists (sizes, uniqueness, per-item walks) and
 * enums (the generic "every enum value is known" walk over a message tree).
 *
 * Invariants as in validate_rules.c; rule_unique allocates a scratch array
 * and frees it before it returns.
 */
#include "apis/object/validate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers -------------------------------------------------------------- */

void rule_int_range(rule_ctx *v, const char *field, long long n, long long min, long long max)
{
    if (n < min)
        rule_invalid_int(v, field, n, "must be greater than or equal to %lld", min);
    else if (n > max)
        rule_invalid_int(v, field, n, "must be less than or equal to %lld", max);
}

void rule_int_range_or_zero(rule_ctx *v, const char *field, long long n, long long min,
                            long long max)
{
    if (n != 0)
        rule_int_range(v, field, n, min, max);
}

void rule_int_zero(rule_ctx *v, const char *field, long long n, const char *when)
{
    if (n != 0)
        rule_forbidden(v, field, "may only be set %s", when);
}

void rule_double_range(rule_ctx *v, const char *field, double d, double min, double max)
{
    char printed[40];
    snprintf(printed, sizeof(printed), "%g", d);
    if (isnan(d))
        rule_add(v, KUMO_CAUSE_INVALID, field, printed, "must be a number");
    else if (d < min)
        rule_add(v, KUMO_CAUSE_INVALID, field, printed, "must be greater than or equal to %g", min);
    else if (d > max)
        rule_add(v, KUMO_CAUSE_INVALID, field, printed, "must be less than or equal to %g", max);
}

void rule_double_positive(rule_ctx *v, const char *field, double d, double max)
{
    char printed[40];
    snprintf(printed, sizeof(printed), "%g", d);
    if (isnan(d) || isinf(d))
        rule_add(v, KUMO_CAUSE_INVALID, field, printed, "must be a finite number");
    else if (d < 0)
        rule_add(v, KUMO_CAUSE_INVALID, field, printed, "must be greater than 0");
    else if (d > max)
        rule_add(v, KUMO_CAUSE_INVALID, field, printed, "must be less than or equal to %g", max);
}

void rule_port(rule_ctx *v, const char *field, int port, int optional)
{
    if (port == 0 && !optional)
        rule_required(v, field, NULL);
    else if (port != 0)
        rule_int_range(v, field, port, 1, 65535);
}

/* ---- IPv4 ----------------------------------------------------------------- */

/* Parses a decimal of 1..max_digits digits without leading zeros. -1 when not one. */
static long parse_decimal(const char *s, size_t len, size_t max_digits)
{
    if (len == 0 || len > max_digits || (len > 1 && s[0] == '0'))
        return -1;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    return n;
}

int rule_parse_ipv4(const char *s, size_t len, uint32_t *out)
{
    uint32_t address = 0;
    size_t start = 0;
    int parts = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        long octet = parse_decimal(s + start, i - start, 3);
        if (octet < 0 || octet > 255 || ++parts > 4)
            return 0;
        address = address << 8 | (uint32_t)octet;
        start = i + 1;
    }
    if (parts != 4)
        return 0;
    *out = address;
    return 1;
}

static uint32_t prefix_mask(int prefix)
{
    return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int rule_parse_cidr(const char *s, rule_ipv4_net *out)
{
    const char *slash = strchr(s, '/');
    uint32_t address;
    long prefix = slash ? parse_decimal(slash + 1, strlen(slash + 1), 2) : -1;
    if (slash == NULL || prefix < 0 || prefix > 32 ||
        !rule_parse_ipv4(s, (size_t)(slash - s), &address))
        return 0;
    out->address = address & prefix_mask((int)prefix);
    out->prefix = (int)prefix;
    return out->address == address ? 1 : -1;
}

int rule_cidr(rule_ctx *v, const char *field, const char *s, int min_prefix, int max_prefix,
              rule_ipv4_net *out)
{
    if (rule_empty(s))
        return 0;
    rule_ipv4_net net;
    int parsed = rule_parse_cidr(s, &net);
    if (parsed == 0) {
        rule_invalid_string(v, field, s, "must be a valid IPv4 CIDR (e.g. \"10.0.0.0/16\")");
        return 0;
    }
    if (net.prefix < min_prefix || net.prefix > max_prefix) {
        rule_invalid_string(v, field, s, "prefix length must be between /%d and /%d", min_prefix,
                            max_prefix);
        return 0;
    }
    if (parsed < 0) {
        char text[24];
        rule_invalid_string(v, field, s,
                            "must be a network address without host bits (did you mean \"%s\"?)",
                            rule_ipv4_net_text(&net, text, sizeof(text)));
        return 0;
    }
    *out = net;
    return 1;
}

const char *rule_ipv4_net_text(const rule_ipv4_net *net, char *buf, size_t size)
{
    uint32_t a = net->address;
    snprintf(buf, size, "%u.%u.%u.%u/%d", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
             net->prefix);
    return buf;
}

int rule_ipv4_net_contains(const rule_ipv4_net *outer, const rule_ipv4_net *inner)
{
    return inner->prefix >= outer->prefix &&
           (inner->address & prefix_mask(outer->prefix)) == outer->address;
}

int rule_ipv4_net_overlaps(const rule_ipv4_net *a, const rule_ipv4_net *b)
{
    int prefix = a->prefix < b->prefix ? a->prefix : b->prefix;
    return (a->address & prefix_mask(prefix)) == (b->address & prefix_mask(prefix));
}

/* ---- lists ---------------------------------------------------------------- */

int rule_max_items(rule_ctx *v, const char *field, size_t count, size_t max)
{
    if (count <= max)
        return 1;
    rule_add(v, KUMO_CAUSE_TOO_LONG, field, NULL, "must have at most %zu items", max);
    return 0;
}

void rule_items_between(rule_ctx *v, const char *field, size_t count, size_t min, size_t max)
{
    if (count < min)
        rule_required(v, field, NULL);
    else
        rule_max_items(v, field, count, max);
}

typedef struct unique_entry {
    const char *key; /* borrowed from the item, or into `own` */
    size_t index;
    char own[40];
} unique_entry;

static int unique_entry_compare(const void *a, const void *b)
{
    const unique_entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

const char *rule_key_string(const void *item, char *buf, size_t size)
{
    (void)buf;
    (void)size;
    return rule_empty(item) ? NULL : item;
}

const char *rule_key_name(const void *item, char *buf, size_t size)
{
    (void)buf;
    (void)size;
    const ProtobufCMessage *m = item;
    const ProtobufCFieldDescriptor *f = object_field(m, "name");
    const char *name = f ? *(const char **)object_field_slot(m, f) : NULL;
    return rule_empty(name) ? NULL : name;
}

/* A key the key function wrote itself is printed bare when it is a number. */
static const char *unique_printed(const char *key, const char *own, char *buf, size_t size)
{
    if (key == own && strspn(key, "0123456789") == strlen(key))
        return key;
    return rule_quote(key, buf, size);
}

void rule_unique(rule_ctx *v, const char *list, const void *const *items, size_t count,
                 const char *member, rule_key_fn key)
{
    if (count < 2)
        return;
    unique_entry *entries = malloc(count * sizeof(*entries));
    unsigned char *duplicate = calloc(count, 1);
    if (entries == NULL || duplicate == NULL) {
        v->nomem = 1;
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        unique_entry *e = &entries[n];
        e->index = i;
        e->key = key(items[i], e->own, sizeof(e->own));
        n += e->key != NULL;
    }
    qsort(entries, n, sizeof(*entries), unique_entry_compare);
    for (size_t j = 1; j < n; j++)
        if (strcmp(entries[j].key, entries[j - 1].key) == 0)
            duplicate[entries[j].index] = 1;
    for (size_t i = 0; i < count; i++) {
        if (!duplicate[i])
            continue;
        char own[40], quoted[RULE_VALUE_MAX + 16];
        const char *k = key(items[i], own, sizeof(own));
        size_t mark = rule_enter_index(v, list, i);
        rule_add(v, KUMO_CAUSE_DUPLICATE, member, unique_printed(k, own, quoted, sizeof(quoted)),
                 NULL);
        rule_leave(v, mark);
    }
out:
    free(entries);
    free(duplicate);
}

void rule_each(rule_ctx *v, const char *field, const void *const *items, size_t count,
               rule_item_fn fn, const void *context)
{
    for (size_t i = 0; i < count; i++) {
        size_t mark = rule_enter_index(v, field, i);
        fn(v, items[i], context);
        rule_leave(v, mark);
    }
}

void rule_named_items(rule_ctx *v, const char *field, const void *const *items, size_t count,
                      rule_item_fn fn, const void *context)
{
    rule_each(v, field, items, count, fn, context);
    rule_unique(v, field, items, count, "name", rule_key_name);
}

void rule_string_list(rule_ctx *v, const char *field, char *const *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (rule_empty(items[i])) {
            size_t mark = rule_enter_index(v, field, i);
            rule_required(v, NULL, NULL);
            rule_leave(v, mark);
        }
    }
    rule_unique(v, field, (const void *const *)items, count, NULL, rule_key_string);
}

/* ---- enums ---------------------------------------------------------------- */

const char *rule_enum_name(const ProtobufCEnumDescriptor *descriptor, int value)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(descriptor, value);
    return ev ? ev->name : "";
}

/* Writes `"A", "B", "C"` for the given values (all non-zero ones when values is NULL). */
static void enum_list(const ProtobufCEnumDescriptor *descriptor, const int *values, size_t count,
                      char *buf, size_t size)
{
    size_t len = 0, total = values ? count : descriptor->n_values;
    buf[0] = '\0';
    for (size_t i = 0; i < total; i++) {
        int value = values ? values[i] : descriptor->values[i].value;
        if (value == 0)
            continue;
        int n = snprintf(buf + len, size - len, "%s\"%s\"", len ? ", " : "",
                         rule_enum_name(descriptor, value));
        if (n < 0 || (size_t)n >= size - len)
            return;
        len += (size_t)n;
    }
}

void rule_unsupported_enum(rule_ctx *v, const char *field,
                           const ProtobufCEnumDescriptor *descriptor, int value,
                           const int *supported, size_t supported_count)
{
    char printed[80], list[512];
    const char *name = rule_enum_name(descriptor, value);
    if (name[0] != '\0')
        rule_quote(name, printed, sizeof(printed));
    else
        snprintf(printed, sizeof(printed), "%d", value);
    enum_list(descriptor, supported, supported_count, list, sizeof(list));
    rule_add(v, KUMO_CAUSE_UNSUPPORTED, field, printed, "supported values: %s", list);
}

static void check_enum_value(rule_ctx *v, const ProtobufCFieldDescriptor *field, int value)
{
    if (protobuf_c_enum_descriptor_get_value(field->descriptor, value) == NULL)
        rule_unsupported_enum(v, NULL, field->descriptor, value, NULL, 0);
}

/* Whether a field that may be a oneof member is the member that is set. */
static int field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return 1;
    return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
}

void rule_enums_known(rule_ctx *v, const ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *d = message->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((f->type != PROTOBUF_C_TYPE_ENUM && f->type != PROTOBUF_C_TYPE_MESSAGE) ||
            !field_present(message, f))
            continue;
        const char *name = kumo_codec_field_json_name(d, f);
        void *slot = object_field_slot(message, f);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *object_field_count(message, f);
            for (size_t j = 0; j < count; j++) {
                size_t mark = rule_enter_index(v, name, j);
                if (f->type == PROTOBUF_C_TYPE_ENUM)
                    check_enum_value(v, f, (*(int **)slot)[j]);
                else
                    rule_enums_known(v, (*(ProtobufCMessage ***)slot)[j]);
                rule_leave(v, mark);
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = *(ProtobufCMessage **)slot;
            if (sub != NULL) {
                size_t mark = rule_enter(v, name);
                rule_enums_known(v, sub);
                rule_leave(v, mark);
            }
        } else {
            size_t mark = rule_enter(v, name);
            check_enum_value(v, f, *(int *)slot);
            rule_leave(v, mark);
        }
    }
}
