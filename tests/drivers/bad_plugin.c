/*
 * bad_plugin.c - deliberately broken driver plugins for the loader tests,
 * one source compiled into several .so files (see CMakeLists.txt):
 *   PLUGIN_NO_ENTRY    exports no kumo_driver_entry
 *   PLUGIN_ABI_DELTA   abi_major off by this much
 *   PLUGIN_TRUNCATED   struct_size smaller than ABI 1.0 requires
 *   PLUGIN_NAME        the name the table claims
 *   PLUGIN_CAPS        capability bits (ops for them are missing)
 *   PLUGIN_ABI_1_1     an ABI 1.1 table: minor 1, no load balancer ops in it
 * With no defines it is the smallest valid driver: no capabilities.
 */
#include "drivers/driver.h"

#ifndef PLUGIN_ABI_DELTA
#define PLUGIN_ABI_DELTA 0
#endif
#ifndef PLUGIN_CAPS
#define PLUGIN_CAPS 0
#endif

#ifdef PLUGIN_NO_ENTRY
__attribute__((visibility("default"))) const int kumo_driver_something_else = 1;
#else
static kumo_driver_code plugin_open(const struct kumo_driver_open_args *args,
                                    struct kumo_driver_conn **out, struct kumo_driver_diag *diag)
{
    (void)args;
    (void)diag;
    *out = NULL;
    return KUMO_DRIVER_UNSUPPORTED;
}

static void plugin_close(struct kumo_driver_conn *conn)
{
    (void)conn;
}

static const struct kumo_driver table = {
    .abi_major = KUMO_DRIVER_ABI_MAJOR + PLUGIN_ABI_DELTA,
#ifdef PLUGIN_ABI_1_1
    .abi_minor = 1,
    .struct_size = KUMO_DRIVER_SIZE_1_0, /* 1.1 grew the machine spec, not the table */
#else
    .abi_minor = 0,
#endif
#if defined(PLUGIN_TRUNCATED)
    .struct_size = offsetof(struct kumo_driver, machine_observe),
#elif !defined(PLUGIN_ABI_1_1)
    .struct_size = sizeof(struct kumo_driver),
#endif
    .name = PLUGIN_NAME,
    .description = "a test plugin",
    .capabilities = PLUGIN_CAPS,
    .open = plugin_open,
    .close = plugin_close,
};

__attribute__((visibility("default"))) const struct kumo_driver *
kumo_driver_entry(const struct kumo_driver_host *host)
{
    (void)host;
    return &table;
}
#endif
