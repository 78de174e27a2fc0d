/*
 * docs_test.c - the documentation table generated from the .proto comments:
 * what it holds, and that every row names a real message, enum, field or
 * enum value of the compiled descriptors (so a renamed field cannot leave a
 * stale description behind).
 */
#include "apis/docs/docs.h"
#include "apis/object/object.h"
#include "tests/harness/test.h"

#include <string.h>

KUMO_TEST(every_kind_documented)
{
    for (size_t i = 0; i < kumo_object_kind_count(); i++) {
        const kumo_object_kind *kind = kumo_object_kind_at(i);
        const char *doc = kumo_docs_type(kind->descriptor->name);
        KUMO_CHECK_(0,
                    doc != NULL || strcmp(kind->kind, "SecurityGroup") == 0 ||
                        strcmp(kind->kind, "KeyPair") == 0,
                    "%s has no description", kind->kind);
    }
    KUMO_EXPECT_CONTAINS(kumo_docs_type("kumo.v1alpha1.Infra"), "a set of node groups");
    KUMO_EXPECT(kumo_docs_type("kumo.v1alpha1.NoSuchThing") == NULL);
}

KUMO_TEST(fields_and_enum_values)
{
    KUMO_EXPECT_STR_EQ(kumo_docs_member("kumo.v1alpha1.NodeGroup", "size"), "number of machines");
    /* a comment over several lines is joined */
    KUMO_EXPECT_STR_EQ(kumo_docs_member("kumo.v1alpha1.InfraSpec", "ssh_public_key"),
                       "OpenSSH public key installed on every machine, imported as a KeyPair on "
                       "each connection. Empty: kumo generates a key pair per connection.");
    KUMO_EXPECT_STR_EQ(kumo_docs_member("kumo.v1alpha1.InfraSpec.DriftPolicy", "Recreate"),
                       "replace the machine");
    KUMO_EXPECT(kumo_docs_member("kumo.v1alpha1.NodeGroup", "nope") == NULL);
    KUMO_EXPECT(kumo_docs_member("kumo.v1alpha1.NodeGroup", NULL) == NULL);
}

/* 1 when `name` is the descriptor or one nested below it (through message fields). */
static const void *find_type(const ProtobufCMessageDescriptor *d, const char *name, int depth)
{
    if (strcmp(d->name, name) == 0)
        return d;
    for (unsigned i = 0; depth < 16 && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_ENUM &&
            strcmp(((const ProtobufCEnumDescriptor *)f->descriptor)->name, name) == 0)
            return f->descriptor;
        const void *found =
            f->type == PROTOBUF_C_TYPE_MESSAGE ? find_type(f->descriptor, name, depth + 1) : NULL;
        if (found)
            return found;
    }
    return NULL;
}

KUMO_TEST(every_entry_names_a_real_field)
{
    size_t checked = 0;
    for (unsigned long i = 0; i < kumo_docs_table_count; i++) {
        const kumo_docs_entry *e = &kumo_docs_table[i];
        const ProtobufCMessageDescriptor *message = NULL;
        const ProtobufCEnumDescriptor *enumeration = NULL;
        for (size_t k = 0; k < kumo_object_kind_count() && !message && !enumeration; k++) {
            const void *found = find_type(kumo_object_kind_at(k)->descriptor, e->type, 0);
            if (found && ((const ProtobufCMessageDescriptor *)found)->magic ==
                             PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
                message = found;
            else if (found)
                enumeration = found;
        }
        if (message == NULL && enumeration == NULL)
            continue; /* a message no kind uses (agent protocol, events): nothing to check */
        checked++;
        if (e->member == NULL)
            continue;
        int exists =
            message ? protobuf_c_message_descriptor_get_field_by_name(message, e->member) != NULL
                    : protobuf_c_enum_descriptor_get_value_by_name(enumeration, e->member) != NULL;
        KUMO_CHECK_(0, exists, "%s has no member %s, yet it is documented", e->type, e->member);
    }
    KUMO_EXPECT_INT_GE(checked, 100);
}
