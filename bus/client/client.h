/*
 * client.h - kumo's client library over NATS, used by kumoctl, the
 * controllers and the agent. It speaks docs/api.md and hides it: typed calls
 * for every verb, and watches that deliver every change exactly once and in
 * order, across reconnections, nats-server restarts and kumod restarts.
 *
 * Objects are protobuf-c messages of the kinds in apis/kumo/v1alpha1 (see
 * apis/object/object.h). Returned objects are owned by the caller
 * (kumo_object_destroy). On failure the diag carries the server's Status:
 * code, message and field causes.
 *
 * Thread safety: one kumo_client may be used by many threads at once. Watch
 * callbacks run on the watch's own thread, one at a time, in revision order.
 */
#ifndef KUMO_CLIENT_H
#define KUMO_CLIENT_H

#include <nats/nats.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "apis/codec/codec.h"
#include "apis/error/error.h"
#include "apis/kumo/v1alpha1/agent.pb-c.h"
#include "apis/object/object.h"

typedef struct kumo_client kumo_client;

typedef struct kumo_client_options {
    const char *url;          /* NULL: $KUMO_NATS_URL, else nats://127.0.0.1:4222 */
    const char *prefix;       /* NULL: kumo.v1 */
    kumo_codec_format format; /* wire encoding; JSON (default) or PROTOBUF */
    int timeout_ms;           /* per request; 0: 10000 */
    const char *name;         /* connection name shown by nats-server; NULL: "kumo-client" */
} kumo_client_options;

/*
 * Connects (one attempt, 2 s). Once connected, the client reconnects to
 * NATS forever on its own, buffering requests meanwhile; a request that
 * finds no kumod is retried for about a second (kumod restarting) and then
 * fails with UNAVAILABLE ("no kumod is serving on URL ..."); a read that
 * times out is retried once. Errors: UNAVAILABLE when no NATS server
 * answers at the URL (the message names it and says how to start kumod).
 * The process should call nats_Close() once it has destroyed every client.
 */
kumo_error kumo_client_connect(const kumo_client_options *options, kumo_client **out,
                               kumo_diag *diag);
/* Closes the connection after stopping the client's watches. NULL is a no-op. */
void kumo_client_destroy(kumo_client *client);
/* The URL connected to; borrowed. */
const char *kumo_client_url(const kumo_client *client);

kumo_error kumo_client_create(kumo_client *client, const ProtobufCMessage *object,
                              ProtobufCMessage **out, kumo_diag *diag);
kumo_error kumo_client_get(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                           const char *name, ProtobufCMessage **out, kumo_diag *diag);
kumo_error kumo_client_update(kumo_client *client, const ProtobufCMessage *object,
                              ProtobufCMessage **out, kumo_diag *diag);
kumo_error kumo_client_update_status(kumo_client *client, const ProtobufCMessage *object,
                                     ProtobufCMessage **out, kumo_diag *diag);
/* `patch` is an RFC 7386 JSON merge patch. */
kumo_error kumo_client_patch(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                             const char *name, const char *patch, ProtobufCMessage **out,
                             kumo_diag *diag);
/* Create or update; *created (may be NULL) tells which. */
kumo_error kumo_client_apply(kumo_client *client, const ProtobufCMessage *object,
                             ProtobufCMessage **out, int *created, kumo_diag *diag);

typedef struct kumo_client_delete_options {
    const char *uid;              /* precondition; NULL: none */
    const char *resource_version; /* precondition; NULL: none */
    int orphan;                   /* 1: Orphan propagation, else Background */
} kumo_client_delete_options;

/* `out` (may be NULL) receives the object as it is after the delete. */
kumo_error kumo_client_delete(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                              const char *name, const kumo_client_delete_options *options,
                              ProtobufCMessage **out, kumo_diag *diag);

typedef struct kumo_client_list_options {
    const char *label_selector; /* NULL: all */
    const char *field_selector; /* NULL: all */
    int limit;                  /* 0: no limit */
    const char *continue_token; /* NULL: first page */
} kumo_client_list_options;

/*
 * Lists objects of `kind` in `ns` (NULL: all namespaces). *out is the kind's
 * List message (e.g. Kumo__V1alpha1__InfraList) with metadata.resourceVersion
 * and metadata.continue.
 */
kumo_error kumo_client_list(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                            const kumo_client_list_options *options, ProtobufCMessage **out,
                            kumo_diag *diag);

typedef enum kumo_client_event_type {
    KUMO_CLIENT_EVENT_ADDED = 0,
    KUMO_CLIENT_EVENT_MODIFIED,
    KUMO_CLIENT_EVENT_DELETED,
} kumo_client_event_type;

/*
 * Called for each change, in revision order, each change once. `object` is
 * borrowed for the duration of the call (clone it to keep it). `revision` is
 * the change's revision (for the initial list: each object's
 * resourceVersion, in increasing order). After a relist (Gone), objects that
 * vanished meanwhile come last as DELETED carrying only their metadata and
 * the list's revision (several may share it; the library no longer has
 * their last state). With a selector, an object that starts matching comes
 * as ADDED and one that stops matching as DELETED. A callback must not stop
 * its own watch.
 */
typedef void (*kumo_client_watch_fn)(void *context, kumo_client_event_type type, int64_t revision,
                                     const ProtobufCMessage *object);

typedef struct kumo_client_watch_options {
    const char *label_selector;
    const char *field_selector;
    /*
     * Revision to start after (a list's resourceVersion). 0: the library first
     * lists and delivers every existing object as ADDED, then watches (one
     * list: the cheapest way to fill a cache). > 0: the caller holds the state
     * of that revision; the library still lists once at start, without
     * delivering, to know which objects the caller holds (for selector
     * transitions and relists).
     */
    int64_t from_revision;
} kumo_client_watch_options;

typedef struct kumo_client_watch kumo_client_watch;

/*
 * Starts watching `kind` in `ns` (NULL: all namespaces). Changes go to `fn`
 * on the watch's thread. When the watch falls behind the history the server
 * keeps (Gone), the library relists and delivers the difference as
 * ADDED/MODIFIED/DELETED events, so the caller never has to. Missed events
 * (NATS or kumod restarts, slow consumer drops) are caught up from the
 * server's revision log: nothing is lost or repeated.
 * Errors (the watch is not started): INVALID_ARGUMENT (a bad selector),
 * UNAVAILABLE (no NATS or no kumod), TIMEOUT, or the server's error for the
 * first list. *out is the caller's: kumo_client_watch_stop, or
 * kumo_client_destroy stops it. Limitation: if from_revision is already
 * older than the retained history at start, deletions between it and the
 * start cannot be reported.
 */
kumo_error kumo_client_watch_start(kumo_client *client, const kumo_object_kind *kind,
                                   const char *ns, const kumo_client_watch_options *options,
                                   kumo_client_watch_fn fn, void *context, kumo_client_watch **out,
                                   kumo_diag *diag);
/*
 * The revision the watch has seen everything up to: every change with a
 * revision <= it has been examined and, when it concerns the caller,
 * delivered. It is >= the last revision delivered (it also advances past
 * changes the selector filtered out, and to the revision catch-ups and lists
 * reflect). A new watch started from it misses nothing. Any thread.
 */
int64_t kumo_client_watch_revision(const kumo_client_watch *watch);
/*
 * 1 once the objects that existed when the watch started have all been
 * delivered (from_revision 0: the initial list's ADDED events); at once for
 * a watch started from a revision. An informer's "has synced". Any thread.
 */
int kumo_client_watch_synced(const kumo_client_watch *watch);
/* Stops the watch; no callback runs after it returns. NULL is a no-op. */
void kumo_client_watch_stop(kumo_client_watch *watch);

/*
 * A plain NATS connection for a server-side component's own subjects (the
 * controller manager's, the monitor's): named `name`, with a user and
 * password unless user is NULL, reconnecting forever (every 200 ms).
 */
natsStatus kumo_client_nats_connect(const char *url, const char *user, const char *password,
                                    const char *name, natsConnection **out);

/*
 * The output of one App instance (kumoctl logs): `request` (app
 * "<namespace>/<name>", machine, component, replica, offset or tail/since)
 * goes to kumod on <prefix>.logs.<ns>, which relays it to the agent of that
 * machine. *out (kumo_codec_message_free) has ok set, or ok unset and the
 * error kumod or the agent gave (no such machine, app or component; the
 * agent does not answer). Errors: UNAVAILABLE (no kumod relays logs),
 * TIMEOUT, NOMEM; PARSE when the reply does not decode.
 */
kumo_error kumo_client_logs(kumo_client *client, const char *ns,
                            const Kumo__V1alpha1__AgentLogsRequest *request,
                            Kumo__V1alpha1__AgentLogs **out, kumo_diag *diag);

#endif
