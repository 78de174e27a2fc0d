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
 * Format: the driver kit's state records (kit.h), one object per line, its
 * fields described by the table `fields` below:
 *     kumo-local-state 1
 *     serial<TAB>N
 *     object<TAB>kind=machine<TAB>id=m-1a2b3c4d<TAB>token=...<TAB>tag=key=value...
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

/* The fields of an object in the state file, in the order they are written. */
#define STR(key, member)                                                                           \
    KUMO_DRIVER_KIT_FIELD(key, KUMO_DRIVER_KIT_FIELD_STRING, struct local_object, member)
#define NUM(key, kind, member) KUMO_DRIVER_KIT_FIELD(key, kind, struct local_object, member)
#define LIST(key, kind, member, count)                                                             \
    KUMO_DRIVER_KIT_LIST(key, kind, struct local_object, member, count)
static const struct kumo_driver_kit_field fields[] = {
    NUM("status", KUMO_DRIVER_KIT_FIELD_INT, status),
    STR("id", id),
    STR("token", token),
    STR("name", name),
    NUM("created", KUMO_DRIVER_KIT_FIELD_INT64, created_ns),
    LIST("tag", KUMO_DRIVER_KIT_FIELD_TAGS, tags, tag_count),
    STR("type", type),
    STR("image", image),
    STR("zone", zone),
    STR("network", network_id),
    STR("subnetid", subnet_id),
    STR("key", key_id),
    STR("userdata", user_data),
    STR("agentboot", agent_bootstrap),
    STR("ip", ip),
    LIST("sg", KUMO_DRIVER_KIT_FIELD_STRINGS, sg_ids, sg_count),
    NUM("power", KUMO_DRIVER_KIT_FIELD_INT, power),
    NUM("launch", KUMO_DRIVER_KIT_FIELD_INT64, launch_ns),
    NUM("pid", KUMO_DRIVER_KIT_FIELD_INT64, pid),
    NUM("pidstart", KUMO_DRIVER_KIT_FIELD_UINT64, pid_start),
    STR("cidr", cidr),
    LIST("subnet", KUMO_DRIVER_KIT_FIELD_SUBNETS, subnets, subnet_count),
    LIST("rule", KUMO_DRIVER_KIT_FIELD_RULES, rules, rule_count),
    STR("pubkey", public_key),
    STR("fingerprint", fingerprint),
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

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
    kumo_driver_kit_state_free(fields, FIELD_COUNT, o);
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

static void put_object(struct kumo_driver_kit_buf *b, const struct local_object *o)
{
    kumo_driver_kit_buf_printf(b, "object\tkind=%s", kind_words[o->kind]);
    kumo_driver_kit_state_put(b, fields, FIELD_COUNT, o);
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

kumo_driver_code local_state_save(struct local_state *st, const char *path,
                                  struct kumo_driver_diag *diag)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    kumo_driver_kit_buf_printf(&b, "kumo-local-state 1\nserial\t%llu\n",
                               (unsigned long long)st->serial);
    for (size_t i = 0; i < st->count; i++)
        put_object(&b, st->objects[i]);
    kumo_driver_code rc = kumo_driver_kit_state_write(path, &b, diag);
    kumo_driver_kit_buf_fini(&b);
    struct stat sb;
    if (rc == KUMO_DRIVER_OK && stat(path, &sb) == 0)
        stamp(st, &sb);
    return rc;
}

/* ---- Reading ---------------------------------------------------------------- */

/* Applies one field of an `object` line: kind= makes the object, the rest fill it. */
static int apply_field(void *ctx, const char *key, const char *raw)
{
    struct local_object **o = ctx;
    if (strcmp(key, "kind") == 0) {
        for (int k = 0; k <= LOCAL_LOAD_BALANCER && *o == NULL; k++)
            if (strcmp(raw, kind_words[k]) == 0 && (*o = local_object_new(k)) == NULL)
                return -1;
        return *o == NULL ? -1 : 0;
    }
    return *o == NULL ? -1 : kumo_driver_kit_state_get(fields, FIELD_COUNT, *o, key, raw);
}

static struct local_object *parse_object(char *line)
{
    struct local_object *o = NULL;
    char *word;
    if (kumo_driver_kit_state_line(line, &word, apply_field, &o) != 0 || o == NULL ||
        o->id == NULL || o->token == NULL) {
        local_object_free(o);
        return NULL;
    }
    return o;
}

/* Replaces st's objects with the lines of text; 0, or the number of the first damaged line. */
static int parse_state(struct local_state *st, char *text)
{
    int line_no = 0, bad = 0;
    char *save = NULL;
    local_state_clear(st);
    st->serial = 0;
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
    return bad ? line_no : 0;
}

kumo_driver_code local_state_load(struct local_state *st, const char *path,
                                  struct kumo_driver_diag *diag)
{
    struct stat sb;
    char *text = NULL;
    int stated = stat(path, &sb) == 0; /* before the read: a newer file is read again later */
    if (stated && same_stamp(st, &sb))
        return KUMO_DRIVER_OK;
    kumo_driver_code rc = kumo_driver_kit_state_read(path, &text, diag);
    if (rc == KUMO_DRIVER_NOT_FOUND) {
        local_state_clear(st);
        st->have_stamp = 0;
        return KUMO_DRIVER_OK;
    }
    if (rc != KUMO_DRIVER_OK)
        return rc;
    int damaged = parse_state(st, text);
    free(text);
    if (damaged) {
        local_state_clear(st);
        st->have_stamp = 0;
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "StateUnreadable",
                                    "the state file %s is damaged at line %d (fix or remove it; "
                                    "`control purge` removes what the connection made)",
                                    path, damaged);
    }
    if (stated)
        stamp(st, &sb);
    else
        st->have_stamp = 0;
    return KUMO_DRIVER_OK;
}
