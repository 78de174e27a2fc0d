/*
 * robust_test.c - syntax errors, limits and hostile input: duplicate keys,
 * trailing data, escapes and UTF-8, 10,000-level nesting, 100 MiB input,
 * every truncation of a document, random bytes, protobuf garbage, and the
 * direct decoder agreeing with the tree path.
 */
#include "tests/codec/helpers.h"

#include <pthread.h>
#include <stdlib.h>

#include "apis/kumo/v1alpha1/infra.pb-c.h"

/* Exact-size heap copy, so that ASan catches any read past the end. */
static char *exact_copy(const char *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    KUMO_REQUIRE_PTR_NONNULL(copy);
    memcpy(copy, data, len);
    return copy;
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Runs every decoder on bytes; any outcome is fine except a crash, a leak or an
 * error without a message. */
static void decode_everything(const char *data, size_t len)
{
    char *copy = exact_copy(data, len);
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *m = NULL;
    kumo_error err = kumo_codec_json_decode(ALL_TYPES, copy, len, NULL, &m, &diag);
    KUMO_EXPECT(err == KUMO_ERROR_OK || diag.message[0] != '\0');
    if (m != NULL) {
        char *out = codec_test_encode(m, 0);
        free(out);
        kumo_codec_message_free(m);
        m = NULL;
    }
    kumo_diag_fini(&diag);
    kumo_value *tree = NULL;
    err = kumo_codec_value_parse_json(copy, len, NULL, &tree, &diag);
    KUMO_EXPECT(err == KUMO_ERROR_OK || diag.message[0] != '\0');
    kumo_codec_value_destroy(tree);
    kumo_diag_fini(&diag);
    kumo_value **docs = NULL;
    size_t count = 0;
    err = kumo_codec_value_parse_yaml(copy, len, NULL, &docs, &count, &diag);
    KUMO_EXPECT(err == KUMO_ERROR_OK || diag.message[0] != '\0');
    for (size_t i = 0; i < count; i++) {
        err = kumo_codec_message_from_value(ALL_TYPES, docs[i], NULL, &m, NULL);
        kumo_codec_message_free(m);
        m = NULL;
    }
    kumo_codec_value_array_destroy(docs, count);
    kumo_diag_fini(&diag);
    err = kumo_codec_protobuf_decode(ALL_TYPES, (const uint8_t *)copy, len, NULL, &m, &diag);
    KUMO_EXPECT(err == KUMO_ERROR_OK || diag.message[0] != '\0');
    if (m != NULL) {
        kumo_codec_buffer buf;
        kumo_codec_buffer_init(&buf);
        kumo_codec_json_encode(m, NULL, &buf, NULL);
        kumo_codec_buffer_fini(&buf);
        kumo_codec_message_free(m);
    }
    kumo_diag_fini(&diag);
    free(copy);
}

KUMO_TEST(duplicate_key)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"nested\":{},\"nested\":{}}", 0, KUMO_ERROR_PARSE, &diag);
    KUMO_EXPECT_CONTAINS(diag.message, "duplicate key \"nested\"");
    kumo_diag_fini(&diag);
    /* many keys: the hashed path of the duplicate check */
    kumo_codec_buffer text;
    kumo_codec_buffer_init(&text);
    kumo_codec_buffer_append(&text, "{", 1);
    for (int i = 0; i < 200; i++) {
        char member[32];
        int n = snprintf(member, sizeof(member), "\"k%d\":%d,", i, i);
        kumo_codec_buffer_append(&text, member, (size_t)n);
    }
    kumo_codec_buffer_append(&text, "\"k150\":0}", 9);
    kumo_value *v = NULL;
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_json(text.data, text.len, NULL, &v, &diag),
                       KUMO_ERROR_PARSE);
    KUMO_EXPECT_CONTAINS(diag.message, "duplicate key \"k150\"");
    kumo_diag_fini(&diag);
    text.data[text.len - 6] = '9'; /* "k150" -> "k199", which exists too */
    text.data[text.len - 5] = '9';
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_json(text.data, text.len, NULL, &v, &diag),
                       KUMO_ERROR_PARSE);
    kumo_diag_fini(&diag);
    text.data[text.len - 7] = '2'; /* "k299" is new */
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_json(text.data, text.len, NULL, &v, &diag),
                       KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(v ? v->count : 0, 201);
    kumo_codec_value_destroy(v);
    kumo_codec_buffer_fini(&text);
}

KUMO_TEST(trailing_garbage)
{
    static const char *const bad[] = {"{} x", "{}{}", "{}]", "{},", "{}\n\"a\"", "{}\0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]) + (i == 5);
        char *copy = exact_copy(bad[i], len);
        kumo_diag diag;
        kumo_diag_init(&diag);
        ProtobufCMessage *m = NULL;
        KUMO_EXPECT_INT_EQ(kumo_codec_json_decode(ALL_TYPES, copy, len, NULL, &m, &diag),
                           KUMO_ERROR_PARSE);
        KUMO_EXPECT(m == NULL);
        KUMO_EXPECT_CONTAINS(diag.message, "invalid JSON");
        kumo_diag_fini(&diag);
        free(copy);
    }
    ProtobufCMessage *m = codec_test_decode(ALL_TYPES, " \t\r\n{ } \n\t ", 0);
    KUMO_EXPECT_PTR_NONNULL(m);
    kumo_codec_message_free(m);
}

KUMO_TEST(string_escapes)
{
    const char *in =
        "{\"scalars\":{\"stringValue\":"
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\u001f\\u007f\"}}";
    Kumo__Test__AllTypes *m = (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, in, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_STR_EQ(m->scalars->string_value,
                       "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                       "\x1f\x7f");
    char *out = codec_test_encode(&m->base, 0);
    KUMO_EXPECT_STR_EQ(out, "{\"scalars\":{\"stringValue\":\"\\\"\\\\/\\b\\f\\n\\r\\tA\xc3\xa9"
                            "\xe2\x82\xac\xf0\x9f\x98\x80\\u001f\x7f\"}}");
    free(out);
    kumo_codec_message_free(&m->base);
    /* escapes in keys too */
    m = (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, "{\"\\u0063olor\":\"Red\"}", 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_INT_EQ(m->color, KUMO__TEST__ALL_TYPES__COLOR__Red);
    kumo_codec_message_free(&m->base);
    /* long strings cross the 8-byte scanning words at every offset */
    for (int n = 0; n < 40; n++) {
        char text[160], want[160];
        char body[64];
        memset(body, 'a', (size_t)n);
        body[n] = '\0';
        snprintf(text, sizeof(text), "{\"strings\":[\"%s\\n%s\"]}", body, body);
        snprintf(want, sizeof(want), "%s\n%s", body, body);
        m = (Kumo__Test__AllTypes *)codec_test_decode(ALL_TYPES, text, 0);
        KUMO_REQUIRE_PTR_NONNULL(m);
        KUMO_EXPECT_STR_EQ(m->strings[0], want);
        out = codec_test_encode(&m->base, 0);
        KUMO_EXPECT_STR_EQ(out, text);
        free(out);
        kumo_codec_message_free(&m->base);
    }
}

KUMO_TEST(bad_escapes_and_utf8)
{
    static const char *const bad[] = {
        "\"\\x\"",          "\"\\u12\"",
        "\"\\u12G4\"",      "\"\\ud800\"",
        "\"\\udc00\"",      "\"\\ud800\\u0041\"",
        "\"\\ud800x\"",     "\"a\x01\"",
        "\"a\nb\"",         "\"\xc3\"",
        "\"\xc3\x28\"",     "\"\xe0\x80\x80\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
        "\"\xff\"",         "\"\xc0\xaf\"",
        "\"\xf0\x9f\x98\"", "\"abc",
        "\"abc\\",          "\"\\",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[64];
        kumo_diag diag;
        kumo_diag_init(&diag);
        snprintf(in, sizeof(in), "{\"strings\":[%s]}", bad[i]);
        codec_test_expect_error(ALL_TYPES, in, 0, KUMO_ERROR_PARSE, &diag);
        kumo_diag_fini(&diag);
        snprintf(in, sizeof(in), "{%s:1}", bad[i]);
        codec_test_expect_error(ALL_TYPES, in, 1, KUMO_ERROR_PARSE, &diag);
        kumo_diag_fini(&diag);
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\"a\\u0000\":1}", 1, KUMO_ERROR_PARSE, &diag);
    KUMO_EXPECT_CONTAINS(diag.message, "NUL");
    kumo_diag_fini(&diag);
    /* a message with invalid UTF-8 cannot be written as JSON */
    Kumo__Test__Nested n = KUMO__TEST__NESTED__INIT;
    n.name = "bad \xff";
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    KUMO_EXPECT_INT_EQ(kumo_codec_json_encode(&n.base, NULL, &buf, &diag), KUMO_ERROR_INVALID);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "name");
    kumo_diag_fini(&diag);
    kumo_codec_buffer_fini(&buf);
}

KUMO_TEST(syntax_error_position)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    codec_test_expect_error(ALL_TYPES, "{\n  \"color\": tru\n}", 0, KUMO_ERROR_PARSE, &diag);
    KUMO_EXPECT_CONTAINS(diag.message, "line 2 column 12");
    kumo_diag_fini(&diag);
    static const char *const bad[] = {
        "",         "   ",   "{",          "{\"a\"",    "{\"a\":",
        "{\"a\":}", "{,}",   "{\"a\":1,}", "[1,]",      "[1 2]",
        "{'a':1}",  "{a:1}", "01",         "1.",        ".5",
        "-",        "1e",    "+1",         "nul",       "truex",
        "NaN",      "[",     "\"",         "{\"a\" 1}", "{\"a\":1 \"b\":2}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kumo_value *v = NULL;
        KUMO_CHECK_(0,
                    kumo_codec_value_parse_json(bad[i], strlen(bad[i]), NULL, &v, &diag) ==
                        KUMO_ERROR_PARSE,
                    "\"%s\" parsed", bad[i]);
        KUMO_EXPECT_CONTAINS(diag.message, "line 1 column");
        kumo_diag_fini(&diag);
        codec_test_expect_error(ALL_TYPES, bad[i], 1, KUMO_ERROR_PARSE, &diag);
        kumo_diag_fini(&diag);
    }
}

static char *nested_text(const char *open, const char *middle, const char *close, int levels)
{
    size_t lo = strlen(open), lm = strlen(middle), lc = strlen(close);
    char *text = malloc((lo + lc) * (size_t)levels + lm + 1);
    KUMO_REQUIRE_PTR_NONNULL(text);
    char *p = text;
    for (int i = 0; i < levels; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, middle, lm);
    p += lm;
    for (int i = 0; i < levels; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return text;
}

KUMO_TEST(nesting_10000_json)
{
    double start = kumo_test_now();
    kumo_diag diag;
    kumo_diag_init(&diag);
    char *arrays = nested_text("[", "1", "]", 10000);
    kumo_value *v = NULL;
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_json(arrays, strlen(arrays), NULL, &v, &diag),
                       KUMO_ERROR_TOO_DEEP);
    KUMO_EXPECT_CONTAINS(diag.message, "nesting deeper than 100 levels");
    kumo_diag_fini(&diag);
    /* unclosed: the limit is hit before the end is noticed */
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_json(arrays, 10000, NULL, &v, &diag),
                       KUMO_ERROR_TOO_DEEP);
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, arrays, 1, KUMO_ERROR_TOO_DEEP, &diag);
    kumo_diag_fini(&diag);
    free(arrays);
    char *children = nested_text("{\"child\":", "{}", "}", 10000);
    codec_test_expect_error(&kumo__test__nested__descriptor, children, 0, KUMO_ERROR_TOO_DEEP,
                            &diag);
    kumo_diag_fini(&diag);
    codec_test_expect_error(ALL_TYPES, children, 1, KUMO_ERROR_TOO_DEEP, &diag);
    kumo_diag_fini(&diag);
    free(children);
    /* exactly at the limit is fine; one more is not; options raise it */
    char *at_limit = nested_text("{\"child\":", "{}", "}", 99);
    ProtobufCMessage *m = codec_test_decode(&kumo__test__nested__descriptor, at_limit, 0);
    KUMO_EXPECT_PTR_NONNULL(m);
    kumo_codec_message_free(m);
    free(at_limit);
    char *over = nested_text("{\"child\":", "{}", "}", 100);
    codec_test_expect_error(&kumo__test__nested__descriptor, over, 0, KUMO_ERROR_TOO_DEEP, &diag);
    kumo_diag_fini(&diag);
    kumo_codec_decode_options deeper = {0, 0, 500};
    m = NULL;
    KUMO_EXPECT_INT_EQ(kumo_codec_json_decode(&kumo__test__nested__descriptor, over, strlen(over),
                                              &deeper, &m, &diag),
                       KUMO_ERROR_OK);
    kumo_codec_message_free(m);
    free(over);
    double took = kumo_test_now() - start;
    KUMO_EXPECT_INT_LT(took * 1000, 2000);
}

KUMO_TEST(nesting_10000_yaml)
{
    double start = kumo_test_now();
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_value **docs = NULL;
    size_t count = 0;
    char *flow = nested_text("[", "1", "]", 10000);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_yaml(flow, strlen(flow), NULL, &docs, &count, &diag),
                       KUMO_ERROR_TOO_DEEP);
    KUMO_EXPECT_CONTAINS(diag.message, "nesting deeper than 100 levels");
    KUMO_EXPECT(docs == NULL && count == 0);
    kumo_diag_fini(&diag);
    free(flow);
    char *block = nested_text("- ", "x", "", 10000);
    KUMO_EXPECT_INT_EQ(
        kumo_codec_value_parse_yaml(block, strlen(block), NULL, &docs, &count, &diag),
        KUMO_ERROR_TOO_DEEP);
    kumo_diag_fini(&diag);
    free(block);
    char *maps = nested_text("{a: ", "1", "}", 10000);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_yaml(maps, strlen(maps), NULL, &docs, &count, &diag),
                       KUMO_ERROR_TOO_DEEP);
    kumo_diag_fini(&diag);
    free(maps);
    char *fine = nested_text("[", "1", "]", 100);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_yaml(fine, strlen(fine), NULL, &docs, &count, &diag),
                       KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(count, 1);
    kumo_codec_value_array_destroy(docs, count);
    free(fine);
    double took = kumo_test_now() - start;
    KUMO_EXPECT_INT_LT(took * 1000, 2000);
}

KUMO_TEST(too_large_100mib)
{
    size_t len = (size_t)100 << 20;
    char *big = malloc(len);
    KUMO_REQUIRE_PTR_NONNULL(big);
    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    double start = kumo_test_now();
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *m = NULL;
    kumo_value *v = NULL;
    kumo_value **docs = NULL;
    size_t count = 0;
    KUMO_EXPECT_INT_EQ(kumo_codec_json_decode(ALL_TYPES, big, len, NULL, &m, &diag),
                       KUMO_ERROR_TOO_LARGE);
    KUMO_EXPECT_CONTAINS(diag.message, "104857600 bytes");
    KUMO_EXPECT_CONTAINS(diag.message, "16777216 bytes");
    kumo_diag_fini(&diag);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_json(big, len, NULL, &v, &diag),
                       KUMO_ERROR_TOO_LARGE);
    kumo_diag_fini(&diag);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_yaml(big, len, NULL, &docs, &count, &diag),
                       KUMO_ERROR_TOO_LARGE);
    kumo_diag_fini(&diag);
    KUMO_EXPECT_INT_EQ(kumo_codec_protobuf_decode(ALL_TYPES, (uint8_t *)big, len, NULL, &m, &diag),
                       KUMO_ERROR_TOO_LARGE);
    kumo_diag_fini(&diag);
    double took = kumo_test_now() - start;
    KUMO_EXPECT_INT_LT(took * 1000, 100);
    KUMO_EXPECT(m == NULL && v == NULL && docs == NULL);
    /* a raised limit accepts it (a big object of whitespace) */
    kumo_codec_decode_options raised = {0, len, 0};
    KUMO_EXPECT_INT_EQ(kumo_codec_json_decode(ALL_TYPES, big, len, &raised, &m, &diag),
                       KUMO_ERROR_OK);
    kumo_codec_message_free(m);
    free(big);
}

KUMO_TEST(truncated_prefixes)
{
    size_t full = strlen(codec_test_full_doc);
    for (size_t n = 0; n < full; n++) {
        char *copy = exact_copy(codec_test_full_doc, n);
        kumo_diag diag;
        kumo_diag_init(&diag);
        ProtobufCMessage *m = NULL;
        kumo_error err = kumo_codec_json_decode(ALL_TYPES, copy, n, NULL, &m, &diag);
        KUMO_CHECK_(0, err == KUMO_ERROR_PARSE && m == NULL, "prefix %zu: %s", n,
                    kumo_error_name(err));
        KUMO_EXPECT_CONTAINS(diag.message, "invalid JSON");
        kumo_diag_fini(&diag);
        kumo_value *v = NULL;
        err = kumo_codec_value_parse_json(copy, n, NULL, &v, &diag);
        KUMO_CHECK_(0, err == KUMO_ERROR_PARSE && v == NULL, "tree prefix %zu: %s", n,
                    kumo_error_name(err));
        kumo_diag_fini(&diag);
        free(copy);
    }
    /* YAML and protobuf prefixes: any outcome but a crash or a leak */
    ProtobufCMessage *m = codec_test_decode(ALL_TYPES, codec_test_full_doc, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    kumo_codec_buffer yaml;
    kumo_codec_buffer_init(&yaml);
    KUMO_REQUIRE_INT_EQ(kumo_codec_yaml_encode(m, &yaml, NULL), KUMO_ERROR_OK);
    for (size_t n = 0; n < yaml.len; n += 3)
        decode_everything(yaml.data, n);
    kumo_codec_buffer wire;
    kumo_codec_buffer_init(&wire);
    KUMO_REQUIRE_INT_EQ(kumo_codec_protobuf_encode(m, &wire), KUMO_ERROR_OK);
    for (size_t n = 0; n < wire.len; n++)
        decode_everything(wire.data, n);
    kumo_codec_buffer_fini(&wire);
    kumo_codec_buffer_fini(&yaml);
    kumo_codec_message_free(m);
}

KUMO_TEST(garbage_bytes)
{
    rng_state = 0x9E3779B97F4A7C15ull;
    char buf[600];
    for (int round = 0; round < 3000; round++) {
        size_t len = rng_next() % sizeof(buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)rng_next();
        decode_everything(buf, len);
    }
    /* mutations of a valid document reach deeper */
    size_t full = strlen(codec_test_full_doc);
    char *doc = exact_copy(codec_test_full_doc, full);
    for (int round = 0; round < 3000; round++) {
        memcpy(doc, codec_test_full_doc, full);
        int flips = 1 + (int)(rng_next() % 4);
        for (int k = 0; k < flips; k++) {
            static const char interesting[] = "{}[]\",:\\0123456789-.eE \ntfn\xff\xc3";
            size_t at = rng_next() % full;
            doc[at] = rng_next() % 2 ? (char)rng_next()
                                     : interesting[rng_next() % (sizeof(interesting) - 1)];
        }
        decode_everything(doc, full - rng_next() % 3);
    }
    free(doc);
}

/* Good and bad inputs: both decoders give the same message or the same error. */
KUMO_TEST(direct_and_tree_agree)
{
    static const char *const inputs[] = {
        "{\"nested\":{\"count\":\"12\"},\"size\":5}",
        "{\"nestedList\":[{\"name\":\"a\",\"child\":{\"count\":-1}},{}],\"labels\":{\"x\":\"y\"}}",
        "{\"nested\":{\"count\":1.5}}",
        "{\"nestedList\":[{},{\"child\":{\"child\":{\"count\":true}}}]}",
        "{\"labels\":{\"a\":\"b\",\"c\":1}}",
        "{\"intMap\":{\"0\":\"a\",\"-0\":\"b\"}}",
        "{\"nested\":{\"count\":1,\"count\":2}}",
        "{\"nested\":{\"count\":\"x\"},\"nested\":1}",
        "{\"nested\":{\"count\":\"x\"} ]",
        "{\"unknown\":1,\"nested\":{\"count\":\"x\"}}",
        "{\"nested\":{\"count\":\"x\"},\"unknown\":1}",
        "{\"colors\":[\"Red\",\"Nope\"],\"created\":\"bad\"}",
        "{\"times\":[\"2024-01-01T00:00:00Z\",null]}",
        "{\"targetName\":\"a\",\"targetColor\":\"Red\"}",
        "{\"size\":1,\"size\":2}",
        "{\"scalars\":{\"bytesValue\":\"***\"}}",
        "{\"nested\":{\"child\":[1,2,3,{\"x\":1}]}}",
        "{\"nested\":{\"name\":\"a\"}, \"nested_list\":{\"a\":1}}",
        "{\"boolMap\":{\"true\":\"1\",\"false\":\"x\"}}",
        "{\"created\":\"2024-01-01T00:00:00Z\",\"created\":null}",
        "{\"nested\":{}} garbage",
        "\"just a string\"",
        "{\"strings\":[\"\\ud800\"]}",
    };
    for (int lenient = 0; lenient <= 1; lenient++) {
        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
            const char *in = inputs[i];
            kumo_codec_decode_options options = codec_test_options(lenient);
            kumo_diag d1, d2;
            kumo_diag_init(&d1);
            kumo_diag_init(&d2);
            ProtobufCMessage *direct = NULL, *tree_message = NULL;
            kumo_value *tree = NULL;
            kumo_error e1 =
                kumo_codec_json_decode(ALL_TYPES, in, strlen(in), &options, &direct, &d1);
            kumo_error e2 = kumo_codec_value_parse_json(in, strlen(in), &options, &tree, &d2);
            if (e2 == KUMO_ERROR_OK)
                e2 = kumo_codec_message_from_value(ALL_TYPES, tree, &options, &tree_message, &d2);
            KUMO_CHECK_(0, e1 == e2, "input %zu lenient %d: direct %s (%s) vs tree %s (%s)", i,
                        lenient, kumo_error_name(e1), d1.message, kumo_error_name(e2), d2.message);
            KUMO_EXPECT_STR_EQ(d1.message, d2.message);
            KUMO_EXPECT_INT_EQ(d1.cause_count, d2.cause_count);
            if (d1.cause_count == 1 && d2.cause_count == 1) {
                KUMO_EXPECT_STR_EQ(d1.causes[0].field, d2.causes[0].field);
                KUMO_EXPECT_STR_EQ(d1.causes[0].message, d2.causes[0].message);
            }
            if (e1 == KUMO_ERROR_OK && e2 == KUMO_ERROR_OK) {
                char *a = codec_test_encode(direct, 0), *b = codec_test_encode(tree_message, 0);
                KUMO_EXPECT_STR_EQ(a, b);
                free(a);
                free(b);
            }
            kumo_codec_message_free(direct);
            kumo_codec_message_free(tree_message);
            kumo_codec_value_destroy(tree);
            kumo_diag_fini(&d1);
            kumo_diag_fini(&d2);
        }
    }
}

KUMO_TEST(protobuf_roundtrip)
{
    ProtobufCMessage *m = codec_test_decode(ALL_TYPES, codec_test_full_doc, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    kumo_codec_buffer wire;
    kumo_codec_buffer_init(&wire);
    KUMO_REQUIRE_INT_EQ(kumo_codec_protobuf_encode(m, &wire), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(wire.len, protobuf_c_message_get_packed_size(m));
    ProtobufCMessage *back = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(kumo_codec_protobuf_decode(ALL_TYPES, (const uint8_t *)wire.data, wire.len,
                                                   NULL, &back, &diag),
                        KUMO_ERROR_OK);
    char *text = codec_test_encode(back, 0);
    KUMO_EXPECT_STR_EQ(text, codec_test_full_doc);
    free(text);
    kumo_codec_message_free(back);
    /* the size limit */
    kumo_codec_decode_options small = {0, wire.len - 1, 0};
    back = NULL;
    KUMO_EXPECT_INT_EQ(kumo_codec_protobuf_decode(ALL_TYPES, (const uint8_t *)wire.data, wire.len,
                                                  &small, &back, &diag),
                       KUMO_ERROR_TOO_LARGE);
    KUMO_EXPECT(back == NULL);
    kumo_diag_fini(&diag);
    /* empty input is the empty message */
    KUMO_EXPECT_INT_EQ(kumo_codec_protobuf_decode(ALL_TYPES, NULL, 0, NULL, &back, &diag),
                       KUMO_ERROR_OK);
    text = codec_test_encode(back, 0);
    KUMO_EXPECT_STR_EQ(text, "{}");
    free(text);
    kumo_codec_message_free(back);
    kumo_codec_message_free(NULL);
    KUMO_EXPECT(kumo_codec_message_clone(NULL) == NULL);
    kumo_codec_buffer_fini(&wire);
    kumo_codec_message_free(m);
}

KUMO_TEST(protobuf_truncated)
{
    ProtobufCMessage *m = codec_test_decode(ALL_TYPES, codec_test_full_doc, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    kumo_codec_buffer wire;
    kumo_codec_buffer_init(&wire);
    KUMO_REQUIRE_INT_EQ(kumo_codec_protobuf_encode(m, &wire), KUMO_ERROR_OK);
    int failures = 0;
    for (size_t n = 0; n < wire.len; n++) {
        uint8_t *copy = (uint8_t *)exact_copy(wire.data, n);
        kumo_diag diag;
        kumo_diag_init(&diag);
        ProtobufCMessage *back = NULL;
        kumo_error err = kumo_codec_protobuf_decode(ALL_TYPES, copy, n, NULL, &back, &diag);
        if (err != KUMO_ERROR_OK) {
            failures++;
            KUMO_EXPECT(back == NULL);
            KUMO_EXPECT_CONTAINS(diag.message, "invalid protobuf");
        }
        kumo_codec_message_free(back);
        kumo_diag_fini(&diag);
        free(copy);
    }
    KUMO_EXPECT_INT_GT(failures, (int)wire.len / 2);
    /* cut inside the first field (scalars, length-delimited) */
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *back = NULL;
    KUMO_EXPECT_INT_EQ(
        kumo_codec_protobuf_decode(ALL_TYPES, (const uint8_t *)wire.data, 10, NULL, &back, &diag),
        KUMO_ERROR_PARSE);
    KUMO_EXPECT_CONTAINS(diag.message, "truncated length-delimited field at byte 0");
    kumo_diag_fini(&diag);
    /* garbage: wire type 7, field number 0 */
    static const uint8_t bad1[] = {0x0F, 0x01};
    static const uint8_t bad2[] = {0x00, 0x01};
    static const uint8_t bad3[] = {0xAA, 0x01, 0x03, 0x0A, 0x10, 'x'}; /* nested length overruns */
    KUMO_EXPECT_INT_EQ(
        kumo_codec_protobuf_decode(ALL_TYPES, bad1, sizeof(bad1), NULL, &back, &diag),
        KUMO_ERROR_PARSE);
    kumo_diag_fini(&diag);
    KUMO_EXPECT_INT_EQ(
        kumo_codec_protobuf_decode(ALL_TYPES, bad2, sizeof(bad2), NULL, &back, &diag),
        KUMO_ERROR_PARSE);
    kumo_diag_fini(&diag);
    KUMO_EXPECT_INT_EQ(
        kumo_codec_protobuf_decode(ALL_TYPES, bad3, sizeof(bad3), NULL, &back, &diag),
        KUMO_ERROR_PARSE);
    KUMO_EXPECT_CONTAINS(diag.message, "in nestedList");
    kumo_diag_fini(&diag);
    kumo_codec_buffer_fini(&wire);
    kumo_codec_message_free(m);
}

KUMO_TEST(protobuf_bad_utf8_and_map_duplicates)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *m = NULL;
    /* strings (field 10) = "\xff" */
    static const uint8_t bad_utf8[] = {0x52, 0x01, 0xFF};
    KUMO_EXPECT_INT_EQ(
        kumo_codec_protobuf_decode(ALL_TYPES, bad_utf8, sizeof(bad_utf8), NULL, &m, &diag),
        KUMO_ERROR_INVALID);
    KUMO_EXPECT(m == NULL);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "strings[0]");
    kumo_diag_fini(&diag);
    /* labels (field 30): {a:1}, {b:2}, {a:3} -> a=3, b=2 */
    static const uint8_t dup[] = {0xF2, 0x01, 0x06, 0x0A, 0x01, 'a', 0x12, 0x01, '1',
                                  0xF2, 0x01, 0x06, 0x0A, 0x01, 'b', 0x12, 0x01, '2',
                                  0xF2, 0x01, 0x06, 0x0A, 0x01, 'a', 0x12, 0x01, '3'};
    KUMO_REQUIRE_INT_EQ(kumo_codec_protobuf_decode(ALL_TYPES, dup, sizeof(dup), NULL, &m, &diag),
                        KUMO_ERROR_OK);
    char *text = codec_test_encode(m, 0);
    KUMO_EXPECT_STR_EQ(text, "{\"labels\":{\"b\":\"2\",\"a\":\"3\"}}");
    free(text);
    kumo_codec_message_free(m);
    /* map entries without a value hold the default: {} and the epoch */
    static const uint8_t no_values[] = {0xFA, 0x01, 0x03, 0x0A, 0x01, 'k',
                                        0x92, 0x02, 0x03, 0x0A, 0x01, 't'};
    KUMO_REQUIRE_INT_EQ(
        kumo_codec_protobuf_decode(ALL_TYPES, no_values, sizeof(no_values), NULL, &m, &diag),
        KUMO_ERROR_OK);
    text = codec_test_encode(m, 0);
    KUMO_EXPECT_STR_EQ(text,
                       "{\"nestedMap\":{\"k\":{}},\"timeMap\":{\"t\":\"1970-01-01T00:00:00Z\"}}");
    ProtobufCMessage *again = codec_test_decode(ALL_TYPES, text, 0);
    KUMO_EXPECT_PTR_NONNULL(again);
    kumo_codec_message_free(again);
    free(text);
    kumo_value *tree = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_codec_message_to_value(m, NULL, &tree, &diag), KUMO_ERROR_OK);
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_codec_value_to_json(tree, 0, &buf);
    KUMO_EXPECT_STR_EQ(buf.data,
                       "{\"nestedMap\":{\"k\":{}},\"timeMap\":{\"t\":\"1970-01-01T00:00:00Z\"}}");
    kumo_codec_buffer_fini(&buf);
    kumo_codec_value_destroy(tree);
    kumo_codec_message_free(m);
    /* Nested.child 200 deep: refused before protobuf-c recurses */
    size_t levels = 200;
    uint8_t *deep = malloc(levels * 3);
    KUMO_REQUIRE_PTR_NONNULL(deep);
    size_t len = 0;
    for (size_t i = 0; i < levels; i++) {
        /* build inside out: each level wraps the previous bytes in field 3 */
        size_t inner = len;
        KUMO_REQUIRE(inner < 0x4000);
        uint8_t head[3];
        size_t h = 0;
        head[h++] = 0x1A;
        if (inner < 0x80) {
            head[h++] = (uint8_t)inner;
        } else {
            head[h++] = (uint8_t)(0x80 | (inner & 0x7F));
            head[h++] = (uint8_t)(inner >> 7);
        }
        memmove(deep + h, deep, inner);
        memcpy(deep, head, h);
        len = inner + h;
    }
    KUMO_EXPECT_INT_EQ(
        kumo_codec_protobuf_decode(&kumo__test__nested__descriptor, deep, len, NULL, &m, &diag),
        KUMO_ERROR_TOO_DEEP);
    kumo_diag_fini(&diag);
    free(deep);
}

static void *decode_infra_repeatedly(void *arg)
{
    const char *json = arg;
    for (int i = 0; i < 50; i++) {
        ProtobufCMessage *m = NULL;
        if (kumo_codec_json_decode(&kumo__v1alpha1__infra__descriptor, json, strlen(json), NULL, &m,
                                   NULL) != KUMO_ERROR_OK)
            return (void *)1;
        kumo_codec_buffer buf;
        kumo_codec_buffer_init(&buf);
        kumo_error err = kumo_codec_json_encode(m, NULL, &buf, NULL);
        int same = err == KUMO_ERROR_OK && strcmp(buf.data, json) == 0;
        kumo_codec_buffer_fini(&buf);
        kumo_codec_message_free(m);
        if (!same)
            return (void *)2;
    }
    return NULL;
}

/* Tables are built on first use by whichever thread gets there first. */
KUMO_TEST(concurrent_decoders)
{
    static const char json[] =
        "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Infra\","
        "\"metadata\":{\"name\":\"a\",\"creationTimestamp\":\"2024-05-01T12:00:00Z\","
        "\"labels\":{\"k\":\"v\"}},"
        "\"spec\":{\"groups\":[{\"name\":\"g\",\"size\":0}]}}";
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        KUMO_REQUIRE_INT_EQ(
            pthread_create(&threads[i], NULL, decode_infra_repeatedly, (void *)json), 0);
    for (int i = 0; i < 4; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        KUMO_EXPECT(result == NULL);
    }
}
