/*
 * status.c - a LoadBalancer's status from one reconcile: the address, one
 * endpoint per target (backend, listener, machine, address, health as the
 * data plane sees it and why not, effective weight, backup, draining,
 * counters), counters per backend (for health gates), and the conditions:
 *
 *   Ready     True/Serving when every served listener has a healthy
 *             endpoint; else False with the driver's reason, Provisioning,
 *             or NoHealthyEndpoints naming the listener
 *   Degraded  the first of: a driver problem (ConnectionNotFound,
 *             DriverUnsupported, DriverError, InvalidConfiguration, ...), a
 *             spec problem (BackendNotFound, TLSCredentialInvalid),
 *             NoHealthyEndpoints, EndpointsUnhealthy; else False/AsExpected
 *
 * Endpoints are sorted by listener and name, so an unchanged world writes
 * nothing (counters do change while traffic flows).
 */
#include "controllers/loadbalancer/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "controllers/runtime/meta/meta.h"

typedef Kumo__V1alpha1__LoadBalancerEndpoint endpoint_msg;

static int by_listener_name(const void *a, const void *b)
{
    const lb_target *x = a, *y = b;
    int c = strcmp(x->listener, y->listener);
    return c ? c : strcmp(x->name, y->name);
}

static const struct kumo_driver_lb_target_status *seen_of(const lb_run *run, const lb_target *t)
{
    for (size_t i = 0; run->seen && i < run->seen->target_count; i++) {
        const struct kumo_driver_lb_target_status *s = run->seen->targets[i];
        if (strcmp(s->listener, t->listener) == 0 && strcmp(s->name, t->name) == 0)
            return s;
    }
    return NULL;
}

static int set_strings(endpoint_msg *e, const lb_target *t, const char *message)
{
    return kumo_codec_string_set(&e->backend, t->backend) |
           kumo_codec_string_set(&e->address, t->address) |
           kumo_codec_string_set(&e->machine, t->machine) |
           kumo_codec_string_set(&e->listener, t->listener) |
           kumo_codec_string_set(&e->connection, t->connection) |
           kumo_codec_string_set(&e->target, t->name) | kumo_codec_string_set(&e->message, message);
}

/* One endpoint message for target t; NULL when out of memory. */
static endpoint_msg *endpoint_of(const lb_run *run, const lb_target *t)
{
    endpoint_msg *e = malloc(sizeof(*e));
    if (e == NULL)
        return NULL;
    kumo__v1alpha1__load_balancer_endpoint__init(e);
    const struct kumo_driver_lb_target_status *s = seen_of(run, t);
    const char *message = s == NULL ? "not in the data plane yet" : s->reason;
    if (s && s->health == KUMO_DRIVER_LB_HEALTH_UNKNOWN && !message[0])
        message = "not checked yet";
    if (set_strings(e, t, message) != KUMO_ERROR_OK) {
        kumo_codec_message_free(&e->base);
        return NULL;
    }
    e->port = t->port;
    e->healthy = s && (s->health == KUMO_DRIVER_LB_HEALTH_HEALTHY ||
                       s->health == KUMO_DRIVER_LB_HEALTH_DRAINING);
    e->weight = s ? s->weight : 0;
    e->draining = t->draining;
    e->backup = t->backup;
    if (s != NULL) {
        e->sessions = s->current_sessions;
        e->requests = s->requests;
        e->connection_errors = s->connection_errors;
        e->responses_5xx = s->responses_5xx;
        e->retries = s->retries;
        if (s->last_change_ns > 0 && (e->last_check_time = malloc(sizeof(*e->last_check_time)))) {
            kumo__v1alpha1__time__init(e->last_check_time);
            e->last_check_time->seconds = s->last_change_ns / 1000000000LL;
        }
    }
    return e;
}

/* Sums every endpoint into its backend's counters. */
static int backends_of(Kumo__V1alpha1__LoadBalancerStatus *st)
{
    for (size_t i = 0; i < st->n_endpoints; i++) {
        const endpoint_msg *e = st->endpoints[i];
        Kumo__V1alpha1__LoadBalancerBackendStatus *b = NULL;
        for (size_t j = 0; j < st->n_backends && b == NULL; j++)
            if (strcmp(st->backends[j]->name, e->backend) == 0)
                b = st->backends[j];
        if (b == NULL) {
            void *grown = realloc(st->backends, (st->n_backends + 1) * sizeof(*st->backends));
            if (grown == NULL || (b = malloc(sizeof(*b))) == NULL) {
                if (grown)
                    st->backends = grown;
                return -1;
            }
            st->backends = grown;
            kumo__v1alpha1__load_balancer_backend_status__init(b);
            st->backends[st->n_backends++] = b;
            if (kumo_codec_string_set(&b->name, e->backend) != KUMO_ERROR_OK)
                return -1;
        }
        b->endpoints++;
        b->healthy += e->healthy;
        b->sessions += e->sessions;
        b->requests += e->requests;
        b->connection_errors += e->connection_errors;
        b->responses_5xx += e->responses_5xx;
        b->retries += e->retries;
    }
    return 0;
}

/* The first listener with no healthy endpoint, or NULL. */
static const char *listener_without_health(const lb_run *run,
                                           const Kumo__V1alpha1__LoadBalancerStatus *st)
{
    for (size_t l = 0; l < run->listener_count; l++) {
        int healthy = 0;
        for (size_t i = 0; i < st->n_endpoints && !healthy; i++)
            healthy = st->endpoints[i]->healthy && !st->endpoints[i]->draining &&
                      strcmp(st->endpoints[i]->listener, run->listeners[l].name) == 0;
        if (!healthy)
            return run->listeners[l].name;
    }
    return NULL;
}

static int conditions(const lb_run *run, ProtobufCMessage *copy,
                      const Kumo__V1alpha1__LoadBalancerStatus *st, int *ready)
{
    char message[1024];
    const char *empty = listener_without_health(run, st);
    *ready = run->seen != NULL && run->listener_count > 0 && empty == NULL;
    const char *reason = run->driver_reason[0] ? run->driver_reason : "Provisioning";
    if (*ready)
        snprintf(message, sizeof(message), "%d of %d endpoints healthy at %s",
                 st->healthy_endpoints, st->total_endpoints, st->address);
    else if (run->seen != NULL && empty != NULL)
        snprintf(message, sizeof(message), "listener %s has no healthy endpoint", empty),
            reason = "NoHealthyEndpoints";
    else
        snprintf(message, sizeof(message), "%s",
                 run->driver_message[0] ? run->driver_message : "the load balancer is being made");
    int rc = kumo_object_condition_set(copy, "Ready", *ready ? "True" : "False",
                                       *ready ? "Serving" : reason, message);
    const endpoint_msg *sick = NULL;
    for (size_t i = 0; i < st->n_endpoints && sick == NULL; i++)
        if (!st->endpoints[i]->healthy)
            sick = st->endpoints[i];
    if (run->driver_reason[0])
        reason = run->driver_reason, snprintf(message, sizeof(message), "%s", run->driver_message);
    else if (run->problem_reason[0])
        reason = run->problem_reason, snprintf(message, sizeof(message), "%s", run->problem);
    else if (run->seen != NULL && empty != NULL)
        reason = "NoHealthyEndpoints",
        snprintf(message, sizeof(message), "listener %s has no healthy endpoint", empty);
    else if (sick != NULL)
        reason = "EndpointsUnhealthy",
        snprintf(message, sizeof(message), "%d of %d endpoints unhealthy; first %s (%s:%d): %s",
                 st->total_endpoints - st->healthy_endpoints, st->total_endpoints, sick->target,
                 sick->address, sick->port, sick->message);
    else
        reason = NULL;
    if (rc >= 0)
        rc = kumo_object_condition_set(copy, "Degraded", reason ? "True" : "False",
                                       reason ? reason : "AsExpected", reason ? message : "");
    return rc < 0 ? -1 : 0;
}

/* Zeroes the counters of a LoadBalancer's status. */
static void counters_zero(ProtobufCMessage *object)
{
    Kumo__V1alpha1__LoadBalancerStatus *st = ((Kumo__V1alpha1__LoadBalancer *)object)->status;
    for (size_t i = 0; st && i < st->n_endpoints; i++) {
        endpoint_msg *e = st->endpoints[i];
        e->sessions = e->requests = e->connection_errors = e->responses_5xx = e->retries = 0;
    }
    for (size_t i = 0; st && i < st->n_backends; i++) {
        Kumo__V1alpha1__LoadBalancerBackendStatus *b = st->backends[i];
        b->sessions = b->requests = b->connection_errors = b->responses_5xx = b->retries =
            b->redispatches = 0;
    }
}

int lb_status_only_counters(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    ProtobufCMessage *x = kumo_codec_message_clone(a), *y = kumo_codec_message_clone(b);
    int same = 0;
    if (x != NULL && y != NULL) {
        counters_zero(x);
        counters_zero(y);
        same = kumo_meta_status_equal(x, y);
    }
    kumo_object_destroy(x);
    kumo_object_destroy(y);
    return same;
}

ProtobufCMessage *lb_status_build(const lb_run *run, int *ready)
{
    ProtobufCMessage *copy = kumo_codec_message_clone(run->object);
    Kumo__V1alpha1__LoadBalancerStatus *st =
        copy ? (Kumo__V1alpha1__LoadBalancerStatus *)kumo_meta_status_ensure(copy) : NULL;
    if (st == NULL) {
        kumo_object_destroy(copy);
        return NULL;
    }
    for (size_t i = 0; i < st->n_endpoints; i++)
        kumo_codec_message_free(&st->endpoints[i]->base);
    for (size_t i = 0; i < st->n_backends; i++)
        kumo_codec_message_free(&st->backends[i]->base);
    st->n_endpoints = st->n_backends = 0;
    st->observed_generation = kumo_meta_generation(run->object);
    int failed = 0;
    if (run->seen != NULL)
        failed = kumo_codec_string_set(&st->address, run->seen->address) |
                 kumo_codec_string_set(&st->hostname, run->seen->hostname) |
                 kumo_codec_string_set(&st->provider_id, run->seen->provider_id);
    if (run->target_count > 1) /* qsort of no targets would get a NULL array */
        qsort(run->targets, run->target_count, sizeof(*run->targets), by_listener_name);
    void *grown = realloc(st->endpoints, (run->target_count + 1) * sizeof(*st->endpoints));
    failed |= grown == NULL;
    if (grown)
        st->endpoints = grown;
    st->healthy_endpoints = 0;
    for (size_t i = 0; !failed && i < run->target_count; i++) {
        endpoint_msg *e = endpoint_of(run, &run->targets[i]);
        failed |= e == NULL;
        if (e != NULL) {
            st->endpoints[st->n_endpoints++] = e;
            st->healthy_endpoints += e->healthy && !e->draining;
        }
    }
    st->total_endpoints = (int32_t)st->n_endpoints;
    if (failed || backends_of(st) != 0 || conditions(run, copy, st, ready) != 0) {
        kumo_object_destroy(copy);
        return NULL;
    }
    return copy;
}
