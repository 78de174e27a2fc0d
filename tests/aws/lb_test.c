/*
 * lb_test.c - load balancers on a real moto server, checked with the AWS CLI:
 * a CreateLoadBalancer whose reply the fault proxy drops, retried, makes one
 * balancer; its target group holds the targets' instances and the listener
 * forwards to it; a draining target is deregistered; delete leaves no
 * balancer, listener or target group.
 */
#include "tests/aws/moto.h"
#include "tests/harness/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count_of(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* A running machine; its id and address. 0 when made. */
static int machine(moto *m, struct kumo_driver_conn *conn, const char *token, char *id, char *ip)
{
    struct kumo_driver_machine_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.name = token;
    spec.instance_type = "t3.micro";
    spec.image = "amazon-linux-2023";
    struct kumo_driver_machine *vm = NULL;
    struct kumo_driver_diag diag;
    if (m->drv->machine_create(conn, &spec, token, moto_deadline(m, 30), &vm, &diag) !=
        KUMO_DRIVER_OK) {
        fprintf(stderr, "machine_create: %s\n", diag.message);
        return -1;
    }
    snprintf(id, 32, "%s", vm->provider_id);
    snprintf(ip, 32, "%s", vm->private_ip);
    kumo_driver_free(m->host, vm);
    return 0;
}

static const struct kumo_driver_lb_target_status *
target_of(const struct kumo_driver_load_balancer *lb, const char *name)
{
    for (size_t i = 0; lb && i < lb->target_count; i++)
        if (strcmp(lb->targets[i]->name, name) == 0)
            return lb->targets[i];
    return NULL;
}

static char *cli(moto *m, const char *fmt, const char *arg)
{
    char args[600];
    snprintf(args, sizeof(args), fmt, arg);
    return moto_cli(m, "us-east-1", args);
}

KUMO_TEST(moto_load_balancer_lost_reply_and_cli)
{
    moto m;
    moto_start(&m);
    KUMO_REQUIRE_INT_EQ(moto_proxy_start(&m, ""), 0);
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    memset(&diag, 0, sizeof(diag));
    KUMO_REQUIRE_INT_EQ(moto_open(&m, "us-east-1", m.proxy_url, NULL, &conn, &diag),
                        KUMO_DRIVER_OK);
    char id_a[32], ip_a[32], id_b[32], ip_b[32];
    KUMO_REQUIRE(machine(&m, conn, "lb-vm-a", id_a, ip_a) == 0);
    KUMO_REQUIRE(machine(&m, conn, "lb-vm-b", id_b, ip_b) == 0);
    struct kumo_driver_lb_listener web = {sizeof(web), "web", 80, KUMO_DRIVER_LB_HTTP, "", ""};
    const struct kumo_driver_lb_listener *listeners[] = {&web};
    struct kumo_driver_lb_target ta = {sizeof(ta), "a", "web", ip_a, 8080, 1, 0, 0};
    struct kumo_driver_lb_target tb = {sizeof(tb), "b", "web", ip_b, 8080, 1, 0, 0};
    const struct kumo_driver_lb_target *targets[] = {&ta, &tb};
    struct kumo_driver_lb_health_check hc = {
        sizeof(hc), KUMO_DRIVER_LB_HTTP, "/healthz", 0, 10000, 5000, 2, 3};
    struct kumo_driver_tag tags[] = {{"team", "web"}};
    struct kumo_driver_load_balancer_spec spec = {sizeof(spec),
                                                  "front",
                                                  KUMO_DRIVER_LB_ROUND_ROBIN,
                                                  KUMO_DRIVER_LB_AFFINITY_NONE,
                                                  0,
                                                  "",
                                                  &hc,
                                                  listeners,
                                                  1,
                                                  targets,
                                                  2,
                                                  tags,
                                                  1};
    /* The first CreateLoadBalancer's reply is lost; the retry finds the balancer by name. */
    KUMO_REQUIRE_INT_EQ(moto_proxy_rules(&m, "{\"lose_actions\": [\"CreateLoadBalancer\"]}"), 0);
    struct kumo_driver_load_balancer *lb = NULL;
    KUMO_EXPECT_INT_EQ(
        m.drv->load_balancer_create(conn, &spec, "lb-token-1", moto_deadline(&m, 30), &lb, &diag),
        KUMO_DRIVER_UNAVAILABLE);
    KUMO_EXPECT_CONTAINS(diag.message, "CreateLoadBalancer");
    kumo_driver_code rc =
        m.drv->load_balancer_create(conn, &spec, "lb-token-1", moto_deadline(&m, 30), &lb, &diag);
    if (rc != KUMO_DRIVER_OK)
        fprintf(stderr, "load_balancer_create: %s\n", diag.message);
    KUMO_REQUIRE_INT_EQ(rc, KUMO_DRIVER_OK);
    KUMO_REQUIRE_INT_EQ(moto_proxy_rules(&m, "{\"lose_actions\": []}"), 0);
    KUMO_EXPECT_STR_EQ(lb->token, "lb-token-1");
    KUMO_EXPECT_STR_EQ(lb->name, "front");
    KUMO_EXPECT(strstr(lb->hostname, ".elb.amazonaws.com") != NULL);
    KUMO_EXPECT_INT_EQ((long long)lb->listener_count, 1);
    KUMO_EXPECT_INT_EQ((long long)lb->target_count, 2);
    const struct kumo_driver_lb_target_status *a = target_of(lb, "a");
    KUMO_EXPECT(a && a->health == KUMO_DRIVER_LB_HEALTH_HEALTHY && a->port == 8080);
    char id[64], arn[512] = "";
    snprintf(id, sizeof(id), "%s", lb->provider_id);
    kumo_driver_free(m.host, lb);

    /* The CLI sees one balancer, its group of two instances, the listener and the tags. */
    char *out = moto_cli(&m, "us-east-1", "elbv2 describe-load-balancers");
    KUMO_EXPECT_INT_EQ(count_of(out, "\"LoadBalancerArn\""), 1);
    KUMO_EXPECT_CONTAINS(out, "\"Type\": \"application\"");
    free(out);
    out = cli(&m, "elbv2 describe-load-balancers --names %s", id);
    const char *at = out ? strstr(out, "\"LoadBalancerArn\": \"") : NULL;
    if (at)
        snprintf(arn, sizeof(arn), "%.*s", (int)strcspn(at + 20, "\""), at + 20);
    KUMO_EXPECT(strncmp(arn, "arn:aws:elasticloadbalancing:", 29) == 0);
    free(out);
    out = cli(&m, "elbv2 describe-tags --resource-arns %s", arn);
    KUMO_EXPECT_CONTAINS(out, "\"Value\": \"lb-token-1\"");
    KUMO_EXPECT_CONTAINS(out, "\"Value\": \"web\"");
    free(out);
    out = cli(&m, "elbv2 describe-listeners --load-balancer-arn %s", arn);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"ListenerArn\""), 1);
    KUMO_EXPECT_CONTAINS(out, "\"Port\": 80");
    free(out);
    out = cli(&m, "elbv2 describe-target-groups --load-balancer-arn %s", arn);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"TargetGroupArn\""), 1);
    KUMO_EXPECT_CONTAINS(out, "\"TargetType\": \"instance\"");
    KUMO_EXPECT_CONTAINS(out, "\"HealthCheckPath\": \"/healthz\"");
    const char *g = out ? strstr(out, "\"TargetGroupArn\": \"") : NULL;
    char group[512] = "";
    if (g)
        snprintf(group, sizeof(group), "%.*s", (int)strcspn(g + 19, "\""), g + 19);
    free(out);
    out = cli(&m, "elbv2 describe-target-health --target-group-arn %s", group);
    KUMO_EXPECT_INT_EQ(count_of(out, "\"State\": \"healthy\""), 2);
    KUMO_EXPECT_CONTAINS(out, id_a);
    KUMO_EXPECT_CONTAINS(out, id_b);
    free(out);

    /* b drains: deregistered, shown draining. */
    tb.draining = 1;
    struct kumo_driver_ref ref = {id, NULL};
    struct kumo_driver_load_balancer_update u = {sizeof(u), KUMO_DRIVER_LOAD_BALANCER_SET_TARGETS,
                                                 &spec};
    lb = NULL;
    KUMO_EXPECT_INT_EQ(
        m.drv->load_balancer_update(conn, &ref, &u, moto_deadline(&m, 30), &lb, &diag),
        KUMO_DRIVER_OK);
    const struct kumo_driver_lb_target_status *b = target_of(lb, "b");
    KUMO_EXPECT(b && b->draining && b->health == KUMO_DRIVER_LB_HEALTH_DRAINING);
    kumo_driver_free(m.host, lb);
    out = cli(&m, "elbv2 describe-target-health --target-group-arn %s", group);
    KUMO_EXPECT_CONTAINS(out, id_a);
    KUMO_EXPECT(out && strstr(out, id_b) == NULL);
    free(out);

    /* delete: nothing of it is left. */
    KUMO_EXPECT_INT_EQ(m.drv->load_balancer_delete(conn, &ref, moto_deadline(&m, 30), &diag),
                       KUMO_DRIVER_OK);
    out = moto_cli(&m, "us-east-1", "elbv2 describe-load-balancers");
    KUMO_EXPECT_INT_EQ(count_of(out, "\"LoadBalancerArn\""), 0);
    free(out);
    out = moto_cli(&m, "us-east-1", "elbv2 describe-target-groups");
    KUMO_EXPECT_INT_EQ(count_of(out, "\"TargetGroupArn\""), 0);
    free(out);
    m.drv->close(conn);
    moto_stop(&m);
}
