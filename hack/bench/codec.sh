#!/bin/sh
# codec.sh - benchmark kumo's JSON codec against jansson (see codec_bench.c).
#
#   hack/bench/codec.sh [BUILD_DIR]
#
# Builds the codec, the generated schema code and codec_bench.c with
# optimisation and without sanitizers in BUILD_DIR (default
# ${TMPDIR:-/tmp}/kumo-bench-codec), runs it, and ends with one line
#   BENCH codec bytes=N kumo_docs_per_s=N jansson_docs_per_s=N ratio=R
# It compiles the sources directly (no CMake) so that it works whatever
# state the rest of the tree is in. Needs protoc-c, a C compiler and
# pkg-config modules libprotobuf-c, yaml-0.1 and jansson. Exit status 0 when
# the benchmark ran, whatever the figures.
set -eu

if [ "${1:-}" = "--help" ]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${TMPDIR:-/tmp}/kumo-bench-codec}
[ $# -gt 0 ] && shift
cc=${CC:-cc}
gen="$build/gen"
mkdir -p "$gen"

for tool in protoc-c pkg-config "$cc"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "codec.sh: $tool not found (run hack/deps.sh)" >&2; exit 1; }
done
if ! pkg-config --exists libprotobuf-c yaml-0.1 jansson; then
    echo "codec.sh: missing pkg-config modules; need libprotobuf-c yaml-0.1 jansson (libjansson-dev)" >&2
    exit 1
fi

protoc-c -I "$repo" --c_out="$gen" "$repo"/apis/kumo/v1alpha1/*.proto
# shellcheck disable=SC2046
"$cc" -std=c11 -O3 -DNDEBUG -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -I "$repo" -I "$gen" \
    "$repo"/apis/codec/*.c "$repo"/apis/error/error.c "$gen"/apis/kumo/v1alpha1/*.pb-c.c \
    "$repo/hack/bench/codec_bench.c" \
    $(pkg-config --cflags --libs libprotobuf-c yaml-0.1 jansson) -lpthread -lm \
    -o "$build/codec_bench"
exec "$build/codec_bench" "$@"
