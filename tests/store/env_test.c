/* env_test.c - the environment: lock, format stamp, map growth, group commit, secrets at rest. */
#include "tests/store/helpers.h"

#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

KUMO_TEST(lock_second_open)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store *s = t_open(dir, NULL);
    kumo_store_options o = t_options(dir);
    kumo_store *second = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_open(&o, &second, &d), KUMO_ERROR_LOCKED);
    KUMO_EXPECT(second == NULL);
    KUMO_EXPECT_CONTAINS(d.message, dir);
    KUMO_EXPECT_CONTAINS(d.message, "another kumod");
    char pid[32];
    snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
    KUMO_EXPECT_CONTAINS(d.message, pid);
    kumo_diag_fini(&d);
    /* another process is refused too */
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        kumo_store *c = NULL;
        kumo_error err = kumo_store_open(&o, &c, NULL);
        _exit(err == KUMO_ERROR_LOCKED ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    KUMO_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* once closed, it opens */
    kumo_store_close(s);
    s = t_open(dir, NULL);
    kumo_store_close(s);
}

/* Writes meta "format" with LMDB directly. */
static void poke_format(const char *dir, uint32_t format)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    KUMO_REQUIRE_INT_EQ(mdb_env_open(env, dir, 0, 0600), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    KUMO_REQUIRE_INT_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint8_t b[4] = {(uint8_t)(format >> 24), (uint8_t)(format >> 16), (uint8_t)(format >> 8),
                    (uint8_t)format};
    MDB_val k = {6, "format"}, v = {4, b};
    KUMO_REQUIRE_INT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    KUMO_REQUIRE_INT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

KUMO_TEST(format_version)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store *s = t_open(dir, NULL);
    ProtobufCMessage *a = t_create_network(s, "default", "a");
    kumo_store_close(s);
    poke_format(dir, KUMO_STORE_FORMAT_VERSION + 1);
    kumo_store_options o = t_options(dir);
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_open(&o, &s, &d), KUMO_ERROR_FORMAT);
    KUMO_EXPECT_CONTAINS(d.message, "newer than this kumo understands");
    KUMO_EXPECT_CONTAINS(d.message, dir);
    kumo_diag_fini(&d);
    /* refused read-only too, and nothing was changed by the attempts */
    o.read_only = 1;
    KUMO_EXPECT_INT_EQ(kumo_store_open(&o, &s, &d), KUMO_ERROR_FORMAT);
    kumo_diag_fini(&d);
    poke_format(dir, KUMO_STORE_FORMAT_VERSION);
    s = t_open(dir, NULL);
    ProtobufCMessage *got = NULL;
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("Network"), NULL, "a", &got, NULL, NULL),
                       KUMO_ERROR_OK);
    kumo_object_destroy(got);
    kumo_object_destroy(a);
    kumo_store_close(s);
}

KUMO_TEST(read_only)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_options o = t_options(dir);
    o.read_only = 1;
    kumo_store *s = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_open(&o, &s, &d), KUMO_ERROR_NOT_FOUND);
    kumo_diag_fini(&d);
    s = t_open(dir, NULL);
    ProtobufCMessage *a = t_create_network(s, "default", "a");
    ProtobufCMessage *c = t_credential("default", "c", "secretAccessKey", "s3cr3t");
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, c, NULL, NULL, NULL), KUMO_ERROR_OK);
    kumo_store_close(s);
    s = t_open(dir, &o);
    ProtobufCMessage *got = NULL;
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("Network"), NULL, "a", &got, NULL, NULL),
                       KUMO_ERROR_OK);
    kumo_object_destroy(got);
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("Credential"), NULL, "c", &got, NULL, NULL),
                       KUMO_ERROR_OK);
    kumo_object_destroy(got);
    KUMO_EXPECT_INT_EQ(kumo_store_create(s, a, NULL, NULL, &d), KUMO_ERROR_FORBIDDEN);
    KUMO_EXPECT_CONTAINS(d.message, "read-only");
    kumo_diag_fini(&d);
    kumo_store_close(s);
    kumo_object_destroy(a);
    kumo_object_destroy(c);
}

typedef struct reader_arg {
    kumo_store *s;
    int stop;
    long reads;
    int errors;
} reader_arg;

static void *reader(void *arg)
{
    reader_arg *r = arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
        ProtobufCMessage *got = NULL;
        if (kumo_store_get(r->s, t_kind("Network"), NULL, "first", &got, NULL, NULL) !=
            KUMO_ERROR_OK)
            r->errors++;
        kumo_object_destroy(got);
        r->reads++;
    }
    return NULL;
}

KUMO_TEST(map_growth)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_options o = t_options(dir);
    o.map_size = 1 << 20;
    o.map_size_max = 8 << 20;
    kumo_store *s = t_open(dir, &o);
    ProtobufCMessage *first = t_create_network(s, "default", "first");
    reader_arg r = {s, 0, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, reader, &r);
    char payload[2001];
    memset(payload, 'q', 2000);
    payload[2000] = '\0';
    enum { N = 200 };
    ProtobufCMessage *objs[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof(name), "o%03d", i);
        objs[i] = t_network("default", name, "10.0.0.0/16");
        t_annotation(objs[i], "kumo.dev/payload", payload);
    }
    kumo_diag d;
    kumo_diag_init(&d);
    /* one at a time, then in bulk: both grow the map as needed */
    for (int i = 0; i < N / 2; i++)
        KUMO_REQUIRE_INT_EQ(kumo_store_create(s, objs[i], NULL, NULL, &d), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(
        kumo_store_create_many(s, (const ProtobufCMessage *const *)objs + N / 2, N / 2, NULL, &d),
        KUMO_ERROR_OK);
    kumo_store_stats st;
    kumo_store_stats_get(s, &st, NULL);
    KUMO_EXPECT_INT_GT(st.map_size, 1 << 20);
    KUMO_EXPECT_INT_EQ(st.objects, N + 1);
    /* past map_size_max: a clear error, reads and smaller writes still fine */
    char *big = malloc(400001);
    memset(big, 'z', 400000);
    big[400000] = '\0';
    kumo_error err = KUMO_ERROR_OK;
    for (int i = 0; i < 40 && err == KUMO_ERROR_OK; i++) {
        char name[16];
        snprintf(name, sizeof(name), "big%02d", i);
        ProtobufCMessage *b = t_network("default", name, "10.0.0.0/16");
        t_network_state(b, "x");
        ((Kumo__V1alpha1__Network *)b)->status->provider_id = strdup(big);
        err = kumo_store_create(s, b, NULL, NULL, &d);
        kumo_object_destroy(b);
    }
    KUMO_EXPECT_INT_EQ(err, KUMO_ERROR_STORAGE);
    KUMO_EXPECT_CONTAINS(d.message, "raise map_size_max");
    kumo_diag_fini(&d);
    free(big);
    __atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    KUMO_EXPECT_INT_EQ(r.errors, 0);
    KUMO_EXPECT_INT_GT(r.reads, 0);
    ProtobufCMessage *got = NULL;
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("Network"), NULL, "o150", &got, NULL, NULL),
                       KUMO_ERROR_OK);
    kumo_object_destroy(got);
    kumo_store_close(s);
    /* a larger limit lets it go on */
    o.map_size_max = 64 << 20;
    s = t_open(dir, &o);
    ProtobufCMessage *more = t_create_network(s, "default", "more");
    kumo_object_destroy(more);
    kumo_store_close(s);
    for (int i = 0; i < N; i++)
        kumo_object_destroy(objs[i]);
    kumo_object_destroy(first);
}

typedef struct commit_count {
    pthread_mutex_t lock;
    int commits;
    int events;
} commit_count;

static void count_hook(void *ctx, const kumo_store_event *events, size_t count)
{
    (void)events;
    commit_count *c = ctx;
    pthread_mutex_lock(&c->lock);
    c->commits++;
    c->events += (int)count;
    pthread_mutex_unlock(&c->lock);
}

typedef struct gc_writer {
    kumo_store *s;
    int id;
    int ok;
    int conflicts;
} gc_writer;

static void *gc_writer_main(void *arg)
{
    gc_writer *w = arg;
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof(name), "w%02d-%02d", w->id, i);
        ProtobufCMessage *in = t_network("default", name, "10.0.0.0/16");
        if (kumo_store_create(w->s, in, NULL, NULL, NULL) == KUMO_ERROR_OK)
            w->ok++;
        kumo_object_destroy(in);
        /* everybody also fights over one shared object: exactly one wins each round */
        ProtobufCMessage *shared = NULL;
        if (kumo_store_get(w->s, t_kind("Network"), NULL, "shared", &shared, NULL, NULL) ==
            KUMO_ERROR_OK) {
            t_label(shared, "last", name);
            kumo_error err = kumo_store_update(w->s, shared, NULL, NULL, NULL);
            w->conflicts += err == KUMO_ERROR_CONFLICT;
            kumo_object_destroy(shared);
        }
    }
    return NULL;
}

KUMO_TEST(group_commit_concurrent)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    commit_count cc = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    ProtobufCMessage *shared = t_create_network(s, "default", "shared");
    kumo_store_set_commit_hook(s, count_hook, &cc);
    enum { W = 16 };
    pthread_t th[W];
    gc_writer w[W];
    for (int i = 0; i < W; i++) {
        w[i] = (gc_writer){s, i, 0, 0};
        pthread_create(&th[i], NULL, gc_writer_main, &w[i]);
    }
    int ok = 0, conflicts = 0;
    for (int i = 0; i < W; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        conflicts += w[i].conflicts;
    }
    KUMO_EXPECT_INT_EQ(ok, W * 40);
    kumo_store_stats st;
    kumo_store_stats_get(s, &st, NULL);
    KUMO_EXPECT_INT_EQ(st.objects, W * 40 + 1);
    /* every successful shared update is one revision */
    int updates = W * 40 - conflicts;
    KUMO_EXPECT_INT_EQ(kumo_store_revision(s), 1 + W * 40 + updates);
    KUMO_EXPECT_INT_EQ(cc.events, W * 40 + updates);
    fprintf(stderr, "  %d writes in %d commits (%.1f per commit), %d conflicts\n", cc.events,
            cc.commits, (double)cc.events / cc.commits, conflicts);
    /* concurrent callers were batched: fewer commits than writes */
    KUMO_EXPECT_INT_LT(cc.commits, cc.events);
    kumo_store_set_commit_hook(s, NULL, NULL);
    kumo_object_destroy(shared);
    kumo_store_close(s);
}

/* ---- secrets at rest ---------------------------------------------------------------- */

static const char SECRET[] = "AKIA-SUPER-SECRET-4f2b9c7e1d";
static const char SECRET2[] = "rotated-SECRET-value-77aa31";

KUMO_TEST(no_plaintext)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store_options o = t_options(dir);
    o.keep_revisions = 1000;
    kumo_store *s = t_open(dir, &o);
    ProtobufCMessage *c = t_credential("default", "aws", "secretAccessKey", SECRET), *out = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, c, &out, NULL, NULL), KUMO_ERROR_OK);
    /* the store hands it back decrypted */
    const Kumo__V1alpha1__Credential *oc = (const Kumo__V1alpha1__Credential *)out;
    KUMO_EXPECT_STR_EQ(oc->spec->data[0]->value, SECRET);
    kumo_object_destroy(out);
    /* rotate it, give it a status, keep history in the log */
    Kumo__V1alpha1__Credential *cc = (Kumo__V1alpha1__Credential *)c;
    free(cc->spec->data[0]->value);
    cc->spec->data[0]->value = strdup(SECRET2);
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, c, NULL, NULL, NULL), KUMO_ERROR_OK);
    ProtobufCMessage *c2 = t_credential("default", "gone", "k", SECRET);
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, c2, NULL, NULL, NULL), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(
        kumo_store_delete(s, t_kind("Credential"), "default", "gone", NULL, NULL, NULL, NULL),
        KUMO_ERROR_OK);
    /* a plain object for comparison: its bytes are findable */
    ProtobufCMessage *n = t_network("default", "plain", "10.0.0.0/16");
    t_annotation(n, "kumo.dev/note", "PLAINTEXT-MARKER-5150");
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, n, NULL, NULL, NULL), KUMO_ERROR_OK);
    /* the log returns every version decrypted */
    kumo_store_event *ev = NULL;
    size_t count = 0;
    int64_t next = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_watch_next(s, 0, NULL, 100, &ev, &count, &next, NULL),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(count, 5);
    KUMO_EXPECT_STR_EQ(((Kumo__V1alpha1__Credential *)ev[0].object)->spec->data[0]->value, SECRET);
    KUMO_EXPECT_STR_EQ(((Kumo__V1alpha1__Credential *)ev[1].object)->spec->data[0]->value, SECRET2);
    kumo_store_events_free(ev, count);
    kumo_store_close(s);
    KUMO_EXPECT_INT_GT(t_dir_contains(dir, "PLAINTEXT-MARKER-5150", 21), 0);
    KUMO_EXPECT_INT_EQ(t_dir_contains(dir, SECRET, strlen(SECRET)), 0);
    KUMO_EXPECT_INT_EQ(t_dir_contains(dir, SECRET2, strlen(SECRET2)), 0);
    /* nor a fragment of it */
    KUMO_EXPECT_INT_EQ(t_dir_contains(dir, "SUPER-SECRET", 12), 0);
    /* key file: 32 bytes, mode 0600 */
    char key[1024];
    snprintf(key, sizeof(key), "%s/secret.key", dir);
    struct stat st;
    KUMO_REQUIRE_INT_EQ(stat(key, &st), 0);
    KUMO_EXPECT_INT_EQ(st.st_mode & 0777, 0600);
    KUMO_EXPECT_INT_EQ(st.st_size, 32);
    kumo_object_destroy(c);
    kumo_object_destroy(c2);
    kumo_object_destroy(n);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    KUMO_REQUIRE_INT_GE(fd, 0);
    KUMO_REQUIRE_INT_EQ(write(fd, data, len), (long long)len);
    close(fd);
}

KUMO_TEST(key_missing_wrong)
{
    const char *dir = kumo_test_tmpdir();
    char key[1024], saved[1024];
    snprintf(key, sizeof(key), "%s/secret.key", dir);
    snprintf(saved, sizeof(saved), "%s/saved.key", kumo_test_tmpdir());
    /* a store without Credentials does not depend on its key */
    kumo_store *s = t_open(dir, NULL);
    kumo_store_close(s);
    KUMO_REQUIRE_INT_EQ(unlink(key), 0);
    s = t_open(dir, NULL);
    ProtobufCMessage *c = t_credential("default", "aws", "secretAccessKey", SECRET);
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, c, NULL, NULL, NULL), KUMO_ERROR_OK);
    kumo_store_close(s);
    KUMO_REQUIRE_INT_EQ(rename(key, saved), 0);

    kumo_store_options o = t_options(dir);
    kumo_diag d;
    kumo_diag_init(&d);
    /* missing key with encrypted data: refused, no new key made */
    KUMO_EXPECT_INT_EQ(kumo_store_open(&o, &s, &d), KUMO_ERROR_CRYPTO);
    KUMO_EXPECT_CONTAINS(d.message, "missing");
    KUMO_EXPECT_CONTAINS(d.message, key);
    kumo_diag_fini(&d);
    KUMO_EXPECT(access(key, F_OK) != 0);
    /* a wrong key: refused */
    uint8_t wrong[32];
    for (int i = 0; i < 32; i++)
        wrong[i] = (uint8_t)(i * 7 + 1);
    write_file(key, wrong, sizeof(wrong));
    KUMO_EXPECT_INT_EQ(kumo_store_open(&o, &s, &d), KUMO_ERROR_CRYPTO);
    KUMO_EXPECT_CONTAINS(d.message, "is not the one");
    KUMO_EXPECT_CONTAINS(d.message, key);
    kumo_diag_fini(&d);
    /* a file that is not a key */
    write_file(key, "short", 5);
    KUMO_EXPECT_INT_EQ(kumo_store_open(&o, &s, &d), KUMO_ERROR_CRYPTO);
    KUMO_EXPECT_CONTAINS(d.message, "expected 32 bytes");
    kumo_diag_fini(&d);
    /* the right key: the secret comes back */
    KUMO_REQUIRE_INT_EQ(rename(saved, key), 0);
    s = t_open(dir, NULL);
    ProtobufCMessage *got = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_store_get(s, t_kind("Credential"), NULL, "aws", &got, NULL, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(((Kumo__V1alpha1__Credential *)got)->spec->data[0]->value, SECRET);
    kumo_object_destroy(got);
    got = NULL;
    kumo_store_close(s);
    /* a damaged record is an error naming the object, never garbage */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    KUMO_REQUIRE_INT_EQ(mdb_env_open(env, dir, 0, 0600), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    KUMO_REQUIRE_INT_EQ(mdb_dbi_open(txn, "objects", 0, &dbi), 0);
    MDB_val k = {sizeof("Credential\0default\0aws") - 1, "Credential\0default\0aws"}, v;
    KUMO_REQUIRE_INT_EQ(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - 1] ^= 0x5a;
    MDB_val nv = {v.mv_size, copy};
    KUMO_REQUIRE_INT_EQ(mdb_put(txn, dbi, &k, &nv, 0), 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    free(copy);
    s = t_open(dir, NULL);
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("Credential"), NULL, "aws", &got, NULL, &d),
                       KUMO_ERROR_CRYPTO);
    KUMO_EXPECT_CONTAINS(d.message, "cannot decrypt Credential \"aws\"");
    KUMO_EXPECT(got == NULL);
    kumo_diag_fini(&d);
    kumo_store_close(s);
    kumo_object_destroy(c);
}
