#!/usr/bin/env bash
# Builds the unit tests (and only what they link) with AddressSanitizer, LeakSanitizer and
# UndefinedBehaviorSanitizer in build-sanitize/, and runs them; any report fails the run.
# scripts/test.sh runs it after the main suite. Extra arguments go to unit_tests (a Catch2
# test spec, e.g. '[store]').
#
# The build is sized for CI's cold 2-core machine: -O1 (the level AddressSanitizer's
# documentation recommends for reasonable speed), line tables only (-g1: file:line in the
# reports' stacks at no measurable cost, where full -g costs a fifth more: compiling
# controller/api/service.cpp took 44 / 41 / 51 s of CPU at -g0 / -g1 / -g), frame pointers
# for the reports' stacks. docs/TESTING.md has the measured times.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${NATCTL_SANITIZE_BUILD_DIR:-build-sanitize}
sanitizers=-fsanitize=address,undefined
# Warnings are the main build's business (-Werror there); this build only runs the tests.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=None -DNATCTL_WERROR=OFF \
    -DCMAKE_CXX_FLAGS="-O1 -g1 -fno-omit-frame-pointer $sanitizers -fno-sanitize-recover=all" \
    -DCMAKE_EXE_LINKER_FLAGS="$sanitizers" >/dev/null
cmake --build "$build_dir" -j"${NATCTL_JOBS:-$(nproc)}" --target unit_tests

# halt_on_error: the first report ends the run (and fails it); UBSan cannot recover anyway
# (-fno-sanitize-recover=all). detect_leaks: LeakSanitizer at exit.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$build_dir/tests/unit_tests" --reporter compact "$@"
