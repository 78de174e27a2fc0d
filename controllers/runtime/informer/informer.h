/*
 * informer.h - a controller's local cache of one kind, kept current by the
 * client library's list+watch, with secondary indexes.
 *
 * The cache keeps each object once, as packed protobuf bytes (a fraction of
 * the unpacked size, so 100,000 objects fit a small machine), keyed by
 * "namespace/name". Indexes map a value to the keys of the objects that have
 * it: by owner uid, by label "key=value", by connection (spec.connection),
 * and any the caller adds. A handler hears every change after the cache has
 * applied it, which is where a controller enqueues keys.
 *
 * Thread safety: every function may be called from any thread. Handlers
 * run on the watch's thread, one call at a time.
 */
#ifndef KUMO_INFORMER_H
#define KUMO_INFORMER_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "apis/object/object.h"
#include "bus/client/client.h"

typedef struct kumo_informer kumo_informer;

/* Built-in index names. */
#define KUMO_INFORMER_INDEX_OWNER      "owner"      /* metadata.ownerReferences[].uid */
#define KUMO_INFORMER_INDEX_LABEL      "label"      /* "key=value" per label */
#define KUMO_INFORMER_INDEX_CONNECTION "connection" /* spec.connection, when the kind has it */

/*
 * Called after the cache changed. `object` is the new state (the last state
 * for DELETED); borrowed for the call.
 */
typedef void (*kumo_informer_handler)(void *context, kumo_client_event_type type,
                                      const ProtobufCMessage *object);

typedef struct kumo_informer_options {
    kumo_client *client; /* borrowed; must outlive the informer */
    const kumo_object_kind *kind;
    const char *ns;             /* NULL: all namespaces */
    const char *label_selector; /* NULL: all objects */
    kumo_informer_handler handler;
    void *context;
} kumo_informer_options;

/* Lists and starts watching. Returns when the first list is in the cache. */
kumo_error kumo_informer_start(const kumo_informer_options *options, kumo_informer **out,
                               kumo_diag *diag);
/* Stops the watch (no handler call after it returns) and frees the cache. NULL is a no-op. */
void kumo_informer_stop(kumo_informer *informer);

/* Number of cached objects. */
size_t kumo_informer_count(kumo_informer *informer);
/* The last revision applied to the cache. */
int64_t kumo_informer_revision(kumo_informer *informer);

/*
 * A copy of the cached object "ns/name" (caller frees with kumo_object_destroy),
 * or NULL when it is not cached.
 */
ProtobufCMessage *kumo_informer_get(kumo_informer *informer, const char *ns, const char *name);

/*
 * The keys ("ns/name") of the objects whose index `index` has `value`.
 * Returns a malloc'd array of malloc'd strings (free with
 * kumo_informer_keys_free) and its length in *count_out.
 */
char **kumo_informer_index_keys(kumo_informer *informer, const char *index, const char *value,
                                size_t *count_out);
/* Every cached key. */
char **kumo_informer_keys(kumo_informer *informer, size_t *count_out);
void kumo_informer_keys_free(char **keys, size_t count);

/* Approximate bytes of memory the cache uses (objects and indexes). */
size_t kumo_informer_memory(kumo_informer *informer);

/*
 * More handlers (options.handler is the first): called, in order, for every
 * change applied after add returns. Returns an id > 0, or 0 when 16 are
 * registered already. After remove returns, that handler is never called
 * again. Handlers must not add or remove handlers.
 */
int kumo_informer_handler_add(kumo_informer *informer, kumo_informer_handler handler,
                              void *context);
void kumo_informer_handler_remove(kumo_informer *informer, int id);

/*
 * A set of informers shared by every controller of a process, one per kind:
 * a kind watched by several controllers (Machines by the machine and infra
 * controllers, Connections by all) is listed, decoded and cached once.
 * Informers start on first acquire and stop on last release.
 */
typedef struct kumo_informer_set kumo_informer_set;

/* client is borrowed (must outlive the set); ns NULL: all namespaces. NULL when out of memory. */
kumo_informer_set *kumo_informer_set_create(kumo_client *client, const char *ns);
/* Every informer must be released first. NULL is a no-op. */
void kumo_informer_set_destroy(kumo_informer_set *set);
/*
 * The set's informer of `kind`, listing it first when it is not running.
 * Release it with kumo_informer_set_release. Errors: those of
 * kumo_informer_start.
 */
kumo_error kumo_informer_set_acquire(kumo_informer_set *set, const kumo_object_kind *kind,
                                     kumo_informer **out, kumo_diag *diag);
void kumo_informer_set_release(kumo_informer_set *set, kumo_informer *informer);

#endif
