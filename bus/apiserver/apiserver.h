/*
 * apiserver.h - serves the store's verbs on NATS, publishes every committed
 * change as an event, answers watch catch-up requests from the revision log,
 * and applies objects published to the desired-state JetStream stream.
 * The protocol is docs/api.md.
 *
 * Thread safety: start/drain/destroy from one thread; requests are served on
 * the apiserver's own threads.
 */
#ifndef KUMO_APISERVER_H
#define KUMO_APISERVER_H

#include <stddef.h>

#include "apis/error/error.h"
#include "store/store.h"

typedef struct kumo_apiserver kumo_apiserver;

typedef struct kumo_apiserver_options {
    const char *nats_url; /* required */
    const char *prefix;   /* NULL: KUMO_PROTOCOL_DEFAULT_PREFIX */
    kumo_store *store;    /* borrowed; must outlive the apiserver */
    int workers;          /* request-serving threads; 0: 8 */
    int desired_stream;   /* 1: create/consume the KUMO_DESIRED JetStream stream */
    int bookmark_ms;      /* bookmark interval; 0: 1000 */
} kumo_apiserver_options;

/*
 * Connects to NATS, subscribes the API subjects and starts publishing events.
 * Errors: UNAVAILABLE when NATS cannot be reached (the message names the URL).
 */
kumo_error kumo_apiserver_start(const kumo_apiserver_options *options, kumo_apiserver **out,
                                kumo_diag *diag);

/* Stops taking new requests and waits for in-flight ones to finish. */
void kumo_apiserver_drain(kumo_apiserver *server);

/* Drains if needed, disconnects and frees. NULL is a no-op. */
void kumo_apiserver_destroy(kumo_apiserver *server);

#endif
