/*
 * logs.h - kumod's relay of `kumoctl logs` from the API bus to the agent of
 * one machine (logs.c, docs/kumoctl.md).
 */
#ifndef KUMOD_LOGS_H
#define KUMOD_LOGS_H

#include <nats/nats.h>

#include "apis/error/error.h"
#include "store/store.h"

typedef struct kumod_logs kumod_logs;

typedef struct kumod_logs_options {
    const char *api_url;    /* the API bus */
    const char *api_prefix; /* requests come on <api_prefix>.logs.<namespace> */
    kumo_store *store;      /* to find the Machine's uid; borrowed */
    const char *agent_url;  /* the agent bus, with kumod's own user */
    const char *agent_user;
    const char *agent_password;
} kumod_logs_options;

/* Connects to both buses and serves. Errors: UNAVAILABLE (NATS), NOMEM. */
kumo_error kumod_logs_start(const kumod_logs_options *options, kumod_logs **out, kumo_diag *diag);
/* Stops serving (waits for a request in progress) and disconnects. NULL is a no-op. */
void kumod_logs_stop(kumod_logs *logs);

#endif
