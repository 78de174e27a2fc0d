#!/usr/bin/env bash
# hack/bench/migration.sh - how long a migration between clouds takes against the floor of
# provisioning the same machines from nothing, and what it costs the traffic (root).
#
# Builds kumod, kumoctl, kumo-agent and the local driver (Release, no sanitizers) in their own
# build dir, starts nats-server and kumod --nats, and applies two local Connections. Then, in
# one run:
#   floor: an Infra group of N machines (default 8) on the first connection and an App (a
#     Python HTTP server per machine) from nothing until the App is Ready with N instances;
#     then deleted;
#   migration: the same group and App behind a LoadBalancer (HAProxy on the first
#     connection), wrk through it at full speed in back-to-back slices, and a BlueGreen
#     Migration to the second connection with steps 10 -> 50 -> 100 and no pauses, from
#     apply until `kumoctl wait --for=condition=Ready migration/move` returns.
#   ratio = seconds / floor_seconds (goal <= 1.5); failed = non-2xx answers and socket
#   errors wrk saw during the migration (goal 0); rps = wrk's requests per second then.
# Ends with
#   BENCH migration ratio=R seconds=S floor_seconds=F failed=X rps=Q machines=N
# Exits 0 when it ran, whatever the figures; 2 when not root or wrk is missing.
#
#   hack/bench/migration.sh [--machines N]
#   KUMO_BENCH_BUILD_DIR=...            (default: build/bench-migration)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"
machines=8
bench_options "usage: hack/bench/migration.sh [--machines N]" machines -- "$@"
command -v wrk >/dev/null || { echo "hack/bench/migration.sh needs wrk (hack/deps.sh)" >&2; exit 2; }
bench_local_build migration
bench_work_init migration
bench_local_names kmig
ctl() { "$build/bin/kumoctl" "$@"; }
cleanup_all() {
  [ -n "${slices_pid:-}" ] && kill "$slices_pid" 2>/dev/null || true
  if [ -n "${kumod_pid:-}" ] && kill -0 "$kumod_pid" 2>/dev/null; then
    ctl delete -f "$work/world.yaml" --timeout 120s >/dev/null 2>&1 || true
  fi
  bench_host_sweep "$prefix" "$(bench_network_of "$east")" "$(bench_network_of "$west")" \
    "10.252.$net." "10.252.$((net + 60))."
  bench_cleanup
}
trap cleanup_all EXIT INT TERM

bench_nats_start
bench_kumod_start --drift-poll-seconds 30
export KUMO_NATS_URL=$url
bench_local_connections >"$work/connections.yaml"
ctl apply -f "$work/connections.yaml" >/dev/null

# The group and its App ($1: the Infra's name).
group_and_app() {
  cat <<EOF
apiVersion: kumo.dev/v1alpha1
kind: Infra
metadata: {name: $1, namespace: default}
spec:
  groups:
    - name: web
      size: $machines
      connection: $east
      instanceType: local.nano
      image: debian-12
      securityRules:
        - {direction: Inbound, protocol: TCP, fromPort: $port, toPort: $port, cidr: 0.0.0.0/0}
---
apiVersion: kumo.dev/v1alpha1
kind: App
metadata: {name: $1, namespace: default}
spec:
  infraRef: {name: $1}
  target: {group: web}
  rollingUpdate: {maxUnavailable: "25%"}
  components:
    - name: web
      files:
        - path: serve.sh
          mode: "0755"
          content: |
            #!/bin/sh
            echo "\$KUMO_MACHINE_NAME" > index.html
            exec python3 -m http.server $port
      command: [./serve.sh]
      healthCheck: {type: HTTP, port: $port, path: /, intervalSeconds: 1}
EOF
}

# ---- the floor: the group and its App from nothing ----------------------------------------
echo "floor: $machines machines and their App from nothing ..." >&2
group_and_app floor >"$work/floor.yaml"
t0=$(bench_now_ms)
ctl apply -f "$work/floor.yaml" >/dev/null
ctl wait app floor --for=condition=Ready --timeout=600s >/dev/null
floor_ms=$(($(bench_now_ms) - t0))
echo "floor: ${floor_ms} ms; deleting it ..." >&2
ctl delete -f "$work/floor.yaml" --timeout 300s >/dev/null

# ---- the migration under load -------------------------------------------------------------
{
  group_and_app bench
  cat <<EOF
---
apiVersion: kumo.dev/v1alpha1
kind: LoadBalancer
metadata: {name: front, namespace: default}
spec:
  connection: $east
  listeners: [{name: http, port: 80, protocol: HTTP}]
  backends: [{name: web, appRef: {name: bench}, component: web, port: $port}]
  healthCheck: {type: HTTP, path: /, intervalMillis: 250, timeoutMillis: 250,
                failureThreshold: 3, successThreshold: 1}
  drainTimeoutSeconds: 10
EOF
} >"$work/world.yaml"
echo "migration: $machines machines, their App and a LoadBalancer ..." >&2
ctl apply -f "$work/world.yaml" >/dev/null
ctl wait app bench --for=condition=Ready --timeout=600s >/dev/null
ctl wait lb front --for=condition=Ready --timeout=120s >/dev/null
lb=$(ctl get lb front -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["address"])')
healthy() { ctl get lb front -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get("healthyEndpoints", 0))'; }
until [ "$(healthy)" = "$machines" ]; do sleep 0.2; done

# wrk in 5 s slices until the migration ends (wrk reports only when a run ends).
mkdir -p "$work/slices"
(
  i=0
  while [ ! -e "$work/done" ]; do
    wrk -t1 -c16 -d5s "http://$lb/" >"$work/slices/$i" 2>&1 || true
    i=$((i + 1))
  done
) &
slices_pid=$!
sleep 3
cat >"$work/migration.yaml" <<EOF
apiVersion: kumo.dev/v1alpha1
kind: Migration
metadata: {name: move, namespace: default}
spec:
  source: {infraRef: {name: bench}, group: web}
  target: {connection: $west, instanceType: local.nano}
  cutover:
    loadBalancerRef: {name: front}
    steps: [{weight: 10}, {weight: 50}, {weight: 100}]
  timeouts: {drainSeconds: 10}
EOF
echo "migration: BlueGreen $east -> $west under wrk through $lb ..." >&2
t0=$(bench_now_ms)
ctl apply -f "$work/migration.yaml" >/dev/null
ctl wait --for=condition=Ready migration/move --timeout=900s >/dev/null
migration_ms=$(($(bench_now_ms) - t0))
touch "$work/done"
wait "$slices_pid" || true
slices_pid=""
ctl describe migration move | sed -n '/^Progress/,/^Conditions/p' | sed 's/^/  /' >&2

requests=0
failed=0
wrk_seconds=0
for f in "$work"/slices/*; do
  r=$(awk '/requests in/ {print $1}' "$f")
  s=$(awk '/requests in/ {gsub(/s,/, "", $4); print $4}' "$f")
  non2xx=$(awk '/Non-2xx or 3xx/ {print $NF}' "$f")
  sockerr=$(awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$f")
  requests=$((requests + ${r:-0}))
  failed=$((failed + ${non2xx:-0} + ${sockerr:-0}))
  wrk_seconds=$(python3 -c "print($wrk_seconds + ${s:-0})")
done
read -r ratio seconds floor_seconds rps < <(python3 -c "
m, f, r, w = $migration_ms / 1000, $floor_ms / 1000, $requests, $wrk_seconds
print(f'{m / f:.2f} {m:.1f} {f:.1f} {r / w if w else 0:.0f}')")
echo "migration ${seconds}s against a floor of ${floor_seconds}s; ${requests} requests, ${failed} failed" >&2
echo "BENCH migration ratio=$ratio seconds=$seconds floor_seconds=$floor_seconds failed=$failed" \
  "rps=$rps machines=$machines"
