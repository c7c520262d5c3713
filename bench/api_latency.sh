#!/usr/bin/env bash
# API one-entry change latency of natctld with N DNAT entries loaded, and its memory.
#
#   sudo NATCTL_BIN_DIR=build-perf bench/api_latency.sh [N...]     (default: 1000 100000)
#
# Builds nothing: takes natctld from $NATCTL_BIN_DIR/controller/daemon/natctld. For each N
# it creates a private network namespace (veth-vpc / veth-wan, nothing outside it is
# touched), starts natctld there with a temporary state directory and API socket, loads a
# generated model with N port-mapping DNAT entries spread over 4 EIPs that no SNAT entry
# uses (PUT /v1/config), then makes CHANGES (default 200) one-entry changes through the API
# (alternately POST and DELETE of one DNAT entry), timing each with curl's time_total.
# EDIT picks the one-entry change (default dnat), each made and undone alternately:
#   dnat          POST / DELETE of a port-mapping DNAT entry
#   ipmap         POST / DELETE of an IP-mapping DNAT entry (protocol any) on eip-map
#   snat          POST / DELETE of an SNAT entry (source 10.30.255.0/24, eip-snat)
#   eip-gateway   POST / DELETE /v1/nat_gateways/ngw-b/eips/eip-spare (associate, disassociate)
#   eip-instance  PUT /v1/eips/eip-inst with, then without, "instance": "i-b"
# NATCTLD_CONFIG (JSON) is natctld's settings file (default: {}). SCRAPES (default 0): after
# the load, natctld is left idle for 5 s, its VmRSS read, and GET /metrics timed that many
# times (curl time_total inside the namespace; median, min, max and the scrape's size).
# PERF=FILE records natctld during the changes (perf, dwarf call graphs) into FILE (with
# several N, the last one's). Prints the load time, p50 / p90 / p99 / max of the changes, and natctld's VmRSS / VmHWM
# after the load and after the changes.
set -euo pipefail

: "${NATCTL_BIN_DIR:?set NATCTL_BIN_DIR to a build directory}"
CHANGES=${CHANGES:-200}
EDIT=${EDIT:-dnat}
case "$EDIT" in dnat | ipmap | snat | eip-gateway | eip-instance) ;; *)
    echo "EDIT=$EDIT: one of dnat ipmap snat eip-gateway eip-instance" >&2; exit 2 ;;
esac
SCRAPES=${SCRAPES:-0}
METRICS_PORT=19469
# natctld's --config file. Its own kernel writes echo back as change notifications, each
# followed (drift_debounce_ms later) by a full drift reconcile that dumps the kernel on the
# API's thread (at most 900 ms later; it cannot be switched off): changes that queue
# behind one of those show it in their latency.
NATCTLD_CONFIG=${NATCTLD_CONFIG:-'{}'}
NATCTLD="$NATCTL_BIN_DIR/controller/daemon/natctld"
[ -x "$NATCTLD" ] || { echo "natctld not found at $NATCTLD" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 100000)

NS="natbench-$$"
TMP=$(mktemp -d /tmp/natbench.XXXXXX)
PID=""
cleanup() {
    set +e
    if [ -n "$PID" ]; then
        kill -9 "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# gen_model N FILE: one VPC (10.30.0.0/16) with one instance (i-b, 10.30.254.10), one
# gateway with an SNAT entry on its own EIP, and N tcp port mappings on eip-d0..eip-d3
# (public ports from 1025), each to its own private address and port. eip-map is attached
# to the gateway and unused (for IP mappings); eip-spare and eip-inst are associated with
# nothing (for associations).
gen_model() {
    awk -v n="$1" 'BEGIN {
        printf "{\"version\":1,\"limits\":{\"dnat_entries_per_nat_gateway\":%d},", n + 1000
        printf "\"vpcs\":[{\"name\":\"vpc-b\",\"cidr\":\"10.30.0.0/16\",\"interfaces\":[\"veth-vpc\"],"
        printf "\"vswitches\":[{\"name\":\"vsw-b\",\"cidr\":\"10.30.0.0/16\",\"route_table\":\"rt-b\"}],"
        printf "\"instances\":[{\"name\":\"i-b\",\"vswitch\":\"vsw-b\",\"private_ips\":[\"10.30.254.10\"]}],\"route_tables\":[{\"name\":\"rt-b\",\"routes\":[{\"destination\":\"0.0.0.0/0\","
        printf "\"next_hop\":{\"nat_gateway\":\"ngw-b\"}}]}]}],"
        printf "\"eips\":[{\"name\":\"eip-snat\",\"address\":\"203.0.113.9\"}"
        for (e = 0; e < 4; e++) printf ",{\"name\":\"eip-d%d\",\"address\":\"203.0.113.%d\"}", e, 10 + e
        printf ",{\"name\":\"eip-map\",\"address\":\"203.0.113.20\"}"
        printf ",{\"name\":\"eip-spare\",\"address\":\"203.0.113.21\"}"
        printf ",{\"name\":\"eip-inst\",\"address\":\"203.0.113.22\"}"
        printf "],\"nat_gateways\":[{\"name\":\"ngw-b\",\"vpc\":\"vpc-b\",\"outside_interface\":\"veth-wan\","
        printf "\"upstream\":\"198.51.100.1\",\"eips\":[\"eip-snat\",\"eip-d0\",\"eip-d1\",\"eip-d2\",\"eip-d3\",\"eip-map\"],"
        printf "\"snat_entries\":[{\"name\":\"snat-b\",\"source\":{\"vswitch\":\"vsw-b\"},\"eips\":[\"eip-snat\"]}],"
        printf "\"dnat_entries\":["
        for (i = 0; i < n; i++) {
            if (i) printf ","
            printf "{\"name\":\"d%d\",\"eip\":\"eip-d%d\",\"protocol\":\"tcp\",\"public_port\":\"%d\",", i, i % 4, 1025 + int(i / 4)
            printf "\"private_ip\":\"10.30.%d.%d\",\"private_port\":\"%d\"}", int(i / 240) % 250 + 1, i % 240 + 10, 8000 + int(i / 60000)
        }
        printf "]}]}\n"
    }' >"$2"
}

# percentile P FILE (sorted numbers, one per line)
percentile() {
    awk -v p="$1" '{ v[NR] = $1 } END { i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }' "$2"
}

ms() { awk '{ printf "%.2f", $1 * 1000 }'; }

memory() {
    awk '/^VmRSS|^VmHWM/ { printf "%s %.1f MiB  ", $1, $2 / 1024 }' "/proc/$PID/status"
}

api() {  # METHOD PATH [BODY-FILE]: prints "<http code> <seconds>"
    local args=(-s -o "$TMP/body" -X "$1" --unix-socket "$TMP/api.sock" -w '%{http_code} %{time_total}\n')
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$3")
    curl "${args[@]}" "http://natctld$2"
}

run_one() {
    local n=$1
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" link add veth-vpc type veth peer name veth-vpc-p
    ip -n "$NS" link add veth-wan type veth peer name veth-wan-p
    local l
    for l in veth-vpc veth-vpc-p veth-wan veth-wan-p; do ip -n "$NS" link set "$l" up; done
    ip -n "$NS" addr add 198.51.100.2/24 dev veth-wan
    rm -rf "$TMP/state" "$TMP/api.sock"
    mkdir -p "$TMP/state"
    printf '%s\n' "$NATCTLD_CONFIG" >"$TMP/natctld.json"
    ip netns exec "$NS" "$NATCTLD" --state-dir "$TMP/state" --socket "$TMP/api.sock" \
        --config "$TMP/natctld.json" --metrics "127.0.0.1:$METRICS_PORT" >"$TMP/natctld-$n.log" 2>&1 &
    PID=$!
    local i
    for i in $(seq 1 200); do
        [ -S "$TMP/api.sock" ] && [ "$(api GET /v1/status | cut -d' ' -f1)" = 200 ] && break
        kill -0 "$PID" 2>/dev/null || { cat "$TMP/natctld-$n.log" >&2; exit 1; }
        sleep 0.05
    done

    gen_model "$n" "$TMP/model.json"
    local out
    out=$(api PUT /v1/config "$TMP/model.json")
    [ "${out%% *}" = 200 ] || { echo "loading $n entries: HTTP $out: $(head -c 600 "$TMP/body")" >&2; exit 1; }
    echo "N=$n: load (PUT /v1/config, $(stat -c %s "$TMP/model.json") bytes) $(echo "${out#* }" | ms) ms; $(memory)"

    if ((SCRAPES > 0)); then
        sleep 5
        echo "N=$n: idle 5 s after the load: $(memory)"
        : >"$TMP/scrapes"
        for ((i = 0; i < SCRAPES; i++)); do
            ip netns exec "$NS" curl -s -o "$TMP/scrape" -w '%{time_total}\n' \
                "http://127.0.0.1:$METRICS_PORT/metrics" >>"$TMP/scrapes"
        done
        sort -g "$TMP/scrapes" >"$TMP/sorted"
        echo "N=$n: $SCRAPES scrapes of GET /metrics ($(stat -c %s "$TMP/scrape") bytes," \
            "$(grep -vc '^#' "$TMP/scrape") samples): median $(percentile 50 "$TMP/sorted" | ms) ms," \
            "min $(head -n1 "$TMP/sorted" | ms) ms, max $(tail -n1 "$TMP/sorted" | ms) ms; $(memory)"
    fi

    : >"$TMP/times"
    : >"$TMP/times-make"
    : >"$TMP/times-undo"
    local k=0 code
    local make undo
    case "$EDIT" in
    dnat)
        echo '{"name":"bench-x","eip":"eip-d0","protocol":"tcp","public_port":"60001","private_ip":"10.30.255.10","private_port":"9000"}' >"$TMP/make.json"
        make="POST /v1/nat_gateways/ngw-b/dnat_entries" undo="DELETE /v1/nat_gateways/ngw-b/dnat_entries/bench-x" ;;
    ipmap)
        echo '{"name":"bench-x","eip":"eip-map","protocol":"any","private_ip":"10.30.255.10"}' >"$TMP/make.json"
        make="POST /v1/nat_gateways/ngw-b/dnat_entries" undo="DELETE /v1/nat_gateways/ngw-b/dnat_entries/bench-x" ;;
    snat)
        echo '{"name":"snat-x","source":{"cidr":"10.30.255.0/24"},"eips":["eip-snat"]}' >"$TMP/make.json"
        make="POST /v1/nat_gateways/ngw-b/snat_entries" undo="DELETE /v1/nat_gateways/ngw-b/snat_entries/snat-x" ;;
    eip-gateway)
        make="POST /v1/nat_gateways/ngw-b/eips/eip-spare" undo="DELETE /v1/nat_gateways/ngw-b/eips/eip-spare" ;;
    eip-instance)
        echo '{"name":"eip-inst","address":"203.0.113.22","instance":"i-b"}' >"$TMP/make.json"
        echo '{"name":"eip-inst","address":"203.0.113.22"}' >"$TMP/undo.json"
        make="PUT /v1/eips/eip-inst" undo="PUT /v1/eips/eip-inst" ;;
    esac
    local perf_pid=""
    if [ -n "${PERF:-}" ]; then
        perf record -F 499 --call-graph dwarf,16384 -o "$PERF" -p "$PID" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 1
    fi
    for ((k = 0; k < CHANGES; k++)); do
        if ((k % 2 == 0)); then
            # shellcheck disable=SC2086 # "METHOD PATH"
            out=$(api $make $([ -f "$TMP/make.json" ] && echo "$TMP/make.json"))
            code=${out%% *}
            [ "$code" = 200 ] || [ "$code" = 201 ] || { echo "${make%% *}: HTTP $out: $(head -c 400 "$TMP/body")" >&2; exit 1; }
        else
            # shellcheck disable=SC2086
            out=$(api $undo $([ -f "$TMP/undo.json" ] && echo "$TMP/undo.json"))
            [ "${out%% *}" = 200 ] || { echo "${undo%% *}: HTTP $out: $(head -c 400 "$TMP/body")" >&2; exit 1; }
        fi
        echo "${out#* }" >>"$TMP/times"
        if ((k % 2 == 0)); then echo "${out#* }" >>"$TMP/times-make"; else echo "${out#* }" >>"$TMP/times-undo"; fi
    done
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
    sort -g "$TMP/times" >"$TMP/sorted"
    echo "N=$n: $CHANGES one-entry changes ($EDIT: ${make%% *}/${undo%% *}):" \
        "p50 $(percentile 50 "$TMP/sorted" | ms) ms," \
        "p90 $(percentile 90 "$TMP/sorted" | ms) ms," \
        "p99 $(percentile 99 "$TMP/sorted" | ms) ms," \
        "max $(tail -n1 "$TMP/sorted" | ms) ms; $(memory)"
    # Undoing (a DELETE) also purges the removed translation's conntrack sessions (a dump of
    # the host's conntrack table, independent of N); making it needs no purge. Shown apart.
    local verb
    for verb in make undo; do
        sort -g "$TMP/times-$verb" >"$TMP/sorted"
        echo "N=$n:   $verb ($([ "$verb" = make ] && echo "${make%% *}" || echo "${undo%% *}")) only: p50 $(percentile 50 "$TMP/sorted" | ms) ms," \
            "p90 $(percentile 90 "$TMP/sorted" | ms) ms," \
            "p99 $(percentile 99 "$TMP/sorted" | ms) ms," \
            "max $(tail -n1 "$TMP/sorted" | ms) ms"
    done
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null || true
    PID=""
    ip netns del "$NS"
}

for n in "${SIZES[@]}"; do run_one "$n"; done
