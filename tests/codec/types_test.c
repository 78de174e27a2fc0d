/*
 * types_test.c - enums, maps, oneofs, kumo.v1alpha1.Time, bytes, null and
 * unknown fields, and values of the wrong shape.
 */
#include "tests/codec/helpers.h"

#include <stdlib.h>

/* Encodes the message decoded from `in` and compares with `want`. */
static void expect_canonical(const char *in, const char *want)
{
    ProtobufCMessage *m = codec_test_decode(ALL_TYPES, in, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    char *out = codec_test_encode(m, 0);
    KUMO_EXPECT_STR_EQ(out, want);
    free(out);
    kumo_codec_message_free(m);
    m = codec_test_decode_tree(ALL_TYPES, in, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    out = codec_test_encode(m, 0);
    KUMO_EXPECT_STR_EQ(out, want);
    free(out);
    kumo_codec_message_free(m);
}

KUMO_TEST(enum_names_and_numbers)
{
    expect_canonical("{\"color\":\"Blue\",\"colors\":[2,\"Red\",0]}",
                     "{\"color\":\"Blue\",\"colors\":[\"Green\",\"Red\",\"ColorUnspecified\"]}");
    /* the default value is omitted; an unknown number (open enum) is kept as a number */
    expect_canonical("{\"color\":\"ColorUnspecified\",\"colors\":[17]}", "{\"colors\":[17]}");
    Kumo__Test__AllTypes *m =
        (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, "{\"color\":3}", 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_INT_EQ(m->color, KUMO__TEST__ALL_TYPES__COLOR__Blue);
    kumo_codec_message_free(&m->base);
}

KUMO_TEST(enum_unknown_lists_values)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"colors\":[\"Red\",\"Purple\"]}", 0, KUMO_ERROR_INVALID,
                            &diag);
    const kumo_diag_cause *cause = codec_test_cause(&diag, KUMO_CAUSE_UNSUPPORTED, "colors[1]");
    KUMO_EXPECT_STR_EQ(cause->value, "\"Purple\"");
    KUMO_EXPECT_STR_EQ(cause->message,
                       "supported values: \"ColorUnspecified\", \"Red\", \"Green\", \"Blue\"");
    KUMO_EXPECT_CONTAINS(diag.message, "colors[1]: Unsupported value: \"Purple\"");
    kumo_diag_fini(&diag);
    /* names are case-sensitive, and a prefix is not a name */
    codec_test_expect_error(ALL_TYPES, "{\"color\":\"red\"}", 0, KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_UNSUPPORTED, "color");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"color\":\"Gree\"}", 0, KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_UNSUPPORTED, "color");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"color\":2147483648}", 0, KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "color");
    kumo_diag_fini(&diag);
}

KUMO_TEST(map_fields)
{
    expect_canonical("{\"labels\":{\"b\":\"2\",\"a\":\"\",\"\":\"empty key\"},"
                     "\"intMap\":{\"-2147483648\":\"min\",\"07\":\"seven\"},"
                     "\"boolMap\":{\"false\":\"-3\"},"
                     "\"nestedMap\":{\"x\":{},\"y\":{\"name\":\"why\"}},"
                     "\"timeMap\":{\"t\":\"2024-05-01T21:00:00+09:00\"}}",
                     "{\"labels\":{\"b\":\"2\",\"a\":\"\",\"\":\"empty key\"},"
                     "\"nestedMap\":{\"x\":{},\"y\":{\"name\":\"why\"}},"
                     "\"intMap\":{\"-2147483648\":\"min\",\"7\":\"seven\"},"
                     "\"boolMap\":{\"false\":\"-3\"},"
                     "\"timeMap\":{\"t\":\"2024-05-01T12:00:00Z\"}}");
    expect_canonical("{\"labels\":{}}", "{}");
    Kumo__Test__AllTypes *m = (Kumo__Test__AllTypes *)codec_test_decode(
        ALL_TYPES, "{\"labels\":{\"k\\u00e9y\":\"v\\n\"}}", 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_REQUIRE_INT_EQ(m->n_labels, 1);
    KUMO_EXPECT_STR_EQ(m->labels[0]->key, "k\xc3\xa9y");
    KUMO_EXPECT_STR_EQ(m->labels[0]->value, "v\n");
    kumo_codec_message_free(&m->base);
}

KUMO_TEST(map_errors)
{
    static const struct {
        const char *json;
        kumo_cause_type type;
        const char *field;
    } bad[] = {
        {"{\"intMap\":{\"x\":\"1\"}}", KUMO_CAUSE_INVALID, "intMap.x"},
        {"{\"intMap\":{\"2147483648\":\"1\"}}", KUMO_CAUSE_INVALID, "intMap.2147483648"},
        {"{\"intMap\":{\"1\":\"a\",\"01\":\"b\"}}", KUMO_CAUSE_DUPLICATE, "intMap.01"},
        {"{\"boolMap\":{\"yes\":\"1\"}}", KUMO_CAUSE_INVALID, "boolMap.yes"},
        {"{\"labels\":{\"app\":5}}", KUMO_CAUSE_INVALID, "labels.app"},
        {"{\"labels\":{\"app\":null}}", KUMO_CAUSE_INVALID, "labels.app"},
        {"{\"labels\":[\"a\"]}", KUMO_CAUSE_INVALID, "labels"},
        {"{\"nestedMap\":{\"k\":{\"count\":\"x\"}}}", KUMO_CAUSE_INVALID, "nestedMap.k.count"},
        {"{\"nestedMap\":{\"k\\n\":[]}}", KUMO_CAUSE_INVALID, "nestedMap.k\n"},
        {"{\"timeMap\":{\"t\":\"yesterday\"}}", KUMO_CAUSE_INVALID, "timeMap.t"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kumo_diag diag;
        kumo_diag_init(&diag);
        codec_test_expect_error(ALL_TYPES, bad[i].json, 0, KUMO_ERROR_INVALID, &diag);
        codec_test_cause(&diag, bad[i].type, bad[i].field);
        kumo_diag_fini(&diag);
    }
    /* a key given twice verbatim is a syntax error, whatever the field */
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"labels\":{\"a\":\"1\",\"a\":\"2\"}}", 0,
                            KUMO_ERROR_PARSE, &diag);
    KUMO_EXPECT_CONTAINS(diag.message, "duplicate key \"a\"");
    kumo_diag_fini(&diag);
}

KUMO_TEST(oneof_members)
{
    /* a set member is written even at its default value */
    expect_canonical("{\"size\":0}", "{\"size\":0}");
    expect_canonical("{\"targetName\":\"\"}", "{\"targetName\":\"\"}");
    expect_canonical("{\"targetColor\":\"ColorUnspecified\"}",
                     "{\"targetColor\":\"ColorUnspecified\"}");
    expect_canonical("{\"targetBytes\":\"\"}", "{\"targetBytes\":\"\"}");
    expect_canonical("{\"targetNested\":{}}", "{\"targetNested\":{}}");
    expect_canonical("{\"target_name\":\"n\",\"size\":3}", "{\"size\":3,\"targetName\":\"n\"}");
    expect_canonical("{}", "{}");
    /* null leaves a oneof unset, and then another member may be given */
    expect_canonical("{\"targetName\":null,\"targetColor\":\"Red\"}", "{\"targetColor\":\"Red\"}");

    Kumo__Test__AllTypes *m =
        (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, "{\"targetName\":\"abc\"}", 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_INT_EQ(m->target_case, KUMO__TEST__ALL_TYPES__TARGET_TARGET_NAME);
    KUMO_EXPECT_STR_EQ(m->target_name, "abc");
    KUMO_EXPECT_INT_EQ(m->size_present_case, KUMO__TEST__ALL_TYPES__SIZE_PRESENT__NOT_SET);
    /* protobuf keeps the case too */
    kumo_codec_buffer wire;
    kumo_codec_buffer_init(&wire);
    KUMO_EXPECT_INT_EQ(kumo_codec_protobuf_encode(&m->base, &wire), KUMO_ERROR_OK);
    ProtobufCMessage *back = NULL;
    KUMO_EXPECT_INT_EQ(kumo_codec_protobuf_decode(ALL_TYPES, (const uint8_t *)wire.data, wire.len,
                                                  NULL, &back, NULL),
                       KUMO_ERROR_OK);
    char *out = codec_test_encode(back, 0);
    KUMO_EXPECT_STR_EQ(out, "{\"targetName\":\"abc\"}");
    free(out);
    kumo_codec_message_free(back);
    kumo_codec_buffer_fini(&wire);
    kumo_codec_message_free(&m->base);
}

KUMO_TEST(oneof_conflict)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"targetName\":\"a\",\"targetNested\":{}}", 0,
                            KUMO_ERROR_INVALID, &diag);
    const kumo_diag_cause *cause = codec_test_cause(&diag, KUMO_CAUSE_FORBIDDEN, "targetNested");
    KUMO_EXPECT_CONTAINS(cause->message, "\"targetName\" and \"targetNested\"");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"nested\":{},\"targetColor\":1,\"targetBytes\":null}", 0,
                            KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_FORBIDDEN, "targetBytes");
    kumo_diag_fini(&diag);
}

KUMO_TEST(time_rfc3339)
{
    static const struct {
        const char *in, *out;
    } times[] = {
        {"2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"},
        {"2024-05-01t12:00:00z", "2024-05-01T12:00:00Z"},
        {"2024-05-01T21:30:00+09:30", "2024-05-01T12:00:00Z"},
        {"2024-05-01T00:00:00-05:00", "2024-05-01T05:00:00Z"},
        {"2024-02-29T23:59:59.5Z", "2024-02-29T23:59:59.500Z"},
        {"2024-01-01T00:00:00.000000001Z", "2024-01-01T00:00:00.000000001Z"},
        {"2024-01-01T00:00:00.12345Z", "2024-01-01T00:00:00.123450Z"},
        {"2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00Z"},
        {"1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"},
        {"1900-03-01T00:00:00Z", "1900-03-01T00:00:00Z"},
        {"2000-02-29T00:00:00+00:00", "2000-02-29T00:00:00Z"},
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        char in[128], want[128];
        snprintf(in, sizeof(in), "{\"created\":\"%s\"}", times[i].in);
        snprintf(want, sizeof(want), "{\"created\":\"%s\"}", times[i].out);
        expect_canonical(in, want);
    }
    Kumo__Test__AllTypes *m = (Kumo__Test__AllTypes *)codec_test_decode(
        ALL_TYPES, "{\"created\":\"1969-12-31T23:59:59.999Z\"}", 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_INT_EQ(m->created->seconds, -1);
    KUMO_EXPECT_INT_EQ(m->created->nanos, 999000000);
    kumo_codec_message_free(&m->base);
    /* a Time with seconds 0 is still present ("1970-01-01T00:00:00Z") */
    expect_canonical("{\"created\":\"1970-01-01T00:00:00Z\"}",
                     "{\"created\":\"1970-01-01T00:00:00Z\"}");
}

KUMO_TEST(time_invalid)
{
    static const char *const bad[] = {
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:60Z",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00.1234567890Z",
        "2024-05-01T12:00:00+9:00",
        "2024-05-01 12:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "2024-05-01T12:00:00Zjunk",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[128];
        snprintf(in, sizeof(in), "{\"times\":[\"%s\"]}", bad[i]);
        kumo_diag diag;
        kumo_diag_init(&diag);
        codec_test_expect_error(ALL_TYPES, in, 0, KUMO_ERROR_INVALID, &diag);
        const kumo_diag_cause *cause = codec_test_cause(&diag, KUMO_CAUSE_INVALID, "times[0]");
        KUMO_EXPECT_CONTAINS(cause->message, "RFC 3339");
        kumo_diag_fini(&diag);
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"created\":{\"seconds\":1}}", 0, KUMO_ERROR_INVALID,
                            &diag);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "created");
    kumo_diag_fini(&diag);
    /* encoding a Time out of range is an error naming the field */
    Kumo__V1alpha1__Time t = KUMO__V1ALPHA1__TIME__INIT;
    Kumo__Test__AllTypes m = KUMO__TEST__ALL_TYPES__INIT;
    t.nanos = 1000000000;
    m.created = &t;
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    KUMO_EXPECT_INT_EQ(kumo_codec_json_encode(&m.base, NULL, &buf, &diag), KUMO_ERROR_INVALID);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "created");
    KUMO_EXPECT_INT_EQ(buf.len, 0);
    kumo_diag_fini(&diag);
    kumo_codec_buffer_fini(&buf);
}

KUMO_TEST(bytes_base64)
{
    /* URL-safe alphabet and missing padding accepted; output is standard and padded */
    expect_canonical("{\"bytesList\":[\"-_8\",\"+/8=\",\"AAEC\",\"AA\"]}",
                     "{\"bytesList\":[\"+/8=\",\"+/8=\",\"AAEC\",\"AA==\"]}");
    Kumo__Test__AllTypes *m =
        (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, "{\"targetBytes\":\"aGVsbG8=\"}", 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_REQUIRE_INT_EQ(m->target_bytes.len, 5);
    KUMO_EXPECT(memcmp(m->target_bytes.data, "hello", 5) == 0);
    kumo_codec_message_free(&m->base);
    static const char *const bad[] = {"A", "AAA=A", "A===", "AB=C", "AB\\nCD", "*AAA", "AB==="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[64];
        snprintf(in, sizeof(in), "{\"bytesList\":[\"%s\"]}", bad[i]);
        kumo_diag diag;
        kumo_diag_init(&diag);
        codec_test_expect_error(ALL_TYPES, in, 0, KUMO_ERROR_INVALID, &diag);
        KUMO_EXPECT_STR_EQ(codec_test_cause(&diag, KUMO_CAUSE_INVALID, "bytesList[0]")->message,
                           "expected a base64 string");
        kumo_diag_fini(&diag);
    }
}

KUMO_TEST(null_means_unset)
{
    expect_canonical("{\"scalars\":null,\"int32s\":null,\"labels\":null,\"color\":null,"
                     "\"created\":null,\"size\":null,\"nested\":{\"name\":null,\"child\":null}}",
                     "{\"nested\":{}}");
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"int32s\":[1,null]}", 0, KUMO_ERROR_INVALID, &diag);
    KUMO_EXPECT_STR_EQ(codec_test_cause(&diag, KUMO_CAUSE_INVALID, "int32s[1]")->value, "null");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"nestedList\":[null]}", 0, KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "nestedList[0]");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "null", 0, KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "(root)");
    kumo_diag_fini(&diag);
}

KUMO_TEST(unknown_field_strict_lenient)
{
    const char *in =
        "{\"nested\":{\"name\":\"n\",\"foo\":{\"deep\":[1,2,{\"x\":null}]}},\"bar\":1}";
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, in, 0, KUMO_ERROR_INVALID, &diag);
    const kumo_diag_cause *cause = codec_test_cause(&diag, KUMO_CAUSE_UNKNOWN, "nested.foo");
    KUMO_EXPECT_STR_EQ(cause->message, "unknown field \"foo\"");
    KUMO_EXPECT(cause->value == NULL);
    kumo_diag_fini(&diag);

    ProtobufCMessage *m = codec_test_decode(ALL_TYPES, in, 1);
    ProtobufCMessage *t = codec_test_decode_tree(ALL_TYPES, in, 1);
    char *a = codec_test_encode(m, 0), *b = codec_test_encode(t, 0);
    KUMO_EXPECT_STR_EQ(a, "{\"nested\":{\"name\":\"n\"}}");
    KUMO_EXPECT_STR_EQ(b, "{\"nested\":{\"name\":\"n\"}}");
    free(a);
    free(b);
    kumo_codec_message_free(m);
    kumo_codec_message_free(t);

    /* lenient still parses what it skips */
    codec_test_expect_error(ALL_TYPES, "{\"bar\":[1,}", 1, KUMO_ERROR_PARSE, &diag);
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"bar\":1,\"bar\":2}", 1, KUMO_ERROR_PARSE, &diag);
    KUMO_EXPECT_CONTAINS(diag.message, "duplicate key \"bar\"");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"bar\":{\"x\":1,\"x\":2}}", 1, KUMO_ERROR_PARSE, &diag);
    kumo_diag_fini(&diag);
}

KUMO_TEST(wrong_shapes)
{
    static const struct {
        const char *json;
        const char *field;
        const char *value;
        const char *message;
    } bad[] = {
        {"{\"nested\":[]}", "nested", "[...]", "expected an object"},
        {"{\"nested\":\"x\"}", "nested", "\"x\"", "expected an object"},
        {"{\"int32s\":5}", "int32s", "5", "expected a list"},
        {"{\"int32s\":{}}", "int32s", "{...}", "expected a list"},
        {"{\"labels\":\"a=b\"}", "labels", "\"a=b\"", "expected an object"},
        {"{\"scalars\":{\"stringValue\":{}}}", "scalars.stringValue", "{...}", "expected a string"},
        {"{\"scalars\":{\"stringValue\":true}}", "scalars.stringValue", "true",
         "expected a string"},
        {"{\"scalars\":{\"stringValue\":\"a\\u0000b\"}}", "scalars.stringValue", "\"a\\u0000b\"",
         "must not contain a NUL character"},
        {"[]", "(root)", "[...]", "expected an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kumo_diag diag;
        kumo_diag_init(&diag);
        codec_test_expect_error(ALL_TYPES, bad[i].json, 0, KUMO_ERROR_INVALID, &diag);
        const kumo_diag_cause *cause = codec_test_cause(&diag, KUMO_CAUSE_INVALID, bad[i].field);
        KUMO_EXPECT_STR_EQ(cause->value, bad[i].value);
        KUMO_EXPECT_STR_EQ(cause->message, bad[i].message);
        kumo_diag_fini(&diag);
    }
    /* long values are shortened in causes */
    char in[400], long_text[301];
    memset(long_text, 'x', 300);
    long_text[300] = '\0';
    snprintf(in, sizeof(in), "{\"scalars\":{\"int32Value\":\"%s\"}}", long_text);
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, in, 0, KUMO_ERROR_INVALID, &diag);
    const kumo_diag_cause *cause =
        codec_test_cause(&diag, KUMO_CAUSE_INVALID, "scalars.int32Value");
    KUMO_EXPECT_INT_LE(strlen(cause->value), 80);
    KUMO_EXPECT_CONTAINS(cause->value, "...\"");
    kumo_diag_fini(&diag);
}
