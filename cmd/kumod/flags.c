/*
 * flags.c - kumod's flags (flags.h): the usage text and one row per flag.
 * getopt_long's table is built from the rows, so a flag is one row plus,
 * when its value needs a check, one small function.
 */
#include "cmd/kumod/flags.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis/log/log.h"
#include "bus/apiserver/apiserver.h"
#include "bus/kubeapi/kubeapi.h"
#include "bus/protocol/protocol.h"
#include "controllers/manager/manager.h"

#ifndef KUMO_VERSION
#define KUMO_VERSION "0.0.0"
#endif

#define FLAG_LIMIT_MAX      10000000L /* --max-machines-*, --event-*: 1 .. this */
#define FLAG_WORKERS_MAX    256
#define FLAG_DRIFT_MAX_S    86400.0
#define FLAG_INTERVAL_MIN_S 1.0
#define FLAG_INTERVAL_MAX_S 3600.0
#define FLAG_DONE           1 /* a handler's "exit 0" (help, version) */
#define FLAG_USAGE_ERROR    2

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

/* <kumod's dir>/../lib/kumo/drivers */
static void default_drivers_dir(char *buf, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(buf, size, "%.990s/../lib/kumo/drivers", slash ? self : ".");
}

static void defaults_set(kumod_flags *f)
{
    memset(f, 0, sizeof(*f));
    default_data_dir(f->data_dir, sizeof(f->data_dir));
    snprintf(f->embedded_host, sizeof(f->embedded_host), "127.0.0.1");
    f->embedded_port = KUMOD_DEFAULT_EMBEDDED_PORT;
    f->prefix = KUMO_PROTOCOL_DEFAULT_PREFIX;
    f->workers = KUMO_APISERVER_DEFAULT_WORKERS;
    snprintf(f->agent_host, sizeof(f->agent_host), "0.0.0.0");
    f->http_listen = KUMO_KUBEAPI_DEFAULT_LISTEN;
    default_drivers_dir(f->drivers_dir, sizeof(f->drivers_dir));
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

/* A limit flag: a whole number from 1 to FLAG_LIMIT_MAX into *out; 0 or FLAG_USAGE_ERROR. */
static int limit_flag(const char *name, const char *value, long *out)
{
    char *end;
    *out = strtol(value, &end, 10);
    if (*end == '\0' && *out >= 1 && *out <= FLAG_LIMIT_MAX)
        return 0;
    fprintf(stderr, "kumod: %s \"%s\" must be a whole number from 1 to %ld\n", name, value,
            FLAG_LIMIT_MAX);
    return FLAG_USAGE_ERROR;
}

/* ---- one handler per flag that needs one ------------------------------------------------ */

static int set_data_dir(kumod_flags *f, const char *v)
{
    snprintf(f->data_dir, sizeof(f->data_dir), "%s", v);
    return 0;
}

static int set_nats(kumod_flags *f, const char *v)
{
    f->nats_url = v;
    return 0;
}

static int set_embedded(kumod_flags *f, const char *v)
{
    if (parse_host_port(v, f->embedded_host, sizeof(f->embedded_host), &f->embedded_port) == 0)
        return 0;
    fprintf(stderr, "kumod: --embedded-nats-addr \"%s\" is not HOST:PORT\n", v);
    return FLAG_USAGE_ERROR;
}

static int set_prefix(kumod_flags *f, const char *v)
{
    f->prefix = v;
    return 0;
}

static int set_workers(kumod_flags *f, const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < 1 || n > FLAG_WORKERS_MAX) {
        fprintf(stderr, "kumod: --workers \"%s\" must be a number from 1 to %d\n", v,
                FLAG_WORKERS_MAX);
        return FLAG_USAGE_ERROR;
    }
    f->workers = (int)n;
    return 0;
}

static int set_log_level(kumod_flags *f, const char *v)
{
    (void)f;
    kumo_log_level level;
    if (kumo_log_level_parse(v, &level) != 0) {
        fprintf(stderr, "kumod: --log-level \"%s\": use debug, info, warn or error\n", v);
        return FLAG_USAGE_ERROR;
    }
    kumo_log_set_level(level);
    return 0;
}

static int show_version(kumod_flags *f, const char *v)
{
    (void)f;
    (void)v;
    printf("kumod v%s (API kumo.dev/v1alpha1)\n", KUMO_VERSION);
    return FLAG_DONE;
}

/* The usage, then the controllers --controllers takes, read from the manager's table. */
static int show_help(kumod_flags *f, const char *v)
{
    (void)f;
    (void)v;
    fputs(usage, stdout);
    fputs("\ncontrollers:", stdout);
    for (size_t i = 0; i < kumo_manager_controller_count(); i++)
        printf("%s %s", i ? "," : "", kumo_manager_controller_name(i));
    fputs("\n", stdout);
    return FLAG_DONE;
}

static int set_agent_listen(kumod_flags *f, const char *v)
{
    if (strcmp(v, "none") == 0) {
        f->agent_host[0] = '\0';
        return 0;
    }
    if (parse_host_port(v, f->agent_host, sizeof(f->agent_host), &f->agent_port) == 0)
        return 0;
    fprintf(stderr, "kumod: --agent-listen \"%s\" is not HOST:PORT or none\n", v);
    return FLAG_USAGE_ERROR;
}

static int set_agent_advertise(kumod_flags *f, const char *v)
{
    f->agent_advertise = v;
    return 0;
}

static int set_metrics_listen(kumod_flags *f, const char *v)
{
    f->metrics_listen = v;
    return 0;
}

static int set_metrics_interval(kumod_flags *f, const char *v)
{
    char *end;
    double seconds = strtod(v, &end);
    if (*end != '\0' || !(seconds >= FLAG_INTERVAL_MIN_S && seconds <= FLAG_INTERVAL_MAX_S)) {
        fprintf(stderr,
                "kumod: --metrics-interval \"%s\" must be a number of seconds from 1 to 3600\n", v);
        return FLAG_USAGE_ERROR;
    }
    f->metrics_interval_ms = (int)(seconds * 1000);
    return 0;
}

static int set_http_listen(kumod_flags *f, const char *v)
{
    f->http_listen = v;
    f->http_listen_given = 1;
    return 0;
}

static int set_controllers(kumod_flags *f, const char *v)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_manager_controllers_check(v, &diag);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "kumod: --controllers: %s\n", diag.message);
    kumo_diag_fini(&diag);
    if (e != KUMO_ERROR_OK)
        return FLAG_USAGE_ERROR;
    f->controllers = v;
    return 0;
}

static int set_drivers_dir(kumod_flags *f, const char *v)
{
    snprintf(f->drivers_dir, sizeof(f->drivers_dir), "%s", v);
    return 0;
}

static int set_latency_table(kumod_flags *f, const char *v)
{
    f->latency_table = v;
    return 0;
}

static int set_drift_poll(kumod_flags *f, const char *v)
{
    char *end;
    f->drift_poll_seconds = strtod(v, &end);
    if (*end == '\0' && f->drift_poll_seconds > 0 && f->drift_poll_seconds <= FLAG_DRIFT_MAX_S)
        return 0;
    fprintf(stderr,
            "kumod: --drift-poll-seconds \"%s\" must be a number of seconds from 0.001 to "
            "86400\n",
            v);
    return FLAG_USAGE_ERROR;
}

static int set_max_per_infra(kumod_flags *f, const char *v)
{
    return limit_flag("--max-machines-per-infra", v, &f->max_machines_per_infra);
}

static int set_max_per_namespace(kumod_flags *f, const char *v)
{
    return limit_flag("--max-machines-per-namespace", v, &f->max_machines_per_namespace);
}

static int set_event_ttl(kumod_flags *f, const char *v)
{
    return limit_flag("--event-ttl-seconds", v, &f->event_ttl_seconds);
}

static int set_events_per_namespace(kumod_flags *f, const char *v)
{
    return limit_flag("--events-per-namespace", v, &f->events_per_namespace);
}

/* ---- the table -------------------------------------------------------------------------- */

typedef struct flag_row {
    const char *name; /* without "--" */
    int has_value;
    int (*set)(kumod_flags *f, const char *value); /* 0, FLAG_DONE or FLAG_USAGE_ERROR */
} flag_row;

static const flag_row rows[] = {
    {"data-dir", 1, set_data_dir},
    {"nats", 1, set_nats},
    {"embedded-nats-addr", 1, set_embedded},
    {"prefix", 1, set_prefix},
    {"workers", 1, set_workers},
    {"log-level", 1, set_log_level},
    {"version", 0, show_version},
    {"agent-listen", 1, set_agent_listen},
    {"agent-advertise", 1, set_agent_advertise},
    {"metrics-listen", 1, set_metrics_listen},
    {"metrics-interval", 1, set_metrics_interval},
    {"http-listen", 1, set_http_listen},
    {"controllers", 1, set_controllers},
    {"drivers-dir", 1, set_drivers_dir},
    {"latency-table", 1, set_latency_table},
    {"drift-poll-seconds", 1, set_drift_poll},
    {"max-machines-per-infra", 1, set_max_per_infra},
    {"max-machines-per-namespace", 1, set_max_per_namespace},
    {"event-ttl-seconds", 1, set_event_ttl},
    {"events-per-namespace", 1, set_events_per_namespace},
    {"help", 0, show_help},
};

#define ROW_COUNT (sizeof(rows) / sizeof(rows[0]))

int kumod_flags_parse(int argc, char **argv, kumod_flags *f)
{
    defaults_set(f);
    struct option options[ROW_COUNT + 1];
    for (size_t i = 0; i < ROW_COUNT; i++)
        options[i] = (struct option){
            rows[i].name, rows[i].has_value ? required_argument : no_argument, NULL, (int)i + 1};
    options[ROW_COUNT] = (struct option){NULL, 0, NULL, 0};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        int status;
        if (c == 'h') {
            status = show_help(f, NULL);
        } else if (c >= 1 && (size_t)c <= ROW_COUNT) {
            status = rows[c - 1].set(f, optarg);
        } else if (optopt >= 1 && (size_t)optopt <= ROW_COUNT) {
            fprintf(stderr, "kumod: --%s needs a value; see kumod --help\n", rows[optopt - 1].name);
            status = FLAG_USAGE_ERROR;
        } else {
            fprintf(stderr, "kumod: unknown flag \"%s\"; see kumod --help\n", argv[optind - 1]);
            status = FLAG_USAGE_ERROR;
        }
        if (status != 0)
            return status;
    }
    if (optind < argc) {
        fprintf(stderr, "kumod: unexpected argument \"%s\"; see kumod --help\n", argv[optind]);
        return FLAG_USAGE_ERROR;
    }
    return 0;
}

int kumod_flags_run_controllers(const kumod_flags *f)
{
    return !(f->controllers && strcmp(f->controllers, "none") == 0);
}
