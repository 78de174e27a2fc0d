/*
 * kumoctl_test.c - kumoctl's remote verbs end to end: the real binary
 * against a real kumod and nats-server. Output is checked the way a user
 * reads it; failures must exit non-zero with a sentence.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/client/fixture.h"
#include "tests/harness/test.h"

extern char **environ;

typedef struct run {
    pid_t pid;
    int status; /* exit code; -1 while running or when killed */
    char out_path[600], err_path[600];
    char *out, *err;
} run;

/* Starts kumoctl with the NULL-terminated arguments; stdin from `input` (NULL: /dev/null). */
static void start(run *r, const char *input, const char *arg, ...)
{
    memset(r, 0, sizeof(*r));
    r->status = -1;
    static int serial;
    const char *dir = kumo_test_tmpdir();
    snprintf(r->out_path, sizeof(r->out_path), "%s/out%d", dir, serial);
    snprintf(r->err_path, sizeof(r->err_path), "%s/err%d", dir, serial++);
    char binary[1024];
    kumo_test_build_path("bin/kumoctl", binary, sizeof(binary));
    const char *argv[32];
    int argc = 0;
    argv[argc++] = binary;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, input ? input : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, r->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, r->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&r->pid, binary, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    KUMO_REQUIRE_INT_EQ(rc, 0);
}

static void collect(run *r)
{
    r->out = kumo_test_read_file(r->out_path, NULL);
    r->err = kumo_test_read_file(r->err_path, NULL);
    if (r->status != 0)
        fprintf(stderr, "kumoctl exited %d\n--- stdout\n%s--- stderr\n%s---\n", r->status,
                r->out ? r->out : "", r->err ? r->err : "");
}

/* Waits for the run to end (at most `seconds`, then kills it); returns its exit code. */
static int finish(run *r, double seconds)
{
    double deadline = kumo_test_now() + seconds;
    int status = 0;
    while (waitpid(r->pid, &status, WNOHANG) == 0) {
        if (kumo_test_now() > deadline) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &status, 0);
            fprintf(stderr, "kumoctl did not finish within %.0f s\n", seconds);
            break;
        }
        fixture_sleep_ms(20);
    }
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    collect(r);
    return r->status;
}

/* 1 while the run goes on. */
static int running(run *r)
{
    int status;
    return waitpid(r->pid, &status, WNOHANG) == 0 ? 1 : (r->status = WEXITSTATUS(status), 0);
}

static void done(run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

#define KUMOCTL(r, ...)                                                                            \
    do {                                                                                           \
        start(r, NULL, __VA_ARGS__, NULL);                                                         \
        finish(r, 60);                                                                             \
    } while (0)

static void use(const fixture *f)
{
    setenv("KUMO_NATS_URL", f->url, 1);
}

static const char *example(const char *name, char *buf, size_t size)
{
    char relative[128];
    snprintf(relative, sizeof(relative), "examples/%s", name);
    return kumo_test_source_path(relative, buf, size);
}

KUMO_TEST(kumoctl_apply_get_describe)
{
    fixture f;
    fixture_start(&f);
    use(&f);
    char quickstart[1024];
    example("quickstart.yaml", quickstart, sizeof(quickstart));
    run r;
    KUMOCTL(&r, "apply", "-f", quickstart);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "credential.kumo.dev/sim-account created\n");
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev/aws-use1 created\n");
    KUMO_EXPECT_CONTAINS(r.out, "infra.kumo.dev/hello created\n");
    done(&r);
    KUMOCTL(&r, "apply", "-f", quickstart);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "infra.kumo.dev/hello unchanged\n");
    done(&r);
    /* stdin, and a change: configured */
    char changed[700];
    snprintf(changed, sizeof(changed), "%s/changed.yaml", kumo_test_tmpdir());
    FILE *file = fopen(changed, "w");
    KUMO_REQUIRE(file != NULL);
    fputs("apiVersion: kumo.dev/v1alpha1\nkind: Connection\nmetadata:\n  name: aws-use1\n"
          "  labels: {tier: web}\nspec:\n  driver: sim\n  provider: aws\n  region: us-east-1\n",
          file);
    fclose(file);
    start(&r, changed, "apply", "-f", "-", NULL);
    finish(&r, 60);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1 configured\n");
    done(&r);

    KUMOCTL(&r, "get", "infras,connections");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "infra.kumo.dev/hello");
    KUMO_EXPECT_CONTAINS(r.out, "0/5"); /* ready / desired from the spec's group sizes */
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev/gcp-euw1");
    KUMO_EXPECT_CONTAINS(r.out, "europe-west1");
    done(&r);
    KUMOCTL(&r, "get", "conn", "-o", "wide", "-l", "tier=web");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "PROVIDER");
    KUMO_EXPECT_CONTAINS(r.out, "aws-use1");
    KUMO_EXPECT(r.out && strstr(r.out, "gcp-euw1") == NULL);
    done(&r);
    KUMOCTL(&r, "get", "inf", "hello", "-o", "json");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "\"kind\": \"Infra\"");
    KUMO_EXPECT_CONTAINS(r.out, "\"name\": \"hello\"");
    done(&r);
    KUMOCTL(&r, "get", "infra/hello", "-o", "yaml");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "kind: Infra\n");
    done(&r);
    KUMOCTL(&r, "get", "connections", "-o", "name");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1\nconnection.kumo.dev/gcp-euw1\n");
    done(&r);
    KUMOCTL(&r, "get", "cred", "-A", "-o", "json");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "\"kind\": \"List\"");
    KUMO_EXPECT(r.out && strstr(r.out, "sim-secret") == NULL); /* write-only */
    done(&r);
    KUMOCTL(&r, "get", "ma", "-A");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.err, "No resources found");
    done(&r);

    KUMOCTL(&r, "describe", "inf", "hello");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "Name:             hello\n");
    KUMO_EXPECT_CONTAINS(r.out, "Kind:             Infra\n");
    KUMO_EXPECT_CONTAINS(r.out, "instanceType: t3.small");
    KUMO_EXPECT_CONTAINS(r.out, "Conditions:");
    KUMO_EXPECT_CONTAINS(r.out, "Dependents:");
    done(&r);

    KUMOCTL(&r, "api-resources");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "SHORTNAMES");
    KUMO_EXPECT_CONTAINS(r.out, "infras");
    KUMO_EXPECT_CONTAINS(r.out, "inf ");
    KUMO_EXPECT_CONTAINS(r.out, "LoadBalancer");
    done(&r);
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
    fixture_start(&f);
    use(&f);
    make_owner_and_dependent(&f, "test.kumo.dev/hold");
    run r;
    KUMOCTL(&r, "describe", "conn", "owner");
    KUMO_EXPECT_CONTAINS(r.out, "test.kumo.dev/hold");
    KUMO_EXPECT_CONTAINS(r.out, "Network          owned"); /* a dependent */
    done(&r);
    KUMOCTL(&r, "describe", "net/owned");
    KUMO_EXPECT_CONTAINS(r.out, "Connection/owner (controller)");
    done(&r);

    /* The finalizer holds the object: delete waits until it is removed. */
    start(&r, NULL, "delete", "connection", "owner", "--timeout=30s", NULL);
    fixture_sleep_ms(1500);
    KUMO_EXPECT(running(&r));
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_client_patch(c, kumo_object_kind_lookup("conn"), "default", "owner",
                                         "{\"metadata\": {\"finalizers\": null}}", NULL, &d),
                       KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(finish(&r, 30), 0);
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev \"owner\" deleted");
    done(&r);
    ProtobufCMessage *gone = NULL;
    KUMO_EXPECT_INT_EQ(
        kumo_client_get(c, kumo_object_kind_lookup("conn"), "default", "owner", &gone, &d),
        KUMO_ERROR_NOT_FOUND);
    kumo_diag_fini(&d);

    /* --wait=false returns at once; a timeout names what it waited for. */
    make_owner_and_dependent(&f, "test.kumo.dev/hold2");
    KUMOCTL(&r, "delete", "conn/owner", "--wait=false", "--cascade=orphan");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    done(&r);
    KUMOCTL(&r, "delete", "conn", "owner", "--timeout=1s");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "timed out");
    KUMO_EXPECT_CONTAINS(r.err, "connection.kumo.dev/owner");
    KUMO_EXPECT_CONTAINS(r.err, "test.kumo.dev/hold2");
    done(&r);
    KUMOCTL(&r, "delete", "conn", "nope");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "not found");
    done(&r);
    KUMOCTL(&r, "delete", "conn", "nope", "--ignore-not-found");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    done(&r);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_wait_for_condition)
{
    fixture f;
    fixture_start(&f);
    use(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    ProtobufCMessage *conn = fixture_connection("web", "default", NULL), *out = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_client_create(c, conn, &out, &d), KUMO_ERROR_OK);
    run r;
    KUMOCTL(&r, "wait", "conn", "web", "--for=condition=Ready", "--timeout=1s");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "timed out after 1.0s waiting for connection.kumo.dev/web");
    done(&r);
    start(&r, NULL, "wait", "conn/web", "--for=condition=Ready", "--timeout=30s", NULL);
    fixture_sleep_ms(1000);
    KUMO_EXPECT(running(&r));
    kumo_object_condition_set(out, "Ready", "True", "Probed", "the API answers");
    KUMO_EXPECT_INT_EQ(kumo_client_update_status(c, out, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(finish(&r, 30), 0);
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/web condition met\n");
    done(&r);
    KUMOCTL(&r, "get", "conn", "web");
    KUMO_EXPECT_CONTAINS(r.out, "True");
    done(&r);
    KUMOCTL(&r, "wait", "conn", "web", "--for=delete", "--timeout=1s");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    done(&r);
    KUMOCTL(&r, "wait", "conn", "nope", "--for=delete");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    done(&r);
    KUMOCTL(&r, "wait", "conn", "nope", "--for=condition=Ready");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "not found");
    done(&r);
    kumo_object_destroy(conn);
    kumo_object_destroy(out);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_get_watch)
{
    fixture f;
    fixture_start(&f);
    use(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    ProtobufCMessage *first = fixture_connection("first", "default", NULL);
    KUMO_EXPECT_INT_EQ(kumo_client_create(c, first, NULL, &d), KUMO_ERROR_OK);
    run r;
    start(&r, NULL, "get", "connections", "-w", NULL);
    fixture_sleep_ms(1000);
    ProtobufCMessage *second = fixture_connection("second", "default", NULL);
    KUMO_EXPECT_INT_EQ(kumo_client_create(c, second, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(
        kumo_client_delete(c, kumo_object_kind_lookup("conn"), "default", "first", NULL, NULL, &d),
        KUMO_ERROR_OK);
    fixture_sleep_ms(1000);
    KUMO_EXPECT(running(&r));
    kill(r.pid, SIGINT);
    KUMO_EXPECT_INT_EQ(finish(&r, 10), 0);
    /* the table, then one row per change */
    const char *header = r.out ? strstr(r.out, "NAME") : NULL;
    const char *row1 = header ? strstr(header, "\nfirst ") : NULL;
    const char *row2 = row1 ? strstr(row1 + 1, "\nsecond ") : NULL;
    const char *row3 = row2 ? strstr(row2 + 1, "\nfirst ") : NULL;
    KUMO_EXPECT(header && row1 && row2 && row3);
    if (!(header && row1 && row2 && row3))
        fprintf(stderr, "output:\n%s\n", r.out ? r.out : "");
    done(&r);
    kumo_object_destroy(first);
    kumo_object_destroy(second);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_errors_are_sentences)
{
    fixture f;
    fixture_start(&f);
    use(&f);
    run r;
    KUMOCTL(&r, "get", "inf", "nope");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "infra.kumo.dev/nope not found in namespace \"default\"");
    done(&r);
    KUMOCTL(&r, "get", "gizmos");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "unknown resource type \"gizmos\"");
    done(&r);
    KUMOCTL(&r, "get");
    KUMO_EXPECT_INT_EQ(r.status, 2);
    done(&r);
    KUMOCTL(&r, "get", "inf", "-o", "xml");
    KUMO_EXPECT_INT_EQ(r.status, 2);
    done(&r);
    KUMOCTL(&r, "delete", "inf", "x", "--cascade=sideways");
    KUMO_EXPECT_INT_EQ(r.status, 2);
    done(&r);
    KUMOCTL(&r, "get", "conn", "-l", "tier in web");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "error: listing connections:");
    done(&r);

    char bad[700];
    snprintf(bad, sizeof(bad), "%s/bad.yaml", kumo_test_tmpdir());
    FILE *file = fopen(bad, "w");
    KUMO_REQUIRE(file != NULL);
    fputs("apiVersion: kumo.dev/v1alpha1\nkind: Infra\nmetadata:\n  name: bad\nspec:\n"
          "  groups:\n    - name: a\n      size: -1\n      connection: x\n"
          "      instanceType: t3.small\n      image: ubuntu-22.04\n",
          file);
    fclose(file);
    KUMOCTL(&r, "apply", "-f", bad);
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "bad.yaml:1: applying infra.kumo.dev/bad");
    KUMO_EXPECT_CONTAINS(r.err, "spec.groups[0].size");
    done(&r);
    KUMOCTL(&r, "create", "-f", bad, "-n", "Not_A_Namespace");
    KUMO_EXPECT_INT_EQ(r.status, 2);
    done(&r);

    /* Nothing listens / NATS without kumod. */
    KUMOCTL(&r, "get", "inf", "--server", "nats://127.0.0.1:1");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "cannot reach NATS at nats://127.0.0.1:1");
    KUMO_EXPECT_CONTAINS(r.err, "hack/up.sh");
    done(&r);
    fixture_kumod_kill(&f, SIGTERM);
    KUMOCTL(&r, "get", "inf");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "no kumod is serving on nats://127.0.0.1:");
    done(&r);
    fixture_stop(&f);
}

/* `wait` accepts a condition only once it was computed for the current generation. */
KUMO_TEST(kumoctl_wait_checks_observed_generation)
{
    fixture f;
    fixture_start(&f);
    use(&f);
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
    done(&r);
    ProtobufCMessage *now = NULL;
    KUMO_REQUIRE_INT_EQ(
        kumo_client_get(c, kumo_object_kind_lookup("conn"), "default", "web", &now, &d),
        KUMO_ERROR_OK);
    kumo_object_condition_set(now, "Ready", "True", "Reachable", "generation 2 is fine");
    KUMO_REQUIRE_INT_EQ(kumo_client_update_status(c, now, NULL, &d), KUMO_ERROR_OK);
    KUMOCTL(&r, "wait", "conn", "web", "--for=condition=Ready", "--timeout=10s");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    done(&r);
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
    fixture_start(&f);
    use(&f);
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
    KUMOCTL(&r, "apply", "-f", path);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    done(&r);
    KUMOCTL(&r, "delete", "-f", path);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev \"c299\" deleted\n"
                                "credential.kumo.dev \"acct\" deleted\n");
    KUMO_EXPECT(r.out && strncmp(r.out, "connection.kumo.dev \"c0\" deleted\n", 33) == 0);
    done(&r);

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
    done(&r);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

/* Events: `get events` lists them, `describe` shows the object's recent ones. */
KUMO_TEST(kumoctl_get_and_describe_events)
{
    fixture f;
    fixture_start(&f);
    use(&f);
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
    done(&r);
    KUMOCTL(&r, "describe", "conn", "web");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "Events:");
    KUMO_EXPECT_CONTAINS(r.out, "Unauthorized");
    KUMO_EXPECT_CONTAINS(r.out, "(x3 over");
    done(&r);
    kumo_object_destroy(conn);
    kumo_object_destroy(out);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    fixture_stop(&f);
}
