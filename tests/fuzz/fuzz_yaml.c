/*
 * fuzz_yaml.c - libFuzzer target for the YAML parser and the value-tree
 * decoder. Every document is decoded as its kind (or Infra); what decodes
 * must survive YAML encode -> parse -> decode with the same JSON.
 */
#include <stdint.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "tests/codec/example_kinds.h"
#include "tests/fuzz/fuzz_common.h"

static char *encode(const ProtobufCMessage *m)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    if (kumo_codec_json_encode(m, NULL, &buf, NULL) != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&buf);
        return NULL;
    }
    return kumo_codec_buffer_take(&buf, NULL);
}

static void check_yaml_roundtrip(const ProtobufCMessage *m)
{
    kumo_codec_buffer yaml;
    kumo_codec_buffer_init(&yaml);
    kumo_diag diag;
    kumo_diag_init(&diag);
    if (kumo_codec_yaml_encode(m, &yaml, &diag) != KUMO_ERROR_OK) { /* e.g. a Time out of range */
        kumo_diag_fini(&diag);
        kumo_codec_buffer_fini(&yaml);
        return;
    }
    kumo_value **docs = NULL;
    size_t count = 0;
    kumo_error err = kumo_codec_value_parse_yaml(yaml.data, yaml.len, NULL, &docs, &count, &diag);
    FUZZ_CHECK(err == KUMO_ERROR_OK && count == 1, "own YAML does not parse: %s\n%s", diag.message,
               yaml.data);
    ProtobufCMessage *back = NULL;
    err = kumo_codec_message_from_value(m->descriptor, docs[0], NULL, &back, &diag);
    FUZZ_CHECK(err == KUMO_ERROR_OK, "own YAML does not decode: %s\n%s", diag.message, yaml.data);
    char *a = encode(m), *b = encode(back);
    FUZZ_CHECK(a != NULL && b != NULL && strcmp(a, b) == 0, "YAML round trip changed\n%s\n%s", a,
               b);
    free(a);
    free(b);
    kumo_codec_message_free(back);
    kumo_codec_value_array_destroy(docs, count);
    kumo_diag_fini(&diag);
    kumo_codec_buffer_fini(&yaml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kumo_value **docs = NULL;
    size_t count = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err =
        kumo_codec_value_parse_yaml((const char *)data, size, NULL, &docs, &count, &diag);
    FUZZ_CHECK(err == KUMO_ERROR_OK || diag.message[0] != '\0', "error without a message");
    kumo_diag_fini(&diag);
    for (size_t i = 0; i < count; i++) {
        const kumo_value *kind = kumo_codec_value_get(docs[i], "kind");
        const ProtobufCMessageDescriptor *desc = NULL;
        if (kind != NULL && kind->type == KUMO_VALUE_STRING)
            desc = codec_example_kind_descriptor(kind->text);
        if (desc == NULL)
            desc = &kumo__v1alpha1__infra__descriptor;
        for (int lenient = 0; lenient <= 1; lenient++) {
            kumo_codec_decode_options options = {lenient, 0, 0};
            ProtobufCMessage *m = NULL;
            if (kumo_codec_message_from_value(desc, docs[i], &options, &m, NULL) == KUMO_ERROR_OK)
                check_yaml_roundtrip(m);
            kumo_codec_message_free(m);
        }
    }
    kumo_codec_value_array_destroy(docs, count);
    return 0;
}
