/*
 * apiserver.h - serves the store's verbs on NATS, publishes every committed
 * change as an event, answers watch catch-up requests from the revision log,
 * and applies objects published to the desired-state JetStream stream.
 * The protocol is docs/api.md; how it is built is docs/kumod.md.
 *
 * Thread safety: start/drain/destroy from one thread; requests are served on
 * the apiserver's own threads.
 */
#ifndef KUMO_APISERVER_H
#define KUMO_APISERVER_H

#include <stddef.h>

#include "apis/error/error.h"
#include "store/store.h"

#define KUMO_APISERVER_DEFAULT_WORKERS 64
#define KUMO_APISERVER_QUEUE_GROUP     "kumod"
#define KUMO_APISERVER_DESIRED_STREAM  "KUMO_DESIRED"
#define KUMO_APISERVER_DESIRED_DURABLE "kumod"

typedef struct kumo_apiserver kumo_apiserver;

typedef struct kumo_apiserver_options {
    const char *nats_url; /* required; copied */
    const char *prefix;   /* NULL: KUMO_PROTOCOL_DEFAULT_PREFIX; copied */
    kumo_store *store;    /* borrowed; must outlive the apiserver */
    /* Request-serving threads; 0: KUMO_APISERVER_DEFAULT_WORKERS. They mostly
     * sleep in the store while it syncs, so there should be at least as many
     * as concurrent writers for those writes to share one commit. */
    int workers;
    int desired_stream; /* 1: create/consume the KUMO_DESIRED JetStream stream */
    int bookmark_ms;    /* bookmark interval; 0: 1000 */
} kumo_apiserver_options;

/*
 * Connects to NATS, installs the store's commit hook (one apiserver per
 * store), subscribes the API subjects (queue group "kumod"), starts
 * publishing events and, with desired_stream, creates the KUMO_DESIRED
 * stream and its durable consumer "kumod" and starts applying from it.
 * On success *out is owned by the caller (kumo_apiserver_destroy).
 * Errors: UNAVAILABLE when NATS cannot be reached (the message names the
 * URL) or JetStream is not enabled there (desired_stream), NOMEM,
 * INVALID_ARGUMENT (no URL or store).
 */
kumo_error kumo_apiserver_start(const kumo_apiserver_options *options, kumo_apiserver **out,
                                kumo_diag *diag);

/*
 * Stops taking new requests and desired-state messages, finishes the ones in
 * flight (their replies are sent), publishes every event of the commits made
 * so far, removes the commit hook and flushes the connection. Idempotent.
 */
void kumo_apiserver_drain(kumo_apiserver *server);

/* Drains if needed, disconnects and frees. NULL is a no-op. */
void kumo_apiserver_destroy(kumo_apiserver *server);

#endif
