#!/bin/sh
# smoke.sh - short runs of the codec fuzzers, for hack/test.sh.
#
#   tests/fuzz/smoke.sh BUILD_DIR
#
# BUILD_DIR must be configured with CC=clang -DKUMO_FUZZ=ON (and, usefully,
# -DKUMO_SANITIZE=ON); when it has no fuzzers the script says SKIP and exits 0.
# Each fuzzer starts from seeds made from examples/ and runs FUZZ_RUNS inputs
# (default 50000) or FUZZ_SECONDS (default 20), whichever ends first. Exit
# status is non-zero when a fuzzer finds a crash, a leak or a broken
# round-trip property; the input that did it is kept and named.
set -eu

if [ $# -ne 1 ] || [ "$1" = "--help" ]; then
    echo "usage: $0 BUILD_DIR   (FUZZ_RUNS=N, FUZZ_SECONDS=S to change the budget)" >&2
    exit 2
fi
build=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${FUZZ_RUNS:-50000}
seconds=${FUZZ_SECONDS:-20}

for f in fuzz_json fuzz_yaml fuzz_protobuf fuzz_seed; do
    if [ ! -x "$build/bin/$f" ]; then
        echo "SKIP fuzz smoke: $build/bin/$f not built (configure with CC=clang -DKUMO_FUZZ=ON)"
        exit 0
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kumo-fuzz-XXXXXX")
mkdir -p "$work/seeds/json" "$work/seeds/yaml" "$work/seeds/protobuf" "$work/artifacts"
"$build/bin/fuzz_seed" "$repo/examples" "$work/seeds" >/dev/null

status=0
for kind in json yaml protobuf; do
    mkdir -p "$work/corpus/$kind"
    log="$work/fuzz_$kind.log"
    if "$build/bin/fuzz_$kind" -runs="$runs" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        -max_len=65536 -artifact_prefix="$work/artifacts/$kind-" \
        "$work/corpus/$kind" "$work/seeds/$kind" >"$log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
        [ -n "$execs" ] || execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
        echo "ok   fuzz_$kind ($execs runs)"
    else
        echo "FAIL fuzz_$kind: see $log; inputs kept in $work/artifacts" >&2
        tail -40 "$log" >&2
        status=1
    fi
done
if [ $status -eq 0 ]; then
    rm -rf "$work"
fi
exit $status
