/*
 * fuzz_seed.c - writes seed corpora for the codec fuzzers from examples/.
 *
 *   fuzz_seed EXAMPLES_DIR OUT_DIR
 *
 * For every document of every EXAMPLES_DIR/(*.yaml) it writes
 * OUT_DIR/json/NAME-N.json, OUT_DIR/yaml/NAME-N.yaml and
 * OUT_DIR/protobuf/NAME-N.pb (as fuzz_protobuf reads it: one byte choosing
 * the kind, then the wire bytes; plus NAME-N.infra.pb for Infra documents).
 * The folders must exist. Exit status 1 when an example does not decode.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "tests/codec/example_kinds.h"

static int write_file(const char *dir, const char *sub, const char *name, size_t index,
                      const char *ext, const void *data, size_t len)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s/%s-%zu%s", dir, sub, name, index, ext);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "fuzz_seed: cannot write %s\n", path);
        return -1;
    }
    fwrite(data, 1, len, f);
    fclose(f);
    return 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        kumo_codec_buffer_append(&buf, chunk, n);
    fclose(f);
    return kumo_codec_buffer_take(&buf, len);
}

static int seed_document(const char *out, const char *name, size_t index, const kumo_value *doc)
{
    const kumo_value *kind = kumo_codec_value_get(doc, "kind");
    const char *kind_name = kind && kind->type == KUMO_VALUE_STRING ? kind->text : "";
    size_t selector = 0, count = codec_example_kind_count();
    for (; selector < count; selector++) {
        const char *k;
        codec_example_kind_at(selector, &k);
        if (strcmp(k, kind_name) == 0)
            break;
    }
    if (selector == count) {
        fprintf(stderr, "fuzz_seed: %s document %zu: unknown kind \"%s\"\n", name, index,
                kind_name);
        return -1;
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    ProtobufCMessage *m = NULL;
    if (kumo_codec_message_from_value(codec_example_kind_at(selector, NULL), doc, NULL, &m,
                                      &diag) != KUMO_ERROR_OK) {
        fprintf(stderr, "fuzz_seed: %s document %zu: %s\n", name, index, diag.message);
        kumo_diag_fini(&diag);
        return -1;
    }
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    int rc = 0;
    if (kumo_codec_json_encode(m, NULL, &buf, NULL) == KUMO_ERROR_OK)
        rc |= write_file(out, "json", name, index, ".json", buf.data, buf.len);
    kumo_codec_buffer_reset(&buf);
    if (kumo_codec_yaml_encode(m, &buf, NULL) == KUMO_ERROR_OK)
        rc |= write_file(out, "yaml", name, index, ".yaml", buf.data, buf.len);
    kumo_codec_buffer_reset(&buf);
    unsigned char byte = (unsigned char)selector;
    kumo_codec_buffer_append(&buf, &byte, 1);
    if (kumo_codec_protobuf_encode(m, &buf) == KUMO_ERROR_OK) {
        rc |= write_file(out, "protobuf", name, index, ".pb", buf.data, buf.len);
        if (strcmp(kind_name, "Infra") == 0)
            rc |= write_file(out, "protobuf", name, index, ".infra.pb", buf.data + 1, buf.len - 1);
    }
    kumo_codec_buffer_fini(&buf);
    kumo_codec_message_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: fuzz_seed EXAMPLES_DIR OUT_DIR\n"
                        "writes OUT_DIR/{json,yaml,protobuf}/ seeds from every example document\n");
        return argc == 2 ? 0 : 2;
    }
    DIR *dir = opendir(argv[1]);
    if (dir == NULL) {
        fprintf(stderr, "fuzz_seed: cannot open %s\n", argv[1]);
        return 1;
    }
    int rc = 0, files = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len <= 5 || strcmp(entry->d_name + len - 5, ".yaml") != 0)
            continue;
        char path[2048], name[256];
        snprintf(path, sizeof(path), "%s/%s", argv[1], entry->d_name);
        snprintf(name, sizeof(name), "%.*s", (int)(len - 5), entry->d_name);
        size_t text_len = 0;
        char *text = read_all(path, &text_len);
        kumo_value **docs = NULL;
        size_t count = 0;
        kumo_diag diag;
        kumo_diag_init(&diag);
        if (text == NULL || kumo_codec_value_parse_yaml(text, text_len, NULL, &docs, &count,
                                                        &diag) != KUMO_ERROR_OK) {
            fprintf(stderr, "fuzz_seed: %s: %s\n", path, text ? diag.message : "cannot read");
            rc = 1;
        }
        if (text != NULL)
            rc |= write_file(argv[2], "yaml", name, 999, ".orig.yaml", text, text_len) ? 1 : 0;
        for (size_t i = 0; i < count; i++)
            rc |= seed_document(argv[2], name, i, docs[i]) ? 1 : 0;
        kumo_codec_value_array_destroy(docs, count);
        kumo_diag_fini(&diag);
        free(text);
        files++;
    }
    closedir(dir);
    printf("fuzz_seed: %d example files\n", files);
    return rc;
}
