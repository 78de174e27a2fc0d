/*
 * internal.h - what the object module's files share: reaching fields of a
 * message through its descriptor, and the defaulting hooks of the kind rows.
 */
#ifndef KUMO_OBJECT_INTERNAL_H
#define KUMO_OBJECT_INTERNAL_H

#include "apis/object/object.h"

/* Address of the member that stores `field` inside `message`. */
static inline void *object_field_slot(const ProtobufCMessage *message,
                                      const ProtobufCFieldDescriptor *field)
{
    return (char *)message + field->offset;
}

/* Address of the count (n_xxx) of a repeated field. */
static inline size_t *object_field_count(const ProtobufCMessage *message,
                                         const ProtobufCFieldDescriptor *field)
{
    return (size_t *)((char *)message + field->quantifier_offset);
}

/* The field called `name` of the message's type, or NULL. */
static inline const ProtobufCFieldDescriptor *object_field(const ProtobufCMessage *message,
                                                           const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(message->descriptor, name);
}

/* The sub-message stored in field `name` (NULL when unset or not a message field). */
ProtobufCMessage *object_submessage(const ProtobufCMessage *message, const char *name);

/* ---- defaulting (default.c): the hooks the kind rows (kinds.c) name ---------- */

typedef struct default_ctx {
    const ProtobufCMessage *object;
    int nomem; /* an allocation failed */
} default_ctx;

/* Fills the spec defaults of one kind (docs/api-objects.md §4); spec is never NULL. */
void default_connection_spec(ProtobufCMessage *spec, default_ctx *d);
void default_infra_spec(ProtobufCMessage *spec, default_ctx *d);
void default_machine_spec(ProtobufCMessage *spec, default_ctx *d);
void default_security_group_spec(ProtobufCMessage *spec, default_ctx *d);
void default_app_spec(ProtobufCMessage *spec, default_ctx *d);
void default_load_balancer_spec(ProtobufCMessage *spec, default_ctx *d);
void default_migration_spec(ProtobufCMessage *spec, default_ctx *d);
/* For a kind whose spec has no defaults of its own: the row says so explicitly. */
void default_none(ProtobufCMessage *spec, default_ctx *d);

#endif
