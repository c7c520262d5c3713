#!/usr/bin/env bash
# End-to-end: conntrack hygiene. A UDP flow through a DNAT port mapping keeps its conntrack
# entry, and with it its old translation, for as long as packets flow (kube-proxy's
# stale-UDP lesson). When the mapping moves to another backend, natctl-apply deletes that
# entry - and only that one: an unrelated DNAT flow and an SNAT'd flow keep theirs.
#   conntrack-a.json  udp 203.0.113.10:500 -> 10.0.1.10:5000, :501 -> 10.0.1.10:5001
#   conntrack-b.json  udp 203.0.113.10:500 -> 10.0.1.20:5000 (the rest unchanged)
# Then the same remap through natctld's API, whose purge runs after the answer: the test
# waits for it (a few seconds at most) before it looks.
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

# ------------------------------------------------------------------------------------
log "--- the same remap through natctld's API: the purge follows the answer"
natctld_start --metrics 127.0.0.1:9469
check_eq "natctld answers" "200" "$(api GET /v1/status)"
check_eq "PUT conntrack-a.json through the API" "200" "$(api PUT /v1/config "$MODELS/conntrack-a.json")"
check_eq "flow 4: udp 192.0.2.1:40010 -> 203.0.113.10:500 reaches i1" "10.0.1.10" \
    "$(backend_of "$(udp_from "$NET" 192.0.2.1 40010 203.0.113.10 500)")"
check_eq "flow 4 has a conntrack entry translated to i1" "10.0.1.10" "$(ct_reply_src 192.0.2.1 40010)"
# flow 2 (unrelated to the remap) is kept alive through natctld's data plane
check_eq "flow 2 reaches i1 through natctld's data plane" "10.0.1.10" \
    "$(backend_of "$(udp_from "$NET" 192.0.2.2 40001 203.0.113.10 501)")"

printf '%s\n' '{"name": "game", "eip": "eip-pub", "protocol": "udp", "public_port": "500",
  "private_ip": "10.0.1.20", "private_port": "5000"}' >"$API_DIR/game.json"
check_eq "PUT the game mapping to i2 through the API" "200" \
    "$(api PUT /v1/nat_gateways/ngw-ct/dnat_entries/game "$API_DIR/game.json")"
# py EXPR: EXPR over the last answer's JSON (as `d`), printed as JSON
py() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(json.dumps(eval(sys.argv[2])))' "$API_DIR/body" "$1"; }
check_eq "the answer leaves the purge queued" '"queued" null' \
    "$(py 'd["kernel"]["conntrack_purge"]') $(py 'd["kernel"]["conntrack_removed"]')"
revision=$(py 'd["revision"]')
# Without sending traffic (which would make a new entry): poll until the entry is gone.
for _ in $(seq 1 50); do
    [ -z "$(ct_reply_src 192.0.2.1 40010)" ] && break
    sleep 0.1
done
check_eq "flow 4's entry is gone within 5 s" "" "$(ct_reply_src 192.0.2.1 40010)"
check_eq "flow 2's entry (unrelated mapping) survives the API purge" "10.0.1.10" \
    "$(ct_reply_src 192.0.2.2 40001)"
api GET /v1/status >/dev/null
check_eq "status: the last purge is the write's, one entry removed, no error" \
    "[$revision, 1, null]" \
    "$(py '[d["conntrack_purge"]["last"][k] for k in ("revision", "removed", "error")]')"
check_eq "status: the purge read the conntrack accounting, not a dump" '["tracker", null]' \
    "$(py '[d["conntrack_purge"]["last"][k] for k in ("source", "fallback")]')"
check_eq "flow 4 now reaches the new backend i2" "10.0.1.20" \
    "$(backend_of "$(udp_from "$NET" 192.0.2.1 40010 203.0.113.10 500)")"
check_eq "natctl_conntrack_purge_failures_total is 0" "natctl_conntrack_purge_failures_total 0" \
    "$(nsx "$GW" curl -s http://127.0.0.1:9469/metrics | grep '^natctl_conntrack_purge_failures_total')"

e2e_finish
