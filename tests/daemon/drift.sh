#!/usr/bin/env bash
# Drift repair: natctld runs in a private gateway namespace; someone changes natctl's
# objects behind its back with nft / ip. Each change must be undone within a second and
# counted in GET /v1/status; changes natctld makes itself (API writes) and changes to
# objects it does not own must not count, and the foreign objects must survive untouched.
source "$(dirname "$0")/lib.sh"

daemon_init
quickstart_topology
VARIANT="$E2E_TMP/variant.json"
write_variant_model "$VARIANT"
echo '{"drift_debounce_ms": 150}' >"$DAEMON_DIR/natctld.json"

# Objects natctl does not own, some of them right next to its own.
nsx "$GW" nft -f - <<'NFT'
table ip foreign {
    set blocked { type ipv4_addr; elements = { 192.0.2.99 } }
    chain forward { type filter hook forward priority 10; policy accept; ip daddr @blocked counter drop; }
}
NFT
nsx "$GW" ip rule add priority 10500 from 10.0.9.0/24 lookup 20001
nsx "$GW" ip route add 192.0.2.0/24 via 198.51.100.1 dev veth-wan table 20001 proto static
nsx "$GW" ip addr add 10.0.9.1/24 dev veth-vpc
foreign_state() {
    nsx "$GW" nft list table ip foreign | strip_counters
    nsx "$GW" ip rule show priority 10500
    nsx "$GW" ip route show table 20001
    nsx "$GW" ip -o -4 addr show dev veth-vpc | grep -F 10.0.9.1/24
}
foreign_before=$(foreign_state)

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
api PUT /v1/config "$NATCTL_SOURCE_DIR/examples/quickstart.json"
check_eq "PUT quickstart" "200" "$HTTP_STATUS"
sleep 0.5  # the notifications of our own write come back and are found to need nothing
kernel_matches_store "after PUT"
check_eq "our own write is not drift" "0" "$(drift_repairs)"

repairs=0
# drift WHAT CHECK-COMMAND CHANGE-COMMAND...: makes the change, waits for CHECK to hold
# again (natctl's object restored), expects one more repair in /v1/status.
drift() {
    local what=$1 check=$2 ms
    shift 2
    if ! nsx "$GW" bash -c "$check" >/dev/null 2>&1; then
        fail "$what: precondition does not hold before the change ($check)"; return
    fi
    nsx "$GW" "$@" || { fail "$what: the change itself failed ($*)"; return; }
    if nsx "$GW" bash -c "$check" >/dev/null 2>&1; then
        fail "$what: the change did not take effect ($*)"; return
    fi
    if ms=$(wait_until 2 nsx "$GW" bash -c "$check"); then
        if [ "$ms" -le 1000 ]; then pass "$what: restored in ${ms} ms"; else fail "$what: restored only after ${ms} ms"; fi
    else
        fail "$what: not restored after ${ms} ms"
    fi
    sleep 0.3  # the repair's own notifications come back: they must not count again
    repairs=$((repairs + 1))
    check_eq "$what: drift_repairs" "$repairs" "$(drift_repairs)"
}

drift "delete a DNAT map element" \
    "nft list map ip natctl dnat_ports | grep -q '203.0.113.11 . tcp . 80 : 10.0.1.10 . 8080'" \
    nft delete element ip natctl dnat_ports '{ 203.0.113.11 . tcp . 80 }'
drift "flush chain postrouting" \
    "nft list chain ip natctl postrouting | grep -q 'vmap @snat_sources'" \
    nft flush chain ip natctl postrouting
drift "delete a rule of chain inbound" \
    "nft -a list chain ip natctl inbound | grep -q 'ip daddr @igw_covered accept'" \
    bash -c 'nft delete rule ip natctl inbound handle $(nft -a list chain ip natctl inbound | sed -n "s/.*@igw_covered accept # handle //p")'
table_id=$(nsx "$GW" ip rule show | sed -n 's/.*from 10.0.1.0\/24 iif veth-vpc lookup \([0-9]*\) proto 147.*/\1/p')
drift "delete natctl's default route of table $table_id" \
    "ip route show table $table_id | grep -q '^default via 198.51.100.1 dev veth-wan proto 147'" \
    ip route del default table "$table_id"
drift "delete natctl's policy rule of vsw-web" \
    "ip rule show | grep -q 'from 10.0.1.0/24 iif veth-vpc lookup $table_id proto 147'" \
    ip rule del priority 10300 from 10.0.1.0/24 iif veth-vpc lookup "$table_id"
drift "delete EIP 203.0.113.10 from veth-wan" \
    "ip -o -4 addr show dev veth-wan | grep -q ' 203.0.113.10/32 '" \
    ip addr del 203.0.113.10/32 dev veth-wan
drift "delete table ip natctl" \
    "nft list map ip natctl dnat_ports | grep -q '203.0.113.11 . tcp . 80'" \
    nft delete table ip natctl
kernel_matches_store "after the repairs"
check_eq "DNAT works after the repairs" "198.51.100.1" \
    "$(peer_of "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)")"
check_eq "SNAT works after the repairs: app-1 leaves as eip-egress" "203.0.113.10" \
    "$(peer_of "$(tcp_ask "$(inst app-1)" 10.0.2.10 192.0.2.1 7000)")"

# Changes natctl makes itself and changes to foreign objects are no drift.
api PUT /v1/config "$VARIANT"
check_eq "PUT the variant" "200" "$HTTP_STATUS"
nsx "$GW" nft add element ip foreign blocked '{ 192.0.2.98 }'
nsx "$GW" ip route add 192.0.2.128/25 via 198.51.100.1 dev veth-wan table 20001 proto static
sleep 0.6
check_eq "API writes and foreign changes are not drift" "$repairs" "$(drift_repairs)"
kernel_matches_store "after PUT variant"
nsx "$GW" nft delete element ip foreign blocked '{ 192.0.2.98 }'
nsx "$GW" ip route del 192.0.2.128/25 table 20001
check_same "foreign table, rule, route and address untouched" "$foreign_before" "$(foreign_state)"
grep -q 'drift: the kernel had drifted from revision 2; repaired' "$DAEMON_DIR/natctld.log" &&
    fail "a repair was logged after the variant" || pass "no repair logged after the variant"

e2e_finish
