/*
 * kumoctl_run.c - running the real kumoctl binary from a test through the
 * harness (tests/harness/process.h): output to files in the case's
 * directory, exit status, a deadline.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/client/kumoctl_run.h"
#include "tests/harness/test.h"

/* Starts kumoctl with the NULL-terminated arguments; stdin from `input` (NULL: /dev/null). */
void ctl_start(run *r, const char *input, const char *arg, ...)
{
    char binary[1024];
    kumo_test_build_path("bin/kumoctl", binary, sizeof(binary));
    const char *argv[32];
    int argc = 0;
    argv[argc++] = binary;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    kumo_test_input in = {.file = input};
    kumo_test_process_start(r, &in, argv);
}

/* Waits for the run to end (at most `seconds`, then kills it); returns its exit code. */
int ctl_finish(run *r, double seconds)
{
    kumo_test_process_finish(r, seconds);
    if (r->timed_out)
        fprintf(stderr, "kumoctl did not finish within %.0f s\n", seconds);
    if (r->signaled)
        r->status = -1;
    if (r->status != 0)
        fprintf(stderr, "kumoctl exited %d\n--- stdout\n%s--- stderr\n%s---\n", r->status, r->out,
                r->err);
    return r->status;
}

/* 1 while the run goes on. */
int ctl_running(run *r)
{
    return kumo_test_process_running(r);
}

void ctl_done(run *r)
{
    kumo_test_process_fini(r);
}

const char *ctl_dir(void)
{
    return kumo_test_case_dir();
}

void ctl_use(const fixture *f)
{
    setenv("KUMO_NATS_URL", f->url, 1);
}

void ctl_fixture_start(fixture *f)
{
    fixture_start(f);
    ctl_use(f);
}

const char *ctl_example(const char *name, char *buf, size_t size)
{
    char relative[128];
    snprintf(relative, sizeof(relative), "examples/%s", name);
    return kumo_test_source_path(relative, buf, size);
}

const char *ctl_write_file(const char *name, const char *text, char *buf, size_t size)
{
    return kumo_test_write_file(ctl_dir(), name, text, buf, size);
}

void ctl_apply(const char *path)
{
    run r;
    KUMOCTL(&r, "apply", "-f", path);
    KUMO_REQUIRE_INT_EQ(r.status, 0);
    ctl_done(&r);
}

void ctl_quickstart_apply(void)
{
    char quickstart[1024];
    ctl_apply(ctl_example("quickstart.yaml", quickstart, sizeof(quickstart)));
}
