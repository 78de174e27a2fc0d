/*
 * describe_infra.c - the Infra-specific sections of `kumoctl describe infra`:
 * where each group's machines are and why (status.groups[].placements), and
 * the recent failovers (status.groups[].failovers), as tables.
 */
#include "cmd/kumoctl/remote.h"

#include <stdio.h>
#include <string.h>

#include "apis/kumo/v1alpha1/infra.pb-c.h"

void kumoctl_describe_infra(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__Infra *infra = (const Kumo__V1alpha1__Infra *)object;
    const Kumo__V1alpha1__InfraStatus *s = infra->status;
    printf("Placement:\n");
    size_t rows = 0;
    for (size_t g = 0; s && g < s->n_groups; g++) {
        const Kumo__V1alpha1__NodeGroupStatus *gs = s->groups[g];
        if (rows++ == 0)
            printf("  %-16s %-9s %-20s %-16s %-6s %-9s %s\n", "GROUP", "READY", "CONNECTION",
                   "TYPE", "COUNT", "PRICE/H", "REASON");
        char ready[32];
        snprintf(ready, sizeof(ready), "%d/%d", gs->ready, gs->desired);
        if (gs->n_placements == 0)
            printf("  %-16s %-9s %-20s %-16s %-6s %-9s %s\n", gs->name, ready, "<none>", "-", "0",
                   "-", "not placed (see the Degraded condition)");
        for (size_t p = 0; p < gs->n_placements; p++) {
            const Kumo__V1alpha1__PlacementDecision *d = gs->placements[p];
            char count[16], price[24];
            snprintf(count, sizeof(count), "%d", d->count);
            snprintf(price, sizeof(price), "%.4f", d->price_per_hour);
            printf("  %-16s %-9s %-20s %-16s %-6s %-9s %s\n", p == 0 ? gs->name : "",
                   p == 0 ? ready : "", d->connection, d->instance_type, count, price, d->reason);
        }
    }
    if (rows == 0)
        printf("  <none>\n");
    printf("Failovers:\n");
    rows = 0;
    for (size_t g = 0; s && g < s->n_groups; g++) {
        const Kumo__V1alpha1__NodeGroupStatus *gs = s->groups[g];
        for (size_t f = 0; f < gs->n_failovers; f++) {
            const Kumo__V1alpha1__Failover *fo = gs->failovers[f];
            if (rows++ == 0)
                printf("  %-16s %-6s %-32s %-32s %-22s %s\n", "GROUP", "AGE", "FROM", "TO",
                       "REASON", "MESSAGE");
            char age[32], from[300], to[300];
            kumoctl_age(fo->time ? fo->time->seconds : 0, age, sizeof(age));
            snprintf(from, sizeof(from), "%s/%s", fo->from_connection, fo->from_instance_type);
            if (fo->to_connection[0])
                snprintf(to, sizeof(to), "%s/%s", fo->to_connection, fo->to_instance_type);
            else
                snprintf(to, sizeof(to), "<no candidate left>");
            printf("  %-16s %-6s %-32s %-32s %-22s %s\n", gs->name, age, from, to, fo->reason,
                   fo->message);
        }
    }
    if (rows == 0)
        printf("  <none>\n");
}
