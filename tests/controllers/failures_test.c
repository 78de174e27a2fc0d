/*
 * failures_test.c - failures reach the object the user applied, and every
 * deletion completes: recorded Events (de-duplicated, bounded, expiring,
 * watchable), failure conditions and their roll-up, finalizers that hold
 * what a cleanup needs and release what was never created.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/kumo/v1alpha1/recorded_event.pb-c.h"
#include "apis/object/object.h"
#include "controllers/infra/infra.h"
#include "controllers/runtime/meta/meta.h"
#include "controllers/runtime/recorder/recorder.h"
#include "tests/controllers/fixture.h"
#include "tests/controllers/infra_helpers.h"

/* The Events of the default namespace (caller frees the list); NULL when the list failed. */
static Kumo__V1alpha1__RecordedEventList *events_list(api_fixture *f)
{
    ProtobufCMessage *list = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_client_list(f->client, kumo_object_kind_lookup("Event"), "default", NULL, &list, &d);
    kumo_diag_fini(&d);
    return (Kumo__V1alpha1__RecordedEventList *)list;
}

/* The Event about `name` with `reason` in a list, or NULL. */
static const Kumo__V1alpha1__RecordedEvent *event_find(const Kumo__V1alpha1__RecordedEventList *l,
                                                       const char *name, const char *reason)
{
    for (size_t i = 0; l && i < l->n_items; i++)
        if (strcmp(l->items[i]->involved_object->name, name) == 0 &&
            strcmp(l->items[i]->reason, reason) == 0)
            return l->items[i];
    return NULL;
}

static void count_added(void *context, kumo_client_event_type type, int64_t revision,
                        const ProtobufCMessage *object)
{
    (void)revision;
    (void)object;
    if (type == KUMO_CLIENT_EVENT_ADDED)
        atomic_fetch_add((atomic_int *)context, 1);
}

static int events_seen(api_fixture *f, void *arg)
{
    (void)f;
    return atomic_load((atomic_int *)arg) >= 2;
}

KUMO_TEST(events_recorded_deduplicated_expiring)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_apply(&f, plain_machine, "m1", "") == 0);
    ProtobufCMessage *m1 = api_get(&f, "Machine", "m1");
    KUMO_REQUIRE(m1 != NULL);
    atomic_int added = 0;
    kumo_client_watch *watch = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE(kumo_client_watch_start(f.client, kumo_object_kind_lookup("Event"), "default",
                                         NULL, count_added, &added, &watch, &d) == KUMO_ERROR_OK);
    kumo_recorder *r = NULL;
    kumo_recorder_options o = {.client = f.client,
                               .component = "test",
                               .namespace_max = 2,
                               .ttl_seconds = 3600,
                               .sweep_seconds = -1};
    KUMO_REQUIRE(kumo_recorder_create(&o, &r, &d) == KUMO_ERROR_OK);
    for (int i = 0; i < 3; i++)
        kumo_recorder_event(r, m1, KUMO_RECORDER_WARNING, "InsufficientCapacity", "Create",
                            "CAPACITY: no t3.micro left in us-east-1a");
    kumo_recorder_event(r, m1, KUMO_RECORDER_NORMAL, "Created", "Create", "created i-1");
    KUMO_EXPECT_INT_EQ(kumo_recorder_flush(r, 10), 0);
    kumo_recorder_event(r, m1, KUMO_RECORDER_WARNING, "InsufficientCapacity", "Create",
                        "CAPACITY: no t3.micro left in us-east-1a"); /* after the write: a bump */
    KUMO_EXPECT_INT_EQ(kumo_recorder_flush(r, 10), 0);

    Kumo__V1alpha1__RecordedEventList *l = events_list(&f);
    KUMO_REQUIRE(l != NULL);
    KUMO_EXPECT_INT_EQ(l->n_items, 2);
    const Kumo__V1alpha1__RecordedEvent *w = event_find(l, "m1", "InsufficientCapacity");
    KUMO_REQUIRE(w != NULL);
    KUMO_EXPECT_INT_EQ(w->count, 4);
    KUMO_EXPECT_STR_EQ(w->type, "Warning");
    KUMO_EXPECT_STR_EQ(w->kind, "Event");
    KUMO_EXPECT_STR_EQ(w->involved_object->kind, "Machine");
    KUMO_EXPECT_STR_EQ(w->involved_object->uid, kumo_object_meta(m1)->uid);
    KUMO_EXPECT_STR_EQ(w->source->component, "test");
    KUMO_EXPECT(w->first_timestamp && w->last_timestamp &&
                w->last_timestamp->seconds >= w->first_timestamp->seconds);
    KUMO_EXPECT(event_find(l, "m1", "Created") != NULL);
    kumo_object_destroy(&l->base);
    KUMO_EXPECT(api_wait(&f, 10, events_seen, &added)); /* watchable */

    /* Conditions: a failure is a Warning, progress is not news, recovery is Normal. */
    ProtobufCMessage *before = kumo_codec_message_clone(m1), *after = kumo_codec_message_clone(m1);
    kumo_object_condition_set(before, "Ready", "False", "Provisioning", "booting");
    kumo_object_condition_set(after, "Ready", "False", "WaitingForDependencies", "network");
    kumo_recorder_conditions(r, before, after);
    kumo_object_condition_set(before, "Ready", "False", "InvalidSpec", "bad type");
    kumo_object_condition_set(after, "Ready", "True", "Running", "up");
    kumo_recorder_conditions(r, before, after);
    KUMO_EXPECT_INT_EQ(kumo_recorder_flush(r, 10), 0);
    l = events_list(&f);
    KUMO_EXPECT(event_find(l, "m1", "WaitingForDependencies") == NULL);
    KUMO_EXPECT(event_find(l, "m1", "Running") != NULL);
    KUMO_EXPECT_INT_EQ(l ? l->n_items : 0, 3);
    kumo_object_destroy(l ? &l->base : NULL);
    kumo_object_destroy(before);
    kumo_object_destroy(after);

    /* Bounded per namespace (2): the oldest goes. */
    KUMO_EXPECT_INT_EQ(kumo_recorder_sweep(r), 1);
    kumo_recorder_stats s = kumo_recorder_stats_get(r);
    KUMO_EXPECT_INT_EQ(s.expired, 1);
    KUMO_EXPECT_INT_EQ(s.dropped, 0);
    kumo_recorder_destroy(r);

    /* Expired: a recorder whose events live 1 s deletes them once they are older. */
    o.ttl_seconds = 1;
    KUMO_REQUIRE(kumo_recorder_create(&o, &r, &d) == KUMO_ERROR_OK);
    api_sleep_ms(2500);
    KUMO_EXPECT_INT_EQ(kumo_recorder_sweep(r), 2);
    l = events_list(&f);
    KUMO_EXPECT_INT_EQ(l ? l->n_items : 99, 0);
    kumo_object_destroy(l ? &l->base : NULL);
    kumo_recorder_destroy(r);
    kumo_client_watch_stop(watch);
    kumo_diag_fini(&d);
    kumo_object_destroy(m1);
    api_fixture_stop(&f);
}

/* ---- failures reach the applied object --------------------------------------------- */

static const char infra_tmpl[] =
    "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
    " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
    " \"spec\": {\"groups\": [{\"name\": \"a\", \"size\": %d, \"connection\": \"%s\","
    " \"instanceType\": \"%s\", \"image\": \"ubuntu-22.04\"}]}}";

/* The Machines of the default namespace (caller frees); NULL when the list failed. */
static Kumo__V1alpha1__MachineList *machines_list(api_fixture *f)
{
    ProtobufCMessage *list = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_client_list(f->client, kumo_object_kind_lookup("Machine"), "default", NULL, &list, &d);
    kumo_diag_fini(&d);
    return (Kumo__V1alpha1__MachineList *)list;
}

/* Machines whose name starts with `prefix`. */
static size_t machines_named(api_fixture *f, const char *prefix)
{
    Kumo__V1alpha1__MachineList *l = machines_list(f);
    ProtobufCMessage *list = l ? &l->base : NULL;
    size_t n = 0;
    for (size_t i = 0; l && i < l->n_items; i++)
        n += strncmp(l->items[i]->metadata->name, prefix, strlen(prefix)) == 0;
    kumo_object_destroy(list);
    return n;
}

/* The message of condition `type` of kind/name contains `text`. */
static int condition_says(api_fixture *f, const char *kind, const char *name, const char *type,
                          const char *text)
{
    ProtobufCMessage *o = api_get(f, kind, name);
    const Kumo__V1alpha1__Condition *c = o ? kumo_object_condition_get(o, type) : NULL;
    int ok = c && strstr(c->message, text) != NULL;
    if (!ok)
        print_condition(f, kind, name, type);
    kumo_object_destroy(o);
    return ok;
}

/* api_wait: {kind, name, type, text}: the condition's message contains text. */
static int condition_says_eventually(api_fixture *f, void *arg)
{
    const char *const *w = arg;
    ProtobufCMessage *o = api_get(f, w[0], w[1]);
    const Kumo__V1alpha1__Condition *c = o ? kumo_object_condition_get(o, w[2]) : NULL;
    int ok = c && strstr(c->message, w[3]) != NULL;
    kumo_object_destroy(o);
    return ok;
}

/* api_wait: {object name, reason, type or NULL}: an Event about it with that reason. */
static int event_about(api_fixture *f, void *arg)
{
    const char *const *w = arg;
    Kumo__V1alpha1__RecordedEventList *l = events_list(f);
    const Kumo__V1alpha1__RecordedEvent *e = event_find(l, w[0], w[1]);
    int ok = e && (w[2] == NULL || strcmp(e->type, w[2]) == 0);
    kumo_object_destroy(l ? &l->base : NULL);
    return ok;
}

KUMO_TEST(infra_failures_reach_the_infra)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    KUMO_REQUIRE(api_sim_connection(&f, "flaky", "\"fault_rate\": \"1\"") == 0);
    KUMO_REQUIRE(api_apply(&f, infra_tmpl, "badtype", 2, "c0", "t9.mega") == 0);
    KUMO_REQUIRE(api_apply(&f, infra_tmpl, "flakynet", 1, "flaky", "t3.micro") == 0);
    char longname[251];
    memset(longname, 'l', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    KUMO_REQUIRE(api_apply(&f, infra_tmpl, longname, 1, "c0", "t3.micro") == 0);
    kumo_manager *m =
        start_controllers(&f, "connection,network,securitygroup,keypair,machine,infra");
    KUMO_REQUIRE(m != NULL);

    /* Checked against the catalog before any Machine is made. */
    condition_want bad = {"Infra", "badtype", "Degraded", "True", "InvalidSpec"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &bad));
    KUMO_EXPECT(condition_says(&f, "Infra", "badtype", "Degraded",
                               "instance type t9.mega is not offered by aws in us-east-1"));
    condition_want stalled = {"Infra", "badtype", "Progressing", "False", "Stalled"};
    KUMO_EXPECT(api_wait(&f, 5, has_condition, &stalled));
    KUMO_EXPECT_INT_EQ(machines_named(&f, "badtype-"), 0);
    const char *event[3] = {"badtype", "InvalidSpec", "Warning"};
    KUMO_EXPECT(api_wait(&f, 10, event_about, event));

    /* A failing Network: on the Network, on its Machine, rolled up to the Infra. */
    condition_want net = {"Network", "flakynet-flaky", "Ready", "False", NULL};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &net));
    KUMO_EXPECT(condition_says(&f, "Network", "flakynet-flaky", "Ready", "(injected fault)"));
    condition_want dep = {"Machine", "flakynet-a-0", "Ready", "False", "DependencyFailed"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &dep));
    condition_want rolled = {"Infra", "flakynet", "Degraded", "True", "DependencyFailed"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &rolled));
    KUMO_EXPECT(
        condition_says(&f, "Infra", "flakynet", "Degraded",
                       "1 of 1 machines failed: DependencyFailed: Network \"flakynet-flaky\""));

    /* Child names over the limit: the API's refusal is on the Infra. */
    condition_want child = {"Infra", longname, "Degraded", "True", "InvalidChild"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &child));
    KUMO_EXPECT(condition_says(&f, "Infra", longname, "Degraded", "is invalid: metadata"));

    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

KUMO_TEST(connection_failures_on_their_users)
{
    api_fixture f;
    api_fixture_start(&f);
    const char *conn = "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                       " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                       " \"spec\": {\"driver\": \"sim\", \"region\": \"us-east-1\","
                       " \"credentialRef\": {\"name\": \"%s\"}, \"config\": {\"state\": \"%s\"}}}";
    KUMO_REQUIRE(api_apply(&f, conn, "tlsconn", "tls", f.state) == 0);
    KUMO_REQUIRE(api_apply(&f, conn, "nocred", "nope", f.state) == 0);
    const char *machine = "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Machine\","
                          " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                          " \"spec\": {\"connection\": \"%s\", \"instanceType\": \"t3.micro\","
                          " \"image\": \"ubuntu-22.04\"}}";
    KUMO_REQUIRE(api_apply(&f, machine, "m-nocred", "nocred") == 0);
    KUMO_REQUIRE(api_apply(&f, machine, "m-ghost", "ghost") == 0);
    KUMO_REQUIRE(api_sim_connection(&f, "full", "\"capacity\": \"0\"") == 0);
    KUMO_REQUIRE(api_apply(&f, machine, "m-full", "full") == 0);
    kumo_manager *m = start_controllers(&f, "connection,machine");
    KUMO_REQUIRE(m != NULL);
    condition_want tls = {"Connection", "tlsconn", "Ready", "False", "CredentialTypeMismatch"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &tls));
    KUMO_EXPECT(condition_says(&f, "Connection", "tlsconn", "Ready",
                               "Credential \"tls\" has type \"tls\"; a sim Connection needs a "
                               "Credential of type \"sim\""));
    condition_want nocred = {"Machine", "m-nocred", "Ready", "False", "ConnectionFailed"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &nocred));
    ProtobufCMessage *o = api_get(&f, "Machine", "m-nocred");
    const Kumo__V1alpha1__Condition *c = o ? kumo_object_condition_get(o, "Ready") : NULL;
    const char *first = c ? strstr(c->message, "Connection \"nocred\"") : NULL;
    KUMO_EXPECT(first != NULL && strstr(first + 1, "Connection \"nocred\"") == NULL);
    kumo_object_destroy(o);
    condition_want ghost = {"Machine", "m-ghost", "Ready", "False", "ConnectionNotFound"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &ghost));
    /* Refused for capacity and retried: Pending, not Failed. */
    condition_want full = {"Machine", "m-full", "Ready", "False", "InsufficientCapacity"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &full));
    Kumo__V1alpha1__Machine *mf = (Kumo__V1alpha1__Machine *)api_get(&f, "Machine", "m-full");
    KUMO_EXPECT(mf && mf->status &&
                mf->status->phase == KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Pending);
    kumo_object_destroy(mf ? &mf->base : NULL);
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

/* ---- every deletion completes ------------------------------------------------------ */

static int deleted(api_fixture *f, const char *kind, const char *name)
{
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_client_delete(f->client, kumo_object_kind_lookup(kind), "default", name,
                                      NULL, NULL, &d);
    kumo_diag_fini(&d);
    return e == KUMO_ERROR_OK;
}

static int has_finalizer(api_fixture *f, void *arg)
{
    const char *const *kind_name_finalizer = arg;
    ProtobufCMessage *o = api_get(f, kind_name_finalizer[0], kind_name_finalizer[1]);
    int ok = o && kumo_meta_finalizer_has(o, kind_name_finalizer[2]);
    kumo_object_destroy(o);
    return ok;
}

KUMO_TEST(deletion_held_named_never_created_released)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    KUMO_REQUIRE(api_apply(&f, plain_machine, "m1", "") == 0);
    KUMO_REQUIRE(
        api_apply(&f,
                  "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Credential\","
                  " \"metadata\": {\"name\": \"good\", \"namespace\": \"default\"},"
                  " \"spec\": {\"type\": \"sim\", \"data\": {\"secret_key\": \"s3cret\"}}}") == 0);
    KUMO_REQUIRE(api_apply(&f,
                           "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                           " \"metadata\": {\"name\": \"withcred\", \"namespace\": \"default\"},"
                           " \"spec\": {\"driver\": \"sim\", \"region\": \"us-east-1\","
                           " \"credentialRef\": {\"name\": \"good\"}, \"config\": {\"state\": "
                           "\"%s\", \"auth_secret\": \"s3cret\"}}}",
                           f.state) == 0);
    KUMO_REQUIRE(api_apply(&f,
                           "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Machine\","
                           " \"metadata\": {\"name\": \"m-ghost\", \"namespace\": \"default\"},"
                           " \"spec\": {\"connection\": \"ghost\", \"instanceType\": \"t3.micro\","
                           " \"image\": \"ubuntu-22.04\"}}") == 0);
    kumo_manager *m = start_controllers(&f, "connection,credential,machine");
    KUMO_REQUIRE(m != NULL);
    KUMO_REQUIRE(api_wait(&f, 20, machine_running, "m1"));

    /* Never created anywhere (its Connection never existed): its deletion completes. */
    condition_want ghost = {"Machine", "m-ghost", "Ready", "False", "ConnectionNotFound"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &ghost));
    KUMO_EXPECT(deleted(&f, "Machine", "m-ghost"));
    const char *ghost_gone[2] = {"Machine", "m-ghost"};
    KUMO_EXPECT(api_wait(&f, 10, object_gone, (void *)ghost_gone));

    /* A Connection held by its users names them, and is no longer Ready. */
    KUMO_EXPECT(deleted(&f, "Connection", "c0"));
    condition_want held = {"Connection", "c0", "Ready", "False", "DeleteBlocked"};
    KUMO_EXPECT(api_wait(&f, 15, has_condition, &held));
    KUMO_EXPECT(condition_says(&f, "Connection", "c0", "Ready",
                               "held by finalizer kumo.dev/connection-in-use: Machine m1 still "
                               "uses it"));

    /* A Credential stays while a Connection names it, and says which. */
    const char *cred_final[3] = {"Credential", "good", KUMO_INFRA_CREDENTIAL_IN_USE};
    KUMO_EXPECT(api_wait(&f, 15, has_finalizer, (void *)cred_final));
    KUMO_EXPECT(deleted(&f, "Credential", "good"));
    condition_want cred = {"Credential", "good", "Ready", "False", "DeleteBlocked"};
    KUMO_EXPECT(api_wait(&f, 15, has_condition, &cred));
    KUMO_EXPECT(condition_says(&f, "Credential", "good", "Ready", "Connection withcred"));
    KUMO_EXPECT(deleted(&f, "Connection", "withcred"));
    const char *cred_gone[2] = {"Credential", "good"}, *conn_gone[2] = {"Connection", "withcred"};
    KUMO_EXPECT(api_wait(&f, 15, object_gone, (void *)conn_gone));
    KUMO_EXPECT(api_wait(&f, 15, object_gone, (void *)cred_gone));

    /* And the held Connection goes once its Machine has. */
    KUMO_EXPECT(deleted(&f, "Machine", "m1"));
    const char *c0_gone[2] = {"Connection", "c0"};
    KUMO_EXPECT(api_wait(&f, 20, object_gone, (void *)c0_gone));
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

/* ---- a changed spec converges ------------------------------------------------------- */

static const char rolling_tmpl[] =
    "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
    " \"metadata\": {\"name\": \"roll\", \"namespace\": \"default\"},"
    " \"spec\": {\"groups\": [{\"name\": \"a\", \"size\": 2, \"connection\": \"c0\","
    " \"instanceType\": \"%s\", \"image\": \"%s\", \"updatePolicy\": \"%s\"}]}}";

typedef struct rollout_seen {
    int min_running; /* fewest Running machines of the group seen while it rolled */
    const char *type, *image;
    const char *prefix; /* "roll-" */
    int size;
} rollout_seen;

/* Every Machine of the Infra has `type` and `image` and runs, and there are exactly `size`. */
static int rolled_to(api_fixture *f, rollout_seen *seen)
{
    Kumo__V1alpha1__MachineList *l = machines_list(f);
    ProtobufCMessage *list = l ? &l->base : NULL;
    int total = 0, matching = 0, running = 0;
    for (size_t i = 0; l && i < l->n_items; i++) {
        const Kumo__V1alpha1__Machine *mc = l->items[i];
        if (strncmp(mc->metadata->name, seen->prefix, strlen(seen->prefix)) != 0 ||
            kumo_meta_deleting(&mc->base))
            continue;
        total++;
        int runs =
            mc->status && mc->status->phase == KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running;
        running += runs;
        matching += runs && strcmp(mc->spec->instance_type, seen->type) == 0 &&
                    strcmp(mc->spec->image, seen->image) == 0;
    }
    kumo_object_destroy(list);
    if (running < seen->min_running)
        seen->min_running = running;
    return total == seen->size && matching == seen->size;
}

static int rolled(api_fixture *f, void *arg)
{
    rollout_seen *seen = arg;
    seen->prefix = "roll-";
    seen->size = 2;
    return rolled_to(f, seen);
}

static int rolled_one(api_fixture *f, void *arg)
{
    rollout_seen *seen = arg;
    seen->prefix = "fix-";
    seen->size = 1;
    return rolled_to(f, seen);
}

KUMO_TEST(infra_replaces_outdated_machines)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    KUMO_REQUIRE(api_apply(&f, rolling_tmpl, "t3.micro", "ubuntu-22.04", "Replace") == 0);
    kumo_manager *m =
        start_controllers(&f, "connection,network,securitygroup,keypair,machine,infra");
    KUMO_REQUIRE(m != NULL);
    rollout_seen seen = {.min_running = 99, .type = "t3.micro", .image = "ubuntu-22.04"};
    KUMO_REQUIRE(api_wait(&f, 40, rolled, &seen));
    condition_want fresh = {"Infra", "roll", "UpToDate", "True", "AllUpToDate"};
    KUMO_EXPECT(api_wait(&f, 10, has_condition, &fresh));

    /* Another instance type: replaced, never below size - maxUnavailable (1) running. */
    KUMO_REQUIRE(api_apply(&f, rolling_tmpl, "t3.small", "ubuntu-22.04", "Replace") == 0);
    seen = (rollout_seen){.min_running = 99, .type = "t3.small", .image = "ubuntu-22.04"};
    KUMO_EXPECT(api_wait(&f, 60, rolled, &seen));
    KUMO_EXPECT_INT_GE(seen.min_running, 1);
    KUMO_EXPECT(api_wait(&f, 10, has_condition, &fresh));
    condition_want converged = {"Infra", "roll", "Progressing", "False", "Converged"};
    KUMO_EXPECT(api_wait(&f, 10, has_condition, &converged));

    /* KeepExisting: the machines stay as they are, and the Infra says it is out of date. */
    KUMO_REQUIRE(api_apply(&f, rolling_tmpl, "t3.small", "debian-12", "KeepExisting") == 0);
    condition_want kept = {"Infra", "roll", "UpToDate", "False", "OutOfDate"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &kept));
    KUMO_EXPECT(condition_says(&f, "Infra", "roll", "UpToDate",
                               "0 of 2 machines match their group's spec; group a keeps 2 machines "
                               "of an older spec (updatePolicy KeepExisting)"));
    api_sleep_ms(1500);
    seen = (rollout_seen){.min_running = 99, .type = "t3.small", .image = "ubuntu-22.04"};
    KUMO_EXPECT(rolled(&f, &seen)); /* untouched */
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

/* ---- bounded work -------------------------------------------------------------------- */

KUMO_TEST(limits_per_infra_and_namespace)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    /* Per object: 2 groups of 6,000 is more than the 10,000 machines one Infra may ask for. */
    ProtobufCMessage *huge = api_decode(
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", \"metadata\": {\"name\": "
        "\"huge\", \"namespace\": \"default\"}, \"spec\": {\"groups\": [{\"name\": \"a\", "
        "\"size\": 6000, \"connection\": \"c0\", \"instanceType\": \"t3.micro\", \"image\": "
        "\"ubuntu-22.04\"}, {\"name\": \"b\", \"size\": 6000, \"connection\": \"c0\", "
        "\"instanceType\": \"t3.micro\", \"image\": \"ubuntu-22.04\"}]}}");
    KUMO_REQUIRE(huge != NULL);
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_client_create(f.client, huge, NULL, &d), KUMO_ERROR_INVALID);
    KUMO_EXPECT_CONTAINS(d.message, "the groups ask for 12000 machines in all; the limit per "
                                    "Infra is 10000 (kumod --max-machines-per-infra)");
    kumo_diag_fini(&d);
    kumo_object_destroy(huge);

    /* Per namespace: at most 3 Machines; the Infra says why the others wait. */
    KUMO_REQUIRE(api_apply(&f, infra_tmpl, "many", 5, "c0", "t3.micro") == 0);
    kumo_manager_options o = {.nats_url = f.url,
                              .controllers =
                                  "connection,network,securitygroup,keypair,machine,infra",
                              .drivers_dir = f.drivers_dir,
                              .holder = "test",
                              .lease_duration_ms = 2000,
                              .workers = 8,
                              .probe_interval_ms = 2000,
                              .max_machines_per_namespace = 3};
    kumo_manager *m = NULL;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_manager_start(&o, &m, &d), KUMO_ERROR_OK);
    condition_want limited = {"Infra", "many", "Degraded", "True", "NamespaceLimit"};
    KUMO_EXPECT(api_wait(&f, 20, has_condition, &limited));
    const char *says[4] = {"Infra", "many", "Degraded",
                           "namespace default has 3 Machines; the limit is 3 (kumod "
                           "--max-machines-per-namespace): 2 more wait for room"};
    KUMO_EXPECT(api_wait(&f, 20, condition_says_eventually, (void *)says));
    api_sleep_ms(1000);
    KUMO_EXPECT_INT_EQ(machines_named(&f, "many-"), 3);
    kumo_diag_fini(&d);
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}

/* A Machine of an old spec that failed (the cloud refused its type) is replaced once the
 * Infra asks for a type that works: the re-apply converges without deleting by hand. */
KUMO_TEST(infra_replaces_failed_machines_of_an_old_spec)
{
    api_fixture f;
    api_fixture_start(&f);
    KUMO_REQUIRE(api_sim_connection(&f, "c0", NULL) == 0);
    KUMO_REQUIRE(api_apply(&f, infra_tmpl, "fix", 1, "c0", "t3.micro") == 0);
    ProtobufCMessage *infra = api_get(&f, "Infra", "fix");
    KUMO_REQUIRE(infra != NULL);
    /* What the Infra made when it asked for t9.mega (which the sim refuses). */
    KUMO_REQUIRE(api_apply(&f,
                           "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Machine\","
                           " \"metadata\": {\"name\": \"fix-a-0\", \"namespace\": \"default\","
                           " \"labels\": {\"kumo.dev/infra\": \"fix\", \"kumo.dev/group\": \"a\"},"
                           " \"ownerReferences\": [{\"apiVersion\": \"kumo.dev/v1alpha1\","
                           " \"kind\": \"Infra\", \"name\": \"fix\", \"uid\": \"%s\","
                           " \"controller\": true}]},"
                           " \"spec\": {\"connection\": \"c0\", \"instanceType\": \"t9.mega\","
                           " \"image\": \"ubuntu-22.04\"}}",
                           kumo_object_meta(infra)->uid) == 0);
    kumo_object_destroy(infra);
    kumo_manager *m =
        start_controllers(&f, "connection,network,securitygroup,keypair,machine,infra");
    KUMO_REQUIRE(m != NULL);
    /* One Machine in all, of the working type, running (the refused one was replaced). */
    rollout_seen seen = {.min_running = 99, .type = "t3.micro", .image = "ubuntu-22.04"};
    KUMO_EXPECT(api_wait(&f, 40, rolled_one, &seen));
    const char *event[3] = {"fix", "Replacing", "Normal"};
    const char *made[3] = {"fix", "MachinesCreated", "Normal"};
    KUMO_EXPECT(api_wait(&f, 10, event_about, (void *)event));
    KUMO_EXPECT(api_wait(&f, 10, event_about, (void *)made));
    condition_want fresh = {"Infra", "fix", "UpToDate", "True", "AllUpToDate"};
    KUMO_EXPECT(api_wait(&f, 10, has_condition, &fresh));
    kumo_manager_stop(m);
    api_fixture_stop(&f);
}
