#!/usr/bin/env bash
# Conntrack accounting with real traffic: natctld runs in a private gateway namespace with
# the quickstart model; thousands of UDP flows from app-1 and app-2 are SNAT'd to
# eip-egress. `natctl -o json ports` must count exactly what `conntrack -L` shows in the
# same namespace — per EIP and for the busiest destination tuple — and `natctl sessions`
# must list the flows with their translation. Then natctld restarts with a tiny event
# buffer (conntrack_event_buffer_bytes in natctld's --config): a burst of new flows must be reported as lost
# events (ENOBUFS), and after the re-dump the counts must again equal conntrack's.
# Needs root; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

conntrack_test_init ctacct
APP1=$(inst app-1) APP2=$(inst app-2)
echo '{"log_level": "info"}' >"$DAEMON_DIR/natctld.json"

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
api PUT /v1/config "$NATCTL_SOURCE_DIR/examples/quickstart.json" -H 'If-Match: "0"'
check_eq "PUT quickstart" "200" "$HTTP_STATUS"
# conntrack runs in the gateway namespace now (nat chains exist); unreplied UDP entries
# must outlive the test
nsx "$GW" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 \
    net.netfilter.nf_conntrack_udp_timeout_stream=600
ct_flush

# ports_field PYTHON-EXPR: evaluated on `natctl -o json ports` as `p`
ports_field() {
    nsx "$GW" "$NATCTL" --socket "$SOCK" -o json ports --top 3 |
        python3 -c "import json, sys; p = json.load(sys.stdin); print($1)"
}
eip_sessions() { ports_field "[e['sessions'] for e in p['eips'] if e['name'] == '$1'][0]"; }

# wait_equal WHAT EXPR COMMAND...: until ports_field EXPR equals COMMAND's output (10 s)
wait_equal() {
    local what=$1 expr=$2 want got i
    shift 2
    for i in $(seq 1 100); do
        want=$("$@"); got=$(ports_field "$expr")
        [ -n "$want" ] && [ "$want" = "$got" ] && break
        sleep 0.1
    done
    check_eq "$what (conntrack -L: $want)" "$want" "$got"
}

# ------------------------------------------------------------------------------------
log "--- thousands of SNAT'd UDP flows"
flows "$APP1" 10.0.2.10 192.0.2.1 9001 20000 2000
flows "$APP2" 10.0.2.11 192.0.2.1 9001 20000 700
flows "$APP1" 10.0.2.10 192.0.2.2 9002 30000 800
flows "$APP2" 10.0.2.11 198.51.100.1 9003 30000 300
TOTAL=$(ct_snat_count 203.0.113.10)
[ "$TOTAL" -ge 3700 ] && pass "conntrack holds $TOTAL SNAT'd entries on eip-egress" ||
    fail "conntrack holds $TOTAL SNAT'd entries on eip-egress (3800 sent)"
wait_equal "natctl ports: sessions of eip-egress" \
    "[e['sessions'] for e in p['eips'] if e['name'] == 'eip-egress'][0]" ct_snat_count 203.0.113.10
BUSIEST=$(ct_snat_count 203.0.113.10 192.0.2.1 9001)
check_eq "natctl ports: busiest destination of eip-egress" "192.0.2.1:9001/udp $BUSIEST" \
    "$(ports_field "(lambda d: f\"{d['address']}:{d['port']}/{d['protocol']} {d['sessions']}\")([e for e in p['eips'] if e['name'] == 'eip-egress'][0]['top_destinations'][0])")"
check_eq "natctl ports: utilization = busiest tuple / 55000" \
    "$(python3 -c "print(round($BUSIEST / 55000, 6))")" \
    "$(ports_field "round([e for e in p['eips'] if e['name'] == 'eip-egress'][0]['utilization'], 6)")"
check_eq "natctl ports: eip-web has no sessions" "0" "$(eip_sessions eip-web)"
check_eq "natctl ports: snat-vsw-app counts them all" "$(ct_snat_count 203.0.113.10)" \
    "$(ports_field "[e['sessions'] for e in p['snat_entries'] if e['name'] == 'snat-vsw-app'][0]")"
check_eq "natctl ports: top source" "10.0.2.10" "$(ports_field "p['top_sources'][0]['address']")"
check_eq "natctl ports: events seen, in sync, no loss" "True 0" \
    "$(ports_field "f\"{p['conntrack']['events'] > 3000 and p['conntrack']['in_sync']} {p['conntrack']['enobufs']}\"")"
if nsx "$GW" "$NATCTL" --socket "$SOCK" ports >"$E2E_TMP/ports.txt" 2>&1 &&
    grep -qE '^eip-egress +203\.0\.113\.10 +ngw-demo +[0-9]+' "$E2E_TMP/ports.txt"; then
    pass "natctl ports prints the table"
else
    fail "natctl ports prints the table ($(head -5 "$E2E_TMP/ports.txt"))"
fi

SESS=$(nsx "$GW" "$NATCTL" --socket "$SOCK" -o json sessions --source 10.0.2.11 --destination 198.51.100.1 --limit 5000 |
    python3 -c "
import json, sys
s = json.load(sys.stdin)
ok = all(x['translated']['src'] == '203.0.113.10' and x['original']['dst'] == '198.51.100.1' and x['eip'] == 'eip-egress' for x in s['sessions'])
print(s['matched'], ok)")
check_eq "natctl sessions --source app-2 --destination 198.51.100.1" "300 True" "$SESS"

log "--- flows end: conntrack -D, DESTROY events"
nsx "$GW" conntrack -D -p udp --orig-src 10.0.2.11 >/dev/null 2>&1
wait_equal "after deleting app-2's entries" \
    "[e['sessions'] for e in p['eips'] if e['name'] == 'eip-egress'][0]" ct_snat_count 203.0.113.10

# ------------------------------------------------------------------------------------
log "--- natctld with a 4 KB event buffer: a burst loses events (ENOBUFS), the re-dump converges"
stop_daemon TERM
check_eq "natctld stops on SIGTERM" "0" "$DAEMON_RC"
echo '{"log_level": "info", "conntrack_event_buffer_bytes": 4096}' >"$DAEMON_DIR/natctld.json"
start_daemon
wait_ready || { fail "natctld did not come up again"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
wait_equal "after the restart (first dump)" \
    "[e['sessions'] for e in p['eips'] if e['name'] == 'eip-egress'][0]" ct_snat_count 203.0.113.10
# the daemon reads on its own thread; four senders at once outrun a 4 KB buffer
SENDERS=()
flows "$APP1" 10.0.2.10 192.0.2.2 9004 40000 1500 & SENDERS+=($!)
flows "$APP2" 10.0.2.11 192.0.2.2 9004 40000 1500 & SENDERS+=($!)
flows "$APP1" 10.0.2.10 192.0.2.1 9005 42000 1500 & SENDERS+=($!)
flows "$APP2" 10.0.2.11 192.0.2.1 9005 42000 1500 & SENDERS+=($!)
wait "${SENDERS[@]}"  # only these: the servers of the topology are children too
ENOBUFS=$(ports_field "p['conntrack']['enobufs']")
[ "${ENOBUFS:-0}" -gt 0 ] && pass "lost events were detected (ENOBUFS $ENOBUFS times)" ||
    fail "no ENOBUFS detected with a 4 KB buffer (enobufs: '$ENOBUFS')"
wait_equal "after the burst: sessions of eip-egress" \
    "[e['sessions'] for e in p['eips'] if e['name'] == 'eip-egress'][0]" ct_snat_count 203.0.113.10
wait_equal "after the burst: destination 192.0.2.2:9004" \
    "[d['sessions'] for e in p['eips'] if e['name'] == 'eip-egress' for d in e['top_destinations'] if d['port'] == 9004][0]" \
    ct_snat_count 203.0.113.10 192.0.2.2 9004
grep -q 'conntrack events lost (ENOBUFS' "$DAEMON_DIR/natctld.log" &&
    pass "natctld logs the loss" || fail "natctld logs the loss"

e2e_finish
