/*
 * driver.h - the cloud driver plugin ABI of kumo. Self-contained: a driver
 * includes this file and nothing else of kumo.
 *
 * A driver is a shared object `kumo-driver-<name>.so` exporting one function,
 *
 *     const struct kumo_driver *kumo_driver_entry(const struct kumo_driver_host *host);
 *
 * that returns a const table: ABI version, the table's own size, the driver's
 * name, capability bits and the operations. kumo's loader (drivers/loader/)
 * dlopens the file, calls the entry once per load, rejects a different major
 * ABI version or a table shorter than its minor version requires, and maps the
 * driver's codes to kumo_error in one place.
 *
 * Growth (the sqlite iVersion rule): within one major version, fields are only
 * ever appended to the end of a struct. Every struct that may grow starts with
 * `struct_size`, set by the side that fills it; the reader uses a field only
 * when KUMO_DRIVER_HAS_FIELD says it is inside struct_size. The small
 * structs kumo_driver_kv, kumo_driver_tag, kumo_driver_ref, kumo_driver_filter,
 * kumo_driver_subnet, kumo_driver_rule and kumo_driver_diag are frozen for the
 * major version (a change means a new major, or a new struct).
 *
 * Ownership at the boundary (who frees what):
 *   - Everything the host passes in (specs, refs, config, strings) is borrowed
 *     for the duration of the call only. A driver copies what it keeps.
 *   - The host table passed to kumo_driver_entry lives until the driver is
 *     unloaded; the driver may keep the pointer. The entry may be called
 *     again when the same file is loaded again; every load in a process passes
 *     the same host.
 *   - Everything a driver hands out through an out-parameter `T **out` is ONE
 *     block allocated with host->mem_alloc: the struct itself, its arrays and
 *     every string it points to lie inside that block. The caller owns it and
 *     frees it with ONE call, kumo_driver_free(host, ptr). On any failure the
 *     driver sets *out = NULL. Strings inside results are never NULL ("" when
 *     absent). (control's json_out follows the same rule.)
 *   - struct kumo_driver_conn is owned by the driver, created by open and
 *     destroyed by close (close(NULL) is a no-op).
 *   - struct kumo_driver_diag is the caller's storage (fixed-size buffers, no
 *     allocation); a driver fills it on every non-OK return and may leave it
 *     untouched on OK. A caller that wants no detail may pass NULL.
 *
 * Time: deadlines are absolute times in nanoseconds on the host's monotonic
 * clock (host->monotonic_ns); KUMO_DRIVER_NO_DEADLINE means none. Every
 * operation returns by its deadline, with KUMO_DRIVER_TIMEOUT when the cloud
 * did not answer in time; a call whose deadline has already passed is not
 * sent at all. A TIMEOUT from a mutating call means "outcome unknown": the
 * request may have been applied (retry: create with the same token again).
 * Times inside resources (created_ns, launch_ns) are Unix-epoch nanoseconds
 * (host->realtime_ns).
 *
 * Idempotency and "never leak, never duplicate": every create takes a token,
 * the kumo object's uid. A create whose token names a live resource of that
 * kind in the connection's region returns that resource (KUMO_DRIVER_OK,
 * nothing new is made), so a create retried after a crash or timeout never
 * duplicates. The token is visible as the tag KUMO_DRIVER_TOKEN_TAG, so
 * observe by token and list by tag find the resource after a crash. No
 * operation waits for a machine to boot: create returns it Pending, and a
 * later observe shows Running.
 *
 * Thread safety: a driver's table and a connection may be used by many host
 * threads at once; every operation on one connection must be thread-safe.
 */
#ifndef KUMO_DRIVER_H
#define KUMO_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#define KUMO_DRIVER_ABI_MAJOR 1
#define KUMO_DRIVER_ABI_MINOR 2

/* The exported entry point, its name for dlsym, and the file name pattern. */
#define KUMO_DRIVER_ENTRY_SYMBOL "kumo_driver_entry"
#define KUMO_DRIVER_FILE_PREFIX  "kumo-driver-"
#define KUMO_DRIVER_FILE_SUFFIX  ".so"

#define KUMO_DRIVER_NO_DEADLINE INT64_MAX

/* The tag key under which every resource shows its creation token (kumo uid). */
#define KUMO_DRIVER_TOKEN_TAG "kumo:uid"

/* True when `field` lies inside the struct_size the filler declared. */
#define KUMO_DRIVER_HAS_FIELD(ptr, type, field)                                                    \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---- Result codes and diagnostics -------------------------------------- */

/*
 * The driver's own small result set. The loader maps each to one kumo_error
 * (kumo_driver_error_of) and keeps the driver's code and message.
 */
typedef enum kumo_driver_code {
    KUMO_DRIVER_OK = 0,
    KUMO_DRIVER_NOT_FOUND,      /* no such resource (or a referenced one is missing) */
    KUMO_DRIVER_ALREADY_EXISTS, /* a name that must be unique is taken */
    KUMO_DRIVER_INVALID,        /* the request can never succeed as written */
    KUMO_DRIVER_THROTTLED,      /* RequestLimitExceeded: slow down and retry */
    KUMO_DRIVER_CAPACITY,       /* InsufficientCapacity: retry later or elsewhere */
    KUMO_DRIVER_QUOTA,          /* account quota reached */
    KUMO_DRIVER_UNAUTHORIZED,   /* credentials refused */
    KUMO_DRIVER_UNAVAILABLE,    /* transient service failure: retry */
    KUMO_DRIVER_TIMEOUT,        /* deadline reached; a mutation may have been applied */
    KUMO_DRIVER_INTERNAL,       /* the cloud or the driver failed unexpectedly */
    KUMO_DRIVER_UNSUPPORTED,    /* this driver does not do that */
    KUMO_DRIVER_CONFLICT,       /* wrong state for the request, or in use (DependencyViolation) */
    KUMO_DRIVER_NOMEM,          /* out of memory */
    KUMO_DRIVER_CODE_COUNT_     /* not a code */
} kumo_driver_code;

/* Filled by the driver on a non-OK return. Frozen layout. */
struct kumo_driver_diag {
    int32_t code;            /* kumo_driver_code, same as the return value */
    uint32_t retry_after_ms; /* hint for THROTTLED/CAPACITY/UNAVAILABLE; 0: none */
    char cloud_code[64];     /* the cloud's own error code, e.g. "RequestLimitExceeded" */
    char message[512];       /* human sentence naming the resource and the problem */
};

/* ---- The host ----------------------------------------------------------- */

typedef enum kumo_driver_log_level {
    KUMO_DRIVER_LOG_DEBUG = 0,
    KUMO_DRIVER_LOG_INFO,
    KUMO_DRIVER_LOG_WARN,
    KUMO_DRIVER_LOG_ERROR,
} kumo_driver_log_level;

/*
 * What kumo gives a driver: an allocator (for every block handed back to the
 * host), a logger and clocks. All functions are thread-safe and take `ctx`
 * first. The driver may use its own allocator for its private memory.
 */
struct kumo_driver_host {
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t struct_size;
    void *ctx;
    void *(*mem_alloc)(void *ctx, size_t size);
    void *(*mem_realloc)(void *ctx, void *ptr, size_t size);
    void (*mem_free)(void *ctx, void *ptr);
    /* Nonzero when `level` would be written: check before formatting. */
    int (*log_enabled)(void *ctx, int level);
    /* One line; `driver` is the driver's name; never pass a secret. */
    void (*log)(void *ctx, int level, const char *driver, const char *message);
    int64_t (*monotonic_ns)(void *ctx);
    int64_t (*realtime_ns)(void *ctx); /* Unix epoch */
};

/* Frees a block a driver handed out. NULL is a no-op. */
static inline void kumo_driver_free(const struct kumo_driver_host *host, const void *block)
{
    if (block != NULL)
        host->mem_free(host->ctx, (void *)(uintptr_t)block);
}

/* ---- Small frozen structs ---------------------------------------------- */

struct kumo_driver_kv {
    const char *key;
    const char *value;
};

struct kumo_driver_tag {
    const char *key;
    const char *value;
};

/*
 * Which resource an operation means. When provider_id is non-empty it alone
 * decides (a gone id is NOT_FOUND, there is no fallback); otherwise token
 * finds the resource created with it. One of the two must be non-empty.
 */
struct kumo_driver_ref {
    const char *provider_id;
    const char *token;
};

/* Selects resources of the connection's region by tag. A NULL filter or a
 * NULL tag_key selects all; a NULL or "" prefix matches any value. */
struct kumo_driver_filter {
    const char *tag_key;
    const char *tag_value_prefix;
};

/* ---- Connections -------------------------------------------------------- */

struct kumo_driver_conn; /* opaque, defined by each driver */

/*
 * Arguments of open. Well-known config keys every driver understands:
 * "provider", "region", "zone" (default zone), "endpoint". Other keys are
 * driver-specific (the sim's are in docs/drivers.md); a driver rejects a key
 * it does not know with KUMO_DRIVER_INVALID naming the key. Credentials are
 * key/value pairs from the Connection's Credential; never log them.
 */
struct kumo_driver_open_args {
    size_t struct_size;
    const char *connection; /* "namespace/name", for logs and messages */
    const struct kumo_driver_kv *config;
    size_t config_count;
    const struct kumo_driver_kv *credentials;
    size_t credential_count;
};

/* ---- Catalog ------------------------------------------------------------ */

struct kumo_driver_region {
    size_t struct_size;
    const char *name;         /* "us-east-1" */
    const char *display_name; /* "US East (N. Virginia)" */
    double latitude;
    double longitude;
    const char *const *zones;
    size_t zone_count;
};

struct kumo_driver_region_list {
    size_t struct_size;
    size_t count;
    const struct kumo_driver_region *const *items;
};

struct kumo_driver_instance_type {
    size_t struct_size;
    const char *name; /* "m5.large" */
    int32_t vcpu;
    int32_t memory_mib;
    int32_t gpu_count;
    int32_t gpu_memory_mib; /* per GPU; 0 without GPU */
    const char *gpu_model;  /* "T4", "A100"; "" without GPU */
    const char *arch;       /* "x86_64" or "arm64" */
    double price_per_hour;  /* on-demand, in the connection's region */
    const char *currency;   /* ISO 4217 */
};

struct kumo_driver_instance_type_list {
    size_t struct_size;
    size_t count;
    const struct kumo_driver_instance_type *const *items;
};

struct kumo_driver_image {
    size_t struct_size;
    const char *name; /* what a Machine names: "ubuntu-22.04" */
    const char *os;   /* "linux", "windows" */
    const char *arch;
    const char *provider_id; /* the cloud's id in this region: "ami-..." */
    const char *description;
};

struct kumo_driver_image_list {
    size_t struct_size;
    size_t count;
    const struct kumo_driver_image *const *items;
};

/* ---- Machines ----------------------------------------------------------- */

typedef enum kumo_driver_machine_phase {
    KUMO_DRIVER_MACHINE_UNKNOWN = 0,
    KUMO_DRIVER_MACHINE_PENDING, /* accepted, booting */
    KUMO_DRIVER_MACHINE_RUNNING,
    KUMO_DRIVER_MACHINE_STOPPING,
    KUMO_DRIVER_MACHINE_STOPPED,
    KUMO_DRIVER_MACHINE_TERMINATING, /* delete accepted; still listed until gone */
    KUMO_DRIVER_MACHINE_TERMINATED,
} kumo_driver_machine_phase;

typedef enum kumo_driver_power {
    KUMO_DRIVER_POWER_RUNNING = 0,
    KUMO_DRIVER_POWER_STOPPED = 1,
} kumo_driver_power;

/* What to create. The region is the connection's. NULL or "" means "default". */
struct kumo_driver_machine_spec {
    size_t struct_size;
    const char *name;          /* human name (cloud "Name" tag); may be empty */
    const char *instance_type; /* a catalog name; required */
    const char *image;         /* a catalog image name or provider id; required */
    const char *zone;          /* default: the subnet's zone, else the connection's */
    const char *network_id;    /* provider id; default: the region's default network */
    const char *subnet_id;     /* provider id; default: the network's first subnet */
    const char *const *security_group_ids;
    size_t security_group_count;
    const char *key_pair_id;
    const char *user_data; /* at most 16 KiB */
    const struct kumo_driver_tag *tags;
    size_t tag_count; /* KUMO_DRIVER_TOKEN_TAG is set by the driver, never from here */
    uint32_t root_disk_gib;
    const char *root_disk_type;
    /* Since ABI 1.1: what the machine's kumo-agent needs to join the agent bus (a JSON
     * AgentBootstrap, secret: it holds the machine's key). A driver that runs agents hands
     * it to the agent only (the local driver: in its environment; a cloud: in user data). */
    const char *agent_bootstrap;
};

/* An in-place change; only the fields named in `fields` are applied. */
#define KUMO_DRIVER_MACHINE_SET_POWER           (1u << 0)
#define KUMO_DRIVER_MACHINE_SET_INSTANCE_TYPE   (1u << 1) /* only while stopped */
#define KUMO_DRIVER_MACHINE_SET_SECURITY_GROUPS (1u << 2)
#define KUMO_DRIVER_MACHINE_SET_TAGS            (1u << 3) /* replaces all but the token tag */

struct kumo_driver_machine_update {
    size_t struct_size;
    uint32_t fields;
    int32_t power; /* kumo_driver_power */
    const char *instance_type;
    const char *const *security_group_ids;
    size_t security_group_count;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

/* What the cloud says about one machine. */
struct kumo_driver_machine {
    size_t struct_size;
    const char *provider_id; /* "i-0abc..." */
    const char *token;       /* the creation token (kumo uid) */
    const char *name;
    int32_t phase;              /* kumo_driver_machine_phase */
    const char *provider_state; /* the cloud's word: "pending", "running", ... */
    const char *instance_type;
    const char *image;
    const char *region;
    const char *zone;
    const char *network_id;
    const char *subnet_id;
    const char *const *security_group_ids;
    size_t security_group_count;
    const char *key_pair_id;
    const char *private_ip; /* "" when none */
    const char *public_ip;  /* "" when none */
    int64_t created_ns;
    int64_t launch_ns; /* when it last started (Unix ns); 0 when never */
    double price_per_hour;
    const char *currency;
    const struct kumo_driver_tag *tags; /* includes KUMO_DRIVER_TOKEN_TAG */
    size_t tag_count;
};

struct kumo_driver_machine_list {
    size_t struct_size;
    size_t count;
    const struct kumo_driver_machine *const *items;
};

/* ---- Networks ----------------------------------------------------------- */

/* A subnet, given (provider_id NULL) or observed. Frozen layout. */
struct kumo_driver_subnet {
    const char *name;
    const char *cidr;
    const char *zone;
    const char *provider_id;
};

struct kumo_driver_network_spec {
    size_t struct_size;
    const char *name;
    const char *cidr; /* IPv4, /16 to /28 */
    const struct kumo_driver_subnet *subnets;
    size_t subnet_count;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

#define KUMO_DRIVER_NETWORK_SET_SUBNETS (1u << 0) /* adds new, removes unused missing ones */
#define KUMO_DRIVER_NETWORK_SET_TAGS    (1u << 1)

struct kumo_driver_network_update {
    size_t struct_size;
    uint32_t fields;
    const struct kumo_driver_subnet *subnets;
    size_t subnet_count;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

struct kumo_driver_network {
    size_t struct_size;
    const char *provider_id;
    const char *token;
    const char *name;
    const char *region;
    const char *cidr;
    const char *state; /* "available" */
    const struct kumo_driver_subnet *subnets;
    size_t subnet_count;
    int64_t created_ns;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

struct kumo_driver_network_list {
    size_t struct_size;
    size_t count;
    const struct kumo_driver_network *const *items;
};

/* ---- Security groups ---------------------------------------------------- */

typedef enum kumo_driver_direction {
    KUMO_DRIVER_INBOUND = 1,
    KUMO_DRIVER_OUTBOUND = 2,
} kumo_driver_direction;

typedef enum kumo_driver_protocol {
    KUMO_DRIVER_TCP = 1,
    KUMO_DRIVER_UDP = 2,
    KUMO_DRIVER_ICMP = 3,
    KUMO_DRIVER_ALL_PROTOCOLS = 4,
} kumo_driver_protocol;

/* One firewall rule. Frozen layout. */
struct kumo_driver_rule {
    int32_t direction; /* kumo_driver_direction */
    int32_t protocol;  /* kumo_driver_protocol */
    int32_t from_port; /* TCP/UDP only, inclusive */
    int32_t to_port;
    const char *cidr;
    const char *description;
};

struct kumo_driver_security_group_spec {
    size_t struct_size;
    const char *name;
    const char *network_id; /* default: the region's default network */
    const struct kumo_driver_rule *rules;
    size_t rule_count;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

#define KUMO_DRIVER_SECURITY_GROUP_SET_RULES (1u << 0) /* replaces all rules */
#define KUMO_DRIVER_SECURITY_GROUP_SET_TAGS  (1u << 1)

struct kumo_driver_security_group_update {
    size_t struct_size;
    uint32_t fields;
    const struct kumo_driver_rule *rules;
    size_t rule_count;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

struct kumo_driver_security_group {
    size_t struct_size;
    const char *provider_id;
    const char *token;
    const char *name;
    const char *region;
    const char *network_id; /* "" for the default network */
    const struct kumo_driver_rule *rules;
    size_t rule_count;
    int64_t created_ns;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

struct kumo_driver_security_group_list {
    size_t struct_size;
    size_t count;
    const struct kumo_driver_security_group *const *items;
};

/* ---- Key pairs ---------------------------------------------------------- */

struct kumo_driver_key_pair_spec {
    size_t struct_size;
    const char *name;
    const char *public_key; /* OpenSSH format; required */
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

#define KUMO_DRIVER_KEY_PAIR_SET_TAGS (1u << 0)

struct kumo_driver_key_pair_update {
    size_t struct_size;
    uint32_t fields;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

struct kumo_driver_key_pair {
    size_t struct_size;
    const char *provider_id;
    const char *token;
    const char *name;
    const char *region;
    const char *fingerprint;
    const char *public_key;
    int64_t created_ns;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

struct kumo_driver_key_pair_list {
    size_t struct_size;
    size_t count;
    const struct kumo_driver_key_pair *const *items;
};

/* ---- Load balancers (ABI 1.2) ------------------------------------------- */

/*
 * A load balancer is listeners (a port and a protocol each) in front of
 * targets (an address and a port each), sending new connections or requests
 * only to healthy targets by one policy. The shape fits a software load
 * balancer (HAProxy, Envoy) and a cloud's (AWS ALB/NLB, GCP, Azure): a
 * listener is a listener, the targets of one listener are its target group.
 * The host computes everything a policy means for the targets (weights, the
 * backup flag for failover and nearest, the draining flag for a planned
 * removal); the driver only makes it real and reports what its data plane
 * sees.
 */

typedef enum kumo_driver_lb_protocol {
    KUMO_DRIVER_LB_TCP = 1,
    KUMO_DRIVER_LB_HTTP = 2,
    KUMO_DRIVER_LB_HTTPS = 3, /* HTTP with TLS terminated by the load balancer */
} kumo_driver_lb_protocol;

typedef enum kumo_driver_lb_policy {
    KUMO_DRIVER_LB_ROUND_ROBIN = 1,       /* by weight (equal weights: plain round robin) */
    KUMO_DRIVER_LB_LEAST_CONNECTIONS = 2, /* fewest current connections, by weight */
} kumo_driver_lb_policy;

typedef enum kumo_driver_lb_affinity {
    KUMO_DRIVER_LB_AFFINITY_NONE = 0,
    KUMO_DRIVER_LB_AFFINITY_CLIENT_IP = 1, /* one client address sticks to one target */
    KUMO_DRIVER_LB_AFFINITY_COOKIE = 2,    /* HTTP(S): a cookie the load balancer sets */
} kumo_driver_lb_affinity;

typedef enum kumo_driver_lb_health {
    KUMO_DRIVER_LB_HEALTH_UNKNOWN = 0, /* not checked yet */
    KUMO_DRIVER_LB_HEALTH_HEALTHY = 1,
    KUMO_DRIVER_LB_HEALTH_UNHEALTHY = 2, /* failing its health check: reason says why */
    KUMO_DRIVER_LB_HEALTH_DRAINING = 3,  /* healthy, but takes no new traffic */
    KUMO_DRIVER_LB_HEALTH_DISABLED = 4,  /* taken out (maintenance), not checked */
} kumo_driver_lb_health;

struct kumo_driver_lb_listener {
    size_t struct_size;
    const char *name; /* unique in the load balancer: [a-z0-9-], at most 32 */
    int32_t port;
    int32_t protocol;                /* kumo_driver_lb_protocol */
    const char *tls_certificate_pem; /* HTTPS: the certificate chain; "" otherwise */
    const char *tls_private_key_pem; /* HTTPS: its key (secret: never logged, never observed) */
};

struct kumo_driver_lb_target {
    size_t struct_size;
    const char *name;     /* unique per listener and stable while it exists: [A-Za-z0-9_.-] */
    const char *listener; /* the listener it serves */
    const char *address;  /* IPv4 address */
    int32_t port;
    int32_t weight;   /* 0..256, relative within the listener; 0 takes no new traffic */
    int32_t backup;   /* 1: used only while no healthy non-backup target of the listener */
    int32_t draining; /* 1: no new connections or requests; existing ones finish */
};

/* Active health checks of every target. Zero fields mean the driver's defaults. */
struct kumo_driver_lb_health_check {
    size_t struct_size;
    int32_t protocol;          /* KUMO_DRIVER_LB_TCP or KUMO_DRIVER_LB_HTTP; 0: TCP */
    const char *path;          /* HTTP: the request path ("/" when empty); a 2xx/3xx passes */
    int32_t port;              /* 0: the target's port */
    int32_t interval_ms;       /* between checks of one target */
    int32_t timeout_ms;        /* one check */
    int32_t healthy_threshold; /* passes in a row that make a target healthy */
    int32_t unhealthy_threshold;
};

struct kumo_driver_load_balancer_spec {
    size_t struct_size;
    const char *name; /* human name; may be empty */
    int32_t policy;   /* kumo_driver_lb_policy */
    int32_t affinity; /* kumo_driver_lb_affinity */
    int32_t affinity_timeout_s;
    const char *affinity_cookie; /* Cookie affinity: its name ("" : the driver's) */
    const struct kumo_driver_lb_health_check *health_check; /* NULL: TCP with defaults */
    const struct kumo_driver_lb_listener *const *listeners;
    size_t listener_count;
    const struct kumo_driver_lb_target *const *targets;
    size_t target_count;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

/* What update applies: targets alone are the cheap, frequent change (a
 * driver applies them without a restart); SET_CONFIG is everything else of
 * the spec but the tags. */
#define KUMO_DRIVER_LOAD_BALANCER_SET_TARGETS (1u << 0)
#define KUMO_DRIVER_LOAD_BALANCER_SET_CONFIG  (1u << 1)
#define KUMO_DRIVER_LOAD_BALANCER_SET_TAGS    (1u << 2)

struct kumo_driver_load_balancer_update {
    size_t struct_size;
    uint32_t fields;
    const struct kumo_driver_load_balancer_spec *spec; /* the whole desired state */
};

/* One target as the data plane sees it, with its counters since the load
 * balancer (or the target) started. */
struct kumo_driver_lb_target_status {
    size_t struct_size;
    const char *name;
    const char *listener;
    const char *address;
    int32_t port;
    int32_t health;     /* kumo_driver_lb_health */
    const char *reason; /* why not healthy, in the data plane's words; "" when healthy */
    int32_t weight;     /* effective weight now */
    int32_t backup;
    int32_t draining;
    int64_t last_change_ns; /* when health last changed (Unix ns); 0: unknown */
    int64_t current_sessions;
    int64_t requests;          /* HTTP responses received, or connections for TCP */
    int64_t connection_errors; /* failed connection attempts to the target */
    int64_t responses_5xx;
    int64_t retries;      /* requests retried because of this target */
    int64_t redispatches; /* requests moved from this target to another */
};

struct kumo_driver_load_balancer {
    size_t struct_size;
    const char *provider_id;
    const char *token;
    const char *name;
    const char *region;
    const char *state;            /* "provisioning", "active", "failed" (the cloud's word) */
    const char *message;          /* why not active; "" when active */
    const char *address;          /* the IP clients connect to; "" while none */
    const char *hostname;         /* a DNS name clients use; "" when none */
    const char *const *addresses; /* every address (one per node or zone) */
    size_t address_count;
    const struct kumo_driver_lb_listener *const *listeners; /* without TLS material */
    size_t listener_count;
    const struct kumo_driver_lb_target_status *const *targets;
    size_t target_count;
    int64_t created_ns;
    const struct kumo_driver_tag *tags;
    size_t tag_count;
};

struct kumo_driver_load_balancer_list {
    size_t struct_size;
    size_t count;
    const struct kumo_driver_load_balancer *const *items;
};

/* ---- The table ---------------------------------------------------------- */

#define KUMO_DRIVER_CAP_MACHINES        (1u << 0)
#define KUMO_DRIVER_CAP_NETWORKS        (1u << 1)
#define KUMO_DRIVER_CAP_SECURITY_GROUPS (1u << 2)
#define KUMO_DRIVER_CAP_KEY_PAIRS       (1u << 3)
#define KUMO_DRIVER_CAP_CATALOG         (1u << 4)
#define KUMO_DRIVER_CAP_CONTROL         (1u << 5)
#define KUMO_DRIVER_CAP_MACHINE_POWER   (1u << 6)  /* machine_update can stop/start */
#define KUMO_DRIVER_CAP_TOKENS          (1u << 7)  /* create honours the token exactly */
#define KUMO_DRIVER_CAP_SIMULATED       (1u << 8)  /* not a real cloud */
#define KUMO_DRIVER_CAP_AGENTS          (1u << 9)  /* machines run kumo-agent (ABI 1.1) */
#define KUMO_DRIVER_CAP_LOAD_BALANCERS  (1u << 10) /* load_balancer_* ops (ABI 1.2) */

/* Declares observe/create/update/delete/list for one resource type. */
#define KUMO_DRIVER_RESOURCE_OPS(kind)                                                             \
    kumo_driver_code (*kind##_observe)(                                                            \
        struct kumo_driver_conn * conn, const struct kumo_driver_ref *ref, int64_t deadline_ns,    \
        struct kumo_driver_##kind **out, struct kumo_driver_diag *diag);                           \
    kumo_driver_code (*kind##_create)(                                                             \
        struct kumo_driver_conn * conn, const struct kumo_driver_##kind##_spec *spec,              \
        const char *token, int64_t deadline_ns, struct kumo_driver_##kind **out,                   \
        struct kumo_driver_diag *diag);                                                            \
    kumo_driver_code (*kind##_update)(                                                             \
        struct kumo_driver_conn * conn, const struct kumo_driver_ref *ref,                         \
        const struct kumo_driver_##kind##_update *update, int64_t deadline_ns,                     \
        struct kumo_driver_##kind **out, struct kumo_driver_diag *diag);                           \
    kumo_driver_code (*kind##_delete)(struct kumo_driver_conn * conn,                              \
                                      const struct kumo_driver_ref *ref, int64_t deadline_ns,      \
                                      struct kumo_driver_diag *diag);                              \
    kumo_driver_code (*kind##_list)(struct kumo_driver_conn * conn,                                \
                                    const struct kumo_driver_filter *filter, int64_t deadline_ns,  \
                                    struct kumo_driver_##kind##_list **out,                        \
                                    struct kumo_driver_diag *diag)

/*
 * The driver's table. Append only; never reorder. An op may be NULL when its
 * capability bit is clear; the loader rejects a table that sets a bit but
 * leaves one of its ops NULL.
 *
 * Per resource type (machine, network, security_group, key_pair and, since 1.2,
 * load_balancer),
 * KUMO_DRIVER_RESOURCE_OPS declares <kind>_observe, <kind>_create,
 * <kind>_update, <kind>_delete and <kind>_list (machine_create,
 * network_list, security_group_delete, key_pair_observe, ...):
 *   observe  the resource `ref` names, as the cloud sees it now. NOT_FOUND when
 *            absent (or not yet visible: clouds are eventually consistent).
 *   create   makes a resource from `spec` with `token` (the kumo uid,
 *            required). A live resource with the same token is returned
 *            instead (OK), whatever the spec says. Returns without waiting for
 *            a machine to boot. NOT_FOUND: a referenced resource (network,
 *            subnet, security group, key) does not exist; INVALID: a catalog
 *            name (type, image, zone) or a field is wrong; CAPACITY, QUOTA,
 *            THROTTLED as the cloud says.
 *   update   applies the fields named in update->fields in place and returns
 *            the result. CONFLICT when the resource's state forbids it.
 *   delete   starts deleting the resource. OK when accepted (a machine may
 *            show Terminating for a while); NOT_FOUND when it is already gone,
 *            which callers treat as success. CONFLICT (DependencyViolation)
 *            when other resources still use it.
 *   list     every resource of the type in the connection's region matching
 *            the filter, including ones whose token the caller never saw, so
 *            a controller can find leaked resources.
 * Out-blocks are owned by the caller (see the top of this file).
 */
struct kumo_driver {
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t struct_size; /* sizeof(struct kumo_driver) the driver was built with */
    const char *name;   /* equals the <name> of kumo-driver-<name>.so */
    const char *description;
    uint64_t capabilities; /* KUMO_DRIVER_CAP_* */

    /* Opens a connection (validates config; need not call the cloud). */
    kumo_driver_code (*open)(const struct kumo_driver_open_args *args,
                             struct kumo_driver_conn **out, struct kumo_driver_diag *diag);
    /* Closes and frees; waits for the connection's calls in flight to end. NULL: no-op. */
    void (*close)(struct kumo_driver_conn *conn);

    /* Catalog: the provider's regions; instance types and images of the
     * connection's region (prices are that region's). */
    kumo_driver_code (*catalog_regions)(struct kumo_driver_conn *conn, int64_t deadline_ns,
                                        struct kumo_driver_region_list **out,
                                        struct kumo_driver_diag *diag);
    kumo_driver_code (*catalog_instance_types)(struct kumo_driver_conn *conn, int64_t deadline_ns,
                                               struct kumo_driver_instance_type_list **out,
                                               struct kumo_driver_diag *diag);
    kumo_driver_code (*catalog_images)(struct kumo_driver_conn *conn, int64_t deadline_ns,
                                       struct kumo_driver_image_list **out,
                                       struct kumo_driver_diag *diag);

    KUMO_DRIVER_RESOURCE_OPS(machine);
    KUMO_DRIVER_RESOURCE_OPS(network);
    KUMO_DRIVER_RESOURCE_OPS(security_group);
    KUMO_DRIVER_RESOURCE_OPS(key_pair);

    /*
     * Escape hatch for driver-specific operations: `op` names it, `json_in`
     * (may be NULL) is a JSON object, *json_out receives a JSON document in a
     * host-allocated block (NULL on failure). UNSUPPORTED for an unknown op.
     * Not rate limited and not counted as cloud API calls.
     */
    kumo_driver_code (*control)(struct kumo_driver_conn *conn, const char *op, const char *json_in,
                                char **json_out, struct kumo_driver_diag *diag);
    /* ABI 1.2: load balancers (KUMO_DRIVER_CAP_LOAD_BALANCERS). observe
     * shows the data plane's view of every target (health, reason,
     * counters); create returns without waiting for the data plane (state
     * "provisioning"); update applies update->fields of update->spec in place
     * and never drops a connection for a target change (a draining target
     * keeps its connections). Later minors append here. */
    KUMO_DRIVER_RESOURCE_OPS(load_balancer);
};

/* The smallest table an ABI 1.0 driver may return. */
#define KUMO_DRIVER_SIZE_1_0 (offsetof(struct kumo_driver, control) + sizeof(void *))
/* The smallest table an ABI 1.2 driver may return. */
#define KUMO_DRIVER_SIZE_1_2 (offsetof(struct kumo_driver, load_balancer_list) + sizeof(void *))

typedef const struct kumo_driver *(*kumo_driver_entry_fn)(const struct kumo_driver_host *host);

/* Every driver defines this, with default visibility. */
const struct kumo_driver *kumo_driver_entry(const struct kumo_driver_host *host);

#endif
