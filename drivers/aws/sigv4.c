/*
 * sigv4.c - AWS Signature Version 4 for one request, as the AWS documentation
 * ("Create a signed AWS API request") defines it:
 *
 *   canonical request = METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n hex(sha256(body))
 *   string to sign    = AWS4-HMAC-SHA256 \n DATE \n SCOPE \n hex(sha256(canonical request))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, day), region), service), "aws4_request")
 *
 * Query keys and values are URI-encoded (RFC 3986 unreserved characters
 * kept) and sorted by key, then value; header names are lower case and
 * sorted, values trimmed with inner runs of blanks folded to one. The tests
 * compare every result with botocore's byte for byte.
 */
#include "drivers/aws/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

void aws_uri_encode(struct kumo_driver_kit_buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
            (keep_slash && *p == '/')) {
            kumo_driver_kit_buf_add(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            kumo_driver_kit_buf_add(b, e, 3);
        }
    }
}

static void hex_of(const unsigned char *digest, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(data, len, digest);
    hex_of(digest, sizeof(digest), out);
}

static void hmac(const void *key, size_t key_len, const char *data, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, strlen(data), out, &n);
}

/* One encoded key=value pair of the canonical query. */
struct pair {
    char *key;
    char *value;
};

static int pair_compare(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static char *encoded(const char *s)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    aws_uri_encode(&b, s, 0);
    kumo_driver_kit_buf_add(&b, "", 0);
    if (b.failed || b.data == NULL) {
        kumo_driver_kit_buf_fini(&b);
        return b.failed ? NULL : strdup("");
    }
    return b.data;
}

static int canonical_query(const struct aws_sign_input *in, struct kumo_driver_kit_buf *out)
{
    struct pair *pairs = calloc(in->query_count + 1, sizeof(*pairs));
    int failed = pairs == NULL;
    for (size_t i = 0; !failed && i < in->query_count; i++) {
        pairs[i].key = encoded(in->query[i].key);
        pairs[i].value = encoded(in->query[i].value);
        failed = pairs[i].key == NULL || pairs[i].value == NULL;
    }
    if (!failed)
        qsort(pairs, in->query_count, sizeof(*pairs), pair_compare);
    for (size_t i = 0; !failed && i < in->query_count; i++)
        kumo_driver_kit_buf_printf(out, "%s%s=%s", i ? "&" : "", pairs[i].key, pairs[i].value);
    for (size_t i = 0; pairs && i < in->query_count; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
    return failed ? -1 : 0;
}

/* A header to sign: its lower-case name and trimmed value. */
struct header {
    char name[64];
    const char *value;
};

static int header_compare(const void *a, const void *b)
{
    return strcmp(((const struct header *)a)->name, ((const struct header *)b)->name);
}

/* Appends value trimmed, with runs of blanks inside folded to one space. */
static void add_trimmed(struct kumo_driver_kit_buf *b, const char *value)
{
    int pending_space = 0, started = 0;
    for (const char *p = value; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f') {
            pending_space = started;
            continue;
        }
        if (pending_space)
            kumo_driver_kit_buf_add(b, " ", 1);
        pending_space = 0;
        started = 1;
        kumo_driver_kit_buf_add(b, p, 1);
    }
}

/* The canonical headers block and the signed header list. */
static int canonical_headers(const struct aws_sign_input *in, const char *amz_date,
                             struct kumo_driver_kit_buf *out, struct kumo_driver_kit_buf *signed_)
{
    size_t n = 0, cap = in->header_count + 3;
    struct header *h = calloc(cap, sizeof(*h));
    if (h == NULL)
        return -1;
    snprintf(h[n].name, sizeof(h[n].name), "host");
    h[n++].value = in->host;
    snprintf(h[n].name, sizeof(h[n].name), "x-amz-date");
    h[n++].value = amz_date;
    if (in->session_token && in->session_token[0]) {
        snprintf(h[n].name, sizeof(h[n].name), "x-amz-security-token");
        h[n++].value = in->session_token;
    }
    for (size_t i = 0; i < in->header_count; i++, n++) {
        size_t j = 0;
        for (const char *k = in->headers[i].key; *k && j + 1 < sizeof(h[n].name); k++)
            h[n].name[j++] = (char)tolower((unsigned char)*k);
        h[n].value = in->headers[i].value;
    }
    qsort(h, n, sizeof(*h), header_compare);
    for (size_t i = 0; i < n; i++) {
        kumo_driver_kit_buf_printf(out, "%s:", h[i].name);
        add_trimmed(out, h[i].value);
        kumo_driver_kit_buf_add(out, "\n", 1);
        kumo_driver_kit_buf_printf(signed_, "%s%s", i ? ";" : "", h[i].name);
    }
    free(h);
    return 0;
}

int aws_sigv4_sign(const struct aws_sign_input *in, char amz_date[17], char *authorization,
                   size_t authorization_size)
{
    struct tm tm;
    gmtime_r(&in->when, &tm);
    strftime(amz_date, 17, "%Y%m%dT%H%M%SZ", &tm);
    char day[9];
    memcpy(day, amz_date, 8);
    day[8] = '\0';

    struct kumo_driver_kit_buf cr, sh, sts;
    kumo_driver_kit_buf_init(&cr);
    kumo_driver_kit_buf_init(&sh);
    kumo_driver_kit_buf_init(&sts);
    kumo_driver_kit_buf_printf(&cr, "%s\n", in->method);
    aws_uri_encode(&cr, in->path && in->path[0] ? in->path : "/", 1);
    kumo_driver_kit_buf_add(&cr, "\n", 1);
    int rc = canonical_query(in, &cr);
    kumo_driver_kit_buf_add(&cr, "\n", 1);
    if (rc == 0)
        rc = canonical_headers(in, amz_date, &cr, &sh);
    kumo_driver_kit_buf_add(&sh, "", 0);
    char body_hash[65], cr_hash[65];
    sha256_hex(in->body ? in->body : "", in->body ? in->body_len : 0, body_hash);
    kumo_driver_kit_buf_printf(&cr, "\n%s\n%s", sh.data ? sh.data : "", body_hash);
    if (rc == 0 && !cr.failed && !sh.failed) {
        sha256_hex(cr.data, cr.len, cr_hash);
        kumo_driver_kit_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                                   amz_date, day, in->region, in->service, cr_hash);
    }
    rc = rc != 0 || cr.failed || sh.failed || sts.failed ? -1 : 0;
    if (rc == 0) {
        struct kumo_driver_kit_buf key;
        kumo_driver_kit_buf_init(&key);
        kumo_driver_kit_buf_printf(&key, "AWS4%s", in->secret_key);
        unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
        hmac(key.data ? key.data : "", key.len, day, k1);
        hmac(k1, 32, in->region, k2);
        hmac(k2, 32, in->service, k3);
        hmac(k3, 32, "aws4_request", k4);
        hmac(k4, 32, sts.data, sig);
        OPENSSL_cleanse(key.data, key.len);
        kumo_driver_kit_buf_fini(&key);
        char sig_hex[65];
        hex_of(sig, sizeof(sig), sig_hex);
        int n = snprintf(authorization, authorization_size,
                         "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                         "SignedHeaders=%s, Signature=%s",
                         in->access_key, day, in->region, in->service, sh.data, sig_hex);
        rc = n < 0 || (size_t)n >= authorization_size ? -1 : 0;
    }
    kumo_driver_kit_buf_fini(&cr);
    kumo_driver_kit_buf_fini(&sh);
    kumo_driver_kit_buf_fini(&sts);
    return rc;
}
