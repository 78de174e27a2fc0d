/*
 * kumoctl_run.c - running the real kumoctl binary from a test: output to
 * files in the test's temporary directory, exit status, a deadline.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/client/kumoctl_run.h"
#include "tests/harness/test.h"

extern char **environ;

/* Starts kumoctl with the NULL-terminated arguments; stdin from `input` (NULL: /dev/null). */
void ctl_start(run *r, const char *input, const char *arg, ...)
{
    memset(r, 0, sizeof(*r));
    r->status = -1;
    static int serial;
    const char *dir = ctl_dir();
    snprintf(r->out_path, sizeof(r->out_path), "%s/out%d", dir, serial);
    snprintf(r->err_path, sizeof(r->err_path), "%s/err%d", dir, serial++);
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
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, input ? input : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, r->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, r->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&r->pid, binary, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    KUMO_REQUIRE_INT_EQ(rc, 0);
}

static void collect(run *r)
{
    r->out = kumo_test_read_file(r->out_path, NULL);
    r->err = kumo_test_read_file(r->err_path, NULL);
    if (r->status != 0)
        fprintf(stderr, "kumoctl exited %d\n--- stdout\n%s--- stderr\n%s---\n", r->status,
                r->out ? r->out : "", r->err ? r->err : "");
}

/* Waits for the run to end (at most `seconds`, then kills it); returns its exit code. */
int ctl_finish(run *r, double seconds)
{
    double deadline = kumo_test_now() + seconds;
    int status = 0;
    while (waitpid(r->pid, &status, WNOHANG) == 0) {
        if (kumo_test_now() > deadline) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &status, 0);
            fprintf(stderr, "kumoctl did not finish within %.0f s\n", seconds);
            break;
        }
        fixture_sleep_ms(20);
    }
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    collect(r);
    return r->status;
}

/* 1 while the run goes on. */
int ctl_running(run *r)
{
    int status;
    return waitpid(r->pid, &status, WNOHANG) == 0 ? 1 : (r->status = WEXITSTATUS(status), 0);
}

void ctl_done(run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* One directory per case for every run's output (the harness removes it after the case). */
static const char *case_dir;

const char *ctl_dir(void)
{
    if (case_dir == NULL)
        case_dir = kumo_test_tmpdir();
    return case_dir;
}

void ctl_use(const fixture *f)
{
    case_dir = kumo_test_tmpdir();
    setenv("KUMO_NATS_URL", f->url, 1);
}

const char *ctl_example(const char *name, char *buf, size_t size)
{
    char relative[128];
    snprintf(relative, sizeof(relative), "examples/%s", name);
    return kumo_test_source_path(relative, buf, size);
}

const char *ctl_write_file(const char *name, const char *text, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", ctl_dir(), name);
    FILE *f = fopen(buf, "w");
    KUMO_REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
    return buf;
}

void ctl_apply(const char *path)
{
    run r;
    KUMOCTL(&r, "apply", "-f", path);
    KUMO_REQUIRE_INT_EQ(r.status, 0);
    ctl_done(&r);
}
