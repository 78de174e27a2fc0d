#!/usr/bin/env bash
# Stops the kumod that hack/up.sh started (and with it its embedded
# nats-server). The data stays in the data directory; hack/up.sh starts it
# again where it left off.
#
# Local machines outlive kumod by design. --leftovers shows what the local
# driver left on this host (namespaces, bridges, firewall tables of every
# local Connection, known to this data directory or not); --purge stops
# kumod and removes them (build/bin/kumo-local purge).
#
#   hack/down.sh                    data in build/kumo-data
#   hack/down.sh --leftovers        only show what is left on the host
#   hack/down.sh --purge            stop kumod, then remove kumo's machines from the host
#   KUMO_DATA_DIR=/srv/kumo hack/down.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${KUMO_DATA_DIR:-$root/build/kumo-data}
build=${KUMO_BUILD_DIR:-$root/build}
pid_file=$data/kumod.pid
mode=stop
case "${1:-}" in
  "") ;;
  --purge) mode=purge ;;
  --leftovers) mode=leftovers ;;
  -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "hack/down.sh: unknown argument \"$1\" (use --purge or --leftovers)" >&2; exit 2 ;;
esac

local_tool() {
  local tool=$build/bin/kumo-local
  if [ ! -x "$tool" ]; then
    echo "hack/down.sh: $tool is not built (hack/up.sh builds it)" >&2
    exit 1
  fi
  "$tool" "$@" ${KUMO_LOCAL_STATE_ROOT:+--state-root "$KUMO_LOCAL_STATE_ROOT"} \
    ${KUMO_LOCAL_PREFIX:+--prefix "$KUMO_LOCAL_PREFIX"}
}

if [ "$mode" = leftovers ]; then
  local_tool leftovers
  exit $?
fi
finish() {
  [ "$mode" = purge ] || exit 0
  echo "removing what kumo's local driver left on this host"
  local_tool purge
  exit $?
}

if [ ! -f "$pid_file" ]; then
  echo "no kumod started by hack/up.sh ($pid_file does not exist)"
  finish
fi
pid=$(cat "$pid_file")
if ! kill -0 "$pid" 2>/dev/null || ! grep -q kumod "/proc/$pid/cmdline" 2>/dev/null; then
  echo "kumod (pid $pid) is not running any more"
  rm -f "$pid_file"
  finish
fi
echo "stopping kumod (pid $pid): it finishes in-flight requests first"
kill -TERM "$pid"
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "kumod did not stop within 10 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pid_file"
echo "stopped; the data stays in $data"
finish
