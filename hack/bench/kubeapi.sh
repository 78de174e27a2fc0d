#!/usr/bin/env bash
# hack/bench/kubeapi.sh - the Kubernetes-compatible HTTPS API, measured against
# the NATS API of the same kumod in the same run.
#
# Builds kumod (Release, no sanitizers) and the bench client in its own build
# dir, starts nats-server and kumod --nats --http-listen 127.0.0.1:0 (no
# controllers) on temporary directories, and runs hack/bench/kubeapi/bench.c:
#   - GET of one object, p50/p99: HTTPS with keep-alive vs NATS request-reply
#   - one list of 10,000 Machines as a meta.k8s.io Table over HTTPS
#   - commit -> watcher latency p99 over an HTTPS watch and over NATS (same commits)
#   - server-side applies/s with 32 concurrent HTTPS clients
# and ends with
#   BENCH kubeapi get_ratio=<https p50/nats p50> list10k_s=<s> watch_p99_ms=<ms> ...
#         applies_per_s=<n>
# Goals: get_ratio <= 1.5, list10k_s < 1. Exits 0 when it ran, whatever the figures.
#
#   hack/bench/kubeapi.sh [--seconds S]
#   KUMO_BENCH_BUILD_DIR=... (default build/bench-kubeapi)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"
bench_build kubeapi "kumod and the bench client" kumod bench-kubeapi
bench_work_init kubeapi
bench_nats_start
bench_kumod_start --http-listen 127.0.0.1:0 --controllers none --agent-listen none
port=$(grep -o 'Kubernetes API on port [0-9]*' "$work/kumod.log" | grep -o '[0-9]*$')
if [ -z "$port" ]; then
  echo "kumod did not serve the Kubernetes API; its log:" >&2
  cat "$work/kumod.log" >&2
  exit 1
fi
echo "nats-server $url, kumod pid $kumod_pid (HTTPS port $port), $(nproc) CPUs" >&2
"$build/bin/bench-kubeapi" --nats "$url" --https "https://127.0.0.1:$port" --dir "$work/kumod" "$@"
