/* Cases of test_controllers: the controller runtime. */
KUMO_TEST_CASE(queue_dedup)
KUMO_TEST_CASE(queue_readd_while_processing)
KUMO_TEST_CASE(queue_never_two_workers)
KUMO_TEST_CASE(queue_add_after)
KUMO_TEST_CASE(queue_backoff_exponential)
KUMO_TEST_CASE(queue_token_bucket)
KUMO_TEST_CASE(queue_shutdown)
