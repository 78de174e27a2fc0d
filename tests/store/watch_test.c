/* watch_test.c - the revision log: watch cursors, resume, Gone, the commit hook, compaction. */
#include "tests/store/helpers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/network.pb-c.h"

static size_t watch(kumo_store *s, int64_t from, const kumo_store_watch_filter *f, size_t max,
                    kumo_store_event **ev, int64_t *next)
{
    size_t n = 0;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error err = kumo_store_watch_next(s, from, f, max, ev, &n, next, &d);
    if (err != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "watch from %lld: %s", (long long)from, d.message);
    kumo_diag_fini(&d);
    return n;
}

KUMO_TEST(watch_resume)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store *s = t_open(dir, NULL);
    const kumo_object_kind *net = t_kind("Network");
    ProtobufCMessage *a = t_create_network(s, "default", "a"); /* 1 ADDED */
    t_label(a, "x", "1");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, a, NULL, NULL, NULL), KUMO_ERROR_OK); /* 2 */
    ProtobufCMessage *b = t_create_network(s, "prod", "b");                        /* 3 ADDED */
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "a", NULL, NULL, NULL, NULL),
                        KUMO_ERROR_OK); /* 4 DELETED */
    kumo_store_event *ev = NULL;
    int64_t next = 0;
    size_t n = watch(s, 0, NULL, 2, &ev, &next);
    KUMO_REQUIRE_INT_EQ(n, 2);
    KUMO_EXPECT_INT_EQ(ev[0].type, KUMO_STORE_EVENT_ADDED);
    KUMO_EXPECT_INT_EQ(ev[0].revision, 1);
    KUMO_EXPECT_STR_EQ(kumo_store_event_type_name(ev[1].type), "MODIFIED");
    KUMO_EXPECT_STR_EQ(t_rv(ev[1].object), "2");
    KUMO_EXPECT(ev[1].kind == net);
    KUMO_EXPECT_INT_EQ(next, 2);
    kumo_store_events_free(ev, n);
    /* resume where it stopped */
    n = watch(s, next, NULL, 100, &ev, &next);
    KUMO_REQUIRE_INT_EQ(n, 2);
    KUMO_EXPECT_STR_EQ(kumo_object_name(ev[0].object), "b");
    KUMO_EXPECT_INT_EQ(ev[1].type, KUMO_STORE_EVENT_DELETED);
    KUMO_EXPECT_STR_EQ(t_rv(ev[1].object), "4"); /* the deletion's revision */
    KUMO_EXPECT_STR_EQ(kumo_object_meta(ev[1].object)->labels[0]->key, "x"); /* last state */
    KUMO_EXPECT_INT_EQ(next, 4);
    kumo_store_events_free(ev, n);
    /* nothing new: empty, cursor unchanged */
    n = watch(s, next, NULL, 100, &ev, &next);
    KUMO_EXPECT_INT_EQ(n, 0);
    KUMO_EXPECT_INT_EQ(next, 4);
    kumo_store_events_free(ev, n);
    /* filters: namespace, kind; the cursor still moves past what is filtered out */
    kumo_store_watch_filter f = {net, "prod", NULL};
    n = watch(s, 0, &f, 100, &ev, &next);
    KUMO_REQUIRE_INT_EQ(n, 1);
    KUMO_EXPECT_STR_EQ(kumo_object_name(ev[0].object), "b");
    KUMO_EXPECT_INT_EQ(next, 4);
    kumo_store_events_free(ev, n);
    kumo_store_watch_filter fk = {t_kind("KeyPair"), NULL, NULL};
    n = watch(s, 0, &fk, 100, &ev, &next);
    KUMO_EXPECT_INT_EQ(n, 0);
    KUMO_EXPECT_INT_EQ(next, 4);
    kumo_store_events_free(ev, n);
    /* wait: times out, then wakes on a commit */
    int64_t r = 0;
    KUMO_EXPECT_INT_EQ(kumo_store_wait(s, 4, 20, &r), KUMO_ERROR_TIMEOUT);
    KUMO_EXPECT_INT_EQ(r, 4);
    ProtobufCMessage *c = t_create_network(s, "default", "c");
    KUMO_EXPECT_INT_EQ(kumo_store_wait(s, 4, 1000, &r), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(r, 5);
    /* the log survives a restart */
    kumo_store_close(s);
    s = t_open(dir, NULL);
    n = watch(s, 3, NULL, 100, &ev, &next);
    KUMO_REQUIRE_INT_EQ(n, 2);
    KUMO_EXPECT_INT_EQ(ev[1].revision, 5);
    kumo_store_events_free(ev, n);
    kumo_object_destroy(a);
    kumo_object_destroy(b);
    kumo_object_destroy(c);
    kumo_store_close(s);
}

KUMO_TEST(watch_selector)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    ProtobufCMessage *in = t_network("default", "a", "10.0.0.0/16"), *cur = NULL;
    t_label(in, "app", "web");
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, in, &cur, NULL, NULL), KUMO_ERROR_OK); /* 1 */
    ProtobufCMessage *other = t_create_network(s, "default", "other");              /* 2 */
    t_label(cur, "app", "db");
    ProtobufCMessage *next_obj = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &next_obj, NULL, NULL), KUMO_ERROR_OK); /* 3 */
    kumo_object_destroy(cur);
    cur = next_obj;
    t_label(cur, "tier", "x");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &next_obj, NULL, NULL), KUMO_ERROR_OK); /* 4 */
    kumo_object_destroy(cur);
    cur = next_obj;
    t_label(cur, "app", "web");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &next_obj, NULL, NULL), KUMO_ERROR_OK); /* 5 */
    kumo_object_destroy(cur);
    cur = next_obj;
    t_label(cur, "tier", "y");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &next_obj, NULL, NULL), KUMO_ERROR_OK); /* 6 */
    kumo_store_delete(s, t_kind("Network"), "default", "a", NULL, NULL, NULL, NULL);      /* 7 */
    kumo_object_selector *sel = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_object_selector_parse("app=web", NULL, &sel, NULL), KUMO_ERROR_OK);
    kumo_store_watch_filter f = {NULL, NULL, sel};
    kumo_store_event *ev = NULL;
    int64_t next = 0;
    size_t n = watch(s, 0, &f, 100, &ev, &next);
    /* 1 ADDED, 3 leaves: DELETED, 4 not matching: nothing, 5 enters: ADDED, 6 MODIFIED, 7 DELETED
     */
    KUMO_REQUIRE_INT_EQ(n, 5);
    int64_t revs[] = {1, 3, 5, 6, 7};
    kumo_store_event_type types[] = {KUMO_STORE_EVENT_ADDED, KUMO_STORE_EVENT_DELETED,
                                     KUMO_STORE_EVENT_ADDED, KUMO_STORE_EVENT_MODIFIED,
                                     KUMO_STORE_EVENT_DELETED};
    for (size_t i = 0; i < n; i++) {
        KUMO_EXPECT_INT_EQ(ev[i].revision, revs[i]);
        KUMO_EXPECT_INT_EQ(ev[i].type, types[i]);
    }
    KUMO_EXPECT_INT_EQ(next, 7);
    kumo_store_events_free(ev, n);
    kumo_object_selector_destroy(sel);
    kumo_object_destroy(in);
    kumo_object_destroy(cur);
    kumo_object_destroy(next_obj);
    kumo_object_destroy(other);
    kumo_store_close(s);
}

KUMO_TEST(watch_gone)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_options o = t_options(dir);
    o.keep_revisions = 10;
    o.keep_seconds = 0;
    kumo_store *s = t_open(dir, &o);
    ProtobufCMessage *cur = t_create_network(s, "default", "a");
    for (int i = 0; i < 30; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%d", i);
        t_label(cur, "i", v);
        ProtobufCMessage *out = NULL;
        KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &out, NULL, NULL), KUMO_ERROR_OK);
        kumo_object_destroy(cur);
        cur = out;
    }
    KUMO_REQUIRE_INT_EQ(kumo_store_compact(s, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_store_revision(s), 31);
    KUMO_EXPECT_INT_EQ(kumo_store_compacted_revision(s), 21);
    kumo_store_event *ev = NULL;
    size_t n = 0;
    int64_t next = 0;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_watch_next(s, 5, NULL, 100, &ev, &n, &next, &d), KUMO_ERROR_GONE);
    KUMO_EXPECT_CONTAINS(d.message, "compacted");
    KUMO_EXPECT_INT_EQ(n, 0);
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_watch_next(s, 20, NULL, 100, &ev, &n, &next, &d),
                       KUMO_ERROR_GONE);
    kumo_diag_fini(&d);
    /* from the compacted revision on, everything is there */
    n = watch(s, 21, NULL, 100, &ev, &next);
    KUMO_EXPECT_INT_EQ(n, 10);
    KUMO_EXPECT_INT_EQ(ev[0].revision, 22);
    kumo_store_events_free(ev, n);
    /* a watcher that kept up is never Gone: the recommended list-then-watch still works */
    kumo_store_list_result list;
    KUMO_REQUIRE_INT_EQ(kumo_store_list(s, t_kind("Network"), NULL, &list, NULL), KUMO_ERROR_OK);
    n = watch(s, list.revision, NULL, 100, &ev, &next);
    KUMO_EXPECT_INT_EQ(n, 0);
    kumo_store_list_result_fini(&list);
    kumo_store_events_free(ev, n);
    kumo_object_destroy(cur);
    kumo_store_close(s);
}

/* ---- the commit hook ------------------------------------------------------------- */

typedef struct hook_log {
    pthread_mutex_t lock;
    int64_t last;
    size_t count;
    int out_of_order;
    int missing_object;
} hook_log;

static void hook(void *ctx, const kumo_store_event *events, size_t count)
{
    hook_log *h = ctx;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < count; i++) {
        if (events[i].revision != h->last + 1)
            h->out_of_order++;
        if (events[i].object == NULL || events[i].kind == NULL ||
            strtoll(t_rv(events[i].object), NULL, 10) != events[i].revision)
            h->missing_object++;
        h->last = events[i].revision;
        h->count++;
    }
    pthread_mutex_unlock(&h->lock);
}

typedef struct writer_arg {
    kumo_store *s;
    hook_log *h;
    int id;
    int errors;
} writer_arg;

static void *writer(void *arg)
{
    writer_arg *w = arg;
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof(name), "w%d-%d", w->id, i);
        ProtobufCMessage *in = t_network("default", name, "10.0.0.0/16");
        int64_t rev = 0;
        if (kumo_store_create(w->s, in, NULL, &rev, NULL) != KUMO_ERROR_OK)
            w->errors++;
        /* acknowledged only after the hook saw it */
        pthread_mutex_lock(&w->h->lock);
        if (w->h->last < rev)
            w->errors++;
        pthread_mutex_unlock(&w->h->lock);
        kumo_object_destroy(in);
    }
    return NULL;
}

KUMO_TEST(commit_hook)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    hook_log h = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    kumo_store_set_commit_hook(s, hook, &h);
    pthread_t th[8];
    writer_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (writer_arg){s, &h, i, 0};
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        KUMO_EXPECT_INT_EQ(args[i].errors, 0);
    }
    /* a cascade's events come through the hook too */
    ProtobufCMessage *owner = t_create_network(s, "default", "owner");
    ProtobufCMessage *dep = t_network("default", "dep", "10.0.0.0/16");
    t_owner_add(dep, owner);
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, dep, NULL, NULL, NULL), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(
        kumo_store_delete(s, t_kind("Network"), "default", "owner", NULL, NULL, NULL, NULL),
        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(h.count, 8 * 50 + 4);
    KUMO_EXPECT_INT_EQ(h.last, kumo_store_revision(s));
    KUMO_EXPECT_INT_EQ(h.out_of_order, 0);
    KUMO_EXPECT_INT_EQ(h.missing_object, 0);
    kumo_store_set_commit_hook(s, NULL, NULL);
    kumo_object_destroy(owner);
    kumo_object_destroy(dep);
    kumo_store_close(s);
}

/* ---- compaction ------------------------------------------------------------------- */

KUMO_TEST(compaction)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_options o = t_options(dir);
    o.keep_revisions = 0;
    o.keep_seconds = 2;
    o.compact_interval_ms = 100;
    kumo_store *s = t_open(dir, &o);
    ProtobufCMessage *keep = t_create_network(s, "default", "keep");
    ProtobufCMessage *cur = t_create_network(s, "default", "a");
    for (int i = 0; i < 20; i++) {
        t_label(cur, "i", i % 2 ? "odd" : "even");
        ProtobufCMessage *out = NULL;
        KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &out, NULL, NULL), KUMO_ERROR_OK);
        kumo_object_destroy(cur);
        cur = out;
    }
    /* younger than keep_seconds: nothing compacted */
    KUMO_REQUIRE_INT_EQ(kumo_store_compact(s, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_store_compacted_revision(s), 0);
    kumo_store_stats st;
    KUMO_REQUIRE_INT_EQ(kumo_store_stats_get(s, &st, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(st.log_entries, 22);
    /* the idle writer compacts by itself once they are old enough */
    double start = kumo_test_now();
    while (kumo_store_compacted_revision(s) < 22 && kumo_test_now() - start < 10)
        kumo_store_wait(s, 1000000, 100, NULL);
    KUMO_EXPECT_INT_EQ(kumo_store_compacted_revision(s), 22);
    KUMO_REQUIRE_INT_EQ(kumo_store_stats_get(s, &st, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(st.log_entries, 0); /* every key's newest state is its current record */
    KUMO_EXPECT_INT_EQ(st.objects, 2);
    /* objects are untouched by compaction */
    ProtobufCMessage *got = NULL;
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("Network"), "default", "keep", &got, NULL, NULL),
                       KUMO_ERROR_OK);
    kumo_object_destroy(got);
    /* keep_revisions: at least the last N stay, whatever their age */
    kumo_store_close(s);
    o.keep_revisions = 5;
    o.keep_seconds = 0;
    s = t_open(dir, &o);
    for (int i = 0; i < 10; i++) {
        t_label(cur, "j", i % 2 ? "odd" : "even");
        ProtobufCMessage *out = NULL;
        KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &out, NULL, NULL), KUMO_ERROR_OK);
        kumo_object_destroy(cur);
        cur = out;
    }
    KUMO_REQUIRE_INT_EQ(kumo_store_compact(s, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_store_compacted_revision(s), 32 - 5);
    KUMO_REQUIRE_INT_EQ(kumo_store_stats_get(s, &st, NULL), KUMO_ERROR_OK);
    /* the last 5 revisions, plus the state before the first of them (needed for lists at
     * revisions >= compacted) */
    KUMO_EXPECT_INT_EQ(st.log_entries, 6);
    kumo_object_destroy(keep);
    kumo_object_destroy(cur);
    kumo_store_close(s);
}

typedef struct churner {
    kumo_store *s;
    int id;
    int count;
    const char *payload;
} churner;

static void *churn_main(void *arg)
{
    churner *c = arg;
    const kumo_object_kind *net = t_kind("Network");
    for (int i = 0; i < c->count; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%d-%d", c->id, i % 20);
        ProtobufCMessage *in = t_network("default", name, "10.0.0.0/16");
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        t_label(in, "i", v);
        t_annotation(in, "kumo.dev/payload", c->payload);
        if (i % 7 == 0)
            kumo_store_delete(c->s, net, "default", name, NULL, NULL, NULL, NULL);
        else
            kumo_store_apply(c->s, in, NULL, NULL, NULL, NULL);
        kumo_object_destroy(in);
    }
    return NULL;
}

static void churn(kumo_store *s, int per_thread, const char *payload)
{
    pthread_t th[4];
    churner c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (churner){s, i, per_thread, payload};
        pthread_create(&th[i], NULL, churn_main, &c[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
}

KUMO_TEST(compaction_bounded)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_options o = t_options(dir);
    o.keep_revisions = 300;
    o.keep_seconds = 0;
    o.map_size = 16 << 20;
    kumo_store *s = t_open(dir, &o);
    char payload[1025];
    memset(payload, 'p', 1024);
    payload[1024] = '\0';
    kumo_store_stats first, st;
    churn(s, 750, payload); /* warm up: ~3000 revisions */
    KUMO_REQUIRE_INT_EQ(kumo_store_stats_get(s, &first, NULL), KUMO_ERROR_OK);
    for (int round = 0; round < 6; round++)
        churn(s, 750, payload);
    KUMO_REQUIRE_INT_EQ(kumo_store_stats_get(s, &st, NULL), KUMO_ERROR_OK);
    fprintf(stderr, "  revisions %lld -> %lld, used %zu -> %zu bytes, file %zu -> %zu, log %zu\n",
            (long long)first.revision, (long long)st.revision, first.used_bytes, st.used_bytes,
            first.file_bytes, st.file_bytes, st.log_entries);
    KUMO_EXPECT_INT_GE(st.revision, 7 * first.revision - 100);
    /* log: the last 300 revisions plus at most one older state per key (80 keys) */
    KUMO_EXPECT_INT_LE(st.log_entries, 300 + 80 + 50);
    /* disk: six times the warm-up's writes (~25 MiB of records) leave the file where the
     * warm-up left it, give or take LMDB's free-page slack */
    size_t slack = 3 << 20;
    KUMO_EXPECT_INT_LE(st.used_bytes, first.used_bytes + slack);
    KUMO_EXPECT_INT_LE(st.file_bytes, first.file_bytes + slack);
    /* and without compaction it would not: the same churn with everything kept grows */
    kumo_store_close(s);
    o.keep_revisions = 100000000;
    s = t_open(dir, &o);
    for (int round = 0; round < 6; round++)
        churn(s, 750, payload);
    kumo_store_stats grown;
    KUMO_REQUIRE_INT_EQ(kumo_store_stats_get(s, &grown, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_GT(grown.used_bytes, st.used_bytes + (size_t)(16 << 20));
    kumo_store_close(s);
}
