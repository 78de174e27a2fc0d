/*
 * value.c - the generic value tree (JSON's data model): construction,
 * destroy, clone, lookup, structural equality, JSON Merge Patch (RFC 7386)
 * and writing a tree as JSON.
 *
 * Ownership: a node owns its text, its items and members, and their keys.
 * Numbers keep their source text, so equality compares them as exact
 * decimals (1.0 == 1 == 1e0, 9007199254740993 != 9007199254740992).
 */
#include "apis/codec/internal.h"

#include <stdlib.h>

kumo_value *codec_value_new(kumo_value_type type)
{
    kumo_value *v = calloc(1, sizeof(*v));
    if (v != NULL)
        v->type = type;
    return v;
}

kumo_value *codec_value_new_text(kumo_value_type type, const char *text, size_t len)
{
    kumo_value *v = codec_value_new(type);
    if (v == NULL)
        return NULL;
    v->text = malloc(len + 1);
    if (v->text == NULL) {
        free(v);
        return NULL;
    }
    if (len > 0)
        memcpy(v->text, text, len);
    v->text[len] = '\0';
    v->length = len;
    return v;
}

kumo_error codec_value_array_push(kumo_value *array, kumo_value *item, size_t *cap)
{
    if (array->count == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 4;
        kumo_value **grown = realloc(array->items, grown_cap * sizeof(*grown));
        if (grown == NULL) {
            kumo_codec_value_destroy(item);
            return KUMO_ERROR_NOMEM;
        }
        array->items = grown;
        *cap = grown_cap;
    }
    array->items[array->count++] = item;
    return KUMO_ERROR_OK;
}

kumo_error codec_value_object_push(kumo_value *object, const char *key, size_t key_len,
                                   kumo_value *item, size_t *cap)
{
    char *copy = malloc(key_len + 1);
    if (copy == NULL) {
        kumo_codec_value_destroy(item);
        return KUMO_ERROR_NOMEM;
    }
    memcpy(copy, key, key_len);
    copy[key_len] = '\0';
    if (object->count == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 4;
        kumo_value_member *grown = realloc(object->members, grown_cap * sizeof(*grown));
        if (grown == NULL) {
            free(copy);
            kumo_codec_value_destroy(item);
            return KUMO_ERROR_NOMEM;
        }
        object->members = grown;
        *cap = grown_cap;
    }
    object->members[object->count].key = copy;
    object->members[object->count].value = item;
    object->count++;
    return KUMO_ERROR_OK;
}

void kumo_codec_value_destroy(kumo_value *value)
{
    if (value == NULL)
        return;
    free(value->text);
    for (size_t i = 0; value->items != NULL && i < value->count; i++)
        kumo_codec_value_destroy(value->items[i]);
    free(value->items);
    for (size_t i = 0; value->members != NULL && i < value->count; i++) {
        free(value->members[i].key);
        kumo_codec_value_destroy(value->members[i].value);
    }
    free(value->members);
    free(value);
}

void kumo_codec_value_array_destroy(kumo_value **values, size_t count)
{
    if (values == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        kumo_codec_value_destroy(values[i]);
    free(values);
}

kumo_value *kumo_codec_value_clone(const kumo_value *value)
{
    if (value == NULL)
        return NULL;
    kumo_value *copy = value->text ? codec_value_new_text(value->type, value->text, value->length)
                                   : codec_value_new(value->type);
    if (copy == NULL)
        return NULL;
    copy->plain_scalar = value->plain_scalar;
    copy->boolean = value->boolean;
    copy->line = value->line;
    size_t cap = 0;
    if (value->type == KUMO_VALUE_ARRAY) {
        for (size_t i = 0; i < value->count; i++) {
            kumo_value *item = kumo_codec_value_clone(value->items[i]);
            if (item == NULL || codec_value_array_push(copy, item, &cap) != KUMO_ERROR_OK)
                goto fail;
        }
    } else if (value->type == KUMO_VALUE_OBJECT) {
        for (size_t i = 0; i < value->count; i++) {
            const kumo_value_member *m = &value->members[i];
            kumo_value *item = kumo_codec_value_clone(m->value);
            if ((item == NULL && m->value != NULL) ||
                codec_value_object_push(copy, m->key, strlen(m->key), item, &cap) != KUMO_ERROR_OK)
                goto fail;
        }
    }
    return copy;
fail:
    kumo_codec_value_destroy(copy);
    return NULL;
}

const kumo_value *kumo_codec_value_get(const kumo_value *object, const char *key)
{
    if (object == NULL || object->type != KUMO_VALUE_OBJECT || key == NULL)
        return NULL;
    for (size_t i = 0; i < object->count; i++)
        if (strcmp(object->members[i].key, key) == 0)
            return object->members[i].value;
    return NULL;
}

/* ---- equality ----------------------------------------------------------- */

/*
 * Canonical form of a JSON number: "[-]DIGITSeEXP" with no leading or
 * trailing zeros in DIGITS, or "0". Returns the length, 0 when the text is
 * not a JSON number (then texts are compared as they are). out >= len + 24.
 */
static size_t number_canonical(const char *text, size_t len, char *out)
{
    if (!codec_number_syntax_valid(text, len))
        return 0;
    const char *p = text, *end = text + len;
    int negative = *p == '-';
    p += negative;
    size_t n = 1; /* out[0] is reserved for the sign */
    long exponent = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++)
        if (n > 1 || *p != '0')
            out[n++] = *p;
        else
            continue;
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            exponent--;
            if (n > 1 || *p != '0')
                out[n++] = *p;
        }
    }
    if (p < end) {
        p++;
        int exp_negative = 0;
        long e = 0;
        if (*p == '+' || *p == '-')
            exp_negative = *p++ == '-';
        for (; p < end; p++) {
            if (e > 100000000L)
                return 0;
            e = e * 10 + (*p - '0');
        }
        exponent += exp_negative ? -e : e;
    }
    while (n > 1 && out[n - 1] == '0') {
        n--;
        exponent++;
    }
    if (n == 1) {
        out[0] = '0';
        return 1;
    }
    out[0] = negative ? '-' : '+';
    out[n++] = 'e';
    char digits[24];
    size_t d = codec_format_int64(digits, exponent);
    memcpy(out + n, digits, d);
    return n + d;
}

static int numbers_equal(const kumo_value *a, const kumo_value *b)
{
    char small_a[96], small_b[96];
    char *ca = a->length + 24 <= sizeof(small_a) ? small_a : malloc(a->length + 24);
    char *cb = b->length + 24 <= sizeof(small_b) ? small_b : malloc(b->length + 24);
    int equal = 0;
    if (ca != NULL && cb != NULL) {
        size_t la = number_canonical(a->text, a->length, ca);
        size_t lb = number_canonical(b->text, b->length, cb);
        if (la == 0 || lb == 0)
            equal = a->length == b->length && memcmp(a->text, b->text, a->length) == 0;
        else
            equal = la == lb && memcmp(ca, cb, la) == 0;
    }
    if (ca != small_a)
        free(ca);
    if (cb != small_b)
        free(cb);
    return equal;
}

int kumo_codec_value_equal(const kumo_value *a, const kumo_value *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case KUMO_VALUE_NULL:
        return 1;
    case KUMO_VALUE_BOOL:
        return (a->boolean != 0) == (b->boolean != 0);
    case KUMO_VALUE_NUMBER:
        return numbers_equal(a, b);
    case KUMO_VALUE_STRING:
        return a->length == b->length && memcmp(a->text, b->text, a->length) == 0;
    case KUMO_VALUE_ARRAY:
        if (a->count != b->count)
            return 0;
        for (size_t i = 0; i < a->count; i++)
            if (!kumo_codec_value_equal(a->items[i], b->items[i]))
                return 0;
        return 1;
    case KUMO_VALUE_OBJECT:
        if (a->count != b->count)
            return 0;
        for (size_t i = 0; i < a->count; i++) {
            /* Same position first: objects written by the same encoder share order. */
            const kumo_value *other = NULL;
            if (strcmp(b->members[i].key, a->members[i].key) == 0)
                other = b->members[i].value;
            else if ((other = kumo_codec_value_get(b, a->members[i].key)) == NULL)
                return 0;
            if (!kumo_codec_value_equal(a->members[i].value, other))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- merge patch -------------------------------------------------------- */

static kumo_error object_append(kumo_value *object, const char *key, kumo_value *item)
{
    size_t cap = object->count; /* exact: the array may come from anywhere */
    return codec_value_object_push(object, key, strlen(key), item, &cap);
}

static kumo_error merge(kumo_value **target, const kumo_value *patch)
{
    if (patch->type != KUMO_VALUE_OBJECT) {
        kumo_value *copy = kumo_codec_value_clone(patch);
        if (copy == NULL)
            return KUMO_ERROR_NOMEM;
        kumo_codec_value_destroy(*target);
        *target = copy;
        return KUMO_ERROR_OK;
    }
    if (*target == NULL || (*target)->type != KUMO_VALUE_OBJECT) {
        kumo_value *object = codec_value_new(KUMO_VALUE_OBJECT);
        if (object == NULL)
            return KUMO_ERROR_NOMEM;
        kumo_codec_value_destroy(*target);
        *target = object;
    }
    kumo_value *t = *target;
    for (size_t i = 0; i < patch->count; i++) {
        const kumo_value_member *pm = &patch->members[i];
        size_t at = t->count;
        for (size_t k = 0; k < t->count; k++)
            if (strcmp(t->members[k].key, pm->key) == 0)
                at = k;
        if (pm->value == NULL || pm->value->type == KUMO_VALUE_NULL) {
            if (at < t->count) {
                free(t->members[at].key);
                kumo_codec_value_destroy(t->members[at].value);
                memmove(&t->members[at], &t->members[at + 1],
                        (t->count - at - 1) * sizeof(*t->members));
                t->count--;
            }
            continue;
        }
        if (at < t->count) {
            kumo_error err = merge(&t->members[at].value, pm->value);
            if (err != KUMO_ERROR_OK)
                return err;
            continue;
        }
        kumo_value *item = NULL;
        kumo_error err = merge(&item, pm->value);
        if (err == KUMO_ERROR_OK)
            err = object_append(t, pm->key, item);
        else
            kumo_codec_value_destroy(item);
        if (err != KUMO_ERROR_OK)
            return err;
    }
    return KUMO_ERROR_OK;
}

kumo_error kumo_codec_value_merge_patch(kumo_value **target, const kumo_value *patch,
                                        kumo_diag *diag)
{
    if (target == NULL || patch == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "merge patch needs a target and a patch");
    if (merge(target, patch) != KUMO_ERROR_OK)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory applying a merge patch");
    return KUMO_ERROR_OK;
}

/* ---- writing JSON ------------------------------------------------------- */

static kumo_error newline_indent(kumo_codec_buffer *out, int indent, int level)
{
    if (indent <= 0)
        return KUMO_ERROR_OK;
    size_t n = (size_t)indent * (size_t)level;
    if (codec_buffer_reserve(out, n + 1) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    codec_buffer_put_char(out, '\n');
    memset(out->data + out->len, ' ', n);
    out->len += n;
    return KUMO_ERROR_OK;
}

static kumo_error write_value(const kumo_value *v, int indent, int level, kumo_codec_buffer *out)
{
    kumo_error err = KUMO_ERROR_OK;
    if (v == NULL)
        return kumo_codec_buffer_append(out, "null", 4);
    switch (v->type) {
    case KUMO_VALUE_NULL:
        return kumo_codec_buffer_append(out, "null", 4);
    case KUMO_VALUE_BOOL:
        return v->boolean ? kumo_codec_buffer_append(out, "true", 4)
                          : kumo_codec_buffer_append(out, "false", 5);
    case KUMO_VALUE_NUMBER:
        return kumo_codec_buffer_append(out, v->text, v->length);
    case KUMO_VALUE_STRING:
        return codec_json_escape(out, v->text, v->length);
    case KUMO_VALUE_ARRAY:
        if (v->count == 0)
            return kumo_codec_buffer_append(out, "[]", 2);
        err = kumo_codec_buffer_append(out, "[", 1);
        for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
            if (i > 0)
                err = kumo_codec_buffer_append(out, ",", 1);
            if (err == KUMO_ERROR_OK)
                err = newline_indent(out, indent, level + 1);
            if (err == KUMO_ERROR_OK)
                err = write_value(v->items[i], indent, level + 1, out);
        }
        if (err == KUMO_ERROR_OK)
            err = newline_indent(out, indent, level);
        return err == KUMO_ERROR_OK ? kumo_codec_buffer_append(out, "]", 1) : err;
    case KUMO_VALUE_OBJECT:
        if (v->count == 0)
            return kumo_codec_buffer_append(out, "{}", 2);
        err = kumo_codec_buffer_append(out, "{", 1);
        for (size_t i = 0; i < v->count && err == KUMO_ERROR_OK; i++) {
            if (i > 0)
                err = kumo_codec_buffer_append(out, ",", 1);
            if (err == KUMO_ERROR_OK)
                err = newline_indent(out, indent, level + 1);
            if (err == KUMO_ERROR_OK)
                err = codec_json_escape(out, v->members[i].key, strlen(v->members[i].key));
            if (err == KUMO_ERROR_OK)
                err = kumo_codec_buffer_append(out, indent > 0 ? ": " : ":", indent > 0 ? 2 : 1);
            if (err == KUMO_ERROR_OK)
                err = write_value(v->members[i].value, indent, level + 1, out);
        }
        if (err == KUMO_ERROR_OK)
            err = newline_indent(out, indent, level);
        return err == KUMO_ERROR_OK ? kumo_codec_buffer_append(out, "}", 1) : err;
    }
    return KUMO_ERROR_INVALID_ARGUMENT;
}

kumo_error kumo_codec_value_to_json(const kumo_value *value, int indent, kumo_codec_buffer *out)
{
    size_t start = out->len;
    kumo_error err = write_value(value, indent, 0, out);
    if (err != KUMO_ERROR_OK)
        out->len = start;
    codec_buffer_terminate(out);
    return err;
}
