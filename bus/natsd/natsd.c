/*
 * natsd.c - spawns nats-server, waits for its INFO line, stops and reaps it.
 */
#define _GNU_SOURCE
#include "bus/natsd/natsd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct kumo_natsd {
    char binary[512];
    char host[64];
    int port;
    char store_dir[1024];
    char log_file[1024];
    int ready_timeout_ms;
    pid_t pid;
    char url[128];
    char config_file[1024]; /* written for options nats-server has no flag for; "" when none */
    int config_fixed;       /* config_file is the caller's config_path, not a temporary file */
    long max_payload;
    int die_with_owner;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Asks the kernel for a free TCP port on `host`. */
static int free_port(const char *host)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;
    if (fd < 0)
        return -1;
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/* 1 when a client connection to host:port gets nats-server's INFO line. */
static int server_answers(const char *host, int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char buf[8] = {0};
    int ok = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 500) == 1 && read(fd, buf, 4) == 4)
            ok = memcmp(buf, "INFO", 4) == 0;
    }
    close(fd);
    return ok;
}

/* Writes the configuration file: what nats-server takes no flag for (max_payload) and
 * the caller's own text (an authorization block). The file is created once, mode 0600. */
static kumo_error write_config(kumo_natsd *n, long max_payload, const char *text, kumo_diag *diag)
{
    const char *tmp = getenv("TMPDIR");
    int fd;
    if (n->config_file[0] == '\0') {
        snprintf(n->config_file, sizeof(n->config_file), "%s/kumo-natsd-XXXXXX",
                 tmp && tmp[0] ? tmp : "/tmp");
        fd = mkstemp(n->config_file);
    } else if (n->config_fixed) {
        fd = open(n->config_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    } else {
        fd = open(n->config_file, O_WRONLY | O_TRUNC | O_CLOEXEC);
    }
    if (fd < 0) {
        kumo_error e = kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", errno,
                                             "cannot write the nats-server configuration file "
                                             "%s: %s",
                                             n->config_file, strerror(errno));
        n->config_file[0] = '\0';
        return e;
    }
    char head[128] = "";
    if (max_payload > 0)
        snprintf(head, sizeof(head), "max_payload: %ld\n", max_payload);
    size_t head_len = strlen(head), text_len = text ? strlen(text) : 0;
    int ok = write(fd, head, head_len) == (ssize_t)head_len &&
             (text_len == 0 || write(fd, text, text_len) == (ssize_t)text_len);
    ok = close(fd) == 0 && ok;
    if (!ok) {
        unlink(n->config_file);
        n->config_file[0] = '\0';
        return kumo_diag_set(diag, KUMO_ERROR_IO, "cannot write a nats-server configuration file");
    }
    return KUMO_ERROR_OK;
}

/* posix_spawn, the server in its own process group; 0 or an errno. */
static int spawn_plain(kumo_natsd *n, const char *const *argv, const char *out)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    /* Nothing of the parent's (kumod's store files, its sockets) may live on in the server,
     * which can outlive kumod. */
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    /* Its own process group, so a terminal's Ctrl-C reaches kumod first. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawnp(&n->pid, n->binary, &actions, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}

/*
 * fork and exec with PR_SET_PDEATHSIG (posix_spawn cannot set it): the child gets SIGKILL
 * when this thread ends. Between fork and exec only async-signal-safe calls. Returns 0 or
 * an errno.
 */
static int spawn_dying_with_owner(const char *const *argv, const char *out, pid_t *pid)
{
    pid_t owner = getpid();
    pid_t child = fork();
    if (child < 0)
        return errno;
    if (child == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != owner)
            _exit(127); /* the owner is already gone */
        setpgid(0, 0);  /* its own process group, so a terminal's Ctrl-C reaches kumod first */
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        close_range(3, ~0U, 0); /* nothing of the owner's lives on in the server */
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    *pid = child;
    return 0;
}

/* Starts the process and waits for it; *port_clash is set when another port may help. */
static kumo_error spawn_server(kumo_natsd *n, int *port_clash, kumo_diag *diag)
{
    *port_clash = 0;
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", n->port);
    const char *argv[16];
    int argc = 0;
    argv[argc++] = n->binary;
    argv[argc++] = "-a";
    argv[argc++] = n->host;
    argv[argc++] = "-p";
    argv[argc++] = port_text;
    if (n->config_file[0] != '\0') {
        argv[argc++] = "-c";
        argv[argc++] = n->config_file;
    }
    if (n->store_dir[0] != '\0') {
        argv[argc++] = "-js";
        argv[argc++] = "-sd";
        argv[argc++] = n->store_dir;
    }
    argv[argc] = NULL;

    const char *out = n->log_file[0] ? n->log_file : "/dev/null";
    int rc =
        n->die_with_owner ? spawn_dying_with_owner(argv, out, &n->pid) : spawn_plain(n, argv, out);
    if (rc != 0) {
        n->pid = 0;
        return kumo_diag_set_foreign(diag, rc == ENOENT ? KUMO_ERROR_UNAVAILABLE : KUMO_ERROR_IO,
                                     "errno", rc,
                                     "cannot start %s: %s (install it with hack/deps.sh or "
                                     "apt-get install nats-server)",
                                     n->binary, strerror(rc));
    }
    long long deadline = now_ms() + n->ready_timeout_ms;
    while (now_ms() < deadline) {
        int status;
        if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
            n->pid = 0;
            *port_clash = 1;
            return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE,
                                 "nats-server exited at start (status %d); is port %d in use? "
                                 "its output is in %s",
                                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, n->port, out);
        }
        if (server_answers(n->host, n->port))
            return KUMO_ERROR_OK;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    kumo_natsd_kill(n, SIGKILL);
    return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE,
                         "nats-server did not accept clients on %s:%d within %d ms", n->host,
                         n->port, n->ready_timeout_ms);
}

kumo_error kumo_natsd_start(const kumo_natsd_options *options, kumo_natsd **out, kumo_diag *diag)
{
    kumo_natsd_options defaults = {0};
    const kumo_natsd_options *o = options ? options : &defaults;
    *out = NULL;
    kumo_natsd *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    const char *binary = o->binary ? o->binary : getenv("KUMO_NATS_SERVER");
    snprintf(n->binary, sizeof(n->binary), "%s", binary && binary[0] ? binary : "nats-server");
    snprintf(n->host, sizeof(n->host), "%s", o->host ? o->host : "127.0.0.1");
    snprintf(n->store_dir, sizeof(n->store_dir), "%s", o->store_dir ? o->store_dir : "");
    snprintf(n->log_file, sizeof(n->log_file), "%s", o->log_file ? o->log_file : "");
    n->ready_timeout_ms = o->ready_timeout_ms > 0 ? o->ready_timeout_ms : 10000;
    if (n->store_dir[0] != '\0' && mkdir(n->store_dir, 0700) != 0 && errno != EEXIST) {
        kumo_error e = kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", errno,
                                             "cannot create the JetStream directory %s: %s",
                                             n->store_dir, strerror(errno));
        free(n);
        return e;
    }
    n->max_payload = o->max_payload;
    n->die_with_owner = o->die_with_owner;
    if (o->config_path && o->config_path[0]) {
        snprintf(n->config_file, sizeof(n->config_file), "%s", o->config_path);
        n->config_fixed = 1;
    }
    if ((o->max_payload > 0 || o->config_text) &&
        write_config(n, o->max_payload, o->config_text, diag) != KUMO_ERROR_OK) {
        free(n);
        return diag ? diag->code : KUMO_ERROR_IO;
    }
    /* A picked port can be taken by someone else before the server binds it: retry. */
    kumo_error err = KUMO_ERROR_UNAVAILABLE;
    for (int attempt = 0; attempt < (o->port ? 1 : 5); attempt++) {
        n->port = o->port ? o->port : free_port(n->host);
        if (n->port <= 0) {
            err = kumo_diag_set(diag, KUMO_ERROR_IO, "no free TCP port on %s", n->host);
            break;
        }
        int port_clash = 0;
        err = spawn_server(n, &port_clash, diag);
        if (!port_clash)
            break;
    }
    if (err != KUMO_ERROR_OK) {
        if (n->config_file[0] != '\0')
            unlink(n->config_file);
        free(n);
        return err;
    }
    snprintf(n->url, sizeof(n->url), "nats://%s:%d", n->host, n->port);
    *out = n;
    return KUMO_ERROR_OK;
}

const char *kumo_natsd_url(const kumo_natsd *natsd)
{
    return natsd->url;
}

int kumo_natsd_port(const kumo_natsd *natsd)
{
    return natsd->port;
}

pid_t kumo_natsd_pid(const kumo_natsd *natsd)
{
    return natsd->pid;
}

void kumo_natsd_kill(kumo_natsd *natsd, int signal)
{
    if (natsd->pid <= 0)
        return;
    kill(natsd->pid, signal);
    int status;
    while (waitpid(natsd->pid, &status, 0) < 0 && errno == EINTR)
        ;
    natsd->pid = 0;
}

kumo_error kumo_natsd_restart(kumo_natsd *natsd, kumo_diag *diag)
{
    if (natsd->pid > 0)
        kumo_natsd_kill(natsd, SIGTERM);
    int port_clash;
    return spawn_server(natsd, &port_clash, diag);
}

kumo_error kumo_natsd_reload(kumo_natsd *natsd, const char *config_text, kumo_diag *diag)
{
    if (natsd->config_file[0] == '\0')
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "this nats-server was started without a configuration file");
    kumo_error e = write_config(natsd, natsd->max_payload, config_text, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    if (natsd->pid <= 0 || kill(natsd->pid, SIGHUP) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE, "nats-server is not running");
    return KUMO_ERROR_OK;
}

void kumo_natsd_destroy(kumo_natsd *natsd)
{
    if (natsd == NULL)
        return;
    if (natsd->pid > 0) {
        kill(natsd->pid, SIGTERM);
        long long deadline = now_ms() + 5000;
        int status;
        while (now_ms() < deadline && waitpid(natsd->pid, &status, WNOHANG) == 0) {
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        if (waitpid(natsd->pid, &status, WNOHANG) == 0)
            kumo_natsd_kill(natsd, SIGKILL);
    }
    if (natsd->config_file[0] != '\0')
        unlink(natsd->config_file);
    free(natsd);
}
