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
# and, for fairness, small_alone_s / small_behind_s / small_ratio: a 2-machine Infra on a
# Connection of its own, made once alone and once 3 s after the big Infra (while its
# machines fill kumod's queues).
# Goals: ratio <= 1.2, bytes_per_object <= 4096. (For scale: Crossplane's
# default is 10 reconciles/s.) Exits 0 when it ran, whatever the figures.
#
#   hack/bench/converge.sh [--machines N] [--connections N] [--qps Q] [--burst B]
#                          [--max-in-flight F] [--latency-ms L] [--jitter-ms J] [--boot-s S]
#   KUMO_BENCH_BUILD_DIR=...   (default: build/bench-converge)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"
bench_build converge "kumod, the sim driver and the bench client" \
  kumod kumo-driver-sim bench-converge
bench_work_init converge

mkdir -p "$work/sim"
bench_nats_start

# Drift polls every 10 minutes: converged machines are not polled during the run.
bench_kumod_start --drift-poll-seconds 600

echo "nats-server $url, kumod pid $kumod_pid, $(nproc) CPUs" >&2
"$build/bin/bench-converge" --nats "$url" --state-dir "$work/sim" --kumod-pid "$kumod_pid" "$@"
if grep -q " WARN \| ERROR " "$work/kumod.log"; then
  echo "kumod warnings (first 20):" >&2
  grep " WARN \| ERROR " "$work/kumod.log" | head -20 >&2
fi
