/*
 * client_test.c - the typed calls against a real kumod over a real
 * nats-server, in JSON and protobuf; errors with their Status causes; what a
 * user sees when nothing serves; and the client-side selector and key map.
 */
#include <nats/nats.h>
#include <stdlib.h>
#include <string.h>

#include "apis/kumo/v1alpha1/connection.pb-c.h"
#include "bus/client/internal.h"
#include "tests/client/fixture.h"
#include "tests/harness/test.h"

static const kumo_object_kind *connections(void)
{
    return kumo_object_kind_lookup("connections");
}

static const char *label(const ProtobufCMessage *object, const char *key)
{
    const Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(object);
    for (size_t i = 0; m && i < m->n_labels; i++)
        if (strcmp(m->labels[i]->key, key) == 0)
            return m->labels[i]->value;
    return NULL;
}

static int64_t rv_of(const ProtobufCMessage *object)
{
    const Kumo__V1alpha1__ObjectMeta *m = object ? kumo_object_meta(object) : NULL;
    return m ? strtoll(m->resource_version, NULL, 10) : -1;
}

static void roundtrip(kumo_codec_format format)
{
    fixture f;
    fixture_start(&f);
    kumo_client *c = fixture_client(&f, format, 5000);
    kumo_diag d;
    kumo_diag_init(&d);

    /* create, and create again */
    ProtobufCMessage *web = fixture_connection("web", "default", "web");
    ProtobufCMessage *out = NULL;
    KUMO_EXPECT_INT_EQ(kumo_client_create(c, web, &out, &d), KUMO_ERROR_OK);
    KUMO_EXPECT(out != NULL && kumo_object_meta(out)->uid[0] != '\0');
    int64_t created_rv = rv_of(out);
    KUMO_EXPECT_INT_GT(created_rv, 0);
    kumo_object_destroy(out);
    out = NULL;
    KUMO_EXPECT_INT_EQ(kumo_client_create(c, web, &out, &d), KUMO_ERROR_ALREADY_EXISTS);
    KUMO_EXPECT_CONTAINS(d.message, "web");
    KUMO_EXPECT(out == NULL);
    kumo_diag_fini(&d);

    /* get */
    KUMO_EXPECT_INT_EQ(kumo_client_get(c, connections(), "default", "web", &out, &d),
                       KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(((Kumo__V1alpha1__Connection *)out)->spec->region, "us-east-1");
    KUMO_EXPECT_INT_EQ(rv_of(out), created_rv);

    /* update: a label; a stale resourceVersion afterwards is a conflict */
    ProtobufCMessage *changed = kumo_codec_message_clone(out);
    kumo_object_destroy(out);
    out = NULL;
    Kumo__V1alpha1__ObjectMeta *meta = kumo_object_meta(changed);
    kumo_codec_string_set(&meta->labels[0]->value, "front");
    KUMO_EXPECT_INT_EQ(kumo_client_update(c, changed, &out, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(label(out, "tier"), "front");
    KUMO_EXPECT_INT_GT(rv_of(out), created_rv);
    kumo_object_destroy(out);
    out = NULL;
    kumo_codec_string_set(&meta->labels[0]->value, "back");
    KUMO_EXPECT_INT_EQ(kumo_client_update(c, changed, &out, &d), KUMO_ERROR_CONFLICT);
    KUMO_EXPECT(d.message[0] != '\0');
    kumo_diag_fini(&d);

    /* status */
    kumo_codec_string_set(&meta->resource_version, "");
    KUMO_EXPECT_INT_EQ(kumo_object_condition_set(changed, "Ready", "True", "Probed", "ok"), 1);
    KUMO_EXPECT_INT_EQ(kumo_client_update_status(c, changed, &out, &d), KUMO_ERROR_OK);
    const Kumo__V1alpha1__Condition *ready = out ? kumo_object_condition_get(out, "Ready") : NULL;
    KUMO_EXPECT(ready != NULL && strcmp(ready->status, "True") == 0);
    kumo_object_destroy(out);
    out = NULL;
    kumo_object_destroy(changed);

    /* patch */
    KUMO_EXPECT_INT_EQ(kumo_client_patch(c, connections(), "default", "web",
                                         "{\"metadata\": {\"labels\": {\"patched\": \"yes\"}}}",
                                         &out, &d),
                       KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(label(out, "patched"), "yes");
    kumo_object_destroy(out);
    out = NULL;

    /* apply: created, then configured */
    ProtobufCMessage *api = fixture_connection("api", "default", "api");
    int created = -1;
    KUMO_EXPECT_INT_EQ(kumo_client_apply(c, api, &out, &created, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(created, 1);
    kumo_object_destroy(out);
    out = NULL;
    KUMO_EXPECT_INT_EQ(kumo_client_apply(c, api, NULL, &created, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(created, 0);
    ProtobufCMessage *other = fixture_connection("db", "team-a", "db");
    KUMO_EXPECT_INT_EQ(kumo_client_apply(c, other, NULL, NULL, &d), KUMO_ERROR_OK);

    /* list: one namespace, all namespaces, a selector, pages */
    ProtobufCMessage *list = NULL;
    size_t count = 0;
    KUMO_EXPECT_INT_EQ(kumo_client_list(c, connections(), "default", NULL, &list, &d),
                       KUMO_ERROR_OK);
    client_list_items(list, &count);
    KUMO_EXPECT_INT_EQ(count, 2);
    KUMO_EXPECT_INT_GT(client_parse_revision(client_list_meta(list)->resource_version), 0);
    kumo_object_destroy(list);
    KUMO_EXPECT_INT_EQ(kumo_client_list(c, connections(), NULL, NULL, &list, &d), KUMO_ERROR_OK);
    client_list_items(list, &count);
    KUMO_EXPECT_INT_EQ(count, 3);
    kumo_object_destroy(list);
    kumo_client_list_options selected = {.label_selector = "tier in (api,db)"};
    KUMO_EXPECT_INT_EQ(kumo_client_list(c, connections(), NULL, &selected, &list, &d),
                       KUMO_ERROR_OK);
    client_list_items(list, &count);
    KUMO_EXPECT_INT_EQ(count, 2);
    kumo_object_destroy(list);
    kumo_client_list_options page = {.limit = 1};
    KUMO_EXPECT_INT_EQ(kumo_client_list(c, connections(), "default", &page, &list, &d),
                       KUMO_ERROR_OK);
    client_list_items(list, &count);
    KUMO_EXPECT_INT_EQ(count, 1);
    const Kumo__V1alpha1__ListMeta *lm = list ? client_list_meta(list) : NULL;
    KUMO_EXPECT(lm != NULL && lm->continue_[0] != '\0');
    if (lm != NULL && lm->continue_[0] != '\0') {
        ProtobufCMessage *second = NULL;
        page.continue_token = lm->continue_;
        KUMO_EXPECT_INT_EQ(kumo_client_list(c, connections(), "default", &page, &second, &d),
                           KUMO_ERROR_OK);
        client_list_items(second, &count);
        KUMO_EXPECT_INT_EQ(count, 1);
        kumo_object_destroy(second);
    }
    kumo_object_destroy(list);

    /* delete, then it is gone */
    KUMO_EXPECT_INT_EQ(kumo_client_delete(c, connections(), "default", "web", NULL, &out, &d),
                       KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(kumo_object_name(out), "web");
    kumo_object_destroy(out);
    out = NULL;
    KUMO_EXPECT_INT_EQ(kumo_client_get(c, connections(), "default", "web", &out, &d),
                       KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_CONTAINS(d.message, "web");
    KUMO_EXPECT_STR_EQ(d.foreign_where, "http");
    KUMO_EXPECT_INT_EQ(d.foreign_code, 404);
    kumo_diag_fini(&d);

    kumo_object_destroy(web);
    kumo_object_destroy(api);
    kumo_object_destroy(other);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

KUMO_TEST(calls_roundtrip_json)
{
    roundtrip(KUMO_CODEC_FORMAT_JSON);
}

KUMO_TEST(calls_roundtrip_protobuf)
{
    roundtrip(KUMO_CODEC_FORMAT_PROTOBUF);
}

KUMO_TEST(errors_carry_status_causes)
{
    fixture f;
    fixture_start(&f);
    kumo_client *c = fixture_client(&f, KUMO_CODEC_FORMAT_JSON, 5000);
    kumo_diag d;
    kumo_diag_init(&d);
    const char *text =
        "{\"apiVersion\": \"kumo.dev/v1alpha1\", \"kind\": \"Infra\", "
        "\"metadata\": {\"name\": \"bad\", \"namespace\": \"default\"}, "
        "\"spec\": {\"groups\": [{\"name\": \"a\", \"size\": -1, \"connection\": \"x\", "
        "\"instanceType\": \"t3.small\", \"image\": \"ubuntu-22.04\"}]}}";
    ProtobufCMessage *infra = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_object_decode(kumo_object_kind_lookup("Infra"), text, strlen(text),
                                           KUMO_CODEC_FORMAT_JSON, NULL, &infra, &d),
                        KUMO_ERROR_OK);
    ProtobufCMessage *out = NULL;
    KUMO_EXPECT_INT_EQ(kumo_client_create(c, infra, &out, &d), KUMO_ERROR_INVALID);
    KUMO_EXPECT(out == NULL);
    KUMO_EXPECT_CONTAINS(d.message, "bad");
    KUMO_EXPECT_INT_GE(d.cause_count, 1);
    int found = 0;
    for (size_t i = 0; i < d.cause_count; i++)
        found |= strcmp(d.causes[i].field, "spec.groups[0].size") == 0;
    KUMO_EXPECT(found);
    KUMO_EXPECT_INT_EQ(d.foreign_code, 422);
    kumo_diag_fini(&d);

    /* an unknown name in a delete, a precondition that does not hold */
    KUMO_EXPECT_INT_EQ(kumo_client_delete(c, connections(), "default", "nope", NULL, NULL, &d),
                       KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_CONTAINS(d.message, "nope");
    kumo_diag_fini(&d);
    ProtobufCMessage *conn = fixture_connection("web", "default", NULL);
    KUMO_EXPECT_INT_EQ(kumo_client_create(c, conn, NULL, &d), KUMO_ERROR_OK);
    kumo_client_delete_options pre = {.uid = "00000000-0000-4000-8000-000000000000"};
    KUMO_EXPECT_INT_EQ(kumo_client_delete(c, connections(), "default", "web", &pre, NULL, &d),
                       KUMO_ERROR_CONFLICT);
    kumo_diag_fini(&d);
    /* a selector the server refuses */
    kumo_client_list_options bad = {.label_selector = "tier in web"};
    ProtobufCMessage *list = NULL;
    KUMO_EXPECT_INT_EQ(kumo_client_list(c, connections(), "default", &bad, &list, &d),
                       KUMO_ERROR_INVALID_ARGUMENT);
    kumo_diag_fini(&d);
    kumo_object_destroy(conn);
    kumo_object_destroy(infra);
    kumo_client_destroy(c);
    fixture_stop(&f);
}

static void never_called(void *context, kumo_client_event_type type, int64_t revision,
                         const ProtobufCMessage *object)
{
    (void)context;
    (void)type;
    (void)revision;
    (void)object;
    KUMO_EXPECT(!"a watch that failed to start called back");
}

KUMO_TEST(no_kumod_is_a_sentence)
{
    kumo_diag d;
    kumo_diag_init(&d);
    /* Nothing listens: connect fails and says what to do. */
    kumo_client_options nowhere = {.url = "nats://127.0.0.1:1"};
    kumo_client *c = NULL;
    KUMO_EXPECT_INT_EQ(kumo_client_connect(&nowhere, &c, &d), KUMO_ERROR_UNAVAILABLE);
    KUMO_EXPECT(c == NULL);
    KUMO_EXPECT_CONTAINS(d.message, "nats://127.0.0.1:1");
    KUMO_EXPECT_CONTAINS(d.message, "kumod");
    kumo_diag_fini(&d);

    /* NATS runs but no kumod serves: "no responders". */
    kumo_natsd *n = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_natsd_start(NULL, &n, &d), KUMO_ERROR_OK);
    kumo_client_options o = {.url = kumo_natsd_url(n), .timeout_ms = 1000};
    KUMO_EXPECT_INT_EQ(kumo_client_connect(&o, &c, &d), KUMO_ERROR_OK);
    ProtobufCMessage *out = NULL;
    double start = kumo_test_now();
    KUMO_EXPECT_INT_EQ(kumo_client_get(c, connections(), "default", "web", &out, &d),
                       KUMO_ERROR_UNAVAILABLE);
    KUMO_EXPECT_INT_LT(kumo_test_now() - start, 5);
    KUMO_EXPECT_CONTAINS(d.message, "no kumod is serving on nats://127.0.0.1:");
    KUMO_EXPECT_CONTAINS(d.message, "hack/up.sh");
    kumo_diag_fini(&d);
    /* A watch cannot start either, and says why. */
    kumo_client_watch *w = NULL;
    KUMO_EXPECT_INT_EQ(
        kumo_client_watch_start(c, connections(), "default", NULL, never_called, NULL, &w, &d),
        KUMO_ERROR_UNAVAILABLE);
    KUMO_EXPECT(w == NULL);
    kumo_diag_fini(&d);
    kumo_client_destroy(c);
    kumo_natsd_destroy(n);
    nats_Close();
}

static ProtobufCMessage *labelled(const char *name, const char *ns, const char *const *labels)
{
    ProtobufCMessage *o = fixture_connection(name, ns, NULL);
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(o);
    size_t n = 0;
    while (labels[2 * n])
        n++;
    m->labels = calloc(n, sizeof(*m->labels));
    for (size_t i = 0; i < n; i++) {
        Kumo__V1alpha1__ObjectMeta__LabelsEntry *e = malloc(sizeof(*e));
        kumo__v1alpha1__object_meta__labels_entry__init(e);
        kumo_codec_string_set(&e->key, labels[2 * i]);
        kumo_codec_string_set(&e->value, labels[2 * i + 1]);
        m->labels[m->n_labels++] = e;
    }
    return o;
}

static int matches(const char *labels, const char *fields, const ProtobufCMessage *o)
{
    kumo_object_selector *s = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_error e = kumo_object_selector_parse(labels, fields, &s, &d);
    kumo_diag_fini(&d);
    if (e != KUMO_ERROR_OK)
        return -1;
    int m = kumo_object_selector_matches(s, o);
    kumo_object_selector_destroy(s);
    return m;
}

KUMO_TEST(selector_semantics)
{
    ProtobufCMessage *o =
        labelled("web", "default", (const char *const[]){"app", "web", "env", "prod", NULL});
    KUMO_EXPECT_INT_EQ(matches(NULL, NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("app=web", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("app==web", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("app=db", NULL, o), 0);
    KUMO_EXPECT_INT_EQ(matches("app!=db", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("tier!=db", NULL, o), 1); /* absent label matches != */
    KUMO_EXPECT_INT_EQ(matches("env in (prod, staging)", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("env in (staging)", NULL, o), 0);
    KUMO_EXPECT_INT_EQ(matches("env notin (staging)", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("tier notin (db)", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("app", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("!app", NULL, o), 0);
    KUMO_EXPECT_INT_EQ(matches("!legacy", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("app=web,tier!=db,env in (prod,staging),!legacy", NULL, o), 1);
    KUMO_EXPECT_INT_EQ(matches("app=web,env=dev", NULL, o), 0);
    KUMO_EXPECT_INT_EQ(matches(NULL, "metadata.name=web", o), 1);
    KUMO_EXPECT_INT_EQ(matches(NULL, "metadata.name!=web", o), 0);
    KUMO_EXPECT_INT_EQ(matches("app=web", "metadata.namespace=default", o), 1);
    KUMO_EXPECT_INT_EQ(matches("app=web", "metadata.namespace=other", o), 0);
    /* refused */
    KUMO_EXPECT_INT_EQ(matches("env in prod", NULL, o), -1);
    KUMO_EXPECT_INT_EQ(matches("=web", NULL, o), -1);
    KUMO_EXPECT_INT_EQ(matches("app<web", NULL, o), -1);
    KUMO_EXPECT_INT_EQ(matches(NULL, "spec.region=x", o), -1);
    KUMO_EXPECT_INT_EQ(matches(NULL, "metadata.name", o), -1);
    kumo_diag d;
    kumo_diag_init(&d);
    kumo_object_selector *s = NULL;
    KUMO_EXPECT_INT_EQ(kumo_object_selector_parse("env in prod", NULL, &s, &d),
                       KUMO_ERROR_INVALID_ARGUMENT);
    KUMO_EXPECT_CONTAINS(d.message, "expected '('");
    kumo_diag_fini(&d);
    kumo_object_destroy(o);
}

KUMO_TEST(keymap_put_get_remove)
{
    client_keymap m;
    client_keymap_init(&m);
    char key[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "ns/obj-%d", i);
        KUMO_REQUIRE_INT_EQ(client_keymap_put(&m, key, i, "uid"), 0);
    }
    KUMO_EXPECT_INT_EQ(m.count, 5000);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "ns/obj-%d", i);
        client_keymap_remove(&m, key);
    }
    KUMO_EXPECT_INT_EQ(m.count, 2500);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "ns/obj-%d", i);
        const client_keymap_entry *e = client_keymap_get(&m, key);
        if (i % 2 == 0)
            KUMO_EXPECT(e == NULL);
        else
            KUMO_EXPECT(e != NULL && e->revision == i && strcmp(e->uid, "uid") == 0);
    }
    KUMO_EXPECT_INT_EQ(client_keymap_put(&m, "ns/obj-1", 99, "other"), 0);
    KUMO_EXPECT_INT_EQ(client_keymap_get(&m, "ns/obj-1")->revision, 99);
    KUMO_EXPECT_INT_EQ(m.count, 2500);
    client_keymap_fini(&m);
}
