/* example_kinds.c - the codec tests' view of the kind registry of apis/object. */
#include "tests/codec/example_kinds.h"

#include <string.h>

#include "apis/object/object.h"

const ProtobufCMessageDescriptor *codec_example_kind_descriptor(const char *kind)
{
    const kumo_object_kind *k = kumo_object_kind_lookup(kind);
    return k && strcmp(k->kind, kind) == 0 ? k->descriptor : NULL;
}

size_t codec_example_kind_count(void)
{
    return kumo_object_kind_count();
}

const ProtobufCMessageDescriptor *codec_example_kind_at(size_t i, const char **kind)
{
    const kumo_object_kind *k = kumo_object_kind_at(i);
    if (kind)
        *kind = k ? k->kind : NULL;
    return k ? k->descriptor : NULL;
}
