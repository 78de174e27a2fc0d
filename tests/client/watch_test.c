/*
 * watch_test.c - the client's watch against a real kumod and nats-server:
 * every change exactly once and in order, under concurrent writers, across
 * kill -9 of nats-server and of kumod, after falling behind the retained
 * history (Gone -> relist), with selectors, from a revision, and over all
 * namespaces.
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/client/client.h"
#include "store/store.h"
#include "tests/client/fixture.h"
#include "tests/harness/test.h"

/* ---- recording what a watch delivers ------------------------------------------------ */

typedef struct seen {
    kumo_client_event_type type;
    int64_t revision;
    char ns[64];
    char name[64];
    char tier[32];
} seen;

typedef struct recorder {
    pthread_mutex_t lock;
    seen *items;
    size_t count, cap;
    int64_t last;
    int backwards; /* a revision lower than the previous one */
    int repeated;  /* a revision equal to the previous one */
} recorder;

static void recorder_init(recorder *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
}

static void recorder_fini(recorder *r)
{
    free(r->items);
    pthread_mutex_destroy(&r->lock);
}

static void record(void *context, kumo_client_event_type type, int64_t revision,
                   const ProtobufCMessage *object)
{
    recorder *r = context;
    pthread_mutex_lock(&r->lock);
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->items = realloc(r->items, r->cap * sizeof(*r->items));
    }
    seen *s = &r->items[r->count++];
    memset(s, 0, sizeof(*s));
    s->type = type;
    s->revision = revision;
    snprintf(s->ns, sizeof(s->ns), "%s", kumo_object_namespace(object));
    snprintf(s->name, sizeof(s->name), "%s", kumo_object_name(object));
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    for (size_t i = 0; m && i < m->n_labels; i++)
        if (strcmp(m->labels[i]->key, "tier") == 0)
            snprintf(s->tier, sizeof(s->tier), "%s", m->labels[i]->value);
    if (revision < r->last)
        r->backwards++;
    else if (revision == r->last)
        r->repeated++;
    r->last = revision;
    pthread_mutex_unlock(&r->lock);
}

static size_t recorded(recorder *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Waits until the watch has seen `revision` (and `count` events, when > 0). */
static int wait_for(recorder *r, kumo_client_watch *w, int64_t revision, size_t count,
                    double seconds)
{
    double deadline = kumo_test_now() + seconds;
    while (kumo_test_now() < deadline) {
        if (kumo_client_watch_revision(w) >= revision && recorded(r) >= count)
            return 1;
        fixture_sleep_ms(20);
    }
    fprintf(stderr, "watch at revision %lld with %zu events; waited for %lld and %zu\n",
            (long long)kumo_client_watch_revision(w), recorded(r), (long long)revision, count);
    return 0;
}

static const char *kind_name(kumo_client_event_type t)
{
    return t == KUMO_CLIENT_EVENT_ADDED      ? "ADDED"
           : t == KUMO_CLIENT_EVENT_MODIFIED ? "MODIFIED"
                                             : "DELETED";
}

static void dump(recorder *r)
{
    for (size_t i = 0; i < r->count; i++)
        fprintf(stderr, "  %-8s %lld %s/%s tier=%s\n", kind_name(r->items[i].type),
                (long long)r->items[i].revision, r->items[i].ns, r->items[i].name,
                r->items[i].tier);
}

static const kumo_object_kind *connections(void)
{
    return kumo_object_kind_lookup("connections");
}

static int64_t rv_of(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = object ? kumo_object_meta(object) : NULL;
    return m ? strtoll(m->resource_version, NULL, 10) : -1;
}

/* Applies a Connection with label tier=`tier`, retrying transient errors; its revision. */
static int64_t apply_counting(kumo_client *c, const char *name, const char *ns, const char *tier,
                              int *retries)
{
    ProtobufCMessage *o = fixture_connection(name, ns, tier);
    int64_t rv = -1;
    double deadline = kumo_test_now() + 60;
    kumo_diag d;
    kumo_diag_init(&d);
    while (rv < 0 && kumo_test_now() < deadline) {
        ProtobufCMessage *out = NULL;
        kumo_error e = kumo_client_apply(c, o, &out, NULL, &d);
        if (e == KUMO_ERROR_OK)
            rv = rv_of(out);
        else if (kumo_error_class_of(e) == KUMO_ERROR_CLASS_TERMINAL)
            break;
        else {
            if (retries)
                (*retries)++;
            fixture_sleep_ms(50);
        }
        kumo_object_destroy(out);
        kumo_diag_fini(&d);
    }
    if (rv < 0)
        fprintf(stderr, "apply %s/%s failed: %s\n", ns, name, d.message);
    kumo_diag_fini(&d);
    kumo_object_destroy(o);
    return rv;
}

static int64_t apply_retrying(kumo_client *c, const char *name, const char *ns, const char *tier)
{
    return apply_counting(c, name, ns, tier, NULL);
}

/* ---- revisions a writer got back ----------------------------------------------------- */

typedef struct writer {
    pthread_t thread;
    const fixture *f;
    int id;
    int ops;
    int retry; /* 1: retry transient errors (faults happen meanwhile), until stop */
    atomic_int stop;
    int retries;            /* transient errors met */
    atomic_size_t progress; /* successful writes so far */
    int64_t *revisions;     /* create/apply results */
    kumo_client_event_type *types;
    size_t count;
    int deletes;
    int failures;
} writer;

static void writer_note(writer *w, kumo_client_event_type type, int64_t rv)
{
    for (size_t i = 0; i < w->count; i++)
        if (w->revisions[i] == rv)
            return; /* a retried apply that had already been applied */
    w->revisions[w->count] = rv;
    w->types[w->count++] = type;
}

/*
 * Per object: create (ADDED), apply tier=a (MODIFIED), apply tier=b
 * (MODIFIED), delete (DELETED), over and over; or, with retry, applies only.
 */
static void *writer_main(void *arg)
{
    writer *w = arg;
    kumo_client *c =
        fixture_client(w->f, w->id % 2 ? KUMO_CODEC_FORMAT_PROTOBUF : KUMO_CODEC_FORMAT_JSON,
                       w->retry ? 2000 : 10000);
    if (w->retry)
        w->ops = 100000; /* until stop */
    w->revisions = calloc((size_t)w->ops, sizeof(*w->revisions));
    w->types = calloc((size_t)w->ops, sizeof(*w->types));
    kumo_diag d;
    kumo_diag_init(&d);
    for (int i = 0; i < w->ops; i++) {
        char name[64];
        snprintf(name, sizeof(name), "w%d-%d", w->id, i % 3);
        int step = (i / 3) % 4;
        if (w->retry) {
            if (atomic_load(&w->stop) && i >= 3)
                break;
            char tier[32];
            snprintf(tier, sizeof(tier), "g%d", i);
            int64_t rv = apply_counting(c, name, "default", tier, &w->retries);
            if (rv < 0)
                w->failures++;
            else
                writer_note(w, i < 3 ? KUMO_CLIENT_EVENT_ADDED : KUMO_CLIENT_EVENT_MODIFIED, rv);
            atomic_fetch_add(&w->progress, 1);
            continue;
        }
        ProtobufCMessage *out = NULL;
        kumo_error e;
        if (step == 3) {
            e = kumo_client_delete(c, connections(), "default", name, NULL, NULL, &d);
            w->deletes += e == KUMO_ERROR_OK;
        } else {
            ProtobufCMessage *o = fixture_connection(name, "default",
                                                     step == 1   ? "a"
                                                     : step == 2 ? "b"
                                                                 : NULL);
            e = step == 0 ? kumo_client_create(c, o, &out, &d)
                          : kumo_client_apply(c, o, &out, NULL, &d);
            if (e == KUMO_ERROR_OK)
                writer_note(w, step == 0 ? KUMO_CLIENT_EVENT_ADDED : KUMO_CLIENT_EVENT_MODIFIED,
                            rv_of(out));
            kumo_object_destroy(o);
        }
        if (e != KUMO_ERROR_OK) {
            fprintf(stderr, "writer %d op %d: %s\n", w->id, i, d.message);
            w->failures++;
        }
        kumo_object_destroy(out);
        kumo_diag_fini(&d);
    }
    kumo_client_destroy(c);
    return NULL;
}

static void writer_free(writer *w)
{
    free(w->revisions);
    free(w->types);
}

/*
 * Every revision a writer got back was delivered exactly once with the right
 * type; there is nothing else except `extra` events (the initial list) and
 * `deletes` DELETED events; revisions strictly increase.
 */
static void expect_exactly_once(recorder *r, writer *writers, int n, size_t extra)
{
    size_t expected = extra;
    int deletes = 0;
    for (int i = 0; i < n; i++) {
        expected += writers[i].count + (size_t)writers[i].deletes;
        deletes += writers[i].deletes;
        for (size_t k = 0; k < writers[i].count; k++) {
            int hits = 0, type_ok = 0;
            for (size_t e = 0; e < r->count; e++)
                if (r->items[e].revision == writers[i].revisions[k]) {
                    hits++;
                    type_ok = r->items[e].type == writers[i].types[k];
                }
            if (hits != 1 || !type_ok)
                fprintf(stderr, "revision %lld delivered %d times (type ok: %d)\n",
                        (long long)writers[i].revisions[k], hits, type_ok);
            KUMO_EXPECT_INT_EQ(hits, 1);
            KUMO_EXPECT(type_ok);
        }
    }
    int deleted = 0;
    for (size_t e = 0; e < r->count; e++)
        deleted += r->items[e].type == KUMO_CLIENT_EVENT_DELETED;
    KUMO_EXPECT_INT_EQ(deleted, deletes);
    KUMO_EXPECT_INT_EQ(r->count, expected);
    KUMO_EXPECT_INT_EQ(r->backwards, 0);
    KUMO_EXPECT_INT_EQ(r->repeated, 0);
    if (r->count != expected || r->backwards || r->repeated)
        dump(r);
}

static int64_t max_revision(writer *writers, int n)
{
    int64_t max = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < writers[i].count; k++)
            if (writers[i].revisions[k] > max)
                max = writers[i].revisions[k];
    return max;
}

/* The current revision, read by a list. */
static int64_t current_revision(kumo_client *c)
{
    ProtobufCMessage *list = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    int64_t rv = -1;
    if (kumo_client_list(c, connections(), "default", NULL, &list, &d) == KUMO_ERROR_OK) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "metadata");
        const Kumo__V1alpha1__ListMeta *m =
            *(const Kumo__V1alpha1__ListMeta **)((const char *)list + f->offset);
        rv = strtoll(m->resource_version, NULL, 10);
    }
    kumo_object_destroy(list);
    kumo_diag_fini(&d);
    return rv;
}

/* ---- cases ------------------------------------------------------------------------------ */

KUMO_TEST(watch_exactly_once_concurrent_writers)
{
    fixture f;
    fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    KUMO_EXPECT(apply_retrying(c, "before-1", "default", NULL) > 0);
    KUMO_EXPECT(apply_retrying(c, "before-2", "default", NULL) > 0);
    KUMO_EXPECT(apply_retrying(c, "elsewhere", "other", NULL) > 0);
    recorder r;
    recorder_init(&r);
    kumo_client_watch *w = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(
        kumo_client_watch_start(c, connections(), "default", NULL, record, &r, &w, &d),
        KUMO_ERROR_OK);
    double deadline = kumo_test_now() + 10;
    while (!kumo_client_watch_synced(w) && kumo_test_now() < deadline)
        fixture_sleep_ms(5);
    KUMO_EXPECT(kumo_client_watch_synced(w));
    KUMO_EXPECT_INT_EQ(recorded(&r), 2); /* the initial list, delivered before "synced" */
    enum { WRITERS = 4, OPS = 60 };
    writer writers[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (writer){.f = &f, .id = i, .ops = OPS};
        pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(writers[i].thread, NULL);
    int64_t last = current_revision(c);
    KUMO_EXPECT(wait_for(&r, w, last, 0, 20));
    kumo_client_watch_stop(w);
    int failures = 0;
    for (int i = 0; i < WRITERS; i++)
        failures += writers[i].failures;
    KUMO_EXPECT_INT_EQ(failures, 0);
    KUMO_EXPECT_INT_GE(r.count, 2);
    if (r.count >= 2) {
        KUMO_EXPECT_STR_EQ(r.items[0].name, "before-1");
        KUMO_EXPECT_INT_EQ(r.items[0].type, KUMO_CLIENT_EVENT_ADDED);
        KUMO_EXPECT_STR_EQ(r.items[1].name, "before-2");
    }
    expect_exactly_once(&r, writers, WRITERS, 2);
    for (int i = 0; i < WRITERS; i++)
        writer_free(&writers[i]);
    recorder_fini(&r);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

/* Writes continue from another client while `fault` breaks something; nothing is lost. */
static void watch_through_fault(void (*fault)(fixture *f))
{
    fixture f;
    fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 2000);
    recorder r;
    recorder_init(&r);
    kumo_client_watch *w = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(
        kumo_client_watch_start(c, connections(), "default", NULL, record, &r, &w, &d),
        KUMO_ERROR_OK);
    writer wr = {.f = &f, .id = 0, .retry = 1};
    atomic_init(&wr.stop, 0);
    atomic_init(&wr.progress, 0);
    pthread_create(&wr.thread, NULL, writer_main, &wr);
    double deadline = kumo_test_now() + 30;
    while (atomic_load(&wr.progress) < 20 && kumo_test_now() < deadline)
        fixture_sleep_ms(10);
    size_t before = atomic_load(&wr.progress);
    fault(&f);
    /* Go on until the writer made 50 more writes after the fault. */
    deadline = kumo_test_now() + 30;
    while (atomic_load(&wr.progress) < before + 50 && kumo_test_now() < deadline)
        fixture_sleep_ms(20);
    atomic_store(&wr.stop, 1);
    pthread_join(wr.thread, NULL);
    fprintf(stderr, "writes: %zu (about %zu before the fault), transient errors met: %d\n",
            wr.count, before, wr.retries);
    KUMO_EXPECT_INT_EQ(wr.failures, 0);
    KUMO_EXPECT_INT_GT(before, 10);
    KUMO_EXPECT_INT_GE(wr.count, before + 50);
    KUMO_EXPECT(wait_for(&r, w, max_revision(&wr, 1), wr.count, 30));
    kumo_client_watch_stop(w);
    expect_exactly_once(&r, &wr, 1, 0);
    writer_free(&wr);
    recorder_fini(&r);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

static void kill_nats(fixture *f)
{
    kumo_natsd_kill(f->natsd, SIGKILL);
    fixture_sleep_ms(700);
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_natsd_restart(f->natsd, &d), KUMO_ERROR_OK);
    kumo_diag_fini(&d);
}

static void kill_kumod(fixture *f)
{
    fixture_kumod_kill(f, SIGKILL);
    fixture_sleep_ms(300);
    KUMO_EXPECT_INT_EQ(fixture_kumod_start(f), 0);
}

KUMO_TEST(watch_survives_nats_server_kill)
{
    watch_through_fault(kill_nats);
}

KUMO_TEST(watch_survives_kumod_kill)
{
    watch_through_fault(kill_kumod);
}

/* Writes straight into kumod's store while kumod is down, then compacts it all away. */
static void offline_changes(const fixture *f)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/store", f->data_dir);
    kumo_store_options o;
    kumo_store_options_init(&o);
    o.path = path;
    o.keep_revisions = 1;
    o.keep_seconds = 0;
    kumo_store *s = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_store_open(&o, &s, &d), KUMO_ERROR_OK);
    ProtobufCMessage *b = fixture_connection("b", "default", "changed");
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, b, NULL, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_store_delete(s, connections(), "default", "c", NULL, NULL, NULL, &d),
                       KUMO_ERROR_OK);
    ProtobufCMessage *x = fixture_connection("x", "default", NULL);
    KUMO_EXPECT_INT_EQ(kumo_store_create(s, x, NULL, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_store_compact(s, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_GE(kumo_store_compacted_revision(s), kumo_store_revision(s) - 1);
    kumo_object_destroy(b);
    kumo_object_destroy(x);
    kumo_store_close(s);
    kumo_diag_fini(&d);
}

KUMO_TEST(watch_gone_relists_the_difference)
{
    fixture f;
    fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 2000);
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        KUMO_EXPECT(apply_retrying(c, names[i], "default", NULL) > 0);
    recorder r;
    recorder_init(&r);
    kumo_client_watch *w = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(
        kumo_client_watch_start(c, connections(), "default", NULL, record, &r, &w, &d),
        KUMO_ERROR_OK);
    KUMO_EXPECT(wait_for(&r, w, 0, 3, 10));

    fixture_kumod_kill(&f, SIGKILL);
    offline_changes(&f);
    KUMO_EXPECT_INT_EQ(fixture_kumod_start(&f), 0);
    int64_t y = apply_retrying(c, "y", "default", NULL); /* its Prev is 0: catch up -> Gone */
    KUMO_EXPECT(y > 0);
    KUMO_EXPECT(wait_for(&r, w, y, 7, 20));
    kumo_client_watch_stop(w);

    /*
     * After the three first ADDED: b MODIFIED, x ADDED, c DELETED (at the list's revision) and
     * y ADDED; y comes before c when kumod served y before the watch relisted, else after.
     */
    KUMO_EXPECT_INT_EQ(r.count, 7);
    static const struct {
        const char *name;
        kumo_client_event_type type;
    } want[] = {{"b", KUMO_CLIENT_EVENT_MODIFIED},
                {"x", KUMO_CLIENT_EVENT_ADDED},
                {"c", KUMO_CLIENT_EVENT_DELETED},
                {"y", KUMO_CLIENT_EVENT_ADDED}};
    for (size_t k = 0; k < 4; k++) {
        int hits = 0;
        for (size_t i = 3; i < r.count; i++)
            if (strcmp(r.items[i].name, want[k].name) == 0) {
                hits++;
                KUMO_EXPECT_INT_EQ(r.items[i].type, want[k].type);
                if (want[k].type == KUMO_CLIENT_EVENT_MODIFIED)
                    KUMO_EXPECT_STR_EQ(r.items[i].tier, "changed");
                if (strcmp(want[k].name, "y") == 0)
                    KUMO_EXPECT_INT_EQ(r.items[i].revision, y);
            }
        KUMO_EXPECT_INT_EQ(hits, 1);
    }
    if (r.count != 7)
        dump(&r);
    KUMO_EXPECT_INT_EQ(r.backwards, 0);
    recorder_fini(&r);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(watch_selector_transitions)
{
    fixture f;
    fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    KUMO_EXPECT(apply_retrying(c, "a", "default", "web") > 0);
    KUMO_EXPECT(apply_retrying(c, "b", "default", "db") > 0);
    recorder r;
    recorder_init(&r);
    kumo_client_watch *w = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_client_watch_options o = {.label_selector = "tier=web"};
    KUMO_REQUIRE_INT_EQ(
        kumo_client_watch_start(c, connections(), "default", &o, record, &r, &w, &d),
        KUMO_ERROR_OK);
    KUMO_EXPECT(wait_for(&r, w, 0, 1, 10));
    KUMO_EXPECT(apply_retrying(c, "b", "default", "web") > 0);   /* starts matching: ADDED */
    KUMO_EXPECT(apply_retrying(c, "a", "default", "db") > 0);    /* stops matching: DELETED */
    KUMO_EXPECT(apply_retrying(c, "a", "default", "cache") > 0); /* still not: nothing */
    KUMO_EXPECT_INT_EQ(kumo_client_delete(c, connections(), "default", "b", NULL, NULL, &d),
                       KUMO_ERROR_OK);
    int64_t last = apply_retrying(c, "c", "default", "web");
    KUMO_EXPECT(wait_for(&r, w, last, 5, 10));
    kumo_client_watch_stop(w);
    static const struct {
        const char *name;
        kumo_client_event_type type;
    } want[] = {{"a", KUMO_CLIENT_EVENT_ADDED},
                {"b", KUMO_CLIENT_EVENT_ADDED},
                {"a", KUMO_CLIENT_EVENT_DELETED},
                {"b", KUMO_CLIENT_EVENT_DELETED},
                {"c", KUMO_CLIENT_EVENT_ADDED}};
    KUMO_EXPECT_INT_EQ(r.count, 5);
    for (size_t i = 0; i < 5 && i < r.count; i++) {
        KUMO_EXPECT_STR_EQ(r.items[i].name, want[i].name);
        KUMO_EXPECT_INT_EQ(r.items[i].type, want[i].type);
    }
    if (r.count != 5)
        dump(&r);
    recorder_fini(&r);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(watch_from_revision_and_all_namespaces)
{
    fixture f;
    fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_PROTOBUF, 5000);
    KUMO_EXPECT(apply_retrying(c, "old", "default", NULL) > 0);
    int64_t from = current_revision(c);
    int64_t a = apply_retrying(c, "new", "team-a", NULL);
    int64_t b = apply_retrying(c, "old", "default", "changed");
    recorder r;
    recorder_init(&r);
    kumo_client_watch *w = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_client_watch_options o = {.from_revision = from};
    KUMO_REQUIRE_INT_EQ(kumo_client_watch_start(c, connections(), NULL, &o, record, &r, &w, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT(kumo_client_watch_synced(w));
    int64_t live = apply_retrying(c, "live", "team-b", NULL);
    KUMO_EXPECT(wait_for(&r, w, live, 3, 10));
    kumo_client_watch_stop(w);
    KUMO_EXPECT_INT_EQ(r.count, 3);
    if (r.count == 3) {
        KUMO_EXPECT_INT_EQ(r.items[0].revision, a);
        KUMO_EXPECT_STR_EQ(r.items[0].ns, "team-a");
        KUMO_EXPECT_INT_EQ(r.items[0].type, KUMO_CLIENT_EVENT_ADDED);
        KUMO_EXPECT_INT_EQ(r.items[1].revision, b);
        KUMO_EXPECT_INT_EQ(r.items[1].type, KUMO_CLIENT_EVENT_MODIFIED);
        KUMO_EXPECT_INT_EQ(r.items[2].revision, live);
        KUMO_EXPECT_STR_EQ(r.items[2].ns, "team-b");
    } else {
        dump(&r);
    }
    recorder_fini(&r);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}
