#!/usr/bin/env bash
# hack/bench/converge.sh - how fast kumo turns desired Machines into running VMs.
#
# Builds kumod, the sim driver and the bench client (Release, no sanitizers)
# in their own build dir, starts nats-server (JetStream, random port) and
# kumod --nats with every controller on temporary directories, and runs
# hack/bench/converge/bench.c: 20 sim Connections (each its own account:
# API latency 50 +- 20 ms, boot 2 s, 50 QPS limit in the sim and the same
# rateLimit on the Connection), one Infra of 20 groups x 500 = 10,000
# Machines, timed until every Machine is Running.
#
# Prints the time against the lower bound the limits imply
#   LB = 2 calls (create + the observe that sees Running) x 500 machines / 50 QPS
#        + 2 s boot + 50 ms latency = 22.05 s
# the cloud calls made, kumod's RSS growth per managed object and CPU per
# reconcile, and ends with
#   BENCH converge machines=10000 connections=20 time_s=T lower_bound_s=LB ratio=T/LB
#         bytes_per_object=B cpu_us_per_reconcile=C ...
# Goals: ratio <= 1.2, bytes_per_object <= 4096. (For scale: Crossplane's
# default is 10 reconciles/s.) Exits 0 when it ran, whatever the figures.
#
#   hack/bench/converge.sh [--machines N] [--connections N] [--qps Q] [--burst B]
#                          [--max-in-flight F] [--latency-ms L] [--jitter-ms J] [--boot-s S]
#   KUMO_BENCH_BUILD_DIR=...   (default: build/bench-converge)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${KUMO_BENCH_BUILD_DIR:-$root/build/bench-converge}

echo "building kumod and the sim driver (Release) in $build ..." >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKUMO_SANITIZE=OFF -DKUMO_TESTS=OFF \
  >/dev/null
cmake --build "$build" -j"$(nproc)" --target kumod kumo-driver-sim >/dev/null
cc -O2 -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
  "$root/hack/bench/converge/bench.c" -o "$build/bin/bench-converge" \
  $(pkg-config --cflags --libs libnats) -lpthread

work=$(mktemp -d "${TMPDIR:-/tmp}/kumo-bench-converge-XXXXXX")
nats_pid=""
kumod_pid=""
cleanup() {
  [ -n "$kumod_pid" ] && kill "$kumod_pid" 2>/dev/null && wait "$kumod_pid" 2>/dev/null || true
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/nats" "$work/ports" "$work/kumod" "$work/sim"
printf 'max_payload: 8388608\n' >"$work/nats.conf"
nats-server -c "$work/nats.conf" -a 127.0.0.1 -p -1 -js -sd "$work/nats" \
  --ports_file_dir "$work/ports" >"$work/nats.log" 2>&1 &
nats_pid=$!
url=""
for _ in $(seq 1 200); do
  ports=$(cat "$work"/ports/*.ports 2>/dev/null || true)
  url=$(printf '%s' "$ports" | grep -o 'nats://[0-9.]*:[0-9]*' | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.05
done
if [ -z "$url" ]; then
  echo "nats-server did not start; its log:" >&2
  cat "$work/nats.log" >&2
  exit 1
fi

# Drift polls every 10 minutes: converged machines are not polled during the run.
"$build/bin/kumod" --nats "$url" --data-dir "$work/kumod" --log-level warn \
  --drift-poll-seconds 600 >"$work/kumod.log" 2>&1 &
kumod_pid=$!
for _ in $(seq 1 200); do
  grep -q "kumod ready" "$work/kumod.log" && break
  sleep 0.05
done
if ! grep -q "kumod ready" "$work/kumod.log"; then
  echo "kumod did not start; its log:" >&2
  cat "$work/kumod.log" >&2
  exit 1
fi

echo "nats-server $url, kumod pid $kumod_pid, $(nproc) CPUs" >&2
"$build/bin/bench-converge" --nats "$url" --state-dir "$work/sim" --kumod-pid "$kumod_pid" "$@"
if grep -q " WARN \| ERROR " "$work/kumod.log"; then
  echo "kumod warnings (first 20):" >&2
  grep " WARN \| ERROR " "$work/kumod.log" | head -20 >&2
fi
