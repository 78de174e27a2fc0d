/*
 * resource_state.c - what the resource controllers keep and write besides the
 * reconcile itself (resource.c): small shared helpers (clock, jitter, keys,
 * same-connection enqueues), status fields found by name, the per-object
 * memory and learnt boot times, and the API writes (metadata, status, and
 * the intent recorded before any cloud call).
 */
#include "controllers/infra/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "controllers/runtime/clock/clock.h"

#define DEFAULT_BOOT_MS 3000.0

/* ---- small shared helpers -------------------------------------------------------------- */

void infra_key(const char *ns, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", ns && ns[0] ? ns : "default", name);
}

/* spec.connection of any kind that has one ("" when none). */
const char *resource_spec_connection(const ProtobufCMessage *object)
{
    const ProtobufCMessage *spec = kumo_object_spec(object);
    const ProtobufCFieldDescriptor *f =
        spec ? protobuf_c_message_descriptor_get_field_by_name(spec->descriptor, "connection")
             : NULL;
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return "";
    const char *v = *(const char *const *)((const char *)spec + f->offset);
    return v ? v : "";
}

void infra_enqueue_same_connection(kumo_controller *controller, kumo_informer *primary,
                                   const ProtobufCMessage *object)
{
    if (primary == NULL)
        return; /* still starting: the primary list enqueues everything anyway */
    const char *connection = object->descriptor == &kumo__v1alpha1__connection__descriptor
                                 ? kumo_object_name(object)
                                 : resource_spec_connection(object);
    if (connection[0] == '\0')
        return;
    size_t count = 0;
    char **keys =
        kumo_informer_index_keys(primary, KUMO_INFORMER_INDEX_CONNECTION, connection, &count);
    const char *ns = kumo_object_namespace(object);
    size_t ns_len = strlen(ns);
    for (size_t i = 0; keys && i < count; i++) {
        if (strncmp(keys[i], ns, ns_len) == 0 && keys[i][ns_len] == '/')
            kumo_controller_enqueue(controller, ns, keys[i] + ns_len + 1);
    }
    kumo_informer_keys_free(keys, count);
}

ProtobufCMessage *resource_lookup(kumo_informer *informer, const char *ns, const char *name)
{
    if (informer == NULL || name == NULL || name[0] == '\0')
        return NULL;
    return kumo_informer_get(informer, ns, name);
}

/* ---- status fields by name --------------------------------------------------------------- */

static char **status_string(ProtobufCMessage *status, const char *field)
{
    const ProtobufCFieldDescriptor *f =
        status ? protobuf_c_message_descriptor_get_field_by_name(status->descriptor, field) : NULL;
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return NULL;
    return (char **)((char *)status + f->offset);
}

const char *resource_provider_id(const ProtobufCMessage *object)
{
    char **slot = status_string(kumo_object_status(object), "provider_id");
    return slot && *slot ? *slot : "";
}

int resource_provider_id_set(ProtobufCMessage *object, const char *provider_id)
{
    char **slot = status_string(kumo_meta_status_ensure(object), "provider_id");
    if (slot == NULL)
        return -1;
    if (strcmp(*slot ? *slot : "", provider_id ? provider_id : "") == 0)
        return 0;
    return kumo_codec_string_set(slot, provider_id) == KUMO_ERROR_OK ? 1 : -1;
}

int64_t *resource_status_observed_generation(ProtobufCMessage *status)
{
    const ProtobufCFieldDescriptor *f = status ? protobuf_c_message_descriptor_get_field_by_name(
                                                     status->descriptor, "observed_generation")
                                               : NULL;
    return f ? (int64_t *)((char *)status + f->offset) : NULL;
}

int64_t resource_status_generation(const ProtobufCMessage *object)
{
    const int64_t *g = resource_status_observed_generation(kumo_object_status(object));
    return g ? *g : -1;
}

void resource_ready(ProtobufCMessage *object, int ready, const char *reason, const char *fmt, ...)
{
    char message[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    kumo_object_condition_set(object, "Ready", ready ? "True" : "False", reason, message);
}

/* ---- per-object memory ----------------------------------------------------------------- */

resource_memory resource_memory_get(resource_ctl *ctl, const char *key)
{
    resource_memory m;
    memset(&m, 0, sizeof(m));
    pthread_mutex_lock(&ctl->lock);
    const resource_memory *found = kumo_map_get(ctl->memory, key);
    if (found)
        m = *found;
    pthread_mutex_unlock(&ctl->lock);
    return m;
}

void resource_memory_put(resource_ctl *ctl, const char *key, const resource_memory *m)
{
    pthread_mutex_lock(&ctl->lock);
    resource_memory *slot = kumo_map_get(ctl->memory, key);
    if (slot == NULL) {
        slot = malloc(sizeof(*slot));
        if (slot && kumo_map_put(ctl->memory, key, slot, NULL) != 0) {
            free(slot);
            slot = NULL;
        }
    }
    if (slot)
        *slot = *m;
    pthread_mutex_unlock(&ctl->lock);
}

void resource_memory_drop(resource_ctl *ctl, const char *key)
{
    pthread_mutex_lock(&ctl->lock);
    free(kumo_map_remove(ctl->memory, key));
    pthread_mutex_unlock(&ctl->lock);
}

double resource_boot_estimate(resource_ctl *ctl, const char *connection_key)
{
    if (ctl->env.boot_poll_ms > 0)
        return ctl->env.boot_poll_ms;
    pthread_mutex_lock(&ctl->lock);
    const boot_estimate *b = kumo_map_get(ctl->boot, connection_key);
    double ms = b ? b->ms : DEFAULT_BOOT_MS;
    pthread_mutex_unlock(&ctl->lock);
    return ms;
}

/*
 * The first observe after a create tells: running (the boot took at most
 * `elapsed`) or still pending (it takes longer). Shrinking slowly on the
 * first and growing faster on the second settles just above the real boot
 * time, where about one machine in ten needs a second observe.
 */
void resource_boot_learn(resource_ctl *ctl, const char *connection_key, int running,
                         double elapsed_ms)
{
    if (ctl->env.boot_poll_ms > 0 || elapsed_ms <= 0)
        return;
    pthread_mutex_lock(&ctl->lock);
    boot_estimate *b = kumo_map_get(ctl->boot, connection_key);
    if (b == NULL) {
        b = malloc(sizeof(*b));
        if (b && kumo_map_put(ctl->boot, connection_key, b, NULL) != 0) {
            free(b);
            b = NULL;
        }
        if (b)
            b->ms = DEFAULT_BOOT_MS;
    }
    if (b) {
        /* Only observations near the estimate say something about it: an early pending
         * one (a reconcile for another reason) or a late running one (a busy queue) do not. */
        if (running && elapsed_ms <= b->ms * 1.2)
            b->ms = b->ms * 0.99 < 100 ? 100 : b->ms * 0.99;
        else if (!running && elapsed_ms >= b->ms * 0.9)
            b->ms = elapsed_ms * 1.1;
        if (b->ms > 600000)
            b->ms = 600000;
    }
    pthread_mutex_unlock(&ctl->lock);
}

void infra_deletion_held(const kumo_infra_env *env, ProtobufCMessage *object, const char *fmt, ...)
{
    ProtobufCMessage *original = kumo_codec_message_clone(object);
    if (original == NULL || kumo_meta_status_ensure(object) == NULL) {
        kumo_object_destroy(original);
        return;
    }
    char message[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    resource_ready(object, 0, "DeleteBlocked", "%s", message);
    if (!kumo_meta_status_equal(object, original)) {
        kumo_diag d;
        kumo_diag_init(&d);
        if (kumo_client_update_status(env->client, object, NULL, &d) == KUMO_ERROR_OK)
            kumo_recorder_event(env->recorder, object, KUMO_RECORDER_NORMAL, "DeleteBlocked",
                                "Delete", "%s", message);
        kumo_diag_fini(&d);
    }
    kumo_object_destroy(original);
}

int infra_reason_is_progress(const char *reason)
{
    static const char *const progress[] = {"WaitingForDependencies",
                                           "Provisioning",
                                           "Pending",
                                           "Running",
                                           "Available",
                                           "Reachable",
                                           "Stopped",
                                           "Terminated",
                                           "DeleteBlocked",
                                           NULL};
    for (size_t i = 0; reason && progress[i]; i++)
        if (strcmp(reason, progress[i]) == 0)
            return 1;
    return reason == NULL || reason[0] == '\0';
}

/* ---- API writes ---------------------------------------------------------------------- */

static void adopt(resource_run *run, ProtobufCMessage *fresh)
{
    kumo_object_destroy(run->object);
    kumo_object_destroy(run->original);
    run->object = fresh;
    run->original = kumo_codec_message_clone(fresh);
    run->memory.written_revision = kumo_meta_revision(fresh);
    run->memory.written_at_ms = kumo_clock_now_ms();
}

/* Writes metadata and spec (finalizers, annotations). */
kumo_error resource_write_meta(resource_run *run)
{
    ProtobufCMessage *fresh = NULL;
    kumo_diag_fini(&run->diag);
    kumo_error e = kumo_client_update(run->ctl->env.client, run->object, &fresh, &run->diag);
    if (e == KUMO_ERROR_OK)
        adopt(run, fresh);
    else if (e != KUMO_ERROR_CONFLICT && e != KUMO_ERROR_NOT_FOUND)
        KUMO_LOG_WARN("controller", "cannot update object",
                      "controller=%s key=%s error=%s detail=\"%s\"", run->ctl->cls->name, run->key,
                      kumo_error_name(e), run->diag.message);
    return e;
}

/* Writes status when it differs from what was read. */
kumo_error resource_write_status(resource_run *run)
{
    ProtobufCMessage *status = kumo_meta_status_ensure(run->object);
    int64_t *observed = resource_status_observed_generation(status);
    if (observed && run->memory.observed_generation > 0)
        *observed = run->memory.observed_generation;
    if (kumo_meta_status_equal(run->object, run->original))
        return KUMO_ERROR_OK;
    ProtobufCMessage *fresh = NULL;
    kumo_diag_fini(&run->diag);
    kumo_error e = kumo_client_update_status(run->ctl->env.client, run->object, &fresh, &run->diag);
    if (e == KUMO_ERROR_OK) {
        kumo_recorder_conditions(run->ctl->env.recorder, run->original, run->object);
        adopt(run, fresh);
    } else if (e != KUMO_ERROR_CONFLICT && e != KUMO_ERROR_NOT_FOUND) {
        KUMO_LOG_WARN("controller", "cannot write status",
                      "controller=%s key=%s error=%s detail=\"%s\"", run->ctl->cls->name, run->key,
                      kumo_error_name(e), run->diag.message);
    }
    return e;
}

static void time_text(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Finalizer and create-pending marker, in one write, before any cloud call. */
kumo_error resource_record_intent(resource_run *run)
{
    int fresh = 0;
    int changed = kumo_meta_finalizer_add(run->object, KUMO_INFRA_FINALIZER);
    if (resource_provider_id(run->object)[0] == '\0' &&
        kumo_meta_annotation(run->object, KUMO_INFRA_CREATE_PENDING) == NULL) {
        char now[40];
        time_text(now, sizeof(now));
        int set = kumo_meta_annotation_set(run->object, KUMO_INFRA_CREATE_PENDING, now);
        changed = set < 0 ? -1 : (changed || set);
        fresh = set > 0;
    }
    if (changed < 0)
        return KUMO_ERROR_NOMEM;
    kumo_error e = changed ? resource_write_meta(run) : KUMO_ERROR_OK;
    if (e == KUMO_ERROR_OK && fresh)
        run->memory.intent_fresh = 1; /* nothing can exist in the cloud with this token yet */
    return e;
}
