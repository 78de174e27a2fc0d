/*
 * agentbus.h - what the agent, App and e2e tests share (compiled into each of
 * those test binaries): a real nats-server serving as the agent bus for a set
 * of machine uids, joined as kumod's own user, and a plain HTTP GET.
 */
#ifndef KUMO_TESTS_AGENTBUS_H
#define KUMO_TESTS_AGENTBUS_H

#include <nats/nats.h>
#include <stddef.h>

#include "bus/agent/agent.h"
#include "bus/natsd/natsd.h"

/* The user kumod joins the bus as in these tests (its password is the caller's). */
#define AGENTBUS_USER "kumod"

/*
 * Starts nats-server on `port` (0: any) with the authorization for `uids` (keys derived from
 * `key`) and kumod's user with `password`, and connects as that user. Fails the case on error.
 */
void agentbus_start(const unsigned char key[KUMO_AGENT_KEY_SIZE], const char *const *uids,
                    size_t count, const char *password, int port, kumo_natsd **bus,
                    natsConnection **admin);

/* Rewrites the authorization for `uids` and waits for the server to apply it. */
void agentbus_reload(kumo_natsd *bus, const unsigned char key[KUMO_AGENT_KEY_SIZE],
                     const char *const *uids, size_t count, const char *password);

/* Body of an HTTP/1.0 GET of ip:port/path (malloc'd), NULL when nothing answered; *code is the
 * status code (0 when none). Waits at most 5 s. */
char *agentbus_http_get(const char *ip, int port, const char *path, int *code);

#endif
