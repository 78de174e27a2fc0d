/*
 * object_test.c - the object module apart from the per-rule tables: examples,
 * the kind registry, manifest decoding, how causes are reported, defaults
 * and their idempotence, and conditions.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/event.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/migration.pb-c.h"
#include "apis/kumo/v1alpha1/recorded_event.pb-c.h"
#include "tests/harness/test.h"
#include "tests/object/helpers.h"

/* Decodes every document of a file; the caller frees with kumo_object_documents_free. */
static kumo_object_document *load_file(const char *relative, size_t *count)
{
    char path[1024];
    size_t len = 0;
    char *text = kumo_test_read_file(kumo_test_source_path(relative, path, sizeof(path)), &len);
    KUMO_REQUIRE_PTR_NONNULL(text);
    kumo_object_document *docs = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err =
        kumo_object_decode_documents(text, len, KUMO_CODEC_FORMAT_YAML, NULL, &docs, count, &diag);
    free(text);
    KUMO_CHECK_(1, err == KUMO_ERROR_OK, "%s: %s", relative, diag.message);
    kumo_diag_fini(&diag);
    return docs;
}

/* Names of the examples/ files, sorted is not needed; NULL-terminated, caller frees. */
static char **example_files(void)
{
    char dir[1024];
    DIR *d = opendir(kumo_test_source_path("examples", dir, sizeof(dir)));
    KUMO_REQUIRE_PTR_NONNULL(d);
    char **names = calloc(64, sizeof(*names));
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 63) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) {
            names[n] = malloc(len + 10);
            snprintf(names[n++], len + 10, "examples/%s", e->d_name);
        }
    }
    closedir(d);
    return names;
}

static void free_names(char **names)
{
    for (size_t i = 0; names[i]; i++)
        free(names[i]);
    free(names);
}

KUMO_TEST(examples_valid)
{
    char **files = example_files();
    size_t total = 0, kinds_seen = 0;
    int *seen = calloc(kumo_object_kind_count(), sizeof(*seen));
    KUMO_REQUIRE_PTR_NONNULL(seen);
    char causes[8192];
    for (size_t f = 0; files[f]; f++) {
        size_t count = 0;
        kumo_object_document *docs = load_file(files[f], &count);
        for (size_t i = 0; i < count; i++) {
            KUMO_CHECK_(0, docs[i].object != NULL, "%s document %d: %s", files[f], docs[i].index,
                        docs[i].diag.message);
            if (docs[i].object == NULL)
                continue;
            for (int defaults = 0; defaults <= 1; defaults++) {
                kumo_diag diag;
                kumo_diag_init(&diag);
                kumo_error err = test_check(docs[i].object, defaults, &diag);
                KUMO_CHECK_(0, err == KUMO_ERROR_OK, "%s document %d (defaults %d): %s%s", files[f],
                            docs[i].index, defaults, diag.message,
                            test_causes_text(&diag, causes, sizeof(causes)));
                kumo_diag_fini(&diag);
            }
            for (size_t k = 0; k < kumo_object_kind_count(); k++)
                if (kumo_object_kind_at(k) == docs[i].kind && !seen[k]++)
                    kinds_seen++;
            total++;
        }
        kumo_object_documents_free(docs, count);
    }
    free_names(files);
    free(seen);
    KUMO_EXPECT_INT_GE(total, 14);
    /* One example per kind a user writes (Events are written by controllers). */
    KUMO_EXPECT_INT_EQ(kinds_seen, kumo_object_kind_count() - 1);
}

KUMO_TEST(kind_lookup)
{
    static const struct {
        const char *name;
        const char *kind;
    } names[] = {
        {"Infra", "Infra"},      {"infras", "Infra"},         {"inf", "Infra"},
        {"INFRA", "Infra"},      {"lb", "LoadBalancer"},      {"loadbalancers", "LoadBalancer"},
        {"sg", "SecurityGroup"}, {"vm", "Machine"},           {"creds", "Credential"},
        {"conn", "Connection"},  {"kp", "KeyPair"},           {"net", "Network"},
        {"application", "App"},  {"migrations", "Migration"}, {"securitygroup", "SecurityGroup"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const kumo_object_kind *kind = kumo_object_kind_lookup(names[i].name);
        KUMO_REQUIRE_PTR_NONNULL(kind);
        KUMO_EXPECT_STR_EQ(kind->kind, names[i].kind);
    }
    KUMO_EXPECT(kumo_object_kind_lookup("Pod") == NULL);
    KUMO_EXPECT(kumo_object_kind_lookup("") == NULL);
    KUMO_EXPECT(kumo_object_kind_lookup(NULL) == NULL);
    KUMO_EXPECT_STR_EQ(kumo_object_kind_lookup("events")->kind, "Event");
    KUMO_EXPECT(kumo_object_kind_of(&kumo__v1alpha1__recorded_event__descriptor) ==
                kumo_object_kind_lookup("ev"));
    const kumo_object_kind *infra = kumo_object_kind_lookup("Infra");
    KUMO_EXPECT(kumo_object_kind_of(&kumo__v1alpha1__infra__descriptor) == infra);
    KUMO_EXPECT(kumo_object_kind_of(&kumo__v1alpha1__infra_list__descriptor) == infra);
    KUMO_EXPECT(kumo_object_kind_of(&kumo__v1alpha1__node_group__descriptor) == NULL);
    KUMO_EXPECT(kumo_object_kind_lookup("Credential")->write_only_spec);
}

/* Whether the example file of a kind holds at least one object of that kind. */
static int example_has_kind(const kumo_object_kind *kind)
{
    size_t count = 0, found = 0;
    kumo_object_document *docs = load_file(kind->example, &count);
    for (size_t i = 0; i < count; i++)
        found += docs[i].kind == kind && docs[i].object != NULL;
    kumo_object_documents_free(docs, count);
    return found > 0;
}

/* One row holds every part of a kind; a row (or an event entry) missing a part fails here. */
KUMO_TEST(kind_registry_complete)
{
    for (size_t k = 0; k < kumo_object_kind_count(); k++) {
        const kumo_object_kind *kind = kumo_object_kind_at(k);
        const char *name = kind->kind;
        KUMO_CHECK_(0, kind->singular && kind->plural && kind->short_names,
                    "%s: names missing from its row", name);
        KUMO_CHECK_(0, kind->descriptor && kind->list_descriptor, "%s: descriptors missing", name);
        KUMO_CHECK_(0, kind->validate != NULL, "%s: no validation rules in its row", name);
        KUMO_CHECK_(0, kind->defaults != NULL,
                    "%s: no defaulting hook in its row (default_none when it has none)", name);
        KUMO_CHECK_(0, kind->columns != NULL && kind->columns->columns[0].header != NULL,
                    "%s: no printer columns in its row", name);
        KUMO_CHECK_(0, kind->example != NULL || kind->controller_written,
                    "%s: no example manifest in its row", name);
        if (kind->example != NULL)
            KUMO_CHECK_(0, example_has_kind(kind), "%s: %s holds no %s", name, kind->example, name);
        const ProtobufCFieldDescriptor *field = kumo_object_kind_event_field(kind);
        KUMO_CHECK_(0, field != NULL, "%s: event.proto's Event has no field \"%s\"", name,
                    kind->event_field ? kind->event_field : "(none in the row)");
        if (field != NULL)
            KUMO_CHECK_(0,
                        field->type == PROTOBUF_C_TYPE_MESSAGE &&
                            field->descriptor == kind->descriptor &&
                            (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF),
                        "%s: Event.%s is not a %s in the object oneof", name, field->name,
                        kind->descriptor->name);
    }
    /* The other way round: every kind in Event's oneof has a row (Status is the error). */
    const ProtobufCMessageDescriptor *event = &kumo__v1alpha1__event__descriptor;
    for (unsigned i = 0; i < event->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &event->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || strcmp(f->name, "error") == 0)
            continue;
        const ProtobufCMessageDescriptor *carried = f->descriptor;
        KUMO_CHECK_(0, kumo_object_kind_of(carried) != NULL,
                    "Event.%s carries %s, which has no row in the kind registry", f->name,
                    carried->name);
    }
}

KUMO_TEST(decode_multi_document_yaml)
{
    static const char text[] = "# three documents, the middle one broken\n"
                               "apiVersion: kumo.dev/v1alpha1\n"
                               "kind: KeyPair\n"
                               "metadata: {name: a}\n"
                               "spec: {connection: c}\n"
                               "---\n"
                               "apiVersion: kumo.dev/v1alpha1\n"
                               "kind: Pod\n"
                               "metadata: {name: b}\n"
                               "---\n"
                               "\n"
                               "apiVersion: kumo.dev/v1alpha1\n"
                               "kind: Network\n"
                               "metadata: {name: c}\n"
                               "spec: {connection: c, cidr: 10.0.0.0/16}\n";
    kumo_object_document *docs = NULL;
    size_t count = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(kumo_object_decode_documents(text, strlen(text), KUMO_CODEC_FORMAT_YAML,
                                                     NULL, &docs, &count, &diag),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(count, 3);
    KUMO_EXPECT_STR_EQ(docs[0].kind->kind, "KeyPair");
    KUMO_EXPECT_STR_EQ(kumo_object_name(docs[0].object), "a");
    KUMO_EXPECT_INT_EQ(docs[0].index, 0);
    KUMO_EXPECT_INT_EQ(docs[0].line, 2);
    KUMO_EXPECT(docs[1].object == NULL);
    KUMO_EXPECT_INT_EQ(docs[1].diag.code, KUMO_ERROR_UNKNOWN_KIND);
    KUMO_EXPECT_CONTAINS(docs[1].diag.message, "Pod");
    KUMO_EXPECT_STR_EQ(docs[2].kind->kind, "Network");
    KUMO_EXPECT_INT_EQ(docs[2].index, 2);
    KUMO_EXPECT_INT_EQ(docs[2].line, 12);
    kumo_object_documents_free(docs, count);
    kumo_diag_fini(&diag);
}

KUMO_TEST(decode_json_list)
{
    static const char typed[] =
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"KeyPairList\", \"items\": ["
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"KeyPair\", \"metadata\": {\"name\": "
        "\"a\"}},"
        "{\"metadata\": {\"name\": \"b\"}, \"spec\": {\"connection\": \"c\"}},"
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"App\", \"metadata\": {\"name\": "
        "\"c\"}}]}";
    static const char generic[] =
        "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": ["
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"KeyPair\", \"metadata\": {\"name\": "
        "\"a\"}},"
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", \"metadata\": {\"name\": "
        "\"b\"}},"
        "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": []}]}";
    kumo_object_document *docs = NULL;
    size_t count = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(kumo_object_decode_documents(typed, strlen(typed), KUMO_CODEC_FORMAT_JSON,
                                                     NULL, &docs, &count, &diag),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(count, 3);
    KUMO_EXPECT_STR_EQ(kumo_object_name(docs[0].object), "a");
    KUMO_EXPECT_STR_EQ(kumo_object_name(docs[1].object), "b"); /* kind implied by the list */
    KUMO_EXPECT(docs[2].object == NULL);
    KUMO_EXPECT_CONTAINS(docs[2].diag.message, "items[2] of a KeyPairList is a App");
    kumo_object_documents_free(docs, count);

    KUMO_REQUIRE_INT_EQ(kumo_object_decode_documents(generic, strlen(generic),
                                                     KUMO_CODEC_FORMAT_JSON, NULL, &docs, &count,
                                                     &diag),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(count, 3);
    KUMO_EXPECT_STR_EQ(docs[0].kind->kind, "KeyPair");
    KUMO_EXPECT_STR_EQ(docs[1].kind->kind, "Infra");
    KUMO_EXPECT_STR_EQ(kumo_object_name(docs[1].object), "b");
    KUMO_EXPECT(docs[2].object == NULL);
    KUMO_EXPECT_CONTAINS(docs[2].diag.message, "lists do not nest");
    kumo_object_documents_free(docs, count);
    kumo_diag_fini(&diag);
}

KUMO_TEST(decode_strict_unknown_field)
{
    static const char text[] =
        "{apiVersion: kumo.dev/v1alpha1, kind: KeyPair, metadata: {name: a}, "
        "spec: {connection: c, colour: red}}";
    ProtobufCMessage *object = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_EXPECT_INT_NE(
        kumo_object_decode(NULL, text, strlen(text), KUMO_CODEC_FORMAT_YAML, NULL, &object, &diag),
        KUMO_ERROR_OK);
    KUMO_EXPECT(object == NULL);
    KUMO_EXPECT_CONTAINS(diag.message, "spec.colour");
    kumo_diag_fini(&diag);
}

KUMO_TEST(decode_reports_every_problem)
{
    /* JSON with a known kind (the apiserver's path) and YAML documents alike: an int32
     * overflow and an unknown field do not hide the other problems */
    static const char json[] =
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", \"metadata\": {\"name\": "
        "\"Bad_Name\"}, \"spec\": {\"groups\": [{\"name\": \"a\", \"size\": 99999999999, "
        "\"connection\": \"x\", \"instanceType\": \"t\", \"image\": \"u\"}, {\"name\": \"b\", "
        "\"size\": -1, \"colour\": 1}]}}";
    const kumo_codec_format formats[2] = {KUMO_CODEC_FORMAT_JSON, KUMO_CODEC_FORMAT_YAML};
    for (int i = 0; i < 2; i++) {
        ProtobufCMessage *object = NULL;
        kumo_diag diag;
        kumo_diag_init(&diag);
        KUMO_EXPECT_INT_EQ(kumo_object_decode(i == 0 ? kumo_object_kind_lookup("Infra") : NULL,
                                              json, strlen(json), formats[i], NULL, &object, &diag),
                           KUMO_ERROR_INVALID);
        KUMO_EXPECT(object == NULL);
        KUMO_EXPECT_INT_GE(diag.cause_count, 5);
        KUMO_EXPECT_CONTAINS(diag.message, "spec.groups[0].size: Invalid value: 99999999999");
        KUMO_EXPECT_CONTAINS(diag.message, "spec.groups[1].colour: Unknown field");
        KUMO_EXPECT_CONTAINS(diag.message, "metadata.name: Invalid value: \"Bad_Name\"");
        KUMO_EXPECT_CONTAINS(diag.message, "spec.groups[1].size: Invalid value: -1");
        KUMO_EXPECT_CONTAINS(diag.message, "spec.groups[1].image: Required value");
        kumo_diag_fini(&diag);
    }
}

/* Loads, defaults and validates; returns the diag message (static storage). */
static const char *message_of(const char *manifest, kumo_diag *diag)
{
    ProtobufCMessage *object = test_load(manifest);
    KUMO_EXPECT_INT_EQ(test_check(object, 1, diag), KUMO_ERROR_INVALID);
    kumo_object_destroy(object);
    return diag->message;
}

KUMO_TEST(message_exact_size)
{
    static const char manifest[] =
        "apiVersion: kumo.dev/v1alpha1\nkind: Infra\nmetadata:\n  name: web\nspec:\n  groups:\n"
        "    - {name: a, connection: c, instanceType: t, image: i}\n"
        "    - {name: b, size: -1, connection: c, instanceType: t, image: i}\n";
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_EXPECT_STR_EQ(message_of(manifest, &diag),
                       "Infra \"web\" is invalid: spec.groups[1].size: Invalid value: -1: must be "
                       "greater than or equal to 0");
    KUMO_EXPECT_INT_EQ(diag.code, KUMO_ERROR_INVALID);
    KUMO_REQUIRE_INT_EQ(diag.cause_count, 1);
    KUMO_EXPECT_STR_EQ(diag.causes[0].field, "spec.groups[1].size");
    KUMO_EXPECT_STR_EQ(diag.causes[0].value, "-1");
    KUMO_EXPECT_INT_EQ(diag.causes[0].type, KUMO_CAUSE_INVALID);
    kumo_diag_fini(&diag);
}

KUMO_TEST(all_causes_reported)
{
    /* Three independent problems: a bad name, a negative size, a duplicate group. */
    static const char manifest[] =
        "{apiVersion: kumo.dev/v1alpha1, kind: Infra, metadata: {name: Web}, spec: {groups: ["
        "{name: a, size: -1, connection: c, instanceType: t, image: i},"
        "{name: a, connection: c, instanceType: t, image: i}]}}";
    kumo_diag diag;
    kumo_diag_init(&diag);
    const char *message = message_of(manifest, &diag);
    KUMO_EXPECT_INT_EQ(diag.cause_count, 3);
    KUMO_EXPECT_CONTAINS(message,
                         "Infra \"Web\" is invalid: [metadata.name: Invalid value: \"Web\"");
    KUMO_EXPECT_CONTAINS(message, ", spec.groups[0].size: Invalid value: -1: must be greater than "
                                  "or equal to 0");
    KUMO_EXPECT_CONTAINS(message, ", spec.groups[1].name: Duplicate value: \"a\"]");
    kumo_diag_fini(&diag);
}

KUMO_TEST(causes_capped_and_fast)
{
    /* 20,000 groups, each with two problems and every name the same: bounded output. */
    size_t groups = 20000, cap = groups * 64 + 256, len = 0;
    char *text = malloc(cap);
    KUMO_REQUIRE_PTR_NONNULL(text);
    len += (size_t)snprintf(text, cap,
                            "{apiVersion: kumo.dev/v1alpha1, kind: Infra, metadata: "
                            "{name: big}, spec: {groups: [");
    for (size_t i = 0; i < groups; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s{name: a, size: -1, image: i}",
                                i ? "," : "");
    snprintf(text + len, cap - len, "]}}");
    double start = kumo_test_now();
    ProtobufCMessage *object = test_load(text);
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_EXPECT_INT_EQ(test_check(object, 0, &diag), KUMO_ERROR_INVALID);
    KUMO_EXPECT_INT_EQ(diag.cause_count, 1001); /* 1000 stored, then "N more" */
    KUMO_EXPECT(test_has_cause(&diag, "spec.groups: Too long: must have at most 100 items"));
    KUMO_EXPECT_CONTAINS(diag.causes[1000].message, "more errors not listed");
    KUMO_EXPECT_INT_LT(kumo_test_now() - start, 10.0);
    kumo_diag_fini(&diag);
    kumo_object_destroy(object);
    free(text);
}

KUMO_TEST(secret_values_never_printed)
{
    static const char manifest[] = "{apiVersion: kumo.dev/v1alpha1, kind: Credential, metadata: "
                                   "{name: c}, spec: {type: tls, data: {'bad key': "
                                   "TOPSECRETVALUE, tls.crt: ALSOSECRET}}}";
    kumo_diag diag;
    char causes[4096];
    kumo_diag_init(&diag);
    const char *message = message_of(manifest, &diag);
    KUMO_EXPECT_CONTAINS(message, "\"bad key\"");
    KUMO_EXPECT_CONTAINS(message, "spec.data[\"tls.key\"]: Required value");
    KUMO_EXPECT(strstr(message, "SECRET") == NULL);
    KUMO_EXPECT(strstr(test_causes_text(&diag, causes, sizeof(causes)), "SECRET") == NULL);
    kumo_diag_fini(&diag);
}

KUMO_TEST(type_meta_and_enums)
{
    /* Objects built in code (or decoded from protobuf) can hold what YAML cannot. */
    ProtobufCMessage *object = kumo_object_new(kumo_object_kind_lookup("LoadBalancer"));
    KUMO_REQUIRE_PTR_NONNULL(object);
    Kumo__V1alpha1__LoadBalancer *lb = (Kumo__V1alpha1__LoadBalancer *)object;
    kumo_codec_string_set(&lb->api_version, "kumo.dev/v2");
    kumo_codec_string_set(&lb->kind, "Infra");
    kumo_codec_string_set(&lb->metadata->name, "lb");
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_EXPECT_INT_EQ(kumo_object_default(object, &diag), KUMO_ERROR_OK);
    lb->spec->policy = 42;
    lb->spec->health_check->type = 0;
    KUMO_EXPECT_INT_EQ(kumo_object_validate(object, &diag), KUMO_ERROR_INVALID);
    KUMO_EXPECT(test_has_cause(&diag, "apiVersion: Unsupported value: \"kumo.dev/v2\": supported "
                                      "values: \"kumo.dev/v1alpha1\""));
    KUMO_EXPECT(test_has_cause(&diag, "kind: Unsupported value: \"Infra\": supported values: "
                                      "\"LoadBalancer\""));
    KUMO_EXPECT(test_has_cause(&diag, "spec.policy: Unsupported value: 42: supported values: "
                                      "\"RoundRobin\", \"Weighted\", \"Failover\", \"Nearest\", "
                                      "\"LeastConnections\""));
    KUMO_EXPECT(test_has_cause(&diag, "spec.healthCheck.type: Required value"));
    KUMO_EXPECT(test_has_cause(&diag, "spec.listeners: Required value"));
    kumo_diag_fini(&diag);
    kumo_object_destroy(object);

    /* A message that is not a kind is refused, not validated. */
    Kumo__V1alpha1__NodeGroup group = KUMO__V1ALPHA1__NODE_GROUP__INIT;
    KUMO_EXPECT_INT_EQ(kumo_object_validate(&group.base, &diag), KUMO_ERROR_INVALID_ARGUMENT);
    KUMO_EXPECT_INT_EQ(kumo_object_default(&group.base, &diag), KUMO_ERROR_INVALID_ARGUMENT);
    KUMO_EXPECT_INT_EQ(kumo_object_validate(NULL, &diag), KUMO_ERROR_INVALID_ARGUMENT);
    /* And a NULL diag still gets the verdict. */
    ProtobufCMessage *empty = kumo_object_new(kumo_object_kind_lookup("App"));
    KUMO_EXPECT_INT_EQ(kumo_object_validate(empty, NULL), KUMO_ERROR_INVALID);
    kumo_object_destroy(empty);
    kumo_diag_fini(&diag);
}

KUMO_TEST(name_rules)
{
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name));
    long_name[253] = '\0';
    KUMO_EXPECT(kumo_object_name_is_valid(long_name));
    long_name[253] = 'a';
    long_name[254] = '\0';
    KUMO_EXPECT(!kumo_object_name_is_valid(long_name));
    static const char *const good[] = {"a", "web", "web-1", "1", "a-b-c", "0abc9"};
    static const char *const bad[] = {"", "-a", "a-", "A", "a.b", "a_b", "a b", "é", "a\n"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        KUMO_CHECK_(0, kumo_object_name_is_valid(good[i]), "\"%s\" should be valid", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        KUMO_CHECK_(0, !kumo_object_name_is_valid(bad[i]), "\"%s\" should be invalid", bad[i]);
    KUMO_EXPECT(kumo_object_namespace_is_valid("default"));
    KUMO_EXPECT(!kumo_object_namespace_is_valid(""));
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    KUMO_EXPECT(!kumo_object_namespace_is_valid(long_name));
    long_name[63] = '\0';
    KUMO_EXPECT(kumo_object_namespace_is_valid(long_name));

    /* Too long is reported as such, with the limit. */
    char manifest[512];
    memset(long_name, 'a', 254);
    long_name[254] = '\0';
    snprintf(manifest, sizeof(manifest),
             "{apiVersion: kumo.dev/v1alpha1, kind: KeyPair, metadata: {name: %s}, spec: "
             "{connection: c}}",
             long_name);
    kumo_diag diag;
    kumo_diag_init(&diag);
    message_of(manifest, &diag);
    KUMO_EXPECT(test_has_cause(&diag, "metadata.name: Too long: must have at most 253 bytes"));
    kumo_diag_fini(&diag);
}

KUMO_TEST(annotations_size_limit)
{
    size_t big = 300 * 1024;
    char *manifest = malloc(big + 256);
    KUMO_REQUIRE_PTR_NONNULL(manifest);
    int n = snprintf(manifest, 256,
                     "{apiVersion: kumo.dev/v1alpha1, kind: KeyPair, metadata: "
                     "{name: a, annotations: {note: ");
    memset(manifest + n, 'x', big);
    snprintf(manifest + n + big, 128, "}}, spec: {connection: c}}");
    kumo_diag diag;
    kumo_diag_init(&diag);
    message_of(manifest, &diag);
    KUMO_EXPECT(test_has_cause(&diag, "metadata.annotations: Too long: must have at most 262144 "
                                      "bytes in total"));
    KUMO_EXPECT_INT_EQ(diag.cause_count, 1);
    kumo_diag_fini(&diag);
    free(manifest);
}

KUMO_TEST(defaults_values)
{
    static const char manifest[] =
        "apiVersion: kumo.dev/v1alpha1\nkind: LoadBalancer\nmetadata: {name: lb}\n"
        "spec: {listeners: [{name: a, port: 80}], backends: [{name: b, addresses: [1.2.3.4], "
        "port: 80}], sessionAffinity: {type: Cookie}}\n";
    ProtobufCMessage *object = test_load(manifest);
    KUMO_REQUIRE_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
    Kumo__V1alpha1__LoadBalancer *lb = (Kumo__V1alpha1__LoadBalancer *)object;
    KUMO_EXPECT_STR_EQ(lb->metadata->namespace_, "default");
    KUMO_EXPECT_INT_EQ(lb->spec->policy, KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__RoundRobin);
    KUMO_EXPECT_INT_EQ(lb->spec->listeners[0]->protocol,
                       KUMO__V1ALPHA1__LOAD_BALANCER_LISTENER__PROTOCOL__TCP);
    KUMO_EXPECT_INT_EQ(lb->spec->backends[0]->weight, 1);
    KUMO_EXPECT_INT_EQ(lb->spec->backends[0]->priority, 0);
    KUMO_REQUIRE_PTR_NONNULL(lb->spec->health_check);
    KUMO_EXPECT_INT_EQ(lb->spec->health_check->type, KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__TCP);
    KUMO_EXPECT_INT_EQ(lb->spec->health_check->interval_seconds, 10);
    KUMO_EXPECT_INT_EQ(lb->spec->health_check->timeout_seconds, 2);
    KUMO_EXPECT_INT_EQ(lb->spec->health_check->failure_threshold, 3);
    KUMO_EXPECT_INT_EQ(lb->spec->health_check->success_threshold, 1);
    KUMO_EXPECT_INT_EQ(lb->spec->session_affinity->timeout_seconds, 10800);
    KUMO_EXPECT_STR_EQ(lb->spec->session_affinity->cookie_name, "KUMO_SESSION");
    kumo_object_destroy(object);

    object = test_load("{apiVersion: kumo.dev/v1alpha1, kind: Infra, metadata: {name: i}, spec: "
                       "{groups: [{name: a, image: i, placement: {userLocations: [{region: r}]}, "
                       "securityRules: [{fromPort: 22}, {protocol: ICMP}]}]}}");
    KUMO_REQUIRE_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)object;
    Kumo__V1alpha1__NodeGroup *group = infra->spec->groups[0];
    KUMO_EXPECT_INT_EQ(infra->spec->drift_policy,
                       KUMO__V1ALPHA1__INFRA_SPEC__DRIFT_POLICY__Recreate);
    KUMO_EXPECT_STR_EQ(infra->spec->network_cidr, ""); /* per connection, by the controller */
    KUMO_EXPECT_INT_EQ(group->size_present_case, KUMO__V1ALPHA1__NODE_GROUP__SIZE_PRESENT_SIZE);
    KUMO_EXPECT_INT_EQ(group->size, 1);
    KUMO_EXPECT_INT_EQ(group->placement->preference,
                       KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Balanced);
    KUMO_EXPECT_INT_EQ(group->placement->spread_connections, 1);
    KUMO_EXPECT_INT_EQ(group->placement->user_locations[0]->weight, 1);
    KUMO_EXPECT_INT_EQ(group->security_rules[0]->direction,
                       KUMO__V1ALPHA1__SECURITY_RULE__DIRECTION__Inbound);
    KUMO_EXPECT_INT_EQ(group->security_rules[0]->protocol,
                       KUMO__V1ALPHA1__SECURITY_RULE__PROTOCOL__TCP);
    KUMO_EXPECT_INT_EQ(group->security_rules[0]->to_port, 22);
    KUMO_EXPECT_STR_EQ(group->security_rules[0]->cidr, "0.0.0.0/0");
    KUMO_EXPECT_INT_EQ(group->security_rules[1]->to_port, 0); /* ICMP has no ports */
    kumo_object_destroy(object);

    object = test_load("{apiVersion: kumo.dev/v1alpha1, kind: App, metadata: {name: shop, "
                       "namespace: prod}, spec: {infraRef: {name: i}, components: [{name: web, "
                       "command: [x], ports: [{port: 80}], files: [{path: a}], healthCheck: {type: "
                       "HTTP, port: 80, intervalSeconds: 1}}]}}");
    KUMO_REQUIRE_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
    Kumo__V1alpha1__App *app = (Kumo__V1alpha1__App *)object;
    Kumo__V1alpha1__AppComponent *c = app->spec->components[0];
    KUMO_EXPECT_STR_EQ(app->spec->rolling_update->max_unavailable, "1");
    KUMO_EXPECT_INT_EQ(c->replicas, 1);
    KUMO_EXPECT_INT_EQ(c->restart_policy, KUMO__V1ALPHA1__APP_COMPONENT__RESTART_POLICY__Always);
    KUMO_EXPECT_INT_EQ(c->ports[0]->protocol, KUMO__V1ALPHA1__APP_PORT__PROTOCOL__TCP);
    KUMO_EXPECT_STR_EQ(c->files[0]->mode, "0644");
    KUMO_EXPECT_STR_EQ(c->working_dir, ""); /* the agent's own data directory */
    KUMO_EXPECT_STR_EQ(c->health_check->path, "/");
    KUMO_EXPECT_INT_EQ(c->health_check->timeout_seconds, 1); /* never above the interval */
    kumo_object_destroy(object);

    object = test_load("{apiVersion: kumo.dev/v1alpha1, kind: Migration, metadata: {name: m}, "
                       "spec: {source: {appRef: {name: a}}, target: {connection: c, instanceType: "
                       "t}, cutover: {loadBalancerRef: {name: lb}}}}");
    KUMO_REQUIRE_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
    Kumo__V1alpha1__Migration *mig = (Kumo__V1alpha1__Migration *)object;
    KUMO_EXPECT_INT_EQ(mig->spec->strategy, KUMO__V1ALPHA1__MIGRATION_SPEC__STRATEGY__BlueGreen);
    KUMO_EXPECT_INT_EQ(mig->spec->rollback_on_failure, 1);
    KUMO_REQUIRE_INT_EQ(mig->spec->cutover->n_steps, 1);
    KUMO_EXPECT_INT_EQ(mig->spec->cutover->steps[0]->weight, 100);
    KUMO_EXPECT_INT_EQ(mig->spec->timeouts->provision_seconds, 900);
    KUMO_EXPECT_INT_EQ(mig->spec->timeouts->deploy_seconds, 600);
    KUMO_EXPECT_INT_EQ(mig->spec->timeouts->drain_seconds, 60);
    KUMO_EXPECT_INT_EQ(mig->spec->timeouts->step_seconds, 120);
    KUMO_EXPECT_INT_EQ(mig->spec->paused, 0);
    kumo_object_destroy(object);

    object = test_load("{apiVersion: kumo.dev/v1alpha1, kind: Connection, metadata: {name: c}, "
                       "spec: {driver: sim, region: r}}");
    KUMO_REQUIRE_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
    Kumo__V1alpha1__Connection *conn = (Kumo__V1alpha1__Connection *)object;
    KUMO_EXPECT_STR_EQ(conn->spec->provider, "sim");
    KUMO_EXPECT(conn->spec->rate_limit->qps == 10.0);
    KUMO_EXPECT_INT_EQ(conn->spec->rate_limit->burst, 20);
    KUMO_EXPECT_INT_EQ(conn->spec->rate_limit->max_in_flight, 8);
    kumo_object_destroy(object);
}

KUMO_TEST(defaults_keep_given_values)
{
    /* Explicit values (including explicit zeros of presence fields) are never replaced. */
    ProtobufCMessage *object =
        test_load("{apiVersion: kumo.dev/v1alpha1, kind: Migration, metadata: {name: m, "
                  "namespace: team}, spec: {source: {appRef: {name: a}}, target: {connection: c, "
                  "instanceType: t}, strategy: Cold, rollbackOnFailure: false, timeouts: "
                  "{drainSeconds: 5}}}");
    KUMO_REQUIRE_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
    Kumo__V1alpha1__Migration *mig = (Kumo__V1alpha1__Migration *)object;
    KUMO_EXPECT_STR_EQ(mig->metadata->namespace_, "team");
    KUMO_EXPECT_INT_EQ(mig->spec->strategy, KUMO__V1ALPHA1__MIGRATION_SPEC__STRATEGY__Cold);
    KUMO_EXPECT_INT_EQ(mig->spec->rollback_on_failure, 0);
    KUMO_EXPECT_INT_EQ(mig->spec->timeouts->drain_seconds, 5);
    KUMO_EXPECT_INT_EQ(mig->spec->timeouts->deploy_seconds, 600);
    KUMO_EXPECT(mig->spec->cutover == NULL);
    kumo_object_destroy(object);
    object = test_load("{apiVersion: kumo.dev/v1alpha1, kind: Infra, metadata: {name: i}, spec: "
                       "{groups: [{name: a, size: 0, connection: c, instanceType: t, image: i}]}}");
    KUMO_REQUIRE_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(((Kumo__V1alpha1__Infra *)object)->spec->groups[0]->size, 0);
    kumo_object_destroy(object);
}

KUMO_TEST(defaults_idempotent)
{
    char **files = example_files();
    size_t checked = 0;
    for (size_t f = 0; files[f]; f++) {
        size_t count = 0;
        kumo_object_document *docs = load_file(files[f], &count);
        for (size_t i = 0; i < count; i++) {
            if (docs[i].object == NULL)
                continue;
            KUMO_EXPECT_INT_EQ(kumo_object_default(docs[i].object, NULL), KUMO_ERROR_OK);
            char *once = test_json(docs[i].object);
            ProtobufCMessage *copy = kumo_codec_message_clone(docs[i].object);
            KUMO_REQUIRE_PTR_NONNULL(copy);
            KUMO_EXPECT_INT_EQ(kumo_object_default(copy, NULL), KUMO_ERROR_OK);
            char *twice = test_json(copy);
            KUMO_CHECK_(0, strcmp(once, twice) == 0, "%s: once %s\ntwice %s", files[f], once,
                        twice);
            free(once);
            free(twice);
            kumo_object_destroy(copy);
            checked++;
        }
        kumo_object_documents_free(docs, count);
    }
    free_names(files);
    /* And an object with nothing in it: defaulting creates the spec parts once. */
    for (size_t k = 0; k < kumo_object_kind_count(); k++) {
        ProtobufCMessage *object = kumo_object_new(kumo_object_kind_at(k));
        KUMO_EXPECT_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
        char *once = test_json(object);
        KUMO_EXPECT_INT_EQ(kumo_object_default(object, NULL), KUMO_ERROR_OK);
        char *twice = test_json(object);
        KUMO_EXPECT_STR_EQ(once, twice);
        KUMO_EXPECT_CONTAINS(once, "\"namespace\":\"default\"");
        free(once);
        free(twice);
        kumo_object_destroy(object);
        checked++;
    }
    KUMO_EXPECT_INT_GE(checked, 24);
}

KUMO_TEST(conditions_set_get)
{
    ProtobufCMessage *object = kumo_object_new(kumo_object_kind_lookup("Infra"));
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)object;
    infra->metadata->generation = 3;
    KUMO_EXPECT(kumo_object_condition_get(object, "Ready") == NULL);
    KUMO_EXPECT_INT_EQ(kumo_object_condition_set(object, "Ready", "False", "Provisioning", "0/3"),
                       1);
    const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(object, "Ready");
    KUMO_REQUIRE_PTR_NONNULL(c);
    KUMO_REQUIRE_PTR_NONNULL(c->last_transition_time);
    KUMO_EXPECT_STR_EQ(c->status, "False");
    KUMO_EXPECT_INT_EQ(c->observed_generation, 3);
    /* Same status, new message: changed, but the transition time stays. */
    c->last_transition_time->seconds = 1000;
    KUMO_EXPECT_INT_EQ(kumo_object_condition_set(object, "Ready", "False", "Provisioning", "1/3"),
                       1);
    KUMO_EXPECT_INT_EQ(c->last_transition_time->seconds, 1000);
    KUMO_EXPECT_STR_EQ(c->message, "1/3");
    /* Nothing new: not changed. */
    KUMO_EXPECT_INT_EQ(kumo_object_condition_set(object, "Ready", "False", "Provisioning", "1/3"),
                       0);
    /* A new generation is observed without a transition. */
    infra->metadata->generation = 4;
    KUMO_EXPECT_INT_EQ(kumo_object_condition_set(object, "Ready", "False", "Provisioning", "1/3"),
                       1);
    KUMO_EXPECT_INT_EQ(c->observed_generation, 4);
    KUMO_EXPECT_INT_EQ(c->last_transition_time->seconds, 1000);
    /* Status change: the transition time moves. */
    KUMO_EXPECT_INT_EQ(kumo_object_condition_set(object, "Ready", "True", "Ready", ""), 1);
    KUMO_EXPECT_INT_GT(c->last_transition_time->seconds, 1000);
    /* A second type is a second condition. */
    KUMO_EXPECT_INT_EQ(kumo_object_condition_set(object, "Degraded", "False", "AsExpected", ""), 1);
    KUMO_EXPECT_INT_EQ(infra->status->n_conditions, 2);
    KUMO_EXPECT_STR_EQ(kumo_object_condition_get(object, "Degraded")->reason, "AsExpected");
    kumo_object_destroy(object);
}
