/*
 * reply.c - how a request is answered, whatever the transport: encode in the
 * asked-for format, record the code, and never let a write-only field out.
 *
 * Every object goes through apiserver_reply_object, which strips Credential
 * spec.data first (also from the copy kubectl's client-side apply keeps in
 * the last-applied-configuration annotation); every encoded reply goes through
 * apiserver_reply_body, which enforces the transport's reply size limit.
 */
#include "bus/apiserver/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/log/log.h"

#define LAST_APPLIED_ANNOTATION "kubectl.kubernetes.io/last-applied-configuration"

/* The annotation's JSON without spec.data; "" when it cannot be read (never the secret). */
static void strip_last_applied(char **text)
{
    static const char no_data[] = "{\"spec\":{\"data\":null}}";
    kumo_codec_decode_options options = {.lenient = 0, .max_bytes = APISERVER_MAX_REQUEST_BYTES};
    kumo_value *applied = NULL, *patch = NULL;
    kumo_codec_buffer out;
    kumo_codec_buffer_init(&out);
    int ok = kumo_codec_value_parse_json(*text, strlen(*text), &options, &applied, NULL) ==
                 KUMO_ERROR_OK &&
             kumo_codec_value_parse_json(no_data, strlen(no_data), &options, &patch, NULL) ==
                 KUMO_ERROR_OK &&
             kumo_codec_value_merge_patch(&applied, patch, NULL) == KUMO_ERROR_OK &&
             kumo_codec_value_to_json(applied, 0, &out) == KUMO_ERROR_OK &&
             kumo_codec_buffer_append(&out, "\n", 2) == KUMO_ERROR_OK; /* with its NUL */
    if (kumo_codec_string_set(text, ok ? out.data : "") != KUMO_ERROR_OK && (*text)[0] != '\0')
        (*text)[0] = '\0';
    kumo_codec_value_destroy(applied);
    kumo_codec_value_destroy(patch);
    kumo_codec_buffer_fini(&out);
}

/* Removes annotation `key`; returns its value (caller frees) when `keep`, else NULL. */
static char *annotation_take(ProtobufCMessage *object, const char *key, int keep)
{
    Kumo__V1alpha1__ObjectMeta *m = object ? kumo_object_meta(object) : NULL;
    for (size_t i = 0; m != NULL && i < m->n_annotations; i++) {
        if (strcmp(m->annotations[i]->key, key) != 0)
            continue;
        char *value = keep ? strdup(m->annotations[i]->value) : NULL;
        protobuf_c_message_free_unpacked(&m->annotations[i]->base, NULL);
        memmove(&m->annotations[i], &m->annotations[i + 1],
                (m->n_annotations - i - 1) * sizeof(m->annotations[0]));
        m->n_annotations--;
        return value;
    }
    return NULL;
}

void kumo_apiserver_strip(const kumo_object_kind *kind, ProtobufCMessage *object)
{
    annotation_take(object, KUMO_APISERVER_MANAGED_ANNOTATION, 0);
    if (kind == NULL || !kind->write_only_spec || object == NULL)
        return;
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    for (size_t i = 0; meta != NULL && i < meta->n_annotations; i++)
        if (strcmp(meta->annotations[i]->key, LAST_APPLIED_ANNOTATION) == 0)
            strip_last_applied(&meta->annotations[i]->value);
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

int kumo_apiserver_status_encode(const kumo_diag *diag, const kumo_object_kind *kind,
                                 const char *name, kumo_codec_format format, kumo_codec_buffer *out)
{
    Kumo__V1alpha1__Status *status =
        kumo_protocol_status_from_diag(diag, kind ? kind->kind : NULL, name);
    kumo_error code = diag->code == KUMO_ERROR_OK ? KUMO_ERROR_INTERNAL : diag->code;
    int http = kumo_error_http_code(code);
    /* the causes of a Conflict are fields another manager owns (managed.c) */
    for (size_t i = 0; code == KUMO_ERROR_CONFLICT && status != NULL && status->details != NULL &&
                       i < status->details->n_causes && i < diag->cause_count;
         i++) {
        kumo_codec_string_set(&status->details->causes[i]->reason, "FieldManagerConflict");
        kumo_codec_string_set(&status->details->causes[i]->message, diag->causes[i].message);
    }
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

void apiserver_reply_body(apiserver_reply *r, int code)
{
    size_t max = r->req->max_reply_bytes;
    if (max > 0 && r->resp->body.len > max) {
        size_t len = r->resp->body.len;
        apiserver_reply_error(r, KUMO_ERROR_TOO_LARGE,
                              "the reply is %zu bytes, more than the NATS server's max_payload "
                              "allows (%zu); ask for fewer items (Kumo-Limit) or raise max_payload",
                              len, max);
        return;
    }
    r->resp->code = code;
    r->resp->format = r->req->reply_format;
}

void apiserver_reply_status(apiserver_reply *r, const kumo_diag *diag)
{
    kumo_apiserver_response *resp = r->resp;
    int code = apiserver_encode_status(diag, r->kind, r->name, r->req->reply_format, &resp->body);
    if (code >= 500)
        KUMO_LOG_WARN("apiserver", "request failed", "resource=%s code=%d error=%s detail=\"%s\"",
                      r->kind ? r->kind->plural : "", code, kumo_error_name(diag->code),
                      diag->message);
    if (diag != &resp->diag) {
        kumo_diag_fini(&resp->diag);
        resp->diag.code = diag->code;
        snprintf(resp->diag.message, sizeof(resp->diag.message), "%s", diag->message);
    }
    /* A Status is small; it never needs the size check. */
    resp->code = code;
    resp->format = r->req->reply_format;
}

void apiserver_reply_error(apiserver_reply *r, kumo_error code, const char *fmt, ...)
{
    kumo_diag *diag = &r->resp->diag;
    kumo_diag_fini(diag);
    va_list ap;
    va_start(ap, fmt);
    kumo_diag_setv(diag, code, fmt, ap);
    va_end(ap);
    apiserver_reply_status(r, diag);
}

/* Puts "managedFields":<entries> first in the encoded object's metadata. */
static void show_managed_fields(kumo_codec_buffer *body, const char *entries)
{
    static const char meta[] = "\"metadata\":{";
    char *at = NULL;
    for (size_t i = 0; at == NULL && body->data != NULL && i + sizeof(meta) - 1 <= body->len; i++)
        if (memcmp(body->data + i, meta, sizeof(meta) - 1) == 0)
            at = body->data + i;
    if (at == NULL || entries == NULL || entries[0] != '[')
        return;
    size_t offset = (size_t)(at - body->data) + sizeof(meta) - 1, n = strlen(entries);
    kumo_codec_buffer rest;
    kumo_codec_buffer_init(&rest);
    if (kumo_codec_buffer_append(&rest, body->data + offset, body->len - offset) == KUMO_ERROR_OK) {
        body->len = offset;
        kumo_codec_buffer_append(body, "\"managedFields\":", 16);
        kumo_codec_buffer_append(body, entries, entries[n - 1] == '\n' ? n - 1 : n);
        kumo_codec_buffer_append(body, rest.data[0] == '}' ? "" : ",", rest.data[0] == '}' ? 0 : 1);
        kumo_codec_buffer_append(body, rest.data, rest.len);
    }
    kumo_codec_buffer_fini(&rest);
}

void apiserver_reply_object(apiserver_reply *r, int code, ProtobufCMessage *object)
{
    const kumo_object_kind *kind = kumo_object_kind_of(object->descriptor);
    int show = r->req->managed_fields && r->req->reply_format == KUMO_CODEC_FORMAT_JSON &&
               !r->req->objects;
    char *managed = annotation_take(object, KUMO_APISERVER_MANAGED_ANNOTATION, show);
    apiserver_strip(kind, object);
    kumo_apiserver_response *resp = r->resp;
    if (r->req->objects) {
        resp->object = object;
        resp->code = code;
        resp->format = r->req->reply_format;
        return;
    }
    kumo_diag_fini(&resp->diag);
    if (apiserver_encode(object, r->req->reply_format, &resp->body, &resp->diag) != KUMO_ERROR_OK) {
        kumo_object_destroy(object);
        free(managed);
        apiserver_reply_status(r, &resp->diag);
        return;
    }
    kumo_object_destroy(object);
    show_managed_fields(&resp->body, managed);
    free(managed);
    apiserver_reply_body(r, code);
}
