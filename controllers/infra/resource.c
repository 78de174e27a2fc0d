/*
 * resource.c - the one reconcile shape of every cloud resource kind
 * (Machine, Network, SecurityGroup, KeyPair); the kind-specific parts are a
 * resource_class (machine.c, network.c); its helpers, memory and API writes
 * are in resource_state.c.
 *
 * For an object that is not being deleted:
 *   1. intent first: the finalizer kumo.dev/cloud-cleanup and, before the
 *      first create, the annotation kumo.dev/create-pending=<time> are
 *      written in one update. No cloud call happens before both are stored,
 *      so a resource can never exist in a cloud without an object that will
 *      clean it up.
 *   2. observe: by status.providerId when known, else by token (the uid):
 *      after a crash between a create and the status write the resource is
 *      found, not created again. (create with the same token would also
 *      return it: the driver contract makes create idempotent by token.)
 *   3. act: absent -> create with token = uid; stopped or vanished -> the
 *      class's drift policy (restart, replace, report); spec changed ->
 *      update in place where the kind allows it.
 *   4. status written only when it changed; requeue at the next poll
 *      (booting machines: about their boot time; converged: the drift poll
 *      interval with +-20% jitter).
 * For an object being deleted: delete in the cloud (by id, else by token),
 * observe until the cloud says NOT_FOUND, then remove the finalizer.
 *
 * Cheap reconciles: each object's memory (next observe time, last written
 * revision) keeps the events caused by our own writes from costing cloud
 * calls, and a cache older than our last write is waited for, not acted on.
 */
#include "controllers/infra/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "drivers/loader/loader.h"
#include "controllers/runtime/clock/clock.h"

/* How long a cache older than our own last write is waited for. */
#define STALE_CACHE_WAIT_MS 5000
/* A machine being replaced (driftPolicy Recreate) is looked at again this soon. */
#define RESOURCE_REPLACE_REQUEUE_MS 500
/* A stopped machine still stopping is started again this soon after. */
#define RESOURCE_STOPPING_REQUEUE_MS 1000
/* How soon an object is looked at again after each outcome (most with +-20% jitter). */
#define RESOURCE_CACHE_POLL_MS        20    /* our own write is not in the cache yet */
#define RESOURCE_THROTTLED_MS         1000  /* the cloud throttled and named no delay */
#define RESOURCE_UNAUTHORIZED_MS      30000 /* the credentials were refused */
#define RESOURCE_DELETE_AGAIN_MS      500   /* still there after a delete */
#define RESOURCE_DELETING_MS          100   /* delete accepted */
#define RESOURCE_DELETING_PHASED_MS   300   /* delete accepted, a resource with phases */
#define RESOURCE_DELETE_BLOCKED_MS    1000  /* something still uses it */
#define RESOURCE_NO_CAPACITY_MS       30000 /* InsufficientCapacity */
#define RESOURCE_NO_QUOTA_MS          60000 /* QuotaExceeded */
#define RESOURCE_CREATE_REJECTED_MS   5000  /* DependencyNotFound, AlreadyExists */
#define RESOURCE_DEPENDENCY_WAIT_MS   2000  /* WaitingForDependencies, DependencyFailed */
#define RESOURCE_NO_CONNECTION_MS     10000 /* ConnectionNotFound */
#define RESOURCE_CONNECTION_FAILED_MS 15000 /* ConnectionFailed */

/* ---- results ------------------------------------------------------------------------- */

static kumo_controller_result done(void)
{
    return (kumo_controller_result){KUMO_CONTROLLER_DONE, 0};
}

static kumo_controller_result requeue(double after_ms)
{
    return (kumo_controller_result){KUMO_CONTROLLER_REQUEUE, after_ms < 1 ? 1 : after_ms};
}

static kumo_controller_result retry(void)
{
    return (kumo_controller_result){KUMO_CONTROLLER_RETRY, 0};
}

static kumo_controller_result terminal(void)
{
    return (kumo_controller_result){KUMO_CONTROLLER_TERMINAL, 0};
}

/* The outcome for a failed API write: conflicts and races are retried at once. */
static kumo_controller_result api_failed(kumo_error e)
{
    if (e == KUMO_ERROR_NOT_FOUND)
        return done(); /* the object is gone; its deletion event brings us back if needed */
    return retry();
}

/* Writes status, then requeues after `after_ms` (or retries when the write failed). */
static kumo_controller_result status_then(resource_run *run, kumo_controller_result result)
{
    kumo_error e = resource_write_status(run);
    if (e != KUMO_ERROR_OK)
        return api_failed(e);
    return result;
}

/* ---- driver calls -------------------------------------------------------------------- */

/* Starts a driver call; on THROTTLED (*defer_ms set) the caller requeues. */
static kumo_error call_begin(resource_run *run, kumo_cloud_conn *conn, infra_call *call,
                             double *defer_ms)
{
    memset(call, 0, sizeof(*call));
    call->conn = conn;
    call->driver = kumo_cloud_conn_driver(conn);
    call->handle = kumo_cloud_conn_handle(conn);
    kumo_diag_fini(&run->diag);
    return kumo_cloud_call_begin(conn, &call->deadline_ns, defer_ms, &run->diag);
}

static void call_end(infra_call *call, kumo_driver_code rc, const char *op)
{
    kumo_cloud_call_end_op(call->conn, op, rc);
}

static void driver_free(infra_call *call, void *block)
{
    kumo_driver_free(kumo_cloud_conn_host(call->conn), block);
}

/* The Ready reason of a driver failure that no step handles specially ("CreateFailed"...). */
static const char *driver_failure_reason(kumo_driver_code rc, const char *op)
{
    switch (rc) {
    case KUMO_DRIVER_CONFLICT:
        return strcmp(op, "delete") == 0 ? "DeleteBlocked" : "CloudConflict";
    case KUMO_DRIVER_INVALID:
        return "InvalidSpec";
    case KUMO_DRIVER_TIMEOUT:
        return "CloudTimeout";
    case KUMO_DRIVER_UNAVAILABLE:
        return "CloudUnavailable";
    case KUMO_DRIVER_CAPACITY:
        return "InsufficientCapacity";
    case KUMO_DRIVER_QUOTA:
        return "QuotaExceeded";
    default:
        return strcmp(op, "create") == 0   ? "CreateFailed"
               : strcmp(op, "delete") == 0 ? "DeleteFailed"
                                           : "CloudError";
    }
}

/* What to do after a driver failure that no step handles specially. */
static kumo_controller_result driver_failed(resource_run *run, infra_call *call,
                                            kumo_driver_code rc, const char *op)
{
    kumo_error e = kumo_driver_diag_to_kumo(rc, &call->diag, call->driver->name, op, &run->diag);
    if (rc == KUMO_DRIVER_THROTTLED)
        return requeue(
            (call->diag.retry_after_ms ? call->diag.retry_after_ms : RESOURCE_THROTTLED_MS) *
            kumo_controller_jitter(0.3));
    if (rc == KUMO_DRIVER_UNAUTHORIZED) {
        resource_ready(run->object, 0, "Unauthorized", "%s", run->diag.message);
        return status_then(run, requeue(RESOURCE_UNAUTHORIZED_MS));
    }
    KUMO_LOG_INFO("controller", "cloud call failed",
                  "controller=%s key=%s op=%s error=%s detail=\"%s\"", run->ctl->cls->name,
                  run->key, op, kumo_error_name(e), run->diag.message);
    /* The object says so too (the cloud's code and message): never only the log. A Ready
     * resource is not made unready by one failed observe. */
    if (strcmp(op, "observe") == 0 && kumo_meta_condition_is(run->object, "Ready", "True"))
        return retry();
    resource_ready(run->object, 0, driver_failure_reason(rc, op), "%s", run->diag.message);
    return status_then(run, retry());
}

/* ---- deletion ------------------------------------------------------------------------ */

static kumo_controller_result remove_finalizer(resource_run *run)
{
    if (kumo_meta_finalizer_remove(run->object, KUMO_INFRA_FINALIZER) <= 0)
        return done();
    kumo_error e = resource_write_meta(run);
    if (e != KUMO_ERROR_OK)
        return api_failed(e);
    resource_memory_drop(run->ctl, run->key);
    KUMO_LOG_DEBUG("controller", "cloud resource gone; finalizer removed", "controller=%s key=%s",
                   run->ctl->cls->name, run->key);
    return done();
}

static kumo_controller_result finalize(resource_run *run, kumo_cloud_conn *conn)
{
    const resource_class *cls = run->ctl->cls;
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(run->object);
    struct kumo_driver_ref ref = {resource_provider_id(run->object), m->uid};
    infra_call call;
    double defer_ms = 0;
    if (call_begin(run, conn, &call, &defer_ms) != KUMO_ERROR_OK)
        return requeue(defer_ms);
    kumo_driver_code rc;
    if (run->memory.next_observe_ms < 0) {
        /* Delete was accepted before: observe until the cloud says it is gone. */
        void *observed = NULL;
        rc = cls->observe(&call, &ref, &observed);
        call_end(&call, rc, "observe");
        resource_life life = LIFE_GONE;
        if (rc == KUMO_DRIVER_OK)
            life = cls->apply(run->ctl, run, observed);
        driver_free(&call, observed);
        if (rc == KUMO_DRIVER_NOT_FOUND || (rc == KUMO_DRIVER_OK && life == LIFE_GONE))
            return remove_finalizer(run);
        if (rc != KUMO_DRIVER_OK)
            return driver_failed(run, &call, rc, "observe");
        /* Still there: delete again (idempotent) on the next pass. */
        run->memory.next_observe_ms = 0;
        resource_memory_put(run->ctl, run->key, &run->memory);
        return requeue(RESOURCE_DELETE_AGAIN_MS);
    }
    rc = cls->remove(&call, &ref);
    call_end(&call, rc, "delete");
    if (rc == KUMO_DRIVER_NOT_FOUND)
        return remove_finalizer(run);
    if (rc == KUMO_DRIVER_OK) {
        run->memory.next_observe_ms = -1; /* "delete accepted" */
        resource_memory_put(run->ctl, run->key, &run->memory);
        return requeue(cls->has_phase ? RESOURCE_DELETING_PHASED_MS : RESOURCE_DELETING_MS);
    }
    if (rc == KUMO_DRIVER_CONFLICT) {
        /* Something still uses it (machines in a network): wait for them to go. */
        kumo_driver_diag_to_kumo(rc, &call.diag, call.driver->name, "delete", &run->diag);
        resource_ready(run->object, 0, "DeleteBlocked", "%s", run->diag.message);
        return status_then(run, requeue(RESOURCE_DELETE_BLOCKED_MS * kumo_controller_jitter(0.2)));
    }
    return driver_failed(run, &call, rc, "delete");
}

/* ---- creation ------------------------------------------------------------------------ */

/* Conditions for a create the cloud refused. */
static kumo_controller_result create_failed(resource_run *run, infra_call *call,
                                            kumo_driver_code rc)
{
    kumo_driver_diag_to_kumo(rc, &call->diag, call->driver->name, "create", &run->diag);
    const resource_class *cls = run->ctl->cls;
    switch (rc) {
    case KUMO_DRIVER_CAPACITY:
        /* Retried: Pending (phase Failed is for what will not be retried). */
        resource_ready(run->object, 0, "InsufficientCapacity", "%s", run->diag.message);
        if (cls->clear)
            cls->clear(run, "Pending");
        return status_then(run, requeue(RESOURCE_NO_CAPACITY_MS * kumo_controller_jitter(0.2)));
    case KUMO_DRIVER_QUOTA:
        resource_ready(run->object, 0, "QuotaExceeded", "%s", run->diag.message);
        if (cls->clear)
            cls->clear(run, "Pending");
        return status_then(run, requeue(RESOURCE_NO_QUOTA_MS * kumo_controller_jitter(0.2)));
    case KUMO_DRIVER_INVALID:
        resource_ready(run->object, 0, "InvalidSpec", "%s", run->diag.message);
        if (cls->clear)
            cls->clear(run, "Failed");
        return status_then(run, terminal());
    case KUMO_DRIVER_NOT_FOUND:
    case KUMO_DRIVER_ALREADY_EXISTS:
        resource_ready(run->object, 0,
                       rc == KUMO_DRIVER_NOT_FOUND ? "DependencyNotFound" : "AlreadyExists", "%s",
                       run->diag.message);
        return status_then(run, requeue(RESOURCE_CREATE_REJECTED_MS * kumo_controller_jitter(0.2)));
    default:
        return driver_failed(run, call, rc, "create");
    }
}

/* The next observe after an observation that found the resource in `life`. */
static double next_poll_ms(resource_run *run, resource_life life, const char *connection_key)
{
    resource_ctl *ctl = run->ctl;
    double drift = ctl->env.drift_poll_ms * kumo_controller_jitter(0.2);
    if (life != LIFE_PENDING)
        return drift;
    double boot = resource_boot_estimate(ctl, connection_key);
    if (run->memory.created_at_ms > 0 && run->memory.polls_since_create == 0) {
        double left = run->memory.created_at_ms + boot - kumo_clock_now_ms();
        return left > 50 ? left : 50;
    }
    double again = boot * 0.2;
    return again < 250 ? 250 : again;
}

static kumo_controller_result create(resource_run *run, kumo_cloud_conn *conn)
{
    resource_ctl *ctl = run->ctl;
    const resource_class *cls = ctl->cls;
    void *prepared = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    int p = cls->prepare(ctl, run, &prepared, &diag);
    char why[512];
    snprintf(why, sizeof(why), "%.*s", (int)sizeof(why) - 1, diag.message);
    kumo_diag_fini(&diag);
    if (p == PREPARE_WAIT || p == PREPARE_BLOCKED) {
        resource_ready(run->object, 0,
                       p == PREPARE_WAIT ? "WaitingForDependencies" : "DependencyFailed", "%s",
                       why);
        return status_then(run, requeue(RESOURCE_DEPENDENCY_WAIT_MS * kumo_controller_jitter(0.2)));
    }
    if (p == PREPARE_INVALID) {
        resource_ready(run->object, 0, "InvalidSpec", "%s", why);
        if (cls->clear)
            cls->clear(run, "Failed");
        return status_then(run, terminal());
    }
    if (p != PREPARE_OK)
        return retry();
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(run->object);
    infra_call call;
    double defer_ms = 0;
    if (call_begin(run, conn, &call, &defer_ms) != KUMO_ERROR_OK) {
        cls->prepared_free(prepared);
        return requeue(defer_ms);
    }
    void *created = NULL;
    kumo_driver_code rc = cls->create(&call, prepared, m->uid, &created);
    call_end(&call, rc, "create");
    cls->prepared_free(prepared);
    if (rc != KUMO_DRIVER_THROTTLED) {
        /* From now on the token may name a resource: look before creating again. */
        run->memory.intent_fresh = 0;
        resource_memory_put(ctl, run->key, &run->memory);
    }
    if (rc != KUMO_DRIVER_OK)
        return create_failed(run, &call, rc);
    resource_life life = cls->apply(ctl, run, created);
    driver_free(&call, created);
    run->memory.created_at_ms = kumo_clock_now_ms();
    run->memory.polls_since_create = 0;
    run->memory.next_observe_ms =
        kumo_clock_now_ms() + next_poll_ms(run, life, kumo_cloud_conn_key(conn));
    KUMO_LOG_DEBUG("controller", "cloud resource created", "controller=%s key=%s id=%s", cls->name,
                   run->key, resource_provider_id(run->object));
    kumo_controller_result r = requeue(run->memory.next_observe_ms - kumo_clock_now_ms());
    r = status_then(run, r);
    resource_memory_put(ctl, run->key, &run->memory);
    return r;
}

/* ---- convergence --------------------------------------------------------------------- */

static void drifted(resource_run *run, const char *reason, const char *message)
{
    kumo_object_condition_set(run->object, "Drifted", "True", reason, message);
}

/* Observe, first: 1 with *out when no cloud call is due (converged and not yet time to look,
 * or first seen converged in this process: its poll is spread over the drift interval). */
static int converge_deferred(resource_run *run, double now, int spec_changed, int known,
                             kumo_controller_result *out)
{
    resource_ctl *ctl = run->ctl;
    if (known && !spec_changed && run->memory.next_observe_ms > now) {
        *out = requeue(run->memory.next_observe_ms - now);
        return 1;
    }
    if (!run->memory.seen) {
        /* First sight in this process (a start or a restart): what was converged is polled
         * on its drift schedule, spread over the interval, not all at once. */
        run->memory.seen = 1;
        if (known && !spec_changed && kumo_meta_condition_is(run->object, "Ready", "True")) {
            run->memory.next_observe_ms =
                now + ctl->env.drift_poll_ms * 0.5 * kumo_controller_jitter(1.0);
            resource_memory_put(ctl, run->key, &run->memory);
            *out = requeue(run->memory.next_observe_ms - now);
            return 1;
        }
    }
    return 0;
}

/* Plan, for a resource that existed and is gone (deleted behind our back): report it
 * (driftPolicy Ignore: 1 with *out) or forget its id so that it is created again (0). */
static int vanished(resource_run *run, const char *pid, double now, kumo_controller_result *out)
{
    resource_ctl *ctl = run->ctl;
    const resource_class *cls = ctl->cls;
    resource_drift_action action = cls->drift ? cls->drift(run, LIFE_GONE) : DRIFT_REPLACE;
    if (action == DRIFT_REPORT) {
        drifted(run, "Vanished",
                "the cloud resource was deleted outside kumo; driftPolicy "
                "Ignore: not recreated");
        resource_ready(run->object, 0, "Vanished", "the cloud resource %s no longer exists", pid);
        if (cls->clear)
            cls->clear(run, "Terminated");
        run->memory.next_observe_ms = now + ctl->env.drift_poll_ms * kumo_controller_jitter(0.2);
        resource_memory_put(ctl, run->key, &run->memory);
        *out = status_then(run, requeue(run->memory.next_observe_ms - now));
        return 1;
    }
    char message[400];
    snprintf(message, sizeof(message), "the cloud resource %s was deleted outside kumo; recreated",
             pid);
    drifted(run, "Vanished", message);
    KUMO_LOG_INFO("controller", "cloud resource vanished; recreating", "controller=%s key=%s id=%s",
                  cls->name, run->key, pid);
    resource_provider_id_set(run->object, "");
    if (cls->clear)
        cls->clear(run, "Pending");
    return 0;
}

/* Act, for a machine stopped outside kumo: start it again, replace it or report it, by its
 * driftPolicy. 1 with *out when the pass ends here; else *life is its state now. `ref` names
 * `pid`, which is refreshed from the object. */
static int stopped_repair(resource_run *run, kumo_cloud_conn *conn, infra_call *call, char *pid,
                          size_t pid_size, const struct kumo_driver_ref *ref, resource_life *life,
                          kumo_controller_result *out)
{
    resource_ctl *ctl = run->ctl;
    const resource_class *cls = ctl->cls;
    resource_drift_action action = cls->drift ? cls->drift(run, LIFE_STOPPED) : DRIFT_REPORT;
    if (action != DRIFT_START && action != DRIFT_REPLACE) {
        drifted(run, "Stopped", "the machine was stopped outside kumo; driftPolicy Ignore");
        return 0;
    }
    snprintf(pid, pid_size, "%s", resource_provider_id(run->object));
    double defer_ms = 0;
    void *observed = NULL;
    kumo_driver_code rc;
    if (call_begin(run, conn, call, &defer_ms) != KUMO_ERROR_OK)
        return *out = requeue(defer_ms), 1;
    if (action == DRIFT_REPLACE) {
        rc = cls->remove(call, ref);
        call_end(call, rc, "delete");
        if (rc != KUMO_DRIVER_OK && rc != KUMO_DRIVER_NOT_FOUND)
            return *out = driver_failed(run, call, rc, "delete"), 1;
        drifted(run, "Stopped",
                "the machine was stopped outside kumo; driftPolicy Recreate: replacing it");
        run->memory.next_observe_ms = 0;
        resource_memory_put(ctl, run->key, &run->memory);
        return *out = status_then(run, requeue(RESOURCE_REPLACE_REQUEUE_MS)), 1;
    }
    rc = cls->start(call, ref, &observed);
    call_end(call, rc, "start");
    if (rc != KUMO_DRIVER_OK && rc != KUMO_DRIVER_CONFLICT)
        return *out = driver_failed(run, call, rc, "start"), 1;
    drifted(run, "Stopped", "the machine was stopped outside kumo; started again");
    *life = rc == KUMO_DRIVER_OK ? cls->apply(ctl, run, observed) : LIFE_STOPPED;
    driver_free(call, observed);
    if (rc == KUMO_DRIVER_CONFLICT) /* still stopping: start it once it stopped */
        return *out = status_then(run, requeue(RESOURCE_STOPPING_REQUEUE_MS)), 1;
    KUMO_LOG_INFO("controller", "stopped machine started again", "controller=%s key=%s id=%s",
                  cls->name, run->key, pid);
    return 0;
}

/* Act, when the spec changed: update in place. Takes `observed`. 1 with *out on failure. */
static int spec_update(resource_run *run, kumo_cloud_conn *conn, infra_call *call, void *observed,
                       resource_life *life, kumo_controller_result *out)
{
    const resource_class *cls = run->ctl->cls;
    void *updated = NULL;
    double defer_ms = 0;
    if (call_begin(run, conn, call, &defer_ms) != KUMO_ERROR_OK) {
        driver_free(call, observed);
        return *out = requeue(defer_ms), 1;
    }
    kumo_driver_code rc = cls->update(call, run, observed, &updated);
    call_end(call, rc, "update");
    driver_free(call, observed);
    if (rc != KUMO_DRIVER_OK)
        return *out = driver_failed(run, call, rc, "update"), 1;
    *life = cls->apply(run->ctl, run, updated);
    driver_free(call, updated);
    return 0;
}

/* Report: a repaired drift, the next observe by the resource's life, the status. */
static kumo_controller_result converged_report(resource_run *run, resource_life life, double now,
                                               const char *connection_key)
{
    if (life == LIFE_READY) {
        const Kumo__V1alpha1__Condition *d = kumo_object_condition_get(run->object, "Drifted");
        if (d && strcmp(d->status, "True") == 0)
            kumo_object_condition_set(run->object, "Drifted", "False", "Repaired",
                                      "in the state the spec asks for again");
    }
    run->memory.next_observe_ms = now + next_poll_ms(run, life, connection_key);
    resource_memory_put(run->ctl, run->key, &run->memory);
    return status_then(run, requeue(run->memory.next_observe_ms - now));
}

/* observe (by id or token) -> plan (gone, stopped, spec changed) -> act -> report */
static kumo_controller_result converge(resource_run *run, kumo_cloud_conn *conn)
{
    resource_ctl *ctl = run->ctl;
    const resource_class *cls = ctl->cls;
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(run->object);
    const char *connection_key = kumo_cloud_conn_key(conn);
    double now = kumo_clock_now_ms();
    KUMO_LOG_DEBUG("controller", "converge", "controller=%s key=%s rv=%s seen=%d next_in_ms=%.0f",
                   cls->name, run->key, m->resource_version, run->memory.seen,
                   run->memory.next_observe_ms - now);
    int64_t generation = kumo_meta_generation(run->object);
    int64_t *observed_generation =
        resource_status_observed_generation(kumo_object_status(run->object));
    int spec_changed = observed_generation == NULL || *observed_generation != generation;
    const char *provider_id = resource_provider_id(run->object);
    int known = provider_id[0] != '\0';
    kumo_controller_result out;
    if (converge_deferred(run, now, spec_changed, known, &out))
        return out;
    run->memory.observed_generation = generation;
    /* The marker was written by this process and no create was sent since: nothing can
     * carry this token, so skip the observe. After a restart (no memory) we always look. */
    if (!known && run->memory.intent_fresh)
        return create(run, conn);
    char pid[256];
    snprintf(pid, sizeof(pid), "%s", provider_id);
    struct kumo_driver_ref ref = {pid, m->uid};
    infra_call call;
    double defer_ms = 0;
    if (call_begin(run, conn, &call, &defer_ms) != KUMO_ERROR_OK)
        return requeue(defer_ms);
    void *observed = NULL;
    kumo_driver_code rc = cls->observe(&call, &ref, &observed);
    call_end(&call, rc, "observe");
    if (rc != KUMO_DRIVER_OK && rc != KUMO_DRIVER_NOT_FOUND)
        return driver_failed(run, &call, rc, "observe");
    resource_life life = rc == KUMO_DRIVER_OK ? cls->apply(ctl, run, observed) : LIFE_GONE;
    if (cls->has_phase && run->memory.created_at_ms > 0 && rc == KUMO_DRIVER_OK &&
        run->memory.polls_since_create++ == 0 && (life == LIFE_PENDING || life == LIFE_READY))
        resource_boot_learn(ctl, connection_key, life == LIFE_READY,
                            now - run->memory.created_at_ms);
    if (life == LIFE_GONE) {
        driver_free(&call, observed);
        if (known && vanished(run, pid, now, &out))
            return out;
        return create(run, conn);
    }
    if (life == LIFE_STOPPED) {
        driver_free(&call, observed);
        if (stopped_repair(run, conn, &call, pid, sizeof(pid), &ref, &life, &out))
            return out;
    } else if (spec_changed && cls->update && observed) {
        if (spec_update(run, conn, &call, observed, &life, &out))
            return out;
    } else {
        driver_free(&call, observed);
    }
    return converged_report(run, life, now, connection_key);
}

/* ---- the reconcile ------------------------------------------------------------------- */

static kumo_controller_result reconcile_object(resource_run *run)
{
    resource_ctl *ctl = run->ctl;
    int deleting = kumo_meta_deleting(run->object);
    if (deleting && !kumo_meta_finalizer_has(run->object, KUMO_INFRA_FINALIZER))
        return done();
    int intent_known = resource_provider_id(run->object)[0] ||
                       kumo_meta_annotation(run->object, KUMO_INFRA_CREATE_PENDING);
    if (deleting && !intent_known)
        return remove_finalizer(run); /* nothing was ever asked of a cloud */
    /* The intent (finalizer and marker) is recorded once the Connection opens, before the
     * first cloud call: what never had a Connection was provably never created, and its
     * deletion completes at once. */
    const char *connection_name = resource_spec_connection(run->object);
    run->connection = resource_lookup(ctl->connections, run->ns, connection_name);
    if (run->connection == NULL) {
        resource_ready(run->object, 0, "ConnectionNotFound", "Connection \"%s\" not found",
                       connection_name);
        return status_then(run, requeue(RESOURCE_NO_CONNECTION_MS * kumo_controller_jitter(0.2)));
    }
    if (!deleting && !intent_known && kumo_meta_deleting(run->connection)) {
        /* The Connection waits for the objects that name it; what has asked nothing of the
         * cloud yet asks nothing through a Connection on its way out (a create racing the
         * Connection's last look at its users would outlive it). */
        resource_ready(run->object, 0, "ConnectionDeleting",
                       "Connection \"%s\" is being deleted: nothing new is created through it",
                       connection_name);
        return status_then(run, requeue(RESOURCE_NO_CONNECTION_MS * kumo_controller_jitter(0.2)));
    }
    kumo_cloud_conn *conn = NULL;
    kumo_diag_fini(&run->diag);
    kumo_error e = kumo_cloud_open(ctl->env.cloud, run->connection, &conn, &run->diag);
    if (e != KUMO_ERROR_OK) {
        /* The registry's messages name the Connection already. */
        int named = strncmp(run->diag.message, "Connection \"", 12) == 0;
        resource_ready(run->object, 0, "ConnectionFailed", "%s%s%s%s", named ? "" : "Connection \"",
                       named ? "" : connection_name, named ? "" : "\": ", run->diag.message);
        return status_then(run,
                           requeue(RESOURCE_CONNECTION_FAILED_MS * kumo_controller_jitter(0.2)));
    }
    if (!deleting) {
        kumo_error we = resource_record_intent(run);
        if (we != KUMO_ERROR_OK) {
            kumo_cloud_conn_release(conn);
            return api_failed(we);
        }
    }
    kumo_controller_result r = deleting ? finalize(run, conn) : converge(run, conn);
    kumo_cloud_conn_release(conn);
    return r;
}

static kumo_controller_result reconcile(void *context, const char *ns, const char *name)
{
    resource_ctl *ctl = context;
    resource_run run;
    memset(&run, 0, sizeof(run));
    run.ctl = ctl;
    run.ns = ns;
    run.name = name;
    infra_key(ns, name, run.key, sizeof(run.key));
    kumo_diag_init(&run.diag);
    /* Workers start after the primary informer: reading it here needs no lock. */
    run.object = kumo_informer_get(kumo_controller_informer(ctl->controller), ns, name);
    if (run.object == NULL) {
        resource_memory_drop(ctl, run.key);
        return done();
    }
    run.memory = resource_memory_get(ctl, run.key);
    double now = kumo_clock_now_ms();
    kumo_controller_result r;
    if (kumo_meta_revision(run.object) < run.memory.written_revision &&
        now - run.memory.written_at_ms < STALE_CACHE_WAIT_MS) {
        r = requeue(RESOURCE_CACHE_POLL_MS); /* our own write has not reached the cache yet */
        KUMO_LOG_DEBUG("controller", "cache older than our last write; waiting",
                       "controller=%s key=%s cached=%lld written=%lld", ctl->cls->name, run.key,
                       (long long)kumo_meta_revision(run.object),
                       (long long)run.memory.written_revision);
    } else if (!kumo_meta_deleting(run.object) && run.memory.seen &&
               run.memory.next_observe_ms > now && resource_provider_id(run.object)[0] &&
               resource_status_generation(run.object) == kumo_meta_generation(run.object) &&
               kumo_meta_finalizer_has(run.object, KUMO_INFRA_FINALIZER)) {
        /* Nothing changed that we did not write ourselves, and no poll is due. */
        r = requeue(run.memory.next_observe_ms - now);
    } else {
        run.original = kumo_codec_message_clone(run.object);
        r = run.original ? reconcile_object(&run) : retry();
        if (run.memory.written_at_ms >= now)
            resource_memory_put(ctl, run.key, &run.memory);
    }
    kumo_object_destroy(run.object);
    kumo_object_destroy(run.original);
    kumo_object_destroy(run.connection);
    kumo_diag_fini(&run.diag);
    return r;
}

/* ---- start/stop ---------------------------------------------------------------------- */

static void map_same_connection(void *context, kumo_controller *controller,
                                const ProtobufCMessage *object)
{
    resource_ctl *ctl = context;
    pthread_mutex_lock(&ctl->lock);
    kumo_informer *objects = ctl->objects;
    pthread_mutex_unlock(&ctl->lock);
    infra_enqueue_same_connection(controller, objects, object);
}

static void free_value(void *context, const char *key, void *value)
{
    (void)context;
    (void)key;
    free(value);
}

static void resource_ctl_free(void *context)
{
    resource_ctl *ctl = context;
    if (ctl == NULL)
        return;
    if (ctl->memory) {
        kumo_map_each(ctl->memory, free_value, NULL);
        kumo_map_destroy(ctl->memory);
    }
    if (ctl->boot) {
        kumo_map_each(ctl->boot, free_value, NULL);
        kumo_map_destroy(ctl->boot);
    }
    pthread_mutex_destroy(&ctl->lock);
    free(ctl);
}

kumo_error infra_resource_start(const resource_class *cls, const kumo_infra_env *env,
                                kumo_infra_controller *out, kumo_diag *diag)
{
    resource_ctl *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    ctl->cls = cls;
    ctl->env = *env;
    pthread_mutex_init(&ctl->lock, NULL);
    ctl->memory = kumo_map_create();
    ctl->boot = kumo_map_create();
    out->context = ctl;
    out->context_free = resource_ctl_free;
    if (ctl->memory == NULL || ctl->boot == NULL)
        return kumo_diag_set(diag, KUMO_ERROR_NOMEM, "out of memory");
    kumo_controller_options o = {
        .name = cls->name,
        .client = env->client,
        .kind = kumo_object_kind_lookup(cls->kind),
        .ns = env->ns,
        /* Machines are many; networks, groups and keys a few per connection. */
        .workers = cls->has_phase ? env->workers : 8,
        .queue = {.backoff_base_ms = 50,
                  .backoff_max_ms = 30000,
                  .global_qps = 2000,
                  .global_burst = 4000,
                  /* Machines: a huge Infra's keys do not make a small one's wait. */
                  .fair_by_owner = cls->has_phase},
        .reconcile = reconcile,
        .context = ctl,
        .informers = env->informers,
    };
    /* The Connection always; the other kinds when the class reads them. */
    infra_watch watches[4] = {{"Connection", map_same_connection, &ctl->connections}};
    size_t watch_count = 1;
    if (cls->needs_networks)
        watches[watch_count++] = (infra_watch){"Network", map_same_connection, &ctl->networks};
    if (cls->needs_security_groups)
        watches[watch_count++] =
            (infra_watch){"SecurityGroup", map_same_connection, &ctl->security_groups};
    if (cls->needs_key_pairs)
        watches[watch_count++] = (infra_watch){"KeyPair", map_same_connection, &ctl->key_pairs};
    kumo_error e = infra_controller_run(&o, watches, watch_count, out, &ctl->controller, diag);
    if (e == KUMO_ERROR_OK) {
        pthread_mutex_lock(&ctl->lock);
        ctl->objects = kumo_controller_informer(out->controller);
        pthread_mutex_unlock(&ctl->lock);
    }
    return e;
}
