/*
 * schema.h - descriptions of kumo's schemas for whoever describes the API
 * (the OpenAPI documents of the Kubernetes-compatible API): the .proto
 * comments, as apis/docs reads them at build time (the one reader of .proto
 * comments, shared with `kumoctl explain`), and the fields validation requires.
 *
 * Thread safety: immutable data; every function is re-entrant.
 */
#ifndef KUMO_SCHEMA_H
#define KUMO_SCHEMA_H

#include <protobuf-c/protobuf-c.h>

#include "apis/object/object.h"

/* The comment of a message (field NULL) or of one of its fields; NULL when it has none. */
const char *kumo_schema_doc(const ProtobufCMessageDescriptor *message, const char *field);

/* Receives one required field of `message` (see kumo_schema_required). */
typedef void (*kumo_schema_required_fn)(void *ctx, const ProtobufCMessageDescriptor *message,
                                        const ProtobufCFieldDescriptor *field);

/*
 * Calls fn for every field that validation requires of a `kind` object, as
 * kumo_object_validate reports them ("Required value") for an empty object
 * whose sub-messages are present and whose lists hold one empty item.
 * metadata is left out (the server fills most of it). A field required only
 * together with another one may be reported too: a hint for documents, not
 * a rule.
 */
void kumo_schema_required(const kumo_object_kind *kind, kumo_schema_required_fn fn, void *ctx);

#endif
