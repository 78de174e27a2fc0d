/*
 * selector.c - Kubernetes label and field selectors.
 *
 * Label grammar (as kubectl and the Kubernetes apiserver accept it):
 *   selector    := requirement ( "," requirement )*
 *   requirement := "!" key | key | key ("=" | "==" | "!=") value
 *                | key ("in" | "notin") "(" value ( "," value )* ")"
 * Keys are [prefix/]name with name a 63-character qualified name and prefix a
 * DNS subdomain; values are empty or qualified names. `!=` and `notin` match
 * objects that do not have the label. Field selectors support metadata.name
 * and metadata.namespace with =, == and !=.
 */
#include "apis/object/internal.h"

#include <stdio.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef enum label_op {
    LABEL_EQ,
    LABEL_NE,
    LABEL_IN,
    LABEL_NOTIN,
    LABEL_EXISTS,
    LABEL_NOT_EXISTS,
} label_op;

typedef struct label_req {
    char *key;
    label_op op;
    char **values;
    size_t n_values;
} label_req;

typedef struct field_req {
    int namespace_field; /* 0: metadata.name, 1: metadata.namespace */
    int negate;
    char *value;
} field_req;

struct kumo_object_selector {
    label_req *labels;
    size_t n_labels;
    field_req *fields;
    size_t n_fields;
};

void kumo_object_selector_destroy(kumo_object_selector *sel)
{
    if (sel == NULL)
        return;
    for (size_t i = 0; i < sel->n_labels; i++) {
        free(sel->labels[i].key);
        for (size_t j = 0; j < sel->labels[i].n_values; j++)
            free(sel->labels[i].values[j]);
        free(sel->labels[i].values);
    }
    for (size_t i = 0; i < sel->n_fields; i++)
        free(sel->fields[i].value);
    free(sel->labels);
    free(sel->fields);
    free(sel);
}

int kumo_object_selector_is_empty(const kumo_object_selector *sel)
{
    return sel == NULL || (sel->n_labels == 0 && sel->n_fields == 0);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Qualified name: 1..63 of [A-Za-z0-9-_.], starting and ending alphanumeric. */
static int qualified_name(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

static int dns_subdomain(const char *s, size_t n)
{
    if (n == 0 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
              s[i] == '.'))
            return 0;
    return 1;
}

static int label_key_valid(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    if (slash == NULL)
        return qualified_name(s, n);
    size_t p = (size_t)(slash - s);
    return dns_subdomain(s, p) && qualified_name(slash + 1, n - p - 1);
}

static int label_value_valid(const char *s, size_t n)
{
    return n == 0 || qualified_name(s, n);
}

typedef struct parser {
    const char *text;
    size_t pos;
    kumo_diag *diag;
} parser;

static void skip_space(parser *p)
{
    while (p->text[p->pos] == ' ' || p->text[p->pos] == '\t')
        p->pos++;
}

static int word_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

/* Reads a word (key or value); returns its length (0 when none). */
static size_t read_word(parser *p, const char **start)
{
    skip_space(p);
    *start = p->text + p->pos;
    size_t n = 0;
    while (word_char(p->text[p->pos + n]))
        n++;
    p->pos += n;
    return n;
}

static kumo_error parse_error(parser *p, const char *what)
{
    return kumo_diag_set(p->diag, KUMO_ERROR_INVALID_ARGUMENT,
                         "unable to parse requirement: %s at position %zu of label selector "
                         "\"%s\"",
                         what, p->pos, p->text);
}

static kumo_error add_value(parser *p, label_req *r, const char *s, size_t n)
{
    if (!label_value_valid(s, n)) {
        return kumo_diag_set(p->diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "invalid label value \"%.*s\" in label selector \"%s\": a valid "
                             "label must be an empty string or consist of alphanumeric "
                             "characters, '-', '_' or '.', and must start and end with an "
                             "alphanumeric character (at most 63)",
                             (int)n, s, p->text);
    }
    char **grown = realloc(r->values, (r->n_values + 1) * sizeof(*grown));
    if (grown == NULL)
        return KUMO_ERROR_NOMEM;
    r->values = grown;
    if ((grown[r->n_values] = dup_n(s, n)) == NULL)
        return KUMO_ERROR_NOMEM;
    r->n_values++;
    return KUMO_ERROR_OK;
}

static kumo_error parse_requirement(parser *p, label_req *r)
{
    skip_space(p);
    if (p->text[p->pos] == '!') {
        p->pos++;
        r->op = LABEL_NOT_EXISTS;
    } else {
        r->op = LABEL_EXISTS;
    }
    const char *key;
    size_t n = read_word(p, &key);
    if (n == 0)
        return parse_error(p, "expected a label key");
    if (!label_key_valid(key, n))
        return kumo_diag_set(p->diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "invalid label key \"%.*s\" in label selector \"%s\": a qualified "
                             "name is at most 63 of alphanumeric characters, '-', '_' or '.' "
                             "with an optional DNS subdomain prefix and '/'",
                             (int)n, key, p->text);
    if ((r->key = dup_n(key, n)) == NULL)
        return KUMO_ERROR_NOMEM;
    skip_space(p);
    char c = p->text[p->pos];
    if (r->op == LABEL_NOT_EXISTS || c == ',' || c == '\0')
        return KUMO_ERROR_OK;
    const char *value;
    if (c == '=' || (c == '!' && p->text[p->pos + 1] == '=')) {
        r->op = c == '=' ? LABEL_EQ : LABEL_NE;
        p->pos += c == '=' && p->text[p->pos + 1] == '=' ? 2 : c == '=' ? 1 : 2;
        n = read_word(p, &value);
        return add_value(p, r, value, n);
    }
    const char *word;
    n = read_word(p, &word);
    if (n == 2 && memcmp(word, "in", 2) == 0)
        r->op = LABEL_IN;
    else if (n == 5 && memcmp(word, "notin", 5) == 0)
        r->op = LABEL_NOTIN;
    else
        return parse_error(p, "expected one of =, ==, !=, in, notin");
    skip_space(p);
    if (p->text[p->pos] != '(')
        return parse_error(p, "expected '('");
    p->pos++;
    skip_space(p);
    if (p->text[p->pos] == ')')
        return parse_error(p, "for 'in', 'notin' operators, values set can't be empty");
    for (;;) {
        n = read_word(p, &value);
        kumo_error err = add_value(p, r, value, n);
        if (err != KUMO_ERROR_OK)
            return err;
        skip_space(p);
        if (p->text[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->text[p->pos] == ')') {
            p->pos++;
            return KUMO_ERROR_OK;
        }
        return parse_error(p, "expected ',' or ')'");
    }
}

static kumo_error parse_labels(kumo_object_selector *sel, const char *text, kumo_diag *diag)
{
    parser p = {text, 0, diag};
    skip_space(&p);
    if (text[p.pos] == '\0')
        return KUMO_ERROR_OK;
    for (;;) {
        label_req *grown = realloc(sel->labels, (sel->n_labels + 1) * sizeof(*grown));
        if (grown == NULL)
            return KUMO_ERROR_NOMEM;
        sel->labels = grown;
        label_req *r = &sel->labels[sel->n_labels++];
        memset(r, 0, sizeof(*r));
        kumo_error err = parse_requirement(&p, r);
        if (err != KUMO_ERROR_OK)
            return err;
        skip_space(&p);
        if (text[p.pos] == '\0')
            return KUMO_ERROR_OK;
        if (text[p.pos] != ',')
            return parse_error(&p, "expected ','");
        p.pos++;
    }
}

static kumo_error parse_fields(kumo_object_selector *sel, const char *text, kumo_diag *diag)
{
    const char *s = text;
    while (*s == ' ')
        s++;
    if (*s == '\0')
        return KUMO_ERROR_OK;
    for (;;) {
        size_t len = strcspn(s, ",");
        const char *op = NULL;
        for (size_t i = 0; i < len && op == NULL; i++)
            if (s[i] == '=' || (s[i] == '!' && i + 1 < len && s[i + 1] == '='))
                op = s + i;
        if (op == NULL)
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "invalid field selector \"%s\": expected field=value", text);
        size_t flen = (size_t)(op - s);
        while (flen > 0 && s[flen - 1] == ' ')
            flen--;
        field_req f = {0, 0, NULL};
        if (flen == 13 && memcmp(s, "metadata.name", 13) == 0)
            f.namespace_field = 0;
        else if (flen == 18 && memcmp(s, "metadata.namespace", 18) == 0)
            f.namespace_field = 1;
        else
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "field label not supported: %.*s (supported: metadata.name, "
                                 "metadata.namespace)",
                                 (int)flen, s);
        const char *v = op;
        if (v[0] == '!') {
            f.negate = 1;
            v += 2;
        } else {
            v += v[1] == '=' ? 2 : 1;
        }
        while (*v == ' ')
            v++;
        size_t vlen = (size_t)(s + len - v);
        while (vlen > 0 && v[vlen - 1] == ' ')
            vlen--;
        field_req *grown = realloc(sel->fields, (sel->n_fields + 1) * sizeof(*grown));
        if (grown == NULL)
            return KUMO_ERROR_NOMEM;
        sel->fields = grown;
        if ((f.value = dup_n(v, vlen)) == NULL)
            return KUMO_ERROR_NOMEM;
        sel->fields[sel->n_fields++] = f;
        if (s[len] == '\0')
            return KUMO_ERROR_OK;
        s += len + 1;
    }
}

kumo_error kumo_object_selector_parse(const char *labels, const char *fields,
                                      kumo_object_selector **out, kumo_diag *diag)
{
    *out = NULL;
    kumo_object_selector *sel = calloc(1, sizeof(*sel));
    if (sel == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    kumo_error err = labels ? parse_labels(sel, labels, diag) : KUMO_ERROR_OK;
    if (err == KUMO_ERROR_OK && fields)
        err = parse_fields(sel, fields, diag);
    if (err != KUMO_ERROR_OK) {
        kumo_object_selector_destroy(sel);
        if (err == KUMO_ERROR_NOMEM)
            kumo_diag_set(diag, err, "out of memory");
        return err;
    }
    *out = sel;
    return KUMO_ERROR_OK;
}

static const char *label_get(const Kumo__V1alpha1__ObjectMeta *meta, const char *key)
{
    for (size_t i = 0; meta && i < meta->n_labels; i++)
        if (strcmp(meta->labels[i]->key, key) == 0)
            return meta->labels[i]->value ? meta->labels[i]->value : "";
    return NULL;
}

static int in_values(const label_req *r, const char *v)
{
    for (size_t i = 0; i < r->n_values; i++)
        if (strcmp(r->values[i], v) == 0)
            return 1;
    return 0;
}

int kumo_object_selector_matches(const kumo_object_selector *sel, const ProtobufCMessage *object)
{
    if (sel == NULL)
        return 1;
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    for (size_t i = 0; i < sel->n_fields; i++) {
        const field_req *f = &sel->fields[i];
        const char *actual =
            f->namespace_field ? kumo_object_namespace(object) : kumo_object_name(object);
        if ((strcmp(actual, f->value) == 0) == f->negate)
            return 0;
    }
    for (size_t i = 0; i < sel->n_labels; i++) {
        const label_req *r = &sel->labels[i];
        const char *v = label_get(meta, r->key);
        int ok;
        switch (r->op) {
        case LABEL_EQ:
        case LABEL_IN:
            ok = v != NULL && in_values(r, v);
            break;
        case LABEL_NE:
        case LABEL_NOTIN:
            ok = v == NULL || !in_values(r, v);
            break;
        case LABEL_EXISTS:
            ok = v != NULL;
            break;
        case LABEL_NOT_EXISTS:
        default:
            ok = v == NULL;
            break;
        }
        if (!ok)
            return 0;
    }
    return 1;
}
