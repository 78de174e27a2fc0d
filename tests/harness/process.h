/*
 * process.h - running a program from a test the way a user runs it: stdin from a file or a
 * pipe, stdout and stderr captured into files of the case's directory, a deadline, the exit
 * status, and the child's CPU time and peak memory (process.c).
 *
 * A process is started, then finished (waited for, at most until a deadline), then its output
 * is read; kumo_test_process_fini frees it. Used by the kumoctl tests (tests/cmd, tests/client);
 * not thread-safe (one test thread runs processes).
 */
#ifndef KUMO_TEST_PROCESS_H
#define KUMO_TEST_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

/* Where stdin comes from: /dev/null (all fields zero), a file, or a pipe that receives
 * `pipe_head` and then `pipe_bytes` bytes of 'x' (the writing stops quietly when the child
 * closes its end). */
typedef struct kumo_test_input {
    const char *file;
    const char *pipe_head;
    size_t pipe_bytes;
} kumo_test_input;

typedef struct kumo_test_process {
    pid_t pid;
    int exited;     /* 1 once the child was reaped */
    int signaled;   /* it ended by a signal (status is then 128 + the signal) */
    int timed_out;  /* kumo_test_process_finish killed it at its deadline */
    int status;     /* exit code; 128 + signal; -1 while it runs */
    double started; /* kumo_test_now() at the start */
    double seconds; /* from start to exit */
    double cpu_seconds;
    long max_rss_kib;
    char out_path[512], err_path[512]; /* readable while it runs */
    char *out, *err;                   /* heap, set by finish; freed by fini */
} kumo_test_process;

/* The case's own directory (made on first use, removed with the case's other temporary
 * directories when it ends). */
const char *kumo_test_case_dir(void);

/* Starts argv[0] (a path) with the NULL-terminated argv and the test's environment; stdin from
 * `in` (NULL: /dev/null). A pipe input is written before this returns. Fails the case when the
 * child cannot be started. */
void kumo_test_process_start(kumo_test_process *p, const kumo_test_input *in,
                             const char *const *argv);
/* 1 while the child runs; reaps it (and sets status) once it has exited. */
int kumo_test_process_running(kumo_test_process *p);
/* Waits for the child, at most `seconds` from now (then kills it with SIGKILL and sets timed_out),
 * and reads its stdout and stderr into out and err (never NULL after this returns). Returns status.
 */
int kumo_test_process_finish(kumo_test_process *p, double seconds);
/* Frees out and err; the process must have been finished. */
void kumo_test_process_fini(kumo_test_process *p);

#endif
