/*
 * controller.c - the Migration controller's start and stop, what each change
 * enqueues, and its small memory of each Migration. A change of an Infra, a
 * Machine, an App or a LoadBalancer enqueues every Migration of its
 * namespace (there are few, and each pass is cheap).
 */
#include "controllers/migration/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double mig_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void seen_drop(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    free(value);
}

static int memory_init(void *state)
{
    mig_memory *m = state;
    m->step = -1;
    return (m->seen = kumo_map_create()) != NULL ? 0 : -1;
}

static void memory_fini(void *state)
{
    mig_memory *m = state;
    if (m->seen) {
        kumo_map_each(m->seen, seen_drop, NULL);
        kumo_map_destroy(m->seen);
    }
}

static const kumo_keystate_ops memory_ops = {
    .size = sizeof(mig_memory), .init = memory_init, .fini = memory_fini};

mig_memory *mig_memory_of(kumo_migration_controller *c, const char *key)
{
    return kumo_keystate_get(c->memory, key);
}

void mig_memory_forget(kumo_migration_controller *c, const char *key)
{
    kumo_keystate_forget(c->memory, key);
}

/* Every Migration of the object's namespace. */
static void map_namespace(void *context, kumo_controller *controller,
                          const ProtobufCMessage *object)
{
    (void)context;
    kumo_informer *migrations = kumo_controller_informer(controller);
    if (migrations == NULL)
        return;
    const char *ns = kumo_object_namespace(object);
    size_t count = 0, ns_len = strlen(ns);
    char **keys = kumo_informer_keys(migrations, &count);
    for (size_t i = 0; keys && i < count; i++)
        if (keys[i] && strncmp(keys[i], ns, ns_len) == 0 && keys[i][ns_len] == '/')
            kumo_controller_enqueue(controller, ns, keys[i] + ns_len + 1);
    kumo_informer_keys_free(keys, count);
}

kumo_error kumo_migration_controller_start(const kumo_migration_env *env,
                                           kumo_migration_controller **out, kumo_diag *diag)
{
    *out = NULL;
    if (env == NULL || env->client == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT,
                             "the migration controller needs an API client");
    kumo_migration_controller *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    c->env = *env;
    if (c->env.workers <= 0)
        c->env.workers = 2;
    if (c->env.poll_ms <= 0)
        c->env.poll_ms = KUMO_MIGRATION_DEFAULT_POLL_MS;
    if ((c->memory = kumo_keystate_create(&memory_ops)) == NULL) {
        kumo_migration_controller_stop(c);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    kumo_controller_options o = {
        .name = "migration",
        .client = env->client,
        .kind = kumo_object_kind_lookup("Migration"),
        .ns = env->ns,
        .workers = c->env.workers,
        .queue = {.backoff_base_ms = 200, .backoff_max_ms = 5000},
        .informers = env->informers,
        .reconcile = mig_reconcile,
        .context = c,
    };
    struct {
        const char *kind;
        kumo_informer **slot;
    } watches[] = {{"Infra", &c->infras},
                   {"Machine", &c->machines},
                   {"App", &c->apps},
                   {"LoadBalancer", &c->lbs},
                   {"Connection", &c->connections}};
    kumo_error e = kumo_controller_create(&o, &c->controller, diag);
    for (size_t i = 0; e == KUMO_ERROR_OK && i < sizeof(watches) / sizeof(watches[0]); i++)
        e = kumo_controller_watch(c->controller, kumo_object_kind_lookup(watches[i].kind),
                                  map_namespace, watches[i].slot, diag);
    if (e == KUMO_ERROR_OK)
        e = kumo_controller_start(c->controller, diag);
    if (e != KUMO_ERROR_OK) {
        kumo_migration_controller_stop(c);
        return e;
    }
    *out = c;
    return KUMO_ERROR_OK;
}

void kumo_migration_controller_stop(kumo_migration_controller *c)
{
    if (c == NULL)
        return;
    kumo_controller_destroy(c->controller);
    kumo_keystate_destroy(c->memory);
    free(c);
}

kumo_controller *kumo_migration_controller_runtime(kumo_migration_controller *c)
{
    return c->controller;
}
