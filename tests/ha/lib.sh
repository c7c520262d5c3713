# shellcheck shell=bash
# An active/standby natctl pair in network namespaces, for the HA failover test
# (tests/ha/failover.sh), the demo (scripts/ha-demo.sh) and the benchmark
# (bench/ha_failover.sh). Sourced, never run (CTest skips lib*.sh).
#
#   c1 10.0.1.10 ─┐                    ┌─ gw-a  veth-in 10.0.1.2   veth-out 198.51.100.2 ─┐
#   c2 10.0.1.11 ─┼─ [sw: br-in] ──────┤         veth-sync 10.255.0.1 ─┐                   ├─ [sw: br-out] ── net 198.51.100.1
#                 │  VIP 10.0.1.1      └─ gw-b  veth-in 10.0.1.3   veth-out 198.51.100.3 ─┘       lo 192.0.2.1 (server)
#                                                veth-sync 10.255.0.2 ─┘  EIP 203.0.113.10 (VIP)
#
# keepalived (VRRPv3, unicast on the inside link) moves 10.0.1.1 and the EIP; conntrackd
# (FTFW over UDP on the sync link) keeps the peer's connections; natctld runs in each
# gateway namespace with the same model (examples/ha/model.json) and HA settings, and
# keepalived's notify scripts tell it its role. Every process runs inside a namespace made
# here, with its files under a temporary directory; ha_cleanup kills them all and removes
# the namespaces. Nothing outside them is read or changed. HA_WITHOUT_SYNC=1 runs the pair
# without conntrackd: the control experiment, in which tests/ha/failover.sh must fail.

# log, pass, fail, check_eq, skip_all, nsx and the PASS/FAIL tally (e2e_finish)
# shellcheck source=../e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

HA_PREFIX="n13-$$"
HA_NAMESPACES=()
HA_TMP=""
declare -A HA_PIDS=()  # "node:program" -> pid

ns_of() { printf '%s-%s' "$HA_PREFIX" "$1"; }

ha_cleanup() {
    local ns pid
    # every process in a namespace made here was started here
    for ns in "${HA_NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    done
    for pid in "${HA_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    for ns in "${HA_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ -n "$HA_TMP" ]; then
        if [ -n "${HA_KEEP_LOGS:-}" ]; then log "logs kept in $HA_TMP"; else rm -rf "$HA_TMP"; fi
    fi
}

# Preconditions; exits 77 (skip) when the test cannot run here.
ha_init() {
    local tool
    [ "$(id -u)" -eq 0 ] || skip_all "the HA test needs root (network namespaces)"
    for tool in ip nft keepalived conntrackd python3 sysctl; do
        command -v "$tool" >/dev/null 2>&1 || skip_all "'$tool' not installed (scripts/install-deps.sh)"
    done
    : "${NATCTL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
    : "${NATCTL_BIN_DIR:=$NATCTL_SOURCE_DIR/build}"
    NATCTL="$NATCTL_BIN_DIR/cli/natctl"
    NATCTLD="$NATCTL_BIN_DIR/controller/daemon/natctld"
    FLOWS="$NATCTL_SOURCE_DIR/tests/ha/flows.py"
    # Debian's interpreter, not whatever shim comes first on PATH
    PYTHON=/usr/bin/python3
    [ -x "$PYTHON" ] || PYTHON=$(command -v python3)
    HA_EXAMPLES="$NATCTL_SOURCE_DIR/examples/ha"
    [ -x "$NATCTL" ] && [ -x "$NATCTLD" ] || { log "FAIL: build natctl and natctld first ($NATCTL_BIN_DIR)"; exit 1; }
    HA_TMP=$(mktemp -d /tmp/natctl-ha.XXXXXX)
    chmod 0755 "$HA_TMP"
    trap ha_cleanup EXIT
    trap 'exit 130' INT TERM
    ip netns add "$(ns_of sw)" 2>"$HA_TMP/netns.err" ||
        skip_all "cannot create a network namespace: $(cat "$HA_TMP/netns.err")"
    HA_NAMESPACES+=("$(ns_of sw)")
}

ha_add_ns() {
    local ns
    ns=$(ns_of "$1")
    ip netns add "$ns" || { log "FAIL: ip netns add $ns"; exit 1; }
    HA_NAMESPACES+=("$ns")
    nsx "$ns" ip link set lo up
}

# node a|b -> inside / outside / sync addresses and its peer
inside_addr() { [ "$1" = a ] && echo 10.0.1.2 || echo 10.0.1.3; }
outside_addr() { [ "$1" = a ] && echo 198.51.100.2 || echo 198.51.100.3; }
sync_addr() { [ "$1" = a ] && echo 10.255.0.1 || echo 10.255.0.2; }
peer_of() { [ "$1" = a ] && echo b || echo a; }
node_dir() { echo "$HA_TMP/gw-$1"; }
node_socket() { echo "$(node_dir "$1")/natctld.sock"; }
natctl_on() { local node=$1; shift; "$NATCTL" --socket "$(node_socket "$node")" "$@"; }

ha_topology() {
    local sw node ns
    sw=$(ns_of sw)
    nsx "$sw" ip link set lo up
    for br in br-in br-out; do
        nsx "$sw" ip link add "$br" type bridge
        nsx "$sw" ip link set "$br" up
    done
    ha_add_ns net
    nsx "$(ns_of net)" ip link add veth-up type veth peer name p-net netns "$sw"
    nsx "$sw" ip link set p-net master br-out up
    nsx "$(ns_of net)" ip addr add 198.51.100.1/24 dev veth-up
    nsx "$(ns_of net)" ip link set veth-up up
    nsx "$(ns_of net)" ip addr add 192.0.2.1/32 dev lo
    # the EIPs are on the link: whoever answers ARP for them (the primary) gets them
    nsx "$(ns_of net)" ip route add 203.0.113.0/24 dev veth-up
    for node in a b; do
        ha_add_ns "gw-$node"
        ns=$(ns_of "gw-$node")
        mkdir -p "$(node_dir "$node")/state"
        for s in net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0; do
            nsx "$ns" sysctl -qw "$s"
        done
        nsx "$ns" ip link add veth-in type veth peer name "p-in-$node" netns "$sw"
        nsx "$ns" ip link add veth-out type veth peer name "p-out-$node" netns "$sw"
        nsx "$sw" ip link set "p-in-$node" master br-in up
        nsx "$sw" ip link set "p-out-$node" master br-out up
        nsx "$ns" ip addr add "$(inside_addr "$node")/24" dev veth-in
        nsx "$ns" ip addr add "$(outside_addr "$node")/24" dev veth-out
        nsx "$ns" ip link set veth-in up
        nsx "$ns" ip link set veth-out up
        nsx "$ns" ip route add default via 198.51.100.1 dev veth-out
    done
    nsx "$(ns_of gw-a)" ip link add veth-sync type veth peer name veth-sync netns "$(ns_of gw-b)"
    for node in a b; do
        ns=$(ns_of "gw-$node")
        nsx "$ns" ip addr add "$(sync_addr "$node")/24" dev veth-sync
        nsx "$ns" ip link set veth-sync up
    done
    for node in c1 c2; do
        ha_add_ns "$node"
        ns=$(ns_of "$node")
        nsx "$sw" ip link add "p-$node" type veth peer name eth0 netns "$ns"
        nsx "$sw" ip link set "p-$node" master br-in up
        nsx "$ns" ip addr add "$( [ "$node" = c1 ] && echo 10.0.1.10 || echo 10.0.1.11)/24" dev eth0
        nsx "$ns" ip link set eth0 up
        nsx "$ns" ip route add default via 10.0.1.1
    done
}

# fill TEMPLATE OUT NODE: the examples/ha templates with this node's values
fill() {
    local template=$1 out=$2 node=$3 peer dir
    peer=$(peer_of "$node")
    dir=$(node_dir "$node")
    sed -e "s|@NODE@|gw-$node|g" -e "s|@PEER@|gw-$peer|g" \
        -e "s|@INSIDE_IF@|veth-in|g" -e "s|@OUTSIDE_IF@|veth-out|g" -e "s|@SYNC_IF@|veth-sync|g" \
        -e "s|@VRID@|51|g" -e "s|@PRIORITY@|$([ "$node" = a ] && echo 254 || echo 253)|g" \
        -e "s|@PREEMPT_DELAY@|${HA_PREEMPT_DELAY:-4}|g" \
        -e "s|@INSIDE_ADDR@|$(inside_addr "$node")|g" -e "s|@PEER_INSIDE_ADDR@|$(inside_addr "$peer")|g" \
        -e "s|@VIRTUAL_ADDRESSES@|        10.0.1.1/24 dev veth-in\n        203.0.113.10/32 dev veth-out|g" \
        -e "s|@NOTIFY_FIFO@|$dir/keepalived.fifo|g" \
        -e "s|@SYNC_ADDR@|$(sync_addr "$node")|g" -e "s|@PEER_SYNC_ADDR@|$(sync_addr "$peer")|g" \
        -e "s|@LOG_FILE@|$dir/conntrackd.log|g" -e "s|@LOCK_FILE@|$dir/conntrackd.lock|g" \
        -e "s|@CONTROL_SOCKET@|$dir/conntrackd.ctl|g" -e "s|@CONNTRACKD_CONF@|$dir/conntrackd.conf|g" \
        "$template" >"$out"
}

# wait_for SECONDS COMMAND...: polls every 50 ms until COMMAND succeeds
wait_for() {
    local deadline=$(( $(date +%s%N) + $1 * 1000000000 ))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# ha_start_node a|b: conntrackd, natctld (model applied), then keepalived
ha_start_node() {
    local node=$1 ns dir
    ns=$(ns_of "gw-$node")
    dir=$(node_dir "$node")
    # a mid-stream TCP segment without a conntrack entry must not create one (it would get
    # a fresh mapping): the takeover commits the peer's entries instead
    nsx "$ns" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
    nsx "$ns" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=120
    fill "$HA_EXAMPLES/conntrackd.conf.in" "$dir/conntrackd.conf" "$node"
    fill "$HA_EXAMPLES/keepalived.conf.in" "$dir/keepalived.conf" "$node"
    fill "$HA_EXAMPLES/natctld-ha.json.in" "$dir/natctld.json" "$node"
    rm -f "$dir/conntrackd.lock" "$dir/conntrackd.ctl"
    if [ -n "${HA_WITHOUT_SYNC:-}" ]; then
        # the control experiment: no conntrackd, natctld without it (the test must fail)
        "$PYTHON" -c 'import json,sys; c=json.load(open(sys.argv[1])); del c["ha"]["conntrackd"]; json.dump(c, open(sys.argv[1], "w"))' "$dir/natctld.json"
    else
        # `ip netns exec` execs the program: $! is its pid (a function would fork a subshell)
        ip netns exec "$ns" conntrackd -C "$dir/conntrackd.conf" >"$dir/conntrackd.out" 2>&1 &
        HA_PIDS["$node:conntrackd"]=$!
        wait_for 5 test -S "$dir/conntrackd.ctl" || { fail "gw-$node: conntrackd did not start ($(tail -3 "$dir/conntrackd.log" 2>/dev/null))"; return 1; }
    fi
    ip netns exec "$ns" "$NATCTLD" --state-dir "$dir/state" --socket "$dir/natctld.sock" \
        --metrics "$(sync_addr "$node"):9469" --config "$dir/natctld.json" >>"$dir/natctld.log" 2>&1 &
    HA_PIDS["$node:natctld"]=$!
    wait_for 10 natctl_on "$node" status || { fail "gw-$node: natctld did not answer ($(tail -3 "$dir/natctld.log"))"; return 1; }
    natctl_on "$node" apply -f "$HA_EXAMPLES/model.json" >"$dir/apply.out" 2>&1 ||
        { fail "gw-$node: natctl apply ($(tail -3 "$dir/apply.out"))"; return 1; }
    ip netns exec "$ns" keepalived -n -l -D -P -f "$dir/keepalived.conf" -p "$dir/keepalived.pid" \
        -r "$dir/keepalived-vrrp.pid" -c "$dir/keepalived-checkers.pid" >>"$dir/keepalived.log" 2>&1 &
    HA_PIDS["$node:keepalived"]=$!
}

ha_role() { natctl_on "$1" -o json ha status 2>/dev/null | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["node"]["role"])'; }
role_is() { [ "$(ha_role "$1")" = "$2" ]; }
holds_eip() { nsx "$(ns_of "gw-$1")" ip -o addr show dev veth-out | grep -q ' 203\.0\.113\.10/'; }

# ha_fail_node a|b: its links go down and every process in its namespace gets SIGKILL
ha_fail_node() {
    local node=$1 ns pid
    ns=$(ns_of "gw-$node")
    for link in veth-in veth-out veth-sync; do nsx "$ns" ip link set "$link" down; done
    for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null; done
    for program in keepalived natctld conntrackd; do
        pid=${HA_PIDS["$node:$program"]:-}
        [ -n "$pid" ] && wait "$pid" 2>/dev/null
        unset "HA_PIDS[$node:$program]"
    done
}

# ha_restore_node a|b: links up, processes started again (natctld keeps its state dir)
ha_restore_node() {
    local node=$1 ns
    ns=$(ns_of "gw-$node")
    for link in veth-in veth-out veth-sync; do nsx "$ns" ip link set "$link" up; done
    # keepalived removes its addresses when it stops, but SIGKILL leaves them behind
    nsx "$ns" ip addr del 203.0.113.10/32 dev veth-out 2>/dev/null
    nsx "$ns" ip addr del 10.0.1.1/24 dev veth-in 2>/dev/null
    ha_start_node "$node"
}

# ha_server: the internet host's echo server (TCP and UDP port 7100), logging where each
# flow comes from
ha_server() {
    ip netns exec "$(ns_of net)" "$PYTHON" "$FLOWS" server --bind 192.0.2.1 --port 7100 --log "$HA_TMP/server.log" &
    HA_PIDS["net:server"]=$!
    wait_for 5 sh -c "ip netns exec $(ns_of net) ss -lntH | grep -q 192.0.2.1:7100"
}

# ha_client NAME CLIENT tcp|udp SPORT: a paced flow from c1/c2 to the server
ha_client() {
    local name=$1 client=$2 proto=$3 sport=$4 src
    src=$([ "$client" = c1 ] && echo 10.0.1.10 || echo 10.0.1.11)
    ip netns exec "$(ns_of "$client")" "$PYTHON" "$FLOWS" client --proto "$proto" --src "$src" --sport "$sport" \
        --dst 192.0.2.1 --port 7100 --id "$name" --interval "${HA_INTERVAL:-0.005}" \
        --out "$HA_TMP/flow-$name.out" &
    HA_PIDS["flow:$name"]=$!
}

ha_stop_clients() {
    local key
    for key in "${!HA_PIDS[@]}"; do
        [[ $key == flow:* ]] || continue
        kill -TERM "${HA_PIDS[$key]}" 2>/dev/null
    done
    for key in "${!HA_PIDS[@]}"; do
        [[ $key == flow:* ]] || continue
        wait "${HA_PIDS[$key]}" 2>/dev/null
        unset "HA_PIDS[$key]"
    done
}

# flow_alive NAME: the flow has no error and got an echo within the last second
flow_alive() {
    local out="$HA_TMP/flow-$1.out" before
    before=$(grep -c '^alive' "$out")
    kill -USR1 "${HA_PIDS[flow:$1]}" 2>/dev/null || return 1
    wait_for 2 sh -c "[ \$(grep -c '^alive' '$out') -gt $before ]" || return 1
    grep '^alive' "$out" | tail -n1 | awk '{ exit !($2 < 1.0 && $3 == "-") }'
}

# peers_seen NAME: the addresses the server saw flow NAME come from, one per line
peers_seen() { awk -v id="$1" '$3 == id { print $4 }' "$HA_TMP/server.log" 2>/dev/null; }
