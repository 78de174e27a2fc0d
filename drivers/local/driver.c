/*
 * driver.c - the local driver's entry point and table, connections (settings,
 * privilege check, state folder, names), the frame every call runs in, and
 * `control`.
 *
 * A call: deadline check (a late call is not sent), the connection's mutex
 * and the state folder's flock (both bounded by the deadline), reload of the
 * state file when it changed on disk, the body, unlock. Calls of one
 * connection are serialized; that is plenty for one host.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const struct kumo_driver_host *local_host;

kumo_driver_code local_nomem(struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "InternalError", "out of memory");
}

void local_log(int level, const char *fmt, ...)
{
    char line[768];
    if (local_host == NULL || !local_host->log_enabled(local_host->ctx, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    local_host->log(local_host->ctx, level, "local", line);
}

/* ---- Names ------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull; /* a separator between strings */
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The hex part of an id ("m-1a2b3c4d" -> "1a2b3c4d"). */
static const char *hex_of(const char *id)
{
    const char *dash = id ? strrchr(id, '-') : NULL;
    return dash ? dash + 1 : (id ? id : "");
}

void local_netns_name(const struct kumo_driver_conn *c, const char *machine_id, char *buf,
                      size_t size)
{
    snprintf(buf, size, "%s-%s-%s", c->cfg.prefix, c->short_id, machine_id);
}

void local_veth_name(const char *machine_id, char *buf, size_t size)
{
    snprintf(buf, size, "%s%.8s", strncmp(machine_id, "lb-", 3) == 0 ? "kl" : "kv",
             hex_of(machine_id));
}

void local_bridge_name(const struct kumo_driver_conn *c, const char *network_id, char *buf,
                       size_t size)
{
    if (network_id == NULL || network_id[0] == '\0')
        snprintf(buf, size, "kbr-%s", c->short_id);
    else
        snprintf(buf, size, "kbn-%.8s", hex_of(network_id));
}

void local_alias(const struct kumo_driver_conn *c, const char *id, const char *token, char *buf,
                 size_t size)
{
    snprintf(buf, size, "%s-%s-%s %s", c->cfg.prefix, c->short_id, id, token ? token : "");
}

void local_table_name(const struct kumo_driver_conn *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s_%s", c->cfg.prefix, c->short_id);
}

void local_cgroup_name(const struct kumo_driver_conn *c, const char *machine_id, char *buf,
                       size_t size)
{
    snprintf(buf, size, "%s-%s-%s", c->cfg.prefix, c->short_id, machine_id);
}

static int id_taken(struct kumo_driver_conn *c, const char *id)
{
    char link[32];
    for (size_t i = 0; i < c->state.count; i++) {
        const struct local_object *o = c->state.objects[i];
        if (strcmp(o->id, id) == 0)
            return 1;
        for (size_t j = 0; j < o->subnet_count; j++)
            if (strcmp(o->subnets[j].id, id) == 0)
                return 1;
    }
    if (strncmp(id, "m-", 2) == 0 || strncmp(id, "lb-", 3) == 0)
        local_veth_name(id, link, sizeof(link));
    else if (strncmp(id, "n-", 2) == 0)
        snprintf(link, sizeof(link), "kbn-%s", hex_of(id));
    else
        return 0;
    return local_link_exists(link);
}

void local_new_id(struct kumo_driver_conn *c, int kind, char *buf, size_t size)
{
    static const char *const prefixes[] = {"m-", "n-", "sg-", "key-", "s-", "lb-"};
    const char *prefix = kind >= 0 && kind <= LOCAL_LOAD_BALANCER ? prefixes[kind] : "x-";
    do {
        uint64_t seed = fnv(14695981039346656037ull, c->short_id) ^ ++c->state.serial;
        seed ^= (uint64_t)local_host->realtime_ns(local_host->ctx) ^ ((uint64_t)getpid() << 32);
        snprintf(buf, size, "%s%08x", prefix, (unsigned)(mix(seed) & 0xffffffffu));
    } while (id_taken(c, buf));
}

kumo_driver_code local_check_token(const char *token, struct kumo_driver_diag *diag)
{
    size_t n = token ? strlen(token) : 0;
    if (n == 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "a creation token (the kumo uid) is required");
    if (n > LOCAL_TOKEN_MAX)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "token \"%.40s...\" is longer than %d characters", token,
                                    LOCAL_TOKEN_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
            return kumo_driver_kit_fail(
                diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                "token \"%s\": only printable ASCII without spaces is allowed", token);
    return KUMO_DRIVER_OK;
}

/* ---- The call frame -------------------------------------------------------- */

static int64_t mono_now(void)
{
    return local_host->monotonic_ns(local_host->ctx);
}

int local_late(const struct local_call *call)
{
    return mono_now() >= call->deadline_ns;
}

kumo_driver_code local_timeout(struct local_call *call, const char *what,
                               struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_fail(
        diag, KUMO_DRIVER_TIMEOUT, "Timeout",
        "%s: %s: the deadline passed (part of the change may have been applied; "
        "repeat the call)",
        call->op, what);
}

kumo_driver_code local_call_begin(struct kumo_driver_conn *c, const char *op, int64_t deadline_ns,
                                  struct local_call *call, struct kumo_driver_diag *diag)
{
    memset(call, 0, sizeof(*call));
    call->conn = c;
    call->op = op;
    call->deadline_ns = deadline_ns;
    if (c == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "%s: the connection is NULL", op);
    if (mono_now() >= deadline_ns)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "Timeout",
                                    "%s: the deadline passed before the call was sent", op);
    pthread_mutex_lock(&c->flight_mu);
    c->in_flight++;
    pthread_mutex_unlock(&c->flight_mu);
    int locked;
    if (deadline_ns == KUMO_DRIVER_NO_DEADLINE) {
        locked = pthread_mutex_lock(&c->mu) == 0;
    } else {
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        int64_t left = deadline_ns - mono_now();
        left = left < 0 ? 0 : left;
        at.tv_sec += (time_t)(left / 1000000000);
        at.tv_nsec += (long)(left % 1000000000);
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
        locked = pthread_mutex_timedlock(&c->mu, &at) == 0;
    }
    kumo_driver_code rc = KUMO_DRIVER_OK;
    if (!locked)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "Timeout",
                                  "%s: other calls on connection %s held it past the deadline", op,
                                  c->name);
    while (rc == KUMO_DRIVER_OK && flock(c->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError",
                                      "%s: locking %s: %s", op, c->lock_path, strerror(errno));
        else if (mono_now() >= deadline_ns)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "Timeout",
                                      "%s: another connection held %s past the deadline", op,
                                      c->lock_path);
        else {
            struct timespec ts = {0, LOCAL_LOCK_RETRY_MS * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (rc == KUMO_DRIVER_OK) {
        struct kumo_driver_diag d;
        memset(&d, 0, sizeof(d));
        rc = local_state_load(&c->state, c->state_path, &d);
        if (rc != KUMO_DRIVER_OK) {
            flock(c->lock_fd, LOCK_UN);
            kumo_driver_kit_fail(diag, rc, d.cloud_code, "%s: %s", op, d.message);
        }
    }
    if (rc != KUMO_DRIVER_OK) {
        if (locked)
            pthread_mutex_unlock(&c->mu);
        pthread_mutex_lock(&c->flight_mu);
        if (--c->in_flight == 0)
            pthread_cond_broadcast(&c->idle);
        pthread_mutex_unlock(&c->flight_mu);
        call->conn = NULL;
        return rc;
    }
    call->now_ns = local_host->realtime_ns(local_host->ctx);
    return KUMO_DRIVER_OK;
}

void local_call_end(struct local_call *call)
{
    struct kumo_driver_conn *c = call->conn;
    if (c == NULL)
        return;
    flock(c->lock_fd, LOCK_UN);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_lock(&c->flight_mu);
    if (--c->in_flight == 0)
        pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->flight_mu);
    call->conn = NULL;
}

kumo_driver_code local_save(struct local_call *call, const char *what,
                            struct kumo_driver_diag *diag)
{
    struct kumo_driver_diag d;
    memset(&d, 0, sizeof(d));
    kumo_driver_code rc = local_state_save(&call->conn->state, call->conn->state_path, &d);
    if (rc == KUMO_DRIVER_OK)
        return KUMO_DRIVER_OK;
    return kumo_driver_kit_fail(diag, rc, d.cloud_code, "%s: %s: %s", call->op, what, d.message);
}

/* ---- Settings ------------------------------------------------------------------ */

/* Splits a command line into words: blanks separate, '...' is literal, "..."
 * and a backslash escape the next character. No shell, no expansion. */
static int split_command(const char *line, char *words, size_t size, char **argv, int max)
{
    size_t n = 0;
    int count = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == '\0')
            break;
        if (count == max)
            return -1;
        argv[count++] = words + n;
        char quote = 0;
        for (; *p && (quote || (*p != ' ' && *p != '\t' && *p != '\n')); p++) {
            char ch = *p;
            if (quote == 0 && (ch == '\'' || ch == '"')) {
                quote = ch;
                continue;
            }
            if (quote && ch == quote) {
                quote = 0;
                continue;
            }
            if (ch == '\\' && quote != '\'' && p[1] != '\0')
                ch = *++p;
            if (n + 1 >= size)
                return -1;
            words[n++] = ch;
        }
        if (quote)
            return -1;
        if (n + 1 >= size)
            return -1;
        words[n++] = '\0';
    }
    argv[count] = NULL;
    return count;
}

static kumo_driver_code set_provider(const struct kumo_driver_kit_settings *settings, void *config,
                                     const char *key, const char *value,
                                     struct kumo_driver_diag *diag)
{
    (void)config;
    if (value[0] != '\0' && strcmp(value, "local") != 0)
        return kumo_driver_kit_setting_bad(settings, key, value, "\"local\" (or nothing)", diag);
    return KUMO_DRIVER_OK;
}

static kumo_driver_code set_state_dir(const struct kumo_driver_kit_settings *settings, void *config,
                                      const char *key, const char *value,
                                      struct kumo_driver_diag *diag)
{
    struct local_config *cfg = config;
    /* room for the files inside it */
    if (value[0] != '/' || strlen(value) >= sizeof(cfg->state_dir) - 64)
        return kumo_driver_kit_setting_bad(settings, key, value, "an absolute folder path", diag);
    snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", value);
    return KUMO_DRIVER_OK;
}

static kumo_driver_code set_cidr(const struct kumo_driver_kit_settings *settings, void *config,
                                 const char *key, const char *value, struct kumo_driver_diag *diag)
{
    struct local_config *cfg = config;
    if (local_cidr_parse(value, &cfg->cidr_base, &cfg->cidr_prefix) != 0 || cfg->cidr_prefix < 16 ||
        cfg->cidr_prefix > 28)
        return kumo_driver_kit_setting_bad(
            settings, key, value, "an IPv4 range from /16 to /28, like 10.254.7.0/24", diag);
    return KUMO_DRIVER_OK;
}

static kumo_driver_code set_name_prefix(const struct kumo_driver_kit_settings *settings,
                                        void *config, const char *key, const char *value,
                                        struct kumo_driver_diag *diag)
{
    struct local_config *cfg = config;
    size_t n = strlen(value);
    int ok = n >= 1 && n <= 12 && value[0] >= 'a' && value[0] <= 'z';
    for (size_t i = 0; ok && i < n; i++)
        ok = (value[i] >= 'a' && value[i] <= 'z') || (value[i] >= '0' && value[i] <= '9');
    if (!ok)
        return kumo_driver_kit_setting_bad(
            settings, key, value, "1 to 12 lowercase letters and digits, starting with a letter",
            diag);
    snprintf(cfg->prefix, sizeof(cfg->prefix), "%s", value);
    return KUMO_DRIVER_OK;
}

static kumo_driver_code set_stop_grace(const struct kumo_driver_kit_settings *settings,
                                       void *config, const char *key, const char *value,
                                       struct kumo_driver_diag *diag)
{
    struct local_config *cfg = config;
    double d;
    if (kumo_driver_kit_parse_double(value, 0, 600000, &d) != 0)
        return kumo_driver_kit_setting_bad(settings, key, value, "milliseconds from 0 to 600000",
                                           diag);
    cfg->stop_grace_ms = (int64_t)d;
    return KUMO_DRIVER_OK;
}

#define FIELD(f) offsetof(struct local_config, f), sizeof(((struct local_config *)0)->f)
#define CUSTOM   KUMO_DRIVER_KIT_SETTING_CUSTOM
#define STRING   KUMO_DRIVER_KIT_SETTING_STRING
#define CHOICE   KUMO_DRIVER_KIT_SETTING_CHOICE
#define DOUBLE   KUMO_DRIVER_KIT_SETTING_DOUBLE

static const struct kumo_driver_kit_setting rows[] = {
    {"provider", CUSTOM, 0, 0, 0, 0, NULL, NULL, 0, set_provider},
    {"region", STRING, FIELD(region), 1, 0, NULL, "a name of 1 to 63 characters", 0, NULL},
    {"zone", STRING, FIELD(zone), 1, 0, NULL, "a name of 1 to 63 characters", 0, NULL},
    /* the host is the endpoint */
    {"endpoint", KUMO_DRIVER_KIT_SETTING_IGNORED, 0, 0, 0, 0, NULL, NULL, 0, NULL},
    {"state_dir", CUSTOM, 0, 0, 0, 0, NULL, NULL, 0, set_state_dir},
    {"cidr", CUSTOM, 0, 0, 0, 0, NULL, NULL, 0, set_cidr},
    {"agent_command", STRING, FIELD(agent_command), 0, 0, NULL,
     "a command line shorter than 2048 characters", 0, NULL},
    {"isolation", CHOICE, FIELD(isolate), 0, 0, "none|pid",
     "pid (own PID and mount namespaces) or none", 0, NULL},
    {"cgroups", CHOICE, FIELD(cgroups_wanted), 0, 0, "off|auto", "auto or off", 0, NULL},
    {"name_prefix", CUSTOM, 0, 0, 0, 0, NULL, NULL, 0, set_name_prefix},
    {"stop_grace_ms", CUSTOM, 0, 0, 0, 0, NULL, NULL, 0, set_stop_grace},
    {"latitude", DOUBLE, FIELD(latitude), -90, 90, NULL, "degrees from -90 to 90", 0, NULL},
    {"longitude", DOUBLE, FIELD(longitude), -180, 180, NULL, "degrees from -180 to 180", 0, NULL},
};

static const struct kumo_driver_kit_settings settings = {"local", "InvalidParameter", rows,
                                                         sizeof(rows) / sizeof(rows[0])};

static kumo_driver_code set_key(struct kumo_driver_conn *c, const char *key, const char *value,
                                struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_settings_apply(&settings, &c->cfg, key, value, 1, diag);
}

/* CAP_NET_ADMIN (12) and CAP_SYS_ADMIN (21) in the effective set. */
static int privileged(void)
{
    char line[256];
    unsigned long long caps = 0;
    FILE *f = fopen("/proc/self/status", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "CapEff:", 7) == 0)
            caps = strtoull(line + 7, NULL, 16);
    if (f != NULL)
        fclose(f);
    return (caps >> 12 & 1) && (caps >> 21 & 1);
}

static int make_dirs(const char *path)
{
    char buf[LOCAL_NAME_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static kumo_driver_code prepare_agent(struct kumo_driver_conn *c, struct kumo_driver_diag *diag)
{
    const char *line = c->cfg.agent_command[0] ? c->cfg.agent_command : "sleep infinity";
    c->agent_is_placeholder = c->cfg.agent_command[0] == '\0';
    int n =
        split_command(line, c->agent_words, sizeof(c->agent_words), c->agent_argv, LOCAL_ARGV_MAX);
    if (n <= 0)
        return kumo_driver_kit_setting_bad(
            &settings, "agent_command", line,
            "a command line (words separated by blanks; quotes must be closed)", diag);
    /* Machines created with an agent bootstrap run kumo-agent when agent_command is empty. */
    c->kumo_agent_path[0] = '\0';
    if (c->agent_is_placeholder &&
        local_find_program("kumo-agent", c->kumo_agent_path, sizeof(c->kumo_agent_path)) != 0) {
        char self[LOCAL_NAME_MAX];
        ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        char *slash = len > 0 ? memchr(self, '/', (size_t)len) : NULL;
        c->kumo_agent_path[0] = '\0';
        if (slash != NULL) {
            self[len] = '\0';
            *strrchr(self, '/') = '\0';
            int w =
                snprintf(c->kumo_agent_path, sizeof(c->kumo_agent_path), "%.400s/kumo-agent", self);
            if (w < 0 || (size_t)w >= sizeof(c->kumo_agent_path) ||
                access(c->kumo_agent_path, X_OK) != 0)
                c->kumo_agent_path[0] = '\0';
        }
    }
    if (local_find_program(c->agent_argv[0], c->agent_path, sizeof(c->agent_path)) != 0)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
            "local config agent_command: program \"%s\" is not found or not "
            "executable",
            c->agent_argv[0]);
    return KUMO_DRIVER_OK;
}

static void local_close(struct kumo_driver_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->flight_mu);
    while (c->in_flight > 0)
        pthread_cond_wait(&c->idle, &c->flight_mu);
    pthread_mutex_unlock(&c->flight_mu);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    local_state_clear(&c->state);
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->flight_mu);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void config_defaults(struct local_config *cfg)
{
    snprintf(cfg->region, sizeof(cfg->region), "local");
    snprintf(cfg->prefix, sizeof(cfg->prefix), "kumo");
    cfg->isolate = 1;
    cfg->cgroups_wanted = 1;
    cfg->stop_grace_ms = LOCAL_DEFAULT_STOP_GRACE_MS;
    cfg->cidr_prefix = -1;
}

/* Root, `ip` and network namespaces are required; `nft` is looked up (security
 * groups say so when it is missing); the machines' program is resolved. */
static kumo_driver_code check_host(struct kumo_driver_conn *c, struct kumo_driver_diag *diag)
{
    if (!privileged())
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_UNAUTHORIZED, "NotRoot",
            "the local driver needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make "
            "network namespaces, bridges and firewall rules; run kumod as root to "
            "use connection %s",
            c->name);
    if (local_find_program("ip", c->ip_path, sizeof(c->ip_path)) != 0 ||
        access("/proc/self/ns/net", F_OK) != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNAVAILABLE, "HostUnsupported",
                                    "the local driver needs iproute2 (`ip`) and network "
                                    "namespaces (apt-get install iproute2)");
    if (local_find_program("nft", c->nft_path, sizeof(c->nft_path)) != 0)
        c->nft_path[0] = '\0';
    return prepare_agent(c, diag);
}

/* The zone and state folder (defaults from the region and the connection's
 * name), the connection's short id and default range, and its lock file. */
static kumo_driver_code place_state(struct kumo_driver_conn *c, struct kumo_driver_diag *diag)
{
    struct local_config *cfg = &c->cfg;
    char real[PATH_MAX];
    if (cfg->zone[0] == '\0')
        snprintf(cfg->zone, sizeof(cfg->zone), "%.60s-a", cfg->region);
    if (cfg->state_dir[0] == '\0') {
        char safe[256];
        snprintf(safe, sizeof(safe), "%s", c->name);
        for (char *p = safe; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
                *p = '_';
        snprintf(cfg->state_dir, sizeof(cfg->state_dir), "/run/kumo/local/%s", safe);
    }
    if (make_dirs(cfg->state_dir) != 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "local config state_dir=\"%s\": cannot create it: %s",
                                    cfg->state_dir, strerror(errno));
    if (realpath(cfg->state_dir, real) == NULL)
        snprintf(real, sizeof(real), "%s", cfg->state_dir);
    uint64_t h = fnv(fnv(fnv(14695981039346656037ull, cfg->prefix), c->name), real);
    snprintf(c->short_id, sizeof(c->short_id), "%06x", (unsigned)(mix(h) & 0xffffff));
    if (cfg->cidr_prefix < 0) {
        cfg->cidr_base = (10u << 24) | (254u << 16) | ((1 + (unsigned)(mix(h + 1) % 254)) << 8);
        cfg->cidr_prefix = 24;
    }
    snprintf(c->state_path, sizeof(c->state_path), "%s/state", real);
    snprintf(c->lock_path, sizeof(c->lock_path), "%s/lock", real);
    c->lock_fd = open(c->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (c->lock_fd < 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "StateUnwritable", "opening %s: %s",
                                    c->lock_path, strerror(errno));
    return KUMO_DRIVER_OK;
}

/* Detects cgroups (unless off) and loads the state file under the lock. */
static kumo_driver_code load_state(struct kumo_driver_conn *c, struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    c->cgroup_mode = c->cfg.cgroups_wanted
                         ? local_cgroup_detect(c->cgroup_note, sizeof(c->cgroup_note))
                         : LOCAL_CGROUP_NONE;
    if (!c->cfg.cgroups_wanted)
        snprintf(c->cgroup_note, sizeof(c->cgroup_note), "cgroups=off: no limits");
    if (c->cgroup_mode == LOCAL_CGROUP_NONE)
        local_log(KUMO_DRIVER_LOG_INFO, "connection %s: %s", c->name, c->cgroup_note);
    if (flock(c->lock_fd, LOCK_EX) != 0)
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "StateUnreadable", "locking %s: %s",
                                  c->lock_path, strerror(errno));
    else
        rc = local_state_load(&c->state, c->state_path, diag);
    flock(c->lock_fd, LOCK_UN);
    return rc;
}

static kumo_driver_code local_open(const struct kumo_driver_open_args *args,
                                   struct kumo_driver_conn **out, struct kumo_driver_diag *diag)
{
    if (out == NULL || args == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "open: args and out are required");
    *out = NULL;
    struct kumo_driver_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return local_nomem(diag);
    c->lock_fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->flight_mu, NULL);
    pthread_cond_init(&c->idle, NULL);
    snprintf(c->name, sizeof(c->name), "%s",
             args->connection && args->connection[0] ? args->connection : "local");
    config_defaults(&c->cfg);
    kumo_driver_code rc = KUMO_DRIVER_OK;
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < args->config_count; i++)
        rc = args->config[i].key == NULL
                 ? kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                        "open: config entry %zu has no key", i)
                 : set_key(c, args->config[i].key,
                           args->config[i].value ? args->config[i].value : "", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = check_host(c, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = place_state(c, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = load_state(c, diag);
    if (rc != KUMO_DRIVER_OK) {
        local_close(c);
        return rc;
    }
    char range[32];
    local_ip_format(c->cfg.cidr_base, range, sizeof(range));
    local_log(KUMO_DRIVER_LOG_DEBUG, "connection %s opened: bridge kbr-%s %s/%d, state %s", c->name,
              c->short_id, range, c->cfg.cidr_prefix, c->state_path);
    *out = c;
    return KUMO_DRIVER_OK;
}

/* ---- control ----------------------------------------------------------------------- */

static kumo_driver_code local_control(struct kumo_driver_conn *c, const char *op,
                                      const char *json_in, char **json_out,
                                      struct kumo_driver_diag *diag)
{
    (void)json_in;
    struct local_call call;
    if (json_out == NULL || op == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "control: op and json_out are required");
    *json_out = NULL;
    int inventory = strcmp(op, "inventory") == 0, purge = strcmp(op, "purge") == 0;
    if (!inventory && !purge)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNSUPPORTED, "UnknownOperation",
                                    "local has no control op \"%s\"; known: inventory, purge", op);
    kumo_driver_code rc =
        local_call_begin(c, op, mono_now() + LOCAL_CONTROL_DEADLINE_NS, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    if (inventory)
        local_inventory_json(&call, &b);
    else if ((rc = local_purge(&call, diag)) == KUMO_DRIVER_OK)
        kumo_driver_kit_buf_str(&b, "{}");
    local_call_end(&call);
    if (rc == KUMO_DRIVER_OK)
        rc = b.failed || (*json_out = local_pack_text(b.data)) == NULL ? local_nomem(diag)
                                                                       : KUMO_DRIVER_OK;
    kumo_driver_kit_buf_fini(&b);
    return rc;
}

/* ---- The table ---------------------------------------------------------------------- */

static const struct kumo_driver table = {
    KUMO_DRIVER_KIT_TABLE_VERSION,
    .name = "local",
    .description = "this host: machines are network namespaces on a bridge per connection, "
                   "security groups are nftables rules (needs root)",
    .capabilities = KUMO_DRIVER_CAP_MACHINES | KUMO_DRIVER_CAP_NETWORKS |
                    KUMO_DRIVER_CAP_SECURITY_GROUPS | KUMO_DRIVER_CAP_KEY_PAIRS |
                    KUMO_DRIVER_CAP_CATALOG | KUMO_DRIVER_CAP_CONTROL |
                    KUMO_DRIVER_CAP_MACHINE_POWER | KUMO_DRIVER_CAP_TOKENS |
                    KUMO_DRIVER_CAP_AGENTS | KUMO_DRIVER_CAP_LOAD_BALANCERS,
    KUMO_DRIVER_KIT_TABLE_BASE(local),
    KUMO_DRIVER_KIT_TABLE_OPS(local, machine),
    KUMO_DRIVER_KIT_TABLE_OPS(local, network),
    KUMO_DRIVER_KIT_TABLE_OPS(local, security_group),
    KUMO_DRIVER_KIT_TABLE_OPS(local, key_pair),
    .control = local_control,
    KUMO_DRIVER_KIT_TABLE_OPS(local, load_balancer),
};

__attribute__((visibility("default"))) const struct kumo_driver *
kumo_driver_entry(const struct kumo_driver_host *host)
{
    if (host == NULL || host->abi_major != KUMO_DRIVER_ABI_MAJOR ||
        host->struct_size < offsetof(struct kumo_driver_host, realtime_ns) + sizeof(void *))
        return NULL;
    local_host = host;
    return &table;
}
