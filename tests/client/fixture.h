/*
 * fixture.h - what the client tests share: a real nats-server (kumo_natsd)
 * and a real kumod process (build/bin/kumod --nats URL --data-dir TMP) that
 * can be killed and restarted, plus small object helpers.
 */
#ifndef KUMO_TESTS_CLIENT_FIXTURE_H
#define KUMO_TESTS_CLIENT_FIXTURE_H

#include <sys/types.h>

#include "bus/client/client.h"
#include "bus/natsd/natsd.h"

typedef struct fixture {
    kumo_natsd *natsd;
    pid_t kumod;
    char kumod_binary[1024];
    char data_dir[512];
    char log_file[600];
    char url[128];
} fixture;

/*
 * Starts nats-server and kumod and waits until kumod answers. Skips the case
 * (kumo_test_skip) when kumod has not been built; fails it when either
 * cannot start.
 */
void fixture_start(fixture *f);
/* Stops kumod (SIGTERM) and nats-server, and calls nats_Close(). */
void fixture_stop(fixture *f);
/* kill(kumod, signal) and reap it. */
void fixture_kumod_kill(fixture *f, int signal);
/* Starts kumod again on the same data dir and waits until it answers; 0 on success. */
int fixture_kumod_start(fixture *f);

/* A client of the fixture's NATS; fails the case when it cannot connect. */
kumo_client *fixture_client(const fixture *f, kumo_codec_format format, int timeout_ms);

/* A Connection object named `name` in `ns` with label tier=`tier` (NULL: none). */
ProtobufCMessage *fixture_connection(const char *name, const char *ns, const char *tier);

/* Sleeps ms milliseconds. */
void fixture_sleep_ms(int ms);

#endif
