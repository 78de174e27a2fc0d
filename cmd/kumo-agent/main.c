/*
 * main.c - kumo-agent: the agent inside each machine (docs/agent.md). It
 * reads its bootstrap (and removes it from the environment so that no child
 * inherits the machine's key), joins the agent bus, runs the App instances
 * kumod asks for and reports their status.
 *
 * This file holds the flags and the one main loop. The loop owns all state;
 * it waits in poll() on a signalfd (SIGCHLD, SIGTERM, SIGINT), the bus's
 * wake-up pipe and the health probe sockets, with a timeout that is the next
 * timer of any instance or the next status document. It may be PID 1 of the
 * machine's PID namespace, so it reaps every child, orphans included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "bus/agent/agent.h"
#include "cmd/kumo-agent/internal.h"

extern char **environ;

static const char usage[] =
    "kumo-agent - runs the App instances kumod assigns to this machine\n"
    "\n"
    "Usage: kumo-agent [flags]\n"
    "\n"
    "Flags:\n"
    "  --bootstrap FILE   the AgentBootstrap JSON (default: $KUMO_AGENT_BOOTSTRAP_FILE,\n"
    "                     else the text of $KUMO_AGENT_BOOTSTRAP)\n"
    "  --data-dir DIR     working directories and logs (default: $KUMO_AGENT_DATA_DIR,\n"
    "                     else /var/lib/kumo-agent/<machine uid>)\n"
    "  --log-level L      debug, info, warn or error (default info)\n"
    "  --version          print the version and exit\n"
    "  -h, --help         print this help and exit\n"
    "\n"
    "Environment: KUMO_MACHINE_GATEWAY (the bus host when the bootstrap has no urls),\n"
    "KUMO_MACHINE_UID, KUMO_MACHINE_NAME, KUMO_MACHINE_IP (passed on to the instances).\n"
    "SIGTERM or SIGINT stops every instance, reports, and exits 0.\n";

int64_t agent_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int64_t agent_wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void agent_deadline(int64_t *deadline, int64_t t)
{
    if (t != 0 && (*deadline == 0 || t < *deadline))
        *deadline = t;
}

void agent_changed(agent *a)
{
    int64_t soon = agent_now() + AGENT_STATUS_SOON_MS;
    if (a->status_soon == 0 || soon < a->status_soon)
        a->status_soon = soon;
}

int agent_mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return errno = ENAMETOOLONG, -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

void agent_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* ---- start-up --------------------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *grown = realloc(text, cap = len + 4096 + 1);
            if (grown == NULL)
                break;
            text = grown;
        }
        size_t n = fread(text + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (text == NULL || failed || len + 1 > cap) {
        free(text);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

/* PATH, HOME and every KUMO_MACHINE_* variable of the agent: the base of every instance. */
static char **base_env(void)
{
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    char **v = calloc(n + 3, sizeof(char *));
    if (v == NULL)
        return NULL;
    size_t k = 0;
    const char *path = getenv("PATH");
    const char *home = getenv("HOME");
    char buf[4096];
    snprintf(buf, sizeof(buf), "PATH=%s",
             path && path[0] ? path
                             : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    v[k++] = strdup(buf);
    snprintf(buf, sizeof(buf), "HOME=%s", home && home[0] ? home : "/");
    v[k++] = strdup(buf);
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "KUMO_MACHINE_", 13) == 0)
            v[k++] = strdup(*e);
    for (size_t i = 0; i < k; i++)
        if (v[i] == NULL) {
            for (size_t j = 0; j < k; j++)
                free(v[j]);
            free(v);
            return NULL;
        }
    return v;
}

typedef struct flags {
    const char *bootstrap_file;
    const char *data_dir;
} flags;

/* 0: go on; 1: exit 0 (help, version); 2: usage error. */
static int parse_flags(int argc, char **argv, flags *f)
{
    static const struct option options[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"data-dir", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'b':
            f->bootstrap_file = optarg;
            break;
        case 'd':
            f->data_dir = optarg;
            break;
        case 'l': {
            kumo_log_level level;
            if (kumo_log_level_parse(optarg, &level) != 0) {
                fprintf(stderr,
                        "kumo-agent: --log-level: unknown level \"%s\" (debug, info, "
                        "warn, error)\n",
                        optarg);
                return 2;
            }
            kumo_log_set_level(level);
            break;
        }
        case 'v':
            printf("kumo-agent %s\n", KUMO_AGENT_VERSION);
            return 1;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            fputs("Run kumo-agent --help for usage.\n", stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kumo-agent: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* Reads and checks the bootstrap, then removes it from the environment. 0 or exit code. */
static int load_bootstrap(agent *a, const flags *f)
{
    const char *file = f->bootstrap_file;
    if (file == NULL && getenv("KUMO_AGENT_BOOTSTRAP_FILE") &&
        getenv("KUMO_AGENT_BOOTSTRAP_FILE")[0])
        file = getenv("KUMO_AGENT_BOOTSTRAP_FILE");
    char *text = NULL;
    if (file != NULL) {
        text = read_file(file);
        if (text == NULL) {
            fprintf(stderr, "kumo-agent: bootstrap %s: %s\n", file, strerror(errno));
            return 2;
        }
    } else if (getenv("KUMO_AGENT_BOOTSTRAP") && getenv("KUMO_AGENT_BOOTSTRAP")[0]) {
        text = strdup(getenv("KUMO_AGENT_BOOTSTRAP"));
    } else {
        fprintf(stderr, "kumo-agent: no bootstrap: set KUMO_AGENT_BOOTSTRAP or use --bootstrap "
                        "FILE\n");
        return 2;
    }
    /* Wipe the seed from the environment block before anything can fork. */
    char *env_text = getenv("KUMO_AGENT_BOOTSTRAP");
    if (env_text)
        memset(env_text, 0, strlen(env_text));
    unsetenv("KUMO_AGENT_BOOTSTRAP");
    unsetenv("KUMO_AGENT_BOOTSTRAP_FILE");
    if (text == NULL) {
        fprintf(stderr, "kumo-agent: out of memory\n");
        return 1;
    }
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_agent_bootstrap_parse(text, &a->bootstrap, &d);
    memset(text, 0, strlen(text));
    free(text);
    if (e != KUMO_ERROR_OK) {
        fprintf(
            stderr, "kumo-agent: %s%s\n",
            strncmp(d.message, "agent bootstrap", 15) == 0 ? "" : "agent bootstrap: ", d.message);
        kumo_diag_fini(&d);
        return 2;
    }
    kumo_diag_fini(&d);
    const char *prefix = a->bootstrap->prefix[0] ? a->bootstrap->prefix : KUMO_AGENT_PREFIX;
    const char *uid = a->bootstrap->machine_uid;
    if (kumo_agent_subject(a->subject_status, sizeof(a->subject_status), prefix, uid, "status") ||
        kumo_agent_subject(a->subject_apply, sizeof(a->subject_apply), prefix, uid, "apply") ||
        kumo_agent_subject(a->subject_get, sizeof(a->subject_get), prefix, uid, "get") ||
        kumo_agent_subject(a->subject_logs, sizeof(a->subject_logs), prefix, uid, "logs") ||
        kumo_agent_subject(a->subject_metrics, sizeof(a->subject_metrics), prefix, uid,
                           "metrics") ||
        kumo_agent_subject(a->subject_peers, sizeof(a->subject_peers), prefix, uid, "peers") ||
        kumo_agent_subject(a->subject_ping, sizeof(a->subject_ping), prefix, uid, "ping") ||
        kumo_agent_subject(a->subject_rtt, sizeof(a->subject_rtt), prefix, uid, "rtt") ||
        snprintf(a->prefix, sizeof(a->prefix), "%s", prefix) >= (int)sizeof(a->prefix)) {
        fprintf(stderr, "kumo-agent: agent bootstrap: prefix: Invalid value: \"%s\"\n", prefix);
        return 2;
    }
    if (a->bootstrap->metrics_interval_ms < 0) {
        fprintf(stderr,
                "kumo-agent: agent bootstrap: metricsIntervalMs: Invalid value: %d: must be "
                "greater than or equal to 0\n",
                a->bootstrap->metrics_interval_ms);
        return 2;
    }
    if (a->bootstrap->status_interval_ms < 0) {
        fprintf(stderr,
                "kumo-agent: agent bootstrap: statusIntervalMs: Invalid value: %d: must be "
                "greater than or equal to 0\n",
                a->bootstrap->status_interval_ms);
        return 2;
    }
    const char *dir = f->data_dir ? f->data_dir : getenv("KUMO_AGENT_DATA_DIR");
    if (dir && dir[0])
        snprintf(a->data_dir, sizeof(a->data_dir), "%s", dir);
    else
        snprintf(a->data_dir, sizeof(a->data_dir), "/var/lib/kumo-agent/%s", uid);
    return 0;
}

/* ---- the main loop ---------------------------------------------------------------------- */

static int status_interval(const agent *a)
{
    return a->bootstrap->status_interval_ms > 0 ? a->bootstrap->status_interval_ms
                                                : AGENT_STATUS_INTERVAL_MS;
}

static void publish_status(agent *a, int64_t now)
{
    size_t len = 0;
    char *json = agent_status_json(a, &len);
    if (json) {
        agent_bus_publish(a->bus, a->subject_status, json, len);
        free(json);
    }
    a->status_soon = 0;
    a->status_due = now + status_interval(a);
}

static void publish_metrics(agent *a, int64_t now)
{
    if (!agent_bus_connected(a->bus)) {
        a->metrics_due = now + 250; /* the first report goes out soon after joining */
        return;
    }
    size_t len = 0;
    uint8_t *packed = agent_metrics_pack(a, 1, &len);
    if (packed) {
        agent_bus_publish(a->bus, a->subject_metrics, (const char *)packed, len);
        free(packed);
    }
    a->metrics_due = now + agent_metrics_interval(a);
}

static void handle_request(agent *a, natsMsg *m)
{
    const char *subject = natsMsg_GetSubject(m);
    if (strcmp(subject, a->subject_peers) == 0) {
        agent_peers_set(a, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        return;
    }
    const char *reply = natsMsg_GetReply(m);
    if (strcmp(subject, a->subject_logs) == 0) {
        size_t len = 0;
        char *json =
            agent_logs_reply(a, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &len);
        if (json && reply && reply[0])
            agent_bus_publish(a->bus, reply, json, len);
        free(json);
        return;
    }
    kumo_diag diag;
    kumo_diag_init(&diag);
    int ok = 1;
    if (strcmp(subject, a->subject_apply) == 0) {
        if (a->shutting_down) {
            ok = 0;
            kumo_diag_set(&diag, KUMO_ERROR_UNAVAILABLE, "the agent is shutting down");
        } else {
            ok = agent_apply(a, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &diag) == 0;
        }
        if (!ok)
            KUMO_LOG_WARN(AGENT_LOG, "apply refused", "error=\"%s\"", diag.message);
    }
    if (reply && reply[0]) {
        size_t len = 0;
        char *json = agent_reply_json(a, ok, ok ? NULL : diag.message,
                                      strcmp(subject, a->subject_get) == 0, &len);
        if (json) {
            agent_bus_publish(a->bus, reply, json, len);
            free(json);
        }
    }
    kumo_diag_fini(&diag);
}

static void begin_shutdown(agent *a)
{
    if (a->shutting_down)
        return;
    KUMO_LOG_INFO(AGENT_LOG, "stopping every instance", "instances=%d", agent_processes_alive(a));
    a->shutting_down = 1;
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances, *next; in; in = next) {
            next = in->next;
            agent_instance_stop(a, in);
        }
    agent_changed(a);
}

/* Instances with a probe socket, in step with the pollfd array. */
static size_t probe_count(const agent *a)
{
    size_t n = 0;
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next)
            n += in->health.fd >= 0;
    return n;
}

enum {
    LOG_TRIM_INTERVAL_MS = 10000,       /* instance log files trimmed to their limit */
    MEMORY_TRIM_DELAY_MS = 1000,        /* after joining the bus: start-up's memory handed back */
    POLL_MAX_MS = 1000,                 /* the loop looks at everything at least this often */
    RETRY_PAUSE_NS = 100 * 1000 * 1000, /* after out of memory or a failed poll */
};

/* The main loop's own state. */
typedef struct loop_state {
    int sigfd;
    struct pollfd *fds; /* signals, the bus wake-up, then one per probe socket */
    agent_instance **owners;
    size_t cap, count;
    int64_t next_trim, memory_trim; /* memory_trim 0: not yet connected; -1: done */
} loop_state;

/* The instances' processes and health checks; *deadline: when they next need a look. */
static void loop_instances(agent *a, int64_t now, int64_t *deadline)
{
    agent_processes_tick(a, now, deadline);
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next)
            agent_health_tick(a, in, now, deadline);
}

/* The periodic work that is due (status, metrics, pings, logs, memory); *deadline
 * becomes the next time anything is. */
static void loop_periodic(agent *a, loop_state *st, int64_t now, int64_t *deadline)
{
    if (now >= a->status_due || (a->status_soon && now >= a->status_soon))
        publish_status(a, now);
    if (now >= a->metrics_due)
        publish_metrics(a, now);
    if (a->ping_due && now >= a->ping_due)
        agent_peers_ping(a);
    if (now >= st->next_trim) {
        agent_logs_trim(a);
        st->next_trim = now + LOG_TRIM_INTERVAL_MS;
    }
    agent_logs_sample(a, now);
    /* Start-up is over once the bus is joined (nkey signing, OpenSSL's initialisation). */
    if (st->memory_trim == 0 && agent_bus_connected(a->bus))
        st->memory_trim = now + MEMORY_TRIM_DELAY_MS;
    if (st->memory_trim > 0 && now >= st->memory_trim) {
        agent_memory_trim();
        st->memory_trim = -1;
    }
    if (st->memory_trim > 0)
        agent_deadline(deadline, st->memory_trim);
    agent_deadline(deadline, a->status_due);
    agent_deadline(deadline, a->status_soon);
    agent_deadline(deadline, a->metrics_due);
    agent_deadline(deadline, a->ping_due);
    agent_deadline(deadline, st->next_trim);
}

/* The pollfd array for this round; 0 when out of memory. */
static int loop_fds(agent *a, loop_state *st)
{
    size_t n = 2 + probe_count(a);
    if (n > st->cap) {
        struct pollfd *f = realloc(st->fds, n * sizeof(*st->fds));
        if (f)
            st->fds = f;
        agent_instance **o = realloc(st->owners, n * sizeof(*st->owners));
        if (o)
            st->owners = o;
        if (f == NULL || o == NULL)
            return 0;
        st->cap = n;
    }
    st->fds[0] = (struct pollfd){.fd = st->sigfd, .events = POLLIN};
    st->fds[1] = (struct pollfd){.fd = a->wake_read, .events = POLLIN};
    size_t k = 2;
    for (agent_app *app = a->apps; app; app = app->next)
        for (agent_instance *in = app->instances; in; in = in->next)
            if (in->health.fd >= 0) {
                st->owners[k] = in;
                st->fds[k++] =
                    (struct pollfd){.fd = in->health.fd, .events = agent_health_events(in)};
            }
    st->count = k;
    return 1;
}

/* What poll reported: signals, bus requests, probe sockets. */
static void loop_ready(agent *a, loop_state *st)
{
    if (st->fds[0].revents & POLLIN) {
        struct signalfd_siginfo si;
        while (read(st->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                begin_shutdown(a);
    }
    if (st->fds[1].revents & POLLIN) {
        char drain[64];
        while (read(a->wake_read, drain, sizeof(drain)) > 0)
            ;
        natsMsg *m;
        while ((m = agent_bus_next(a->bus)) != NULL) {
            handle_request(a, m);
            natsMsg_Destroy(m);
        }
    }
    /* A probe may settle its instance, never free it: owners stay valid. */
    int64_t now = agent_now();
    for (size_t i = 2; i < st->count; i++)
        if (st->fds[i].revents)
            agent_health_on_fd(a, st->owners[i], st->fds[i].revents, now);
}

static int run(agent *a, int sigfd)
{
    a->status_due = agent_now();
    loop_state st = {.sigfd = sigfd};
    for (;;) {
        agent_reap(a);
        int64_t now = agent_now();
        int64_t deadline = 0;
        loop_instances(a, now, &deadline);
        if (a->shutting_down && agent_processes_alive(a) == 0)
            break;
        loop_periodic(a, &st, now, &deadline);
        if (!loop_fds(a, &st)) {
            KUMO_LOG_ERROR(AGENT_LOG, "out of memory", "%s", "");
            nanosleep(&(struct timespec){0, RETRY_PAUSE_NS}, NULL);
            continue;
        }
        int64_t wait = deadline - agent_now();
        wait = wait < 0 ? 0 : wait > POLL_MAX_MS ? POLL_MAX_MS : wait;
        int r = poll(st.fds, st.count, (int)wait);
        if (r < 0 && errno != EINTR) {
            KUMO_LOG_ERROR(AGENT_LOG, "poll failed", "error=\"%s\"", strerror(errno));
            nanosleep(&(struct timespec){0, RETRY_PAUSE_NS}, NULL);
            continue;
        }
        if (r > 0)
            loop_ready(a, &st);
    }
    free(st.fds);
    free(st.owners);
    publish_status(a, agent_now());
    return 0;
}

int main(int argc, char **argv)
{
    /* A small, steady heap: one arena, memory handed back early. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024);
    flags f = {0};
    int rc = parse_flags(argc, argv, &f);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    agent a = {.wake_read = -1};
    rc = load_bootstrap(&a, &f);
    if (rc != 0) {
        kumo_codec_message_free((ProtobufCMessage *)a.bootstrap);
        return rc;
    }
    a.gateway = getenv("KUMO_MACHINE_GATEWAY");
    if (a.gateway && a.gateway[0] == '\0')
        a.gateway = NULL;
    a.boot_wall_ns = agent_wall_ns();
    a.base_env = base_env();
    char logs[1100];
    snprintf(logs, sizeof(logs), "%s/logs", a.data_dir);
    if (a.base_env == NULL || agent_mkdirs(logs, 0755) != 0) {
        fprintf(stderr, "kumo-agent: data dir %s: %s\n", a.data_dir, strerror(errno));
        agent_strv_free(a.base_env);
        kumo_codec_message_free((ProtobufCMessage *)a.bootstrap);
        return 1;
    }

    /* Signals arrive on a signalfd; every thread started from here on has them blocked. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    int wake[2] = {-1, -1};
    /* Not PID 1 (tests, a machine without a PID namespace): adopt the orphans anyway. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (sigfd < 0 || pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "kumo-agent: %s\n", strerror(errno));
        return 1;
    }
    a.wake_read = wake[0];
    KUMO_LOG_INFO(AGENT_LOG, "agent starting", "version=%s machine=%s uid=%s data_dir=%s pid=%d",
                  KUMO_AGENT_VERSION, a.bootstrap->machine, a.bootstrap->machine_uid, a.data_dir,
                  (int)getpid());
    if (agent_bus_start(&a, wake[1], &a.bus) != 0) {
        fprintf(stderr, "kumo-agent: cannot start the bus thread\n");
        return 1;
    }
    rc = run(&a, sigfd);
    agent_bus_stop(a.bus);
    agent_apps_free(&a);
    agent_strv_free(a.base_env);
    agent_strv_free(a.peers);
    kumo_codec_message_free((ProtobufCMessage *)a.bootstrap);
    close(sigfd);
    close(wake[0]);
    close(wake[1]);
    KUMO_LOG_INFO(AGENT_LOG, "agent stopped", "%s", "");
    return rc;
}
