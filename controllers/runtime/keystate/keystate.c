/*
 * keystate.c - per-key controller state (keystate.h): a kumo_map of
 * heap-allocated states and the mutex that guards the map.
 */
#include "controllers/runtime/keystate/keystate.h"

#include <pthread.h>
#include <stdlib.h>

#include "apis/map/map.h"

struct kumo_keystate {
    const kumo_keystate_ops *ops;
    pthread_mutex_t lock;
    kumo_map *states; /* key -> state (ops->size bytes) */
};

static void state_free(const kumo_keystate_ops *ops, void *state)
{
    if (state == NULL)
        return;
    if (ops->fini)
        ops->fini(state);
    free(state);
}

static void state_drop(void *context, const char *key, void *value)
{
    (void)key;
    state_free(context, value);
}

kumo_keystate *kumo_keystate_create(const kumo_keystate_ops *ops)
{
    kumo_keystate *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return NULL;
    set->ops = ops;
    if ((set->states = kumo_map_create()) == NULL) {
        free(set);
        return NULL;
    }
    pthread_mutex_init(&set->lock, NULL);
    return set;
}

void kumo_keystate_destroy(kumo_keystate *set)
{
    if (set == NULL)
        return;
    kumo_map_each(set->states, state_drop, (void *)set->ops);
    kumo_map_destroy(set->states);
    pthread_mutex_destroy(&set->lock);
    free(set);
}

/* The state of key, created when absent. Under set->lock. */
static void *state_of(kumo_keystate *set, const char *key)
{
    void *state = kumo_map_get(set->states, key);
    if (state != NULL)
        return state;
    if ((state = calloc(1, set->ops->size)) == NULL)
        return NULL;
    if ((set->ops->init && set->ops->init(state) != 0) ||
        kumo_map_put(set->states, key, state, NULL) != 0) {
        state_free(set->ops, state);
        return NULL;
    }
    return state;
}

void *kumo_keystate_get(kumo_keystate *set, const char *key)
{
    pthread_mutex_lock(&set->lock);
    void *state = state_of(set, key);
    pthread_mutex_unlock(&set->lock);
    return state;
}

void *kumo_keystate_acquire(kumo_keystate *set, const char *key)
{
    pthread_mutex_lock(&set->lock);
    return state_of(set, key);
}

void kumo_keystate_release(kumo_keystate *set)
{
    pthread_mutex_unlock(&set->lock);
}

void kumo_keystate_forget(kumo_keystate *set, const char *key)
{
    pthread_mutex_lock(&set->lock);
    state_free(set->ops, kumo_map_remove(set->states, key));
    pthread_mutex_unlock(&set->lock);
}

size_t kumo_keystate_count(kumo_keystate *set)
{
    pthread_mutex_lock(&set->lock);
    size_t count = kumo_map_count(set->states);
    pthread_mutex_unlock(&set->lock);
    return count;
}
