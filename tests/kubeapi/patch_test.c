/*
 * patch_test.c - strategic merge patch (lists merged by their merge key, the
 * directives kubectl sends, the ones kumo refuses) and the write-only
 * Credential data kept out of kubectl's last-applied annotation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/test.h"
#include "tests/kubeapi/fixture.h"

#define INFRAS "/apis/kumo.dev/v1alpha1/namespaces/default/infras"
#define SMP    "application/strategic-merge-patch+json"

/* PATCHes the Infra "smp" with a strategic merge patch; returns the code, body in *r. */
static long smp(const kube_env *env, const char *patch, http_reply *r)
{
    kube_http(env, "PATCH", INFRAS "/smp", NULL, SMP, NULL, patch, strlen(patch), r);
    return r->code;
}

/* The position of `needle` in the body, or -1. */
static long at(const http_reply *r, const char *needle)
{
    const char *p = r->body ? strstr(r->body, needle) : NULL;
    return p ? (long)(p - r->body) : -1;
}

#define GROUP(n, size)                                                                             \
    "{\"name\":\"" n "\",\"size\":" size ",\"connection\":\"c1\",\"instanceType\":\"t3.small\","   \
    "\"image\":\"img\"}"

KUMO_TEST(strategic_merge_patch)
{
    kube_env env;
    kube_env_start(&env, NULL);
    http_reply r;
    const char *infra =
        "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Infra\",\"metadata\":"
        "{\"name\":\"smp\"},\"spec\":{\"groups\":[" GROUP("a", "1") "," GROUP("b", "2") "]}}";
    kube_http(&env, "POST", INFRAS, NULL, "application/json", NULL, infra, strlen(infra), &r);
    KUMO_REQUIRE_INT_EQ(r.code, 201);
    http_reply_fini(&r);
    /* an item is merged by name: its other fields (and the other items) stay */
    KUMO_EXPECT_INT_EQ(smp(&env, "{\"spec\":{\"groups\":[{\"name\":\"b\",\"size\":5}]}}", &r), 200);
    /* the server's default (updatePolicy) stays too */
    KUMO_EXPECT_CONTAINS(r.body, "{\"name\":\"a\",\"size\":1,\"connection\":\"c1\"");
    KUMO_EXPECT_CONTAINS(r.body,
                         "{\"name\":\"b\",\"size\":5,\"connection\":\"c1\",\"instanceType\":"
                         "\"t3.small\",\"image\":\"img\",\"updatePolicy\":\"Replace\"}");
    http_reply_fini(&r);
    /* a new item is added; $setElementOrder orders the list */
    KUMO_EXPECT_INT_EQ(smp(&env,
                           "{\"spec\":{\"$setElementOrder/groups\":[{\"name\":\"b\"},{\"name\":"
                           "\"c\"},{\"name\":\"a\"}],\"groups\":[" GROUP("c", "3") "]}}",
                           &r),
                       200);
    long b = at(&r, "\"name\":\"b\""), c = at(&r, "\"name\":\"c\""), a = at(&r, "\"name\":\"a\"");
    KUMO_EXPECT(b >= 0 && c > b && a > c);
    http_reply_fini(&r);
    /* $patch: delete removes one item */
    KUMO_EXPECT_INT_EQ(
        smp(&env, "{\"spec\":{\"groups\":[{\"name\":\"c\",\"$patch\":\"delete\"}]}}", &r), 200);
    KUMO_EXPECT(at(&r, "\"name\":\"c\"") < 0);
    KUMO_EXPECT(at(&r, "\"name\":\"a\"") >= 0);
    http_reply_fini(&r);
    /* null removes a field, as in a merge patch */
    KUMO_EXPECT_INT_EQ(smp(&env, "{\"metadata\":{\"labels\":{\"x\":\"1\"}}}", &r), 200);
    http_reply_fini(&r);
    KUMO_EXPECT_INT_EQ(smp(&env, "{\"metadata\":{\"labels\":{\"x\":null}}}", &r), 200);
    KUMO_EXPECT(at(&r, "\"x\":\"1\"") < 0);
    http_reply_fini(&r);
    /* refused: a directive kumo does not take, an item without its key, an invalid result */
    KUMO_EXPECT_INT_EQ(smp(&env, "{\"spec\":{\"$retainKeys\":[\"groups\"]}}", &r), 400);
    KUMO_EXPECT_CONTAINS(r.body, "$retainKeys");
    http_reply_fini(&r);
    KUMO_EXPECT_INT_EQ(smp(&env, "{\"spec\":{\"groups\":[{\"size\":3}]}}", &r), 400);
    KUMO_EXPECT_CONTAINS(r.body, "spec.groups[0] needs its merge key");
    http_reply_fini(&r);
    KUMO_EXPECT_INT_EQ(smp(&env, "{\"spec\":{\"groups\":[{\"name\":\"a\",\"size\":-1}]}}", &r),
                       422);
    KUMO_EXPECT_CONTAINS(r.body, "spec.groups[");
    http_reply_fini(&r);
    KUMO_EXPECT_INT_EQ(smp(&env, "{\"spec\":{\"colour\":\"red\"}}", &r), 422);
    KUMO_EXPECT_CONTAINS(r.body, "colour");
    http_reply_fini(&r);
    /* a stale resourceVersion in the patch is a precondition */
    KUMO_EXPECT_INT_EQ(smp(&env, "{\"metadata\":{\"resourceVersion\":\"1\"}}", &r), 409);
    http_reply_fini(&r);
    /* the OpenAPI document tells kubectl which lists merge by which key */
    kube_http(&env, "GET", "/openapi/v3/apis/kumo.dev/v1alpha1", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"x-kubernetes-patch-merge-key\":\"name\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"application/strategic-merge-patch+json\"");
    http_reply_fini(&r);
    kube_env_stop(&env);
}

KUMO_TEST(credential_last_applied_stripped)
{
    kube_env env;
    kube_env_start(&env, NULL);
    http_reply r;
    const char *credential =
        "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Credential\",\"metadata\":{\"name\":"
        "\"secret\",\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":"
        "\"{\\\"kind\\\":\\\"Credential\\\",\\\"spec\\\":{\\\"type\\\":\\\"sim\\\",\\\"data\\\":"
        "{\\\"secretAccessKey\\\":\\\"s3cr3t\\\"}}}\\n\"}},\"spec\":{\"type\":\"sim\",\"data\":"
        "{\"secretAccessKey\":\"s3cr3t\"}}}";
    kube_http(&env, "POST", "/apis/kumo.dev/v1alpha1/namespaces/default/credentials", NULL,
              "application/json", NULL, credential, strlen(credential), &r);
    KUMO_EXPECT_INT_EQ(r.code, 201);
    KUMO_EXPECT(at(&r, "s3cr3t") < 0);
    http_reply_fini(&r);
    kube_http(&env, "GET", "/apis/kumo.dev/v1alpha1/namespaces/default/credentials/secret", NULL,
              NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "last-applied-configuration");
    KUMO_EXPECT_CONTAINS(r.body, "\\\"type\\\":\\\"sim\\\"");
    KUMO_EXPECT(at(&r, "s3cr3t") < 0);
    http_reply_fini(&r);
    kube_env_stop(&env);
}
