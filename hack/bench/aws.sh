#!/usr/bin/env bash
# hack/bench/aws.sh - kumo with the aws driver against moto, and the boto3 script a user
# would otherwise write, in the same run on the same moto server.
#
# Builds kumod, kumoctl and the aws driver (Release) in their own build dir, starts moto
# (signature checking on, an IAM user and key made first with the aws CLI), then:
#   peer  hack/bench/aws/boto3_peer.py: N RunInstances (one tagged instance each) from C
#         threads in us-west-2, then DescribeInstances until all N run;
#   kumo  nats-server + kumod; a Connection (us-east-1, maxInFlight C) through the aws
#         driver; an Infra of N machines; timed from the apply until the Infra is Ready
#         (every Machine observed running), counting the driver's API calls from the apply.
# Prints both times, and ends with
#   BENCH aws machines=N concurrency=C ratio=KUMO/PEER calls_per_machine=K seconds=KUMO
#         peer_seconds=PEER peer_calls_per_machine=P kumod_cpu_ms_per_machine=M
# Goals: ratio <= 1.2, calls_per_machine <= 3. Exits 0 when it ran, whatever the figures.
#
#   hack/bench/aws.sh [--machines N] [--concurrency C]
#   KUMO_BENCH_BUILD_DIR=...   (default: build/bench-aws)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/bench/lib.sh"
machines=1000
concurrency=8
bench_options "$(sed -n '2,20p' "$0")" machines concurrency -- "$@"
for tool in moto_server aws python3; do
  command -v "$tool" >/dev/null || { echo "aws bench: $tool is missing (hack/deps.sh)" >&2; exit 1; }
done

bench_build aws "kumod, kumoctl, the aws driver and the bench control client" \
  kumod kumoctl kumo-driver-aws aws-bench-control
bench_work_init aws

port=$(bench_free_port)
endpoint="http://127.0.0.1:$port"
INITIAL_NO_AUTH_ACTION_COUNT=3 moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
bench_stop_on_exit $!
for _ in $(seq 1 200); do
  curl -s -o /dev/null "$endpoint/moto-api/" && break
  sleep 0.1
done
cli() { env AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= \
  aws --endpoint-url "$endpoint" --region us-east-1 --output json "$@"; }
AWS_ACCESS_KEY_ID=setup AWS_SECRET_ACCESS_KEY=setup cli iam create-user --user-name bench >/dev/null
keys=$(AWS_ACCESS_KEY_ID=setup AWS_SECRET_ACCESS_KEY=setup cli iam create-access-key --user-name bench)
AWS_ACCESS_KEY_ID=setup AWS_SECRET_ACCESS_KEY=setup cli iam put-user-policy --user-name bench \
  --policy-name all --policy-document \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
key=$(printf '%s' "$keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKey"]["AccessKeyId"])')
secret=$(printf '%s' "$keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKey"]["SecretAccessKey"])')
image=$(AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret cli --region us-west-2 ec2 describe-images \
  --owners 137112412989 --filters 'Name=name,Values=al2023-ami-2023.*-x86_64' \
  --query 'sort_by(Images,&CreationDate)[-1].ImageId' --output text)

echo "peer: boto3, $machines machines, $concurrency threads ..." >&2
peer=$(python3 "$root/hack/bench/aws/boto3_peer.py" --endpoint "$endpoint" --key "$key" \
  --secret "$secret" --machines "$machines" --concurrency "$concurrency" --image "$image")
peer_s=$(printf '%s' "$peer" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
peer_calls=$(printf '%s' "$peer" | sed -n 's/.*calls=\([0-9]*\).*/\1/p')
echo "peer: $peer" >&2

bench_nats_start
bench_kumod_start --drift-poll-seconds 600
export KUMO_NATS_URL=$url
kumoctl=$build/bin/kumoctl
cat >"$work/conn.yaml" <<EOF
apiVersion: kumo.dev/v1alpha1
kind: Credential
metadata: {name: moto, namespace: default}
spec: {type: aws, data: {accessKeyId: "$key", secretAccessKey: "$secret"}}
---
apiVersion: kumo.dev/v1alpha1
kind: Connection
metadata: {name: bench, namespace: default}
spec:
  driver: aws
  region: us-east-1
  endpoint: "$endpoint"
  credentialRef: {name: moto}
  rateLimit: {qps: 10000, burst: $concurrency, maxInFlight: $concurrency}
  config: {price_file: "$root/examples/aws-prices.txt"}
EOF
"$kumoctl" apply -f "$work/conn.yaml" >/dev/null
"$kumoctl" wait connection bench --for=condition=Ready --timeout=60s >/dev/null
cat >"$work/infra.yaml" <<EOF
apiVersion: kumo.dev/v1alpha1
kind: Infra
metadata: {name: bench, namespace: default}
spec:
  groups:
  - {name: fleet, size: $machines, connection: bench, instanceType: t3.micro, image: amazon-linux-2023}
EOF
"$build/bin/aws-bench-control" "$url" default bench reset_stats >/dev/null
cpu_ticks() { awk '{print $14 + $15}' "/proc/$kumod_pid/stat"; }
cpu0=$(cpu_ticks)
echo "kumo: $machines machines, maxInFlight $concurrency ..." >&2
t0=$(date +%s.%N)
"$kumoctl" apply -f "$work/infra.yaml" >/dev/null
"$kumoctl" wait infra bench --for=condition=Ready --timeout=30m >/dev/null
t1=$(date +%s.%N)
cpu1=$(cpu_ticks)
stats=$("$build/bin/aws-bench-control" "$url" default bench stats)
calls=$(printf '%s' "$stats" | python3 -c '
import json, sys
def find(v):
    if isinstance(v, dict):
        if "calls" in v: return v["calls"]
        for x in v.values():
            r = find(x)
            if r is not None: return r
    return None
print(find(json.load(sys.stdin)))')
python3 - "$machines" "$concurrency" "$t0" "$t1" "$calls" "$peer_s" "$peer_calls" "$cpu0" "$cpu1" \
  "$(getconf CLK_TCK)" <<'EOF'
import sys
n, c, t0, t1, calls, peer_s, peer_calls, cpu0, cpu1, hz = sys.argv[1:]
n = int(n); kumo_s = float(t1) - float(t0); peer_s = float(peer_s)
cpu_ms = (int(cpu1) - int(cpu0)) * 1000.0 / int(hz)
print(f"kumo: {kumo_s:.2f} s, {int(calls)} driver calls; boto3: {peer_s:.2f} s, {peer_calls} calls",
      file=sys.stderr)
print(f"BENCH aws machines={n} concurrency={c} ratio={kumo_s / peer_s:.2f} "
      f"calls_per_machine={int(calls) / n:.2f} seconds={kumo_s:.2f} peer_seconds={peer_s:.2f} "
      f"peer_calls_per_machine={int(peer_calls) / n:.2f} kumod_cpu_ms_per_machine={cpu_ms / n:.2f}")
EOF
