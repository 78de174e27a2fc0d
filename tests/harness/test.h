/*
 * test.h - kumo's small test harness.
 *
 * A module's test binary is built from its test files plus harness/main.c,
 * which includes the module's `cases.h`: a list of KUMO_TEST_CASE(name) lines.
 * CMake reads the same list and registers one ctest case per name
 * (`ctest -R codec.roundtrip_examples`), and `test_codec NAME` runs one case.
 *
 * A case is written as
 *     KUMO_TEST(roundtrip_examples) { KUMO_EXPECT_INT_EQ(1 + 1, 2); }
 * Expectations print both operands and the place; a failed KUMO_REQUIRE_*
 * ends the case at once (the harness longjmps back), KUMO_EXPECT_* go on.
 *
 * Helpers for tests: paths to the source and build trees (from the
 * environment ctest sets), temporary directories that are removed, and file
 * reading.
 */
#ifndef KUMO_TEST_H
#define KUMO_TEST_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define KUMO_TEST(name) void kumo_test_##name(void)

void kumo_test_fail_(const char *file, int line, int fatal, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Marks the running case as skipped (with a reason) and ends it. */
void kumo_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define KUMO_CHECK_(fatal, cond, ...)                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            kumo_test_fail_(__FILE__, __LINE__, fatal, __VA_ARGS__);                               \
    } while (0)

#define KUMO_CHECK_INT_(fatal, a, op, b)                                                           \
    do {                                                                                           \
        long long kumo_a_ = (long long)(a), kumo_b_ = (long long)(b);                              \
        KUMO_CHECK_(fatal, kumo_a_ op kumo_b_, "%s %s %s: %lld vs %lld", #a, #op, #b, kumo_a_,     \
                    kumo_b_);                                                                      \
    } while (0)

#define KUMO_CHECK_STR_(fatal, a, b)                                                               \
    do {                                                                                           \
        const char *kumo_a_ = (a), *kumo_b_ = (b);                                                 \
        KUMO_CHECK_(fatal, kumo_a_ &&kumo_b_ &&strcmp(kumo_a_, kumo_b_) == 0,                      \
                    "%s == %s: \"%s\" vs \"%s\"", #a, #b, kumo_a_ ? kumo_a_ : "(null)",            \
                    kumo_b_ ? kumo_b_ : "(null)");                                                 \
    } while (0)

#define KUMO_CHECK_CONTAINS_(fatal, haystack, needle)                                              \
    do {                                                                                           \
        const char *kumo_h_ = (haystack), *kumo_n_ = (needle);                                     \
        KUMO_CHECK_(fatal, kumo_h_ &&kumo_n_ &&strstr(kumo_h_, kumo_n_) != NULL,                   \
                    "%s contains %s: \"%s\" does not contain \"%s\"", #haystack, #needle,          \
                    kumo_h_ ? kumo_h_ : "(null)", kumo_n_ ? kumo_n_ : "(null)");                   \
    } while (0)

#define KUMO_EXPECT(cond)           KUMO_CHECK_(0, cond, "expected %s", #cond)
#define KUMO_REQUIRE(cond)          KUMO_CHECK_(1, cond, "required %s", #cond)
#define KUMO_EXPECT_INT_EQ(a, b)    KUMO_CHECK_INT_(0, a, ==, b)
#define KUMO_EXPECT_INT_NE(a, b)    KUMO_CHECK_INT_(0, a, !=, b)
#define KUMO_EXPECT_INT_LT(a, b)    KUMO_CHECK_INT_(0, a, <, b)
#define KUMO_EXPECT_INT_LE(a, b)    KUMO_CHECK_INT_(0, a, <=, b)
#define KUMO_EXPECT_INT_GT(a, b)    KUMO_CHECK_INT_(0, a, >, b)
#define KUMO_EXPECT_INT_GE(a, b)    KUMO_CHECK_INT_(0, a, >=, b)
#define KUMO_REQUIRE_INT_EQ(a, b)   KUMO_CHECK_INT_(1, a, ==, b)
#define KUMO_REQUIRE_INT_NE(a, b)   KUMO_CHECK_INT_(1, a, !=, b)
#define KUMO_REQUIRE_INT_GE(a, b)   KUMO_CHECK_INT_(1, a, >=, b)
#define KUMO_EXPECT_STR_EQ(a, b)    KUMO_CHECK_STR_(0, a, b)
#define KUMO_REQUIRE_STR_EQ(a, b)   KUMO_CHECK_STR_(1, a, b)
#define KUMO_EXPECT_CONTAINS(h, n)  KUMO_CHECK_CONTAINS_(0, h, n)
#define KUMO_REQUIRE_CONTAINS(h, n) KUMO_CHECK_CONTAINS_(1, h, n)
#define KUMO_EXPECT_PTR_NONNULL(p)  KUMO_CHECK_(0, (p) != NULL, "%s is NULL", #p)
#define KUMO_REQUIRE_PTR_NONNULL(p) KUMO_CHECK_(1, (p) != NULL, "%s is NULL", #p)

/* $KUMO_SOURCE_DIR joined with `relative` into buf; returns buf. */
const char *kumo_test_source_path(const char *relative, char *buf, size_t size);
/* $KUMO_BUILD_DIR joined with `relative` into buf; returns buf. */
const char *kumo_test_build_path(const char *relative, char *buf, size_t size);
/* The shared reference data folder ($KUMO_SHARED_DATA, else ../shared/data next to the
 * source tree) joined with `relative`; returns NULL when it does not exist. */
const char *kumo_test_shared_data_path(const char *relative, char *buf, size_t size);
/*
 * Makes a fresh temporary directory and returns its path (static storage per
 * call slot, valid until the case ends). It is removed with its contents when
 * the case ends unless KUMO_TEST_KEEP is set.
 */
const char *kumo_test_tmpdir(void);
/* Reads a whole file into a NUL-terminated heap buffer (caller frees); NULL on failure. */
char *kumo_test_read_file(const char *path, size_t *len_out);
/* Writes `text` to <dir>/<name> (created or truncated), its path into buf (returned); fails
 * the case when it cannot. */
const char *kumo_test_write_file(const char *dir, const char *name, const char *text, char *buf,
                                 size_t size);
/* Seconds on a monotonic clock. */
double kumo_test_now(void);

#endif
