/*
 * codec.h - JSON, YAML and protobuf encoding of kumo objects, driven by
 * protobuf-c descriptors: no per-kind code anywhere.
 *
 * The JSON mapping is proto3's, Kubernetes-flavoured:
 *   - field names are the lowerCamelCase of the proto snake_case names;
 *   - enums are written by their value name, exactly as in the .proto;
 *   - map<string,V> fields are JSON objects;
 *   - int64/uint64/sint64/fixed64 are written as strings, and read from
 *     numbers or strings; 32-bit integers are numbers;
 *   - kumo.v1alpha1.Time is an RFC 3339 string ("2026-11-24T10:00:00Z",
 *     fractional seconds when nanos != 0);
 *   - bytes are base64;
 *   - fields at their proto3 default are omitted, except a member of a oneof
 *     whose case is set (a one-member oneof is how kumo marks "present");
 *   - on input, null for a field means "unset"; a field may also be named by
 *     its proto name ("resource_version"); floats and doubles also accept
 *     "NaN", "Infinity", "-Infinity" and numeric strings; every integer is
 *     range-checked for its type.
 *
 * Decoding checks every value against its field's type and reports the field
 * path in the diag as one cause: "spec.groups[1].size", map entries as
 * "metadata.labels.app", the top level as "(root)". Unknown fields are an
 * error in strict mode (the default) and ignored in lenient mode. Every input
 * is bounded: size (max_bytes) and nesting depth (max_depth) are checked
 * before memory is committed, so garbage, 10,000-level nesting or 100 MiB of
 * input end in a clear error, never a crash.
 *
 * Errors of the decoders (diag->message always says what and where):
 *   KUMO_ERROR_TOO_LARGE  len > max_bytes, checked before anything is read;
 *   KUMO_ERROR_TOO_DEEP   objects/arrays (or YAML collections, or protobuf
 *                         messages) nested deeper than max_depth;
 *   KUMO_ERROR_PARSE      malformed text or wire bytes, with line and column
 *                         (JSON, YAML) or byte offset (protobuf); also a key
 *                         given twice in one JSON object or YAML mapping;
 *   KUMO_ERROR_INVALID    well-formed input that does not fit the message,
 *                         with exactly one cause: KUMO_CAUSE_INVALID (wrong
 *                         type or range; value = the offending value as
 *                         written, message = "expected an integer" etc.),
 *                         KUMO_CAUSE_UNSUPPORTED (unknown enum name; the
 *                         message lists the supported values),
 *                         KUMO_CAUSE_UNKNOWN (unknown field, strict mode),
 *                         KUMO_CAUSE_DUPLICATE (a field given under both of
 *                         its names, a map key given twice after conversion
 *                         such as "1" and "01"), KUMO_CAUSE_FORBIDDEN (a
 *                         second member of one oneof);
 *   KUMO_ERROR_NOMEM      out of memory.
 * On error *out is NULL and nothing needs freeing.
 *
 * YAML (libyaml) is parsed to the same generic value tree as JSON and then
 * decoded through the same value->message path; a YAML stream may hold many
 * documents. Plain scalars follow the YAML 1.2 core schema as far as JSON
 * can say it: null, ~ and empty are null; true/false (also True, TRUE,
 * False, FALSE) are booleans; numbers in JSON syntax are numbers; anything
 * else (0x1F, .inf, +1, yes) is a string. Anchors and aliases work (an
 * alias is a copy of its anchor's node; `<<` merge keys add the members a
 * mapping lacks); what aliases add to a stream may not exceed max_bytes
 * (TOO_LARGE, checked before copying: a "billion laughs" document is refused
 * after bounded work and memory). Tags other than the standard
 * !!str/!!int/!!float/!!bool/!!null/!!map/!!seq are refused.
 *
 * Memory: every ProtobufCMessage returned by this module is laid out exactly
 * as protobuf_c_message_unpack() would lay it out (malloc'd strings, arrays
 * and sub-messages; unset strings point at protobuf_c_empty_string), so it is
 * freed with kumo_codec_message_free() (== protobuf_c_message_free_unpacked(m,
 * NULL)), and code elsewhere may modify it the same way it would an unpacked
 * message.
 *
 * Encoders append to the caller's buffer; on error they append nothing. They
 * fail with KUMO_ERROR_INVALID (one cause naming the field) for what JSON
 * cannot carry: a string that is not UTF-8, a Time outside years 1..9999.
 *
 * Thread safety: all functions may be called from any thread concurrently;
 * they share only read-only per-descriptor lookup tables, built once under a
 * mutex the first time a descriptor is used and kept until exit.
 */
#ifndef KUMO_CODEC_H
#define KUMO_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/error/error.h"

/* Defaults of kumo_codec_decode_options. */
#define KUMO_CODEC_DEFAULT_MAX_BYTES ((size_t)16 << 20) /* 16 MiB */
#define KUMO_CODEC_DEFAULT_MAX_DEPTH 100

typedef enum kumo_codec_format {
    KUMO_CODEC_FORMAT_JSON = 0,
    KUMO_CODEC_FORMAT_YAML,
    KUMO_CODEC_FORMAT_PROTOBUF,
} kumo_codec_format;

/* "json", "yaml", "protobuf". */
const char *kumo_codec_format_name(kumo_codec_format format);

/* Passing NULL for options means all defaults (strict). */
typedef struct kumo_codec_decode_options {
    int lenient;      /* 0: unknown fields are an error; 1: unknown fields are ignored */
    size_t max_bytes; /* 0 means KUMO_CODEC_DEFAULT_MAX_BYTES */
    int max_depth;    /* 0 means KUMO_CODEC_DEFAULT_MAX_DEPTH; above 1000 acts as 1000 */
} kumo_codec_decode_options;

/* Passing NULL for options means compact output without defaults. */
typedef struct kumo_codec_encode_options {
    int indent;        /* 0: compact JSON; N: pretty, N spaces per level */
    int emit_defaults; /* 1: also write fields at their default (unset messages as null) */
} kumo_codec_encode_options;

/* A growable byte buffer that encoders append to. Always NUL-terminated
 * (data is a static "" until the first append, so init allocates nothing). */
typedef struct kumo_codec_buffer {
    char *data;
    size_t len;
    size_t cap;
} kumo_codec_buffer;

void kumo_codec_buffer_init(kumo_codec_buffer *buf);
void kumo_codec_buffer_fini(kumo_codec_buffer *buf);
/* Sets len to 0, keeping the allocation. */
void kumo_codec_buffer_reset(kumo_codec_buffer *buf);
kumo_error kumo_codec_buffer_append(kumo_codec_buffer *buf, const void *data, size_t len);
/* Hands the data over to the caller (free() it) and re-initialises buf. */
char *kumo_codec_buffer_take(kumo_codec_buffer *buf, size_t *len_out);

/* ---- the generic value tree (JSON's data model) ---------------------- */

typedef enum kumo_value_type {
    KUMO_VALUE_NULL = 0,
    KUMO_VALUE_BOOL,
    KUMO_VALUE_NUMBER, /* text kept exactly, so int64 values never lose precision */
    KUMO_VALUE_STRING,
    KUMO_VALUE_ARRAY,
    KUMO_VALUE_OBJECT,
} kumo_value_type;

typedef struct kumo_value kumo_value;

typedef struct kumo_value_member {
    char *key;
    kumo_value *value;
} kumo_value_member;

struct kumo_value {
    kumo_value_type type;
    /* YAML plain (unquoted) scalar: a string field accepts its text even when
     * it looks like a number or a bool ("version: 1.10"). */
    int plain_scalar;
    int boolean; /* KUMO_VALUE_BOOL */
    /* KUMO_VALUE_NUMBER and KUMO_VALUE_STRING: NUL-terminated; also the source
     * text of a plain YAML bool or null ("True", "~"); else NULL */
    char *text;
    size_t length;              /* length of text (strings may contain NUL) */
    kumo_value **items;         /* KUMO_VALUE_ARRAY */
    kumo_value_member *members; /* KUMO_VALUE_OBJECT, in input order, keys unique */
    size_t count;               /* items or members */
    int line;                   /* 1-based source line when known, else 0 */
};

/* Parses one JSON text (RFC 8259, strict: no comments, no trailing commas,
 * UTF-8 only, no duplicate keys). *out is owned by the caller
 * (kumo_codec_value_destroy). Errors: TOO_LARGE, TOO_DEEP, PARSE, NOMEM. */
kumo_error kumo_codec_value_parse_json(const char *text, size_t len,
                                       const kumo_codec_decode_options *options, kumo_value **out,
                                       kumo_diag *diag);

/*
 * Parses a YAML stream into one value per non-empty document. *docs_out is a
 * malloc'd array of *count_out values; free with kumo_codec_value_array_destroy.
 * Documents that are empty or null are left out. Errors (TOO_LARGE, TOO_DEEP,
 * PARSE, NOMEM) name the line and column.
 */
kumo_error kumo_codec_value_parse_yaml(const char *text, size_t len,
                                       const kumo_codec_decode_options *options,
                                       kumo_value ***docs_out, size_t *count_out, kumo_diag *diag);

void kumo_codec_value_destroy(kumo_value *value);
void kumo_codec_value_array_destroy(kumo_value **values, size_t count);
/* Deep copy; NULL when out of memory. */
kumo_value *kumo_codec_value_clone(const kumo_value *value);
/* Member `key` of an object value, or NULL (also when value is not an object). */
const kumo_value *kumo_codec_value_get(const kumo_value *object, const char *key);
/* Writes the value as JSON (appends to out; indent as in the encode options).
 * NUMBER text is written as it is. INVALID when a string is not UTF-8. */
kumo_error kumo_codec_value_to_json(const kumo_value *value, int indent, kumo_codec_buffer *out);
/* Structural equality: numbers compare as exact decimals (1 == 1.0 == 1e0,
 * 9007199254740993 != 9007199254740992), object members in any order. */
int kumo_codec_value_equal(const kumo_value *a, const kumo_value *b);

/*
 * JSON Merge Patch (RFC 7386): applies `patch` to *target in place (*target
 * may be replaced, e.g. when patch is not an object). `null` in the patch
 * removes a member.
 */
kumo_error kumo_codec_value_merge_patch(kumo_value **target, const kumo_value *patch,
                                        kumo_diag *diag);

/*
 * JSON Patch (RFC 6902): applies the operations of `patch` (an array) to
 * *target; all or nothing (on error *target is unchanged). Errors:
 * INVALID_ARGUMENT (a malformed operation, a path that does not exist or a
 * failed "test", naming the operation's index), NOMEM.
 */
kumo_error kumo_codec_value_json_patch(kumo_value **target, const kumo_value *patch,
                                       kumo_diag *diag);

/* ---- messages ---------------------------------------------------------- */

/* value tree -> message of type `descriptor`. Errors as listed above, with
 * the field path. *out is freed with kumo_codec_message_free. */
kumo_error kumo_codec_message_from_value(const ProtobufCMessageDescriptor *descriptor,
                                         const kumo_value *value,
                                         const kumo_codec_decode_options *options,
                                         ProtobufCMessage **out, kumo_diag *diag);

/* message -> value tree (what the JSON encoder would write). */
kumo_error kumo_codec_message_to_value(const ProtobufCMessage *message,
                                       const kumo_codec_encode_options *options, kumo_value **out,
                                       kumo_diag *diag);

/*
 * JSON text -> message, directly (no intermediate tree): the fast path.
 * Gives the same message and the same error as kumo_codec_value_parse_json +
 * kumo_codec_message_from_value (on failure the text is re-parsed so that a
 * syntax error anywhere wins over a type error before it, as in the tree path).
 */
kumo_error kumo_codec_json_decode(const ProtobufCMessageDescriptor *descriptor, const char *text,
                                  size_t len, const kumo_codec_decode_options *options,
                                  ProtobufCMessage **out, kumo_diag *diag);

/* message -> JSON text, appended to out. */
kumo_error kumo_codec_json_encode(const ProtobufCMessage *message,
                                  const kumo_codec_encode_options *options, kumo_codec_buffer *out,
                                  kumo_diag *diag);

/* message -> one YAML document (block style, no leading "---"), appended to
 * out. Strings a YAML reader would take for something else ("true", "123",
 * "", "a: b", "no") are quoted; multi-line strings are literal blocks. */
kumo_error kumo_codec_yaml_encode(const ProtobufCMessage *message, kumo_codec_buffer *out,
                                  kumo_diag *diag);

/* Protobuf wire bytes -> message, with the size limit and a clear error on
 * garbage (PARSE with the byte offset and field). Nesting is checked before
 * protobuf-c unpacks; strings must be UTF-8 (INVALID with the path); a map
 * key repeated in the wire keeps its last value. */
kumo_error kumo_codec_protobuf_decode(const ProtobufCMessageDescriptor *descriptor,
                                      const uint8_t *data, size_t len,
                                      const kumo_codec_decode_options *options,
                                      ProtobufCMessage **out, kumo_diag *diag);

/* message -> protobuf wire bytes, appended to out. Errors: NOMEM, INVALID_ARGUMENT. */
kumo_error kumo_codec_protobuf_encode(const ProtobufCMessage *message, kumo_codec_buffer *out);

/* Frees a message returned by this module or by protobuf_c_message_unpack. NULL is a no-op. */
void kumo_codec_message_free(ProtobufCMessage *message);

/* Deep copy through the wire format; NULL when out of memory. */
ProtobufCMessage *kumo_codec_message_clone(const ProtobufCMessage *message);

/*
 * Replaces a string field's value: frees the old string unless it is
 * protobuf-c's shared empty default, and stores a copy of `value` (or the
 * empty default for NULL or ""). Returns KUMO_ERROR_NOMEM on failure.
 */
kumo_error kumo_codec_string_set(char **slot, const char *value);

/* lowerCamelCase JSON name of a field ("resource_version" -> "resourceVersion"). */
const char *kumo_codec_field_json_name(const ProtobufCMessageDescriptor *descriptor,
                                       const ProtobufCFieldDescriptor *field);

/* Field of `descriptor` by JSON name or proto name; NULL when none. */
const ProtobufCFieldDescriptor *kumo_codec_field_find(const ProtobufCMessageDescriptor *descriptor,
                                                      const char *name, size_t name_len);

#endif
