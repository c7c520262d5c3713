#!/usr/bin/env bash
# End-to-end: routing and policy, with real traffic between namespaces.
#   route-tables  least-privilege destination routes, the implicit default route of the
#                 system route table, a blackhole table, and the return path of DNAT'd
#                 connections under such tables
#   ipv4-gateway  instance with a public IP goes out with it and is reachable on it;
#                 inbound coverage of the gateway route table; DNAT unaffected
#   lifecycle     re-applying changes nothing (real applier only), a foreign table
#                 survives every apply, an invalid model changes nothing
# Needs root; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init
e2e_topology
add_inside_address 10.0.1.1/24
add_inside_address 10.0.2.1/24
add_inside_address 10.0.3.1/24
add_instance i1 10.0.1.10
add_instance i3 10.0.2.10
add_instance i4 10.0.2.200
add_instance i5 10.0.3.10
I1=$(inst i1) I3=$(inst i3) I4=$(inst i4) I5=$(inst i5)
for ns in "$I1" "$I3" "$I4" "$I5"; do serve "$ns" tcp 7000; serve "$ns" tcp 8080; done
wait_listeners "$NET:4" "$I1:2" "$I3:2" "$I4:2" "$I5:2"

# The admin's own table, there before natctl: it must survive every operation.
nsx "$GW" nft -f - <<'EOF'
table inet admin {
    chain c {
        type filter hook forward priority 10; policy accept;
        counter
    }
}
EOF
foreign_check() {
    if nsx "$GW" nft list chain inet admin c 2>/dev/null | grep -q 'counter packets'; then
        pass "foreign table inet admin survives $1"
    else
        fail "foreign table inet admin (chain c with its counter) gone after $1"
    fi
}

# ------------------------------------------------------------------------------------
if apply_scenario "route tables" "$MODELS/route-tables.json"; then
    foreign_check "apply route-tables.json"
    check_eq "least privilege: 10.0.1.10 -> 192.0.2.1/32 (routed) leaves as" "203.0.113.10" \
        "$(peer_of "$(tcp_ask "$I1" 10.0.1.10 192.0.2.1 7000)")"
    check_eq "least privilege: 10.0.1.10 -> 192.0.2.2 (no route) unreachable" "" \
        "$(tcp_ask "$I1" 10.0.1.10 192.0.2.2 7000 1)"
    check_eq "least privilege: 10.0.1.10 -> 198.51.100.1 (no route) unreachable" "" \
        "$(tcp_ask "$I1" 10.0.1.10 198.51.100.1 7000 1)"
    check_eq "least privilege: ping 10.0.1.10 -> 192.0.2.2 unanswered" "" "$(ping_ttl "$I1" 10.0.1.10 192.0.2.2)"
    check_eq "system route table (implicit default): 10.0.2.10 -> 192.0.2.2 leaves as" "203.0.113.10" \
        "$(peer_of "$(tcp_ask "$I3" 10.0.2.10 192.0.2.2 7000)")"
    check_eq "system route table (implicit default): udp 10.0.2.10 -> 198.51.100.1 leaves as" "203.0.113.10" \
        "$(peer_of "$(udp_ask "$I3" 10.0.2.10 198.51.100.1 7001)")"
    check_eq "blackhole default: 10.0.3.10 -> 192.0.2.1 unreachable" "" \
        "$(tcp_ask "$I5" 10.0.3.10 192.0.2.1 7000 1)"
    check_eq "return path: 192.0.2.2 -> 203.0.113.11:80 (DNAT into the least-privilege vSwitch) answered" \
        "192.0.2.2 10.0.1.10 8080" "$(tcp_ask "$NET" 192.0.2.2 203.0.113.11 80)"
    check_eq "return path: 198.51.100.1 -> 203.0.113.11:80 answered" \
        "198.51.100.1 10.0.1.10 8080" "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)"
    check_eq "return path: 192.0.2.1 -> 203.0.113.11:81 (DNAT into the blackholed vSwitch) answered" \
        "192.0.2.1 10.0.3.10 8080" "$(tcp_ask "$NET" 192.0.2.1 203.0.113.11 81)"
fi

# ------------------------------------------------------------------------------------
if apply_scenario "IPv4 gateway" "$MODELS/ipv4-gateway.json"; then
    foreign_check "apply ipv4-gateway.json"
    egress_check "IPv4 gateway: instance with a public IP" "$I3" 10.0.2.10 203.0.113.50
    check_eq "IPv4 gateway: 198.51.100.1 -> public IP 203.0.113.50:7000 reaches i3" \
        "198.51.100.1 10.0.2.10 7000" "$(tcp_ask "$NET" 198.51.100.1 203.0.113.50 7000)"
    check_eq "IPv4 gateway: ping public IP 203.0.113.50 answered by the instance" \
        "$((E2E_INSTANCE_TTL - 1))" "$(ping_ttl "$NET" 198.51.100.1 203.0.113.50)"
    check_eq "IPv4 gateway: 10.0.2.200 (no public IP, routed to the IPv4 gateway) cannot go out" "" \
        "$(tcp_ask "$I4" 10.0.2.200 192.0.2.1 7000 1)"
    check_eq "inbound policy: 198.51.100.1 -> 10.0.2.200:7000 (covered, local) delivered" \
        "198.51.100.1 10.0.2.200 7000" "$(tcp_ask "$NET" 198.51.100.1 10.0.2.200 7000)"
    check_eq "inbound policy: 192.0.2.1 -> 10.0.3.10:7000 (not covered) dropped" "" \
        "$(tcp_ask "$NET" 192.0.2.1 10.0.3.10 7000 1)"
    check_eq "inbound policy: 198.51.100.1 -> 10.0.1.10:7000 (not covered) dropped" "" \
        "$(tcp_ask "$NET" 198.51.100.1 10.0.1.10 7000 1)"
    check_eq "inbound policy: NAT gateway DNAT 203.0.113.10:80 -> 10.0.3.10:8080 (uncovered vSwitch) still works" \
        "192.0.2.2 10.0.3.10 8080" "$(tcp_ask "$NET" 192.0.2.2 203.0.113.10 80)"
    check_eq "IPv4 gateway: SNAT of vsw-a unaffected, 10.0.1.10 leaves as" "203.0.113.10" \
        "$(peer_of "$(tcp_ask "$I1" 10.0.1.10 192.0.2.2 7000)")"
fi

# ------------------------------------------------------------------------------------
log "--- lifecycle"
before="$E2E_TMP/state.before" after="$E2E_TMP/state.after"
if [ "$E2E_APPLIER" = real ]; then
    gw_state >"$before"
    if apply_model "$MODELS/ipv4-gateway.json"; then
        gw_state >"$after"
        if diff -u "$before" "$after" >"$E2E_TMP/state.diff"; then
            pass "re-applying ipv4-gateway.json changes nothing (nft ruleset, ip rule, routes, addresses)"
        else
            fail "re-applying ipv4-gateway.json changed the kernel state:"
            sed 's/^/    /' "$E2E_TMP/state.diff"
        fi
    else
        fail "re-apply ipv4-gateway.json failed"
    fi
else
    log "SKIP: re-apply idempotence needs the real applier (the stand-in deletes and re-creates everything)"
fi
foreign_check "re-apply"

# Declarative: after route-tables.json then ipv4-gateway.json nothing of the first model
# is left — the kernel holds exactly what a render of the second model lists.
if [ "$E2E_APPLIER" = real ] && [ -x "$NATCTL" ]; then
    "$NATCTL" render -f "$MODELS/ipv4-gateway.json" >"$E2E_TMP/igw.render" 2>/dev/null
    check_eq "no leftovers: natctl's ip rules (priority 10000-10999) = rendered ip rules" \
        "$(grep -c '^# ip rule add' "$E2E_TMP/igw.render")" \
        "$(nsx "$GW" ip rule show | awk -F: '$1 >= 10000 && $1 <= 10999' | wc -l)"
    check_eq "no leftovers: natctl's routes (proto 147) = rendered routes" \
        "$(grep -c '^# ip route add' "$E2E_TMP/igw.render")" \
        "$(nsx "$GW" ip -N route show table all | grep -c ' proto 147 ')"
    check_eq "no leftovers: addresses on veth-wan besides 198.51.100.2 = rendered addresses" \
        "$(grep -c '^# ip address add' "$E2E_TMP/igw.render")" \
        "$(nsx "$GW" ip -o -4 addr show dev veth-wan | grep -vc ' 198\.51\.100\.2/24 ')"
    check_eq "no leftovers: EIP 203.0.113.11 of the previous model gone from the nft ruleset" "0" \
        "$(nsx "$GW" nft list ruleset | grep -c '203\.0\.113\.11\b')"
    check_eq "no leftovers: the 192.0.2.1/32 and blackhole routes of the previous model are gone" "" \
        "$(nsx "$GW" ip route show table all | grep -E '^(192\.0\.2\.1 |blackhole )')"
else
    log "SKIP: leftovers after a model change need the real applier (the stand-in deletes what it added)"
fi

gw_state >"$before"
if apply_model "$MODELS/invalid.json" >"$E2E_TMP/invalid.out" 2>&1; then
    fail "invalid model (private_port range length 12 vs 11) was accepted"
    sed 's/^/    /' "$E2E_TMP/invalid.out"
else
    pass "invalid model refused"
    if grep -q 'private_port' "$E2E_TMP/invalid.out"; then
        pass "the refusal names nat_gateways[0].dnat_entries[0].private_port"
    else
        fail "the refusal does not name private_port:"
        sed 's/^/    /' "$E2E_TMP/invalid.out"
    fi
fi
gw_state >"$after"
if diff -u "$before" "$after" >"$E2E_TMP/state.diff"; then
    pass "invalid model changed nothing (nft ruleset, ip rule, routes, addresses)"
else
    fail "invalid model changed the kernel state:"
    sed 's/^/    /' "$E2E_TMP/state.diff"
fi
foreign_check "an invalid apply"
check_eq "after the refused model, DNAT 203.0.113.10:80 still answers" \
    "198.51.100.1 10.0.3.10 8080" "$(tcp_ask "$NET" 198.51.100.1 203.0.113.10 80)"

e2e_finish
