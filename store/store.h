/*
 * store.h - kumo's durable object store: LMDB underneath, Kubernetes API
 * semantics on top.
 *
 * One store is one data directory. Objects are protobuf-c messages of the
 * registered kinds (apis/object/object.h); the store keeps the current state
 * of every object, a revision log of every change (ADDED, MODIFIED, DELETED
 * with the full object) for watches, and the indexes that garbage collection
 * needs. Every change gets the next global revision; an object's
 * metadata.resourceVersion is the decimal revision that last changed it.
 *
 * Writes: every write verb queues a request for the store's single writer
 * thread, which applies the requests of all concurrent callers in one LMDB
 * transaction and one sync (group commit) and only then wakes the callers:
 * a returned write is on disk. Each request keeps its own semantics and its
 * own error; one bad request never fails the others in its batch.
 *
 * Reads (get, list, watch_next) use their own LMDB read transactions and never
 * wait for the writer.
 *
 * Errors: every function returns a kumo_error and fills the caller's
 * kumo_diag (may be NULL) with a message that names the object, e.g.
 *   NOT_FOUND       Infra "web" not found
 *   ALREADY_EXISTS  Infra "web" already exists
 *   CONFLICT        Operation cannot be fulfilled on Infra "web": the object has
 *                   been modified; please apply your changes to the latest
 *                   version and try again
 *   INVALID         from kumo_object_validate, or an immutable field changed
 *   TOO_LARGE       Infra "web" is 2000000 bytes; the limit is 1572864
 *   GONE            a watch revision or continue token older than what is kept
 *   STORAGE         LMDB failed (the LMDB code is in diag->foreign_code)
 *   CRYPTO          a Credential cannot be encrypted or decrypted
 *   UNAVAILABLE     the store is closing
 *
 * Memory: every object handed out is newly allocated, laid out like a
 * protobuf_c_message_unpack() result; free it with kumo_object_destroy().
 * Inputs are never modified or kept.
 *
 * Thread safety: every function may be called from any thread concurrently,
 * except kumo_store_close (no other call may be in progress or start) and
 * kumo_store_set_commit_hook (call before writing).
 *
 * Credentials (kinds with write_only_spec) are encrypted at rest with
 * AES-256-GCM; the store itself returns them decrypted: hiding spec.data from
 * API clients is the apiserver's job.
 */
#ifndef KUMO_STORE_H
#define KUMO_STORE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/error/error.h"
#include "apis/object/object.h"

/* Data format written by this version. A store with a newer one is refused. */
#define KUMO_STORE_FORMAT_VERSION 1

#define KUMO_STORE_DEFAULT_MAP_SIZE         ((size_t)256 << 20) /* 256 MiB */
#define KUMO_STORE_DEFAULT_MAP_SIZE_MAX     ((size_t)1 << 40)   /* 1 TiB */
#define KUMO_STORE_DEFAULT_MAX_OBJECT_BYTES ((size_t)1536 * 1024)
/* Machines one Infra may ask for over all its groups. */
#define KUMO_STORE_DEFAULT_MAX_MACHINES_PER_INFRA 10000
#define KUMO_STORE_DEFAULT_KEEP_REVISIONS         10000
#define KUMO_STORE_DEFAULT_KEEP_SECONDS           300
#define KUMO_STORE_DEFAULT_MAX_BATCH              1024

typedef struct kumo_store kumo_store;

/*
 * Options of kumo_store_open. Fill with kumo_store_options_init, then change
 * what you need. Strings are copied by open.
 */
typedef struct kumo_store_options {
    const char *path;             /* data directory; created (0700) when absent. Required. */
    size_t map_size;              /* initial LMDB map size; 0: KUMO_STORE_DEFAULT_MAP_SIZE */
    size_t map_size_max;          /* the map grows (doubling) up to this; 0: default */
    uint64_t keep_revisions;      /* compaction keeps at least the last N revisions... */
    uint64_t keep_seconds;        /* ...and at least the changes of the last T seconds */
    size_t max_object_bytes;      /* packed object size limit; 0: default (1.5 MiB) */
    long max_machines_per_infra;  /* sum of an Infra's group sizes; 0: default (10000) */
    const char *key_file;         /* Credential key; NULL: <path>/secret.key */
    int read_only;                /* 1: no writer, no lock, write verbs fail with FORBIDDEN */
    size_t max_batch;             /* most requests in one transaction; 0: default */
    unsigned compact_interval_ms; /* how often an idle writer compacts; 0: 1000 */
} kumo_store_options;

void kumo_store_options_init(kumo_store_options *options);

/*
 * Opens (creating when needed) the store in options->path, starts the writer
 * thread and runs crash recovery (LMDB needs none beyond clearing stale
 * reader slots).
 * Errors: LOCKED (another process has the directory open for writing),
 * FORMAT (written by a newer kumo), CRYPTO (key file missing while encrypted
 * data exists, or a key that is not the one the data was written with),
 * NOT_FOUND (read_only and no store there), IO, STORAGE, INVALID_ARGUMENT.
 * *out is owned by the caller: kumo_store_close.
 */
kumo_error kumo_store_open(const kumo_store_options *options, kumo_store **out, kumo_diag *diag);

/* Finishes every queued write, stops the writer and closes. NULL is a no-op. */
void kumo_store_close(kumo_store *store);

/* ---- write verbs ---------------------------------------------------------
 * Each returns, when out is not NULL, the object as stored (caller frees
 * with kumo_object_destroy) and, when revision_out is not NULL, the revision
 * of the change (the unchanged revision when nothing changed).
 */

/*
 * Creates an object. The store defaults and validates it, sets uid (random
 * v4 UUID), creationTimestamp, generation 1 and resourceVersion; status is
 * kept as given. metadata.resourceVersion must be empty.
 * Errors: ALREADY_EXISTS, INVALID, TOO_LARGE, UNKNOWN_KIND.
 */
kumo_error kumo_store_create(kumo_store *store, const ProtobufCMessage *object,
                             ProtobufCMessage **out, int64_t *revision_out, kumo_diag *diag);

/*
 * Creates many objects in as few transactions as possible (bulk load).
 * errors[i] (may be NULL) receives each object's result. Returns OK when
 * every object was created, else the first error (its message in diag).
 */
kumo_error kumo_store_create_many(kumo_store *store, const ProtobufCMessage *const *objects,
                                  size_t count, kumo_error *errors, kumo_diag *diag);

/*
 * Replaces spec and metadata (labels, annotations, finalizers,
 * ownerReferences) of an existing object. Status is kept as stored.
 * A non-empty metadata.resourceVersion must equal the stored one (else
 * CONFLICT); empty means unconditional. uid, when given, must match
 * (INVALID: immutable); creationTimestamp and deletionTimestamp are kept.
 * generation is bumped when the packed spec changes. Removing the last
 * finalizer of an object that is being deleted removes the object (and
 * garbage-collects its dependents). Adding a finalizer to an object being
 * deleted is INVALID. An update that changes nothing writes nothing.
 * Errors: NOT_FOUND, CONFLICT, INVALID, TOO_LARGE.
 */
kumo_error kumo_store_update(kumo_store *store, const ProtobufCMessage *object,
                             ProtobufCMessage **out, int64_t *revision_out, kumo_diag *diag);

/* Replaces only the status (no generation bump); the same resourceVersion rule. */
kumo_error kumo_store_update_status(kumo_store *store, const ProtobufCMessage *object,
                                    ProtobufCMessage **out, int64_t *revision_out, kumo_diag *diag);

/* Flags of kumo_store_patch. */
#define KUMO_STORE_PATCH_STATUS 1u /* apply the patch to the status (update_status) */

/*
 * Applies a JSON merge patch (RFC 7386) to the stored object, then writes the
 * result like update (or update_status with KUMO_STORE_PATCH_STATUS). A
 * metadata.resourceVersion in the patch is a precondition; without one, a
 * concurrent change is merged by retrying.
 * Errors: NOT_FOUND, PARSE, INVALID, CONFLICT, TOO_LARGE.
 */
kumo_error kumo_store_patch(kumo_store *store, const kumo_object_kind *kind, const char *namespace_,
                            const char *name, const char *patch, size_t patch_len, unsigned flags,
                            ProtobufCMessage **out, int64_t *revision_out, kumo_diag *diag);

/*
 * Creates the object, or updates it from the full manifest: spec, labels and
 * annotations come from the manifest; status and server-set metadata (uid,
 * creationTimestamp, generation, deletionTimestamp) are kept; finalizers are
 * the union of stored and manifest ones; ownerReferences are the manifest's
 * when it has any, else the stored ones. A resourceVersion in the manifest is
 * a precondition. *created_out (may be NULL) tells which happened.
 */
kumo_error kumo_store_apply(kumo_store *store, const ProtobufCMessage *manifest,
                            ProtobufCMessage **out, int64_t *revision_out, int *created_out,
                            kumo_diag *diag);

typedef enum kumo_store_propagation {
    KUMO_STORE_PROPAGATION_BACKGROUND = 0, /* the owner goes, then its dependents */
    KUMO_STORE_PROPAGATION_ORPHAN,         /* dependents stay; their ownerReference is removed */
} kumo_store_propagation;

typedef struct kumo_store_delete_options {
    const char *uid;              /* precondition; NULL or "": none */
    const char *resource_version; /* precondition; NULL or "": none */
    kumo_store_propagation propagation;
} kumo_store_delete_options;

/*
 * Deletes an object. With finalizers it only sets deletionTimestamp (once);
 * the object goes when its last finalizer is removed. Without, it goes now,
 * and its dependents are garbage-collected (in the same commit when there
 * are few; a large cascade continues in the following commits). *out is the
 * object's last state: it still exists iff it has finalizers.
 * options may be NULL (no preconditions, background propagation).
 * Errors: NOT_FOUND, CONFLICT (a precondition does not hold).
 */
kumo_error kumo_store_delete(kumo_store *store, const kumo_object_kind *kind,
                             const char *namespace_, const char *name,
                             const kumo_store_delete_options *options, ProtobufCMessage **out,
                             int64_t *revision_out, kumo_diag *diag);

/* ---- reads ---------------------------------------------------------------- */

/*
 * Reads one object (namespace NULL or "" means "default"). revision_out (may
 * be NULL) receives the object's revision. Errors: NOT_FOUND, CRYPTO.
 */
kumo_error kumo_store_get(kumo_store *store, const kumo_object_kind *kind, const char *namespace_,
                          const char *name, ProtobufCMessage **out, int64_t *revision_out,
                          kumo_diag *diag);

/* Label and field selectors are apis/object's kumo_object_selector. */

typedef struct kumo_store_list_options {
    const char *namespace_;     /* NULL or "": all namespaces */
    const char *label_selector; /* NULL or "": no filter */
    const char *field_selector; /* NULL or "": no filter */
    size_t limit;               /* 0: everything */
    const char *continue_token; /* from the previous page; NULL or "": first page */
} kumo_store_list_options;

typedef struct kumo_store_list_result {
    ProtobufCMessage **items; /* owned; in namespace, name order */
    size_t count;
    int64_t revision;     /* the store revision the whole list reflects */
    char *continue_token; /* owned; NULL on the last page */
} kumo_store_list_result;

/*
 * Lists objects of a kind. Every page of a paginated list reflects the
 * revision of the first page, however many writes happen in between; a
 * token whose revision has been compacted away is GONE ("continue token
 * expired; relist"). out is overwritten; free with kumo_store_list_result_fini.
 * Errors: INVALID_ARGUMENT (selector, token), GONE, CRYPTO.
 */
kumo_error kumo_store_list(kumo_store *store, const kumo_object_kind *kind,
                           const kumo_store_list_options *options, kumo_store_list_result *out,
                           kumo_diag *diag);
void kumo_store_list_result_fini(kumo_store_list_result *result);

/* ---- revision log and watch --------------------------------------------- */

typedef enum kumo_store_event_type {
    KUMO_STORE_EVENT_ADDED = 1,
    KUMO_STORE_EVENT_MODIFIED,
    KUMO_STORE_EVENT_DELETED,
} kumo_store_event_type;

/* "ADDED", "MODIFIED", "DELETED". */
const char *kumo_store_event_type_name(kumo_store_event_type type);

typedef struct kumo_store_event {
    kumo_store_event_type type;
    int64_t revision;
    const kumo_object_kind *kind;
    /* The object after the change; for DELETED its last state, with the
     * deletion's revision as resourceVersion. */
    ProtobufCMessage *object;
} kumo_store_event;

typedef struct kumo_store_watch_filter {
    const kumo_object_kind *kind;         /* NULL: every kind */
    const char *namespace_;               /* NULL or "": every namespace */
    const kumo_object_selector *selector; /* NULL: no filter */
} kumo_store_watch_filter;

/*
 * Returns up to `max` changes with revision > from_revision that pass the
 * filter, oldest first. With a selector, an object that stops matching
 * arrives as DELETED and one that starts matching as ADDED (Kubernetes watch
 * semantics). *next_revision_out is the revision to pass next time (the last
 * revision examined, which may be past the last event returned).
 * *events_out (free with kumo_store_events_free) may be NULL when count is 0.
 * Errors: GONE when from_revision is older than the retained history.
 */
kumo_error kumo_store_watch_next(kumo_store *store, int64_t from_revision,
                                 const kumo_store_watch_filter *filter, size_t max,
                                 kumo_store_event **events_out, size_t *count_out,
                                 int64_t *next_revision_out, kumo_diag *diag);
void kumo_store_events_free(kumo_store_event *events, size_t count);

/*
 * Blocks until the committed revision is > after_revision or timeout_ms pass
 * (negative: forever). Returns OK or TIMEOUT; *revision_out (may be NULL)
 * gets the committed revision.
 */
kumo_error kumo_store_wait(kumo_store *store, int64_t after_revision, int timeout_ms,
                           int64_t *revision_out);

/*
 * Called on the writer thread after every durable commit, with that commit's
 * changes in revision order, before the writers are acknowledged. Objects are
 * borrowed for the duration of the call. The hook must be quick and must not
 * call write verbs (reads are fine). fn NULL removes it.
 */
typedef void (*kumo_store_commit_hook)(void *ctx, const kumo_store_event *events, size_t count);
void kumo_store_set_commit_hook(kumo_store *store, kumo_store_commit_hook fn, void *ctx);

/* ---- state and maintenance ------------------------------------------------ */

/* Latest committed revision (0 for an empty store). */
int64_t kumo_store_revision(kumo_store *store);
/* Revisions <= this have been compacted: a watch must start at or after it. */
int64_t kumo_store_compacted_revision(kumo_store *store);

/* Runs compaction to completion under the configured retention, now. */
kumo_error kumo_store_compact(kumo_store *store, kumo_diag *diag);

typedef struct kumo_store_stats {
    int64_t revision;
    int64_t compacted_revision;
    size_t objects;     /* current objects */
    size_t log_entries; /* revision log entries retained */
    size_t map_size;    /* current LMDB map size */
    size_t used_bytes;  /* pages in use (last page number x page size) */
    size_t file_bytes;  /* size of data.mdb */
} kumo_store_stats;

kumo_error kumo_store_stats_get(kumo_store *store, kumo_store_stats *out, kumo_diag *diag);

#endif
