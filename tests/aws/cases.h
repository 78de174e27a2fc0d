/* Cases of test_aws: SigV4 against botocore, and the aws driver against a real moto server
 * (signature checking on), through the fault proxy where faults are needed, including the
 * driver contract suite (three cases, one moto each). kumod end to end: e2e.aws_*. */
KUMO_TEST_CASE(sigv4_matches_botocore)
KUMO_TEST_CASE(sigv4_depends_on_every_input)
KUMO_TEST_CASE(moto_signed_calls_and_wrong_secret)
KUMO_TEST_CASE(moto_faults_map_to_driver_codes)
KUMO_TEST_CASE(moto_lost_run_reply_no_duplicate)
KUMO_TEST_CASE(moto_concurrent_lookups_share_calls)
KUMO_TEST_CASE(moto_public_network)
KUMO_TEST_CASE(contract_resources)
KUMO_TEST_CASE(contract_machines)
KUMO_TEST_CASE(contract_catalog_and_bad_input)
KUMO_TEST_CASE(contract_load_balancer)
KUMO_TEST_CASE(moto_agent_bootstrap_in_user_data)
KUMO_TEST_CASE(moto_root_device_from_image)
KUMO_TEST_CASE(moto_load_balancer_lost_reply_and_cli)
