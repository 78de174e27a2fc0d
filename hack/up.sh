#!/usr/bin/env bash
# Installs what is missing, builds kumo and runs it.
# For now kumo runs offline: it prints its version and validates examples/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hack/deps.sh

build=$root/build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKUMO_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

kumoctl=$build/bin/kumoctl
echo "+ kumoctl version"
"$kumoctl" version
echo "+ kumoctl validate -f examples/"
"$kumoctl" validate -f examples/
echo "+ kumoctl convert -f examples/quickstart.yaml -o json"
"$kumoctl" convert -f examples/quickstart.yaml -o json | head -n 20
echo
echo "kumo is built in $build/bin. Try: $kumoctl --help"
