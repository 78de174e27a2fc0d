/*
 * machine.c - the Machine class of resource.c: a VM through the driver.
 *
 * Phases: Pending (nothing asked of the cloud yet), Provisioning (created,
 * booting), Running, Stopping, Stopped, Terminating, Terminated, Failed
 * (the cloud refused: capacity, quota, an invalid spec; see the Ready
 * condition's reason). Drift: spec.driftPolicy Recreate replaces a stopped or
 * vanished VM, Restart starts a stopped one (and replaces a vanished one),
 * Ignore only reports it in the Drifted condition.
 *
 * The create resolves networkRef/subnet, securityGroupRefs and keyPairRef
 * to the provider ids in those objects' status (from the informers); until
 * they are ready the Machine waits (WaitingForDependencies).
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"

typedef Kumo__V1alpha1__Machine machine;

static kumo_driver_code observe(infra_call *call, const struct kumo_driver_ref *ref, void **out)
{
    return call->driver->machine_observe(call->handle, ref, call->deadline_ns,
                                         (struct kumo_driver_machine **)out, &call->diag);
}

static kumo_driver_code remove_machine(infra_call *call, const struct kumo_driver_ref *ref)
{
    return call->driver->machine_delete(call->handle, ref, call->deadline_ns, &call->diag);
}

static kumo_driver_code start(infra_call *call, const struct kumo_driver_ref *ref, void **out)
{
    struct kumo_driver_machine_update u;
    memset(&u, 0, sizeof(u));
    u.struct_size = sizeof(u);
    u.fields = KUMO_DRIVER_MACHINE_SET_POWER;
    u.power = KUMO_DRIVER_POWER_RUNNING;
    return call->driver->machine_update(call->handle, ref, &u, call->deadline_ns,
                                        (struct kumo_driver_machine **)out, &call->diag);
}

/* ---- create ------------------------------------------------------------------------- */

typedef struct prepared_machine {
    struct kumo_driver_machine_spec spec;
    char network_id[128], subnet_id[128], key_pair_id[128];
    char **security_group_ids;
    struct kumo_driver_tag *tags;
    resource_ctl *ctl; /* for the agent bootstrap: NULL when there is no agent bus */
    const char *ns, *name, *uid;
} prepared_machine;

static void prepared_free(void *p)
{
    prepared_machine *pm = p;
    if (pm == NULL)
        return;
    for (size_t i = 0; i < pm->spec.security_group_count; i++)
        free(pm->security_group_ids[i]);
    free(pm->security_group_ids);
    free(pm->tags);
    free(pm);
}

/* The provider id of a ready dependency, or a reason to wait. */
static int dependency(resource_run *run, kumo_informer *informer, const char *kind,
                      const char *name, const char *connection, char *id, size_t id_size,
                      ProtobufCMessage **keep, kumo_diag *why)
{
    ProtobufCMessage *dep = resource_lookup(informer, run->ns, name);
    if (dep == NULL) {
        kumo_diag_set(why, KUMO_ERROR_NOT_FOUND, "%s \"%s\" not found", kind, name);
        return PREPARE_WAIT;
    }
    const ProtobufCMessage *spec = kumo_object_spec(dep);
    const ProtobufCFieldDescriptor *f =
        spec ? protobuf_c_message_descriptor_get_field_by_name(spec->descriptor, "connection")
             : NULL;
    const char *dep_connection = f ? *(const char *const *)((const char *)spec + f->offset) : "";
    if (strcmp(dep_connection, connection) != 0) {
        kumo_diag_set(why, KUMO_ERROR_INVALID_ARGUMENT,
                      "%s \"%s\" is on connection \"%s\", not \"%s\"", kind, name, dep_connection,
                      connection);
        kumo_object_destroy(dep);
        return PREPARE_INVALID;
    }
    const char *pid = resource_provider_id(dep);
    if (pid[0] == '\0' || kumo_meta_deleting(dep)) {
        /* Say why the dependency is not ready: its own failure is this machine's cause. */
        const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(dep, "Ready");
        if (kumo_meta_deleting(dep))
            kumo_diag_set(why, KUMO_ERROR_UNAVAILABLE, "%s \"%s\" is being deleted", kind, name);
        else if (c && c->reason[0] && strcmp(c->status, "False") == 0)
            kumo_diag_set(why, KUMO_ERROR_UNAVAILABLE, "%s \"%s\" is not ready: %s: %s", kind, name,
                          c->reason, c->message);
        else
            kumo_diag_set(why, KUMO_ERROR_UNAVAILABLE, "%s \"%s\" is not ready yet", kind, name);
        int failed = !kumo_meta_deleting(dep) && c && strcmp(c->status, "False") == 0 &&
                     !infra_reason_is_progress(c->reason);
        kumo_object_destroy(dep);
        return failed ? PREPARE_BLOCKED : PREPARE_WAIT;
    }
    snprintf(id, id_size, "%s", pid);
    if (keep)
        *keep = dep;
    else
        kumo_object_destroy(dep);
    return PREPARE_OK;
}

/* The Network's provider id and the subnet's (the named one, else the first). */
static int prepare_network(resource_ctl *ctl, resource_run *run, prepared_machine *pm,
                           kumo_diag *why)
{
    const Kumo__V1alpha1__MachineSpec *spec = ((const machine *)run->object)->spec;
    ProtobufCMessage *net = NULL;
    int rc = dependency(run, ctl->networks, "Network", spec->network_ref->name, spec->connection,
                        pm->network_id, sizeof(pm->network_id), &net, why);
    if (rc == PREPARE_OK) {
        const Kumo__V1alpha1__Network *n = (const Kumo__V1alpha1__Network *)net;
        const char *subnet = spec->subnet && spec->subnet[0] ? spec->subnet : NULL;
        for (size_t i = 0; n->status && i < n->status->n_subnets; i++) {
            if (subnet == NULL || strcmp(n->status->subnets[i]->name, subnet) == 0) {
                snprintf(pm->subnet_id, sizeof(pm->subnet_id), "%s",
                         n->status->subnets[i]->provider_id);
                break;
            }
        }
        if (subnet && pm->subnet_id[0] == '\0') {
            kumo_diag_set(why, KUMO_ERROR_UNAVAILABLE, "Network \"%s\" has no ready subnet \"%s\"",
                          spec->network_ref->name, subnet);
            rc = PREPARE_WAIT;
        }
        pm->spec.network_id = pm->network_id;
        pm->spec.subnet_id = pm->subnet_id[0] ? pm->subnet_id : NULL;
    }
    kumo_object_destroy(net);
    return rc;
}

/* Every SecurityGroup's provider id, in the spec's order. */
static int prepare_security_groups(resource_ctl *ctl, resource_run *run, prepared_machine *pm,
                                   kumo_diag *why)
{
    const Kumo__V1alpha1__MachineSpec *spec = ((const machine *)run->object)->spec;
    pm->security_group_ids = calloc(spec->n_security_group_refs, sizeof(char *));
    int rc = pm->security_group_ids ? PREPARE_OK : PREPARE_ERROR;
    for (size_t i = 0; rc == PREPARE_OK && i < spec->n_security_group_refs; i++) {
        char id[128];
        rc = dependency(run, ctl->security_groups, "SecurityGroup",
                        spec->security_group_refs[i]->name, spec->connection, id, sizeof(id), NULL,
                        why);
        if (rc == PREPARE_OK && (pm->security_group_ids[i] = strdup(id)) == NULL)
            rc = PREPARE_ERROR;
        if (rc == PREPARE_OK)
            pm->spec.security_group_count++;
    }
    pm->spec.security_group_ids = (const char *const *)pm->security_group_ids;
    return rc;
}

static int prepare_tags(const Kumo__V1alpha1__MachineSpec *spec, prepared_machine *pm)
{
    pm->tags = calloc(spec->n_tags, sizeof(*pm->tags));
    for (size_t i = 0; pm->tags && i < spec->n_tags; i++) {
        pm->tags[i].key = spec->tags[i]->key;
        pm->tags[i].value = spec->tags[i]->value;
    }
    pm->spec.tags = pm->tags;
    pm->spec.tag_count = pm->tags ? spec->n_tags : 0;
    return pm->tags ? PREPARE_OK : PREPARE_ERROR;
}

/* The driver's machine spec: the object's fields, then the dependencies' provider ids. */
static int prepare(resource_ctl *ctl, resource_run *run, void **out, kumo_diag *why)
{
    const machine *m = (const machine *)run->object;
    const Kumo__V1alpha1__MachineSpec *spec = m->spec;
    prepared_machine *pm = calloc(1, sizeof(*pm));
    if (pm == NULL)
        return PREPARE_ERROR;
    pm->spec.struct_size = sizeof(pm->spec);
    pm->spec.name = m->metadata->name;
    pm->spec.instance_type = spec->instance_type;
    pm->spec.image = spec->image;
    pm->spec.user_data = spec->user_data;
    if (spec->root_disk) {
        pm->spec.root_disk_gib =
            (uint32_t)(spec->root_disk->size_gib > 0 ? spec->root_disk->size_gib : 0);
        pm->spec.root_disk_type = spec->root_disk->type;
    }
    int rc = PREPARE_OK;
    if (spec->network_ref && spec->network_ref->name[0])
        rc = prepare_network(ctl, run, pm, why);
    if (rc == PREPARE_OK && spec->n_security_group_refs > 0)
        rc = prepare_security_groups(ctl, run, pm, why);
    if (rc == PREPARE_OK && spec->key_pair_ref && spec->key_pair_ref->name[0]) {
        rc = dependency(run, ctl->key_pairs, "KeyPair", spec->key_pair_ref->name, spec->connection,
                        pm->key_pair_id, sizeof(pm->key_pair_id), NULL, why);
        pm->spec.key_pair_id = pm->key_pair_id;
    }
    if (rc == PREPARE_OK && spec->n_tags > 0)
        rc = prepare_tags(spec, pm);
    if (rc == PREPARE_OK && ctl->env.agent_bootstrap) {
        /* Made here, handed over only to drivers whose machines run kumo-agent (create). */
        pm->ctl = ctl;
        pm->ns = run->ns;
        pm->name = m->metadata->name;
        pm->uid = m->metadata->uid;
    }
    if (rc != PREPARE_OK) {
        prepared_free(pm);
        return rc;
    }
    *out = pm;
    return PREPARE_OK;
}

static kumo_driver_code create(infra_call *call, const void *prepared, const char *token,
                               void **out)
{
    const prepared_machine *pm = prepared;
    struct kumo_driver_machine_spec spec = pm->spec;
    char *bootstrap = NULL;
    if (pm->ctl && (call->driver->capabilities & KUMO_DRIVER_CAP_AGENTS)) {
        const kumo_infra_env *env = &pm->ctl->env;
        bootstrap = env->agent_bootstrap(env->agent_context, pm->ns, pm->name, pm->uid);
        spec.agent_bootstrap = bootstrap;
    }
    kumo_driver_code rc =
        call->driver->machine_create(call->handle, &spec, token, call->deadline_ns,
                                     (struct kumo_driver_machine **)out, &call->diag);
    if (bootstrap) {
        memset(bootstrap, 0, strlen(bootstrap)); /* it holds the machine's key */
        free(bootstrap);
    }
    return rc;
}

/* ---- status ------------------------------------------------------------------------- */

static void addresses_clear(Kumo__V1alpha1__MachineStatus *s)
{
    for (size_t i = 0; i < s->n_addresses; i++)
        protobuf_c_message_free_unpacked(&s->addresses[i]->base, NULL);
    free(s->addresses);
    s->addresses = NULL;
    s->n_addresses = 0;
}

static void address_add(Kumo__V1alpha1__MachineStatus *s, Kumo__V1alpha1__MachineAddress__Type type,
                        const char *address)
{
    if (address == NULL || address[0] == '\0')
        return;
    Kumo__V1alpha1__MachineAddress **grown =
        realloc(s->addresses, (s->n_addresses + 1) * sizeof(*grown));
    if (grown == NULL)
        return;
    s->addresses = grown;
    Kumo__V1alpha1__MachineAddress *a = malloc(sizeof(*a));
    if (a == NULL)
        return;
    kumo__v1alpha1__machine_address__init(a);
    a->type = type;
    if (kumo_codec_string_set(&a->address, address) != KUMO_ERROR_OK) {
        free(a);
        return;
    }
    s->addresses[s->n_addresses++] = a;
}

/* Replaces the addresses only when they differ (keeps status byte-stable). */
static void addresses_set(Kumo__V1alpha1__MachineStatus *s, const char *private_ip,
                          const char *public_ip)
{
    const char *want[2] = {private_ip && private_ip[0] ? private_ip : NULL,
                           public_ip && public_ip[0] ? public_ip : NULL};
    size_t n = (want[0] != NULL) + (want[1] != NULL), k = 0;
    int same = s->n_addresses == n;
    for (int i = 0; same && i < 2; i++)
        if (want[i])
            same = strcmp(s->addresses[k++]->address, want[i]) == 0;
    if (same)
        return;
    addresses_clear(s);
    address_add(s, KUMO__V1ALPHA1__MACHINE_ADDRESS__TYPE__InternalIP, private_ip);
    address_add(s, KUMO__V1ALPHA1__MACHINE_ADDRESS__TYPE__ExternalIP, public_ip);
}

static Kumo__V1alpha1__MachineStatus *status_of(resource_run *run)
{
    return (Kumo__V1alpha1__MachineStatus *)kumo_meta_status_ensure(run->object);
}

static void clear(resource_run *run, const char *phase_word)
{
    Kumo__V1alpha1__MachineStatus *s = status_of(run);
    if (s == NULL)
        return;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
        &kumo__v1alpha1__machine_status__phase__descriptor, phase_word);
    s->phase = v ? (Kumo__V1alpha1__MachineStatus__Phase)v->value
                 : KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Failed;
    kumo_codec_string_set(&s->provider_state, "");
    addresses_clear(s);
    s->cost_per_hour = 0;
}

static resource_life apply(resource_ctl *ctl, resource_run *run, const void *observed)
{
    (void)ctl;
    const struct kumo_driver_machine *vm = observed;
    Kumo__V1alpha1__MachineStatus *s = status_of(run);
    if (s == NULL)
        return LIFE_PENDING;
    resource_life life;
    Kumo__V1alpha1__MachineStatus__Phase phase;
    const char *reason, *message;
    switch (vm->phase) {
    case KUMO_DRIVER_MACHINE_RUNNING:
        phase = KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Running;
        life = LIFE_READY;
        reason = "Running";
        message = "the machine is running";
        break;
    case KUMO_DRIVER_MACHINE_STOPPING:
    case KUMO_DRIVER_MACHINE_STOPPED:
        phase = vm->phase == KUMO_DRIVER_MACHINE_STOPPED
                    ? KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Stopped
                    : KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Stopping;
        life = LIFE_STOPPED;
        reason = "Stopped";
        message = "the machine is stopped";
        break;
    case KUMO_DRIVER_MACHINE_TERMINATING:
    case KUMO_DRIVER_MACHINE_TERMINATED:
        phase = vm->phase == KUMO_DRIVER_MACHINE_TERMINATED
                    ? KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Terminated
                    : KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Terminating;
        life = LIFE_GONE;
        reason = "Terminated";
        message = "the machine is being deleted";
        break;
    default:
        phase = KUMO__V1ALPHA1__MACHINE_STATUS__PHASE__Provisioning;
        life = LIFE_PENDING;
        reason = "Provisioning";
        message = "the machine is booting";
        break;
    }
    if (kumo_meta_deleting(run->object))
        return life; /* only the life matters while deleting */
    s->phase = phase;
    resource_provider_id_set(run->object, vm->provider_id);
    kumo_codec_string_set(&s->provider_state, vm->provider_state);
    kumo_codec_string_set(&s->region, vm->region);
    kumo_codec_string_set(&s->zone, vm->zone);
    kumo_codec_string_set(&s->currency, vm->currency);
    s->cost_per_hour = life == LIFE_GONE ? 0 : vm->price_per_hour;
    addresses_set(s, vm->private_ip, vm->public_ip);
    if (life == LIFE_READY && vm->launch_ns > 0) {
        if (s->boot_time == NULL && (s->boot_time = malloc(sizeof(*s->boot_time))) != NULL)
            kumo__v1alpha1__time__init(s->boot_time);
        if (s->boot_time) {
            s->boot_time->seconds = vm->launch_ns / 1000000000;
            s->boot_time->nanos = 0;
        }
    }
    resource_ready(run->object, life == LIFE_READY, reason, "%s", message);
    return life;
}

static resource_drift_action drift(resource_run *run, resource_life life)
{
    const machine *m = (const machine *)run->object;
    switch (m->spec->drift_policy) {
    case KUMO__V1ALPHA1__MACHINE_SPEC__DRIFT_POLICY__Ignore:
        return DRIFT_REPORT;
    case KUMO__V1ALPHA1__MACHINE_SPEC__DRIFT_POLICY__Restart:
        return life == LIFE_STOPPED ? DRIFT_START : DRIFT_REPLACE;
    default: /* Recreate */
        return DRIFT_REPLACE;
    }
}

const resource_class infra_machine_class = {
    .name = "machine",
    .kind = "Machine",
    .observe = observe,
    .create = create,
    .remove = remove_machine,
    .prepare = prepare,
    .prepared_free = prepared_free,
    .apply = apply,
    .update = NULL,
    .drift = drift,
    .start = start,
    .clear = clear,
    .needs_networks = 1,
    .needs_security_groups = 1,
    .needs_key_pairs = 1,
    .has_phase = 1,
};
