/*
 * internal.h - what the files of the `local` driver share.
 *
 * The local driver runs real compute on this host. A Connection is a
 * "region" of the host: a Linux bridge with its own /24 (the default
 * network). A Network is another bridge with the network's subnets on it. A
 * Machine is a network namespace with a veth on its network's bridge, its own
 * address and a process inside (the configured agent, else `sleep infinity`)
 * in its own PID and mount namespaces and, where cgroups allow it, with the
 * CPU and memory limits of its instance type. Security groups become one
 * nftables table per connection. Key pairs are bookkeeping (the public key is
 * handed to the agent).
 *
 * Files:
 *   driver.c   entry point, table, open/close, settings, the call frame, control
 *   state.c    the objects and the state file (intent recorded before side effects)
 *   exec.c     running ip/nft (argument vectors, deadline, captured stderr) and
 *              starting/stopping the machine's process inside its namespaces
 *   net.c      addresses, bridges, host route overlap, the nftables ruleset
 *   cgroup.c   cgroup v2 or v1 CPU/memory limits
 *   machine.c  the machine operations (ensure, observe, power, delete)
 *   host.c     orphans (machines the state lost), control inventory and purge
 *   network.c  networks (bridges with subnets)
 *   resource.c lookup and list filters, security groups and key pairs
 *   catalog.c  the region, instance types and images
 *   pack.c     results as one host-allocated block each (with drivers/kit/)
 *
 * Naming: every kernel object carries the connection's name prefix and short
 * id C (6 hex digits of a hash of prefix, connection and state folder):
 *   netns      <prefix>-<C>-<machine id>            (/run/netns)
 *   veth       kv<8 hex of the machine id>, alias "<prefix>-<C>-<id> <token>"
 *   bridges    kbr-<C> (default network), kbn-<8 hex> (a Network), alias likewise
 *   nftables   table inet <prefix>_<C>
 *   cgroups    kumo-local/<prefix>-<C>-<machine id>
 * so observe and list find them after a crash, and `purge` finds them
 * without the state file.
 *
 * Locking: a connection's mu serializes its calls; an flock on
 * <state_dir>/lock serializes connections (and processes) sharing a state
 * folder. The state is reloaded from the file when it changed on disk.
 */
#ifndef KUMO_LOCAL_INTERNAL_H
#define KUMO_LOCAL_INTERNAL_H

#include "drivers/driver.h"
#include "drivers/kit/kit.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOCAL_NAME_MAX   512
#define LOCAL_TOKEN_MAX  200 /* printable ASCII without spaces */
#define LOCAL_MAX_GROUPS 16
#define LOCAL_ARGV_MAX   64
/* A machine still building this long after its create began was cut short (a create builds
 * in tens of milliseconds, and calls on one connection never overlap): observe finishes it. */
#define LOCAL_BUILD_STALE_NS (5 * 1000000000LL)
/* How often a wait for a process, a namespace or a file polls. */
#define LOCAL_POLL_MS 5
/* A process stop sends SIGKILL at the latest this long before its deadline. */
#define LOCAL_KILL_MARGIN_NS (50 * 1000000LL)
/* The longest single poll() of a wait (it wakes up to check the deadline). */
#define LOCAL_POLL_MAX_MS 1000
/* A busy cgroup folder is tried again this often, this many times. */
#define LOCAL_CGROUP_RETRY_MS    10
#define LOCAL_CGROUP_RETRY_COUNT 100
/* Another connection's hold of the state lock is polled this often. */
#define LOCAL_LOCK_RETRY_MS 2
/* SIGTERM to SIGKILL when stop_grace_ms is not set. */
#define LOCAL_DEFAULT_STOP_GRACE_MS 1000
/* The deadline of a control call (inventory, purge). */
#define LOCAL_CONTROL_DEADLINE_NS (60 * 1000000000LL)

extern const struct kumo_driver_host *local_host;

void local_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
kumo_driver_code local_nomem(struct kumo_driver_diag *diag);

/* ---- state.c: objects and the state file --------------------------------- */

enum local_kind {
    LOCAL_MACHINE = 0,
    LOCAL_NETWORK,
    LOCAL_SECURITY_GROUP,
    LOCAL_KEY_PAIR,
    LOCAL_SUBNET_ID, /* not an object: for local_new_id ("s-...") */
    LOCAL_LOAD_BALANCER,
};

/* "machine", "network", "security group", "key pair", "load balancer" */
const char *local_kind_human(int kind);

enum local_status {
    LOCAL_READY = 0,    /* built */
    LOCAL_BUILDING = 1, /* intent recorded, side effects under way or interrupted */
    LOCAL_DELETING = 2, /* delete under way or interrupted */
};

struct local_object {
    int kind;
    int status;
    char *id;
    char *token;
    char *name;
    int64_t created_ns;
    struct kumo_driver_kit_tag *tags;
    size_t tag_count;
    /* machine */
    char *type;
    char *image;
    char *zone;
    char *network_id; /* "" or NULL: the default network */
    char *subnet_id;
    char *key_id;
    char *user_data;
    char *agent_bootstrap; /* the kumo-agent's bootstrap (secret; the state file is 0600) */
    char *ip;              /* dotted quad */
    char **sg_ids;
    size_t sg_count;
    int power; /* kumo_driver_power the user asked for */
    int64_t launch_ns;
    int64_t pid;        /* the machine's init process (host PID), 0: none */
    uint64_t pid_start; /* its start time in clock ticks (guards PID reuse) */
    /* network (cidr, subnets); security group (network_id, rules) */
    char *cidr;
    struct kumo_driver_kit_subnet *subnets;
    size_t subnet_count;
    struct kumo_driver_kit_rule *rules;
    size_t rule_count;
    /* key pair */
    char *public_key;
    char *fingerprint;
};

struct local_state {
    struct local_object **objects;
    size_t count;
    size_t cap;
    uint64_t serial; /* feeds new ids */
    /* identity of the file content last loaded or saved */
    int have_stamp;
    uint64_t stamp_dev, stamp_ino, stamp_size;
    int64_t stamp_mtime_ns;
};

struct local_object *local_object_new(int kind);
void local_object_free(struct local_object *o);
/* Deep copy; NULL on allocation failure. */
struct local_object *local_object_clone(const struct local_object *o);
/* Replaces *dst with a copy of src (NULL stays NULL); 0 ok, -1 nomem. */
int local_set_str(char **dst, const char *src);
/* Copies tags (without the token tag); INVALID on a bad tag. */
kumo_driver_code local_copy_tags(struct local_object *o, const struct kumo_driver_tag *tags,
                                 size_t count, struct kumo_driver_diag *diag);

void local_state_clear(struct local_state *st);
/* Appends (takes ownership); -1 on allocation failure (o is not taken). */
int local_state_add(struct local_state *st, struct local_object *o);
/* Removes and frees. */
void local_state_remove(struct local_state *st, struct local_object *o);
/* Replaces old by new in place (frees old). */
void local_state_replace(struct local_state *st, struct local_object *old,
                         struct local_object *fresh);
struct local_object *local_state_find_id(struct local_state *st, int kind, const char *id);
struct local_object *local_state_find_token(struct local_state *st, int kind, const char *token);

/* Reloads `path` into st when it changed since the last load/save (a missing
 * file is an empty state). OK, or INTERNAL/NOMEM (StateUnreadable) naming the
 * file (and the damaged line). */
kumo_driver_code local_state_load(struct local_state *st, const char *path,
                                  struct kumo_driver_diag *diag);
/* Writes st to path atomically (tmp file, fsync, rename). OK, or
 * INTERNAL/NOMEM (StateUnwritable) naming the file. */
kumo_driver_code local_state_save(struct local_state *st, const char *path,
                                  struct kumo_driver_diag *diag);

/* ---- The connection ------------------------------------------------------- */

enum local_cgroup_mode { LOCAL_CGROUP_NONE = 0, LOCAL_CGROUP_V1, LOCAL_CGROUP_V2 };

struct local_config {
    char region[64];
    char zone[64];
    char state_dir[LOCAL_NAME_MAX];
    char prefix[16];
    uint32_t cidr_base; /* the default network */
    int cidr_prefix;
    char agent_command[2048];
    int isolate;        /* new PID and mount namespaces for the machine's process */
    int cgroups_wanted; /* cgroups=auto */
    int64_t stop_grace_ms;
    double latitude, longitude;
};

struct kumo_driver_conn {
    pthread_mutex_t mu; /* serializes the connection's calls */
    pthread_mutex_t flight_mu;
    pthread_cond_t idle;
    int in_flight;
    char name[256]; /* "namespace/name" */
    struct local_config cfg;
    char short_id[8];           /* C: 6 hex digits */
    char state_path[4096 + 16]; /* PATH_MAX + "/state" */
    char lock_path[4096 + 16];
    int lock_fd;
    char ip_path[256];
    char nft_path[256];              /* "" when nftables is missing */
    char agent_path[LOCAL_NAME_MAX]; /* resolved argv[0] */
    char *agent_argv[LOCAL_ARGV_MAX + 1];
    char agent_words[2048]; /* storage of agent_argv */
    int agent_is_placeholder;
    char kumo_agent_path[LOCAL_NAME_MAX]; /* kumo-agent (PATH, else beside this program); "" */
    int cgroup_mode;
    char cgroup_note[160];
    struct local_state state;
};

/* The call frame: deadline check, locks, state reload. */
struct local_call {
    struct kumo_driver_conn *conn;
    int64_t deadline_ns;
    int64_t now_ns; /* realtime, for created_ns/launch_ns */
    const char *op; /* "machine_create" */
};

kumo_driver_code local_call_begin(struct kumo_driver_conn *c, const char *op, int64_t deadline_ns,
                                  struct local_call *call, struct kumo_driver_diag *diag);
void local_call_end(struct local_call *call);
/* Saves the connection's state; INTERNAL naming `what` on failure. */
kumo_driver_code local_save(struct local_call *call, const char *what,
                            struct kumo_driver_diag *diag);
/* Nonzero when the deadline has passed. */
int local_late(const struct local_call *call);
kumo_driver_code local_timeout(struct local_call *call, const char *what,
                               struct kumo_driver_diag *diag);

/* Derived names (buffers of at least 64 bytes; netns LOCAL_NAME_MAX). */
void local_netns_name(const struct kumo_driver_conn *c, const char *machine_id, char *buf,
                      size_t size);
void local_veth_name(const char *machine_id, char *buf, size_t size);
/* The bridge of network_id ("" or NULL: the default network kbr-<C>). */
void local_bridge_name(const struct kumo_driver_conn *c, const char *network_id, char *buf,
                       size_t size);
void local_alias(const struct kumo_driver_conn *c, const char *id, const char *token, char *buf,
                 size_t size);
void local_table_name(const struct kumo_driver_conn *c, char *buf, size_t size);
void local_cgroup_name(const struct kumo_driver_conn *c, const char *machine_id, char *buf,
                       size_t size);
/* A new id "<prefix><8 hex>" (m-, n-, sg-, key-, s- by kind or LOCAL_SUBNET_ID)
 * unused in the state and (for machines and networks) by any host link. */
void local_new_id(struct kumo_driver_conn *c, int kind, char *buf, size_t size);
/* Checks a creation token: 1..200 printable ASCII characters without spaces. */
kumo_driver_code local_check_token(const char *token, struct kumo_driver_diag *diag);

/* ---- exec.c: commands and the machine's process -------------------------- */

/*
 * Runs argv (argv[0] an absolute path) with `input` on stdin (may be NULL),
 * by the deadline. Returns KUMO_DRIVER_OK when it exited 0; otherwise a diag
 * that names `what` (the resource), the command line and its stderr:
 * TIMEOUT (killed at the deadline), UNAUTHORIZED (Operation not permitted),
 * INTERNAL (anything else). stdout is stored in out when out is not NULL.
 */
kumo_driver_code local_run(const char *const *argv, const char *input, int64_t deadline_ns,
                           const char *what, struct kumo_driver_kit_buf *out,
                           struct kumo_driver_diag *diag);
/* `ip [-n netns] -batch -` with the given lines. */
kumo_driver_code local_ip_batch(struct kumo_driver_conn *c, const char *netns, const char *lines,
                                int64_t deadline_ns, const char *what,
                                struct kumo_driver_diag *diag);
/* One `ip` command: local_ip(c, deadline, what, diag, "link", "del", "x", NULL). */
kumo_driver_code local_ip(struct kumo_driver_conn *c, int64_t deadline_ns, const char *what,
                          struct kumo_driver_diag *diag, ...) __attribute__((sentinel));

/* Finds `name` on $PATH and the sbin folders; 0 and the absolute path, or -1. */
int local_find_program(const char *name, char *buf, size_t size);

struct local_spawn {
    const char *netns; /* name under /run/netns */
    const char *path;  /* absolute program path */
    char *const *argv;
    char *const *envp;
    const char *log_path;        /* stdout and stderr, appended */
    int isolate;                 /* new PID + mount namespaces, /proc and /sys remounted */
    const char *cgroup_procs[2]; /* cgroup.procs files to join (NULL: none) */
};

/* Starts the machine's process; *pid_out is its host PID (the init of its PID
 * namespace when isolated); not a child of this process. 0, -1 with err, or -2
 * when the deadline passed first (it may still start). */
int local_spawn_start(const struct local_spawn *s, int64_t deadline_ns, int64_t *pid_out,
                      uint64_t *start_out, char *err, size_t err_size);
/* Whether pid runs with start time `start` (a zombie counts as gone). */
int local_pid_alive(int64_t pid, uint64_t start);
/* The start time of pid in clock ticks, 0 when it does not exist. */
uint64_t local_pid_start(int64_t pid);
/* Stops pid: SIGTERM (unless hard), up to grace_ms, then SIGKILL; waits until
 * gone or the deadline. 0 gone, -1 still there at the deadline. */
int local_pid_stop(int64_t pid, uint64_t start, int hard, int64_t grace_ms, int64_t deadline_ns);
/* SIGKILLs every process whose network namespace is /run/netns/<netns> and
 * waits until none is left (a process keeps the namespace, its veth and its
 * cgroup until it has exited). 0 none left (or no such namespace), -1 some
 * still there at deadline_ns. */
int local_netns_kill_all(const char *netns, int64_t deadline_ns);

/* ---- net.c: addresses, bridges, firewall ---------------------------------- */

/* "a.b.c.d/n" -> base (host order, masked when mask_host) and prefix; 0 or -1. */
int local_cidr_parse(const char *s, uint32_t *base, int *prefix);
void local_ip_format(uint32_t ip, char *buf, size_t size);
int local_ip_parse(const char *s, uint32_t *out);
int local_cidr_overlap(uint32_t a, int pa, uint32_t b, int pb);

/* The address range a machine of (network, subnet) draws from, and the
 * bridge's own address in it (the gateway). */
struct local_pool {
    uint32_t base;
    int prefix;
    char bridge[32];
    char network_id[64];
    char subnet_id[64];
};
/* Picks the lowest free address of the pool (not the gateway, network or
 * broadcast address); CAPACITY when full. */
kumo_driver_code local_pool_allocate(struct kumo_driver_conn *c, const struct local_pool *pool,
                                     char *ip, size_t size, struct kumo_driver_diag *diag);
/* CONFLICT when cidr overlaps a host route on another interface than `bridge`. */
kumo_driver_code local_check_host_routes(uint32_t base, int prefix, const char *bridge,
                                         const char *what, struct kumo_driver_diag *diag);
/* Creates (or repairs) a bridge with the first address of each given range. */
kumo_driver_code local_bridge_ensure(struct local_call *call, const char *bridge, const char *alias,
                                     const uint32_t *bases, const int *prefixes, size_t count,
                                     const char *what, struct kumo_driver_diag *diag);
kumo_driver_code local_bridge_delete(struct local_call *call, const char *bridge, const char *what,
                                     struct kumo_driver_diag *diag);
/* Deletes the link `name` (a bridge or a veth) when it exists; a link that
 * vanishes meanwhile (its namespace torn down by the kernel) is deleted too. */
kumo_driver_code local_link_delete(struct local_call *call, const char *name, const char *what,
                                   struct kumo_driver_diag *diag);
/* 1 when /sys/class/net/<name> exists. */
int local_link_exists(const char *name);
/* Rewrites the connection's nftables table from the state (removes it when no
 * machine uses a security group). */
kumo_driver_code local_firewall_apply(struct local_call *call, struct kumo_driver_diag *diag);
/* Removes the table (when present). */
kumo_driver_code local_firewall_remove(struct local_call *call, struct kumo_driver_diag *diag);

/* ---- cgroup.c -------------------------------------------------------------- */

/* Picks v2, v1 or none; note says why none. */
int local_cgroup_detect(char *note, size_t size);
/* Makes the machine's cgroups with the type's limits; fills procs[] with the
 * cgroup.procs paths to join. 0 ok, -1 (err says why; the machine runs
 * without limits). */
int local_cgroup_ensure(struct kumo_driver_conn *c, const char *machine_id, int vcpu,
                        int memory_mib, char procs[2][LOCAL_NAME_MAX], char *err, size_t size);
/* Removes the machine's cgroups (waiting briefly for dying processes). */
void local_cgroup_remove(struct kumo_driver_conn *c, const char *machine_id);
/* The first cgroup folder of the machine ("" with no cgroups). */
void local_cgroup_path(struct kumo_driver_conn *c, const char *machine_id, char *buf, size_t size);

/* ---- catalog.c ------------------------------------------------------------- */

struct local_type {
    const char *name;
    int vcpu;
    int memory_mib;
    double price;
};
extern const struct local_type local_types[];
extern const size_t local_type_count;
const struct local_type *local_type_find(const char *name);
/* Resolves a catalog image name or provider id ("host:<name>") to its name;
 * NULL when unknown. */
const char *local_image_find(const char *name_or_id);
size_t local_image_count(void);
const char *local_image_name(size_t i);
const char *local_image_description(size_t i);
const char *local_arch(void);

KUMO_DRIVER_KIT_DECLARE_CATALOG(local);

/* ---- pack.c ---------------------------------------------------------------- */

/* What pack needs to know about a machine beyond its object. */
struct local_machine_view {
    int phase;
    const char *provider_state;
    const char *region;
    double price;
};

void *local_pack_machine(const struct local_object *o, const struct local_machine_view *v);
void *local_pack_object(const struct local_object *o, const char *region);
/* A list of n items, each packed by the matching single packer. */
void *local_pack_list(struct local_object *const *objects, const struct local_machine_view *views,
                      size_t count, const char *region);
void *local_pack_text(const char *text);
void *local_pack_regions(const struct local_config *cfg);
void *local_pack_types(void);
void *local_pack_images(void);

/* ---- machine.c and resource.c: the operations ------------------------------ */

KUMO_DRIVER_KIT_DECLARE_OPS(local, machine);
KUMO_DRIVER_KIT_DECLARE_OPS(local, network);
KUMO_DRIVER_KIT_DECLARE_OPS(local, security_group);
KUMO_DRIVER_KIT_DECLARE_OPS(local, key_pair);
KUMO_DRIVER_KIT_DECLARE_OPS(local, load_balancer);

/* Finds the object a ref names (INVALID for an empty ref, NOT_FOUND with the
 * cloud's words when absent). Objects being deleted count as present. */
struct local_object *local_lookup(struct local_call *call, int kind,
                                  const struct kumo_driver_ref *ref, kumo_driver_code *rc,
                                  struct kumo_driver_diag *diag);
/* Whether a list filter selects o (by tag, the token tag included). */
int local_filter_match(const struct kumo_driver_filter *f, const struct local_object *o);
/* o packed into *out (the result of an op). */
kumo_driver_code local_answer(struct local_call *call, const struct local_object *o, void **out,
                              struct kumo_driver_diag *diag);
/* observe and list of a kind kept only in the state (networks, groups, keys). */
kumo_driver_code local_observe_kind(struct kumo_driver_conn *c, int kind, const char *op,
                                    const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                    void **out, struct kumo_driver_diag *diag);
kumo_driver_code local_list_kind(struct kumo_driver_conn *c, int kind, const char *op,
                                 const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                 void **out, struct kumo_driver_diag *diag);
/* The first lines of an op that has `out`: INVALID without it, else *out = NULL. */
#define LOCAL_NEED_OUT(op)                                                                         \
    do {                                                                                           \
        if (out == NULL)                                                                           \
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",             \
                                        op ": out is required");                                   \
        *out = NULL;                                                                               \
    } while (0)

/* The pool of a machine's (network, subnet); NOT_FOUND when they are gone. */
kumo_driver_code local_machine_pool(struct local_call *call, const char *network_id,
                                    const char *subnet_id, struct local_pool *pool,
                                    struct kumo_driver_diag *diag);
/* Creates or repairs the network's bridge (the default one when network_id is empty). */
kumo_driver_code local_network_ensure(struct local_call *call, const char *network_id,
                                      struct kumo_driver_diag *diag);
/* Removes the default bridge when no machine uses it any more. */
kumo_driver_code local_default_network_release(struct local_call *call,
                                               struct kumo_driver_diag *diag);

/* What machine.c shares with host.c. */
int local_netns_exists(const char *netns);
/* 1 when the machine runs the `sleep infinity` placeholder (no agent to stop gracefully). */
int local_machine_hard_stop(const struct kumo_driver_conn *c, const struct local_object *m);
/* <state_dir>/<id>.<suffix>: the machine's "log" and "user-data" files. */
void local_machine_file(struct kumo_driver_conn *c, const char *id, const char *suffix, char *buf,
                        size_t size);
/* The phase of machine m as the host shows it. */
void local_machine_view_of(struct kumo_driver_conn *c, const struct local_object *m,
                           struct local_machine_view *v);
/* Removes everything of machine `id` from the host (processes, veth,
 * namespace, cgroup, files). Idempotent. */
kumo_driver_code local_machine_teardown(struct local_call *call, const char *id, int64_t pid,
                                        uint64_t pid_start, struct kumo_driver_diag *diag);

/* Gives namespace <prefix>-<C>-<id> (made when missing) a veth on the pool's bridge with
 * address ip, lo up and a default route (idempotent): what machines and load balancers share. */
kumo_driver_code local_netns_attach(struct local_call *call, const char *id, const char *token,
                                    const struct local_pool *pool, const char *ip,
                                    struct kumo_driver_diag *diag);

/* ---- haproxy.c and lb.c: load balancers ------------------------------------------- */

/* Runtime API sockets live here: a state folder may be too deep for a socket path. */
#define LOCAL_LB_SOCKET_DIR "/run/kumo/lb"

struct local_lb_paths {
    char cfg[LOCAL_NAME_MAX + 64];
    char servers[LOCAL_NAME_MAX + 64];
    char log[LOCAL_NAME_MAX + 64];
    char pem_prefix[LOCAL_NAME_MAX + 64]; /* + ".<listener>" */
    char socket[108];
};
void local_lb_paths(struct kumo_driver_conn *c, const char *id, struct local_lb_paths *p);

/* One server as `show stat` shows it. */
struct local_lb_server {
    char listener[64], name[128], address[64], status[32], reason[256];
    int port, weight, backup, draining; /* draining: admin state drain (show servers state) */
    int64_t last_change_ns, sessions, requests, connection_errors, responses_5xx, retries,
        redispatches;
};

#define LOCAL_LB_MAX_LISTENERS 32

/* A listener as the configuration file's "# kumo-listener" comment records it. */
struct local_lb_listener {
    char name[64];
    int port;
    int protocol; /* kumo_driver_lb_protocol */
};
size_t local_lb_read_listeners(const char *cfg, struct local_lb_listener *out, size_t max);

/* INVALID (or UNSUPPORTED for a policy or affinity) naming what is wrong with spec. */
kumo_driver_code local_lb_check_spec(const struct kumo_driver_load_balancer_spec *spec,
                                     struct kumo_driver_diag *diag);
/* Converges the host to load balancer o: namespace, address, HAProxy running spec (NULL:
 * as its configuration file says). */
kumo_driver_code local_lb_ensure(struct local_call *call, struct local_object *o,
                                 const struct kumo_driver_load_balancer_spec *spec,
                                 struct kumo_driver_diag *diag);

/* The whole configuration of a load balancer bound to ip. */
void local_lb_config(const struct kumo_driver_load_balancer_spec *spec, const char *ip,
                     const struct local_lb_paths *p, struct kumo_driver_kit_buf *b);
/* " weight W [backup] check inter ..." of one target (in_file: with its cookie). */
void local_lb_server_options(const struct kumo_driver_load_balancer_spec *spec,
                             const struct kumo_driver_lb_target *t, int in_file,
                             struct kumo_driver_kit_buf *b);
int local_lb_config_frame_differs(const char *a, const char *b);
/* One runtime API command; the answer is appended to out. */
kumo_driver_code local_lb_command(const char *socket_path, const char *command, int64_t deadline_ns,
                                  struct kumo_driver_kit_buf *out, struct kumo_driver_diag *diag);
/* Every server of every backend (malloc'd array). now_ns: realtime, for last_change_ns. */
kumo_driver_code local_lb_servers(const char *socket_path, int64_t deadline_ns, int64_t now_ns,
                                  struct local_lb_server **out, size_t *count_out,
                                  struct kumo_driver_diag *diag);
/* Adds, adjusts and removes running servers until they are spec's targets. */
kumo_driver_code local_lb_sync_targets(const char *socket_path,
                                       const struct kumo_driver_load_balancer_spec *spec,
                                       int64_t deadline_ns, struct kumo_driver_diag *diag);
/* Atomic write (tmp, fsync, rename); 0 or -1 with err. */
int local_lb_write_file(const char *path, const char *text, int mode, char *err, size_t size);
/* The file's text (malloc'd), NULL when unreadable. */
char *local_lb_read_file(const char *path);
/* `haproxy -c`: INVALID with HAProxy's words when the file is refused. */
kumo_driver_code local_lb_check_config(const char *haproxy, const char *path, int64_t deadline_ns,
                                       const char *what, struct kumo_driver_diag *diag);
/* Dumps the server state and signals the master to reload (hitless). */
kumo_driver_code local_lb_reload(const char *socket_path, const struct local_lb_paths *p,
                                 int64_t pid, uint64_t pid_start, int64_t deadline_ns,
                                 struct kumo_driver_diag *diag);
/* The inventory's load balancers: comma-separated JSON objects {"id","token","netns","veth",
 * "ip","state","pid","config","socket"}. */
void local_lb_inventory_json(struct local_call *call, struct kumo_driver_kit_buf *b);
/* Removes the load balancer's HAProxy, namespace, veth and files. Idempotent. */
kumo_driver_code local_lb_teardown(struct local_call *call, const struct local_object *o,
                                   struct kumo_driver_diag *diag);

/* ---- host.c: orphans, inventory, purge --------------------------------------- */

/* A machine on the host with this connection's names that the state lacks. */
struct local_orphan {
    char id[32];
    char token[LOCAL_TOKEN_MAX + 1]; /* "" when only its namespace is left */
};
size_t local_find_orphans(struct kumo_driver_conn *c, struct local_orphan *out, size_t max);
/* A machine object for an orphan (free with local_object_free); NULL: no memory. */
struct local_object *local_orphan_object(const struct local_orphan *o);
extern const struct local_machine_view local_orphan_view;
/* control inventory: JSON of the connection's machines, networks and orphans. */
void local_inventory_json(struct local_call *call, struct kumo_driver_kit_buf *b);
/* control purge: removes everything the connection made and empties its state. */
kumo_driver_code local_purge(struct local_call *call, struct kumo_driver_diag *diag);

#endif
