/*
 * state.c - one fake cloud account kept in one state file.
 *
 * The file is a header followed by records; each record is
 *     u32 magic "KSR1" | u32 payload length | u32 CRC-32 of payload | payload
 * (little-endian), the payload being a model.c text record: a put (the whole
 * current value of one resource), a del, or a meta (id salt and counters).
 * Replaying the records in order rebuilds the account. Every change appends a
 * record and returns only once it is durable: writers queue records in
 * memory, and one of them (the leader) writes and fdatasyncs everything
 * queued for all (group commit), so 1000 changes per second cost far fewer
 * than 1000 fsyncs. A kill -9 at any moment leaves at worst a torn last
 * record, which the next writable open cuts off; no acknowledged change is in
 * it. When the file has grown past compact_bytes and twice its live size, it
 * is rewritten (snapshot to PATH.compact, fsync, rename, fsync the folder).
 *
 * One process writes a state file at a time: PATH.lock is flocked and holds
 * the writer's pid. Readers (kumo-sim inventory) replay without the lock.
 */
#include "drivers/sim/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEADER       "KUMOSIMSTATE v2\n" /* v2: records in the driver kit's state format */
#define HEADER_SIZE  16
#define RECORD_MAGIC 0x3152534bu /* "KSR1" */
#define RECORD_HEAD  12
#define MAX_RECORD   (64u << 20)
#define PUBLIC_BASE  0xc6120000u /* 198.18.0.0/15, the benchmarking range */
#define PUBLIC_SIZE  (1u << 17)

/* ---- Logging ------------------------------------------------------------ */

static void log_stderr(int level, const char *message)
{
    static const char *const words[] = {"debug", "info", "warning", "error"};
    if (level >= KUMO_DRIVER_LOG_INFO)
        fprintf(stderr, "kumo-sim: %s: %s\n", words[level & 3], message);
}

void (*sim_log_hook)(int level, const char *message) = log_stderr;

void sim_log(int level, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sim_log_hook(level, line);
}

/* ---- CRC-32 (IEEE) ------------------------------------------------------ */

static uint32_t crc32_of(const void *data, size_t len)
{
    static uint32_t table[256];
    static int ready; /* benign race: every thread computes the same table */
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t c = 0xffffffffu;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        c = table[(c ^ p[i]) & 255] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void frame(struct kumo_driver_kit_buf *out, const struct kumo_driver_kit_buf *payload)
{
    unsigned char head[RECORD_HEAD];
    put_u32(head, RECORD_MAGIC);
    put_u32(head + 4, (uint32_t)payload->len);
    put_u32(head + 8, crc32_of(payload->data, payload->len));
    kumo_driver_kit_buf_add(out, head, sizeof(head));
    kumo_driver_kit_buf_add(out, payload->data, payload->len);
}

/* ---- Ids and randomness ------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t sim_state_random(struct sim_state *st)
{
    st->rng += 0x9e3779b97f4a7c15ull;
    return mix64(st->rng);
}

void sim_state_new_id(struct sim_state *st, const char *prefix, char *buf, size_t size,
                      uint64_t *serial)
{
    *serial = st->next_serial++;
    /* mix64 is a bijection: distinct serials give distinct ids, forever. */
    snprintf(buf, size, "%s%016" PRIx64, prefix, mix64(st->salt ^ *serial));
}

/* ---- Indexes ------------------------------------------------------------ */

/* The newest resource (highest serial) with a token owns the token's entry,
 * whatever order records are replayed in. */
static int index_add(struct sim_state *st, struct sim_object *o)
{
    if (o->token_key == NULL && o->token != NULL) {
        size_t n = strlen(o->token) + strlen(o->provider) + strlen(o->region) + 32;
        o->token_key = malloc(n);
        if (o->token_key == NULL)
            return -1;
        snprintf(o->token_key, n, "%s|%s|%s|%s", sim_kind_name(o->kind), o->provider, o->region,
                 o->token);
    }
    if (sim_map_put(&st->by_id, o->id, o) != 0)
        return -1;
    for (size_t i = 0; i < o->subnet_count; i++)
        if (sim_map_put(&st->by_id, o->subnets[i].id, o) != 0)
            return -1;
    if (o->token_key != NULL) {
        const struct sim_object *holder = sim_map_get(&st->by_token, o->token_key);
        if ((holder == NULL || holder->serial <= o->serial) &&
            sim_map_put(&st->by_token, o->token_key, o) != 0)
            return -1;
    }
    return sim_state_index_ips(st, o);
}

int sim_state_index_ips(struct sim_state *st, struct sim_object *m)
{
    if (m->ip_key != NULL && sim_map_put(&st->by_ip, m->ip_key, m) != 0)
        return -1;
    if (m->public_ip_key != NULL && sim_map_put(&st->by_ip, m->public_ip_key, m) != 0)
        return -1;
    return 0;
}

static void remove_if_mine(struct sim_map *m, const char *key, const struct sim_object *o)
{
    if (key != NULL && sim_map_get(m, key) == o)
        sim_map_remove(m, key);
}

static void index_remove(struct sim_state *st, struct sim_object *o)
{
    remove_if_mine(&st->by_id, o->id, o);
    for (size_t i = 0; i < o->subnet_count; i++)
        remove_if_mine(&st->by_id, o->subnets[i].id, o);
    remove_if_mine(&st->by_token, o->token_key, o);
    remove_if_mine(&st->by_ip, o->ip_key, o);
    remove_if_mine(&st->by_ip, o->public_ip_key, o);
}

int sim_state_insert(struct sim_state *st, struct sim_object *o)
{
    if (st->count == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        struct sim_object **grown = realloc(st->objects, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        st->objects = grown;
        st->cap = cap;
    }
    if (index_add(st, o) != 0) {
        index_remove(st, o);
        return -1;
    }
    o->index = st->count;
    st->objects[st->count++] = o;
    if (o->serial >= st->next_serial)
        st->next_serial = o->serial + 1;
    if (o->public_ip > PUBLIC_BASE && o->public_ip - PUBLIC_BASE >= st->next_public)
        st->next_public = o->public_ip - PUBLIC_BASE + 1;
    return 0;
}

int sim_state_replace(struct sim_state *st, struct sim_object *old, struct sim_object *o)
{
    index_remove(st, old);
    if (index_add(st, o) != 0) {
        index_remove(st, o);
        index_add(st, old); /* cannot fail: the entries were just there */
        return -1;
    }
    o->index = old->index;
    st->objects[o->index] = o;
    sim_object_free(old);
    return 0;
}

void sim_state_remove(struct sim_state *st, struct sim_object *o)
{
    index_remove(st, o);
    struct sim_object *last = st->objects[--st->count];
    st->objects[o->index] = last;
    last->index = o->index;
    sim_object_free(o);
}

struct sim_object *sim_state_find_id(struct sim_state *st, const char *id)
{
    return sim_map_get(&st->by_id, id);
}

struct sim_object *sim_state_find_token(struct sim_state *st, int kind, const char *provider,
                                        const char *region, const char *token)
{
    char key[512];
    int n = snprintf(key, sizeof(key), "%s|%s|%s|%s", sim_kind_name(kind), provider, region, token);
    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    return sim_map_get(&st->by_token, key);
}

void sim_state_sweep(struct sim_state *st, int64_t now_ns)
{
    if (now_ns - st->last_sweep_ns < SIM_SWEEP_INTERVAL_NS)
        return;
    st->last_sweep_ns = now_ns;
    for (size_t i = 0; i < st->count;) {
        if (sim_object_gone(st->objects[i], now_ns))
            sim_state_remove(st, st->objects[i]); /* the last one moved into i */
        else
            i++;
    }
}

struct sim_object *sim_object_clone(const struct sim_object *o)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    sim_object_encode(o, &b);
    struct sim_object *copy = b.failed ? NULL : sim_object_decode(b.data, b.len);
    kumo_driver_kit_buf_fini(&b);
    return copy;
}

/* ---- Replay ------------------------------------------------------------- */

struct meta {
    uint64_t salt;
    uint64_t next_serial;
    uint32_t next_public;
};

struct del {
    char *kind;
    char *id;
};

static const struct kumo_driver_kit_field meta_fields[] = {
    KUMO_DRIVER_KIT_FIELD("salt", KUMO_DRIVER_KIT_FIELD_UINT64, struct meta, salt),
    KUMO_DRIVER_KIT_FIELD("next_serial", KUMO_DRIVER_KIT_FIELD_UINT64, struct meta, next_serial),
    KUMO_DRIVER_KIT_FIELD("next_public", KUMO_DRIVER_KIT_FIELD_UINT32, struct meta, next_public),
};

static const struct kumo_driver_kit_field del_fields[] = {
    KUMO_DRIVER_KIT_FIELD("kind", KUMO_DRIVER_KIT_FIELD_STRING, struct del, kind),
    KUMO_DRIVER_KIT_FIELD("id", KUMO_DRIVER_KIT_FIELD_STRING, struct del, id),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void encode_meta(const struct sim_state *st, struct kumo_driver_kit_buf *b)
{
    struct meta m = {st->salt, st->next_serial, st->next_public};
    kumo_driver_kit_buf_str(b, "meta");
    kumo_driver_kit_state_put(b, meta_fields, COUNT(meta_fields), &m);
}

static void encode_del(const struct sim_object *o, struct kumo_driver_kit_buf *b)
{
    struct del d = {(char *)sim_kind_name(o->kind), o->id};
    kumo_driver_kit_buf_str(b, "del");
    kumo_driver_kit_state_put(b, del_fields, COUNT(del_fields), &d);
}

struct record_fields {
    const struct kumo_driver_kit_field *fields;
    size_t count;
    void *into;
};

static int record_field(void *ctx, const char *key, const char *raw)
{
    struct record_fields *r = ctx;
    return kumo_driver_kit_state_get(r->fields, r->count, r->into, key, raw);
}

/* Reads a meta or del payload (word says which) into `into`; 0, -1 malformed, 1 another word. */
static int decode_small(const char *payload, size_t len, const char *want,
                        const struct kumo_driver_kit_field *fields, size_t count, void *into)
{
    char text[1024], *word;
    size_t n = strlen(want);
    if (len <= n || memcmp(payload, want, n) != 0 || payload[n] != '\t')
        return 1;
    if (len >= sizeof(text))
        return -1;
    memcpy(text, payload, len);
    text[len] = '\0';
    struct record_fields r = {fields, count, into};
    return kumo_driver_kit_state_line(text, &word, record_field, &r) == 0 ? 0 : -1;
}

static int apply_meta(struct sim_state *st, const char *payload, size_t len)
{
    struct meta m = {0, 0, 0};
    int rc = decode_small(payload, len, "meta", meta_fields, COUNT(meta_fields), &m);
    if (rc != 0)
        return rc;
    st->salt = m.salt;
    if (m.next_serial > st->next_serial)
        st->next_serial = m.next_serial;
    if (m.next_public > st->next_public)
        st->next_public = m.next_public;
    return 0;
}

static int apply_del(struct sim_state *st, const char *payload, size_t len)
{
    struct del d = {NULL, NULL};
    int rc = decode_small(payload, len, "del", del_fields, COUNT(del_fields), &d);
    if (rc == 0 && (d.kind == NULL || d.id == NULL))
        rc = -1;
    if (rc == 0) {
        struct sim_object *o = sim_state_find_id(st, d.id);
        if (o != NULL && strcmp(o->id, d.id) == 0)
            sim_state_remove(st, o);
    }
    kumo_driver_kit_state_free(del_fields, COUNT(del_fields), &d);
    return rc;
}

/* Applies one payload. 0 ok, -1 malformed, -2 nomem. */
static int apply(struct sim_state *st, const char *payload, size_t len)
{
    int rc = apply_meta(st, payload, len);
    if (rc <= 0)
        return rc;
    if ((rc = apply_del(st, payload, len)) <= 0)
        return rc;
    struct sim_object *o = sim_object_decode(payload, len);
    if (o == NULL)
        return -1;
    struct sim_object *old = sim_state_find_id(st, o->id);
    rc = old != NULL && strcmp(old->id, o->id) == 0 ? sim_state_replace(st, old, o)
                                                    : sim_state_insert(st, o);
    if (rc != 0) {
        sim_object_free(o);
        return -2;
    }
    return 0;
}

static int read_all(int fd, struct kumo_driver_kit_buf *out)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return out->failed ? -1 : 0;
        kumo_driver_kit_buf_add(out, chunk, (size_t)n);
    }
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sync_folder(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

static int replay(struct sim_state *st, const struct kumo_driver_kit_buf *file, size_t *good_end,
                  char *err, size_t err_size)
{
    const unsigned char *p = (const unsigned char *)file->data;
    size_t off = HEADER_SIZE;
    while (off + RECORD_HEAD <= file->len) {
        uint32_t magic = get_u32(p + off), len = get_u32(p + off + 4), crc = get_u32(p + off + 8);
        if (magic != RECORD_MAGIC || len > MAX_RECORD || off + RECORD_HEAD + len > file->len)
            break;
        const char *payload = (const char *)p + off + RECORD_HEAD;
        if (crc32_of(payload, len) != crc)
            break;
        int rc = apply(st, payload, len);
        if (rc != 0) {
            snprintf(err, err_size,
                     "%s: record at byte %zu is %s; the file was written by an incompatible "
                     "version or is damaged",
                     st->path, off, rc == -2 ? "too large for memory" : "malformed");
            return -1;
        }
        off += RECORD_HEAD + len;
    }
    *good_end = off;
    return 0;
}

/* ---- Open and close ----------------------------------------------------- */

static int take_lock(struct sim_state *st, int *locked, char *err, size_t err_size)
{
    char lock_path[4096 + 8];
    snprintf(lock_path, sizeof(lock_path), "%s.lock", st->path);
    st->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->lock_fd < 0) {
        snprintf(err, err_size, "cannot open lock file %s: %s", lock_path, strerror(errno));
        return -1;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        if (locked != NULL)
            *locked = 1;
        ssize_t n = pread(st->lock_fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, err_size,
                 "sim state %s is in use by another process (pid %s holds the lock %s); stop "
                 "that process or give this connection its own state file",
                 st->path, pid[0] ? pid : "unknown", lock_path);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(st->lock_fd, 0) != 0 || pwrite(st->lock_fd, pid, (size_t)n, 0) != n) {
        /* The pid is only a hint for the message above. */
    }
    return 0;
}

static uint64_t fresh_salt(void)
{
    uint64_t salt = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &salt, sizeof(salt)) != (ssize_t)sizeof(salt))
            salt = 0;
        close(fd);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return salt ^ mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid());
}

/* Writes the header and a meta record into an empty file. */
static int initialise(struct sim_state *st, char *err, size_t err_size)
{
    struct kumo_driver_kit_buf b, meta;
    kumo_driver_kit_buf_init(&b);
    kumo_driver_kit_buf_init(&meta);
    st->salt = fresh_salt();
    st->next_serial = 1;
    st->next_public = 1;
    kumo_driver_kit_buf_add(&b, HEADER, HEADER_SIZE);
    encode_meta(st, &meta);
    frame(&b, &meta);
    int rc = b.failed || ftruncate(st->fd, 0) != 0 || write_all(st->fd, b.data, b.len) != 0 ||
                     fsync(st->fd) != 0 || sync_folder(st->path) != 0
                 ? -1
                 : 0;
    if (rc != 0)
        snprintf(err, err_size, "cannot initialise sim state %s: %s", st->path, strerror(errno));
    st->file_bytes = (int64_t)b.len;
    kumo_driver_kit_buf_fini(&b);
    kumo_driver_kit_buf_fini(&meta);
    return rc;
}

/* A state with nothing loaded yet (fd and lock closed); NULL: no memory. */
static struct sim_state *state_new(const char *path, int readonly, int do_fsync,
                                   int64_t compact_bytes)
{
    struct sim_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->fd = -1;
    st->lock_fd = -1;
    st->pid = (long)getpid();
    st->readonly = readonly;
    st->fsync = do_fsync;
    st->compact_bytes = compact_bytes;
    st->next_serial = 1;
    st->next_public = 1;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->journal_mu, NULL);
    pthread_cond_init(&st->journal_cond, NULL);
    kumo_driver_kit_buf_init(&st->pending);
    kumo_driver_kit_buf_init(&st->writing);
    st->path = strdup(path);
    if (st->path == NULL) {
        sim_state_close(st);
        return NULL;
    }
    return st;
}

/* Loads file (the whole content) into st: a new or torn-header file is a new
 * account, else the records are replayed and a torn last record is cut off. */
static int state_load(struct sim_state *st, const struct kumo_driver_kit_buf *file, char *err,
                      size_t err_size)
{
    const char *path = st->path;
    int header_ok = file->len >= HEADER_SIZE && memcmp(file->data, HEADER, HEADER_SIZE) == 0;
    int torn_header =
        file->len < HEADER_SIZE && memcmp(file->data ? file->data : "", HEADER, file->len) == 0;
    if (!header_ok && !torn_header) {
        int older = file->len >= HEADER_SIZE && memcmp(file->data, "KUMOSIMSTATE v1\n", 16) == 0;
        snprintf(err, err_size,
                 older ? "%s was written by an older sim (format v1, before the driver kit's "
                         "state records); remove it to start an empty account"
                       : "%s is not a kumo sim state file (its first bytes are not "
                         "\"KUMOSIMSTATE v2\")",
                 path);
        return -1;
    }
    st->rng = fresh_salt();
    if (!header_ok) /* being created right now, or cut short: an empty account */
        return st->readonly ? 0 : initialise(st, err, err_size);
    size_t good_end = 0;
    if (replay(st, file, &good_end, err, err_size) != 0)
        return -1;
    st->file_bytes = (int64_t)good_end;
    if (good_end < file->len && !st->readonly) {
        sim_log(KUMO_DRIVER_LOG_WARN,
                "sim state %s: cut %zu bytes of a torn last record at byte %zu (a crash "
                "during a write; no acknowledged change is lost)",
                path, file->len - good_end, good_end);
        if (ftruncate(st->fd, (off_t)good_end) != 0 || fsync(st->fd) != 0) {
            snprintf(err, err_size, "cannot repair sim state %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

struct sim_state *sim_state_open(const char *path, int readonly, int do_fsync,
                                 int64_t compact_bytes, int *locked, char *err, size_t err_size)
{
    if (locked != NULL)
        *locked = 0;
    struct kumo_driver_kit_buf file;
    kumo_driver_kit_buf_init(&file);
    struct sim_state *st = state_new(path, readonly, do_fsync, compact_bytes);
    if (st == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (!readonly && take_lock(st, locked, err, err_size) != 0)
        goto err;
    st->fd = open(path, readonly ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->fd < 0) {
        snprintf(err, err_size, "cannot open sim state %s: %s", path, strerror(errno));
        goto err;
    }
    if (read_all(st->fd, &file) != 0) {
        snprintf(err, err_size, "cannot read sim state %s: %s", path, strerror(errno));
        goto err;
    }
    if (state_load(st, &file, err, err_size) != 0)
        goto err;
    st->live_bytes = st->file_bytes;
    if (!readonly) {
        char stale[4096 + 16];
        snprintf(stale, sizeof(stale), "%s.compact", path);
        unlink(stale); /* a compaction a crash interrupted */
        if (lseek(st->fd, 0, SEEK_END) < 0) {
            snprintf(err, err_size, "cannot seek sim state %s: %s", path, strerror(errno));
            goto err;
        }
    } else {
        close(st->fd);
        st->fd = -1;
    }
    kumo_driver_kit_buf_fini(&file);
    return st;
err:
    kumo_driver_kit_buf_fini(&file);
    sim_state_close(st);
    return NULL;
}

void sim_state_close(struct sim_state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->count; i++)
        sim_object_free(st->objects[i]);
    free(st->objects);
    sim_map_fini(&st->by_id);
    sim_map_fini(&st->by_token);
    sim_map_fini(&st->by_ip);
    kumo_driver_kit_buf_fini(&st->pending);
    kumo_driver_kit_buf_fini(&st->writing);
    if (st->fd >= 0)
        close(st->fd);
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* releases the flock */
    pthread_cond_destroy(&st->journal_cond);
    pthread_mutex_destroy(&st->journal_mu);
    pthread_mutex_destroy(&st->mu);
    free(st->path);
    free(st);
}

/* ---- Journal ------------------------------------------------------------ */

static uint64_t append(struct sim_state *st, const struct kumo_driver_kit_buf *payload)
{
    uint64_t seq = 0;
    pthread_mutex_lock(&st->journal_mu);
    if (!st->failed && !payload->failed) {
        frame(&st->pending, payload);
        if (st->pending.failed) {
            st->failed = 1;
            snprintf(st->failure, sizeof(st->failure), "out of memory queueing a record");
        } else {
            seq = ++st->appended;
        }
    }
    pthread_mutex_unlock(&st->journal_mu);
    return seq;
}

uint64_t sim_journal_put(struct sim_state *st, const struct sim_object *o)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    sim_object_encode(o, &b);
    uint64_t seq = append(st, &b);
    kumo_driver_kit_buf_fini(&b);
    return seq;
}

uint64_t sim_journal_delete(struct sim_state *st, const struct sim_object *o)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    encode_del(o, &b);
    uint64_t seq = append(st, &b);
    kumo_driver_kit_buf_fini(&b);
    return seq;
}

/* Rewrites the file as header + meta + one put per live object. Caller holds
 * mu (so nothing is appended meanwhile) and is the journal leader. */
static int compact(struct sim_state *st, int64_t now_ns)
{
    char tmp[4096 + 16];
    struct kumo_driver_kit_buf snap, rec;
    kumo_driver_kit_buf_init(&snap);
    kumo_driver_kit_buf_init(&rec);
    snprintf(tmp, sizeof(tmp), "%s.compact", st->path);
    kumo_driver_kit_buf_add(&snap, HEADER, HEADER_SIZE);
    encode_meta(st, &rec);
    frame(&snap, &rec);
    int fd = -1, rc = -1;
    struct sim_object **sorted = malloc((st->count ? st->count : 1) * sizeof(*sorted));
    if (sorted == NULL)
        goto done;
    if (st->count > 0)
        memcpy(sorted, st->objects, st->count * sizeof(*sorted));
    qsort(sorted, st->count, sizeof(*sorted), sim_object_by_serial); /* replay in creation order */
    for (size_t i = 0; i < st->count; i++) {
        if (sim_object_gone(sorted[i], now_ns))
            continue;
        rec.len = 0;
        sim_object_encode(sorted[i], &rec);
        frame(&snap, &rec);
    }
    free(sorted);
    if (snap.failed || rec.failed)
        goto done;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, snap.data, snap.len) != 0 || fsync(fd) != 0 ||
        rename(tmp, st->path) != 0 || sync_folder(st->path) != 0)
        goto done;
    close(st->fd);
    st->fd = fd;
    fd = -1;
    st->file_bytes = st->live_bytes = (int64_t)snap.len;
    rc = 0;
done:
    if (rc != 0) {
        sim_log(KUMO_DRIVER_LOG_WARN, "sim state %s: compaction failed (%s); keeping the journal",
                st->path, strerror(errno));
        unlink(tmp);
    }
    if (fd >= 0)
        close(fd);
    kumo_driver_kit_buf_fini(&snap);
    kumo_driver_kit_buf_fini(&rec);
    return rc;
}

static void maybe_compact(struct sim_state *st)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    pthread_mutex_lock(&st->mu);
    pthread_mutex_lock(&st->journal_mu);
    while (st->flushing)
        pthread_cond_wait(&st->journal_cond, &st->journal_mu);
    int due =
        !st->failed && st->file_bytes > st->compact_bytes && st->file_bytes > 2 * st->live_bytes;
    if (due) {
        st->flushing = 1;
        pthread_mutex_unlock(&st->journal_mu);
        int rc = compact(st, now_ns);
        pthread_mutex_lock(&st->journal_mu);
        if (rc == 0) {
            /* The snapshot holds every record queued so far. */
            st->pending.len = 0;
            st->durable = st->appended;
        } else {
            st->live_bytes = st->file_bytes; /* do not retry at once */
        }
        st->flushing = 0;
        pthread_cond_broadcast(&st->journal_cond);
    }
    pthread_mutex_unlock(&st->journal_mu);
    pthread_mutex_unlock(&st->mu);
}

int sim_journal_commit(struct sim_state *st, uint64_t seq, char *err, size_t err_size)
{
    int rc = 0, check_compaction = 0;
    pthread_mutex_lock(&st->journal_mu);
    while (st->durable < seq && !st->failed) {
        if (st->flushing) {
            pthread_cond_wait(&st->journal_cond, &st->journal_mu);
            continue;
        }
        /* Become the leader: write what everyone queued, outside the lock. */
        struct kumo_driver_kit_buf swap = st->writing;
        st->writing = st->pending;
        st->pending = swap;
        st->pending.len = 0;
        uint64_t target = st->appended;
        st->flushing = 1;
        pthread_mutex_unlock(&st->journal_mu);
        int ok = write_all(st->fd, st->writing.data, st->writing.len) == 0 &&
                 (!st->fsync || fdatasync(st->fd) == 0);
        int saved = errno;
        pthread_mutex_lock(&st->journal_mu);
        if (ok) {
            st->durable = target;
            st->file_bytes += (int64_t)st->writing.len;
            check_compaction =
                st->file_bytes > st->compact_bytes && st->file_bytes > 2 * st->live_bytes;
        } else {
            st->failed = 1;
            snprintf(st->failure, sizeof(st->failure), "writing %s failed: %s", st->path,
                     strerror(saved));
        }
        st->writing.len = 0;
        st->flushing = 0;
        pthread_cond_broadcast(&st->journal_cond);
    }
    if (seq == 0 || st->durable < seq) {
        snprintf(err, err_size, "sim state cannot record changes: %s",
                 st->failure[0] ? st->failure : "journal failed");
        rc = -1;
    }
    pthread_mutex_unlock(&st->journal_mu);
    if (check_compaction)
        maybe_compact(st);
    return rc;
}
