/*
 * map.h - a string-keyed hash map of pointers, for caches and indexes.
 *
 * Keys are copied; values are borrowed pointers the caller manages. Chained
 * buckets, doubled when the load reaches one.
 *
 * Thread safety: none; callers lock.
 */
#ifndef KUMO_MAP_H
#define KUMO_MAP_H

#include <stddef.h>

typedef struct kumo_map kumo_map;

/* NULL when out of memory. */
kumo_map *kumo_map_create(void);
/* Frees the map and its keys (not the values). NULL is a no-op. */
void kumo_map_destroy(kumo_map *map);

/* The value of `key`, or NULL. */
void *kumo_map_get(const kumo_map *map, const char *key);
/* Sets `key` to `value`; *old_out (may be NULL) gets the previous value or NULL.
 * Returns 0, or -1 when out of memory (the map is unchanged). */
int kumo_map_put(kumo_map *map, const char *key, void *value, void **old_out);
/* Removes `key` and returns its value (NULL when absent). */
void *kumo_map_remove(kumo_map *map, const char *key);
size_t kumo_map_count(const kumo_map *map);

/* Calls fn for every entry, in no particular order; the map must not change meanwhile. */
void kumo_map_each(const kumo_map *map, void (*fn)(void *context, const char *key, void *value),
                   void *context);

#endif
