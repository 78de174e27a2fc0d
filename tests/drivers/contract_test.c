/*
 * contract_test.c - runs the driver contract suite (contract.c) against the
 * sim: a quick, strongly consistent account, and an eventually consistent one
 * with API latency, plus the other providers' catalogs.
 */
#include "tests/drivers/contract.h"
#include "tests/drivers/helpers.h"
#include "tests/harness/test.h"

#include <string.h>

struct sim_contract {
    struct fixture f;
    struct kumo_driver_kv kv[12];
    struct kumo_driver_open_args args;
    struct contract_env env;
};

static void setup(struct sim_contract *s, const char *provider, const char *region,
                  const char *type, const char *extra_key, const char *extra_value)
{
    fixture_load(&s->f);
    struct kumo_driver_kv kv[] = {
        {"provider", provider},  {"region", region},       {"state", s->f.state},
        {"boot_seconds", "0.3"}, {"stop_seconds", "0.1"},  {"terminate_seconds", "0"},
        {"seed", "42"},          {extra_key, extra_value},
    };
    size_t n = sizeof(kv) / sizeof(kv[0]) - (extra_key == NULL);
    memcpy(s->kv, kv, n * sizeof(kv[0]));
    s->args = (struct kumo_driver_open_args){sizeof(s->args), "test/contract", s->kv, n, NULL, 0};
    s->env = (struct contract_env){s->f.drv, s->f.host, &s->args, type, "ubuntu-22.04", 0.3, 0, 1};
}

#define SIM_CONTRACT(check)                                                                        \
    KUMO_TEST(contract_##check)                                                                    \
    {                                                                                              \
        struct sim_contract s;                                                                     \
        setup(&s, "aws", "us-east-1", "t3.micro", NULL, NULL);                                     \
        contract_##check(&s.env);                                                                  \
        fixture_unload(&s.f);                                                                      \
    }

SIM_CONTRACT(create_idempotent)
SIM_CONTRACT(observe_after_restart)
SIM_CONTRACT(delete_idempotent)
SIM_CONTRACT(list_by_tag)
SIM_CONTRACT(deadlines)
SIM_CONTRACT(machine_boots)
SIM_CONTRACT(machine_update)
SIM_CONTRACT(dependencies)
SIM_CONTRACT(catalog)
SIM_CONTRACT(bad_input)
SIM_CONTRACT(load_balancer)

/* The same account seen through a slow, eventually consistent API. */
KUMO_TEST(contract_eventually_consistent)
{
    struct sim_contract s;
    setup(&s, "aws", "eu-west-1", "m5.large", "consistency_delay_ms", "200");
    s.kv[s.args.config_count++] = (struct kumo_driver_kv){"latency_ms", "4"};
    contract_create_idempotent(&s.env);
    contract_observe_after_restart(&s.env);
    contract_list_by_tag(&s.env);
    contract_delete_idempotent(&s.env);
    fixture_unload(&s.f);
}

KUMO_TEST(contract_other_providers)
{
    struct sim_contract s;
    setup(&s, "gcp", "asia-northeast3", "e2-micro", NULL, NULL);
    contract_catalog(&s.env);
    contract_create_idempotent(&s.env);
    fixture_unload(&s.f);
    setup(&s, "azure", "koreacentral", "Standard_B1s", NULL, NULL);
    contract_catalog(&s.env);
    contract_dependencies(&s.env);
    fixture_unload(&s.f);
}
