/*
 * json_encode.c - message -> JSON text, straight into a kumo_codec_buffer.
 *
 * Walks the descriptor tables (fields in field-number order), writes each
 * present field with its precomputed "\"jsonName\":" key, and formats
 * scalars with scalar.c's fast paths. codec_scalar_text() is also what
 * message_to_value uses, so the tree and the text always agree.
 */
#include "apis/codec/internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct encoder {
    kumo_codec_buffer *out;
    int indent;
    int emit_defaults;
    codec_decoder errors; /* only for reporting, with the caller's diag */
} encoder;

const char *codec_enum_name(const ProtobufCEnumDescriptor *e, int value)
{
    /* protobuf-c keeps values sorted by number in ranges; binary search over values */
    unsigned lo = 0, hi = e->n_values;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (e->values[mid].value == value)
            return e->values[mid].name;
        if (e->values[mid].value < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (unsigned i = 0; i < e->n_values; i++) /* not sorted (aliases): linear */
        if (e->values[i].value == value)
            return e->values[i].name;
    return NULL;
}

int codec_scalar_text(const ProtobufCFieldDescriptor *fd, const void *ptr, char *buf,
                      codec_scalar *out)
{
    out->type = KUMO_VALUE_NUMBER;
    out->text = buf;
    out->plain = 1; /* here: "the text needs no escaping" */
    out->boolean = 0;
    double d;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        out->len = codec_format_int64(buf, *(const int32_t *)ptr);
        return 1;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        out->len = codec_format_uint64(buf, *(const uint32_t *)ptr);
        return 1;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        out->type = KUMO_VALUE_STRING;
        out->len = codec_format_int64(buf, *(const int64_t *)ptr);
        return 1;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        out->type = KUMO_VALUE_STRING;
        out->len = codec_format_uint64(buf, *(const uint64_t *)ptr);
        return 1;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        d = fd->type == PROTOBUF_C_TYPE_FLOAT ? (double)*(const float *)ptr : *(const double *)ptr;
        if (isnan(d) || isinf(d)) {
            out->type = KUMO_VALUE_STRING;
            out->text = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
            out->len = strlen(out->text);
            return 1;
        }
        out->len = fd->type == PROTOBUF_C_TYPE_FLOAT ? codec_format_float(buf, *(const float *)ptr)
                                                     : codec_format_double(buf, d);
        return 1;
    case PROTOBUF_C_TYPE_BOOL:
        out->type = KUMO_VALUE_BOOL;
        out->boolean = *(const protobuf_c_boolean *)ptr != 0;
        out->text = out->boolean ? "true" : "false";
        out->len = out->boolean ? 4 : 5;
        return 1;
    case PROTOBUF_C_TYPE_ENUM: {
        int value = *(const int32_t *)ptr;
        const char *name = codec_enum_name(fd->descriptor, value);
        if (name == NULL) {
            out->len = codec_format_int64(buf, value);
            return 1;
        }
        out->type = KUMO_VALUE_STRING;
        out->text = name;
        out->len = strlen(name);
        return 1;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)ptr;
        out->type = KUMO_VALUE_STRING;
        out->plain = 0;
        out->text = s ? s : "";
        out->len = strlen(out->text);
        return 1;
    }
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    return 0;
}

int codec_field_present(const codec_field *field, const ProtobufCMessage *message,
                        int emit_defaults)
{
    const ProtobufCFieldDescriptor *fd = field->desc;
    const char *member = (const char *)message + fd->offset;
    if (field->oneof)
        return *(const uint32_t *)((const char *)message + fd->quantifier_offset) == fd->id;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        return emit_defaults ||
               *(const size_t *)((const char *)message + fd->quantifier_offset) > 0;
    if (emit_defaults)
        return 1;
    if (field->has_flag)
        return *(const protobuf_c_boolean *)((const char *)message + fd->quantifier_offset) != 0;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return *(const uint32_t *)member != 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)member != 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)member != 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)member != 0;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)member != 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)member;
        return s != NULL && s[0] != '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)member != NULL;
    }
    return 0;
}

static kumo_error put(encoder *enc, const char *text, size_t len)
{
    if (codec_buffer_reserve(enc->out, len) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    codec_buffer_put(enc->out, text, len);
    return KUMO_ERROR_OK;
}

static kumo_error newline(encoder *enc, int level)
{
    if (enc->indent <= 0)
        return KUMO_ERROR_OK;
    size_t n = (size_t)enc->indent * (size_t)level;
    if (codec_buffer_reserve(enc->out, n + 1) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    codec_buffer_put_char(enc->out, '\n');
    memset(enc->out->data + enc->out->len, ' ', n);
    enc->out->len += n;
    return KUMO_ERROR_OK;
}

static kumo_error fail_value(encoder *enc, const codec_path *path, const char *what)
{
    return codec_fail(&enc->errors, KUMO_CAUSE_INVALID, path, NULL, "%s", what);
}

static kumo_error write_message(encoder *enc, const codec_type *type, const ProtobufCMessage *m,
                                int level, const codec_path *path);

static kumo_error write_time(encoder *enc, const codec_type *type, const ProtobufCMessage *m,
                             const codec_path *path)
{
    char text[48];
    text[0] = '"';
    size_t n =
        codec_time_format(text + 1, *(const int64_t *)((const char *)m + type->time_seconds_offset),
                          *(const int32_t *)((const char *)m + type->time_nanos_offset));
    if (n == 0)
        return fail_value(enc, path, "time out of range (years 1..9999, nanos 0..999999999)");
    text[n + 1] = '"';
    return put(enc, text, n + 2);
}

/* One value of field `fd` stored at ptr (a member or an array element). */
static kumo_error write_single(encoder *enc, const ProtobufCFieldDescriptor *fd,
                               const codec_type *sub, const void *ptr, int level,
                               const codec_path *path)
{
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)ptr;
        if (m == NULL)
            return put(enc, "null", 4);
        if (sub->is_time)
            return write_time(enc, sub, m, path);
        return write_message(enc, sub, m, level, path);
    }
    if (fd->type == PROTOBUF_C_TYPE_BYTES) {
        const ProtobufCBinaryData *bd = ptr;
        size_t n = codec_base64_encoded_size(bd->len);
        if (codec_buffer_reserve(enc->out, n + 2) != KUMO_ERROR_OK)
            return KUMO_ERROR_NOMEM;
        codec_buffer_put_char(enc->out, '"');
        codec_base64_encode(enc->out->data + enc->out->len, bd->data, bd->len);
        enc->out->len += n;
        codec_buffer_put_char(enc->out, '"');
        return KUMO_ERROR_OK;
    }
    char buf[48];
    codec_scalar s;
    codec_scalar_text(fd, ptr, buf, &s);
    if (s.type != KUMO_VALUE_STRING || s.plain) {
        if (codec_buffer_reserve(enc->out, s.len + 2) != KUMO_ERROR_OK)
            return KUMO_ERROR_NOMEM;
        if (s.type == KUMO_VALUE_STRING)
            codec_buffer_put_char(enc->out, '"');
        codec_buffer_put(enc->out, s.text, s.len);
        if (s.type == KUMO_VALUE_STRING)
            codec_buffer_put_char(enc->out, '"');
        return KUMO_ERROR_OK;
    }
    kumo_error err = codec_json_escape(enc->out, s.text, s.len);
    if (err == KUMO_ERROR_INVALID)
        return fail_value(enc, path, "string is not valid UTF-8");
    return err;
}

static kumo_error write_map_key(encoder *enc, const codec_type *entry_type,
                                const ProtobufCMessage *entry, const char **key, size_t *key_len,
                                char *buf)
{
    codec_scalar s;
    const ProtobufCFieldDescriptor *kf = entry_type->map_key->desc;
    codec_scalar_text(kf, (const char *)entry + kf->offset, buf, &s);
    *key = s.text;
    *key_len = s.len;
    if (kf->type == PROTOBUF_C_TYPE_STRING)
        return codec_json_escape(enc->out, s.text, s.len);
    if (codec_buffer_reserve(enc->out, s.len + 2) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    codec_buffer_put_char(enc->out, '"');
    codec_buffer_put(enc->out, s.text, s.len);
    codec_buffer_put_char(enc->out, '"');
    return KUMO_ERROR_OK;
}

static kumo_error write_field(encoder *enc, const codec_field *f, const ProtobufCMessage *m,
                              int level, const codec_path *path)
{
    const ProtobufCFieldDescriptor *fd = f->desc;
    const void *member = (const char *)m + fd->offset;
    kumo_error err = KUMO_ERROR_OK;
    if (fd->label != PROTOBUF_C_LABEL_REPEATED)
        return write_single(enc, fd, f->message, member, level, path);
    size_t n = *(const size_t *)((const char *)m + fd->quantifier_offset);
    const void *array = *(void *const *)member;
    if (f->map) {
        const codec_type *entry_type = f->message;
        const ProtobufCFieldDescriptor *vf = entry_type->map_value->desc;
        if (n == 0)
            return put(enc, "{}", 2);
        err = put(enc, "{", 1);
        for (size_t i = 0; i < n && err == KUMO_ERROR_OK; i++) {
            const ProtobufCMessage *entry = ((ProtobufCMessage *const *)array)[i];
            if (i > 0)
                err = put(enc, ",", 1);
            if (err == KUMO_ERROR_OK)
                err = newline(enc, level + 1);
            char buf[48];
            const char *key = "";
            size_t key_len = 0;
            if (err == KUMO_ERROR_OK)
                err = write_map_key(enc, entry_type, entry, &key, &key_len, buf);
            codec_path kpath = {path, CODEC_PATH_KEY, key, key_len, 0};
            if (err == KUMO_ERROR_INVALID)
                return fail_value(enc, &kpath, "map key is not valid UTF-8");
            if (err == KUMO_ERROR_OK)
                err = enc->indent > 0 ? put(enc, ": ", 2) : put(enc, ":", 1);
            const void *value = (const char *)entry + vf->offset;
            if (err == KUMO_ERROR_OK && vf->type == PROTOBUF_C_TYPE_MESSAGE &&
                *(ProtobufCMessage *const *)value == NULL) /* absent value: the default message */
                err = entry_type->map_value->message->is_time
                          ? put(enc, "\"1970-01-01T00:00:00Z\"", 22)
                          : put(enc, "{}", 2);
            else if (err == KUMO_ERROR_OK)
                err =
                    write_single(enc, vf, entry_type->map_value->message, value, level + 1, &kpath);
        }
        if (err == KUMO_ERROR_OK)
            err = newline(enc, level);
        return err == KUMO_ERROR_OK ? put(enc, "}", 1) : err;
    }
    if (n == 0)
        return put(enc, "[]", 2);
    size_t size =
        fd->type == PROTOBUF_C_TYPE_MESSAGE || fd->type == PROTOBUF_C_TYPE_STRING ? sizeof(void *)
        : fd->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
        : fd->type == PROTOBUF_C_TYPE_BOOL  ? sizeof(protobuf_c_boolean)
        : fd->type == PROTOBUF_C_TYPE_INT64 || fd->type == PROTOBUF_C_TYPE_UINT64 ||
                fd->type == PROTOBUF_C_TYPE_SINT64 || fd->type == PROTOBUF_C_TYPE_FIXED64 ||
                fd->type == PROTOBUF_C_TYPE_SFIXED64 || fd->type == PROTOBUF_C_TYPE_DOUBLE
            ? 8
            : 4;
    err = put(enc, "[", 1);
    for (size_t i = 0; i < n && err == KUMO_ERROR_OK; i++) {
        codec_path ipath = {path, CODEC_PATH_INDEX, NULL, 0, i};
        if (i > 0)
            err = put(enc, ",", 1);
        if (err == KUMO_ERROR_OK)
            err = newline(enc, level + 1);
        if (err == KUMO_ERROR_OK)
            err = write_single(enc, fd, f->message, (const char *)array + i * size, level + 1,
                               &ipath);
    }
    if (err == KUMO_ERROR_OK)
        err = newline(enc, level);
    return err == KUMO_ERROR_OK ? put(enc, "]", 1) : err;
}

static kumo_error write_message(encoder *enc, const codec_type *type, const ProtobufCMessage *m,
                                int level, const codec_path *path)
{
    if (level >= CODEC_DEPTH_CEILING)
        return codec_fail_depth(&enc->errors, path);
    if (m->descriptor != type->desc)
        return fail_value(enc, path, "message of the wrong type");
    kumo_error err = put(enc, "{", 1);
    int first = 1;
    for (unsigned i = 0; i < type->field_count && err == KUMO_ERROR_OK; i++) {
        const codec_field *f = &type->fields[i];
        if (!codec_field_present(f, m, enc->emit_defaults))
            continue;
        if (!first)
            err = put(enc, ",", 1);
        first = 0;
        if (err == KUMO_ERROR_OK)
            err = newline(enc, level + 1);
        if (err == KUMO_ERROR_OK)
            err = put(enc, f->key_compact, f->key_compact_len);
        if (err == KUMO_ERROR_OK && enc->indent > 0)
            err = put(enc, " ", 1);
        codec_path fpath = {path, CODEC_PATH_FIELD, f->json_name, f->json_name_len, 0};
        if (err == KUMO_ERROR_OK)
            err = write_field(enc, f, m, level + 1, &fpath);
    }
    if (err == KUMO_ERROR_OK && !first)
        err = newline(enc, level);
    return err == KUMO_ERROR_OK ? put(enc, "}", 1) : err;
}

kumo_error kumo_codec_json_encode(const ProtobufCMessage *message,
                                  const kumo_codec_encode_options *options, kumo_codec_buffer *out,
                                  kumo_diag *diag)
{
    if (message == NULL || out == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "json encode needs a message and a buffer");
    const codec_type *type = codec_type_get(message->descriptor);
    if (type == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory building codec tables");
    encoder enc = {out, options ? options->indent : 0, options ? options->emit_defaults : 0, {0}};
    codec_decoder_init(&enc.errors, NULL, diag);
    enc.errors.max_depth = CODEC_DEPTH_CEILING;
    size_t start = out->len;
    kumo_error err = type->is_time ? write_time(&enc, type, message, NULL)
                                   : write_message(&enc, type, message, 0, NULL);
    if (err == KUMO_ERROR_NOMEM)
        kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory encoding JSON");
    if (err != KUMO_ERROR_OK)
        out->len = start;
    codec_buffer_terminate(out);
    return err;
}
