/*
 * kubectl_test.c - kumod as a user meets it: the kubectl found on PATH,
 * unmodified, with only the kubeconfig kumod wrote, next to kumoctl; and the
 * official JavaScript client (@kubernetes/client-node from npm).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/harness/test.h"
#include "tests/kubeapi/fixture.h"

/* Runs cmd, requires exit status 0, returns the output (caller frees). */
static char *must(const kube_user *u, const char *cmd)
{
    char *out = NULL;
    int rc = kube_sh(u, &out, "%s", cmd);
    if (rc != 0)
        fprintf(stderr, "`%s` exited %d:\n%s\n", cmd, rc, out);
    KUMO_EXPECT_INT_EQ(rc, 0);
    return out;
}

/*
 * The outputs of two commands are the same once ages are normalized. The
 * controllers may change an object between the two reads, so a difference
 * is read again a few times before it counts.
 */
static void same_output(const kube_user *u, const char *a, const char *b)
{
    for (int attempt = 1;; attempt++) {
        char *x = must(u, a), *y = must(u, b);
        kube_normalize_ages(x);
        kube_normalize_ages(y);
        int same = strcmp(x, y) == 0;
        if (!same && attempt == 5) {
            fprintf(stderr, "`%s`:\n%s\n`%s`:\n%s\n", a, x, b, y);
            KUMO_EXPECT_STR_EQ(x, y);
        }
        free(x);
        free(y);
        if (same || attempt == 5)
            return;
        usleep(500000);
    }
}

static void expect_output(const kube_user *u, const char *cmd, const char *text)
{
    char *out = must(u, cmd);
    KUMO_EXPECT_CONTAINS(out, text);
    free(out);
}

/*
 * Applies every file of examples/ with client-side apply, then again: the
 * second time every object is unchanged. Credentials are the exception: their
 * data is write-only, so kubectl cannot see it is the same and sends it again
 * ("configured"), which writes nothing (the resourceVersion stays). The
 * migrations come last, as they change the Infras they move.
 */
static void apply_examples_twice(const kube_user *u, const char *examples)
{
    char cmd[1024];
    /* the Credentials of examples/ (controllers may make others meanwhile) */
    static const char list_rv[] = "kubectl get credentials aws-real-account sim-production "
                                  "sim-account -o jsonpath='{range "
                                  ".items[*]}{.metadata.resourceVersion} {end}'";
    const char *sets[] = {"ls *.yaml | grep -v '^migration'", "ls migration*.yaml"};
    for (int set = 0; set < 2; set++) {
        snprintf(cmd, sizeof(cmd),
                 "cd %s && for f in $(%s); do kubectl apply -f \"$f\" || exit 1; done", examples,
                 sets[set]);
        char *first = must(u, cmd);
        KUMO_EXPECT_CONTAINS(first, set == 0 ? "infra.kumo.dev/shop created"
                                             : "migration.kumo.dev/web-to-west created");
        free(first);
        char *rv_before = must(u, list_rv);
        char *second = must(u, cmd);
        char *rv_after = must(u, list_rv);
        KUMO_EXPECT_STR_EQ(rv_before, rv_after);
        int lines = 0;
        for (char *line = strtok(second, "\n"); line != NULL; line = strtok(NULL, "\n"), lines++) {
            int credential = strncmp(line, "credential.kumo.dev/", 20) == 0;
            if (strstr(line, credential ? " configured" : " unchanged") == NULL)
                fprintf(stderr, "second apply: %s\n", line);
            KUMO_EXPECT(strstr(line, credential ? " configured" : " unchanged") != NULL);
        }
        KUMO_EXPECT_INT_GE(lines, set == 0 ? 20 : 2);
        free(second);
        free(rv_before);
        free(rv_after);
    }
}

/*
 * Server-side apply keeps field ownership: the same apply again writes
 * nothing; another manager changing a field kubectl owns fails with the
 * conflict until --force-conflicts.
 */
static void server_side_apply(const kube_user *u)
{
    char cmd[1024];
    static const char rv[] = "kubectl get keypair made-by-kubectl -o "
                             "jsonpath='{.metadata.resourceVersion}'";
    char *before = must(u, rv);
    snprintf(cmd, sizeof(cmd), "kubectl apply --server-side -f %s/kp.yaml", u->dir);
    expect_output(u, cmd, "serverside-applied");
    char *after = must(u, rv);
    KUMO_EXPECT_STR_EQ(before, after);
    free(before);
    free(after);
    expect_output(u, "kubectl get keypair made-by-kubectl -o yaml --show-managed-fields",
                  "manager: kubectl");
    snprintf(cmd, sizeof(cmd),
             "sed 's/test$/other/' %s/kp.yaml > %s/kp2.yaml && kubectl apply --server-side "
             "--field-manager other -f %s/kp2.yaml",
             u->dir, u->dir, u->dir);
    char *out = NULL;
    KUMO_EXPECT_INT_NE(kube_sh(u, &out, "%s", cmd), 0);
    KUMO_EXPECT_CONTAINS(out, "conflict with \"kubectl\": .spec.publicKey");
    free(out);
    snprintf(cmd, sizeof(cmd),
             "kubectl apply --server-side --field-manager other --force-conflicts -f %s/kp2.yaml",
             u->dir);
    expect_output(u, cmd, "serverside-applied");
    same_output(u, "kubectl get keypair made-by-kubectl -o jsonpath='{.spec.publicKey}'",
                "echo -n 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB other'");
}

KUMO_TEST(kubectl_session)
{
    kube_user u;
    kube_user_start(&u);
    char examples[512], cmd[1024];
    kumo_test_source_path("examples", examples, sizeof(examples));
    expect_output(&u, "kubectl api-resources", "kumo.dev/v1alpha1");
    expect_output(&u, "kubectl api-resources --categories=kumo -o name", "infras.kumo.dev");
    apply_examples_twice(&u, examples);
    /* the same table as kumoctl, from the same printer columns */
    same_output(&u, "kubectl get infras", "$kumoctl get infras");
    same_output(&u, "kubectl get connections", "$kumoctl get connections");
    same_output(&u, "kubectl get machines -o wide", "$kumoctl get machines -o wide");
    same_output(&u, "kubectl get infras -o name", "$kumoctl get infras -o name");
    same_output(&u, "kubectl get connections --chunk-size=1 -o name",
                "$kumoctl get connections -o name");
    /* the same objects, field for field (JSON with sorted keys) */
    static const char sorted[] =
        " -o json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), "
        "sort_keys=True))'";
    const char *objects[] = {"infra shop", "keypair ops-key", "credential sim-account"};
    for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
        char a[512], b[512];
        snprintf(a, sizeof(a), "kubectl get %s%s", objects[i], sorted);
        snprintf(b, sizeof(b), "$kumoctl get %s%s", objects[i], sorted);
        same_output(&u, a, b);
    }
    expect_output(&u, "kubectl get infra shop -o yaml", "kind: Infra");
    expect_output(&u, "kubectl get infra shop -o json", "\"kind\": \"Infra\"");
    same_output(&u, "kubectl get infras -l app.kubernetes.io/part-of=shop -o name",
                "echo infra.kumo.dev/shop");
    expect_output(&u, "kubectl get machines -A", "NAMESPACE");
    /* create; apply twice; server-side apply; merge patch */
    snprintf(cmd, sizeof(cmd),
             "printf 'apiVersion: kumo.dev/v1alpha1\\nkind: KeyPair\\nmetadata:\\n  name: "
             "made-by-kubectl\\nspec:\\n  connection: aws-use1\\n  publicKey: ssh-ed25519 "
             "AAAAC3NzaC1lZDI1NTE5AAAAIB test\\n' > %s/kp.yaml && kubectl create -f %s/kp.yaml",
             u.dir, u.dir);
    expect_output(&u, cmd, "keypair.kumo.dev/made-by-kubectl created");
    snprintf(cmd, sizeof(cmd), "kubectl apply -f %s/keypair.yaml", examples);
    expect_output(&u, cmd, "unchanged");
    snprintf(cmd, sizeof(cmd), "kubectl apply --server-side -f %s/kp.yaml", u.dir);
    expect_output(&u, cmd, "serverside-applied");
    server_side_apply(&u);
    expect_output(&u,
                  "kubectl patch infra shop --type merge -p '{\"metadata\":{\"labels\":"
                  "{\"patched\":\"yes\"}}}'",
                  "patched");
    expect_output(&u, "$kumoctl get infra shop -o yaml", "patched: \"yes\"");
    expect_output(&u, "kubectl describe infra shop", "Events:");
    expect_output(&u, "kubectl explain infra.spec.groups", "A set of identical machines");
    expect_output(&u, "kubectl get ns", "default");
    /* a rejected object names the field, as kumoctl does */
    char *out = NULL;
    snprintf(cmd, sizeof(cmd),
             "printf 'apiVersion: kumo.dev/v1alpha1\\nkind: Infra\\nmetadata:\\n  name: bad\\n"
             "spec:\\n  groups:\\n  - name: g\\n    size: -1\\n' | kubectl apply -f -");
    KUMO_EXPECT_INT_NE(kube_sh(&u, &out, "%s", cmd), 0);
    KUMO_EXPECT_CONTAINS(out, "spec.groups[0].size");
    free(out);
    kube_user_stop(&u);
}

/*
 * core/v1 events can be watched: once `kubectl get events -w` has listed what
 * is there, scaling the Infra records an Event that arrives through the watch.
 */
static void watch_events(const kube_user *u)
{
    char file[400], pid[400], cmd[1024];
    snprintf(file, sizeof(file), "%s/events.out", u->dir);
    snprintf(pid, sizeof(pid), "%s/events.pid", u->dir);
    snprintf(cmd, sizeof(cmd),
             "timeout 200 kubectl get events -w > %s 2>&1 < /dev/null & echo $! > %s", file, pid);
    KUMO_REQUIRE_INT_EQ(kube_sh(u, NULL, "%s", cmd), 0);
    snprintf(cmd, sizeof(cmd), "cat %s", file);
    if (!kube_sh_until(u, "MachinesCreated", 60, cmd)) {
        char *seen = must(u, cmd);
        fprintf(stderr, "kubectl get events -w wrote:\n%s\n", seen);
        free(seen);
        KUMO_REQUIRE(0);
    }
    snprintf(cmd, sizeof(cmd), "wc -l < %s", file);
    char *count = must(u, cmd);
    int before = (int)strtol(count, NULL, 10);
    free(count);
    free(must(u, "kubectl patch infra hello --type merge -p "
                 "'{\"spec\":{\"groups\":[{\"name\":\"front\",\"size\":3,\"connection\":"
                 "\"aws-use1\",\"instanceType\":\"t3.small\",\"image\":\"ubuntu-22.04\"},"
                 "{\"name\":\"workers\",\"size\":3,\"image\":\"ubuntu-22.04\",\"placement\":"
                 "{\"vcpuMin\":2,\"memoryMibMin\":4096,\"maxPricePerHour\":0.15,\"preference\":"
                 "\"Cost\",\"spreadConnections\":2}}]}}'"));
    snprintf(cmd, sizeof(cmd), "test $(wc -l < %s) -gt %d && echo grown", file, before);
    KUMO_EXPECT(kube_sh_until(u, "grown", 120, cmd));
    kube_sh(u, NULL, "kill $(cat %s) || true", pid);
}

KUMO_TEST(kubectl_watch_wait_delete)
{
    kube_user u;
    kube_user_start(&u);
    char examples[512], cmd[1024];
    kumo_test_source_path("examples", examples, sizeof(examples));
    snprintf(cmd, sizeof(cmd), "kubectl apply -f %s/quickstart.yaml", examples);
    expect_output(&u, cmd, "infra.kumo.dev/hello created");
    expect_output(&u, "kubectl wait --for=condition=Ready infra/hello --timeout=240s",
                  "condition met");
    /* describe shows the Events kumo recorded for the object (core/v1 events) */
    expect_output(&u, "kubectl describe infra hello", "MachinesCreated");
    expect_output(&u, "kubectl get events -o json", "\"kind\": \"Infra\"");
    watch_events(&u);
    /* a watch through kubectl sees a change made through kumoctl */
    char watch_file[400], pid_file[400];
    snprintf(watch_file, sizeof(watch_file), "%s/watch.out", u.dir);
    snprintf(pid_file, sizeof(pid_file), "%s/watch.pid", u.dir);
    snprintf(cmd, sizeof(cmd),
             "timeout 120 kubectl get connections -w > %s 2>&1 < /dev/null & echo $! > %s",
             watch_file, pid_file);
    KUMO_REQUIRE_INT_EQ(kube_sh(&u, NULL, "%s", cmd), 0);
    snprintf(cmd, sizeof(cmd), "cat %s", watch_file);
    KUMO_REQUIRE(kube_sh_until(&u, "gcp-euw1", 60, cmd));
    snprintf(cmd, sizeof(cmd),
             "printf 'apiVersion: kumo.dev/v1alpha1\\nkind: Connection\\nmetadata:\\n  name: "
             "from-kumoctl\\nspec:\\n  driver: sim\\n  provider: aws\\n  region: us-west-2\\n' "
             "| $kumoctl apply -f -");
    free(must(&u, cmd));
    snprintf(cmd, sizeof(cmd), "cat %s", watch_file);
    KUMO_EXPECT(kube_sh_until(&u, "from-kumoctl", 60, cmd));
    kube_sh(&u, NULL, "kill $(cat %s) || true", pid_file);
    /* delete waits until the finalizer is done: then the machines are gone too */
    expect_output(&u, "kubectl delete infra hello --timeout=240s", "deleted");
    expect_output(&u, "kubectl get infra hello 2>&1; true", "NotFound");
    KUMO_EXPECT(kube_sh_until(&u, "No resources found", 120, "kubectl get machines"));
    kube_user_stop(&u);
}

KUMO_TEST(js_client)
{
    const char *npm_dir = getenv("KUMO_NPM_DIR");
    if (npm_dir == NULL || system("command -v node >/dev/null 2>&1 && command -v npm "
                                  ">/dev/null 2>&1") != 0)
        kumo_test_skip("node, npm or KUMO_NPM_DIR missing");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s && cd %s && (test -d node_modules/@kubernetes/client-node || "
             "npm install --no-audit --no-fund --silent @kubernetes/client-node@1 >npm.log "
             "2>&1)",
             npm_dir, npm_dir);
    if (system(cmd) != 0)
        kumo_test_skip("npm could not install @kubernetes/client-node (see %s/npm.log)", npm_dir);
    kube_user u;
    kube_user_start(&u);
    char script[512], out_file[400];
    kumo_test_source_path("tests/kubeapi/client.mjs", script, sizeof(script));
    snprintf(out_file, sizeof(out_file), "%s/node.out", u.dir);
    char *out = NULL;
    int rc =
        kube_sh(&u, &out, "cd %s && NODE_PATH=%s/node_modules node %s", npm_dir, npm_dir, script);
    if (rc != 0)
        fprintf(stderr, "node %s exited %d:\n%s\n", script, rc, out);
    KUMO_EXPECT_INT_EQ(rc, 0);
    KUMO_EXPECT_CONTAINS(out, "listed js-infra");
    KUMO_EXPECT_CONTAINS(out, "watched MODIFIED js-infra");
    KUMO_EXPECT_CONTAINS(out, "patched js-infra");
    free(out);
    expect_output(&u, "$kumoctl get infra js-infra -o yaml", "by: client-node");
    kube_user_stop(&u);
}
