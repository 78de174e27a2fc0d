/*
 * health.c - readiness probes of instances, run from the main loop without
 * ever blocking it: HTTP and TCP probes are non-blocking sockets polled with
 * the loop's other descriptors and a deadline; a Command probe is a child
 * process (reaped by the loop) killed at its deadline. Plain sockets: an
 * HTTP probe is one "GET <path> HTTP/1.0" and the status line of the answer.
 *
 * Readiness is not liveness: a failing probe makes an instance not ready, it
 * never restarts it. Until an instance is first ready it is probed every
 * AGENT_UNREADY_PROBE_MS, so that readiness is seen quickly; then every
 * interval_seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include <poll.h>

#include "apis/log/log.h"
#include "cmd/kumo-agent/internal.h"

enum { HEALTH_IDLE = 0, HEALTH_CONNECTING, HEALTH_READING };

static int setting(int value, int fallback)
{
    return value > 0 ? value : fallback;
}

void agent_health_reset(agent_instance *in, int64_t now)
{
    agent_health_abort(in);
    const Kumo__V1alpha1__HealthCheck *h = in->spec->health_check;
    in->health.successes = in->health.failures = 0;
    in->health.next = h ? now + (int64_t)h->initial_delay_seconds * 1000 : 0;
}

void agent_health_abort(agent_instance *in)
{
    if (in->health.fd >= 0)
        close(in->health.fd);
    in->health.fd = -1;
    if (in->health.pid > 0)
        kill(-in->health.pid, SIGKILL); /* reaped by the loop as an orphan */
    in->health.pid = 0;
    in->health.stage = HEALTH_IDLE;
    in->health.deadline = 0;
    in->health.reply_len = 0;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The probe ended: count it, move ready, plan the next one. */
static void result(agent *a, agent_instance *in, int ok, const char *why, int64_t now)
{
    const Kumo__V1alpha1__HealthCheck *h = in->spec->health_check;
    if (in->health.started_ns)
        in->health.last_seconds = (double)(mono_ns() - in->health.started_ns) / 1e9;
    in->health.started_ns = 0;
    agent_health_abort(in);
    if (ok) {
        in->health.failures = 0;
        in->health.successes++;
        if (!in->ready && in->health.successes >= setting(h->success_threshold, 1)) {
            in->ready = in->ever_ready = 1;
            in->phase = KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Running;
            in->last_error[0] = '\0';
            agent_changed(a);
        }
    } else {
        in->health.successes = 0;
        in->health.failures++;
        if (in->health.failures >= setting(h->failure_threshold, 3)) {
            char text[AGENT_ERROR_SIZE];
            snprintf(text, sizeof(text), "health check: %.200s", why);
            if (in->ready || strcmp(text, in->last_error) != 0) {
                if (in->ready)
                    KUMO_LOG_WARN(AGENT_LOG, "instance not ready",
                                  "app=%s component=%s replica=%d error=\"%s\"", in->app->name,
                                  in->spec->name, in->replica, text);
                in->ready = 0;
                snprintf(in->last_error, sizeof(in->last_error), "%s", text);
                agent_changed(a);
            }
        }
    }
    /* Not ready: fast probes until the first success, and for a while after each (re)start,
     * so that a restarted server is seen ready at once; else the check's interval. */
    int fast = !in->ready && (!in->ever_ready || now - in->started < AGENT_FAST_PROBE_WINDOW_MS);
    int64_t period =
        fast ? AGENT_UNREADY_PROBE_MS : (int64_t)setting(h->interval_seconds, 2) * 1000;
    in->health.next = now + period;
}

/* "GET :8080/" as errors name the probe. */
static void describe(const Kumo__V1alpha1__HealthCheck *h, char *buf, size_t size)
{
    if (h->type == KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__HTTP)
        snprintf(buf, size, "HTTP GET :%d%s", h->port, h->path[0] ? h->path : "/");
    else
        snprintf(buf, size, "TCP :%d", h->port);
}

static void fail_errno(agent *a, agent_instance *in, int err, int64_t now)
{
    char what[160], why[AGENT_ERROR_SIZE];
    describe(in->spec->health_check, what, sizeof(what));
    const char *text = strerror(err);
    snprintf(why, sizeof(why), "%s: %c%s", what,
             text[0] >= 'A' && text[0] <= 'Z' ? text[0] - 'A' + 'a' : text[0], text + 1);
    result(a, in, 0, why, now);
}

static void start_socket(agent *a, agent_instance *in, int64_t now)
{
    const Kumo__V1alpha1__HealthCheck *h = in->spec->health_check;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_errno(a, in, errno, now);
        return;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->health.fd = fd;
    in->health.started_ns = mono_ns();
    in->health.stage = HEALTH_CONNECTING;
    in->health.deadline = now + (int64_t)setting(h->timeout_seconds, 1) * 1000;
    in->health.reply_len = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS)
        fail_errno(a, in, errno, now);
    /* Connected at once or in progress: poll reports POLLOUT either way. */
}

static void start_command(agent *a, agent_instance *in, int64_t now)
{
    const Kumo__V1alpha1__HealthCheck *h = in->spec->health_check;
    char **argv = calloc(h->n_command + 1, sizeof(char *));
    kumo_diag diag;
    kumo_diag_init(&diag);
    int rc = -1;
    if (argv) {
        memcpy(argv, h->command, h->n_command * sizeof(char *));
        agent_spawn_spec s = {argv, in->env, in->workdir, in->log_path};
        rc = agent_spawn(&s, &in->health.pid, &diag);
        free(argv);
    } else {
        kumo_diag_set(&diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    if (rc != 0) {
        in->health.pid = 0;
        result(a, in, 0, diag.message, now);
        kumo_diag_fini(&diag);
        return;
    }
    kumo_diag_fini(&diag);
    in->health.started_ns = mono_ns();
    in->health.deadline = now + (int64_t)setting(h->timeout_seconds, 1) * 1000;
}

void agent_health_tick(agent *a, agent_instance *in, int64_t now, int64_t *deadline)
{
    const Kumo__V1alpha1__HealthCheck *h = in->spec->health_check;
    if (h == NULL || in->pid <= 0 || in->stop_deadline != 0)
        return;
    if (in->health.deadline) {
        if (now < in->health.deadline) {
            agent_deadline(deadline, in->health.deadline);
            return;
        }
        char what[160], why[AGENT_ERROR_SIZE];
        if (h->type == KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__Command)
            snprintf(what, sizeof(what), "command \"%s\"", h->command[0]);
        else
            describe(h, what, sizeof(what));
        snprintf(why, sizeof(why), "%s: timed out after %d s", what,
                 setting(h->timeout_seconds, 1));
        result(a, in, 0, why, now);
    }
    if (now >= in->health.next) {
        if (h->type == KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__Command)
            start_command(a, in, now);
        else
            start_socket(a, in, now);
    }
    agent_deadline(deadline, in->health.deadline ? in->health.deadline : in->health.next);
}

short agent_health_events(const agent_instance *in)
{
    return in->health.stage == HEALTH_CONNECTING ? POLLOUT : POLLIN;
}

static void on_http_reply(agent *a, agent_instance *in, int64_t now)
{
    const Kumo__V1alpha1__HealthCheck *h = in->spec->health_check;
    char what[160], why[AGENT_ERROR_SIZE];
    describe(h, what, sizeof(what));
    in->health.reply[in->health.reply_len] = '\0';
    int code = 0;
    if (sscanf(in->health.reply, "HTTP/%*d.%*d %d", &code) != 1 || code < 100 || code > 999) {
        snprintf(why, sizeof(why), "%s: not an HTTP answer", what);
        result(a, in, 0, why, now);
    } else if (code >= 200 && code < 400) {
        result(a, in, 1, NULL, now);
    } else {
        snprintf(why, sizeof(why), "%s returned %d", what, code);
        result(a, in, 0, why, now);
    }
}

void agent_health_on_fd(agent *a, agent_instance *in, short revents, int64_t now)
{
    const Kumo__V1alpha1__HealthCheck *h = in->spec->health_check;
    if (in->health.fd < 0 || h == NULL)
        return;
    if (in->health.stage == HEALTH_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(in->health.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == 0 && (revents & (POLLERR | POLLHUP)) && !(revents & POLLOUT))
            err = ECONNREFUSED;
        if (err != 0) {
            fail_errno(a, in, err, now);
            return;
        }
        if (h->type == KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__TCP) {
            result(a, in, 1, NULL, now);
            return;
        }
        char request[512];
        int n = snprintf(request, sizeof(request),
                         "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nUser-Agent: kumo-agent/%s\r\n"
                         "Connection: close\r\n\r\n",
                         h->path[0] ? h->path : "/", h->port, "health");
        if (n < 0 || n >= (int)sizeof(request) ||
            send(in->health.fd, request, (size_t)n, MSG_NOSIGNAL) != n) {
            fail_errno(a, in, errno ? errno : EIO, now);
            return;
        }
        in->health.stage = HEALTH_READING;
        return;
    }
    /* Reading the status line. */
    size_t room = sizeof(in->health.reply) - 1 - in->health.reply_len;
    ssize_t n = recv(in->health.fd, in->health.reply + in->health.reply_len, room, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            fail_errno(a, in, errno, now);
        return;
    }
    in->health.reply_len += (size_t)n;
    in->health.reply[in->health.reply_len] = '\0';
    if (n == 0 || (size_t)n == room || strstr(in->health.reply, "\r\n") ||
        strchr(in->health.reply, '\n'))
        on_http_reply(a, in, now);
}

void agent_health_on_exit(agent *a, agent_instance *in, int status, int64_t now)
{
    const Kumo__V1alpha1__HealthCheck *h = in->spec->health_check;
    in->health.pid = 0;
    if (h == NULL)
        return;
    char why[AGENT_ERROR_SIZE];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        result(a, in, 1, NULL, now);
        return;
    }
    if (WIFEXITED(status))
        snprintf(why, sizeof(why), "command \"%s\" exited with code %d", h->command[0],
                 WEXITSTATUS(status));
    else
        snprintf(why, sizeof(why), "command \"%s\" killed by signal %d", h->command[0],
                 WTERMSIG(status));
    result(a, in, 0, why, now);
}
