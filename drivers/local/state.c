/*
 * state.c - the local driver's objects and its state file.
 *
 * The state file holds what the kernel cannot: tokens, names, tags, types,
 * rules and which address each machine has. It is small (one line per
 * object), rewritten whole and atomically (temporary file, fsync, rename)
 * whenever something changes, and every mutation writes it BEFORE its side
 * effects (status "building" or "deleting"), so a crash leaves an object that
 * a repeated create or delete finishes.
 *
 * Format (text, UTF-8, one record per line, fields separated by TAB):
 *     kumo-local-state 1
 *     serial<TAB>N
 *     object<TAB>kind=machine<TAB>id=m-1a2b3c4d<TAB>token=...<TAB>tag=key=value...
 * Values escape '%', TAB, newline, '=', ',' and control bytes as %XX; list
 * fields repeat (tag=, sg=, a network's subnet=id,name,cidr,zone, rule=dir,proto,from,to,
 * cidr,description). Unknown fields are ignored.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kind_words[] = {"machine",  "network", "security_group",
                                         "key_pair", "subnet",  "load_balancer"};
static const char *const kind_human[] = {"machine",  "network", "security group",
                                         "key pair", "subnet",  "load balancer"};

const char *local_kind_human(int kind)
{
    return kind >= 0 && kind <= LOCAL_LOAD_BALANCER ? kind_human[kind] : "resource";
}

/* ---- Objects --------------------------------------------------------------- */

int local_set_str(char **dst, const char *src)
{
    char *copy = NULL;
    if (src != NULL && (copy = strdup(src)) == NULL)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

struct local_object *local_object_new(int kind)
{
    struct local_object *o = calloc(1, sizeof(*o));
    if (o != NULL)
        o->kind = kind;
    return o;
}

static void free_tags(struct local_object *o)
{
    kumo_driver_kit_tags_free(o->tags, o->tag_count);
    o->tags = NULL;
    o->tag_count = 0;
}

void local_object_free(struct local_object *o)
{
    if (o == NULL)
        return;
    free_tags(o);
    char **strings[] = {
        &o->id,   &o->token,      &o->name,       &o->type,        &o->image,
        &o->zone, &o->network_id, &o->subnet_id,  &o->key_id,      &o->user_data,
        &o->ip,   &o->cidr,       &o->public_key, &o->fingerprint, &o->agent_bootstrap};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        free(*strings[i]);
    for (size_t i = 0; i < o->sg_count; i++)
        free(o->sg_ids[i]);
    free(o->sg_ids);
    kumo_driver_kit_subnets_free(o->subnets, o->subnet_count);
    kumo_driver_kit_rules_free(o->rules, o->rule_count);
    free(o);
}

static char *dup_or_null(const char *s, int *failed)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

struct local_object *local_object_clone(const struct local_object *o)
{
    int failed = 0;
    struct local_object *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = *o;
    c->tags = NULL;
    c->sg_ids = NULL;
    c->subnets = NULL;
    c->rules = NULL;
    c->tag_count = c->sg_count = c->subnet_count = c->rule_count = 0;
    char **strings[] = {
        &c->id,   &c->token,      &c->name,       &c->type,        &c->image,
        &c->zone, &c->network_id, &c->subnet_id,  &c->key_id,      &c->user_data,
        &c->ip,   &c->cidr,       &c->public_key, &c->fingerprint, &c->agent_bootstrap};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        *strings[i] = dup_or_null(*strings[i], &failed);
    if (o->tag_count && (c->tags = calloc(o->tag_count, sizeof(*c->tags))) == NULL)
        failed = 1;
    for (size_t i = 0; c->tags && i < o->tag_count; i++, c->tag_count++) {
        c->tags[i].key = dup_or_null(o->tags[i].key, &failed);
        c->tags[i].value = dup_or_null(o->tags[i].value, &failed);
    }
    if (o->sg_count && (c->sg_ids = calloc(o->sg_count, sizeof(char *))) == NULL)
        failed = 1;
    for (size_t i = 0; c->sg_ids && i < o->sg_count; i++, c->sg_count++)
        c->sg_ids[i] = dup_or_null(o->sg_ids[i], &failed);
    if (o->subnet_count && (c->subnets = calloc(o->subnet_count, sizeof(*c->subnets))) == NULL)
        failed = 1;
    for (size_t i = 0; c->subnets && i < o->subnet_count; i++, c->subnet_count++) {
        c->subnets[i].id = dup_or_null(o->subnets[i].id, &failed);
        c->subnets[i].name = dup_or_null(o->subnets[i].name, &failed);
        c->subnets[i].cidr = dup_or_null(o->subnets[i].cidr, &failed);
        c->subnets[i].zone = dup_or_null(o->subnets[i].zone, &failed);
    }
    if (o->rule_count && (c->rules = calloc(o->rule_count, sizeof(*c->rules))) == NULL)
        failed = 1;
    for (size_t i = 0; c->rules && i < o->rule_count; i++, c->rule_count++) {
        c->rules[i] = o->rules[i];
        c->rules[i].cidr = dup_or_null(o->rules[i].cidr, &failed);
        c->rules[i].description = dup_or_null(o->rules[i].description, &failed);
    }
    if (failed) {
        local_object_free(c);
        return NULL;
    }
    return c;
}

kumo_driver_code local_copy_tags(struct local_object *o, const struct kumo_driver_tag *tags,
                                 size_t count, struct kumo_driver_diag *diag)
{
    free_tags(o);
    if (count > 50)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "TagLimitExceeded",
                                    "%zu tags given; at most 50 are allowed", count);
    if (count == 0)
        return KUMO_DRIVER_OK;
    if ((o->tags = calloc(count, sizeof(*o->tags))) == NULL)
        return local_nomem(diag);
    for (size_t i = 0; i < count; i++) {
        const char *key = tags[i].key ? tags[i].key : "";
        if (key[0] == '\0' || strlen(key) > 127)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "tag %zu: a key of 1 to 127 characters is required", i);
        if (strcmp(key, KUMO_DRIVER_TOKEN_TAG) == 0)
            continue; /* the driver sets it */
        if (tags[i].value && strlen(tags[i].value) > 255)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "tag %s: the value is longer than 255 characters", key);
        struct kumo_driver_kit_tag *t = &o->tags[o->tag_count];
        if (local_set_str(&t->key, key) != 0 ||
            local_set_str(&t->value, tags[i].value ? tags[i].value : "") != 0) {
            free(t->key);
            free(t->value);
            t->key = t->value = NULL;
            return local_nomem(diag);
        }
        o->tag_count++;
    }
    return KUMO_DRIVER_OK;
}

/* ---- The set of objects ----------------------------------------------------- */

void local_state_clear(struct local_state *st)
{
    for (size_t i = 0; i < st->count; i++)
        local_object_free(st->objects[i]);
    free(st->objects);
    st->objects = NULL;
    st->count = st->cap = 0;
}

int local_state_add(struct local_state *st, struct local_object *o)
{
    if (st->count == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        struct local_object **grown = realloc(st->objects, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        st->objects = grown;
        st->cap = cap;
    }
    st->objects[st->count++] = o;
    return 0;
}

void local_state_remove(struct local_state *st, struct local_object *o)
{
    for (size_t i = 0; i < st->count; i++) {
        if (st->objects[i] == o) {
            memmove(&st->objects[i], &st->objects[i + 1],
                    (st->count - i - 1) * sizeof(st->objects[0]));
            st->count--;
            local_object_free(o);
            return;
        }
    }
}

void local_state_replace(struct local_state *st, struct local_object *old,
                         struct local_object *fresh)
{
    for (size_t i = 0; i < st->count; i++) {
        if (st->objects[i] == old) {
            st->objects[i] = fresh;
            local_object_free(old);
            return;
        }
    }
}

struct local_object *local_state_find_id(struct local_state *st, int kind, const char *id)
{
    for (size_t i = 0; id != NULL && i < st->count; i++)
        if (st->objects[i]->kind == kind && strcmp(st->objects[i]->id, id) == 0)
            return st->objects[i];
    return NULL;
}

struct local_object *local_state_find_token(struct local_state *st, int kind, const char *token)
{
    for (size_t i = 0; token != NULL && i < st->count; i++)
        if (st->objects[i]->kind == kind && strcmp(st->objects[i]->token, token) == 0)
            return st->objects[i];
    return NULL;
}

/* ---- Writing ---------------------------------------------------------------- */

static void put_escaped(struct kumo_driver_kit_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '%' || *p == '=' || *p == ',' || *p < 0x20 || *p == 0x7f) {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            kumo_driver_kit_buf_add(b, esc, 3);
        } else {
            kumo_driver_kit_buf_add(b, (const char *)p, 1);
        }
    }
}

static void put_field(struct kumo_driver_kit_buf *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    kumo_driver_kit_buf_printf(b, "\t%s=", key);
    put_escaped(b, value);
}

static void put_int(struct kumo_driver_kit_buf *b, const char *key, long long value)
{
    if (value != 0)
        kumo_driver_kit_buf_printf(b, "\t%s=%lld", key, value);
}

static void put_object(struct kumo_driver_kit_buf *b, const struct local_object *o)
{
    kumo_driver_kit_buf_printf(b, "object\tkind=%s", kind_words[o->kind]);
    put_int(b, "status", o->status);
    put_field(b, "id", o->id);
    put_field(b, "token", o->token);
    put_field(b, "name", o->name);
    put_int(b, "created", o->created_ns);
    for (size_t i = 0; i < o->tag_count; i++) {
        kumo_driver_kit_buf_str(b, "\ttag=");
        put_escaped(b, o->tags[i].key);
        kumo_driver_kit_buf_str(b, "=");
        put_escaped(b, o->tags[i].value);
    }
    put_field(b, "type", o->type);
    put_field(b, "image", o->image);
    put_field(b, "zone", o->zone);
    put_field(b, "network", o->network_id);
    put_field(b, "subnetid", o->subnet_id);
    put_field(b, "key", o->key_id);
    put_field(b, "userdata", o->user_data);
    put_field(b, "agentboot", o->agent_bootstrap);
    put_field(b, "ip", o->ip);
    for (size_t i = 0; i < o->sg_count; i++)
        put_field(b, "sg", o->sg_ids[i]);
    put_int(b, "power", o->power);
    put_int(b, "launch", o->launch_ns);
    put_int(b, "pid", o->pid);
    put_int(b, "pidstart", (long long)o->pid_start);
    put_field(b, "cidr", o->cidr);
    for (size_t i = 0; i < o->subnet_count; i++) {
        const struct kumo_driver_kit_subnet *s = &o->subnets[i];
        kumo_driver_kit_buf_str(b, "\tsubnet=");
        put_escaped(b, s->id);
        kumo_driver_kit_buf_str(b, ",");
        put_escaped(b, s->name);
        kumo_driver_kit_buf_str(b, ",");
        put_escaped(b, s->cidr);
        kumo_driver_kit_buf_str(b, ",");
        put_escaped(b, s->zone);
    }
    for (size_t i = 0; i < o->rule_count; i++) {
        const struct kumo_driver_kit_rule *r = &o->rules[i];
        kumo_driver_kit_buf_printf(b, "\trule=%d,%d,%d,%d,", r->direction, r->protocol,
                                   r->from_port, r->to_port);
        put_escaped(b, r->cidr);
        kumo_driver_kit_buf_str(b, ",");
        put_escaped(b, r->description);
    }
    put_field(b, "pubkey", o->public_key);
    put_field(b, "fingerprint", o->fingerprint);
    kumo_driver_kit_buf_str(b, "\n");
}

static void stamp(struct local_state *st, const struct stat *sb)
{
    st->have_stamp = 1;
    st->stamp_dev = (uint64_t)sb->st_dev;
    st->stamp_ino = (uint64_t)sb->st_ino;
    st->stamp_size = (uint64_t)sb->st_size;
    st->stamp_mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

static int same_stamp(const struct local_state *st, const struct stat *sb)
{
    return st->have_stamp && st->stamp_dev == (uint64_t)sb->st_dev &&
           st->stamp_ino == (uint64_t)sb->st_ino && st->stamp_size == (uint64_t)sb->st_size &&
           st->stamp_mtime_ns == (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

int local_state_save(struct local_state *st, const char *path, char *err, size_t err_size)
{
    struct kumo_driver_kit_buf b;
    char tmp[LOCAL_NAME_MAX + 32], dir[LOCAL_NAME_MAX + 32];
    kumo_driver_kit_buf_init(&b);
    kumo_driver_kit_buf_printf(&b, "kumo-local-state 1\nserial\t%llu\n",
                               (unsigned long long)st->serial);
    for (size_t i = 0; i < st->count; i++)
        put_object(&b, st->objects[i]);
    if (b.failed) {
        kumo_driver_kit_buf_fini(&b);
        snprintf(err, err_size, "out of memory writing %s", path);
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0;
    size_t done = 0;
    while (ok && done < b.len) {
        ssize_t n = write(fd, b.data + done, b.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        done += ok ? (size_t)n : 0;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        saved = errno ? errno : saved;
        snprintf(err, err_size, "writing the state file %s: %s", path, strerror(saved));
        unlink(tmp);
        kumo_driver_kit_buf_fini(&b);
        return -1;
    }
    kumo_driver_kit_buf_fini(&b);
    snprintf(dir, sizeof(dir), "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    struct stat sb;
    if (stat(path, &sb) == 0)
        stamp(st, &sb);
    return 0;
}

/* ---- Reading ---------------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Unescapes [s, s+n) into a new string; NULL on a bad escape or no memory. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; out != NULL && i < n; i++) {
        if (s[i] != '%') {
            out[k++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    if (out != NULL)
        out[k] = '\0';
    return out;
}

/* Splits value at `sep` into up to max unescaped parts; returns the count or -1. */
static int split(const char *value, char sep, char **parts, int max)
{
    int n = 0;
    const char *p = value;
    for (;;) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == max || (parts[n] = unescape(p, len)) == NULL) {
            for (int i = 0; i < n; i++)
                free(parts[i]);
            return -1;
        }
        n++;
        if (end == NULL)
            return n;
        p = end + 1;
    }
}

static int parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int grow(void **array, size_t count, size_t size)
{
    void *grown = realloc(*array, (count + 1) * size);
    if (grown == NULL)
        return -1;
    *array = grown;
    return 0;
}

/* Applies one `key=value` field to o; -1 when malformed. */
static int apply_field(struct local_object *o, const char *key, const char *raw)
{
    char *parts[6];
    long long n = 0;
    struct {
        const char *key;
        char **dst;
    } strings[] = {{"id", &o->id},
                   {"token", &o->token},
                   {"name", &o->name},
                   {"type", &o->type},
                   {"image", &o->image},
                   {"zone", &o->zone},
                   {"network", &o->network_id},
                   {"subnetid", &o->subnet_id},
                   {"key", &o->key_id},
                   {"userdata", &o->user_data},
                   {"agentboot", &o->agent_bootstrap},
                   {"ip", &o->ip},
                   {"cidr", &o->cidr},
                   {"pubkey", &o->public_key},
                   {"fingerprint", &o->fingerprint}};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (strcmp(key, strings[i].key) == 0) {
            char *v = unescape(raw, strlen(raw));
            if (v == NULL)
                return -1;
            free(*strings[i].dst);
            *strings[i].dst = v;
            return 0;
        }
    }
    if (strcmp(key, "subnet") == 0) {
        int count = split(raw, ',', parts, 4);
        if (count != 4 || grow((void **)&o->subnets, o->subnet_count, sizeof(*o->subnets))) {
            for (int i = 0; i < count; i++)
                free(parts[i]);
            return -1;
        }
        struct kumo_driver_kit_subnet *s = &o->subnets[o->subnet_count++];
        s->id = parts[0];
        s->name = parts[1];
        s->cidr = parts[2];
        s->zone = parts[3];
        return 0;
    }
    if (strcmp(key, "tag") == 0) {
        int count = split(raw, '=', parts, 2);
        if (count != 2 || grow((void **)&o->tags, o->tag_count, sizeof(*o->tags))) {
            for (int i = 0; i < count; i++)
                free(parts[i]);
            return -1;
        }
        o->tags[o->tag_count].key = parts[0];
        o->tags[o->tag_count++].value = parts[1];
        return 0;
    }
    if (strcmp(key, "sg") == 0) {
        char *v = unescape(raw, strlen(raw));
        if (v == NULL || grow((void **)&o->sg_ids, o->sg_count, sizeof(char *))) {
            free(v);
            return -1;
        }
        o->sg_ids[o->sg_count++] = v;
        return 0;
    }
    if (strcmp(key, "rule") == 0) {
        int count = split(raw, ',', parts, 6);
        long long v[4];
        int ok = count == 6;
        for (int i = 0; ok && i < 4; i++)
            ok = parse_ll(parts[i], &v[i]) == 0;
        if (!ok || grow((void **)&o->rules, o->rule_count, sizeof(*o->rules))) {
            for (int i = 0; i < count; i++)
                free(parts[i]);
            return -1;
        }
        struct kumo_driver_kit_rule *r = &o->rules[o->rule_count++];
        r->direction = (int)v[0];
        r->protocol = (int)v[1];
        r->from_port = (int)v[2];
        r->to_port = (int)v[3];
        r->cidr = parts[4];
        r->description = parts[5];
        for (int i = 0; i < 4; i++)
            free(parts[i]);
        return 0;
    }
    if (parse_ll(raw, &n) != 0)
        return strcmp(key, "kind") == 0 ? 0 : -1;
    if (strcmp(key, "status") == 0)
        o->status = (int)n;
    else if (strcmp(key, "created") == 0)
        o->created_ns = n;
    else if (strcmp(key, "power") == 0)
        o->power = (int)n;
    else if (strcmp(key, "launch") == 0)
        o->launch_ns = n;
    else if (strcmp(key, "pid") == 0)
        o->pid = n;
    else if (strcmp(key, "pidstart") == 0)
        o->pid_start = (uint64_t)n;
    return 0; /* unknown numeric fields: newer writers */
}

static struct local_object *parse_object(char *line)
{
    struct local_object *o = NULL;
    char *save = NULL;
    for (char *field = strtok_r(line, "\t", &save); field != NULL;
         field = strtok_r(NULL, "\t", &save)) {
        char *eq = strchr(field, '=');
        if (eq == NULL)
            continue; /* the leading "object" */
        *eq = '\0';
        if (strcmp(field, "kind") == 0) {
            for (int k = 0; k <= LOCAL_LOAD_BALANCER && o == NULL; k++)
                if (strcmp(eq + 1, kind_words[k]) == 0 && (o = local_object_new(k)) == NULL)
                    return NULL;
            if (o == NULL)
                return NULL;
            continue;
        }
        if (o == NULL || apply_field(o, field, eq + 1) != 0) {
            local_object_free(o);
            return NULL;
        }
    }
    if (o != NULL && (o->id == NULL || o->token == NULL)) {
        local_object_free(o);
        return NULL;
    }
    return o;
}

int local_state_load(struct local_state *st, const char *path, char *err, size_t err_size)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        local_state_clear(st);
        st->have_stamp = 0;
        return 0;
    }
    if (fd < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, err_size, "reading the state file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (same_stamp(st, &sb)) {
        close(fd);
        return 0;
    }
    char *text = malloc((size_t)sb.st_size + 1);
    size_t len = 0;
    while (text != NULL && len < (size_t)sb.st_size) {
        ssize_t n = read(fd, text + len, (size_t)sb.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (text == NULL) {
        snprintf(err, err_size, "out of memory reading %s", path);
        return -1;
    }
    text[len] = '\0';
    local_state_clear(st);
    st->serial = 0;
    int line_no = 0, bad = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL && !bad;
         line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        if (line_no == 1) {
            bad = strncmp(line, "kumo-local-state ", 17) != 0;
        } else if (strncmp(line, "serial\t", 7) == 0) {
            st->serial = strtoull(line + 7, NULL, 10);
        } else if (strncmp(line, "object\t", 7) == 0) {
            struct local_object *o = parse_object(line);
            bad = o == NULL || local_state_add(st, o) != 0;
            if (bad)
                local_object_free(o);
        }
    }
    free(text);
    if (bad) {
        snprintf(err, err_size,
                 "the state file %s is damaged at line %d (fix or remove it; `control purge` "
                 "removes what the connection made)",
                 path, line_no);
        local_state_clear(st);
        st->have_stamp = 0;
        return -1;
    }
    stamp(st, &sb);
    return 0;
}
