/*
 * connection.c - the Connection controller: opens each Connection through
 * the cloud registry, probes it, and writes what it learnt to status.
 *
 *   reachable, lastProbeTime   every probe (probe_interval_ms, +-10%): one
 *                              catalog_regions call through the limiter;
 *   location                   the Connection's region in that list;
 *   catalog                    instance types (with prices) and images, read
 *                              on the first probe, on a spec change and every
 *                              CATALOG_REFRESH_MS;
 *   Ready                      True/Reachable, or False with DriverNotFound,
 *                              DriverInvalid, InvalidConfig, CredentialNotFound,
 *                              CredentialTypeMismatch, CredentialUnavailable,
 *                              Unauthorized, Unreachable.
 *
 * A change of a Credential marks the Connections that use it for reopening
 * (their driver connection is opened again with the new secrets).
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "drivers/loader/loader.h"

/* A Connection in use is looked at again this often while being deleted. */
#define CONNECTION_IN_USE_RECHECK_MS 5000
#define CATALOG_REFRESH_MS           (10 * 60 * 1000.0)
#define FAILED_PROBE_MS              15000.0

/* The kinds whose objects name a Connection in spec.connection: they keep it from going. */
#define USER_KINDS 5
static const char *const user_kinds[USER_KINDS] = {"Machine", "Network", "SecurityGroup", "KeyPair",
                                                   "LoadBalancer"};

typedef struct connection_ctl {
    kumo_infra_env env;
    kumo_controller *controller;
    kumo_informer *users[USER_KINDS];
    pthread_mutex_t lock;
    kumo_map *force; /* keys to probe at the next reconcile (their Credential changed) */
} connection_ctl;

static void force_set(connection_ctl *ctl, const char *key)
{
    pthread_mutex_lock(&ctl->lock);
    kumo_map_put(ctl->force, key, ctl, NULL);
    pthread_mutex_unlock(&ctl->lock);
}

static int force_take(connection_ctl *ctl, const char *key)
{
    pthread_mutex_lock(&ctl->lock);
    int forced = kumo_map_remove(ctl->force, key) != NULL;
    pthread_mutex_unlock(&ctl->lock);
    return forced;
}

static void connection_ctl_free(void *context)
{
    connection_ctl *ctl = context;
    kumo_map_destroy(ctl->force);
    pthread_mutex_destroy(&ctl->lock);
    free(ctl);
}

typedef Kumo__V1alpha1__Connection connection;

static kumo_controller_result requeue(double ms)
{
    return (kumo_controller_result){KUMO_CONTROLLER_REQUEUE, ms};
}

static const char *open_failure_reason(kumo_error e, const kumo_diag *diag)
{
    switch (e) {
    case KUMO_ERROR_NOT_FOUND:
        return strstr(diag->message, "Credential") ? "CredentialNotFound" : "DriverNotFound";
    case KUMO_ERROR_FORMAT:
        return "DriverInvalid";
    case KUMO_ERROR_INVALID_ARGUMENT:
        return "InvalidConfig";
    case KUMO_ERROR_INVALID:
        return strstr(diag->message, "Credential") ? "CredentialTypeMismatch" : "InvalidConfig";
    case KUMO_ERROR_UNAUTHORIZED:
        return "Unauthorized";
    case KUMO_ERROR_UNAVAILABLE:
        return strstr(diag->message, "Credential") ? "CredentialUnavailable" : "Unreachable";
    default:
        return "ConnectionFailed";
    }
}

static void probe_time(Kumo__V1alpha1__ConnectionStatus *s)
{
    if (s->last_probe_time == NULL && (s->last_probe_time = malloc(sizeof(*s->last_probe_time))))
        kumo__v1alpha1__time__init(s->last_probe_time);
    if (s->last_probe_time)
        kumo_object_time_now(s->last_probe_time);
}

/* A driver call with the limiter around it; THROTTLED (local) sets *defer_ms. */
typedef struct probe {
    kumo_cloud_conn *conn;
    infra_call call;
    kumo_diag diag;
    double defer_ms;
} probe;

static int probe_begin(probe *p)
{
    memset(&p->call, 0, sizeof(p->call));
    p->call.conn = p->conn;
    p->call.driver = kumo_cloud_conn_driver(p->conn);
    p->call.handle = kumo_cloud_conn_handle(p->conn);
    kumo_diag_fini(&p->diag);
    return kumo_cloud_call_begin(p->conn, &p->call.deadline_ns, &p->defer_ms, &p->diag) ==
                   KUMO_ERROR_OK
               ? 0
               : -1;
}

static void catalog_replace(Kumo__V1alpha1__ConnectionStatus *s,
                            const struct kumo_driver_instance_type_list *types,
                            const struct kumo_driver_image_list *images)
{
    if (s->catalog)
        protobuf_c_message_free_unpacked(&s->catalog->base, NULL);
    Kumo__V1alpha1__Catalog *c = s->catalog = malloc(sizeof(*c));
    if (c == NULL)
        return;
    kumo__v1alpha1__catalog__init(c);
    c->instance_types = calloc(types->count + 1, sizeof(*c->instance_types));
    for (size_t i = 0; c->instance_types && i < types->count; i++) {
        const struct kumo_driver_instance_type *t = types->items[i];
        Kumo__V1alpha1__CatalogInstanceType *o = malloc(sizeof(*o));
        if (o == NULL)
            break;
        kumo__v1alpha1__catalog_instance_type__init(o);
        kumo_codec_string_set(&o->name, t->name);
        o->vcpu = t->vcpu;
        o->memory_mib = t->memory_mib;
        o->gpu_count = t->gpu_count;
        kumo_codec_string_set(&o->gpu_model, t->gpu_model);
        kumo_codec_string_set(&o->arch, t->arch);
        o->price_per_hour = t->price_per_hour;
        kumo_codec_string_set(&o->currency, t->currency);
        c->instance_types[c->n_instance_types++] = o;
    }
    c->images = calloc(images->count + 1, sizeof(*c->images));
    for (size_t i = 0; c->images && i < images->count; i++) {
        const struct kumo_driver_image *im = images->items[i];
        Kumo__V1alpha1__CatalogImage *o = malloc(sizeof(*o));
        if (o == NULL)
            break;
        kumo__v1alpha1__catalog_image__init(o);
        kumo_codec_string_set(&o->name, im->name);
        kumo_codec_string_set(&o->os, im->os);
        kumo_codec_string_set(&o->arch, im->arch);
        kumo_codec_string_set(&o->provider_id, im->provider_id);
        kumo_codec_string_set(&o->description, im->description);
        c->images[c->n_images++] = o;
    }
    if ((c->refresh_time = malloc(sizeof(*c->refresh_time))) != NULL) {
        kumo__v1alpha1__time__init(c->refresh_time);
        kumo_object_time_now(c->refresh_time);
    }
}

static void location_set(Kumo__V1alpha1__ConnectionStatus *s, const struct kumo_driver_region *r)
{
    if (s->location == NULL && (s->location = malloc(sizeof(*s->location))) != NULL)
        kumo__v1alpha1__location__init(s->location);
    if (s->location == NULL)
        return;
    kumo_codec_string_set(&s->location->display_name, r->display_name);
    s->location->latitude = r->latitude;
    s->location->longitude = r->longitude;
}

/* Probes; returns 0 when the cloud answered (status filled), -1 after a failure (status
 * says why), 1 when the limiter deferred us (p->defer_ms). */
static int run_probe(connection_ctl *ctl, probe *p, ProtobufCMessage *object,
                     Kumo__V1alpha1__ConnectionStatus *s, int want_catalog)
{
    const connection *c = (const connection *)object;
    const struct kumo_driver *d = kumo_cloud_conn_driver(p->conn);
    const struct kumo_driver_host *host = kumo_cloud_conn_host(p->conn);
    if (d->catalog_regions == NULL) {
        resource_ready(object, 1, "Reachable", "driver %s has no catalog to probe", d->name);
        s->reachable = 1;
        return 0;
    }
    if (probe_begin(p) != 0)
        return 1;
    struct kumo_driver_region_list *regions = NULL;
    kumo_driver_code rc =
        d->catalog_regions(p->call.handle, p->call.deadline_ns, &regions, &p->call.diag);
    kumo_cloud_call_end_op(p->conn, "catalog_regions", rc);
    if (rc == KUMO_DRIVER_OK) {
        kumo_cloud_regions_learn(ctl->env.cloud, kumo_cloud_conn_provider(p->conn), regions);
        for (size_t i = 0; i < regions->count; i++)
            if (strcmp(regions->items[i]->name, c->spec->region) == 0)
                location_set(s, regions->items[i]);
        kumo_driver_free(host, regions);
    }
    if (rc == KUMO_DRIVER_OK && want_catalog) {
        struct kumo_driver_instance_type_list *types = NULL;
        struct kumo_driver_image_list *images = NULL;
        if (probe_begin(p) != 0)
            return 1;
        rc = d->catalog_instance_types(p->call.handle, p->call.deadline_ns, &types, &p->call.diag);
        kumo_cloud_call_end_op(p->conn, "catalog_instance_types", rc);
        if (rc == KUMO_DRIVER_OK) {
            if (probe_begin(p) != 0) {
                kumo_driver_free(host, types);
                return 1;
            }
            rc = d->catalog_images(p->call.handle, p->call.deadline_ns, &images, &p->call.diag);
            kumo_cloud_call_end_op(p->conn, "catalog_images", rc);
        }
        if (rc == KUMO_DRIVER_OK)
            catalog_replace(s, types, images);
        kumo_driver_free(host, types);
        kumo_driver_free(host, images);
    }
    if (rc != KUMO_DRIVER_OK) {
        kumo_driver_diag_to_kumo(rc, &p->call.diag, d->name, "probe", &p->diag);
        s->reachable = 0;
        resource_ready(object, 0, rc == KUMO_DRIVER_UNAUTHORIZED ? "Unauthorized" : "Unreachable",
                       "%s", p->diag.message);
        if (rc == KUMO_DRIVER_UNAUTHORIZED) /* new credentials may come: reopen next time */
            kumo_cloud_invalidate(ctl->env.cloud, c->metadata->namespace_, c->metadata->name);
        return -1;
    }
    s->reachable = 1;
    resource_ready(object, 1, "Reachable", "driver %s answers for %s %s", d->name,
                   kumo_cloud_conn_provider(p->conn), c->spec->region);
    return 0;
}

/* Objects of the namespace that name this Connection and still exist; the first few as
 * "Machine m1, Network n1 and 7 more" in `names`. */
static size_t users_of(connection_ctl *ctl, const char *ns, const char *name, char *names,
                       size_t size)
{
    size_t users = 0, ns_len = strlen(ns), len = 0;
    names[0] = '\0';
    for (size_t k = 0; k < USER_KINDS; k++) {
        size_t count = 0;
        char **keys = ctl->users[k]
                          ? kumo_informer_index_keys(ctl->users[k], KUMO_INFORMER_INDEX_CONNECTION,
                                                     name, &count)
                          : NULL;
        for (size_t i = 0; keys && i < count; i++) {
            if (strncmp(keys[i], ns, ns_len) != 0 || keys[i][ns_len] != '/')
                continue;
            if (users++ < 3 && len < size)
                len += (size_t)snprintf(names + len, size - len, "%s%s %s", users > 1 ? ", " : "",
                                        user_kinds[k], keys[i] + ns_len + 1);
        }
        kumo_informer_keys_free(keys, count);
    }
    if (users > 3 && len < size)
        snprintf(names + len, size - len, " and %zu more", users - 3);
    return users;
}

/*
 * The in-use finalizer: added to every live Connection; on deletion removed only once no
 * Machine, Network, SecurityGroup, KeyPair or LoadBalancer names the Connection any more, so
 * that their cloud resources can still be deleted through it. Consumes object.
 */
static kumo_controller_result in_use(connection_ctl *ctl, ProtobufCMessage *object)
{
    const char *ns = kumo_object_namespace(object), *name = kumo_object_name(object);
    kumo_controller_result result = {KUMO_CONTROLLER_DONE, 0};
    int changed = 0;
    if (!kumo_meta_deleting(object)) {
        changed = kumo_meta_finalizer_add(object, KUMO_INFRA_IN_USE) > 0;
    } else {
        char names[600];
        size_t users = users_of(ctl, ns, name, names, sizeof(names));
        if (users > 0) {
            KUMO_LOG_DEBUG("controller", "connection still in use",
                           "controller=connection key=%s/%s users=%zu", ns, name, users);
            infra_deletion_held(&ctl->env, object,
                                "held by finalizer " KUMO_INFRA_IN_USE ": %s still use%s it; "
                                "they are deleted through it first",
                                names, strchr(names, ',') || strstr(names, " more") ? "" : "s");
            result =
                requeue(CONNECTION_IN_USE_RECHECK_MS); /* the users' deletions enqueue it sooner */
        } else {
            changed = kumo_meta_finalizer_remove(object, KUMO_INFRA_IN_USE) > 0;
            kumo_cloud_forget(ctl->env.cloud, ns, name);
        }
    }
    if (changed) {
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_error e = kumo_client_update(ctl->env.client, object, NULL, &d);
        if (e != KUMO_ERROR_OK && e != KUMO_ERROR_NOT_FOUND)
            result = (kumo_controller_result){KUMO_CONTROLLER_RETRY, 0};
        else if (!kumo_meta_deleting(object))
            result = requeue(1); /* now probe it */
        kumo_diag_fini(&d);
    }
    kumo_object_destroy(object);
    return result;
}

/*
 * A user of a Connection is going (its last state carries deletionTimestamp too: users have
 * finalizers): look at the Connection again, which may be waiting for it. Other changes of
 * users, the bulk of events while machines converge, cannot release a Connection.
 */
static void map_user(void *context, kumo_controller *controller, const ProtobufCMessage *user)
{
    (void)context;
    const char *used = resource_spec_connection(user);
    if (used[0] && kumo_meta_deleting(user))
        kumo_controller_enqueue(controller, kumo_object_namespace(user), used);
}

/* Milliseconds from t to now; with_nanos 0 counts whole seconds only. */
static double ms_since(const Kumo__V1alpha1__Time *t, int with_nanos)
{
    Kumo__V1alpha1__Time now;
    kumo_object_time_now(&now);
    double ms = (double)(now.seconds - t->seconds) * 1000.0;
    return with_nanos ? ms + (double)(now.nanos - t->nanos) / 1e6 : ms;
}

/* Report: the probe time and generation, then status when it changed. -1: retry. */
static int status_report(connection_ctl *ctl, ProtobufCMessage *object,
                         const ProtobufCMessage *original, Kumo__V1alpha1__ConnectionStatus *s,
                         kumo_diag *diag)
{
    probe_time(s);
    s->observed_generation = ((const connection *)object)->metadata->generation;
    if (kumo_meta_status_equal(object, original))
        return 0;
    kumo_diag_fini(diag);
    kumo_error we = kumo_client_update_status(ctl->env.client, object, NULL, diag);
    if (we == KUMO_ERROR_OK)
        kumo_recorder_conditions(ctl->env.recorder, original, object);
    return we != KUMO_ERROR_OK && we != KUMO_ERROR_NOT_FOUND ? -1 : 0;
}

/* observe (due?) -> open -> probe (reachability, catalog) -> report */
static kumo_controller_result reconcile(void *context, const char *ns, const char *name)
{
    connection_ctl *ctl = context;
    ProtobufCMessage *object =
        kumo_informer_get(kumo_controller_informer(ctl->controller), ns, name);
    if (object == NULL) {
        kumo_cloud_forget(ctl->env.cloud, ns, name);
        return (kumo_controller_result){KUMO_CONTROLLER_DONE, 0};
    }
    if (kumo_meta_deleting(object) || !kumo_meta_finalizer_has(object, KUMO_INFRA_IN_USE))
        return in_use(ctl, object); /* consumes object */
    ProtobufCMessage *original = kumo_codec_message_clone(object);
    Kumo__V1alpha1__ConnectionStatus *s =
        (Kumo__V1alpha1__ConnectionStatus *)kumo_meta_status_ensure(object);
    const connection *c = (const connection *)object;
    kumo_controller_result result =
        requeue(ctl->env.probe_interval_ms * kumo_controller_jitter(0.1));
    if (s == NULL || original == NULL) {
        kumo_object_destroy(object);
        kumo_object_destroy(original);
        return (kumo_controller_result){KUMO_CONTROLLER_RETRY, 0};
    }
    /* Not due yet (an event, e.g. our own status write): wait for the probe time. */
    double age_ms = s->last_probe_time ? ms_since(s->last_probe_time, 1) : 1e18;
    char key[320];
    infra_key(ns, name, key, sizeof(key));
    int spec_changed = s->observed_generation != c->metadata->generation || force_take(ctl, key);
    int ready = kumo_meta_condition_is(object, "Ready", "True");
    double interval = ready ? ctl->env.probe_interval_ms : FAILED_PROBE_MS;
    if (!spec_changed && age_ms >= 0 && age_ms < interval * 0.9) {
        kumo_object_destroy(object);
        kumo_object_destroy(original);
        return requeue(interval - age_ms);
    }
    probe p;
    memset(&p, 0, sizeof(p));
    kumo_diag_init(&p.diag);
    kumo_error e = kumo_cloud_open(ctl->env.cloud, object, &p.conn, &p.diag);
    int outcome = -1;
    if (e != KUMO_ERROR_OK) {
        s->reachable = 0;
        resource_ready(object, 0, open_failure_reason(e, &p.diag), "%s", p.diag.message);
        result = requeue(FAILED_PROBE_MS * kumo_controller_jitter(0.1));
    } else {
        int want_catalog = spec_changed || s->catalog == NULL || s->catalog->refresh_time == NULL ||
                           ms_since(s->catalog->refresh_time, 0) > CATALOG_REFRESH_MS;
        outcome = run_probe(ctl, &p, object, s, want_catalog);
        if (outcome == 1)
            result = requeue(p.defer_ms);
        else if (outcome < 0)
            result = requeue(FAILED_PROBE_MS * kumo_controller_jitter(0.1));
        kumo_cloud_conn_release(p.conn);
    }
    if (outcome != 1 && status_report(ctl, object, original, s, &p.diag) != 0)
        result = (kumo_controller_result){KUMO_CONTROLLER_RETRY, 0};
    kumo_diag_fini(&p.diag);
    kumo_object_destroy(object);
    kumo_object_destroy(original);
    return result;
}

/* A Credential changed: reopen and probe the Connections that use it. */
static void map_credential(void *context, kumo_controller *controller,
                           const ProtobufCMessage *credential)
{
    connection_ctl *ctl = context;
    kumo_informer *connections = kumo_controller_informer(controller);
    if (connections == NULL)
        return;
    const char *ns = kumo_object_namespace(credential);
    const char *name = kumo_object_name(credential);
    size_t count = 0;
    char **keys = kumo_informer_keys(connections, &count);
    for (size_t i = 0; keys && i < count; i++) {
        const char *slash = keys[i] ? strchr(keys[i], '/') : NULL;
        if (slash == NULL || strncmp(keys[i], ns, (size_t)(slash - keys[i])) != 0)
            continue;
        ProtobufCMessage *object = kumo_informer_get(connections, ns, slash + 1);
        const connection *c = (const connection *)object;
        if (c && c->spec && c->spec->credential_ref &&
            strcmp(c->spec->credential_ref->name, name) == 0) {
            kumo_cloud_invalidate(ctl->env.cloud, ns, slash + 1);
            force_set(ctl, keys[i]);
            kumo_controller_enqueue(controller, ns, slash + 1);
        }
        kumo_object_destroy(object);
    }
    kumo_informer_keys_free(keys, count);
}

kumo_error infra_connection_start(const kumo_infra_env *env, kumo_infra_controller *out,
                                  kumo_diag *diag)
{
    connection_ctl *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    ctl->env = *env;
    pthread_mutex_init(&ctl->lock, NULL);
    ctl->force = kumo_map_create();
    out->context = ctl;
    out->context_free = connection_ctl_free;
    if (ctl->force == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    kumo_controller_options o = {
        .name = "connection",
        .client = env->client,
        .kind = kumo_object_kind_lookup("Connection"),
        .ns = env->ns,
        .workers = 4,
        .reconcile = reconcile,
        .context = ctl,
        .informers = env->informers,
    };
    const infra_watch watches[1 + USER_KINDS] = {
        {"Credential", map_credential, NULL},      {user_kinds[0], map_user, &ctl->users[0]},
        {user_kinds[1], map_user, &ctl->users[1]}, {user_kinds[2], map_user, &ctl->users[2]},
        {user_kinds[3], map_user, &ctl->users[3]}, {user_kinds[4], map_user, &ctl->users[4]},
    };
    return infra_controller_run(&o, watches, 1 + USER_KINDS, out, &ctl->controller, diag);
}
