/*
 * map.c - chained hash map with FNV-1a hashing.
 */
#include "apis/map/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct map_entry {
    struct map_entry *next;
    void *value;
    char key[]; /* NUL-terminated */
} map_entry;

struct kumo_map {
    map_entry **buckets;
    size_t bucket_count; /* a power of two */
    size_t count;
};

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

kumo_map *kumo_map_create(void)
{
    kumo_map *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->bucket_count = 64;
    m->buckets = calloc(m->bucket_count, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void kumo_map_destroy(kumo_map *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->bucket_count; i++) {
        map_entry *e = m->buckets[i];
        while (e) {
            map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static map_entry **slot_of(const kumo_map *m, const char *key)
{
    map_entry **link = &m->buckets[hash_key(key) & (m->bucket_count - 1)];
    while (*link && strcmp((*link)->key, key) != 0)
        link = &(*link)->next;
    return link;
}

void *kumo_map_get(const kumo_map *m, const char *key)
{
    map_entry *e = *slot_of(m, key);
    return e ? e->value : NULL;
}

/* Doubles the bucket array; on failure keeps the old one (longer chains, still correct). */
static void grow(kumo_map *m)
{
    size_t count = m->bucket_count * 2;
    map_entry **buckets = calloc(count, sizeof(*buckets));
    if (buckets == NULL)
        return;
    for (size_t i = 0; i < m->bucket_count; i++) {
        map_entry *e = m->buckets[i];
        while (e) {
            map_entry *next = e->next;
            size_t b = hash_key(e->key) & (count - 1);
            e->next = buckets[b];
            buckets[b] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = buckets;
    m->bucket_count = count;
}

int kumo_map_put(kumo_map *m, const char *key, void *value, void **old_out)
{
    map_entry **link = slot_of(m, key);
    if (*link != NULL) {
        if (old_out)
            *old_out = (*link)->value;
        (*link)->value = value;
        return 0;
    }
    size_t len = strlen(key);
    map_entry *e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return -1;
    memcpy(e->key, key, len + 1);
    e->value = value;
    e->next = NULL;
    *link = e;
    m->count++;
    if (old_out)
        *old_out = NULL;
    if (m->count > m->bucket_count)
        grow(m);
    return 0;
}

void *kumo_map_remove(kumo_map *m, const char *key)
{
    map_entry **link = slot_of(m, key);
    map_entry *e = *link;
    if (e == NULL)
        return NULL;
    *link = e->next;
    void *value = e->value;
    free(e);
    m->count--;
    return value;
}

size_t kumo_map_count(const kumo_map *m)
{
    return m->count;
}

void kumo_map_each(const kumo_map *m, void (*fn)(void *context, const char *key, void *value),
                   void *context)
{
    for (size_t i = 0; i < m->bucket_count; i++)
        for (map_entry *e = m->buckets[i]; e; e = e->next)
            fn(context, e->key, e->value);
}
