/* helpers.c - shared helpers of the object tests (see helpers.h). */
#include "tests/object/helpers.h"

#include <stdlib.h>
#include <string.h>

#include "tests/harness/test.h"

ProtobufCMessage *test_load(const char *manifest)
{
    ProtobufCMessage *object = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = kumo_object_decode(NULL, manifest, strlen(manifest), KUMO_CODEC_FORMAT_YAML,
                                        NULL, &object, &diag);
    if (err != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 0, "decoding failed: %s\n%s", diag.message, manifest);
    kumo_diag_fini(&diag);
    KUMO_REQUIRE_PTR_NONNULL(object);
    return object;
}

kumo_error test_check(ProtobufCMessage *object, int defaults, kumo_diag *diag)
{
    if (defaults) {
        kumo_error err = kumo_object_default(object, diag);
        if (err != KUMO_ERROR_OK)
            return err;
    }
    return kumo_object_validate(object, diag);
}

int test_has_cause(const kumo_diag *diag, const char *text)
{
    char buf[2048];
    for (size_t i = 0; i < diag->cause_count; i++) {
        kumo_diag_format_cause(&diag->causes[i], buf, sizeof(buf));
        if (strcmp(buf, text) == 0)
            return 1;
    }
    return 0;
}

const char *test_causes_text(const kumo_diag *diag, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < diag->cause_count && len + 1 < size; i++) {
        buf[len++] = '\n';
        buf[len] = '\0';
        len += kumo_diag_format_cause(&diag->causes[i], buf + len, size - len);
        if (len >= size)
            len = size - 1;
    }
    return buf;
}

char *test_json(const ProtobufCMessage *object)
{
    kumo_codec_buffer buf;
    kumo_codec_encode_options options = {0, 0};
    kumo_codec_buffer_init(&buf);
    kumo_error err = kumo_codec_json_encode(object, &options, &buf, NULL);
    KUMO_EXPECT_INT_EQ(err, KUMO_ERROR_OK);
    return kumo_codec_buffer_take(&buf, NULL);
}
