/*
 * moto.h - what the aws driver tests share: a real moto server (the AWS
 * emulator, `python3 -m moto.server`) started on a free loopback port with
 * SigV4 checking on, an IAM user and access key made in it, the optional
 * fault proxy (tests/aws/fault_proxy.py) in front of it, the AWS CLI run
 * against it, and the aws driver loaded from the build.
 *
 * Signature checking: moto checks every request after the first
 * INITIAL_NO_AUTH_ACTION_COUNT ones against its own IAM. The fixture spends
 * exactly those on create-user, create-access-key and put-user-policy; every
 * later request (the driver's, the CLI's) must be signed with the new key.
 */
#ifndef KUMO_TESTS_AWS_MOTO_H
#define KUMO_TESTS_AWS_MOTO_H

#include <sys/types.h>

#include "drivers/driver.h"
#include "drivers/loader/loader.h"

typedef struct moto {
    pid_t server, proxy;
    int port, proxy_port;
    char url[64];       /* moto itself */
    char proxy_url[64]; /* the fault proxy, when started */
    char dir[256];
    char key_id[64], secret[128];
    kumo_driver_handle *handle;
    const struct kumo_driver *drv;
    const struct kumo_driver_host *host;
} moto;

/* Starts moto (skips the case when moto or the aws CLI is missing), makes the IAM user and
 * key, loads the aws driver. */
void moto_start(moto *m);
/* Stops the proxy and moto, unloads the driver. Idempotent. */
void moto_stop(moto *m);
/* Starts the fault proxy in front of moto with the given rules (fault_proxy.py options, e.g.
 * "--throttle 0.2 --lose-run 0.3"); 0 when it answers. */
int moto_proxy_start(moto *m, const char *options);
/* Sends a JSON rules update to the running proxy (POST /_proxy/rules); 0 on success. */
int moto_proxy_rules(moto *m, const char *json);
/* The proxy's counters as JSON (GET /_proxy/stats) in out; 0 on success. */
int moto_proxy_stats(moto *m, char *out, size_t size);

/* Runs `aws --endpoint-url URL --region REGION --output json ARGS` with the fixture's key;
 * returns its stdout (malloc'd) or NULL when it fails (stderr printed). */
char *moto_cli(moto *m, const char *region, const char *args);

/* Opens a driver connection to `region` through `endpoint` (moto's url when NULL) with the
 * fixture's key, or with `secret` instead when not NULL. */
kumo_driver_code moto_open(moto *m, const char *region, const char *endpoint, const char *secret,
                           struct kumo_driver_conn **out, struct kumo_driver_diag *diag);

/* An absolute driver deadline `seconds` from now. */
int64_t moto_deadline(moto *m, double seconds);

/* A free loopback TCP port. */
int moto_free_port(void);

#endif
