#!/usr/bin/env bash
# natctld's host checks and its synchronous reload, inside a private gateway namespace:
# with forwarding off and strict rp_filter on veth-wan, natctld logs a warning for each and
# `natctl status` lists them under "host warnings"; `natctld --reload PID` (the unit's
# ExecReload) returns once the new settings are in and, with host_settings "set", the two
# settings are fixed in the namespace by then; a refused settings file makes --reload exit
# 1 with the reason while natctld keeps running; --reload of a process that is gone fails.
source "$(dirname "$0")/lib.sh"

# Names of our own (issue 11), never those of another test run.
E2E_PREFIX="n11-$$"
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"

daemon_init
e2e_topology
QUICKSTART="$NATCTL_SOURCE_DIR/examples/quickstart.json"
nsx "$GW" sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.veth-wan.rp_filter=1
echo '{"host_settings": "check"}' >"$DAEMON_DIR/natctld.json"

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
"$NATCTL" --socket "$SOCK" apply -f "$QUICKSTART" >/dev/null 2>&1 || fail "natctl apply quickstart.json"

status=$("$NATCTL" --socket "$SOCK" status 2>&1)
grep -q '^host warnings:' <<<"$status" && pass "natctl status lists host warnings" ||
    fail "no host warnings in natctl status: $status"
grep -q '^  - net.ipv4.ip_forward is 0, wanted 1: ' <<<"$status" &&
    pass "status: ip_forward off" || fail "status does not name ip_forward"
grep -q '^  - net.ipv4.conf.veth-wan.rp_filter is 1 (strict), wanted 2 (loose) or 0: ' <<<"$status" &&
    pass "status: strict rp_filter on veth-wan" || fail "status does not name veth-wan's rp_filter"
grep -q '^host settings *check$' <<<"$status" && pass "status: host settings check" ||
    fail "status does not say host settings check"
# The monitor looks every 5 s; the model arrived after the start-up check.
deadline=$((SECONDS + 8))
until grep -q 'host: net.ipv4.conf.veth-wan.rp_filter is 1' "$DAEMON_DIR/natctld.log" || [ $SECONDS -ge $deadline ]; do
    sleep 0.2
done
grep -q '\[warning\] host: net.ipv4.ip_forward is 0' "$DAEMON_DIR/natctld.log" &&
    pass "the log warns about ip_forward" || fail "no ip_forward warning in the log"
grep -q 'host: net.ipv4.conf.veth-wan.rp_filter is 1' "$DAEMON_DIR/natctld.log" &&
    pass "the log warns about veth-wan's rp_filter once the model names it" ||
    fail "no rp_filter warning in the log"
check_eq "each warning is logged once" 1 \
    "$(grep -c 'host: net.ipv4.ip_forward is 0' "$DAEMON_DIR/natctld.log")"

echo '{"host_settings": "set"}' >"$DAEMON_DIR/natctld.json"
if out=$("$NATCTLD" --reload "$DAEMON_PID" --socket "$SOCK" 2>&1); then
    pass "natctld --reload exits 0 for good settings"
else
    fail "natctld --reload: $out"
fi
# No waiting: the reload is done when --reload returns.
check_eq "ip_forward set by the reload" 1 "$(nsx "$GW" sysctl -n net.ipv4.ip_forward)"
check_eq "veth-wan rp_filter loosened by the reload" 2 "$(nsx "$GW" sysctl -n net.ipv4.conf.veth-wan.rp_filter)"
status=$("$NATCTL" --socket "$SOCK" status 2>&1)
grep -q 'ip_forward is\|veth-wan.rp_filter is' <<<"$status" &&
    fail "status still warns after host_settings set: $status" || pass "status has no more warnings about them"
grep -q 'host_settings "set": set net.ipv4.ip_forward = 1 (was 0)' "$DAEMON_DIR/natctld.log" &&
    pass "the log says what was set" || fail "the log does not say what was set"

echo '{"host_settings": "sometimes"}' >"$DAEMON_DIR/natctld.json"
out=$("$NATCTLD" --reload "$DAEMON_PID" --socket "$SOCK" 2>&1)
rc=$?
check_eq "--reload of a refused file exits 1" 1 "$rc"
grep -q 'settings refused, the running ones stay: .*host_settings: expected "check" or "set"' <<<"$out" &&
    pass "--reload names the refused setting" || fail "--reload said: $out"
kill -0 "$DAEMON_PID" 2>/dev/null && pass "natctld keeps running" || fail "natctld died"
grep -q '^host settings *set$' <<<"$("$NATCTL" --socket "$SOCK" status 2>&1)" &&
    pass "the running settings stay (host settings set)" || fail "host settings changed"

pid=$DAEMON_PID
stop_daemon TERM
out=$("$NATCTLD" --reload "$pid" --socket "$SOCK" 2>&1)
check_eq "--reload of a stopped natctld exits 1" 1 "$?"
e2e_finish
