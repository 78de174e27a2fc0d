/*
 * reconcile.c - one LoadBalancer's reconcile.
 *
 *   1. read it from the cache; gone: forget its memory;
 *   2. deleting: delete it in the driver (by provider id, else by the uid
 *      token), and remove the finalizer once the driver says NOT_FOUND;
 *   3. the finalizer first; then the Connection of spec.connection and its
 *      driver (DriverUnsupported when it has no load balancers);
 *   4. the desired listeners and targets (targets.c);
 *   5. observe: absent -> record create-pending, then create with the uid as
 *      token; present -> keep leaving targets draining (spec.c) and update
 *      when what the driver would get differs from what it last accepted,
 *      or the data plane is not active, or its targets are not ours;
 *   6. status (status.c) written when it changed; requeue at the poll
 *      interval (health and counters are read on every pass).
 * Driver failures land on the Degraded condition with the driver's words.
 */
#include "controllers/loadbalancer/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/log/log.h"
#include "controllers/runtime/meta/meta.h"
#include "drivers/loader/loader.h"
#include "controllers/runtime/clock/clock.h"

static kumo_controller_result result_of(kumo_controller_outcome outcome, double after_ms)
{
    return (kumo_controller_result){outcome, after_ms};
}

static kumo_controller_result requeue(const lb_run *run, double after_ms)
{
    (void)run;
    return result_of(KUMO_CONTROLLER_REQUEUE, after_ms * kumo_controller_jitter(0.1));
}

/* Writes the object (metadata changes); the event it causes brings the next pass. */
static kumo_controller_result write_object(lb_run *run)
{
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_client_update(run->c->env.client, run->object, NULL, &d);
    if (e != KUMO_ERROR_OK && e != KUMO_ERROR_NOT_FOUND)
        KUMO_LOG_WARN(LB_LOG, "update failed", "lb=%s error=%s message=\"%s\"", run->key,
                      kumo_error_name(e), d.message);
    kumo_diag_fini(&d);
    if (e == KUMO_ERROR_OK || e == KUMO_ERROR_NOT_FOUND)
        return result_of(KUMO_CONTROLLER_DONE, 0);
    return result_of(KUMO_CONTROLLER_RETRY, 0);
}

static void driver_problem(lb_run *run, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void driver_problem(lb_run *run, const char *reason, const char *fmt, ...)
{
    snprintf(run->driver_reason, sizeof(run->driver_reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->driver_message, sizeof(run->driver_message), fmt, ap);
    va_end(ap);
}

static const char *uid_of(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(object);
    return meta && meta->uid ? meta->uid : "";
}

/* ---- driver calls ------------------------------------------------------------------------ */

typedef struct lb_call {
    kumo_cloud_conn *conn;
    const struct kumo_driver *driver;
    struct kumo_driver_conn *handle;
    int64_t deadline_ns;
    struct kumo_driver_diag diag;
} lb_call;

/* Opens the Connection's driver; 0, or -1 with the problem noted. */
static int open_driver(lb_run *run, kumo_cloud_conn **out)
{
    *out = NULL;
    const char *name = run->spec->connection;
    if (name == NULL || name[0] == '\0') {
        driver_problem(run, "ConnectionRequired",
                       "spec.connection is empty: name the Connection whose driver runs this load "
                       "balancer");
        return -1;
    }
    ProtobufCMessage *cn = kumo_informer_get(run->c->connections, run->ns, name);
    if (cn == NULL) {
        driver_problem(run, "ConnectionNotFound", "Connection \"%s\" not found in namespace %s",
                       name, run->ns);
        return -1;
    }
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_cloud_open(run->c->env.cloud, cn, out, &d);
    kumo_object_destroy(cn);
    if (e != KUMO_ERROR_OK)
        driver_problem(run, "ConnectionUnavailable", "Connection \"%s\": %s", name, d.message);
    kumo_diag_fini(&d);
    if (e != KUMO_ERROR_OK)
        return -1;
    const struct kumo_driver *drv = kumo_cloud_conn_driver(*out);
    if (!kumo_driver_has_load_balancers(drv)) {
        driver_problem(run, "DriverUnsupported",
                       "driver %s of Connection \"%s\" has no load balancers (it speaks driver ABI "
                       "%u.%u; load balancers need 1.2 and the load balancer capability)",
                       drv->name, name, drv->abi_major, drv->abi_minor);
        kumo_cloud_conn_release(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int call_begin(lb_run *run, kumo_cloud_conn *conn, lb_call *call, double *defer_ms)
{
    memset(call, 0, sizeof(*call));
    call->conn = conn;
    call->driver = kumo_cloud_conn_driver(conn);
    call->handle = kumo_cloud_conn_handle(conn);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_cloud_call_begin(conn, &call->deadline_ns, defer_ms, &d);
    if (e != KUMO_ERROR_OK)
        driver_problem(run, "Throttled", "%s", d.message);
    kumo_diag_fini(&d);
    return e == KUMO_ERROR_OK ? 0 : -1;
}

/* Notes a failed driver call on the run for the conditions. */
static void call_failed(lb_run *run, const lb_call *call, kumo_driver_code rc, const char *op)
{
    const char *reason = rc == KUMO_DRIVER_UNSUPPORTED ? "DriverUnsupported"
                         : rc == KUMO_DRIVER_INVALID   ? "InvalidConfiguration"
                                                       : "DriverError";
    driver_problem(run, reason, "%s %s: %s%s%s", call->driver->name, op, call->diag.message,
                   call->diag.cloud_code[0] ? " (" : "",
                   call->diag.cloud_code[0] ? call->diag.cloud_code : "");
    if (call->diag.cloud_code[0])
        strncat(run->driver_message, ")",
                sizeof(run->driver_message) - strlen(run->driver_message) - 1);
    KUMO_LOG_INFO(LB_LOG, "driver call failed", "lb=%s op=%s code=%d message=\"%s\"", run->key, op,
                  (int)rc, call->diag.message);
}

static kumo_controller_result write_status(lb_run *run);

/* ---- deleting ------------------------------------------------------------------------------ */

static kumo_controller_result remove_finalizer(lb_run *run)
{
    lb_memory_forget(run->c, run->key);
    if (kumo_meta_finalizer_remove(run->object, KUMO_LB_FINALIZER) < 0)
        return result_of(KUMO_CONTROLLER_RETRY, 0);
    return write_object(run);
}

static kumo_controller_result delete_lb(lb_run *run)
{
    if (!kumo_meta_finalizer_has(run->object, KUMO_LB_FINALIZER))
        return result_of(KUMO_CONTROLLER_DONE, 0);
    kumo_cloud_conn *conn = NULL;
    if (open_driver(run, &conn) != 0) {
        /* A driver without load balancers (or no connection named) never made one; a missing
         * or broken Connection may have: the finalizer stays and the status says why. */
        if (strcmp(run->driver_reason, "DriverUnsupported") == 0 ||
            strcmp(run->driver_reason, "ConnectionRequired") == 0)
            return remove_finalizer(run);
        KUMO_LOG_WARN(LB_LOG, "cannot delete yet", "lb=%s reason=%s message=\"%s\"", run->key,
                      run->driver_reason, run->driver_message);
        kumo_controller_result r = write_status(run);
        return r.outcome == KUMO_CONTROLLER_REQUEUE ? requeue(run, LB_DELETE_BLOCKED_MS) : r;
    }
    const Kumo__V1alpha1__LoadBalancerStatus *st = run->lb->status;
    struct kumo_driver_ref ref = {st ? st->provider_id : "", uid_of(run->object)};
    lb_call call;
    double defer_ms = 0;
    kumo_driver_code rc = KUMO_DRIVER_THROTTLED;
    if (call_begin(run, conn, &call, &defer_ms) == 0) {
        rc = call.driver->load_balancer_delete(call.handle, &ref, call.deadline_ns, &call.diag);
        kumo_cloud_call_end(conn, rc);
        if (rc != KUMO_DRIVER_OK && rc != KUMO_DRIVER_NOT_FOUND)
            call_failed(run, &call, rc, "load_balancer_delete");
    }
    kumo_cloud_conn_release(conn);
    if (rc == KUMO_DRIVER_NOT_FOUND)
        return remove_finalizer(run);
    return requeue(run, rc == KUMO_DRIVER_OK ? LB_DELETING_MS
                        : defer_ms > 0       ? defer_ms
                                             : LB_DELETE_RETRY_MS);
}

/* ---- converging ----------------------------------------------------------------------------- */

/* 1 when the data plane's targets are exactly the names we want. */
static int same_targets(const lb_run *run)
{
    if (run->seen == NULL || run->seen->target_count != run->target_count)
        return 0;
    for (size_t i = 0; i < run->seen->target_count; i++) {
        int found = 0;
        for (size_t j = 0; j < run->target_count && !found; j++)
            found = strcmp(run->targets[j].name, run->seen->targets[i]->name) == 0 &&
                    strcmp(run->targets[j].listener, run->seen->targets[i]->listener) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static void remember_sent(lb_run *run, char **fingerprint)
{
    lb_memory *m = lb_memory_acquire(run->c, run->key);
    if (m != NULL) {
        free(m->sent);
        m->sent = *fingerprint;
        *fingerprint = NULL;
    }
    lb_memory_release(run->c);
}

static int already_sent(lb_run *run, const char *fingerprint)
{
    lb_memory *m = lb_memory_acquire(run->c, run->key);
    int same = m && m->sent && strcmp(m->sent, fingerprint) == 0;
    lb_memory_release(run->c);
    return same;
}

/* Creates (seen == NULL) or updates the load balancer when it differs from what we want. */
static void converge(lb_run *run, kumo_cloud_conn *conn, double *defer_ms)
{
    lb_targets_keep_leaving(run);
    lb_spec s;
    if (lb_spec_init(&s, run) != 0)
        return;
    char *fp = lb_spec_fingerprint(&s);
    int active = run->seen && strcmp(run->seen->state, "active") == 0;
    if (run->seen != NULL && fp && active && same_targets(run) && already_sent(run, fp)) {
        free(fp);
        lb_spec_fini(&s);
        return;
    }
    lb_call call;
    struct kumo_driver_load_balancer *fresh = NULL;
    if (call_begin(run, conn, &call, defer_ms) == 0) {
        kumo_driver_code rc;
        const char *op = run->seen ? "load_balancer_update" : "load_balancer_create";
        if (run->seen == NULL) {
            rc = call.driver->load_balancer_create(call.handle, &s.abi, uid_of(run->object),
                                                   call.deadline_ns, &fresh, &call.diag);
        } else {
            struct kumo_driver_load_balancer_update u = {sizeof(u),
                                                         KUMO_DRIVER_LOAD_BALANCER_SET_TARGETS |
                                                             KUMO_DRIVER_LOAD_BALANCER_SET_CONFIG,
                                                         &s.abi};
            struct kumo_driver_ref ref = {run->seen->provider_id, uid_of(run->object)};
            rc = call.driver->load_balancer_update(call.handle, &ref, &u, call.deadline_ns, &fresh,
                                                   &call.diag);
        }
        kumo_cloud_call_end(conn, rc);
        if (rc == KUMO_DRIVER_OK) {
            if (run->seen)
                kumo_driver_free(run->host, run->seen);
            run->seen = fresh;
            remember_sent(run, &fp);
        } else {
            call_failed(run, &call, rc, op);
        }
    }
    free(fp);
    lb_spec_fini(&s);
}

/* Observes; on NOT_FOUND records create-pending (returns 1: the write brings the next pass). */
static int observe(lb_run *run, kumo_cloud_conn *conn, double *defer_ms,
                   kumo_controller_result *result)
{
    const Kumo__V1alpha1__LoadBalancerStatus *st = run->lb->status;
    struct kumo_driver_ref ref = {st && st->provider_id[0] ? st->provider_id : "",
                                  uid_of(run->object)};
    lb_call call;
    if (call_begin(run, conn, &call, defer_ms) != 0)
        return 0;
    kumo_driver_code rc = call.driver->load_balancer_observe(call.handle, &ref, call.deadline_ns,
                                                             &run->seen, &call.diag);
    kumo_cloud_call_end(conn, rc);
    if (rc == KUMO_DRIVER_NOT_FOUND && ref.provider_id[0] == '\0' &&
        kumo_meta_annotation(run->object, KUMO_LB_CREATE_PENDING) == NULL) {
        char when[64];
        snprintf(when, sizeof(when), "%.0f", kumo_clock_now_ms());
        if (kumo_meta_annotation_set(run->object, KUMO_LB_CREATE_PENDING, when) < 0)
            return 0;
        *result = write_object(run);
        return 1;
    }
    if (rc == KUMO_DRIVER_NOT_FOUND && ref.provider_id[0] != '\0') {
        /* Gone behind our back: observe by token once more, then create it again. */
        struct kumo_driver_ref by_token = {"", uid_of(run->object)};
        if (call_begin(run, conn, &call, defer_ms) == 0) {
            rc = call.driver->load_balancer_observe(call.handle, &by_token, call.deadline_ns,
                                                    &run->seen, &call.diag);
            kumo_cloud_call_end(conn, rc);
        }
    }
    if (rc != KUMO_DRIVER_OK && rc != KUMO_DRIVER_NOT_FOUND) {
        call_failed(run, &call, rc, "load_balancer_observe");
        return -1;
    }
    return 0;
}

static kumo_controller_result write_status(lb_run *run)
{
    int ready = 0;
    ProtobufCMessage *fresh = lb_status_build(run, &ready);
    if (fresh == NULL)
        return result_of(KUMO_CONTROLLER_RETRY, 0);
    kumo_controller_result result = requeue(run, run->c->env.poll_ms);
    /* Counters move with every request: alone they are written at most once per poll (our
     * own write's event would otherwise reconcile again at once, for ever). */
    int write = !kumo_meta_status_equal(run->object, fresh);
    lb_memory *m = lb_memory_acquire(run->c, run->key);
    if (write && m && run->now_ms - m->status_ms < run->c->env.poll_ms * 0.9 &&
        lb_status_only_counters(run->object, fresh))
        write = 0;
    if (write && m)
        m->status_ms = run->now_ms;
    lb_memory_release(run->c);
    if (write) {
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_error e = kumo_client_update_status(run->c->env.client, fresh, NULL, &d);
        if (e != KUMO_ERROR_OK && e != KUMO_ERROR_NOT_FOUND) {
            KUMO_LOG_WARN(LB_LOG, "status write failed", "lb=%s error=%s message=\"%s\"", run->key,
                          kumo_error_name(e), d.message);
            result = result_of(KUMO_CONTROLLER_RETRY, 0);
        }
        kumo_diag_fini(&d);
    }
    kumo_object_destroy(fresh);
    return result;
}

kumo_controller_result lb_reconcile(void *context, const char *ns, const char *name)
{
    kumo_lb_controller *c = context;
    lb_run run;
    memset(&run, 0, sizeof(run));
    run.c = c;
    run.ns = ns;
    run.name = name;
    run.now_ms = kumo_clock_now_ms();
    snprintf(run.key, sizeof(run.key), "%s/%s", ns, name);
    run.object = kumo_informer_get(kumo_controller_informer(c->controller), ns, name);
    if (run.object == NULL) {
        lb_memory_forget(c, run.key);
        return result_of(KUMO_CONTROLLER_DONE, 0);
    }
    run.lb = (Kumo__V1alpha1__LoadBalancer *)run.object;
    run.spec = run.lb->spec;
    kumo_controller_result result = result_of(KUMO_CONTROLLER_DONE, 0);
    if (run.spec == NULL) {
        lb_run_free(&run);
        return result;
    }
    if (kumo_meta_deleting(run.object)) {
        result = delete_lb(&run);
        lb_run_free(&run);
        return result;
    }
    if (!kumo_meta_finalizer_has(run.object, KUMO_LB_FINALIZER)) {
        result = kumo_meta_finalizer_add(run.object, KUMO_LB_FINALIZER) < 0
                     ? result_of(KUMO_CONTROLLER_RETRY, 0)
                     : write_object(&run);
        lb_run_free(&run);
        return result;
    }
    kumo_cloud_conn *conn = NULL;
    double defer_ms = 0;
    lb_targets_build(&run);
    if (open_driver(&run, &conn) == 0) {
        run.host = kumo_cloud_conn_host(conn);
        int pending = observe(&run, conn, &defer_ms, &result);
        if (pending == 0 && run.driver_reason[0] == '\0')
            converge(&run, conn, &defer_ms);
        if (pending == 1) {
            kumo_cloud_conn_release(conn);
            lb_run_free(&run);
            return result;
        }
    }
    if (run.seen && run.driver_reason[0] == '\0' && strcmp(run.seen->state, "active") != 0)
        driver_problem(&run, "LoadBalancerNotActive", "the load balancer is %s%s%s",
                       run.seen->state, run.seen->message[0] ? ": " : "", run.seen->message);
    else if (run.seen && run.driver_reason[0] == '\0' && run.seen->message[0])
        driver_problem(&run, "DataPlaneUnreadable", "%s", run.seen->message);
    result = write_status(&run);
    if (run.seen && kumo_meta_annotation(run.object, KUMO_LB_CREATE_PENDING) && run.lb->status &&
        run.lb->status->provider_id[0] &&
        kumo_meta_annotation_set(run.object, KUMO_LB_CREATE_PENDING, NULL) > 0)
        write_object(&run);
    if (defer_ms > 0 && result.outcome == KUMO_CONTROLLER_REQUEUE && defer_ms < result.after_ms)
        result.after_ms = defer_ms;
    kumo_cloud_conn_release(conn);
    lb_run_free(&run);
    return result;
}
