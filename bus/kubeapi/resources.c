/*
 * resources.c - /apis/kumo.dev/v1alpha1/...: an HTTP request becomes a
 * kumo_apiserver_request (the same verbs the NATS API serves), and the
 * response becomes an HTTP reply: the object, a <Kind>List, a Table, or a
 * Status. Also core/v1 namespaces: the namespaces kumo objects are in.
 *
 * Method and Content-Type choose the verb:
 *   GET name | collection          get | list (Table when Accept asks)
 *   POST collection                create
 *   PUT name[/status]              update | status
 *   PATCH merge-patch+json         patch (of the status with /status)
 *   PATCH strategic-merge-patch    patch, lists merged by their merge key
 *   PATCH apply-patch+yaml         apply (server-side apply, kumo's semantics)
 *   DELETE name                    delete (DeleteOptions body or query)
 */
#include "bus/kubeapi/internal.h"

#include <stdlib.h>
#include <string.h>

#include "apis/columns/columns.h"
#include "apis/kumo/v1alpha1/recorded_event.pb-c.h"

#define GROUP_PREFIX "/apis/" KUMO_API_VERSION "/"

static const kumo_object_kind *kind_of_plural(const char *plural, size_t len)
{
    for (size_t i = 0; i < kumo_object_kind_count(); i++) {
        const kumo_object_kind *k = kumo_object_kind_at(i);
        if (strlen(k->plural) == len && strncmp(k->plural, plural, len) == 0)
            return k;
    }
    return NULL;
}

int kubeapi_target_parse(const char *path, kubeapi_target *out, kumo_diag *diag)
{
    memset(out, 0, sizeof(*out));
    size_t prefix = strlen(GROUP_PREFIX);
    if (strncmp(path, GROUP_PREFIX, prefix) != 0)
        return 0;
    const char *seg[6];
    size_t len[6], n = 0;
    for (const char *p = path + prefix; *p && n < 6;) {
        size_t l = strcspn(p, "/");
        seg[n] = p;
        len[n++] = l;
        p += l;
        if (*p == '/')
            p++;
    }
    size_t i = 0;
    if (n >= 2 && len[0] == 10 && strncmp(seg[0], "namespaces", 10) == 0) {
        if (len[1] >= sizeof(out->ns))
            len[1] = sizeof(out->ns) - 1;
        snprintf(out->ns, sizeof(out->ns), "%.*s", (int)len[1], seg[1]);
        if (!kumo_object_namespace_is_valid(out->ns)) {
            kumo_diag_set(diag, KUMO_ERROR_INVALID, "namespace \"%s\" is not a DNS-1123 label",
                          out->ns);
            return -1;
        }
        i = 2;
    }
    if (i >= n || (out->ns[0] == '\0' && n - i > 1) || n - i > 3)
        return 0;
    out->kind = kind_of_plural(seg[i], len[i]);
    if (out->kind == NULL) {
        kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND,
                      "the server doesn't have a resource type \"%.*s\" in %s", (int)len[i], seg[i],
                      KUMO_API_VERSION);
        return -1;
    }
    if (n - i >= 2)
        snprintf(out->name, sizeof(out->name), "%.*s", (int)len[i + 1], seg[i + 1]);
    if (n - i == 3) {
        if (len[i + 2] != 6 || strncmp(seg[i + 2], "status", 6) != 0)
            return 0;
        out->status = 1;
    }
    return 1;
}

kumo_error kubeapi_object_encode(const ProtobufCMessage *object, kumo_codec_buffer *out,
                                 kumo_diag *diag)
{
    kumo_codec_encode_options options = {0};
    return kumo_codec_json_encode(object, &options, out, diag);
}

/* ---- Table ---- */

static void column_definitions(kumo_codec_buffer *b, const kumo_columns *columns)
{
    kubeapi_json_raw(b, "\"columnDefinitions\":[{\"name\":\"Name\",\"type\":\"string\","
                        "\"format\":\"name\",\"description\":\"metadata.name\",\"priority\":0}");
    for (size_t i = 0; i < kumo_columns_count(columns); i++) {
        const kumo_column *c = &columns->columns[i];
        char description[256];
        kumo_columns_describe(c, description, sizeof(description));
        kubeapi_json_raw(b, ",{\"name\":");
        kubeapi_json_string(b, c->header);
        kubeapi_json_format(
            b, ",\"type\":\"%s\",\"format\":\"\",\"description\":", kumo_columns_value_type(c));
        kubeapi_json_string(b, description);
        kubeapi_json_format(b, ",\"priority\":%d}", c->wide ? 1 : 0);
    }
    kubeapi_json_raw(b, "],");
}

static kumo_error table_row(kumo_codec_buffer *b, const kumo_columns *columns,
                            const ProtobufCMessage *object, kumo_diag *diag)
{
    kumo_value *root = NULL;
    kumo_error err = kumo_codec_message_to_value(object, NULL, &root, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    kubeapi_json_raw(b, "{\"cells\":[");
    kubeapi_json_string(b, kumo_object_name(object));
    char cell[512];
    for (size_t i = 0; i < kumo_columns_count(columns); i++) {
        kumo_columns_cell(&columns->columns[i], root, object, cell, sizeof(cell));
        kubeapi_json_raw(b, ",");
        kubeapi_json_string(b, cell);
    }
    kumo_codec_value_destroy(root);
    kubeapi_json_raw(b, "],\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":"
                        "\"meta.k8s.io/v1\",\"metadata\":");
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    if (meta != NULL)
        err = kubeapi_object_encode(&meta->base, b, diag);
    else
        kubeapi_json_raw(b, "{}");
    kubeapi_json_raw(b, "}}");
    return err;
}

kumo_error kubeapi_table_encode(const kumo_object_kind *kind, ProtobufCMessage *const *objects,
                                size_t count, int64_t revision, const char *continue_token,
                                int with_definitions, kumo_codec_buffer *b, kumo_diag *diag)
{
    const kumo_columns *columns = kumo_columns_of(kind);
    kubeapi_json_format(b,
                        "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":"
                        "{\"resourceVersion\":\"%lld\"",
                        (long long)revision);
    if (continue_token != NULL && continue_token[0] != '\0') {
        kubeapi_json_raw(b, ",\"continue\":");
        kubeapi_json_string(b, continue_token);
    }
    kubeapi_json_raw(b, "},");
    if (with_definitions)
        column_definitions(b, columns);
    kubeapi_json_raw(b, "\"rows\":[");
    kumo_error err = KUMO_ERROR_OK;
    for (size_t i = 0; i < count && err == KUMO_ERROR_OK; i++) {
        if (i > 0)
            kubeapi_json_raw(b, ",");
        err = table_row(b, columns, objects[i], diag);
    }
    kubeapi_json_raw(b, "]}");
    return err;
}

/* ---- the request ---- */

static int content_is(const char *type, const char *want)
{
    size_t n = strlen(want);
    return type != NULL && strncmp(type, want, n) == 0 && (type[n] == '\0' || type[n] == ';');
}

/* Fills the verb and body format from method, path and Content-Type; -1 with diag set. */
static int choose_verb(const kubeapi_job *job, kumo_apiserver_request *r, kumo_diag *diag)
{
    const kubeapi_target *t = &job->target;
    int named = t->name[0] != '\0';
    const char *type = job->content_type;
    r->body_format =
        content_is(type, "application/yaml") ? KUMO_CODEC_FORMAT_YAML : KUMO_CODEC_FORMAT_JSON;
    switch (job->method) {
    case EVHTTP_REQ_GET:
        r->verb = named              ? KUMO_PROTOCOL_VERB_GET
                  : t->ns[0] == '\0' ? KUMO_PROTOCOL_VERB_LIST_ALL
                                     : KUMO_PROTOCOL_VERB_LIST;
        return 0;
    case EVHTTP_REQ_POST:
        if (named || t->ns[0] == '\0')
            break;
        r->verb = KUMO_PROTOCOL_VERB_CREATE;
        return 0;
    case EVHTTP_REQ_PUT:
        if (!named)
            break;
        r->verb = t->status ? KUMO_PROTOCOL_VERB_UPDATE_STATUS : KUMO_PROTOCOL_VERB_UPDATE;
        return 0;
    case EVHTTP_REQ_PATCH:
        if (!named)
            break;
        if (content_is(type, "application/merge-patch+json")) {
            r->verb = KUMO_PROTOCOL_VERB_PATCH;
            r->patch_flags = t->status ? KUMO_STORE_PATCH_STATUS : 0;
            return 0;
        }
        if (content_is(type, "application/strategic-merge-patch+json") && !t->status) {
            r->verb = KUMO_PROTOCOL_VERB_PATCH;
            r->strategic = 1;
            return 0;
        }
        if (content_is(type, "application/apply-patch+yaml") && !t->status) {
            r->verb = KUMO_PROTOCOL_VERB_APPLY;
            r->body_format = KUMO_CODEC_FORMAT_YAML;
            return 0;
        }
        kumo_diag_set(diag, KUMO_ERROR_UNSUPPORTED,
                      "the patch type \"%s\" is not supported: use "
                      "application/merge-patch+json, application/strategic-merge-patch+json "
                      "or application/apply-patch+yaml (server-side apply); only the first "
                      "on /status",
                      type ? type : "");
        return -1;
    case EVHTTP_REQ_DELETE:
        if (!named || t->status)
            break;
        r->verb = KUMO_PROTOCOL_VERB_DELETE;
        return 0;
    default:
        break;
    }
    kumo_diag_set(diag, KUMO_ERROR_METHOD_NOT_ALLOWED, "this method is not allowed on %s",
                  job->path);
    return -1;
}

/* Query parameters kumo does not honour get a clear refusal rather than silence. */
static int check_query(const char *query, kumo_diag *diag)
{
    char v[64];
    if (kubeapi_query(query, "dryRun", v, sizeof(v)) != NULL && v[0] != '\0') {
        kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                      "dryRun is not supported by kumo: the request was not run");
        return -1;
    }
    if (kubeapi_query(query, "fieldValidation", v, sizeof(v)) != NULL && strcmp(v, "Strict") != 0 &&
        strcmp(v, "Warn") != 0 && strcmp(v, "Ignore") != 0) {
        kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                      "fieldValidation \"%s\": use Strict, Warn or Ignore (kumo always "
                      "validates strictly)",
                      v);
        return -1;
    }
    return 0;
}

/* DeleteOptions from the body: propagationPolicy and preconditions. */
typedef struct delete_options {
    char propagation[32], uid[64], resource_version[32];
} delete_options;

static int parse_delete_body(const kubeapi_job *job, delete_options *o, kumo_diag *diag)
{
    if (job->body_len == 0)
        return 0;
    kumo_value *v = NULL;
    kumo_codec_decode_options options = {.lenient = 0, .max_bytes = 1 << 20};
    if (kumo_codec_value_parse_json(job->body, job->body_len, &options, &v, diag) != KUMO_ERROR_OK)
        return -1;
    const kumo_value *p = kumo_codec_value_get(v, "propagationPolicy");
    const kumo_value *pre = kumo_codec_value_get(v, "preconditions");
    const kumo_value *uid = pre ? kumo_codec_value_get(pre, "uid") : NULL;
    const kumo_value *rv = pre ? kumo_codec_value_get(pre, "resourceVersion") : NULL;
    if (p && p->type == KUMO_VALUE_STRING)
        snprintf(o->propagation, sizeof(o->propagation), "%s", p->text);
    if (uid && uid->type == KUMO_VALUE_STRING)
        snprintf(o->uid, sizeof(o->uid), "%s", uid->text);
    if (rv && rv->type == KUMO_VALUE_STRING)
        snprintf(o->resource_version, sizeof(o->resource_version), "%s", rv->text);
    kumo_codec_value_destroy(v);
    /* Foreground waits for dependents first; kumo's Background deletes them after. */
    if (strcmp(o->propagation, "Foreground") == 0)
        snprintf(o->propagation, sizeof(o->propagation), "Background");
    return 0;
}

/* The reply of a request that asked for objects: a Table. */
static void encode_table(kubeapi_job *job, kumo_apiserver_response *resp)
{
    kumo_error err;
    if (resp->has_list)
        err = kubeapi_table_encode(job->target.kind, resp->list.items, resp->list.count,
                                   resp->list.revision, resp->list.continue_token, 1, &job->out,
                                   &resp->diag);
    else {
        const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(resp->object);
        err = kubeapi_table_encode(job->target.kind, &resp->object, 1,
                                   m && m->resource_version ? strtoll(m->resource_version, NULL, 10)
                                                            : 0,
                                   NULL, 1, &job->out, &resp->diag);
    }
    if (err != KUMO_ERROR_OK) {
        kumo_codec_buffer_reset(&job->out);
        job->code = kumo_apiserver_status_encode(&resp->diag, job->target.kind, NULL,
                                                 KUMO_CODEC_FORMAT_JSON, &job->out);
    }
}

/*
 * Clients that read an object and write it back (client-go's Get then Update)
 * send metadata.managedFields, which only the server writes: it is dropped
 * from the bodies of create, update and apply (re-encoded as JSON into out).
 */
static kumo_error without_managed_fields(kumo_apiserver_request *r, kumo_codec_buffer *out,
                                         kumo_diag *diag)
{
    int object_body = r->verb == KUMO_PROTOCOL_VERB_CREATE ||
                      r->verb == KUMO_PROTOCOL_VERB_UPDATE || r->verb == KUMO_PROTOCOL_VERB_APPLY;
    if (!object_body || r->body_len == 0 || strstr(r->body, "managedFields") == NULL)
        return KUMO_ERROR_OK;
    kumo_codec_decode_options options = {.max_bytes = KUMO_APISERVER_MAX_REQUEST_BYTES};
    kumo_value **docs = NULL, *root = NULL;
    size_t count = 0;
    kumo_error err =
        r->body_format == KUMO_CODEC_FORMAT_YAML
            ? kumo_codec_value_parse_yaml(r->body, r->body_len, &options, &docs, &count, diag)
            : kumo_codec_value_parse_json(r->body, r->body_len, &options, &root, diag);
    if (err != KUMO_ERROR_OK)
        return KUMO_ERROR_OK; /* the verb reports the syntax error */
    kumo_value *doc = docs != NULL && count == 1 ? docs[0] : root;
    kumo_value *meta = (kumo_value *)kumo_codec_value_get(doc, "metadata");
    static const char patch_text[] = "{\"managedFields\":null}";
    kumo_value *patch = NULL;
    if (meta != NULL &&
        kumo_codec_value_parse_json(patch_text, sizeof(patch_text) - 1, &options, &patch, diag) ==
            KUMO_ERROR_OK &&
        kumo_codec_value_merge_patch(&meta, patch, diag) == KUMO_ERROR_OK &&
        kumo_codec_value_to_json(doc, 0, out) == KUMO_ERROR_OK) {
        r->body = out->data;
        r->body_len = out->len;
        r->body_format = KUMO_CODEC_FORMAT_JSON;
    }
    kumo_codec_value_destroy(patch);
    kumo_codec_value_destroy(root);
    kumo_codec_value_array_destroy(docs, count);
    return err;
}

static void fail(kubeapi_job *job, const kumo_diag *diag)
{
    job->reply_type = "application/json";
    job->code = kumo_apiserver_status_encode(diag, job->target.kind,
                                             job->target.name[0] ? job->target.name : NULL,
                                             KUMO_CODEC_FORMAT_JSON, &job->out);
}

static void serve_namespaces(kumo_kubeapi *s, kubeapi_job *job, kumo_diag *diag);
static void serve_core_events(kumo_kubeapi *s, kubeapi_job *job, kumo_diag *diag);

void kubeapi_resource_serve(kumo_kubeapi *s, kubeapi_job *job, kumo_apiserver_response *resp)
{
    kumo_diag *diag = &resp->diag;
    job->reply_type = "application/json";
    if (job->core == KUBEAPI_CORE_NAMESPACES) {
        serve_namespaces(s, job, diag);
        return;
    }
    if (job->core == KUBEAPI_CORE_EVENTS) {
        serve_core_events(s, job, diag);
        return;
    }
    kumo_apiserver_request r = {.kind = job->target.kind,
                                .ns = job->target.ns,
                                .name = job->target.name,
                                .body = job->body,
                                .body_len = job->body_len,
                                .reply_format = KUMO_CODEC_FORMAT_JSON};
    if (choose_verb(job, &r, diag) != 0 || check_query(job->query, diag) != 0) {
        fail(job, diag);
        return;
    }
    char labels[KUBEAPI_MAX_HEADERS], fields[KUBEAPI_MAX_HEADERS], limit[32],
        cont[KUBEAPI_MAX_HEADERS], policy[32], manager[256];
    delete_options del = {{0}, {0}, {0}};
    r.label_selector = kubeapi_query(job->query, "labelSelector", labels, sizeof(labels));
    r.field_selector = kubeapi_query(job->query, "fieldSelector", fields, sizeof(fields));
    r.limit = kubeapi_query(job->query, "limit", limit, sizeof(limit));
    r.continue_token = kubeapi_query(job->query, "continue", cont, sizeof(cont));
    r.field_manager = kubeapi_query(job->query, "fieldManager", manager, sizeof(manager));
    r.force = kubeapi_query_true(job->query, "force");
    r.managed_fields = 1;
    if (r.verb == KUMO_PROTOCOL_VERB_APPLY && (r.field_manager == NULL || manager[0] == '\0')) {
        kumo_diag_add_cause(diag, KUMO_CAUSE_REQUIRED, "fieldManager", NULL,
                            "is required for apply patch");
        kumo_diag_set(diag, KUMO_ERROR_INVALID,
                      "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                      "is required for apply patch");
        fail(job, diag);
        return;
    }
    if (r.verb == KUMO_PROTOCOL_VERB_DELETE) {
        if (parse_delete_body(job, &del, diag) != 0) {
            fail(job, diag);
            return;
        }
        r.body_len = 0;
        r.propagation = kubeapi_query(job->query, "propagationPolicy", policy, sizeof(policy));
        if (del.propagation[0] != '\0')
            r.propagation = del.propagation;
        r.uid = del.uid;
        r.resource_version = del.resource_version;
    }
    int table = (r.verb == KUMO_PROTOCOL_VERB_GET || r.verb == KUMO_PROTOCOL_VERB_LIST ||
                 r.verb == KUMO_PROTOCOL_VERB_LIST_ALL) &&
                kubeapi_wants_table(job->accept);
    r.objects = table;
    kumo_codec_buffer plain;
    kumo_codec_buffer_init(&plain);
    if (without_managed_fields(&r, &plain, diag) != KUMO_ERROR_OK) {
        kumo_codec_buffer_fini(&plain);
        fail(job, diag);
        return;
    }
    kumo_apiserver_call(s->store, &r, resp);
    kumo_codec_buffer_fini(&plain);
    job->code = resp->code;
    if (table && resp->code < 300)
        encode_table(job, resp);
    else
        kumo_codec_buffer_append(&job->out, resp->body.data, resp->body.len);
}

/* ---- core/v1 namespaces: the namespaces kumo objects are in ---- */

static int ns_seen(char (*names)[64], size_t count, const char *ns)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], ns) == 0)
            return 1;
    return 0;
}

#define KUBEAPI_MAX_NAMESPACES 1024

static void serve_namespaces(kumo_kubeapi *s, kubeapi_job *job, kumo_diag *diag)
{
    char(*names)[64] = calloc(KUBEAPI_MAX_NAMESPACES, 64);
    if (names == NULL) {
        kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
        fail(job, diag);
        return;
    }
    size_t count = 1;
    snprintf(names[0], 64, "default");
    for (size_t k = 0; k < kumo_object_kind_count(); k++) {
        kumo_store_list_options options = {0};
        kumo_store_list_result result;
        memset(&result, 0, sizeof(result));
        if (kumo_store_list(s->store, kumo_object_kind_at(k), &options, &result, NULL) ==
            KUMO_ERROR_OK)
            for (size_t i = 0; i < result.count && count < KUBEAPI_MAX_NAMESPACES; i++) {
                const char *ns = kumo_object_namespace(result.items[i]);
                if (!ns_seen(names, count, ns))
                    snprintf(names[count++], 64, "%s", ns);
            }
        kumo_store_list_result_fini(&result);
    }
    const char *one = job->path + strlen("/api/v1/namespaces");
    one = one[0] == '/' ? one + 1 : NULL;
    const char *item = "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
                       "\"%s\"},\"spec\":{},\"status\":{\"phase\":\"Active\"}}";
    job->code = 200;
    if (one != NULL && !ns_seen(names, count, one)) {
        kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND,
                      "namespace \"%s\" not found (no kumo object "
                      "is in it)",
                      one);
        fail(job, diag);
    } else if (one != NULL) {
        kubeapi_json_format(&job->out, item, one);
    } else {
        kubeapi_json_format(&job->out,
                            "{\"kind\":\"NamespaceList\",\"apiVersion\":\"v1\",\"metadata\":"
                            "{\"resourceVersion\":\"%lld\"},\"items\":[",
                            (long long)kumo_store_revision(s->store));
        for (size_t i = 0; i < count; i++) {
            if (i > 0)
                kubeapi_json_raw(&job->out, ",");
            kubeapi_json_format(&job->out, item, names[i]);
        }
        kubeapi_json_raw(&job->out, "]}");
    }
    free(names);
}

/* ---- core/v1 events: kumo's recorded Events, as kubectl describe reads them ---- */

/*
 * 1 when the Event's involvedObject passes every involvedObject.* term of the
 * selector ("=" or "=="; kubectl describe sends name, namespace, kind, uid).
 */
static int involved_matches(const ProtobufCMessage *event, const char *selector)
{
    const Kumo__V1alpha1__RecordedEvent *e = (const Kumo__V1alpha1__RecordedEvent *)event;
    const Kumo__V1alpha1__ObjectReference *o = e->involved_object;
    for (const char *p = selector; p != NULL && *p;) {
        size_t len = strcspn(p, ",");
        char term[512];
        snprintf(term, sizeof(term), "%.*s", (int)(len < sizeof(term) ? len : sizeof(term) - 1), p);
        p += len + (p[len] == ',');
        char *eq = strchr(term, '=');
        if (eq == NULL || strncmp(term, "involvedObject.", 15) != 0)
            continue;
        *eq = '\0';
        const char *want = eq[1] == '=' ? eq + 2 : eq + 1, *field = term + 15, *have = NULL;
        if (o == NULL)
            return 0;
        if (strcmp(field, "name") == 0)
            have = o->name;
        else if (strcmp(field, "namespace") == 0)
            have = o->namespace_;
        else if (strcmp(field, "kind") == 0)
            have = o->kind;
        else if (strcmp(field, "uid") == 0)
            have = o->uid;
        /* a reference without the field (the recorder left it empty) does not exclude */
        if (have != NULL && have[0] != '\0' && strcmp(have, want) != 0)
            return 0;
    }
    return 1;
}

void kubeapi_core_event_shape(ProtobufCMessage *event)
{
    Kumo__V1alpha1__RecordedEvent *e = (Kumo__V1alpha1__RecordedEvent *)event;
    kumo_codec_string_set(&e->api_version, "v1"); /* the core/v1 shape, served as such */
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(event);
    if (m != NULL)
        m->generation = 0; /* an int64 kumo writes as a string, which Go's decoder refuses */
}

static void serve_core_events(kumo_kubeapi *s, kubeapi_job *job, kumo_diag *diag)
{
    const kumo_object_kind *kind = kumo_object_kind_lookup("Event");
    char ns[64] = "", selector[KUBEAPI_MAX_HEADERS];
    if (strncmp(job->path, "/api/v1/namespaces/", 19) == 0)
        snprintf(ns, sizeof(ns), "%.*s", (int)strcspn(job->path + 19, "/"), job->path + 19);
    const char *fields = kubeapi_query(job->query, "fieldSelector", selector, sizeof(selector));
    kumo_store_list_options options = {.namespace_ = ns[0] ? ns : NULL};
    kumo_store_list_result result;
    memset(&result, 0, sizeof(result));
    if (kind == NULL || kumo_store_list(s->store, kind, &options, &result, diag) != KUMO_ERROR_OK) {
        kumo_store_list_result_fini(&result);
        fail(job, diag);
        return;
    }
    /* keep the matching items (in place), in the core/v1 shape */
    size_t n = 0;
    for (size_t i = 0; i < result.count; i++) {
        ProtobufCMessage *item = result.items[i];
        result.items[i] = NULL;
        if (involved_matches(item, fields)) {
            kubeapi_core_event_shape(item);
            result.items[n++] = item;
        } else {
            kumo_object_destroy(item);
        }
    }
    result.count = n;
    job->code = 200;
    if (kubeapi_wants_table(job->accept)) {
        if (kubeapi_table_encode(kind, result.items, n, result.revision, NULL, 1, &job->out,
                                 diag) != KUMO_ERROR_OK)
            fail(job, diag);
        kumo_store_list_result_fini(&result);
        return;
    }
    kubeapi_json_format(&job->out,
                        "{\"kind\":\"EventList\",\"apiVersion\":\"v1\",\"metadata\":"
                        "{\"resourceVersion\":\"%lld\"},\"items\":[",
                        (long long)result.revision);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            kubeapi_json_raw(&job->out, ",");
        kubeapi_object_encode(result.items[i], &job->out, NULL);
    }
    kubeapi_json_raw(&job->out, "]}");
    kumo_store_list_result_fini(&result);
}
