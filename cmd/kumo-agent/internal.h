/*
 * internal.h - what the files of kumo-agent share (docs/agent.md).
 *
 * The agent is one main-loop thread (main.c) that owns every structure below:
 * the apps, their instances, their processes and health probes. nats.c calls
 * back on its own threads; those callbacks only queue the message and wake the
 * main loop (bus.c), so nothing here is locked.
 *
 * Ownership: an agent_app owns its instances; an instance owns its specs (the
 * running one and, while it is being replaced, the next one), its strings and
 * its probe socket. Times are milliseconds of CLOCK_MONOTONIC unless a name
 * says _wall.
 */
#ifndef KUMO_AGENT_INTERNAL_H
#define KUMO_AGENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nats/nats.h>

#include "apis/error/error.h"
#include "apis/kumo/v1alpha1/agent.pb-c.h"
#include "apis/kumo/v1alpha1/app.pb-c.h"

#define AGENT_LOG "kumo-agent"

#define AGENT_STOP_GRACE_MS        5000 /* SIGTERM, then SIGKILL */
#define AGENT_BACKOFF_FIRST_MS     500  /* restart delay, doubled per restart */
#define AGENT_BACKOFF_MAX_MS       30000
#define AGENT_BACKOFF_RESET_MS     60000 /* a run this long resets the delay */
#define AGENT_NOCHECK_READY_MS     500   /* no health check: ready after this long alive */
#define AGENT_UNREADY_PROBE_MS     200   /* probe period until first ready */
#define AGENT_FAST_PROBE_WINDOW_MS 30000 /* ... and while not ready this long after a restart */
#define AGENT_STATUS_SOON_MS       50    /* status after a change, coalesced */
#define AGENT_LOG_MAX_BYTES        (1L << 20)
#define AGENT_MAX_REPLICAS         64
#define AGENT_ERROR_SIZE           256
#define AGENT_APPLY_MAX_BYTES      (4 << 20) /* the largest apply request body */
#define AGENT_LOG_MARKS            256       /* (time, size) samples of a log, for logs --since */
#define AGENT_LOG_MARK_EVERY_MS    1000
#define AGENT_STATUS_INTERVAL_MS   2000  /* bootstrap status_interval_ms when 0 */
#define AGENT_METRICS_INTERVAL_MS  10000 /* bootstrap metrics_interval_ms when 0 */
#define AGENT_METRICS_INTERVAL_MIN 1000  /* ... and never more often than this */
#define AGENT_PEER_INTERVAL_MS     10000 /* peer latency pings when the peers list says 0 */
#define AGENT_BUS_FLUSH_MS         5000  /* subscriptions confirmed by the server */
#define AGENT_BUS_CLOSE_MS         2000  /* the final status flushed, nats.c's threads ended */

typedef Kumo__V1alpha1__AppComponent agent_spec;

/* One health probe in flight or scheduled (health.c). */
typedef struct agent_health {
    int fd;           /* HTTP/TCP probe socket; -1 when none */
    pid_t pid;        /* Command probe process; 0 when none */
    int stage;        /* HEALTH_IDLE, HEALTH_CONNECTING, HEALTH_READING */
    int64_t deadline; /* the probe in flight times out then */
    int64_t next;     /* the next probe starts then */
    char reply[64];   /* the start of an HTTP answer */
    size_t reply_len;
    int successes, failures; /* consecutive */
    int64_t started_ns;      /* CLOCK_MONOTONIC when the probe in flight started */
    double last_seconds;     /* the last probe's duration */
} agent_health;

typedef struct agent_app agent_app;

typedef struct agent_instance {
    struct agent_instance *next;
    agent_app *app;
    int replica;
    agent_spec *spec; /* what runs (or ran last); owned */
    uint8_t *spec_bytes;
    size_t spec_len;
    int64_t generation;
    agent_spec *next_spec; /* replacement started once the process is gone; owned */
    uint8_t *next_bytes;
    size_t next_len;
    int64_t next_generation;
    int removed; /* stop, then forget */

    pid_t pid; /* 0: no process */
    Kumo__V1alpha1__AppInstance__Phase phase;
    int ready, ever_ready;
    int restarts;
    int exit_code;
    char last_error[AGENT_ERROR_SIZE];
    int64_t start_wall_ns; /* start_time of the status */
    int64_t started;       /* when the process started */
    int64_t restart_at;    /* 0: no restart pending */
    int64_t backoff_ms;    /* the next restart's delay */
    int64_t stop_deadline; /* 0: not stopping; else SIGKILL then */
    int64_t nocheck_ready; /* no health check: ready then */
    char *workdir, *log_path;
    /* how big the log was when: a ring of samples taken when it grew (logs.c) */
    struct {
        int64_t wall_ms, size;
    } log_marks[AGENT_LOG_MARKS];
    int log_mark_count, log_mark_next;
    int64_t log_mark_due;
    char **env; /* the process environment, NULL-terminated */
    agent_health health;
} agent_instance;

struct agent_app {
    struct agent_app *next;
    char *name; /* "<namespace>/<name>" */
    char *uid;
    int64_t generation;
    int forget; /* an empty apply: drop the app once its instances are gone */
    agent_instance *instances;
};

typedef struct agent_bus agent_bus;

typedef struct agent_cpu_sample {
    uint64_t ticks; /* utime+stime+cutime+cstime of the agent and its instances */
    int64_t at;
} agent_cpu_sample;

typedef struct agent {
    Kumo__V1alpha1__AgentBootstrap *bootstrap;
    const char *gateway; /* KUMO_MACHINE_GATEWAY or NULL */
    char data_dir[1024];
    char subject_status[256], subject_apply[256], subject_get[256], subject_logs[256];
    char subject_metrics[256], subject_peers[256], subject_ping[256], subject_rtt[256];
    char prefix[128];
    char **base_env; /* PATH, HOME, KUMO_MACHINE_*; NULL-terminated */
    agent_app *apps;
    agent_bus *bus;
    int wake_read; /* the bus writes a byte to wake the main loop */
    int shutting_down;
    int64_t boot_wall_ns;
    int64_t seq;
    int64_t status_due;  /* next status document */
    int64_t status_soon; /* 0, or an earlier document after a change */
    agent_cpu_sample cpu;
    int64_t metrics_due; /* next metrics report */
    int64_t metrics_seq;
    char **peers; /* uids of the agents to measure round trips to; NULL-terminated */
    int peer_interval_ms;
    int64_t ping_due;
} agent;

/* ---- main.c -------------------------------------------------------------------------- */
int64_t agent_now(void);     /* CLOCK_MONOTONIC ms */
int64_t agent_wall_ns(void); /* CLOCK_REALTIME ns */
/* Something in the status changed: publish soon. */
void agent_changed(agent *a);
/* Lowers *deadline to t when t is set (non-zero) and earlier. */
void agent_deadline(int64_t *deadline, int64_t t);
/* mkdir -p; 0 or -1 with errno. */
int agent_mkdirs(const char *path, mode_t mode);
void agent_strv_free(char **v);

/* ---- apply.c: AgentApply -> apps and instances ------------------------------------------ */
/* Carries out one apply request body. On error returns -1 with a message naming the field
 * in diag (INVALID: nothing changed; NOMEM); else 0. */
int agent_apply(agent *a, const char *body, size_t len, kumo_diag *diag);
/* Frees an instance (its process must be gone) and unlinks it from its app. */
void agent_instance_forget(agent *a, agent_instance *in);
void agent_apps_free(agent *a);
/* A file's mode from its octal text ("" is 0644); -1 when not an octal mode. */
int agent_file_mode(const char *text);

/* ---- process.c: processes of instances ------------------------------------------------- */
typedef struct agent_spawn_spec {
    char *const *argv;
    char *const *env;
    const char *workdir;
    const char *log_path; /* stdout and stderr appended here; NULL: /dev/null */
} agent_spawn_spec;
/* fork+exec in a new session; exec errors come back over a CLOEXEC pipe. 0 with *pid, or
 * -1 with a message like `exec "x": No such file or directory` in diag (NOT_FOUND: no such
 * program; IO: the log file, fork, the working directory or exec failed). */
int agent_spawn(const agent_spawn_spec *spec, pid_t *pid, kumo_diag *diag);
void agent_instance_start(agent *a, agent_instance *in);
/* SIGTERM to the process group (SIGKILL after the grace period); an instance without a
 * process is settled at once (which may free it). */
void agent_instance_stop(agent *a, agent_instance *in);
/* Reaps every exited child (instances, probes and orphans). */
void agent_reap(agent *a);
/* Due restarts, kills and no-check readiness; lowers *deadline to the next one. */
void agent_processes_tick(agent *a, int64_t now, int64_t *deadline);
/* Starts the logs over past AGENT_LOG_MAX_BYTES. */
void agent_logs_trim(agent *a);
/* Instance processes alive. */
int agent_processes_alive(const agent *a);

/* ---- logs.c: AgentLogsRequest -> AgentLogs ------------------------------------------- */
/* Notes how big each log is (at most once a second per instance), for --since. */
void agent_logs_sample(agent *a, int64_t now);
/* Answers one logs request body: the AgentLogs JSON (malloc'd), NULL when out of memory. */
char *agent_logs_reply(agent *a, const char *body, size_t len, size_t *out_len);

/* ---- health.c: readiness probes ------------------------------------------------------- */
void agent_health_reset(agent_instance *in, int64_t now); /* a process (re)started */
void agent_health_abort(agent_instance *in);              /* stop any probe in flight */
void agent_health_tick(agent *a, agent_instance *in, int64_t now, int64_t *deadline);
short agent_health_events(const agent_instance *in); /* poll events for health.fd */
void agent_health_on_fd(agent *a, agent_instance *in, short revents, int64_t now);
void agent_health_on_exit(agent *a, agent_instance *in, int status, int64_t now);

/* ---- status.c: AgentStatus documents -------------------------------------------------- */
/* Appends the status JSON (seq advanced) to a malloc'd string; NULL when out of memory. */
char *agent_status_json(agent *a, size_t *len);
/* {"ok":...,"error":...,"status":...}; status included when ok, and the machine's metrics
 * too when with_metrics. */
char *agent_reply_json(agent *a, int ok, const char *error, int with_metrics, size_t *len);

/* utime+stime+cutime+cstime and RSS pages of /proc/<pid>/stat ("self" for pid 0); 0 or -1. */
int agent_proc_stat(pid_t pid, uint64_t *ticks, int64_t *rss_pages);
/* The first number in a file, or -1. */
int64_t agent_read_number(const char *path);
/* The own cgroup's memory.max when it is a number, else MemTotal. */
int64_t agent_memory_limit(void);

/* ---- metrics.c: AgentMetricsReport (docs/monitoring.md) ------------------------------- */
/* The machine's metrics now, protobuf-packed (malloc'd); with the round trips measured since
 * the last report when with_rtts. NULL when out of memory. */
uint8_t *agent_metrics_pack(agent *a, int with_rtts, size_t *len);
/* The same as a message for a JSON reply: free with agent_metrics_free. NULL when out of memory. */
Kumo__V1alpha1__AgentMetricsReport *agent_metrics_build(agent *a, int with_rtts);
void agent_metrics_free(Kumo__V1alpha1__AgentMetricsReport *report);
/* How often metrics are published (ms): the bootstrap's interval, or the default, never
 * below AGENT_METRICS_INTERVAL_MIN. */
int agent_metrics_interval(const agent *a);
/* Takes an AgentPeers document (JSON); 0 or -1. */
int agent_peers_set(agent *a, const char *body, size_t len);
/* Pings every peer through the bus (the answers come back on subject_rtt). */
void agent_peers_ping(agent *a);

/* ---- memory.c ------------------------------------------------------------------------ */
/* Drops the resident pages of read-only library mappings that hold no private page. */
void agent_memory_trim(void);

/* ---- bus.c: the NATS side ------------------------------------------------------------- */
/* Starts connecting in the background (forever); messages are queued for the main loop,
 * which is woken through wake_write. */
int agent_bus_start(agent *a, int wake_write, agent_bus **out);
/* The next queued request, or NULL. The caller destroys it. */
natsMsg *agent_bus_next(agent_bus *bus);
/* Publishes on subject when connected (else drops it); 0 or -1. */
int agent_bus_publish(agent_bus *bus, const char *subject, const char *data, size_t len);
/* One round trip measured to a peer (bus.c keeps at most 256 until taken). */
typedef struct agent_rtt_sample {
    char peer[64];
    double ms;
} agent_rtt_sample;
/* Moves up to max samples into out; returns how many. */
size_t agent_bus_rtts_take(agent_bus *bus, agent_rtt_sample *out, size_t max);
/* Publishes with a reply subject; 0 or -1. */
int agent_bus_request(agent_bus *bus, const char *subject, const char *reply, const char *data,
                      size_t len);
/* 1 once the first connection is made (nats.c reconnects by itself from there on). */
int agent_bus_connected(agent_bus *bus);
/* Flushes (bounded), closes and frees. */
void agent_bus_stop(agent_bus *bus);

#endif
