/*
 * e2e.h - what the end-to-end tests share: real processes only.
 *
 * A fixture runs a real nats-server (JetStream, temp dir), a real kumod
 * (build/bin/kumod --nats URL --data-dir TMP, all controllers, drivers from
 * build/lib/kumo/drivers) that can be SIGKILLed and restarted, a client, and
 * a raw NATS connection for the controller manager's subjects (driver
 * control, metrics). The simulated cloud is a state file in the temp dir,
 * inspected with build/bin/kumo-sim inventory, exactly as a user would.
 *
 * On a failed E2E_REQUIRE the processes are stopped before the case ends.
 * KUMO_E2E_LOG_LEVEL=debug runs kumod with its debug log (default info).
 */
#ifndef KUMO_TESTS_E2E_H
#define KUMO_TESTS_E2E_H

#include <nats/nats.h>
#include <sys/types.h>

#include "apis/codec/codec.h"
#include "bus/client/client.h"
#include "bus/natsd/natsd.h"
#include "tests/harness/test.h"

typedef struct e2e {
    kumo_natsd *natsd;
    pid_t kumod;
    char kumod_binary[1024], sim_binary[1024], drivers_dir[1024];
    char dir[256];
    char data_dir[512], log_file[512], state[512];
    char url[128];
    char drift_poll[32];
    kumo_client *client;
    natsConnection *nc;
    int restarts;
    const char *extra_args[8]; /* more kumod flags (NULL-terminated); see e2e_start_with */
} e2e;

/* Stops the fixture, then fails the case, when cond is false. */
#define E2E_REQUIRE(t, cond)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            e2e_stop(t);                                                                           \
            KUMO_REQUIRE(cond);                                                                    \
        }                                                                                          \
    } while (0)

/* Starts nats-server and kumod (drift poll `drift_poll_seconds`); skips when not built. */
void e2e_start(e2e *t, const char *drift_poll_seconds);
/* The same with more kumod flags (at most 7, NULL-terminated; the strings must outlive t). */
void e2e_start_with(e2e *t, const char *drift_poll_seconds, const char *const *extra_args);
/* Stops kumod (SIGTERM) and nats-server; frees the client; nats_Close(). Idempotent. */
void e2e_stop(e2e *t);
/* Sends `signal` to kumod and reaps it. */
void e2e_kumod_kill(e2e *t, int signal);
/* Starts kumod again on the same data dir; 0 when it answers. */
int e2e_kumod_start(e2e *t);

/* Decodes a JSON object (printf-style) and applies it; 0 on success (errors printed). */
int e2e_apply(e2e *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A sim Connection: name, region, qps (Connection and sim alike), burst, in-flight, and extra
 * sim config as JSON members (e.g. "\"capacity\": \"0\""), or NULL. */
int e2e_sim_connection(e2e *t, const char *name, const char *region, double qps, int burst,
                       int max_in_flight, const char *extra_config);
/* Gets an object (NULL when absent); caller frees. */
ProtobufCMessage *e2e_get(e2e *t, const char *kind, const char *name);
/* Deletes an object; 0 on success or when already gone. */
int e2e_delete(e2e *t, const char *kind, const char *name);

/* Polls pred every 100 ms until it returns nonzero or `seconds` pass; returns the last result. */
int e2e_wait(e2e *t, double seconds, int (*pred)(e2e *t, void *arg), void *arg);
/* 1 when Infra `name` has status.ready == desired == `desired` and Ready True. */
int e2e_infra_ready(e2e *t, const char *name, int desired);

/* The sim's inventory (kumo-sim inventory --state); caller frees (kumo_codec_value_destroy). */
kumo_value *e2e_inventory(e2e *t);
/* Members of the inventory array `what` ("machines", ...) whose "state" is not terminated. */
size_t e2e_inventory_count(const kumo_value *inventory, const char *what);

/* Runs a driver control op on Connection `connection` through kumod; the parsed JSON reply
 * (caller frees) or NULL. */
kumo_value *e2e_control(e2e *t, const char *connection, const char *op, const char *input_json);
/* A number member of an object value (0 when absent). */
double e2e_number(const kumo_value *object, const char *key);
/* A string member of an object value ("" when absent). */
const char *e2e_string(const kumo_value *object, const char *key);

/* Prints the last lines of kumod's log to stderr (for failures). */
void e2e_dump_log(e2e *t, int lines);
void e2e_sleep_ms(int ms);

#endif
