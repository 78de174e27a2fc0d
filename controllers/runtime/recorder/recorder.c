/*
 * recorder.c - Events written from one thread: a bounded queue of pending
 * Events (a repeat still queued is merged into its twin), a de-duplication
 * memory (key -> the Event's name and count), and an expiry sweep.
 *
 * Invariants: `pending` and `memory` are touched under `lock` only; the API
 * is called without the lock, by the writer thread (and by
 * kumo_recorder_sweep's caller).
 */
#include "controllers/runtime/recorder/recorder.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/recorded_event.pb-c.h"
#include "apis/log/log.h"
#include "apis/map/map.h"
#include "apis/object/object.h"

/* One Event to write: the involved object, the event, how many times it was seen. */
typedef struct pending {
    struct pending *next;
    char key[1600];
    char api_version[64], kind[64], ns[64], name[256], uid[64];
    char type[16], reason[128], action[32], message[1024];
    int count;
    Kumo__V1alpha1__Time first, last;
} pending;

/* What the memory keeps of a written Event. */
typedef struct written {
    char name[320];
    char ns[64];
    int count;
} written;

struct kumo_recorder {
    kumo_recorder_options o;
    char component[128], instance[256];
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    pthread_t thread;
    int stopping, busy;
    pending *head, *tail;
    int queued;
    kumo_map *queued_by_key; /* key -> pending (borrowed from the list) */
    kumo_map *memory;        /* key -> written */
    kumo_recorder_stats stats;
    uint64_t sequence;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* ---- queueing ------------------------------------------------------------------------ */

static void enqueue(kumo_recorder *r, const pending *p)
{
    pthread_mutex_lock(&r->lock);
    pending *twin = kumo_map_get(r->queued_by_key, p->key);
    if (twin != NULL) {
        twin->count += p->count;
        twin->last = p->last;
        r->stats.recorded++;
        r->stats.merged++;
    } else if (r->queued >= r->o.queue_max) {
        r->stats.dropped++;
    } else {
        pending *item = malloc(sizeof(*item));
        if (item != NULL && kumo_map_put(r->queued_by_key, p->key, item, NULL) == 0) {
            *item = *p;
            item->next = NULL;
            if (r->tail)
                r->tail->next = item;
            else
                r->head = item;
            r->tail = item;
            r->queued++;
            r->stats.recorded++;
            pthread_cond_signal(&r->wake);
        } else {
            free(item);
            r->stats.dropped++;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

void kumo_recorder_event(kumo_recorder *r, const ProtobufCMessage *object, const char *type,
                         const char *reason, const char *action, const char *fmt, ...)
{
    const Kumo__V1alpha1__ObjectMeta *m = object ? kumo_object_meta(object) : NULL;
    const kumo_object_kind *kind = object ? kumo_object_kind_of(object->descriptor) : NULL;
    if (r == NULL || m == NULL || kind == NULL || m->name == NULL || m->name[0] == '\0')
        return;
    pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return;
    copy(p->api_version, sizeof(p->api_version), KUMO_API_VERSION);
    copy(p->kind, sizeof(p->kind), kind->kind);
    copy(p->ns, sizeof(p->ns), m->namespace_);
    copy(p->name, sizeof(p->name), m->name);
    copy(p->uid, sizeof(p->uid), m->uid);
    copy(p->type, sizeof(p->type), type);
    copy(p->reason, sizeof(p->reason), reason);
    copy(p->action, sizeof(p->action), action);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
    snprintf(p->key, sizeof(p->key), "%s/%s/%s|%s|%s|%s", p->ns, p->name, p->uid, p->type,
             p->reason, p->message);
    p->count = 1;
    kumo_object_time_now(&p->first);
    p->last = p->first;
    enqueue(r, p);
    free(p);
}

/* ---- conditions -> Events ------------------------------------------------------------ */

/* Reasons that say "on its way", not "something is wrong". */
static const char *const progress_reasons[] = {
    "WaitingForDependencies",
    "Provisioning",
    "Pending",
    "Booting",
    "Starting",
    "Stopping",
    "Terminating",
    "MachinesNotReady",
    "Deploying",
    "RollingUpdate",
    "Creating",
    "Deleting",
    "DeleteBlocked",
    "Replacing",
    "Unknown",
    "InstancesNotReady",
    "Settling",
    NULL,
};

static int is_progress(const char *reason)
{
    for (size_t i = 0; progress_reasons[i]; i++)
        if (strcmp(reason, progress_reasons[i]) == 0)
            return 1;
    return 0;
}

/* 1 when condition c says something is wrong (for a reason that is not progress). */
static int is_bad(const Kumo__V1alpha1__Condition *c)
{
    if (c == NULL || c->type == NULL || c->status == NULL ||
        is_progress(c->reason ? c->reason : ""))
        return 0;
    if (strcmp(c->type, "Ready") == 0 || strcmp(c->type, "UpToDate") == 0)
        return strcmp(c->status, "False") == 0;
    if (strcmp(c->type, "Degraded") == 0 || strcmp(c->type, "Drifted") == 0 ||
        strcmp(c->type, "Failed") == 0)
        return strcmp(c->status, "True") == 0;
    return 0;
}

static int is_good(const Kumo__V1alpha1__Condition *c)
{
    if (c == NULL || c->type == NULL || c->status == NULL)
        return 0;
    if (strcmp(c->type, "Ready") == 0 || strcmp(c->type, "UpToDate") == 0)
        return strcmp(c->status, "True") == 0;
    return strcmp(c->status, "False") == 0;
}

void kumo_recorder_conditions(kumo_recorder *r, const ProtobufCMessage *before,
                              const ProtobufCMessage *after)
{
    const ProtobufCMessage *status = after ? kumo_object_status(after) : NULL;
    if (r == NULL || status == NULL)
        return;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(status->descriptor, "conditions");
    if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED)
        return;
    size_t n = *(const size_t *)((const char *)status + f->quantifier_offset);
    Kumo__V1alpha1__Condition *const *items =
        *(Kumo__V1alpha1__Condition *const *const *)((const char *)status + f->offset);
    for (size_t i = 0; i < n; i++) {
        const Kumo__V1alpha1__Condition *c = items[i];
        const Kumo__V1alpha1__Condition *old =
            before ? kumo_object_condition_get(before, c->type) : NULL;
        const char *reason = c->reason ? c->reason : "";
        if (old && strcmp(old->status ? old->status : "", c->status ? c->status : "") == 0 &&
            strcmp(old->reason ? old->reason : "", reason) == 0)
            continue;
        if (is_bad(c))
            kumo_recorder_event(r, after, KUMO_RECORDER_WARNING, reason, "Reconcile", "%s: %s",
                                c->type, c->message ? c->message : "");
        else if (is_good(c) && is_bad(old))
            kumo_recorder_event(r, after, KUMO_RECORDER_NORMAL, reason, "Reconcile", "%s: %s",
                                c->type, c->message ? c->message : "");
    }
}

/* ---- writing ------------------------------------------------------------------------- */

static void rfc3339(const Kumo__V1alpha1__Time *t, char *buf, size_t size)
{
    time_t s = (time_t)t->seconds;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static Kumo__V1alpha1__Time *time_dup(const Kumo__V1alpha1__Time *t)
{
    Kumo__V1alpha1__Time *out = malloc(sizeof(*out));
    if (out) {
        kumo__v1alpha1__time__init(out);
        out->seconds = t->seconds;
        out->nanos = t->nanos;
    }
    return out;
}

/* A new Event message for p named `name` (caller frees); NULL when out of memory. */
static ProtobufCMessage *event_build(const kumo_recorder *r, const pending *p, const char *name)
{
    ProtobufCMessage *object = kumo_object_new(kumo_object_kind_lookup("Event"));
    Kumo__V1alpha1__RecordedEvent *e = (Kumo__V1alpha1__RecordedEvent *)object;
    Kumo__V1alpha1__ObjectMeta *m = object ? kumo_object_meta_ensure(object) : NULL;
    if (m == NULL)
        goto fail;
    e->involved_object = malloc(sizeof(*e->involved_object));
    e->source = malloc(sizeof(*e->source));
    if (e->involved_object == NULL || e->source == NULL)
        goto fail;
    kumo__v1alpha1__object_reference__init(e->involved_object);
    kumo__v1alpha1__event_source__init(e->source);
    Kumo__V1alpha1__ObjectReference *ref = e->involved_object;
    int bad =
        kumo_codec_string_set(&m->name, name) | kumo_codec_string_set(&m->namespace_, p->ns) |
        kumo_codec_string_set(&ref->api_version, p->api_version) |
        kumo_codec_string_set(&ref->kind, p->kind) |
        kumo_codec_string_set(&ref->namespace_, p->ns) |
        kumo_codec_string_set(&ref->name, p->name) | kumo_codec_string_set(&ref->uid, p->uid) |
        kumo_codec_string_set(&e->reason, p->reason) |
        kumo_codec_string_set(&e->message, p->message) | kumo_codec_string_set(&e->type, p->type) |
        kumo_codec_string_set(&e->action, p->action) |
        kumo_codec_string_set(&e->source->component, r->component) |
        kumo_codec_string_set(&e->source->host, r->instance) |
        kumo_codec_string_set(&e->reporting_component, r->component) |
        kumo_codec_string_set(&e->reporting_instance, r->instance);
    e->first_timestamp = time_dup(&p->first);
    e->last_timestamp = time_dup(&p->last);
    e->count = p->count;
    if (bad || e->first_timestamp == NULL || e->last_timestamp == NULL)
        goto fail;
    return object;
fail:
    kumo_object_destroy(object);
    return NULL;
}

/* Bumps count and lastTimestamp of an Event already written. */
static kumo_error event_bump(kumo_recorder *r, const written *w, const pending *p, kumo_diag *d)
{
    char last[48], patch[160];
    rfc3339(&p->last, last, sizeof(last));
    snprintf(patch, sizeof(patch), "{\"count\":%d,\"lastTimestamp\":\"%s\"}", w->count + p->count,
             last);
    return kumo_client_patch(r->o.client, kumo_object_kind_lookup("Event"), w->ns, w->name, patch,
                             NULL, d);
}

static kumo_error event_create(kumo_recorder *r, const pending *p, written *w, kumo_diag *d)
{
    pthread_mutex_lock(&r->lock);
    uint64_t seq = ++r->sequence;
    pthread_mutex_unlock(&r->lock);
    Kumo__V1alpha1__Time now;
    kumo_object_time_now(&now);
    /* <object>-<hex time><hex sequence>, like Kubernetes (with - : names are subject tokens). */
    snprintf(w->name, sizeof(w->name), "%.200s-%llx%03llx", p->name,
             (unsigned long long)now.seconds * 1000000000ull + (unsigned long long)now.nanos,
             (unsigned long long)(seq & 0xfff));
    copy(w->ns, sizeof(w->ns), p->ns);
    w->count = 0;
    ProtobufCMessage *event = event_build(r, p, w->name);
    if (event == NULL)
        return kumo_diag_set(d, KUMO_ERROR_NOMEM, "out of memory");
    kumo_error e = kumo_client_create(r->o.client, event, NULL, d);
    kumo_object_destroy(event);
    return e;
}

static void free_value(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    free(value);
}

/* Forgets every written Event (under lock). */
static void memory_clear(kumo_recorder *r)
{
    kumo_map *fresh = kumo_map_create();
    if (fresh == NULL)
        return;
    kumo_map_each(r->memory, free_value, NULL);
    kumo_map_destroy(r->memory);
    r->memory = fresh;
}

/* Writes one pending Event: a bump of the one in memory, else a new one. */
static void write_one(kumo_recorder *r, const pending *p)
{
    written w;
    pthread_mutex_lock(&r->lock);
    written *known = kumo_map_get(r->memory, p->key);
    int have = known != NULL;
    if (have)
        w = *known;
    pthread_mutex_unlock(&r->lock);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = KUMO_ERROR_NOT_FOUND;
    if (have)
        e = event_bump(r, &w, p, &d);
    if (e == KUMO_ERROR_OK) {
        w.count += p->count;
    } else if (e == KUMO_ERROR_NOT_FOUND) {
        kumo_diag_fini(&d);
        e = event_create(r, p, &w, &d);
        w.count = p->count;
    }
    pthread_mutex_lock(&r->lock);
    if (e == KUMO_ERROR_OK) {
        r->stats.written++;
        if (have)
            r->stats.merged++;
        written *slot = kumo_map_get(r->memory, p->key);
        if (slot == NULL && (int)kumo_map_count(r->memory) >= r->o.memory_max)
            memory_clear(r); /* bounded: forget all; a repeat then starts a new Event */
        if (slot == NULL && (slot = malloc(sizeof(*slot))) != NULL &&
            kumo_map_put(r->memory, p->key, slot, NULL) != 0) {
            free(slot);
            slot = NULL;
        }
        if (slot)
            *slot = w;
    } else {
        r->stats.failed++;
    }
    pthread_mutex_unlock(&r->lock);
    if (e != KUMO_ERROR_OK)
        KUMO_LOG_WARN("recorder", "cannot write an event", "object=%s/%s reason=%s error=\"%s\"",
                      p->ns, p->name, p->reason, d.message);
    kumo_diag_fini(&d);
}

/* ---- expiry -------------------------------------------------------------------------- */

typedef struct kept {
    char ns[64], name[320];
    int64_t last;
} kept;

static int kept_order(const void *a, const void *b)
{
    const kept *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    if (c != 0)
        return c;
    return x->last < y->last ? 1 : x->last > y->last ? -1 : 0; /* newest first */
}

/* Every Event of every namespace into *out (count *n). 0, or -1 when the list failed. */
static int list_all(kumo_recorder *r, kept **out, size_t *n)
{
    size_t cap = 0;
    char token[256] = "";
    *out = NULL;
    *n = 0;
    do {
        kumo_client_list_options lo = {.limit = 500, .continue_token = token[0] ? token : NULL};
        ProtobufCMessage *page = NULL;
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_error e =
            kumo_client_list(r->o.client, kumo_object_kind_lookup("Event"), NULL, &lo, &page, &d);
        kumo_diag_fini(&d);
        if (e != KUMO_ERROR_OK)
            return -1;
        const Kumo__V1alpha1__RecordedEventList *list =
            (const Kumo__V1alpha1__RecordedEventList *)page;
        for (size_t i = 0; i < list->n_items; i++) {
            const Kumo__V1alpha1__RecordedEvent *ev = list->items[i];
            if (*n == cap) {
                kept *grown = realloc(*out, (cap = cap ? cap * 2 : 256) * sizeof(**out));
                if (grown == NULL)
                    break;
                *out = grown;
            }
            kept *k = &(*out)[(*n)++];
            copy(k->ns, sizeof(k->ns), ev->metadata ? ev->metadata->namespace_ : "");
            copy(k->name, sizeof(k->name), ev->metadata ? ev->metadata->name : "");
            k->last = ev->last_timestamp ? ev->last_timestamp->seconds : 0;
        }
        copy(token, sizeof(token), list->metadata ? list->metadata->continue_ : "");
        kumo_object_destroy(page);
    } while (token[0]);
    return 0;
}

int kumo_recorder_sweep(kumo_recorder *r)
{
    kept *all = NULL;
    size_t n = 0;
    if (r == NULL || list_all(r, &all, &n) != 0)
        return 0;
    qsort(all, n, sizeof(*all), kept_order);
    Kumo__V1alpha1__Time now;
    kumo_object_time_now(&now);
    int deleted = 0, in_namespace = 0;
    for (size_t i = 0; i < n; i++) {
        in_namespace = i > 0 && strcmp(all[i].ns, all[i - 1].ns) == 0 ? in_namespace + 1 : 1;
        int expired = (double)(now.seconds - all[i].last) > r->o.ttl_seconds;
        if (!expired && in_namespace <= r->o.namespace_max)
            continue;
        kumo_diag d;
        kumo_diag_init(&d);
        if (kumo_client_delete(r->o.client, kumo_object_kind_lookup("Event"), all[i].ns,
                               all[i].name, NULL, NULL, &d) == KUMO_ERROR_OK)
            deleted++;
        kumo_diag_fini(&d);
    }
    free(all);
    pthread_mutex_lock(&r->lock);
    r->stats.expired += (uint64_t)deleted;
    pthread_mutex_unlock(&r->lock);
    return deleted;
}

/* ---- the thread ---------------------------------------------------------------------- */

static void *writer(void *arg)
{
    kumo_recorder *r = arg;
    double next_sweep = now_s() + (r->o.sweep_seconds > 0 ? r->o.sweep_seconds : 1e12);
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (r->head == NULL && !r->stopping && now_s() < next_sweep) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&r->wake, &r->lock, &until);
        }
        if (r->head == NULL && r->stopping)
            break;
        pending *p = r->head;
        if (p != NULL) {
            r->head = p->next;
            if (r->head == NULL)
                r->tail = NULL;
            r->queued--;
            kumo_map_remove(r->queued_by_key, p->key);
        }
        r->busy = 1;
        pthread_mutex_unlock(&r->lock);
        if (p != NULL) {
            write_one(r, p);
            free(p);
        } else if (now_s() >= next_sweep) {
            kumo_recorder_sweep(r);
            next_sweep = now_s() + r->o.sweep_seconds;
        }
        pthread_mutex_lock(&r->lock);
        r->busy = 0;
        if (r->head == NULL)
            pthread_cond_broadcast(&r->idle);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int kumo_recorder_flush(kumo_recorder *r, double seconds)
{
    if (r == NULL)
        return 0;
    double until = now_s() + seconds;
    pthread_mutex_lock(&r->lock);
    while ((r->head != NULL || r->busy) && now_s() < until) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 50 * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->idle, &r->lock, &t);
    }
    int busy = r->head != NULL || r->busy;
    pthread_mutex_unlock(&r->lock);
    return busy ? -1 : 0;
}

kumo_recorder_stats kumo_recorder_stats_get(kumo_recorder *r)
{
    kumo_recorder_stats s;
    memset(&s, 0, sizeof(s));
    if (r == NULL)
        return s;
    pthread_mutex_lock(&r->lock);
    s = r->stats;
    pthread_mutex_unlock(&r->lock);
    return s;
}

kumo_error kumo_recorder_create(const kumo_recorder_options *options, kumo_recorder **out,
                                kumo_diag *diag)
{
    *out = NULL;
    if (options == NULL || options->client == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_INVALID_ARGUMENT, "an event recorder needs a client");
    kumo_recorder *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    r->o = *options;
    r->o.queue_max = r->o.queue_max > 0 ? r->o.queue_max : 1024;
    r->o.memory_max = r->o.memory_max > 0 ? r->o.memory_max : 4096;
    r->o.namespace_max = r->o.namespace_max > 0 ? r->o.namespace_max : 1000;
    r->o.ttl_seconds = r->o.ttl_seconds > 0 ? r->o.ttl_seconds : 3600;
    r->o.sweep_seconds = r->o.sweep_seconds != 0 ? r->o.sweep_seconds : 60;
    copy(r->component, sizeof(r->component), options->component ? options->component : "kumo");
    if (options->instance)
        copy(r->instance, sizeof(r->instance), options->instance);
    else if (gethostname(r->instance, sizeof(r->instance) - 1) != 0)
        copy(r->instance, sizeof(r->instance), "localhost");
    r->o.component = r->component;
    r->o.instance = r->instance;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    pthread_cond_init(&r->idle, NULL);
    r->queued_by_key = kumo_map_create();
    r->memory = kumo_map_create();
    if (r->queued_by_key == NULL || r->memory == NULL ||
        pthread_create(&r->thread, NULL, writer, r) != 0) {
        kumo_map_destroy(r->queued_by_key);
        kumo_map_destroy(r->memory);
        pthread_cond_destroy(&r->wake);
        pthread_cond_destroy(&r->idle);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "cannot start the event recorder");
    }
    *out = r;
    return KUMO_ERROR_OK;
}

void kumo_recorder_destroy(kumo_recorder *r)
{
    if (r == NULL)
        return;
    kumo_recorder_flush(r, 2.0);
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    for (pending *p = r->head, *next; p != NULL; p = next) {
        next = p->next;
        free(p);
    }
    kumo_map_destroy(r->queued_by_key);
    kumo_map_each(r->memory, free_value, NULL);
    kumo_map_destroy(r->memory);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
