/*
 * env.c - opening and closing a store: the data directory, the process lock,
 * the LMDB environment and its named databases, the format stamp, map growth
 * and the pool of read transactions.
 *
 * The process lock is flock() on <dir>/kumo.lock: LMDB's own lock file lets
 * any number of processes write (they serialise), which would break the
 * single-writer assumptions (in-memory revision counter, group commit).
 *
 * Map growth follows LMDB's rule that mdb_env_set_mapsize needs no active
 * transaction in the process: readers hold resize_lock shared for the life of
 * a read transaction; the writer, between transactions, takes it exclusively.
 */
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/log/log.h"

void kumo_store_options_init(kumo_store_options *options)
{
    memset(options, 0, sizeof(*options));
    options->map_size = KUMO_STORE_DEFAULT_MAP_SIZE;
    options->map_size_max = KUMO_STORE_DEFAULT_MAP_SIZE_MAX;
    options->keep_revisions = KUMO_STORE_DEFAULT_KEEP_REVISIONS;
    options->keep_seconds = KUMO_STORE_DEFAULT_KEEP_SECONDS;
    options->max_object_bytes = KUMO_STORE_DEFAULT_MAX_OBJECT_BYTES;
    options->max_machines_per_infra = KUMO_STORE_DEFAULT_MAX_MACHINES_PER_INFRA;
    options->max_batch = KUMO_STORE_DEFAULT_MAX_BATCH;
    options->compact_interval_ms = STORE_COMPACT_INTERVAL_MS;
}

kumo_error store_lmdb_error(kumo_diag *diag, int rc, const char *what)
{
    if (rc == MDB_NOTFOUND)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_NOT_FOUND, "lmdb", rc, "%s: %s", what,
                                     mdb_strerror(rc));
    return kumo_diag_set_foreign(diag, KUMO_ERROR_STORAGE, "lmdb", rc, "%s: %s", what,
                                 mdb_strerror(rc));
}

/* ---- the process lock ---------------------------------------------------- */

static kumo_error lock_acquire(kumo_store *store, kumo_diag *diag)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/kumo.lock", store->path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", errno, "cannot open %s: %s",
                                     path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        if (n > 0) {
            pid[n] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
        }
        close(fd);
        if (err == EWOULDBLOCK)
            return kumo_diag_set_foreign(
                diag, KUMO_ERROR_LOCKED, "errno", err,
                "store %s is in use by another process (pid %s): another kumod is using it; "
                "stop it or choose another data directory",
                store->path, pid[0] ? pid : "unknown");
        return kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", err, "cannot lock %s: %s", path,
                                     strerror(err));
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        KUMO_LOG_WARN("store", "cannot write pid to lock file", "path=%s", path);
    store->lock_fd = fd;
    return KUMO_ERROR_OK;
}

/* ---- meta helpers ---------------------------------------------------------- */

static int meta_get_u64(kumo_store *store, MDB_txn *txn, const char *name, uint64_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, store->dbi_meta, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size == 8)
        *out = store_be64_get(v.mv_data);
    else if (v.mv_size == 4) {
        const uint8_t *p = v.mv_data;
        *out = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    } else if (v.mv_size == 1)
        *out = *(const uint8_t *)v.mv_data;
    else
        return MDB_CORRUPTED;
    return 0;
}

static int meta_put_u32(kumo_store *store, MDB_txn *txn, const char *name, uint32_t value)
{
    uint8_t b[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16), (uint8_t)(value >> 8),
                    (uint8_t)value};
    MDB_val k = {strlen(name), (void *)name}, v = {4, b};
    return mdb_put(txn, store->dbi_meta, &k, &v, 0);
}

/* Opens the named databases and checks or stamps the format. */
static kumo_error open_databases(kumo_store *store, MDB_txn *txn, kumo_diag *diag)
{
    unsigned flags = store->read_only ? 0 : MDB_CREATE;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"meta", &store->dbi_meta},     {"objects", &store->dbi_objects},
               {"log", &store->dbi_log},       {"deleted", &store->dbi_deleted},
               {"owners", &store->dbi_owners}, {"gc", &store->dbi_gc}};
    /* meta first: a newer format must be refused before anything is created */
    int rc = mdb_dbi_open(txn, "meta", flags, &store->dbi_meta);
    if (rc == MDB_NOTFOUND)
        return kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, "no kumo store in %s", store->path);
    if (rc != 0)
        return store_lmdb_error(diag, rc, "open database meta");
    uint64_t format = 0;
    rc = meta_get_u64(store, txn, "format", &format);
    if (rc == 0 && format > KUMO_STORE_FORMAT_VERSION)
        return kumo_diag_set(diag, KUMO_ERROR_FORMAT,
                             "store %s has data format %llu, newer than this kumo understands "
                             "(%d): upgrade kumo, or open a copy made before the upgrade",
                             store->path, (unsigned long long)format, KUMO_STORE_FORMAT_VERSION);
    if (rc == 0 && format < 1)
        return kumo_diag_set(diag, KUMO_ERROR_FORMAT, "store %s has an invalid data format %llu",
                             store->path, (unsigned long long)format);
    if (rc == MDB_NOTFOUND) {
        if (store->read_only)
            return kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, "no kumo store in %s", store->path);
        rc = meta_put_u32(store, txn, "format", KUMO_STORE_FORMAT_VERSION);
        if (rc == 0)
            KUMO_LOG_INFO("store", "new store", "path=%s format=%d", store->path,
                          KUMO_STORE_FORMAT_VERSION);
    }
    if (rc != 0)
        return store_lmdb_error(diag, rc, "read store format");
    for (size_t i = 1; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
        if (rc != 0)
            return store_lmdb_error(diag, rc, "open database");
    }
    uint64_t value = 0;
    store->revision = meta_get_u64(store, txn, "revision", &value) == 0 ? (int64_t)value : 0;
    value = 0;
    store->compacted = meta_get_u64(store, txn, "compacted", &value) == 0 ? (int64_t)value : 0;
    value = 0;
    store->encrypted_written = meta_get_u64(store, txn, "encrypted", &value) == 0 && value;
    /* one pending GC entry is enough to make the writer look */
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, store->dbi_gc, &cur) == 0) {
        MDB_val k, v;
        store->gc_pending = mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0;
        mdb_cursor_close(cur);
    }
    return KUMO_ERROR_OK;
}

static kumo_error make_dir(const char *path, kumo_diag *diag)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                                 "store path %s is not a directory", path);
        return KUMO_ERROR_OK;
    }
    if (mkdir(path, 0700) != 0)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_IO, "errno", errno,
                                     "cannot create store directory %s: %s", path, strerror(errno));
    return KUMO_ERROR_OK;
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/* The options with every 0 replaced by its default; paths point into the store. */
static void options_fill(kumo_store *store, const kumo_store_options *options)
{
    store->options = *options;
    store->read_only = options->read_only;
    store->path = dup_string(options->path);
    char key_path[4096];
    if (options->key_file && options->key_file[0])
        snprintf(key_path, sizeof(key_path), "%s", options->key_file);
    else
        snprintf(key_path, sizeof(key_path), "%s/secret.key", options->path);
    store->key_path = dup_string(key_path);
    kumo_store_options *o = &store->options;
    o->path = store->path;
    o->key_file = store->key_path;
    if (o->map_size == 0)
        o->map_size = KUMO_STORE_DEFAULT_MAP_SIZE;
    if (o->map_size_max == 0)
        o->map_size_max = KUMO_STORE_DEFAULT_MAP_SIZE_MAX;
    if (o->map_size_max < o->map_size)
        o->map_size_max = o->map_size;
    if (o->max_object_bytes == 0)
        o->max_object_bytes = KUMO_STORE_DEFAULT_MAX_OBJECT_BYTES;
    if (o->max_machines_per_infra <= 0)
        o->max_machines_per_infra = KUMO_STORE_DEFAULT_MAX_MACHINES_PER_INFRA;
    if (o->max_batch == 0)
        o->max_batch = KUMO_STORE_DEFAULT_MAX_BATCH;
    if (o->compact_interval_ms == 0)
        o->compact_interval_ms = STORE_COMPACT_INTERVAL_MS;
}

/* The locks and condition variables that kumo_store_close destroys. */
static void sync_init(kumo_store *store)
{
    pthread_rwlockattr_t rwattr;
    pthread_rwlockattr_init(&rwattr);
    /* a waiting resize must not starve behind a stream of readers */
    pthread_rwlockattr_setkind_np(&rwattr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&store->resize_lock, &rwattr);
    pthread_rwlockattr_destroy(&rwattr);
    pthread_mutex_init(&store->pool_lock, NULL);
    pthread_mutex_init(&store->lock, NULL);
    pthread_cond_init(&store->work_cond, NULL);
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&store->commit_cond, &cattr);
    pthread_condattr_destroy(&cattr);
}

/* The LMDB environment of store->path, and the map size it has. */
static kumo_error env_open(kumo_store *store, kumo_diag *diag)
{
    int rc = mdb_env_create(&store->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(store->env, STORE_LMDB_MAX_DBS);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(store->env, STORE_LMDB_MAX_READERS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(store->env, store->options.map_size);
    if (rc == 0)
        rc = mdb_env_open(store->env, store->path, MDB_NOTLS | (store->read_only ? MDB_RDONLY : 0u),
                          0600);
    if (rc != 0) {
        if (rc == ENOENT && store->read_only)
            return kumo_diag_set(diag, KUMO_ERROR_NOT_FOUND, "no kumo store in %s", store->path);
        return kumo_diag_set_foreign(diag, KUMO_ERROR_STORAGE, "lmdb", rc,
                                     "cannot open store %s: %s", store->path, mdb_strerror(rc));
    }
    int stale = 0;
    mdb_reader_check(store->env, &stale);
    MDB_envinfo info;
    mdb_env_info(store->env, &info);
    store->map_size = info.me_mapsize;
    return KUMO_ERROR_OK;
}

/* The named databases, the format stamp, the revision counters and the key. */
static kumo_error databases_open(kumo_store *store, kumo_diag *diag)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(store->env, NULL, store->read_only ? MDB_RDONLY : 0, &txn);
    if (rc != 0)
        return store_lmdb_error(diag, rc, "begin transaction");
    kumo_error err = open_databases(store, txn, diag);
    if (err == KUMO_ERROR_OK)
        err = store_crypto_open(store, txn, store->encrypted_written, diag);
    if (err == KUMO_ERROR_OK) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
        if (rc != 0)
            err = store_lmdb_error(diag, rc, "commit");
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    store->committed_revision = store->revision;
    store->committed_compacted = store->compacted;
    return err;
}

kumo_error kumo_store_open(const kumo_store_options *options, kumo_store **out, kumo_diag *diag)
{
    *out = NULL;
    if (options == NULL || options->path == NULL || options->path[0] == '\0')
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "store path is required");
    kumo_store *store = calloc(1, sizeof(*store));
    if (store == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    store->lock_fd = -1;
    options_fill(store, options);
    sync_init(store);
    if (store->path == NULL || store->key_path == NULL) {
        kumo_store_close(store);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    kumo_error err = store->read_only ? KUMO_ERROR_OK : make_dir(store->path, diag);
    if (err == KUMO_ERROR_OK && !store->read_only)
        err = lock_acquire(store, diag);
    if (err == KUMO_ERROR_OK)
        err = env_open(store, diag);
    if (err == KUMO_ERROR_OK)
        err = databases_open(store, diag);
    if (err == KUMO_ERROR_OK)
        KUMO_LOG_INFO("store", "store opened",
                      "path=%s revision=%lld compacted=%lld map_size=%zu%s", store->path,
                      (long long)store->revision, (long long)store->compacted, store->map_size,
                      store->read_only ? " read_only=1" : "");
    /* from here on, revision, compacted and map_size belong to the writer */
    if (err == KUMO_ERROR_OK && !store->read_only)
        err = store_writer_start(store, diag);
    if (err != KUMO_ERROR_OK) {
        kumo_store_close(store);
        return err;
    }
    *out = store;
    return KUMO_ERROR_OK;
}

void kumo_store_close(kumo_store *store)
{
    if (store == NULL)
        return;
    if (store->writer_started)
        store_writer_stop(store);
    for (size_t i = 0; i < store->pool_count; i++)
        mdb_txn_abort(store->pool[i]);
    free(store->pool);
    if (store->env != NULL)
        mdb_env_close(store->env);
    if (store->lock_fd >= 0)
        close(store->lock_fd); /* releases the flock */
    pthread_rwlock_destroy(&store->resize_lock);
    pthread_mutex_destroy(&store->pool_lock);
    pthread_mutex_destroy(&store->lock);
    pthread_cond_destroy(&store->work_cond);
    pthread_cond_destroy(&store->commit_cond);
    if (store->path)
        KUMO_LOG_DEBUG("store", "store closed", "path=%s", store->path);
    memset(store->key, 0, sizeof(store->key));
    free(store->path);
    free(store->key_path);
    free(store);
}

/* ---- read transactions ------------------------------------------------------ */

kumo_error store_read_begin(kumo_store *store, MDB_txn **txn, kumo_diag *diag)
{
    *txn = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&store->resize_lock);
        MDB_txn *t = NULL;
        pthread_mutex_lock(&store->pool_lock);
        if (store->pool_count > 0)
            t = store->pool[--store->pool_count];
        pthread_mutex_unlock(&store->pool_lock);
        int rc = t ? mdb_txn_renew(t) : mdb_txn_begin(store->env, NULL, MDB_RDONLY, &t);
        if (rc == 0) {
            *txn = t;
            return KUMO_ERROR_OK;
        }
        if (t != NULL)
            mdb_txn_abort(t);
        pthread_rwlock_unlock(&store->resize_lock);
        if (rc != MDB_MAP_RESIZED || attempt == 1)
            return store_lmdb_error(diag, rc, "begin read transaction");
        /* another process grew the map: adopt its size */
        pthread_rwlock_wrlock(&store->resize_lock);
        mdb_env_set_mapsize(store->env, 0);
        pthread_rwlock_unlock(&store->resize_lock);
    }
    return KUMO_ERROR_INTERNAL;
}

void store_read_end(kumo_store *store, MDB_txn *txn)
{
    if (txn == NULL)
        return;
    mdb_txn_reset(txn);
    pthread_mutex_lock(&store->pool_lock);
    if (store->pool_count == store->pool_cap) {
        size_t cap = store->pool_cap ? store->pool_cap * 2 : 16;
        MDB_txn **grown = realloc(store->pool, cap * sizeof(*grown));
        if (grown != NULL) {
            store->pool = grown;
            store->pool_cap = cap;
        }
    }
    if (store->pool_count < store->pool_cap) {
        store->pool[store->pool_count++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&store->pool_lock);
    if (txn != NULL)
        mdb_txn_abort(txn);
    pthread_rwlock_unlock(&store->resize_lock);
}

kumo_error store_map_grow(kumo_store *store, kumo_diag *diag)
{
    size_t max = store->options.map_size_max;
    if (store->map_size >= max)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_STORAGE, "lmdb", MDB_MAP_FULL,
                                     "store %s is full: its map size reached the limit of %zu "
                                     "bytes; raise map_size_max",
                                     store->path, max);
    size_t next = store->map_size * 2;
    if (next > max || next < store->map_size)
        next = max;
    pthread_rwlock_wrlock(&store->resize_lock);
    int rc = mdb_env_set_mapsize(store->env, next);
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(store->env, &info);
        store->map_size = info.me_mapsize;
    }
    pthread_rwlock_unlock(&store->resize_lock);
    if (rc != 0)
        return store_lmdb_error(diag, rc, "grow map");
    KUMO_LOG_INFO("store", "map grown", "path=%s map_size=%zu", store->path, store->map_size);
    return KUMO_ERROR_OK;
}

/* ---- state ---------------------------------------------------------------- */

int64_t kumo_store_revision(kumo_store *store)
{
    pthread_mutex_lock(&store->lock);
    int64_t r = store->committed_revision;
    pthread_mutex_unlock(&store->lock);
    return r;
}

int64_t kumo_store_compacted_revision(kumo_store *store)
{
    pthread_mutex_lock(&store->lock);
    int64_t r = store->committed_compacted;
    pthread_mutex_unlock(&store->lock);
    return r;
}

kumo_error kumo_store_stats_get(kumo_store *store, kumo_store_stats *out, kumo_diag *diag)
{
    memset(out, 0, sizeof(*out));
    MDB_txn *txn;
    kumo_error err = store_read_begin(store, &txn, diag);
    if (err != KUMO_ERROR_OK)
        return err;
    MDB_stat st;
    if (mdb_stat(txn, store->dbi_objects, &st) == 0)
        out->objects = st.ms_entries;
    if (mdb_stat(txn, store->dbi_log, &st) == 0)
        out->log_entries = st.ms_entries;
    MDB_envinfo info;
    mdb_env_info(store->env, &info);
    MDB_stat envst;
    mdb_env_stat(store->env, &envst);
    out->map_size = info.me_mapsize;
    out->used_bytes = (info.me_last_pgno + 1) * (size_t)envst.ms_psize;
    store_read_end(store, txn);
    pthread_mutex_lock(&store->lock);
    out->revision = store->committed_revision;
    out->compacted_revision = store->committed_compacted;
    pthread_mutex_unlock(&store->lock);
    char path[4096];
    snprintf(path, sizeof(path), "%s/data.mdb", store->path);
    struct stat fst;
    if (stat(path, &fst) == 0)
        out->file_bytes = (size_t)fst.st_size;
    return KUMO_ERROR_OK;
}
