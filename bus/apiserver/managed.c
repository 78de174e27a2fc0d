/*
 * managed.c - who owns which field: server-side apply's managedFields.
 *
 * Every apply records its manager's field set, in Kubernetes' fieldsV1
 * format ({"f:spec":{"f:groups":{"k:{\"name\":\"a\"}":{".":{},"f:size":{}}}}}),
 * as an entry {manager, operation: Apply, apiVersion, time, fieldsType,
 * fieldsV1} of the object's managed fields. An apply that sets a field
 * another manager owns to another value than the live one is a conflict
 * (409, one cause per field naming the other manager), unless forced: then
 * the field changes hands. The same manager applying the same fields leaves
 * its entry as it was, so an unchanged apply writes nothing.
 *
 * The entries are kept in the annotation kumo.dev/managed-fields (ObjectMeta
 * has no field for them); kumo_apiserver_strip removes it from every object
 * returned, and the HTTPS front door shows it as metadata.managedFields.
 * Fields of the manifest are what it sets: spec, metadata.labels and
 * metadata.annotations (not name, namespace, status).
 */
#include "bus/apiserver/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEPTH     32
#define MAX_CONFLICTS 32

/* ---- field sets ---- */

static kumo_value *set_child(kumo_value *set, const char *key)
{
    kumo_value **slot = apiserver_value_slot(set, key);
    if (slot == NULL)
        return NULL;
    if (*slot == NULL)
        *slot = apiserver_value_new(KUMO_VALUE_OBJECT);
    return *slot;
}

/* "k:{"name":"a"}" for a list item whose merge key has the value v. */
static int item_key(const char *key, const kumo_value *v, char *out, size_t size)
{
    kumo_codec_buffer json;
    kumo_codec_buffer_init(&json);
    int ok = kumo_codec_value_to_json(v, 0, &json) == KUMO_ERROR_OK;
    int n = snprintf(out, size, "k:{\"%s\":%.*s}", key, (int)json.len, json.data ? json.data : "");
    kumo_codec_buffer_fini(&json);
    return ok && n > 0 && (size_t)n < size ? 0 : -1;
}

static kumo_error fields_of(kumo_value *set, const kumo_value *value,
                            const ProtobufCMessageDescriptor *d, int depth);

static kumo_error field_add(kumo_value *set, const char *name, const kumo_value *v,
                            const ProtobufCFieldDescriptor *f, int depth)
{
    char key[512];
    snprintf(key, sizeof(key), "f:%s", name);
    kumo_value *node = set_child(set, key);
    if (node == NULL)
        return KUMO_ERROR_NOMEM;
    const char *merge_key = f ? kumo_apiserver_list_merge_key(f) : NULL;
    if (v->type == KUMO_VALUE_ARRAY && merge_key != NULL) {
        for (size_t i = 0; i < v->count; i++) {
            const kumo_value *k = kumo_codec_value_get(v->items[i], merge_key);
            kumo_value *item;
            if (k == NULL || item_key(merge_key, k, key, sizeof(key)) != 0)
                continue;
            if ((item = set_child(node, key)) == NULL || set_child(item, ".") == NULL ||
                fields_of(item, v->items[i], f->descriptor, depth + 1) != KUMO_ERROR_OK)
                return KUMO_ERROR_NOMEM;
        }
        return KUMO_ERROR_OK;
    }
    if (v->type != KUMO_VALUE_OBJECT)
        return KUMO_ERROR_OK;
    int message =
        f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && !kumo_apiserver_field_is_map(f);
    return fields_of(node, v, message ? f->descriptor : NULL, depth + 1);
}

static kumo_error fields_of(kumo_value *set, const kumo_value *value,
                            const ProtobufCMessageDescriptor *d, int depth)
{
    if (depth > MAX_DEPTH)
        return KUMO_ERROR_OK;
    for (size_t i = 0; i < value->count; i++) {
        const char *name = value->members[i].key;
        const ProtobufCFieldDescriptor *f = d ? kumo_codec_field_find(d, name, strlen(name)) : NULL;
        kumo_error err = field_add(set, name, value->members[i].value, f, depth);
        if (err != KUMO_ERROR_OK)
            return err;
    }
    return KUMO_ERROR_OK;
}

/* The field set of a manifest: spec, labels, annotations (but ours). */
static kumo_error manifest_fields(const kumo_object_kind *kind, const kumo_value *manifest,
                                  kumo_value *set)
{
    const kumo_value *spec = kumo_codec_value_get(manifest, "spec");
    const kumo_value *meta = kumo_codec_value_get(manifest, "metadata");
    const ProtobufCFieldDescriptor *f = kumo_codec_field_find(kind->descriptor, "spec", 4);
    kumo_error err = KUMO_ERROR_OK;
    if (spec != NULL && f != NULL)
        err = field_add(set, "spec", spec, f, 0);
    static const char *const meta_maps[] = {"labels", "annotations"};
    for (size_t m = 0; m < 2 && err == KUMO_ERROR_OK; m++) {
        const kumo_value *map = kumo_codec_value_get(meta, meta_maps[m]);
        kumo_value *meta_set = map != NULL && map->count > 0 ? set_child(set, "f:metadata") : NULL;
        kumo_value *node = meta_set ? set_child(meta_set, m ? "f:annotations" : "f:labels") : NULL;
        for (size_t i = 0; map != NULL && i < map->count && err == KUMO_ERROR_OK; i++) {
            char key[300];
            snprintf(key, sizeof(key), "f:%s", map->members[i].key);
            if (strcmp(map->members[i].key, KUMO_APISERVER_MANAGED_ANNOTATION) != 0 &&
                (node == NULL || set_child(node, key) == NULL))
                err = KUMO_ERROR_NOMEM;
        }
    }
    return err;
}

/* ---- walking two sets ---- */

static int is_leaf(const kumo_value *node)
{
    for (size_t i = 0; node != NULL && i < node->count; i++)
        if (strcmp(node->members[i].key, ".") != 0)
            return 0;
    return 1;
}

/* The value at a path of set keys in an object's value tree, or NULL. */
static const kumo_value *value_at(const kumo_value *root, char *const *keys, size_t n)
{
    const kumo_value *v = root;
    for (size_t i = 0; i < n && v != NULL; i++) {
        if (strncmp(keys[i], "f:", 2) == 0) {
            v = kumo_codec_value_get(v, keys[i] + 2);
            continue;
        }
        kumo_value *want = NULL;
        kumo_codec_decode_options o = {.max_bytes = 4096};
        if (v->type != KUMO_VALUE_ARRAY ||
            kumo_codec_value_parse_json(keys[i] + 2, strlen(keys[i] + 2), &o, &want, NULL) !=
                KUMO_ERROR_OK ||
            want->type != KUMO_VALUE_OBJECT || want->count != 1) {
            kumo_codec_value_destroy(want);
            return NULL;
        }
        const kumo_value *found = NULL;
        for (size_t k = 0; k < v->count && found == NULL; k++)
            if (kumo_codec_value_equal(kumo_codec_value_get(v->items[k], want->members[0].key),
                                       want->members[0].value))
                found = v->items[k];
        kumo_codec_value_destroy(want);
        v = found;
    }
    return v;
}

/* ".spec.groups[name=\"a\"].size" from set keys. */
static void path_text(char *const *keys, size_t n, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++) {
        const char *k = keys[i];
        if (strncmp(k, "f:", 2) == 0)
            len += (size_t)snprintf(out + len, size - len, ".%s", k + 2);
        else { /* k:{"name":"a"} -> [name="a"] */
            const char *colon = strstr(k, "\":");
            size_t key_len = colon ? (size_t)(colon - k - 4) : 0;
            size_t value_len = colon ? strlen(colon + 2) - 1 : 0;
            len += (size_t)snprintf(out + len, size - len, "[%.*s=%.*s]", (int)key_len, k + 4,
                                    (int)value_len, colon ? colon + 2 : "");
        }
    }
}

typedef struct conflict {
    size_t entry;
    char *keys[MAX_DEPTH];
    size_t n;
} conflict;

typedef struct walk {
    const kumo_value *manifest, *live;
    size_t entry;
    char *keys[MAX_DEPTH];
    conflict conflicts[MAX_CONFLICTS];
    size_t count;
} walk;

/* Records every field both sets have whose manifest value is not the live one. */
static void common_fields(walk *w, const kumo_value *mine, const kumo_value *theirs, size_t depth)
{
    for (size_t i = 0; mine != NULL && i < mine->count && depth < MAX_DEPTH; i++) {
        const kumo_value *other = kumo_codec_value_get(theirs, mine->members[i].key);
        if (strcmp(mine->members[i].key, ".") == 0 || other == NULL)
            continue;
        w->keys[depth] = mine->members[i].key;
        if (!is_leaf(mine->members[i].value) && !is_leaf(other)) {
            common_fields(w, mine->members[i].value, other, depth + 1);
            continue;
        }
        const kumo_value *a = value_at(w->manifest, w->keys, depth + 1);
        const kumo_value *b = value_at(w->live, w->keys, depth + 1);
        if ((a == NULL) == (b == NULL) && (a == NULL || kumo_codec_value_equal(a, b)))
            continue;
        if (w->count == MAX_CONFLICTS)
            return;
        conflict *c = &w->conflicts[w->count++];
        c->entry = w->entry;
        c->n = depth + 1;
        for (size_t k = 0; k < c->n; k++)
            c->keys[k] = w->keys[k];
    }
}

/* Removes a path from a set; 1 when the node is left empty (removed by the caller). */
static int remove_path(kumo_value *node, char *const *keys, size_t n)
{
    long i = apiserver_value_index(node, keys[0]);
    if (i < 0)
        return 0;
    if (n == 1 || remove_path(node->members[i].value, keys + 1, n - 1))
        apiserver_value_remove(node, (size_t)i);
    return is_leaf(node);
}

/* ---- entries ---- */

static kumo_value *entries_of(const ProtobufCMessage *stored)
{
    const Kumo__V1alpha1__ObjectMeta *m = stored ? kumo_object_meta(stored) : NULL;
    for (size_t i = 0; m != NULL && i < m->n_annotations; i++) {
        if (strcmp(m->annotations[i]->key, KUMO_APISERVER_MANAGED_ANNOTATION) != 0)
            continue;
        kumo_value *v = NULL;
        kumo_codec_decode_options o = {.max_bytes = APISERVER_MAX_REQUEST_BYTES};
        const char *text = m->annotations[i]->value;
        if (kumo_codec_value_parse_json(text, strlen(text), &o, &v, NULL) == KUMO_ERROR_OK &&
            v->type == KUMO_VALUE_ARRAY)
            return v;
        kumo_codec_value_destroy(v);
    }
    return apiserver_value_new(KUMO_VALUE_ARRAY);
}

/* A new entry {manager, operation, apiVersion, time, fieldsType, fieldsV1: set (taken)}. */
static kumo_value *entry_new(const char *manager, kumo_value *set)
{
    char now[32], text[512];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    kumo_codec_buffer name;
    kumo_codec_buffer_init(&name);
    kumo_value manager_value = {
        .type = KUMO_VALUE_STRING, .text = (char *)manager, .length = strlen(manager)};
    kumo_codec_value_to_json(&manager_value, 0, &name);
    snprintf(text, sizeof(text),
             "{\"manager\":%.*s,\"operation\":\"Apply\",\"apiVersion\":\"%s\",\"time\":\"%s\","
             "\"fieldsType\":\"FieldsV1\"}",
             (int)name.len, name.data ? name.data : "\"\"", KUMO_API_VERSION, now);
    kumo_codec_buffer_fini(&name);
    kumo_value *entry = NULL;
    kumo_codec_decode_options o = {.max_bytes = sizeof(text)};
    kumo_value **slot = NULL;
    if (kumo_codec_value_parse_json(text, strlen(text), &o, &entry, NULL) != KUMO_ERROR_OK ||
        (slot = apiserver_value_slot(entry, "fieldsV1")) == NULL) {
        kumo_codec_value_destroy(entry);
        kumo_codec_value_destroy(set);
        return NULL;
    }
    *slot = set;
    return entry;
}

static int is_manager(const kumo_value *entry, const char *manager, const char *operation)
{
    const char *m = apiserver_value_text(kumo_codec_value_get(entry, "manager"));
    const char *op = apiserver_value_text(kumo_codec_value_get(entry, "operation"));
    return m != NULL && strcmp(m, manager) == 0 &&
           (operation == NULL || (op != NULL && strcmp(op, operation) == 0));
}

/* Sets (or adds) the annotation key = value on the object. */
static kumo_error annotation_set(ProtobufCMessage *object, const char *key, const char *value)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(object);
    if (m == NULL)
        return KUMO_ERROR_NOMEM;
    for (size_t i = 0; i < m->n_annotations; i++)
        if (strcmp(m->annotations[i]->key, key) == 0)
            return kumo_codec_string_set(&m->annotations[i]->value, value);
    Kumo__V1alpha1__ObjectMeta__AnnotationsEntry *e = malloc(sizeof(*e)), **grown;
    grown = e ? realloc(m->annotations, (m->n_annotations + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        free(e);
        return KUMO_ERROR_NOMEM;
    }
    m->annotations = grown;
    kumo__v1alpha1__object_meta__annotations_entry__init(e);
    grown[m->n_annotations++] = e;
    if (kumo_codec_string_set(&e->key, key) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    return kumo_codec_string_set(&e->value, value);
}

/* The 409 of an apply that conflicts: one cause per field, naming its manager. */
static kumo_error conflict_status(const walk *w, const kumo_value *entries, kumo_diag *diag)
{
    char first[600] = "";
    for (size_t i = 0; i < w->count; i++) {
        const conflict *c = &w->conflicts[i];
        const char *other =
            apiserver_value_text(kumo_codec_value_get(entries->items[c->entry], "manager"));
        char path[512];
        path_text(c->keys, c->n, path, sizeof(path));
        kumo_diag_add_cause(diag, KUMO_CAUSE_FORBIDDEN, path, NULL, "conflict with \"%s\"",
                            other ? other : "");
        if (i == 0)
            snprintf(first, sizeof(first), "conflict with \"%s\": %s", other ? other : "", path);
    }
    return kumo_diag_set(diag, KUMO_ERROR_CONFLICT,
                         "Apply failed with %zu conflict%s: %s%s (apply with force=true to take "
                         "the field%s over)",
                         w->count, w->count == 1 ? "" : "s", first, w->count > 1 ? ", ..." : "",
                         w->count == 1 ? "" : "s");
}

/* Finds conflicts with every other manager; with force, takes the fields over. */
static kumo_error resolve_conflicts(walk *w, kumo_value *entries, const kumo_value *set,
                                    const char *manager, int force, kumo_diag *diag)
{
    for (size_t e = 0; e < entries->count; e++) {
        if (is_manager(entries->items[e], manager, "Apply"))
            continue;
        w->entry = e;
        common_fields(w, set, kumo_codec_value_get(entries->items[e], "fieldsV1"), 0);
    }
    if (w->count > 0 && !force)
        return conflict_status(w, entries, diag);
    for (size_t i = 0; i < w->count; i++) {
        kumo_value **fields =
            apiserver_value_slot(entries->items[w->conflicts[i].entry], "fieldsV1");
        if (fields != NULL && *fields != NULL)
            remove_path(*fields, w->conflicts[i].keys, w->conflicts[i].n);
    }
    /* an entry left without fields goes */
    for (size_t e = entries->count; e-- > 0;)
        if (is_leaf(kumo_codec_value_get(entries->items[e], "fieldsV1"))) {
            kumo_codec_value_destroy(entries->items[e]);
            memmove(&entries->items[e], &entries->items[e + 1],
                    (entries->count - e - 1) * sizeof(entries->items[0]));
            entries->count--;
        }
    return KUMO_ERROR_OK;
}

/* Puts the manager's set (taken) in its Apply entry; unchanged sets keep their time. */
static kumo_error record(kumo_value *entries, const char *manager, kumo_value *set)
{
    for (size_t e = 0; e < entries->count; e++) {
        if (!is_manager(entries->items[e], manager, "Apply"))
            continue;
        if (kumo_codec_value_equal(kumo_codec_value_get(entries->items[e], "fieldsV1"), set)) {
            kumo_codec_value_destroy(set);
            return KUMO_ERROR_OK;
        }
        return apiserver_value_set(&entries->items[e], entry_new(manager, set));
    }
    return apiserver_value_append(entries, entry_new(manager, set));
}

kumo_error apiserver_managed_apply(ProtobufCMessage *manifest, const ProtobufCMessage *stored,
                                   const char *manager, int force, kumo_diag *diag)
{
    const kumo_object_kind *kind = kumo_object_kind_of(manifest->descriptor);
    kumo_value *mine = NULL, *live = NULL, *set = apiserver_value_new(KUMO_VALUE_OBJECT);
    kumo_value *entries = entries_of(stored);
    kumo_codec_buffer json;
    kumo_codec_buffer_init(&json);
    walk *w = calloc(1, sizeof(*w));
    kumo_error err = w && set && entries ? KUMO_ERROR_OK : KUMO_ERROR_NOMEM;
    if (err == KUMO_ERROR_OK)
        err = kumo_codec_message_to_value(manifest, NULL, &mine, diag);
    if (err == KUMO_ERROR_OK && stored != NULL)
        err = kumo_codec_message_to_value(stored, NULL, &live, diag);
    if (err == KUMO_ERROR_OK)
        err = manifest_fields(kind, mine, set);
    if (err == KUMO_ERROR_OK) {
        w->manifest = mine;
        w->live = live;
        err = resolve_conflicts(w, entries, set, manager, force, diag);
    }
    if (err == KUMO_ERROR_OK) {
        err = record(entries, manager, set);
        set = NULL;
    }
    if (err == KUMO_ERROR_OK && kumo_codec_value_to_json(entries, 0, &json) == KUMO_ERROR_OK &&
        kumo_codec_buffer_append(&json, "", 1) == KUMO_ERROR_OK) /* its NUL */
        err = annotation_set(manifest, KUMO_APISERVER_MANAGED_ANNOTATION, json.data);
    if (err == KUMO_ERROR_NOMEM)
        kumo_diag_set(diag, err, "out of memory recording the managed fields");
    kumo_codec_value_destroy(mine);
    kumo_codec_value_destroy(live);
    kumo_codec_value_destroy(set);
    kumo_codec_value_destroy(entries);
    kumo_codec_buffer_fini(&json);
    free(w);
    return err;
}

kumo_error apiserver_managed_keep(kumo_store *store, ProtobufCMessage *object, kumo_diag *diag)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    for (size_t i = 0; m != NULL && i < m->n_annotations; i++)
        if (strcmp(m->annotations[i]->key, KUMO_APISERVER_MANAGED_ANNOTATION) == 0)
            return KUMO_ERROR_OK; /* the client sent it: its own */
    ProtobufCMessage *stored = NULL;
    const kumo_object_kind *kind = kumo_object_kind_of(object->descriptor);
    if (m == NULL ||
        kumo_store_get(store, kind, m->namespace_, m->name, &stored, NULL, NULL) != KUMO_ERROR_OK)
        return KUMO_ERROR_OK; /* the update reports what is wrong */
    const Kumo__V1alpha1__ObjectMeta *sm = kumo_object_meta(stored);
    kumo_error err = KUMO_ERROR_OK;
    for (size_t i = 0; sm != NULL && i < sm->n_annotations; i++)
        if (strcmp(sm->annotations[i]->key, KUMO_APISERVER_MANAGED_ANNOTATION) == 0)
            err = annotation_set(object, KUMO_APISERVER_MANAGED_ANNOTATION,
                                 sm->annotations[i]->value);
    kumo_object_destroy(stored);
    if (err != KUMO_ERROR_OK)
        return kumo_diag_set(diag, err, "out of memory");
    return KUMO_ERROR_OK;
}
