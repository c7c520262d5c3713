#!/usr/bin/env bash
# bench/put_config.sh — one whole-model write: PUT /v1/config of bench/run's N-entry model
# into a fresh natctld (empty state directory) in a fresh network namespace.
#
#   sudo NATCTL_BIN_DIR=build bench/put_config.sh [N] [LABEL]    (N default 100000)
#
# Prints one line: LABEL, the PUT's wall time (curl), natctld's CPU time across the PUT
# (utime + stime from /proc), its VmHWM and VmRSS after it, the HTTP status and the load
# average. PERF=FILE also records natctld during the PUT (perf, dwarf call graphs) into
# FILE. Runs once: call it K times (interleaving builds) for medians. The namespace is
# n16put-<pid>, its addresses TEST-NET; a trap removes it, the daemon and the state.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${NATCTL_BIN_DIR:?set NATCTL_BIN_DIR to a build directory}
N=${1:-100000}
LABEL=${2:-put}
# bench/run's model generator, so that both measure the same document.
eval "$(sed -n '/^gen_model() {/,/^}/p' "$HERE/run")"

TMP=$(mktemp -d)
NS=n16put-$$
PID=
cleanup() {
    [ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

gen_model "$N" "$TMP/model.json"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add veth-vpc type veth peer name veth-vpc-p
ip -n "$NS" link add veth-wan type veth peer name veth-wan-p
for link in veth-vpc veth-vpc-p veth-wan veth-wan-p; do ip -n "$NS" link set "$link" up; done
ip -n "$NS" addr add 198.51.100.2/24 dev veth-wan
mkdir -p "$TMP/state"
SOCK=$TMP/api.sock
ip netns exec "$NS" "$BIN/controller/daemon/natctld" --state-dir "$TMP/state" --socket "$SOCK" \
    --metrics 127.0.0.1:9469 >"$TMP/natctld.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
    [ -S "$SOCK" ] && curl -s -o /dev/null --unix-socket "$SOCK" http://natctld/v1/status && break
    kill -0 "$PID" 2>/dev/null || { cat "$TMP/natctld.log" >&2; exit 1; }
    sleep 0.05
done

cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$PID/stat"; }
vm() { awk -v k="$1:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$PID/status"; }

PERF_PID=
if [ -n "${PERF:-}" ]; then
    perf record -F 199 --call-graph dwarf,16384 -o "$PERF" -p "$PID" >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.5
fi
c0=$(cpu_ms)
t0=$(date +%s%N)
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -X PUT --unix-socket "$SOCK" \
    -H 'Content-Type: application/json' --data-binary "@$TMP/model.json" http://natctld/v1/config)
t1=$(date +%s%N)
c1=$(cpu_ms)
if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; fi
echo "$LABEL n $N put_ms $(((t1 - t0) / 1000000)) cpu_ms $((c1 - c0)) hwm_mib $(vm VmHWM)" \
    "rss_mib $(vm VmRSS) http $code load $(cut -d' ' -f1 /proc/loadavg)"
[ "$code" = 200 ] || { head -c 300 "$TMP/body" >&2; exit 1; }
