#!/usr/bin/env bash
# The NAT session log with real traffic: natctld in a private gateway namespace with the
# quickstart model, ngw-demo's session_log "all" and natctld's session_log going to a small
# rotated file (64 KiB, keep 20). UDP flows through the SNAT entry give one "start" line
# each (gateway, entry, original and translated tuples); deleting them gives one "end" line
# each with packet and byte counters (nf_conntrack_acct=1 in the namespace); a DNAT session
# is logged with its DNAT entry. A hand-written rule logs to NFLOG group 20052 with
# natctl's refusal prefix ("natctl budget <realm of ngw-demo> snat-vsw-app"): each packet
# becomes a "refused" line, counted in natctl_refused_connections_total. With session_log
# "errors" only refusals are logged. The file rotates (whole lines, every file under the
# limit), SIGHUP reopens it. Needs root; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

conntrack_test_init ctslog
APP1=$(inst app-1)
LOGFILE="$DAEMON_DIR/log/sessions.jsonl"
cat >"$DAEMON_DIR/natctld.json" <<JSON
{"log_level": "info", "session_log": {"path": "$LOGFILE", "max_bytes": 65536, "keep": 20}}
JSON
PORT=19471
# model: quickstart with ngw-demo's session log MODE
model_with() {
    python3 - "$NATCTL_SOURCE_DIR/examples/quickstart.json" "$1" >"$E2E_TMP/model-$1.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["nat_gateways"][0]["session_log"] = sys.argv[2]
print(json.dumps(m))
PY
    printf '%s' "$E2E_TMP/model-$1.json"
}

# lines PYTHON-CONDITION: log lines (all files) for which the condition on `l` holds
lines() {
    cat "$LOGFILE".* "$LOGFILE" 2>/dev/null |
        python3 -c "
import json, sys
n = 0
for text in sys.stdin:
    l = json.loads(text)
    if $1: n += 1
print(n)"
}
# wait_lines WHAT WANT CONDITION: until that many lines match (10 s)
wait_lines() {
    local got i
    for i in $(seq 1 100); do
        got=$(lines "$3")
        [ "$got" = "$2" ] && break
        sleep 0.1
    done
    check_eq "$1" "$2" "$got"
}
metric() {
    nsx "$GW" curl -s -m 5 "http://127.0.0.1:$PORT/metrics" | awk -v name="$1" '$1 == name { print $2; exit }'
}

start_daemon --metrics "127.0.0.1:$PORT"
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
api PUT /v1/config "$(model_with all)" -H 'If-Match: "0"'
check_eq "PUT quickstart with session_log all" "200" "$HTTP_STATUS"
nsx "$GW" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 \
    net.netfilter.nf_conntrack_udp_timeout_stream=600 net.netfilter.nf_conntrack_acct=1
ct_flush
sleep 0.5 # the session log takes up a new model within 100 ms

log "--- SNAT flows: start lines"
flows "$APP1" 10.0.2.10 192.0.2.1 9001 20000 300
wait_lines "300 start lines for app-1's flows" 300 \
    "l['event'] == 'start' and l['original']['src'] == '10.0.2.10' and l['original']['dport'] == 9001"
check_eq "each names gateway, entry, EIP and translation" 300 "$(lines "l['event'] == 'start' and l['original']['dport'] == 9001 and l['gateway'] == 'ngw-demo' and l['entry'] == 'snat-vsw-app' and l['eip'] == 'eip-egress' and l['type'] == 'snat' and l['protocol'] == 'udp' and l['translated']['src'] == '203.0.113.10' and l['translated']['dst'] == '192.0.2.1' and l['time'].endswith('Z')")"

log "--- a DNAT session"
tcp_ask "$NET" 198.51.100.1 203.0.113.11 80 >/dev/null
wait_lines "the DNAT session's start line names web-http" 1 \
    "l['event'] == 'start' and l.get('entry') == 'web-http' and l['type'] == 'dnat' and l['translated']['dst'] == '10.0.1.10' and l['translated']['dport'] == 8080"

log "--- flows end: end lines with counters"
nsx "$GW" conntrack -D -p udp --orig-src 10.0.2.10 --orig-port-dst 9001 >/dev/null 2>&1
wait_lines "300 end lines" 300 "l['event'] == 'end' and l['original']['dport'] == 9001"
check_eq "end lines carry packets and bytes (nf_conntrack_acct=1)" 300 \
    "$(lines "l['event'] == 'end' and l['original']['dport'] == 9001 and l['packets']['original'] == 1 and l['bytes']['original'] > 0 and l['packets']['reply'] == 0")"

log "--- refusals (NFLOG group 20052, natctl's prefix)"
REALM=$(nsx "$GW" ip route show table all | awk '/dev veth-wan/ && /realm/ { for (i = 1; i < NF; i++) if ($i == "realm") { print $(i + 1); exit } }')
[ -n "$REALM" ] && pass "ngw-demo's realm: $REALM" || fail "no realm on ngw-demo's routes"
nsx "$GW" nft add table ip ctslog_refuse
nsx "$GW" nft add chain ip ctslog_refuse refusals '{ type filter hook forward priority -10; }'
nsx "$GW" nft add rule ip ctslog_refuse refusals udp dport 9999 \
    log group 20052 prefix "\"natctl budget $REALM snat-vsw-app\"" drop
flows "$APP1" 10.0.2.10 192.0.2.1 9999 21000 5
wait_lines "5 refused lines" 5 \
    "l['event'] == 'refused' and l['gateway'] == 'ngw-demo' and l['reason'] == 'budget' and l['entry'] == 'snat-vsw-app' and l['realm'] == $REALM and l['original']['src'] == '10.0.2.10' and l['original']['dport'] == 9999 and l['protocol'] == 'udp'"
check_eq "natctl_refused_connections_total" 5 \
    "$(metric 'natctl_refused_connections_total{gateway="ngw-demo",reason="budget"}')"
new=$(metric 'natctl_entry_new_sessions_total{gateway="ngw-demo",kind="snat",entry="snat-vsw-app"}')
[ "${new:-0}" -ge 300 ] && pass "natctl_entry_new_sessions_total snat-vsw-app: $new" ||
    fail "natctl_entry_new_sessions_total snat-vsw-app: $new"
written=$(metric 'natctl_session_log_lines_total{result="written"}')
check_eq "lines written = lines in the files" "$(lines True)" "$written"
check_eq "no line dropped" 0 "$(metric 'natctl_session_log_lines_total{result="dropped"}')"

log "--- rotation"
files=$(ls "$LOGFILE".* 2>/dev/null | wc -l)
[ "$files" -ge 2 ] && pass "rotated into $files older files" || fail "rotated files: $files"
big=$(find "$DAEMON_DIR/log" -name 'sessions.jsonl*' -size +64k | wc -l)
check_eq "no file above max_bytes" 0 "$big"

log "--- session_log errors: refusals only"
api PUT /v1/config "$(model_with errors)" -H 'If-Match: "1"'
check_eq "PUT with session_log errors" "200" "$HTTP_STATUS"
sleep 0.5
flows "$APP1" 10.0.2.10 192.0.2.1 9002 22000 20
flows "$APP1" 10.0.2.10 192.0.2.1 9999 22100 3
wait_lines "errors: refused lines still written" 8 "l['event'] == 'refused'"
check_eq "errors: no start line for new flows" 0 "$(lines "l['event'] == 'start' and l['original']['dport'] == 9002")"

log "--- SIGHUP reopens the file"
mv "$LOGFILE" "$LOGFILE.moved"
kill -HUP "$DAEMON_PID"
sleep 0.3
flows "$APP1" 10.0.2.10 192.0.2.1 9999 22200 2
for _ in $(seq 1 50); do [ -s "$LOGFILE" ] && break; sleep 0.1; done
check_eq "after SIGHUP the lines go to a new $LOGFILE" 2 "$(grep -c '"refused"' "$LOGFILE" 2>/dev/null)"

stop_daemon TERM
check_eq "natctld stops on SIGTERM" "0" "$DAEMON_RC"
e2e_finish
