#!/usr/bin/env bash
# Builds natctl's libFuzzer targets (fuzz/, clang 16 with ASan + UBSan) and runs them.
#
#   scripts/fuzz.sh [--time SECONDS] [--build-dir DIR] [--out DIR] [--seeds] [TARGET...]
#
# TARGET: model_json http_request store_journal netlink_conntrack netlink_nft (default:
# all, one after the other). Each runs for --time seconds (default 20) from its seed corpus
# fuzz/corpus/TARGET; inputs it finds are kept in --out DIR/corpus/TARGET (default: a
# temporary directory, removed at the end) and never written into the repository. A crash,
# leak, sanitizer report or fuzz invariant violation fails the script; the input that caused
# it is saved as --out DIR/crash-TARGET-* (with a temporary --out, in ./fuzz-artifacts).
# Prints one line per target: executions, executions/s, coverage, new corpus entries.
# --seeds rewrites the binary seed corpora (fuzz/make_seeds.cpp) before running.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TIME=20
BUILD="$ROOT/build-fuzz"
OUT=""
SEEDS=0
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --time) TIME=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --seeds) SEEDS=1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
    esac
done
ALL=(model_json http_request store_journal netlink_conntrack netlink_nft)
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
    [ -d "$ROOT/fuzz/corpus/$t" ] || { echo "fuzz.sh: unknown target $t (${ALL[*]})" >&2; exit 2; }
done
command -v clang++-16 >/dev/null ||
    { echo "fuzz.sh: clang++-16 missing (scripts/install-deps.sh installs it)" >&2; exit 77; }

KEEP_OUT=1
if [ -z "$OUT" ]; then
    OUT=$(mktemp -d /tmp/natctl-fuzz.XXXXXX)
    KEEP_OUT=0
fi
cleanup() { [ "$KEEP_OUT" = 1 ] || rm -rf "$OUT"; }
trap cleanup EXIT
mkdir -p "$OUT"

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-16 \
    -DNATCTL_FUZZ=ON -DBUILD_TESTING=OFF "${launcher[@]}" >/dev/null
build_targets=()
for t in "${TARGETS[@]}"; do build_targets+=("fuzz_$t"); done
[ "$SEEDS" = 1 ] && build_targets+=(fuzz_make_seeds)
cmake --build "$BUILD" -j"${NATCTL_JOBS:-2}" --target "${build_targets[@]}" >"$OUT/build.log" 2>&1 ||
    { tail -n 40 "$OUT/build.log" >&2; exit 1; }
if [ "$SEEDS" = 1 ]; then
    "$BUILD/fuzz/fuzz_make_seeds" "$ROOT" "$ROOT/fuzz/corpus"
fi

# Reports name functions and lines only with a symbolizer (llvm-16, scripts/install-deps.sh).
symbolizer=$(command -v llvm-symbolizer-16 || true)
[ -n "$symbolizer" ] || echo "fuzz.sh: llvm-symbolizer-16 missing: reports without function names" >&2

failed=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$OUT/corpus/$t"
    dict=()
    [ -f "$ROOT/fuzz/$t.dict" ] && dict=(-dict="$ROOT/fuzz/$t.dict")
    artifacts="$OUT/crash-$t-"
    [ "$KEEP_OUT" = 1 ] || { mkdir -p "$PWD/fuzz-artifacts"; artifacts="$PWD/fuzz-artifacts/crash-$t-"; }
    log="$OUT/$t.log"
    rc=0
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a leak or a blow-up.
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ASAN_SYMBOLIZER_PATH="$symbolizer" \
        "$BUILD/fuzz/fuzz_$t" -max_total_time="$TIME" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" \
        "$OUT/corpus/$t" "$ROOT/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
    rate=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log")
    # || true: a target that dies before its first status line has no coverage to show, and
    # pipefail must not end the script before it reports the failure.
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{ print $2 }' || true)
    new=$(find "$OUT/corpus/$t" -type f | wc -l)
    if [ "$rc" = 0 ]; then
        echo "fuzz $t: ok, ${runs:-?} executions in ${TIME} s (${rate:-?}/s), coverage ${cov:-?} edges, $new new inputs"
    else
        failed=1
        echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} executions; input saved as ${artifacts}*" >&2
        grep -m 1 -A 30 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|fuzz invariant' "$log" >&2 || tail -n 30 "$log" >&2
    fi
done
exit "$failed"
