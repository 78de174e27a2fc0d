/*
 * lease.h - leader election over a NATS JetStream key-value bucket.
 *
 * Several kumods may run; for each controller only the holder of its lease
 * reconciles. The lease is a key in the bucket KUMO_LEASES_<duration ms> whose entries
 * expire after the lease duration: the holder renews it (a compare-and-set
 * on the key's revision) every third of the duration; when the holder dies,
 * the key expires and another candidate creates it. A holder that cannot
 * renew steps down on its own before the key can expire, so two holders
 * never both believe they lead (given clocks that advance at the same rate).
 *
 * Thread safety: the lease runs its own thread; on_change is called from it.
 */
#ifndef KUMO_LEASE_H
#define KUMO_LEASE_H

#include "apis/error/error.h"

typedef struct kumo_lease kumo_lease;

#define KUMO_LEASE_DEFAULT_DURATION_MS 15000 /* duration_ms 0 */
#define KUMO_LEASE_MIN_DURATION_MS     300   /* JetStream refuses entry ages under 100 ms */

typedef struct kumo_lease_options {
    const char *url;  /* NATS server with JetStream */
    const char *name; /* lease name, e.g. "infra-controller" (letters, digits, - and _) */
    /* This candidate's identity; NULL: "<hostname>-<pid>". A stable identity (kumod uses
     * "<hostname>:<data dir>") lets a restarted process reclaim its lease at once. */
    const char *holder;
    int duration_ms; /* how long a lease lives without renewal; 0: 15000 */
    /* Called with 1 when this candidate starts leading, 0 when it stops. */
    void (*on_change)(void *context, int leading);
    void *context;
} kumo_lease_options;

/* Starts campaigning. Errors: UNAVAILABLE (no NATS or no JetStream at the URL). */
kumo_error kumo_lease_start(const kumo_lease_options *options, kumo_lease **out, kumo_diag *diag);

/* 1 while this candidate holds the lease. */
int kumo_lease_is_leader(const kumo_lease *lease);

/* Stops campaigning; a holder releases the lease so another takes over at once. */
void kumo_lease_stop(kumo_lease *lease);

/* Stops without releasing, as if the process died (for tests of takeover). */
void kumo_lease_abandon(kumo_lease *lease);

#endif
