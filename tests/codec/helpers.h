/*
 * helpers.h - what the codec test files share: the test schema, a full
 * document that sets every field of it, and decode/encode wrappers that fail
 * the running case on unexpected errors.
 */
#ifndef KUMO_CODEC_TEST_HELPERS_H
#define KUMO_CODEC_TEST_HELPERS_H

#include "apis/codec/codec.h"
#include "tests/codec/testdata/all_types.pb-c.h"
#include "tests/harness/test.h"

/* A kumo.test.AllTypes JSON document setting every field, in the encoder's
 * canonical form (compact, field-number order). */
extern const char codec_test_full_doc[];

/* Strict or lenient decode options with defaults otherwise. */
kumo_codec_decode_options codec_test_options(int lenient);

/* JSON text of a message (malloc'd); fails the case on error. */
char *codec_test_encode(const ProtobufCMessage *message, int indent);

/* Decodes with the direct decoder; fails the case unless it succeeds. */
ProtobufCMessage *codec_test_decode(const ProtobufCMessageDescriptor *descriptor, const char *json,
                                    int lenient);

/* Decodes with the tree path (parse + message_from_value); fails unless it succeeds. */
ProtobufCMessage *codec_test_decode_tree(const ProtobufCMessageDescriptor *descriptor,
                                         const char *json, int lenient);

/*
 * Decodes `json` into AllTypes (strict) with the direct decoder AND the tree
 * path, requires both to fail with `code`, the same message and the same
 * causes, and copies the direct decoder's diag into *diag (caller finis it).
 */
void codec_test_expect_error(const ProtobufCMessageDescriptor *descriptor, const char *json,
                             int lenient, kumo_error code, kumo_diag *diag);

/* Requires exactly one cause with this type and field; returns it. */
const kumo_diag_cause *codec_test_cause(const kumo_diag *diag, kumo_cause_type type,
                                        const char *field);

#define ALL_TYPES (&kumo__test__all_types__descriptor)

#endif
