/*
 * metrics.c - the apiserver's counters (docs/monitoring.md): requests by
 * verb, resource and code with their latency, and events published by
 * resource. Families are looked up once; a series lookup is lock-free and
 * allocation-free (apis/metrics), so a request pays well under a microsecond.
 */
#include <pthread.h>
#include <stdio.h>

#include "apis/metrics/metrics.h"
#include "bus/apiserver/internal.h"

static const double request_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,   0.25,   0.5,   1,    5};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static kumo_metrics_family *requests, *latency, *events;

static void families_get(void)
{
    kumo_metrics_spec r = {.name = "kumo_apiserver_requests_total",
                           .help = "API requests served, by verb, resource and code.",
                           .type = KUMO_METRICS_COUNTER,
                           .labels = {"verb", "resource", "code"}};
    kumo_metrics_spec l = {.name = "kumo_apiserver_request_duration_seconds",
                           .help = "Time from taking an API request to sending its reply.",
                           .type = KUMO_METRICS_HISTOGRAM,
                           .labels = {"verb", "resource"},
                           .buckets = request_buckets,
                           .bucket_count = sizeof(request_buckets) / sizeof(double)};
    requests = kumo_metrics_family_get(&r);
    latency = kumo_metrics_family_get(&l);
    kumo_metrics_spec e = {.name = "kumo_apiserver_events_published_total",
                           .help = "Change events published, by resource.",
                           .type = KUMO_METRICS_COUNTER,
                           .labels = {"resource"}};
    events = kumo_metrics_family_get(&e);
}

void apiserver_metrics_request(kumo_protocol_verb verb, const kumo_object_kind *kind, int code,
                               double seconds)
{
    pthread_once(&once, families_get);
    char code_text[16];
    snprintf(code_text, sizeof(code_text), "%d", code);
    const char *v = verb < KUMO_PROTOCOL_VERB_COUNT_ ? kumo_protocol_verb_token(verb) : "unknown";
    const char *resource = kind ? kumo_protocol_resource(kind) : "";
    kumo_metrics_count(requests, (const char *[]){v, resource, code_text}, 1);
    kumo_metrics_record(latency, (const char *[]){v, resource}, seconds);
}

void apiserver_metrics_event(const kumo_object_kind *kind)
{
    pthread_once(&once, families_get);
    kumo_metrics_count(events, (const char *[]){kumo_protocol_resource(kind)}, 1);
}
