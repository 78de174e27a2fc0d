/*
 * agentbus.h - the agent bus kumod serves (docs/agent.md): a nats-server of
 * its own that the kumo-agents inside machines connect to, with one nkey per
 * Machine (bus/agent) kept in step with the Machines in the store. The
 * server dies with the thread that started it (kumo_natsd die_with_owner),
 * even when that process is killed with SIGKILL.
 *
 * Thread safety: start/stop from the thread that lives as long as the server
 * should (kumod's main); bootstrap from any thread.
 */
#ifndef KUMO_AGENTBUS_H
#define KUMO_AGENTBUS_H

#include "apis/error/error.h"

/* The file in the data dir that holds the server's pid while it runs. */
#define KUMO_AGENTBUS_PID_FILE "agent-bus.pid"

typedef struct kumo_agentbus kumo_agentbus;

typedef struct kumo_agentbus_options {
    const char *data_dir;  /* agent.key, agent-bus.port and agent-bus.pid live here */
    const char *host;      /* listen address; "0.0.0.0" reaches every local bridge */
    int port;              /* 0: the port remembered in the data dir, else a free one */
    const char *advertise; /* comma list of URLs put in bootstraps; NULL: nats://<gateway>:port */
    const char *api_url;   /* the API bus, to watch Machines */
    const char *api_prefix;
    int metrics_interval_ms; /* put in bootstraps; 0: the agent's default */
} kumo_agentbus_options;

/*
 * Starts the server and follows the Machines. A server left by a killed owner must be
 * stopped first (kumod: cmd/kumod/orphan.c, by KUMO_AGENTBUS_PID_FILE). Errors:
 * INVALID_ARGUMENT (advertise), IO (agent key), UNAVAILABLE (nats-server, the API), NOMEM.
 */
kumo_error kumo_agentbus_start(const kumo_agentbus_options *options, kumo_agentbus **out,
                               kumo_diag *diag);
/* Stops following, stops the server, removes the pid file and frees. NULL is a no-op. */
void kumo_agentbus_stop(kumo_agentbus *agents);

/* nats://127.0.0.1:PORT and kumod's own user on it, for the controllers. Borrowed. */
const char *kumo_agentbus_url(const kumo_agentbus *agents);
const char *kumo_agentbus_user(const kumo_agentbus *agents);
const char *kumo_agentbus_password(const kumo_agentbus *agents);

/* The bootstrap of a new machine's agent (kumo_infra_env.agent_bootstrap). */
char *kumo_agentbus_bootstrap(void *agents, const char *ns, const char *name, const char *uid);

#endif
