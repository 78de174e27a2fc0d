/*
 * describe_lb.c - the LoadBalancer-specific sections of `kumoctl describe
 * lb`: every endpoint with its health as the data plane sees it, weight and
 * counters, and the counters summed per backend (what a health gate reads).
 */
#include "cmd/kumoctl/remote.h"

#include <stdio.h>
#include <string.h>

#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"

static const char *health_word(const Kumo__V1alpha1__LoadBalancerEndpoint *e)
{
    if (e->draining)
        return e->healthy ? "draining" : "draining-down";
    return e->healthy ? "healthy" : "unhealthy";
}

void kumoctl_describe_load_balancer(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__LoadBalancerStatus *s =
        ((const Kumo__V1alpha1__LoadBalancer *)object)->status;
    printf("Endpoints:\n");
    if (s == NULL || s->n_endpoints == 0)
        printf("  <none>\n");
    for (size_t i = 0; s && i < s->n_endpoints; i++) {
        const Kumo__V1alpha1__LoadBalancerEndpoint *e = s->endpoints[i];
        if (i == 0)
            printf("  %-10s %-12s %-22s %-21s %-13s %-6s %-8s %-9s %-5s %-6s %-7s %s\n", "LISTENER",
                   "BACKEND", "MACHINE", "ADDRESS", "HEALTH", "WEIGHT", "SESSIONS", "REQUESTS",
                   "5XX", "ERRORS", "RETRIES", "MESSAGE");
        char address[96], backend[80];
        snprintf(address, sizeof(address), "%s:%d", e->address, e->port);
        snprintf(backend, sizeof(backend), "%s%s", e->backend, e->backup ? " (bk)" : "");
        printf("  %-10s %-12s %-22s %-21s %-13s %-6d %-8lld %-9lld %-5lld %-6lld %-7lld %s\n",
               e->listener, backend, e->machine[0] ? e->machine : "-", address, health_word(e),
               e->weight, (long long)e->sessions, (long long)e->requests,
               (long long)e->responses_5xx, (long long)e->connection_errors, (long long)e->retries,
               e->message);
    }
    printf("Backends:\n");
    if (s == NULL || s->n_backends == 0)
        printf("  <none>\n");
    for (size_t i = 0; s && i < s->n_backends; i++) {
        const Kumo__V1alpha1__LoadBalancerBackendStatus *b = s->backends[i];
        if (i == 0)
            printf("  %-12s %-8s %-8s %-9s %-5s %-6s %s\n", "BACKEND", "HEALTHY", "SESSIONS",
                   "REQUESTS", "5XX", "ERRORS", "RETRIES");
        char healthy[32];
        snprintf(healthy, sizeof(healthy), "%d/%d", b->healthy, b->endpoints);
        printf("  %-12s %-8s %-8lld %-9lld %-5lld %-6lld %lld\n", b->name, healthy,
               (long long)b->sessions, (long long)b->requests, (long long)b->responses_5xx,
               (long long)b->connection_errors, (long long)b->retries);
    }
}
