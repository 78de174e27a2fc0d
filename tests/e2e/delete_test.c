/*
 * delete_test.c - every deletion completes, in any order: the objects of
 * examples/ (the sim ones; quickstart-local.yaml needs the local driver) are
 * applied, and once the clouds hold resources, deleted one by one in a random
 * order, without waiting in between. Each round must end with no object left
 * in kumo and nothing left in the sim's inventory.
 *
 * The order is seeded and printed; KUMO_DELETE_SEED=<n> replays a run and
 * KUMO_DELETE_ROUNDS=<n> runs more orders (default 3).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/kumo/v1alpha1/machine.pb-c.h"
#include "apis/object/object.h"
#include "tests/e2e/e2e.h"

#define MAX_OBJECTS 64

typedef struct example_object {
    const kumo_object_kind *kind;
    char name[128];
} example_object;

typedef struct examples {
    ProtobufCMessage *objects[MAX_OBJECTS];
    size_t count;
    example_object unique[MAX_OBJECTS];
    size_t unique_count;
} examples;

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* Every object of the YAML files of examples/ but the local quickstart. */
static void examples_load(examples *x)
{
    memset(x, 0, sizeof(*x));
    char dir[1024];
    kumo_test_source_path("examples", dir, sizeof(dir));
    DIR *d = opendir(dir);
    KUMO_REQUIRE(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".yaml") || strcmp(e->d_name, "quickstart-local.yaml") == 0)
            continue;
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *text = kumo_test_read_file(path, &len);
        KUMO_REQUIRE(text != NULL);
        kumo_object_document *docs = NULL;
        size_t count = 0;
        kumo_diag diag;
        kumo_diag_init(&diag);
        KUMO_REQUIRE_INT_EQ(kumo_object_decode_documents(text, len, KUMO_CODEC_FORMAT_YAML, NULL,
                                                         &docs, &count, &diag),
                            KUMO_ERROR_OK);
        for (size_t i = 0; i < count && x->count < MAX_OBJECTS; i++) {
            if (docs[i].object == NULL)
                continue;
            x->objects[x->count++] = docs[i].object;
            int seen = 0;
            for (size_t u = 0; u < x->unique_count; u++)
                seen |= x->unique[u].kind == docs[i].kind &&
                        strcmp(x->unique[u].name, kumo_object_name(docs[i].object)) == 0;
            if (!seen) {
                example_object *o = &x->unique[x->unique_count++];
                o->kind = docs[i].kind;
                snprintf(o->name, sizeof(o->name), "%s", kumo_object_name(docs[i].object));
            }
            docs[i].object = NULL;
        }
        kumo_object_documents_free(docs, count);
        kumo_diag_fini(&diag);
        free(text);
    }
    closedir(d);
}

static void examples_free(examples *x)
{
    for (size_t i = 0; i < x->count; i++)
        kumo_object_destroy(x->objects[i]);
}

/* Objects of every kind in the default namespace (Events aside). */
static size_t objects_left(e2e *t, char *first, size_t size)
{
    size_t left = 0;
    first[0] = '\0';
    for (size_t k = 0; k < kumo_object_kind_count(); k++) {
        const kumo_object_kind *kind = kumo_object_kind_at(k);
        if (strcmp(kind->kind, "Event") == 0)
            continue;
        ProtobufCMessage *list = NULL;
        kumo_diag d;
        kumo_diag_init(&d);
        if (kumo_client_list(t->client, kind, "default", NULL, &list, &d) != KUMO_ERROR_OK) {
            kumo_diag_fini(&d);
            return 1000;
        }
        kumo_diag_fini(&d);
        const ProtobufCFieldDescriptor *fi =
            protobuf_c_message_descriptor_get_field_by_name(list->descriptor, "items");
        size_t n = *(const size_t *)((const char *)list + fi->quantifier_offset);
        ProtobufCMessage *const *items =
            *(ProtobufCMessage *const *const *)((const char *)list + fi->offset);
        if (n > 0 && first[0] == '\0') {
            const Kumo__V1alpha1__Condition *c = kumo_object_condition_get(items[0], "Ready");
            snprintf(first, size, "%s %s (Ready %s %s: %s)", kind->kind, kumo_object_name(items[0]),
                     c ? c->status : "-", c ? c->reason : "-", c ? c->message : "-");
        }
        left += n;
        kumo_object_destroy(list);
    }
    return left;
}

static int all_gone(e2e *t, void *arg)
{
    char first[1200];
    size_t *left = arg;
    *left = objects_left(t, first, sizeof(first));
    return *left == 0;
}

/* Some Machine has a cloud id: the clouds hold resources. */
static int cloud_in_use(e2e *t, void *arg)
{
    (void)arg;
    ProtobufCMessage *m = e2e_get(t, "Machine", "bastion");
    const Kumo__V1alpha1__Machine *mc = (const Kumo__V1alpha1__Machine *)m;
    int ok = mc && mc->status && mc->status->provider_id[0];
    kumo_object_destroy(m);
    return ok;
}

static void round_run(e2e *t, examples *x, unsigned seed)
{
    kumo_diag d;
    kumo_diag_init(&d);
    for (size_t i = 0; i < x->count; i++) {
        kumo_error e = kumo_client_apply(t->client, x->objects[i], NULL, NULL, &d);
        if (e != KUMO_ERROR_OK)
            fprintf(stderr, "apply %s: %s\n", kumo_object_name(x->objects[i]), d.message);
        E2E_REQUIRE(t, e == KUMO_ERROR_OK);
        kumo_diag_fini(&d);
    }
    int in_use = e2e_wait(t, 60, cloud_in_use, NULL); /* not in E2E_REQUIRE: it evaluates twice */
    E2E_REQUIRE(t, in_use);
    kumo_value *before = e2e_inventory(t); /* the test can see what it must see go */
    KUMO_EXPECT(before && e2e_inventory_count(before, "machines") > 0);
    kumo_codec_value_destroy(before);
    size_t order[MAX_OBJECTS];
    for (size_t i = 0; i < x->unique_count; i++)
        order[i] = i;
    srand(seed);
    for (size_t i = x->unique_count; i > 1; i--) {
        size_t j = (size_t)rand() % i, tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    fprintf(stderr, "delete order (seed %u):", seed);
    for (size_t i = 0; i < x->unique_count; i++) {
        const example_object *o = &x->unique[order[i]];
        fprintf(stderr, " %s/%s", o->kind->singular, o->name);
        kumo_error e = kumo_client_delete(t->client, o->kind, "default", o->name, NULL, NULL, &d);
        KUMO_EXPECT(e == KUMO_ERROR_OK || e == KUMO_ERROR_NOT_FOUND);
        kumo_diag_fini(&d);
    }
    fprintf(stderr, "\n");
    size_t left = 0;
    int gone = e2e_wait(t, 120, all_gone, &left);
    if (!gone) {
        char first[1200];
        objects_left(t, first, sizeof(first));
        fprintf(stderr, "seed %u: %zu objects left, e.g. %s\n", seed, left, first);
        e2e_dump_log(t, 40);
    }
    KUMO_EXPECT(gone);
    kumo_value *inventory = e2e_inventory(t);
    KUMO_EXPECT(inventory != NULL);
    const char *what[] = {"machines", "networks", "securityGroups", "keyPairs", "loadBalancers"};
    for (size_t i = 0; inventory && i < sizeof(what) / sizeof(what[0]); i++) {
        size_t n = e2e_inventory_count(inventory, what[i]);
        if (n != 0)
            fprintf(stderr, "seed %u: %zu %s left in the sim\n", seed, n, what[i]);
        KUMO_EXPECT_INT_EQ(n, 0);
    }
    kumo_codec_value_destroy(inventory);
    kumo_diag_fini(&d);
}

KUMO_TEST(examples_deleted_in_any_order)
{
    examples x;
    examples_load(&x);
    KUMO_REQUIRE(x.unique_count >= 10);
    e2e t;
    e2e_start(&t, "2");
    snprintf(t.state, sizeof(t.state), "%.450s/drivers/sim-account.state", t.data_dir);
    const char *seed_text = getenv("KUMO_DELETE_SEED");
    const char *rounds_text = getenv("KUMO_DELETE_ROUNDS");
    unsigned seed = seed_text ? (unsigned)strtoul(seed_text, NULL, 10) : (unsigned)time(NULL);
    int rounds = rounds_text ? (int)strtol(rounds_text, NULL, 10) : 3;
    fprintf(stderr, "KUMO_DELETE_SEED=%u KUMO_DELETE_ROUNDS=%d\n", seed, rounds);
    for (int r = 0; r < rounds; r++)
        round_run(&t, &x, seed + (unsigned)r);
    examples_free(&x);
    e2e_stop(&t);
}
