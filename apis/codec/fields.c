/*
 * fields.c - per-descriptor tables: the JSON name of every field, a hashed
 * lookup by JSON or proto name, map-entry detection and the Time type.
 *
 * A table is built the first time a descriptor is used, together with the
 * tables of every message type reachable from it, so the decoders and
 * encoders only follow pointers once they hold the top-level table. Tables
 * live until the process exits and are never modified after they are
 * published, so readers share them without locks; building takes the one
 * registry mutex.
 */
#include "apis/codec/internal.h"

#include <pthread.h>
#include <stdlib.h>

enum { REGISTRY_BUCKETS = 128 };

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static codec_type *registry[REGISTRY_BUCKETS];

static size_t bucket_of(const ProtobufCMessageDescriptor *desc)
{
    return ((uintptr_t)desc >> 4) % REGISTRY_BUCKETS;
}

static codec_type *registry_find(const ProtobufCMessageDescriptor *desc)
{
    for (codec_type *t = registry[bucket_of(desc)]; t != NULL; t = t->registry_next)
        if (t->desc == desc)
            return t;
    return NULL;
}

static void type_free(codec_type *t)
{
    if (t == NULL)
        return;
    if (t->fields != NULL) {
        for (unsigned i = 0; i < t->field_count; i++) {
            free((char *)t->fields[i].json_name);
            free(t->fields[i].key_compact);
        }
    }
    free(t->fields);
    free(t->slots);
    free(t);
}

/* "resource_version" -> "resourceVersion", as protoc's ToJsonName. */
static char *json_name_of(const char *proto_name, size_t *len_out)
{
    size_t n = strlen(proto_name);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t len = 0;
    int upper_next = 0;
    for (size_t i = 0; i < n; i++) {
        char c = proto_name[i];
        if (c == '_') {
            upper_next = 1;
            continue;
        }
        if (upper_next && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        upper_next = 0;
        out[len++] = c;
    }
    out[len] = '\0';
    *len_out = len;
    return out;
}

static void slot_insert(codec_type *t, const char *name, size_t len, unsigned index)
{
    uint32_t i = codec_name_hash(name, len) & t->slot_mask;
    while (t->slots[i].name != NULL) {
        if (t->slots[i].len == len && memcmp(t->slots[i].name, name, len) == 0)
            return; /* an earlier field already answers to this name */
        i = (i + 1) & t->slot_mask;
    }
    t->slots[i] = (codec_name_slot){name, (uint32_t)len, index};
}

/* Is `field` (repeated message) how protobuf-c compiles map<K,V>? */
static int is_map_field(const ProtobufCMessageDescriptor *parent,
                        const ProtobufCFieldDescriptor *field)
{
    const ProtobufCMessageDescriptor *entry = field->descriptor;
    if (field->label != PROTOBUF_C_LABEL_REPEATED || field->type != PROTOBUF_C_TYPE_MESSAGE ||
        entry == NULL || entry->n_fields != 2)
        return 0;
    if (entry->fields[0].id != 1 || strcmp(entry->fields[0].name, "key") != 0 ||
        entry->fields[1].id != 2 || strcmp(entry->fields[1].name, "value") != 0)
        return 0;
    /* short name is the CamelCase field name + "Entry" */
    char expected[256];
    size_t len = 0;
    int upper_next = 1;
    for (const char *p = field->name; *p && len + 6 < sizeof(expected); p++) {
        if (*p == '_') {
            upper_next = 1;
            continue;
        }
        char c = *p;
        if (upper_next && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        upper_next = 0;
        expected[len++] = c;
    }
    memcpy(expected + len, "Entry", 6);
    if (strcmp(entry->short_name, expected) != 0)
        return 0;
    size_t parent_len = strlen(parent->name);
    return strncmp(entry->name, parent->name, parent_len) == 0 && entry->name[parent_len] == '.' &&
           strcmp(entry->name + parent_len + 1, entry->short_name) == 0;
}

static const ProtobufCFieldDescriptor *field_named(const ProtobufCMessageDescriptor *desc,
                                                   const char *name, ProtobufCType type)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
    return f != NULL && f->type == type && f->label != PROTOBUF_C_LABEL_REPEATED ? f : NULL;
}

/* Fills everything of t that does not point at other tables. */
static int type_fill(codec_type *t)
{
    const ProtobufCMessageDescriptor *desc = t->desc;
    t->field_count = desc->n_fields;
    t->fields = calloc(desc->n_fields ? desc->n_fields : 1, sizeof(*t->fields));
    size_t slots = 8;
    while (slots < (size_t)desc->n_fields * 4)
        slots *= 2;
    t->slots = calloc(slots, sizeof(*t->slots));
    if (t->fields == NULL || t->slots == NULL)
        return -1;
    t->slot_mask = (uint32_t)(slots - 1);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields[i];
        codec_field *f = &t->fields[i];
        f->desc = fd;
        f->json_name = json_name_of(fd->name, &f->json_name_len);
        if (f->json_name == NULL)
            return -1;
        f->key_compact_len = f->json_name_len + 3;
        f->key_compact = malloc(f->key_compact_len + 1);
        if (f->key_compact == NULL)
            return -1;
        f->key_compact[0] = '"';
        memcpy(f->key_compact + 1, f->json_name, f->json_name_len);
        memcpy(f->key_compact + 1 + f->json_name_len, "\":", 3);
        f->map = (unsigned char)is_map_field(desc, fd);
        f->repeated = fd->label == PROTOBUF_C_LABEL_REPEATED && !f->map;
        f->oneof = (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
        f->has_flag = fd->label == PROTOBUF_C_LABEL_OPTIONAL &&
                      fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE &&
                      !f->oneof;
    }
    for (unsigned i = 0; i < desc->n_fields; i++)
        slot_insert(t, t->fields[i].json_name, t->fields[i].json_name_len, i);
    for (unsigned i = 0; i < desc->n_fields; i++)
        slot_insert(t, desc->fields[i].name, strlen(desc->fields[i].name), i);
    /* Shaped like a map entry: the parent's map field will point here. Set now,
     * so that a published table is never written again. */
    if (desc->n_fields == 2 && desc->fields[0].id == 1 &&
        strcmp(desc->fields[0].name, "key") == 0 && desc->fields[1].id == 2 &&
        strcmp(desc->fields[1].name, "value") == 0) {
        t->map_key = &t->fields[0];
        t->map_value = &t->fields[1];
    }
    if (strcmp(desc->name, "kumo.v1alpha1.Time") == 0) {
        const ProtobufCFieldDescriptor *seconds =
            field_named(desc, "seconds", PROTOBUF_C_TYPE_INT64);
        const ProtobufCFieldDescriptor *nanos = field_named(desc, "nanos", PROTOBUF_C_TYPE_INT32);
        if (seconds != NULL && nanos != NULL && !(seconds->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            !(nanos->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
            t->is_time = 1;
            t->time_seconds_offset = seconds->offset;
            t->time_nanos_offset = nanos->offset;
        }
    }
    return 0;
}

/* Builds the tables of desc and of every type reachable from it. Lock held. */
static codec_type *registry_build(const ProtobufCMessageDescriptor *root)
{
    codec_type **pending = NULL;
    size_t count = 0, cap = 0;
    codec_type *found = registry_find(root);
    if (found != NULL)
        return found;

    /* Allocate the closure of new types (each registered as it is found). */
    const ProtobufCMessageDescriptor *next = root;
    size_t done = 0;
    for (;;) {
        if (next != NULL) {
            if (count == cap) {
                size_t grown_cap = cap ? cap * 2 : 16;
                codec_type **grown = realloc(pending, grown_cap * sizeof(*grown));
                if (grown == NULL)
                    goto fail;
                pending = grown;
                cap = grown_cap;
            }
            codec_type *t = calloc(1, sizeof(*t));
            if (t == NULL)
                goto fail;
            t->desc = next;
            size_t b = bucket_of(next);
            t->registry_next = registry[b];
            registry[b] = t;
            pending[count++] = t;
            if (type_fill(t) != 0)
                goto fail;
            next = NULL;
        }
        /* Find the next unregistered message type among the pending ones. */
        while (done < count && next == NULL) {
            codec_type *t = pending[done];
            for (unsigned i = 0; i < t->field_count && next == NULL; i++) {
                const ProtobufCFieldDescriptor *fd = t->fields[i].desc;
                if (fd->type == PROTOBUF_C_TYPE_MESSAGE && registry_find(fd->descriptor) == NULL)
                    next = fd->descriptor;
            }
            if (next == NULL)
                done++;
        }
        if (next == NULL)
            break;
    }

    /* Link message fields of the new tables to their tables (new or old). */
    for (size_t k = 0; k < count; k++) {
        codec_type *t = pending[k];
        for (unsigned i = 0; i < t->field_count; i++) {
            codec_field *f = &t->fields[i];
            if (f->desc->type == PROTOBUF_C_TYPE_MESSAGE)
                f->message = registry_find(f->desc->descriptor);
        }
    }
    free(pending);
    return registry_find(root);

fail:
    for (size_t k = count; k-- > 0;) {
        codec_type *t = pending[k];
        size_t b = bucket_of(t->desc);
        codec_type **link = &registry[b];
        while (*link != t)
            link = &(*link)->registry_next;
        *link = t->registry_next;
        type_free(t);
    }
    free(pending);
    return NULL;
}

const codec_type *codec_type_get(const ProtobufCMessageDescriptor *desc)
{
    if (desc == NULL || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return NULL;
    pthread_mutex_lock(&registry_lock);
    codec_type *t = registry_build(desc);
    pthread_mutex_unlock(&registry_lock);
    return t;
}

const char *kumo_codec_field_json_name(const ProtobufCMessageDescriptor *descriptor,
                                       const ProtobufCFieldDescriptor *field)
{
    const codec_type *t = codec_type_get(descriptor);
    if (t == NULL || field < descriptor->fields ||
        field >= descriptor->fields + descriptor->n_fields)
        return NULL;
    return t->fields[field - descriptor->fields].json_name;
}

const ProtobufCFieldDescriptor *kumo_codec_field_find(const ProtobufCMessageDescriptor *descriptor,
                                                      const char *name, size_t name_len)
{
    const codec_type *t = codec_type_get(descriptor);
    if (t == NULL || name == NULL)
        return NULL;
    const codec_field *f = codec_type_find(t, name, name_len);
    return f ? f->desc : NULL;
}
