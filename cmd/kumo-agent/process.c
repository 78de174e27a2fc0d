/*
 * process.c - the processes of App instances: start (files, environment,
 * fork+exec in a session of its own), restart with backoff by policy, stop
 * (SIGTERM to the process group, SIGKILL after a grace period), reap.
 *
 * Exec errors travel back from the child over a CLOEXEC pipe, so an instance
 * whose command cannot run says why (`exec "x": No such file or directory`)
 * instead of looking like a process that exited 127. Between fork and exec
 * the child calls only async-signal-safe functions: nats.c has threads.
 *
 * Invariants: in->pid != 0 exactly while a process of the instance lives
 * (not yet reaped); restart_at != 0 only while pid == 0; the agent kills a
 * whole process group when its leader ends, so nothing of an instance
 * outlives it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "cmd/kumo-agent/internal.h"

/* ---- spawning ----------------------------------------------------------------------------- */

typedef struct child_failure {
    int stage; /* 1 chdir, 2 exec */
    int err;
} child_failure;

static const char *env_get(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* argv[0] through the PATH of the new environment; -1 when no directory has it. */
static int resolve(const char *name, char *const *env, char *out, size_t size)
{
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return 0;
    }
    const char *path = env_get(env, "PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        struct stat st;
        if (snprintf(out, size, "%.*s/%s", (int)n, n ? path : ".", name) < (int)size &&
            stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        path += n + (end != NULL);
    }
    return -1;
}

static void child_report(int fd, int stage, int err)
{
    child_failure f = {stage, err};
    ssize_t n = write(fd, &f, sizeof(f));
    (void)n;
    _exit(127);
}

int agent_spawn(const agent_spawn_spec *s, pid_t *pid_out, kumo_diag *diag)
{
    char path[4096];
    if (resolve(s->argv[0], s->env, path, sizeof(path)) != 0) {
        kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, "exec \"%s\": %s", s->argv[0], strerror(ENOENT));
        return -1;
    }
    int out = open(s->log_path ? s->log_path : "/dev/null",
                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2] = {-1, -1};
    if (out < 0 || in < 0 || pipe2(report, O_CLOEXEC) != 0) {
        kumo_diag_set(diag, KUMO_ERROR_IO, "log %s: %s", s->log_path ? s->log_path : "/dev/null",
                      strerror(errno));
        if (out >= 0)
            close(out);
        if (in >= 0)
            close(in);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigaction(SIGPIPE, &dfl, NULL);
        setsid();
        if (chdir(s->workdir) != 0)
            child_report(report[1], 1, errno);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        /* Whatever else is open (nats.c's socket among them) ends at exec. */
        syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
        execve(path, s->argv, s->env);
        child_report(report[1], 2, errno);
    }
    int fork_errno = errno;
    close(report[1]);
    close(out);
    close(in);
    if (pid < 0) {
        close(report[0]);
        kumo_diag_set(diag, KUMO_ERROR_IO, "fork: %s", strerror(fork_errno));
        return -1;
    }
    child_failure f;
    ssize_t n;
    do
        n = read(report[0], &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof(f)) {
        waitpid(pid, NULL, 0);
        if (f.stage == 1)
            kumo_diag_set(diag, KUMO_ERROR_IO, "working directory \"%s\": %s", s->workdir,
                          strerror(f.err));
        else
            kumo_diag_set(diag, KUMO_ERROR_IO, "exec \"%s\": %s", s->argv[0], strerror(f.err));
        return -1;
    }
    *pid_out = pid;
    return 0;
}

/* ---- instance start ----------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    char *out = NULL;
    return asprintf(&out, "%s/%s", a, b) < 0 ? NULL : out;
}

/* workdir, log path and environment of the instance's current spec. */
static int prepare(agent *a, agent_instance *in)
{
    const agent_spec *c = in->spec;
    const char *app = in->app->name; /* "<ns>/<name>" */
    char base[2048], buf[2048];
    snprintf(base, sizeof(base), "%s/apps/%s", a->data_dir, app);
    free(in->workdir);
    in->workdir = c->working_dir[0] == '/'
                      ? strdup(c->working_dir)
                      : path_join(base, c->working_dir[0] ? c->working_dir : c->name);
    const char *slash = strchr(app, '/');
    snprintf(buf, sizeof(buf), "%s/logs/%.*s_%s_%s_%d.log", a->data_dir, (int)(slash - app), app,
             slash + 1, c->name, in->replica);
    free(in->log_path);
    in->log_path = strdup(buf);

    size_t base_n = 0;
    while (a->base_env[base_n])
        base_n++;
    char **env = calloc(base_n + c->n_env + 4, sizeof(char *));
    if (env == NULL || in->workdir == NULL || in->log_path == NULL) {
        free(env);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < base_n; i++) {
        const char *eq = strchr(a->base_env[i], '=');
        int overridden = 0;
        for (size_t j = 0; j < c->n_env && eq; j++)
            overridden |= strlen(c->env[j]->name) == (size_t)(eq - a->base_env[i]) &&
                          strncmp(c->env[j]->name, a->base_env[i], eq - a->base_env[i]) == 0;
        if (!overridden)
            env[k++] = strdup(a->base_env[i]);
    }
    for (size_t j = 0; j < c->n_env; j++)
        if (asprintf(&env[k++], "%s=%s", c->env[j]->name, c->env[j]->value) < 0)
            env[k - 1] = NULL;
    if (asprintf(&env[k++], "KUMO_APP=%s", app) < 0)
        env[k - 1] = NULL;
    if (asprintf(&env[k++], "KUMO_COMPONENT=%s", c->name) < 0)
        env[k - 1] = NULL;
    if (asprintf(&env[k++], "KUMO_REPLICA=%d", in->replica) < 0)
        env[k - 1] = NULL;
    int ok = 1;
    for (size_t i = 0; i < k; i++)
        ok &= env[i] != NULL;
    if (!ok) {
        for (size_t i = 0; i < k; i++)
            free(env[i]);
        free(env);
        return -1;
    }
    agent_strv_free(in->env);
    in->env = env;
    return 0;
}

static int write_one(const char *path, const Kumo__V1alpha1__AppFile *f, kumo_diag *diag)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (agent_mkdirs(dir, 0755) != 0)
            goto fail;
    }
    int mode = agent_file_mode(f->mode);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        goto fail;
    size_t len = strlen(f->content), done = 0;
    while (done < len) {
        ssize_t n = write(fd, f->content + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            goto fail;
        }
        done += (size_t)n;
    }
    if (fchmod(fd, (mode_t)mode) != 0 || close(fd) != 0)
        goto fail;
    return 0;
fail:
    kumo_diag_set(diag, KUMO_ERROR_IO, "file \"%s\": %s", path, strerror(errno));
    return -1;
}

static int write_files(agent_instance *in, kumo_diag *diag)
{
    if (agent_mkdirs(in->workdir, 0755) != 0) {
        kumo_diag_set(diag, KUMO_ERROR_IO, "working directory \"%s\": %s", in->workdir,
                      strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < in->spec->n_files; i++) {
        const Kumo__V1alpha1__AppFile *f = in->spec->files[i];
        char *path = f->path[0] == '/' ? strdup(f->path) : path_join(in->workdir, f->path);
        int rc = path ? write_one(path, f, diag) : -1;
        if (path == NULL)
            kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        free(path);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int restarts_after(const agent_instance *in, int failed)
{
    switch (in->spec->restart_policy) {
    case KUMO__V1ALPHA1__APP_COMPONENT__RESTART_POLICY__Never:
        return 0;
    case KUMO__V1ALPHA1__APP_COMPONENT__RESTART_POLICY__OnFailure:
        return failed;
    default:
        return 1;
    }
}

/* The process ended (or never started) for `why`: restart later, or stay down. */
static void settle_exit(agent *a, agent_instance *in, int failed, const char *why, int64_t ran_ms)
{
    int64_t now = agent_now();
    in->phase = failed ? KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Failed
                       : KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Stopped;
    if (!restarts_after(in, failed)) {
        snprintf(in->last_error, sizeof(in->last_error), "%s", failed ? why : "");
        agent_changed(a);
        return;
    }
    if (ran_ms >= AGENT_BACKOFF_RESET_MS)
        in->backoff_ms = AGENT_BACKOFF_FIRST_MS;
    int64_t delay = in->backoff_ms;
    in->backoff_ms = delay * 2 > AGENT_BACKOFF_MAX_MS ? AGENT_BACKOFF_MAX_MS : delay * 2;
    in->restart_at = now + delay;
    in->phase = KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Failed;
    if (delay % 1000 == 0)
        snprintf(in->last_error, sizeof(in->last_error), "%s; restarting in %lld s", why,
                 (long long)(delay / 1000));
    else
        snprintf(in->last_error, sizeof(in->last_error), "%s; restarting in %.1f s", why,
                 delay / 1000.0);
    agent_changed(a);
}

void agent_instance_start(agent *a, agent_instance *in)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    int64_t now = agent_now();
    in->restart_at = 0;
    if (prepare(a, in) != 0) {
        settle_exit(a, in, 1, "out of memory", 0);
        return;
    }
    /* The wait is over: "exited with code 3; restarting in 2 s" -> "exited with code 3". */
    char *restarting = strstr(in->last_error, "; restarting in ");
    if (restarting)
        *restarting = '\0';
    size_t argc = in->spec->n_command + in->spec->n_args;
    char **argv = calloc(argc + 1, sizeof(char *));
    int rc = -1;
    if (argv == NULL) {
        kumo_diag_set(&diag, KUMO_ERROR_NOMEM, "out of memory");
    } else if (write_files(in, &diag) == 0) {
        for (size_t i = 0; i < argc; i++)
            argv[i] = i < in->spec->n_command ? in->spec->command[i]
                                              : in->spec->args[i - in->spec->n_command];
        agent_spawn_spec s = {argv, in->env, in->workdir, in->log_path};
        rc = agent_spawn(&s, &in->pid, &diag);
    }
    free(argv);
    agent_changed(a);
    if (rc != 0) {
        in->pid = 0;
        KUMO_LOG_WARN(AGENT_LOG, "instance cannot start",
                      "app=%s component=%s replica=%d error=\"%s\"", in->app->name, in->spec->name,
                      in->replica, diag.message);
        settle_exit(a, in, 1, diag.message, 0);
        kumo_diag_fini(&diag);
        return;
    }
    kumo_diag_fini(&diag);
    in->phase = KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Starting;
    in->ready = 0;
    in->started = now;
    in->start_wall_ns = agent_wall_ns();
    in->nocheck_ready = in->spec->health_check ? 0 : now + AGENT_NOCHECK_READY_MS;
    agent_health_reset(in, now);
    KUMO_LOG_INFO(AGENT_LOG, "instance started", "app=%s component=%s replica=%d pid=%d",
                  in->app->name, in->spec->name, in->replica, (int)in->pid);
}

/* The replacement spec becomes the instance's spec: a new instance in the old slot. */
static void take_next_spec(agent_instance *in)
{
    kumo_codec_message_free(&in->spec->base);
    free(in->spec_bytes);
    in->spec = in->next_spec;
    in->spec_bytes = in->next_bytes;
    in->spec_len = in->next_len;
    in->generation = in->next_generation;
    in->next_spec = NULL;
    in->next_bytes = NULL;
    in->next_len = 0;
    in->restarts = 0;
    in->exit_code = 0;
    in->ever_ready = 0;
    in->backoff_ms = AGENT_BACKOFF_FIRST_MS;
    in->last_error[0] = '\0';
}

/* No process left: forget, stay stopped, or start the replacement. May free `in`. */
static void settle_stopped(agent *a, agent_instance *in)
{
    in->restart_at = 0;
    in->stop_deadline = 0;
    in->ready = 0;
    agent_changed(a);
    if (in->removed) {
        KUMO_LOG_INFO(AGENT_LOG, "instance removed", "app=%s component=%s replica=%d",
                      in->app->name, in->spec->name, in->replica);
        agent_instance_forget(a, in);
    } else if (a->shutting_down) {
        in->phase = KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Stopped;
    } else if (in->next_spec) {
        take_next_spec(in);
        agent_instance_start(a, in);
    }
}

void agent_instance_stop(agent *a, agent_instance *in)
{
    in->restart_at = 0;
    in->nocheck_ready = 0;
    if (in->pid <= 0) {
        settle_stopped(a, in);
        return;
    }
    agent_health_abort(in);
    if (in->stop_deadline != 0)
        return; /* already on its way */
    kill(-in->pid, SIGTERM);
    in->stop_deadline = agent_now() + AGENT_STOP_GRACE_MS;
    in->phase = KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Stopping;
    in->ready = 0;
    agent_changed(a);
}

/* ---- exits ---------------------------------------------------------------------------- */

static void on_exit_status(agent *a, agent_instance *in, int status)
{
    int64_t ran = agent_now() - in->started;
    pid_t pid = in->pid;
    in->pid = 0;
    kill(-pid, SIGKILL); /* whatever the leader left in its group */
    in->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    in->ready = 0;
    in->nocheck_ready = 0;
    agent_health_abort(in);
    char why[96];
    if (WIFEXITED(status))
        snprintf(why, sizeof(why), "exited with code %d", WEXITSTATUS(status));
    else
        snprintf(why, sizeof(why), "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    KUMO_LOG_INFO(AGENT_LOG, "instance ended",
                  "app=%s component=%s replica=%d pid=%d status=\"%s\"", in->app->name,
                  in->spec->name, in->replica, (int)pid, why);
    if (in->stop_deadline != 0 || in->removed || a->shutting_down || in->next_spec) {
        settle_stopped(a, in);
        return;
    }
    settle_exit(a, in, !(WIFEXITED(status) && WEXITSTATUS(status) == 0), why, ran);
}

void agent_reap(agent *a)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        agent_instance *owner = NULL, *prober = NULL;
        for (agent_app *app = a->apps; app && !owner && !prober; app = app->next)
            for (agent_instance *in = app->instances; in; in = in->next) {
                if (in->pid == pid)
                    owner = in;
                else if (in->health.pid == pid)
                    prober = in;
                else
                    continue;
                break;
            }
        if (owner)
            on_exit_status(a, owner, status);
        else if (prober)
            agent_health_on_exit(a, prober, status, agent_now());
        /* else an orphan the agent adopted (PID 1 or subreaper): reaped, nothing more. */
    }
}

void agent_processes_tick(agent *a, int64_t now, int64_t *deadline)
{
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next) {
            if (in->restart_at && now >= in->restart_at) {
                in->restarts++;
                KUMO_LOG_INFO(AGENT_LOG, "instance restarting",
                              "app=%s component=%s replica=%d restarts=%d", app->name,
                              in->spec->name, in->replica, in->restarts);
                agent_instance_start(a, in);
            }
            agent_deadline(deadline, in->restart_at);
            if (in->stop_deadline && in->pid > 0 && now >= in->stop_deadline) {
                KUMO_LOG_WARN(AGENT_LOG, "instance ignored SIGTERM; killing it",
                              "app=%s component=%s replica=%d pid=%d", app->name, in->spec->name,
                              in->replica, (int)in->pid);
                kill(-in->pid, SIGKILL);
                in->stop_deadline = now + AGENT_STOP_GRACE_MS; /* again, if need be */
            }
            agent_deadline(deadline, in->stop_deadline);
            if (in->nocheck_ready && in->pid > 0 && now >= in->nocheck_ready) {
                in->nocheck_ready = 0;
                in->ready = in->ever_ready = 1;
                in->phase = KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Running;
                in->last_error[0] = '\0';
                agent_changed(a);
            }
            agent_deadline(deadline, in->nocheck_ready);
        }
}

void agent_logs_trim(agent *a)
{
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next) {
            struct stat st;
            if (in->pid > 0 && in->log_path && stat(in->log_path, &st) == 0 &&
                st.st_size > AGENT_LOG_MAX_BYTES && truncate(in->log_path, 0) == 0)
                KUMO_LOG_INFO(AGENT_LOG, "log started over", "path=%s", in->log_path);
        }
}

int agent_processes_alive(const agent *a)
{
    int n = 0;
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next)
            n += in->pid > 0;
    return n;
}
