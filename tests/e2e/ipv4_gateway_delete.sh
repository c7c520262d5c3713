#!/usr/bin/env bash
# End-to-end: deleting an IPv4 gateway in each mode (issue 14, item 1), with real traffic
# through natctld.
#   public   a VPC with no NAT gateway, app-1 with a public IP, igw-1 enabled with the
#            system route table's default route: app-1 leaves as its public IP and is
#            reachable from the internet; `natctl ipv4-gateway delete --mode public`
#            removes the route and records direct access on the VPC: app-1 still leaves and
#            is reached as its public IP, app-2 (no public IP) still has no way out, and
#            the kernel holds exactly the stored model
#   private  the quickstart (NAT gateway ngw-demo: SNAT for vsw-app, DNAT 203.0.113.11:80
#            -> web-1) plus app-1's public IP and an enabled igw-1 that no route points at:
#            the delete in private mode leaves the VPC with no internet path: no SNAT, no
#            DNAT, no public IP, and a live UDP session through SNAT is gone from conntrack;
#            a new IPv4 gateway, enabled, gives it back
# Needs root; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/../daemon/lib.sh"

E2E_PREFIX="e14d-$$"
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"
daemon_init
quickstart_topology
APP1=$(inst app-1) APP2=$(inst app-2) WEB1=$(inst web-1)
serve "$APP1" tcp 7000
wait_listeners "$NET:4" "$APP1:1"
echo '{"log_level": "info"}' >"$DAEMON_DIR/natctld.json"

# public: no NAT gateway at all; the system route table sends everything to igw-1
python3 - "$NATCTL_SOURCE_DIR/examples/quickstart.json" "$E2E_TMP/public.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
vpc = model["vpcs"][0]
vpc["instances"][1]["public_ip"] = "203.0.113.50"
for vswitch in vpc["vswitches"]:
    vswitch.pop("route_table", None)
vpc.pop("route_tables")
vpc["system_route_table"] = {"routes": [
    {"destination": "0.0.0.0/0", "next_hop": {"ipv4_gateway": "igw-1"}}]}
model.pop("nat_gateways")
model["ipv4_gateways"] = [{"name": "igw-1", "vpc": "vpc-demo", "enabled": True,
                           "outside_interface": "veth-wan", "upstream": "198.51.100.1",
                           "gateway_route_table": [
                               {"destination": "10.0.2.0/24", "next_hop": "local"}]}]
json.dump(model, open(sys.argv[2], "w"))
PY
# private: the quickstart, app-1's public IP, and igw-1 enabled with no route to it
python3 - "$NATCTL_SOURCE_DIR/examples/quickstart.json" "$E2E_TMP/private.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
model["vpcs"][0]["instances"][1]["public_ip"] = "203.0.113.50"
model["ipv4_gateways"] = [{"name": "igw-1", "vpc": "vpc-demo", "enabled": True,
                           "outside_interface": "veth-wan", "upstream": "198.51.100.1",
                           "gateway_route_table": [
                               {"destination": "10.0.1.0/24", "next_hop": "local"},
                               {"destination": "10.0.2.0/24", "next_hop": "local"}]}]
json.dump(model, open(sys.argv[2], "w"))
PY

nctl() { nsx "$GW" "$NATCTL" --socket "$SOCK" "$@"; }
leaves_as() { peer_of "$(tcp_ask "$1" "$2" 192.0.2.1 7000 "${3:-2}")"; }
vpc_internet_access() {
    api GET /v1/vpcs/vpc-demo
    printf '%s' "$HTTP_BODY" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin).get("internet_access")))'
}

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }

log "--- public mode, a VPC without a NAT gateway"
nctl apply -f "$E2E_TMP/public.json" >"$E2E_TMP/apply.out" 2>&1 &&
    pass "natctl apply: app-1 public IP, igw-1 the system table's default, no NAT gateway" ||
    { fail "natctl apply"; sed 's/^/    /' "$E2E_TMP/apply.out"; e2e_finish; exit 1; }
check_eq "app-1 leaves with its public IP through igw-1" "203.0.113.50" "$(leaves_as "$APP1" 10.0.2.10)"
check_eq "internet -> 203.0.113.50:7000 reaches app-1 (igw-1 covers vsw-app)" "198.51.100.1" \
    "$(peer_of "$(tcp_ask "$NET" 198.51.100.1 203.0.113.50 7000)")"
check_eq "app-2 (no public IP) has no way out" "" "$(leaves_as "$APP2" 10.0.2.11 1)"

if nctl ipv4-gateway delete igw-1 --mode public >"$E2E_TMP/delete.out" 2>&1; then
    pass "natctl ipv4-gateway delete igw-1 --mode public"
else
    fail "delete in public mode"; sed 's/^/    /' "$E2E_TMP/delete.out"
fi
grep -q 'public IPs of vpc vpc-demo have direct internet access by veth-wan via 198.51.100.1' "$E2E_TMP/delete.out" &&
    pass "the delete says what the VPC is left with" || { fail "no note on direct access"; sed 's/^/    /' "$E2E_TMP/delete.out"; }
check_eq "the VPC records its direct access" '{"outside_interface": "veth-wan", "upstream": "198.51.100.1"}' "$(vpc_internet_access)"
kernel_matches_store "after the delete in public mode"
ct_flush
check_eq "app-1 leaves with its public IP directly" "203.0.113.50" "$(leaves_as "$APP1" 10.0.2.10)"
check_eq "internet -> 203.0.113.50:7000 reaches app-1 directly" "198.51.100.1" \
    "$(peer_of "$(tcp_ask "$NET" 198.51.100.1 203.0.113.50 7000)")"
check_eq "app-2 (no public IP) still has no way out" "" "$(leaves_as "$APP2" 10.0.2.11 1)"

log "--- private mode"
nctl apply -f "$E2E_TMP/private.json" >"$E2E_TMP/apply.out" 2>&1 &&
    pass "natctl apply: quickstart, app-1 public IP, igw-1 enabled and unrouted" ||
    { fail "natctl apply"; sed 's/^/    /' "$E2E_TMP/apply.out"; e2e_finish; exit 1; }
ct_flush
check_eq "before: app-2 leaves by SNAT" "203.0.113.10" "$(leaves_as "$APP2" 10.0.2.11)"
check_eq "before: DNAT 203.0.113.11:80 reaches web-1" "198.51.100.1" \
    "$(peer_of "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)")"
check_eq "before: app-1 leaves with its public IP" "203.0.113.50" "$(leaves_as "$APP1" 10.0.2.10)"
# a live session through SNAT: a UDP flow conntrack keeps for 30 s
check_eq "before: app-2's UDP flow leaves by SNAT" "203.0.113.10" \
    "$(peer_of "$(udp_ask "$APP2" 10.0.2.11 192.0.2.1 7001)")"
live_udp() { nsx "$GW" conntrack -L -p udp --orig-src 10.0.2.11 2>/dev/null | grep -c 'dport=7001'; }
check_eq "the UDP session is in conntrack" "1" "$(live_udp)"

if nctl ipv4-gateway delete igw-1 --mode private >"$E2E_TMP/delete.out" 2>&1; then
    pass "natctl ipv4-gateway delete igw-1 --mode private"
else
    fail "delete in private mode"; sed 's/^/    /' "$E2E_TMP/delete.out"
fi
check_eq "the VPC is private" '"private"' "$(vpc_internet_access)"
kernel_matches_store "after the delete in private mode"
if gone_ms=$(wait_until 5 test "$(live_udp)" = 0); then
    pass "the live UDP session is deleted from conntrack (${gone_ms} ms)"
else
    fail "the live UDP session is still in conntrack after 5 s"
fi
check_eq "app-2's UDP flow gets no answer" "" "$(peer_of "$(udp_ask "$APP2" 10.0.2.11 192.0.2.1 7001)")"
check_eq "app-2 has no way out (no SNAT)" "" "$(leaves_as "$APP2" 10.0.2.11 1)"
check_eq "app-1 has no way out (public IP included)" "" "$(leaves_as "$APP1" 10.0.2.10 1)"
check_eq "web-1 has no way out" "" "$(leaves_as "$WEB1" 10.0.1.10 1)"
check_eq "internet -> DNAT 203.0.113.11:80 dropped" "" \
    "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80 1)"
check_eq "internet -> 203.0.113.50:7000 dropped" "" \
    "$(tcp_ask "$NET" 198.51.100.1 203.0.113.50 7000 1)"
check_eq "internet -> 10.0.2.10:7000 (no translation) dropped" "" \
    "$(tcp_ask "$NET" 198.51.100.1 10.0.2.10 7000 1)"
dropped=$(nsx "$GW" nft list chain ip natctl forward | grep '@private_vpcs' | grep -o 'packets [0-9]*' | grep -o '[0-9]*')
[ "${dropped:-0}" -gt 0 ] && pass "forward counted the private VPC's drops ($dropped packets)" ||
    fail "the private_vpcs rule in forward counted nothing"

log "--- a new IPv4 gateway, enabled, ends private"
nctl ipv4-gateway create igw-2 --vpc vpc-demo --outside-interface veth-wan --upstream 198.51.100.1 >/dev/null 2>&1
check_eq "created disabled: still private" '"private"' "$(vpc_internet_access)"
if nctl ipv4-gateway enable igw-2 >"$E2E_TMP/enable.out" 2>&1; then
    pass "natctl ipv4-gateway enable igw-2"
else
    fail "enable igw-2"; sed 's/^/    /' "$E2E_TMP/enable.out"
fi
check_eq "the VPC is no longer private" "null" "$(vpc_internet_access)"
kernel_matches_store "after igw-2 is enabled"
ct_flush
check_eq "app-2 leaves by SNAT again" "203.0.113.10" "$(leaves_as "$APP2" 10.0.2.11)"
check_eq "DNAT 203.0.113.11:80 reaches web-1 again" "198.51.100.1" \
    "$(peer_of "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)")"

e2e_finish
