/*
 * watch_test.c - events published once and in revision order with Prev
 * headers, bookmarks, watch catch-up and resume, Gone and relist.
 */
#include "tests/apiserver/helper.h"
#include "tests/harness/test.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long header_ll(natsMsg *m, const char *key)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK || v == NULL)
        return -1;
    return strtoll(v, NULL, 10);
}

static long long create(api_env *env, const char *name, const char *ns, const char *labels)
{
    char subject[128], rv[32];
    snprintf(subject, sizeof(subject), "kumo.v1.api.create.connections.%s", ns);
    const char *body = api_connection_json(name, ns, labels);
    api_reply r;
    api_request(env->nc, subject, NULL, body, strlen(body), &r);
    KUMO_EXPECT_INT_EQ(r.code, 201);
    long long revision =
        api_json_string(r.body, "resourceVersion", rv, sizeof(rv)) ? strtoll(rv, NULL, 10) : -1;
    api_reply_fini(&r);
    return revision;
}

static int count_items(const char *body)
{
    int n = 0;
    for (const char *p = body; (p = strstr(p, "\"type\":\"")) != NULL; p++)
        n++;
    return n;
}

KUMO_TEST(watch_catch_up)
{
    api_env env;
    api_env_start(&env, NULL);
    long long rev[6];
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof(name), "w%d", i);
        rev[i] =
            create(&env, name, i < 5 ? "default" : "team-b", i == 4 ? ",\"pick\":\"me\"" : NULL);
    }
    api_reply r;
    char from[32], rv[32], cont[32];
    snprintf(from, sizeof(from), "%lld", rev[1]);
    const char *h1[] = {"Kumo-Resource-Version", from, NULL};
    api_request(env.nc, "kumo.v1.api.watch.connections.default", h1, NULL, 0, &r);
    KUMO_REQUIRE_INT_EQ(r.code, 200);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 3); /* w2, w3, w4: not w5 in team-b */
    const char *w2 = strstr(r.body, "\"name\":\"w2\""), *w4 = strstr(r.body, "\"name\":\"w4\"");
    KUMO_EXPECT(w2 != NULL && w4 != NULL && w2 < w4);
    KUMO_EXPECT(strstr(r.body, "\"name\":\"w1\"") == NULL);
    KUMO_EXPECT(api_json_string(r.body, "continue", cont, sizeof(cont)) == NULL);
    KUMO_REQUIRE_PTR_NONNULL(api_json_string(r.body, "resourceVersion", rv, sizeof(rv)));
    KUMO_EXPECT_INT_GE(strtoll(rv, NULL, 10), rev[4]);
    api_reply_fini(&r);

    /* pages of 2 */
    const char *h2[] = {"Kumo-Resource-Version", from, "Kumo-Limit", "2", NULL};
    api_request(env.nc, "kumo.v1.api.watch.connections.default", h2, NULL, 0, &r);
    KUMO_REQUIRE_INT_EQ(r.code, 200);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 2);
    KUMO_REQUIRE_PTR_NONNULL(api_json_string(r.body, "continue", cont, sizeof(cont)));
    KUMO_EXPECT_INT_EQ(strtoll(cont, NULL, 10), rev[3]);
    api_reply_fini(&r);
    const char *h3[] = {"Kumo-Resource-Version", cont, "Kumo-Limit", "2", NULL};
    api_request(env.nc, "kumo.v1.api.watch.connections.default", h3, NULL, 0, &r);
    KUMO_REQUIRE_INT_EQ(r.code, 200);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 1);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"w4\"");
    api_reply_fini(&r);

    /* all namespaces with a selector */
    const char *h4[] = {"Kumo-Resource-Version", "0", "Kumo-Label-Selector", "pick=me", NULL};
    api_request(env.nc, "kumo.v1.api.watchall.connections", h4, NULL, 0, &r);
    KUMO_REQUIRE_INT_EQ(r.code, 200);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 1);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"w4\"");
    api_reply_fini(&r);
    const char *h5[] = {"Kumo-Resource-Version", "0", NULL};
    api_request(env.nc, "kumo.v1.api.watchall.connections", h5, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 6);
    api_reply_fini(&r);

    /* resume: list, change, watch from the list's revision */
    api_request(env.nc, "kumo.v1.api.list.connections.default", NULL, NULL, 0, &r);
    KUMO_REQUIRE_PTR_NONNULL(api_json_string(r.body, "resourceVersion", rv, sizeof(rv)));
    api_reply_fini(&r);
    const char *h6[] = {"Kumo-Resource-Version", rv, NULL};
    api_request(env.nc, "kumo.v1.api.watch.connections.default", h6, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 0);
    api_reply_fini(&r);
    const char *del[] = {"Kumo-Name", "w0", NULL};
    api_request(env.nc, "kumo.v1.api.delete.connections.default", del, NULL, 0, &r);
    api_reply_fini(&r);
    api_request(env.nc, "kumo.v1.api.watch.connections.default", h6, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 1);
    KUMO_EXPECT_CONTAINS(r.body, "\"type\":\"DELETED\"");
    api_reply_fini(&r);
    const char *bad[] = {"Kumo-Resource-Version", "-3", NULL};
    api_request(env.nc, "kumo.v1.api.watch.connections.default", bad, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    api_reply_fini(&r);
    api_env_stop(&env);
}

KUMO_TEST(watch_gone_relist)
{
    api_env env;
    api_env_options o = {.keep_revisions = 2, .keep_seconds_zero = 1};
    api_env_start(&env, &o);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof(name), "g%d", i);
        create(&env, name, "default", NULL);
    }
    KUMO_REQUIRE_INT_EQ(kumo_store_compact(env.store, NULL), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_GE(kumo_store_compacted_revision(env.store), 4);
    api_reply r;
    const char *old[] = {"Kumo-Resource-Version", "1", NULL};
    api_request(env.nc, "kumo.v1.api.watch.connections.default", old, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 410);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"Gone\"");
    api_reply_fini(&r);
    /* relist, then watch from the list's revision */
    char rv[32];
    api_request(env.nc, "kumo.v1.api.list.connections.default", NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_REQUIRE_PTR_NONNULL(api_json_string(r.body, "resourceVersion", rv, sizeof(rv)));
    api_reply_fini(&r);
    create(&env, "after", "default", NULL);
    const char *from[] = {"Kumo-Resource-Version", rv, NULL};
    api_request(env.nc, "kumo.v1.api.watch.connections.default", from, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 1);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"after\"");
    api_reply_fini(&r);
    api_env_stop(&env);
}

typedef struct writer {
    api_env *env;
    int id;
} writer;

static void *write_some(void *arg)
{
    writer *w = arg;
    natsConnection *nc = NULL;
    if (natsConnection_ConnectTo(&nc, kumo_natsd_url(w->env->natsd)) != NATS_OK)
        return NULL;
    for (int i = 0; i < 20; i++) {
        char name[32], subject[128];
        const char *ns = (i + w->id) % 2 ? "default" : "team-a";
        snprintf(name, sizeof(name), "e%d-%d", w->id, i);
        snprintf(subject, sizeof(subject), "kumo.v1.api.apply.connections.%s", ns);
        const char *body = api_connection_json(name, ns, NULL);
        api_reply r;
        api_request(nc, subject, NULL, body, strlen(body), &r);
        api_reply_fini(&r);
    }
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    return NULL;
}

KUMO_TEST(events_in_order_once)
{
    api_env env;
    api_env_start(&env, NULL);
    natsSubscription *sub = NULL;
    KUMO_REQUIRE_INT_EQ(
        natsConnection_SubscribeSync(&sub, env.nc, "kumo.v1.events.connections.*.*"), NATS_OK);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsConnection_Flush(env.nc);
    int64_t before = kumo_store_revision(env.store);
    enum { WRITERS = 8, TOTAL = WRITERS * 20 };
    writer writers[WRITERS];
    pthread_t threads[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (writer){.env = &env, .id = i};
        pthread_create(&threads[i], NULL, write_some, &writers[i]);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(threads[i], NULL);
    int64_t after = kumo_store_revision(env.store);
    KUMO_EXPECT_INT_EQ(after - before, TOTAL);

    long long last = before, last_default = 0, last_team = 0;
    int got = 0, in_order = 1, prev_ok = 1, prev_resource_ok = 1, commit_time = 1;
    natsMsg *m = NULL;
    while (got < TOTAL && natsSubscription_NextMsg(&m, sub, 3000) == NATS_OK) {
        if (strstr(natsMsg_GetSubject(m), "._bookmark") != NULL) {
            natsMsg_Destroy(m);
            continue;
        }
        long long rev = header_ll(m, "Kumo-Revision");
        long long prev = header_ll(m, "Kumo-Prev-Revision");
        long long prev_resource = header_ll(m, "Kumo-Prev-Resource-Revision");
        int is_default = strstr(natsMsg_GetSubject(m), ".default.") != NULL;
        in_order &= rev == last + 1;
        prev_resource_ok &= got == 0 ? prev_resource == 0 : prev_resource == last;
        long long *ns_last = is_default ? &last_default : &last_team;
        prev_ok &= prev == *ns_last;
        commit_time &= header_ll(m, "Kumo-Commit-Time") > 0;
        KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"type\":\"ADDED\"");
        *ns_last = rev;
        last = rev;
        got++;
        natsMsg_Destroy(m);
    }
    KUMO_EXPECT_INT_EQ(got, TOTAL);
    KUMO_EXPECT(in_order);
    KUMO_EXPECT(prev_ok);
    KUMO_EXPECT(prev_resource_ok);
    KUMO_EXPECT(commit_time);
    /* exactly once: nothing more arrives */
    int extra = 0;
    while (natsSubscription_NextMsg(&m, sub, 300) == NATS_OK) {
        extra += strstr(natsMsg_GetSubject(m), "._bookmark") == NULL;
        natsMsg_Destroy(m);
    }
    KUMO_EXPECT_INT_EQ(extra, 0);

    /* A watcher that missed an event sees it in Kumo-Prev-Revision and catches up. */
    long long r1 = create(&env, "gap1", "default", NULL);
    long long r2 = create(&env, "gap2", "default", NULL);
    long long seen_prev = -1;
    while (natsSubscription_NextMsg(&m, sub, 3000) == NATS_OK) {
        if (header_ll(m, "Kumo-Revision") == r2)
            seen_prev = header_ll(m, "Kumo-Prev-Revision");
        natsMsg_Destroy(m);
        if (seen_prev >= 0)
            break;
    }
    KUMO_EXPECT_INT_EQ(seen_prev, r1); /* a watcher at last_default != r1 knows it missed r1 */
    char from[32];
    snprintf(from, sizeof(from), "%lld", last_default);
    const char *h[] = {"Kumo-Resource-Version", from, NULL};
    api_reply r;
    api_request(env.nc, "kumo.v1.api.watch.connections.default", h, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(count_items(r.body), 2);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"gap1\"");
    api_reply_fini(&r);
    natsSubscription_Destroy(sub);
    api_env_stop(&env);
}

KUMO_TEST(bookmarks)
{
    api_env env;
    api_env_options o = {.bookmark_ms = 100};
    api_env_start(&env, &o);
    natsSubscription *sub = NULL;
    KUMO_REQUIRE_INT_EQ(natsConnection_SubscribeSync(&sub, env.nc, "kumo.v1.events.connections.>"),
                        NATS_OK);
    natsConnection_Flush(env.nc);
    create(&env, "b1", "default", NULL);
    create(&env, "b2", "team-c", NULL);
    long long last = create(&env, "b3", "default", NULL);
    long long ns_bookmark = -1, all_bookmark = -1, other_ns = -1;
    natsMsg *m = NULL;
    double deadline = kumo_test_now() + 3;
    while ((ns_bookmark < 0 || all_bookmark < 0 || other_ns < 0) && kumo_test_now() < deadline &&
           natsSubscription_NextMsg(&m, sub, 1000) == NATS_OK) {
        const char *subject = natsMsg_GetSubject(m);
        if (strcmp(subject, "kumo.v1.events.connections.default._bookmark") == 0) {
            ns_bookmark = header_ll(m, "Kumo-Revision");
            KUMO_EXPECT_CONTAINS(natsMsg_GetData(m), "\"type\":\"BOOKMARK\"");
        } else if (strcmp(subject, "kumo.v1.events.connections._all._bookmark") == 0) {
            all_bookmark = header_ll(m, "Kumo-Revision");
        } else if (strcmp(subject, "kumo.v1.events.connections.team-c._bookmark") == 0) {
            other_ns = header_ll(m, "Kumo-Revision");
        }
        natsMsg_Destroy(m);
    }
    KUMO_EXPECT_INT_EQ(ns_bookmark, last);
    KUMO_EXPECT_INT_EQ(all_bookmark, last);
    KUMO_EXPECT_INT_EQ(other_ns, last - 1);
    natsSubscription_Destroy(sub);
    api_env_stop(&env);
}

KUMO_TEST(nats_restart_keeps_serving)
{
    api_env env;
    api_env_start(&env, NULL);
    long long before = create(&env, "r1", "default", NULL);
    kumo_natsd_kill(env.natsd, SIGKILL);
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_natsd_restart(env.natsd, &d), KUMO_ERROR_OK);
    kumo_diag_fini(&d);
    /* kumod and this client reconnect by themselves */
    natsSubscription *sub = NULL;
    api_reply r;
    int code = 0;
    double deadline = kumo_test_now() + 15;
    while (code != 200 && kumo_test_now() < deadline) {
        const char *h[] = {"Kumo-Name", "r1", NULL};
        api_request(env.nc, "kumo.v1.api.get.connections.default", h, NULL, 0, &r);
        code = r.code;
        api_reply_fini(&r);
        if (code != 200) {
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    KUMO_REQUIRE_INT_EQ(code, 200);
    KUMO_REQUIRE_INT_EQ(
        natsConnection_SubscribeSync(&sub, env.nc, "kumo.v1.events.connections.default.*"),
        NATS_OK);
    natsConnection_Flush(env.nc);
    long long after = create(&env, "r2", "default", NULL);
    natsMsg *m = NULL;
    KUMO_REQUIRE_INT_EQ(natsSubscription_NextMsg(&m, sub, 5000), NATS_OK);
    KUMO_EXPECT_INT_EQ(header_ll(m, "Kumo-Revision"), after);
    KUMO_EXPECT_INT_EQ(header_ll(m, "Kumo-Prev-Revision"), before);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    api_env_stop(&env);
}
