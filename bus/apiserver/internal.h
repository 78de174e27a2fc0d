/*
 * internal.h - what the apiserver's files share.
 *
 *   server.c   start/drain/destroy, the NATS connection, the request queue
 *              and the worker threads that serve it
 *   call.c     the verbs apart from their transport: one request -> store
 *              call -> response (kumo_apiserver_call)
 *   reply.c    encoding responses: objects, Status bodies, Credential
 *              stripping
 *   watch.c    watch catch-up requests from the store's revision log
 *   verbs.c    the NATS adapter: subject and headers -> request; response ->
 *              reply message with the Kumo-Code header
 *   events.c   the commit hook, the event queue and the publisher thread
 *              (events, Prev headers, bookmarks)
 *   desired.c  the KUMO_DESIRED JetStream stream and its durable consumer
 *   metrics.c  request and event counters for /metrics
 *
 * Threads: NATS delivers API requests on its subscription thread, which only
 * queues them (server.c); `workers` threads take them from the queue and
 * block in the store, so concurrent writes reach the store's group commit
 * together, and send the replies on one of APISERVER_REPLY_CONNECTIONS
 * connections. The store's writer thread calls the commit hook, which only
 * copies the changes into the event queue; one publisher thread publishes
 * them in revision order on the events connection. The desired-state
 * consumer has its own fetch thread and DESIRED_LANES applier threads.
 *
 * Connections: api (requests in, desired state, overload replies), events,
 * and the reply connections. Each has its own callbacks' closure
 * (apiserver_conn) so destroy can wait for nats.c's last callback.
 */
#ifndef KUMO_APISERVER_INTERNAL_H
#define KUMO_APISERVER_INTERNAL_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdint.h>

#include "apis/codec/codec.h"
#include "apis/error/error.h"
#include "apis/object/object.h"
#include "bus/apiserver/apiserver.h"
#include "bus/protocol/protocol.h"
#include "store/store.h"

/* Connections the workers' replies are spread over. */
#define APISERVER_REPLY_CONNECTIONS 4
#define APISERVER_MAX_REQUEST_BYTES KUMO_APISERVER_MAX_REQUEST_BYTES
/* Most queued requests; more get 503 at once. */
#define APISERVER_MAX_QUEUE 65536
/* Default and largest page of list and watch replies. */
#define APISERVER_DEFAULT_PAGE 500
#define APISERVER_MAX_PAGE     10000

/* What one worker thread keeps between requests (no allocation per request). */
typedef struct apiserver_worker {
    struct kumo_apiserver *server;
    natsConnection *reply_conn; /* one of the server's reply connections */
    pthread_t thread;
    kumo_apiserver_response response;
} apiserver_worker;

/* An event copied out of a commit, waiting for the publisher. */
typedef struct apiserver_event {
    struct apiserver_event *next;
    kumo_store_event_type type;
    int64_t revision;
    int64_t commit_ns; /* CLOCK_REALTIME when the commit hook ran */
    const kumo_object_kind *kind;
    char *ns;        /* points into the same allocation */
    char *name;      /* likewise */
    uint8_t *packed; /* the object, protobuf; NULL when dropped under overload */
    size_t packed_len;
} apiserver_event;

/* Last revision seen for one resource + namespace (events.c). */
typedef struct apiserver_ns_entry {
    struct apiserver_ns_entry *next;
    const kumo_object_kind *kind;
    int64_t last_revision;
    int changed; /* since the last bookmark */
    char ns[64];
} apiserver_ns_entry;

typedef struct apiserver_events {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    apiserver_event *head, *tail;
    size_t queued_bytes;
    uint64_t dropped;
    int stopping;
    int started;
    pthread_t thread;
    /* publisher-private */
    apiserver_ns_entry **buckets;
    size_t bucket_count;
    int64_t *resource_last; /* per kind index */
    int *resource_changed;  /* per kind index */
    kumo_codec_buffer out;
} apiserver_events;

/* One applier thread of the desired-state consumer and its share of a batch. */
typedef struct apiserver_lane {
    struct kumo_apiserver *server;
    pthread_t thread;
    natsMsg **msgs; /* borrowed from the fetched batch */
    size_t count, cap;
    kumo_diag diag;
    kumo_codec_buffer out;
} apiserver_lane;

typedef struct apiserver_desired {
    jsCtx *js;
    natsSubscription *sub;
    pthread_t fetcher;
    int fetcher_started;
    /* lanes, under lock: the fetcher hands out a batch (generation++) and waits
     * until `busy` lanes are back to 0 */
    pthread_mutex_t lock;
    pthread_cond_t start_cond, done_cond;
    apiserver_lane *lanes;
    int lane_count;
    int lanes_started;
    uint64_t generation;
    int busy;
    int stopping;
} apiserver_desired;

/* One NATS connection of the apiserver and what its callbacks need. */
typedef struct apiserver_conn {
    struct kumo_apiserver *server;
    const char *role; /* "api" or "events", for logs */
    natsConnection *nc;
    volatile int closing; /* set before closing: the callbacks stay quiet */
    int closed;           /* nats.c's closed callback ran (under server->lock) */
} apiserver_conn;

struct kumo_apiserver {
    char prefix[128];
    char url[512];
    kumo_store *store;
    int bookmark_ms;
    size_t max_request_bytes;

    /* requests and desired state */
    apiserver_conn api;
    /* replies, sent at once (SendAsap); several, so that the workers do not all queue
     * for one connection's lock while each reply is written */
    apiserver_conn reply_links[APISERVER_REPLY_CONNECTIONS];
    /* events only, from the publisher thread, flushed once per batch */
    apiserver_conn events_link;
    natsConnection *conn;        /* == api.nc */
    natsConnection *events_conn; /* == events_link.nc */
    natsSubscription *api_sub;

    /* the request queue, under lock */
    pthread_mutex_t lock;
    pthread_cond_t work_cond; /* workers wait for requests */
    pthread_cond_t idle_cond; /* drain waits for the queue to empty */
    natsMsg **queue;
    size_t queue_head, queue_count, queue_cap;
    int in_flight;
    int stopping;
    int drained;

    apiserver_worker *workers;
    int worker_count;
    int workers_started;

    apiserver_events events;
    apiserver_desired desired;
    int hook_set;
};

/* ---- verbs.c: the NATS adapter ---- */

/* Serves one API request and replies to it. Takes ownership of msg. */
void apiserver_serve(apiserver_worker *worker, natsMsg *msg);

/* Publishes `data` on `subject` with headers (NULL-terminated key, value pairs). */
natsStatus apiserver_publish(natsConnection *conn, const char *subject, const void *data,
                             size_t len, const char *const *headers);

/* The largest reply body this connection may carry (max_payload minus room for headers). */
size_t apiserver_max_reply_bytes(const kumo_apiserver *server);

/* ---- call.c ---- */

/*
 * Decodes a request or desired-state body into an object of `kind` (strict,
 * bounded by max_bytes) and reconciles it with the request: kind and
 * apiVersion must agree (400, 422), the namespace is taken from `ns` when
 * absent and must equal it when present (400). *out is owned by the caller.
 */
kumo_error apiserver_decode_object(size_t max_bytes, const char *data, size_t len,
                                   kumo_codec_format format, const kumo_object_kind *kind,
                                   const char *ns, ProtobufCMessage **out, kumo_diag *diag);

/* ---- reply.c ---- */

/* One request being answered: what was asked and where the answer goes. */
typedef struct apiserver_reply {
    const kumo_apiserver_request *req;
    kumo_apiserver_response *resp;
    const kumo_object_kind *kind; /* for Status details; may be NULL */
    const char *name;             /* likewise */
} apiserver_reply;

#define apiserver_strip kumo_apiserver_strip

/* Answers with an object (stripped first) and code 200/201. Takes ownership of object. */
void apiserver_reply_object(apiserver_reply *r, int code, ProtobufCMessage *object);
/* Answers with what is already encoded in resp->body, unless it is over max_reply_bytes. */
void apiserver_reply_body(apiserver_reply *r, int code);
/* Answers with the Status of a failure recorded in diag (which may be resp->diag). */
void apiserver_reply_status(apiserver_reply *r, const kumo_diag *diag);
/* Answers with a Status built from a code and a message. */
void apiserver_reply_error(apiserver_reply *r, kumo_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Encodes a message in `format` into out (reset first). */
kumo_error apiserver_encode(const ProtobufCMessage *message, kumo_codec_format format,
                            kumo_codec_buffer *out, kumo_diag *diag);

#define apiserver_encode_status kumo_apiserver_status_encode

/* ---- strategic.c ---- */

/* Value-tree edits shared by strategic.c and managed.c. */
kumo_value *apiserver_value_new(kumo_value_type type); /* NULL when out of memory */
/* *slot takes value (owned; NULL means out of memory: NOMEM). */
kumo_error apiserver_value_set(kumo_value **slot, kumo_value *value);
/* The member slot for key, added (NULL value) when absent; NULL when out of memory. */
kumo_value **apiserver_value_slot(kumo_value *object, const char *key);
long apiserver_value_index(const kumo_value *object, const char *key); /* -1: none */
void apiserver_value_remove(kumo_value *object, size_t i);
/* Appends item (owned; NULL means out of memory) to an array: NOMEM or OK. */
kumo_error apiserver_value_append(kumo_value *list, kumo_value *item);
const char *apiserver_value_text(const kumo_value *v); /* a string's text, else NULL */

/*
 * Applies a strategic merge patch to an object's value tree in place (lists
 * with a merge key are merged item by item). Errors: INVALID_ARGUMENT (a
 * directive kumo does not take, an item without its merge key), NOMEM.
 */
kumo_error apiserver_strategic_apply(const kumo_object_kind *kind, kumo_value **object,
                                     const kumo_value *patch, kumo_diag *diag);
/* The patch verb with a strategic merge patch body (request.strategic). */
void apiserver_strategic_patch(apiserver_reply *r, kumo_store *store);

/* ---- managed.c ---- */

/*
 * Records an apply by `manager` in the manifest's managed-fields annotation,
 * from the stored object's (NULL when it is created). Errors: CONFLICT with
 * one cause per field another manager owns and the manifest changes (unless
 * force: then those fields change hands), NOMEM.
 */
kumo_error apiserver_managed_apply(ProtobufCMessage *manifest, const ProtobufCMessage *stored,
                                   const char *manager, int force, kumo_diag *diag);
/*
 * An update replaces the annotations, and clients never see the
 * managed-fields one: copies the stored one onto the object unless it has
 * its own. Errors: NOMEM.
 */
kumo_error apiserver_managed_keep(kumo_store *store, ProtobufCMessage *object, kumo_diag *diag);

/* ---- watch.c ---- */

/* The watch verb: an EventList of the changes after request->resource_version. */
void apiserver_watch(apiserver_reply *r, kumo_store *store);

/* Sets Event.<kind> (the oneof member for the object's kind) to object (borrowed). */
int apiserver_event_set_object(ProtobufCMessage *event, const kumo_object_kind *kind,
                               ProtobufCMessage *object);

/* ---- events.c ---- */

kumo_error apiserver_events_start(kumo_apiserver *server, kumo_diag *diag);
/* Publishes what is queued, then stops the publisher thread. */
void apiserver_events_stop(kumo_apiserver *server);
/* The store's commit hook (ctx is the server). */
void apiserver_commit_hook(void *ctx, const kumo_store_event *events, size_t count);

/* ---- desired.c ---- */

kumo_error apiserver_desired_start(kumo_apiserver *server, kumo_diag *diag);
/* Finishes the batch being applied, then stops (the stream and consumer stay). */
void apiserver_desired_stop(kumo_apiserver *server);

/* ---- metrics.c ---- */

/* One request served (verb KUMO_PROTOCOL_VERB_COUNT_ when unknown; kind may be NULL). */
void apiserver_metrics_request(kumo_protocol_verb verb, const kumo_object_kind *kind, int code,
                               double seconds);
/* One event published. */
void apiserver_metrics_event(const kumo_object_kind *kind);

/* ---- small helpers ---- */

/* A header's value or NULL (also when the message has no headers; verbs.c). */
const char *apiserver_header(natsMsg *msg, const char *key);
/* Parses a non-negative decimal integer; 0 on success (call.c). */
int apiserver_parse_u64(const char *text, uint64_t *out);
/* A page size from its text: default and cap applied; -1 (and a Status) when bad (call.c). */
int apiserver_page_size(apiserver_reply *r, size_t *out);
/* Maps a natsStatus into diag (keeps the NATS code) and returns the kumo code. */
kumo_error apiserver_nats_error(kumo_diag *diag, natsStatus status, const char *what);

#endif
