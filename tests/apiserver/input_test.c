/*
 * input_test.c - bad input over the wire: every request gets a Status reply
 * (or, past nats-server's own limit, a client-side error) and the server
 * keeps serving.
 */
#define _GNU_SOURCE /* memmem */
#include "tests/apiserver/helper.h"
#include "tests/harness/test.h"

#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"

/* 1 when a get of "alive" still answers 200. */
static int still_serving(api_env *env)
{
    const char *h[] = {"Kumo-Name", "alive", NULL};
    api_reply r;
    api_request(env->nc, "kumo.v1.api.get.connections.default", h, NULL, 0, &r);
    int ok = r.code == 200;
    api_reply_fini(&r);
    return ok;
}

static int code_of(api_env *env, const char *subject, const char *const *headers, const void *body,
                   size_t len)
{
    api_reply r;
    api_request(env->nc, subject, headers, body, len, &r);
    int code = r.status == NATS_OK ? r.code : -(int)r.status;
    if (r.status == NATS_OK && code >= 400 && memmem(r.body, r.len, "Status", 6) == NULL)
        code = -1000; /* an error must come with a Status body */
    api_reply_fini(&r);
    return code;
}

KUMO_TEST(bad_input_keeps_serving)
{
    api_env env;
    api_env_options o = {.max_payload = 32L << 20};
    api_env_start(&env, &o);
    const char *alive = api_connection_json("alive", "default", NULL);
    api_reply r;
    api_request(env.nc, "kumo.v1.api.create.connections.default", NULL, alive, strlen(alive), &r);
    KUMO_REQUIRE_INT_EQ(r.code, 201);
    api_reply_fini(&r);
    const char *create = "kumo.v1.api.create.connections.default";
    const char *pb[] = {"Content-Type", "application/protobuf", NULL};

    /* random bytes, as JSON and as protobuf */
    unsigned char noise[4096];
    srand(42);
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof(noise); i++)
            noise[i] = (unsigned char)rand();
        size_t len = 1 + (size_t)rand() % sizeof(noise);
        KUMO_EXPECT_INT_EQ(code_of(&env, create, NULL, noise, len), 400);
        int c = code_of(&env, create, pb, noise, len);
        KUMO_EXPECT(c == 400 || c == 422);
    }
    KUMO_EXPECT(still_serving(&env));

    /* wrong content type; unsupported Accept */
    const char *text[] = {"Content-Type", "text/plain", NULL};
    KUMO_EXPECT_INT_EQ(code_of(&env, create, text, alive, strlen(alive)), 415);
    const char *accept[] = {"Accept", "image/png", "Kumo-Name", "alive", NULL};
    KUMO_EXPECT_INT_EQ(code_of(&env, "kumo.v1.api.get.connections.default", accept, NULL, 0), 415);

    /* truncated protobuf */
    ProtobufCMessage *m = NULL;
    const char *big = api_connection_json("trunc", "default", ",\"a\":\"bbbbbbbbbbbbbbbbbbbb\"");
    KUMO_REQUIRE_INT_EQ(kumo_codec_json_decode(&kumo__v1alpha1__connection__descriptor, big,
                                               strlen(big), NULL, &m, NULL),
                        KUMO_ERROR_OK);
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_codec_protobuf_encode(m, &buf);
    kumo_codec_message_free(m);
    for (size_t cut = 1; cut < buf.len; cut += 7) {
        int c = code_of(&env, create, pb, buf.data, buf.len - cut);
        KUMO_EXPECT(c == 400 || c == 422);
    }
    kumo_codec_buffer_fini(&buf);

    /* empty body, deep nesting, a JSON array, invalid object, unknown kind, bad subjects */
    KUMO_EXPECT_INT_EQ(code_of(&env, create, NULL, "", 0), 400);
    size_t depth = 20000;
    char *deep = malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[depth * 2] = '\0';
    KUMO_EXPECT_INT_EQ(code_of(&env, create, NULL, deep, depth * 2), 400);
    free(deep);
    int array = code_of(&env, create, NULL, "[1,2,3]", 7);
    KUMO_EXPECT(array == 400 || array == 422);
    const char *invalid = "{\"kind\":\"Connection\",\"metadata\":{\"name\":\"UPPER_case\"},"
                          "\"spec\":{\"driver\":\"sim\",\"region\":\"us-east-1\"}}";
    KUMO_EXPECT_INT_EQ(code_of(&env, create, NULL, invalid, strlen(invalid)), 422);
    KUMO_EXPECT_INT_EQ(
        code_of(&env, "kumo.v1.api.create.widgets.default", NULL, alive, strlen(alive)), 404);
    KUMO_EXPECT_INT_EQ(code_of(&env, "kumo.v1.api.create.connections", NULL, alive, strlen(alive)),
                       400);
    KUMO_EXPECT_INT_EQ(code_of(&env, "kumo.v1.api.listall.connections.default", NULL, NULL, 0),
                       400);
    KUMO_EXPECT_INT_EQ(
        code_of(&env, "kumo.v1.api.create.connections.default.extra", NULL, alive, strlen(alive)),
        400);
    KUMO_EXPECT_INT_EQ(code_of(&env, "kumo.v1.api.x", NULL, NULL, 0), 400);

    /* a request without a reply subject is dropped, not fatal */
    natsConnection_Publish(env.nc, create, alive, (int)strlen(alive));

    /* 17 MiB: over kumod's 16 MiB limit, under this nats-server's 32 MiB */
    size_t large = (size_t)17 << 20;
    char *payload = malloc(large);
    memset(payload, ' ', large);
    payload[0] = '{';
    payload[large - 1] = '}';
    api_request(env.nc, create, NULL, payload, large, &r);
    KUMO_EXPECT_INT_EQ(r.status, NATS_OK);
    KUMO_EXPECT_INT_EQ(r.code, 413);
    KUMO_EXPECT_CONTAINS(r.body, "RequestEntityTooLarge");
    api_reply_fini(&r);
    free(payload);

    /* 100 MiB: nats-server itself refuses it; the client gets an error */
    size_t huge = (size_t)100 << 20;
    payload = malloc(huge);
    memset(payload, 'x', huge);
    api_request(env.nc, create, NULL, payload, huge, &r);
    KUMO_EXPECT_INT_NE(r.status, NATS_OK);
    api_reply_fini(&r);
    free(payload);

    /* an object over the store's 1.5 MiB limit */
    size_t over = (size_t)2 << 20;
    payload = malloc(over + 512);
    int n = snprintf(payload, 512,
                     "{\"kind\":\"Connection\",\"metadata\":{\"name\":\"fat\"},\"spec\":{"
                     "\"driver\":\"sim\",\"region\":\"us-east-1\",\"config\":{\"blob\":\"");
    memset(payload + n, 'a', over);
    snprintf(payload + n + over, 512, "\"}}}");
    KUMO_EXPECT_INT_EQ(code_of(&env, create, NULL, payload, strlen(payload)), 413);
    free(payload);

    KUMO_EXPECT(still_serving(&env));
    api_env_stop(&env);
}
