/*
 * decode.c - manifests to objects: the kind of each document is read from the
 * document itself, Lists are expanded, and each document fails on its own.
 */
#include "apis/object/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the string member `key` of an object value, or NULL. */
static const char *value_string(const kumo_value *object, const char *key)
{
    const kumo_value *v = kumo_codec_value_get(object, key);
    return v && v->type == KUMO_VALUE_STRING ? v->text : NULL;
}

/* metadata.name of a document value, or "". */
static const char *document_name(const kumo_value *doc)
{
    const kumo_value *meta = kumo_codec_value_get(doc, "metadata");
    const char *name = meta ? value_string(meta, "name") : NULL;
    return name ? name : "";
}

/* Replaces the diag's message with `Kind "name" is invalid: <causes>`. */
static void invalid_sentence(kumo_diag *diag, const char *kind, const kumo_value *doc)
{
    char sentence[sizeof(diag->message)];
    kumo_diag_format_invalid(diag, kind, document_name(doc), sentence, sizeof(sentence));
    kumo_diag_set(diag, diag->code, "%s", sentence);
}

/*
 * Finds the kind of a document and checks its apiVersion. A Kubernetes-style
 * generic List (kind "List", apiVersion "v1") sets *is_list with *kind_out
 * NULL: its items name their own kinds.
 */
static kumo_error document_kind(const kumo_value *doc, const kumo_object_kind **kind_out,
                                int *is_list, kumo_diag *diag)
{
    *kind_out = NULL;
    *is_list = 0;
    if (doc->type != KUMO_VALUE_OBJECT)
        return kumo_diag_set(diag, KUMO_ERROR_PARSE,
                             "expected an object with apiVersion and kind, found %s",
                             doc->type == KUMO_VALUE_ARRAY ? "an array" : "a scalar");
    const char *kind_name = value_string(doc, "kind");
    const char *api_version = value_string(doc, "apiVersion");
    if (kind_name == NULL || kind_name[0] == '\0') {
        kumo_diag_add_cause(diag, KUMO_CAUSE_REQUIRED, "kind", NULL, "every object names its kind");
        return kumo_diag_set(diag, KUMO_ERROR_INVALID, "object has no kind");
    }
    if (strcmp(kind_name, "List") == 0 && api_version != NULL &&
        (strcmp(api_version, "v1") == 0 || strcmp(api_version, KUMO_API_VERSION) == 0)) {
        *is_list = 1;
        return KUMO_ERROR_OK;
    }
    size_t n = strlen(kind_name);
    *is_list = n > 4 && strcmp(kind_name + n - 4, "List") == 0;
    char base[128];
    snprintf(base, sizeof(base), "%.*s", (int)(*is_list ? n - 4 : n), kind_name);
    const kumo_object_kind *kind = kumo_object_kind_lookup(base);
    char quoted[RULE_VALUE_MAX + 16];
    if (kind == NULL || strcmp(kind->kind, base) != 0) {
        char known[256] = "";
        for (size_t i = 0, len = 0; i < kumo_object_kind_count() && len < sizeof(known); i++)
            len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                                    kumo_object_kind_at(i)->kind);
        kumo_diag_add_cause(diag, KUMO_CAUSE_UNSUPPORTED, "kind",
                            rule_quote(kind_name, quoted, sizeof(quoted)),
                            "not a kumo kind (kinds: %s)", known);
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND, "unknown kind \"%s\"", kind_name);
    }
    if (api_version == NULL || strcmp(api_version, KUMO_API_VERSION) != 0) {
        kumo_diag_add_cause(diag, api_version ? KUMO_CAUSE_UNSUPPORTED : KUMO_CAUSE_REQUIRED,
                            "apiVersion",
                            api_version ? rule_quote(api_version, quoted, sizeof(quoted)) : NULL,
                            "supported values: \"%s\"", KUMO_API_VERSION);
        diag->code = KUMO_ERROR_INVALID;
        invalid_sentence(diag, kind->kind, doc);
        return KUMO_ERROR_INVALID;
    }
    *kind_out = kind;
    return KUMO_ERROR_OK;
}

typedef struct document_list {
    kumo_object_document *items;
    size_t count, cap;
} document_list;

static kumo_object_document *document_push(document_list *list, int index, int line)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        kumo_object_document *grown = realloc(list->items, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        list->items = grown;
        list->cap = cap;
    }
    kumo_object_document *d = &list->items[list->count++];
    memset(d, 0, sizeof(*d));
    kumo_diag_init(&d->diag);
    d->index = index;
    d->line = line;
    return d;
}

/* The object member at a cause's field path ("spec.groups[1].size"); NULL when the path
 * is not an object member (the root, an array item, a key that cannot be found). */
static kumo_value_member *member_at(kumo_value *v, const char *path, kumo_value **parent)
{
    kumo_value_member *found = NULL;
    while (v != NULL && *path) {
        if (*path == '[') {
            char *end;
            unsigned long i = strtoul(path + 1, &end, 10);
            if (*end != ']' || v->type != KUMO_VALUE_ARRAY || i >= v->count)
                return NULL;
            v = v->items[i];
            path = end + 1;
            found = NULL;
            continue;
        }
        if (*path == '.')
            path++;
        if (v->type != KUMO_VALUE_OBJECT)
            return NULL;
        kumo_value_member *best = NULL; /* the longest key: map keys may hold dots */
        for (size_t i = 0; i < v->count; i++) {
            size_t n = strlen(v->members[i].key);
            if (strncmp(path, v->members[i].key, n) == 0 && strchr(".[", path[n] ? path[n] : '.') &&
                (best == NULL || n > strlen(best->key)))
                best = &v->members[i];
        }
        if (best == NULL)
            return NULL;
        path += strlen(best->key);
        found = best;
        *parent = v;
        v = best->value;
    }
    return found;
}

/* 1 when `field` is `removed` or inside it. */
static int within(const char *field, const char *removed)
{
    size_t n = strlen(removed);
    return strncmp(field, removed, n) == 0 &&
           (field[n] == '\0' || field[n] == '.' || field[n] == '[');
}

/* Appends the causes of `from` to `to`, except those inside a removed field. */
static void causes_add(kumo_diag *to, const kumo_diag *from, char **removed, size_t removed_count)
{
    for (size_t i = 0; i < from->cause_count; i++) {
        const kumo_diag_cause *c = &from->causes[i];
        int skip = 0;
        for (size_t r = 0; r < removed_count && !skip; r++)
            skip = c->field && within(c->field, removed[r]);
        if (!skip)
            kumo_diag_add_cause(to, c->type, c->field, c->value, "%s",
                                c->message ? c->message : "");
    }
}

#define DECODE_RETRIES 32

/*
 * After a decode failure: every other problem of the object too. The failing
 * field is taken out of a copy and the copy decoded again (up to
 * DECODE_RETRIES times); then what decoded is validated, leaving out causes
 * about the fields taken out. All causes go to d->diag; the object stays NULL.
 */
static void collect_causes(const kumo_object_kind *kind, const kumo_value *doc,
                           const kumo_codec_decode_options *options, kumo_object_document *d)
{
    kumo_value *copy = kumo_codec_value_clone(doc);
    char *removed[DECODE_RETRIES];
    size_t removed_count = 0;
    ProtobufCMessage *partial = NULL;
    kumo_diag attempt;
    kumo_diag_init(&attempt);
    kumo_diag_copy(&attempt, &d->diag);
    while (copy != NULL && removed_count < DECODE_RETRIES && attempt.cause_count == 1) {
        kumo_value *parent = NULL;
        kumo_value_member *m = member_at(copy, attempt.causes[0].field, &parent);
        if (m == NULL || (removed[removed_count] = strdup(attempt.causes[0].field)) == NULL)
            break;
        removed_count++;
        kumo_diag_fini(&attempt);
        /* the member goes (an unknown field, and a bad value becomes unset) */
        size_t index = (size_t)(m - parent->members);
        free(m->key);
        kumo_codec_value_destroy(m->value);
        memmove(m, m + 1, (parent->count - index - 1) * sizeof(*m));
        parent->count--;
        if (kumo_codec_message_from_value(kind->descriptor, copy, options, &partial, &attempt) ==
            KUMO_ERROR_OK)
            break;
        if (attempt.cause_count > 0)
            kumo_diag_add_cause(&d->diag, attempt.causes[0].type, attempt.causes[0].field,
                                attempt.causes[0].value, "%s", attempt.causes[0].message);
    }
    if (partial != NULL) {
        kumo_diag validation;
        kumo_diag_init(&validation);
        kumo_object_validate(partial, &validation);
        causes_add(&d->diag, &validation, removed, removed_count);
        kumo_diag_fini(&validation);
        kumo_object_destroy(partial);
    }
    for (size_t i = 0; i < removed_count; i++)
        free(removed[i]);
    kumo_diag_fini(&attempt);
    kumo_codec_value_destroy(copy);
}

/*
 * Decodes a document of a known kind; a failure reads `Infra "web" is
 * invalid: <causes>`, with every problem of the object (collect_causes).
 */
static void decode_object(const kumo_object_kind *kind, const kumo_value *doc,
                          const kumo_codec_decode_options *options, kumo_object_document *d)
{
    if (kumo_codec_message_from_value(kind->descriptor, doc, options, &d->object, &d->diag) ==
            KUMO_ERROR_OK ||
        d->diag.cause_count == 0)
        return;
    if (d->diag.code == KUMO_ERROR_INVALID)
        collect_causes(kind, doc, options, d);
    invalid_sentence(&d->diag, kind->kind, doc);
}

/* Decodes the items of a List; `kind` is NULL for a generic List. */
static kumo_error decode_list_items(document_list *list, const kumo_value *items,
                                    const kumo_object_kind *kind, int index,
                                    const kumo_codec_decode_options *options)
{
    for (size_t i = 0; items != NULL && i < items->count; i++) {
        const kumo_value *value = items->items[i];
        kumo_object_document *item = document_push(list, index, value->line);
        if (item == NULL)
            return KUMO_ERROR_NOMEM;
        int nested_list = 0;
        const kumo_object_kind *item_kind = kind;
        /* Items of a typed list (InfraList) may leave out apiVersion and kind. */
        int implied = kind != NULL && value->type == KUMO_VALUE_OBJECT &&
                      kumo_codec_value_get(value, "kind") == NULL;
        if (!implied &&
            document_kind(value, &item_kind, &nested_list, &item->diag) != KUMO_ERROR_OK)
            continue;
        if (nested_list) {
            kumo_diag_set(&item->diag, KUMO_ERROR_INVALID,
                          "items[%zu] is a list; lists do not nest", i);
            continue;
        }
        item->kind = item_kind;
        if (kind != NULL && item_kind != kind) {
            kumo_diag_set(&item->diag, KUMO_ERROR_INVALID, "items[%zu] of a %sList is a %s", i,
                          kind->kind, item_kind->kind);
            continue;
        }
        decode_object(item_kind, value, options, item);
    }
    return KUMO_ERROR_OK;
}

/* Decodes one document value (a single object or a List) into list entries. */
static kumo_error decode_value(document_list *list, const kumo_value *doc, int index,
                               const kumo_codec_decode_options *options)
{
    kumo_object_document *d = document_push(list, index, doc->line);
    if (d == NULL)
        return KUMO_ERROR_NOMEM;
    int is_list = 0;
    if (document_kind(doc, &d->kind, &is_list, &d->diag) != KUMO_ERROR_OK)
        return KUMO_ERROR_OK; /* this document failed; the others go on */
    if (!is_list) {
        decode_object(d->kind, doc, options, d);
        return KUMO_ERROR_OK;
    }
    const kumo_object_kind *kind = d->kind;
    list->count--; /* the List itself is replaced by its items */
    const kumo_value *items = kumo_codec_value_get(doc, "items");
    if (items != NULL && items->type != KUMO_VALUE_ARRAY) {
        d = document_push(list, index, doc->line);
        if (d == NULL)
            return KUMO_ERROR_NOMEM;
        kumo_diag_add_cause(&d->diag, KUMO_CAUSE_INVALID, "items", NULL, "must be an array");
        kumo_diag_set(&d->diag, KUMO_ERROR_INVALID, "the items of a List must be an array");
        return KUMO_ERROR_OK;
    }
    return decode_list_items(list, items, kind, index, options);
}

kumo_error kumo_object_decode_documents(const char *text, size_t len, kumo_codec_format format,
                                        const kumo_codec_decode_options *options,
                                        kumo_object_document **docs_out, size_t *count_out,
                                        kumo_diag *diag)
{
    kumo_value **values = NULL;
    size_t value_count = 0;
    kumo_error err;
    *docs_out = NULL;
    *count_out = 0;
    if (format == KUMO_CODEC_FORMAT_JSON) {
        kumo_value *one = NULL;
        err = kumo_codec_value_parse_json(text, len, options, &one, diag);
        if (err != KUMO_ERROR_OK)
            return err;
        values = malloc(sizeof(*values));
        if (values == NULL) {
            kumo_codec_value_destroy(one);
            return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        }
        values[0] = one;
        value_count = 1;
    } else if (format == KUMO_CODEC_FORMAT_YAML) {
        err = kumo_codec_value_parse_yaml(text, len, options, &values, &value_count, diag);
        if (err != KUMO_ERROR_OK)
            return err;
    } else {
        return kumo_diag_set(diag, KUMO_ERROR_UNSUPPORTED,
                             "manifests are JSON or YAML; protobuf needs a known kind");
    }
    document_list list = {0};
    err = KUMO_ERROR_OK;
    for (size_t i = 0; i < value_count && err == KUMO_ERROR_OK; i++)
        err = decode_value(&list, values[i], (int)i, options);
    kumo_codec_value_array_destroy(values, value_count);
    if (err != KUMO_ERROR_OK) {
        kumo_object_documents_free(list.items, list.count);
        return kumo_diag_set(diag, err, "out of memory");
    }
    *docs_out = list.items;
    *count_out = list.count;
    return KUMO_ERROR_OK;
}

void kumo_object_documents_free(kumo_object_document *docs, size_t count)
{
    if (docs == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        kumo_object_destroy(docs[i].object);
        kumo_diag_fini(&docs[i].diag);
    }
    free(docs);
}

/*
 * After the fast JSON decoder found a field it cannot decode: the same text
 * through the value tree, so that the diag holds every problem of the
 * object (decode_object), not only the first. Returns the code (INVALID).
 */
static kumo_error every_problem(const kumo_object_kind *kind, const char *text, size_t len,
                                const kumo_codec_decode_options *options, kumo_diag *diag)
{
    kumo_value *value = NULL;
    kumo_diag parse;
    kumo_diag_init(&parse);
    kumo_error err = diag->code;
    if (kumo_codec_value_parse_json(text, len, options, &value, &parse) == KUMO_ERROR_OK) {
        kumo_object_document d;
        memset(&d, 0, sizeof(d));
        kumo_diag_init(&d.diag);
        decode_object(kind, value, options, &d);
        if (d.diag.code != KUMO_ERROR_OK) {
            kumo_diag_fini(diag);
            kumo_diag_copy(diag, &d.diag);
            err = d.diag.code;
        }
        kumo_object_destroy(d.object);
        kumo_diag_fini(&d.diag);
        kumo_codec_value_destroy(value);
    }
    kumo_diag_fini(&parse);
    return err;
}

kumo_error kumo_object_decode(const kumo_object_kind *kind, const char *text, size_t len,
                              kumo_codec_format format, const kumo_codec_decode_options *options,
                              ProtobufCMessage **out, kumo_diag *diag)
{
    *out = NULL;
    if (kind != NULL && format == KUMO_CODEC_FORMAT_JSON) {
        kumo_error err = kumo_codec_json_decode(kind->descriptor, text, len, options, out, diag);
        return err == KUMO_ERROR_INVALID && diag != NULL
                   ? every_problem(kind, text, len, options, diag)
                   : err;
    }
    if (kind != NULL && format == KUMO_CODEC_FORMAT_PROTOBUF)
        return kumo_codec_protobuf_decode(kind->descriptor, (const uint8_t *)text, len, options,
                                          out, diag);
    kumo_object_document *docs = NULL;
    size_t count = 0;
    kumo_error err = kumo_object_decode_documents(text, len, format, options, &docs, &count, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    if (count != 1) {
        err = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "expected one object, found %zu",
                            count);
    } else if (docs[0].diag.code != KUMO_ERROR_OK) {
        err = docs[0].diag.code;
        kumo_diag_copy(diag, &docs[0].diag);
    } else if (kind != NULL && docs[0].kind != kind) {
        err = kumo_diag_set(diag, KUMO_ERROR_INVALID, "expected a %s, found a %s", kind->kind,
                            docs[0].kind->kind);
    } else {
        *out = docs[0].object;
        docs[0].object = NULL;
    }
    kumo_object_documents_free(docs, count);
    return err;
}
