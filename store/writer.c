/*
 * writer.c - the single writer and its group commit.
 *
 * Callers queue requests (store_submit) and sleep on their own semaphore.
 * The writer takes every queued request (up to max_batch), applies
 * them in order in one write transaction, lets garbage collection and
 * compaction do a bounded step in the same transaction, commits once (LMDB's
 * default, fully synced commit: data pages fdatasync'd, then the meta page
 * written synchronously), calls the commit hook, and only then wakes the
 * callers. While it syncs, new requests pile up for the next batch, so the
 * cost of a sync is shared by everybody who arrived meanwhile.
 *
 * Failures: a request refused for its own reasons (NotFound, Conflict, ...)
 * changes nothing and does not affect the others. An LMDB failure abandons
 * the transaction: MDB_MAP_FULL grows the map and re-runs the batch
 * (requests are re-applied from scratch; see txn.c), MDB_TXN_FULL re-runs
 * the first half and queues the rest again, anything else fails every
 * request of the batch with STORAGE.
 *
 * Gathering: callers woken by one commit come back with their next request
 * within a fraction of a commit; when fewer are queued than the last batch
 * had, the writer waits for them (at most half a commit, 1 ms), and callers
 * only signal the writer when it actually waits for them (wake_at), so one
 * batch costs one wake-up of the writer, not one per caller.
 *
 * When idle, the writer wakes every compact_interval_ms to compact and to
 * continue a garbage-collection cascade.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/log/log.h"
#include "apis/metrics/metrics.h"

#define GC_BUDGET          512
#define COMPACT_BUDGET     256
#define GATHER_MAX_SECONDS 0.001

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void txn_fini(store_txn *t)
{
    for (size_t i = 0; i < t->event_count; i++)
        if (t->event_owned[i])
            kumo_object_destroy(t->events[i].object);
    t->event_count = 0;
}

static void txn_free(store_txn *t)
{
    txn_fini(t);
    free(t->events);
    free(t->event_owned);
    store_buf_fini(&t->pack);
    store_buf_fini(&t->spec_old);
    store_buf_fini(&t->spec_new);
    store_buf_fini(&t->crypt);
    store_buf_fini(&t->record);
    store_buf_fini(&t->scratch);
}

static int meta_put_u64(store_txn *t, const char *name, uint64_t value)
{
    uint8_t b[8];
    store_be64_put(b, value);
    MDB_val k = {strlen(name), (void *)name}, v = {8, b};
    return mdb_put(t->txn, t->store->dbi_meta, &k, &v, 0);
}

typedef struct batch_work {
    int gc_more;
    int compact_more;
} batch_work;

/* Resets the transaction state for a new attempt and begins the LMDB transaction. */
static void batch_begin(kumo_store *s, store_txn *t, batch_work *work)
{
    t->store = s;
    t->revision = s->revision;
    t->compacted = s->compacted;
    t->now_ms = now_ms();
    t->rc = 0;
    t->rc_where = NULL;
    t->wrote_encrypted = 0;
    t->gc_queued = 0;
    work->gc_more = work->compact_more = 0;
    int rc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
    if (rc != 0) {
        t->rc = rc;
        t->rc_where = "begin";
    }
}

/* The requests, then garbage collection and compaction, then the meta records. */
static void batch_write(kumo_store *s, store_request **reqs, size_t n, store_txn *t,
                        batch_work *work, int maintenance)
{
    int rc;
    for (size_t i = 0; i < n && !t->rc; i++) {
        kumo_diag_fini(reqs[i]->diag);
        store_txn_apply(t, reqs[i]);
    }
    /* maintenance ticks also look, so that a cascade cut short by an error resumes */
    if (!t->rc && (s->gc_pending || t->gc_queued || (maintenance && n == 0)))
        work->gc_more = store_gc_step(t, GC_BUDGET);
    if (!t->rc && maintenance)
        work->compact_more = store_compact_step(t, n ? COMPACT_BUDGET / 4 + n : COMPACT_BUDGET);
    if (!t->rc && t->wrote_encrypted && !s->encrypted_written) {
        MDB_val k = {9, "encrypted"}, v = {1, "\1"};
        rc = mdb_put(t->txn, s->dbi_meta, &k, &v, 0);
        if (rc != 0)
            store_txn_fail(t, rc, "meta");
    }
    if (!t->rc && t->revision != s->revision &&
        (rc = meta_put_u64(t, "revision", (uint64_t)t->revision)))
        store_txn_fail(t, rc, "meta");
    if (!t->rc && t->compacted != s->compacted &&
        (rc = meta_put_u64(t, "compacted", (uint64_t)t->compacted)))
        store_txn_fail(t, rc, "meta");
}

/* Commits (or aborts after a failure); on success the store takes the new state. */
static int batch_end(kumo_store *s, store_txn *t, const batch_work *work)
{
    if (!t->rc) {
        int rc = mdb_txn_commit(t->txn);
        t->txn = NULL;
        if (rc != 0)
            store_txn_fail(t, rc, "commit");
    } else if (t->txn) {
        mdb_txn_abort(t->txn);
        t->txn = NULL;
    }
    if (t->rc)
        return 0;
    s->revision = t->revision;
    s->compacted = t->compacted;
    s->gc_pending = work->gc_more;
    if (t->wrote_encrypted)
        s->encrypted_written = 1;
    return 1;
}

/* Every request of a batch that could not be written gets the error. */
static void batch_fail(kumo_store *s, store_request **reqs, size_t n, int failed, const char *where,
                       const kumo_diag *diag)
{
    KUMO_LOG_ERROR("store", "write transaction failed", "path=%s where=%s lmdb=%d error=\"%s\"",
                   s->path, where, failed, mdb_strerror(failed));
    for (size_t i = 0; i < n; i++) {
        if (diag->code != KUMO_ERROR_OK)
            kumo_diag_copy(reqs[i]->diag, diag);
        else
            kumo_diag_set_foreign(reqs[i]->diag, KUMO_ERROR_STORAGE, "lmdb", failed,
                                  "store write failed (%s): %s", where, mdb_strerror(failed));
        reqs[i]->err = diag->code != KUMO_ERROR_OK ? diag->code : KUMO_ERROR_STORAGE;
        reqs[i]->revision = 0;
    }
    s->gc_pending = 0; /* retried at the next idle tick */
}

/*
 * Runs reqs[0..n) (n may be 0: maintenance only) in one transaction. Returns how many
 * requests were consumed (the rest go back to the queue). A full map grows and the
 * batch runs again; a transaction too big for LMDB runs again with half the requests.
 */
static size_t run_batch(kumo_store *s, store_request **reqs, size_t n, store_txn *t,
                        batch_work *work, int maintenance)
{
    for (;;) {
        batch_begin(s, t, work);
        batch_write(s, reqs, n, t, work, maintenance);
        if (batch_end(s, t, work))
            return n;
        /* the transaction is gone: nothing of it happened */
        txn_fini(t);
        kumo_diag diag;
        kumo_diag_init(&diag);
        int failed = t->rc;
        const char *where = t->rc_where ? t->rc_where : "write";
        if (failed == MDB_MAP_FULL && store_map_grow(s, &diag) == KUMO_ERROR_OK)
            continue;
        if (failed == MDB_TXN_FULL && n > 1) {
            n /= 2;
            continue;
        }
        batch_fail(s, reqs, n, failed, where, &diag);
        kumo_diag_fini(&diag);
        return n;
    }
}

static void call_hook(kumo_store *s, store_txn *t)
{
    pthread_mutex_lock(&s->lock);
    kumo_store_commit_hook hook = s->hook;
    void *ctx = s->hook_ctx;
    pthread_mutex_unlock(&s->lock);
    if (hook != NULL && t->event_count > 0)
        hook(ctx, t->events, t->event_count);
}

/* Runs compaction transactions until nothing more is due. */
static void compact_all(kumo_store *s, store_txn *t)
{
    batch_work work = {0};
    do {
        run_batch(s, NULL, 0, t, &work, 1);
        call_hook(s, t);
        txn_fini(t);
        pthread_mutex_lock(&s->lock);
        s->committed_revision = s->revision;
        s->committed_compacted = s->compacted;
        pthread_mutex_unlock(&s->lock);
    } while ((work.compact_more || work.gc_more) && t->rc == 0);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Commit latency and batch size for /metrics (only this thread writes them). */
static void record_commit(double seconds, size_t batch)
{
    static const double latency_buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                             0.02,   0.05,  0.1,   0.5,   1};
    static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    static kumo_metrics_series *latency, *size;
    if (latency == NULL) {
        kumo_metrics_spec l = {.name = "kumo_store_commit_duration_seconds",
                               .help = "Time of one store write transaction (group commit).",
                               .type = KUMO_METRICS_HISTOGRAM,
                               .buckets = latency_buckets,
                               .bucket_count = sizeof(latency_buckets) / sizeof(double)};
        kumo_metrics_spec b = {.name = "kumo_store_commit_batch_size",
                               .help = "Write requests committed together.",
                               .type = KUMO_METRICS_HISTOGRAM,
                               .buckets = batch_buckets,
                               .bucket_count = sizeof(batch_buckets) / sizeof(double)};
        latency = kumo_metrics_series_get(kumo_metrics_family_get(&l), NULL);
        size = kumo_metrics_series_get(kumo_metrics_family_get(&b), NULL);
    }
    kumo_metrics_observe(latency, seconds);
    kumo_metrics_observe(size, (double)batch);
}

static struct timespec deadline_after(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = (long)(seconds * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec += ns % 1000000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/*
 * Group commit gathering: when fewer requests are queued than the last batch
 * had, the other callers are probably still on their way (they were woken by
 * the last commit and are preparing their next request). Waiting a fraction
 * of a commit for them doubles the batch instead of splitting the callers
 * into a big and a small batch that alternate.
 */
static void gather(kumo_store *s)
{
    if (s->queue_len >= s->last_batch || s->last_batch < 2 || s->stopping)
        return;
    double wait = s->commit_seconds / 2;
    if (wait > GATHER_MAX_SECONDS)
        wait = GATHER_MAX_SECONDS;
    struct timespec until = deadline_after(wait);
    s->wake_at = s->last_batch; /* one wake-up when they are all there, not one per caller */
    while (s->queue_len < s->last_batch && !s->stopping)
        if (pthread_cond_timedwait(&s->work_cond, &s->lock, &until) == ETIMEDOUT)
            break;
    s->wake_at = SIZE_MAX;
}

static void *writer_main(void *arg)
{
    kumo_store *s = arg;
    store_txn t;
    memset(&t, 0, sizeof(t));
    size_t cap = s->options.max_batch;
    store_request **reqs = malloc(cap * sizeof(*reqs));
    uint64_t next_maintenance = 0;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        uint64_t now = now_ms();
        int maintenance_due = now >= next_maintenance || s->gc_pending;
        if (s->queue_head == NULL && !maintenance_due) {
            if (s->stopping)
                break;
            struct timespec ts = deadline_after((double)(next_maintenance - now) / 1000.0);
            s->wake_at = 1;
            pthread_cond_timedwait(&s->work_cond, &s->lock, &ts);
            s->wake_at = SIZE_MAX;
            continue;
        }
        gather(s);
        size_t n = 0;
        while (s->queue_head != NULL && n < cap && reqs != NULL) {
            reqs[n++] = s->queue_head;
            s->queue_head = s->queue_head->next;
            s->queue_len--;
        }
        if (s->queue_head == NULL)
            s->queue_tail = NULL;
        pthread_mutex_unlock(&s->lock);

        int compact_requested = 0;
        for (size_t i = 0; i < n; i++)
            compact_requested |= reqs[i]->op == STORE_OP_COMPACT;
        batch_work work = {0};
        double started = seconds_now();
        size_t used = run_batch(s, reqs, n, &t, &work, maintenance_due || n > 0);
        if (n > 0) {
            s->commit_seconds = 0.8 * s->commit_seconds + 0.2 * (seconds_now() - started);
            record_commit(seconds_now() - started, used);
        }
        call_hook(s, &t);
        txn_fini(&t);
        if (compact_requested)
            compact_all(s, &t);
        if (work.compact_more || work.gc_more)
            next_maintenance = 0; /* more is due: go on at once */
        else if (maintenance_due)
            next_maintenance = now_ms() + s->options.compact_interval_ms;

        pthread_mutex_lock(&s->lock);
        s->committed_revision = s->revision;
        s->committed_compacted = s->compacted;
        if (n > 0)
            s->last_batch = n;
        /* requests not consumed (split batch) go back to the front, in order */
        for (size_t i = n; i > used; i--) {
            store_request *r = reqs[i - 1];
            r->next = s->queue_head;
            s->queue_head = r;
            if (s->queue_tail == NULL)
                s->queue_tail = r;
            s->queue_len++;
        }
        pthread_cond_broadcast(&s->commit_cond);
        pthread_mutex_unlock(&s->lock);
        /* wake the callers without holding the lock they would queue on */
        for (size_t i = 0; i < used; i++)
            sem_post(&reqs[i]->done);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    txn_free(&t);
    free(reqs);
    return NULL;
}

kumo_error store_writer_start(kumo_store *store, kumo_diag *diag)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&store->work_cond);
    pthread_cond_init(&store->work_cond, &attr);
    pthread_condattr_destroy(&attr);
    store->wake_at = SIZE_MAX;
    int rc = pthread_create(&store->writer, NULL, writer_main, store);
    if (rc != 0)
        return kumo_diag_set_foreign(diag, KUMO_ERROR_INTERNAL, "errno", rc,
                                     "cannot start the store writer: %s", strerror(rc));
    store->writer_started = 1;
    return KUMO_ERROR_OK;
}

void store_writer_stop(kumo_store *store)
{
    pthread_mutex_lock(&store->lock);
    store->stopping = 1;
    pthread_cond_broadcast(&store->work_cond);
    pthread_mutex_unlock(&store->lock);
    pthread_join(store->writer, NULL);
    store->writer_started = 0;
}

static void request_enqueue(kumo_store *s, store_request *req)
{
    req->next = NULL;
    if (s->queue_tail)
        s->queue_tail->next = req;
    else
        s->queue_head = req;
    s->queue_tail = req;
    s->queue_len++;
}

kumo_error store_submit(kumo_store *store, store_request *req)
{
    return store_submit_many(store, req, 1);
}

kumo_error store_submit_many(kumo_store *store, store_request *reqs, size_t count)
{
    if (store->read_only) {
        for (size_t i = 0; i < count; i++)
            reqs[i].err = kumo_diag_set(reqs[i].diag, KUMO_ERROR_FORBIDDEN,
                                        "store %s is open read-only", store->path);
        return KUMO_ERROR_FORBIDDEN;
    }
    for (size_t i = 0; i < count; i++)
        sem_init(&reqs[i].done, 0, 0);
    pthread_mutex_lock(&store->lock);
    if (store->stopping) {
        pthread_mutex_unlock(&store->lock);
        for (size_t i = 0; i < count; i++) {
            sem_destroy(&reqs[i].done);
            reqs[i].err = kumo_diag_set(reqs[i].diag, KUMO_ERROR_UNAVAILABLE, "store %s is closing",
                                        store->path);
        }
        return KUMO_ERROR_UNAVAILABLE;
    }
    for (size_t i = 0; i < count; i++)
        request_enqueue(store, &reqs[i]);
    /* the writer only needs a wake-up when it waits for this many; otherwise it will find
     * the request when it next looks at the queue */
    if (store->queue_len >= store->wake_at)
        pthread_cond_signal(&store->work_cond);
    pthread_mutex_unlock(&store->lock);
    for (size_t i = 0; i < count; i++) {
        while (sem_wait(&reqs[i].done) != 0)
            ; /* EINTR */
        sem_destroy(&reqs[i].done);
    }
    /* on success the prepared input is the stored result */
    for (size_t i = 0; i < count; i++) {
        if (reqs[i].err == KUMO_ERROR_OK) {
            reqs[i].result = reqs[i].input;
            reqs[i].input = NULL;
        }
    }
    return KUMO_ERROR_OK;
}

void kumo_store_set_commit_hook(kumo_store *store, kumo_store_commit_hook fn, void *ctx)
{
    pthread_mutex_lock(&store->lock);
    store->hook = fn;
    store->hook_ctx = ctx;
    pthread_mutex_unlock(&store->lock);
}

kumo_error kumo_store_wait(kumo_store *store, int64_t after_revision, int timeout_ms,
                           int64_t *revision_out)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&store->lock);
    kumo_error err = KUMO_ERROR_OK;
    while (store->committed_revision <= after_revision && !store->stopping) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&store->commit_cond, &store->lock);
        } else if (timeout_ms == 0 || pthread_cond_timedwait(&store->commit_cond, &store->lock,
                                                             &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (store->committed_revision <= after_revision)
        err = KUMO_ERROR_TIMEOUT;
    if (revision_out)
        *revision_out = store->committed_revision;
    pthread_mutex_unlock(&store->lock);
    return err;
}

kumo_error kumo_store_compact(kumo_store *store, kumo_diag *diag)
{
    store_request req;
    memset(&req, 0, sizeof(req));
    req.op = STORE_OP_COMPACT;
    req.diag = diag;
    kumo_error err = store_submit(store, &req);
    return err != KUMO_ERROR_OK ? err : req.err;
}
