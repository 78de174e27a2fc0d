/*
 * infra_shared.c - what the Infra controller writes besides Machines: the
 * per-connection Network, SecurityGroup and KeyPair "<infra>-<connection>"
 * (owned by the Infra; the SecurityGroup's rules are the union of the rules
 * of the groups with Machines there), their removal once no Machine of the
 * Infra is left on a connection, and small object-building helpers.
 *
 * Cost per reconcile: for each connection in use, three cache reads and,
 * only when something differs, one write.
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"

int infra_set_string(char **slot, const char *value)
{
    return kumo_codec_string_set(slot, value) == KUMO_ERROR_OK ? 0 : -1;
}

Kumo__V1alpha1__LocalObjectReference *infra_local_ref(const char *name)
{
    Kumo__V1alpha1__LocalObjectReference *r = malloc(sizeof(*r));
    if (r == NULL)
        return NULL;
    kumo__v1alpha1__local_object_reference__init(r);
    if (infra_set_string(&r->name, name) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void infra_shared_name(const infra_run *run, const char *connection, char *buf, size_t size)
{
    snprintf(buf, size, "%s-%s", run->infra->metadata->name, connection);
}

int infra_owned_meta(const infra_run *run, ProtobufCMessage *object, const char *name)
{
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta_ensure(object);
    return m == NULL || infra_set_string(&m->name, name) ||
                   infra_set_string(&m->namespace_, run->ns) ||
                   kumo_meta_owner_set(object, run->object) < 0 ||
                   kumo_meta_label_set(object, KUMO_INFRA_LABEL_INFRA, run->infra->metadata->name) <
                       0
               ? -1
               : 0;
}

void infra_object_delete(kumo_client *client, const char *kind, const char *ns, const char *name,
                         const char *uid)
{
    kumo_client_delete_options o = {.uid = uid};
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e =
        kumo_client_delete(client, kumo_object_kind_lookup(kind), ns, name, &o, NULL, &diag);
    if (e != KUMO_ERROR_OK && e != KUMO_ERROR_NOT_FOUND && e != KUMO_ERROR_CONFLICT)
        KUMO_LOG_WARN("controller", "cannot delete",
                      "controller=infra kind=%s name=%s error=%s detail=\"%s\"", kind, name,
                      kumo_error_name(e), diag.message);
    kumo_diag_fini(&diag);
}

/* ---- the run's string arena -------------------------------------------------------- */

const char *infra_intern(infra_run *run, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    infra_arena_chunk *c = run->arena;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        infra_arena_chunk *fresh = malloc(sizeof(*fresh) + cap);
        if (fresh == NULL)
            return "";
        fresh->next = c;
        fresh->used = 0;
        fresh->cap = cap;
        run->arena = c = fresh;
    }
    char *out = c->data + c->used;
    memcpy(out, s ? s : "", n);
    c->used += n;
    return out;
}

void infra_arena_free(infra_run *run)
{
    while (run->arena) {
        infra_arena_chunk *next = run->arena->next;
        free(run->arena);
        run->arena = next;
    }
}

/* ---- usage ------------------------------------------------------------------------- */

int infra_usage_add(infra_run *run, const char *connection, int group)
{
    size_t i = 0;
    while (i < run->usage_count && strcmp(run->usage[i].connection, connection) != 0)
        i++;
    if (i == run->usage_count) {
        if (run->usage_count == run->usage_cap) {
            size_t cap = run->usage_cap ? run->usage_cap * 2 : 16;
            infra_usage *grown = realloc(run->usage, cap * sizeof(*grown));
            if (grown == NULL)
                return -1;
            run->usage = grown;
            run->usage_cap = cap;
        }
        size_t n_groups = run->infra->spec->n_groups;
        infra_usage *u = &run->usage[run->usage_count];
        snprintf(u->connection, sizeof(u->connection), "%s", connection);
        if ((u->groups = calloc(n_groups + 1, 1)) == NULL)
            return -1;
        run->usage_count++;
    }
    if (group >= 0)
        run->usage[i].groups[group] = 1;
    return 0;
}

void infra_usage_free(infra_run *run)
{
    for (size_t i = 0; i < run->usage_count; i++)
        free(run->usage[i].groups);
    free(run->usage);
    run->usage = NULL;
    run->usage_count = run->usage_cap = 0;
}

/* ---- desired shared objects --------------------------------------------------------- */

static int rule_equal(const Kumo__V1alpha1__SecurityRule *a, const Kumo__V1alpha1__SecurityRule *b)
{
    return a->direction == b->direction && a->protocol == b->protocol &&
           a->from_port == b->from_port && a->to_port == b->to_port &&
           strcmp(a->cidr, b->cidr) == 0 && strcmp(a->description, b->description) == 0;
}

/* The union of the security rules of the groups using the connection (clones). */
static Kumo__V1alpha1__SecurityRule **rules_for(const infra_run *run, const infra_usage *u,
                                                size_t *count_out)
{
    size_t cap = 0, n = 0;
    for (size_t g = 0; g < run->infra->spec->n_groups; g++)
        cap += run->infra->spec->groups[g]->n_security_rules;
    Kumo__V1alpha1__SecurityRule **rules = calloc(cap + 1, sizeof(*rules));
    for (size_t g = 0; rules && g < run->infra->spec->n_groups; g++) {
        const Kumo__V1alpha1__NodeGroup *grp = run->infra->spec->groups[g];
        for (size_t r = 0; u->groups[g] && r < grp->n_security_rules; r++) {
            int dup = 0;
            for (size_t k = 0; k < n && !dup; k++)
                dup = rule_equal(rules[k], grp->security_rules[r]);
            if (!dup && (rules[n] = (Kumo__V1alpha1__SecurityRule *)kumo_codec_message_clone(
                             &grp->security_rules[r]->base)) != NULL)
                n++;
        }
    }
    *count_out = n;
    return rules;
}

static int rules_equal(Kumo__V1alpha1__SecurityRule *const *a, size_t na,
                       Kumo__V1alpha1__SecurityRule *const *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!rule_equal(a[i], b[i]))
            return 0;
    return 1;
}

void infra_child_error_note(const infra_run *run, const char *kind, const char *name, kumo_error e,
                            const kumo_diag *diag)
{
    KUMO_LOG_WARN("controller", "cannot write a child object",
                  "controller=infra name=%s kind=%s error=%s detail=\"%s\"", name, kind,
                  kumo_error_name(e), diag->message);
    infra_child_error *c = run->child_error;
    if (c == NULL || c->reason[0])
        return;
    snprintf(c->reason, sizeof(c->reason), "%s",
             e == KUMO_ERROR_INVALID ? "InvalidChild" : "ChildWriteFailed");
    snprintf(c->message, sizeof(c->message), "cannot write %s \"%.200s\": %.400s", kind, name,
             diag->message);
}

/* Creates `object` when absent; updates a SecurityGroup's rules when they differ. Consumes. */
static void shared_apply(const infra_shared_env *env, kumo_informer *informer, const infra_run *run,
                         ProtobufCMessage *object)
{
    ProtobufCMessage *have = kumo_informer_get(informer, run->ns, kumo_object_name(object));
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error e = KUMO_ERROR_OK;
    if (have == NULL) {
        e = kumo_client_create(env->client, object, NULL, &diag);
    } else if (!kumo_meta_deleting(have) &&
               object->descriptor == &kumo__v1alpha1__security_group__descriptor) {
        Kumo__V1alpha1__SecurityGroupSpec *a = ((Kumo__V1alpha1__SecurityGroup *)have)->spec;
        const Kumo__V1alpha1__SecurityGroupSpec *b =
            ((const Kumo__V1alpha1__SecurityGroup *)object)->spec;
        if (a && !rules_equal(a->rules, a->n_rules, b->rules, b->n_rules)) {
            ProtobufCMessage *spec = kumo_codec_message_clone(&b->base);
            kumo_object_spec_replace(have, &spec);
            kumo_object_destroy(spec);
            e = kumo_client_update(env->client, have, NULL, &diag);
        }
    }
    if (e != KUMO_ERROR_OK && e != KUMO_ERROR_ALREADY_EXISTS && e != KUMO_ERROR_CONFLICT)
        infra_child_error_note(run, object->descriptor->short_name, kumo_object_name(object), e,
                               &diag);
    kumo_diag_fini(&diag);
    kumo_object_destroy(have);
    kumo_object_destroy(object);
}

static ProtobufCMessage *owned_new(const infra_run *run, const char *kind, const char *name)
{
    ProtobufCMessage *o = kumo_object_new(kumo_object_kind_lookup(kind));
    if (o && infra_owned_meta(run, o, name) != 0) {
        kumo_object_destroy(o);
        o = NULL;
    }
    return o;
}

/* 10.N.0.0/16, N in 16..239 from the connection's name (FNV-1a): one per connection. */
static const char *infra_default_cidr(const char *connection, char *buf, size_t size)
{
    uint32_t h = 2166136261u;
    for (const char *p = connection; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    snprintf(buf, size, "10.%u.0.0/16", 16 + h % 224);
    return buf;
}

void infra_shared_ensure(const infra_shared_env *env, const infra_run *run, const infra_usage *u)
{
    char name[600];
    infra_shared_name(run, u->connection, name, sizeof(name));
    const Kumo__V1alpha1__InfraSpec *is = run->infra->spec;
    char derived[32];
    const char *cidr = is->network_cidr && is->network_cidr[0]
                           ? is->network_cidr
                           : infra_default_cidr(u->connection, derived, sizeof(derived));

    Kumo__V1alpha1__Network *n = (Kumo__V1alpha1__Network *)owned_new(run, "Network", name);
    if (n && (n->spec = malloc(sizeof(*n->spec))) != NULL) {
        kumo__v1alpha1__network_spec__init(n->spec);
        infra_set_string(&n->spec->connection, u->connection);
        infra_set_string(&n->spec->cidr, cidr);
        Kumo__V1alpha1__Subnet *sub = malloc(sizeof(*sub));
        if (sub && (n->spec->subnets = malloc(sizeof(*n->spec->subnets))) != NULL) {
            kumo__v1alpha1__subnet__init(sub);
            infra_set_string(&sub->name, "main");
            infra_set_string(&sub->cidr, cidr);
            n->spec->subnets[0] = sub;
            n->spec->n_subnets = 1;
        } else {
            free(sub);
        }
    }
    if (n)
        shared_apply(env, env->networks, run, &n->base);

    Kumo__V1alpha1__SecurityGroup *sg =
        (Kumo__V1alpha1__SecurityGroup *)owned_new(run, "SecurityGroup", name);
    if (sg && (sg->spec = malloc(sizeof(*sg->spec))) != NULL) {
        kumo__v1alpha1__security_group_spec__init(sg->spec);
        infra_set_string(&sg->spec->connection, u->connection);
        sg->spec->network_ref = infra_local_ref(name);
        sg->spec->rules = rules_for(run, u, &sg->spec->n_rules);
    }
    if (sg)
        shared_apply(env, env->security_groups, run, &sg->base);

    Kumo__V1alpha1__KeyPair *kp = (Kumo__V1alpha1__KeyPair *)owned_new(run, "KeyPair", name);
    if (kp && (kp->spec = malloc(sizeof(*kp->spec))) != NULL) {
        kumo__v1alpha1__key_pair_spec__init(kp->spec);
        infra_set_string(&kp->spec->connection, u->connection);
        infra_set_string(&kp->spec->public_key, is->ssh_public_key);
    }
    if (kp)
        shared_apply(env, env->key_pairs, run, &kp->base);
}

void infra_shared_prune(const infra_shared_env *env, const infra_run *run)
{
    kumo_informer *informers[3] = {env->key_pairs, env->security_groups, env->networks};
    const char *kinds[3] = {"KeyPair", "SecurityGroup", "Network"};
    size_t ns_len = strlen(run->ns);
    for (int k = 0; k < 3; k++) {
        size_t count = 0;
        char **keys = kumo_informer_index_keys(informers[k], KUMO_INFORMER_INDEX_OWNER,
                                               run->infra->metadata->uid, &count);
        for (size_t i = 0; keys && i < count; i++) {
            if (strncmp(keys[i], run->ns, ns_len) != 0 || keys[i][ns_len] != '/')
                continue;
            ProtobufCMessage *o = kumo_informer_get(informers[k], run->ns, keys[i] + ns_len + 1);
            if (o == NULL)
                continue;
            const ProtobufCMessage *spec = kumo_object_spec(o);
            const ProtobufCFieldDescriptor *f =
                spec ? protobuf_c_message_descriptor_get_field_by_name(spec->descriptor,
                                                                       "connection")
                     : NULL;
            const char *connection =
                f ? *(const char *const *)((const char *)spec + f->offset) : "";
            int used = 0;
            for (size_t u = 0; u < run->usage_count && !used; u++)
                used = strcmp(run->usage[u].connection, connection) == 0;
            if (!used && !kumo_meta_deleting(o))
                infra_object_delete(env->client, kinds[k], run->ns, kumo_object_name(o),
                                    kumo_object_meta(o)->uid);
            kumo_object_destroy(o);
        }
        kumo_informer_keys_free(keys, count);
    }
}
