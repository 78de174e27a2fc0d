/*
 * kumod - the kumo server: opens the store, brings up the bus (its own child
 * nats-server unless --nats names one), serves the API on it, the agent bus,
 * monitoring and the controllers until SIGTERM or SIGINT, then drains
 * in-flight requests and exits cleanly. A thin main: the flags are a table
 * (flags.c), start is a table of named steps (below), each part lives in its
 * module.
 */
#include <errno.h>
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
#include "bus/agentbus/agentbus.h"
#include "bus/apiserver/apiserver.h"
#include "bus/kubeapi/kubeapi.h"
#include "bus/monitor/monitor.h"
#include "bus/natsd/natsd.h"
#include "cmd/kumod/flags.h"
#include "cmd/kumod/logs.h"
#include "cmd/kumod/orphan.h"
#include "controllers/manager/manager.h"
#include "store/store.h"

#ifndef KUMO_VERSION
#define KUMO_VERSION "0.0.0"
#endif

/* Largest NATS message of the embedded server: room for the biggest object (1.5 MiB) and pages. */
#define KUMOD_EMBEDDED_MAX_PAYLOAD (8L << 20)
/* How long monitoring waits for a NATS server that restarts while kumod starts. */
#define KUMOD_MONITOR_START_WAIT_MS 30000
#define KUMOD_MONITOR_RETRY_MS      200
/* How long a start waits for a store lock left to the children of a kumod that ended. */
#define KUMOD_STORE_LOCK_WAIT_MS 10000
#define KUMOD_STORE_LOCK_POLL_MS 100

/* Everything kumod runs; NULL parts did not start (or are off). */
typedef struct kumod {
    kumod_flags flags;
    kumo_store *store;
    kumo_natsd *natsd;
    const char *url; /* the API bus */
    kumo_apiserver *api;
    kumo_kubeapi *kubeapi;
    kumo_agentbus *agents;
    kumo_monitor *monitor;
    kumod_logs *logs;
    kumo_manager *manager;
} kumod;

static void fail(const char *what, const kumo_diag *diag)
{
    KUMO_LOG_ERROR("kumod", what, "error=%s", kumo_error_name(diag->code));
    fprintf(stderr, "kumod: %s: %s\n", what,
            diag->message[0] ? diag->message : kumo_error_text(diag->code));
}

/* ---- the steps: each returns 0, or -1 after reporting --------------------------------- */

/* The end of a step: reports a failure as `what`, frees the diag; 0 or -1. */
static int step_end(kumo_error e, const char *what, kumo_diag *diag)
{
    if (e != KUMO_ERROR_OK)
        fail(what, diag);
    kumo_diag_fini(diag);
    return e == KUMO_ERROR_OK ? 0 : -1;
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

/* Creates the data directory and makes its path absolute. */
static int data_dir_prepare(kumod *k)
{
    if (make_dirs(k->flags.data_dir) != 0) {
        fprintf(stderr, "kumod: cannot create the data directory %s: %s\n", k->flags.data_dir,
                strerror(errno));
        return -1;
    }
    char absolute[PATH_MAX];
    if (realpath(k->flags.data_dir, absolute) != NULL &&
        strlen(absolute) < sizeof(k->flags.data_dir))
        memcpy(k->flags.data_dir, absolute, strlen(absolute) + 1);
    return 0;
}

/* 1 when the pid the store's lock file names (the kumod that took the lock) still runs. */
static int lock_owner_runs(const char *store_dir)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/kumo.lock", store_dir);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    return pid > 0 && kumod_pid_running((pid_t)pid);
}

/* Opens the store (its lock proves no other kumod uses the data dir), then stops the
 * nats-servers a killed kumod left there. */
static int store_open(kumod *k)
{
    char store_dir[1100];
    snprintf(store_dir, sizeof(store_dir), "%s/store", k->flags.data_dir);
    kumo_store_options o;
    kumo_store_options_init(&o);
    o.path = store_dir;
    if (k->flags.max_machines_per_infra > 0)
        o.max_machines_per_infra = k->flags.max_machines_per_infra;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_store_open(&o, &k->store, &diag);
    /* A kumod killed a moment ago may leave the lock to a child it was starting (which holds
     * a copy of the lock until its exec): wait for that, never for a kumod that runs. */
    for (int waited = 0;
         e == KUMO_ERROR_LOCKED && !lock_owner_runs(store_dir) && waited < KUMOD_STORE_LOCK_WAIT_MS;
         waited += KUMOD_STORE_LOCK_POLL_MS) {
        if (waited == 0)
            KUMO_LOG_WARN("kumod", "the store is still locked after its kumod ended; waiting",
                          "store=%s", store_dir);
        nanosleep(&(struct timespec){0, KUMOD_STORE_LOCK_POLL_MS * 1000000L}, NULL);
        kumo_diag_fini(&diag);
        e = kumo_store_open(&o, &k->store, &diag);
    }
    if (e == KUMO_ERROR_LOCKED) {
        KUMO_LOG_ERROR("kumod", "data directory in use", "data_dir=%s", k->flags.data_dir);
        fprintf(stderr,
                "kumod: the data directory %s is in use by another kumod (its store %s is "
                "locked).\nStop that kumod first, or give this one its own --data-dir.\n",
                k->flags.data_dir, store_dir);
    } else if (e != KUMO_ERROR_OK) {
        fail("cannot open the store", &diag);
    }
    kumo_diag_fini(&diag);
    if (e == KUMO_ERROR_OK)
        kumod_orphans_stop(k->flags.data_dir);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

/* The API bus: --nats, else an embedded nats-server with JetStream in the data dir. */
static int bus_start(kumod *k)
{
    k->url = k->flags.nats_url;
    if (k->url != NULL)
        return 0;
    char js_dir[1100], log_file[1100], config_file[1100];
    snprintf(js_dir, sizeof(js_dir), "%s/nats", k->flags.data_dir);
    snprintf(log_file, sizeof(log_file), "%s/nats-server.log", k->flags.data_dir);
    snprintf(config_file, sizeof(config_file), "%s/nats-server.conf", k->flags.data_dir);
    kumo_natsd_options o = {
        .host = k->flags.embedded_host,
        .port = k->flags.embedded_port,
        .store_dir = js_dir,
        .log_file = log_file,
        .max_payload = KUMOD_EMBEDDED_MAX_PAYLOAD,
        .config_path = config_file, /* not in $TMPDIR: a kill -9 leaves nothing there */
    };
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_natsd_start(&o, &k->natsd, &diag);
    if (e != KUMO_ERROR_OK) {
        fail("cannot start the embedded nats-server", &diag);
    } else {
        k->url = kumo_natsd_url(k->natsd);
        KUMO_LOG_INFO("kumod", "embedded nats-server started", "url=%s pid=%d log=%s", k->url,
                      (int)kumo_natsd_pid(k->natsd), log_file);
    }
    kumo_diag_fini(&diag);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

static int api_start(kumod *k)
{
    kumo_apiserver_options o = {
        .nats_url = k->url,
        .prefix = k->flags.prefix,
        .store = k->store,
        .workers = k->flags.workers,
        .desired_stream = 1,
    };
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_apiserver_start(&o, &k->api, &diag);
    return step_end(e, "cannot serve the API", &diag);
}

/* ---- the Kubernetes-compatible API (docs/kubeapi.md) ---------------------------------- */

/*
 * Starts the HTTPS API unless --http-listen "". When the default address is
 * taken (another kumod on this machine), kumod goes on without it and says
 * so; an address given with --http-listen must work. Returns 0 or -1.
 */
static int kubeapi_start(kumod *k)
{
    const kumod_flags *flags = &k->flags;
    kumo_kubeapi **out = &k->kubeapi;
    *out = NULL;
    if (flags->http_listen[0] == '\0')
        return 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_kubeapi_options options = {
        .listen = flags->http_listen, .data_dir = flags->data_dir, .store = k->store};
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

/* The agent bus (docs/agent.md), when controllers run and --agent-listen is not none. */
static int agent_bus_start(kumod *k)
{
    if (!kumod_flags_run_controllers(&k->flags) || k->flags.agent_host[0] == '\0')
        return 0;
    kumo_agentbus_options o = {.data_dir = k->flags.data_dir,
                               .host = k->flags.agent_host,
                               .port = k->flags.agent_port,
                               .advertise = k->flags.agent_advertise,
                               .api_url = k->url,
                               .api_prefix = k->flags.prefix,
                               .metrics_interval_ms = k->flags.metrics_interval_ms};
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_agentbus_start(&o, &k->agents, &diag);
    return step_end(e, "cannot start the agent bus", &diag);
}

/* Machine logs over the API (docs/agent.md), with the agent bus. */
static int logs_start(kumod *k)
{
    if (k->agents == NULL)
        return 0;
    kumod_logs_options o = {k->url,
                            k->flags.prefix,
                            k->store,
                            kumo_agentbus_url(k->agents),
                            kumo_agentbus_user(k->agents),
                            kumo_agentbus_password(k->agents)};
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumod_logs_start(&o, &k->logs, &diag);
    return step_end(e, "cannot serve logs", &diag);
}

/* Starts the monitor (docs/monitoring.md). Returns 0 or -1 (reported). */
static int monitor_start(kumod *k)
{
    const kumod_flags *f = &k->flags;
    kumo_agentbus *agents = k->agents;
    kumo_monitor **out = &k->monitor;
    kumo_monitor_options o = {
        .listen = f->metrics_listen ? f->metrics_listen : KUMO_MONITOR_DEFAULT_LISTEN,
        .api_url = k->url,
        .api_prefix = f->prefix,
        .agent_url = agents ? kumo_agentbus_url(agents) : NULL,
        .agent_user = agents ? kumo_agentbus_user(agents) : NULL,
        .agent_password = agents ? kumo_agentbus_password(agents) : NULL,
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
         waited += KUMOD_MONITOR_RETRY_MS) {
        if (waited == 0)
            KUMO_LOG_WARN("kumod", "monitoring waits for NATS", "error=\"%s\"", diag.message);
        kumo_diag_fini(&diag);
        nanosleep(&(struct timespec){0, KUMOD_MONITOR_RETRY_MS * 1000000L}, NULL);
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

/* Credential data for the drivers: read from the store in this process, never over the API. */
static kumo_error kumod_read_credential(void *context, const char *ns, const char *name,
                                        ProtobufCMessage **out, kumo_diag *diag)
{
    return kumo_store_get(context, kumo_object_kind_lookup("Credential"), ns, name, out, NULL,
                          diag);
}

/* Starts the controller manager unless --controllers none. Returns 0 or -1 (reported). */
static int controllers_start(kumod *k)
{
    const kumod_flags *cf = &k->flags;
    const char *data_dir = k->flags.data_dir;
    kumo_agentbus *agents = k->agents;
    if (!kumod_flags_run_controllers(cf))
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
        .nats_url = k->url,
        .prefix = cf->prefix,
        .controllers = cf->controllers,
        .drivers_dir = cf->drivers_dir,
        .latency_table = cf->latency_table,
        .holder = holder,
        .drift_poll_ms = cf->drift_poll_seconds * 1000,
        .max_machines_per_namespace = cf->max_machines_per_namespace,
        .event_ttl_seconds = (double)cf->event_ttl_seconds,
        .events_per_namespace = (int)cf->events_per_namespace,
        .read_credential = kumod_read_credential,
        .credential_context = k->store,
        .state_root = state_root,
        .agent_url = agents ? kumo_agentbus_url(agents) : NULL,
        .agent_user = agents ? kumo_agentbus_user(agents) : NULL,
        .agent_password = agents ? kumo_agentbus_password(agents) : NULL,
        .agent_bootstrap = kumo_agentbus_bootstrap,
        .agent_context = agents,
        .measured_latency = kumo_monitor_latency,
        .measured_context = k->monitor,
    };
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_manager_start(&o, &k->manager, &diag);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "kumod: cannot start the controllers: %s\n",
                diag.message[0] ? diag.message : kumo_error_text(e));
    kumo_diag_fini(&diag);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

typedef struct kumod_step {
    const char *name;
    int (*run)(kumod *k);
} kumod_step;

/* In order: each step may use what the ones before it started. */
static const kumod_step steps[] = {
    {"data directory", data_dir_prepare},
    {"store", store_open},
    {"bus", bus_start},
    {"API", api_start},
    {"Kubernetes API", kubeapi_start},
    {"agent bus", agent_bus_start},
    {"monitoring", monitor_start},
    {"logs", logs_start},
    {"controllers", controllers_start},
};

/* Stops what runs, the controllers first (they write through the API). */
static void kumod_stop(kumod *k)
{
    kumo_manager_stop(k->manager);
    kumo_monitor_stop(k->monitor);
    kumod_logs_stop(k->logs);
    kumo_agentbus_stop(k->agents);
    kumo_kubeapi_destroy(k->kubeapi);
    kumo_apiserver_destroy(k->api);
    kumo_store_close(k->store);
    kumo_natsd_destroy(k->natsd);
    nats_Close(); /* nats.c's global state */
}

/* Waits for SIGTERM or SIGINT, then stops the writers and drains the API. */
static void serve_until_signal(kumod *k, const sigset_t *stop_signals)
{
    KUMO_LOG_INFO("kumod", "serving", "version=%s data_dir=%s nats=%s prefix=%s", KUMO_VERSION,
                  k->flags.data_dir, k->url, k->flags.prefix);
    printf("kumod ready on %s (data in %s)\n", k->url, k->flags.data_dir);
    fflush(stdout);
    int signal_number = 0;
    sigwait(stop_signals, &signal_number);
    KUMO_LOG_INFO("kumod", "stopping: draining in-flight requests", "signal=%d", signal_number);
    kumo_manager_stop(k->manager); /* controllers first: they write through the API */
    k->manager = NULL;
    kumo_kubeapi_destroy(k->kubeapi);
    k->kubeapi = NULL;
    kumo_apiserver_drain(k->api);
}

int main(int argc, char **argv)
{
    static kumod k; /* large (the flags' paths); zeroed */
    int parsed = kumod_flags_parse(argc, argv, &k.flags);
    if (parsed != 0)
        return parsed == 1 ? 0 : 2;
    /* Signals are taken synchronously by the main thread; every other thread blocks them.
     * The main thread lives as long as kumod: the agent bus dies with it. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    size_t done = 0;
    while (done < sizeof(steps) / sizeof(steps[0]) && steps[done].run(&k) == 0)
        done++;
    int status = done == sizeof(steps) / sizeof(steps[0]) ? 0 : 1;
    if (status == 0)
        serve_until_signal(&k, &stop_signals);
    else
        KUMO_LOG_DEBUG("kumod", "start failed", "step=\"%s\"", steps[done].name);
    kumod_stop(&k);
    if (status == 0)
        KUMO_LOG_INFO("kumod", "stopped", NULL);
    return status;
}
