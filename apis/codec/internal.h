/*
 * internal.h - what the codec's own files share; nothing here is public.
 *
 * The codec is layered:
 *   fields.c      per-descriptor tables (JSON names, hashed lookup, map and
 *                 Time detection), built once and shared read-only;
 *   scalar.c      text forms of scalars: integers, doubles, base64, RFC 3339,
 *                 UTF-8 checks, JSON string escaping;
 *   decode.c      the one place that turns a scalar token into a field value,
 *                 plus the message-building helpers and error reporting that
 *                 both decoders (the direct JSON decoder and the value-tree
 *                 path) share, so they cannot disagree;
 *   json_lex.c    the JSON tokenizer both JSON parsers use;
 *   json_parse.c  JSON text -> value tree, or only checked (no tree);
 *   json_decode.c JSON text -> message, directly (the fast path);
 *   json_encode.c message -> JSON text;
 *   message.c     value tree <-> message, protobuf wire format, clone, free;
 *   value.c       the value tree: destroy, clone, equal, merge patch, to JSON;
 *   yaml.c        YAML stream -> value trees, message -> YAML;
 *   buffer.c      kumo_codec_buffer.
 *
 * Invariants: a message under construction is always freeable by
 * protobuf_c_message_free_unpacked(), so every error path just frees it.
 */
#ifndef KUMO_CODEC_INTERNAL_H
#define KUMO_CODEC_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "apis/codec/codec.h"

/* Hard ceiling on max_depth: the decoders recurse once per nesting level. */
#define CODEC_DEPTH_CEILING 1000

/* ---- buffer (buffer.c) ------------------------------------------------- */

/* Makes room for `extra` more bytes plus the terminating NUL. */
kumo_error codec_buffer_grow(kumo_codec_buffer *buf, size_t extra);

static inline kumo_error codec_buffer_reserve(kumo_codec_buffer *buf, size_t extra)
{
    if (buf->cap - buf->len > extra)
        return KUMO_ERROR_OK;
    return codec_buffer_grow(buf, extra);
}

/* Appends without a capacity check: only after codec_buffer_reserve. */
static inline void codec_buffer_put(kumo_codec_buffer *buf, const void *data, size_t len)
{
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
}

static inline void codec_buffer_put_char(kumo_codec_buffer *buf, char c)
{
    buf->data[buf->len++] = c;
}

/* Writes the NUL after the data (there is always room once allocated). */
static inline void codec_buffer_terminate(kumo_codec_buffer *buf)
{
    if (buf->cap > buf->len)
        buf->data[buf->len] = '\0';
}

/* ---- per-descriptor tables (fields.c) ---------------------------------- */

typedef struct codec_type codec_type;

typedef struct codec_field {
    const ProtobufCFieldDescriptor *desc;
    const char *json_name; /* lowerCamelCase */
    size_t json_name_len;
    char *key_compact; /* "\"jsonName\":" */
    size_t key_compact_len;
    const codec_type *message; /* message fields: the type (for maps, the entry type) */
    unsigned char repeated;    /* LABEL_REPEATED and not a map */
    unsigned char map;         /* a map<K,V> field */
    unsigned char oneof;       /* member of a oneof: the case lives at quantifier_offset */
    unsigned char has_flag;    /* proto2 optional scalar: has_ at quantifier_offset */
} codec_field;

typedef struct codec_name_slot {
    const char *name; /* NULL: empty slot */
    uint32_t len;
    uint32_t index;
} codec_name_slot;

struct codec_type {
    const ProtobufCMessageDescriptor *desc;
    codec_field *fields; /* same order as desc->fields */
    unsigned field_count;
    int is_time; /* kumo.v1alpha1.Time */
    unsigned time_seconds_offset, time_nanos_offset;
    const codec_field *map_key;   /* map entry types: field 1 */
    const codec_field *map_value; /* map entry types: field 2 */
    codec_name_slot *slots;       /* open addressing over JSON and proto names */
    uint32_t slot_mask;
    codec_type *registry_next;
};

/* The table of `desc` and of every type reachable from it; NULL when out of memory. */
const codec_type *codec_type_get(const ProtobufCMessageDescriptor *desc);

static inline uint32_t codec_name_hash(const char *name, size_t len)
{
    uint32_t h = (uint32_t)len * 0x9E3779B1u;
    if (len > 0) {
        h ^= (uint32_t)(unsigned char)name[0] | (uint32_t)(unsigned char)name[len - 1] << 8 |
             (uint32_t)(unsigned char)name[len / 2] << 16 |
             (uint32_t)(unsigned char)name[len / 3] << 24;
        h *= 0x85EBCA6Bu;
        h ^= h >> 15;
    }
    return h;
}

static inline const codec_field *codec_type_find(const codec_type *type, const char *name,
                                                 size_t len)
{
    uint32_t i = codec_name_hash(name, len) & type->slot_mask;
    for (;;) {
        const codec_name_slot *slot = &type->slots[i];
        if (slot->name == NULL)
            return NULL;
        if (slot->len == len && memcmp(slot->name, name, len) == 0)
            return &type->fields[slot->index];
        i = (i + 1) & type->slot_mask;
    }
}

/* ---- text forms of scalars (scalar.c) ---------------------------------- */

/* Nonzero when any of 8 bytes is < 0x20, '"', '\\' or >= 0x80 (exact as a boolean). */
static inline uint64_t codec_word_needs_care(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t quote = x ^ (ones * '"');
    uint64_t backslash = x ^ (ones * '\\');
    uint64_t control = (x - ones * 0x20) & ~x;
    uint64_t q = (quote - ones) & ~quote;
    uint64_t b = (backslash - ones) & ~backslash;
    return (control | q | b | x) & high;
}

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
int codec_utf8_valid(const char *text, size_t len);
/* Length of the valid UTF-8 sequence starting at p (p < end), 0 when invalid. */
size_t codec_utf8_sequence(const unsigned char *p, const unsigned char *end);

/* Appends `text` as a JSON string literal with quotes. */
kumo_error codec_json_escape(kumo_codec_buffer *out, const char *text, size_t len);

/* Decimal text of integers; returns the length written (buf >= 21 bytes). */
size_t codec_format_int64(char *buf, int64_t value);
size_t codec_format_uint64(char *buf, uint64_t value);
/* Shortest text that reads back as the same double (buf >= 32 bytes); finite only. */
size_t codec_format_double(char *buf, double value);
size_t codec_format_float(char *buf, float value);

/* Integer syntax "-?[0-9]+" (no leading '+'); 0 on bad syntax, -1 on overflow, 1 ok. */
int codec_parse_int64(const char *text, size_t len, int64_t *out);
int codec_parse_uint64(const char *text, size_t len, uint64_t *out);
/* JSON number syntax to double; 0 on bad syntax, 1 ok (inf on overflow is reported as ok). */
int codec_parse_double(const char *text, size_t len, double *out);
/* JSON number grammar check: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
int codec_number_syntax_valid(const char *text, size_t len);

/* Base64: encoded size of n bytes; encode into dst (no NUL). */
size_t codec_base64_encoded_size(size_t n);
void codec_base64_encode(char *dst, const uint8_t *src, size_t n);
/* Standard or URL-safe alphabet, padding optional. *out is malloc'd (NULL when n==0).
 * Returns 1 ok, 0 invalid text, -1 out of memory. */
int codec_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len);

/* RFC 3339 <-> seconds/nanos. Parse returns 1 ok, 0 invalid. Format needs buf >= 40. */
int codec_time_parse(const char *text, size_t len, int64_t *seconds, int32_t *nanos);
/* Returns the length, or 0 when out of range (year 1..9999, nanos 0..999999999). */
size_t codec_time_format(char *buf, int64_t seconds, int32_t nanos);

/* ---- decoding shared by both decoders (decode.c) ----------------------- */

/* A scalar token as either decoder sees it. */
typedef struct codec_scalar {
    kumo_value_type type; /* ARRAY/OBJECT: a composite where a scalar was expected */
    int boolean;
    int plain;        /* YAML plain scalar: string fields accept its text */
    const char *text; /* NUMBER, STRING; BOOL of a plain scalar: its source text */
    size_t len;
} codec_scalar;

enum { CODEC_PATH_FIELD, CODEC_PATH_INDEX, CODEC_PATH_KEY };

/* One step of a field path, linked towards the root and living on the stack. */
typedef struct codec_path {
    const struct codec_path *parent;
    int kind;
    const char *name; /* FIELD: JSON name; KEY: map key text */
    size_t len;
    size_t index; /* INDEX */
} codec_path;

typedef struct codec_decoder {
    kumo_diag *diag;
    int lenient;
    int max_depth;
    size_t max_bytes;
} codec_decoder;

/* Resolves defaults and the depth ceiling. */
void codec_decoder_init(codec_decoder *dec, const kumo_codec_decode_options *options,
                        kumo_diag *diag);

/* "spec.groups[1].size"; malloc'd, NULL when out of memory. */
char *codec_path_format(const codec_path *path);

/* Records an invalid-input error with one cause and returns KUMO_ERROR_INVALID
 * (KUMO_ERROR_NOMEM when even that fails). `value` may be NULL. */
kumo_error codec_fail(const codec_decoder *dec, kumo_cause_type type, const codec_path *path,
                      const codec_scalar *value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
kumo_error codec_fail_depth(const codec_decoder *dec, const codec_path *path);
kumo_error codec_fail_nomem(const codec_decoder *dec);

/* A fresh message laid out as protobuf_c_message_unpack would; NULL when out of memory. */
ProtobufCMessage *codec_message_new(const ProtobufCMessageDescriptor *desc);

/* Appends one zeroed element to a repeated field; NULL when out of memory. */
void *codec_repeated_append(ProtobufCMessage *message, const ProtobufCFieldDescriptor *field);

/* Which fields an object being decoded has already given. */
typedef struct codec_seen {
    uint64_t small[4];
    uint64_t *bits;
} codec_seen;

kumo_error codec_seen_init(codec_seen *seen, const codec_type *type);
void codec_seen_fini(codec_seen *seen);

/* Before decoding member `field`: rejects a second value for the same field
 * or a second member of the same oneof. */
kumo_error codec_member_begin(const codec_decoder *dec, const codec_field *field,
                              const ProtobufCMessage *message, codec_seen *seen,
                              const codec_path *path);
/* After a non-null value was stored: sets the oneof case or has_ flag. */
void codec_member_commit(const codec_field *field, ProtobufCMessage *message);

/* Unknown member: an error in strict mode, KUMO_ERROR_OK in lenient mode. */
kumo_error codec_member_unknown(const codec_decoder *dec, const codec_path *parent,
                                const char *name, size_t len);

/* Stores scalar `s` into *dest, the storage of `field` (a struct member or an
 * array slot). `map_key`: the text came from a JSON object key. Null is an
 * error here; callers handle null members before. */
kumo_error codec_scalar_decode(const codec_decoder *dec, const ProtobufCFieldDescriptor *field,
                               const codec_scalar *s, int map_key, void *dest,
                               const codec_path *path);

/* A Time from an RFC 3339 string scalar. */
kumo_error codec_time_decode(const codec_decoder *dec, const codec_type *time_type,
                             const codec_scalar *s, ProtobufCMessage **out, const codec_path *path);

/* "expected an object" etc. for a value of the wrong shape. */
kumo_error codec_fail_shape(const codec_decoder *dec, const codec_path *path, const codec_scalar *s,
                            const char *expected);

/* Duplicate detection over the keys of one map or JSON object. */
typedef struct codec_keyset {
    size_t count;
    struct codec_key_ref {
        const char *text;
        size_t len;
    } small[8], *table;
    size_t table_mask;
    char **owned; /* copies made by codec_keyset_add_copy */
    size_t owned_count, owned_cap;
} codec_keyset;

void codec_keyset_init(codec_keyset *set);
void codec_keyset_fini(codec_keyset *set);
/* 1 added, 0 already present, -1 out of memory. `text` must outlive the set. */
int codec_keyset_add(codec_keyset *set, const char *text, size_t len);

/* Like codec_keyset_add, storing a copy of text owned by the set. */
int codec_keyset_add_copy(codec_keyset *set, const char *text, size_t len);

/* Canonical text of a map entry's key: the string itself, or digits / true / false
 * written into buf (>= 32 bytes). */
const char *codec_map_key_text(const codec_type *entry_type, const ProtobufCMessage *entry,
                               char *buf, size_t *len);

/* Appends `item` to a repeated message field, taking ownership (freed on failure). */
kumo_error codec_repeated_add_message(const codec_decoder *dec, ProtobufCMessage *message,
                                      const ProtobufCFieldDescriptor *field,
                                      ProtobufCMessage *item);

/* After a map entry's key was stored: rejects a key the map already holds. */
kumo_error codec_map_key_check(const codec_decoder *dec, codec_keyset *keys,
                               const codec_type *entry_type, const ProtobufCMessage *entry,
                               const codec_path *key_path);

/* Pointer to the storage of `field` inside `message`. */
static inline void *codec_member_ptr(const ProtobufCMessage *message,
                                     const ProtobufCFieldDescriptor *field)
{
    return (char *)message + field->offset;
}

/* ---- JSON tokenizer (json_lex.c) --------------------------------------- */

typedef struct codec_lexer {
    const char *start, *p, *end;
    const codec_decoder *dec;
    char *scratch; /* decoded strings with escapes; reused */
    size_t scratch_cap;
    const char *line_pos; /* codec_lex_line_of counts lines incrementally */
    int line;
} codec_lexer;

void codec_lexer_init(codec_lexer *lx, const codec_decoder *dec, const char *text, size_t len);
void codec_lexer_fini(codec_lexer *lx);

static inline void codec_lex_skip_ws(codec_lexer *lx)
{
    const char *p = lx->p, *end = lx->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    lx->p = p;
}

/* KUMO_ERROR_PARSE at `at` with line and column. */
kumo_error codec_lex_fail(codec_lexer *lx, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* lx->p at '"'. The text stays valid until the next string is lexed. `key`:
 * an object key (NUL characters rejected). */
kumo_error codec_lex_string(codec_lexer *lx, int key, const char **text, size_t *len);
/* lx->p at '-' or a digit. */
kumo_error codec_lex_number(codec_lexer *lx, const char **text, size_t *len);
/* Any scalar at lx->p: string, number, true, false, null. A '{' or '[' gives
 * type OBJECT/ARRAY without consuming it. */
kumo_error codec_lex_scalar(codec_lexer *lx, codec_scalar *out);
/* KUMO_ERROR_TOO_DEEP at `at`. */
kumo_error codec_lex_fail_depth(codec_lexer *lx, const char *at);
/* 1-based line of a position; cheap when positions only move forward. */
int codec_lex_line_of(codec_lexer *lx, const char *at);

/* ---- JSON tree parser (json_parse.c) ----------------------------------- */

/* Parses one value at lx->p into *out, counting `depth` levels above it.
 * out == NULL: only checks it (same errors), building nothing. */
kumo_error codec_json_parse_value(codec_lexer *lx, int depth, kumo_value **out);
/* Checks a whole JSON text as kumo_codec_value_parse_json would parse it. */
kumo_error codec_json_check(const codec_decoder *dec, const char *text, size_t len);

/* ---- value tree helpers (value.c) -------------------------------------- */

kumo_value *codec_value_new(kumo_value_type type);
/* A STRING or NUMBER node holding a copy of text. */
kumo_value *codec_value_new_text(kumo_value_type type, const char *text, size_t len);
/* Appends to an array / object (key is copied). Returns KUMO_ERROR_NOMEM on failure;
 * the item is owned by the container afterwards in every case. */
kumo_error codec_value_array_push(kumo_value *array, kumo_value *item, size_t *cap);
kumo_error codec_value_object_push(kumo_value *object, const char *key, size_t key_len,
                                   kumo_value *item, size_t *cap);

/* ---- encoding helpers (json_encode.c) ----------------------------------- */

/* Name of an enum value, NULL when the number has none. */
const char *codec_enum_name(const ProtobufCEnumDescriptor *e, int value);

/*
 * The JSON form of one scalar (not bytes, not a message) stored at ptr:
 * NUMBER, BOOL or STRING. Text is in `buf` (>= 48 bytes) or static, or the
 * message's own string. out->plain is 1 when the text needs no escaping.
 * Returns 0 for bytes and messages.
 */
int codec_scalar_text(const ProtobufCFieldDescriptor *fd, const void *ptr, char *buf,
                      codec_scalar *out);

/* ---- message helpers (message.c) ---------------------------------------- */

/* Is `field` written by the encoders (present, or emit_defaults)? */
int codec_field_present(const codec_field *field, const ProtobufCMessage *message,
                        int emit_defaults);

#endif
