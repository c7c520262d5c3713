#!/usr/bin/env bash
# End-to-end: an EIP associated with an instance (AWS associate-address, Alibaba's EIP on
# an ECS), through natctld and natctl. The quickstart model gets eip-4 (203.0.113.20) on
# app-1: app-1 leaves as eip-4 (egress priority of a public IP, over the vSwitch's SNAT
# entry) and the internet reaches app-1 on every port and by ping through it. Then one
# `natctl eip associate eip-4 --instance app-2` moves it: app-2 leaves and is reached as
# eip-4, app-1 falls back to SNAT, and nothing else is touched: no rule of natctl's table
# is rewritten (same handles) and a flow of web-1's DNAT entry and one of SNAT'd app-2
# keep their conntrack entries. Delete is refused while associated. Needs root; skips
# (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/../daemon/lib.sh"

E2E_PREFIX="e14a-$$"
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"
daemon_init
quickstart_topology
APP1=$(inst app-1) APP2=$(inst app-2)
serve "$APP1" tcp 7000
serve "$APP2" tcp 7000
serve "$APP1" udp 5353 10.0.2.10
wait_listeners "$NET:4" "$APP1:2" "$APP2:1"
echo '{"log_level": "info"}' >"$DAEMON_DIR/natctld.json"
nsx "$GW" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 \
    net.netfilter.nf_conntrack_udp_timeout_stream=600

python3 - "$NATCTL_SOURCE_DIR/examples/quickstart.json" "$E2E_TMP/model.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
model["eips"].append({"name": "eip-4", "address": "203.0.113.20", "instance": "app-1"})
json.dump(model, open(sys.argv[2], "w"))
PY

nctl() { nsx "$GW" "$NATCTL" --socket "$SOCK" "$@"; }
# rule_handles: every rule of natctl's table as "chain handle", sorted
rule_handles() {
    nsx "$GW" nft -j -a list table ip natctl | python3 -c '
import json, sys
for item in json.load(sys.stdin)["nftables"]:
    if "rule" in item: print(item["rule"]["chain"], item["rule"]["handle"])' | sort
}
# ct_has ARGS...: 1 when conntrack in the gateway lists an entry for these filters
ct_has() { nsx "$GW" conntrack -L "$@" 2>/dev/null | grep -c . | awk '{ print ($1 > 0) }'; }

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
if nctl apply -f "$E2E_TMP/model.json" >"$E2E_TMP/apply.out" 2>&1; then
    pass "natctl apply: quickstart with eip-4 associated with app-1"
else
    fail "natctl apply"; sed 's/^/    /' "$E2E_TMP/apply.out"; e2e_finish; exit 1
fi

log "--- eip-4 on app-1"
check_eq "app-1 leaves as eip-4 (tcp)" "203.0.113.20" "$(peer_of "$(tcp_ask "$APP1" 10.0.2.10 192.0.2.1 7000)")"
check_eq "app-1 leaves as eip-4 (udp)" "203.0.113.20" "$(peer_of "$(udp_ask "$APP1" 10.0.2.10 192.0.2.2 7001)")"
check_eq "app-2 leaves by the SNAT entry" "203.0.113.10" "$(peer_of "$(tcp_ask "$APP2" 10.0.2.11 192.0.2.1 7000)")"
check_eq "internet -> eip-4:7000 reaches app-1, client preserved" "198.51.100.1 10.0.2.10 7000" \
    "$(tcp_ask "$NET" 198.51.100.1 203.0.113.20 7000)"
check_eq "internet -> eip-4 udp 5353 reaches app-1" "192.0.2.1 10.0.2.10 5353" \
    "$(udp_ask "$NET" 192.0.2.1 203.0.113.20 5353)"
check_eq "ping eip-4 is answered by app-1 (ttl $((E2E_INSTANCE_TTL - 1)))" "$((E2E_INSTANCE_TTL - 1))" \
    "$(ping_ttl "$NET" 198.51.100.1 203.0.113.20)"
nsx "$GW" ip -4 addr show dev veth-wan | grep -q ' 203.0.113.20/32' &&
    pass "eip-4 is on the outside interface" || fail "eip-4 not on veth-wan"
nctl get eip >"$E2E_TMP/eips.txt" 2>&1
grep -Eq '^eip-4 +203\.0\.113\.20 +- +app-1' "$E2E_TMP/eips.txt" &&
    pass "natctl get eip shows the instance" || { fail "natctl get eip"; sed 's/^/    /' "$E2E_TMP/eips.txt"; }

log "--- other flows before the move: a DNAT flow to web-1 and a SNAT'd flow of app-2"
ct_flush
udp_ask "$APP2" 10.0.2.11 192.0.2.2 7001 >/dev/null
check_eq "web-1 via DNAT answers" "198.51.100.1 10.0.1.10 8080" "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)"
check_eq "app-2's SNAT flow is tracked" "1" "$(ct_has -p udp --orig-src 10.0.2.11)"
check_eq "web-1's DNAT flow is tracked" "1" "$(ct_has -p tcp --orig-dst 203.0.113.11)"
RULES_BEFORE=$(rule_handles)

log "--- natctl eip associate eip-4 --instance app-2 (one call)"
if nctl eip associate eip-4 --instance app-2 >"$E2E_TMP/assoc.out" 2>&1; then
    pass "natctl eip associate eip-4 --instance app-2"
else
    fail "natctl eip associate"; sed 's/^/    /' "$E2E_TMP/assoc.out"
fi
check_same "no rule of natctl's table was rewritten (same chains and handles)" "$RULES_BEFORE" "$(rule_handles)"
check_eq "app-2's SNAT flow is still tracked" "1" "$(ct_has -p udp --orig-src 10.0.2.11 --orig-dst 192.0.2.2)"
check_eq "web-1's DNAT flow is still tracked" "1" "$(ct_has -p tcp --orig-dst 203.0.113.11)"
ct_flush
check_eq "app-2 now leaves as eip-4" "203.0.113.20" "$(peer_of "$(tcp_ask "$APP2" 10.0.2.11 192.0.2.1 7000)")"
check_eq "app-1 falls back to the SNAT entry" "203.0.113.10" "$(peer_of "$(tcp_ask "$APP1" 10.0.2.10 192.0.2.1 7000)")"
check_eq "internet -> eip-4:7000 now reaches app-2" "198.51.100.1 10.0.2.11 7000" \
    "$(tcp_ask "$NET" 198.51.100.1 203.0.113.20 7000)"

log "--- release refused while associated; disassociate"
api DELETE /v1/eips/eip-4
check_eq "DELETE /v1/eips/eip-4 while associated" "409" "$HTTP_STATUS"
if nctl eip disassociate eip-4 --instance >"$E2E_TMP/dis.out" 2>&1; then
    pass "natctl eip disassociate eip-4 --instance"
else
    fail "natctl eip disassociate"; sed 's/^/    /' "$E2E_TMP/dis.out"
fi
ct_flush
check_eq "app-2 back on the SNAT entry" "203.0.113.10" "$(peer_of "$(tcp_ask "$APP2" 10.0.2.11 192.0.2.1 7000)")"
check_eq "internet -> eip-4 reaches nothing" "" "$(tcp_ask "$NET" 198.51.100.1 203.0.113.20 7000 1)"

e2e_finish
