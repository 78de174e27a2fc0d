/*
 * protocol_test.c - the App controller against the agent protocol itself, and against
 * machines without agents: cases that need no kumo-agent binary.
 *
 * app_protocol_rolling_update_and_stop plays three agents on the real agent bus (their own
 * nkeys, their own subjects) that answer apply requests exactly as docs/app.md says and
 * become ready a moment after an apply, so the test can watch the order of applies: every
 * machine gets a new App at once, an update goes one machine at a time (maxUnavailable 1),
 * machines that stop being targets get an apply with no components, and a deleted App is
 * stopped everywhere before its finalizer goes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "bus/agent/agent.h"
#include "controllers/runtime/meta/meta.h"
#include "tests/app/world.h"

#define READY_AFTER_S 0.3

typedef struct played_app {
    char key[128], uid[64];
    int64_t generation;
    size_t components;
    double applied_at;
    int ready;
} played_app;

typedef struct played_agent {
    app_world *w;
    size_t index;
    natsConnection *nc;
    unsigned char seed[KUMO_AGENT_SEED_SIZE];
    natsSubscription *apply_sub, *get_sub;
    pthread_mutex_t lock;
    played_app apps[4];
    size_t app_count;
    int64_t seq;
    int empty_applies;
    int64_t generations_seen[8];
} played_agent;

/* The agent's status document (caller frees). Under a->lock. */
static Kumo__V1alpha1__AgentStatus *status_of(played_agent *a)
{
    Kumo__V1alpha1__AgentStatus *s = calloc(1, sizeof(*s));
    kumo__v1alpha1__agent_status__init(s);
    kumo_codec_string_set(&s->machine_uid, a->w->uids[a->index]);
    kumo_codec_string_set(&s->machine, a->w->names[a->index]);
    s->boot_time = calloc(1, sizeof(*s->boot_time));
    kumo__v1alpha1__time__init(s->boot_time);
    s->boot_time->seconds = 1000 + (int64_t)a->index;
    s->seq = ++a->seq;
    s->apps = calloc(a->app_count + 1, sizeof(*s->apps));
    s->n_apps = a->app_count;
    for (size_t i = 0; i < a->app_count; i++) {
        const played_app *p = &a->apps[i];
        Kumo__V1alpha1__AgentAppStatus *x = calloc(1, sizeof(*x));
        kumo__v1alpha1__agent_app_status__init(x);
        kumo_codec_string_set(&x->app, p->key);
        kumo_codec_string_set(&x->app_uid, p->uid);
        x->generation = p->generation;
        x->n_instances = 2 * p->components; /* two replicas of each component */
        x->instances = calloc(x->n_instances + 1, sizeof(*x->instances));
        for (size_t k = 0; k < x->n_instances; k++) {
            Kumo__V1alpha1__AgentInstance *in = calloc(1, sizeof(*in));
            kumo__v1alpha1__agent_instance__init(in);
            kumo_codec_string_set(&in->component, "web");
            in->replica = (int32_t)k;
            in->phase = p->ready ? KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Running
                                 : KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Starting;
            in->ready = p->ready;
            in->generation = p->generation;
            x->instances[k] = in;
        }
        s->apps[i] = x;
    }
    return s;
}

static void respond(natsConnection *nc, natsMsg *msg, Kumo__V1alpha1__AgentReply *reply)
{
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    if (kumo_codec_json_encode(&reply->base, NULL, &b, NULL) == KUMO_ERROR_OK)
        natsConnection_Publish(nc, natsMsg_GetReply(msg), b.data, (int)b.len);
    kumo_codec_buffer_fini(&b);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    played_agent *a = closure;
    Kumo__V1alpha1__AgentReply reply = KUMO__V1ALPHA1__AGENT_REPLY__INIT;
    reply.ok = 1;
    pthread_mutex_lock(&a->lock);
    if (sub == a->apply_sub) {
        ProtobufCMessage *decoded = NULL;
        const char *data = natsMsg_GetData(msg);
        if (kumo_codec_json_decode(&kumo__v1alpha1__agent_apply__descriptor, data,
                                   (size_t)natsMsg_GetDataLength(msg), NULL, &decoded,
                                   NULL) == KUMO_ERROR_OK) {
            Kumo__V1alpha1__AgentApply *ap = (Kumo__V1alpha1__AgentApply *)decoded;
            size_t i = 0;
            while (i < a->app_count && strcmp(a->apps[i].key, ap->app) != 0)
                i++;
            if (ap->n_components == 0) {
                a->empty_applies++;
                if (i < a->app_count)
                    a->apps[i] = a->apps[--a->app_count];
            } else {
                if (i == a->app_count && a->app_count < 4)
                    a->app_count++;
                played_app *p = &a->apps[i];
                int changed = p->generation != ap->generation;
                snprintf(p->key, sizeof(p->key), "%s", ap->app);
                snprintf(p->uid, sizeof(p->uid), "%s", ap->app_uid);
                p->generation = ap->generation;
                p->components = ap->n_components;
                if (changed) {
                    p->ready = 0;
                    p->applied_at = kumo_test_now();
                }
                if (ap->generation > 0 && ap->generation < 8)
                    a->generations_seen[ap->generation]++;
            }
            kumo_codec_message_free(decoded);
        } else {
            reply.ok = 0;
            reply.error = "cannot decode the apply";
        }
    }
    reply.status = status_of(a);
    pthread_mutex_unlock(&a->lock);
    respond(nc, msg, &reply);
    kumo_codec_message_free(&reply.status->base);
    natsMsg_Destroy(msg);
}

static void agent_play(played_agent *a, app_world *w, size_t index)
{
    memset(a, 0, sizeof(*a));
    a->w = w;
    a->index = index;
    pthread_mutex_init(&a->lock, NULL);
    const char *urls[1] = {kumo_natsd_url(w->bus)};
    char *json = kumo_agent_bootstrap_json(world_key, w->uids[index], w->names[index], "default",
                                           urls, 1, 0, NULL, 0);
    Kumo__V1alpha1__AgentBootstrap *b = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_agent_bootstrap_parse(json, &b, &d), KUMO_ERROR_OK);
    free(json);
    kumo_error e = kumo_agent_connect(b, NULL, a->seed, &a->nc, &d);
    kumo_codec_message_free(&b->base);
    kumo_diag_fini(&d);
    KUMO_REQUIRE_INT_EQ(e, KUMO_ERROR_OK);
    char subject[256];
    kumo_agent_subject(subject, sizeof(subject), NULL, w->uids[index], "apply");
    KUMO_REQUIRE(natsConnection_Subscribe(&a->apply_sub, a->nc, subject, on_request, a) == NATS_OK);
    kumo_agent_subject(subject, sizeof(subject), NULL, w->uids[index], "get");
    KUMO_REQUIRE(natsConnection_Subscribe(&a->get_sub, a->nc, subject, on_request, a) == NATS_OK);
    natsConnection_Flush(a->nc);
}

static void agent_stop_playing(played_agent *a)
{
    natsSubscription_Destroy(a->apply_sub);
    natsSubscription_Destroy(a->get_sub);
    natsConnection_Destroy(a->nc);
    pthread_mutex_destroy(&a->lock);
}

/* One tick: instances become ready READY_AFTER_S after an apply; status is published. Returns
 * how many agents have an instance of `app` that is not ready. */
static int tick(played_agent *agents, size_t n, const char *app)
{
    int not_ready = 0;
    for (size_t i = 0; i < n; i++) {
        played_agent *a = &agents[i];
        pthread_mutex_lock(&a->lock);
        for (size_t k = 0; k < a->app_count; k++) {
            played_app *p = &a->apps[k];
            if (!p->ready && kumo_test_now() - p->applied_at >= READY_AFTER_S)
                p->ready = 1;
            not_ready += !p->ready && strcmp(p->key, app) == 0;
        }
        Kumo__V1alpha1__AgentStatus *s = status_of(a);
        pthread_mutex_unlock(&a->lock);
        kumo_codec_buffer b;
        kumo_codec_buffer_init(&b);
        kumo_codec_json_encode(&s->base, NULL, &b, NULL);
        char subject[256];
        kumo_agent_subject(subject, sizeof(subject), NULL, a->w->uids[a->index], "status");
        natsConnection_Publish(a->nc, subject, b.data, (int)b.len);
        kumo_codec_buffer_fini(&b);
        kumo_codec_message_free(&s->base);
    }
    return not_ready;
}

static int app_has(played_agent *a, const char *key, int64_t generation)
{
    pthread_mutex_lock(&a->lock);
    int found = 0;
    for (size_t k = 0; k < a->app_count; k++)
        found |= strcmp(a->apps[k].key, key) == 0 && a->apps[k].generation == generation;
    pthread_mutex_unlock(&a->lock);
    return found;
}

static const char *app_json = "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"App\","
                              " \"metadata\": {\"name\": \"web\", \"namespace\": \"default\"},"
                              " \"spec\": {\"infraRef\": {\"name\": \"shop\"},"
                              " \"target\": {%s}, \"rollingUpdate\": {\"maxUnavailable\": \"1\"},"
                              " \"components\": [{\"name\": \"web\", \"replicas\": 2,"
                              " \"command\": [\"sleep\", \"%s\"]}]}}";

/* Ticks until App web is Ready at `generation`; returns the most agents seen not ready at
 * once while something was being updated. */
static int run_until_ready(app_world *w, played_agent *agents, size_t n, int64_t generation,
                           double seconds)
{
    double deadline = kumo_test_now() + seconds;
    int worst = 0, ready = 0;
    while (!ready && kumo_test_now() < deadline) {
        int not_ready = tick(agents, n, "default/web");
        worst = not_ready > worst ? not_ready : worst;
        Kumo__V1alpha1__App *app = world_app(w, "web");
        ready = app && app->status && app->status->observed_generation == generation &&
                kumo_meta_condition_is(&app->base, "Ready", "True") &&
                app->status->updated == app->status->desired;
        kumo_object_destroy((ProtobufCMessage *)app);
        api_sleep_ms(50);
    }
    if (!ready)
        world_dump(w, "web");
    KUMO_EXPECT(ready);
    return worst;
}

KUMO_TEST(app_protocol_rolling_update_and_stop)
{
    app_world w;
    world_start(&w, 0);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "shop-web-%d", i);
        world_machine(&w, name, "web");
    }
    world_controller(&w, 2000);
    played_agent agents[3];
    for (size_t i = 0; i < 3; i++)
        agent_play(&agents[i], &w, i);
    tick(agents, 3, "default/web");

    /* A new App goes to every machine at once. */
    KUMO_REQUIRE(world_apply(&w, app_json, "\"group\": \"web\"", "100") == 0);
    run_until_ready(&w, agents, 3, 1, 10);
    for (size_t i = 0; i < 3; i++)
        KUMO_EXPECT(app_has(&agents[i], "default/web", 1));
    Kumo__V1alpha1__App *app = world_app(&w, "web");
    KUMO_REQUIRE_PTR_NONNULL(app);
    KUMO_EXPECT(kumo_meta_finalizer_has(&app->base, KUMO_APP_FINALIZER));
    KUMO_EXPECT_INT_EQ(app->status->desired, 6);
    KUMO_EXPECT_INT_EQ(app->status->ready, 6);
    KUMO_REQUIRE_INT_EQ(app->status->n_instances, 6);
    KUMO_EXPECT_STR_EQ(app->status->instances[0]->machine, "shop-web-0");
    KUMO_EXPECT_STR_EQ(app->status->instances[0]->address, "127.0.0.1");
    KUMO_EXPECT(app->status->instances[5]->ready);
    KUMO_EXPECT(kumo_meta_condition_is(&app->base, "Progressing", "False"));
    KUMO_EXPECT(kumo_meta_condition_is(&app->base, "Degraded", "False"));
    kumo_object_destroy(&app->base);

    /* An update: one machine at a time. */
    KUMO_REQUIRE(world_apply(&w, app_json, "\"group\": \"web\"", "200") == 0);
    int worst = run_until_ready(&w, agents, 3, 2, 15);
    KUMO_EXPECT_INT_LE(worst, 1);
    for (size_t i = 0; i < 3; i++) {
        KUMO_EXPECT(app_has(&agents[i], "default/web", 2));
        KUMO_EXPECT_INT_GE(agents[i].generations_seen[2], 1);
    }

    /* Narrowed to one machine: the two others are told to stop it. */
    KUMO_REQUIRE(world_apply(&w, app_json,
                             "\"selector\": {\"matchLabels\": {\"slot\": \"shop-web-0\"}}",
                             "200") == 0);
    double deadline = kumo_test_now() + 10;
    while ((app_has(&agents[1], "default/web", 3) || app_has(&agents[2], "default/web", 3) ||
            !app_has(&agents[0], "default/web", 3)) &&
           kumo_test_now() < deadline) {
        tick(agents, 3, "default/web");
        api_sleep_ms(50);
    }
    KUMO_EXPECT(app_has(&agents[0], "default/web", 3));
    KUMO_EXPECT(!app_has(&agents[1], "default/web", 3) && !app_has(&agents[2], "default/web", 3));
    KUMO_EXPECT_INT_GE(agents[1].empty_applies, 1);
    run_until_ready(&w, agents, 3, 3, 10);
    app = world_app(&w, "web");
    KUMO_REQUIRE_PTR_NONNULL(app);
    KUMO_EXPECT_INT_EQ(app->status->desired, 2);
    KUMO_EXPECT_INT_EQ(app->status->n_instances, 2);
    kumo_object_destroy(&app->base);

    /* Delete: stopped on machine 0, then the finalizer goes and the App with it. */
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_client_delete(w.api.client, kumo_object_kind_lookup("App"), "default",
                                          "web", NULL, NULL, &d),
                       KUMO_ERROR_OK);
    kumo_diag_fini(&d);
    deadline = kumo_test_now() + 10;
    while ((app = world_app(&w, "web")) != NULL && kumo_test_now() < deadline) {
        kumo_object_destroy(&app->base);
        tick(agents, 3, "default/web");
        api_sleep_ms(50);
    }
    KUMO_EXPECT(app == NULL);
    kumo_object_destroy((ProtobufCMessage *)app);
    KUMO_EXPECT(!app_has(&agents[0], "default/web", 3));
    KUMO_EXPECT_INT_GE(agents[0].empty_applies, 1);

    world_stop(&w);
    for (size_t i = 0; i < 3; i++)
        agent_stop_playing(&agents[i]);
}

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
