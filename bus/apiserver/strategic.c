/*
 * strategic.c - strategic merge patch (Content-Type
 * application/strategic-merge-patch+json), as kubectl's client-side apply
 * sends it once the OpenAPI document names merge keys.
 *
 * It is a JSON merge patch (RFC 7386) except for lists of objects that have a
 * merge key (kumo_apiserver_list_merge_key): their items are merged one by
 * one by that key instead of the list being replaced. That is what lets a
 * second `kubectl apply` of an unchanged manifest say "unchanged" although
 * the server filled defaults into list items (an Infra's groups).
 *
 * Directives taken: "$patch": "merge" | "replace" | "delete" on an object or
 * a list item, "$setElementOrder/<list>" (the order of a merged list). Other
 * directives ($retainKeys, $deleteFromPrimitiveList) are refused with 400:
 * kumo publishes no patch strategy that would make a client send them.
 *
 * The patch is applied to the stored object read as a value tree and the
 * result written as an update whose resourceVersion is the one read, so a
 * concurrent write is never lost: it is retried from a fresh read.
 */
#include "bus/apiserver/internal.h"

#include <stdlib.h>
#include <string.h>

#define SET_ELEMENT_ORDER "$setElementOrder/"
#define STRATEGIC_RETRIES 8

int kumo_apiserver_field_is_map(const ProtobufCFieldDescriptor *field)
{
    if (field->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const ProtobufCMessageDescriptor *d = field->descriptor;
    size_t n = strlen(d->short_name);
    return n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

const char *kumo_apiserver_list_merge_key(const ProtobufCFieldDescriptor *field)
{
    if (field->label != PROTOBUF_C_LABEL_REPEATED || field->type != PROTOBUF_C_TYPE_MESSAGE ||
        kumo_apiserver_field_is_map(field))
        return NULL;
    const ProtobufCMessageDescriptor *item = field->descriptor;
    /* owner references are told apart by uid, as in Kubernetes */
    const char *key = strcmp(item->short_name, "OwnerReference") == 0 ? "uid" : "name";
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(item, key);
    return f != NULL && f->type == PROTOBUF_C_TYPE_STRING ? key : NULL;
}

/* ---- small value-tree edits (internal.h) ---- */

void apiserver_value_remove(kumo_value *object, size_t i)
{
    free(object->members[i].key);
    kumo_codec_value_destroy(object->members[i].value);
    memmove(&object->members[i], &object->members[i + 1],
            (object->count - i - 1) * sizeof(object->members[0]));
    object->count--;
}

long apiserver_value_index(const kumo_value *object, const char *key)
{
    for (size_t i = 0; i < object->count; i++)
        if (strcmp(object->members[i].key, key) == 0)
            return (long)i;
    return -1;
}

/* Removes every "$..." member, recursively (a new item is stored without directives). */
static void strip_directives(kumo_value *v)
{
    if (v == NULL)
        return;
    for (size_t i = v->type == KUMO_VALUE_OBJECT ? v->count : 0; i-- > 0;) {
        if (v->members[i].key[0] == '$')
            apiserver_value_remove(v, i);
        else
            strip_directives(v->members[i].value);
    }
    if (v->type == KUMO_VALUE_ARRAY)
        for (size_t i = 0; i < v->count; i++)
            strip_directives(v->items[i]);
}

static kumo_value *clone_clean(const kumo_value *v)
{
    kumo_value *c = kumo_codec_value_clone(v);
    strip_directives(c);
    return c;
}

kumo_value *apiserver_value_new(kumo_value_type type)
{
    kumo_value *v = calloc(1, sizeof(*v));
    if (v != NULL)
        v->type = type;
    return v;
}

/* *slot takes value (owned); NULL value means out of memory. */
kumo_error apiserver_value_set(kumo_value **slot, kumo_value *value)
{
    if (value == NULL)
        return KUMO_ERROR_NOMEM;
    kumo_codec_value_destroy(*slot);
    *slot = value;
    return KUMO_ERROR_OK;
}

/* The member slot for key, added (null) when absent; NULL when out of memory. */
kumo_value **apiserver_value_slot(kumo_value *object, const char *key)
{
    long i = apiserver_value_index(object, key);
    if (i >= 0)
        return &object->members[i].value;
    kumo_value_member *grown = realloc(object->members, (object->count + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    object->members = grown;
    grown[object->count].key = strdup(key);
    grown[object->count].value = NULL;
    if (grown[object->count].key == NULL)
        return NULL;
    return &grown[object->count++].value;
}

const char *apiserver_value_text(const kumo_value *v)
{
    return v != NULL && v->type == KUMO_VALUE_STRING ? v->text : NULL;
}

static const char *directive(const kumo_value *patch)
{
    return apiserver_value_text(kumo_codec_value_get(patch, "$patch"));
}

/* ---- the patch ---- */

typedef struct strategic {
    kumo_diag *diag;
    char path[512]; /* of the value being patched, for messages */
} strategic;

static kumo_error apply_object(strategic *s, kumo_value **target, const kumo_value *patch,
                               const ProtobufCMessageDescriptor *d);

static long item_index(const kumo_value *list, const char *key, const char *want)
{
    for (size_t i = 0; i < list->count; i++) {
        const char *have = apiserver_value_text(kumo_codec_value_get(list->items[i], key));
        if (have != NULL && strcmp(have, want) == 0)
            return (long)i;
    }
    return -1;
}

/* Moves the items named in order (objects with the key) first, in that order. */
static void reorder(kumo_value *list, const char *key, const kumo_value *order)
{
    if (order == NULL || order->type != KUMO_VALUE_ARRAY)
        return;
    size_t placed = 0;
    for (size_t o = 0; o < order->count; o++) {
        const char *want = apiserver_value_text(kumo_codec_value_get(order->items[o], key));
        long i = want != NULL ? item_index(list, key, want) : -1;
        if (i < (long)placed)
            continue;
        kumo_value *item = list->items[i];
        memmove(&list->items[placed + 1], &list->items[placed],
                ((size_t)i - placed) * sizeof(list->items[0]));
        list->items[placed++] = item;
    }
}

kumo_error apiserver_value_append(kumo_value *list, kumo_value *item)
{
    kumo_value **grown = item ? realloc(list->items, (list->count + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        kumo_codec_value_destroy(item);
        return KUMO_ERROR_NOMEM;
    }
    list->items = grown;
    grown[list->count++] = item;
    return KUMO_ERROR_OK;
}

static kumo_error apply_list(strategic *s, kumo_value **target, const kumo_value *patch,
                             const ProtobufCFieldDescriptor *f, const kumo_value *order)
{
    const char *key = kumo_apiserver_list_merge_key(f);
    if ((*target == NULL || (*target)->type != KUMO_VALUE_ARRAY) &&
        apiserver_value_set(target, apiserver_value_new(KUMO_VALUE_ARRAY)) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    kumo_value *list = *target;
    for (size_t n = 0; n < patch->count; n++) {
        const kumo_value *p = patch->items[n];
        const char *want = apiserver_value_text(kumo_codec_value_get(p, key));
        if (p->type != KUMO_VALUE_OBJECT || want == NULL)
            return kumo_diag_set(s->diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "strategic merge patch: %s[%zu] needs its merge key \"%s\" (a "
                                 "string): the items of %s are merged by %s",
                                 s->path, n, key, s->path, key);
        long i = item_index(list, key, want);
        const char *what = directive(p);
        kumo_error err = KUMO_ERROR_OK;
        if (what != NULL && strcmp(what, "delete") == 0) {
            for (; i >= 0; i = item_index(list, key, want)) {
                kumo_codec_value_destroy(list->items[i]);
                memmove(&list->items[i], &list->items[i + 1],
                        (list->count - (size_t)i - 1) * sizeof(list->items[0]));
                list->count--;
            }
        } else if (i < 0) {
            err = apiserver_value_append(list, clone_clean(p));
        } else {
            size_t len = strlen(s->path);
            snprintf(s->path + len, sizeof(s->path) - len, "[%s=%s]", key, want);
            err = apply_object(s, &list->items[i], p, f->descriptor);
            s->path[len] = '\0';
        }
        if (err != KUMO_ERROR_OK)
            return err;
    }
    reorder(list, key, order);
    return KUMO_ERROR_OK;
}

/* One member of an object patch: key -> value, with the field when known. */
static kumo_error apply_member(strategic *s, kumo_value *object, const char *key,
                               const kumo_value *value, const kumo_value *patch,
                               const ProtobufCMessageDescriptor *d)
{
    const ProtobufCFieldDescriptor *f = d ? kumo_codec_field_find(d, key, strlen(key)) : NULL;
    if (value->type == KUMO_VALUE_NULL) {
        long i = apiserver_value_index(object, key);
        if (i >= 0)
            apiserver_value_remove(object, (size_t)i);
        return KUMO_ERROR_OK;
    }
    kumo_value **slot = apiserver_value_slot(object, key);
    if (slot == NULL)
        return KUMO_ERROR_NOMEM;
    size_t len = strlen(s->path);
    snprintf(s->path + len, sizeof(s->path) - len, "%s%s", len ? "." : "", key);
    kumo_error err;
    if (value->type == KUMO_VALUE_ARRAY && f != NULL && kumo_apiserver_list_merge_key(f)) {
        char order_key[300];
        snprintf(order_key, sizeof(order_key), SET_ELEMENT_ORDER "%s", key);
        err = apply_list(s, slot, value, f, kumo_codec_value_get(patch, order_key));
    } else if (value->type == KUMO_VALUE_OBJECT) {
        const ProtobufCMessageDescriptor *sub =
            f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && !kumo_apiserver_field_is_map(f)
                ? f->descriptor
                : NULL;
        err = apply_object(s, slot, value, sub);
    } else {
        err = apiserver_value_set(slot, clone_clean(value));
    }
    s->path[len] = '\0';
    return err;
}

static kumo_error apply_object(strategic *s, kumo_value **target, const kumo_value *patch,
                               const ProtobufCMessageDescriptor *d)
{
    const char *what = directive(patch);
    if (what != NULL && strcmp(what, "replace") == 0)
        return apiserver_value_set(target, clone_clean(patch));
    if (what != NULL && strcmp(what, "delete") == 0)
        return apiserver_value_set(target, apiserver_value_new(KUMO_VALUE_NULL));
    if (what != NULL && strcmp(what, "merge") != 0)
        return kumo_diag_set(s->diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "strategic merge patch: \"$patch\": \"%s\" at %s: use merge, "
                             "replace or delete",
                             what, s->path[0] ? s->path : "the top");
    if ((*target == NULL || (*target)->type != KUMO_VALUE_OBJECT) &&
        apiserver_value_set(target, apiserver_value_new(KUMO_VALUE_OBJECT)) != KUMO_ERROR_OK)
        return KUMO_ERROR_NOMEM;
    for (size_t i = 0; i < patch->count; i++) {
        const char *key = patch->members[i].key;
        if (strcmp(key, "$patch") == 0 ||
            strncmp(key, SET_ELEMENT_ORDER, strlen(SET_ELEMENT_ORDER)) == 0)
            continue;
        if (key[0] == '$')
            return kumo_diag_set(s->diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "strategic merge patch: the directive \"%s\" at %s is not "
                                 "supported (kumo takes $patch and $setElementOrder)",
                                 key, s->path[0] ? s->path : "the top");
        kumo_error err = apply_member(s, *target, key, patch->members[i].value, patch, d);
        if (err != KUMO_ERROR_OK)
            return err;
    }
    return KUMO_ERROR_OK;
}

kumo_error apiserver_strategic_apply(const kumo_object_kind *kind, kumo_value **object,
                                     const kumo_value *patch, kumo_diag *diag)
{
    if (patch->type != KUMO_VALUE_OBJECT)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "a strategic merge patch is a JSON object");
    strategic s = {.diag = diag};
    kumo_error err = apply_object(&s, object, patch, kind->descriptor);
    if (err == KUMO_ERROR_NOMEM)
        kumo_diag_set(diag, err, "out of memory applying a strategic merge patch");
    return err;
}

/* ---- the verb ---- */

/* Reads the object, applies the patch, writes it as an update at the revision read. */
static kumo_error patch_once(kumo_store *store, const kumo_apiserver_request *req,
                             const kumo_value *patch, ProtobufCMessage **out, kumo_diag *diag)
{
    ProtobufCMessage *stored = NULL, *updated = NULL;
    kumo_value *tree = NULL;
    kumo_codec_buffer json;
    kumo_codec_buffer_init(&json);
    kumo_error err = kumo_store_get(store, req->kind, req->ns, req->name, &stored, NULL, diag);
    if (err == KUMO_ERROR_OK)
        err = kumo_codec_message_to_value(stored, NULL, &tree, diag);
    if (err == KUMO_ERROR_OK)
        err = apiserver_strategic_apply(req->kind, &tree, patch, diag);
    if (err == KUMO_ERROR_OK && kumo_codec_value_to_json(tree, 0, &json) != KUMO_ERROR_OK)
        err = kumo_diag_set(diag, KUMO_ERROR_INVALID, "the patched %s is not valid JSON",
                            req->kind->kind);
    if (err == KUMO_ERROR_OK)
        err = apiserver_decode_object(APISERVER_MAX_REQUEST_BYTES, json.data, json.len,
                                      KUMO_CODEC_FORMAT_JSON, req->kind, req->ns, &updated, diag);
    if (err == KUMO_ERROR_OK)
        err = kumo_store_update(store, updated, out, NULL, diag);
    kumo_object_destroy(stored);
    kumo_object_destroy(updated);
    kumo_codec_value_destroy(tree);
    kumo_codec_buffer_fini(&json);
    return err;
}

void apiserver_strategic_patch(apiserver_reply *r, kumo_store *store)
{
    const kumo_apiserver_request *req = r->req;
    kumo_diag *diag = &r->resp->diag;
    kumo_value *patch = NULL;
    kumo_codec_decode_options options = {.lenient = 0, .max_bytes = APISERVER_MAX_REQUEST_BYTES};
    if (kumo_codec_value_parse_json(req->body, req->body_len, &options, &patch, diag) !=
        KUMO_ERROR_OK) {
        apiserver_reply_status(r, diag);
        return;
    }
    /* a resourceVersion in the patch is the client's precondition: no retry then */
    const kumo_value *meta = kumo_codec_value_get(patch, "metadata");
    int precondition = kumo_codec_value_get(meta, "resourceVersion") != NULL;
    ProtobufCMessage *object = NULL;
    kumo_error err = KUMO_ERROR_CONFLICT;
    for (int attempt = 0; err == KUMO_ERROR_CONFLICT && attempt < STRATEGIC_RETRIES; attempt++) {
        if (attempt > 0 && precondition)
            break;
        kumo_diag_fini(diag);
        err = patch_once(store, req, patch, &object, diag);
    }
    kumo_codec_value_destroy(patch);
    if (err != KUMO_ERROR_OK) {
        kumo_object_destroy(object);
        apiserver_reply_status(r, diag);
        return;
    }
    apiserver_reply_object(r, 200, object);
}
