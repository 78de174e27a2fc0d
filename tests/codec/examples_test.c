/*
 * examples_test.c - every document of examples/ (*.yaml) goes YAML -> message
 * -> JSON -> message -> protobuf -> message -> JSON without loss.
 */
#include "tests/codec/example_kinds.h"
#include "tests/codec/helpers.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

/* A value at its proto3 default, which the encoder leaves out. */
static int is_default(const kumo_value *v)
{
    if (v == NULL)
        return 1;
    switch (v->type) {
    case KUMO_VALUE_NULL:
        return 1;
    case KUMO_VALUE_BOOL:
        return !v->boolean;
    case KUMO_VALUE_NUMBER: {
        for (size_t i = 0; i < v->length; i++)
            if (v->text[i] >= '1' && v->text[i] <= '9')
                return 0;
            else if (v->text[i] == 'e' || v->text[i] == 'E')
                break;
        return 1;
    }
    case KUMO_VALUE_STRING:
        return v->length == 0;
    case KUMO_VALUE_ARRAY:
    case KUMO_VALUE_OBJECT:
        return v->count == 0;
    }
    return 0;
}

/*
 * Is `written` (parsed from the final JSON) what `source` (the YAML) said?
 * Allowed differences are those of the JSON mapping: a 64-bit integer or a
 * plain YAML scalar comes back as a string with the same text, and members
 * at their default value are left out. On a difference, `where` names it.
 */
static int same_content(const kumo_value *source, const kumo_value *written, char *where,
                        size_t where_size)
{
    if (source->type == KUMO_VALUE_OBJECT && written->type == KUMO_VALUE_OBJECT) {
        for (size_t i = 0; i < source->count; i++) {
            const kumo_value_member *m = &source->members[i];
            const kumo_value *w = kumo_codec_value_get(written, m->key);
            size_t used = strlen(where);
            snprintf(where + used, where_size - used, "%s%s", used ? "." : "", m->key);
            if (w == NULL ? !is_default(m->value) : !same_content(m->value, w, where, where_size))
                return 0;
            where[used] = '\0';
        }
        for (size_t i = 0; i < written->count; i++) {
            if (kumo_codec_value_get(source, written->members[i].key) == NULL) {
                size_t used = strlen(where);
                snprintf(where + used, where_size - used, "%s%s (added)", used ? "." : "",
                         written->members[i].key);
                return 0;
            }
        }
        return 1;
    }
    if (source->type == KUMO_VALUE_ARRAY && written->type == KUMO_VALUE_ARRAY) {
        if (source->count != written->count)
            return 0;
        for (size_t i = 0; i < source->count; i++) {
            size_t used = strlen(where);
            snprintf(where + used, where_size - used, "[%zu]", i);
            if (!same_content(source->items[i], written->items[i], where, where_size))
                return 0;
            where[used] = '\0';
        }
        return 1;
    }
    if (written->type == KUMO_VALUE_STRING && source->type != KUMO_VALUE_STRING &&
        source->text != NULL) {
        if (source->length == written->length &&
            memcmp(source->text, written->text, source->length) == 0)
            return 1; /* plain scalar into a string field, or an int64 */
        if (source->type == KUMO_VALUE_NUMBER) {
            kumo_value as_number = *written;
            as_number.type = KUMO_VALUE_NUMBER;
            return kumo_codec_value_equal(source, &as_number);
        }
        return 0;
    }
    return kumo_codec_value_equal(source, written);
}

static char *encode_or_fail(const ProtobufCMessage *m, const char *file, size_t doc,
                            const char *kind)
{
    kumo_codec_buffer buf;
    kumo_diag diag;
    kumo_codec_buffer_init(&buf);
    kumo_diag_init(&diag);
    kumo_error err = kumo_codec_json_encode(m, NULL, &buf, &diag);
    KUMO_CHECK_(0, err == KUMO_ERROR_OK, "%s document %zu (%s): encode: %s", file, doc, kind,
                diag.message);
    kumo_diag_fini(&diag);
    return kumo_codec_buffer_take(&buf, NULL);
}

/* Returns the number of documents checked. */
static size_t check_document(const char *file, size_t index, const kumo_value *doc)
{
    const kumo_value *kind_value = kumo_codec_value_get(doc, "kind");
    const char *kind = kind_value && kind_value->type == KUMO_VALUE_STRING ? kind_value->text : "?";
    const ProtobufCMessageDescriptor *descriptor = codec_example_kind_descriptor(kind);
    if (descriptor == NULL) {
        kumo_test_fail_(__FILE__, __LINE__, 0, "%s document %zu: kind \"%s\" is not in the table",
                        file, index, kind);
        return 0;
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *from_yaml = NULL, *from_json = NULL, *from_wire = NULL;
    char *json1 = NULL, *json2 = NULL;
    kumo_codec_buffer wire;
    kumo_codec_buffer_init(&wire);
    kumo_value *final_tree = NULL;
    kumo_error err = kumo_codec_message_from_value(descriptor, doc, NULL, &from_yaml, &diag);
    KUMO_CHECK_(0, err == KUMO_ERROR_OK, "%s document %zu (%s): %s", file, index, kind,
                diag.message);
    if (err != KUMO_ERROR_OK)
        goto done;
    json1 = encode_or_fail(from_yaml, file, index, kind);
    if (json1 == NULL)
        goto done;
    err = kumo_codec_json_decode(descriptor, json1, strlen(json1), NULL, &from_json, &diag);
    KUMO_CHECK_(0, err == KUMO_ERROR_OK, "%s document %zu (%s): json decode: %s", file, index, kind,
                diag.message);
    if (err != KUMO_ERROR_OK)
        goto done;
    KUMO_REQUIRE_INT_EQ(kumo_codec_protobuf_encode(from_json, &wire), KUMO_ERROR_OK);
    err = kumo_codec_protobuf_decode(descriptor, (const uint8_t *)wire.data, wire.len, NULL,
                                     &from_wire, &diag);
    KUMO_CHECK_(0, err == KUMO_ERROR_OK, "%s document %zu (%s): protobuf decode: %s", file, index,
                kind, diag.message);
    if (err != KUMO_ERROR_OK)
        goto done;
    json2 = encode_or_fail(from_wire, file, index, kind);
    if (json1 == NULL || json2 == NULL)
        goto done;
    KUMO_CHECK_(0, strcmp(json1, json2) == 0,
                "%s document %zu (%s): JSON changed through protobuf:\n%s\n%s", file, index, kind,
                json1, json2);
    err = kumo_codec_value_parse_json(json2, strlen(json2), NULL, &final_tree, &diag);
    KUMO_REQUIRE_INT_EQ(err, KUMO_ERROR_OK);
    char where[512] = "";
    KUMO_CHECK_(0, same_content(doc, final_tree, where, sizeof(where)),
                "%s document %zu (%s): lost or changed at %s; final JSON %s", file, index, kind,
                where, json2);
done:
    kumo_codec_value_destroy(final_tree);
    kumo_codec_buffer_fini(&wire);
    free(json1);
    free(json2);
    kumo_codec_message_free(from_yaml);
    kumo_codec_message_free(from_json);
    kumo_codec_message_free(from_wire);
    kumo_diag_fini(&diag);
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

KUMO_TEST(roundtrip_examples)
{
    char dir_path[1024];
    kumo_test_source_path("examples", dir_path, sizeof(dir_path));
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        kumo_test_skip("no examples/ folder at %s", dir_path);
    char *names[256];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL && count < 256) {
        size_t len = strlen(entry->d_name);
        if (len > 5 && strcmp(entry->d_name + len - 5, ".yaml") == 0)
            names[count++] = strdup(entry->d_name);
    }
    closedir(dir);
    if (count == 0)
        kumo_test_skip("no examples/ (*.yaml) yet");
    qsort(names, count, sizeof(names[0]), compare_names);
    size_t documents = 0;
    for (size_t i = 0; i < count; i++) {
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir_path, names[i]);
        size_t len = 0;
        char *text = kumo_test_read_file(path, &len);
        KUMO_CHECK_(0, text != NULL, "cannot read %s", path);
        kumo_value **docs = NULL;
        size_t doc_count = 0;
        kumo_diag diag;
        kumo_diag_init(&diag);
        kumo_error err = kumo_codec_value_parse_yaml(text, len, NULL, &docs, &doc_count, &diag);
        KUMO_CHECK_(0, err == KUMO_ERROR_OK, "%s: %s", names[i], diag.message);
        for (size_t d = 0; d < doc_count; d++)
            documents += check_document(names[i], d, docs[d]);
        kumo_codec_value_array_destroy(docs, doc_count);
        kumo_diag_fini(&diag);
        free(text);
        free(names[i]);
    }
    printf("checked %zu documents in %zu files\n", documents, count);
    KUMO_EXPECT_INT_GT(documents, 0);
}
