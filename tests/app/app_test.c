/*
 * app_test.c - the App controller with real kumo-agent processes (one per Machine, all on
 * this host at 127.0.0.1): an App becomes Ready, an update rolls one machine at a time, a
 * failing command degrades only its own App, a deleted App is stopped everywhere, and a
 * deleted Machine's instances leave the status while a new Machine gets them. Every case
 * skips until bin/kumo-agent is built.
 */
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "bus/agent/agent.h"
#include "controllers/runtime/meta/meta.h"
#include "tests/app/world.h"

/* An App of one component that runs a shell loop, `replicas` per machine; `extra` more spec. */
static int apply_loop_app(app_world *w, const char *name, const char *target, int replicas,
                          const char *version, const char *extra)
{
    return world_apply(w,
                       "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"App\","
                       " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                       " \"spec\": {\"infraRef\": {\"name\": \"shop\"}, \"target\": {%s}%s,"
                       " \"components\": [{\"name\": \"web\", \"replicas\": %d,"
                       " \"workingDir\": \"%s/work-%s\","
                       " \"env\": [{\"name\": \"VERSION\", \"value\": \"%s\"}],"
                       " \"command\": [\"sh\", \"-c\", \"while sleep 1; do :; done\"]}]}}",
                       name, target, extra ? extra : "", replicas, w->api.dir, name, version);
}

/* The agent's own report of app "default/<name>" on machine i: instances, or -1 when the
 * agent does not list it; -2 when the agent did not answer. */
static int agent_instances(app_world *w, size_t i, const char *name)
{
    char subject[256], key[128];
    kumo_agent_subject(subject, sizeof(subject), NULL, w->uids[i], "get");
    snprintf(key, sizeof(key), "default/%s", name);
    natsMsg *reply = NULL;
    if (natsConnection_RequestString(&reply, w->admin, subject, "", 2000) != NATS_OK)
        return -2;
    ProtobufCMessage *decoded = NULL;
    kumo_codec_decode_options lenient = {.lenient = 1};
    int n = -2;
    if (kumo_codec_json_decode(&kumo__v1alpha1__agent_reply__descriptor, natsMsg_GetData(reply),
                               (size_t)natsMsg_GetDataLength(reply), &lenient, &decoded,
                               NULL) == KUMO_ERROR_OK) {
        Kumo__V1alpha1__AgentReply *r = (Kumo__V1alpha1__AgentReply *)decoded;
        n = -1;
        for (size_t k = 0; r->status && k < r->status->n_apps; k++)
            if (strcmp(r->status->apps[k]->app, key) == 0)
                n = (int)r->status->apps[k]->n_instances;
        kumo_codec_message_free(decoded);
    }
    natsMsg_Destroy(reply);
    return n;
}

/* Instances of App `name` in its status on `machine`, and how many of them are ready. */
static int status_instances(app_world *w, const char *name, const char *machine, int *ready)
{
    Kumo__V1alpha1__App *app = world_app(w, name);
    int n = 0;
    *ready = 0;
    for (size_t i = 0; app && app->status && i < app->status->n_instances; i++)
        if (strcmp(app->status->instances[i]->machine, machine) == 0) {
            n++;
            *ready += app->status->instances[i]->ready;
        }
    kumo_object_destroy((ProtobufCMessage *)app);
    return n;
}

static void start_machines(app_world *w, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof(name), "shop-web-%zu", i);
        world_machine(w, name, "web");
        world_agent_start(w, i);
    }
}

static void delete_app(app_world *w, const char *name)
{
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_client_delete(w->api.client, kumo_object_kind_lookup("App"), "default",
                                          name, NULL, NULL, &d),
                       KUMO_ERROR_OK);
    kumo_diag_fini(&d);
}

KUMO_TEST(app_ready_on_real_agents)
{
    app_world w;
    world_start(&w, 1);
    start_machines(&w, 2);
    world_controller(&w, 4000);
    KUMO_REQUIRE(apply_loop_app(&w, "web", "\"group\": \"web\"", 2, "v1", NULL) == 0);
    KUMO_EXPECT(world_wait_condition(&w, 20, "web", "Ready", "True", "AllInstancesReady"));
    Kumo__V1alpha1__App *app = world_app(&w, "web");
    KUMO_REQUIRE_PTR_NONNULL(app);
    KUMO_REQUIRE_PTR_NONNULL(app->status);
    KUMO_EXPECT_INT_EQ(app->status->desired, 4);
    KUMO_EXPECT_INT_EQ(app->status->ready, 4);
    KUMO_EXPECT_INT_EQ(app->status->updated, 4);
    KUMO_REQUIRE_INT_EQ(app->status->n_instances, 4);
    KUMO_EXPECT_STR_EQ(app->status->instances[0]->machine, "shop-web-0");
    KUMO_EXPECT_STR_EQ(app->status->instances[3]->machine, "shop-web-1");
    KUMO_EXPECT_STR_EQ(app->status->instances[1]->component, "web");
    KUMO_EXPECT_INT_EQ(app->status->instances[1]->replica, 1);
    KUMO_EXPECT_STR_EQ(app->status->instances[2]->address, "127.0.0.1");
    KUMO_EXPECT_INT_EQ(app->status->instances[2]->phase,
                       KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Running);
    KUMO_EXPECT(app->status->instances[2]->ready);
    KUMO_EXPECT_INT_EQ(app->status->instances[2]->generation, app->metadata->generation);
    KUMO_EXPECT(kumo_meta_condition_is(&app->base, "Progressing", "False"));
    KUMO_EXPECT(kumo_meta_condition_is(&app->base, "Degraded", "False"));
    KUMO_EXPECT(kumo_meta_finalizer_has(&app->base, KUMO_APP_FINALIZER));
    kumo_object_destroy(&app->base);
    KUMO_EXPECT_INT_EQ(agent_instances(&w, 0, "web"), 2);
    world_stop(&w);
}

KUMO_TEST(app_rolling_update_max_unavailable)
{
    app_world w;
    world_start(&w, 1);
    start_machines(&w, 3);
    world_controller(&w, 4000);
    const char *rolling = ", \"rollingUpdate\": {\"maxUnavailable\": \"1\"}";
    KUMO_REQUIRE(apply_loop_app(&w, "web", "\"group\": \"web\"", 1, "v1", rolling) == 0);
    if (!world_wait_condition(&w, 20, "web", "Ready", "True", NULL)) {
        KUMO_EXPECT(!"the App became Ready");
        world_stop(&w);
        return;
    }

    /* Watch every agent document while the update runs: never more than one machine with
     * an instance that is not ready. */
    natsSubscription *sub = NULL;
    KUMO_REQUIRE(natsConnection_SubscribeSync(&sub, w.admin, "kumo.agent.*.status") == NATS_OK);
    KUMO_REQUIRE(apply_loop_app(&w, "web", "\"group\": \"web\"", 1, "v2", rolling) == 0);
    int not_ready[3] = {0, 0, 0}, worst = 0, done = 0;
    double deadline = kumo_test_now() + 30;
    kumo_codec_decode_options lenient = {.lenient = 1};
    while (!done && kumo_test_now() < deadline) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 200) == NATS_OK) {
            ProtobufCMessage *decoded = NULL;
            if (kumo_codec_json_decode(&kumo__v1alpha1__agent_status__descriptor,
                                       natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m),
                                       &lenient, &decoded, NULL) == KUMO_ERROR_OK) {
                Kumo__V1alpha1__AgentStatus *s = (Kumo__V1alpha1__AgentStatus *)decoded;
                for (size_t i = 0; i < w.machine_count; i++) {
                    if (strcmp(s->machine_uid, w.uids[i]) != 0)
                        continue;
                    not_ready[i] = 0;
                    for (size_t k = 0; k < s->n_apps; k++)
                        for (size_t j = 0; strcmp(s->apps[k]->app, "default/web") == 0 &&
                                           j < s->apps[k]->n_instances;
                             j++)
                            not_ready[i] |= !s->apps[k]->instances[j]->ready;
                }
                kumo_codec_message_free(decoded);
            }
            natsMsg_Destroy(m);
        }
        int now = not_ready[0] + not_ready[1] + not_ready[2];
        worst = now > worst ? now : worst;
        Kumo__V1alpha1__App *app = world_app(&w, "web");
        done = app && app->status && app->status->observed_generation == 2 &&
               app->status->updated == 3 && kumo_meta_condition_is(&app->base, "Ready", "True");
        kumo_object_destroy((ProtobufCMessage *)app);
    }
    natsSubscription_Destroy(sub);
    KUMO_EXPECT(done);
    KUMO_EXPECT_INT_LE(worst, 1);
    KUMO_EXPECT(world_condition(&w, "web", "Progressing", "False", "Converged"));
    if (!done)
        world_dump(&w, "web");
    world_stop(&w);
}

KUMO_TEST(app_failed_command_degrades_only_its_app)
{
    app_world w;
    world_start(&w, 1);
    start_machines(&w, 2);
    world_controller(&w, 4000);
    KUMO_REQUIRE(apply_loop_app(&w, "good", "\"group\": \"web\"", 1, "v1", NULL) == 0);
    KUMO_REQUIRE(world_apply(&w,
                             "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"App\","
                             " \"metadata\": {\"name\": \"bad\", \"namespace\": \"default\"},"
                             " \"spec\": {\"infraRef\": {\"name\": \"shop\"},"
                             " \"components\": [{\"name\": \"broken\", \"restartPolicy\": "
                             "\"Never\", \"workingDir\": \"%s/work-bad\","
                             " \"command\": [\"nosuchprog\"]}]}}",
                             w.api.dir) == 0);
    KUMO_EXPECT(world_wait_condition(&w, 20, "bad", "Degraded", "True", "InstanceFailed"));
    Kumo__V1alpha1__App *app = world_app(&w, "bad");
    KUMO_REQUIRE_PTR_NONNULL(app);
    const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(&app->base, "Degraded");
    KUMO_EXPECT_CONTAINS(c ? c->message : NULL, "component broken on machine shop-web-");
    KUMO_EXPECT_CONTAINS(c ? c->message : NULL, "nosuchprog");
    KUMO_EXPECT(kumo_meta_condition_is(&app->base, "Ready", "False"));
    kumo_object_destroy(&app->base);
    KUMO_EXPECT(world_wait_condition(&w, 20, "good", "Ready", "True", "AllInstancesReady"));
    KUMO_EXPECT(world_condition(&w, "good", "Degraded", "False", "AsExpected"));
    world_stop(&w);
}

KUMO_TEST(app_delete_stops_everywhere)
{
    app_world w;
    world_start(&w, 1);
    start_machines(&w, 2);
    world_controller(&w, 4000);
    KUMO_REQUIRE(apply_loop_app(&w, "web", "", 2, "v1", NULL) == 0);
    if (!world_wait_condition(&w, 20, "web", "Ready", "True", NULL)) {
        KUMO_EXPECT(!"the App became Ready");
        world_stop(&w);
        return;
    }
    KUMO_EXPECT_INT_EQ(agent_instances(&w, 1, "web"), 2);
    delete_app(&w, "web");
    Kumo__V1alpha1__App *app = NULL;
    double deadline = kumo_test_now() + 20;
    while ((app = world_app(&w, "web")) != NULL && kumo_test_now() < deadline) {
        kumo_object_destroy(&app->base);
        api_sleep_ms(100);
    }
    KUMO_EXPECT(app == NULL);
    kumo_object_destroy((ProtobufCMessage *)app);
    for (size_t i = 0; i < 2; i++) {
        int n = agent_instances(&w, i, "web");
        KUMO_EXPECT(n == -1 || n == 0);
    }
    world_stop(&w);
}

static int machine_gone_from_status(api_fixture *f, void *arg)
{
    (void)f;
    int ready;
    return status_instances(arg, "web", "shop-web-1", &ready) == 0;
}

static int new_machine_ready(api_fixture *f, void *arg)
{
    (void)f;
    int ready;
    return status_instances(arg, "web", "shop-web-2", &ready) == 2 && ready == 2 &&
           world_condition(arg, "web", "Ready", "True", NULL);
}

KUMO_TEST(app_machine_deleted_and_replaced)
{
    app_world w;
    world_start(&w, 1);
    start_machines(&w, 2);
    world_controller(&w, 4000);
    KUMO_REQUIRE(apply_loop_app(&w, "web", "\"group\": \"web\"", 2, "v1", NULL) == 0);
    if (!world_wait_condition(&w, 20, "web", "Ready", "True", NULL)) {
        KUMO_EXPECT(!"the App became Ready");
        world_stop(&w);
        return;
    }
    int ready = 0;
    KUMO_EXPECT_INT_EQ(status_instances(&w, "web", "shop-web-1", &ready), 2);

    /* The Machine goes: its instances leave the status, and its (still running) agent is
     * told to stop them. */
    world_machine_delete(&w, 1);
    KUMO_EXPECT(api_wait(&w.api, 10, machine_gone_from_status, &w));
    double deadline = kumo_test_now() + 10;
    while (agent_instances(&w, 1, "web") > 0 && kumo_test_now() < deadline)
        api_sleep_ms(100);
    KUMO_EXPECT(agent_instances(&w, 1, "web") <= 0);

    /* A new Machine with an agent gets them. */
    world_machine(&w, "shop-web-2", "web");
    world_agent_start(&w, 2);
    KUMO_EXPECT(api_wait(&w.api, 20, new_machine_ready, &w));
    Kumo__V1alpha1__App *app = world_app(&w, "web");
    KUMO_REQUIRE_PTR_NONNULL(app);
    KUMO_EXPECT_INT_EQ(app->status->desired, 4);
    KUMO_EXPECT_INT_EQ(app->status->n_instances, 4);
    kumo_object_destroy(&app->base);
    world_stop(&w);
}
