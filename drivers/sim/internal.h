/*
 * internal.h - what the files of the simulated cloud share.
 *
 * Two layers:
 *   core (catalog.c, buf.c, model.c, state.c): the built-in catalog, the
 *     objects of one fake cloud account, their record codec, and the state
 *     file (journal, replay, group commit, compaction). Built as the static
 *     library kumo_sim_core, linked into both the driver and kumo-sim; it
 *     knows nothing of connections and allocates with libc.
 *   driver (conn.c, ops.c, pack.c, driver.c): connections with their
 *     latency, rate limit, faults and stats; the operations; packing results
 *     into host-allocated blocks; the entry table and `control`.
 *
 * Locking order: sim_state.mu, then sim_state.journal_mu; a connection's mu is
 * never held while taking either.
 */
#ifndef KUMO_SIM_INTERNAL_H
#define KUMO_SIM_INTERNAL_H

#include "drivers/driver.h"
#include "drivers/kit/kit.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- buf.c: a tiny JSON reader (the buffer and JSON writing are the kit's) --- */

/*
 * Iterates the members of a flat JSON object: each call stores the next
 * member's key and its value (strings unescaped; numbers, true/false/null
 * as written; nested objects and arrays as their raw text). Returns 1 for a
 * member, 0 at the end, -1 on malformed input or a value too long.
 * *cursor starts at the text of the object.
 */
int sim_json_next(const char **cursor, char *key, size_t key_size, char *value, size_t value_size);
/* The value of top-level `key` into value; 1 found, 0 absent, -1 malformed. */
int sim_json_get(const char *json, const char *key, char *value, size_t value_size);

/* ---- catalog.c: built-in regions, instance types, images ----------------- */

#define SIM_ZONES_PER_REGION 3

struct sim_region {
    const char *provider; /* "aws", "gcp", "azure" */
    const char *name;
    const char *display;
    double latitude;
    double longitude;
    double price_factor; /* regional multiplier on the provider's base price */
};

struct sim_type {
    const char *provider;
    const char *name;
    int vcpu;
    int memory_mib;
    int gpu_count;
    int gpu_memory_mib;
    const char *gpu_model; /* "" without GPU */
    const char *arch;
    double price; /* USD per hour in the provider's cheapest US region */
};

struct sim_image {
    const char *provider;
    const char *name;
    const char *os;
    const char *arch;
    const char *provider_id; /* NULL: derived per region ("ami-...") */
    const char *description;
};

extern const struct sim_region sim_regions[];
extern const size_t sim_region_count;
extern const struct sim_type sim_types[];
extern const size_t sim_type_count;
extern const struct sim_image sim_images[];
extern const size_t sim_image_count;

int sim_provider_known(const char *provider);
/* "aws, gcp, azure" */
const char *sim_provider_list(void);
const struct sim_region *sim_region_find(const char *provider, const char *name);
const struct sim_type *sim_type_find(const char *provider, const char *name);
/* By catalog name or by this region's provider id. */
const struct sim_image *sim_image_find(const char *provider, const struct sim_region *region,
                                       const char *name_or_id);
/* Zone i (0..SIM_ZONES_PER_REGION-1) of a region: "us-east-1a", "us-central1-a", "eastus-1". */
void sim_zone_name(const struct sim_region *region, int i, char *buf, size_t size);
int sim_zone_valid(const struct sim_region *region, const char *zone);
double sim_type_price(const struct sim_type *type, const struct sim_region *region);
void sim_image_id(const struct sim_image *image, const struct sim_region *region, char *buf,
                  size_t size);
/* {"regions":[...],"instanceTypes":[...],"images":[...]}; NULL filters: all. */
void sim_catalog_json(struct kumo_driver_kit_buf *b, const char *provider, const char *region);

/* ---- model.c: objects, maps and the record codec ------------------------- */

enum sim_kind {
    SIM_MACHINE = 0,
    SIM_NETWORK,
    SIM_SECURITY_GROUP,
    SIM_KEY_PAIR,
    SIM_LOAD_BALANCER,
    SIM_KIND_COUNT
};

/* A load balancer's listener and target as the sim keeps them (strings owned). */
struct sim_lb_listener {
    char *name;
    int port, protocol;
};
struct sim_lb_target {
    char *name, *listener, *address;
    int port, weight, backup, draining;
};

/* "machine", "network", "security_group", "key_pair", "load_balancer" */
const char *sim_kind_name(int kind);
int sim_kind_parse(const char *name);

enum sim_power {
    SIM_POWER_RUNNING = 0,
    SIM_POWER_STOPPED,
    SIM_POWER_TERMINATED,
};

/*
 * One resource. A flat struct for every kind (fields of other kinds stay
 * NULL/0) so that one codec and one free function serve all. Every string is
 * its own libc allocation owned by the object.
 */
struct sim_object {
    int kind;
    size_t index; /* position in sim_state.objects */
    char *id;
    char *token;
    char *provider;
    char *region;
    char *name;
    char *token_key; /* "kind|provider|region|token": key of by_token */
    struct kumo_driver_kit_tag *tags;
    size_t tag_count;
    int64_t created_ns; /* Unix ns */
    int64_t visible_ns; /* reads do not see it before (eventual consistency) */
    uint64_t serial;

    /* machine */
    char *zone;
    char *type;
    char *image;
    char *network_id; /* also: security group's network */
    char *subnet_id;
    char *key_id;
    char *user_data;
    char *root_disk_type;
    char **sg_ids;
    size_t sg_count;
    uint32_t root_disk_gib;
    int power;             /* enum sim_power: what was last asked */
    int64_t transition_ns; /* when the last power change was asked */
    int64_t launch_ns;
    int64_t boot_ms;
    int64_t stop_ms;
    int64_t terminate_ms;
    uint32_t private_ip;
    uint32_t public_ip;
    char *ip_key;        /* "subnet|a.b.c.d": key of by_ip */
    char *public_ip_key; /* "public|a.b.c.d" */
    double price;
    int vcpu;

    /* network */
    char *cidr;
    struct kumo_driver_kit_subnet *subnets;
    size_t subnet_count;

    /* security group */
    struct kumo_driver_kit_rule *rules;
    size_t rule_count;

    /* key pair */
    char *public_key;
    char *fingerprint;

    /* load balancer (its address: public_ip) */
    struct sim_lb_listener *listeners;
    size_t listener_count;
    struct sim_lb_target *targets;
    size_t target_count;
    int lb_policy;
    int64_t lb_window_ms; /* a target is unhealthy this long after its machine stopped */
};

struct sim_object *sim_object_new(int kind);
/* qsort comparator of struct sim_object * by serial (creation order). */
int sim_object_by_serial(const void *a, const void *b);
/* A deep copy (through the codec); NULL on nomem. */
struct sim_object *sim_object_clone(const struct sim_object *o);
void sim_object_free(struct sim_object *o);
/* Strings: sets *field to a copy of value (NULL stays NULL). 0 ok, -1 nomem. */
int sim_set_str(char **field, const char *value);

/* A machine's phase at `now_ns`. Terminated-and-elapsed is TERMINATED. */
kumo_driver_machine_phase sim_machine_phase(const struct sim_object *m, int64_t now_ns);
/* "pending", "running", "stopping", "stopped", "shutting-down", "terminated" */
const char *sim_phase_word(kumo_driver_machine_phase phase);
/* True when the object no longer exists at now (a terminated machine whose
 * termination has elapsed). */
int sim_object_gone(const struct sim_object *o, int64_t now_ns);
/* The value of a tag, the token under KUMO_DRIVER_TOKEN_TAG; NULL when absent. */
const char *sim_object_tag(const struct sim_object *o, const char *key);

void sim_ip_format(uint32_t ip, char *buf, size_t size);
/* Parses "a.b.c.d/n". 0 ok, -1 malformed. */
int sim_cidr_parse(const char *cidr, uint32_t *base, int *prefix);

/* Record payload codec: one line of the kit's state format, "put\tkind=machine\tid=..." */
void sim_object_encode(const struct sim_object *o, struct kumo_driver_kit_buf *out);
/* Parses a put payload into a new object; NULL on malformed or nomem. */
struct sim_object *sim_object_decode(const char *payload, size_t len);

/* Open-addressing map from borrowed string keys to objects. */
struct sim_map {
    const char **keys;
    struct sim_object **values;
    size_t cap; /* power of two, or 0 */
    size_t count;
};

void sim_map_fini(struct sim_map *m);
struct sim_object *sim_map_get(const struct sim_map *m, const char *key);
/* Inserts or replaces. 0 ok, -1 nomem. The key must outlive the entry. */
int sim_map_put(struct sim_map *m, const char *key, struct sim_object *value);
void sim_map_remove(struct sim_map *m, const char *key);

/* ---- state.c: one fake cloud account in one state file ------------------- */

struct sim_state {
    char *path;
    int readonly;
    int refs; /* connections sharing it (driver registry) */
    long pid; /* the process that opened it: a forked child must not share it */
    struct sim_state *next;

    pthread_mutex_t mu; /* everything below up to the journal */
    struct sim_object **objects;
    size_t count;
    size_t cap;
    struct sim_map by_id;    /* object and subnet ids */
    struct sim_map by_token; /* token_key -> newest object with that token */
    struct sim_map by_ip;    /* ip keys -> machine */
    uint64_t salt;
    uint64_t next_serial;
    uint32_t next_public;
    uint64_t rng;
    int64_t last_sweep_ns;

    /* Journal: group commit. Records are appended under mu (so file order is
     * apply order); a leader writes and fsyncs pending records for all. */
    pthread_mutex_t journal_mu;
    pthread_cond_t journal_cond;
    int fd;
    int lock_fd;
    int fsync;
    int64_t compact_bytes;
    struct kumo_driver_kit_buf pending;
    struct kumo_driver_kit_buf writing;
    uint64_t appended;
    uint64_t durable;
    int flushing;
    int failed; /* a write or fsync failed: the state refuses further changes */
    char failure[256];
    int64_t file_bytes;
    int64_t live_bytes; /* size of the last compaction's snapshot */
};

/*
 * Opens a state file. Writable: creates it when missing, takes an exclusive
 * flock on PATH.lock (a second writer process gets an error naming the pid
 * that holds it), replays it, and cuts a torn last record. Read-only: replays
 * what is complete, takes no lock, changes nothing (a missing or empty file
 * is an error / an empty account). On failure returns NULL with a sentence in
 * err, and *locked (may be NULL) says whether another process holds the lock.
 */
struct sim_state *sim_state_open(const char *path, int readonly, int do_fsync,
                                 int64_t compact_bytes, int *locked, char *err, size_t err_size);
void sim_state_close(struct sim_state *st);

/* Caller holds mu for all of these. */
int sim_state_insert(struct sim_state *st, struct sim_object *o);
/* `o` (usually a modified clone) takes old's place; old is freed. 0 ok, -1 nomem
 * (then nothing changed and o still belongs to the caller). */
int sim_state_replace(struct sim_state *st, struct sim_object *old, struct sim_object *o);
void sim_state_remove(struct sim_state *st, struct sim_object *o); /* and frees it */
struct sim_object *sim_state_find_id(struct sim_state *st, const char *id);
struct sim_object *sim_state_find_token(struct sim_state *st, int kind, const char *provider,
                                        const char *region, const char *token);
/* A fresh id "<prefix><16 hex>" unique forever in this state. */
void sim_state_new_id(struct sim_state *st, const char *prefix, char *buf, size_t size,
                      uint64_t *serial);
uint64_t sim_state_random(struct sim_state *st);
/* Purges machines whose termination has elapsed (at most every 100 ms). */
void sim_state_sweep(struct sim_state *st, int64_t now_ns);
/* Registers the IP keys of a machine in by_ip. 0 ok, -1 nomem. */
int sim_state_index_ips(struct sim_state *st, struct sim_object *m);

/* Appends a record of o's current value (or its deletion) to the journal;
 * returns its sequence number, 0 when the state has failed. Caller holds mu. */
uint64_t sim_journal_put(struct sim_state *st, const struct sim_object *o);
uint64_t sim_journal_delete(struct sim_state *st, const struct sim_object *o);
/* Returns once record `seq` is durable: 0, or -1 with the failure in err.
 * Caller does not hold mu. Compacts the file when it has grown large. */
int sim_journal_commit(struct sim_state *st, uint64_t seq, char *err, size_t err_size);

/* inventory.c: the inventory as JSON; region/provider NULL: all. Caller holds mu. */
void sim_inventory_json(struct sim_state *st, int64_t now_ns, const char *provider,
                        const char *region, struct kumo_driver_kit_buf *out);

/* A log hook for the core (the driver routes it to the host; kumo-sim to stderr). */
extern void (*sim_log_hook)(int level, const char *message);
void sim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- The driver layer (conn.c, ops.c, pack.c, driver.c) ----------------- */

#define SIM_MAX_TYPES 128
#define SIM_UNLIMITED (-1)
/* Timing: the retry hint of a capacity error, a load balancer's default
 * health check interval and unhealthy threshold, how often expired objects
 * are swept. */
#define SIM_CAPACITY_RETRY_MS      5000
#define SIM_LB_CHECK_INTERVAL_MS   10000
#define SIM_LB_UNHEALTHY_THRESHOLD 3
#define SIM_SWEEP_INTERVAL_NS      (100 * 1000000LL)
#define SIM_RING                   8192

/* The counted cloud API calls, for stats and the rate limit. */
#define SIM_OPS(X)                                                                                 \
    X(CATALOG_REGIONS, "catalog_regions")                                                          \
    X(CATALOG_INSTANCE_TYPES, "catalog_instance_types")                                            \
    X(CATALOG_IMAGES, "catalog_images")                                                            \
    X(MACHINE_OBSERVE, "machine_observe")                                                          \
    X(MACHINE_CREATE, "machine_create")                                                            \
    X(MACHINE_UPDATE, "machine_update")                                                            \
    X(MACHINE_DELETE, "machine_delete")                                                            \
    X(MACHINE_LIST, "machine_list")                                                                \
    X(NETWORK_OBSERVE, "network_observe")                                                          \
    X(NETWORK_CREATE, "network_create")                                                            \
    X(NETWORK_UPDATE, "network_update")                                                            \
    X(NETWORK_DELETE, "network_delete")                                                            \
    X(NETWORK_LIST, "network_list")                                                                \
    X(SECURITY_GROUP_OBSERVE, "security_group_observe")                                            \
    X(SECURITY_GROUP_CREATE, "security_group_create")                                              \
    X(SECURITY_GROUP_UPDATE, "security_group_update")                                              \
    X(SECURITY_GROUP_DELETE, "security_group_delete")                                              \
    X(SECURITY_GROUP_LIST, "security_group_list")                                                  \
    X(KEY_PAIR_OBSERVE, "key_pair_observe")                                                        \
    X(KEY_PAIR_CREATE, "key_pair_create")                                                          \
    X(KEY_PAIR_UPDATE, "key_pair_update")                                                          \
    X(KEY_PAIR_DELETE, "key_pair_delete")                                                          \
    X(KEY_PAIR_LIST, "key_pair_list")                                                              \
    X(LOAD_BALANCER_OBSERVE, "load_balancer_observe")                                              \
    X(LOAD_BALANCER_CREATE, "load_balancer_create")                                                \
    X(LOAD_BALANCER_UPDATE, "load_balancer_update")                                                \
    X(LOAD_BALANCER_DELETE, "load_balancer_delete")                                                \
    X(LOAD_BALANCER_LIST, "load_balancer_list")

enum sim_op {
#define SIM_OP_ENUM(name, text) SIM_OP_##name,
    SIM_OPS(SIM_OP_ENUM)
#undef SIM_OP_ENUM
        SIM_OP_COUNT
};

const char *sim_op_name(int op);

enum sim_latency_shape {
    SIM_LATENCY_UNIFORM = 0, /* mean +- jitter */
    SIM_LATENCY_NORMAL,      /* mean, standard deviation jitter */
    SIM_LATENCY_EXPONENTIAL, /* mean + an exponential tail of mean jitter */
};

/* A connection's settings; see docs/drivers.md for the keys. */
struct sim_config {
    char provider[16];
    char region_name[64];
    const struct sim_region *region; /* resolved from provider + region_name at open */
    char zone[80];
    char state_path[4096];
    int fsync;
    int64_t compact_bytes;
    double latency_ms;
    double latency_jitter_ms;
    int latency_shape;
    double boot_seconds;
    double stop_seconds;
    double terminate_seconds;
    int64_t capacity;                     /* machines in the region; SIM_UNLIMITED */
    int64_t type_capacity[SIM_MAX_TYPES]; /* by index in sim_types */
    int64_t quota_machines;
    int64_t quota_vcpus;
    double qps; /* 0: unlimited */
    double burst;
    double fault_rate;
    double fault_after_rate;
    int64_t consistency_delay_ms;
    uint64_t seed;
    int has_seed;
    char auth_secret[128];
};

void sim_config_defaults(struct sim_config *cfg);
/* Applies one key. `at_open` allows the keys that cannot change later
 * (provider, region, zone, state, fsync, compact_bytes). Returns OK or
 * INVALID with a message naming the key and what was expected. */
kumo_driver_code sim_config_set(struct sim_config *cfg, const char *key, const char *value,
                                int at_open, struct kumo_driver_diag *diag);

/* Arrivals inside the last second, for peak QPS. */
struct sim_window {
    int64_t ring[SIM_RING];
    size_t head;
    size_t len;
    size_t peak;
};

struct kumo_driver_conn {
    struct sim_state *state; /* shared by every connection on the same file */
    char name[256];
    int authorized;

    pthread_mutex_t mu; /* everything below */
    pthread_cond_t idle;
    struct sim_config cfg;
    uint64_t rng;
    double tokens;
    int64_t bucket_ns;
    int in_flight;
    int peak_in_flight;
    uint64_t calls[SIM_OP_COUNT];
    uint64_t total_calls;
    uint64_t accepted;
    uint64_t throttled;
    uint64_t faults;
    uint64_t timeouts;
    struct sim_window requests;
    struct sim_window accepted_window;
};

/* The host given to kumo_driver_entry. */
extern const struct kumo_driver_host *sim_host;

/* One simulated API call: the request leg of the latency, arrival counting,
 * auth, the rate limit and faults (begin), then the response leg (end). */
struct sim_call {
    struct kumo_driver_conn *conn;
    int op;
    int64_t deadline_ns;
    int64_t response_ns; /* the response leg's latency */
    int reached;         /* the request arrived (so the response leg follows) */
};

kumo_driver_code sim_call_begin(struct kumo_driver_conn *c, int op, int64_t deadline_ns,
                                struct sim_call *call, struct kumo_driver_diag *diag);
/* Returns rc, or TIMEOUT / an injected fault that replaces it. */
kumo_driver_code sim_call_end(struct sim_call *call, kumo_driver_code rc,
                              struct kumo_driver_diag *diag);
/* A uniform random number in [0, 1) from the connection's generator. */
double sim_conn_random(struct kumo_driver_conn *c);
/* Copies the settings under the lock. */
void sim_conn_config(struct kumo_driver_conn *c, struct sim_config *out);
/* {"calls":...} */
void sim_conn_stats_json(struct kumo_driver_conn *c, struct kumo_driver_kit_buf *out);
void sim_conn_stats_reset(struct kumo_driver_conn *c);

/* pack.c: results as one host-allocated block each (NULL: out of memory).
 * Caller holds the state's mu. */
void *sim_pack_object(struct sim_state *st, const struct sim_object *o, int64_t now_ns);
void *sim_pack_list(struct sim_state *st, struct sim_object *const *objects, size_t count,
                    int64_t now_ns);
/* A public address (198.18.0.0/15) for o (o->public_ip, public_ip_key); OK without one when
 * the pool is exhausted. Caller holds the state's mu. */
kumo_driver_code sim_public_address(struct sim_state *st, struct sim_object *o,
                                    struct kumo_driver_diag *diag);
/* lb.c: a load balancer with its targets' health as of now (machines of st). */
const void *sim_pack_load_balancer(struct kumo_driver_kit_pack *p, struct sim_state *st,
                                   const struct sim_object *o, int64_t now_ns);
void *sim_pack_regions(const char *provider);
void *sim_pack_instance_types(const struct sim_region *region);
void *sim_pack_images(const struct sim_region *region);
char *sim_pack_text(const char *text);

/* ops.c: one operation's request, run by sim_run: the call's latency and
 * limits, then `body` under the state's mu, then the commit of the record the
 * body appended (if any), then the response leg. */
struct sim_request {
    int kind;
    const struct kumo_driver_ref *ref;
    const void *spec;   /* the kind's *_spec */
    const void *update; /* the kind's *_update */
    const char *token;
    const struct kumo_driver_filter *filter;
    struct sim_config cfg; /* the connection's settings at the call */
    int64_t now_ns;        /* Unix ns, host clock */
    struct sim_state *state;
    void *block;  /* the result handed to the host */
    int appended; /* the body queued a journal record ... */
    uint64_t seq; /* ... with this sequence number (0: queueing failed) */
};

typedef kumo_driver_code (*sim_body_fn)(struct kumo_driver_conn *c, struct sim_request *r,
                                        struct kumo_driver_diag *diag);

kumo_driver_code sim_run(struct kumo_driver_conn *c, int op, int64_t deadline_ns, sim_body_fn body,
                         struct sim_request *r, struct kumo_driver_diag *diag);
/* Shared bodies and helpers (caller holds the state's mu). */
kumo_driver_code sim_observe_body(struct kumo_driver_conn *c, struct sim_request *r,
                                  struct kumo_driver_diag *diag);
kumo_driver_code sim_list_body(struct kumo_driver_conn *c, struct sim_request *r,
                               struct kumo_driver_diag *diag);
/* The resource r->ref names, or NULL with NOT_FOUND/INVALID in diag. Reads
 * (for_read) do not see resources still inside their consistency delay. */
struct sim_object *sim_lookup(struct kumo_driver_conn *c, struct sim_request *r, int for_read,
                              kumo_driver_code *rc, struct kumo_driver_diag *diag);
/* A live resource created with r->token, to be returned by an idempotent create. */
struct sim_object *sim_existing(struct kumo_driver_conn *c, struct sim_request *r);
/* A resource of `kind` with exactly this id in the connection's region. */
struct sim_object *sim_find_kind(struct kumo_driver_conn *c, struct sim_request *r, int kind,
                                 const char *id);
/* Validates and copies tags into o (replacing its tags). */
kumo_driver_code sim_copy_tags(struct sim_object *o, const struct kumo_driver_tag *tags,
                               size_t count, struct kumo_driver_diag *diag);
/* Fills the fields every new resource has and inserts + journals it.
 * On failure frees o. */
kumo_driver_code sim_add_new(struct kumo_driver_conn *c, struct sim_request *r,
                             struct sim_object *o, const char *id_prefix,
                             struct kumo_driver_diag *diag);
/* Replaces old by its modified clone and journals it; on failure frees copy. */
kumo_driver_code sim_commit_change(struct kumo_driver_conn *c, struct sim_request *r,
                                   struct sim_object *old, struct sim_object *copy,
                                   struct kumo_driver_diag *diag);
/* Journals the deletion of o and removes it. */
void sim_delete_now(struct kumo_driver_conn *c, struct sim_request *r, struct sim_object *o);
/* Packs o into r->block; NOMEM when that failed. */
kumo_driver_code sim_result(struct sim_request *r, const struct sim_object *o,
                            struct kumo_driver_diag *diag);
const char *sim_not_found_code(int kind);

/* INVALID "MissingParameter" for a NULL argument. */
kumo_driver_code sim_missing(struct kumo_driver_diag *diag, const char *op, const char *what);

/* The five entry points of one kind, over its create/update/delete bodies. */
#define SIM_DEFINE_OPS(noun, NOUN, KINDNUM, create_body, update_body, delete_body)                 \
    kumo_driver_code sim_##noun##_observe(                                                         \
        struct kumo_driver_conn *c, const struct kumo_driver_ref *ref, int64_t deadline_ns,        \
        struct kumo_driver_##noun **out, struct kumo_driver_diag *diag)                            \
    {                                                                                              \
        struct sim_request r;                                                                      \
        if (out == NULL || ref == NULL)                                                            \
            return sim_missing(diag, #noun "_observe", "ref and out");                             \
        *out = NULL;                                                                               \
        memset(&r, 0, sizeof(r));                                                                  \
        r.kind = KINDNUM;                                                                          \
        r.ref = ref;                                                                               \
        kumo_driver_code rc =                                                                      \
            sim_run(c, SIM_OP_##NOUN##_OBSERVE, deadline_ns, sim_observe_body, &r, diag);          \
        *out = r.block;                                                                            \
        return rc;                                                                                 \
    }                                                                                              \
    kumo_driver_code sim_##noun##_create(                                                          \
        struct kumo_driver_conn *c, const struct kumo_driver_##noun##_spec *spec,                  \
        const char *token, int64_t deadline_ns, struct kumo_driver_##noun **out,                   \
        struct kumo_driver_diag *diag)                                                             \
    {                                                                                              \
        struct sim_request r;                                                                      \
        if (out == NULL || spec == NULL)                                                           \
            return sim_missing(diag, #noun "_create", "spec and out");                             \
        *out = NULL;                                                                               \
        if (token == NULL || token[0] == '\0' || strlen(token) > 128)                              \
            return sim_missing(diag, #noun "_create", "a token of 1 to 128 characters");           \
        memset(&r, 0, sizeof(r));                                                                  \
        r.kind = KINDNUM;                                                                          \
        r.spec = spec;                                                                             \
        r.token = token;                                                                           \
        kumo_driver_code rc =                                                                      \
            sim_run(c, SIM_OP_##NOUN##_CREATE, deadline_ns, create_body, &r, diag);                \
        *out = r.block;                                                                            \
        return rc;                                                                                 \
    }                                                                                              \
    kumo_driver_code sim_##noun##_update(                                                          \
        struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,                             \
        const struct kumo_driver_##noun##_update *update, int64_t deadline_ns,                     \
        struct kumo_driver_##noun **out, struct kumo_driver_diag *diag)                            \
    {                                                                                              \
        struct sim_request r;                                                                      \
        if (out == NULL || ref == NULL || update == NULL)                                          \
            return sim_missing(diag, #noun "_update", "ref, update and out");                      \
        *out = NULL;                                                                               \
        memset(&r, 0, sizeof(r));                                                                  \
        r.kind = KINDNUM;                                                                          \
        r.ref = ref;                                                                               \
        r.update = update;                                                                         \
        kumo_driver_code rc =                                                                      \
            sim_run(c, SIM_OP_##NOUN##_UPDATE, deadline_ns, update_body, &r, diag);                \
        *out = r.block;                                                                            \
        return rc;                                                                                 \
    }                                                                                              \
    kumo_driver_code sim_##noun##_delete(struct kumo_driver_conn *c,                               \
                                         const struct kumo_driver_ref *ref, int64_t deadline_ns,   \
                                         struct kumo_driver_diag *diag)                            \
    {                                                                                              \
        struct sim_request r;                                                                      \
        if (ref == NULL)                                                                           \
            return sim_missing(diag, #noun "_delete", "ref");                                      \
        memset(&r, 0, sizeof(r));                                                                  \
        r.kind = KINDNUM;                                                                          \
        r.ref = ref;                                                                               \
        return sim_run(c, SIM_OP_##NOUN##_DELETE, deadline_ns, delete_body, &r, diag);             \
    }                                                                                              \
    kumo_driver_code sim_##noun##_list(                                                            \
        struct kumo_driver_conn *c, const struct kumo_driver_filter *filter, int64_t deadline_ns,  \
        struct kumo_driver_##noun##_list **out, struct kumo_driver_diag *diag)                     \
    {                                                                                              \
        struct sim_request r;                                                                      \
        if (out == NULL)                                                                           \
            return sim_missing(diag, #noun "_list", "out");                                        \
        *out = NULL;                                                                               \
        memset(&r, 0, sizeof(r));                                                                  \
        r.kind = KINDNUM;                                                                          \
        r.filter = filter;                                                                         \
        kumo_driver_code rc =                                                                      \
            sim_run(c, SIM_OP_##NOUN##_LIST, deadline_ns, sim_list_body, &r, diag);                \
        *out = r.block;                                                                            \
        return rc;                                                                                 \
    }

/* The table's resource operations (ops.c: machines; network.c: the rest). */
KUMO_DRIVER_KIT_DECLARE_OPS(sim, machine);
KUMO_DRIVER_KIT_DECLARE_OPS(sim, network);
KUMO_DRIVER_KIT_DECLARE_OPS(sim, security_group);
KUMO_DRIVER_KIT_DECLARE_OPS(sim, key_pair);
KUMO_DRIVER_KIT_DECLARE_OPS(sim, load_balancer);

KUMO_DRIVER_KIT_DECLARE_CATALOG(sim);
/* Behind-kumo's-back power changes for control: "stop", "start", "terminate". */
kumo_driver_code sim_machine_force(struct kumo_driver_conn *c, const char *id, const char *action,
                                   struct kumo_driver_diag *diag);

#endif
