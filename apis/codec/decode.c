/*
 * decode.c - what both decoders share: turning one scalar token into a field
 * value, building messages the way protobuf_c_message_unpack lays them out,
 * duplicate and oneof checks, field paths and error reporting.
 *
 * The direct JSON decoder (json_decode.c) and the value-tree path
 * (message.c) call exactly these functions in the same order for the same
 * input, so they produce the same messages and the same errors.
 */
#include "apis/codec/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void codec_decoder_init(codec_decoder *dec, const kumo_codec_decode_options *options,
                        kumo_diag *diag)
{
    dec->diag = diag;
    dec->lenient = options ? options->lenient : 0;
    dec->max_bytes =
        options && options->max_bytes ? options->max_bytes : KUMO_CODEC_DEFAULT_MAX_BYTES;
    dec->max_depth =
        options && options->max_depth > 0 ? options->max_depth : KUMO_CODEC_DEFAULT_MAX_DEPTH;
    if (dec->max_depth > CODEC_DEPTH_CEILING)
        dec->max_depth = CODEC_DEPTH_CEILING;
}

/* ---- paths and errors --------------------------------------------------- */

char *codec_path_format(const codec_path *path)
{
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    size_t depth = 0;
    for (const codec_path *p = path; p != NULL; p = p->parent)
        depth++;
    const codec_path *small[64];
    const codec_path **steps = depth <= 64 ? small : malloc(depth * sizeof(*steps));
    if (steps == NULL)
        return NULL;
    size_t i = depth;
    for (const codec_path *p = path; p != NULL; p = p->parent)
        steps[--i] = p;
    kumo_error err = KUMO_ERROR_OK;
    for (i = 0; i < depth && err == KUMO_ERROR_OK; i++) {
        const codec_path *p = steps[i];
        if (p->kind == CODEC_PATH_INDEX) {
            char num[32];
            num[0] = '[';
            size_t n = 1 + codec_format_uint64(num + 1, p->index);
            num[n++] = ']';
            err = kumo_codec_buffer_append(&out, num, n);
        } else {
            if (out.len > 0)
                err = kumo_codec_buffer_append(&out, ".", 1);
            if (err == KUMO_ERROR_OK)
                err = kumo_codec_buffer_append(&out, p->name, p->len);
        }
    }
    if (steps != small)
        free(steps);
    if (err == KUMO_ERROR_OK && out.len == 0)
        err = kumo_codec_buffer_append(&out, "(root)", 6);
    if (err != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&out);
        return NULL;
    }
    return kumo_codec_buffer_take(&out, NULL);
}

/* The offending value as it appears in a cause: strings quoted, other scalars
 * as written, containers as [...] / {...}. malloc'd. */
static char *scalar_print(const codec_scalar *s)
{
    enum { MAX_SHOWN = 64 };
    switch (s->type) {
    case KUMO_VALUE_NULL:
        return strdup("null");
    case KUMO_VALUE_BOOL:
        if (s->text == NULL)
            return strdup(s->boolean ? "true" : "false");
        break;
    case KUMO_VALUE_ARRAY:
        return strdup("[...]");
    case KUMO_VALUE_OBJECT:
        return strdup("{...}");
    case KUMO_VALUE_NUMBER:
    case KUMO_VALUE_STRING:
        break;
    }
    size_t len = s->len;
    int cut = 0;
    if (len > MAX_SHOWN) {
        len = MAX_SHOWN;
        while (len > 0 && ((unsigned char)s->text[len] & 0xC0) == 0x80)
            len--;
        cut = 1;
    }
    if (s->type != KUMO_VALUE_STRING) {
        char *out = malloc(len + 4);
        if (out == NULL)
            return NULL;
        memcpy(out, s->text, len);
        memcpy(out + len, cut ? "..." : "", cut ? 4 : 1);
        return out;
    }
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    if (codec_json_escape(&buf, s->text, len) != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&buf);
        return strdup("\"(invalid UTF-8)\"");
    }
    if (cut) {
        buf.len--; /* reopen the quote */
        if (kumo_codec_buffer_append(&buf, "...\"", 4) != KUMO_ERROR_OK) {
            kumo_codec_buffer_fini(&buf);
            return NULL;
        }
    }
    codec_buffer_terminate(&buf);
    return kumo_codec_buffer_take(&buf, NULL);
}

kumo_error codec_fail_nomem(const codec_decoder *dec)
{
    return kumo_diag_set(dec->diag, KUMO_ERROR_NOMEM, "out of memory while decoding");
}

kumo_error codec_fail(const codec_decoder *dec, kumo_cause_type type, const codec_path *path,
                      const codec_scalar *value, const char *fmt, ...)
{
    kumo_diag *diag = dec->diag;
    if (diag == NULL)
        return KUMO_ERROR_INVALID;
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    char *field = codec_path_format(path);
    char *printed = value ? scalar_print(value) : NULL;
    kumo_diag_fini(diag);
    if (field == NULL || (value != NULL && printed == NULL) ||
        kumo_diag_add_cause(diag, type, field, printed, "%s", message) != KUMO_ERROR_OK) {
        free(field);
        free(printed);
        return codec_fail_nomem(dec);
    }
    free(field);
    free(printed);
    char line[sizeof(diag->message)];
    kumo_diag_format_cause(&diag->causes[0], line, sizeof(line));
    return kumo_diag_set(diag, KUMO_ERROR_INVALID, "%s", line);
}

kumo_error codec_fail_depth(const codec_decoder *dec, const codec_path *path)
{
    char *field = codec_path_format(path);
    kumo_diag_set(dec->diag, KUMO_ERROR_TOO_DEEP, "nesting deeper than %d levels at %s",
                  dec->max_depth, field ? field : "?");
    free(field);
    return KUMO_ERROR_TOO_DEEP;
}

kumo_error codec_fail_shape(const codec_decoder *dec, const codec_path *path, const codec_scalar *s,
                            const char *expected)
{
    return codec_fail(dec, KUMO_CAUSE_INVALID, path, s, "expected %s", expected);
}

/* ---- building messages -------------------------------------------------- */

ProtobufCMessage *codec_message_new(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = malloc(desc->sizeof_message);
    if (m != NULL)
        desc->message_init(m);
    return m;
}

static size_t element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 8;
}

void *codec_repeated_append(ProtobufCMessage *message, const ProtobufCFieldDescriptor *field)
{
    size_t *count = (size_t *)((char *)message + field->quantifier_offset);
    void **array = (void **)((char *)message + field->offset);
    size_t size = element_size(field->type);
    size_t n = *count;
    /* Capacity is implied by the count: 4, then powers of two. */
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        size_t cap = n == 0 ? 4 : n * 2;
        if (cap > SIZE_MAX / size)
            return NULL;
        void *grown = realloc(*array, cap * size);
        if (grown == NULL)
            return NULL;
        *array = grown;
    }
    void *slot = (char *)*array + n * size;
    memset(slot, 0, size);
    *count = n + 1;
    return slot;
}

kumo_error codec_seen_init(codec_seen *seen, const codec_type *type)
{
    memset(seen->small, 0, sizeof(seen->small));
    seen->bits = seen->small;
    if (type->field_count > 64 * 4) {
        seen->bits = calloc((type->field_count + 63) / 64, sizeof(uint64_t));
        if (seen->bits == NULL)
            return KUMO_ERROR_NOMEM;
    }
    return KUMO_ERROR_OK;
}

void codec_seen_fini(codec_seen *seen)
{
    if (seen->bits != seen->small)
        free(seen->bits);
    seen->bits = seen->small;
}

kumo_error codec_member_begin(const codec_decoder *dec, const codec_field *field,
                              const ProtobufCMessage *message, codec_seen *seen,
                              const codec_path *path)
{
    size_t index = (size_t)(field->desc - message->descriptor->fields);
    uint64_t bit = (uint64_t)1 << (index % 64);
    if (seen->bits[index / 64] & bit)
        return codec_fail(dec, KUMO_CAUSE_DUPLICATE, path, NULL, "field given more than once");
    seen->bits[index / 64] |= bit;
    if (field->oneof) {
        uint32_t set = *(const uint32_t *)((const char *)message + field->desc->quantifier_offset);
        if (set != 0 && set != field->desc->id) {
            const codec_field *fields = field - index; /* parallel to descriptor->fields */
            const char *other = "?";
            for (unsigned i = 0; i < message->descriptor->n_fields; i++)
                if (fields[i].desc->id == set)
                    other = fields[i].json_name;
            return codec_fail(dec, KUMO_CAUSE_FORBIDDEN, path, NULL,
                              "only one of \"%s\" and \"%s\" may be set (oneof)", other,
                              field->json_name);
        }
    }
    return KUMO_ERROR_OK;
}

void codec_member_commit(const codec_field *field, ProtobufCMessage *message)
{
    if (field->oneof)
        *(uint32_t *)((char *)message + field->desc->quantifier_offset) = field->desc->id;
    else if (field->has_flag)
        *(protobuf_c_boolean *)((char *)message + field->desc->quantifier_offset) = 1;
}

kumo_error codec_member_unknown(const codec_decoder *dec, const codec_path *parent,
                                const char *name, size_t len)
{
    if (dec->lenient)
        return KUMO_ERROR_OK;
    codec_path here = {parent, CODEC_PATH_FIELD, name, len, 0};
    int shown = len > 100 ? 100 : (int)len;
    return codec_fail(dec, KUMO_CAUSE_UNKNOWN, &here, NULL, "unknown field \"%.*s\"", shown, name);
}

/* ---- scalars -------------------------------------------------------------- */

/* Can the token hold integer text? */
static int integer_text(const codec_scalar *s)
{
    return s->type == KUMO_VALUE_NUMBER || s->type == KUMO_VALUE_STRING;
}

static kumo_error decode_signed(const codec_decoder *dec, const codec_scalar *s, int64_t lo,
                                int64_t hi, const char *type_name, int64_t *out,
                                const codec_path *path)
{
    if (!integer_text(s))
        return codec_fail_shape(dec, path, s, "an integer");
    int r = codec_parse_int64(s->text, s->len, out);
    if (r == 0)
        return codec_fail_shape(dec, path, s, "an integer");
    if (r < 0 || *out < lo || *out > hi)
        return codec_fail(dec, KUMO_CAUSE_INVALID, path, s, "out of range for %s (%lld..%lld)",
                          type_name, (long long)lo, (long long)hi);
    return KUMO_ERROR_OK;
}

static kumo_error decode_unsigned(const codec_decoder *dec, const codec_scalar *s, uint64_t hi,
                                  const char *type_name, uint64_t *out, const codec_path *path)
{
    if (!integer_text(s))
        return codec_fail_shape(dec, path, s, "an unsigned integer");
    int r;
    if (s->len > 0 && s->text[0] == '-') {
        int64_t v;
        r = codec_parse_int64(s->text, s->len, &v);
        if (r == 0)
            return codec_fail_shape(dec, path, s, "an unsigned integer");
        if (v == 0) {
            *out = 0;
            return KUMO_ERROR_OK;
        }
        r = -1;
    } else {
        r = codec_parse_uint64(s->text, s->len, out);
        if (r == 0)
            return codec_fail_shape(dec, path, s, "an unsigned integer");
    }
    if (r < 0 || *out > hi)
        return codec_fail(dec, KUMO_CAUSE_INVALID, path, s, "out of range for %s (0..%llu)",
                          type_name, (unsigned long long)hi);
    return KUMO_ERROR_OK;
}

static kumo_error decode_double(const codec_decoder *dec, const codec_scalar *s, int is_float,
                                double *out, const codec_path *path)
{
    const char *expected = "a number, \"NaN\", \"Infinity\" or \"-Infinity\"";
    if (s->type == KUMO_VALUE_STRING) {
        if (s->len == 3 && memcmp(s->text, "NaN", 3) == 0) {
            *out = NAN;
            return KUMO_ERROR_OK;
        }
        if (s->len == 8 && memcmp(s->text, "Infinity", 8) == 0) {
            *out = INFINITY;
            return KUMO_ERROR_OK;
        }
        if (s->len == 9 && memcmp(s->text, "-Infinity", 9) == 0) {
            *out = -INFINITY;
            return KUMO_ERROR_OK;
        }
    } else if (s->type != KUMO_VALUE_NUMBER) {
        return codec_fail_shape(dec, path, s, expected);
    }
    if (!codec_parse_double(s->text, s->len, out))
        return codec_fail_shape(dec, path, s, expected);
    /* doubles from 2^128 - 2^103 up round to infinity as floats */
    if (isinf(*out) || (is_float && fabs(*out) >= 0x1.ffffffp127))
        return codec_fail(dec, KUMO_CAUSE_INVALID, path, s, "out of range for %s",
                          is_float ? "float" : "double");
    return KUMO_ERROR_OK;
}

static const ProtobufCEnumValue *enum_by_name(const ProtobufCEnumDescriptor *e, const char *name,
                                              size_t len)
{
    unsigned lo = 0, hi = e->n_value_names;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const char *candidate = e->values_by_name[mid].name;
        int c = strncmp(candidate, name, len);
        if (c == 0)
            c = candidate[len] == '\0' ? 0 : 1;
        if (c == 0)
            return &e->values[e->values_by_name[mid].index];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static kumo_error decode_enum(const codec_decoder *dec, const ProtobufCEnumDescriptor *e,
                              const codec_scalar *s, int32_t *out, const codec_path *path)
{
    if (s->type == KUMO_VALUE_NUMBER) {
        int64_t v;
        kumo_error err = decode_signed(dec, s, INT32_MIN, INT32_MAX, "an enum", &v, path);
        if (err == KUMO_ERROR_OK)
            *out = (int32_t)v;
        return err;
    }
    if (s->type == KUMO_VALUE_STRING) {
        const ProtobufCEnumValue *v = enum_by_name(e, s->text, s->len);
        if (v != NULL) {
            *out = v->value;
            return KUMO_ERROR_OK;
        }
    }
    char supported[400];
    size_t used = 0;
    supported[0] = '\0';
    for (unsigned i = 0; i < e->n_values && used < sizeof(supported); i++) {
        int n = snprintf(supported + used, sizeof(supported) - used, "%s\"%s\"", i ? ", " : "",
                         e->values[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return codec_fail(dec, KUMO_CAUSE_UNSUPPORTED, path, s, "supported values: %s", supported);
}

static kumo_error store_string(const codec_decoder *dec, const ProtobufCFieldDescriptor *field,
                               const char *text, size_t len, char **dest)
{
    if (len == 0 && field->label != PROTOBUF_C_LABEL_REPEATED && field->default_value != NULL) {
        *dest = (char *)field->default_value;
        return KUMO_ERROR_OK;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return codec_fail_nomem(dec);
    memcpy(copy, text, len);
    copy[len] = '\0';
    *dest = copy;
    return KUMO_ERROR_OK;
}

/* A number field of any width: range-checked, then stored in its C type. */
static kumo_error decode_number(const codec_decoder *dec, const ProtobufCFieldDescriptor *field,
                                const codec_scalar *s, void *dest, const codec_path *path)
{
    int64_t i64;
    uint64_t u64;
    double d;
    kumo_error err;
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        err = decode_signed(dec, s, INT32_MIN, INT32_MAX, "int32", &i64, path);
        if (err == KUMO_ERROR_OK)
            *(int32_t *)dest = (int32_t)i64;
        return err;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        err = decode_unsigned(dec, s, UINT32_MAX, "uint32", &u64, path);
        if (err == KUMO_ERROR_OK)
            *(uint32_t *)dest = (uint32_t)u64;
        return err;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        err = decode_signed(dec, s, INT64_MIN, INT64_MAX, "int64", &i64, path);
        if (err == KUMO_ERROR_OK)
            *(int64_t *)dest = i64;
        return err;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        err = decode_unsigned(dec, s, UINT64_MAX, "uint64", &u64, path);
        if (err == KUMO_ERROR_OK)
            *(uint64_t *)dest = u64;
        return err;
    case PROTOBUF_C_TYPE_FLOAT:
        err = decode_double(dec, s, 1, &d, path);
        if (err == KUMO_ERROR_OK)
            *(float *)dest = (float)d;
        return err;
    default: /* PROTOBUF_C_TYPE_DOUBLE: the caller passes only number types */
        err = decode_double(dec, s, 0, &d, path);
        if (err == KUMO_ERROR_OK)
            *(double *)dest = d;
        return err;
    }
}

/* true or false; a map key (always a string in JSON) may also be "true" or "false". */
static kumo_error decode_bool(const codec_decoder *dec, const codec_scalar *s, int map_key,
                              protobuf_c_boolean *dest, const codec_path *path)
{
    if (s->type == KUMO_VALUE_BOOL) {
        *dest = s->boolean != 0;
        return KUMO_ERROR_OK;
    }
    if (map_key && s->type == KUMO_VALUE_STRING && s->len == 4 && memcmp(s->text, "true", 4) == 0) {
        *dest = 1;
        return KUMO_ERROR_OK;
    }
    if (map_key && s->type == KUMO_VALUE_STRING && s->len == 5 &&
        memcmp(s->text, "false", 5) == 0) {
        *dest = 0;
        return KUMO_ERROR_OK;
    }
    return codec_fail_shape(dec, path, s, "true or false");
}

static kumo_error decode_bytes(const codec_decoder *dec, const codec_scalar *s,
                               ProtobufCBinaryData *bd, const codec_path *path)
{
    if (s->type != KUMO_VALUE_STRING)
        return codec_fail_shape(dec, path, s, "a base64 string");
    int r = codec_base64_decode(s->text, s->len, &bd->data, &bd->len);
    if (r < 0)
        return codec_fail_nomem(dec);
    if (r == 0)
        return codec_fail_shape(dec, path, s, "a base64 string");
    return KUMO_ERROR_OK;
}

kumo_error codec_scalar_decode(const codec_decoder *dec, const ProtobufCFieldDescriptor *field,
                               const codec_scalar *s, int map_key, void *dest,
                               const codec_path *path)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_BOOL:
        return decode_bool(dec, s, map_key, (protobuf_c_boolean *)dest, path);
    case PROTOBUF_C_TYPE_ENUM:
        return decode_enum(dec, field->descriptor, s, (int32_t *)dest, path);
    case PROTOBUF_C_TYPE_STRING:
        if (s->type != KUMO_VALUE_STRING && !(s->plain && s->text != NULL))
            return codec_fail_shape(dec, path, s, "a string");
        if (memchr(s->text, '\0', s->len) != NULL)
            return codec_fail(dec, KUMO_CAUSE_INVALID, path, s, "must not contain a NUL character");
        return store_string(dec, field, s->text, s->len, (char **)dest);
    case PROTOBUF_C_TYPE_BYTES:
        return decode_bytes(dec, s, (ProtobufCBinaryData *)dest, path);
    case PROTOBUF_C_TYPE_MESSAGE:
        return codec_fail_shape(dec, path, s, "an object");
    default:
        return decode_number(dec, field, s, dest, path);
    }
}

kumo_error codec_time_decode(const codec_decoder *dec, const codec_type *time_type,
                             const codec_scalar *s, ProtobufCMessage **out, const codec_path *path)
{
    int64_t seconds;
    int32_t nanos;
    const char *expected = "an RFC 3339 time such as \"2024-05-01T12:00:00Z\"";
    if (s->type != KUMO_VALUE_STRING || !codec_time_parse(s->text, s->len, &seconds, &nanos))
        return codec_fail_shape(dec, path, s, expected);
    ProtobufCMessage *m = codec_message_new(time_type->desc);
    if (m == NULL)
        return codec_fail_nomem(dec);
    *(int64_t *)((char *)m + time_type->time_seconds_offset) = seconds;
    *(int32_t *)((char *)m + time_type->time_nanos_offset) = nanos;
    *out = m;
    return KUMO_ERROR_OK;
}

/* ---- duplicate keys ----------------------------------------------------- */

static size_t key_hash(const char *text, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

void codec_keyset_init(codec_keyset *set)
{
    memset(set, 0, sizeof(*set));
}

void codec_keyset_fini(codec_keyset *set)
{
    free(set->table);
    for (size_t i = 0; i < set->owned_count; i++)
        free(set->owned[i]);
    free(set->owned);
    codec_keyset_init(set);
}

static int table_insert(struct codec_key_ref *table, size_t mask, const char *text, size_t len)
{
    size_t i = key_hash(text, len) & mask;
    while (table[i].text != NULL) {
        if (table[i].len == len && memcmp(table[i].text, text, len) == 0)
            return 0;
        i = (i + 1) & mask;
    }
    table[i].text = text;
    table[i].len = len;
    return 1;
}

int codec_keyset_add(codec_keyset *set, const char *text, size_t len)
{
    if (text == NULL)
        text = "";
    if (set->table == NULL) {
        for (size_t i = 0; i < set->count; i++)
            if (set->small[i].len == len && memcmp(set->small[i].text, text, len) == 0)
                return 0;
        if (set->count < 8) {
            set->small[set->count].text = text;
            set->small[set->count].len = len;
            set->count++;
            return 1;
        }
    }
    if (set->table == NULL || (set->count + 1) * 2 > set->table_mask + 1) {
        size_t size = set->table ? (set->table_mask + 1) * 2 : 32;
        struct codec_key_ref *table = calloc(size, sizeof(*table));
        if (table == NULL)
            return -1;
        if (set->table == NULL) {
            for (size_t i = 0; i < set->count; i++)
                table_insert(table, size - 1, set->small[i].text, set->small[i].len);
        } else {
            for (size_t i = 0; i <= set->table_mask; i++)
                if (set->table[i].text != NULL)
                    table_insert(table, size - 1, set->table[i].text, set->table[i].len);
        }
        free(set->table);
        set->table = table;
        set->table_mask = size - 1;
    }
    int r = table_insert(set->table, set->table_mask, text, len);
    if (r == 1)
        set->count++;
    return r;
}

int codec_keyset_add_copy(codec_keyset *set, const char *text, size_t len)
{
    if (set->owned_count == set->owned_cap) {
        size_t cap = set->owned_cap ? set->owned_cap * 2 : 8;
        char **grown = realloc(set->owned, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        set->owned = grown;
        set->owned_cap = cap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    int r = codec_keyset_add(set, copy, len);
    if (r == 1)
        set->owned[set->owned_count++] = copy;
    else
        free(copy);
    return r;
}

const char *codec_map_key_text(const codec_type *entry_type, const ProtobufCMessage *entry,
                               char *buf, size_t *len)
{
    const ProtobufCFieldDescriptor *kf = entry_type->map_key->desc;
    const void *slot = (const char *)entry + kf->offset;
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        s = s ? s : "";
        *len = strlen(s);
        return s;
    }
    case PROTOBUF_C_TYPE_BOOL:
        *len = *(const protobuf_c_boolean *)slot ? 4 : 5;
        return *(const protobuf_c_boolean *)slot ? "true" : "false";
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *len = codec_format_int64(buf, *(const int32_t *)slot);
        return buf;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *len = codec_format_uint64(buf, *(const uint32_t *)slot);
        return buf;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *len = codec_format_int64(buf, *(const int64_t *)slot);
        return buf;
    default:
        *len = codec_format_uint64(buf, *(const uint64_t *)slot);
        return buf;
    }
}

kumo_error codec_map_key_check(const codec_decoder *dec, codec_keyset *keys,
                               const codec_type *entry_type, const ProtobufCMessage *entry,
                               const codec_path *key_path)
{
    char buf[32];
    size_t len;
    const char *text = codec_map_key_text(entry_type, entry, buf, &len);
    int r =
        text == buf ? codec_keyset_add_copy(keys, text, len) : codec_keyset_add(keys, text, len);
    if (r < 0)
        return codec_fail_nomem(dec);
    if (r == 0)
        return codec_fail(dec, KUMO_CAUSE_DUPLICATE, key_path, NULL, "duplicate map key");
    return KUMO_ERROR_OK;
}

kumo_error codec_repeated_add_message(const codec_decoder *dec, ProtobufCMessage *message,
                                      const ProtobufCFieldDescriptor *field, ProtobufCMessage *item)
{
    ProtobufCMessage **slot = codec_repeated_append(message, field);
    if (slot == NULL) {
        protobuf_c_message_free_unpacked(item, NULL);
        return codec_fail_nomem(dec);
    }
    *slot = item;
    return KUMO_ERROR_OK;
}
