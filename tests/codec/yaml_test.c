/*
 * yaml_test.c - YAML streams to value trees and messages, anchors and aliases,
 * plain scalar typing, and the emitter's quoting.
 */
#include "tests/codec/helpers.h"

#include <stdlib.h>

static kumo_error parse_yaml(const char *text, kumo_value ***docs, size_t *count, kumo_diag *diag)
{
    return kumo_codec_value_parse_yaml(text, strlen(text), NULL, docs, count, diag);
}

/* JSON of a value; malloc'd. */
static char *json_of(const kumo_value *v)
{
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_to_json(v, 0, &buf), KUMO_ERROR_OK);
    return kumo_codec_buffer_take(&buf, NULL);
}

KUMO_TEST(yaml_multi_doc)
{
    const char *text = "a: 1\n"
                       "---\n"
                       "b: [x, 'y', \"z\"]\n"
                       "c:\n"
                       "  - 2\n"
                       "---\n"
                       "# only a comment\n"
                       "---\n"
                       "- 1\n"
                       "...\n";
    kumo_value **docs = NULL;
    size_t count = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(parse_yaml(text, &docs, &count, &diag), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(count, 3);
    char *j0 = json_of(docs[0]), *j1 = json_of(docs[1]), *j2 = json_of(docs[2]);
    KUMO_EXPECT_STR_EQ(j0, "{\"a\":1}");
    KUMO_EXPECT_STR_EQ(j1, "{\"b\":[\"x\",\"y\",\"z\"],\"c\":[2]}");
    KUMO_EXPECT_STR_EQ(j2, "[1]");
    free(j0);
    free(j1);
    free(j2);
    const kumo_value *b = kumo_codec_value_get(docs[1], "b");
    KUMO_REQUIRE_PTR_NONNULL(b);
    KUMO_EXPECT_INT_EQ(b->line, 3);
    KUMO_EXPECT_INT_EQ(b->items[0]->plain_scalar, 1);
    KUMO_EXPECT_INT_EQ(b->items[1]->plain_scalar, 0);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_get(docs[1], "c")->items[0]->line, 5);
    kumo_codec_value_array_destroy(docs, count);
    /* an empty stream has no documents */
    KUMO_EXPECT_INT_EQ(parse_yaml("", &docs, &count, &diag), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(count, 0);
    kumo_codec_value_array_destroy(docs, count);
}

KUMO_TEST(yaml_aliases)
{
    kumo_value **docs = NULL;
    size_t count = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    /* an alias is a copy of its anchor; merge keys add what the mapping lacks */
    const char *text = "a: &x [1, {k: v}]\n"
                       "b: *x\n"
                       "base: &b {x: 1, y: 2}\n"
                       "more: &m {z: 3, x: 9}\n"
                       "d:\n  <<: [*b, *m]\n  y: 5\n"
                       "&key k2: *key\n"
                       "---\n"
                       "x: &x other\ny: *x\n";
    KUMO_REQUIRE_INT_EQ(parse_yaml(text, &docs, &count, &diag), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(count, 2);
    char *j0 = json_of(docs[0]), *j1 = json_of(docs[1]);
    KUMO_EXPECT_STR_EQ(j0, "{\"a\":[1,{\"k\":\"v\"}],\"b\":[1,{\"k\":\"v\"}],\"base\":{\"x\":1,"
                           "\"y\":2},\"more\":{\"z\":3,\"x\":9},\"d\":{\"y\":5,\"x\":1,\"z\":3},"
                           "\"k2\":\"k2\"}");
    KUMO_EXPECT_STR_EQ(j1, "{\"x\":\"other\",\"y\":\"other\"}");
    free(j0);
    free(j1);
    kumo_codec_value_array_destroy(docs, count);
    /* anchors do not cross documents; an alias needs an anchor before it */
    KUMO_EXPECT_INT_EQ(parse_yaml("a: &x 1\n---\nb: *x\n", &docs, &count, &diag), KUMO_ERROR_PARSE);
    KUMO_EXPECT_CONTAINS(diag.message, "alias *x names no anchor");
    KUMO_EXPECT_CONTAINS(diag.message, "line 3");
    kumo_diag_fini(&diag);
    KUMO_EXPECT_INT_EQ(parse_yaml("a: &x [*x]\n", &docs, &count, &diag), KUMO_ERROR_PARSE);
    kumo_diag_fini(&diag);
    KUMO_EXPECT_INT_EQ(parse_yaml("a:\n  <<: 1\n", &docs, &count, &diag), KUMO_ERROR_PARSE);
    KUMO_EXPECT_CONTAINS(diag.message, "merge key");
    kumo_diag_fini(&diag);
    /* billion laughs: refused by the expansion bound, never built */
    const char *laughs =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    KUMO_EXPECT_INT_EQ(parse_yaml(laughs, &docs, &count, &diag), KUMO_ERROR_TOO_LARGE);
    KUMO_EXPECT_CONTAINS(diag.message, "billion laughs");
    KUMO_EXPECT(docs == NULL && count == 0);
    kumo_diag_fini(&diag);
    /* the bound is max_bytes: a small limit stops a small expansion */
    kumo_codec_decode_options small = {0, 2000, 0};
    const char *ten = "a: &a [1,2,3,4,5,6,7,8,9,10]\nb: [*a,*a,*a,*a]\n";
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_yaml(ten, strlen(ten), &small, &docs, &count, &diag),
                       KUMO_ERROR_TOO_LARGE);
    kumo_diag_fini(&diag);
    KUMO_EXPECT_INT_EQ(kumo_codec_value_parse_yaml(ten, strlen(ten), NULL, &docs, &count, &diag),
                       KUMO_ERROR_OK);
    kumo_codec_value_array_destroy(docs, count);
}

KUMO_TEST(yaml_scalars)
{
    const char *text = "n1: null\nn2: ~\nn3:\nn4: Null\n"
                       "b1: True\nb2: FALSE\nb3: true\n"
                       "i: -12\nf: 1.5e3\nbig: 9007199254740993\n"
                       "s1: 0x1F\ns2: .inf\ns3: +1\ns4: 1.10.2\ns5: yes\ns6: 007\n"
                       "q: '123'\nd: \"true\"\n"
                       "t1: !!str 5\nt2: !!int \"7\"\nt3: !!bool \"true\"\nt4: !!null ''\n"
                       "lit: |\n  line1\n  line2\n"
                       "fold: >-\n  a\n  b\n";
    kumo_value **docs = NULL;
    size_t count = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(parse_yaml(text, &docs, &count, &diag), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(count, 1);
    char *json = json_of(docs[0]);
    KUMO_EXPECT_STR_EQ(json, "{\"n1\":null,\"n2\":null,\"n3\":null,\"n4\":null,"
                             "\"b1\":true,\"b2\":false,\"b3\":true,"
                             "\"i\":-12,\"f\":1.5e3,\"big\":9007199254740993,"
                             "\"s1\":\"0x1F\",\"s2\":\".inf\",\"s3\":\"+1\",\"s4\":\"1.10.2\","
                             "\"s5\":\"yes\",\"s6\":\"007\","
                             "\"q\":\"123\",\"d\":\"true\","
                             "\"t1\":\"5\",\"t2\":7,\"t3\":true,\"t4\":null,"
                             "\"lit\":\"line1\\nline2\\n\",\"fold\":\"a b\"}");
    free(json);
    kumo_codec_value_array_destroy(docs, count);

    /* into a message: plain scalars fill string fields with their text */
    const char *msg = "scalars:\n"
                      "  stringValue: 1.10\n"
                      "  int64Value: 9007199254740993\n"
                      "  int32Value: '5'\n"
                      "  boolValue: True\n"
                      "  doubleValue: 2\n"
                      "strings: [1.10, true, abc, '', 0x1F, False]\n"
                      "color: Blue\n"
                      "created: 2024-05-01T21:00:00+09:00\n"
                      "labels: {app: web, 1: one}\n"
                      "size: 0\n";
    KUMO_REQUIRE_INT_EQ(parse_yaml(msg, &docs, &count, &diag), KUMO_ERROR_OK);
    ProtobufCMessage *m = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_codec_message_from_value(ALL_TYPES, docs[0], NULL, &m, &diag),
                        KUMO_ERROR_OK);
    char *out = codec_test_encode(m, 0);
    KUMO_EXPECT_STR_EQ(out, "{\"scalars\":{\"doubleValue\":2,\"int64Value\":\"9007199254740993\","
                            "\"int32Value\":5,\"boolValue\":true,\"stringValue\":\"1.10\"},"
                            "\"strings\":[\"1.10\",\"true\",\"abc\",\"\",\"0x1F\",\"False\"],"
                            "\"labels\":{\"app\":\"web\",\"1\":\"one\"},"
                            "\"color\":\"Blue\",\"size\":0,\"created\":\"2024-05-01T12:00:00Z\"}");
    free(out);
    kumo_codec_message_free(m);
    kumo_codec_value_array_destroy(docs, count);

    /* a plain word is not a bool (numeric strings are fine for doubles) */
    KUMO_REQUIRE_INT_EQ(
        parse_yaml("scalars: {doubleValue: '2', boolValue: yes}\n", &docs, &count, &diag),
        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_codec_message_from_value(ALL_TYPES, docs[0], NULL, &m, &diag),
                       KUMO_ERROR_INVALID);
    codec_test_cause(&diag, KUMO_CAUSE_INVALID, "scalars.boolValue");
    kumo_diag_fini(&diag);
    kumo_codec_value_array_destroy(docs, count);
}

KUMO_TEST(yaml_errors)
{
    static const struct {
        const char *text;
        const char *message;
    } bad[] = {
        {"a: [1, 2\n", "line"},
        {"a: 1\na: 2\n", "duplicate key \"a\""},
        {"? [a]\n: 1\n", "mapping keys must be scalars"},
        {"a: \xff\n", "invalid YAML"},
        {"a: !custom x\n", "unsupported YAML tag"},
        {"a: !!binary aGk=\n", "unsupported YAML tag"},
        {"a: !!int 0x1F\n", "JSON syntax"},
        {"a: !!bool yes\n", "true or false"},
        {"a:\n\t- 1\n", "line 2"},
        {"- a\nb: 1\n", "line 2"},
        {"a: \"\\x00\"\n\"\\x00\": 1\n", "NUL"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kumo_value **docs = NULL;
        size_t count = 0;
        kumo_diag diag;
        kumo_diag_init(&diag);
        KUMO_CHECK_(0, parse_yaml(bad[i].text, &docs, &count, &diag) == KUMO_ERROR_PARSE,
                    "case %zu parsed", i);
        KUMO_EXPECT_CONTAINS(diag.message, bad[i].message);
        KUMO_EXPECT(docs == NULL);
        kumo_diag_fini(&diag);
    }
}

/* Strings that a YAML reader could take for something else survive encode -> decode. */
KUMO_TEST(yaml_encode_quoting)
{
    static const char *const strings[] = {
        "true",
        "123",
        "",
        "a: b",
        "- x",
        "#c",
        "null",
        "~",
        "yes",
        "No",
        "1.5",
        "0x1F",
        " lead",
        "trail ",
        "multi\nline\n",
        "line1\nline2",
        "quote\"s",
        "tab\there",
        "\x01"
        "ctl",
        "\xc3\xa9 \xc3\xbc",
        "key: value # c",
        "@at",
        "!tag",
        "*star",
        "&amp",
        "[x]",
        "{y}",
        "%p",
        "`bt",
        "| pipe",
        "> gt",
        "'sq'",
        ".inf",
        "-1",
        "+1",
        "Null",
        "FALSE",
        "=",
        "<<",
        "a #b",
        "ends:",
        "\n\nleading newlines",
        "trailing newlines\n\n\n",
        "   ",
        "x\r\ny",
        "\xc2\x85nel",
        "plain words",
        "a\\b",
        "---",
        "...",
        "?",
        ":",
        "-",
        "it's",
        "\xef\xbb\xbf"
        "bom",
        " \n indented\n",
        "\t",
        "x\n \ny",
        "\xe2\x80\xa8sep",
    };
    size_t n = sizeof(strings) / sizeof(strings[0]);
    Kumo__Test__AllTypes m = KUMO__TEST__ALL_TYPES__INIT;
    m.n_strings = n;
    m.strings = (char **)strings;
    Kumo__Test__AllTypes__LabelsEntry entries[4];
    Kumo__Test__AllTypes__LabelsEntry *labels[4];
    char long_key[1500];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    const char *const keys[] = {"true", "", long_key, "multi\nline"};
    for (int i = 0; i < 4; i++) {
        kumo__test__all_types__labels_entry__init(&entries[i]);
        entries[i].key = (char *)keys[i];
        entries[i].value = (char *)strings[i * 7];
        labels[i] = &entries[i];
    }
    m.n_labels = 4;
    m.labels = labels;
    kumo_codec_buffer yaml;
    kumo_codec_buffer_init(&yaml);
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(kumo_codec_yaml_encode(&m.base, &yaml, &diag), KUMO_ERROR_OK);
    KUMO_EXPECT_CONTAINS(yaml.data, "- \"true\"\n");
    KUMO_EXPECT_CONTAINS(yaml.data, "- plain words\n");
    KUMO_EXPECT_CONTAINS(yaml.data, "- |\n  multi\n  line\n");
    KUMO_EXPECT_CONTAINS(yaml.data, "- |-\n  line1\n  line2\n");
    kumo_value **docs = NULL;
    size_t count = 0;
    kumo_error err = kumo_codec_value_parse_yaml(yaml.data, yaml.len, NULL, &docs, &count, &diag);
    KUMO_CHECK_(1, err == KUMO_ERROR_OK && count == 1, "re-parse: %s\n%s", diag.message, yaml.data);
    Kumo__Test__AllTypes *back = NULL;
    err =
        kumo_codec_message_from_value(ALL_TYPES, docs[0], NULL, (ProtobufCMessage **)&back, &diag);
    KUMO_CHECK_(1, err == KUMO_ERROR_OK, "decode: %s\n%s", diag.message, yaml.data);
    KUMO_REQUIRE_INT_EQ(back->n_strings, n);
    for (size_t i = 0; i < n; i++)
        KUMO_CHECK_(0, strcmp(back->strings[i], strings[i]) == 0,
                    "string %zu: \"%s\" came back as \"%s\"", i, strings[i], back->strings[i]);
    KUMO_REQUIRE_INT_EQ(back->n_labels, 4);
    for (int i = 0; i < 4; i++) {
        KUMO_EXPECT_STR_EQ(back->labels[i]->key, keys[i]);
        KUMO_EXPECT_STR_EQ(back->labels[i]->value, strings[i * 7]);
    }
    kumo_codec_message_free(&back->base);
    kumo_codec_value_array_destroy(docs, count);
    kumo_codec_buffer_fini(&yaml);
}

KUMO_TEST(yaml_encode_roundtrip)
{
    ProtobufCMessage *m =
        codec_test_decode(ALL_TYPES,
                          "{\"nested\":{\"name\":\"n\",\"child\":{\"count\":2}},"
                          "\"nestedList\":[{\"name\":\"a\",\"count\":1},{}],"
                          "\"labels\":{\"app\":\"web\"},\"intMap\":{\"3\":\"x\"},"
                          "\"colors\":[\"Red\"],\"int64s\":[\"5\"],\"strings\":[]}",
                          0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    kumo_codec_buffer yaml;
    kumo_codec_buffer_init(&yaml);
    KUMO_REQUIRE_INT_EQ(kumo_codec_yaml_encode(m, &yaml, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(yaml.data, "int64s:\n"
                                  "- \"5\"\n"
                                  "nested:\n"
                                  "  name: \"n\"\n" /* YAML 1.1 reads n as false */
                                  "  child:\n"
                                  "    count: 2\n"
                                  "nestedList:\n"
                                  "- name: a\n"
                                  "  count: 1\n"
                                  "- {}\n"
                                  "labels:\n"
                                  "  app: web\n"
                                  "intMap:\n"
                                  "  \"3\": x\n"
                                  "colors:\n"
                                  "- Red\n");
    kumo_codec_buffer_fini(&yaml);
    kumo_codec_message_free(m);

    /* the full document survives JSON -> YAML -> JSON */
    m = codec_test_decode(ALL_TYPES, codec_test_full_doc, 0);
    KUMO_REQUIRE_PTR_NONNULL(m);
    kumo_codec_buffer_init(&yaml);
    KUMO_REQUIRE_INT_EQ(kumo_codec_yaml_encode(m, &yaml, NULL), KUMO_ERROR_OK);
    kumo_value **docs = NULL;
    size_t count = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = kumo_codec_value_parse_yaml(yaml.data, yaml.len, NULL, &docs, &count, &diag);
    KUMO_CHECK_(1, err == KUMO_ERROR_OK && count == 1, "%s\n%s", diag.message, yaml.data);
    ProtobufCMessage *back = NULL;
    err = kumo_codec_message_from_value(ALL_TYPES, docs[0], NULL, &back, &diag);
    KUMO_CHECK_(1, err == KUMO_ERROR_OK, "%s\n%s", diag.message, yaml.data);
    char *json = codec_test_encode(back, 0);
    KUMO_EXPECT_STR_EQ(json, codec_test_full_doc);
    free(json);
    kumo_codec_message_free(back);
    kumo_codec_value_array_destroy(docs, count);
    kumo_codec_buffer_fini(&yaml);
    kumo_codec_message_free(m);
}
