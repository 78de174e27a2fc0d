#!/usr/bin/env bash
# hack/bench/metrics.sh - kumod ingesting a fleet's agent metrics, and /metrics for all of it.
#
# Builds kumod (Release, no sanitizers) and the load generator (hack/bench/metrics/bench.c),
# starts nats-server and kumod (every controller, so its agent bus runs, with one bench-only
# agent-bus user that may publish metric reports for any machine), then:
#   1. --machines simulated agents (default 10,000) publish a 46-sample AgentMetricsReport
#      each every --interval seconds (default 10); after one interval of warm-up, kumod's CPU
#      time over --seconds (default 30) gives the samples ingested per core-second, and its RSS
#      growth the bytes per machine;
#   2. with the fleet still reporting, /metrics is scraped 3 times (median time and size);
#   3. the peer: a real Prometheus scrapes that /metrics every interval for 3 intervals; its
#      own CPU time and samples appended give Prometheus's samples ingested per core-second.
# Ends with
#   BENCH metrics samples_per_core_s=N scrape_s=S bytes_per_machine=N prometheus_samples_per_core_s=N ratio=R
# (ratio = kumod's samples per core-second / Prometheus's). Goals: samples_per_core_s >= 100000,
# scrape_s < 1. Exits 0 when it ran, whatever the figures.
#
#   hack/bench/metrics.sh [--machines N] [--interval S] [--seconds S]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"
machines=10000 interval=10 seconds=30
bench_options "usage: hack/bench/metrics.sh [--machines N] [--interval S] [--seconds S]" \
  machines interval seconds -- "$@"
bench_build metrics "kumod and the load generator" kumod bench-metrics
bench_work_init metrics
bench_nats_start

metrics_port=$(bench_free_port)
agent_port=$(bench_free_port)
bench_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
KUMO_AGENT_BUS_BENCH_USER="bench:$bench_password" bench_kumod_start \
  --metrics-listen "127.0.0.1:$metrics_port" --agent-listen "127.0.0.1:$agent_port"
echo "kumod pid $kumod_pid, /metrics on 127.0.0.1:$metrics_port, agent bus :$agent_port," \
  "$machines machines every ${interval}s, $(nproc) CPUs" >&2

# 1. ingestion
"$build/bin/bench-metrics" --nats "nats://127.0.0.1:$agent_port" --user bench \
  --password "$bench_password" --kumod-pid "$kumod_pid" --machines "$machines" \
  --interval "$interval" --seconds "$seconds" --hold >"$work/gen.out" &
gen_pid=$!
bench_stop_on_exit "$gen_pid"
for _ in $(seq 1 $(( (interval + ${seconds%.*} + 60) * 10 ))); do
  grep -q samples_per_core_s "$work/gen.out" && break
  sleep 0.1
done
line=$(cat "$work/gen.out")
echo "ingest: $line" >&2
val() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
samples_per_core_s=$(val samples_per_core_s)
rss_before=$(val rss_kib_before)
rss_after=$(val rss_kib_after)
bytes_per_machine=$(( (rss_after - rss_before) * 1024 / machines ))

# 2. scrape of the whole fleet (it keeps reporting meanwhile)
times=()
for _ in 1 2 3; do
  out=$(curl -s -o "$work/scrape.txt" -w '%{time_total} %{size_download}' \
    "http://127.0.0.1:$metrics_port/metrics")
  times+=("${out% *}")
  size=${out#* }
done
scrape_s=$(printf '%s\n' "${times[@]}" | bench_median)
fleet=$(grep -c '^kumo_machine_up{' "$work/scrape.txt" || true)
echo "scrape: ${times[*]} s (median $scrape_s), $size bytes, $fleet machines," \
  "$(wc -l <"$work/scrape.txt") lines" >&2

# 3. the peer: Prometheus ingesting the same fleet from that /metrics
prom_samples_per_core_s=0
ratio=0
if command -v prometheus >/dev/null; then
  prom_port=$(bench_free_port)
  mkdir -p "$work/prometheus"
  cat >"$work/prometheus/prometheus.yml" <<EOF
global:
  scrape_interval: ${interval}s
  scrape_timeout: ${interval}s
scrape_configs:
  - job_name: kumod
    static_configs:
      - targets: ['127.0.0.1:$metrics_port']
EOF
  prometheus --config.file="$work/prometheus/prometheus.yml" \
    --storage.tsdb.path="$work/prometheus/data" --web.listen-address="127.0.0.1:$prom_port" \
    --log.level=warn >"$work/prometheus.log" 2>&1 &
  bench_stop_on_exit $!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && break
    sleep 0.1
  done
  prom_stat() {
    curl -s "http://127.0.0.1:$prom_port/metrics" |
      awk '/^process_cpu_seconds_total /{c=$2} /^prometheus_tsdb_head_samples_appended_total/{s+=$2} END{print c, s}'
  }
  sleep "$interval"
  read -r c0 s0 < <(prom_stat)
  sleep $(( 3 * interval ))
  read -r c1 s1 < <(prom_stat)
  prom_samples_per_core_s=$(awk -v c0="$c0" -v c1="$c1" -v s0="$s0" -v s1="$s1" \
    'BEGIN{d=c1-c0; printf "%.0f", (d>0 ? (s1-s0)/d : 0)}')
  echo "prometheus: $(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.0f", b-a}') samples appended," \
    "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}') CPU s" >&2
  ratio=$(awk -v a="$samples_per_core_s" -v b="$prom_samples_per_core_s" \
    'BEGIN{printf "%.2f", (b>0 ? a/b : 0)}')
fi

echo "BENCH metrics samples_per_core_s=$samples_per_core_s scrape_s=$scrape_s" \
  "bytes_per_machine=$bytes_per_machine prometheus_samples_per_core_s=$prom_samples_per_core_s" \
  "ratio=$ratio"
