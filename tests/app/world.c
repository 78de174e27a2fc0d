/*
 * world.c - the App tests' world: kumod, the agent bus, Machines, real agents, the
 * controller (world.h).
 */
#include "tests/app/world.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "bus/agent/agent.h"
#include "controllers/runtime/meta/meta.h"
#include "tests/agentbus/agentbus.h"

extern char **environ;

const unsigned char world_key[32] = "kumo-app-test-key-0123456789abcd";

/* The uids of the world's machines, for the agent bus. */
static size_t machine_uids(const app_world *w, const char **uids)
{
    for (size_t i = 0; i < w->machine_count; i++)
        uids[i] = w->uids[i];
    return w->machine_count;
}

void world_start(app_world *w, int need_agent)
{
    memset(w, 0, sizeof(*w));
    kumo_test_build_path("bin/kumo-agent", w->agent_bin, sizeof(w->agent_bin));
    if (need_agent && access(w->agent_bin, X_OK) != 0)
        kumo_test_skip("%s is not built yet", w->agent_bin);
    api_fixture_start(&w->api);
    /* The Infra the Apps refer to (no infra controller runs: its Machines are made by hand). */
    KUMO_REQUIRE(api_apply(&w->api,
                           "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                           " \"metadata\": {\"name\": \"shop\", \"namespace\": \"default\"},"
                           " \"spec\": {\"groups\": [{\"name\": \"web\", \"size\": 0,"
                           " \"connection\": \"local\", \"instanceType\": \"small\","
                           " \"image\": \"host\"}]}}") == 0);
    const char *uids[WORLD_MACHINES];
    agentbus_start(world_key, uids, machine_uids(w, uids), "kumod-pw", 0, &w->bus, &w->admin);
}

void world_controller(app_world *w, double agent_timeout_ms)
{
    kumo_app_env env = {
        .client = w->api.client,
        .agents = w->admin,
        .agent_timeout_ms = agent_timeout_ms,
        .resync_ms = 2000,
    };
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_app_controller_start(&env, &w->controller, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "controller: %s\n", d.message);
    kumo_diag_fini(&d);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
}

void world_stop(app_world *w)
{
    for (size_t i = 0; i < w->machine_count; i++)
        world_agent_stop(w, i);
    kumo_app_controller_stop(w->controller);
    w->controller = NULL;
    natsConnection_Destroy(w->admin);
    w->admin = NULL;
    kumo_natsd_destroy(w->bus);
    w->bus = NULL;
    api_fixture_stop(&w->api);
}

size_t world_machine(app_world *w, const char *name, const char *group)
{
    KUMO_REQUIRE(w->machine_count < WORLD_MACHINES);
    KUMO_REQUIRE(api_apply(&w->api,
                           "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Machine\","
                           " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\","
                           " \"labels\": {\"kumo.dev/infra\": \"shop\", \"kumo.dev/group\": "
                           "\"%s\", \"slot\": \"%s\"}},"
                           " \"spec\": {\"connection\": \"local\", \"instanceType\": \"small\","
                           " \"image\": \"host\"}}",
                           name, group, name) == 0);
    ProtobufCMessage *m = api_get(&w->api, "Machine", name);
    KUMO_REQUIRE_PTR_NONNULL(m);
    const char *status_json = "{\"phase\": \"Running\", \"addresses\": [{\"type\": "
                              "\"InternalIP\", \"address\": \"127.0.0.1\"}]}";
    ProtobufCMessage *status = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_codec_json_decode(&kumo__v1alpha1__machine_status__descriptor,
                                               status_json, strlen(status_json), NULL, &status, &d),
                        KUMO_ERROR_OK);
    kumo_object_status_replace(m, &status);
    kumo_error e = kumo_client_update_status(w->api.client, m, NULL, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "machine status: %s\n", d.message);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
    size_t i = w->machine_count++;
    snprintf(w->names[i], sizeof(w->names[i]), "%s", name);
    snprintf(w->uids[i], sizeof(w->uids[i]), "%s", kumo_object_meta(m)->uid);
    kumo_object_destroy(m);
    kumo_diag_fini(&d);
    const char *uids[WORLD_MACHINES];
    agentbus_reload(w->bus, world_key, uids, machine_uids(w, uids), "kumod-pw");
    return i;
}

void world_machine_delete(app_world *w, size_t i)
{
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_client_delete(w->api.client, kumo_object_kind_lookup("Machine"),
                                          "default", w->names[i], NULL, NULL, &d),
                       KUMO_ERROR_OK);
    kumo_diag_fini(&d);
}

void world_agent_start(app_world *w, size_t i)
{
    const char *urls[1] = {kumo_natsd_url(w->bus)};
    char *bootstrap = kumo_agent_bootstrap_json(world_key, w->uids[i], w->names[i], "default", urls,
                                                1, 0, NULL, 500);
    KUMO_REQUIRE_PTR_NONNULL(bootstrap);
    char data[600], log[700];
    snprintf(data, sizeof(data), "%s/agent-%s", w->api.dir, w->names[i]);
    snprintf(log, sizeof(log), "%s.log", data);
    mkdir(data, 0755);
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof(*env));
    size_t len = strlen(bootstrap) + 32;
    char *b = malloc(len), dd[700];
    KUMO_REQUIRE(env && b);
    snprintf(b, len, "KUMO_AGENT_BOOTSTRAP=%s", bootstrap);
    snprintf(dd, sizeof(dd), "KUMO_AGENT_DATA_DIR=%s", data);
    size_t k = 0;
    for (size_t j = 0; j < n; j++)
        if (strncmp(environ[j], "KUMO_AGENT_", 11) != 0)
            env[k++] = environ[j];
    env[k++] = b;
    env[k++] = dd;
    env[k] = NULL;
    char *argv[] = {w->agent_bin, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&w->agents[i], w->agent_bin, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(env);
    free(b);
    free(bootstrap);
    if (rc != 0)
        w->agents[i] = 0;
    KUMO_REQUIRE_INT_EQ(rc, 0);
}

void world_agent_stop(app_world *w, size_t i)
{
    if (w->agents[i] <= 0)
        return;
    kill(w->agents[i], SIGTERM);
    int status = 0;
    for (int k = 0; k < 100; k++) {
        if (waitpid(w->agents[i], &status, WNOHANG) == w->agents[i]) {
            w->agents[i] = 0;
            return;
        }
        api_sleep_ms(50);
    }
    kill(w->agents[i], SIGKILL);
    waitpid(w->agents[i], &status, 0);
    w->agents[i] = 0;
}

Kumo__V1alpha1__App *world_app(app_world *w, const char *name)
{
    return (Kumo__V1alpha1__App *)api_get(&w->api, "App", name);
}

int world_condition(app_world *w, const char *name, const char *type, const char *status,
                    const char *reason)
{
    Kumo__V1alpha1__App *app = world_app(w, name);
    const Kumo__V1alpha1__Condition *c = app ? kumo_object_condition_get(&app->base, type) : NULL;
    int ok =
        c && strcmp(c->status, status) == 0 && (reason == NULL || strcmp(c->reason, reason) == 0);
    kumo_object_destroy((ProtobufCMessage *)app);
    return ok;
}

int world_wait_condition(app_world *w, double seconds, const char *name, const char *type,
                         const char *status, const char *reason)
{
    double deadline = kumo_test_now() + seconds;
    while (!world_condition(w, name, type, status, reason)) {
        if (kumo_test_now() > deadline) {
            fprintf(stderr, "App %s: no %s=%s (%s)\n", name, type, status, reason ? reason : "*");
            world_dump(w, name);
            return 0;
        }
        api_sleep_ms(50);
    }
    return 1;
}

void world_dump(app_world *w, const char *name)
{
    Kumo__V1alpha1__App *app = world_app(w, name);
    if (app == NULL) {
        fprintf(stderr, "App %s: absent\n", name);
        return;
    }
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    kumo_codec_encode_options o = {.indent = 2};
    if (kumo_codec_json_encode(&app->base, &o, &b, NULL) == KUMO_ERROR_OK)
        fprintf(stderr, "%s\n", b.data);
    kumo_codec_buffer_fini(&b);
    kumo_object_destroy(&app->base);
}
