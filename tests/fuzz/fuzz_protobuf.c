/*
 * fuzz_protobuf.c - libFuzzer target for the protobuf decoder. The input is
 * decoded as kumo.v1alpha1.Infra, and (its first byte choosing) as one of
 * the kinds from the rest; what decodes is written as JSON, which must
 * decode and encode back to the same text.
 */
#include <stdint.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "tests/codec/example_kinds.h"
#include "tests/fuzz/fuzz_common.h"

static void decode_as(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    ProtobufCMessage *m = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = kumo_codec_protobuf_decode(desc, data, size, NULL, &m, &diag);
    FUZZ_CHECK(err == KUMO_ERROR_OK || diag.message[0] != '\0', "error without a message");
    kumo_diag_fini(&diag);
    if (err != KUMO_ERROR_OK)
        return;
    kumo_codec_buffer json;
    kumo_codec_buffer_init(&json);
    if (kumo_codec_json_encode(m, NULL, &json, NULL) == KUMO_ERROR_OK) {
        ProtobufCMessage *back = NULL;
        err = kumo_codec_json_decode(desc, json.data, json.len, NULL, &back, &diag);
        FUZZ_CHECK(err == KUMO_ERROR_OK, "own JSON does not decode: %s\n%s", diag.message,
                   json.data);
        kumo_codec_buffer again;
        kumo_codec_buffer_init(&again);
        FUZZ_CHECK(kumo_codec_json_encode(back, NULL, &again, NULL) == KUMO_ERROR_OK, "re-encode");
        FUZZ_CHECK(strcmp(json.data, again.data) == 0, "JSON changed\n%s\n%s", json.data,
                   again.data);
        kumo_codec_buffer_fini(&again);
        kumo_codec_message_free(back);
        kumo_diag_fini(&diag);
    }
    kumo_codec_buffer_fini(&json);
    ProtobufCMessage *copy = kumo_codec_message_clone(m);
    FUZZ_CHECK(copy != NULL, "clone failed");
    kumo_codec_message_free(copy);
    kumo_codec_message_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_as(&kumo__v1alpha1__infra__descriptor, data, size);
    if (size > 0)
        decode_as(codec_example_kind_at(data[0] % codec_example_kind_count(), NULL), data + 1,
                  size - 1);
    return 0;
}
