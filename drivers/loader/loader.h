/*
 * loader.h - finds, loads and checks cloud driver plugins, and maps their
 * result codes to kumo_error.
 *
 * kumo_driver_load dlopens DIR/kumo-driver-NAME.so, calls its
 * kumo_driver_entry with a host table (malloc, kumo_log, clocks) and accepts
 * the returned table only when its ABI major equals KUMO_DRIVER_ABI_MAJOR,
 * its struct_size covers what its minor version promises, its name is NAME
 * and every op its capability bits promise is present. Each refusal is a
 * kumo_diag message that names the file and the problem.
 *
 * kumo_driver_error_of is the one place where a driver code becomes a
 * kumo_error; kumo_driver_diag_to_kumo keeps the driver's code, the cloud's
 * code and message in the kumo_diag.
 *
 * Thread safety: load/unload are thread-safe (dlopen is). A loaded handle is
 * read-only and may be shared by any number of threads until it is unloaded.
 */
#ifndef KUMO_DRIVER_LOADER_H
#define KUMO_DRIVER_LOADER_H

#include "apis/error/error.h"
#include "drivers/driver.h"

typedef struct kumo_driver_handle kumo_driver_handle;

/*
 * The host table kumo passes to drivers: malloc/realloc/free, the kumo_log
 * logger (component "driver"), CLOCK_MONOTONIC and CLOCK_REALTIME. Static
 * storage; valid for the life of the process.
 */
const struct kumo_driver_host *kumo_driver_default_host(void);

/*
 * Loads driver `name` (letters, digits, '-' and '_') from `dir` with the
 * default host. On success *out owns the handle (free with
 * kumo_driver_unload). Errors, each with a message naming the file:
 *   INVALID_ARGUMENT  bad name or NULL arguments
 *   NOT_FOUND         the file does not exist
 *   FORMAT            not a loadable shared object (dlopen's text kept), no
 *                     entry symbol, entry returned NULL, wrong ABI major (both
 *                     versions named), truncated table, name mismatch, or a
 *                     capability without its ops
 *   NOMEM
 */
kumo_error kumo_driver_load(const char *dir, const char *name, kumo_driver_handle **out,
                            kumo_diag *diag);

/* Like kumo_driver_load with the caller's host table, which must outlive the handle
 * (tests use it for a fake clock or a counting allocator). */
kumo_error kumo_driver_load_with_host(const char *dir, const char *name,
                                      const struct kumo_driver_host *host, kumo_driver_handle **out,
                                      kumo_diag *diag);

/* dlcloses the driver. Every connection must be closed first. NULL: no-op. */
void kumo_driver_unload(kumo_driver_handle *handle);

/* The driver's table and the host it was given; borrowed until unload. */
const struct kumo_driver *kumo_driver_table(const kumo_driver_handle *handle);
const struct kumo_driver_host *kumo_driver_host_of(const kumo_driver_handle *handle);
/* The path the driver was loaded from; borrowed until unload. */
const char *kumo_driver_path(const kumo_driver_handle *handle);

/* "THROTTLED" for KUMO_DRIVER_THROTTLED; "UNKNOWN" out of range. */
const char *kumo_driver_code_name(kumo_driver_code code);

/* The kumo_error for a driver code: THROTTLED -> KUMO_ERROR_THROTTLED,
 * CAPACITY -> KUMO_ERROR_CAPACITY, QUOTA -> KUMO_ERROR_QUOTA, ... */
/* 1 when the driver's table has the load balancer ops (ABI 1.2 or later, with
 * KUMO_DRIVER_CAP_LOAD_BALANCERS); an ABI 1.1 driver loads but has none. */
int kumo_driver_has_load_balancers(const struct kumo_driver *driver);

kumo_error kumo_driver_error_of(kumo_driver_code code);

/*
 * Records a driver's failure in `diag` and returns the mapped kumo_error:
 * message "<driver> <op>: <cloud_code>: <driver message>", foreign_where
 * "driver", foreign_code = the driver code. `ddiag` may be NULL.
 */
kumo_error kumo_driver_diag_to_kumo(kumo_driver_code code, const struct kumo_driver_diag *ddiag,
                                    const char *driver, const char *op, kumo_diag *diag);

#endif
