#!/usr/bin/env bash
# natctld's Prometheus endpoint, inside a private gateway namespace and scraped from inside
# it: GET /metrics answers with the applies, their latency, drift repairs, revision,
# reconcile state, conntrack table use and build info; the text passes `promtool check
# metrics` (scripts/install-deps.sh provides it) and names every series once; other paths 404,
# other methods 405;
# only the address given is bound; an idle scraper does not hold up a stop; a bad or taken
# --metrics address stops the daemon with a clear message and exit status 1.
source "$(dirname "$0")/lib.sh"

daemon_init
quickstart_topology
QUICKSTART="$NATCTL_SOURCE_DIR/examples/quickstart.json"
echo '{"log_level": "info", "drift_debounce_ms": 100}' >"$DAEMON_DIR/natctld.json"
PORT=19469
URL="http://127.0.0.1:$PORT/metrics"
SCRAPE="$E2E_TMP/scrape.txt"

# scrape [URL [CURL ARGS...]]: from inside the gateway namespace; the body in $SCRAPE,
# the status in SCRAPE_STATUS.
SCRAPE_STATUS=""
scrape() {
    local url=${1:-$URL}
    shift 2>/dev/null || true
    SCRAPE_STATUS=$(nsx "$GW" curl -s -m 5 -o "$SCRAPE" -D "$E2E_TMP/scrape.headers" \
        -w '%{http_code}' "$@" "$url" 2>/dev/null)
}

# metric 'NAME{LABELS}': its value in the last scrape (empty when absent)
metric() {
    awk -v name="$1" '$1 == name { print $2; exit }' "$SCRAPE"
}

start_daemon --metrics "127.0.0.1:$PORT"
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
grep -q "metrics on 127.0.0.1:$PORT" "$DAEMON_DIR/natctld.log" &&
    pass "the log says where the metrics are" || fail "no 'metrics on 127.0.0.1:$PORT' in the log"

scrape
check_eq "GET /metrics" "200" "$SCRAPE_STATUS"
grep -qi '^content-type: text/plain; version=0.0.4' "$E2E_TMP/scrape.headers" &&
    pass "Content-Type text/plain; version=0.0.4" ||
    fail "Content-Type: $(grep -i '^content-type' "$E2E_TMP/scrape.headers")"
check_metrics_format "$SCRAPE" "after start-up"
check_eq "the start-up reconcile counts as an apply" "1" "$(metric 'natctl_applies_total{result="ok"}')"
check_eq "no failed apply" "0" "$(metric 'natctl_applies_total{result="error"}')"
check_eq "revision 0" "0" "$(metric natctl_revision)"
check_eq "in sync" "1" "$(metric natctl_reconcile_in_sync)"
check_eq "build info" "1" "$(metric "natctl_build_info{version=\"$("$NATCTL" --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -n1)\"}")"

api PUT /v1/config "$QUICKSTART" -H 'If-Match: "0"'
check_eq "PUT quickstart" "200" "$HTTP_STATUS"
sed 's/"private_port": "8080"/"private_port": "80\/90"/' "$QUICKSTART" >"$E2E_TMP/invalid.json"
api PUT /v1/config "$E2E_TMP/invalid.json" -H 'If-Match: "1"'
check_eq "PUT an invalid model" "422" "$HTTP_STATUS"
api PUT "/v1/config?dry_run=1" "$QUICKSTART" -H 'If-Match: "1"'
check_eq "a dry run" "200" "$HTTP_STATUS"
scrape
check_metrics_format "$SCRAPE" "after an apply"
# the PUT's own kernel notifications may add a (no-op) drift reconcile, also an apply
applies=$(metric 'natctl_applies_total{result="ok"}')
[ "${applies:-0}" -ge 2 ] && pass "the PUT counts as an apply ($applies)" ||
    fail "natctl_applies_total{result=\"ok\"} $applies after the PUT"
check_eq "latency histogram count = applies" "$applies" "$(metric natctl_apply_duration_seconds_count)"
check_eq "latency histogram +Inf bucket" "$applies" \
    "$(metric 'natctl_apply_duration_seconds_bucket{le="+Inf"}')"
check_eq "revision 1" "1" "$(metric natctl_revision)"
check_eq "no drift repair yet" "0" "$(metric natctl_drift_repairs_total)"
check_eq "natctl_conntrack_max = the namespace's nf_conntrack_max" \
    "$(nsx "$GW" cat /proc/sys/net/netfilter/nf_conntrack_max)" "$(metric natctl_conntrack_max)"
[ -n "$(metric natctl_conntrack_entries)" ] && pass "natctl_conntrack_entries present" ||
    fail "no natctl_conntrack_entries"

# conntrack entries are read at scrape time: a session through the DNAT entry shows
tcp_ask "$NET" 198.51.100.1 203.0.113.11 80 >/dev/null
scrape
entries=$(metric natctl_conntrack_entries)
[ "${entries:-0}" -ge 1 ] && pass "conntrack entries counted ($entries)" ||
    fail "natctl_conntrack_entries $entries after a session"

# conntrack accounting series against a known number of SNAT'd flows: 400 UDP flows from
# app-1 to 192.0.2.1:9001 and 100 to 192.0.2.2:9002, all through snat-vsw-app to eip-egress
nsx "$NET" nft add table inet metrics_sink
nsx "$NET" nft add chain inet metrics_sink in '{ type filter hook input priority 0; }'
nsx "$NET" nft add rule inet metrics_sink in udp dport 9000-9099 drop
nsx "$GW" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 \
    net.netfilter.nf_conntrack_udp_timeout_stream=600
nsx "$(inst app-1)" python3 - <<'PY'
import socket
for dst, port, count in (("192.0.2.1", 9001, 400), ("192.0.2.2", 9002, 100)):
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("10.0.2.10", (20000 if port == 9001 else 30000) + i))
        s.sendto(b"x", (dst, port))
        s.close()
PY
EGRESS='eip="eip-egress",gateway="ngw-demo"'
flows_counted() { scrape && [ "$(metric "natctl_eip_sessions{$EGRESS,type=\"snat\"}")" = 500 ]; }
if ms=$(wait_until 10 flows_counted); then
    pass "natctl_eip_sessions eip-egress snat = 500 flows (${ms} ms)"
else
    fail "natctl_eip_sessions eip-egress snat: $(metric "natctl_eip_sessions{$EGRESS,type=\"snat\"}")"
fi
check_metrics_format "$SCRAPE" "with conntrack series"
check_eq "natctl_eip_port_utilization: busiest tuple 400 / budget 55000" \
    "$(python3 -c 'print(round(400 / 55000, 9))')" \
    "$(python3 -c "print(round($(metric "natctl_eip_port_utilization{$EGRESS}"), 9))")"
check_eq "natctl_eip_port_budget" 55000 "$(metric "natctl_eip_port_budget{$EGRESS}")"
check_eq "natctl_entry_sessions snat-vsw-app" 500 \
    "$(metric 'natctl_entry_sessions{gateway="ngw-demo",kind="snat",entry="snat-vsw-app"}')"
new=$(metric 'natctl_eip_new_sessions_total{eip="eip-egress"}')
[ "${new:-0}" -ge 500 ] && pass "natctl_eip_new_sessions_total eip-egress >= 500 ($new)" ||
    fail "natctl_eip_new_sessions_total eip-egress: $new"
new=$(metric 'natctl_entry_new_sessions_total{gateway="ngw-demo",kind="snat",entry="snat-vsw-app"}')
[ "${new:-0}" -ge 500 ] && pass "natctl_entry_new_sessions_total snat-vsw-app >= 500 ($new)" ||
    fail "natctl_entry_new_sessions_total snat-vsw-app: $new"
events=$(metric natctl_conntrack_events_total)
[ "${events:-0}" -ge 500 ] && pass "natctl_conntrack_events_total >= 500 ($events)" ||
    fail "natctl_conntrack_events_total: $events"
check_eq "no events lost" 0 "$(metric natctl_conntrack_enobufs_total)"
check_eq "one dump (the first)" 1 "$(metric natctl_conntrack_resyncs_total)"
check_eq "accounting in sync" 1 "$(metric natctl_conntrack_in_sync)"
check_eq "natctl_eip_sessions eip-web dnat present" 1 \
    "$(grep -c '^natctl_eip_sessions{eip="eip-web",gateway="ngw-demo",type="dnat"}' "$SCRAPE")"
dropped=$(metric 'natctl_session_log_lines_total{result="dropped"}')
[ -n "$dropped" ] && pass "natctl_session_log_lines_total present" || fail "no natctl_session_log_lines_total"

# drift: natctl's table deleted behind its back is repaired and counted
nsx "$GW" nft delete table ip natctl
repaired() { scrape && [ "$(metric natctl_drift_repairs_total)" = 1 ]; }
if ms=$(wait_until 10 repaired); then
    pass "the drift repair is counted (${ms} ms)"
else
    fail "natctl_drift_repairs_total: $(metric natctl_drift_repairs_total)"
fi
# every reconcile is an apply, including the ones the repair's own notifications trigger
applies=$(metric 'natctl_applies_total{result="ok"}')
[ "${applies:-0}" -ge 3 ] && pass "the repair counts as an apply too ($applies)" ||
    fail "natctl_applies_total{result=\"ok\"} $applies after a repair"
check_metrics_format "$SCRAPE" "after a drift repair"

scrape "http://127.0.0.1:$PORT/"
check_eq "GET / is 404" "404" "$SCRAPE_STATUS"
scrape "http://127.0.0.1:$PORT/v1/status"
check_eq "GET /v1/status is 404 (the API is not on this port)" "404" "$SCRAPE_STATUS"
scrape "$URL" -X POST
check_eq "POST /metrics is 405" "405" "$SCRAPE_STATUS"
scrape "$URL?x=1"
check_eq "GET /metrics?x=1" "200" "$SCRAPE_STATUS"

# only the loopback address is bound: the gateway's outside address does not answer
nsx "$NET" curl -s -m 3 -o /dev/null "http://198.51.100.2:$PORT/metrics"
rc=$?
[ "$rc" -ne 0 ] && pass "not reachable on the outside address (curl $rc)" ||
    fail "the metrics answer on the outside address 198.51.100.2"
nsx "$GW" curl -s -m 3 -o /dev/null "http://198.51.100.2:$PORT/metrics"
rc=$?
[ "$rc" -ne 0 ] && pass "not bound to the gateway's other addresses (curl $rc)" ||
    fail "the metrics answer on 198.51.100.2 inside the gateway"

# an idle connection does not hold up a stop
nsx "$GW" socat -u "TCP:127.0.0.1:$PORT" - >/dev/null 2>&1 </dev/null &
idle=$!
sleep 0.3
start=$(date +%s%3N)
stop_daemon TERM
check_eq "SIGTERM with an idle scraper connected: exit status" "0" "$DAEMON_RC"
elapsed=$(($(date +%s%3N) - start))
[ "$elapsed" -lt 3000 ] && pass "stopped in ${elapsed} ms" || fail "stop took ${elapsed} ms"
kill "$idle" 2>/dev/null; wait "$idle" 2>/dev/null

# bad addresses: refused before anything is opened or reconciled
for bad in "nonsense" "localhost:9469" "127.0.0.1:70000" "::1:9469" "10.0.0.300:9469"; do
    before=$(natctl_kernel)
    ip netns exec "$GW" "$NATCTLD" --state-dir "$E2E_TMP/bad-state" --socket "$E2E_TMP/bad.sock" \
        --metrics "$bad" >"$E2E_TMP/bad.log" 2>&1
    rc=$?
    check_eq "--metrics '$bad': exit status" "1" "$rc"
    grep -q -- "--metrics '$bad'" "$E2E_TMP/bad.log" &&
        pass "--metrics '$bad': the message names it" || fail "--metrics '$bad': $(cat "$E2E_TMP/bad.log")"
    check_same "--metrics '$bad': kernel untouched" "$before" "$(natctl_kernel)"
done
[ ! -e "$E2E_TMP/bad-state" ] && pass "no state created for a bad address" ||
    fail "a bad address created the state directory"

# a taken port: the daemon says so and exits 1
nsx "$GW" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr" - >/dev/null 2>&1 </dev/null &
holder=$!
for _ in $(seq 1 50); do nsx "$GW" ss -ltn "sport = :$PORT" | grep -q LISTEN && break; sleep 0.05; done
start_daemon --metrics "127.0.0.1:$PORT"
wait "$DAEMON_PID"; rc=$?; DAEMON_PID=""
check_eq "a taken metrics port: exit status" "1" "$rc"
# (the conntrack worker thread may log its first dump after the message)
grep -q "metrics 127.0.0.1:$PORT: Address already in use" "$DAEMON_DIR/natctld.log" &&
    pass "a taken metrics port: the message says so" ||
    fail "a taken metrics port: $(tail -n3 "$DAEMON_DIR/natctld.log")"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

e2e_finish
