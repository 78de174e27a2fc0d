/*
 * logs_test.c - the agent's logs subject: the output of an instance, from
 * the start, the last lines, an offset (what -f asks), a time (--since), a
 * log that was cut, and the errors that name what is missing.
 */
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/codec/codec.h"
#include "tests/agent/fixture.h"
#include "tests/harness/test.h"

typedef Kumo__V1alpha1__AgentLogs logs_t;

/* One logs request (JSON body) to the fixture's agent; the decoded AgentLogs or NULL. */
static logs_t *logs(agent_fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static logs_t *logs(agent_fixture *f, const char *fmt, ...)
{
    char body[512], subject[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    snprintf(subject, sizeof(subject), "kumo.agent.%s.logs", f->uid);
    natsMsg *reply = NULL;
    if (natsConnection_RequestString(&reply, f->admin, subject, body, 5000) != NATS_OK)
        return NULL;
    ProtobufCMessage *m = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_codec_json_decode(&kumo__v1alpha1__agent_logs__descriptor, natsMsg_GetData(reply),
                           (size_t)natsMsg_GetDataLength(reply), NULL, &m, &d);
    kumo_diag_fini(&d);
    natsMsg_Destroy(reply);
    return (logs_t *)m;
}

/* The data of a reply as a string (malloc'd). */
static char *text_of(const logs_t *l)
{
    char *s = malloc(l->data.len + 1);
    if (l->data.len > 0)
        memcpy(s, l->data.data, l->data.len);
    s[l->data.len] = '\0';
    return s;
}

/* Asks from offset 0 until the log holds `want` (10 s at most); that reply. */
static logs_t *wait_for_log(agent_fixture *f, const char *want)
{
    for (int i = 0; i < 200; i++) {
        logs_t *l = logs(f, "{\"app\": \"default/talk\", \"offset\": \"0\"}");
        char *text = l ? text_of(l) : NULL;
        int done = text && strcmp(text, want) == 0;
        free(text);
        if (done)
            return l;
        kumo_codec_message_free((ProtobufCMessage *)l);
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    return NULL;
}

#define EXPECT_TEXT(l, want)                                                                       \
    do {                                                                                           \
        char *text_ = (l) ? text_of(l) : NULL;                                                     \
        KUMO_EXPECT_STR_EQ(text_, want);                                                           \
        free(text_);                                                                               \
    } while (0)

KUMO_TEST(logs_tail_offset_since)
{
    agent_fixture f;
    fixture_start(&f, 0, 0);
    Kumo__V1alpha1__AgentReply *r = fixture_request(
        &f, "apply",
        "{\"app\": \"default/talk\", \"generation\": \"1\", \"components\": [{\"name\": \"t\","
        " \"command\": [\"sh\", \"-c\", \"echo one; echo two >&2; echo three; while [ ! -e go ];"
        " do sleep 0.05; done; echo four; exec sleep 1000\"]}]}");
    KUMO_REQUIRE(r && r->ok);
    kumo_codec_message_free((ProtobufCMessage *)r);
    logs_t *all = wait_for_log(&f, "one\ntwo\nthree\n");
    KUMO_REQUIRE_PTR_NONNULL(all);
    KUMO_EXPECT(all->ok);
    KUMO_EXPECT_STR_EQ(all->component, "t"); /* the only one, chosen */
    KUMO_EXPECT_INT_EQ(all->next_offset, 14);
    kumo_codec_message_free((ProtobufCMessage *)all);

    logs_t *l = logs(&f, "{\"app\": \"default/talk\", \"tailLines\": 2}");
    EXPECT_TEXT(l, "two\nthree\n");
    kumo_codec_message_free((ProtobufCMessage *)l);
    l = logs(&f, "{\"app\": \"default/talk\", \"component\": \"t\", \"offset\": \"14\"}");
    KUMO_EXPECT(l && l->ok && l->data.len == 0 && l->next_offset == 14);
    kumo_codec_message_free((ProtobufCMessage *)l);
    l = logs(&f, "{\"app\": \"default/talk\", \"offset\": \"4\", \"maxBytes\": 4}");
    EXPECT_TEXT(l, "two\n");
    KUMO_EXPECT(l && l->next_offset == 8);
    kumo_codec_message_free((ProtobufCMessage *)l);

    /* what it writes next comes from the offset -f holds */
    char go[1200];
    snprintf(go, sizeof(go), "%s/apps/default/talk/t/go", f.data_dir);
    FILE *file = fopen(go, "w");
    KUMO_REQUIRE(file != NULL);
    fclose(file);
    logs_t *more = NULL;
    for (int i = 0; i < 200 && (more == NULL || more->data.len == 0); i++) {
        kumo_codec_message_free((ProtobufCMessage *)more);
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        more = logs(&f, "{\"app\": \"default/talk\", \"offset\": \"14\"}");
    }
    EXPECT_TEXT(more, "four\n");
    kumo_codec_message_free((ProtobufCMessage *)more);

    /* --since: the log's size is sampled once a second while it grows */
    l = logs(&f, "{\"app\": \"default/talk\", \"sinceSeconds\": \"3600\"}");
    EXPECT_TEXT(l, "one\ntwo\nthree\nfour\n");
    kumo_codec_message_free((ProtobufCMessage *)l);
    nanosleep(&(struct timespec){4, 0}, NULL);
    l = logs(&f, "{\"app\": \"default/talk\", \"sinceSeconds\": \"1\"}");
    EXPECT_TEXT(l, "");
    kumo_codec_message_free((ProtobufCMessage *)l);

    /* a log cut behind the offset is read again from its start */
    char path[1200];
    snprintf(path, sizeof(path), "%s/logs/default_talk_t_0.log", f.data_dir);
    KUMO_REQUIRE(truncate(path, 0) == 0);
    l = logs(&f, "{\"app\": \"default/talk\", \"offset\": \"19\"}");
    KUMO_EXPECT(l && l->ok && l->started_over && l->next_offset == 0);
    kumo_codec_message_free((ProtobufCMessage *)l);

    /* errors name what is missing */
    r = fixture_request(&f, "apply",
                        "{\"app\": \"default/two\", \"generation\": \"1\", \"components\": ["
                        "{\"name\": \"a\", \"command\": [\"sleep\", \"1000\"]},"
                        "{\"name\": \"b\", \"command\": [\"sleep\", \"1000\"]}]}");
    KUMO_REQUIRE(r && r->ok);
    kumo_codec_message_free((ProtobufCMessage *)r);
    l = logs(&f, "{\"app\": \"default/two\"}");
    KUMO_EXPECT(l && !l->ok);
    KUMO_EXPECT_CONTAINS(l ? l->error : NULL, "several components here (a, b): say which with -c");
    kumo_codec_message_free((ProtobufCMessage *)l);
    l = logs(&f, "{\"app\": \"default/talk\", \"component\": \"t\", \"replica\": 3}");
    KUMO_EXPECT_CONTAINS(l ? l->error : NULL, "has no component t replica 3");
    kumo_codec_message_free((ProtobufCMessage *)l);
    l = logs(&f, "{\"app\": \"default/nope\"}");
    KUMO_EXPECT_CONTAINS(l ? l->error : NULL, "App default/nope has no instance on this machine");
    kumo_codec_message_free((ProtobufCMessage *)l);
    l = logs(&f, "{\"app\": 5}");
    KUMO_EXPECT_CONTAINS(l ? l->error : NULL, "logs request:");
    kumo_codec_message_free((ProtobufCMessage *)l);
    KUMO_EXPECT_INT_EQ(fixture_stop(&f), 0);
}
