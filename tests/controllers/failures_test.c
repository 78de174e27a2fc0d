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
                               .ttl_seconds = 2,
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

    /* Bounded per namespace (2), then expired (ttl 2 s). */
    KUMO_EXPECT_INT_EQ(kumo_recorder_sweep(r), 1);
    api_sleep_ms(3500);
    KUMO_EXPECT_INT_EQ(kumo_recorder_sweep(r), 2);
    l = events_list(&f);
    KUMO_EXPECT_INT_EQ(l ? l->n_items : 99, 0);
    kumo_object_destroy(l ? &l->base : NULL);
    kumo_recorder_stats s = kumo_recorder_stats_get(r);
    KUMO_EXPECT_INT_EQ(s.expired, 3);
    KUMO_EXPECT_INT_EQ(s.dropped, 0);

    kumo_recorder_destroy(r);
    kumo_client_watch_stop(watch);
    kumo_diag_fini(&d);
    kumo_object_destroy(m1);
    api_fixture_stop(&f);
}
