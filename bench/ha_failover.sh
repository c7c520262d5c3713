#!/usr/bin/env bash
# HA failover of a natctl active/standby pair (tests/ha/lib.sh: keepalived + conntrackd +
# natctld in network namespaces), in two parts:
#   1. gap: two TCP and two UDP flows (two clients on source port 40000, one message every
#      5 ms each way) run while the primary fails FAILOVERS times (links down, kill -9 of
#      every process) and comes back (it takes the primary role back: a fail-back). The gap
#      of a failover is the longest interval between two echoes of a flow around it; UDP
#      shows the gateway's own gap, TCP adds the clients' retransmission timeouts. Every
#      flow must keep its connection and its public address and port throughout.
#   2. commit: N UDP connections injected into the primary's conntrack table (SNAT'd, as
#      bench/conntrack_accounting does it), synced by conntrackd to the backup, then the
#      primary fails; natctld's takeover reports how long conntrackd's commit took.
#
#   sudo NATCTL_BIN_DIR=build bench/ha_failover.sh [FAILOVERS [N...]]   (default: 10 10000 100000)
#
# Prints a Markdown report. The conntrack table limit (nf_conntrack_max) is global on this
# kernel: 2 x N must fit under it beside whatever else the machine tracks; a larger N is
# skipped and the report says so. Touches nothing outside its namespaces.
set -u
FAILOVERS=${1:-10}
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/ha/lib.sh"
ha_init
INJECT="$NATCTL_BIN_DIR/bench/conntrack_accounting"
ha_topology
ha_server || { echo "echo server did not start" >&2; exit 1; }
ha_start_node a && ha_start_node b || { echo "the pair did not start" >&2; exit 1; }
wait_for 15 role_is a primary || { echo "gw-a never became primary" >&2; exit 1; }
wait_for 5 role_is b backup || { echo "gw-b never became backup" >&2; exit 1; }

now() { date +%s.%N; }
# ctd_external NODE: entries in the node's conntrackd external cache (straight from conntrackd)
ctd_external() {
    nsx "$(ns_of "gw-$1")" conntrackd -C "$(node_dir "$1")/conntrackd.conf" -s 2>/dev/null |
        awk '/^cache external:/ { e = 1 } e && /current active connections:/ { print $NF; exit }'
}
external_at_least() { [ "$(ctd_external "$1")" -ge "$2" ] 2>/dev/null; }
# tcp_counters: "retransmitted segments, retransmission timeouts" summed over the clients'
# and the server's namespaces (each namespace has its own /proc/net/snmp)
tcp_counters() {
    local ns
    for ns in c1 c2 net; do
        nsx "$(ns_of "$ns")" cat /proc/net/snmp /proc/net/netstat
    done | awk '$1 == "Tcp:" && $2 == "RtoAlgorithm" { for (i = 2; i <= NF; i++) tcp[i] = $i; next }
        $1 == "Tcp:" { for (i = 2; i <= NF; i++) if (tcp[i] == "RetransSegs") r += $i; next }
        $1 == "TcpExt:" && $2 !~ /^[0-9]/ { for (i = 2; i <= NF; i++) ext[i] = $i; next }
        $1 == "TcpExt:" { for (i = 2; i <= NF; i++) if (ext[i] == "TCPTimeouts") t += $i }
        END { print r + 0, t + 0 }'
}
external_at_most() { [ "$(ctd_external "$1")" -le "$2" ] 2>/dev/null; }
last_takeover() {  # NODE → "took_ms commit_ms"
    natctl_on "$1" -o json ha status | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)["last_takeover"]
print("%.1f %.1f" % (t["took_ms"], t["commit_ms"]))'
}

# ---- 1. gap ---------------------------------------------------------------------------------
flows=(udp-c1 udp-c2 tcp-c1 tcp-c2)
for client in c1 c2; do
    ha_client "udp-$client" "$client" udp 40000
    ha_client "tcp-$client" "$client" tcp 40000
done
sleep 2
events=()   # "kind time": when the primary failed (failover) or came back (failback)
takeovers=()
for ((i = 1; i <= FAILOVERS; i++)); do
    wait_for 30 external_at_least b 4 || echo "failover $i: gw-b's external cache holds $(ctd_external b)" >&2
    read -r retrans_before timeouts_before < <(tcp_counters)
    failed_at=$(now)
    events+=("failover $failed_at")
    ha_fail_node a
    wait_for 10 role_is b primary || echo "failover $i: gw-b did not become primary" >&2
    takeovers+=("$(last_takeover b)")
    sleep 1.5
    read -r retrans timeouts < <(tcp_counters)
    failback_at=$(now)
    echo "failover $failed_at $((retrans - retrans_before)) $((timeouts - timeouts_before)) $failback_at" >>"$HA_TMP/events"
    events+=("failback $failback_at")
    ha_restore_node a
    wait_for 30 role_is a primary || echo "failover $i: gw-a did not take over again" >&2
    wait_for 10 role_is b backup
    sleep 1.5
    echo "failover $i/$FAILOVERS done" >&2
done
ha_stop_clients

# gap_after FLOW T END: the longest gap of FLOW starting within [T - 0.5 s, END - 0.5 s), END
# being the next event (a gap belongs to the event it follows, never to the one after it)
gap_after() {
    awk -v t="$2" -v end="$3" '$1 == "gap" && $2 >= t - 0.5 && $2 < end - 0.5 && $3 > g { g = $3 } END { printf "%.3f\n", g + 0 }' \
        "$HA_TMP/flow-$1.out"
}
stats() {  # numbers on stdin → "median min max" (median: nearest rank)
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - -"; exit }
        i = int(0.5 * (NR - 1) + 0.5) + 1; print v[i], v[1], v[NR] }'
}
declare -A gaps  # "kind proto" -> one gap per event (the worst flow of that protocol)
for ((e = 0; e < ${#events[@]}; e++)); do
    read -r kind t <<<"${events[e]}"
    end=$(awk -v t="$t" 'BEGIN { printf "%.3f", t + 10 }')
    [ $((e + 1)) -lt ${#events[@]} ] && read -r _ end <<<"${events[e + 1]}"
    for proto in udp tcp; do
        worst=$(for c in c1 c2; do gap_after "$proto-$c" "$t" "$end"; done | sort -g | tail -n1)
        gaps["$kind $proto"]+="$worst "
    done
done
kept=0 broken=()
for flow in "${flows[@]}"; do
    read -r _ sent received max_gap since error < <(grep '^end' "$HA_TMP/flow-$flow.out")
    peers=$(peers_seen "$flow" | sort -u | wc -l)
    if [ "${error:-?}" = - ] && [ "$peers" = 1 ]; then kept=$((kept + 1)); else broken+=("$flow (${error:-no end}, $peers addresses)"); fi
done

echo "### 6. HA failover (bench/ha_failover.sh)"
echo
advert_int=$(awk '$1 == "advert_int" { print $2 }' "$(node_dir b)/keepalived.conf")
priorities=$(for n in a b; do awk '$1 == "priority" { print $2 }' "$(node_dir "$n")/keepalived.conf"; done | paste -sd/)
echo "keepalived $(keepalived --version 2>&1 | head -n1 | awk '{print $2}'), conntrackd $(conntrackd -v 2>&1 | grep -oE 'v[0-9]+(\.[0-9]+)+' | head -n1), advert_int $advert_int s, priorities $priorities, preempt_delay ${HA_PREEMPT_DELAY:-4} s, natctld reading keepalived's notify FIFO and conntrackd's control socket; flows paced at 5 ms each way. Median (min–max) in seconds over $FAILOVERS events each:"
echo
echo "| event | UDP gap | TCP gap |"
echo "|---|---|---|"
for kind in failover failback; do
    read -r um ul uh <<<"$(tr ' ' '\n' <<<"${gaps[$kind udp]:-}" | grep . | stats)"
    read -r tm tl th <<<"$(tr ' ' '\n' <<<"${gaps[$kind tcp]:-}" | grep . | stats)"
    echo "| $kind ($([ "$kind" = failover ] && echo "primary killed: links down, kill -9" || echo "old primary back, takes over")) | $um ($ul–$uh) | $tm ($tl–$th) |"
done
echo
echo "Flows kept through every event with their public address and port: $kept of ${#flows[@]}${broken:+; broken: ${broken[*]}}."
read -r tk_m tk_l tk_h <<<"$(for t in "${takeovers[@]}"; do echo "${t%% *}"; done | stats)"
echo "natctld's takeover on gw-b (every step: commit, gate opened, conntrackd's caches rebuilt): median $tk_m ms ($tk_l–$tk_h)."
echo
echo "Where each failover's gap goes (bench/ha_breakdown.py; detection: links down → keepalived's MASTER line in natctld's log; the TCP counters are the clients' and the server's):"
echo
"$PYTHON" "$(dirname "${BASH_SOURCE[0]}")/ha_breakdown.py" "$HA_TMP/events" "$(node_dir b)/natctld.log" "$HA_TMP"
echo

# ---- 2. commit time ---------------------------------------------------------------------------
echo "| connections | synced to the backup | conntrackd commit (natctld's step) | conntrackd's own figure | takeover | committed |"
echo "|---|---|---|---|---|---|"
max=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
for n in "${SIZES[@]}"; do
    if [ ! -x "$INJECT" ]; then echo "| $n | not measured: $INJECT not built | | | | |"; continue; fi
    if [ $((2 * n + 20000)) -gt "$max" ]; then echo "| $n | skipped: 2 × $n exceeds nf_conntrack_max $max | | | | |"; continue; fi
    wait_for 30 role_is a primary
    # start from empty tables: leftovers of the previous size (or of the flows) would only add
    # to the global count, and re-injected tuples would be refused as existing
    nsx "$(ns_of gw-b)" conntrack -F >/dev/null 2>&1
    nsx "$(ns_of gw-a)" conntrack -F >/dev/null 2>&1
    wait_for 60 external_at_most b 100 || echo "gw-b's external cache still holds $(ctd_external b)" >&2
    before=$(ctd_external b)
    t0=$(now)
    nsx "$(ns_of gw-a)" "$INJECT" --inject-only "$n" >&2
    if ! wait_for 180 external_at_least b "$((before + n))"; then
        echo "| $n | only $(ctd_external b) of $((before + n)) reached gw-b's external cache | | | | |"
        continue
    fi
    synced=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }')
    : >"$(node_dir b)/conntrackd.log"
    ha_fail_node a
    # gw-a is dead: its table only counts against the global limit
    nsx "$(ns_of gw-a)" conntrack -F >/dev/null 2>&1
    wait_for 60 role_is b primary || { echo "| $n | $synced | gw-b did not become primary | | | |"; continue; }
    read -r took commit <<<"$(last_takeover b)"
    own=$(awk '/commit has taken/ { print $(NF - 1) " s" }' "$(node_dir b)/conntrackd.log" | tail -n1)
    committed=$(awk '/Committed/ { print $(NF - 2) }' "$(node_dir b)/conntrackd.log" | tail -n1)
    echo "| $n | $synced | $commit ms | ${own:--} | $took ms | ${committed:--} |"
    ha_restore_node a
    wait_for 60 role_is a primary || echo "gw-a did not take over again after $n" >&2
    nsx "$(ns_of gw-b)" conntrack -F >/dev/null 2>&1
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (the machine is shared: figures are noisy)."
