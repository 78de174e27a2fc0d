/*
 * describe_migration.c - the Migration-specific section of `kumoctl describe
 * migration`: progress, the traffic counters, and one line per step with
 * its state, start (UTC), duration and message.
 */
#include "cmd/kumoctl/remote.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/migration.pb-c.h"

static const char *state_word(Kumo__V1alpha1__MigrationStep__State s)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &kumo__v1alpha1__migration_step__state__descriptor, (int)s);
    return v ? v->name : "-";
}

static void clock_of(const Kumo__V1alpha1__Time *t, char *buf, size_t size)
{
    if (t == NULL) {
        snprintf(buf, size, "-");
        return;
    }
    time_t seconds = (time_t)t->seconds;
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(buf, size, "%H:%M:%S", &tm);
}

void kumoctl_describe_migration(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__MigrationStatus *s = ((const Kumo__V1alpha1__Migration *)object)->status;
    if (s == NULL)
        return;
    printf("Progress:         step %d of %d, %d%% of traffic on the target\n", s->cutover_step,
           s->cutover_steps, s->target_weight);
    printf("Traffic:          %lld requests served, %lld failed (load balancer counters)\n",
           (long long)s->requests_served, (long long)s->requests_failed);
    printf("Durations:        %.1fs in all, %.1fs split, %.1fs down\n", s->duration_seconds,
           s->split_seconds, s->downtime_seconds);
    printf("Steps:\n");
    if (s->n_steps == 0)
        printf("  <none>\n");
    for (size_t i = 0; i < s->n_steps; i++) {
        const Kumo__V1alpha1__MigrationStep *step = s->steps[i];
        if (i == 0)
            printf("  %-28s %-10s %-9s %-8s %s\n", "STEP", "STATE", "STARTED", "TOOK", "MESSAGE");
        char started[16], took[24] = "-";
        clock_of(step->start_time, started, sizeof(started));
        if (step->start_time && step->completion_time)
            snprintf(took, sizeof(took), "%.1fs",
                     (double)(step->completion_time->seconds - step->start_time->seconds) +
                         (double)(step->completion_time->nanos - step->start_time->nanos) / 1e9);
        printf("  %-28s %-10s %-9s %-8s %s\n", step->name, state_word(step->state), started, took,
               step->message);
    }
}
