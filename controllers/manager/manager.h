/*
 * manager.h - the controller manager kumod runs: it reads one table of
 * controllers (table.h: a row per controller), connects its own client
 * to the bus, campaigns for one lease per enabled controller (only the leader of a
 * controller runs its informers and workers; a controller whose lease is
 * lost is stopped), shares one limiter set and one cloud registry between the
 * controllers, and publishes their counters.
 *
 * Subjects (prefix P, default kumo.v1):
 *   P.metrics.controllers                    every metrics_interval_ms a JSON
 *       document of counters is published here by every manager; a request
 *       (with a reply subject) gets the same document at once from each
 *       manager that leads at least one controller. Shape: docs/controllers.md.
 *   P.control.connections.<ns>.<name>        a request {"op": "...", "input":
 *       {...}} runs the driver's control operation on that Connection (the
 *       sim's "stats", "inventory", "machine_terminate", ...) in the process
 *       that leads the connection controller, and replies with the driver's
 *       JSON or {"error": "...", "reason": "..."}.
 *
 * Thread safety: start/stop from one thread.
 */
#ifndef KUMO_MANAGER_H
#define KUMO_MANAGER_H

#include <stddef.h>

#include "apis/error/error.h"
#include "controllers/runtime/cloud/cloud.h"

typedef struct kumo_manager kumo_manager;

typedef struct kumo_manager_options {
    const char *nats_url;      /* required */
    const char *prefix;        /* NULL: kumo.v1 */
    const char *controllers;   /* NULL or "all": the rows on by default; "none"; or "a,b,..." */
    const char *drivers_dir;   /* required: where kumo-driver-<name>.so live */
    const char *latency_table; /* optional measured RTT CSV for placement */
    const char *ns;            /* NULL: all namespaces */
    const char *holder;        /* lease identity; NULL: "<hostname>-<pid>" */
    int lease_duration_ms;     /* 0: 15000 */
    int metrics_interval_ms;   /* 0: 5000 */
    int workers;               /* per cloud-resource controller; 0: 128 */
    double drift_poll_ms;      /* 0: 30000 */
    double boot_poll_ms;       /* 0: learnt per connection */
    double probe_interval_ms;  /* 0: 60000 */
    int call_timeout_ms;       /* deadline of one driver call; 0: 30000 */
    kumo_cloud_credential_fn read_credential; /* how Credential data is read; NULL: it is not */
    void *credential_context;
    const char *state_root; /* relative driver state paths resolve here (kumo_cloud_options) */
    /* The agent bus (docs/agent.md): kumod's user on it, and the bootstrap of a new machine's
     * agent. NULL agent_url: machines get no agent and the app controller does not run. */
    const char *agent_url, *agent_user, *agent_password;
    char *(*agent_bootstrap)(void *context, const char *ns, const char *name, const char *uid);
    void *agent_context;
    /* Events (docs/controllers.md): expire after this many seconds (0: 3600); at most this
     * many are kept per namespace (0: 1000). */
    double event_ttl_seconds;
    int events_per_namespace;
    long max_machines_per_namespace; /* Machines Infras may make in one namespace; 0: 50000 */
    /* Round trips measured between Connections, for placement (kumo_monitor_latency). */
    int (*measured_latency)(void *context, const char *ns, const char *from, const char *to,
                            double *ms, double *age_seconds);
    void *measured_context;
} kumo_manager_options;

/* The name of kumod's own connections to the API bus and the agent bus. */
#define KUMO_MANAGER_CONNECTION_NAME "kumo-controller-manager"

/* The controllers of the manager's table (controllers/manager/table.c), in start order. */
size_t kumo_manager_controller_count(void);
/* The name of controller `index` (static storage), or NULL past the end. */
const char *kumo_manager_controller_name(size_t index);

/*
 * Checks a --controllers list: NULL, "all", "none" or a comma list of names
 * of the table. Errors: INVALID_ARGUMENT naming the unknown entry and the
 * known ones.
 */
kumo_error kumo_manager_controllers_check(const char *list, kumo_diag *diag);

/*
 * Starts: connects, loads the latency table, starts campaigning. Returns
 * before any controller leads. Errors: INVALID_ARGUMENT (bad list or
 * options), UNAVAILABLE (NATS or JetStream unreachable), IO/PARSE (latency
 * table), NOMEM.
 */
kumo_error kumo_manager_start(const kumo_manager_options *options, kumo_manager **out,
                              kumo_diag *diag);

/* Stops every controller, releases the leases, disconnects, frees. NULL is a no-op. */
void kumo_manager_stop(kumo_manager *manager);

/* 1 while this manager leads `controller` and runs it. */
int kumo_manager_running(kumo_manager *manager, const char *controller);

/* The metrics document (malloc'd JSON; free()); NULL when out of memory. */
char *kumo_manager_metrics(kumo_manager *manager);

#endif
