/*
 * verbs.c - the NATS adapter: one request message -> kumo_apiserver_request
 * -> kumo_apiserver_call -> one reply message with Kumo-Code.
 *
 * Only what is NATS's own lives here: the reply subject (none: dropped),
 * Content-Type and Accept headers (415), the subject (400 malformed, 404
 * unknown resource, 422 bad namespace), the parameter headers, and the
 * reply size limit (max_payload). Everything else is call.c's.
 */
#include "bus/apiserver/internal.h"

#include <stdio.h>
#include <string.h>

#include "apis/log/log.h"
#include "apis/metrics/metrics.h"

const char *apiserver_header(natsMsg *msg, const char *key)
{
    const char *value = NULL;
    if (natsMsgHeader_Get(msg, key, &value) != NATS_OK)
        return NULL;
    return value;
}

natsStatus apiserver_publish(natsConnection *conn, const char *subject, const void *data,
                             size_t len, const char *const *headers)
{
    natsMsg *m = NULL;
    natsStatus st = natsMsg_Create(&m, subject, NULL, (const char *)data, (int)len);
    for (int i = 0; st == NATS_OK && headers != NULL && headers[i] != NULL; i += 2)
        st = natsMsgHeader_Set(m, headers[i], headers[i + 1]);
    if (st == NATS_OK)
        st = natsConnection_PublishMsg(conn, m);
    natsMsg_Destroy(m);
    return st;
}

static void send_reply(apiserver_worker *w, const char *reply_subject,
                       const kumo_apiserver_response *resp)
{
    char code_text[16];
    snprintf(code_text, sizeof(code_text), "%d", resp->code);
    const char *headers[] = {KUMO_PROTOCOL_HEADER_CODE, code_text,
                             KUMO_PROTOCOL_HEADER_CONTENT_TYPE,
                             kumo_protocol_content_type(resp->format), NULL};
    natsStatus st =
        apiserver_publish(w->reply_conn, reply_subject, resp->body.data, resp->body.len, headers);
    if (st != NATS_OK)
        KUMO_LOG_WARN("apiserver", "cannot send a reply", "subject=%s code=%d error=\"%s\"",
                      reply_subject, resp->code, natsStatus_GetText(st));
}

/* Answers a request the adapter itself refuses (headers, subject) with diag's Status. */
static void refuse(apiserver_worker *w, const char *reply_subject, kumo_codec_format format)
{
    kumo_apiserver_response *resp = &w->response;
    resp->code = kumo_apiserver_status_encode(&resp->diag, NULL, NULL, format, &resp->body);
    resp->format = format;
    send_reply(w, reply_subject, resp);
}

void apiserver_serve(apiserver_worker *worker, natsMsg *msg)
{
    kumo_apiserver *s = worker->server;
    const char *reply_subject = natsMsg_GetReply(msg);
    if (reply_subject == NULL || reply_subject[0] == '\0') {
        KUMO_LOG_DEBUG("apiserver", "request without a reply subject dropped", "subject=%s",
                       natsMsg_GetSubject(msg));
        natsMsg_Destroy(msg);
        return;
    }
    double started = kumo_metrics_now();
    kumo_apiserver_response *resp = &worker->response;
    kumo_apiserver_response_reset(resp);
    kumo_diag *diag = &resp->diag;
    kumo_codec_format in_format, out_format;
    kumo_protocol_api_request subject = {.verb = KUMO_PROTOCOL_VERB_COUNT_};
    int refused = 1;
    const char *accept = apiserver_header(msg, KUMO_PROTOCOL_HEADER_ACCEPT);
    if (kumo_protocol_format_of(apiserver_header(msg, KUMO_PROTOCOL_HEADER_CONTENT_TYPE),
                                &in_format, diag) != KUMO_ERROR_OK) {
        refuse(worker, reply_subject, KUMO_CODEC_FORMAT_JSON);
        goto done;
    }
    out_format = in_format;
    if (accept != NULL && accept[0] != '\0' && strcmp(accept, "*/*") != 0 &&
        kumo_protocol_format_of(accept, &out_format, diag) != KUMO_ERROR_OK) {
        refuse(worker, reply_subject, KUMO_CODEC_FORMAT_JSON);
        goto done;
    }
    if (kumo_protocol_api_subject_parse(s->prefix, natsMsg_GetSubject(msg), &subject, diag) !=
        KUMO_ERROR_OK) {
        refuse(worker, reply_subject, out_format);
        goto done;
    }
    kumo_apiserver_request req = {
        .verb = subject.verb,
        .kind = subject.kind,
        .ns = subject.ns,
        .name = apiserver_header(msg, KUMO_PROTOCOL_HEADER_NAME),
        .resource_version = apiserver_header(msg, KUMO_PROTOCOL_HEADER_RESOURCE_VERSION),
        .uid = apiserver_header(msg, KUMO_PROTOCOL_HEADER_UID),
        .propagation = apiserver_header(msg, KUMO_PROTOCOL_HEADER_PROPAGATION),
        .label_selector = apiserver_header(msg, KUMO_PROTOCOL_HEADER_LABEL_SELECTOR),
        .field_selector = apiserver_header(msg, KUMO_PROTOCOL_HEADER_FIELD_SELECTOR),
        .limit = apiserver_header(msg, KUMO_PROTOCOL_HEADER_LIMIT),
        .continue_token = apiserver_header(msg, KUMO_PROTOCOL_HEADER_CONTINUE),
        .body = natsMsg_GetData(msg),
        .body_len = (size_t)natsMsg_GetDataLength(msg),
        .body_format = in_format,
        .reply_format = out_format,
        .max_reply_bytes = apiserver_max_reply_bytes(s),
        /* kumo's own apply replaces what it names: it records kumoctl as the
         * manager and takes over fields others own (docs/kubeapi.md) */
        .field_manager = KUMO_APISERVER_DEFAULT_MANAGER,
        .force = 1,
    };
    kumo_apiserver_call(s->store, &req, resp);
    refused = 0;
    send_reply(worker, reply_subject, resp);
done:
    if (refused) /* the verbs count themselves (call.c) */
        apiserver_metrics_request(subject.verb, subject.kind, resp->code,
                                  kumo_metrics_now() - started);
    kumo_apiserver_response_reset(resp);
    natsMsg_Destroy(msg);
}
