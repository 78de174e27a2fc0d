/*
 * internal.h - what the kubeapi files share.
 *
 *   server.c     the listener (evhttp, TLS), authentication, routing, the
 *                worker threads and how their replies get back to the loop
 *   certs.c      the CA, serving certificate, token and kubeconfig
 *   discovery.c  /version, /api, /apis (legacy and aggregated), resource lists
 *   openapi.c    /openapi/v3 documents from the protobuf descriptors
 *   resources.c  /apis/kumo.dev/v1alpha1/...: HTTP -> kumo_apiserver_request,
 *                the response -> HTTP, Table replies, core/v1 namespaces
 *   watch.c      ?watch=true: chunked watch events from the store's log
 *   json.c       a small JSON writer for the documents built here
 *
 * Threads: the loop thread owns every evhttp object and the watcher list.
 * Workers only see a job's copies of the request and fill its reply; the
 * loop sends it (also when the client went away: that frees the request).
 */
#ifndef KUMO_KUBEAPI_INTERNAL_H
#define KUMO_KUBEAPI_INTERNAL_H

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>

#include "apis/object/object.h"
#include "bus/apiserver/apiserver.h"
#include "bus/kubeapi/kubeapi.h"

#define KUBEAPI_MAX_MOUNTS 8
/* The request line and headers together: a query parameter always fits this size. */
#define KUBEAPI_MAX_HEADERS  16384
#define KUBEAPI_TABLE_ACCEPT "as=Table"

/* ---- json.c ---- */
void kubeapi_json_raw(kumo_codec_buffer *b, const char *text);
void kubeapi_json_string(kumo_codec_buffer *b, const char *text);
void kubeapi_json_format(kumo_codec_buffer *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* What a resource path names. */
typedef struct kubeapi_target {
    const kumo_object_kind *kind;
    char ns[64]; /* "" when across namespaces */
    char name[254];
    int status; /* the /status subresource */
    int core;   /* core/v1 events: kumo's Events in the core/v1 shape */
} kubeapi_target;

/* One request handed to a worker: copies of what it needs, and its reply. */
typedef struct kubeapi_job {
    struct kubeapi_job *queue_next; /* work or done queue */
    struct evhttp_request *req;     /* loop only */
    enum evhttp_cmd_type method;
    kubeapi_target target;
    enum { KUBEAPI_CORE_NONE, KUBEAPI_CORE_NAMESPACES, KUBEAPI_CORE_EVENTS } core; /* /api/v1 */
    int mount; /* index + 1 of a mounted path */
    char *path, *query, *content_type, *accept;
    char *body;
    size_t body_len;
    /* the reply */
    int code;
    const char *reply_type;
    kumo_codec_buffer out;
} kubeapi_job;

typedef struct kubeapi_mount {
    char path[128];
    int auth;
    kumo_kubeapi_handler handler;
    void *ctx;
} kubeapi_mount;

struct kubeapi_watcher;

struct kumo_kubeapi {
    kumo_store *store;
    int port;
    int bookmark_ms;
    char token[80];
    struct event_base *base;
    struct evhttp *http;
    SSL_CTX *ssl;
    pthread_t loop_thread;
    int loop_started;
    struct event *done_event, *stop_event, *feed_event, *bookmark_event;

    /* the work and done queues, under lock */
    pthread_mutex_t lock;
    pthread_cond_t work_cond;
    kubeapi_job *work_head, *work_tail, *done_head, *done_tail;
    int stopping;
    pthread_t *workers;
    int worker_count, workers_started;

    kubeapi_mount mounts[KUBEAPI_MAX_MOUNTS];
    int mount_count;

    /* cached documents, built at start */
    kumo_codec_buffer version_doc, api_doc, apis_legacy, apis_aggregated, group_doc,
        group_resources, core_resources, openapi_root, openapi_group;
    char openapi_hash[40];

    /* watches (watch.c) */
    struct kubeapi_watcher *watchers; /* loop only */
    int watcher_count;                /* loop only */
    int64_t fed_revision;             /* loop only: events up to here were fanned out */
    pthread_t feeder;
    int feeder_started;
    volatile int feeder_stop;
    struct kubeapi_batch *batch_head, *batch_tail; /* under lock */
};

/* ---- server.c ---- */

/* Sends a complete reply (loop thread). */
void kubeapi_send(struct evhttp_request *req, int code, const char *content_type, const void *body,
                  size_t len);
/* Sends the Status of diag (loop thread). */
void kubeapi_send_status(struct evhttp_request *req, const kumo_diag *diag,
                         const kumo_object_kind *kind, const char *name);
/* Sends a Status from a code and message (loop thread). */
void kubeapi_send_error(struct evhttp_request *req, kumo_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value of query parameter `key`, or NULL; decoded into buf. */
const char *kubeapi_query(const char *query, const char *key, char *buf, size_t size);
/* 1 when query parameter `key` is "true" or "1". */
int kubeapi_query_true(const char *query, const char *key);
/* 1 when the Accept header asks for a meta.k8s.io Table. */
int kubeapi_wants_table(const char *accept);

/* ---- certs.c ---- */

/*
 * Loads <data_dir>/kubeapi/{ca.crt,tls.crt,tls.key,token}, creating them on
 * first start, writes <data_dir>/kubeconfig (0600) for https://host:port and
 * builds the TLS context. token receives the bearer token.
 */
kumo_error kubeapi_certs_load(const char *data_dir, const char *host, int port, SSL_CTX **ssl_out,
                              char *token, size_t token_size, kumo_diag *diag);

/* ---- discovery.c ---- */
kumo_error kubeapi_discovery_build(kumo_kubeapi *s, kumo_diag *diag);
/* Serves a discovery path; 0 when the path is not one. Loop thread. */
int kubeapi_discovery_serve(kumo_kubeapi *s, struct evhttp_request *req, const char *path,
                            const char *accept);

/* ---- openapi.c ---- */
kumo_error kubeapi_openapi_build(kumo_kubeapi *s, kumo_diag *diag);

/* ---- resources.c ---- */

/*
 * Parses "/apis/kumo.dev/v1alpha1/[namespaces/NS/]RES[/NAME[/status]]".
 * Returns 1 when it is such a path (target filled), 0 when the path is not
 * under the group (*diag untouched), -1 with a Status in diag (unknown
 * resource, bad namespace).
 */
int kubeapi_target_parse(const char *path, kubeapi_target *out, kumo_diag *diag);
/* Runs a job on a worker thread: fills job->code, reply_type and out. */
void kubeapi_resource_serve(kumo_kubeapi *s, kubeapi_job *job, kumo_apiserver_response *resp);
/* Appends a one-or-more-row Table for objects to out. */
kumo_error kubeapi_table_encode(const kumo_object_kind *kind, ProtobufCMessage *const *objects,
                                size_t count, int64_t revision, const char *continue_token,
                                int with_definitions, kumo_codec_buffer *out, kumo_diag *diag);
/* Gives a recorded Event the core/v1 shape (apiVersion v1, no 64-bit generation). */
void kubeapi_core_event_shape(ProtobufCMessage *event);
/* Appends the object's JSON (stripped) to out. */
kumo_error kubeapi_object_encode(const ProtobufCMessage *object, kumo_codec_buffer *out,
                                 kumo_diag *diag);

/* ---- watch.c ---- */

/* Starts a watch for GET ...?watch=true (loop thread). */
void kubeapi_watch_start(kumo_kubeapi *s, struct evhttp_request *req, const kubeapi_target *t,
                         const char *query, const char *accept);
kumo_error kubeapi_watch_init(kumo_kubeapi *s, kumo_diag *diag);
/* Ends every watch and stops the feeder (loop stopped). */
void kubeapi_watch_fini(kumo_kubeapi *s);
/* A connection closed: forget its watches (loop thread). */
void kubeapi_watch_connection_closed(kumo_kubeapi *s, struct evhttp_connection *evcon);

#endif
