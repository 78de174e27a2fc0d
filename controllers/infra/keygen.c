/*
 * keygen.c - ed25519 key pairs in OpenSSH's formats, for KeyPairs that ask
 * kumo to generate their key (spec.publicKey empty).
 *
 * Public:  "ssh-ed25519 " base64(string "ssh-ed25519" | string pk32) " " comment
 * Private: the unencrypted "openssh-key-v1" container (PROTOCOL.key in
 *          OpenSSH): magic, cipher "none", kdf "none", one public key and a
 *          private section {check, check, "ssh-ed25519", pk32, sk64 = seed|pk,
 *          comment, padding 1,2,3...} to a multiple of 8, base64 in 70-column
 *          lines between the BEGIN/END OPENSSH PRIVATE KEY lines.
 */
#include "controllers/infra/internal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wire {
    unsigned char *data;
    size_t len, cap;
    int failed;
} wire;

static void wire_bytes(wire *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n > w->cap) {
        size_t cap = (w->len + n) * 2 + 64;
        unsigned char *grown = realloc(w->data, cap);
        if (grown == NULL) {
            w->failed = 1;
            return;
        }
        w->data = grown;
        w->cap = cap;
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void wire_u32(wire *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    wire_bytes(w, b, 4);
}

static void wire_string(wire *w, const void *p, size_t n)
{
    wire_u32(w, (uint32_t)n);
    wire_bytes(w, p, n);
}

static void wire_cstring(wire *w, const char *s)
{
    wire_string(w, s, strlen(s));
}

static void wire_wipe(wire *w)
{
    if (w->data)
        for (volatile unsigned char *p = w->data; p < w->data + w->cap; p++)
            *p = 0;
    free(w->data);
}

/* Base64 of n bytes (NUL-terminated, malloc'd). */
static char *base64(const unsigned char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

int infra_keygen_ed25519(const char *comment, char **public_out, char **private_out)
{
    *public_out = *private_out = NULL;
    unsigned char pk[32], sk[64];
    size_t pk_len = sizeof(pk), seed_len = 32;
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    int ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1 &&
             EVP_PKEY_get_raw_public_key(key, pk, &pk_len) == 1 &&
             EVP_PKEY_get_raw_private_key(key, sk, &seed_len) == 1 && pk_len == 32 &&
             seed_len == 32;
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return -1;
    memcpy(sk + 32, pk, 32);

    wire blob = {0}, priv = {0}, file = {0};
    wire_cstring(&blob, "ssh-ed25519");
    wire_string(&blob, pk, sizeof(pk));

    uint32_t check = 0;
    RAND_bytes((unsigned char *)&check, sizeof(check));
    wire_u32(&priv, check);
    wire_u32(&priv, check);
    wire_cstring(&priv, "ssh-ed25519");
    wire_string(&priv, pk, sizeof(pk));
    wire_string(&priv, sk, sizeof(sk));
    wire_cstring(&priv, comment);
    for (unsigned char pad = 1; priv.len % 8 != 0; pad++)
        wire_bytes(&priv, &pad, 1);

    wire_bytes(&file, "openssh-key-v1", 15); /* with its NUL */
    wire_cstring(&file, "none");
    wire_cstring(&file, "none");
    wire_cstring(&file, "");
    wire_u32(&file, 1);
    wire_string(&file, blob.data, blob.len);
    wire_string(&file, priv.data, priv.len);

    char *pub64 = blob.failed ? NULL : base64(blob.data, blob.len);
    char *file64 = file.failed || priv.failed ? NULL : base64(file.data, file.len);
    if (pub64 && file64) {
        size_t n = strlen(pub64) + strlen(comment) + 16;
        *public_out = malloc(n);
        if (*public_out)
            snprintf(*public_out, n, "ssh-ed25519 %s %s", pub64, comment);
        size_t len64 = strlen(file64), size = len64 + len64 / 70 + 128;
        char *pem = malloc(size);
        if (pem) {
            size_t at = (size_t)snprintf(pem, size, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
            for (size_t i = 0; i < len64; i += 70)
                at += (size_t)snprintf(pem + at, size - at, "%.70s\n", file64 + i);
            snprintf(pem + at, size - at, "-----END OPENSSH PRIVATE KEY-----\n");
        }
        *private_out = pem;
    }
    free(pub64);
    if (file64)
        for (volatile char *p = file64; *p; p++)
            *p = 0;
    free(file64);
    for (volatile unsigned char *p = sk; p < sk + sizeof(sk); p++)
        *p = 0;
    wire_wipe(&blob);
    wire_wipe(&priv);
    wire_wipe(&file);
    if (*public_out == NULL || *private_out == NULL) {
        free(*public_out);
        free(*private_out);
        *public_out = *private_out = NULL;
        return -1;
    }
    return 0;
}
