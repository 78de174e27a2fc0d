/*
 * crypto.c - Credentials at rest: AES-256-GCM under a key file.
 *
 * The key file holds 32 random bytes and is created with mode 0600 on first
 * start when absent. The store keeps in meta a "key_check" (a known text
 * encrypted under the key) and an "encrypted" flag set once any encrypted
 * record exists, so that at open:
 *   - a missing key file with encrypted data is an error (a new key could
 *     never decrypt them), without encrypted data a new key is made;
 *   - a key that does not decrypt key_check is an error when encrypted data
 *     exists (never garbage out).
 * Each payload: key version (1) | random 12-byte nonce | ciphertext | 16-byte
 * tag, with the object key as additional authenticated data, so a record
 * copied under another key fails to decrypt too.
 */
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/log/log.h"

#define KEY_VERSION    1
#define KEY_CHECK_TEXT "kumo store key check v1"

static kumo_error key_read(kumo_store *store, int *missing, kumo_diag *diag)
{
    *missing = 0;
    int fd = open(store->key_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *missing = 1;
            return KUMO_ERROR_OK;
        }
        return kumo_diag_set_foreign(diag, KUMO_ERROR_CRYPTO, "errno", errno,
                                     "cannot read the store key %s: %s", store->key_path,
                                     strerror(errno));
    }
    struct stat st;
    unsigned char buf[STORE_KEY_BYTES + 1];
    ssize_t n = fstat(fd, &st) == 0 ? read(fd, buf, sizeof(buf)) : -1;
    close(fd);
    if (n != STORE_KEY_BYTES) {
        memset(buf, 0, sizeof(buf));
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO,
                             "the store key %s is not a kumo key: expected %d bytes, found %lld",
                             store->key_path, STORE_KEY_BYTES, (long long)n);
    }
    if (st.st_mode & 077)
        KUMO_LOG_WARN("store", "key file is readable by others; chmod 600 it", "path=%s mode=%o",
                      store->key_path, (unsigned)(st.st_mode & 0777));
    memcpy(store->key, buf, STORE_KEY_BYTES);
    memset(buf, 0, sizeof(buf));
    store->have_key = 1;
    return KUMO_ERROR_OK;
}

static kumo_error key_create(kumo_store *store, kumo_diag *diag)
{
    unsigned char buf[STORE_KEY_BYTES];
    if (RAND_bytes(buf, sizeof(buf)) != 1)
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO, "no random bytes for the store key");
    int fd = open(store->key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_CRYPTO, "errno", errno,
                                     "cannot create the store key %s: %s", store->key_path,
                                     strerror(errno));
    ssize_t n = write(fd, buf, sizeof(buf));
    int synced = fsync(fd) == 0;
    close(fd);
    if (n != (ssize_t)sizeof(buf) || !synced) {
        unlink(store->key_path);
        memset(buf, 0, sizeof(buf));
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO, "cannot write the store key %s",
                             store->key_path);
    }
    memcpy(store->key, buf, sizeof(buf));
    memset(buf, 0, sizeof(buf));
    store->have_key = 1;
    KUMO_LOG_INFO("store", "created store key", "path=%s", store->key_path);
    return KUMO_ERROR_OK;
}

kumo_error store_encrypt(kumo_store *store, const char *aad, size_t aad_len, const uint8_t *plain,
                         size_t len, store_buf *out, kumo_diag *diag)
{
    if (!store->have_key)
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO, "no store key (%s) to encrypt with",
                             store->key_path);
    if (store_buf_reserve(out, len + STORE_CRYPTO_HEADER + STORE_CRYPTO_TAG) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    uint8_t *p = out->data;
    p[0] = KEY_VERSION;
    if (RAND_bytes(p + 1, 12) != 1)
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO, "no random bytes for a nonce");
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, ok = ctx != NULL;
    ok = ok && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, store->key, p + 1) == 1;
    ok = ok && EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)aad_len) == 1;
    ok = ok && EVP_EncryptUpdate(ctx, p + STORE_CRYPTO_HEADER, &n, plain, (int)len) == 1;
    ok = ok && EVP_EncryptFinal_ex(ctx, p + STORE_CRYPTO_HEADER + n, &fin) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, STORE_CRYPTO_TAG,
                                   p + STORE_CRYPTO_HEADER + n + fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO, "AES-256-GCM encryption failed");
    out->len = STORE_CRYPTO_HEADER + (size_t)n + (size_t)fin + STORE_CRYPTO_TAG;
    return KUMO_ERROR_OK;
}

/* Decrypts; returns 0 on success, -1 when authentication fails or input is malformed. */
static int decrypt_raw(const unsigned char *key, const char *aad, size_t aad_len, const uint8_t *in,
                       size_t len, store_buf *out)
{
    if (len < STORE_CRYPTO_HEADER + STORE_CRYPTO_TAG || in[0] != KEY_VERSION)
        return -1;
    size_t clen = len - STORE_CRYPTO_HEADER - STORE_CRYPTO_TAG;
    if (store_buf_reserve(out, clen + 16) != 0)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, ok = ctx != NULL;
    ok = ok && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in + 1) == 1;
    ok = ok && EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)aad_len) == 1;
    ok = ok && EVP_DecryptUpdate(ctx, out->data, &n, in + STORE_CRYPTO_HEADER, (int)clen) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, STORE_CRYPTO_TAG,
                                   (void *)(in + len - STORE_CRYPTO_TAG)) == 1;
    ok = ok && EVP_DecryptFinal_ex(ctx, out->data + n, &fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        memset(out->data, 0, clen);
        return -1;
    }
    out->len = (size_t)n + (size_t)fin;
    return 0;
}

kumo_error store_decrypt(kumo_store *store, const char *aad, size_t aad_len, const uint8_t *in,
                         size_t len, store_buf *out, kumo_diag *diag)
{
    const char *kind = "object", *ns = "", *name = "?";
    store_key_split(aad, aad_len, &kind, &ns, &name);
    if (!store->have_key)
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO,
                             "cannot decrypt " STORE_NAME_FMT ": no store key (%s)", kind, name,
                             store->key_path);
    if (decrypt_raw(store->key, aad, aad_len, in, len, out) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO,
                             "cannot decrypt " STORE_NAME_FMT
                             ": the key in %s is not the one it was written with",
                             kind, name, store->key_path);
    return KUMO_ERROR_OK;
}

static int key_check_put(kumo_store *store, MDB_txn *txn)
{
    store_buf buf = {0};
    int rc = MDB_PANIC;
    if (store_encrypt(store, "key_check", 9, (const uint8_t *)KEY_CHECK_TEXT,
                      strlen(KEY_CHECK_TEXT), &buf, NULL) == KUMO_ERROR_OK) {
        MDB_val k = {9, "key_check"}, v = {buf.len, buf.data};
        rc = mdb_put(txn, store->dbi_meta, &k, &v, 0);
    }
    store_buf_fini(&buf);
    return rc;
}

kumo_error store_crypto_open(kumo_store *store, MDB_txn *txn, int encrypted_data, kumo_diag *diag)
{
    int missing = 0;
    kumo_error err = key_read(store, &missing, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    if (missing) {
        if (encrypted_data)
            return kumo_diag_set(diag, KUMO_ERROR_CRYPTO,
                                 "store %s holds encrypted Credentials but its key file %s is "
                                 "missing: restore that file (a new key cannot decrypt them)",
                                 store->path, store->key_path);
        if (store->read_only)
            return KUMO_ERROR_OK; /* nothing to decrypt, nothing may be written */
        err = key_create(store, diag);
        if (err != KUMO_ERROR_OK)
            return err;
        int rc = key_check_put(store, txn);
        return rc == 0 ? KUMO_ERROR_OK : store_lmdb_error(diag, rc, "store key check");
    }
    MDB_val k = {9, "key_check"}, v;
    int rc = mdb_get(txn, store->dbi_meta, &k, &v);
    if (rc == 0) {
        store_buf plain = {0};
        int ok = decrypt_raw(store->key, "key_check", 9, v.mv_data, v.mv_size, &plain) == 0 &&
                 plain.len == strlen(KEY_CHECK_TEXT) &&
                 memcmp(plain.data, KEY_CHECK_TEXT, plain.len) == 0;
        store_buf_fini(&plain);
        if (ok)
            return KUMO_ERROR_OK;
        if (encrypted_data) {
            store->have_key = 0;
            memset(store->key, 0, sizeof(store->key));
            return kumo_diag_set(diag, KUMO_ERROR_CRYPTO,
                                 "the key in %s is not the one store %s was written with: its "
                                 "Credentials cannot be decrypted; restore the original key file",
                                 store->key_path, store->path);
        }
        KUMO_LOG_INFO("store", "store key replaced (no encrypted data yet)", "path=%s",
                      store->key_path);
    } else if (rc != MDB_NOTFOUND) {
        return store_lmdb_error(diag, rc, "read store key check");
    }
    if (store->read_only)
        return KUMO_ERROR_OK;
    rc = key_check_put(store, txn);
    return rc == 0 ? KUMO_ERROR_OK : store_lmdb_error(diag, rc, "store key check");
}
