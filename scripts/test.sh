#!/usr/bin/env bash
# Installs what the build needs, builds natctl with warnings as errors and runs every test
# (unit tests, render checks, kernel and end-to-end tests in private network namespaces).
# Kernel tests skip with a reason when they cannot create namespaces (not root).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
build_dir=${NATCTL_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNATCTL_WERROR=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure --timeout 1200 "$@"
