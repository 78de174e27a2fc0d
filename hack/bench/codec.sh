#!/usr/bin/env bash
# codec.sh - benchmark kumo's JSON codec against jansson (see codec_bench.c).
#
#   hack/bench/codec.sh [BUILD_DIR]
#
# Builds the codec, the generated schema code and codec_bench.c (the CMake
# target bench-codec, Release, no sanitizers) in BUILD_DIR (default
# $KUMO_BENCH_BUILD_DIR or build/bench-codec), runs it, and ends with one line
#   BENCH codec bytes=N kumo_docs_per_s=N jansson_docs_per_s=N ratio=R
# Needs libjansson-dev (hack/deps.sh). Exit status 0 when the benchmark ran,
# whatever the figures.
set -euo pipefail

if [ "${1:-}" = "--help" ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"
if [ $# -gt 0 ]; then
    KUMO_BENCH_BUILD_DIR=$1
    shift
fi
bench_build codec "the codec and the bench client" bench-codec
exec "$build/bin/bench-codec" "$@"
