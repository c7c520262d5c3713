# shellcheck shell=bash
# Shared helpers of the end-to-end suite (tests/e2e/*.sh). Sourced, never run: CTest skips
# files named lib*.sh.
#
# Topology (every object lives in namespaces this file creates; the host is never touched):
#
#   instance namespaces ──eth0── [switch ns: bridge br0] ──veth-vpc── gateway ns ──veth-wan── internet ns
#   (10.0.x.y/24, default                                 10.0.N.1/24   (natctl host)  198.51.100.2/24   198.51.100.1/24
#    via 10.0.x.1, ttl 50)                                                                              lo: 192.0.2.1, 192.0.2.2
#                                                                                                       203.0.113.0/24 and
#                                                                                                       10.0.0.0/16 via .2
#
# Every check prints one line, "PASS: what" or "FAIL: what (why)"; e2e_finish prints
# "e2e: N passed, M failed" and gives the exit status.

set -u

E2E_PASS=0
E2E_FAIL=0
E2E_PREFIX="e2e-$$"
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"
E2E_NAMESPACES=()
E2E_PIDS=()
E2E_TMP=""
E2E_APPLIER=""          # "real" or "stand-in"
E2E_INSTANCE_TTL=50     # instances send with this TTL: a reply seen at the internet host
                        # with ttl 49 came from an instance, with ttl 64 from the gateway
NATCTL=""
NATCTL_APPLY=""
MODELS=""

log() { printf '%s\n' "$*"; }
pass() { E2E_PASS=$((E2E_PASS + 1)); printf 'PASS: %s\n' "$*"; }
fail() { E2E_FAIL=$((E2E_FAIL + 1)); printf 'FAIL: %s\n' "$*"; }

# check_eq WHAT EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass "$1 (= '$3')"; else fail "$1 (expected '$2', got '${3}')"; fi
}

skip_all() {
    printf 'SKIP: %s\n' "$*"
    exit 77
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

e2e_cleanup() {
    local pid ns
    for pid in "${E2E_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for ns in "${E2E_NAMESPACES[@]}"; do
        # whatever still runs in a namespace we created was started by us (socat children)
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    done
    for pid in "${E2E_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for ns in "${E2E_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    [ -n "$E2E_TMP" ] && rm -rf "$E2E_TMP"
}

e2e_finish() {
    log "e2e: $E2E_PASS passed, $E2E_FAIL failed"
    [ "$E2E_FAIL" -eq 0 ]
}

# Preconditions: root, namespaces, tools, natctl. Exits 77 when the test cannot run here.
e2e_init() {
    local tool
    [ "$(id -u)" -eq 0 ] || skip_all "end-to-end tests need root (network namespaces)"
    for tool in ip nft socat ping conntrack; do
        command -v "$tool" >/dev/null 2>&1 || skip_all "'$tool' not installed (scripts/install-deps.sh)"
    done
    : "${NATCTL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
    : "${NATCTL_BIN_DIR:=$NATCTL_SOURCE_DIR/build}"
    # shellcheck disable=SC2034  # used by the scripts that source this file
    MODELS="$NATCTL_SOURCE_DIR/tests/e2e/models"
    NATCTL="$NATCTL_BIN_DIR/cli/natctl"
    NATCTL_APPLY="$NATCTL_BIN_DIR/tests/natctl-apply"
    # NATCTL_E2E_APPLIER=stand-in forces the stand-in even when the real applier is built
    if [ -x "$NATCTL_APPLY" ] && [ "${NATCTL_E2E_APPLIER:-}" != stand-in ]; then
        E2E_APPLIER=real
        log "applier: real ($NATCTL_APPLY)"
    else
        [ -x "$NATCTL" ] || { log "FAIL: neither $NATCTL_APPLY nor $NATCTL exists (build natctl first)"; exit 1; }
        E2E_APPLIER=stand-in
        log "applier: stand-in ($NATCTL render | nft -f -, then the '# ip ...' lines); real applier $NATCTL_APPLY not built or NATCTL_E2E_APPLIER=stand-in"
    fi
    E2E_TMP=$(mktemp -d /tmp/natctl-e2e.XXXXXX)
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
    ip netns add "$GW" 2>"$E2E_TMP/netns.err" || skip_all "cannot create a network namespace: $(cat "$E2E_TMP/netns.err")"
    E2E_NAMESPACES+=("$GW")
}

add_ns() {
    ip netns add "$1" || { log "FAIL: ip netns add $1"; exit 1; }
    E2E_NAMESPACES+=("$1")
    nsx "$1" ip link set lo up
}

# Builds gateway, switch and internet. Instances come with add_instance.
e2e_topology() {
    add_ns "$SW"
    add_ns "$NET"
    nsx "$GW" ip link set lo up
    local s
    for s in net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.ip_forward=1; do
        nsx "$GW" sysctl -qw "$s"
    done
    nsx "$SW" ip link add br0 type bridge
    nsx "$SW" ip link set br0 up
    nsx "$GW" ip link add veth-vpc type veth peer name p-gw netns "$SW"
    nsx "$SW" ip link set p-gw master br0 up
    nsx "$GW" ip link add veth-wan type veth peer name veth-up netns "$NET"
    nsx "$GW" sysctl -qw net.ipv4.conf.veth-vpc.rp_filter=0 net.ipv4.conf.veth-wan.rp_filter=0
    nsx "$GW" ip link set veth-vpc up
    nsx "$GW" ip link set veth-wan up
    nsx "$GW" ip addr add 198.51.100.2/24 dev veth-wan
    # The gateway host has an ordinary default route of its own: natctl's tables must not
    # fall through to it (a vSwitch without a route must not reach the destination).
    nsx "$GW" ip route add default via 198.51.100.1 dev veth-wan
    nsx "$NET" ip link set veth-up up
    nsx "$NET" ip addr add 198.51.100.1/24 dev veth-up
    nsx "$NET" ip addr add 192.0.2.1/32 dev lo
    nsx "$NET" ip addr add 192.0.2.2/32 dev lo
    nsx "$NET" ip route add 203.0.113.0/24 via 198.51.100.2
    # lets the internet try to reach VPC addresses directly (inbound policy checks)
    nsx "$NET" ip route add 10.0.0.0/16 via 198.51.100.2
    # internet servers: TCP 7000 on every address (accepted sockets answer from the right
    # address); UDP 7001 bound per address, so that replies leave from the address the
    # request went to
    serve "$NET" tcp 7000
    serve "$NET" udp 7001 198.51.100.1
    serve "$NET" udp 7001 192.0.2.1
    serve "$NET" udp 7001 192.0.2.2
}

# add_vswitch_gw CIDR_PREFIX: the gateway's inside address of vSwitch 10.0.N.0/24 is 10.0.N.1
add_inside_address() {
    nsx "$GW" ip addr add "$1" dev veth-vpc
}

# add_instance NAME IP... : a namespace with eth0 on the bridge, the IPs as /24, default
# route via the .1 of the first IP's /24.
add_instance() {
    local name=$1; shift
    local ns="$E2E_PREFIX-$name" ip
    add_ns "$ns"
    nsx "$ns" sysctl -qw net.ipv4.ip_default_ttl=$E2E_INSTANCE_TTL
    nsx "$SW" ip link add "p-$name" type veth peer name eth0 netns "$ns"
    nsx "$SW" ip link set "p-$name" master br0 up
    for ip in "$@"; do nsx "$ns" ip addr add "$ip/24" dev eth0; done
    nsx "$ns" ip link set eth0 up
    nsx "$ns" ip route add default via "${1%.*}.1"
}

inst() { printf '%s-%s' "$E2E_PREFIX" "$1"; }

# serve NS tcp|udp PORT [BIND]: answers every connection / datagram with one line
# "PEERADDR LOCALADDR LOCALPORT" (the client address as the server sees it, the address
# and port it arrived on).
serve() {
    local ns=$1 proto=$2 port=$3 bind=${4:-}
    local opts="fork,reuseaddr"
    [ -n "$bind" ] && opts="$opts,bind=$bind"
    # shellcheck disable=SC2016  # expanded by the shell socat starts
    if [ "$proto" = tcp ]; then
        nsx "$ns" socat "TCP-LISTEN:$port,$opts" SYSTEM:'read -r _; echo $SOCAT_PEERADDR $SOCAT_SOCKADDR $SOCAT_SOCKPORT' 2>/dev/null &
    else
        # "read" first: a helper that exits with its input unread resets the socket pair and
        # socat may lose the answer.
        # socat sets no SOCAT_SOCK* variables for UDP-RECVFROM: the listener says who it is
        nsx "$ns" socat "UDP-RECVFROM:$port,$opts" SYSTEM:"read -r _; echo \$SOCAT_PEERADDR ${bind:-0.0.0.0} $port" 2>/dev/null &
    fi
    E2E_PIDS+=($!)
}

# wait_listeners NS:COUNT...: waits until each namespace has COUNT listening sockets
# (socat binds within milliseconds; be safe). One FAIL line when one never comes up.
wait_listeners() {
    local spec ns n _
    for spec in "$@"; do
        ns=${spec%:*} n=${spec##*:}
        for _ in $(seq 1 50); do
            [ "$(nsx "$ns" ss -lntuH 2>/dev/null | wc -l)" -ge "$n" ] && continue 2
            sleep 0.1
        done
        fail "listeners in $ns did not come up ($n expected)"
        return 1
    done
}

# tcp_ask NS SRC DST PORT [TIMEOUT]: the server's answer line, empty when nothing came back
tcp_ask() {
    local ns=$1 src=$2 dst=$3 port=$4 t=${5:-2}
    echo | timeout $((t + 2)) ip netns exec "$ns" socat -T"$t" - "TCP:$dst:$port,bind=$src,connect-timeout=$t" 2>/dev/null | head -n1
}

# udp_ask NS SRC DST PORT [TIMEOUT]
udp_ask() {
    local ns=$1 src=$2 dst=$3 port=$4 t=${5:-1}
    echo x | timeout $((t + 2)) ip netns exec "$ns" socat -t"$t" -T"$t" - "UDP:$dst:$port,bind=$src" 2>/dev/null | head -n1
}

# first word of the answer = the peer address the server saw
peer_of() { printf '%s' "${1%% *}"; }

# udp_from NS SRC SPORT DST PORT: like udp_ask, from a fixed source port, so that every
# call is the same connection for conntrack
udp_from() {
    echo x | timeout 3 ip netns exec "$1" socat -t1 -T1 - "UDP:$4:$5,bind=$2:$3" 2>/dev/null | head -n1
}
# second word of the answer = the backend address the datagram arrived on
backend_of() { local rest=${1#* }; printf '%s' "${rest%% *}"; }

# natctld_start [ARG...]: natctld in the gateway namespace, state and API socket under
# $API_DIR ($E2E_TMP/natctld), the ARGs added; returns once it answers. e2e_cleanup kills
# it with everything else running in the namespace.
API_DIR=""
natctld_start() {
    API_DIR="$E2E_TMP/natctld"
    mkdir -p "$API_DIR/state"
    nsx "$GW" "$NATCTL_BIN_DIR/controller/daemon/natctld" --state-dir "$API_DIR/state" \
        --socket "$API_DIR/api.sock" "$@" >"$API_DIR/log" 2>&1 &
    E2E_PIDS+=($!)
    for _ in $(seq 1 100); do
        [ "$(api GET /v1/status)" = 200 ] && break
        sleep 0.1
    done
}
# api METHOD PATH [BODY-FILE]: prints the HTTP status; the body is in $API_DIR/body
api() {
    local args=(-s -o "$API_DIR/body" -w '%{http_code}' --unix-socket "$API_DIR/api.sock" -X "$1")
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$3")
    curl "${args[@]}" "http://natctld$2" 2>/dev/null
}

# ping_ttl NS SRC DST: the ttl of the echo reply, empty when none came back
ping_ttl() {
    local ns=$1 src=$2 dst=$3
    nsx "$ns" ping -n -c1 -W1 -I "$src" "$dst" 2>/dev/null | sed -n 's/.*ttl=\([0-9]*\).*/\1/p' | head -n1
}

# icmp_translated SRC: after a ping from SRC, the address the gateway's conntrack entry
# translated it to (the destination of the reply tuple)
icmp_translated() {
    nsx "$GW" conntrack -L -p icmp --orig-src "$1" 2>/dev/null |
        awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^dst=/) { n++; if (n == 2) { sub(/^dst=/, "", $i); print $i; exit } } }'
}

ct_flush() { nsx "$GW" conntrack -F >/dev/null 2>&1 || true; }

# ---------------------------------------------------------------------------------------
# Applying a model inside the gateway namespace.
#
# real:     $NATCTL_BIN_DIR/tests/natctl-apply -f FILE (declarative, idempotent)
# stand-in: natctl render -f FILE | nft -f -, then every "# ip ..." line; the previous
#           model's table and ip objects are removed first (the stand-in is not
#           declarative). Only natctl's own table and the objects of the last render are
#           removed: foreign tables stay.

apply_model() {
    local file=$1 out="$E2E_TMP/apply.out"
    if [ "$E2E_APPLIER" = real ]; then
        nsx "$GW" "$NATCTL_APPLY" -f "$file" >"$out" 2>&1
        local rc=$?
        [ $rc -eq 0 ] || sed 's/^/    apply: /' "$out"
        return $rc
    fi
    local render="$E2E_TMP/render.txt"
    "$NATCTL" render -f "$file" >"$render" 2>"$out" || { sed 's/^/    render: /' "$out"; return 1; }
    standin_clear
    nsx "$GW" nft -f "$render" >"$out" 2>&1 || { sed 's/^/    nft: /' "$out"; return 1; }
    local line cmd bare rc=0
    : >"$E2E_TMP/ip-applied"
    while IFS= read -r line; do
        cmd=${line#\# }
        bare=$(printf '%s' "$cmd" | sed -E 's/ proto [0-9a-z]+$//')
        # shellcheck disable=SC2086  # a command line, split on purpose
        if nsx "$GW" $cmd >"$out" 2>&1; then
            printf '%s\n' "$cmd" >>"$E2E_TMP/ip-applied"
        elif [[ "$cmd" == "ip address add "* ]] && [ "$bare" != "$cmd" ] &&
            nsx "$GW" $bare >"$out" 2>&1; then
            # iproute2 before 6.3 knows no address protocol (IFA_PROTO); the kernel does
            [ -f "$E2E_TMP/proto-note" ] || {
                touch "$E2E_TMP/proto-note"
                log "    note: this iproute2 cannot set an address protocol; stand-in adds addresses without \"proto\""
            }
            printf '%s\n' "$bare" >>"$E2E_TMP/ip-applied"
        else
            printf '    %s: %s\n' "$cmd" "$(cat "$out")"
            rc=1
        fi
    done < <(grep -E '^# ip ' "$render")
    return $rc
}

# removes what the stand-in applied last time
standin_clear() {
    nsx "$GW" nft delete table ip natctl 2>/dev/null
    [ -f "$E2E_TMP/ip-applied" ] || return 0
    local line
    while IFS= read -r line; do
        # shellcheck disable=SC2046  # a command line, split on purpose
        nsx "$GW" $(printf '%s' "$line" | sed -E 's/^ip (-[0-9] )?(rule|route|address|addr) add /ip \1\2 del /') >/dev/null 2>&1
    done < <(tac "$E2E_TMP/ip-applied")
    : >"$E2E_TMP/ip-applied"
}

# apply_scenario NAME MODEL: applies and flushes conntrack; one PASS/FAIL line
apply_scenario() {
    log "--- $1 ($(basename "$2"))"
    ct_flush
    if apply_model "$2"; then
        pass "apply $(basename "$2")"
        ct_flush
        return 0
    fi
    fail "apply $(basename "$2") (the checks of this scenario are not run)"
    return 1
}

# Kernel state of the gateway as text, for before/after comparisons.
# Drops the "elements = { ... }" block (one or more lines) of every set with "flags dynamic":
# connlimit/meter sets are filled by packets, not by natctl.
without_dynamic_elements() {
    awk '
        /^\tset / || /^\tmap / { dynamic = 0 }
        /flags .*dynamic/ { dynamic = 1 }
        dynamic && /elements = \{/ { skipping = 1 }
        skipping { if (/\}/) skipping = 0; next }
        { print }
    '
}

gw_state() {
    {
        echo "## nft (without counter values: stray retransmissions of earlier checks may still count;"
        echo "##      without the elements of dynamic sets: the kernel adds and expires those per connection)"
        nsx "$GW" nft -s list ruleset | without_dynamic_elements
        echo "## rules"; nsx "$GW" ip rule show
        echo "## routes"; nsx "$GW" ip -4 -N route show table all  # natctl routes only IPv4; IPv6 link-local routes appear when DAD ends
        echo "## addresses"; nsx "$GW" ip -4 addr show
    } 2>&1
}

dump_gw_state() {
    log "    --- gateway state"
    gw_state | sed 's/^/    /'
}

# egress_check WHAT NS SRC EXPECTED: TCP, UDP and ICMP from SRC leave with EXPECTED
egress_check() {
    local what=$1 ns=$2 src=$3 want=$4 got
    got=$(peer_of "$(tcp_ask "$ns" "$src" 192.0.2.1 7000)")
    check_eq "$what: tcp $src -> 192.0.2.1 leaves as" "$want" "$got"
    got=$(peer_of "$(udp_ask "$ns" "$src" 192.0.2.2 7001)")
    check_eq "$what: udp $src -> 192.0.2.2 leaves as" "$want" "$got"
    ct_flush
    if [ -n "$(ping_ttl "$ns" "$src" 198.51.100.1)" ]; then
        check_eq "$what: icmp $src -> 198.51.100.1 translated to" "$want" "$(icmp_translated "$src")"
    else
        fail "$what: icmp $src -> 198.51.100.1 got no echo reply"
    fi
}
