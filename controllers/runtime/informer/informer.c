/*
 * informer.c - list, then watch; keep packed objects and their index values.
 *
 * cache:   "ns/name" -> cached {packed bytes, its filings}
 * indexes: "index\x1fvalue" -> index_set {array of the cached entries filed there}
 * A filing remembers the entry's slot in its set, so filing and unfiling are
 * O(1) even when one value (an owner, a label) has 100,000 objects.
 * Every change replaces the cached bytes and refiles the key under the new
 * index values under one mutex, then calls the handlers outside it (under
 * handlers_lock, which only add/remove take). The
 * client's watch does the initial list (delivered as ADDED) and everything
 * after it, exactly once and in order.
 */
#include "controllers/runtime/informer/informer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/map/map.h"

typedef struct cached cached;

/* The objects filed under one index value: an array, so an object's slot is found in O(1). */
typedef struct index_set {
    char *name; /* "index\x1fvalue" */
    cached **items;
    size_t count, cap;
} index_set;

/* One index value of an object: its set and its slot there. */
typedef struct filing {
    index_set *set;
    size_t pos;
} filing;

struct cached {
    char *key; /* "ns/name" */
    uint8_t *packed;
    size_t len;
    filing *filings;
    size_t filing_count;
};

#define MAX_HANDLERS 16

typedef struct handler_slot {
    int id; /* 0: free */
    kumo_informer_handler fn;
    void *context;
} handler_slot;

struct kumo_informer {
    kumo_informer_options options;
    /* Handlers run under handlers_lock, so that remove returns only when none runs. */
    pthread_mutex_t handlers_lock;
    handler_slot handlers[MAX_HANDLERS];
    int next_handler_id;
    pthread_mutex_t lock;
    kumo_map *cache;
    kumo_map *indexes;
    int64_t revision;
    size_t bytes;
    kumo_client_watch *watch;
};

/* ---- index values of an object ---------------------------------------- */

typedef struct value_list {
    char **items;
    size_t count, cap;
} value_list;

static int value_add(value_list *list, const char *index, const char *value)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        char **grown = realloc(list->items, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        list->items = grown;
        list->cap = cap;
    }
    size_t n = strlen(index) + strlen(value) + 2;
    char *item = malloc(n);
    if (item == NULL)
        return -1;
    snprintf(item, n, "%s\x1f%s", index, value);
    list->items[list->count++] = item;
    return 0;
}

static void values_free(char **items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(items[i]);
    free(items);
}

/* spec.connection when the kind's spec has such a string field. */
static const char *spec_connection(const ProtobufCMessage *object)
{
    const ProtobufCMessage *spec = kumo_object_spec(object);
    if (spec == NULL)
        return NULL;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(spec->descriptor, "connection");
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return *(const char **)((const char *)spec + f->offset);
}

static int index_values(const ProtobufCMessage *object, value_list *out)
{
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    int rc = 0;
    for (size_t i = 0; meta && i < meta->n_owner_references && rc == 0; i++)
        if (meta->owner_references[i]->uid && meta->owner_references[i]->uid[0])
            rc = value_add(out, KUMO_INFORMER_INDEX_OWNER, meta->owner_references[i]->uid);
    for (size_t i = 0; meta && i < meta->n_labels && rc == 0; i++) {
        char pair[512];
        snprintf(pair, sizeof(pair), "%s=%s", meta->labels[i]->key, meta->labels[i]->value);
        rc = value_add(out, KUMO_INFORMER_INDEX_LABEL, pair);
    }
    const char *connection = spec_connection(object);
    if (rc == 0 && connection && connection[0])
        rc = value_add(out, KUMO_INFORMER_INDEX_CONNECTION, connection);
    return rc;
}

/* ---- index sets ------------------------------------------------------------ */

/* Files c under the set named `name` (made on first use). Returns 0 or -1. */
static int file_under(kumo_informer *inf, cached *c, const char *name, filing *f)
{
    index_set *set = kumo_map_get(inf->indexes, name);
    if (set == NULL) {
        set = calloc(1, sizeof(*set));
        if (set == NULL || (set->name = strdup(name)) == NULL ||
            kumo_map_put(inf->indexes, name, set, NULL) != 0) {
            if (set)
                free(set->name);
            free(set);
            return -1;
        }
    }
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 4;
        cached **grown = realloc(set->items, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        set->items = grown;
        set->cap = cap;
    }
    f->set = set;
    f->pos = set->count;
    set->items[set->count++] = c;
    return 0;
}

static void set_free(index_set *set)
{
    free(set->items);
    free(set->name);
    free(set);
}

/* Takes c out of the set of filing f: the last item moves into its slot. */
static void unfile(kumo_informer *inf, const filing *f)
{
    index_set *set = f->set;
    cached *last = set->items[--set->count];
    if (f->pos < set->count) {
        set->items[f->pos] = last;
        for (size_t i = 0; i < last->filing_count; i++)
            if (last->filings[i].set == set)
                last->filings[i].pos = f->pos;
    }
    if (set->count == 0) {
        kumo_map_remove(inf->indexes, set->name);
        set_free(set);
    }
}

/* ---- cache updates --------------------------------------------------------- */

static void cached_free(kumo_informer *inf, cached *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->filing_count; i++)
        unfile(inf, &c->filings[i]);
    inf->bytes -= c->len + sizeof(*c);
    free(c->filings);
    free(c->packed);
    free(c->key);
    free(c);
}

static int same_values(const cached *c, const value_list *values)
{
    if (c->filing_count != values->count)
        return 0;
    for (size_t i = 0; i < values->count; i++)
        if (strcmp(c->filings[i].set->name, values->items[i]) != 0)
            return 0;
    return 1;
}

/* Replaces (or removes, when object is NULL) the entry of `key`. Caller holds the lock. */
static void cache_apply(kumo_informer *inf, const char *key, const ProtobufCMessage *object)
{
    cached *old = kumo_map_get(inf->cache, key);
    if (old != NULL && object != NULL) {
        /* The usual update: same index values, new bytes. */
        value_list values = {0};
        size_t len = protobuf_c_message_get_packed_size(object);
        uint8_t *packed = malloc(len ? len : 1);
        int same = packed && index_values(object, &values) == 0 && same_values(old, &values);
        values_free(values.items, values.count);
        if (same) {
            /* Same index values: only the bytes change. */
            protobuf_c_message_pack(object, packed);
            inf->bytes = inf->bytes - old->len + len;
            free(old->packed);
            old->packed = packed;
            old->len = len;
            return;
        }
        free(packed);
    }
    old = kumo_map_remove(inf->cache, key);
    cached_free(inf, old);
    if (object == NULL)
        return;
    cached *c = calloc(1, sizeof(*c));
    value_list values = {0};
    if (c == NULL)
        return;
    c->len = protobuf_c_message_get_packed_size(object);
    c->packed = malloc(c->len ? c->len : 1);
    c->key = strdup(key);
    if (c->packed == NULL || c->key == NULL || index_values(object, &values) != 0 ||
        (values.count && (c->filings = calloc(values.count, sizeof(*c->filings))) == NULL) ||
        kumo_map_put(inf->cache, key, c, NULL) != 0) {
        values_free(values.items, values.count);
        free(c->filings);
        free(c->packed);
        free(c->key);
        free(c);
        return;
    }
    protobuf_c_message_pack(object, c->packed);
    inf->bytes += c->len + sizeof(*c);
    for (size_t i = 0; i < values.count; i++)
        if (file_under(inf, c, values.items[i], &c->filings[c->filing_count]) == 0)
            c->filing_count++;
    values_free(values.items, values.count);
}

static void object_key(const ProtobufCMessage *object, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", kumo_object_namespace(object), kumo_object_name(object));
}

static void on_event(void *context, kumo_client_event_type type, int64_t revision,
                     const ProtobufCMessage *object)
{
    kumo_informer *inf = context;
    char key[320];
    object_key(object, key, sizeof(key));
    pthread_mutex_lock(&inf->lock);
    cache_apply(inf, key, type == KUMO_CLIENT_EVENT_DELETED ? NULL : object);
    if (revision > inf->revision)
        inf->revision = revision;
    pthread_mutex_unlock(&inf->lock);
    pthread_mutex_lock(&inf->handlers_lock);
    for (int i = 0; i < MAX_HANDLERS; i++)
        if (inf->handlers[i].id)
            inf->handlers[i].fn(inf->handlers[i].context, type, object);
    pthread_mutex_unlock(&inf->handlers_lock);
}

static void free_cached_entry(void *context, const char *key, void *value)
{
    (void)key;
    cached_free(context, value);
}

static void free_index_set(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    set_free(value);
}

static void informer_free(kumo_informer *inf)
{
    /* Freeing each cached entry removes it from the indexes; any set left is freed after. */
    if (inf->cache && inf->indexes)
        kumo_map_each(inf->cache, free_cached_entry, inf);
    kumo_map_destroy(inf->cache);
    if (inf->indexes)
        kumo_map_each(inf->indexes, free_index_set, NULL);
    kumo_map_destroy(inf->indexes);
    pthread_mutex_destroy(&inf->lock);
    pthread_mutex_destroy(&inf->handlers_lock);
    free(inf);
}

int kumo_informer_handler_add(kumo_informer *inf, kumo_informer_handler handler, void *context)
{
    int id = 0;
    pthread_mutex_lock(&inf->handlers_lock);
    for (int i = 0; i < MAX_HANDLERS && id == 0; i++) {
        if (inf->handlers[i].id == 0) {
            id = ++inf->next_handler_id;
            inf->handlers[i] = (handler_slot){id, handler, context};
        }
    }
    pthread_mutex_unlock(&inf->handlers_lock);
    return id;
}

void kumo_informer_handler_remove(kumo_informer *inf, int id)
{
    pthread_mutex_lock(&inf->handlers_lock);
    for (int i = 0; i < MAX_HANDLERS; i++)
        if (inf->handlers[i].id == id && id != 0)
            inf->handlers[i].id = 0;
    pthread_mutex_unlock(&inf->handlers_lock);
}

kumo_error kumo_informer_start(const kumo_informer_options *options, kumo_informer **out,
                               kumo_diag *diag)
{
    *out = NULL;
    kumo_informer *inf = calloc(1, sizeof(*inf));
    if (inf == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    inf->options = *options;
    pthread_mutex_init(&inf->lock, NULL);
    pthread_mutex_init(&inf->handlers_lock, NULL);
    if (options->handler)
        kumo_informer_handler_add(inf, options->handler, options->context);
    inf->cache = kumo_map_create();
    inf->indexes = kumo_map_create();
    if (inf->cache == NULL || inf->indexes == NULL) {
        informer_free(inf);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    }
    /* From revision 0 the watch lists first and delivers every object as ADDED. */
    kumo_client_watch_options wo = {.label_selector = options->label_selector, .from_revision = 0};
    kumo_error err = kumo_client_watch_start(options->client, options->kind, options->ns, &wo,
                                             on_event, inf, &inf->watch, diag);
    while (err == KUMO_ERROR_OK && !kumo_client_watch_synced(inf->watch))
        nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
    if (err != KUMO_ERROR_OK) {
        informer_free(inf);
        return err;
    }
    *out = inf;
    return KUMO_ERROR_OK;
}

void kumo_informer_stop(kumo_informer *inf)
{
    if (inf == NULL)
        return;
    kumo_client_watch_stop(inf->watch);
    informer_free(inf);
}

size_t kumo_informer_count(kumo_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    size_t n = kumo_map_count(inf->cache);
    pthread_mutex_unlock(&inf->lock);
    return n;
}

int64_t kumo_informer_revision(kumo_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    int64_t r = inf->revision;
    pthread_mutex_unlock(&inf->lock);
    return r;
}

ProtobufCMessage *kumo_informer_get(kumo_informer *inf, const char *ns, const char *name)
{
    char key[320];
    snprintf(key, sizeof(key), "%s/%s", ns && ns[0] ? ns : "default", name);
    pthread_mutex_lock(&inf->lock);
    cached *c = kumo_map_get(inf->cache, key);
    ProtobufCMessage *object =
        c ? protobuf_c_message_unpack(inf->options.kind->descriptor, NULL, c->len, c->packed)
          : NULL;
    pthread_mutex_unlock(&inf->lock);
    return object;
}

typedef struct key_collector {
    char **keys;
    size_t count;
} key_collector;

static void collect_key(void *context, const char *key, void *value)
{
    (void)value;
    key_collector *c = context;
    if (c->keys && (c->keys[c->count] = strdup(key)) != NULL)
        c->count++;
}

/* Copies the keys of a map under the caller's lock. */
static char **map_keys(const kumo_map *map, size_t *count_out)
{
    key_collector c = {calloc(kumo_map_count(map) + 1, sizeof(char *)), 0};
    kumo_map_each(map, collect_key, &c);
    *count_out = c.count;
    return c.keys;
}

char **kumo_informer_index_keys(kumo_informer *inf, const char *index, const char *value,
                                size_t *count_out)
{
    char filed[640];
    snprintf(filed, sizeof(filed), "%s\x1f%s", index, value);
    pthread_mutex_lock(&inf->lock);
    const index_set *set = kumo_map_get(inf->indexes, filed);
    size_t n = set ? set->count : 0, got = 0;
    char **keys = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; keys && i < n; i++)
        if ((keys[got] = strdup(set->items[i]->key)) != NULL)
            got++;
    pthread_mutex_unlock(&inf->lock);
    *count_out = got;
    return keys;
}

char **kumo_informer_keys(kumo_informer *inf, size_t *count_out)
{
    pthread_mutex_lock(&inf->lock);
    char **keys = map_keys(inf->cache, count_out);
    pthread_mutex_unlock(&inf->lock);
    return keys;
}

void kumo_informer_keys_free(char **keys, size_t count)
{
    values_free(keys, count);
}

size_t kumo_informer_memory(kumo_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    size_t bytes = inf->bytes;
    pthread_mutex_unlock(&inf->lock);
    return bytes;
}

/* ---- shared informers ------------------------------------------------------------- */

typedef struct shared_informer {
    const kumo_object_kind *kind;
    kumo_informer *informer;
    int refs;
} shared_informer;

struct kumo_informer_set {
    kumo_client *client;
    char ns[64];
    int all_namespaces;
    pthread_mutex_t lock; /* held while an informer starts: one list per kind */
    shared_informer entries[32];
    size_t count;
};

kumo_informer_set *kumo_informer_set_create(kumo_client *client, const char *ns)
{
    kumo_informer_set *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return NULL;
    set->client = client;
    set->all_namespaces = ns == NULL;
    snprintf(set->ns, sizeof(set->ns), "%s", ns ? ns : "");
    pthread_mutex_init(&set->lock, NULL);
    return set;
}

void kumo_informer_set_destroy(kumo_informer_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->count; i++)
        kumo_informer_stop(set->entries[i].informer);
    pthread_mutex_destroy(&set->lock);
    free(set);
}

kumo_error kumo_informer_set_acquire(kumo_informer_set *set, const kumo_object_kind *kind,
                                     kumo_informer **out, kumo_diag *diag)
{
    *out = NULL;
    kumo_error e = KUMO_ERROR_OK;
    pthread_mutex_lock(&set->lock);
    size_t i = 0;
    while (i < set->count && set->entries[i].kind != kind)
        i++;
    if (i < set->count && set->entries[i].informer) {
        set->entries[i].refs++;
        *out = set->entries[i].informer;
    } else if (i == sizeof(set->entries) / sizeof(set->entries[0])) {
        e = kumo_diag_set(diag, KUMO_ERROR_NOMEM, "informer set: too many kinds");
    } else {
        kumo_informer_options o = {
            .client = set->client, .kind = kind, .ns = set->all_namespaces ? NULL : set->ns};
        kumo_informer *informer = NULL;
        e = kumo_informer_start(&o, &informer, diag);
        if (e == KUMO_ERROR_OK) {
            if (i == set->count)
                set->count++;
            set->entries[i] = (shared_informer){kind, informer, 1};
            *out = informer;
        }
    }
    pthread_mutex_unlock(&set->lock);
    return e;
}

void kumo_informer_set_release(kumo_informer_set *set, kumo_informer *informer)
{
    if (set == NULL || informer == NULL)
        return;
    kumo_informer *stop = NULL;
    pthread_mutex_lock(&set->lock);
    for (size_t i = 0; i < set->count; i++) {
        if (set->entries[i].informer == informer && --set->entries[i].refs == 0) {
            stop = informer;
            set->entries[i].informer = NULL;
        }
    }
    pthread_mutex_unlock(&set->lock);
    kumo_informer_stop(stop);
}
