/*
 * client.c - the connection, request/reply and the typed verbs of
 * docs/api.md §3.
 *
 * One natsConnection per client, reconnecting forever (every 200 ms with
 * jitter) once it has connected, with an 8 MiB buffer for requests made
 * while reconnecting. A request is natsConnection_RequestMsg with the
 * verb's parameters in headers; the reply's Kumo-Code says whether the body
 * is the result or a Status.
 *
 * Retries: "no responders" means nobody received the request (kumod is
 * restarting or not started), so any verb is retried for a short window; a
 * timeout is retried once for reads only, since a write may have happened.
 *
 * natsStatus is mapped to kumo_error here (client_nats_error) and nowhere
 * else in the client.
 */
#include "bus/client/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/log/log.h"

#define CLIENT_DEFAULT_URL        "nats://127.0.0.1:4222"
#define CLIENT_DEFAULT_TIMEOUT_MS 10000
/* How long a request that found no responders is retried (kumod restarting). */
#define CLIENT_NO_RESPONDERS_RETRY_MS 1000
#define CLIENT_RECONNECT_BUFFER       (8 * 1024 * 1024)

void client_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int64_t client_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *client_header(natsMsg *msg, const char *key)
{
    const char *value = NULL;
    if (natsMsgHeader_Get(msg, key, &value) != NATS_OK)
        return NULL;
    return value;
}

int64_t client_parse_revision(const char *text)
{
    if (text == NULL || text[0] == '\0')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return -1;
    return (int64_t)v;
}

kumo_error client_nats_error(const kumo_client *client, natsStatus status, const char *what,
                             kumo_diag *diag)
{
    const char *url = client ? client->url : "";
    kumo_error code;
    switch (status) {
    case NATS_OK:
        return KUMO_ERROR_OK;
    case NATS_NO_RESPONDERS:
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAVAILABLE, "nats", status,
                                     "no kumod is serving on %s (start it with kumod or "
                                     "hack/up.sh)",
                                     url);
    case NATS_TIMEOUT:
        return kumo_diag_set_foreign(diag, KUMO_ERROR_TIMEOUT, "nats", status,
                                     "%s: no answer from kumod on %s in time (is it overloaded, "
                                     "or is NATS reconnecting?)",
                                     what, url);
    case NATS_NO_MEMORY:
        return kumo_diag_set_foreign(diag, KUMO_ERROR_NOMEM, "nats", status, "out of memory");
    case NATS_MAX_PAYLOAD:
        return kumo_diag_set_foreign(diag, KUMO_ERROR_TOO_LARGE, "nats", status,
                                     "%s: the request is larger than the NATS server on %s "
                                     "accepts (max_payload)",
                                     what, url);
    case NATS_NOT_PERMITTED:
        return kumo_diag_set_foreign(diag, KUMO_ERROR_FORBIDDEN, "nats", status,
                                     "%s: the NATS server on %s does not permit this subject", what,
                                     url);
    case NATS_CONNECTION_AUTH_FAILED:
        return kumo_diag_set_foreign(diag, KUMO_ERROR_UNAUTHORIZED, "nats", status,
                                     "the NATS server on %s refused our credentials", url);
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_DRAINING:
        code = KUMO_ERROR_UNAVAILABLE;
        break;
    default:
        code = KUMO_ERROR_INTERNAL;
        break;
    }
    return kumo_diag_set_foreign(diag, code, "nats", status, "%s: NATS on %s: %s", what, url,
                                 natsStatus_GetText(status));
}

/* ---- connection ---------------------------------------------------------------- */

static void on_reconnected(natsConnection *conn, void *closure)
{
    (void)conn;
    kumo_client *client = closure;
    atomic_fetch_add(&client->reconnects, 1);
    KUMO_LOG_DEBUG("client", "reconnected to NATS", "url=%s", client->url);
}

static void on_disconnected(natsConnection *conn, void *closure)
{
    (void)conn;
    kumo_client *client = closure;
    KUMO_LOG_DEBUG("client", "disconnected from NATS; reconnecting", "url=%s", client->url);
}

static void on_closed(natsConnection *conn, void *closure)
{
    (void)conn;
    kumo_client *client = closure;
    pthread_mutex_lock(&client->lock);
    client->closed = 1;
    pthread_cond_broadcast(&client->closed_cond);
    pthread_mutex_unlock(&client->lock);
}

static void on_async_error(natsConnection *conn, natsSubscription *sub, natsStatus err,
                           void *closure)
{
    (void)conn;
    (void)sub;
    kumo_client *client = closure;
    /* A slow watch drops messages; its continuity check catches up. */
    KUMO_LOG_DEBUG("client", "asynchronous NATS error", "url=%s error=\"%s\"", client->url,
                   natsStatus_GetText(err));
}

kumo_error kumo_client_connect(const kumo_client_options *options, kumo_client **out,
                               kumo_diag *diag)
{
    kumo_client_options defaults = {0};
    const kumo_client_options *o = options ? options : &defaults;
    *out = NULL;
    const char *url = o->url;
    if (url == NULL || url[0] == '\0')
        url = getenv("KUMO_NATS_URL");
    if (url == NULL || url[0] == '\0')
        url = CLIENT_DEFAULT_URL;

    kumo_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    snprintf(c->url, sizeof(c->url), "%s", url);
    snprintf(c->prefix, sizeof(c->prefix), "%s",
             o->prefix && o->prefix[0] ? o->prefix : KUMO_PROTOCOL_DEFAULT_PREFIX);
    c->format = o->format == KUMO_CODEC_FORMAT_PROTOBUF ? KUMO_CODEC_FORMAT_PROTOBUF
                                                        : KUMO_CODEC_FORMAT_JSON;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    atomic_init(&c->reconnects, 0);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->closed_cond, NULL);

    natsOptions *nopts = NULL;
    natsStatus s = natsOptions_Create(&nopts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(nopts, c->url);
    if (s == NATS_OK)
        s = natsOptions_SetName(nopts, o->name && o->name[0] ? o->name : "kumo-client");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(nopts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(nopts, 200);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectJitter(nopts, 100, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(nopts, CLIENT_RECONNECT_BUFFER);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(nopts, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(nopts, 10000);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(nopts, on_reconnected, c);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(nopts, on_disconnected, c);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(nopts, on_closed, c);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(nopts, on_async_error, c);
    if (s != NATS_OK) {
        kumo_error e = client_nats_error(c, s, "setting up the NATS connection", diag);
        natsOptions_Destroy(nopts);
        pthread_cond_destroy(&c->closed_cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return e;
    }
    s = natsConnection_Connect(&c->conn, nopts);
    natsOptions_Destroy(nopts);
    if (s != NATS_OK) {
        kumo_diag_set_foreign(diag, s == NATS_NO_MEMORY ? KUMO_ERROR_NOMEM : KUMO_ERROR_UNAVAILABLE,
                              "nats", s,
                              "cannot reach NATS at %s (%s): is kumod running? Start it with "
                              "kumod or hack/up.sh, or point --server / KUMO_NATS_URL at the NATS "
                              "server kumod uses",
                              c->url, natsStatus_GetText(s));
        pthread_cond_destroy(&c->closed_cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return diag ? diag->code : KUMO_ERROR_UNAVAILABLE;
    }
    *out = c;
    return KUMO_ERROR_OK;
}

void kumo_client_destroy(kumo_client *client)
{
    if (client == NULL)
        return;
    client_watches_stop_all(client);
    /* NATS runs our callbacks on its own thread, after Close returns; the closed callback
     * comes last, so wait for it before freeing what the callbacks use. */
    natsConnection_Close(client->conn);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&client->lock);
    while (!client->closed)
        if (pthread_cond_timedwait(&client->closed_cond, &client->lock, &until) != 0)
            break;
    int closed = client->closed;
    pthread_mutex_unlock(&client->lock);
    natsConnection_Destroy(client->conn);
    if (!closed) {
        /* Never seen; leaking the handle beats a callback into freed memory. */
        KUMO_LOG_WARN("client", "NATS did not confirm the close; leaking the client handle",
                      "url=%s", client->url);
        return;
    }
    pthread_cond_destroy(&client->closed_cond);
    pthread_mutex_destroy(&client->lock);
    free(client);
}

const char *kumo_client_url(const kumo_client *client)
{
    return client->url;
}

/* ---- requests ---------------------------------------------------------------- */

kumo_error client_request_new(const kumo_client *client, kumo_protocol_verb verb,
                              const kumo_object_kind *kind, const char *ns, const char *reply,
                              const void *body, size_t len, const char *content_type, natsMsg **out,
                              kumo_diag *diag)
{
    char subject[512];
    *out = NULL;
    if (kumo_protocol_api_subject(client->prefix, verb, kind, ns, subject, sizeof(subject)) >=
        sizeof(subject))
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "subject too long for %s", ns);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subject, reply, body, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, KUMO_PROTOCOL_HEADER_CONTENT_TYPE,
                              content_type ? content_type
                                           : kumo_protocol_content_type(client->format));
    if (s == NATS_OK && content_type != NULL)
        s = natsMsgHeader_Set(msg, KUMO_PROTOCOL_HEADER_ACCEPT,
                              kumo_protocol_content_type(client->format));
    if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        return client_nats_error(client, s, "building a request", diag);
    }
    *out = msg;
    return KUMO_ERROR_OK;
}

static kumo_error error_of_http(int code)
{
    switch (code) {
    case 400:
        return KUMO_ERROR_INVALID_ARGUMENT;
    case 401:
        return KUMO_ERROR_UNAUTHORIZED;
    case 403:
        return KUMO_ERROR_FORBIDDEN;
    case 404:
        return KUMO_ERROR_NOT_FOUND;
    case 409:
        return KUMO_ERROR_CONFLICT;
    case 410:
        return KUMO_ERROR_GONE;
    case 413:
        return KUMO_ERROR_TOO_LARGE;
    case 415:
        return KUMO_ERROR_UNSUPPORTED;
    case 422:
        return KUMO_ERROR_INVALID;
    case 429:
        return KUMO_ERROR_THROTTLED;
    case 503:
        return KUMO_ERROR_UNAVAILABLE;
    case 504:
        return KUMO_ERROR_TIMEOUT;
    default:
        return KUMO_ERROR_INTERNAL;
    }
}

static kumo_error decode_body(const ProtobufCMessageDescriptor *descriptor,
                              kumo_codec_format format, const char *data, size_t len,
                              ProtobufCMessage **out, kumo_diag *diag)
{
    kumo_codec_decode_options lenient = {1, 0, 0};
    if (format == KUMO_CODEC_FORMAT_PROTOBUF)
        return kumo_codec_protobuf_decode(descriptor, (const uint8_t *)data, len, &lenient, out,
                                          diag);
    return kumo_codec_json_decode(descriptor, data, len, &lenient, out, diag);
}

kumo_error client_reply_decode(const kumo_client *client, natsMsg *reply,
                               const ProtobufCMessageDescriptor *descriptor, ProtobufCMessage **out,
                               int *code_out, kumo_diag *diag)
{
    if (out)
        *out = NULL;
    const char *code_text = client_header(reply, KUMO_PROTOCOL_HEADER_CODE);
    int64_t code = client_parse_revision(code_text);
    if (code < 0)
        code = 200;
    if (code_out)
        *code_out = (int)code;
    kumo_codec_format format = client->format;
    const char *content_type = client_header(reply, KUMO_PROTOCOL_HEADER_CONTENT_TYPE);
    if (content_type && kumo_protocol_format_of(content_type, &format, NULL) != KUMO_ERROR_OK)
        format = client->format;
    const char *data = natsMsg_GetData(reply);
    size_t len = (size_t)natsMsg_GetDataLength(reply);
    if (code >= 400) {
        ProtobufCMessage *status = NULL;
        kumo_diag ignored;
        kumo_diag_init(&ignored);
        kumo_error e;
        if (len > 0 && decode_body(&kumo__v1alpha1__status__descriptor, format, data, len, &status,
                                   &ignored) == KUMO_ERROR_OK) {
            e = kumo_protocol_status_to_diag((const Kumo__V1alpha1__Status *)status, diag);
            if (diag && diag->message[0] == '\0')
                kumo_diag_set(diag, e, "kumod answered %d %s", (int)code, kumo_error_text(e));
        } else {
            e = kumo_diag_set(diag, error_of_http((int)code), "kumod answered %d %s", (int)code,
                              kumo_error_text(error_of_http((int)code)));
        }
        if (diag) {
            diag->foreign_where = "http";
            diag->foreign_code = code;
        }
        kumo_codec_message_free(status);
        kumo_diag_fini(&ignored);
        return e == KUMO_ERROR_OK ? KUMO_ERROR_INTERNAL : e;
    }
    if (out == NULL || descriptor == NULL)
        return KUMO_ERROR_OK;
    kumo_error e = decode_body(descriptor, format, data, len, out, diag);
    if (e != KUMO_ERROR_OK && diag) {
        char message[sizeof(diag->message)];
        snprintf(message, sizeof(message), "%s", diag->message);
        kumo_diag_set(diag, e, "cannot decode kumod's %s reply: %s", kumo_codec_format_name(format),
                      message);
    }
    return e;
}

static int verb_is_read(kumo_protocol_verb verb)
{
    return verb == KUMO_PROTOCOL_VERB_GET || verb == KUMO_PROTOCOL_VERB_LIST ||
           verb == KUMO_PROTOCOL_VERB_LIST_ALL || verb == KUMO_PROTOCOL_VERB_WATCH ||
           verb == KUMO_PROTOCOL_VERB_WATCH_ALL;
}

/* Sends `request` and waits for the reply, retrying as the file header says. */
static kumo_error roundtrip(kumo_client *client, kumo_protocol_verb verb, natsMsg *request,
                            natsMsg **reply, kumo_diag *diag)
{
    int64_t give_up = client_now_ms() + CLIENT_NO_RESPONDERS_RETRY_MS;
    int timeouts = 0, pause = 50;
    char what[160];
    snprintf(what, sizeof(what), "%s on %s", kumo_protocol_verb_token(verb),
             natsMsg_GetSubject(request));
    for (;;) {
        natsStatus s = natsConnection_RequestMsg(reply, client->conn, request, client->timeout_ms);
        if (s == NATS_OK)
            return KUMO_ERROR_OK;
        *reply = NULL;
        if ((s == NATS_NO_RESPONDERS || s == NATS_INSUFFICIENT_BUFFER) &&
            client_now_ms() < give_up) {
            client_sleep_ms(pause);
            pause = pause * 2 > 400 ? 400 : pause * 2;
            continue;
        }
        if (s == NATS_TIMEOUT && verb_is_read(verb) && timeouts++ == 0)
            continue;
        return client_nats_error(client, s, what, diag);
    }
}

natsStatus client_params_apply(natsMsg *msg, const client_params *p)
{
    natsStatus s = NATS_OK;
    char limit[32];
    struct {
        const char *key, *value;
    } headers[] = {
        {KUMO_PROTOCOL_HEADER_NAME, p->name},
        {KUMO_PROTOCOL_HEADER_RESOURCE_VERSION, p->resource_version},
        {KUMO_PROTOCOL_HEADER_UID, p->uid},
        {KUMO_PROTOCOL_HEADER_PROPAGATION, p->propagation},
        {KUMO_PROTOCOL_HEADER_LABEL_SELECTOR, p->label_selector},
        {KUMO_PROTOCOL_HEADER_FIELD_SELECTOR, p->field_selector},
        {KUMO_PROTOCOL_HEADER_LIMIT, NULL},
        {KUMO_PROTOCOL_HEADER_CONTINUE, p->continue_token},
    };
    if (p->limit > 0) {
        snprintf(limit, sizeof(limit), "%d", p->limit);
        headers[6].value = limit;
    }
    for (size_t i = 0; s == NATS_OK && i < sizeof(headers) / sizeof(headers[0]); i++)
        if (headers[i].value && headers[i].value[0])
            s = natsMsgHeader_Set(msg, headers[i].key, headers[i].value);
    return s;
}

/* One verb: request, roundtrip, decode the reply as `descriptor`. */
static kumo_error call(kumo_client *client, kumo_protocol_verb verb, const kumo_object_kind *kind,
                       const char *ns, const client_params *params, const void *body, size_t len,
                       const char *content_type, const ProtobufCMessageDescriptor *descriptor,
                       ProtobufCMessage **out, int *code_out, kumo_diag *diag)
{
    natsMsg *request = NULL, *reply = NULL;
    kumo_error e =
        client_request_new(client, verb, kind, ns, NULL, body, len, content_type, &request, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    natsStatus s = params ? client_params_apply(request, params) : NATS_OK;
    if (s != NATS_OK)
        e = client_nats_error(client, s, "building a request", diag);
    if (e == KUMO_ERROR_OK)
        e = roundtrip(client, verb, request, &reply, diag);
    if (e == KUMO_ERROR_OK)
        e = client_reply_decode(client, reply, descriptor, out, code_out, diag);
    natsMsg_Destroy(request);
    natsMsg_Destroy(reply);
    return e;
}

static const kumo_object_kind *kind_of_object(const ProtobufCMessage *object, kumo_diag *diag)
{
    const kumo_object_kind *kind = object ? kumo_object_kind_of(object->descriptor) : NULL;
    if (kind == NULL || kind->descriptor != object->descriptor)
        kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                      "%s is not a kumo object (expected one of the kinds of %s)",
                      object ? object->descriptor->name : "NULL", KUMO_API_VERSION);
    return kind && kind->descriptor == object->descriptor ? kind : NULL;
}

/* create, update, status and apply: the object is the body. */
static kumo_error object_call(kumo_client *client, kumo_protocol_verb verb,
                              const ProtobufCMessage *object, ProtobufCMessage **out, int *code_out,
                              kumo_diag *diag)
{
    if (out)
        *out = NULL;
    const kumo_object_kind *kind = kind_of_object(object, diag);
    if (kind == NULL)
        return KUMO_ERROR_INVALID_ARGUMENT;
    kumo_codec_buffer body;
    kumo_codec_buffer_init(&body);
    kumo_error e = client->format == KUMO_CODEC_FORMAT_PROTOBUF
                       ? kumo_codec_protobuf_encode(object, &body)
                       : kumo_codec_json_encode(object, NULL, &body, diag);
    if (e != KUMO_ERROR_OK && diag && diag->code != e)
        kumo_diag_set(diag, e, "cannot encode %s \"%s\"", kind->kind, kumo_object_name(object));
    ProtobufCMessage *result = NULL;
    if (e == KUMO_ERROR_OK)
        e = call(client, verb, kind, kumo_object_namespace(object), NULL, body.data, body.len, NULL,
                 kind->descriptor, out ? &result : NULL, code_out, diag);
    kumo_codec_buffer_fini(&body);
    if (out)
        *out = result;
    else
        kumo_object_destroy(result);
    return e;
}

kumo_error kumo_client_create(kumo_client *client, const ProtobufCMessage *object,
                              ProtobufCMessage **out, kumo_diag *diag)
{
    return object_call(client, KUMO_PROTOCOL_VERB_CREATE, object, out, NULL, diag);
}

kumo_error kumo_client_update(kumo_client *client, const ProtobufCMessage *object,
                              ProtobufCMessage **out, kumo_diag *diag)
{
    return object_call(client, KUMO_PROTOCOL_VERB_UPDATE, object, out, NULL, diag);
}

kumo_error kumo_client_update_status(kumo_client *client, const ProtobufCMessage *object,
                                     ProtobufCMessage **out, kumo_diag *diag)
{
    return object_call(client, KUMO_PROTOCOL_VERB_UPDATE_STATUS, object, out, NULL, diag);
}

kumo_error kumo_client_apply(kumo_client *client, const ProtobufCMessage *object,
                             ProtobufCMessage **out, int *created, kumo_diag *diag)
{
    int code = 0;
    kumo_error e = object_call(client, KUMO_PROTOCOL_VERB_APPLY, object, out, &code, diag);
    if (created)
        *created = e == KUMO_ERROR_OK && code == 201;
    return e;
}

static kumo_error check_name(const kumo_object_kind *kind, const char *name, kumo_diag *diag)
{
    if (kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "no kind given");
    if (name == NULL || name[0] == '\0')
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "no %s name given", kind->kind);
    return KUMO_ERROR_OK;
}

kumo_error kumo_client_get(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                           const char *name, ProtobufCMessage **out, kumo_diag *diag)
{
    *out = NULL;
    kumo_error e = check_name(kind, name, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    client_params p = {.name = name};
    return call(client, KUMO_PROTOCOL_VERB_GET, kind, ns, &p, NULL, 0, NULL, kind->descriptor, out,
                NULL, diag);
}

kumo_error kumo_client_patch(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                             const char *name, const char *patch, ProtobufCMessage **out,
                             kumo_diag *diag)
{
    if (out)
        *out = NULL;
    kumo_error e = check_name(kind, name, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    client_params p = {.name = name};
    ProtobufCMessage *result = NULL;
    e = call(client, KUMO_PROTOCOL_VERB_PATCH, kind, ns, &p, patch, patch ? strlen(patch) : 0,
             KUMO_PROTOCOL_CONTENT_MERGE_PATCH, kind->descriptor, &result, NULL, diag);
    if (out)
        *out = result;
    else
        kumo_object_destroy(result);
    return e;
}

kumo_error kumo_client_delete(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                              const char *name, const kumo_client_delete_options *options,
                              ProtobufCMessage **out, kumo_diag *diag)
{
    if (out)
        *out = NULL;
    kumo_error e = check_name(kind, name, diag);
    if (e != KUMO_ERROR_OK)
        return e;
    client_params p = {.name = name};
    if (options) {
        p.uid = options->uid;
        p.resource_version = options->resource_version;
        p.propagation = options->orphan ? "Orphan" : NULL;
    }
    ProtobufCMessage *result = NULL;
    e = call(client, KUMO_PROTOCOL_VERB_DELETE, kind, ns, &p, NULL, 0, NULL, kind->descriptor,
             &result, NULL, diag);
    if (out)
        *out = result;
    else
        kumo_object_destroy(result);
    return e;
}

kumo_error kumo_client_list(kumo_client *client, const kumo_object_kind *kind, const char *ns,
                            const kumo_client_list_options *options, ProtobufCMessage **out,
                            kumo_diag *diag)
{
    *out = NULL;
    if (kind == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "no kind given");
    client_params p = {0};
    if (options) {
        p.label_selector = options->label_selector;
        p.field_selector = options->field_selector;
        p.limit = options->limit;
        p.continue_token = options->continue_token;
    }
    int all = ns == NULL || ns[0] == '\0';
    return call(client, all ? KUMO_PROTOCOL_VERB_LIST_ALL : KUMO_PROTOCOL_VERB_LIST, kind, ns, &p,
                NULL, 0, NULL, kind->list_descriptor, out, NULL, diag);
}

/* ---- list messages, generically ------------------------------------------------- */

ProtobufCMessage **client_list_items(const ProtobufCMessage *list, size_t *count)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "items");
    *count = 0;
    if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    *count = *(const size_t *)((const char *)list + f->quantifier_offset);
    return *(ProtobufCMessage ***)((const char *)list + f->offset);
}

void client_list_forget_items(ProtobufCMessage *list)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "items");
    if (f != NULL && f->label == PROTOBUF_C_LABEL_REPEATED)
        *(size_t *)((char *)list + f->quantifier_offset) = 0;
}

const Kumo__V1alpha1__ListMeta *client_list_meta(const ProtobufCMessage *list)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "metadata");
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
        f->descriptor != &kumo__v1alpha1__list_meta__descriptor)
        return NULL;
    return *(const Kumo__V1alpha1__ListMeta **)((const char *)list + f->offset);
}

natsStatus kumo_client_nats_connect(const char *url, const char *user, const char *password,
                                    const char *name, natsConnection **out)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK && user)
        s = natsOptions_SetUserInfo(o, user, password);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, name);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 200);
    if (s == NATS_OK)
        s = natsConnection_Connect(out, o);
    natsOptions_Destroy(o);
    return s;
}
