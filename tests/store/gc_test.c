/* gc_test.c - garbage collection through ownerReferences: cascade, orphan, finalizers. */
#include "tests/store/helpers.h"

#include <stdlib.h>
#include <string.h>

static int exists(kumo_store *s, const char *name)
{
    ProtobufCMessage *got = NULL;
    kumo_error err = kumo_store_get(s, t_kind("Network"), "default", name, &got, NULL, NULL);
    kumo_object_destroy(got);
    return err == KUMO_ERROR_OK;
}

/* Creates a Network `name` owned by the given owners (NULL-terminated). */
static ProtobufCMessage *create_owned(kumo_store *s, const char *name, const char *finalizer,
                                      ProtobufCMessage **owners)
{
    ProtobufCMessage *in = t_network("default", name, "10.0.0.0/16"), *out = NULL;
    for (; owners && *owners; owners++)
        t_owner_add(in, *owners);
    if (finalizer)
        t_finalizer_add(in, finalizer);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error err = kumo_store_create(s, in, &out, NULL, &d);
    if (err != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "create %s: %s", name, d.message);
    kumo_diag_fini(&d);
    kumo_object_destroy(in);
    return out;
}

KUMO_TEST(owner_cascade)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    const kumo_object_kind *net = t_kind("Network");
    /* owner -> a, b; a -> a1 (grandchild); c is unrelated */
    ProtobufCMessage *owner = t_create_network(s, "default", "owner");
    ProtobufCMessage *o1[] = {owner, NULL};
    ProtobufCMessage *a = create_owned(s, "a", NULL, o1);
    ProtobufCMessage *b = create_owned(s, "b", NULL, o1);
    ProtobufCMessage *oa[] = {a, NULL};
    ProtobufCMessage *a1 = create_owned(s, "a1", NULL, oa);
    ProtobufCMessage *c = t_create_network(s, "default", "c");
    int64_t before = kumo_store_revision(s);
    int64_t rev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "owner", NULL, NULL, &rev, NULL),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev, before + 1); /* the owner goes first */
    /* small cascades finish in the same commit */
    KUMO_EXPECT(!exists(s, "owner"));
    KUMO_EXPECT(!exists(s, "a"));
    KUMO_EXPECT(!exists(s, "b"));
    KUMO_EXPECT(!exists(s, "a1"));
    KUMO_EXPECT(exists(s, "c"));
    /* the log has the owner's deletion first, then the dependents' */
    kumo_store_event *ev = NULL;
    size_t n = 0;
    int64_t next = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_watch_next(s, before, NULL, 100, &ev, &n, &next, NULL),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(n, 4);
    KUMO_EXPECT_STR_EQ(kumo_object_name(ev[0].object), "owner");
    for (size_t i = 0; i < n; i++)
        KUMO_EXPECT_INT_EQ(ev[i].type, KUMO_STORE_EVENT_DELETED);
    KUMO_EXPECT_STR_EQ(kumo_object_name(ev[3].object), "a1");
    kumo_store_events_free(ev, n);

    /* a dependent with two owners survives the first one's deletion, minus that reference */
    ProtobufCMessage *p = t_create_network(s, "default", "p");
    ProtobufCMessage *q = t_create_network(s, "default", "q");
    ProtobufCMessage *pq[] = {p, q, NULL};
    ProtobufCMessage *shared = create_owned(s, "shared", NULL, pq);
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "p", NULL, NULL, NULL, NULL),
                        KUMO_ERROR_OK);
    ProtobufCMessage *got = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_store_get(s, net, "default", "shared", &got, NULL, NULL),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(kumo_object_meta(got)->n_owner_references, 1);
    KUMO_EXPECT_STR_EQ(kumo_object_meta(got)->owner_references[0]->name, "q");
    kumo_object_destroy(got);
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "q", NULL, NULL, NULL, NULL),
                        KUMO_ERROR_OK);
    KUMO_EXPECT(!exists(s, "shared"));

    /* a dependent whose owner is already gone is collected too */
    ProtobufCMessage *gone = t_create_network(s, "default", "gone");
    ProtobufCMessage *og[] = {gone, NULL};
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "gone", NULL, NULL, NULL, NULL),
                        KUMO_ERROR_OK);
    ProtobufCMessage *late = create_owned(s, "late", NULL, og);
    KUMO_EXPECT(!exists(s, "late"));

    ProtobufCMessage *all[] = {owner, a, b, a1, c, p, q, shared, gone, late};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        kumo_object_destroy(all[i]);
    kumo_store_close(s);
}

KUMO_TEST(owner_cascade_finalizers)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    const kumo_object_kind *net = t_kind("Network");
    /* owner with a finalizer: its deletion waits, and so does the cascade */
    ProtobufCMessage *in = t_network("default", "owner", "10.0.0.0/16"), *owner = NULL;
    t_finalizer_add(in, "kumo.dev/wait");
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, in, &owner, NULL, NULL), KUMO_ERROR_OK);
    ProtobufCMessage *o1[] = {owner, NULL};
    ProtobufCMessage *dep = create_owned(s, "dep", "kumo.dev/dep", o1);
    ProtobufCMessage *free_dep = create_owned(s, "free", NULL, o1);
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "owner", NULL, NULL, NULL, NULL),
                        KUMO_ERROR_OK);
    KUMO_EXPECT(exists(s, "owner"));
    KUMO_EXPECT(exists(s, "dep"));
    KUMO_EXPECT(exists(s, "free"));
    /* the owner's controller removes its finalizer: owner goes, the cascade runs */
    ProtobufCMessage *cur = NULL;
    kumo_store_get(s, net, "default", "owner", &cur, NULL, NULL);
    t_finalizers_clear(cur);
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, NULL, NULL, NULL), KUMO_ERROR_OK);
    kumo_object_destroy(cur);
    KUMO_EXPECT(!exists(s, "owner"));
    KUMO_EXPECT(!exists(s, "free"));
    /* the dependent with its own finalizer is only marked */
    KUMO_REQUIRE_INT_EQ(kumo_store_get(s, net, "default", "dep", &cur, NULL, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT(kumo_object_meta(cur)->deletion_timestamp != NULL);
    t_finalizers_clear(cur);
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, NULL, NULL, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT(!exists(s, "dep"));
    kumo_object_destroy(cur);
    kumo_object_destroy(in);
    kumo_object_destroy(owner);
    kumo_object_destroy(dep);
    kumo_object_destroy(free_dep);
    kumo_store_close(s);
}

KUMO_TEST(owner_cascade_large)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    const kumo_object_kind *net = t_kind("Network");
    ProtobufCMessage *owner = t_create_network(s, "default", "owner");
    enum { N = 1500 }; /* more than one writer step */
    ProtobufCMessage **deps = malloc(N * sizeof(*deps));
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "dep-%04d", i);
        deps[i] = t_network("default", name, "10.0.0.0/16");
        t_owner_add(deps[i], owner);
    }
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(
        kumo_store_create_many(s, (const ProtobufCMessage *const *)deps, N, NULL, &d),
        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "owner", NULL, NULL, NULL, NULL),
                        KUMO_ERROR_OK);
    /* the rest continues in the writer's next steps */
    double start = kumo_test_now();
    size_t left = 1;
    while (left > 0 && kumo_test_now() - start < 30) {
        kumo_store_list_result list;
        KUMO_REQUIRE_INT_EQ(kumo_store_list(s, net, NULL, &list, NULL), KUMO_ERROR_OK);
        left = list.count;
        kumo_store_list_result_fini(&list);
        if (left)
            kumo_store_wait(s, kumo_store_revision(s), 100, NULL);
    }
    KUMO_EXPECT_INT_EQ(left, 0);
    for (int i = 0; i < N; i++)
        kumo_object_destroy(deps[i]);
    free(deps);
    kumo_object_destroy(owner);
    kumo_store_close(s);
}

KUMO_TEST(orphan)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    const kumo_object_kind *net = t_kind("Network");
    ProtobufCMessage *owner = t_create_network(s, "default", "owner");
    ProtobufCMessage *other = t_create_network(s, "default", "other");
    ProtobufCMessage *o1[] = {owner, NULL}, *o2[] = {owner, other, NULL};
    ProtobufCMessage *a = create_owned(s, "a", NULL, o1);
    ProtobufCMessage *b = create_owned(s, "b", NULL, o2);
    int64_t before = kumo_store_revision(s);
    kumo_store_delete_options o = {NULL, NULL, KUMO_STORE_PROPAGATION_ORPHAN};
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "owner", &o, NULL, NULL, NULL),
                        KUMO_ERROR_OK);
    KUMO_EXPECT(!exists(s, "owner"));
    ProtobufCMessage *ga = NULL, *gb = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_store_get(s, net, "default", "a", &ga, NULL, NULL), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(kumo_store_get(s, net, "default", "b", &gb, NULL, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_object_meta(ga)->n_owner_references, 0);
    KUMO_REQUIRE_INT_EQ(kumo_object_meta(gb)->n_owner_references, 1);
    KUMO_EXPECT_STR_EQ(kumo_object_meta(gb)->owner_references[0]->name, "other");
    /* each orphaning is a MODIFIED change with its own revision */
    KUMO_EXPECT_INT_EQ(kumo_store_revision(s), before + 3);
    KUMO_EXPECT_INT_GT(strtoll(t_rv(ga), NULL, 10), before);
    /* deleting `other` later (background) still collects b */
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "other", NULL, NULL, NULL, NULL),
                        KUMO_ERROR_OK);
    KUMO_EXPECT(!exists(s, "b"));
    KUMO_EXPECT(exists(s, "a"));
    ProtobufCMessage *all[] = {owner, other, a, b, ga, gb};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        kumo_object_destroy(all[i]);
    kumo_store_close(s);
}
