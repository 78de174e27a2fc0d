/*
 * json_patch.c - JSON Patch (RFC 6902) over value trees: add, remove,
 * replace, move, copy and test, with JSON Pointers (RFC 6901: "/a/0/b",
 * "~0" for "~", "~1" for "/", "-" for "after the last item").
 *
 * The patch is applied to a copy; the target is replaced only when every
 * operation succeeded, so a failing patch changes nothing. Errors name the
 * operation by index and say what was expected.
 */
#include "apis/codec/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One decoded reference token of a pointer. */
static size_t pointer_token(const char *p, char *buf, size_t size)
{
    size_t n = 0, i = 0;
    for (; p[i] && p[i] != '/'; i++) {
        char c = p[i];
        if (c == '~' && (p[i + 1] == '0' || p[i + 1] == '1'))
            c = p[++i] == '0' ? '~' : '/';
        if (n + 1 < size)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return i;
}

/* An array index token: digits without leading zeros; -1 when not one. */
static long index_token(const char *token)
{
    if (token[0] == '\0' || (token[0] == '0' && token[1] != '\0'))
        return -1;
    char *end;
    long n = strtol(token, &end, 10);
    return *end == '\0' && n >= 0 ? n : -1;
}

/* Finds the container of the pointer's last token. *parent NULL: the pointer is the root. */
static kumo_error pointer_parent(kumo_value **root, const char *pointer, kumo_value **parent,
                                 char *last, size_t last_size, kumo_diag *diag, size_t op)
{
    *parent = NULL;
    if (pointer[0] == '\0')
        return KUMO_ERROR_OK;
    if (pointer[0] != '/')
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "patch operation %zu: path \"%s\" must start with /", op, pointer);
    kumo_value *v = *root;
    const char *p = pointer + 1;
    for (;;) {
        char token[512];
        size_t used = pointer_token(p, token, sizeof(token));
        if (p[used] == '\0') {
            snprintf(last, last_size, "%s", token);
            *parent = v;
            return KUMO_ERROR_OK;
        }
        kumo_value *next = NULL;
        if (v->type == KUMO_VALUE_OBJECT) {
            next = (kumo_value *)kumo_codec_value_get(v, token);
        } else if (v->type == KUMO_VALUE_ARRAY) {
            long i = index_token(token);
            next = i >= 0 && (size_t)i < v->count ? v->items[i] : NULL;
        }
        if (next == NULL)
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "patch operation %zu: path \"%s\" does not exist", op, pointer);
        v = next;
        p += used + 1;
    }
}

/* Takes the value at pointer out of the tree (*out owned by the caller). */
static kumo_error pointer_remove(kumo_value **root, const char *pointer, kumo_value **out,
                                 kumo_diag *diag, size_t op)
{
    kumo_value *parent;
    char last[512];
    kumo_error err = pointer_parent(root, pointer, &parent, last, sizeof(last), diag, op);
    if (err != KUMO_ERROR_OK)
        return err;
    if (parent == NULL) {
        *out = *root;
        *root = codec_value_new(KUMO_VALUE_NULL);
        return *root ? KUMO_ERROR_OK : kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    if (parent->type == KUMO_VALUE_OBJECT) {
        for (size_t i = 0; i < parent->count; i++) {
            if (strcmp(parent->members[i].key, last) != 0)
                continue;
            *out = parent->members[i].value;
            free(parent->members[i].key);
            memmove(&parent->members[i], &parent->members[i + 1],
                    (parent->count - i - 1) * sizeof(*parent->members));
            parent->count--;
            return KUMO_ERROR_OK;
        }
    } else if (parent->type == KUMO_VALUE_ARRAY) {
        long i = index_token(last);
        if (i >= 0 && (size_t)i < parent->count) {
            *out = parent->items[i];
            memmove(&parent->items[i], &parent->items[i + 1],
                    (parent->count - (size_t)i - 1) * sizeof(*parent->items));
            parent->count--;
            return KUMO_ERROR_OK;
        }
    }
    return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                         "patch operation %zu: path \"%s\" does not exist", op, pointer);
}

/* Puts `value` (owned; consumed in every case) at pointer: add's semantics, or replace's. */
static kumo_error pointer_put(kumo_value **root, const char *pointer, kumo_value *value,
                              int replace, kumo_diag *diag, size_t op)
{
    kumo_value *parent;
    char last[512];
    kumo_error err = pointer_parent(root, pointer, &parent, last, sizeof(last), diag, op);
    if (err != KUMO_ERROR_OK) {
        kumo_codec_value_destroy(value);
        return err;
    }
    if (parent == NULL) {
        kumo_codec_value_destroy(*root);
        *root = value;
        return KUMO_ERROR_OK;
    }
    if (parent->type == KUMO_VALUE_OBJECT) {
        for (size_t i = 0; i < parent->count; i++)
            if (strcmp(parent->members[i].key, last) == 0) {
                kumo_codec_value_destroy(parent->members[i].value);
                parent->members[i].value = value;
                return KUMO_ERROR_OK;
            }
        if (!replace) {
            size_t cap = parent->count;
            return codec_value_object_push(parent, last, strlen(last), value, &cap) == KUMO_ERROR_OK
                       ? KUMO_ERROR_OK
                       : kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        }
    } else if (parent->type == KUMO_VALUE_ARRAY) {
        long i = strcmp(last, "-") == 0 && !replace ? (long)parent->count : index_token(last);
        if (replace && i >= 0 && (size_t)i < parent->count) {
            kumo_codec_value_destroy(parent->items[i]);
            parent->items[i] = value;
            return KUMO_ERROR_OK;
        }
        if (!replace && i >= 0 && (size_t)i <= parent->count) {
            size_t cap = parent->count;
            if (codec_value_array_push(parent, value, &cap) != KUMO_ERROR_OK)
                return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
            memmove(&parent->items[i + 1], &parent->items[i],
                    (parent->count - 1 - (size_t)i) * sizeof(*parent->items));
            parent->items[i] = value;
            return KUMO_ERROR_OK;
        }
    }
    kumo_codec_value_destroy(value);
    return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                         "patch operation %zu: path \"%s\" does not exist", op, pointer);
}

static const char *member_text(const kumo_value *op, const char *key)
{
    const kumo_value *v = kumo_codec_value_get(op, key);
    return v && v->type == KUMO_VALUE_STRING ? v->text : NULL;
}

/* Reads the value at pointer (borrowed), or NULL. */
static const kumo_value *pointer_get(kumo_value **root, const char *pointer, kumo_diag *diag,
                                     size_t op)
{
    kumo_value *parent;
    char last[512];
    if (pointer_parent(root, pointer, &parent, last, sizeof(last), diag, op) != KUMO_ERROR_OK)
        return NULL;
    if (parent == NULL)
        return *root;
    if (parent->type == KUMO_VALUE_ARRAY) {
        long i = index_token(last);
        return i >= 0 && (size_t)i < parent->count ? parent->items[i] : NULL;
    }
    return kumo_codec_value_get(parent, last);
}

/* "path does not exist", unless the diag already says why. */
static kumo_error missing(kumo_diag *diag, size_t index, const char *pointer)
{
    if (diag->code != KUMO_ERROR_OK)
        return diag->code;
    return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                         "patch operation %zu: path \"%s\" does not exist", index, pointer);
}

static kumo_error apply_one(kumo_value **root, const kumo_value *operation, size_t index,
                            kumo_diag *diag)
{
    const char *name = member_text(operation, "op"), *path = member_text(operation, "path");
    const char *from = member_text(operation, "from");
    const kumo_value *value = kumo_codec_value_get(operation, "value");
    if (name == NULL || path == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "patch operation %zu needs \"op\" and \"path\" strings", index);
    int add = strcmp(name, "add") == 0, replace = strcmp(name, "replace") == 0;
    if ((add || replace || strcmp(name, "test") == 0) && value == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "patch operation %zu (%s) needs a \"value\"", index, name);
    if (add || replace) {
        kumo_value *copy = kumo_codec_value_clone(value);
        if (copy == NULL)
            return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        if (replace && pointer_get(root, path, diag, index) == NULL) {
            kumo_codec_value_destroy(copy);
            return missing(diag, index, path);
        }
        return pointer_put(root, path, copy, replace, diag, index);
    }
    if (strcmp(name, "remove") == 0) {
        kumo_value *gone = NULL;
        kumo_error err = pointer_remove(root, path, &gone, diag, index);
        kumo_codec_value_destroy(gone);
        return err;
    }
    if (strcmp(name, "test") == 0) {
        const kumo_value *have = pointer_get(root, path, diag, index);
        if (have != NULL && kumo_codec_value_equal(have, value))
            return KUMO_ERROR_OK;
        kumo_diag_fini(diag);
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "patch operation %zu: test failed: \"%s\" is not the given value",
                             index, path);
    }
    if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
        if (from == NULL)
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "patch operation %zu (%s) needs \"from\"", index, name);
        kumo_value *moved = NULL;
        if (name[0] == 'm') {
            kumo_error err = pointer_remove(root, from, &moved, diag, index);
            if (err != KUMO_ERROR_OK)
                return err;
        } else {
            const kumo_value *source = pointer_get(root, from, diag, index);
            if (source == NULL)
                return missing(diag, index, from);
            if ((moved = kumo_codec_value_clone(source)) == NULL)
                return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        }
        return pointer_put(root, path, moved, 0, diag, index);
    }
    return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                         "patch operation %zu: unknown op \"%s\" (add, remove, replace, move, "
                         "copy or test)",
                         index, name);
}

kumo_error kumo_codec_value_json_patch(kumo_value **target, const kumo_value *patch,
                                       kumo_diag *diag)
{
    if (patch == NULL || patch->type != KUMO_VALUE_ARRAY)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "a JSON patch is an array of operations, e.g. "
                             "[{\"op\": \"replace\", \"path\": \"/spec/size\", \"value\": 3}]");
    kumo_value *work = kumo_codec_value_clone(*target);
    if (work == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    for (size_t i = 0; i < patch->count; i++) {
        if (patch->items[i]->type != KUMO_VALUE_OBJECT) {
            kumo_codec_value_destroy(work);
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "patch operation %zu is not an object", i);
        }
        kumo_error err = apply_one(&work, patch->items[i], i, diag);
        if (err != KUMO_ERROR_OK) {
            kumo_codec_value_destroy(work);
            return err;
        }
    }
    kumo_codec_value_destroy(*target);
    *target = work;
    return KUMO_ERROR_OK;
}
