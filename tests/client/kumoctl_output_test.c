/*
 * kumoctl_output_test.c - the outputs of `kumoctl get` a user shapes:
 * -o jsonpath (compared with the machine's kubectl evaluating the same JSON),
 * -o custom-columns, --sort-by, --show-labels and `get all`.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/client/kumoctl_run.h"
#include "tests/harness/test.h"

extern char **environ;

static const char shape_yaml[] =
    "apiVersion: kumo.dev/v1alpha1\n"
    "kind: Infra\n"
    "metadata:\n"
    "  name: shape\n"
    "  labels: {kumo.dev/tier: gold, team: a}\n"
    "  annotations: {kumo.dev/compare: x, note: \"a<b & c>d\"}\n"
    "spec:\n"
    "  groups:\n"
    "    - {name: a, size: 2, connection: aws-use1, instanceType: t3.small, image: ubuntu-22.04}\n"
    "    - name: b\n"
    "      size: 10\n"
    "      image: ubuntu-22.04\n"
    "      placement: {vcpuMin: 2, memoryMibMin: 4096, maxPricePerHour: 0.15}\n"
    "    - {name: c, size: 1, connection: gcp-euw1, instanceType: e2-small, image: debian-12}\n";

/* Templates whose results do not depend on the order of a map's keys (kubectl's is random). */
static const char *const templates[] = {
    "{.metadata.name}",
    "{$.kind} {@.apiVersion}",
    "{.spec.groups[*].name}",
    "{.spec.groups[?(@.size>1)].name}",
    "{.spec.groups[?(@.name==\"b\")].size}",
    "{.spec.groups[?(@.name!=\"b\")].instanceType}",
    "{.spec.groups[?(@.placement)].placement.maxPricePerHour}",
    "{.spec.groups[?(@.size<=2)].name}",
    "{range .spec.groups[*]}{.name}{\"\\t\"}{.size}{\"\\n\"}{end}",
    "{range .spec.groups[*]}[{range .placement}{.vcpuMin}{end}]{end}",
    "{.spec.groups[-1:]}",
    "{.spec.groups[0:2].name}",
    "{.spec.groups[::2].name}",
    "{.spec.groups[1,0].name}",
    "{.spec.groups[0]['name','size']}",
    "{.spec.groups[*]['name','size']}",
    "{.metadata.labels}",
    "{.metadata.annotations}",
    "{.metadata.labels.kumo\\.dev/tier}",
    "{.metadata.labels['team']}",
    "{.spec.groups[1]}",
    "{.spec.groups}",
    "{.nothing}{.spec.groups[0].nothing}|",
    "text only",
    "{.spec.groups[9]}",
    "{.spec.groups[-9]}",
};

/* Runs argv with stdout into `out_path`; its exit status (127: could not run). */
static int run_to_file(char *const argv[], const char *out_path)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return 127;
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}

/* The stored object as kubectl can decode it (metadata.generation as a number). */
static void write_object_json(const char *path)
{
    run r;
    KUMOCTL(&r, "get", "inf", "shape", "-o", "json");
    KUMO_REQUIRE_INT_EQ(r.status, 0);
    kumo_value *v = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_codec_value_parse_json(r.out, strlen(r.out), NULL, &v, &d),
                        KUMO_ERROR_OK);
    kumo_value *meta = (kumo_value *)kumo_codec_value_get(v, "metadata");
    kumo_value *generation = (kumo_value *)kumo_codec_value_get(meta, "generation");
    KUMO_REQUIRE_PTR_NONNULL(generation);
    generation->type = KUMO_VALUE_NUMBER; /* "1" -> 1: kubectl's ObjectMeta wants an int64 */
    kumo_codec_buffer buf;
    kumo_codec_buffer_init(&buf);
    KUMO_REQUIRE_INT_EQ(kumo_codec_value_to_json(v, 0, &buf), KUMO_ERROR_OK);
    FILE *f = fopen(path, "w");
    KUMO_REQUIRE(f != NULL);
    fwrite(buf.data, 1, buf.len, f);
    fclose(f);
    kumo_codec_buffer_fini(&buf);
    kumo_codec_value_destroy(v);
    kumo_diag_fini(&d);
    ctl_done(&r);
}

static void apply_text(const char *name, const char *text)
{
    char path[700];
    ctl_apply(ctl_write_file(name, text, path, sizeof(path)));
}

KUMO_TEST(kumoctl_jsonpath_matches_kubectl)
{
    fixture f;
    ctl_fixture_start(&f);
    char object[700], kubectl_out[700];
    snprintf(object, sizeof(object), "%s/shape.json", ctl_dir());
    snprintf(kubectl_out, sizeof(kubectl_out), "%s/kubectl.out", ctl_dir());
    char *version[] = {"kubectl", "version", "--client", NULL};
    if (run_to_file(version, kubectl_out) != 0) {
        fixture_stop(&f);
        kumo_test_skip("no kubectl on PATH to compare with");
    }
    apply_text("shape.yaml", shape_yaml);
    write_object_json(object);
    for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++) {
        char option[600];
        snprintf(option, sizeof(option), "jsonpath=%s", templates[i]);
        /* the file already has the annotation: kubectl changes nothing, only prints */
        char *argv[] = {"kubectl",     "annotate",           "-f", object, "--local",
                        "--overwrite", "kumo.dev/compare=x", "-o", option, NULL};
        int kubectl_status = run_to_file(argv, kubectl_out);
        char *want = kumo_test_read_file(kubectl_out, NULL);
        run r;
        KUMOCTL(&r, "get", "inf/shape", "-o", option);
        if ((r.status == 0) != (kubectl_status == 0) ||
            (r.status == 0 && strcmp(r.out ? r.out : "", want ? want : "") != 0))
            fprintf(stderr, "template %s: kumoctl (%d) gave [%s], kubectl (%d) gave [%s]\n",
                    templates[i], r.status, r.out ? r.out : "", kubectl_status, want ? want : "");
        KUMO_EXPECT_INT_EQ(r.status == 0, kubectl_status == 0);
        if (r.status == 0 && kubectl_status == 0)
            KUMO_EXPECT_STR_EQ(r.out, want);
        free(want);
        ctl_done(&r);
    }
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_output_formats)
{
    fixture f;
    ctl_fixture_start(&f);
    ctl_quickstart_apply();
    run r;
    /* a list's root is kubectl's List */
    KUMOCTL(&r, "get", "conn", "-o", "jsonpath={.kind}:{.items[*].metadata.name}{\"\\n\"}");
    KUMO_EXPECT_STR_EQ(r.out, "List:aws-use1 gcp-euw1\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.spec.region};{end}");
    KUMO_EXPECT_STR_EQ(r.out, "aws-use1=us-east-1;gcp-euw1=europe-west1;");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "-o", "jsonpath={.items[0");
    KUMO_EXPECT_INT_EQ(r.status, 2);
    KUMO_EXPECT_CONTAINS(r.err, "JSONPath");
    ctl_done(&r);
    /* custom columns: kubectl's tabwriter layout (cells padded to widest + 3, at least 6;
     * the last header cell unpadded), values as Go prints them, <none> for nothing */
    KUMOCTL(&r, "get", "conn", "-o",
            "custom-columns=NAME:.metadata.name,REGION:spec.region,BOOT:.spec.config.boot_seconds,"
            "CFG:.spec.config,NONE:.nope");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_STR_EQ(
        r.out, "NAME       REGION         BOOT   CFG                                        "
               "   NONE\n"
               "aws-use1   us-east-1      2      map[boot_seconds:2 state:sim-account.state]"
               "   <none>   \n"
               "gcp-euw1   europe-west1   2      map[boot_seconds:2 state:sim-account.state]"
               "   <none>   \n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "--no-headers", "-o", "custom-columns=N:.metadata.name");
    KUMO_EXPECT_STR_EQ(r.out, "aws-use1   \ngcp-euw1   \n");
    ctl_done(&r);
    char columns[700], option[800];
    ctl_write_file("columns.txt", "NAME   REGION\n.metadata.name  spec.region\n", columns,
                   sizeof(columns));
    snprintf(option, sizeof(option), "custom-columns-file=%s", columns);
    KUMOCTL(&r, "get", "conn", "-o", option);
    KUMO_EXPECT_STR_EQ(r.out, "NAME       REGION\naws-use1   us-east-1      \n"
                              "gcp-euw1   europe-west1   \n");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "get", "conn", "-o", "custom-columns=.metadata.name");
    /* --sort-by: text in natural order (web-2 before web-10), numbers by value */
    KUMOCTL(&r, "label", "conn", "aws-use1", "rank=web-10");
    ctl_done(&r);
    KUMOCTL(&r, "label", "conn", "gcp-euw1", "rank=web-2");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "--sort-by=.metadata.labels.rank", "-o", "name");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/gcp-euw1\nconnection.kumo.dev/aws-use1\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "--sort-by", "{.spec.region}", "--show-labels");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    const char *gcp = r.out ? strstr(r.out, "gcp-euw1") : NULL;
    const char *aws = r.out ? strstr(r.out, "aws-use1") : NULL;
    KUMO_EXPECT(gcp != NULL && aws != NULL && gcp < aws);
    KUMO_EXPECT_CONTAINS(r.out, "   LABELS\n");
    KUMO_EXPECT_CONTAINS(r.out, "   rank=web-10\n");
    ctl_done(&r);
    /* outside tables, several kinds sort as one list */
    KUMOCTL(&r, "get", "inf,conn", "--sort-by=.metadata.name", "-o", "name");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1\nconnection.kumo.dev/gcp-euw1\n"
                              "infra.kumo.dev/hello\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "inf", "--sort-by=.spec.groups[0].size", "-o", "name");
    KUMO_EXPECT_STR_EQ(r.out, "infra.kumo.dev/hello\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "--sort-by=.nope");
    KUMO_EXPECT_INT_EQ(r.status, 1);
    KUMO_EXPECT_CONTAINS(r.err, "couldn't find any field");
    ctl_done(&r);
    /* --field-selector: metadata terms go to kumod, any other field is checked by kumoctl */
    KUMOCTL(&r, "get", "conn", "--field-selector", "spec.region=europe-west1", "-o", "name");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/gcp-euw1\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "--field-selector=spec.region!=europe-west1,metadata.name!=nope",
            "-o", "name");
    KUMO_EXPECT_STR_EQ(r.out, "connection.kumo.dev/aws-use1\n");
    ctl_done(&r);
    KUMOCTL(&r, "get", "conn", "--field-selector", "spec.nothing=x");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.err, "No resources found");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "get", "conn", "--field-selector", "oops");
    /* get all: every kind that has objects, nothing for the others */
    KUMOCTL(&r, "get", "all");
    KUMO_EXPECT_INT_EQ(r.status, 0);
    KUMO_EXPECT_CONTAINS(r.out, "credential.kumo.dev/sim-account");
    KUMO_EXPECT_CONTAINS(r.out, "connection.kumo.dev/gcp-euw1");
    KUMO_EXPECT_CONTAINS(r.out, "infra.kumo.dev/hello");
    KUMO_EXPECT(r.out && strstr(r.out, "machine") == NULL);
    ctl_done(&r);
    fixture_stop(&f);
}

KUMO_TEST(kumoctl_completion)
{
    fixture f;
    ctl_fixture_start(&f);
    char binary[1024], script[700], check[700];
    ctl_quickstart_apply();
    kumo_test_build_path("bin/kumoctl", binary, sizeof(binary));
    run r;
    KUMOCTL(&r, "__complete", "sc");
    KUMO_EXPECT_STR_EQ(r.out, "scale\n");
    ctl_done(&r);
    KUMOCTL(&r, "__complete", "get", "inf");
    KUMO_EXPECT_STR_EQ(r.out, "infras\n");
    ctl_done(&r);
    KUMOCTL(&r, "__complete", "get", "--sh");
    KUMO_EXPECT_STR_EQ(r.out, "--show-labels\n");
    ctl_done(&r);
    KUMOCTL(&r, "__complete", "delete", "connections", "-n", "default", "g");
    KUMO_EXPECT_STR_EQ(r.out, "gcp-euw1\n");
    ctl_done(&r);
    KUMOCTL(&r, "__complete", "describe", "conn/a");
    KUMO_EXPECT_STR_EQ(r.out, "conn/aws-use1\n");
    ctl_done(&r);
    KUMOCTL(&r, "__complete", "get", "-o", "custom");
    KUMO_EXPECT_STR_EQ(r.out, "custom-columns=\ncustom-columns-file=\n");
    ctl_done(&r);
    /* the bash script, run by bash as completion runs it */
    KUMOCTL(&r, "completion", "bash");
    KUMO_EXPECT_CONTAINS(r.out, "complete -o default -F _kumoctl kumoctl\n");
    snprintf(script, sizeof(script), "%s/completion.bash", ctl_dir());
    FILE *out = fopen(script, "w");
    KUMO_REQUIRE(out != NULL);
    fputs(r.out, out);
    fclose(out);
    ctl_done(&r);
    snprintf(check, sizeof(check), "%s/check.out", ctl_dir());
    char line[3000];
    snprintf(line, sizeof(line),
             "source '%s'; COMP_WORDS=('%s' get infras ''); COMP_CWORD=3; _kumoctl; "
             "printf '%%s\\n' \"${COMPREPLY[@]}\" > '%s'",
             script, binary, check);
    char *argv[] = {"bash", "-c", line, NULL};
    KUMO_EXPECT_INT_EQ(run_to_file(argv, "/dev/null"), 0);
    char *names = kumo_test_read_file(check, NULL);
    KUMO_EXPECT_STR_EQ(names, "hello\n");
    free(names);
    KUMOCTL(&r, "completion", "zsh");
    KUMO_EXPECT_CONTAINS(r.out, "#compdef kumoctl\n");
    ctl_done(&r);
    KUMOCTL_EXPECT_STATUS(2, "completion", "fish");
    fixture_stop(&f);
}
