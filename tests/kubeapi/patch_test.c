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

#define CONNECTIONS "/apis/kumo.dev/v1alpha1/namespaces/default/connections"
#define APPLY       "application/apply-patch+yaml"

/* A server-side apply of Connection "owned" in `region` by `query` (fieldManager=...). */
static long apply(const kube_env *env, const char *query, const char *region, http_reply *r)
{
    char body[512], path[256];
    snprintf(body, sizeof(body),
             "apiVersion: kumo.dev/v1alpha1\nkind: Connection\nmetadata:\n  name: owned\n"
             "  labels: {team: a}\nspec:\n  driver: sim\n  provider: aws\n  region: %s\n",
             region);
    snprintf(path, sizeof(path), CONNECTIONS "/owned%s", query);
    kube_http(env, "PATCH", path, NULL, APPLY, NULL, body, strlen(body), r);
    return r->code;
}

/* The resourceVersion in a reply ("" when none), copied into out. */
static const char *resource_version(const http_reply *r, char *out, size_t size)
{
    const char *p = r->body ? strstr(r->body, "\"resourceVersion\":\"") : NULL;
    snprintf(out, size, "%.*s", p ? (int)strcspn(p + 19, "\"") : 0, p ? p + 19 : "");
    return out;
}

static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

KUMO_TEST(server_side_apply_ownership)
{
    kube_env env;
    kube_env_start(&env, NULL);
    http_reply r;
    char rv1[32], rv2[32];
    KUMO_EXPECT_INT_EQ(apply(&env, "?fieldManager=a", "us-east-1", &r), 201);
    KUMO_EXPECT_CONTAINS(r.body, "\"managedFields\":[{\"manager\":\"a\",\"operation\":\"Apply\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:spec\":{");
    KUMO_EXPECT_CONTAINS(r.body, "\"f:region\":{}");
    KUMO_EXPECT_CONTAINS(r.body, "\"f:metadata\":{\"f:labels\":{\"f:team\":{}}}");
    KUMO_EXPECT(strstr(r.body, "kumo.dev/managed-fields") == NULL);
    resource_version(&r, rv1, sizeof(rv1));
    http_reply_fini(&r);
    /* the same apply again is a no-op: nothing is written */
    KUMO_EXPECT_INT_EQ(apply(&env, "?fieldManager=a", "us-east-1", &r), 200);
    KUMO_EXPECT_STR_EQ(resource_version(&r, rv2, sizeof(rv2)), rv1);
    http_reply_fini(&r);
    /* another manager changing a's field: 409 naming the field and a */
    KUMO_EXPECT_INT_EQ(apply(&env, "?fieldManager=b", "us-west-2", &r), 409);
    KUMO_EXPECT_CONTAINS(r.body, "\"reason\":\"Conflict\"");
    KUMO_EXPECT_CONTAINS(r.body, "{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict "
                                 "with \\\"a\\\"\",\"field\":\".spec.region\"}");
    KUMO_EXPECT_CONTAINS(r.body, "Apply failed with 1 conflict: conflict with \\\"a\\\": "
                                 ".spec.region");
    http_reply_fini(&r);
    kube_http(&env, "GET", CONNECTIONS "/owned", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"region\":\"us-east-1\"");
    http_reply_fini(&r);
    /* the same value is no conflict (both own it); force takes the field over */
    KUMO_EXPECT_INT_EQ(apply(&env, "?fieldManager=b", "us-east-1", &r), 200);
    KUMO_EXPECT_INT_EQ(occurrences(r.body, "\"f:region\":{}"), 2);
    http_reply_fini(&r);
    KUMO_EXPECT_INT_EQ(apply(&env, "?fieldManager=a&force=true", "eu-west-1", &r), 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"region\":\"eu-west-1\"");
    KUMO_EXPECT_INT_EQ(occurrences(r.body, "\"f:region\":{}"), 1);
    KUMO_EXPECT_CONTAINS(r.body, "\"manager\":\"b\"");
    http_reply_fini(&r);
    /* an apply names its manager */
    KUMO_EXPECT_INT_EQ(apply(&env, "", "eu-west-1", &r), 422);
    KUMO_EXPECT_CONTAINS(r.body, "fieldManager");
    http_reply_fini(&r);
    /* a client writing back what it read (managedFields included) keeps the ownership */
    kube_http(&env, "GET", CONNECTIONS "/owned", NULL, NULL, NULL, NULL, 0, &r);
    char *read_back = strdup(r.body);
    http_reply_fini(&r);
    kube_http(&env, "PUT", CONNECTIONS "/owned", NULL, "application/json", NULL, read_back,
              strlen(read_back), &r);
    KUMO_EXPECT_INT_EQ(r.code, 200);
    KUMO_EXPECT_CONTAINS(r.body, "\"manager\":\"a\"");
    http_reply_fini(&r);
    free(read_back);
    /* kumo's NATS apply is the manager kumoctl (and takes what it sets) */
    const char *nats_body = "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"Connection\","
                            "\"metadata\":{\"name\":\"owned\"},\"spec\":{\"driver\":\"sim\","
                            "\"provider\":\"aws\",\"region\":\"ap-south-1\"}}";
    api_reply nr;
    api_request(env.api.nc, "kumo.v1.api.apply.connections.default", NULL, nats_body,
                strlen(nats_body), &nr);
    KUMO_EXPECT_INT_EQ(nr.code, 200);
    KUMO_EXPECT(strstr(nr.body, "managed-fields") == NULL);
    api_reply_fini(&nr);
    kube_http(&env, "GET", CONNECTIONS "/owned", NULL, NULL, NULL, NULL, 0, &r);
    KUMO_EXPECT_CONTAINS(r.body, "\"manager\":\"kumoctl\"");
    KUMO_EXPECT_CONTAINS(r.body, "\"region\":\"ap-south-1\"");
    http_reply_fini(&r);
    kube_env_stop(&env);
}
