/* schema.c - schema descriptions (schema.h): .proto comments through apis/docs, and
 * the required fields learned from validation. */
#include "apis/schema/schema.h"

#include "apis/docs/docs.h"

#include <stdlib.h>
#include <string.h>

const char *kumo_schema_doc(const ProtobufCMessageDescriptor *message, const char *field)
{
    return field == NULL ? kumo_docs_type(message->name) : kumo_docs_member(message->name, field);
}

/* ---- required fields, learned from validation ---- */

#define TEMPLATE_DEPTH 5

static int is_leaf_message(const ProtobufCMessageDescriptor *d)
{
    return strcmp(d->name, "kumo.v1alpha1.Time") == 0 ||
           strcmp(d->name, "kumo.v1alpha1.ObjectMeta") == 0;
}

/* Gives every message field of m an empty value, and every list of messages one empty item. */
static void fill_template(ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; depth < TEMPLATE_DEPTH && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const ProtobufCMessageDescriptor *sub = f->descriptor;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || is_leaf_message(sub) ||
            (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || sub->n_fields == 0)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED && strcmp(sub->fields[0].name, "key") == 0 &&
            sub->n_fields == 2)
            continue; /* a map */
        ProtobufCMessage *item = calloc(1, sub->sizeof_message);
        if (item == NULL)
            continue;
        protobuf_c_message_init(sub, item);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            ProtobufCMessage **items = calloc(1, sizeof(*items));
            if (items == NULL) {
                free(item);
                continue;
            }
            items[0] = item;
            *(size_t *)((char *)m + f->quantifier_offset) = 1;
            *(ProtobufCMessage ***)((char *)m + f->offset) = items;
        } else {
            *(ProtobufCMessage **)((char *)m + f->offset) = item;
        }
        fill_template(item, depth + 1);
    }
}

/* Maps "spec.groups[0].image" to (NodeGroup, image) and reports it. */
static void report_path(const kumo_object_kind *kind, const char *path, kumo_schema_required_fn fn,
                        void *ctx)
{
    const ProtobufCMessageDescriptor *d = kind->descriptor;
    for (const char *p = path; d != NULL && *p;) {
        size_t len = strcspn(p, ".[");
        const ProtobufCFieldDescriptor *f = kumo_codec_field_find(d, p, len);
        p += len;
        while (*p == '[') {
            const char *close = strchr(p, ']');
            p = close ? close + 1 : p + strlen(p);
        }
        if (f == NULL)
            return;
        if (*p == '\0') {
            fn(ctx, d, f);
            return;
        }
        p++; /* '.' */
        d = f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL;
    }
}

void kumo_schema_required(const kumo_object_kind *kind, kumo_schema_required_fn fn, void *ctx)
{
    ProtobufCMessage *object = kumo_object_new(kind);
    if (object == NULL)
        return;
    fill_template(object, 0);
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_object_validate(object, &diag);
    for (size_t i = 0; i < diag.cause_count; i++) {
        const kumo_diag_cause *c = &diag.causes[i];
        if (c->type == KUMO_CAUSE_REQUIRED && c->field != NULL &&
            strncmp(c->field, "metadata", 8) != 0)
            report_path(kind, c->field, fn, ctx);
    }
    kumo_diag_fini(&diag);
    kumo_object_destroy(object);
}
