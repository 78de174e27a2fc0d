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
. "$root/hack/bench/lib.sh"
bench_build api "kumod and the bench client" kumod bench-api
bench_work_init api
bench_nats_start

workers=()
[ -n "${KUMOD_WORKERS:-}" ] && workers=(--workers "$KUMOD_WORKERS")
bench_kumod_start "${workers[@]}"

echo "nats-server $url, kumod pid $kumod_pid, data in $work/kumod, $(nproc) CPUs" >&2
"$build/bin/bench-api" --nats "$url" --dir "$work/kumod" "$@"
