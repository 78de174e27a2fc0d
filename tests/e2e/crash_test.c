/*
 * crash_test.c - crash safety: a 500-machine rollout while kumod is killed
 * with SIGKILL at 30 random moments and restarted each time. At the end the
 * simulated cloud must hold exactly the desired resources: one running VM
 * per Machine object (its token is the Machine's uid), one Network,
 * SecurityGroup and KeyPair per connection, nothing else, nothing twice.
 *
 * Settings (to fit a few minutes on 2 cores under ASan): 5 connections in 5
 * regions of one sim account, 100 machines each, sim API latency 5 +- 3 ms,
 * boot 0.5 s, 8 calls/s per connection (the ~1000 create and observe calls
 * take about 25 s), kills 0.2-1.5 s after each restart answers.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "tests/e2e/e2e.h"

#define CONNECTIONS 5
#define PER_GROUP   100
#define KILLS       30
#define QPS         8

static const char *const regions[CONNECTIONS] = {"us-east-1", "us-west-2", "eu-west-1",
                                                 "ap-southeast-1", "sa-east-1"};

static int converged(e2e *t, void *arg)
{
    (void)arg;
    return e2e_infra_ready(t, "fleet", CONNECTIONS * PER_GROUP);
}

/* Every object uid of `kind` (paged list), as a malloc'd array of malloc'd strings. */
static char **uids_of(e2e *t, const char *kind, size_t *count_out)
{
    char **uids = NULL, *token = NULL;
    size_t count = 0;
    for (;;) {
        kumo_client_list_options lo = {.limit = 500, .continue_token = token};
        ProtobufCMessage *list = NULL;
        kumo_diag d;
        kumo_diag_init(&d);
        kumo_error e =
            kumo_client_list(t->client, kumo_object_kind_lookup(kind), "default", &lo, &list, &d);
        kumo_diag_fini(&d);
        free(token);
        token = NULL;
        if (e != KUMO_ERROR_OK)
            break;
        const ProtobufCFieldDescriptor *fi =
            protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "items");
        const ProtobufCFieldDescriptor *fm =
            protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "metadata");
        size_t n = *(const size_t *)((const char *)list + fi->quantifier_offset);
        ProtobufCMessage *const *items =
            *(ProtobufCMessage *const *const *)((const char *)list + fi->offset);
        char **grown = realloc(uids, (count + n + 1) * sizeof(*grown));
        if (grown == NULL) {
            kumo_object_destroy(list);
            break;
        }
        uids = grown;
        for (size_t i = 0; i < n; i++)
            uids[count++] = strdup(kumo_object_meta(items[i])->uid);
        const Kumo__V1alpha1__ListMeta *lm =
            *(const Kumo__V1alpha1__ListMeta *const *)((const char *)list + fm->offset);
        if (lm && lm->continue_ && lm->continue_[0])
            token = strdup(lm->continue_);
        kumo_object_destroy(list);
        if (token == NULL)
            break;
    }
    *count_out = count;
    return uids;
}

static void strings_free(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Checks that the inventory's `what` equals the objects of `kind` exactly: the
 * same number, each token a uid, no token twice, each machine running.
 */
static void expect_exact(e2e *t, const kumo_value *inv, const char *what, const char *kind)
{
    size_t n_uids = 0;
    char **uids = uids_of(t, kind, &n_uids);
    qsort(uids, n_uids, sizeof(*uids), compare_strings);
    const kumo_value *list = kumo_codec_value_get(inv, what);
    size_t n = list ? list->count : 0, unknown = 0, duplicates = 0, not_running = 0;
    char **tokens = calloc(n + 1, sizeof(*tokens));
    for (size_t i = 0; i < n; i++) {
        tokens[i] = (char *)e2e_string(list->items[i], "token");
        const char *key = tokens[i];
        if (uids == NULL || bsearch(&key, uids, n_uids, sizeof(*uids), compare_strings) == NULL)
            unknown++;
        if (strcmp(what, "machines") == 0 &&
            strcmp(e2e_string(list->items[i], "state"), "running") != 0)
            not_running++;
    }
    qsort(tokens, n, sizeof(*tokens), compare_strings);
    for (size_t i = 1; i < n; i++)
        duplicates += strcmp(tokens[i - 1], tokens[i]) == 0;
    fprintf(stderr, "%s: cloud %zu, objects %zu, unknown tokens %zu, duplicates %zu%s\n", what, n,
            n_uids, unknown, duplicates, strcmp(what, "machines") == 0 ? "" : "");
    KUMO_EXPECT_INT_EQ(n, n_uids);
    KUMO_EXPECT_INT_EQ(unknown, 0);
    KUMO_EXPECT_INT_EQ(duplicates, 0);
    KUMO_EXPECT_INT_EQ(not_running, 0);
    free(tokens);
    strings_free(uids, n_uids);
}

KUMO_TEST(crash_rollout_500)
{
    e2e t;
    e2e_start(&t, "30");
    double started = kumo_test_now();
    /* Random kill moments; KUMO_CRASH_SEED replays a run. */
    const char *seed_env = getenv("KUMO_CRASH_SEED");
    unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "kill schedule seed %u (KUMO_CRASH_SEED=%u replays it)\n", seed, seed);
    srand(seed);
    char groups[4096];
    size_t at = 0;
    for (int i = 0; i < CONNECTIONS; i++) {
        char name[8];
        snprintf(name, sizeof(name), "c%d", i);
        E2E_REQUIRE(&t, e2e_sim_connection(&t, name, regions[i], QPS, 10, 4, NULL) == 0);
        at += (size_t)snprintf(groups + at, sizeof(groups) - at,
                               "%s{\"name\": \"g%d\", \"size\": %d, \"connection\": \"c%d\","
                               " \"instanceType\": \"t3.micro\", \"image\": \"ubuntu-22.04\"}",
                               i ? "," : "", i, PER_GROUP, i);
    }
    E2E_REQUIRE(&t, e2e_apply(&t,
                              "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\","
                              " \"metadata\": {\"name\": \"fleet\", \"namespace\": \"default\"},"
                              " \"spec\": {\"groups\": [%s]}}",
                              groups) == 0);
    int converged_during_kills = -1;
    for (int k = 0; k < KILLS; k++) {
        int pause = 200 + rand() % 1300;
        e2e_sleep_ms(pause);
        if (converged_during_kills < 0 && converged(&t, NULL))
            converged_during_kills = k;
        e2e_kumod_kill(&t, SIGKILL);
        E2E_REQUIRE(&t, e2e_kumod_start(&t) == 0);
    }
    if (converged_during_kills < 0)
        fprintf(stderr, "%d kills done after %.1f s, the rollout still going\n", KILLS,
                kumo_test_now() - started);
    else
        fprintf(stderr, "%d kills done after %.1f s; the rollout had converged before kill %d\n",
                KILLS, kumo_test_now() - started, converged_during_kills + 1);
    int ok = e2e_wait(&t, 120, converged, NULL);
    if (!ok)
        e2e_dump_log(&t, 60);
    E2E_REQUIRE(&t, ok);
    fprintf(stderr, "converged after %.1f s\n", kumo_test_now() - started);
    kumo_value *inv = e2e_inventory(&t);
    E2E_REQUIRE(&t, inv != NULL);
    expect_exact(&t, inv, "machines", "Machine");
    expect_exact(&t, inv, "networks", "Network");
    expect_exact(&t, inv, "securityGroups", "SecurityGroup");
    expect_exact(&t, inv, "keyPairs", "KeyPair");
    KUMO_EXPECT_INT_EQ(e2e_inventory_count(inv, "machines"), CONNECTIONS * PER_GROUP);
    kumo_codec_value_destroy(inv);
    e2e_stop(&t);
}
