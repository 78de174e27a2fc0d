#!/usr/bin/env bash
# Installs what is missing, builds kumo, starts kumod in the background (with
# its own embedded nats-server), applies the quickstart and shows what kumo
# now holds. As root that is examples/quickstart-local.yaml: four machines
# (network namespaces) over two local connections running an HTTP service
# behind a load balancer, and the one URL to curl; otherwise (or KUMO_QUICKSTART=sim)
# examples/quickstart.yaml on the simulated cloud. Stop it with hack/down.sh.
#
#   hack/up.sh                      data in build/kumo-data, NATS on 127.0.0.1:4222
#   KUMO_DATA_DIR=/srv/kumo hack/up.sh
#   KUMO_NATS_ADDR=127.0.0.1:5222 hack/up.sh
#   KUMO_BUILD_DIR=/tmp/kumo-build hack/up.sh   build somewhere else than build/
#
# Running it again while kumod runs is fine: it rebuilds, leaves the running
# kumod alone (hack/down.sh && hack/up.sh picks up a new build) and applies
# the quickstart again (which reports "unchanged").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hack/deps.sh

build=${KUMO_BUILD_DIR:-$root/build}
export KUMO_BUILD_DIR=$build
data=${KUMO_DATA_DIR:-$root/build/kumo-data}
addr=${KUMO_NATS_ADDR:-127.0.0.1:4222}
export KUMO_NATS_URL=nats://$addr
pid_file=$data/kumod.pid
log_file=$data/kumod.log

echo "+ building kumo in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKUMO_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
kumod=$build/bin/kumod
kumoctl=$build/bin/kumoctl
mkdir -p "$data"

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q kumod "/proc/$pid/cmdline" 2>/dev/null &&
    echo "$pid"
}

if pid=$(running_pid); then
  echo "+ kumod already runs (pid $pid, data in $data)"
else
  rm -f "$pid_file"
  echo "+ starting kumod (data in $data, NATS on $addr, log in $log_file)"
  # Its own session: closing this terminal does not stop it.
  setsid "$kumod" --data-dir "$data" --embedded-nats-addr "$addr" >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
fi

# Wait until kumoctl reaches it.
for _ in $(seq 1 150); do
  if "$kumoctl" get connections >/dev/null 2>&1; then
    break
  fi
  if ! running_pid >/dev/null; then
    echo "kumod stopped at start; the end of $log_file:" >&2
    tail -n 20 "$log_file" >&2
    rm -f "$pid_file"
    exit 1
  fi
  sleep 0.2
done
if ! "$kumoctl" get connections >/dev/null 2>&1; then
  echo "kumod does not answer on $KUMO_NATS_URL after 30 s; the end of $log_file:" >&2
  tail -n 20 "$log_file" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ] && [ "${KUMO_QUICKSTART:-}" != sim ]; then
  # Root: real machines (network namespaces) on this host, and a real HTTP service on them.
  echo "+ kumoctl apply -f examples/quickstart-local.yaml"
  "$kumoctl" apply -f examples/quickstart-local.yaml
  # Stop early, with the cause, when the Infra cannot get there (Progressing=False: Stalled).
  echo "+ kumoctl wait --for=condition=Progressing=False infra/hello-local --timeout=180s"
  "$kumoctl" wait --for=condition=Progressing=False infra/hello-local --timeout=180s >/dev/null || true
  stalled=$("$kumoctl" get infra hello-local -o json | python3 -c '
import json, sys
conds = {c["type"]: c for c in json.load(sys.stdin).get("status", {}).get("conditions", [])}
p, d = conds.get("Progressing", {}), conds.get("Degraded", {})
if p.get("reason") == "Stalled":
    print(d.get("reason", ""), ":", d.get("message", p.get("message", "")))' 2>/dev/null || true)
  if [ -n "$stalled" ]; then
    echo "the quickstart cannot start its machines: $stalled" >&2
    echo "(kumoctl describe infra hello-local and kumoctl get events say more)" >&2
    exit 1
  fi
  echo "+ kumoctl wait --for=condition=Ready app/hello --timeout=180s"
  "$kumoctl" wait --for=condition=Ready app/hello --timeout=180s ||
    echo "(not Ready yet: kumoctl describe app hello says why)"
  echo "+ kumoctl get infras,apps"
  "$kumoctl" get infras,apps
  echo "+ kumoctl get machines -o wide"
  "$kumoctl" get machines -o wide
  first=$("$kumoctl" get app hello -o json | python3 -c '
import json, sys
ins = json.load(sys.stdin).get("status", {}).get("instances", [])
print(ins[0]["address"] if ins else "")' 2>/dev/null || true)
  echo "+ kumoctl wait --for=condition=Ready lb/hello --timeout=60s"
  "$kumoctl" wait --for=condition=Ready lb/hello --timeout=60s ||
    echo "(not Ready yet: kumoctl describe lb hello says why)"
  echo "+ kumoctl get lb hello"
  "$kumoctl" get lb hello
  lb=$("$kumoctl" get lb hello -o json | python3 -c '
import json, sys
print(json.load(sys.stdin).get("status", {}).get("address", ""))' 2>/dev/null || true)
  if [ -n "$lb" ]; then
    echo "+ curl http://$lb/ (4 times)"
    for _ in 1 2 3 4; do curl -fsS -m 3 "http://$lb/" || true; done
    curl_hint="curl http://$lb/   (the load balancer; one instance: curl http://$first:8080/)"
  elif [ -n "$first" ]; then
    echo "+ curl http://$first:8080/"
    curl -fsS -m 3 "http://$first:8080/" || true
    curl_hint="curl http://$first:8080/   (every instance: kumoctl get app hello -o yaml)"
  fi
else
  # Not root (or KUMO_QUICKSTART=sim): the simulated cloud.
  [ "$(id -u)" = 0 ] || echo "+ not root: using the simulated cloud (root runs examples/quickstart-local.yaml)"
  echo "+ kumoctl apply -f examples/quickstart.yaml"
  "$kumoctl" apply -f examples/quickstart.yaml
  echo "+ kumoctl wait --for=condition=Ready infra/hello --timeout=120s"
  "$kumoctl" wait --for=condition=Ready infra/hello --timeout=120s ||
    echo "(not Ready yet: kumoctl describe infra hello says why)"
  echo "+ kumoctl get infras,connections"
  "$kumoctl" get infras,connections
  echo "+ kumoctl get machines -o wide"
  "$kumoctl" get machines -o wide
fi
down=hack/down.sh
[ -n "${KUMO_DATA_DIR:-}" ] && down="KUMO_DATA_DIR=$data hack/down.sh"
cat <<EOF

kumod runs in the background (pid $(cat "$pid_file")), serving on $KUMO_NATS_URL.
  kumoctl:   $kumoctl get infras      (or put $build/bin on your PATH)
  complete:  source <($kumoctl completion bash)
  log:       $log_file
  stop it:   $down             (or: kill \$(cat $pid_file))
EOF
if [ -n "${curl_hint:-}" ]; then
  echo "  the app:   $curl_hint"
  echo "  its logs:  $kumoctl logs app/hello --machine hello-local-web-0 -f"
  echo "  remove:    $kumoctl delete -f examples/quickstart-local.yaml   (machines outlive kumod;"
  echo "             after a lost data dir: hack/down.sh --purge removes them from the host)"
fi
if [ -f "$data/kubeconfig" ] && grep -q "Kubernetes API on" "$log_file" 2>/dev/null; then
  echo "  kubectl:   export KUBECONFIG=$data/kubeconfig; kubectl get infras"
fi
if [ "$addr" != "127.0.0.1:4222" ]; then
  echo "  kumoctl needs: export KUMO_NATS_URL=$KUMO_NATS_URL"
fi
