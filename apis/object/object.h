/*
 * object.h - what every kumo kind has in common: the kind registry, generic
 * access to metadata/spec/status, decoding of manifests whose kind is read
 * from the document itself, defaulting, validation and condition helpers.
 *
 * Objects are plain protobuf-c messages of the kinds in apis/kumo/v1alpha1
 * (Kumo__V1alpha1__Infra, ...). Every kind message has the same first five
 * fields: api_version, kind, metadata (ObjectMeta), spec, status; this module
 * reaches them through the descriptors, so nothing here is written per kind
 * except the registry's rows (kinds.c) and the validation and defaulting
 * rules they name (validate*.c, default.c; the rule vocabulary is in
 * validate.h).
 *
 * Memory: messages follow codec.h's rules (free with kumo_object_destroy).
 * Thread safety: the registry is immutable; every function is re-entrant.
 */
#ifndef KUMO_OBJECT_H
#define KUMO_OBJECT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/codec/codec.h"
#include "apis/error/error.h"
#include "apis/kumo/v1alpha1/meta.pb-c.h"

#define KUMO_API_GROUP   "kumo.dev"
#define KUMO_API_VERSION "kumo.dev/v1alpha1"

/* ---- printer columns (computed by apis/columns) ----------------------------- */

typedef enum kumo_columns_type {
    KUMO_COLUMNS_TEXT,             /* path; path2 is the text when absent (NULL: "<none>") */
    KUMO_COLUMNS_NUMBER,           /* path; 0 when absent */
    KUMO_COLUMNS_RATIO,            /* "path/path2"; alternatives with '|', sums with "a[].b" */
    KUMO_COLUMNS_MONEY,            /* a price per hour, 3 decimals */
    KUMO_COLUMNS_PERCENT,          /* "N%" */
    KUMO_COLUMNS_COUNT,            /* items of the array at path */
    KUMO_COLUMNS_BOOL,             /* true/false */
    KUMO_COLUMNS_CONDITION,        /* status of condition `path`; Unknown when absent */
    KUMO_COLUMNS_CONDITION_REASON, /* reason of condition `path` */
    KUMO_COLUMNS_AGE,              /* since metadata.creationTimestamp */
    KUMO_COLUMNS_SINCE,            /* since the RFC 3339 time at path */
    KUMO_COLUMNS_REFERENCE, /* "kind/name" of the object reference at path, kind lower case */
} kumo_columns_type;

typedef struct kumo_column {
    const char *header; /* "READY"; NULL ends a kind's list */
    kumo_columns_type type;
    const char *path;
    const char *path2;
    int wide; /* shown only with -o wide (Table priority 1) */
} kumo_column;

#define KUMO_COLUMNS_MAX 10

/* A kind's columns, in display order (wide ones after AGE, as kubectl puts them). */
typedef struct kumo_columns {
    kumo_column columns[KUMO_COLUMNS_MAX];
} kumo_columns;

/* ---- the kind registry ----------------------------------------------------- */

struct rule_ctx;    /* validate.h */
struct default_ctx; /* internal.h */

/*
 * One row per kind holds everything that is per kind (kinds.c); the rest of
 * kumo reads the row. Adding a kind = its .proto (and its entry in
 * event.proto's `object` oneof), one row, its rules and an example
 * (docs/extending.md). The object module's test fails when a row lacks any
 * of them.
 */
typedef struct kumo_object_kind {
    const char *kind;               /* "Infra" */
    const char *singular;           /* "infra" */
    const char *plural;             /* "infras" */
    const char *const *short_names; /* NULL-terminated: {"inf", NULL} */
    const ProtobufCMessageDescriptor *descriptor;
    const ProtobufCMessageDescriptor *list_descriptor;
    int write_only_spec; /* Credential: spec is never returned by get/list/watch */
    /* The kind's validation rules (validate.h): given the spec, at path "spec";
     * a kind without spec (Event) gets the whole object at the root. */
    void (*validate)(struct rule_ctx *v, const ProtobufCMessage *spec);
    /* The kind's spec defaults (internal.h); default_none when it has none. */
    void (*defaults)(ProtobufCMessage *spec, struct default_ctx *d);
    /* Printer columns of kumoctl get and the Kubernetes API's Tables, after NAME. */
    const kumo_columns *columns;
    /* The example manifest, relative to the source tree ("examples/infra.yaml");
     * NULL only for a kind that users never write (controller_written). */
    const char *example;
    int controller_written; /* Event: written by controllers, not by users */
    /* The field of event.proto's Event `object` oneof that carries this kind. */
    const char *event_field;
} kumo_object_kind;

/* Number of kinds and the i-th one (stable order, as in DESIGN.md). */
size_t kumo_object_kind_count(void);
const kumo_object_kind *kumo_object_kind_at(size_t index);
/* By kind, singular, plural or short name, case-insensitive; NULL when unknown. */
const kumo_object_kind *kumo_object_kind_lookup(const char *name);
/* By the kind message's or list message's descriptor; NULL when not a kind. */
const kumo_object_kind *kumo_object_kind_of(const ProtobufCMessageDescriptor *descriptor);
/* The field of Event's `object` oneof named by the kind's row, or NULL when
 * event.proto has no such field. Borrowed from the generated descriptor. */
const ProtobufCFieldDescriptor *kumo_object_kind_event_field(const kumo_object_kind *kind);

/* ---- generic access ----------------------------------------------------- */

/* The object's metadata, or NULL when unset. Borrowed from the object. */
Kumo__V1alpha1__ObjectMeta *kumo_object_meta(const ProtobufCMessage *object);
/* The metadata, allocated (empty) when unset. NULL only when out of memory. */
Kumo__V1alpha1__ObjectMeta *kumo_object_meta_ensure(ProtobufCMessage *object);
/* Sub-message field `spec` or `status` (NULL when unset). Borrowed. */
ProtobufCMessage *kumo_object_spec(const ProtobufCMessage *object);
ProtobufCMessage *kumo_object_status(const ProtobufCMessage *object);
/* Replaces the status sub-message; takes ownership of *status (set to NULL). */
void kumo_object_status_replace(ProtobufCMessage *object, ProtobufCMessage **status);
/* Replaces the spec sub-message; takes ownership of *spec (set to NULL). */
void kumo_object_spec_replace(ProtobufCMessage *object, ProtobufCMessage **spec);
/* Name and namespace; "" when unset. Borrowed from the object. */
const char *kumo_object_name(const ProtobufCMessage *object);
const char *kumo_object_namespace(const ProtobufCMessage *object);
/* A new empty object of `kind` with apiVersion and kind set. */
ProtobufCMessage *kumo_object_new(const kumo_object_kind *kind);
/* Frees an object (or any message from the codec). NULL is a no-op. */
void kumo_object_destroy(ProtobufCMessage *object);

/* ---- decoding manifests -------------------------------------------------- */

/* One object decoded from a manifest, with where it came from. */
typedef struct kumo_object_document {
    ProtobufCMessage *object;     /* owned; NULL when this document failed */
    const kumo_object_kind *kind; /* NULL when the kind was unknown */
    int index;                    /* 0-based document number in the stream */
    int line;                     /* line where the document starts, when known */
    kumo_diag diag;               /* why it failed (code OK when it did not) */
} kumo_object_document;

/*
 * Decodes every document of a JSON or YAML text (a JSON text holds one object,
 * or a List with `items`, which is expanded). The kind comes from each
 * document's `kind`, which must be a kumo kind with apiVersion
 * kumo.dev/v1alpha1. Documents fail independently: each carries its own diag.
 * Returns OK when the text could be split into documents at all (even if some
 * failed); *docs_out (count *count_out) is freed with
 * kumo_object_documents_free. Nothing is defaulted or validated here, except
 * that a document failing to decode (an int32 overflow, a wrong type) also
 * carries the causes of its other fields: each failing field is left out and
 * the rest decoded again, then validated, so one bad field never hides the
 * others.
 */
kumo_error kumo_object_decode_documents(const char *text, size_t len, kumo_codec_format format,
                                        const kumo_codec_decode_options *options,
                                        kumo_object_document **docs_out, size_t *count_out,
                                        kumo_diag *diag);
void kumo_object_documents_free(kumo_object_document *docs, size_t count);

/* Decodes exactly one object of a known or unknown (kind == NULL) kind. A JSON
 * body that fails on a field is decoded again through the value tree, so that
 * the diag lists every problem of the object, as for documents above. */
kumo_error kumo_object_decode(const kumo_object_kind *kind, const char *text, size_t len,
                              kumo_codec_format format, const kumo_codec_decode_options *options,
                              ProtobufCMessage **out, kumo_diag *diag);

/* ---- defaulting and validation -------------------------------------------- */

/*
 * Fills defaults (namespace "default", apiVersion/kind, per-kind spec
 * defaults of docs/api-objects.md §4) in place. Only zero values are
 * replaced, so defaulting twice equals defaulting once. Errors:
 * KUMO_ERROR_INVALID_ARGUMENT (not a kind message), KUMO_ERROR_NOMEM.
 */
kumo_error kumo_object_default(ProtobufCMessage *object, kumo_diag *diag);

/*
 * Checks every rule of the kind (names, required fields, ranges, enums,
 * cross-field rules). On failure returns KUMO_ERROR_INVALID with one diag
 * cause per problem (all of them, not just the first, up to 1000) and a
 * message of the form `Infra "web" is invalid: spec.groups[1].size: Invalid
 * value: -1: must be greater than or equal to 0`. Causes are appended, so
 * pass a fresh diag; `diag` may be NULL. A zero value where a default exists
 * is accepted, so the verdict is the same before and after
 * kumo_object_default. KUMO_ERROR_INVALID_ARGUMENT: not a kind message.
 */
kumo_error kumo_object_validate(const ProtobufCMessage *object, kumo_diag *diag);

/*
 * The per-object limit on machines: an Infra whose groups ask for more than
 * `max_machines` in all is INVALID (cause spec.groups, naming the sum and the
 * limit); other kinds pass. A configurable limit (kumod
 * --max-machines-per-infra), so it is not one of kumo_object_validate's rules.
 */
kumo_error kumo_object_machines_check(const ProtobufCMessage *object, long max_machines,
                                      kumo_diag *diag);

/*
 * Object names: 1-253 bytes of [a-z0-9-], starting and ending alphanumeric
 * (a DNS-1123 subdomain without dots: a name is one token of a NATS
 * subject). Namespaces: the same, at most 63 bytes (a DNS-1123 label).
 */
int kumo_object_name_is_valid(const char *name);
int kumo_object_namespace_is_valid(const char *ns);

/* ---- label and field selectors ------------------------------------------- */

/*
 * A parsed label + field selector.
 * Labels: comma-separated requirements, each one of
 *   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
 * (!= and notin also match objects without the label, as in Kubernetes).
 * Fields: metadata.name and metadata.namespace with =, == or !=.
 */
typedef struct kumo_object_selector kumo_object_selector;

/* Either text may be NULL or "". Errors: INVALID_ARGUMENT naming the bad part. */
kumo_error kumo_object_selector_parse(const char *labels, const char *fields,
                                      kumo_object_selector **out, kumo_diag *diag);
void kumo_object_selector_destroy(kumo_object_selector *selector);
/* 1 when the object matches (a NULL selector matches everything). */
int kumo_object_selector_matches(const kumo_object_selector *selector,
                                 const ProtobufCMessage *object);
/* 1 when the selector has no requirement at all (NULL included). */
int kumo_object_selector_is_empty(const kumo_object_selector *selector);

/* ---- conditions ---------------------------------------------------------- */

/*
 * Sets condition `type` in the status's `conditions` (found through the
 * descriptor): updates status/reason/message/observedGeneration, and
 * lastTransitionTime only when status changes. Returns 1 when anything
 * changed, 0 when not, -1 when out of memory or the object has no conditions.
 */
int kumo_object_condition_set(ProtobufCMessage *object, const char *type, const char *status,
                              const char *reason, const char *message);
/* The condition of `type`, or NULL. Borrowed. */
const Kumo__V1alpha1__Condition *kumo_object_condition_get(const ProtobufCMessage *object,
                                                           const char *type);

/* Current time as a kumo Time value. */
void kumo_object_time_now(Kumo__V1alpha1__Time *out);

#endif
