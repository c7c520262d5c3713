#!/usr/bin/env bash
# Every problem of a document at once, through natctl and natctld (issue 14, item 7): a
# document with public_port 70000 (a reading error) and an unknown EIP in another DNAT entry
# is refused by `natctl render` (offline), `natctl apply` and PUT /v1/config with both
# problems listed, exit 1, and nothing changes: the running model still answers real
# traffic (web-1 through its DNAT entry) and the kernel state is what it was.
# Needs root for the daemon part; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/../daemon/lib.sh"

E2E_PREFIX="e14e-$$"
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"
daemon_init
quickstart_topology
wait_listeners "$NET:4" "$(inst web-1):1"
echo '{"log_level": "info"}' >"$DAEMON_DIR/natctld.json"

python3 - "$NATCTL_SOURCE_DIR/examples/quickstart.json" "$E2E_TMP/bad.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
gateway = model["nat_gateways"][0]
gateway["dnat_entries"][0]["public_port"] = "70000"
gateway["dnat_entries"].append({"name": "ssh", "eip": "eip-9", "protocol": "tcp",
                                "public_port": "22", "private_ip": "10.0.1.10",
                                "private_port": "22"})
json.dump(model, open(sys.argv[2], "w"))
PY
nctl() { nsx "$GW" "$NATCTL" --socket "$SOCK" "$@"; }
both_listed() {
    grep -q '^nat_gateways\[0\]\.dnat_entries\[0\]\.public_port: .*70000' "$1" &&
        grep -q '^nat_gateways\[0\]\.dnat_entries\[1\]\.eip: eip eip-9 does not exist' "$1"
}

"$NATCTL" render -f "$E2E_TMP/bad.json" >/dev/null 2>"$E2E_TMP/render.err"
check_eq "natctl render refuses the document" "1" "$?"
both_listed "$E2E_TMP/render.err" && pass "natctl render lists both problems" ||
    { fail "natctl render output"; sed 's/^/    /' "$E2E_TMP/render.err"; }

start_daemon
wait_ready || { fail "natctld did not come up"; e2e_finish; exit 1; }
nctl apply -f "$NATCTL_SOURCE_DIR/examples/quickstart.json" >/dev/null 2>&1 &&
    pass "apply quickstart.json" || fail "apply quickstart.json"
BEFORE=$(gw_state | sed -E 's/counter packets [0-9]+ bytes [0-9]+//')
nctl apply -f "$E2E_TMP/bad.json" >/dev/null 2>"$E2E_TMP/apply.err"
check_eq "natctl apply refuses the document" "1" "$?"
both_listed "$E2E_TMP/apply.err" && pass "natctl apply (PUT /v1/config) lists both problems" ||
    { fail "natctl apply output"; sed 's/^/    /' "$E2E_TMP/apply.err"; }
api PUT /v1/config "$E2E_TMP/bad.json"
check_eq "PUT /v1/config refuses the document" "400" "$HTTP_STATUS"
printf '%s' "$HTTP_BODY" | python3 -c '
import json, sys
paths = [e["path"] for e in json.load(sys.stdin)["errors"]]
sys.exit(0 if paths == ["nat_gateways[0].dnat_entries[0].public_port",
                        "nat_gateways[0].dnat_entries[1].eip"] else 1)' &&
    pass "PUT /v1/config lists both problems" || fail "PUT /v1/config errors: $HTTP_BODY"
check_same "the kernel state is unchanged" "$BEFORE" "$(gw_state | sed -E 's/counter packets [0-9]+ bytes [0-9]+//')"
check_eq "web-1 still answers through its DNAT entry" "198.51.100.1 10.0.1.10 8080" \
    "$(tcp_ask "$NET" 198.51.100.1 203.0.113.11 80)"

e2e_finish
