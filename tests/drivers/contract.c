/*
 * contract.c - the driver contract suite (see contract.h). Uses driver.h and
 * the test harness only.
 *
 * Drivers may be eventually consistent, so a check that expects to see a
 * resource polls for it (up to a few seconds) instead of asserting at once.
 */
#include "tests/drivers/contract.h"
#include "tests/harness/test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LONG 30.0 /* seconds: a deadline that must not matter */
#define POLL 5.0  /* seconds to wait for eventual consistency */

static int64_t deadline(const struct contract_env *env, double seconds)
{
    return env->host->monotonic_ns(env->host->ctx) + (int64_t)(seconds * 1e9);
}

static void nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

static void unique(char *buf, size_t size, const char *what)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "ct-%ld-%lx-%u-%s", (long)getpid(), (unsigned long)ts.tv_nsec, ++counter,
             what);
}

static struct kumo_driver_conn *open_conn(const struct contract_env *env)
{
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    kumo_driver_code rc = env->driver->open(env->open_args, &conn, &diag);
    if (rc != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "open: %s", diag.message);
    return conn;
}

static void free_block(const struct contract_env *env, const void *block)
{
    kumo_driver_free(env->host, block);
}

static struct kumo_driver_machine_spec machine_spec(const struct contract_env *env,
                                                    const char *name)
{
    struct kumo_driver_machine_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.name = name;
    spec.instance_type = env->instance_type;
    spec.image = env->image;
    return spec;
}

/* Creates a machine (REQUIRE OK); returns its provider id in id. */
static void make_machine(const struct contract_env *env, struct kumo_driver_conn *conn,
                         const struct kumo_driver_machine_spec *spec, const char *token, char *id,
                         size_t id_size)
{
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    kumo_driver_code rc =
        env->driver->machine_create(conn, spec, token, deadline(env, LONG), &m, &diag);
    if (rc != KUMO_DRIVER_OK)
        kumo_test_fail_(__FILE__, __LINE__, 1, "machine_create(%s): %s: %s", token, diag.cloud_code,
                        diag.message);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_STR_EQ(m->token, token);
    snprintf(id, id_size, "%s", m->provider_id);
    free_block(env, m);
}

/* Observes by ref until found (or POLL passes); returns the machine or NULL. */
static struct kumo_driver_machine *observe_machine(const struct contract_env *env,
                                                   struct kumo_driver_conn *conn, const char *id,
                                                   const char *token)
{
    struct kumo_driver_ref ref = {id, token};
    struct kumo_driver_diag diag;
    double until = (double)deadline(env, POLL);
    for (;;) {
        struct kumo_driver_machine *m = NULL;
        kumo_driver_code rc =
            env->driver->machine_observe(conn, &ref, deadline(env, LONG), &m, &diag);
        if (rc == KUMO_DRIVER_OK)
            return m;
        if (rc != KUMO_DRIVER_NOT_FOUND || (double)deadline(env, 0) > until)
            return NULL;
        nap(0.05);
    }
}

/* Deletes a machine and waits until observe says NOT_FOUND. */
static void delete_machine(const struct contract_env *env, struct kumo_driver_conn *conn,
                           const char *id)
{
    struct kumo_driver_ref ref = {id, NULL};
    struct kumo_driver_diag diag;
    kumo_driver_code rc = env->driver->machine_delete(conn, &ref, deadline(env, LONG), &diag);
    KUMO_EXPECT(rc == KUMO_DRIVER_OK || rc == KUMO_DRIVER_NOT_FOUND);
    double until = (double)deadline(env, env->delete_seconds + POLL);
    for (;;) {
        struct kumo_driver_machine *m = NULL;
        rc = env->driver->machine_observe(conn, &ref, deadline(env, LONG), &m, &diag);
        free_block(env, m);
        if (rc == KUMO_DRIVER_NOT_FOUND)
            return;
        if ((double)deadline(env, 0) > until) {
            kumo_test_fail_(__FILE__, __LINE__, 0, "machine %s still there after delete", id);
            return;
        }
        nap(0.05);
    }
}

/* Lists machines matching (key, prefix), polling until `expect` appear; returns the count. */
static size_t count_machines(const struct contract_env *env, struct kumo_driver_conn *conn,
                             const char *key, const char *prefix, size_t expect)
{
    struct kumo_driver_filter filter = {key, prefix};
    struct kumo_driver_diag diag;
    double until = (double)deadline(env, POLL);
    for (;;) {
        struct kumo_driver_machine_list *list = NULL;
        kumo_driver_code rc =
            env->driver->machine_list(conn, &filter, deadline(env, LONG), &list, &diag);
        KUMO_REQUIRE_INT_EQ(rc, KUMO_DRIVER_OK);
        size_t n = list->count;
        for (size_t i = 0; i < n; i++)
            KUMO_EXPECT(list->items[i]->provider_id[0] != '\0');
        free_block(env, list);
        if (n >= expect || (double)deadline(env, 0) > until)
            return n;
        nap(0.05);
    }
}

static const char *tag_value(const struct kumo_driver_tag *tags, size_t count, const char *key)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(tags[i].key, key) == 0)
            return tags[i].value;
    return NULL;
}

/* ---- Checks ------------------------------------------------------------- */

void contract_create_idempotent(const struct contract_env *env)
{
    char token[96], id1[64], id2[64], net_token[96];
    struct kumo_driver_diag diag;
    struct kumo_driver_conn *conn = open_conn(env);
    unique(token, sizeof(token), "idem");
    struct kumo_driver_machine_spec spec = machine_spec(env, "idem");
    make_machine(env, conn, &spec, token, id1, sizeof(id1));
    make_machine(env, conn, &spec, token, id2, sizeof(id2));
    KUMO_EXPECT_STR_EQ(id1, id2);
    KUMO_EXPECT_INT_EQ(count_machines(env, conn, KUMO_DRIVER_TOKEN_TAG, token, 1), 1);

    if (env->driver->capabilities & KUMO_DRIVER_CAP_NETWORKS) {
        struct kumo_driver_network_spec ns;
        struct kumo_driver_network *n1 = NULL, *n2 = NULL;
        memset(&ns, 0, sizeof(ns));
        ns.struct_size = sizeof(ns);
        ns.name = "idem";
        ns.cidr = "10.20.0.0/16";
        unique(net_token, sizeof(net_token), "net");
        KUMO_REQUIRE_INT_EQ(
            env->driver->network_create(conn, &ns, net_token, deadline(env, LONG), &n1, &diag),
            KUMO_DRIVER_OK);
        KUMO_REQUIRE_INT_EQ(
            env->driver->network_create(conn, &ns, net_token, deadline(env, LONG), &n2, &diag),
            KUMO_DRIVER_OK);
        KUMO_EXPECT_STR_EQ(n1->provider_id, n2->provider_id);
        struct kumo_driver_ref ref = {n1->provider_id, NULL};
        KUMO_EXPECT_INT_EQ(env->driver->network_delete(conn, &ref, deadline(env, LONG), &diag),
                           KUMO_DRIVER_OK);
        free_block(env, n1);
        free_block(env, n2);
    }
    if (env->driver->capabilities & KUMO_DRIVER_CAP_KEY_PAIRS) {
        struct kumo_driver_key_pair_spec ks;
        struct kumo_driver_key_pair *k1 = NULL, *k2 = NULL;
        char key_token[96];
        memset(&ks, 0, sizeof(ks));
        ks.struct_size = sizeof(ks);
        /* a real key: clouds check the key material */
        ks.public_key =
            "ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIGdOHFseIN2TFA4iiaUyXmTUBKzLcqf+BnQCCmC3Xppi contract@kumo";
        unique(key_token, sizeof(key_token), "key");
        KUMO_REQUIRE_INT_EQ(
            env->driver->key_pair_create(conn, &ks, key_token, deadline(env, LONG), &k1, &diag),
            KUMO_DRIVER_OK);
        KUMO_REQUIRE_INT_EQ(
            env->driver->key_pair_create(conn, &ks, key_token, deadline(env, LONG), &k2, &diag),
            KUMO_DRIVER_OK);
        KUMO_EXPECT_STR_EQ(k1->provider_id, k2->provider_id);
        KUMO_EXPECT(k1->fingerprint[0] != '\0');
        struct kumo_driver_ref ref = {NULL, key_token};
        KUMO_EXPECT_INT_EQ(env->driver->key_pair_delete(conn, &ref, deadline(env, LONG), &diag),
                           KUMO_DRIVER_OK);
        struct kumo_driver_key_pair *gone = NULL;
        KUMO_EXPECT_INT_EQ(
            env->driver->key_pair_observe(conn, &ref, deadline(env, LONG), &gone, &diag),
            KUMO_DRIVER_NOT_FOUND);
        free_block(env, k1);
        free_block(env, k2);
    }
    delete_machine(env, conn, id1);
    env->driver->close(conn);
}

void contract_observe_after_restart(const struct contract_env *env)
{
    char token[96], id[64];
    struct kumo_driver_conn *conn = open_conn(env);
    unique(token, sizeof(token), "restart");
    struct kumo_driver_machine_spec spec = machine_spec(env, "restart");
    make_machine(env, conn, &spec, token, id, sizeof(id));
    env->driver->close(conn);

    conn = open_conn(env);
    struct kumo_driver_machine *by_token = observe_machine(env, conn, NULL, token);
    KUMO_REQUIRE_PTR_NONNULL(by_token);
    KUMO_EXPECT_STR_EQ(by_token->provider_id, id);
    KUMO_EXPECT_STR_EQ(tag_value(by_token->tags, by_token->tag_count, KUMO_DRIVER_TOKEN_TAG),
                       token);
    struct kumo_driver_machine *by_id = observe_machine(env, conn, id, NULL);
    KUMO_REQUIRE_PTR_NONNULL(by_id);
    KUMO_EXPECT_STR_EQ(by_id->token, token);
    KUMO_EXPECT_STR_EQ(by_id->instance_type, env->instance_type);
    free_block(env, by_token);
    free_block(env, by_id);
    /* A create retried after the restart must not duplicate. */
    char again[64];
    make_machine(env, conn, &spec, token, again, sizeof(again));
    KUMO_EXPECT_STR_EQ(again, id);
    KUMO_EXPECT_INT_EQ(count_machines(env, conn, KUMO_DRIVER_TOKEN_TAG, token, 1), 1);
    delete_machine(env, conn, id);
    env->driver->close(conn);
}

void contract_delete_idempotent(const struct contract_env *env)
{
    char token[96], id[64];
    struct kumo_driver_diag diag;
    struct kumo_driver_conn *conn = open_conn(env);
    unique(token, sizeof(token), "delete");
    struct kumo_driver_machine_spec spec = machine_spec(env, "delete");
    make_machine(env, conn, &spec, token, id, sizeof(id));
    delete_machine(env, conn, id);
    struct kumo_driver_ref by_id = {id, NULL}, by_token = {NULL, token};
    KUMO_EXPECT_INT_EQ(env->driver->machine_delete(conn, &by_id, deadline(env, LONG), &diag),
                       KUMO_DRIVER_NOT_FOUND);
    KUMO_EXPECT(diag.message[0] != '\0');
    KUMO_EXPECT_INT_EQ(env->driver->machine_delete(conn, &by_token, deadline(env, LONG), &diag),
                       KUMO_DRIVER_NOT_FOUND);
    struct kumo_driver_machine *m = NULL;
    KUMO_EXPECT_INT_EQ(
        env->driver->machine_observe(conn, &by_token, deadline(env, LONG), &m, &diag),
        KUMO_DRIVER_NOT_FOUND);
    KUMO_EXPECT(m == NULL);
    KUMO_EXPECT_INT_EQ(count_machines(env, conn, KUMO_DRIVER_TOKEN_TAG, token, 0), 0);
    /* The token of a deleted resource may make a new one. */
    char id2[64];
    make_machine(env, conn, &spec, token, id2, sizeof(id2));
    KUMO_EXPECT(strcmp(id, id2) != 0);
    delete_machine(env, conn, id2);
    env->driver->close(conn);
}

void contract_list_by_tag(const struct contract_env *env)
{
    char group[96], token[3][112], other_token[112], ids[4][64], value[128];
    struct kumo_driver_conn *conn = open_conn(env);
    unique(group, sizeof(group), "group");
    for (int i = 0; i < 4; i++) {
        struct kumo_driver_tag tags[1];
        struct kumo_driver_machine_spec spec = machine_spec(env, "listed");
        snprintf(value, sizeof(value), i < 3 ? "%s-%d" : "other-%s-%d", group, i);
        tags[0].key = "kumo:contract-group";
        tags[0].value = value;
        spec.tags = tags;
        spec.tag_count = 1;
        char *t = i < 3 ? token[i] : other_token;
        snprintf(t, 112, "%s-m%d", group, i);
        if (i == 3)
            snprintf(t, 112, "x%s-m%d", group, i);
        make_machine(env, conn, &spec, t, ids[i], sizeof(ids[i]));
    }
    KUMO_EXPECT_INT_EQ(count_machines(env, conn, "kumo:contract-group", group, 3), 3);
    KUMO_EXPECT_INT_EQ(count_machines(env, conn, KUMO_DRIVER_TOKEN_TAG, group, 3), 3);
    KUMO_EXPECT_INT_EQ(count_machines(env, conn, "kumo:contract-group", "no-such-value", 0), 0);
    KUMO_EXPECT_INT_GE(count_machines(env, conn, NULL, NULL, 4), 4);
    for (int i = 0; i < 4; i++)
        delete_machine(env, conn, ids[i]);
    KUMO_EXPECT_INT_EQ(count_machines(env, conn, "kumo:contract-group", group, 0), 0);
    env->driver->close(conn);
}

void contract_deadlines(const struct contract_env *env)
{
    char token[96];
    struct kumo_driver_diag diag;
    struct kumo_driver_conn *conn = open_conn(env);
    struct kumo_driver_ref ref = {NULL, "no-such-token"};
    struct kumo_driver_machine *m = NULL;
    double start = kumo_test_now();
    KUMO_EXPECT_INT_EQ(env->driver->machine_observe(conn, &ref, deadline(env, -1), &m, &diag),
                       KUMO_DRIVER_TIMEOUT);
    KUMO_EXPECT(m == NULL);
    KUMO_EXPECT(kumo_test_now() - start < 0.5);
    /* A call whose deadline has passed is not sent: nothing is created. */
    unique(token, sizeof(token), "late");
    struct kumo_driver_machine_spec spec = machine_spec(env, "late");
    KUMO_EXPECT_INT_EQ(
        env->driver->machine_create(conn, &spec, token, deadline(env, -1), &m, &diag),
        KUMO_DRIVER_TIMEOUT);
    KUMO_EXPECT(m == NULL);
    KUMO_EXPECT_INT_EQ(count_machines(env, conn, KUMO_DRIVER_TOKEN_TAG, token, 0), 0);
    env->driver->close(conn);
}

void contract_machine_boots(const struct contract_env *env)
{
    char token[96], id[64];
    struct kumo_driver_diag diag;
    struct kumo_driver_conn *conn = open_conn(env);
    unique(token, sizeof(token), "boot");
    struct kumo_driver_machine_spec spec = machine_spec(env, "boot");
    struct kumo_driver_machine *m = NULL;
    double start = kumo_test_now();
    KUMO_REQUIRE_INT_EQ(
        env->driver->machine_create(conn, &spec, token, deadline(env, LONG), &m, &diag),
        KUMO_DRIVER_OK);
    double took = kumo_test_now() - start;
    if (env->boot_seconds >= 0.2) {
        KUMO_EXPECT(took < env->boot_seconds); /* create does not wait for the boot */
        KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_PENDING);
    }
    KUMO_EXPECT(m->private_ip[0] != '\0');
    KUMO_EXPECT(m->launch_ns > 0);
    KUMO_EXPECT(m->price_per_hour > 0);
    KUMO_EXPECT_STR_EQ(m->instance_type, env->instance_type);
    snprintf(id, sizeof(id), "%s", m->provider_id);
    free_block(env, m);
    int running = 0;
    /* From when create returned: a loaded machine may take seconds to create. */
    double created = kumo_test_now();
    while (!running && kumo_test_now() - created < env->boot_seconds + POLL) {
        m = observe_machine(env, conn, id, NULL);
        KUMO_REQUIRE_PTR_NONNULL(m);
        running = m->phase == KUMO_DRIVER_MACHINE_RUNNING;
        KUMO_EXPECT(m->phase == KUMO_DRIVER_MACHINE_PENDING ||
                    m->phase == KUMO_DRIVER_MACHINE_RUNNING);
        free_block(env, m);
        if (!running)
            nap(0.05);
    }
    KUMO_EXPECT(running);
    KUMO_EXPECT(kumo_test_now() - start >= env->boot_seconds * 0.9);
    delete_machine(env, conn, id);
    env->driver->close(conn);
}

static int32_t wait_phase(const struct contract_env *env, struct kumo_driver_conn *conn,
                          const char *id, int32_t want, double seconds)
{
    double start = kumo_test_now();
    int32_t phase = KUMO_DRIVER_MACHINE_UNKNOWN;
    while (kumo_test_now() - start < seconds) {
        struct kumo_driver_machine *m = observe_machine(env, conn, id, NULL);
        if (m == NULL)
            return KUMO_DRIVER_MACHINE_UNKNOWN;
        phase = m->phase;
        free_block(env, m);
        if (phase == want)
            break;
        nap(0.05);
    }
    return phase;
}

void contract_machine_update(const struct contract_env *env)
{
    char token[96], id[64];
    struct kumo_driver_diag diag;
    struct kumo_driver_conn *conn = open_conn(env);
    unique(token, sizeof(token), "update");
    struct kumo_driver_machine_spec spec = machine_spec(env, "update");
    make_machine(env, conn, &spec, token, id, sizeof(id));
    struct kumo_driver_ref ref = {id, NULL};
    struct kumo_driver_tag tags[2] = {{"team", "blue"}, {"tier", "web"}};
    struct kumo_driver_machine_update u;
    memset(&u, 0, sizeof(u));
    u.struct_size = sizeof(u);
    u.fields = KUMO_DRIVER_MACHINE_SET_TAGS;
    u.tags = tags;
    u.tag_count = 2;
    struct kumo_driver_machine *m = NULL;
    KUMO_REQUIRE_INT_EQ(env->driver->machine_update(conn, &ref, &u, deadline(env, LONG), &m, &diag),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_STR_EQ(tag_value(m->tags, m->tag_count, "team"), "blue");
    KUMO_EXPECT_STR_EQ(tag_value(m->tags, m->tag_count, KUMO_DRIVER_TOKEN_TAG), token);
    free_block(env, m);
    m = observe_machine(env, conn, id, NULL);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_STR_EQ(tag_value(m->tags, m->tag_count, "tier"), "web");
    free_block(env, m);

    if (env->driver->capabilities & KUMO_DRIVER_CAP_MACHINE_POWER) {
        wait_phase(env, conn, id, KUMO_DRIVER_MACHINE_RUNNING, env->boot_seconds + 2);
        u.fields = KUMO_DRIVER_MACHINE_SET_POWER;
        u.power = KUMO_DRIVER_POWER_STOPPED;
        KUMO_REQUIRE_INT_EQ(
            env->driver->machine_update(conn, &ref, &u, deadline(env, LONG), &m, &diag),
            KUMO_DRIVER_OK);
        KUMO_EXPECT(m->phase == KUMO_DRIVER_MACHINE_STOPPING ||
                    m->phase == KUMO_DRIVER_MACHINE_STOPPED);
        free_block(env, m);
        KUMO_EXPECT_INT_EQ(wait_phase(env, conn, id, KUMO_DRIVER_MACHINE_STOPPED, 10),
                           KUMO_DRIVER_MACHINE_STOPPED);
        u.power = KUMO_DRIVER_POWER_RUNNING;
        KUMO_REQUIRE_INT_EQ(
            env->driver->machine_update(conn, &ref, &u, deadline(env, LONG), &m, &diag),
            KUMO_DRIVER_OK);
        free_block(env, m);
        KUMO_EXPECT_INT_EQ(
            wait_phase(env, conn, id, KUMO_DRIVER_MACHINE_RUNNING, env->boot_seconds + 2),
            KUMO_DRIVER_MACHINE_RUNNING);
    }
    delete_machine(env, conn, id);
    env->driver->close(conn);
}

void contract_dependencies(const struct contract_env *env)
{
    char token[96], id[64];
    struct kumo_driver_diag diag;
    if (!(env->driver->capabilities & KUMO_DRIVER_CAP_NETWORKS))
        return;
    struct kumo_driver_conn *conn = open_conn(env);
    struct kumo_driver_subnet subnets[1] = {{"a", "10.30.1.0/24", NULL, NULL}};
    struct kumo_driver_network_spec ns;
    memset(&ns, 0, sizeof(ns));
    ns.struct_size = sizeof(ns);
    ns.name = "deps";
    ns.cidr = "10.30.0.0/16";
    ns.subnets = subnets;
    ns.subnet_count = 1;
    unique(token, sizeof(token), "deps-net");
    struct kumo_driver_network *net = NULL;
    KUMO_REQUIRE_INT_EQ(
        env->driver->network_create(conn, &ns, token, deadline(env, LONG), &net, &diag),
        KUMO_DRIVER_OK);
    KUMO_REQUIRE_INT_EQ(net->subnet_count, 1);
    struct kumo_driver_machine_spec spec = machine_spec(env, "deps");
    spec.subnet_id = net->subnets[0].provider_id;
    unique(token, sizeof(token), "deps-vm");
    make_machine(env, conn, &spec, token, id, sizeof(id));
    struct kumo_driver_machine *m = observe_machine(env, conn, id, NULL);
    KUMO_REQUIRE_PTR_NONNULL(m);
    KUMO_EXPECT_STR_EQ(m->network_id, net->provider_id);
    KUMO_EXPECT_STR_EQ(m->subnet_id, net->subnets[0].provider_id);
    KUMO_EXPECT(strncmp(m->private_ip, "10.30.1.", 8) == 0);
    free_block(env, m);
    struct kumo_driver_ref ref = {net->provider_id, NULL};
    KUMO_EXPECT_INT_EQ(env->driver->network_delete(conn, &ref, deadline(env, LONG), &diag),
                       KUMO_DRIVER_CONFLICT);
    KUMO_EXPECT(diag.message[0] != '\0');
    delete_machine(env, conn, id);
    KUMO_EXPECT_INT_EQ(env->driver->network_delete(conn, &ref, deadline(env, LONG), &diag),
                       KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(env->driver->network_delete(conn, &ref, deadline(env, LONG), &diag),
                       KUMO_DRIVER_NOT_FOUND);
    free_block(env, net);
    env->driver->close(conn);
}

void contract_catalog(const struct contract_env *env)
{
    struct kumo_driver_diag diag;
    if (!(env->driver->capabilities & KUMO_DRIVER_CAP_CATALOG))
        return;
    struct kumo_driver_conn *conn = open_conn(env);
    struct kumo_driver_region_list *regions = NULL;
    KUMO_REQUIRE_INT_EQ(env->driver->catalog_regions(conn, deadline(env, LONG), &regions, &diag),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_GE(regions->count, 1);
    size_t with_zones = 0;
    for (size_t i = 0; i < regions->count; i++) {
        const struct kumo_driver_region *r = regions->items[i];
        KUMO_EXPECT(r->name[0] != '\0' && r->display_name[0] != '\0');
        KUMO_EXPECT(r->latitude >= -90 && r->latitude <= 90);
        KUMO_EXPECT(r->longitude >= -180 && r->longitude <= 180);
        /* A real cloud may name the zones of the connection's region only. */
        with_zones += r->zone_count >= 1;
        for (size_t z = 0; z < r->zone_count; z++)
            KUMO_EXPECT(r->zones[z][0] != '\0');
    }
    KUMO_EXPECT_INT_GE(with_zones, 1);
    free_block(env, regions);
    struct kumo_driver_instance_type_list *types = NULL;
    KUMO_REQUIRE_INT_EQ(
        env->driver->catalog_instance_types(conn, deadline(env, LONG), &types, &diag),
        KUMO_DRIVER_OK);
    int found_type = 0;
    for (size_t i = 0; i < types->count; i++) {
        const struct kumo_driver_instance_type *t = types->items[i];
        KUMO_EXPECT(t->vcpu > 0 && t->memory_mib > 0 && t->price_per_hour > 0);
        KUMO_EXPECT(t->currency[0] != '\0' && t->arch[0] != '\0');
        KUMO_EXPECT(t->gpu_count == 0 || t->gpu_model[0] != '\0');
        found_type |= strcmp(t->name, env->instance_type) == 0;
    }
    KUMO_EXPECT(found_type);
    free_block(env, types);
    struct kumo_driver_image_list *images = NULL;
    KUMO_REQUIRE_INT_EQ(env->driver->catalog_images(conn, deadline(env, LONG), &images, &diag),
                        KUMO_DRIVER_OK);
    int found_image = 0;
    for (size_t i = 0; i < images->count; i++) {
        KUMO_EXPECT(images->items[i]->provider_id[0] != '\0');
        found_image |= strcmp(images->items[i]->name, env->image) == 0;
    }
    KUMO_EXPECT(found_image);
    free_block(env, images);
    env->driver->close(conn);
}

void contract_bad_input(const struct contract_env *env)
{
    struct kumo_driver_diag diag;
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_conn *conn = open_conn(env);
    struct kumo_driver_machine_spec spec = machine_spec(env, "bad");
    spec.instance_type = "no-such-type.huge";
    memset(&diag, 0, sizeof(diag));
    KUMO_EXPECT_INT_EQ(
        env->driver->machine_create(conn, &spec, "bad-1", deadline(env, LONG), &m, &diag),
        KUMO_DRIVER_INVALID);
    KUMO_EXPECT_CONTAINS(diag.message, "no-such-type.huge");
    KUMO_EXPECT(m == NULL);
    spec = machine_spec(env, "bad");
    spec.image = "no-such-image";
    KUMO_EXPECT_INT_EQ(
        env->driver->machine_create(conn, &spec, "bad-2", deadline(env, LONG), &m, &diag),
        KUMO_DRIVER_INVALID);
    KUMO_EXPECT_CONTAINS(diag.message, "no-such-image");
    spec = machine_spec(env, "bad");
    spec.subnet_id = "subnet-0000000000000000";
    KUMO_EXPECT_INT_EQ(
        env->driver->machine_create(conn, &spec, "bad-3", deadline(env, LONG), &m, &diag),
        KUMO_DRIVER_NOT_FOUND);
    KUMO_EXPECT_CONTAINS(diag.message, "subnet-0000000000000000");
    spec = machine_spec(env, "bad");
    KUMO_EXPECT_INT_EQ(env->driver->machine_create(conn, &spec, "", deadline(env, LONG), &m, &diag),
                       KUMO_DRIVER_INVALID);
    struct kumo_driver_ref empty = {NULL, NULL}, missing = {"i-0000000000000000", NULL};
    KUMO_EXPECT_INT_EQ(env->driver->machine_observe(conn, &empty, deadline(env, LONG), &m, &diag),
                       KUMO_DRIVER_INVALID);
    KUMO_EXPECT_INT_EQ(env->driver->machine_observe(conn, &missing, deadline(env, LONG), &m, &diag),
                       KUMO_DRIVER_NOT_FOUND);
    KUMO_EXPECT_CONTAINS(diag.message, "i-0000000000000000");
    KUMO_EXPECT(m == NULL);
    if (env->driver->capabilities & KUMO_DRIVER_CAP_NETWORKS) {
        struct kumo_driver_network_spec ns;
        struct kumo_driver_network *n = NULL;
        memset(&ns, 0, sizeof(ns));
        ns.struct_size = sizeof(ns);
        ns.cidr = "banana";
        KUMO_EXPECT_INT_EQ(
            env->driver->network_create(conn, &ns, "bad-4", deadline(env, LONG), &n, &diag),
            KUMO_DRIVER_INVALID);
        KUMO_EXPECT_CONTAINS(diag.message, "banana");
    }
    if (env->driver->capabilities & KUMO_DRIVER_CAP_KEY_PAIRS) {
        struct kumo_driver_key_pair_spec ks;
        struct kumo_driver_key_pair *k = NULL;
        memset(&ks, 0, sizeof(ks));
        ks.struct_size = sizeof(ks);
        ks.public_key = "not a key";
        KUMO_EXPECT_INT_EQ(
            env->driver->key_pair_create(conn, &ks, "bad-5", deadline(env, LONG), &k, &diag),
            KUMO_DRIVER_INVALID);
    }
    env->driver->close(conn);
}
