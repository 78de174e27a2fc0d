/*
 * keymap.c - an open-addressing hash map from "namespace/name" to the
 * revision and uid a watch last delivered for that object.
 *
 * A watch keeps one to know what its caller has seen: it turns a relist
 * after Gone into ADDED/MODIFIED/DELETED differences, and it turns live
 * events into ADDED or DELETED when an object starts or stops matching the
 * watch's selector. Linear probing with backward-shift deletion (no
 * tombstones); the table doubles at 70% load.
 */
#include "bus/client/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void client_keymap_init(client_keymap *map)
{
    memset(map, 0, sizeof(*map));
}

void client_keymap_fini(client_keymap *map)
{
    for (size_t i = 0; i < map->capacity; i++) {
        free(map->slots[i].key);
        free(map->slots[i].uid);
    }
    free(map->slots);
    client_keymap_init(map);
}

void client_keymap_key(const char *ns, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", ns && ns[0] ? ns : "default", name ? name : "");
}

static size_t hash(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static size_t find_slot(const client_keymap *map, const char *key)
{
    size_t mask = map->capacity - 1;
    size_t i = hash(key) & mask;
    while (map->slots[i].key != NULL && strcmp(map->slots[i].key, key) != 0)
        i = (i + 1) & mask;
    return i;
}

static int grow(client_keymap *map)
{
    size_t capacity = map->capacity ? map->capacity * 2 : 64;
    client_keymap_entry *slots = calloc(capacity, sizeof(*slots));
    if (slots == NULL)
        return -1;
    client_keymap old = *map;
    map->slots = slots;
    map->capacity = capacity;
    for (size_t i = 0; i < old.capacity; i++)
        if (old.slots[i].key != NULL)
            map->slots[find_slot(map, old.slots[i].key)] = old.slots[i];
    free(old.slots);
    return 0;
}

int client_keymap_put(client_keymap *map, const char *key, int64_t revision, const char *uid)
{
    if ((map->count + 1) * 10 > map->capacity * 7 && grow(map) != 0)
        return -1;
    client_keymap_entry *e = &map->slots[find_slot(map, key)];
    char *new_uid = strdup(uid ? uid : "");
    if (new_uid == NULL)
        return -1;
    if (e->key == NULL) {
        e->key = strdup(key);
        if (e->key == NULL) {
            free(new_uid);
            return -1;
        }
        map->count++;
    }
    free(e->uid);
    e->uid = new_uid;
    e->revision = revision;
    return 0;
}

const client_keymap_entry *client_keymap_get(const client_keymap *map, const char *key)
{
    if (map->capacity == 0)
        return NULL;
    const client_keymap_entry *e = &map->slots[find_slot(map, key)];
    return e->key ? e : NULL;
}

void client_keymap_remove(client_keymap *map, const char *key)
{
    if (map->capacity == 0)
        return;
    size_t mask = map->capacity - 1;
    size_t i = find_slot(map, key);
    if (map->slots[i].key == NULL)
        return;
    free(map->slots[i].key);
    free(map->slots[i].uid);
    map->slots[i].key = NULL;
    map->slots[i].uid = NULL;
    map->count--;
    /* Backward shift: move later entries of the same probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; map->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = hash(map->slots[j].key) & mask;
        /* Entry j may move to the hole when its home is not in (hole, j]. */
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            map->slots[hole] = map->slots[j];
            map->slots[j].key = NULL;
            map->slots[j].uid = NULL;
            hole = j;
        }
    }
}
