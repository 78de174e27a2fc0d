/*
 * docs.h - the documentation of every kind, field and enum value, taken from
 * the comments of the .proto files at build time (docgen.c writes the
 * table). One source for `kumoctl explain` and the Kubernetes API's OpenAPI
 * descriptions.
 *
 * Names are protobuf's: the full name of a message or enum
 * ("kumo.v1alpha1.NodeGroup", as in ProtobufCMessageDescriptor.name) and a
 * field's or enum value's proto name ("instance_type", "Recreate").
 *
 * Everything is static, read-only data: safe from any thread; returned
 * strings live for the whole program.
 */
#ifndef KUMO_DOCS_H
#define KUMO_DOCS_H

typedef struct kumo_docs_entry {
    const char *type;   /* full name of the message or enum */
    const char *member; /* field or enum value; NULL: the type itself */
    const char *text;   /* the comment, lines joined by spaces */
} kumo_docs_entry;

/* The generated table (docs_table.c). */
extern const kumo_docs_entry kumo_docs_table[];
extern const unsigned long kumo_docs_table_count;

/* The comment of a message or enum, or NULL when it has none. */
const char *kumo_docs_type(const char *type_full_name);

/* The comment of a field of a message (or a value of an enum), or NULL when it has none. */
const char *kumo_docs_member(const char *type_full_name, const char *member);

#endif
