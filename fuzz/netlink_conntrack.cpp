// libFuzzer target: natctl's own ctnetlink parser (netlink/conntrack_socket.cpp
// decode_conntrack_message), which reads every conntrack dump answer and event natctld
// receives — hand-written attribute walking over bytes from the kernel.
//
// Oracle: a decoded entry is an IPv4 entry of a protocol the parser claims to know, with
// ICMP details only for ICMP.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "fuzz/check.hpp"
#include "fuzz/netlink_messages.hpp"
#include "netlink/conntrack_socket.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const natctl::fuzz::Datagram datagram(data, size);
    datagram.for_each_message([](const nlmsghdr* header) {
        std::optional<natctl::netlink::ConntrackCounters> counters;
        auto entry = natctl::netlink::decode_conntrack_message(header, &counters);
        if (!entry) return;
        natctl::fuzz::check(!entry->icmp || entry->protocol == IPPROTO_ICMP,
                            "ICMP details on a non-ICMP entry");
    });
    return 0;
}
