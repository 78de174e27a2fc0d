/*
 * noagent_test.c - the App controller where there is nothing to run on: no
 * machine in the group, no Infra, machines whose agent never reports.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "bus/agent/agent.h"
#include "controllers/runtime/meta/meta.h"
#include "tests/app/world.h"

KUMO_TEST(app_no_targets_and_unreachable_agents)
{
    app_world w;
    world_start(&w, 0);
    world_machine(&w, "shop-web-0", "web");
    world_controller(&w, 800);
    const char *tmpl = "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"App\","
                       " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                       " \"spec\": {\"infraRef\": {\"name\": \"%s\"}, \"target\": {%s},"
                       " \"components\": [{\"name\": \"web\", \"command\": [\"true\"]}]}}";
    KUMO_REQUIRE(world_apply(&w, tmpl, "nogroup", "shop", "\"group\": \"db\"") == 0);
    KUMO_REQUIRE(world_apply(&w, tmpl, "noinfra", "nope", "") == 0);
    KUMO_REQUIRE(world_apply(&w, tmpl, "noagent", "shop", "\"group\": \"web\"") == 0);
    KUMO_EXPECT(world_wait_condition(&w, 10, "nogroup", "Degraded", "True", "NoTargets"));
    KUMO_EXPECT(world_wait_condition(&w, 10, "noinfra", "Degraded", "True", "InfraNotFound"));
    KUMO_EXPECT(world_wait_condition(&w, 10, "noagent", "Degraded", "True", "AgentUnreachable"));
    /* Nothing runs and nothing will by itself: not "Converged". */
    KUMO_EXPECT(world_wait_condition(&w, 10, "noagent", "Progressing", "False", "Stalled"));
    Kumo__V1alpha1__App *app = world_app(&w, "nogroup");
    KUMO_REQUIRE_PTR_NONNULL(app);
    const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(&app->base, "Degraded");
    KUMO_EXPECT_STR_EQ(c ? c->message : NULL,
                       "Infra \"shop\" has no Running machines in group \"db\"");
    KUMO_EXPECT(kumo_meta_condition_is(&app->base, "Ready", "False"));
    kumo_object_destroy(&app->base);
    app = world_app(&w, "noagent");
    KUMO_REQUIRE_PTR_NONNULL(app);
    KUMO_EXPECT_INT_EQ(app->status->desired, 1);
    KUMO_EXPECT_INT_EQ(app->status->ready, 0);
    KUMO_REQUIRE_INT_EQ(app->status->n_instances, 1);
    KUMO_EXPECT_INT_EQ(app->status->instances[0]->phase,
                       KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Pending);
    c = kumo_object_condition_get(&app->base, "Degraded");
    KUMO_EXPECT_CONTAINS(c ? c->message : NULL, "shop-web-0");
    kumo_object_destroy(&app->base);

    /* Without any agent to stop, a delete completes at once. */
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_client_delete(w.api.client, kumo_object_kind_lookup("App"), "default",
                                          "noagent", NULL, NULL, &d),
                       KUMO_ERROR_OK);
    kumo_diag_fini(&d);
    double deadline = kumo_test_now() + 5;
    while ((app = world_app(&w, "noagent")) != NULL && kumo_test_now() < deadline) {
        kumo_object_destroy(&app->base);
        api_sleep_ms(50);
    }
    KUMO_EXPECT(app == NULL);
    kumo_object_destroy((ProtobufCMessage *)app);
    world_stop(&w);
}
