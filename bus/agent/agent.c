/*
 * agent.c - agent bus identity (nkeys derived per machine), subjects, the
 * bootstrap document and the nats-server authorization block.
 *
 * An nkey user public key is base32 (RFC 4648, no padding) of the prefix
 * byte 20<<3 ('U'), the 32-byte ed25519 public key and the CRC-16/XMODEM of
 * both, little-endian: 35 bytes, 56 characters.
 */
#define _GNU_SOURCE
#include "bus/agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/codec/codec.h"

int kumo_agent_subject(char *buf, size_t size, const char *prefix, const char *machine_uid,
                       const char *verb)
{
    if (prefix == NULL || prefix[0] == '\0')
        prefix = KUMO_AGENT_PREFIX;
    if (machine_uid == NULL || machine_uid[0] == '\0' ||
        machine_uid[strcspn(machine_uid, ".*> \t\r\n")])
        return -1;
    int n = snprintf(buf, size, "%s.%s.%s", prefix, machine_uid, verb);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int kumo_agent_seed_derive(const unsigned char key[KUMO_AGENT_KEY_SIZE], const char *machine_uid,
                           unsigned char seed[KUMO_AGENT_SEED_SIZE])
{
    char message[300];
    int n = snprintf(message, sizeof(message), "kumo-agent/%s", machine_uid);
    if (n < 0 || (size_t)n >= sizeof(message))
        return -1;
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key, KUMO_AGENT_KEY_SIZE, (const unsigned char *)message, (size_t)n,
             seed, &len) == NULL ||
        len != KUMO_AGENT_SEED_SIZE)
        return -1;
    return 0;
}

static uint16_t crc16(const unsigned char *data, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static void base32(const unsigned char *data, size_t len, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t o = 0;
    unsigned buffer = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        buffer = (buffer << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(buffer << (5 - bits)) & 31];
    out[o] = '\0';
}

static EVP_PKEY *key_of(const unsigned char seed[KUMO_AGENT_SEED_SIZE])
{
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, KUMO_AGENT_SEED_SIZE);
}

int kumo_agent_public_key(const unsigned char seed[KUMO_AGENT_SEED_SIZE],
                          char out[KUMO_AGENT_PUBLIC_SIZE])
{
    EVP_PKEY *pkey = key_of(seed);
    unsigned char raw[35];
    size_t len = 32;
    int ok = pkey != NULL && EVP_PKEY_get_raw_public_key(pkey, raw + 1, &len) == 1 && len == 32;
    EVP_PKEY_free(pkey);
    if (!ok)
        return -1;
    raw[0] = 20 << 3;
    uint16_t crc = crc16(raw, 33);
    raw[33] = (unsigned char)(crc & 0xff);
    raw[34] = (unsigned char)(crc >> 8);
    base32(raw, sizeof(raw), out);
    return 0;
}

void kumo_agent_seed_to_hex(const unsigned char seed[KUMO_AGENT_SEED_SIZE], char out[65])
{
    for (size_t i = 0; i < KUMO_AGENT_SEED_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", seed[i]);
}

int kumo_agent_seed_from_hex(const char *hex, unsigned char seed[KUMO_AGENT_SEED_SIZE])
{
    if (hex == NULL || strlen(hex) != 2 * KUMO_AGENT_SEED_SIZE)
        return -1;
    for (size_t i = 0; i < KUMO_AGENT_SEED_SIZE; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = hex[2 * i + (size_t)k];
            int d = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
            if (d < 0)
                return -1;
            v = v * 16 + (unsigned)d;
        }
        seed[i] = (unsigned char)v;
    }
    return 0;
}

kumo_error kumo_agent_key_load(const char *path, unsigned char key[KUMO_AGENT_KEY_SIZE],
                               kumo_diag *diag)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char fresh[KUMO_AGENT_KEY_SIZE];
        if (RAND_bytes(fresh, sizeof(fresh)) != 1)
            return kumo_diag_set(diag, KUMO_ERROR_INTERNAL, "no random bytes for %s", path);
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        int w = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int ok =
            w >= 0 && write(w, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) && fsync(w) == 0;
        if (w >= 0)
            ok = close(w) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            int e = errno;
            unlink(tmp);
            return kumo_diag_set(diag, KUMO_ERROR_IO, "cannot write the agent key %s: %s", path,
                                 strerror(e));
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return kumo_diag_set(diag, KUMO_ERROR_IO, "cannot read the agent key %s: %s", path,
                             strerror(errno));
    unsigned char extra;
    ssize_t n = read(fd, key, KUMO_AGENT_KEY_SIZE);
    ssize_t more = read(fd, &extra, 1);
    close(fd);
    if (n != KUMO_AGENT_KEY_SIZE || more != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "the agent key %s must hold exactly %d bytes", path,
                             KUMO_AGENT_KEY_SIZE);
    return KUMO_ERROR_OK;
}

char *kumo_agent_bootstrap_json(const unsigned char key[KUMO_AGENT_KEY_SIZE],
                                const char *machine_uid, const char *machine, const char *ns,
                                const char *const *urls, size_t url_count, int port,
                                const char *prefix, int status_interval_ms)
{
    return kumo_agent_bootstrap_json_metrics(key, machine_uid, machine, ns, urls, url_count, port,
                                             prefix, status_interval_ms, 0);
}

char *kumo_agent_bootstrap_json_metrics(const unsigned char key[KUMO_AGENT_KEY_SIZE],
                                        const char *machine_uid, const char *machine,
                                        const char *ns, const char *const *urls, size_t url_count,
                                        int port, const char *prefix, int status_interval_ms,
                                        int metrics_interval_ms)
{
    unsigned char seed[KUMO_AGENT_SEED_SIZE];
    char hex[65];
    if (kumo_agent_seed_derive(key, machine_uid, seed) != 0)
        return NULL;
    kumo_agent_seed_to_hex(seed, hex);
    Kumo__V1alpha1__AgentBootstrap b = KUMO__V1ALPHA1__AGENT_BOOTSTRAP__INIT;
    b.machine_uid = (char *)machine_uid;
    b.machine = (char *)(machine ? machine : "");
    b.namespace_ = (char *)(ns ? ns : "");
    b.seed = hex;
    b.urls = (char **)urls;
    b.n_urls = url_count;
    b.port = port;
    b.prefix = (char *)(prefix ? prefix : "");
    b.status_interval_ms = status_interval_ms;
    b.metrics_interval_ms = metrics_interval_ms;
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_codec_json_encode(&b.base, NULL, &out, &d);
    kumo_diag_fini(&d);
    memset(hex, 0, sizeof(hex));
    memset(seed, 0, sizeof(seed));
    if (e != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&out);
        return NULL;
    }
    return kumo_codec_buffer_take(&out, NULL);
}

kumo_error kumo_agent_bootstrap_parse(const char *json, Kumo__V1alpha1__AgentBootstrap **out,
                                      kumo_diag *diag)
{
    ProtobufCMessage *m = NULL;
    kumo_codec_decode_options o = {0};
    kumo_error e = kumo_codec_json_decode(&kumo__v1alpha1__agent_bootstrap__descriptor, json,
                                          strlen(json), &o, &m, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    Kumo__V1alpha1__AgentBootstrap *b = (Kumo__V1alpha1__AgentBootstrap *)m;
    unsigned char seed[KUMO_AGENT_SEED_SIZE];
    char subject[512];
    if (kumo_agent_subject(subject, sizeof(subject), b->prefix, b->machine_uid, "status") != 0)
        e = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                          "agent bootstrap: machineUid: Invalid value: \"%s\": must be a "
                          "non-empty uid without '.', '*', '>' or blanks",
                          b->machine_uid);
    else if (kumo_agent_seed_from_hex(b->seed, seed) != 0)
        e = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                          "agent bootstrap: seed: Invalid value: must be 64 hex digits");
    else if (b->n_urls == 0 && (b->port <= 0 || b->port > 65535))
        e = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                          "agent bootstrap: port: Invalid value: %d: must be 1..65535 when urls "
                          "is empty",
                          b->port);
    memset(seed, 0, sizeof(seed));
    if (e != KUMO_ERROR_OK) {
        kumo_codec_message_free(m);
        return e;
    }
    *out = b;
    return KUMO_ERROR_OK;
}

/* ---- connect -------------------------------------------------------------------------- */

static natsStatus sign_nonce(char **custom_error, unsigned char **signature, int *length,
                             const char *nonce, void *closure)
{
    const unsigned char *seed = closure;
    if (nonce == NULL) {
        /* A server with no nkey user yet sends none: this machine is not let in yet. */
        *custom_error = strdup("the agent bus does not know this machine's key yet");
        return NATS_ERR;
    }
    EVP_PKEY *pkey = key_of(seed);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = malloc(64);
    size_t sig_len = 64;
    int ok = pkey && ctx && sig && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)nonce, strlen(nonce)) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (!ok) {
        free(sig);
        *custom_error = strdup("cannot sign the server's nonce with the machine key");
        return NATS_ERR;
    }
    *signature = sig;
    *length = (int)sig_len;
    return NATS_OK;
}

kumo_error kumo_agent_connect(const Kumo__V1alpha1__AgentBootstrap *bootstrap, const char *gateway,
                              unsigned char seed[KUMO_AGENT_SEED_SIZE], natsConnection **out,
                              kumo_diag *diag)
{
    char public_key[KUMO_AGENT_PUBLIC_SIZE];
    if (kumo_agent_seed_from_hex(bootstrap->seed, seed) != 0 ||
        kumo_agent_public_key(seed, public_key) != 0) {
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "agent bootstrap: seed: Invalid value: not an ed25519 seed");
    }
    char fallback[300];
    const char *urls[16];
    int n = 0;
    for (size_t i = 0; i < bootstrap->n_urls && n < 16; i++)
        urls[n++] = bootstrap->urls[i];
    if (n == 0) {
        snprintf(fallback, sizeof(fallback), "nats://%s:%d", gateway ? gateway : "127.0.0.1",
                 bootstrap->port);
        urls[n++] = fallback;
    }
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, urls, n);
    if (s == NATS_OK)
        s = natsOptions_SetNKey(o, public_key, sign_nonce, seed);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 500);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, bootstrap->machine_uid);
    if (s == NATS_OK)
        s = natsConnection_Connect(out, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        const char *why = nats_GetLastError(NULL);
        return kumo_diag_set(
            diag,
            s == NATS_NOT_PERMITTED || (why && strstr(why, "uthoriz")) ? KUMO_ERROR_UNAUTHORIZED
                                                                       : KUMO_ERROR_UNAVAILABLE,
            "agent bus %s: %s", urls[0], why && why[0] ? why : natsStatus_GetText(s));
    }
    return KUMO_ERROR_OK;
}

/* ---- nats-server authorization ---------------------------------------------------------- */

int kumo_agent_authorization(const unsigned char key[KUMO_AGENT_KEY_SIZE], const char *prefix,
                             const char *admin_user, const char *admin_password,
                             const char *const *machine_uids, size_t count, char **out,
                             size_t *out_len)
{
    if (prefix == NULL || prefix[0] == '\0')
        prefix = KUMO_AGENT_PREFIX;
    FILE *f = open_memstream(out, out_len);
    if (f == NULL)
        return -1;
    fprintf(f, "authorization {\n  users = [\n    {user: \"%s\", password: \"%s\"}\n", admin_user,
            admin_password);
    for (size_t i = 0; i < count; i++) {
        unsigned char seed[KUMO_AGENT_SEED_SIZE];
        char public_key[KUMO_AGENT_PUBLIC_SIZE], subject[512];
        if (kumo_agent_subject(subject, sizeof(subject), prefix, machine_uids[i], "*") != 0 ||
            kumo_agent_seed_derive(key, machine_uids[i], seed) != 0 ||
            kumo_agent_public_key(seed, public_key) != 0)
            continue;
        const char *u = machine_uids[i];
        fprintf(f,
                "    {nkey: \"%s\", permissions: {publish: {allow: [\"%s.%s.status\", "
                "\"%s.%s.metrics\", \"%s.*.ping\"]},"
                " subscribe: {allow: [\"%s.%s.apply\", \"%s.%s.get\", \"%s.%s.logs\", "
                "\"%s.%s.peers\", \"%s.%s.ping\", \"%s.%s.rtt\"]},"
                " allow_responses: true}}\n",
                public_key, prefix, u, prefix, u, prefix, prefix, u, prefix, u, prefix, u, prefix,
                u, prefix, u, prefix, u);
        memset(seed, 0, sizeof(seed));
    }
    fprintf(f, "  ]\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}
