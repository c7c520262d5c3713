#!/usr/bin/env bash
# End-to-end: one-entry edits of every kind through natctld's API while a live UDP flow
# through an unrelated DNAT entry keeps flowing on the same conntrack entry:
#   an IP mapping (protocol any) created and deleted, an SNAT entry created and deleted, an
#   EIP associated with and disassociated from the NAT gateway, an EIP associated with and
#   disassociated from an instance.
# After each edit the new translation carries real traffic (or is gone), and the live flow
# still reaches its backend with its conntrack entry intact (not purged, not re-created).
# Model: tests/e2e/models/api-edits.json. Needs root and natctld; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init
NATCTLD="$NATCTL_BIN_DIR/controller/daemon/natctld"
[ -x "$NATCTLD" ] || skip_all "natctld not built ($NATCTLD)"
command -v curl >/dev/null || skip_all "'curl' not installed (scripts/install-deps.sh)"
e2e_topology
add_inside_address 10.0.1.1/24
add_instance i1 10.0.1.10
add_instance i2 10.0.1.20
I1=$(inst i1) I2=$(inst i2)
serve "$I1" udp 5001 10.0.1.10
serve "$I2" udp 5000 10.0.1.20
wait_listeners "$NET:4" "$I1:1" "$I2:1"

# ct_entry SRC SPORT: the gateway's UDP entry with that original source, id and reply source
ct_entry() {
    nsx "$GW" conntrack -L -p udp --orig-src "$1" --sport "$2" -o id 2>/dev/null |
        awk '{ n = 0; id = ""; for (i = 1; i <= NF; i++) { if ($i ~ /^src=/) { n++; if (n == 2) s = substr($i, 5) } if ($i ~ /^id=/) id = substr($i, 4) } print s, id; exit }'
}

body() { printf '%s\n' "$1" >"$API_DIR/req.json"; printf '%s' "$API_DIR/req.json"; }
natctld_start
check_eq "natctld answers" "200" "$(api GET /v1/status)"
check_eq "PUT api-edits.json" "200" "$(api PUT /v1/config "$MODELS/api-edits.json")"
nsx "$GW" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=300 \
    net.netfilter.nf_conntrack_udp_timeout_stream=300

live_flow_id=""
# live_flow WHEN: the live flow (192.0.2.1:40000 -> eip-pub:501 -> i1:5001) still answers,
# on the conntrack entry it had from the start
live_flow() {
    check_eq "live flow reaches i1 $1" "10.0.1.10" \
        "$(backend_of "$(udp_from "$NET" 192.0.2.1 40000 203.0.113.10 501)")"
    local entry
    entry=$(ct_entry 192.0.2.1 40000)
    [ -n "$live_flow_id" ] || live_flow_id=${entry#* }
    check_eq "live flow keeps its conntrack entry $1" "10.0.1.10 $live_flow_id" "$entry"
}
live_flow "at the start"

log "--- IP mapping eip-map (203.0.113.11) <-> i2"
check_eq "POST the IP mapping" "201" "$(api POST /v1/nat_gateways/ngw-ed/dnat_entries \
    "$(body '{"name": "map-i2", "eip": "eip-map", "protocol": "any", "private_ip": "10.0.1.20"}')")"
check_eq "inbound to 203.0.113.11 reaches i2" "10.0.1.20" \
    "$(backend_of "$(udp_ask "$NET" 192.0.2.1 203.0.113.11 5000)")"
check_eq "i2 leaves as 203.0.113.11" "203.0.113.11" "$(peer_of "$(udp_ask "$I2" 10.0.1.20 192.0.2.2 7001)")"
live_flow "after the IP mapping was created"
check_eq "DELETE the IP mapping" "200" "$(api DELETE /v1/nat_gateways/ngw-ed/dnat_entries/map-i2)"
check_eq "inbound to 203.0.113.11 no longer reaches i2" "" \
    "$(udp_ask "$NET" 192.0.2.1 203.0.113.11 5000)"
check_eq "i2 leaves as the SNAT EIP again" "203.0.113.10" \
    "$(peer_of "$(udp_ask "$I2" 10.0.1.20 192.0.2.2 7001)")"
live_flow "after the IP mapping was deleted"

log "--- SNAT entry for i2 on eip-snat2 (203.0.113.12)"
check_eq "POST the SNAT entry" "201" "$(api POST /v1/nat_gateways/ngw-ed/snat_entries \
    "$(body '{"name": "snat-i2", "source": {"cidr": "10.0.1.20/32"}, "eips": ["eip-snat2"]}')")"
check_eq "i2 leaves as 203.0.113.12" "203.0.113.12" "$(peer_of "$(udp_ask "$I2" 10.0.1.20 192.0.2.2 7001)")"
live_flow "after the SNAT entry was created"
check_eq "DELETE the SNAT entry" "200" "$(api DELETE /v1/nat_gateways/ngw-ed/snat_entries/snat-i2)"
check_eq "i2 leaves as the vSwitch's EIP again" "203.0.113.10" \
    "$(peer_of "$(udp_ask "$I2" 10.0.1.20 192.0.2.2 7001)")"
live_flow "after the SNAT entry was deleted"

log "--- eip-spare (203.0.113.13) associated with the NAT gateway"
check_eq "POST the association" "200" "$(api POST /v1/nat_gateways/ngw-ed/eips/eip-spare)"
check_eq "the gateway's outside interface holds 203.0.113.13" "1" \
    "$(nsx "$GW" ip -4 -o addr show dev veth-wan | grep -c ' 203\.0\.113\.13/32 ')"
# The association is usable at once: an IP mapping on it carries traffic.
check_eq "POST an IP mapping on it" "201" "$(api POST /v1/nat_gateways/ngw-ed/dnat_entries \
    "$(body '{"name": "map-spare", "eip": "eip-spare", "protocol": "any", "private_ip": "10.0.1.20"}')")"
check_eq "inbound to 203.0.113.13 reaches i2" "10.0.1.20" \
    "$(backend_of "$(udp_ask "$NET" 192.0.2.1 203.0.113.13 5000)")"
check_eq "DELETE that IP mapping" "200" "$(api DELETE /v1/nat_gateways/ngw-ed/dnat_entries/map-spare)"
live_flow "after the gateway association"
check_eq "DELETE the association" "200" "$(api DELETE /v1/nat_gateways/ngw-ed/eips/eip-spare)"
check_eq "the outside interface no longer holds 203.0.113.13" "0" \
    "$(nsx "$GW" ip -4 -o addr show dev veth-wan | grep -c ' 203\.0\.113\.13/32 ')"
live_flow "after the gateway disassociation"

log "--- eip-inst (203.0.113.14) associated with instance i2"
check_eq "PUT the EIP with instance i2" "200" "$(api PUT /v1/eips/eip-inst \
    "$(body '{"name": "eip-inst", "address": "203.0.113.14", "instance": "i2"}')")"
check_eq "inbound to 203.0.113.14 reaches i2" "10.0.1.20" \
    "$(backend_of "$(udp_ask "$NET" 192.0.2.1 203.0.113.14 5000)")"
check_eq "i2 leaves as 203.0.113.14" "203.0.113.14" "$(peer_of "$(udp_ask "$I2" 10.0.1.20 192.0.2.2 7001)")"
live_flow "after the instance association"
check_eq "PUT the EIP without instance" "200" "$(api PUT /v1/eips/eip-inst \
    "$(body '{"name": "eip-inst", "address": "203.0.113.14"}')")"
check_eq "inbound to 203.0.113.14 no longer reaches i2" "" \
    "$(udp_ask "$NET" 192.0.2.1 203.0.113.14 5000)"
check_eq "i2 leaves as the vSwitch's EIP again" "203.0.113.10" \
    "$(peer_of "$(udp_ask "$I2" 10.0.1.20 192.0.2.2 7001)")"
live_flow "after the instance disassociation"

e2e_finish
