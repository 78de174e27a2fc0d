/*
 * infra_test.c - the Infra controller end to end: kumod with every
 * controller, the sim driver from the build, kumo-sim inventory as the
 * judge of what exists in the cloud.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "tests/e2e/e2e.h"

static const char *label_of(const ProtobufCMessage *object, const char *key)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    for (size_t i = 0; m && i < m->n_labels; i++)
        if (strcmp(m->labels[i]->key, key) == 0)
            return m->labels[i]->value;
    return "";
}

/* ---- three groups on three connections ----------------------------------------------- */

static const char *const three_regions[3] = {"us-east-1", "us-west-2", "eu-west-1"};

static int apply_three_groups(e2e *t, int a, int b, int c)
{
    return e2e_apply(
        t,
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
        " \"metadata\": {\"name\": \"shop\", \"namespace\": \"default\"},"
        " \"spec\": {\"groups\": ["
        "  {\"name\": \"web\", \"size\": %d, \"connection\": \"c0\", \"instanceType\": "
        "\"t3.micro\", \"image\": \"ubuntu-22.04\","
        "   \"securityRules\": [{\"protocol\": \"TCP\", \"fromPort\": 443}]},"
        "  {\"name\": \"api\", \"size\": %d, \"connection\": \"c1\", \"instanceType\": "
        "\"t3.small\", \"image\": \"ubuntu-22.04\"},"
        "  {\"name\": \"db\", \"size\": %d, \"connection\": \"c2\", \"instanceType\": "
        "\"t3.medium\", \"image\": \"ubuntu-22.04\"}]}}",
        a, b, c);
}

typedef struct want {
    const char *infra;
    int desired;
} want;

static int infra_ready(e2e *t, void *arg)
{
    const want *w = arg;
    return e2e_infra_ready(t, w->infra, w->desired);
}

typedef struct inventory_want {
    size_t machines, networks;
} inventory_want;

static int inventory_is(e2e *t, void *arg)
{
    const inventory_want *w = arg;
    kumo_value *inv = e2e_inventory(t);
    int ok = inv && e2e_inventory_count(inv, "machines") == w->machines &&
             e2e_inventory_count(inv, "networks") == w->networks &&
             e2e_inventory_count(inv, "securityGroups") == w->networks &&
             e2e_inventory_count(inv, "keyPairs") == w->networks;
    kumo_codec_value_destroy(inv);
    return ok;
}

/* Running machines per region in the inventory. */
static size_t running_in(const kumo_value *inv, const char *region)
{
    const kumo_value *list = kumo_codec_value_get(inv, "machines");
    size_t n = 0;
    for (size_t i = 0; list && i < list->count; i++)
        n += strcmp(e2e_string(list->items[i], "region"), region) == 0 &&
             strcmp(e2e_string(list->items[i], "state"), "running") == 0;
    return n;
}

KUMO_TEST(three_groups_converge_scale_delete)
{
    e2e t;
    e2e_start(&t, "30");
    double started = kumo_test_now();
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "c%d", i);
        E2E_REQUIRE(&t, e2e_sim_connection(&t, name, three_regions[i], 20, 5, 4, NULL) == 0);
    }
    E2E_REQUIRE(&t, apply_three_groups(&t, 4, 3, 3) == 0);
    want w = {"shop", 10};
    int ready = e2e_wait(&t, 60, infra_ready, &w);
    if (!ready)
        e2e_dump_log(&t, 40);
    E2E_REQUIRE(&t, ready);
    fprintf(stderr, "converged 10 machines on 3 connections in %.1f s\n",
            kumo_test_now() - started);
    kumo_value *inv = e2e_inventory(&t);
    E2E_REQUIRE(&t, inv != NULL);
    KUMO_EXPECT_INT_EQ(running_in(inv, "us-east-1"), 4);
    KUMO_EXPECT_INT_EQ(running_in(inv, "us-west-2"), 3);
    KUMO_EXPECT_INT_EQ(running_in(inv, "eu-west-1"), 3);
    KUMO_EXPECT_INT_EQ(e2e_inventory_count(inv, "networks"), 3);
    kumo_codec_value_destroy(inv);

    /* Status: per group, cost, reasons. */
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)e2e_get(&t, "Infra", "shop");
    E2E_REQUIRE(&t, infra && infra->status && infra->status->n_groups == 3);
    KUMO_EXPECT(infra->status->cost_per_hour > 0);
    KUMO_EXPECT_INT_EQ(infra->status->groups[0]->ready, 4);
    KUMO_EXPECT_INT_EQ(infra->status->groups[0]->n_placements, 1);
    KUMO_EXPECT_CONTAINS(infra->status->groups[0]->placements[0]->reason, "explicit");
    kumo_object_destroy(&infra->base);
    Kumo__V1alpha1__Machine *m = (Kumo__V1alpha1__Machine *)e2e_get(&t, "Machine", "shop-web-0");
    E2E_REQUIRE(&t, m && m->status);
    KUMO_EXPECT_INT_EQ(m->status->phase, KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running);
    KUMO_EXPECT(m->status->provider_id[0] != '\0');
    KUMO_EXPECT(m->status->n_addresses >= 1);
    KUMO_EXPECT_STR_EQ(m->status->region, "us-east-1");
    KUMO_EXPECT_STR_EQ(label_of(&m->base, "kumo.dev/infra"), "shop");
    KUMO_EXPECT_STR_EQ(label_of(&m->base, "kumo.dev/group"), "web");
    kumo_object_destroy(&m->base);

    /* Scale up one group, down another. */
    E2E_REQUIRE(&t, apply_three_groups(&t, 7, 1, 3) == 0);
    w.desired = 11;
    ready = e2e_wait(&t, 60, infra_ready, &w);
    if (!ready)
        e2e_dump_log(&t, 40);
    E2E_REQUIRE(&t, ready);
    inventory_want iw = {11, 3};
    KUMO_EXPECT(e2e_wait(&t, 20, inventory_is, &iw));
    inv = e2e_inventory(&t);
    KUMO_EXPECT_INT_EQ(running_in(inv, "us-east-1"), 7);
    KUMO_EXPECT_INT_EQ(running_in(inv, "us-west-2"), 1);
    kumo_codec_value_destroy(inv);
    /* Scale down removes the highest indexes. */
    ProtobufCMessage *gone = e2e_get(&t, "Machine", "shop-api-2");
    ProtobufCMessage *kept = e2e_get(&t, "Machine", "shop-api-0");
    KUMO_EXPECT(gone == NULL || kumo_object_meta(gone)->deletion_timestamp != NULL);
    KUMO_EXPECT(kept != NULL);
    kumo_object_destroy(gone);
    kumo_object_destroy(kept);

    /* The clouds never saw more than their limit, and never throttled kumo. */
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "c%d", i);
        kumo_value *stats = e2e_control(&t, name, "stats", NULL);
        E2E_REQUIRE(&t, stats != NULL);
        fprintf(stderr, "%s: calls=%.0f peakQps=%.0f throttled=%.0f peakInFlight=%.0f\n", name,
                e2e_number(stats, "calls"), e2e_number(stats, "peakQps"),
                e2e_number(stats, "throttled"), e2e_number(stats, "peakInFlight"));
        KUMO_EXPECT(e2e_number(stats, "calls") > 0);
        KUMO_EXPECT(e2e_number(stats, "peakQps") <= 20 + 5);
        KUMO_EXPECT(e2e_number(stats, "throttled") == 0);
        KUMO_EXPECT(e2e_number(stats, "peakInFlight") <= 4);
        kumo_codec_value_destroy(stats);
    }

    /* Delete: nothing is left in the cloud. */
    E2E_REQUIRE(&t, e2e_delete(&t, "Infra", "shop") == 0);
    iw = (inventory_want){0, 0};
    int empty = e2e_wait(&t, 60, inventory_is, &iw);
    if (!empty)
        e2e_dump_log(&t, 40);
    KUMO_EXPECT(empty);
    e2e_stop(&t);
}

/* ---- capacity failover ------------------------------------------------------------------ */

static int failed_over(e2e *t, void *arg)
{
    (void)arg;
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)e2e_get(t, "Infra", "burst");
    int ok = infra && infra->status && infra->status->n_groups == 1 &&
             infra->status->groups[0]->n_failovers >= 1 && infra->status->ready == 3 &&
             kumo_object_condition_get(&infra->base, "Ready") &&
             strcmp(kumo_object_condition_get(&infra->base, "Ready")->status, "True") == 0;
    kumo_object_destroy(infra ? &infra->base : NULL);
    return ok;
}

KUMO_TEST(capacity_failover)
{
    e2e t;
    e2e_start(&t, "30");
    /* near: closest to the users, but out of capacity; far: the next candidate. */
    E2E_REQUIRE(&t,
                e2e_sim_connection(&t, "near", "us-east-1", 50, 10, 8, "\"capacity\": \"0\"") == 0);
    E2E_REQUIRE(&t, e2e_sim_connection(&t, "far", "eu-west-1", 50, 10, 8, NULL) == 0);
    E2E_REQUIRE(&t,
                e2e_apply(&t, "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                              " \"metadata\": {\"name\": \"burst\", \"namespace\": \"default\"},"
                              " \"spec\": {\"groups\": [{\"name\": \"workers\", \"size\": 3,"
                              "  \"image\": \"ubuntu-22.04\", \"placement\": {\"vcpuMin\": 2,"
                              "  \"memoryMibMin\": 4096, \"preference\": \"Latency\","
                              "  \"userLocations\": [{\"name\": \"virginia\", \"latitude\": 38.9,"
                              "  \"longitude\": -77.0}]}}]}}") == 0);
    int ok = e2e_wait(&t, 90, failed_over, NULL);
    if (!ok)
        e2e_dump_log(&t, 60);
    E2E_REQUIRE(&t, ok);
    Kumo__V1alpha1__Infra *infra = (Kumo__V1alpha1__Infra *)e2e_get(&t, "Infra", "burst");
    E2E_REQUIRE(&t, infra != NULL);
    const Kumo__V1alpha1__NodeGroupStatus *g = infra->status->groups[0];
    KUMO_EXPECT_STR_EQ(g->failovers[0]->from_connection, "near");
    KUMO_EXPECT_STR_EQ(g->failovers[0]->to_connection, "far");
    KUMO_EXPECT_STR_EQ(g->failovers[0]->reason, "InsufficientCapacity");
    KUMO_EXPECT_INT_EQ(g->n_placements, 1);
    if (g->n_placements == 1) {
        KUMO_EXPECT_STR_EQ(g->placements[0]->connection, "far");
        KUMO_EXPECT_INT_EQ(g->placements[0]->count, 3);
        KUMO_EXPECT_CONTAINS(g->placements[0]->reason, "latency");
    }
    const Kumo__V1alpha1__Condition *degraded = kumo_object_condition_get(&infra->base, "Degraded");
    KUMO_EXPECT(degraded != NULL);
    if (degraded) {
        KUMO_EXPECT_STR_EQ(degraded->reason, "FailedOver");
        KUMO_EXPECT_CONTAINS(degraded->message, "near");
    }
    kumo_object_destroy(&infra->base);
    kumo_value *inv = e2e_inventory(&t);
    KUMO_EXPECT_INT_EQ(running_in(inv, "eu-west-1"), 3);
    KUMO_EXPECT_INT_EQ(running_in(inv, "us-east-1"), 0);
    kumo_codec_value_destroy(inv);
    /* The failed connection's shared resources are removed once nothing uses them. */
    inventory_want iw = {3, 1};
    KUMO_EXPECT(e2e_wait(&t, 30, inventory_is, &iw));
    e2e_stop(&t);
}

/* ---- drift ------------------------------------------------------------------------------ */

typedef struct machine_want {
    const char *name;
    char old_id[64];
    int same_id; /* 1: the same VM again (restarted), 0: a new one (recreated) */
} machine_want;

static int machine_repaired(e2e *t, void *arg)
{
    machine_want *w = arg;
    Kumo__V1alpha1__Machine *m = (Kumo__V1alpha1__Machine *)e2e_get(t, "Machine", w->name);
    int ok = m && m->status && m->status->phase == KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running &&
             (strcmp(m->status->provider_id, w->old_id) == 0) == w->same_id &&
             kumo_object_condition_get(&m->base, "Drifted") != NULL;
    kumo_object_destroy(m ? &m->base : NULL);
    return ok;
}

static int provider_id_of(e2e *t, const char *machine, char *buf, size_t size)
{
    Kumo__V1alpha1__Machine *m = (Kumo__V1alpha1__Machine *)e2e_get(t, "Machine", machine);
    int ok = m && m->status && m->status->provider_id[0];
    if (ok)
        snprintf(buf, size, "%s", m->status->provider_id);
    kumo_object_destroy(m ? &m->base : NULL);
    return ok ? 0 : -1;
}

KUMO_TEST(drift_repair)
{
    e2e t;
    e2e_start(&t, "1");
    E2E_REQUIRE(&t, e2e_sim_connection(&t, "c0", "us-east-1", 50, 10, 8, NULL) == 0);
    const char *infra_fmt =
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
        " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
        " \"spec\": {\"driftPolicy\": \"%s\", \"groups\": [{\"name\": \"g\", \"size\": 2,"
        " \"connection\": \"c0\", \"instanceType\": \"t3.micro\", \"image\": \"ubuntu-22.04\"}]}}";
    E2E_REQUIRE(&t, e2e_apply(&t, infra_fmt, "recreate", "Recreate") == 0);
    E2E_REQUIRE(&t, e2e_apply(&t, infra_fmt, "restart", "Restart") == 0);
    want w1 = {"recreate", 2}, w2 = {"restart", 2};
    E2E_REQUIRE(&t, e2e_wait(&t, 60, infra_ready, &w1) && e2e_wait(&t, 60, infra_ready, &w2));

    /* Deleted behind kumo's back: recreated. */
    machine_want gone = {"recreate-g-0", "", 0};
    E2E_REQUIRE(&t, provider_id_of(&t, gone.name, gone.old_id, sizeof(gone.old_id)) == 0);
    char input[128];
    snprintf(input, sizeof(input), "{\"id\": \"%s\"}", gone.old_id);
    kumo_value *r = e2e_control(&t, "c0", "machine_terminate", input);
    E2E_REQUIRE(&t, r != NULL && kumo_codec_value_get(r, "error") == NULL);
    kumo_codec_value_destroy(r);
    double at = kumo_test_now();
    int repaired = e2e_wait(&t, 30, machine_repaired, &gone);
    if (!repaired)
        e2e_dump_log(&t, 40);
    KUMO_EXPECT(repaired);
    fprintf(stderr, "vanished VM %s recreated in %.1f s\n", gone.old_id, kumo_test_now() - at);

    /* Stopped behind kumo's back with driftPolicy Restart: started again, same VM. */
    machine_want stopped = {"restart-g-1", "", 1};
    E2E_REQUIRE(&t, provider_id_of(&t, stopped.name, stopped.old_id, sizeof(stopped.old_id)) == 0);
    snprintf(input, sizeof(input), "{\"id\": \"%s\"}", stopped.old_id);
    r = e2e_control(&t, "c0", "machine_stop", input);
    E2E_REQUIRE(&t, r != NULL && kumo_codec_value_get(r, "error") == NULL);
    kumo_codec_value_destroy(r);
    repaired = e2e_wait(&t, 30, machine_repaired, &stopped);
    if (!repaired)
        e2e_dump_log(&t, 40);
    KUMO_EXPECT(repaired);

    /* Exactly the four machines exist, all running. */
    inventory_want iw = {4, 2}; /* each Infra has its own network, group and key */
    KUMO_EXPECT(e2e_wait(&t, 20, inventory_is, &iw));
    kumo_value *inv = e2e_inventory(&t);
    KUMO_EXPECT_INT_EQ(running_in(inv, "us-east-1"), 4);
    kumo_codec_value_destroy(inv);
    e2e_stop(&t);
}
