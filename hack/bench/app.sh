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
# Prints the median machine create latency (a Machine's creation to its
# Running/Ready), the kumo-agents' resident memory (median and max VmRSS) and
# ends with
#   BENCH app machines=N seconds=T shell_seconds=S ratio=T/S machine_ready_p50_s=M
#         agent_rss_kib=R agent_rss_kib_max=X
# Goals: seconds < 10 for 20 machines, agent_rss_kib <= 5120. Exits 0 when it
# ran, whatever the figures; 2 when not root.
#
#   hack/bench/app.sh [--machines N]
#   KUMO_BENCH_BUILD_DIR=...   (default: build/bench-app)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${KUMO_BENCH_BUILD_DIR:-$root/build/bench-app}
machines=20
while [ $# -gt 0 ]; do
  case "$1" in
  --machines) machines=$2; shift 2 ;;
  *) echo "usage: hack/bench/app.sh [--machines N]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "hack/bench/app.sh needs root: the local driver makes network namespaces" >&2
  exit 2
fi

echo "building kumod, kumoctl, kumo-agent and the local driver (Release) in $build ..." >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKUMO_SANITIZE=OFF -DKUMO_TESTS=OFF \
  >/dev/null
cmake --build "$build" -j"$(nproc)" --target kumod kumoctl kumo-agent kumo-driver-local >/dev/null

. "$root/hack/bench/lib.sh"
bench_work_init app
prefix="kb$(($$ % 100000))"
net=$((100 + $$ % 60))
port=$((21000 + $$ % 9000))
peer_bridge="kbp$(($$ % 100000))"
peer_cleanup() {
  for i in $(seq 0 $((machines - 1))); do
    ip netns pids "${prefix}p$i" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "${prefix}p$i" 2>/dev/null || true
  done
  ip link del "$peer_bridge" 2>/dev/null || true
}
cleanup_all() {
  if [ -n "${kumod_pid:-}" ] && kill -0 "$kumod_pid" 2>/dev/null; then
    "$build/bin/kumoctl" -s "$url" delete app hello --timeout 60s >/dev/null 2>&1 || true
    "$build/bin/kumoctl" -s "$url" delete infra bench --timeout 120s >/dev/null 2>&1 || true
    "$build/bin/kumoctl" -s "$url" delete connection east west --timeout 60s >/dev/null 2>&1 || true
  fi
  peer_cleanup
  bench_cleanup
}
trap cleanup_all EXIT INT TERM

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# ---- kumo ------------------------------------------------------------------------------
bench_nats_start
bench_kumod_start --drift-poll-seconds 30
ctl() { "$build/bin/kumoctl" -s "$url" "$@"; }

cat >"$work/app.yaml" <<EOF
apiVersion: kumo.dev/v1alpha1
kind: Connection
metadata: {name: east, namespace: default}
spec:
  driver: local
  region: east
  config: {name_prefix: "$prefix", state_dir: "$work/east", cidr: "10.252.$net.0/24"}
---
apiVersion: kumo.dev/v1alpha1
kind: Connection
metadata: {name: west, namespace: default}
spec:
  driver: local
  region: west
  config: {name_prefix: "$prefix", state_dir: "$work/west", cidr: "10.252.$((net + 60)).0/24"}
---
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

echo "kumo: $machines machines over 2 local connections + 1 App ..." >&2
t0=$(now)
ctl apply -f "$work/app.yaml" >/dev/null
ctl wait app hello --for=condition=Ready --timeout=300s >/dev/null
t1=$(now)
seconds=$(elapsed "$t0" "$t1")
ctl get app hello -o json >"$work/app.json"
ctl get machines -o json >"$work/machines.json"
for a in $(ctl get app hello -o json | python3 -c '
import json, sys
for i in json.load(sys.stdin)["status"]["instances"]: print(i["address"])'); do
  curl -fsS -m 2 "http://$a:$port/" >/dev/null || echo "instance $a does not answer" >&2
done
read -r ready_p50 <<<"$(python3 - "$work/machines.json" <<'PY'
import json, sys, statistics, datetime
def t(s): return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
items = json.load(open(sys.argv[1]))["items"]
lat = []
for m in items:
    for c in m.get("status", {}).get("conditions", []):
        if c["type"] == "Ready" and c["status"] == "True":
            lat.append(t(c["lastTransitionTime"]) - t(m["metadata"]["creationTimestamp"]))
print(f"{statistics.median(lat):.2f}" if lat else "nan")
PY
)"
rss=()
for p in $(pgrep -x kumo-agent); do
  if grep -q "$work" "/proc/$p/environ" 2>/dev/null; then
    rss+=("$(awk '/^VmRSS/ {print $2}' "/proc/$p/status")")
  fi
done
read -r rss_med rss_max <<<"$(printf '%s\n' "${rss[@]}" | sort -n |
  awk '{v[NR]=$1} END {if (NR == 0) print "nan nan"; else print v[int((NR+1)/2)], v[NR]}')"
echo "kumo: App Ready on $machines machines in ${seconds}s; agents ${#rss[@]}, RSS median ${rss_med} KiB" >&2

# ---- the peer: a shell loop doing the same by hand ---------------------------------------
echo "peer: the same $machines machines and servers by a shell loop ..." >&2
t0=$(now)
ip link add "$peer_bridge" type bridge
ip addr add "10.252.$((net + 120)).1/24" dev "$peer_bridge"
ip link set "$peer_bridge" up
for i in $(seq 0 $((machines - 1))); do
  ns="${prefix}p$i"
  addr="10.252.$((net + 120)).$((i + 10))"
  ip netns add "$ns"
  ip link add "${prefix}v$i" type veth peer name eth0 netns "$ns"
  ip link set "${prefix}v$i" master "$peer_bridge" up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip netns exec "$ns" setsid python3 -m http.server "$port" >/dev/null 2>&1 </dev/null &
  until curl -fsS -m 1 "http://$addr:$port/" >/dev/null 2>&1; do sleep 0.05; done
done
t1=$(now)
shell_seconds=$(elapsed "$t0" "$t1")
echo "peer: $machines servers answering in ${shell_seconds}s" >&2
peer_cleanup

ratio=$(python3 -c "print(f'{$seconds / $shell_seconds:.2f}')")
echo "BENCH app machines=$machines seconds=$seconds shell_seconds=$shell_seconds ratio=$ratio" \
  "machine_ready_p50_s=$ready_p50 agent_rss_kib=$rss_med agent_rss_kib_max=$rss_max"
