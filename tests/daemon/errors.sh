#!/usr/bin/env bash
# A real kernel refusal through natctld (issue 15's typed errors), inside a private gateway
# namespace: an address natctl does not own (no `proto 147`) already holds an EIP of the
# model, so natctl's RTM_NEWADDR fails with EEXIST. The API answers 502 with kind
# kernel_refused, the EIP's model path and the errno, stores nothing and leaves the kernel
# as it was; `natctl apply` exits 4; once the address is gone the same write succeeds.
source "$(dirname "$0")/lib.sh"

daemon_init
quickstart_topology
QUICKSTART="$NATCTL_SOURCE_DIR/examples/quickstart.json"
echo '{"log_level": "info"}' >"$DAEMON_DIR/natctld.json"

start_daemon
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
pass "natctld answers on its socket"

# eip-egress of examples/quickstart.json, as an administrator would have added it by hand.
nsx "$GW" ip addr add 203.0.113.10/32 dev veth-wan
before=$(natctl_kernel)

api PUT /v1/config "$QUICKSTART" -H 'If-Match: "0"'
check_eq "PUT quickstart over an address natctl does not own" "502" "$HTTP_STATUS"
error_field() { printf '%s' "$HTTP_BODY" | grep -o "\"$1\": *\"[^\"]*\"" | head -n1 | sed 's/^[^:]*: *"\(.*\)"$/\1/'; }
check_eq "the error's kind" "kernel_refused" "$(error_field kind)"
check_eq "the error's path: the EIP's place on the gateway" "nat_gateways[0].eips[0]" "$(error_field path)"
case "$(error_field reason)" in
    *"address 203.0.113.10/32 dev veth-wan: EEXIST (File exists)"*"nothing was stored"*)
        pass "the reason names the address and the errno" ;;
    *) fail "the reason does not name the address and EEXIST: $HTTP_BODY" ;;
esac
api GET /v1/config
check_eq "nothing stored after the refusal" '"0"' "$HTTP_ETAG"
check_same "the kernel is as it was after the refusal" "$before" "$(natctl_kernel)"
api GET /v1/status
case "$HTTP_BODY" in
    *'"state":"in_sync"'*|*'"state": "in_sync"'*) pass "a refusal leaves natctld in sync with its stored model" ;;
    *) fail "status after a refusal: $HTTP_BODY" ;;
esac

"$NATCTL" --socket "$SOCK" apply -f "$QUICKSTART" >"$E2E_TMP/apply.out" 2>"$E2E_TMP/apply.err"
check_eq "natctl apply exits 4 when the kernel refuses" "4" "$?"
grep -q 'EEXIST (File exists)' "$E2E_TMP/apply.err" &&
    pass "natctl apply prints the kernel's reason" ||
    fail "natctl apply's stderr: $(cat "$E2E_TMP/apply.err")"

nsx "$GW" ip addr del 203.0.113.10/32 dev veth-wan
api PUT /v1/config "$QUICKSTART" -H 'If-Match: "0"'
check_eq "the same PUT once the address is gone" "200" "$HTTP_STATUS"
kernel_matches_store "after the retried PUT"

e2e_finish
