/*
 * example.c - the reference driver: a small, complete cloud kept in memory
 * and in one state file, written to be copied. It implements what the driver
 * contract suite checks (machines, networks with subnets, the catalog,
 * tokens, deadlines) and nothing else, using drivers/kit for everything that
 * is not about its cloud:
 *
 *   - config as a table of keys (kumo_driver_kit_settings),
 *   - the state file (kumo_driver_kit_state_*: one line per object, its
 *     fields described by a table),
 *   - IPv4 ranges and subnet rules (kumo_driver_kit_cidr_*, _subnets_check),
 *   - results packed as one block each (kumo_driver_kit_pack_record and the
 *     catalog packers), errors as a filled diag (kumo_driver_kit_fail).
 *
 * To write a driver for a real cloud, copy this folder, rename `example` to
 * the driver's name, and replace the in-memory objects with calls to the
 * cloud (keeping the state file only for what the cloud cannot tell you).
 *
 * Invariants: every call takes the connection's mutex for its whole length;
 * every change is written to the state file before the call returns; a
 * create whose token names a live object returns that object.
 */
#include "drivers/driver.h"
#include "drivers/kit/kit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXAMPLE_MAX_TAGS    50
#define EXAMPLE_MAX_SUBNETS 16
#define EXAMPLE_DEFAULT_NET "10.0.0.0/16" /* machines without a subnet get an address here */

static const struct kumo_driver_host *host; /* set by the entry point */

/* ---- Objects ------------------------------------------------------------------ */

enum kind { MACHINE = KUMO_DRIVER_KIT_MACHINE, NETWORK = KUMO_DRIVER_KIT_NETWORK };
static const char *const kind_words[] = {[MACHINE] = "machine", [NETWORK] = "network"};

/* One resource of either kind (the fields of the other kind stay NULL/0). */
struct object {
    int kind;
    char *id;
    char *token;
    char *name;
    int64_t created_ns;
    struct kumo_driver_kit_tag *tags;
    size_t tag_count;
    char *type; /* machine */
    char *image;
    char *zone;
    char *network_id;
    char *subnet_id;
    char *ip;
    int64_t launch_ns;
    char *cidr; /* network */
    struct kumo_driver_kit_subnet *subnets;
    size_t subnet_count;
};

#define STR(key, member)                                                                           \
    KUMO_DRIVER_KIT_FIELD(key, KUMO_DRIVER_KIT_FIELD_STRING, struct object, member)
/* The state file's fields of an object (the kit writes and reads them). */
static const struct kumo_driver_kit_field fields[] = {
    STR("id", id),
    STR("token", token),
    STR("name", name),
    KUMO_DRIVER_KIT_FIELD("created", KUMO_DRIVER_KIT_FIELD_INT64, struct object, created_ns),
    KUMO_DRIVER_KIT_LIST("tag", KUMO_DRIVER_KIT_FIELD_TAGS, struct object, tags, tag_count),
    STR("type", type),
    STR("image", image),
    STR("zone", zone),
    STR("network", network_id),
    STR("subnet_id", subnet_id),
    STR("ip", ip),
    KUMO_DRIVER_KIT_FIELD("launch", KUMO_DRIVER_KIT_FIELD_INT64, struct object, launch_ns),
    STR("cidr", cidr),
    KUMO_DRIVER_KIT_LIST("subnet", KUMO_DRIVER_KIT_FIELD_SUBNETS, struct object, subnets,
                         subnet_count),
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

static void object_free(struct object *o)
{
    if (o != NULL)
        kumo_driver_kit_state_free(fields, FIELD_COUNT, o);
    free(o);
}

/* ---- Config ------------------------------------------------------------------- */

struct config {
    char state[4096]; /* the state file */
    char region[64];
    char zone[64];
    double boot_seconds; /* a new machine is Pending this long */
};

/* kumod passes a Connection's provider (when set): only "example" is this cloud. */
static kumo_driver_code set_provider(const struct kumo_driver_kit_settings *table, void *config,
                                     const char *key, const char *value,
                                     struct kumo_driver_diag *diag)
{
    (void)config;
    if (value[0] != '\0' && strcmp(value, "example") != 0)
        return kumo_driver_kit_setting_bad(table, key, value, "\"example\" (or nothing)", diag);
    return KUMO_DRIVER_OK;
}

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
/* The config keys: one row each (what, where, its range, the error's words). */
static const struct kumo_driver_kit_setting setting_rows[] = {
    {"state", KUMO_DRIVER_KIT_SETTING_STRING, FIELD(state), 1, 0, NULL,
     "the path of the state file", 0, NULL},
    {"provider", KUMO_DRIVER_KIT_SETTING_CUSTOM, 0, 0, 0, 0, NULL, NULL, 0, set_provider},
    {"region", KUMO_DRIVER_KIT_SETTING_STRING, FIELD(region), 1, 0, NULL, "a region name", 0, NULL},
    {"zone", KUMO_DRIVER_KIT_SETTING_STRING, FIELD(zone), 1, 0, NULL, "a zone name", 0, NULL},
    {"endpoint", KUMO_DRIVER_KIT_SETTING_IGNORED, 0, 0, 0, 0, NULL, NULL, 0, NULL},
    {"boot_seconds", KUMO_DRIVER_KIT_SETTING_DOUBLE, FIELD(boot_seconds), 0, 3600, NULL,
     "seconds from 0 to 3600", 0, NULL},
};
static const struct kumo_driver_kit_settings settings = {
    "example", "UnknownParameter", setting_rows, sizeof(setting_rows) / sizeof(setting_rows[0])};

/* ---- The catalog -------------------------------------------------------------- */

static const struct kumo_driver_instance_type types[] = {
    {.name = "ex.small", .vcpu = 1, .memory_mib = 1024, .arch = "x86_64", .price_per_hour = 0.01},
    {.name = "ex.large", .vcpu = 4, .memory_mib = 8192, .arch = "x86_64", .price_per_hour = 0.08},
};
static const struct kumo_driver_image images[] = {
    {.name = "ubuntu-22.04", .os = "linux", .arch = "x86_64", .provider_id = "img-ubuntu-2204"},
    {.name = "debian-12", .os = "linux", .arch = "x86_64", .provider_id = "img-debian-12"},
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct kumo_driver_instance_type *type_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < COUNT(types); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

static int image_known(const char *name)
{
    for (size_t i = 0; name != NULL && i < COUNT(images); i++)
        if (strcmp(images[i].name, name) == 0 || strcmp(images[i].provider_id, name) == 0)
            return 1;
    return 0;
}

/* ---- The connection and its state file ------------------------------------------- */

struct kumo_driver_conn {
    pthread_mutex_t mu; /* held by every call */
    struct config cfg;
    struct object **objects;
    size_t count;
    uint64_t serial; /* feeds new ids */
};

static kumo_driver_code nomem(struct kumo_driver_diag *diag)
{
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOMEM, "", "example: out of memory");
}

static kumo_driver_code add(struct kumo_driver_conn *c, struct object *o,
                            struct kumo_driver_diag *diag)
{
    struct object **grown = realloc(c->objects, (c->count + 1) * sizeof(*grown));
    if (grown == NULL) {
        object_free(o);
        return nomem(diag);
    }
    c->objects = grown;
    c->objects[c->count++] = o;
    return KUMO_DRIVER_OK;
}

/* Writes every object to the state file (atomically, through the kit). */
static kumo_driver_code save(struct kumo_driver_conn *c, struct kumo_driver_diag *diag)
{
    struct kumo_driver_kit_buf b;
    kumo_driver_kit_buf_init(&b);
    kumo_driver_kit_buf_printf(&b, "kumo-example-state 1\nserial\tnext=%llu\n",
                               (unsigned long long)c->serial);
    for (size_t i = 0; i < c->count; i++) {
        kumo_driver_kit_buf_printf(&b, "object\tkind=%s", kind_words[c->objects[i]->kind]);
        kumo_driver_kit_state_put(&b, fields, FIELD_COUNT, c->objects[i]);
        kumo_driver_kit_buf_str(&b, "\n");
    }
    kumo_driver_code rc = kumo_driver_kit_state_write(c->cfg.state, &b, diag);
    kumo_driver_kit_buf_fini(&b);
    return rc;
}

/* One field of a line: kind= makes the object (or reads the serial), the rest fill it. */
static int load_field(void *ctx, const char *key, const char *raw)
{
    struct object **o = ctx;
    if (strcmp(key, "kind") == 0) {
        int kind = strcmp(raw, "machine") == 0   ? MACHINE
                   : strcmp(raw, "network") == 0 ? NETWORK
                                                 : -1;
        if (kind < 0 || *o != NULL || (*o = calloc(1, sizeof(**o))) == NULL)
            return -1;
        (*o)->kind = kind;
        return 0;
    }
    return *o == NULL ? -1 : kumo_driver_kit_state_get(fields, FIELD_COUNT, *o, key, raw);
}

static kumo_driver_code load(struct kumo_driver_conn *c, struct kumo_driver_diag *diag)
{
    char *text, *save_ptr = NULL, *word;
    kumo_driver_code rc = kumo_driver_kit_state_read(c->cfg.state, &text, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc == KUMO_DRIVER_NOT_FOUND ? KUMO_DRIVER_OK /* a new cloud */ : rc;
    int line_no = 0;
    kumo_driver_code code = KUMO_DRIVER_OK;
    for (char *line = strtok_r(text, "\n", &save_ptr); line && code == KUMO_DRIVER_OK;
         line = strtok_r(NULL, "\n", &save_ptr)) {
        struct object *o = NULL;
        if (++line_no == 1)
            continue; /* the header */
        if (strncmp(line, "serial\tnext=", 12) == 0) {
            c->serial = strtoull(line + 12, NULL, 10);
        } else if (kumo_driver_kit_state_line(line, &word, load_field, &o) != 0 || o == NULL ||
                   o->id == NULL || o->token == NULL) {
            object_free(o);
            code = kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "StateUnreadable",
                                        "the state file %s is damaged at line %d", c->cfg.state,
                                        line_no);
        } else {
            code = add(c, o, diag);
        }
    }
    free(text);
    return code;
}

static void example_close(struct kumo_driver_conn *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        object_free(c->objects[i]);
    free(c->objects);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static kumo_driver_code example_open(const struct kumo_driver_open_args *args,
                                     struct kumo_driver_conn **out, struct kumo_driver_diag *diag)
{
    *out = NULL;
    struct kumo_driver_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return nomem(diag);
    pthread_mutex_init(&c->mu, NULL);
    snprintf(c->cfg.region, sizeof(c->cfg.region), "example-1");
    snprintf(c->cfg.zone, sizeof(c->cfg.zone), "example-1a");
    c->cfg.boot_seconds = 1;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < args->config_count; i++)
        rc = kumo_driver_kit_settings_apply(&settings, &c->cfg, args->config[i].key,
                                            args->config[i].value, 1, diag);
    if (rc == KUMO_DRIVER_OK && c->cfg.state[0] == '\0')
        rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                  "example config state is required (the state file's path)");
    if (rc == KUMO_DRIVER_OK)
        rc = load(c, diag);
    if (rc != KUMO_DRIVER_OK) {
        example_close(c);
        return rc;
    }
    *out = c;
    return KUMO_DRIVER_OK;
}

/* ---- Calls: the deadline, the lock, finding objects ------------------------------ */

/* Starts a call: TIMEOUT at once when the deadline has passed (nothing is
 * done), else takes the connection's lock (end_call releases it). */
static kumo_driver_code begin_call(struct kumo_driver_conn *c, int64_t deadline_ns,
                                   struct kumo_driver_diag *diag)
{
    if (host->monotonic_ns(host->ctx) >= deadline_ns)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",
                                    "example: the call's deadline has passed");
    pthread_mutex_lock(&c->mu);
    return KUMO_DRIVER_OK;
}

static kumo_driver_code end_call(struct kumo_driver_conn *c, kumo_driver_code rc)
{
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* The object of `kind` that ref names (by id, else by token), or NULL. */
static struct object *find(struct kumo_driver_conn *c, int kind, const struct kumo_driver_ref *ref)
{
    for (size_t i = 0; i < c->count; i++) {
        struct object *o = c->objects[i];
        if (o->kind != kind)
            continue;
        if (ref->provider_id && ref->provider_id[0] ? strcmp(o->id, ref->provider_id) == 0
                                                    : strcmp(o->token, ref->token) == 0)
            return o;
    }
    return NULL;
}

static kumo_driver_code not_found(int kind, const struct kumo_driver_ref *ref,
                                  struct kumo_driver_diag *diag)
{
    int by_id = ref->provider_id && ref->provider_id[0];
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "NotFound", "%s %s%s does not exist",
                                kind_words[kind], by_id ? "" : "with token ",
                                by_id ? ref->provider_id : ref->token);
}

/* The object ref names; INVALID for an empty ref, NOT_FOUND when absent. */
static kumo_driver_code lookup(struct kumo_driver_conn *c, int kind,
                               const struct kumo_driver_ref *ref, struct object **out,
                               struct kumo_driver_diag *diag)
{
    int has_id = ref->provider_id && ref->provider_id[0], has_token = ref->token && ref->token[0];
    if (!has_id && !has_token)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "a %s reference needs a provider id or a token",
                                    kind_words[kind]);
    *out = find(c, kind, ref);
    return *out != NULL ? KUMO_DRIVER_OK : not_found(kind, ref, diag);
}

/* ---- Results ------------------------------------------------------------------- */

/* o as the driver.h result of its kind, one block (NULL: out of memory). */
static const void *pack_object(struct kumo_driver_kit_pack *p, const struct kumo_driver_conn *c,
                               const struct object *o)
{
    int64_t boot_ns = (int64_t)(c->cfg.boot_seconds * 1e9);
    int booted = host->realtime_ns(host->ctx) >= o->launch_ns + boot_ns;
    struct kumo_driver_kit_record r = {
        .provider_id = o->id,
        .token = o->token,
        .name = o->name,
        .region = c->cfg.region,
        .created_ns = o->created_ns,
        .tags = o->tags,
        .tag_count = o->tag_count,
        .phase = booted ? KUMO_DRIVER_MACHINE_RUNNING : KUMO_DRIVER_MACHINE_PENDING,
        .provider_state = booted ? "running" : "pending",
        .instance_type = o->type,
        .image = o->image,
        .zone = o->zone,
        .network_id = o->network_id,
        .subnet_id = o->subnet_id,
        .private_ip = o->ip,
        .launch_ns = o->launch_ns,
        .price_per_hour = o->type && type_find(o->type) ? type_find(o->type)->price_per_hour : 0,
        .cidr = o->cidr,
        .subnets = o->subnets,
        .subnet_count = o->subnet_count,
    };
    return kumo_driver_kit_pack_record(p, o->kind, &r);
}

static kumo_driver_code result(const struct kumo_driver_conn *c, const struct object *o, void **out,
                               struct kumo_driver_diag *diag)
{
    void *block = NULL;
    KUMO_DRIVER_KIT_PACK_TWICE(host, block, p, pack_object(p, c, o));
    *out = block;
    return block != NULL ? KUMO_DRIVER_OK : nomem(diag);
}

/* Whether o is of kind and has the tag filter->tag_key with a value starting
 * with filter->tag_value_prefix (the token counts as the token tag). */
static int matches(const struct object *o, int kind, const struct kumo_driver_filter *filter)
{
    if (o->kind != kind)
        return 0;
    if (filter == NULL || filter->tag_key == NULL)
        return 1;
    const char *prefix = filter->tag_value_prefix ? filter->tag_value_prefix : "";
    size_t n = strlen(prefix);
    if (strcmp(filter->tag_key, KUMO_DRIVER_TOKEN_TAG) == 0)
        return strncmp(o->token, prefix, n) == 0;
    for (size_t i = 0; i < o->tag_count; i++)
        if (strcmp(o->tags[i].key, filter->tag_key) == 0 &&
            strncmp(o->tags[i].value, prefix, n) == 0)
            return 1;
    return 0;
}

static void pack_list(struct kumo_driver_kit_pack *p, const struct kumo_driver_conn *c, int kind,
                      const struct kumo_driver_filter *filter)
{
    size_t count = 0, n = 0;
    for (size_t i = 0; i < c->count; i++)
        count += matches(c->objects[i], kind, filter);
    const void **items = kumo_driver_kit_pack_list(p, count);
    for (size_t i = 0; i < c->count; i++) {
        if (!matches(c->objects[i], kind, filter))
            continue;
        const void *item = pack_object(p, c, c->objects[i]);
        if (items != NULL)
            items[n] = item;
        n++;
    }
}

/* ---- Operations every kind shares ---------------------------------------------- */

static kumo_driver_code observe_any(struct kumo_driver_conn *c, int kind,
                                    const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                    void **out, struct kumo_driver_diag *diag)
{
    struct object *o;
    *out = NULL;
    kumo_driver_code rc = begin_call(c, deadline_ns, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = lookup(c, kind, ref, &o, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = result(c, o, out, diag);
    return end_call(c, rc);
}

static kumo_driver_code list_any(struct kumo_driver_conn *c, int kind,
                                 const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                 void **out, struct kumo_driver_diag *diag)
{
    void *block = NULL;
    *out = NULL;
    kumo_driver_code rc = begin_call(c, deadline_ns, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    KUMO_DRIVER_KIT_PACK_TWICE(host, block, p, pack_list(p, c, kind, filter));
    *out = block;
    return end_call(c, block != NULL ? KUMO_DRIVER_OK : nomem(diag));
}

/* The machines on network id (its users). */
static size_t users_of(const struct kumo_driver_conn *c, const char *network_id)
{
    size_t n = 0;
    for (size_t i = 0; i < c->count; i++)
        n += c->objects[i]->kind == MACHINE && c->objects[i]->network_id &&
             strcmp(c->objects[i]->network_id, network_id) == 0;
    return n;
}

static kumo_driver_code delete_any(struct kumo_driver_conn *c, int kind,
                                   const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                   struct kumo_driver_diag *diag)
{
    struct object *o;
    kumo_driver_code rc = begin_call(c, deadline_ns, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = lookup(c, kind, ref, &o, diag);
    if (rc == KUMO_DRIVER_OK && kind == NETWORK && users_of(c, o->id) > 0)
        rc =
            kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "DependencyViolation",
                                 "network %s is used by %zu machine(s)", o->id, users_of(c, o->id));
    if (rc != KUMO_DRIVER_OK)
        return end_call(c, rc);
    for (size_t i = 0; i < c->count; i++)
        if (c->objects[i] == o)
            c->objects[i] = c->objects[--c->count];
    object_free(o);
    return end_call(c, save(c, diag));
}

/* Replaces o's tags with a copy of tags (the token tag is the driver's: skipped). */
static kumo_driver_code set_tags(struct object *o, const struct kumo_driver_tag *tags, size_t count,
                                 struct kumo_driver_diag *diag)
{
    if (count > EXAMPLE_MAX_TAGS)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "TagLimitExceeded",
                                    "%zu tags given; at most %d are allowed", count,
                                    EXAMPLE_MAX_TAGS);
    kumo_driver_kit_tags_free(o->tags, o->tag_count);
    o->tag_count = 0;
    o->tags = count ? calloc(count, sizeof(*o->tags)) : NULL;
    if (count && o->tags == NULL)
        return nomem(diag);
    for (size_t i = 0; i < count; i++) {
        if (tags[i].key == NULL || tags[i].key[0] == '\0')
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                        "tag %zu: a key is required", i);
        if (strcmp(tags[i].key, KUMO_DRIVER_TOKEN_TAG) == 0)
            continue;
        struct kumo_driver_kit_tag *t = &o->tags[o->tag_count++];
        t->key = strdup(tags[i].key);
        t->value = strdup(tags[i].value ? tags[i].value : "");
        if (t->key == NULL || t->value == NULL)
            return nomem(diag);
    }
    return KUMO_DRIVER_OK;
}

/* Update: only the tags (fields beyond `tags_bit` are UNSUPPORTED). */
static kumo_driver_code update_tags(struct kumo_driver_conn *c, int kind,
                                    const struct kumo_driver_ref *ref, uint32_t fields_asked,
                                    uint32_t tags_bit, const struct kumo_driver_tag *tags,
                                    size_t tag_count, int64_t deadline_ns, void **out,
                                    struct kumo_driver_diag *diag)
{
    struct object *o;
    *out = NULL;
    if (fields_asked & ~tags_bit)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNSUPPORTED, "Unsupported",
                                    "example: a %s update may change its tags only",
                                    kind_words[kind]);
    kumo_driver_code rc = begin_call(c, deadline_ns, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    rc = lookup(c, kind, ref, &o, diag);
    if (rc == KUMO_DRIVER_OK && (fields_asked & tags_bit))
        rc = set_tags(o, tags, tag_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = save(c, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = result(c, o, out, diag);
    return end_call(c, rc);
}

/* Starts a create: *found is the live object with token when there is one
 * (the create returns it), else *made is a new object (not yet added). */
static kumo_driver_code begin_create(struct kumo_driver_conn *c, int kind, const char *token,
                                     const char *name, struct object **found, struct object **made,
                                     struct kumo_driver_diag *diag)
{
    char id[32];
    struct kumo_driver_ref ref = {NULL, token};
    *made = NULL;
    if (token == NULL || token[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "a %s create needs a token", kind_words[kind]);
    if ((*found = find(c, kind, &ref)) != NULL)
        return KUMO_DRIVER_OK;
    struct object *o = calloc(1, sizeof(*o));
    snprintf(id, sizeof(id), "%s-%012llx", kind == MACHINE ? "i" : "net",
             (unsigned long long)++c->serial);
    if (o == NULL || (o->id = strdup(id)) == NULL || (o->token = strdup(token)) == NULL ||
        (o->name = strdup(name ? name : "")) == NULL) {
        object_free(o);
        return nomem(diag);
    }
    o->kind = kind;
    o->created_ns = host->realtime_ns(host->ctx);
    *made = o;
    return KUMO_DRIVER_OK;
}

/* Adds o, saves, and packs it; frees o when it cannot be added. */
static kumo_driver_code finish_create(struct kumo_driver_conn *c, struct object *o, void **out,
                                      struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = add(c, o, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = save(c, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = result(c, o, out, diag);
    return rc;
}

/* ---- Machines ----------------------------------------------------------------- */

/* The network and subnet a machine joins: subnet_id's (NOT_FOUND when none has
 * it), else the default range. Sets the machine's network, subnet, zone and ip. */
static kumo_driver_code place_machine(struct kumo_driver_conn *c, struct object *m,
                                      const char *subnet_id, struct kumo_driver_diag *diag)
{
    const char *cidr = EXAMPLE_DEFAULT_NET, *zone = c->cfg.zone, *network = "";
    uint32_t base, ip;
    int prefix;
    for (size_t i = 0; subnet_id && subnet_id[0] && i < c->count; i++)
        for (size_t s = 0; c->objects[i]->kind == NETWORK && s < c->objects[i]->subnet_count; s++)
            if (strcmp(c->objects[i]->subnets[s].id, subnet_id) == 0) {
                cidr = c->objects[i]->subnets[s].cidr;
                zone = c->objects[i]->subnets[s].zone;
                network = c->objects[i]->id;
            }
    if (subnet_id && subnet_id[0] && network[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidSubnetID.NotFound",
                                    "subnet %s does not exist", subnet_id);
    kumo_driver_kit_cidr_parse(cidr, 0, &base, &prefix);
    ip = base + 4 + (uint32_t)(c->serial % ((1u << (32 - prefix)) - 5)); /* simple, not reused */
    char text[16];
    snprintf(text, sizeof(text), "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255);
    m->network_id = strdup(network);
    m->subnet_id = strdup(subnet_id ? subnet_id : "");
    m->zone = strdup(zone);
    m->ip = strdup(text);
    return m->network_id && m->subnet_id && m->zone && m->ip ? KUMO_DRIVER_OK : nomem(diag);
}

static kumo_driver_code machine_create(struct kumo_driver_conn *c,
                                       const struct kumo_driver_machine_spec *spec,
                                       const char *token, int64_t deadline_ns,
                                       struct kumo_driver_machine **out,
                                       struct kumo_driver_diag *diag)
{
    struct object *m;
    *out = NULL;
    if (type_find(spec->instance_type) == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidInstanceType",
                                    "instance type \"%s\" is not in the catalog (ex.small, "
                                    "ex.large)",
                                    spec->instance_type ? spec->instance_type : "");
    if (!image_known(spec->image))
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidAMIID.NotFound",
                                    "image \"%s\" is not in the catalog",
                                    spec->image ? spec->image : "");
    kumo_driver_code rc = begin_call(c, deadline_ns, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct object *found;
    rc = begin_create(c, MACHINE, token, spec->name, &found, &m, diag);
    if (rc != KUMO_DRIVER_OK || found != NULL)
        return end_call(c, rc != KUMO_DRIVER_OK ? rc : result(c, found, (void **)out, diag));
    m->type = strdup(spec->instance_type);
    m->image = strdup(spec->image);
    m->launch_ns = m->created_ns;
    rc = m->type && m->image ? place_machine(c, m, spec->subnet_id, diag) : nomem(diag);
    if (rc == KUMO_DRIVER_OK)
        rc = set_tags(m, spec->tags, spec->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        object_free(m);
        return end_call(c, rc);
    }
    return end_call(c, finish_create(c, m, (void **)out, diag));
}

/* ---- Networks ----------------------------------------------------------------- */

/* Copies the spec's subnets (checked by the kit) into n, with new ids. */
static kumo_driver_code set_subnets(struct kumo_driver_conn *c, struct object *n,
                                    const struct kumo_driver_network_spec *spec,
                                    struct kumo_driver_diag *diag)
{
    char id[32];
    if (spec->subnet_count > EXAMPLE_MAX_SUBNETS)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "SubnetLimitExceeded",
                                    "%zu subnets given; a network may have at most %d",
                                    spec->subnet_count, EXAMPLE_MAX_SUBNETS);
    kumo_driver_code rc = kumo_driver_kit_subnets_check(n->cidr, KUMO_DRIVER_KIT_CIDR_EXACT,
                                                        spec->subnets, spec->subnet_count, diag);
    if (rc != KUMO_DRIVER_OK || spec->subnet_count == 0)
        return rc;
    if ((n->subnets = calloc(spec->subnet_count, sizeof(*n->subnets))) == NULL)
        return nomem(diag);
    for (size_t i = 0; i < spec->subnet_count; i++, n->subnet_count++) {
        const struct kumo_driver_subnet *s = &spec->subnets[i];
        struct kumo_driver_kit_subnet *d = &n->subnets[i];
        snprintf(id, sizeof(id), "subnet-%012llx", (unsigned long long)++c->serial);
        d->id = strdup(id);
        d->name = strdup(s->name);
        d->cidr = strdup(s->cidr);
        d->zone = strdup(s->zone && s->zone[0] ? s->zone : c->cfg.zone);
        if (!d->id || !d->name || !d->cidr || !d->zone)
            return nomem(diag);
    }
    return KUMO_DRIVER_OK;
}

static kumo_driver_code network_create(struct kumo_driver_conn *c,
                                       const struct kumo_driver_network_spec *spec,
                                       const char *token, int64_t deadline_ns,
                                       struct kumo_driver_network **out,
                                       struct kumo_driver_diag *diag)
{
    struct object *n;
    uint32_t base;
    int prefix;
    *out = NULL;
    if (kumo_driver_kit_cidr_parse(spec->cidr, KUMO_DRIVER_KIT_CIDR_EXACT, &base, &prefix) != 0 ||
        prefix < 16 || prefix > 28)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "network CIDR '%s' is not an IPv4 range from /16 to /28",
                                    spec->cidr ? spec->cidr : "");
    kumo_driver_code rc = begin_call(c, deadline_ns, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct object *found;
    rc = begin_create(c, NETWORK, token, spec->name, &found, &n, diag);
    if (rc != KUMO_DRIVER_OK || found != NULL)
        return end_call(c, rc != KUMO_DRIVER_OK ? rc : result(c, found, (void **)out, diag));
    rc = (n->cidr = strdup(spec->cidr)) != NULL ? set_subnets(c, n, spec, diag) : nomem(diag);
    if (rc == KUMO_DRIVER_OK)
        rc = set_tags(n, spec->tags, spec->tag_count, diag);
    if (rc != KUMO_DRIVER_OK) {
        object_free(n);
        return end_call(c, rc);
    }
    return end_call(c, finish_create(c, n, (void **)out, diag));
}

/* ---- The table's thin per-kind ops ---------------------------------------------- */

#define EXAMPLE_SHARED_OPS(kind, KIND)                                                             \
    static kumo_driver_code kind##_observe(                                                        \
        struct kumo_driver_conn *c, const struct kumo_driver_ref *ref, int64_t deadline_ns,        \
        struct kumo_driver_##kind **out, struct kumo_driver_diag *diag)                            \
    {                                                                                              \
        return observe_any(c, KIND, ref, deadline_ns, (void **)out, diag);                         \
    }                                                                                              \
    static kumo_driver_code kind##_delete(struct kumo_driver_conn *c,                              \
                                          const struct kumo_driver_ref *ref, int64_t deadline_ns,  \
                                          struct kumo_driver_diag *diag)                           \
    {                                                                                              \
        return delete_any(c, KIND, ref, deadline_ns, diag);                                        \
    }                                                                                              \
    static kumo_driver_code kind##_list(                                                           \
        struct kumo_driver_conn *c, const struct kumo_driver_filter *filter, int64_t deadline_ns,  \
        struct kumo_driver_##kind##_list **out, struct kumo_driver_diag *diag)                     \
    {                                                                                              \
        return list_any(c, KIND, filter, deadline_ns, (void **)out, diag);                         \
    }                                                                                              \
    static kumo_driver_code kind##_update(                                                         \
        struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,                             \
        const struct kumo_driver_##kind##_update *u, int64_t deadline_ns,                          \
        struct kumo_driver_##kind **out, struct kumo_driver_diag *diag)                            \
    {                                                                                              \
        return update_tags(c, KIND, ref, u->fields, KUMO_DRIVER_##KIND##_SET_TAGS, u->tags,        \
                           u->tag_count, deadline_ns, (void **)out, diag);                         \
    }

EXAMPLE_SHARED_OPS(machine, MACHINE)
EXAMPLE_SHARED_OPS(network, NETWORK)

/* ---- Catalog ------------------------------------------------------------------ */

static void pack_regions(struct kumo_driver_kit_pack *p, const struct kumo_driver_conn *c)
{
    const char *zones[1] = {c->cfg.zone};
    struct kumo_driver_region row = {.name = c->cfg.region,
                                     .display_name = "Example region",
                                     .latitude = 50.1,
                                     .longitude = 8.7,
                                     .zones = zones,
                                     .zone_count = 1};
    const void **items = kumo_driver_kit_pack_list(p, 1);
    const void *item = kumo_driver_kit_pack_region(p, &row);
    if (items != NULL)
        items[0] = item;
}

static void pack_types(struct kumo_driver_kit_pack *p)
{
    const void **items = kumo_driver_kit_pack_list(p, COUNT(types));
    for (size_t i = 0; i < COUNT(types); i++) {
        const void *item = kumo_driver_kit_pack_instance_type(p, &types[i]);
        if (items != NULL)
            items[i] = item;
    }
}

static void pack_images(struct kumo_driver_kit_pack *p)
{
    const void **items = kumo_driver_kit_pack_list(p, COUNT(images));
    for (size_t i = 0; i < COUNT(images); i++) {
        const void *item = kumo_driver_kit_pack_image(p, &images[i]);
        if (items != NULL)
            items[i] = item;
    }
}

/* The catalog is the driver's own constant data: no lock needed. */
#define EXAMPLE_CATALOG_OP(name, list_type, fill)                                                  \
    static kumo_driver_code name(struct kumo_driver_conn *c, int64_t deadline_ns,                  \
                                 struct list_type **out, struct kumo_driver_diag *diag)            \
    {                                                                                              \
        void *block = NULL;                                                                        \
        *out = NULL;                                                                               \
        if (host->monotonic_ns(host->ctx) >= deadline_ns)                                          \
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_TIMEOUT, "RequestTimeout",               \
                                        "example: the call's deadline has passed");                \
        KUMO_DRIVER_KIT_PACK_TWICE(host, block, p, fill);                                          \
        (void)c;                                                                                   \
        *out = block;                                                                              \
        return block != NULL ? KUMO_DRIVER_OK : nomem(diag);                                       \
    }

EXAMPLE_CATALOG_OP(catalog_regions, kumo_driver_region_list, pack_regions(p, c))
EXAMPLE_CATALOG_OP(catalog_instance_types, kumo_driver_instance_type_list, pack_types(p))
EXAMPLE_CATALOG_OP(catalog_images, kumo_driver_image_list, pack_images(p))

/* ---- The table and the entry point ---------------------------------------------- */

static const struct kumo_driver table = {
    KUMO_DRIVER_KIT_TABLE_VERSION,
    .name = "example",
    .description = "the reference driver: an in-memory cloud with a state file",
    .capabilities = KUMO_DRIVER_CAP_MACHINES | KUMO_DRIVER_CAP_NETWORKS | KUMO_DRIVER_CAP_CATALOG |
                    KUMO_DRIVER_CAP_TOKENS | KUMO_DRIVER_CAP_SIMULATED,
    .open = example_open,
    .close = example_close,
    .catalog_regions = catalog_regions,
    .catalog_instance_types = catalog_instance_types,
    .catalog_images = catalog_images,
    .machine_observe = machine_observe,
    .machine_create = machine_create,
    .machine_update = machine_update,
    .machine_delete = machine_delete,
    .machine_list = machine_list,
    .network_observe = network_observe,
    .network_create = network_create,
    .network_update = network_update,
    .network_delete = network_delete,
    .network_list = network_list,
};

__attribute__((visibility("default"))) const struct kumo_driver *
kumo_driver_entry(const struct kumo_driver_host *h)
{
    host = h;
    return &table;
}
