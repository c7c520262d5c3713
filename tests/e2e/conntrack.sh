#!/usr/bin/env bash
# End-to-end: conntrack hygiene. A UDP flow through a DNAT port mapping keeps its conntrack
# entry, and with it its old translation, for as long as packets flow (kube-proxy's
# stale-UDP lesson). When the mapping moves to another backend, natctl-apply deletes that
# entry - and only that one: an unrelated DNAT flow and an SNAT'd flow keep theirs.
#   conntrack-a.json  udp 203.0.113.10:500 -> 10.0.1.10:5000, :501 -> 10.0.1.10:5001
#   conntrack-b.json  udp 203.0.113.10:500 -> 10.0.1.20:5000 (the rest unchanged)
# Needs root and the real applier (the stand-in cannot delete conntrack entries); skips (77)
# otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init
[ "$E2E_APPLIER" = real ] || skip_all "conntrack hygiene needs the real applier (natctl-apply)"
e2e_topology
add_inside_address 10.0.1.1/24
add_instance i1 10.0.1.10
add_instance i2 10.0.1.20
I1=$(inst i1) I2=$(inst i2)

serve "$I1" udp 5000 10.0.1.10
serve "$I1" udp 5001 10.0.1.10
serve "$I2" udp 5000 10.0.1.20
wait_listeners "$NET:4" "$I1:2" "$I2:1"

# udp_from NS SRC SPORT DST PORT: like udp_ask, from a fixed source port, so that every
# call is the same connection for conntrack
udp_from() {
    echo x | timeout 3 ip netns exec "$1" socat -t1 -T1 - "UDP:$4:$5,bind=$2:$3" 2>/dev/null | head -n1
}
# second word of the answer = the backend address the datagram arrived on
backend_of() { local rest=${1#* }; printf '%s' "${rest%% *}"; }

# ct_reply_src SRC SPORT: the reply source (the translated destination) of the gateway's UDP
# entry with that original source; empty when there is none
ct_reply_src() {
    nsx "$GW" conntrack -L -p udp --orig-src "$1" --sport "$2" 2>/dev/null |
        awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^src=/) { n++; if (n == 2) { sub(/^src=/, "", $i); print $i; exit } } }'
}
# ct_reply_dst SRC SPORT: the reply destination (the translated source)
ct_reply_dst() {
    nsx "$GW" conntrack -L -p udp --orig-src "$1" --sport "$2" 2>/dev/null |
        awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^dst=/) { n++; if (n == 2) { sub(/^dst=/, "", $i); print $i; exit } } }'
}

apply_out() { cat "$E2E_TMP/apply.out"; }

# ------------------------------------------------------------------------------------
if ! apply_scenario "UDP port mappings to i1" "$MODELS/conntrack-a.json"; then
    e2e_finish
    exit
fi
# conntrack is active in the gateway namespace now; keep UDP entries well beyond the test
nsx "$GW" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=300 \
    net.netfilter.nf_conntrack_udp_timeout_stream=300

check_eq "flow 1: udp 192.0.2.1:40000 -> 203.0.113.10:500 reaches i1" "10.0.1.10" \
    "$(backend_of "$(udp_from "$NET" 192.0.2.1 40000 203.0.113.10 500)")"
check_eq "flow 2: udp 192.0.2.2:40001 -> 203.0.113.10:501 reaches i1" "10.0.1.10" \
    "$(backend_of "$(udp_from "$NET" 192.0.2.2 40001 203.0.113.10 501)")"
check_eq "flow 3: udp 10.0.1.10:41000 -> 192.0.2.2:7001 leaves as the EIP" "203.0.113.10" \
    "$(peer_of "$(udp_from "$I1" 10.0.1.10 41000 192.0.2.2 7001)")"
check_eq "flow 1 has a conntrack entry translated to i1" "10.0.1.10" "$(ct_reply_src 192.0.2.1 40000)"

# ------------------------------------------------------------------------------------
log "--- the mapping of port 500 moves to i2 (conntrack-b.json), conntrack left alone first"
if nsx "$GW" "$NATCTL_APPLY" --keep-conntrack -f "$MODELS/conntrack-b.json" >"$E2E_TMP/apply.out" 2>&1; then
    pass "apply conntrack-b.json --keep-conntrack"
else
    fail "apply conntrack-b.json --keep-conntrack ($(apply_out))"
fi
# the reason for the hygiene: the old entry keeps the old translation
check_eq "without hygiene, flow 1 still reaches the old backend i1" "10.0.1.10" \
    "$(backend_of "$(udp_from "$NET" 192.0.2.1 40000 203.0.113.10 500)")"

log "--- the same model again, with conntrack hygiene"
if apply_model "$MODELS/conntrack-b.json"; then
    pass "apply conntrack-b.json"
else
    fail "apply conntrack-b.json"
fi
check_eq "natctl-apply reports the stale entry" "conntrack: 1 stale entries removed" \
    "$(grep '^conntrack:' "$E2E_TMP/apply.out")"
check_eq "flow 1's entry is gone" "" "$(ct_reply_src 192.0.2.1 40000)"
check_eq "flow 2's entry (unrelated mapping) survives" "10.0.1.10" "$(ct_reply_src 192.0.2.2 40001)"
check_eq "flow 3's entry (SNAT) survives" "203.0.113.10" "$(ct_reply_dst 10.0.1.10 41000)"

check_eq "flow 1 now reaches the new backend i2" "10.0.1.20" \
    "$(backend_of "$(udp_from "$NET" 192.0.2.1 40000 203.0.113.10 500)")"
check_eq "flow 1's new entry is translated to i2" "10.0.1.20" "$(ct_reply_src 192.0.2.1 40000)"
check_eq "flow 2 still reaches i1" "10.0.1.10" \
    "$(backend_of "$(udp_from "$NET" 192.0.2.2 40001 203.0.113.10 501)")"

log "--- applying the same model once more deletes nothing"
if apply_model "$MODELS/conntrack-b.json"; then
    check_eq "natctl-apply finds no stale entry" "conntrack: 0 stale entries removed" \
        "$(grep '^conntrack:' "$E2E_TMP/apply.out")"
else
    fail "re-apply conntrack-b.json"
fi
check_eq "flow 1's entry survives the re-apply" "10.0.1.20" "$(ct_reply_src 192.0.2.1 40000)"
check_eq "flow 2's entry survives the re-apply" "10.0.1.10" "$(ct_reply_src 192.0.2.2 40001)"

e2e_finish
