/*
 * monitor.h - kumod's monitoring (docs/monitoring.md): the latest metrics of
 * every machine's kumo-agent, the inter-connection latency matrix, and
 * `/metrics` in Prometheus's text format over HTTP (libevent's evhttp), so
 * that one scrape of kumod covers kumod itself and the whole fleet.
 *
 *   agent bus   P.*.metrics (AgentMetricsReport, protobuf) in; P.U.peers
 *               (AgentPeers) out, naming a few agents of every other
 *               connection to time round trips to
 *   API bus     <prefix>.monitor.machines|apps|latency requests: the
 *               figures behind `kumoctl top` (monitor.proto, JSON)
 *   HTTP        GET /metrics
 *
 * Machines are labelled from the Machines and Connections in the store
 * (watched): namespace, machine, connection, provider, region, infra, group.
 * A machine that has not reported for 1.5 of its intervals is dropped, and
 * so are its series.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef KUMO_MONITOR_H
#define KUMO_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "apis/error/error.h"
#include "apis/metrics/metrics.h"

#define KUMO_MONITOR_DEFAULT_LISTEN "127.0.0.1:9464"
/* A latency cell older than this is not used by placement (and shows fresh=false). */
#define KUMO_MONITOR_LATENCY_FRESH_S 180.0

typedef struct kumo_monitor kumo_monitor;

typedef struct kumo_monitor_options {
    const char *listen;     /* HOST:PORT of /metrics (port 0: a free one); NULL or "": none */
    const char *api_url;    /* the API bus: Machines, Connections and the top requests */
    const char *api_prefix; /* NULL: kumo.v1 */
    const char *agent_url;  /* the agent bus; NULL: no fleet metrics */
    const char *agent_user; /* kumod's user on it */
    const char *agent_password;
    int peers_interval_ms; /* how often agents time their peers; 0: 10000 */
} kumo_monitor_options;

/*
 * Starts watching, subscribing and serving. Errors: INVALID_ARGUMENT (listen
 * is not HOST:PORT), UNAVAILABLE (a bus or the listen address), NOMEM.
 */
kumo_error kumo_monitor_start(const kumo_monitor_options *options, kumo_monitor **out,
                              kumo_diag *diag);
/* Stops serving and frees everything. NULL is a no-op. */
void kumo_monitor_stop(kumo_monitor *monitor);

/* The port /metrics is served on (0 when not serving). */
int kumo_monitor_port(const kumo_monitor *monitor);

/* Everything /metrics serves, appended to text. */
void kumo_monitor_write(kumo_monitor *monitor, kumo_metrics_text *text);

/*
 * The measured round trip from connection `from` to connection `to` of
 * namespace ns: median ms and the age of the newest sample in seconds.
 * 0 when a fresh measurement exists, -1 otherwise. `monitor` is a
 * kumo_monitor * (void * so that it fits a controller's callback).
 */
int kumo_monitor_latency(void *monitor, const char *ns, const char *from, const char *to,
                         double *median_ms, double *age_seconds);

#endif
