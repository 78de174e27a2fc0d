/*
 * machine.c - machines of the local driver: a network namespace with a veth
 * on its network's bridge, an address, a default route via the bridge, and a
 * process inside (the agent, or `sleep infinity`), limited by cgroups.
 *
 * Every mutation records its intent in the state file first (status
 * building/deleting), then converges the host to it with idempotent steps
 * (ensure_machine), then records the result. So a create retried after a
 * crash or timeout finishes the machine, a delete retried finishes the
 * delete, and a create that fails for good rolls back what it made.
 *
 * Phases come from the host, not from the file: running when the machine's
 * process is alive; stopped when it is not (provider state "exited" when it
 * died on its own); terminated ("vanished") when the namespace is gone
 * behind the driver's back. Machines are never Pending for long: create
 * builds everything in the call (a few `ip` commands), so it returns Running.
 *
 * Orphans (host.c): a machine whose namespace or veth carries this
 * connection's names but that the state file does not know (the file was
 * lost) is still found by observe and list (provider state "orphaned", token
 * from the veth's alias) and can be deleted; a create with its token
 * replaces it.
 */
#define _GNU_SOURCE
#include "drivers/local/internal.h"

#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* 1 when /run/netns/<netns> holds a network namespace. The file `ip netns add` creates
 * before it mounts the namespace on it does not count: an add cut off between the two
 * leaves a plain file, which `ip link add ... netns` refuses with EINVAL. */
int local_netns_exists(const char *netns)
{
    char path[LOCAL_NAME_MAX + 16];
    struct statfs fs;
    snprintf(path, sizeof(path), "/run/netns/%s", netns);
    return statfs(path, &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

/* 1 when anything is at /run/netns/<netns>: a namespace or a half-made file. */
static int netns_file_exists(const char *netns)
{
    char path[LOCAL_NAME_MAX + 16];
    struct stat sb;
    snprintf(path, sizeof(path), "/run/netns/%s", netns);
    return stat(path, &sb) == 0;
}

void local_machine_file(struct kumo_driver_conn *c, const char *id, const char *suffix, char *buf,
                        size_t size)
{
    snprintf(buf, size, "%s/%s.%s", c->cfg.state_dir, id, suffix);
}

int local_machine_hard_stop(const struct kumo_driver_conn *c, const struct local_object *m)
{
    return c->agent_is_placeholder && !(m->agent_bootstrap && m->agent_bootstrap[0]);
}

/* ---- Phase -------------------------------------------------------------------- */

void local_machine_view_of(struct kumo_driver_conn *c, const struct local_object *m,
                           struct local_machine_view *v)
{
    char netns[LOCAL_NAME_MAX], veth[32];
    const struct local_type *t = local_type_find(m->type);
    v->region = c->cfg.region;
    v->price = t ? t->price : 0;
    local_netns_name(c, m->id, netns, sizeof(netns));
    local_veth_name(m->id, veth, sizeof(veth));
    int alive = local_pid_alive(m->pid, m->pid_start);
    if (m->status == LOCAL_DELETING) {
        v->phase = KUMO_DRIVER_MACHINE_TERMINATING;
        v->provider_state = "shutting-down";
    } else if (m->status == LOCAL_BUILDING) {
        v->phase = KUMO_DRIVER_MACHINE_PENDING;
        v->provider_state = "pending";
    } else if (!local_netns_exists(netns)) {
        v->phase = KUMO_DRIVER_MACHINE_TERMINATED;
        v->provider_state = "vanished";
    } else if (m->power == KUMO_DRIVER_POWER_STOPPED) {
        v->phase = alive ? KUMO_DRIVER_MACHINE_STOPPING : KUMO_DRIVER_MACHINE_STOPPED;
        v->provider_state = alive ? "stopping" : "stopped";
    } else if (!alive) {
        v->phase = KUMO_DRIVER_MACHINE_STOPPED;
        v->provider_state = "exited";
    } else {
        v->phase = KUMO_DRIVER_MACHINE_RUNNING;
        v->provider_state = local_link_exists(veth) ? "running" : "running-detached";
    }
}

/* ---- Teardown and ensure -------------------------------------------------------- */

/* Removes everything of machine `id` from the host (process, links,
 * namespace, cgroup, files). Idempotent. */
kumo_driver_code local_machine_teardown(struct local_call *call, const char *id, int64_t pid,
                                        uint64_t pid_start, struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char netns[LOCAL_NAME_MAX], veth[32], what[LOCAL_NAME_MAX + 32], path[LOCAL_NAME_MAX + 64];
    local_netns_name(c, id, netns, sizeof(netns));
    local_veth_name(id, veth, sizeof(veth));
    snprintf(what, sizeof(what), "deleting machine %s", id);
    if (local_netns_kill_all(netns, call->deadline_ns) != 0 ||
        local_pid_stop(pid, pid_start, 1, 0, call->deadline_ns) != 0)
        return local_timeout(call, what, diag);
    kumo_driver_code rc = local_link_delete(call, veth, what, diag);
    if (rc == KUMO_DRIVER_OK && netns_file_exists(netns))
        rc = local_ip(c, call->deadline_ns, what, diag, "netns", "del", netns, NULL);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    local_cgroup_remove(c, id);
    local_machine_file(c, id, "log", path, sizeof(path));
    unlink(path);
    local_machine_file(c, id, "user-data", path, sizeof(path));
    unlink(path);
    return KUMO_DRIVER_OK;
}

static int append_env(char **envp, size_t *n, size_t max, const char *key, const char *value)
{
    if (*n + 1 >= max || value == NULL)
        return 0;
    size_t len = strlen(key) + strlen(value) + 2;
    char *s = malloc(len);
    if (s == NULL)
        return -1;
    snprintf(s, len, "%s=%s", key, value);
    envp[(*n)++] = s;
    envp[*n] = NULL;
    return 0;
}

/* Writes the machine's user data to data_path (set to "" when it has none). */
static kumo_driver_code write_user_data(struct kumo_driver_conn *c, const struct local_object *m,
                                        char *data_path, size_t size, struct kumo_driver_diag *diag)
{
    data_path[0] = '\0';
    if (m->user_data == NULL || m->user_data[0] == '\0')
        return KUMO_DRIVER_OK;
    local_machine_file(c, m->id, "user-data", data_path, size);
    FILE *f = fopen(data_path, "w");
    int ok = f != NULL && fputs(m->user_data, f) >= 0;
    if (f != NULL)
        ok = fclose(f) == 0 && ok;
    if (!ok)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError",
                                    "machine %s: writing its user data to %s: %s", m->id, data_path,
                                    strerror(errno));
    return KUMO_DRIVER_OK;
}

#define MACHINE_ENV_MAX 24

/* The environment the machine's process starts with (strings malloc'd into
 * envp, NULL-terminated, *n of them); -1 when out of memory. */
static int machine_env(struct kumo_driver_conn *c, const struct local_object *m,
                       const struct local_pool *pool, const char *data_path, char **envp, size_t *n)
{
    char gateway[32], prefix[8], agent_dir[LOCAL_NAME_MAX + 64];
    const struct local_object *key = local_state_find_id(&c->state, LOCAL_KEY_PAIR, m->key_id);
    local_ip_format(pool->base + 1, gateway, sizeof(gateway));
    snprintf(prefix, sizeof(prefix), "%d", pool->prefix);
    local_machine_file(c, m->id, "agent", agent_dir, sizeof(agent_dir));
    const size_t max = MACHINE_ENV_MAX;
    return append_env(envp, n, max, "PATH",
                      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") |
           append_env(envp, n, max, "HOME", "/root") |
           append_env(envp, n, max, "KUMO_MACHINE_UID", m->token) |
           append_env(envp, n, max, "KUMO_MACHINE_ID", m->id) |
           append_env(envp, n, max, "KUMO_MACHINE_NAME", m->name ? m->name : "") |
           append_env(envp, n, max, "KUMO_MACHINE_IP", m->ip) |
           append_env(envp, n, max, "KUMO_MACHINE_PREFIX_LENGTH", prefix) |
           append_env(envp, n, max, "KUMO_MACHINE_GATEWAY", gateway) |
           append_env(envp, n, max, "KUMO_MACHINE_INSTANCE_TYPE", m->type) |
           append_env(envp, n, max, "KUMO_MACHINE_IMAGE", m->image) |
           append_env(envp, n, max, "KUMO_MACHINE_REGION", c->cfg.region) |
           append_env(envp, n, max, "KUMO_MACHINE_ZONE", m->zone) |
           append_env(envp, n, max, "KUMO_CONNECTION", c->name) |
           append_env(envp, n, max, "KUMO_MACHINE_USER_DATA_FILE",
                      data_path[0] ? data_path : NULL) |
           append_env(envp, n, max, "KUMO_MACHINE_SSH_PUBLIC_KEY", key ? key->public_key : NULL) |
           append_env(envp, n, max, "KUMO_AGENT_BOOTSTRAP", m->agent_bootstrap) |
           append_env(envp, n, max, "KUMO_AGENT_DATA_DIR", m->agent_bootstrap ? agent_dir : NULL);
}

/* Runs s as the machine's process and records its pid. */
static kumo_driver_code spawn_machine(struct local_call *call, struct local_object *m,
                                      const struct local_spawn *s, struct kumo_driver_diag *diag)
{
    char err[600];
    int64_t pid;
    uint64_t start;
    int started = local_spawn_start(s, call->deadline_ns, &pid, &start, err, sizeof(err));
    int namespaces = strstr(err, "unshare") != NULL || strstr(err, "mount") != NULL;
    if (started == -2)
        return local_timeout(call, err, diag);
    if (started != 0)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INTERNAL, "AgentFailed", "machine %s: %s%s", m->id, err,
            s->isolate && namespaces ? " (isolation=none runs it without PID and mount "
                                       "namespaces)"
                                     : "");
    m->pid = pid;
    m->pid_start = start;
    m->launch_ns = call->now_ns;
    return KUMO_DRIVER_OK;
}

/* Starts the machine's process (after removing any stray one). */
static kumo_driver_code start_process(struct local_call *call, struct local_object *m,
                                      const struct local_pool *pool, struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char netns[LOCAL_NAME_MAX], log_path[LOCAL_NAME_MAX + 64], data_path[LOCAL_NAME_MAX + 64];
    char procs[2][LOCAL_NAME_MAX], err[600];
    local_netns_name(c, m->id, netns, sizeof(netns));
    if (local_netns_kill_all(netns, call->deadline_ns) != 0)
        return local_timeout(call, "stopping a stray process of the machine", diag);
    local_machine_file(c, m->id, "log", log_path, sizeof(log_path));
    kumo_driver_code rc = write_user_data(c, m, data_path, sizeof(data_path), diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    const struct local_type *t = local_type_find(m->type);
    if (c->cgroup_mode != LOCAL_CGROUP_NONE &&
        local_cgroup_ensure(c, m->id, t ? t->vcpu : 1, t ? t->memory_mib : 1024, procs, err,
                            sizeof(err)) != 0)
        local_log(KUMO_DRIVER_LOG_WARN, "machine %s: %s", m->id, err);
    if (c->cgroup_mode == LOCAL_CGROUP_NONE)
        procs[0][0] = procs[1][0] = '\0';
    /* The kumo-agent when the machine has a bootstrap and no agent_command is configured. */
    int kumo_agent = c->agent_is_placeholder && m->agent_bootstrap && m->agent_bootstrap[0];
    char *kumo_agent_argv[2] = {"kumo-agent", NULL};
    char *envp[MACHINE_ENV_MAX] = {NULL};
    size_t n = 0;
    if (machine_env(c, m, pool, data_path, envp, &n) != 0) {
        rc = local_nomem(diag);
    } else {
        struct local_spawn s = {netns,
                                kumo_agent ? c->kumo_agent_path : c->agent_path,
                                kumo_agent ? kumo_agent_argv : c->agent_argv,
                                envp,
                                log_path,
                                c->cfg.isolate,
                                {procs[0], procs[1]}};
        rc = spawn_machine(call, m, &s, diag);
    }
    for (size_t i = 0; i < n; i++)
        free(envp[i]);
    return rc;
}

/* Gives namespace `netns` (made when missing) the veth `veth` on the pool's bridge with
 * address ip (idempotent): what a machine and a load balancer share. */
kumo_driver_code local_netns_attach(struct local_call *call, const char *id, const char *token,
                                    const struct local_pool *pool, const char *ip,
                                    struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char netns[LOCAL_NAME_MAX], veth[32], alias[LOCAL_NAME_MAX], what[128], gateway[32];
    struct stat sb;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    snprintf(what, sizeof(what), "%s %s", strncmp(id, "lb-", 3) == 0 ? "load balancer" : "machine",
             id);
    local_netns_name(c, id, netns, sizeof(netns));
    local_veth_name(id, veth, sizeof(veth));
    local_alias(c, id, token, alias, sizeof(alias));
    if (!local_netns_exists(netns)) {
        rc = local_link_delete(call, veth, what, diag);
        /* `ip netns del` also removes the file of an add that was cut off. */
        if (rc == KUMO_DRIVER_OK && netns_file_exists(netns))
            rc = local_ip(c, call->deadline_ns, what, diag, "netns", "del", netns, NULL);
        if (rc == KUMO_DRIVER_OK)
            rc = local_ip(c, call->deadline_ns, what, diag, "netns", "add", netns, NULL);
    } else if (local_link_exists(veth)) {
        /* A veth whose inner end is not in the namespace (a repair cut short): make it anew. */
        struct kumo_driver_diag scratch;
        if (local_ip(c, call->deadline_ns, what, &scratch, "-n", netns, "link", "show", "dev",
                     "eth0", NULL) != KUMO_DRIVER_OK)
            rc = local_link_delete(call, veth, what, diag);
    }
    if (rc == KUMO_DRIVER_OK && !local_link_exists(veth))
        rc = local_ip(c, call->deadline_ns, what, diag, "link", "add", "name", veth, "type", "veth",
                      "peer", "name", "eth0", "netns", netns, NULL);
    if (rc == KUMO_DRIVER_OK)
        rc = local_ip(c, call->deadline_ns, what, diag, "link", "set", "dev", veth, "alias", alias,
                      NULL);
    int ipv6 = stat("/proc/sys/net/ipv6", &sb) == 0;
    struct kumo_driver_kit_buf host, inside;
    kumo_driver_kit_buf_init(&host);
    kumo_driver_kit_buf_init(&inside);
    local_ip_format(pool->base + 1, gateway, sizeof(gateway));
    if (ipv6)
        kumo_driver_kit_buf_printf(&host, "link set dev %s addrgenmode none\n", veth);
    kumo_driver_kit_buf_printf(&host, "link set dev %s master %s\nlink set dev %s up\n", veth,
                               pool->bridge, veth);
    if (ipv6)
        kumo_driver_kit_buf_str(&inside, "link set dev eth0 addrgenmode none\n");
    kumo_driver_kit_buf_printf(
        &inside,
        "addr replace %s/%d dev eth0\nlink set dev eth0 up\nlink set dev lo up\n"
        "route replace default via %s dev eth0\n",
        ip, pool->prefix, gateway);
    if (rc == KUMO_DRIVER_OK && (host.failed || inside.failed))
        rc = local_nomem(diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_ip_batch(c, NULL, host.data, call->deadline_ns, what, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_ip_batch(c, netns, inside.data, call->deadline_ns, what, diag);
    kumo_driver_kit_buf_fini(&host);
    kumo_driver_kit_buf_fini(&inside);
    return rc;
}

/* Converges the host to machine m (idempotent); may set m's process fields. */
static kumo_driver_code ensure_machine(struct local_call *call, struct local_object *m,
                                       struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    char netns[LOCAL_NAME_MAX];
    struct local_pool pool;
    kumo_driver_code rc = local_machine_pool(call, m->network_id, m->subnet_id, &pool, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_network_ensure(call, m->network_id, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    local_netns_name(c, m->id, netns, sizeof(netns));
    if (!local_netns_exists(netns)) {
        /* Deleted behind our back: what ran in it lives on in a namespace nobody can name.
         * Stop it; the machine is built again below. */
        if (local_pid_alive(m->pid, m->pid_start) &&
            local_pid_stop(m->pid, m->pid_start, 1, 0, call->deadline_ns) != 0)
            return local_timeout(call, "stopping the process of a vanished namespace", diag);
        m->pid = 0;
        m->pid_start = 0;
    }
    rc = local_netns_attach(call, m->id, m->token, &pool, m->ip, diag);
    if (rc == KUMO_DRIVER_OK && m->sg_count > 0)
        rc = local_firewall_apply(call, diag);
    if (rc == KUMO_DRIVER_OK && m->power == KUMO_DRIVER_POWER_RUNNING &&
        !local_pid_alive(m->pid, m->pid_start))
        rc = start_process(call, m, &pool, diag);
    return rc;
}

/* ---- Validation --------------------------------------------------------------------- */

/* Checks security group ids against the machine's network into o->sg_ids. */
static kumo_driver_code set_groups(struct local_call *call, struct local_object *o,
                                   const char *const *ids, size_t count,
                                   struct kumo_driver_diag *diag)
{
    kumo_driver_kit_strings_free(o->sg_ids, o->sg_count);
    o->sg_ids = NULL;
    o->sg_count = 0;
    if (count > LOCAL_MAX_GROUPS)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "SecurityGroupsPerInstanceLimitExceeded",
            "%zu security groups given; a machine may have at most %d", count, LOCAL_MAX_GROUPS);
    if (count == 0)
        return KUMO_DRIVER_OK;
    if ((o->sg_ids = calloc(count, sizeof(char *))) == NULL)
        return local_nomem(diag);
    for (size_t i = 0; i < count; i++) {
        const struct local_object *g =
            local_state_find_id(&call->conn->state, LOCAL_SECURITY_GROUP, ids[i]);
        if (g == NULL)
            return kumo_driver_kit_group_missing(ids[i], call->conn->cfg.region, diag);
        kumo_driver_code rc =
            kumo_driver_kit_group_network_check(g->id, g->network_id, o->network_id, diag);
        if (rc != KUMO_DRIVER_OK)
            return rc;
        if (local_set_str(&o->sg_ids[o->sg_count], g->id) != 0)
            return local_nomem(diag);
        o->sg_count++;
    }
    return KUMO_DRIVER_OK;
}

/* A new machine object from spec (not yet in the state). */
/* The spec's instance type and image from the catalog, and kumo-agent when
 * the machine needs it. */
static kumo_driver_code check_catalog(struct kumo_driver_conn *c,
                                      const struct kumo_driver_machine_spec *spec,
                                      const struct local_type **type, const char **image,
                                      struct kumo_driver_diag *diag)
{
    if ((*type = local_type_find(spec->instance_type)) == NULL)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
            "Invalid value '%s' for InstanceType: the local driver offers "
            "local.nano, local.small, local.medium, local.large, local.xlarge",
            spec->instance_type ? spec->instance_type : "");
    if ((*image = local_image_find(spec->image)) == NULL)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "InvalidAMIID.NotFound",
            "The image '%s' is not offered by the local driver (host, debian-12, "
            "ubuntu-22.04, ubuntu-24.04: all run on the host's filesystem)",
            spec->image ? spec->image : "");
    int wants_agent =
        KUMO_DRIVER_HAS_FIELD(spec, struct kumo_driver_machine_spec, agent_bootstrap) &&
        spec->agent_bootstrap && spec->agent_bootstrap[0];
    if (wants_agent && c->agent_is_placeholder && c->kumo_agent_path[0] == '\0')
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
            "this machine needs kumo-agent, which is neither in PATH nor beside the program that "
            "loaded the driver; install it or set the connection's config agent_command");
    return KUMO_DRIVER_OK;
}

/* The machine's zone (its subnet's, else the connection's; the spec's must
 * match), its key pair (must exist) and the size of its user data. */
static kumo_driver_code check_placement(struct kumo_driver_conn *c,
                                        const struct kumo_driver_machine_spec *spec,
                                        const struct local_pool *pool, const char **zone,
                                        struct kumo_driver_diag *diag)
{
    *zone = c->cfg.zone;
    if (pool->subnet_id[0]) {
        const struct local_object *net =
            local_state_find_id(&c->state, LOCAL_NETWORK, pool->network_id);
        for (size_t i = 0; net && i < net->subnet_count; i++)
            if (strcmp(net->subnets[i].id, pool->subnet_id) == 0)
                *zone = net->subnets[i].zone;
    }
    if (spec->zone && spec->zone[0] && strcmp(spec->zone, *zone) != 0)
        return kumo_driver_kit_fail(
            diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
            "Invalid availability zone: [%s]; this machine can only be in %s", spec->zone, *zone);
    if (spec->key_pair_id && spec->key_pair_id[0] &&
        local_state_find_id(&c->state, LOCAL_KEY_PAIR, spec->key_pair_id) == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidKeyPair.NotFound",
                                    "The key pair '%s' does not exist in %s", spec->key_pair_id,
                                    c->cfg.region);
    if (spec->user_data && strlen(spec->user_data) > 16384)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                    "User data is limited to 16384 bytes (%zu given)",
                                    strlen(spec->user_data));
    return KUMO_DRIVER_OK;
}

static kumo_driver_code machine_from_spec(struct local_call *call,
                                          const struct kumo_driver_machine_spec *spec,
                                          const char *token, struct local_object **out,
                                          struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    const struct local_type *type = NULL;
    const char *image = NULL, *zone = NULL;
    struct local_pool pool;
    *out = NULL;
    kumo_driver_code rc = check_catalog(c, spec, &type, &image, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_machine_pool(call, spec->network_id, spec->subnet_id, &pool, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = check_placement(c, spec, &pool, &zone, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *o = local_object_new(LOCAL_MACHINE);
    if (o == NULL)
        return local_nomem(diag);
    char id[32], ip[32];
    local_new_id(c, LOCAL_MACHINE, id, sizeof(id));
    int nomem =
        local_set_str(&o->id, id) | local_set_str(&o->token, token) |
        local_set_str(&o->name, spec->name ? spec->name : "") |
        local_set_str(&o->type, type->name) | local_set_str(&o->image, image) |
        local_set_str(&o->zone, zone) |
        local_set_str(&o->network_id, pool.network_id[0] ? pool.network_id : NULL) |
        local_set_str(&o->subnet_id, pool.subnet_id[0] ? pool.subnet_id : NULL) |
        local_set_str(&o->key_id,
                      spec->key_pair_id && spec->key_pair_id[0] ? spec->key_pair_id : NULL) |
        local_set_str(&o->user_data, spec->user_data) |
        local_set_str(&o->agent_bootstrap,
                      KUMO_DRIVER_HAS_FIELD(spec, struct kumo_driver_machine_spec, agent_bootstrap)
                          ? spec->agent_bootstrap
                          : NULL);
    rc = nomem ? local_nomem(diag) : local_copy_tags(o, spec->tags, spec->tag_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = set_groups(call, o, spec->security_group_ids, spec->security_group_count, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_pool_allocate(c, &pool, ip, sizeof(ip), diag);
    if (rc == KUMO_DRIVER_OK && local_set_str(&o->ip, ip) != 0)
        rc = local_nomem(diag);
    if (rc != KUMO_DRIVER_OK) {
        local_object_free(o);
        return rc;
    }
    o->power = KUMO_DRIVER_POWER_RUNNING;
    o->created_ns = call->now_ns;
    o->status = LOCAL_BUILDING;
    *out = o;
    return KUMO_DRIVER_OK;
}

/* ---- Results ---------------------------------------------------------------------------- */

static kumo_driver_code result(struct local_call *call, const struct local_object *m,
                               struct kumo_driver_machine **out, struct kumo_driver_diag *diag)
{
    struct local_machine_view v;
    local_machine_view_of(call->conn, m, &v);
    *out = local_pack_machine(m, &v);
    return *out ? KUMO_DRIVER_OK : local_nomem(diag);
}

/* Removes machine m from the host and the state; keeps it (Terminating) when
 * the host refuses. */
static kumo_driver_code delete_machine(struct local_call *call, struct local_object *m,
                                       struct kumo_driver_diag *diag)
{
    m->status = LOCAL_DELETING;
    kumo_driver_code rc = local_save(call, "recording the delete", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_machine_teardown(call, m->id, m->pid, m->pid_start, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    int filtered = m->sg_count > 0, on_default = m->network_id == NULL || !m->network_id[0];
    local_state_remove(&call->conn->state, m);
    if (filtered)
        rc = local_firewall_apply(call, diag);
    kumo_driver_code saved = local_save(call, "recording the delete", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = saved;
    if (rc == KUMO_DRIVER_OK && on_default)
        rc = local_default_network_release(call, diag);
    return rc;
}

/* ---- The operations --------------------------------------------------------------- */

kumo_driver_code local_machine_create(struct kumo_driver_conn *c,
                                      const struct kumo_driver_machine_spec *spec,
                                      const char *token, int64_t deadline_ns,
                                      struct kumo_driver_machine **out,
                                      struct kumo_driver_diag *diag)
{
    struct local_call call;
    struct local_orphan orphans[64];
    if (out == NULL || spec == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "machine_create: spec and out are required");
    *out = NULL;
    kumo_driver_code rc = local_check_token(token, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = local_call_begin(c, "machine_create", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *m = local_state_find_token(&c->state, LOCAL_MACHINE, token);
    if (m != NULL && m->status == LOCAL_DELETING) {
        rc = delete_machine(&call, m, diag); /* finish it; the token makes a new one */
        m = NULL;
    }
    if (rc == KUMO_DRIVER_OK && m != NULL) {
        /* The same token: finish or repair that machine, make nothing new. */
        rc = ensure_machine(&call, m, diag);
        if (rc == KUMO_DRIVER_OK)
            m->status = LOCAL_READY;
        kumo_driver_code saved = local_save(&call, "recording the machine", diag);
        rc = rc == KUMO_DRIVER_OK ? saved : rc;
        if (rc == KUMO_DRIVER_OK)
            rc = result(&call, m, out, diag);
        local_call_end(&call);
        return rc;
    }
    if (rc == KUMO_DRIVER_OK) {
        size_t n = local_find_orphans(c, orphans, 64);
        for (size_t i = 0; rc == KUMO_DRIVER_OK && i < n; i++)
            if (strcmp(orphans[i].token, token) == 0)
                rc = local_machine_teardown(&call, orphans[i].id, 0, 0, diag);
    }
    if (rc == KUMO_DRIVER_OK)
        rc = machine_from_spec(&call, spec, token, &m, diag);
    if (rc == KUMO_DRIVER_OK && local_state_add(&c->state, m) != 0) {
        local_object_free(m);
        m = NULL;
        rc = local_nomem(diag);
    }
    if (rc == KUMO_DRIVER_OK)
        rc = local_save(&call, "recording the new machine", diag);
    if (rc == KUMO_DRIVER_OK) {
        rc = ensure_machine(&call, m, diag);
        if (rc == KUMO_DRIVER_OK) {
            m->status = LOCAL_READY;
            rc = local_save(&call, "recording the new machine", diag);
        } else if (rc != KUMO_DRIVER_TIMEOUT) {
            /* A failure for good: take back what was made. */
            struct kumo_driver_diag scratch;
            if (delete_machine(&call, m, &scratch) != KUMO_DRIVER_OK)
                local_log(KUMO_DRIVER_LOG_WARN, "machine %s: rolling back failed: %s", token,
                          scratch.message);
        }
        if (rc == KUMO_DRIVER_OK)
            rc = result(&call, m, out, diag);
    } else if (m != NULL) {
        local_state_remove(&c->state, m);
    }
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_machine_observe(struct kumo_driver_conn *c,
                                       const struct kumo_driver_ref *ref, int64_t deadline_ns,
                                       struct kumo_driver_machine **out,
                                       struct kumo_driver_diag *diag)
{
    struct local_call call;
    struct local_orphan orphans[64];
    if (out == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "machine_observe: out is required");
    *out = NULL;
    kumo_driver_code rc = local_call_begin(c, "machine_observe", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *m = local_lookup(&call, LOCAL_MACHINE, ref, &rc, diag);
    if (m != NULL && m->status == LOCAL_BUILDING &&
        call.now_ns - m->created_ns > LOCAL_BUILD_STALE_NS) {
        /* A create cut short long ago (its process was killed): a controller that finds it
         * does not create again, so finish it here or it stays pending for good. */
        struct kumo_driver_diag scratch;
        if (ensure_machine(&call, m, &scratch) == KUMO_DRIVER_OK) {
            m->status = LOCAL_READY;
            local_save(&call, "recording the machine", &scratch);
        }
    }
    if (m != NULL) {
        rc = result(&call, m, out, diag);
    } else if (rc == KUMO_DRIVER_NOT_FOUND) {
        size_t n = local_find_orphans(c, orphans, 64);
        for (size_t i = 0; i < n; i++) {
            int by_id = ref->provider_id && ref->provider_id[0];
            if (by_id ? strcmp(orphans[i].id, ref->provider_id) != 0
                      : strcmp(orphans[i].token, ref->token) != 0)
                continue;
            struct local_object *o = local_orphan_object(&orphans[i]);
            struct local_machine_view v = local_orphan_view;
            v.region = c->cfg.region;
            *out = o ? local_pack_machine(o, &v) : NULL;
            local_object_free(o);
            rc = *out ? KUMO_DRIVER_OK : local_nomem(diag);
            break;
        }
    }
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_machine_list(struct kumo_driver_conn *c,
                                    const struct kumo_driver_filter *filter, int64_t deadline_ns,
                                    struct kumo_driver_machine_list **out,
                                    struct kumo_driver_diag *diag)
{
    struct local_call call;
    struct local_orphan orphans[64];
    if (out == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "machine_list: out is required");
    *out = NULL;
    kumo_driver_code rc = local_call_begin(c, "machine_list", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    size_t orphan_count = local_find_orphans(c, orphans, 64);
    size_t cap = c->state.count + orphan_count, n = 0, made = 0;
    struct local_object **items = calloc(cap + 1, sizeof(*items));
    struct local_object **owned = calloc(orphan_count + 1, sizeof(*owned));
    struct local_machine_view *views = calloc(cap + 1, sizeof(*views));
    if (items == NULL || views == NULL || owned == NULL)
        rc = local_nomem(diag);
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < c->state.count; i++) {
        struct local_object *m = c->state.objects[i];
        if (m->kind != LOCAL_MACHINE || !local_filter_match(filter, m))
            continue;
        local_machine_view_of(c, m, &views[n]);
        items[n++] = m;
    }
    for (size_t i = 0; rc == KUMO_DRIVER_OK && i < orphan_count; i++) {
        struct local_object *o = local_orphan_object(&orphans[i]);
        if (o == NULL) {
            rc = local_nomem(diag);
            break;
        }
        owned[made++] = o;
        if (!local_filter_match(filter, o))
            continue;
        views[n] = local_orphan_view;
        views[n].region = c->cfg.region;
        items[n++] = o;
    }
    if (rc == KUMO_DRIVER_OK) {
        *out = local_pack_list(items, views, n, c->cfg.region);
        rc = *out ? KUMO_DRIVER_OK : local_nomem(diag);
    }
    for (size_t i = 0; i < made; i++)
        local_object_free(owned[i]);
    free(owned);
    free(items);
    free(views);
    local_call_end(&call);
    return rc;
}

kumo_driver_code local_machine_delete(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                      int64_t deadline_ns, struct kumo_driver_diag *diag)
{
    struct local_call call;
    struct local_orphan orphans[64];
    kumo_driver_code rc = local_call_begin(c, "machine_delete", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *m = local_lookup(&call, LOCAL_MACHINE, ref, &rc, diag);
    if (m != NULL) {
        rc = delete_machine(&call, m, diag);
    } else if (rc == KUMO_DRIVER_NOT_FOUND) {
        size_t n = local_find_orphans(c, orphans, 64);
        int by_id = ref->provider_id && ref->provider_id[0];
        for (size_t i = 0; i < n; i++) {
            if (by_id ? strcmp(orphans[i].id, ref->provider_id) == 0
                      : strcmp(orphans[i].token, ref->token) == 0) {
                rc = local_machine_teardown(&call, orphans[i].id, 0, 0, diag);
                break;
            }
        }
    }
    local_call_end(&call);
    return rc;
}

/* Applies the fields of u to copy (of machine m, seen as now); *refilter: the
 * firewall must be applied again. */
static kumo_driver_code apply_update(struct local_call *call, const struct local_object *m,
                                     struct local_object *copy,
                                     const struct kumo_driver_machine_update *u,
                                     const struct local_machine_view *now, int *refilter,
                                     struct kumo_driver_diag *diag)
{
    kumo_driver_code rc = KUMO_DRIVER_OK;
    *refilter = 0;
    if ((u->fields & KUMO_DRIVER_MACHINE_SET_INSTANCE_TYPE) && u->instance_type &&
        strcmp(u->instance_type, m->type) != 0) {
        const struct local_type *t = local_type_find(u->instance_type);
        if (t == NULL)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                      "Invalid value '%s' for InstanceType", u->instance_type);
        else if (now->phase != KUMO_DRIVER_MACHINE_STOPPED)
            rc = kumo_driver_kit_fail(
                diag, KUMO_DRIVER_CONFLICT, "IncorrectInstanceState",
                "The instance '%s' is %s; it must be stopped to change its type", m->id,
                now->provider_state);
        else if (local_set_str(&copy->type, t->name) != 0)
            rc = local_nomem(diag);
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_SECURITY_GROUPS)) {
        rc = set_groups(call, copy, u->security_group_ids, u->security_group_count, diag);
        *refilter = 1;
    }
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_TAGS))
        rc = local_copy_tags(copy, u->tags, u->tag_count, diag);
    if (rc == KUMO_DRIVER_OK && (u->fields & KUMO_DRIVER_MACHINE_SET_POWER)) {
        if (u->power != KUMO_DRIVER_POWER_RUNNING && u->power != KUMO_DRIVER_POWER_STOPPED)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameterValue",
                                      "power %d is neither running (0) nor stopped (1)",
                                      (int)u->power);
        else
            copy->power = u->power;
    }
    return rc;
}

/* Makes the host match m's power: a stopped machine runs nothing, a running
 * one whose process is gone is started (and repaired). */
static kumo_driver_code apply_power(struct local_call *call, struct local_object *m,
                                    struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    kumo_driver_code rc = KUMO_DRIVER_OK;
    int alive = local_pid_alive(m->pid, m->pid_start);
    if (m->power == KUMO_DRIVER_POWER_RUNNING)
        return alive ? KUMO_DRIVER_OK : ensure_machine(call, m, diag);
    if (!alive)
        return KUMO_DRIVER_OK;
    char netns[LOCAL_NAME_MAX];
    local_netns_name(c, m->id, netns, sizeof(netns));
    if (local_pid_stop(m->pid, m->pid_start, local_machine_hard_stop(c, m), c->cfg.stop_grace_ms,
                       call->deadline_ns) != 0)
        rc = local_timeout(call, "stopping the machine's process", diag);
    if (local_netns_kill_all(netns, call->deadline_ns) != 0)
        rc = local_timeout(call, "stopping the machine's processes", diag);
    if (rc == KUMO_DRIVER_OK) {
        m->pid = 0;
        m->pid_start = 0;
    }
    return rc;
}

kumo_driver_code local_machine_update(struct kumo_driver_conn *c, const struct kumo_driver_ref *ref,
                                      const struct kumo_driver_machine_update *u,
                                      int64_t deadline_ns, struct kumo_driver_machine **out,
                                      struct kumo_driver_diag *diag)
{
    struct local_call call;
    struct local_machine_view now;
    int refilter = 0;
    if (out == NULL || u == NULL)
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "MissingParameter",
                                    "machine_update: update and out are required");
    *out = NULL;
    kumo_driver_code rc = local_call_begin(c, "machine_update", deadline_ns, &call, diag);
    if (rc != KUMO_DRIVER_OK)
        return rc;
    struct local_object *m = local_lookup(&call, LOCAL_MACHINE, ref, &rc, diag), *copy = NULL;
    if (m != NULL) {
        local_machine_view_of(c, m, &now);
        if (m->status != LOCAL_READY || now.phase == KUMO_DRIVER_MACHINE_TERMINATED)
            rc = kumo_driver_kit_fail(diag, KUMO_DRIVER_CONFLICT, "IncorrectInstanceState",
                                      "The instance '%s' is %s and cannot be changed", m->id,
                                      now.provider_state);
        else if ((copy = local_object_clone(m)) == NULL)
            rc = local_nomem(diag);
        else
            rc = apply_update(&call, m, copy, u, &now, &refilter, diag);
    }
    if (m == NULL || rc != KUMO_DRIVER_OK) {
        local_object_free(copy);
        local_call_end(&call);
        return rc;
    }
    /* Intent first, then the host. */
    local_state_replace(&c->state, m, copy);
    m = copy;
    rc = local_save(&call, "recording the change", diag);
    if (rc == KUMO_DRIVER_OK && refilter)
        rc = local_firewall_apply(&call, diag);
    if (rc == KUMO_DRIVER_OK)
        rc = apply_power(&call, m, diag);
    kumo_driver_code saved = local_save(&call, "recording the change", diag);
    if (rc == KUMO_DRIVER_OK)
        rc = saved;
    if (rc == KUMO_DRIVER_OK)
        rc = result(&call, m, out, diag);
    local_call_end(&call);
    return rc;
}

/* ---- Networks of machines -------------------------------------------------------- */

kumo_driver_code local_machine_pool(struct local_call *call, const char *network_id,
                                    const char *subnet_id, struct local_pool *pool,
                                    struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    memset(pool, 0, sizeof(*pool));
    const struct local_object *net = NULL;
    const struct kumo_driver_kit_subnet *sub = NULL;
    if (subnet_id && subnet_id[0]) {
        for (size_t i = 0; i < c->state.count && sub == NULL; i++) {
            const struct local_object *o = c->state.objects[i];
            for (size_t j = 0; o->kind == LOCAL_NETWORK && j < o->subnet_count; j++)
                if (strcmp(o->subnets[j].id, subnet_id) == 0)
                    net = o, sub = &o->subnets[j];
        }
        if (sub == NULL)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidSubnetID.NotFound",
                                        "The subnet ID '%s' does not exist in %s", subnet_id,
                                        c->cfg.region);
        if (network_id && network_id[0] && strcmp(network_id, net->id) != 0)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_INVALID, "InvalidParameter",
                                        "subnet %s belongs to network %s, not %s", subnet_id,
                                        net->id, network_id);
    } else if (network_id && network_id[0]) {
        net = local_state_find_id(&c->state, LOCAL_NETWORK, network_id);
        if (net == NULL || net->status == LOCAL_DELETING)
            return kumo_driver_kit_fail(diag, KUMO_DRIVER_NOT_FOUND, "InvalidVpcID.NotFound",
                                        "The network ID '%s' does not exist in %s", network_id,
                                        c->cfg.region);
        sub = net->subnet_count > 0 ? &net->subnets[0] : NULL;
    }
    if (net == NULL) {
        pool->base = c->cfg.cidr_base;
        pool->prefix = c->cfg.cidr_prefix;
    } else if (local_cidr_parse(sub ? sub->cidr : net->cidr, &pool->base, &pool->prefix) != 0) {
        return kumo_driver_kit_fail(diag, KUMO_DRIVER_INTERNAL, "InternalError",
                                    "network %s has an unreadable range in the state file",
                                    net->id);
    }
    local_bridge_name(c, net ? net->id : NULL, pool->bridge, sizeof(pool->bridge));
    snprintf(pool->network_id, sizeof(pool->network_id), "%s", net ? net->id : "");
    snprintf(pool->subnet_id, sizeof(pool->subnet_id), "%s", sub ? sub->id : "");
    return KUMO_DRIVER_OK;
}

kumo_driver_code local_default_network_release(struct local_call *call,
                                               struct kumo_driver_diag *diag)
{
    struct kumo_driver_conn *c = call->conn;
    for (size_t i = 0; i < c->state.count; i++) {
        const struct local_object *o = c->state.objects[i];
        if ((o->kind == LOCAL_MACHINE || o->kind == LOCAL_LOAD_BALANCER) &&
            (o->network_id == NULL || o->network_id[0] == '\0'))
            return KUMO_DRIVER_OK; /* still used */
    }
    char bridge[32];
    local_bridge_name(c, NULL, bridge, sizeof(bridge));
    return local_bridge_delete(call, bridge, "removing the default network", diag);
}
