/*
 * contract_lb.c - the load balancer part of the driver contract suite (ABI
 * 1.2, KUMO_DRIVER_CAP_LOAD_BALANCERS): idempotent create by token, observe
 * by id and by token, targets with health and reasons, draining, a gone
 * machine's target turning unhealthy, list by tag, update refusing bad input
 * and keeping the old state, delete then NOT_FOUND. Uses driver.h and the
 * test harness only.
 */
#include "tests/drivers/contract.h"
#include "tests/harness/test.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LONG 30.0

static int64_t deadline(const struct contract_env *env, double seconds)
{
    return env->host->monotonic_ns(env->host->ctx) + (int64_t)(seconds * 1e9);
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* A spec with listener "web" (HTTP 8080) and targets: "m" at address, "ghost" at 192.0.2.1. */
struct lb_fixture {
    struct kumo_driver_lb_listener listener;
    const struct kumo_driver_lb_listener *listeners[1];
    struct kumo_driver_lb_target targets[2];
    const struct kumo_driver_lb_target *target_ptrs[2];
    struct kumo_driver_lb_health_check hc;
    struct kumo_driver_tag tags[1];
    struct kumo_driver_load_balancer_spec spec;
};

static void fixture_fill(struct lb_fixture *f, const char *address, const char *group)
{
    memset(f, 0, sizeof(*f));
    f->listener = (struct kumo_driver_lb_listener){sizeof(f->listener), "web", 8080,
                                                   KUMO_DRIVER_LB_HTTP, "",    ""};
    f->listeners[0] = &f->listener;
    f->targets[0] =
        (struct kumo_driver_lb_target){sizeof(f->targets[0]), "m", "web", address, 8080, 1, 0, 0};
    f->targets[1] = (struct kumo_driver_lb_target){
        sizeof(f->targets[1]), "ghost", "web", "192.0.2.1", 8080, 1, 0, 0};
    f->target_ptrs[0] = &f->targets[0];
    f->target_ptrs[1] = &f->targets[1];
    f->hc = (struct kumo_driver_lb_health_check){
        sizeof(f->hc), KUMO_DRIVER_LB_TCP, "", 0, 100, 100, 1, 2};
    f->tags[0] = (struct kumo_driver_tag){"kumo:contract-group", group};
    f->spec = (struct kumo_driver_load_balancer_spec){sizeof(f->spec),
                                                      "contract",
                                                      KUMO_DRIVER_LB_ROUND_ROBIN,
                                                      KUMO_DRIVER_LB_AFFINITY_NONE,
                                                      0,
                                                      "",
                                                      &f->hc,
                                                      f->listeners,
                                                      1,
                                                      f->target_ptrs,
                                                      2,
                                                      f->tags,
                                                      1};
}

static const struct kumo_driver_lb_target_status *
target_of(const struct kumo_driver_load_balancer *lb, const char *name)
{
    for (size_t i = 0; lb && i < lb->target_count; i++)
        if (strcmp(lb->targets[i]->name, name) == 0)
            return lb->targets[i];
    return NULL;
}

/* Observes until target `name` has health `want` (or 10 s pass); 1 when it did. */
static int wait_health(const struct contract_env *env, struct kumo_driver_conn *conn,
                       const struct kumo_driver_ref *ref, const char *name, int want)
{
    for (int i = 0; i < 200; i++) {
        struct kumo_driver_load_balancer *lb = NULL;
        struct kumo_driver_diag diag;
        kumo_driver_code rc =
            env->driver->load_balancer_observe(conn, ref, deadline(env, LONG), &lb, &diag);
        const struct kumo_driver_lb_target_status *t =
            rc == KUMO_DRIVER_OK ? target_of(lb, name) : NULL;
        int ok = t && t->health == want;
        if (t && want == KUMO_DRIVER_LB_HEALTH_UNHEALTHY && ok)
            KUMO_EXPECT(t->reason[0] != '\0'); /* why, in the data plane's words */
        kumo_driver_free(env->host, lb);
        if (ok)
            return 1;
        nap_ms(50);
    }
    return 0;
}

/* A machine for the target; its address in ip. 0 when made. */
static int machine_for_target(const struct contract_env *env, struct kumo_driver_conn *conn,
                              const char *token, char *id, char *ip, size_t size)
{
    struct kumo_driver_machine_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.name = "lb-target";
    spec.instance_type = env->instance_type;
    spec.image = env->image;
    struct kumo_driver_machine *m = NULL;
    struct kumo_driver_diag diag;
    if (env->driver->machine_create(conn, &spec, token, deadline(env, LONG), &m, &diag) !=
        KUMO_DRIVER_OK) {
        fprintf(stderr, "machine_create: %s\n", diag.message);
        return -1;
    }
    snprintf(id, size, "%s", m->provider_id);
    snprintf(ip, size, "%s", m->private_ip);
    kumo_driver_free(env->host, m);
    nap_ms((int)(env->boot_seconds * 1000) + 100);
    return 0;
}

void contract_load_balancer(const struct contract_env *env)
{
    if (!(env->driver->capabilities & KUMO_DRIVER_CAP_LOAD_BALANCERS))
        kumo_test_skip("the driver has no load balancers");
    struct kumo_driver_conn *conn = NULL;
    struct kumo_driver_diag diag;
    KUMO_REQUIRE_INT_EQ(env->driver->open(env->open_args, &conn, &diag), KUMO_DRIVER_OK);
    char token[96], mtoken[112], id[64], ip[64], group[64];
    snprintf(token, sizeof(token), "ct-lb-%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(mtoken, sizeof(mtoken), "%s-m", token);
    snprintf(group, sizeof(group), "lb-%ld", (long)getpid());
    KUMO_REQUIRE(machine_for_target(env, conn, mtoken, id, ip, sizeof(ip)) == 0);
    struct lb_fixture f;
    fixture_fill(&f, ip, group);

    /* Two creates with one token make one load balancer with an address. */
    struct kumo_driver_load_balancer *a = NULL, *b = NULL;
    KUMO_REQUIRE_INT_EQ(
        env->driver->load_balancer_create(conn, &f.spec, token, deadline(env, LONG), &a, &diag),
        KUMO_DRIVER_OK);
    KUMO_REQUIRE_INT_EQ(
        env->driver->load_balancer_create(conn, &f.spec, token, deadline(env, LONG), &b, &diag),
        KUMO_DRIVER_OK);
    KUMO_EXPECT_STR_EQ(a->provider_id, b->provider_id);
    KUMO_EXPECT_STR_EQ(a->token, token);
    KUMO_EXPECT(a->address[0] != '\0');
    KUMO_EXPECT_INT_EQ((long long)a->listener_count, 1);
    KUMO_EXPECT_STR_EQ(a->listeners[0]->tls_private_key_pem, "");
    char lb_id[64];
    snprintf(lb_id, sizeof(lb_id), "%s", a->provider_id);
    kumo_driver_free(env->host, a);
    kumo_driver_free(env->host, b);
    struct kumo_driver_ref by_id = {lb_id, NULL}, by_token = {NULL, token};

    /* Health as the data plane sees it: a ghost address is unhealthy, with a reason. */
    KUMO_EXPECT(wait_health(env, conn, &by_token, "ghost", KUMO_DRIVER_LB_HEALTH_UNHEALTHY));
    if (env->lb_targets_answer)
        KUMO_EXPECT(wait_health(env, conn, &by_id, "m", KUMO_DRIVER_LB_HEALTH_HEALTHY));

    /* Draining is shown; a bad update is refused and changes nothing. */
    f.targets[0].draining = 1;
    struct kumo_driver_load_balancer_update u = {sizeof(u), KUMO_DRIVER_LOAD_BALANCER_SET_TARGETS,
                                                 &f.spec};
    KUMO_EXPECT_INT_EQ(
        env->driver->load_balancer_update(conn, &by_id, &u, deadline(env, LONG), &a, &diag),
        KUMO_DRIVER_OK);
    const struct kumo_driver_lb_target_status *t = target_of(a, "m");
    KUMO_EXPECT(t != NULL && t->draining == 1);
    kumo_driver_free(env->host, a);
    if (env->lb_targets_answer)
        KUMO_EXPECT(wait_health(env, conn, &by_id, "m", KUMO_DRIVER_LB_HEALTH_DRAINING));
    f.targets[1].listener = "nope";
    a = NULL;
    KUMO_EXPECT_INT_EQ(
        env->driver->load_balancer_update(conn, &by_id, &u, deadline(env, LONG), &a, &diag),
        KUMO_DRIVER_INVALID);
    KUMO_EXPECT(a == NULL && diag.message[0] != '\0');
    f.targets[1].listener = "web";

    /* The target's machine goes: its target turns unhealthy. */
    KUMO_EXPECT_INT_EQ(env->driver->machine_delete(conn, &(struct kumo_driver_ref){id, NULL},
                                                   deadline(env, LONG), &diag),
                       KUMO_DRIVER_OK);
    f.targets[0].draining = 0;
    KUMO_EXPECT_INT_EQ(
        env->driver->load_balancer_update(conn, &by_id, &u, deadline(env, LONG), &a, &diag),
        KUMO_DRIVER_OK);
    kumo_driver_free(env->host, a);
    KUMO_EXPECT(wait_health(env, conn, &by_id, "m", KUMO_DRIVER_LB_HEALTH_UNHEALTHY));

    /* list by tag finds exactly it. */
    struct kumo_driver_load_balancer_list *list = NULL;
    struct kumo_driver_filter filter = {"kumo:contract-group", group};
    KUMO_EXPECT_INT_EQ(
        env->driver->load_balancer_list(conn, &filter, deadline(env, LONG), &list, &diag),
        KUMO_DRIVER_OK);
    KUMO_EXPECT(list != NULL && list->count == 1);
    if (list && list->count == 1)
        KUMO_EXPECT_STR_EQ(list->items[0]->provider_id, lb_id);
    kumo_driver_free(env->host, list);

    /* delete, then NOT_FOUND for delete and observe. */
    KUMO_EXPECT_INT_EQ(env->driver->load_balancer_delete(conn, &by_id, deadline(env, LONG), &diag),
                       KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(
        env->driver->load_balancer_delete(conn, &by_token, deadline(env, LONG), &diag),
        KUMO_DRIVER_NOT_FOUND);
    a = NULL;
    KUMO_EXPECT_INT_EQ(
        env->driver->load_balancer_observe(conn, &by_id, deadline(env, LONG), &a, &diag),
        KUMO_DRIVER_NOT_FOUND);
    KUMO_EXPECT(a == NULL);
    env->driver->close(conn);
}
