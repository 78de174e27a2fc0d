/*
 * json_test.c - the JSON mapping over the test schema: every scalar type,
 * 64-bit integers as strings, ranges, floating point text, indentation,
 * emit_defaults and field names.
 */
#include "tests/codec/helpers.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Direct decoder, tree path, protobuf and message_to_value all give the canonical text. */
KUMO_TEST(full_document_roundtrip)
{
    ProtobufCMessage *direct = codec_test_decode(ALL_TYPES, codec_test_full_doc, 0);
    ProtobufCMessage *tree = codec_test_decode_tree(ALL_TYPES, codec_test_full_doc, 0);
    KUMO_REQUIRE_PTR_NONNULL(direct);
    KUMO_REQUIRE_PTR_NONNULL(tree);
    char *a = codec_test_encode(direct, 0);
    char *b = codec_test_encode(tree, 0);
    KUMO_EXPECT_STR_EQ(a, codec_test_full_doc);
    KUMO_EXPECT_STR_EQ(b, codec_test_full_doc);

    /* protobuf: ours and protobuf-c's unpack */
    kumo_codec_buffer wire;
    kumo_codec_buffer_init(&wire);
    KUMO_EXPECT_INT_EQ(kumo_codec_protobuf_encode(direct, &wire), KUMO_ERROR_OK);
    ProtobufCMessage *unpacked =
        protobuf_c_message_unpack(ALL_TYPES, NULL, wire.len, (const uint8_t *)wire.data);
    KUMO_REQUIRE_PTR_NONNULL(unpacked);
    char *c = codec_test_encode(unpacked, 0);
    KUMO_EXPECT_STR_EQ(c, codec_test_full_doc);
    ProtobufCMessage *clone = kumo_codec_message_clone(direct);
    char *d = codec_test_encode(clone, 0);
    KUMO_EXPECT_STR_EQ(d, codec_test_full_doc);

    /* message -> value -> JSON */
    kumo_value *value = NULL;
    kumo_codec_buffer text;
    kumo_codec_buffer_init(&text);
    KUMO_EXPECT_INT_EQ(kumo_codec_message_to_value(direct, NULL, &value, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_to_json(value, 0, &text), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(text.data, codec_test_full_doc);

    kumo_codec_value_destroy(value);
    kumo_codec_buffer_fini(&text);
    kumo_codec_buffer_fini(&wire);
    free(a);
    free(b);
    free(c);
    free(d);
    kumo_codec_message_free(direct);
    kumo_codec_message_free(tree);
    kumo_codec_message_free(unpacked);
    kumo_codec_message_free(clone);
}

/* The decoded struct holds the values (not just something that re-encodes alike). */
KUMO_TEST(scalar_fields_stored)
{
    Kumo__Test__AllTypes *m =
        (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, codec_test_full_doc, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_REQUIRE_PTR_NONNULL(m->scalars);
    const Kumo__Test__Scalars *s = m->scalars;
    KUMO_EXPECT(s->double_value == 1.5);
    KUMO_EXPECT(s->float_value == 0.25f);
    KUMO_EXPECT(s->int64_value == INT64_MIN);
    KUMO_EXPECT(s->uint64_value == UINT64_MAX);
    KUMO_EXPECT_INT_EQ(s->int32_value, INT32_MIN);
    KUMO_EXPECT(s->fixed64_value == UINT64_MAX);
    KUMO_EXPECT(s->fixed32_value == UINT32_MAX);
    KUMO_EXPECT_INT_EQ(s->bool_value, 1);
    KUMO_EXPECT_STR_EQ(s->string_value,
                       "h\xc3\xa9llo \"q\"\n\t\\ \x01 \xe2\x98\x83 \xf0\x9f\x98\x80");
    KUMO_EXPECT_INT_EQ(s->bytes_value.len, 4);
    KUMO_EXPECT(s->bytes_value.len == 4 && memcmp(s->bytes_value.data, "\x00\x01\x02\xff", 4) == 0);
    KUMO_EXPECT(s->uint32_value == UINT32_MAX);
    KUMO_EXPECT_INT_EQ(s->sfixed32_value, -5);
    KUMO_EXPECT_INT_EQ(s->sfixed64_value, -6);
    KUMO_EXPECT_INT_EQ(s->sint32_value, -7);
    KUMO_EXPECT_INT_EQ(s->sint64_value, -8);
    KUMO_REQUIRE_INT_EQ(m->n_doubles, 7);
    KUMO_EXPECT(m->doubles[2] == 1e300);
    KUMO_EXPECT(m->doubles[6] == 0.1 + 0.2);
    KUMO_REQUIRE_INT_EQ(m->n_floats, 3);
    KUMO_EXPECT(m->floats[1] == FLT_MAX);
    KUMO_REQUIRE_INT_EQ(m->n_strings, 3);
    KUMO_EXPECT_STR_EQ(m->strings[1], "");
    KUMO_REQUIRE_INT_EQ(m->n_bytes_list, 4);
    KUMO_EXPECT_INT_EQ(m->bytes_list[0].len, 0);
    KUMO_EXPECT_INT_EQ(m->bytes_list[3].len, 3);
    KUMO_REQUIRE_PTR_NONNULL(m->nested);
    KUMO_REQUIRE_PTR_NONNULL(m->nested->child);
    KUMO_EXPECT_STR_EQ(m->nested->child->name, "c");
    KUMO_REQUIRE_PTR_NONNULL(m->nested->child->child);
    KUMO_EXPECT(m->nested->child->child->child == NULL);
    KUMO_REQUIRE_INT_EQ(m->n_labels, 2);
    KUMO_EXPECT_STR_EQ(m->labels[1]->key, "a.b/c");
    KUMO_EXPECT_STR_EQ(m->labels[1]->value, "x y");
    KUMO_REQUIRE_INT_EQ(m->n_int_map, 2);
    KUMO_EXPECT_INT_EQ(m->int_map[1]->key, -5);
    KUMO_REQUIRE_INT_EQ(m->n_bool_map, 2);
    KUMO_EXPECT_INT_EQ(m->bool_map[0]->key, 1);
    KUMO_EXPECT_INT_EQ(m->bool_map[0]->value, 1);
    KUMO_EXPECT_INT_EQ(m->color, KUMO__TEST__ALL_TYPES__COLOR__Green);
    KUMO_EXPECT_INT_EQ(m->size_present_case, KUMO__TEST__ALL_TYPES__SIZE_PRESENT_SIZE);
    KUMO_EXPECT_INT_EQ(m->size, 0);
    KUMO_EXPECT_INT_EQ(m->target_case, KUMO__TEST__ALL_TYPES__TARGET_TARGET_NESTED);
    KUMO_REQUIRE_PTR_NONNULL(m->created);
    KUMO_EXPECT_INT_EQ(m->created->seconds, 1714564800);
    KUMO_EXPECT_INT_EQ(m->created->nanos, 123000000);
    KUMO_REQUIRE_INT_EQ(m->n_times, 3);
    KUMO_EXPECT_INT_EQ(m->times[0]->seconds, 0);
    KUMO_EXPECT_INT_EQ(m->times[1]->nanos, 999999999);
    KUMO_EXPECT_INT_EQ(m->times[2]->nanos, 1000);
    kumo_codec_message_free(&m->base);
}

KUMO_TEST(int64_strings_precision)
{
    /* 2^53 + 1 does not survive a double: it must go through as digits */
    const char *in =
        "{\"scalars\":{\"int64Value\":9007199254740993,\"uint64Value\":\"9007199254740993\"}}";
    Kumo__Test__AllTypes *m = (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, in, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT(m->scalars->int64_value == 9007199254740993LL);
    KUMO_EXPECT(m->scalars->uint64_value == 9007199254740993ULL);
    char *out = codec_test_encode(&m->base, 0);
    KUMO_EXPECT_STR_EQ(out, "{\"scalars\":{\"int64Value\":\"9007199254740993\","
                            "\"uint64Value\":\"9007199254740993\"}}");
    free(out);
    kumo_codec_message_free(&m->base);

    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"int64s\":[\"1\",\"9223372036854775808\"]}", 0,
                            KUMO_ERROR_INVALID, &diag);
    const kumo_diag_cause *cause = codec_test_cause(&diag, KUMO_CAUSE_INVALID, "int64s[1]");
    KUMO_EXPECT_CONTAINS(cause->message, "out of range for int64");
    KUMO_EXPECT_STR_EQ(cause->value, "\"9223372036854775808\"");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"scalars\":{\"int64Value\":1.5}}", 0, KUMO_ERROR_INVALID,
                            &diag);
    cause = codec_test_cause(&diag, KUMO_CAUSE_INVALID, "scalars.int64Value");
    KUMO_EXPECT_STR_EQ(cause->message, "expected an integer");
    KUMO_EXPECT_STR_EQ(cause->value, "1.5");
    kumo_diag_fini(&diag);
}

KUMO_TEST(int32_overflow_path)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"nestedList\":[{},{\"count\":2147483648}]}", 0,
                            KUMO_ERROR_INVALID, &diag);
    const kumo_diag_cause *cause =
        codec_test_cause(&diag, KUMO_CAUSE_INVALID, "nestedList[1].count");
    KUMO_EXPECT_STR_EQ(cause->value, "2147483648");
    KUMO_EXPECT_CONTAINS(cause->message, "out of range for int32");
    KUMO_EXPECT_CONTAINS(diag.message, "nestedList[1].count");
    kumo_diag_fini(&diag);

    codec_test_expect_error(ALL_TYPES, "{\"scalars\":{\"int32Value\":\"abc\"}}", 0,
                            KUMO_ERROR_INVALID, &diag);
    cause = codec_test_cause(&diag, KUMO_CAUSE_INVALID, "scalars.int32Value");
    KUMO_EXPECT_STR_EQ(cause->value, "\"abc\"");
    KUMO_EXPECT_STR_EQ(cause->message, "expected an integer");
    kumo_diag_fini(&diag);

    codec_test_expect_error(ALL_TYPES,
                            "{\"nestedMap\":{\"a\":{\"child\":{\"count\":-2147483649}}}}", 0,
                            KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "nestedMap.a.child.count");
    kumo_diag_fini(&diag);
}

KUMO_TEST(integer_ranges)
{
    static const struct {
        const char *json;
        const char *field;
    } bad[] = {
        {"{\"scalars\":{\"uint32Value\":-1}}", "scalars.uint32Value"},
        {"{\"scalars\":{\"uint32Value\":4294967296}}", "scalars.uint32Value"},
        {"{\"scalars\":{\"uint64Value\":\"18446744073709551616\"}}", "scalars.uint64Value"},
        {"{\"scalars\":{\"uint64Value\":\"-1\"}}", "scalars.uint64Value"},
        {"{\"scalars\":{\"int64Value\":\"-9223372036854775809\"}}", "scalars.int64Value"},
        {"{\"scalars\":{\"sint32Value\":1e3}}", "scalars.sint32Value"},
        {"{\"scalars\":{\"fixed32Value\":\" 1\"}}", "scalars.fixed32Value"},
        {"{\"scalars\":{\"sfixed32Value\":true}}", "scalars.sfixed32Value"},
        {"{\"int32s\":[1,\"\"]}", "int32s[1]"},
        {"{\"scalars\":{\"boolValue\":\"true\"}}", "scalars.boolValue"},
        {"{\"scalars\":{\"boolValue\":1}}", "scalars.boolValue"},
        {"{\"scalars\":{\"stringValue\":5}}", "scalars.stringValue"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kumo_diag diag;
        kumo_diag_init(&diag);
        codec_test_expect_error(ALL_TYPES, bad[i].json, 0, KUMO_ERROR_INVALID, &diag);
        codec_test_cause(&diag, KUMO_CAUSE_INVALID, bad[i].field);
        kumo_diag_fini(&diag);
    }
    /* accepted: strings for 32-bit, "-0" for unsigned, extremes */
    const char *ok =
        "{\"scalars\":{\"int32Value\":\"-17\",\"uint32Value\":\"-0\",\"sint32Value\":2147483647,"
        "\"sint64Value\":\"9223372036854775807\"}}";
    Kumo__Test__AllTypes *m = (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, ok, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_INT_EQ(m->scalars->int32_value, -17);
    KUMO_EXPECT_INT_EQ(m->scalars->sint32_value, INT32_MAX);
    KUMO_EXPECT(m->scalars->sint64_value == INT64_MAX);
    kumo_codec_message_free(&m->base);
}

KUMO_TEST(float_special_values)
{
    const char *in = "{\"doubles\":[\"NaN\",\"Infinity\",\"-Infinity\",\"2.5\",-0],"
                     "\"floats\":[\"NaN\",\"-Infinity\"]}";
    Kumo__Test__AllTypes *m = (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, in, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_REQUIRE_INT_EQ(m->n_doubles, 5);
    KUMO_EXPECT(isnan(m->doubles[0]));
    KUMO_EXPECT(isinf(m->doubles[1]) && m->doubles[1] > 0);
    KUMO_EXPECT(isinf(m->doubles[2]) && m->doubles[2] < 0);
    KUMO_EXPECT(m->doubles[3] == 2.5);
    KUMO_EXPECT(m->doubles[4] == 0 && signbit(m->doubles[4]));
    char *out = codec_test_encode(&m->base, 0);
    KUMO_EXPECT_STR_EQ(out, "{\"doubles\":[\"NaN\",\"Infinity\",\"-Infinity\",2.5,-0],"
                            "\"floats\":[\"NaN\",\"-Infinity\"]}");
    free(out);
    kumo_codec_message_free(&m->base);

    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"doubles\":[1e999]}", 0, KUMO_ERROR_INVALID, &diag);
    KUMO_EXPECT_CONTAINS(codec_test_cause(&diag, KUMO_CAUSE_INVALID, "doubles[0]")->message,
                         "out of range for double");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"floats\":[1e39]}", 0, KUMO_ERROR_INVALID, &diag);
    KUMO_EXPECT_CONTAINS(codec_test_cause(&diag, KUMO_CAUSE_INVALID, "floats[0]")->message,
                         "out of range for float");
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"doubles\":[\"nan\"]}", 0, KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "doubles[0]");
    kumo_diag_fini(&diag);
}

/* Doubles are written in the shortest text that reads back exactly. */
KUMO_TEST(double_shortest_text)
{
    static const double values[] = {0.1,     0.2,
                                    1.0 / 3, 2.0 / 3,
                                    1e21,    1e-10,
                                    5e-324,  1.7976931348623157e308,
                                    123.456, 100,
                                    -7.25,   0.0416,
                                    1e15,    1e16,
                                    3.14159, 2.5e-8,
                                    4.35,    9007199254740993.0};
    static const char *const expected_text[] = {
        "0.1", "0.2",   NULL,     NULL,    "1e+21", "1e-10",   NULL,      NULL,   "123.456",
        "100", "-7.25", "0.0416", "1e+15", "1e+16", "3.14159", "2.5e-08", "4.35", NULL};
    Kumo__Test__AllTypes m = KUMO__TEST__ALL_TYPES__INIT;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        double v = values[i];
        m.n_doubles = 1;
        m.doubles = &v;
        char *out = codec_test_encode(&m.base, 0);
        KUMO_REQUIRE_PTR_NONNULL(out);
        const char *number = out + strlen("{\"doubles\":[");
        double back = strtod(number, NULL);
        KUMO_CHECK_(0, back == v, "%.17g written as %s reads back as %.17g", v, number, back);
        if (expected_text[i] != NULL) {
            char want[64];
            snprintf(want, sizeof(want), "{\"doubles\":[%s]}", expected_text[i]);
            KUMO_EXPECT_STR_EQ(out, want);
        }
        /* never longer than %.17g */
        char g17[40];
        snprintf(g17, sizeof(g17), "%.17g", v);
        KUMO_EXPECT_INT_LE(strlen(number) - 2, strlen(g17));
        free(out);
    }
}

KUMO_TEST(pretty_indent)
{
    const char *in =
        "{\"nested\":{\"name\":\"n\"},\"strings\":[\"a\",\"b\"],\"labels\":{\"k\":\"v\"},"
        "\"nestedList\":[{}]}";
    ProtobufCMessage *m = codec_test_decode(ALL_TYPES, in, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    char *out = codec_test_encode(m, 2);
    KUMO_EXPECT_STR_EQ(out, "{\n"
                            "  \"strings\": [\n"
                            "    \"a\",\n"
                            "    \"b\"\n"
                            "  ],\n"
                            "  \"nested\": {\n"
                            "    \"name\": \"n\"\n"
                            "  },\n"
                            "  \"nestedList\": [\n"
                            "    {}\n"
                            "  ],\n"
                            "  \"labels\": {\n"
                            "    \"k\": \"v\"\n"
                            "  }\n"
                            "}");
    ProtobufCMessage *again = codec_test_decode(ALL_TYPES, out, 0);
    char *compact = codec_test_encode(again, 0);
    KUMO_EXPECT_STR_EQ(compact, "{\"strings\":[\"a\",\"b\"],\"nested\":{\"name\":\"n\"},"
                                "\"nestedList\":[{}],\"labels\":{\"k\":\"v\"}}");
    free(out);
    free(compact);
    kumo_codec_message_free(m);
    kumo_codec_message_free(again);
}

KUMO_TEST(emit_defaults)
{
    Kumo__Test__Nested n = KUMO__TEST__NESTED__INIT;
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_codec_encode_options options = {0, 1};
    KUMO_EXPECT_INT_EQ(kumo_codec_json_encode(&n.base, &options, &buf, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(buf.data, "{\"name\":\"\",\"count\":0,\"child\":null}");
    kumo_codec_buffer_reset(&buf);
    options.emit_defaults = 0;
    KUMO_EXPECT_INT_EQ(kumo_codec_json_encode(&n.base, &options, &buf, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(buf.data, "{}");
    /* appends, never overwrites */
    KUMO_EXPECT_INT_EQ(kumo_codec_json_encode(&n.base, NULL, &buf, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(buf.data, "{}{}");
    kumo_codec_buffer_fini(&buf);
}

KUMO_TEST(field_names)
{
    const ProtobufCFieldDescriptor *f = kumo_codec_field_find(ALL_TYPES, "nestedList", 10);
    KUMO_REQUIRE_PTR_NONNULL(f);
    KUMO_EXPECT_STR_EQ(f->name, "nested_list");
    KUMO_EXPECT(kumo_codec_field_find(ALL_TYPES, "nested_list", 11) == f);
    KUMO_EXPECT(kumo_codec_field_find(ALL_TYPES, "nestedlist", 10) == NULL);
    KUMO_EXPECT(kumo_codec_field_find(ALL_TYPES, "nestedListX", 10) == f); /* by length */
    KUMO_EXPECT_STR_EQ(kumo_codec_field_json_name(ALL_TYPES, f), "nestedList");
    f = kumo_codec_field_find(&kumo__test__scalars__descriptor, "sfixed64Value", 13);
    KUMO_REQUIRE_PTR_NONNULL(f);
    KUMO_EXPECT_STR_EQ(kumo_codec_field_json_name(&kumo__test__scalars__descriptor, f),
                       "sfixed64Value");
    /* a field of another descriptor has no name here */
    KUMO_EXPECT(kumo_codec_field_json_name(ALL_TYPES, f) == NULL);

    /* input may use proto names too */
    ProtobufCMessage *m = codec_test_decode(ALL_TYPES, "{\"nested_list\":[{\"name\":\"x\"}]}", 0);
    char *out = codec_test_encode(m, 0);
    KUMO_EXPECT_STR_EQ(out, "{\"nestedList\":[{\"name\":\"x\"}]}");
    free(out);
    kumo_codec_message_free(m);
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"nested_list\":[],\"nestedList\":[]}", 0,
                            KUMO_ERROR_INVALID, &diag);
    codec_test_cause(&diag, KUMO_CAUSE_DUPLICATE, "nestedList");
    kumo_diag_fini(&diag);
}
