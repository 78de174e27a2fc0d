/*
 * selector.c - label and field selectors, matched client-side.
 *
 * A watch passes its selectors to the server for catch-up requests, but live
 * events arrive unfiltered on the event subjects, so the client applies the
 * same rules itself. The semantics are Kubernetes' (and the store's):
 *   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
 * where != and notin also match objects without the label; fields are
 * metadata.name and metadata.namespace with =, == or !=.
 *
 * (The store has its own copy of these rules; both should move into
 * apis/object so that one parser serves everyone.)
 */
#include "bus/client/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef enum selector_op {
    OP_EQ,
    OP_NE,
    OP_IN,
    OP_NOTIN,
    OP_EXISTS,
    OP_NOT_EXISTS,
} selector_op;

typedef struct requirement {
    int field; /* 1: a field requirement (metadata.name / metadata.namespace) */
    char *key;
    selector_op op;
    char **values;
    size_t value_count;
} requirement;

struct client_selector {
    requirement *items;
    size_t count;
};

void client_selector_destroy(client_selector *selector)
{
    if (selector == NULL)
        return;
    for (size_t i = 0; i < selector->count; i++) {
        free(selector->items[i].key);
        for (size_t v = 0; v < selector->items[i].value_count; v++)
            free(selector->items[i].values[v]);
        free(selector->items[i].values);
    }
    free(selector->items);
    free(selector);
}

static char *copy_trimmed(const char *start, const char *end)
{
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    return strndup(start, (size_t)(end - start));
}

static int is_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == '/';
}

static int is_value_valid(const char *value)
{
    for (const char *p = value; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
            return 0;
    return 1;
}

static int add_value(requirement *r, char *value)
{
    char **grown = realloc(r->values, (r->value_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(value);
        return -1;
    }
    r->values = grown;
    r->values[r->value_count++] = value;
    return 0;
}

/* Parses one requirement in [start, end). Returns OK or an error with diag set. */
static kumo_error parse_requirement(const char *start, const char *end, int field, requirement *r,
                                    kumo_diag *diag)
{
    const char *kind = field ? "field selector" : "label selector";
    int length = (int)(end - start);
    const char *p = start;
    while (p < end && isspace((unsigned char)*p))
        p++;
    int negated = 0;
    if (!field && p < end && *p == '!') {
        negated = 1;
        p++;
        while (p < end && isspace((unsigned char)*p))
            p++;
    }
    const char *key = p;
    while (p < end && is_key_char(*p))
        p++;
    if (p == key)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "%s requirement \"%.*s\" has no key; write e.g. app=web", kind, length,
                             start);
    r->key = strndup(key, (size_t)(p - key));
    if (r->key == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    while (p < end && isspace((unsigned char)*p))
        p++;
    if (negated || p == end) {
        if (field)
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "field selector \"%.*s\" needs an operator: =, == or !=", length,
                                 start);
        if (p != end)
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "label selector \"%.*s\": nothing may follow !%s", length, start,
                                 r->key);
        r->op = negated ? OP_NOT_EXISTS : OP_EXISTS;
        return KUMO_ERROR_OK;
    }
    if (end - p >= 2 && p[0] == '!' && p[1] == '=') {
        r->op = OP_NE;
        p += 2;
    } else if (end - p >= 2 && p[0] == '=' && p[1] == '=') {
        r->op = OP_EQ;
        p += 2;
    } else if (*p == '=') {
        r->op = OP_EQ;
        p += 1;
    } else if (!field && (end - p >= 2 && strncmp(p, "in", 2) == 0 &&
                          (p + 2 == end || isspace((unsigned char)p[2]) || p[2] == '('))) {
        r->op = OP_IN;
        p += 2;
    } else if (!field && (end - p >= 5 && strncmp(p, "notin", 5) == 0 &&
                          (p + 5 == end || isspace((unsigned char)p[5]) || p[5] == '('))) {
        r->op = OP_NOTIN;
        p += 5;
    } else {
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "%s \"%.*s\": expected =, ==, !=%s after \"%s\"", kind, length, start,
                             field ? "" : ", in or notin", r->key);
    }
    if (r->op == OP_IN || r->op == OP_NOTIN) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        const char *close = p < end ? memchr(p, ')', (size_t)(end - p)) : NULL;
        if (p == end || *p != '(' || close == NULL)
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "label selector \"%.*s\": values of in/notin go in parentheses, "
                                 "e.g. env in (prod,staging)",
                                 length, start);
        for (const char *t = close + 1; t < end; t++)
            if (!isspace((unsigned char)*t))
                return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                     "label selector \"%.*s\": unexpected text after \")\"", length,
                                     start);
        const char *v = p + 1;
        while (v <= close) {
            const char *comma = memchr(v, ',', (size_t)(close - v));
            const char *stop = comma ? comma : close;
            char *value = copy_trimmed(v, stop);
            if (value == NULL || add_value(r, value) != 0)
                return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
            v = stop + 1;
        }
    } else {
        char *value = copy_trimmed(p, end);
        if (value == NULL || add_value(r, value) != 0)
            return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->value_count; i++)
        if (!is_value_valid(r->values[i]) || (r->value_count > 1 && r->values[i][0] == '\0'))
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "%s \"%.*s\": \"%s\" is not a valid value (letters, digits, "
                                 "'-', '_' and '.')",
                                 kind, length, start, r->values[i]);
    if (field && strcmp(r->key, "metadata.name") != 0 && strcmp(r->key, "metadata.namespace") != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "field selector \"%.*s\": only metadata.name and metadata.namespace "
                             "can be selected",
                             length, start);
    return KUMO_ERROR_OK;
}

static kumo_error parse_list(client_selector *s, const char *text, int field, kumo_diag *diag)
{
    const char *p = text;
    while (*p) {
        /* A requirement ends at a comma outside parentheses. */
        const char *q = p;
        int depth = 0;
        while (*q && (depth > 0 || *q != ',')) {
            depth += *q == '(' ? 1 : *q == ')' ? -1 : 0;
            q++;
        }
        requirement *grown = realloc(s->items, (s->count + 1) * sizeof(*grown));
        if (grown == NULL)
            return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        s->items = grown;
        requirement *r = &s->items[s->count++];
        memset(r, 0, sizeof(*r));
        r->field = field;
        kumo_error e = parse_requirement(p, q, field, r, diag);
        if (e != KUMO_ERROR_OK)
            return e;
        p = *q ? q + 1 : q;
    }
    return KUMO_ERROR_OK;
}

kumo_error client_selector_parse(const char *labels, const char *fields, client_selector **out,
                                 kumo_diag *diag)
{
    *out = NULL;
    int has_labels = labels && labels[0], has_fields = fields && fields[0];
    if (!has_labels && !has_fields)
        return KUMO_ERROR_OK;
    client_selector *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    kumo_error e = KUMO_ERROR_OK;
    if (has_labels)
        e = parse_list(s, labels, 0, diag);
    if (e == KUMO_ERROR_OK && has_fields)
        e = parse_list(s, fields, 1, diag);
    if (e != KUMO_ERROR_OK) {
        client_selector_destroy(s);
        return e;
    }
    *out = s;
    return KUMO_ERROR_OK;
}

static const char *label_of(const Kumo__V1alpha1__ObjectMeta *meta, const char *key)
{
    for (size_t i = 0; meta != NULL && i < meta->n_labels; i++)
        if (meta->labels[i]->key && strcmp(meta->labels[i]->key, key) == 0)
            return meta->labels[i]->value ? meta->labels[i]->value : "";
    return NULL;
}

static int in_values(const requirement *r, const char *value)
{
    for (size_t i = 0; i < r->value_count; i++)
        if (strcmp(r->values[i], value) == 0)
            return 1;
    return 0;
}

int client_selector_matches(const client_selector *selector, const ProtobufCMessage *object)
{
    if (selector == NULL)
        return 1;
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    for (size_t i = 0; i < selector->count; i++) {
        const requirement *r = &selector->items[i];
        const char *value;
        if (r->field)
            value = strcmp(r->key, "metadata.name") == 0 ? kumo_object_name(object)
                                                         : kumo_object_namespace(object);
        else
            value = label_of(meta, r->key);
        int ok;
        switch (r->op) {
        case OP_EQ:
            ok = value != NULL && strcmp(value, r->values[0]) == 0;
            break;
        case OP_NE:
            ok = value == NULL || strcmp(value, r->values[0]) != 0;
            break;
        case OP_IN:
            ok = value != NULL && in_values(r, value);
            break;
        case OP_NOTIN:
            ok = value == NULL || !in_values(r, value);
            break;
        case OP_EXISTS:
            ok = value != NULL;
            break;
        case OP_NOT_EXISTS:
        default:
            ok = value == NULL;
            break;
        }
        if (!ok)
            return 0;
    }
    return 1;
}
