/*
 * agents.h - kumod's agent bus (docs/agent.md): a nats-server of its own that
 * the kumo-agents inside machines connect to, with one nkey per Machine
 * (bus/agent) kept in step with the Machines in the store.
 */
#ifndef KUMOD_AGENTS_H
#define KUMOD_AGENTS_H

#include "apis/error/error.h"

typedef struct kumod_agents kumod_agents;

typedef struct kumod_agents_options {
    const char *data_dir;  /* agent.key, agent-bus.port and agent-bus.pid live here */
    const char *host;      /* listen address; "0.0.0.0" reaches every local bridge */
    int port;              /* 0: the port remembered in the data dir, else a free one */
    const char *advertise; /* comma list of URLs put in bootstraps; NULL: nats://<gateway>:port */
    const char *api_url;   /* the API bus, to watch Machines */
    const char *api_prefix;
    int metrics_interval_ms; /* put in bootstraps; 0: the agent's default */
} kumod_agents_options;

kumo_error kumod_agents_start(const kumod_agents_options *options, kumod_agents **out,
                              kumo_diag *diag);
void kumod_agents_stop(kumod_agents *agents);

/* nats://127.0.0.1:PORT and kumod's own user on it, for the controllers. Borrowed. */
const char *kumod_agents_url(const kumod_agents *agents);
const char *kumod_agents_user(const kumod_agents *agents);
const char *kumod_agents_password(const kumod_agents *agents);

/* The bootstrap of a new machine's agent (kumo_infra_env.agent_bootstrap). */
char *kumod_agents_bootstrap(void *agents, const char *ns, const char *name, const char *uid);

#endif
