#!/usr/bin/env bash
# End-to-end: the IPv4 gateway lifecycle of Alibaba's IPv4 gateway (issue 14, item 1),
# through natctld and natctl. The quickstart model gets a public IP on app-1 and its own
# route table rt-app for vsw-app (a NAT default route for now).
#   create    `natctl ipv4-gateway create` makes it disabled: the kernel state (nft
#             ruleset, policy rules, routes, addresses) is exactly what it was, and traffic
#             leaves as before
#   activate  refused, naming the route, for a table that has a default route; after
#             that route is deleted, `enable --route-table rt-app` adds 0.0.0.0/0 -> the
#             gateway: app-1 leaves with its public IP, app-2 (no public IP) has no way
#             out, and inbound to the public IP now needs igw-1's gateway route table
#   disable   refused while rt-app points at it
#   status    `natctl status` shows igw-1 Available (disabled) then Active with its route,
#             ngw-demo and its entries Available with the routes that point at it
# Needs root; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/../daemon/lib.sh"

E2E_PREFIX="e14g-$$"
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"
daemon_init
quickstart_topology
APP1=$(inst app-1) APP2=$(inst app-2)
serve "$APP1" tcp 7000
wait_listeners "$NET:4" "$APP1:1"
echo '{"log_level": "info"}' >"$DAEMON_DIR/natctld.json"

python3 - "$NATCTL_SOURCE_DIR/examples/quickstart.json" "$E2E_TMP/model.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
vpc = model["vpcs"][0]
vpc["instances"][1]["public_ip"] = "203.0.113.50"
vpc["vswitches"][1]["route_table"] = "rt-app"
vpc["route_tables"].append({"name": "rt-app", "routes": [
    {"destination": "0.0.0.0/0", "next_hop": {"nat_gateway": "ngw-demo"}}]})
json.dump(model, open(sys.argv[2], "w"))
PY

nctl() { nsx "$GW" "$NATCTL" --socket "$SOCK" "$@"; }
state_without_counters() { gw_state | sed -E 's/counter packets [0-9]+ bytes [0-9]+//'; }
leaves_as() { peer_of "$(tcp_ask "$1" "$2" 192.0.2.1 7000)"; }

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
nctl apply -f "$E2E_TMP/model.json" >"$E2E_TMP/apply.out" 2>&1 &&
    pass "natctl apply: quickstart + app-1 public IP + rt-app" ||
    { fail "natctl apply"; sed 's/^/    /' "$E2E_TMP/apply.out"; e2e_finish; exit 1; }

log "--- create: disabled, traffic untouched"
check_eq "before: app-1 leaves with its public IP (no IPv4 gateway: direct)" "203.0.113.50" "$(leaves_as "$APP1" 10.0.2.10)"
BEFORE=$(state_without_counters)
if nctl ipv4-gateway create igw-1 --vpc vpc-demo --outside-interface veth-wan \
    --upstream 198.51.100.1 >"$E2E_TMP/create.out" 2>&1; then
    pass "natctl ipv4-gateway create igw-1"
else
    fail "natctl ipv4-gateway create"; sed 's/^/    /' "$E2E_TMP/create.out"
fi
api GET /v1/ipv4_gateways/igw-1
check_eq "created disabled" "False" \
    "$(printf '%s' "$HTTP_BODY" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("enabled"))')"
check_same "the kernel state is exactly what it was" "$BEFORE" "$(state_without_counters)"
check_eq "app-1 still leaves with its public IP" "203.0.113.50" "$(leaves_as "$APP1" 10.0.2.10)"
nctl status >"$E2E_TMP/status.txt" 2>&1
grep -Eq '^ipv4_gateway +igw-1 +Available +- +disabled' "$E2E_TMP/status.txt" &&
    pass "natctl status: igw-1 Available (disabled)" || { fail "status of igw-1"; sed 's/^/    /' "$E2E_TMP/status.txt"; }
grep -Eq '^nat_gateway +ngw-demo +Available +rt-nat:0.0.0.0/0, rt-app:0.0.0.0/0' "$E2E_TMP/status.txt" &&
    pass "natctl status: ngw-demo Available with the routes that point at it" || { fail "status of ngw-demo"; sed 's/^/    /' "$E2E_TMP/status.txt"; }
grep -Eq '^dnat_entry +ngw-demo/web-http +Available' "$E2E_TMP/status.txt" &&
    pass "natctl status: the DNAT entry is Available" || fail "status of web-http"
check_eq "app-2 still leaves by SNAT" "203.0.113.10" "$(leaves_as "$APP2" 10.0.2.11)"

log "--- activate with rt-app"
if nctl ipv4-gateway enable igw-1 --route-table rt-app >"$E2E_TMP/enable.out" 2>&1; then
    fail "activation with a default route in rt-app was accepted"
else
    grep -q 'vpcs\[0\].route_tables\[1\].routes\[0\].*already has a default route 0.0.0.0/0 -> nat_gateway ngw-demo' "$E2E_TMP/enable.out" &&
        pass "activation refused, naming rt-app's default route" ||
        { fail "activation refusal does not name the route"; sed 's/^/    /' "$E2E_TMP/enable.out"; }
fi
nctl route delete --vpc vpc-demo --table rt-app --destination 0.0.0.0/0 >/dev/null 2>&1
if nctl ipv4-gateway enable igw-1 --route-table rt-app >"$E2E_TMP/enable.out" 2>&1; then
    pass "natctl ipv4-gateway enable igw-1 --route-table rt-app"
else
    fail "activation"; sed 's/^/    /' "$E2E_TMP/enable.out"
fi
api GET /v1/vpcs/vpc-demo/route_tables/rt-app
check_eq "rt-app has 0.0.0.0/0 -> igw-1" '[{"destination": "0.0.0.0/0", "next_hop": {"ipv4_gateway": "igw-1"}}]' \
    "$(printf '%s' "$HTTP_BODY" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["routes"]))')"
ct_flush
check_eq "app-1 leaves with its public IP through igw-1" "203.0.113.50" "$(leaves_as "$APP1" 10.0.2.10)"
check_eq "app-2 (no public IP) has no way out through igw-1" "" "$(peer_of "$(tcp_ask "$APP2" 10.0.2.11 192.0.2.1 7000 1)")"
# An active IPv4 gateway lets in only what its gateway route table covers: igw-1 was
# created without one, so the public IP is no longer reachable from the outside.
check_eq "internet -> 203.0.113.50:7000 dropped (igw-1's gateway route table covers nothing)" "" \
    "$(tcp_ask "$NET" 198.51.100.1 203.0.113.50 7000 1)"

nctl status >"$E2E_TMP/status.txt" 2>&1
grep -Eq '^ipv4_gateway +igw-1 +Active +rt-app:0.0.0.0/0' "$E2E_TMP/status.txt" &&
    pass "natctl status: igw-1 Active with rt-app's route" || { fail "status of igw-1 after activation"; sed 's/^/    /' "$E2E_TMP/status.txt"; }

log "--- disable refused while rt-app points at it"
if nctl ipv4-gateway disable igw-1 >"$E2E_TMP/disable.out" 2>&1; then
    fail "disable accepted while rt-app points at igw-1"
else
    grep -q 'ipv4 gateway igw-1 is disabled' "$E2E_TMP/disable.out" &&
        pass "disable refused, naming the route" || { fail "disable refusal"; sed 's/^/    /' "$E2E_TMP/disable.out"; }
fi

e2e_finish
