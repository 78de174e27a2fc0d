/*
 * example_test.c - runs the driver contract suite (contract.c) against the
 * reference driver (drivers/example), and checks what it adds: its state
 * file survives a reopen, bad config and bad subnets are refused with the
 * key or subnet named.
 */
#include "tests/drivers/contract.h"
#include "tests/drivers/helpers.h"
#include "tests/harness/test.h"

#include <stdio.h>
#include <string.h>

struct example_contract {
    struct fixture f;
    struct kumo_driver_kv kv[4];
    struct kumo_driver_open_args args;
    struct contract_env env;
};

static void setup(struct example_contract *s)
{
    fixture_load_driver(&s->f, "example");
    s->kv[0] = (struct kumo_driver_kv){"state", s->f.state};
    /* long enough that a create under load (an fsync) returns before the boot ends */
    s->kv[1] = (struct kumo_driver_kv){"boot_seconds", "1"};
    s->args = (struct kumo_driver_open_args){sizeof(s->args), "test/example", s->kv, 2, NULL, 0};
    s->env =
        (struct contract_env){s->f.drv, s->f.host, &s->args, "ex.small", "ubuntu-22.04", 1, 0, 0};
}

#define EXAMPLE_CONTRACT(check)                                                                    \
    KUMO_TEST(example_contract_##check)                                                            \
    {                                                                                              \
        struct example_contract s;                                                                 \
        setup(&s);                                                                                 \
        contract_##check(&s.env);                                                                  \
        fixture_unload(&s.f);                                                                      \
    }

EXAMPLE_CONTRACT(create_idempotent)
EXAMPLE_CONTRACT(observe_after_restart)
EXAMPLE_CONTRACT(delete_idempotent)
EXAMPLE_CONTRACT(list_by_tag)
EXAMPLE_CONTRACT(deadlines)
EXAMPLE_CONTRACT(machine_boots)
EXAMPLE_CONTRACT(machine_update)
EXAMPLE_CONTRACT(dependencies)
EXAMPLE_CONTRACT(catalog)
EXAMPLE_CONTRACT(bad_input)

/* Config goes through the kit's table: each bad value names its key. */
KUMO_TEST(example_config_errors)
{
    struct fixture f;
    fixture_load_driver(&f, "example");
    struct {
        const char *config;
        const char *message;
    } cases[] = {
        {"boot_seconds=soon", "example config boot_seconds=\"soon\": expected seconds"},
        {"boot_seconds=4000", "expected seconds from 0 to 3600"},
        {"region=", "example config region=\"\": expected a region name"},
        {"colour=blue", "known keys: state, provider, region, zone, endpoint, boot_seconds"},
        {"provider=aws", "example config provider=\"aws\": expected \"example\""},
        {"state=", "expected the path of the state file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kumo_driver_conn *conn = NULL;
        struct kumo_driver_diag diag;
        memset(&diag, 0, sizeof(diag));
        KUMO_EXPECT_INT_EQ(fixture_try_open(&f, cases[i].config, &conn, &diag),
                           KUMO_DRIVER_INVALID);
        KUMO_EXPECT(conn == NULL);
        KUMO_EXPECT_CONTAINS(diag.message, cases[i].message);
    }
    fixture_unload(&f);
}

/* The state file is the kit's format, readable text; a damaged line is refused
 * with its number, and the rest of the driver keeps working. */
KUMO_TEST(example_state_file)
{
    struct fixture f;
    struct kumo_driver_diag diag;
    fixture_load_driver(&f, "example");
    struct kumo_driver_conn *conn = fixture_open(&f, "boot_seconds=0");
    struct kumo_driver_tag tags[1] = {{"team", "blue=green, 100%"}};
    struct kumo_driver_machine_spec spec = {.struct_size = sizeof(spec),
                                            .name = "state",
                                            .instance_type = "ex.large",
                                            .image = "debian-12",
                                            .tags = tags,
                                            .tag_count = 1};
    struct kumo_driver_machine *m = NULL;
    KUMO_REQUIRE_INT_EQ(
        f.drv->machine_create(conn, &spec, "tok-state", deadline_in(f.host, 10), &m, &diag),
        KUMO_DRIVER_OK);
    kumo_driver_free(f.host, m);
    f.drv->close(conn);
    char text[4096] = "";
    FILE *file = fopen(f.state, "r");
    KUMO_REQUIRE_PTR_NONNULL(file);
    size_t n = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[n] = '\0';
    KUMO_EXPECT_CONTAINS(text, "kumo-example-state 1\n");
    KUMO_EXPECT_CONTAINS(text, "\ttoken=tok-state\t");
    KUMO_EXPECT_CONTAINS(text, "\ttag=team=blue%3Dgreen%2C 100%25");
    conn = fixture_open(&f, "boot_seconds=0");
    struct kumo_driver_ref ref = {NULL, "tok-state"};
    KUMO_REQUIRE_INT_EQ(f.drv->machine_observe(conn, &ref, deadline_in(f.host, 10), &m, &diag),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_STR_EQ(m->instance_type, "ex.large");
    KUMO_EXPECT_INT_EQ(m->phase, KUMO_DRIVER_MACHINE_RUNNING);
    KUMO_EXPECT_INT_EQ(m->tag_count, 2);
    KUMO_EXPECT_STR_EQ(m->tags[1].value, "blue=green, 100%");
    kumo_driver_free(f.host, m);
    f.drv->close(conn);
    file = fopen(f.state, "a");
    KUMO_REQUIRE_PTR_NONNULL(file);
    fputs("object\tkind=machine\tid=%zz\n", file);
    fclose(file);
    KUMO_EXPECT_INT_EQ(fixture_try_open(&f, "", &conn, &diag), KUMO_DRIVER_INTERNAL);
    KUMO_EXPECT_CONTAINS(diag.message, "is damaged at line 4");
    fixture_unload(&f);
}

/* Subnets go through the kit's checks: each refusal names the subnet. */
KUMO_TEST(example_bad_subnets)
{
    struct fixture f;
    struct kumo_driver_diag diag;
    fixture_load_driver(&f, "example");
    struct kumo_driver_conn *conn = fixture_open(&f, "");
    struct {
        struct kumo_driver_subnet subnets[2];
        size_t count;
        const char *message;
    } cases[] = {
        {{{"a", "10.9.0.0/24", NULL, NULL}}, 1, "subnet a: CIDR '10.9.0.0/24' is not a /16"},
        {{{"a", "10.8.0.0/30", NULL, NULL}}, 1, "is not a /16 to /28 range"},
        {{{"", "10.8.0.0/24", NULL, NULL}}, 1, "subnet 0: a name of 1 to 64 characters"},
        {{{"a", "10.8.0.0/24", NULL, NULL}, {"a", "10.8.1.0/24", NULL, NULL}},
         2,
         "subnet name 'a' is given twice"},
        {{{"a", "10.8.0.0/23", NULL, NULL}, {"b", "10.8.1.0/24", NULL, NULL}},
         2,
         "subnet b (10.8.1.0/24) overlaps subnet a (10.8.0.0/23)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kumo_driver_network_spec ns = {.struct_size = sizeof(ns),
                                              .name = "bad",
                                              .cidr = "10.8.0.0/16",
                                              .subnets = cases[i].subnets,
                                              .subnet_count = cases[i].count};
        struct kumo_driver_network *n = NULL;
        memset(&diag, 0, sizeof(diag));
        KUMO_EXPECT_INT_EQ(
            f.drv->network_create(conn, &ns, "tok-bad-net", deadline_in(f.host, 10), &n, &diag),
            KUMO_DRIVER_INVALID);
        KUMO_EXPECT(n == NULL);
        KUMO_EXPECT_CONTAINS(diag.message, cases[i].message);
    }
    struct kumo_driver_network_list *list = NULL;
    KUMO_REQUIRE_INT_EQ(f.drv->network_list(conn, NULL, deadline_in(f.host, 10), &list, &diag),
                        KUMO_DRIVER_OK);
    KUMO_EXPECT_INT_EQ(list->count, 0);
    kumo_driver_free(f.host, list);
    f.drv->close(conn);
    fixture_unload(&f);
}
