#!/usr/bin/env bash
# Port budgets in the data plane (docs/KERNEL-LAYOUT.md, "Port budgets"), with real UDP
# flows: natctld runs in a private gateway namespace on the quickstart model changed to a
# two-EIP SNAT entry with eip_affinity and port_budget_per_eip 50. One instance opens flows
# to one destination ip:port: the first 50 leave by the hashed EIP, the next 50 are steered
# to the other EIP, the rest are refused at the gateway and counted in
# natctl_port_allocation_errors_total (natctld's metrics, checked by promtool).
# Per-EIP counts come from `conntrack -L` in the gateway namespace. Then: another
# destination is unaffected, a burst from four senders at once still holds the budget
# (within 2%: nothing here waits for conntrack events), and max_ports_per_instance refuses
# with its own reason. Needs root; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=19470
URL="http://127.0.0.1:$PORT/metrics"
BUDGET=50
EIP_A=203.0.113.10 # eip-egress
EIP_B=203.0.113.12 # eip-second

conntrack_test_init ctbud
APP1=$(inst app-1) APP2=$(inst app-2)
echo '{"log_level": "info"}' >"$DAEMON_DIR/natctld.json"

# budget_model FILE [MAX_PORTS_PER_INSTANCE]: quickstart with a second SNAT EIP and budgets
budget_model() {
    python3 - "$NATCTL_SOURCE_DIR/examples/quickstart.json" "$1" "$BUDGET" "${2:-}" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
model["eips"].append({"name": "eip-second", "address": "203.0.113.12"})
gateway = model["nat_gateways"][0]
gateway["eips"].append("eip-second")
gateway["port_budget_per_eip"] = int(sys.argv[3])
gateway["session_log"] = "errors"
if sys.argv[4]:
    gateway["max_ports_per_instance"] = int(sys.argv[4])
entry = gateway["snat_entries"][0]
entry["eips"] = ["eip-egress", "eip-second"]
entry["eip_affinity"] = True
json.dump(model, open(sys.argv[2], "w"))
PY
}

# metric NAME LABELS: the sample's value in a fresh scrape (0 when absent)
scrape() { nsx "$GW" curl -s "$URL" >"$E2E_TMP/scrape.txt"; }
metric() {
    awk -v series="$1{$2}" '$1 == series { print $2; found = 1 } END { if (!found) print 0 }' \
        "$E2E_TMP/scrape.txt"
}
errors() { metric natctl_port_allocation_errors_total "gateway=\"ngw-demo\",entry=\"$1\",reason=\"$2\""; }
steered() { metric natctl_budget_steered_connections_total 'gateway="ngw-demo",entry="snat-vsw-app"'; }
# ports_json: `natctl -o json ports` (GET /v1/ports) into $E2E_TMP/ports.json
ports_json() { nsx "$GW" "$NATCTL" --socket "$SOCK" -o json ports >"$E2E_TMP/ports.json"; }
# api_budget ENTRY FIELD [REASON]: a budget figure of ngw-demo's ENTRY in ports.json (0: absent)
api_budget() {
    python3 - "$E2E_TMP/ports.json" "$@" <<'PY'
import json, sys
ports, entry, field = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
rows = [r for r in ports["budget"]["entries"] if r["gateway"] == "ngw-demo" and r["entry"] == entry]
value = rows[0][field] if rows else 0
print(value.get(sys.argv[4], 0) if len(sys.argv) > 4 else value)
PY
}
# same_in_api WHAT: the budget figures of `natctl -o json ports` equal the last scrape's
same_in_api() {
    ports_json
    check_eq "$1: natctl ports shows the steered count of the metrics" "$(steered)" \
        "$(api_budget snat-vsw-app steered)"
    local reason
    for reason in budget instance_limit; do
        check_eq "$1: natctl ports shows the $reason refusals of the metrics" \
            "$(errors snat-vsw-app $reason)" \
            "$(api_budget snat-vsw-app port_allocation_errors_by_reason $reason)"
    done
    check_eq "$1: natctl ports shows the backstop refusals of the metrics" \
        "$(errors - budget)" "$(api_budget - port_allocation_errors_by_reason budget)"
}

# within WHAT COUNT: COUNT is the budget or at most 2% above it
within() {
    local limit=$((BUDGET + BUDGET / 50))
    if [ "$2" -ge "$BUDGET" ] && [ "$2" -le "$limit" ]; then
        pass "$1: $2 (budget $BUDGET, backstop $limit)"
    else
        fail "$1: $2 (budget $BUDGET, backstop $limit)"
    fi
}

start_daemon --metrics "127.0.0.1:$PORT"
wait_ready || { fail "natctld did not come up"; sed 's/^/    log: /' "$DAEMON_DIR/natctld.log"; e2e_finish; exit 1; }
budget_model "$E2E_TMP/budget.json"
api PUT /v1/config "$E2E_TMP/budget.json" -H 'If-Match: "0"'
check_eq "PUT the budget model" "200" "$HTTP_STATUS"
[ "$HTTP_STATUS" = 200 ] || { log "    $HTTP_BODY"; e2e_finish; exit 1; }
ETAG=$HTTP_ETAG
nsx "$GW" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 \
    net.netfilter.nf_conntrack_udp_timeout_stream=600
ct_flush

# ------------------------------------------------------------------------------------
log "--- one destination past the budget: preferred EIP, then steered, then refused"
flows "$APP1" 10.0.2.10 192.0.2.1 9001 20000 130
A=$(ct_snat_count $EIP_A 192.0.2.1 9001) B=$(ct_snat_count $EIP_B 192.0.2.1 9001)
# affinity: the hashed EIP is the one app-1's other destinations use
flows "$APP1" 10.0.2.10 192.0.2.2 9002 20000 20
if [ "$(ct_snat_count $EIP_A 192.0.2.2 9002)" = 20 ]; then PREFERRED=$A OTHER=$B; else PREFERRED=$B OTHER=$A; fi
check_eq "another destination: all 20 flows on app-1's hashed EIP" "20" \
    "$(($(ct_snat_count $EIP_A 192.0.2.2 9002) + $(ct_snat_count $EIP_B 192.0.2.2 9002)))"
check_eq "the hashed EIP holds exactly the budget" "$BUDGET" "$PREFERRED"
check_eq "the other EIP got the next $BUDGET (steered)" "$BUDGET" "$OTHER"
scrape
check_metrics_format "$E2E_TMP/scrape.txt" "budget metrics"
check_eq "natctl_budget_steered_connections_total" "$OTHER" "$(steered)"
check_eq "refused flows counted as port allocation errors (reason budget)" \
    "$((130 - A - B))" "$(errors snat-vsw-app budget)"
check_eq "no instance_limit refusals without max_ports_per_instance" "0" \
    "$(errors snat-vsw-app instance_limit)"
same_in_api "past the budget"
check_eq "natctl ports: the budget in force on eip-egress" "$BUDGET" \
    "$(python3 -c 'import json, sys
print([e["budget_in_force"] for e in json.load(open(sys.argv[1]))["eips"] if e["name"] == "eip-egress"][0])' \
        "$E2E_TMP/ports.json")"

# ------------------------------------------------------------------------------------
log "--- a burst from four senders at once: the data plane holds the budget"
before=$(errors snat-vsw-app budget)
SENDERS=()
for i in 0 1 2 3; do
    flows "$APP1" 10.0.2.10 192.0.2.3 9003 $((30000 + i * 1000)) 100 & SENDERS+=($!)
done
wait "${SENDERS[@]}"
A=$(ct_snat_count $EIP_A 192.0.2.3 9003) B=$(ct_snat_count $EIP_B 192.0.2.3 9003)
within "burst: 192.0.2.3:9003 on eip-egress" "$A"
within "burst: 192.0.2.3:9003 on eip-second" "$B"
scrape
budget_refused=$(($(errors snat-vsw-app budget) + $(errors - budget) - before))
check_eq "burst: every flow either translated or refused and counted" "400" "$((A + B + budget_refused))"

# ------------------------------------------------------------------------------------
log "--- max_ports_per_instance: refused with its own reason"
budget_model "$E2E_TMP/limit.json" 30
api PUT /v1/config "$E2E_TMP/limit.json" -H "If-Match: $ETAG"
check_eq "PUT max_ports_per_instance 30" "200" "$HTTP_STATUS"
flows "$APP2" 10.0.2.11 198.51.100.1 9004 20000 45
held=$(($(ct_snat_count $EIP_A 198.51.100.1 9004) + $(ct_snat_count $EIP_B 198.51.100.1 9004)))
check_eq "app-2 holds max_ports_per_instance connections" "30" "$held"
scrape
check_eq "the rest counted as port allocation errors (reason instance_limit)" "15" \
    "$(errors snat-vsw-app instance_limit)"
same_in_api "max_ports_per_instance"
# counters survive the rewrite of the entry's chains by the model change
[ "$(errors snat-vsw-app budget)" -ge "$((130 - 2 * BUDGET))" ] &&
    pass "budget refusals still counted after the chain rewrite" ||
    fail "budget refusals after the chain rewrite: $(errors snat-vsw-app budget)"
nsx "$GW" nft list chain ip natctl snat/ngw-demo/snat-vsw-app | grep -q 'log prefix "natctl instance_limit [0-9]* snat-vsw-app" group 20052' &&
    pass "refusals are logged to NFLOG group 20052 (session_log errors)" ||
    fail "no refusal log rule in snat/ngw-demo/snat-vsw-app"

e2e_finish
