/*
 * helpers.h - what the driver tests share: loading the sim from the build's
 * driver folder, opening connections from a "key=value;key=value" string,
 * deadlines, control calls and reading numbers out of JSON replies.
 */
#ifndef KUMO_TEST_DRIVERS_HELPERS_H
#define KUMO_TEST_DRIVERS_HELPERS_H

#include "drivers/driver.h"
#include "drivers/loader/loader.h"

#include <stdint.h>

struct fixture {
    kumo_driver_handle *handle;
    const struct kumo_driver *drv;
    const struct kumo_driver_host *host;
    char dir[512];   /* a fresh temporary folder */
    char state[640]; /* dir/cloud.state */
};

/* Loads the sim (REQUIRE) and makes a temporary folder for its state. */
void fixture_load(struct fixture *f);
/* The same for the driver `name` of the build's driver folder. */
void fixture_load_driver(struct fixture *f, const char *name);
void fixture_unload(struct fixture *f);

/* Opens a connection; `config` is "key=value;key=value" ("state" is added
 * unless given). Returns the driver's code; *out is the connection on OK. */
kumo_driver_code fixture_try_open(struct fixture *f, const char *config,
                                  struct kumo_driver_conn **out, struct kumo_driver_diag *diag);
/* Same, REQUIREs OK. */
struct kumo_driver_conn *fixture_open(struct fixture *f, const char *config);

/* An absolute deadline `seconds` from now on the host's clock. */
int64_t deadline_in(const struct kumo_driver_host *host, double seconds);

/* control(op, json); REQUIREs OK; returns the reply (free with kumo_driver_free). */
char *fixture_control(struct fixture *f, struct kumo_driver_conn *conn, const char *op,
                      const char *json);
/* The number after "key": in json, or -1. */
double json_number(const char *json, const char *key);
/* How often needle occurs in haystack. */
int count_of(const char *haystack, const char *needle);

/* Creates a small machine with `token` (REQUIRE OK); returns it (free it). */
struct kumo_driver_machine *create_machine(struct fixture *f, struct kumo_driver_conn *conn,
                                           const char *token);

void sleep_seconds(double seconds);

#endif
