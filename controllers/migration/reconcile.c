/*
 * reconcile.c - one Migration's pass. The phase in status says where it is;
 * each phase does what it needs from the current state of the objects (so a
 * pass repeated after a crash redoes nothing) and moves on when its check
 * passes:
 *
 *   Pending       inputs checked (bad input: a condition, nothing changed);
 *                 finalizer; the source machines and size recorded
 *   Provisioning  the Infra group points at the target at twice its size
 *                 (Rolling: one more; Cold: first zero, then its size) and
 *                 the target machines run
 *   Deploying     the App's instances on them are ready
 *   CuttingOver   the LoadBalancer weights move step by step behind health
 *                 gates (Rolling: machine by machine)
 *   Draining      the source drains, the group shrinks back (the old
 *                 machines go first), the LoadBalancer and Infra are left as
 *                 if the user had written the new placement
 *   RollingBack   traffic back to the source, target machines drained and
 *                 removed, the originals restored
 */
#include "controllers/migration/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "controllers/runtime/meta/meta.h"

typedef kumo_controller_result result;

static result again(const mig_run *run, double ms)
{
    (void)run;
    return (result){KUMO_CONTROLLER_REQUEUE, ms * kumo_controller_jitter(0.1)};
}

static result poll(const mig_run *run)
{
    return again(run, run->c->env.poll_ms);
}

static result retry(void)
{
    return (result){KUMO_CONTROLLER_RETRY, 0};
}

/* The outcome of an edit: written -> look again soon; failed -> retry; same -> go on (-1). */
static int edited(int r, result *out, const mig_run *run)
{
    if (r == 0)
        return 0;
    *out = r > 0 ? again(run, 100) : retry();
    return 1;
}

static const Kumo__V1alpha1__MigrationTimeouts *timeouts(const mig_run *run)
{
    static const Kumo__V1alpha1__MigrationTimeouts fallback = {
        .provision_seconds = 900, .deploy_seconds = 600, .drain_seconds = 60, .step_seconds = 120};
    return run->spec->timeouts ? run->spec->timeouts : &fallback;
}

static double step_timeout(const mig_run *run)
{
    int s = timeouts(run)->step_seconds;
    return s > 0 ? s : 120;
}

static int strategy(const mig_run *run)
{
    return run->spec->strategy ? (int)run->spec->strategy : MIG_STRATEGY(BlueGreen);
}

static int step_is(const mig_run *run, const char *prefix)
{
    const Kumo__V1alpha1__MigrationStep *s = mig_step_current(run);
    return s && strncmp(s->name, prefix, strlen(prefix)) == 0;
}

/* Fails the running step; rolls back (or stops, Failed) with reason and message. */
static void fail(mig_run *run, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(mig_run *run, const char *reason, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int rollback =
        run->spec->rollback_on_failure_present_case !=
            KUMO__V1ALPHA1__MIGRATION_SPEC__ROLLBACK_ON_FAILURE_PRESENT_ROLLBACK_ON_FAILURE ||
        run->spec->rollback_on_failure;
    mig_step_next(run, MIG_STATE(Failed), msg, rollback ? "Rollback" : NULL);
    run->st->phase = rollback ? MIG_PHASE(RollingBack) : MIG_PHASE(Failed);
    kumo_codec_string_set(&run->st->reason, reason);
    kumo_codec_string_set(&run->st->message, msg);
    if (!rollback)
        mig_time_set(&run->st->completion_time, run->now);
    KUMO_LOG_INFO(MIG_LOG, "migration failed", "migration=%s reason=%s rollback=%d message=\"%s\"",
                  run->key, reason, rollback, msg);
}

/* Ends the running step and starts `next`, unless spec.paused holds it (then 0). */
static int advance(mig_run *run, const char *message, const char *next)
{
    if (run->spec->paused) {
        mig_step_message(run, "paused: %s", message);
        return 0;
    }
    mig_step_next(run, MIG_STATE(Succeeded), message, next);
    return 1;
}

/* Machines of the group (deleting ones too) that are not the target's. */
static int sources_left(const mig_run *run)
{
    int n = 0;
    for (size_t i = 0; i < run->machine_count; i++)
        n += !run->machines[i].target;
    return n;
}

static int targets_left(const mig_run *run)
{
    int n = 0;
    for (size_t i = 0; i < run->machine_count; i++)
        n += run->machines[i].target;
    return n;
}

static int target_running(const mig_run *run)
{
    int n = 0;
    for (size_t i = 0; i < run->machine_count; i++)
        n += run->machines[i].target && !run->machines[i].deleting && run->machines[i].running;
    return n;
}

/* Adds (add 1) or removes the finalizer; the event of the write brings the next pass. */
static result finalizer_write(mig_run *run, int add)
{
    ProtobufCMessage *copy = kumo_codec_message_clone(run->object);
    int changed = copy == NULL ? -1
                  : add        ? kumo_meta_finalizer_add(copy, KUMO_MIGRATION_FINALIZER)
                               : kumo_meta_finalizer_remove(copy, KUMO_MIGRATION_FINALIZER);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e =
        changed < 0 ? KUMO_ERROR_NOMEM : kumo_client_update(run->c->env.client, copy, NULL, &d);
    kumo_diag_fini(&d);
    kumo_object_destroy(copy);
    return e == KUMO_ERROR_OK || e == KUMO_ERROR_NOT_FOUND ? (result){KUMO_CONTROLLER_DONE, 0}
                                                           : retry();
}

/* ---- Pending ------------------------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static result pending(mig_run *run)
{
    if (mig_world_check(run) != 0)
        return again(run, MIG_WAIT_MS);
    if (!kumo_meta_finalizer_has(run->object, KUMO_MIGRATION_FINALIZER))
        return finalizer_write(run, 1);
    if (run->spec->paused)
        return again(run, MIG_WAIT_MS); /* nothing changed yet: Progressing says Paused */
    Kumo__V1alpha1__MigrationStatus *st = run->st;
    const Kumo__V1alpha1__NodeGroup *g = run->infra->spec->groups[run->group];
    for (size_t i = 0; i < st->n_source_machines; i++)
        free(st->source_machines[i]);
    st->n_source_machines = 0;
    for (size_t i = 0; i < run->machine_count; i++) {
        if (run->machines[i].deleting || run->machines[i].target)
            continue;
        char **grown = realloc(st->source_machines, (st->n_source_machines + 1) * sizeof(*grown));
        if (grown == NULL || (grown[st->n_source_machines] = strdup(run->machines[i].name)) == NULL)
            return retry();
        st->source_machines = grown;
        st->n_source_machines++;
    }
    if (st->n_source_machines > 1) /* qsort may not be given NULL, even for nothing */
        qsort(st->source_machines, st->n_source_machines, sizeof(char *), by_name);
    st->source_size =
        g->size_present_case == KUMO__V1ALPHA1__NODE_GROUP__SIZE_PRESENT_SIZE ? g->size : 1;
    int s = strategy(run);
    st->cutover_steps = s == MIG_STRATEGY(Rolling) ? st->source_size
                        : s == MIG_STRATEGY(Cold) || run->spec->cutover == NULL
                            ? 0
                            : (int32_t)run->spec->cutover->n_steps;
    st->cutover_step = 0;
    kumo_codec_string_set(&st->target_group, run->group_name);
    mig_time_set(&st->start_time, run->now);
    st->phase = MIG_PHASE(Provisioning);
    mig_step_next(run, MIG_STATE(Succeeded), NULL,
                  s == MIG_STRATEGY(Cold) ? "StopSource" : "Provision");
    KUMO_LOG_INFO(MIG_LOG, "migration started", "migration=%s group=%s size=%d", run->key,
                  run->group_name, st->source_size);
    return again(run, 50);
}

/* ---- Provisioning and Deploying ---------------------------------------------------------- */

static result cold(mig_run *run)
{
    result r;
    int n = run->st->source_size;
    if (step_is(run, "StopSource")) {
        if (run->spec->paused && sources_left(run) == run->st->source_size)
            return poll(run); /* the source still serves: hold before stopping it */
        if (edited(mig_edit_infra_group(run, 0), &r, run))
            return r;
        if (sources_left(run) > 0)
            return poll(run);
        mig_step_next(run, MIG_STATE(Succeeded), "the source machines are gone", "Provision");
        return again(run, 50);
    }
    const Kumo__V1alpha1__MigrationStep *stop =
        run->st->n_steps >= 2 ? run->st->steps[run->st->n_steps - 2] : NULL;
    double down_since = stop ? mig_time_seconds(stop->start_time) : run->now;
    run->st->downtime_seconds = (double)(int64_t)((run->now - down_since) * 10) / 10;
    if (edited(mig_edit_infra_group(run, n), &r, run))
        return r;
    mig_counts c = mig_world_count(run);
    mig_step_message(run, "%d of %d target machines ready", c.target_ready, n);
    if (c.target_ready >= n) {
        run->st->phase = MIG_PHASE(Draining);
        mig_step_next(run, MIG_STATE(Succeeded), NULL, "Finalize");
        return again(run, 50);
    }
    if (!run->spec->paused &&
        mig_step_elapsed(run) > timeouts(run)->provision_seconds + timeouts(run)->deploy_seconds)
        fail(run, "ProvisionTimeout", "%d of %d target machines ready after %ds", c.target_ready, n,
             timeouts(run)->provision_seconds + timeouts(run)->deploy_seconds);
    return poll(run);
}

static result provisioning(mig_run *run)
{
    if (strategy(run) == MIG_STRATEGY(Cold))
        return cold(run);
    result r;
    int n = run->st->source_size, rolling = strategy(run) == MIG_STRATEGY(Rolling);
    if (edited(mig_edit_infra_group(run, rolling ? n + 1 : 2 * n), &r, run))
        return r;
    int want = rolling ? 1 : n, ready = target_running(run);
    char msg[128];
    snprintf(msg, sizeof(msg), "%d of %d target machines running", ready, want);
    if (ready >= want) {
        if (advance(run, msg, "Deploy"))
            run->st->phase = MIG_PHASE(Deploying);
        return again(run, 50);
    }
    mig_step_message(run, "%s", msg);
    if (!run->spec->paused && mig_step_elapsed(run) > timeouts(run)->provision_seconds)
        fail(run, "ProvisionTimeout", "%s after %ds", msg, timeouts(run)->provision_seconds);
    return poll(run);
}

static result deploying(mig_run *run)
{
    int n = run->st->source_size, rolling = strategy(run) == MIG_STRATEGY(Rolling);
    int want = rolling ? 1 : n;
    mig_counts c = mig_world_count(run);
    char msg[160];
    snprintf(msg, sizeof(msg), "the App is ready on %d of %d target machines", c.target_ready,
             want);
    if (c.target_ready >= want) {
        int lb = run->lb != NULL;
        if (advance(run, msg, !lb ? "RemoveSource" : rolling ? NULL : "Attach"))
            run->st->phase = lb ? MIG_PHASE(CuttingOver) : MIG_PHASE(Draining);
        return again(run, 50);
    }
    mig_step_message(run, "%s", msg);
    if (!run->spec->paused && mig_step_elapsed(run) > timeouts(run)->deploy_seconds)
        fail(run, "DeployTimeout", "%s after %ds", msg, timeouts(run)->deploy_seconds);
    return poll(run);
}

/* ---- CuttingOver -------------------------------------------------------------------------- */

/* The time both sides took traffic: from the first step that gave the target traffic
 * ("CutOver", Rolling: "Replace") to the 100% one (Rolling: now, while sources serve). */
static void split_time(mig_run *run, int weight)
{
    double first = 0, full = 0;
    for (size_t i = 0; i < run->st->n_steps; i++) {
        const Kumo__V1alpha1__MigrationStep *s = run->st->steps[i];
        if (strncmp(s->name, "CutOver", 7) != 0 && strncmp(s->name, "Replace", 7) != 0)
            continue;
        if (first == 0)
            first = mig_time_seconds(s->start_time);
        if (strcmp(s->name, "CutOver 100%") == 0)
            full = mig_time_seconds(s->start_time);
    }
    if (first > 0 && weight > 0)
        run->st->split_seconds =
            (double)(int64_t)(((full > 0 ? full : run->now) - first) * 10) / 10;
}

/* The health gate: every target endpoint healthy, no new errors on them since the step began. */
static int gate(mig_run *run, const mig_lb_view *v, int want_endpoints)
{
    mig_memory *mem = mig_memory_of(run->c, run->key);
    if (mem == NULL)
        return 0;
    int step = (int)run->st->n_steps - 1;
    if (mem->step != step) {
        mem->step = step;
        mem->errors = v->target_errors;
    }
    if (v->target_endpoints < want_endpoints || v->target_healthy < v->target_endpoints) {
        fail(run, "HealthGateFailed", "%d of %d target endpoints healthy at %d%% on the target",
             v->target_healthy, want_endpoints, run->st->target_weight);
        return -1;
    }
    if (v->target_errors > mem->errors) {
        fail(run, "HealthGateFailed",
             "the load balancer counted %lld new errors on the target at %d%% on the target",
             (long long)(v->target_errors - mem->errors), run->st->target_weight);
        return -1;
    }
    return 0;
}

static result attach(mig_run *run, const mig_lb_view *v)
{
    result r;
    int n = run->st->source_size;
    mig_lb_want want = {.source_weight = 100, .target_weight = 0};
    if (edited(mig_edit_lb(run, &want), &r, run))
        return r;
    mig_step_message(run, "%d of %d target endpoints healthy", v->target_healthy, n);
    if (v->applied && v->target_endpoints >= n && v->target_healthy >= v->target_endpoints) {
        char next[32];
        snprintf(next, sizeof(next), "CutOver %d%%", run->spec->cutover->steps[0]->weight);
        advance(run, "the target endpoints are healthy in the load balancer", next);
        return again(run, 50);
    }
    if (!run->spec->paused && mig_step_elapsed(run) > step_timeout(run))
        fail(run, "TargetUnhealthy", "%d of %d target endpoints healthy after %.0fs",
             v->target_healthy, n, step_timeout(run));
    return poll(run);
}

static result cut_step(mig_run *run, const mig_lb_view *v)
{
    result r;
    const Kumo__V1alpha1__MigrationCutover *cut = run->spec->cutover;
    int k =
        run->st->cutover_step < (int)cut->n_steps ? run->st->cutover_step : (int)cut->n_steps - 1;
    int w = cut->steps[k]->weight;
    mig_lb_want want = {.source_weight = 100 - w, .target_weight = w};
    if (edited(mig_edit_lb(run, &want), &r, run))
        return r;
    if (!v->applied)
        return poll(run);
    run->st->target_weight = w;
    split_time(run, w);
    if (gate(run, v, run->st->source_size) != 0)
        return again(run, 50);
    /* The weights are applied (observedGeneration) and the gate passed on that status; the
     * step is then held for its pause, watching the gate. */
    double hold = cut->steps[k]->pause_seconds;
    mig_step_message(run, "%d%% on the target, %d/%d target endpoints healthy, held %.0fs of %.0fs",
                     w, v->target_healthy, v->target_endpoints, mig_step_elapsed(run), hold);
    if (mig_step_elapsed(run) < hold)
        return poll(run);
    char done[160], next[32];
    snprintf(done, sizeof(done), "%d%% on the target held %.0fs, target healthy", w, hold);
    snprintf(next, sizeof(next), "CutOver %d%%",
             k + 1 < (int)cut->n_steps ? cut->steps[k + 1]->weight : 100);
    int last = k + 1 >= (int)cut->n_steps;
    if (advance(run, done, last ? "Drain" : next)) {
        run->st->cutover_step = k + 1;
        if (last)
            run->st->phase = MIG_PHASE(Draining);
    }
    return again(run, 50);
}

/* Rolling: one step "Replace <machine>" per source machine: one more target machine ready,
 * the source machine drained, the group back to its size (the old machine goes first). */
static result rolling(mig_run *run, const mig_lb_view *v)
{
    result r;
    int n = run->st->source_size;
    mig_counts c = mig_world_count(run);
    const Kumo__V1alpha1__MigrationStep *s = mig_step_current(run);
    if (s == NULL || strncmp(s->name, "Replace ", 8) != 0) {
        const mig_machine *victim = mig_world_next_victim(run);
        if (victim == NULL) {
            if (sources_left(run) > 0)
                return poll(run);
            run->st->phase = MIG_PHASE(Draining);
            mig_step_next(run, MIG_STATE(Succeeded), NULL, "Finalize");
            return again(run, 50);
        }
        char name[300];
        snprintf(name, sizeof(name), "Replace %s", victim->name);
        if (run->spec->paused)
            return poll(run);
        mig_step_next(run, MIG_STATE(Succeeded), NULL, name);
        return again(run, 50);
    }
    const char *victim = s->name + 8;
    const mig_machine *x = NULL;
    for (size_t i = 0; i < run->machine_count; i++)
        if (strcmp(run->machines[i].name, victim) == 0)
            x = &run->machines[i];
    int total = c.source + c.target_ready;
    run->st->target_weight = total > 0 ? c.target_ready * 100 / total : 0;
    if (c.source > 0)
        split_time(run, run->st->target_weight);
    if (x == NULL) {
        run->st->cutover_step = n - c.source;
        mig_step_next(run, MIG_STATE(Succeeded), "replaced", NULL);
        return again(run, 50);
    }
    int ready = c.target_ready >= n - c.source + 1;
    const char *drain[1] = {victim};
    mig_lb_want want = {.source_weight = ready ? c.source - 1 : c.source,
                        .target_weight = c.target_ready,
                        .drain_source = drain,
                        .drain_source_count = ready};
    if (x->deleting) {
        mig_step_message(run, "removing %s", victim);
        return poll(run);
    }
    if (!ready) {
        if (edited(mig_edit_infra_group(run, n + 1), &r, run) ||
            edited(mig_edit_lb(run, &want), &r, run))
            return r;
        mig_step_message(run, "waiting for a new target machine (%d ready)", c.target_ready);
        if (mig_step_elapsed(run) >
            timeouts(run)->provision_seconds + timeouts(run)->deploy_seconds)
            fail(run, "ProvisionTimeout", "no new target machine ready after %ds",
                 timeouts(run)->provision_seconds + timeouts(run)->deploy_seconds);
        return poll(run);
    }
    if (edited(mig_edit_lb(run, &want), &r, run))
        return r;
    if (!v->applied || v->target_healthy < c.target_ready)
        return poll(run);
    if (mig_world_machine_sessions(run, victim) > 0 &&
        mig_step_elapsed(run) < timeouts(run)->drain_seconds) {
        mig_step_message(run, "draining %s", victim);
        return poll(run);
    }
    if (edited(mig_edit_infra_group(run, n), &r, run))
        return r;
    return poll(run);
}

static result cutting_over(mig_run *run)
{
    mig_lb_view v = mig_world_lb_view(run);
    if (strategy(run) == MIG_STRATEGY(Rolling))
        return rolling(run, &v);
    if (step_is(run, "Attach"))
        return attach(run, &v);
    return cut_step(run, &v);
}

/* ---- Draining, Finalize, RollingBack ------------------------------------------------------ */

/* Releases the Infra and ends in `phase` (Completed or RolledBack). */
static result conclude(mig_run *run, mig_phase phase, const char *message)
{
    result r;
    if (edited(mig_edit_infra_finish(run), &r, run))
        return r;
    run->st->phase = phase;
    run->st->target_weight = phase == MIG_PHASE(Completed) ? 100 : 0;
    mig_time_set(&run->st->completion_time, run->now);
    mig_step_next(run, MIG_STATE(Succeeded), message, NULL);
    mig_status_counters(run);
    KUMO_LOG_INFO(MIG_LOG, "migration ended", "migration=%s phase=%s seconds=%.1f reason=%s",
                  run->key, phase == MIG_PHASE(Completed) ? "Completed" : "RolledBack",
                  run->st->duration_seconds, run->st->reason);
    return again(run, 50);
}

static result finalize(mig_run *run, const mig_lb_view *v)
{
    result r;
    int n = run->st->source_size;
    if (mig_world_holds_lb(run)) {
        mig_lb_want want = {.source_weight = 50, .target_weight = 50, .source_restored = 1};
        if (edited(mig_edit_lb(run, &want), &r, run))
            return r;
        mig_step_message(run, "%d of %d endpoints healthy under the original backends",
                         v->source_healthy, n);
        if (!v->applied || v->source_endpoints < n || v->source_healthy < v->source_endpoints)
            return poll(run);
        if (edited(mig_edit_lb_restore(run), &r, run))
            return r;
    }
    return conclude(run, MIG_PHASE(Completed), "the Infra and LoadBalancer describe the target");
}

static result draining(mig_run *run)
{
    result r;
    mig_lb_view v = mig_world_lb_view(run);
    if (step_is(run, "Drain")) {
        mig_lb_want want = {.source_weight = 0,
                            .target_weight = 100,
                            .drain_source = (const char *const *)run->st->source_machines,
                            .drain_source_count = run->st->n_source_machines};
        if (run->lb && edited(mig_edit_lb(run, &want), &r, run))
            return r;
        mig_step_message(run, "%lld sessions left on the source", (long long)v.source_sessions);
        int drained = run->lb == NULL || (v.applied && v.source_sessions == 0);
        if (!drained && mig_step_elapsed(run) < timeouts(run)->drain_seconds)
            return poll(run);
        advance(run, drained ? "the source is drained" : "drain timeout: the source was cut",
                "RemoveSource");
        return again(run, 50);
    }
    if (step_is(run, "RemoveSource")) {
        if (edited(mig_edit_infra_group(run, run->st->source_size), &r, run))
            return r;
        int left = sources_left(run);
        mig_step_message(run, "%d source machines left", left);
        if (left > 0)
            return poll(run);
        advance(run, "the source machines are gone", "Finalize");
        return again(run, 50);
    }
    return finalize(run, &v);
}

static result rolling_back(mig_run *run)
{
    result r;
    mig_lb_view v = mig_world_lb_view(run);
    run->st->target_weight = 0;
    int targets = targets_left(run);
    if (mig_world_holds_lb(run) && targets > 0) {
        mig_lb_want want = {.source_weight = 100, .target_weight = 0, .drain_targets = 1};
        if (edited(mig_edit_lb(run, &want), &r, run))
            return r;
        int64_t sessions = 0;
        for (size_t i = 0; i < run->machine_count; i++)
            if (run->machines[i].target)
                sessions += mig_world_machine_sessions(run, run->machines[i].name);
        if ((!v.applied || sessions > 0) && mig_step_elapsed(run) < timeouts(run)->drain_seconds) {
            mig_step_message(run, "draining the target (%lld sessions)", (long long)sessions);
            return poll(run);
        }
    }
    if (mig_world_holds_group(run) && edited(mig_edit_infra_restore(run), &r, run))
        return r;
    if (targets > 0) {
        mig_step_message(run, "%d target machines left", targets);
        return poll(run);
    }
    if (edited(mig_edit_lb_restore(run), &r, run))
        return r;
    return conclude(run, MIG_PHASE(RolledBack), "the source serves as before");
}

/* ---- the pass ------------------------------------------------------------------------------ */

static int terminal(mig_phase p)
{
    return p == MIG_PHASE(Completed) || p == MIG_PHASE(RolledBack);
}

static result step_phase(mig_run *run)
{
    mig_phase p = run->st->phase;
    if (kumo_meta_deleting(run->object)) {
        /* Nothing to roll back once the Infra is gone or going: its deletion removes every
         * machine, the target's with the source's. */
        int infra_gone = run->infra == NULL || kumo_meta_deleting(&run->infra->base);
        if (terminal(p) || p <= MIG_PHASE(Pending) || infra_gone) {
            run->drop_finalizer = 1;
            return (result){KUMO_CONTROLLER_DONE, 0};
        }
        if (p == MIG_PHASE(Failed)) {
            run->st->phase = MIG_PHASE(RollingBack);
            mig_step_next(run, MIG_STATE(Succeeded), NULL, "Rollback");
            if (run->st->completion_time)
                kumo_codec_message_free(&run->st->completion_time->base);
            run->st->completion_time = NULL;
            return again(run, 50);
        }
        if (p != MIG_PHASE(RollingBack)) {
            fail(run, "Deleted", "the Migration was deleted before it completed");
            return again(run, 50);
        }
    }
    if (p > MIG_PHASE(Pending) && !terminal(p) && run->infra && run->group >= 0 &&
        !mig_world_holds_group(run) && mig_world_check(run) != 0) {
        /* Another Migration took the group before our first edit: nothing of ours is there. */
        run->st->phase = MIG_PHASE(Pending);
        mig_step_next(run, MIG_STATE(Skipped), run->problem, NULL);
        return again(run, MIG_WAIT_MS);
    }
    if ((run->infra == NULL || run->group < 0) && p > MIG_PHASE(Pending) && !terminal(p)) {
        snprintf(run->problem, sizeof(run->problem), "waiting for Infra and group \"%s\"",
                 run->group_name);
        return again(run, MIG_WAIT_MS);
    }
    if (p > MIG_PHASE(Pending) && !terminal(p) && p != MIG_PHASE(Failed))
        mig_status_counters(run);
    switch (p) {
    case MIG_PHASE(PhaseUnspecified):
    case MIG_PHASE(Pending):
        return pending(run);
    case MIG_PHASE(Provisioning):
        return provisioning(run);
    case MIG_PHASE(Deploying):
        return deploying(run);
    case MIG_PHASE(CuttingOver):
        return cutting_over(run);
    case MIG_PHASE(Draining):
        return draining(run);
    case MIG_PHASE(RollingBack):
        return rolling_back(run);
    default:
        return (result){KUMO_CONTROLLER_DONE, 0};
    }
}

static result write_status(mig_run *run, result r)
{
    if (mig_status_conditions(run) != 0)
        return retry();
    run->st->observed_generation = run->m->metadata->generation;
    if (kumo_meta_status_equal(run->object, run->fresh))
        return r;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_client_update_status(run->c->env.client, run->fresh, NULL, &d);
    if (e != KUMO_ERROR_OK && e != KUMO_ERROR_NOT_FOUND)
        KUMO_LOG_INFO(MIG_LOG, "status update failed", "migration=%s error=%s message=\"%s\"",
                      run->key, kumo_error_name(e), d.message);
    kumo_diag_fini(&d);
    return e == KUMO_ERROR_OK || e == KUMO_ERROR_NOT_FOUND ? r : retry();
}

kumo_controller_result mig_reconcile(void *context, const char *ns, const char *name)
{
    kumo_migration_controller *c = context;
    mig_run run;
    memset(&run, 0, sizeof(run));
    run.c = c;
    run.ns = ns;
    run.name = name;
    run.now = mig_now();
    snprintf(run.key, sizeof(run.key), "%s/%s", ns, name);
    run.object = kumo_informer_get(kumo_controller_informer(c->controller), ns, name);
    if (run.object == NULL) {
        mig_memory_forget(c, run.key);
        return (result){KUMO_CONTROLLER_DONE, 0};
    }
    run.m = (const Kumo__V1alpha1__Migration *)run.object;
    run.spec = run.m->spec;
    run.fresh = kumo_codec_message_clone(run.object);
    run.st =
        run.fresh ? (Kumo__V1alpha1__MigrationStatus *)kumo_meta_status_ensure(run.fresh) : NULL;
    result r = retry();
    if (run.spec && run.st && mig_world_load(&run) == 0) {
        r = write_status(&run, step_phase(&run));
        if (run.drop_finalizer && r.outcome == KUMO_CONTROLLER_DONE &&
            kumo_meta_finalizer_has(run.object, KUMO_MIGRATION_FINALIZER)) {
            mig_memory_forget(c, run.key);
            r = finalizer_write(&run, 0);
        }
    }
    mig_world_free(&run);
    kumo_object_destroy(run.fresh);
    kumo_object_destroy(run.object);
    return r;
}
