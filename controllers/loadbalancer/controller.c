/*
 * controller.c - the LoadBalancer controller's start and stop, what each
 * change enqueues, and its memory of each LoadBalancer:
 *
 *   LoadBalancer  itself (the primary kind);
 *   App           every LoadBalancer of the namespace with a backend naming it
 *                 (its status carries the instances: ready -> serving);
 *   Machine       every LoadBalancer of the namespace with an App backend (a
 *                 Machine being deleted drains its endpoints);
 *   Connection    every LoadBalancer that runs on it.
 */
#include "controllers/loadbalancer/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "controllers/runtime/clock/clock.h"

/* ---- memory ---------------------------------------------------------------------- */

static void memory_fini(void *state)
{
    lb_memory *m = state;
    free(m->sent);
    free(m->drains);
}

static const kumo_keystate_ops memory_ops = {.size = sizeof(lb_memory), .fini = memory_fini};

lb_memory *lb_memory_acquire(kumo_lb_controller *c, const char *key)
{
    return kumo_keystate_acquire(c->memory, key);
}

void lb_memory_release(kumo_lb_controller *c)
{
    kumo_keystate_release(c->memory);
}

void lb_memory_forget(kumo_lb_controller *c, const char *key)
{
    kumo_keystate_forget(c->memory, key);
}

/* ---- what changes enqueue ------------------------------------------------------------ */

typedef int (*lb_wants_fn)(const Kumo__V1alpha1__LoadBalancerSpec *spec, const char *name);

/* Enqueues the LoadBalancers of ns for which wants(spec, name) is true. */
static void enqueue_matching(kumo_lb_controller *c, const char *ns, lb_wants_fn wants,
                             const char *name)
{
    kumo_informer *lbs = c->controller ? kumo_controller_informer(c->controller) : NULL;
    if (lbs == NULL)
        return;
    size_t count = 0, ns_len = strlen(ns);
    char **keys = kumo_informer_keys(lbs, &count);
    for (size_t i = 0; keys && i < count; i++) {
        if (keys[i] == NULL || strncmp(keys[i], ns, ns_len) != 0 || keys[i][ns_len] != '/')
            continue;
        const char *lb_name = keys[i] + ns_len + 1;
        Kumo__V1alpha1__LoadBalancer *lb =
            (Kumo__V1alpha1__LoadBalancer *)kumo_informer_get(lbs, ns, lb_name);
        if (lb == NULL)
            continue;
        if (lb->spec && wants(lb->spec, name))
            kumo_controller_enqueue(c->controller, ns, lb_name);
        kumo_object_destroy(&lb->base);
    }
    kumo_informer_keys_free(keys, count);
}

static int wants_app(const Kumo__V1alpha1__LoadBalancerSpec *spec, const char *name)
{
    for (size_t i = 0; i < spec->n_backends; i++)
        if (spec->backends[i]->app_ref &&
            (name == NULL || strcmp(spec->backends[i]->app_ref->name, name) == 0))
            return 1;
    return 0;
}

static int wants_connection(const Kumo__V1alpha1__LoadBalancerSpec *spec, const char *name)
{
    return spec->connection && strcmp(spec->connection, name) == 0;
}

static void map_app(void *context, kumo_controller *controller, const ProtobufCMessage *object)
{
    (void)controller;
    enqueue_matching(context, kumo_object_namespace(object), wants_app, kumo_object_name(object));
}

static void map_machine(void *context, kumo_controller *controller, const ProtobufCMessage *object)
{
    (void)controller;
    enqueue_matching(context, kumo_object_namespace(object), wants_app, NULL);
}

static void map_connection(void *context, kumo_controller *controller,
                           const ProtobufCMessage *object)
{
    (void)controller;
    enqueue_matching(context, kumo_object_namespace(object), wants_connection,
                     kumo_object_name(object));
}

/* ---- start and stop ----------------------------------------------------------------- */

kumo_error kumo_lb_controller_start(const kumo_lb_env *env, kumo_lb_controller **out,
                                    kumo_diag *diag)
{
    *out = NULL;
    if (env == NULL || env->client == NULL || env->cloud == NULL)
        return kumo_diag_set(
            diag, KUMO_ERROR_INVALID_ARGUMENT,
            "the loadbalancer controller needs an API client and a cloud registry");
    kumo_lb_controller *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    c->env = *env;
    if (c->env.workers <= 0)
        c->env.workers = 4;
    if (c->env.poll_ms <= 0)
        c->env.poll_ms = KUMO_LB_DEFAULT_POLL_MS;
    if ((c->memory = kumo_keystate_create(&memory_ops)) == NULL) {
        kumo_lb_controller_stop(c);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    kumo_controller_options o = {
        .name = "loadbalancer",
        .client = env->client,
        .kind = kumo_object_kind_lookup("LoadBalancer"),
        .ns = env->ns,
        .workers = c->env.workers,
        .queue = {.backoff_base_ms = 200, .backoff_max_ms = 10000},
        .informers = env->informers,
        .reconcile = lb_reconcile,
        .context = c,
    };
    kumo_error e = kumo_controller_create(&o, &c->controller, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_watch(c->controller, kumo_object_kind_lookup("App"), map_app, &c->apps,
                                  diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_watch(c->controller, kumo_object_kind_lookup("Machine"), map_machine,
                                  &c->machines, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_watch(c->controller, kumo_object_kind_lookup("Connection"),
                                  map_connection, &c->connections, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_start(c->controller, diag);
    if (e != KUMO_ERROR_OK) {
        kumo_lb_controller_stop(c);
        return e;
    }
    *out = c;
    return KUMO_ERROR_OK;
}

void kumo_lb_controller_stop(kumo_lb_controller *c)
{
    if (c == NULL)
        return;
    kumo_controller_destroy(c->controller);
    kumo_keystate_destroy(c->memory);
    free(c);
}

kumo_controller *kumo_lb_controller_runtime(kumo_lb_controller *c)
{
    return c->controller;
}
