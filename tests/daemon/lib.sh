# shellcheck shell=bash
# Shared helpers of the natctld tests (tests/daemon/*.sh). Sourced, never run: CTest skips
# files named lib*.sh. Builds on the end-to-end topology (tests/e2e/lib.sh: instances on a
# bridge, the gateway namespace, an internet namespace) and runs natctld inside the gateway
# namespace with its state directory and API socket in a private temporary directory.
# Nothing outside the namespaces and the temporary directory is touched.

# shellcheck source=../e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

# Our own namespace names, so that a daemon test never collides with an e2e run.
E2E_PREFIX="natd-$$"
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"

NATCTLD=""
DAEMON_PID=""
DAEMON_DIR=""
SOCK=""
HTTP_STATUS=""
HTTP_BODY=""
HTTP_ETAG=""

daemon_cleanup() {
    # A background subshell signalled right after its fork can run the parent's traps
    # before bash resets them: only the test's own shell cleans up.
    [ "$BASHPID" = "$$" ] || exit 1
    # SIGKILL: a test that ends early must not wait for anything; the namespace (and with
    # it the data plane the daemon left) goes away right after.
    [ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    e2e_cleanup
}

# Preconditions (root, tools, binaries), the temporary directory and the gateway namespace.
# Exits 77 when the test cannot run here.
daemon_init() {
    local tool
    [ "$(id -u)" -eq 0 ] || skip_all "natctld tests need root (network namespaces)"
    for tool in ip nft socat ping conntrack curl; do
        command -v "$tool" >/dev/null 2>&1 || skip_all "'$tool' not installed (scripts/install-deps.sh)"
    done
    : "${NATCTL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
    : "${NATCTL_BIN_DIR:=$NATCTL_SOURCE_DIR/build}"
    NATCTLD="$NATCTL_BIN_DIR/controller/daemon/natctld"
    NATCTL="$NATCTL_BIN_DIR/cli/natctl"
    NATCTL_APPLY="$NATCTL_BIN_DIR/tests/natctl-apply"
    local binary
    for binary in "$NATCTLD" "$NATCTL" "$NATCTL_APPLY"; do
        [ -x "$binary" ] || { log "FAIL: $binary not built"; exit 1; }
    done
    E2E_TMP=$(mktemp -d /tmp/natctl-daemon.XXXXXX)
    DAEMON_DIR="$E2E_TMP"
    SOCK="$DAEMON_DIR/run/natctld.sock"
    trap daemon_cleanup EXIT
    trap 'exit 130' INT TERM
    ip netns add "$GW" 2>"$E2E_TMP/netns.err" || skip_all "cannot create a network namespace: $(cat "$E2E_TMP/netns.err")"
    E2E_NAMESPACES+=("$GW")
}

# The demo topology of examples/quickstart.json: web-1 10.0.1.10 (vsw-web), app-1
# 10.0.2.10 and app-2 10.0.2.11 (vsw-app); the gateway's inside addresses 10.0.1.1 and
# 10.0.2.1 on veth-vpc.
quickstart_topology() {
    e2e_topology
    add_inside_address 10.0.1.1/24
    add_inside_address 10.0.2.1/24
    add_instance web-1 10.0.1.10
    add_instance app-1 10.0.2.10
    add_instance app-2 10.0.2.11
    # web-1's service behind the DNAT entry web-http (203.0.113.11:80 -> 10.0.1.10:8080)
    serve "$(inst web-1)" tcp 8080
}

# start_daemon [EXTRA ARGS...]: natctld inside the gateway namespace, in the background;
# `ip netns exec` execs it, so DAEMON_PID is natctld's own pid.
start_daemon() {
    mkdir -p "$DAEMON_DIR/state"
    ip netns exec "$GW" "$NATCTLD" --state-dir "$DAEMON_DIR/state" --socket "$SOCK" \
        --config "$DAEMON_DIR/natctld.json" "$@" >>"$DAEMON_DIR/natctld.log" 2>&1 &
    DAEMON_PID=$!
}

# wait_ready [SECONDS]: until the API answers (or the daemon died). 0 when it answers.
wait_ready() {
    local deadline=$((SECONDS + ${1:-10}))
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "$DAEMON_PID" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://natctld/v1/status 2>/dev/null)" = 200 ] && return 0
        sleep 0.05
    done
    return 1
}

# stop_daemon SIGNAL: sends it and waits (at most 15 s); the exit status in DAEMON_RC.
# Not in a $(...) subshell: only this shell can wait for its child.
DAEMON_RC=""
stop_daemon() {
    local pid=$DAEMON_PID i
    DAEMON_PID=""
    kill "-$1" "$pid" 2>/dev/null
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && { log "natctld ignored SIG$1 for 15 s: killing it"; kill -9 "$pid"; }
    wait "$pid" 2>/dev/null
    DAEMON_RC=$?
}

# check_same WHAT EXPECTED ACTUAL: like check_eq for multi-line texts (a diff on failure)
check_same() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1"
        diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | head -30 | sed 's/^/    /'
    fi
}

# api METHOD PATH [BODY-FILE] [CURL ARGS...]: sets HTTP_STATUS, HTTP_BODY, HTTP_ETAG.
api() {
    local method=$1 path=$2 body=${3:-}
    shift 3 2>/dev/null || shift $#
    local args=(-s -X "$method" --unix-socket "$SOCK" -o "$DAEMON_DIR/http.body"
        -D "$DAEMON_DIR/http.headers" -w '%{http_code}')
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$body")
    HTTP_STATUS=$(curl "${args[@]}" "$@" "http://natctld$path" 2>/dev/null)
    HTTP_BODY=$(cat "$DAEMON_DIR/http.body" 2>/dev/null)
    HTTP_ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$DAEMON_DIR/http.headers" 2>/dev/null)
}

# json_number KEY: the first "KEY": NUMBER in HTTP_BODY (no jq on a minimal machine)
json_number() {
    printf '%s' "$HTTP_BODY" | grep -o "\"$1\": *[0-9]*" | head -n1 | grep -o '[0-9]*$'
}

drift_repairs() {
    api GET /v1/status
    json_number drift_repairs
}

# Traffic, not configuration: counter values, and the elements the data plane adds to the
# dynamic port budget sets (their `elements = {` ... `}` lines after `flags dynamic`).
strip_counters() {
    sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' | awk '
        /^\t\tflags dynamic/ { dynamic = 1 }
        /^\t}/ { dynamic = 0 }
        dynamic && /^\t\telements = \{/ { skipping = 1 }
        skipping { if ($0 ~ /\}$/) skipping = 0; next }
        { print }'
}

# The table's sets, maps and chains in name order. The kernel lists them in creation order,
# which depends on the history of incremental applies (a chain added later is listed last)
# and means nothing: a regular chain runs only when jumped to, a base chain by its priority.
canonical_table() {
    awk '
        /^table /   { print "0\t" $0; next }
        /^}$/       { print "2\t" $0; next }
        /^$/        { next }
        /^\t}$/     { print "1\t" block "\001" $0; block = ""; next }
        /^\t[^\t]/  { block = $0; next }
        { block = block "\001" $0 }' | LC_ALL=C sort -t "$(printf '\t')" -k1,1 -k2 |
        cut -f2- | tr '\001' '\n'
}

# Addresses on the gateway's outside interface other than its own 198.51.100.2/24: EIPs.
outside_addresses() {
    nsx "$GW" ip -o -4 addr show dev veth-wan | awk '$4 != "198.51.100.2/24" {print $4}' | sort
}

# Kernel state of natctl's objects in the gateway: the table (without counter values),
# then its rules, routes and addresses, each sorted.
natctl_kernel() {
    nsx "$GW" nft list table ip natctl 2>&1 | strip_counters
    echo "## rules"; nsx "$GW" ip rule show | grep -E ' proto 147( |$)' | sort
    echo "## routes"; nsx "$GW" ip -N route show table all | grep ' proto 147 ' | sort
    echo "## addresses"; outside_addresses
}

# The table natctl's render of the stored model (GET /v1/config) says the kernel must hold,
# and its `# ip ...` lines; in FILE.render.
render_stored() {
    local out=$1
    api GET /v1/config
    [ "$HTTP_STATUS" = 200 ] || { echo "GET /v1/config: $HTTP_STATUS" >"$out.render"; return 1; }
    printf '%s' "$HTTP_BODY" >"$out.model.json"
    "$NATCTL" render -f "$out.model.json" >"$out.render" 2>&1
}

# kernel_matches_store WHAT: the kernel holds exactly the stored model. Checks that
# - `nft list table ip natctl` equals the table block of `natctl render` of GET /v1/config,
# - natctl's rules / routes / addresses are as many as rendered (nothing duplicated or
#   orphaned) and the reconciler plans no change for the stored model (nothing missing
#   or different).
# One PASS or FAIL line; details on failure.
kernel_matches_store() {
    local what=$1 base="$E2E_TMP/match" problems=""
    render_stored "$base" || { fail "$what: cannot read the stored model ($(cat "$base.render"))"; return 1; }
    # the table block of the render: from "table ip natctl {" to its closing brace
    # counter values are traffic, not configuration
    sed -n '/^table ip natctl {/,/^}/p' "$base.render" | strip_counters | canonical_table >"$base.want"
    nsx "$GW" nft list table ip natctl 2>&1 | strip_counters | canonical_table >"$base.got"
    if ! diff -u "$base.want" "$base.got" >"$base.diff"; then
        problems+=" nft-table-differs"
    fi
    local want got
    want=$(grep -c '^# ip rule add' "$base.render"); got=$(nsx "$GW" ip rule show | grep -cE ' proto 147( |$)')
    [ "$want" = "$got" ] || problems+=" rules:want=$want,got=$got"
    want=$(grep -c '^# ip route add' "$base.render"); got=$(nsx "$GW" ip -N route show table all | grep -c ' proto 147 ')
    [ "$want" = "$got" ] || problems+=" routes:want=$want,got=$got"
    # iproute2 6.1 does not print the address protocol: count what sits on the outside
    # interface besides its own address
    want=$(grep -c '^# ip address add' "$base.render"); got=$(outside_addresses | wc -l)
    [ "$want" = "$got" ] || problems+=" addresses:want=$want,got=$got"
    nsx "$GW" "$NATCTL_APPLY" --dry-run --keep-conntrack -f "$base.model.json" >"$base.plan" 2>&1
    grep -q '^plan: sets +0 -0, chains +0 ~0 -0, elements +0 -0, route ops 0$' "$base.plan" ||
        problems+=" plan-not-empty"
    if [ -z "$problems" ]; then
        pass "$what: kernel = stored model"
        return 0
    fi
    fail "$what: kernel differs from the stored model:$problems"
    [ -s "$base.diff" ] && sed 's/^/    /' "$base.diff" | head -40
    grep -v '^kernel:' "$base.plan" | sed 's/^/    plan: /'
    return 1
}

# wait_until SECONDS COMMAND...: polls every 20 ms; prints the elapsed milliseconds and
# returns 0 when COMMAND succeeded in time.
wait_until() {
    local limit_ms=$(($1 * 1000)) start now
    shift
    start=$(date +%s%3N)
    while :; do
        if "$@" >/dev/null 2>&1; then
            now=$(date +%s%3N); printf '%s' $((now - start)); return 0
        fi
        now=$(date +%s%3N)
        [ $((now - start)) -ge "$limit_ms" ] && { printf '%s' $((now - start)); return 1; }
        sleep 0.02
    done
}

# A second model for change tests: the quickstart plus a DNAT entry, an EIP and a vSwitch
# with its own route table (so that a change touches set elements, chains and routes).
# app-1's SNAT (snat-vsw-app via eip-egress) is the same in both, so conntrack hygiene has
# no reason to touch the long-lived session of the crash test.
write_variant_model() {
    cat >"$1" <<'JSON'
{
  "version": 1,
  "vpcs": [{
    "name": "vpc-demo",
    "cidr": "10.0.0.0/16",
    "interfaces": ["veth-vpc"],
    "vswitches": [
      {"name": "vsw-web", "cidr": "10.0.1.0/24", "route_table": "rt-nat"},
      {"name": "vsw-app", "cidr": "10.0.2.0/24", "route_table": "rt-nat"},
      {"name": "vsw-lab", "cidr": "10.0.3.0/24", "route_table": "rt-lab"}
    ],
    "instances": [
      {"name": "web-1", "vswitch": "vsw-web", "private_ips": ["10.0.1.10"]},
      {"name": "app-1", "vswitch": "vsw-app", "private_ips": ["10.0.2.10"]},
      {"name": "app-2", "vswitch": "vsw-app", "private_ips": ["10.0.2.11"]},
      {"name": "lab-1", "vswitch": "vsw-lab", "private_ips": ["10.0.3.10"]}
    ],
    "route_tables": [
      {"name": "rt-nat", "routes": [
        {"destination": "0.0.0.0/0", "next_hop": {"nat_gateway": "ngw-demo"}}]},
      {"name": "rt-lab", "routes": [
        {"destination": "192.0.2.0/24", "next_hop": {"nat_gateway": "ngw-demo"}}]}
    ]
  }],
  "eips": [
    {"name": "eip-egress", "address": "203.0.113.10"},
    {"name": "eip-web", "address": "203.0.113.11"},
    {"name": "eip-lab", "address": "203.0.113.12"}
  ],
  "nat_gateways": [{
    "name": "ngw-demo",
    "vpc": "vpc-demo",
    "outside_interface": "veth-wan",
    "upstream": "198.51.100.1",
    "eips": ["eip-egress", "eip-web", "eip-lab"],
    "snat_entries": [
      {"name": "snat-vsw-app", "source": {"vswitch": "vsw-app"}, "eips": ["eip-egress"]},
      {"name": "snat-vsw-lab", "source": {"vswitch": "vsw-lab"}, "eips": ["eip-lab"]}
    ],
    "dnat_entries": [
      {"name": "web-http", "eip": "eip-web", "protocol": "tcp",
       "public_port": "80", "private_ip": "10.0.1.10", "private_port": "8080"},
      {"name": "web-alt", "eip": "eip-web", "protocol": "tcp",
       "public_port": "81", "private_ip": "10.0.1.10", "private_port": "8080"},
      {"name": "web-dns", "eip": "eip-web", "protocol": "udp",
       "public_port": "53", "private_ip": "10.0.1.10", "private_port": "5353"}
    ]
  }]
}
JSON
}

# check_metrics_format FILE WHAT: a scrape of natctld's /metrics passes promtool (from PATH,
# or the copy scripts/install-deps.sh takes out of the Debian package prometheus), which
# parses the text format and lints it, and names no series twice (promtool does not check
# that; Prometheus would drop the second sample of a scrape).
check_metrics_format() {
    local file=$1 what=$2 promtool
    promtool=$(command -v promtool || echo /usr/local/libexec/natctl/promtool)
    if [ -x "$promtool" ]; then
        if "$promtool" check metrics <"$file" >"$E2E_TMP/promtool.out" 2>&1; then
            pass "$what: promtool check metrics passes"
        else
            fail "$what: promtool check metrics: $(head -c 600 "$E2E_TMP/promtool.out")"
        fi
    else
        fail "$what: promtool not found (scripts/install-deps.sh fetches it)"
    fi
    local twice
    twice=$(awk '!/^#/ && NF { print $1 }' "$file" | sort | uniq -d | head -n 5)
    if [ -z "$twice" ]; then
        pass "$what: every series once"
    else
        fail "$what: series given twice: $twice"
    fi
}
