#!/usr/bin/env bash
# natctld end to end over its Unix socket, inside a private gateway namespace: the API's
# write rules (ETag / If-Match, 412, 422, 400, 413), the kernel following the stored model,
# restarts (SIGTERM keeps the data plane, a restart reconciles without flushing), the
# socket file (mode, stale file replaced, a live daemon not taken over), a corrupt state
# refused, SIGHUP re-reading the settings.
source "$(dirname "$0")/lib.sh"

daemon_init
quickstart_topology
QUICKSTART="$NATCTL_SOURCE_DIR/examples/quickstart.json"
VARIANT="$E2E_TMP/variant.json"
write_variant_model "$VARIANT"
echo '{"log_level": "info", "drift_debounce_ms": 100}' >"$DAEMON_DIR/natctld.json"

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
pass "natctld answers on its socket"
check_eq "socket file mode" "660" "$(stat -c %a "$SOCK")"

api GET /v1/config
check_eq "GET /v1/config on a fresh state" "200" "$HTTP_STATUS"
check_eq "ETag of a fresh state" '"0"' "$HTTP_ETAG"
check_eq "start-up created natctl's (empty) table" "0" "$(nsx "$GW" nft list table ip natctl >/dev/null 2>&1; echo $?)"

api PUT /v1/config "$QUICKSTART" -H 'If-Match: "0"'
check_eq "PUT quickstart with If-Match \"0\"" "200" "$HTTP_STATUS"
check_eq "revision of the PUT" "1" "$(json_number revision)"
api GET /v1/config
check_eq "ETag after the PUT" '"1"' "$HTTP_ETAG"
kernel_matches_store "after PUT quickstart"
# the data plane works: the internet reaches web-1 through the DNAT entry
check_eq "DNAT 203.0.113.11:80 reaches web-1, client address kept" "198.51.100.1" \
    "$(peer_of "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)")"

api PUT /v1/config "$VARIANT" -H 'If-Match: "0"'
check_eq "PUT with a stale If-Match" "412" "$HTTP_STATUS"
api GET /v1/config
check_eq "nothing changed after 412" '"1"' "$HTTP_ETAG"

before=$(natctl_kernel)
sed 's/"private_port": "8080"/"private_port": "80\/90"/' "$QUICKSTART" >"$E2E_TMP/invalid.json"
api PUT /v1/config "$E2E_TMP/invalid.json" -H 'If-Match: "1"'
check_eq "PUT an invalid model" "422" "$HTTP_STATUS"
if printf '%s' "$HTTP_BODY" | grep -q 'dnat_entries\[0\].private_port'; then
    pass "the 422 names nat_gateways[0].dnat_entries[0].private_port"
else
    fail "the 422 does not name the private_port: $HTTP_BODY"
fi
printf '{"version": 1, "vpcs": [' >"$E2E_TMP/malformed.json"
api PUT /v1/config "$E2E_TMP/malformed.json"
check_eq "PUT malformed JSON" "400" "$HTTP_STATUS"
head -c $((64 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$E2E_TMP/huge.json"
api PUT /v1/config "$E2E_TMP/huge.json"
check_eq "PUT a body over 64 MiB" "413" "$HTTP_STATUS"
rm -f "$E2E_TMP/huge.json"
api GET /v1/config
check_eq "nothing stored after 422 / 400 / 413" '"1"' "$HTTP_ETAG"
check_same "kernel unchanged after 422 / 400 / 413" "$before" "$(natctl_kernel)"

api PUT "/v1/config?dry_run=1" "$VARIANT" -H 'If-Match: "1"'
check_eq "dry run of the variant" "200" "$HTTP_STATUS"
api GET /v1/config
check_eq "a dry run stores nothing" '"1"' "$HTTP_ETAG"
check_same "kernel unchanged after a dry run" "$before" "$(natctl_kernel)"
api PUT /v1/config "$VARIANT" -H 'If-Match: "1"'
check_eq "PUT the variant" "200" "$HTTP_STATUS"
kernel_matches_store "after PUT variant"
grep -q 'write: uid 0 PUT /v1/config -> 200 revision 2' "$DAEMON_DIR/natctld.log" &&
    pass "the write is logged with the peer uid, method, target, status and revision" ||
    fail "no log line 'write: uid 0 PUT /v1/config -> 200 revision 2'"

# A second daemon on the same socket is refused and leaves the first one alone.
ip netns exec "$GW" "$NATCTLD" --state-dir "$E2E_TMP/other-state" --socket "$SOCK" \
    --config "$DAEMON_DIR/natctld.json" >"$E2E_TMP/second.log" 2>&1
check_eq "a second daemon on a live socket exits 1" "1" "$?"
api GET /v1/status
check_eq "the first daemon still answers" "200" "$HTTP_STATUS"

# SIGHUP: an invalid settings file is refused (the daemon keeps running), a valid one read.
echo '{"log_level": "loud"}' >"$DAEMON_DIR/natctld.json"
kill -HUP "$DAEMON_PID"; sleep 0.3
api GET /v1/status
check_eq "SIGHUP with invalid settings: still serving" "200" "$HTTP_STATUS"
grep -q "SIGHUP: keeping the current settings: .*log_level: unknown level 'loud'" "$DAEMON_DIR/natctld.log" &&
    pass "SIGHUP with invalid settings is refused with the reason" || fail "no refusal logged for log_level loud"
echo '{"log_level": "debug", "drift_debounce_ms": 100}' >"$DAEMON_DIR/natctld.json"
kill -HUP "$DAEMON_PID"; sleep 0.3
grep -q "SIGHUP: settings re-read" "$DAEMON_DIR/natctld.log" && pass "SIGHUP re-reads the settings" ||
    fail "SIGHUP did not re-read the settings"
api GET /v1/config
grep -q '\[debug\] read: GET /v1/config -> 200' "$DAEMON_DIR/natctld.log" &&
    pass "the new log level (debug) is in effect" || fail "debug lines missing after SIGHUP"

# SIGTERM: exit 0, the data plane stays.
before=$(natctl_kernel)
stop_daemon TERM
check_eq "SIGTERM: exit status" "0" "$DAEMON_RC"
check_same "SIGTERM left table, rules, routes and addresses in place" "$before" "$(natctl_kernel)"
check_eq "SIGTERM removed the socket file" "no" "$([ -e "$SOCK" ] && echo yes || echo no)"
check_eq "DNAT still works with the daemon stopped" "198.51.100.1" \
    "$(peer_of "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 81)")"

# Restart: same revision, kernel unchanged (no flush: nothing to do).
start_daemon
wait_ready && pass "restart after SIGTERM" || fail "no restart after SIGTERM"
api GET /v1/config
check_eq "revision kept across the restart" '"2"' "$HTTP_ETAG"
grep -q 'start-up: kernel reconciled to revision 2 (sets +0 -0, chains +0 ~0 -0, elements +0 -0, route ops 0)' \
    "$DAEMON_DIR/natctld.log" && pass "restart changed nothing in the kernel" ||
    fail "restart reconcile was not empty: $(grep 'start-up:' "$DAEMON_DIR/natctld.log" | tail -n1)"
kernel_matches_store "after restart"

# kill -9 leaves a stale socket file: the next start replaces it.
stop_daemon KILL
check_eq "kill -9 leaves the socket file" "yes" "$([ -S "$SOCK" ] && echo yes || echo no)"
start_daemon
wait_ready && pass "a stale socket file is replaced" || fail "no start over a stale socket file"
stop_daemon TERM

# A corrupt state stops the daemon instead of starting empty over it.
snapshot="$DAEMON_DIR/state/snapshot.json"
if [ -f "$snapshot" ]; then
    cp "$snapshot" "$E2E_TMP/snapshot.good"
    printf 'garbage' | dd of="$snapshot" bs=1 seek=0 conv=notrunc 2>/dev/null
    before=$(natctl_kernel)
    start_daemon
    wait "$DAEMON_PID"; rc=$?; DAEMON_PID=""
    check_eq "corrupt state: exit status" "1" "$rc"
    tail -n1 "$DAEMON_DIR/natctld.log" | grep -q "state .*snapshot.json" &&
        pass "corrupt state: the message names the file" || fail "corrupt state: $(tail -n1 "$DAEMON_DIR/natctld.log")"
    check_same "corrupt state: the kernel is untouched" "$before" "$(natctl_kernel)"
    cp "$E2E_TMP/snapshot.good" "$snapshot"
else
    log "note: no snapshot.json yet (only a journal); corrupting the journal instead"
    journal="$DAEMON_DIR/state/journal.log"
    printf 'garbage' | dd of="$journal" bs=1 seek=0 conv=notrunc 2>/dev/null
    start_daemon
    wait "$DAEMON_PID"; rc=$?; DAEMON_PID=""
    check_eq "corrupt state: exit status" "1" "$rc"
fi

e2e_finish
