/*
 * kumoctl_test.c - kumoctl's remote verbs end to end: the real binary
 * against a real kumod and nats-server. Output is checked the way a user
 * reads it; failures must exit non-zero with a sentence.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/client/fixture.h"
#include "tests/harness/test.h"

#include "tests/client/kumoctl_run.h"

KUMO_TEST(kumoctl_apply_get_describe)
{
    fixture f;
    ctl_fixture_start(&f);
    char quickstart[1024];
    ctl_example("quickstart.yaml", quickstart, sizeof(quickstart));
    run r;
    KUMOCTL(&r, "apply", "-f", quickstart);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "credential.kumo.dev/sim-account created\n");
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev/aws-use1 created\n");
    KUMO_EXPECT_CONTAINS(r.out, "infra.kumo.dev/hello created\n");
    ctl_done(&r);
    KUMOCTL(&r, "apply", "-f", quickstart);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "infra.kumo.dev/hello unchanged\n");
    ctl_done(&r);
    /* stdin, and a change: configured */
    char changed[700];
    ctl_write_file("changed.yaml",
                   "apiVersion: kumo.dev/v1alpha1\nkind: Connection\nmetadata:\n  name: aws-use1\n"
                   "  labels: {tier: web}\nspec:\n  driver: sim\n  provider: aws\n  region: "
                   "us-east-1\n",
                   changed, sizeof(changed));
    ctl_start(&r, changed, "apply", "-f", "-", NULL);
    ctl_finish(&r, 60);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1 configured\n");
    ctl_done(&r);

    KUMOCTL(&r, "get", "infras,connections");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "infra.kumo.dev/hello");
    KUMO_EXPECT_CONTAINS(r.out, "0/5"); /* ready / desired from the spec's group sizes */
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev/gcp-euw1");
    KUMO_EXPECT_CONTAINS(r.out, "europe-west1");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "-o", "wide", "-l", "tier=web");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "PROVIDER");
    KUMO_EXPECT_CONTAINS(r.out, "aws-use1");
    KUMO_EXPECT(r.out && strstr(r.out, "gcp-euw1") == NULL);
    ctl_done(&r);
    KUMOCTL(&r, "get", "inf", "hello", "-o", "json");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "\"kind\": \"Infra\"");
    KUMO_EXPECT_CONTAINS(r.out, "\"name\": \"hello\"");
    ctl_done(&r);
    KUMOCTL(&r, "get", "infra/hello", "-o", "yaml");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "kind: Infra\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "connections", "-o", "name");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1\nconnection.kumo.dev/gcp-euw1\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "cred", "-A", "-o", "json");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "\"kind\": \"List\"");
    KUMO_EXPECT(r.out && strstr(r.out, "sim-secret") == NULL); /* write-only */
    ctl_done(&r);
    KUMOCTL(&r, "get", "ma", "-A");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.err, "No resources found");
    ctl_done(&r);

    KUMOCTL(&r, "describe", "inf", "hello");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "Name:             hello\n");
    KUMO_EXPECT_CONTAINS(r.out, "Kind:             Infra\n");
    KUMO_EXPECT_CONTAINS(r.out, "instanceType: t3.small");
    KUMO_EXPECT_CONTAINS(r.out, "Conditions:");
    KUMO_EXPECT_CONTAINS(r.out, "Dependents:");
    ctl_done(&r);

    KUMOCTL(&r, "api-resources");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "SHORTNAMES");
    KUMO_EXPECT_CONTAINS(r.out, "infras");
    KUMO_EXPECT_CONTAINS(r.out, "inf ");
    KUMO_EXPECT_CONTAINS(r.out, "LoadBalancer");
    ctl_done(&r);
    fixture_stop(&f);
}

/* Decodes JSON (printf-style, the object's uid aside) into a `kind` object and creates it. */
static void create_json(kumo_client *c, const char *kind, const char *fmt, const char *uid)
{
    char text[1200];
    snprintf(text, sizeof(text), fmt, uid);
    ProtobufCMessage *object = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_object_decode(kumo_object_kind_lookup(kind), text, strlen(text),
                                           KUMO_CODEC_FORMAT_JSON, NULL, &object, &d),
                        KUMO_ERROR_OK);
    kumo_error e = kumo_client_create(c, object, NULL, &d);
    if (e != KUMO_ERROR_OK)
        fprintf(stderr, "%s: %s\n", kind, d.message);
    KUMO_EXPECT_INT_EQ(e, KUMO_ERROR_OK);
    kumo_object_destroy(object);
    kumo_diag_fini(&d);
}

/* A Connection with a finalizer, and a Network it owns. Returns the Connection's uid. */
static void make_owner_and_dependent(const fixture *f, const char *finalizer)
{
    kumo_client *c = fixture_client(f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    ProtobufCMessage *owner = fixture_connection("owner", "default", NULL), *out = NULL;
    if (finalizer) {
        Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(owner);
        m->finalizers = malloc(sizeof(char *));
        m->finalizers[0] = strdup(finalizer);
        m->n_finalizers = 1;
    }
    KUMO_REQUIRE_INT_EQ(kumo_client_create(c, owner, &out, &d), KUMO_ERROR_OK);
    create_json(c, "Network",
                "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Network\", \"metadata\": "
                "{\"name\": \"owned\", \"namespace\": \"default\", \"ownerReferences\": "
                "[{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Connection\", \"name\": "
                "\"owner\", \"uid\": \"%s\", \"controller\": true}]}, "
                "\"spec\": {\"connection\": \"owner\", \"cidr\": \"10.0.0.0/16\"}}",
                kumo_object_meta(out)->uid);
    kumo_object_destroy(owner);
    kumo_object_destroy(out);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
}

KUMO_TEST(kumoctl_delete_waits_until_gone)
{
    fixture f;
    ctl_fixture_start(&f);
    make_owner_and_dependent(&f, "test.kumo.dev/hold");
    run r;
    KUMOCTL(&r, "describe", "conn", "owner");
    KUMO_EXPECT_CONTAINS(r.out, "test.kumo.dev/hold");
    KUMO_EXPECT_CONTAINS(r.out, "Network          owned"); /* a dependent */
    ctl_done(&r);
    KUMOCTL(&r, "describe", "net/owned");
    KUMO_EXPECT_CONTAINS(r.out, "Connection/owner (controller)");
    ctl_done(&r);

    /* The finalizer holds the object: delete waits until it is removed. */
    ctl_start(&r, NULL, "delete", "connection", "owner", "--timeout=30s", NULL);
    fixture_sleep_ms(1500);
    KUMO_EXPECT(ctl_running(&r));
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_client_patch(c, kumo_object_kind_lookup("conn"), "default", "owner",
                                         "{\"metadata\": {\"finalizers\": null}}", NULL, &d),
                       KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(ctl_finish(&r, 30), 0);
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev \"owner\" deleted");
    ctl_done(&r);
    ProtobufCMessage *gone = NULL;
    KUMO_EXPECT_INT_EQ(
        kumo_client_get(c, kumo_object_kind_lookup("conn"), "default", "owner", &gone, &d),
        KUMO_ERROR_NOT_FOUND);
    kumo_diag_fini(&d);

    /* --wait=false returns at once; a timeout names what it waited for. */
    make_owner_and_dependent(&f, "test.kumo.dev/hold2");
    KUMOCTL_EXPECT_STATUS(0, "delete", "conn/owner", "--wait=false", "--cascade=orphan");
    KUMOCTL(&r, "delete", "conn", "owner", "--timeout=1s");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "timed out");
    KUMO_EXPECT_CONTAINS(r.err, "connection.kumo.dev/owner");
    KUMO_EXPECT_CONTAINS(r.err, "test.kumo.dev/hold2");
    ctl_done(&r);
    KUMOCTL(&r, "delete", "conn", "nope");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "not found");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(0, "delete", "conn", "nope", "--ignore-not-found");
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_wait_for_condition)
{
    fixture f;
    ctl_fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    ProtobufCMessage *conn = fixture_connection("web", "default", NULL), *out = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_client_create(c, conn, &out, &d), KUMO_ERROR_OK);
    run r;
    KUMOCTL(&r, "wait", "conn", "web", "--for=condition=Ready", "--timeout=1s");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "timed out after 1.0s waiting for connection.kumo.dev/web");
    ctl_done(&r);
    ctl_start(&r, NULL, "wait", "conn/web", "--for=condition=Ready", "--timeout=30s", NULL);
    fixture_sleep_ms(1000);
    KUMO_EXPECT(ctl_running(&r));
    kumo_object_condition_set(out, "Ready", "True", "Probed", "the API answers");
    KUMO_EXPECT_INT_EQ(kumo_client_update_status(c, out, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(ctl_finish(&r, 30), 0);
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/web condition met\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "web");
    KUMO_EXPECT_CONTAINS(r.out, "True");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(1, "wait", "conn", "web", "--for=delete", "--timeout=1s");
    KUMOCTL_EXPECT_STATUS(0, "wait", "conn", "nope", "--for=delete");
    KUMOCTL(&r, "wait", "conn", "nope", "--for=condition=Ready");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "not found");
    ctl_done(&r);
    kumo_object_destroy(conn);
    kumo_object_destroy(out);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_get_watch)
{
    fixture f;
    ctl_fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    ProtobufCMessage *first = fixture_connection("first", "default", NULL);
    KUMO_EXPECT_INT_EQ(kumo_client_create(c, first, NULL, &d), KUMO_ERROR_OK);
    run r;
    ctl_start(&r, NULL, "get", "connections", "-w", NULL);
    fixture_sleep_ms(1000);
    ProtobufCMessage *second = fixture_connection("second", "default", NULL);
    KUMO_EXPECT_INT_EQ(kumo_client_create(c, second, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(
        kumo_client_delete(c, kumo_object_kind_lookup("conn"), "default", "first", NULL, NULL, &d),
        KUMO_ERROR_OK);
    fixture_sleep_ms(1000);
    KUMO_EXPECT(ctl_running(&r));
    kill(r.pid, SIGINT);
    KUMO_EXPECT_INT_EQ(ctl_finish(&r, 10), 0);
    /* the table, then one row per change */
    const char *header = r.out ? strstr(r.out, "NAME") : NULL;
    const char *row1 = header ? strstr(header, "\nfirst ") : NULL;
    const char *row2 = row1 ? strstr(row1 + 1, "\nsecond ") : NULL;
    const char *row3 = row2 ? strstr(row2 + 1, "\nfirst ") : NULL;
    KUMO_EXPECT(header && row1 && row2 && row3);
    if (!(header && row1 && row2 && row3))
        fprintf(stderr, "output:\n%s\n", r.out ? r.out : "");
    ctl_done(&r);
    kumo_object_destroy(first);
    kumo_object_destroy(second);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_errors_are_sentences)
{
    fixture f;
    ctl_fixture_start(&f);
    run r;
    KUMOCTL(&r, "get", "inf", "nope");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "infra.kumo.dev/nope not found in namespace \"default\"");
    ctl_done(&r);
    KUMOCTL(&r, "get", "gizmos");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "unknown resource type \"gizmos\"");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "get");
    KUMOCTL_EXPECT_STATUS(2, "get", "inf", "-o", "xml");
    KUMOCTL_EXPECT_STATUS(2, "delete", "inf", "x", "--cascade=sideways");
    KUMOCTL(&r, "get", "conn", "-l", "tier in web");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "error: listing connections:");
    ctl_done(&r);

    char bad[700];
    ctl_write_file("bad.yaml",
                   "apiVersion: kumo.dev/v1alpha1\nkind: Infra\nmetadata:\n  name: bad\nspec:\n"
                   "  groups:\n    - name: a\n      size: -1\n      connection: x\n"
                   "      instanceType: t3.small\n      image: ubuntu-22.04\n",
                   bad, sizeof(bad));
    KUMOCTL(&r, "apply", "-f", bad);
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "bad.yaml:1: applying infra.kumo.dev/bad");
    KUMO_EXPECT_CONTAINS(r.err, "spec.groups[0].size");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "create", "-f", bad, "-n", "Not_A_Namespace");

    /* Nothing listens / NATS without kumod. */
    KUMOCTL(&r, "get", "inf", "--server", "nats://127.0.0.1:1");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "cannot reach NATS at nats://127.0.0.1:1");
    KUMO_EXPECT_CONTAINS(r.err, "hack/up.sh");
    ctl_done(&r);
    fixture_kumod_kill(&f, SIGTERM);
    KUMOCTL(&r, "get", "inf");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "no kumod is serving on nats://127.0.0.1:");
    ctl_done(&r);
    fixture_stop(&f);
}

/* `wait` accepts a condition only once it was computed for the current generation. */
KUMO_TEST(kumoctl_wait_checks_observed_generation)
{
    fixture f;
    ctl_fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    ProtobufCMessage *conn = fixture_connection("web", "default", NULL), *out = NULL, *next = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_client_create(c, conn, &out, &d), KUMO_ERROR_OK);
    kumo_object_condition_set(out, "Ready", "True", "Reachable", "generation 1 is fine");
    KUMO_REQUIRE_INT_EQ(kumo_client_update_status(c, out, &next, &d), KUMO_ERROR_OK);
    /* A new spec (generation 2): the Ready=True of generation 1 no longer counts. */
    KUMO_REQUIRE_INT_EQ(kumo_client_patch(c, kumo_object_kind_lookup("conn"), "default", "web",
                                          "{\"spec\": {\"region\": \"eu-west-1\"}}", NULL, &d),
                        KUMO_ERROR_OK);
    run r;
    KUMOCTL(&r, "wait", "conn", "web", "--for=condition=Ready", "--timeout=1s");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "Ready was computed for generation 1; the spec is at generation 2");
    ctl_done(&r);
    ProtobufCMessage *now = NULL;
    KUMO_REQUIRE_INT_EQ(
        kumo_client_get(c, kumo_object_kind_lookup("conn"), "default", "web", &now, &d),
        KUMO_ERROR_OK);
    kumo_object_condition_set(now, "Ready", "True", "Reachable", "generation 2 is fine");
    KUMO_REQUIRE_INT_EQ(kumo_client_update_status(c, now, NULL, &d), KUMO_ERROR_OK);
    KUMOCTL_EXPECT_STATUS(0, "wait", "conn", "web", "--for=condition=Ready", "--timeout=10s");
    kumo_object_destroy(conn);
    kumo_object_destroy(out);
    kumo_object_destroy(next);
    kumo_object_destroy(now);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

/* `delete -f`: users first, Credentials last, whatever the file order; no limit on how many;
 * one --timeout for the whole command. */
KUMO_TEST(kumoctl_delete_order_limit_and_timeout)
{
    fixture f;
    ctl_fixture_start(&f);
    char path[700];
    snprintf(path, sizeof(path), "%s/many.yaml", kumo_test_tmpdir());
    FILE *file = fopen(path, "w");
    KUMO_REQUIRE(file != NULL);
    fputs("apiVersion: kumo.dev/v1alpha1\nkind: Credential\nmetadata:\n  name: acct\nspec:\n"
          "  type: sim\n  data:\n    secret_key: x\n",
          file);
    for (int i = 0; i < 300; i++)
        fprintf(file,
                "---\napiVersion: kumo.dev/v1alpha1\nkind: Connection\nmetadata:\n  name: c%d\n"
                "spec:\n  driver: sim\n  region: us-east-1\n  credentialRef:\n    name: acct\n",
                i);
    fclose(file);
    run r;
    KUMOCTL_EXPECT_STATUS(0, "apply", "-f", path);
    KUMOCTL(&r, "delete", "-f", path);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev \"c299\" deleted\n"
                                "credential.kumo.dev \"acct\" deleted\n");
    KUMO_EXPECT(r.out && strncmp(r.out, "connection.kumo.dev \"c0\" deleted\n", 33) == 0);
    ctl_done(&r);

    /* Three objects held by a finalizer, --timeout=2s: about 2 s in all, not 2 s each. */
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    const char *names[3] = {"h0", "h1", "h2"};
    for (int i = 0; i < 3; i++) {
        ProtobufCMessage *conn = fixture_connection(names[i], "default", NULL);
        Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(conn);
        m->finalizers = malloc(sizeof(char *));
        m->finalizers[0] = strdup("test.kumo.dev/hold");
        m->n_finalizers = 1;
        KUMO_REQUIRE_INT_EQ(kumo_client_create(c, conn, NULL, &d), KUMO_ERROR_OK);
        kumo_object_destroy(conn);
    }
    double started = kumo_test_now();
    KUMOCTL(&r, "delete", "conn", "h0", "h1", "h2", "--timeout=2s");
    double took = kumo_test_now() - started;
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "timed out after 2.0s waiting for connection.kumo.dev/h0");
    KUMO_EXPECT_CONTAINS(r.err, "2 more objects still exist: connection.kumo.dev/h1, "
                                "connection.kumo.dev/h2");
    KUMO_EXPECT(took < 5.5); /* per object it would be at least 6 s */
    ctl_done(&r);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

/* Events: `get events` lists them, `describe` shows the object's recent ones. */
KUMO_TEST(kumoctl_get_and_describe_events)
{
    fixture f;
    ctl_fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    ProtobufCMessage *conn = fixture_connection("web", "default", NULL), *out = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_client_create(c, conn, &out, &d), KUMO_ERROR_OK);
    create_json(c, "events",
                "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Event\", \"metadata\": "
                "{\"name\": \"web-1\", \"namespace\": \"default\"}, \"involvedObject\": {\"kind\": "
                "\"Connection\", \"name\": \"web\", \"uid\": \"%s\"}, \"type\": \"Warning\", "
                "\"reason\": \"Unauthorized\", \"message\": \"sim probe: AuthFailure: wrong key\", "
                "\"count\": 3, \"firstTimestamp\": \"2026-01-01T00:00:00Z\", \"lastTimestamp\": "
                "\"2026-01-01T00:05:00Z\", \"source\": {\"component\": \"kumo-controllers\"}}",
                kumo_object_meta(out)->uid);
    run r;
    KUMOCTL(&r, "get", "events");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "LAST SEEN");
    KUMO_EXPECT_CONTAINS(r.out, "Warning");
    KUMO_EXPECT_CONTAINS(r.out, "connection/web");
    KUMO_EXPECT_CONTAINS(r.out, "sim probe: AuthFailure: wrong key");
    ctl_done(&r);
    KUMOCTL(&r, "describe", "conn", "web");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "Events:");
    KUMO_EXPECT_CONTAINS(r.out, "Unauthorized");
    KUMO_EXPECT_CONTAINS(r.out, "(x3 over");
    ctl_done(&r);
    kumo_object_destroy(conn);
    kumo_object_destroy(out);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}
