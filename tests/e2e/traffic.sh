#!/usr/bin/env bash
# End-to-end: real TCP, UDP and ICMP between namespaces show that every translation works
# as the model says (DESIGN.md, "The model"). Scenarios:
#   egress      SNAT per VPC / vSwitch / instance / CIDR, longest prefix first; egress
#               priority public IP > IP mapping > SNAT (the secondary-IP seed case); IP
#               mapping inbound on every port; ICMP echo reply on (IP-mapped EIP included)
#   multi-eip   two EIPs per SNAT entry, affinity on and off
#   dnat        port mapping with the client address preserved, a UDP range offset by
#               offset and the ports just outside it; ICMP echo reply off
#   masquerade  NAT instance mode leaves with the outside interface's own address
# Needs root; skips (77) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init
e2e_topology
add_inside_address 10.0.1.1/24
add_inside_address 10.0.2.1/24
add_inside_address 10.0.3.1/24
add_instance i1 10.0.1.10
add_instance i2 10.0.1.20 10.0.1.21
add_instance i3 10.0.2.10
add_instance i4 10.0.2.200
add_instance i5 10.0.3.10
I1=$(inst i1) I2=$(inst i2) I3=$(inst i3) I4=$(inst i4) I5=$(inst i5)

# i1: the DNAT backend. tcp 8080 is the published port; tcp 80 would answer if the
# port were not translated. UDP: 80, 85, 90 are the range offsets checked; 79, 91 and 9,
# 21 would answer if a port outside the range were forwarded (offset or unchanged).
serve "$I1" tcp 8080
serve "$I1" tcp 80
for p in 9 21 79 80 85 90 91; do serve "$I1" udp "$p" 10.0.1.10; done
# i2: IP-mapping backend on its secondary address 10.0.1.21 (any address for tcp)
serve "$I2" tcp 12345
serve "$I2" tcp 7000
serve "$I2" udp 5353 10.0.1.21
serve "$I2" udp 5353 10.0.1.20
# i3: reachable on its public IP
serve "$I3" tcp 7000
wait_listeners "$NET:4" "$I1:9" "$I2:4" "$I3:1"

# ------------------------------------------------------------------------------------
if apply_scenario "SNAT granularity, egress priority, IP mapping, echo reply on" "$MODELS/egress.json"; then
    egress_check "VPC entry (10.0.0.0/16)" "$I5" 10.0.3.10 203.0.113.10
    egress_check "vSwitch entry beats VPC entry" "$I1" 10.0.1.10 203.0.113.11
    egress_check "instance entry beats vSwitch entry" "$I2" 10.0.1.20 203.0.113.12
    egress_check "CIDR /25 entry beats VPC entry" "$I4" 10.0.2.200 203.0.113.13
    egress_check "public IP beats the VPC SNAT entry" "$I3" 10.0.2.10 203.0.113.50
    egress_check "IP mapping of the secondary IP beats the instance SNAT entry" "$I2" 10.0.1.21 203.0.113.14

    # IP mapping inbound: every port and protocol reaches 10.0.1.21, client preserved
    check_eq "IP mapping: tcp 192.0.2.1 -> 203.0.113.14:12345 reaches" "192.0.2.1 10.0.1.21 12345" \
        "$(tcp_ask "$NET" 192.0.2.1 203.0.113.14 12345)"
    check_eq "IP mapping: tcp 198.51.100.1 -> 203.0.113.14:7000 reaches" "198.51.100.1 10.0.1.21 7000" \
        "$(tcp_ask "$NET" 198.51.100.1 203.0.113.14 7000)"
    check_eq "IP mapping: udp 192.0.2.2 -> 203.0.113.14:5353 reaches" "192.0.2.2 10.0.1.21 5353" \
        "$(udp_ask "$NET" 192.0.2.2 203.0.113.14 5353)"
    # echo reply on: the gateway answers ping on its IP-mapped EIPs too (tests/e2e/icmp.sh)
    check_eq "IP mapping, echo reply on: ping 203.0.113.14 answered by the gateway (ttl 64)" \
        "64" "$(ping_ttl "$NET" 198.51.100.1 203.0.113.14)"
    check_eq "public IP: tcp 198.51.100.1 -> 203.0.113.50:7000 reaches i3" "198.51.100.1 10.0.2.10 7000" \
        "$(tcp_ask "$NET" 198.51.100.1 203.0.113.50 7000)"
    check_eq "echo reply on: ping 203.0.113.10 answered by the gateway (ttl 64)" "64" \
        "$(ping_ttl "$NET" 198.51.100.1 203.0.113.10)"
    check_eq "no IPv4 gateway: tcp 198.51.100.1 -> 10.0.1.10:8080 (a VPC address) is dropped" "" \
        "$(tcp_ask "$NET" 198.51.100.1 10.0.1.10 8080 1)"
    check_eq "SNAT EIP publishes nothing: tcp 198.51.100.1 -> 203.0.113.12:12345 unanswered" "" \
        "$(tcp_ask "$NET" 198.51.100.1 203.0.113.12 12345 1)"
fi

# ------------------------------------------------------------------------------------
if apply_scenario "two EIPs per SNAT entry, affinity on / off" "$MODELS/multi-eip.json"; then
    seen=""
    for _ in $(seq 1 6); do
        seen+="$(peer_of "$(tcp_ask "$I1" 10.0.1.10 192.0.2.1 7000)")"$'\n'
        seen+="$(peer_of "$(tcp_ask "$I1" 10.0.1.10 192.0.2.2 7000)")"$'\n'
    done
    seen+="$(peer_of "$(udp_ask "$I1" 10.0.1.10 192.0.2.1 7001)")"$'\n'
    seen+="$(peer_of "$(udp_ask "$I1" 10.0.1.10 198.51.100.1 7001)")"$'\n'
    distinct=$(printf '%s' "$seen" | sort -u | tr '\n' ' ')
    case "$distinct" in
        "203.0.113.20 " | "203.0.113.21 ") pass "affinity on: 14 connections of 10.0.1.10 all leave as $distinct" ;;
        *) fail "affinity on: 14 connections of 10.0.1.10 should share one of 203.0.113.20/21, saw: $distinct" ;;
    esac
    ct_flush
    if [ -n "$(ping_ttl "$I1" 10.0.1.10 198.51.100.1)" ]; then
        check_eq "affinity on: icmp of 10.0.1.10 uses the same EIP" "${distinct% }" "$(icmp_translated 10.0.1.10)"
    else
        fail "affinity on: icmp 10.0.1.10 -> 198.51.100.1 got no echo reply"
    fi
    seen=""
    for _ in $(seq 1 20); do
        seen+="$(peer_of "$(tcp_ask "$I3" 10.0.2.10 192.0.2.1 7000)")"$'\n'
    done
    distinct=$(printf '%s' "$seen" | sort -u | tr '\n' ' ')
    check_eq "affinity off: 20 connections of 10.0.2.10 spread over both EIPs" \
        "203.0.113.30 203.0.113.31 " "$distinct"
fi

# ------------------------------------------------------------------------------------
if apply_scenario "DNAT port mapping, echo reply off" "$MODELS/dnat.json"; then
    check_eq "DNAT tcp 198.51.100.1 -> 203.0.113.10:80 reaches 10.0.1.10:8080, client preserved" \
        "198.51.100.1 10.0.1.10 8080" "$(tcp_ask "$NET" 198.51.100.1 203.0.113.10 80)"
    check_eq "DNAT tcp 192.0.2.1 -> 203.0.113.10:80 reaches 10.0.1.10:8080, client preserved" \
        "192.0.2.1 10.0.1.10 8080" "$(tcp_ask "$NET" 192.0.2.1 203.0.113.10 80)"
    check_eq "DNAT: the private port 8080 is not published (tcp 203.0.113.10:8080)" "" \
        "$(tcp_ask "$NET" 198.51.100.1 203.0.113.10 8080 1)"
    check_eq "DNAT udp range: 203.0.113.10:10 -> 10.0.1.10:80" "192.0.2.2 10.0.1.10 80" \
        "$(udp_ask "$NET" 192.0.2.2 203.0.113.10 10)"
    check_eq "DNAT udp range: 203.0.113.10:15 -> 10.0.1.10:85" "192.0.2.1 10.0.1.10 85" \
        "$(udp_ask "$NET" 192.0.2.1 203.0.113.10 15)"
    check_eq "DNAT udp range: 203.0.113.10:20 -> 10.0.1.10:90" "198.51.100.1 10.0.1.10 90" \
        "$(udp_ask "$NET" 198.51.100.1 203.0.113.10 20)"
    check_eq "DNAT udp range: port 21 (just above) not forwarded" "" \
        "$(udp_ask "$NET" 192.0.2.2 203.0.113.10 21)"
    check_eq "DNAT udp range: port 9 (just below) not forwarded" "" \
        "$(udp_ask "$NET" 192.0.2.2 203.0.113.10 9)"
    check_eq "DNAT tcp mapping is tcp only: udp 203.0.113.10:80 not forwarded" "" \
        "$(udp_ask "$NET" 192.0.2.2 203.0.113.10 80)"
    check_eq "echo reply off: ping 203.0.113.10 unanswered" "" "$(ping_ttl "$NET" 198.51.100.1 203.0.113.10)"
    check_eq "DNAT backend leaves through the shared SNAT EIP" "203.0.113.10" \
        "$(peer_of "$(tcp_ask "$I1" 10.0.1.10 192.0.2.1 7000)")"
fi

# ------------------------------------------------------------------------------------
if apply_scenario "NAT instance (masquerade)" "$MODELS/masquerade.json"; then
    egress_check "masquerade" "$I1" 10.0.1.10 198.51.100.2
fi

e2e_finish
