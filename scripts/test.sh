#!/usr/bin/env bash
# Installs what the build needs, checks the formatting, builds natctl with warnings as
# errors, runs every test (unit tests, render checks, kernel and end-to-end tests in private
# network namespaces), then the unit tests under ASan and UBSan (scripts/sanitize.sh).
# Kernel tests skip with a reason when they cannot create namespaces (not root).
# docs/TESTING.md describes the suites.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/check-format.sh
build_dir=${NATCTL_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNATCTL_WERROR=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure --timeout 1200 "$@"
./scripts/sanitize.sh
