/*
 * model_test.c - model-based test: thousands of random operation sequences run
 * against the store and against a tiny in-memory model of the same rules;
 * every result (error code, revision, returned object, list contents) must be
 * identical. The seed is printed; KUMO_TEST_SEED=<n> replays a run.
 *
 * Each sequence works in its own two namespaces of a shared store (so the
 * global revision counter is part of what is checked); the store is closed
 * and reopened every 50 sequences and replaced every 500.
 */
#include "tests/store/helpers.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { SEQUENCES = 2000, NS = 2, NAMES = 3, SLOTS = NS * NAMES };

static const char *const CIDRS[] = {"10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/24"};
static const char *const STATES[] = {"", "pending", "available"};
static const char *const APPS[] = {"", "web", "db", "cache"};
static const char *const FINALIZERS[] = {"kumo.dev/f1", "kumo.dev/f2"};
static const char *const NAME_OF[] = {"a", "b", "c"};

typedef struct slot {
    int exists;
    char uid[40];
    int64_t rv;
    int64_t gen;
    int cidr, state, app, fin, deleting;
} slot;

typedef struct model {
    kumo_store *s;
    int64_t rev;
    slot slots[SLOTS];
    int seq;
    unsigned seed;
    char ns[NS][24];
    char what[256]; /* the operation being checked, for failure messages */
} model;

static int rnd(model *m, int n)
{
    return rand_r(&m->seed) % n;
}

static ProtobufCMessage *build(model *m, int i, int cidr, int state, int app, int fin)
{
    ProtobufCMessage *o = t_network(m->ns[i / NAMES], NAME_OF[i % NAMES], CIDRS[cidr]);
    if (app)
        t_label(o, "app", APPS[app]);
    for (int f = 0; f < 2; f++)
        if (fin & (1 << f))
            t_finalizer_add(o, FINALIZERS[f]);
    if (state)
        t_network_state(o, STATES[state]);
    return o;
}

static int index_of(const char *const *list, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    return -1;
}

/* Checks a returned object against slot i of the model (as it is now). */
static void check_object(model *m, int i, const ProtobufCMessage *o, int64_t rv)
{
    const slot *sl = &m->slots[i];
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(o);
    char want_rv[24];
    snprintf(want_rv, sizeof(want_rv), "%lld", (long long)rv);
    int app = 0, fin = 0;
    for (size_t l = 0; l < meta->n_labels; l++)
        if (strcmp(meta->labels[l]->key, "app") == 0)
            app = index_of(APPS, 4, meta->labels[l]->value);
    for (size_t f = 0; f < meta->n_finalizers; f++)
        fin |= 1 << index_of(FINALIZERS, 2, meta->finalizers[f]);
    int ok = strcmp(meta->resource_version, want_rv) == 0 && meta->generation == sl->gen &&
             strcmp(meta->uid, sl->uid) == 0 && index_of(CIDRS, 3, t_cidr(o)) == sl->cidr &&
             index_of(STATES, 3, t_state(o)) == sl->state && app == sl->app && fin == sl->fin &&
             (meta->deletion_timestamp != NULL) == sl->deleting &&
             strcmp(meta->name, NAME_OF[i % NAMES]) == 0 &&
             strcmp(meta->namespace_, m->ns[i / NAMES]) == 0;
    if (!ok)
        kumo_test_fail_(__FILE__, __LINE__, 1,
                        "%s: object differs: rv %s/%s gen %lld/%lld cidr %s/%s state \"%s\"/\"%s\" "
                        "app %d/%d fin %d/%d deleting %d/%d",
                        m->what, meta->resource_version, want_rv, (long long)meta->generation,
                        (long long)sl->gen, t_cidr(o), CIDRS[sl->cidr], t_state(o),
                        STATES[sl->state], app, sl->app, fin, sl->fin,
                        meta->deletion_timestamp != NULL, sl->deleting);
}

static void expect(model *m, kumo_error got, kumo_error want, const kumo_diag *d)
{
    if (got != want)
        kumo_test_fail_(__FILE__, __LINE__, 1, "%s: %s, model says %s (%s)", m->what,
                        kumo_error_name(got), kumo_error_name(want), d->message);
}

static void expect_rev(model *m, int64_t got, int64_t want)
{
    if (got != want)
        kumo_test_fail_(__FILE__, __LINE__, 1, "%s: revision %lld, model says %lld", m->what,
                        (long long)got, (long long)want);
}

static void op_create(model *m, int i)
{
    slot *sl = &m->slots[i];
    int cidr = rnd(m, 3), state = rnd(m, 3), app = rnd(m, 4), fin = rnd(m, 4) == 0 ? rnd(m, 4) : 0;
    ProtobufCMessage *in = build(m, i, cidr, state, app, fin), *out = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    int64_t rev = 0;
    kumo_error err = kumo_store_create(m->s, in, &out, &rev, &d);
    kumo_error want = sl->exists ? KUMO_ERROR_ALREADY_EXISTS : KUMO_ERROR_OK;
    expect(m, err, want, &d);
    if (want == KUMO_ERROR_OK) {
        *sl = (slot){1, "", ++m->rev, 1, cidr, state, app, fin, 0};
        snprintf(sl->uid, sizeof(sl->uid), "%s", t_uid(out));
        expect_rev(m, rev, m->rev);
        check_object(m, i, out, m->rev);
    }
    kumo_diag_fini(&d);
    kumo_object_destroy(in);
    kumo_object_destroy(out);
}

static void op_get(model *m, int i)
{
    ProtobufCMessage *out = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    int64_t rev = 0;
    kumo_error err = kumo_store_get(m->s, t_kind("Network"), m->ns[i / NAMES], NAME_OF[i % NAMES],
                                    &out, &rev, &d);
    expect(m, err, m->slots[i].exists ? KUMO_ERROR_OK : KUMO_ERROR_NOT_FOUND, &d);
    if (out) {
        expect_rev(m, rev, m->slots[i].rv);
        check_object(m, i, out, m->slots[i].rv);
    }
    kumo_diag_fini(&d);
    kumo_object_destroy(out);
}

/* A resourceVersion the way a client might send it: current, stale, or none. */
static int64_t pick_rv(model *m, int i, int *stale)
{
    int r = rnd(m, 5);
    *stale = 0;
    if (r == 0)
        return 0;
    if (r == 1 && m->slots[i].exists) {
        *stale = 1;
        return m->slots[i].rv > 1 ? m->slots[i].rv - 1 : m->rev + 5;
    }
    return m->slots[i].exists ? m->slots[i].rv : 1;
}

/* The model's update rule shared by update and patch; returns the expected error. */
static kumo_error model_update(model *m, int i, int64_t rv, int cidr, int app, int fin,
                               int wrong_uid, int *removed, int *changed)
{
    slot *sl = &m->slots[i];
    *removed = *changed = 0;
    if (!sl->exists)
        return KUMO_ERROR_NOT_FOUND;
    if (rv && rv != sl->rv)
        return KUMO_ERROR_CONFLICT;
    if (wrong_uid)
        return KUMO_ERROR_INVALID;
    if (sl->deleting && (fin & ~sl->fin))
        return KUMO_ERROR_INVALID;
    if (cidr == sl->cidr && app == sl->app && fin == sl->fin)
        return KUMO_ERROR_OK;
    *changed = 1;
    sl->gen += cidr != sl->cidr;
    sl->cidr = cidr;
    sl->app = app;
    sl->fin = fin;
    sl->rv = ++m->rev;
    if (sl->deleting && fin == 0) {
        *removed = 1;
        sl->exists = 0;
    }
    return KUMO_ERROR_OK;
}

static void op_update(model *m, int i)
{
    slot *sl = &m->slots[i];
    int stale;
    int64_t rv = pick_rv(m, i, &stale);
    int cidr = rnd(m, 2) ? sl->cidr : rnd(m, 3), app = rnd(m, 2) ? sl->app : rnd(m, 4);
    int fin = rnd(m, 3) ? sl->fin : rnd(m, 4);
    int uid_mode = rnd(m, 8); /* 0: wrong uid, 1..3: right uid, else none */
    ProtobufCMessage *in = build(m, i, cidr, rnd(m, 3), app, fin), *out = NULL;
    if (rv) {
        char text[24];
        snprintf(text, sizeof(text), "%lld", (long long)rv);
        t_set_rv(in, text);
    }
    int wrong_uid = sl->exists && uid_mode == 0;
    if (uid_mode <= 3 && sl->exists)
        t_set_uid(in, wrong_uid ? "00000000-0000-4000-8000-000000000000" : sl->uid);
    snprintf(m->what, sizeof(m->what), "seq %d update %s/%s rv=%lld cidr=%d app=%d fin=%d uid=%d",
             m->seq, m->ns[i / NAMES], NAME_OF[i % NAMES], (long long)rv, cidr, app, fin, uid_mode);
    kumo_diag d;
    kumo_diag_init(&d);
    int64_t rev = 0;
    kumo_error err = kumo_store_update(m->s, in, &out, &rev, &d);
    slot before = *sl;
    int removed, changed;
    kumo_error want = model_update(m, i, rv, cidr, app, fin, wrong_uid, &removed, &changed);
    expect(m, err, want, &d);
    if (want == KUMO_ERROR_OK) {
        expect_rev(m, rev, changed ? m->rev : before.rv);
        if (removed) {
            slot keep = *sl;
            sl->exists = 1; /* check the final state */
            check_object(m, i, out, m->rev);
            *sl = keep;
        } else {
            check_object(m, i, out, sl->rv);
        }
    }
    kumo_diag_fini(&d);
    kumo_object_destroy(in);
    kumo_object_destroy(out);
}

static void op_status(model *m, int i)
{
    slot *sl = &m->slots[i];
    int stale;
    int64_t rv = pick_rv(m, i, &stale);
    int state = rnd(m, 3);
    ProtobufCMessage *in = build(m, i, rnd(m, 3), state, rnd(m, 4), rnd(m, 4)), *out = NULL;
    if (rv) {
        char text[24];
        snprintf(text, sizeof(text), "%lld", (long long)rv);
        t_set_rv(in, text);
    }
    snprintf(m->what, sizeof(m->what), "seq %d status %s/%s rv=%lld state=%d", m->seq,
             m->ns[i / NAMES], NAME_OF[i % NAMES], (long long)rv, state);
    kumo_diag d;
    kumo_diag_init(&d);
    int64_t rev = 0;
    kumo_error err = kumo_store_update_status(m->s, in, &out, &rev, &d);
    kumo_error want = !sl->exists          ? KUMO_ERROR_NOT_FOUND
                      : rv && rv != sl->rv ? KUMO_ERROR_CONFLICT
                                           : KUMO_ERROR_OK;
    expect(m, err, want, &d);
    if (want == KUMO_ERROR_OK) {
        if (state != sl->state) {
            sl->state = state;
            sl->rv = ++m->rev;
        }
        expect_rev(m, rev, sl->rv);
        check_object(m, i, out, sl->rv);
    }
    kumo_diag_fini(&d);
    kumo_object_destroy(in);
    kumo_object_destroy(out);
}

static void op_patch(model *m, int i)
{
    slot *sl = &m->slots[i];
    int kind = rnd(m, 3), app = rnd(m, 4);
    char patch[128];
    if (kind == 0)
        snprintf(patch, sizeof(patch), "{\"metadata\":{\"labels\":{\"app\":%s%s%s}}}",
                 app ? "\"" : "", app ? APPS[app] : "null", app ? "\"" : "");
    else if (kind == 1)
        snprintf(patch, sizeof(patch), "{\"metadata\":{\"finalizers\":null}}");
    else
        snprintf(patch, sizeof(patch), "{\"spec\":{\"cidr\":\"%s\"}}", CIDRS[app % 3]);
    snprintf(m->what, sizeof(m->what), "seq %d patch %s/%s %s", m->seq, m->ns[i / NAMES],
             NAME_OF[i % NAMES], patch);
    ProtobufCMessage *out = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    int64_t rev = 0;
    kumo_error err = kumo_store_patch(m->s, t_kind("Network"), m->ns[i / NAMES], NAME_OF[i % NAMES],
                                      patch, strlen(patch), 0, &out, &rev, &d);
    int removed = 0, changed = 0;
    int64_t before_rv = sl->rv;
    kumo_error want = !sl->exists ? KUMO_ERROR_NOT_FOUND
                                  : model_update(m, i, 0, kind == 2 ? app % 3 : sl->cidr,
                                                 kind == 0 ? app : sl->app, kind == 1 ? 0 : sl->fin,
                                                 0, &removed, &changed);
    expect(m, err, want, &d);
    if (want == KUMO_ERROR_OK) {
        expect_rev(m, rev, changed ? m->rev : before_rv);
        if (removed) {
            sl->exists = 1;
            check_object(m, i, out, m->rev);
            sl->exists = 0;
        } else {
            check_object(m, i, out, sl->rv);
        }
    }
    kumo_diag_fini(&d);
    kumo_object_destroy(out);
}

static void op_delete(model *m, int i)
{
    slot *sl = &m->slots[i];
    int mode = rnd(m, 6); /* 0 none, 1 right uid, 2 wrong uid, 3 right rv, 4 stale rv, 5 none */
    char rv[24];
    snprintf(rv, sizeof(rv), "%lld", (long long)(mode == 4 ? sl->rv + 1 : sl->rv));
    kumo_store_delete_options o = {NULL, NULL, KUMO_STORE_PROPAGATION_BACKGROUND};
    if (mode == 1)
        o.uid = sl->uid;
    if (mode == 2)
        o.uid = "00000000-0000-4000-8000-000000000000";
    if (mode == 3 || mode == 4)
        o.resource_version = rv;
    snprintf(m->what, sizeof(m->what), "seq %d delete %s/%s mode %d", m->seq, m->ns[i / NAMES],
             NAME_OF[i % NAMES], mode);
    ProtobufCMessage *out = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    int64_t rev = 0;
    kumo_error err = kumo_store_delete(m->s, t_kind("Network"), m->ns[i / NAMES],
                                       NAME_OF[i % NAMES], &o, &out, &rev, &d);
    kumo_error want = !sl->exists                                ? KUMO_ERROR_NOT_FOUND
                      : (mode == 2 || (mode == 4 && sl->exists)) ? KUMO_ERROR_CONFLICT
                                                                 : KUMO_ERROR_OK;
    expect(m, err, want, &d);
    if (want == KUMO_ERROR_OK) {
        if (sl->fin) {
            if (!sl->deleting) {
                sl->deleting = 1;
                sl->rv = ++m->rev;
            }
            expect_rev(m, rev, sl->rv);
            check_object(m, i, out, sl->rv);
        } else {
            ++m->rev;
            expect_rev(m, rev, m->rev);
            check_object(m, i, out, m->rev);
            sl->exists = 0;
        }
    }
    kumo_diag_fini(&d);
    kumo_object_destroy(out);
}

static void op_list(model *m)
{
    int ns = rnd(m, NS), sel = rnd(m, 5);
    static const char *const SELECTORS[] = {"", "app=web", "app!=web", "!app", "app in (db,cache)"};
    size_t limit = (size_t)rnd(m, 3);
    snprintf(m->what, sizeof(m->what), "seq %d list %s \"%s\" limit %zu", m->seq, m->ns[ns],
             SELECTORS[sel], limit);
    char want[512] = "", got[512] = "";
    size_t wl = 0, gl = 0;
    for (int n = 0; n < NAMES; n++) {
        const slot *sl = &m->slots[ns * NAMES + n];
        int match = sel == 0 || (sel == 1 && sl->app == 1) || (sel == 2 && sl->app != 1) ||
                    (sel == 3 && sl->app == 0) || (sel == 4 && (sl->app == 2 || sl->app == 3));
        if (sl->exists && match)
            wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%s@%lld,", NAME_OF[n],
                                   (long long)sl->rv);
    }
    char *token = NULL;
    do {
        kumo_store_list_options o = {m->ns[ns], SELECTORS[sel], NULL, limit, token};
        kumo_store_list_result r;
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_error err = kumo_store_list(m->s, t_kind("Network"), &o, &r, &d);
        free(token);
        token = NULL;
        expect(m, err, KUMO_ERROR_OK, &d);
        if (r.revision != m->rev)
            kumo_test_fail_(__FILE__, __LINE__, 1, "%s: list revision %lld, model %lld", m->what,
                            (long long)r.revision, (long long)m->rev);
        for (size_t k = 0; k < r.count; k++)
            gl += (size_t)snprintf(got + gl, sizeof(got) - gl, "%s@%s,",
                                   kumo_object_name(r.items[k]), t_rv(r.items[k]));
        token = r.continue_token;
        r.continue_token = NULL;
        kumo_store_list_result_fini(&r);
        kumo_diag_fini(&d);
    } while (token);
    if (strcmp(want, got) != 0)
        kumo_test_fail_(__FILE__, __LINE__, 1, "%s: got \"%s\", model \"%s\"", m->what, got, want);
}

KUMO_TEST(model_random)
{
    const char *env = getenv("KUMO_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "  model_random seed=%u (replay: KUMO_TEST_SEED=%u)\n", seed, seed);
    const char *root = kumo_test_tmpdir();
    model *m = calloc(1, sizeof(*m));
    m->seed = seed;
    char dir[512];
    long ops = 0;
    for (int seq = 0; seq < SEQUENCES; seq++) {
        if (seq % 500 == 0) {
            kumo_store_close(m->s);
            snprintf(dir, sizeof(dir), "%s/s%d", root, seq / 500);
            mkdir(dir, 0700);
            m->s = t_open(dir, NULL);
            m->rev = 0;
        } else if (seq % 50 == 0) {
            kumo_store_close(m->s);
            m->s = t_open(dir, NULL);
        }
        m->seq = seq;
        memset(m->slots, 0, sizeof(m->slots));
        for (int n = 0; n < NS; n++)
            snprintf(m->ns[n], sizeof(m->ns[n]), "q%d-%c", seq, 'a' + n);
        int count = 5 + rnd(m, 30);
        for (int k = 0; k < count; k++, ops++) {
            int i = rnd(m, SLOTS);
            int op = rnd(m, 20);
            snprintf(m->what, sizeof(m->what), "seq %d op %d on %s/%s", seq, op, m->ns[i / NAMES],
                     NAME_OF[i % NAMES]);
            if (op < 5)
                op_create(m, i);
            else if (op < 8)
                op_get(m, i);
            else if (op < 12)
                op_update(m, i);
            else if (op < 14)
                op_status(m, i);
            else if (op < 15)
                op_patch(m, i);
            else if (op < 18)
                op_delete(m, i);
            else
                op_list(m);
        }
        if (kumo_store_revision(m->s) != m->rev)
            kumo_test_fail_(__FILE__, __LINE__, 1, "seq %d: store revision %lld, model %lld", seq,
                            (long long)kumo_store_revision(m->s), (long long)m->rev);
    }
    fprintf(stderr, "  %d sequences, %ld operations, identical\n", SEQUENCES, ops);
    kumo_store_close(m->s);
    free(m);
}
