/*
 * cloud.h - the cloud registry every controller that calls a cloud shares:
 * one open driver connection per Connection object, each behind that
 * Connection's API limiter.
 *
 * For a Connection "ns/name" the registry loads its driver once
 * (drivers/loader: DIR/kumo-driver-<spec.driver>.so), opens a driver
 * connection with config from the spec (provider, region, zone, endpoint and
 * spec.config) and credentials from the referenced Credential's spec.data
 * (read through a callback the process supplies: the apiserver never returns
 * secrets to API clients), and reopens it when the Connection's uid or
 * generation changes or after kumo_cloud_invalidate. Every driver call is
 * bracketed by kumo_cloud_call_begin/end, which take a token and an
 * in-flight slot from the Connection's limiter (spec.rateLimit qps, burst,
 * maxInFlight; shared through a kumo_limiter_set) and give the call an
 * absolute deadline.
 *
 * A worker never waits long for a busy connection: when more callers already
 * wait on its limiter than it can serve soon, call_begin returns THROTTLED at
 * once with the delay after which to try again, so the worker can take a key
 * of another connection instead (no head-of-line blocking across clouds).
 *
 * Lifetimes: a kumo_cloud_conn is reference counted; the handle from
 * kumo_cloud_open stays valid until kumo_cloud_conn_release even if the
 * Connection is reopened meanwhile (the old driver connection is closed when
 * its last user releases it). Thread safety: every function may be called
 * from any thread.
 */
#ifndef KUMO_CLOUD_H
#define KUMO_CLOUD_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "apis/error/error.h"
#include "controllers/runtime/limiter/limiter.h"
#include "drivers/driver.h"

typedef struct kumo_cloud kumo_cloud;
typedef struct kumo_cloud_conn kumo_cloud_conn;

/*
 * Reads Credential ns/name with its secret data. *credential_out is a
 * Kumo__V1alpha1__Credential the caller frees (kumo_object_destroy).
 * Errors: NOT_FOUND, or whatever the source reports.
 */
typedef kumo_error (*kumo_cloud_credential_fn)(void *context, const char *ns, const char *name,
                                               ProtobufCMessage **credential_out, kumo_diag *diag);

/* The defaults of kumo_cloud_options' zero fields. */
#define KUMO_CLOUD_DEFAULT_CALL_TIMEOUT_MS 30000
#define KUMO_CLOUD_DEFAULT_LIMITER_WAIT_MS 1000

typedef struct kumo_cloud_options {
    const char *drivers_dir;    /* where kumo-driver-<name>.so live; required */
    kumo_limiter_set *limiters; /* shared limiters; NULL: the registry makes its own */
    int call_timeout_ms;        /* deadline of one driver call; 0: 30000 */
    int limiter_wait_ms;        /* longest wait for a token; 0: 1000 */
    kumo_cloud_credential_fn read_credential; /* NULL: Connections with credentialRef fail */
    void *credential_context;
    /*
     * Directory that relative paths in a Connection's `state` and `state_dir`
     * config are resolved against (kumod: <data dir>/drivers), so a manifest
     * can say `state: account.state` and the driver's files live with kumod's
     * data. NULL: such values go to the driver as written.
     */
    const char *state_root;
} kumo_cloud_options;

kumo_error kumo_cloud_create(const kumo_cloud_options *options, kumo_cloud **out, kumo_diag *diag);
/* Closes every connection and unloads the drivers. Every conn must be released. NULL: no-op. */
void kumo_cloud_destroy(kumo_cloud *cloud);

/*
 * The open connection of a Connection object (a Kumo__V1alpha1__Connection),
 * opening or reopening it as needed. On success *out holds a reference:
 * release it with kumo_cloud_conn_release. Errors (diag names the
 * Connection): NOT_FOUND (no such driver file: reason DriverNotFound, or the
 * Credential is missing), FORMAT (the driver file is not a valid driver),
 * INVALID_ARGUMENT (the driver refused the config), UNAUTHORIZED,
 * UNAVAILABLE (credentials cannot be read in this process), NOMEM. A failed
 * open is remembered for a few seconds for the same generation, so a storm
 * of reconciles does not dlopen/open again and again.
 */
kumo_error kumo_cloud_open(kumo_cloud *cloud, const ProtobufCMessage *connection,
                           kumo_cloud_conn **out, kumo_diag *diag);
void kumo_cloud_conn_release(kumo_cloud_conn *conn);
/* The next open of ns/name opens a fresh driver connection (credentials may have changed). */
void kumo_cloud_invalidate(kumo_cloud *cloud, const char *ns, const char *name);
/* Drops ns/name (the Connection was deleted). */
void kumo_cloud_forget(kumo_cloud *cloud, const char *ns, const char *name);

/* What a conn is; all borrowed until release. */
const struct kumo_driver *kumo_cloud_conn_driver(const kumo_cloud_conn *conn);
const struct kumo_driver_host *kumo_cloud_conn_host(const kumo_cloud_conn *conn);
struct kumo_driver_conn *kumo_cloud_conn_handle(const kumo_cloud_conn *conn);
const char *kumo_cloud_conn_key(const kumo_cloud_conn *conn);      /* "ns/name" */
const char *kumo_cloud_conn_provider(const kumo_cloud_conn *conn); /* "aws" */
const char *kumo_cloud_conn_region(const kumo_cloud_conn *conn);

/*
 * Before every driver call: takes a token and an in-flight slot and sets
 * *deadline_ns (the driver host's monotonic clock). Errors: THROTTLED when
 * the limiter is saturated; *retry_after_ms then says when to try again.
 * After OK, call kumo_cloud_call_end with the driver's result.
 */
kumo_error kumo_cloud_call_begin(kumo_cloud_conn *conn, int64_t *deadline_ns,
                                 double *retry_after_ms, kumo_diag *diag);
void kumo_cloud_call_end(kumo_cloud_conn *conn, kumo_driver_code result);
/* The same, naming the operation for /metrics ("create", "observe", ...; a static string). */
void kumo_cloud_call_end_op(kumo_cloud_conn *conn, const char *op, kumo_driver_code result);

/*
 * A driver `control` operation (not rate limited). *json_out is malloc'd
 * (free()). Errors: UNSUPPORTED (driver has no control), or the driver's.
 */
kumo_error kumo_cloud_control(kumo_cloud_conn *conn, const char *op, const char *json_in,
                              char **json_out, kumo_diag *diag);

/* Region coordinates learnt from the drivers' region catalogs (see regions_learn). */
void kumo_cloud_regions_learn(kumo_cloud *cloud, const char *provider,
                              const struct kumo_driver_region_list *regions);
/* 1 with the region's coordinates (provider NULL: any provider; *provider_out may be NULL). */
int kumo_cloud_region_find(kumo_cloud *cloud, const char *provider, const char *region,
                           double *latitude, double *longitude, char *provider_out,
                           size_t provider_size);

typedef struct kumo_cloud_stats {
    const char *key;            /* "ns/name" */
    const char *driver;         /* "sim" */
    uint64_t calls;             /* driver calls made */
    uint64_t failures;          /* calls that did not return OK (NOT_FOUND included) */
    uint64_t cloud_throttled;   /* THROTTLED answers from the cloud */
    uint64_t limiter_deferred;  /* calls not started because the limiter was saturated */
    kumo_limiter_stats limiter; /* tokens taken, timeouts, in flight */
    double qps;                 /* the limiter's configured rate */
} kumo_cloud_stats;

/* Calls fn for each known connection (under the registry's lock: fn must not call back). */
void kumo_cloud_stats_each(kumo_cloud *cloud,
                           void (*fn)(void *context, const kumo_cloud_stats *stats), void *context);

#endif
