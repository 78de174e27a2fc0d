/*
 * network.c - the Network, SecurityGroup and KeyPair classes of resource.c.
 *
 * All three exist or not (no phases). Networks and security groups apply
 * spec changes in place (subnets, rules); key pairs are immutable. A KeyPair
 * without spec.publicKey gets a generated ed25519 pair: the private key goes
 * to a Credential "<keypair>-ssh" (type ssh, key privateKey) owned by the
 * KeyPair, the public key to status.publicKey, both written before the
 * cloud is asked to import it, so a crash never imports a key whose private
 * half was lost.
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"

static kumo_driver_code no_start(infra_call *call, const struct kumo_driver_ref *ref, void **out)
{
    (void)call;
    (void)ref;
    *out = NULL;
    return KUMO_DRIVER_UNSUPPORTED;
}

/* The default zone: the Connection's spec.zone ("" when none). */
static const char *connection_zone(const resource_run *run)
{
    const Kumo__V1alpha1__Connection *c = (const Kumo__V1alpha1__Connection *)run->connection;
    return c && c->spec && c->spec->zone ? c->spec->zone : "";
}

/* ---- Network --------------------------------------------------------------------------- */

typedef struct prepared_network {
    struct kumo_driver_network_spec spec;
    struct kumo_driver_subnet *subnets;
} prepared_network;

static void network_prepared_free(void *p)
{
    prepared_network *pn = p;
    if (pn) {
        free(pn->subnets);
        free(pn);
    }
}

/* The spec's subnets as driver subnets (borrowing the object's strings). */
static struct kumo_driver_subnet *network_subnets(const resource_run *run, size_t *count)
{
    const Kumo__V1alpha1__NetworkSpec *spec = ((const Kumo__V1alpha1__Network *)run->object)->spec;
    *count = spec->n_subnets;
    struct kumo_driver_subnet *subnets = calloc(spec->n_subnets + 1, sizeof(*subnets));
    for (size_t i = 0; subnets && i < spec->n_subnets; i++) {
        subnets[i].name = spec->subnets[i]->name;
        subnets[i].cidr = spec->subnets[i]->cidr;
        subnets[i].zone = spec->subnets[i]->zone[0] ? spec->subnets[i]->zone : connection_zone(run);
    }
    return subnets;
}

static int network_prepare(resource_ctl *ctl, resource_run *run, void **out, kumo_diag *why)
{
    (void)ctl;
    (void)why;
    const Kumo__V1alpha1__Network *n = (const Kumo__V1alpha1__Network *)run->object;
    prepared_network *pn = calloc(1, sizeof(*pn));
    size_t count = 0;
    if (pn == NULL || (pn->subnets = network_subnets(run, &count)) == NULL) {
        network_prepared_free(pn);
        return PREPARE_ERROR;
    }
    pn->spec.struct_size = sizeof(pn->spec);
    pn->spec.name = n->metadata->name;
    pn->spec.cidr = n->spec->cidr;
    pn->spec.subnets = pn->subnets;
    pn->spec.subnet_count = count;
    *out = pn;
    return PREPARE_OK;
}

static kumo_driver_code network_observe(infra_call *call, const struct kumo_driver_ref *ref,
                                        void **out)
{
    return call->driver->network_observe(call->handle, ref, call->deadline_ns,
                                         (struct kumo_driver_network **)out, &call->diag);
}

static kumo_driver_code network_create(infra_call *call, const void *prepared, const char *token,
                                       void **out)
{
    const prepared_network *pn = prepared;
    return call->driver->network_create(call->handle, &pn->spec, token, call->deadline_ns,
                                        (struct kumo_driver_network **)out, &call->diag);
}

static kumo_driver_code network_remove(infra_call *call, const struct kumo_driver_ref *ref)
{
    return call->driver->network_delete(call->handle, ref, call->deadline_ns, &call->diag);
}

static kumo_driver_code network_update(infra_call *call, resource_run *run, const void *observed,
                                       void **out)
{
    const struct kumo_driver_network *seen = observed;
    size_t count = 0;
    struct kumo_driver_subnet *subnets = network_subnets(run, &count);
    if (subnets == NULL)
        return KUMO_DRIVER_NOMEM;
    struct kumo_driver_network_update u;
    memset(&u, 0, sizeof(u));
    u.struct_size = sizeof(u);
    u.fields = KUMO_DRIVER_NETWORK_SET_SUBNETS;
    u.subnets = subnets;
    u.subnet_count = count;
    struct kumo_driver_ref ref = {seen->provider_id, ""};
    kumo_driver_code rc = call->driver->network_update(
        call->handle, &ref, &u, call->deadline_ns, (struct kumo_driver_network **)out, &call->diag);
    free(subnets);
    return rc;
}

static resource_life network_apply(resource_ctl *ctl, resource_run *run, const void *observed)
{
    (void)ctl;
    const struct kumo_driver_network *seen = observed;
    if (kumo_meta_deleting(run->object))
        return LIFE_READY;
    Kumo__V1alpha1__NetworkStatus *s =
        (Kumo__V1alpha1__NetworkStatus *)kumo_meta_status_ensure(run->object);
    if (s == NULL)
        return LIFE_READY;
    resource_provider_id_set(run->object, seen->provider_id);
    kumo_codec_string_set(&s->state, seen->state);
    int same = s->n_subnets == seen->subnet_count;
    for (size_t i = 0; same && i < seen->subnet_count; i++)
        same = strcmp(s->subnets[i]->name, seen->subnets[i].name) == 0 &&
               strcmp(s->subnets[i]->provider_id, seen->subnets[i].provider_id) == 0;
    if (!same) {
        for (size_t i = 0; i < s->n_subnets; i++)
            protobuf_c_message_free_unpacked(&s->subnets[i]->base, NULL);
        free(s->subnets);
        s->n_subnets = 0;
        s->subnets = calloc(seen->subnet_count + 1, sizeof(*s->subnets));
        for (size_t i = 0; s->subnets && i < seen->subnet_count; i++) {
            Kumo__V1alpha1__SubnetStatus *st = malloc(sizeof(*st));
            if (st == NULL)
                break;
            kumo__v1alpha1__subnet_status__init(st);
            kumo_codec_string_set(&st->name, seen->subnets[i].name);
            kumo_codec_string_set(&st->provider_id, seen->subnets[i].provider_id);
            s->subnets[s->n_subnets++] = st;
        }
    }
    resource_ready(run->object, 1, "Available", "network %s is %s", seen->provider_id, seen->state);
    return LIFE_READY;
}

const resource_class infra_network_class = {
    .name = "network",
    .kind = "Network",
    .observe = network_observe,
    .create = network_create,
    .remove = network_remove,
    .prepare = network_prepare,
    .prepared_free = network_prepared_free,
    .apply = network_apply,
    .update = network_update,
    .start = no_start,
};

/* ---- SecurityGroup -------------------------------------------------------------------- */

typedef struct prepared_security_group {
    struct kumo_driver_security_group_spec spec;
    struct kumo_driver_rule *rules;
    char network_id[128];
} prepared_security_group;

static void security_group_prepared_free(void *p)
{
    prepared_security_group *ps = p;
    if (ps) {
        free(ps->rules);
        free(ps);
    }
}

static struct kumo_driver_rule *security_rules(const Kumo__V1alpha1__SecurityGroupSpec *spec)
{
    struct kumo_driver_rule *rules = calloc(spec->n_rules + 1, sizeof(*rules));
    for (size_t i = 0; rules && i < spec->n_rules; i++) {
        const Kumo__V1alpha1__SecurityRule *r = spec->rules[i];
        /* The proto enums and the driver's share their numbers; 0 is the default. */
        rules[i].direction = r->direction ? (int32_t)r->direction : KUMO_DRIVER_INBOUND;
        rules[i].protocol = r->protocol ? (int32_t)r->protocol : KUMO_DRIVER_TCP;
        rules[i].from_port = r->from_port;
        rules[i].to_port = r->to_port ? r->to_port : r->from_port;
        rules[i].cidr = r->cidr[0] ? r->cidr : "0.0.0.0/0";
        rules[i].description = r->description;
    }
    return rules;
}

static int security_group_prepare(resource_ctl *ctl, resource_run *run, void **out, kumo_diag *why)
{
    const Kumo__V1alpha1__SecurityGroup *sg = (const Kumo__V1alpha1__SecurityGroup *)run->object;
    prepared_security_group *ps = calloc(1, sizeof(*ps));
    if (ps == NULL || (ps->rules = security_rules(sg->spec)) == NULL) {
        security_group_prepared_free(ps);
        return PREPARE_ERROR;
    }
    ps->spec.struct_size = sizeof(ps->spec);
    ps->spec.name = sg->metadata->name;
    ps->spec.rules = ps->rules;
    ps->spec.rule_count = sg->spec->n_rules;
    if (sg->spec->network_ref && sg->spec->network_ref->name[0]) {
        ProtobufCMessage *net =
            resource_lookup(ctl->networks, run->ns, sg->spec->network_ref->name);
        const char *pid = net ? resource_provider_id(net) : "";
        if (pid[0] == '\0' || kumo_meta_deleting(net)) {
            kumo_diag_set(why, KUMO_ERROR_UNAVAILABLE, "Network \"%s\" is not %s",
                          sg->spec->network_ref->name, net ? "ready yet" : "found");
            kumo_object_destroy(net);
            security_group_prepared_free(ps);
            return PREPARE_WAIT;
        }
        snprintf(ps->network_id, sizeof(ps->network_id), "%s", pid);
        ps->spec.network_id = ps->network_id;
        kumo_object_destroy(net);
    }
    *out = ps;
    return PREPARE_OK;
}

static kumo_driver_code security_group_observe(infra_call *call, const struct kumo_driver_ref *ref,
                                               void **out)
{
    return call->driver->security_group_observe(call->handle, ref, call->deadline_ns,
                                                (struct kumo_driver_security_group **)out,
                                                &call->diag);
}

static kumo_driver_code security_group_create(infra_call *call, const void *prepared,
                                              const char *token, void **out)
{
    const prepared_security_group *ps = prepared;
    return call->driver->security_group_create(call->handle, &ps->spec, token, call->deadline_ns,
                                               (struct kumo_driver_security_group **)out,
                                               &call->diag);
}

static kumo_driver_code security_group_remove(infra_call *call, const struct kumo_driver_ref *ref)
{
    return call->driver->security_group_delete(call->handle, ref, call->deadline_ns, &call->diag);
}

static kumo_driver_code security_group_update(infra_call *call, resource_run *run,
                                              const void *observed, void **out)
{
    const struct kumo_driver_security_group *seen = observed;
    const Kumo__V1alpha1__SecurityGroup *sg = (const Kumo__V1alpha1__SecurityGroup *)run->object;
    struct kumo_driver_rule *rules = security_rules(sg->spec);
    if (rules == NULL)
        return KUMO_DRIVER_NOMEM;
    struct kumo_driver_security_group_update u;
    memset(&u, 0, sizeof(u));
    u.struct_size = sizeof(u);
    u.fields = KUMO_DRIVER_SECURITY_GROUP_SET_RULES;
    u.rules = rules;
    u.rule_count = sg->spec->n_rules;
    struct kumo_driver_ref ref = {seen->provider_id, ""};
    kumo_driver_code rc =
        call->driver->security_group_update(call->handle, &ref, &u, call->deadline_ns,
                                            (struct kumo_driver_security_group **)out, &call->diag);
    free(rules);
    return rc;
}

static resource_life security_group_apply(resource_ctl *ctl, resource_run *run,
                                          const void *observed)
{
    (void)ctl;
    const struct kumo_driver_security_group *seen = observed;
    if (kumo_meta_deleting(run->object))
        return LIFE_READY;
    resource_provider_id_set(run->object, seen->provider_id);
    resource_ready(run->object, 1, "Available", "security group %s with %zu rules",
                   seen->provider_id, seen->rule_count);
    return LIFE_READY;
}

const resource_class infra_security_group_class = {
    .name = "securitygroup",
    .kind = "SecurityGroup",
    .observe = security_group_observe,
    .create = security_group_create,
    .remove = security_group_remove,
    .prepare = security_group_prepare,
    .prepared_free = security_group_prepared_free,
    .apply = security_group_apply,
    .update = security_group_update,
    .start = no_start,
    .needs_networks = 1,
};

/* ---- KeyPair ------------------------------------------------------------------------ */

typedef struct prepared_key_pair {
    struct kumo_driver_key_pair_spec spec;
    char *public_key;
} prepared_key_pair;

static void key_pair_prepared_free(void *p)
{
    prepared_key_pair *pk = p;
    if (pk) {
        free(pk->public_key);
        free(pk);
    }
}

/* Writes the generated private key into Credential "<keypair>-ssh", owned by the KeyPair. */
static kumo_error store_private_key(resource_ctl *ctl, resource_run *run, const char *secret_name,
                                    const char *public_key, const char *private_key,
                                    kumo_diag *diag)
{
    ProtobufCMessage *object = kumo_object_new(kumo_object_kind_lookup("Credential"));
    Kumo__V1alpha1__Credential *cred = (Kumo__V1alpha1__Credential *)object;
    kumo_error e = KUMO_ERROR_NOMEM;
    Kumo__V1alpha1__ObjectMeta *m = object ? kumo_object_meta_ensure(object) : NULL;
    if (m && kumo_codec_string_set(&m->name, secret_name) == KUMO_ERROR_OK &&
        kumo_codec_string_set(&m->namespace_, run->ns) == KUMO_ERROR_OK &&
        kumo_meta_owner_set(object, run->object) >= 0 &&
        (cred->spec = malloc(sizeof(*cred->spec))) != NULL) {
        kumo__v1alpha1__credential_spec__init(cred->spec);
        cred->spec->data = calloc(2, sizeof(*cred->spec->data));
        e = kumo_codec_string_set(&cred->spec->type, "ssh");
        const char *keys[2] = {"privateKey", "publicKey"};
        const char *values[2] = {private_key, public_key};
        for (int i = 0; e == KUMO_ERROR_OK && i < 2; i++) {
            Kumo__V1alpha1__CredentialSpec__DataEntry *d =
                cred->spec->data ? malloc(sizeof(*d)) : NULL;
            if (d == NULL) {
                e = KUMO_ERROR_NOMEM;
                break;
            }
            kumo__v1alpha1__credential_spec__data_entry__init(d);
            cred->spec->data[cred->spec->n_data++] = d;
            if (kumo_codec_string_set(&d->key, keys[i]) != KUMO_ERROR_OK ||
                kumo_codec_string_set(&d->value, values[i]) != KUMO_ERROR_OK)
                e = KUMO_ERROR_NOMEM;
        }
    }
    if (e == KUMO_ERROR_OK)
        e = kumo_client_apply(ctl->env.client, object, NULL, NULL, diag);
    kumo_object_destroy(object);
    return e;
}

static int key_pair_prepare(resource_ctl *ctl, resource_run *run, void **out, kumo_diag *why)
{
    Kumo__V1alpha1__KeyPair *kp = (Kumo__V1alpha1__KeyPair *)run->object;
    const char *key = kp->spec->public_key;
    if (key[0] == '\0' && kp->status && kp->status->public_key[0])
        key = kp->status->public_key; /* generated by an earlier pass */
    if (key[0] == '\0') {
        char *public_key = NULL, *private_key = NULL, secret[300], comment[400];
        snprintf(secret, sizeof(secret), "%s-ssh", kp->metadata->name);
        snprintf(comment, sizeof(comment), "kumo:%s/%s", run->ns, kp->metadata->name);
        if (infra_keygen_ed25519(comment, &public_key, &private_key) != 0) {
            kumo_diag_set(why, KUMO_ERROR_INTERNAL, "cannot generate an ed25519 key pair");
            return PREPARE_ERROR;
        }
        kumo_diag diag;
        kumo_diag_init(&diag);
        kumo_error e = store_private_key(ctl, run, secret, public_key, private_key, &diag);
        for (volatile char *p = private_key; *p; p++)
            *p = 0;
        free(private_key);
        if (e == KUMO_ERROR_OK) {
            Kumo__V1alpha1__KeyPairStatus *s =
                (Kumo__V1alpha1__KeyPairStatus *)kumo_meta_status_ensure(run->object);
            if (s && kumo_codec_string_set(&s->public_key, public_key) == KUMO_ERROR_OK &&
                (s->private_key_ref ||
                 (s->private_key_ref = malloc(sizeof(*s->private_key_ref))) != NULL)) {
                kumo__v1alpha1__local_object_reference__init(s->private_key_ref);
                kumo_codec_string_set(&s->private_key_ref->name, secret);
                e = resource_write_status(run);
            } else {
                e = KUMO_ERROR_NOMEM;
            }
        } else {
            KUMO_LOG_WARN("controller", "cannot store a generated private key",
                          "key=%s error=%s detail=\"%s\"", run->key, kumo_error_name(e),
                          diag.message);
        }
        kumo_diag_fini(&diag);
        free(public_key);
        if (e != KUMO_ERROR_OK) {
            kumo_diag_set(why, e, "cannot store the generated key: %s", kumo_error_name(e));
            return PREPARE_ERROR;
        }
        kp = (Kumo__V1alpha1__KeyPair *)run->object;
        key = kp->status->public_key;
    }
    prepared_key_pair *pk = calloc(1, sizeof(*pk));
    if (pk == NULL || (pk->public_key = strdup(key)) == NULL) {
        key_pair_prepared_free(pk);
        return PREPARE_ERROR;
    }
    pk->spec.struct_size = sizeof(pk->spec);
    pk->spec.name = kp->metadata->name;
    pk->spec.public_key = pk->public_key;
    *out = pk;
    return PREPARE_OK;
}

static kumo_driver_code key_pair_observe(infra_call *call, const struct kumo_driver_ref *ref,
                                         void **out)
{
    return call->driver->key_pair_observe(call->handle, ref, call->deadline_ns,
                                          (struct kumo_driver_key_pair **)out, &call->diag);
}

static kumo_driver_code key_pair_create(infra_call *call, const void *prepared, const char *token,
                                        void **out)
{
    const prepared_key_pair *pk = prepared;
    return call->driver->key_pair_create(call->handle, &pk->spec, token, call->deadline_ns,
                                         (struct kumo_driver_key_pair **)out, &call->diag);
}

static kumo_driver_code key_pair_remove(infra_call *call, const struct kumo_driver_ref *ref)
{
    return call->driver->key_pair_delete(call->handle, ref, call->deadline_ns, &call->diag);
}

static resource_life key_pair_apply(resource_ctl *ctl, resource_run *run, const void *observed)
{
    (void)ctl;
    const struct kumo_driver_key_pair *seen = observed;
    if (kumo_meta_deleting(run->object))
        return LIFE_READY;
    Kumo__V1alpha1__KeyPairStatus *s =
        (Kumo__V1alpha1__KeyPairStatus *)kumo_meta_status_ensure(run->object);
    if (s == NULL)
        return LIFE_READY;
    resource_provider_id_set(run->object, seen->provider_id);
    kumo_codec_string_set(&s->fingerprint, seen->fingerprint);
    kumo_codec_string_set(&s->public_key, seen->public_key);
    resource_ready(run->object, 1, "Available", "key pair %s imported", seen->provider_id);
    return LIFE_READY;
}

const resource_class infra_key_pair_class = {
    .name = "keypair",
    .kind = "KeyPair",
    .observe = key_pair_observe,
    .create = key_pair_create,
    .remove = key_pair_remove,
    .prepare = key_pair_prepare,
    .prepared_free = key_pair_prepared_free,
    .apply = key_pair_apply,
    .start = no_start,
};
