/*
 * http_test.c - the HTTPS API in process, through libcurl: discovery,
 * authentication, every verb with its Status, bad input, watches (one, a
 * compacted revision, a thousand at once) and the two front doors together.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/test.h"
#include "tests/kubeapi/fixture.h"

#define NS_PATH "/apis/kumo.dev/v1alpha1/namespaces/default/connections"

static const char *connection(const char *name, const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\",\"metadata\":"
             "{\"name\":\"%s\",\"labels\":{\"tier\":\"web\"}},\"spec\":{\"driver\":\"sim\","
             "\"provider\":\"aws\",\"region\":\"us-east-1\"%s}}",
             name, extra ? extra : "");
    return buf;
}

static long post(const kube_env *env, const char *name)
{
    http_reply r;
    const char *body = connection(name, NULL);
    kube_http(env, "POST", NS_PATH, NULL, "application/json", NULL, body, strlen(body), &r);
    long code = r.code;
    if (code != 201)
        fprintf(stderr, "POST %s: %ld %s\n", name, code, r.body);
    http_reply_fini(&r);
    return code;
}

static int metrics_handler(void *ctx, const char *path, kumo_codec_buffer *body,
                           const char **content_type)
{
    int *calls = ctx;
    (*calls)++;
    char text[128];
    int n = snprintf(text, sizeof(text), "kumo_test_calls %d\n# path %s\n", *calls, path);
    kumo_codec_buffer_append(body, text, (size_t)n);
    *content_type = "text/plain; version=0.0.4";
    return 200;
}

KUMO_TEST(discovery_and_auth)
{
    kube_env env;
    kube_env_start(&env, NULL);
    http_reply r;
    /* another endpoint mounted on the same listener, served without the token */
    int calls = 0;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(kumo_kubeapi_mount(env.http, "/metrics", 0, metrics_handler, &calls, &diag),
                        KUMO_ERROR_OK);
    kube_http(&env, "GET", "/metrics", "", NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "kumo_test_calls 1");
    KUMO_EXPECT_CONTAINS(r.content_type, "text/plain");
    http_reply_fini(&r);
    KUMO_EXPECT_INT_EQ(kumo_kubeapi_mount(env.http, "no-slash", 0, metrics_handler, &calls, &diag),
                       KUMO_ERROR_INVALID_ARGUMENT);
    kumo_diag_fini(&diag);
    kube_http(&env, "GET", "/version", "", NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 401);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"Unauthorized\"");
    http_reply_fini(&r);
    kube_http(&env, "GET", "/apis", "0123wrong", NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 401);
    http_reply_fini(&r);
    kube_http(&env, "GET", "/version", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"major\":\"1\"");
    http_reply_fini(&r);
    kube_http(&env, "GET", "/apis", NULL, NULL, "application/json", NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"APIGroupList\"");
    http_reply_fini(&r);
    kube_http(&env, "GET", "/apis", NULL, NULL,
              "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json",
              NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.content_type, "as=APIGroupDiscoveryList");
    KUMO_EXPECT_CONTAINS(r.body, "\"resource\":\"infras\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"subresource\":\"status\"");
    http_reply_fini(&r);
    kube_http(&env, "GET", "/apis/kumo.dev/v1alpha1", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"machines/status\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"categories\":[\"kumo\"]");
    http_reply_fini(&r);
    kube_http(&env, "GET", "/openapi/v3/apis/kumo.dev/v1alpha1", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "application/apply-patch+yaml");
    KUMO_EXPECT_CONTAINS(r.body, "application/strategic-merge-patch+json");
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"fieldValidation\"");
    /* descriptions come from the .proto comments */
    KUMO_EXPECT_CONTAINS(r.body, "CIDR of the Network made on each connection");
    /* required fields, as validation reports them */
    KUMO_EXPECT_CONTAINS(r.body, "\"required\":[");
    http_reply_fini(&r);
    kube_env_stop(&env);
}

/* PUT with a stale resourceVersion, DELETE with preconditions, core/v1. */
static void stale_put_and_delete(const kube_env *env)
{
    http_reply r;
    /* PUT with a stale resourceVersion */
    const char *stale = "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\","
                        "\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"1\"},\"spec\":"
                        "{\"driver\":\"sim\",\"provider\":\"aws\",\"region\":\"us-west-2\"}}";
    kube_http(env, "PUT", NS_PATH "/b", NULL, "application/json", NULL, stale, strlen(stale), &r);
    KUMO_EXPECT_INT_EQ(r.code, 409);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"Conflict\"");
    http_reply_fini(&r);
    /* DELETE with a failing uid precondition, then for real */
    const char *pre = "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"preconditions\":"
                      "{\"uid\":\"not-the-uid\"}}";
    kube_http(env, "DELETE", NS_PATH "/b", NULL, "application/json", NULL, pre, strlen(pre), &r);
    KUMO_EXPECT_INT_EQ(r.code, 409);
    http_reply_fini(&r);
    const char *bg = "{\"propagationPolicy\":\"Background\"}";
    kube_http(env, "DELETE", NS_PATH "/b", NULL, "application/json", NULL, bg, strlen(bg), &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    http_reply_fini(&r);
    kube_http(env, "GET", NS_PATH "/b", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 404);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"NotFound\"");
    http_reply_fini(&r);
    /* core/v1: the namespaces in use, and no events */
    kube_http(env, "GET", "/api/v1/namespaces", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"default\"");
    http_reply_fini(&r);
    kube_http(env, "GET", "/api/v1/namespaces/default/events", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"EventList\"");
    http_reply_fini(&r);
}

KUMO_TEST(verbs_and_status)
{
    kube_env env;
    kube_env_start(&env, NULL);
    KUMO_EXPECT_INT_EQ(post(&env, "a"), 201);
    KUMO_EXPECT_INT_EQ(post(&env, "b"), 201);
    http_reply r;
    kube_http(&env, "POST", NS_PATH, NULL, "application/json", NULL, connection("a", NULL),
              strlen(connection("a", NULL)), &r);
    KUMO_EXPECT_INT_EQ(r.code, 409);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"AlreadyExists\"");
    http_reply_fini(&r);
    kube_http(&env, "GET", NS_PATH "/a", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"uid\"");
    http_reply_fini(&r);
    kube_http(&env, "POST", NS_PATH "/a", NULL, "application/json", NULL, "{}", 2, &r);
    KUMO_EXPECT_INT_EQ(r.code, 405);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"MethodNotAllowed\"");
    http_reply_fini(&r);
    kube_http(&env, "GET", NS_PATH "?limit=1", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"ConnectionList\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"continue\"");
    http_reply_fini(&r);
    kube_http(&env, "GET", NS_PATH "?fieldSelector=metadata.name%3Db", NULL, NULL,
              "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"Table\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"DRIVER\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"cells\":[\"b\",\"sim\",\"us-east-1\"");
    KUMO_EXPECT(strstr(r.body, "\"cells\":[\"a\"") == NULL);
    http_reply_fini(&r);
    const char *patch = "{\"metadata\":{\"labels\":{\"tier\":\"db\"}}}";
    kube_http(&env, "PATCH", NS_PATH "/a", NULL, "application/merge-patch+json", NULL, patch,
              strlen(patch), &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"tier\":\"db\"");
    http_reply_fini(&r);
    kube_http(&env, "PATCH", NS_PATH "/a", NULL, "application/json-patch+json", NULL, patch,
              strlen(patch), &r);
    KUMO_EXPECT_INT_EQ(r.code, 415);
    http_reply_fini(&r);
    kube_http(&env, "GET", NS_PATH "?labelSelector=tier%3Ddb", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"name\":\"a\"");
    KUMO_EXPECT(strstr(r.body, "\"name\":\"b\"") == NULL);
    http_reply_fini(&r);
    /* server-side apply creates, then updates */
    const char *applied = connection("c", ",\"zone\":\"us-east-1a\"");
    kube_http(&env, "PATCH", NS_PATH "/c?fieldManager=kubectl&force=false", NULL,
              "application/apply-patch+yaml", NULL, applied, strlen(applied), &r);
    KUMO_EXPECT_INT_EQ(r.code, 201);
    http_reply_fini(&r);
    kube_http(&env, "PATCH", NS_PATH "/c?fieldManager=kubectl", NULL,
              "application/apply-patch+yaml", NULL, applied, strlen(applied), &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    http_reply_fini(&r);
    stale_put_and_delete(&env);
    kube_env_stop(&env);
}

KUMO_TEST(bad_input_keeps_serving)
{
    kube_env env;
    kube_env_start(&env, NULL);
    http_reply r;
    size_t big = (size_t)100 << 20;
    char *huge = malloc(big);
    KUMO_REQUIRE_PTR_NONNULL(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    kube_http(&env, "POST", NS_PATH, NULL, "application/json", NULL, huge, big, &r);
    KUMO_EXPECT_INT_EQ(r.code, 413);
    KUMO_EXPECT_CONTAINS(r.content_type, "application/json");
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"Status\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"RequestEntityTooLarge\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"code\":413");
    http_reply_fini(&r);
    /* just over the limit: the same Status */
    kube_http(&env, "PUT", NS_PATH "/a", NULL, "application/json", NULL, huge,
              KUMO_APISERVER_MAX_REQUEST_BYTES + 1, &r);
    KUMO_EXPECT_INT_EQ(r.code, 413);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"RequestEntityTooLarge\"");
    http_reply_fini(&r);
    free(huge);
    /* OpenAPI v2 is not served: a NotFound Status, from which clients fall back to v3 */
    kube_http(&env, "GET", "/openapi/v2", NULL, NULL,
              "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 404);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"NotFound\"");
    KUMO_EXPECT_CONTAINS(r.body, "/openapi/v3");
    http_reply_fini(&r);
    kube_http(&env, "POST", NS_PATH, NULL, "application/json", NULL, "{\"kind\":", 8, &r);
    KUMO_EXPECT_INT_EQ(r.code, 400);
    KUMO_EXPECT_CONTAINS(r.body, "\"kind\":\"Status\"");
    http_reply_fini(&r);
    const char *unknown = connection("u", ",\"colour\":\"red\"");
    kube_http(&env, "POST", NS_PATH "?fieldValidation=Strict", NULL, "application/json", NULL,
              unknown, strlen(unknown), &r);
    KUMO_EXPECT_INT_GE(r.code, 400);
    KUMO_EXPECT_CONTAINS(r.body, "colour");
    http_reply_fini(&r);
    const char *invalid = "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Infra\",\"metadata\":"
                          "{\"name\":\"x\"},\"spec\":{\"groups\":[{\"name\":\"g\",\"size\":-1}]}}";
    kube_http(&env, "POST", "/apis/kumo.dev/v1alpha1/namespaces/default/infras", NULL,
              "application/json", NULL, invalid, strlen(invalid), &r);
    KUMO_EXPECT_INT_EQ(r.code, 422);
    KUMO_EXPECT_CONTAINS(r.body, "\"field\":\"spec.groups[0].size\"");
    http_reply_fini(&r);
    kube_http(&env, "GET", "/apis/kumo.dev/v1alpha1/namespaces/default/pods", NULL, NULL, NULL,
              NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 404);
    KUMO_EXPECT_CONTAINS(r.body, "pods");
    http_reply_fini(&r);
    kube_http(&env, "GET", "/apis/kumo.dev/v1alpha1/namespaces/Bad_NS/infras", NULL, NULL, NULL,
              NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 422);
    http_reply_fini(&r);
    /* still serving */
    KUMO_EXPECT_INT_EQ(post(&env, "after"), 201);
    kube_env_stop(&env);
}

/* Reads a watch for up to `seconds` or until `until` appears; returns the text. */
static char *read_watch(const kube_env *env, const char *path_query, const char *until,
                        double seconds)
{
    http_reply r;
    (void)until;
    char path[600];
    snprintf(path, sizeof(path), "%s%stimeoutSeconds=%d", path_query,
             strchr(path_query, '?') ? "&" : "?", (int)seconds);
    kube_http(env, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    return r.body;
}

/* A watch read as it arrives (libcurl multi), so that changes can be made while it is live. */
typedef struct live_watch {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    http_reply r;
} live_watch;

/* Opens a watch and pumps until its 200 arrived: the server then has the watcher live. */
static void live_watch_open(live_watch *w, const kube_env *env, const char *path)
{
    memset(w, 0, sizeof(*w));
    char url[512], auth[160];
    snprintf(url, sizeof(url), "%s%s", env->base_url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", env->token);
    w->headers = curl_slist_append(NULL, auth);
    w->multi = curl_multi_init();
    w->easy = curl_easy_init();
    curl_easy_setopt(w->easy, CURLOPT_URL, url);
    curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(w->easy, CURLOPT_CAINFO, env->ca);
    curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, kube_http_collect);
    curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, &w->r);
    curl_multi_add_handle(w->multi, w->easy);
    double deadline = kumo_test_now() + 60;
    long code = 0;
    while (code != 200 && kumo_test_now() < deadline) {
        int running;
        curl_multi_perform(w->multi, &running);
        curl_multi_poll(w->multi, NULL, 0, 100, NULL);
        curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
    }
    KUMO_REQUIRE_INT_EQ(code, 200);
}

/* Pumps until the text received contains `text`; 1 when it did. */
static int live_watch_until(live_watch *w, const char *text, double seconds)
{
    double deadline = kumo_test_now() + seconds;
    while (kumo_test_now() < deadline) {
        if (w->r.body != NULL && strstr(w->r.body, text) != NULL)
            return 1;
        int running;
        curl_multi_perform(w->multi, &running);
        curl_multi_poll(w->multi, NULL, 0, 100, NULL);
    }
    return w->r.body != NULL && strstr(w->r.body, text) != NULL;
}

static void live_watch_close(live_watch *w)
{
    curl_multi_remove_handle(w->multi, w->easy);
    curl_easy_cleanup(w->easy);
    curl_multi_cleanup(w->multi);
    curl_slist_free_all(w->headers);
    http_reply_fini(&w->r);
}

KUMO_TEST(watch_stream_and_gone)
{
    api_env_options o = {.keep_revisions = 2, .keep_seconds_zero = 1};
    kube_env env;
    kube_env_start(&env, &o);
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof(name), "g%d", i);
        KUMO_REQUIRE_INT_EQ(post(&env, name), 201);
    }
    KUMO_REQUIRE_INT_EQ(kumo_store_compact(env.api.store, NULL), KUMO_ERROR_OK);
    char *text = read_watch(&env, NS_PATH "?watch=true&resourceVersion=1", NULL, 2);
    KUMO_EXPECT_CONTAINS(text, "\"type\":\"ERROR\"");
    KUMO_EXPECT_CONTAINS(text, "\"code\":410");
    free(text);
    /* from now: the whole list as ADDED, then the watch ends at timeoutSeconds */
    text = read_watch(&env, NS_PATH "?watch=1&labelSelector=tier%3Dweb", NULL, 1);
    KUMO_EXPECT_CONTAINS(text, "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":");
    KUMO_EXPECT_CONTAINS(text, "\"name\":\"g11\"");
    free(text);
    /* live: an object that stops matching the selector arrives as DELETED, one that
     * starts matching as ADDED */
    live_watch w;
    char path[300];
    snprintf(path, sizeof(path), "%s?watch=true&labelSelector=tier%%3Dweb&resourceVersion=%lld",
             NS_PATH, (long long)kumo_store_revision(env.api.store));
    live_watch_open(&w, &env, path);
    const char *away = "{\"metadata\":{\"labels\":{\"tier\":\"db\"}}}";
    http_reply r;
    kube_http(&env, "PATCH", NS_PATH "/g3", NULL, "application/merge-patch+json", NULL, away,
              strlen(away), &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    http_reply_fini(&r);
    KUMO_EXPECT(live_watch_until(&w, "{\"type\":\"DELETED\"", 60));
    KUMO_EXPECT_CONTAINS(w.r.body, "\"name\":\"g3\"");
    const char *back = "{\"metadata\":{\"labels\":{\"tier\":\"web\"}}}";
    kube_http(&env, "PATCH", NS_PATH "/g3", NULL, "application/merge-patch+json", NULL, back,
              strlen(back), &r);
    http_reply_fini(&r);
    KUMO_EXPECT(live_watch_until(&w, "{\"type\":\"ADDED\"", 60));
    live_watch_close(&w);
    kube_env_stop(&env);
}

/* ---- a thousand watches ---- */

#define WATCHES 1000

KUMO_TEST(many_watches)
{
    kube_env env;
    kube_env_start(&env, NULL);
    KUMO_REQUIRE_INT_EQ(post(&env, "seed"), 201);
    CURLM *multi = curl_multi_init();
    CURL **easy = calloc(WATCHES, sizeof(*easy));
    http_reply *conns = calloc(WATCHES, sizeof(*conns));
    char url[512], auth[160];
    snprintf(url, sizeof(url), "%s%s?watch=true&resourceVersion=%lld&timeoutSeconds=120",
             env.base_url, NS_PATH, (long long)kumo_store_revision(env.api.store));
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", env.token);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)WATCHES);
    for (int i = 0; i < WATCHES; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy[i], CURLOPT_CAINFO, env.ca);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, kube_http_collect);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &conns[i]);
        curl_easy_setopt(easy[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(multi, easy[i]);
    }
    /* connect everything, then make one change, then wait until every watcher has it */
    double deadline = kumo_test_now() + 240;
    int running = WATCHES, posted = 0, got = 0;
    while (running > 0 && kumo_test_now() < deadline) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 100, NULL);
        int connected = 0;
        for (int i = 0; i < WATCHES; i++) {
            long code = 0;
            curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &code);
            connected += code == 200;
        }
        if (!posted && connected == WATCHES) {
            KUMO_EXPECT_INT_EQ(post(&env, "changed"), 201);
            posted = 1;
        }
        got = 0;
        for (int i = 0; i < WATCHES; i++)
            got += conns[i].body != NULL && strstr(conns[i].body, "\"name\":\"changed\"") != NULL;
        if (got == WATCHES)
            break;
    }
    KUMO_EXPECT_INT_EQ(posted, 1);
    KUMO_EXPECT_INT_EQ(got, WATCHES);
    for (int i = 0; i < WATCHES; i++) {
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
        http_reply_fini(&conns[i]);
    }
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    free(easy);
    free(conns);
    /* the server still serves once they are gone */
    KUMO_EXPECT_INT_EQ(post(&env, "after"), 201);
    kube_env_stop(&env);
}

KUMO_TEST(both_front_doors)
{
    kube_env env;
    kube_env_start(&env, NULL);
    /* written over HTTPS, read over NATS */
    KUMO_REQUIRE_INT_EQ(post(&env, "via-http"), 201);
    api_reply nr;
    const char *h[] = {"Kumo-Name", "via-http", NULL};
    api_request(env.api.nc, "kumo.v1.api.get.connections.default", h, NULL, 0, &nr);
    KUMO_EXPECT_INT_EQ(nr.code, 200);
    KUMO_EXPECT_CONTAINS(nr.body, "\"name\":\"via-http\"");
    api_reply_fini(&nr);
    /* an HTTPS watch sees a NATS write; a NATS subscriber sees an HTTPS write */
    natsSubscription *sub = NULL;
    KUMO_REQUIRE_INT_EQ(
        natsConnection_SubscribeSync(&sub, env.api.nc, "kumo.v1.events.connections.default.>"),
        NATS_OK);
    natsConnection_Flush(env.api.nc);
    char path[256];
    snprintf(path, sizeof(path), "%s?watch=true&resourceVersion=%lld", NS_PATH,
             (long long)kumo_store_revision(env.api.store));
    const char *body = connection("via-nats", NULL);
    api_request(env.api.nc, "kumo.v1.api.create.connections.default", NULL, body, strlen(body),
                &nr);
    KUMO_EXPECT_INT_EQ(nr.code, 201);
    api_reply_fini(&nr);
    char *text = read_watch(&env, path, NULL, 2);
    KUMO_EXPECT_CONTAINS(text, "\"name\":\"via-nats\"");
    free(text);
    KUMO_REQUIRE_INT_EQ(post(&env, "second-http"), 201);
    int seen = 0;
    for (int i = 0; i < 10 && !seen; i++) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 2000) != NATS_OK)
            continue;
        seen = strstr(natsMsg_GetSubject(m), "second-http") != NULL;
        natsMsg_Destroy(m);
    }
    KUMO_EXPECT(seen);
    natsSubscription_Destroy(sub);
    kube_env_stop(&env);
}
