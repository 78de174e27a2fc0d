/*
 * reconcile.c - one App's reconcile.
 *
 *   1. read the App from the cache; gone: nothing to do (its finalizer made
 *      sure it was stopped everywhere first);
 *   2. deleting: send every live agent that lists the App an apply with no
 *      components; remove the finalizer once no live agent reports an
 *      instance of it (agents silent for agent_timeout_ms count as gone);
 *   3. add the finalizer before the App can run anywhere;
 *   4. targets: the namespace's Machines labelled kumo.dev/infra = the
 *      Infra, not being deleted, phase Running, narrowed by target.group or
 *      target.selector; per target the newest agent document;
 *   5. converge: machines without the App get it at once; machines running
 *      another generation are updated, in name order, while fewer than
 *      maxUnavailable target machines are unavailable (not every instance
 *      ready, or being updated) - machines already unavailable are updated
 *      at once since that costs nothing; live agents of machines that are no
 *      longer targets get an apply with no components;
 *   6. status (status.c), written only when it changed; requeue 1 s while
 *      anything is not ready or still moving, else the resync interval.
 *
 * Only this App's applies are ever sent, so one App cannot disturb another.
 */
#include "controllers/app/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "controllers/runtime/meta/meta.h"

#define BUSY_REQUEUE_MS 1000.0

int32_t app_component_replicas(const Kumo__V1alpha1__AppComponent *component)
{
    if (component->replicas_present_case !=
        KUMO__V1ALPHA1__APP_COMPONENT__REPLICAS_PRESENT_REPLICAS)
        return 1;
    return component->replicas > 0 ? component->replicas : 0;
}

static kumo_controller_result result_of(kumo_controller_outcome outcome, double after_ms)
{
    return (kumo_controller_result){outcome, after_ms};
}

/* ---- targets --------------------------------------------------------------------------- */

static int machine_is_target(const Kumo__V1alpha1__AppSpec *spec, const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__Machine *m = (const Kumo__V1alpha1__Machine *)object;
    if (kumo_meta_deleting(object) || m->status == NULL ||
        m->status->phase != KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running)
        return 0;
    const Kumo__V1alpha1__AppTarget *t = spec->target;
    if (t && t->group && t->group[0]) {
        const char *g = kumo_meta_label(object, KUMO_APP_LABEL_GROUP);
        if (g == NULL || strcmp(g, t->group) != 0)
            return 0;
    }
    return t == NULL || kumo_meta_labels_match(t->selector, object);
}

static const char *internal_ip(const Kumo__V1alpha1__Machine *m)
{
    for (size_t i = 0; m->status && i < m->status->n_addresses; i++)
        if (m->status->addresses[i]->type == KUMO__V1ALPHA1__MACHINE_ADDRESS__TYPE__InternalIP)
            return m->status->addresses[i]->address;
    return "";
}

static int by_name(const void *a, const void *b)
{
    return strcmp(kumo_object_name(*(ProtobufCMessage *const *)a),
                  kumo_object_name(*(ProtobufCMessage *const *)b));
}

/* The agent's part for this App: listed under its key with this App's uid (another uid is an
 * earlier App of the same name, which the next apply replaces). */
static const Kumo__V1alpha1__AgentAppStatus *report_of(const app_run *run,
                                                       const Kumo__V1alpha1__AgentStatus *s)
{
    const char *uid = run->app->metadata->uid;
    for (size_t i = 0; s && i < s->n_apps; i++) {
        const Kumo__V1alpha1__AgentAppStatus *a = s->apps[i];
        if (a->app && strcmp(a->app, run->key) == 0)
            return a->app_uid[0] == '\0' || strcmp(a->app_uid, uid) == 0 ? a : NULL;
    }
    return NULL;
}

/* Whether every wanted instance of the current generation is reported ready. */
static int ready_current(const app_run *run, const Kumo__V1alpha1__AgentAppStatus *r)
{
    int32_t ready = 0;
    const Kumo__V1alpha1__AppSpec *spec = run->app->spec;
    for (size_t i = 0; i < r->n_instances; i++) {
        const Kumo__V1alpha1__AgentInstance *x = r->instances[i];
        if (!x->ready || x->generation != run->generation)
            continue;
        for (size_t k = 0; k < spec->n_components; k++)
            if (strcmp(spec->components[k]->name, x->component) == 0 &&
                x->replica < app_component_replicas(spec->components[k]))
                ready++;
    }
    return ready >= run->per_machine;
}

/* Sets t->report, t->state and t->available from t->agent. */
static void classify(const app_run *run, app_target *t)
{
    const app_agent_view *v = &t->agent;
    int live = v->status && v->age_ms <= run->c->env.agent_timeout_ms;
    t->report = report_of(run, v->status); /* kept when silent: status shows the last word */
    if (!live)
        t->state = APP_MACHINE_UNREACHABLE;
    else if (t->report == NULL)
        t->state = APP_MACHINE_ABSENT;
    else if (t->report->generation != run->generation)
        t->state = APP_MACHINE_OUTDATED;
    else
        t->state = APP_MACHINE_CURRENT;
    t->available = 0;
    if (t->state == APP_MACHINE_CURRENT) {
        t->available = ready_current(run, t->report);
    } else if (t->state == APP_MACHINE_OUTDATED) {
        t->available = t->report->n_instances > 0;
        for (size_t i = 0; i < t->report->n_instances; i++)
            t->available &= t->report->instances[i]->ready;
    }
}

static void refresh(app_run *run, app_target *t)
{
    if (t->agent.status)
        kumo_codec_message_free(&t->agent.status->base);
    app_agents_view(run->c, t->uid, &t->agent);
    classify(run, t);
}

/* Loads run->machines and run->targets. 0, or -1 when out of memory. */
static int targets_load(app_run *run)
{
    kumo_app_controller *c = run->c;
    const Kumo__V1alpha1__AppSpec *spec = run->app->spec;
    const char *infra = spec->infra_ref ? spec->infra_ref->name : "";
    ProtobufCMessage *found = kumo_informer_get(c->infras, run->ns, infra);
    run->infra_found = found != NULL;
    kumo_object_destroy(found);
    char value[400];
    snprintf(value, sizeof(value), "%s=%s", KUMO_APP_LABEL_INFRA, infra);
    size_t n = 0, ns_len = strlen(run->ns);
    char **keys = kumo_informer_index_keys(c->machines, KUMO_INFORMER_INDEX_LABEL, value, &n);
    run->machines = calloc(n + 1, sizeof(*run->machines));
    if (run->machines == NULL) {
        kumo_informer_keys_free(keys, n);
        return -1;
    }
    for (size_t i = 0; keys && i < n; i++) {
        if (strncmp(keys[i], run->ns, ns_len) != 0 || keys[i][ns_len] != '/')
            continue;
        ProtobufCMessage *m = kumo_informer_get(c->machines, run->ns, keys[i] + ns_len + 1);
        if (m && machine_is_target(spec, m))
            run->machines[run->target_count++] = m;
        else
            kumo_object_destroy(m);
    }
    kumo_informer_keys_free(keys, n);
    qsort(run->machines, run->target_count, sizeof(*run->machines), by_name);
    run->targets = calloc(run->target_count + 1, sizeof(*run->targets));
    if (run->targets == NULL)
        return -1;
    for (size_t i = 0; i < run->target_count; i++) {
        app_target *t = &run->targets[i];
        const Kumo__V1alpha1__Machine *m = (const Kumo__V1alpha1__Machine *)run->machines[i];
        t->machine = m->metadata->name;
        t->uid = m->metadata->uid;
        t->address = internal_ip(m);
        app_agents_fetch(c, t->uid); /* no document yet, or a stale one: ask */
        app_agents_view(c, t->uid, &t->agent);
        classify(run, t);
    }
    return 0;
}

static void run_free(app_run *run)
{
    for (size_t i = 0; run->targets && i < run->target_count; i++)
        if (run->targets[i].agent.status)
            kumo_codec_message_free(&run->targets[i].agent.status->base);
    free(run->targets);
    for (size_t i = 0; run->machines && i < run->target_count; i++)
        kumo_object_destroy(run->machines[i]);
    free(run->machines);
    kumo_object_destroy(run->object);
}

/* ---- applies --------------------------------------------------------------------------- */

/* The AgentApply of this App (components borrowed from the spec; none when stop). */
static Kumo__V1alpha1__AgentApply apply_of(const app_run *run, int stop)
{
    Kumo__V1alpha1__AgentApply a = KUMO__V1ALPHA1__AGENT_APPLY__INIT;
    a.app = (char *)run->key;
    a.app_uid = run->app->metadata->uid;
    a.generation = run->generation;
    if (!stop && run->app->spec) {
        a.n_components = run->app->spec->n_components;
        a.components = run->app->spec->components;
    }
    return a;
}

static void apply_target(app_run *run, app_target *t, const Kumo__V1alpha1__AgentApply *apply)
{
    app_apply_result r =
        app_agents_apply(run->c, t->uid, apply, t->apply_error, sizeof(t->apply_error));
    t->applied = 1;
    t->apply_failed = r == APP_APPLY_REFUSED;
    if (r != APP_APPLY_OK)
        KUMO_LOG_WARN(APP_LOG, "apply failed", "app=%s machine=%s generation=%lld error=\"%s\"",
                      run->key, t->machine, (long long)run->generation, t->apply_error);
    else
        KUMO_LOG_DEBUG(APP_LOG, "applied", "app=%s machine=%s generation=%lld", run->key,
                       t->machine, (long long)run->generation);
    refresh(run, t);
}

/* maxUnavailable of `targets` machines: a count, or a percentage rounded down; at least 1. */
static size_t max_unavailable(const Kumo__V1alpha1__AppSpec *spec, size_t targets)
{
    const char *s = spec->rolling_update ? spec->rolling_update->max_unavailable : "";
    if (s == NULL || s[0] == '\0')
        s = "25%";
    size_t len = strlen(s), value = 0;
    int percent = len > 0 && s[len - 1] == '%';
    size_t digits = len - (size_t)percent;
    if (digits == 0 || digits > 7 || strspn(s, "0123456789") != digits)
        return 1; /* validation refuses it */
    for (size_t i = 0; i < digits; i++)
        value = value * 10 + (size_t)(s[i] - '0');
    size_t n = percent ? targets * value / 100 : value;
    return n < 1 ? 1 : n;
}

static void converge(app_run *run)
{
    Kumo__V1alpha1__AgentApply apply = apply_of(run, 0);
    size_t budget = max_unavailable(run->app->spec, run->target_count), unavailable = 0;
    for (size_t i = 0; i < run->target_count; i++)
        unavailable += !run->targets[i].available;
    /* New machines at once; machines already unavailable cost nothing to update. */
    for (size_t i = 0; i < run->target_count; i++) {
        app_target *t = &run->targets[i];
        if (t->state == APP_MACHINE_ABSENT || (t->state == APP_MACHINE_OUTDATED && !t->available))
            apply_target(run, t, &apply);
    }
    for (size_t i = 0; i < run->target_count && unavailable < budget; i++) {
        app_target *t = &run->targets[i];
        if (t->state == APP_MACHINE_OUTDATED && t->available && !t->applied) {
            unavailable++;
            KUMO_LOG_INFO(APP_LOG, "rolling update", "app=%s machine=%s generation=%lld", run->key,
                          t->machine, (long long)run->generation);
            apply_target(run, t, &apply);
        }
    }
}

static int is_target_uid(const app_run *run, const char *uid)
{
    for (size_t i = 0; i < run->target_count; i++)
        if (strcmp(run->targets[i].uid, uid) == 0)
            return 1;
    return 0;
}

/*
 * Sends an empty apply to every live agent that lists the App and is not a target (all of
 * them when deleting). Returns how many live agents still report instances of it.
 */
static size_t stop_elsewhere(app_run *run, int deleting)
{
    Kumo__V1alpha1__AgentApply stop = apply_of(run, 1);
    size_t n = 0;
    app_reporter *r = app_agents_reporting(run->c, run->key, &n);
    for (size_t i = 0; i < n; i++) {
        if (!r[i].live || (!deleting && is_target_uid(run, r[i].uid)))
            continue;
        char error[512];
        app_apply_result result = app_agents_apply(run->c, r[i].uid, &stop, error, sizeof(error));
        if (result != APP_APPLY_OK)
            KUMO_LOG_WARN(APP_LOG, "stop failed", "app=%s uid=%s error=\"%s\"", run->key, r[i].uid,
                          error);
        else
            KUMO_LOG_INFO(APP_LOG, "stopped", "app=%s uid=%s", run->key, r[i].uid);
    }
    free(r);
    r = app_agents_reporting(run->c, run->key, &n);
    size_t left = 0;
    for (size_t i = 0; r && i < n; i++)
        left += r[i].live && r[i].instances > 0 && (deleting || !is_target_uid(run, r[i].uid));
    free(r);
    return left;
}

/* ---- writes ---------------------------------------------------------------------------- */

/* Writes run->object (metadata) and adopts the result. */
static kumo_error write_object(app_run *run)
{
    ProtobufCMessage *written = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_client_update(run->c->env.client, run->object, &written, &d);
    if (e == KUMO_ERROR_OK) {
        kumo_object_destroy(run->object);
        run->object = written;
        run->app = (Kumo__V1alpha1__App *)written;
    } else if (e != KUMO_ERROR_NOT_FOUND) {
        KUMO_LOG_WARN(APP_LOG, "update failed", "app=%s error=%s message=\"%s\"", run->key,
                      kumo_error_name(e), d.message);
    }
    kumo_diag_fini(&d);
    return e;
}

static kumo_controller_result finalize(app_run *run)
{
    if (!kumo_meta_finalizer_has(run->object, KUMO_APP_FINALIZER))
        return result_of(KUMO_CONTROLLER_DONE, 0);
    /* Ask agents we have no fresh word from, so a restarted kumod does not forget them. */
    if (targets_load(run) != 0)
        return result_of(KUMO_CONTROLLER_RETRY, 0);
    if (stop_elsewhere(run, 1) > 0)
        return result_of(KUMO_CONTROLLER_REQUEUE, BUSY_REQUEUE_MS);
    if (kumo_meta_finalizer_remove(run->object, KUMO_APP_FINALIZER) < 0)
        return result_of(KUMO_CONTROLLER_RETRY, 0);
    kumo_error e = write_object(run);
    if (e == KUMO_ERROR_OK)
        KUMO_LOG_INFO(APP_LOG, "app stopped everywhere", "app=%s", run->key);
    return e == KUMO_ERROR_OK || e == KUMO_ERROR_NOT_FOUND ? result_of(KUMO_CONTROLLER_DONE, 0)
                                                           : result_of(KUMO_CONTROLLER_RETRY, 0);
}

static double jitter(double ms)
{
    return ms * kumo_controller_jitter(0.1);
}

kumo_controller_result app_reconcile(void *context, const char *ns, const char *name)
{
    kumo_app_controller *c = context;
    app_run run;
    memset(&run, 0, sizeof(run));
    run.c = c;
    run.ns = ns;
    run.name = name;
    snprintf(run.key, sizeof(run.key), "%s/%s", ns, name);
    kumo_informer *apps = kumo_controller_informer(c->controller);
    run.object = apps ? kumo_informer_get(apps, ns, name) : NULL;
    if (run.object == NULL)
        return result_of(KUMO_CONTROLLER_DONE, 0);
    run.app = (Kumo__V1alpha1__App *)run.object;
    run.generation = kumo_meta_generation(run.object);
    if (run.app->spec == NULL || run.app->metadata == NULL) {
        run_free(&run);
        return result_of(KUMO_CONTROLLER_TERMINAL, 0);
    }
    for (size_t i = 0; i < run.app->spec->n_components; i++)
        run.per_machine += app_component_replicas(run.app->spec->components[i]);

    kumo_controller_result result;
    if (kumo_meta_deleting(run.object)) {
        result = finalize(&run);
        run_free(&run);
        return result;
    }
    if (!kumo_meta_finalizer_has(run.object, KUMO_APP_FINALIZER)) {
        kumo_error e = kumo_meta_finalizer_add(run.object, KUMO_APP_FINALIZER) < 0
                           ? KUMO_ERROR_NOMEM
                           : write_object(&run);
        if (e != KUMO_ERROR_OK) {
            run_free(&run);
            return result_of(
                e == KUMO_ERROR_NOT_FOUND ? KUMO_CONTROLLER_DONE : KUMO_CONTROLLER_RETRY, 0);
        }
        run.generation = kumo_meta_generation(run.object);
    }
    if (targets_load(&run) != 0) {
        run_free(&run);
        return result_of(KUMO_CONTROLLER_RETRY, 0);
    }
    converge(&run);
    size_t elsewhere = stop_elsewhere(&run, 0);

    app_progress progress;
    ProtobufCMessage *fresh = app_status_build(&run, &progress);
    result = progress.ready && !progress.progressing && elsewhere == 0
                 ? result_of(KUMO_CONTROLLER_REQUEUE, jitter(c->env.resync_ms))
                 : result_of(KUMO_CONTROLLER_REQUEUE, BUSY_REQUEUE_MS);
    if (fresh == NULL) {
        result = result_of(KUMO_CONTROLLER_RETRY, 0);
    } else if (!kumo_meta_status_equal(fresh, run.object)) {
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_error e = kumo_client_update_status(c->env.client, fresh, NULL, &d);
        if (e == KUMO_ERROR_OK)
            kumo_recorder_conditions(c->env.recorder, run.object, fresh);
        if (e != KUMO_ERROR_OK && e != KUMO_ERROR_NOT_FOUND) {
            KUMO_LOG_WARN(APP_LOG, "status write failed", "app=%s error=%s message=\"%s\"", run.key,
                          kumo_error_name(e), d.message);
            result = result_of(KUMO_CONTROLLER_RETRY, 0);
        }
        kumo_diag_fini(&d);
    }
    kumo_object_destroy(fresh);
    run_free(&run);
    return result;
}
