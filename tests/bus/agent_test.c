/*
 * agent_test.c - the agent bus identity against a real nats-server: each
 * machine's derived nkey may use only its own subjects, unknown keys are
 * refused, and a reload adds and removes machines.
 */
#include "bus/agent/agent.h"
#include "apis/codec/codec.h"
#include "bus/natsd/natsd.h"
#include "tests/harness/test.h"

#include <nats/nats.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char key[KUMO_AGENT_KEY_SIZE] = "0123456789abcdef0123456789abcdef";

static char *auth_for(const char *const *uids, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    KUMO_REQUIRE(kumo_agent_authorization(key, NULL, "kumod", "pw", uids, n, &text, &len) == 0);
    return text;
}

static kumo_error connect_as(const char *url, const char *uid, unsigned char *seed,
                             natsConnection **nc)
{
    const char *urls[1] = {url};
    char *json = kumo_agent_bootstrap_json(key, uid, "m", "default", urls, 1, 0, NULL, 0);
    KUMO_REQUIRE(json != NULL);
    Kumo__V1alpha1__AgentBootstrap *b = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_agent_bootstrap_parse(json, &b, &d), KUMO_ERROR_OK);
    free(json);
    kumo_error e = kumo_agent_connect(b, NULL, seed, nc, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "connect %s: %s\n", uid, d.message);
    kumo_diag_fini(&d);
    kumo_codec_message_free(&b->base);
    return e;
}

KUMO_TEST(agent_public_key_format)
{
    unsigned char seed[KUMO_AGENT_SEED_SIZE], again[KUMO_AGENT_SEED_SIZE];
    char pk[KUMO_AGENT_PUBLIC_SIZE], hex[65];
    KUMO_REQUIRE(kumo_agent_seed_derive(key, "uid-a", seed) == 0);
    KUMO_REQUIRE(kumo_agent_public_key(seed, pk) == 0);
    KUMO_EXPECT_INT_EQ(strlen(pk), 56);
    KUMO_EXPECT(pk[0] == 'U');
    kumo_agent_seed_to_hex(seed, hex);
    KUMO_REQUIRE(kumo_agent_seed_from_hex(hex, again) == 0);
    KUMO_EXPECT(memcmp(seed, again, sizeof(seed)) == 0);
    KUMO_REQUIRE(kumo_agent_seed_derive(key, "uid-b", again) == 0);
    KUMO_EXPECT(memcmp(seed, again, sizeof(seed)) != 0);
    KUMO_EXPECT(kumo_agent_seed_from_hex("zz", again) != 0);
    char subject[64];
    KUMO_EXPECT(kumo_agent_subject(subject, sizeof(subject), NULL, "a.b", "get") != 0);
    KUMO_EXPECT(kumo_agent_subject(subject, sizeof(subject), NULL, "*", "get") != 0);
    KUMO_REQUIRE(kumo_agent_subject(subject, sizeof(subject), NULL, "u1", "get") == 0);
    KUMO_EXPECT_STR_EQ(subject, "kumo.agent.u1.get");
    Kumo__V1alpha1__AgentBootstrap *b = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(
        kumo_agent_bootstrap_parse("{\"machineUid\": \"u\", \"seed\": \"00\"}", &b, &d),
        KUMO_ERROR_INVALID_ARGUMENT);
    KUMO_EXPECT_CONTAINS(d.message, "seed");
    kumo_diag_fini(&d);
}

KUMO_TEST(agent_bus_permissions_and_reload)
{
    const char *uids[3] = {"uid-a", "uid-b", "uid-c"};
    char *auth = auth_for(uids, 2);
    kumo_natsd_options o = {.config_text = auth};
    kumo_natsd *n = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_natsd_start(&o, &n, &d), KUMO_ERROR_OK);
    free(auth);
    const char *url = kumo_natsd_url(n);

    /* kumod's own user sees everything; an anonymous client is refused. */
    natsConnection *anon = NULL, *admin = NULL;
    KUMO_EXPECT(natsConnection_ConnectTo(&anon, url) != NATS_OK);
    natsOptions *opts = NULL;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, url);
    natsOptions_SetUserInfo(opts, "kumod", "pw");
    KUMO_REQUIRE(natsConnection_Connect(&admin, opts) == NATS_OK);
    natsOptions_Destroy(opts);
    natsSubscription *all = NULL;
    KUMO_REQUIRE(natsConnection_SubscribeSync(&all, admin, "kumo.agent.*.status") == NATS_OK);
    natsConnection_Flush(admin);

    unsigned char seed_a[KUMO_AGENT_SEED_SIZE], seed_c[KUMO_AGENT_SEED_SIZE];
    natsConnection *a = NULL, *c = NULL;
    KUMO_REQUIRE_INT_EQ(connect_as(url, "uid-a", seed_a, &a), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(connect_as(url, "uid-c", seed_c, &c), KUMO_ERROR_UNAUTHORIZED);

    /* a may publish its own status, not b's; only its own reaches kumod. */
    natsConnection_PublishString(a, "kumo.agent.uid-b.status", "forged");
    natsConnection_PublishString(a, "kumo.agent.uid-a.status", "mine");
    natsConnection_Flush(a);
    natsMsg *m = NULL;
    KUMO_REQUIRE(natsSubscription_NextMsg(&m, all, 2000) == NATS_OK);
    KUMO_EXPECT_STR_EQ(natsMsg_GetData(m), "mine");
    natsMsg_Destroy(m);
    KUMO_EXPECT(natsSubscription_NextMsg(&m, all, 300) == NATS_TIMEOUT);

    /* a answers requests on its own subject; it cannot listen on b's. */
    natsSubscription *get_a = NULL, *get_b = NULL;
    KUMO_REQUIRE(natsConnection_SubscribeSync(&get_a, a, "kumo.agent.uid-a.get") == NATS_OK);
    natsConnection_SubscribeSync(&get_b, a, "kumo.agent.uid-b.get");
    natsConnection_Flush(a);
    natsMsg *reply = NULL, *req = NULL;
    natsInbox *inbox = NULL;
    natsInbox_Create(&inbox);
    natsSubscription *replies = NULL;
    natsConnection_SubscribeSync(&replies, admin, inbox);
    natsConnection_PublishRequestString(admin, "kumo.agent.uid-a.get", inbox, "");
    KUMO_REQUIRE(natsSubscription_NextMsg(&req, get_a, 2000) == NATS_OK);
    natsConnection_PublishString(a, natsMsg_GetReply(req), "status of a");
    natsMsg_Destroy(req);
    natsStatus rs = natsSubscription_NextMsg(&reply, replies, 2000);
    if (rs != NATS_OK)
        fprintf(stderr, "reply: %s %s\n", natsStatus_GetText(rs), nats_GetLastError(NULL));
    KUMO_REQUIRE(rs == NATS_OK);
    KUMO_EXPECT_STR_EQ(natsMsg_GetData(reply), "status of a");
    natsMsg_Destroy(reply);
    /* Nobody may listen on b's subject: a request there has no responders. */
    KUMO_EXPECT(natsConnection_RequestString(&reply, admin, "kumo.agent.uid-b.get", "", 1000) ==
                NATS_NO_RESPONDERS);
    natsMsg_Destroy(reply);
    if (get_b)
        KUMO_EXPECT(natsSubscription_NextMsg(&req, get_b, 300) != NATS_OK);

    /* Reload: c joins, a leaves (and is disconnected). */
    auth = auth_for(uids + 1, 2);
    KUMO_REQUIRE_INT_EQ(kumo_natsd_reload(n, auth, &d), KUMO_ERROR_OK);
    free(auth);
    int joined = 0;
    for (int i = 0; i < 50 && !joined; i++) {
        natsConnection_Destroy(c);
        c = NULL;
        joined = connect_as(url, "uid-c", seed_c, &c) == KUMO_ERROR_OK;
        if (!joined)
            nats_Sleep(100);
    }
    KUMO_EXPECT(joined);
    /* The server drops a's connection; a's reconnects are refused. */
    nats_Sleep(300);
    natsConnection_PublishString(a, "kumo.agent.uid-a.status", "after removal");
    natsConnection_Flush(a);
    m = NULL;
    KUMO_EXPECT(natsSubscription_NextMsg(&m, all, 500) == NATS_TIMEOUT);
    natsMsg_Destroy(m);

    natsSubscription_Destroy(get_a);
    natsSubscription_Destroy(get_b);
    natsSubscription_Destroy(replies);
    natsInbox_Destroy(inbox);
    natsSubscription_Destroy(all);
    natsConnection_Destroy(a);
    natsConnection_Destroy(c);
    natsConnection_Destroy(admin);
    natsConnection_Destroy(anon);
    kumo_natsd_destroy(n);
    kumo_diag_fini(&d);
}
