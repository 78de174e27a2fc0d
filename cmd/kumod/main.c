/*
 * kumod - the kumo server: opens the store, brings up the bus (its own child
 * nats-server unless --nats names one) and serves the API on it until
 * SIGTERM or SIGINT, then drains in-flight requests and exits cleanly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "apis/log/log.h"
#include "bus/apiserver/apiserver.h"
#include "bus/monitor/monitor.h"
#include "bus/kubeapi/kubeapi.h"
#include "bus/natsd/natsd.h"
#include "bus/protocol/protocol.h"
#include "cmd/kumod/agents.h"
#include "cmd/kumod/logs.h"
#include "cmd/kumod/orphan.h"
#include "controllers/manager/manager.h"
#include "store/store.h"

#ifndef KUMO_VERSION
#define KUMO_VERSION "0.0.0"
#endif

static const char usage[] =
    "kumod - the kumo multi-cloud control plane server\n"
    "\n"
    "Usage: kumod [flags]\n"
    "\n"
    "Flags:\n"
    "  --data-dir DIR             where the store (and the embedded nats-server's data) live\n"
    "                             (default: $KUMO_DATA_DIR, else /var/lib/kumo as root,\n"
    "                             else $XDG_DATA_HOME/kumo or ~/.local/share/kumo)\n"
    "  --nats URL                 use this NATS server (default: start an embedded one)\n"
    "  --embedded-nats-addr H:P   address of the embedded nats-server (default 127.0.0.1:4222)\n"
    "  --prefix P                 subject prefix (default kumo.v1)\n"
    "  --workers N                request-serving threads (default 64)\n"
    "  --http-listen H:P          the Kubernetes-compatible HTTPS API (default 127.0.0.1:6443;\n"
    "                             \"\" turns it off); kubectl uses <data-dir>/kubeconfig\n"
    "  --log-level L              debug, info, warn or error (default info)\n"
    "  --controllers LIST         controllers to run: all (default), none (API only), or a\n"
    "                             comma list of the controllers named at the end\n"
    "  --drivers-dir DIR          cloud driver plugins (default: <kumod dir>/../lib/kumo/drivers)\n"
    "  --latency-table FILE       measured inter-region RTT matrix (CSV) for placement\n"
    "  --drift-poll-seconds S     how often running machines are checked for drift (default 30)\n"
    "  --max-machines-per-infra N      machines one Infra may ask for in all (default 10000)\n"
    "  --max-machines-per-namespace N  Machines Infras may make in one namespace (default 50000)\n"
    "  --event-ttl-seconds S      Events older than this are deleted (default 3600)\n"
    "  --events-per-namespace N   most Events kept per namespace (default 1000)\n"
    "  --agent-listen H:P|none    the agent bus, which the kumo-agents in machines join\n"
    "                             (default 0.0.0.0 on the port it had last time, else a free one)\n"
    "  --agent-advertise URLS     comma list of nats:// URLs agents use to reach the agent bus\n"
    "                             (default: the machine's gateway, the local driver's bridge)\n"
    "  --metrics-listen H:P|none  serve /metrics (Prometheus) here (default 127.0.0.1:9464;\n"
    "                             when that default is taken, kumod serves without it)\n"
    "  --metrics-interval S       how often agents report metrics and time their peers\n"
    "                             (default 10, at least 1)\n"
    "  --version                  print the version and exit\n"
    "  -h, --help                 print this help and exit\n"
    "\n"
    "Stop it with SIGTERM or Ctrl-C: it finishes in-flight requests first.\n";

typedef struct kumod_flags {
    char data_dir[1024];
    const char *nats_url;
    char embedded_host[64];
    int embedded_port;
    const char *prefix;
    int workers;
    char agent_host[64]; /* "" with --agent-listen none */
    int agent_port;
    const char *agent_advertise;
    const char *metrics_listen; /* NULL: the default, given up quietly when taken */
    int metrics_interval_ms;
    const char *http_listen; /* "" turns the Kubernetes API off */
    int http_listen_given;   /* 1: failing to listen is fatal */
} kumod_flags;

static void default_data_dir(char *buf, size_t size)
{
    const char *env = getenv("KUMO_DATA_DIR");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (env && env[0])
        snprintf(buf, size, "%s", env);
    else if (geteuid() == 0)
        snprintf(buf, size, "/var/lib/kumo");
    else if (xdg && xdg[0])
        snprintf(buf, size, "%s/kumo", xdg);
    else
        snprintf(buf, size, "%s/.local/share/kumo", home ? home : ".");
}

/* Parses "HOST:PORT". Returns 0 on success. */
static int parse_host_port(const char *text, char *host, size_t host_size, int *port)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || (size_t)(colon - text) >= host_size)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535)
        return -1;
    snprintf(host, host_size, "%.*s", (int)(colon - text), text);
    *port = (int)p;
    return 0;
}

/* The usage, then the controllers --controllers takes, read from the manager's table. */
static void usage_print(void)
{
    fputs(usage, stdout);
    fputs("\ncontrollers:", stdout);
    for (size_t i = 0; i < kumo_manager_controller_count(); i++)
        printf("%s %s", i ? "," : "", kumo_manager_controller_name(i));
    fputs("\n", stdout);
}

/* Returns 0 to go on, 1 to exit 0 (help/version), 2 on a usage error. */
static int parse_flags(int argc, char **argv, kumod_flags *f)
{
    enum {
        DATA_DIR = 1,
        NATS,
        EMBEDDED,
        PREFIX,
        WORKERS,
        LOG_LEVEL,
        VERSION,
        AGENT_LISTEN,
        AGENT_ADVERTISE,
        METRICS_LISTEN,
        METRICS_INTERVAL,
        HTTP_LISTEN
    };
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, DATA_DIR},
        {"nats", required_argument, NULL, NATS},
        {"embedded-nats-addr", required_argument, NULL, EMBEDDED},
        {"prefix", required_argument, NULL, PREFIX},
        {"workers", required_argument, NULL, WORKERS},
        {"log-level", required_argument, NULL, LOG_LEVEL},
        {"version", no_argument, NULL, VERSION},
        {"agent-listen", required_argument, NULL, AGENT_LISTEN},
        {"agent-advertise", required_argument, NULL, AGENT_ADVERTISE},
        {"metrics-listen", required_argument, NULL, METRICS_LISTEN},
        {"metrics-interval", required_argument, NULL, METRICS_INTERVAL},
        {"http-listen", required_argument, NULL, HTTP_LISTEN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(f, 0, sizeof(*f));
    default_data_dir(f->data_dir, sizeof(f->data_dir));
    snprintf(f->embedded_host, sizeof(f->embedded_host), "127.0.0.1");
    f->embedded_port = 4222;
    f->prefix = KUMO_PROTOCOL_DEFAULT_PREFIX;
    f->workers = KUMO_APISERVER_DEFAULT_WORKERS;
    snprintf(f->agent_host, sizeof(f->agent_host), "0.0.0.0");
    f->http_listen = KUMO_KUBEAPI_DEFAULT_LISTEN;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case DATA_DIR:
            snprintf(f->data_dir, sizeof(f->data_dir), "%s", optarg);
            break;
        case NATS:
            f->nats_url = optarg;
            break;
        case EMBEDDED:
            if (parse_host_port(optarg, f->embedded_host, sizeof(f->embedded_host),
                                &f->embedded_port) != 0) {
                fprintf(stderr, "kumod: --embedded-nats-addr \"%s\" is not HOST:PORT\n", optarg);
                return 2;
            }
            break;
        case PREFIX:
            f->prefix = optarg;
            break;
        case AGENT_LISTEN:
            if (strcmp(optarg, "none") == 0) {
                f->agent_host[0] = '\0';
            } else if (parse_host_port(optarg, f->agent_host, sizeof(f->agent_host),
                                       &f->agent_port) != 0) {
                fprintf(stderr, "kumod: --agent-listen \"%s\" is not HOST:PORT or none\n", optarg);
                return 2;
            }
            break;
        case AGENT_ADVERTISE:
            f->agent_advertise = optarg;
            break;
        case METRICS_LISTEN:
            f->metrics_listen = optarg;
            break;
        case METRICS_INTERVAL: {
            char *end;
            double seconds = strtod(optarg, &end);
            if (*end != '\0' || !(seconds >= 1 && seconds <= 3600)) {
                fprintf(stderr,
                        "kumod: --metrics-interval \"%s\" must be a number of seconds from 1 "
                        "to 3600\n",
                        optarg);
                return 2;
            }
            f->metrics_interval_ms = (int)(seconds * 1000);
            break;
        }
        case HTTP_LISTEN:
            f->http_listen = optarg;
            f->http_listen_given = 1;
            break;
        case WORKERS: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 1 || n > 256) {
                fprintf(stderr, "kumod: --workers \"%s\" must be a number from 1 to 256\n", optarg);
                return 2;
            }
            f->workers = (int)n;
            break;
        }
        case LOG_LEVEL: {
            kumo_log_level level;
            if (kumo_log_level_parse(optarg, &level) != 0) {
                fprintf(stderr, "kumod: --log-level \"%s\": use debug, info, warn or error\n",
                        optarg);
                return 2;
            }
            kumo_log_set_level(level);
            break;
        }
        case VERSION:
            printf("kumod v%s (API kumo.dev/v1alpha1)\n", KUMO_VERSION);
            return 1;
        case 'h':
            usage_print();
            return 1;
        default:
            fprintf(stderr, "kumod: unknown flag \"%s\"; see kumod --help\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kumod: unexpected argument \"%s\"; see kumod --help\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* mkdir -p with mode 0700 for the last component. */
static int make_dirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Largest NATS message of the embedded server: room for the biggest object (1.5 MiB) and pages. */
#define KUMOD_EMBEDDED_MAX_PAYLOAD (8L << 20)

/* 1 when /proc/<pid>/cmdline is a nats-server whose JetStream directory is js_dir. */
static int is_our_nats_server(const char *pid, const char *js_dir)
{
    char args[4096];
    long n = kumod_proc_read((pid_t)strtol(pid, NULL, 10), "cmdline", args, sizeof(args));
    if (n <= 0)
        return 0;
    if (strstr(args, "nats-server") == NULL)
        return 0;
    for (const char *a = args; a < args + n; a += strlen(a) + 1)
        if (strcmp(a, "-sd") == 0 && a + strlen(a) + 1 < args + n &&
            strcmp(a + strlen(a) + 1, js_dir) == 0)
            return 1;
    return 0;
}

/*
 * A kumod killed with SIGKILL leaves its embedded nats-server running (it is
 * in its own process group so that Ctrl-C reaches kumod first). Holding the
 * store's lock proves no other kumod uses this data directory, so a
 * nats-server on our JetStream directory is such an orphan: stop it, so the
 * new one can take the port and the directory.
 */
static void stop_orphaned_nats_server(const char *js_dir)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
            continue;
        if (!is_our_nats_server(entry->d_name, js_dir))
            continue;
        pid_t pid = (pid_t)strtol(entry->d_name, NULL, 10);
        if (!kumod_pid_running(pid))
            continue;
        KUMO_LOG_WARN("kumod", "stopping the nats-server left behind by a previous kumod",
                      "pid=%d store_dir=%s", (int)pid, js_dir);
        kumod_orphan_stop(pid, 1);
    }
    closedir(proc);
}

/* ---- the Kubernetes-compatible API (docs/kubeapi.md) ---------------------------------- */

static void fail(const char *what, const kumo_diag *diag);

/*
 * Starts the HTTPS API unless --http-listen "". When the default address is
 * taken (another kumod on this machine), kumod goes on without it and says
 * so; an address given with --http-listen must work. Returns 0 or -1.
 */
static int start_kubeapi(const kumod_flags *flags, kumo_store *store, kumo_kubeapi **out)
{
    *out = NULL;
    if (flags->http_listen[0] == '\0')
        return 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_kubeapi_options options = {
        .listen = flags->http_listen, .data_dir = flags->data_dir, .store = store};
    kumo_error err = kumo_kubeapi_start(&options, out, &diag);
    int status = 0;
    if (err == KUMO_ERROR_UNAVAILABLE && !flags->http_listen_given) {
        KUMO_LOG_WARN("kumod", "no Kubernetes API: the default address is in use",
                      "listen=%s detail=\"%s\"", flags->http_listen, diag.message);
    } else if (err != KUMO_ERROR_OK) {
        fail("cannot serve the Kubernetes API", &diag);
        status = -1;
    } else {
        printf("kumod Kubernetes API on port %d (export KUBECONFIG=%s/kubeconfig)\n",
               kumo_kubeapi_port(*out), flags->data_dir);
    }
    kumo_diag_fini(&diag);
    return status;
}

/* ---- the controller manager (docs/controllers.md) ------------------------------------ */

typedef struct kumod_controller_flags {
    const char *list;                /* --controllers */
    char drivers_dir[1024];          /* --drivers-dir */
    const char *latency_table;       /* --latency-table */
    double drift_poll_seconds;       /* --drift-poll-seconds */
    long max_machines_per_infra;     /* --max-machines-per-infra (the store checks it) */
    long max_machines_per_namespace; /* --max-machines-per-namespace */
    long event_ttl_seconds;          /* --event-ttl-seconds */
    long events_per_namespace;       /* --events-per-namespace */
} kumod_controller_flags;

/* A limit flag: a whole number from 1 to 10,000,000 into *out; 0, or 2 after a usage error. */
static int limit_flag(const char *name, const char *value, long *out)
{
    char *end;
    *out = strtol(value, &end, 10);
    if (*end == '\0' && *out >= 1 && *out <= 10000000)
        return 0;
    fprintf(stderr, "kumod: %s \"%s\" must be a whole number from 1 to 10000000\n", name, value);
    return 2;
}

/*
 * Takes the controller manager's flags (and the limits on machines) out of
 * argv (so parse_flags never sees them). Returns 0, or 2 after printing a
 * usage error.
 */
static int controller_flags_take(int *argc, char **argv, kumod_controller_flags *cf)
{
    static const char *const names[] = {"--controllers",
                                        "--drivers-dir",
                                        "--latency-table",
                                        "--drift-poll-seconds",
                                        "--max-machines-per-infra",
                                        "--max-machines-per-namespace",
                                        "--event-ttl-seconds",
                                        "--events-per-namespace"};
    memset(cf, 0, sizeof(*cf));
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(cf->drivers_dir, sizeof(cf->drivers_dir), "%.990s/../lib/kumo/drivers",
             slash ? self : ".");
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        int which = -1;
        const char *value = NULL;
        for (int k = 0; k < 8 && which < 0; k++) {
            size_t len = strlen(names[k]);
            if (strcmp(argv[i], names[k]) == 0) {
                which = k;
                if (i + 1 >= *argc) {
                    fprintf(stderr, "kumod: %s needs a value; see kumod --help\n", names[k]);
                    return 2;
                }
                value = argv[++i];
            } else if (strncmp(argv[i], names[k], len) == 0 && argv[i][len] == '=') {
                which = k;
                value = argv[i] + len + 1;
            }
        }
        if (which < 0) {
            argv[out++] = argv[i];
            continue;
        }
        char *end;
        switch (which) {
        case 0: {
            kumo_diag diag;
            kumo_diag_init(&diag);
            kumo_error e = kumo_manager_controllers_check(value, &diag);
            if (e != KUMO_ERROR_OK)
                fprintf(stderr, "kumod: --controllers: %s\n", diag.message);
            kumo_diag_fini(&diag);
            if (e != KUMO_ERROR_OK)
                return 2;
            cf->list = value;
            break;
        }
        case 1:
            snprintf(cf->drivers_dir, sizeof(cf->drivers_dir), "%s", value);
            break;
        case 2:
            cf->latency_table = value;
            break;
        case 4:
        case 5:
        case 6:
        case 7: {
            long *slots[] = {&cf->max_machines_per_infra, &cf->max_machines_per_namespace,
                             &cf->event_ttl_seconds, &cf->events_per_namespace};
            if (limit_flag(names[which], value, slots[which - 4]) != 0)
                return 2;
            break;
        }
        default:
            cf->drift_poll_seconds = strtod(value, &end);
            if (*end != '\0' || !(cf->drift_poll_seconds > 0 && cf->drift_poll_seconds <= 86400)) {
                fprintf(stderr,
                        "kumod: --drift-poll-seconds \"%s\" must be a number of seconds "
                        "from 0.001 to 86400\n",
                        value);
                return 2;
            }
        }
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

/* Credential data for the drivers: read from the store in this process, never over the API. */
static kumo_error kumod_read_credential(void *context, const char *ns, const char *name,
                                        ProtobufCMessage **out, kumo_diag *diag)
{
    return kumo_store_get(context, kumo_object_kind_lookup("Credential"), ns, name, out, NULL,
                          diag);
}

/* Starts the controller manager unless --controllers none. Returns 0 or -1 (reported). */
static int controllers_start(const kumod_controller_flags *cf, const char *url, const char *prefix,
                             const char *data_dir, kumo_store *store, kumod_agents *agents,
                             kumo_monitor *monitor, kumo_manager **out)
{
    *out = NULL;
    if (cf->list && strcmp(cf->list, "none") == 0)
        return 0;
    char host[128] = "host", holder[1300], state_root[1100];
    gethostname(host, sizeof(host) - 1);
    /* Drivers keep their files (the sim's account, the local driver's state) with kumod's. */
    snprintf(state_root, sizeof(state_root), "%s/drivers", data_dir);
    if (mkdir(state_root, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "kumod: cannot create %s: %s\n", state_root, strerror(errno));
        return -1;
    }
    snprintf(holder, sizeof(holder), "%s:%s", host, data_dir); /* stable across restarts */
    kumo_manager_options o = {
        .nats_url = url,
        .prefix = prefix,
        .controllers = cf->list,
        .drivers_dir = cf->drivers_dir,
        .latency_table = cf->latency_table,
        .holder = holder,
        .drift_poll_ms = cf->drift_poll_seconds * 1000,
        .max_machines_per_namespace = cf->max_machines_per_namespace,
        .event_ttl_seconds = (double)cf->event_ttl_seconds,
        .events_per_namespace = (int)cf->events_per_namespace,
        .read_credential = kumod_read_credential,
        .credential_context = store,
        .state_root = state_root,
        .agent_url = agents ? kumod_agents_url(agents) : NULL,
        .agent_user = agents ? kumod_agents_user(agents) : NULL,
        .agent_password = agents ? kumod_agents_password(agents) : NULL,
        .agent_bootstrap = kumod_agents_bootstrap,
        .agent_context = agents,
        .measured_latency = kumo_monitor_latency,
        .measured_context = monitor,
    };
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_manager_start(&o, out, &diag);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "kumod: cannot start the controllers: %s\n",
                diag.message[0] ? diag.message : kumo_error_text(e));
    kumo_diag_fini(&diag);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

#define KUMOD_MONITOR_START_WAIT_MS 30000

/* Starts the monitor (docs/monitoring.md). Returns 0 or -1 (reported). */
static int monitor_start(const kumod_flags *f, const char *url, kumod_agents *agents,
                         kumo_monitor **out)
{
    kumo_monitor_options o = {
        .listen = f->metrics_listen ? f->metrics_listen : KUMO_MONITOR_DEFAULT_LISTEN,
        .api_url = url,
        .api_prefix = f->prefix,
        .agent_url = agents ? kumod_agents_url(agents) : NULL,
        .agent_user = agents ? kumod_agents_user(agents) : NULL,
        .agent_password = agents ? kumod_agents_password(agents) : NULL,
        .peers_interval_ms = f->metrics_interval_ms,
    };
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_monitor_start(&o, out, &diag);
    if (e == KUMO_ERROR_UNAVAILABLE && f->metrics_listen == NULL &&
        strstr(diag.message, "listen")) {
        KUMO_LOG_WARN("kumod", "the default /metrics address is taken; serving without it",
                      "listen=%s", o.listen);
        kumo_diag_fini(&diag);
        o.listen = NULL;
        e = kumo_monitor_start(&o, out, &diag);
    }
    /* The API already serves: a NATS server restarting now is an outage to ride out (up to
     * KUMOD_MONITOR_START_WAIT_MS), not a reason to stop serving. */
    for (int waited = 0; e == KUMO_ERROR_UNAVAILABLE && !strstr(diag.message, "listen") &&
                         waited < KUMOD_MONITOR_START_WAIT_MS;
         waited += 200) {
        if (waited == 0)
            KUMO_LOG_WARN("kumod", "monitoring waits for NATS", "error=\"%s\"", diag.message);
        kumo_diag_fini(&diag);
        nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
        e = kumo_monitor_start(&o, out, &diag);
    }
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "kumod: cannot start monitoring: %s\n",
                diag.message[0] ? diag.message : kumo_error_text(e));
    else if (kumo_monitor_port(*out))
        KUMO_LOG_INFO("kumod", "serving /metrics", "port=%d", kumo_monitor_port(*out));
    kumo_diag_fini(&diag);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

static void fail(const char *what, const kumo_diag *diag)
{
    KUMO_LOG_ERROR("kumod", what, "error=%s", kumo_error_name(diag->code));
    fprintf(stderr, "kumod: %s: %s\n", what,
            diag->message[0] ? diag->message : kumo_error_text(diag->code));
}

int main(int argc, char **argv)
{
    kumod_flags flags;
    kumod_controller_flags controller_flags;
    if (controller_flags_take(&argc, argv, &controller_flags) != 0)
        return 2;
    int parsed = parse_flags(argc, argv, &flags);
    if (parsed != 0)
        return parsed == 1 ? 0 : 2;

    /* Signals are taken synchronously by the main thread; every other thread blocks them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_store *store = NULL;
    kumo_natsd *natsd = NULL;
    kumo_apiserver *api = NULL;
    kumo_kubeapi *kubeapi = NULL;
    kumo_manager *manager = NULL;
    kumod_agents *agents = NULL;
    kumo_monitor *monitor = NULL;
    kumod_logs *logs = NULL;

    if (make_dirs(flags.data_dir) != 0) {
        fprintf(stderr, "kumod: cannot create the data directory %s: %s\n", flags.data_dir,
                strerror(errno));
        goto out;
    }
    char absolute[PATH_MAX];
    if (realpath(flags.data_dir, absolute) != NULL && strlen(absolute) < sizeof(flags.data_dir))
        memcpy(flags.data_dir, absolute, strlen(absolute) + 1);
    char store_dir[1100];
    snprintf(store_dir, sizeof(store_dir), "%s/store", flags.data_dir);
    kumo_store_options store_options;
    kumo_store_options_init(&store_options);
    store_options.path = store_dir;
    if (controller_flags.max_machines_per_infra > 0)
        store_options.max_machines_per_infra = controller_flags.max_machines_per_infra;
    if (kumo_store_open(&store_options, &store, &diag) != KUMO_ERROR_OK) {
        if (diag.code == KUMO_ERROR_LOCKED) {
            KUMO_LOG_ERROR("kumod", "data directory in use", "data_dir=%s", flags.data_dir);
            fprintf(stderr,
                    "kumod: the data directory %s is in use by another kumod (its store %s is "
                    "locked).\nStop that kumod first, or give this one its own --data-dir.\n",
                    flags.data_dir, store_dir);
        } else {
            fail("cannot open the store", &diag);
        }
        goto out;
    }

    const char *url = flags.nats_url;
    if (url == NULL) {
        char js_dir[1100], log_file[1100], config_file[1100];
        snprintf(js_dir, sizeof(js_dir), "%s/nats", flags.data_dir);
        snprintf(log_file, sizeof(log_file), "%s/nats-server.log", flags.data_dir);
        snprintf(config_file, sizeof(config_file), "%s/nats-server.conf", flags.data_dir);
        stop_orphaned_nats_server(js_dir);
        kumo_natsd_options natsd_options = {
            .host = flags.embedded_host,
            .port = flags.embedded_port,
            .store_dir = js_dir,
            .log_file = log_file,
            .max_payload = KUMOD_EMBEDDED_MAX_PAYLOAD,
            .config_path = config_file, /* not in $TMPDIR: a kill -9 leaves nothing there */
        };
        if (kumo_natsd_start(&natsd_options, &natsd, &diag) != KUMO_ERROR_OK) {
            fail("cannot start the embedded nats-server", &diag);
            goto out;
        }
        url = kumo_natsd_url(natsd);
        KUMO_LOG_INFO("kumod", "embedded nats-server started", "url=%s pid=%d log=%s", url,
                      (int)kumo_natsd_pid(natsd), log_file);
    }

    kumo_apiserver_options api_options = {
        .nats_url = url,
        .prefix = flags.prefix,
        .store = store,
        .workers = flags.workers,
        .desired_stream = 1,
    };
    if (kumo_apiserver_start(&api_options, &api, &diag) != KUMO_ERROR_OK) {
        fail("cannot serve the API", &diag);
        goto out;
    }
    if (start_kubeapi(&flags, store, &kubeapi) != 0)
        goto out;
    int run_controllers = !(controller_flags.list && strcmp(controller_flags.list, "none") == 0);
    if (run_controllers && flags.agent_host[0]) {
        kumod_agents_options ao = {.data_dir = flags.data_dir,
                                   .host = flags.agent_host,
                                   .port = flags.agent_port,
                                   .advertise = flags.agent_advertise,
                                   .api_url = url,
                                   .api_prefix = flags.prefix,
                                   .metrics_interval_ms = flags.metrics_interval_ms};
        if (kumod_agents_start(&ao, &agents, &diag) != KUMO_ERROR_OK) {
            fail("cannot start the agent bus", &diag);
            goto out;
        }
    }
    if (monitor_start(&flags, url, agents, &monitor) != 0)
        goto out;
    if (agents != NULL) {
        kumod_logs_options lo = {url,
                                 flags.prefix,
                                 store,
                                 kumod_agents_url(agents),
                                 kumod_agents_user(agents),
                                 kumod_agents_password(agents)};
        if (kumod_logs_start(&lo, &logs, &diag) != KUMO_ERROR_OK) {
            fail("cannot serve logs", &diag);
            goto out;
        }
    }
    if (controllers_start(&controller_flags, url, flags.prefix, flags.data_dir, store, agents,
                          monitor, &manager) != 0)
        goto out;
    KUMO_LOG_INFO("kumod", "serving", "version=%s data_dir=%s nats=%s prefix=%s", KUMO_VERSION,
                  flags.data_dir, url, flags.prefix);
    printf("kumod ready on %s (data in %s)\n", url, flags.data_dir);
    fflush(stdout);

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    KUMO_LOG_INFO("kumod", "stopping: draining in-flight requests", "signal=%d", signal_number);
    kumo_manager_stop(manager); /* controllers first: they write through the API */
    manager = NULL;
    kumo_kubeapi_destroy(kubeapi);
    kubeapi = NULL;
    kumo_apiserver_drain(api);
    status = 0;
out:
    kumo_manager_stop(manager);
    kumo_monitor_stop(monitor);
    kumod_logs_stop(logs);
    kumod_agents_stop(agents);
    kumo_kubeapi_destroy(kubeapi);
    kumo_apiserver_destroy(api);
    kumo_store_close(store);
    kumo_natsd_destroy(natsd);
    nats_Close(); /* nats.c's global state */
    kumo_diag_fini(&diag);
    if (status == 0)
        KUMO_LOG_INFO("kumod", "stopped", NULL);
    return status;
}
