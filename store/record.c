/*
 * record.c - the small pieces every store file uses: keys, big-endian
 * integers, packing and unpacking objects, canonical form, UUIDs.
 *
 * Canonical form: protobuf-c packs map entries in array order, so the same
 * labels in another order would pack to other bytes and look like a spec
 * change. Every object is canonicalised (map entries sorted by key) before
 * it is stored, which makes "packed spec bytes differ" mean "spec changed".
 */
#include "store/internal.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

int store_buf_reserve(store_buf *buf, size_t cap)
{
    if (cap <= buf->cap)
        return 0;
    size_t next = buf->cap ? buf->cap : 256;
    while (next < cap)
        next *= 2;
    uint8_t *grown = realloc(buf->data, next);
    if (grown == NULL)
        return -1;
    buf->data = grown;
    buf->cap = next;
    return 0;
}

void store_buf_fini(store_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

size_t store_key_build(char *buf, size_t size, const char *kind, const char *namespace_,
                       const char *name)
{
    size_t k = strlen(kind), n = strlen(namespace_), m = strlen(name);
    size_t total = k + 1 + n + 1 + m;
    if (total > size || total > STORE_KEY_MAX)
        return 0;
    memcpy(buf, kind, k);
    buf[k] = '\0';
    memcpy(buf + k + 1, namespace_, n);
    buf[k + 1 + n] = '\0';
    memcpy(buf + k + n + 2, name, m);
    if (total < size)
        buf[total] = '\0';
    return total;
}

int store_key_split(const char *key, size_t len, const char **kind, const char **namespace_,
                    const char **name)
{
    const char *a = memchr(key, '\0', len);
    if (a == NULL)
        return 0;
    const char *b = memchr(a + 1, '\0', len - (size_t)(a + 1 - key));
    if (b == NULL)
        return 0;
    *kind = key;
    *namespace_ = a + 1;
    *name = b + 1;
    return 1;
}

void store_be64_put(uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)value;
        value >>= 8;
    }
}

uint64_t store_be64_get(const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

int store_pack(const ProtobufCMessage *object, store_buf *buf)
{
    size_t size = protobuf_c_message_get_packed_size(object);
    if (store_buf_reserve(buf, size + 1) != 0)
        return -1;
    buf->len = protobuf_c_message_pack(object, buf->data);
    return 0;
}

ProtobufCMessage *store_unpack(const kumo_object_kind *kind, const uint8_t *data, size_t len)
{
    return protobuf_c_message_unpack(kind->descriptor, NULL, len, data);
}

ProtobufCMessage *store_clone(const ProtobufCMessage *object)
{
    size_t size = protobuf_c_message_get_packed_size(object);
    uint8_t small[4096];
    uint8_t *buf = size <= sizeof(small) ? small : malloc(size);
    if (buf == NULL)
        return NULL;
    size_t n = protobuf_c_message_pack(object, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(object->descriptor, NULL, n, buf);
    if (buf != small)
        free(buf);
    return copy;
}

kumo_error store_payload_decode(kumo_store *store, const kumo_object_kind *kind, const char *key,
                                size_t key_len, unsigned flags, const uint8_t *payload, size_t len,
                                ProtobufCMessage **out, kumo_diag *diag)
{
    *out = NULL;
    store_buf plain = {0};
    if (flags & STORE_FLAG_ENCRYPTED) {
        kumo_error err = store_decrypt(store, key, key_len, payload, len, &plain, diag);
        if (err != KUMO_ERROR_OK) {
            store_buf_fini(&plain);
            return err;
        }
        payload = plain.data;
        len = plain.len;
    }
    *out = store_unpack(kind, payload, len);
    store_buf_fini(&plain);
    if (*out == NULL) {
        const char *k, *ns, *name;
        if (!store_key_split(key, key_len, &k, &ns, &name))
            name = "?";
        return kumo_diag_set(diag, KUMO_ERROR_STORAGE,
                             "stored " STORE_NAME_FMT " in namespace %s is corrupt (%zu bytes)",
                             kind->kind, name, ns, len);
    }
    return KUMO_ERROR_OK;
}

/* ---- the log ------------------------------------------------------------------- */

int store_log_parse(const MDB_val *k, const MDB_val *v, store_log_entry *out)
{
    const uint8_t *p = v->mv_data;
    if (k->mv_size != 8 || v->mv_size < STORE_LOG_HEADER)
        return 0;
    size_t key_len = (size_t)p[2] << 8 | p[3];
    if (key_len == 0 || STORE_LOG_HEADER + key_len > v->mv_size)
        return 0;
    out->revision = (int64_t)store_be64_get(k->mv_data);
    out->type = p[0];
    out->flags = p[1];
    out->time_ms = store_be64_get(p + 4);
    out->previous = (int64_t)store_be64_get(p + 12);
    out->key = (const char *)p + STORE_LOG_HEADER;
    out->key_len = key_len;
    out->payload = p + STORE_LOG_HEADER + key_len;
    out->payload_len = v->mv_size - STORE_LOG_HEADER - key_len;
    return 1;
}

int store_log_get(kumo_store *store, MDB_txn *txn, int64_t revision, store_log_entry *out)
{
    uint8_t rk[8];
    store_be64_put(rk, (uint64_t)revision);
    MDB_val k = {8, rk}, v;
    int rc = mdb_get(txn, store->dbi_log, &k, &v);
    if (rc != 0)
        return rc;
    k.mv_data = rk;
    return store_log_parse(&k, &v, out) ? 0 : MDB_CORRUPTED;
}

int store_log_state_at(kumo_store *store, MDB_txn *txn, int64_t start, int64_t revision,
                       store_log_entry *out, int *found)
{
    *found = 0;
    int64_t at = start;
    for (;;) {
        if (at <= 0)
            return 0; /* created after `revision` */
        int rc = store_log_get(store, txn, at, out);
        if (rc != 0)
            return rc;
        if (out->revision <= revision)
            break;
        at = out->previous;
    }
    *found = out->type != KUMO_STORE_EVENT_DELETED;
    return 0;
}

/* ---- canonical form ---------------------------------------------------------- */

/* protobuf-c has no map flag: a map entry is a nested "...Entry" type of key + value. */
static int is_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t n = strlen(d->name);
    return d->n_fields == 2 && n > 5 && strcmp(d->name + n - 5, "Entry") == 0 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0 &&
           d->fields[0].type == PROTOBUF_C_TYPE_STRING;
}

static int compare_entries(const void *a, const void *b)
{
    const ProtobufCMessage *x = *(const ProtobufCMessage *const *)a;
    const ProtobufCMessage *y = *(const ProtobufCMessage *const *)b;
    const char *kx = *(const char *const *)((const char *)x + x->descriptor->fields[0].offset);
    const char *ky = *(const char *const *)((const char *)y + y->descriptor->fields[0].offset);
    return strcmp(kx ? kx : "", ky ? ky : "");
}

void store_canonicalize(ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *d = message->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        void *slot = (char *)message + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(size_t *)((char *)message + f->quantifier_offset);
            ProtobufCMessage **items = *(ProtobufCMessage ***)slot;
            if (count == 0 || items == NULL)
                continue;
            const ProtobufCMessageDescriptor *sub = f->descriptor;
            if (is_map_entry(sub)) {
                if (count > 1)
                    qsort(items, count, sizeof(*items), compare_entries);
                if (sub->fields[1].type != PROTOBUF_C_TYPE_MESSAGE)
                    continue;
            }
            for (size_t j = 0; j < count; j++)
                store_canonicalize(items[j]);
        } else {
            if (f->label == PROTOBUF_C_LABEL_NONE && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
                uint32_t which = *(uint32_t *)((char *)message + f->quantifier_offset);
                if (which != f->id)
                    continue;
            }
            ProtobufCMessage *sub = *(ProtobufCMessage **)slot;
            if (sub != NULL)
                store_canonicalize(sub);
        }
    }
}

kumo_error store_uuid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return KUMO_ERROR_CRYPTO;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return KUMO_ERROR_OK;
}

int64_t store_revision_parse(const char *text)
{
    if (text == NULL || text[0] == '\0')
        return 0;
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || text[0] < '0' || text[0] > '9')
        return -1;
    return v;
}

kumo_error store_string_set(char **slot, const char *value)
{
    char *copy = (char *)protobuf_c_empty_string;
    if (value != NULL && value[0] != '\0') {
        size_t n = strlen(value) + 1;
        copy = malloc(n);
        if (copy == NULL)
            return KUMO_ERROR_NOMEM;
        memcpy(copy, value, n);
    }
    if (*slot != NULL && *slot != protobuf_c_empty_string)
        free(*slot);
    *slot = copy;
    return KUMO_ERROR_OK;
}

kumo_error store_time_set(Kumo__V1alpha1__Time **slot, const Kumo__V1alpha1__Time *value)
{
    if (value == NULL) {
        if (*slot != NULL)
            protobuf_c_message_free_unpacked(&(*slot)->base, NULL);
        *slot = NULL;
        return KUMO_ERROR_OK;
    }
    if (*slot == NULL) {
        *slot = malloc(sizeof(**slot));
        if (*slot == NULL)
            return KUMO_ERROR_NOMEM;
        kumo__v1alpha1__time__init(*slot);
    }
    (*slot)->seconds = value->seconds;
    (*slot)->nanos = value->nanos;
    return KUMO_ERROR_OK;
}
