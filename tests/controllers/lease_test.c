/* lease_test.c - leader election over JetStream KV with a real nats-server. */
#include "bus/natsd/natsd.h"
#include "controllers/runtime/lease/lease.h"
#include "tests/harness/test.h"

#include <nats/nats.h>
#include <unistd.h>

static kumo_natsd *start_nats(void)
{
    char store[512];
    snprintf(store, sizeof(store), "%s/js", kumo_test_tmpdir());
    kumo_natsd_options o = {.store_dir = store};
    kumo_natsd *n = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_natsd_start(&o, &n, &d) != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "nats-server: %s", d.message);
    kumo_diag_fini(&d);
    return n;
}

static kumo_lease *campaign(kumo_natsd *n, const char *holder)
{
    kumo_lease_options o = {
        .url = kumo_natsd_url(n), .name = "infra-controller", .holder = holder, .duration_ms = 900};
    kumo_lease *l = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_lease_start(&o, &l, &d) != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "lease: %s", d.message);
    kumo_diag_fini(&d);
    return l;
}

/* Waits up to `seconds` for `lease` to lead, checking that a and b never both lead. */
static double wait_leader(kumo_lease *lease, kumo_lease *a, kumo_lease *b, double seconds,
                          int *both)
{
    double start = kumo_test_now();
    while (kumo_test_now() - start < seconds) {
        if (a && b && kumo_lease_is_leader(a) && kumo_lease_is_leader(b))
            *both = 1;
        if (kumo_lease_is_leader(lease))
            return kumo_test_now() - start;
        usleep(10000);
    }
    return -1;
}

KUMO_TEST(lease_takeover_after_holder_dies)
{
    kumo_natsd *n = start_nats();
    int both = 0;
    kumo_lease *a = campaign(n, "kumod-a");
    KUMO_REQUIRE(wait_leader(a, NULL, NULL, 5, &both) >= 0);
    kumo_lease *b = campaign(n, "kumod-b");
    /* While a renews, b never leads: watch for three lease durations. */
    KUMO_EXPECT(wait_leader(b, a, b, 2.7, &both) < 0);
    KUMO_EXPECT(kumo_lease_is_leader(a));
    /* a dies without releasing: b takes over once the key expires. */
    kumo_lease_abandon(a);
    double took = wait_leader(b, NULL, NULL, 10, &both);
    KUMO_EXPECT(took >= 0);
    KUMO_EXPECT_INT_EQ(both, 0);
    kumo_lease_stop(b);
    kumo_natsd_destroy(n);
    nats_Close();
}

KUMO_TEST(lease_release_on_stop)
{
    kumo_natsd *n = start_nats();
    int both = 0;
    kumo_lease *a = campaign(n, "kumod-a");
    KUMO_REQUIRE(wait_leader(a, NULL, NULL, 5, &both) >= 0);
    kumo_lease *b = campaign(n, "kumod-b");
    kumo_lease_stop(a);
    /* A clean stop deletes the key: b leads within one renewal period. */
    double took = wait_leader(b, NULL, NULL, 3, &both);
    KUMO_EXPECT(took >= 0);
    KUMO_EXPECT(took < 1.0);
    kumo_lease_stop(b);
    kumo_natsd_destroy(n);
    nats_Close();
}

KUMO_TEST(lease_no_jetstream)
{
    kumo_natsd_options o = {0}; /* no store dir: JetStream off */
    kumo_natsd *n = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_natsd_start(&o, &n, &d), KUMO_ERROR_OK);
    kumo_lease_options lo = {.url = kumo_natsd_url(n), .name = "x", .duration_ms = 500};
    kumo_lease *l = NULL;
    KUMO_EXPECT_INT_EQ(kumo_lease_start(&lo, &l, &d), KUMO_ERROR_UNAVAILABLE);
    KUMO_EXPECT_CONTAINS(d.message, "JetStream");
    kumo_natsd_destroy(n);
    kumo_diag_fini(&d);
    nats_Close();
}

KUMO_TEST(lease_reclaim_own_identity)
{
    kumo_natsd *n = start_nats();
    int both = 0;
    kumo_lease_options o = {.url = kumo_natsd_url(n),
                            .name = "machine-controller",
                            .holder = "host:/var/lib/kumo",
                            .duration_ms = 5000};
    kumo_lease *a = NULL, *b = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_lease_start(&o, &a, &d), KUMO_ERROR_OK);
    KUMO_REQUIRE(wait_leader(a, NULL, NULL, 5, &both) >= 0);
    /* The process dies (the key stays for 5 s) and restarts with the same identity. */
    kumo_lease_abandon(a);
    KUMO_REQUIRE_INT_EQ(kumo_lease_start(&o, &b, &d), KUMO_ERROR_OK);
    double took = wait_leader(b, NULL, NULL, 4, &both);
    KUMO_EXPECT(took >= 0);
    KUMO_EXPECT(took < 1.0); /* long before the old key could expire */
    /* Another identity still has to wait for it. */
    kumo_lease_options other = o;
    other.holder = "elsewhere:/var/lib/kumo";
    kumo_lease *c = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_lease_start(&other, &c, &d), KUMO_ERROR_OK);
    KUMO_EXPECT(wait_leader(c, b, c, 1.5, &both) < 0);
    KUMO_EXPECT_INT_EQ(both, 0);
    kumo_lease_stop(c);
    kumo_lease_stop(b);
    kumo_diag_fini(&d);
    kumo_natsd_destroy(n);
    nats_Close();
}
