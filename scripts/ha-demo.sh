#!/usr/bin/env bash
# High availability, live: builds natctl and natctld, then runs an active/standby pair in
# network namespaces with the Debian keepalived and conntrackd (docs/HA.md,
# tests/ha/lib.sh):
#
#   clients c1, c2 ── inside bridge ── gw-a (primary) / gw-b (backup) ── outside bridge ── internet host
#   (source port 40000 both)          VIP 10.0.1.1, EIP 203.0.113.10      192.0.2.1 echo server
#
# TCP and UDP flows from both clients (on the same source port) go out through the EIP;
# the primary then fails hard (its links go down, keepalived, conntrackd and natctld get
# kill -9); the backup takes over, commits the synced connections and the flows carry on
# with the same EIP and ports; finally the old primary returns and takes over again.
# Prints a PASS/FAIL line per observation, `natctl ha status` of the new primary, and the
# longest gap of every flow. Everything lives in namespaces it creates and removes again
# (also on failure or Ctrl-C); the host's own network is never touched.
#
#   sudo ./scripts/ha-demo.sh        (HA_KEEP_LOGS=1 keeps the nodes' logs in /tmp)
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "ha-demo: needs root (network namespaces; packages)" >&2; exit 1; }
./scripts/install-deps.sh || exit 1
build_dir=${NATCTL_BUILD_DIR:-build}
echo "== building natctl and natctld in $build_dir"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
cmake --build "$build_dir" -j"$(nproc)" --target natctld natctl >/dev/null || exit 1
export NATCTL_SOURCE_DIR=$PWD NATCTL_BIN_DIR=$PWD/$build_dir
echo "== the pair: keepalived $(keepalived --version 2>&1 | head -n1 | awk '{print $2}'), conntrackd $(conntrackd -v 2>&1 | grep -oE 'v[0-9]+(\.[0-9]+)+' | head -n1), natctld on examples/ha/model.json"
exec bash tests/ha/failover.sh
