/*
 * steps.c - a Migration's status: the step list (one entry per step with
 * start, end and message), the load balancer's counters added up over the
 * migration, and the conditions Ready, Progressing and Degraded.
 */
#include "controllers/migration/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"

double mig_time_seconds(const Kumo__V1alpha1__Time *t)
{
    return t ? (double)t->seconds + (double)t->nanos / 1e9 : 0;
}

void mig_time_set(Kumo__V1alpha1__Time **slot, double seconds)
{
    if (*slot == NULL) {
        if ((*slot = malloc(sizeof(**slot))) == NULL)
            return;
        kumo__v1alpha1__time__init(*slot);
    }
    (*slot)->seconds = (int64_t)floor(seconds);
    (*slot)->nanos = (int32_t)((seconds - floor(seconds)) * 1e9);
}

Kumo__V1alpha1__MigrationStep *mig_step_current(const mig_run *run)
{
    if (run->st == NULL || run->st->n_steps == 0)
        return NULL;
    Kumo__V1alpha1__MigrationStep *s = run->st->steps[run->st->n_steps - 1];
    return s->state == MIG_STATE(Running) ? s : NULL;
}

double mig_step_elapsed(const mig_run *run)
{
    const Kumo__V1alpha1__MigrationStep *s = mig_step_current(run);
    return s ? run->now - mig_time_seconds(s->start_time) : 0;
}

int mig_step_next(mig_run *run, Kumo__V1alpha1__MigrationStep__State state, const char *message,
                  const char *name)
{
    Kumo__V1alpha1__MigrationStep *s = mig_step_current(run);
    if (s) {
        s->state = state;
        mig_time_set(&s->completion_time, run->now);
        if (message && kumo_codec_string_set(&s->message, message) != KUMO_ERROR_OK)
            return -1;
    }
    if (name == NULL)
        return 0;
    Kumo__V1alpha1__MigrationStep **grown =
        realloc(run->st->steps, (run->st->n_steps + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    run->st->steps = grown;
    if ((s = malloc(sizeof(*s))) == NULL)
        return -1;
    kumo__v1alpha1__migration_step__init(s);
    s->state = MIG_STATE(Running);
    mig_time_set(&s->start_time, run->now);
    if (kumo_codec_string_set(&s->name, name) != KUMO_ERROR_OK) {
        free(s);
        return -1;
    }
    grown[run->st->n_steps++] = s;
    return 0;
}

int mig_step_message(mig_run *run, const char *fmt, ...)
{
    Kumo__V1alpha1__MigrationStep *s = mig_step_current(run);
    if (s == NULL)
        return 0;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return kumo_codec_string_set(&s->message, text) == KUMO_ERROR_OK ? 0 : -1;
}

/* What a counter grew by since `before` (a counter that went down restarted from 0). */
static int64_t growth(int64_t before, int64_t now)
{
    return now >= before ? now - before : now;
}

void mig_status_counters(mig_run *run)
{
    mig_memory *mem = mig_memory_of(run->c, run->key);
    const Kumo__V1alpha1__LoadBalancerStatus *s = run->lb ? run->lb->status : NULL;
    for (size_t i = 0; mem && s && i < s->n_endpoints; i++) {
        const Kumo__V1alpha1__LoadBalancerEndpoint *e = s->endpoints[i];
        if (mig_world_backend_side(run, e->backend) < 0)
            continue;
        char key[400];
        snprintf(key, sizeof(key), "%s/%s", e->listener, e->target);
        mig_seen *seen = kumo_map_get(mem->seen, key);
        if (seen == NULL) {
            if ((seen = calloc(1, sizeof(*seen))) == NULL ||
                kumo_map_put(mem->seen, key, seen, NULL) != 0) {
                free(seen);
                continue;
            }
            if (!mem->counting) { /* the first look: a baseline */
                seen->requests = e->requests;
                seen->failed = e->responses_5xx;
            }
        }
        run->st->requests_served += growth(seen->requests, e->requests);
        run->st->requests_failed += growth(seen->failed, e->responses_5xx);
        seen->requests = e->requests;
        seen->failed = e->responses_5xx;
    }
    if (mem && s)
        mem->counting = 1;
    double start = mig_time_seconds(run->st->start_time);
    double end = run->st->completion_time ? mig_time_seconds(run->st->completion_time) : run->now;
    /* Whole seconds while it runs (a status write per second at most), tenths at the end. */
    if (start > 0)
        run->st->duration_seconds =
            run->st->completion_time ? round((end - start) * 10) / 10 : floor(end - start);
}

static const char *phase_name(mig_phase p)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &kumo__v1alpha1__migration_status__phase__descriptor, (int)p);
    return v ? v->name : "Pending";
}

static int set3(mig_run *run, const char *ready, const char *ready_reason, const char *progressing,
                const char *progressing_reason, const char *degraded, const char *degraded_reason,
                const char *message)
{
    const char *ok = "no problem";
    int bad = kumo_object_condition_set(run->fresh, "Ready", ready, ready_reason, message) < 0;
    bad |= kumo_object_condition_set(run->fresh, "Progressing", progressing, progressing_reason,
                                     message) < 0;
    bad |= kumo_object_condition_set(run->fresh, "Degraded", degraded, degraded_reason,
                                     strcmp(degraded, "True") == 0 ? message : ok) < 0;
    return bad ? -1 : 0;
}

int mig_status_conditions(mig_run *run)
{
    Kumo__V1alpha1__MigrationStatus *st = run->st;
    char msg[1024];
    const Kumo__V1alpha1__MigrationStep *step = mig_step_current(run);
    switch (st->phase) {
    case MIG_PHASE(Completed):
        snprintf(msg, sizeof(msg), "moved in %.1fs; %lld requests served, %lld failed",
                 st->duration_seconds, (long long)st->requests_served,
                 (long long)st->requests_failed);
        return set3(run, "True", "Completed", "False", "Completed", "False", "AsExpected", msg);
    case MIG_PHASE(RolledBack):
    case MIG_PHASE(Failed):
        snprintf(msg, sizeof(msg), "%s: %s", phase_name(st->phase), st->message);
        return set3(run, "False", phase_name(st->phase), "False", phase_name(st->phase), "True",
                    st->reason[0] ? st->reason : "Failed", msg);
    case MIG_PHASE(RollingBack):
        snprintf(msg, sizeof(msg), "rolling back: %s", st->message);
        return set3(run, "False", "RollingBack", "True", "RollingBack", "True",
                    st->reason[0] ? st->reason : "Failed", msg);
    default:
        break;
    }
    if (run->problem_reason[0] && st->phase <= MIG_PHASE(Pending))
        return set3(run, "False", run->problem_reason, "False", run->problem_reason, "True",
                    run->problem_reason, run->problem);
    if (st->phase <= MIG_PHASE(Pending))
        return set3(run, "False", "Pending", "False", run->spec->paused ? "Paused" : "Pending",
                    "False", "AsExpected",
                    run->spec->paused ? "paused before it started: nothing changed yet"
                                      : "about to start");
    snprintf(msg, sizeof(msg), "%s%s%s, step %d of %d, %d%% of traffic on the target%s%s",
             phase_name(st->phase), step ? ": " : "", step ? step->name : "", st->cutover_step,
             st->cutover_steps, st->target_weight, run->problem[0] ? "; " : "", run->problem);
    int paused = run->spec->paused;
    return set3(run, "False", "InProgress", "True", paused ? "Paused" : phase_name(st->phase),
                "False", "AsExpected", msg);
}
