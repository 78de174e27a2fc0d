/*
 * default.c - kumo_object_default: fills the defaults of docs/api-objects.md
 * §4 into an object, in place.
 *
 * Invariants: a default only ever replaces a zero value (empty string, 0,
 * the enum's Unspecified, an unset presence oneof, an absent sub-message the
 * docs default), so defaulting twice equals defaulting once; nothing that
 * was given is changed, valid or not (validation reports it). Sub-messages
 * and strings are allocated the way protobuf_c_message_unpack would, so the
 * object is still freed with kumo_object_destroy.
 */
#include "apis/object/internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/kumo/v1alpha1/migration.pb-c.h"
#include "apis/kumo/v1alpha1/network.pb-c.h"

#define DEFAULT_NAMESPACE "default"

enum {
    LB_CHECK_MILLIS = 250, /* load balancer health checks: interval and timeout */
};

/* Sets *slot to value when the enum or number is zero (macro: any enum type). */
#define DEFAULT_ZERO(slot, value)                                                                  \
    do {                                                                                           \
        if (*(slot) == 0)                                                                          \
            *(slot) = (value);                                                                     \
    } while (0)

static void default_string(default_ctx *d, char **slot, const char *value)
{
    if ((*slot == NULL || (*slot)[0] == '\0') && value != NULL && value[0] != '\0' &&
        kumo_codec_string_set(slot, value) != KUMO_ERROR_OK)
        d->nomem = 1;
}

/* The sub-message in *slot, allocated empty when absent; NULL when out of memory. */
static void *default_message(default_ctx *d, void *slot, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage **message = slot;
    if (*message == NULL) {
        *message = malloc(desc->sizeof_message);
        if (*message == NULL) {
            d->nomem = 1;
            return NULL;
        }
        desc->message_init(*message);
    }
    return *message;
}

/* ---- shared types ------------------------------------------------------------- */

static void security_rules(Kumo__V1alpha1__SecurityRule **rules, size_t count, default_ctx *d)
{
    for (size_t i = 0; i < count; i++) {
        Kumo__V1alpha1__SecurityRule *rule = rules[i];
        DEFAULT_ZERO(&rule->direction, KUMO__V1ALPHA1__SECURITY_RULE__DIRECTION__Inbound);
        DEFAULT_ZERO(&rule->protocol, KUMO__V1ALPHA1__SECURITY_RULE__PROTOCOL__TCP);
        if (rule->protocol == KUMO__V1ALPHA1__SECURITY_RULE__PROTOCOL__TCP ||
            rule->protocol == KUMO__V1ALPHA1__SECURITY_RULE__PROTOCOL__UDP)
            DEFAULT_ZERO(&rule->to_port, rule->from_port);
        default_string(d, &rule->cidr, "0.0.0.0/0");
    }
}

static void placement(Kumo__V1alpha1__PlacementRequirements *p)
{
    if (p == NULL)
        return;
    DEFAULT_ZERO(&p->preference, KUMO__V1ALPHA1__PLACEMENT_REQUIREMENTS__PREFERENCE__Balanced);
    DEFAULT_ZERO(&p->spread_connections, 1);
    for (size_t i = 0; i < p->n_user_locations; i++)
        DEFAULT_ZERO(&p->user_locations[i]->weight, 1);
}

static void health_check(Kumo__V1alpha1__HealthCheck *check, default_ctx *d)
{
    if (check == NULL)
        return;
    if (check->type == KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__HTTP)
        default_string(d, &check->path, "/");
    DEFAULT_ZERO(&check->interval_seconds, 10);
    /* 2 s, but never longer than the interval (which may be 1 s). */
    DEFAULT_ZERO(&check->timeout_seconds, check->interval_seconds > 0 && check->interval_seconds < 2
                                              ? check->interval_seconds
                                              : 2);
    DEFAULT_ZERO(&check->failure_threshold, 3);
    DEFAULT_ZERO(&check->success_threshold, 1);
}

/* ---- kinds -------------------------------------------------------------------- */

void default_connection_spec(ProtobufCMessage *message, default_ctx *d)
{
    Kumo__V1alpha1__ConnectionSpec *spec = (Kumo__V1alpha1__ConnectionSpec *)message;
    default_string(d, &spec->provider, spec->driver);
    Kumo__V1alpha1__ConnectionRateLimit *limit =
        default_message(d, &spec->rate_limit, &kumo__v1alpha1__connection_rate_limit__descriptor);
    if (limit == NULL)
        return;
    DEFAULT_ZERO(&limit->qps, 10);
    DEFAULT_ZERO(&limit->burst, 20);
    DEFAULT_ZERO(&limit->max_in_flight, 8);
}

void default_infra_spec(ProtobufCMessage *message, default_ctx *d)
{
    Kumo__V1alpha1__InfraSpec *spec = (Kumo__V1alpha1__InfraSpec *)message;
    DEFAULT_ZERO(&spec->drift_policy, KUMO__V1ALPHA1__INFRA_SPEC__DRIFT_POLICY__Recreate);
    DEFAULT_ZERO(&spec->max_unavailable, 1);
    for (size_t i = 0; i < spec->n_groups; i++) {
        Kumo__V1alpha1__NodeGroup *group = spec->groups[i];
        DEFAULT_ZERO(&group->update_policy, KUMO__V1ALPHA1__NODE_GROUP__UPDATE_POLICY__Replace);
        if (group->size_present_case == KUMO__V1ALPHA1__NODE_GROUP__SIZE_PRESENT__NOT_SET) {
            group->size_present_case = KUMO__V1ALPHA1__NODE_GROUP__SIZE_PRESENT_SIZE;
            group->size = 1;
        }
        placement(group->placement);
        security_rules(group->security_rules, group->n_security_rules, d);
    }
}

void default_machine_spec(ProtobufCMessage *message, default_ctx *d)
{
    Kumo__V1alpha1__MachineSpec *spec = (Kumo__V1alpha1__MachineSpec *)message;
    (void)d;
    DEFAULT_ZERO(&spec->drift_policy, KUMO__V1ALPHA1__MACHINE_SPEC__DRIFT_POLICY__Recreate);
}

void default_security_group_spec(ProtobufCMessage *message, default_ctx *d)
{
    Kumo__V1alpha1__SecurityGroupSpec *spec = (Kumo__V1alpha1__SecurityGroupSpec *)message;
    security_rules(spec->rules, spec->n_rules, d);
}

static void app_component(Kumo__V1alpha1__AppComponent *component, default_ctx *d)
{
    if (component->replicas_present_case ==
        KUMO__V1ALPHA1__APP_COMPONENT__REPLICAS_PRESENT__NOT_SET) {
        component->replicas_present_case = KUMO__V1ALPHA1__APP_COMPONENT__REPLICAS_PRESENT_REPLICAS;
        component->replicas = 1;
    }
    DEFAULT_ZERO(&component->restart_policy, KUMO__V1ALPHA1__APP_COMPONENT__RESTART_POLICY__Always);
    for (size_t i = 0; i < component->n_ports; i++)
        DEFAULT_ZERO(&component->ports[i]->protocol, KUMO__V1ALPHA1__APP_PORT__PROTOCOL__TCP);
    for (size_t i = 0; i < component->n_files; i++)
        default_string(d, &component->files[i]->mode, "0644");
    /* No workingDir default here: the agent picks one in its own data directory, since machines
     * of the local driver share the host's filesystem. */
    health_check(component->health_check, d);
}

void default_app_spec(ProtobufCMessage *message, default_ctx *d)
{
    Kumo__V1alpha1__AppSpec *spec = (Kumo__V1alpha1__AppSpec *)message;
    Kumo__V1alpha1__AppRollingUpdate *update =
        default_message(d, &spec->rolling_update, &kumo__v1alpha1__app_rolling_update__descriptor);
    if (update != NULL)
        default_string(d, &update->max_unavailable, "1");
    for (size_t i = 0; i < spec->n_components; i++)
        app_component(spec->components[i], d);
}

static void session_affinity(Kumo__V1alpha1__SessionAffinity *affinity, default_ctx *d)
{
    if (affinity == NULL)
        return;
    DEFAULT_ZERO(&affinity->type, KUMO__V1ALPHA1__SESSION_AFFINITY__TYPE__None);
    if (affinity->type != KUMO__V1ALPHA1__SESSION_AFFINITY__TYPE__None)
        DEFAULT_ZERO(&affinity->timeout_seconds, 10800);
    if (affinity->type == KUMO__V1ALPHA1__SESSION_AFFINITY__TYPE__Cookie)
        default_string(d, &affinity->cookie_name, "KUMO_SESSION");
}

void default_load_balancer_spec(ProtobufCMessage *message, default_ctx *d)
{
    Kumo__V1alpha1__LoadBalancerSpec *spec = (Kumo__V1alpha1__LoadBalancerSpec *)message;
    DEFAULT_ZERO(&spec->policy, KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__RoundRobin);
    for (size_t i = 0; i < spec->n_listeners; i++)
        DEFAULT_ZERO(&spec->listeners[i]->protocol,
                     KUMO__V1ALPHA1__LOAD_BALANCER_LISTENER__PROTOCOL__TCP);
    for (size_t i = 0; i < spec->n_backends; i++) {
        Kumo__V1alpha1__LoadBalancerBackend *backend = spec->backends[i];
        if (backend->weight_present_case ==
            KUMO__V1ALPHA1__LOAD_BALANCER_BACKEND__WEIGHT_PRESENT__NOT_SET) {
            backend->weight_present_case =
                KUMO__V1ALPHA1__LOAD_BALANCER_BACKEND__WEIGHT_PRESENT_WEIGHT;
            backend->weight = 1;
        }
    }
    if (spec->health_check == NULL) {
        /* Absent: a TCP check on the backend port. Given without a type: left for
         * validation to report. */
        Kumo__V1alpha1__HealthCheck *check =
            default_message(d, &spec->health_check, &kumo__v1alpha1__health_check__descriptor);
        if (check != NULL)
            check->type = KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__TCP;
    }
    /* A load balancer notices a dead endpoint in about a second: 250 ms checks. */
    Kumo__V1alpha1__HealthCheck *check = spec->health_check;
    if (check != NULL && check->interval_seconds == 0 && check->interval_millis == 0) {
        check->interval_millis = LB_CHECK_MILLIS;
        DEFAULT_ZERO(&check->timeout_millis, LB_CHECK_MILLIS);
    }
    DEFAULT_ZERO(&spec->drain_timeout_seconds, 30);
    health_check(spec->health_check, d);
    session_affinity(spec->session_affinity, d);
}

/* The one default cutover step: all traffic at once. */
static void cutover(Kumo__V1alpha1__MigrationCutover *cut, default_ctx *d)
{
    if (cut == NULL || cut->load_balancer_ref == NULL || cut->n_steps > 0)
        return;
    cut->steps = calloc(1, sizeof(*cut->steps));
    if (cut->steps == NULL ||
        default_message(d, &cut->steps[0], &kumo__v1alpha1__migration_cutover_step__descriptor) ==
            NULL) {
        free(cut->steps);
        cut->steps = NULL;
        d->nomem = 1;
        return;
    }
    cut->n_steps = 1;
    cut->steps[0]->weight = 100;
}

void default_migration_spec(ProtobufCMessage *message, default_ctx *d)
{
    Kumo__V1alpha1__MigrationSpec *spec = (Kumo__V1alpha1__MigrationSpec *)message;
    DEFAULT_ZERO(&spec->strategy, KUMO__V1ALPHA1__MIGRATION_SPEC__STRATEGY__BlueGreen);
    if (spec->rollback_on_failure_present_case ==
        KUMO__V1ALPHA1__MIGRATION_SPEC__ROLLBACK_ON_FAILURE_PRESENT__NOT_SET) {
        spec->rollback_on_failure_present_case =
            KUMO__V1ALPHA1__MIGRATION_SPEC__ROLLBACK_ON_FAILURE_PRESENT_ROLLBACK_ON_FAILURE;
        spec->rollback_on_failure = 1;
    }
    if (spec->target != NULL)
        placement(spec->target->placement);
    cutover(spec->cutover, d);
    Kumo__V1alpha1__MigrationTimeouts *timeouts =
        default_message(d, &spec->timeouts, &kumo__v1alpha1__migration_timeouts__descriptor);
    if (timeouts == NULL)
        return;
    DEFAULT_ZERO(&timeouts->provision_seconds, 900);
    DEFAULT_ZERO(&timeouts->deploy_seconds, 600);
    DEFAULT_ZERO(&timeouts->drain_seconds, 60);
    DEFAULT_ZERO(&timeouts->step_seconds, 120);
}

/* The kinds whose spec has no defaults of its own (their row says so). */
void default_none(ProtobufCMessage *message, default_ctx *d)
{
    (void)message;
    (void)d;
}

/* apiVersion, kind and namespace. */
static void type_and_meta(ProtobufCMessage *object, const kumo_object_kind *kind, default_ctx *d)
{
    default_string(d, object_field_slot(object, object_field(object, "api_version")),
                   KUMO_API_VERSION);
    default_string(d, object_field_slot(object, object_field(object, "kind")), kind->kind);
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta_ensure(object);
    if (meta == NULL)
        d->nomem = 1;
    else
        default_string(d, &meta->namespace_, DEFAULT_NAMESPACE);
}

kumo_error kumo_object_default(ProtobufCMessage *object, kumo_diag *diag)
{
    if (object == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "no object to default");
    const kumo_object_kind *kind = kumo_object_kind_of(object->descriptor);
    if (kind == NULL || kind->descriptor != object->descriptor)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "a %s is not a kumo object",
                             object->descriptor->name);
    default_ctx d = {object, 0};
    type_and_meta(object, kind, &d);
    const ProtobufCFieldDescriptor *spec_field = object_field(object, "spec");
    ProtobufCMessage *spec = spec_field ? default_message(&d, object_field_slot(object, spec_field),
                                                          spec_field->descriptor)
                                        : NULL; /* a kind without spec (Event) */
    if (spec != NULL)
        kind->defaults(spec, &d);
    if (d.nomem)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory while defaulting %s \"%s\"",
                             kind->kind, kumo_object_name(object));
    return KUMO_ERROR_OK;
}
