/*
 * json_parse.c - JSON text -> kumo_value tree, or only checked.
 *
 * Recursive descent over the shared tokenizer. Recursion is bounded by
 * max_depth (checked before descending), duplicate keys are rejected, and a
 * failed parse frees everything it built. Without an output the same walk
 * only checks the text (same errors, same order) and allocates nothing but
 * the duplicate-key sets of the objects it is inside: that is how the
 * direct decoder skips unknown members and confirms syntax errors without
 * building a tree that could be many times the size of the input.
 */
#include "apis/codec/internal.h"

#include <stdlib.h>

/* node == NULL: check only. */
static kumo_error parse_object(codec_lexer *lx, int depth, kumo_value *node)
{
    size_t cap = 0;
    codec_keyset keys;
    codec_keyset_init(&keys);
    kumo_error err = KUMO_ERROR_OK;
    lx->p++; /* '{' */
    codec_lex_skip_ws(lx);
    if (lx->p < lx->end && *lx->p == '}') {
        lx->p++;
        return KUMO_ERROR_OK;
    }
    for (;;) {
        if (lx->p >= lx->end || *lx->p != '"') {
            err = codec_lex_fail(
                lx, lx->p, lx->p >= lx->end ? "unexpected end of input" : "expected a string key");
            break;
        }
        const char *key_at = lx->p, *key;
        size_t key_len;
        err = codec_lex_string(lx, 1, &key, &key_len);
        if (err != KUMO_ERROR_OK)
            break;
        kumo_value **slot = NULL;
        int added;
        if (node != NULL) {
            err = codec_value_object_push(node, key, key_len, NULL, &cap);
            if (err != KUMO_ERROR_OK) {
                err = codec_fail_nomem(lx->dec);
                break;
            }
            kumo_value_member *member = &node->members[node->count - 1];
            slot = &member->value;
            added = codec_keyset_add(&keys, member->key, key_len);
        } else if ((uintptr_t)key >= (uintptr_t)lx->start && (uintptr_t)key < (uintptr_t)lx->end) {
            added = codec_keyset_add(&keys, key, key_len); /* points into the input */
        } else {
            added = codec_keyset_add_copy(&keys, key, key_len); /* decoded escapes */
        }
        if (added < 0) {
            err = codec_fail_nomem(lx->dec);
            break;
        }
        if (added == 0) {
            err = codec_lex_fail(lx, key_at, "duplicate key \"%.*s\"",
                                 key_len > 100 ? 100 : (int)key_len, key);
            break;
        }
        codec_lex_skip_ws(lx);
        if (lx->p >= lx->end || *lx->p != ':') {
            err = codec_lex_fail(lx, lx->p,
                                 lx->p >= lx->end ? "unexpected end of input"
                                                  : "expected ':' after a key");
            break;
        }
        lx->p++;
        err = codec_json_parse_value(lx, depth, slot);
        if (err != KUMO_ERROR_OK)
            break;
        codec_lex_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            codec_lex_skip_ws(lx);
            continue;
        }
        if (lx->p < lx->end && *lx->p == '}') {
            lx->p++;
            break;
        }
        err = codec_lex_fail(lx, lx->p,
                             lx->p >= lx->end ? "unexpected end of input" : "expected ',' or '}'");
        break;
    }
    codec_keyset_fini(&keys);
    return err;
}

/* node == NULL: check only. */
static kumo_error parse_array(codec_lexer *lx, int depth, kumo_value *node)
{
    size_t cap = 0;
    lx->p++; /* '[' */
    codec_lex_skip_ws(lx);
    if (lx->p < lx->end && *lx->p == ']') {
        lx->p++;
        return KUMO_ERROR_OK;
    }
    for (;;) {
        kumo_value *item = NULL;
        kumo_error err = codec_json_parse_value(lx, depth, node ? &item : NULL);
        if (err != KUMO_ERROR_OK)
            return err;
        if (node != NULL && codec_value_array_push(node, item, &cap) != KUMO_ERROR_OK)
            return codec_fail_nomem(lx->dec);
        codec_lex_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            continue;
        }
        if (lx->p < lx->end && *lx->p == ']') {
            lx->p++;
            return KUMO_ERROR_OK;
        }
        return codec_lex_fail(lx, lx->p,
                              lx->p >= lx->end ? "unexpected end of input" : "expected ',' or ']'");
    }
}

kumo_error codec_json_parse_value(codec_lexer *lx, int depth, kumo_value **out)
{
    if (out != NULL)
        *out = NULL;
    codec_lex_skip_ws(lx);
    const char *at = lx->p;
    codec_scalar s;
    kumo_error err = codec_lex_scalar(lx, &s);
    if (err != KUMO_ERROR_OK)
        return err;
    kumo_value *node = NULL;
    switch (s.type) {
    case KUMO_VALUE_OBJECT:
    case KUMO_VALUE_ARRAY:
        if (depth + 1 > lx->dec->max_depth)
            return codec_lex_fail_depth(lx, at);
        if (out == NULL)
            return s.type == KUMO_VALUE_OBJECT ? parse_object(lx, depth + 1, NULL)
                                               : parse_array(lx, depth + 1, NULL);
        node = codec_value_new(s.type);
        if (node == NULL)
            return codec_fail_nomem(lx->dec);
        node->line = codec_lex_line_of(lx, at);
        err = s.type == KUMO_VALUE_OBJECT ? parse_object(lx, depth + 1, node)
                                          : parse_array(lx, depth + 1, node);
        if (err != KUMO_ERROR_OK) {
            kumo_codec_value_destroy(node);
            return err;
        }
        *out = node;
        return KUMO_ERROR_OK;
    case KUMO_VALUE_NUMBER:
    case KUMO_VALUE_STRING:
        if (out != NULL)
            node = codec_value_new_text(s.type, s.text, s.len);
        break;
    case KUMO_VALUE_BOOL:
        if (out != NULL && (node = codec_value_new(s.type)) != NULL)
            node->boolean = s.boolean;
        break;
    default:
        if (out != NULL)
            node = codec_value_new(KUMO_VALUE_NULL);
        break;
    }
    if (out == NULL)
        return KUMO_ERROR_OK;
    if (node == NULL)
        return codec_fail_nomem(lx->dec);
    node->line = codec_lex_line_of(lx, at);
    *out = node;
    return KUMO_ERROR_OK;
}

kumo_error codec_json_check(const codec_decoder *dec, const char *text, size_t len)
{
    codec_lexer lx;
    codec_lexer_init(&lx, dec, text, len);
    kumo_error err = codec_json_parse_value(&lx, 0, NULL);
    if (err == KUMO_ERROR_OK) {
        codec_lex_skip_ws(&lx);
        if (lx.p != lx.end)
            err = codec_lex_fail(&lx, lx.p, "unexpected data after the JSON value");
    }
    codec_lexer_fini(&lx);
    return err;
}

kumo_error kumo_codec_value_parse_json(const char *text, size_t len,
                                       const kumo_codec_decode_options *options, kumo_value **out,
                                       kumo_diag *diag)
{
    codec_decoder dec;
    codec_decoder_init(&dec, options, diag);
    *out = NULL;
    if (len > dec.max_bytes)
        return kumo_diag_set(diag, KUMO_ERROR_TOO_LARGE,
                             "JSON input of %zu bytes is larger than the limit of %zu bytes", len,
                             dec.max_bytes);
    if (text == NULL)
        text = "";
    codec_lexer lx;
    codec_lexer_init(&lx, &dec, text, len);
    kumo_value *value = NULL;
    kumo_error err = codec_json_parse_value(&lx, 0, &value);
    if (err == KUMO_ERROR_OK) {
        codec_lex_skip_ws(&lx);
        if (lx.p != lx.end)
            err = codec_lex_fail(&lx, lx.p, "unexpected data after the JSON value");
    }
    codec_lexer_fini(&lx);
    if (err != KUMO_ERROR_OK) {
        kumo_codec_value_destroy(value);
        return err;
    }
    *out = value;
    return KUMO_ERROR_OK;
}
