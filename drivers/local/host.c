/*
 * host.c - what is on the host under this connection's names, whether or not
 * the state file knows it: orphaned machines (found by the veth's alias
 * "<prefix>-<C>-<id> <token>" or by the namespace name), the `inventory`
 * control reply (every machine with its namespace, veth, bridge, address,
 * process and cgroup), and `purge`, which removes everything the connection
 * made (load balancers included), found through the state and through the names.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Orphans -------------------------------------------------------------------- */

/* Machines on the host with this connection's names that the state lacks. */
size_t local_find_orphans(struct kumo_driver_conn *c, struct local_orphan *out, size_t max)
{
    char head[64], path[300], alias[LOCAL_TOKEN_MAX + 128];
    size_t n = 0;
    int len = snprintf(head, sizeof(head), "%s-%s-m-", c->cfg.prefix, c->short_id);
    DIR *d = opendir("/sys/class/net");
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL && n < max; e = readdir(d)) {
        if (strncmp(e->d_name, "kv", 2) != 0)
            continue;
        snprintf(path, sizeof(path), "/sys/class/net/%s/ifalias", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t got = fd >= 0 ? read(fd, alias, sizeof(alias) - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (got <= 0)
            continue;
        alias[got] = '\0';
        alias[strcspn(alias, "\n")] = '\0';
        if (strncmp(alias, head, (size_t)len) != 0)
            continue;
        char *space = strchr(alias, ' ');
        if (space == NULL)
            continue;
        *space = '\0';
        const char *id = alias + len - 2;
        if (local_state_find_id(&c->state, LOCAL_MACHINE, id) != NULL || strlen(id) >= 32)
            continue;
        snprintf(out[n].id, sizeof(out[n].id), "%s", id);
        snprintf(out[n].token, sizeof(out[n].token), "%s", space + 1);
        n++;
    }
    if (d != NULL)
        closedir(d);
    /* Namespaces whose veth is gone: no token. */
    d = opendir("/run/netns");
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL && n < max; e = readdir(d)) {
        if (strncmp(e->d_name, head, (size_t)len) != 0 || strlen(e->d_name + len - 2) >= 32)
            continue;
        const char *id = e->d_name + len - 2;
        int known = local_state_find_id(&c->state, LOCAL_MACHINE, id) != NULL;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(out[i].id, id) == 0;
        if (known)
            continue;
        snprintf(out[n].id, sizeof(out[n].id), "%s", id);
        out[n].token[0] = '\0';
        n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

struct local_object *local_orphan_object(const struct local_orphan *o)
{
    struct local_object *m = local_object_new(LOCAL_MACHINE);
    if (m == NULL || local_set_str(&m->id, o->id) != 0 || local_set_str(&m->token, o->token) != 0) {
        local_object_free(m);
        return NULL;
    }
    return m;
}

const struct local_machine_view local_orphan_view = {KUMO_DRIVER_MACHINE_RUNNING, "orphaned", "",
                                                     0};

/* ---- control: inventory and purge ------------------------------------------------ */

static const char *phase_word(int phase)
{
    static const char *const words[] = {"unknown", "pending",     "running",   "stopping",
                                        "stopped", "terminating", "terminated"};
    return phase >= 0 && phase <= KUMO_DRIVER_MACHINE_TERMINATED ? words[phase] : "unknown";
}

void local_inventory_json(struct local_call *call, struct kumo_driver_kit_buf *b)
{
    struct kumo_driver_conn *c = call->conn;
    char text[LOCAL_NAME_MAX + 64], table[64], range[32];
    struct local_orphan orphans[64];
    local_table_name(c, table, sizeof(table));
    local_ip_format(c->cfg.cidr_base, range, sizeof(range));
    kumo_driver_kit_buf_str(b, "{\"connection\":");
    kumo_driver_kit_buf_json_str(b, c->name);
    kumo_driver_kit_buf_printf(b,
                               ",\"shortId\":\"%s\",\"bridge\":\"kbr-%s\",\"cidr\":\"%s/%d\","
                               "\"table\":\"inet %s\",\"cgroups\":",
                               c->short_id, c->short_id, range, c->cfg.cidr_prefix, table);
    kumo_driver_kit_buf_json_str(b, c->cgroup_note);
    kumo_driver_kit_buf_str(b, ",\"stateDir\":");
    kumo_driver_kit_buf_json_str(b, c->cfg.state_dir);
    kumo_driver_kit_buf_str(b, ",\"agent\":");
    kumo_driver_kit_buf_json_str(b, c->agent_is_placeholder ? "" : c->agent_path);
    kumo_driver_kit_buf_str(b, ",\"machines\":[");
    int first = 1;
    for (size_t i = 0; i < c->state.count; i++) {
        const struct local_object *m = c->state.objects[i];
        if (m->kind != LOCAL_MACHINE)
            continue;
        struct local_machine_view v;
        local_machine_view_of(c, m, &v);
        kumo_driver_kit_buf_str(b, first ? "{\"id\":" : ",{\"id\":");
        first = 0;
        kumo_driver_kit_buf_json_str(b, m->id);
        kumo_driver_kit_buf_str(b, ",\"token\":");
        kumo_driver_kit_buf_json_str(b, m->token);
        local_netns_name(c, m->id, text, sizeof(text));
        kumo_driver_kit_buf_str(b, ",\"netns\":");
        kumo_driver_kit_buf_json_str(b, text);
        local_veth_name(m->id, text, sizeof(text));
        kumo_driver_kit_buf_printf(b, ",\"veth\":\"%s\"", text);
        local_bridge_name(c, m->network_id, text, sizeof(text));
        kumo_driver_kit_buf_printf(b,
                                   ",\"bridge\":\"%s\",\"ip\":\"%s\",\"phase\":\"%s\","
                                   "\"providerState\":\"%s\",\"pid\":%lld",
                                   text, m->ip ? m->ip : "", phase_word(v.phase), v.provider_state,
                                   (long long)(local_pid_alive(m->pid, m->pid_start) ? m->pid : 0));
        local_cgroup_path(c, m->id, text, sizeof(text));
        kumo_driver_kit_buf_str(b, ",\"cgroup\":");
        kumo_driver_kit_buf_json_str(b, text);
        local_machine_file(c, m->id, "log", text, sizeof(text));
        kumo_driver_kit_buf_str(b, ",\"log\":");
        kumo_driver_kit_buf_json_str(b, text);
        kumo_driver_kit_buf_str(b, "}");
    }
    kumo_driver_kit_buf_str(b, "],\"networks\":[");
    first = 1;
    for (size_t i = 0; i < c->state.count; i++) {
        const struct local_object *n = c->state.objects[i];
        if (n->kind != LOCAL_NETWORK)
            continue;
        local_bridge_name(c, n->id, text, sizeof(text));
        kumo_driver_kit_buf_printf(b, "%s{\"id\":", first ? "" : ",");
        first = 0;
        kumo_driver_kit_buf_json_str(b, n->id);
        kumo_driver_kit_buf_str(b, ",\"token\":");
        kumo_driver_kit_buf_json_str(b, n->token);
        kumo_driver_kit_buf_printf(b, ",\"bridge\":\"%s\",\"cidr\":", text);
        kumo_driver_kit_buf_json_str(b, n->cidr);
        kumo_driver_kit_buf_str(b, "}");
    }
    kumo_driver_kit_buf_str(b, "],\"loadBalancers\":[");
    local_lb_inventory_json(call, b);
    kumo_driver_kit_buf_str(b, "],\"orphans\":[");
    size_t count = local_find_orphans(c, orphans, 64);
    for (size_t i = 0; i < count; i++) {
        kumo_driver_kit_buf_printf(b, "%s{\"id\":", i ? "," : "");
        kumo_driver_kit_buf_json_str(b, orphans[i].id);
        kumo_driver_kit_buf_str(b, ",\"token\":");
        kumo_driver_kit_buf_json_str(b, orphans[i].token);
        kumo_driver_kit_buf_str(b, "}");
    }
    kumo_driver_kit_buf_str(b, "]}");
}

/* Deletes every link whose alias starts with this connection's names. */
static kumo_driver_code purge_links(struct local_call *call, struct kumo_driver_diag *diag)
{
    char head[64], path[300], alias[LOCAL_TOKEN_MAX + 128];
    int len = snprintf(head, sizeof(head), "%s-%s-", call->conn->cfg.prefix, call->conn->short_id);
    kumo_driver_code rc = KUMO_DRIVER_OK;
    DIR *d = opendir("/sys/class/net");
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        snprintf(path, sizeof(path), "/sys/class/net/%s/ifalias", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t got = fd >= 0 ? read(fd, alias, sizeof(alias) - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (got <= 0)
            continue;
        alias[got] = '\0';
        if (strncmp(alias, head, (size_t)len) == 0 && rc == KUMO_DRIVER_OK)
            rc = local_link_delete(call, e->d_name, "purge", diag);
    }
    if (d != NULL)
        closedir(d);
    return rc;
}

/* Load balancers on the host with this connection's names that the state lacks: their
 * HAProxy, namespace and veth go (found by the namespace name). */
static void purge_lb_orphans(struct local_call *call, struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char head[64];
    int len = snprintf(head, sizeof(head), "%s-%s-lb-", c->cfg.prefix, c->short_id);
    DIR *d = opendir("/run/netns");
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        const char *id = e->d_name + len - 3;
        if (strncmp(e->d_name, head, (size_t)len) != 0 || strlen(id) >= 32 ||
            local_state_find_id(&c->state, LOCAL_LOAD_BALANCER, id) != NULL)
            continue;
        struct local_object *o = local_object_new(LOCAL_LOAD_BALANCER);
        if (o != NULL && local_set_str(&o->id, id) == 0 && local_set_str(&o->token, "") == 0)
            local_lb_teardown(call, o, diag);
        local_object_free(o);
    }
    if (d != NULL)
        closedir(d);
}

kumo_driver_code local_purge(struct local_call *call, struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    struct local_orphan orphans[64];
    char bridge[32];
    kumo_driver_code rc = KUMO_DRIVER_OK, first = KUMO_DRIVER_OK;
    struct kumo_driver_diag scratch;
    memset(&scratch, 0, sizeof(scratch));
    purge_lb_orphans(call, &scratch);
    size_t n = local_find_orphans(c, orphans, 64);
    for (size_t i = 0; i < n; i++)
        if ((rc = local_machine_teardown(call, orphans[i].id, 0, 0, first ? &scratch : diag)) !=
            KUMO_DRIVER_OK)
            first = first ? first : rc;
    for (size_t i = 0; i < c->state.count; i++) {
        const struct local_object *o = c->state.objects[i];
        if (o->kind == LOCAL_MACHINE)
            rc = local_machine_teardown(call, o->id, o->pid, o->pid_start, first ? &scratch : diag);
        else if (o->kind == LOCAL_LOAD_BALANCER)
            rc = local_lb_teardown(call, o, first ? &scratch : diag);
        else if (o->kind == LOCAL_NETWORK) {
            local_bridge_name(c, o->id, bridge, sizeof(bridge));
            rc = local_bridge_delete(call, bridge, "purge", first ? &scratch : diag);
        }
        first = first ? first : rc;
    }
    local_bridge_name(c, NULL, bridge, sizeof(bridge));
    rc = local_bridge_delete(call, bridge, "purge", first ? &scratch : diag);
    first = first ? first : rc;
    rc = purge_links(call, first ? &scratch : diag);
    first = first ? first : rc;
    rc = local_firewall_remove(call, first ? &scratch : diag);
    first = first ? first : rc;
    local_state_clear(&c->state);
    rc = local_save(call, "purge", first ? &scratch : diag);
    return first ? first : rc;
}
