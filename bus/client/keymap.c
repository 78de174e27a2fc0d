/*
 * keymap.c - "namespace/name" -> the revision and uid a watch last delivered
 * for that object, over the string map of apis/map.
 *
 * A watch keeps one to know what its caller has seen: it turns a relist
 * after Gone into ADDED/MODIFIED/DELETED differences, and it turns live
 * events into ADDED or DELETED when an object starts or stops matching the
 * watch's selector.
 */
#include "bus/client/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void client_keymap_init(client_keymap *map)
{
    memset(map, 0, sizeof(*map));
}

static void entry_free(client_keymap_entry *e)
{
    if (e == NULL)
        return;
    free(e->key);
    free(e->uid);
    free(e);
}

static void entry_free_each(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    entry_free(value);
}

void client_keymap_fini(client_keymap *map)
{
    if (map->entries != NULL)
        kumo_map_each(map->entries, entry_free_each, NULL);
    kumo_map_destroy(map->entries);
    client_keymap_init(map);
}

void client_keymap_key(const char *ns, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", ns && ns[0] ? ns : "default", name ? name : "");
}

int client_keymap_put(client_keymap *map, const char *key, int64_t revision, const char *uid)
{
    if (map->entries == NULL && (map->entries = kumo_map_create()) == NULL)
        return -1;
    client_keymap_entry *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->key = strdup(key)) == NULL || (e->uid = strdup(uid ? uid : "")) == NULL) {
        entry_free(e);
        return -1;
    }
    e->revision = revision;
    void *old = NULL;
    if (kumo_map_put(map->entries, key, e, &old) != 0) {
        entry_free(e);
        return -1;
    }
    if (old != NULL)
        entry_free(old);
    else
        map->count++;
    return 0;
}

const client_keymap_entry *client_keymap_get(const client_keymap *map, const char *key)
{
    return map->entries ? kumo_map_get(map->entries, key) : NULL;
}

void client_keymap_remove(client_keymap *map, const char *key)
{
    client_keymap_entry *e = map->entries ? kumo_map_remove(map->entries, key) : NULL;
    if (e != NULL) {
        entry_free(e);
        map->count--;
    }
}

typedef struct each_context {
    void (*fn)(void *context, const client_keymap_entry *entry);
    void *context;
} each_context;

static void each_entry(void *context, const char *key, void *value)
{
    (void)key;
    each_context *c = context;
    c->fn(c->context, value);
}

void client_keymap_each(const client_keymap *map,
                        void (*fn)(void *context, const client_keymap_entry *entry), void *context)
{
    each_context c = {fn, context};
    if (map->entries != NULL)
        kumo_map_each(map->entries, each_entry, &c);
}
