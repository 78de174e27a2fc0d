/*
 * internal.h - what the monitor's files share.
 *
 *   monitor.c  start/stop, the buses, the HTTP server, the top requests
 *   labels.c   Machines and Connections (watched) -> the labels of a machine
 *   fleet.c    agents' reports: ingest, staleness, series, top figures
 *   latency.c  round-trip samples -> the connection x connection matrix,
 *              and the peers each agent is asked to time
 *
 * Locking: one mutex (`lock`) guards every map below; each callback (NATS,
 * watch, HTTP) takes it for its own short work. A scrape holds it while it
 * writes the fleet, so ingestion waits that long (tens of ms for 10,000
 * machines).
 */
#ifndef KUMO_MONITOR_INTERNAL_H
#define KUMO_MONITOR_INTERNAL_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

#include "apis/kumo/v1alpha1/agent.pb-c.h"
#include "apis/kumo/v1alpha1/monitor.pb-c.h"
#include "apis/map/map.h"
#include "apis/metrics/metrics.h"
#include "bus/client/client.h"
#include "bus/monitor/monitor.h"

#define MONITOR_LABELS     7 /* namespace machine connection provider region infra group */
#define MONITOR_RTT_RING   64
#define MONITOR_PEERS_EACH 3 /* agents timed per other connection */

/* What the store says about a machine (labels.c). Key: the Machine's uid. */
typedef struct monitor_machine {
    char ns[64], name[128], connection[128], infra[128], group[128];
} monitor_machine;

/* A Connection's place. Key: "<namespace>/<name>". */
typedef struct monitor_connection {
    char provider[64], region[64];
} monitor_connection;

/* An agent's last two reports. Key: the Machine's uid. */
typedef struct monitor_entry {
    Kumo__V1alpha1__AgentMetricsReport *report, *previous; /* owned; previous may be NULL */
    double seen, previous_seen;                            /* kumo_metrics_now() at arrival */
} monitor_entry;

/* Round trips from one connection to another. Key: "<ns>/<from>/<to>". */
typedef struct monitor_cell {
    char ns[64], from[128], to[128];
    double ms[MONITOR_RTT_RING], at[MONITOR_RTT_RING];
    int next, count;
} monitor_cell;

struct kumo_monitor {
    _Atomic int closing, active; /* stop waits for the NATS callbacks in flight */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    kumo_map *machines, *connections, *entries, *cells;
    char agent_prefix[64], api_prefix[128];
    int peers_interval_ms;

    kumo_client *client;
    kumo_client_watch *machine_watch, *connection_watch;
    natsConnection *agent_nc, *api_nc;
    natsSubscription *metrics_sub, *top_sub;
    pthread_t peers_thread;
    int peers_started;

    struct event_base *base;
    struct evhttp *http;
    pthread_t http_thread;
    int http_started, port;

    kumo_metrics_series *reports, *samples, *rejected;
    kumo_metrics_family *scrape_seconds;
};

/* ---- monitor.c ---- */
/* A NATS callback begins: 0 when the monitor is closing (the callback must return at once,
 * without monitor_callback_leave). */
int monitor_callback_enter(kumo_monitor *m);
void monitor_callback_leave(kumo_monitor *m);

/* ---- labels.c ---- */
kumo_error monitor_labels_start(kumo_monitor *m, kumo_diag *diag);
/* The labels of a machine uid (locked), in MONITOR_LABELS order; values borrowed from
 * the maps, "" when unknown. */
void monitor_labels_of(kumo_monitor *m, const char *uid, const char **values);

/* ---- fleet.c ---- */
void monitor_on_metrics(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
/* Drops machines silent for 1.5 of their intervals (locked). */
void monitor_fleet_sweep(kumo_monitor *m, double now);
/* The fleet's series (locked). */
void monitor_fleet_write(kumo_monitor *m, kumo_metrics_text *text);
void monitor_fleet_free(kumo_monitor *m);
Kumo__V1alpha1__TopMachines *monitor_top_machines(kumo_monitor *m);
Kumo__V1alpha1__TopApps *monitor_top_apps(kumo_monitor *m);

/* ---- latency.c ---- */
/* Adds a report's round trips (locked). */
void monitor_latency_add(kumo_monitor *m, const char *uid,
                         const Kumo__V1alpha1__AgentMetricsReport *report, double now);
void monitor_latency_write(kumo_monitor *m, kumo_metrics_text *text, double now);
Kumo__V1alpha1__LatencyMatrix *monitor_latency_matrix(kumo_monitor *m, double now);
void monitor_latency_free(kumo_monitor *m);
/* Sends every reporting agent its peers; not locked (takes the lock itself). */
void monitor_peers_send(kumo_monitor *m);

#endif
