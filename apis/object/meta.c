/*
 * meta.c - generic access to an object's metadata, spec and status, and the
 * condition helpers, all through the message descriptor.
 */
#include "apis/object/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

ProtobufCMessage *object_submessage(const ProtobufCMessage *message, const char *name)
{
    const ProtobufCFieldDescriptor *field = object_field(message, name);
    if (field == NULL || field->type != PROTOBUF_C_TYPE_MESSAGE ||
        field->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return *(ProtobufCMessage **)object_field_slot(message, field);
}

/* Allocates an empty message of `descriptor`, initialised; NULL when out of memory. */
static ProtobufCMessage *message_new(const ProtobufCMessageDescriptor *descriptor)
{
    ProtobufCMessage *m = malloc(descriptor->sizeof_message);
    if (m != NULL)
        descriptor->message_init(m);
    return m;
}

/* Replaces the sub-message in field `name`, freeing the old one. */
static void submessage_replace(ProtobufCMessage *message, const char *name,
                               ProtobufCMessage **replacement)
{
    const ProtobufCFieldDescriptor *field = object_field(message, name);
    if (field == NULL)
        return;
    ProtobufCMessage **slot = object_field_slot(message, field);
    if (*slot != NULL)
        protobuf_c_message_free_unpacked(*slot, NULL);
    *slot = *replacement;
    *replacement = NULL;
}

Kumo__V1alpha1__ObjectMeta *kumo_object_meta(const ProtobufCMessage *object)
{
    return (Kumo__V1alpha1__ObjectMeta *)object_submessage(object, "metadata");
}

Kumo__V1alpha1__ObjectMeta *kumo_object_meta_ensure(ProtobufCMessage *object)
{
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    if (meta != NULL)
        return meta;
    ProtobufCMessage *fresh = message_new(&kumo__v1alpha1__object_meta__descriptor);
    if (fresh == NULL)
        return NULL;
    submessage_replace(object, "metadata", &fresh);
    return kumo_object_meta(object);
}

ProtobufCMessage *kumo_object_spec(const ProtobufCMessage *object)
{
    return object_submessage(object, "spec");
}

ProtobufCMessage *kumo_object_status(const ProtobufCMessage *object)
{
    return object_submessage(object, "status");
}

void kumo_object_status_replace(ProtobufCMessage *object, ProtobufCMessage **status)
{
    submessage_replace(object, "status", status);
}

void kumo_object_spec_replace(ProtobufCMessage *object, ProtobufCMessage **spec)
{
    submessage_replace(object, "spec", spec);
}

const char *kumo_object_name(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    return meta && meta->name ? meta->name : "";
}

const char *kumo_object_namespace(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    return meta && meta->namespace_ ? meta->namespace_ : "";
}

/* Sets a string field of `message` by name. */
static kumo_error set_string_field(ProtobufCMessage *message, const char *name, const char *value)
{
    const ProtobufCFieldDescriptor *field = object_field(message, name);
    if (field == NULL || field->type != PROTOBUF_C_TYPE_STRING)
        return KUMO_ERROR_INVALID_ARGUMENT;
    return kumo_codec_string_set(object_field_slot(message, field), value);
}

ProtobufCMessage *kumo_object_new(const kumo_object_kind *kind)
{
    ProtobufCMessage *object = message_new(kind->descriptor);
    if (object == NULL)
        return NULL;
    if (set_string_field(object, "api_version", KUMO_API_VERSION) != KUMO_ERROR_OK ||
        set_string_field(object, "kind", kind->kind) != KUMO_ERROR_OK ||
        kumo_object_meta_ensure(object) == NULL) {
        kumo_object_destroy(object);
        return NULL;
    }
    return object;
}

void kumo_object_destroy(ProtobufCMessage *object)
{
    if (object != NULL)
        protobuf_c_message_free_unpacked(object, NULL);
}

void kumo_object_time_now(Kumo__V1alpha1__Time *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    out->seconds = ts.tv_sec;
    out->nanos = 0; /* Kubernetes timestamps have second precision */
}

/* The status's repeated `conditions` field, or NULL. */
static const ProtobufCFieldDescriptor *conditions_field(const ProtobufCMessage *status)
{
    const ProtobufCFieldDescriptor *field = object_field(status, "conditions");
    if (field == NULL || field->label != PROTOBUF_C_LABEL_REPEATED ||
        field->descriptor != &kumo__v1alpha1__condition__descriptor)
        return NULL;
    return field;
}

const Kumo__V1alpha1__Condition *kumo_object_condition_get(const ProtobufCMessage *object,
                                                           const char *type)
{
    const ProtobufCMessage *status = kumo_object_status(object);
    const ProtobufCFieldDescriptor *field = status ? conditions_field(status) : NULL;
    if (field == NULL)
        return NULL;
    size_t count = *object_field_count(status, field);
    Kumo__V1alpha1__Condition **items =
        *(Kumo__V1alpha1__Condition ***)object_field_slot(status, field);
    for (size_t i = 0; i < count; i++)
        if (items[i]->type && strcmp(items[i]->type, type) == 0)
            return items[i];
    return NULL;
}

static int string_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* Appends a new empty condition to the status; NULL when out of memory. */
static Kumo__V1alpha1__Condition *condition_append(ProtobufCMessage *status,
                                                   const ProtobufCFieldDescriptor *field)
{
    size_t *count = object_field_count(status, field);
    Kumo__V1alpha1__Condition ***items = object_field_slot(status, field);
    Kumo__V1alpha1__Condition **grown = realloc(*items, (*count + 1) * sizeof(**items));
    if (grown == NULL)
        return NULL;
    *items = grown;
    Kumo__V1alpha1__Condition *c = malloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    kumo__v1alpha1__condition__init(c);
    grown[(*count)++] = c;
    return c;
}

int kumo_object_condition_set(ProtobufCMessage *object, const char *type, const char *status_text,
                              const char *reason, const char *message)
{
    ProtobufCMessage *status = kumo_object_status(object);
    if (status == NULL) {
        const ProtobufCFieldDescriptor *f = object_field(object, "status");
        if (f == NULL)
            return -1;
        ProtobufCMessage *fresh = message_new(f->descriptor);
        if (fresh == NULL)
            return -1;
        kumo_object_status_replace(object, &fresh);
        status = kumo_object_status(object);
    }
    const ProtobufCFieldDescriptor *field = conditions_field(status);
    if (field == NULL)
        return -1;
    Kumo__V1alpha1__Condition *c =
        (Kumo__V1alpha1__Condition *)kumo_object_condition_get(object, type);
    int changed = 0;
    if (c == NULL) {
        c = condition_append(status, field);
        if (c == NULL || kumo_codec_string_set(&c->type, type) != KUMO_ERROR_OK)
            return -1;
        changed = 1;
    }
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    int64_t generation = meta ? meta->generation : 0;
    if (string_differs(c->status, status_text)) {
        if (kumo_codec_string_set(&c->status, status_text) != KUMO_ERROR_OK)
            return -1;
        if (c->last_transition_time == NULL) {
            c->last_transition_time = malloc(sizeof(*c->last_transition_time));
            if (c->last_transition_time == NULL)
                return -1;
            kumo__v1alpha1__time__init(c->last_transition_time);
        }
        kumo_object_time_now(c->last_transition_time);
        changed = 1;
    }
    if (string_differs(c->reason, reason)) {
        if (kumo_codec_string_set(&c->reason, reason) != KUMO_ERROR_OK)
            return -1;
        changed = 1;
    }
    if (string_differs(c->message, message)) {
        if (kumo_codec_string_set(&c->message, message) != KUMO_ERROR_OK)
            return -1;
        changed = 1;
    }
    if (c->observed_generation != generation) {
        c->observed_generation = generation;
        changed = 1;
    }
    return changed;
}
