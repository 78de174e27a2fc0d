/*
 * moto_test.c - the aws driver against a real moto server that checks every
 * signature: the signed calls work and a wrong secret is refused with AWS's
 * own code; the fault proxy's throttling and capacity errors reach the
 * driver's codes; a RunInstances whose reply is lost makes no duplicate when
 * the create is retried; concurrent lookups share DescribeInstances calls; and
 * the driver contract suite (tests/drivers/).
 * Results are checked with the AWS CLI, not with kumo.
 */
#include "tests/aws/moto.h"
#include "tests/drivers/contract.h"
#include "tests/harness/test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE "amazon-linux-2023"
#define TYPE  "t3.micro"

static int count_of(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static struct kumo_driver_machine_spec small_machine(const char *name)
{
    struct kumo_driver_machine_spec s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    s.name = name;
    s.instance_type = TYPE;
    s.image = IMAGE;
    return s;
}

KUMO_TEST(moto_signed_calls_and_wrong_secret)
{
    moto m;
    moto_start(&m);
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "eu-west-1", NULL, NULL, &conn, &diag), KUMO_DRIVER_OK);
    struct kumo_driver_region_list *regions = NULL;
    KUMO_EXPECT_INT_EQ(m.drv->catalog_regions(conn, moto_deadline(&m, 30), &regions, &diag),
                       KUMO_DRIVER_OK);
    int mine = 0;
    for (size_t i = 0; regions && i < regions->count; i++)
        if (strcmp(regions->items[i]->name, "eu-west-1") == 0) {
            mine = 1;
            KUMO_EXPECT_INT_GE(regions->items[i]->zone_count, 1);
            KUMO_EXPECT_STR_EQ(regions->items[i]->display_name, "Europe (Ireland)");
        }
    KUMO_EXPECT(mine);
    kumo_driver_free(m.host, regions);
    struct kumo_driver_image_list *images = NULL;
    KUMO_EXPECT_INT_EQ(m.drv->catalog_images(conn, moto_deadline(&m, 30), &images, &diag),
                       KUMO_DRIVER_OK);
    int al2023 = 0;
    for (size_t i = 0; images && i < images->count; i++)
        al2023 |= strcmp(images->items[i]->name, IMAGE) == 0 &&
                  strncmp(images->items[i]->provider_id, "ami-", 4) == 0;
    KUMO_EXPECT(al2023);
    kumo_driver_free(m.host, images);
    m.drv->close(conn);
    /* The same calls with a wrong secret: moto refuses the signature. */
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "eu-west-1", NULL, "wrong-secret", &conn, &diag),
                        KUMO_DRIVER_OK);
    regions = NULL;
    KUMO_EXPECT_INT_EQ(m.drv->catalog_regions(conn, moto_deadline(&m, 30), &regions, &diag),
                       KUMO_DRIVER_UNAUTHORIZED);
    KUMO_EXPECT(regions == NULL);
    KUMO_EXPECT_STR_EQ(diag.cloud_code, "AuthFailure");
    KUMO_EXPECT_CONTAINS(diag.message, "AuthFailure");
    KUMO_EXPECT_CONTAINS(diag.message, "DescribeRegions");
    m.drv->close(conn);
    moto_stop(&m);
}

KUMO_TEST(moto_faults_map_to_driver_codes)
{
    moto m;
    moto_start(&m);
    KUMO_REQUIRE_INT_EQ(moto_proxy_start(&m, "--capacity-regions us-west-2 --seed 7"), 0);
    struct kumo_driver_conn *west = NULL, *east = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "us-west-2", m.proxy_url, NULL, &west, &diag),
                        KUMO_DRIVER_OK);
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "us-east-1", m.proxy_url, NULL, &east, &diag),
                        KUMO_DRIVER_OK);
    struct kumo_driver_machine_spec spec = small_machine("cap");
    struct kumo_driver_machine *vm = NULL;
    KUMO_EXPECT_INT_EQ(
        m.drv->machine_create(west, &spec, "fault-cap-1", moto_deadline(&m, 30), &vm, &diag),
        KUMO_DRIVER_CAPACITY);
    KUMO_EXPECT_STR_EQ(diag.cloud_code, "InsufficientInstanceCapacity");
    KUMO_EXPECT_CONTAINS(diag.message, "us-west-2");
    KUMO_EXPECT_INT_EQ(
        m.drv->machine_create(east, &spec, "fault-cap-1", moto_deadline(&m, 30), &vm, &diag),
        KUMO_DRIVER_OK);
    kumo_driver_free(m.host, vm);
    KUMO_REQUIRE_INT_EQ(moto_proxy_rules(&m, "{\"throttle\": 1.0}"), 0);
    struct kumo_driver_ref ref = {NULL, "fault-cap-1"};
    vm = NULL;
    KUMO_EXPECT_INT_EQ(m.drv->machine_observe(east, &ref, moto_deadline(&m, 30), &vm, &diag),
                       KUMO_DRIVER_THROTTLED);
    KUMO_EXPECT_STR_EQ(diag.cloud_code, "RequestLimitExceeded");
    KUMO_EXPECT(diag.retry_after_ms > 0);
    KUMO_REQUIRE_INT_EQ(moto_proxy_rules(&m, "{\"throttle\": 0}"), 0);
    KUMO_EXPECT_INT_EQ(m.drv->machine_observe(east, &ref, moto_deadline(&m, 30), &vm, &diag),
                       KUMO_DRIVER_OK);
    kumo_driver_free(m.host, vm);
    /* The CLI sees one instance in us-east-1, none in us-west-2. */
    char *out = moto_cli(&m, "us-east-1",
                         "ec2 describe-instances --filters "
                         "Name=tag:kumo:uid,Values=fault-cap-1");
    KUMO_EXPECT_INT_EQ(count_of(out, "\"InstanceId\""), 1);
    free(out);
    out = moto_cli(&m, "us-west-2", "ec2 describe-instances");
    KUMO_EXPECT_INT_EQ(count_of(out, "\"InstanceId\""), 0);
    free(out);
    m.drv->close(west);
    m.drv->close(east);
    moto_stop(&m);
}

KUMO_TEST(moto_lost_run_reply_no_duplicate)
{
    moto m;
    moto_start(&m);
    KUMO_REQUIRE_INT_EQ(moto_proxy_start(&m, "--lose-run 1.0"), 0);
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "us-east-1", m.proxy_url, NULL, &conn, &diag),
                        KUMO_DRIVER_OK);
    struct kumo_driver_machine_spec spec = small_machine("lost");
    struct kumo_driver_machine *vm = NULL;
    /* moto made the instance, the reply never came: outcome unknown. */
    kumo_driver_code rc =
        m.drv->machine_create(conn, &spec, "lost-reply-1", moto_deadline(&m, 30), &vm, &diag);
    KUMO_EXPECT(rc == KUMO_DRIVER_UNAVAILABLE || rc == KUMO_DRIVER_TIMEOUT);
    KUMO_EXPECT(vm == NULL);
    char stats[2048] = "";
    KUMO_EXPECT_INT_EQ(moto_proxy_stats(&m, stats, sizeof(stats)), 0);
    KUMO_EXPECT_CONTAINS(stats, "\"lost\": 1");
    /* Retried (as the controller does): the tag lookup finds it; nothing new is made. */
    for (int i = 0; i < 3; i++) {
        KUMO_EXPECT_INT_EQ(
            m.drv->machine_create(conn, &spec, "lost-reply-1", moto_deadline(&m, 30), &vm, &diag),
            KUMO_DRIVER_OK);
        if (vm)
            KUMO_EXPECT_STR_EQ(vm->token, "lost-reply-1");
        kumo_driver_free(m.host, vm);
        vm = NULL;
    }
    KUMO_EXPECT_INT_EQ(moto_proxy_stats(&m, stats, sizeof(stats)), 0);
    KUMO_EXPECT_CONTAINS(stats, "\"run_instances_ok\": 1");
    char *out = moto_cli(&m, "us-east-1", "ec2 describe-instances");
    KUMO_EXPECT_INT_EQ(count_of(out, "\"InstanceId\""), 1);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"Value\": \"lost-reply-1\""), 1);
    free(out);
    m.drv->close(conn);
    moto_stop(&m);
}

/* ---- The driver contract suite against moto ------------------------------------------- */

/* Opens the contract environment on a fresh moto (prices from the example file). Three cases
 * share a moto server each: its start and IAM setup cost more than most checks. */
#define AWS_CONTRACT(name, checks)                                                                 \
    KUMO_TEST(contract_##name)                                                                     \
    {                                                                                              \
        moto m;                                                                                    \
        moto_start(&m);                                                                            \
        char prices[512];                                                                          \
        KUMO_REQUIRE(kumo_test_source_path("examples/aws-prices.txt", prices, sizeof(prices)));    \
        struct kumo_driver_kv config[] = {                                                         \
            {"region", "us-east-1"}, {"endpoint", m.url}, {"price_file", prices}};                 \
        struct kumo_driver_kv creds[] = {{"accessKeyId", m.key_id},                                \
                                         {"secretAccessKey", m.secret}};                           \
        struct kumo_driver_open_args args = {sizeof(args), "test/aws", config, 3, creds, 2};       \
        struct contract_env env = {m.drv, m.host, &args, TYPE, IMAGE, 0, 0, 0};                    \
        checks;                                                                                    \
        moto_stop(&m);                                                                             \
    }

AWS_CONTRACT(resources, (contract_create_idempotent(&env), contract_observe_after_restart(&env),
                         contract_delete_idempotent(&env), contract_list_by_tag(&env),
                         contract_dependencies(&env)))
AWS_CONTRACT(machines, (contract_deadlines(&env), contract_machine_boots(&env),
                        contract_machine_update(&env)))
AWS_CONTRACT(catalog_and_bad_input, (contract_catalog(&env), contract_bad_input(&env)))
/* moto reports a registered running instance healthy at once: its targets "answer". */
AWS_CONTRACT(load_balancer, (env.lb_targets_answer = 1, contract_load_balancer(&env)))

/* ---- Concurrent lookups share DescribeInstances calls -------------------------------------- */

#define LOOKERS 24

struct looker {
    moto *m;
    struct kumo_driver_conn *conn;
    char token[32];
    char id[32];
    kumo_driver_code rc;
    int matches;
};

static void *look(void *arg)
{
    struct looker *l = arg;
    struct kumo_driver_ref ref = {NULL, l->token};
    struct kumo_driver_machine *vm = NULL;
    struct kumo_driver_diag diag;
    l->rc = l->m->drv->machine_observe(l->conn, &ref, moto_deadline(l->m, 30), &vm, &diag);
    l->matches = vm && strcmp(vm->token, l->token) == 0 && strcmp(vm->provider_id, l->id) == 0;
    kumo_driver_free(l->m->host, vm);
    return NULL;
}

static double calls_of(moto *m, struct kumo_driver_conn *conn)
{
    char *json = NULL;
    struct kumo_driver_diag diag;
    KUMO_REQUIRE_INT_EQ(m->drv->control(conn, "stats", NULL, &json, &diag), KUMO_DRIVER_OK);
    const char *at = strstr(json, "\"calls\":");
    double calls = at ? strtod(at + 8, NULL) : -1;
    kumo_driver_free(m->host, json);
    return calls;
}

KUMO_TEST(moto_concurrent_lookups_share_calls)
{
    moto m;
    moto_start(&m);
    KUMO_REQUIRE_INT_EQ(moto_proxy_start(&m, "--latency-ms 100"), 0);
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "us-east-1", m.proxy_url, NULL, &conn, &diag),
                        KUMO_DRIVER_OK);
    static struct looker l[LOOKERS];
    struct kumo_driver_machine_spec spec = small_machine("look");
    for (int i = 0; i < LOOKERS; i++) {
        struct kumo_driver_machine *vm = NULL;
        l[i] = (struct looker){&m, conn, "", "", 0, 0};
        snprintf(l[i].token, sizeof(l[i].token), "look-%d", i);
        KUMO_REQUIRE_INT_EQ(
            m.drv->machine_create(conn, &spec, l[i].token, moto_deadline(&m, 30), &vm, &diag),
            KUMO_DRIVER_OK);
        snprintf(l[i].id, sizeof(l[i].id), "%s", vm->provider_id);
        kumo_driver_free(m.host, vm);
    }
    double before = calls_of(&m, conn);
    pthread_t threads[LOOKERS];
    for (int i = 0; i < LOOKERS; i++)
        KUMO_REQUIRE_INT_EQ(pthread_create(&threads[i], NULL, look, &l[i]), 0);
    int matches = 0;
    for (int i = 0; i < LOOKERS; i++) {
        pthread_join(threads[i], NULL);
        KUMO_EXPECT_INT_EQ(l[i].rc, KUMO_DRIVER_OK);
        matches += l[i].matches;
    }
    double calls = calls_of(&m, conn) - before;
    fprintf(stderr, "%d concurrent observes: %.0f DescribeInstances calls\n", LOOKERS, calls);
    KUMO_EXPECT_INT_EQ(matches, LOOKERS);
    KUMO_EXPECT(calls >= 1 && calls < LOOKERS / 2);
    m.drv->close(conn);
    moto_stop(&m);
}

/* ---- public_networks: internet gateway, default route, public addresses --------------------- */

KUMO_TEST(moto_public_network)
{
    moto m;
    moto_start(&m);
    struct kumo_driver_kv config[] = {
        {"region", "eu-west-1"}, {"endpoint", m.url}, {"public_networks", "true"}};
    struct kumo_driver_kv creds[] = {{"accessKeyId", m.key_id}, {"secretAccessKey", m.secret}};
    struct kumo_driver_open_args args = {sizeof(args), "test/aws", config, 3, creds, 2};
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    KUMO_REQUIRE_INT_EQ(m.drv->open(&args, &conn, &diag), KUMO_DRIVER_OK);
    struct kumo_driver_subnet subnets[2] = {{"a", "10.40.1.0/24", NULL, NULL},
                                            {"b", "10.40.2.0/24", NULL, NULL}};
    struct kumo_driver_network_spec ns;
    memset(&ns, 0, sizeof(ns));
    ns.struct_size = sizeof(ns);
    ns.name = "public";
    ns.cidr = "10.40.0.0/16";
    ns.subnets = subnets;
    ns.subnet_count = 2;
    struct kumo_driver_network *net = NULL;
    for (int i = 0; i < 2; i++) { /* the second create finds everything in place */
        kumo_driver_free(m.host, net);
        net = NULL;
        KUMO_REQUIRE_INT_EQ(
            m.drv->network_create(conn, &ns, "public-net-1", moto_deadline(&m, 30), &net, &diag),
            KUMO_DRIVER_OK);
    }
    char args_text[256];
    snprintf(args_text, sizeof(args_text),
             "ec2 describe-internet-gateways --filters Name=attachment.vpc-id,Values=%s",
             net->provider_id);
    char *out = moto_cli(&m, "eu-west-1", args_text);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"InternetGatewayId\""), 1);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"Value\": \"public-net-1\""), 1);
    free(out);
    snprintf(args_text, sizeof(args_text),
             "ec2 describe-route-tables --filters Name=vpc-id,Values=%s", net->provider_id);
    out = moto_cli(&m, "eu-west-1", args_text);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"DestinationCidrBlock\": \"0.0.0.0/0\""), 1);
    KUMO_EXPECT_CONTAINS(out, "\"GatewayId\": \"igw-");
    free(out);
    snprintf(args_text, sizeof(args_text), "ec2 describe-subnets --filters Name=vpc-id,Values=%s",
             net->provider_id);
    out = moto_cli(&m, "eu-west-1", args_text);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"MapPublicIpOnLaunch\": true"), 2);
    free(out);
    /* A machine in it gets a public address. */
    struct kumo_driver_machine_spec spec = small_machine("pub");
    spec.subnet_id = net->subnets[0].provider_id;
    struct kumo_driver_machine *vm = NULL;
    KUMO_REQUIRE_INT_EQ(
        m.drv->machine_create(conn, &spec, "public-vm-1", moto_deadline(&m, 30), &vm, &diag),
        KUMO_DRIVER_OK);
    KUMO_EXPECT(vm->public_ip[0] != '\0');
    struct kumo_driver_ref vm_ref = {vm->provider_id, NULL};
    KUMO_EXPECT_INT_EQ(m.drv->machine_delete(conn, &vm_ref, moto_deadline(&m, 30), &diag),
                       KUMO_DRIVER_OK);
    kumo_driver_free(m.host, vm);
    struct kumo_driver_ref ref = {net->provider_id, NULL};
    KUMO_EXPECT_INT_EQ(m.drv->network_delete(conn, &ref, moto_deadline(&m, 30), &diag),
                       KUMO_DRIVER_OK);
    out = moto_cli(&m, "eu-west-1", "ec2 describe-internet-gateways");
    KUMO_EXPECT_INT_EQ(count_of(out, "public-net-1"), 0);
    free(out);
    out = moto_cli(&m, "eu-west-1", "ec2 describe-vpcs");
    KUMO_EXPECT_INT_EQ(count_of(out, net->provider_id), 0);
    free(out);
    kumo_driver_free(m.host, net);
    m.drv->close(conn);
    moto_stop(&m);
}
