/* verbs_test.c - create, get, update, update_status, patch, apply, delete, finalizers, limits. */
#include "tests/store/helpers.h"

#include <stdlib.h>
#include <string.h>

#define DIAG(d)                                                                                    \
    kumo_diag d;                                                                                   \
    kumo_diag_init(&d)

KUMO_TEST(create_get)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    DIAG(d);
    ProtobufCMessage *in = t_network("", "web", "10.1.0.0/16"), *out = NULL, *got = NULL;
    t_label(in, "app", "web");
    int64_t rev = 0, grev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, in, &out, &rev, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev, 1);
    KUMO_EXPECT_STR_EQ(t_rv(out), "1");
    KUMO_EXPECT_INT_EQ(t_generation(out), 1);
    KUMO_EXPECT_INT_EQ(strlen(t_uid(out)), 36);
    KUMO_EXPECT_STR_EQ(kumo_object_namespace(out), "default");
    KUMO_EXPECT(kumo_object_meta(out)->creation_timestamp != NULL);
    /* the input is not modified */
    KUMO_EXPECT_STR_EQ(t_rv(in), "");

    KUMO_REQUIRE_INT_EQ(kumo_store_get(s, t_kind("Network"), "default", "web", &got, &grev, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(grev, 1);
    KUMO_EXPECT_STR_EQ(t_uid(got), t_uid(out));
    KUMO_EXPECT_STR_EQ(t_cidr(got), "10.1.0.0/16");
    KUMO_EXPECT_STR_EQ(kumo_object_meta(got)->labels[0]->value, "web");
    kumo_object_destroy(got);
    got = NULL;

    /* AlreadyExists names the object */
    KUMO_EXPECT_INT_EQ(kumo_store_create(s, in, NULL, NULL, &d), KUMO_ERROR_ALREADY_EXISTS);
    KUMO_EXPECT_STR_EQ(d.message, "Network \"web\" already exists");
    kumo_diag_fini(&d);
    /* NotFound names the object */
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("Network"), "default", "nope", &got, NULL, &d),
                       KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_STR_EQ(d.message, "Network \"nope\" not found");
    KUMO_EXPECT(got == NULL);
    kumo_diag_fini(&d);
    /* other namespace is another object */
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("Network"), "prod", "web", &got, NULL, &d),
                       KUMO_ERROR_NOT_FOUND);
    kumo_diag_fini(&d);
    /* invalid objects are refused with the validator's message */
    ProtobufCMessage *bad = t_network("default", "bad", "not-a-cidr");
    KUMO_EXPECT_INT_EQ(kumo_store_create(s, bad, NULL, NULL, &d), KUMO_ERROR_INVALID);
    KUMO_EXPECT_CONTAINS(d.message, "Network \"bad\" is invalid");
    kumo_diag_fini(&d);
    kumo_object_destroy(bad);
    /* resourceVersion must be empty on create */
    ProtobufCMessage *with_rv = t_network("default", "rv", "10.0.0.0/16");
    t_set_rv(with_rv, "5");
    KUMO_EXPECT_INT_EQ(kumo_store_create(s, with_rv, NULL, NULL, &d), KUMO_ERROR_INVALID_ARGUMENT);
    kumo_diag_fini(&d);
    kumo_object_destroy(with_rv);
    kumo_store_close(s);
    kumo_object_destroy(in);
    kumo_object_destroy(out);
}

KUMO_TEST(reopen_persists)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store *s = t_open(dir, NULL);
    ProtobufCMessage *a = t_create_network(s, "default", "a");
    kumo_store_close(s);
    s = t_open(dir, NULL);
    KUMO_EXPECT_INT_EQ(kumo_store_revision(s), 1);
    ProtobufCMessage *got = NULL, *b = NULL;
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, t_kind("net"), NULL, "a", &got, NULL, NULL),
                       KUMO_ERROR_OK);
    b = t_create_network(s, "default", "b");
    KUMO_EXPECT_STR_EQ(t_rv(b), "2");
    kumo_object_destroy(a);
    kumo_object_destroy(b);
    kumo_object_destroy(got);
    kumo_store_close(s);
}

KUMO_TEST(conflict)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    DIAG(d);
    ProtobufCMessage *v1 = t_create_network(s, "default", "web");
    ProtobufCMessage *a = kumo_codec_message_clone(v1), *b = kumo_codec_message_clone(v1);
    ProtobufCMessage *out = NULL;
    t_label(a, "writer", "a");
    t_label(b, "writer", "b");
    int64_t rev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, a, &out, &rev, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev, 2);
    KUMO_EXPECT_STR_EQ(t_rv(out), "2");
    kumo_object_destroy(out);
    out = NULL;
    /* b still carries resourceVersion 1: stale */
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, b, &out, NULL, &d), KUMO_ERROR_CONFLICT);
    KUMO_EXPECT_STR_EQ(d.message,
                       "Operation cannot be fulfilled on Network \"web\": the object has been "
                       "modified; please apply your changes to the latest version and try again");
    KUMO_EXPECT_INT_EQ(kumo_error_class_of(d.code), KUMO_ERROR_CLASS_CONFLICT);
    KUMO_EXPECT(out == NULL);
    kumo_diag_fini(&d);
    /* the store kept a's write */
    ProtobufCMessage *got = NULL;
    KUMO_REQUIRE_INT_EQ(kumo_store_get(s, t_kind("Network"), "default", "web", &got, NULL, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(kumo_object_meta(got)->labels[0]->value, "a");
    kumo_object_destroy(got);
    /* empty resourceVersion: unconditional */
    t_set_rv(b, "");
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, b, NULL, &rev, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev, 3);
    /* garbage resourceVersion */
    t_set_rv(b, "abc");
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, b, NULL, NULL, &d), KUMO_ERROR_INVALID_ARGUMENT);
    kumo_diag_fini(&d);
    /* update of something that does not exist */
    ProtobufCMessage *ghost = t_network("default", "ghost", "10.0.0.0/16");
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, ghost, NULL, NULL, &d), KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_STR_EQ(d.message, "Network \"ghost\" not found");
    kumo_diag_fini(&d);
    /* uid is immutable; creationTimestamp is kept whatever the update says */
    ProtobufCMessage *c = kumo_codec_message_clone(v1);
    t_set_rv(c, "");
    Kumo__V1alpha1__ObjectMeta *cm = kumo_object_meta(c);
    free(cm->uid);
    cm->uid = malloc(8);
    memcpy(cm->uid, "123-456", 8);
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, c, NULL, NULL, &d), KUMO_ERROR_INVALID);
    KUMO_EXPECT_CONTAINS(d.message, "metadata.uid");
    KUMO_EXPECT_CONTAINS(d.message, "field is immutable");
    kumo_diag_fini(&d);
    cm->uid[0] = '\0';
    cm->creation_timestamp->seconds = 12345;
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, c, &out, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(t_uid(out), t_uid(v1));
    KUMO_EXPECT_INT_EQ(kumo_object_meta(out)->creation_timestamp->seconds,
                       kumo_object_meta(v1)->creation_timestamp->seconds);
    kumo_object_destroy(out);
    kumo_object_destroy(c);
    kumo_object_destroy(ghost);
    kumo_object_destroy(a);
    kumo_object_destroy(b);
    kumo_object_destroy(v1);
    kumo_diag_fini(&d);
    kumo_store_close(s);
}

KUMO_TEST(generation)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    DIAG(d);
    ProtobufCMessage *cur = t_create_network(s, "default", "web"), *out = NULL;
    KUMO_EXPECT_INT_EQ(t_generation(cur), 1);
    /* metadata-only change: no bump, new revision */
    t_label(cur, "tier", "front");
    int64_t rev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &out, &rev, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(t_generation(out), 1);
    KUMO_EXPECT_INT_EQ(rev, 2);
    kumo_object_destroy(cur);
    cur = out;
    /* spec change: bump */
    t_network_cidr(cur, "10.2.0.0/16");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &out, &rev, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(t_generation(out), 2);
    kumo_object_destroy(cur);
    cur = out;
    /* the same spec again, and a status change smuggled into update: nothing happens */
    t_network_state(cur, "available");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &out, &rev, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(t_generation(out), 2);
    KUMO_EXPECT_INT_EQ(rev, 3); /* no new revision: nothing changed */
    KUMO_EXPECT_STR_EQ(t_state(out), "");
    KUMO_EXPECT_INT_EQ(kumo_store_revision(s), 3);
    kumo_object_destroy(cur);
    cur = out;
    /* labels in another order are the same object: canonical form */
    ProtobufCMessage *x = t_network("default", "x", "10.0.0.0/16"), *xo = NULL;
    t_label(x, "b", "2");
    t_label(x, "a", "1");
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, x, &xo, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(kumo_object_meta(xo)->labels[0]->key, "a");
    kumo_object_destroy(x);
    kumo_object_destroy(xo);
    kumo_object_destroy(cur);
    kumo_diag_fini(&d);
    kumo_store_close(s);
}

KUMO_TEST(update_status)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    DIAG(d);
    ProtobufCMessage *cur = t_create_network(s, "default", "web"), *out = NULL;
    ProtobufCMessage *stale = kumo_codec_message_clone(cur);
    /* status write: spec/labels changes in the input are ignored, no generation bump */
    t_network_state(cur, "pending");
    t_network_cidr(cur, "10.9.0.0/16");
    t_label(cur, "ignored", "yes");
    int64_t rev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_update_status(s, cur, &out, &rev, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(t_state(out), "pending");
    KUMO_EXPECT_STR_EQ(t_cidr(out), "10.0.0.0/16");
    KUMO_EXPECT_INT_EQ(kumo_object_meta(out)->n_labels, 0);
    KUMO_EXPECT_INT_EQ(t_generation(out), 1);
    KUMO_EXPECT_INT_EQ(rev, 2);
    /* stale resourceVersion: Conflict */
    t_network_state(stale, "available");
    KUMO_EXPECT_INT_EQ(kumo_store_update_status(s, stale, NULL, NULL, &d), KUMO_ERROR_CONFLICT);
    kumo_diag_fini(&d);
    /* update keeps the status */
    ProtobufCMessage *upd = kumo_codec_message_clone(out), *out2 = NULL;
    t_network_cidr(upd, "10.3.0.0/16");
    t_network_state(upd, "bogus");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, upd, &out2, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(t_state(out2), "pending");
    KUMO_EXPECT_INT_EQ(t_generation(out2), 2);
    kumo_object_destroy(upd);
    kumo_object_destroy(out2);
    kumo_object_destroy(out);
    kumo_object_destroy(stale);
    kumo_object_destroy(cur);
    kumo_diag_fini(&d);
    kumo_store_close(s);
}

KUMO_TEST(patch_merge)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    DIAG(d);
    ProtobufCMessage *in = t_network("default", "web", "10.0.0.0/16"), *out = NULL;
    t_label(in, "keep", "1");
    t_label(in, "drop", "1");
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, in, NULL, NULL, &d), KUMO_ERROR_OK);
    const char *patch = "{\"metadata\":{\"labels\":{\"drop\":null,\"new\":\"2\"}},"
                        "\"spec\":{\"cidr\":\"10.7.0.0/16\"}}";
    int64_t rev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_patch(s, t_kind("Network"), "default", "web", patch,
                                         strlen(patch), 0, &out, &rev, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev, 2);
    KUMO_EXPECT_STR_EQ(t_cidr(out), "10.7.0.0/16");
    KUMO_EXPECT_INT_EQ(t_generation(out), 2);
    Kumo__V1alpha1__ObjectMeta *m = kumo_object_meta(out);
    KUMO_REQUIRE_INT_EQ(m->n_labels, 2);
    KUMO_EXPECT_STR_EQ(m->labels[0]->key, "keep");
    KUMO_EXPECT_STR_EQ(m->labels[1]->key, "new");
    kumo_object_destroy(out);
    out = NULL;
    /* status patch */
    const char *sp = "{\"status\":{\"state\":\"available\"}}";
    KUMO_REQUIRE_INT_EQ(kumo_store_patch(s, t_kind("Network"), "default", "web", sp, strlen(sp),
                                         KUMO_STORE_PATCH_STATUS, &out, NULL, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_STR_EQ(t_state(out), "available");
    KUMO_EXPECT_INT_EQ(t_generation(out), 2);
    kumo_object_destroy(out);
    out = NULL;
    /* a resourceVersion in the patch is a precondition */
    const char *stale = "{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"cidr\":\"10.8.0.0/"
                        "16\"}}";
    KUMO_EXPECT_INT_EQ(kumo_store_patch(s, t_kind("Network"), "default", "web", stale,
                                        strlen(stale), 0, &out, NULL, &d),
                       KUMO_ERROR_CONFLICT);
    kumo_diag_fini(&d);
    /* invalid results, bad JSON, missing objects */
    const char *bad = "{\"spec\":{\"cidr\":\"nope\"}}";
    KUMO_EXPECT_INT_EQ(kumo_store_patch(s, t_kind("Network"), "default", "web", bad, strlen(bad), 0,
                                        NULL, NULL, &d),
                       KUMO_ERROR_INVALID);
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_NE(
        kumo_store_patch(s, t_kind("Network"), "default", "web", "{", 1, 0, NULL, NULL, &d),
        KUMO_ERROR_OK);
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(
        kumo_store_patch(s, t_kind("Network"), "default", "nope", "{}", 2, 0, NULL, NULL, &d),
        KUMO_ERROR_NOT_FOUND);
    kumo_diag_fini(&d);
    const char *rename = "{\"metadata\":{\"name\":\"other\"}}";
    KUMO_EXPECT_INT_EQ(kumo_store_patch(s, t_kind("Network"), "default", "web", rename,
                                        strlen(rename), 0, NULL, NULL, &d),
                       KUMO_ERROR_INVALID);
    kumo_diag_fini(&d);
    kumo_object_destroy(in);
    kumo_store_close(s);
}

KUMO_TEST(apply)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    DIAG(d);
    ProtobufCMessage *manifest = t_network("default", "web", "10.0.0.0/16"), *out = NULL;
    t_label(manifest, "app", "web");
    int created = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_apply(s, manifest, &out, NULL, &created, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(created, 1);
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", t_uid(out));
    kumo_object_destroy(out);
    out = NULL;
    /* a controller sets status and a finalizer */
    ProtobufCMessage *cur = NULL;
    kumo_store_get(s, t_kind("Network"), "default", "web", &cur, NULL, &d);
    t_network_state(cur, "available");
    KUMO_REQUIRE_INT_EQ(kumo_store_update_status(s, cur, NULL, NULL, &d), KUMO_ERROR_OK);
    kumo_object_destroy(cur);
    kumo_store_get(s, t_kind("Network"), "default", "web", &cur, NULL, &d);
    t_finalizer_add(cur, "kumo.dev/cleanup");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, NULL, NULL, &d), KUMO_ERROR_OK);
    kumo_object_destroy(cur);
    /* apply again with a new spec and labels */
    t_network_cidr(manifest, "10.5.0.0/16");
    Kumo__V1alpha1__ObjectMeta *mm = kumo_object_meta(manifest);
    free(mm->labels[0]->value);
    mm->labels[0]->value = malloc(4);
    memcpy(mm->labels[0]->value, "api", 4);
    int64_t rev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_apply(s, manifest, &out, &rev, &created, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(created, 0);
    KUMO_EXPECT_STR_EQ(t_cidr(out), "10.5.0.0/16");
    KUMO_EXPECT_STR_EQ(kumo_object_meta(out)->labels[0]->value, "api");
    KUMO_EXPECT_STR_EQ(t_state(out), "available");              /* status kept */
    KUMO_EXPECT_STR_EQ(t_uid(out), uid);                        /* server metadata kept */
    KUMO_EXPECT_INT_EQ(t_generation(out), 2);                   /* spec changed */
    KUMO_EXPECT_INT_EQ(kumo_object_meta(out)->n_finalizers, 1); /* controller's finalizer kept */
    kumo_object_destroy(out);
    out = NULL;
    /* applying the same manifest again changes nothing */
    int64_t rev2 = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_apply(s, manifest, NULL, &rev2, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev2, rev);
    /* invalid manifests are refused */
    t_network_cidr(manifest, "x");
    KUMO_EXPECT_INT_EQ(kumo_store_apply(s, manifest, NULL, NULL, NULL, &d), KUMO_ERROR_INVALID);
    kumo_diag_fini(&d);
    kumo_object_destroy(manifest);
    kumo_store_close(s);
}

KUMO_TEST(delete_preconditions)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    DIAG(d);
    const kumo_object_kind *net = t_kind("Network");
    ProtobufCMessage *v1 = t_create_network(s, "default", "web"), *out = NULL;
    kumo_store_delete_options o = {"00000000-0000-4000-8000-000000000000", NULL,
                                   KUMO_STORE_PROPAGATION_BACKGROUND};
    KUMO_EXPECT_INT_EQ(kumo_store_delete(s, net, "default", "web", &o, NULL, NULL, &d),
                       KUMO_ERROR_CONFLICT);
    KUMO_EXPECT_CONTAINS(d.message, "Precondition failed: UID in precondition");
    kumo_diag_fini(&d);
    o.uid = NULL;
    o.resource_version = "7";
    KUMO_EXPECT_INT_EQ(kumo_store_delete(s, net, "default", "web", &o, NULL, NULL, &d),
                       KUMO_ERROR_CONFLICT);
    kumo_diag_fini(&d);
    o.uid = t_uid(v1);
    o.resource_version = t_rv(v1);
    int64_t rev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "web", &o, &out, &rev, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev, 2);
    KUMO_EXPECT_STR_EQ(t_rv(out), "2");
    KUMO_EXPECT_STR_EQ(t_uid(out), t_uid(v1));
    ProtobufCMessage *got = NULL;
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, net, "default", "web", &got, NULL, &d),
                       KUMO_ERROR_NOT_FOUND);
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_delete(s, net, "default", "web", NULL, NULL, NULL, &d),
                       KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_STR_EQ(d.message, "Network \"web\" not found");
    kumo_diag_fini(&d);
    /* a new object of the same name gets a new uid */
    ProtobufCMessage *v2 = t_create_network(s, "default", "web");
    KUMO_EXPECT(strcmp(t_uid(v2), t_uid(v1)) != 0);
    kumo_object_destroy(v1);
    kumo_object_destroy(v2);
    kumo_object_destroy(out);
    kumo_store_close(s);
}

KUMO_TEST(finalizers)
{
    kumo_store *s = t_open(kumo_test_tmpdir(), NULL);
    DIAG(d);
    const kumo_object_kind *net = t_kind("Network");
    ProtobufCMessage *in = t_network("default", "web", "10.0.0.0/16"), *cur = NULL, *out = NULL;
    t_finalizer_add(in, "kumo.dev/a");
    t_finalizer_add(in, "kumo.dev/b");
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, in, &cur, NULL, &d), KUMO_ERROR_OK);
    /* delete only marks it */
    int64_t rev = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "web", NULL, &out, &rev, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT(kumo_object_meta(out)->deletion_timestamp != NULL);
    KUMO_EXPECT_INT_EQ(rev, 2);
    KUMO_EXPECT_INT_EQ(t_generation(out), 1);
    kumo_object_destroy(out);
    out = NULL;
    /* a second delete changes nothing */
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "web", NULL, &out, &rev, &d),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev, 2);
    KUMO_EXPECT_INT_EQ(kumo_store_revision(s), 2);
    kumo_object_destroy(out);
    out = NULL;
    kumo_object_destroy(cur);
    KUMO_REQUIRE_INT_EQ(kumo_store_get(s, net, "default", "web", &cur, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT(kumo_object_meta(cur)->deletion_timestamp != NULL);
    /* no new finalizers while being deleted */
    t_finalizer_add(cur, "kumo.dev/c");
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, cur, NULL, NULL, &d), KUMO_ERROR_INVALID);
    KUMO_EXPECT_CONTAINS(d.message, "no new finalizers");
    kumo_diag_fini(&d);
    /* removing one finalizer: still there */
    t_finalizers_clear(cur);
    t_finalizer_add(cur, "kumo.dev/b");
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &out, NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT(kumo_object_meta(out)->deletion_timestamp != NULL);
    kumo_object_destroy(cur);
    cur = out;
    out = NULL;
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, net, "default", "web", &out, NULL, &d), KUMO_ERROR_OK);
    kumo_object_destroy(out);
    out = NULL;
    /* removing the last one: gone, with a DELETED event */
    int64_t before = kumo_store_revision(s);
    t_finalizers_clear(cur);
    KUMO_REQUIRE_INT_EQ(kumo_store_update(s, cur, &out, &rev, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(rev, before + 1);
    ProtobufCMessage *got = NULL;
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, net, "default", "web", &got, NULL, &d),
                       KUMO_ERROR_NOT_FOUND);
    kumo_diag_fini(&d);
    kumo_store_event *ev = NULL;
    size_t n = 0;
    int64_t next = 0;
    KUMO_REQUIRE_INT_EQ(kumo_store_watch_next(s, before, NULL, 10, &ev, &n, &next, &d),
                        KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(n, 1);
    KUMO_EXPECT_INT_EQ(ev[0].type, KUMO_STORE_EVENT_DELETED);
    kumo_store_events_free(ev, n);
    /* finalizers via patch work the same */
    ProtobufCMessage *p = t_network("default", "p", "10.0.0.0/16");
    t_finalizer_add(p, "kumo.dev/a");
    KUMO_REQUIRE_INT_EQ(kumo_store_create(s, p, NULL, NULL, &d), KUMO_ERROR_OK);
    KUMO_REQUIRE_INT_EQ(kumo_store_delete(s, net, "default", "p", NULL, NULL, NULL, &d),
                        KUMO_ERROR_OK);
    const char *patch = "{\"metadata\":{\"finalizers\":null}}";
    KUMO_REQUIRE_INT_EQ(
        kumo_store_patch(s, net, "default", "p", patch, strlen(patch), 0, NULL, NULL, &d),
        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_store_get(s, net, "default", "p", &got, NULL, &d),
                       KUMO_ERROR_NOT_FOUND);
    kumo_diag_fini(&d);
    kumo_object_destroy(p);
    kumo_object_destroy(out);
    kumo_object_destroy(cur);
    kumo_object_destroy(in);
    kumo_store_close(s);
}

KUMO_TEST(size_limit)
{
    const char *dir = kumo_test_tmpdir();
    kumo_store *s = t_open(dir, NULL);
    DIAG(d);
    ProtobufCMessage *ok = t_create_network(s, "default", "small");
    ProtobufCMessage *big = t_network("default", "big", "10.0.0.0/16");
    size_t n = 2000000;
    char *payload = malloc(n + 1);
    memset(payload, 'x', n);
    payload[n] = '\0';
    t_annotation(big, "kumo.dev/blob", payload);
    int64_t before = kumo_store_revision(s);
    KUMO_EXPECT_INT_EQ(kumo_store_create(s, big, NULL, NULL, &d), KUMO_ERROR_TOO_LARGE);
    KUMO_EXPECT_CONTAINS(d.message, "Network \"big\" is 20000");
    KUMO_EXPECT_CONTAINS(d.message, "bytes; the limit is 1572864");
    kumo_diag_fini(&d);
    /* nothing else is affected: no revision used, other writes go on */
    KUMO_EXPECT_INT_EQ(kumo_store_revision(s), before);
    ProtobufCMessage *after = t_create_network(s, "default", "after");
    /* growing an existing object past the limit by update is refused too */
    ProtobufCMessage *grow = kumo_codec_message_clone(ok);
    t_annotation(grow, "kumo.dev/blob", payload);
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, grow, NULL, NULL, &d), KUMO_ERROR_TOO_LARGE);
    kumo_diag_fini(&d);
    /* just under the limit works (status is not subject to the annotation rules) */
    payload[1500000] = '\0';
    Kumo__V1alpha1__Network *gn = (Kumo__V1alpha1__Network *)grow;
    t_network_state(grow, "available");
    gn->status->provider_id = strdup(payload);
    KUMO_EXPECT_INT_EQ(kumo_store_update_status(s, grow, NULL, NULL, &d), KUMO_ERROR_OK);
    /* an update whose own bytes are small but which grows the stored object past the limit
     * (its status is kept) is refused by the writer's exact check */
    ProtobufCMessage *small = t_network("default", "small", "10.0.0.0/16");
    payload[100000] = '\0';
    t_annotation(small, "kumo.dev/blob", payload);
    before = kumo_store_revision(s);
    KUMO_EXPECT_INT_EQ(kumo_store_update(s, small, NULL, NULL, &d), KUMO_ERROR_TOO_LARGE);
    KUMO_EXPECT_CONTAINS(d.message, "Network \"small\" is 16");
    kumo_diag_fini(&d);
    KUMO_EXPECT_INT_EQ(kumo_store_revision(s), before);
    kumo_object_destroy(small);
    kumo_store_close(s);
    /* a smaller configured limit */
    kumo_store_options o = t_options(dir);
    o.max_object_bytes = 1000;
    s = t_open(dir, &o);
    t_set_rv(grow, "");
    KUMO_EXPECT_INT_EQ(kumo_store_update_status(s, grow, NULL, NULL, &d), KUMO_ERROR_TOO_LARGE);
    KUMO_EXPECT_CONTAINS(d.message, "the limit is 1000");
    kumo_diag_fini(&d);
    kumo_store_close(s);
    free(payload);
    kumo_object_destroy(grow);
    kumo_object_destroy(after);
    kumo_object_destroy(ok);
    kumo_object_destroy(big);
}
