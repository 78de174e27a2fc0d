/*
 * agent.h - the agent bus: how kumod and the kumo-agent inside each machine
 * find and trust each other (docs/agent.md).
 *
 * The agent bus is a nats-server of its own (kumod runs it beside the API
 * bus), reachable from the machines. Every agent authenticates with an
 * ed25519 NATS nkey whose seed is derived from kumod's agent key and the
 * Machine's uid when the Machine is created; nats-server knows only the
 * public keys and lets each key publish and subscribe on its own machine's
 * subjects only, so no machine can speak for another. kumod itself connects
 * as a user with a password of its own.
 *
 * Subjects (prefix P, default "kumo.agent", U the Machine uid):
 *   P.U.status   agent -> kumod: an AgentStatus (JSON) every interval and
 *                soon after an instance changes
 *   P.U.apply    kumod -> agent request: an AgentApply; reply AgentReply
 *   P.U.get      kumod -> agent request (empty body); reply AgentReply
 *   P.U.metrics  agent -> kumod: an AgentMetricsReport (protobuf) every
 *                metrics interval (docs/monitoring.md)
 *   P.U.peers    kumod -> agent: AgentPeers (JSON), the agents to time
 *   P.U.ping     any agent -> agent request: answered with its own body
 *   P.U.rtt      the answers to the agent's own pings
 *   P.U.logs     kumod -> agent request: an AgentLogsRequest; reply AgentLogs
 *
 * Thread safety: every function is reentrant.
 */
#ifndef KUMO_AGENT_H
#define KUMO_AGENT_H

#include <nats/nats.h>
#include <stddef.h>

#include "apis/error/error.h"
#include "apis/kumo/v1alpha1/agent.pb-c.h"

#define KUMO_AGENT_PREFIX      "kumo.agent"
#define KUMO_AGENT_VERSION     "0.1.0"
#define KUMO_AGENT_SEED_SIZE   32
#define KUMO_AGENT_KEY_SIZE    32
#define KUMO_AGENT_PUBLIC_SIZE 57 /* 56 characters "U..." and the NUL */

/* "<prefix>.<machine_uid>.<verb>" into buf; -1 when it does not fit or a part is
 * empty or holds a character NATS treats specially ('.', '*', '>', blanks). */
int kumo_agent_subject(char *buf, size_t size, const char *prefix, const char *machine_uid,
                       const char *verb);

/* The seed of a machine's nkey: HMAC-SHA256(key, "kumo-agent/" + machine_uid). 0 or -1. */
int kumo_agent_seed_derive(const unsigned char key[KUMO_AGENT_KEY_SIZE], const char *machine_uid,
                           unsigned char seed[KUMO_AGENT_SEED_SIZE]);

/* The NATS user nkey ("U" + base32 of the public key and its CRC-16) of a seed. 0 or -1. */
int kumo_agent_public_key(const unsigned char seed[KUMO_AGENT_SEED_SIZE],
                          char out[KUMO_AGENT_PUBLIC_SIZE]);

/* Hex <-> bytes of a seed (64 hex digits). 0 or -1. */
void kumo_agent_seed_to_hex(const unsigned char seed[KUMO_AGENT_SEED_SIZE], char out[65]);
int kumo_agent_seed_from_hex(const char *hex, unsigned char seed[KUMO_AGENT_SEED_SIZE]);

/*
 * Reads kumod's agent key from `path`, creating it (32 random bytes, mode
 * 0600) when it does not exist. Errors: IO (with the path), INVALID_ARGUMENT
 * when the file exists with another size.
 */
kumo_error kumo_agent_key_load(const char *path, unsigned char key[KUMO_AGENT_KEY_SIZE],
                               kumo_diag *diag);

/*
 * The bootstrap document of a machine, as JSON (malloc'd; free()). Its seed is
 * derived here from `key`. NULL when out of memory.
 */
char *kumo_agent_bootstrap_json(const unsigned char key[KUMO_AGENT_KEY_SIZE],
                                const char *machine_uid, const char *machine, const char *ns,
                                const char *const *urls, size_t url_count, int port,
                                const char *prefix, int status_interval_ms);

/* The same with the metrics interval (0: the agent's default, 10 s). */
char *kumo_agent_bootstrap_json_metrics(const unsigned char key[KUMO_AGENT_KEY_SIZE],
                                        const char *machine_uid, const char *machine,
                                        const char *ns, const char *const *urls, size_t url_count,
                                        int port, const char *prefix, int status_interval_ms,
                                        int metrics_interval_ms);

/* Parses and checks a bootstrap (uid and a 64-hex-digit seed required). */
kumo_error kumo_agent_bootstrap_parse(const char *json, Kumo__V1alpha1__AgentBootstrap **out,
                                      kumo_diag *diag);

/*
 * Connects an agent to its bus with its nkey: tries the bootstrap's urls, or
 * nats://<gateway>:<port> when it has none (gateway may be NULL: 127.0.0.1).
 * Reconnects forever. `seed` is the caller's: it receives the decoded seed and
 * must outlive the connection (nats.c signs again on every reconnect).
 * Errors: UNAVAILABLE (no server answered), UNAUTHORIZED (the server refused
 * the key), INVALID_ARGUMENT (bad seed).
 */
kumo_error kumo_agent_connect(const Kumo__V1alpha1__AgentBootstrap *bootstrap, const char *gateway,
                              unsigned char seed[KUMO_AGENT_SEED_SIZE], natsConnection **out,
                              kumo_diag *diag);

/*
 * The authorization block of the agent bus's nats-server configuration:
 * kumod's user (full access) and one nkey per machine uid, each allowed only
 * its own subjects (and replies to requests it received), and to ping other
 * agents (P.*.ping). Appended to `out`.
 * -1 when out of memory.
 */
int kumo_agent_authorization(const unsigned char key[KUMO_AGENT_KEY_SIZE], const char *prefix,
                             const char *admin_user, const char *admin_password,
                             const char *const *machine_uids, size_t count, char **out,
                             size_t *out_len);

#endif
