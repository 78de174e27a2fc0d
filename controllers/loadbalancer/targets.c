/*
 * targets.c - what a LoadBalancer asks its driver for.
 *
 * Listeners: as in the spec; an HTTPS listener's certificate and key come
 * from its `tls` Credential (keys tls.crt and tls.key) and are checked with
 * OpenSSL first: a listener whose Credential is missing or not a matching
 * certificate and key is left out (the others keep serving) and named in
 * the Degraded condition.
 *
 * Endpoints: an App backend's instances from the App's status (component,
 * machine, address), on Machines that exist and are not being deleted,
 * narrowed by machineConnection and machineSelector; every instance but
 * Stopping or Stopped ones is a target (the data plane's health check
 * decides whether it serves). Fixed addresses are endpoints as
 * written. Every endpoint is a target on each listener the backend serves,
 * named "<backend>.<machine>" or "<backend>.<address>".
 *
 * Policy: RoundRobin gives every target weight 1; Weighted and
 * LeastConnections give each backend its weight as a share, split over its
 * endpoints (so old and new machines can be weighted apart whatever their
 * numbers); Failover marks targets of every priority but the lowest as
 * backup; Nearest marks every target not in the region closest to the load
 * balancer's as backup. Draining targets get weight 0.
 */
#include "controllers/loadbalancer/internal.h"

#include <math.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"
#include "apis/kumo/v1alpha1/app.pb-c.h"
#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/credential.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "controllers/runtime/meta/meta.h"

typedef Kumo__V1alpha1__LoadBalancerSpec lb_spec_msg;
typedef Kumo__V1alpha1__LoadBalancerBackend lb_backend;

static void problem(lb_run *run, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(lb_run *run, const char *reason, const char *fmt, ...)
{
    if (run->problem_reason[0])
        return; /* the first one is reported */
    snprintf(run->problem_reason, sizeof(run->problem_reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->problem, sizeof(run->problem), fmt, ap);
    va_end(ap);
}

/* ---- listeners ------------------------------------------------------------------------ */

static const char *data_of(const Kumo__V1alpha1__Credential *cred, const char *key)
{
    for (size_t i = 0; cred->spec && i < cred->spec->n_data; i++)
        if (strcmp(cred->spec->data[i]->key, key) == 0)
            return cred->spec->data[i]->value;
    return NULL;
}

/* NULL when certificate and key are a matching PEM pair, else what is wrong. */
static const char *tls_pair_problem(const char *certificate, const char *key)
{
    BIO *cb = BIO_new_mem_buf(certificate, -1), *kb = BIO_new_mem_buf(key, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    const char *why = x == NULL   ? "tls.crt is not a PEM certificate"
                      : k == NULL ? "tls.key is not a PEM private key"
                      : X509_check_private_key(x, k) != 1
                          ? "tls.key does not belong to the certificate in tls.crt"
                          : NULL;
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return why;
}

/* Reads and checks the listener's Credential; 0 with l->certificate and l->key set. */
static int listener_tls(lb_run *run, const Kumo__V1alpha1__LoadBalancerListener *spec,
                        lb_listener *l)
{
    const char *ref = spec->tls_credential_ref ? spec->tls_credential_ref->name : "";
    ProtobufCMessage *object = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e =
        run->c->env.read_credential
            ? run->c->env.read_credential(run->c->env.credential_context, run->ns, ref, &object, &d)
            : kumo_diag_set(&d, KUMO_ERROR_UNAVAILABLE,
                            "credentials cannot be read in this process");
    const Kumo__V1alpha1__Credential *cred = (const Kumo__V1alpha1__Credential *)object;
    const char *crt = cred ? data_of(cred, "tls.crt") : NULL,
               *key = cred ? data_of(cred, "tls.key") : NULL;
    const char *why = e != KUMO_ERROR_OK                                    ? d.message
                      : !cred->spec || strcmp(cred->spec->type, "tls") != 0 ? "its type is not tls"
                      : crt == NULL || key == NULL ? "it lacks tls.crt or tls.key"
                                                   : tls_pair_problem(crt, key);
    if (why != NULL)
        problem(run, "TLSCredentialInvalid",
                "listener %s: Credential \"%s\": %s; the listener is "
                "not served",
                spec->name, ref, why);
    else if ((l->certificate = strdup(crt)) == NULL || (l->key = strdup(key)) == NULL)
        why = "out of memory";
    kumo_object_destroy(object);
    kumo_diag_fini(&d);
    return why == NULL ? 0 : -1;
}

static void build_listeners(lb_run *run)
{
    const lb_spec_msg *spec = run->spec;
    run->listeners = calloc(spec->n_listeners + 1, sizeof(*run->listeners));
    for (size_t i = 0; run->listeners && i < spec->n_listeners; i++) {
        const Kumo__V1alpha1__LoadBalancerListener *s = spec->listeners[i];
        lb_listener *l = &run->listeners[run->listener_count];
        memset(l, 0, sizeof(*l));
        if (s->protocol == KUMO__V1ALPHA1__LOAD_BALANCER_LISTENER__PROTOCOL__HTTPS &&
            listener_tls(run, s, l) != 0)
            continue;
        snprintf(l->name, sizeof(l->name), "%s", s->name);
        l->abi.struct_size = sizeof(l->abi);
        l->abi.name = l->name;
        l->abi.port = s->port;
        l->abi.protocol = s->protocol ? (int32_t)s->protocol : KUMO_DRIVER_LB_TCP;
        l->abi.tls_certificate_pem = l->certificate ? l->certificate : "";
        l->abi.tls_private_key_pem = l->key ? l->key : "";
        run->listener_count++;
    }
}

static int serves(const lb_backend *b, const char *listener)
{
    if (b->n_listeners == 0)
        return 1;
    for (size_t i = 0; i < b->n_listeners; i++)
        if (strcmp(b->listeners[i], listener) == 0)
            return 1;
    return 0;
}

/* ---- endpoints ------------------------------------------------------------------------ */

static lb_target *target_add(lb_run *run, size_t *cap)
{
    if (run->target_count == *cap) {
        size_t n = *cap ? *cap * 2 : 16;
        lb_target *grown = realloc(run->targets, n * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        run->targets = grown;
        *cap = n;
    }
    lb_target *t = &run->targets[run->target_count];
    memset(t, 0, sizeof(*t));
    return t;
}

static int listed(char *const *list, size_t n, const char *value)
{
    for (size_t i = 0; value && value[0] && i < n; i++)
        if (strcmp(list[i], value) == 0)
            return 1;
    return 0;
}

/* Adds one endpoint of backend b as a target on every listener b serves. */
static void endpoint(lb_run *run, size_t *cap, const lb_backend *b, const char *machine,
                     const char *connection, const char *address)
{
    char name[200];
    snprintf(name, sizeof(name), "%s.%s", b->name, machine[0] ? machine : address);
    for (size_t l = 0; l < run->listener_count; l++) {
        if (!serves(b, run->listeners[l].name))
            continue;
        int seen = 0;
        for (size_t i = 0; i < run->target_count && !seen; i++)
            seen = strcmp(run->targets[i].name, name) == 0 &&
                   strcmp(run->targets[i].listener, run->listeners[l].name) == 0;
        lb_target *t = seen ? NULL : target_add(run, cap);
        if (t == NULL)
            continue;
        snprintf(t->name, sizeof(t->name), "%s", name);
        snprintf(t->listener, sizeof(t->listener), "%s", run->listeners[l].name);
        snprintf(t->backend, sizeof(t->backend), "%s", b->name);
        snprintf(t->machine, sizeof(t->machine), "%s", machine);
        snprintf(t->connection, sizeof(t->connection), "%s", connection);
        snprintf(t->address, sizeof(t->address), "%s", address);
        t->port = b->port;
        t->priority = b->priority;
        t->backend_weight = b->weight;
        t->draining =
            listed(b->drain, b->n_drain, machine) || listed(b->drain, b->n_drain, address);
        run->target_count++;
    }
}

/* Instances that run or will run again are targets (the data plane's check says whether they
 * serve: a crashed one shows unhealthy until its agent restarted it); stopping or stopped ones
 * are not. */
static int instance_serves(const Kumo__V1alpha1__AppInstance *in)
{
    return in->phase != KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Stopping &&
           in->phase != KUMO__V1ALPHA1__APP_INSTANCE__PHASE__Stopped &&
           in->phase != KUMO__V1ALPHA1__APP_INSTANCE__PHASE__PhaseUnspecified;
}

static void app_endpoints(lb_run *run, size_t *cap, const lb_backend *b)
{
    kumo_lb_controller *c = run->c;
    Kumo__V1alpha1__App *app =
        (Kumo__V1alpha1__App *)kumo_informer_get(c->apps, run->ns, b->app_ref->name);
    if (app == NULL) {
        problem(run, "BackendNotFound", "backend %s: App \"%s\" not found in namespace %s", b->name,
                b->app_ref->name, run->ns);
        return;
    }
    lb_backend port_of = *b; /* port 0: the component's first port */
    for (size_t i = 0; b->port == 0 && app->spec && i < app->spec->n_components; i++)
        if (strcmp(app->spec->components[i]->name, b->component) == 0 &&
            app->spec->components[i]->n_ports > 0)
            port_of.port = app->spec->components[i]->ports[0]->port;
    if (port_of.port == 0) {
        problem(run, "BackendPortUnknown",
                "backend %s: no port given and component %s of App \"%s\" declares none", b->name,
                b->component, b->app_ref->name);
        kumo_object_destroy(&app->base);
        return;
    }
    b = &port_of;
    for (size_t i = 0; app->status && i < app->status->n_instances; i++) {
        const Kumo__V1alpha1__AppInstance *in = app->status->instances[i];
        if (strcmp(in->component, b->component) != 0 || !in->address[0] || !instance_serves(in))
            continue;
        Kumo__V1alpha1__Machine *m =
            (Kumo__V1alpha1__Machine *)kumo_informer_get(c->machines, run->ns, in->machine);
        const char *conn = m && m->spec ? m->spec->connection : "";
        int ok =
            m != NULL && !kumo_meta_deleting(&m->base) &&
            (!b->machine_connection[0] || strcmp(b->machine_connection, conn) == 0) &&
            (b->machine_selector == NULL || kumo_meta_labels_match(b->machine_selector, &m->base));
        if (ok)
            endpoint(run, cap, b, in->machine, conn, in->address);
        kumo_object_destroy(m ? &m->base : NULL);
    }
    kumo_object_destroy(&app->base);
}

/* ---- policy ------------------------------------------------------------------------- */

/* Distance in km between the load balancer's region and the target's (NAN: unknown). */
static double distance_km(lb_run *run, const char *connection)
{
    double la[2], lo[2];
    const char *names[2] = {run->spec->connection, connection};
    for (int i = 0; i < 2; i++) {
        Kumo__V1alpha1__Connection *cn =
            (Kumo__V1alpha1__Connection *)kumo_informer_get(run->c->connections, run->ns, names[i]);
        int found = cn && cn->spec &&
                    kumo_cloud_region_find(run->c->env.cloud, cn->spec->provider, cn->spec->region,
                                           &la[i], &lo[i], NULL, 0);
        kumo_object_destroy(cn ? &cn->base : NULL);
        if (!found)
            return NAN;
    }
    double p = M_PI / 180, a = 0.5 - cos((la[1] - la[0]) * p) / 2 +
                               cos(la[0] * p) * cos(la[1] * p) * (1 - cos((lo[1] - lo[0]) * p)) / 2;
    return 12742 * asin(sqrt(a));
}

/* The rank of each target for Failover (priority) or Nearest (distance); lower is preferred. */
static double rank_of(lb_run *run, const lb_target *t)
{
    if (run->spec->policy == KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__Failover)
        return t->priority;
    double d = t->connection[0] ? distance_km(run, t->connection) : NAN;
    return isnan(d) ? 0 : floor(d / 50); /* regions within 50 km count as one */
}

static void apply_policy(lb_run *run)
{
    int policy = run->spec->policy;
    int ranked = policy == KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__Failover ||
                 policy == KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__Nearest;
    int shares = policy == KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__Weighted ||
                 policy == KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__LeastConnections;
    double *rank = calloc(run->target_count + 1, sizeof(double)), top = 0;
    for (size_t i = 0; rank && i < run->target_count; i++) {
        lb_target *t = &run->targets[i];
        rank[i] = ranked ? rank_of(run, t) : 0;
        double share = t->backend_weight;
        size_t n = 0;
        for (size_t j = 0; j < run->target_count; j++)
            n += !run->targets[j].draining && strcmp(run->targets[j].backend, t->backend) == 0 &&
                 strcmp(run->targets[j].listener, t->listener) == 0;
        if (shares && n > 0 && share / (double)n > top)
            top = share / (double)n;
    }
    for (size_t i = 0; rank && i < run->target_count; i++) {
        lb_target *t = &run->targets[i];
        double best = INFINITY;
        size_t n = 0;
        for (size_t j = 0; j < run->target_count; j++) {
            const lb_target *o = &run->targets[j];
            if (strcmp(o->listener, t->listener) == 0 && !o->draining && rank[j] < best)
                best = rank[j];
            n += !o->draining && strcmp(o->backend, t->backend) == 0 &&
                 strcmp(o->listener, t->listener) == 0;
        }
        t->backup = ranked && rank[i] > best;
        t->weight = 1;
        if (shares && top > 0 && n > 0)
            t->weight = t->backend_weight == 0
                            ? 0
                            : (int)fmax(1, round(t->backend_weight / (double)n / top * 256));
        if (t->draining)
            t->weight = 0;
    }
    free(rank);
}

void lb_targets_build(lb_run *run)
{
    size_t cap = 0;
    build_listeners(run);
    for (size_t i = 0; i < run->spec->n_backends; i++) {
        const lb_backend *b = run->spec->backends[i];
        if (b->app_ref != NULL) {
            app_endpoints(run, &cap, b);
            continue;
        }
        for (size_t a = 0; a < b->n_addresses; a++)
            endpoint(run, &cap, b, "", "", b->addresses[a]);
    }
    apply_policy(run);
}
