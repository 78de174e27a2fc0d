/*
 * process.c - running a program from a test (process.h): fork and exec, stdin from a file or a
 * pipe, stdout and stderr into files of the case's directory, reaped with wait4 so that its CPU
 * time and peak memory are known.
 */
#include "tests/harness/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/test.h"

/* Writes the pipe input; stops quietly when the child closes its end. */
static void feed_pipe(int fd, const kumo_test_input *in)
{
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof(chunk));
    size_t head = strlen(in->pipe_head), sent = 0;
    if (write(fd, in->pipe_head, head) != (ssize_t)head)
        return;
    while (sent < in->pipe_bytes) {
        size_t n = in->pipe_bytes - sent < sizeof(chunk) ? in->pipe_bytes - sent : sizeof(chunk);
        ssize_t w = write(fd, chunk, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* EPIPE: the child stopped reading */
        sent += (size_t)w;
    }
}

/* The child's side: stdin, stdout and stderr in place, then exec; never returns. */
static void child_exec(const kumo_test_process *p, const kumo_test_input *in, const int fds[2],
                       const char *const *argv)
{
    int input = fds[0] >= 0 ? fds[0] : open(in && in->file ? in->file : "/dev/null", O_RDONLY);
    int out = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (input < 0 || out < 0 || err < 0)
        _exit(126);
    dup2(input, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (fds[1] >= 0)
        close(fds[1]);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

void kumo_test_process_start(kumo_test_process *p, const kumo_test_input *in,
                             const char *const *argv)
{
    static int serial;
    memset(p, 0, sizeof(*p));
    p->status = -1;
    const char *dir = kumo_test_case_dir();
    snprintf(p->out_path, sizeof(p->out_path), "%s/out%d", dir, serial);
    snprintf(p->err_path, sizeof(p->err_path), "%s/err%d", dir, serial++);
    int fds[2] = {-1, -1};
    if (in && in->pipe_head) {
        KUMO_REQUIRE(pipe(fds) == 0);
        signal(SIGPIPE, SIG_IGN);
    }
    p->started = kumo_test_now();
    p->pid = fork();
    KUMO_REQUIRE(p->pid >= 0);
    if (p->pid == 0)
        child_exec(p, in, fds, argv);
    if (fds[0] >= 0) {
        close(fds[0]);
        feed_pipe(fds[1], in);
        close(fds[1]);
    }
}

/* Reaps the child if it has ended (blocking: waits for it); 1 when it has. */
static int reap(kumo_test_process *p, int block)
{
    if (p->exited)
        return 1;
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof(usage));
    if (wait4(p->pid, &status, block ? 0 : WNOHANG, &usage) != p->pid)
        return 0;
    p->exited = 1;
    p->seconds = kumo_test_now() - p->started;
    p->cpu_seconds = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
                     (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
    p->max_rss_kib = usage.ru_maxrss;
    p->signaled = WIFSIGNALED(status);
    p->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 1;
}

int kumo_test_process_running(kumo_test_process *p)
{
    return !reap(p, 0);
}

int kumo_test_process_finish(kumo_test_process *p, double seconds)
{
    double deadline = kumo_test_now() + seconds;
    while (!reap(p, 0)) {
        if (kumo_test_now() > deadline) {
            kill(p->pid, SIGKILL);
            reap(p, 1);
            p->timed_out = 1;
            break;
        }
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    p->out = kumo_test_read_file(p->out_path, NULL);
    p->err = kumo_test_read_file(p->err_path, NULL);
    KUMO_REQUIRE_PTR_NONNULL(p->out);
    KUMO_REQUIRE_PTR_NONNULL(p->err);
    return p->status;
}

void kumo_test_process_fini(kumo_test_process *p)
{
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
}
