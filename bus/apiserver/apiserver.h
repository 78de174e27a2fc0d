/*
 * apiserver.h - the store's verbs apart from any transport
 * (kumo_apiserver_call), and their NATS front door: serves the verbs on
 * NATS, publishes every committed change as an event, answers watch
 * catch-up requests from the revision log, and applies objects published to
 * the desired-state JetStream stream. The protocol is docs/api.md; how it is
 * built is docs/kumod.md. The HTTPS front door (bus/kubeapi) calls the same
 * kumo_apiserver_call, so both share every rule, limit and error.
 *
 * Thread safety: start/drain/destroy from one thread; requests are served on
 * the apiserver's own threads.
 */
#ifndef KUMO_APISERVER_H
#define KUMO_APISERVER_H

#include <stddef.h>

#include "apis/codec/codec.h"
#include "apis/error/error.h"
#include "bus/protocol/protocol.h"
#include "store/store.h"

#define KUMO_APISERVER_DEFAULT_WORKERS 64
#define KUMO_APISERVER_QUEUE_GROUP     "kumod"
#define KUMO_APISERVER_DESIRED_STREAM  "KUMO_DESIRED"
#define KUMO_APISERVER_DESIRED_DURABLE "kumod"

typedef struct kumo_apiserver kumo_apiserver;

/* ---- the verbs, whatever the transport ------------------------------------ */

/* Largest request body taken; larger ones get 413 before any decoding. */
#define KUMO_APISERVER_MAX_REQUEST_BYTES ((size_t)16 << 20)

/*
 * One API request, as a transport adapter parsed it. Every string is
 * borrowed for the duration of the call; NULL or "" means absent.
 * Parameters keep their text form so that every front door gets the same
 * error for the same bad value.
 */
typedef struct kumo_apiserver_request {
    kumo_protocol_verb verb;
    const kumo_object_kind *kind;
    const char *ns;               /* "" for *_ALL verbs */
    const char *name;             /* get, patch, delete (status: taken from the body) */
    const char *resource_version; /* delete precondition; watch start */
    const char *uid;              /* delete precondition */
    const char *propagation;      /* delete: Background or Orphan */
    const char *label_selector;   /* list, watch */
    const char *field_selector;   /* list, watch */
    const char *limit;            /* list, watch: page size */
    const char *continue_token;   /* list */
    const char *body;
    size_t body_len;
    kumo_codec_format body_format;  /* JSON for a merge patch */
    kumo_codec_format reply_format; /* of the reply body */
    unsigned patch_flags;           /* patch: KUMO_STORE_PATCH_STATUS */
    int strategic;             /* patch: the body is a strategic merge patch (not on the status) */
    const char *field_manager; /* apply: who applies (NULL or "": "kumoctl") */
    int force;                 /* apply: take over fields other managers own */
    int managed_fields;        /* 1: JSON objects show metadata.managedFields (HTTPS) */
    /* 1: hand back objects (response.object, response.list) instead of
     * encoding them; failures are still encoded Status bodies. */
    int objects;
    size_t max_reply_bytes; /* 0: no limit; else lists shrink their page to fit */
} kumo_apiserver_request;

/* The outcome of one request. init before the first call; fini frees. */
typedef struct kumo_apiserver_response {
    int code;                    /* HTTP-like: 200, 201, 404, ... */
    kumo_codec_format format;    /* of body */
    kumo_codec_buffer body;      /* the reply; a Status when code >= 400 */
    kumo_diag diag;              /* why, when code >= 400 */
    ProtobufCMessage *object;    /* with request.objects: the object (stripped), owned */
    kumo_store_list_result list; /* with request.objects: a list page (stripped), owned */
    int has_list;
} kumo_apiserver_response;

void kumo_apiserver_response_init(kumo_apiserver_response *response);
/* Frees what the last call left and makes the response ready for the next. */
void kumo_apiserver_response_reset(kumo_apiserver_response *response);
void kumo_apiserver_response_fini(kumo_apiserver_response *response);

/*
 * Serves one request against the store: checks, decodes, calls the store,
 * strips write-only fields and encodes the reply (or a Status). Always
 * fills response->code. Thread safety: any number of threads, each with its
 * own response.
 */
void kumo_apiserver_call(kumo_store *store, const kumo_apiserver_request *request,
                         kumo_apiserver_response *response);

/*
 * The merge key of a list field under a strategic merge patch: "name" for a
 * list of messages that have one ("uid" for ownerReferences), NULL for a list
 * that is replaced whole. The HTTPS front door publishes the same keys in its
 * OpenAPI document, so that kubectl computes its patches with them.
 */
const char *kumo_apiserver_list_merge_key(const ProtobufCFieldDescriptor *field);
/* 1 when a message field is a protobuf map (map<K, V>, a JSON object). */
int kumo_apiserver_field_is_map(const ProtobufCFieldDescriptor *field);

/* The annotation that keeps an object's managed fields (shown as metadata.managedFields). */
#define KUMO_APISERVER_MANAGED_ANNOTATION "kumo.dev/managed-fields"
/* The manager of an apply that names none: kumo's own NATS API (kumoctl). */
#define KUMO_APISERVER_DEFAULT_MANAGER "kumoctl"

/* Removes what a write-only kind must never return (Credential spec.data) and the
 * managed-fields annotation of every kind. */
void kumo_apiserver_strip(const kumo_object_kind *kind, ProtobufCMessage *object);

/*
 * Encodes a Status for diag (JSON or protobuf) into out (reset first) and
 * returns its HTTP-like code. kind and name (may be NULL) fill its details.
 */
int kumo_apiserver_status_encode(const kumo_diag *diag, const kumo_object_kind *kind,
                                 const char *name, kumo_codec_format format,
                                 kumo_codec_buffer *out);

/* ---- the NATS front door --------------------------------------------------- */

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
