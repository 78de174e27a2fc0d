/*
 * runtime_test.c - the controller runtime beyond queue/limiter/lease: object
 * helpers, key generation, the informer (cache, indexes, shared handlers),
 * the reconcile loop, the cloud registry and the controller manager.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nats/nats.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "controllers/infra/internal.h"
#include "controllers/manager/manager.h"
#include "controllers/runtime/cloud/cloud.h"
#include "controllers/runtime/controller/controller.h"
#include "controllers/runtime/informer/informer.h"
#include "controllers/runtime/limiter/limiter.h"
#include "controllers/runtime/meta/meta.h"
#include "tests/controllers/fixture.h"

/* ---- meta -------------------------------------------------------------------------- */

KUMO_TEST(meta_finalizers_annotations_owner)
{
    ProtobufCMessage *m =
        api_decode("{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Machine\","
                   " \"metadata\": {\"name\": \"m\", \"namespace\": \"default\","
                   " \"labels\": {\"a\": \"1\"}}}");
    ProtobufCMessage *owner = api_decode(
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", \"metadata\": {\"name\": "
        "\"web\", \"namespace\": \"default\", \"uid\": \"u-1\"}}");
    KUMO_REQUIRE(m && owner);
    KUMO_EXPECT_INT_EQ(kumo_meta_finalizer_has(m, "kumo.dev/x"), 0);
    KUMO_EXPECT_INT_EQ(kumo_meta_finalizer_add(m, "kumo.dev/x"), 1);
    KUMO_EXPECT_INT_EQ(kumo_meta_finalizer_add(m, "kumo.dev/x"), 0);
    KUMO_EXPECT_INT_EQ(kumo_meta_finalizer_add(m, "kumo.dev/y"), 1);
    KUMO_EXPECT_INT_EQ(kumo_meta_finalizer_remove(m, "kumo.dev/x"), 1);
    KUMO_EXPECT_INT_EQ(kumo_meta_finalizer_has(m, "kumo.dev/y"), 1);
    KUMO_EXPECT_INT_EQ(kumo_meta_finalizer_has(m, "kumo.dev/x"), 0);
    KUMO_EXPECT_INT_EQ(kumo_meta_annotation_set(m, "k", "v"), 1);
    KUMO_EXPECT_INT_EQ(kumo_meta_annotation_set(m, "k", "v"), 0);
    KUMO_EXPECT_STR_EQ(kumo_meta_annotation(m, "k"), "v");
    KUMO_EXPECT_INT_EQ(kumo_meta_annotation_set(m, "k", NULL), 1);
    KUMO_EXPECT(kumo_meta_annotation(m, "k") == NULL);
    KUMO_EXPECT_STR_EQ(kumo_meta_label(m, "a"), "1");
    KUMO_EXPECT_INT_EQ(kumo_meta_label_set(m, "a", "2"), 1);
    KUMO_EXPECT_STR_EQ(kumo_meta_label(m, "a"), "2");
    KUMO_EXPECT_INT_EQ(kumo_meta_owner_set(m, owner), 1);
    KUMO_EXPECT_INT_EQ(kumo_meta_owner_set(m, owner), 0);
    const Kumo__V1alpha1__OwnerReference *ref = kumo_meta_owner(m);
    KUMO_REQUIRE(ref != NULL);
    KUMO_EXPECT_STR_EQ(ref->kind, "Infra");
    KUMO_EXPECT_STR_EQ(ref->uid, "u-1");
    KUMO_EXPECT(ref->controller && ref->block_owner_deletion);
    /* Status comparison: equal until a field changes. */
    ProtobufCMessage *copy = kumo_codec_message_clone(m);
    KUMO_EXPECT(kumo_meta_status_equal(m, copy));
    kumo_object_condition_set(copy, "Ready", "True", "Running", "up");
    KUMO_EXPECT(!kumo_meta_status_equal(m, copy));
    KUMO_EXPECT(kumo_meta_condition_is(copy, "Ready", "True"));
    KUMO_EXPECT(!kumo_meta_deleting(m));
    kumo_object_destroy(copy);
    kumo_object_destroy(owner);
    kumo_object_destroy(m);
}

/* ---- keygen --------------------------------------------------------------------------- */

KUMO_TEST(keygen_openssh_ed25519)
{
    char *pub = NULL, *priv = NULL;
    KUMO_REQUIRE_INT_EQ(infra_keygen_ed25519("kumo:default/web", &pub, &priv), 0);
    KUMO_EXPECT(strncmp(pub, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37) == 0);
    KUMO_EXPECT_CONTAINS(pub, " kumo:default/web");
    KUMO_EXPECT(strncmp(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36) == 0);
    KUMO_EXPECT_CONTAINS(priv, "-----END OPENSSH PRIVATE KEY-----\n");
    /* When OpenSSH is installed, it must derive the same public key from the private one. */
    if (access("/usr/bin/ssh-keygen", X_OK) == 0) {
        char path[600], command[1400];
        snprintf(path, sizeof(path), "%s/id", kumo_test_tmpdir());
        FILE *f = fopen(path, "w");
        KUMO_REQUIRE(f != NULL);
        fputs(priv, f);
        fclose(f);
        KUMO_REQUIRE(chmod(path, 0600) == 0);
        snprintf(command, sizeof(command), "/usr/bin/ssh-keygen -y -f %s", path);
        FILE *p = popen(command, "r");
        char derived[512] = "";
        if (p && fgets(derived, sizeof(derived), p) == NULL)
            derived[0] = '\0';
        if (p)
            pclose(p);
        derived[strcspn(derived, "\n")] = '\0';
        size_t key_len = (size_t)(strrchr(pub, ' ') - pub);
        KUMO_EXPECT(strlen(derived) >= key_len && strncmp(derived, pub, key_len) == 0);
    }
    free(pub);
    free(priv);
}

/* ---- limiter: do not wait when the token is far --------------------------------------- */

KUMO_TEST(limiter_acquire_within)
{
    kumo_limiter_limits limits = {.qps = 10, .burst = 2};
    kumo_limiter *l = kumo_limiter_create(&limits);
    double retry = -1;
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire_within(l, 0, &retry), 0);
    kumo_limiter_release(l);
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire_within(l, 0, &retry), 0);
    kumo_limiter_release(l);
    /* The bucket is empty: the next token is ~100 ms away. */
    double start = kumo_test_now();
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire_within(l, 20, &retry), -1);
    KUMO_EXPECT((kumo_test_now() - start) < 0.015); /* it did not wait */
    KUMO_EXPECT(retry > 50 && retry <= 110);
    /* Waiting long enough gets it, about when it is due. */
    KUMO_EXPECT_INT_EQ(kumo_limiter_acquire_within(l, 500, &retry), 0);
    KUMO_EXPECT((kumo_test_now() - start) > 0.05);
    kumo_limiter_release(l);
    kumo_limiter_destroy(l);
}

/* ---- informer ------------------------------------------------------------------------- */

static const char owned_machine[] =
    "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Machine\", \"metadata\": {\"name\": "
    "\"%s\", \"namespace\": \"default\", \"labels\": {\"tier\": \"%s\"}, \"ownerReferences\": "
    "[{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", \"name\": \"owner\", \"uid\": "
    "\"%s\", \"controller\": true}]}, \"spec\": {\"connection\": \"%s\", \"instanceType\": "
    "\"t3.micro\", \"image\": \"ubuntu-22.04\"}}";

typedef struct counting {
    atomic_int events;
} counting;

static void count_event(void *context, kumo_client_event_type type, const ProtobufCMessage *o)
{
    (void)type;
    (void)o;
    atomic_fetch_add(&((counting *)context)->events, 1);
}

static size_t index_count(kumo_informer *inf, const char *index, const char *value)
{
    size_t n = 0;
    char **keys = kumo_informer_index_keys(inf, index, value, &n);
    kumo_informer_keys_free(keys, n);
    return n;
}

typedef struct index_want {
    kumo_informer *inf;
    const char *index, *value;
    size_t count;
} index_want;

static int index_is(api_fixture *f, void *arg)
{
    (void)f;
    index_want *w = arg;
    return index_count(w->inf, w->index, w->value) == w->count;
}

KUMO_TEST(informer_cache_indexes_and_shared_handlers)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_apply(&f, "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                               " \"metadata\": {\"name\": \"owner\", \"namespace\": \"default\"},"
                               " \"spec\": {\"groups\": [{\"name\": \"g\", \"connection\": \"c\","
                               " \"instanceType\": \"t\", \"image\": \"i\"}]}}") == 0);
    ProtobufCMessage *owner = api_get(&f, "Infra", "owner");
    KUMO_REQUIRE(owner != NULL);
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", kumo_object_meta(owner)->uid);
    kumo_object_destroy(owner);
    KUMO_REQUIRE(api_apply(&f, owned_machine, "m1", "web", uid, "c1") == 0);
    KUMO_REQUIRE(api_apply(&f, owned_machine, "m2", "web", uid, "c2") == 0);

    kumo_informer_set *set = kumo_informer_set_create(f.client, NULL);
    kumo_informer *a = NULL, *b = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_informer_set_acquire(set, kumo_object_kind_lookup("Machine"), &a, &d),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(kumo_informer_set_acquire(set, kumo_object_kind_lookup("Machine"), &b, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT(a == b); /* one cache per kind */
    KUMO_EXPECT_INT_EQ(kumo_informer_count(a), 2);
    KUMO_EXPECT_INT_EQ(index_count(a, KUMO_INFORMER_INDEX_OWNER, uid), 2);
    KUMO_EXPECT_INT_EQ(index_count(a, KUMO_INFORMER_INDEX_LABEL, "tier=web"), 2);
    KUMO_EXPECT_INT_EQ(index_count(a, KUMO_INFORMER_INDEX_CONNECTION, "c1"), 1);
    counting one = {0}, two = {0};
    int h1 = kumo_informer_handler_add(a, count_event, &one);
    int h2 = kumo_informer_handler_add(a, count_event, &two);
    KUMO_EXPECT(h1 > 0 && h2 > 0 && h1 != h2);

    /* A change refiles the object; both handlers hear it; a removed handler does not. */
    KUMO_REQUIRE(api_apply(&f, owned_machine, "m2", "db", uid, "c2") == 0);
    index_want w = {a, KUMO_INFORMER_INDEX_LABEL, "tier=db", 1};
    KUMO_EXPECT(api_wait(&f, 5, index_is, &w));
    KUMO_EXPECT_INT_EQ(index_count(a, KUMO_INFORMER_INDEX_LABEL, "tier=web"), 1);
    kumo_informer_handler_remove(a, h2);
    int two_before = atomic_load(&two.events);
    KUMO_REQUIRE(api_apply(&f, owned_machine, "m3", "web", uid, "c1") == 0);
    w = (index_want){a, KUMO_INFORMER_INDEX_CONNECTION, "c1", 2};
    KUMO_EXPECT(api_wait(&f, 5, index_is, &w));
    KUMO_EXPECT(atomic_load(&one.events) >= 2);
    KUMO_EXPECT_INT_EQ(atomic_load(&two.events), two_before);
    ProtobufCMessage *m3 = kumo_informer_get(a, "default", "m3");
    KUMO_EXPECT(m3 != NULL);
    kumo_object_destroy(m3);

    /* Deletion empties the indexes. */
    kumo_client_delete(f.client, kumo_object_kind_lookup("Machine"), "default", "m1", NULL, NULL,
                       &d);
    w = (index_want){a, KUMO_INFORMER_INDEX_CONNECTION, "c1", 1};
    KUMO_EXPECT(api_wait(&f, 5, index_is, &w));
    KUMO_EXPECT_INT_EQ(kumo_informer_count(a), 2);
    kumo_informer_handler_remove(a, h1);
    kumo_informer_set_release(set, b);
    kumo_informer_set_release(set, a);
    kumo_informer_set_destroy(set);
    kumo_diag_fini(&d);
    api_fixture_stop(&f);
}

/* ---- the reconcile loop ---------------------------------------------------------------- */

typedef struct loop_state {
    atomic_int reconciles;
    atomic_int seen_gone;
} loop_state;

static kumo_controller_result count_reconcile(void *context, const char *ns, const char *name)
{
    (void)ns;
    loop_state *s = context;
    int n = atomic_fetch_add(&s->reconciles, 1) + 1;
    if (strcmp(name, "gone") == 0)
        atomic_store(&s->seen_gone, 1);
    if (n < 4)
        return (kumo_controller_result){KUMO_CONTROLLER_REQUEUE, 50};
    return (kumo_controller_result){KUMO_CONTROLLER_DONE, 0};
}

static int reconciled_enough(api_fixture *f, void *arg)
{
    (void)f;
    return atomic_load(&((loop_state *)arg)->reconciles) >= 4;
}

KUMO_TEST(controller_reconcile_requeue_and_stats)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    loop_state state = {0};
    kumo_controller_options o = {.name = "test",
                                 .client = f.client,
                                 .kind = kumo_object_kind_lookup("Connection"),
                                 .workers = 2,
                                 .reconcile = count_reconcile,
                                 .context = &state};
    kumo_controller *c = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_controller_create(&o, &c, &d), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(kumo_controller_start(c, &d), KUMO_ERROR_OK);
    KUMO_EXPECT(api_wait(&f, 5, reconciled_enough, &state));
    kumo_controller_enqueue(c, "default", "gone"); /* a key with no object is reconciled too */
    api_sleep_ms(200);
    KUMO_EXPECT_INT_EQ(atomic_load(&state.seen_gone), 1);
    kumo_controller_stats st;
    kumo_controller_stats_get(c, &st);
    KUMO_EXPECT(st.reconciles >= 5);
    KUMO_EXPECT_INT_EQ(st.errors, 0);
    KUMO_EXPECT(kumo_informer_count(kumo_controller_informer(c)) == 1);
    kumo_controller_destroy(c);
    kumo_diag_fini(&d);
    api_fixture_stop(&f);
}

/* ---- the cloud registry ------------------------------------------------------------------ */

static ProtobufCMessage *connection_object(const char *name, const char *driver, int generation,
                                           const char *state, double qps)
{
    return api_decode(
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
        " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\", \"uid\": "
        "\"uid-%s\", \"generation\": %d},"
        " \"spec\": {\"driver\": \"%s\", \"provider\": \"aws\", \"region\": "
        "\"us-east-1\", \"rateLimit\": {\"qps\": %g, \"burst\": 1, "
        "\"maxInFlight\": 2}, \"config\": {\"state\": \"%s\", \"fsync\": \"false\"}}}",
        name, name, generation, driver, qps, state);
}

KUMO_TEST(cloud_registry_open_reopen_limits)
{
    char drivers[1024], state[600];
    kumo_test_build_path("lib/kumo/drivers", drivers, sizeof(drivers));
    snprintf(state, sizeof(state), "%s/sim.state", kumo_test_tmpdir());
    kumo_cloud_options o = {.drivers_dir = drivers, .limiter_wait_ms = 50};
    kumo_cloud *cloud = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_cloud_create(&o, &cloud, &d), KUMO_ERROR_OK);
    ProtobufCMessage *v1 = connection_object("c0", "sim", 1, state, 5);
    ProtobufCMessage *v2 = connection_object("c0", "sim", 2, state, 5);
    ProtobufCMessage *bad = connection_object("c1", "nope", 1, state, 5);
    kumo_cloud_conn *a = NULL, *b = NULL, *c = NULL;
    if (kumo_cloud_open(cloud, v1, &a, &d) != KUMO_ERROR_OK)
        kumo_test_skip("the sim driver is not built in %s: %s", drivers, d.message);
    KUMO_REQUIRE_INT_EQ(kumo_cloud_open(cloud, v1, &b, &d), KUMO_ERROR_OK);
    KUMO_EXPECT(a == b); /* same generation: same conn */
    kumo_cloud_conn_release(b);
    KUMO_REQUIRE_INT_EQ(kumo_cloud_open(cloud, v2, &b, &d), KUMO_ERROR_OK);
    KUMO_EXPECT(a != b); /* spec changed: reopened; a stays valid until released */
    KUMO_EXPECT_STR_EQ(kumo_cloud_conn_key(a), "default/c0");
    KUMO_EXPECT_STR_EQ(kumo_cloud_conn_provider(b), "aws");
    kumo_cloud_conn_release(a);
    /* The limiter: burst 1, 5/s: the second call right away is deferred, with a delay. */
    int64_t deadline = 0;
    double retry = 0;
    KUMO_EXPECT_INT_EQ(kumo_cloud_call_begin(b, &deadline, &retry, &d), KUMO_ERROR_OK);
    kumo_cloud_call_end(b, KUMO_DRIVER_OK);
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(kumo_cloud_call_begin(b, &deadline, &retry, &d), KUMO_ERROR_THROTTLED);
    KUMO_EXPECT(retry > 50);
    /* Deferred callers come back one token (200 ms) apart in the order they were deferred,
     * not all after the same delay: 10,000 deferred keys make no retry storm. */
    double first = retry;
    for (int i = 0; i < 20; i++) {
        kumo_diag_fini(&d);
        KUMO_EXPECT_INT_EQ(kumo_cloud_call_begin(b, &deadline, &retry, &d), KUMO_ERROR_THROTTLED);
    }
    KUMO_CHECK_(0, retry > first + 3000,
                "the 21st deferred caller comes back after %.0f ms, "
                "the first after %.0f ms",
                retry, first);
    char *stats = NULL;
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(kumo_cloud_control(b, "stats", NULL, &stats, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_CONTAINS(stats, "\"qpsLimit\"");
    free(stats);
    /* A missing driver names itself, and the failure is remembered briefly. */
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(kumo_cloud_open(cloud, bad, &c, &d), KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_CONTAINS(d.message, "driver \"nope\" not found");
    KUMO_EXPECT(c == NULL);
    kumo_cloud_conn_release(b);
    kumo_object_destroy(v1);
    kumo_object_destroy(v2);
    kumo_object_destroy(bad);
    kumo_cloud_destroy(cloud);
    kumo_diag_fini(&d);
}

/* ---- the manager: leases, failover between managers, metrics ------------------------------ */

static kumo_manager *manager_start(api_fixture *f, const char *holder)
{
    kumo_manager_options o = {.nats_url = f->url,
                              .controllers = "connection",
                              .drivers_dir = f->drivers_dir,
                              .holder = holder,
                              .lease_duration_ms = 900,
                              .metrics_interval_ms = 300,
                              .probe_interval_ms = 500};
    kumo_manager *m = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_manager_start(&o, &m, &d) != KUMO_ERROR_OK)
        fprintf(stderr, "manager: %s\n", d.message);
    kumo_diag_fini(&d);
    return m;
}

typedef struct two_managers {
    kumo_manager *a, *b;
    int both_ran;
} two_managers;

static int one_runs(api_fixture *f, void *arg)
{
    (void)f;
    two_managers *t = arg;
    int ra = t->a && kumo_manager_running(t->a, "connection");
    int rb = t->b && kumo_manager_running(t->b, "connection");
    t->both_ran |= ra && rb;
    return ra || rb;
}

static int b_runs(api_fixture *f, void *arg)
{
    (void)f;
    return kumo_manager_running(((two_managers *)arg)->b, "connection");
}

KUMO_TEST(manager_leases_failover_and_metrics)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    two_managers t = {manager_start(&f, "kumod-a"), NULL, 0};
    KUMO_REQUIRE(t.a != NULL);
    KUMO_REQUIRE(api_wait(&f, 5, one_runs, &t));
    t.b = manager_start(&f, "kumod-b");
    KUMO_REQUIRE(t.b != NULL);
    api_sleep_ms(1500); /* b campaigns; a keeps renewing */
    KUMO_EXPECT(!kumo_manager_running(t.b, "connection"));
    KUMO_EXPECT(!t.both_ran);

    /* Metrics: published and answered on P.metrics.controllers. */
    natsConnection *nc = NULL;
    natsMsg *reply = NULL;
    KUMO_REQUIRE(natsConnection_ConnectTo(&nc, f.url) == NATS_OK);
    KUMO_EXPECT(natsConnection_RequestString(&reply, nc, "kumo.v1.metrics.controllers", "", 3000) ==
                NATS_OK);
    if (reply) {
        KUMO_EXPECT_CONTAINS(natsMsg_GetData(reply), "\"name\":\"connection\"");
        KUMO_EXPECT_CONTAINS(natsMsg_GetData(reply), "\"reconciles\":");
        KUMO_EXPECT_CONTAINS(natsMsg_GetData(reply), "\"connection\":\"default/c0\"");
        natsMsg_Destroy(reply);
    }
    /* Driver control through the leader. */
    reply = NULL;
    KUMO_EXPECT(natsConnection_RequestString(&reply, nc, "kumo.v1.control.connections.default.c0",
                                             "{\"op\": \"stats\"}", 3000) == NATS_OK);
    if (reply) {
        KUMO_EXPECT_CONTAINS(natsMsg_GetData(reply), "\"peakQps\"");
        natsMsg_Destroy(reply);
    }
    natsConnection_Destroy(nc);

    /* The leader stops (releasing its lease): the other takes over. */
    kumo_manager_stop(t.a);
    t.a = NULL;
    KUMO_EXPECT(api_wait(&f, 5, b_runs, &t));
    kumo_manager_stop(t.b);
    api_fixture_stop(&f);
}
