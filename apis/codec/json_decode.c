/*
 * json_decode.c - JSON text -> message in one pass, without a value tree:
 * the fast path every API request takes.
 *
 * It reads tokens with the shared tokenizer and stores them with decode.c's
 * shared conversions, in the same order as the tree path (message.c), so
 * messages and type errors are identical. Syntax is the tree parser's
 * business: when this decoder fails for any reason but memory, the text is
 * checked once more by json_parse.c (without building a tree) and, if that
 * fails, its error is the one reported. So both paths also report the same syntax, depth and
 * duplicate-key errors. Members of unknown fields (lenient mode) are checked
 * by the tree parser without building anything.
 */
#include "apis/codec/internal.h"

#include <stdlib.h>

static kumo_error dd_message(codec_lexer *lx, const codec_type *type, const codec_path *path,
                             int depth, ProtobufCMessage **out);

static kumo_error expect_char(codec_lexer *lx, char c, const char *what)
{
    codec_lex_skip_ws(lx);
    if (lx->p < lx->end && *lx->p == c) {
        lx->p++;
        codec_lex_skip_ws(lx);
        return KUMO_ERROR_OK;
    }
    return codec_lex_fail(lx, lx->p, lx->p >= lx->end ? "unexpected end of input" : "%s", what);
}

/* After a member or an item: 1 when another follows, 0 at the closing char. */
static kumo_error next_or_close(codec_lexer *lx, char close, int *more)
{
    codec_lex_skip_ws(lx);
    if (lx->p < lx->end && *lx->p == ',') {
        lx->p++;
        codec_lex_skip_ws(lx);
        *more = 1;
        return KUMO_ERROR_OK;
    }
    if (lx->p < lx->end && *lx->p == close) {
        lx->p++;
        *more = 0;
        return KUMO_ERROR_OK;
    }
    if (lx->p >= lx->end)
        return codec_lex_fail(lx, lx->p, "unexpected end of input");
    return codec_lex_fail(lx, lx->p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static kumo_error key_string(codec_lexer *lx, const char **key, size_t *len)
{
    if (lx->p >= lx->end)
        return codec_lex_fail(lx, lx->p, "unexpected end of input");
    if (*lx->p != '"')
        return codec_lex_fail(lx, lx->p, "expected a string key");
    return codec_lex_string(lx, 1, key, len);
}

/* One value of field fd at lx->p, stored at dest. */
static kumo_error dd_single(codec_lexer *lx, const ProtobufCFieldDescriptor *fd,
                            const codec_type *sub, void *dest, const codec_path *path, int depth)
{
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
        return dd_message(lx, sub, path, depth, (ProtobufCMessage **)dest);
    codec_scalar s;
    kumo_error err = codec_lex_scalar(lx, &s);
    if (err != KUMO_ERROR_OK)
        return err;
    return codec_scalar_decode(lx->dec, fd, &s, 0, dest, path);
}

/* lx->p just inside the map's '{'; depth counts the map object itself. */
static kumo_error dd_map(codec_lexer *lx, const codec_field *f, ProtobufCMessage *m,
                         const codec_path *path, int depth)
{
    const codec_decoder *dec = lx->dec;
    const codec_type *entry_type = f->message;
    const ProtobufCFieldDescriptor *kf = entry_type->map_key->desc;
    const ProtobufCFieldDescriptor *vf = entry_type->map_value->desc;
    codec_keyset keys;
    codec_keyset_init(&keys);
    kumo_error err = KUMO_ERROR_OK;
    int more = 1;
    while (more) {
        const char *key;
        size_t len;
        err = key_string(lx, &key, &len);
        if (err != KUMO_ERROR_OK)
            break;
        ProtobufCMessage *entry = codec_message_new(entry_type->desc);
        if (entry == NULL) {
            err = codec_fail_nomem(dec);
            break;
        }
        err = codec_repeated_add_message(dec, m, f->desc, entry);
        if (err != KUMO_ERROR_OK)
            break;
        codec_path kpath = {path, CODEC_PATH_KEY, key, len, 0};
        codec_scalar ks = {KUMO_VALUE_STRING, 0, 0, key, len};
        void *key_slot = codec_member_ptr(entry, kf);
        err = codec_scalar_decode(dec, kf, &ks, 1, key_slot, &kpath);
        if (err != KUMO_ERROR_OK)
            break;
        /* The lexer's scratch is reused by the value: keep the key for paths. */
        char local[64];
        char *copy = NULL;
        if (kf->type == PROTOBUF_C_TYPE_STRING) {
            kpath.name = *(char **)key_slot;
        } else if (len < sizeof(local)) {
            memcpy(local, key, len);
            kpath.name = local;
        } else if ((copy = malloc(len)) != NULL) {
            memcpy(copy, key, len);
            kpath.name = copy;
        } else {
            err = codec_fail_nomem(dec);
            break;
        }
        err = codec_map_key_check(dec, &keys, entry_type, entry, &kpath);
        if (err == KUMO_ERROR_OK)
            err = expect_char(lx, ':', "expected ':' after a key");
        if (err == KUMO_ERROR_OK)
            err = dd_single(lx, vf, entry_type->map_value->message, codec_member_ptr(entry, vf),
                            &kpath, depth);
        free(copy);
        if (err == KUMO_ERROR_OK)
            err = next_or_close(lx, '}', &more);
        if (err != KUMO_ERROR_OK)
            break;
    }
    codec_keyset_fini(&keys);
    return err;
}

/* A non-null value of field f at lx->p. `depth`: containers enclosing it. */
static kumo_error dd_field(codec_lexer *lx, const codec_field *f, ProtobufCMessage *m,
                           const codec_path *path, int depth)
{
    const codec_decoder *dec = lx->dec;
    const ProtobufCFieldDescriptor *fd = f->desc;
    if (!f->map && !f->repeated)
        return dd_single(lx, fd, f->message, codec_member_ptr(m, fd), path, depth);
    char open = f->map ? '{' : '[';
    if (lx->p >= lx->end || *lx->p != open) {
        codec_scalar s;
        kumo_error err = codec_lex_scalar(lx, &s);
        if (err != KUMO_ERROR_OK)
            return err;
        return codec_fail_shape(dec, path, &s, f->map ? "an object" : "a list");
    }
    if (depth + 1 > dec->max_depth)
        return codec_lex_fail_depth(lx, lx->p);
    lx->p++;
    codec_lex_skip_ws(lx);
    if (lx->p < lx->end && *lx->p == (f->map ? '}' : ']')) {
        lx->p++;
        return KUMO_ERROR_OK;
    }
    if (f->map)
        return dd_map(lx, f, m, path, depth + 1);
    int more = 1;
    for (size_t i = 0; more; i++) {
        codec_path ipath = {path, CODEC_PATH_INDEX, NULL, 0, i};
        kumo_error err;
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage *item = NULL;
            err = dd_message(lx, f->message, &ipath, depth + 1, &item);
            if (err == KUMO_ERROR_OK)
                err = codec_repeated_add_message(dec, m, fd, item);
        } else {
            void *slot = codec_repeated_append(m, fd);
            err = slot ? dd_single(lx, fd, NULL, slot, &ipath, depth + 1) : codec_fail_nomem(dec);
        }
        if (err == KUMO_ERROR_OK)
            err = next_or_close(lx, ']', &more);
        if (err != KUMO_ERROR_OK)
            return err;
    }
    return KUMO_ERROR_OK;
}

/* Skips the value of an unknown member (lenient mode), rejecting a repeated key. */
static kumo_error skip_unknown(codec_lexer *lx, codec_keyset *unknown, int *unknown_ready,
                               const char *key_at, const char *key, size_t len, int depth)
{
    if (!*unknown_ready) {
        codec_keyset_init(unknown);
        *unknown_ready = 1;
    }
    int r = codec_keyset_add_copy(unknown, key, len);
    if (r < 0)
        return codec_fail_nomem(lx->dec);
    if (r == 0)
        return codec_lex_fail(lx, key_at, "duplicate key \"%.*s\"", len > 100 ? 100 : (int)len,
                              key);
    kumo_error err = expect_char(lx, ':', "expected ':' after a key");
    if (err == KUMO_ERROR_OK)
        err = codec_json_parse_value(lx, depth, NULL); /* checked, not kept */
    return err;
}

/* lx->p just inside '{'; depth counts this object. */
static kumo_error dd_members(codec_lexer *lx, const codec_type *type, ProtobufCMessage *m,
                             const codec_path *path, int depth)
{
    const codec_decoder *dec = lx->dec;
    codec_seen seen;
    codec_keyset unknown;
    int unknown_ready = 0;
    if (codec_seen_init(&seen, type) != KUMO_ERROR_OK)
        return codec_fail_nomem(dec);
    kumo_error err = KUMO_ERROR_OK;
    int more = 1;
    codec_lex_skip_ws(lx);
    if (lx->p < lx->end && *lx->p == '}') {
        lx->p++;
        more = 0;
    }
    while (more) {
        const char *key_at = lx->p, *key;
        size_t len;
        err = key_string(lx, &key, &len);
        if (err != KUMO_ERROR_OK)
            break;
        const codec_field *f = codec_type_find(type, key, len);
        if (f == NULL) {
            err = codec_member_unknown(dec, path, key, len);
            if (err == KUMO_ERROR_OK)
                err = skip_unknown(lx, &unknown, &unknown_ready, key_at, key, len, depth);
        } else {
            codec_path fpath = {path, CODEC_PATH_FIELD, f->json_name, f->json_name_len, 0};
            err = codec_member_begin(dec, f, m, &seen, &fpath);
            if (err == KUMO_ERROR_OK)
                err = expect_char(lx, ':', "expected ':' after a key");
            if (err == KUMO_ERROR_OK) {
                if (lx->p < lx->end && *lx->p == 'n') {
                    codec_scalar s;
                    err = codec_lex_scalar(lx, &s); /* null: the field stays unset */
                } else {
                    err = dd_field(lx, f, m, &fpath, depth);
                    if (err == KUMO_ERROR_OK)
                        codec_member_commit(f, m);
                }
            }
        }
        if (err == KUMO_ERROR_OK)
            err = next_or_close(lx, '}', &more);
        if (err != KUMO_ERROR_OK)
            break;
    }
    codec_seen_fini(&seen);
    if (unknown_ready)
        codec_keyset_fini(&unknown);
    return err;
}

/* A message value at lx->p; `depth`: containers enclosing it. */
static kumo_error dd_message(codec_lexer *lx, const codec_type *type, const codec_path *path,
                             int depth, ProtobufCMessage **out)
{
    const codec_decoder *dec = lx->dec;
    if (type->is_time || lx->p >= lx->end || *lx->p != '{') {
        codec_scalar s;
        kumo_error err = codec_lex_scalar(lx, &s);
        if (err != KUMO_ERROR_OK)
            return err;
        if (type->is_time)
            return codec_time_decode(dec, type, &s, out, path);
        return codec_fail_shape(dec, path, &s, "an object");
    }
    if (depth + 1 > dec->max_depth)
        return codec_lex_fail_depth(lx, lx->p);
    lx->p++;
    ProtobufCMessage *m = codec_message_new(type->desc);
    if (m == NULL)
        return codec_fail_nomem(dec);
    kumo_error err = dd_members(lx, type, m, path, depth + 1);
    if (err != KUMO_ERROR_OK) {
        protobuf_c_message_free_unpacked(m, NULL);
        return err;
    }
    *out = m;
    return KUMO_ERROR_OK;
}

kumo_error kumo_codec_json_decode(const ProtobufCMessageDescriptor *descriptor, const char *text,
                                  size_t len, const kumo_codec_decode_options *options,
                                  ProtobufCMessage **out, kumo_diag *diag)
{
    codec_decoder dec;
    codec_decoder_init(&dec, options, diag);
    *out = NULL;
    if (len > dec.max_bytes)
        return kumo_diag_set(diag, KUMO_ERROR_TOO_LARGE,
                             "JSON input of %zu bytes is larger than the limit of %zu bytes", len,
                             dec.max_bytes);
    const codec_type *type = codec_type_get(descriptor);
    if (type == NULL)
        return kumo_diag_set(diag, descriptor ? KUMO_ERROR_NOMEM : KUMO_ERROR_INVALID_ARGUMENT,
                             "no codec tables for the descriptor");
    if (text == NULL)
        text = "";
    codec_lexer lx;
    codec_lexer_init(&lx, &dec, text, len);
    codec_lex_skip_ws(&lx);
    ProtobufCMessage *m = NULL;
    kumo_error err = dd_message(&lx, type, NULL, 0, &m);
    if (err == KUMO_ERROR_OK) {
        codec_lex_skip_ws(&lx);
        if (lx.p != lx.end)
            err = codec_lex_fail(&lx, lx.p, "unexpected data after the JSON value");
    }
    codec_lexer_fini(&lx);
    if (err == KUMO_ERROR_OK) {
        *out = m;
        return KUMO_ERROR_OK;
    }

    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    if (err != KUMO_ERROR_NOMEM) {
        /* Syntax errors anywhere in the text win, as in the tree path. */
        kumo_diag syntax;
        kumo_diag_init(&syntax);
        codec_decoder checker = dec;
        checker.diag = &syntax;
        kumo_error parse_err = codec_json_check(&checker, text, len);
        if (parse_err != KUMO_ERROR_OK) {
            err = parse_err;
            if (diag != NULL && kumo_diag_copy(diag, &syntax) != KUMO_ERROR_OK)
                err = KUMO_ERROR_NOMEM;
        }
        kumo_diag_fini(&syntax);
    }
    return err;
}
