/*
 * jsonpath.c - parsing and running kubectl's JSONPath templates (see
 * jsonpath.h for the language).
 *
 * A template parses into a flat list of nodes: text, a path, `range PATH`
 * and `end` (each range knows the index of its end). A path is a list of
 * steps; running a step maps the list of current values to the next list,
 * exactly as kubectl's engine does, including its quirks: inside a range
 * the item is both `$` and `@`, recursive descent yields only containers,
 * and slices out of bounds are errors.
 */
#include "cmd/kumoctl/jsonpath_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing ----------------------------------------------------------------------------- */

typedef struct cursor {
    const char *text;
    size_t pos;
    char *err;
    size_t err_size;
    int failed;
} cursor;

static void *parse_fail(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void *parse_fail(cursor *c, const char *fmt, ...)
{
    if (!c->failed) {
        char what[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(c->err, c->err_size, "JSONPath \"%s\": %s at offset %zu", c->text, what, c->pos);
    }
    c->failed = 1;
    return NULL;
}

static char peek(const cursor *c)
{
    return c->text[c->pos];
}

static void skip_spaces(cursor *c)
{
    while (peek(c) == ' ' || peek(c) == '\t')
        c->pos++;
}

static void path_free(jp_path *p);

static void step_free(jp_step *s)
{
    for (size_t i = 0; i < s->name_count; i++)
        free(s->names[i]);
    free(s->names);
    free(s->slices);
    if (s->filter) {
        jp_operand *ops[2] = {&s->filter->left, &s->filter->right};
        for (int i = 0; i < 2; i++) {
            if (ops[i]->path) {
                path_free(ops[i]->path);
                free(ops[i]->path);
            }
            free(ops[i]->literal.text);
        }
        free(s->filter);
    }
}

static void path_free(jp_path *p)
{
    for (size_t i = 0; i < p->count; i++)
        step_free(&p->steps[i]);
    free(p->steps);
    memset(p, 0, sizeof(*p));
}

static jp_step *step_add(cursor *c, jp_path *p, step_type type)
{
    jp_step *grown = realloc(p->steps, (p->count + 1) * sizeof(*grown));
    if (grown == NULL)
        return parse_fail(c, "out of memory");
    p->steps = grown;
    jp_step *s = &p->steps[p->count++];
    memset(s, 0, sizeof(*s));
    s->type = type;
    return s;
}

static int name_add(cursor *c, jp_step *s, const char *name, size_t len)
{
    char **grown = realloc(s->names, (s->name_count + 1) * sizeof(*grown));
    char *copy = malloc(len + 1);
    if (grown)
        s->names = grown;
    if (grown == NULL || copy == NULL) {
        free(copy);
        parse_fail(c, "out of memory");
        return -1;
    }
    memcpy(copy, name, len);
    copy[len] = '\0';
    s->names[s->name_count++] = copy;
    return 0;
}

/* A field name after '.': letters, digits, _ - / and "\." for a dot. */
static int parse_field_name(cursor *c, jp_step *s)
{
    char name[256];
    size_t n = 0;
    for (;;) {
        char ch = peek(c);
        if (ch == '\\' && c->text[c->pos + 1] == '.') {
            ch = '.';
            c->pos++;
        } else if (!(isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '/' ||
                     (unsigned char)ch >= 0x80)) {
            break;
        }
        if (n + 1 >= sizeof(name)) {
            parse_fail(c, "field name too long");
            return -1;
        }
        name[n++] = ch;
        c->pos++;
    }
    if (n == 0) {
        parse_fail(c, "expected a field name");
        return -1;
    }
    return name_add(c, s, name, n);
}

/* A quoted string ('...' or "...") with \n \t \\ \" \' escapes; the quote is at pos. */
static int parse_quoted(cursor *c, char *buf, size_t size)
{
    char quote = peek(c);
    size_t n = 0;
    c->pos++;
    while (peek(c) != quote) {
        char ch = peek(c);
        if (ch == '\0') {
            parse_fail(c, "unterminated quoted string");
            return -1;
        }
        if (ch == '\\') {
            c->pos++;
            ch = peek(c);
            ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' : ch;
            if (ch == '\0') {
                parse_fail(c, "unterminated quoted string");
                return -1;
            }
        }
        if (n + 1 >= size) {
            parse_fail(c, "quoted string too long");
            return -1;
        }
        buf[n++] = ch;
        c->pos++;
    }
    c->pos++;
    buf[n] = '\0';
    return (int)n;
}

static int parse_long(cursor *c, long *out)
{
    char *end;
    errno = 0;
    *out = strtol(c->text + c->pos, &end, 10);
    if (end == c->text + c->pos || errno != 0) {
        parse_fail(c, "expected an integer");
        return -1;
    }
    c->pos = (size_t)(end - c->text);
    return 0;
}

/* [n], [a:b], [a:b:c], [0,2,...]; pos is after '['. */
static int parse_slices(cursor *c, jp_step *s)
{
    for (;;) {
        jp_slice slice;
        memset(&slice, 0, sizeof(slice));
        int part = 0;
        for (;;) {
            skip_spaces(c);
            if (peek(c) == '-' || isdigit((unsigned char)peek(c))) {
                if (parse_long(c, &slice.value[part]) != 0)
                    return -1;
                slice.known[part] = 1;
            }
            skip_spaces(c);
            if (peek(c) != ':' || part == 2)
                break;
            c->pos++;
            part++;
        }
        if (part == 0) {
            if (!slice.known[0]) {
                parse_fail(c, "expected an index");
                return -1;
            }
            slice.value[1] = slice.value[0] + 1;
            slice.known[1] = 1;
            slice.derived = 1;
        }
        jp_slice *grown = realloc(s->slices, (s->slice_count + 1) * sizeof(*grown));
        if (grown == NULL) {
            parse_fail(c, "out of memory");
            return -1;
        }
        s->slices = grown;
        s->slices[s->slice_count++] = slice;
        if (peek(c) != ',')
            return 0;
        c->pos++;
    }
}

static int parse_path(cursor *c, jp_path *p, int in_filter);

static int parse_operand(cursor *c, jp_operand *op)
{
    skip_spaces(c);
    char ch = peek(c);
    if (ch == '@' || ch == '$') {
        op->path = calloc(1, sizeof(*op->path));
        if (op->path == NULL) {
            parse_fail(c, "out of memory");
            return -1;
        }
        return parse_path(c, op->path, 1);
    }
    char buf[512];
    if (ch == '\'' || ch == '"') {
        int n = parse_quoted(c, buf, sizeof(buf));
        if (n < 0)
            return -1;
        op->literal.type = KUMO_VALUE_STRING;
        op->literal.length = (size_t)n;
    } else {
        size_t n = 0;
        while (peek(c) && strchr(" )=!<>", peek(c)) == NULL && n + 1 < sizeof(buf))
            buf[n++] = c->text[c->pos++];
        buf[n] = '\0';
        if (strcmp(buf, "true") == 0 || strcmp(buf, "false") == 0) {
            op->literal.type = KUMO_VALUE_BOOL;
            op->literal.boolean = buf[0] == 't';
        } else {
            char *end;
            strtod(buf, &end);
            if (n == 0 || *end != '\0') {
                parse_fail(c, "expected a path, a quoted string, a number or true/false");
                return -1;
            }
            op->literal.type = KUMO_VALUE_NUMBER;
            op->literal.length = n;
        }
    }
    op->literal.text = strdup(buf);
    if (op->literal.text == NULL) {
        parse_fail(c, "out of memory");
        return -1;
    }
    return 0;
}

/* ?(left op right) or ?(path); pos is after '?'. */
static int parse_filter(cursor *c, jp_step *s)
{
    static const struct {
        const char *text;
        filter_op op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
               {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
    s->filter = calloc(1, sizeof(*s->filter));
    if (s->filter == NULL || peek(c) != '(') {
        parse_fail(c, s->filter ? "expected ( after ?" : "out of memory");
        return -1;
    }
    c->pos++;
    if (parse_operand(c, &s->filter->left) != 0)
        return -1;
    skip_spaces(c);
    if (peek(c) != ')') {
        size_t i;
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
            if (strncmp(c->text + c->pos, ops[i].text, strlen(ops[i].text)) == 0)
                break;
        if (i == sizeof(ops) / sizeof(ops[0])) {
            parse_fail(c, "expected ==, !=, <, <=, > or >= in the filter");
            return -1;
        }
        s->filter->op = ops[i].op;
        c->pos += strlen(ops[i].text);
        if (parse_operand(c, &s->filter->right) != 0)
            return -1;
        skip_spaces(c);
    }
    if (peek(c) != ')') {
        parse_fail(c, "expected ) to close the filter");
        return -1;
    }
    c->pos++;
    return 0;
}

/* What follows '[' up to and including ']'. */
static int parse_bracket(cursor *c, jp_path *p)
{
    skip_spaces(c);
    char ch = peek(c);
    jp_step *s;
    int rc = 0;
    if (ch == '*') {
        c->pos++;
        s = step_add(c, p, STEP_WILDCARD);
        rc = s ? 0 : -1;
    } else if (ch == '?') {
        c->pos++;
        s = step_add(c, p, STEP_FILTER);
        rc = s ? parse_filter(c, s) : -1;
    } else if (ch == '\'' || ch == '"') {
        s = step_add(c, p, STEP_FIELDS);
        while (s && rc == 0) {
            char name[256];
            int n = parse_quoted(c, name, sizeof(name));
            rc = n < 0 ? -1 : name_add(c, s, name, (size_t)n);
            skip_spaces(c);
            if (rc != 0 || peek(c) != ',')
                break;
            c->pos++;
            skip_spaces(c);
        }
        rc = s ? rc : -1;
    } else {
        s = step_add(c, p, STEP_SLICES);
        rc = s ? parse_slices(c, s) : -1;
    }
    skip_spaces(c);
    if (rc == 0 && peek(c) != ']') {
        parse_fail(c, "expected ]");
        return -1;
    }
    c->pos++;
    return rc;
}

/* A path up to '}' (or, in a filter, up to a space, an operator or ')'). */
static int parse_path(cursor *c, jp_path *p, int in_filter)
{
    if (peek(c) == '$' || peek(c) == '@') {
        p->from_root = peek(c) == '$';
        c->pos++;
    }
    for (;;) {
        char ch = peek(c);
        if (ch == '\0' || ch == '}' || (in_filter && strchr(" )=!<>", ch)))
            return 0;
        if (ch == '[') {
            c->pos++;
            if (parse_bracket(c, p) != 0)
                return -1;
            continue;
        }
        if (ch != '.') {
            parse_fail(c, "unexpected \"%c\"", ch);
            return -1;
        }
        c->pos++;
        if (peek(c) == '.') {
            if (step_add(c, p, STEP_RECURSIVE) == NULL)
                return -1;
            c->pos++;
        }
        if (peek(c) == '*') {
            c->pos++;
            if (step_add(c, p, STEP_WILDCARD) == NULL)
                return -1;
        } else if (peek(c) == '[') {
            continue;
        } else if (peek(c) != '\0' && peek(c) != '}') {
            jp_step *s = step_add(c, p, STEP_FIELDS);
            if (s == NULL || parse_field_name(c, s) != 0)
                return -1;
        }
    }
}

static jp_node *node_add(cursor *c, kumoctl_jsonpath *jp, node_type type)
{
    jp_node *grown = realloc(jp->nodes, (jp->count + 1) * sizeof(*grown));
    if (grown == NULL)
        return parse_fail(c, "out of memory");
    jp->nodes = grown;
    jp_node *n = &jp->nodes[jp->count++];
    memset(n, 0, sizeof(*n));
    n->type = type;
    return n;
}

static int add_text(cursor *c, kumoctl_jsonpath *jp, const char *text, size_t len)
{
    if (len == 0)
        return 0;
    jp_node *n = node_add(c, jp, NODE_TEXT);
    if (n == NULL || (n->text = strndup(text, len)) == NULL) {
        parse_fail(c, "out of memory");
        return -1;
    }
    return 0;
}

/* The inside of one {action}; pos is after '{'. `open` holds the indexes of unclosed ranges. */
static int parse_action(cursor *c, kumoctl_jsonpath *jp, size_t *open, size_t *open_count)
{
    skip_spaces(c);
    const char *at = c->text + c->pos;
    if (peek(c) == '"' || peek(c) == '\'') {
        char buf[1024];
        int n = parse_quoted(c, buf, sizeof(buf));
        if (n < 0 || add_text(c, jp, buf, (size_t)n) != 0)
            return -1;
    } else if (strncmp(at, "end", 3) == 0 && (at[3] == '}' || at[3] == ' ')) {
        c->pos += 3;
        if (*open_count == 0) {
            parse_fail(c, "{end} without a {range}");
            return -1;
        }
        if (node_add(c, jp, NODE_END) == NULL)
            return -1;
        jp->nodes[open[--*open_count]].end = jp->count - 1;
    } else {
        int range = strncmp(at, "range ", 6) == 0;
        if (range) {
            c->pos += 6;
            skip_spaces(c);
            if (*open_count == 64) {
                parse_fail(c, "ranges nested too deep");
                return -1;
            }
            open[(*open_count)++] = jp->count;
        }
        jp_node *n = node_add(c, jp, range ? NODE_RANGE : NODE_PATH);
        if (n == NULL || parse_path(c, &n->path, 0) != 0)
            return -1;
    }
    skip_spaces(c);
    if (peek(c) != '}') {
        parse_fail(c, "expected }");
        return -1;
    }
    c->pos++;
    return 0;
}

kumoctl_jsonpath *kumoctl_jsonpath_parse(const char *text, char *err, size_t err_size)
{
    cursor c = {text, 0, err, err_size, 0};
    kumoctl_jsonpath *jp = calloc(1, sizeof(*jp));
    size_t open[64], open_count = 0;
    if (jp == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    while (!c.failed && peek(&c) != '\0') {
        size_t start = c.pos;
        while (peek(&c) != '\0' && peek(&c) != '{')
            c.pos++;
        if (add_text(&c, jp, text + start, c.pos - start) != 0 || peek(&c) == '\0')
            break;
        c.pos++;
        parse_action(&c, jp, open, &open_count);
    }
    if (!c.failed && open_count > 0)
        parse_fail(&c, "{range} without an {end}");
    if (c.failed) {
        kumoctl_jsonpath_destroy(jp);
        return NULL;
    }
    return jp;
}

void kumoctl_jsonpath_destroy(kumoctl_jsonpath *jp)
{
    if (jp == NULL)
        return;
    for (size_t i = 0; i < jp->count; i++) {
        free(jp->nodes[i].text);
        path_free(&jp->nodes[i].path);
    }
    free(jp->nodes);
    free(jp);
}

void kumoctl_jsonpath_relaxed(const char *expression, char *buf, size_t size)
{
    size_t len = strlen(expression);
    if (len >= 2 && expression[0] == '{' && expression[len - 1] == '}') {
        expression++;
        len -= 2;
    }
    snprintf(buf, size, "{%s%.*s}", len > 0 && expression[0] == '.' ? "" : ".", (int)len,
             expression);
}
