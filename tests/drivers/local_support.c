/* local_support.c - see local_support.h. */
#define _GNU_SOURCE
#include "tests/drivers/local_support.h"
#include "tests/harness/test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int64_t local_deadline(const struct local_env *e, double seconds)
{
    return e->host->monotonic_ns(e->host->ctx) + (int64_t)(seconds * 1e9);
}

/* ---- Commands ------------------------------------------------------------------ */

static const char *find_tool(const char *name)
{
    static char found[4][128];
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    int slot = strcmp(name, "ip") == 0 ? 0 : strcmp(name, "nft") == 0 ? 1 : 2;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(found[slot], sizeof(found[slot]), "%s/%s", dirs[i], name);
        if (access(found[slot], X_OK) == 0)
            return found[slot];
    }
    return NULL;
}

int local_cmd(const char *const *argv, char *out, size_t size)
{
    int fds[2];
    if (argv[0] == NULL || pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t n = 0;
    char sink[512];
    for (;;) {
        char *dst = out && n + 1 < size ? out + n : sink;
        size_t room = out && n + 1 < size ? size - n - 1 : sizeof(sink);
        ssize_t got = read(fds[0], dst, room);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (dst != sink)
            n += (size_t)got;
    }
    close(fds[0]);
    if (out && size)
        out[n] = '\0';
    if (rc != 0)
        return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- What a prefix left ----------------------------------------------------------- */

/* what, the object's name (for removal), the text that matched (name or alias). */
typedef void (*found_fn)(const char *what, const char *name, const char *matched, void *ctx);

/* prefix followed by sep; the prefix "" means any run: "kt<digits>". */
static int starts(const char *s, const char *prefix, char sep)
{
    if (prefix[0] == '\0') {
        if (strncmp(s, "kt", 2) != 0 || s[2] < '0' || s[2] > '9')
            return 0;
        s += 2;
        while (*s >= '0' && *s <= '9')
            s++;
        return *s == sep;
    }
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 && s[n] == sep;
}

/* Calls fn for each host object of prefix ("": of any test run); returns the count. */
static int scan(const char *prefix, found_fn fn, void *ctx)
{
    char path[600], text[4096], needle[128];
    int count = 0;
    DIR *d = opendir("/run/netns");
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d))
        if (starts(e->d_name, prefix, '-')) {
            fn("netns", e->d_name, e->d_name, ctx);
            count++;
        }
    if (d)
        closedir(d);
    d = opendir("/sys/class/net");
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        snprintf(path, sizeof(path), "/sys/class/net/%s/ifalias", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n > 0 && (text[n] = '\0', starts(text, prefix, '-'))) {
            fn("link", e->d_name, text, ctx);
            count++;
        }
    }
    if (d)
        closedir(d);
    const char *nft = find_tool("nft");
    if (nft != NULL) {
        const char *argv[] = {nft, "list", "tables", NULL};
        if (local_cmd(argv, text, sizeof(text)) == 0) {
            char *save = NULL;
            for (char *line = strtok_r(text, "\n", &save); line;
                 line = strtok_r(NULL, "\n", &save)) {
                char family[32], name[128];
                if (sscanf(line, "table %31s %127s", family, name) == 2 &&
                    starts(name, prefix, '_')) {
                    snprintf(path, sizeof(path), "%s %s", family, name);
                    fn("nft table", path, name, ctx);
                    count++;
                }
            }
        }
    }
    static const char *const cgroup_dirs[] = {"/sys/fs/cgroup/kumo-local",
                                              "/sys/fs/cgroup/cpu/kumo-local",
                                              "/sys/fs/cgroup/memory/kumo-local"};
    for (size_t i = 0; i < 3; i++) {
        d = opendir(cgroup_dirs[i]);
        for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d))
            if (starts(e->d_name, prefix, '-')) {
                snprintf(path, sizeof(path), "%s/%s", cgroup_dirs[i], e->d_name);
                fn("cgroup", path, e->d_name, ctx);
                count++;
            }
        if (d)
            closedir(d);
    }
    int len = snprintf(needle, sizeof(needle), "KUMO_CONNECTION=test/%s", prefix) + 1;
    d = prefix[0] ? opendir("/proc") : NULL;
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/environ", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, text, sizeof(text)) : -1;
        if (fd >= 0)
            close(fd);
        for (ssize_t at = 0; n > 0 && at + len <= n; at++) {
            if (memcmp(text + at, needle, (size_t)len) == 0 && (at == 0 || text[at - 1] == 0)) {
                fn("process", e->d_name, e->d_name, ctx);
                count++;
                break;
            }
        }
    }
    if (d)
        closedir(d);
    return count;
}

struct report {
    char *buf;
    size_t size;
};

static void describe(const char *what, const char *name, const char *matched, void *ctx)
{
    (void)matched;
    struct report *r = ctx;
    size_t used = strlen(r->buf);
    snprintf(r->buf + used, r->size - used, "%s%s %s", used ? ", " : "", what, name);
}

int local_leftovers(const char *prefix, char *report, size_t size)
{
    struct report r = {report, size};
    report[0] = '\0';
    return scan(prefix, describe, &r);
}

static void removal(const char *what, const char *name, const char *matched, void *ctx)
{
    (void)ctx;
    (void)matched;
    const char *ip = find_tool("ip"), *nft = find_tool("nft");
    if (strcmp(what, "process") == 0) {
        kill((pid_t)strtol(name, NULL, 10), SIGKILL);
    } else if (strcmp(what, "netns") == 0 && ip) {
        const char *pids[] = {ip, "netns", "pids", name, NULL};
        char out[1024];
        if (local_cmd(pids, out, sizeof(out)) == 0) {
            char *save = NULL;
            for (char *p = strtok_r(out, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
                if (strtol(p, NULL, 10) > 1 && strtol(p, NULL, 10) != (long)getpid())
                    kill((pid_t)strtol(p, NULL, 10), SIGKILL);
        }
        const char *argv[] = {ip, "netns", "del", name, NULL};
        local_cmd(argv, NULL, 0);
    } else if (strcmp(what, "link") == 0 && ip) {
        const char *argv[] = {ip, "link", "del", "dev", name, NULL};
        local_cmd(argv, NULL, 0);
    } else if (strcmp(what, "nft table") == 0 && nft) {
        char family[32], table[128];
        if (sscanf(name, "%31s %127s", family, table) == 2) {
            const char *argv[] = {nft, "delete", "table", family, table, NULL};
            local_cmd(argv, NULL, 0);
        }
    } else if (strcmp(what, "cgroup") == 0) {
        for (int i = 0; i < 50 && rmdir(name) != 0 && errno == EBUSY; i++) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
        char parent[600];
        snprintf(parent, sizeof(parent), "%s", name);
        char *slash = strrchr(parent, '/');
        if (slash != NULL) {
            *slash = '\0';
            rmdir(parent); /* kumo-local itself, when no other machine uses it */
        }
    }
}

int local_sweep(const char *prefix)
{
    int n = scan(prefix, removal, NULL);
    if (n > 0) /* processes die before their cgroups can go */
        scan(prefix, removal, NULL);
    return n;
}

static char sweep_prefix[32];

static void sweep_at_exit(void)
{
    if (sweep_prefix[0] && local_sweep(sweep_prefix) > 0)
        fprintf(stderr, "local tests: swept leftovers of %s at exit\n", sweep_prefix);
}

/* Leftovers of earlier runs whose process is gone ("kt<pid>-..."). */
static void collect_stale(const char *what, const char *name, const char *matched, void *ctx)
{
    (void)what;
    (void)name;
    (void)ctx;
    char *end;
    long pid = strtol(matched + 2, &end, 10);
    if (pid <= 0 || (*end != '-' && *end != '_') || pid == (long)getpid())
        return;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
        return;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "kt%ld", pid);
    fprintf(stderr, "local tests: removing leftovers of an earlier run (%s)\n", prefix);
    local_sweep(prefix);
}

/* A host route (not on a kumo bridge) overlapping a.b.c.d/prefix, described into buf. */
static int host_route_overlaps(const char *cidr, char *buf, size_t size)
{
    char line[256], iface[64];
    unsigned a, b, c, d, dest, gw, flags, refcnt, use, metric, mask;
    int prefix;
    if (sscanf(cidr, "%u.%u.%u.%u/%d", &a, &b, &c, &d, &prefix) != 5)
        return 0;
    uint32_t want = a << 24 | b << 16 | c << 8 | d;
    FILE *f = fopen("/proc/net/route", "r");
    int found = 0;
    while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%63s %x %x %x %u %u %u %x", iface, &dest, &gw, &flags, &refcnt, &use,
                   &metric, &mask) != 8 ||
            strncmp(iface, "kbr-", 4) == 0 || strncmp(iface, "kbn-", 4) == 0)
            continue;
        uint32_t have = ntohl(dest);
        int p = __builtin_popcount(mask), shortest = p < prefix ? p : prefix;
        uint32_t m = shortest == 0 ? 0 : 0xffffffffu << (32 - shortest);
        if (p > 0 && (have & m) == (want & m)) {
            snprintf(buf, size, "%s overlaps the host's route on %s", cidr, iface);
            found = 1;
        }
    }
    if (f != NULL)
        fclose(f);
    return found;
}

/* ---- The environment --------------------------------------------------------------- */

void local_env_init(struct local_env *e)
{
    char dir[512], out[256];
    kumo_diag diag;
    memset(e, 0, sizeof(*e));
    if (geteuid() != 0)
        kumo_test_skip("the local driver's tests need root (network namespaces, bridges)");
    const char *ip = find_tool("ip");
    const char *netns[] = {ip, "netns", "list", NULL};
    if (ip == NULL || local_cmd(netns, out, sizeof(out)) != 0)
        kumo_test_skip("`ip netns` is not available on this host");
    snprintf(e->prefix, sizeof(e->prefix), "kt%ld", (long)getpid());
    snprintf(e->connection, sizeof(e->connection), "test/%s", e->prefix);
    snprintf(e->state_dir, sizeof(e->state_dir), "%s/state", kumo_test_tmpdir());
    snprintf(e->cidr, sizeof(e->cidr), "10.254.%ld.0/24", 20 + (long)getpid() % 200);
    /* The ranges the cases use (the contract's fixed ones included) must be free. */
    char networks[32], why[160];
    snprintf(networks, sizeof(networks), "10.%ld.0.0/16", 100 + (long)getpid() % 100);
    const char *ranges[] = {e->cidr, networks, "10.20.0.0/16", "10.30.0.0/16"};
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        if (host_route_overlaps(ranges[i], why, sizeof(why)))
            kumo_test_skip("the test range %s", why);
    if (sweep_prefix[0] == '\0') {
        /* Earlier runs that died: their namespaces, links and tables. */
        scan("", collect_stale, NULL);
        atexit(sweep_at_exit);
    }
    snprintf(sweep_prefix, sizeof(sweep_prefix), "%s", e->prefix);
    kumo_diag_init(&diag);
    kumo_test_build_path("lib/kumo/drivers", dir, sizeof(dir));
    if (kumo_driver_load(dir, "local", &e->handle, &diag) != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "loading the local driver: %s", diag.message);
    kumo_diag_fini(&diag);
    e->drv = kumo_driver_table(e->handle);
    e->host = kumo_driver_host_of(e->handle);
    local_env_set(e, "name_prefix", e->prefix);
    local_env_set(e, "state_dir", e->state_dir);
    local_env_set(e, "cidr", e->cidr);
    local_env_set(e, "stop_grace_ms", "300");
}

void local_env_set(struct local_env *e, const char *key, const char *value)
{
    size_t i = 0;
    while (i < e->kv_count && strcmp(e->kv[i].key, key) != 0)
        i++;
    if (i == e->kv_count && e->kv_count < sizeof(e->kv) / sizeof(e->kv[0]))
        e->kv_count++;
    e->kv[i].key = key;
    e->kv[i].value = value;
    e->args =
        (struct kumo_driver_open_args){sizeof(e->args), e->connection, e->kv, e->kv_count, NULL, 0};
}

struct kumo_driver_conn *local_env_open(struct local_env *e)
{
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    if (e->drv->open(&e->args, &conn, &diag) != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "open: %s: %s", diag.cloud_code, diag.message);
    return conn;
}

void local_env_fini(struct local_env *e)
{
    char report[2048];
    struct kumo_driver_conn *conn = local_env_open(e);
    char *out = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    KUMO_EXPECT_INT_EQ(e->drv->control(conn, "purge", NULL, &out, &diag), KUMO_DRIVER_OK);
    kumo_driver_free(e->host, out);
    e->drv->close(conn);
    int left = local_leftovers(e->prefix, report, sizeof(report));
    if (left > 0)
        kumo_test_fail_(__FILE__, __LINE__, 0, "left on the host: %s", report);
    kumo_driver_unload(e->handle);
    e->handle = NULL;
}

/* ---- Probes ------------------------------------------------------------------------ */

static uint16_t checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

int local_ping(const char *ip, int timeout_ms)
{
    struct sockaddr_in to = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, ip, &to.sin_addr) != 1)
        return 0;
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0)
        return 0;
    uint16_t id = (uint16_t)(getpid() & 0xffff), seq = (uint16_t)(time(NULL) & 0xffff);
    struct {
        struct icmphdr h;
        char payload[16];
    } echo;
    memset(&echo, 0, sizeof(echo));
    echo.h.type = ICMP_ECHO;
    echo.h.un.echo.id = htons(id);
    echo.h.un.echo.sequence = htons(seq);
    memcpy(echo.payload, "kumo-local-ping", 15);
    echo.h.checksum = checksum(&echo, sizeof(echo));
    int answered = 0;
    if (sendto(fd, &echo, sizeof(echo), 0, (struct sockaddr *)&to, sizeof(to)) > 0) {
        double until = kumo_test_now() + timeout_ms / 1000.0;
        while (!answered && kumo_test_now() < until) {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0)
                continue;
            char packet[256];
            struct sockaddr_in from;
            socklen_t len = sizeof(from);
            ssize_t n = recvfrom(fd, packet, sizeof(packet), 0, (struct sockaddr *)&from, &len);
            if (n < 28 || from.sin_addr.s_addr != to.sin_addr.s_addr)
                continue;
            size_t ihl = (size_t)(packet[0] & 15) * 4;
            const struct icmphdr *h = (const struct icmphdr *)(packet + ihl);
            answered = (size_t)n >= ihl + sizeof(*h) && h->type == ICMP_ECHOREPLY &&
                       ntohs(h->un.echo.id) == id && ntohs(h->un.echo.sequence) == seq;
        }
    }
    close(fd);
    return answered;
}

struct probe {
    const char *netns;
    const char *ip;
    int port;
    int timeout_ms;
    int result;
};

/* Enters the namespace (this thread only); 0 or -1. */
static int enter(const char *netns)
{
    char path[512];
    if (netns == NULL)
        return 0;
    snprintf(path, sizeof(path), "/run/netns/%s", netns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

static void *listen_thread(void *arg)
{
    struct probe *p = arg;
    p->result = -1;
    if (enter(p->netns) != 0)
        return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(fd, 16) == 0)
        p->result = fd;
    else if (fd >= 0)
        close(fd);
    return NULL;
}

static void *connect_thread(void *arg)
{
    struct probe *p = arg;
    p->result = 0;
    if (enter(p->netns) != 0)
        return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    inet_pton(AF_INET, p->ip, &addr.sin_addr);
    if (fd < 0)
        return NULL;
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int err = 1;
        socklen_t len = sizeof(err);
        if (poll(&pfd, 1, p->timeout_ms) == 1 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
            rc = err;
    }
    p->result = rc == 0;
    close(fd);
    return NULL;
}

static int run_probe(void *(*fn)(void *), struct probe *p)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, p) != 0)
        return -1;
    pthread_join(t, NULL);
    return p->result;
}

int local_listen_in(const char *netns, int port)
{
    struct probe p = {netns, NULL, port, 0, -1};
    return run_probe(listen_thread, &p);
}

int local_connect_from(const char *netns, const char *ip, int port, int timeout_ms)
{
    struct probe p = {netns, ip, port, timeout_ms, 0};
    return run_probe(connect_thread, &p);
}

/* ---- Inventory ------------------------------------------------------------------------ */

char *local_inventory(struct local_env *e, struct kumo_driver_conn *conn)
{
    char *out = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    if (e->drv->control(conn, "inventory", NULL, &out, &diag) != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "inventory: %s", diag.message);
    return out;
}

int local_inventory_field(const char *json, const char *id, const char *key, char *out, size_t size)
{
    char pattern[160];
    snprintf(pattern, sizeof(pattern), "{\"id\":\"%s\"", id);
    const char *at = json ? strstr(json, pattern) : NULL;
    if (at == NULL)
        return -1;
    const char *end = strchr(at, '}');
    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    const char *field = strstr(at, pattern);
    if (field == NULL || (end && field > end))
        return -1;
    field += strlen(pattern);
    size_t n = 0;
    if (*field == '"') {
        for (field++; *field && *field != '"' && n + 1 < size; field++)
            out[n++] = *field;
    } else {
        for (; *field && *field != ',' && *field != '}' && n + 1 < size; field++)
            out[n++] = *field;
    }
    out[n] = '\0';
    return 0;
}
