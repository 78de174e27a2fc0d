/*
 * internal.h - what the client library's files share.
 *
 *   client.c    the connection, request/reply with retries, reply decoding,
 *               and the typed verbs
 *   watch.c     list-then-watch: subscription, catch-up, continuity checks,
 *               relist on Gone, delivery on the watch's own thread
 *   keymap.c    a small hash map "namespace/name" -> (revision, uid)
 *
 * Nothing here is part of the public contract (bus/client/client.h).
 */
#ifndef KUMO_CLIENT_INTERNAL_H
#define KUMO_CLIENT_INTERNAL_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/codec/codec.h"
#include "apis/error/error.h"
#include "apis/map/map.h"
#include "apis/object/object.h"
#include "bus/client/client.h"
#include "bus/protocol/protocol.h"

struct kumo_client {
    natsConnection *conn;
    char url[512];
    char prefix[128];
    kumo_codec_format format; /* JSON or PROTOBUF on the wire */
    int timeout_ms;
    atomic_uint reconnects; /* bumped by the reconnected callback; watches compare */
    pthread_mutex_t lock;   /* guards watches and closed */
    kumo_client_watch *watches;
    pthread_cond_t closed_cond;
    int closed; /* set by the closed callback, the last NATS calls into us */
};

/* ---- client.c ---- */

/* Maps a natsStatus into diag (keeping the NATS code) with `what` as context. */
kumo_error client_nats_error(const kumo_client *client, natsStatus status, const char *what,
                             kumo_diag *diag);

/*
 * A new request message for `verb` on `kind` in `ns`: subject, Content-Type
 * (`content_type`, or the client's format when NULL) and body. `reply` is
 * the reply subject (NULL for natsConnection_RequestMsg). Add the verb's
 * parameters with natsMsgHeader_Set. *out is the caller's (natsMsg_Destroy).
 */
kumo_error client_request_new(const kumo_client *client, kumo_protocol_verb verb,
                              const kumo_object_kind *kind, const char *ns, const char *reply,
                              const void *body, size_t len, const char *content_type, natsMsg **out,
                              kumo_diag *diag);

/*
 * Decodes a reply: a Kumo-Code >= 400 becomes the Status's error in diag;
 * else the body is decoded (leniently) as `descriptor` into *out (may be
 * NULL to skip the body). *code_out (may be NULL) gets the Kumo-Code.
 */
kumo_error client_reply_decode(const kumo_client *client, natsMsg *reply,
                               const ProtobufCMessageDescriptor *descriptor, ProtobufCMessage **out,
                               int *code_out, kumo_diag *diag);

/* The parameters of a verb, sent as headers (NULL or "" and 0: not sent). */
typedef struct client_params {
    const char *name;
    const char *resource_version;
    const char *uid;
    const char *propagation;
    const char *label_selector;
    const char *field_selector;
    int limit;
    const char *continue_token;
} client_params;

/* Sets the headers of the parameters that are given. */
natsStatus client_params_apply(natsMsg *msg, const client_params *params);

/* Header value or NULL. */
const char *client_header(natsMsg *msg, const char *key);
/* Parses a decimal int64 (NULL or garbage: -1). */
int64_t client_parse_revision(const char *text);

/* The items of a List message (borrowed) and its ListMeta (may be NULL). */
ProtobufCMessage **client_list_items(const ProtobufCMessage *list, size_t *count);
const Kumo__V1alpha1__ListMeta *client_list_meta(const ProtobufCMessage *list);
/* Empties the list's items without freeing them (the caller took them). */
void client_list_forget_items(ProtobufCMessage *list);

/* Sleeps ms milliseconds. */
void client_sleep_ms(int ms);
/* Milliseconds on a monotonic clock. */
int64_t client_now_ms(void);

/* ---- watch.c ---- */

/* Called by the client's destroy: stops every watch still running. */
void client_watches_stop_all(kumo_client *client);

/* ---- keymap.c ---- */

typedef struct client_keymap_entry {
    char *key; /* "namespace/name" */
    int64_t revision;
    char *uid;
} client_keymap_entry;

/* "namespace/name" -> what the watch last delivered; entries in an apis/map. */
typedef struct client_keymap {
    kumo_map *entries; /* created on the first put */
    size_t count;
} client_keymap;

void client_keymap_init(client_keymap *map);
void client_keymap_fini(client_keymap *map);
/* Inserts or replaces. Returns 0, or -1 when out of memory. */
int client_keymap_put(client_keymap *map, const char *key, int64_t revision, const char *uid);
/* The entry or NULL; borrowed until the next change of the map. */
const client_keymap_entry *client_keymap_get(const client_keymap *map, const char *key);
void client_keymap_remove(client_keymap *map, const char *key);
/* Calls fn for every entry (the map must not change meanwhile). */
void client_keymap_each(const client_keymap *map,
                        void (*fn)(void *context, const client_keymap_entry *entry), void *context);
/* Writes "namespace/name" into buf. */
void client_keymap_key(const char *ns, const char *name, char *buf, size_t size);

#endif
