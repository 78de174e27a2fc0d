/*
 * sim_test.c - what the simulated cloud does beyond the contract: its state
 * file (persistence, torn tails, compaction), capacity and quotas, eventual
 * consistency, addresses, the control hatch, configuration errors, the
 * built-in catalog, and kumo-sim's inventory.
 */
#include "tests/drivers/helpers.h"
#include "tests/harness/test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LONG 30.0

static struct kumo_driver_diag no_diag(void)
{
    struct kumo_driver_diag d;
    memset(&d, 0, sizeof(d));
    return d;
}

static const char *tag_of(const struct kumo_driver_machine *m, const char *key)
{
    for (size_t i = 0; i < m->tag_count; i++)
        if (strcmp(m->tags[i].key, key) == 0)
            return m->tags[i].value;
    return NULL;
}

/* Creates a network with one subnet, a security group in it and a key pair. */
struct base {
    char network[64], subnet[64], group[64], key[64];
};

static void make_base(struct fixture *f, struct kumo_driver_conn *conn, const char *cidr,
                      const char *subnet_cidr, struct base *b)
{
    struct kumo_driver_diag d = no_diag();
    struct kumo_driver_subnet subnets[1] = {{"a", subnet_cidr, NULL, NULL}};
    struct kumo_driver_network_spec ns = {sizeof(ns), "net", cidr, subnets, 1, NULL, 0};
    struct kumo_driver_network *n = NULL;
    KUMO_REQUIRE_INT_EQ(
        f->drv->network_create(conn, &ns, "uid-net", deadline_in(f->host, LONG), &n, &d),
        KUMO_DRIVER_OK);
    snprintf(b->network, sizeof(b->network), "%s", n->provider_id);
    snprintf(b->subnet, sizeof(b->subnet), "%s", n->subnets[0].provider_id);
    kumo_driver_free(f->host, n);
    struct kumo_driver_rule rules[2] = {
        {KUMO_DRIVER_INBOUND, KUMO_DRIVER_TCP, 22, 22, "0.0.0.0/0", "ssh"},
        {KUMO_DRIVER_OUTBOUND, KUMO_DRIVER_ALL_PROTOCOLS, 0, 0, "0.0.0.0/0", NULL}};
    struct kumo_driver_security_group_spec gs = {sizeof(gs), "web", b->network, rules, 2, NULL, 0};
    struct kumo_driver_security_group *g = NULL;
    KUMO_REQUIRE_INT_EQ(
        f->drv->security_group_create(conn, &gs, "uid-sg", deadline_in(f->host, LONG), &g, &d),
        KUMO_DRIVER_OK);
    snprintf(b->group, sizeof(b->group), "%s", g->provider_id);
    kumo_driver_free(f->host, g);
    struct kumo_driver_key_pair_spec ks = {sizeof(ks), "deploy",
                                           "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIsimtest", NULL, 0};
    struct kumo_driver_key_pair *k = NULL;
    KUMO_REQUIRE_INT_EQ(
        f->drv->key_pair_create(conn, &ks, "uid-key", deadline_in(f->host, LONG), &k, &d),
        KUMO_DRIVER_OK);
    snprintf(b->key, sizeof(b->key), "%s", k->provider_id);
    kumo_driver_free(f->host, k);
}

static struct kumo_driver_machine *machine_in(struct fixture *f, struct kumo_driver_conn *conn,
                                              const struct base *b, const char *token)
{
    struct kumo_driver_diag d = no_diag();
    const char *groups[1] = {b->group};
    struct kumo_driver_tag tags[1] = {{"owner", "infra-1"}};
    struct kumo_driver_machine_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.name = token;
    spec.instance_type = "m5.large";
    spec.image = "debian-12";
    spec.subnet_id = b->subnet;
    spec.security_group_ids = groups;
    spec.security_group_count = 1;
    spec.key_pair_id = b->key;
    spec.user_data = "#cloud-config\nruncmd: [echo hi]\n";
    spec.tags = tags;
    spec.tag_count = 1;
    struct kumo_driver_machine *m = NULL;
    kumo_driver_code rc =
        f->drv->machine_create(conn, &spec, token, deadline_in(f->host, LONG), &m, &d);
    if (rc != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "machine_create: %s %s", d.cloud_code, d.message);
    return m;
}

static struct kumo_driver_machine *observe(struct fixture *f, struct kumo_driver_conn *conn,
                                           const char *id, const char *token, kumo_driver_code *rc)
{
    struct kumo_driver_diag d = no_diag();
    struct kumo_driver_ref ref = {id, token};
    struct kumo_driver_machine *m = NULL;
    *rc = f->drv->machine_observe(conn, &ref, deadline_in(f->host, LONG), &m, &d);
    return m;
}

KUMO_TEST(sim_persistence)
{
    struct fixture f;
    struct base b;
    kumo_driver_code rc;
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=ap-northeast-1;boot_seconds=0");
    make_base(&f, conn, "10.1.0.0/16", "10.1.2.0/24", &b);
    struct kumo_driver_machine *m = machine_in(&f, conn, &b, "uid-vm-1");
    char id[64], ip[32], public_ip[32];
    snprintf(id, sizeof(id), "%s", m->provider_id);
    snprintf(ip, sizeof(ip), "%s", m->private_ip);
    snprintf(public_ip, sizeof(public_ip), "%s", m->public_ip);
    KUMO_EXPECT(strncmp(ip, "10.1.2.", 7) == 0);
    KUMO_EXPECT(strncmp(public_ip, "198.1", 5) == 0);
    KUMO_EXPECT_STR_EQ(m->zone, "ap-northeast-1a");
    KUMO_EXPECT(m->price_per_hour > 0.096); /* Tokyo costs more than Virginia */
    kumo_driver_free(f.host, m);
    f.drv->close(conn);

    /* "kumod restarts": a new connection on the same file meets the same cloud. */
    conn = fixture_open(&f, "region=ap-northeast-1");
    m = observe(&f, conn, NULL, "uid-vm-1", &rc);
    KUMO_REQUIRE_INT_EQ(rc, KUMO_DRIVER_OK);
    KUMO_EXPECT_STR_EQ(m->provider_id, id);
    KUMO_EXPECT_STR_EQ(m->private_ip, ip);
    KUMO_EXPECT_STR_EQ(m->public_ip, public_ip);
    KUMO_EXPECT_STR_EQ(m->instance_type, "m5.large");
    KUMO_EXPECT_STR_EQ(m->image, "debian-12");
    KUMO_EXPECT_STR_EQ(m->subnet_id, b.subnet);
    KUMO_EXPECT_STR_EQ(m->network_id, b.network);
    KUMO_EXPECT_STR_EQ(m->key_pair_id, b.key);
    KUMO_REQUIRE_INT_EQ(m->security_group_count, 1);
    KUMO_EXPECT_STR_EQ(m->security_group_ids[0], b.group);
    KUMO_EXPECT_STR_EQ(tag_of(m, "owner"), "infra-1");
    KUMO_EXPECT_STR_EQ(tag_of(m, KUMO_DRIVER_TOKEN_TAG), "uid-vm-1");
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_RUNNING);
    kumo_driver_free(f.host, m);
    /* Other regions of the same account do not see it. */
    struct kumo_driver_conn *other = fixture_open(&f, "region=us-west-2");
    m = observe(&f, other, id, NULL, &rc);
    KUMO_EXPECT_INT_EQ(rc, KUMO_DRIVER_NOT_FOUND);
    f.drv->close(other);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_torn_tail)
{
    struct fixture f;
    kumo_driver_code rc;
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1");
    for (int i = 0; i < 5; i++) {
        char token[32];
        snprintf(token, sizeof(token), "uid-%d", i);
        kumo_driver_free(f.host, create_machine(&f, conn, token));
    }
    f.drv->close(conn);
    /* A crash mid-append leaves half a record. */
    struct stat st;
    KUMO_REQUIRE(stat(f.state, &st) == 0);
    int fd = open(f.state, O_WRONLY | O_APPEND);
    KUMO_REQUIRE(fd >= 0);
    const unsigned char torn[] = {0x4b, 0x53, 0x52, 0x31, 0x00, 0x10, 0x00, 0x00, 1, 2, 3};
    KUMO_REQUIRE(write(fd, torn, sizeof(torn)) == (ssize_t)sizeof(torn));
    close(fd);
    conn = fixture_open(&f, "region=us-east-1");
    for (int i = 0; i < 5; i++) {
        char token[32];
        snprintf(token, sizeof(token), "uid-%d", i);
        struct kumo_driver_machine *m = observe(&f, conn, NULL, token, &rc);
        KUMO_EXPECT_INT_EQ(rc, KUMO_DRIVER_OK);
        kumo_driver_free(f.host, m);
    }
    kumo_driver_free(f.host, create_machine(&f, conn, "uid-after"));
    f.drv->close(conn);
    struct stat after;
    KUMO_REQUIRE(stat(f.state, &after) == 0);
    KUMO_EXPECT_INT_GT(after.st_size, st.st_size); /* cut, then appended */
    conn = fixture_open(&f, "region=us-east-1");
    struct kumo_driver_machine *m = observe(&f, conn, NULL, "uid-after", &rc);
    KUMO_EXPECT_INT_EQ(rc, KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    f.drv->close(conn);

    /* Not a state file at all: a clear refusal. */
    char junk[700];
    snprintf(junk, sizeof(junk), "%s/junk.state", f.dir);
    FILE *j = fopen(junk, "w");
    fputs("hello, this is not a state file\n", j);
    fclose(j);
    char config[800];
    snprintf(config, sizeof(config), "region=us-east-1;state=%s", junk);
    struct kumo_driver_diag d = no_diag();
    struct kumo_driver_conn *bad = NULL;
    KUMO_EXPECT_INT_NE(fixture_try_open(&f, config, &bad, &d), KUMO_DRIVER_OK);
    KUMO_EXPECT_CONTAINS(d.message, "is not a kumo sim state file");
    fixture_unload(&f);
}

KUMO_TEST(sim_compaction)
{
    struct fixture f;
    kumo_driver_code rc;
    struct kumo_driver_diag d = no_diag();
    fixture_load(&f);
    struct kumo_driver_conn *conn =
        fixture_open(&f, "region=us-east-1;compact_bytes=8192;boot_seconds=0;stop_seconds=0");
    struct kumo_driver_machine *m = create_machine(&f, conn, "uid-flip");
    char id[64];
    snprintf(id, sizeof(id), "%s", m->provider_id);
    kumo_driver_free(f.host, m);
    /* Many updates of one machine grow the journal far past compact_bytes. */
    struct kumo_driver_ref ref = {id, NULL};
    struct kumo_driver_machine_update u = {
        sizeof(u), KUMO_DRIVER_MACHINE_SET_POWER, 0, NULL, NULL, 0, NULL, 0};
    for (int i = 0; i < 200; i++) {
        u.power = i % 2 ? KUMO_DRIVER_POWER_RUNNING : KUMO_DRIVER_POWER_STOPPED;
        KUMO_REQUIRE_INT_EQ(
            f.drv->machine_update(conn, &ref, &u, deadline_in(f.host, LONG), &m, &d),
            KUMO_DRIVER_OK);
        kumo_driver_free(f.host, m);
    }
    struct stat st;
    KUMO_REQUIRE(stat(f.state, &st) == 0);
    KUMO_EXPECT_INT_LT(st.st_size, 3 * 8192);
    f.drv->close(conn);
    conn = fixture_open(&f, "region=us-east-1");
    m = observe(&f, conn, id, NULL, &rc);
    KUMO_REQUIRE_INT_EQ(rc, KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_RUNNING); /* the last of 200 was a start */
    kumo_driver_free(f.host, m);
    /* Ids are never reused, even across compactions. */
    m = create_machine(&f, conn, "uid-new");
    KUMO_EXPECT(strcmp(m->provider_id, id) != 0);
    kumo_driver_free(f.host, m);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_capacity)
{
    struct fixture f;
    struct kumo_driver_diag d = no_diag();
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1;capacity.t3.micro=2");
    struct kumo_driver_machine *a = create_machine(&f, conn, "uid-a");
    kumo_driver_free(f.host, create_machine(&f, conn, "uid-b"));
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "c",
                                            .instance_type = "t3.micro",
                                            .image = "ubuntu-22.04"};
    struct kumo_driver_machine *m = NULL;
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-c", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_CAPACITY);
    KUMO_EXPECT_STR_EQ(d.cloud_code, "InsufficientInstanceCapacity");
    KUMO_EXPECT_CONTAINS(d.message, "t3.micro");
    KUMO_EXPECT_INT_GT(d.retry_after_ms, 0);
    KUMO_EXPECT(m == NULL);
    /* A caller that wants no detail passes no diag. */
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-c", deadline_in(f.host, LONG), &m, NULL),
        KUMO_DRIVER_CAPACITY);
    /* Other types still fit; a create with an existing token is not a new machine. */
    spec.instance_type = "t3.small";
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-c", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    spec.instance_type = "t3.micro";
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-a", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    /* Freeing one makes room. */
    struct kumo_driver_ref ref = {a->provider_id, NULL};
    KUMO_EXPECT_INT_EQ(f.drv->machine_delete(conn, &ref, deadline_in(f.host, LONG), &d),
                       KUMO_DRIVER_OK);
    kumo_driver_free(f.host, a);
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-d", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    /* Region-wide capacity through control. */
    kumo_driver_free(f.host, fixture_control(&f, conn, "set_capacity", "{\"capacity\":3}"));
    spec.instance_type = "c5.large";
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-e", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_CAPACITY);
    kumo_driver_free(f.host,
                     fixture_control(&f, conn, "set_capacity", "{\"capacity\":\"unlimited\"}"));
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-e", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_quota)
{
    struct fixture f;
    struct kumo_driver_diag d = no_diag();
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1;quota_vcpus=5");
    kumo_driver_free(f.host, create_machine(&f, conn, "uid-1")); /* 2 vCPUs */
    kumo_driver_free(f.host, create_machine(&f, conn, "uid-2")); /* 4 */
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "x",
                                            .instance_type = "t3.micro",
                                            .image = "ubuntu-22.04"};
    struct kumo_driver_machine *m = NULL;
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-3", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_QUOTA);
    KUMO_EXPECT_STR_EQ(d.cloud_code, "VcpuLimitExceeded");
    KUMO_EXPECT_CONTAINS(d.message, "vCPU limit of 5");
    f.drv->close(conn);
    conn = fixture_open(&f, "region=us-east-1;quota_machines=2");
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-3", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_QUOTA);
    KUMO_EXPECT_STR_EQ(d.cloud_code, "InstanceLimitExceeded");
    /* Quotas are per region. */
    struct kumo_driver_conn *west = fixture_open(&f, "region=us-west-2;quota_machines=2");
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(west, &spec, "uid-3", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    f.drv->close(west);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_eventual_consistency)
{
    struct fixture f;
    kumo_driver_code rc;
    struct kumo_driver_diag d = no_diag();
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1;consistency_delay_ms=300");
    double start = kumo_test_now();
    struct kumo_driver_machine *m = create_machine(&f, conn, "uid-ec");
    char id[64];
    snprintf(id, sizeof(id), "%s", m->provider_id);
    kumo_driver_free(f.host, m);
    /* Invisible to reads for a while ... */
    m = observe(&f, conn, NULL, "uid-ec", &rc);
    KUMO_EXPECT_INT_EQ(rc, KUMO_DRIVER_NOT_FOUND);
    m = observe(&f, conn, id, NULL, &rc);
    KUMO_EXPECT_INT_EQ(rc, KUMO_DRIVER_NOT_FOUND);
    struct kumo_driver_machine_list *list = NULL;
    KUMO_REQUIRE_INT_EQ(f.drv->machine_list(conn, NULL, deadline_in(f.host, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(list->count, 0);
    kumo_driver_free(f.host, list);
    /* ... yet a create retried with the same token still finds it. */
    m = create_machine(&f, conn, "uid-ec");
    KUMO_EXPECT_STR_EQ(m->provider_id, id);
    kumo_driver_free(f.host, m);
    KUMO_EXPECT(kumo_test_now() - start < 0.3);
    sleep_seconds(0.35 - (kumo_test_now() - start));
    m = observe(&f, conn, NULL, "uid-ec", &rc);
    KUMO_EXPECT_INT_EQ(rc, KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    KUMO_REQUIRE_INT_EQ(f.drv->machine_list(conn, NULL, deadline_in(f.host, LONG), &list, &d),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(list->count, 1);
    kumo_driver_free(f.host, list);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_addresses)
{
    struct fixture f;
    struct kumo_driver_diag d = no_diag();
    struct base b;
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1");
    make_base(&f, conn, "10.9.0.0/16", "10.9.0.0/28", &b); /* 16 addresses, 11 usable */
    char seen[11][32];
    for (int i = 0; i < 11; i++) {
        char token[32];
        snprintf(token, sizeof(token), "uid-ip-%d", i);
        struct kumo_driver_machine *m = machine_in(&f, conn, &b, token);
        snprintf(seen[i], sizeof(seen[i]), "%s", m->private_ip);
        long last = strtol(strrchr(seen[i], '.') + 1, NULL, 10);
        KUMO_EXPECT(strncmp(seen[i], "10.9.0.", 7) == 0);
        KUMO_EXPECT(last >= 4 && last <= 14); /* the cloud keeps .0-.3 and .15 */
        kumo_driver_free(f.host, m);
        for (int j = 0; j < i; j++)
            KUMO_EXPECT(strcmp(seen[i], seen[j]) != 0);
    }
    const char *groups[1] = {b.group};
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "x",
                                            .instance_type = "m5.large",
                                            .image = "debian-12"};
    spec.subnet_id = b.subnet;
    spec.security_group_ids = groups;
    spec.security_group_count = 1;
    struct kumo_driver_machine *m = NULL;
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-ip-full", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_CAPACITY);
    KUMO_EXPECT_STR_EQ(d.cloud_code, "InsufficientFreeAddressesInSubnet");
    /* A security group of another network is refused. */
    spec.subnet_id = NULL;
    KUMO_EXPECT_INT_EQ(
        f.drv->machine_create(conn, &spec, "uid-ip-x", deadline_in(f.host, LONG), &m, &d),
        KUMO_DRIVER_INVALID);
    KUMO_EXPECT_CONTAINS(d.message, b.network);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_control)
{
    struct fixture f;
    kumo_driver_code rc;
    struct kumo_driver_diag d = no_diag();
    fixture_load(&f);
    struct kumo_driver_conn *conn =
        fixture_open(&f, "region=us-east-1;boot_seconds=0;stop_seconds=0;terminate_seconds=0.2");
    struct kumo_driver_machine *m = create_machine(&f, conn, "uid-victim");
    char id[64], json[128];
    snprintf(id, sizeof(id), "%s", m->provider_id);
    kumo_driver_free(f.host, m);
    snprintf(json, sizeof(json), "{\"id\":\"%s\"}", id);
    /* Someone stops it behind kumo's back. */
    kumo_driver_free(f.host, fixture_control(&f, conn, "machine_stop", json));
    m = observe(&f, conn, id, NULL, &rc);
    KUMO_REQUIRE_INT_EQ(rc, KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_STOPPED);
    KUMO_EXPECT_STR_EQ(m->provider_state, "stopped");
    KUMO_EXPECT_STR_EQ(m->public_ip, "");
    kumo_driver_free(f.host, m);
    kumo_driver_free(f.host, fixture_control(&f, conn, "machine_start", json));
    /* ... and terminates it: shutting-down, then gone. */
    kumo_driver_free(f.host, fixture_control(&f, conn, "machine_terminate", json));
    m = observe(&f, conn, id, NULL, &rc);
    KUMO_REQUIRE_INT_EQ(rc, KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_TERMINATING);
    kumo_driver_free(f.host, m);
    struct kumo_driver_machine_update u = {
        sizeof(u), KUMO_DRIVER_MACHINE_SET_POWER, 1, NULL, NULL, 0, NULL, 0};
    struct kumo_driver_ref ref = {id, NULL};
    KUMO_EXPECT_INT_EQ(f.drv->machine_update(conn, &ref, &u, deadline_in(f.host, LONG), &m, &d),
                       KUMO_DRIVER_CONFLICT);
    sleep_seconds(0.25);
    m = observe(&f, conn, id, NULL, &rc);
    KUMO_EXPECT_INT_EQ(rc, KUMO_DRIVER_NOT_FOUND);
    /* Stats count the calls. */
    char *stats = fixture_control(&f, conn, "stats", NULL);
    KUMO_EXPECT_INT_EQ(json_number(stats, "machine_create"), 1);
    KUMO_EXPECT_INT_EQ(json_number(stats, "machine_observe"), 3);
    KUMO_EXPECT_INT_EQ(json_number(stats, "machine_update"), 1);
    KUMO_EXPECT_INT_EQ(json_number(stats, "throttled"), 0);
    kumo_driver_free(f.host, stats);
    kumo_driver_free(f.host, fixture_control(&f, conn, "reset_stats", NULL));
    stats = fixture_control(&f, conn, "stats", NULL);
    KUMO_EXPECT_INT_EQ(json_number(stats, "calls"), 0);
    kumo_driver_free(f.host, stats);
    /* Configure at run time; refuse what cannot change and what is unknown. */
    kumo_driver_free(f.host, fixture_control(&f, conn, "configure",
                                             "{\"latency_ms\":\"1\",\"capacity.m5.large\":2}"));
    char *out = NULL;
    KUMO_EXPECT_INT_EQ(f.drv->control(conn, "configure", "{\"region\":\"eu-west-1\"}", &out, &d),
                       KUMO_DRIVER_INVALID);
    KUMO_EXPECT_CONTAINS(d.message, "only be set when the connection is opened");
    KUMO_EXPECT_INT_EQ(f.drv->control(conn, "configure", "{\"qsp\":5}", &out, &d),
                       KUMO_DRIVER_INVALID);
    KUMO_EXPECT_CONTAINS(d.message, "\"qsp\" is unknown");
    KUMO_EXPECT_INT_EQ(f.drv->control(conn, "explode", NULL, &out, &d), KUMO_DRIVER_UNSUPPORTED);
    KUMO_EXPECT_CONTAINS(d.message, "stats");
    KUMO_EXPECT(out == NULL);
    f.drv->close(conn);
    fixture_unload(&f);
}

KUMO_TEST(sim_config_errors)
{
    struct fixture f;
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag d = no_diag();
    fixture_load(&f);
    struct {
        const char *config;
        const char *says;
    } cases[] = {
        {"", "region is required"},
        {"region=us-central1", "not a region of provider aws"},
        {"provider=gcp;region=us-east-1", "not a region of provider gcp"},
        {"provider=oracle;region=x", "one of aws, gcp, azure"},
        {"region=us-east-1;zone=us-east-1z", "not a zone of us-east-1"},
        {"region=us-east-1;latency_ms=fast", "latency_ms=\"fast\": expected milliseconds"},
        {"region=us-east-1;qsp=50", "\"qsp\" is unknown"},
        {"region=us-east-1;fault_rate=2", "a probability between 0 and 1"},
        {"region=us-east-1;capacity.m99.huge=3", "not an instance type of provider aws"},
        {"region=us-east-1;state=/no/such/folder/x.state", "its folder does not exist"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kumo_driver_code rc = fixture_try_open(&f, cases[i].config, &conn, &d);
        KUMO_EXPECT_INT_EQ(rc, KUMO_DRIVER_INVALID);
        KUMO_EXPECT(conn == NULL);
        KUMO_EXPECT_CONTAINS(d.message, cases[i].says);
    }
    fixture_unload(&f);
}

KUMO_TEST(sim_unauthorized)
{
    struct fixture f;
    struct kumo_driver_diag d = no_diag();
    fixture_load(&f);
    /* The fixture passes secret_key=s3cret. */
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1;auth_secret=other");
    struct kumo_driver_machine_list *list = NULL;
    KUMO_EXPECT_INT_EQ(f.drv->machine_list(conn, NULL, deadline_in(f.host, LONG), &list, &d),
                       KUMO_DRIVER_UNAUTHORIZED);
    KUMO_EXPECT_STR_EQ(d.cloud_code, "AuthFailure");
    KUMO_EXPECT(list == NULL);
    f.drv->close(conn);
    conn = fixture_open(&f, "region=us-east-1;auth_secret=s3cret");
    KUMO_EXPECT_INT_EQ(f.drv->machine_list(conn, NULL, deadline_in(f.host, LONG), &list, &d),
                       KUMO_DRIVER_OK);
    kumo_driver_free(f.host, list);
    f.drv->close(conn);
    fixture_unload(&f);
}

/* Finds "  <region>:" under "  <provider>:" in cloudinfo.yaml and reads its coordinates. */
static int reference_location(const char *yaml, const char *provider, const char *region,
                              double *lat, double *lon)
{
    char key[128];
    snprintf(key, sizeof(key), "\n  %s:\n", provider);
    const char *p = strstr(yaml, key);
    if (p == NULL)
        return -1;
    snprintf(key, sizeof(key), "\n      %s:\n", region);
    p = strstr(p, key);
    if (p == NULL)
        return -1;
    const char *la = strstr(p, "latitude:"), *lo = strstr(p, "longitude:");
    if (la == NULL || lo == NULL)
        return -1;
    *lat = strtod(la + 9, NULL);
    *lon = strtod(lo + 10, NULL);
    return 0;
}

KUMO_TEST(sim_catalog_matches_reference)
{
    struct fixture f;
    struct kumo_driver_diag d = no_diag();
    char path[1024];
    if (kumo_test_shared_data_path("cloud-barista/cloudinfo.yaml", path, sizeof(path)) == NULL)
        kumo_test_skip("reference data not present (KUMO_SHARED_DATA)");
    char *yaml = kumo_test_read_file(path, NULL);
    KUMO_REQUIRE_PTR_NONNULL(yaml);
    fixture_load(&f);
    const char *providers[3][2] = {
        {"aws", "us-east-1"}, {"gcp", "us-central1"}, {"azure", "eastus"}};
    int checked = 0;
    for (int p = 0; p < 3; p++) {
        char config[128];
        snprintf(config, sizeof(config), "provider=%s;region=%s", providers[p][0], providers[p][1]);
        struct kumo_driver_conn *conn = fixture_open(&f, config);
        struct kumo_driver_region_list *regions = NULL;
        KUMO_REQUIRE_INT_EQ(f.drv->catalog_regions(conn, deadline_in(f.host, LONG), &regions, &d),
                            KUMO_DRIVER_OK);
        KUMO_EXPECT_INT_GE(regions->count, 10);
        for (size_t i = 0; i < regions->count; i++) {
            const struct kumo_driver_region *r = regions->items[i];
            double lat, lon;
            if (reference_location(yaml, providers[p][0], r->name, &lat, &lon) != 0) {
                kumo_test_fail_(__FILE__, __LINE__, 0, "%s region %s is not in cloudinfo.yaml",
                                providers[p][0], r->name);
                continue;
            }
            /* Same place (within ~1 degree: some entries are the metro, some the site). */
            KUMO_EXPECT(lat - r->latitude < 1.0 && r->latitude - lat < 1.0);
            KUMO_EXPECT(lon - r->longitude < 1.0 && r->longitude - lon < 1.0);
            checked++;
        }
        kumo_driver_free(f.host, regions);
        f.drv->close(conn);
    }
    KUMO_EXPECT_INT_GE(checked, 30);
    free(yaml);
    fixture_unload(&f);
}

/* Runs kumo-sim with args; returns its stdout (free) and exit status. */
static char *run_tool(const char *args, int *status)
{
    char tool[512], command[2048];
    kumo_test_build_path("bin/kumo-sim", tool, sizeof(tool));
    if (access(tool, X_OK) != 0)
        kumo_test_skip("%s is not built", tool);
    snprintf(command, sizeof(command), "'%s' %s", tool, args);
    FILE *p = popen(command, "r");
    KUMO_REQUIRE_PTR_NONNULL(p);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t n;
    while (out && (n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 == cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    int rc = pclose(p);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    KUMO_REQUIRE_PTR_NONNULL(out);
    out[len] = '\0';
    return out;
}

KUMO_TEST(sim_inventory_tool)
{
    struct fixture f;
    struct base b;
    struct kumo_driver_diag d = no_diag();
    int status;
    fixture_load(&f);
    struct kumo_driver_conn *conn = fixture_open(&f, "region=us-east-1;boot_seconds=0");
    make_base(&f, conn, "10.2.0.0/16", "10.2.1.0/24", &b);
    char ids[3][64];
    for (int i = 0; i < 3; i++) {
        char token[32];
        snprintf(token, sizeof(token), "uid-inv-%d", i);
        struct kumo_driver_machine *m = machine_in(&f, conn, &b, token);
        snprintf(ids[i], sizeof(ids[i]), "%s", m->provider_id);
        kumo_driver_free(f.host, m);
    }
    struct kumo_driver_ref gone = {ids[1], NULL};
    KUMO_REQUIRE_INT_EQ(f.drv->machine_delete(conn, &gone, deadline_in(f.host, LONG), &d),
                        KUMO_DRIVER_OK);
    struct kumo_driver_conn *gcp = fixture_open(&f, "provider=gcp;region=europe-west1");
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "g",
                                            .instance_type = "e2-small",
                                            .image = "debian-12"};
    struct kumo_driver_machine *gm = NULL;
    KUMO_REQUIRE_INT_EQ(
        f.drv->machine_create(gcp, &spec, "uid-gcp", deadline_in(f.host, LONG), &gm, &d),
        KUMO_DRIVER_OK);
    KUMO_EXPECT_STR_EQ(gm->zone, "europe-west1-a");
    kumo_driver_free(f.host, gm);
    /* While the driver still has the file open (kumod running): */
    char args[800];
    snprintf(args, sizeof(args), "inventory --state '%s' --region us-east-1", f.state);
    char *out = run_tool(args, &status);
    KUMO_EXPECT_INT_EQ(status, 0);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"id\":\"i-0"), 2);
    KUMO_EXPECT_CONTAINS(out, ids[0]);
    KUMO_EXPECT_CONTAINS(out, ids[2]);
    KUMO_EXPECT(strstr(out, ids[1]) == NULL);
    KUMO_EXPECT_CONTAINS(out, "\"kumo:uid\":\"uid-inv-2\"");
    KUMO_EXPECT_CONTAINS(out, "\"state\":\"running\"");
    KUMO_EXPECT_CONTAINS(out, "\"type\":\"m5.large\"");
    KUMO_EXPECT_CONTAINS(out, b.network);
    KUMO_EXPECT_CONTAINS(out, b.group);
    KUMO_EXPECT_CONTAINS(out, b.key);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"region\":\"europe-west1\""), 0);
    /* It is exactly what the driver itself reports. */
    char *own = fixture_control(&f, conn, "inventory", "{\"region\":\"us-east-1\"}");
    KUMO_EXPECT_STR_EQ(out, own);
    kumo_driver_free(f.host, own);
    free(out);
    snprintf(args, sizeof(args), "inventory --state '%s'", f.state);
    out = run_tool(args, &status);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"region\":\"europe-west1\""), 1);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"id\":\"i-0"), 3);
    free(out);
    f.drv->close(gcp);
    f.drv->close(conn);

    /* An empty file (a state being created) is an empty account. */
    snprintf(args, sizeof(args), "%s/empty.state", f.dir);
    FILE *empty = fopen(args, "w");
    KUMO_REQUIRE_PTR_NONNULL(empty);
    fclose(empty);
    char empty_args[900];
    snprintf(empty_args, sizeof(empty_args), "inventory --state '%s'", args);
    out = run_tool(empty_args, &status);
    KUMO_EXPECT_INT_EQ(status, 0);
    KUMO_EXPECT_STR_EQ(out,
                       "{\"machines\":[],\"networks\":[],\"securityGroups\":[],\"keyPairs\":[],"
                       "\"loadBalancers\":[]}\n");
    free(out);
    out = run_tool("inventory --state /no/such/file", &status);
    KUMO_EXPECT_INT_EQ(status, 1);
    free(out);
    out = run_tool("inventory", &status);
    KUMO_EXPECT_INT_EQ(status, 2);
    free(out);
    out = run_tool("--help", &status);
    KUMO_EXPECT_INT_EQ(status, 0);
    KUMO_EXPECT_CONTAINS(out, "inventory --state FILE");
    free(out);
    out = run_tool("catalog --provider azure --region koreacentral", &status);
    KUMO_EXPECT_INT_EQ(status, 0);
    KUMO_EXPECT_CONTAINS(out, "\"name\":\"koreacentral\"");
    KUMO_EXPECT_CONTAINS(out, "Standard_NC24ads_A100_v4");
    KUMO_EXPECT(strstr(out, "t3.micro") == NULL);
    free(out);
    fixture_unload(&f);
}

/* A deleted machine still shutting down and its replacement share a token:
 * the replacement owns it, also after compaction and reopen. */
KUMO_TEST(sim_token_reuse)
{
    struct fixture f;
    kumo_driver_code rc;
    struct kumo_driver_diag d = no_diag();
    fixture_load(&f);
    struct kumo_driver_conn *conn =
        fixture_open(&f, "region=us-east-1;terminate_seconds=60;compact_bytes=4096");
    /* A key made first and deleted later moves the newest object into its slot,
     * so the in-memory order is no longer the creation order. */
    struct kumo_driver_key_pair_spec ks = {sizeof(ks), "k", "ssh-ed25519 AAAAkey", NULL, 0};
    struct kumo_driver_key_pair *key = NULL;
    KUMO_REQUIRE_INT_EQ(
        f.drv->key_pair_create(conn, &ks, "uid-key", deadline_in(f.host, LONG), &key, &d),
        KUMO_DRIVER_OK);
    kumo_driver_free(f.host, key);
    struct kumo_driver_machine *old = create_machine(&f, conn, "uid-reused");
    struct kumo_driver_ref ref = {old->provider_id, NULL};
    KUMO_REQUIRE_INT_EQ(f.drv->machine_delete(conn, &ref, deadline_in(f.host, LONG), &d),
                        KUMO_DRIVER_OK);
    struct kumo_driver_machine *fresh = create_machine(&f, conn, "uid-reused");
    KUMO_EXPECT(strcmp(fresh->provider_id, old->provider_id) != 0);
    struct kumo_driver_ref key_ref = {NULL, "uid-key"};
    KUMO_REQUIRE_INT_EQ(f.drv->key_pair_delete(conn, &key_ref, deadline_in(f.host, LONG), &d),
                        KUMO_DRIVER_OK);
    /* Enough other changes to compact the file several times. */
    for (int i = 0; i < 40; i++) {
        char token[32];
        snprintf(token, sizeof(token), "uid-filler-%d", i);
        kumo_driver_free(f.host, create_machine(&f, conn, token));
    }
    f.drv->close(conn);
    conn = fixture_open(&f, "region=us-east-1");
    struct kumo_driver_machine *m = create_machine(&f, conn, "uid-reused");
    KUMO_EXPECT_STR_EQ(m->provider_id, fresh->provider_id);
    kumo_driver_free(f.host, m);
    m = observe(&f, conn, NULL, "uid-reused", &rc);
    KUMO_REQUIRE_INT_EQ(rc, KUMO_DRIVER_OK);
    KUMO_EXPECT_STR_EQ(m->provider_id, fresh->provider_id);
    kumo_driver_free(f.host, m);
    m = observe(&f, conn, old->provider_id, NULL, &rc);
    KUMO_REQUIRE_INT_EQ(rc, KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_TERMINATING);
    kumo_driver_free(f.host, m);
    kumo_driver_free(f.host, old);
    kumo_driver_free(f.host, fresh);
    f.drv->close(conn);
    fixture_unload(&f);
}
