/*
 * helpers.c - shared helpers of the codec tests (see helpers.h).
 */
#include "tests/codec/helpers.h"

#include <stdlib.h>

const char codec_test_full_doc[] =
    "{\"scalars\":{\"doubleValue\":1.5,\"floatValue\":0.25,"
    "\"int64Value\":\"-9223372036854775808\",\"uint64Value\":\"18446744073709551615\","
    "\"int32Value\":-2147483648,\"fixed64Value\":\"18446744073709551615\","
    "\"fixed32Value\":4294967295,\"boolValue\":true,"
    "\"stringValue\":\"h\xc3\xa9llo \\\"q\\\"\\n\\t\\\\ \\u0001 \xe2\x98\x83 \xf0\x9f\x98\x80\","
    "\"bytesValue\":\"AAEC/w==\",\"uint32Value\":4294967295,\"sfixed32Value\":-5,"
    "\"sfixed64Value\":\"-6\",\"sint32Value\":-7,\"sint64Value\":\"-8\"},"
    "\"doubles\":[0.1,-2,1e+300,0.0000001,123456.789,-0.5,0.30000000000000004],"
    "\"floats\":[0.1,3.4028235e+38,-1.5],"
    "\"int64s\":[\"9007199254740993\",\"-1\",\"0\"],"
    "\"uint64s\":[\"18446744073709551615\"],"
    "\"int32s\":[1,-1,2147483647,0],"
    "\"fixed64s\":[\"1\"],\"fixed32s\":[2],\"bools\":[true,false],"
    "\"strings\":[\"a\",\"\",\"\xc3\xbcn\xc3\xaf\"],"
    "\"bytesList\":[\"\",\"AQ==\",\"AQI=\",\"AQID\"],"
    "\"uint32s\":[0,4294967295],\"sfixed32s\":[-1],\"sfixed64s\":[\"-2\"],"
    "\"sint32s\":[-3],\"sint64s\":[\"-4\"],"
    "\"nested\":{\"name\":\"n\",\"count\":1,\"child\":{\"name\":\"c\",\"child\":{}}},"
    "\"nestedList\":[{\"name\":\"a\"},{}],"
    "\"labels\":{\"app\":\"web\",\"a.b/c\":\"x y\"},"
    "\"nestedMap\":{\"k\":{\"count\":2}},"
    "\"intMap\":{\"1\":\"one\",\"-5\":\"minus five\"},"
    "\"boolMap\":{\"true\":\"1\",\"false\":\"0\"},"
    "\"timeMap\":{\"t\":\"2024-05-01T12:00:00Z\"},"
    "\"color\":\"Green\",\"colors\":[\"Red\",\"Blue\",\"ColorUnspecified\"],"
    "\"size\":0,"
    "\"targetNested\":{\"name\":\"x\"},"
    "\"created\":\"2024-05-01T12:00:00.123Z\","
    "\"times\":[\"1970-01-01T00:00:00Z\",\"9999-12-31T23:59:59.999999999Z\","
    "\"0001-01-01T00:00:00.000001Z\"]}";

kumo_codec_decode_options codec_test_options(int lenient)
{
    kumo_codec_decode_options options = {0};
    options.lenient = lenient;
    return options;
}

char *codec_test_encode(const ProtobufCMessage *message, int indent)
{
    kumo_codec_buffer buf;
    kumo_codec_encode_options options = {0};
    kumo_diag diag;
    kumo_codec_buffer_init(&buf);
    kumo_diag_init(&diag);
    options.indent = indent;
    kumo_error err = kumo_codec_json_encode(message, &options, &buf, &diag);
    if (err != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&buf);
        kumo_test_fail_(__FILE__, __LINE__, 0, "encode: %s: %s", kumo_error_name(err),
                        diag.message);
        kumo_diag_fini(&diag);
        return NULL;
    }
    kumo_diag_fini(&diag);
    return kumo_codec_buffer_take(&buf, NULL);
}

ProtobufCMessage *codec_test_decode(const ProtobufCMessageDescriptor *descriptor, const char *json,
                                    int lenient)
{
    kumo_codec_decode_options options = codec_test_options(lenient);
    ProtobufCMessage *m = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = kumo_codec_json_decode(descriptor, json, strlen(json), &options, &m, &diag);
    if (err != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 0, "decode: %s: %s", kumo_error_name(err),
                        diag.message);
    kumo_diag_fini(&diag);
    return m;
}

ProtobufCMessage *codec_test_decode_tree(const ProtobufCMessageDescriptor *descriptor,
                                         const char *json, int lenient)
{
    kumo_codec_decode_options options = codec_test_options(lenient);
    ProtobufCMessage *m = NULL;
    kumo_value *tree = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = kumo_codec_value_parse_json(json, strlen(json), &options, &tree, &diag);
    if (err == KUMO_ERROR_OK)
        err = kumo_codec_message_from_value(descriptor, tree, &options, &m, &diag);
    if (err != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 0, "tree decode: %s: %s", kumo_error_name(err),
                        diag.message);
    kumo_codec_value_destroy(tree);
    kumo_diag_fini(&diag);
    return m;
}

void codec_test_expect_error(const ProtobufCMessageDescriptor *descriptor, const char *json,
                             int lenient, kumo_error code, kumo_diag *diag)
{
    kumo_codec_decode_options options = codec_test_options(lenient);
    ProtobufCMessage *direct = NULL, *via_tree = NULL;
    kumo_value *tree = NULL;
    kumo_diag tree_diag;
    kumo_diag_init(&tree_diag);
    kumo_error err =
        kumo_codec_json_decode(descriptor, json, strlen(json), &options, &direct, diag);
    kumo_error tree_err =
        kumo_codec_value_parse_json(json, strlen(json), &options, &tree, &tree_diag);
    if (tree_err == KUMO_ERROR_OK)
        tree_err = kumo_codec_message_from_value(descriptor, tree, &options, &via_tree, &tree_diag);
    KUMO_EXPECT_STR_EQ(kumo_error_name(err), kumo_error_name(code));
    KUMO_EXPECT_STR_EQ(kumo_error_name(tree_err), kumo_error_name(code));
    KUMO_EXPECT(direct == NULL);
    KUMO_EXPECT(via_tree == NULL);
    KUMO_EXPECT_STR_EQ(diag->message, tree_diag.message);
    KUMO_EXPECT_INT_EQ(diag->cause_count, tree_diag.cause_count);
    for (size_t i = 0; i < diag->cause_count && i < tree_diag.cause_count; i++) {
        KUMO_EXPECT_STR_EQ(diag->causes[i].field, tree_diag.causes[i].field);
        KUMO_EXPECT_INT_EQ(diag->causes[i].type, tree_diag.causes[i].type);
    }
    kumo_codec_message_free(direct);
    kumo_codec_message_free(via_tree);
    kumo_codec_value_destroy(tree);
    kumo_diag_fini(&tree_diag);
}

const kumo_diag_cause *codec_test_cause(const kumo_diag *diag, kumo_cause_type type,
                                        const char *field)
{
    KUMO_REQUIRE_INT_EQ(diag->cause_count, 1);
    KUMO_EXPECT_STR_EQ(kumo_cause_type_text(diag->causes[0].type), kumo_cause_type_text(type));
    KUMO_EXPECT_STR_EQ(diag->causes[0].field, field);
    return &diag->causes[0];
}
