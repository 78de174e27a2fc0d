/* Cases of test_bus: the protocol vocabulary and the nats-server child. */
KUMO_TEST_CASE(protocol_api_subjects)
KUMO_TEST_CASE(protocol_bad_subjects)
KUMO_TEST_CASE(protocol_object_subjects)
KUMO_TEST_CASE(protocol_content_types)
KUMO_TEST_CASE(protocol_status_roundtrip)
KUMO_TEST_CASE(natsd_start_publish_kill_restart)
KUMO_TEST_CASE(natsd_missing_binary)
