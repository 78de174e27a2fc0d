/*
 * local_support.h - what the local driver's tests share: loading the driver
 * with a per-run name prefix ("kt<pid>") and state folder, skipping when the
 * host cannot run it (not root, no `ip netns`), probing the network (ICMP
 * ping, TCP listeners and connects inside a namespace), reading the
 * driver's inventory, and finding and removing everything a run left on
 * the host (namespaces, links, nftables tables, cgroups, processes).
 *
 * Every test case removes what it made; an atexit hook sweeps the prefix
 * again so a case that fails half-way leaves nothing either.
 */
#ifndef KUMO_TEST_DRIVERS_LOCAL_SUPPORT_H
#define KUMO_TEST_DRIVERS_LOCAL_SUPPORT_H

#include "drivers/driver.h"
#include "drivers/loader/loader.h"

#include <stddef.h>

struct local_env {
    kumo_driver_handle *handle;
    const struct kumo_driver *drv;
    const struct kumo_driver_host *host;
    char prefix[32];     /* kt<pid> */
    char connection[64]; /* test/kt<pid> */
    char state_dir[512];
    char cidr[32]; /* the default network: 10.254.<n>.0/24 */
    struct kumo_driver_kv kv[16];
    size_t kv_count;
    struct kumo_driver_open_args args;
};

/* Skips the case unless root with `ip netns`; loads the driver; registers the sweep. */
void local_env_init(struct local_env *e);
/* Adds (or replaces) a config key before opening. */
void local_env_set(struct local_env *e, const char *key, const char *value);
struct kumo_driver_conn *local_env_open(struct local_env *e);
/* control purge, then REQUIRE that nothing of the prefix is left; unloads. */
void local_env_fini(struct local_env *e);

/* Host objects whose names carry `prefix`, described into report; returns the count. */
int local_leftovers(const char *prefix, char *report, size_t size);
/* Removes whatever carries `prefix`; returns how many objects it removed. */
int local_sweep(const char *prefix);

/* Runs argv (no shell), output into out; returns the exit status (-1: not run). */
int local_cmd(const char *const *argv, char *out, size_t size);

/* One ICMP echo to ip from the host; 1 when answered within timeout_ms. */
int local_ping(const char *ip, int timeout_ms);
/* A listening TCP socket on port inside /run/netns/<netns>; -1 on failure. */
int local_listen_in(const char *netns, int port);
/* 1 when a TCP connect from netns (NULL: the host) to ip:port succeeds in timeout_ms. */
int local_connect_from(const char *netns, const char *ip, int port, int timeout_ms);

/* The string value of "key" inside the inventory object whose "id" is id. */
int local_inventory_field(const char *json, const char *id, const char *key, char *out,
                          size_t size);
/* The driver's inventory (control); free with kumo_driver_free. */
char *local_inventory(struct local_env *e, struct kumo_driver_conn *conn);

int64_t local_deadline(const struct local_env *e, double seconds);

#endif
