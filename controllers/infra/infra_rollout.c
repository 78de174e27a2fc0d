/*
 * infra_rollout.c - an Infra's changed spec reaches its existing Machines:
 * Machines made for an older spec of their group (another instance type,
 * image, user data, or the connection of an explicit group) are replaced,
 * rolling, within the Infra's maxUnavailable.
 *
 * With maxUnavailable k a group may have up to size + k Machines while it
 * rolls (the new ones are created by the scaler as if the old ones were not
 * there, up to that limit), and a running old Machine is deleted only when
 * the ready ones left would still be more than size - k, so with k = 1 a new
 * Machine is ready before an old one goes. When the new Machines cannot be
 * made (the cloud refuses: capacity, quota), an old one may go as long as
 * size - k stay ready. Old Machines that are not running (failed, booting,
 * stopped) go at once: they serve nothing. A group whose updatePolicy is
 * KeepExisting keeps them; the Infra's UpToDate condition says so. So does a
 * group held by a Migration, which replaces the Machines itself, step by step.
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

int infra_member_outdated(const infra_run *run, size_t g, const Kumo__V1alpha1__Machine *machine)
{
    const Kumo__V1alpha1__NodeGroup *group = run->infra->spec->groups[g];
    const Kumo__V1alpha1__MachineSpec *s = machine->spec;
    if (s == NULL)
        return 0;
    if (differs(s->image, group->image) || differs(s->user_data, group->user_data))
        return 1;
    /* Explicit groups name their connection and type; placed groups choose them. */
    return group->placement == NULL && (differs(s->instance_type, group->instance_type) ||
                                        differs(s->connection, group->connection));
}

/* 1 when a Migration holds group g (see KUMO_INFRA_GROUP_HOLD_PREFIX). */
static int held_by_migration(const infra_run *run, size_t g)
{
    const Kumo__V1alpha1__ObjectMeta *meta = run->infra->metadata;
    const char *group = run->infra->spec->groups[g]->name;
    size_t n = strlen(KUMO_INFRA_GROUP_HOLD_PREFIX);
    for (size_t i = 0; meta && group && i < meta->n_annotations; i++) {
        const char *key = meta->annotations[i]->key;
        if (key && strncmp(key, KUMO_INFRA_GROUP_HOLD_PREFIX, n) == 0 &&
            strcmp(key + n, group) == 0)
            return 1;
    }
    return 0;
}

static int max_unavailable(const infra_run *run)
{
    int k = run->infra->spec->max_unavailable;
    return k > 0 ? k : 1;
}

static void replace(kumo_client *client, kumo_recorder *recorder, infra_run *run,
                    const infra_group_plan *plan, infra_member *x)
{
    infra_object_delete(client, "Machine", run->ns, x->name, x->uid);
    x->deleting = 1;
    kumo_recorder_event(recorder, run->object, KUMO_RECORDER_NORMAL, "Replacing", "Delete",
                        "group %s: machine %s (%s, %s) no longer matches the group's spec; "
                        "replaced by one that does",
                        plan->spec->name, x->name, x->connection, x->instance_type);
}

void infra_rollout(kumo_client *client, kumo_recorder *recorder, infra_run *run, size_t g)
{
    infra_group_plan *plan = &run->groups[g];
    plan->create_limit = -1;
    plan->keep_existing =
        plan->spec->update_policy == KUMO__V1ALPHA1__NODE_GROUP__UPDATE_POLICY__KeepExisting ||
        held_by_migration(run, g);
    int up = 0, up_ready = 0, old = 0, old_ready = 0, surge_blocked = 0;
    for (size_t i = 0; i < run->member_count; i++) {
        infra_member *x = &run->members[i];
        if (x->group != (int)g || x->deleting)
            continue;
        if (!x->outdated) {
            up++;
            up_ready += x->running;
            surge_blocked |= x->failure != NULL;
            continue;
        }
        if (!plan->keep_existing && !x->running) {
            replace(client, recorder, run, plan, x); /* serves nothing: goes at once */
            continue;
        }
        old++;
        old_ready += x->running;
    }
    plan->up_to_date = up;
    plan->outdated = old;
    if (plan->keep_existing || old == 0)
        return;
    int k = max_unavailable(run);
    /* Ready Machines that must stay: more than size - k while new ones can be made. */
    int floor = plan->desired - k + (surge_blocked ? 0 : 1);
    int available = up_ready + old_ready;
    for (size_t i = run->member_count; i-- > 0 && available - 1 >= floor;) {
        infra_member *x = &run->members[i];
        if (x->group != (int)g || x->deleting || !x->outdated)
            continue;
        replace(client, recorder, run, plan, x);
        available--;
        old--;
    }
    plan->outdated = old;
    long limit = (long)plan->desired + k - (up + old);
    plan->create_limit = limit > 0 ? limit : 0;
}
