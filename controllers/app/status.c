/*
 * status.c - an App's status from one reconcile: every instance on every
 * target machine (what its agent reports, with the Machine's InternalIP;
 * wanted instances it does not report are Pending, or Unknown when the agent
 * has gone silent), the counts and the conditions:
 *
 *   Ready        True/AllInstancesReady when every wanted instance is ready
 *                at the current generation; else False (NoTargets or
 *                InstancesNotReady, counting them)
 *   Progressing  True/RollingUpdate while machines run an older generation,
 *                True/Deploying while machines do not run the App yet,
 *                False/Converged otherwise
 *   Degraded     the first of InfraNotFound, NoTargets, InstanceFailed,
 *                ApplyFailed, Unhealthy, AgentUnreachable; else
 *                False/AsExpected
 *
 * Instances are sorted by machine, component and replica so that an
 * unchanged world gives byte-identical status (and no write).
 */
#include "controllers/app/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "controllers/runtime/meta/meta.h"

typedef Kumo__V1alpha1__AppInstance instance;

typedef struct counts {
    int32_t desired, ready, updated, ready_current;
} counts;

typedef struct builder {
    const app_run *run;
    instance **items;
    size_t count, cap;
    int failed; /* out of memory */
    counts n;
} builder;

static int32_t replicas_of(const app_run *run, const char *component)
{
    const Kumo__V1alpha1__AppSpec *spec = run->app->spec;
    for (size_t k = 0; k < spec->n_components; k++)
        if (strcmp(spec->components[k]->name, component) == 0)
            return app_component_replicas(spec->components[k]);
    return -1;
}

static int live(const app_run *run, const app_target *t)
{
    return t->agent.status && t->agent.age_ms <= run->c->env.agent_timeout_ms;
}

static instance *add(builder *b, const char *machine, const char *component, int32_t replica)
{
    if (b->failed)
        return NULL;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        instance **items = realloc(b->items, cap * sizeof(*items));
        if (items == NULL) {
            b->failed = 1;
            return NULL;
        }
        b->items = items;
        b->cap = cap;
    }
    instance *x = malloc(sizeof(*x));
    if (x == NULL) {
        b->failed = 1;
        return NULL;
    }
    kumo__v1alpha1__app_instance__init(x);
    b->items[b->count++] = x;
    x->replica = replica;
    if (kumo_codec_string_set(&x->machine, machine) != KUMO_ERROR_OK ||
        kumo_codec_string_set(&x->component, component) != KUMO_ERROR_OK)
        b->failed = 1;
    return x;
}

static int by_component(const void *a, const void *b)
{
    const instance *x = *(instance *const *)a, *y = *(instance *const *)b;
    int c = strcmp(x->component, y->component);
    return c ? c : (x->replica > y->replica) - (x->replica < y->replica);
}

/* The instances of one target: what its agent reports, then the wanted ones it does not. */
static void add_target(builder *b, const app_target *t)
{
    const app_run *run = b->run;
    int is_live = live(run, t);
    size_t first = b->count;
    const Kumo__V1alpha1__AgentAppStatus *r = t->report;
    for (size_t i = 0; r && i < r->n_instances; i++) {
        const Kumo__V1alpha1__AgentInstance *a = r->instances[i];
        instance *x = add(b, t->machine, a->component, a->replica);
        if (x == NULL)
            return;
        x->phase = is_live ? (Kumo__V1alpha1__AppInstance__Phase)a->phase
                           : KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Unknown;
        x->ready = is_live && a->ready;
        x->restarts = a->restarts;
        x->generation = a->generation;
        if (kumo_codec_string_set(&x->address, t->address) != KUMO_ERROR_OK ||
            kumo_codec_string_set(&x->last_error, a->last_error) != KUMO_ERROR_OK)
            b->failed = 1;
        if (a->start_time && (x->start_time = (Kumo__V1alpha1__Time *)kumo_codec_message_clone(
                                  &a->start_time->base)) == NULL)
            b->failed = 1;
        int32_t wanted = replicas_of(run, a->component);
        if (wanted < 0 || a->replica >= wanted)
            continue; /* being stopped: not counted */
        b->n.ready += x->ready;
        b->n.updated += is_live && a->generation == run->generation;
        b->n.ready_current += x->ready && a->generation == run->generation;
    }
    const Kumo__V1alpha1__AppSpec *spec = run->app->spec;
    for (size_t k = 0; k < spec->n_components; k++) {
        const Kumo__V1alpha1__AppComponent *comp = spec->components[k];
        for (int32_t rep = 0; rep < app_component_replicas(comp); rep++) {
            int reported = 0;
            for (size_t i = first; i < b->count && !reported; i++)
                reported =
                    b->items[i]->replica == rep && strcmp(b->items[i]->component, comp->name) == 0;
            if (reported)
                continue;
            instance *x = add(b, t->machine, comp->name, rep);
            if (x == NULL)
                return;
            x->phase = t->agent.status && !is_live ? KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Unknown
                                                   : KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Pending;
            if (kumo_codec_string_set(&x->address, t->address) != KUMO_ERROR_OK)
                b->failed = 1;
        }
    }
    qsort(b->items + first, b->count - first, sizeof(*b->items), by_component);
}

/* Degraded: the reason and message of the first problem, or NULL reason when none. */
static const char *degraded(const app_run *run, const builder *b, char *msg, size_t size)
{
    const Kumo__V1alpha1__AppSpec *spec = run->app->spec;
    const char *infra = spec->infra_ref ? spec->infra_ref->name : "";
    if (run->target_count == 0) {
        const Kumo__V1alpha1__AppTarget *t = spec->target;
        if (!run->infra_found) {
            snprintf(msg, size, "Infra \"%s\" not found", infra);
            return "InfraNotFound";
        }
        if (t && t->group && t->group[0])
            snprintf(msg, size, "Infra \"%s\" has no Running machines in group \"%s\"", infra,
                     t->group);
        else if (t && t->selector)
            snprintf(msg, size, "Infra \"%s\" has no Running machines matching the selector",
                     infra);
        else
            snprintf(msg, size, "Infra \"%s\" has no Running machines", infra);
        return "NoTargets";
    }
    for (size_t i = 0; i < b->count; i++) {
        const instance *x = b->items[i];
        if (x->phase == KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Failed) {
            snprintf(msg, size, "component %s on machine %s: %s", x->component, x->machine,
                     x->last_error[0] ? x->last_error : "failed");
            return "InstanceFailed";
        }
    }
    for (size_t i = 0; i < run->target_count; i++) {
        const app_target *t = &run->targets[i];
        if (t->apply_failed) {
            snprintf(msg, size, "machine %s refused generation %lld: %s", t->machine,
                     (long long)run->generation, t->apply_error);
            return "ApplyFailed";
        }
    }
    for (size_t i = 0; i < b->count; i++) {
        const instance *x = b->items[i];
        if (!x->ready && x->last_error[0] &&
            (x->phase == KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Running ||
             x->phase == KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Starting)) {
            snprintf(msg, size, "component %s on machine %s: %s", x->component, x->machine,
                     x->last_error);
            return "Unhealthy";
        }
    }
    size_t unreachable = 0;
    const app_target *first = NULL;
    double timeout = run->c->env.agent_timeout_ms;
    for (size_t i = 0; i < run->target_count; i++) {
        const app_target *t = &run->targets[i];
        int silent = t->agent.status ? t->agent.age_ms > timeout : t->agent.wanted_for_ms > timeout;
        if (silent && unreachable++ == 0)
            first = t;
    }
    if (first) {
        char more[64] = "";
        if (unreachable > 1)
            snprintf(more, sizeof(more), " (and %zu more machines)", unreachable - 1);
        if (first->agent.status)
            snprintf(msg, size, "the agent of machine %s has not reported for more than %.0f s%s",
                     first->machine, timeout / 1000.0, more);
        else
            snprintf(msg, size, "the agent of machine %s has never reported%s", first->machine,
                     more);
        return "AgentUnreachable";
    }
    return NULL;
}

static void instances_free(Kumo__V1alpha1__AppStatus *s)
{
    for (size_t i = 0; i < s->n_instances; i++)
        kumo_codec_message_free(&s->instances[i]->base);
    free(s->instances);
    s->instances = NULL;
    s->n_instances = 0;
}

ProtobufCMessage *app_status_build(const app_run *run, app_progress *progress)
{
    memset(progress, 0, sizeof(*progress));
    builder b = {.run = run};
    for (size_t i = 0; i < run->target_count && !b.failed; i++)
        add_target(&b, &run->targets[i]);
    b.n.desired = (int32_t)run->target_count * run->per_machine;
    ProtobufCMessage *fresh = b.failed ? NULL : kumo_codec_message_clone(run->object);
    Kumo__V1alpha1__AppStatus *s =
        fresh ? (Kumo__V1alpha1__AppStatus *)kumo_meta_status_ensure(fresh) : NULL;
    if (s == NULL) {
        for (size_t i = 0; i < b.count; i++)
            kumo_codec_message_free(&b.items[i]->base);
        free(b.items);
        kumo_object_destroy(fresh);
        return NULL;
    }
    instances_free(s);
    s->instances = b.items;
    s->n_instances = b.count;
    s->observed_generation = run->generation;
    s->desired = b.n.desired;
    s->ready = b.n.ready;
    s->updated = b.n.updated;

    size_t outdated = 0, absent = 0;
    for (size_t i = 0; i < run->target_count; i++) {
        outdated += run->targets[i].state == APP_MACHINE_OUTDATED;
        absent += run->targets[i].state == APP_MACHINE_ABSENT;
    }
    progress->ready = run->target_count > 0 && b.n.ready_current >= b.n.desired;
    progress->progressing = outdated + absent > 0;

    char msg[1024], why[1200];
    int bad = 0;
    if (progress->ready) {
        snprintf(msg, sizeof(msg), "%d of %d instances ready at generation %lld", b.n.ready_current,
                 b.n.desired, (long long)run->generation);
        bad |= kumo_object_condition_set(fresh, "Ready", "True", "AllInstancesReady", msg) < 0;
    }
    const char *reason = degraded(run, &b, why, sizeof(why));
    if (!progress->ready) {
        int none = run->target_count == 0;
        snprintf(msg, sizeof(msg), "%d of %d instances ready at generation %lld", b.n.ready_current,
                 b.n.desired, (long long)run->generation);
        bad |= kumo_object_condition_set(fresh, "Ready", "False",
                                         none ? "NoTargets" : "InstancesNotReady",
                                         none ? why : msg) < 0;
    }
    if (outdated > 0) {
        snprintf(msg, sizeof(msg), "%zu of %zu machines run an older generation than %lld",
                 outdated, run->target_count, (long long)run->generation);
        bad |= kumo_object_condition_set(fresh, "Progressing", "True", "RollingUpdate", msg) < 0;
    } else if (absent > 0) {
        snprintf(msg, sizeof(msg), "%zu of %zu machines do not run the app yet", absent,
                 run->target_count);
        bad |= kumo_object_condition_set(fresh, "Progressing", "True", "Deploying", msg) < 0;
    } else if (!progress->ready && reason) {
        /* Deployed everywhere yet not ready, for a reason that will not pass by itself. */
        bad |= kumo_object_condition_set(fresh, "Progressing", "False", "Stalled", why) < 0;
    } else if (!progress->ready) {
        snprintf(msg, sizeof(msg), "%d of %d instances ready at generation %lld; the others start",
                 b.n.ready_current, b.n.desired, (long long)run->generation);
        bad |= kumo_object_condition_set(fresh, "Progressing", "True", "Starting", msg) < 0;
    } else {
        snprintf(msg, sizeof(msg), "every target machine runs generation %lld",
                 (long long)run->generation);
        bad |= kumo_object_condition_set(fresh, "Progressing", "False", "Converged", msg) < 0;
    }
    if (reason)
        bad |= kumo_object_condition_set(fresh, "Degraded", "True", reason, why) < 0;
    else
        bad |= kumo_object_condition_set(fresh, "Degraded", "False", "AsExpected",
                                         "no instance failed") < 0;
    if (bad) {
        kumo_object_destroy(fresh);
        return NULL;
    }
    return fresh;
}
