/*
 * kinds.c - the registry of kumo kinds: one row per kind with everything that
 * is per kind (names, short names, descriptors, validation and defaulting
 * hooks, printer columns, example manifest, event oneof field).
 *
 * The one table of every kind; the rest of kumo reads it. Order follows
 * DESIGN.md §3 and is stable: other modules iterate it (api-resources,
 * per-kind storage). tests/object's kind_registry_complete fails when a row
 * lacks a part.
 */
#include "apis/object/internal.h"

#include <strings.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/event.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/kumo/v1alpha1/migration.pb-c.h"
#include "apis/kumo/v1alpha1/network.pb-c.h"
#include "apis/kumo/v1alpha1/recorded_event.pb-c.h"
#include "apis/object/validate.h"

#define SHORT(...)   ((const char *const[]){__VA_ARGS__, NULL})
#define COLUMNS(...) (&(const kumo_columns){{__VA_ARGS__}})
#define COLUMN(header, type, path, path2, wide)                                                    \
    {                                                                                              \
        header, KUMO_COLUMNS_##type, path, path2, wide                                             \
    }
#define AGE COLUMN("AGE", AGE, NULL, NULL, 0)

static const kumo_object_kind kinds[] = {
    {
        .kind = "Credential",
        .singular = "credential",
        .plural = "credentials",
        .short_names = SHORT("cred", "creds"),
        .descriptor = &kumo__v1alpha1__credential__descriptor,
        .list_descriptor = &kumo__v1alpha1__credential_list__descriptor,
        .write_only_spec = 1,
        .validate = rule_credential_spec,
        .defaults = default_none,
        .columns = COLUMNS(COLUMN("TYPE", TEXT, "spec.type", NULL, 0), AGE),
        .example = "examples/credential.yaml",
        .event_field = "credential",
    },
    {
        .kind = "Connection",
        .singular = "connection",
        .plural = "connections",
        .short_names = SHORT("conn", "conns"),
        .descriptor = &kumo__v1alpha1__connection__descriptor,
        .list_descriptor = &kumo__v1alpha1__connection_list__descriptor,
        .validate = rule_connection_spec,
        .defaults = default_connection_spec,
        .columns = COLUMNS(COLUMN("DRIVER", TEXT, "spec.driver", NULL, 0),
                           COLUMN("REGION", TEXT, "spec.region", NULL, 0),
                           COLUMN("READY", CONDITION, "Ready", NULL, 0), AGE,
                           COLUMN("PROVIDER", TEXT, "spec.provider", NULL, 1),
                           COLUMN("ZONE", TEXT, "spec.zone", NULL, 1),
                           COLUMN("REACHABLE", BOOL, "status.reachable", NULL, 1)),
        .example = "examples/connection.yaml",
        .event_field = "connection",
    },
    {
        .kind = "Infra",
        .singular = "infra",
        .plural = "infras",
        .short_names = SHORT("inf"),
        .descriptor = &kumo__v1alpha1__infra__descriptor,
        .list_descriptor = &kumo__v1alpha1__infra_list__descriptor,
        .validate = rule_infra_spec,
        .defaults = default_infra_spec,
        .columns =
            COLUMNS(COLUMN("READY", RATIO, "status.ready", "status.desired|spec.groups[].size", 0),
                    COLUMN("COST/H", MONEY, "status.costPerHour", NULL, 0), AGE,
                    COLUMN("GROUPS", COUNT, "spec.groups", NULL, 1),
                    COLUMN("STATUS", CONDITION_REASON, "Ready", NULL, 1)),
        .example = "examples/infra.yaml",
        .event_field = "infra",
    },
    {
        .kind = "Machine",
        .singular = "machine",
        .plural = "machines",
        .short_names = SHORT("ma", "vm", "vms"),
        .descriptor = &kumo__v1alpha1__machine__descriptor,
        .list_descriptor = &kumo__v1alpha1__machine_list__descriptor,
        .validate = rule_machine_spec,
        .defaults = default_machine_spec,
        .columns = COLUMNS(COLUMN("PHASE", TEXT, "status.phase", "Pending", 0), AGE,
                           COLUMN("CONNECTION", TEXT, "spec.connection", NULL, 1),
                           COLUMN("TYPE", TEXT, "spec.instanceType", NULL, 1),
                           COLUMN("IP", TEXT, "status.addresses[0].address", NULL, 1),
                           COLUMN("COST/H", MONEY, "status.costPerHour", NULL, 1)),
        .example = "examples/machine.yaml",
        .event_field = "machine",
    },
    {
        .kind = "Network",
        .singular = "network",
        .plural = "networks",
        .short_names = SHORT("net", "nets"),
        .descriptor = &kumo__v1alpha1__network__descriptor,
        .list_descriptor = &kumo__v1alpha1__network_list__descriptor,
        .validate = rule_network_spec,
        .defaults = default_none,
        .columns = COLUMNS(COLUMN("CONNECTION", TEXT, "spec.connection", NULL, 0),
                           COLUMN("READY", CONDITION, "Ready", NULL, 0), AGE,
                           COLUMN("CIDR", TEXT, "spec.cidr", NULL, 1)),
        .example = "examples/network.yaml",
        .event_field = "network",
    },
    {
        .kind = "SecurityGroup",
        .singular = "securitygroup",
        .plural = "securitygroups",
        .short_names = SHORT("sg", "sgs"),
        .descriptor = &kumo__v1alpha1__security_group__descriptor,
        .list_descriptor = &kumo__v1alpha1__security_group_list__descriptor,
        .validate = rule_security_group_spec,
        .defaults = default_security_group_spec,
        .columns = COLUMNS(COLUMN("CONNECTION", TEXT, "spec.connection", NULL, 0),
                           COLUMN("READY", CONDITION, "Ready", NULL, 0), AGE,
                           COLUMN("RULES", COUNT, "spec.rules", NULL, 1)),
        .example = "examples/securitygroup.yaml",
        .event_field = "security_group",
    },
    {
        .kind = "KeyPair",
        .singular = "keypair",
        .plural = "keypairs",
        .short_names = SHORT("kp", "kps"),
        .descriptor = &kumo__v1alpha1__key_pair__descriptor,
        .list_descriptor = &kumo__v1alpha1__key_pair_list__descriptor,
        .validate = rule_key_pair_spec,
        .defaults = default_none,
        .columns = COLUMNS(COLUMN("CONNECTION", TEXT, "spec.connection", NULL, 0),
                           COLUMN("READY", CONDITION, "Ready", NULL, 0), AGE),
        .example = "examples/keypair.yaml",
        .event_field = "key_pair",
    },
    {
        .kind = "App",
        .singular = "app",
        .plural = "apps",
        .short_names = SHORT("application"),
        .descriptor = &kumo__v1alpha1__app__descriptor,
        .list_descriptor = &kumo__v1alpha1__app_list__descriptor,
        .validate = rule_app_spec,
        .defaults = default_app_spec,
        .columns = COLUMNS(COLUMN("READY", RATIO, "status.ready", "status.desired", 0),
                           COLUMN("UP-TO-DATE", NUMBER, "status.updated", NULL, 0), AGE,
                           COLUMN("INFRA", TEXT, "spec.infraRef.name", NULL, 1),
                           COLUMN("COMPONENTS", COUNT, "spec.components", NULL, 1)),
        .example = "examples/app.yaml",
        .event_field = "app",
    },
    {
        .kind = "LoadBalancer",
        .singular = "loadbalancer",
        .plural = "loadbalancers",
        .short_names = SHORT("lb", "lbs"),
        .descriptor = &kumo__v1alpha1__load_balancer__descriptor,
        .list_descriptor = &kumo__v1alpha1__load_balancer_list__descriptor,
        .validate = rule_load_balancer_spec,
        .defaults = default_load_balancer_spec,
        .columns =
            COLUMNS(COLUMN("ADDRESS", TEXT, "status.address", "<pending>", 0),
                    COLUMN("POLICY", TEXT, "spec.policy", NULL, 0),
                    COLUMN("HEALTHY", RATIO, "status.healthyEndpoints", "status.totalEndpoints", 0),
                    COLUMN("READY", CONDITION, "Ready", NULL, 0), AGE,
                    COLUMN("CONNECTION", TEXT, "spec.connection", NULL, 1),
                    COLUMN("LISTENERS", COUNT, "spec.listeners", NULL, 1),
                    COLUMN("PORT", TEXT, "spec.listeners[0].port", NULL, 1),
                    COLUMN("PROTOCOL", TEXT, "spec.listeners[0].protocol", NULL, 1)),
        .example = "examples/loadbalancer.yaml",
        .event_field = "load_balancer",
    },
    {
        .kind = "Migration",
        .singular = "migration",
        .plural = "migrations",
        .short_names = SHORT("mig", "migs"),
        .descriptor = &kumo__v1alpha1__migration__descriptor,
        .list_descriptor = &kumo__v1alpha1__migration_list__descriptor,
        .validate = rule_migration_spec,
        .defaults = default_migration_spec,
        .columns = COLUMNS(COLUMN("PHASE", TEXT, "status.phase", "Pending", 0),
                           COLUMN("STEP", RATIO, "status.cutoverStep", "status.cutoverSteps", 0),
                           COLUMN("WEIGHT", PERCENT, "status.targetWeight", NULL, 0), AGE,
                           COLUMN("STRATEGY", TEXT, "spec.strategy", NULL, 1),
                           COLUMN("TARGET", TEXT, "spec.target.connection", NULL, 1),
                           COLUMN("DURATION", NUMBER, "status.durationSeconds", NULL, 1),
                           COLUMN("STATUS", CONDITION_REASON, "Ready", NULL, 1)),
        .example = "examples/migration.yaml",
        .event_field = "migration",
    },
    /* Written by controllers; no spec or status (recorded_event.proto). */
    {
        .kind = "Event",
        .singular = "event",
        .plural = "events",
        .short_names = SHORT("ev"),
        .descriptor = &kumo__v1alpha1__recorded_event__descriptor,
        .list_descriptor = &kumo__v1alpha1__recorded_event_list__descriptor,
        .validate = rule_event_fields,
        .defaults = default_none,
        .columns = COLUMNS(
            COLUMN("LAST SEEN", SINCE, "lastTimestamp", NULL, 0),
            COLUMN("TYPE", TEXT, "type", NULL, 0), COLUMN("REASON", TEXT, "reason", NULL, 0),
            COLUMN("OBJECT", REFERENCE, "involvedObject", NULL, 0),
            COLUMN("COUNT", NUMBER, "count", NULL, 0), COLUMN("MESSAGE", TEXT, "message", "", 0),
            COLUMN("FIRST SEEN", SINCE, "firstTimestamp", NULL, 1),
            COLUMN("SOURCE", TEXT, "source.component", NULL, 1)),
        .controller_written = 1,
        .event_field = "recorded_event",
    },
};

size_t kumo_object_kind_count(void)
{
    return sizeof(kinds) / sizeof(kinds[0]);
}

const kumo_object_kind *kumo_object_kind_at(size_t index)
{
    return index < kumo_object_kind_count() ? &kinds[index] : NULL;
}

const kumo_object_kind *kumo_object_kind_lookup(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < kumo_object_kind_count(); i++) {
        const kumo_object_kind *k = &kinds[i];
        if (strcasecmp(name, k->kind) == 0 || strcasecmp(name, k->singular) == 0 ||
            strcasecmp(name, k->plural) == 0)
            return k;
        for (const char *const *s = k->short_names; *s; s++)
            if (strcasecmp(name, *s) == 0)
                return k;
    }
    return NULL;
}

const kumo_object_kind *kumo_object_kind_of(const ProtobufCMessageDescriptor *descriptor)
{
    for (size_t i = 0; i < kumo_object_kind_count(); i++)
        if (kinds[i].descriptor == descriptor || kinds[i].list_descriptor == descriptor)
            return &kinds[i];
    return NULL;
}

const ProtobufCFieldDescriptor *kumo_object_kind_event_field(const kumo_object_kind *kind)
{
    if (kind == NULL || kind->event_field == NULL)
        return NULL;
    return protobuf_c_message_descriptor_get_field_by_name(&kumo__v1alpha1__event__descriptor,
                                                           kind->event_field);
}
