/*
 * manager_test.c - the manager's table of controllers: every controller has
 * one row, kumod's --controllers list is checked against it, and a row's
 * needs decide whether it runs.
 */
#include <stdlib.h>
#include <string.h>

#include "controllers/infra/infra.h"
#include "controllers/manager/manager.h"
#include "tests/controllers/fixture.h"
#include "tests/harness/test.h"

static int row_index(const char *name)
{
    for (size_t i = 0; i < kumo_manager_controller_count(); i++)
        if (strcmp(kumo_manager_controller_name(i), name) == 0)
            return (int)i;
    return -1;
}

KUMO_TEST(manager_table_one_row_per_controller)
{
    /* Every controller of the infra package, and each other package's, has exactly one row. */
    for (size_t i = 0; i < kumo_infra_controller_count(); i++)
        KUMO_EXPECT_INT_GE(row_index(kumo_infra_controller_name(i)), 0);
    static const char *const others[] = {"app", "loadbalancer", "migration"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        KUMO_EXPECT_INT_GE(row_index(others[i]), 0);
    KUMO_EXPECT_INT_EQ(kumo_manager_controller_count(), kumo_infra_controller_count() + 3);
    for (size_t i = 0; i < kumo_manager_controller_count(); i++)
        KUMO_EXPECT_INT_EQ(row_index(kumo_manager_controller_name(i)), (int)i);
    KUMO_EXPECT(kumo_manager_controller_name(kumo_manager_controller_count()) == NULL);
    /* Start order: a Connection before what uses it, Machines before the Infra. */
    KUMO_EXPECT_INT_LT(row_index("connection"), row_index("machine"));
    KUMO_EXPECT_INT_LT(row_index("machine"), row_index("infra"));
}

KUMO_TEST(manager_controllers_list_checked)
{
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_EXPECT_INT_EQ(kumo_manager_controllers_check(NULL, &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_manager_controllers_check("all", &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_manager_controllers_check("none", &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_manager_controllers_check("migration,connection", &d), KUMO_ERROR_OK);
    KUMO_EXPECT_INT_EQ(kumo_manager_controllers_check("connection,bogus", &d),
                       KUMO_ERROR_INVALID_ARGUMENT);
    KUMO_EXPECT_CONTAINS(d.message, "unknown controller \"bogus\"");
    KUMO_EXPECT_CONTAINS(d.message, "connection, credential");
    KUMO_EXPECT_CONTAINS(d.message, "migration");
    kumo_diag_fini(&d);
}

static int migration_runs(api_fixture *f, void *arg)
{
    (void)f;
    return kumo_manager_running(arg, "migration");
}

/* A row that needs the agent bus stays off without one; the others listed run. */
KUMO_TEST(manager_row_needs_decide)
{
    api_fixture f;
    api_fixture_start(&f);
    kumo_manager_options o = {.nats_url = f.url,
                              .controllers = "app,migration",
                              .drivers_dir = f.drivers_dir,
                              .holder = "kumod-table",
                              .lease_duration_ms = 900};
    kumo_manager *m = NULL;
    kumo_diag d;
    kumo_diag_init(&d);
    KUMO_REQUIRE_INT_EQ(kumo_manager_start(&o, &m, &d), KUMO_ERROR_OK);
    KUMO_EXPECT(api_wait(&f, 20, migration_runs, m));
    char *json = kumo_manager_metrics(m);
    KUMO_REQUIRE(json != NULL);
    KUMO_EXPECT_CONTAINS(json, "{\"name\":\"app\",\"enabled\":false");
    KUMO_EXPECT_CONTAINS(json, "{\"name\":\"migration\",\"enabled\":true,\"leader\":true");
    KUMO_EXPECT_CONTAINS(json, "{\"name\":\"connection\",\"enabled\":false");
    KUMO_EXPECT(!kumo_manager_running(m, "app"));
    free(json);
    kumo_manager_stop(m);
    kumo_diag_fini(&d);
    api_fixture_stop(&f);
}
