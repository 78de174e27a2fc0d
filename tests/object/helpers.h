/*
 * helpers.h - what the object tests share: loading a manifest from text,
 * defaulting + validating it, and finding a cause by its exact text.
 */
#ifndef KUMO_TEST_OBJECT_HELPERS_H
#define KUMO_TEST_OBJECT_HELPERS_H

#include "apis/object/object.h"

/* Decodes one object from YAML (or JSON) text; fails the case when it does not decode. */
ProtobufCMessage *test_load(const char *manifest);
/* Defaults (when `defaults`) and validates; the diag holds the causes. */
kumo_error test_check(ProtobufCMessage *object, int defaults, kumo_diag *diag);
/* Whether some cause formats exactly as `text` ("spec.x: Required value"). */
int test_has_cause(const kumo_diag *diag, const char *text);
/* Every cause on its own line, for failure messages. */
const char *test_causes_text(const kumo_diag *diag, char *buf, size_t size);
/* The object as compact JSON in a heap string (caller frees). */
char *test_json(const ProtobufCMessage *object);

#endif
