/*
 * infra_controllers_test.c - the Connection, Machine (cloud resource) and
 * Infra controllers in this process, against a real kumod (API only) and the
 * sim driver: status and conditions, intent before create, adoption after a
 * crash, deletion, credentials, placement spread and selection.
 */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "controllers/infra/infra.h"
#include "controllers/manager/manager.h"
#include "controllers/runtime/meta/meta.h"
#include "drivers/loader/loader.h"
#include "tests/controllers/fixture.h"
#include "tests/controllers/infra_helpers.h"

/* ---- Connection -------------------------------------------------------------------- */

KUMO_TEST(connection_probe_catalog_and_failures)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "ok", NULL) == 0);
    KUMO_REQUIRE(api_apply(&f,
                           "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                           " \"metadata\": {\"name\": \"nodriver\", \"namespace\": \"default\"},"
                           " \"spec\": {\"driver\": \"nope\", \"region\": \"r1\","
                           " \"credentialRef\": {\"name\": \"good\"}}}") == 0);
    const char *secured = "\"auth_secret\": \"s3cret\"";
    char name_cfg[3][16] = {"good", "bad", "missing"};
    for (int i = 0; i < 3; i++)
        KUMO_REQUIRE(
            api_apply(&f,
                      "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                      " \"metadata\": {\"name\": \"cred-%s\", \"namespace\": \"default\"},"
                      " \"spec\": {\"driver\": \"sim\", \"provider\": \"aws\", \"region\": "
                      "\"eu-west-1\", \"credentialRef\": {\"name\": \"%s\"},"
                      " \"config\": {\"state\": \"%s\", \"fsync\": \"false\", %s}}}",
                      name_cfg[i], name_cfg[i], f.state, secured) == 0);
    kumo_manager *m = start_controllers(&f, "connection");
    KUMO_REQUIRE(m != NULL);
    condition_want w = {"Connection", "ok", "Ready", "True", "Reachable"};
    int ok = api_wait(&f, 15, has_condition, &w);
    if (!ok)
        print_condition(&f, "Connection", "ok", "Ready");
    KUMO_EXPECT(ok);
    Kumo__V1alpha1__Connection *c = (Kumo__V1alpha1__Connection *)api_get(&f, "Connection", "ok");
    KUMO_REQUIRE(c && c->status);
    KUMO_EXPECT(c->status->reachable);
    KUMO_EXPECT(c->status->location && c->status->location->latitude > 35 &&
                c->status->location->latitude < 42);
    KUMO_EXPECT(c->status->catalog && c->status->catalog->n_instance_types > 5 &&
                c->status->catalog->n_images > 0);
    int has_micro = 0;
    for (size_t i = 0; c->status->catalog && i < c->status->catalog->n_instance_types; i++)
        has_micro |= strcmp(c->status->catalog->instance_types[i]->name, "t3.micro") == 0 &&
                     c->status->catalog->instance_types[i]->price_per_hour > 0;
    KUMO_EXPECT(has_micro);
    kumo_object_destroy(&c->base);

    struct {
        const char *name, *status, *reason;
    } expected[] = {{"nodriver", "False", "DriverNotFound"},
                    {"cred-good", "True", "Reachable"},
                    {"cred-bad", "False", "Unauthorized"},
                    {"cred-missing", "False", "CredentialNotFound"}};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        condition_want cw = {"Connection", expected[i].name, "Ready", expected[i].status,
                             expected[i].reason};
        ok = api_wait(&f, 15, has_condition, &cw);
        if (!ok)
            print_condition(&f, "Connection", expected[i].name, "Ready");
        KUMO_EXPECT(ok);
    }
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

/* ---- Machine ------------------------------------------------------------------------- */

static int machine_gone(api_fixture *f, void *arg)
{
    ProtobufCMessage *m = api_get(f, "Machine", arg);
    kumo_object_destroy(m);
    return m == NULL;
}

/* What the watch saw: no cloud id was ever recorded before the intent was. */
typedef struct history {
    int events, intent_seen, id_without_intent, id_seen;
} history;

static void record(void *context, kumo_client_event_type type, int64_t revision,
                   const ProtobufCMessage *object)
{
    (void)type;
    (void)revision;
    history *h = context;
    Kumo__V1alpha1__Machine *m = (Kumo__V1alpha1__Machine *)object;
    int intent = kumo_meta_finalizer_has(object, KUMO_INFRA_FINALIZER) &&
                 kumo_meta_annotation(object, KUMO_INFRA_CREATE_PENDING) != NULL;
    int id = m->status && m->status->provider_id[0];
    h->events++;
    h->intent_seen |= intent && !id;
    h->id_seen |= id;
    h->id_without_intent |= id && !intent;
}

KUMO_TEST(machine_intent_before_create_and_delete)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    history h = {0};
    kumo_client_watch *watch = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_client_watch_options wo = {0};
    KUMO_REQUIRE_INT_EQ(kumo_client_watch_start(f.client, kumo_object_kind_lookup("Machine"),
                                                "default", &wo, record, &h, &watch, &d),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE(api_apply(&f, plain_machine, "m1", "") == 0);
    kumo_manager *m = start_controllers(&f, "connection,machine");
    KUMO_REQUIRE(m != NULL);
    int ok = api_wait(&f, 20, machine_running, "m1");
    if (!ok)
        print_condition(&f, "Machine", "m1", "Ready");
    KUMO_EXPECT(ok);
    Kumo__V1alpha1__Machine *mc = (Kumo__V1alpha1__Machine *)api_get(&f, "Machine", "m1");
    KUMO_REQUIRE(mc && mc->status);
    KUMO_EXPECT(strncmp(mc->status->provider_id, "i-0", 3) == 0);
    KUMO_EXPECT_STR_EQ(mc->status->region, "us-east-1");
    KUMO_EXPECT(mc->status->n_addresses == 2);
    KUMO_EXPECT(mc->status->cost_per_hour > 0);
    KUMO_EXPECT(mc->status->boot_time != NULL);
    KUMO_EXPECT(kumo_meta_condition_is(&mc->base, "Ready", "True"));
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", mc->metadata->uid);
    kumo_object_destroy(&mc->base);
    api_sleep_ms(300);
    KUMO_EXPECT(h.intent_seen);
    KUMO_EXPECT(h.id_seen);
    KUMO_EXPECT_INT_EQ(h.id_without_intent, 0);

    kumo_driver_handle *handle = NULL;
    struct kumo_driver_conn *conn = sim_open(&f, &handle);
    KUMO_REQUIRE(conn != NULL);
    KUMO_EXPECT_INT_EQ(sim_machines_with_token(handle, conn, uid), 1);
    /* Delete: the VM goes first, then the object. */
    kumo_client_delete(f.client, kumo_object_kind_lookup("Machine"), "default", "m1", NULL, NULL,
                       &d);
    KUMO_EXPECT(api_wait(&f, 15, machine_gone, "m1"));
    KUMO_EXPECT_INT_EQ(sim_machines_with_token(handle, conn, uid), 0);
    kumo_driver_table(handle)->close(conn);
    kumo_driver_unload(handle);
    kumo_client_watch_stop(watch);
    kumo_manager_stop(m);
    kumo_diag_fini(&d);
    api_fixture_stop(&f);
}

KUMO_TEST(machine_found_by_token_after_crash)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    /* A controller crashed right after its create: intent recorded, VM made, no status. */
    KUMO_REQUIRE(api_apply(&f, plain_machine, "m1",
                           ", \"finalizers\": [\"kumo.dev/cloud-cleanup\"], \"annotations\": "
                           "{\"kumo.dev/create-pending\": \"2026-01-01T00:00:00Z\"}") == 0);
    ProtobufCMessage *obj = api_get(&f, "Machine", "m1");
    KUMO_REQUIRE(obj != NULL);
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", kumo_object_meta(obj)->uid);
    kumo_object_destroy(obj);
    kumo_driver_handle *handle = NULL;
    struct kumo_driver_conn *conn = sim_open(&f, &handle);
    KUMO_REQUIRE(conn != NULL);
    const struct kumo_driver *drv = kumo_driver_table(handle);
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "m1",
                                            .instance_type = "t3.micro",
                                            .image = "ubuntu-22.04"};
    struct kumo_driver_machine *vm = NULL;
    struct kumo_driver_diag dd;
    KUMO_REQUIRE_INT_EQ(drv->machine_create(conn, &spec, uid, KUMO_DRIVER_NO_DEADLINE, &vm, &dd),
                        KUMO_DRIVER_OK);
    char id[64];
    snprintf(id, sizeof(id), "%s", vm->provider_id);
    kumo_driver_free(kumo_driver_host_of(handle), vm);

    kumo_manager *m = start_controllers(&f, "connection,machine");
    KUMO_REQUIRE(m != NULL);
    KUMO_EXPECT(api_wait(&f, 20, machine_running, "m1"));
    Kumo__V1alpha1__Machine *mc = (Kumo__V1alpha1__Machine *)api_get(&f, "Machine", "m1");
    KUMO_REQUIRE(mc && mc->status);
    KUMO_EXPECT_STR_EQ(mc->status->provider_id, id); /* adopted, not made again */
    kumo_object_destroy(&mc->base);
    KUMO_EXPECT_INT_EQ(sim_machines_with_token(handle, conn, uid), 1);
    /* And the controller's connection never sent a create. */
    natsConnection *nc = NULL;
    natsMsg *reply = NULL;
    KUMO_REQUIRE(natsConnection_ConnectTo(&nc, f.url) == NATS_OK);
    KUMO_EXPECT(natsConnection_RequestString(&reply, nc, "kumo.v1.control.connections.default.c0",
                                             "{\"op\": \"stats\"}", 3000) == NATS_OK);
    if (reply) {
        KUMO_EXPECT_CONTAINS(natsMsg_GetData(reply), "\"machine_create\":0");
        KUMO_EXPECT(strstr(natsMsg_GetData(reply), "\"machine_observe\":0") == NULL);
        natsMsg_Destroy(reply);
    }
    natsConnection_Destroy(nc);
    drv->close(conn);
    kumo_driver_unload(handle);
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

/* ---- Infra placement ------------------------------------------------------------------- */

typedef struct infra_want {
    const char *name;
    int ready;
} infra_want;

static int infra_ready(api_fixture *f, void *arg)
{
    infra_want *w = arg;
    Kumo__V1alpha1__Infra *i = (Kumo__V1alpha1__Infra *)api_get(f, "Infra", w->name);
    int ok = i && i->status && i->status->ready == w->ready &&
             kumo_meta_condition_is(&i->base, "Ready", "True");
    kumo_object_destroy(i ? &i->base : NULL);
    return ok;
}

KUMO_TEST(infra_placement_spread_and_selector)
{
    api_fixture f;
    api_fixture_start(&f);
    const char *regions[3] = {"us-east-1", "eu-west-1", "ap-northeast-1"};
    for (int i = 0; i < 3; i++)
        KUMO_REQUIRE(api_apply(&f,
                               "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                               " \"metadata\": {\"name\": \"r%d\", \"namespace\": \"default\","
                               " \"labels\": {\"tier\": \"%s\"}}, \"spec\": {\"driver\": \"sim\","
                               " \"provider\": \"aws\", \"region\": \"%s\", \"rateLimit\": "
                               "{\"qps\": 100, \"burst\": 20}, \"config\": {\"state\": \"%s\","
                               " \"fsync\": \"false\", \"boot_seconds\": \"0.3\"}}}",
                               i, i == 2 ? "gold" : "std", regions[i], f.state) == 0);
    const char *infra =
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", \"metadata\": {\"name\": "
        "\"%s\", \"namespace\": \"default\"}, \"spec\": {\"groups\": [{\"name\": \"g\", \"size\": "
        "4, \"image\": \"ubuntu-22.04\", \"placement\": {\"vcpuMin\": 2, \"memoryMibMin\": 4096,"
        " \"preference\": \"Cost\", %s}}]}}";
    KUMO_REQUIRE(api_apply(&f, infra, "spread", "\"spreadConnections\": 2") == 0);
    KUMO_REQUIRE(api_apply(&f, infra, "gold",
                           "\"connectionSelector\": {\"matchLabels\": {\"tier\": \"gold\"}}") == 0);
    kumo_manager *m = start_controllers(&f, "all");
    KUMO_REQUIRE(m != NULL);
    infra_want w1 = {"spread", 4}, w2 = {"gold", 4};
    int ok = api_wait(&f, 30, infra_ready, &w1) && api_wait(&f, 30, infra_ready, &w2);
    if (!ok)
        print_condition(&f, "Infra", "spread", "Ready");
    KUMO_EXPECT(ok);
    Kumo__V1alpha1__Infra *i = (Kumo__V1alpha1__Infra *)api_get(&f, "Infra", "spread");
    KUMO_REQUIRE(i && i->status && i->status->n_groups == 1);
    const Kumo__V1alpha1__NodeGroupStatus *g = i->status->groups[0];
    KUMO_EXPECT_INT_EQ(g->n_placements, 2);
    for (size_t p = 0; p < g->n_placements; p++) {
        KUMO_EXPECT_INT_EQ(g->placements[p]->count, 2);
        KUMO_EXPECT_CONTAINS(g->placements[p]->reason, "by cost");
        KUMO_EXPECT(g->placements[p]->price_per_hour > 0);
    }
    KUMO_EXPECT(i->status->cost_per_hour > 0);
    kumo_object_destroy(&i->base);
    i = (Kumo__V1alpha1__Infra *)api_get(&f, "Infra", "gold");
    KUMO_REQUIRE(i && i->status && i->status->n_groups == 1);
    KUMO_EXPECT_INT_EQ(i->status->groups[0]->n_placements, 1);
    if (i->status->groups[0]->n_placements == 1)
        KUMO_EXPECT_STR_EQ(i->status->groups[0]->placements[0]->connection, "r2");
    kumo_object_destroy(&i->base);
    /* Every Machine of the Infra carries its labels and owner. */
    Kumo__V1alpha1__Machine *mc = (Kumo__V1alpha1__Machine *)api_get(&f, "Machine", "gold-g-0");
    KUMO_REQUIRE(mc != NULL);
    KUMO_EXPECT_STR_EQ(kumo_meta_label(&mc->base, KUMO_INFRA_LABEL_INFRA), "gold");
    KUMO_EXPECT_STR_EQ(kumo_meta_label(&mc->base, KUMO_INFRA_LABEL_GROUP), "g");
    KUMO_EXPECT(kumo_meta_owner(&mc->base) != NULL);
    KUMO_EXPECT_STR_EQ(mc->spec->network_ref->name, "gold-r2");
    kumo_object_destroy(&mc->base);
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

static int infra_waits_for(api_fixture *f, void *arg)
{
    Kumo__V1alpha1__Infra *i = (Kumo__V1alpha1__Infra *)api_get(f, "Infra", "near-users");
    const Kumo__V1alpha1__Condition *c =
        i ? kumo_object_condition_get(&i->base, "Progressing") : NULL;
    int ok = c && strstr(c->message, arg) != NULL;
    kumo_object_destroy(i ? &i->base : NULL);
    return ok;
}

/* A Connection that reports second still gets the machines it is best for. */
KUMO_TEST(infra_placement_waits_for_new_connection)
{
    api_fixture f;
    api_fixture_start(&f);
    /* "slow" is near the users but every call to it takes 2 s, its first probe included. */
    const char *conn = "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                       " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                       " \"spec\": {\"driver\": \"sim\", \"provider\": \"aws\", \"region\": \"%s\","
                       " \"rateLimit\": {\"qps\": 100, \"burst\": 20}, \"config\": {\"state\": "
                       "\"%s\", \"fsync\": \"false\", \"boot_seconds\": \"0.3\","
                       " \"latency_ms\": \"%s\"}}}";
    KUMO_REQUIRE(api_apply(&f, conn, "slow", "us-east-1", f.state, "2000") == 0);
    KUMO_REQUIRE(api_apply(&f, conn, "quick", "eu-west-1", f.state, "0") == 0);
    KUMO_REQUIRE(
        api_apply(&f,
                  "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", \"metadata\":"
                  " {\"name\": \"near-users\", \"namespace\": \"default\"}, \"spec\": {\"groups\":"
                  " [{\"name\": \"g\", \"size\": 2, \"image\": \"ubuntu-22.04\", \"placement\":"
                  " {\"vcpuMin\": 2, \"preference\": \"Latency\", \"userLocations\": [{\"name\":"
                  " \"virginia\", \"latitude\": 38.9, \"longitude\": -77.0}]}}]}}") == 0);
    kumo_manager *m = start_controllers(&f, "all");
    KUMO_REQUIRE(m != NULL);
    KUMO_EXPECT(api_wait(&f, 10, infra_waits_for, "waits for Connection slow"));
    infra_want w = {"near-users", 2};
    int ok = api_wait(&f, 60, infra_ready, &w);
    if (!ok)
        print_condition(&f, "Infra", "near-users", "Progressing");
    KUMO_EXPECT(ok);
    Kumo__V1alpha1__Infra *i = (Kumo__V1alpha1__Infra *)api_get(&f, "Infra", "near-users");
    KUMO_REQUIRE(i && i->status && i->status->n_groups == 1);
    KUMO_EXPECT_INT_EQ(i->status->groups[0]->n_placements, 1);
    if (i->status->groups[0]->n_placements == 1)
        KUMO_EXPECT_STR_EQ(i->status->groups[0]->placements[0]->connection, "slow");
    KUMO_EXPECT_INT_EQ(i->status->groups[0]->n_failovers, 0);
    kumo_object_destroy(&i->base);
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

/* A Connection deleted while a Machine uses it stays until the Machine (and its VM) are gone. */
KUMO_TEST(connection_kept_while_in_use)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    KUMO_REQUIRE(api_apply(&f, plain_machine, "m1", "") == 0);
    kumo_manager *m = start_controllers(&f, "connection,machine");
    KUMO_REQUIRE(m != NULL);
    KUMO_REQUIRE(api_wait(&f, 20, machine_running, "m1"));
    Kumo__V1alpha1__Machine *mc = (Kumo__V1alpha1__Machine *)api_get(&f, "Machine", "m1");
    KUMO_REQUIRE(mc != NULL);
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", mc->metadata->uid);
    kumo_object_destroy(&mc->base);
    ProtobufCMessage *c = api_get(&f, "Connection", "c0");
    KUMO_EXPECT(c && kumo_meta_finalizer_has(c, KUMO_INFRA_IN_USE));
    kumo_object_destroy(c);

    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_client_delete(f.client, kumo_object_kind_lookup("Connection"),
                                          "default", "c0", NULL, NULL, &d),
                       KUMO_ERROR_OK);
    api_sleep_ms(1500);
    c = api_get(&f, "Connection", "c0");
    KUMO_EXPECT(c != NULL && kumo_meta_deleting(c)); /* held by the Machine */
    kumo_object_destroy(c);

    /* A new Machine naming the Connection on its way out asks nothing of the cloud. */
    KUMO_REQUIRE(api_apply(&f, plain_machine, "m2", "") == 0);
    condition_want cw = {"Machine", "m2", "Ready", "False", "ConnectionDeleting"};
    int waiting = api_wait(&f, 15, has_condition, &cw);
    if (!waiting)
        print_condition(&f, "Machine", "m2", "Ready");
    KUMO_EXPECT(waiting);
    ProtobufCMessage *m2 = api_get(&f, "Machine", "m2");
    KUMO_REQUIRE(m2 != NULL);
    char uid2[64];
    snprintf(uid2, sizeof(uid2), "%s", kumo_object_meta(m2)->uid);
    KUMO_EXPECT(kumo_meta_annotation(m2, KUMO_INFRA_CREATE_PENDING) == NULL);
    kumo_object_destroy(m2);

    const char *const machines[] = {"m1", "m2"};
    for (size_t i = 0; i < 2; i++)
        KUMO_EXPECT_INT_EQ(kumo_client_delete(f.client, kumo_object_kind_lookup("Machine"),
                                              "default", machines[i], NULL, NULL, &d),
                           KUMO_ERROR_OK);
    const char *machine[2] = {"Machine", "m1"}, *machine2[2] = {"Machine", "m2"},
               *conn[2] = {"Connection", "c0"};
    KUMO_EXPECT(api_wait(&f, 15, object_gone, machine)); /* deleted through the Connection */
    KUMO_EXPECT(api_wait(&f, 15, object_gone, machine2));
    KUMO_EXPECT(api_wait(&f, 15, object_gone, conn));
    kumo_driver_handle *handle = NULL;
    struct kumo_driver_conn *sc = sim_open(&f, &handle);
    KUMO_REQUIRE(sc != NULL);
    KUMO_EXPECT_INT_EQ(sim_machines_with_token(handle, sc, uid), 0);
    KUMO_EXPECT_INT_EQ(sim_machines_with_token(handle, sc, uid2), 0);
    kumo_driver_table(handle)->close(sc);
    kumo_driver_unload(handle);
    kumo_diag_fini(&d);
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

static int machines_are(api_fixture *f, void *arg)
{
    const char *const *names = arg; /* present..., NULL, absent..., NULL */
    int ok = 1, absent = 0;
    for (size_t i = 0; ok && (names[i] || !absent); i++) {
        if (names[i] == NULL) {
            absent = 1;
            continue;
        }
        ProtobufCMessage *o = api_get(f, "Machine", names[i]);
        ok = absent ? o == NULL : o != NULL && !kumo_meta_deleting(o);
        kumo_object_destroy(o);
    }
    return ok;
}

/* A group moved to another connection and shrunk removes the machines that no longer fit it
 * first (what a Migration relies on), not the highest index. */
KUMO_TEST(infra_scale_down_removes_stale_first)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    KUMO_REQUIRE(api_sim_connection(&f, "c1", NULL) == 0);
    const char *infra =
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", \"metadata\": {\"name\": "
        "\"move\", \"namespace\": \"default\"}, \"spec\": {\"groups\": [{\"name\": \"g\", "
        "\"size\": "
        "%d, \"connection\": \"%s\", \"instanceType\": \"t3.micro\", \"image\": \"ubuntu-22.04\""
        "%s}]}}";
    KUMO_REQUIRE(api_apply(&f, infra, 2, "c0", "") == 0);
    kumo_manager *m = start_controllers(&f, "all");
    KUMO_REQUIRE(m != NULL);
    infra_want two = {"move", 2}, four = {"move", 4};
    KUMO_EXPECT(api_wait(&f, 30, infra_ready, &two));
    const char *labels = ", \"labels\": {\"next\": \"yes\"}";
    KUMO_REQUIRE(api_apply(&f, infra, 4, "c1", labels) == 0);
    KUMO_EXPECT(api_wait(&f, 30, infra_ready, &four));
    KUMO_REQUIRE(api_apply(&f, infra, 2, "c1", labels) == 0);
    const char *want[] = {"move-g-2", "move-g-3", NULL, "move-g-0", "move-g-1", NULL};
    KUMO_EXPECT(api_wait(&f, 30, machines_are, want));
    Kumo__V1alpha1__Machine *mc = (Kumo__V1alpha1__Machine *)api_get(&f, "Machine", "move-g-3");
    KUMO_EXPECT(mc && strcmp(mc->spec->connection, "c1") == 0);
    kumo_object_destroy(mc ? &mc->base : NULL);
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}
