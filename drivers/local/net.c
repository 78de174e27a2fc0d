/*
 * net.c - the local driver's networking: IPv4 ranges, address allocation,
 * bridges (created or repaired idempotently), the check that a new range does
 * not shadow a route the host already has, and security groups as one
 * nftables table per connection.
 *
 * Enforcement: machines sit on Linux bridges, so their traffic to each other
 * is bridged, not routed. Each bridge is made with nf_call_iptables=1, which
 * lets br_netfilter pass bridged IPv4 through the inet family's forward hook
 * (with connection tracking). The table `inet <prefix>_<C>` has:
 *   forward  established/related accept; egress checks of machines with
 *            outbound rules (jump out_X); ingress checks (jump in_X)
 *   output   the host's own traffic to a machine (jump in_X)
 *   input    a machine's traffic to the host (jump out_X)
 *   in_X     the machine's inbound rules (accept), then drop
 *   out_X    its outbound rules (return), then drop
 * A machine without security groups is not filtered. Outbound filtering only
 * starts when one of its groups has an outbound rule (no outbound rule means
 * "egress open", as a new cloud security group's default rule does). Rules
 * with IPv6 ranges are kept but not enforced: machines are IPv4 only (their
 * interfaces get no IPv6 addresses).
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- IPv4 ranges ------------------------------------------------------------- */

int local_ip_parse(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

void local_ip_format(uint32_t ip, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

int local_cidr_parse(const char *s, uint32_t *base, int *prefix)
{
    return kumo_driver_kit_cidr_parse(s, 0, base, prefix);
}

int local_cidr_overlap(uint32_t a, int pa, uint32_t b, int pb)
{
    return kumo_driver_kit_cidr_overlap(a, pa, b, pb);
}

kumo_driver_code local_pool_allocate(struct kumo_driver_conn *c, const struct local_pool *pool,
                                     char *ip, size_t size, struct kumo_driver_diag *diag)
{
    uint32_t count = pool->prefix >= 31 ? 0 : (1u << (32 - pool->prefix)) - 1;
    struct local_state *st = &c->state;
    for (uint32_t host = 2; host < count; host++) {
        uint32_t candidate = pool->base + host;
        int used = 0;
        for (size_t i = 0; i < st->count && !used; i++) {
            uint32_t other;
            const struct local_object *o = st->objects[i];
            used = (o->kind == LOCAL_MACHINE || o->kind == LOCAL_LOAD_BALANCER) && o->ip &&
                   local_ip_parse(o->ip, &other) == 0 && other == candidate;
        }
        if (!used) {
            local_ip_format(candidate, ip, size);
            return KUMO_DRIVER_OK;
        }
    }
    char range[32];
    local_ip_format(pool->base, range, sizeof(range));
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_CAPACITY, "InsufficientFreeAddressesInSubnet",
                                "no free address left in %s/%d (bridge %s)", range, pool->prefix,
                                pool->bridge);
}

kumo_driver_code local_check_host_routes(uint32_t base, int prefix, const char *bridge,
                                         const char *what, struct kumo_driver_diag *diag)
{
    char line[512], iface[64];
    unsigned dest, gateway, flags, refcnt, use, metric, mask;
    FILE *f = fopen("/proc/net/route", "r");
    if (f == NULL)
        return KUMO_DRIVER_OK; /* nothing to compare with */
    kumo_driver_code rc = KUMO_DRIVER_OK;
    while (rc == KUMO_DRIVER_OK && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%63s %x %x %x %u %u %u %x", iface, &dest, &gateway, &flags, &refcnt, &use,
                   &metric, &mask) != 8)
            continue; /* the header */
        uint32_t d = ntohl(dest), m = ntohl(mask);
        int p = __builtin_popcount(m);
        if (p == 0 || strcmp(iface, bridge) == 0)
            continue;
        if (local_cidr_overlap(base, prefix, d, p)) {
            char mine[32], theirs[32];
            local_ip_format(base, mine, sizeof(mine));
            local_ip_format(d, theirs, sizeof(theirs));
            /* kbr-/kbn- bridges are kumo's own: left by an earlier kumod (another data dir). */
            int kumos = strncmp(iface, "kbr-", 4) == 0 || strncmp(iface, "kbn-", 4) == 0;
            rc = kumo_driver_kit_fail(
                diag, KUMO_DRIVER_CONFLICT, "InvalidSubnet.Conflict",
                "%s: %s/%d overlaps the host's route %s/%d on %s; %s", what, mine, prefix, theirs,
                p, iface,
                kumos ? "that bridge is a leftover of kumo's local driver (machines of an "
                        "earlier kumod or data directory): see them with `hack/down.sh "
                        "--leftovers`, remove them with `hack/down.sh --purge` (kumo-local purge)"
                      : "choose another range (the default network's is the connection's "
                        "`cidr` setting)");
        }
    }
    fclose(f);
    return rc;
}

int local_link_exists(const char *name)
{
    char path[128];
    struct stat sb;
    snprintf(path, sizeof(path), "/sys/class/net/%s", name);
    return stat(path, &sb) == 0;
}

/* ---- Bridges ------------------------------------------------------------------ */

kumo_driver_code local_bridge_ensure(struct local_call *call, const char *bridge, const char *alias,
                                     const uint32_t *bases, const int *prefixes, size_t count,
                                     const char *what, struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    if (!local_link_exists(bridge)) {
        for (size_t i = 0; rc == KUMO_DRIVER_OK && i < count; i++)
            rc = local_check_host_routes(bases[i], prefixes[i], bridge, what, diag);
        if (rc == KUMO_DRIVER_OK)
            rc = local_ip(c, call->deadline_ns, what, diag, "link", "add", "name", bridge, "type",
                          "bridge", "nf_call_iptables", "1", NULL);
        if (rc != KUMO_DRIVER_OK)
            return rc;
    }
    rc = local_ip(c, call->deadline_ns, what, diag, "link", "set", "dev", bridge, "alias", alias,
                  NULL);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct kumo_driver_kit_buf b;
    char ip[32];
    kumo_driver_kit_buf_init(&b);
    kumo_driver_kit_buf_printf(&b, "link set dev %s type bridge nf_call_iptables 1\n", bridge);
    kumo_driver_kit_buf_printf(&b, "link set dev %s addrgenmode none\n", bridge);
    for (size_t i = 0; i < count; i++) {
        local_ip_format(bases[i] + 1, ip, sizeof(ip));
        kumo_driver_kit_buf_printf(&b, "addr replace %s/%d dev %s\n", ip, prefixes[i], bridge);
    }
    kumo_driver_kit_buf_printf(&b, "link set dev %s up\n", bridge);
    rc = b.failed ? local_nomem(diag)
                  : local_ip_batch(c, NULL, b.data, call->deadline_ns, what, diag);
    kumo_driver_kit_buf_fini(&b);
    return rc;
}

kumo_driver_code local_link_delete(struct local_call *call, const char *name, const char *what,
                                   struct kumo_driver_diag *diag)
{
    if (!local_link_exists(name))
        return KUMO_DRIVER_OK;
    struct kumo_driver_diag failed;
    memset(&failed, 0, sizeof(failed));
    kumo_driver_code rc =
        local_ip(call->conn, call->deadline_ns, what, &failed, "link", "del", "dev", name, NULL);
    /* Gone meanwhile: the kernel tears a namespace down asynchronously once its
     * last process has exited, and takes the veth with it. */
    if (rc == KUMO_DRIVER_OK || !local_link_exists(name))
        return KUMO_DRIVER_OK;
    if (diag != NULL)
        *diag = failed;
    return rc;
}

kumo_driver_code local_bridge_delete(struct local_call *call, const char *bridge, const char *what,
                                     struct kumo_driver_diag *diag)
{
    return local_link_delete(call, bridge, what, diag);
}

/* ---- Security groups as nftables ------------------------------------------- */

/* " ip saddr 10.0.0.0/8" (empty for any IPv4 source); -1 for an IPv6 range. */
static int range_match(const char *cidr, const char *field, char *buf, size_t size)
{
    uint32_t base;
    int prefix;
    buf[0] = '\0';
    if (cidr == NULL || cidr[0] == '\0')
        return 0;
    if (strchr(cidr, ':') != NULL || local_cidr_parse(cidr, &base, &prefix) != 0)
        return -1;
    if (prefix == 0)
        return 0;
    char ip[32];
    local_ip_format(base, ip, sizeof(ip));
    snprintf(buf, size, " ip %s %s/%d", field, ip, prefix);
    return 0;
}

static void rule_line(struct kumo_driver_kit_buf *b, const struct kumo_driver_kit_rule *r,
                      int inbound)
{
    char match[64], ports[40] = "";
    if (range_match(r->cidr, inbound ? "saddr" : "daddr", match, sizeof(match)) != 0)
        return;
    const char *verdict = inbound ? "accept" : "return";
    const char *proto = r->protocol == KUMO_DRIVER_TCP   ? "tcp"
                        : r->protocol == KUMO_DRIVER_UDP ? "udp"
                                                         : NULL;
    if (proto != NULL) {
        int all = (r->from_port <= 0 && (r->to_port <= 0 || r->to_port >= 65535)) ||
                  (r->from_port <= 1 && r->to_port >= 65535);
        if (all)
            snprintf(ports, sizeof(ports), " meta l4proto %s", proto);
        else if (r->from_port == r->to_port)
            snprintf(ports, sizeof(ports), " %s dport %d", proto, r->from_port);
        else
            snprintf(ports, sizeof(ports), " %s dport %d-%d", proto, r->from_port, r->to_port);
    } else if (r->protocol == KUMO_DRIVER_ICMP) {
        snprintf(ports, sizeof(ports), " ip protocol icmp");
    }
    char line[128];
    snprintf(line, sizeof(line), "%s%s %s", match, ports, verdict);
    kumo_driver_kit_buf_printf(b, "    %s\n", line[0] == ' ' ? line + 1 : line);
}

/* The groups of machine m that exist. */
static size_t groups_of(struct local_state *st, const struct local_object *m,
                        const struct local_object **out)
{
    size_t n = 0;
    for (size_t i = 0; i < m->sg_count && n < LOCAL_MAX_GROUPS; i++) {
        const struct local_object *g = local_state_find_id(st, LOCAL_SECURITY_GROUP, m->sg_ids[i]);
        if (g != NULL)
            out[n++] = g;
    }
    return n;
}

static int has_outbound(const struct local_object *const *groups, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < groups[i]->rule_count; j++)
            if (groups[i]->rules[j].direction == KUMO_DRIVER_OUTBOUND)
                return 1;
    return 0;
}

static int filtered(const struct local_object *o)
{
    return o->kind == LOCAL_MACHINE && o->status != LOCAL_DELETING && o->sg_count > 0 && o->ip;
}

/* br_netfilter makes bridged traffic visible to the table. */
static kumo_driver_code check_br_netfilter(struct local_call *call, struct kumo_driver_diag *diag)
{
    struct stat sb;
    char modprobe[256];
    if (stat("/proc/sys/net/bridge", &sb) == 0)
        return KUMO_DRIVER_OK;
    if (local_find_program("modprobe", modprobe, sizeof(modprobe)) == 0) {
        const char *argv[] = {modprobe, "br_netfilter", NULL};
        struct kumo_driver_diag ignored;
        local_run(argv, NULL, call->deadline_ns, "loading br_netfilter", NULL, &ignored);
        if (stat("/proc/sys/net/bridge", &sb) == 0)
            return KUMO_DRIVER_OK;
    }
    return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNAVAILABLE, "FirewallUnavailable",
                                "security groups of connection %s: the local driver needs the "
                                "br_netfilter kernel module to filter bridged traffic (modprobe "
                                "br_netfilter)",
                                call->conn->name);
}

static kumo_driver_code nft(struct local_call *call, const char *script,
                            struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char what[320];
    snprintf(what, sizeof(what), "security groups of connection %s", c->name);
    if (c->nft_path[0] == '\0')
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_UNAVAILABLE, "FirewallUnavailable",
                                    "%s: nftables is not installed (apt-get install nftables)",
                                    what);
    const char *argv[] = {c->nft_path, "-f", "-", NULL};
    return local_run(argv, script, call->deadline_ns, what, NULL, diag);
}

kumo_driver_code local_firewall_remove(struct local_call *call, struct kumo_driver_diag *diag)
{
    char table[64], script[200];
    if (call->conn->nft_path[0] == '\0')
        return KUMO_DRIVER_OK; /* without nft there is no table */
    local_table_name(call->conn, table, sizeof(table));
    snprintf(script, sizeof(script), "table inet %s\ndelete table inet %s\n", table, table);
    return nft(call, script, diag);
}

/* The pieces of the connection's nftables table: the jumps of each base chain
 * and the per-machine chains. */
struct ruleset {
    struct kumo_driver_kit_buf fwd_out, fwd_in, out, in, chains;
};

/* One machine's chains (in_<hex>, and out_<hex> when a group has outbound
 * rules) and the jumps to them from the base chains. */
static void machine_rules(struct kumo_driver_conn *c, const struct local_object *m,
                          struct ruleset *rs)
{
    const struct local_object *groups[LOCAL_MAX_GROUPS];
    char bridge[32], hex[16];
    size_t n = groups_of(&c->state, m, groups);
    snprintf(hex, sizeof(hex), "%s", strchr(m->id, '-') ? strchr(m->id, '-') + 1 : m->id);
    local_bridge_name(c, m->network_id, bridge, sizeof(bridge));
    for (int outbound = 0; outbound < 2; outbound++) {
        if (outbound && !has_outbound(groups, n))
            break;
        const char *way = outbound ? "iifname" : "oifname", *addr = outbound ? "saddr" : "daddr";
        const char *chain = outbound ? "out" : "in";
        struct kumo_driver_kit_buf *jumps[2] = {outbound ? &rs->fwd_out : &rs->fwd_in,
                                                outbound ? &rs->in : &rs->out};
        for (int j = 0; j < 2; j++)
            kumo_driver_kit_buf_printf(jumps[j], "    %s \"%s\" ip %s %s jump %s_%s\n", way, bridge,
                                       addr, m->ip, chain, hex);
        kumo_driver_kit_buf_printf(&rs->chains, "  chain %s_%s {\n", chain, hex);
        int direction = outbound ? KUMO_DRIVER_OUTBOUND : KUMO_DRIVER_INBOUND;
        for (size_t g = 0; g < n; g++)
            for (size_t r = 0; r < groups[g]->rule_count; r++)
                if (groups[g]->rules[r].direction == direction)
                    rule_line(&rs->chains, &groups[g]->rules[r], !outbound);
        kumo_driver_kit_buf_str(&rs->chains, "    drop\n  }\n");
    }
}

/* The whole table: base chains forward, output and input with their jumps,
 * then the machines' chains. */
static void ruleset_text(const char *table, struct ruleset *rs, struct kumo_driver_kit_buf *b)
{
    static const char head[] = "    ct state established,related accept\n";
    static const char *const hooks[3] = {"forward", "output", "input"};
    const struct kumo_driver_kit_buf *jumps[3][2] = {
        {&rs->fwd_out, &rs->fwd_in}, {&rs->out, NULL}, {&rs->in, NULL}};
    kumo_driver_kit_buf_printf(b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", table,
                               table, table);
    for (int h = 0; h < 3; h++) {
        kumo_driver_kit_buf_printf(
            b, "  chain %s {\n    type filter hook %s priority filter; policy accept;\n%s",
            hooks[h], hooks[h], head);
        for (int j = 0; j < 2; j++)
            if (jumps[h][j] != NULL && jumps[h][j]->data != NULL)
                kumo_driver_kit_buf_str(b, jumps[h][j]->data);
        kumo_driver_kit_buf_str(b, "  }\n");
    }
    kumo_driver_kit_buf_str(b, rs->chains.data ? rs->chains.data : "");
    kumo_driver_kit_buf_str(b, "}\n");
}

kumo_driver_code local_firewall_apply(struct local_call *call, struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    struct local_state *st = &c->state;
    size_t users = 0;
    for (size_t i = 0; i < st->count; i++)
        users += filtered(st->objects[i]);
    if (users == 0)
        return local_firewall_remove(call, diag);
    kumo_driver_code rc = check_br_netfilter(call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    char table[64];
    struct ruleset rs;
    struct kumo_driver_kit_buf text;
    struct kumo_driver_kit_buf *all[6] = {&rs.fwd_out, &rs.fwd_in, &rs.out,
                                          &rs.in,      &rs.chains, &text};
    int failed = 0;
    for (int i = 0; i < 6; i++)
        kumo_driver_kit_buf_init(all[i]);
    for (size_t i = 0; i < st->count; i++)
        if (filtered(st->objects[i]))
            machine_rules(c, st->objects[i], &rs);
    local_table_name(c, table, sizeof(table));
    ruleset_text(table, &rs, &text);
    for (int i = 0; i < 6; i++)
        failed |= all[i]->failed;
    rc = failed ? local_nomem(diag) : nft(call, text.data, diag);
    for (int i = 0; i < 6; i++)
        kumo_driver_kit_buf_fini(all[i]);
    return rc;
}
