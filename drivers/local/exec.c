/*
 * exec.c - how the local driver touches the host: `ip` and `nft` run by
 * posix_spawn with argument vectors (never a shell), bounded by the call's
 * deadline, their stderr kept for the diag; and the machine's own process,
 * started inside the machine's network namespace (and new PID and mount
 * namespaces) so that it is NOT a child of kumod: it outlives a kumod restart
 * and never becomes kumod's zombie.
 *
 * Starting a machine's process (local_spawn_start):
 *   kumod --fork--> helper: setns(net), unshare(PID|mount), remount /sys,
 *                           join the cgroups, fork, report the PID, exit
 *                   helper --fork--> init: mount /proc, setsid, exec the agent
 * The helper exits at once, so the init is re-parented to PID 1 (or the
 * nearest subreaper). A CLOEXEC pipe carries the init's PID and, when exec
 * fails, the step and errno. Between fork and exec only async-signal-safe
 * calls are made; everything is prepared before the first fork.
 *
 * A process is identified by PID and start time (/proc/PID/stat field 22), so
 * a reused PID is never mistaken for the machine's process.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *const command_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};

static int64_t now_ns(void)
{
    return local_host->monotonic_ns(local_host->ctx);
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int local_find_program(const char *name, char *buf, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[2048];
    snprintf(dirs, sizeof(dirs), "%s:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin",
             path ? path : "");
    if (strchr(name, '/') != NULL) {
        snprintf(buf, size, "%s", name);
        return access(buf, X_OK) == 0 ? 0 : -1;
    }
    char *save = NULL;
    for (char *dir = strtok_r(dirs, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        if (dir[0] != '/')
            continue;
        int n = snprintf(buf, size, "%s/%s", dir, name);
        struct stat sb;
        if (n > 0 && (size_t)n < size && stat(buf, &sb) == 0 && S_ISREG(sb.st_mode) &&
            access(buf, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* ---- Commands ----------------------------------------------------------------- */

static void command_line(const char *const *argv, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; argv[i] != NULL && n + 1 < size; i++) {
        const char *word = argv[i];
        if (i == 0 && strrchr(word, '/') != NULL)
            word = strrchr(word, '/') + 1;
        int w = snprintf(buf + n, size - n, i ? " %s" : "%s", word);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

/* The message of a failed command: its stderr, one line. */
static void trim_stderr(const char *text, char *buf, size_t size)
{
    size_t n = 0;
    int space = 0;
    for (const char *p = text ? text : ""; *p && n + 1 < size; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < size) {
            buf[n++] = ';';
            buf[n++] = ' ';
        }
        space = 0;
        buf[n++] = *p;
    }
    buf[n] = '\0';
}

/* A command running with pipes on its stdin (when it has input), stdout and stderr. */
struct child {
    pid_t pid;
    int in_fd, out_fd, err_fd; /* our ends; -1 once closed */
};

static void close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Starts argv with the environment command_env; 0, or an errno. */
static int child_start(const char *const *argv, int with_input, struct child *ch)
{
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    if ((with_input && pipe2(in_pipe, O_CLOEXEC) != 0) || pipe2(out_pipe, O_CLOEXEC) != 0 ||
        pipe2(err_pipe, O_CLOEXEC) != 0) {
        int e = errno;
        close_pair(in_pipe);
        close_pair(out_pipe);
        close_pair(err_pipe);
        return e;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    if (with_input)
        posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc =
        posix_spawn(&ch->pid, argv[0], &fa, &attr, (char *const *)(uintptr_t)argv, command_env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    /* The child's ends are its own now. */
    if (in_pipe[0] >= 0)
        close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    ch->in_fd = in_pipe[1];
    ch->out_fd = out_pipe[0];
    ch->err_fd = err_pipe[0];
    if (rc != 0) {
        int ours[3] = {ch->in_fd, ch->out_fd, ch->err_fd};
        for (int i = 0; i < 3; i++)
            if (ours[i] >= 0)
                close(ours[i]);
    }
    return rc;
}

/* One poll round's reads: stdout into out (when not NULL), stderr (its first
 * 4 KiB) into err; a pipe at its end is closed. */
static void child_read(struct child *ch, const struct pollfd *fds, int slot_out, int slot_err,
                       struct kumo_driver_kit_buf *out, struct kumo_driver_kit_buf *err)
{
    char chunk[4096];
    int *readers[2] = {&ch->out_fd, &ch->err_fd};
    int slots[2] = {slot_out, slot_err};
    for (int r = 0; r < 2; r++) {
        if (slots[r] < 0 || !fds[slots[r]].revents)
            continue;
        ssize_t got = read(*readers[r], chunk, sizeof(chunk));
        if (got > 0) {
            if (r == 0 && out != NULL)
                kumo_driver_kit_buf_add(out, chunk, (size_t)got);
            else if (r == 1 && err->len < 4096)
                kumo_driver_kit_buf_add(err, chunk, (size_t)got);
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
            close(*readers[r]);
            *readers[r] = -1;
        }
    }
}

/* Feeds input to stdin and drains stdout and stderr until both close or the
 * deadline (returns 1 then, with every pipe closed). */
static int child_pump(struct child *ch, const char *input, int64_t deadline_ns,
                      struct kumo_driver_kit_buf *out, struct kumo_driver_kit_buf *err)
{
    size_t fed = 0, input_len = input ? strlen(input) : 0;
    int timed_out = 0;
    if (ch->in_fd >= 0)
        fcntl(ch->in_fd, F_SETFL, O_NONBLOCK);
    if (ch->in_fd >= 0 && input_len == 0) {
        close(ch->in_fd);
        ch->in_fd = -1;
    }
    while (ch->out_fd >= 0 || ch->err_fd >= 0) {
        struct pollfd fds[3];
        int n = 0, slot_in = -1, slot_out = -1, slot_err = -1;
        if (ch->in_fd >= 0)
            fds[slot_in = n++] = (struct pollfd){ch->in_fd, POLLOUT, 0};
        if (ch->out_fd >= 0)
            fds[slot_out = n++] = (struct pollfd){ch->out_fd, POLLIN, 0};
        if (ch->err_fd >= 0)
            fds[slot_err = n++] = (struct pollfd){ch->err_fd, POLLIN, 0};
        int64_t left = deadline_ns - now_ns();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int ms = left / 1000000 > LOCAL_POLL_MAX_MS ? LOCAL_POLL_MAX_MS : (int)(left / 1000000) + 1;
        if (poll(fds, (nfds_t)n, ms) < 0 && errno != EINTR)
            break;
        if (slot_in >= 0 && fds[slot_in].revents) {
            ssize_t w = write(ch->in_fd, input + fed, input_len - fed);
            if (w > 0)
                fed += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || fed == input_len) {
                close(ch->in_fd);
                ch->in_fd = -1;
            }
        }
        child_read(ch, fds, slot_out, slot_err, out, err);
    }
    int ours[3] = {ch->in_fd, ch->out_fd, ch->err_fd};
    for (int i = 0; i < 3; i++)
        if (ours[i] >= 0)
            close(ours[i]);
    return timed_out;
}

/* The result of a finished (or, when timed_out, killed) command. */
static kumo_driver_code child_outcome(struct child *ch, int timed_out, const char *what,
                                      const char *cmd, const char *err_text,
                                      struct kumo_driver_diag *diag)
{
    if (timed_out)
        kill(ch->pid, SIGKILL);
    int status = 0, waited;
    while ((waited = waitpid(ch->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (timed_out)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_TIMEOUT, "Timeout",
            "%s: `%s` did not finish by the deadline (killed; it may have applied "
            "part of its change)",
            what, cmd);
    if (waited < 0) /* ECHILD: this process ignores SIGCHLD, the status is gone */
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INTERNAL, "CommandFailed",
            "%s: the exit status of `%s` is unknown (SIGCHLD is ignored in this "
            "process): %s",
            what, cmd, err_text);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return KUMO_DRIVER_OK;
    kumo_driver_code code = strstr(err_text, "Operation not permitted") != NULL
                                ? KUMO_DRIVER_UNAUTHORIZED
                                : KUMO_DRIVER_INTERNAL;
    if (WIFSIGNALED(status))
        return kumo_driver_kit_fail(diag, code, "CommandFailed",
                                    "%s: `%s` was killed by signal %d: %s", what, cmd,
                                    WTERMSIG(status), err_text);
    return kumo_driver_kit_fail(diag, code, "CommandFailed", "%s: `%s` failed (exit %d): %s", what,
                                cmd, WEXITSTATUS(status), err_text);
}

kumo_driver_code local_run(const char *const *argv, const char *input, int64_t deadline_ns,
                           const char *what, struct kumo_driver_kit_buf *out,
                           struct kumo_driver_diag *diag)
{
    char cmd[200], err_text[300];
    struct child ch;
    command_line(argv, cmd, sizeof(cmd));
    if (now_ns() >= deadline_ns)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "Timeout",
                                    "%s: the deadline passed before `%s` ran", what, cmd);
    int e = child_start(argv, input != NULL, &ch);
    if (e != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "CommandFailed",
                                    "%s: cannot run `%s`: %s", what, cmd, strerror(e));
    struct kumo_driver_kit_buf err;
    kumo_driver_kit_buf_init(&err);
    int timed_out = child_pump(&ch, input, deadline_ns, out, &err);
    trim_stderr(err.data, err_text, sizeof(err_text));
    kumo_driver_kit_buf_fini(&err);
    return child_outcome(&ch, timed_out, what, cmd, err_text, diag);
}

kumo_driver_code local_ip_batch(struct kumo_driver_conn *c, const char *netns, const char *lines,
                                int64_t deadline_ns, const char *what,
                                struct kumo_driver_diag *diag)
{
    const char *with_ns[] = {c->ip_path, "-n", netns, "-batch", "-", NULL};
    const char *without[] = {c->ip_path, "-batch", "-", NULL};
    kumo_driver_code rc =
        local_run(netns ? with_ns : without, lines, deadline_ns, what, NULL, diag);
    if (rc == KUMO_DRIVER_OK || rc == KUMO_DRIVER_TIMEOUT || diag == NULL)
        return rc;
    /* Name the batch line that failed ("Command failed -:N"). */
    const char *at = strstr(diag->message, "Command failed -:");
    long line = at ? strtol(at + 17, NULL, 10) : 0;
    const char *p = lines;
    for (long i = 1; p != NULL && i < line; i++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (line > 0 && p != NULL) {
        size_t used = strlen(diag->message);
        int len = (int)strcspn(p, "\n");
        snprintf(diag->message + used, sizeof(diag->message) - used, " (batch line `%.*s`)", len,
                 p);
    }
    return rc;
}

kumo_driver_code local_ip(struct kumo_driver_conn *c, int64_t deadline_ns, const char *what,
                          struct kumo_driver_diag *diag, ...)
{
    const char *argv[24];
    size_t n = 0;
    argv[n++] = c->ip_path;
    va_list ap;
    va_start(ap, diag);
    for (const char *word = va_arg(ap, const char *); word != NULL && n + 1 < 24;
         word = va_arg(ap, const char *))
        argv[n++] = word;
    va_end(ap);
    argv[n] = NULL;
    return local_run(argv, NULL, deadline_ns, what, NULL, diag);
}

/* ---- Processes ------------------------------------------------------------------ */

/* Reads /proc/PID/stat: state letter and start time. 0 or -1. */
static int read_stat(int64_t pid, char *state, uint64_t *start)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char *p = strrchr(text, ')');
    if (p == NULL)
        return -1;
    p++;
    /* Fields after the command: 3 state, ... 22 starttime. */
    char *save = NULL;
    int field = 3;
    for (char *tok = strtok_r(p, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        if (field == 3)
            *state = tok[0];
        if (field == 22) {
            *start = strtoull(tok, NULL, 10);
            return 0;
        }
        field++;
    }
    return -1;
}

uint64_t local_pid_start(int64_t pid)
{
    char state;
    uint64_t start = 0;
    if (pid <= 0 || read_stat(pid, &state, &start) != 0)
        return 0;
    return start;
}

int local_pid_alive(int64_t pid, uint64_t start)
{
    char state = 0;
    uint64_t now_start = 0;
    if (pid <= 0 || read_stat(pid, &state, &now_start) != 0)
        return 0;
    return now_start == start && state != 'Z' && state != 'X';
}

int local_pid_stop(int64_t pid, uint64_t start, int hard, int64_t grace_ms, int64_t deadline_ns)
{
    if (!local_pid_alive(pid, start))
        return 0;
    int64_t kill_at = hard ? 0 : now_ns() + grace_ms * 1000000;
    int killed = 0;
    if (!hard) {
        kill((pid_t)pid, SIGTERM);
        kill(-(pid_t)pid, SIGTERM);
    }
    for (;;) {
        if (!local_pid_alive(pid, start))
            return 0;
        int64_t now = now_ns();
        if (!killed && (now >= kill_at || now >= deadline_ns - LOCAL_KILL_MARGIN_NS)) {
            kill((pid_t)pid, SIGKILL);
            kill(-(pid_t)pid, SIGKILL);
            killed = 1;
        }
        if (now >= deadline_ns)
            return -1;
        nap_ms(LOCAL_POLL_MS);
    }
}

/* SIGKILLs every process (but this one) whose network namespace is `want`;
 * returns how many were signalled. A zombie has left its namespaces, so it is
 * not counted. */
static int kill_in_netns(const struct stat *want)
{
    char ns_path[64];
    struct stat have;
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 0;
    int count = 0;
    pid_t self = getpid();
    for (struct dirent *e = readdir(proc); e != NULL; e = readdir(proc)) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == (long)self)
            continue;
        snprintf(ns_path, sizeof(ns_path), "/proc/%ld/ns/net", pid);
        if (stat(ns_path, &have) == 0 && have.st_ino == want->st_ino &&
            have.st_dev == want->st_dev) {
            kill((pid_t)pid, SIGKILL);
            count++;
        }
    }
    closedir(proc);
    return count;
}

int local_netns_kill_all(const char *netns, int64_t deadline_ns)
{
    char path[LOCAL_NAME_MAX + 16];
    struct stat want;
    snprintf(path, sizeof(path), "/run/netns/%s", netns);
    if (stat(path, &want) != 0)
        return 0;
    /* SIGKILL is not instant: a process keeps its namespace until it has
     * exited, so scan again until a pass finds no one left. */
    while (kill_in_netns(&want) > 0) {
        if (now_ns() >= deadline_ns)
            return -1;
        nap_ms(LOCAL_POLL_MS);
    }
    return 0;
}

/* ---- Starting the machine's process ------------------------------------------- */

struct report {
    int32_t tag; /* 'P': pid, 'E': error */
    int32_t err;
    int64_t pid;
    char step[32];
};

/* Async-signal-safe: one write of a fixed record. */
static void report(int fd, int32_t tag, int32_t err, int64_t pid, const char *step)
{
    struct report r;
    memset(&r, 0, sizeof(r));
    r.tag = tag;
    r.err = err;
    r.pid = pid;
    for (size_t i = 0; step && step[i] && i + 1 < sizeof(r.step); i++)
        r.step[i] = step[i];
    ssize_t ignored = write(fd, &r, sizeof(r));
    (void)ignored;
}

/* The init of the machine: runs in the grandchild, never returns. */
static void become_init(const struct local_spawn *s, int log_fd, int null_fd, int fd)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    setsid();
    if (s->isolate && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        report(fd, 'E', errno, 0, "mount /proc");
        _exit(126);
    }
    if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) {
        report(fd, 'E', errno, 0, "dup2");
        _exit(126);
    }
    if (chdir("/") != 0) {
        report(fd, 'E', errno, 0, "chdir /");
        _exit(126);
    }
#ifdef SYS_close_range
    /* Nothing of kumod's survives exec (the report pipe is CLOEXEC too). */
    syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
#endif
    execve(s->path, s->argv, s->envp);
    report(fd, 'E', errno, 0, "exec");
    _exit(127);
}

/* Closes every descriptor from 3 up but the n in keep (async-signal-safe). A
 * forked copy of the host's descriptors would hold the host's flock()s (kumod's
 * store lock, the state lock) until it execs or exits, so a kumod killed at
 * that moment could not start again at once. */
static void close_all_but(int *keep, int n)
{
#ifdef SYS_close_range
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned from = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < from)
            continue;
        if ((unsigned)keep[i] > from)
            syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
#else
    (void)keep;
    (void)n;
#endif
}

/* The helper: runs in the child, never returns. */
static void helper(const struct local_spawn *s, int net_fd, const int *cgroup_fds, int log_fd,
                   int null_fd, int fd)
{
    int keep[6] = {net_fd, cgroup_fds[0], cgroup_fds[1], log_fd, null_fd, fd};
    close_all_but(keep, 6);
    if (setns(net_fd, CLONE_NEWNET) != 0) {
        report(fd, 'E', errno, 0, "setns");
        _exit(1);
    }
    if (s->isolate) {
        if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) {
            report(fd, 'E', errno, 0, "unshare");
            _exit(1);
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
            report(fd, 'E', errno, 0, "mount --make-rslave /");
            _exit(1);
        }
        /* /sys shows the machine's network devices, as `ip netns exec` does. */
        if (umount2("/sys", MNT_DETACH) == 0)
            mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    }
    for (int i = 0; i < 2; i++) {
        if (cgroup_fds[i] >= 0 && write(cgroup_fds[i], "0", 1) != 1) {
            report(fd, 'E', errno, 0, "join cgroup");
            _exit(1);
        }
    }
    pid_t pid = fork();
    if (pid < 0) {
        report(fd, 'E', errno, 0, "fork");
        _exit(1);
    }
    if (pid == 0)
        become_init(s, log_fd, null_fd, fd);
    report(fd, 'P', 0, pid, "");
    _exit(0);
}

/* The files the helper needs, opened before the fork (-1: not open). */
struct spawn_fds {
    int net, log, null, cgroups[2], pipe[2];
};

static void spawn_fds_close(struct spawn_fds *f)
{
    int all[] = {f->net, f->log, f->null, f->cgroups[0], f->cgroups[1], f->pipe[0], f->pipe[1]};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i] >= 0)
            close(all[i]);
}

/* Opens the namespace, the log, /dev/null, the cgroups and the report pipe; 0 or -1 with err. */
static int spawn_fds_open(const struct local_spawn *s, struct spawn_fds *f, char *err,
                          size_t err_size)
{
    char path[LOCAL_NAME_MAX + 16];
    *f = (struct spawn_fds){-1, -1, -1, {-1, -1}, {-1, -1}};
    snprintf(path, sizeof(path), "/run/netns/%s", s->netns);
    if ((f->net = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, err_size, "opening %s: %s", path, strerror(errno));
        return -1;
    }
    if ((f->log = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, err_size, "opening the log %s: %s", s->log_path, strerror(errno));
        return -1;
    }
    if ((f->null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        snprintf(err, err_size, "opening /dev/null: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (s->cgroup_procs[i] == NULL || s->cgroup_procs[i][0] == '\0')
            continue;
        if ((f->cgroups[i] = open(s->cgroup_procs[i], O_WRONLY | O_CLOEXEC)) < 0) {
            snprintf(err, err_size, "opening %s: %s", s->cgroup_procs[i], strerror(errno));
            return -1;
        }
    }
    if (pipe2(f->pipe, O_CLOEXEC) != 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads the helper's reports until EOF (exec closed the pipe) or the deadline:
 * the last pid report into got_pid, the last error into got_err. */
static void read_reports(int fd, int64_t deadline_ns, struct report *got_pid,
                         struct report *got_err)
{
    struct report r;
    size_t have = 0;
    memset(got_pid, 0, sizeof(*got_pid));
    memset(got_err, 0, sizeof(*got_err));
    for (;;) {
        int64_t left = deadline_ns - now_ns();
        if (left <= 0)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        int ms = left / 1000000 > LOCAL_POLL_MAX_MS ? LOCAL_POLL_MAX_MS : (int)(left / 1000000) + 1;
        if (poll(&pfd, 1, ms) <= 0)
            continue;
        ssize_t n = read(fd, (char *)&r + have, sizeof(r) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        if (have < sizeof(r))
            continue;
        have = 0;
        *(r.tag == 'P' ? got_pid : got_err) = r;
    }
}

int local_spawn_start(const struct local_spawn *s, int64_t deadline_ns, int64_t *pid_out,
                      uint64_t *start_out, char *err, size_t err_size)
{
    struct spawn_fds f;
    struct report got_pid, got_err;
    *pid_out = 0;
    *start_out = 0;
    if (spawn_fds_open(s, &f, err, err_size) != 0) {
        spawn_fds_close(&f);
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, err_size, "fork: %s", strerror(errno));
        spawn_fds_close(&f);
        return -1;
    }
    if (child == 0)
        helper(s, f.net, f.cgroups, f.log, f.null, f.pipe[1]);
    close(f.pipe[1]);
    f.pipe[1] = -1;
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
        ;
    read_reports(f.pipe[0], deadline_ns, &got_pid, &got_err);
    spawn_fds_close(&f);
    if (got_err.tag == 'E') {
        snprintf(err, err_size, "starting %s in network namespace %s: %s: %s", s->path, s->netns,
                 got_err.step, strerror(got_err.err));
        if (got_pid.pid > 0) /* the init failed after the helper reported it: reap nothing */
            kill((pid_t)got_pid.pid, SIGKILL);
        return -1;
    }
    if (got_pid.pid <= 0) {
        snprintf(err, err_size, "starting %s in network namespace %s: no answer by the deadline",
                 s->path, s->netns);
        return deadline_ns <= now_ns() ? -2 : -1;
    }
    *pid_out = got_pid.pid;
    *start_out = local_pid_start(got_pid.pid);
    if (*start_out == 0) {
        snprintf(err, err_size, "%s exited at once (see %s)", s->path, s->log_path);
        return -1;
    }
    return 0;
}
