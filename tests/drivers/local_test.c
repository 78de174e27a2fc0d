/*
 * local_test.c - the local driver on this host, for real: the driver
 * contract, a machine's life (namespace, address answering pings, observe
 * after reopen, stop/start, delete), security groups enforced between
 * machines and from the host, the agent command inside PID and network
 * namespaces with cgroup limits, repair after things vanish behind the
 * driver's back (including a lost state file), networks with subnets,
 * refusing non-root callers, and bad settings.
 *
 * Every name carries the run's prefix kt<pid>; each case ends by purging and
 * asserting that nothing of the prefix is left. Needs root; skips otherwise.
 */
#define _GNU_SOURCE
#include "tests/drivers/contract.h"
#include "tests/drivers/local_support.h"
#include "tests/harness/test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LONG 30.0

/* ---- The contract ------------------------------------------------------------ */

#define LOCAL_CONTRACT(check)                                                                      \
    KUMO_TEST(local_contract_##check)                                                              \
    {                                                                                              \
        struct local_env e;                                                                        \
        local_env_init(&e);                                                                        \
        struct contract_env env = {e.drv, e.host, &e.args, "local.small", "host", 0, 0, 0};        \
        contract_##check(&env);                                                                    \
        local_env_fini(&e);                                                                        \
    }

LOCAL_CONTRACT(create_idempotent)
LOCAL_CONTRACT(observe_after_restart)
LOCAL_CONTRACT(delete_idempotent)
LOCAL_CONTRACT(list_by_tag)
LOCAL_CONTRACT(deadlines)
LOCAL_CONTRACT(machine_boots)
LOCAL_CONTRACT(machine_update)
LOCAL_CONTRACT(dependencies)
LOCAL_CONTRACT(catalog)
LOCAL_CONTRACT(bad_input)
LOCAL_CONTRACT(load_balancer)

/* ---- Helpers -------------------------------------------------------------------- */

static struct kumo_driver_diag no_diag(void)
{
    struct kumo_driver_diag d;
    memset(&d, 0, sizeof(d));
    return d;
}

static int path_exists(const char *fmt, const char *name)
{
    char path[600];
    struct stat sb;
    snprintf(path, sizeof(path), fmt, name);
    return stat(path, &sb) == 0;
}

/* A process that is gone or a zombie (its new parent reaps it a little later). */
static int gone(long pid)
{
    char path[64], text[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 1;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *close_paren = strrchr(text, ')');
    return close_paren == NULL || close_paren[2] == 'Z' || close_paren[2] == 'X';
}

struct machine_info {
    char id[64];
    char ip[32];
    char netns[256];
    char veth[32];
    char bridge[32];
    long pid;
    char cgroup[512];
};

/* Creates a machine (REQUIRE OK) and reads what the inventory says about it. */
static void make(struct local_env *e, struct kumo_driver_conn *conn, const char *token,
                 const char *type, const char *subnet, const char *const *groups, size_t ngroups,
                 struct machine_info *info)
{
    struct kumo_driver_machine_spec spec;
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag d = no_diag();
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.name = token;
    spec.instance_type = type;
    spec.image = "host";
    spec.subnet_id = subnet;
    spec.security_group_ids = groups;
    spec.security_group_count = ngroups;
    if (e->drv->machine_create(conn, &spec, token, local_deadline(e, LONG), &m, &d) !=
        KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "machine_create(%s): %s: %s", token, d.cloud_code,
                        d.message);
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_RUNNING);
    memset(info, 0, sizeof(*info));
    snprintf(info->id, sizeof(info->id), "%s", m->provider_id);
    snprintf(info->ip, sizeof(info->ip), "%s", m->private_ip);
    kumo_driver_free(e->host, m);
    char *inv = local_inventory(e, conn), pid[32] = "";
    local_inventory_field(inv, info->id, "netns", info->netns, sizeof(info->netns));
    local_inventory_field(inv, info->id, "veth", info->veth, sizeof(info->veth));
    local_inventory_field(inv, info->id, "bridge", info->bridge, sizeof(info->bridge));
    local_inventory_field(inv, info->id, "cgroup", info->cgroup, sizeof(info->cgroup));
    local_inventory_field(inv, info->id, "pid", pid, sizeof(pid));
    info->pid = strtol(pid, NULL, 10);
    kumo_driver_free(e->host, inv);
}

static long pid_of(struct local_env *e, struct kumo_driver_conn *conn, const char *id)
{
    char *inv = local_inventory(e, conn), pid[32] = "";
    local_inventory_field(inv, id, "pid", pid, sizeof(pid));
    kumo_driver_free(e->host, inv);
    return strtol(pid, NULL, 10);
}

static struct kumo_driver_machine *observe(struct local_env *e, struct kumo_driver_conn *conn,
                                           const char *id, const char *token)
{
    struct kumo_driver_ref ref = {id, token};
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag d = no_diag();
    kumo_driver_code rc = e->drv->machine_observe(conn, &ref, local_deadline(e, LONG), &m, &d);
    if (rc != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "observe(%s): %s", id ? id : token, d.message);
    return m;
}

static void power(struct local_env *e, struct kumo_driver_conn *conn, const char *id, int to,
                  int want_phase)
{
    struct kumo_driver_ref ref = {id, NULL};
    struct kumo_driver_machine_update u;
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag d = no_diag();
    memset(&u, 0, sizeof(u));
    u.struct_size = sizeof(u);
    u.fields = KUMO_DRIVER_MACHINE_SET_POWER;
    u.power = to;
    if (e->drv->machine_update(conn, &ref, &u, local_deadline(e, LONG), &m, &d) != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "power %d: %s", to, d.message);
    KUMO_EXPECT_INT_EQ(m->phase, want_phase);
    kumo_driver_free(e->host, m);
}

static void set_groups(struct local_env *e, struct kumo_driver_conn *conn, const char *id,
                       const char *const *groups, size_t n)
{
    struct kumo_driver_ref ref = {id, NULL};
    struct kumo_driver_machine_update u;
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag d = no_diag();
    memset(&u, 0, sizeof(u));
    u.struct_size = sizeof(u);
    u.fields = KUMO_DRIVER_MACHINE_SET_SECURITY_GROUPS;
    u.security_group_ids = groups;
    u.security_group_count = n;
    if (e->drv->machine_update(conn, &ref, &u, local_deadline(e, LONG), &m, &d) != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "set groups of %s: %s", id, d.message);
    kumo_driver_free(e->host, m);
}

static void remove_machine(struct local_env *e, struct kumo_driver_conn *conn, const char *id)
{
    struct kumo_driver_ref ref = {id, NULL};
    struct kumo_driver_diag d = no_diag();
    KUMO_EXPECT_INT_EQ(e->drv->machine_delete(conn, &ref, local_deadline(e, LONG), &d),
                       KUMO_DRIVER_OK);
}

static void make_group(struct local_env *e, struct kumo_driver_conn *conn, const char *token,
                       const char *network, const struct kumo_driver_rule *rules, size_t n,
                       char *id, size_t size)
{
    struct kumo_driver_security_group_spec gs = {sizeof(gs), token, network, rules, n, NULL, 0};
    struct kumo_driver_security_group *g = NULL;
    struct kumo_driver_diag d = no_diag();
    if (e->drv->security_group_create(conn, &gs, token, local_deadline(e, LONG), &g, &d) !=
        KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "security_group_create: %s", d.message);
    snprintf(id, size, "%s", g->provider_id);
    kumo_driver_free(e->host, g);
}

/* ---- A machine's life ------------------------------------------------------------ */

KUMO_TEST(local_machine_lifecycle)
{
    struct local_env e;
    struct machine_info a;
    char token[64], netns_prefix[64];
    struct kumo_driver_diag d = no_diag();
    local_env_init(&e);
    struct kumo_driver_conn *conn = local_env_open(&e);
    snprintf(token, sizeof(token), "%s-life", e.prefix);
    make(&e, conn, token, "local.small", NULL, NULL, 0, &a);

    /* A namespace named with the prefix, an address in the connection's range. */
    snprintf(netns_prefix, sizeof(netns_prefix), "%s-", e.prefix);
    KUMO_EXPECT(strncmp(a.netns, netns_prefix, strlen(netns_prefix)) == 0);
    KUMO_EXPECT(path_exists("/run/netns/%s", a.netns));
    KUMO_EXPECT(path_exists("/sys/class/net/%s", a.veth));
    KUMO_EXPECT(path_exists("/sys/class/net/%s", a.bridge));
    KUMO_EXPECT(strncmp(a.ip, e.cidr, strlen(e.cidr) - 5) == 0); /* "10.254.N." */
    KUMO_EXPECT(a.pid > 0 && !gone(a.pid));

    /* The host reaches it over the bridge: ICMP and TCP. */
    KUMO_EXPECT(local_ping(a.ip, 2000));
    int listener = local_listen_in(a.netns, 7000);
    KUMO_REQUIRE(listener >= 0);
    KUMO_EXPECT_INT_EQ(local_connect_from(NULL, a.ip, 7000, 2000), 1);
    close(listener);

    /* A restarted driver finds it by token. */
    e.drv->close(conn);
    conn = local_env_open(&e);
    struct kumo_driver_machine *m = observe(&e, conn, NULL, token);
    KUMO_EXPECT_STR_EQ(m->provider_id, a.id);
    KUMO_EXPECT_STR_EQ(m->private_ip, a.ip);
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_RUNNING);
    KUMO_EXPECT_STR_EQ(m->instance_type, "local.small");
    KUMO_EXPECT(m->launch_ns > 0 && m->price_per_hour > 0);
    kumo_driver_free(e.host, m);

    /* Stop kills the process; start runs a new one. */
    power(&e, conn, a.id, KUMO_DRIVER_POWER_STOPPED, KUMO_DRIVER_MACHINE_STOPPED);
    KUMO_EXPECT(gone(a.pid));
    KUMO_EXPECT_INT_EQ(pid_of(&e, conn, a.id), 0);
    m = observe(&e, conn, a.id, NULL);
    KUMO_EXPECT_STR_EQ(m->provider_state, "stopped");
    kumo_driver_free(e.host, m);
    power(&e, conn, a.id, KUMO_DRIVER_POWER_RUNNING, KUMO_DRIVER_MACHINE_RUNNING);
    long pid = pid_of(&e, conn, a.id);
    KUMO_EXPECT(pid > 0 && pid != a.pid && !gone(pid));

    /* Delete removes everything; the default network's bridge goes with the last machine. */
    remove_machine(&e, conn, a.id);
    struct kumo_driver_ref ref = {NULL, token};
    m = NULL;
    KUMO_EXPECT_INT_EQ(e.drv->machine_observe(conn, &ref, local_deadline(&e, LONG), &m, &d),
                       KUMO_DRIVER_NOT_FOUND);
    KUMO_EXPECT_INT_EQ(e.drv->machine_delete(conn, &ref, local_deadline(&e, LONG), &d),
                       KUMO_DRIVER_NOT_FOUND);
    KUMO_EXPECT(!path_exists("/run/netns/%s", a.netns));
    KUMO_EXPECT(!path_exists("/sys/class/net/%s", a.veth));
    KUMO_EXPECT(!path_exists("/sys/class/net/%s", a.bridge));
    KUMO_EXPECT(gone(pid));
    char report[1024];
    KUMO_EXPECT_INT_EQ(local_leftovers(e.prefix, report, sizeof(report)), 0);
    e.drv->close(conn);
    local_env_fini(&e);
}

/* ---- Security groups ---------------------------------------------------------------- */

KUMO_TEST(local_security_groups)
{
    struct local_env e;
    struct machine_info a, b;
    char token[64], web[64], egress[64], rule_cidr[40];
    struct kumo_driver_diag d = no_diag();
    local_env_init(&e);
    struct kumo_driver_conn *conn = local_env_open(&e);
    struct kumo_driver_rule web_rules[2] = {
        {KUMO_DRIVER_INBOUND, KUMO_DRIVER_TCP, 8080, 8080, "0.0.0.0/0", "web"},
        {KUMO_DRIVER_INBOUND, KUMO_DRIVER_ICMP, 0, 0, "0.0.0.0/0", "ping"}};
    snprintf(token, sizeof(token), "%s-sg-web", e.prefix);
    make_group(&e, conn, token, NULL, web_rules, 2, web, sizeof(web));
    const char *web_only[1] = {web};
    snprintf(token, sizeof(token), "%s-sg-a", e.prefix);
    make(&e, conn, token, "local.nano", NULL, web_only, 1, &a);
    snprintf(token, sizeof(token), "%s-sg-b", e.prefix);
    make(&e, conn, token, "local.nano", NULL, NULL, 0, &b);
    int a8080 = local_listen_in(a.netns, 8080), a8081 = local_listen_in(a.netns, 8081);
    int b8080 = local_listen_in(b.netns, 8080);
    KUMO_REQUIRE(a8080 >= 0 && a8081 >= 0 && b8080 >= 0);

    /* Inbound to A: only what its group allows, from a machine and from the host. */
    KUMO_EXPECT_INT_EQ(local_connect_from(b.netns, a.ip, 8080, 2000), 1);
    KUMO_EXPECT_INT_EQ(local_connect_from(b.netns, a.ip, 8081, 600), 0);
    KUMO_EXPECT_INT_EQ(local_connect_from(NULL, a.ip, 8080, 2000), 1);
    KUMO_EXPECT_INT_EQ(local_connect_from(NULL, a.ip, 8081, 600), 0);
    KUMO_EXPECT(local_ping(a.ip, 2000));
    /* B has no group: open. A has no outbound rule: its egress is open. */
    KUMO_EXPECT_INT_EQ(local_connect_from(a.netns, b.ip, 8080, 2000), 1);

    /* Changing the rules changes the filter. */
    struct kumo_driver_rule wider[2] = {
        {KUMO_DRIVER_INBOUND, KUMO_DRIVER_TCP, 8080, 8081, "0.0.0.0/0", "web"},
        {KUMO_DRIVER_INBOUND, KUMO_DRIVER_ICMP, 0, 0, "0.0.0.0/0", "ping"}};
    struct kumo_driver_security_group_update gu = {
        sizeof(gu), KUMO_DRIVER_SECURITY_GROUP_SET_RULES, wider, 2, NULL, 0};
    struct kumo_driver_ref web_ref = {web, NULL};
    struct kumo_driver_security_group *g = NULL;
    KUMO_REQUIRE_INT_EQ(
        e.drv->security_group_update(conn, &web_ref, &gu, local_deadline(&e, LONG), &g, &d),
        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(g->rule_count, 2);
    kumo_driver_free(e.host, g);
    KUMO_EXPECT_INT_EQ(local_connect_from(b.netns, a.ip, 8081, 2000), 1);

    /* Outbound rules: B may only reach A's 8080, and nothing may reach B. */
    snprintf(rule_cidr, sizeof(rule_cidr), "%s/32", a.ip);
    struct kumo_driver_rule out_rules[1] = {
        {KUMO_DRIVER_OUTBOUND, KUMO_DRIVER_TCP, 8080, 8080, rule_cidr, "to a"}};
    snprintf(token, sizeof(token), "%s-sg-egress", e.prefix);
    make_group(&e, conn, token, NULL, out_rules, 1, egress, sizeof(egress));
    const char *egress_only[1] = {egress};
    set_groups(&e, conn, b.id, egress_only, 1);
    KUMO_EXPECT_INT_EQ(local_connect_from(b.netns, a.ip, 8080, 2000), 1);
    KUMO_EXPECT_INT_EQ(local_connect_from(b.netns, a.ip, 8081, 600), 0);
    KUMO_EXPECT_INT_EQ(local_connect_from(a.netns, b.ip, 8080, 600), 0);

    /* A group in use cannot go; without groups everything is open again. */
    KUMO_EXPECT_INT_EQ(e.drv->security_group_delete(conn, &web_ref, local_deadline(&e, LONG), &d),
                       KUMO_DRIVER_CONFLICT);
    KUMO_EXPECT_CONTAINS(d.message, web);
    set_groups(&e, conn, a.id, NULL, 0);
    set_groups(&e, conn, b.id, NULL, 0);
    KUMO_EXPECT_INT_EQ(local_connect_from(a.netns, b.ip, 8080, 2000), 1);
    char report[1024];
    int tables = 0;
    local_leftovers(e.prefix, report, sizeof(report));
    tables = strstr(report, "nft table") != NULL;
    KUMO_EXPECT_INT_EQ(tables, 0); /* the table goes with the last filtered machine */
    close(a8080);
    close(a8081);
    close(b8080);
    KUMO_EXPECT_INT_EQ(e.drv->security_group_delete(conn, &web_ref, local_deadline(&e, LONG), &d),
                       KUMO_DRIVER_OK);
    remove_machine(&e, conn, a.id);
    remove_machine(&e, conn, b.id);
    struct kumo_driver_ref egress_ref = {egress, NULL};
    KUMO_EXPECT_INT_EQ(
        e.drv->security_group_delete(conn, &egress_ref, local_deadline(&e, LONG), &d),
        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(local_leftovers(e.prefix, report, sizeof(report)), 0);
    e.drv->close(conn);
    local_env_fini(&e);
}

/* ---- The agent ----------------------------------------------------------------------- */

static int read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (int)n;
}

KUMO_TEST(local_agent_command)
{
    struct local_env e;
    struct machine_info a;
    char token[64], command[800], out_path[300], text[600], want[200];
    local_env_init(&e);
    snprintf(out_path, sizeof(out_path), "%.250s/agent.out", kumo_test_tmpdir());
    snprintf(command, sizeof(command),
             "/bin/sh -c 'echo \"$$ $KUMO_MACHINE_UID $KUMO_MACHINE_IP $KUMO_MACHINE_GATEWAY\" "
             "> %s; exec sleep infinity'",
             out_path);
    local_env_set(&e, "agent_command", command);
    struct kumo_driver_conn *conn = local_env_open(&e);
    snprintf(token, sizeof(token), "%s-agent", e.prefix);
    make(&e, conn, token, "local.nano", NULL, NULL, 0, &a);
    double until = kumo_test_now() + 5;
    while (read_text(out_path, text, sizeof(text)) <= 0 && kumo_test_now() < until)
        usleep(20000);
    /* PID 1 of its own PID namespace, with its uid and address in the environment. */
    snprintf(want, sizeof(want), "1 %s %s ", token, a.ip);
    KUMO_EXPECT(strncmp(text, want, strlen(want)) == 0);
    KUMO_EXPECT_CONTAINS(text, ".1\n"); /* the gateway: the host's end of the bridge */

    /* In the machine's network namespace. */
    char ns_path[300], proc_path[64];
    struct stat ns_st, proc_st;
    snprintf(ns_path, sizeof(ns_path), "/run/netns/%s", a.netns);
    snprintf(proc_path, sizeof(proc_path), "/proc/%ld/ns/net", a.pid);
    KUMO_REQUIRE(stat(ns_path, &ns_st) == 0 && stat(proc_path, &proc_st) == 0);
    KUMO_EXPECT_INT_EQ(ns_st.st_ino, proc_st.st_ino);

    /* local.nano: 256 MiB and one CPU, when cgroups are writable. */
    if (a.cgroup[0] != '\0') {
        char file[700], cgroups[2048];
        snprintf(file, sizeof(file), "%s/memory.limit_in_bytes", a.cgroup);
        if (read_text(file, text, sizeof(text)) <= 0) {
            snprintf(file, sizeof(file), "%s/memory.max", a.cgroup);
            read_text(file, text, sizeof(text));
        }
        KUMO_EXPECT_INT_EQ(strtoll(text, NULL, 10), 256ll * 1024 * 1024);
        snprintf(file, sizeof(file), "/proc/%ld/cgroup", a.pid);
        KUMO_REQUIRE(read_text(file, cgroups, sizeof(cgroups)) > 0);
        snprintf(want, sizeof(want), "kumo-local/%s-", e.prefix);
        KUMO_EXPECT_CONTAINS(cgroups, want);
    } else {
        fprintf(stderr, "note: no writable cgroups here; limits not checked\n");
    }

    /* The agent ignores SIGTERM as PID 1: stop escalates after the grace time. */
    double start = kumo_test_now();
    power(&e, conn, a.id, KUMO_DRIVER_POWER_STOPPED, KUMO_DRIVER_MACHINE_STOPPED);
    KUMO_EXPECT(kumo_test_now() - start < 3);
    KUMO_EXPECT(gone(a.pid));
    unlink(out_path);
    power(&e, conn, a.id, KUMO_DRIVER_POWER_RUNNING, KUMO_DRIVER_MACHINE_RUNNING);
    until = kumo_test_now() + 5;
    while (read_text(out_path, text, sizeof(text)) <= 0 && kumo_test_now() < until)
        usleep(20000);
    KUMO_EXPECT(strncmp(text, "1 ", 2) == 0);
    remove_machine(&e, conn, a.id);
    e.drv->close(conn);
    local_env_fini(&e);
}

/* isolation=none: only the network namespace; the process shares the host's PIDs. */
KUMO_TEST(local_isolation_none)
{
    struct local_env e;
    struct machine_info a;
    char token[64], path[300];
    struct stat mine, theirs, ns_st, net_st;
    local_env_init(&e);
    local_env_set(&e, "isolation", "none");
    struct kumo_driver_conn *conn = local_env_open(&e);
    snprintf(token, sizeof(token), "%s-plain", e.prefix);
    make(&e, conn, token, "local.nano", NULL, NULL, 0, &a);
    KUMO_REQUIRE(a.pid > 0 && !gone(a.pid));
    snprintf(path, sizeof(path), "/proc/%ld/ns/pid", a.pid);
    KUMO_REQUIRE(stat("/proc/self/ns/pid", &mine) == 0 && stat(path, &theirs) == 0);
    KUMO_EXPECT_INT_EQ(mine.st_ino, theirs.st_ino);
    snprintf(path, sizeof(path), "/proc/%ld/ns/net", a.pid);
    char ns_path[300];
    snprintf(ns_path, sizeof(ns_path), "/run/netns/%s", a.netns);
    KUMO_REQUIRE(stat(ns_path, &ns_st) == 0 && stat(path, &net_st) == 0);
    KUMO_EXPECT_INT_EQ(ns_st.st_ino, net_st.st_ino);
    power(&e, conn, a.id, KUMO_DRIVER_POWER_STOPPED, KUMO_DRIVER_MACHINE_STOPPED);
    KUMO_EXPECT(gone(a.pid));
    power(&e, conn, a.id, KUMO_DRIVER_POWER_RUNNING, KUMO_DRIVER_MACHINE_RUNNING);
    remove_machine(&e, conn, a.id);
    e.drv->close(conn);
    local_env_fini(&e);
}

/* Creates cut off by their deadline part-way (commands killed) are finished by a
 * retry with the same token: one machine, the same id, running and reachable. */
KUMO_TEST(local_interrupted_create)
{
    struct local_env e;
    static const double budgets[] = {0.001, 0.003, 0.006, 0.012, 0.025, 0.05};
    char token[64], ids[6][64];
    local_env_init(&e);
    struct kumo_driver_conn *conn = local_env_open(&e);
    int timeouts = 0;
    for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        struct kumo_driver_machine_spec spec;
        struct kumo_driver_machine *m = NULL;
        struct kumo_driver_diag d = no_diag();
        memset(&spec, 0, sizeof(spec));
        spec.struct_size = sizeof(spec);
        spec.instance_type = "local.nano";
        spec.image = "host";
        snprintf(token, sizeof(token), "%s-cut-%zu", e.prefix, i);
        kumo_driver_code rc =
            e.drv->machine_create(conn, &spec, token, local_deadline(&e, budgets[i]), &m, &d);
        if (rc != KUMO_DRIVER_OK && rc != KUMO_DRIVER_TIMEOUT)
            kumo_test_fail_(__FILE__, __LINE__, 0, "create within %.3f s: %d %s: %s", budgets[i],
                            (int)rc, d.cloud_code, d.message);
        timeouts += rc == KUMO_DRIVER_TIMEOUT;
        if (rc == KUMO_DRIVER_TIMEOUT) {
            KUMO_EXPECT(m == NULL);
            /* What was recorded shows as pending (or nothing, when cut before that). */
            struct kumo_driver_ref ref = {NULL, token};
            rc = e.drv->machine_observe(conn, &ref, local_deadline(&e, LONG), &m, &d);
            KUMO_EXPECT(rc == KUMO_DRIVER_NOT_FOUND ||
                        (rc == KUMO_DRIVER_OK && m->phase == KUMO_DRIVER_MACHINE_PENDING));
        }
        kumo_driver_free(e.host, m);
        struct machine_info info;
        make(&e, conn, token, "local.nano", NULL, NULL, 0, &info);
        snprintf(ids[i], sizeof(ids[i]), "%s", info.id);
        KUMO_EXPECT(local_ping(info.ip, 2000));
        struct kumo_driver_filter filter = {KUMO_DRIVER_TOKEN_TAG, token};
        struct kumo_driver_machine_list *list = NULL;
        KUMO_REQUIRE_INT_EQ(e.drv->machine_list(conn, &filter, local_deadline(&e, LONG), &list, &d),
                            KUMO_DRIVER_OK);
        KUMO_EXPECT_INT_EQ(list->count, 1);
        kumo_driver_free(e.host, list);
    }
    fprintf(stderr, "note: %d of 6 creates were cut off by their deadline\n", timeouts);
    for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++)
        remove_machine(&e, conn, ids[i]);
    e.drv->close(conn);
    local_env_fini(&e);
}

/* A create cut short and never retried (its process was killed): an observe 5 s later
 * finishes the machine instead of leaving it pending for good. */
KUMO_TEST(local_stale_create_finished_by_observe)
{
    struct local_env e;
    local_env_init(&e);
    struct kumo_driver_conn *conn = local_env_open(&e);
    char token[64];
    struct kumo_driver_ref ref = {NULL, token};
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag d = no_diag();
    int pending = 0;
    for (int i = 0; i < 40 && !pending; i++) {
        struct kumo_driver_machine_spec spec;
        memset(&spec, 0, sizeof(spec));
        spec.struct_size = sizeof(spec);
        spec.instance_type = "local.nano";
        spec.image = "host";
        snprintf(token, sizeof(token), "%s-stale-%d", e.prefix, i);
        kumo_driver_code rc = e.drv->machine_create(conn, &spec, token,
                                                    local_deadline(&e, 0.001 + 0.001 * i), &m, &d);
        kumo_driver_free(e.host, m);
        m = NULL;
        if (rc != KUMO_DRIVER_TIMEOUT)
            continue;
        rc = e.drv->machine_observe(conn, &ref, local_deadline(&e, LONG), &m, &d);
        pending = rc == KUMO_DRIVER_OK && m->phase == KUMO_DRIVER_MACHINE_PENDING;
        kumo_driver_free(e.host, m);
        m = NULL;
    }
    if (!pending)
        kumo_test_skip("no create was cut off after recording the machine");
    usleep(5200 * 1000);
    KUMO_REQUIRE_INT_EQ(e.drv->machine_observe(conn, &ref, local_deadline(&e, LONG), &m, &d),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_RUNNING);
    char id[64];
    snprintf(id, sizeof(id), "%s", m->provider_id);
    kumo_driver_free(e.host, m);
    /* Every machine this case made, finished or not, goes. */
    struct kumo_driver_machine_list *list = NULL;
    KUMO_REQUIRE_INT_EQ(e.drv->machine_list(conn, NULL, local_deadline(&e, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    for (size_t i = 0; i < list->count; i++)
        remove_machine(&e, conn, list->items[i]->provider_id);
    kumo_driver_free(e.host, list);
    e.drv->close(conn);
    local_env_fini(&e);
}

/* Threads on one connection and a second connection on the same state folder:
 * every create lands once, with its own id and address. */
struct worker {
    struct local_env *e;
    struct kumo_driver_conn *conn;
    int index;
    char id[64];
    char ip[32];
    kumo_driver_code rc;
};

static void *create_worker(void *arg)
{
    struct worker *w = arg;
    char token[64];
    struct kumo_driver_machine_spec spec;
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag d = no_diag();
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.instance_type = "local.nano";
    spec.image = "host";
    snprintf(token, sizeof(token), "%s-many-%d", w->e->prefix, w->index);
    w->rc = w->e->drv->machine_create(w->conn, &spec, token, local_deadline(w->e, LONG), &m, &d);
    if (w->rc == KUMO_DRIVER_OK) {
        snprintf(w->id, sizeof(w->id), "%s", m->provider_id);
        snprintf(w->ip, sizeof(w->ip), "%s", m->private_ip);
    } else {
        fprintf(stderr, "worker %d: %s\n", w->index, d.message);
    }
    kumo_driver_free(w->e->host, m);
    return NULL;
}

KUMO_TEST(local_concurrent_calls)
{
    struct local_env e;
    enum { WORKERS = 8 };
    struct worker w[WORKERS];
    pthread_t threads[WORKERS];
    local_env_init(&e);
    struct kumo_driver_conn *one = local_env_open(&e), *two = local_env_open(&e);
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){&e, i % 2 ? two : one, i, "", "", KUMO_DRIVER_INTERNAL};
        KUMO_REQUIRE_INT_EQ(pthread_create(&threads[i], NULL, create_worker, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < WORKERS; i++) {
        KUMO_EXPECT_INT_EQ(w[i].rc, KUMO_DRIVER_OK);
        for (int j = 0; j < i; j++) {
            KUMO_EXPECT(strcmp(w[i].id, w[j].id) != 0);
            KUMO_EXPECT(strcmp(w[i].ip, w[j].ip) != 0);
        }
    }
    /* Both connections see all of them. */
    struct kumo_driver_filter filter = {KUMO_DRIVER_TOKEN_TAG, e.prefix};
    struct kumo_driver_machine_list *list = NULL;
    struct kumo_driver_diag d = no_diag();
    KUMO_REQUIRE_INT_EQ(e.drv->machine_list(one, &filter, local_deadline(&e, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(list->count, WORKERS);
    kumo_driver_free(e.host, list);
    for (int i = 0; i < WORKERS; i++)
        if (w[i].rc == KUMO_DRIVER_OK) {
            KUMO_EXPECT(local_ping(w[i].ip, 2000));
            remove_machine(&e, i % 2 ? one : two, w[i].id);
        }
    KUMO_REQUIRE_INT_EQ(e.drv->machine_list(two, &filter, local_deadline(&e, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(list->count, 0);
    kumo_driver_free(e.host, list);
    e.drv->close(one);
    e.drv->close(two);
    local_env_fini(&e);
}

/* ---- Repair and orphans -------------------------------------------------------------- */

KUMO_TEST(local_repair_and_orphans)
{
    struct local_env e;
    struct machine_info a;
    char token[64], state[600], report[1024];
    const char *ip_tool = access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip" : "/sbin/ip";
    local_env_init(&e);
    struct kumo_driver_conn *conn = local_env_open(&e);
    snprintf(token, sizeof(token), "%s-repair", e.prefix);
    make(&e, conn, token, "local.small", NULL, NULL, 0, &a);

    /* Its process dies on its own: Stopped ("exited"); start brings it back. */
    kill((pid_t)a.pid, SIGKILL);
    double until = kumo_test_now() + 5;
    struct kumo_driver_machine *m = NULL;
    int exited = 0;
    while (!exited && kumo_test_now() < until) {
        m = observe(&e, conn, a.id, NULL);
        exited = strcmp(m->provider_state, "exited") == 0;
        KUMO_EXPECT(!exited || m->phase == KUMO_DRIVER_MACHINE_STOPPED);
        kumo_driver_free(e.host, m);
        usleep(20000);
    }
    KUMO_EXPECT(exited);
    power(&e, conn, a.id, KUMO_DRIVER_POWER_RUNNING, KUMO_DRIVER_MACHINE_RUNNING);

    /* Its link vanishes: a create with the same token repairs the same machine. */
    const char *del[] = {ip_tool, "link", "del", "dev", a.veth, NULL};
    KUMO_REQUIRE_INT_EQ(local_cmd(del, NULL, 0), 0);
    KUMO_EXPECT(!local_ping(a.ip, 300));
    struct machine_info again;
    make(&e, conn, token, "local.small", NULL, NULL, 0, &again);
    KUMO_EXPECT_STR_EQ(again.id, a.id);
    KUMO_EXPECT_STR_EQ(again.ip, a.ip);
    KUMO_EXPECT(path_exists("/sys/class/net/%s", a.veth));
    KUMO_EXPECT(local_ping(a.ip, 2000));

    /* Its namespace vanishes and an `ip netns add` cut off before its mount leaves a plain
     * file in its place: a create with the same token still repairs the machine. */
    const char *unname[] = {ip_tool, "netns", "del", a.netns, NULL};
    KUMO_REQUIRE_INT_EQ(local_cmd(unname, NULL, 0), 0);
    char half[400];
    snprintf(half, sizeof(half), "/run/netns/%s", a.netns);
    int fd = open(half, O_WRONLY | O_CREAT | O_EXCL, 0444);
    KUMO_REQUIRE(fd >= 0);
    close(fd);
    make(&e, conn, token, "local.small", NULL, NULL, 0, &again);
    KUMO_EXPECT_STR_EQ(again.id, a.id);
    KUMO_EXPECT(local_ping(a.ip, 2000));

    /* The state file is lost: the machine is still found (an orphan) and deleted. */
    e.drv->close(conn);
    snprintf(state, sizeof(state), "%s/state", e.state_dir);
    KUMO_REQUIRE_INT_EQ(unlink(state), 0);
    conn = local_env_open(&e);
    struct kumo_driver_filter filter = {KUMO_DRIVER_TOKEN_TAG, token};
    struct kumo_driver_machine_list *list = NULL;
    struct kumo_driver_diag d = no_diag();
    KUMO_REQUIRE_INT_EQ(e.drv->machine_list(conn, &filter, local_deadline(&e, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    KUMO_REQUIRE_INT_EQ(list->count, 1);
    KUMO_EXPECT_STR_EQ(list->items[0]->provider_id, a.id);
    KUMO_EXPECT_STR_EQ(list->items[0]->provider_state, "orphaned");
    kumo_driver_free(e.host, list);
    m = observe(&e, conn, NULL, token);
    KUMO_EXPECT_STR_EQ(m->provider_id, a.id);
    kumo_driver_free(e.host, m);
    remove_machine(&e, conn, a.id);
    KUMO_EXPECT(!path_exists("/run/netns/%s", a.netns));
    /* What remains is the default bridge, which the lost file no longer mentions. */
    local_leftovers(e.prefix, report, sizeof(report));
    KUMO_EXPECT(strstr(report, "netns") == NULL && strstr(report, "process") == NULL);
    e.drv->close(conn);
    local_env_fini(&e); /* purge finds the bridge by its alias */
}

/* ---- Networks ------------------------------------------------------------------------- */

/* The first host route from /16 to /28 not on a kumo bridge ("a.b.c.d/n"), or "". */
static void some_host_route(char *buf, size_t size)
{
    char line[256], iface[64];
    unsigned dest, gw, flags, refcnt, use, metric, mask;
    buf[0] = '\0';
    FILE *f = fopen("/proc/net/route", "r");
    while (f != NULL && buf[0] == '\0' && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%63s %x %x %x %u %u %u %x", iface, &dest, &gw, &flags, &refcnt, &use,
                   &metric, &mask) != 8)
            continue;
        int prefix = __builtin_popcount(mask);
        unsigned char *b = (unsigned char *)&dest;
        if (prefix >= 16 && prefix <= 28 && strncmp(iface, "kbr-", 4) != 0 &&
            strncmp(iface, "kbn-", 4) != 0)
            snprintf(buf, size, "%u.%u.%u.%u/%d", b[0], b[1], b[2], b[3], prefix);
    }
    if (f != NULL)
        fclose(f);
}

KUMO_TEST(local_networks)
{
    struct local_env e;
    struct machine_info a;
    char token[64], cidr[40], s1[40], s2[40], other[40], bridge_addrs[2048], route[40];
    struct kumo_driver_diag d = no_diag();
    const char *ip_tool = access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip" : "/sbin/ip";
    local_env_init(&e);
    struct kumo_driver_conn *conn = local_env_open(&e);
    int n = 100 + (int)(getpid() % 100);
    snprintf(cidr, sizeof(cidr), "10.%d.0.0/16", n);
    snprintf(s1, sizeof(s1), "10.%d.1.0/24", n);
    snprintf(s2, sizeof(s2), "10.%d.2.0/24", n);
    struct kumo_driver_subnet subnets[2] = {{"one", s1, NULL, NULL}, {"two", s2, NULL, NULL}};
    struct kumo_driver_network_spec ns = {sizeof(ns), "net", cidr, subnets, 2, NULL, 0};
    struct kumo_driver_network *net = NULL;
    snprintf(token, sizeof(token), "%s-net", e.prefix);
    KUMO_REQUIRE_INT_EQ(e.drv->network_create(conn, &ns, token, local_deadline(&e, LONG), &net, &d),
                        KUMO_DRIVER_OK);
    KUMO_REQUIRE_INT_EQ(net->subnet_count, 2);
    char net_id[64], sub_two[64];
    snprintf(net_id, sizeof(net_id), "%s", net->provider_id);
    snprintf(sub_two, sizeof(sub_two), "%s", net->subnets[1].provider_id);
    kumo_driver_free(e.host, net);

    /* The bridge carries the first address of each subnet. */
    char bridge[32];
    snprintf(bridge, sizeof(bridge), "kbn-%s", strchr(net_id, '-') + 1);
    const char *show[] = {ip_tool, "-o", "-4", "addr", "show", "dev", bridge, NULL};
    KUMO_REQUIRE_INT_EQ(local_cmd(show, bridge_addrs, sizeof(bridge_addrs)), 0);
    snprintf(other, sizeof(other), "10.%d.1.1/24", n);
    KUMO_EXPECT_CONTAINS(bridge_addrs, other);
    snprintf(other, sizeof(other), "10.%d.2.1/24", n);
    KUMO_EXPECT_CONTAINS(bridge_addrs, other);

    /* A machine in subnet two. */
    snprintf(token, sizeof(token), "%s-net-vm", e.prefix);
    make(&e, conn, token, "local.nano", sub_two, NULL, 0, &a);
    snprintf(other, sizeof(other), "10.%d.2.2", n);
    KUMO_EXPECT_STR_EQ(a.ip, other);
    KUMO_EXPECT_STR_EQ(a.bridge, bridge);
    KUMO_EXPECT(local_ping(a.ip, 2000));

    /* Overlaps are refused: another network, and a route the host has. */
    snprintf(other, sizeof(other), "10.%d.5.0/24", n);
    struct kumo_driver_network_spec clash = {sizeof(clash), "clash", other, NULL, 0, NULL, 0};
    snprintf(token, sizeof(token), "%s-clash", e.prefix);
    KUMO_EXPECT_INT_EQ(
        e.drv->network_create(conn, &clash, token, local_deadline(&e, LONG), &net, &d),
        KUMO_DRIVER_CONFLICT);
    KUMO_EXPECT_CONTAINS(d.message, net_id);
    some_host_route(route, sizeof(route));
    if (route[0] != '\0') {
        clash.cidr = route;
        KUMO_EXPECT_INT_EQ(
            e.drv->network_create(conn, &clash, token, local_deadline(&e, LONG), &net, &d),
            KUMO_DRIVER_CONFLICT);
        KUMO_EXPECT_CONTAINS(d.message, "host's route");
    }

    /* A group of this network does not fit a machine of the default network. */
    char group[64];
    snprintf(token, sizeof(token), "%s-net-sg", e.prefix);
    make_group(&e, conn, token, net_id, NULL, 0, group, sizeof(group));
    const char *groups[1] = {group};
    struct kumo_driver_machine_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.instance_type = "local.nano";
    spec.image = "host";
    spec.security_group_ids = groups;
    spec.security_group_count = 1;
    struct kumo_driver_machine *m = NULL;
    snprintf(token, sizeof(token), "%s-misfit", e.prefix);
    KUMO_EXPECT_INT_EQ(e.drv->machine_create(conn, &spec, token, local_deadline(&e, LONG), &m, &d),
                       KUMO_DRIVER_INVALID);

    /* Subnets: an unused one can go (its address leaves the bridge), a used one cannot. */
    struct kumo_driver_ref ref = {net_id, NULL};
    struct kumo_driver_network_update u = {
        sizeof(u), KUMO_DRIVER_NETWORK_SET_SUBNETS, &subnets[1], 1, NULL, 0};
    KUMO_EXPECT_INT_EQ(e.drv->network_update(conn, &ref, &u, local_deadline(&e, LONG), &net, &d),
                       KUMO_DRIVER_OK);
    kumo_driver_free(e.host, net);
    KUMO_REQUIRE_INT_EQ(local_cmd(show, bridge_addrs, sizeof(bridge_addrs)), 0);
    snprintf(other, sizeof(other), "10.%d.1.1/24", n);
    KUMO_EXPECT(strstr(bridge_addrs, other) == NULL);
    u.subnets = &subnets[0];
    KUMO_EXPECT_INT_EQ(e.drv->network_update(conn, &ref, &u, local_deadline(&e, LONG), &net, &d),
                       KUMO_DRIVER_CONFLICT);

    /* In use: no delete; then it goes with its bridge. */
    KUMO_EXPECT_INT_EQ(e.drv->network_delete(conn, &ref, local_deadline(&e, LONG), &d),
                       KUMO_DRIVER_CONFLICT);
    remove_machine(&e, conn, a.id);
    struct kumo_driver_ref group_ref = {group, NULL};
    KUMO_EXPECT_INT_EQ(e.drv->security_group_delete(conn, &group_ref, local_deadline(&e, LONG), &d),
                       KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(e.drv->network_delete(conn, &ref, local_deadline(&e, LONG), &d),
                       KUMO_DRIVER_OK);
    KUMO_EXPECT(!path_exists("/sys/class/net/%s", bridge));
    e.drv->close(conn);
    local_env_fini(&e);
}

/* ---- Refusals --------------------------------------------------------------------------- */

KUMO_TEST(local_unauthorized)
{
    struct local_env e;
    local_env_init(&e);
    pid_t child = fork();
    KUMO_REQUIRE(child >= 0);
    if (child == 0) {
        /* nobody: no capabilities at all */
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        struct kumo_driver_conn *conn = NULL;
        struct kumo_driver_diag d = no_diag();
        kumo_driver_code rc = e.drv->open(&e.args, &conn, &d);
        int ok = rc == KUMO_DRIVER_UNAUTHORIZED && conn == NULL &&
                 strstr(d.message, "needs root") != NULL &&
                 strstr(d.message, "CAP_NET_ADMIN") != NULL;
        if (!ok)
            fprintf(stderr, "open as nobody: %d %s\n", (int)rc, d.message);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    KUMO_EXPECT(WIFEXITED(status));
    KUMO_EXPECT_INT_EQ(WEXITSTATUS(status), 0);
    local_env_fini(&e);
}

KUMO_TEST(local_config_errors)
{
    struct local_env e;
    local_env_init(&e);
    static const struct {
        const char *key, *value, *mentions;
    } cases[] = {
        {"colour", "blue", "known keys"},
        {"cidr", "banana", "banana"},
        {"cidr", "10.0.0.0/8", "/16 to /28"},
        {"isolation", "chroot", "isolation"},
        {"agent_command", "'unterminated", "quotes"},
        {"agent_command", "/no/such/program --flag", "/no/such/program"},
        {"provider", "aws", "local"},
        {"name_prefix", "Bad!", "name_prefix"},
        {"state_dir", "relative/path", "absolute"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct local_env bad = e;
        local_env_set(&bad, cases[i].key, cases[i].value);
        struct kumo_driver_conn *conn = NULL;
        struct kumo_driver_diag d = no_diag();
        KUMO_EXPECT_INT_EQ(bad.drv->open(&bad.args, &conn, &d), KUMO_DRIVER_INVALID);
        KUMO_EXPECT(conn == NULL);
        KUMO_EXPECT_CONTAINS(d.message, cases[i].mentions);
    }
    /* control: unknown ops are named. */
    struct kumo_driver_conn *conn = local_env_open(&e);
    char *out = NULL;
    struct kumo_driver_diag d = no_diag();
    KUMO_EXPECT_INT_EQ(e.drv->control(conn, "reboot-host", NULL, &out, &d),
                       KUMO_DRIVER_UNSUPPORTED);
    KUMO_EXPECT_CONTAINS(d.message, "reboot-host");
    e.drv->close(conn);
    local_env_fini(&e);
}

/* Nothing of any test run is left on the host (earlier runs' leftovers are swept first). */
/* What a kumod left (its machines outlive it): kumo-local lists it, then removes it. */
KUMO_TEST(local_leftovers_listed_and_purged)
{
    struct local_env e;
    struct machine_info a;
    char token[64], root[600], dir[700], binary[1024], out[4096], report[2048], want[256];
    local_env_init(&e);
    kumo_test_build_path("bin/kumo-local", binary, sizeof(binary));
    if (access(binary, X_OK) != 0)
        kumo_test_skip("%s is not built", binary);
    /* The state folder the driver uses by default is <root>/<ns>_<name>. */
    snprintf(root, sizeof(root), "%s/leftover-root", kumo_test_tmpdir());
    snprintf(dir, sizeof(dir), "%s/test_%s", root, e.prefix);
    local_env_set(&e, "state_dir", dir);
    struct kumo_driver_conn *conn = local_env_open(&e);
    snprintf(token, sizeof(token), "%s-left", e.prefix);
    make(&e, conn, token, "local.small", NULL, NULL, 0, &a);
    e.drv->close(conn); /* kumod is gone; the machine stays */
    KUMO_EXPECT_INT_GE(local_leftovers(e.prefix, report, sizeof(report)), 1);

    const char *list[] = {binary, "leftovers", "--state-root", root, "--prefix", e.prefix, NULL};
    KUMO_EXPECT_INT_EQ(local_cmd(list, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "test/%s: 1 machines", e.prefix);
    KUMO_EXPECT_CONTAINS(out, want);
    KUMO_EXPECT_CONTAINS(out, a.netns);

    /* A new data directory (another state folder) meets the leftover's bridge: the error names
     * it and the command that removes it. */
    char dir2[700];
    snprintf(dir2, sizeof(dir2), "%s/other/test_%s", kumo_test_tmpdir(), e.prefix);
    local_env_set(&e, "state_dir", dir2);
    conn = local_env_open(&e);
    struct kumo_driver_machine_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.name = spec.instance_type = "local.small";
    spec.image = "host";
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag d = no_diag();
    KUMO_EXPECT_INT_EQ(e.drv->machine_create(conn, &spec, token, local_deadline(&e, LONG), &m, &d),
                       KUMO_DRIVER_CONFLICT);
    KUMO_EXPECT_CONTAINS(d.message, "leftover of kumo's local driver");
    KUMO_EXPECT_CONTAINS(d.message, "hack/down.sh --purge");
    kumo_driver_free(e.host, m);
    e.drv->close(conn);
    local_env_set(&e, "state_dir", dir);

    /* hack/down.sh --purge (no kumod runs for this data dir) removes it. */
    char script[1024], build[1024], nodata[700];
    kumo_test_source_path("hack/down.sh", script, sizeof(script));
    kumo_test_build_path("", build, sizeof(build));
    snprintf(nodata, sizeof(nodata), "%s/nodata", kumo_test_tmpdir());
    setenv("KUMO_DATA_DIR", nodata, 1);
    setenv("KUMO_BUILD_DIR", build, 1);
    setenv("KUMO_LOCAL_STATE_ROOT", root, 1);
    setenv("KUMO_LOCAL_PREFIX", e.prefix, 1);
    const char *purge[] = {"/bin/bash", script, "--purge", NULL};
    KUMO_EXPECT_INT_EQ(local_cmd(purge, out, sizeof(out)), 0);
    KUMO_EXPECT_CONTAINS(out, "purged");
    unsetenv("KUMO_LOCAL_STATE_ROOT");
    unsetenv("KUMO_LOCAL_PREFIX");
    unsetenv("KUMO_DATA_DIR");
    int left = local_leftovers(e.prefix, report, sizeof(report));
    if (left > 0)
        kumo_test_fail_(__FILE__, __LINE__, 0, "left after kumo-local purge: %s", report);
    KUMO_EXPECT(gone(a.pid));
    local_env_fini(&e);
}

KUMO_TEST(local_no_leftovers)
{
    struct local_env e;
    char report[2048];
    local_env_init(&e);
    int left = local_leftovers("", report, sizeof(report));
    if (left > 0)
        kumo_test_fail_(__FILE__, __LINE__, 0, "test objects on the host: %s", report);
    local_env_fini(&e);
}

/* ---- Load balancers ----------------------------------------------------------------------- */

/* A load balancer is in the inventory; after its state is lost, purge still removes its
 * HAProxy and namespace (local_env_fini checks that nothing of the prefix is left). */
KUMO_TEST(local_load_balancer_inventory_purge)
{
    struct local_env e;
    char token[64], state[600];
    local_env_init(&e);
    struct kumo_driver_conn *conn = local_env_open(&e);
    snprintf(token, sizeof(token), "%s-lb", e.prefix);
    struct kumo_driver_lb_listener l = {sizeof(l), "web", 8080, KUMO_DRIVER_LB_HTTP, "", ""};
    const struct kumo_driver_lb_listener *ls[1] = {&l};
    struct kumo_driver_load_balancer_spec spec = {
        sizeof(spec), "lb", KUMO_DRIVER_LB_ROUND_ROBIN, 0, 0, "", NULL, ls, 1, NULL, 0, NULL, 0};
    struct kumo_driver_load_balancer *lb = NULL;
    struct kumo_driver_diag d = no_diag();
    KUMO_REQUIRE_INT_EQ(
        e.drv->load_balancer_create(conn, &spec, token, local_deadline(&e, LONG), &lb, &d),
        KUMO_DRIVER_OK);
    char id[64], netns[300];
    snprintf(id, sizeof(id), "%s", lb->provider_id);
    kumo_driver_free(e.host, lb);
    char *inv = local_inventory(&e, conn);
    KUMO_EXPECT(inv != NULL && strstr(inv, "\"loadBalancers\":[{\"id\":") != NULL);
    KUMO_EXPECT(inv != NULL && local_inventory_field(inv, id, "netns", netns, sizeof(netns)) == 0);
    kumo_driver_free(e.host, inv);
    KUMO_EXPECT(path_exists("/run/netns/%s", netns));
    e.drv->close(conn);
    snprintf(state, sizeof(state), "%s/state", e.state_dir);
    KUMO_REQUIRE_INT_EQ(unlink(state), 0);
    local_env_fini(&e); /* purge finds it by its namespace's name */
    KUMO_EXPECT(!path_exists("/run/netns/%s", netns));
}
