#!/usr/bin/env bash
# hack/bench/api.sh - the API over NATS, measured against its floor.
#
# Builds kumod (Release, no sanitizers) and the bench client in its own build
# dir, starts nats-server (JetStream, random port, max_payload 8 MiB) and
# kumod --nats on temporary directories, and runs hack/bench/api/bench.c:
#   - a bare NATS request-reply echo with the same payload (the floor) and
#     one 4 KiB fdatasync on the same disk,
#   - apply round trip p50/p99 with 1 client, applies/s with 64 clients,
#   - commit-to-watcher event latency p99 at 10,000 applies/s.
# Prints the figures and ends with
#   BENCH api ratio=<apply p50/(echo p50 + fsync)> applies_per_s=<n> event_p99_ms=<ms>
# Goals: ratio <= 2, applies_per_s >= 50000, event_p99_ms <= 2.
# Exits 0 when it ran, whatever the figures.
#
#   hack/bench/api.sh [--seconds S] [--clients N] [--event-rate R]
#   KUMO_BENCH_BUILD_DIR=... KUMOD_WORKERS=... (defaults: build/bench-api, kumod's default)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${KUMO_BENCH_BUILD_DIR:-$root/build/bench-api}

echo "building kumod (Release) in $build ..." >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKUMO_SANITIZE=OFF -DKUMO_TESTS=OFF \
  >/dev/null
cmake --build "$build" -j"$(nproc)" --target kumod >/dev/null
cc -O2 -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
  "$root/hack/bench/api/bench.c" -o "$build/bin/bench-api" \
  $(pkg-config --cflags --libs libnats) -lpthread

work=$(mktemp -d "${TMPDIR:-/tmp}/kumo-bench-api-XXXXXX")
nats_pid=""
kumod_pid=""
cleanup() {
  [ -n "$kumod_pid" ] && kill "$kumod_pid" 2>/dev/null && wait "$kumod_pid" 2>/dev/null || true
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/nats" "$work/ports" "$work/kumod"
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

workers=()
[ -n "${KUMOD_WORKERS:-}" ] && workers=(--workers "$KUMOD_WORKERS")
"$build/bin/kumod" --nats "$url" --data-dir "$work/kumod" --log-level warn "${workers[@]}" \
  >"$work/kumod.log" 2>&1 &
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

echo "nats-server $url, kumod pid $kumod_pid, data in $work/kumod, $(nproc) CPUs" >&2
"$build/bin/bench-api" --nats "$url" --dir "$work/kumod" "$@"
