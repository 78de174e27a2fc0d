/* Cases of test_metrics: the registry and the Prometheus text writer. */
KUMO_TEST_CASE(counter_labels)
KUMO_TEST_CASE(histogram_buckets)
KUMO_TEST_CASE(overflow_bounded)
KUMO_TEST_CASE(escaping)
KUMO_TEST_CASE(threads_add)
