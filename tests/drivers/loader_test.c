/*
 * loader_test.c - kumo_driver_load accepts the sim and refuses broken
 * plugins, each with a message that names the problem; the code mapping.
 */
#include "drivers/loader/loader.h"
#include "tests/drivers/helpers.h"
#include "tests/harness/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *plugin_dir(char *buf, size_t size)
{
    return kumo_test_build_path("tests/drivers/plugins", buf, size);
}

/* Loads `name` from `dir`, expects `want`, returns the message (static). */
static const char *refused(const char *dir, const char *name, kumo_error want)
{
    static char message[1024];
    kumo_driver_handle *h = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_error err = kumo_driver_load(dir, name, &h, &diag);
    KUMO_EXPECT_INT_EQ(err, want);
    KUMO_EXPECT(h == NULL);
    snprintf(message, sizeof(message), "%s", diag.message);
    kumo_diag_fini(&diag);
    kumo_driver_unload(h);
    return message;
}

KUMO_TEST(loader_loads_sim)
{
    char dir[512];
    kumo_driver_handle *h = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    kumo_test_build_path("lib/kumo/drivers", dir, sizeof(dir));
    KUMO_REQUIRE_INT_EQ(kumo_driver_load(dir, "sim", &h, &diag), KUMO_ERROR_OK);
    const struct kumo_driver *t = kumo_driver_table(h);
    KUMO_EXPECT_STR_EQ(t->name, "sim");
    KUMO_EXPECT_INT_EQ(t->abi_major, KUMO_DRIVER_ABI_MAJOR);
    KUMO_EXPECT_INT_GE(t->struct_size, KUMO_DRIVER_SIZE_1_0);
    KUMO_EXPECT(t->capabilities & KUMO_DRIVER_CAP_MACHINES);
    KUMO_EXPECT(t->capabilities & KUMO_DRIVER_CAP_TOKENS);
    KUMO_EXPECT_CONTAINS(kumo_driver_path(h), "kumo-driver-sim.so");
    KUMO_EXPECT(kumo_driver_host_of(h) == kumo_driver_default_host());
    /* Loading twice is fine (the same .so, reference counted). */
    kumo_driver_handle *h2 = NULL;
    KUMO_EXPECT_INT_EQ(kumo_driver_load(dir, "sim", &h2, &diag), KUMO_ERROR_OK);
    kumo_driver_unload(h2);
    kumo_driver_unload(h);
    kumo_driver_unload(NULL);
    kumo_diag_fini(&diag);
}

KUMO_TEST(loader_minimal_plugin)
{
    char dir[512];
    kumo_driver_handle *h = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(kumo_driver_load(plugin_dir(dir, sizeof(dir)), "minimal", &h, &diag),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_driver_table(h)->capabilities, 0);
    kumo_driver_unload(h);
    kumo_diag_fini(&diag);
}

/* ABI 1.2: an ABI 1.1 driver still loads, without load balancers; one that claims them is
 * refused; the sim has them. */
KUMO_TEST(loader_abi_1_1_and_1_2)
{
    char dir[512], drivers[512];
    kumo_driver_handle *h = NULL;
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_REQUIRE_INT_EQ(kumo_driver_load(plugin_dir(dir, sizeof(dir)), "abi11", &h, &diag),
                        KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_driver_table(h)->abi_minor, 1);
    KUMO_EXPECT(!kumo_driver_has_load_balancers(kumo_driver_table(h)));
    kumo_driver_unload(h);
    const char *m = refused(dir, "abi11lb", KUMO_ERROR_FORMAT);
    KUMO_EXPECT_CONTAINS(m, "predates ABI 1.2");
    kumo_test_build_path("lib/kumo/drivers", drivers, sizeof(drivers));
    KUMO_REQUIRE_INT_EQ(kumo_driver_load(drivers, "sim", &h, &diag), KUMO_ERROR_OK);
    KUMO_EXPECT(kumo_driver_has_load_balancers(kumo_driver_table(h)));
    kumo_driver_unload(h);
    kumo_diag_fini(&diag);
}

KUMO_TEST(loader_missing_file)
{
    char dir[512];
    const char *m = refused(plugin_dir(dir, sizeof(dir)), "nonexistent", KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_CONTAINS(m, "driver \"nonexistent\" not found");
    KUMO_EXPECT_CONTAINS(m, "kumo-driver-nonexistent.so");
    m = refused("/no/such/folder", "sim", KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_CONTAINS(m, "/no/such/folder");
}

KUMO_TEST(loader_bad_name)
{
    const char *m = refused("/tmp", "../etc/passwd", KUMO_ERROR_INVALID_ARGUMENT);
    KUMO_EXPECT_CONTAINS(m, "driver name");
    refused("/tmp", "", KUMO_ERROR_INVALID_ARGUMENT);
}

KUMO_TEST(loader_not_a_shared_object)
{
    const char *dir = kumo_test_tmpdir();
    char path[600];
    snprintf(path, sizeof(path), "%s/kumo-driver-garbage.so", dir);
    FILE *f = fopen(path, "w");
    KUMO_REQUIRE_PTR_NONNULL(f);
    fputs("this is not an ELF file, just some text\n", f);
    fclose(f);
    const char *m = refused(dir, "garbage", KUMO_ERROR_FORMAT);
    KUMO_EXPECT_CONTAINS(m, "is not a loadable shared object");
    KUMO_EXPECT_CONTAINS(m, "kumo-driver-garbage.so");
    /* dlopen's own words are kept. */
    KUMO_EXPECT(strstr(m, "ELF") != NULL || strstr(m, "too short") != NULL);
}

KUMO_TEST(loader_no_entry_symbol)
{
    char dir[512];
    const char *m = refused(plugin_dir(dir, sizeof(dir)), "nosym", KUMO_ERROR_FORMAT);
    KUMO_EXPECT_CONTAINS(m, "has no entry symbol kumo_driver_entry");
}

KUMO_TEST(loader_wrong_abi)
{
    char dir[512], want[64];
    const char *m = refused(plugin_dir(dir, sizeof(dir)), "badabi", KUMO_ERROR_FORMAT);
    KUMO_EXPECT_CONTAINS(m, "wrong driver ABI version");
    snprintf(want, sizeof(want), "built for ABI %d.0", KUMO_DRIVER_ABI_MAJOR + 1);
    KUMO_EXPECT_CONTAINS(m, want);
    snprintf(want, sizeof(want), "speaks ABI %d.%d", KUMO_DRIVER_ABI_MAJOR, KUMO_DRIVER_ABI_MINOR);
    KUMO_EXPECT_CONTAINS(m, want);
}

KUMO_TEST(loader_truncated_table)
{
    char dir[512];
    const char *m = refused(plugin_dir(dir, sizeof(dir)), "truncated", KUMO_ERROR_FORMAT);
    KUMO_EXPECT_CONTAINS(m, "truncated driver table");
}

KUMO_TEST(loader_name_and_caps)
{
    char dir[512];
    const char *m = refused(plugin_dir(dir, sizeof(dir)), "misnamed", KUMO_ERROR_FORMAT);
    KUMO_EXPECT_CONTAINS(m, "\"someone-else\", expected \"misnamed\"");
    m = refused(plugin_dir(dir, sizeof(dir)), "badcaps", KUMO_ERROR_FORMAT);
    KUMO_EXPECT_CONTAINS(m, "operation machine_observe is missing");
}

KUMO_TEST(loader_code_mapping)
{
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of(KUMO_DRIVER_OK), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of(KUMO_DRIVER_THROTTLED), KUMO_ERROR_THROTTLED);
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of(KUMO_DRIVER_CAPACITY), KUMO_ERROR_CAPACITY);
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of(KUMO_DRIVER_QUOTA), KUMO_ERROR_QUOTA);
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of(KUMO_DRIVER_NOT_FOUND), KUMO_ERROR_NOT_FOUND);
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of(KUMO_DRIVER_TIMEOUT), KUMO_ERROR_TIMEOUT);
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of(KUMO_DRIVER_UNAVAILABLE), KUMO_ERROR_UNAVAILABLE);
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of(KUMO_DRIVER_CONFLICT), KUMO_ERROR_CONFLICT);
    KUMO_EXPECT_INT_EQ(kumo_driver_error_of((kumo_driver_code)999), KUMO_ERROR_INTERNAL);
    for (int c = 1; c < KUMO_DRIVER_CODE_COUNT_; c++) {
        KUMO_EXPECT_INT_NE(kumo_driver_error_of((kumo_driver_code)c), KUMO_ERROR_OK);
        KUMO_EXPECT(strcmp(kumo_driver_code_name((kumo_driver_code)c), "UNKNOWN") != 0);
    }
    /* The driver's code, the cloud's code and message survive the mapping. */
    struct kumo_driver_diag d = {KUMO_DRIVER_THROTTLED, 120, "RequestLimitExceeded",
                                 "Request limit exceeded."};
    kumo_diag diag;
    kumo_diag_init(&diag);
    KUMO_EXPECT_INT_EQ(
        kumo_driver_diag_to_kumo(KUMO_DRIVER_THROTTLED, &d, "sim", "machine_create", &diag),
        KUMO_ERROR_THROTTLED);
    KUMO_EXPECT_STR_EQ(diag.message, "sim machine_create: RequestLimitExceeded: Request limit "
                                     "exceeded.");
    KUMO_EXPECT_STR_EQ(diag.foreign_where, "driver");
    KUMO_EXPECT_INT_EQ(diag.foreign_code, KUMO_DRIVER_THROTTLED);
    KUMO_EXPECT_INT_EQ(kumo_error_class_of(diag.code), KUMO_ERROR_CLASS_RETRY);
    kumo_diag_fini(&diag);
}
