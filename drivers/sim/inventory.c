/*
 * inventory.c - the JSON picture of everything that exists in a sim account,
 * shared by kumo-sim inventory and the driver's control "inventory" (so the
 * two always agree). Resources are listed in creation order; a machine whose
 * termination has elapsed is gone and not listed.
 */
#include "drivers/sim/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void json_time(struct kumo_driver_kit_buf *b, const char *key, int64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;
    char text[40];
    gmtime_r(&secs, &tm);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    kumo_driver_kit_buf_json_key(b, key, 0);
    if (ns == 0)
        kumo_driver_kit_buf_str(b, "null");
    else
        kumo_driver_kit_buf_printf(b, "\"%s.%03dZ\"", text, (int)(ns / 1000000 % 1000));
}

static void json_field(struct kumo_driver_kit_buf *b, const char *key, const char *value)
{
    kumo_driver_kit_buf_json_key(b, key, 0);
    kumo_driver_kit_buf_json_str(b, value);
}

static void json_common(struct kumo_driver_kit_buf *b, const struct sim_object *o)
{
    kumo_driver_kit_buf_json_key(b, "id", 1);
    kumo_driver_kit_buf_json_str(b, o->id);
    json_field(b, "token", o->token);
    json_field(b, "name", o->name);
    json_field(b, "provider", o->provider);
    json_field(b, "region", o->region);
}

static void json_tags(struct kumo_driver_kit_buf *b, const struct sim_object *o)
{
    kumo_driver_kit_buf_json_key(b, "tags", 0);
    kumo_driver_kit_buf_str(b, "{");
    kumo_driver_kit_buf_json_key(b, KUMO_DRIVER_TOKEN_TAG, 1);
    kumo_driver_kit_buf_json_str(b, o->token);
    for (size_t i = 0; i < o->tag_count; i++) {
        kumo_driver_kit_buf_json_key(b, o->tags[i].key, 0);
        kumo_driver_kit_buf_json_str(b, o->tags[i].value);
    }
    kumo_driver_kit_buf_str(b, "}");
}

static void json_machine(struct kumo_driver_kit_buf *b, const struct sim_object *o, int64_t now_ns)
{
    char ip[20];
    json_common(b, o);
    json_field(b, "zone", o->zone);
    json_field(b, "type", o->type);
    json_field(b, "image", o->image);
    json_field(b, "state", sim_phase_word(sim_machine_phase(o, now_ns)));
    json_field(b, "network", o->network_id);
    json_field(b, "subnet", o->subnet_id);
    kumo_driver_kit_buf_json_key(b, "securityGroups", 0);
    kumo_driver_kit_buf_str(b, "[");
    for (size_t i = 0; i < o->sg_count; i++) {
        if (i > 0)
            kumo_driver_kit_buf_str(b, ",");
        kumo_driver_kit_buf_json_str(b, o->sg_ids[i]);
    }
    kumo_driver_kit_buf_str(b, "]");
    json_field(b, "keyPair", o->key_id);
    sim_ip_format(o->private_ip, ip, sizeof(ip));
    json_field(b, "privateIp", o->private_ip ? ip : "");
    sim_ip_format(o->public_ip, ip, sizeof(ip));
    json_field(b, "publicIp", o->public_ip ? ip : "");
    kumo_driver_kit_buf_printf(b, ",\"vcpu\":%d,\"pricePerHour\":%.4f,\"currency\":\"USD\"",
                               o->vcpu, o->price);
    json_time(b, "createdTime", o->created_ns);
    json_time(b, "launchTime", o->launch_ns);
    json_tags(b, o);
}

static void json_network(struct kumo_driver_kit_buf *b, const struct sim_object *o)
{
    json_common(b, o);
    json_field(b, "cidr", o->cidr);
    json_field(b, "state", "available");
    kumo_driver_kit_buf_json_key(b, "subnets", 0);
    kumo_driver_kit_buf_str(b, "[");
    for (size_t i = 0; i < o->subnet_count; i++) {
        kumo_driver_kit_buf_str(b, i ? ",{" : "{");
        kumo_driver_kit_buf_json_key(b, "id", 1);
        kumo_driver_kit_buf_json_str(b, o->subnets[i].id);
        json_field(b, "name", o->subnets[i].name);
        json_field(b, "cidr", o->subnets[i].cidr);
        json_field(b, "zone", o->subnets[i].zone);
        kumo_driver_kit_buf_str(b, "}");
    }
    kumo_driver_kit_buf_str(b, "]");
    json_time(b, "createdTime", o->created_ns);
    json_tags(b, o);
}

static void json_security_group(struct kumo_driver_kit_buf *b, const struct sim_object *o)
{
    static const char *const protocols[] = {"?", "tcp", "udp", "icmp", "all"};
    json_common(b, o);
    json_field(b, "network", o->network_id);
    kumo_driver_kit_buf_json_key(b, "rules", 0);
    kumo_driver_kit_buf_str(b, "[");
    for (size_t i = 0; i < o->rule_count; i++) {
        const struct kumo_driver_kit_rule *r = &o->rules[i];
        kumo_driver_kit_buf_str(b, i ? ",{" : "{");
        kumo_driver_kit_buf_json_key(b, "direction", 1);
        kumo_driver_kit_buf_json_str(b,
                                     r->direction == KUMO_DRIVER_OUTBOUND ? "outbound" : "inbound");
        json_field(b, "protocol",
                   protocols[r->protocol >= 1 && r->protocol <= 4 ? r->protocol : 0]);
        kumo_driver_kit_buf_printf(b, ",\"fromPort\":%d,\"toPort\":%d", r->from_port, r->to_port);
        json_field(b, "cidr", r->cidr);
        json_field(b, "description", r->description);
        kumo_driver_kit_buf_str(b, "}");
    }
    kumo_driver_kit_buf_str(b, "]");
    json_time(b, "createdTime", o->created_ns);
    json_tags(b, o);
}

static void json_load_balancer(struct kumo_driver_kit_buf *b, const struct sim_object *o)
{
    char ip[20];
    json_common(b, o);
    sim_ip_format(o->public_ip, ip, sizeof(ip));
    json_field(b, "address", ip);
    kumo_driver_kit_buf_printf(b, ",\"listeners\":%zu,\"targets\":%zu", o->listener_count,
                               o->target_count);
}

static void json_key_pair(struct kumo_driver_kit_buf *b, const struct sim_object *o)
{
    json_common(b, o);
    json_field(b, "fingerprint", o->fingerprint);
    json_field(b, "publicKey", o->public_key);
    json_time(b, "createdTime", o->created_ns);
    json_tags(b, o);
}

void sim_inventory_json(struct sim_state *st, int64_t now_ns, const char *provider,
                        const char *region, struct kumo_driver_kit_buf *out)
{
    static const char *const sections[SIM_KIND_COUNT] = {"machines", "networks", "securityGroups",
                                                         "keyPairs", "loadBalancers"};
    struct sim_object **sorted = malloc((st->count ? st->count : 1) * sizeof(*sorted));
    if (sorted == NULL) {
        out->failed = 1;
        return;
    }
    if (st->count > 0)
        memcpy(sorted, st->objects, st->count * sizeof(*sorted));
    qsort(sorted, st->count, sizeof(*sorted), sim_object_by_serial);
    kumo_driver_kit_buf_str(out, "{");
    for (int kind = 0; kind < SIM_KIND_COUNT; kind++) {
        kumo_driver_kit_buf_json_key(out, sections[kind], kind == 0);
        kumo_driver_kit_buf_str(out, "[");
        int first = 1;
        for (size_t i = 0; i < st->count; i++) {
            const struct sim_object *o = sorted[i];
            if (o->kind != kind || sim_object_gone(o, now_ns))
                continue;
            if ((provider && provider[0] && strcmp(provider, o->provider) != 0) ||
                (region && region[0] && strcmp(region, o->region) != 0))
                continue;
            kumo_driver_kit_buf_str(out, first ? "\n{" : ",\n{");
            first = 0;
            if (kind == SIM_MACHINE)
                json_machine(out, o, now_ns);
            else if (kind == SIM_NETWORK)
                json_network(out, o);
            else if (kind == SIM_SECURITY_GROUP)
                json_security_group(out, o);
            else if (kind == SIM_LOAD_BALANCER)
                json_load_balancer(out, o);
            else
                json_key_pair(out, o);
            kumo_driver_kit_buf_str(out, "}");
        }
        kumo_driver_kit_buf_str(out, first ? "]" : "\n]");
    }
    kumo_driver_kit_buf_str(out, "}\n");
    free(sorted);
}
