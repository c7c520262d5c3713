#!/usr/bin/env bash
# End-to-end: ICMP echo on a NAT gateway's EIPs as in Alibaba's NAT gateway (issue 14,
# item 2), with real pings from the internet namespace. egress.json has an IP mapping
# (eip-map 203.0.113.14 -> i2's 10.0.1.21) and icmp_echo_reply on:
#   on   the gateway answers ping on its EIPs, the IP-mapped one included (ttl 64: the
#        gateway's own answer), while TCP to the IP-mapped EIP still reaches the backend
#   off  ping to a plain EIP goes unanswered; ping to the IP-mapped EIP reaches the
#        backend (ttl 49: the instance's answer, one hop away)
# Needs root; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

E2E_PREFIX="e14i-$$"
GW="$E2E_PREFIX-gw"
SW="$E2E_PREFIX-sw"
NET="$E2E_PREFIX-net"
e2e_init
e2e_topology
add_inside_address 10.0.1.1/24
add_inside_address 10.0.2.1/24
add_inside_address 10.0.3.1/24
add_instance i2 10.0.1.20 10.0.1.21
I2=$(inst i2)
serve "$I2" tcp 7000
wait_listeners "$NET:4" "$I2:1"
BACKEND_TTL=$((E2E_INSTANCE_TTL - 1))

if apply_scenario "icmp_echo_reply on" "$MODELS/egress.json"; then
    check_eq "on: ping a plain EIP (203.0.113.10) answered by the gateway" "64" \
        "$(ping_ttl "$NET" 198.51.100.1 203.0.113.10)"
    check_eq "on: ping the IP-mapped EIP (203.0.113.14) answered by the gateway" "64" \
        "$(ping_ttl "$NET" 198.51.100.1 203.0.113.14)"
    check_eq "on: tcp to the IP-mapped EIP still reaches the backend" "198.51.100.1 10.0.1.21 7000" \
        "$(tcp_ask "$NET" 198.51.100.1 203.0.113.14 7000)"
fi

python3 - "$MODELS/egress.json" "$E2E_TMP/echo-off.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
model["nat_gateways"][0]["icmp_echo_reply"] = False
json.dump(model, open(sys.argv[2], "w"))
PY
if apply_scenario "icmp_echo_reply off" "$E2E_TMP/echo-off.json"; then
    check_eq "off: ping a plain EIP (203.0.113.10) unanswered" "" \
        "$(ping_ttl "$NET" 198.51.100.1 203.0.113.10)"
    check_eq "off: ping the IP-mapped EIP reaches the backend (ttl $BACKEND_TTL)" "$BACKEND_TTL" \
        "$(ping_ttl "$NET" 198.51.100.1 203.0.113.14)"
fi

e2e_finish
