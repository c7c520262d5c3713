#!/usr/bin/env bash
# Smoke test of bench/run: `bench/run --smoke` (tiny sizes, one run, seconds) must produce a
# figure in every section — a row per scenario and no "not measured" cell. It asserts no
# timing at all: benchmarks are not tests. Needs root (network namespaces); skips (77)
# without it or without the binaries.
set -euo pipefail

SRC=${NATCTL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ "$(id -u)" -eq 0 ] || { echo "skip: bench/run needs root"; exit 77; }
: "${NATCTL_BIN_DIR:?set NATCTL_BIN_DIR to a build directory}"
for b in controller/daemon/natctld tests/natctl-apply cli/natctl bench/bench_apply bench/loadgen; do
    [ -x "$NATCTL_BIN_DIR/$b" ] || { echo "skip: $NATCTL_BIN_DIR/$b not built"; exit 77; }
done
for t in nft ip curl conntrack iptables-nft-restore iptables-legacy-restore; do
    command -v "$t" >/dev/null || { echo "skip: $t not installed (scripts/install-deps.sh)"; exit 77; }
done

OUT=$(mktemp /tmp/natctl-bench-smoke.XXXXXX)
trap 'rm -f "$OUT"' EXIT
NATCTL_BIN_DIR="$NATCTL_BIN_DIR" bash "$SRC/bench/run" --smoke --out "$OUT"

fail() { echo "FAIL: $*"; cat "$OUT"; exit 1; }
# rows HEADING: the data rows of the tables (no header, no separator) of the section
# starting with HEADING
rows() {
    awk -v h="### $1" 'index($0, h) == 1 { on = 1; next } /^### / { on = 0 }
        /^\|[-:|]+$/ { data = 1; next } on && data && /^\| / { print; next } { data = 0 }' "$OUT"
}
expect_rows() {  # HEADING COUNT
    local got
    got=$(rows "$1" | wc -l)
    [ "$got" -eq "$2" ] || fail "section \"$1\": $got table rows, expected $2"
    rows "$1" | grep -v '[0-9]' && fail "section \"$1\": a row without a figure"
    return 0
}
grep -q '^Machine: `nproc`' "$OUT" || fail "no machine line"
grep -q '^<!-- bench/run begin -->' "$OUT" && grep -q '^<!-- bench/run end -->' "$OUT" || fail "markers"
grep -n 'not measured' "$OUT" && fail "a figure is missing"
expect_rows "Targets" 19  # 8 of the first issue, 4 established-flow rows (floor ratios), PUT time and peak RSS, 5 edit kinds
expect_rows "1. Cold apply" 4
expect_rows "2. One entry changed" 10
expect_rows "2b. One-entry edits of each kind" 5  # dnat ipmap snat eip-gateway eip-instance
expect_rows "3. Data plane" 6  # the floor: forwarding with conntrack and no rules
expect_rows "5. natctld memory" 2
# natctl's own data-plane rows must have carried connections and packets
for label in "natctl, 1 entry" "natctl, 1k entries"; do
    rows "3. Data plane" | grep -F "| $label" | awk -F'|' '{ exit !($3 ~ /[1-9]/ && $5 ~ /[1-9]/) }' ||
        fail "data plane \"$label\": no connections or packets"
done
echo "PASS: bench/run --smoke produced every section"
