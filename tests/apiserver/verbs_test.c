/*
 * verbs_test.c - every verb over a real nats-server, in JSON and in protobuf;
 * Status bodies; list pagination and selectors; Credential data never
 * returned; many concurrent clients.
 */
#define _GNU_SOURCE /* memmem */
#include "tests/apiserver/helper.h"
#include "tests/harness/test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/event.pb-c.h"
#include "apis/kumo/v1alpha1/meta.pb-c.h"

static const char *const JSON_HEADERS[] = {"Content-Type", "application/json", NULL};

static void request_json(api_env *env, const char *verb, const char *ns, const char *name,
                         const char *body, api_reply *out)
{
    char subject[256];
    api_subject(subject, sizeof(subject), verb, "connections", ns);
    const char *headers[] = {"Kumo-Name", name, NULL};
    api_request(env->nc, subject, name ? headers : NULL, body, body ? strlen(body) : 0, out);
}

KUMO_TEST(verbs_json)
{
    api_env env;
    api_env_start(&env, NULL);
    api_reply r;
    char rv[32], uid[64], buf[128];

    request_json(&env, "create", "default", NULL, api_connection_json("web", "default", NULL), &r);
    KUMO_REQUIRE_INT_EQ(r.code, 201);
    KUMO_EXPECT_STR_EQ(r.content_type, "application/json");
    KUMO_REQUIRE_PTR_NONNULL(api_json_string(r.body, "resourceVersion", rv, sizeof(rv)));
    KUMO_EXPECT_PTR_NONNULL(api_json_string(r.body, "uid", uid, sizeof(uid)));
    KUMO_EXPECT_CONTAINS(r.body, "\"region\":\"us-east-1\"");
    api_reply_fini(&r);

    request_json(&env, "create", "default", NULL, api_connection_json("web", "default", NULL), &r);
    KUMO_EXPECT_INT_EQ(r.code, 409);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"AlreadyExists\"");
    api_reply_fini(&r);

    request_json(&env, "get", "default", "web", NULL, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_STR_EQ(api_json_string(r.body, "uid", buf, sizeof(buf)), uid);
    api_reply_fini(&r);

    request_json(&env, "get", "default", "nope", NULL, &r);
    KUMO_EXPECT_INT_EQ(r.code, 404);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"NotFound\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"Status\"");
    api_reply_fini(&r);

    /* update with the current resourceVersion, then a stale one */
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\",\"metadata\":{"
             "\"name\":\"web\",\"resourceVersion\":\"%s\"},\"spec\":{\"driver\":\"sim\","
             "\"region\":\"eu-west-1\"}}",
             rv);
    request_json(&env, "update", "default", NULL, body, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"region\":\"eu-west-1\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"generation\":\"2\"");
    char rv2[32];
    KUMO_EXPECT_PTR_NONNULL(api_json_string(r.body, "resourceVersion", rv2, sizeof(rv2)));
    api_reply_fini(&r);
    request_json(&env, "update", "default", NULL, body, &r);
    KUMO_EXPECT_INT_EQ(r.code, 409);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"Conflict\"");
    api_reply_fini(&r);

    /* status: only status is taken */
    request_json(&env, "status", "default", NULL,
                 "{\"kind\":\"Connection\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"driver\":"
                 "\"sim\",\"region\":\"ap-south-1\"},\"status\":{\"reachable\":true}}",
                 &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"reachable\":true");
    KUMO_EXPECT_CONTAINS(r.body, "\"region\":\"eu-west-1\"");
    api_reply_fini(&r);

    /* patch */
    const char *patch_headers[] = {"Kumo-Name", "web", "Content-Type",
                                   "application/merge-patch+json", NULL};
    const char *patch = "{\"metadata\":{\"labels\":{\"tier\":\"edge\"}}}";
    api_request(env.nc, "kumo.v1.api.patch.connections.default", patch_headers, patch,
                strlen(patch), &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"tier\":\"edge\"");
    api_reply_fini(&r);

    /* apply: created, then changed */
    request_json(&env, "apply", "default", NULL, api_connection_json("api", "default", NULL), &r);
    KUMO_EXPECT_INT_EQ(r.code, 201);
    api_reply_fini(&r);
    request_json(&env, "apply", "default", NULL,
                 api_connection_json("api", "default", ",\"tier\":\"back\""), &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"tier\":\"back\"");
    api_reply_fini(&r);

    /* YAML in, YAML out (kumoctl's convenience) */
    const char *yaml_headers[] = {"Content-Type", "application/yaml", NULL};
    const char *yaml = "apiVersion: kumo.dev/v1alpha1\nkind: Connection\nmetadata:\n  name: yml\n"
                       "spec:\n  driver: sim\n  region: us-east-1\n";
    api_request(env.nc, "kumo.v1.api.create.connections.default", yaml_headers, yaml, strlen(yaml),
                &r);
    KUMO_EXPECT_INT_EQ(r.code, 201);
    KUMO_EXPECT_STR_EQ(r.content_type, "application/yaml");
    KUMO_EXPECT_CONTAINS(r.body, "name: yml");
    api_reply_fini(&r);
    request_json(&env, "delete", "default", "yml", NULL, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    api_reply_fini(&r);

    /* list */
    request_json(&env, "list", "default", NULL, NULL, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"ConnectionList\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"api\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"web\"");
    api_reply_fini(&r);

    /* delete with a wrong uid precondition, then for real */
    const char *bad_uid[] = {"Kumo-Name", "api", "Kumo-Uid", "not-the-uid", NULL};
    api_request(env.nc, "kumo.v1.api.delete.connections.default", bad_uid, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 409);
    api_reply_fini(&r);
    request_json(&env, "delete", "default", "api", NULL, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"api\"");
    api_reply_fini(&r);
    request_json(&env, "get", "default", "api", NULL, &r);
    KUMO_EXPECT_INT_EQ(r.code, 404);
    api_reply_fini(&r);

    /* watch from the first revision sees every change of the resource */
    const char *watch_headers[] = {"Kumo-Resource-Version", "0", NULL};
    api_request(env.nc, "kumo.v1.api.watch.connections.default", watch_headers, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"EventList\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"type\":\"ADDED\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"type\":\"DELETED\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"connection\":{");
    api_reply_fini(&r);
    api_env_stop(&env);
}

/* Encodes the JSON of a Connection as protobuf into out. */
static void connection_protobuf(const char *json, kumo_codec_buffer *out)
{
    ProtobufCMessage *m = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_codec_json_decode(&kumo__v1alpha1__connection__descriptor, json,
                                               strlen(json), NULL, &m, NULL),
                        KUMO_ERROR_OK);
    kumo_codec_buffer_reset(out);
    KUMO_REQUIRE_INT_EQ(kumo_codec_protobuf_encode(m, out), KUMO_ERROR_OK);
    kumo_codec_message_free(m);
}

static ProtobufCMessage *decode_reply(const api_reply *r, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = NULL;
    kumo_codec_protobuf_decode(d, (const uint8_t *)r->body, r->len, NULL, &m, NULL);
    return m;
}

KUMO_TEST(verbs_protobuf)
{
    api_env env;
    api_env_start(&env, NULL);
    kumo_codec_buffer pb;
    kumo_codec_buffer_init(&pb);
    api_reply r;
    const char *pb_headers[] = {"Content-Type", "application/protobuf", NULL};

    connection_protobuf(api_connection_json("pb", "default", NULL), &pb);
    api_request(env.nc, "kumo.v1.api.create.connections.default", pb_headers, pb.data, pb.len, &r);
    KUMO_REQUIRE_INT_EQ(r.code, 201);
    KUMO_EXPECT_STR_EQ(r.content_type, "application/protobuf");
    Kumo__V1alpha1__Connection *c =
        (Kumo__V1alpha1__Connection *)decode_reply(&r, &kumo__v1alpha1__connection__descriptor);
    KUMO_REQUIRE_PTR_NONNULL(c);
    KUMO_EXPECT_STR_EQ(c->metadata->name, "pb");
    KUMO_EXPECT_INT_GT(strlen(c->metadata->uid), 0);
    char rv[32];
    snprintf(rv, sizeof(rv), "%s", c->metadata->resource_version);
    kumo_codec_message_free(&c->base);
    api_reply_fini(&r);

    const char *get_headers[] = {"Content-Type", "application/protobuf", "Kumo-Name", "pb", NULL};
    api_request(env.nc, "kumo.v1.api.get.connections.default", get_headers, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    c = (Kumo__V1alpha1__Connection *)decode_reply(&r, &kumo__v1alpha1__connection__descriptor);
    KUMO_REQUIRE_PTR_NONNULL(c);
    KUMO_EXPECT_STR_EQ(c->spec->region, "us-east-1");
    kumo_codec_message_free(&c->base);
    api_reply_fini(&r);

    /* update, status and apply in protobuf */
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"kind\":\"Connection\",\"metadata\":{\"name\":\"pb\",\"resourceVersion\":\"%s\"},"
             "\"spec\":{\"driver\":\"sim\",\"region\":\"eu-west-1\"},"
             "\"status\":{\"reachable\":true}}",
             rv);
    connection_protobuf(json, &pb);
    api_request(env.nc, "kumo.v1.api.update.connections.default", pb_headers, pb.data, pb.len, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    c = (Kumo__V1alpha1__Connection *)decode_reply(&r, &kumo__v1alpha1__connection__descriptor);
    KUMO_REQUIRE_PTR_NONNULL(c);
    KUMO_EXPECT_STR_EQ(c->spec->region, "eu-west-1");
    KUMO_EXPECT(c->status == NULL || !c->status->reachable); /* update keeps the status */
    kumo_codec_message_free(&c->base);
    api_reply_fini(&r);
    connection_protobuf("{\"kind\":\"Connection\",\"metadata\":{\"name\":\"pb\"},"
                        "\"status\":{\"reachable\":true}}",
                        &pb);
    api_request(env.nc, "kumo.v1.api.status.connections.default", pb_headers, pb.data, pb.len, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    c = (Kumo__V1alpha1__Connection *)decode_reply(&r, &kumo__v1alpha1__connection__descriptor);
    KUMO_REQUIRE_PTR_NONNULL(c);
    KUMO_EXPECT(c->status != NULL && c->status->reachable);
    kumo_codec_message_free(&c->base);
    api_reply_fini(&r);
    connection_protobuf(api_connection_json("pb2", "default", NULL), &pb);
    api_request(env.nc, "kumo.v1.api.apply.connections.default", pb_headers, pb.data, pb.len, &r);
    KUMO_EXPECT_INT_EQ(r.code, 201);
    KUMO_EXPECT_STR_EQ(r.content_type, "application/protobuf");
    api_reply_fini(&r);

    /* patch is JSON; the reply in protobuf through Accept */
    const char *patch_headers[] = {"Content-Type",
                                   "application/merge-patch+json",
                                   "Accept",
                                   "application/protobuf",
                                   "Kumo-Name",
                                   "pb",
                                   NULL};
    const char *patch = "{\"metadata\":{\"labels\":{\"tier\":\"edge\"}}}";
    api_request(env.nc, "kumo.v1.api.patch.connections.default", patch_headers, patch,
                strlen(patch), &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    c = (Kumo__V1alpha1__Connection *)decode_reply(&r, &kumo__v1alpha1__connection__descriptor);
    KUMO_REQUIRE_PTR_NONNULL(c);
    int labelled = 0;
    for (size_t i = 0; i < c->metadata->n_labels; i++)
        labelled |= strcmp(c->metadata->labels[i]->key, "tier") == 0;
    KUMO_EXPECT(labelled);
    kumo_codec_message_free(&c->base);
    api_reply_fini(&r);

    /* list and watch in protobuf */
    api_request(env.nc, "kumo.v1.api.list.connections.default", pb_headers, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    Kumo__V1alpha1__ConnectionList *list = (Kumo__V1alpha1__ConnectionList *)decode_reply(
        &r, &kumo__v1alpha1__connection_list__descriptor);
    KUMO_REQUIRE_PTR_NONNULL(list);
    KUMO_EXPECT_INT_EQ(list->n_items, 2);
    KUMO_EXPECT_STR_EQ(list->kind, "ConnectionList");
    KUMO_EXPECT_INT_GT(strtol(list->metadata->resource_version, NULL, 10), 0);
    kumo_codec_message_free(&list->base);
    api_reply_fini(&r);
    const char *watch_headers[] = {"Content-Type", "application/protobuf", "Kumo-Resource-Version",
                                   "0", NULL};
    api_request(env.nc, "kumo.v1.api.watchall.connections", watch_headers, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    Kumo__V1alpha1__EventList *events =
        (Kumo__V1alpha1__EventList *)decode_reply(&r, &kumo__v1alpha1__event_list__descriptor);
    KUMO_REQUIRE_PTR_NONNULL(events);
    KUMO_EXPECT_INT_GE(events->n_items, 5); /* create, update, status, apply, patch */
    for (size_t i = 0; i < events->n_items; i++) {
        KUMO_EXPECT_INT_EQ(events->items[i]->object_case, KUMO__V1ALPHA1__EVENT__OBJECT_CONNECTION);
        if (i > 0)
            KUMO_EXPECT_INT_GT(events->items[i]->revision, events->items[i - 1]->revision);
    }
    kumo_codec_message_free(&events->base);
    api_reply_fini(&r);

    /* delete, then a protobuf Status */
    api_request(env.nc, "kumo.v1.api.delete.connections.default", get_headers, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.get.connections.default", get_headers, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 404);
    Kumo__V1alpha1__Status *status =
        (Kumo__V1alpha1__Status *)decode_reply(&r, &kumo__v1alpha1__status__descriptor);
    KUMO_REQUIRE_PTR_NONNULL(status);
    KUMO_EXPECT_STR_EQ(status->reason, "NotFound");
    KUMO_EXPECT_INT_EQ(status->code, 404);
    kumo_codec_message_free(&status->base);
    api_reply_fini(&r);
    kumo_codec_buffer_fini(&pb);
    api_env_stop(&env);
}

KUMO_TEST(status_bodies)
{
    api_env env;
    api_env_start(&env, NULL);
    api_reply r;
    /* invalid: every cause listed */
    request_json(&env, "create", "default", NULL,
                 "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\",\"metadata\":{"
                 "\"name\":\"bad\"},\"spec\":{\"region\":\"us-east-1\",\"rateLimit\":{\"burst\":"
                 "-1}}}",
                 &r);
    KUMO_EXPECT_INT_EQ(r.code, 422);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"Invalid\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"code\":422");
    KUMO_EXPECT_CONTAINS(r.body, "\"field\":\"spec.driver\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"field\":\"spec.rateLimit.burst\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"FieldValueRequired\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"bad\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"Connection\"");
    api_reply_fini(&r);
    /* unknown field: strict decoding */
    request_json(&env, "create", "default", NULL,
                 "{\"kind\":\"Connection\",\"metadata\":{\"name\":\"x\"},\"spec\":{\"driver\":"
                 "\"sim\",\"region\":\"us-east-1\",\"color\":\"red\"}}",
                 &r);
    KUMO_EXPECT_INT_GE(r.code, 400);
    KUMO_EXPECT_INT_LT(r.code, 500);
    KUMO_EXPECT_CONTAINS(r.body, "color");
    api_reply_fini(&r);
    /* kind and namespace must agree with the subject */
    request_json(&env, "create", "default", NULL,
                 "{\"kind\":\"Machine\",\"metadata\":{\"name\":\"x\"}}", &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    api_reply_fini(&r);
    request_json(&env, "create", "default", NULL, api_connection_json("x", "other", NULL), &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    KUMO_EXPECT_CONTAINS(r.body, "namespace");
    api_reply_fini(&r);
    /* missing name header */
    request_json(&env, "get", "default", NULL, NULL, &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    KUMO_EXPECT_CONTAINS(r.body, "Kumo-Name");
    api_reply_fini(&r);
    /* unknown resource, bad namespace, bad verb, bad header values */
    api_request(env.nc, "kumo.v1.api.get.gizmos.default", NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 404);
    KUMO_EXPECT_CONTAINS(r.body, "gizmos");
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.list.connections.Not_A_Namespace", NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 422);
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.frobnicate.connections.default", NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.get", NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    api_reply_fini(&r);
    const char *bad_limit[] = {"Kumo-Limit", "ten", NULL};
    api_request(env.nc, "kumo.v1.api.list.connections.default", bad_limit, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    api_reply_fini(&r);
    const char *bad_selector[] = {"Kumo-Label-Selector", "a in (b", NULL};
    api_request(env.nc, "kumo.v1.api.list.connections.default", bad_selector, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    api_reply_fini(&r);
    const char *bad_policy[] = {"Kumo-Name", "x", "Kumo-Propagation-Policy", "Sideways", NULL};
    api_request(env.nc, "kumo.v1.api.delete.connections.default", bad_policy, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    api_reply_fini(&r);
    /* patch must be JSON */
    const char *pb_patch[] = {"Kumo-Name", "x", "Content-Type", "application/protobuf", NULL};
    api_request(env.nc, "kumo.v1.api.patch.connections.default", pb_patch, "x", 1, &r);
    KUMO_EXPECT_INT_EQ(r.code, 415);
    api_reply_fini(&r);
    api_env_stop(&env);
}

KUMO_TEST(list_pagination_selectors)
{
    api_env env;
    api_env_start(&env, NULL);
    api_reply r;
    char name[32], labels[64];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "c%02d", i);
        snprintf(labels, sizeof(labels), ",\"tier\":\"%s\"", i % 2 ? "odd" : "even");
        request_json(&env, "create", "default", NULL, api_connection_json(name, "default", labels),
                     &r);
        KUMO_REQUIRE_INT_EQ(r.code, 201);
        api_reply_fini(&r);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "o%02d", i);
        request_json(&env, "create", "team-a", NULL, api_connection_json(name, "team-a", NULL), &r);
        KUMO_REQUIRE_INT_EQ(r.code, 201);
        api_reply_fini(&r);
    }
    /* pages of 3 walk all 10 in order, each page at the first page's revision */
    char token[512] = "", first_rv[32] = "", rv[32];
    int seen = 0, pages = 0;
    do {
        const char *headers[] = {"Kumo-Limit", "3", token[0] ? "Kumo-Continue" : NULL, token, NULL};
        api_request(env.nc, "kumo.v1.api.list.connections.default", headers, NULL, 0, &r);
        KUMO_REQUIRE_INT_EQ(r.code, 200);
        pages++;
        for (const char *p = r.body; (p = strstr(p, "\"name\":\"c")) != NULL; p++)
            seen++;
        KUMO_REQUIRE_PTR_NONNULL(api_json_string(r.body, "resourceVersion", rv, sizeof(rv)));
        if (first_rv[0] == '\0')
            snprintf(first_rv, sizeof(first_rv), "%s", rv);
        if (api_json_string(r.body, "continue", token, sizeof(token)) == NULL)
            token[0] = '\0';
        api_reply_fini(&r);
        if (pages == 1) { /* a write between pages changes nothing in the next pages */
            request_json(&env, "create", "default", NULL,
                         api_connection_json("c99", "default", NULL), &r);
            api_reply_fini(&r);
        }
    } while (token[0] != '\0' && pages < 10);
    KUMO_EXPECT_INT_EQ(pages, 4);
    KUMO_EXPECT_INT_EQ(seen, 10);
    /* label selector, field selector */
    const char *odd[] = {"Kumo-Label-Selector", "tier=odd", NULL};
    api_request(env.nc, "kumo.v1.api.list.connections.default", odd, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"c01\"");
    KUMO_EXPECT(strstr(r.body, "\"name\":\"c02\"") == NULL);
    api_reply_fini(&r);
    const char *in_set[] = {"Kumo-Label-Selector", "tier in (odd,even),app=kumo",
                            "Kumo-Field-Selector", "metadata.name!=c00", NULL};
    api_request(env.nc, "kumo.v1.api.list.connections.default", in_set, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT(strstr(r.body, "\"name\":\"c00\"") == NULL);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"c09\"");
    api_reply_fini(&r);
    const char *by_name[] = {"Kumo-Field-Selector", "metadata.name=c03", NULL};
    api_request(env.nc, "kumo.v1.api.list.connections.default", by_name, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"c03\"");
    KUMO_EXPECT(strstr(r.body, "\"name\":\"c04\"") == NULL);
    api_reply_fini(&r);
    /* all namespaces */
    api_request(env.nc, "kumo.v1.api.listall.connections", NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"namespace\":\"team-a\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"c05\"");
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.list.connections.team-a", NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT(strstr(r.body, "\"name\":\"c05\"") == NULL);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"o02\"");
    api_reply_fini(&r);
    api_env_stop(&env);
}

KUMO_TEST(credential_never_returned)
{
    api_env env;
    api_env_start(&env, NULL);
    natsSubscription *events = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_SubscribeSync(&events, env.nc, "kumo.v1.events.>"), NATS_OK);
    natsConnection_Flush(env.nc);
    api_reply r;
    const char *cred = "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Credential\",\"metadata\":"
                       "{\"name\":\"acct\"},\"spec\":{\"type\":\"sim\",\"data\":{\"secretKey\":"
                       "\"TOPSECRETVALUE\"}}}";
    const char *secret = "TOPSECRETVALUE";
    api_request(env.nc, "kumo.v1.api.create.credentials.default", JSON_HEADERS, cred, strlen(cred),
                &r);
    KUMO_EXPECT_INT_EQ(r.code, 201);
    KUMO_EXPECT(strstr(r.body, secret) == NULL);
    KUMO_EXPECT(strstr(r.body, "secretKey") == NULL);
    KUMO_EXPECT_CONTAINS(r.body, "\"type\":\"sim\"");
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.apply.credentials.default", JSON_HEADERS, cred, strlen(cred),
                &r);
    KUMO_EXPECT(strstr(r.body, secret) == NULL);
    api_reply_fini(&r);
    const char *name[] = {"Kumo-Name", "acct", NULL};
    api_request(env.nc, "kumo.v1.api.get.credentials.default", name, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT(strstr(r.body, secret) == NULL);
    api_reply_fini(&r);
    const char *pb[] = {"Kumo-Name", "acct", "Accept", "application/protobuf", NULL};
    api_request(env.nc, "kumo.v1.api.get.credentials.default", pb, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT(memmem(r.body, r.len, secret, strlen(secret)) == NULL);
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.list.credentials.default", NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"acct\"");
    KUMO_EXPECT(strstr(r.body, secret) == NULL);
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.listall.credentials", NULL, NULL, 0, &r);
    KUMO_EXPECT(strstr(r.body, secret) == NULL);
    api_reply_fini(&r);
    const char *watch[] = {"Kumo-Resource-Version", "0", NULL};
    api_request(env.nc, "kumo.v1.api.watchall.credentials", watch, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"credential\":");
    KUMO_EXPECT(strstr(r.body, secret) == NULL);
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.delete.credentials.default", name, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT(strstr(r.body, secret) == NULL);
    api_reply_fini(&r);
    int event_count = 0;
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, events, 1000) == NATS_OK) {
        if (strstr(natsMsg_GetSubject(m), "._bookmark") == NULL) {
            event_count++;
            KUMO_EXPECT(strstr(natsMsg_GetData(m), secret) == NULL);
            KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"credential\":");
        }
        natsMsg_Destroy(m);
        if (event_count == 2)
            break;
    }
    KUMO_EXPECT_INT_EQ(event_count, 2); /* ADDED, DELETED (the apply changed nothing) */
    natsSubscription_Destroy(events);
    api_env_stop(&env);
}

typedef struct storm {
    api_env *env;
    int id;
    int ok;
} storm;

static void *storm_client(void *arg)
{
    storm *s = arg;
    natsConnection *nc = NULL;
    if (natsConnection_ConnectTo(&nc, kumo_natsd_url(s->env->natsd)) != NATS_OK)
        return NULL;
    for (int i = 0; i < 25; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s%d-%d", s->id, i);
        const char *body = api_connection_json(name, "default", NULL);
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", body);
        api_reply r;
        api_request(nc, "kumo.v1.api.apply.connections.default", JSON_HEADERS, copy, strlen(copy),
                    &r);
        s->ok += r.code == 201;
        api_reply_fini(&r);
    }
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    return NULL;
}

KUMO_TEST(concurrent_clients)
{
    api_env env;
    api_env_start(&env, NULL);
    enum { CLIENTS = 32 };
    storm clients[CLIENTS];
    pthread_t threads[CLIENTS];
    int64_t before = kumo_store_revision(env.store);
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (storm){.env = &env, .id = i};
        pthread_create(&threads[i], NULL, storm_client, &clients[i]);
    }
    int ok = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        ok += clients[i].ok;
    }
    KUMO_EXPECT_INT_EQ(ok, CLIENTS * 25);
    KUMO_EXPECT_INT_EQ(kumo_store_revision(env.store) - before, CLIENTS * 25);
    api_env_stop(&env);
}
