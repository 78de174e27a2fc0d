/* Cases of test_error: errors, diag and the logger. */
KUMO_TEST_CASE(table_names_texts)
KUMO_TEST_CASE(reason_roundtrip)
KUMO_TEST_CASE(diag_causes_format)
KUMO_TEST_CASE(diag_copy)
KUMO_TEST_CASE(log_line_format)
KUMO_TEST_CASE(log_level_filter)
