/*
 * metrics_test.c - kumo-agent's metrics (docs/monitoring.md): the protobuf
 * report on <prefix>.<uid>.metrics every interval with node_exporter's
 * figures read from this host's /proc, the instance figures, the metrics in
 * a `get` reply, and round trips timed through the bus to the peers kumod
 * names (here the agent itself, which also proves the bus lets an agent ping
 * and answer).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "tests/agent/fixture.h"
#include "tests/harness/test.h"

typedef Kumo__V1alpha1__AgentMetricsReport report_t;

/* The next report on the metrics subject within timeout_ms that passes `ok`; NULL if none. */
static report_t *next_report(natsSubscription *sub, int timeout_ms, int (*ok)(const report_t *))
{
    double deadline = kumo_test_now() + timeout_ms / 1000.0;
    while (kumo_test_now() < deadline) {
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, sub, 200) != NATS_OK)
            continue;
        report_t *r = (report_t *)protobuf_c_message_unpack(
            &kumo__v1alpha1__agent_metrics_report__descriptor, NULL,
            (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
        natsMsg_Destroy(msg);
        if (r && (ok == NULL || ok(r)))
            return r;
        if (r)
            protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    return NULL;
}

static natsSubscription *subscribe(agent_fixture *f, const char *verb)
{
    char subject[128];
    snprintf(subject, sizeof(subject), "kumo.agent.%s.%s", f->uid, verb);
    natsSubscription *sub = NULL;
    KUMO_REQUIRE(natsConnection_SubscribeSync(&sub, f->admin, subject) == NATS_OK);
    natsConnection_Flush(f->admin);
    return sub;
}

static void apply_sleeper(agent_fixture *f)
{
    Kumo__V1alpha1__AgentReply *r =
        fixture_request(f, "apply",
                        "{\"app\": \"default/idle\", \"appUid\": \"u1\", \"generation\": 1,"
                        " \"components\": [{\"name\": \"sleep\", \"command\": [\"sleep\", \"60\"],"
                        " \"replicas\": 2}]}");
    KUMO_REQUIRE_PTR_NONNULL(r);
    int ok = r->ok;
    kumo_codec_message_free((ProtobufCMessage *)r);
    KUMO_REQUIRE(ok);
}

static int two_instances_up(const report_t *r)
{
    int up = 0;
    for (size_t i = 0; i < r->n_instances; i++)
        up += r->instances[i]->up && r->instances[i]->rss_bytes > 0;
    return up == 2;
}

KUMO_TEST(metrics_report_published)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    natsSubscription *sub = subscribe(&f, "metrics");
    report_t *first = next_report(sub, 10000, NULL);
    KUMO_REQUIRE_PTR_NONNULL(first);
    KUMO_EXPECT_STR_EQ(first->machine_uid, f.uid);
    KUMO_EXPECT_INT_EQ(first->interval_ms, 1000);
    KUMO_EXPECT_INT_EQ(first->cpu_count, sysconf(_SC_NPROCESSORS_ONLN));
    KUMO_EXPECT(first->cpu && first->cpu->user + first->cpu->system > 0 && first->cpu->idle > 0);
    KUMO_EXPECT_INT_GT(first->memory_total_bytes, 0);
    KUMO_EXPECT(first->memory_available_bytes > 0 &&
                first->memory_available_bytes <= first->memory_total_bytes);
    KUMO_EXPECT_INT_GE(first->n_filesystems, 1);
    for (size_t i = 0; i < first->n_filesystems; i++)
        KUMO_EXPECT(first->filesystems[i]->size_bytes >= first->filesystems[i]->avail_bytes);
    KUMO_EXPECT(first->machine_cpu_seconds >= 0 && first->machine_memory_bytes > 0);

    apply_sleeper(&f);
    report_t *later = next_report(sub, 10000, two_instances_up);
    KUMO_EXPECT_PTR_NONNULL(later);
    if (later) {
        KUMO_EXPECT_INT_GT(later->seq, first->seq);
        KUMO_EXPECT(later->cpu->idle >= first->cpu->idle); /* counters only grow */
        KUMO_EXPECT(later->machine_cpu_seconds >= first->machine_cpu_seconds);
        KUMO_EXPECT(later->machine_cpu_seconds > 0);
        KUMO_EXPECT_STR_EQ(later->instances[0]->app, "default/idle");
        KUMO_EXPECT_STR_EQ(later->instances[0]->component, "sleep");
        protobuf_c_message_free_unpacked(&later->base, NULL);
    }
    protobuf_c_message_free_unpacked(&first->base, NULL);
    natsSubscription_Destroy(sub);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

static int http_ready_checked(const Kumo__V1alpha1__AgentReply *r)
{
    const Kumo__V1alpha1__AgentMetricsReport *m = r->metrics;
    return m && m->n_instances == 1 && m->instances[0]->ready &&
           m->instances[0]->health_seconds > 0;
}

KUMO_TEST(metrics_in_get_reply)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    int port = free_port();
    char body[600];
    snprintf(body, sizeof(body),
             "{\"app\": \"default/web\", \"appUid\": \"u2\", \"generation\": 1,"
             " \"components\": [{\"name\": \"http\", \"command\": [\"python3\", \"-m\","
             " \"http.server\", \"%d\", \"--bind\", \"127.0.0.1\"],"
             " \"healthCheck\": {\"type\": \"HTTP\", \"port\": %d, \"path\": \"/\"}}]}",
             port, port);
    Kumo__V1alpha1__AgentReply *r = fixture_request(&f, "apply", body);
    KUMO_REQUIRE(r && r->ok);
    KUMO_EXPECT(r->metrics == NULL); /* only get carries them */
    kumo_codec_message_free((ProtobufCMessage *)r);
    int seen = 0;
    for (double deadline = kumo_test_now() + 20; !seen && kumo_test_now() < deadline;) {
        r = fixture_request(&f, "get", "");
        seen = r && http_ready_checked(r);
        if (seen) {
            const Kumo__V1alpha1__AgentInstanceMetrics *in = r->metrics->instances[0];
            KUMO_EXPECT(in->up && in->rss_bytes > 1 << 20 && in->cpu_seconds > 0);
            KUMO_EXPECT(in->health_seconds < 1);
            KUMO_EXPECT_INT_EQ(r->metrics->n_rtts, 0);
        }
        kumo_codec_message_free((ProtobufCMessage *)r);
        if (!seen)
            usleep(100 * 1000);
    }
    KUMO_EXPECT(seen);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}

static int has_rtt(const report_t *r)
{
    return r->n_rtts >= 2; /* pings every 200 ms within the 1 s interval */
}

KUMO_TEST(peers_round_trip)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    natsSubscription *sub = subscribe(&f, "metrics");
    report_t *first = next_report(sub, 10000, NULL); /* joined the bus */
    KUMO_REQUIRE_PTR_NONNULL(first);
    protobuf_c_message_free_unpacked(&first->base, NULL);
    char subject[128], peers[200];
    snprintf(subject, sizeof(subject), "kumo.agent.%s.peers", f.uid);
    snprintf(peers, sizeof(peers), "{\"peerUids\": [\"%s\"], \"intervalMs\": 200}", f.uid);
    KUMO_REQUIRE(natsConnection_PublishString(f.admin, subject, peers) == NATS_OK);
    report_t *r = next_report(sub, 10000, has_rtt);
    KUMO_REQUIRE_PTR_NONNULL(r);
    KUMO_EXPECT_STR_EQ(r->rtts[0]->peer_uid, f.uid);
    KUMO_EXPECT(r->rtts[0]->rtt_ms > 0 && r->rtts[0]->rtt_ms < 1000);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    natsSubscription_Destroy(sub);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}
