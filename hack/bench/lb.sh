#!/usr/bin/env bash
# hack/bench/lb.sh - what kumo's load balancer costs and how fast it follows changes (root).
#
# Builds kumod, kumoctl, kumo-agent and the local driver (Release, no sanitizers) in their own
# build dir, starts nats-server and kumod --nats, and applies two local Connections, an Infra
# of 4 machines over both, an App (a Python HTTP server per machine, kept down while a flag
# file exists) and a LoadBalancer (HAProxy, RoundRobin, HTTP checks every 250 ms, 3 to fail).
#
# Measured with wrk on this host, all in one run:
#   rps and p99 through the load balancer, and against the same 4 backends hit directly
#     (4 wrk at once, one per backend, summed): ratio = lb_rps / direct_rps (goal >= 0.8);
#   reconfiguration: an App instance ready (its status says so) -> the load balancer sends it
#     requests, over the new instances of two 4 -> 6 scale-outs; p99 (goal <= 1000 ms);
#   failure detection: an app process killed (and kept down) -> HAProxy marks it DOWN, read on
#     its runtime socket every 20 ms, without traffic (goal <= 1000 ms with 250 ms checks);
#   failed requests while the Infra scales 4 -> 2 under wrk at full speed (goal 0).
# Ends with
#   BENCH lb ratio=R lb_rps=L direct_rps=D lb_p99_ms=P direct_p99_ms=Q reconfig_p99_ms=C
#            detect_ms=T failed_scale_in=F scale_in_rps=S
# Exits 0 when it ran, whatever the figures; 2 when not root or wrk is missing.
#
#   hack/bench/lb.sh [--seconds N]      wrk duration per measurement (default 8)
#   KUMO_BENCH_BUILD_DIR=...            (default: build/bench-lb)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"
seconds=8
bench_options "usage: hack/bench/lb.sh [--seconds N]" seconds -- "$@"
command -v wrk >/dev/null || { echo "hack/bench/lb.sh needs wrk (hack/deps.sh)" >&2; exit 2; }
bench_local_build lb
bench_work_init lb
bench_local_names kl
flags="$work/down"
mkdir -p "$flags"
networks="$(bench_network_of "$east") $(bench_network_of "$west") 10.252.$net. 10.252.$((net + 60))."
ctl() { "$build/bin/kumoctl" "$@"; }
cleanup_all() {
  if [ -n "${kumod_pid:-}" ] && kill -0 "$kumod_pid" 2>/dev/null; then
    ctl delete -f "$work/lb.yaml" --timeout 90s >/dev/null 2>&1 || true
  fi
  bench_host_sweep "$prefix" $networks
  bench_cleanup
}
trap cleanup_all EXIT INT TERM

bench_nats_start
bench_kumod_start --drift-poll-seconds 30
export KUMO_NATS_URL=$url

infra() {
  cat <<EOF
apiVersion: kumo.dev/v1alpha1
kind: Infra
metadata: {name: bench, namespace: default}
spec:
  groups:
    - name: web
      size: $1
      image: debian-12
      placement: {vcpuMin: 1, spreadConnections: 2}
      securityRules:
        - {direction: Inbound, protocol: TCP, fromPort: $port, toPort: $port, cidr: 0.0.0.0/0}
EOF
}
{
  bench_local_connections
  infra 4
  cat <<EOF
---
apiVersion: kumo.dev/v1alpha1
kind: App
metadata: {name: hello, namespace: default}
spec:
  infraRef: {name: bench}
  target: {group: web}
  components:
    - name: web
      files:
        - path: serve.sh
          mode: "0755"
          content: |
            #!/bin/sh
            [ -e $flags/\$KUMO_MACHINE_NAME ] && exit 1
            echo "\$KUMO_MACHINE_NAME" > index.html
            exec python3 -m http.server $port
      command: [./serve.sh]
      healthCheck: {type: HTTP, port: $port, path: /}
---
apiVersion: kumo.dev/v1alpha1
kind: LoadBalancer
metadata: {name: front, namespace: default}
spec:
  connection: $east
  listeners: [{name: http, port: 80, protocol: HTTP}]
  backends: [{name: web, appRef: {name: hello}, component: web, port: $port}]
  healthCheck: {type: HTTP, path: /, intervalMillis: 250, timeoutMillis: 250,
                failureThreshold: 3, successThreshold: 1}
EOF
} >"$work/lb.yaml"

echo "kumo: 4 machines over 2 local connections, an App and a LoadBalancer ..." >&2
ctl apply -f "$work/lb.yaml" >/dev/null
ctl wait app hello --for=condition=Ready --timeout=300s >/dev/null
ctl wait lb front --for=condition=Ready --timeout=120s >/dev/null
lb=$(ctl get lb front -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["address"])')
healthy() { ctl get lb front -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get("healthyEndpoints", 0))'; }
until [ "$(healthy)" = 4 ]; do sleep 0.2; done
addresses() {
  ctl get app hello -o json | python3 -c '
import json, sys
for i in json.load(sys.stdin)["status"]["instances"]: print(i["address"])'
}

# ---- throughput: through the load balancer, then the same backends directly ----------------
wrk_run() { wrk -t1 -c"$2" -d"${seconds}s" --latency "$1" 2>&1; }
rps_of() { awk '/^Requests\/sec/ {print $2}'; }
p99_of() {
  awk '$1 == "99%" {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+/, "", v);
       print (u == "s" ? v * 1000 : u == "us" ? v / 1000 : v)}'
}
echo "wrk: ${seconds}s through the load balancer ($lb) ..." >&2
out=$(wrk_run "http://$lb/" 16)
lb_rps=$(rps_of <<<"$out")
lb_p99=$(p99_of <<<"$out")
echo "wrk: ${seconds}s against the 4 backends directly (4 wrk at once) ..." >&2
i=0
wrks=()
for a in $(addresses); do
  wrk_run "http://$a:$port/" 4 >"$work/direct.$i" &
  wrks+=($!)
  i=$((i + 1))
done
wait "${wrks[@]}" # not a bare wait: kumod and nats-server are children too
direct_rps=$(cat "$work"/direct.* | rps_of | awk '{s += $1} END {printf "%.1f", s}')
direct_p99=$(cat "$work"/direct.* | p99_of | sort -n | tail -1)
ratio=$(python3 -c "print(f'{$lb_rps / $direct_rps:.2f}')")
echo "lb ${lb_rps} req/s (p99 ${lb_p99} ms), direct ${direct_rps} req/s (p99 ${direct_p99} ms)" >&2

# ---- reconfiguration: instance ready -> served through the load balancer --------------------
served_by() { curl -s -m 1 "http://$lb/" 2>/dev/null || true; }
samples=()
for round in 1 2; do
  known=$(ctl get app hello -o json | python3 -c '
import json, sys
print(" ".join(i["machine"] for i in json.load(sys.stdin)["status"]["instances"]))')
  infra 6 | ctl apply -f - >/dev/null
  declare -A ready_at=() seen_at=()
  deadline=$(($(bench_now_ms) + 120000))
  while [ "$(bench_now_ms)" -lt "$deadline" ]; do
    t=$(bench_now_ms)
    for m in $(ctl get app hello -o json | python3 -c '
import json, sys
for i in json.load(sys.stdin)["status"]["instances"]:
    if i.get("ready"): print(i["machine"])'); do
      case " $known " in *" $m "*) continue ;; esac
      [ -z "${ready_at[$m]:-}" ] && ready_at[$m]=$t
    done
    for _ in 1 2 3 4 5 6 7 8; do
      m=$(served_by)
      [ -n "$m" ] && [ -n "${ready_at[$m]:-}" ] && [ -z "${seen_at[$m]:-}" ] && seen_at[$m]=$(bench_now_ms)
    done
    [ "${#seen_at[@]}" -ge 2 ] && break
  done
  for m in "${!seen_at[@]}"; do samples+=($((seen_at[$m] - ready_at[$m]))); done
  unset ready_at seen_at
  infra 4 | ctl apply -f - >/dev/null
  until [ "$(healthy)" = 4 ] && [ "$(ctl get machines 2>/dev/null | grep -c Running)" = 4 ]; do sleep 0.3; done
done
reconfig_p99=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
echo "reconfiguration samples (ms): ${samples[*]}" >&2

# ---- failure detection: kill -9 of one app process, no traffic -------------------------------
socket=$(ls /run/kumo/lb/"$prefix"-*.sock | head -1)
server_status() {
  python3 - "$socket" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat -1 4 -1\n")
data = b""
while True:
    d = s.recv(65536)
    if not d: break
    data += d
lines = data.decode().splitlines()
head = lines[0][2:].split(",")
for line in lines[1:]:
    f = dict(zip(head, line.split(",")))
    if f.get("addr", "").startswith(sys.argv[2] + ":"):
        print(f["status"])
EOF
}
victim=$(ctl get app hello -o json | python3 -c '
import json, sys
i = json.load(sys.stdin)["status"]["instances"][0]; print(i["machine"], i["address"])')
read -r vm va <<<"$victim"
touch "$flags/$vm"
t0=$(bench_now_ms)
for ns in $(ip netns list | awk -v p="^$prefix-" '$1 ~ p {print $1}'); do
  ip -n "$ns" -4 -o addr show 2>/dev/null | grep -q " $va/" || continue
  for p in $(ip netns pids "$ns"); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "http.server $port" && kill -9 "$p"
  done
done
detect_ms=""
while [ $(($(bench_now_ms) - t0)) -lt 10000 ]; do
  case "$(server_status "$va")" in DOWN*) detect_ms=$(($(bench_now_ms) - t0)); break ;; esac
  sleep 0.02
done
rm -f "$flags/$vm"
echo "failure detected in ${detect_ms:-never} ms" >&2
until [ "$(healthy)" = 4 ]; do sleep 0.2; done

# ---- failed requests during a 4 -> 2 scale-in at full speed ------------------------------------
echo "wrk: $((seconds * 2))s through the load balancer while the Infra scales 4 -> 2 ..." >&2
wrk -t1 -c16 -d"$((seconds * 2))s" "http://$lb/" >"$work/scale.out" 2>&1 &
wrk_pid=$!
sleep 2
infra 2 | ctl apply -f - >/dev/null
wait "$wrk_pid"
sed 's/^/  wrk: /' "$work/scale.out" >&2
non2xx=$(awk '/Non-2xx or 3xx/ {print $NF}' "$work/scale.out")
sockerr=$(awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$work/scale.out")
failed=$(( ${non2xx:-0} + ${sockerr:-0} ))
scale_rps=$(rps_of <"$work/scale.out")
echo "scale-in under load: ${failed} failed, ${scale_rps} req/s" >&2

echo "BENCH lb ratio=$ratio lb_rps=$lb_rps direct_rps=$direct_rps lb_p99_ms=$lb_p99" \
  "direct_p99_ms=$direct_p99 reconfig_p99_ms=${reconfig_p99:-nan} detect_ms=${detect_ms:-nan}" \
  "failed_scale_in=$failed scale_in_rps=$scale_rps"
