/*
 * credential.c - the Credential controller: a Credential cannot disappear
 * while a Connection uses it.
 *
 * Every Credential carries the finalizer kumo.dev/credential-in-use. When a
 * Credential is deleted, the finalizer goes only once no Connection of its
 * namespace names it in spec.credentialRef (terminating Connections count:
 * their users' cloud resources are deleted through them, with these
 * secrets). Meanwhile the Credential's Ready condition says which
 * Connections hold it (DeleteBlocked).
 *
 * Finalizers are written with a merge patch: the cache never holds spec.data
 * (write-only), so an update would erase the secret.
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"

/* A Credential in use is looked at again this often while being deleted. */
#define CREDENTIAL_IN_USE_RECHECK_MS 5000

typedef struct credential_ctl {
    kumo_infra_env env;
    kumo_controller *controller;
    kumo_informer *connections;
} credential_ctl;

static kumo_controller_result result_of(kumo_controller_outcome outcome, double after_ms)
{
    return (kumo_controller_result){outcome, after_ms};
}

/* The Connections of ns that name `credential`: how many, and the first few in `names`. */
static size_t holders_of(credential_ctl *ctl, const char *ns, const char *credential, char *names,
                         size_t size)
{
    size_t count = 0, holders = 0, len = 0, ns_len = strlen(ns);
    names[0] = '\0';
    char **keys = ctl->connections ? kumo_informer_keys(ctl->connections, &count) : NULL;
    for (size_t i = 0; keys && i < count; i++) {
        if (strncmp(keys[i], ns, ns_len) != 0 || keys[i][ns_len] != '/')
            continue;
        ProtobufCMessage *o = kumo_informer_get(ctl->connections, ns, keys[i] + ns_len + 1);
        const Kumo__V1alpha1__Connection *c = (const Kumo__V1alpha1__Connection *)o;
        if (c && c->spec && c->spec->credential_ref &&
            strcmp(c->spec->credential_ref->name, credential) == 0) {
            if (holders++ < 3 && len < size)
                len += (size_t)snprintf(names + len, size - len, "%s%s", holders > 1 ? ", " : "",
                                        c->metadata->name);
        }
        kumo_object_destroy(o);
    }
    kumo_informer_keys_free(keys, count);
    if (holders > 3 && len < size)
        snprintf(names + len, size - len, " and %zu more", holders - 3);
    return holders;
}

/* Writes the finalizer list of `object` (as changed) with a merge patch. */
static kumo_error finalizers_patch(credential_ctl *ctl, const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    char patch[1024];
    size_t len = (size_t)snprintf(patch, sizeof(patch),
                                  "{\"metadata\":{\"resourceVersion\":\"%s\","
                                  "\"finalizers\":[",
                                  m->resource_version);
    for (size_t i = 0; i < m->n_finalizers && len < sizeof(patch); i++)
        len += (size_t)snprintf(patch + len, sizeof(patch) - len, "%s\"%s\"", i ? "," : "",
                                m->finalizers[i]);
    if (len + 4 >= sizeof(patch))
        return KUMO_ERROR_TOO_LARGE;
    snprintf(patch + len, sizeof(patch) - len, "]}}");
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_client_patch(ctl->env.client, kumo_object_kind_lookup("Credential"),
                                     m->namespace_, m->name, patch, NULL, &d);
    kumo_diag_fini(&d);
    return e;
}

static kumo_controller_result reconcile(void *context, const char *ns, const char *name)
{
    credential_ctl *ctl = context;
    ProtobufCMessage *object =
        kumo_informer_get(kumo_controller_informer(ctl->controller), ns, name);
    if (object == NULL)
        return result_of(KUMO_CONTROLLER_DONE, 0);
    kumo_controller_result result = result_of(KUMO_CONTROLLER_DONE, 0);
    int changed = 0;
    if (!kumo_meta_deleting(object)) {
        changed = kumo_meta_finalizer_add(object, KUMO_INFRA_CREDENTIAL_IN_USE) > 0;
    } else if (kumo_meta_finalizer_has(object, KUMO_INFRA_CREDENTIAL_IN_USE)) {
        char names[400];
        if (holders_of(ctl, ns, name, names, sizeof(names)) > 0) {
            infra_deletion_held(&ctl->env, object,
                                "held by finalizer " KUMO_INFRA_CREDENTIAL_IN_USE
                                ": Connection %s still uses it; delete it first",
                                names);
            result = result_of(KUMO_CONTROLLER_REQUEUE,
                               CREDENTIAL_IN_USE_RECHECK_MS); /* their deletions enqueue it */
        } else {
            changed = kumo_meta_finalizer_remove(object, KUMO_INFRA_CREDENTIAL_IN_USE) > 0;
        }
    }
    if (changed) {
        kumo_error e = finalizers_patch(ctl, object);
        if (e != KUMO_ERROR_OK && e != KUMO_ERROR_NOT_FOUND)
            result = result_of(KUMO_CONTROLLER_RETRY, 0);
    }
    kumo_object_destroy(object);
    return result;
}

/* A Connection changed: the Credential it names (and, on deletion, is released by it). */
static void map_connection(void *context, kumo_controller *controller,
                           const ProtobufCMessage *connection)
{
    (void)context;
    const Kumo__V1alpha1__Connection *c = (const Kumo__V1alpha1__Connection *)connection;
    if (c->spec && c->spec->credential_ref && c->spec->credential_ref->name[0])
        kumo_controller_enqueue(controller, kumo_object_namespace(connection),
                                c->spec->credential_ref->name);
}

static void credential_ctl_free(void *context)
{
    free(context);
}

kumo_error infra_credential_start(const kumo_infra_env *env, kumo_infra_controller *out,
                                  kumo_diag *diag)
{
    credential_ctl *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    ctl->env = *env;
    out->context = ctl;
    out->context_free = credential_ctl_free;
    kumo_controller_options o = {
        .name = "credential",
        .client = env->client,
        .kind = kumo_object_kind_lookup("Credential"),
        .ns = env->ns,
        .workers = 2,
        .reconcile = reconcile,
        .context = ctl,
        .informers = env->informers,
    };
    const infra_watch watches[1] = {{"Connection", map_connection, &ctl->connections}};
    return infra_controller_run(&o, watches, 1, out, &ctl->controller, diag);
}
