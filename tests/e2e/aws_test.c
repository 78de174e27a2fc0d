/*
 * aws_test.c - kumod with the aws driver against moto (signature checking
 * on), through the fault proxy, checked with the AWS CLI.
 *
 * Three Connections (us-east-1, us-east-2, eu-west-1) over one moto account.
 * An Infra of 30 machines: 15 pinned to eu-west-1 and 15 placed near Ohio,
 * where the proxy answers every RunInstances with InsufficientInstanceCapacity,
 * so placement fails over to us-east-1. The proxy also throttles, adds latency
 * and loses 30% of the successful RunInstances replies, and kumod is killed
 * with SIGKILL 10 times during the rollout. Then the CLI must list exactly 30
 * running instances, one per Machine uid, none untagged, with the Machines'
 * types, in subnets of kumo's VPCs; a Connection with a wrong secret is
 * Ready=False naming AWS's AuthFailure; deleting the Infra leaves no instance,
 * VPC, subnet, security group or key pair of kumo's.
 *
 * aws_load_balancer_over_infra: a LoadBalancer in front of an Infra's two
 * machines on one Connection becomes Ready with both endpoints healthy; the
 * CLI sees one ELBv2 balancer tagged with its uid, a listener and a target
 * group holding both instances; deleting it leaves no balancer or target
 * group, and deleting the Infra no instance.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "apis/kumo/v1alpha1/loadbalancer.pb-c.h"
#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "tests/aws/moto.h"
#include "tests/e2e/e2e.h"

#define MACHINES 30
#define KILLS    10

static const char *const regions[3] = {"us-east-1", "us-east-2", "eu-west-1"};

static int aws_connection(e2e *t, moto *m, const char *name, const char *region,
                          const char *credential, const char *prices)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\","
                     " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                     " \"spec\": {\"driver\": \"aws\", \"region\": \"%s\", \"endpoint\": \"%s\","
                     "  \"credentialRef\": {\"name\": \"%s\"},"
                     "  \"rateLimit\": {\"qps\": 20, \"burst\": 20, \"maxInFlight\": 4},"
                     "  \"config\": {\"price_file\": \"%s\"}}}",
                     name, region, m->proxy_url, credential, prices);
}

static int aws_credential(e2e *t, const char *name, const char *key, const char *secret)
{
    return e2e_apply(t,
                     "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Credential\","
                     " \"metadata\": {\"name\": \"%s\", \"namespace\": \"default\"},"
                     " \"spec\": {\"type\": \"aws\", \"data\": {\"accessKeyId\": \"%s\","
                     " \"secretAccessKey\": \"%s\"}}}",
                     name, key, secret);
}

static int converged(e2e *t, void *arg)
{
    (void)arg;
    return e2e_infra_ready(t, "fleet", MACHINES);
}

/* ---- What kumo asked for ---------------------------------------------------------------- */

struct wanted {
    char uid[64];
    char type[64];
    int seen;
};

static size_t machines_wanted(e2e *t, struct wanted *w, size_t cap)
{
    kumo_client_list_options lo = {.limit = 500};
    ProtobufCMessage *list = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e =
        kumo_client_list(t->client, kumo_object_kind_lookup("Machine"), "default", &lo, &list, &d);
    kumo_diag_fini(&d);
    if (e != KUMO_ERROR_OK)
        return 0;
    const Kumo__V1alpha1__MachineList *ml = (const Kumo__V1alpha1__MachineList *)list;
    size_t n = 0;
    for (size_t i = 0; i < ml->n_items && n < cap; i++, n++) {
        snprintf(w[n].uid, sizeof(w[n].uid), "%s", ml->items[i]->metadata->uid);
        snprintf(w[n].type, sizeof(w[n].type), "%s", ml->items[i]->spec->instance_type);
        w[n].seen = 0;
    }
    kumo_object_destroy(list);
    return n;
}

/* ---- What the AWS CLI sees --------------------------------------------------------------- */

static kumo_value *cli_json(moto *m, const char *region, const char *args)
{
    char *out = moto_cli(m, region, args);
    kumo_value *v = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (out == NULL || kumo_codec_value_parse_json(out, strlen(out), NULL, &v, &d) != KUMO_ERROR_OK)
        v = NULL;
    kumo_diag_fini(&d);
    free(out);
    return v;
}

static const char *tag_of(const kumo_value *resource, const char *key)
{
    const kumo_value *tags = kumo_codec_value_get(resource, "Tags");
    for (size_t i = 0; tags && i < tags->count; i++)
        if (strcmp(e2e_string(tags->items[i], "Key"), key) == 0)
            return e2e_string(tags->items[i], "Value");
    return NULL;
}

/* kumo's resources of one kind in one region: members of `set` tagged kumo:uid. */
static size_t tagged(moto *m, const char *region, const char *args, const char *set)
{
    kumo_value *v = cli_json(m, region, args);
    const kumo_value *items = v ? kumo_codec_value_get(v, set) : NULL;
    size_t n = 0;
    for (size_t i = 0; items && i < items->count; i++)
        n += tag_of(items->items[i], "kumo:uid") != NULL;
    kumo_codec_value_destroy(v);
    return n;
}

struct census {
    size_t running, untagged, duplicates, unknown, wrong_type, wrong_subnet, other_states;
    size_t vpcs, subnets, groups, keys;
};

static int subnet_is_kumos(const kumo_value *subnets, const char *id)
{
    const kumo_value *items = subnets ? kumo_codec_value_get(subnets, "Subnets") : NULL;
    for (size_t i = 0; items && i < items->count; i++)
        if (strcmp(e2e_string(items->items[i], "SubnetId"), id) == 0)
            return tag_of(items->items[i], "kumo:uid") != NULL;
    return 0;
}

static void count_instances(moto *m, const char *region, struct wanted *w, size_t n_wanted,
                            struct census *c)
{
    kumo_value *v = cli_json(m, region, "ec2 describe-instances");
    kumo_value *subnets = cli_json(m, region, "ec2 describe-subnets");
    const kumo_value *rs = v ? kumo_codec_value_get(v, "Reservations") : NULL;
    for (size_t r = 0; rs && r < rs->count; r++) {
        const kumo_value *is = kumo_codec_value_get(rs->items[r], "Instances");
        for (size_t i = 0; is && i < is->count; i++) {
            const kumo_value *vm = is->items[i];
            const char *state = e2e_string(kumo_codec_value_get(vm, "State"), "Name");
            if (strcmp(state, "terminated") == 0)
                continue;
            if (strcmp(state, "running") != 0) {
                c->other_states++;
                continue;
            }
            c->running++;
            const char *uid = tag_of(vm, "kumo:uid");
            if (uid == NULL) {
                c->untagged++;
                continue;
            }
            struct wanted *found = NULL;
            for (size_t k = 0; k < n_wanted && !found; k++)
                if (strcmp(w[k].uid, uid) == 0)
                    found = &w[k];
            if (found == NULL) {
                c->unknown++;
                continue;
            }
            c->duplicates += found->seen++ > 0;
            c->wrong_type += strcmp(found->type, e2e_string(vm, "InstanceType")) != 0;
            c->wrong_subnet += !subnet_is_kumos(subnets, e2e_string(vm, "SubnetId"));
        }
    }
    kumo_codec_value_destroy(v);
    kumo_codec_value_destroy(subnets);
}

static struct census take_census(e2e *t, moto *m)
{
    struct census c;
    memset(&c, 0, sizeof(c));
    struct wanted w[MACHINES * 2];
    size_t n = machines_wanted(t, w, MACHINES * 2);
    for (int r = 0; r < 3; r++) {
        count_instances(m, regions[r], w, n, &c);
        c.vpcs += tagged(m, regions[r], "ec2 describe-vpcs", "Vpcs");
        c.subnets += tagged(m, regions[r], "ec2 describe-subnets", "Subnets");
        c.groups += tagged(m, regions[r], "ec2 describe-security-groups", "SecurityGroups");
        c.keys += tagged(m, regions[r], "ec2 describe-key-pairs", "KeyPairs");
    }
    fprintf(stderr,
            "aws cli: running %zu (untagged %zu, duplicates %zu, unknown %zu, wrong type %zu, "
            "wrong subnet %zu, other states %zu); vpcs %zu, subnets %zu, groups %zu, keys %zu\n",
            c.running, c.untagged, c.duplicates, c.unknown, c.wrong_type, c.wrong_subnet,
            c.other_states, c.vpcs, c.subnets, c.groups, c.keys);
    return c;
}

static size_t running_in(moto *m, const char *region)
{
    char *out = moto_cli(
        m, region, "ec2 describe-instances --filters Name=instance-state-name,Values=running");
    size_t n = 0;
    for (const char *p = out; p && (p = strstr(p, "\"InstanceId\"")) != NULL; p++)
        n++;
    free(out);
    return n;
}

/* ---- The wrong secret ---------------------------------------------------------------------- */

static int unauthorized(e2e *t, void *arg)
{
    (void)arg;
    ProtobufCMessage *o = e2e_get(t, "Connection", "wrongkey");
    const Kumo__V1alpha1__Condition *ready = o ? kumo_object_condition_get(o, "Ready") : NULL;
    int ok = ready && strcmp(ready->status, "False") == 0 &&
             strcmp(ready->reason, "Unauthorized") == 0 && strstr(ready->message, "AuthFailure");
    if (ok)
        fprintf(stderr, "wrong secret: Ready=False %s: %s\n", ready->reason, ready->message);
    kumo_object_destroy(o);
    return ok;
}

static int all_gone(e2e *t, void *arg)
{
    moto *m = arg;
    (void)t;
    size_t n = 0;
    for (int r = 0; r < 3; r++)
        n += running_in(m, regions[r]) + tagged(m, regions[r], "ec2 describe-vpcs", "Vpcs") +
             tagged(m, regions[r], "ec2 describe-security-groups", "SecurityGroups") +
             tagged(m, regions[r], "ec2 describe-key-pairs", "KeyPairs");
    return n == 0;
}

/* Prints the Infra's conditions and the Machines' Ready reasons (for failures). */
static void explain(e2e *t)
{
    ProtobufCMessage *infra = e2e_get(t, "Infra", "fleet");
    const char *types[] = {"Ready", "Progressing", "Degraded"};
    for (int i = 0; infra && i < 3; i++) {
        const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(infra, types[i]);
        if (c)
            fprintf(stderr, "Infra %s=%s %s: %s\n", types[i], c->status, c->reason, c->message);
    }
    kumo_object_destroy(infra);
    kumo_client_list_options lo = {.limit = 500};
    ProtobufCMessage *list = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    if (kumo_client_list(t->client, kumo_object_kind_lookup("Machine"), "default", &lo, &list,
                         &d) == KUMO_ERROR_OK) {
        const Kumo__V1alpha1__MachineList *ml = (const Kumo__V1alpha1__MachineList *)list;
        for (size_t i = 0; i < ml->n_items; i++) {
            const Kumo__V1alpha1__Condition *c =
                kumo_object_condition_get(&ml->items[i]->base, "Ready");
            if (c == NULL || strcmp(c->status, "True") != 0)
                fprintf(stderr, "Machine %s (%s): %s %s\n", ml->items[i]->metadata->name,
                        ml->items[i]->spec->connection, c ? c->reason : "no Ready",
                        c ? c->message : "");
        }
    }
    kumo_diag_fini(&d);
    kumo_object_destroy(list);
    const char *kinds[] = {"Network", "SecurityGroup", "KeyPair", "Connection"};
    const char *names[] = {"fleet-virginia", "fleet-ireland", "fleet-ohio"};
    for (int k = 0; k < 4; k++)
        for (int n = 0; n < 3; n++) {
            ProtobufCMessage *o = e2e_get(t, kinds[k], k == 3 ? names[n] + 6 : names[n]);
            const Kumo__V1alpha1__Condition *c = o ? kumo_object_condition_get(o, "Ready") : NULL;
            if (c)
                fprintf(stderr, "%s %s: Ready=%s %s: %s\n", kinds[k], names[n], c->status,
                        c->reason, c->message);
            kumo_object_destroy(o);
        }
}

static int connections_ready(e2e *t, void *arg)
{
    (void)arg;
    const char *names[] = {"virginia", "ohio", "ireland"};
    int ready = 0;
    for (int i = 0; i < 3; i++) {
        ProtobufCMessage *o = e2e_get(t, "Connection", names[i]);
        const Kumo__V1alpha1__Connection *c = (const Kumo__V1alpha1__Connection *)o;
        const Kumo__V1alpha1__Condition *r = o ? kumo_object_condition_get(o, "Ready") : NULL;
        ready += r && strcmp(r->status, "True") == 0 && c->status && c->status->catalog &&
                 c->status->catalog->n_instance_types > 0;
        kumo_object_destroy(o);
    }
    return ready == 3;
}

/* ---- The case ------------------------------------------------------------------------------ */

static void apply_fleet(e2e *t)
{
    E2E_REQUIRE(
        t, e2e_apply(t, "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                        " \"metadata\": {\"name\": \"fleet\", \"namespace\": \"default\"},"
                        " \"spec\": {\"groups\": ["
                        "  {\"name\": \"web\", \"size\": 15, \"connection\": \"ireland\","
                        "   \"instanceType\": \"t3.micro\", \"image\": \"amazon-linux-2023\"},"
                        "  {\"name\": \"batch\", \"size\": 15, \"image\": \"amazon-linux-2023\","
                        "   \"placement\": {\"vcpuMin\": 2, \"memoryMibMin\": 4096,"
                        "    \"preference\": \"Latency\", \"userLocations\": [{\"name\":"
                        "    \"columbus\", \"latitude\": 40.0, \"longitude\": -83.0}]}}]}}") == 0);
}

/* Kills kumod `kills` times at random moments 0.5-2 s apart, restarting it each time. */
static void kill_during_rollout(e2e *t, int kills)
{
    const char *seed_env = getenv("KUMO_CRASH_SEED");
    unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "kill schedule seed %u (KUMO_CRASH_SEED=%u replays it)\n", seed, seed);
    srand(seed);
    for (int k = 0; k < kills; k++) {
        e2e_sleep_ms(500 + rand() % 1500);
        e2e_kumod_kill(t, SIGKILL);
        E2E_REQUIRE(t, e2e_kumod_start(t) == 0);
    }
}

KUMO_TEST(aws_fleet_faults_kills_delete)
{
    moto m;
    moto_start(&m);
    if (moto_proxy_start(&m, "--throttle 0.05 --latency-ms 5 --lose-run 0.3 "
                             "--capacity-regions us-east-2") != 0) {
        moto_stop(&m);
        KUMO_REQUIRE(!"the fault proxy answers");
    }
    char prices[512];
    KUMO_REQUIRE(kumo_test_source_path("examples/aws-prices.txt", prices, sizeof(prices)));
    e2e t;
    e2e_start(&t, "20");
    double started = kumo_test_now();
    E2E_REQUIRE(&t, aws_credential(&t, "moto", m.key_id, m.secret) == 0);
    E2E_REQUIRE(&t, aws_connection(&t, &m, "virginia", "us-east-1", "moto", prices) == 0);
    E2E_REQUIRE(&t, aws_connection(&t, &m, "ohio", "us-east-2", "moto", prices) == 0);
    E2E_REQUIRE(&t, aws_connection(&t, &m, "ireland", "eu-west-1", "moto", prices) == 0);
    E2E_REQUIRE(&t, e2e_wait(&t, 45, connections_ready, NULL));
    apply_fleet(&t);
    const char *kills_env = getenv("KUMO_E2E_AWS_KILLS"); /* for debugging: fewer kills */
    int kills = kills_env ? atoi(kills_env) : KILLS;
    kill_during_rollout(&t, kills);
    int ok = e2e_wait(&t, getenv("KUMO_E2E_AWS_KILLS") ? 40 : 120, converged, NULL);
    if (!ok) {
        e2e_dump_log(&t, 60);
        explain(&t);
    }
    if (!ok)
        moto_stop(&m);
    E2E_REQUIRE(&t, ok);
    fprintf(stderr, "converged after %.1f s with %d kills\n", kumo_test_now() - started, kills);
    char stats[4096] = "";
    moto_proxy_stats(&m, stats, sizeof(stats));
    fprintf(stderr, "fault proxy: %s\n", stats);
    struct census c = take_census(&t, &m);
    KUMO_EXPECT_INT_EQ(c.running, MACHINES);
    KUMO_EXPECT_INT_EQ(c.untagged, 0);
    KUMO_EXPECT_INT_EQ(c.duplicates, 0);
    KUMO_EXPECT_INT_EQ(c.unknown, 0);
    KUMO_EXPECT_INT_EQ(c.wrong_type, 0);
    KUMO_EXPECT_INT_EQ(c.wrong_subnet, 0);
    KUMO_EXPECT_INT_EQ(c.other_states, 0);
    KUMO_EXPECT_INT_EQ(c.vpcs, 2); /* one Network per connection used: Ireland and Virginia */
    KUMO_EXPECT_INT_EQ(c.subnets, 2);
    KUMO_EXPECT_INT_EQ(c.groups, 2);
    KUMO_EXPECT_INT_EQ(c.keys, 2);
    KUMO_EXPECT_INT_EQ(running_in(&m, "eu-west-1"), 15);
    KUMO_EXPECT_INT_EQ(running_in(&m, "us-east-1"), 15);
    KUMO_EXPECT_INT_EQ(running_in(&m, "us-east-2"), 0);
    KUMO_EXPECT_CONTAINS(stats, "\"capacity\": ");
    KUMO_EXPECT(strstr(stats, "\"lost\": 0,") == NULL);

    /* Wrong keys: the Connection says so with AWS's own code. */
    E2E_REQUIRE(&t, aws_credential(&t, "wrong", m.key_id, "not-the-secret") == 0);
    E2E_REQUIRE(&t, aws_connection(&t, &m, "wrongkey", "us-west-2", "wrong", prices) == 0);
    KUMO_EXPECT(e2e_wait(&t, 30, unauthorized, NULL));
    e2e_delete(&t, "Connection", "wrongkey");

    /* Delete: nothing of kumo's is left. */
    E2E_REQUIRE(&t, e2e_delete(&t, "Infra", "fleet") == 0);
    ok = e2e_wait(&t, 90, all_gone, &m);
    if (!ok) {
        take_census(&t, &m);
        e2e_dump_log(&t, 40);
    }
    KUMO_EXPECT(ok);
    fprintf(stderr, "deleted after %.1f s in all\n", kumo_test_now() - started);
    e2e_stop(&t);
    moto_stop(&m);
}

/* ---- A LoadBalancer over an AWS Infra ------------------------------------------------------ */

static int count_in(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static int virginia_ready(e2e *t, void *arg)
{
    (void)arg;
    ProtobufCMessage *o = e2e_get(t, "Connection", "virginia");
    const Kumo__V1alpha1__Condition *r = o ? kumo_object_condition_get(o, "Ready") : NULL;
    int ok = r && strcmp(r->status, "True") == 0;
    kumo_object_destroy(o);
    return ok;
}

static int pool_ready(e2e *t, void *arg)
{
    (void)arg;
    return e2e_infra_ready(t, "pool", 2);
}

static int front_ready(e2e *t, void *arg)
{
    (void)arg;
    Kumo__V1alpha1__LoadBalancer *lb =
        (Kumo__V1alpha1__LoadBalancer *)e2e_get(t, "LoadBalancer", "front");
    const Kumo__V1alpha1__Condition *r = lb ? kumo_object_condition_get(&lb->base, "Ready") : NULL;
    int ok = r && strcmp(r->status, "True") == 0 && lb->status &&
             lb->status->healthy_endpoints == 2 && lb->status->hostname[0];
    kumo_object_destroy(lb ? &lb->base : NULL);
    return ok;
}

static int balancers_gone(e2e *t, void *arg)
{
    (void)t;
    moto *m = arg;
    char *lbs = moto_cli(m, "us-east-1", "elbv2 describe-load-balancers");
    char *groups = moto_cli(m, "us-east-1", "elbv2 describe-target-groups");
    int gone = lbs && groups && strstr(lbs, "LoadBalancerArn") == NULL &&
               strstr(groups, "TargetGroupArn") == NULL;
    free(lbs);
    free(groups);
    return gone;
}

static int pool_gone(e2e *t, void *arg)
{
    (void)t;
    return running_in(arg, "us-east-1") == 0;
}

/* The private addresses of the running instances, as a JSON array's items. */
static void running_addresses(moto *m, char *out, size_t size)
{
    char *json = moto_cli(m, "us-east-1",
                          "ec2 describe-instances --filters Name=instance-state-name,Values=running"
                          " --query Reservations[].Instances[].PrivateIpAddress");
    out[0] = '\0';
    for (const char *p = json; p && (p = strchr(p, '"')) != NULL;) {
        size_t n = strcspn(p + 1, "\"");
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s\"%.*s\"", used ? ", " : "", (int)n, p + 1);
        p += n + 2;
    }
    free(json);
}

KUMO_TEST(aws_load_balancer_over_infra)
{
    moto m;
    moto_start(&m);
    KUMO_REQUIRE(moto_proxy_start(&m, "") == 0);
    char prices[512];
    KUMO_REQUIRE(kumo_test_source_path("examples/aws-prices.txt", prices, sizeof(prices)));
    e2e t;
    e2e_start(&t, "5");
    E2E_REQUIRE(&t, aws_credential(&t, "moto", m.key_id, m.secret) == 0);
    E2E_REQUIRE(&t, aws_connection(&t, &m, "virginia", "us-east-1", "moto", prices) == 0);
    E2E_REQUIRE(&t, e2e_wait(&t, 45, virginia_ready, NULL));
    E2E_REQUIRE(&t, e2e_apply(&t, "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                                  " \"metadata\": {\"name\": \"pool\", \"namespace\": \"default\"},"
                                  " \"spec\": {\"groups\": [{\"name\": \"web\", \"size\": 2,"
                                  " \"connection\": \"virginia\", \"instanceType\": \"t3.micro\","
                                  " \"image\": \"amazon-linux-2023\"}]}}") == 0);
    E2E_REQUIRE(&t, e2e_wait(&t, 60, pool_ready, NULL));
    char addresses[256];
    running_addresses(&m, addresses, sizeof(addresses));
    fprintf(stderr, "machines at %s\n", addresses);
    E2E_REQUIRE(
        &t,
        e2e_apply(&t,
                  "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"LoadBalancer\","
                  " \"metadata\": {\"name\": \"front\", \"namespace\": \"default\"},"
                  " \"spec\": {\"connection\": \"virginia\", \"policy\": \"RoundRobin\","
                  " \"listeners\": [{\"name\": \"http\", \"port\": 80, \"protocol\": \"HTTP\"}],"
                  " \"healthCheck\": {\"type\": \"HTTP\", \"path\": \"/healthz\"},"
                  " \"backends\": [{\"name\": \"web\", \"port\": 8080,"
                  " \"addresses\": [%s]}]}}",
                  addresses) == 0);
    int ok = e2e_wait(&t, 60, front_ready, NULL);
    if (!ok)
        e2e_dump_log(&t, 40);
    E2E_REQUIRE(&t, ok);
    Kumo__V1alpha1__LoadBalancer *lb =
        (Kumo__V1alpha1__LoadBalancer *)e2e_get(&t, "LoadBalancer", "front");
    E2E_REQUIRE(&t, lb != NULL);
    char uid[64], args[600];
    snprintf(uid, sizeof(uid), "%s", lb->metadata->uid);
    kumo_object_destroy(&lb->base);
    /* The CLI, not kumo: one balancer tagged with the uid, its listener and both targets. */
    char *out = moto_cli(&m, "us-east-1", "elbv2 describe-load-balancers");
    KUMO_EXPECT_INT_EQ(count_in(out, "\"LoadBalancerArn\""), 1);
    const char *at = out ? strstr(out, "\"LoadBalancerArn\": \"") : NULL;
    char arn[400] = "";
    if (at)
        snprintf(arn, sizeof(arn), "%.*s", (int)strcspn(at + 20, "\""), at + 20);
    free(out);
    snprintf(args, sizeof(args), "elbv2 describe-tags --resource-arns %s", arn);
    out = moto_cli(&m, "us-east-1", args);
    KUMO_EXPECT_CONTAINS(out, uid);
    free(out);
    snprintf(args, sizeof(args), "elbv2 describe-listeners --load-balancer-arn %s", arn);
    out = moto_cli(&m, "us-east-1", args);
    KUMO_EXPECT_CONTAINS(out, "\"Port\": 80");
    free(out);
    snprintf(args, sizeof(args), "elbv2 describe-target-groups --load-balancer-arn %s", arn);
    out = moto_cli(&m, "us-east-1", args);
    at = out ? strstr(out, "\"TargetGroupArn\": \"") : NULL;
    char group[400] = "";
    if (at)
        snprintf(group, sizeof(group), "%.*s", (int)strcspn(at + 19, "\""), at + 19);
    free(out);
    snprintf(args, sizeof(args), "elbv2 describe-target-health --target-group-arn %s", group);
    out = moto_cli(&m, "us-east-1", args);
    KUMO_EXPECT_INT_EQ(count_in(out, "\"State\": \"healthy\""), 2);
    free(out);
    /* Deleting the LoadBalancer, then the Infra, leaves nothing. */
    E2E_REQUIRE(&t, e2e_delete(&t, "LoadBalancer", "front") == 0);
    KUMO_EXPECT(e2e_wait(&t, 60, balancers_gone, &m));
    E2E_REQUIRE(&t, e2e_delete(&t, "Infra", "pool") == 0);
    KUMO_EXPECT(e2e_wait(&t, 60, pool_gone, &m));
    e2e_stop(&t);
    moto_stop(&m);
}
