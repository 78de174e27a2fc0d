# hack/bench/lib.sh - the set-up every bench script shares (sourced after `root` is set to the
# repository): options, a Release build of the CMake targets a bench runs, a temporary work dir
# cleaned up on exit, nats-server (JetStream, random port, max_payload 8 MiB) and kumod --nats,
# each waited for until it is ready, and the small helpers the scripts kept writing again.
#
#   bench_options USAGE NAME.. -- ARGS   sets $NAME from each --NAME VALUE in ARGS (a dash in NAME
#                                        is an underscore in the variable); --help prints USAGE;
#                                        anything else prints it on stderr and exits 2
#   bench_build NAME WHAT TARGET..       build=${KUMO_BENCH_BUILD_DIR:-build/bench-NAME}; a
#                                        Release build (no sanitizers, no tests) of TARGETs there
#   bench_work_init NAME                 work=<new temp dir under ${KUMO_BENCH_DIR:-$TMPDIR}>; on
#                                        exit the processes started here are stopped and the dir
#                                        removed
#   bench_stop_on_exit PID               one more process bench_cleanup stops (a peer server)
#   bench_nats_start                     starts nats-server in $work; sets nats_pid and url
#   bench_kumod_start ARG..              starts $build/bin/kumod on $url with data in
#                                        $work/kumod and --log-level warn plus ARGs; sets kumod_pid
#   bench_free_port                      prints a free TCP port on 127.0.0.1
#   bench_median                         the median of the numbers on stdin, one a line
#   bench_now_ms                         wall clock in milliseconds
#   bench_local_build NAME               root check, then a Release build of what a local bench runs
#   bench_local_names PREFIX             names unique to this run: prefix, net, port, east, west
#   bench_local_connections              two local Connections as YAML (app.sh, lb.sh)
#   bench_network_of NAME                the Infra network prefix of a Connection ("10.N.")
#   bench_host_sweep P NETS              removes what a local run with name prefix P left on the host

# Options: bench_options "usage: ..." machines seconds -- "$@"
bench_options() {
  local usage=$1 names=()
  shift
  while [ "$1" != "--" ]; do
    names+=("$1")
    shift
  done
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) printf '%s\n' "$usage"; exit 0 ;;
    esac
    local known=""
    for n in "${names[@]}"; do
      if [ "$1" = "--$n" ] && [ $# -ge 2 ]; then
        printf -v "${n//-/_}" '%s' "$2"
        known=1
      fi
    done
    if [ -z "$known" ]; then
      printf 'unknown option %s\n%s\n' "$1" "$usage" >&2
      exit 2
    fi
    shift 2
  done
}

# A Release build (no sanitizers, no tests) of the CMake targets $3... in
# $build = ${KUMO_BENCH_BUILD_DIR:-$root/build/bench-$1}; $2 says what, for the log.
bench_build() {
  build=${KUMO_BENCH_BUILD_DIR:-$root/build/bench-$1}
  echo "building $2 (Release) in $build ..." >&2
  shift 2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKUMO_SANITIZE=OFF -DKUMO_TESTS=OFF \
    >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "$@" >/dev/null
}

bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The median of the numbers on stdin (the lower middle one of an even count), "nan" for none.
bench_median() {
  sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "nan"; else print v[int((NR+1)/2)]}'
}

bench_now_ms() { date +%s%3N; }

# A local bench ($1: its name) runs as root only; then builds kumod, kumoctl, kumo-agent and
# the local driver (Release, no sanitizers) in $build.
bench_local_build() {
  if [ "$(id -u)" != 0 ]; then
    echo "hack/bench/$1.sh needs root: the local driver makes network namespaces" >&2
    exit 2
  fi
  bench_build "$1" "kumod, kumoctl, kumo-agent and the local driver" \
    kumod kumoctl kumo-agent kumo-driver-local
}

# Names unique to this run of a local bench ($1: the prefix of its host objects): prefix, net
# (the third octet of its default networks), port (its servers'), east and west (its Connections).
bench_local_names() {
  prefix="$1$(($$ % 100000))"
  net=$((100 + $$ % 60))
  port=$((21000 + $$ % 9000))
  east="east$(($$ % 100000))"
  west="west$(($$ % 100000))"
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
  work=$(mktemp -d "${KUMO_BENCH_DIR:-${TMPDIR:-/tmp}}/kumo-bench-$1-XXXXXX")
  nats_pid=""
  kumod_pid=""
  bench_extra_pids=()
  trap bench_cleanup EXIT INT TERM
  mkdir -p "$work/nats" "$work/ports" "$work/kumod"
}

bench_stop_on_exit() {
  bench_extra_pids+=("$1")
}

# Stops what the bench started (the peers, kumod, nats-server), then removes $work.
bench_cleanup() {
  local p
  for p in "${bench_extra_pids[@]}" "$kumod_pid" "$nats_pid"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
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
