#!/usr/bin/env bash
# The main job: builds natctl and natctld, builds a small cloud in network namespaces
# (three instances in a VPC, the gateway host, an internet host), runs natctld inside the
# gateway namespace, configures examples/quickstart.json through its API and shows real
# traffic being translated. Everything lives in namespaces this script creates and removes
# again (also on failure or Ctrl-C); the host's own network is never touched.
#
#   instances (app-1 10.0.2.10, app-2 10.0.2.11, web-1 10.0.1.10)
#       └─ bridge ─ veth-vpc [gateway: natctld] veth-wan ─ internet host 198.51.100.1,
#                                                          servers on 192.0.2.1 / 192.0.2.2
set -uo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces; packages)" >&2; exit 1; }
./scripts/install-deps.sh || exit 1
build_dir=${NATCTL_BUILD_DIR:-build}
echo "== building natctl and natctld in $build_dir"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
cmake --build "$build_dir" -j"$(nproc)" --target natctld natctl natctl-apply >/dev/null || exit 1

export NATCTL_SOURCE_DIR=$PWD NATCTL_BIN_DIR=$PWD/$build_dir
# shellcheck source=../tests/daemon/lib.sh
source tests/daemon/lib.sh
daemon_init
echo "== namespaces: $GW (gateway), $SW (switch), $NET (internet), instances $E2E_PREFIX-*"
quickstart_topology
echo '{"log_level": "info"}' >"$DAEMON_DIR/natctld.json"

echo "== natctld --state-dir $DAEMON_DIR/state --socket $SOCK (inside $GW)"
start_daemon
if ! wait_ready; then
    echo "natctld did not start:"; cat "$DAEMON_DIR/natctld.log"; exit 1
fi
echo "== natctl apply -f examples/quickstart.json"
if ! "$NATCTL_BIN_DIR/cli/natctl" --socket "$SOCK" apply -f examples/quickstart.json | sed 's/^/   /'; then
    echo "natctl apply was refused"; exit 1
fi
wait_listeners "$NET:4" "$(inst web-1):1"

echo
echo "== configured (examples/quickstart.json)"
echo "   EIPs        eip-egress 203.0.113.10, eip-web 203.0.113.11 on veth-wan"
echo "   SNAT        snat-vsw-app: vSwitch vsw-app (10.0.2.0/24) -> eip-egress"
echo "   DNAT        web-http: tcp 203.0.113.11:80 -> web-1 10.0.1.10:8080"
echo "   routes      vsw-web, vsw-app -> rt-nat: 0.0.0.0/0 via ngw-demo"
echo
echo "== observed (the internet host prints the source address it saw)"
ct_flush
check_eq "app-1 tcp -> 192.0.2.1:7000 leaves as the SNAT EIP" "203.0.113.10" \
    "$(peer_of "$(tcp_ask "$(inst app-1)" 10.0.2.10 192.0.2.1 7000)")"
check_eq "app-2 udp -> 192.0.2.2:7001 leaves as the SNAT EIP" "203.0.113.10" \
    "$(peer_of "$(udp_ask "$(inst app-2)" 10.0.2.11 192.0.2.2 7001)")"
if [ -n "$(ping_ttl "$(inst app-1)" 10.0.2.10 198.51.100.1)" ]; then
    check_eq "app-1 ping 198.51.100.1 is translated to the SNAT EIP" "203.0.113.10" \
        "$(icmp_translated 10.0.2.10)"
else
    fail "app-1 ping 198.51.100.1 got no echo reply"
fi
answer=$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)
check_eq "internet tcp -> 203.0.113.11:80 reaches web-1:8080" "10.0.1.10 8080" \
    "$(printf '%s' "$answer" | awk '{print $2, $3}')"
check_eq "  ... and web-1 sees the client's own address" "198.51.100.1" "$(peer_of "$answer")"
check_eq "web-1 (no SNAT entry covers vsw-web) cannot go out on its own" "" \
    "$(peer_of "$(tcp_ask "$(inst web-1)" 10.0.1.10 192.0.2.1 7000 1)")"

echo
echo "== the kernel follows the stored model"
kernel_matches_store "nft table, policy rules, routes and EIPs"
nsx "$GW" nft delete element ip natctl dnat_ports '{ 203.0.113.11 . tcp . 80 }'
if ms=$(wait_until 2 nsx "$GW" bash -c "nft list map ip natctl dnat_ports | grep -q '203.0.113.11 . tcp . 80'"); then
    pass "a DNAT element deleted behind natctld's back is restored in ${ms} ms"
else
    fail "the deleted DNAT element was not restored"
fi
sleep 0.3
check_eq "GET /v1/status counts the drift repair" "1" "$(drift_repairs)"
stop_daemon TERM
check_eq "natctld stops on SIGTERM with exit status 0" "0" "$DAEMON_RC"
check_eq "with natctld stopped, DNAT still works (the data plane stays)" "198.51.100.1" \
    "$(peer_of "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)")"

echo
echo "== natctld's log"
sed 's/^/   /' "$DAEMON_DIR/natctld.log"
echo
e2e_finish
