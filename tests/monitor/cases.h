/* Cases of test_monitor: kumod's /metrics, the fleet's agent metrics, latency and top. */
KUMO_TEST_CASE(kumod_metrics_scraped)
KUMO_TEST_CASE(rules_check)
KUMO_TEST_CASE(reports_checked_and_dropped)
KUMO_TEST_CASE(fleet_on_local_machines)
