/*
 * spec.c - from a run's listeners and targets to the driver's spec, the
 * leaving targets (drained before they go), and the fingerprint that tells
 * whether the driver already has what it would get.
 *
 * A target the data plane still has but the LoadBalancer no longer wants is
 * kept, draining (no new traffic, existing connections finish), until the
 * data plane shows it drained with no session left, or unhealthy with none,
 * or until spec.drainTimeoutSeconds passed since the controller first saw it
 * leave; then it is removed. The drain clocks live in the controller's
 * memory (a restarted kumod starts them again: a drain lasts at most twice
 * the timeout).
 */
#include "controllers/loadbalancer/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/codec/codec.h"

/* ---- leaving targets ------------------------------------------------------------------ */

static int wanted(const lb_run *run, const char *listener, const char *name)
{
    for (size_t i = 0; i < run->target_count; i++)
        if (strcmp(run->targets[i].listener, listener) == 0 &&
            strcmp(run->targets[i].name, name) == 0)
            return 1;
    return 0;
}

/* The drain clock of "<listener>/<name>" in m (started now when absent); -1 when no memory. */
static double drain_since(lb_memory *m, const char *key, double now_ms)
{
    for (size_t i = 0; i < m->drain_count; i++)
        if (strcmp(m->drains[i].key, key) == 0)
            return m->drains[i].since_ms;
    lb_drain *grown = realloc(m->drains, (m->drain_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    m->drains = grown;
    snprintf(m->drains[m->drain_count].key, sizeof(m->drains[0].key), "%s", key);
    m->drains[m->drain_count++].since_ms = now_ms;
    return now_ms;
}

/* Forgets the drain clocks of targets that are wanted again or gone. */
static void drains_prune(lb_memory *m, const lb_run *run)
{
    size_t kept = 0;
    for (size_t i = 0; i < m->drain_count; i++) {
        int leaving = 0;
        for (size_t j = 0; j < run->target_count && !leaving; j++) {
            char key[272];
            snprintf(key, sizeof(key), "%s/%s", run->targets[j].listener, run->targets[j].name);
            leaving = run->targets[j].leaving && strcmp(key, m->drains[i].key) == 0;
        }
        if (leaving)
            m->drains[kept++] = m->drains[i];
    }
    m->drain_count = kept;
}

static int drained(const struct kumo_driver_lb_target_status *s)
{
    if (s->current_sessions > 0)
        return 0;
    return s->health == KUMO_DRIVER_LB_HEALTH_DRAINING ||
           s->health == KUMO_DRIVER_LB_HEALTH_UNHEALTHY ||
           s->health == KUMO_DRIVER_LB_HEALTH_DISABLED;
}

void lb_targets_keep_leaving(lb_run *run)
{
    if (run->seen == NULL)
        return;
    double timeout_ms =
        (run->spec->drain_timeout_seconds > 0 ? run->spec->drain_timeout_seconds : 30) * 1000.0;
    lb_memory *m = lb_memory_acquire(run->c, run->key);
    for (size_t i = 0; m && i < run->seen->target_count; i++) {
        const struct kumo_driver_lb_target_status *s = run->seen->targets[i];
        int listener = 0;
        for (size_t l = 0; l < run->listener_count && !listener; l++)
            listener = strcmp(run->listeners[l].name, s->listener) == 0;
        if (!listener || wanted(run, s->listener, s->name))
            continue; /* a listener that went takes its targets along */
        char key[272];
        snprintf(key, sizeof(key), "%s/%s", s->listener, s->name);
        double since = drain_since(m, key, run->now_ms);
        if (since < 0 || drained(s) || run->now_ms - since > timeout_ms)
            continue; /* removed from the data plane now */
        lb_target *grown = realloc(run->targets, (run->target_count + 1) * sizeof(*grown));
        if (grown == NULL)
            break;
        run->targets = grown;
        lb_target *t = &run->targets[run->target_count++];
        memset(t, 0, sizeof(*t));
        snprintf(t->name, sizeof(t->name), "%s", s->name);
        snprintf(t->listener, sizeof(t->listener), "%s", s->listener);
        const char *dot = strchr(s->name, '.');
        snprintf(t->backend, sizeof(t->backend), "%.*s", dot ? (int)(dot - s->name) : 0, s->name);
        snprintf(t->address, sizeof(t->address), "%s", s->address);
        t->port = s->port;
        t->backup = s->backup;
        t->draining = t->leaving = 1;
    }
    if (m)
        drains_prune(m, run);
    lb_memory_release(run->c);
}

/* ---- the driver's spec ------------------------------------------------------------------ */

int lb_spec_init(lb_spec *s, const lb_run *run)
{
    const Kumo__V1alpha1__LoadBalancerSpec *spec = run->spec;
    memset(s, 0, sizeof(*s));
    s->listeners = calloc(run->listener_count + 1, sizeof(*s->listeners));
    s->targets = calloc(run->target_count + 1, sizeof(*s->targets));
    s->target_ptrs = calloc(run->target_count + 1, sizeof(*s->target_ptrs));
    if (!s->listeners || !s->targets || !s->target_ptrs) {
        lb_spec_fini(s);
        return -1;
    }
    for (size_t i = 0; i < run->listener_count; i++)
        s->listeners[i] = &run->listeners[i].abi;
    for (size_t i = 0; i < run->target_count; i++) {
        const lb_target *t = &run->targets[i];
        struct kumo_driver_lb_target *d = &s->targets[i];
        *d = (struct kumo_driver_lb_target){sizeof(*d), t->name,   t->listener, t->address,
                                            t->port,    t->weight, t->backup,   t->draining};
        s->target_ptrs[i] = d;
    }
    const Kumo__V1alpha1__HealthCheck *hc = spec->health_check;
    s->health.struct_size = sizeof(s->health);
    if (hc != NULL) {
        s->health.protocol = hc->type == KUMO__V1ALPHA1__HEALTH_CHECK__TYPE__HTTP
                                 ? KUMO_DRIVER_LB_HTTP
                                 : KUMO_DRIVER_LB_TCP;
        s->health.path = hc->path;
        s->health.port = hc->port;
        s->health.interval_ms =
            hc->interval_millis ? hc->interval_millis : hc->interval_seconds * 1000;
        s->health.timeout_ms = hc->timeout_millis ? hc->timeout_millis : hc->timeout_seconds * 1000;
        s->health.healthy_threshold = hc->success_threshold;
        s->health.unhealthy_threshold = hc->failure_threshold;
    }
    const Kumo__V1alpha1__SessionAffinity *a = spec->session_affinity;
    s->abi = (struct kumo_driver_load_balancer_spec){
        .struct_size = sizeof(s->abi),
        .name = run->name,
        .policy = spec->policy == KUMO__V1ALPHA1__LOAD_BALANCER_SPEC__POLICY__LeastConnections
                      ? KUMO_DRIVER_LB_LEAST_CONNECTIONS
                      : KUMO_DRIVER_LB_ROUND_ROBIN,
        .affinity = a == NULL ? KUMO_DRIVER_LB_AFFINITY_NONE
                    : a->type == KUMO__V1ALPHA1__SESSION_AFFINITY__TYPE__ClientIP
                        ? KUMO_DRIVER_LB_AFFINITY_CLIENT_IP
                    : a->type == KUMO__V1ALPHA1__SESSION_AFFINITY__TYPE__Cookie
                        ? KUMO_DRIVER_LB_AFFINITY_COOKIE
                        : KUMO_DRIVER_LB_AFFINITY_NONE,
        .affinity_timeout_s = a ? a->timeout_seconds : 0,
        .affinity_cookie = a ? a->cookie_name : "",
        .health_check = &s->health,
        .listeners = s->listeners,
        .listener_count = run->listener_count,
        .targets = s->target_ptrs,
        .target_count = run->target_count,
    };
    return 0;
}

void lb_spec_fini(lb_spec *s)
{
    free(s->listeners);
    free(s->targets);
    free(s->target_ptrs);
    memset(s, 0, sizeof(*s));
}

static unsigned long long fnv(const char *s)
{
    unsigned long long h = 1469598103934665603ull;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

char *lb_spec_fingerprint(const lb_spec *s)
{
    kumo_codec_buffer b;
    kumo_codec_buffer_init(&b);
    char line[1024];
    const struct kumo_driver_load_balancer_spec *a = &s->abi;
    const struct kumo_driver_lb_health_check *h = a->health_check;
    int n = snprintf(line, sizeof(line), "p%d a%d/%d/%s h%d %s %d %d %d %d %d\n", a->policy,
                     a->affinity, a->affinity_timeout_s, a->affinity_cookie, h->protocol,
                     h->path ? h->path : "", h->port, h->interval_ms, h->timeout_ms,
                     h->healthy_threshold, h->unhealthy_threshold);
    kumo_codec_buffer_append(&b, line, (size_t)n);
    for (size_t i = 0; i < a->listener_count; i++) {
        const struct kumo_driver_lb_listener *l = a->listeners[i];
        n = snprintf(line, sizeof(line), "l %s %d %d %llx %llx\n", l->name, l->port, l->protocol,
                     fnv(l->tls_certificate_pem), fnv(l->tls_private_key_pem));
        kumo_codec_buffer_append(&b, line, (size_t)n);
    }
    for (size_t i = 0; i < a->target_count; i++) {
        const struct kumo_driver_lb_target *t = a->targets[i];
        n = snprintf(line, sizeof(line), "t %s %s %s %d %d %d %d\n", t->listener, t->name,
                     t->address, t->port, t->weight, t->backup, t->draining);
        kumo_codec_buffer_append(&b, line, (size_t)n);
    }
    kumo_codec_buffer_append(&b, "", 1);
    return kumo_codec_buffer_take(&b, NULL);
}

void lb_run_free(lb_run *run)
{
    for (size_t i = 0; run->listeners && i < run->listener_count; i++) {
        free(run->listeners[i].certificate);
        free(run->listeners[i].key);
    }
    free(run->listeners);
    free(run->targets);
    if (run->seen != NULL)
        kumo_driver_free(run->host, run->seen);
    kumo_object_destroy(run->object);
    memset(run, 0, sizeof(*run));
}
