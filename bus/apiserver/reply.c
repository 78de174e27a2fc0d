/*
 * reply.c - how the apiserver answers: encode in the asked-for format, set
 * Kumo-Code and Content-Type, and never let a write-only field out.
 *
 * Every reply goes through apiserver_reply_bytes, so every reply carries
 * Kumo-Code; every object goes through apiserver_reply_object, which strips
 * Credential spec.data first.
 */
#include "bus/apiserver/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/log/log.h"

void apiserver_strip(const kumo_object_kind *kind, ProtobufCMessage *object)
{
    if (kind == NULL || !kind->write_only_spec || object == NULL)
        return;
    ProtobufCMessage *spec = kumo_object_spec(object);
    if (spec == NULL)
        return;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(spec->descriptor, "data");
    if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return;
    size_t *count = (size_t *)((char *)spec + f->quantifier_offset);
    ProtobufCMessage ***entries = (ProtobufCMessage ***)((char *)spec + f->offset);
    for (size_t i = 0; i < *count; i++)
        protobuf_c_message_free_unpacked((*entries)[i], NULL);
    free(*entries);
    *entries = NULL;
    *count = 0;
}

kumo_error apiserver_encode(const ProtobufCMessage *message, kumo_codec_format format,
                            kumo_codec_buffer *out, kumo_diag *diag)
{
    kumo_codec_buffer_reset(out);
    switch (format) {
    case KUMO_CODEC_FORMAT_PROTOBUF:
        return kumo_codec_protobuf_encode(message, out);
    case KUMO_CODEC_FORMAT_YAML:
        return kumo_codec_yaml_encode(message, out, diag);
    case KUMO_CODEC_FORMAT_JSON:
        break;
    }
    kumo_codec_encode_options options = {0};
    return kumo_codec_json_encode(message, &options, out, diag);
}

int apiserver_encode_status(const kumo_diag *diag, const kumo_object_kind *kind, const char *name,
                            kumo_codec_format format, kumo_codec_buffer *out)
{
    Kumo__V1alpha1__Status *status =
        kumo_protocol_status_from_diag(diag, kind ? kind->kind : NULL, name);
    kumo_error code = diag->code == KUMO_ERROR_OK ? KUMO_ERROR_INTERNAL : diag->code;
    int http = kumo_error_http_code(code);
    if (status != NULL && apiserver_encode(&status->base, format, out, NULL) == KUMO_ERROR_OK) {
        kumo_codec_message_free(&status->base);
        return http;
    }
    kumo_codec_message_free(status ? &status->base : NULL);
    /* Out of memory: a fixed JSON body still says what happened. */
    static const char fallback[] =
        "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":\"Failure\",\"code\":500,"
        "\"reason\":\"InternalError\",\"message\":\"out of memory\"}";
    kumo_codec_buffer_reset(out);
    kumo_codec_buffer_append(out, fallback, sizeof(fallback) - 1);
    return 500;
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

static void send_reply(apiserver_reply *r, int code, const void *data, size_t len,
                       kumo_codec_format format)
{
    char code_text[16];
    snprintf(code_text, sizeof(code_text), "%d", code);
    r->code = code;
    const char *headers[] = {KUMO_PROTOCOL_HEADER_CODE, code_text,
                             KUMO_PROTOCOL_HEADER_CONTENT_TYPE, kumo_protocol_content_type(format),
                             NULL};
    natsStatus st = apiserver_publish(r->worker->reply_conn, r->reply_subject, data, len, headers);
    if (st != NATS_OK)
        KUMO_LOG_WARN("apiserver", "cannot send a reply", "subject=%s code=%d error=\"%s\"",
                      r->reply_subject, code, natsStatus_GetText(st));
}

void apiserver_reply_bytes(apiserver_reply *r, int code, const void *data, size_t len)
{
    size_t max = apiserver_max_reply_bytes(r->server);
    if (len > max) {
        apiserver_reply_error(r, KUMO_ERROR_TOO_LARGE,
                              "the reply is %zu bytes, more than the NATS server's max_payload "
                              "allows (%zu); ask for fewer items (Kumo-Limit) or raise max_payload",
                              len, max);
        return;
    }
    send_reply(r, code, data, len, r->format);
}

void apiserver_reply_status(apiserver_reply *r, const kumo_diag *diag)
{
    kumo_codec_buffer *out = &r->worker->out;
    int code = apiserver_encode_status(diag, r->kind, r->name, r->format, out);
    if (code >= 500)
        KUMO_LOG_WARN("apiserver", "request failed", "subject=%s code=%d error=%s detail=\"%s\"",
                      r->reply_subject, code, kumo_error_name(diag->code), diag->message);
    /* A Status is small; it never needs the size check. */
    send_reply(r, code, out->data, out->len, r->format);
}

void apiserver_reply_error(apiserver_reply *r, kumo_error code, const char *fmt, ...)
{
    kumo_diag diag;
    kumo_diag_init(&diag);
    va_list ap;
    va_start(ap, fmt);
    kumo_diag_setv(&diag, code, fmt, ap);
    va_end(ap);
    apiserver_reply_status(r, &diag);
    kumo_diag_fini(&diag);
}

void apiserver_reply_object(apiserver_reply *r, int code, ProtobufCMessage *object)
{
    const kumo_object_kind *kind = kumo_object_kind_of(object->descriptor);
    apiserver_strip(kind, object);
    kumo_diag *diag = &r->worker->diag;
    kumo_diag_fini(diag);
    kumo_codec_buffer *out = &r->worker->out;
    if (apiserver_encode(object, r->format, out, diag) != KUMO_ERROR_OK) {
        kumo_object_destroy(object);
        apiserver_reply_status(r, diag);
        return;
    }
    kumo_object_destroy(object);
    apiserver_reply_bytes(r, code, out->data, out->len);
}
