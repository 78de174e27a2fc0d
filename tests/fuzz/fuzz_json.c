/*
 * fuzz_json.c - libFuzzer target for the JSON decoders.
 *
 * Each input is decoded into kumo.v1alpha1.Infra (strict and lenient) by
 * the direct decoder and by the tree path, which must agree on the outcome;
 * what decodes must encode and decode again to the same text. The generic
 * parser must round-trip its tree through value_to_json. When the input
 * names a known kind, it is decoded as that kind too.
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
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = kumo_codec_json_encode(m, NULL, &buf, &diag);
    kumo_diag_fini(&diag);
    if (err != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&buf);
        return NULL;
    }
    return kumo_codec_buffer_take(&buf, NULL);
}

static void decode_as(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                      int lenient, const kumo_value *tree)
{
    kumo_codec_decode_options options = {lenient, 0, 0};
    kumo_diag d1, d2;
    kumo_diag_init(&d1);
    kumo_diag_init(&d2);
    ProtobufCMessage *direct = NULL, *via_tree = NULL;
    kumo_error e1 = kumo_codec_json_decode(desc, text, len, &options, &direct, &d1);
    kumo_error e2 = tree ? kumo_codec_message_from_value(desc, tree, &options, &via_tree, &d2)
                         : KUMO_ERROR_PARSE;
    if (tree == NULL) /* the tree parse failed: so must the direct decoder */
        FUZZ_CHECK(e1 != KUMO_ERROR_OK, "direct decoder accepted what the parser refused");
    else
        FUZZ_CHECK(e1 == e2, "direct %s (%s) vs tree %s (%s)", kumo_error_name(e1), d1.message,
                   kumo_error_name(e2), d2.message);
    if (tree != NULL && e1 != KUMO_ERROR_OK)
        FUZZ_CHECK(strcmp(d1.message, d2.message) == 0, "messages differ: %s | %s", d1.message,
                   d2.message);
    if (e1 == KUMO_ERROR_OK) {
        char *a = encode(direct);
        char *b = via_tree ? encode(via_tree) : NULL;
        FUZZ_CHECK(a != NULL && b != NULL && strcmp(a, b) == 0, "encodings differ");
        ProtobufCMessage *again = NULL;
        FUZZ_CHECK(kumo_codec_json_decode(desc, a, strlen(a), NULL, &again, NULL) == KUMO_ERROR_OK,
                   "own output does not decode: %s", a);
        char *c = encode(again);
        FUZZ_CHECK(c != NULL && strcmp(a, c) == 0, "re-encoding differs");
        free(a);
        free(b);
        free(c);
        kumo_codec_message_free(again);
    }
    kumo_codec_message_free(direct);
    kumo_codec_message_free(via_tree);
    kumo_diag_fini(&d1);
    kumo_diag_fini(&d2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    kumo_value *tree = NULL;
    if (kumo_codec_value_parse_json(text, size, NULL, &tree, NULL) == KUMO_ERROR_OK) {
        kumo_codec_buffer buf;
        kumo_codec_buffer_init(&buf);
        FUZZ_CHECK(kumo_codec_value_to_json(tree, (int)(size % 3), &buf) == KUMO_ERROR_OK,
                   "tree does not print");
        kumo_value *back = NULL;
        FUZZ_CHECK(kumo_codec_value_parse_json(buf.data, buf.len, NULL, &back, NULL) ==
                       KUMO_ERROR_OK,
                   "printed tree does not parse: %s", buf.data);
        FUZZ_CHECK(kumo_codec_value_equal(tree, back), "printed tree differs");
        kumo_value *patched = kumo_codec_value_clone(tree);
        kumo_codec_value_merge_patch(&patched, back, NULL);
        kumo_codec_value_destroy(patched);
        kumo_codec_value_destroy(back);
        kumo_codec_buffer_fini(&buf);
    }
    decode_as(&kumo__v1alpha1__infra__descriptor, text, size, 0, tree);
    decode_as(&kumo__v1alpha1__infra__descriptor, text, size, 1, tree);
    const kumo_value *kind = kumo_codec_value_get(tree, "kind");
    if (kind != NULL && kind->type == KUMO_VALUE_STRING) {
        const ProtobufCMessageDescriptor *desc = codec_example_kind_descriptor(kind->text);
        if (desc != NULL && desc != &kumo__v1alpha1__infra__descriptor)
            decode_as(desc, text, size, 0, tree);
    }
    kumo_codec_value_destroy(tree);
    return 0;
}
