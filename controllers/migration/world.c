/*
 * world.c - what one pass of a Migration sees: its Infra and group (the
 * source: infraRef + group, or the group an App runs on), the Apps on that
 * group, its LoadBalancer and the group's Machines, all from the shared
 * informer caches; and the checks of the inputs, each giving a reason and
 * a message that names the object and the field.
 */
#include "controllers/migration/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/runtime/meta/meta.h"

static void problem(mig_run *run, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(mig_run *run, const char *reason, const char *fmt, ...)
{
    snprintf(run->problem_reason, sizeof(run->problem_reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->problem, sizeof(run->problem), fmt, ap);
    va_end(ap);
}

/* The Infra (into infra) and group (into run->group_name) named by the source; an App
 * source: the Infra and group its target names. */
static void source_names(mig_run *run, char *infra, size_t size)
{
    const Kumo__V1alpha1__MigrationSource *s = run->spec->source;
    snprintf(infra, size, "%s", s && s->infra_ref ? s->infra_ref->name : "");
    snprintf(run->group_name, sizeof(run->group_name), "%s", s && s->group ? s->group : "");
    if (s == NULL || s->app_ref == NULL)
        return;
    Kumo__V1alpha1__App *a =
        (Kumo__V1alpha1__App *)kumo_informer_get(run->c->apps, run->ns, s->app_ref->name);
    if (a && a->spec && a->spec->infra_ref)
        snprintf(infra, size, "%s", a->spec->infra_ref->name);
    if (a && a->spec && a->spec->target && a->spec->target->group)
        snprintf(run->group_name, sizeof(run->group_name), "%s", a->spec->target->group);
    kumo_object_destroy(a ? &a->base : NULL);
}

static long index_of(const char *name, const char *infra, const char *group)
{
    size_t li = strlen(infra), lg = strlen(group);
    if (strncmp(name, infra, li) != 0 || name[li] != '-' ||
        strncmp(name + li + 1, group, lg) != 0 || name[li + 1 + lg] != '-')
        return -1;
    char *end = NULL;
    long n = strtol(name + li + lg + 2, &end, 10);
    return end && *end == '\0' ? n : -1;
}

/* 1 when every instance of the App on `machine` is ready (1 too when it has none listed). */
static int apps_ready_on(const mig_run *run, const char *machine)
{
    for (size_t a = 0; a < run->app_count; a++) {
        Kumo__V1alpha1__App *app =
            (Kumo__V1alpha1__App *)kumo_informer_get(run->c->apps, run->ns, run->apps[a]);
        int seen = 0, ready = app != NULL;
        for (size_t i = 0; app && app->status && i < app->status->n_instances; i++) {
            const Kumo__V1alpha1__AppInstance *x = app->status->instances[i];
            if (strcmp(x->machine, machine) != 0)
                continue;
            seen = 1;
            ready &= x->ready;
        }
        kumo_object_destroy(app ? &app->base : NULL);
        if (!seen || !ready)
            return 0;
    }
    return 1;
}

static void load_apps(mig_run *run)
{
    size_t count = 0, ns_len = strlen(run->ns);
    char **keys = kumo_informer_keys(run->c->apps, &count);
    for (size_t i = 0; keys && i < count && run->app_count < MIG_MAX_APPS; i++) {
        if (strncmp(keys[i], run->ns, ns_len) != 0 || keys[i][ns_len] != '/')
            continue;
        Kumo__V1alpha1__App *a =
            (Kumo__V1alpha1__App *)kumo_informer_get(run->c->apps, run->ns, keys[i] + ns_len + 1);
        const Kumo__V1alpha1__AppSpec *s = a ? a->spec : NULL;
        if (s && s->infra_ref && strcmp(s->infra_ref->name, run->infra->metadata->name) == 0 &&
            (s->target == NULL || s->target->group == NULL || s->target->group[0] == '\0' ||
             strcmp(s->target->group, run->group_name) == 0))
            snprintf(run->apps[run->app_count++], sizeof(run->apps[0]), "%s", a->metadata->name);
        kumo_object_destroy(a ? &a->base : NULL);
    }
    kumo_informer_keys_free(keys, count);
}

static int load_machines(mig_run *run)
{
    size_t count = 0;
    char **keys = kumo_informer_index_keys(run->c->machines, KUMO_INFORMER_INDEX_OWNER,
                                           run->infra->metadata->uid, &count);
    run->machines = calloc(count + 1, sizeof(*run->machines));
    if (run->machines == NULL) {
        kumo_informer_keys_free(keys, count);
        return -1;
    }
    size_t ns_len = strlen(run->ns);
    for (size_t i = 0; keys && i < count; i++) {
        if (strncmp(keys[i], run->ns, ns_len) != 0 || keys[i][ns_len] != '/')
            continue;
        Kumo__V1alpha1__Machine *mc = (Kumo__V1alpha1__Machine *)kumo_informer_get(
            run->c->machines, run->ns, keys[i] + ns_len + 1);
        const char *g = mc ? kumo_meta_label(&mc->base, "kumo.dev/group") : NULL;
        if (g && strcmp(g, run->group_name) == 0) {
            mig_machine *x = &run->machines[run->machine_count++];
            snprintf(x->name, sizeof(x->name), "%s", mc->metadata->name);
            x->index = index_of(x->name, run->infra->metadata->name, run->group_name);
            const char *l = kumo_meta_label(&mc->base, KUMO_MIGRATION_LABEL);
            x->target = l && strcmp(l, run->name) == 0;
            x->deleting = kumo_meta_deleting(&mc->base);
            x->running = mc->status &&
                         mc->status->phase == KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running &&
                         kumo_meta_condition_is(&mc->base, "Ready", "True");
            x->app_ready = x->running && apps_ready_on(run, x->name);
        }
        kumo_object_destroy(mc ? &mc->base : NULL);
    }
    kumo_informer_keys_free(keys, count);
    return 0;
}

int mig_world_load(mig_run *run)
{
    char infra[256];
    source_names(run, infra, sizeof(infra));
    const char *group = run->group_name;
    run->group = -1;
    if (infra[0])
        run->infra_object = kumo_informer_get(run->c->infras, run->ns, infra);
    run->infra = (Kumo__V1alpha1__Infra *)run->infra_object;
    for (size_t g = 0; run->infra && run->infra->spec && g < run->infra->spec->n_groups; g++)
        if (strcmp(run->infra->spec->groups[g]->name, group) == 0)
            run->group = (int)g;
    const Kumo__V1alpha1__MigrationCutover *cut = run->spec->cutover;
    if (cut && cut->load_balancer_ref)
        run->lb_object = kumo_informer_get(run->c->lbs, run->ns, cut->load_balancer_ref->name);
    run->lb = (Kumo__V1alpha1__LoadBalancer *)run->lb_object;
    if (run->infra == NULL || run->group < 0)
        return 0;
    load_apps(run);
    return load_machines(run);
}

void mig_world_free(mig_run *run)
{
    kumo_object_destroy(run->infra_object);
    kumo_object_destroy(run->lb_object);
    free(run->machines);
    run->infra_object = run->lb_object = NULL;
    run->machines = NULL;
}

int mig_world_fronts(const mig_run *run, const Kumo__V1alpha1__LoadBalancerBackend *b)
{
    for (size_t a = 0; b->app_ref && a < run->app_count; a++)
        if (strcmp(b->app_ref->name, run->apps[a]) == 0)
            return 1;
    return 0;
}

static const char *group_lock(const mig_run *run)
{
    char key[128];
    snprintf(key, sizeof(key), "%s%s", KUMO_MIGRATION_LOCK_PREFIX, run->group_name);
    return run->infra ? kumo_meta_annotation(run->infra_object, key) : NULL;
}

int mig_world_holds_group(const mig_run *run)
{
    const char *v = group_lock(run);
    return v && strcmp(v, run->name) == 0;
}

int mig_world_holds_lb(const mig_run *run)
{
    const char *v = run->lb ? kumo_meta_annotation(run->lb_object, KUMO_MIGRATION_LB_LOCK) : NULL;
    return v && strcmp(v, run->name) == 0;
}

static int check_target(mig_run *run)
{
    const Kumo__V1alpha1__MigrationTarget *t = run->spec->target;
    if (t == NULL || t->connection == NULL || t->connection[0] == '\0')
        return 0;
    ProtobufCMessage *cn = kumo_informer_get(run->c->connections, run->ns, t->connection);
    kumo_object_destroy(cn);
    if (cn != NULL)
        return 0;
    problem(run, "TargetConnectionNotFound",
            "Migration %s: spec.target.connection: Connection \"%s\" not found in namespace %s",
            run->name, t->connection, run->ns);
    return -1;
}

static int check_lb(mig_run *run)
{
    const Kumo__V1alpha1__MigrationCutover *cut = run->spec->cutover;
    if (cut == NULL || cut->load_balancer_ref == NULL)
        return 0;
    const char *name = cut->load_balancer_ref->name;
    if (run->lb == NULL) {
        problem(run, "LoadBalancerNotFound",
                "Migration %s: spec.cutover.loadBalancerRef: LoadBalancer \"%s\" not found in "
                "namespace %s",
                run->name, name, run->ns);
        return -1;
    }
    int fronts = 0;
    for (size_t i = 0; run->lb->spec && i < run->lb->spec->n_backends; i++)
        fronts |= mig_world_fronts(run, run->lb->spec->backends[i]);
    if (!fronts) {
        problem(run, "LoadBalancerNotFronting",
                "Migration %s: spec.cutover.loadBalancerRef: LoadBalancer \"%s\" has no backend "
                "with the App of group \"%s\" (%s)",
                run->name, name, run->group_name,
                run->app_count ? run->apps[0] : "no App runs there");
        return -1;
    }
    const char *holder = kumo_meta_annotation(run->lb_object, KUMO_MIGRATION_LB_LOCK);
    if (holder && strcmp(holder, run->name) != 0) {
        problem(run, "LoadBalancerBusy",
                "Migration %s: LoadBalancer \"%s\" is being changed by Migration \"%s\"; this "
                "one starts when that one ends",
                run->name, name, holder);
        return -1;
    }
    return 0;
}

int mig_world_check(mig_run *run)
{
    const Kumo__V1alpha1__MigrationSource *s = run->spec->source;
    if (run->infra == NULL) {
        problem(run, "SourceNotFound", "Migration %s: spec.source: Infra \"%s\" not found%s%s",
                run->name, s && s->infra_ref ? s->infra_ref->name : "(from the App)",
                s && s->app_ref ? " for App " : "", s && s->app_ref ? s->app_ref->name : "");
        return -1;
    }
    if (run->group < 0) {
        problem(run, "SourceNotFound",
                "Migration %s: spec.source.group: Infra \"%s\" has no group \"%s\"", run->name,
                run->infra->metadata->name, run->group_name[0] ? run->group_name : "(none named)");
        return -1;
    }
    const char *holder = group_lock(run);
    if (holder && strcmp(holder, run->name) != 0) {
        problem(run, "GroupBusy",
                "Migration %s: group \"%s\" of Infra \"%s\" is being moved by Migration \"%s\"; "
                "this one starts when that one ends",
                run->name, run->group_name, run->infra->metadata->name, holder);
        return -1;
    }
    if (check_target(run) != 0 || check_lb(run) != 0)
        return -1;
    return 0;
}

mig_counts mig_world_count(const mig_run *run)
{
    mig_counts n = {0, 0, 0, 0};
    for (size_t i = 0; i < run->machine_count; i++) {
        const mig_machine *x = &run->machines[i];
        if (x->deleting)
            continue;
        if (x->target) {
            n.target++;
            n.target_ready += x->app_ready;
        } else {
            n.source++;
        }
    }
    for (size_t i = 0; run->st && i < run->st->n_source_machines; i++)
        for (size_t k = 0; k < run->machine_count; k++)
            n.source_listed += strcmp(run->machines[k].name, run->st->source_machines[i]) == 0;
    return n;
}

const mig_machine *mig_world_next_victim(const mig_run *run)
{
    const mig_machine *best = NULL;
    for (size_t i = 0; i < run->machine_count; i++) {
        const mig_machine *x = &run->machines[i];
        if (!x->target && !x->deleting && (best == NULL || x->index > best->index))
            best = x;
    }
    return best;
}

int mig_world_backend_side(const mig_run *run, const char *backend)
{
    for (size_t i = 0; run->lb && run->lb->spec && i < run->lb->spec->n_backends; i++) {
        const Kumo__V1alpha1__LoadBalancerBackend *b = run->lb->spec->backends[i];
        if (strcmp(b->name, backend) != 0 || !mig_world_fronts(run, b))
            continue;
        size_t len = strlen(backend), suffix = strlen(MIG_TARGET_SUFFIX);
        return len > suffix && strcmp(backend + len - suffix, MIG_TARGET_SUFFIX) == 0 ? 1 : 0;
    }
    return -1;
}

mig_lb_view mig_world_lb_view(const mig_run *run)
{
    mig_lb_view v;
    memset(&v, 0, sizeof(v));
    if (run->lb == NULL || run->lb->status == NULL)
        return v;
    const Kumo__V1alpha1__LoadBalancerStatus *s = run->lb->status;
    v.applied = s->observed_generation == run->lb->metadata->generation;
    for (size_t i = 0; i < s->n_backends; i++) {
        const Kumo__V1alpha1__LoadBalancerBackendStatus *b = s->backends[i];
        int side = mig_world_backend_side(run, b->name);
        if (side < 0)
            continue;
        v.found = 1;
        if (side == 1) {
            v.target_endpoints += b->endpoints;
            v.target_healthy += b->healthy;
            v.target_errors += b->connection_errors + b->responses_5xx;
        } else {
            v.source_endpoints += b->endpoints;
            v.source_healthy += b->healthy;
            v.source_sessions += b->sessions;
        }
    }
    return v;
}

int64_t mig_world_machine_sessions(const mig_run *run, const char *name)
{
    int64_t n = 0;
    for (size_t i = 0; run->lb && run->lb->status && i < run->lb->status->n_endpoints; i++)
        if (strcmp(run->lb->status->endpoints[i]->machine, name) == 0)
            n += run->lb->status->endpoints[i]->sessions;
    return n;
}
