/*
 * infra_status.c - the Infra's status, rebuilt from one reconcile's view.
 *
 * Per group: desired, ready (Running and Ready Machines not being deleted),
 * placements (connection + instance type, count, price, why), failovers
 * (most recent first, at most 10; those under an hour old keep excluding
 * their connection) and cost. Totals over groups. Conditions:
 *   Ready        True/AllMachinesReady when every group has exactly its size,
 *                all ready; else False/MachinesNotReady (counts in the message)
 *   Progressing  True/Provisioning while machines come or go (the message names a
 *                new Connection placement waits for); False/Converged
 *   Degraded     True/NoPlacement (no candidate), InsufficientCapacity (an
 *                explicit group the cloud refuses), FailedOver (a group runs on
 *                a later candidate after a failover in the last hour),
 *                InsufficientCandidates (fewer connections than spreadConnections);
 *                else False/AsExpected
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"

static const Kumo__V1alpha1__NodeGroupStatus *old_group(const Kumo__V1alpha1__Infra *infra,
                                                        const char *name)
{
    for (size_t i = 0; infra->status && i < infra->status->n_groups; i++)
        if (strcmp(infra->status->groups[i]->name, name) == 0)
            return infra->status->groups[i];
    return NULL;
}

void infra_status_exclusions(const Kumo__V1alpha1__Infra *infra, const char *group,
                             infra_group_plan *plan)
{
    const Kumo__V1alpha1__NodeGroupStatus *old = old_group(infra, group);
    Kumo__V1alpha1__Time now;
    kumo_object_time_now(&now);
    plan->excluded_count = 0;
    for (size_t i = 0; old && i < old->n_failovers; i++) {
        const Kumo__V1alpha1__Failover *f = old->failovers[i];
        if (f->time == NULL || now.seconds - f->time->seconds > INFRA_FAILOVER_EXCLUDE_SECONDS)
            continue;
        int dup = 0;
        for (size_t k = 0; k < plan->excluded_count; k++)
            dup = dup || strcmp(plan->excluded[k], f->from_connection) == 0;
        if (dup || plan->excluded_count >= INFRA_MAX_FAILOVERS)
            continue;
        snprintf(plan->excluded[plan->excluded_count], sizeof(plan->excluded[0]), "%s",
                 f->from_connection);
        plan->excluded_list[plan->excluded_count] = plan->excluded[plan->excluded_count];
        plan->excluded_count++;
    }
    plan->excluded_list[plan->excluded_count] = NULL;
}

static int put(char **slot, const char *value)
{
    return kumo_codec_string_set(slot, value) == KUMO_ERROR_OK ? 0 : -1;
}

/* The candidate of the plan on `connection` with `type`, or NULL. */
static const kumo_placement_candidate *candidate_of(const infra_group_plan *plan,
                                                    const char *connection, const char *type)
{
    for (size_t i = 0; i < plan->candidate_count; i++)
        if (strcmp(plan->candidates[i].offer->connection, connection) == 0 &&
            strcmp(plan->candidates[i].offer->instance_type, type) == 0)
            return &plan->candidates[i];
    return NULL;
}

static Kumo__V1alpha1__PlacementDecision *placement_new(const infra_group_plan *plan,
                                                        const infra_member *x)
{
    Kumo__V1alpha1__PlacementDecision *p = malloc(sizeof(*p));
    if (p == NULL)
        return NULL;
    kumo__v1alpha1__placement_decision__init(p);
    const kumo_placement_candidate *c = candidate_of(plan, x->connection, x->instance_type);
    char reason[400];
    if (c)
        snprintf(reason, sizeof(reason), "%s", c->reason);
    else
        snprintf(reason, sizeof(reason), "existing machines (no longer the group's choice)");
    p->price_per_hour = c ? c->offer->price_per_hour : x->cost_per_hour;
    if (put(&p->connection, x->connection) || put(&p->instance_type, x->instance_type) ||
        put(&p->reason, reason)) {
        protobuf_c_message_free_unpacked(&p->base, NULL);
        return NULL;
    }
    return p;
}

static Kumo__V1alpha1__Failover *failover_new(const infra_failover *f)
{
    Kumo__V1alpha1__Failover *o = malloc(sizeof(*o));
    if (o == NULL)
        return NULL;
    kumo__v1alpha1__failover__init(o);
    if ((o->time = malloc(sizeof(*o->time))) != NULL) {
        kumo__v1alpha1__time__init(o->time);
        kumo_object_time_now(o->time);
    }
    if (o->time == NULL || put(&o->from_connection, f->from_connection) ||
        put(&o->from_instance_type, f->from_instance_type) ||
        put(&o->to_connection, f->to_connection) ||
        put(&o->to_instance_type, f->to_instance_type) || put(&o->reason, f->reason) ||
        put(&o->message, f->message)) {
        protobuf_c_message_free_unpacked(&o->base, NULL);
        return NULL;
    }
    return o;
}

/* One group's status; counts go to the totals. */
static Kumo__V1alpha1__NodeGroupStatus *
group_status(const infra_run *run, size_t g, int *active_out, int *ready_out, double *cost_out)
{
    const infra_group_plan *plan = &run->groups[g];
    Kumo__V1alpha1__NodeGroupStatus *gs = malloc(sizeof(*gs));
    if (gs == NULL)
        return NULL;
    kumo__v1alpha1__node_group_status__init(gs);
    int bad = put(&gs->name, plan->spec->name);
    gs->desired = plan->desired;
    gs->placements = calloc(run->member_count + 1, sizeof(*gs->placements));
    bad = bad || gs->placements == NULL;
    int active = 0;
    for (size_t i = 0; !bad && i < run->member_count; i++) {
        const infra_member *x = &run->members[i];
        if (x->group != (int)g || x->deleting || (x->failure && !plan->explicit_placement))
            continue;
        active++;
        gs->up_to_date += !x->outdated;
        if (x->running) {
            gs->ready++;
            gs->cost_per_hour += x->cost_per_hour;
        }
        size_t p = 0;
        while (p < gs->n_placements &&
               !(strcmp(gs->placements[p]->connection, x->connection) == 0 &&
                 strcmp(gs->placements[p]->instance_type, x->instance_type) == 0))
            p++;
        if (p == gs->n_placements) {
            if ((gs->placements[p] = placement_new(plan, x)) == NULL)
                bad = 1;
            else
                gs->n_placements++;
        }
        if (!bad)
            gs->placements[p]->count++;
    }
    /* New failovers first, then the recorded ones, at most INFRA_MAX_FAILOVERS. */
    const Kumo__V1alpha1__NodeGroupStatus *old = old_group(run->infra, plan->spec->name);
    size_t old_count = old ? old->n_failovers : 0;
    gs->failovers = calloc(INFRA_MAX_FAILOVERS + 1, sizeof(*gs->failovers));
    bad = bad || gs->failovers == NULL;
    for (size_t i = 0; !bad && i < plan->failover_count && gs->n_failovers < INFRA_MAX_FAILOVERS;
         i++) {
        if ((gs->failovers[gs->n_failovers] = failover_new(&plan->failovers[i])) == NULL)
            bad = 1;
        else
            gs->n_failovers++;
    }
    for (size_t i = 0; !bad && i < old_count && gs->n_failovers < INFRA_MAX_FAILOVERS; i++) {
        ProtobufCMessage *copy = kumo_codec_message_clone(&old->failovers[i]->base);
        if (copy == NULL)
            bad = 1;
        else
            gs->failovers[gs->n_failovers++] = (Kumo__V1alpha1__Failover *)copy;
    }
    if (bad) {
        protobuf_c_message_free_unpacked(&gs->base, NULL);
        return NULL;
    }
    *active_out = active;
    *ready_out = gs->ready;
    *cost_out = gs->cost_per_hour;
    return gs;
}

static void status_clear_groups(Kumo__V1alpha1__InfraStatus *s)
{
    for (size_t i = 0; i < s->n_groups; i++)
        protobuf_c_message_free_unpacked(&s->groups[i]->base, NULL);
    free(s->groups);
    s->groups = NULL;
    s->n_groups = 0;
}

/*
 * The roll-up of failing Machines: "2 of 4 machines failed: InvalidSpec: <message>
 * (web-a-0, web-a-1)" into `message`, the first failure's reason into `reason`. Returns how
 * many Machines (not being deleted) fail; *provisioning_out counts those not ready that do
 * not fail (still on their way).
 */
static size_t members_failed(const infra_run *run, char *reason, size_t reason_size, char *message,
                             size_t message_size, size_t *provisioning_out)
{
    size_t failed = 0, total = 0, provisioning = 0, len = 0;
    const infra_member *first = NULL;
    char names[200] = "";
    for (size_t i = 0; i < run->member_count; i++) {
        const infra_member *x = &run->members[i];
        if (x->deleting || x->group < 0)
            continue;
        total++;
        if (x->problem == NULL) {
            provisioning += !x->running;
            continue;
        }
        if (failed++ == 0)
            first = x;
        if (failed <= 3 && len < sizeof(names) - 1)
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
                                    failed > 1 ? ", " : "", x->name);
    }
    *provisioning_out = provisioning;
    if (first == NULL)
        return 0;
    snprintf(reason, reason_size, "%s", first->problem);
    snprintf(message, message_size, "%zu of %zu machines failed: %s: %.400s (%s%s)", failed, total,
             first->problem, first->problem_message, names, failed > 3 ? ", ..." : "");
    return failed;
}

/* The UpToDate condition: do the Machines match their group's spec? Returns 1 while
 * outdated Machines are being replaced. */
static int up_to_date_condition(const infra_run *run, ProtobufCMessage *object)
{
    int total = 0, outdated = 0, kept = 0;
    const char *kept_group = NULL;
    for (size_t i = 0; i < run->member_count; i++) {
        const infra_member *x = &run->members[i];
        if (x->deleting || x->group < 0)
            continue;
        total++;
        if (!x->outdated)
            continue;
        outdated++;
        if (run->groups[x->group].keep_existing && kept++ == 0)
            kept_group = run->groups[x->group].spec->name;
    }
    char message[400];
    int k = run->infra->spec->max_unavailable > 0 ? run->infra->spec->max_unavailable : 1;
    if (outdated == 0) {
        snprintf(message, sizeof(message), "%d of %d machines match their group's spec", total,
                 total);
        kumo_object_condition_set(object, "UpToDate", "True", "AllUpToDate", message);
    } else if (kept > 0) {
        snprintf(message, sizeof(message),
                 "%d of %d machines match their group's spec; group %s keeps %d machine%s of an "
                 "older spec (updatePolicy KeepExisting)",
                 total - outdated, total, kept_group, kept, kept == 1 ? "" : "s");
        kumo_object_condition_set(object, "UpToDate", "False", "OutOfDate", message);
    } else {
        snprintf(message, sizeof(message),
                 "%d of %d machines match their group's spec; replacing the others, at most %d "
                 "unavailable at a time",
                 total - outdated, total, k);
        kumo_object_condition_set(object, "UpToDate", "False", "Replacing", message);
    }
    return outdated > kept;
}

/* What the status build learnt, for the conditions. */
typedef struct rollup {
    int converged, desired, ready;
    char not_ready[600];
    char degraded_reason[64], degraded[600];
    size_t failed, provisioning;
    char failed_message[600];
} rollup;

/* The group's problem for the Degraded condition (the first one found wins). */
static void group_degraded(const infra_group_plan *plan, const Kumo__V1alpha1__NodeGroupStatus *gs,
                           rollup *r)
{
    if (r->degraded_reason[0] != '\0')
        return;
    if (plan->desired > 0 && plan->no_placement[0]) {
        snprintf(r->degraded_reason, sizeof(r->degraded_reason), "%s",
                 plan->no_placement_reason ? plan->no_placement_reason : "NoPlacement");
        snprintf(r->degraded, sizeof(r->degraded), "group %s: %s", plan->spec->name,
                 plan->no_placement);
    } else if (plan->capacity_blocked) {
        snprintf(r->degraded_reason, sizeof(r->degraded_reason), "InsufficientCapacity");
        snprintf(r->degraded, sizeof(r->degraded),
                 "group %s: the cloud refuses machines on %s and the group names its "
                 "connection explicitly, so it cannot fail over",
                 plan->spec->name, plan->spec->connection);
    } else if (plan->excluded_count > 0 && gs->n_failovers > 0) {
        const Kumo__V1alpha1__Failover *f = gs->failovers[0];
        snprintf(r->degraded_reason, sizeof(r->degraded_reason), "FailedOver");
        snprintf(r->degraded, sizeof(r->degraded), "group %s failed over from %s to %s: %s: %.300s",
                 plan->spec->name, f->from_connection,
                 f->to_connection[0] ? f->to_connection : "<no candidate left>", f->reason,
                 f->message);
    } else if (!plan->explicit_placement && plan->candidate_count < plan->spread &&
               plan->desired > 0) {
        snprintf(r->degraded_reason, sizeof(r->degraded_reason), "InsufficientCandidates");
        snprintf(r->degraded, sizeof(r->degraded),
                 "group %s: spreadConnections is %zu but only %zu connections qualify",
                 plan->spec->name, plan->spread, plan->candidate_count);
    }
}

/* Failing children win Degraded over a failover (they say why); a refused child first. */
static void children_degraded(const infra_run *run, rollup *r)
{
    char failed_reason[64] = "";
    r->failed = members_failed(run, failed_reason, sizeof(failed_reason), r->failed_message,
                               sizeof(r->failed_message), &r->provisioning);
    if (run->child_error && run->child_error->reason[0]) {
        snprintf(r->degraded_reason, sizeof(r->degraded_reason), "%s", run->child_error->reason);
        snprintf(r->degraded, sizeof(r->degraded), "%.590s", run->child_error->message);
    } else if (r->failed > 0 &&
               (r->degraded_reason[0] == '\0' || strcmp(r->degraded_reason, "FailedOver") == 0)) {
        snprintf(r->degraded_reason, sizeof(r->degraded_reason), "%s", failed_reason);
        snprintf(r->degraded, sizeof(r->degraded), "%s", r->failed_message);
    }
}

/* Ready, Progressing, Degraded (UpToDate is set already); returns converged. */
static int conditions_set(ProtobufCMessage *object, const rollup *r, int replacing)
{
    char message[1400];
    /* Ready: every group has its size ready (old machines being replaced count while they
     * serve). Progressing: until every group is at its size with machines of its spec. */
    int all_ready = r->ready >= r->desired && r->failed == 0 && (r->converged || replacing);
    int converged = r->converged && !replacing;
    snprintf(message, sizeof(message), "%d of %d machines ready%s%s%.400s", r->ready, r->desired,
             all_ready ? "" : r->not_ready, r->failed ? "; " : "",
             r->failed ? r->failed_message : "");
    if (all_ready)
        kumo_object_condition_set(object, "Ready", "True", "AllMachinesReady", message);
    else
        kumo_object_condition_set(object, "Ready", "False",
                                  r->failed ? "MachinesFailed" : "MachinesNotReady", message);
    /* Nothing on its way and something failing: it will not get there by itself. */
    int blocked = r->degraded_reason[0] && strcmp(r->degraded_reason, "FailedOver") != 0 &&
                  strcmp(r->degraded_reason, "InsufficientCandidates") != 0;
    int stalled = !converged && blocked && r->provisioning == 0;
    if (converged)
        kumo_object_condition_set(object, "Progressing", "False", "Converged",
                                  "every group is at its size");
    else
        kumo_object_condition_set(object, "Progressing", stalled ? "False" : "True",
                                  stalled     ? "Stalled"
                                  : replacing ? "Replacing"
                                              : "Provisioning",
                                  stalled ? r->degraded : message);
    if (r->degraded_reason[0])
        kumo_object_condition_set(object, "Degraded", "True", r->degraded_reason, r->degraded);
    else
        kumo_object_condition_set(object, "Degraded", "False", "AsExpected",
                                  "every group is placed as it asks");
    return converged;
}

ProtobufCMessage *infra_status_build(const infra_run *run, int *converged_out)
{
    *converged_out = 0;
    ProtobufCMessage *object = kumo_codec_message_clone(run->object);
    Kumo__V1alpha1__InfraStatus *s =
        object ? (Kumo__V1alpha1__InfraStatus *)kumo_meta_status_ensure(object) : NULL;
    if (s == NULL) {
        kumo_object_destroy(object);
        return NULL;
    }
    size_t n_groups = run->infra->spec->n_groups;
    status_clear_groups(s);
    s->groups = calloc(n_groups + 1, sizeof(*s->groups));
    if (s->groups == NULL) {
        kumo_object_destroy(object);
        return NULL;
    }
    rollup r;
    memset(&r, 0, sizeof(r));
    r.converged = 1;
    double cost = 0;
    size_t nr_len = 0;
    for (size_t g = 0; g < n_groups; g++) {
        const infra_group_plan *plan = &run->groups[g];
        int active = 0, group_ready = 0;
        double group_cost = 0;
        Kumo__V1alpha1__NodeGroupStatus *gs =
            group_status(run, g, &active, &group_ready, &group_cost);
        if (gs == NULL) {
            kumo_object_destroy(object);
            return NULL;
        }
        s->groups[s->n_groups++] = gs;
        r.desired += plan->desired;
        r.ready += group_ready;
        cost += group_cost;
        if (active != plan->desired || group_ready != plan->desired) {
            r.converged = 0;
            if (nr_len < sizeof(r.not_ready) - 1)
                nr_len += (size_t)snprintf(
                    r.not_ready + nr_len, sizeof(r.not_ready) - nr_len,
                    "; group %s: %d/%d ready%s%s%s", plan->spec->name, group_ready, plan->desired,
                    plan->settling[0] ? " (placement waits for Connection " : "", plan->settling,
                    plan->settling[0] ? " to report)" : "");
        }
        group_degraded(plan, gs, &r);
    }
    children_degraded(run, &r);
    s->desired = r.desired;
    s->ready = r.ready;
    s->cost_per_hour = cost;
    const char *currency = "USD";
    for (size_t i = 0; i < run->member_count; i++)
        if (run->members[i].currency && run->members[i].currency[0])
            currency = run->members[i].currency;
    kumo_codec_string_set(&s->currency, currency);
    s->observed_generation = run->infra->metadata->generation;
    int replacing = up_to_date_condition(run, object);
    *converged_out = conditions_set(object, &r, replacing);
    return object;
}
