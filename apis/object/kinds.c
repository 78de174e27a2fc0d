/*
 * kinds.c - the registry of kumo kinds: names, short names and descriptors.
 *
 * The one table of every kind. Order follows DESIGN.md §3 and is stable:
 * other modules iterate it (api-resources, per-kind storage).
 */
#include "apis/object/internal.h"

#include <strings.h>

#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/kumo/v1alpha1/migration.pb-c.h"
#include "apis/kumo/v1alpha1/network.pb-c.h"
#include "apis/kumo/v1alpha1/recorded_event.pb-c.h"

#define SHORT(...) ((const char *const[]){__VA_ARGS__, NULL})

static const kumo_object_kind kinds[] = {
    {"Credential", "credential", "credentials", SHORT("cred", "creds"),
     &kumo__v1alpha1__credential__descriptor, &kumo__v1alpha1__credential_list__descriptor, 1},
    {"Connection", "connection", "connections", SHORT("conn", "conns"),
     &kumo__v1alpha1__connection__descriptor, &kumo__v1alpha1__connection_list__descriptor, 0},
    {"Infra", "infra", "infras", SHORT("inf"), &kumo__v1alpha1__infra__descriptor,
     &kumo__v1alpha1__infra_list__descriptor, 0},
    {"Machine", "machine", "machines", SHORT("ma", "vm", "vms"),
     &kumo__v1alpha1__machine__descriptor, &kumo__v1alpha1__machine_list__descriptor, 0},
    {"Network", "network", "networks", SHORT("net", "nets"), &kumo__v1alpha1__network__descriptor,
     &kumo__v1alpha1__network_list__descriptor, 0},
    {"SecurityGroup", "securitygroup", "securitygroups", SHORT("sg", "sgs"),
     &kumo__v1alpha1__security_group__descriptor, &kumo__v1alpha1__security_group_list__descriptor,
     0},
    {"KeyPair", "keypair", "keypairs", SHORT("kp", "kps"), &kumo__v1alpha1__key_pair__descriptor,
     &kumo__v1alpha1__key_pair_list__descriptor, 0},
    {"App", "app", "apps", SHORT("application"), &kumo__v1alpha1__app__descriptor,
     &kumo__v1alpha1__app_list__descriptor, 0},
    {"LoadBalancer", "loadbalancer", "loadbalancers", SHORT("lb", "lbs"),
     &kumo__v1alpha1__load_balancer__descriptor, &kumo__v1alpha1__load_balancer_list__descriptor,
     0},
    {"Migration", "migration", "migrations", SHORT("mig", "migs"),
     &kumo__v1alpha1__migration__descriptor, &kumo__v1alpha1__migration_list__descriptor, 0},
    /* Written by controllers; no spec or status (recorded_event.proto). */
    {"Event", "event", "events", SHORT("ev"), &kumo__v1alpha1__recorded_event__descriptor,
     &kumo__v1alpha1__recorded_event_list__descriptor, 0},
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
