/*
 * main.c - the runner of one module's test binary.
 *
 * Compiled once per module with KUMO_TEST_CASES defined to the path of the
 * module's cases.h. `test_MODULE` runs every case; `test_MODULE NAME...` runs
 * the named ones; `--list` prints the names. Exit status: 1 when a case
 * failed, 77 when every case that ran was skipped, 0 otherwise.
 */
#define _GNU_SOURCE
#include "tests/harness/test.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef KUMO_TEST_CASES
#error "KUMO_TEST_CASES must name the module's cases.h"
#endif

#define KUMO_TEST_CASE(name) void kumo_test_##name(void);
#include KUMO_TEST_CASES
#undef KUMO_TEST_CASE

struct test_case {
    const char *name;
    void (*run)(void);
};

static const struct test_case cases[] = {
#define KUMO_TEST_CASE(name) {#name, kumo_test_##name},
#include KUMO_TEST_CASES
#undef KUMO_TEST_CASE
};

enum { MAX_TMPDIRS = 16 };

static jmp_buf case_exit;
static int case_failures;
static int case_skipped;
static char tmpdirs[MAX_TMPDIRS][256];
static int tmpdir_count;
static int case_dir_index = -1; /* which of tmpdirs is kumo_test_case_dir(); -1: none yet */

void kumo_test_fail_(const char *file, int line, int fatal, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: FAIL: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    case_failures++;
    if (fatal)
        longjmp(case_exit, 1);
}

void kumo_test_skip(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "SKIP: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    case_skipped = 1;
    longjmp(case_exit, 1);
}

static const char *join(const char *root, const char *relative, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", root, relative);
    return buf;
}

const char *kumo_test_source_path(const char *relative, char *buf, size_t size)
{
    const char *root = getenv("KUMO_SOURCE_DIR");
    return join(root ? root : ".", relative, buf, size);
}

const char *kumo_test_build_path(const char *relative, char *buf, size_t size)
{
    const char *root = getenv("KUMO_BUILD_DIR");
    return join(root ? root : ".", relative, buf, size);
}

const char *kumo_test_shared_data_path(const char *relative, char *buf, size_t size)
{
    const char *root = getenv("KUMO_SHARED_DATA");
    char fallback[1024];
    struct stat st;
    if (root == NULL || root[0] == '\0') {
        kumo_test_source_path("../shared/data", fallback, sizeof(fallback));
        root = fallback;
    }
    join(root, relative, buf, size);
    return stat(buf, &st) == 0 ? buf : NULL;
}

const char *kumo_test_tmpdir(void)
{
    if (tmpdir_count == MAX_TMPDIRS)
        kumo_test_fail_(__FILE__, __LINE__, 1, "too many temporary directories in one case");
    const char *base = getenv("TMPDIR");
    char *dir = tmpdirs[tmpdir_count];
    snprintf(dir, sizeof(tmpdirs[0]), "%s/kumo-test-XXXXXX", base ? base : "/tmp");
    if (mkdtemp(dir) == NULL)
        kumo_test_fail_(__FILE__, __LINE__, 1, "mkdtemp: %s", strerror(errno));
    tmpdir_count++;
    return dir;
}

/* Declared in process.h: one directory per case for what the case's processes write. */
const char *kumo_test_case_dir(void)
{
    if (case_dir_index < 0) {
        kumo_test_tmpdir();
        case_dir_index = tmpdir_count - 1;
    }
    return tmpdirs[case_dir_index];
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmpdirs(void)
{
    int keep = getenv("KUMO_TEST_KEEP") != NULL;
    for (int i = 0; i < tmpdir_count; i++) {
        if (keep)
            fprintf(stderr, "kept %s\n", tmpdirs[i]);
        else
            nftw(tmpdirs[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    tmpdir_count = 0;
    case_dir_index = -1;
}

char *kumo_test_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        cap *= 2;
        char *grown = realloc(buf, cap + 1);
        if (grown == NULL) {
            free(buf);
            buf = NULL;
        } else {
            buf = grown;
        }
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

const char *kumo_test_write_file(const char *dir, const char *name, const char *text, char *buf,
                                 size_t size)
{
    snprintf(buf, size, "%s/%s", dir, name);
    FILE *f = fopen(buf, "wb");
    if (f == NULL)
        kumo_test_fail_(__FILE__, __LINE__, 1, "cannot write %s: %s", buf, strerror(errno));
    size_t len = strlen(text);
    int failed = fwrite(text, 1, len, f) != len;
    failed |= fclose(f) != 0;
    if (failed)
        kumo_test_fail_(__FILE__, __LINE__, 1, "cannot write %s: %s", buf, strerror(errno));
    return buf;
}

double kumo_test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns 0 passed, 1 failed, 2 skipped. */
static int run_case(const struct test_case *tc)
{
    case_failures = 0;
    case_skipped = 0;
    double start = kumo_test_now();
    if (setjmp(case_exit) == 0)
        tc->run();
    remove_tmpdirs();
    double took = kumo_test_now() - start;
    const char *verdict = case_failures ? "FAIL" : case_skipped ? "SKIP" : "ok";
    printf("%-4s %s (%.3f s)\n", verdict, tc->name, took);
    fflush(stdout);
    return case_failures ? 1 : case_skipped ? 2 : 0;
}

int main(int argc, char **argv)
{
    size_t count = sizeof(cases) / sizeof(cases[0]);
    int failed = 0, passed = 0, skipped = 0, ran = 0;
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < count; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        int wanted = argc == 1;
        for (int a = 1; a < argc && !wanted; a++)
            wanted = strcmp(argv[a], cases[i].name) == 0;
        if (!wanted)
            continue;
        ran++;
        int r = run_case(&cases[i]);
        failed += r == 1;
        passed += r == 0;
        skipped += r == 2;
    }
    if (ran == 0) {
        fprintf(stderr, "no test case matched\n");
        return 1;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (failed)
        return 1;
    return ran == skipped ? 77 : 0; /* 77: ctest's SKIP_RETURN_CODE */
}
