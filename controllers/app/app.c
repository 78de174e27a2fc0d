/*
 * app.c - the App controller's start and stop, and what each change enqueues:
 *
 *   App        itself (the primary kind);
 *   Machine    every App of the Machine's Infra (label kumo.dev/infra); the
 *              Machine's uid -> name and Infra are noted for the agent
 *              documents, and forgotten when the Machine is gone;
 *   Infra      every App that refers to it;
 *   agent      (agents.c) the Apps a status document changed, and for a new
 *              agent every App of its Machine's Infra.
 */
#include "controllers/app/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/infra.pb-c.h"
#include "bus/agent/agent.h"
#include "controllers/runtime/meta/meta.h"
#include "controllers/runtime/clock/clock.h"

int app_key_split(char *key, const char **ns, const char **name)
{
    char *slash = strchr(key, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    *ns = key;
    *name = slash + 1;
    return 0;
}

void app_enqueue_infra(kumo_app_controller *c, const char *ns, const char *infra)
{
    kumo_informer *apps = c->controller ? kumo_controller_informer(c->controller) : NULL;
    if (apps == NULL)
        return; /* not started yet: start enqueues every App */
    size_t count = 0, ns_len = strlen(ns);
    char **keys = kumo_informer_keys(apps, &count);
    for (size_t i = 0; keys && i < count; i++) {
        if (keys[i] == NULL || strncmp(keys[i], ns, ns_len) != 0 || keys[i][ns_len] != '/')
            continue;
        const char *name = keys[i] + ns_len + 1;
        Kumo__V1alpha1__App *app = (Kumo__V1alpha1__App *)kumo_informer_get(apps, ns, name);
        if (app == NULL)
            continue;
        const char *ref = app->spec && app->spec->infra_ref ? app->spec->infra_ref->name : "";
        if (infra == NULL || strcmp(ref, infra) == 0)
            kumo_controller_enqueue(c->controller, ns, name);
        kumo_object_destroy(&app->base);
    }
    kumo_informer_keys_free(keys, count);
}

/* A Machine changed: note its uid, and reconcile the Apps of its Infra. */
static void map_machine(void *context, kumo_controller *controller, const ProtobufCMessage *object)
{
    (void)controller;
    kumo_app_controller *c = context;
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    if (meta == NULL)
        return;
    /* Handlers run after the cache changed: a Machine no longer cached (or cached with
     * another uid) was deleted. */
    int deleted = 0;
    if (c->machines) {
        ProtobufCMessage *cached = kumo_informer_get(c->machines, meta->namespace_, meta->name);
        const Kumo__V1alpha1__ObjectMeta *cm = cached ? kumo_object_meta(cached) : NULL;
        deleted = cm == NULL || strcmp(cm->uid, meta->uid) != 0;
        kumo_object_destroy(cached);
    }
    const char *infra = kumo_meta_label(object, KUMO_APP_LABEL_INFRA);
    app_agents_machine(c, meta->uid, meta->namespace_, meta->name, infra, deleted);
    if (infra && infra[0])
        app_enqueue_infra(c, meta->namespace_, infra);
}

static void map_infra(void *context, kumo_controller *controller, const ProtobufCMessage *object)
{
    (void)controller;
    app_enqueue_infra(context, kumo_object_namespace(object), kumo_object_name(object));
}

kumo_error kumo_app_controller_start(const kumo_app_env *env, kumo_app_controller **out,
                                     kumo_diag *diag)
{
    *out = NULL;
    if (env == NULL || env->client == NULL || env->agents == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "the app controller needs an API client and an agent bus connection");
    const char *prefix = env->agent_prefix ? env->agent_prefix : KUMO_AGENT_PREFIX;
    char probe[300];
    if (strlen(prefix) >= sizeof(((kumo_app_controller *)0)->prefix) ||
        kumo_agent_subject(probe, sizeof(probe), prefix, "uid", "status") != 0)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "agent prefix \"%s\" is not a NATS subject prefix", prefix);
    kumo_app_controller *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    c->env = *env;
    snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
    c->env.agent_prefix = c->prefix;
    if (c->env.workers <= 0)
        c->env.workers = KUMO_APP_DEFAULT_WORKERS;
    if (c->env.agent_timeout_ms <= 0)
        c->env.agent_timeout_ms = KUMO_APP_DEFAULT_AGENT_TIMEOUT_MS;
    if (c->env.apply_timeout_ms <= 0)
        c->env.apply_timeout_ms = KUMO_APP_DEFAULT_APPLY_TIMEOUT_MS;
    if (c->env.resync_ms <= 0)
        c->env.resync_ms = KUMO_APP_DEFAULT_RESYNC_MS;
    pthread_mutex_init(&c->lock, NULL);
    c->agents = kumo_map_create();
    if (c->agents == NULL) {
        kumo_app_controller_stop(c);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    kumo_controller_options o = {
        .name = "app",
        .client = env->client,
        .kind = kumo_object_kind_lookup("App"),
        .ns = env->ns,
        .workers = c->env.workers,
        .queue = {.backoff_base_ms = 100, .backoff_max_ms = 10000},
        .informers = env->informers,
        .reconcile = app_reconcile,
        .context = c,
    };
    kumo_error e = kumo_controller_create(&o, &c->controller, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_watch(c->controller, kumo_object_kind_lookup("Machine"), map_machine,
                                  &c->machines, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_watch(c->controller, kumo_object_kind_lookup("Infra"), map_infra,
                                  &c->infras, diag);
    if (e == KUMO_ERROR_OK) {
        char subject[160];
        snprintf(subject, sizeof(subject), "%s.*.status", c->prefix);
        natsStatus s =
            natsConnection_Subscribe(&c->statuses, env->agents, subject, app_agents_on_status, c);
        if (s != NATS_OK)
            e = kumo_diag_set(diag, KUMO_ERROR_UNAVAILABLE, "cannot subscribe to %s: %s", subject,
                              natsStatus_GetText(s));
    }
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_start(c->controller, diag);
    if (e != KUMO_ERROR_OK) {
        kumo_app_controller_stop(c);
        return e;
    }
    *out = c;
    return KUMO_ERROR_OK;
}

void kumo_app_controller_stop(kumo_app_controller *c)
{
    if (c == NULL)
        return;
    if (c->statuses) {
        /* Drain waits for a callback that is running; without a connection, unsubscribe. */
        if (natsSubscription_Drain(c->statuses) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(c->statuses, APP_DRAIN_WAIT_MS);
        else
            natsSubscription_Unsubscribe(c->statuses);
        natsSubscription_Destroy(c->statuses);
        c->statuses = NULL;
    }
    kumo_controller_destroy(c->controller);
    c->controller = NULL;
    app_agents_free(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

kumo_controller *kumo_app_controller_runtime(kumo_app_controller *c)
{
    return c->controller;
}
