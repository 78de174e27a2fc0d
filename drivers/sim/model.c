/*
 * model.c - the sim's resources: allocation, machine lifecycle, the string
 * map that indexes them, and the record codec of the state file.
 *
 * A record payload is text, one field per line, "key=value". Values escape
 * '\\', newline and tab; a value with several parts (a tag, a subnet, a rule)
 * separates them with a raw tab. Unknown keys are ignored, so a newer sim can
 * add fields and an older kumo-sim still reads the file.
 */
#include "drivers/sim/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[SIM_KIND_COUNT] = {"machine", "network", "security_group",
                                                       "key_pair", "load_balancer"};

const char *sim_kind_name(int kind)
{
    return kind >= 0 && kind < SIM_KIND_COUNT ? kind_names[kind] : "unknown";
}

int sim_kind_parse(const char *name)
{
    for (int i = 0; i < SIM_KIND_COUNT; i++)
        if (strcmp(kind_names[i], name) == 0)
            return i;
    return -1;
}

struct sim_object *sim_object_new(int kind)
{
    struct sim_object *o = calloc(1, sizeof(*o));
    if (o != NULL)
        o->kind = kind;
    return o;
}

void sim_object_free(struct sim_object *o)
{
    if (o == NULL)
        return;
    char **strings[] = {&o->id,        &o->token,          &o->provider,   &o->region,
                        &o->name,      &o->token_key,      &o->zone,       &o->type,
                        &o->image,     &o->network_id,     &o->subnet_id,  &o->key_id,
                        &o->user_data, &o->root_disk_type, &o->ip_key,     &o->public_ip_key,
                        &o->cidr,      &o->public_key,     &o->fingerprint};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        free(*strings[i]);
    kumo_driver_kit_tags_free(o->tags, o->tag_count);
    for (size_t i = 0; i < o->sg_count; i++)
        free(o->sg_ids[i]);
    free(o->sg_ids);
    kumo_driver_kit_subnets_free(o->subnets, o->subnet_count);
    kumo_driver_kit_rules_free(o->rules, o->rule_count);
    for (size_t i = 0; i < o->listener_count; i++)
        free(o->listeners[i].name);
    free(o->listeners);
    for (size_t i = 0; i < o->target_count; i++) {
        free(o->targets[i].name);
        free(o->targets[i].listener);
        free(o->targets[i].address);
    }
    free(o->targets);
    free(o);
}

int sim_set_str(char **field, const char *value)
{
    char *copy = NULL;
    if (value != NULL) {
        copy = strdup(value);
        if (copy == NULL)
            return -1;
    }
    free(*field);
    *field = copy;
    return 0;
}

int sim_object_by_serial(const void *a, const void *b)
{
    const struct sim_object *x = *(const struct sim_object *const *)a;
    const struct sim_object *y = *(const struct sim_object *const *)b;
    return x->serial < y->serial ? -1 : x->serial > y->serial;
}

/* ---- Lifecycle ---------------------------------------------------------- */

kumo_driver_machine_phase sim_machine_phase(const struct sim_object *m, int64_t now_ns)
{
    int64_t elapsed_ms = (now_ns - m->transition_ns) / 1000000;
    switch (m->power) {
    case SIM_POWER_RUNNING:
        return elapsed_ms < m->boot_ms ? KUMO_DRIVER_MACHINE_PENDING : KUMO_DRIVER_MACHINE_RUNNING;
    case SIM_POWER_STOPPED:
        return elapsed_ms < m->stop_ms ? KUMO_DRIVER_MACHINE_STOPPING : KUMO_DRIVER_MACHINE_STOPPED;
    default:
        return elapsed_ms < m->terminate_ms ? KUMO_DRIVER_MACHINE_TERMINATING
                                            : KUMO_DRIVER_MACHINE_TERMINATED;
    }
}

const char *sim_phase_word(kumo_driver_machine_phase phase)
{
    switch (phase) {
    case KUMO_DRIVER_MACHINE_PENDING:
        return "pending";
    case KUMO_DRIVER_MACHINE_RUNNING:
        return "running";
    case KUMO_DRIVER_MACHINE_STOPPING:
        return "stopping";
    case KUMO_DRIVER_MACHINE_STOPPED:
        return "stopped";
    case KUMO_DRIVER_MACHINE_TERMINATING:
        return "shutting-down";
    case KUMO_DRIVER_MACHINE_TERMINATED:
        return "terminated";
    case KUMO_DRIVER_MACHINE_UNKNOWN:
        break;
    }
    return "unknown";
}

int sim_object_gone(const struct sim_object *o, int64_t now_ns)
{
    return o->kind == SIM_MACHINE && o->power == SIM_POWER_TERMINATED &&
           sim_machine_phase(o, now_ns) == KUMO_DRIVER_MACHINE_TERMINATED;
}

const char *sim_object_tag(const struct sim_object *o, const char *key)
{
    if (strcmp(key, KUMO_DRIVER_TOKEN_TAG) == 0)
        return o->token;
    for (size_t i = 0; i < o->tag_count; i++)
        if (strcmp(o->tags[i].key, key) == 0)
            return o->tags[i].value;
    return NULL;
}

void sim_ip_format(uint32_t ip, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

int sim_cidr_parse(const char *cidr, uint32_t *base, int *prefix)
{
    return kumo_driver_kit_cidr_parse(cidr, KUMO_DRIVER_KIT_CIDR_EXACT, base, prefix);
}

/* ---- Map ---------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

void sim_map_fini(struct sim_map *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof(*m));
}

static size_t slot_of(const struct sim_map *m, const char *key)
{
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

struct sim_object *sim_map_get(const struct sim_map *m, const char *key)
{
    if (m->cap == 0 || key == NULL)
        return NULL;
    size_t i = slot_of(m, key);
    return m->keys[i] ? m->values[i] : NULL;
}

static int grow(struct sim_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct sim_map next = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(void *)), cap, 0};
    if (next.keys == NULL || next.values == NULL) {
        free(next.keys);
        free(next.values);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == NULL)
            continue;
        size_t j = slot_of(&next, m->keys[i]);
        next.keys[j] = m->keys[i];
        next.values[j] = m->values[i];
        next.count++;
    }
    sim_map_fini(m);
    *m = next;
    return 0;
}

int sim_map_put(struct sim_map *m, const char *key, struct sim_object *value)
{
    if ((m->count + 1) * 4 >= m->cap * 3 && grow(m) != 0)
        return -1;
    size_t i = slot_of(m, key);
    if (m->keys[i] == NULL)
        m->count++;
    m->keys[i] = key;
    m->values[i] = value;
    return 0;
}

void sim_map_remove(struct sim_map *m, const char *key)
{
    if (m->cap == 0 || key == NULL)
        return;
    size_t i = slot_of(m, key);
    if (m->keys[i] == NULL)
        return;
    m->keys[i] = NULL;
    m->values[i] = NULL;
    m->count--;
    /* Backward-shift the cluster that follows so lookups never stop early. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (m->keys[j] == NULL)
            return;
        size_t home = (size_t)hash_str(m->keys[j]) & (m->cap - 1);
        /* Move j to i when its home is not in the cyclic range (i, j]. */
        int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            m->keys[i] = m->keys[j];
            m->values[i] = m->values[j];
            m->keys[j] = NULL;
            m->values[j] = NULL;
            i = j;
        }
    }
}

/* ---- Codec: encoding ---------------------------------------------------- */

static void put_escaped(struct kumo_driver_kit_buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\\')
            kumo_driver_kit_buf_add(b, "\\\\", 2);
        else if (*p == '\n')
            kumo_driver_kit_buf_add(b, "\\n", 2);
        else if (*p == '\t')
            kumo_driver_kit_buf_add(b, "\\t", 2);
        else
            kumo_driver_kit_buf_add(b, p, 1);
    }
}

static void put_str(struct kumo_driver_kit_buf *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    kumo_driver_kit_buf_str(b, key);
    kumo_driver_kit_buf_add(b, "=", 1);
    put_escaped(b, value);
    kumo_driver_kit_buf_add(b, "\n", 1);
}

static void put_int(struct kumo_driver_kit_buf *b, const char *key, int64_t value)
{
    kumo_driver_kit_buf_printf(b, "%s=%" PRId64 "\n", key, value);
}

/* key=part1<TAB>part2...; parts may be NULL (written empty). */
static void put_parts(struct kumo_driver_kit_buf *b, const char *key, const char *const *parts,
                      int n)
{
    kumo_driver_kit_buf_str(b, key);
    kumo_driver_kit_buf_add(b, "=", 1);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            kumo_driver_kit_buf_add(b, "\t", 1);
        put_escaped(b, parts[i]);
    }
    kumo_driver_kit_buf_add(b, "\n", 1);
}

void sim_object_encode(const struct sim_object *o, struct kumo_driver_kit_buf *b)
{
    char num[4][24];
    kumo_driver_kit_buf_str(b, "op=put\n");
    put_str(b, "kind", sim_kind_name(o->kind));
    put_str(b, "id", o->id);
    put_str(b, "token", o->token);
    put_str(b, "provider", o->provider);
    put_str(b, "region", o->region);
    put_str(b, "name", o->name);
    put_int(b, "created", o->created_ns);
    put_int(b, "visible", o->visible_ns);
    put_int(b, "serial", (int64_t)o->serial);
    for (size_t i = 0; i < o->tag_count; i++) {
        const char *parts[2] = {o->tags[i].key, o->tags[i].value};
        put_parts(b, "tag", parts, 2);
    }
    switch (o->kind) {
    case SIM_MACHINE:
        put_str(b, "zone", o->zone);
        put_str(b, "type", o->type);
        put_str(b, "image", o->image);
        put_str(b, "network", o->network_id);
        put_str(b, "subnet", o->subnet_id);
        put_str(b, "key", o->key_id);
        put_str(b, "user_data", o->user_data);
        put_str(b, "disk_type", o->root_disk_type);
        put_int(b, "disk_gib", o->root_disk_gib);
        for (size_t i = 0; i < o->sg_count; i++)
            put_str(b, "sg", o->sg_ids[i]);
        put_int(b, "power", o->power);
        put_int(b, "transition", o->transition_ns);
        put_int(b, "launch", o->launch_ns);
        put_int(b, "boot_ms", o->boot_ms);
        put_int(b, "stop_ms", o->stop_ms);
        put_int(b, "terminate_ms", o->terminate_ms);
        put_int(b, "private_ip", o->private_ip);
        put_int(b, "public_ip", o->public_ip);
        put_str(b, "ip_key", o->ip_key);
        put_str(b, "public_ip_key", o->public_ip_key);
        kumo_driver_kit_buf_printf(b, "price=%.17g\n", o->price);
        put_int(b, "vcpu", o->vcpu);
        break;
    case SIM_NETWORK:
        put_str(b, "cidr", o->cidr);
        for (size_t i = 0; i < o->subnet_count; i++) {
            const struct kumo_driver_kit_subnet *s = &o->subnets[i];
            const char *parts[4] = {s->id, s->name, s->cidr, s->zone};
            put_parts(b, "subnet", parts, 4);
        }
        break;
    case SIM_SECURITY_GROUP:
        put_str(b, "network", o->network_id);
        for (size_t i = 0; i < o->rule_count; i++) {
            const struct kumo_driver_kit_rule *r = &o->rules[i];
            snprintf(num[0], sizeof(num[0]), "%d", r->direction);
            snprintf(num[1], sizeof(num[1]), "%d", r->protocol);
            snprintf(num[2], sizeof(num[2]), "%d", r->from_port);
            snprintf(num[3], sizeof(num[3]), "%d", r->to_port);
            const char *parts[6] = {num[0], num[1], num[2], num[3], r->cidr, r->description};
            put_parts(b, "rule", parts, 6);
        }
        break;
    case SIM_KEY_PAIR:
        put_str(b, "public_key", o->public_key);
        put_str(b, "fingerprint", o->fingerprint);
        break;
    case SIM_LOAD_BALANCER:
        put_int(b, "public_ip", o->public_ip);
        put_str(b, "public_ip_key", o->public_ip_key);
        put_int(b, "lb_policy", o->lb_policy);
        put_int(b, "lb_window_ms", o->lb_window_ms);
        for (size_t i = 0; i < o->listener_count; i++) {
            snprintf(num[0], sizeof(num[0]), "%d", o->listeners[i].port);
            snprintf(num[1], sizeof(num[1]), "%d", o->listeners[i].protocol);
            const char *parts[3] = {o->listeners[i].name, num[0], num[1]};
            put_parts(b, "listener", parts, 3);
        }
        for (size_t i = 0; i < o->target_count; i++) {
            const struct sim_lb_target *t = &o->targets[i];
            char flags[48];
            snprintf(num[0], sizeof(num[0]), "%d", t->port);
            snprintf(flags, sizeof(flags), "%d %d %d", t->weight, t->backup, t->draining);
            const char *parts[5] = {t->name, t->listener, t->address, num[0], flags};
            put_parts(b, "target", parts, 5);
        }
        break;
    }
}

/* ---- Codec: decoding ---------------------------------------------------- */

enum { MAX_PARTS = 6 };

/* Unescapes value[0..len) in place into parts split at raw tabs. */
static int split_parts(char *value, char **parts, int max)
{
    int n = 1;
    char *w = value;
    parts[0] = value;
    for (char *r = value; *r; r++) {
        if (*r == '\t') {
            *w++ = '\0';
            if (n == max)
                return -1;
            parts[n++] = w;
        } else if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return n;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int push(void **array, size_t *count, size_t size)
{
    void *grown = realloc(*array, (*count + 1) * size);
    if (grown == NULL)
        return -1;
    *array = grown;
    memset((char *)grown + *count * size, 0, size);
    (*count)++;
    return 0;
}

static int decode_field(struct sim_object *o, const char *key, char *value)
{
    char *parts[MAX_PARTS];
    int64_t v = 0;
    struct {
        const char *key;
        char **field;
    } strings[] = {{"id", &o->id},
                   {"token", &o->token},
                   {"provider", &o->provider},
                   {"region", &o->region},
                   {"name", &o->name},
                   {"zone", &o->zone},
                   {"type", &o->type},
                   {"image", &o->image},
                   {"network", &o->network_id},
                   {"subnet", &o->subnet_id},
                   {"key", &o->key_id},
                   {"user_data", &o->user_data},
                   {"disk_type", &o->root_disk_type},
                   {"ip_key", &o->ip_key},
                   {"public_ip_key", &o->public_ip_key},
                   {"cidr", &o->cidr},
                   {"public_key", &o->public_key},
                   {"fingerprint", &o->fingerprint}};
    struct {
        const char *key;
        int64_t *field;
    } ints[] = {{"created", &o->created_ns},        {"visible", &o->visible_ns},
                {"transition", &o->transition_ns},  {"launch", &o->launch_ns},
                {"boot_ms", &o->boot_ms},           {"stop_ms", &o->stop_ms},
                {"terminate_ms", &o->terminate_ms}, {"lb_window_ms", &o->lb_window_ms}};

    if (o->kind == SIM_NETWORK && strcmp(key, "subnet") == 0) {
        if (split_parts(value, parts, MAX_PARTS) != 4 ||
            push((void **)&o->subnets, &o->subnet_count, sizeof(*o->subnets)) != 0)
            return -1;
        struct kumo_driver_kit_subnet *s = &o->subnets[o->subnet_count - 1];
        return sim_set_str(&s->id, parts[0]) | sim_set_str(&s->name, parts[1]) |
               sim_set_str(&s->cidr, parts[2]) | sim_set_str(&s->zone, parts[3]);
    }
    if (o->kind == SIM_LOAD_BALANCER && strcmp(key, "listener") == 0) {
        if (split_parts(value, parts, MAX_PARTS) != 3 ||
            push((void **)&o->listeners, &o->listener_count, sizeof(*o->listeners)) != 0)
            return -1;
        struct sim_lb_listener *l = &o->listeners[o->listener_count - 1];
        l->port = atoi(parts[1]);
        l->protocol = atoi(parts[2]);
        return sim_set_str(&l->name, parts[0]);
    }
    if (o->kind == SIM_LOAD_BALANCER && strcmp(key, "target") == 0) {
        if (split_parts(value, parts, MAX_PARTS) != 5 ||
            push((void **)&o->targets, &o->target_count, sizeof(*o->targets)) != 0)
            return -1;
        struct sim_lb_target *t = &o->targets[o->target_count - 1];
        t->port = atoi(parts[3]);
        if (sscanf(parts[4], "%d %d %d", &t->weight, &t->backup, &t->draining) != 3)
            return -1;
        return sim_set_str(&t->name, parts[0]) | sim_set_str(&t->listener, parts[1]) |
               sim_set_str(&t->address, parts[2]);
    }
    if (strcmp(key, "sg") == 0) {
        split_parts(value, parts, 1);
        if (push((void **)&o->sg_ids, &o->sg_count, sizeof(*o->sg_ids)) != 0)
            return -1;
        return sim_set_str(&o->sg_ids[o->sg_count - 1], parts[0]);
    }
    if (strcmp(key, "tag") == 0) {
        if (split_parts(value, parts, MAX_PARTS) != 2 ||
            push((void **)&o->tags, &o->tag_count, sizeof(*o->tags)) != 0)
            return -1;
        struct kumo_driver_kit_tag *t = &o->tags[o->tag_count - 1];
        return sim_set_str(&t->key, parts[0]) | sim_set_str(&t->value, parts[1]);
    }
    if (strcmp(key, "rule") == 0) {
        int64_t n[4];
        if (split_parts(value, parts, MAX_PARTS) != 6)
            return -1;
        for (int i = 0; i < 4; i++)
            if (parse_i64(parts[i], &n[i]) != 0)
                return -1;
        if (push((void **)&o->rules, &o->rule_count, sizeof(*o->rules)) != 0)
            return -1;
        struct kumo_driver_kit_rule *r = &o->rules[o->rule_count - 1];
        r->direction = (int)n[0];
        r->protocol = (int)n[1];
        r->from_port = (int)n[2];
        r->to_port = (int)n[3];
        return sim_set_str(&r->cidr, parts[4]) | sim_set_str(&r->description, parts[5]);
    }
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (strcmp(key, strings[i].key) == 0) {
            split_parts(value, parts, 1);
            return sim_set_str(strings[i].field, parts[0]);
        }
    }
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (strcmp(key, ints[i].key) == 0)
            return parse_i64(value, ints[i].field);
    if (strcmp(key, "price") == 0) {
        char *end;
        o->price = strtod(value, &end);
        return end == value ? -1 : 0;
    }
    const char *narrow[] = {"serial",    "disk_gib", "power",    "private_ip",
                            "public_ip", "vcpu",     "lb_policy"};
    for (size_t i = 0; i < sizeof(narrow) / sizeof(narrow[0]); i++) {
        if (strcmp(key, narrow[i]) != 0)
            continue;
        if (parse_i64(value, &v) != 0)
            return -1;
        if (strcmp(key, "serial") == 0)
            o->serial = (uint64_t)v;
        else if (strcmp(key, "disk_gib") == 0)
            o->root_disk_gib = (uint32_t)v;
        else if (strcmp(key, "power") == 0)
            o->power = (int)v;
        else if (strcmp(key, "private_ip") == 0)
            o->private_ip = (uint32_t)v;
        else if (strcmp(key, "public_ip") == 0)
            o->public_ip = (uint32_t)v;
        else if (strcmp(key, "lb_policy") == 0)
            o->lb_policy = (int)v;
        else
            o->vcpu = (int)v;
        return 0;
    }
    return 0; /* unknown: a newer writer's field */
}

struct sim_object *sim_object_decode(const char *payload, size_t len)
{
    char *text = malloc(len + 1);
    struct sim_object *o = NULL;
    if (text == NULL)
        return NULL;
    memcpy(text, payload, len);
    text[len] = '\0';
    char *save = NULL;
    int ok = 1;
    for (char *line = strtok_r(text, "\n", &save); line && ok; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            ok = 0;
            break;
        }
        *eq = '\0';
        const char *key = line;
        char *value = eq + 1;
        if (strcmp(key, "op") == 0) {
            ok = strcmp(value, "put") == 0;
        } else if (strcmp(key, "kind") == 0) {
            int kind = sim_kind_parse(value);
            ok = kind >= 0 && o == NULL;
            if (ok)
                o = sim_object_new(kind);
            ok = ok && o != NULL;
        } else {
            ok = o != NULL && decode_field(o, key, value) == 0;
        }
    }
    free(text);
    if (!ok || o == NULL || o->id == NULL || o->provider == NULL || o->region == NULL) {
        sim_object_free(o);
        return NULL;
    }
    return o;
}
