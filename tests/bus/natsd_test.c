/* natsd_test.c - a real nats-server as a child: start, talk to it, kill -9, restart. */
#include "bus/natsd/natsd.h"
#include "tests/harness/test.h"

#include <nats/nats.h>
#include <signal.h>

static int roundtrip(const char *url)
{
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *msg = NULL;
    int ok = natsConnection_ConnectTo(&nc, url) == NATS_OK &&
             natsConnection_SubscribeSync(&sub, nc, "kumo.test") == NATS_OK &&
             natsConnection_PublishString(nc, "kumo.test", "hello") == NATS_OK &&
             natsSubscription_NextMsg(&msg, sub, 2000) == NATS_OK &&
             strcmp(natsMsg_GetData(msg), "hello") == 0;
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return ok;
}

KUMO_TEST(natsd_start_publish_kill_restart)
{
    char store[512];
    kumo_diag d;
    kumo_diag_init(&d);
    snprintf(store, sizeof(store), "%s/js", kumo_test_tmpdir());
    kumo_natsd_options o = {.store_dir = store};
    kumo_natsd *n = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_natsd_start(&o, &n, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_GT(kumo_natsd_port(n), 0);
    KUMO_EXPECT(roundtrip(kumo_natsd_url(n)));
    int port = kumo_natsd_port(n);
    kumo_natsd_kill(n, SIGKILL);
    KUMO_EXPECT(!roundtrip(kumo_natsd_url(n)));
    KUMO_REQUIRE_INT_EQ(kumo_natsd_restart(n, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_natsd_port(n), port);
    KUMO_EXPECT(roundtrip(kumo_natsd_url(n)));
    kumo_natsd_destroy(n);
    kumo_diag_fini(&d);
    nats_Close();
}

KUMO_TEST(natsd_missing_binary)
{
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_natsd_options o = {.binary = "/nonexistent/nats-server"};
    kumo_natsd *n = NULL;
    KUMO_EXPECT_INT_EQ(kumo_natsd_start(&o, &n, &d), KUMO_ERROR_UNAVAILABLE);
    KUMO_EXPECT(n == NULL);
    KUMO_EXPECT_CONTAINS(d.message, "/nonexistent/nats-server");
    KUMO_EXPECT_CONTAINS(d.message, "install");
    kumo_diag_fini(&d);
}
