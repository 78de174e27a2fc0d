/*
 * infra.c - the Infra controller: one Machine per node of each group, and
 * per connection used a Network, SecurityGroup and KeyPair, all owned by the
 * Infra (so deleting the Infra deletes them, and their finalizers clean the
 * clouds).
 *
 * One reconcile:
 *   1. read the Infra, the namespace's Connections and the Infra's Machines
 *      (owner index of the Machine informer);
 *   2. per group, the candidates: the explicit connection + instanceType, or
 *      kumo_placement_rank over the offers of Ready Connections (catalogs in
 *      their status) allowed by the requirements, minus the connections the
 *      group failed over from in the last hour (kept in status.failovers);
 *   3. failover: Machines whose Ready condition says InsufficientCapacity or
 *      QuotaExceeded on a connection of a placed group exclude that
 *      connection, are deleted, and a Failover entry is recorded;
 *   4. scale: new Machines "<infra>-<group>-<n>" (lowest free n) go to the
 *      first `spreadConnections` candidates, to the one furthest below its
 *      share; scale down deletes the highest n first; healthy Machines are
 *      never moved;
 *   5. shared resources "<infra>-<connection>" for every connection in use,
 *      deleted when no Machine of the Infra is left there;
 *   6. status (infra_status.c), written when it changed and at most every
 *      status_interval_ms while machines are coming up.
 * Creates are spread round-robin over groups and capped per pass, so every
 * connection gets work at once and status shows progress.
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "controllers/runtime/clock/clock.h"
#include "controllers/runtime/keystate/keystate.h"

/* Machines created per reconcile pass before status is written and the pass repeats. */
#define CREATES_PER_PASS 1000
#define RESYNC_MS        60000.0
/* Our Machine writes are awaited in the cache this long at most, looking this often. */
#define INFRA_CACHE_WAIT_MS 5000
#define INFRA_CACHE_POLL_MS 20
/* A group waits for a new Connection's first probe: looked at again this soon. */
#define INFRA_SETTLING_REQUEUE_MS 500

typedef struct infra_ctl {
    kumo_infra_env env;
    kumo_controller *controller;
    kumo_informer *connections, *machines, *networks, *security_groups, *key_pairs;
    kumo_keystate *memory; /* "ns/name" -> infra_memory */
} infra_ctl;

typedef struct infra_memory {
    int64_t written_revision; /* highest Machine revision our writes made */
    double written_ms;
    double status_written_ms;
    double full_pass_ms; /* when the last full reconcile ran */
    int more_to_create;  /* the last pass stopped at CREATES_PER_PASS */
} infra_memory;

typedef Kumo__V1alpha1__Infra infra_object;

static kumo_controller_result requeue(double ms)
{
    return (kumo_controller_result){KUMO_CONTROLLER_REQUEUE, ms < 1 ? 1 : ms};
}

static const kumo_keystate_ops memory_ops = {.size = sizeof(infra_memory)};

/* A copy of the Infra's memory (zero the first time): the pass works on its copy. */
static infra_memory memory_get(infra_ctl *ctl, const char *key)
{
    infra_memory m;
    memset(&m, 0, sizeof(m));
    infra_memory *found = kumo_keystate_acquire(ctl->memory, key);
    if (found)
        m = *found;
    kumo_keystate_release(ctl->memory);
    return m;
}

static void memory_put(infra_ctl *ctl, const char *key, const infra_memory *m)
{
    infra_memory *slot = kumo_keystate_acquire(ctl->memory, key);
    if (slot)
        *slot = *m;
    kumo_keystate_release(ctl->memory);
}

/* ---- writes ------------------------------------------------------------------------ */

static void note_revision(infra_memory *mem, const ProtobufCMessage *written)
{
    int64_t rv = written ? kumo_meta_revision(written) : 0;
    if (rv > mem->written_revision && written->descriptor == &kumo__v1alpha1__machine__descriptor) {
        mem->written_revision = rv;
        mem->written_ms = kumo_clock_now_ms();
    }
}

static ProtobufCMessage *machine_new(const infra_run *run, const infra_group_plan *plan, long index,
                                     const kumo_placement_offer *offer)
{
    const Kumo__V1alpha1__NodeGroup *g = plan->spec;
    const Kumo__V1alpha1__InfraSpec *is = run->infra->spec;
    ProtobufCMessage *object = kumo_object_new(kumo_object_kind_lookup("Machine"));
    Kumo__V1alpha1__Machine *mc = (Kumo__V1alpha1__Machine *)object;
    char name[300], shared[600];
    snprintf(name, sizeof(name), "%s-%s-%ld", run->infra->metadata->name, g->name, index);
    infra_shared_name(run, offer->connection, shared, sizeof(shared));
    int bad = object == NULL || infra_owned_meta(run, object, name) ||
              kumo_meta_label_set(object, KUMO_INFRA_LABEL_GROUP, g->name) < 0;
    for (size_t i = 0; !bad && i < is->n_labels; i++)
        bad = kumo_meta_label_set(object, is->labels[i]->key, is->labels[i]->value) < 0;
    for (size_t i = 0; !bad && i < g->n_labels; i++)
        bad = kumo_meta_label_set(object, g->labels[i]->key, g->labels[i]->value) < 0;
    if (!bad && (mc->spec = malloc(sizeof(*mc->spec))) != NULL) {
        Kumo__V1alpha1__MachineSpec *s = mc->spec;
        kumo__v1alpha1__machine_spec__init(s);
        bad = infra_set_string(&s->connection, offer->connection) ||
              infra_set_string(&s->instance_type, offer->instance_type) ||
              infra_set_string(&s->image, g->image) ||
              infra_set_string(&s->user_data, g->user_data);
        s->network_ref = infra_local_ref(shared);
        s->key_pair_ref = infra_local_ref(shared);
        s->security_group_refs = malloc(sizeof(*s->security_group_refs));
        if (s->security_group_refs && (s->security_group_refs[0] = infra_local_ref(shared)) != NULL)
            s->n_security_group_refs = 1;
        bad = bad || s->network_ref == NULL || s->key_pair_ref == NULL ||
              s->n_security_group_refs != 1;
        s->drift_policy = (Kumo__V1alpha1__MachineSpec__DriftPolicy)is->drift_policy;
        if (!bad && g->root_disk) {
            s->root_disk =
                (Kumo__V1alpha1__RootDisk *)kumo_codec_message_clone(&g->root_disk->base);
            bad = s->root_disk == NULL;
        }
    } else {
        bad = 1;
    }
    if (bad) {
        kumo_object_destroy(object);
        return NULL;
    }
    return object;
}

/* Creates a Machine; returns 0 when it was created (or already existed). */
static int machine_create(infra_ctl *ctl, infra_run *run, infra_memory *mem,
                          const infra_group_plan *plan, long index,
                          const kumo_placement_offer *offer)
{
    ProtobufCMessage *object = machine_new(run, plan, index, offer);
    if (object == NULL)
        return -1;
    ProtobufCMessage *created = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = kumo_client_create(ctl->env.client, object, &created, &diag);
    if (e == KUMO_ERROR_OK)
        note_revision(mem, created);
    else if (e != KUMO_ERROR_ALREADY_EXISTS)
        infra_child_error_note(run, "Machine", kumo_object_name(object), e, &diag);
    kumo_diag_fini(&diag);
    kumo_object_destroy(object);
    kumo_object_destroy(created);
    return e == KUMO_ERROR_OK || e == KUMO_ERROR_ALREADY_EXISTS ? 0 : -1;
}

/* ---- the reconcile ------------------------------------------------------------------ */

typedef struct creation {
    size_t group;
    long index;
    const kumo_placement_offer *offer;
} creation;

static int member_add(infra_run *run, const infra_group_plan *plan, size_t group, long index,
                      const kumo_placement_offer *offer)
{
    if (run->member_count == run->member_cap) {
        size_t cap = run->member_cap ? run->member_cap * 2 : run->member_count + 64;
        infra_member *grown = realloc(run->members, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        run->members = grown;
        run->member_cap = cap;
    }
    infra_member *x = &run->members[run->member_count++];
    memset(x, 0, sizeof(*x));
    char name[600];
    snprintf(name, sizeof(name), "%s-%s-%ld", run->infra->metadata->name, plan->spec->name, index);
    x->name = infra_intern(run, name);
    x->uid = "";
    x->group = (int)group;
    x->index = index;
    x->connection = offer->connection;
    x->instance_type = offer->instance_type;
    x->failure_message = "";
    x->currency = "";
    return 0;
}

/* Scale-down order: machines that no longer fit the group first, then the highest index. */
static int compare_stale_index_desc(const void *a, const void *b)
{
    const infra_member *x = *(infra_member *const *)a, *y = *(infra_member *const *)b;
    int xs = x->stale || x->outdated, ys = y->stale || y->outdated;
    if (xs != ys)
        return xs ? -1 : 1;
    return x->index < y->index ? 1 : x->index > y->index ? -1 : 0;
}

/* A member that counts toward the group's size (an outdated one being replaced does not). */
static int active(const infra_group_plan *plan, const infra_member *x)
{
    return !x->deleting && (plan->explicit_placement || x->failure == NULL) &&
           (!x->outdated || plan->keep_existing);
}

/* Plans the group's scale-up (into `todo`) and performs its scale-down. */
static size_t plan_scale(infra_ctl *ctl, infra_run *run, size_t g, creation *todo, size_t room)
{
    infra_group_plan *plan = &run->groups[g];
    infra_member **mine = calloc(run->member_count + 1, sizeof(*mine));
    size_t count = 0, n_active = 0;
    long max_index = -1;
    for (size_t i = 0; mine && i < run->member_count; i++) {
        infra_member *x = &run->members[i];
        if (x->group != (int)g)
            continue;
        if (x->index > max_index)
            max_index = x->index;
        if (active(plan, x)) {
            mine[count++] = x;
            n_active++;
        }
    }
    size_t planned = 0;
    if (mine && (long)n_active > plan->desired) {
        qsort(mine, count, sizeof(*mine), compare_stale_index_desc);
        for (size_t i = 0; i < n_active - (size_t)plan->desired; i++) {
            infra_object_delete(ctl->env.client, "Machine", run->ns, mine[i]->name, mine[i]->uid);
            mine[i]->deleting = 1;
        }
        kumo_recorder_event(ctl->env.recorder, run->object, KUMO_RECORDER_NORMAL, "ScaledDown",
                            "Delete", "group %s: deleted %zu Machines to reach size %d",
                            plan->spec->name, n_active - (size_t)plan->desired, plan->desired);
    } else if (mine && (long)n_active < plan->desired && plan->candidate_count > 0 &&
               plan->no_placement[0] == '\0' && plan->settling[0] == '\0') {
        size_t spread = plan->spread < plan->candidate_count ? plan->spread : plan->candidate_count;
        if (spread == 0)
            spread = 1;
        size_t want = (size_t)plan->desired - n_active;
        if (plan->create_limit >= 0 && want > (size_t)plan->create_limit)
            want = (size_t)plan->create_limit; /* rolling: at most maxUnavailable extra */
        /* Machines per chosen candidate now; shares by rank order. */
        long have[INFRA_MAX_CANDIDATES] = {0}, share[INFRA_MAX_CANDIDATES] = {0};
        for (size_t c = 0; c < spread; c++) {
            share[c] = plan->desired / (long)spread + ((long)c < plan->desired % (long)spread);
            for (size_t i = 0; i < count; i++)
                have[c] += strcmp(mine[i]->connection, plan->candidates[c].offer->connection) == 0;
        }
        /* Free indexes: not used by any member of the group, deleting ones included. */
        size_t slots = (size_t)(max_index + 2) + want;
        unsigned char *used = calloc(slots, 1);
        for (size_t i = 0; used && i < run->member_count; i++)
            if (run->members[i].group == (int)g && run->members[i].index >= 0 &&
                (size_t)run->members[i].index < slots)
                used[run->members[i].index] = 1;
        long next = 0;
        for (size_t k = 0; used && k < want && planned < room; k++) {
            while ((size_t)next < slots && used[next])
                next++;
            size_t best = 0;
            for (size_t c = 1; c < spread; c++)
                if (share[c] - have[c] > share[best] - have[best])
                    best = c;
            have[best]++;
            used[next] = 1;
            todo[planned++] = (creation){g, next, plan->candidates[best].offer};
        }
        free(used);
    }
    free(mine);
    return planned;
}

/*
 * The per-namespace limit: at most max_machines_per_namespace Machines in the namespace.
 * Returns how many of `wanted` creations fit; when not all, the Infra says so (Degraded,
 * NamespaceLimit) and the rest wait for room.
 */
static size_t namespace_cap(infra_ctl *ctl, infra_run *run, size_t wanted)
{
    size_t count = 0, have = 0, ns_len = strlen(run->ns);
    char **keys = wanted ? kumo_informer_keys(ctl->machines, &count) : NULL;
    for (size_t i = 0; keys && i < count; i++)
        have += strncmp(keys[i], run->ns, ns_len) == 0 && keys[i][ns_len] == '/';
    kumo_informer_keys_free(keys, count);
    long limit = ctl->env.max_machines_per_namespace;
    size_t room = (long)have >= limit ? 0 : (size_t)(limit - (long)have);
    if (wanted <= room)
        return wanted;
    infra_child_error *c = run->child_error;
    if (c && c->reason[0] == '\0') {
        snprintf(c->reason, sizeof(c->reason), "NamespaceLimit");
        snprintf(c->message, sizeof(c->message),
                 "namespace %s has %zu Machines; the limit is %ld (kumod "
                 "--max-machines-per-namespace): %zu more wait for room",
                 run->ns, have, limit, wanted - room);
    }
    return room;
}

static void run_free(infra_run *run)
{
    infra_usage_free(run);
    infra_arena_free(run);
    infra_objects_free(run->connections, run->connection_count);
    free(run->offers);
    free(run->members);
    free(run->groups);
    kumo_object_destroy(run->object);
}

/* Observe, first: 1 when this pass is to wait (*out says how long): our own Machine writes
 * have not reached the cache, or a full pass ran less than half a status interval ago. */
static int pass_deferred(infra_ctl *ctl, const ProtobufCMessage *object, infra_memory *mem,
                         int *spec_changed, kumo_controller_result *out)
{
    double now = kumo_clock_now_ms();
    if (kumo_informer_revision(ctl->machines) < mem->written_revision &&
        now - mem->written_ms < INFRA_CACHE_WAIT_MS) {
        *out = requeue(INFRA_CACHE_POLL_MS);
        return 1;
    }
    /* At most one full pass per half status interval (Machine events, our own status writes),
     * unless the spec changed or a creation pass is under way. */
    const Kumo__V1alpha1__Infra *seen = (const Kumo__V1alpha1__Infra *)object;
    *spec_changed =
        seen->status == NULL || seen->status->observed_generation != seen->metadata->generation;
    double quiet_ms = ctl->env.status_interval_ms * 0.5;
    if (!*spec_changed && !mem->more_to_create && now - mem->full_pass_ms < quiet_ms) {
        *out = requeue(quiet_ms - (now - mem->full_pass_ms));
        return 1;
    }
    mem->full_pass_ms = now;
    return 0;
}

/* Observe: the Connections' offers and the Infra's Machines. 0, or -1 when out of memory. */
static int run_load(infra_ctl *ctl, const char *ns, ProtobufCMessage *object, infra_run *run,
                    infra_child_error *child_error)
{
    memset(run, 0, sizeof(*run));
    memset(child_error, 0, sizeof(*child_error));
    run->child_error = child_error;
    run->ns = ns;
    run->object = object;
    run->infra = (infra_object *)object;
    size_t n_groups = run->infra->spec ? run->infra->spec->n_groups : 0;
    run->connections = infra_objects_in(ctl->connections, ns, &run->connection_count);
    run->groups = calloc(n_groups + 1, sizeof(*run->groups));
    if (run->connections == NULL || run->groups == NULL || infra_offers_build(run) != 0 ||
        infra_members_load(ctl->machines, run) != 0)
        return -1;
    run->member_cap = run->member_count;
    return 0;
}

static size_t group_count(const infra_run *run)
{
    return run->infra->spec ? run->infra->spec->n_groups : 0;
}

/* Plan and act: Machines of groups removed from the spec go. */
static void removed_groups_delete(infra_ctl *ctl, infra_run *run)
{
    for (size_t i = 0; i < run->member_count; i++) {
        if (run->members[i].group < 0 && !run->members[i].deleting) {
            infra_object_delete(ctl->env.client, "Machine", run->ns, run->members[i].name,
                                run->members[i].uid);
            run->members[i].deleting = 1;
        }
    }
}

/* Plan: one group's size, candidates and failovers (failed Machines go). */
static void group_plan(infra_ctl *ctl, infra_run *run, size_t g, const char *key)
{
    infra_group_plan *plan = &run->groups[g];
    plan->spec = run->infra->spec->groups[g];
    plan->desired = plan->spec->size_present_case == KUMO__V1ALPHA1__NODE_GROUP__SIZE_PRESENT_SIZE
                        ? plan->spec->size
                        : 1;
    plan->explicit_placement = plan->spec->placement == NULL;
    infra_status_exclusions(run->infra, plan->spec->name, plan);
    for (size_t i = 0; i < run->member_count; i++) {
        infra_member *x = &run->members[i];
        if (x->group != (int)g || x->deleting || x->failure == NULL)
            continue;
        if (plan->explicit_placement) {
            plan->capacity_blocked = 1;
            continue;
        }
        infra_fail_over(plan, x);
        infra_object_delete(ctl->env.client, "Machine", run->ns, x->name, x->uid);
        x->deleting = 1;
    }
    infra_plan_candidates(&ctl->env, run, plan);
    for (size_t f = 0; f < plan->failover_count; f++) {
        infra_failover *fo = &plan->failovers[f];
        if (plan->candidate_count > 0) {
            snprintf(fo->to_connection, sizeof(fo->to_connection), "%s",
                     plan->candidates[0].offer->connection);
            snprintf(fo->to_instance_type, sizeof(fo->to_instance_type), "%s",
                     plan->candidates[0].offer->instance_type);
        }
        KUMO_LOG_INFO("controller", "group failed over",
                      "controller=infra infra=%s group=%s from=%s to=%s reason=%s", key,
                      plan->spec->name, fo->from_connection,
                      fo->to_connection[0] ? fo->to_connection : "<none>", fo->reason);
    }
}

/* Plan: round-robin over groups the planned creations, at most CREATES_PER_PASS, so every
 * connection gets work at once. Returns how many are in order[]. */
static size_t creations_interleave(const creation *todo, size_t planned, size_t n_groups,
                                   creation *order)
{
    size_t ordered = 0;
    size_t *cursor = calloc(n_groups + 1, sizeof(*cursor));
    size_t *start = calloc(n_groups + 2, sizeof(*start));
    for (size_t i = 0; cursor && start && i < planned; i++)
        start[todo[i].group + 1]++;
    for (size_t g = 0; cursor && start && g < n_groups; g++) {
        start[g + 1] += start[g];
        cursor[g] = start[g];
    }
    while (cursor && start && ordered < planned && ordered < CREATES_PER_PASS)
        for (size_t g = 0; g < n_groups && ordered < CREATES_PER_PASS; g++)
            if (cursor[g] < start[g + 1])
                order[ordered++] = todo[cursor[g]++];
    free(cursor);
    free(start);
    return ordered;
}

/* Plan: what to create this pass (caller frees *order); *more when some is left for later. */
static size_t creations_plan(infra_ctl *ctl, infra_run *run, creation **order, int *more)
{
    size_t n_groups = group_count(run), room = 0, planned = 0, ordered = 0;
    for (size_t g = 0; g < n_groups; g++)
        room += (size_t)(run->groups[g].desired > 0 ? run->groups[g].desired : 0);
    creation *todo = calloc(room + 1, sizeof(*todo));
    *order = calloc(room + 1, sizeof(**order));
    for (size_t g = 0; todo && *order && g < n_groups; g++)
        planned += plan_scale(ctl, run, g, todo + planned, room - planned);
    if (*order)
        ordered = creations_interleave(todo, planned, n_groups, *order);
    free(todo);
    *more = planned > ordered;
    return namespace_cap(ctl, run, ordered);
}

/* Act: the shared resources of every connection in use or about to be, then the Machines.
 * Returns how many Machines were created. */
static size_t creations_act(infra_ctl *ctl, infra_run *run, infra_memory *mem,
                            const creation *order, size_t ordered, int more)
{
    int no_memory = 0;
    for (size_t i = 0; i < run->member_count; i++)
        no_memory |= infra_usage_add(run, run->members[i].connection, run->members[i].group);
    for (size_t i = 0; i < ordered; i++)
        no_memory |= infra_usage_add(run, order[i].offer->connection, (int)order[i].group);
    infra_shared_env shared = {ctl->env.client, ctl->networks, ctl->security_groups,
                               ctl->key_pairs};
    for (size_t u = 0; u < run->usage_count; u++)
        infra_shared_ensure(&shared, run, &run->usage[u]);
    size_t created = 0;
    for (size_t i = 0; i < ordered; i++) {
        const creation *c = &order[i];
        if (machine_create(ctl, run, mem, &run->groups[c->group], c->index, c->offer) == 0 &&
            member_add(run, &run->groups[c->group], c->group, c->index, c->offer) == 0)
            created++;
    }
    if (created > 0) /* one Event per pass, not per Machine */
        kumo_recorder_event(ctl->env.recorder, run->object, KUMO_RECORDER_NORMAL, "MachinesCreated",
                            "Create", "created %zu Machines%s", created,
                            more ? "; more follow" : "");
    if (!no_memory)
        infra_shared_prune(&shared, run);
    return created;
}

/* Report: status, when it changed, not more often than status_interval_ms while busy. */
static kumo_controller_result status_report(infra_ctl *ctl, infra_run *run, infra_memory *mem,
                                            int urgent)
{
    int converged = 0;
    kumo_controller_result result = requeue(RESYNC_MS * kumo_controller_jitter(0.1));
    ProtobufCMessage *fresh = infra_status_build(run, &converged);
    if (fresh == NULL) {
        result = (kumo_controller_result){KUMO_CONTROLLER_RETRY, 0};
    } else if (!kumo_meta_status_equal(fresh, run->object)) {
        double since = kumo_clock_now_ms() - mem->status_written_ms;
        if (!(urgent || converged) && since < ctl->env.status_interval_ms) {
            result = requeue(ctl->env.status_interval_ms - since);
        } else {
            kumo_diag diag;
            kumo_diag_init(&diag);
            kumo_error e = kumo_client_update_status(ctl->env.client, fresh, NULL, &diag);
            if (e == KUMO_ERROR_OK) {
                mem->status_written_ms = kumo_clock_now_ms();
                kumo_recorder_conditions(ctl->env.recorder, run->object, fresh);
            } else if (e != KUMO_ERROR_NOT_FOUND)
                result = (kumo_controller_result){KUMO_CONTROLLER_RETRY, 0};
            kumo_diag_fini(&diag);
        }
    }
    kumo_object_destroy(fresh);
    int settling = 0;
    for (size_t g = 0; g < group_count(run); g++)
        settling |= run->groups[g].settling[0] != '\0';
    if (settling && result.outcome == KUMO_CONTROLLER_REQUEUE &&
        result.after_ms > INFRA_SETTLING_REQUEUE_MS)
        result = requeue(INFRA_SETTLING_REQUEUE_MS); /* a new Connection has not reported yet */
    return result;
}

/* observe (gate, load) -> plan (removed groups, groups, rollouts, creations) -> act -> report */
static kumo_controller_result reconcile(void *context, const char *ns, const char *name)
{
    infra_ctl *ctl = context;
    char key[320];
    infra_key(ns, name, key, sizeof(key));
    ProtobufCMessage *object =
        kumo_informer_get(kumo_controller_informer(ctl->controller), ns, name);
    if (object == NULL || kumo_meta_deleting(object)) {
        /* Owner references make the store delete the Machines and shared objects. */
        kumo_object_destroy(object);
        kumo_keystate_forget(ctl->memory, key);
        return (kumo_controller_result){KUMO_CONTROLLER_DONE, 0};
    }
    infra_memory mem = memory_get(ctl, key);
    int spec_changed = 0;
    kumo_controller_result result;
    if (pass_deferred(ctl, object, &mem, &spec_changed, &result)) {
        kumo_object_destroy(object);
        return result;
    }
    infra_run run;
    infra_child_error child_error;
    if (run_load(ctl, ns, object, &run, &child_error) != 0) {
        run_free(&run);
        return (kumo_controller_result){KUMO_CONTROLLER_RETRY, 0};
    }
    removed_groups_delete(ctl, &run);
    for (size_t g = 0; g < group_count(&run); g++)
        group_plan(ctl, &run, g, key);
    /* Machines that no longer match their group's spec are replaced, rolling. */
    for (size_t g = 0; g < group_count(&run); g++)
        infra_rollout(ctl->env.client, ctl->env.recorder, &run, g);
    creation *order = NULL;
    int more = 0;
    size_t ordered = creations_plan(ctl, &run, &order, &more);
    size_t created = creations_act(ctl, &run, &mem, order, ordered, more);
    free(order);
    result = status_report(ctl, &run, &mem, created > 0 || spec_changed);
    mem.more_to_create = more;
    if (more && result.outcome == KUMO_CONTROLLER_REQUEUE)
        result = requeue(1); /* more Machines to create: next pass */
    memory_put(ctl, key, &mem);
    run_free(&run);
    return result;
}

static void map_owner_later(void *context, kumo_controller *controller,
                            const ProtobufCMessage *object)
{
    infra_ctl *ctl = context;
    const Kumo__V1alpha1__OwnerReference *owner = kumo_meta_owner(object);
    if (owner && strcmp(owner->kind, "Infra") == 0)
        kumo_controller_enqueue_after(controller, kumo_object_namespace(object), owner->name,
                                      ctl->env.status_interval_ms * 0.5);
}

/* A Connection changed (catalog, readiness): every Infra of its namespace may place anew. */
static void map_connection(void *context, kumo_controller *controller,
                           const ProtobufCMessage *connection)
{
    (void)context;
    kumo_informer *infras = kumo_controller_informer(controller);
    if (infras == NULL)
        return;
    const char *ns = kumo_object_namespace(connection);
    size_t count = 0, ns_len = strlen(ns);
    char **keys = kumo_informer_keys(infras, &count);
    for (size_t i = 0; keys && i < count; i++)
        if (keys[i] && strncmp(keys[i], ns, ns_len) == 0 && keys[i][ns_len] == '/')
            kumo_controller_enqueue(controller, ns, keys[i] + ns_len + 1);
    kumo_informer_keys_free(keys, count);
}

static void infra_ctl_free(void *context)
{
    infra_ctl *ctl = context;
    kumo_keystate_destroy(ctl->memory);
    free(ctl);
}

kumo_error infra_infra_start(const kumo_infra_env *env, kumo_infra_controller *out, kumo_diag *diag)
{
    infra_ctl *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    ctl->env = *env;
    ctl->memory = kumo_keystate_create(&memory_ops);
    out->context = ctl;
    out->context_free = infra_ctl_free;
    if (ctl->memory == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    kumo_controller_options o = {
        .name = "infra",
        .client = env->client,
        .kind = kumo_object_kind_lookup("Infra"),
        .ns = env->ns,
        .workers = 4,
        .queue = {.backoff_base_ms = 100, .backoff_max_ms = 10000},
        .reconcile = reconcile,
        .context = ctl,
        .informers = env->informers,
    };
    const infra_watch watches[] = {
        {"Connection", map_connection, &ctl->connections},
        {"Machine", map_owner_later, &ctl->machines},
        {"Network", map_owner_later, &ctl->networks},
        {"SecurityGroup", map_owner_later, &ctl->security_groups},
        {"KeyPair", map_owner_later, &ctl->key_pairs},
    };
    return infra_controller_run(&o, watches, sizeof(watches) / sizeof(watches[0]), out,
                                &ctl->controller, diag);
}
