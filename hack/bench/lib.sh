# hack/bench/lib.sh - what the benches that run kumod over NATS share (sourced by api.sh and
# converge.sh): a temporary work dir cleaned up on exit, nats-server (JetStream, random port,
# max_payload 8 MiB) and kumod --nats, each waited for until it is ready.
#
#   bench_work_init NAME     work=<new temp dir>; on exit kumod and nats-server are stopped
#                            and the dir removed
#   bench_nats_start         starts nats-server in $work; sets nats_pid and url
#   bench_kumod_start ARG..  starts $build/bin/kumod on $url with data in $work/kumod and
#                            --log-level warn plus ARGs; sets kumod_pid
#   bench_local_build NAME   root check, then a Release build of what a local bench runs
#   bench_local_connections  two local Connections as YAML (app.sh, lb.sh)
#   bench_network_of NAME    the Infra network prefix of a Connection ("10.N.")
#   bench_host_sweep P NETS  removes what a local run with name prefix P left on the host

# A local bench ($1: its name) runs as root only; then builds kumod, kumoctl, kumo-agent and
# the local driver (Release, no sanitizers) in $build.
bench_local_build() {
  if [ "$(id -u)" != 0 ]; then
    echo "hack/bench/$1.sh needs root: the local driver makes network namespaces" >&2
    exit 2
  fi
  echo "building kumod, kumoctl, kumo-agent and the local driver (Release) in $build ..." >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKUMO_SANITIZE=OFF -DKUMO_TESTS=OFF \
    >/dev/null
  cmake --build "$build" -j"$(nproc)" --target kumod kumoctl kumo-agent kumo-driver-local >/dev/null
}

# The first two octets ("10.N.") of the network the Infra controller gives Connection $1.
bench_network_of() {
  python3 -c "
h = 2166136261
for c in '$1'.encode(): h = ((h ^ c) * 16777619) & 0xffffffff
print(f'10.{16 + h % 224}.')"
}

# What a local run with name prefix $1 made on the host, even when kumod could not delete it:
# namespaces and their processes, firewall tables, the bridges of the networks given as
# address prefixes ($2...), load balancer sockets.
bench_host_sweep() {
  local prefix=$1
  shift
  for ns in $(ip netns list | awk -v p="^$prefix-" '$1 ~ p {print $1}'); do
    ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  nft list tables 2>/dev/null | awk -v p="^${prefix}_" '$3 ~ p {print $2, $3}' |
    while read -r family table; do nft delete table "$family" "$table" || true; done
  for n in "$@"; do
    ip -o -4 addr show | awk -v n="$n" 'index($4, n) == 1 {print $2}' | xargs -r -n1 ip link del
  done
  rm -f /run/kumo/lb/"$prefix"-*
}

# Two local Connections $east and $west (name prefix $prefix, state in $work, default networks
# 10.252.$net.0/24 and 10.252.$((net + 60)).0/24) as YAML documents, each ended by "---".
bench_local_connections() {
  cat <<EOF
apiVersion: kumo.dev/v1alpha1
kind: Connection
metadata: {name: $east, namespace: default}
spec:
  driver: local
  region: $east
  config: {name_prefix: "$prefix", state_dir: "$work/east", cidr: "10.252.$net.0/24"}
---
apiVersion: kumo.dev/v1alpha1
kind: Connection
metadata: {name: $west, namespace: default}
spec:
  driver: local
  region: $west
  config: {name_prefix: "$prefix", state_dir: "$work/west", cidr: "10.252.$((net + 60)).0/24"}
---
EOF
}

bench_work_init() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/kumo-bench-$1-XXXXXX")
  nats_pid=""
  kumod_pid=""
  trap bench_cleanup EXIT INT TERM
  mkdir -p "$work/nats" "$work/ports" "$work/kumod"
}

bench_cleanup() {
  [ -n "$kumod_pid" ] && kill "$kumod_pid" 2>/dev/null && wait "$kumod_pid" 2>/dev/null || true
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null || true
  rm -rf "$work"
}

bench_nats_start() {
  printf 'max_payload: 8388608\n' >"$work/nats.conf"
  nats-server -c "$work/nats.conf" -a 127.0.0.1 -p -1 -js -sd "$work/nats" \
    --ports_file_dir "$work/ports" >"$work/nats.log" 2>&1 &
  nats_pid=$!
  url=""
  for _ in $(seq 1 200); do
    ports=$(cat "$work"/ports/*.ports 2>/dev/null || true)
    url=$(printf '%s' "$ports" | grep -o 'nats://[0-9.]*:[0-9]*' | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.05
  done
  if [ -z "$url" ]; then
    echo "nats-server did not start; its log:" >&2
    cat "$work/nats.log" >&2
    exit 1
  fi
}

bench_kumod_start() {
  "$build/bin/kumod" --nats "$url" --data-dir "$work/kumod" --log-level warn "$@" \
    >"$work/kumod.log" 2>&1 &
  kumod_pid=$!
  for _ in $(seq 1 200); do
    grep -q "kumod ready" "$work/kumod.log" && break
    sleep 0.05
  done
  if ! grep -q "kumod ready" "$work/kumod.log"; then
    echo "kumod did not start; its log:" >&2
    cat "$work/kumod.log" >&2
    exit 1
  fi
}
