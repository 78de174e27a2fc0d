#!/usr/bin/env bash
# Installs what is missing, builds kumo with ASan+UBSan, runs every test
# through ctest (and a short smoke run of each fuzzer), and exits non-zero on
# any failure.
#   hack/test.sh            everything
#   hack/test.sh -R codec.  only the matching ctest cases (args go to ctest)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hack/deps.sh

build=${KUMO_TEST_BUILD_DIR:-$root/build/test}
jobs=$(nproc)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DKUMO_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
# Formatting is part of the build: a diff from .clang-format fails the run.
unformatted=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true)
if [ "$unformatted" != "0" ]; then
  echo "clang-format: $unformatted formatting differences; run: git ls-files '*.c' '*.h' | xargs clang-format -i" >&2
  status=1
fi
(cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 900 "$@") || status=1

# Fuzzers: a short smoke run of each (longer: FUZZ_RUNS=1000000 tests/fuzz/smoke.sh DIR).
if [ $# -eq 0 ] && [ -x tests/fuzz/smoke.sh ] && command -v clang >/dev/null; then
  fuzz_build=$root/build/fuzz
  CC=clang cmake -S . -B "$fuzz_build" -DCMAKE_BUILD_TYPE=Debug -DKUMO_SANITIZE=ON -DKUMO_FUZZ=ON \
    >/dev/null
  cmake --build "$fuzz_build" -j"$jobs" --target fuzz_json fuzz_yaml fuzz_protobuf fuzz_seed >/dev/null
  tests/fuzz/smoke.sh "$fuzz_build" || status=1
fi
exit $status
