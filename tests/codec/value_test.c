/*
 * value_test.c - the generic value tree: merge patch (RFC 7386), equality,
 * clone, lookup, writing JSON; the buffer and string_set.
 */
#include "tests/codec/helpers.h"

#include <stdlib.h>

static kumo_value *parse(const char *json)
{
    kumo_value *v = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = kumo_codec_value_parse_json(json, strlen(json), NULL, &v, &diag);
    KUMO_CHECK_(1, err == KUMO_ERROR_OK, "parse %s: %s", json, diag.message);
    return v;
}

static char *to_json(const kumo_value *v, int indent)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_to_json(v, indent, &buf), KUMO_ERROR_OK);
    return kumo_codec_buffer_take(&buf, NULL);
}

KUMO_TEST(merge_patch_rfc7386)
{
    /* RFC 7386 appendix A, then the example of section 3 */
    static const char *const cases[][3] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
        {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
        {"{\"a\":\"foo\"}", "null", "null"},
        {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
        {"{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
         "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}",
         "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":{\"familyName\":"
         "null},"
         "\"tags\":[\"example\"]}",
         "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
         "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kumo_value *target = parse(cases[i][0]);
        kumo_value *patch = parse(cases[i][1]);
        kumo_value *want = parse(cases[i][2]);
        KUMO_EXPECT_INT_EQ(kumo_codec_value_merge_patch(&target, patch, NULL), KUMO_ERROR_OK);
        char *got = to_json(target, 0);
        KUMO_CHECK_(0, kumo_codec_value_equal(target, want), "case %zu: got %s want %s", i, got,
                    cases[i][2]);
        KUMO_EXPECT_STR_EQ(got, cases[i][2]); /* member order too */
        free(got);
        kumo_codec_value_destroy(target);
        kumo_codec_value_destroy(patch);
        kumo_codec_value_destroy(want);
    }
    /* a NULL target is an empty document */
    kumo_value *target = NULL;
    kumo_value *patch = parse("{\"a\":{\"b\":null,\"c\":1}}");
    KUMO_EXPECT_INT_EQ(kumo_codec_value_merge_patch(&target, patch, NULL), KUMO_ERROR_OK);
    char *got = to_json(target, 0);
    KUMO_EXPECT_STR_EQ(got, "{\"a\":{\"c\":1}}");
    free(got);
    kumo_codec_value_destroy(target);
    kumo_codec_value_destroy(patch);
}

KUMO_TEST(json_patch_rfc6902)
{
    /* RFC 6902 appendix A (A.1-A.10, A.14, A.16), then pointers' escapes */
    static const char *const cases[][3] = {
        {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
         "{\"foo\":\"bar\",\"baz\":\"qux\"}"},
        {"{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
         "{\"foo\":[\"bar\",\"qux\",\"baz\"]}"},
        {"{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
         "{\"foo\":\"bar\"}"},
        {"{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
         "{\"foo\":[\"bar\",\"baz\"]}"},
        {"{\"baz\":\"qux\",\"foo\":\"bar\"}",
         "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
         "{\"baz\":\"boo\",\"foo\":\"bar\"}"},
        {"{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
         "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
         "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}"},
        {"{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
         "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
         "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}"},
        {"{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
         "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
         "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
         "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}"},
        {"{\"foo\":\"bar\"}",
         "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
         "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}"},
        {"{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\"]}]",
         "{\"foo\":[\"bar\",[\"abc\"]]}"},
        {"{\"/\":1,\"~\":2}",
         "[{\"op\":\"copy\",\"from\":\"/~1\",\"path\":\"/~0x\"},"
         "{\"op\":\"replace\",\"path\":\"\",\"value\":{\"all\":true}}]",
         "{\"all\":true}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kumo_value *target = parse(cases[i][0]), *patch = parse(cases[i][1]);
        kumo_diag diag;
        kumo_diag_init(&diag);
        KUMO_CHECK_(0, kumo_codec_value_json_patch(&target, patch, &diag) == KUMO_ERROR_OK,
                    "case %zu: %s", i, diag.message);
        char *got = to_json(target, 0);
        KUMO_EXPECT_STR_EQ(got, cases[i][2]);
        free(got);
        kumo_diag_fini(&diag);
        kumo_codec_value_destroy(target);
        kumo_codec_value_destroy(patch);
    }
    /* errors name the operation and change nothing (all or nothing) */
    static const char *const bad[][2] = {
        {"[{\"op\":\"add\",\"path\":\"/a\",\"value\":1},{\"op\":\"remove\",\"path\":\"/nope\"}]",
         "patch operation 1: path \"/nope\" does not exist"},
        {"[{\"op\":\"test\",\"path\":\"/x\",\"value\":2}]", "patch operation 0: test failed"},
        {"[{\"op\":\"replace\",\"path\":\"/y\",\"value\":2}]", "path \"/y\" does not exist"},
        {"[{\"op\":\"add\",\"path\":\"/l/9\",\"value\":2}]", "path \"/l/9\" does not exist"},
        {"[{\"op\":\"add\",\"path\":\"x\",\"value\":2}]", "must start with /"},
        {"[{\"op\":\"jump\",\"path\":\"/x\"}]", "unknown op \"jump\""},
        {"[{\"op\":\"add\",\"path\":\"/x\"}]", "needs a \"value\""},
        {"[{\"op\":\"move\",\"path\":\"/x\"}]", "needs \"from\""},
        {"{\"op\":\"add\"}", "a JSON patch is an array of operations"},
        {"[1]", "patch operation 0 is not an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kumo_value *target = parse("{\"x\":1,\"l\":[1]}"), *patch = parse(bad[i][0]);
        kumo_diag diag;
        kumo_diag_init(&diag);
        KUMO_EXPECT_INT_EQ(kumo_codec_value_json_patch(&target, patch, &diag),
                           KUMO_ERROR_INVALID_ARGUMENT);
        KUMO_EXPECT_CONTAINS(diag.message, bad[i][1]);
        char *got = to_json(target, 0);
        KUMO_EXPECT_STR_EQ(got, "{\"x\":1,\"l\":[1]}");
        free(got);
        kumo_diag_fini(&diag);
        kumo_codec_value_destroy(target);
        kumo_codec_value_destroy(patch);
    }
}

KUMO_TEST(value_equal_numbers)
{
    static const char *const equal[][2] = {
        {"1", "1.0"},
        {"1", "1e0"},
        {"10", "1e1"},
        {"1", "10e-1"},
        {"0", "-0"},
        {"0.5", "5e-1"},
        {"-2.50", "-2.5"},
        {"0", "0e10"},
        {"100", "1.00E2"},
        {"1e400", "10e399"},
        {"[1,{\"a\":1,\"b\":[true,null]}]", "[1.0,{\"b\":[true,null],\"a\":1}]"},
        {"\"a\\u0000b\"", "\"a\\u0000b\""},
    };
    static const char *const different[][2] = {
        {"9007199254740993", "9007199254740992"},
        {"1", "-1"},
        {"1", "\"1\""},
        {"0.1", "0.10000000000000001"},
        {"{\"a\":1}", "{\"a\":1,\"b\":2}"},
        {"{\"a\":1}", "{\"b\":1}"},
        {"[1,2]", "[2,1]"},
        {"\"a\\u0000b\"", "\"a\\u0000c\""},
        {"true", "false"},
        {"null", "0"},
        {"[]", "{}"},
    };
    for (size_t i = 0; i < sizeof(equal) / sizeof(equal[0]); i++) {
        kumo_value *a = parse(equal[i][0]), *b = parse(equal[i][1]);
        KUMO_CHECK_(0, kumo_codec_value_equal(a, b) && kumo_codec_value_equal(b, a),
                    "%s should equal %s", equal[i][0], equal[i][1]);
        kumo_codec_value_destroy(a);
        kumo_codec_value_destroy(b);
    }
    for (size_t i = 0; i < sizeof(different) / sizeof(different[0]); i++) {
        kumo_value *a = parse(different[i][0]), *b = parse(different[i][1]);
        KUMO_CHECK_(0, !kumo_codec_value_equal(a, b) && !kumo_codec_value_equal(b, a),
                    "%s should differ from %s", different[i][0], different[i][1]);
        kumo_codec_value_destroy(a);
        kumo_codec_value_destroy(b);
    }
    KUMO_EXPECT(kumo_codec_value_equal(NULL, NULL));
}

KUMO_TEST(value_clone_get_to_json)
{
    const char *text = "{\"a\":[1,\"x\\ny\",true,null,{}],\"b\":{\"c\":-1.5e3},\"\\u00e9\":[]}";
    kumo_value *v = parse(text);
    kumo_value *copy = kumo_codec_value_clone(v);
    KUMO_REQUIRE_PTR_NONNULL(copy);
    KUMO_EXPECT(kumo_codec_value_equal(v, copy));
    kumo_codec_value_destroy(v);
    char *compact = to_json(copy, 0);
    KUMO_EXPECT_STR_EQ(compact,
                       "{\"a\":[1,\"x\\ny\",true,null,{}],\"b\":{\"c\":-1.5e3},\"\xc3\xa9\":[]}");
    char *pretty = to_json(copy, 2);
    KUMO_EXPECT_STR_EQ(pretty,
                       "{\n  \"a\": [\n    1,\n    \"x\\ny\",\n    true,\n    null,\n"
                       "    {}\n  ],\n  \"b\": {\n    \"c\": -1.5e3\n  },\n  \"\xc3\xa9\": []\n}");
    const kumo_value *c = kumo_codec_value_get(kumo_codec_value_get(copy, "b"), "c");
    KUMO_REQUIRE_PTR_NONNULL(c);
    KUMO_EXPECT_STR_EQ(c->text, "-1.5e3");
    KUMO_EXPECT(kumo_codec_value_get(copy, "zz") == NULL);
    KUMO_EXPECT(kumo_codec_value_get(kumo_codec_value_get(copy, "a"), "b") == NULL);
    KUMO_EXPECT(kumo_codec_value_clone(NULL) == NULL);
    free(compact);
    free(pretty);
    kumo_codec_value_destroy(copy);
    kumo_codec_value_destroy(NULL);
}

KUMO_TEST(buffer_and_string_set)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    KUMO_EXPECT_STR_EQ(buf.data, "");
    for (int i = 0; i < 1000; i++)
        KUMO_REQUIRE_INT_EQ(kumo_codec_buffer_append(&buf, "abc", 3), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(buf.len, 3000);
    KUMO_EXPECT_INT_EQ(strlen(buf.data), 3000);
    kumo_codec_buffer_reset(&buf);
    KUMO_EXPECT_STR_EQ(buf.data, "");
    kumo_codec_buffer_append(&buf, "xy", 2);
    size_t len = 0;
    char *taken = kumo_codec_buffer_take(&buf, &len);
    KUMO_EXPECT_STR_EQ(taken, "xy");
    KUMO_EXPECT_INT_EQ(len, 2);
    KUMO_EXPECT_STR_EQ(buf.data, "");
    free(taken);
    taken = kumo_codec_buffer_take(&buf, &len);
    KUMO_EXPECT_STR_EQ(taken, "");
    free(taken);
    kumo_codec_buffer_fini(&buf);
    kumo_codec_buffer_fini(NULL);

    Kumo__Test__Nested *n = (Kumo__Test__Nested *)codec_test_decode(&kumo__test__nested__descriptor,
                                                                    "{\"name\":\"first\"}", 0);
    KUMO_REQUIRE_PTR_NONNULL(n);
    KUMO_EXPECT_INT_EQ(kumo_codec_string_set(&n->name, "second"), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(n->name, "second");
    KUMO_EXPECT_INT_EQ(kumo_codec_string_set(&n->name, ""), KUMO_ERROR_OK);
    KUMO_EXPECT(n->name == protobuf_c_empty_string);
    KUMO_EXPECT_INT_EQ(kumo_codec_string_set(&n->name, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT(n->name == protobuf_c_empty_string);
    KUMO_EXPECT_INT_EQ(kumo_codec_string_set(&n->name, "third"), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_codec_string_set(&n->name, n->name), KUMO_ERROR_OK); /* aliasing */
    KUMO_EXPECT_STR_EQ(n->name, "third");
    kumo_codec_message_free(&n->base);

    KUMO_EXPECT_STR_EQ(kumo_codec_format_name(KUMO_CODEC_FORMAT_JSON), "json");
    KUMO_EXPECT_STR_EQ(kumo_codec_format_name(KUMO_CODEC_FORMAT_YAML), "yaml");
    KUMO_EXPECT_STR_EQ(kumo_codec_format_name(KUMO_CODEC_FORMAT_PROTOBUF), "protobuf");
}
