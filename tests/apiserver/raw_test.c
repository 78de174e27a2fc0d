/*
 * raw_test.c - kumo driven by a NATS client written right here: the NATS text
 * protocol over a TCP socket (INFO, CONNECT, SUB, PUB, HPUB, MSG, HMSG, PING,
 * PONG), no kumo library and no nats.c, following docs/api.md only. This is
 * what any language's NATS client does.
 */
#define _GNU_SOURCE /* memmem */
#include "tests/apiserver/helper.h"
#include "tests/harness/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct raw_conn {
    int fd;
    char in[1 << 20];
    size_t len;
} raw_conn;

typedef struct raw_msg {
    char subject[256];
    int sid;
    char headers[4096]; /* "NATS/1.0\r\nKey: value\r\n..." */
    char body[1 << 16];
    size_t body_len;
} raw_msg;

static int raw_send(raw_conn *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(c->fd, data, len);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int raw_printf(raw_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int raw_printf(raw_conn *c, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof(buf) ? -1 : raw_send(c, buf, (size_t)n);
}

/* Reads until `want` bytes are buffered (or a timeout). */
static int raw_fill(raw_conn *c, size_t want, int timeout_ms)
{
    while (c->len < want) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) != 1)
            return -1;
        ssize_t n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
    }
    return 0;
}

/* Takes one "\r\n"-terminated line into line (without the CRLF). */
static int raw_line(raw_conn *c, char *line, size_t size, int timeout_ms)
{
    for (;;) {
        char *end = memmem(c->in, c->len, "\r\n", 2);
        if (end != NULL) {
            size_t n = (size_t)(end - c->in);
            snprintf(line, size, "%.*s", (int)n, c->in);
            memmove(c->in, end + 2, c->len - n - 2);
            c->len -= n + 2;
            return 0;
        }
        if (raw_fill(c, c->len + 1, timeout_ms) != 0)
            return -1;
    }
}

static int raw_take(raw_conn *c, char *out, size_t n, int timeout_ms)
{
    if (raw_fill(c, n + 2, timeout_ms) != 0)
        return -1;
    memcpy(out, c->in, n);
    memmove(c->in, c->in + n + 2, c->len - n - 2); /* the payload's CRLF */
    c->len -= n + 2;
    return 0;
}

/*
 * Waits for the next MSG or HMSG, answering the server's PINGs. Returns 0 and
 * fills msg, or -1 on timeout/error. A PONG sets *pong when pong != NULL.
 */
static int raw_next(raw_conn *c, raw_msg *msg, int *pong, int timeout_ms)
{
    char line[1024];
    while (raw_line(c, line, sizeof(line), timeout_ms) == 0) {
        if (strcmp(line, "PING") == 0) {
            raw_printf(c, "PONG\r\n");
            continue;
        }
        if (strcmp(line, "PONG") == 0) {
            if (pong != NULL) {
                *pong = 1;
                return -1;
            }
            continue;
        }
        if (strncmp(line, "+OK", 3) == 0 || strncmp(line, "INFO", 4) == 0)
            continue;
        if (strncmp(line, "-ERR", 4) == 0) {
            fprintf(stderr, "server: %s\n", line);
            return -1;
        }
        memset(msg, 0, sizeof(*msg));
        char *tok[6];
        int n = 0;
        for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < 6;
             t = strtok_r(NULL, " ", &save))
            tok[n++] = t;
        size_t header_len = 0, total = 0;
        if (strcmp(tok[0], "MSG") == 0 && (n == 4 || n == 5)) {
            total = strtoul(tok[n - 1], NULL, 10);
        } else if (strcmp(tok[0], "HMSG") == 0 && (n == 5 || n == 6)) {
            header_len = strtoul(tok[n - 2], NULL, 10);
            total = strtoul(tok[n - 1], NULL, 10);
        } else {
            return -1;
        }
        snprintf(msg->subject, sizeof(msg->subject), "%s", tok[1]);
        msg->sid = (int)strtol(tok[2], NULL, 10);
        if (total > sizeof(msg->body) + sizeof(msg->headers) || header_len >= sizeof(msg->headers))
            return -1;
        char *payload = malloc(total + 1);
        if (payload == NULL || raw_take(c, payload, total, timeout_ms) != 0) {
            free(payload);
            return -1;
        }
        memcpy(msg->headers, payload, header_len);
        msg->body_len = total - header_len;
        if (msg->body_len >= sizeof(msg->body))
            msg->body_len = sizeof(msg->body) - 1;
        memcpy(msg->body, payload + header_len, msg->body_len);
        free(payload);
        return 0;
    }
    return -1;
}

static const char *raw_header(const raw_msg *m, const char *key, char *buf, size_t size)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\r\n%s: ", key);
    const char *p = strstr(m->headers, needle);
    if (p == NULL)
        return NULL;
    p += strlen(needle);
    const char *end = strstr(p, "\r\n");
    snprintf(buf, size, "%.*s", (int)(end ? end - p : (long)strlen(p)), p);
    return buf;
}

static int raw_connect(raw_conn *c, int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        return -1;
    char line[4096];
    if (raw_line(c, line, sizeof(line), 2000) != 0 || strncmp(line, "INFO ", 5) != 0)
        return -1;
    if (strstr(line, "\"headers\":true") == NULL)
        return -1;
    raw_printf(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                  "\"no_responders\":true,\"name\":\"raw-test\",\"lang\":\"c-raw\","
                  "\"version\":\"0\",\"protocol\":1}\r\nPING\r\n");
    int pong = 0;
    raw_msg unused;
    raw_next(c, &unused, &pong, 2000);
    return pong ? 0 : -1;
}

/* HPUB subject reply with headers "Key: value" lines (may be NULL) and a body. */
static int raw_hpub(raw_conn *c, const char *subject, const char *reply, const char *headers,
                    const char *body)
{
    char head[2048];
    int hlen = snprintf(head, sizeof(head), "NATS/1.0\r\n%s\r\n", headers ? headers : "");
    size_t blen = strlen(body);
    return raw_printf(c, "HPUB %s %s %d %zu\r\n", subject, reply, hlen, (size_t)hlen + blen) ||
           raw_send(c, head, (size_t)hlen) || raw_send(c, body, blen) || raw_send(c, "\r\n", 2);
}

/* Waits for the reply on sid 1 (the inbox), skipping events on other sids into *event. */
static int raw_reply(raw_conn *c, raw_msg *reply, raw_msg *event, int *events_seen)
{
    for (;;) {
        raw_msg m;
        if (raw_next(c, &m, NULL, 5000) != 0)
            return -1;
        if (m.sid == 1) {
            *reply = m;
            return 0;
        }
        if (m.sid == 2) {
            *event = m;
            (*events_seen)++;
        }
    }
}

KUMO_TEST(raw_tcp_client)
{
    api_env env;
    api_env_start(&env, NULL);
    raw_conn *c = calloc(1, sizeof(*c));
    raw_msg *reply = calloc(1, sizeof(*reply)), *event = calloc(1, sizeof(*event));
    int events = 0;
    KUMO_REQUIRE_INT_EQ(raw_connect(c, kumo_natsd_port(env.natsd)), 0);
    raw_printf(c, "SUB _INBOX.raw.1 1\r\n");
    raw_printf(c, "SUB kumo.v1.events.connections.default.* 2\r\n");
    char h[128], rv[32];

    /* create, JSON, through HPUB with a Content-Type header */
    const char *body = "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\","
                       "\"metadata\":{\"name\":\"raw\",\"namespace\":\"default\"},"
                       "\"spec\":{\"driver\":\"sim\",\"provider\":\"aws\",\"region\":"
                       "\"us-east-1\"}}";
    KUMO_REQUIRE_INT_EQ(raw_hpub(c, "kumo.v1.api.create.connections.default", "_INBOX.raw.1",
                                 "Content-Type: application/json\r\n", body),
                        0);
    KUMO_REQUIRE_INT_EQ(raw_reply(c, reply, event, &events), 0);
    KUMO_EXPECT_STR_EQ(raw_header(reply, "Kumo-Code", h, sizeof(h)), "201");
    KUMO_EXPECT_CONTAINS(reply->body, "\"uid\":\"");
    KUMO_REQUIRE_PTR_NONNULL(api_json_string(reply->body, "resourceVersion", rv, sizeof(rv)));

    /* get with Kumo-Name */
    KUMO_REQUIRE_INT_EQ(raw_hpub(c, "kumo.v1.api.get.connections.default", "_INBOX.raw.1",
                                 "Kumo-Name: raw\r\n", ""),
                        0);
    KUMO_REQUIRE_INT_EQ(raw_reply(c, reply, event, &events), 0);
    KUMO_EXPECT_STR_EQ(raw_header(reply, "Kumo-Code", h, sizeof(h)), "200");
    KUMO_EXPECT_CONTAINS(reply->body, "\"name\":\"raw\"");

    /* list with plain PUB (no headers at all): JSON is the default */
    raw_printf(c, "PUB kumo.v1.api.list.connections.default _INBOX.raw.1 0\r\n\r\n");
    KUMO_REQUIRE_INT_EQ(raw_reply(c, reply, event, &events), 0);
    KUMO_EXPECT_STR_EQ(raw_header(reply, "Kumo-Code", h, sizeof(h)), "200");
    KUMO_EXPECT_CONTAINS(reply->body, "\"kind\":\"ConnectionList\"");

    /* a failure is a Status */
    KUMO_REQUIRE_INT_EQ(raw_hpub(c, "kumo.v1.api.get.connections.default", "_INBOX.raw.1",
                                 "Kumo-Name: nothing-here\r\n", ""),
                        0);
    KUMO_REQUIRE_INT_EQ(raw_reply(c, reply, event, &events), 0);
    KUMO_EXPECT_STR_EQ(raw_header(reply, "Kumo-Code", h, sizeof(h)), "404");
    KUMO_EXPECT_CONTAINS(reply->body, "\"reason\":\"NotFound\"");

    /* the event of the create, with its revision */
    if (events == 0) {
        raw_msg m;
        if (raw_next(c, &m, NULL, 3000) == 0 && m.sid == 2) {
            *event = m;
            events++;
        }
    }
    KUMO_EXPECT_INT_EQ(events, 1);
    KUMO_EXPECT_STR_EQ(event->subject, "kumo.v1.events.connections.default.raw");
    KUMO_EXPECT_STR_EQ(raw_header(event, "Kumo-Revision", h, sizeof(h)), rv);
    KUMO_EXPECT_CONTAINS(event->body, "\"type\":\"ADDED\"");

    /* watch catch-up from 0 */
    KUMO_REQUIRE_INT_EQ(raw_hpub(c, "kumo.v1.api.watch.connections.default", "_INBOX.raw.1",
                                 "Kumo-Resource-Version: 0\r\n", ""),
                        0);
    KUMO_REQUIRE_INT_EQ(raw_reply(c, reply, event, &events), 0);
    KUMO_EXPECT_CONTAINS(reply->body, "\"kind\":\"EventList\"");
    KUMO_EXPECT_CONTAINS(reply->body, "\"name\":\"raw\"");

    /* PING/PONG still fine: the connection is healthy */
    raw_printf(c, "PING\r\n");
    int pong = 0;
    raw_msg m;
    while (!pong && raw_next(c, &m, &pong, 2000) == 0)
        ;
    KUMO_EXPECT(pong);
    close(c->fd);
    free(c);
    free(reply);
    free(event);
    api_env_stop(&env);
}
