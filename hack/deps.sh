#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of kumo with apt-get.
# Idempotent: does nothing when everything is present. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential clang cmake pkg-config git
  libnats-dev nats-server
  libprotobuf-c-dev protobuf-c-compiler
  libcurl4-openssl-dev liblmdb-dev libssl-dev libyaml-dev libxml2-dev
  libjansson-dev libevent-dev
  etcd-server etcd-client
  clang-format iproute2 nftables procps curl python3
  haproxy wrk
  libevent-dev prometheus
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
