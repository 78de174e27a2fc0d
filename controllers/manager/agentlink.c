/*
 * agentlink.c - kumod's user on the agent bus (agentlink.h), for the rows that
 * need it (the app controller talks to the agents over it).
 */
#include "controllers/manager/agentlink.h"

#include "bus/client/client.h"

kumo_error manager_agent_bus_connect(kumo_manager *m, kumo_diag *diag)
{
    const kumo_manager_options *o = &m->options;
    natsStatus s = kumo_client_nats_connect(o->agent_url, o->agent_user, o->agent_password,
                                            KUMO_MANAGER_CONNECTION_NAME, &m->env.agents);
    if (s != NATS_OK)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", s,
                                     "controller manager: cannot join the agent bus at %s: %s",
                                     o->agent_url, natsStatus_GetText(s));
    return KUMO_ERROR_OK;
}
