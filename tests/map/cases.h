/* Cases of test_map: the string-keyed hash map. */
KUMO_TEST_CASE(put_get_remove)
KUMO_TEST_CASE(many_keys_grow)
KUMO_TEST_CASE(each_visits_all)
