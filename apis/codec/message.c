/*
 * message.c - value tree <-> message, the protobuf wire format, clone,
 * free and string_set.
 *
 * value -> message walks a tree in the order the direct JSON decoder reads
 * text and calls the same decode.c functions at the same points, so both
 * produce the same message and the same first error. message -> value
 * mirrors json_encode.c through the shared codec_scalar_text().
 *
 * protobuf-c's unpack has no nesting limit and does not check UTF-8, so
 * protobuf input is first walked (bounded by max_depth) to check its
 * structure, and after unpacking strings are checked and repeated map keys
 * collapsed (last one wins, as the protobuf spec says).
 */
#include "apis/codec/internal.h"

#include <stdlib.h>

/* ---- value -> message --------------------------------------------------- */

static void scalar_of(const kumo_value *v, codec_scalar *s)
{
    s->type = v ? v->type : KUMO_VALUE_NULL;
    s->boolean = v ? v->boolean : 0;
    s->plain = v ? v->plain_scalar : 0;
    s->text = v ? v->text : NULL;
    s->len = v ? v->length : 0;
}

static kumo_error tree_message(const codec_decoder *dec, const codec_type *type,
                               const kumo_value *v, const codec_path *path, int depth,
                               ProtobufCMessage **out);

static kumo_error tree_single(const codec_decoder *dec, const ProtobufCFieldDescriptor *fd,
                              const codec_type *sub, const kumo_value *v, void *dest,
                              const codec_path *path, int depth)
{
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
        return tree_message(dec, sub, v, path, depth, (ProtobufCMessage **)dest);
    codec_scalar s;
    scalar_of(v, &s);
    return codec_scalar_decode(dec, fd, &s, 0, dest, path);
}

static kumo_error tree_map(const codec_decoder *dec, const codec_field *f, ProtobufCMessage *m,
                           const kumo_value *v, const codec_path *path, int depth)
{
    const codec_type *entry_type = f->message;
    const ProtobufCFieldDescriptor *kf = entry_type->map_key->desc;
    const ProtobufCFieldDescriptor *vf = entry_type->map_value->desc;
    codec_keyset keys;
    codec_keyset_init(&keys);
    kumo_error err = KUMO_ERROR_OK;
    for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
        const kumo_value_member *member = &v->members[i];
        ProtobufCMessage *entry = codec_message_new(entry_type->desc);
        if (entry == NULL) {
            err = codec_fail_nomem(dec);
            break;
        }
        err = codec_repeated_add_message(dec, m, f->desc, entry);
        if (err != KUMO_ERROR_OK)
            break;
        size_t key_len = strlen(member->key);
        codec_path kpath = {path, CODEC_PATH_KEY, member->key, key_len, 0};
        codec_scalar ks = {KUMO_VALUE_STRING, 0, 0, member->key, key_len};
        err = codec_scalar_decode(dec, kf, &ks, 1, codec_member_ptr(entry, kf), &kpath);
        if (err == KUMO_ERROR_OK)
            err = codec_map_key_check(dec, &keys, entry_type, entry, &kpath);
        if (err == KUMO_ERROR_OK)
            err = tree_single(dec, vf, entry_type->map_value->message, member->value,
                              codec_member_ptr(entry, vf), &kpath, depth);
    }
    codec_keyset_fini(&keys);
    return err;
}

static kumo_error tree_field(const codec_decoder *dec, const codec_field *f, ProtobufCMessage *m,
                             const kumo_value *v, const codec_path *path, int depth)
{
    const ProtobufCFieldDescriptor *fd = f->desc;
    codec_scalar s;
    if (!f->map && !f->repeated)
        return tree_single(dec, fd, f->message, v, codec_member_ptr(m, fd), path, depth);
    scalar_of(v, &s);
    if (v->type != (f->map ? KUMO_VALUE_OBJECT : KUMO_VALUE_ARRAY))
        return codec_fail_shape(dec, path, &s, f->map ? "an object" : "a list");
    if (depth + 1 > dec->max_depth)
        return codec_fail_depth(dec, path);
    if (f->map)
        return tree_map(dec, f, m, v, path, depth + 1);
    for (size_t i = 0; i < v->count; i++) {
        codec_path ipath = {path, CODEC_PATH_INDEX, NULL, 0, i};
        kumo_error err;
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage *item = NULL;
            err = tree_message(dec, f->message, v->items[i], &ipath, depth + 1, &item);
            if (err == KUMO_ERROR_OK)
                err = codec_repeated_add_message(dec, m, fd, item);
        } else {
            void *slot = codec_repeated_append(m, fd);
            err = slot ? tree_single(dec, fd, NULL, v->items[i], slot, &ipath, depth + 1)
                       : codec_fail_nomem(dec);
        }
        if (err != KUMO_ERROR_OK)
            return err;
    }
    return KUMO_ERROR_OK;
}

static kumo_error tree_members(const codec_decoder *dec, const codec_type *type,
                               const kumo_value *v, ProtobufCMessage *m, const codec_path *path,
                               int depth)
{
    codec_seen seen;
    if (codec_seen_init(&seen, type) != KUMO_ERROR_OK)
        return codec_fail_nomem(dec);
    kumo_error err = KUMO_ERROR_OK;
    for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
        const kumo_value_member *member = &v->members[i];
        size_t len = strlen(member->key);
        const codec_field *f = codec_type_find(type, member->key, len);
        if (f == NULL) {
            err = codec_member_unknown(dec, path, member->key, len);
            continue;
        }
        codec_path fpath = {path, CODEC_PATH_FIELD, f->json_name, f->json_name_len, 0};
        err = codec_member_begin(dec, f, m, &seen, &fpath);
        if (err != KUMO_ERROR_OK || member->value == NULL || member->value->type == KUMO_VALUE_NULL)
            continue;
        err = tree_field(dec, f, m, member->value, &fpath, depth);
        if (err == KUMO_ERROR_OK)
            codec_member_commit(f, m);
    }
    codec_seen_fini(&seen);
    return err;
}

static kumo_error tree_message(const codec_decoder *dec, const codec_type *type,
                               const kumo_value *v, const codec_path *path, int depth,
                               ProtobufCMessage **out)
{
    codec_scalar s;
    scalar_of(v, &s);
    if (type->is_time)
        return codec_time_decode(dec, type, &s, out, path);
    if (s.type != KUMO_VALUE_OBJECT)
        return codec_fail_shape(dec, path, &s, "an object");
    if (depth + 1 > dec->max_depth)
        return codec_fail_depth(dec, path);
    ProtobufCMessage *m = codec_message_new(type->desc);
    if (m == NULL)
        return codec_fail_nomem(dec);
    kumo_error err = tree_members(dec, type, v, m, path, depth + 1);
    if (err != KUMO_ERROR_OK) {
        protobuf_c_message_free_unpacked(m, NULL);
        return err;
    }
    *out = m;
    return KUMO_ERROR_OK;
}

kumo_error kumo_codec_message_from_value(const ProtobufCMessageDescriptor *descriptor,
                                         const kumo_value *value,
                                         const kumo_codec_decode_options *options,
                                         ProtobufCMessage **out, kumo_diag *diag)
{
    codec_decoder dec;
    codec_decoder_init(&dec, options, diag);
    *out = NULL;
    const codec_type *type = codec_type_get(descriptor);
    if (type == NULL)
        return kumo_diag_set(diag, descriptor ? KUMO_ERROR_NOMEM : KUMO_ERROR_INVALID_ARGUMENT,
                             "no codec tables for the descriptor");
    return tree_message(&dec, type, value, NULL, 0, out);
}

/* ---- message -> value --------------------------------------------------- */

typedef struct tree_writer {
    int emit_defaults;
    codec_decoder errors;
} tree_writer;

static kumo_error value_message(tree_writer *w, const codec_type *type, const ProtobufCMessage *m,
                                const codec_path *path, int depth, kumo_value **out);

static kumo_error value_single(tree_writer *w, const ProtobufCFieldDescriptor *fd,
                               const codec_type *sub, const void *ptr, const codec_path *path,
                               int depth, kumo_value **out)
{
    *out = NULL;
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)ptr;
        if (m == NULL) {
            *out = codec_value_new(KUMO_VALUE_NULL);
            return *out ? KUMO_ERROR_OK : codec_fail_nomem(&w->errors);
        }
        return value_message(w, sub, m, path, depth + 1, out);
    }
    if (fd->type == PROTOBUF_C_TYPE_BYTES) {
        const ProtobufCBinaryData *bd = ptr;
        size_t n = codec_base64_encoded_size(bd->len);
        char *text = malloc(n + 1);
        if (text == NULL)
            return codec_fail_nomem(&w->errors);
        codec_base64_encode(text, bd->data, bd->len);
        *out = codec_value_new_text(KUMO_VALUE_STRING, text, n);
        free(text);
        return *out ? KUMO_ERROR_OK : codec_fail_nomem(&w->errors);
    }
    char buf[48];
    codec_scalar s;
    codec_scalar_text(fd, ptr, buf, &s);
    if (s.type == KUMO_VALUE_STRING && !s.plain && !codec_utf8_valid(s.text, s.len))
        return codec_fail(&w->errors, KUMO_CAUSE_INVALID, path, NULL, "string is not valid UTF-8");
    if (s.type == KUMO_VALUE_BOOL) {
        *out = codec_value_new(KUMO_VALUE_BOOL);
        if (*out)
            (*out)->boolean = s.boolean;
    } else {
        *out = codec_value_new_text(s.type, s.text, s.len);
    }
    return *out ? KUMO_ERROR_OK : codec_fail_nomem(&w->errors);
}

static kumo_error value_field(tree_writer *w, const codec_field *f, const ProtobufCMessage *m,
                              const codec_path *path, int depth, kumo_value **out)
{
    const ProtobufCFieldDescriptor *fd = f->desc;
    const void *member = (const char *)m + fd->offset;
    if (fd->label != PROTOBUF_C_LABEL_REPEATED)
        return value_single(w, fd, f->message, member, path, depth, out);
    size_t n = *(const size_t *)((const char *)m + fd->quantifier_offset);
    kumo_value *node = codec_value_new(f->map ? KUMO_VALUE_OBJECT : KUMO_VALUE_ARRAY);
    if (node == NULL)
        return codec_fail_nomem(&w->errors);
    kumo_error err = KUMO_ERROR_OK;
    size_t cap = 0;
    if (f->map) {
        const codec_type *entry_type = f->message;
        const ProtobufCFieldDescriptor *vf = entry_type->map_value->desc;
        for (size_t i = 0; i < n && err == KUMO_ERROR_OK; i++) {
            const ProtobufCMessage *entry = (*(ProtobufCMessage *const *const *)member)[i];
            char buf[32];
            size_t key_len;
            const char *key = codec_map_key_text(entry_type, entry, buf, &key_len);
            codec_path kpath = {path, CODEC_PATH_KEY, key, key_len, 0};
            if (!codec_utf8_valid(key, key_len)) {
                err = codec_fail(&w->errors, KUMO_CAUSE_INVALID, &kpath, NULL,
                                 "map key is not valid UTF-8");
                break;
            }
            kumo_value *item = NULL;
            const void *value = (const char *)entry + vf->offset;
            if (vf->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage *const *)value == NULL) {
                /* absent value: the default message */
                item = entry_type->map_value->message->is_time
                           ? codec_value_new_text(KUMO_VALUE_STRING, "1970-01-01T00:00:00Z", 20)
                           : codec_value_new(KUMO_VALUE_OBJECT);
                err = item ? KUMO_ERROR_OK : codec_fail_nomem(&w->errors);
            } else {
                err = value_single(w, vf, entry_type->map_value->message, value, &kpath, depth,
                                   &item);
            }
            if (err == KUMO_ERROR_OK &&
                codec_value_object_push(node, key, key_len, item, &cap) != KUMO_ERROR_OK)
                err = codec_fail_nomem(&w->errors);
            else if (err != KUMO_ERROR_OK)
                kumo_codec_value_destroy(item);
        }
    } else {
        const char *array = *(const char *const *)member;
        size_t size =
            fd->type == PROTOBUF_C_TYPE_MESSAGE || fd->type == PROTOBUF_C_TYPE_STRING
                ? sizeof(void *)
            : fd->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
            : fd->type == PROTOBUF_C_TYPE_BOOL  ? sizeof(protobuf_c_boolean)
            : fd->type == PROTOBUF_C_TYPE_INT64 || fd->type == PROTOBUF_C_TYPE_UINT64 ||
                    fd->type == PROTOBUF_C_TYPE_SINT64 || fd->type == PROTOBUF_C_TYPE_FIXED64 ||
                    fd->type == PROTOBUF_C_TYPE_SFIXED64 || fd->type == PROTOBUF_C_TYPE_DOUBLE
                ? 8
                : 4;
        for (size_t i = 0; i < n && err == KUMO_ERROR_OK; i++) {
            codec_path ipath = {path, CODEC_PATH_INDEX, NULL, 0, i};
            kumo_value *item = NULL;
            err = value_single(w, fd, f->message, array + i * size, &ipath, depth, &item);
            if (err == KUMO_ERROR_OK && codec_value_array_push(node, item, &cap) != KUMO_ERROR_OK)
                err = codec_fail_nomem(&w->errors);
        }
    }
    if (err != KUMO_ERROR_OK) {
        kumo_codec_value_destroy(node);
        return err;
    }
    *out = node;
    return KUMO_ERROR_OK;
}

static kumo_error value_message(tree_writer *w, const codec_type *type, const ProtobufCMessage *m,
                                const codec_path *path, int depth, kumo_value **out)
{
    *out = NULL;
    if (depth > CODEC_DEPTH_CEILING)
        return codec_fail_depth(&w->errors, path);
    if (type->is_time) {
        char text[48];
        size_t n =
            codec_time_format(text, *(const int64_t *)((const char *)m + type->time_seconds_offset),
                              *(const int32_t *)((const char *)m + type->time_nanos_offset));
        if (n == 0)
            return codec_fail(&w->errors, KUMO_CAUSE_INVALID, path, NULL,
                              "time out of range (years 1..9999, nanos 0..999999999)");
        *out = codec_value_new_text(KUMO_VALUE_STRING, text, n);
        return *out ? KUMO_ERROR_OK : codec_fail_nomem(&w->errors);
    }
    kumo_value *node = codec_value_new(KUMO_VALUE_OBJECT);
    if (node == NULL)
        return codec_fail_nomem(&w->errors);
    size_t cap = 0;
    for (unsigned i = 0; i < type->field_count; i++) {
        const codec_field *f = &type->fields[i];
        if (!codec_field_present(f, m, w->emit_defaults))
            continue;
        codec_path fpath = {path, CODEC_PATH_FIELD, f->json_name, f->json_name_len, 0};
        kumo_value *item = NULL;
        kumo_error err = value_field(w, f, m, &fpath, depth, &item);
        if (err == KUMO_ERROR_OK && codec_value_object_push(node, f->json_name, f->json_name_len,
                                                            item, &cap) != KUMO_ERROR_OK)
            err = codec_fail_nomem(&w->errors);
        if (err != KUMO_ERROR_OK) {
            kumo_codec_value_destroy(node);
            return err;
        }
    }
    *out = node;
    return KUMO_ERROR_OK;
}

kumo_error kumo_codec_message_to_value(const ProtobufCMessage *message,
                                       const kumo_codec_encode_options *options, kumo_value **out,
                                       kumo_diag *diag)
{
    *out = NULL;
    if (message == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "no message to convert");
    const codec_type *type = codec_type_get(message->descriptor);
    if (type == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory building codec tables");
    tree_writer w;
    w.emit_defaults = options ? options->emit_defaults : 0;
    codec_decoder_init(&w.errors, NULL, diag);
    w.errors.max_depth = CODEC_DEPTH_CEILING;
    return value_message(&w, type, message, NULL, 0, out);
}

/* ---- protobuf ------------------------------------------------------------- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return 0;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << (shift < 64 ? shift : 63);
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

static kumo_error wire_fail(const codec_decoder *dec, const uint8_t *start, const uint8_t *at,
                            const codec_path *path, const char *what)
{
    char *where = codec_path_format(path);
    kumo_diag_set(dec->diag, KUMO_ERROR_PARSE, "invalid protobuf: %s at byte %zu (in %s)", what,
                  (size_t)(at - start), where ? where : "?");
    free(where);
    return KUMO_ERROR_PARSE;
}

/* Checks the wire structure of one message, bounded by max_depth. */
static kumo_error wire_check(const codec_decoder *dec, const codec_type *type, const uint8_t *start,
                             const uint8_t *p, const uint8_t *end, const codec_path *path,
                             int depth)
{
    if (depth > dec->max_depth) {
        codec_fail_depth(dec, path);
        return KUMO_ERROR_TOO_DEEP;
    }
    while (p < end) {
        const uint8_t *field_at = p;
        uint64_t tag, n;
        if (!read_varint(&p, end, &tag))
            return wire_fail(dec, start, field_at, path, "truncated or overlong field tag");
        uint64_t number = tag >> 3;
        unsigned wire_type = (unsigned)(tag & 7);
        if (number == 0 || number > 536870911)
            return wire_fail(dec, start, field_at, path, "invalid field number");
        switch (wire_type) {
        case 0:
            if (!read_varint(&p, end, &n))
                return wire_fail(dec, start, field_at, path, "truncated varint");
            break;
        case 1:
            if (end - p < 8)
                return wire_fail(dec, start, field_at, path, "truncated 64-bit field");
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return wire_fail(dec, start, field_at, path, "truncated 32-bit field");
            p += 4;
            break;
        case 2: {
            if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return wire_fail(dec, start, field_at, path, "truncated length-delimited field");
            const ProtobufCFieldDescriptor *fd =
                protobuf_c_message_descriptor_get_field(type->desc, (unsigned)number);
            if (fd != NULL && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                const codec_field *f = &type->fields[fd - type->desc->fields];
                codec_path fpath = {path, CODEC_PATH_FIELD, f->json_name, f->json_name_len, 0};
                kumo_error err = wire_check(dec, f->message, start, p, p + n, &fpath, depth + 1);
                if (err != KUMO_ERROR_OK)
                    return err;
            }
            p += n;
            break;
        }
        default:
            return wire_fail(dec, start, field_at, path, "unsupported wire type");
        }
    }
    return KUMO_ERROR_OK;
}

/* After unpack: strings must be UTF-8; a map key given twice keeps its last value. */
static kumo_error normalize(const codec_decoder *dec, const codec_type *type, ProtobufCMessage *m,
                            const codec_path *path)
{
    for (unsigned i = 0; i < type->field_count; i++) {
        const codec_field *f = &type->fields[i];
        const ProtobufCFieldDescriptor *fd = f->desc;
        if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (!codec_field_present(f, m, 0))
            continue;
        codec_path fpath = {path, CODEC_PATH_FIELD, f->json_name, f->json_name_len, 0};
        void *member = codec_member_ptr(m, fd);
        if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
            kumo_error err = KUMO_ERROR_OK;
            if (fd->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = *(char **)member;
                if (s != NULL && !codec_utf8_valid(s, strlen(s)))
                    err = codec_fail(dec, KUMO_CAUSE_INVALID, &fpath, NULL,
                                     "string is not valid UTF-8");
            } else {
                err = normalize(dec, f->message, *(ProtobufCMessage **)member, &fpath);
            }
            if (err != KUMO_ERROR_OK)
                return err;
            continue;
        }
        size_t *count = (size_t *)((char *)m + fd->quantifier_offset);
        if (fd->type == PROTOBUF_C_TYPE_STRING) {
            char **items = *(char ***)member;
            for (size_t k = 0; k < *count; k++) {
                codec_path ipath = {&fpath, CODEC_PATH_INDEX, NULL, 0, k};
                if (!codec_utf8_valid(items[k], strlen(items[k])))
                    return codec_fail(dec, KUMO_CAUSE_INVALID, &ipath, NULL,
                                      "string is not valid UTF-8");
            }
            continue;
        }
        ProtobufCMessage **items = *(ProtobufCMessage ***)member;
        if (f->map && *count > 1) {
            codec_keyset keys;
            codec_keyset_init(&keys);
            size_t kept = *count;
            for (size_t k = *count; k-- > 0;) {
                char buf[32];
                size_t len;
                const char *key = codec_map_key_text(f->message, items[k], buf, &len);
                int r = key == buf ? codec_keyset_add_copy(&keys, key, len)
                                   : codec_keyset_add(&keys, key, len);
                if (r < 0) {
                    codec_keyset_fini(&keys);
                    return codec_fail_nomem(dec);
                }
                if (r == 0) {
                    protobuf_c_message_free_unpacked(items[k], NULL);
                    items[k] = NULL;
                    kept--;
                }
            }
            codec_keyset_fini(&keys);
            size_t w = 0;
            for (size_t k = 0; k < *count; k++)
                if (items[k] != NULL)
                    items[w++] = items[k];
            *count = kept;
        }
        for (size_t k = 0; k < *count; k++) {
            codec_path ipath = {&fpath, CODEC_PATH_INDEX, NULL, 0, k};
            kumo_error err = normalize(dec, f->message, items[k], f->map ? &fpath : &ipath);
            if (err != KUMO_ERROR_OK)
                return err;
        }
    }
    return KUMO_ERROR_OK;
}

kumo_error kumo_codec_protobuf_decode(const ProtobufCMessageDescriptor *descriptor,
                                      const uint8_t *data, size_t len,
                                      const kumo_codec_decode_options *options,
                                      ProtobufCMessage **out, kumo_diag *diag)
{
    codec_decoder dec;
    codec_decoder_init(&dec, options, diag);
    *out = NULL;
    if (len > dec.max_bytes)
        return kumo_diag_set(diag, KUMO_ERROR_TOO_LARGE,
                             "protobuf input of %zu bytes is larger than the limit of %zu bytes",
                             len, dec.max_bytes);
    const codec_type *type = codec_type_get(descriptor);
    if (type == NULL)
        return kumo_diag_set(diag, descriptor ? KUMO_ERROR_NOMEM : KUMO_ERROR_INVALID_ARGUMENT,
                             "no codec tables for the descriptor");
    static const uint8_t empty[1];
    if (data == NULL)
        data = empty;
    kumo_error err = wire_check(&dec, type, data, data, data + len, NULL, 1);
    if (err != KUMO_ERROR_OK)
        return err;
    ProtobufCMessage *m = protobuf_c_message_unpack(descriptor, NULL, len, data);
    if (m == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_PARSE,
                             "invalid protobuf: not a valid %s (a field has the wrong wire type "
                             "or a bad value)",
                             descriptor->name);
    err = normalize(&dec, type, m, NULL);
    if (err != KUMO_ERROR_OK) {
        protobuf_c_message_free_unpacked(m, NULL);
        return err;
    }
    *out = m;
    return KUMO_ERROR_OK;
}

kumo_error kumo_codec_protobuf_encode(const ProtobufCMessage *message, kumo_codec_buffer *out)
{
    if (message == NULL || out == NULL)
        return KUMO_ERROR_INVALID_ARGUMENT;
    size_t size = protobuf_c_message_get_packed_size(message);
    if (codec_buffer_reserve(out, size) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    out->len += protobuf_c_message_pack(message, (uint8_t *)out->data + out->len);
    codec_buffer_terminate(out);
    return KUMO_ERROR_OK;
}

void kumo_codec_message_free(ProtobufCMessage *message)
{
    if (message != NULL)
        protobuf_c_message_free_unpacked(message, NULL);
}

ProtobufCMessage *kumo_codec_message_clone(const ProtobufCMessage *message)
{
    if (message == NULL)
        return NULL;
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t small[512];
    uint8_t *wire = size <= sizeof(small) ? small : malloc(size);
    if (wire == NULL)
        return NULL;
    size_t n = protobuf_c_message_pack(message, wire);
    ProtobufCMessage *copy = protobuf_c_message_unpack(message->descriptor, NULL, n, wire);
    if (wire != small)
        free(wire);
    return copy;
}

kumo_error kumo_codec_string_set(char **slot, const char *value)
{
    char *copy = (char *)protobuf_c_empty_string;
    if (value != NULL && value[0] != '\0') {
        copy = strdup(value);
        if (copy == NULL)
            return KUMO_ERROR_NOMEM;
    }
    if (*slot != NULL && *slot != protobuf_c_empty_string)
        free(*slot);
    *slot = copy;
    return KUMO_ERROR_OK;
}
