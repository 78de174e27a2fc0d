/*
 * example_kinds.h - kind name -> message descriptor for the kinds of
 * apis/kumo/v1alpha1, used by the codec tests and the fuzz seed tool to
 * decode examples/ (*.yaml): a thin view of the object module's kind registry.
 */
#ifndef KUMO_CODEC_TEST_EXAMPLE_KINDS_H
#define KUMO_CODEC_TEST_EXAMPLE_KINDS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* The descriptor of `kind` ("Infra"), or NULL when the table does not know it. */
const ProtobufCMessageDescriptor *codec_example_kind_descriptor(const char *kind);

/* Number of kinds in the table, and the i-th one (i < count). */
size_t codec_example_kind_count(void);
const ProtobufCMessageDescriptor *codec_example_kind_at(size_t i, const char **kind);

#endif
