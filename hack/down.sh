#!/usr/bin/env bash
# Stops the kumod that hack/up.sh started (and with it its embedded
# nats-server). The data stays in the data directory; hack/up.sh starts it
# again where it left off.
#
#   hack/down.sh                    data in build/kumo-data
#   KUMO_DATA_DIR=/srv/kumo hack/down.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${KUMO_DATA_DIR:-$root/build/kumo-data}
pid_file=$data/kumod.pid

if [ ! -f "$pid_file" ]; then
  echo "no kumod started by hack/up.sh ($pid_file does not exist)"
  exit 0
fi
pid=$(cat "$pid_file")
if ! kill -0 "$pid" 2>/dev/null || ! grep -q kumod "/proc/$pid/cmdline" 2>/dev/null; then
  echo "kumod (pid $pid) is not running any more"
  rm -f "$pid_file"
  exit 0
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
