#!/usr/bin/env bash
# natctl against the real natctld, inside a private network namespace: apply / re-apply /
# invalid file / dry run, get / status / explain in both output formats, an imperative DNAT
# round trip, rollback, and exit 3 once the daemon is gone. Needs root (network namespace);
# skips (77) when natctld is not built or namespaces cannot be made.
set -u

BIN=${NATCTL_BIN_DIR:?NATCTL_BIN_DIR must name the build directory}
SRC=${NATCTL_SOURCE_DIR:?NATCTL_SOURCE_DIR must name the source directory}
NATCTLD=$BIN/controller/daemon/natctld
NATCTL=$BIN/cli/natctl

skip() { echo "SKIP: $*"; exit 77; }
[[ -x $NATCTLD ]] || skip "natctld is not built ($NATCTLD missing)"
[[ -x $NATCTL ]] || { echo "FAIL: natctl is not built ($NATCTL missing)"; exit 1; }
[[ $(id -u) -eq 0 ]] || skip "needs root to create a network namespace"

NS=natctl-cli-$$
ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
TMP=$(mktemp -d)
DAEMON_PID=
cleanup() {
    if [[ -n $DAEMON_PID ]]; then
        kill "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    # Anything else this test left in its namespace.
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

FAILURES=0
fail() { echo "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*"; }
nsx() { ip netns exec "$NS" "$@"; }

# The interfaces examples/quickstart.json names, with TEST-NET / 10.x addresses only.
nsx ip link set lo up
nsx ip link add veth-vpc type veth peer name veth-vpc-peer
nsx ip link add veth-wan type veth peer name veth-wan-peer
for link in veth-vpc veth-vpc-peer veth-wan veth-wan-peer; do nsx ip link set "$link" up; done
nsx ip addr add 10.0.0.1/16 dev veth-vpc
nsx ip addr add 198.51.100.2/24 dev veth-wan

SOCK=$TMP/natctld.sock
# Not through nsx: a backgrounded shell function is a subshell, and $! would be its PID
# instead of natctld's (ip netns exec execs the daemon in place).
ip netns exec "$NS" "$NATCTLD" --state-dir "$TMP/state" --socket "$SOCK" --metrics 127.0.0.1:9469 \
    >"$TMP/natctld.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
    [[ -S $SOCK ]] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ ! -S $SOCK ]]; then
    echo "FAIL: natctld did not create $SOCK; its log:"
    cat "$TMP/natctld.log"
    exit 1
fi

# natctl runs outside the namespace: the socket is a file, reachable from anywhere.
OUT=$TMP/out
ERR=$TMP/err
run() {
    "$NATCTL" --socket "$SOCK" --timeout 30 "$@" >"$OUT" 2>"$ERR"
    RC=$?
}
expect_rc() {  # expect_rc CODE WHAT
    if [[ $RC -ne $1 ]]; then
        fail "$2: exit $RC, expected $1"
        sed 's/^/    stdout: /' "$OUT"
        sed 's/^/    stderr: /' "$ERR"
        return 1
    fi
    return 0
}
expect_out() {  # expect_out PATTERN WHAT (extended regex over stdout)
    grep -Eq -- "$1" "$OUT" && return 0
    fail "$2: stdout lacks /$1/"
    sed 's/^/    stdout: /' "$OUT"
    return 1
}
expect_err() {
    grep -Eq -- "$1" "$ERR" && return 0
    fail "$2: stderr lacks /$1/"
    sed 's/^/    stderr: /' "$ERR"
    return 1
}
# Valid JSON on stdout with the given top-level key.
expect_json_key() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if sys.argv[2] in d else 1)' \
            "$OUT" "$1" && return 0
    elif command -v jq >/dev/null 2>&1; then
        jq -e --arg k "$1" 'has($k)' "$OUT" >/dev/null && return 0
    else
        grep -q "\"$1\"" "$OUT" && return 0
    fi
    fail "$2: stdout is not JSON with key $1"
    sed 's/^/    stdout: /' "$OUT"
    return 1
}

QUICKSTART=$SRC/examples/quickstart.json

# ---- apply -------------------------------------------------------------------------------
run apply -f "$QUICKSTART"
expect_rc 0 "apply quickstart" && expect_out '^\+ nat_gateway ngw-demo \(nat_gateways\[0\]\)$' "apply plan" &&
    expect_out '^\+ dnat_entry web-http \(nat_gateways\[0\]\.dnat_entries\[0\]\)$' "apply plan" &&
    expect_out '^revision [0-9]+$' "apply revision" && pass "apply prints the plan and the revision"
REVISION=$(sed -n 's/^revision \([0-9]*\)$/\1/p' "$OUT")

run apply -f "$QUICKSTART"
expect_rc 0 "re-apply" && expect_out "^no changes \(revision $REVISION\)$" "re-apply" &&
    pass "re-apply: no changes"

printf '{"version": 1, "eips": [{"name": "e", "address": "203.0.113"}], "bogus": 1}\n' >"$TMP/bad.json"
run apply -f "$TMP/bad.json"
expect_rc 1 "invalid file" && expect_err '^eips\[0\]\.address: ' "invalid file" &&
    expect_err '^bogus: ' "invalid file" && pass "invalid file: exit 1 with path: reason lines"

# Dry run: the plan of a changed DNAT entry, and afterwards nothing changed.
sed 's/"public_port": "80"/"public_port": "81"/' "$QUICKSTART" >"$TMP/changed.json"
run apply -f "$TMP/changed.json" --dry-run
expect_rc 0 "dry run" && expect_out '^~ dnat_entry web-http ' "dry run plan" &&
    expect_out '^dry run: nothing was applied' "dry run" && pass "dry run prints the plan"
run -o json get dnat web-http --gateway ngw-demo
expect_rc 0 "get after dry run" && expect_out '"public_port": "80"' "dry run changed nothing" &&
    pass "dry run changed nothing"
run apply -f "$QUICKSTART"
expect_out "^no changes \(revision $REVISION\)$" "revision after dry run"

# ---- get / status / explain ---------------------------------------------------------------
run get
expect_rc 0 "get" && expect_out '^NAT gateways$' "get" && expect_out 'web-http +eip-web +tcp +80 +10\.0\.1\.10:8080' "get" &&
    pass "get prints tables"
run -o json get
expect_rc 0 "get -o json" && expect_json_key nat_gateways "get -o json" && pass "get -o json"
run get dnat web-http
expect_rc 0 "get dnat NAME" && expect_out '^ngw-demo +web-http ' "get dnat NAME" && pass "get one object"
run -o json get snat
expect_rc 0 "get snat -o json" && expect_json_key items "get snat -o json" && pass "get a kind -o json"
run get dnat nope
expect_rc 1 "get unknown object" && expect_err 'no DNAT entry named nope' "get unknown object" &&
    pass "get of an unknown object: exit 1"
run get galaxy
expect_rc 2 "get unknown kind" && pass "get of an unknown kind: exit 2"

run status
expect_rc 0 "status" && expect_out "^revision +$REVISION$" "status" && expect_out '^reconcile state ' "status" &&
    pass "status"
run -o json status
expect_rc 0 "status -o json" && expect_json_key reconcile "status -o json" && pass "status -o json"

run explain --src 10.0.2.10 --dst 198.51.100.7:443 --proto tcp
expect_rc 0 "explain" && expect_out 'snat-vsw-app' "explain" && expect_out '^steps:$' "explain" &&
    pass "explain egress"
run -o json explain --src 198.51.100.7 --dst 203.0.113.11:80 --proto tcp
expect_rc 0 "explain -o json" && expect_json_key direction "explain -o json" &&
    expect_out 'web-http' "explain ingress" && pass "explain -o json"

# ---- imperative DNAT round trip ---------------------------------------------------------
run dnat create web-ssh --gateway ngw-demo --eip eip-web --protocol tcp --public-port 22 \
    --private-ip 10.0.1.10 --private-port 22
expect_rc 0 "dnat create" && expect_out '^\+ dnat_entry web-ssh ' "dnat create" && pass "dnat create"
run dnat modify web-ssh --gateway ngw-demo --private-port 2222
expect_rc 0 "dnat modify" && expect_out '^~ dnat_entry web-ssh ' "dnat modify" && pass "dnat modify"
run -o json get dnat web-ssh
expect_rc 0 "get modified" && expect_out '"private_port": "2222"' "modify kept" &&
    expect_out '"public_port": "22"' "modify kept the other fields" && pass "modify changed one field only"
run dnat create web-ssh --gateway ngw-demo --eip eip-web --protocol tcp --public-port 23 \
    --private-ip 10.0.1.10 --private-port 22
expect_rc 1 "dnat create twice" && [[ -s $ERR ]] && pass "creating an existing entry: exit 1"
run dnat create web-bad --gateway ngw-demo --eip eip-web --protocol tcp --public-port 22 \
    --private-ip 10.0.1.10 --private-port 22
expect_rc 1 "dnat create duplicate port" && expect_err '^nat_gateways\[0\]\.dnat_entries' "duplicate port" &&
    pass "a refused create prints path: reason"
run dnat delete web-ssh --gateway ngw-demo
expect_rc 0 "dnat delete" && expect_out '^- dnat_entry web-ssh ' "dnat delete" && pass "dnat delete"
run get dnat web-ssh
expect_rc 1 "get deleted" && pass "the deleted entry is gone"
run dnat create
expect_rc 2 "dnat create without arguments" && pass "usage error: exit 2"

# ---- revisions / rollback ---------------------------------------------------------------
run revisions
expect_rc 0 "revisions" && expect_out '\(current\)' "revisions" && pass "revisions"
run rollback "$REVISION"
expect_rc 0 "rollback" && expect_out '^(no changes|revision) ' "rollback" && pass "rollback"

# ---- daemon gone ------------------------------------------------------------------------
kill "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
run status
expect_rc 3 "status without daemon" && expect_err "^natctl: cannot reach natctld at $SOCK: " "unreachable" &&
    pass "daemon stopped: exit 3"
run apply -f "$QUICKSTART"
expect_rc 3 "apply without daemon" && pass "apply without daemon: exit 3"

if [[ $FAILURES -ne 0 ]]; then
    echo "$FAILURES check(s) failed; natctld log:"
    sed 's/^/    /' "$TMP/natctld.log" | tail -40
    exit 1
fi
echo "all natctl client checks passed"
