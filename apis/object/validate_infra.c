/*
 * validate_infra.c - spec rules of the kinds that describe cloud resources:
 * Credential, Connection, Infra, Machine, Network, SecurityGroup, KeyPair.
 *
 * docs/api-objects.md §3 is the reference; each function follows its kind's
 * table in order. The ctx path is "spec" on entry.
 */
#include "apis/object/validate.h"

#include <stdio.h>
#include <string.h>

#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/kumo/v1alpha1/network.pb-c.h"

enum {
    CREDENTIAL_DATA_MAX = 64 * 1024,
    USER_DATA_MAX = 16 * 1024,
    GROUPS_MAX = 100,
    SUBNETS_MAX = 64,
    SECURITY_GROUP_REFS_MAX = 16,
    TAGS_MAX = 40,
};

/* Catalog names (instance types, images): required, at most 255 bytes. */
static void catalog_name(rule_ctx *v, const char *field, const char *s)
{
    if (rule_require_string(v, field, s))
        rule_max_bytes(v, field, s, 255);
}

/* ---- Credential ------------------------------------------------------------ */

/* Keys of a Credential's data: 1-253 bytes of [-._a-zA-Z0-9]. */
static int data_key_valid(const char *key)
{
    size_t len = strlen(key);
    return len >= 1 && len <= RULE_NAME_MAX &&
           strspn(key, "-._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == len;
}

/* Required data keys of the types kumo itself reads. */
static void credential_required_keys(rule_ctx *v, const Kumo__V1alpha1__CredentialSpec *spec)
{
    static const struct {
        const char *type;
        const char *keys[3];
    } wanted[] = {{"tls", {"tls.crt", "tls.key", NULL}}, {"ssh", {"privateKey", NULL, NULL}}};
    for (size_t t = 0; t < sizeof(wanted) / sizeof(wanted[0]); t++) {
        if (strcmp(spec->type, wanted[t].type) != 0)
            continue;
        for (const char *const *key = wanted[t].keys; *key; key++) {
            int found = 0;
            for (size_t i = 0; i < spec->n_data && !found; i++)
                found = strcmp(spec->data[i]->key, *key) == 0;
            if (!found) {
                size_t mark = rule_enter_key(v, "data", *key);
                rule_add(v, KUMO_CAUSE_REQUIRED, NULL, NULL, "for a Credential of type \"%s\"",
                         spec->type);
                rule_leave(v, mark);
            }
        }
    }
}

void rule_credential_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__CredentialSpec *spec = (const Kumo__V1alpha1__CredentialSpec *)message;
    rule_dns_label(v, "type", spec->type, 1);
    if (spec->n_data == 0)
        rule_required(v, "data", "at least one entry");
    size_t total = 0;
    for (size_t i = 0; i < spec->n_data; i++) {
        /* Only keys are ever printed: values are secret. */
        const char *key = spec->data[i]->key;
        total += strlen(key) + strlen(spec->data[i]->value);
        if (!data_key_valid(key))
            rule_invalid_string(v, "data", key,
                                "a valid data key must have 1 to 253 alphanumeric characters, "
                                "'-', '_' or '.'");
    }
    if (total > CREDENTIAL_DATA_MAX)
        rule_add(v, KUMO_CAUSE_TOO_LONG, "data", NULL, "must have at most %d bytes in total",
                 CREDENTIAL_DATA_MAX);
    credential_required_keys(v, spec);
}

/* ---- Connection ------------------------------------------------------------ */

static void rate_limit(rule_ctx *v, const Kumo__V1alpha1__ConnectionRateLimit *limit)
{
    if (limit == NULL)
        return;
    size_t mark = rule_enter(v, "rateLimit");
    rule_double_positive(v, "qps", limit->qps, 10000);
    rule_int_range_or_zero(v, "burst", limit->burst, 1, 100000);
    rule_int_range_or_zero(v, "maxInFlight", limit->max_in_flight, 1, 10000);
    rule_leave(v, mark);
}

void rule_connection_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    static const char *const schemes[] = {"http://", "https://", NULL};
    const Kumo__V1alpha1__ConnectionSpec *spec = (const Kumo__V1alpha1__ConnectionSpec *)message;
    rule_dns_label(v, "driver", spec->driver, 1);
    rule_dns_label(v, "provider", spec->provider, 0);
    rule_region_name(v, "region", spec->region, 1);
    rule_region_name(v, "zone", spec->zone, 0);
    rule_url(v, "endpoint", spec->endpoint, schemes);
    int builtin = strcmp(spec->driver, "sim") == 0 || strcmp(spec->driver, "local") == 0;
    if (spec->credential_ref == NULL && !builtin && !rule_empty(spec->driver))
        rule_required(v, "credentialRef", "every driver except sim and local needs a Credential");
    else
        rule_reference(v, "credentialRef", spec->credential_ref, 0);
    rate_limit(v, spec->rate_limit);
    for (size_t i = 0; i < spec->n_config; i++)
        if (rule_empty(spec->config[i]->key))
            rule_invalid_string(v, "config", "", "keys must be non-empty");
}

/* ---- Infra ----------------------------------------------------------------- */

static void node_group(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__NodeGroup *group = item;
    (void)context;
    int has_size = group->size_present_case == KUMO__V1ALPHA1__NODE_GROUP__SIZE_PRESENT_SIZE;
    rule_dns_label(v, "name", group->name, 1);
    if (has_size)
        rule_int_range(v, "size", group->size, 0, 10000);
    rule_explicit_or_placement(v, group->connection, group->instance_type, group->placement,
                               has_size ? group->size : 1);
    catalog_name(v, "image", group->image);
    rule_root_disk(v, "rootDisk", group->root_disk);
    rule_max_bytes(v, "userData", group->user_data, USER_DATA_MAX);
    rule_labels(v, "labels", RULE_MAP(group, labels));
    rule_security_rules(v, "securityRules", group->security_rules, group->n_security_rules);
}

void rule_infra_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__InfraSpec *spec = (const Kumo__V1alpha1__InfraSpec *)message;
    rule_items_between(v, "groups", spec->n_groups, 1, GROUPS_MAX);
    rule_named_items(v, "groups", (const void *const *)spec->groups, spec->n_groups, node_group,
                     NULL);
    rule_labels(v, "labels", RULE_MAP(spec, labels));
    rule_ipv4_net net;
    rule_cidr(v, "networkCidr", spec->network_cidr, 8, 28, &net);
    rule_ssh_public_key(v, "sshPublicKey", spec->ssh_public_key);
    rule_int_range_or_zero(v, "maxUnavailable", spec->max_unavailable, 1, 10000);
}

kumo_error kumo_object_machines_check(const ProtobufCMessage *object, long max_machines,
                                      kumo_diag *diag)
{
    if (object == NULL || object->descriptor != &kumo__v1alpha1__infra__descriptor)
        return KUMO_ERROR_OK;
    const Kumo__V1alpha1__Infra *infra = (const Kumo__V1alpha1__Infra *)object;
    long total = 0;
    for (size_t i = 0; infra->spec && i < infra->spec->n_groups; i++) {
        const Kumo__V1alpha1__NodeGroup *g = infra->spec->groups[i];
        total +=
            g->size_present_case == KUMO__V1ALPHA1__NODE_GROUP__SIZE_PRESENT_SIZE ? g->size : 1;
    }
    if (max_machines <= 0 || total <= max_machines)
        return KUMO_ERROR_OK;
    char value[32];
    snprintf(value, sizeof(value), "%ld", total);
    kumo_diag_add_cause(diag, KUMO_CAUSE_INVALID, "spec.groups", value,
                        "the groups ask for %ld machines in all; the limit per Infra is %ld "
                        "(kumod --max-machines-per-infra)",
                        total, max_machines);
    return kumo_diag_set(diag, KUMO_ERROR_INVALID,
                         "Infra \"%s\" is invalid: spec.groups: Invalid value: %ld: the groups ask "
                         "for %ld machines in all; the limit per Infra is %ld (kumod "
                         "--max-machines-per-infra)",
                         kumo_object_name(object), total, total, max_machines);
}

/* ---- Machine --------------------------------------------------------------- */

static void reference_item(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__LocalObjectReference *ref = item;
    (void)context;
    rule_object_name(v, "name", ref->name, 1);
}

static void machine_tags(rule_ctx *v, const Kumo__V1alpha1__MachineSpec *spec)
{
    rule_max_items(v, "tags", spec->n_tags, TAGS_MAX);
    for (size_t i = 0; i < spec->n_tags; i++) {
        const char *key = spec->tags[i]->key;
        size_t len = strlen(key);
        if (len == 0 || len > 127) {
            rule_invalid_string(v, "tags", key, "keys must have 1 to 127 bytes");
            continue;
        }
        size_t mark = rule_enter_key(v, "tags", key);
        rule_max_bytes(v, NULL, spec->tags[i]->value, 255);
        rule_leave(v, mark);
    }
}

void rule_machine_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__MachineSpec *spec = (const Kumo__V1alpha1__MachineSpec *)message;
    rule_object_name(v, "connection", spec->connection, 1);
    catalog_name(v, "instanceType", spec->instance_type);
    catalog_name(v, "image", spec->image);
    rule_reference(v, "networkRef", spec->network_ref, 0);
    if (spec->network_ref == NULL)
        rule_forbid_string(v, "subnet", spec->subnet, "together with networkRef");
    else
        rule_dns_label(v, "subnet", spec->subnet, 0);
    rule_max_items(v, "securityGroupRefs", spec->n_security_group_refs, SECURITY_GROUP_REFS_MAX);
    rule_named_items(v, "securityGroupRefs", (const void *const *)spec->security_group_refs,
                     spec->n_security_group_refs, reference_item, NULL);
    rule_reference(v, "keyPairRef", spec->key_pair_ref, 0);
    rule_max_bytes(v, "userData", spec->user_data, USER_DATA_MAX);
    rule_root_disk(v, "rootDisk", spec->root_disk);
    machine_tags(v, spec);
}

/* ---- Network --------------------------------------------------------------- */

/* context: the network's own range, or NULL when it is invalid. */
static void subnet(rule_ctx *v, const void *item, const void *context)
{
    const Kumo__V1alpha1__Subnet *s = item;
    const rule_ipv4_net *network = context;
    rule_ipv4_net net;
    rule_dns_label(v, "name", s->name, 1);
    if (rule_require_string(v, "cidr", s->cidr) && rule_cidr(v, "cidr", s->cidr, 0, 32, &net) &&
        network != NULL && !rule_ipv4_net_contains(network, &net)) {
        char text[24];
        rule_invalid_string(v, "cidr", s->cidr, "must be inside spec.cidr (%s)",
                            rule_ipv4_net_text(network, text, sizeof(text)));
    }
    rule_region_name(v, "zone", s->zone, 0);
}

/* Subnets must not overlap: pairwise, so only for lists of a sane length. */
static void subnets_disjoint(rule_ctx *v, const Kumo__V1alpha1__NetworkSpec *spec)
{
    if (spec->n_subnets > SUBNETS_MAX)
        return;
    rule_ipv4_net nets[SUBNETS_MAX];
    int valid[SUBNETS_MAX];
    for (size_t i = 0; i < spec->n_subnets; i++)
        valid[i] = rule_parse_cidr(spec->subnets[i]->cidr, &nets[i]) == 1;
    for (size_t j = 0; j < spec->n_subnets; j++) {
        for (size_t i = 0; i < j && valid[j]; i++) {
            if (!valid[i] || !rule_ipv4_net_overlaps(&nets[i], &nets[j]))
                continue;
            size_t mark = rule_enter_index(v, "subnets", j);
            rule_invalid_string(v, "cidr", spec->subnets[j]->cidr,
                                "overlaps spec.subnets[%zu].cidr (%s)", i, spec->subnets[i]->cidr);
            rule_leave(v, mark);
            break;
        }
    }
}

void rule_network_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__NetworkSpec *spec = (const Kumo__V1alpha1__NetworkSpec *)message;
    rule_ipv4_net net;
    int have_net = 0;
    rule_object_name(v, "connection", spec->connection, 1);
    if (rule_require_string(v, "cidr", spec->cidr))
        have_net = rule_cidr(v, "cidr", spec->cidr, 8, 28, &net);
    rule_max_items(v, "subnets", spec->n_subnets, SUBNETS_MAX);
    rule_named_items(v, "subnets", (const void *const *)spec->subnets, spec->n_subnets, subnet,
                     have_net ? &net : NULL);
    subnets_disjoint(v, spec);
}

/* ---- SecurityGroup, KeyPair ------------------------------------------------- */

void rule_security_group_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__SecurityGroupSpec *spec =
        (const Kumo__V1alpha1__SecurityGroupSpec *)message;
    rule_object_name(v, "connection", spec->connection, 1);
    rule_reference(v, "networkRef", spec->network_ref, 0);
    rule_security_rules(v, "rules", spec->rules, spec->n_rules);
}

void rule_key_pair_spec(rule_ctx *v, const ProtobufCMessage *message)
{
    const Kumo__V1alpha1__KeyPairSpec *spec = (const Kumo__V1alpha1__KeyPairSpec *)message;
    rule_object_name(v, "connection", spec->connection, 1);
    rule_ssh_public_key(v, "publicKey", spec->public_key);
}
