/* placement_test.c - ranking connections by requirements, cost and latency. */
#include "controllers/infra/placement.h"
#include "tests/harness/test.h"

#include <stdlib.h>
#include <string.h>

/* Three connections in three regions, two types each, plus a GPU type. */
static const kumo_placement_offer offers[] = {
    {"aws-use1", "aws", "us-east-1", 38.13, -78.45, 1, "t3.small", 2, 2048, 0, NULL, 0.0208},
    {"aws-use1", "aws", "us-east-1", 38.13, -78.45, 1, "m5.large", 2, 8192, 0, NULL, 0.096},
    {"aws-use1", "aws", "us-east-1", 38.13, -78.45, 1, "g4dn.xlarge", 4, 16384, 1, "NVIDIA T4",
     0.526},
    {"gcp-euw1", "gcp", "europe-west1", 50.45, 3.82, 1, "e2-standard-2", 2, 8192, 0, NULL, 0.067},
    {"gcp-euw1", "gcp", "europe-west1", 50.45, 3.82, 1, "n2-standard-4", 4, 16384, 0, NULL, 0.194},
    {"az-krc", "azure", "koreacentral", 37.56, 126.98, 1, "Standard_D2s_v5", 2, 8192, 0, NULL,
     0.115},
    {"az-krc", "azure", "koreacentral", 37.56, 126.98, 1, "Standard_B2s", 2, 4096, 0, NULL, 0.0496},
};
#define OFFER_COUNT (sizeof(offers) / sizeof(offers[0]))

static Kumo__V1alpha1__PlacementRequirements requirements(int vcpu, int memory)
{
    Kumo__V1alpha1__PlacementRequirements r = KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__INIT;
    r.vcpu_min = vcpu;
    r.memory_mib_min = memory;
    return r;
}

KUMO_TEST(placement_cost_best_type_per_connection)
{
    Kumo__V1alpha1__PlacementRequirements r = requirements(2, 4096);
    kumo_placement_input in = {.requirements = &r, .offers = offers, .offer_count = OFFER_COUNT};
    kumo_placement_candidate c[8];
    kumo_diag why;
    kumo_diag_init(&why);
    size_t n = kumo_placement_rank(&in, c, 8, &why);
    KUMO_REQUIRE_INT_EQ(n, 3);
    /* Cheapest qualifying type of each connection, connections by price. */
    KUMO_EXPECT_STR_EQ(c[0].offer->instance_type, "Standard_B2s");
    KUMO_EXPECT_STR_EQ(c[1].offer->instance_type, "e2-standard-2");
    KUMO_EXPECT_STR_EQ(c[2].offer->instance_type, "m5.large"); /* t3.small has 2048 MiB */
    KUMO_EXPECT_CONTAINS(c[0].reason, "rank 1 of 3 by cost");
    KUMO_EXPECT_CONTAINS(c[0].reason, "Standard_B2s");
}

KUMO_TEST(placement_latency_to_users)
{
    Kumo__V1alpha1__PlacementRequirements r = requirements(2, 4096);
    r.preference = KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Latency;
    kumo_placement_user paris = {"paris-office", 48.86, 2.35, 1, NULL, 1, NULL};
    kumo_placement_input in = {.requirements = &r,
                               .offers = offers,
                               .offer_count = OFFER_COUNT,
                               .users = &paris,
                               .user_count = 1};
    kumo_placement_candidate c[8];
    kumo_diag why;
    kumo_diag_init(&why);
    KUMO_REQUIRE_INT_EQ(kumo_placement_rank(&in, c, 8, &why), 3);
    KUMO_EXPECT_STR_EQ(c[0].offer->connection, "gcp-euw1");
    KUMO_EXPECT_STR_EQ(c[1].offer->connection, "aws-use1");
    KUMO_EXPECT_STR_EQ(c[2].offer->connection, "az-krc");
    KUMO_EXPECT_INT_LT(c[0].latency_ms, 20);
    KUMO_EXPECT_INT_GT(c[2].latency_ms, 100);
    KUMO_EXPECT_CONTAINS(c[0].reason, "ms to users");
}

KUMO_TEST(placement_filters_and_failover)
{
    Kumo__V1alpha1__PlacementRequirements r = requirements(1, 1024);
    r.gpu_count = 1;
    r.gpu_model = "t4";
    kumo_placement_input in = {.requirements = &r, .offers = offers, .offer_count = OFFER_COUNT};
    kumo_placement_candidate c[8];
    kumo_diag why;
    kumo_diag_init(&why);
    KUMO_REQUIRE_INT_EQ(kumo_placement_rank(&in, c, 8, &why), 1);
    KUMO_EXPECT_STR_EQ(c[0].offer->instance_type, "g4dn.xlarge");
    /* Price cap excludes it; the reason says so. */
    r.max_price_per_hour = 0.5;
    KUMO_EXPECT_INT_EQ(kumo_placement_rank(&in, c, 8, &why), 0);
    KUMO_EXPECT_CONTAINS(why.message, "price limit");
    KUMO_EXPECT_CONTAINS(why.message, "at least 1 vCPU"); /* no maximum: not "1-9999" */
    /* Failover: an excluded connection is skipped. */
    Kumo__V1alpha1__PlacementRequirements plain = requirements(2, 4096);
    const char *failed[] = {"az-krc", NULL};
    kumo_placement_input in2 = {
        .requirements = &plain, .offers = offers, .offer_count = OFFER_COUNT, .excluded = failed};
    KUMO_REQUIRE_INT_EQ(kumo_placement_rank(&in2, c, 8, &why), 2);
    KUMO_EXPECT_STR_EQ(c[0].offer->connection, "gcp-euw1");
    /* Providers filter. */
    char *providers[] = {"aws"};
    plain.n_providers = 1;
    plain.providers = providers;
    in2.excluded = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_placement_rank(&in2, c, 8, &why), 1);
    KUMO_EXPECT_STR_EQ(c[0].offer->connection, "aws-use1");
}

KUMO_TEST(placement_measured_latency_table)
{
    char path[1024];
    if (kumo_test_shared_data_path("cloud-barista/cloudlatencymap.csv", path, sizeof(path)) == NULL)
        kumo_test_skip("shared reference data not present");
    kumo_placement_latency *t = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_placement_latency_load(path, &t, &d), KUMO_ERROR_OK);
    double near = kumo_placement_latency_between(t, "aws-us-east-1", "aws-us-east-2");
    double far = kumo_placement_latency_between(t, "aws-us-east-1", "aws-ap-northeast-2");
    KUMO_EXPECT(near > 0 && near < 30);
    KUMO_EXPECT(far > 120);
    KUMO_EXPECT_INT_EQ(kumo_placement_latency_between(t, "aws-us-east-1", "nowhere-1"), -1);
    /* The distance estimate is within a factor of two of the measurement on long routes. */
    double estimate = kumo_placement_estimate_rtt_ms(38.13, -78.45, 37.56, 126.98);
    KUMO_EXPECT(estimate > far / 2 && estimate < far * 2);
    /* With the table, a user named by region uses the measured RTT. */
    Kumo__V1alpha1__PlacementRequirements r = requirements(2, 4096);
    r.preference = KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Latency;
    kumo_placement_user seoul = {"seoul", 0, 0, 0, "azure-koreacentral", 1, NULL};
    kumo_placement_input in = {.requirements = &r,
                               .offers = offers,
                               .offer_count = OFFER_COUNT,
                               .users = &seoul,
                               .user_count = 1,
                               .latency = t};
    kumo_placement_candidate c[8];
    kumo_diag why;
    kumo_diag_init(&why);
    KUMO_REQUIRE_INT_EQ(kumo_placement_rank(&in, c, 8, &why), 3);
    KUMO_EXPECT_STR_EQ(c[0].offer->connection, "az-krc");
    KUMO_EXPECT_INT_LT(c[0].latency_ms, 10);
    kumo_placement_latency_destroy(t);
    kumo_diag_fini(&d);
}

KUMO_TEST(placement_latency_table_errors)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/bad.csv", kumo_test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs(",a-1,b-2\na-1,0.1,5\nc-3,5,0.1\n", f);
    fclose(f);
    kumo_placement_latency *t = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_placement_latency_load(path, &t, &d), KUMO_ERROR_PARSE);
    KUMO_EXPECT_CONTAINS(d.message, ":3:");
    KUMO_EXPECT(t == NULL);
    KUMO_EXPECT_INT_EQ(kumo_placement_latency_load("/nonexistent.csv", &t, &d), KUMO_ERROR_IO);
    kumo_diag_fini(&d);
}

/* Measured between connections: gcp-euw1 -> az-krc is fast, the rest unknown (stale). */
static int measured(void *context, const char *ns, const char *from, const char *to, double *ms,
                    double *age)
{
    int *calls = context;
    (*calls)++;
    if (strcmp(ns, "team") != 0 || strcmp(from, "gcp-euw1") != 0 || strcmp(to, "az-krc") != 0)
        return -1;
    *ms = 4.5;
    *age = 3;
    return 0;
}

KUMO_TEST(placement_live_measurements)
{
    Kumo__V1alpha1__PlacementRequirements r = requirements(2, 4096);
    r.preference = KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Latency;
    /* Users in Seoul, named by the region of Connection az-krc. */
    kumo_placement_user seoul = {"seoul", 37.56, 126.98, 1, "azure-koreacentral", 1, "az-krc"};
    int calls = 0;
    kumo_placement_input in = {.requirements = &r,
                               .offers = offers,
                               .offer_count = OFFER_COUNT,
                               .users = &seoul,
                               .user_count = 1,
                               .measured = measured,
                               .measured_context = &calls,
                               .ns = "team"};
    kumo_placement_candidate c[8];
    kumo_diag why;
    kumo_diag_init(&why);
    KUMO_REQUIRE_INT_EQ(kumo_placement_rank(&in, c, 8, &why), 3);
    /* Seoul's own estimated 1 ms first, then Europe's measured 4.5 ms, far ahead of the US. */
    KUMO_EXPECT_STR_EQ(c[0].offer->connection, "az-krc");
    KUMO_EXPECT_STR_EQ(c[0].latency_source, "estimated"); /* no RTT within one connection */
    KUMO_EXPECT_STR_EQ(c[1].offer->connection, "gcp-euw1");
    KUMO_EXPECT_STR_EQ(c[1].latency_source, "measured");
    KUMO_EXPECT_CONTAINS(c[1].reason, "4.5 ms to users (measured)");
    KUMO_EXPECT_STR_EQ(c[2].offer->connection, "aws-use1");
    KUMO_EXPECT_CONTAINS(c[2].reason, "ms to users (estimated)");
    KUMO_EXPECT_INT_EQ(calls, 2); /* never asked for a connection to itself */
    KUMO_EXPECT(c[1].latency_ms < 5);
    /* In another namespace nothing is measured: Europe's estimate is some 90 ms. */
    in.ns = "other";
    KUMO_REQUIRE_INT_EQ(kumo_placement_rank(&in, c, 8, &why), 3);
    KUMO_EXPECT_STR_EQ(c[1].offer->connection, "gcp-euw1");
    KUMO_EXPECT_STR_EQ(c[1].latency_source, "estimated");
    KUMO_EXPECT(c[1].latency_ms > 50);
}
