/*
 * fixture.h - what every kumo-agent case starts from: a real nats-server with
 * the agent bus authorization for one machine uid, the built kumo-agent
 * binary running as a child with its bootstrap in the environment, and a
 * connection as kumod's own user to talk to it.
 */
#ifndef KUMO_TESTS_AGENT_FIXTURE_H
#define KUMO_TESTS_AGENT_FIXTURE_H

#include <nats/nats.h>
#include <sys/types.h>

#include "apis/kumo/v1alpha1/agent.pb-c.h"
#include "bus/natsd/natsd.h"

typedef struct agent_fixture {
    kumo_natsd *natsd;
    natsConnection *admin;
    natsSubscription *status; /* kumo.agent.<uid>.status */
    pid_t agent;
    int port; /* the bus port */
    char uid[32];
    char data_dir[1024];
    char log_path[1024]; /* the agent's own stderr */
} agent_fixture;

/* Starts the server (on `port`, 0: any) unless no_server, then the agent. */
void fixture_start(agent_fixture *f, int port, int no_server);
/* Starts the server for an agent started with no_server. */
void fixture_start_server(agent_fixture *f);
/* SIGTERM to the agent (if still running), then stops everything. Returns the agent's wait
 * status, or -1 when it had to be killed. */
int fixture_stop(agent_fixture *f);

/* A request to the agent; the decoded AgentReply (kumo_codec_message_free), NULL on timeout. */
Kumo__V1alpha1__AgentReply *fixture_request(agent_fixture *f, const char *verb, const char *body);

typedef int (*fixture_check)(const Kumo__V1alpha1__AgentStatus *status, void *arg);
/* Asks for the status every 100 ms until check says yes; that reply, or NULL after timeout_ms
 * (the last status is printed). */
Kumo__V1alpha1__AgentReply *fixture_wait(agent_fixture *f, fixture_check check, void *arg,
                                         int timeout_ms);

const Kumo__V1alpha1__AgentAppStatus *status_app(const Kumo__V1alpha1__AgentStatus *s,
                                                 const char *app);
const Kumo__V1alpha1__AgentInstance *status_instance(const Kumo__V1alpha1__AgentStatus *s,
                                                     const char *app, const char *component,
                                                     int replica);

/* A TCP port nobody listens on now. */
int free_port(void);
int pid_alive(pid_t pid);

#endif
