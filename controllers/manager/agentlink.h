/*
 * agentlink.h - kumod's own user on the agent bus (docs/agent.md), joined only
 * when an enabled row needs it (MANAGER_NEEDS_AGENT_BUS) and options.agent_url is set.
 */
#ifndef KUMO_MANAGER_AGENTLINK_H
#define KUMO_MANAGER_AGENTLINK_H

#include "controllers/manager/internal.h"

/* Connects m->env.agents. Errors: UNAVAILABLE. */
kumo_error manager_agent_bus_connect(struct kumo_manager *m, kumo_diag *diag);

#endif
