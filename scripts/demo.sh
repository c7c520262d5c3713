#!/usr/bin/env bash
# The main job: builds natctl and renders the bundled quickstart model into the nftables
# ruleset and policy routes natctl would program. Offline: needs no daemon and no root
# beyond installing build dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
build_dir=${NATCTL_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target natctl >/dev/null
echo "== natctl render -f examples/quickstart.json"
"$build_dir/cli/natctl" render -f examples/quickstart.json
