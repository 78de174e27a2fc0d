/*
 * verbs.c - one API request: subject and headers -> one store call -> reply.
 *
 * Order of checks, so that every request gets the most useful Status:
 * reply subject (none: dropped), Content-Type and Accept (415), subject
 * (400 malformed, 404 unknown resource, 422 bad namespace), body size (413,
 * before any decoding), then the verb's own headers and body. Decoding is
 * strict (unknown fields are errors) and bounded by the 16 MiB request limit.
 */
#include "bus/apiserver/internal.h"

#include <errno.h>
#include <stdlib.h>
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

int apiserver_parse_u64(const char *text, uint64_t *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* The string field `name` ("api_version", "kind") of a message, or "". */
static const char *string_field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return "";
    const char *v = *(const char *const *)((const char *)m + f->offset);
    return v ? v : "";
}

kumo_error apiserver_decode_object(kumo_apiserver *s, const char *data, size_t len,
                                   kumo_codec_format format, const kumo_object_kind *kind,
                                   const char *ns, ProtobufCMessage **out, kumo_diag *diag)
{
    *out = NULL;
    if (len == 0)
        return kumo_diag_set(diag, KUMO_ERROR_PARSE,
                             "the request has no body: send the %s as JSON (or protobuf with "
                             "Content-Type: application/protobuf)",
                             kind->kind);
    kumo_codec_decode_options options = {.lenient = 0, .max_bytes = s->max_request_bytes};
    kumo_error err = kumo_object_decode(kind, data, len, format, &options, out, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    const char *body_kind = string_field(*out, "kind");
    const char *api_version = string_field(*out, "api_version");
    if (body_kind[0] != '\0' && strcmp(body_kind, kind->kind) != 0) {
        err = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                            "the body is a %s but the subject names %s: send it to the subject "
                            "of its own resource",
                            body_kind, kind->plural);
    } else if (api_version[0] != '\0' && strcmp(api_version, KUMO_API_VERSION) != 0) {
        char message[1024];
        kumo_diag_add_cause(diag, KUMO_CAUSE_UNSUPPORTED, "apiVersion", api_version,
                            "supported values: \"%s\"", KUMO_API_VERSION);
        kumo_diag_format_invalid(diag, kind->kind, kumo_object_name(*out), message,
                                 sizeof(message));
        err = kumo_diag_set(diag, KUMO_ERROR_INVALID, "%s", message);
    } else {
        Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta_ensure(*out);
        if (meta == NULL)
            err = KUMO_ERROR_NOMEM;
        else if (meta->namespace_ == NULL || meta->namespace_[0] == '\0')
            err = kumo_codec_string_set(&meta->namespace_, ns);
        else if (strcmp(meta->namespace_, ns) != 0)
            err = kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                "the namespace of the %s (\"%s\") does not match the namespace "
                                "of the subject (\"%s\")",
                                kind->kind, meta->namespace_, ns);
        if (err == KUMO_ERROR_NOMEM)
            kumo_diag_set(diag, err, "out of memory");
    }
    if (err != KUMO_ERROR_OK) {
        kumo_object_destroy(*out);
        *out = NULL;
    }
    return err;
}

/* The Kumo-Name header, required by get, patch and delete. */
static const char *required_name(apiserver_reply *r, natsMsg *msg, const char *verb)
{
    const char *name = apiserver_header(msg, KUMO_PROTOCOL_HEADER_NAME);
    if (name == NULL || name[0] == '\0') {
        apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                              "the %s verb needs the object's name in the %s header", verb,
                              KUMO_PROTOCOL_HEADER_NAME);
        return NULL;
    }
    r->name = name;
    return name;
}

typedef enum write_verb { WRITE_CREATE, WRITE_UPDATE, WRITE_STATUS, WRITE_APPLY } write_verb;

static void serve_write(apiserver_reply *r, natsMsg *msg, kumo_codec_format format,
                        const kumo_protocol_api_request *req, write_verb verb)
{
    kumo_apiserver *s = r->server;
    kumo_diag *diag = &r->worker->diag;
    ProtobufCMessage *object = NULL;
    if (apiserver_decode_object(s, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), format,
                                req->kind, req->ns, &object, diag) != KUMO_ERROR_OK) {
        apiserver_reply_status(r, diag);
        return;
    }
    char name[254];
    snprintf(name, sizeof(name), "%s", kumo_object_name(object));
    r->name = name;
    ProtobufCMessage *stored = NULL;
    int created = 0;
    kumo_error err = KUMO_ERROR_OK;
    switch (verb) {
    case WRITE_CREATE:
        err = kumo_store_create(s->store, object, &stored, NULL, diag);
        created = 1;
        break;
    case WRITE_UPDATE:
        err = kumo_store_update(s->store, object, &stored, NULL, diag);
        break;
    case WRITE_STATUS:
        err = kumo_store_update_status(s->store, object, &stored, NULL, diag);
        break;
    case WRITE_APPLY:
        err = kumo_store_apply(s->store, object, &stored, NULL, &created, diag);
        break;
    }
    kumo_object_destroy(object);
    if (err != KUMO_ERROR_OK) {
        kumo_object_destroy(stored);
        apiserver_reply_status(r, diag);
        return;
    }
    apiserver_reply_object(r, created ? 201 : 200, stored);
}

static void serve_get(apiserver_reply *r, natsMsg *msg, const kumo_protocol_api_request *req)
{
    const char *name = required_name(r, msg, "get");
    if (name == NULL)
        return;
    ProtobufCMessage *object = NULL;
    kumo_diag *diag = &r->worker->diag;
    if (kumo_store_get(r->server->store, req->kind, req->ns, name, &object, NULL, diag) !=
        KUMO_ERROR_OK) {
        apiserver_reply_status(r, diag);
        return;
    }
    apiserver_reply_object(r, 200, object);
}

static void serve_patch(apiserver_reply *r, natsMsg *msg, kumo_codec_format format,
                        const kumo_protocol_api_request *req)
{
    const char *name = required_name(r, msg, "patch");
    if (name == NULL)
        return;
    if (format != KUMO_CODEC_FORMAT_JSON) {
        apiserver_reply_error(r, KUMO_ERROR_UNSUPPORTED,
                              "a patch is a JSON merge patch: send it with Content-Type: %s",
                              KUMO_PROTOCOL_CONTENT_MERGE_PATCH);
        return;
    }
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    if (len == 0) {
        apiserver_reply_error(r, KUMO_ERROR_PARSE,
                              "the patch request has no body: send a JSON merge patch");
        return;
    }
    ProtobufCMessage *object = NULL;
    kumo_diag *diag = &r->worker->diag;
    if (kumo_store_patch(r->server->store, req->kind, req->ns, name, data, len, 0, &object, NULL,
                         diag) != KUMO_ERROR_OK) {
        kumo_object_destroy(object);
        apiserver_reply_status(r, diag);
        return;
    }
    apiserver_reply_object(r, 200, object);
}

static void serve_delete(apiserver_reply *r, natsMsg *msg, const kumo_protocol_api_request *req)
{
    const char *name = required_name(r, msg, "delete");
    if (name == NULL)
        return;
    kumo_store_delete_options options = {
        .uid = apiserver_header(msg, KUMO_PROTOCOL_HEADER_UID),
        .resource_version = apiserver_header(msg, KUMO_PROTOCOL_HEADER_RESOURCE_VERSION),
        .propagation = KUMO_STORE_PROPAGATION_BACKGROUND,
    };
    uint64_t unused;
    if (options.resource_version != NULL && options.resource_version[0] != '\0' &&
        apiserver_parse_u64(options.resource_version, &unused) != 0) {
        apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                              "%s \"%s\" is not a revision (a decimal number)",
                              KUMO_PROTOCOL_HEADER_RESOURCE_VERSION, options.resource_version);
        return;
    }
    const char *policy = apiserver_header(msg, KUMO_PROTOCOL_HEADER_PROPAGATION);
    if (policy != NULL && policy[0] != '\0' && strcmp(policy, "Background") != 0) {
        if (strcmp(policy, "Orphan") != 0) {
            apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                                  "%s \"%s\" is not supported: use Background or Orphan",
                                  KUMO_PROTOCOL_HEADER_PROPAGATION, policy);
            return;
        }
        options.propagation = KUMO_STORE_PROPAGATION_ORPHAN;
    }
    ProtobufCMessage *object = NULL;
    kumo_diag *diag = &r->worker->diag;
    if (kumo_store_delete(r->server->store, req->kind, req->ns, name, &options, &object, NULL,
                          diag) != KUMO_ERROR_OK) {
        kumo_object_destroy(object);
        apiserver_reply_status(r, diag);
        return;
    }
    apiserver_reply_object(r, 200, object);
}

/* Sets a field of a message by name to a pointer value (strings, sub-messages). */
static void set_pointer_field(ProtobufCMessage *m, const char *name, void *value)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (f != NULL)
        *(void **)((char *)m + f->offset) = value;
}

/*
 * Encodes a <Kind>List around the result's items (borrowed) into out.
 */
static kumo_error encode_list(const kumo_object_kind *kind, const kumo_store_list_result *result,
                              kumo_codec_format format, kumo_codec_buffer *out, kumo_diag *diag)
{
    const ProtobufCMessageDescriptor *desc = kind->list_descriptor;
    ProtobufCMessage *list = calloc(1, desc->sizeof_message);
    if (list == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    protobuf_c_message_init(desc, list);
    char kind_name[80], revision[32];
    snprintf(kind_name, sizeof(kind_name), "%sList", kind->kind);
    snprintf(revision, sizeof(revision), "%lld", (long long)result->revision);
    Kumo__V1alpha1__ListMeta meta;
    kumo__v1alpha1__list_meta__init(&meta);
    meta.resource_version = revision;
    meta.continue_ = result->continue_token ? result->continue_token : "";
    set_pointer_field(list, "api_version", (void *)KUMO_API_VERSION);
    set_pointer_field(list, "kind", kind_name);
    set_pointer_field(list, "metadata", &meta);
    const ProtobufCFieldDescriptor *items =
        protobuf_c_message_descriptor_get_field_by_name(desc, "items");
    if (items != NULL) {
        *(size_t *)((char *)list + items->quantifier_offset) = result->count;
        *(ProtobufCMessage ***)((char *)list + items->offset) = result->items;
    }
    kumo_error err = apiserver_encode(list, format, out, diag);
    free(list); /* every pointer in it was borrowed */
    return err;
}

/* Parses Kumo-Limit into a page size (default and cap applied). */
static int page_size(apiserver_reply *r, natsMsg *msg, size_t *out)
{
    const char *text = apiserver_header(msg, KUMO_PROTOCOL_HEADER_LIMIT);
    uint64_t limit = 0;
    if (text != NULL && text[0] != '\0' && apiserver_parse_u64(text, &limit) != 0) {
        apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                              "%s \"%s\" is not a page size (a non-negative number)",
                              KUMO_PROTOCOL_HEADER_LIMIT, text);
        return -1;
    }
    if (limit == 0)
        limit = APISERVER_DEFAULT_PAGE;
    *out = limit > APISERVER_MAX_PAGE ? APISERVER_MAX_PAGE : (size_t)limit;
    return 0;
}

static void serve_list(apiserver_reply *r, natsMsg *msg, const kumo_protocol_api_request *req)
{
    kumo_apiserver *s = r->server;
    kumo_diag *diag = &r->worker->diag;
    size_t limit;
    if (page_size(r, msg, &limit) != 0)
        return;
    kumo_store_list_options options = {
        .namespace_ = req->verb == KUMO_PROTOCOL_VERB_LIST ? req->ns : NULL,
        .label_selector = apiserver_header(msg, KUMO_PROTOCOL_HEADER_LABEL_SELECTOR),
        .field_selector = apiserver_header(msg, KUMO_PROTOCOL_HEADER_FIELD_SELECTOR),
        .continue_token = apiserver_header(msg, KUMO_PROTOCOL_HEADER_CONTINUE),
    };
    size_t max_reply = apiserver_max_reply_bytes(s);
    for (;;) {
        options.limit = limit;
        kumo_store_list_result result;
        memset(&result, 0, sizeof(result));
        if (kumo_store_list(s->store, req->kind, &options, &result, diag) != KUMO_ERROR_OK) {
            kumo_store_list_result_fini(&result);
            apiserver_reply_status(r, diag);
            return;
        }
        for (size_t i = 0; i < result.count; i++)
            apiserver_strip(req->kind, result.items[i]);
        kumo_error err = encode_list(req->kind, &result, r->format, &r->worker->out, diag);
        size_t count = result.count;
        kumo_store_list_result_fini(&result);
        if (err != KUMO_ERROR_OK) {
            apiserver_reply_status(r, diag);
            return;
        }
        if (r->worker->out.len <= max_reply) {
            apiserver_reply_bytes(r, 200, r->worker->out.data, r->worker->out.len);
            return;
        }
        if (count <= 1) {
            apiserver_reply_error(r, KUMO_ERROR_TOO_LARGE,
                                  "one %s is %zu bytes, more than the NATS server's max_payload "
                                  "allows (%zu); raise max_payload",
                                  req->kind->kind, r->worker->out.len, max_reply);
            return;
        }
        /* Too big for one NATS message: a smaller page, from the same token. */
        size_t scaled =
            (size_t)((double)count * (double)max_reply / (double)r->worker->out.len * 0.9);
        limit = scaled < 1 ? 1 : scaled >= count ? count / 2 : scaled;
    }
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
    kumo_diag *diag = &worker->diag;
    kumo_diag_fini(diag);
    double started = kumo_metrics_now();
    kumo_protocol_api_request req = {.verb = KUMO_PROTOCOL_VERB_COUNT_};
    apiserver_reply r = {
        .server = s,
        .worker = worker,
        .reply_subject = reply_subject,
        .format = KUMO_CODEC_FORMAT_JSON,
    };
    kumo_codec_format in_format;
    const char *accept = apiserver_header(msg, KUMO_PROTOCOL_HEADER_ACCEPT);
    if (kumo_protocol_format_of(apiserver_header(msg, KUMO_PROTOCOL_HEADER_CONTENT_TYPE),
                                &in_format, diag) != KUMO_ERROR_OK) {
        apiserver_reply_status(&r, diag);
        goto done;
    }
    r.format = in_format;
    if (accept != NULL && accept[0] != '\0' && strcmp(accept, "*/*") != 0 &&
        kumo_protocol_format_of(accept, &r.format, diag) != KUMO_ERROR_OK) {
        r.format = KUMO_CODEC_FORMAT_JSON;
        apiserver_reply_status(&r, diag);
        goto done;
    }
    if (kumo_protocol_api_subject_parse(s->prefix, natsMsg_GetSubject(msg), &req, diag) !=
        KUMO_ERROR_OK) {
        apiserver_reply_status(&r, diag);
        goto done;
    }
    r.kind = req.kind;
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    if (len > s->max_request_bytes) {
        apiserver_reply_error(&r, KUMO_ERROR_TOO_LARGE,
                              "the request body is %zu bytes; the limit is %zu", len,
                              s->max_request_bytes);
        goto done;
    }
    switch (req.verb) {
    case KUMO_PROTOCOL_VERB_CREATE:
        serve_write(&r, msg, in_format, &req, WRITE_CREATE);
        break;
    case KUMO_PROTOCOL_VERB_UPDATE:
        serve_write(&r, msg, in_format, &req, WRITE_UPDATE);
        break;
    case KUMO_PROTOCOL_VERB_UPDATE_STATUS:
        serve_write(&r, msg, in_format, &req, WRITE_STATUS);
        break;
    case KUMO_PROTOCOL_VERB_APPLY:
        serve_write(&r, msg, in_format, &req, WRITE_APPLY);
        break;
    case KUMO_PROTOCOL_VERB_GET:
        serve_get(&r, msg, &req);
        break;
    case KUMO_PROTOCOL_VERB_PATCH:
        serve_patch(&r, msg, in_format, &req);
        break;
    case KUMO_PROTOCOL_VERB_DELETE:
        serve_delete(&r, msg, &req);
        break;
    case KUMO_PROTOCOL_VERB_LIST:
    case KUMO_PROTOCOL_VERB_LIST_ALL:
        serve_list(&r, msg, &req);
        break;
    case KUMO_PROTOCOL_VERB_WATCH:
    case KUMO_PROTOCOL_VERB_WATCH_ALL:
        apiserver_watch(&r, msg, &req);
        break;
    case KUMO_PROTOCOL_VERB_COUNT_:
        apiserver_reply_error(&r, KUMO_ERROR_INVALID_ARGUMENT, "unknown verb");
        break;
    }
done:
    apiserver_metrics_request(req.verb, r.kind, r.code, kumo_metrics_now() - started);
    kumo_diag_fini(diag);
    natsMsg_Destroy(msg);
}
