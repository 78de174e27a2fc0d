/*
 * placement.h - choosing where a node group runs.
 *
 * Given a group's PlacementRequirements and the offers of every Connection
 * (its region, location and catalog of instance types with prices), rank the
 * connections: for each connection the best instance type that meets the
 * requirements, then the connections in order of preference (cost, latency
 * to the users, or both). The ranking is the failover order: when the first
 * candidate is out of capacity or quota, the group moves to the next.
 *
 * Latency between a connection's region and a user location comes, in this
 * order, from the round trips kumod's agents measure between connections
 * (when the location names the region of a Connection and the measurement
 * is fresh), from a table loaded with kumo_placement_latency_load (a square
 * CSV of round-trip milliseconds keyed by "provider-region"), or from an
 * estimate over the great-circle distance; each candidate's reason says which.
 *
 * Pure computation: no I/O except the table loader. Thread safety: a loaded
 * table is read-only and may be shared.
 */
#ifndef KUMO_PLACEMENT_H
#define KUMO_PLACEMENT_H

#include <stddef.h>

#include "apis/error/error.h"
#include "apis/kumo/v1alpha1/common.pb-c.h"

/* One instance type a connection offers. */
typedef struct kumo_placement_offer {
    const char *connection; /* Connection name */
    const char *provider;   /* "aws" */
    const char *region;     /* "us-east-1" */
    double latitude, longitude;
    int has_location; /* 0 when the connection has not reported where it is */
    const char *instance_type;
    int vcpu;
    int memory_mib;
    int gpu_count;
    const char *gpu_model;
    double price_per_hour;
} kumo_placement_offer;

typedef struct kumo_placement_latency kumo_placement_latency;

/*
 * Loads a latency matrix CSV (header row and first column are
 * "provider-region" keys, cells are RTT ms). Errors: IO, PARSE with the line.
 */
kumo_error kumo_placement_latency_load(const char *path, kumo_placement_latency **out,
                                       kumo_diag *diag);
void kumo_placement_latency_destroy(kumo_placement_latency *table);
/* Measured RTT between two "provider-region" keys, or -1 when unknown. */
double kumo_placement_latency_between(const kumo_placement_latency *table, const char *from,
                                      const char *to);

/* Estimated RTT in ms over the great-circle distance between two points. */
double kumo_placement_estimate_rtt_ms(double lat1, double lon1, double lat2, double lon2);

/* A user location resolved to coordinates (and a table key when it named a region). */
typedef struct kumo_placement_user {
    const char *name;
    double latitude, longitude;
    int has_location;
    const char *region_key; /* "provider-region" when known, for the table; may be NULL */
    double weight;          /* > 0 */
    const char *connection; /* the Connection in the location's region, if any; may be NULL */
} kumo_placement_user;

/*
 * A fresh measured round trip between two Connections of a namespace: 0 with *ms set, or -1
 * (none, or stale). kumo_monitor_latency has this shape.
 */
typedef int (*kumo_placement_measured_fn)(void *context, const char *ns, const char *from,
                                          const char *to, double *ms, double *age_seconds);

/* One ranked candidate: a connection and its best instance type. */
typedef struct kumo_placement_candidate {
    const kumo_placement_offer *offer; /* borrowed from the offers array */
    double latency_ms;                 /* weighted mean RTT to the users; 0 without users */
    double score;                      /* lower is better */
    const char *latency_source;        /* "measured", "table", "estimated" (mixed: the least) */
    char reason[320];                  /* why it was chosen, for status */
} kumo_placement_candidate;

typedef struct kumo_placement_input {
    const Kumo__V1alpha1__PlacementRequirements *requirements;
    const kumo_placement_offer *offers;
    size_t offer_count;
    const kumo_placement_user *users;
    size_t user_count;
    const kumo_placement_latency *latency; /* NULL: estimates only */
    const char *const *excluded;           /* connections to skip (failed over); NULL-terminated */
    kumo_placement_measured_fn measured;   /* NULL: no measurements */
    void *measured_context;
    const char *ns; /* the namespace of the Connections, for measured */
} kumo_placement_input;

/*
 * Ranks connections. Writes at most `max` candidates (best first) and returns
 * how many connections qualified. When none does, returns 0 with diag set:
 * NOT_FOUND explaining in the requirements' terms (e.g. "no instance type with
 * at least 64 vCPU, ... under the price limit among 40 offers"), or NOMEM.
 */
size_t kumo_placement_rank(const kumo_placement_input *input, kumo_placement_candidate *out,
                           size_t max, kumo_diag *diag);

#endif
