#!/usr/bin/env bash
# hack/bench/app.sh - how fast kumo puts an App on fresh local machines (root).
#
# Builds kumod, kumoctl, kumo-agent and the local driver (Release, no
# sanitizers) in their own build dir, starts nats-server and kumod --nats with
# every controller, and applies two local Connections, an Infra of N machines
# (default 20) spread over both, and one App (a Python HTTP server with an
# HTTP health check). Timed from `kumoctl apply` until the App is Ready with
# every instance healthy.
#
# The peer, measured in the same run: the same N machines made by hand by a
# shell loop (ip netns + veth + bridge + address, the same HTTP server started
# inside, polled with curl until it answers), one after the other, as an
# operator's script would; nothing is supervised, nothing is recorded.
#
# Prints when every Machine was Running (the local driver's create latency,
# 20 at once), the kumo-agents' resident memory once serving (median and
# max VmRSS; the agent drops its start-up library pages, docs/agent.md) and
# their start-up peak (median VmHWM), and ends with
#   BENCH app machines=N seconds=T shell_seconds=S ratio=T/S machines_ready_s=M
#         agent_peak_rss_kib=P agent_rss_kib=R agent_rss_kib_max=X
# Goals: seconds < 10 for 20 machines, agent_rss_kib <= 5120. Exits 0 when it
# ran, whatever the figures; 2 when not root.
#
#   hack/bench/app.sh [--machines N]
#   KUMO_BENCH_BUILD_DIR=...   (default: build/bench-app)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"
machines=20
bench_options "usage: hack/bench/app.sh [--machines N]" machines -- "$@"
bench_local_build app
bench_work_init app
bench_local_names kb
peer_bridge="kbp$(($$ % 100000))"
# The Infra gives each Connection of this run the network 10.N.0.0/16 (N from the name).
networks="$(bench_network_of "$east") $(bench_network_of "$west")"
peer_cleanup() {
  for i in $(seq 0 $((machines - 1))); do
    ip netns pids "${prefix}p$i" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "${prefix}p$i" 2>/dev/null || true
  done
  ip link del "$peer_bridge" 2>/dev/null || true
}
cleanup_all() {
  if [ -n "${kumod_pid:-}" ] && kill -0 "$kumod_pid" 2>/dev/null; then
    "$build/bin/kumoctl" delete app hello --timeout 60s >/dev/null 2>&1 || true
    "$build/bin/kumoctl" delete infra bench --timeout 60s >/dev/null 2>&1 || true
    # The Infra's Machines and Networks go in the background: wait for them.
    for _ in $(seq 1 300); do
      "$build/bin/kumoctl" get machines,networks 2>&1 | grep -q "No resources found" && break
      sleep 0.2
    done
    "$build/bin/kumoctl" delete connection "$east" "$west" --timeout 60s >/dev/null 2>&1 || true
  fi
  peer_cleanup
  bench_host_sweep "$prefix" $networks
  bench_cleanup
}
trap cleanup_all EXIT INT TERM

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# ---- kumo ------------------------------------------------------------------------------
bench_nats_start
bench_kumod_start --drift-poll-seconds 30
export KUMO_NATS_URL=$url
ctl() { "$build/bin/kumoctl" "$@"; }

{
  bench_local_connections
  cat <<EOF
apiVersion: kumo.dev/v1alpha1
kind: Infra
metadata: {name: bench, namespace: default}
spec:
  groups:
    - name: web
      size: $machines
      image: debian-12
      placement: {vcpuMin: 1, spreadConnections: 2}
      securityRules:
        - {direction: Inbound, protocol: TCP, fromPort: $port, toPort: $port, cidr: 0.0.0.0/0}
---
apiVersion: kumo.dev/v1alpha1
kind: App
metadata: {name: hello, namespace: default}
spec:
  infraRef: {name: bench}
  target: {group: web}
  components:
    - name: web
      command: [python3, -m, http.server, "$port"]
      healthCheck: {type: HTTP, port: $port, path: /}
EOF
} >"$work/app.yaml"

echo "kumo: $machines machines over 2 local connections + 1 App ..." >&2
t0=$(now)
ctl apply -f "$work/app.yaml" >/dev/null
ctl wait infra bench --for=condition=Ready --timeout=300s >/dev/null
tm=$(now)
ctl wait app hello --for=condition=Ready --timeout=300s >/dev/null
t1=$(now)
machines_seconds=$(elapsed "$t0" "$tm")
seconds=$(elapsed "$t0" "$t1")
ctl get app hello -o json >"$work/app.json"
for a in $(ctl get app hello -o json | python3 -c '
import json, sys
for i in json.load(sys.stdin)["status"]["instances"]: print(i["address"])'); do
  curl -fsS -m 2 "http://$a:$port/" >/dev/null || echo "instance $a does not answer" >&2
done
rss=()
hwm=()
for p in $(pgrep -x kumo-agent); do
  if grep -q "$work" "/proc/$p/environ" 2>/dev/null; then
    rss+=("$(awk '/^VmRSS/ {print $2}' "/proc/$p/status")")
    hwm+=("$(awk '/^VmHWM/ {print $2}' "/proc/$p/status")")
  fi
done
rss_med=$(printf '%s\n' "${rss[@]}" | bench_median)
rss_max=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)
hwm_med=$(printf '%s\n' "${hwm[@]}" | bench_median)
echo "kumo: App Ready on $machines machines in ${seconds}s; agents ${#rss[@]}, RSS median ${rss_med} KiB" >&2

# ---- the peer: a shell loop doing the same by hand ---------------------------------------
echo "peer: the same $machines machines and servers by a shell loop ..." >&2
t0=$(now)
ip link add "$peer_bridge" type bridge
ip addr add "10.254.$net.1/24" dev "$peer_bridge"
ip link set "$peer_bridge" up
for i in $(seq 0 $((machines - 1))); do
  ns="${prefix}p$i"
  addr="10.254.$net.$((i + 10))"
  ip netns add "$ns"
  ip link add "${prefix}v$i" type veth peer name eth0 netns "$ns"
  ip link set "${prefix}v$i" master "$peer_bridge" up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  (ip netns exec "$ns" setsid python3 -m http.server "$port" >/dev/null 2>&1 </dev/null &)
  until curl -fsS -m 1 "http://$addr:$port/" >/dev/null 2>&1; do sleep 0.05; done
done
t1=$(now)
shell_seconds=$(elapsed "$t0" "$t1")
echo "peer: $machines servers answering in ${shell_seconds}s" >&2
peer_cleanup

ratio=$(python3 -c "print(f'{$seconds / $shell_seconds:.2f}')")
echo "BENCH app machines=$machines seconds=$seconds shell_seconds=$shell_seconds ratio=$ratio" \
  "machines_ready_s=$machines_seconds agent_peak_rss_kib=$hwm_med agent_rss_kib=$rss_med" \
  "agent_rss_kib_max=$rss_max"
