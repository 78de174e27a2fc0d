/*
 * protocol.h - the wire vocabulary of kumo's NATS API (docs/api.md): subject
 * building and parsing, header names, content types, and Status bodies.
 *
 * Shared by the apiserver and the client library so the two can never
 * disagree. No I/O here.
 *
 * Thread safety: every function is re-entrant.
 */
#ifndef KUMO_PROTOCOL_H
#define KUMO_PROTOCOL_H

#include <stddef.h>

#include "apis/codec/codec.h"
#include "apis/error/error.h"
#include "apis/kumo/v1alpha1/meta.pb-c.h"
#include "apis/object/object.h"

#define KUMO_PROTOCOL_DEFAULT_PREFIX "kumo.v1"

#define KUMO_PROTOCOL_HEADER_CONTENT_TYPE     "Content-Type"
#define KUMO_PROTOCOL_HEADER_ACCEPT           "Accept"
#define KUMO_PROTOCOL_HEADER_CODE             "Kumo-Code"
#define KUMO_PROTOCOL_HEADER_NAME             "Kumo-Name"
#define KUMO_PROTOCOL_HEADER_RESOURCE_VERSION "Kumo-Resource-Version"
#define KUMO_PROTOCOL_HEADER_UID              "Kumo-Uid"
#define KUMO_PROTOCOL_HEADER_PROPAGATION      "Kumo-Propagation-Policy"
#define KUMO_PROTOCOL_HEADER_LABEL_SELECTOR   "Kumo-Label-Selector"
#define KUMO_PROTOCOL_HEADER_FIELD_SELECTOR   "Kumo-Field-Selector"
#define KUMO_PROTOCOL_HEADER_LIMIT            "Kumo-Limit"
#define KUMO_PROTOCOL_HEADER_CONTINUE         "Kumo-Continue"
#define KUMO_PROTOCOL_HEADER_REVISION         "Kumo-Revision"
#define KUMO_PROTOCOL_HEADER_PREV_REVISION    "Kumo-Prev-Revision"
#define KUMO_PROTOCOL_HEADER_PREV_RESOURCE    "Kumo-Prev-Resource-Revision"
/* Events only: when the change was committed, in nanoseconds since the Unix epoch. */
#define KUMO_PROTOCOL_HEADER_COMMIT_TIME "Kumo-Commit-Time"
#define KUMO_PROTOCOL_HEADER_MSG_ID      "Nats-Msg-Id"

#define KUMO_PROTOCOL_CONTENT_JSON        "application/json"
#define KUMO_PROTOCOL_CONTENT_PROTOBUF    "application/protobuf"
#define KUMO_PROTOCOL_CONTENT_MERGE_PATCH "application/merge-patch+json"

#define KUMO_PROTOCOL_BOOKMARK_TOKEN "_bookmark"
#define KUMO_PROTOCOL_ALL_TOKEN      "_all"

/* X(ENUM, "subject token", takes a namespace token) */
#define KUMO_PROTOCOL_VERB_TABLE(X)                                                                \
    X(CREATE, "create", 1)                                                                         \
    X(GET, "get", 1)                                                                               \
    X(UPDATE, "update", 1)                                                                         \
    X(UPDATE_STATUS, "status", 1)                                                                  \
    X(PATCH, "patch", 1)                                                                           \
    X(APPLY, "apply", 1)                                                                           \
    X(DELETE, "delete", 1)                                                                         \
    X(LIST, "list", 1)                                                                             \
    X(LIST_ALL, "listall", 0)                                                                      \
    X(WATCH, "watch", 1)                                                                           \
    X(WATCH_ALL, "watchall", 0)

typedef enum kumo_protocol_verb {
#define KUMO_PROTOCOL_VERB_ENUM(name, token, namespaced) KUMO_PROTOCOL_VERB_##name,
    KUMO_PROTOCOL_VERB_TABLE(KUMO_PROTOCOL_VERB_ENUM)
#undef KUMO_PROTOCOL_VERB_ENUM
        KUMO_PROTOCOL_VERB_COUNT_
} kumo_protocol_verb;

/* "create", "status", ...; "" for an out-of-range verb. */
const char *kumo_protocol_verb_token(kumo_protocol_verb verb);
/* 1 when the verb's subject ends with a namespace token. */
int kumo_protocol_verb_namespaced(kumo_protocol_verb verb);

/* The subject token of a kind: its plural ("infras"). */
const char *kumo_protocol_resource(const kumo_object_kind *kind);

/*
 * Writes "<prefix>.api.<verb>.<resource>[.<namespace>]" into buf (snprintf
 * semantics; returns the length needed). `ns` is ignored for *_ALL verbs.
 */
size_t kumo_protocol_api_subject(const char *prefix, kumo_protocol_verb verb,
                                 const kumo_object_kind *kind, const char *ns, char *buf,
                                 size_t size);

/* A parsed API subject; `ns` points into the subject and is NUL-terminated copy. */
typedef struct kumo_protocol_api_request {
    kumo_protocol_verb verb;
    const kumo_object_kind *kind;
    char ns[64]; /* "" for *_ALL verbs */
} kumo_protocol_api_request;

/*
 * Parses an API subject. Errors (with a message naming the bad token):
 * INVALID_ARGUMENT for a malformed subject or unknown verb, UNKNOWN_KIND for
 * an unknown resource, INVALID for a namespace that is not a DNS-1123 label.
 */
kumo_error kumo_protocol_api_subject_parse(const char *prefix, const char *subject,
                                           kumo_protocol_api_request *out, kumo_diag *diag);

/* "<prefix>.events.<resource>.<namespace>.<name>" (snprintf semantics). */
size_t kumo_protocol_event_subject(const char *prefix, const kumo_object_kind *kind, const char *ns,
                                   const char *name, char *buf, size_t size);
/* "<prefix>.desired.<resource>.<namespace>.<name>". */
size_t kumo_protocol_desired_subject(const char *prefix, const kumo_object_kind *kind,
                                     const char *ns, const char *name, char *buf, size_t size);
/* "<prefix>.rejected.<resource>.<namespace>.<name>". */
size_t kumo_protocol_rejected_subject(const char *prefix, const char *resource, const char *ns,
                                      const char *name, char *buf, size_t size);

/* Parses "<prefix>.<section>.<resource>.<namespace>.<name>" (section: "desired" or "events"). */
typedef struct kumo_protocol_object_subject {
    const kumo_object_kind *kind; /* NULL when the resource token is unknown */
    char resource[64];
    char ns[64];
    char name[254];
} kumo_protocol_object_subject;

kumo_error kumo_protocol_object_subject_parse(const char *prefix, const char *section,
                                              const char *subject,
                                              kumo_protocol_object_subject *out, kumo_diag *diag);

/* The encoding a Content-Type (or Accept) value names; JSON when NULL or empty. */
kumo_error kumo_protocol_format_of(const char *content_type, kumo_codec_format *out,
                                   kumo_diag *diag);
/* The Content-Type of an encoding. */
const char *kumo_protocol_content_type(kumo_codec_format format);

/*
 * Builds a Status message for a failed call from its diag: code, reason,
 * message and one cause per diag cause. `kind`/`name` name the object when
 * known (may be NULL). The result is owned by the caller
 * (kumo_codec_message_free).
 */
Kumo__V1alpha1__Status *kumo_protocol_status_from_diag(const kumo_diag *diag, const char *kind,
                                                       const char *name);

/* Fills `diag` from a Status reply (the inverse of kumo_protocol_status_from_diag). */
kumo_error kumo_protocol_status_to_diag(const Kumo__V1alpha1__Status *status, kumo_diag *diag);

#endif
