/*
 * kumoctl_run.h - what the kumoctl tests share: running the real binary
 * against the fixture's kumod (kumoctl_run.c).
 */
#ifndef KUMO_TESTS_CLIENT_KUMOCTL_RUN_H
#define KUMO_TESTS_CLIENT_KUMOCTL_RUN_H

#include <stddef.h>
#include <sys/types.h>

#include "tests/client/fixture.h"
#include "tests/harness/process.h"

/* One kumoctl run (harness/process.h): pid, status (exit code; -1 while running or when
 * killed), out and err (after ctl_finish), out_path (readable while it runs). */
typedef kumo_test_process run;

/* Starts kumoctl with the NULL-terminated arguments; stdin from `input` (NULL: /dev/null). */
void ctl_start(run *r, const char *input, const char *arg, ...);
/* Waits for the run to end (at most `seconds`, then kills it); returns its exit code. */
int ctl_finish(run *r, double seconds);
/* 1 while the run goes on. */
int ctl_running(run *r);
/* Frees the run's output. */
void ctl_done(run *r);
/* The case's directory for kumoctl's output and the tests' files. */
const char *ctl_dir(void);
/* Points kumoctl at the fixture's NATS ($KUMO_NATS_URL). */
void ctl_use(const fixture *f);
/* fixture_start (nats-server and kumod), then ctl_use: what a kumoctl case begins with. */
void ctl_fixture_start(fixture *f);
/* Writes text to <case dir>/name; its path into buf (returned). */
const char *ctl_write_file(const char *name, const char *text, char *buf, size_t size);
/* kumoctl apply -f path; fails the case unless it exits 0. */
void ctl_apply(const char *path);
/* The path of examples/<name>. */
const char *ctl_example(const char *name, char *buf, size_t size);
/* kumoctl apply -f examples/quickstart.yaml; fails the case unless it exits 0. */
void ctl_quickstart_apply(void);

#define KUMOCTL(r, ...)                                                                            \
    do {                                                                                           \
        ctl_start(r, NULL, __VA_ARGS__, NULL);                                                     \
        ctl_finish(r, 60);                                                                         \
    } while (0)

/* Runs kumoctl with the arguments and expects exit status `want` (its output is not kept). */
#define KUMOCTL_EXPECT_STATUS(want, ...)                                                           \
    do {                                                                                           \
        run kumoctl_r_;                                                                            \
        KUMOCTL(&kumoctl_r_, __VA_ARGS__);                                                         \
        KUMO_EXPECT_INT_EQ(kumoctl_r_.status, want);                                               \
        ctl_done(&kumoctl_r_);                                                                     \
    } while (0)

#endif
