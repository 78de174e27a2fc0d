/*
 * kumoctl_verbs_test.c - the verbs that change objects (patch, scale, label,
 * annotate, edit, delete -l/--all), apply's "unchanged", diff's exit codes
 * and rollout status: the real kumoctl against a real kumod.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/client/kumoctl_run.h"
#include "tests/harness/test.h"

/* The output of `kumoctl get REF -o jsonpath=TEMPLATE` (malloc'd). */
static char *jsonpath(const char *ref, const char *template)
{
    run r;
    char option[512];
    snprintf(option, sizeof(option), "jsonpath=%s", template);
    KUMOCTL(&r, "get", ref, "-o", option);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    char *out = r.out ? strdup(r.out) : strdup("");
    ctl_done(&r);
    return out;
}

#define EXPECT_JSONPATH(ref, template, want)                                                       \
    do {                                                                                           \
        char *got_ = jsonpath(ref, template);                                                      \
        KUMO_EXPECT_STR_EQ(got_, want);                                                            \
        free(got_);                                                                                \
    } while (0)

KUMO_TEST(kumoctl_patch_and_scale)
{
    fixture f;
    ctl_fixture_start(&f);
    ctl_quickstart_apply();
    run r;
    KUMOCTL(&r, "scale", "infra/hello", "--group", "front", "--replicas", "3");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(r.out, "infra.kumo.dev/hello scaled\n");
    ctl_done(&r);
    EXPECT_JSONPATH("inf/hello", "{.spec.groups[0].size} {.metadata.generation}", "3 2");
    KUMOCTL(&r, "scale", "infra", "hello", "--replicas", "3");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "has 2 groups (front, workers): say which with --group");
    ctl_done(&r);
    KUMOCTL(&r, "scale", "infra", "hello", "--group", "nope", "--replicas", "1");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "has no group \"nope\"");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "scale", "conn", "aws-use1", "--replicas", "1");

    /* JSON patch: applied, then the same again changes nothing; a failed test changes nothing */
    const char *replace = "[{\"op\":\"replace\",\"path\":\"/spec/groups/1/size\",\"value\":4}]";
    KUMOCTL(&r, "patch", "inf", "hello", "--type", "json", "-p", replace);
    KUMO_EXPECT_STR_EQ(r.out, "infra.kumo.dev/hello patched\n");
    ctl_done(&r);
    KUMOCTL(&r, "patch", "inf", "hello", "--type=json", "-p", replace);
    KUMO_EXPECT_STR_EQ(r.out, "infra.kumo.dev/hello patched (no change)\n");
    ctl_done(&r);
    KUMOCTL(&r, "patch", "inf/hello", "--type", "json", "-p",
            "[{\"op\":\"test\",\"path\":\"/spec/groups/1/size\",\"value\":9},"
            "{\"op\":\"remove\",\"path\":\"/spec/groups/1\"}]");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "patch operation 0: test failed");
    ctl_done(&r);
    EXPECT_JSONPATH("inf/hello", "{.spec.groups[*].size}", "3 4");
    /* merge patch (YAML accepted too), and an invalid result is refused by kumod */
    KUMOCTL(&r, "patch", "conn", "aws-use1", "-p", "{metadata: {labels: {tier: gold}}}");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1 patched\n");
    ctl_done(&r);
    EXPECT_JSONPATH("conn/aws-use1", "{.metadata.labels.tier}", "gold");
    KUMOCTL(&r, "patch", "inf", "hello", "-p",
            "{\"spec\":{\"groups\":[{\"name\":\"x\",\"size\":-1}]}}");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "spec.groups[0].size");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "patch", "inf", "hello", "--type", "strategic", "-p", "{}");
    KUMOCTL(&r, "patch", "inf", "nope", "-p", "{}");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "infra.kumo.dev/nope not found");
    ctl_done(&r);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_label_annotate)
{
    fixture f;
    ctl_fixture_start(&f);
    ctl_quickstart_apply();
    run r;
    KUMOCTL(&r, "label", "conn", "aws-use1", "tier=web", "team=a");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1 labeled\n");
    ctl_done(&r);
    KUMOCTL(&r, "label", "conn/aws-use1", "tier=db");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "'tier' already has a value (web), and --overwrite is false");
    ctl_done(&r);
    KUMOCTL(&r, "label", "conn/aws-use1", "tier=db", "--overwrite", "team-");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1 labeled\n");
    ctl_done(&r);
    KUMOCTL(&r, "label", "conn/aws-use1", "tier=db");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1 not labeled\n");
    ctl_done(&r);
    KUMOCTL(&r, "label", "conn", "--all", "zone=z1");
    KUMO_EXPECT_STR_EQ(
        r.out, "connection.kumo.dev/aws-use1 labeled\nconnection.kumo.dev/gcp-euw1 labeled\n");
    ctl_done(&r);
    KUMOCTL(&r, "label", "conn", "aws-use1", "bad key=x");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "metadata.labels");
    ctl_done(&r);
    KUMOCTL(&r, "annotate", "conn", "-l", "tier=db", "example.com/owner=ops team");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1 annotated\n");
    ctl_done(&r);
    EXPECT_JSONPATH("conn/aws-use1", "{.metadata.labels} {.metadata.annotations}",
                    "{\"tier\":\"db\",\"zone\":\"z1\"} {\"example.com/owner\":\"ops team\"}");
    KUMOCTL_EXPECT_STATUS(2, "label", "conn", "aws-use1");
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_delete_selector_and_all)
{
    fixture f;
    ctl_fixture_start(&f);
    ctl_quickstart_apply();
    run r;
    KUMOCTL(&r, "label", "conn", "gcp-euw1", "doomed=yes");
    ctl_done(&r);
    KUMOCTL(&r, "delete", "conn", "-l", "doomed=yes", "--timeout=30s");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev \"gcp-euw1\" deleted\n");
    ctl_done(&r);
    KUMOCTL(&r, "delete", "conn", "-l", "doomed=yes");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.err, "No resources found");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "delete", "conn", "aws-use1", "--all");
    KUMOCTL(&r, "delete", "cred", "--all", "--timeout=30s");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(r.out, "credential.kumo.dev \"sim-account\" deleted\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "all", "-o", "name");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1\ninfra.kumo.dev/hello\n");
    ctl_done(&r);
    fixture_stop(&f);
}

/* Writes status as a controller would (moving resourceVersion, not generation). */
static void write_status(const fixture *f, const char *kind, const char *name, const char *status)
{
    kumo_client *c = fixture_client(f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    ProtobufCMessage *object = NULL, *with = NULL;
    KUMO_REQUIRE_INT_EQ(
        kumo_client_get(c, kumo_object_kind_lookup(kind), "default", name, &object, &d),
        KUMO_ERROR_OK);
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"apiVersion\":\"kumo.dev/v1alpha1\",\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\"},\"status\":%s}",
             kind, name, status);
    KUMO_REQUIRE_INT_EQ(kumo_object_decode(kumo_object_kind_lookup(kind), text, strlen(text),
                                           KUMO_CODEC_FORMAT_JSON, NULL, &with, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_client_update_status(c, with, NULL, &d), KUMO_ERROR_OK);
    kumo_object_destroy(object);
    kumo_object_destroy(with);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
}

KUMO_TEST(kumoctl_apply_unchanged_examples)
{
    fixture f;
    ctl_fixture_start(&f);
    char examples[1024];
    ctl_example("", examples, sizeof(examples));
    run r;
    KUMOCTL(&r, "apply", "-f", examples);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    /* every object of examples/ is defined once: each is created once */
    for (const char *line = r.out; line && *line; line = strchr(line, '\n') + 1) {
        KUMO_EXPECT_CONTAINS(line, " created\n");
        char ref[256];
        snprintf(ref, sizeof(ref), "\n%.*s ", (int)strcspn(line, " "), line);
        const char *again = strstr(strchr(line, '\n'), ref); /* "\nREF " after this line */
        if (again != NULL)
            fprintf(stderr, "%s is defined twice in examples/\n", ref);
        KUMO_EXPECT(again == NULL);
    }
    ctl_done(&r);
    /* a status write moves resourceVersion but not what apply sends */
    write_status(&f, "Infra", "hello", "{\"observedGeneration\":\"1\",\"desired\":5,\"ready\":1}");
    KUMOCTL(&r, "apply", "-f", examples);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "infra.kumo.dev/hello unchanged\n");
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev/aws-use1 unchanged\n");
    KUMO_EXPECT_CONTAINS(r.out, "app.kumo.dev/shop unchanged\n");
    /* only Credentials, whose data is never read back, are sent again */
    for (const char *line = r.out; line && *line; line = strchr(line, '\n') + 1)
        if (strncmp(line, "credential.", 11) != 0)
            KUMO_EXPECT_CONTAINS(line, " unchanged\n");
    ctl_done(&r);
    EXPECT_JSONPATH("inf/hello", "{.status.ready}", "1");
    /* a label counts as a change */
    char changed[700];
    ctl_write_file("changed.yaml",
                   "apiVersion: kumo.dev/v1alpha1\nkind: Connection\nmetadata:\n  name: gcp-euw1\n"
                   "  labels: {tier: web}\nspec:\n  driver: sim\n  provider: gcp\n"
                   "  region: europe-west1\n  credentialRef: {name: sim-account}\n  config:\n"
                   "    state: sim-account.state\n    boot_seconds: \"2\"\n",
                   changed, sizeof(changed));
    KUMOCTL(&r, "apply", "-f", changed);
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/gcp-euw1 configured\n");
    ctl_done(&r);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_diff_exit_codes)
{
    fixture f;
    ctl_fixture_start(&f);
    ctl_quickstart_apply();
    char quickstart[1024], changed[700], fresh[700];
    ctl_example("quickstart.yaml", quickstart, sizeof(quickstart));
    run r;
    KUMOCTL(&r, "diff", "-f", quickstart);
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(r.out, "");
    ctl_done(&r);
    ctl_write_file("bigger.yaml",
                   "apiVersion: kumo.dev/v1alpha1\nkind: Infra\nmetadata:\n  name: hello\nspec:\n"
                   "  groups:\n    - name: front\n      size: 7\n      connection: aws-use1\n"
                   "      instanceType: t3.small\n      image: ubuntu-22.04\n",
                   changed, sizeof(changed));
    KUMOCTL(&r, "diff", "-f", changed);
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.out, "kumo.dev.v1alpha1.Infra.default.hello");
    KUMO_EXPECT_CONTAINS(r.out, "-    size: 2\n+    size: 7\n");
    KUMO_EXPECT_CONTAINS(r.out, "-  - name: workers\n");
    ctl_done(&r);
    ctl_write_file("fresh.yaml",
                   "apiVersion: kumo.dev/v1alpha1\nkind: Connection\nmetadata:\n  name: fresh\n"
                   "spec: {driver: sim, provider: aws, region: us-east-1}\n",
                   fresh, sizeof(fresh));
    KUMOCTL(&r, "diff", "-f", fresh);
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.out, "+  name: fresh\n");
    ctl_done(&r);
    KUMOCTL(&r, "diff", "-f", "/nonexistent/kumo.yaml");
    KUMO_EXPECT(r.status > 1);
    ctl_done(&r);
    /* diff changed nothing */
    EXPECT_JSONPATH("inf/hello", "{.spec.groups[0].size}", "2");
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_edit)
{
    fixture f;
    ctl_fixture_start(&f);
    ctl_quickstart_apply();
    run r;
    setenv("KUMO_EDITOR", "sed -i 's/region: us-east-1/region: us-east-2/'", 1);
    KUMOCTL(&r, "edit", "conn", "aws-use1");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1 edited\n");
    ctl_done(&r);
    EXPECT_JSONPATH("conn/aws-use1", "{.spec.region}", "us-east-2");
    setenv("KUMO_EDITOR", "true", 1);
    KUMOCTL(&r, "edit", "conn/aws-use1");
    KUMO_EXPECT_STR_EQ(r.out, "Edit cancelled, no changes made.\n");
    ctl_done(&r);
    setenv("KUMO_EDITOR", "sed -i 's/region: us-east-2/regoin: us-east-2/'", 1);
    KUMOCTL(&r, "edit", "conn/aws-use1");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "unknown field \"regoin\"");
    const char *kept = r.err ? strstr(r.err, "stored to \"") : NULL;
    KUMO_EXPECT(kept != NULL);
    if (kept != NULL) {
        char path[512];
        snprintf(path, sizeof(path), "%.*s", (int)strcspn(kept + 11, "\""), kept + 11);
        char *text = kumo_test_read_file(path, NULL);
        KUMO_EXPECT_CONTAINS(text, "# The edit failed:\n");
        KUMO_EXPECT_CONTAINS(text, "regoin: us-east-2");
        free(text);
        unlink(path);
    }
    ctl_done(&r);
    EXPECT_JSONPATH("conn/aws-use1", "{.spec.region}", "us-east-2");
    unsetenv("KUMO_EDITOR");
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_rollout_status)
{
    fixture f;
    ctl_fixture_start(&f);
    ctl_quickstart_apply();
    run r;
    KUMOCTL_EXPECT_STATUS(0, "scale", "infra/hello", "--group", "front", "--replicas", "3");
    KUMOCTL(&r, "rollout", "status", "infra/hello", "--watch=false");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.out, "has not seen generation 2 yet");
    ctl_done(&r);
    /* the Infra controller's part is played by status writes */
    ctl_start(&r, NULL, "rollout", "status", "infra", "hello", "--timeout=60s", NULL);
    write_status(&f, "Infra", "hello", "{\"observedGeneration\":\"2\",\"desired\":6,\"ready\":4}");
    double deadline = kumo_test_now() + 30;
    char *seen = NULL;
    while (kumo_test_now() < deadline && (seen == NULL || !strstr(seen, "4 of 6"))) {
        free(seen);
        seen = kumo_test_read_file(r.out_path, NULL);
        fixture_sleep_ms(100);
    }
    KUMO_EXPECT_CONTAINS(seen, "Waiting for infra \"hello\" rollout to finish: 4 of 6 machines "
                               "ready...\n");
    free(seen);
    KUMO_EXPECT(ctl_running(&r));
    write_status(&f, "Infra", "hello", "{\"observedGeneration\":\"2\",\"desired\":6,\"ready\":6}");
    KUMO_EXPECT_INT_EQ(ctl_finish(&r, 30), 0);
    KUMO_EXPECT_CONTAINS(r.out, "infra \"hello\" successfully rolled out\n");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "rollout", "status", "conn/aws-use1");
    KUMOCTL(&r, "rollout", "status", "app/none", "--timeout=1s");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "not found");
    ctl_done(&r);
    fixture_stop(&f);
}
