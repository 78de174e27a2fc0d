/*
 * call.c - the verbs apart from their transport: one request -> one store
 * call -> one response. The NATS adapter (verbs.c) and the HTTPS front door
 * (bus/kubeapi) both come through kumo_apiserver_call, so they share every
 * check, limit and error.
 *
 * Order of checks, so that every request gets the most useful Status: body
 * size (413, before any decoding), then the verb's own parameters and body.
 * Decoding is strict (unknown fields are errors) and bounded by the 16 MiB
 * request limit.
 */
#include "bus/apiserver/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apis/metrics/metrics.h"

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

static int present(const char *text)
{
    return text != NULL && text[0] != '\0';
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

/* Checks kind, apiVersion and namespace of a decoded body against the request. */
static kumo_error check_decoded(ProtobufCMessage *object, const kumo_object_kind *kind,
                                const char *ns, kumo_diag *diag)
{
    const char *body_kind = string_field(object, "kind");
    const char *api_version = string_field(object, "api_version");
    if (body_kind[0] != '\0' && strcmp(body_kind, kind->kind) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "the body is a %s but the request names %s: send it to the "
                             "subject or path of its own resource",
                             body_kind, kind->plural);
    if (api_version[0] != '\0' && strcmp(api_version, KUMO_API_VERSION) != 0) {
        char message[1024];
        kumo_diag_add_cause(diag, KUMO_CAUSE_UNSUPPORTED, "apiVersion", api_version,
                            "supported values: \"%s\"", KUMO_API_VERSION);
        kumo_diag_format_invalid(diag, kind->kind, kumo_object_name(object), message,
                                 sizeof(message));
        return kumo_diag_set(diag, KUMO_ERROR_INVALID, "%s", message);
    }
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta_ensure(object);
    kumo_error err = KUMO_ERROR_OK;
    if (meta == NULL)
        err = KUMO_ERROR_NOMEM;
    else if (meta->namespace_ == NULL || meta->namespace_[0] == '\0')
        err = kumo_codec_string_set(&meta->namespace_, ns);
    else if (strcmp(meta->namespace_, ns) != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "the namespace of the %s (\"%s\") does not match the namespace "
                             "of the request (\"%s\")",
                             kind->kind, meta->namespace_, ns);
    if (err == KUMO_ERROR_NOMEM)
        kumo_diag_set(diag, err, "out of memory");
    return err;
}

kumo_error apiserver_decode_object(size_t max_bytes, const char *data, size_t len,
                                   kumo_codec_format format, const kumo_object_kind *kind,
                                   const char *ns, ProtobufCMessage **out, kumo_diag *diag)
{
    *out = NULL;
    if (len == 0)
        return kumo_diag_set(diag, KUMO_ERROR_PARSE,
                             "the request has no body: send the %s as JSON (or protobuf with "
                             "Content-Type: application/protobuf)",
                             kind->kind);
    kumo_codec_decode_options options = {.lenient = 0, .max_bytes = max_bytes};
    kumo_error err = kumo_object_decode(kind, data, len, format, &options, out, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    err = check_decoded(*out, kind, ns, diag);
    if (err != KUMO_ERROR_OK) {
        kumo_object_destroy(*out);
        *out = NULL;
    }
    return err;
}

/* The request's name, required by get, patch and delete. */
static const char *required_name(apiserver_reply *r, const char *verb)
{
    if (!present(r->req->name)) {
        apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                              "the %s verb needs the object's name (NATS: the %s header)", verb,
                              KUMO_PROTOCOL_HEADER_NAME);
        return NULL;
    }
    r->name = r->req->name;
    return r->req->name;
}

typedef enum write_verb { WRITE_CREATE, WRITE_UPDATE, WRITE_STATUS, WRITE_APPLY } write_verb;

#define APPLY_RETRIES 8

/*
 * Apply with field ownership: reads the object, records the manager's fields
 * (a CONFLICT there is the answer), and applies at the revision read, again
 * from a fresh read when another write came first (unless the manifest names
 * its own resourceVersion: that precondition is the client's).
 */
static kumo_error apply_managed(kumo_store *store, const kumo_apiserver_request *req,
                                ProtobufCMessage *object, ProtobufCMessage **out, int *created,
                                kumo_diag *diag)
{
    const char *manager =
        present(req->field_manager) ? req->field_manager : KUMO_APISERVER_DEFAULT_MANAGER;
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta_ensure(object);
    if (meta == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    int precondition = present(meta->resource_version);
    kumo_error err = KUMO_ERROR_CONFLICT;
    for (int attempt = 0; err == KUMO_ERROR_CONFLICT && attempt < APPLY_RETRIES; attempt++) {
        kumo_diag_fini(diag);
        ProtobufCMessage *live = NULL;
        err = kumo_store_get(store, req->kind, meta->namespace_, kumo_object_name(object), &live,
                             NULL, diag);
        if (err == KUMO_ERROR_NOT_FOUND) {
            kumo_diag_fini(diag);
            err = KUMO_ERROR_OK;
        }
        if (err == KUMO_ERROR_OK)
            err = apiserver_managed_apply(object, live, manager, req->force, diag);
        if (err == KUMO_ERROR_OK && !precondition)
            err = kumo_codec_string_set(&meta->resource_version,
                                        live ? kumo_object_meta(live)->resource_version : "");
        kumo_object_destroy(live);
        if (err != KUMO_ERROR_OK) /* an ownership conflict is not retried */
            return err;
        err = kumo_store_apply(store, object, out, NULL, created, diag);
        if (precondition)
            break;
    }
    return err;
}

static void serve_write(apiserver_reply *r, write_verb verb, kumo_store *store)
{
    const kumo_apiserver_request *req = r->req;
    kumo_diag *diag = &r->resp->diag;
    ProtobufCMessage *object = NULL;
    if (apiserver_decode_object(APISERVER_MAX_REQUEST_BYTES, req->body, req->body_len,
                                req->body_format, req->kind, req->ns, &object,
                                diag) != KUMO_ERROR_OK) {
        apiserver_reply_status(r, diag);
        return;
    }
    char name[254];
    snprintf(name, sizeof(name), "%s", kumo_object_name(object));
    r->name = name;
    if (present(req->name) && name[0] != '\0' && strcmp(name, req->name) != 0) {
        kumo_object_destroy(object);
        apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                              "the %s in the body is named \"%s\" but the request names \"%s\"",
                              req->kind->kind, name, req->name);
        return;
    }
    ProtobufCMessage *stored = NULL;
    int created = 0;
    kumo_error err = KUMO_ERROR_OK;
    switch (verb) {
    case WRITE_CREATE:
        err = kumo_store_create(store, object, &stored, NULL, diag);
        created = 1;
        break;
    case WRITE_UPDATE:
        err = apiserver_managed_keep(store, object, diag);
        if (err == KUMO_ERROR_OK)
            err = kumo_store_update(store, object, &stored, NULL, diag);
        break;
    case WRITE_STATUS:
        err = kumo_store_update_status(store, object, &stored, NULL, diag);
        break;
    case WRITE_APPLY:
        err = apply_managed(store, req, object, &stored, &created, diag);
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

static void serve_get(apiserver_reply *r, kumo_store *store)
{
    const char *name = required_name(r, "get");
    if (name == NULL)
        return;
    ProtobufCMessage *object = NULL;
    kumo_diag *diag = &r->resp->diag;
    if (kumo_store_get(store, r->req->kind, r->req->ns, name, &object, NULL, diag) !=
        KUMO_ERROR_OK) {
        apiserver_reply_status(r, diag);
        return;
    }
    apiserver_reply_object(r, 200, object);
}

static void serve_patch(apiserver_reply *r, kumo_store *store)
{
    const kumo_apiserver_request *req = r->req;
    const char *name = required_name(r, "patch");
    if (name == NULL)
        return;
    if (req->body_format == KUMO_CODEC_FORMAT_JSON && req->strategic && req->body_len > 0 &&
        !(req->patch_flags & KUMO_STORE_PATCH_STATUS)) {
        apiserver_strategic_patch(r, store);
        return;
    }
    if (req->body_format != KUMO_CODEC_FORMAT_JSON) {
        apiserver_reply_error(r, KUMO_ERROR_UNSUPPORTED,
                              "a patch is a JSON merge patch: send it with Content-Type: %s",
                              KUMO_PROTOCOL_CONTENT_MERGE_PATCH);
        return;
    }
    if (req->body_len == 0) {
        apiserver_reply_error(r, KUMO_ERROR_PARSE,
                              "the patch request has no body: send a JSON merge patch");
        return;
    }
    ProtobufCMessage *object = NULL;
    kumo_diag *diag = &r->resp->diag;
    if (kumo_store_patch(store, req->kind, req->ns, name, req->body, req->body_len,
                         req->patch_flags, &object, NULL, diag) != KUMO_ERROR_OK) {
        kumo_object_destroy(object);
        apiserver_reply_status(r, diag);
        return;
    }
    apiserver_reply_object(r, 200, object);
}

static void serve_delete(apiserver_reply *r, kumo_store *store)
{
    const kumo_apiserver_request *req = r->req;
    const char *name = required_name(r, "delete");
    if (name == NULL)
        return;
    kumo_store_delete_options options = {
        .uid = req->uid,
        .resource_version = req->resource_version,
        .propagation = KUMO_STORE_PROPAGATION_BACKGROUND,
    };
    uint64_t unused;
    if (present(options.resource_version) &&
        apiserver_parse_u64(options.resource_version, &unused) != 0) {
        apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                              "resourceVersion \"%s\" is not a revision (a decimal number)",
                              options.resource_version);
        return;
    }
    if (present(req->propagation) && strcmp(req->propagation, "Background") != 0) {
        if (strcmp(req->propagation, "Orphan") != 0) {
            apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                                  "propagationPolicy \"%s\" is not supported: use Background "
                                  "or Orphan",
                                  req->propagation);
            return;
        }
        options.propagation = KUMO_STORE_PROPAGATION_ORPHAN;
    }
    ProtobufCMessage *object = NULL;
    kumo_diag *diag = &r->resp->diag;
    if (kumo_store_delete(store, req->kind, req->ns, name, &options, &object, NULL, diag) !=
        KUMO_ERROR_OK) {
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

/* Encodes a <Kind>List around the result's items (borrowed) into out. */
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

int apiserver_page_size(apiserver_reply *r, size_t *out)
{
    const char *text = r->req->limit;
    uint64_t limit = 0;
    if (present(text) && apiserver_parse_u64(text, &limit) != 0) {
        apiserver_reply_error(r, KUMO_ERROR_INVALID_ARGUMENT,
                              "limit \"%s\" is not a page size (a non-negative number)", text);
        return -1;
    }
    if (limit == 0)
        limit = APISERVER_DEFAULT_PAGE;
    *out = limit > APISERVER_MAX_PAGE ? APISERVER_MAX_PAGE : (size_t)limit;
    return 0;
}

/* One page that fits max_reply_bytes, or its Status. */
static void serve_list(apiserver_reply *r, kumo_store *store)
{
    const kumo_apiserver_request *req = r->req;
    kumo_diag *diag = &r->resp->diag;
    size_t limit;
    if (apiserver_page_size(r, &limit) != 0)
        return;
    kumo_store_list_options options = {
        .namespace_ = req->verb == KUMO_PROTOCOL_VERB_LIST ? req->ns : NULL,
        .label_selector = req->label_selector,
        .field_selector = req->field_selector,
        .continue_token = req->continue_token,
    };
    kumo_codec_buffer *out = &r->resp->body;
    for (;;) {
        options.limit = limit;
        kumo_store_list_result result;
        memset(&result, 0, sizeof(result));
        if (kumo_store_list(store, req->kind, &options, &result, diag) != KUMO_ERROR_OK) {
            kumo_store_list_result_fini(&result);
            apiserver_reply_status(r, diag);
            return;
        }
        for (size_t i = 0; i < result.count; i++)
            apiserver_strip(req->kind, result.items[i]);
        if (req->objects) {
            r->resp->list = result;
            r->resp->has_list = 1;
            r->resp->code = 200;
            r->resp->format = req->reply_format;
            return;
        }
        kumo_error err = encode_list(req->kind, &result, req->reply_format, out, diag);
        size_t count = result.count;
        kumo_store_list_result_fini(&result);
        if (err != KUMO_ERROR_OK) {
            apiserver_reply_status(r, diag);
            return;
        }
        if (req->max_reply_bytes == 0 || out->len <= req->max_reply_bytes) {
            apiserver_reply_body(r, 200);
            return;
        }
        if (count <= 1) {
            apiserver_reply_error(r, KUMO_ERROR_TOO_LARGE,
                                  "one %s is %zu bytes, more than the NATS server's max_payload "
                                  "allows (%zu); raise max_payload",
                                  req->kind->kind, out->len, req->max_reply_bytes);
            return;
        }
        /* Too big for one message: a smaller page, from the same token. */
        size_t scaled =
            (size_t)((double)count * (double)req->max_reply_bytes / (double)out->len * 0.9);
        limit = scaled < 1 ? 1 : scaled >= count ? count / 2 : scaled;
    }
}

static void serve(kumo_store *store, const kumo_apiserver_request *req,
                  kumo_apiserver_response *resp)
{
    apiserver_reply r = {.req = req, .resp = resp, .kind = req->kind};
    resp->format = req->reply_format;
    if (req->body_len > APISERVER_MAX_REQUEST_BYTES) {
        apiserver_reply_error(&r, KUMO_ERROR_TOO_LARGE,
                              "the request body is %zu bytes; the limit is %zu", req->body_len,
                              APISERVER_MAX_REQUEST_BYTES);
        return;
    }
    switch (req->verb) {
    case KUMO_PROTOCOL_VERB_CREATE:
        serve_write(&r, WRITE_CREATE, store);
        break;
    case KUMO_PROTOCOL_VERB_UPDATE:
        serve_write(&r, WRITE_UPDATE, store);
        break;
    case KUMO_PROTOCOL_VERB_UPDATE_STATUS:
        serve_write(&r, WRITE_STATUS, store);
        break;
    case KUMO_PROTOCOL_VERB_APPLY:
        serve_write(&r, WRITE_APPLY, store);
        break;
    case KUMO_PROTOCOL_VERB_GET:
        serve_get(&r, store);
        break;
    case KUMO_PROTOCOL_VERB_PATCH:
        serve_patch(&r, store);
        break;
    case KUMO_PROTOCOL_VERB_DELETE:
        serve_delete(&r, store);
        break;
    case KUMO_PROTOCOL_VERB_LIST:
    case KUMO_PROTOCOL_VERB_LIST_ALL:
        serve_list(&r, store);
        break;
    case KUMO_PROTOCOL_VERB_WATCH:
    case KUMO_PROTOCOL_VERB_WATCH_ALL:
        apiserver_watch(&r, store);
        break;
    case KUMO_PROTOCOL_VERB_COUNT_:
        apiserver_reply_error(&r, KUMO_ERROR_INVALID_ARGUMENT, "unknown verb");
        break;
    }
}

void kumo_apiserver_call(kumo_store *store, const kumo_apiserver_request *req,
                         kumo_apiserver_response *resp)
{
    double started = kumo_metrics_now();
    kumo_apiserver_response_reset(resp);
    serve(store, req, resp);
    apiserver_metrics_request(req->verb, req->kind, resp->code, kumo_metrics_now() - started);
}

void kumo_apiserver_response_init(kumo_apiserver_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    kumo_codec_buffer_init(&resp->body);
    kumo_diag_init(&resp->diag);
}

void kumo_apiserver_response_reset(kumo_apiserver_response *resp)
{
    kumo_object_destroy(resp->object);
    resp->object = NULL;
    if (resp->has_list)
        kumo_store_list_result_fini(&resp->list);
    memset(&resp->list, 0, sizeof(resp->list));
    resp->has_list = 0;
    kumo_diag_fini(&resp->diag);
    kumo_codec_buffer_reset(&resp->body);
    resp->code = 0;
}

void kumo_apiserver_response_fini(kumo_apiserver_response *resp)
{
    kumo_apiserver_response_reset(resp);
    kumo_codec_buffer_fini(&resp->body);
}
