# Helpers shared by every module's CMakeLists.txt.

# kumo_test_module(MODULE SOURCES a.c b.c LIBS lib...)
#   Builds bin/test_MODULE from the sources and the harness (tests/harness: main.c, compiled
#   per module for its cases, and the kumo_test_harness library), and registers one
#   ctest case MODULE.NAME per KUMO_TEST_CASE(NAME) line in tests/MODULE/cases.h.
function(kumo_test_module module)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  set(cases_file ${CMAKE_SOURCE_DIR}/tests/${module}/cases.h)
  set(target test_${module})
  add_executable(${target} ${CMAKE_SOURCE_DIR}/tests/harness/main.c ${T_SOURCES})
  target_compile_definitions(${target} PRIVATE KUMO_TEST_CASES="${cases_file}")
  target_link_libraries(${target} PRIVATE ${T_LIBS} kumo_test_harness Threads::Threads)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${cases_file})
  file(STRINGS ${cases_file} lines REGEX "^KUMO_TEST_CASE\\(")
  foreach(line ${lines})
    string(REGEX REPLACE "^KUMO_TEST_CASE\\(([A-Za-z0-9_]+)\\).*" "\\1" name "${line}")
    add_test(NAME ${module}.${name} COMMAND ${target} ${name})
    set_tests_properties(${module}.${name} PROPERTIES
      SKIP_RETURN_CODE 77
      LABELS "${module};${T_LABELS}"
      ENVIRONMENT "KUMO_SOURCE_DIR=${CMAKE_SOURCE_DIR};KUMO_BUILD_DIR=${CMAKE_BINARY_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endforeach()
endfunction()
