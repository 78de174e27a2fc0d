/*
 * haproxy.c - the local driver's load balancer data plane: one HAProxy 2.6
 * per load balancer, in master-worker mode, driven through two files and one
 * socket:
 *
 *   <state_dir>/<id>.cfg      the whole desired state (listeners, targets,
 *                             health checks, policy); rewritten atomically
 *                             on every change, so a reload or a restart
 *                             keeps every target;
 *   <state_dir>/<id>.servers  the server-state file: operational and admin
 *                             state (health, drain) dumped before a reload
 *                             and loaded by the new worker;
 *   /run/kumo/lb/<netns>.sock the runtime API (level admin).
 *
 * Target changes go through the runtime API (add server, set weight, set
 * server state drain/ready/maint, del server) in the same call that writes
 * the file; everything else (listeners, checks, policy, TLS) is a hitless
 * reload (SIGUSR2 to the master: listening sockets pass to the new worker,
 * the old one finishes its connections). A new configuration is checked with
 * `haproxy -c` before it replaces the old one, so a bad certificate is
 * refused with HAProxy's words and the running one keeps serving.
 *
 * Listener lines carry a comment "# kumo-listener <name> <port> <protocol>"
 * so observe knows the listeners from the file alone.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- Paths ------------------------------------------------------------------------- */

void local_lb_paths(struct kumo_driver_conn *c, const char *id, struct local_lb_paths *p)
{
    char netns[LOCAL_NAME_MAX];
    local_netns_name(c, id, netns, sizeof(netns));
    local_machine_file(c, id, "cfg", p->cfg, sizeof(p->cfg));
    local_machine_file(c, id, "servers", p->servers, sizeof(p->servers));
    local_machine_file(c, id, "log", p->log, sizeof(p->log));
    local_machine_file(c, id, "pem", p->pem_prefix, sizeof(p->pem_prefix));
    snprintf(p->socket, sizeof(p->socket), "%s/%.80s.sock", LOCAL_LB_SOCKET_DIR, netns);
}

/* ---- The configuration ------------------------------------------------------------- */

static const char *protocol_word(int protocol)
{
    return protocol == KUMO_DRIVER_LB_HTTPS  ? "https"
           : protocol == KUMO_DRIVER_LB_HTTP ? "http"
                                             : "tcp";
}

static int hc_value(const struct kumo_driver_lb_health_check *hc, int which, int fallback)
{
    if (hc == NULL)
        return fallback;
    int v = which == 0   ? hc->interval_ms
            : which == 1 ? hc->timeout_ms
            : which == 2 ? hc->healthy_threshold
                         : hc->unhealthy_threshold;
    return v > 0 ? v : fallback;
}

/* The server line's options after "server <name> <addr>:<port>" (also for add server). */
void local_lb_server_options(const struct kumo_driver_load_balancer_spec *spec,
                             const struct kumo_driver_lb_target *t, int in_file,
                             struct kumo_driver_kit_buf *b)
{
    const struct kumo_driver_lb_health_check *hc = spec->health_check;
    int weight = t->weight < 0 ? 0 : t->weight > 256 ? 256 : t->weight;
    /* Three failed connections in a row take the target out at once: a dead one refuses
     * at once, so a request's retries (10) mark it down and go on to a live target, a backup
     * when no preferred one is left; its active check brings it back. With one or two, an
     * overloaded target that drops a few SYNs went down too, and under full load the targets
     * one after the other (a 503 storm); with five, two dead preferred targets could use up
     * a request's retries. */
    kumo_driver_kit_buf_printf(b,
                               " weight %d%s check inter %d fall %d rise %d observe layer4 "
                               "error-limit 3 on-error mark-down",
                               weight, t->backup ? " backup" : "", hc_value(hc, 0, 1000),
                               hc_value(hc, 3, 3), hc_value(hc, 2, 2));
    if (hc != NULL && hc->port > 0)
        kumo_driver_kit_buf_printf(b, " port %d", hc->port);
    if (in_file && spec->affinity == KUMO_DRIVER_LB_AFFINITY_COOKIE)
        kumo_driver_kit_buf_printf(b, " cookie %s", t->name);
}

static void backend_config(const struct kumo_driver_load_balancer_spec *spec,
                           const struct kumo_driver_lb_listener *l, struct kumo_driver_kit_buf *b)
{
    const struct kumo_driver_lb_health_check *hc = spec->health_check;
    int http = l->protocol != KUMO_DRIVER_LB_TCP;
    kumo_driver_kit_buf_printf(
        b, "backend b_%s\n    mode %s\n    balance %s\n", l->name, http ? "http" : "tcp",
        spec->policy == KUMO_DRIVER_LB_LEAST_CONNECTIONS ? "leastconn" : "roundrobin");
    kumo_driver_kit_buf_printf(b, "    option allbackups\n    timeout check %dms\n",
                               hc_value(hc, 1, 1000));
    kumo_driver_kit_buf_str(b, "    retries 10\n    option redispatch 1\n");
    if (http) {
        /* A failed connection, a reset before any answer or a timeout costs an idempotent
         * request nothing: it is replayed on another target. */
        kumo_driver_kit_buf_str(b, "    retry-on conn-failure empty-response junk-response "
                                   "response-timeout 0rtt-rejected\n"
                                   "    acl kumo_idempotent method GET HEAD OPTIONS PUT DELETE\n"
                                   "    http-request disable-l7-retry if !kumo_idempotent\n");
    }
    if (hc != NULL && hc->protocol == KUMO_DRIVER_LB_HTTP && http)
        kumo_driver_kit_buf_printf(b, "    option httpchk GET %s\n",
                                   hc->path && hc->path[0] ? hc->path : "/");
    int timeout_s = spec->affinity_timeout_s > 0 ? spec->affinity_timeout_s : 10800;
    if (spec->affinity == KUMO_DRIVER_LB_AFFINITY_CLIENT_IP)
        kumo_driver_kit_buf_printf(
            b, "    stick-table type ip size 200k expire %ds\n    stick on src\n", timeout_s);
    if (spec->affinity == KUMO_DRIVER_LB_AFFINITY_COOKIE && http)
        kumo_driver_kit_buf_printf(
            b, "    cookie %s insert indirect nocache maxidle %ds\n",
            spec->affinity_cookie && spec->affinity_cookie[0] ? spec->affinity_cookie : "KUMOLB",
            timeout_s);
    for (size_t i = 0; i < spec->target_count; i++) {
        const struct kumo_driver_lb_target *t = spec->targets[i];
        if (strcmp(t->listener, l->name) != 0)
            continue;
        kumo_driver_kit_buf_printf(b, "    server %s %s:%d", t->name, t->address, t->port);
        struct kumo_driver_lb_target drained = *t;
        if (t->draining)
            drained.weight = 0; /* the server-state file keeps the DRAIN state itself */
        local_lb_server_options(spec, &drained, 1, b);
        kumo_driver_kit_buf_str(b, "\n");
    }
}

void local_lb_config(const struct kumo_driver_load_balancer_spec *spec, const char *ip,
                     const struct local_lb_paths *p, struct kumo_driver_kit_buf *b)
{
    kumo_driver_kit_buf_printf(b,
                               "# written by kumo's local driver: every change is made through "
                               "the runtime API and here\n"
                               "global\n    master-worker\n    maxconn 4096\n"
                               "    stats socket %s mode 600 level admin expose-fd listeners\n"
                               "    server-state-file %s\n    hard-stop-after 60s\n"
                               "defaults\n    timeout connect 1s\n    timeout client 60s\n"
                               "    timeout server 60s\n    timeout queue 5s\n"
                               "    timeout http-request 10s\n"
                               "    load-server-state-from-file global\n",
                               p->socket, p->servers);
    for (size_t i = 0; i < spec->listener_count; i++) {
        const struct kumo_driver_lb_listener *l = spec->listeners[i];
        int http = l->protocol != KUMO_DRIVER_LB_TCP;
        kumo_driver_kit_buf_printf(b, "# kumo-listener %s %d %s\n", l->name, l->port,
                                   protocol_word(l->protocol));
        kumo_driver_kit_buf_printf(b, "frontend f_%s\n    mode %s\n    bind %s:%d", l->name,
                                   http ? "http" : "tcp", ip, l->port);
        if (l->protocol == KUMO_DRIVER_LB_HTTPS)
            kumo_driver_kit_buf_printf(b, " ssl crt %s.%s", p->pem_prefix, l->name);
        kumo_driver_kit_buf_printf(b, "\n%s    default_backend b_%s\n",
                                   http ? "    option forwardfor\n" : "", l->name);
        backend_config(spec, l, b);
    }
}

/* 1 when the two configurations differ in more than their server lines. */
int local_lb_config_frame_differs(const char *a, const char *b)
{
    for (;;) {
        while (*a && strncmp(a, "    server ", 11) == 0)
            a += strcspn(a, "\n") + (a[strcspn(a, "\n")] != '\0');
        while (*b && strncmp(b, "    server ", 11) == 0)
            b += strcspn(b, "\n") + (b[strcspn(b, "\n")] != '\0');
        if (*a == '\0' || *b == '\0')
            return *a != *b;
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || strncmp(a, b, la) != 0)
            return 1;
        a += la + (a[la] != '\0');
        b += lb + (b[lb] != '\0');
    }
}

size_t local_lb_read_listeners(const char *cfg, struct local_lb_listener *out, size_t max)
{
    size_t n = 0;
    for (const char *line = cfg; line && *line && n < max;) {
        char word[16];
        if (sscanf(line, "# kumo-listener %63s %d %15s", out[n].name, &out[n].port, word) == 3) {
            out[n].protocol = strcmp(word, "https") == 0  ? KUMO_DRIVER_LB_HTTPS
                              : strcmp(word, "http") == 0 ? KUMO_DRIVER_LB_HTTP
                                                          : KUMO_DRIVER_LB_TCP;
            n++;
        }
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

/* ---- The runtime API ----------------------------------------------------------------- */

static int64_t mono_ns(void)
{
    return local_host->monotonic_ns(local_host->ctx);
}

static int connect_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Sends one command and reads the whole answer (HAProxy closes after it). A socket being
 * replaced by a reload is tried again until the deadline. */
kumo_driver_code local_lb_command(const char *socket_path, const char *command, int64_t deadline_ns,
                                  struct kumo_driver_kit_buf *out, struct kumo_driver_diag *diag)
{
    int fd = -1;
    while ((fd = connect_socket(socket_path)) < 0 && mono_ns() < deadline_ns) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (fd < 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNAVAILABLE, "RuntimeApiUnreachable",
                                    "haproxy runtime API %s: %s", socket_path, strerror(errno));
    size_t len = strlen(command);
    int ok = write(fd, command, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    char chunk[8192];
    while (ok) {
        int64_t left_ms = (deadline_ns - mono_ns()) / 1000000;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) <= 0) {
            close(fd);
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
                                        "haproxy runtime API: no answer to \"%.60s\"", command);
        }
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got <= 0)
            break;
        kumo_driver_kit_buf_add(out, chunk, (size_t)got);
    }
    close(fd);
    if (!ok)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNAVAILABLE, "RuntimeApiUnreachable",
                                    "haproxy runtime API %s: writing failed", socket_path);
    kumo_driver_kit_buf_add(out, "", 1);
    out->len--;
    return out->failed ? local_nomem(diag) : KUMO_DRIVER_OK;
}

/* A command whose answer must not be an error; the answer is dropped. */
static kumo_driver_code command_ok(const char *socket_path, const char *command,
                                   int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct kumo_driver_kit_buf out;
    kumo_driver_kit_buf_init(&out);
    kumo_driver_code rc = local_lb_command(socket_path, command, deadline_ns, &out, diag);
    const char *text = out.data ? out.data : "";
    if (rc == KUMO_DRIVER_OK &&
        (strstr(text, "No such") || strstr(text, "not ") || strstr(text, "Unknown") ||
         strstr(text, "invalid") || strstr(text, "error") || strstr(text, "Require")))
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "RuntimeApiRefused",
                                  "haproxy refused \"%.80s\": %.300s", command, text);
    kumo_driver_kit_buf_fini(&out);
    return rc;
}

/* ---- show stat ----------------------------------------------------------------------- */

/* The index of column `name` in the "# pxname,svname,..." header, or -1. */
static int column(char *const *header, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (strcmp(header[i], name) == 0)
            return i;
    return -1;
}

/* Splits a CSV line in place (HAProxy's fields hold no commas). */
static int split_csv(char *line, char **fields, int max)
{
    int n = 0;
    for (char *p = line; n < max;) {
        fields[n++] = p;
        char *comma = strchr(p, ',');
        if (comma == NULL)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return n;
}

static int64_t number(char *const *f, int count, int i)
{
    return i >= 0 && i < count ? strtoll(f[i], NULL, 10) : 0;
}

static const char *text_at(char *const *f, int count, int i)
{
    return i >= 0 && i < count ? f[i] : "";
}

static void server_of_row(char *const *h, int hn, char *const *f, int n, int64_t now_ns,
                          struct local_lb_server *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->listener, sizeof(s->listener), "%s", text_at(f, n, column(h, hn, "pxname")) + 2);
    snprintf(s->name, sizeof(s->name), "%s", text_at(f, n, column(h, hn, "svname")));
    const char *addr = text_at(f, n, column(h, hn, "addr"));
    const char *colon = strrchr(addr, ':');
    snprintf(s->address, sizeof(s->address), "%.*s", colon ? (int)(colon - addr) : 0, addr);
    s->port = colon ? atoi(colon + 1) : 0;
    const char *status = text_at(f, n, column(h, hn, "status"));
    snprintf(s->status, sizeof(s->status), "%s", status);
    const char *check = text_at(f, n, column(h, hn, "check_status"));
    const char *desc = text_at(f, n, column(h, hn, "last_chk"));
    snprintf(s->reason, sizeof(s->reason), "%s%s%s", check, desc[0] ? " " : "", desc);
    s->weight = (int)number(f, n, column(h, hn, "weight"));
    s->backup = number(f, n, column(h, hn, "bck")) > 0;
    int64_t since = number(f, n, column(h, hn, "lastchg"));
    s->last_change_ns = now_ns - since * 1000000000LL;
    s->sessions = number(f, n, column(h, hn, "scur"));
    int64_t responses = 0;
    static const char *const classes[] = {"hrsp_1xx", "hrsp_2xx", "hrsp_3xx",
                                          "hrsp_4xx", "hrsp_5xx", "hrsp_other"};
    for (size_t i = 0; i < 6; i++)
        responses += number(f, n, column(h, hn, classes[i]));
    s->requests = responses > 0 ? responses : number(f, n, column(h, hn, "stot"));
    s->connection_errors = number(f, n, column(h, hn, "econ"));
    s->responses_5xx = number(f, n, column(h, hn, "hrsp_5xx"));
    s->retries = number(f, n, column(h, hn, "wretr"));
    s->redispatches = number(f, n, column(h, hn, "wredis"));
}

/* Marks the servers whose admin state is drain (`show servers state`: flags 0x08 forced,
 * 0x10 inherited). */
static kumo_driver_code admin_states(const char *socket_path, int64_t deadline_ns,
                                     struct local_lb_server *servers, size_t count,
                                     struct kumo_driver_diag *diag)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    kumo_driver_code rc =
        local_lb_command(socket_path, "show servers state", deadline_ns, &b, diag);
    for (char *save = NULL,
              *line = rc == KUMO_DRIVER_OK && b.data ? strtok_r(b.data, "\n", &save) : NULL;
         line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char backend[80], name[128];
        unsigned admin = 0;
        if (sscanf(line, "%*d %79s %*d %127s %*s %*d %u", backend, name, &admin) != 3 ||
            strncmp(backend, "b_", 2) != 0)
            continue;
        for (size_t i = 0; i < count; i++)
            if (strcmp(servers[i].listener, backend + 2) == 0 && strcmp(servers[i].name, name) == 0)
                servers[i].draining = (admin & 0x18) != 0;
    }
    kumo_driver_kit_buf_fini(&b);
    return rc;
}

kumo_driver_code local_lb_servers(const char *socket_path, int64_t deadline_ns, int64_t now_ns,
                                  struct local_lb_server **out, size_t *count_out,
                                  struct kumo_driver_diag *diag)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    *out = NULL;
    *count_out = 0;
    kumo_driver_code rc = local_lb_command(socket_path, "show stat -1 4 -1", deadline_ns, &b, diag);
    char *header[128], *fields[128];
    int hn = 0;
    struct local_lb_server *servers = NULL;
    size_t count = 0;
    for (char *save = NULL,
              *line = rc == KUMO_DRIVER_OK && b.data ? strtok_r(b.data, "\n", &save) : NULL;
         line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# ", 2) == 0) {
            hn = split_csv(line + 2, header, 128);
            continue;
        }
        int n = split_csv(line, fields, 128);
        if (hn == 0 || n < 2 || strncmp(fields[0], "b_", 2) != 0)
            continue;
        struct local_lb_server *grown = realloc(servers, (count + 1) * sizeof(*servers));
        if (grown == NULL) {
            rc = local_nomem(diag);
            break;
        }
        servers = grown;
        server_of_row(header, hn, fields, n, now_ns, &servers[count++]);
    }
    kumo_driver_kit_buf_fini(&b);
    if (rc == KUMO_DRIVER_OK)
        rc = admin_states(socket_path, deadline_ns, servers, count, diag);
    if (rc != KUMO_DRIVER_OK) {
        free(servers);
        return rc;
    }
    *out = servers;
    *count_out = count;
    return KUMO_DRIVER_OK;
}

/* ---- Converging the running targets --------------------------------------------------- */

static const struct local_lb_server *running(const struct local_lb_server *servers, size_t n,
                                             const char *listener, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(servers[i].listener, listener) == 0 && strcmp(servers[i].name, name) == 0)
            return &servers[i];
    return NULL;
}

static kumo_driver_code remove_server(const char *sock, const char *listener, const char *name,
                                      int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "set server b_%s/%s state maint", listener, name);
    kumo_driver_code rc = command_ok(sock, cmd, deadline_ns, diag);
    snprintf(cmd, sizeof(cmd), "shutdown sessions server b_%s/%s", listener, name);
    if (rc == KUMO_DRIVER_OK)
        rc = command_ok(sock, cmd, deadline_ns, diag);
    snprintf(cmd, sizeof(cmd), "del server b_%s/%s", listener, name);
    return rc == KUMO_DRIVER_OK ? command_ok(sock, cmd, deadline_ns, diag) : rc;
}

static kumo_driver_code add_server(const char *sock,
                                   const struct kumo_driver_load_balancer_spec *spec,
                                   const struct kumo_driver_lb_target *t, int64_t deadline_ns,
                                   struct kumo_driver_diag *diag)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    kumo_driver_kit_buf_printf(&b, "add server b_%s/%s %s:%d", t->listener, t->name, t->address,
                               t->port);
    local_lb_server_options(spec, t, 0, &b);
    kumo_driver_code rc = b.failed ? local_nomem(diag) : KUMO_DRIVER_OK;
    if (rc == KUMO_DRIVER_OK)
        rc = command_ok(sock, b.data, deadline_ns, diag);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "enable health b_%s/%s", t->listener, t->name);
    if (rc == KUMO_DRIVER_OK)
        rc = command_ok(sock, cmd, deadline_ns, diag);
    snprintf(cmd, sizeof(cmd), "set server b_%s/%s state %s", t->listener, t->name,
             t->draining ? "drain" : "ready");
    if (rc == KUMO_DRIVER_OK)
        rc = command_ok(sock, cmd, deadline_ns, diag);
    kumo_driver_kit_buf_fini(&b);
    return rc;
}

/* Brings one running target to the desired one (weight, drain). */
static kumo_driver_code adjust_server(const char *sock, const struct kumo_driver_lb_target *t,
                                      const struct local_lb_server *s, int64_t deadline_ns,
                                      struct kumo_driver_diag *diag)
{
    char cmd[512];
    kumo_driver_code rc = KUMO_DRIVER_OK;
    int drained = s->draining;
    int maint = strncmp(s->status, "MAINT", 5) == 0;
    if (t->draining && !drained) {
        snprintf(cmd, sizeof(cmd), "set server b_%s/%s state drain", t->listener, t->name);
        rc = command_ok(sock, cmd, deadline_ns, diag);
    } else if (!t->draining && (drained || maint)) {
        snprintf(cmd, sizeof(cmd), "set server b_%s/%s state ready", t->listener, t->name);
        rc = command_ok(sock, cmd, deadline_ns, diag);
    }
    int weight = t->weight < 0 ? 0 : t->weight > 256 ? 256 : t->weight;
    if (rc == KUMO_DRIVER_OK && !t->draining && s->weight != weight) {
        snprintf(cmd, sizeof(cmd), "set weight b_%s/%s %d", t->listener, t->name, weight);
        rc = command_ok(sock, cmd, deadline_ns, diag);
    }
    return rc;
}

kumo_driver_code local_lb_sync_targets(const char *sock,
                                       const struct kumo_driver_load_balancer_spec *spec,
                                       int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct local_lb_server *servers = NULL;
    size_t n = 0;
    kumo_driver_code rc = local_lb_servers(sock, deadline_ns, 0, &servers, &n, diag);
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < n; i++) {
        int wanted = 0;
        for (size_t j = 0; j < spec->target_count && !wanted; j++) {
            const struct kumo_driver_lb_target *t = spec->targets[j];
            wanted = strcmp(t->listener, servers[i].listener) == 0 &&
                     strcmp(t->name, servers[i].name) == 0 &&
                     strcmp(t->address, servers[i].address) == 0 && t->port == servers[i].port &&
                     !t->backup == !servers[i].backup;
        }
        if (!wanted) {
            rc = remove_server(sock, servers[i].listener, servers[i].name, deadline_ns, diag);
            servers[i].name[0] = '\0'; /* gone (or replaced below) */
        }
    }
    for (size_t j = 0; rc == KUMO_DRIVER_OK && j < spec->target_count; j++) {
        const struct kumo_driver_lb_target *t = spec->targets[j];
        const struct local_lb_server *s = running(servers, n, t->listener, t->name);
        rc = s ? adjust_server(sock, t, s, deadline_ns, diag)
               : add_server(sock, spec, t, deadline_ns, diag);
    }
    free(servers);
    return rc;
}

/* ---- Files and the process ----------------------------------------------------------- */

int local_lb_write_file(const char *path, const char *text, int mode, char *err, size_t size)
{
    char tmp[LOCAL_NAME_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t len = strlen(text);
    int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
    if (fd >= 0)
        ok = fsync(fd) == 0 && ok;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) == 0)
        return 0;
    snprintf(err, size, "writing %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

char *local_lb_read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        kumo_driver_kit_buf_add(&b, chunk, got);
    fclose(f);
    kumo_driver_kit_buf_add(&b, "", 1);
    if (b.failed) {
        kumo_driver_kit_buf_fini(&b);
        return NULL;
    }
    return b.data;
}

kumo_driver_code local_lb_check_config(const char *haproxy, const char *path, int64_t deadline_ns,
                                       const char *what, struct kumo_driver_diag *diag)
{
    const char *argv[] = {haproxy, "-c", "-q", "-f", path, NULL};
    kumo_driver_code rc = local_run(argv, NULL, deadline_ns, what, NULL, diag);
    if (rc == KUMO_DRIVER_INTERNAL) {
        diag->code = KUMO_DRIVER_INVALID;
        snprintf(diag->cloud_code, sizeof(diag->cloud_code), "%s", "InvalidConfiguration");
        return KUMO_DRIVER_INVALID;
    }
    return rc;
}

kumo_driver_code local_lb_reload(const char *sock, const struct local_lb_paths *p, int64_t pid,
                                 uint64_t pid_start, int64_t deadline_ns,
                                 struct kumo_driver_diag *diag)
{
    struct kumo_driver_kit_buf state;
    char err[600];
    kumo_driver_kit_buf_init(&state);
    kumo_driver_code rc = local_lb_command(sock, "show servers state", deadline_ns, &state, diag);
    if (rc == KUMO_DRIVER_OK &&
        local_lb_write_file(p->servers, state.data ? state.data : "", 0600, err, sizeof(err)) != 0)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError", "%s", err);
    kumo_driver_kit_buf_fini(&state);
    if (rc == KUMO_DRIVER_OK && local_pid_alive(pid, pid_start) && kill((pid_t)pid, SIGUSR2) != 0)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError",
                                  "reloading haproxy (pid %lld): %s", (long long)pid,
                                  strerror(errno));
    return rc;
}
