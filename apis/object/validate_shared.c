/*
 * validate_shared.c - rules of the types several kinds share (common.proto):
 * security rules, health checks, label selectors, root disks, placement
 * requirements and user locations, and the "explicit connection or
 * placement" choice of node groups and migration targets.
 *
 * docs/api-objects.md §2 is the reference; each function follows its table.
 */
#include "apis/object/validate.h"

#include <float.h>
#include <stdint.h>

#define SR_PROTOCOL(name) KUMO__V1ALPHA1__SECURITY_RULE__PROTOCOL__##name
#define HC_TYPE(name)     KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__##name
#define SELECTOR_OP(name) KUMO__V1ALPHA1__LABEL_SELECTOR_REQUIREMENT__OPERATOR__##name

enum {
    HEALTH_DEFAULT_INTERVAL = 10,
    USER_LOCATIONS_MAX = 32,
    SECURITY_RULES_MAX = 100,
};

/* ---- SecurityRule ---------------------------------------------------------- */

static void security_rule(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__SecurityRule *rule = item;
    (void)context;
    int protocol = rule->protocol ? (int)rule->protocol : SR_PROTOCOL(TCP);
    if (protocol == SR_PROTOCOL(TCP) || protocol == SR_PROTOCOL(UDP)) {
        rule_port(v, "fromPort", rule->from_port, 0);
        if (rule->to_port != 0 && rule->to_port < rule->from_port)
            rule_invalid_int(v, "toPort", rule->to_port,
                             "must be greater than or equal to fromPort (%d)", rule->from_port);
        else
            rule_int_range_or_zero(v, "toPort", rule->to_port, 1, 65535);
    } else {
        rule_int_zero(v, "fromPort", rule->from_port, "for TCP and UDP rules");
        rule_int_zero(v, "toPort", rule->to_port, "for TCP and UDP rules");
    }
    rule_ipv4_net net;
    rule_cidr(v, "cidr", rule->cidr, 0, 32, &net);
    rule_max_bytes(v, "description", rule->description, 255);
}

void rule_security_rules(rule_ctx *v, const char *field, Kumo__V1alpha1__SecurityRule *const *rules,
                         size_t count)
{
    rule_max_items(v, field, count, SECURITY_RULES_MAX);
    rule_each(v, field, (const void *const *)rules, count, security_rule, NULL);
}

/* ---- HealthCheck ----------------------------------------------------------- */

void rule_argv(rule_ctx *v, const char *field, char *const *argv, size_t count)
{
    if (count == 0) {
        rule_required(v, field, NULL);
    } else if (rule_empty(argv[0])) {
        size_t mark = rule_enter_index(v, field, 0);
        rule_required(v, NULL, "the program to run");
        rule_leave(v, mark);
    }
}

void rule_health_check(rule_ctx *v, const char *field, const Kumo__V1alpha1__HealthCheck *check,
                       rule_health_use use)
{
    static const int loadbalancer_types[] = {HC_TYPE(HTTP), HC_TYPE(TCP)};
    if (check == NULL)
        return;
    size_t mark = rule_enter(v, field);
    int type = check->type;
    if (type == HC_TYPE(TypeUnspecified))
        rule_required(v, "type", NULL);
    else if (use == RULE_HEALTH_LOADBALANCER && type == HC_TYPE(Command))
        rule_unsupported_enum(v, "type", &kumo__v1alpha1__health_check__type__descriptor, type,
                              loadbalancer_types, 2);

    if (type != HC_TYPE(HTTP))
        rule_forbid_string(v, "path", check->path, "for HTTP checks");
    else if (!rule_empty(check->path) && check->path[0] != '/')
        rule_invalid_string(v, "path", check->path, "must start with '/'");

    if (type == HC_TYPE(Command)) {
        rule_int_zero(v, "port", check->port, "for HTTP and TCP checks");
        rule_argv(v, "command", check->command, check->n_command);
    } else {
        int port_optional = use == RULE_HEALTH_LOADBALANCER || type == HC_TYPE(TypeUnspecified);
        rule_port(v, "port", check->port, port_optional);
        if (check->n_command > 0)
            rule_forbidden(v, "command", "may only be set for Command checks");
    }

    int interval = check->interval_seconds ? check->interval_seconds : HEALTH_DEFAULT_INTERVAL;
    rule_int_range_or_zero(v, "intervalSeconds", check->interval_seconds, 1, 3600);
    if (check->timeout_seconds > interval && interval >= 1)
        rule_invalid_int(v, "timeoutSeconds", check->timeout_seconds,
                         "must be less than or equal to intervalSeconds (%d)", interval);
    else
        rule_int_range_or_zero(v, "timeoutSeconds", check->timeout_seconds, 1, 3600);
    rule_int_range_or_zero(v, "failureThreshold", check->failure_threshold, 1, 100);
    rule_int_range_or_zero(v, "successThreshold", check->success_threshold, 1, 100);
    rule_int_range(v, "initialDelaySeconds", check->initial_delay_seconds, 0, 3600);
    rule_int_range_or_zero(v, "intervalMillis", check->interval_millis, 50, 3600000);
    int interval_ms = check->interval_millis ? check->interval_millis : interval * 1000;
    if (check->timeout_millis > interval_ms && interval_ms >= 50)
        rule_invalid_int(v, "timeoutMillis", check->timeout_millis,
                         "must be less than or equal to the interval (%d ms)", interval_ms);
    else
        rule_int_range_or_zero(v, "timeoutMillis", check->timeout_millis, 10, 3600000);
    rule_leave(v, mark);
}

/* ---- LabelSelector --------------------------------------------------------- */

static void selector_requirement(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__LabelSelectorRequirement *req = item;
    (void)context;
    if (rule_require_string(v, "key", req->key)) {
        const char *error = rule_qualified_name_error(req->key);
        if (error != NULL)
            rule_invalid_string(v, "key", req->key, "%s", error);
    }
    int op = req->operator_;
    if (op == SELECTOR_OP(OperatorUnspecified))
        rule_required(v, "operator", NULL);
    else if ((op == SELECTOR_OP(In) || op == SELECTOR_OP(NotIn)) && req->n_values == 0)
        rule_required(v, "values", "for operators In and NotIn");
    else if ((op == SELECTOR_OP(Exists) || op == SELECTOR_OP(DoesNotExist)) && req->n_values > 0)
        rule_forbidden(v, "values", "may not be set when operator is Exists or DoesNotExist");
    for (size_t i = 0; i < req->n_values; i++) {
        const char *error = rule_label_value_error(req->values[i]);
        if (error != NULL) {
            size_t mark = rule_enter_index(v, "values", i);
            rule_invalid_string(v, NULL, req->values[i], "%s", error);
            rule_leave(v, mark);
        }
    }
}

void rule_label_selector(rule_ctx *v, const char *field,
                         const Kumo__V1alpha1__LabelSelector *selector)
{
    if (selector == NULL)
        return;
    size_t mark = rule_enter(v, field);
    rule_labels(v, "matchLabels", RULE_MAP(selector, match_labels));
    rule_each(v, "matchExpressions", (const void *const *)selector->match_expressions,
              selector->n_match_expressions, selector_requirement, NULL);
    rule_leave(v, mark);
}

/* ---- RootDisk -------------------------------------------------------------- */

void rule_root_disk(rule_ctx *v, const char *field, const Kumo__V1alpha1__RootDisk *disk)
{
    if (disk == NULL)
        return;
    size_t mark = rule_enter(v, field);
    rule_int_range_or_zero(v, "sizeGib", disk->size_gib, 1, 65536);
    rule_max_bytes(v, "type", disk->type, 63);
    rule_leave(v, mark);
}

/* ---- PlacementRequirements and UserLocation --------------------------------- */

static void user_location(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__UserLocation *location = item;
    (void)context;
    int has_latitude =
        location->latitude_present_case == KUMO__V1ALPHA1__USER_LOCATION__LATITUDE_PRESENT_LATITUDE;
    int has_longitude = location->longitude_present_case ==
                        KUMO__V1ALPHA1__USER_LOCATION__LONGITUDE_PRESENT_LONGITUDE;
    rule_dns_label(v, "name", location->name, 0);
    if (!rule_empty(location->region)) {
        rule_region_name(v, "region", location->region, 1);
        if (has_latitude)
            rule_forbidden(v, "latitude", "may not be set together with region");
        if (has_longitude)
            rule_forbidden(v, "longitude", "may not be set together with region");
    } else if (has_latitude || has_longitude) {
        if (!has_latitude)
            rule_required(v, "latitude", "with longitude");
        if (!has_longitude)
            rule_required(v, "longitude", "with latitude");
    } else {
        rule_required(v, NULL, "either region, or latitude and longitude");
    }
    if (has_latitude)
        rule_double_range(v, "latitude", location->latitude, -90, 90);
    if (has_longitude)
        rule_double_range(v, "longitude", location->longitude, -180, 180);
    rule_int_range_or_zero(v, "weight", location->weight, 1, 1000);
}

/* A min/max pair: both >= 0, and min <= max when both are given. */
static void min_max(rule_ctx *v, const char *min_field, int min, const char *max_field, int max)
{
    rule_int_range(v, min_field, min, 0, INT32_MAX);
    rule_int_range(v, max_field, max, 0, INT32_MAX);
    if (min > 0 && max > 0 && min > max)
        rule_invalid_int(v, max_field, max, "must be greater than or equal to %s (%d)", min_field,
                         min);
}

void rule_placement(rule_ctx *v, const char *field,
                    const Kumo__V1alpha1__PlacementRequirements *placement, int group_size)
{
    if (placement == NULL)
        return;
    size_t mark = rule_enter(v, field);
    min_max(v, "vcpuMin", placement->vcpu_min, "vcpuMax", placement->vcpu_max);
    min_max(v, "memoryMibMin", placement->memory_mib_min, "memoryMibMax",
            placement->memory_mib_max);
    rule_int_range(v, "gpuCount", placement->gpu_count, 0, 16);
    if (placement->gpu_count <= 0)
        rule_forbid_string(v, "gpuModel", placement->gpu_model, "when gpuCount is at least 1");
    rule_double_positive(v, "maxPricePerHour", placement->max_price_per_hour, DBL_MAX);
    rule_max_items(v, "userLocations", placement->n_user_locations, USER_LOCATIONS_MAX);
    rule_named_items(v, "userLocations", (const void *const *)placement->user_locations,
                     placement->n_user_locations, user_location, NULL);
    int spread = placement->spread_connections;
    if (spread > 0 && group_size >= 1 && spread > group_size && spread <= 32)
        rule_invalid_int(v, "spreadConnections", spread,
                         "must be less than or equal to the group's size (%d)", group_size);
    else
        rule_int_range_or_zero(v, "spreadConnections", spread, 1, 32);
    rule_string_list(v, "providers", placement->providers, placement->n_providers);
    rule_string_list(v, "regions", placement->regions, placement->n_regions);
    rule_label_selector(v, "connectionSelector", placement->connection_selector);
    rule_leave(v, mark);
}

void rule_explicit_or_placement(rule_ctx *v, const char *connection, const char *instance_type,
                                const Kumo__V1alpha1__PlacementRequirements *placement,
                                int group_size)
{
    int explicit_given = !rule_empty(connection) || !rule_empty(instance_type);
    if (explicit_given && placement != NULL)
        rule_forbidden(v, "placement", "may not be set together with connection and instanceType");
    else if (!explicit_given && placement == NULL)
        rule_required(v, NULL, "either connection and instanceType, or placement");
    if (explicit_given) {
        if (rule_empty(connection))
            rule_required(v, "connection", "with instanceType");
        else
            rule_object_name(v, "connection", connection, 1);
        if (rule_empty(instance_type))
            rule_required(v, "instanceType", "with connection");
        else
            rule_max_bytes(v, "instanceType", instance_type, 255);
    }
    rule_placement(v, "placement", placement, group_size);
}
