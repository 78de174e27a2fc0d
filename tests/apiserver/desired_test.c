/*
 * desired_test.c - the desired-state stream: apply, Nats-Msg-Id
 * de-duplication, rejections that do not block what follows, namespace and
 * name from the subject, protobuf bodies.
 */
#include "tests/apiserver/helper.h"
#include "tests/harness/test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"

/* Publishes to the stream; returns 1 when JetStream stored it, 2 when it was a duplicate. */
static int publish_desired(jsCtx *js, const char *subject, const char *msg_id,
                           const char *content_type, const void *body, size_t len)
{
    natsMsg *m = NULL;
    jsPubAck *ack = NULL;
    int result = 0;
    if (natsMsg_Create(&m, subject, NULL, (const char *)body, (int)len) != NATS_OK)
        return 0;
    if (msg_id != NULL)
        natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
    if (content_type != NULL)
        natsMsgHeader_Set(m, "Content-Type", content_type);
    if (js_PublishMsg(&ack, js, m, NULL, NULL) == NATS_OK)
        result = ack->Duplicate ? 2 : 1;
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(m);
    return result;
}

/* Polls a get until it answers 200 (up to timeout_ms); returns the body copy or NULL. */
static char *wait_for_object(natsConnection *nc, const char *ns, const char *name, int timeout_ms)
{
    char subject[128];
    snprintf(subject, sizeof(subject), "kumo.v1.api.get.connections.%s", ns);
    const char *h[] = {"Kumo-Name", name, NULL};
    double deadline = kumo_test_now() + timeout_ms / 1000.0;
    while (kumo_test_now() < deadline) {
        api_reply r;
        api_request(nc, subject, h, NULL, 0, &r);
        if (r.code == 200) {
            char *copy = strdup(r.body);
            api_reply_fini(&r);
            return copy;
        }
        api_reply_fini(&r);
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static natsMsg *next_rejection(natsSubscription *sub, const char *subject)
{
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, 5000) == NATS_OK) {
        if (strcmp(natsMsg_GetSubject(m), subject) == 0)
            return m;
        natsMsg_Destroy(m);
    }
    return NULL;
}

KUMO_TEST(desired_apply_dedup_reject)
{
    api_env env;
    api_env_options o = {.desired_stream = 1};
    api_env_start(&env, &o);
    jsCtx *js = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_JetStream(&js, env.nc, NULL), NATS_OK);
    natsSubscription *rejected = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_SubscribeSync(&rejected, env.nc, "kumo.v1.rejected.>"),
                        NATS_OK);
    natsConnection_Flush(env.nc);

    /* apply */
    const char *v1 = api_connection_json("d1", "default", NULL);
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.default.d1", "d1-v1", NULL,
                                       v1, strlen(v1)),
                       1);
    char *got = wait_for_object(env.nc, "default", "d1", 5000);
    KUMO_REQUIRE_PTR_NONNULL(got);
    free(got);

    /* the same Nats-Msg-Id again is a duplicate: not applied */
    const char *v2 = api_connection_json("d1", "default", ",\"tier\":\"dup\"");
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.default.d1", "d1-v1", NULL,
                                       v2, strlen(v2)),
                       2);

    /* invalid, then valid on the same subject: rejected, and the next one applied */
    const char *bad = "{\"kind\":\"Connection\",\"metadata\":{\"name\":\"d2\"},\"spec\":{"
                      "\"region\":\"us-east-1\"}}";
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.default.d2", "d2-bad", NULL,
                                       bad, strlen(bad)),
                       1);
    const char *good = api_connection_json("d2", "default", NULL);
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.default.d2", "d2-good",
                                       NULL, good, strlen(good)),
                       1);
    natsMsg *m = next_rejection(rejected, "kumo.v1.rejected.connections.default.d2");
    KUMO_REQUIRE_PTR_NONNULL(m);
    const char *id = NULL, *code = NULL;
    natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
    natsMsgHeader_Get(m, "Kumo-Code", &code);
    KUMO_EXPECT_STR_EQ(id, "d2-bad");
    KUMO_EXPECT_STR_EQ(code, "422");
    KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"reason\":\"Invalid\"");
    KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "spec.driver");
    natsMsg_Destroy(m);
    got = wait_for_object(env.nc, "default", "d2", 5000);
    KUMO_EXPECT_PTR_NONNULL(got);
    free(got);

    /* unknown kind, name mismatch, garbage, a subject with a dot too many */
    KUMO_EXPECT_INT_EQ(
        publish_desired(js, "kumo.v1.desired.gizmos.default.x", "x1", NULL, good, strlen(good)), 1);
    m = next_rejection(rejected, "kumo.v1.rejected.gizmos.default.x");
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"code\":404");
    natsMsg_Destroy(m);
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.default.other", "x2", NULL,
                                       good, strlen(good)),
                       1);
    m = next_rejection(rejected, "kumo.v1.rejected.connections.default.other");
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"code\":400");
    natsMsg_Destroy(m);
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.default.junk", "x3",
                                       "application/protobuf", "\xff\xff\xff", 3),
                       1);
    m = next_rejection(rejected, "kumo.v1.rejected.connections.default.junk");
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"code\":400");
    natsMsg_Destroy(m);
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.default.a.b", "x4", NULL,
                                       good, strlen(good)),
                       1);
    m = next_rejection(rejected, "kumo.v1.rejected.connections.default.a.b");
    KUMO_REQUIRE_PTR_NONNULL(m);
    natsMsg_Destroy(m);

    /* namespace and name from the subject; a protobuf body */
    const char *bare = "{\"kind\":\"Connection\",\"spec\":{\"driver\":\"sim\",\"region\":"
                       "\"us-east-1\"}}";
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.team-a.from-subject", NULL,
                                       NULL, bare, strlen(bare)),
                       1);
    got = wait_for_object(env.nc, "team-a", "from-subject", 5000);
    KUMO_EXPECT_PTR_NONNULL(got);
    free(got);
    ProtobufCMessage *pm = NULL;
    const char *pj = api_connection_json("pbd", "default", NULL);
    KUMO_REQUIRE_INT_EQ(kumo_codec_json_decode(&kumo__v1alpha1__connection__descriptor, pj,
                                               strlen(pj), NULL, &pm, NULL),
                        KUMO_ERROR_OK);
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    kumo_codec_protobuf_encode(pm, &buf);
    kumo_codec_message_free(pm);
    KUMO_EXPECT_INT_EQ(publish_desired(js, "kumo.v1.desired.connections.default.pbd", "pbd-1",
                                       "application/protobuf", buf.data, buf.len),
                       1);
    kumo_codec_buffer_fini(&buf);
    got = wait_for_object(env.nc, "default", "pbd", 5000);
    KUMO_EXPECT_PTR_NONNULL(got);
    free(got);

    /* the duplicate never landed */
    got = wait_for_object(env.nc, "default", "d1", 5000);
    KUMO_REQUIRE_PTR_NONNULL(got);
    KUMO_EXPECT(strstr(got, "\"tier\":\"dup\"") == NULL);
    free(got);

    natsSubscription_Destroy(rejected);
    jsCtx_Destroy(js);
    api_env_stop(&env);
}
