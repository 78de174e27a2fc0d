/*
 * meta.c - finalizers, annotations, labels and owner references edited in
 * place on codec-shaped messages.
 */
#include "controllers/runtime/meta/meta.h"

#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"

int kumo_meta_finalizer_has(const ProtobufCMessage *object, const char *finalizer)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    for (size_t i = 0; m && i < m->n_finalizers; i++)
        if (strcmp(m->finalizers[i], finalizer) == 0)
            return 1;
    return 0;
}

int kumo_meta_finalizer_add(ProtobufCMessage *object, const char *finalizer)
{
    if (kumo_meta_finalizer_has(object, finalizer))
        return 0;
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(object);
    if (m == NULL)
        return -1;
    char **grown = realloc(m->finalizers, (m->n_finalizers + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    m->finalizers = grown;
    if ((m->finalizers[m->n_finalizers] = strdup(finalizer)) == NULL)
        return -1;
    m->n_finalizers++;
    return 1;
}

int kumo_meta_finalizer_remove(ProtobufCMessage *object, const char *finalizer)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    for (size_t i = 0; m && i < m->n_finalizers; i++) {
        if (strcmp(m->finalizers[i], finalizer) != 0)
            continue;
        free(m->finalizers[i]);
        memmove(&m->finalizers[i], &m->finalizers[i + 1],
                (m->n_finalizers - i - 1) * sizeof(*m->finalizers));
        m->n_finalizers--;
        return 1;
    }
    return 0;
}

/* ---- string maps (labels, annotations) ------------------------------------------ */

/* A map<string,string> field seen generically: entries have key and value first. */
typedef struct string_map {
    ProtobufCMessage ***entries;
    size_t *count;
    const ProtobufCMessageDescriptor *entry_descriptor;
} string_map;

static int map_of(const Kumo__V1alpha1__ObjectMeta *m, const char *field, string_map *out)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->base.descriptor, field);
    if (f == NULL)
        return -1;
    out->entries = (ProtobufCMessage ***)((char *)m + f->offset);
    out->count = (size_t *)((char *)m + f->quantifier_offset);
    out->entry_descriptor = f->descriptor;
    return 0;
}

/* Both entry types are {base, key, value}. */
typedef struct kv_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
} kv_entry;

static const char *map_get(const ProtobufCMessage *object, const char *field, const char *key)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    string_map map;
    if (m == NULL || map_of(m, field, &map) != 0)
        return NULL;
    for (size_t i = 0; i < *map.count; i++) {
        const kv_entry *e = (const kv_entry *)(*map.entries)[i];
        if (strcmp(e->key, key) == 0)
            return e->value;
    }
    return NULL;
}

static int map_set(ProtobufCMessage *object, const char *field, const char *key, const char *value)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(object);
    string_map map;
    if (m == NULL || map_of(m, field, &map) != 0)
        return -1;
    for (size_t i = 0; i < *map.count; i++) {
        kv_entry *e = (kv_entry *)(*map.entries)[i];
        if (strcmp(e->key, key) != 0)
            continue;
        if (value == NULL) {
            protobuf_c_message_free_unpacked(&e->base, NULL);
            memmove(&(*map.entries)[i], &(*map.entries)[i + 1],
                    (*map.count - i - 1) * sizeof(**map.entries));
            (*map.count)--;
            return 1;
        }
        if (strcmp(e->value, value) == 0)
            return 0;
        return kumo_codec_string_set(&e->value, value) == KUMO_ERROR_OK ? 1 : -1;
    }
    if (value == NULL)
        return 0;
    ProtobufCMessage **grown = realloc(*map.entries, (*map.count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    *map.entries = grown;
    kv_entry *e = malloc(map.entry_descriptor->sizeof_message);
    if (e == NULL)
        return -1;
    protobuf_c_message_init(map.entry_descriptor, e);
    if (kumo_codec_string_set(&e->key, key) != KUMO_ERROR_OK ||
        kumo_codec_string_set(&e->value, value) != KUMO_ERROR_OK) {
        protobuf_c_message_free_unpacked(&e->base, NULL);
        return -1;
    }
    grown[(*map.count)++] = &e->base;
    return 1;
}

const char *kumo_meta_annotation(const ProtobufCMessage *object, const char *key)
{
    return map_get(object, "annotations", key);
}

const char *kumo_meta_label(const ProtobufCMessage *object, const char *key)
{
    return map_get(object, "labels", key);
}

int kumo_meta_annotation_set(ProtobufCMessage *object, const char *key, const char *value)
{
    return map_set(object, "annotations", key, value);
}

int kumo_meta_label_set(ProtobufCMessage *object, const char *key, const char *value)
{
    return map_set(object, "labels", key, value);
}

/* ---- owner references ------------------------------------------------------------ */

const Kumo__V1alpha1__OwnerReference *kumo_meta_owner(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    for (size_t i = 0; m && i < m->n_owner_references; i++)
        if (m->owner_references[i]->controller)
            return m->owner_references[i];
    return NULL;
}

int kumo_meta_owner_set(ProtobufCMessage *object, const ProtobufCMessage *owner)
{
    const kumo_object_kind *kind = kumo_object_kind_of(owner->descriptor);
    const Kumo__V1alpha1__ObjectMeta *om = kumo_object_meta(owner);
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(object);
    if (kind == NULL || om == NULL || m == NULL)
        return -1;
    for (size_t i = 0; i < m->n_owner_references; i++) {
        Kumo__V1alpha1__OwnerReference *r = m->owner_references[i];
        if (r->controller && strcmp(r->uid, om->uid) == 0)
            return 0;
    }
    /* Drop any other controller reference. */
    size_t kept = 0;
    for (size_t i = 0; i < m->n_owner_references; i++) {
        if (m->owner_references[i]->controller)
            protobuf_c_message_free_unpacked(&m->owner_references[i]->base, NULL);
        else
            m->owner_references[kept++] = m->owner_references[i];
    }
    m->n_owner_references = kept;
    Kumo__V1alpha1__OwnerReference **grown =
        realloc(m->owner_references, (kept + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    m->owner_references = grown;
    Kumo__V1alpha1__OwnerReference *r = malloc(sizeof(*r));
    if (r == NULL)
        return -1;
    kumo__v1alpha1__owner_reference__init(r);
    r->controller = 1;
    r->block_owner_deletion = 1;
    if (kumo_codec_string_set(&r->api_version, KUMO_API_VERSION) != KUMO_ERROR_OK ||
        kumo_codec_string_set(&r->kind, kind->kind) != KUMO_ERROR_OK ||
        kumo_codec_string_set(&r->name, om->name) != KUMO_ERROR_OK ||
        kumo_codec_string_set(&r->uid, om->uid) != KUMO_ERROR_OK) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return -1;
    }
    m->owner_references[m->n_owner_references++] = r;
    return 1;
}

/* ---- state ---------------------------------------------------------------------- */

int kumo_meta_deleting(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    return m && m->deletion_timestamp &&
           (m->deletion_timestamp->seconds != 0 || m->deletion_timestamp->nanos != 0);
}

int64_t kumo_meta_revision(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    if (m == NULL || m->resource_version == NULL)
        return 0;
    char *end;
    long long v = strtoll(m->resource_version, &end, 10);
    return *end == '\0' && v > 0 ? (int64_t)v : 0;
}

int64_t kumo_meta_generation(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    return m ? m->generation : 0;
}

ProtobufCMessage *kumo_meta_status_ensure(ProtobufCMessage *object)
{
    ProtobufCMessage *status = kumo_object_status(object);
    if (status != NULL)
        return status;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(object->descriptor, "status");
    if (f == NULL)
        return NULL;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    ProtobufCMessage *fresh = malloc(d->sizeof_message);
    if (fresh == NULL)
        return NULL;
    protobuf_c_message_init(d, fresh);
    kumo_object_status_replace(object, &fresh);
    return kumo_object_status(object);
}

int kumo_meta_status_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    const ProtobufCMessage *sa = a ? kumo_object_status(a) : NULL;
    const ProtobufCMessage *sb = b ? kumo_object_status(b) : NULL;
    size_t la = sa ? protobuf_c_message_get_packed_size(sa) : 0;
    size_t lb = sb ? protobuf_c_message_get_packed_size(sb) : 0;
    if (la != lb)
        return 0;
    if (la == 0)
        return 1;
    uint8_t *pa = malloc(la), *pb = malloc(lb);
    int equal = 0;
    if (pa && pb) {
        protobuf_c_message_pack(sa, pa);
        protobuf_c_message_pack(sb, pb);
        equal = memcmp(pa, pb, la) == 0;
    }
    free(pa);
    free(pb);
    return equal;
}

int kumo_meta_condition_is(const ProtobufCMessage *object, const char *type, const char *status)
{
    const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(object, type);
    return c != NULL && c->status != NULL && strcmp(c->status, status) == 0;
}

static int expression_matches(const Kumo__V1alpha1__LabelSelectorRequirement *r,
                              const ProtobufCMessage *object)
{
    const char *v = kumo_meta_label(object, r->key);
    int in = 0;
    for (size_t i = 0; v && i < r->n_values; i++)
        in |= strcmp(r->values[i], v) == 0;
    switch (r->operator_) {
    case KUMO__V1ALPHA1__LABEL_SELECTOR_REQUIREMENT__OPERATOR__In:
        return in;
    case KUMO__V1ALPHA1__LABEL_SELECTOR_REQUIREMENT__OPERATOR__NotIn:
        return !in;
    case KUMO__V1ALPHA1__LABEL_SELECTOR_REQUIREMENT__OPERATOR__Exists:
        return v != NULL;
    case KUMO__V1ALPHA1__LABEL_SELECTOR_REQUIREMENT__OPERATOR__DoesNotExist:
        return v == NULL;
    default:
        return 0; /* validation refuses it; match nothing rather than everything */
    }
}

int kumo_meta_labels_match(const Kumo__V1alpha1__LabelSelector *s, const ProtobufCMessage *object)
{
    if (s == NULL)
        return 1;
    for (size_t i = 0; i < s->n_match_labels; i++) {
        const char *v = kumo_meta_label(object, s->match_labels[i]->key);
        if (v == NULL || strcmp(v, s->match_labels[i]->value) != 0)
            return 0;
    }
    for (size_t i = 0; i < s->n_match_expressions; i++)
        if (!expression_matches(s->match_expressions[i], object))
            return 0;
    return 1;
}
