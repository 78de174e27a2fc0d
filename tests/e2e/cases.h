/* Cases of test_e2e: kumod, nats-server and the sim driver as real processes. */
KUMO_TEST_CASE(three_groups_converge_scale_delete)
KUMO_TEST_CASE(capacity_failover)
KUMO_TEST_CASE(drift_repair)
KUMO_TEST_CASE(crash_rollout_500)
KUMO_TEST_CASE(app_on_local_machines)
KUMO_TEST_CASE(lb_local_policies)
KUMO_TEST_CASE(lb_local_changes)
KUMO_TEST_CASE(lb_local_bad_input)
