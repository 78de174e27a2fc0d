/* error_test.c - the error table, the diag struct and the logger. */
#include "apis/error/error.h"
#include "apis/log/log.h"
#include "tests/harness/test.h"

#include <stdlib.h>

KUMO_TEST(table_names_texts)
{
    KUMO_EXPECT_STR_EQ(kumo_error_name(KUMO_ERROR_NOT_FOUND), "NOT_FOUND");
    KUMO_EXPECT_STR_EQ(kumo_error_text(KUMO_ERROR_CONFLICT), "conflict");
    KUMO_EXPECT_INT_EQ(kumo_error_http_code(KUMO_ERROR_GONE), 410);
    KUMO_EXPECT_INT_EQ(kumo_error_class_of(KUMO_ERROR_THROTTLED), KUMO_ERROR_CLASS_RETRY);
    KUMO_EXPECT_INT_EQ(kumo_error_class_of(KUMO_ERROR_CONFLICT), KUMO_ERROR_CLASS_CONFLICT);
    KUMO_EXPECT_INT_EQ(kumo_error_class_of(KUMO_ERROR_INVALID), KUMO_ERROR_CLASS_TERMINAL);
    KUMO_EXPECT_STR_EQ(kumo_error_name((kumo_error)9999), "UNKNOWN");
    for (int i = 1; i < KUMO_ERROR_COUNT_; i++) {
        KUMO_EXPECT(kumo_error_text((kumo_error)i)[0] != '\0');
        KUMO_EXPECT(kumo_error_reason((kumo_error)i)[0] != '\0');
        KUMO_EXPECT_INT_GE(kumo_error_http_code((kumo_error)i), 400);
    }
}

KUMO_TEST(reason_roundtrip)
{
    KUMO_EXPECT_INT_EQ(kumo_error_from_reason("AlreadyExists"), KUMO_ERROR_ALREADY_EXISTS);
    KUMO_EXPECT_INT_EQ(kumo_error_from_reason("Gone"), KUMO_ERROR_GONE);
    KUMO_EXPECT_INT_EQ(kumo_error_from_reason("NotFound"), KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_INT_EQ(kumo_error_from_reason("Conflict"), KUMO_ERROR_CONFLICT);
    KUMO_EXPECT_INT_EQ(kumo_error_from_reason(""), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_error_from_reason("NoSuchReason"), KUMO_ERROR_INTERNAL);
}

KUMO_TEST(diag_causes_format)
{
    kumo_diag d;
    char buf[512];
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_diag_set(&d, KUMO_ERROR_INVALID, "bad %s", "object"),
                       KUMO_ERROR_INVALID);
    KUMO_EXPECT_STR_EQ(d.message, "bad object");
    kumo_diag_add_cause(&d, KUMO_CAUSE_INVALID, "spec.groups[1].size", "-1",
                        "must be greater than or equal to %d", 0);
    kumo_diag_format_invalid(&d, "Infra", "web", buf, sizeof(buf));
    KUMO_EXPECT_STR_EQ(buf, "Infra \"web\" is invalid: spec.groups[1].size: Invalid value: -1: "
                            "must be greater than or equal to 0");
    kumo_diag_add_cause(&d, KUMO_CAUSE_REQUIRED, "spec.groups[0].name", NULL, NULL);
    size_t need = kumo_diag_format_invalid(&d, "Infra", "web", buf, sizeof(buf));
    KUMO_EXPECT_INT_EQ(need, strlen(buf));
    KUMO_EXPECT_CONTAINS(buf, "[spec.groups[1].size");
    KUMO_EXPECT_CONTAINS(buf, ", spec.groups[0].name: Required value]");
    /* Truncation keeps a terminated string and reports the needed size. */
    char small[16];
    size_t needed = kumo_diag_format_invalid(&d, "Infra", "web", small, sizeof(small));
    KUMO_EXPECT_INT_EQ(needed, need);
    KUMO_EXPECT_INT_EQ(strlen(small), sizeof(small) - 1);
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(d.cause_count, 0);
    kumo_diag_fini(NULL);
}

KUMO_TEST(diag_copy)
{
    kumo_diag a, b;
    kumo_diag_init(&a);
    kumo_diag_init(&b);
    kumo_diag_set_foreign(&a, KUMO_ERROR_STORAGE, "lmdb", -30792, "map full");
    kumo_diag_add_cause(&a, KUMO_CAUSE_TOO_LONG, "metadata.name", NULL, "max %d", 253);
    KUMO_REQUIRE_INT_EQ(kumo_diag_copy(&b, &a), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(b.code, KUMO_ERROR_STORAGE);
    KUMO_EXPECT_STR_EQ(b.foreign_where, "lmdb");
    KUMO_EXPECT_INT_EQ(b.foreign_code, -30792);
    KUMO_REQUIRE_INT_EQ(b.cause_count, 1);
    KUMO_EXPECT_STR_EQ(b.causes[0].message, "max 253");
    kumo_diag_fini(&a);
    kumo_diag_fini(&b);
}

static char *log_capture(kumo_log_level set, kumo_log_level write_level)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = tmpfile();
    kumo_log_set_stream(f);
    kumo_log_set_level(set);
    KUMO_LOG_(write_level, "store", "opened \"it\"", "path=%s revision=%d", "/d", 42);
    kumo_log_set_stream(NULL);
    kumo_log_set_level(KUMO_LOG_LEVEL_INFO);
    len = (size_t)ftell(f);
    rewind(f);
    text = calloc(1, len + 1);
    if (fread(text, 1, len, f) != len)
        text[0] = '\0';
    fclose(f);
    return text;
}

KUMO_TEST(log_line_format)
{
    char *line = log_capture(KUMO_LOG_LEVEL_INFO, KUMO_LOG_LEVEL_WARN);
    KUMO_EXPECT_CONTAINS(line, " WARN store path=/d revision=42 msg=\"opened \\\"it\\\"\"\n");
    KUMO_EXPECT_INT_EQ(line[4], '-');
    KUMO_EXPECT_INT_EQ(line[10], 'T');
    free(line);
    kumo_log_level level;
    KUMO_EXPECT_INT_EQ(kumo_log_level_parse("debug", &level), 0);
    KUMO_EXPECT_INT_EQ(level, KUMO_LOG_LEVEL_DEBUG);
    KUMO_EXPECT_INT_EQ(kumo_log_level_parse("loud", &level), -1);
}

KUMO_TEST(log_level_filter)
{
    char *line = log_capture(KUMO_LOG_LEVEL_WARN, KUMO_LOG_LEVEL_INFO);
    KUMO_EXPECT_STR_EQ(line, "");
    free(line);
}
