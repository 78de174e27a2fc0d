/*
 * openapi.c - /openapi/v3 and /openapi/v3/apis/kumo.dev/v1alpha1, generated
 * once at start from the protobuf descriptors, with the codec's JSON names
 * and encodings (enums as their names, 64-bit integers as strings, Time as
 * an RFC 3339 string, maps as objects), descriptions from the .proto
 * comments and required fields as validation reports them (apis/schema).
 *
 * Every kind's schema and operations carry x-kubernetes-group-version-kind.
 * Each kind has a PATCH operation whose request body lists
 * application/merge-patch+json, application/strategic-merge-patch+json and
 * application/apply-patch+yaml, and a fieldValidation query parameter: that
 * is how kubectl learns that it may patch and that the server validates.
 * Lists with a merge key (kumo_apiserver_list_merge_key) carry
 * x-kubernetes-patch-strategy/-merge-key and x-kubernetes-list-type map, so
 * that kubectl's client-side apply merges their items by key rather than
 * replacing the list (and sees no change where the server filled defaults).
 */
#include "bus/kubeapi/internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "apis/schema/schema.h"

#define SCHEMA_PREFIX "dev."
#define MAX_MESSAGES  256

#define MAX_REQUIRED 512

typedef struct walk {
    const ProtobufCMessageDescriptor *seen[MAX_MESSAGES];
    size_t count;
    struct {
        const ProtobufCMessageDescriptor *message;
        const ProtobufCFieldDescriptor *field;
    } required[MAX_REQUIRED];
    size_t required_count;
} walk;

static void add_required(void *ctx, const ProtobufCMessageDescriptor *message,
                         const ProtobufCFieldDescriptor *field)
{
    walk *w = ctx;
    for (size_t i = 0; i < w->required_count; i++)
        if (w->required[i].message == message && w->required[i].field == field)
            return;
    if (w->required_count < MAX_REQUIRED) {
        w->required[w->required_count].message = message;
        w->required[w->required_count++].field = field;
    }
}

static void required_list(kumo_codec_buffer *b, const walk *w, const ProtobufCMessageDescriptor *d)
{
    int n = 0;
    for (size_t i = 0; i < w->required_count; i++) {
        if (w->required[i].message != d)
            continue;
        kubeapi_json_raw(b, n++ ? "," : ",\"required\":[");
        kubeapi_json_string(b, kumo_codec_field_json_name(d, w->required[i].field));
    }
    if (n > 0)
        kubeapi_json_raw(b, "]");
}

static int is_time(const ProtobufCMessageDescriptor *d)
{
    return strcmp(d->name, "kumo.v1alpha1.Time") == 0;
}

/* A map's entry message (map<K, V>): written as additionalProperties, not a schema. */
static int is_map_message(const ProtobufCMessageDescriptor *d)
{
    ProtobufCFieldDescriptor probe = {.type = PROTOBUF_C_TYPE_MESSAGE, .descriptor = d};
    return kumo_apiserver_field_is_map(&probe);
}

static void add_message(walk *w, const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < w->count; i++)
        if (w->seen[i] == d)
            return;
    if (w->count == MAX_MESSAGES || is_time(d) || is_map_message(d))
        goto fields;
    w->seen[w->count++] = d;
fields:
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessageDescriptor *sub = d->fields[i].descriptor;
            int known = 0;
            for (size_t k = 0; k < w->count; k++)
                known |= w->seen[k] == sub;
            if (!known)
                add_message(w, sub);
        }
}

static void description(kumo_codec_buffer *b, const char *text)
{
    if (text == NULL)
        return;
    kubeapi_json_raw(b, "\"description\":");
    kubeapi_json_string(b, text);
    kubeapi_json_raw(b, ",");
}

/* The schema of one value of a field (the items of a repeated field). */
static void value_schema(kumo_codec_buffer *b, const ProtobufCFieldDescriptor *f, const char *doc)
{
    kubeapi_json_raw(b, "{");
    description(b, doc);
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        kubeapi_json_raw(b, "\"type\":\"string\"}");
        return;
    case PROTOBUF_C_TYPE_BYTES:
        kubeapi_json_raw(b, "\"type\":\"string\",\"format\":\"byte\"}");
        return;
    case PROTOBUF_C_TYPE_BOOL:
        kubeapi_json_raw(b, "\"type\":\"boolean\"}");
        return;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        kubeapi_json_raw(b, "\"type\":\"number\",\"format\":\"double\"}");
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        kubeapi_json_raw(b, "\"type\":\"string\",\"format\":\"int64\"}");
        return;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        kubeapi_json_raw(b, "\"type\":\"string\",\"enum\":[");
        for (unsigned i = 0; i < e->n_values; i++) {
            if (i > 0)
                kubeapi_json_raw(b, ",");
            kubeapi_json_string(b, e->values[i].name);
        }
        kubeapi_json_raw(b, "]}");
        return;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *d = f->descriptor;
        if (is_time(d))
            kubeapi_json_raw(b, "\"type\":\"string\",\"format\":\"date-time\"}");
        else
            kubeapi_json_format(b, "\"allOf\":[{\"$ref\":\"#/components/schemas/%s%s\"}]}",
                                SCHEMA_PREFIX, d->name);
        return;
    }
    default:
        kubeapi_json_raw(b, "\"type\":\"integer\",\"format\":\"int32\"}");
        return;
    }
}

static void field_schema(kumo_codec_buffer *b, const ProtobufCMessageDescriptor *d,
                         const ProtobufCFieldDescriptor *f)
{
    const char *doc = kumo_schema_doc(d, f->name);
    const char *merge_key = kumo_apiserver_list_merge_key(f);
    if (kumo_apiserver_field_is_map(f)) {
        const ProtobufCMessageDescriptor *entry = f->descriptor;
        kubeapi_json_raw(b, "{");
        description(b, doc);
        kubeapi_json_raw(b, "\"type\":\"object\",\"additionalProperties\":");
        value_schema(b, &entry->fields[1], NULL);
        kubeapi_json_raw(b, "}");
    } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        kubeapi_json_raw(b, "{");
        description(b, doc);
        if (merge_key != NULL)
            kubeapi_json_format(b,
                                "\"x-kubernetes-patch-strategy\":\"merge\","
                                "\"x-kubernetes-patch-merge-key\":\"%s\","
                                "\"x-kubernetes-list-type\":\"map\","
                                "\"x-kubernetes-list-map-keys\":[\"%s\"],",
                                merge_key, merge_key);
        kubeapi_json_raw(b, "\"type\":\"array\",\"items\":");
        value_schema(b, f, NULL);
        kubeapi_json_raw(b, "}");
    } else {
        value_schema(b, f, doc);
    }
}

static void message_schema(kumo_codec_buffer *b, const walk *w, const ProtobufCMessageDescriptor *d)
{
    kubeapi_json_format(b, "\"%s%s\":{", SCHEMA_PREFIX, d->name);
    description(b, kumo_schema_doc(d, NULL));
    kubeapi_json_raw(b, "\"type\":\"object\",\"properties\":{");
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (i > 0)
            kubeapi_json_raw(b, ",");
        kubeapi_json_string(b, kumo_codec_field_json_name(d, &d->fields[i]));
        kubeapi_json_raw(b, ":");
        field_schema(b, d, &d->fields[i]);
    }
    kubeapi_json_raw(b, "}");
    required_list(b, w, d);
    const kumo_object_kind *k = kumo_object_kind_of(d);
    if (k != NULL)
        kubeapi_json_format(b,
                            ",\"x-kubernetes-group-version-kind\":[{\"group\":\"%s\","
                            "\"version\":\"v1alpha1\",\"kind\":\"%s%s\"}]",
                            KUMO_API_GROUP, k->kind, k->descriptor == d ? "" : "List");
    kubeapi_json_raw(b, "}");
}

static const char query_params[] =
    "[{\"name\":\"fieldValidation\",\"in\":\"query\",\"schema\":{\"type\":\"string\"},"
    "\"description\":\"Strict, Warn or Ignore; kumo always rejects unknown fields\"},"
    "{\"name\":\"fieldManager\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"force\",\"in\":\"query\",\"schema\":{\"type\":\"boolean\"}},"
    "{\"name\":\"dryRun\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}}]";

static void operation(kumo_codec_buffer *b, const kumo_object_kind *k, const char *method,
                      const char *action, const char *body_types, int list, int first)
{
    kubeapi_json_format(b,
                        "%s\"%s\":{\"operationId\":\"%s%s%s\",\"x-kubernetes-action\":\"%s\","
                        "\"x-kubernetes-group-version-kind\":{\"group\":\"%s\",\"version\":"
                        "\"v1alpha1\",\"kind\":\"%s\"},\"parameters\":%s,",
                        first ? "" : ",", method, action, k->kind, list ? "List" : "", action,
                        KUMO_API_GROUP, k->kind, query_params);
    if (body_types != NULL) {
        kubeapi_json_raw(b, "\"requestBody\":{\"content\":{");
        for (const char *t = body_types; *t; t += strlen(t) + 1)
            kubeapi_json_format(b, "%s\"%s\":{\"schema\":{\"$ref\":\"#/components/schemas/%s%s\"}}",
                                t == body_types ? "" : ",", t, SCHEMA_PREFIX, k->descriptor->name);
        kubeapi_json_raw(b, "}},");
    }
    kubeapi_json_format(b,
                        "\"responses\":{\"200\":{\"description\":\"OK\",\"content\":{"
                        "\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/"
                        "%s%s\"}}}}}}",
                        SCHEMA_PREFIX, list ? k->list_descriptor->name : k->descriptor->name);
}

static void kind_paths(kumo_codec_buffer *b, const kumo_object_kind *k, int first)
{
    static const char json_body[] = "application/json\0application/yaml\0";
    static const char patch_body[] = "application/merge-patch+json\0"
                                     "application/strategic-merge-patch+json\0"
                                     "application/apply-patch+yaml\0";
    const char *params = "\"parameters\":[{\"name\":\"namespace\",\"in\":\"path\",\"required\":"
                         "true,\"schema\":{\"type\":\"string\"}}";
    kubeapi_json_format(b, "%s\"/apis/%s/namespaces/{namespace}/%s\":{", first ? "" : ",",
                        KUMO_API_VERSION, k->plural);
    operation(b, k, "get", "list", NULL, 1, 1);
    operation(b, k, "post", "post", json_body, 0, 0);
    kubeapi_json_format(b, ",%s]},\"/apis/%s/namespaces/{namespace}/%s/{name}\":{", params,
                        KUMO_API_VERSION, k->plural);
    operation(b, k, "get", "get", NULL, 0, 1);
    operation(b, k, "put", "put", json_body, 0, 0);
    operation(b, k, "patch", "patch", patch_body, 0, 0);
    operation(b, k, "delete", "delete", NULL, 0, 0);
    kubeapi_json_format(b,
                        ",%s,{\"name\":\"name\",\"in\":\"path\",\"required\":true,\"schema\":"
                        "{\"type\":\"string\"}}]}",
                        params);
}

kumo_error kubeapi_openapi_build(kumo_kubeapi *s, kumo_diag *diag)
{
    kumo_codec_buffer *b = &s->openapi_group;
    walk *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    for (size_t i = 0; i < kumo_object_kind_count(); i++) {
        add_message(w, kumo_object_kind_at(i)->descriptor);
        add_message(w, kumo_object_kind_at(i)->list_descriptor);
        kumo_schema_required(kumo_object_kind_at(i), add_required, w);
    }
    kubeapi_json_format(b,
                        "{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"kumo\",\"version\":"
                        "\"%s\"},\"paths\":{",
                        KUMO_API_VERSION);
    for (size_t i = 0; i < kumo_object_kind_count(); i++)
        kind_paths(b, kumo_object_kind_at(i), i == 0);
    kubeapi_json_raw(b, "},\"components\":{\"schemas\":{");
    for (size_t i = 0; i < w->count; i++) {
        if (i > 0)
            kubeapi_json_raw(b, ",");
        message_schema(b, w, w->seen[i]);
    }
    kubeapi_json_raw(b, "}}}");
    free(w);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(b->data, b->len, digest, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 16 && i < len; i++)
        snprintf(s->openapi_hash + 2 * i, sizeof(s->openapi_hash) - 2 * i, "%02X", digest[i]);
    kubeapi_json_format(&s->openapi_root,
                        "{\"paths\":{\"apis/%s\":{\"serverRelativeURL\":"
                        "\"/openapi/v3/apis/%s?hash=%s\"}}}",
                        KUMO_API_VERSION, KUMO_API_VERSION, s->openapi_hash);
    return KUMO_ERROR_OK;
}
