/*
 * cmd_test.c - kumoctl as a user runs it: each case starts build/bin/kumoctl
 * through the harness (tests/harness/process.h: stdout and stderr captured
 * into files, stdin from a file or a pipe, under a deadline), and checks the
 * exit status and the output.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness/process.h"
#include "tests/harness/test.h"

enum { RUN_DEADLINE_SECONDS = 60 };

/* A run of kumoctl: exit status (128 + signal when killed), output, time, CPU and memory. */
typedef kumo_test_process run_result;
/* Its stdin: nothing, a file, or a pipe (harness/process.h). */
typedef kumo_test_input run_input;

static void run_result_free(run_result *r)
{
    kumo_test_process_fini(r);
}

/* Runs kumoctl with `args` (NULL-terminated, without argv[0]) to its end. */
static void run_kumoctl(run_result *r, const run_input *in, const char *const *args)
{
    char binary[1024];
    kumo_test_build_path("bin/kumoctl", binary, sizeof(binary));
    const char *argv[64] = {binary};
    size_t argc = 1;
    for (; args[argc - 1] != NULL && argc < 63; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    kumo_test_process_start(r, in, argv);
    kumo_test_process_finish(r, RUN_DEADLINE_SECONDS);
    if (r->timed_out)
        kumo_test_fail_(__FILE__, __LINE__, 0, "kumoctl %s: no exit within %d s",
                        args[0] ? args[0] : "", RUN_DEADLINE_SECONDS);
}

#define RUN(r, in, ...) run_kumoctl(r, in, (const char *const[]){__VA_ARGS__, NULL})

/* Exit status must be `want`; prints the output when it is not. */
#define EXPECT_STATUS(r, want)                                                                     \
    KUMO_CHECK_(0, (r)->status == (want), "exit %d, wanted %d\nstdout: %s\nstderr: %s",            \
                (r)->status, want, (r)->out, (r)->err)

/* The expectation of an invalid manifest: its "# expect: " line, or its .expect sidecar. */
static char *expectation_of(const char *path)
{
    char sidecar[1600];
    snprintf(sidecar, sizeof(sidecar), "%s.expect", path);
    char *text = kumo_test_read_file(sidecar, NULL);
    if (text == NULL) {
        text = kumo_test_read_file(path, NULL);
        KUMO_REQUIRE_PTR_NONNULL(text);
        KUMO_CHECK_(1, strncmp(text, "# expect: ", 10) == 0,
                    "%s: first line must be \"# expect: ...\" (or add %s)", path, sidecar);
        memmove(text, text + 10, strlen(text + 10) + 1);
    }
    text[strcspn(text, "\n")] = '\0';
    KUMO_REQUIRE(text[0] != '\0');
    return text;
}

static int is_manifest(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

KUMO_TEST(invalid_manifests)
{
    char dir_path[1024], path[1400];
    DIR *dir = opendir(kumo_test_source_path("tests/data/invalid", dir_path, sizeof(dir_path)));
    KUMO_REQUIRE_PTR_NONNULL(dir);
    struct dirent *e;
    size_t checked = 0;
    while ((e = readdir(dir)) != NULL) {
        if (!is_manifest(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
        char *expect = expectation_of(path);
        run_result r;
        RUN(&r, NULL, "validate", "-f", path);
        KUMO_CHECK_(0, r.status == 1, "%s: exit %d, wanted 1\n%s", e->d_name, r.status, r.err);
        KUMO_CHECK_(0, strstr(r.err, expect) != NULL, "%s: output lacks \"%s\":\n%s", e->d_name,
                    expect, r.err);
        /* Every problem line names the file it is about. */
        KUMO_CHECK_(0, strstr(r.err, e->d_name) != NULL, "%s: output does not name the file:\n%s",
                    e->d_name, r.err);
        KUMO_CHECK_(0, r.out[0] == '\0', "%s: nothing on stdout when invalid: %s", e->d_name,
                    r.out);
        run_result_free(&r);
        free(expect);
        checked++;
    }
    closedir(dir);
    KUMO_EXPECT_INT_GE(checked, 24);
}

KUMO_TEST(invalid_directory)
{
    char dir[1024];
    run_result r;
    RUN(&r, NULL, "validate", "-f", kumo_test_source_path("tests/data/invalid", dir, sizeof(dir)));
    EXPECT_STATUS(&r, 1);
    /* Every file is reported, in name order, and the summary counts them. */
    const char *first = strstr(r.err, "app-command-check-empty.yaml");
    const char *last = strstr(r.err, "wrong-type.yaml");
    KUMO_EXPECT(first != NULL && last != NULL && first < last);
    KUMO_EXPECT_CONTAINS(r.err, "error: ");
    KUMO_EXPECT_CONTAINS(r.err, "error: 37 of 38 objects invalid; 3 inputs could not be read or "
                                "parsed\n");
    run_result_free(&r);
}

KUMO_TEST(examples_valid)
{
    char dir[1024], file[1024];
    run_result r;
    RUN(&r, NULL, "validate", "-f", kumo_test_source_path("examples", dir, sizeof(dir)));
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_STR_EQ(r.out, "22 objects valid\n");
    KUMO_EXPECT_STR_EQ(r.err, "");
    run_result_free(&r);
    /* Several -f, files and directory mixed, with -R and --max-bytes=. */
    RUN(&r, NULL, "validate", "-R", "-f",
        kumo_test_source_path("examples/app.yaml", file, sizeof(file)), "--filename", dir,
        "--max-bytes=1Mi");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_STR_EQ(r.out, "23 objects valid\n");
    run_result_free(&r);
}

KUMO_TEST(stdin_input)
{
    char file[1024];
    run_input in = {.file = kumo_test_source_path("examples/quickstart.yaml", file, sizeof(file))};
    run_result r;
    RUN(&r, &in, "validate", "-f", "-");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_STR_EQ(r.out, "4 objects valid\n");
    run_result_free(&r);
    in.file =
        kumo_test_source_path("tests/data/invalid/infra-size-negative.yaml", file, sizeof(file));
    RUN(&r, &in, "validate", "-f", "-");
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "<stdin>:2: Infra \"web\" is invalid: spec.groups[1].size: Invalid "
                                "value: -1: must be greater than or equal to 0");
    run_result_free(&r);
}

/* Writes text to dir/name and returns the path (static storage per call slot). */
static const char *write_file(const char *dir, const char *name, const char *text)
{
    static char paths[4][1024];
    static int slot;
    return kumo_test_write_file(dir, name, text, paths[slot++ % 4], sizeof(paths[0]));
}

KUMO_TEST(convert_round_trip)
{
    static const char *const examples[] = {"quickstart", "infra",      "app",       "loadbalancer",
                                           "migration",  "connection", "credential"};
    const char *dir = kumo_test_tmpdir();
    char source[1024], name[64];
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        snprintf(name, sizeof(name), "examples/%s.yaml", examples[i]);
        kumo_test_source_path(name, source, sizeof(source));
        run_result json, yaml, again;
        RUN(&json, NULL, "convert", "-f", source, "-o", "json");
        EXPECT_STATUS(&json, 0);
        KUMO_EXPECT_CONTAINS(json.out, "\"apiVersion\": \"kumo.dev/v1alpha1\"");
        const char *json_path = write_file(dir, "a.json", json.out);
        RUN(&yaml, NULL, "convert", "-f", json_path); /* JSON in: YAML out by default */
        EXPECT_STATUS(&yaml, 0);
        KUMO_EXPECT_CONTAINS(yaml.out, "apiVersion: kumo.dev/v1alpha1");
        const char *yaml_path = write_file(dir, "b.yaml", yaml.out);
        RUN(&again, NULL, "convert", "-f", yaml_path, "-o", "json");
        EXPECT_STATUS(&again, 0);
        KUMO_CHECK_(0, strcmp(json.out, again.out) == 0,
                    "%s: JSON -> YAML -> JSON differs:\n%s\n%s", examples[i], json.out, again.out);
        run_result_free(&json);
        run_result_free(&yaml);
        run_result_free(&again);
    }
    /* Several objects: a kubectl-style List, and YAML documents separated by ---. */
    run_result r;
    RUN(&r, NULL, "convert", "-f",
        kumo_test_source_path("examples/quickstart.yaml", source, sizeof(source)), "-o", "json");
    KUMO_EXPECT(strncmp(r.out,
                        "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"List\",\n    \"items\": [",
                        56) == 0);
    run_result_free(&r);
    RUN(&r, NULL, "convert", "-f", source, "-o", "yaml");
    size_t separators = 0;
    for (const char *p = r.out; (p = strstr(p, "\n---\n")) != NULL; p++)
        separators++;
    KUMO_EXPECT_INT_EQ(separators, 3);
    run_result_free(&r);
}

KUMO_TEST(convert_no_default)
{
    const char *dir = kumo_test_tmpdir();
    const char *path = write_file(dir, "kp.yaml",
                                  "apiVersion: kumo.dev/v1alpha1\nkind: Connection\n"
                                  "metadata: {name: c}\nspec: {driver: sim, region: r}\n");
    run_result r;
    RUN(&r, NULL, "convert", "-f", path, "-o", "json", "--no-default");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT(strstr(r.out, "namespace") == NULL);
    KUMO_EXPECT(strstr(r.out, "rateLimit") == NULL);
    run_result_free(&r);
    RUN(&r, NULL, "convert", "-f", path, "-o", "json");
    KUMO_EXPECT_CONTAINS(r.out, "\"namespace\": \"default\"");
    KUMO_EXPECT_CONTAINS(r.out, "\"provider\": \"sim\"");
    KUMO_EXPECT_CONTAINS(r.out, "\"burst\": 20");
    run_result_free(&r);
    /* A document that does not decode: nothing printed, exit 1. */
    path = write_file(dir, "bad.yaml",
                      "apiVersion: kumo.dev/v1alpha1\nkind: KeyPair\nmetadata: "
                      "{name: a}\nspec: {connection: c}\n---\nkind: Pod\n");
    RUN(&r, NULL, "convert", "-f", path, "-o", "yaml");
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_STR_EQ(r.out, "");
    KUMO_EXPECT_CONTAINS(r.err, "nothing printed");
    run_result_free(&r);
}

KUMO_TEST(deep_nesting)
{
    const char *dir = kumo_test_tmpdir();
    size_t levels = 10000, cap = levels * 8 + 512;
    char *json = malloc(cap), *yaml = malloc(cap);
    KUMO_REQUIRE(json != NULL && yaml != NULL);
    size_t j = (size_t)snprintf(json, cap,
                                "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": "
                                "\"Infra\", \"metadata\": {\"name\": \"deep\"}, "
                                "\"spec\": ");
    size_t y = (size_t)snprintf(yaml, cap,
                                "apiVersion: kumo.dev/v1alpha1\nkind: Infra\n"
                                "metadata: {name: deep}\nspec: ");
    for (size_t i = 0; i < levels; i++) {
        memcpy(json + j, "{\"a\":", 5), j += 5;
        memcpy(yaml + y, "{a: [", 5), y += 5;
    }
    for (size_t i = 0; i < levels; i++) {
        json[j++] = '}';
        memcpy(yaml + y, "]}", 2), y += 2;
    }
    memcpy(json + j, "}\n", 3);
    memcpy(yaml + y, "\n", 2);
    const char *paths[2] = {write_file(dir, "deep.json", json), write_file(dir, "deep.yaml", yaml)};
    for (int i = 0; i < 2; i++) {
        run_result r;
        RUN(&r, NULL, "validate", "-f", paths[i]);
        EXPECT_STATUS(&r, 1);
        KUMO_EXPECT_CONTAINS(r.err, "nesting deeper than 100 levels");
        KUMO_EXPECT_CONTAINS(r.err, paths[i]);
        KUMO_EXPECT_INT_LT(r.seconds, 10);
        run_result_free(&r);
    }
    free(json);
    free(yaml);
}

static const char huge_head[] = "apiVersion: kumo.dev/v1alpha1\nkind: KeyPair\nmetadata:\n"
                                "  name: huge\n  annotations:\n    filler: ";
enum { HUGE_BYTES = 100 << 20 };

KUMO_TEST(huge_file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/huge.yaml", kumo_test_tmpdir());
    FILE *f = fopen(path, "wb");
    KUMO_REQUIRE_PTR_NONNULL(f);
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof(chunk));
    fputs(huge_head, f);
    for (size_t done = 0; done < HUGE_BYTES; done += sizeof(chunk))
        KUMO_REQUIRE(fwrite(chunk, 1, sizeof(chunk), f) == sizeof(chunk));
    KUMO_REQUIRE(fclose(f) == 0);
    run_result r;
    RUN(&r, NULL, "validate", "-f", path);
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "huge.yaml is larger than the limit of 16777216 bytes");
    KUMO_EXPECT_CONTAINS(r.err, "--max-bytes");
    KUMO_EXPECT_INT_LT(r.seconds, 10);
    run_result_free(&r);
    /* The same file through stdin redirected from the file. */
    run_input in = {.file = path};
    RUN(&r, &in, "validate", "-f", "-");
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "input from stdin is larger than the limit of 16777216 bytes");
    KUMO_EXPECT_INT_LT(r.seconds, 10);
    run_result_free(&r);
}

KUMO_TEST(huge_stdin)
{
    /* 100 MiB streamed through a pipe: kumoctl stops reading at the limit. */
    run_input in = {.pipe_head = huge_head, .pipe_bytes = HUGE_BYTES};
    run_result r;
    RUN(&r, &in, "validate", "-f", "-");
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "input from stdin is larger than the limit of 16777216 bytes");
    KUMO_EXPECT_INT_LT(r.seconds, 20);
    run_result_free(&r);
    /* Just under a raised limit, the same stream is read and judged. */
    in.pipe_bytes = 1 << 20;
    RUN(&r, &in, "validate", "-f", "-", "--max-bytes", "2Mi");
    EXPECT_STATUS(&r, 1); /* the annotation is over 256 KiB */
    KUMO_EXPECT_CONTAINS(r.err, "KeyPair \"huge\" is invalid: metadata.annotations: Too long");
    run_result_free(&r);
}

KUMO_TEST(max_bytes_flag)
{
    char file[1024];
    kumo_test_source_path("examples/infra.yaml", file, sizeof(file));
    run_result r;
    RUN(&r, NULL, "validate", "-f", file, "--max-bytes", "100");
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "infra.yaml is larger than the limit of 100 bytes");
    run_result_free(&r);
    RUN(&r, NULL, "validate", "-f", file, "--max-bytes", "lots");
    EXPECT_STATUS(&r, 2);
    KUMO_EXPECT_CONTAINS(r.err, "--max-bytes \"lots\" is not a byte count");
    run_result_free(&r);
    RUN(&r, NULL, "validate", "-f", file, "--max-bytes=0");
    EXPECT_STATUS(&r, 2);
    run_result_free(&r);
}

KUMO_TEST(help_every_command)
{
    static const char *const commands[] = {
        "create",   "explain",  "get",           "edit",    "delete", "scale", "rollout",
        "describe", "validate", "diff",          "apply",   "patch",  "wait",  "convert",
        "label",    "annotate", "api-resources", "version", "help"};
    run_result r;
    RUN(&r, NULL, "--help");
    EXPECT_STATUS(&r, 0);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        KUMO_EXPECT_CONTAINS(r.out, commands[i]);
    /* grouped as kubectl's help */
    const char *deploy = strstr(r.out, "Deploy Commands:\n"), *scale = strstr(r.out, "  scale ");
    const char *settings = strstr(r.out, "Settings Commands:\n"),
               *label = strstr(r.out, "  label ");
    KUMO_EXPECT(deploy != NULL && scale > deploy && settings != NULL && label > settings);
    KUMO_EXPECT_CONTAINS(r.out, "Basic Commands (Intermediate):\n  explain ");
    KUMO_EXPECT_CONTAINS(r.out, "Advanced Commands:\n  diff ");
    run_result_free(&r);
    RUN(&r, NULL, "-h");
    EXPECT_STATUS(&r, 0);
    run_result_free(&r);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        RUN(&r, NULL, commands[i], "--help");
        EXPECT_STATUS(&r, 0);
        KUMO_EXPECT_CONTAINS(r.out, "Usage:");
        KUMO_EXPECT_CONTAINS(r.out, commands[i]);
        run_result_free(&r);
        RUN(&r, NULL, "help", commands[i]);
        EXPECT_STATUS(&r, 0);
        KUMO_EXPECT_CONTAINS(r.out, "Usage:");
        run_result_free(&r);
    }
    RUN(&r, NULL, "validate", "-h");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_CONTAINS(r.out, "--max-bytes");
    run_result_free(&r);
}

KUMO_TEST(usage_errors)
{
    static const struct {
        const char *args[6];
        const char *expect;
    } rows[] = {
        {{"frobnicate"}, "unknown command \"frobnicate\" for \"kumoctl\"\nSee 'kumoctl --help'"},
        {{"--frobnicate"}, "unknown flag \"--frobnicate\" for \"kumoctl\""},
        {{"validate", "--frobnicate", "-f", "x"},
         "unknown flag \"--frobnicate\" for \"kumoctl validate\"\nSee 'kumoctl validate --help'"},
        {{"convert", "-x"}, "unknown flag \"-x\" for \"kumoctl convert\""},
        {{"validate"}, "no input; give -f FILE, -f DIR or -f - (stdin)"},
        {{"validate", "-f"}, "flag -f needs a value (a file, a directory or - for stdin)"},
        {{"validate", "examples/"}, "unexpected argument \"examples/\"; name inputs with -f"},
        {{"convert", "-f", "-", "-o", "xml"}, "unknown output \"xml\"; use -o json or -o yaml"},
        {{"version", "--help=yes"}, "flag --help does not take a value"},
        {{"version", "extra"}, "unexpected argument \"extra\""},
        {{"help", "frobnicate"}, "unknown command \"frobnicate\""},
        {{NULL}, "Usage:"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        run_result r;
        run_kumoctl(&r, NULL, rows[i].args);
        KUMO_CHECK_(0, r.status == 2 && strstr(r.err, rows[i].expect) != NULL,
                    "row %zu: exit %d (wanted 2), stderr lacks \"%s\":\n%s", i, r.status,
                    rows[i].expect, r.err);
        KUMO_CHECK_(0, r.out[0] == '\0', "row %zu: usage errors print nothing on stdout: %s", i,
                    r.out);
        run_result_free(&r);
    }
}

KUMO_TEST(missing_input)
{
    const char *dir = kumo_test_tmpdir();
    char path[512];
    run_result r;
    snprintf(path, sizeof(path), "%s/nope.yaml", dir);
    RUN(&r, NULL, "validate", "-f", path);
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "cannot read ");
    KUMO_EXPECT_CONTAINS(r.err, "nope.yaml: No such file or directory");
    run_result_free(&r);
    /* An empty directory, and an empty file. */
    RUN(&r, NULL, "validate", "-f", dir);
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "holds no *.yaml, *.yml or *.json files");
    run_result_free(&r);
    const char *empty = write_file(dir, "empty.yaml", "# nothing here\n");
    RUN(&r, NULL, "validate", "-f", empty);
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "no objects found");
    run_result_free(&r);
}

KUMO_TEST(version_output)
{
    run_result r;
    RUN(&r, NULL, "version");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_STR_EQ(r.out, "kumoctl v0.1.0\nAPI version: kumo.dev/v1alpha1\n");
    run_result_free(&r);
    RUN(&r, NULL, "version", "-o", "json");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_CONTAINS(r.out, "\"version\": \"v0.1.0\"");
    KUMO_EXPECT_CONTAINS(r.out, "\"apiVersion\": \"kumo.dev/v1alpha1\"");
    run_result_free(&r);
    RUN(&r, NULL, "version", "--output=yaml");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_CONTAINS(r.out, "clientVersion:\n  version: v0.1.0\n");
    run_result_free(&r);
}

/* The README's commands kill only what they mean to: no pkill/killall by a pattern that
 * matches every such process on the host. */
KUMO_TEST(readme_kills_only_kumo_processes)
{
    char path[1024];
    char *text = kumo_test_read_file(kumo_test_source_path("README.md", path, sizeof(path)), NULL);
    KUMO_REQUIRE(text != NULL);
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        int broad = strstr(line, "pkill") != NULL || strstr(line, "killall") != NULL;
        KUMO_CHECK_(0, !broad, "README.md kills processes host-wide: %s", line);
        line = end ? end + 1 : NULL;
    }
    free(text);
}

/* Writes text to a new file in the case's temporary directory; returns its path in buf. */
static const char *temp_file(const char *name, const char *text, char *buf, size_t size)
{
    return kumo_test_write_file(kumo_test_tmpdir(), name, text, buf, size);
}

KUMO_TEST(every_error_of_an_object)
{
    /* an int32 overflow and an unknown field no longer hide the other problems */
    char path[700];
    temp_file(
        "bad.yaml",
        "apiVersion: kumo.dev/v1alpha1\nkind: Infra\nmetadata:\n  name: Bad_Name\nspec:\n"
        "  groups:\n"
        "    - {name: a, size: 99999999999, connection: x, instanceType: t3.small, image: u}\n"
        "    - {name: a, size: -1, bogus: 1}\n",
        path, sizeof(path));
    run_result r;
    RUN(&r, NULL, "validate", "-f", path);
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "spec.groups[0].size: Invalid value: 99999999999: out of range");
    KUMO_EXPECT_CONTAINS(r.err, "spec.groups[1].bogus: Unknown field");
    KUMO_EXPECT_CONTAINS(r.err, "metadata.name: Invalid value: \"Bad_Name\"");
    KUMO_EXPECT_CONTAINS(r.err, "spec.groups[1].size: Invalid value: -1");
    KUMO_EXPECT_CONTAINS(r.err, "spec.groups[1].name: Duplicate value: \"a\"");
    /* a field left out to decode the rest is not also reported as missing */
    KUMO_EXPECT(strstr(r.err, "spec.groups[0].size: Required") == NULL);
    run_result_free(&r);
}

KUMO_TEST(yaml_anchors_and_aliases)
{
    char path[700];
    temp_file("anchors.yaml",
              "apiVersion: kumo.dev/v1alpha1\nkind: Infra\nmetadata:\n  name: anchored\nspec:\n"
              "  groups:\n"
              "    - &front {name: a, size: 1, connection: aws-use1, instanceType: t3.small,"
              " image: &img ubuntu-22.04}\n"
              "    - <<: *front\n      name: b\n      image: *img\n",
              path, sizeof(path));
    run_result r;
    RUN(&r, NULL, "convert", "-f", path, "-o", "json", "--no-default");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_CONTAINS(r.out, "\"name\": \"b\",\n                \"size\": 1,\n"
                                "                \"connection\": \"aws-use1\"");
    run_result_free(&r);
}

KUMO_TEST(yaml_bomb_refused)
{
    /* a billion laughs: 9^9 strings if expanded; refused after bounded work and memory */
    char text[4096], path[700];
    size_t len = (size_t)snprintf(text, sizeof(text),
                                  "apiVersion: kumo.dev/v1alpha1\nkind: Infra\nmetadata:\n"
                                  "  name: bomb\n  annotations:\n"
                                  "    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i < 10; i++) {
        len += (size_t)snprintf(text + len, sizeof(text) - len, "    a%d: &a%d [", i, i);
        for (int j = 0; j < 9; j++)
            len += (size_t)snprintf(text + len, sizeof(text) - len, "%s*a%d", j ? ", " : "", i - 1);
        len += (size_t)snprintf(text + len, sizeof(text) - len, "]\n");
    }
    temp_file("bomb.yaml", text, path, sizeof(path));
    run_result r;
    RUN(&r, NULL, "validate", "-f", path);
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "aliases expand to more than 16777216 bytes");
    KUMO_EXPECT_CONTAINS(r.err, "billion laughs");
    /* CPU time, not wall time: robust on a loaded machine (typically ~0.1 s under ASan) */
    KUMO_CHECK_(0, r.cpu_seconds < 1.0, "refusing the bomb took %.2f s of CPU", r.cpu_seconds);
    KUMO_CHECK_(0, r.max_rss_kib < 256 * 1024, "refusing the bomb used %ld KiB", r.max_rss_kib);
    run_result_free(&r);
}

KUMO_TEST(explain_fields)
{
    run_result r;
    RUN(&r, NULL, "explain", "inf.spec.groups.size");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_STR_EQ(r.out, "GROUP:      kumo.dev\nKIND:       Infra\nVERSION:    v1alpha1\n\n"
                              "FIELD: size <integer>\n\nDESCRIPTION:\n    number of machines\n\n");
    run_result_free(&r);
    RUN(&r, NULL, "explain", "infras.spec");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_CONTAINS(r.out, "FIELD: spec <InfraSpec>\n");
    KUMO_EXPECT_CONTAINS(r.out, "FIELDS:\n  groups\t<[]NodeGroup>\n");
    KUMO_EXPECT_CONTAINS(
        r.out, "  labels\t<map[string]string>\n    put on every Machine of every group\n");
    run_result_free(&r);
    RUN(&r, NULL, "explain", "infra.spec.driftPolicy");
    KUMO_EXPECT_CONTAINS(r.out,
                         "ENUM:\n    DriftPolicyUnspecified\n    Recreate - replace the machine\n");
    run_result_free(&r);
    RUN(&r, NULL, "explain", "app", "--recursive");
    EXPECT_STATUS(&r, 0);
    KUMO_EXPECT_CONTAINS(r.out, "  spec\t<AppSpec>\n    infraRef\t<LocalObjectReference>\n");
    run_result_free(&r);
    /* every kind, the whole tree */
    static const char *const kinds[] = {"credential",   "connection",    "infra",   "machine",
                                        "network",      "securitygroup", "keypair", "app",
                                        "loadbalancer", "migration"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        RUN(&r, NULL, "explain", kinds[i], "--recursive");
        EXPECT_STATUS(&r, 0);
        KUMO_EXPECT_CONTAINS(r.out, "FIELDS:\n  apiVersion\t<string>\n");
        KUMO_EXPECT_CONTAINS(r.out, "\n  spec\t<");
        run_result_free(&r);
    }
    RUN(&r, NULL, "explain", "infra.spec.nope");
    EXPECT_STATUS(&r, 1);
    KUMO_EXPECT_CONTAINS(r.err, "field \"nope\" does not exist in infra.spec");
    run_result_free(&r);
    RUN(&r, NULL, "explain", "gizmo");
    EXPECT_STATUS(&r, 1);
    run_result_free(&r);
}
