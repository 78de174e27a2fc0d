/*
 * jsonpath_eval.c - running a parsed JSONPath template (jsonpath.c) against
 * a value tree: each step maps the list of current values to the next one.
 */
#include "cmd/kumoctl/jsonpath_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vec {
    const kumo_value **items;
    size_t count, cap;
} vec;

typedef struct run {
    char *err;
    size_t err_size;
    int failed;
} run;

static int run_fail(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int run_fail(run *r, const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->err_size, fmt, ap);
        va_end(ap);
    }
    r->failed = 1;
    return -1;
}

static int push(run *r, vec *v, const kumo_value *value)
{
    if (v->count == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        const kumo_value **grown = realloc(v->items, cap * sizeof(*grown));
        if (grown == NULL)
            return run_fail(r, "out of memory");
        v->items = grown;
        v->cap = cap;
    }
    v->items[v->count++] = value;
    return 0;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const kumo_value_member *const *)a)->key,
                  (*(const kumo_value_member *const *)b)->key);
}

/* The children of a container: items, or member values sorted by key (as Go's maps). */
static int children(run *r, const kumo_value *v, vec *out)
{
    if (v->type == KUMO_VALUE_ARRAY) {
        for (size_t i = 0; i < v->count; i++)
            if (push(r, out, v->items[i]) != 0)
                return -1;
    } else if (v->type == KUMO_VALUE_OBJECT && v->count > 0) {
        const kumo_value_member **sorted = malloc(v->count * sizeof(*sorted));
        if (sorted == NULL)
            return run_fail(r, "out of memory");
        for (size_t i = 0; i < v->count; i++)
            sorted[i] = &v->members[i];
        qsort(sorted, v->count, sizeof(*sorted), by_key);
        for (size_t i = 0; i < v->count; i++)
            if (push(r, out, sorted[i]->value) != 0)
                break;
        free(sorted);
    }
    return r->failed ? -1 : 0;
}

/* kubectl's recursive descent: every container, then its descendants. */
static int recursive(run *r, const kumo_value *v, vec *out)
{
    vec kids = {NULL, 0, 0};
    int rc = children(r, v, &kids);
    if (rc == 0 && kids.count > 0) {
        rc = push(r, out, v);
        for (size_t i = 0; rc == 0 && i < kids.count; i++)
            rc = recursive(r, kids.items[i], out);
    }
    free(kids.items);
    return rc;
}

static int slice(run *r, const kumo_value *v, const jp_slice *s, vec *out)
{
    if (v->type != KUMO_VALUE_ARRAY)
        return run_fail(r, "%s is not an array",
                        v->type == KUMO_VALUE_OBJECT ? "an object" : "a scalar");
    long len = (long)v->count, from = s->known[0] ? s->value[0] : 0;
    long to = s->known[1] ? s->value[1] : len;
    if (from < 0)
        from += len;
    if (to < 0 || (to == 0 && s->derived))
        to += len;
    if (to == from)
        return 0;
    if (from >= len || from < 0)
        return run_fail(r, "array index out of bounds: index %ld, length %ld", from, len);
    if (to > len || to < 0)
        return run_fail(r, "array index out of bounds: index %ld, length %ld", to - 1, len);
    if (from > to)
        return run_fail(r, "starting index %ld is greater than ending index %ld", from, to);
    long step = s->known[2] ? s->value[2] : 1;
    if (step <= 0)
        return run_fail(r, "step must be greater than 0");
    for (long i = from; i < to; i += step)
        if (push(r, out, v->items[i]) != 0)
            return -1;
    return 0;
}

static int eval_path(run *r, const jp_path *p, const kumo_value *root, const kumo_value *current,
                     vec *out);

static int is_number(const kumo_value *v)
{
    return v->type == KUMO_VALUE_NUMBER;
}

/* Compares two scalars as kubectl's filter does: numbers by value, strings by bytes. */
static int filter_compare(run *r, const kumo_value *a, const kumo_value *b, filter_op op)
{
    int cmp;
    if (is_number(a) && is_number(b)) {
        double x = strtod(a->text, NULL), y = strtod(b->text, NULL);
        cmp = x < y ? -1 : x > y;
    } else if (a->type == KUMO_VALUE_STRING && b->type == KUMO_VALUE_STRING) {
        size_t n = a->length < b->length ? a->length : b->length;
        cmp = memcmp(a->text, b->text, n);
        if (cmp == 0)
            cmp = a->length < b->length ? -1 : a->length > b->length;
    } else if (a->type == KUMO_VALUE_BOOL && b->type == KUMO_VALUE_BOOL &&
               (op == OP_EQ || op == OP_NE)) {
        cmp = a->boolean != b->boolean;
    } else {
        return run_fail(r, "cannot compare %s with %s in a filter",
                        a->type == KUMO_VALUE_STRING ? "a string" : "a non-string",
                        b->type == KUMO_VALUE_STRING ? "a string" : "a non-string");
    }
    switch (op) {
    case OP_EQ:
        return cmp == 0;
    case OP_NE:
        return cmp != 0;
    case OP_LT:
        return cmp < 0;
    case OP_LE:
        return cmp <= 0;
    case OP_GT:
        return cmp > 0;
    case OP_GE:
        return cmp >= 0;
    case OP_EXISTS:
        break;
    }
    return 1;
}

/* The first value of an operand for `item`, or NULL. */
static int operand_value(run *r, const jp_operand *op, const kumo_value *root,
                         const kumo_value *item, const kumo_value **out)
{
    *out = NULL;
    if (op->path == NULL) {
        *out = &op->literal;
        return 0;
    }
    vec found = {NULL, 0, 0};
    int rc = eval_path(r, op->path, root, item, &found);
    if (rc == 0 && found.count > 0)
        *out = found.items[0];
    free(found.items);
    return rc;
}

static int filter(run *r, const kumo_value *v, const jp_filter *f, const kumo_value *root, vec *out)
{
    if (v->type != KUMO_VALUE_ARRAY)
        return run_fail(r, "a filter needs an array, found %s",
                        v->type == KUMO_VALUE_OBJECT ? "an object" : "a scalar");
    for (size_t i = 0; i < v->count; i++) {
        const kumo_value *left, *right;
        if (operand_value(r, &f->left, root, v->items[i], &left) != 0)
            return -1;
        if (left == NULL)
            continue;
        int keep = 1;
        if (f->op != OP_EXISTS) {
            if (operand_value(r, &f->right, root, v->items[i], &right) != 0)
                return -1;
            keep = right != NULL ? filter_compare(r, left, right, f->op) : 0;
            if (keep < 0)
                return -1;
        }
        if (keep && push(r, out, v->items[i]) != 0)
            return -1;
    }
    return 0;
}

/* Member `m` of a union step (a field name or a slice), or the whole step, on one value. */
static int apply_step(run *r, const jp_step *s, size_t m, const kumo_value *v,
                      const kumo_value *root, vec *out)
{
    const kumo_value *member;
    switch (s->type) {
    case STEP_FIELDS:
        member = kumo_codec_value_get(v, s->names[m]);
        return member != NULL ? push(r, out, member) : 0;
    case STEP_RECURSIVE:
        return recursive(r, v, out);
    case STEP_WILDCARD:
        return children(r, v, out);
    case STEP_SLICES:
        return slice(r, v, &s->slices[m], out);
    case STEP_FILTER:
        return filter(r, v, s->filter, root, out);
    }
    return 0;
}

/* A step over every current value; unions go member by member, as kubectl's do. */
static int apply_step_all(run *r, const jp_step *s, const vec *now, const kumo_value *root,
                          vec *next)
{
    size_t members = s->type == STEP_FIELDS   ? s->name_count
                     : s->type == STEP_SLICES ? s->slice_count
                                              : 1;
    for (size_t m = 0; m < members; m++)
        for (size_t j = 0; j < now->count; j++)
            if (apply_step(r, s, m, now->items[j], root, next) != 0)
                return -1;
    return 0;
}

static int eval_path(run *r, const jp_path *p, const kumo_value *root, const kumo_value *current,
                     vec *out)
{
    vec now = {NULL, 0, 0};
    if (push(r, &now, p->from_root ? root : current) != 0)
        return -1;
    for (size_t i = 0; i < p->count; i++) {
        vec next = {NULL, 0, 0};
        apply_step_all(r, &p->steps[i], &now, root, &next);
        free(now.items);
        now = next;
        if (r->failed) {
            free(now.items);
            return -1;
        }
    }
    for (size_t j = 0; j < now.count; j++)
        if (push(r, out, now.items[j]) != 0)
            break;
    free(now.items);
    return r->failed ? -1 : 0;
}

/* One action's results as kubectl prints them: joined by spaces; containers as JSON. */
static int print_results(run *r, const vec *found, kumo_codec_buffer *out)
{
    kumo_error err = KUMO_ERROR_OK;
    for (size_t i = 0; i < found->count && err == KUMO_ERROR_OK; i++) {
        const kumo_value *v = found->items[i];
        if (v->type == KUMO_VALUE_ARRAY || v->type == KUMO_VALUE_OBJECT)
            err = kumoctl_value_print_json(v, out);
        else
            err = kumoctl_value_print_go(v, out);
        if (err == KUMO_ERROR_OK && i + 1 < found->count)
            err = kumo_codec_buffer_append(out, " ", 1);
    }
    return err == KUMO_ERROR_OK ? 0 : run_fail(r, "out of memory");
}

/* Runs nodes [from, to) with `data` as both $ and @ (kubectl re-roots inside a range). */
static int run_nodes(run *r, const kumoctl_jsonpath *jp, size_t from, size_t to,
                     const kumo_value *data, kumo_codec_buffer *out)
{
    for (size_t i = from; i < to; i++) {
        const jp_node *n = &jp->nodes[i];
        if (n->type == NODE_TEXT) {
            if (kumo_codec_buffer_append(out, n->text, strlen(n->text)) != KUMO_ERROR_OK)
                return run_fail(r, "out of memory");
            continue;
        }
        if (n->type == NODE_END)
            continue;
        vec found = {NULL, 0, 0};
        int rc = eval_path(r, &n->path, data, data, &found);
        if (rc == 0 && n->type == NODE_PATH)
            rc = print_results(r, &found, out);
        for (size_t k = 0; rc == 0 && n->type == NODE_RANGE && k < found.count; k++)
            rc = run_nodes(r, jp, i + 1, n->end, found.items[k], out);
        free(found.items);
        if (rc != 0)
            return -1;
        if (n->type == NODE_RANGE)
            i = n->end;
    }
    return 0;
}

int kumoctl_jsonpath_execute(const kumoctl_jsonpath *jp, const kumo_value *root,
                             kumo_codec_buffer *out, char *err, size_t err_size)
{
    run r = {err, err_size, 0};
    return run_nodes(&r, jp, 0, jp->count, root, out);
}

long kumoctl_jsonpath_find(const kumoctl_jsonpath *jp, const kumo_value *root,
                           const kumo_value ***out, char *err, size_t err_size)
{
    run r = {err, err_size, 0};
    vec found = {NULL, 0, 0};
    *out = NULL;
    for (size_t i = 0; i < jp->count; i++) {
        if (jp->nodes[i].type != NODE_PATH)
            continue;
        if (eval_path(&r, &jp->nodes[i].path, root, root, &found) != 0) {
            free(found.items);
            return -1;
        }
        break;
    }
    *out = found.items;
    return (long)found.count;
}
