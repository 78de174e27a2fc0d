/* protocol_test.c - subjects, content types and Status bodies of the NATS API. */
#include "bus/protocol/protocol.h"
#include "tests/harness/test.h"

KUMO_TEST(protocol_api_subjects)
{
    char subject[256];
    const kumo_object_kind *infra = kumo_object_kind_lookup("Infra");
    kumo_protocol_api_subject("kumo.v1", KUMO_PROTOCOL_VERB_UPDATE_STATUS, infra, "team-a", subject,
                              sizeof(subject));
    KUMO_EXPECT_STR_EQ(subject, "kumo.v1.api.status.infras.team-a");
    kumo_protocol_api_subject("kumo.v1", KUMO_PROTOCOL_VERB_LIST_ALL, infra, "ignored", subject,
                              sizeof(subject));
    KUMO_EXPECT_STR_EQ(subject, "kumo.v1.api.listall.infras");

    /* Every verb and kind parses back to itself. */
    for (int v = 0; v < KUMO_PROTOCOL_VERB_COUNT_; v++) {
        for (size_t k = 0; k < kumo_object_kind_count(); k++) {
            kumo_protocol_api_request req;
            kumo_diag d;
            kumo_diag_init(&d);
            kumo_protocol_api_subject("kumo.v1", (kumo_protocol_verb)v, kumo_object_kind_at(k),
                                      "ns-1", subject, sizeof(subject));
            KUMO_REQUIRE_INT_EQ(kumo_protocol_api_subject_parse("kumo.v1", subject, &req, &d),
                                KUMO_ERROR_OK);
            KUMO_EXPECT_INT_EQ(req.verb, v);
            KUMO_EXPECT(req.kind == kumo_object_kind_at(k));
            KUMO_EXPECT_STR_EQ(req.ns,
                               kumo_protocol_verb_namespaced((kumo_protocol_verb)v) ? "ns-1" : "");
            kumo_diag_fini(&d);
        }
    }
}

static void expect_bad(const char *subject, kumo_error code, const char *words)
{
    kumo_protocol_api_request req;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_protocol_api_subject_parse("kumo.v1", subject, &req, &d), code);
    KUMO_EXPECT_CONTAINS(d.message, words);
    kumo_diag_fini(&d);
}

KUMO_TEST(protocol_bad_subjects)
{
    expect_bad("kumo.v1.api.get.infras", KUMO_ERROR_INVALID_ARGUMENT, "namespace");
    expect_bad("kumo.v1.api.listall.infras.default", KUMO_ERROR_INVALID_ARGUMENT, "namespace");
    expect_bad("kumo.v1.api.fly.infras.default", KUMO_ERROR_INVALID_ARGUMENT, "unknown verb");
    expect_bad("kumo.v1.api.get.pods.default", KUMO_ERROR_UNKNOWN_KIND, "\"pods\"");
    expect_bad("kumo.v1.api.get.Infra.default", KUMO_ERROR_UNKNOWN_KIND, "lowercase plurals");
    expect_bad("kumo.v1.api.get.infras.Bad_NS", KUMO_ERROR_INVALID, "DNS-1123");
    expect_bad("other.api.get.infras.default", KUMO_ERROR_INVALID_ARGUMENT, "malformed");
    expect_bad("kumo.v1.api..infras.default", KUMO_ERROR_INVALID_ARGUMENT, "malformed");
    expect_bad("kumo.v1.api.get.infras.default.extra", KUMO_ERROR_INVALID_ARGUMENT, "malformed");
}

KUMO_TEST(protocol_object_subjects)
{
    char subject[256];
    kumo_protocol_object_subject parsed;
    kumo_diag d;
    kumo_diag_init(&d);
    const kumo_object_kind *lb = kumo_object_kind_lookup("lb");
    kumo_protocol_desired_subject("kumo.v1", lb, "prod", "front", subject, sizeof(subject));
    KUMO_EXPECT_STR_EQ(subject, "kumo.v1.desired.loadbalancers.prod.front");
    KUMO_REQUIRE_INT_EQ(
        kumo_protocol_object_subject_parse("kumo.v1", "desired", subject, &parsed, &d),
        KUMO_ERROR_OK);
    KUMO_EXPECT(parsed.kind == lb);
    KUMO_EXPECT_STR_EQ(parsed.ns, "prod");
    KUMO_EXPECT_STR_EQ(parsed.name, "front");
    KUMO_EXPECT_INT_EQ(kumo_protocol_object_subject_parse(
                           "kumo.v1", "desired", "kumo.v1.desired.pods.prod.x", &parsed, &d),
                       KUMO_ERROR_UNKNOWN_KIND);
    KUMO_EXPECT_STR_EQ(parsed.resource, "pods");
    KUMO_EXPECT_INT_EQ(kumo_protocol_object_subject_parse(
                           "kumo.v1", "desired", "kumo.v1.events.infras.prod.x", &parsed, &d),
                       KUMO_ERROR_INVALID_ARGUMENT);
    kumo_protocol_event_subject("kumo.v1", lb, "", "front", subject, sizeof(subject));
    KUMO_EXPECT_STR_EQ(subject, "kumo.v1.events.loadbalancers.default.front");
    kumo_diag_fini(&d);
}

KUMO_TEST(protocol_content_types)
{
    kumo_codec_format f = KUMO_CODEC_FORMAT_YAML;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_protocol_format_of(NULL, &f, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(f, KUMO_CODEC_FORMAT_JSON);
    KUMO_EXPECT_INT_EQ(kumo_protocol_format_of("application/protobuf", &f, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(f, KUMO_CODEC_FORMAT_PROTOBUF);
    KUMO_EXPECT_INT_EQ(kumo_protocol_format_of("Application/JSON; charset=utf-8", &f, &d),
                       KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(f, KUMO_CODEC_FORMAT_JSON);
    KUMO_EXPECT_INT_EQ(kumo_protocol_format_of("text/xml", &f, &d), KUMO_ERROR_UNSUPPORTED);
    KUMO_EXPECT_CONTAINS(d.message, "text/xml");
    KUMO_EXPECT_STR_EQ(kumo_protocol_content_type(KUMO_CODEC_FORMAT_PROTOBUF),
                       "application/protobuf");
    kumo_diag_fini(&d);
}

KUMO_TEST(protocol_status_roundtrip)
{
    kumo_diag d, back;
    kumo_diag_init(&d);
    kumo_diag_init(&back);
    kumo_diag_add_cause(&d, KUMO_CAUSE_INVALID, "spec.groups[1].size", "-1",
                        "must be greater than or equal to 0");
    kumo_diag_add_cause(&d, KUMO_CAUSE_REQUIRED, "spec.groups[0].name", NULL, NULL);
    char sentence[512];
    kumo_diag_format_invalid(&d, "Infra", "web", sentence, sizeof(sentence));
    kumo_diag_set(&d, KUMO_ERROR_INVALID, "%s", sentence);
    Kumo__V1alpha1__Status *s = kumo_protocol_status_from_diag(&d, "Infra", "web");
    KUMO_REQUIRE_PTR_NONNULL(s);
    KUMO_EXPECT_INT_EQ(s->code, 422);
    KUMO_EXPECT_STR_EQ(s->reason, "Invalid");
    KUMO_EXPECT_STR_EQ(s->status, "Failure");
    KUMO_EXPECT_STR_EQ(s->details->kind, "Infra");
    KUMO_REQUIRE_INT_EQ(s->details->n_causes, 2);
    KUMO_EXPECT_STR_EQ(s->details->causes[0]->reason, "FieldValueInvalid");
    KUMO_EXPECT_STR_EQ(s->details->causes[0]->message,
                       "Invalid value: -1: must be greater than or equal to 0");
    KUMO_EXPECT_STR_EQ(s->details->causes[1]->field, "spec.groups[0].name");

    KUMO_EXPECT_INT_EQ(kumo_protocol_status_to_diag(s, &back), KUMO_ERROR_INVALID);
    KUMO_EXPECT_STR_EQ(back.message, sentence);
    KUMO_REQUIRE_INT_EQ(back.cause_count, 2);
    char again[512];
    kumo_diag_format_invalid(&back, "Infra", "web", again, sizeof(again));
    KUMO_EXPECT_STR_EQ(again, sentence);
    kumo_codec_message_free(&s->base);
    kumo_diag_fini(&d);
    kumo_diag_fini(&back);
}
