/* map_test.c - the string-keyed hash map. */
#include "apis/map/map.h"
#include "tests/harness/test.h"

#include <stdint.h>

KUMO_TEST(put_get_remove)
{
    kumo_map *m = kumo_map_create();
    int a = 1, b = 2;
    void *old = &a;
    KUMO_EXPECT_INT_EQ(kumo_map_put(m, "default/web", &a, &old), 0);
    KUMO_EXPECT(old == NULL);
    KUMO_EXPECT(kumo_map_get(m, "default/web") == &a);
    KUMO_EXPECT(kumo_map_get(m, "default/db") == NULL);
    KUMO_EXPECT_INT_EQ(kumo_map_put(m, "default/web", &b, &old), 0);
    KUMO_EXPECT(old == &a);
    KUMO_EXPECT_INT_EQ(kumo_map_count(m), 1);
    KUMO_EXPECT(kumo_map_remove(m, "default/web") == &b);
    KUMO_EXPECT(kumo_map_remove(m, "default/web") == NULL);
    KUMO_EXPECT_INT_EQ(kumo_map_count(m), 0);
    kumo_map_destroy(m);
    kumo_map_destroy(NULL);
}

KUMO_TEST(many_keys_grow)
{
    kumo_map *m = kumo_map_create();
    char key[32];
    for (intptr_t i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "ns/m-%ld", (long)i);
        KUMO_REQUIRE_INT_EQ(kumo_map_put(m, key, (void *)(i + 1), NULL), 0);
    }
    KUMO_EXPECT_INT_EQ(kumo_map_count(m), 100000);
    for (intptr_t i = 0; i < 100000; i += 7) {
        snprintf(key, sizeof(key), "ns/m-%ld", (long)i);
        KUMO_REQUIRE((intptr_t)kumo_map_get(m, key) == i + 1);
    }
    for (intptr_t i = 0; i < 100000; i += 2) {
        snprintf(key, sizeof(key), "ns/m-%ld", (long)i);
        KUMO_REQUIRE((intptr_t)kumo_map_remove(m, key) == i + 1);
    }
    KUMO_EXPECT_INT_EQ(kumo_map_count(m), 50000);
    KUMO_EXPECT(kumo_map_get(m, "ns/m-2") == NULL);
    KUMO_EXPECT((intptr_t)kumo_map_get(m, "ns/m-3") == 4);
    kumo_map_destroy(m);
}

static void sum(void *context, const char *key, void *value)
{
    (void)key;
    *(intptr_t *)context += (intptr_t)value;
}

KUMO_TEST(each_visits_all)
{
    kumo_map *m = kumo_map_create();
    char key[32];
    for (intptr_t i = 1; i <= 1000; i++) {
        snprintf(key, sizeof(key), "k%ld", (long)i);
        kumo_map_put(m, key, (void *)i, NULL);
    }
    intptr_t total = 0;
    kumo_map_each(m, sum, &total);
    KUMO_EXPECT_INT_EQ(total, 1000 * 1001 / 2);
    kumo_map_destroy(m);
}
