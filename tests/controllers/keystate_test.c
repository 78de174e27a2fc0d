/*
 * keystate_test.c - per-key controller state: created once per key with its
 * init, the same state on every later get, finished on forget and on destroy,
 * safe from many threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "controllers/runtime/keystate/keystate.h"
#include "tests/harness/test.h"

typedef struct counted {
    int marker;
    char *held; /* freed by fini: ASan finds a state that is never finished */
    long uses;
} counted;

static atomic_int inits, finis;

static int counted_init(void *state)
{
    counted *c = state;
    atomic_fetch_add(&inits, 1);
    c->marker = 7;
    return (c->held = malloc(16)) != NULL ? 0 : -1;
}

static void counted_fini(void *state)
{
    counted *c = state;
    atomic_fetch_add(&finis, 1);
    free(c->held);
}

static const kumo_keystate_ops ops = {sizeof(counted), counted_init, counted_fini};

KUMO_TEST(keystate_create_get_forget)
{
    atomic_store(&inits, 0);
    atomic_store(&finis, 0);
    kumo_keystate *set = kumo_keystate_create(&ops);
    KUMO_REQUIRE(set != NULL);
    counted *a = kumo_keystate_get(set, "ns/a");
    KUMO_REQUIRE(a != NULL);
    KUMO_EXPECT_INT_EQ(a->marker, 7);
    KUMO_EXPECT_INT_EQ(a->uses, 0);
    a->uses = 3;
    KUMO_EXPECT(kumo_keystate_get(set, "ns/a") == a);
    counted *b = kumo_keystate_acquire(set, "ns/b");
    KUMO_REQUIRE(b != NULL);
    KUMO_EXPECT(b != a);
    kumo_keystate_release(set);
    KUMO_EXPECT_INT_EQ(kumo_keystate_count(set), 2);
    KUMO_EXPECT_INT_EQ(atomic_load(&inits), 2);
    kumo_keystate_forget(set, "ns/a");
    kumo_keystate_forget(set, "ns/never");
    KUMO_EXPECT_INT_EQ(atomic_load(&finis), 1);
    KUMO_EXPECT_INT_EQ(kumo_keystate_count(set), 1);
    counted *again = kumo_keystate_get(set, "ns/a");
    KUMO_REQUIRE(again != NULL);
    KUMO_EXPECT_INT_EQ(again->uses, 0); /* a forgotten key starts afresh */
    kumo_keystate_destroy(set);
    KUMO_EXPECT_INT_EQ(atomic_load(&finis), 3);
    kumo_keystate_destroy(NULL);
}

typedef struct hammer {
    kumo_keystate *set;
    int thread;
} hammer;

/* Each thread bumps its own keys under acquire, and one key all threads share. */
static void *hammer_run(void *arg)
{
    hammer *h = arg;
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "ns/%d-%d", h->thread, i % 10);
        counted *mine = kumo_keystate_get(h->set, key);
        if (mine)
            mine->uses++;
        counted *shared = kumo_keystate_acquire(h->set, "ns/shared");
        if (shared)
            shared->uses++;
        kumo_keystate_release(h->set);
    }
    return NULL;
}

KUMO_TEST(keystate_many_threads)
{
    atomic_store(&inits, 0);
    atomic_store(&finis, 0);
    kumo_keystate *set = kumo_keystate_create(&ops);
    KUMO_REQUIRE(set != NULL);
    pthread_t threads[4];
    hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (hammer){set, i};
        KUMO_REQUIRE_INT_EQ(pthread_create(&threads[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    KUMO_EXPECT_INT_EQ(kumo_keystate_count(set), 4 * 10 + 1);
    KUMO_EXPECT_INT_EQ(atomic_load(&inits), 4 * 10 + 1);
    counted *shared = kumo_keystate_get(set, "ns/shared");
    KUMO_REQUIRE(shared != NULL);
    KUMO_EXPECT_INT_EQ(shared->uses, 4 * 2000);
    counted *one = kumo_keystate_get(set, "ns/2-3");
    KUMO_REQUIRE(one != NULL);
    KUMO_EXPECT_INT_EQ(one->uses, 200);
    kumo_keystate_destroy(set);
    KUMO_EXPECT_INT_EQ(atomic_load(&finis), 4 * 10 + 1);
}
