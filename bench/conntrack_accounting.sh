#!/usr/bin/env bash
# natctl's conntrack accounting at 200k entries, in a private network namespace:
# an event burst read at natctld's default settings (32 MiB buffer: events expected / seen
# / ENOBUFS), then the full-table accounting natctld does on every (re-)dump against
# `conntrack -L > /dev/null` on the same table (median, min, max of RUNS runs each).
#
#   sudo NATCTL_BIN_DIR=build-ct bench/conntrack_accounting.sh [ENTRIES [RUNS]]
#
# Builds nothing: takes $NATCTL_BIN_DIR/bench/conntrack_accounting. Touches nothing
# outside its namespace (the table's entries live in it and go with it). The conntrack
# table size limit is global on this kernel: ENTRIES must fit under the host's
# nf_conntrack_max next to whatever else is tracked.
set -euo pipefail

: "${NATCTL_BIN_DIR:?set NATCTL_BIN_DIR to a build directory}"
ENTRIES=${1:-200000}
RUNS=${2:-5}
BENCH="$NATCTL_BIN_DIR/bench/conntrack_accounting"
[ -x "$BENCH" ] || { echo "$BENCH not built (target conntrack_accounting)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
command -v conntrack >/dev/null || { echo "needs conntrack (Debian package conntrack)" >&2; exit 1; }

NS="ctbench-$$"
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$NS"
# conntrack (and NAT set-up through ctnetlink) is live in a namespace once a nat chain exists
ip netns exec "$NS" nft add table ip ctbench
ip netns exec "$NS" nft add chain ip ctbench post '{ type nat hook postrouting priority 100; }'


echo "machine: nproc $(nproc), kernel $(uname -r), $(conntrack --version 2>&1 | head -n1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: NATCTL_BIN_DIR=$NATCTL_BIN_DIR bench/conntrack_accounting.sh $ENTRIES $RUNS"
ip netns exec "$NS" "$BENCH" --entries "$ENTRIES" --runs "$RUNS"
echo "table: $(ip netns exec "$NS" conntrack -C) entries in the namespace at the end"
