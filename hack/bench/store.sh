#!/usr/bin/env bash
# Benchmarks kumo's store against etcd, in the same run and on the same disk.
#
#   hack/bench/store.sh [--seconds S] [--rounds R] [--objects N] [--help]
#
# Builds kumo_store in release mode (no sanitizers) in its own build folder,
# starts etcd (Debian's etcd-server) on free loopback ports with its data in
# a temporary folder next to kumo's, and runs hack/bench/store/store_bench.c:
# durable 1 KiB writes at 1, 16 and 64 writers against both (etcd through its
# v3 JSON gateway with libcurl), S seconds each, kumo and etcd alternating for
# R rounds (figures are the medians), then 1,000,000 objects loaded into kumo,
# a list of 100,000 (median of 5) and 100,000 random gets. Ends with one
# `BENCH store ...` line. Exits 0 when it ran, whatever the figures.
# Environment:
#   KUMO_BENCH_DIR    where the temporary data goes (default: $TMPDIR or /tmp)
#   KUMO_BENCH_BUILD  build folder (default: build/bench-store)
set -euo pipefail

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

seconds=3
rounds=3
objects=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --objects) objects=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "store.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${KUMO_BENCH_BUILD:-$root/build/bench-store}
base=${KUMO_BENCH_DIR:-${TMPDIR:-/tmp}}

for tool in etcd cmake cc pkg-config python3 curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "store.sh: $tool is not installed (etcd: apt-get install etcd-server)" >&2
    exit 1
  fi
done

work=$(mktemp -d "$base/kumo-bench-store.XXXXXX")
etcd_pid=""
cleanup() {
  if [ -n "$etcd_pid" ] && kill -0 "$etcd_pid" 2>/dev/null; then
    kill "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== build (release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKUMO_SANITIZE=OFF -DKUMO_TESTS=OFF \
  >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$build" --target kumo_store -j"$(nproc)" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra \
  -I"$root" -I"$build/gen" "$root/hack/bench/store/store_bench.c" -o "$work/store_bench" \
  -L"$build/lib" -lkumo_store -lkumo_object -lkumo_codec -lkumo_proto -lkumo_log -lkumo_error \
  $(pkg-config --libs lmdb libcrypto libprotobuf-c libcurl yaml-0.1) -lpthread -lm

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
client_port=$(free_port)
peer_port=$(free_port)
while [ "$peer_port" = "$client_port" ]; do peer_port=$(free_port); done

echo "== etcd $(etcd --version | head -1 | awk '{print $3}') on 127.0.0.1:$client_port, data in $work/etcd"
etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$client_port" \
  --advertise-client-urls "http://127.0.0.1:$client_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "bench=http://127.0.0.1:$peer_port" \
  --quota-backend-bytes $((8 * 1024 * 1024 * 1024)) \
  >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$client_port/health" 2>/dev/null | grep -q '"health":"true"'; then
    break
  fi
  if ! kill -0 "$etcd_pid" 2>/dev/null; then
    echo "store.sh: etcd exited; its log:" >&2
    tail -20 "$work/etcd.log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$client_port/health" >/dev/null ||
  { echo "store.sh: etcd did not become healthy" >&2; exit 1; }

echo "== disk: $(df -h "$work" | awk 'NR==2 {print $1, $6}') (kumo and etcd both under $work)"
mkdir -p "$work/kumo"
"$work/store_bench" --dir "$work/kumo" --etcd "http://127.0.0.1:$client_port" \
  --seconds "$seconds" --rounds "$rounds" --objects "$objects"
