/*
 * kumod_test.c - kumod's own /metrics without machines (no root needed): the
 * text parses with Prometheus's own checker, a real Prometheus scrapes it and
 * PromQL sees the API's request rate; bad paths and methods get clear
 * answers; agent reports are taken only for the machine whose subject they
 * come on and dropped once silent; and the recording and alerting rules of
 * docs/monitoring.md pass `promtool check rules`.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apis/kumo/v1alpha1/agent.pb-c.h"
#include "tests/e2e/e2e.h"
#include "tests/monitor/monitor_test.h"
#include "tests/monitor/prom.h"

int monitor_sh(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    int rc = system(line);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

char *monitor_scrape(int port)
{
    int code = 0;
    char *body = prom_http_get(port, "/metrics", &code);
    if (code != 200) {
        fprintf(stderr, "GET :%d/metrics: HTTP %d %.200s\n", port, code, body ? body : "");
        free(body);
        return NULL;
    }
    return body;
}

int monitor_promtool_ok(int port, const char *dir)
{
    char file[600];
    snprintf(file, sizeof(file), "%s/scrape.txt", dir);
    char *text = monitor_scrape(port);
    FILE *f = text ? fopen(file, "w") : NULL;
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    free(text);
    if (f == NULL)
        return 0;
    /* A parse error or any lint advice fails the case, except the one advice node_exporter's
     * own names get (node_memory_MemAvailable_bytes is camelCase by design). */
    return monitor_sh("promtool check metrics < %s > %s.check 2>&1; rc=$?; cat %s.check >&2; "
                      "grep -v \"^node_memory_Mem[A-Za-z]*_bytes metric names should be written "
                      "in 'snake_case' not 'camelCase'$\" %s.check | grep -q . && exit 1; "
                      "[ $rc -eq 0 ] || [ $rc -eq 3 ]",
                      file, file, file, file) == 0;
}

static int requests_seen(prom *p)
{
    return prom_value(p, "sum(rate(kumo_apiserver_requests_total[20s]))") > 0;
}

KUMO_TEST(kumod_metrics_scraped)
{
    if (access("/usr/bin/promtool", X_OK) != 0)
        kumo_test_skip("promtool is not installed (hack/deps.sh installs prometheus)");
    char listen[64];
    int port = prom_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    const char *args[] = {"--metrics-listen", listen, NULL};
    e2e t;
    e2e_start_with(&t, "30", args);
    /* Some API traffic: gets of what is not there, and a write. */
    for (int i = 0; i < 20; i++) {
        ProtobufCMessage *m = e2e_get(&t, "Infra", "none");
        kumo_object_destroy(m);
    }
    E2E_REQUIRE(&t, e2e_sim_connection(&t, "sim1", "us-east-1", 100, 10, 10, NULL) == 0);
    char *text = NULL;
    for (double deadline = kumo_test_now() + 30; kumo_test_now() < deadline; e2e_sleep_ms(100)) {
        text = monitor_scrape(port); /* kumod serves the API a moment before /metrics */
        if (text && strstr(text, "kumo_controller_reconciles_total{controller=\"connection\"}"))
            break;
        free(text);
        text = NULL;
    }
    E2E_REQUIRE(&t, text != NULL);
    KUMO_EXPECT_CONTAINS(text, "# TYPE kumo_apiserver_requests_total counter\n");
    KUMO_EXPECT_CONTAINS(text, "kumo_apiserver_requests_total{verb=\"get\",resource=\"infras\","
                               "code=\"404\"} 20\n");
    KUMO_EXPECT_CONTAINS(text, "kumo_store_commit_duration_seconds_bucket{le=\"+Inf\"}");
    KUMO_EXPECT_CONTAINS(text, "kumo_controller_reconciles_total{controller=\"connection\"}");
    free(text);
    KUMO_EXPECT(monitor_promtool_ok(port, t.dir));

    int code = 0;
    char *body = prom_http_get(port, "/other", &code);
    KUMO_EXPECT_INT_EQ(code, 404);
    KUMO_EXPECT_CONTAINS(body, "only /metrics");
    free(body);

    prom p;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/prometheus", t.dir);
    E2E_REQUIRE(&t, monitor_sh("mkdir -p %s", dir) == 0);
    if (prom_start(&p, dir, port, 1) != 0) {
        prom_stop(&p);
        E2E_REQUIRE(&t, 0);
    }
    int seen = 0;
    for (double deadline = kumo_test_now() + 60; !seen && kumo_test_now() < deadline;) {
        ProtobufCMessage *m = e2e_get(&t, "Infra", "none"); /* keep the rate up */
        kumo_object_destroy(m);
        seen = requests_seen(&p);
        if (!seen)
            e2e_sleep_ms(300);
    }
    KUMO_EXPECT(seen);
    KUMO_EXPECT_INT_EQ(prom_value(&p, "up{job=\"kumod\"}"), 1);
    prom_stop(&p);
    e2e_stop(&t);
}

/* Writes the YAML block that follows "<!-- kumo-rules.yml -->" in docs/monitoring.md. */
static int rules_extract(const char *out_path)
{
    char doc[1024];
    kumo_test_source_path("docs/monitoring.md", doc, sizeof(doc));
    char *text = kumo_test_read_file(doc, NULL);
    if (text == NULL)
        return -1;
    const char *mark = strstr(text, "<!-- kumo-rules.yml -->");
    const char *start = mark ? strstr(mark, "```yaml\n") : NULL;
    const char *end = start ? strstr(start + 8, "\n```") : NULL;
    FILE *f = end ? fopen(out_path, "w") : NULL;
    if (f) {
        fwrite(start + 8, 1, (size_t)(end - start - 8) + 1, f);
        fclose(f);
    }
    free(text);
    return f ? 0 : -1;
}

KUMO_TEST(rules_check)
{
    if (access("/usr/bin/promtool", X_OK) != 0)
        kumo_test_skip("promtool is not installed (hack/deps.sh installs prometheus)");
    char path[600];
    snprintf(path, sizeof(path), "%s/kumo-rules.yml", kumo_test_tmpdir());
    KUMO_REQUIRE_INT_EQ(rules_extract(path), 0);
    KUMO_EXPECT_INT_EQ(monitor_sh("promtool check rules %s >&2", path), 0);
    /* The checker can fail: a broken expression is refused. */
    KUMO_REQUIRE_INT_EQ(monitor_sh("sed -i '0,/expr: /s//expr: rate(/' %s", path), 0);
    KUMO_EXPECT_INT_NE(monitor_sh("promtool check rules %s >/dev/null 2>&1", path), 0);
}

/* Publishes a report for `body_uid` on `subject_uid`'s subject (interval 1 s). */
static void report_publish(natsConnection *nc, const char *subject_uid, const char *body_uid)
{
    Kumo__V1alpha1__AgentMetricsReport r = KUMO__V1ALPHA1__AGENT_METRICS_REPORT__INIT;
    Kumo__V1alpha1__AgentCpuSeconds cpu = KUMO__V1ALPHA1__AGENT_CPU_SECONDS__INIT;
    cpu.user = 12.5;
    r.machine_uid = (char *)body_uid;
    r.interval_ms = 1000;
    r.cpu = &cpu;
    r.memory_total_bytes = 1 << 30;
    r.memory_available_bytes = 1 << 29;
    uint8_t buf[256];
    size_t n = protobuf_c_message_pack(&r.base, buf);
    char subject[128];
    snprintf(subject, sizeof(subject), "kumo.agent.%s.metrics", subject_uid);
    KUMO_EXPECT(natsConnection_Publish(nc, subject, buf, (int)n) == NATS_OK);
    natsConnection_Flush(nc);
}

/* The scrape holds (want 1) or lacks (want 0) `needle`. */
typedef struct text_want {
    int port;
    const char *needle;
    int want;
} text_want;

static int text_is(e2e *t, void *arg)
{
    (void)t;
    text_want *w = arg;
    char *text = monitor_scrape(w->port);
    int found = text && strstr(text, w->needle) != NULL;
    free(text);
    return text && found == w->want;
}

KUMO_TEST(reports_checked_and_dropped)
{
    char listen[64], agent_listen[64];
    int port = prom_free_port(), agent_port = prom_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(agent_listen, sizeof(agent_listen), "127.0.0.1:%d", agent_port);
    const char *args[] = {"--metrics-listen", listen, "--agent-listen", agent_listen, NULL};
    setenv("KUMO_AGENT_BUS_BENCH_USER", "bench:pw-for-this-test", 1); /* kumod inherits it */
    e2e t;
    e2e_start_with(&t, "30", args);
    unsetenv("KUMO_AGENT_BUS_BENCH_USER");
    char url[64];
    snprintf(url, sizeof(url), "nats://bench:pw-for-this-test@127.0.0.1:%d", agent_port);
    natsConnection *nc = NULL;
    int joined = 0;
    for (double deadline = kumo_test_now() + 20; !joined && kumo_test_now() < deadline;) {
        joined = natsConnection_ConnectTo(&nc, url) == NATS_OK;
        if (!joined)
            e2e_sleep_ms(100);
    }
    E2E_REQUIRE(&t, joined);

    /* A report for itself is taken; the machine (unknown to the store) is labelled by uid.
     * Published every 200 ms, as an agent would, until kumod (starting up) shows it. */
    text_want good = {port, "node_memory_MemAvailable_bytes{machine=\"m-good\"} 536870912\n", 1};
    int seen = 0;
    double last = 0;
    for (double deadline = kumo_test_now() + 30; !seen && kumo_test_now() < deadline;) {
        report_publish(nc, "m-good", "m-good");
        last = kumo_test_now();
        e2e_sleep_ms(200);
        seen = text_is(&t, &good);
    }
    KUMO_EXPECT(seen);
    text_want cpu = {port, "node_cpu_seconds_total{machine=\"m-good\",mode=\"user\"} 12.5\n", 1};
    KUMO_EXPECT(text_is(&t, &cpu));
    /* One for another machine, and one that is not a report: both refused. */
    report_publish(nc, "m-liar", "m-good");
    KUMO_EXPECT(natsConnection_PublishString(nc, "kumo.agent.m-junk.metrics", "{not protobuf") ==
                NATS_OK);
    natsConnection_Flush(nc);
    text_want rejected = {port, "kumo_monitor_reports_rejected_total 2\n", 1};
    KUMO_EXPECT(e2e_wait(&t, 20, text_is, &rejected));
    text_want liar = {port, "machine=\"m-liar\"", 0};
    KUMO_EXPECT(text_is(&t, &liar));
    /* Silent for 1.5 intervals: gone (an unknown machine leaves no kumo_machine_up behind). */
    text_want gone = {port, "machine=\"m-good\"", 0};
    KUMO_EXPECT(e2e_wait(&t, 20, text_is, &gone));
    double took = kumo_test_now() - last;
    KUMO_EXPECT(took >= 1.0 && took <= 2.5);
    natsConnection_Destroy(nc);
    e2e_stop(&t);
}
