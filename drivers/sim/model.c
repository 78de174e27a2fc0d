/*
 * model.c - the sim's resources: allocation, machine lifecycle, the string
 * map that indexes them, and the record codec of the state file.
 *
 * A record payload is one line of the driver kit's state format (kit.h):
 * "put", then TAB-separated key=value fields described by the table below.
 * Unknown keys are ignored, so a newer sim can add fields and an older
 * kumo-sim still reads the file.
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

static void fields_free(struct sim_object *o);

void sim_object_free(struct sim_object *o)
{
    if (o == NULL)
        return;
    free(o->token_key); /* derived, not in the record */
    fields_free(o);
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

/* ---- Codec ------------------------------------------------------------- */

#define STR(key, member)                                                                           \
    KUMO_DRIVER_KIT_FIELD(key, KUMO_DRIVER_KIT_FIELD_STRING, struct sim_object, member)
#define NUM(key, kind, member)                                                                     \
    KUMO_DRIVER_KIT_FIELD(key, KUMO_DRIVER_KIT_FIELD_##kind, struct sim_object, member)
#define LIST(key, kind, member, count)                                                             \
    KUMO_DRIVER_KIT_LIST(key, KUMO_DRIVER_KIT_FIELD_##kind, struct sim_object, member, count)
#define COLUMN(type, key, kind, member)                                                            \
    KUMO_DRIVER_KIT_FIELD(key, KUMO_DRIVER_KIT_FIELD_##kind, type, member)

static const struct kumo_driver_kit_field listener_columns[] = {
    COLUMN(struct sim_lb_listener, "name", STRING, name),
    COLUMN(struct sim_lb_listener, "port", INT, port),
    COLUMN(struct sim_lb_listener, "protocol", INT, protocol),
};

static const struct kumo_driver_kit_field target_columns[] = {
    COLUMN(struct sim_lb_target, "name", STRING, name),
    COLUMN(struct sim_lb_target, "listener", STRING, listener),
    COLUMN(struct sim_lb_target, "address", STRING, address),
    COLUMN(struct sim_lb_target, "port", INT, port),
    COLUMN(struct sim_lb_target, "weight", INT, weight),
    COLUMN(struct sim_lb_target, "backup", INT, backup),
    COLUMN(struct sim_lb_target, "draining", INT, draining),
};

/* A resource's fields in a state record (the kit's format), in writing order. */
static const struct kumo_driver_kit_field fields[] = {
    STR("id", id),
    STR("token", token),
    STR("provider", provider),
    STR("region", region),
    STR("name", name),
    NUM("created", INT64, created_ns),
    NUM("visible", INT64, visible_ns),
    NUM("serial", UINT64, serial),
    LIST("tag", TAGS, tags, tag_count),
    STR("zone", zone),
    STR("type", type),
    STR("image", image),
    STR("network", network_id),
    STR("subnet_id", subnet_id),
    STR("key", key_id),
    STR("user_data", user_data),
    STR("disk_type", root_disk_type),
    NUM("disk_gib", UINT32, root_disk_gib),
    LIST("sg", STRINGS, sg_ids, sg_count),
    NUM("power", INT, power),
    NUM("transition", INT64, transition_ns),
    NUM("launch", INT64, launch_ns),
    NUM("boot_ms", INT64, boot_ms),
    NUM("stop_ms", INT64, stop_ms),
    NUM("terminate_ms", INT64, terminate_ms),
    NUM("private_ip", UINT32, private_ip),
    NUM("public_ip", UINT32, public_ip),
    STR("ip_key", ip_key),
    STR("public_ip_key", public_ip_key),
    NUM("price", DOUBLE, price),
    NUM("vcpu", INT, vcpu),
    STR("cidr", cidr),
    LIST("subnet", SUBNETS, subnets, subnet_count),
    LIST("rule", RULES, rules, rule_count),
    STR("public_key", public_key),
    STR("fingerprint", fingerprint),
    NUM("lb_policy", INT, lb_policy),
    NUM("lb_window_ms", INT64, lb_window_ms),
    KUMO_DRIVER_KIT_ROWS("listener", struct sim_object, listeners, listener_count,
                         struct sim_lb_listener, listener_columns),
    KUMO_DRIVER_KIT_ROWS("target", struct sim_object, targets, target_count, struct sim_lb_target,
                         target_columns),
};
#define FIELD_COUNT (sizeof(fields) / sizeof(fields[0]))

static void fields_free(struct sim_object *o)
{
    kumo_driver_kit_state_free(fields, FIELD_COUNT, o);
}

void sim_object_encode(const struct sim_object *o, struct kumo_driver_kit_buf *b)
{
    kumo_driver_kit_buf_printf(b, "put\tkind=%s", sim_kind_name(o->kind));
    kumo_driver_kit_state_put(b, fields, FIELD_COUNT, o);
}

/* One field of a put record: kind= makes the object, the rest fill it. */
static int decode_field(void *ctx, const char *key, const char *raw)
{
    struct sim_object **o = ctx;
    if (strcmp(key, "kind") == 0) {
        int kind = sim_kind_parse(raw);
        if (kind < 0 || *o != NULL || (*o = sim_object_new(kind)) == NULL)
            return -1;
        return 0;
    }
    return *o == NULL ? -1 : kumo_driver_kit_state_get(fields, FIELD_COUNT, *o, key, raw);
}

struct sim_object *sim_object_decode(const char *payload, size_t len)
{
    char *text = malloc(len + 1), *word = NULL;
    struct sim_object *o = NULL;
    if (text == NULL)
        return NULL;
    memcpy(text, payload, len);
    text[len] = '\0';
    int ok =
        kumo_driver_kit_state_line(text, &word, decode_field, &o) == 0 && strcmp(word, "put") == 0;
    free(text);
    if (!ok || o == NULL || o->id == NULL || o->provider == NULL || o->region == NULL) {
        sim_object_free(o);
        return NULL;
    }
    return o;
}
