/* Cases of test_docs: the table of .proto comments. */
KUMO_TEST_CASE(every_kind_documented)
KUMO_TEST_CASE(fields_and_enum_values)
KUMO_TEST_CASE(every_entry_names_a_real_field)
