/*
 * fixture.h - what the controller tests that need an API share: a real
 * nats-server, a real kumod serving the API only (--controllers none), a
 * client, and the sim driver from the build (build/lib/kumo/drivers) with a
 * state file in the case's temp dir. Controllers run in the test process.
 */
#ifndef KUMO_TESTS_CONTROLLERS_FIXTURE_H
#define KUMO_TESTS_CONTROLLERS_FIXTURE_H

#include <sys/types.h>

#include "bus/client/client.h"
#include "bus/natsd/natsd.h"
#include "tests/harness/test.h"

typedef struct api_fixture {
    kumo_natsd *natsd;
    pid_t kumod;
    char dir[256];
    char url[128];
    char drivers_dir[1024];
    char state[512];
    kumo_client *client;
} api_fixture;

/* Starts nats-server and kumod; skips the case when kumod or the sim driver is not built. */
void api_fixture_start(api_fixture *f);
/* Stops kumod and nats-server, frees the client, nats_Close(). */
void api_fixture_stop(api_fixture *f);

/* Decodes JSON (printf-style) and creates or updates it; 0 on success. */
int api_apply(api_fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decodes JSON (printf-style) into an object (caller frees); NULL on failure. */
ProtobufCMessage *api_decode(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A sim Connection `name` (region us-east-1) whose state is f->state; extra config or NULL. */
int api_sim_connection(api_fixture *f, const char *name, const char *extra_config);
/* Gets default/name of `kind` (NULL when absent). */
ProtobufCMessage *api_get(api_fixture *f, const char *kind, const char *name);
/* Polls every 50 ms until pred returns nonzero or `seconds` pass; returns its last value. */
int api_wait(api_fixture *f, double seconds, int (*pred)(api_fixture *f, void *arg), void *arg);
void api_sleep_ms(int ms);

#endif
