/* list_test.c - list, label and field selectors, pagination (also under concurrent writes). */
#include "tests/store/helpers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Lists Networks; returns the names joined by "," into buf (and the count). */
static kumo_error names(kumo_store *s, const char *ns, const char *labels, const char *fields,
                        char *buf, size_t size, kumo_diag *d)
{
    kumo_store_list_options o = {ns, labels, fields, 0, NULL};
    kumo_store_list_result r;
    buf[0] = '\0';
    kumo_error err = kumo_store_list(s, t_kind("Network"), &o, &r, d);
    if (err != KUMO_ERROR_OK)
        return err;
    size_t len = 0;
    for (size_t i = 0; i < r.count; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s/%s", i ? "," : "",
                                kumo_object_namespace(r.items[i]), kumo_object_name(r.items[i]));
    kumo_store_list_result_fini(&r);
    return KUMO_ERROR_OK;
}

static void make(kumo_store *s, const char *ns, const char *name, const char *app, const char *tier)
{
    ProtobufCMessage *in = t_network(ns, name, "10.0.0.0/16");
    if (app)
        t_label(in, "app", app);
    if (tier)
        t_label(in, "kumo.dev/tier", tier);
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_store_create(s, in, NULL, NULL, &d) != KUMO_ERROR_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "create: %s", d.message);
    kumo_diag_fini(&d);
    kumo_object_destroy(in);
}

#define EXPECT_NAMES(ns, labels, fields, want)                                                     \
    do {                                                                                           \
        char got_[4096];                                                                           \
        kumo_diag d_;                                                                              \
        kumo_diag_init(&d_);                                                                       \
        kumo_error e_ = names(s, ns, labels, fields, got_, sizeof(got_), &d_);                     \
        KUMO_EXPECT_INT_EQ(e_, KUMO_ERROR_OK);                                                     \
        if (e_ != KUMO_ERROR_OK)                                                                   \
            fprintf(stderr, "  %s\n", d_.message);                                                 \
        KUMO_EXPECT_STR_EQ(got_, want);                                                            \
        kumo_diag_fini(&d_);                                                                       \
    } while (0)

#define EXPECT_BAD(labels, fields, needle)                                                         \
    do {                                                                                           \
        char got_[4096];                                                                           \
        kumo_diag d_;                                                                              \
        kumo_diag_init(&d_);                                                                       \
        KUMO_EXPECT_INT_EQ(names(s, NULL, labels, fields, got_, sizeof(got_), &d_),                \
                           KUMO_ERROR_INVALID_ARGUMENT);                                           \
        KUMO_EXPECT_CONTAINS(d_.message, needle);                                                  \
        kumo_diag_fini(&d_);                                                                       \
    } while (0)

static kumo_store *fixture(void)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    make(s, "default", "a", "web", "front");
    make(s, "default", "b", "web", "back");
    make(s, "default", "c", "db", "back");
    make(s, "default", "d", NULL, NULL);
    make(s, "prod", "a", "web", "front");
    make(s, "prod", "e", "cache", NULL);
    return s;
}

KUMO_TEST(selectors)
{
    kumo_store *s = fixture();
    EXPECT_NAMES(NULL, NULL, NULL, "default/a,default/b,default/c,default/d,prod/a,prod/e");
    EXPECT_NAMES("default", "", "", "default/a,default/b,default/c,default/d");
    EXPECT_NAMES("prod", NULL, NULL, "prod/a,prod/e");
    EXPECT_NAMES("nowhere", NULL, NULL, "");
    EXPECT_NAMES(NULL, "app=web", NULL, "default/a,default/b,prod/a");
    EXPECT_NAMES(NULL, "app==web", NULL, "default/a,default/b,prod/a");
    EXPECT_NAMES(NULL, "app!=web", NULL, "default/c,default/d,prod/e"); /* d has no app */
    EXPECT_NAMES(NULL, "app in (db, cache)", NULL, "default/c,prod/e");
    EXPECT_NAMES(NULL, "app notin (web,db)", NULL, "default/d,prod/e");
    EXPECT_NAMES(NULL, "kumo.dev/tier", NULL, "default/a,default/b,default/c,prod/a");
    EXPECT_NAMES(NULL, "!kumo.dev/tier", NULL, "default/d,prod/e");
    EXPECT_NAMES(NULL, "app=web,kumo.dev/tier=back", NULL, "default/b");
    EXPECT_NAMES("default", " app in (web) , kumo.dev/tier notin (back) ", NULL, "default/a");
    EXPECT_NAMES(NULL, "app=nothing", NULL, "");
    EXPECT_NAMES(NULL, "app,!app", NULL, "");
    EXPECT_BAD("app in web", NULL, "expected '('");
    EXPECT_BAD("app in ()", NULL, "values set can't be empty");
    EXPECT_BAD("=web", NULL, "expected a label key");
    EXPECT_BAD("app=web,", NULL, "expected a label key");
    EXPECT_BAD("app>1", NULL, "expected one of");
    EXPECT_BAD("-bad-=x", NULL, "invalid label key");
    EXPECT_BAD("app=-x-", NULL, "invalid label value");
    kumo_store_close(s);
}

KUMO_TEST(field_selector)
{
    kumo_store *s = fixture();
    EXPECT_NAMES(NULL, NULL, "metadata.name=a", "default/a,prod/a");
    EXPECT_NAMES(NULL, NULL, "metadata.name==a", "default/a,prod/a");
    EXPECT_NAMES("default", NULL, "metadata.name!=a", "default/b,default/c,default/d");
    EXPECT_NAMES(NULL, NULL, "metadata.namespace=prod", "prod/a,prod/e");
    EXPECT_NAMES(NULL, NULL, "metadata.name=a,metadata.namespace!=prod", "default/a");
    EXPECT_NAMES(NULL, "app=web", "metadata.name!=a", "default/b");
    EXPECT_NAMES(NULL, NULL, "metadata.name=zzz", "");
    EXPECT_BAD(NULL, "spec.cidr=10.0.0.0/16", "field label not supported: spec.cidr");
    EXPECT_BAD(NULL, "metadata.name", "expected field=value");
    /* the selector object on its own */
    kumo_object_selector *sel = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_object_selector_parse("app=web", "metadata.name=a", &sel, NULL),
                        KUMO_ERROR_OK);
    ProtobufCMessage *o = t_network("default", "a", "10.0.0.0/16");
    KUMO_EXPECT_INT_EQ(kumo_object_selector_matches(sel, o), 0);
    t_label(o, "app", "web");
    KUMO_EXPECT_INT_EQ(kumo_object_selector_matches(sel, o), 1);
    KUMO_EXPECT_INT_EQ(kumo_object_selector_matches(NULL, o), 1);
    kumo_object_destroy(o);
    kumo_object_selector_destroy(sel);
    kumo_store_close(s);
}

/* Pages through a list with `limit`; appends "ns/name@rv" of every item to buf. */
static kumo_error page_all(kumo_store *s, const char *ns, const char *labels, size_t limit,
                           char *buf, size_t size, int64_t *revision, int *pages,
                           void (*between)(void *), void *ctx)
{
    char *token = NULL;
    size_t len = 0;
    buf[0] = '\0';
    *pages = 0;
    kumo_error err = KUMO_ERROR_OK;
    do {
        kumo_store_list_options o = {ns, labels, NULL, limit, token};
        kumo_store_list_result r;
        kumo_diag d;
        kumo_diag_init(&d);
        err = kumo_store_list(s, t_kind("Network"), &o, &r, &d);
        free(token);
        token = NULL;
        if (err != KUMO_ERROR_OK) {
            fprintf(stderr, "  page %d: %s\n", *pages, d.message);
            kumo_diag_fini(&d);
            break;
        }
        if (*pages == 0)
            *revision = r.revision;
        else if (r.revision != *revision)
            kumo_test_fail_(__FILE__, __LINE__, 0, "page %d at revision %lld, first at %lld",
                            *pages, (long long)r.revision, (long long)*revision);
        if (r.count > limit)
            kumo_test_fail_(__FILE__, __LINE__, 0, "page of %zu > limit %zu", r.count, limit);
        for (size_t i = 0; i < r.count; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s/%s@%s,",
                                    kumo_object_namespace(r.items[i]), kumo_object_name(r.items[i]),
                                    t_rv(r.items[i]));
        token = r.continue_token;
        r.continue_token = NULL;
        kumo_store_list_result_fini(&r);
        (*pages)++;
        if (token && between)
            between(ctx);
    } while (token != NULL);
    return err;
}

static kumo_error list_all(kumo_store *s, const char *ns, char *buf, size_t size, int64_t *rev)
{
    int pages;
    return page_all(s, ns, NULL, 1000000, buf, size, rev, &pages, NULL, NULL);
}

KUMO_TEST(pagination)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    for (int i = 0; i < 25; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%02d", i);
        make(s, i % 5 == 0 ? "other" : "default", name, i % 2 ? "odd" : "even", NULL);
    }
    static char all[65536], paged[65536];
    int64_t rev_all = 0, rev_paged = 0;
    int pages = 0;
    KUMO_REQUIRE_INT_EQ(list_all(s, NULL, all, sizeof(all), &rev_all), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(
        page_all(s, NULL, NULL, 10, paged, sizeof(paged), &rev_paged, &pages, NULL, NULL),
        KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(paged, all);
    KUMO_EXPECT_INT_EQ(pages, 3);
    KUMO_EXPECT_INT_EQ(rev_paged, 25);
    /* exactly a multiple: no empty last page */
    KUMO_REQUIRE_INT_EQ(
        page_all(s, "default", NULL, 5, paged, sizeof(paged), &rev_paged, &pages, NULL, NULL),
        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(pages, 4);
    /* with a selector */
    KUMO_REQUIRE_INT_EQ(
        page_all(s, NULL, "app=odd", 4, paged, sizeof(paged), &rev_paged, &pages, NULL, NULL),
        KUMO_ERROR_OK);
    KUMO_EXPECT_CONTAINS(paged, "default/n01@");
    KUMO_EXPECT(strstr(paged, "n02@") == NULL);
    /* bad tokens */
    kumo_store_list_options o = {"default", NULL, NULL, 5, "garbage!"};
    kumo_store_list_result r;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_list(s, t_kind("Network"), &o, &r, &d),
                       KUMO_ERROR_INVALID_ARGUMENT);
    kumo_diag_fini(&d);
    o.continue_token = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_store_list(s, t_kind("Network"), &o, &r, &d), KUMO_ERROR_OK);
    KUMO_REQUIRE_PTR_NONNULL(r.continue_token);
    char *token = r.continue_token;
    r.continue_token = NULL;
    kumo_store_list_result_fini(&r);
    o.namespace_ = "other";
    o.continue_token = token;
    KUMO_EXPECT_INT_EQ(kumo_store_list(s, t_kind("Network"), &o, &r, &d),
                       KUMO_ERROR_INVALID_ARGUMENT);
    KUMO_EXPECT_CONTAINS(d.message, "another list");
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_list(s, t_kind("KeyPair"), &o, &r, &d),
                       KUMO_ERROR_INVALID_ARGUMENT);
    kumo_diag_fini(&d);
    free(token);
    kumo_store_close(s);
}

/* ---- pagination while the store changes ------------------------------------------ */

typedef struct churn {
    kumo_store *s;
    int stop;
    unsigned seed;
    int step; /* between-pages mode: how many writes to do */
} churn;

static void churn_once(churn *c)
{
    char name[16];
    snprintf(name, sizeof(name), "n%03d", rand_r(&c->seed) % 300);
    const kumo_object_kind *net = t_kind("Network");
    ProtobufCMessage *cur = NULL;
    int op = rand_r(&c->seed) % 3;
    if (kumo_store_get(c->s, net, "default", name, &cur, NULL, NULL) != KUMO_ERROR_OK) {
        ProtobufCMessage *in = t_network("default", name, "10.0.0.0/16");
        kumo_store_create(c->s, in, NULL, NULL, NULL);
        kumo_object_destroy(in);
    } else if (op == 0) {
        kumo_store_delete(c->s, net, "default", name, NULL, NULL, NULL, NULL);
    } else {
        char v[16];
        snprintf(v, sizeof(v), "v%d", rand_r(&c->seed) % 1000);
        t_label(cur, "version", v);
        kumo_store_update(c->s, cur, NULL, NULL, NULL);
    }
    kumo_object_destroy(cur);
}

static void *churn_main(void *arg)
{
    churn *c = arg;
    while (!__atomic_load_n(&c->stop, __ATOMIC_SEQ_CST))
        churn_once(c);
    return NULL;
}

/* Between pages: let the concurrent writer make some progress. */
static void wait_writes(void *arg)
{
    kumo_store *s = arg;
    kumo_store_wait(s, kumo_store_revision(s) + 3, 2000, NULL);
}

static void churn_between(void *arg)
{
    churn *c = arg;
    for (int i = 0; i < c->step; i++)
        churn_once(c);
    kumo_store_compact(c->s, NULL);
}

/* The state at `to`, from a list at `from` plus the watch events in between. */
typedef struct state {
    char names[400][16];
    char rvs[400][24];
    int live[400];
} state;

static void state_from(kumo_store *s, state *st, int64_t from, int64_t to)
{
    memset(st, 0, sizeof(*st));
    int64_t at = from;
    while (at < to) {
        kumo_store_event *ev = NULL;
        size_t n = 0;
        int64_t next = at;
        kumo_store_watch_filter f = {t_kind("Network"), "default", NULL};
        if (kumo_store_watch_next(s, at, &f, 1000, &ev, &n, &next, NULL) != KUMO_ERROR_OK)
            kumo_test_fail_(__FILE__, __LINE__, 1, "watch from %lld", (long long)at);
        for (size_t i = 0; i < n && ev[i].revision <= to; i++) {
            int idx = (int)strtol(kumo_object_name(ev[i].object) + 1, NULL, 10);
            snprintf(st->names[idx], sizeof(st->names[idx]), "%s", kumo_object_name(ev[i].object));
            snprintf(st->rvs[idx], sizeof(st->rvs[idx]), "%s", t_rv(ev[i].object));
            st->live[idx] = ev[i].type != KUMO_STORE_EVENT_DELETED;
        }
        kumo_store_events_free(ev, n);
        if (next == at)
            break;
        at = next;
    }
}

static void state_print(const state *st, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < 400; i++)
        if (st->live[i])
            len +=
                (size_t)snprintf(buf + len, size - len, "default/%s@%s,", st->names[i], st->rvs[i]);
}

KUMO_TEST(pagination_concurrent)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_options opts = t_options(dir);
    opts.keep_revisions = 100000;
    opts.keep_seconds = 0;
    kumo_store *s = t_open(dir, &opts);
    static char want[65536], got[65536];
    int64_t rev = 0;
    int pages = 0;
    /* 1: old objects (their log entries compacted away) changed between pages */
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%03d", i);
        make(s, "default", name, i % 3 ? "x" : "y", NULL);
    }
    kumo_store_close(s);
    opts.keep_revisions = 60;
    s = t_open(dir, &opts);
    KUMO_REQUIRE_INT_EQ(kumo_store_compact(s, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_store_compacted_revision(s), 240);
    KUMO_REQUIRE_INT_EQ(list_all(s, "default", want, sizeof(want), &rev), KUMO_ERROR_OK);
    churn between = {s, 0, 42, 4}; /* 4 writes a page: the token stays >= compacted */
    KUMO_REQUIRE_INT_EQ(
        page_all(s, "default", NULL, 23, got, sizeof(got), &rev, &pages, churn_between, &between),
        KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(got, want);
    KUMO_EXPECT_INT_GE(pages, 13);
    KUMO_EXPECT_INT_GT(kumo_store_compacted_revision(s), 240);

    /* 2: a writer thread churns all the time; compare with the state rebuilt from the
     * revision log (list at 0 = empty, then every event up to the page revision) */
    kumo_store_close(s);
    opts.keep_revisions = 1000000;
    s = t_open(kumo_test_tmpdir(), &opts);
    for (int i = 0; i < 300; i += 2) {
        char name[16];
        snprintf(name, sizeof(name), "n%03d", i);
        make(s, "default", name, NULL, NULL);
    }
    state *st = malloc(sizeof(*st));
    for (int round = 0; round < 5; round++) {
        churn c = {s, 0, 7u + (unsigned)round, 0};
        pthread_t th;
        pthread_create(&th, NULL, churn_main, &c);
        /* let it run a little */
        kumo_store_wait(s, kumo_store_revision(s) + 50, 2000, NULL);
        KUMO_REQUIRE_INT_EQ(
            page_all(s, "default", NULL, 17, got, sizeof(got), &rev, &pages, wait_writes, s),
            KUMO_ERROR_OK);
        __atomic_store_n(&c.stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(th, NULL);
        KUMO_EXPECT_INT_GT(kumo_store_revision(s), rev); /* writes went on meanwhile */
        state_from(s, st, 0, rev);
        state_print(st, want, sizeof(want));
        KUMO_EXPECT_STR_EQ(got, want);
    }
    free(st);
    kumo_store_close(s);
}

KUMO_TEST(pagination_gone)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_options opts = t_options(dir);
    opts.keep_revisions = 5;
    opts.keep_seconds = 0;
    kumo_store *s = t_open(dir, &opts);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%02d", i);
        make(s, "default", name, NULL, NULL);
    }
    kumo_store_list_options o = {"default", NULL, NULL, 5, NULL};
    kumo_store_list_result r;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_store_list(s, t_kind("Network"), &o, &r, &d), KUMO_ERROR_OK);
    o.continue_token = r.continue_token;
    r.continue_token = NULL;
    kumo_store_list_result_fini(&r);
    for (int i = 0; i < 10; i++) {
        make(s, "other", "x", NULL, NULL);
        kumo_store_delete(s, t_kind("Network"), "other", "x", NULL, NULL, NULL, NULL);
    }
    KUMO_REQUIRE_INT_EQ(kumo_store_compact(s, NULL), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_store_list(s, t_kind("Network"), &o, &r, &d), KUMO_ERROR_GONE);
    KUMO_EXPECT_CONTAINS(d.message, "continue token expired; relist");
    KUMO_EXPECT_INT_EQ(kumo_error_http_code(d.code), 410);
    kumo_diag_fini(&d);
    free((char *)o.continue_token);
    kumo_store_close(s);
}
