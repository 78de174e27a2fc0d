#!/usr/bin/env bash
# Benchmarks kumo's store against etcd, in the same run and on the same disk.
#
#   hack/bench/store.sh [--seconds S] [--rounds R] [--objects N] [--help]
#
# Builds the store and the bench client in release mode (no sanitizers) in its own build folder,
# starts etcd (Debian's etcd-server) on free loopback ports with its data in
# a temporary folder next to kumo's, and runs hack/bench/store/store_bench.c:
# durable 1 KiB writes at 1, 16 and 64 writers against both (etcd through its
# v3 JSON gateway with libcurl), S seconds each, kumo and etcd alternating for
# R rounds (figures are the medians), then 1,000,000 objects loaded into kumo,
# a list of 100,000 (median of 5) and 100,000 random gets. Ends with one
# `BENCH store ...` line. Exits 0 when it ran, whatever the figures.
# Environment:
#   KUMO_BENCH_DIR        where the temporary data goes (default: $TMPDIR or /tmp)
#   KUMO_BENCH_BUILD_DIR  build folder (default: build/bench-store)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"

seconds=3
rounds=3
objects=1000000
bench_options "$(sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//')" seconds rounds objects -- "$@"

for tool in etcd cmake cc pkg-config python3 curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "store.sh: $tool is not installed (etcd: apt-get install etcd-server)" >&2
    exit 1
  fi
done

bench_build store "the store and the bench client" bench-store
bench_work_init store

client_port=$(bench_free_port)
peer_port=$(bench_free_port)
while [ "$peer_port" = "$client_port" ]; do peer_port=$(bench_free_port); done

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
bench_stop_on_exit "$etcd_pid"
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
"$build/bin/bench-store" --dir "$work/kumo" --etcd "http://127.0.0.1:$client_port" \
  --seconds "$seconds" --rounds "$rounds" --objects "$objects"
