#!/usr/bin/env bash
# kill -9 at random points of an apply, 50 rounds. After every restart the kernel holds
# exactly the stored model (nothing missing, duplicated or orphaned), no acknowledged write
# is lost, and an established TCP session through the gateway (app-1 -> the internet host,
# SNAT'd to eip-egress) keeps working: restarts reconcile with minimal diffs, never a flush.
source "$(dirname "$0")/lib.sh"

ROUNDS=${NATCTL_CRASH_ROUNDS:-50}

daemon_init
quickstart_topology
QUICKSTART="$NATCTL_SOURCE_DIR/examples/quickstart.json"
VARIANT="$E2E_TMP/variant.json"
write_variant_model "$VARIANT"
echo '{"log_level": "warn"}' >"$DAEMON_DIR/natctld.json"

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
api PUT /v1/config "$QUICKSTART"
check_eq "PUT quickstart" "200" "$HTTP_STATUS"

# The long-lived session: an echo server on the internet host, one socat client in app-1.
nsx "$NET" socat TCP-LISTEN:7100,reuseaddr,fork EXEC:cat 2>/dev/null &
E2E_PIDS+=($!)
wait_listeners "$NET:5" || { e2e_finish; exit 1; }
coproc SESSION { ip netns exec "$(inst app-1)" socat -T600 - TCP:192.0.2.1:7100,bind=10.0.2.10 2>/dev/null; }
E2E_PIDS+=("$SESSION_PID")
session_ok() {
    local line=""
    printf 'round %s\n' "$1" >&"${SESSION[1]}" 2>/dev/null || return 1
    read -r -t 3 line <&"${SESSION[0]}" || return 1
    [ "$line" = "round $1" ]
}
if session_ok 0; then pass "session app-1 -> 192.0.2.1:7100 established"; else fail "no session"; e2e_finish; exit 1; fi
check_eq "the session is SNAT'd to eip-egress" "1" \
    "$(nsx "$GW" conntrack -L -p tcp --orig-src 10.0.2.10 --dport 7100 2>/dev/null | grep -c 'dst=203.0.113.10')"

mismatches=0 broken=0 lost=0 killed_mid_write=0
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then model=$VARIANT; else model=$QUICKSTART; fi
    # The write in the background, the kill 0-39 ms into it: before, during or after the
    # apply, the commit, the answer.
    curl -s -X PUT --unix-socket "$SOCK" -o "$E2E_TMP/put.body" -w '%{http_code}' \
        --data-binary "@$model" http://natctld/v1/config >"$E2E_TMP/put.status" 2>/dev/null &
    writer=$!
    sleep "0.0$(printf '%02d' $((RANDOM % 40)))"
    stop_daemon KILL
    wait "$writer" 2>/dev/null
    status=$(cat "$E2E_TMP/put.status")
    acknowledged=""
    [ "$status" = 200 ] && acknowledged=$(sed -n 's/.*"revision": *\([0-9]*\).*/\1/p' "$E2E_TMP/put.body")
    [ "$status" = 200 ] || killed_mid_write=$((killed_mid_write + 1))

    start_daemon
    if ! wait_ready; then
        fail "round $round: no restart after kill -9"
        sed 's/^/    log: /' "$DAEMON_DIR/natctld.log" | tail -n 5
        break
    fi
    if [ -n "$acknowledged" ]; then
        api GET /v1/config
        if [ "$HTTP_ETAG" != "\"$acknowledged\"" ]; then
            lost=$((lost + 1))
            fail "round $round: acknowledged revision $acknowledged, stored $HTTP_ETAG"
        fi
    fi
    if ! kernel_matches_store "round $round" >"$E2E_TMP/round.out"; then
        mismatches=$((mismatches + 1))
        cat "$E2E_TMP/round.out"
    fi
    if ! session_ok "$round"; then
        broken=$((broken + 1))
        fail "round $round: the established session broke"
        break
    fi
done
check_eq "rounds where the kernel differed from the stored model" "0" "$mismatches"
check_eq "acknowledged writes lost" "0" "$lost"
check_eq "rounds where the established session broke" "0" "$broken"
log "note: $killed_mid_write of $ROUNDS writes were killed before their answer"
check_eq "the session is still SNAT'd to eip-egress, one conntrack entry" "1" \
    "$(nsx "$GW" conntrack -L -p tcp --orig-src 10.0.2.10 --dport 7100 2>/dev/null | grep -c 'dst=203.0.113.10')"
stop_daemon TERM
check_eq "SIGTERM after the rounds: exit status" "0" "$DAEMON_RC"

e2e_finish
