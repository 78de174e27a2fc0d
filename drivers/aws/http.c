/*
 * http.c - one signed EC2 Query call over libcurl.
 *
 * Handles are pooled per connection: a call takes an idle handle (or makes
 * one), so connections to the endpoint are reused with HTTP/1.1 keep-alive,
 * and gives it back afterwards. Each call is bounded by its deadline
 * (CURLOPT_TIMEOUT_MS); a call whose deadline has passed is not sent. A
 * transport failure after the request went out (a timeout, a connection
 * closed without a reply) leaves the outcome unknown: TIMEOUT or UNAVAILABLE,
 * and the caller retries with the same token. Calls that change something
 * never reuse a connection (see aws_call), so libcurl cannot resend them.
 */
#include "drivers/aws/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#define REPLY_LIMIT (64u << 20) /* bytes; DescribeInstanceTypes pages are ~1 MiB */

static CURL *handle_take(struct kumo_driver_conn *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->idle_count > 0)
        h = c->idle[--c->idle_count];
    pthread_mutex_unlock(&c->mu);
    return h ? h : curl_easy_init();
}

static void handle_give(struct kumo_driver_conn *c, CURL *h, int reusable)
{
    if (!reusable) {
        curl_easy_cleanup(h);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (c->idle_count == c->idle_cap) {
        size_t cap = c->idle_cap ? 2 * c->idle_cap : 8;
        void **grown = realloc(c->idle, cap * sizeof(*grown));
        if (grown != NULL) {
            c->idle = grown;
            c->idle_cap = cap;
        }
    }
    if (c->idle_count < c->idle_cap) {
        c->idle[c->idle_count++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (h != NULL)
        curl_easy_cleanup(h);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct kumo_driver_kit_buf *b = arg;
    if (b->len + size * n > REPLY_LIMIT)
        return 0;
    kumo_driver_kit_buf_add(b, data, size * n);
    return b->failed ? 0 : size * n;
}

/* The API's name, for messages. */
static const char *api_of(const struct aws_params *p)
{
    return p->elb ? "ELBv2" : "EC2";
}

/* The action's name, for messages. */
static const char *action_of(const struct aws_params *p)
{
    return p->count > 0 ? p->items[0].value : "?";
}

/* Fills diag from an error reply (<Response><Errors><Error><Code>...). */
static kumo_driver_code error_reply(struct kumo_driver_conn *c, const struct aws_params *params,
                                    const char *what, long status, const char *body, size_t len,
                                    struct kumo_driver_diag *diag)
{
    xmlDocPtr doc = len > 0
                        ? xmlReadMemory(body, (int)len, "reply.xml", NULL,
                                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                        : NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr err = root ? aws_xml_find(root, "Error") : NULL;
    const char *code = err ? aws_xml_text(err, "Code") : "";
    const char *message = err ? aws_xml_text(err, "Message") : "";
    char fallback[32];
    if (code[0] == '\0') {
        snprintf(fallback, sizeof(fallback), "HTTP%ld", status);
        code = fallback;
    }
    kumo_driver_code rc = aws_error_code(code, status);
    kumo_driver_kit_fail(diag, rc, code, "%s %s in %s (%s): %s: %s", api_of(params),
                         action_of(params), c->region, what, code,
                         message[0] ? message : "no message");
    if (rc == KUMO_DRIVER_THROTTLED && diag)
        diag->retry_after_ms = 1000;
    if (doc)
        xmlFreeDoc(doc);
    atomic_fetch_add(&c->errors, 1);
    if (rc == KUMO_DRIVER_THROTTLED)
        atomic_fetch_add(&c->throttled, 1);
    if (aws_host->log_enabled(aws_host->ctx, KUMO_DRIVER_LOG_DEBUG))
        aws_log(KUMO_DRIVER_LOG_DEBUG, "%s: HTTP %ld %s", action_of(params), status, code);
    return rc;
}

/* Headers for one request: date, token, signature. NULL on failure. */
static struct curl_slist *signed_headers(struct kumo_driver_conn *c, int elb,
                                         const struct kumo_driver_kit_buf *body)
{
    static const char content_type[] = "application/x-www-form-urlencoded; charset=utf-8";
    struct kumo_driver_kv extra[] = {{"Content-Type", content_type}};
    struct aws_sign_input in = {.method = "POST",
                                .host = elb ? c->elb_host : c->host,
                                .path = "/",
                                .headers = extra,
                                .header_count = 1,
                                .body = body->data,
                                .body_len = body->len,
                                .region = c->region,
                                .service = elb ? "elasticloadbalancing" : "ec2",
                                .access_key = c->access_key,
                                .secret_key = c->secret_key,
                                .session_token = c->session_token,
                                .when =
                                    (time_t)(aws_host->realtime_ns(aws_host->ctx) / 1000000000)};
    char date[17], auth[1024], line[1200];
    if (aws_sigv4_sign(&in, date, auth, sizeof(auth)) != 0)
        return NULL;
    struct curl_slist *h = NULL, *next;
    snprintf(line, sizeof(line), "Content-Type: %s", content_type);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "X-Amz-Date: %s", date);
    next = h ? curl_slist_append(h, line) : NULL;
    if (next && c->session_token && c->session_token[0]) {
        struct kumo_driver_kit_buf t;
        kumo_driver_kit_buf_init(&t);
        kumo_driver_kit_buf_printf(&t, "X-Amz-Security-Token: %s", c->session_token);
        next = t.failed ? NULL : curl_slist_append(next, t.data);
        kumo_driver_kit_buf_fini(&t);
    }
    snprintf(line, sizeof(line), "Authorization: %s", auth);
    next = next ? curl_slist_append(next, line) : NULL;
    next = next ? curl_slist_append(next, "Expect:") : NULL;
    if (next == NULL)
        curl_slist_free_all(h);
    return next ? h : NULL;
}

static kumo_driver_code transport_failed(struct kumo_driver_conn *c,
                                         const struct aws_params *params, const char *what,
                                         CURLcode cc, const char *errbuf,
                                         struct kumo_driver_diag *diag)
{
    atomic_fetch_add(&c->errors, 1);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
                                    "%s %s in %s (%s): no reply before the deadline (%s); the "
                                    "request may have been applied",
                                    api_of(params), action_of(params), c->region, what, errbuf);
    int sent = cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_PARTIAL_FILE;
    return kumo_driver_kit_fail(
        diag, KUMO_DRIVER_UNAVAILABLE, "ConnectionError", "%s %s in %s (%s): %s (%s) at %s%s",
        api_of(params), action_of(params), c->region, what, curl_easy_strerror(cc), errbuf,
        params->elb ? c->elb_url : c->url, sent ? "; the request may have been applied" : "");
}

kumo_driver_code aws_call(struct kumo_driver_conn *c, const struct aws_params *params,
                          const char *what, int64_t deadline_ns, struct aws_reply *reply,
                          struct kumo_driver_diag *diag)
{
    memset(reply, 0, sizeof(*reply));
    int64_t left_ms = deadline_ns == KUMO_DRIVER_NO_DEADLINE
                          ? 0
                          : (deadline_ns - aws_host->monotonic_ns(aws_host->ctx)) / 1000000;
    if (deadline_ns != KUMO_DRIVER_NO_DEADLINE && left_ms <= 0)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
                                    "%s %s in %s (%s): the deadline passed before the call",
                                    api_of(params), action_of(params), c->region, what);
    struct kumo_driver_kit_buf body, got;
    kumo_driver_kit_buf_init(&body);
    kumo_driver_kit_buf_init(&got);
    struct curl_slist *headers = NULL;
    CURL *h = NULL;
    kumo_driver_code rc = KUMO_DRIVER_NOMEM;
    if (aws_params_encode(params, &body) != 0 ||
        (headers = signed_headers(c, params->elb, &body)) == NULL || (h = handle_take(c)) == NULL) {
        kumo_driver_kit_fail(diag, rc, "", "%s %s: out of memory", api_of(params),
                             action_of(params));
        goto done;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, params->elb ? c->elb_url : c->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data ? body.data : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kumo-driver-aws/1");
    /* libcurl resends a request once, silently, when a reused connection closes without a
     * reply. A resent RunInstances is a second instance wherever ClientToken is not honoured,
     * so calls that change something go on a fresh connection: a lost reply is reported. */
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT,
                     (long)(strncmp(action_of(params), "Describe", 8) != 0));
    atomic_fetch_add(&c->calls, 1);
    atomic_fetch_add(&c->bytes_sent, (long)body.len);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        rc = transport_failed(c, params, what, cc, errbuf, diag);
    } else if (status < 200 || status >= 300) {
        rc = error_reply(c, params, what, status, got.data, got.len, diag);
    } else {
        reply->doc = got.len ? xmlReadMemory(got.data, (int)got.len, "reply.xml", NULL,
                                             XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                 XML_PARSE_NOWARNING | XML_PARSE_HUGE)
                             : NULL;
        reply->root = reply->doc ? xmlDocGetRootElement(reply->doc) : NULL;
        rc = reply->root ? KUMO_DRIVER_OK
                         : kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "MalformedReply",
                                                "%s %s in %s (%s): the reply is not XML (HTTP "
                                                "%ld, %zu bytes)",
                                                api_of(params), action_of(params), c->region, what,
                                                status, got.len);
        if (rc != KUMO_DRIVER_OK)
            aws_reply_free(reply);
    }
    handle_give(c, h, cc == CURLE_OK);
done:
    curl_slist_free_all(headers);
    kumo_driver_kit_buf_fini(&body);
    kumo_driver_kit_buf_fini(&got);
    return rc;
}

kumo_driver_code aws_call_plain(struct kumo_driver_conn *c, struct aws_params *params,
                                const char *what, int64_t deadline_ns,
                                struct kumo_driver_diag *diag)
{
    struct aws_reply r;
    kumo_driver_code rc = params->failed
                              ? kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "out of memory")
                              : aws_call(c, params, what, deadline_ns, &r, diag);
    aws_params_fini(params);
    if (rc == KUMO_DRIVER_OK)
        aws_reply_free(&r);
    return rc;
}
