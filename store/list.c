/*
 * list.c - list with selectors and consistent pagination.
 *
 * The first page (and any page whose revision is still the current one) is a
 * plain scan of `objects` in one read transaction. A later page must show the
 * store as it was at the first page's revision R although writes went on:
 * LMDB snapshots end with their transaction, so the page is rebuilt from the
 * current records and the revision log. Keys come from two sorted streams
 * merged in key order: `objects` (what exists now) and `deleted` (the
 * tombstones of keys deleted within the retained history). For each key the
 * state at R is the current record when its revision <= R, else the log
 * entry found by following `previous` links back from the key's newest entry
 * to the first one <= R (none, or a deletion: the key did not exist at R).
 * Compaction keeps that entry for every R >= compacted (see compact.c); an
 * older R is Gone, as in Kubernetes.
 *
 * Token: base64 of version (1) | R (8 bytes) | the last key returned.
 */
#include "store/internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_VERSION 1

typedef struct list_state {
    kumo_store *store;
    const kumo_object_kind *kind;
    const kumo_object_selector *selector;
    size_t limit;
    kumo_store_list_result *out;
    size_t cap;
    char last_key[STORE_KEY_MAX];
    size_t last_key_len;
    kumo_diag *diag;
} list_state;

void kumo_store_list_result_fini(kumo_store_list_result *result)
{
    if (result == NULL)
        return;
    for (size_t i = 0; i < result->count; i++)
        kumo_object_destroy(result->items[i]);
    free(result->items);
    free(result->continue_token);
    memset(result, 0, sizeof(*result));
}

/* Adds obj (taking it) when it matches; returns 1 when the page is full. */
static int page_add(list_state *st, ProtobufCMessage *obj, const void *key, size_t key_len)
{
    if (!kumo_object_selector_matches(st->selector, obj)) {
        kumo_object_destroy(obj);
        return 0;
    }
    kumo_store_list_result *out = st->out;
    if (out->count == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        ProtobufCMessage **grown = realloc(out->items, cap * sizeof(*grown));
        if (grown == NULL) {
            kumo_object_destroy(obj);
            return -1;
        }
        out->items = grown;
        st->cap = cap;
    }
    out->items[out->count++] = obj;
    memcpy(st->last_key, key, key_len);
    st->last_key_len = key_len;
    return st->limit && out->count >= st->limit;
}

static int has_prefix(const MDB_val *k, const char *prefix, size_t n)
{
    return k->mv_size >= n && memcmp(k->mv_data, prefix, n) == 0;
}

static kumo_error token_make(list_state *st, int64_t revision)
{
    uint8_t raw[1 + 8 + STORE_KEY_MAX];
    raw[0] = TOKEN_VERSION;
    store_be64_put(raw + 1, (uint64_t)revision);
    memcpy(raw + 9, st->last_key, st->last_key_len);
    size_t n = 9 + st->last_key_len;
    char *text = malloc(4 * ((n + 2) / 3) + 1);
    if (text == NULL)
        return KUMO_ERROR_NOMEM;
    EVP_EncodeBlock((unsigned char *)text, raw, (int)n);
    st->out->continue_token = text;
    return KUMO_ERROR_OK;
}

static kumo_error token_parse(const char *token, const char *prefix, size_t prefix_len,
                              int64_t *revision, char *key, size_t *key_len, kumo_diag *diag)
{
    size_t n = strlen(token);
    uint8_t raw[1 + 8 + STORE_KEY_MAX + 4];
    int ok = n > 0 && n % 4 == 0 && n / 4 * 3 <= sizeof(raw);
    int len = ok ? EVP_DecodeBlock(raw, (const unsigned char *)token, (int)n) : -1;
    if (len > 0) {
        len -= token[n - 1] == '=' ? (token[n - 2] == '=' ? 2 : 1) : 0;
    }
    if (len < 10 || raw[0] != TOKEN_VERSION || (size_t)len - 9 > STORE_KEY_MAX)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "invalid continue token: use the one a list returned");
    *revision = (int64_t)store_be64_get(raw + 1);
    *key_len = (size_t)len - 9;
    memcpy(key, raw + 9, *key_len);
    if (*key_len < prefix_len || memcmp(key, prefix, prefix_len) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "continue token was made for another list (kind or namespace)");
    return KUMO_ERROR_OK;
}

static int meta_u64(kumo_store *store, MDB_txn *txn, const char *name, int64_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    *out = 0;
    int rc = mdb_get(txn, store->dbi_meta, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        *out = (int64_t)store_be64_get(v.mv_data);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Decodes an `objects` value. */
static kumo_error object_decode(list_state *st, const MDB_val *k, const MDB_val *v,
                                ProtobufCMessage **obj)
{
    if (v->mv_size < STORE_OBJECT_HEADER)
        return kumo_diag_set(st->diag, KUMO_ERROR_STORAGE, "corrupt object record");
    const uint8_t *rec = v->mv_data;
    return store_payload_decode(st->store, st->kind, k->mv_data, k->mv_size, rec[0],
                                rec + STORE_OBJECT_HEADER, v->mv_size - STORE_OBJECT_HEADER, obj,
                                st->diag);
}

/* The current-state scan: objects after `from` (exclusive when given). */
static kumo_error scan_current(list_state *st, MDB_txn *txn, const char *prefix, size_t prefix_len,
                               const char *from, size_t from_len, int64_t revision)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->store->dbi_objects, &cur);
    if (rc != 0)
        return store_lmdb_error(st->diag, rc, "list");
    MDB_val k = {from ? from_len : prefix_len, (void *)(from ? from : prefix)}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && from && k.mv_size == from_len && memcmp(k.mv_data, from, from_len) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    kumo_error err = KUMO_ERROR_OK;
    while (rc == 0 && has_prefix(&k, prefix, prefix_len)) {
        ProtobufCMessage *obj;
        err = object_decode(st, &k, &v, &obj);
        if (err != KUMO_ERROR_OK)
            break;
        int full = page_add(st, obj, k.mv_data, k.mv_size);
        if (full < 0) {
            err = kumo_diag_set(st->diag, KUMO_ERROR_NOMEM, "out of memory");
            break;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        if (full) {
            if (rc == 0 && has_prefix(&k, prefix, prefix_len))
                err = token_make(st, revision);
            break;
        }
    }
    mdb_cursor_close(cur);
    if (err == KUMO_ERROR_OK && rc != 0 && rc != MDB_NOTFOUND)
        err = store_lmdb_error(st->diag, rc, "list");
    return err;
}

/* LMDB's default key order. */
static int key_compare(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an < bn ? -1 : an > bn);
}

/* The state at `revision` of a key whose newest log entry is `start`; NULL when absent. */
static kumo_error state_at(list_state *st, MDB_txn *txn, const uint8_t *key, size_t key_len,
                           int64_t start, int64_t revision, ProtobufCMessage **obj)
{
    *obj = NULL;
    store_log_entry e;
    int found = 0;
    int rc = store_log_state_at(st->store, txn, start, revision, &e, &found);
    if (rc == MDB_NOTFOUND)
        return kumo_diag_set(st->diag, KUMO_ERROR_GONE,
                             "continue token expired; relist (the state at revision %lld is no "
                             "longer retained)",
                             (long long)revision);
    if (rc != 0)
        return store_lmdb_error(st->diag, rc, "log");
    if (!found)
        return KUMO_ERROR_OK;
    return store_payload_decode(st->store, st->kind, (const char *)key, key_len, e.flags, e.payload,
                                e.payload_len, obj, st->diag);
}

/* Positions c at the first key after `from` (exclusive). */
static int seek_after(MDB_cursor *c, const char *from, size_t from_len, MDB_val *k, MDB_val *v)
{
    k->mv_size = from_len;
    k->mv_data = (void *)from;
    int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
    if (rc == 0 && key_compare(k->mv_data, k->mv_size, from, from_len) == 0)
        rc = mdb_cursor_get(c, k, v, MDB_NEXT);
    return rc;
}

/* The scan at an older revision: objects merged with tombstones, see the file comment. */
static kumo_error scan_at(list_state *st, MDB_txn *txn, const char *prefix, size_t prefix_len,
                          const char *from, size_t from_len, int64_t revision)
{
    MDB_cursor *oc = NULL, *dc = NULL;
    int rc = mdb_cursor_open(txn, st->store->dbi_objects, &oc);
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->store->dbi_deleted, &dc);
    kumo_error err = KUMO_ERROR_OK;
    if (rc != 0) {
        err = store_lmdb_error(st->diag, rc, "list");
        goto done;
    }
    MDB_val ok, ov, dk, dv;
    int orc = seek_after(oc, from, from_len, &ok, &ov);
    int drc = seek_after(dc, from, from_len, &dk, &dv);
    for (;;) {
        if ((orc != 0 && orc != MDB_NOTFOUND) || (drc != 0 && drc != MDB_NOTFOUND)) {
            err = store_lmdb_error(st->diag, orc ? orc : drc, "list");
            break;
        }
        int have_o = orc == 0 && has_prefix(&ok, prefix, prefix_len);
        int have_d = drc == 0 && has_prefix(&dk, prefix, prefix_len) && dv.mv_size == 8;
        if (!have_o && !have_d)
            break;
        int c = !have_d   ? -1
                : !have_o ? 1
                          : key_compare(ok.mv_data, ok.mv_size, dk.mv_data, dk.mv_size);
        uint8_t key[STORE_KEY_MAX];
        size_t key_len = c <= 0 ? ok.mv_size : dk.mv_size;
        if (key_len > sizeof(key) || (c <= 0 && ov.mv_size < STORE_OBJECT_HEADER)) {
            err = kumo_diag_set(st->diag, KUMO_ERROR_STORAGE, "corrupt record");
            break;
        }
        memcpy(key, c <= 0 ? ok.mv_data : dk.mv_data, key_len);
        ProtobufCMessage *obj = NULL;
        int64_t newest = c <= 0 ? (int64_t)store_be64_get((const uint8_t *)ov.mv_data + 1)
                                : (int64_t)store_be64_get(dv.mv_data);
        if (c <= 0 && newest <= revision)
            err = object_decode(st, &ok, &ov, &obj);
        else
            err = state_at(st, txn, key, key_len, newest, revision, &obj);
        if (err != KUMO_ERROR_OK)
            break;
        if (c <= 0)
            orc = mdb_cursor_get(oc, &ok, &ov, MDB_NEXT);
        if (c >= 0)
            drc = mdb_cursor_get(dc, &dk, &dv, MDB_NEXT);
        if (obj == NULL)
            continue;
        int full = page_add(st, obj, key, key_len);
        if (full < 0) {
            err = kumo_diag_set(st->diag, KUMO_ERROR_NOMEM, "out of memory");
            break;
        }
        if (full) {
            int more = (orc == 0 && has_prefix(&ok, prefix, prefix_len)) ||
                       (drc == 0 && has_prefix(&dk, prefix, prefix_len));
            if (more)
                err = token_make(st, revision);
            break;
        }
    }
done:
    if (oc)
        mdb_cursor_close(oc);
    if (dc)
        mdb_cursor_close(dc);
    return err;
}

kumo_error kumo_store_list(kumo_store *store, const kumo_object_kind *kind,
                           const kumo_store_list_options *options, kumo_store_list_result *out,
                           kumo_diag *diag)
{
    memset(out, 0, sizeof(*out));
    if (kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_UNKNOWN_KIND, "no kind given");
    kumo_store_list_options none;
    memset(&none, 0, sizeof(none));
    if (options == NULL)
        options = &none;
    kumo_object_selector *selector = NULL;
    kumo_error err = kumo_object_selector_parse(options->label_selector, options->field_selector,
                                                &selector, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    char prefix[STORE_KEY_MAX];
    size_t prefix_len;
    const char *ns = options->namespace_;
    if (ns && ns[0]) {
        prefix_len = store_key_build(prefix, sizeof(prefix), kind->kind, ns, "");
    } else {
        size_t k = strlen(kind->kind);
        memcpy(prefix, kind->kind, k + 1);
        prefix_len = k + 1;
    }
    list_state st = {store,
                     kind,
                     kumo_object_selector_is_empty(selector) ? NULL : selector,
                     options->limit,
                     out,
                     0,
                     {0},
                     0,
                     diag};
    int64_t token_revision = 0;
    char from[STORE_KEY_MAX];
    size_t from_len = 0;
    int paged = options->continue_token && options->continue_token[0];
    if (prefix_len == 0)
        err = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "namespace too long");
    if (err == KUMO_ERROR_OK && paged)
        err = token_parse(options->continue_token, prefix, prefix_len, &token_revision, from,
                          &from_len, diag);
    MDB_txn *txn = NULL;
    if (err == KUMO_ERROR_OK)
        err = store_read_begin(store, &txn, diag);
    int64_t current = 0, compacted = 0;
    if (err == KUMO_ERROR_OK) {
        int rc = meta_u64(store, txn, "revision", &current);
        if (rc == 0)
            rc = meta_u64(store, txn, "compacted", &compacted);
        if (rc != 0)
            err = store_lmdb_error(diag, rc, "list");
    }
    if (err == KUMO_ERROR_OK && paged && token_revision < compacted)
        err = kumo_diag_set(diag, KUMO_ERROR_GONE,
                            "continue token expired; relist (its revision %lld is older than "
                            "the oldest retained, %lld)",
                            (long long)token_revision, (long long)compacted + 1);
    if (err == KUMO_ERROR_OK && paged && token_revision > current)
        err = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                            "invalid continue token: revision %lld is in the future",
                            (long long)token_revision);
    if (err == KUMO_ERROR_OK) {
        out->revision = paged ? token_revision : current;
        if (!paged || token_revision == current)
            err = scan_current(&st, txn, prefix, prefix_len, paged ? from : NULL, from_len,
                               out->revision);
        else
            err = scan_at(&st, txn, prefix, prefix_len, from, from_len, token_revision);
    }
    store_read_end(store, txn);
    kumo_object_selector_destroy(selector);
    if (err != KUMO_ERROR_OK)
        kumo_store_list_result_fini(out);
    return err;
}
