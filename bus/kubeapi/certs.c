/*
 * certs.c - what a client needs to trust and reach the API, created on first
 * start under <data-dir>/kubeapi/ and kept across restarts:
 *
 *   ca.crt, ca.key    a self-signed P-256 CA (10 years)
 *   tls.crt, tls.key  the serving certificate, signed by the CA, for
 *                     localhost, 127.0.0.1, ::1 and the listen host (1 year)
 *   token             the bearer token (32 random bytes, hex)
 *
 * and <data-dir>/kubeconfig (0600, rewritten at every start because the
 * port may change): one cluster (server URL + CA data), one user (token),
 * one context "kumo", current. Keys and token are 0600.
 */
#include "bus/kubeapi/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static kumo_error crypto_error(kumo_diag *diag, const char *what)
{
    return kumo_diag_set(diag, KUMO_ERROR_CRYPTO, "cannot %s for the Kubernetes API (OpenSSL)",
                         what);
}

/* Writes a file with `mode`, replacing it whole. */
static kumo_error write_file(const char *path, const void *data, size_t len, mode_t mode,
                             kumo_diag *diag)
{
    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", errno, "cannot write %s: %s",
                                     tmp, strerror(errno));
    fchmod(fd, mode);
    ssize_t n = write(fd, data, len);
    int failed = n < 0 || (size_t)n != len || fsync(fd) != 0;
    close(fd);
    if (failed || rename(tmp, path) != 0) {
        unlink(tmp);
        return kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", errno, "cannot write %s: %s",
                                     path, strerror(errno));
    }
    return KUMO_ERROR_OK;
}

static kumo_error write_pem(const char *path, X509 *cert, EVP_PKEY *key, kumo_diag *diag)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = bio != NULL && (cert ? PEM_write_bio_X509(bio, cert)
                                  : PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL));
    char *data = NULL;
    long len = ok ? BIO_get_mem_data(bio, &data) : 0;
    kumo_error err = ok ? write_file(path, data, (size_t)len, cert ? 0644 : 0600, diag)
                        : crypto_error(diag, "encode a PEM file");
    BIO_free(bio);
    return err;
}

static int add_extension(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for key, signed by issuer (issuer_key); self-signed when issuer is NULL. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long days,
                       const char *san)
{
    X509 *cert = X509_new();
    if (cert == NULL)
        return NULL;
    unsigned char serial[16];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    int ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    ok = ok && X509_set_version(cert, 2) && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400L) && X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    ok = ok &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"kumo", -1, -1,
                                    0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509 *signer = issuer ? issuer : cert;
    ok = ok && X509_set_issuer_name(cert, X509_get_subject_name(signer));
    if (issuer == NULL)
        ok = ok && add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE") &&
             add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_extension(cert, cert, NID_subject_key_identifier, "hash");
    else
        ok = ok && add_extension(cert, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
             add_extension(cert, issuer, NID_key_usage, "critical,digitalSignature") &&
             add_extension(cert, issuer, NID_ext_key_usage, "serverAuth") &&
             add_extension(cert, issuer, NID_subject_alt_name, san);
    ok = ok && X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Creates ca.crt, ca.key, tls.crt and tls.key in dir. */
static kumo_error create_certs(const char *dir, const char *host, kumo_diag *diag)
{
    char path[1100], san[512];
    EVP_PKEY *ca_key = EVP_EC_gen("P-256");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *ca = ca_key ? make_cert(ca_key, "kumo-ca", NULL, NULL, 3650, NULL) : NULL;
    int host_is_name = host[0] != '\0' && strcmp(host, "localhost") != 0 &&
                       strspn(host, "0123456789.:") != strlen(host);
    int host_is_ip = host[0] != '\0' && !host_is_name && strcmp(host, "127.0.0.1") != 0 &&
                     strcmp(host, "::1") != 0 && strcmp(host, "0.0.0.0") != 0 &&
                     strcmp(host, "::") != 0;
    snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
             host_is_name ? ",DNS:"
             : host_is_ip ? ",IP:"
                          : "",
             host_is_name || host_is_ip ? host : "");
    X509 *cert = ca && key ? make_cert(key, "kumod", ca, ca_key, 365, san) : NULL;
    kumo_error err = KUMO_ERROR_OK;
    if (cert == NULL)
        err = crypto_error(diag, "create the CA and serving certificate");
    const struct {
        const char *file;
        X509 *cert;
        EVP_PKEY *key;
    } files[] = {{"ca.key", NULL, ca_key},
                 {"ca.crt", ca, NULL},
                 {"tls.key", NULL, key},
                 {"tls.crt", cert, NULL}};
    for (size_t i = 0; i < 4 && err == KUMO_ERROR_OK; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].file);
        err = write_pem(path, files[i].cert, files[i].key, diag);
    }
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return err;
}

/* Reads a whole small file into buf (NUL-terminated); -1 when missing or too big. */
static long read_small(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    int too_big = !feof(f) && fgetc(f) != EOF;
    fclose(f);
    if (too_big)
        return -1;
    buf[n] = '\0';
    return (long)n;
}

static kumo_error load_token(const char *dir, char *token, size_t size, kumo_diag *diag)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/token", dir);
    if (read_small(path, token, size) == 64 && strspn(token, "0123456789abcdef") == 64)
        return KUMO_ERROR_OK;
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return crypto_error(diag, "make a bearer token");
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(token + 2 * i, size - 2 * i, "%02x", raw[i]);
    return write_file(path, token, 64, 0600, diag);
}

static kumo_error write_kubeconfig(const char *data_dir, const char *dir, const char *host,
                                   int port, int tls, const char *token, kumo_diag *diag)
{
    char path[1100], ca[8192];
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    long ca_len = read_small(path, ca, sizeof(ca));
    if (ca_len < 0)
        return kumo_diag_set(diag, KUMO_ERROR_IO, "cannot read %s", path);
    char ca64[11000];
    int n = EVP_EncodeBlock((unsigned char *)ca64, (const unsigned char *)ca, (int)ca_len);
    ca64[n < 0 ? 0 : n] = '\0';
    const char *server_host = strcmp(host, "0.0.0.0") == 0 || host[0] == '\0' ? "127.0.0.1"
                              : strcmp(host, "::") == 0                       ? "::1"
                                                                              : host;
    int v6 = strchr(server_host, ':') != NULL;
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    kubeapi_json_format(&out,
                        "apiVersion: v1\nkind: Config\nclusters:\n- name: kumo\n  cluster:\n"
                        "    server: %s://%s%s%s:%d\n",
                        tls ? "https" : "http", v6 ? "[" : "", server_host, v6 ? "]" : "", port);
    if (tls)
        kubeapi_json_format(&out, "    certificate-authority-data: %s\n", ca64);
    kubeapi_json_format(&out,
                        "users:\n- name: kumo\n  user:\n    token: %s\ncontexts:\n- name: kumo\n"
                        "  context:\n    cluster: kumo\n    user: kumo\n    namespace: default\n"
                        "current-context: kumo\npreferences: {}\n",
                        token);
    snprintf(path, sizeof(path), "%s/kubeconfig", data_dir);
    kumo_error err = write_file(path, out.data, out.len, 0600, diag);
    kumo_codec_buffer_fini(&out);
    return err;
}

static kumo_error make_ssl_ctx(const char *dir, SSL_CTX **out, kumo_diag *diag)
{
    char crt[1100], key[1100];
    snprintf(crt, sizeof(crt), "%s/tls.crt", dir);
    snprintf(key, sizeof(key), "%s/tls.key", dir);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return kumo_diag_set(diag, KUMO_ERROR_CRYPTO,
                             "cannot load %s and %s for the Kubernetes API; delete %s to have "
                             "new ones made",
                             crt, key, dir);
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    *out = ctx;
    return KUMO_ERROR_OK;
}

kumo_error kubeapi_certs_load(const char *data_dir, const char *host, int port, SSL_CTX **ssl_out,
                              char *token, size_t token_size, kumo_diag *diag)
{
    char dir[1050], path[1100];
    snprintf(dir, sizeof(dir), "%s/kubeapi", data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", errno, "cannot create %s: %s",
                                     dir, strerror(errno));
    snprintf(path, sizeof(path), "%s/tls.crt", dir);
    kumo_error err = KUMO_ERROR_OK;
    if (!file_exists(path))
        err = create_certs(dir, host, diag);
    if (err == KUMO_ERROR_OK)
        err = load_token(dir, token, token_size, diag);
    if (err == KUMO_ERROR_OK)
        err = write_kubeconfig(data_dir, dir, host, port, ssl_out != NULL, token, diag);
    if (err == KUMO_ERROR_OK && ssl_out != NULL)
        err = make_ssl_ctx(dir, ssl_out, diag);
    return err;
}
