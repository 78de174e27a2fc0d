/*
 * internal.h - what the files of controllers/infra share.
 *
 *   controllers.c    the table of controllers and start/stop (infra.h)
 *   connection.c     the Connection controller: probe, location, catalog
 *   credential.c     the Credential controller: kept while a Connection uses it
 *   resource.c       the one reconcile shape of every cloud resource kind
 *   resource_state.c shared helpers, per-object memory and API writes of resource.c
 *   machine.c        the Machine class of resource.c (phases, drift, boot polls)
 *   network.c        the Network, SecurityGroup and KeyPair classes
 *   keygen.c         ed25519 key pairs in OpenSSH format (generated KeyPairs)
 *   infra.c          the Infra controller: the reconcile, scaling of Machines
 *   infra_place.c    the Infra's reading of the world, placement and failover
 *   infra_shared.c   the per-connection Network/SecurityGroup/KeyPair of an Infra
 *   infra_status.c   the Infra's status roll-up and conditions
 *   placement.c      ranking connections for a group (placement.h)
 */
#ifndef KUMO_INFRA_INTERNAL_H
#define KUMO_INFRA_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/kumo/v1alpha1/network.pb-c.h"
#include "apis/map/map.h"
#include "controllers/infra/infra.h"
#include "controllers/runtime/meta/meta.h"
#include "controllers/runtime/clock/clock.h"

struct kumo_infra_controller {
    char name[32];
    kumo_controller *controller;
    void *context;
    void (*context_free)(void *context);
};

/* A kind a controller watches besides its own: `map` turns a change into enqueues, and the
 * kind's informer is stored in *informer_out (when not NULL). */
typedef struct infra_watch {
    const char *kind;
    kumo_controller_map_fn map;
    kumo_informer **informer_out;
} infra_watch;

/*
 * Creates the controller of `options` into out->controller and *self (before any watch or
 * start, so the context sees its controller), adds each watch in order and starts it.
 * Returns the first error; whatever was made is freed by kumo_infra_controller_stop.
 */
kumo_error infra_controller_run(const kumo_controller_options *options, const infra_watch *watches,
                                size_t watch_count, kumo_infra_controller *out,
                                kumo_controller **self, kumo_diag *diag);

/* "ns/name" into buf. */
void infra_key(const char *ns, const char *name, char *buf, size_t size);

/* Enqueues, for a changed object, every primary object on the same connection
 * (the primary informer's connection index). context is the primary informer's owner. */
void infra_enqueue_same_connection(kumo_controller *controller, kumo_informer *primary,
                                   const ProtobufCMessage *object);

/* ---- one driver call ---------------------------------------------------------------- */

typedef struct infra_call {
    kumo_cloud_conn *conn;
    const struct kumo_driver *driver;
    struct kumo_driver_conn *handle;
    int64_t deadline_ns;
    struct kumo_driver_diag diag;
} infra_call;

/* ---- the cloud resource shape (resource.c) -------------------------------------------- */

/* What an observed cloud resource is, for the generic loop. */
typedef enum resource_life {
    LIFE_PENDING = 0, /* exists, not usable yet (booting) */
    LIFE_READY,       /* exists and usable */
    LIFE_STOPPED,     /* exists, stopped (machines) */
    LIFE_GONE,        /* terminating or terminated: as good as absent */
} resource_life;

typedef struct resource_ctl resource_ctl;
typedef struct resource_run resource_run;

/* prepare's results besides OK. PREPARE_BLOCKED: a dependency failed (not just "not yet"). */
enum {
    PREPARE_OK = 0,
    PREPARE_WAIT = 1,
    PREPARE_INVALID = 2,
    PREPARE_ERROR = 3,
    PREPARE_BLOCKED = 4
};

/* 1 when a Ready=False reason means "on its way" (Provisioning, WaitingForDependencies, ...),
 * not a failure a user must act on. */
int infra_reason_is_progress(const char *reason);

/* Drift actions a class may ask for (machines). */
typedef enum resource_drift_action {
    DRIFT_NONE = 0,
    DRIFT_START,   /* power the resource on again */
    DRIFT_REPLACE, /* delete it, then create it again */
    DRIFT_REPORT,  /* only say so in conditions */
} resource_drift_action;

/*
 * One kind of cloud resource. The driver calls receive a started call (the
 * limiter token is taken) and return a driver block in *out that the
 * generic code frees.
 */
typedef struct resource_class {
    const char *name; /* "machine": controller and lease name */
    const char *kind; /* "Machine" */
    kumo_driver_code (*observe)(infra_call *call, const struct kumo_driver_ref *ref, void **out);
    kumo_driver_code (*create)(infra_call *call, const void *prepared, const char *token,
                               void **out);
    kumo_driver_code (*remove)(infra_call *call, const struct kumo_driver_ref *ref);
    /*
     * Resolves what create needs (provider ids of referenced objects, a
     * public key). PREPARE_OK with *prepared (freed with prepared_free);
     * PREPARE_WAIT when a dependency is not ready yet, PREPARE_INVALID when
     * the spec can never work, PREPARE_ERROR on an API failure; `why` says
     * which (its code: NOT_FOUND, UNAVAILABLE, INVALID_ARGUMENT, ...). May update the object
     * through the API (the KeyPair writes its generated key first) and then replaces run->object.
     */
    int (*prepare)(resource_ctl *ctl, resource_run *run, void **prepared, kumo_diag *why);
    void (*prepared_free)(void *prepared);
    /* Writes what the cloud says into run->object's status; returns the resource's life. */
    resource_life (*apply)(resource_ctl *ctl, resource_run *run, const void *observed);
    /* Spec changed since observedGeneration: apply it in place (NULL: immutable). */
    kumo_driver_code (*update)(infra_call *call, resource_run *run, const void *observed,
                               void **out);
    /* What to do about a stopped or vanished resource (NULL: replace when gone). */
    resource_drift_action (*drift)(resource_run *run, resource_life life);
    /* Starts a stopped resource (DRIFT_START). */
    kumo_driver_code (*start)(infra_call *call, const struct kumo_driver_ref *ref, void **out);
    /* Sets status fields for a resource that does not exist (phase, addresses). */
    void (*clear)(resource_run *run, const char *phase_word);
    /* Index of the kinds the class reads: 1 when the class uses that informer. */
    int needs_networks, needs_security_groups, needs_key_pairs;
    int has_phase; /* machines: boot polls and phases */
} resource_class;

/* Per-object memory of a resource controller (lost on restart: then everything is observed). */
typedef struct resource_memory {
    int seen;                 /* reconciled before by this process */
    int intent_fresh;         /* we wrote the create-pending marker and made no create since */
    int64_t written_revision; /* the revision our last write made */
    double written_at_ms;
    double next_observe_ms; /* no cloud call before this unless something changed */
    int64_t observed_generation;
    double created_at_ms; /* when we last created it (boot estimate) */
    int polls_since_create;
} resource_memory;

/* A connection's learnt boot time (machines). */
typedef struct boot_estimate {
    double ms;
} boot_estimate;

struct resource_ctl {
    const resource_class *cls;
    kumo_infra_env env;
    kumo_controller *controller;
    kumo_informer *objects;
    kumo_informer *connections;
    kumo_informer *networks;
    kumo_informer *security_groups;
    kumo_informer *key_pairs;
    pthread_mutex_t lock;
    kumo_map *memory; /* key -> resource_memory */
    kumo_map *boot;   /* connection key -> boot_estimate */
};

/* One reconcile of one object. */
struct resource_run {
    resource_ctl *ctl;
    const char *ns, *name;
    char key[320];
    ProtobufCMessage *object;     /* owned; replaced after each write */
    ProtobufCMessage *original;   /* the object as read, to tell whether status changed */
    ProtobufCMessage *connection; /* the Connection, or NULL */
    resource_memory memory;
    kumo_diag diag;
};

/* The cloud-resource classes. */
extern const resource_class infra_machine_class;
extern const resource_class infra_network_class;
extern const resource_class infra_security_group_class;
extern const resource_class infra_key_pair_class;

kumo_error infra_resource_start(const resource_class *cls, const kumo_infra_env *env,
                                kumo_infra_controller *out, kumo_diag *diag);

/* Status helpers every class uses (status fields found by name). */
const char *resource_provider_id(const ProtobufCMessage *object);
int resource_provider_id_set(ProtobufCMessage *object, const char *provider_id);
/* Writes run->object's status when it changed since it was read (then adopts the result). */
kumo_error resource_write_status(resource_run *run);
/* A deletion held by a finalizer: Ready False, reason DeleteBlocked, the message naming what
 * holds it; status written (and an Event recorded) when that changed. */
void infra_deletion_held(const kumo_infra_env *env, ProtobufCMessage *object, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets the Ready condition. */
void resource_ready(ProtobufCMessage *object, int ready, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* spec.connection of any kind that has one ("" when none). */
const char *resource_spec_connection(const ProtobufCMessage *object);
/* status.observedGeneration (NULL when the kind has none) and metadata.generation. */
int64_t *resource_status_observed_generation(ProtobufCMessage *status);
int64_t resource_status_generation(const ProtobufCMessage *object);
/* The per-object memory under ctl->lock: a copy (zeroed when unknown), store, forget. */
resource_memory resource_memory_get(resource_ctl *ctl, const char *key);
void resource_memory_put(resource_ctl *ctl, const char *key, const resource_memory *m);
void resource_memory_drop(resource_ctl *ctl, const char *key);
/* Writes run->object's metadata and spec (finalizers, annotations), then adopts the result. */
kumo_error resource_write_meta(resource_run *run);
/* Finalizer and create-pending marker, in one write, before any cloud call. */
kumo_error resource_record_intent(resource_run *run);
/* Looks up `name` in an informer of the same namespace; caller frees. */
ProtobufCMessage *resource_lookup(kumo_informer *informer, const char *ns, const char *name);
/* Learns from a machine seen running/pending how long boots take on its connection. */
double resource_boot_estimate(resource_ctl *ctl, const char *connection_key);
void resource_boot_learn(resource_ctl *ctl, const char *connection_key, int running,
                         double elapsed_ms);

/* ---- connection controller --------------------------------------------------------- */

kumo_error infra_connection_start(const kumo_infra_env *env, kumo_infra_controller *out,
                                  kumo_diag *diag);
/* The Credential controller (credential.c): the in-use finalizer of Credentials. */
kumo_error infra_credential_start(const kumo_infra_env *env, kumo_infra_controller *out,
                                  kumo_diag *diag);

/* ---- infra controller (infra.c, infra_status.c) ----------------------------------------- */

kumo_error infra_infra_start(const kumo_infra_env *env, kumo_infra_controller *out,
                             kumo_diag *diag);

/* Failovers exclude a connection for a group this long. */
#define INFRA_FAILOVER_EXCLUDE_SECONDS 3600
#define INFRA_MAX_CANDIDATES           32
/* A new Connection that has not reported yet holds placement this long at most. */
#define INFRA_CONNECTION_SETTLE_SECONDS 30
#define INFRA_MAX_FAILOVERS             10

/* One Machine of the Infra, as the reconcile sees it. Strings live in the run's arena. */
typedef struct infra_member {
    const char *name;
    const char *uid;
    const char *connection;
    const char *instance_type;
    const char *failure;         /* "InsufficientCapacity", "QuotaExceeded" or NULL */
    const char *failure_message; /* "" without a failure */
    /* Why it is not ready when that is a failure, not progress (its Ready reason and
     * message: "InvalidSpec", "DependencyFailed", ...); NULL when it is fine or on its way. */
    const char *problem;
    const char *problem_message;
    const char *currency;
    long index; /* n of <infra>-<group>-<n>; -1 when the name does not parse */
    double cost_per_hour;
    int group; /* index in spec.groups; -1 when the group is gone */
    int deleting;
    int running;
    /* Made for an older spec of its group: another instance type, image, user data or
     * (explicit groups) connection. */
    int outdated;
    /* It no longer fits its group: another connection or instance type than the group's
     * explicit placement, or a label the group sets missing or different. A shrinking group
     * removes such machines first (a migration relies on it). */
    int stale;
} infra_member;

/* Strings copied for one reconcile, freed together (chunks never move). */
typedef struct infra_arena_chunk {
    struct infra_arena_chunk *next;
    size_t used, cap;
    char data[];
} infra_arena_chunk;

/* A failover decided in this reconcile. */
typedef struct infra_failover {
    char from_connection[256], from_instance_type[128];
    char to_connection[256], to_instance_type[128];
    const char *reason;
    char message[400];
} infra_failover;

/* The plan of one node group. */
typedef struct infra_group_plan {
    const Kumo__V1alpha1__NodeGroup *spec;
    int desired;
    int explicit_placement;
    kumo_placement_offer explicit_offer;
    kumo_placement_candidate candidates[INFRA_MAX_CANDIDATES];
    size_t candidate_count;
    size_t spread;                   /* connections to use */
    char no_placement[512];          /* why there is no candidate ("" when there is one) */
    const char *no_placement_reason; /* its Degraded reason; NULL: NoPlacement */
    char excluded[INFRA_MAX_FAILOVERS + 1][256]; /* failed-over connections still excluded */
    const char *excluded_list[INFRA_MAX_FAILOVERS + 2];
    size_t excluded_count;
    infra_failover failovers[INFRA_MAX_FAILOVERS];
    size_t failover_count;
    int capacity_blocked; /* explicit group with machines the cloud refused */
    char settling[256];   /* a new Connection placement waits for ("" when none) */
    /* The rollout (infra_rollout.c): members matching the spec and not, how many more
     * may be created while old ones remain (-1: no limit), and the group keeps old ones. */
    int up_to_date, outdated;
    long create_limit;
    int keep_existing;
} infra_group_plan;

/* A connection the Infra uses and which of its groups have Machines there. */
typedef struct infra_usage {
    char connection[256];
    unsigned char *groups; /* groups[g] != 0: group g has (or is about to have) Machines here */
} infra_usage;

/* A child object (Machine, Network, ...) the API refused to create or update. */
typedef struct infra_child_error {
    char reason[64];
    char message[700];
} infra_child_error;

/* Everything one Infra reconcile works on. */
typedef struct infra_run {
    const char *ns;
    ProtobufCMessage *object; /* the Infra, owned */
    Kumo__V1alpha1__Infra *infra;
    ProtobufCMessage **connections; /* the namespace's Connections, owned */
    size_t connection_count;
    kumo_placement_offer *offers; /* borrowing strings from connections */
    size_t offer_count;
    infra_member *members;
    size_t member_count, member_cap;
    infra_group_plan *groups; /* one per spec group */
    infra_usage *usage;       /* connections in use, Machines being deleted included */
    size_t usage_count, usage_cap;
    infra_arena_chunk *arena;
    infra_child_error *child_error; /* the first child write the API refused in this pass */
} infra_run;

/* Records the API's refusal of a child object (first one wins). */
void infra_child_error_note(const infra_run *run, const char *kind, const char *name, kumo_error e,
                            const kumo_diag *diag);

/* A copy of s in the run's arena (valid until the run ends); "" when out of memory. */
const char *infra_intern(infra_run *run, const char *s);
void infra_arena_free(infra_run *run);

/* ---- replacing outdated machines (infra_rollout.c) ---- */

/* 1 when Machine `machine` no longer matches group g of the Infra. */
int infra_member_outdated(const infra_run *run, size_t g, const Kumo__V1alpha1__Machine *machine);
/*
 * Replaces the group's outdated Machines, rolling: new Machines are allowed beyond the size
 * (plan->create_limit, up to maxUnavailable of them) and an old Machine is deleted once the
 * group stays above size - maxUnavailable without it (with the new ones ready, when they can
 * be made). Old Machines that are not running go at once. KeepExisting groups only count.
 * Deletions are recorded as Events on the Infra.
 */
void infra_rollout(kumo_client *client, kumo_recorder *recorder, infra_run *run, size_t g);

/* ---- reading and placing (infra_place.c) ---- */

/* Every object of `informer` in namespace ns (owned array of owned objects). */
ProtobufCMessage **infra_objects_in(kumo_informer *informer, const char *ns, size_t *count_out);
void infra_objects_free(ProtobufCMessage **objects, size_t count);
/* run->offers: the offers of every Ready Connection with a catalog. 0, or -1 (no memory). */
int infra_offers_build(infra_run *run);
/* run->members: the Infra's Machines (owner index of `machines`). 0, or -1 (no memory). */
int infra_members_load(kumo_informer *machines, infra_run *run);
/* The group's candidates (explicit placement, or ranked offers minus exclusions). */
void infra_plan_candidates(const kumo_infra_env *env, infra_run *run, infra_group_plan *plan);
/* Records a failover of the group away from x's connection (once per connection per pass). */
void infra_fail_over(infra_group_plan *plan, const infra_member *x);

/* What infra_shared.c reads and writes with. */
typedef struct infra_shared_env {
    kumo_client *client;
    kumo_informer *networks, *security_groups, *key_pairs;
} infra_shared_env;

/* Notes that `group` (-1: none) has Machines on `connection`. Returns 0 or -1 (no memory). */
int infra_usage_add(infra_run *run, const char *connection, int group);
void infra_usage_free(infra_run *run);
/* Creates (or updates the rules of) the shared objects of one connection in use. */
void infra_shared_ensure(const infra_shared_env *env, const infra_run *run, const infra_usage *u);
/* Deletes the Infra's shared objects on connections no longer in use. */
void infra_shared_prune(const infra_shared_env *env, const infra_run *run);
/* Helpers for building objects owned by the Infra. */
int infra_set_string(char **slot, const char *value);
Kumo__V1alpha1__LocalObjectReference *infra_local_ref(const char *name);
void infra_shared_name(const infra_run *run, const char *connection, char *buf, size_t size);
int infra_owned_meta(const infra_run *run, ProtobufCMessage *object, const char *name);
void infra_object_delete(kumo_client *client, const char *kind, const char *ns, const char *name,
                         const char *uid);

/*
 * Builds the Infra's new status from the run (groups, placements, failovers,
 * totals, conditions) on a copy of the object and returns it (caller frees),
 * or NULL when out of memory. *converged_out: every group at size and ready.
 */
ProtobufCMessage *infra_status_build(const infra_run *run, int *converged_out);
/* The still-active exclusions of a group, from its recorded failovers. */
void infra_status_exclusions(const Kumo__V1alpha1__Infra *infra, const char *group,
                             infra_group_plan *plan);

/* ---- keygen ------------------------------------------------------------------------- */

/*
 * A new ed25519 key pair: *public_out "ssh-ed25519 AAAA... comment" and
 * *private_out an unencrypted OpenSSH private key file (both malloc'd).
 * Returns 0, or -1 when the crypto library fails.
 */
int infra_keygen_ed25519(const char *comment, char **public_out, char **private_out);

#endif
