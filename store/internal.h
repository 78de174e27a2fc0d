/*
 * internal.h - what the store's files share: the store struct, the on-disk
 * layout, the writer's request queue and the helpers over records and keys.
 *
 * On-disk layout (named LMDB databases in <dir>/data.mdb):
 *   objects  kind\0namespace\0name           -> object record
 *   log      revision (8 bytes, big-endian) -> log record
 *   deleted  kind\0namespace\0name           -> revision of its deletion (tombstone)
 *   owners   owner uid\0dependent key       -> (empty)
 *   gc       owner uid                      -> (empty): dependents still to collect
 *   meta     "format" (u32), "revision", "compacted" (u64), "key_check",
 *            "encrypted" (u8): integers big-endian
 *
 * object record: flags (u8) | revision (u64) | payload
 * log record:    type (u8) | flags (u8) | key length (u16) | time ms (u64) |
 *                previous revision of the same key (u64, 0: none) | key | payload
 * payload:       the packed object, or, with STORE_FLAG_ENCRYPTED,
 *                key version (u8) | nonce (12) | ciphertext | tag (16), AAD = key
 *
 * Invariants (see docs/store.md):
 *   - every revision > compacted has its log entry;
 *   - a key has a tombstone iff its newest log entry is a deletion > compacted;
 *   - for every key and every revision R >= compacted, the key's state at R
 *     is its current record when that record's revision <= R, else found by
 *     following `previous` links back from its current record's (or
 *     tombstone's) log entry to the first entry <= R, which exists.
 */
#ifndef KUMO_STORE_INTERNAL_H
#define KUMO_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

#define STORE_KEY_MAX        440 /* LMDB keys are <= 511 bytes; owners keys add a uid */
#define STORE_UID_MAX        64
#define STORE_KEY_BYTES      32
#define STORE_FLAG_ENCRYPTED 0x01
#define STORE_OBJECT_HEADER  9
#define STORE_LOG_HEADER     20
#define STORE_CRYPTO_HEADER  13 /* key version + nonce */
#define STORE_CRYPTO_TAG     16

#define STORE_LMDB_MAX_DBS        8    /* named databases (open_databases in env.c) */
#define STORE_LMDB_MAX_READERS    1024 /* concurrent read transactions */
#define STORE_COMPACT_INTERVAL_MS 1000 /* default kumo_store_options.compact_interval_ms */

/* A growable byte buffer. */
typedef struct store_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} store_buf;

int store_buf_reserve(store_buf *buf, size_t cap);
void store_buf_fini(store_buf *buf);

typedef enum store_op {
    STORE_OP_CREATE = 1,
    STORE_OP_UPDATE,
    STORE_OP_UPDATE_STATUS,
    STORE_OP_DELETE,
    STORE_OP_COMPACT, /* compact to completion (kumo_store_compact) */
} store_op;

/* One caller's write, queued for the writer. Lives on the caller's stack. */
typedef struct store_request {
    store_op op;
    const kumo_object_kind *kind;
    char key[STORE_KEY_MAX];
    size_t key_len;
    ProtobufCMessage *input;              /* prepared by the caller; owned; becomes the result */
    int64_t precondition_revision;        /* 0: none */
    char precondition_uid[STORE_UID_MAX]; /* "": none */
    kumo_store_propagation propagation;
    /* results, written by the writer */
    kumo_error err;
    kumo_diag *diag;
    ProtobufCMessage *result; /* owned by the request until the caller takes it */
    int64_t revision;
    sem_t done; /* posted by the writer once the request is durable (or failed) */
    struct store_request *next;
} store_request;

struct kumo_store {
    char *path;
    char *key_path;
    kumo_store_options options;
    MDB_env *env;
    MDB_dbi dbi_objects, dbi_log, dbi_deleted, dbi_owners, dbi_gc, dbi_meta;
    int lock_fd;
    int read_only;

    /* readers hold it shared while in a read transaction; map growth takes it exclusively */
    pthread_rwlock_t resize_lock;
    pthread_mutex_t pool_lock;
    MDB_txn **pool; /* reset read transactions ready for renew */
    size_t pool_count, pool_cap;
    size_t map_size;

    unsigned char key[STORE_KEY_BYTES];
    int have_key;

    /* shared with the writer, under lock */
    pthread_mutex_t lock;
    pthread_cond_t work_cond;   /* the writer waits for requests */
    pthread_cond_t commit_cond; /* kumo_store_wait waits for commits */
    store_request *queue_head, *queue_tail;
    size_t queue_len;
    size_t wake_at; /* callers signal work_cond once queue_len reaches this (writer waiting) */
    int stopping;
    int64_t committed_revision;
    int64_t committed_compacted;
    kumo_store_commit_hook hook;
    void *hook_ctx;
    pthread_t writer;
    int writer_started;

    /* writer-private */
    int64_t revision;
    int64_t compacted;
    int encrypted_written;
    int gc_pending;
    size_t last_batch;     /* requests in the last batch: how many callers are active */
    double commit_seconds; /* recent commit duration (moving average) */
};

/* ---- env.c ---------------------------------------------------------------- */

/* A read transaction from the pool (renewed). Holds resize_lock shared. */
kumo_error store_read_begin(kumo_store *store, MDB_txn **txn, kumo_diag *diag);
/* Resets it back into the pool and releases resize_lock. */
void store_read_end(kumo_store *store, MDB_txn *txn);
/* Grows the map (the writer, with no write transaction open). */
kumo_error store_map_grow(kumo_store *store, kumo_diag *diag);
/* Maps an LMDB failure to STORAGE (or NOT_FOUND) with the LMDB code kept. */
kumo_error store_lmdb_error(kumo_diag *diag, int rc, const char *what);

/* ---- record.c ------------------------------------------------------------- */

/* kind\0namespace\0name into buf; 0 when it does not fit. */
size_t store_key_build(char *buf, size_t size, const char *kind, const char *namespace_,
                       const char *name);
/* Splits a key; pointers into key (NUL-separated). Returns 0 on a malformed key. */
int store_key_split(const char *key, size_t len, const char **kind, const char **namespace_,
                    const char **name);

void store_be64_put(uint8_t *out, uint64_t value);
uint64_t store_be64_get(const uint8_t *in);

/* The object's packed bytes into buf (replacing its content). */
int store_pack(const ProtobufCMessage *object, store_buf *buf);
/* Unpacks a plaintext payload. NULL when the bytes are not a valid message. */
ProtobufCMessage *store_unpack(const kumo_object_kind *kind, const uint8_t *data, size_t len);
/* Deep copy through the wire format; NULL when out of memory. */
ProtobufCMessage *store_clone(const ProtobufCMessage *object);

/*
 * Decodes a stored payload (decrypting when flags say so) into a message.
 * `key` is the object key (the AAD). Errors: CRYPTO, STORAGE (corrupt).
 */
kumo_error store_payload_decode(kumo_store *store, const kumo_object_kind *kind, const char *key,
                                size_t key_len, unsigned flags, const uint8_t *payload, size_t len,
                                ProtobufCMessage **out, kumo_diag *diag);

/* One parsed log record; pointers into LMDB memory (valid while the transaction is). */
typedef struct store_log_entry {
    int64_t revision;
    int type;
    unsigned flags;
    uint64_t time_ms;
    int64_t previous;
    const char *key;
    size_t key_len;
    const uint8_t *payload;
    size_t payload_len;
} store_log_entry;

/* Parses a log key/value; 0 when malformed. */
int store_log_parse(const MDB_val *k, const MDB_val *v, store_log_entry *out);
/* log[revision]; an LMDB code (MDB_NOTFOUND when it is not there, MDB_CORRUPTED). */
int store_log_get(kumo_store *store, MDB_txn *txn, int64_t revision, store_log_entry *out);
/*
 * The state of a key at `revision`, walking `previous` links back from log
 * entry `start` (the key's newest). *found is 0 when the key did not exist
 * then. Returns an LMDB code; MDB_NOTFOUND means a needed entry is gone.
 */
int store_log_state_at(kumo_store *store, MDB_txn *txn, int64_t start, int64_t revision,
                       store_log_entry *out, int *found);

/* Sorts every map field (by key) so that equal objects pack to equal bytes. */
void store_canonicalize(ProtobufCMessage *message);

/* A random v4 UUID, 36 characters + NUL. */
kumo_error store_uuid(char out[37]);

/* resourceVersion text -> revision; 0 for "" and "0" (no precondition), -1 when not a revision. */
int64_t store_revision_parse(const char *text);

/* "Infra \"web\"" style naming for messages */
#define STORE_NAME_FMT "%s \"%s\""

/* Sets a string field (codec semantics). */
kumo_error store_string_set(char **slot, const char *value);
/* Replaces a Time sub-message with a copy of `value` (NULL clears). */
kumo_error store_time_set(Kumo__V1alpha1__Time **slot, const Kumo__V1alpha1__Time *value);

/* ---- crypto.c ------------------------------------------------------------- */

/* Loads or creates the key file and checks it against the store (in txn). */
kumo_error store_crypto_open(kumo_store *store, MDB_txn *txn, int encrypted_data, kumo_diag *diag);
/* Encrypts plain into out (replacing its content). */
kumo_error store_encrypt(kumo_store *store, const char *aad, size_t aad_len, const uint8_t *plain,
                         size_t len, store_buf *out, kumo_diag *diag);
kumo_error store_decrypt(kumo_store *store, const char *aad, size_t aad_len, const uint8_t *in,
                         size_t len, store_buf *out, kumo_diag *diag);

/* ---- writer.c / txn.c ----------------------------------------------------- */

/* State of one write transaction on the writer thread. */
typedef struct store_txn {
    kumo_store *store;
    MDB_txn *txn;
    int64_t revision;  /* last revision assigned */
    int64_t compacted; /* compacted-through revision */
    uint64_t now_ms;
    int rc; /* first LMDB failure: the whole transaction is abandoned */
    const char *rc_where;
    store_buf pack, spec_old, spec_new, crypt, record, scratch;
    kumo_store_event *events;
    unsigned char *event_owned;
    size_t event_count, event_cap;
    int wrote_encrypted;
    int gc_queued;
} store_txn;

/* Queues a request and waits until the writer has committed it. */
kumo_error store_submit(kumo_store *store, store_request *req);
/* Queues several at once (bulk) and waits for all. */
kumo_error store_submit_many(kumo_store *store, store_request *reqs, size_t count);
kumo_error store_writer_start(kumo_store *store, kumo_diag *diag);
void store_writer_stop(kumo_store *store);

/* Applies one request inside t (sets req->err, req->result, req->revision). */
void store_txn_apply(store_txn *t, store_request *req);

/* Loads the current record of key: the message and its revision. NOT_FOUND has no message. */
kumo_error store_txn_load(store_txn *t, const kumo_object_kind *kind, const char *key,
                          size_t key_len, ProtobufCMessage **out, int64_t *revision,
                          kumo_diag *diag);
/*
 * Writes obj as the new state of key at the next revision (event type ADDED
 * or MODIFIED); `old` is the previous state (NULL on create). The event
 * references obj; with owned the transaction frees it at the end.
 */
kumo_error store_txn_put(store_txn *t, const kumo_object_kind *kind, const char *key,
                         size_t key_len, const ProtobufCMessage *old, int64_t old_revision,
                         ProtobufCMessage *obj, kumo_store_event_type type, int owned,
                         kumo_diag *diag);
/* Removes key at the next revision; obj is its final state (DELETED event). */
kumo_error store_txn_remove(store_txn *t, const kumo_object_kind *kind, const char *key,
                            size_t key_len, int64_t old_revision, ProtobufCMessage *obj, int owned,
                            kumo_diag *diag);
/* Records an LMDB failure in t; returns STORAGE. */
kumo_error store_txn_fail(store_txn *t, int rc, const char *where);
/* 1 when an object `kind`/`ns`/`name` with `uid` exists. */
int store_txn_owner_exists(store_txn *t, const char *kind, const char *ns, const char *name,
                           const char *uid);

/* ---- gc.c ---------------------------------------------------------------- */

/* Queues the dependents of owner `uid` for collection. */
void store_gc_queue(store_txn *t, const char *uid);
/* Removes the ownerReference to `uid` from every dependent. */
kumo_error store_gc_orphan(store_txn *t, const char *uid);
/* Collects queued dependents, at most `budget` objects. Returns 1 when work remains. */
int store_gc_step(store_txn *t, size_t budget);

/* ---- compact.c ------------------------------------------------------------ */

/* Compacts at most `budget` log entries. Returns 1 when more are due. */
int store_compact_step(store_txn *t, size_t budget);

#endif
