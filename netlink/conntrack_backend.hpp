// The narrow conntrack interface natctl's hygiene needs: a dump of the NAT'd entries of the
// network namespace and the deletion of single entries. The real implementation is
// ConntrackSocket (conntrack_socket.hpp, libnetfilter_conntrack); ConntrackFake
// (tests/support/conntrack_fake.hpp) keeps the same contract in memory.
#pragma once

#include <compare>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

namespace natctl::netlink {

// IPS_SRC_NAT / IPS_DST_NAT of <linux/netfilter/nf_conntrack_common.h>: the entry's source
// (destination) was translated.
inline constexpr std::uint32_t kCtStatusSrcNat = 1u << 4;
inline constexpr std::uint32_t kCtStatusDstNat = 1u << 5;

// One direction of a connection, numbers in host byte order. Ports are those of TCP, UDP,
// UDP-Lite, SCTP and DCCP; zero for other protocols.
struct ConntrackTuple {
    std::uint32_t src = 0;
    std::uint32_t dst = 0;
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
    auto operator<=>(const ConntrackTuple&) const = default;
};

// ICMP's part of the original tuple (ICMP has no ports).
struct ConntrackIcmp {
    std::uint8_t type = 0;
    std::uint8_t code = 0;
    std::uint16_t id = 0;
    auto operator<=>(const ConntrackIcmp&) const = default;
};

// An IPv4 conntrack entry. The reply tuple shows the translation: for a DNAT'd entry its
// source is the translated destination, for a SNAT'd entry its destination is the
// translated source.
struct ConntrackEntry {
    std::uint8_t protocol = 0;  // IPPROTO_*
    ConntrackTuple original;
    ConntrackTuple reply;
    std::optional<ConntrackIcmp> icmp;  // protocol ICMP only
    std::uint32_t status = 0;           // IPS_* bits
    std::uint16_t zone = 0;
    std::uint32_t mark = 0;
    // The kernel's id of the entry. A deletion that carries it removes this entry only,
    // never a new connection that reused the tuple since the dump.
    std::optional<std::uint32_t> id;
    auto operator<=>(const ConntrackEntry&) const = default;

    bool src_nat() const { return (status & kCtStatusSrcNat) != 0; }
    bool dst_nat() const { return (status & kCtStatusDstNat) != 0; }
};

// Packets and bytes of a connection per direction, as the kernel counts them when
// net.netfilter.nf_conntrack_acct is 1 (DESTROY events then carry the final figures).
struct ConntrackCounters {
    std::uint64_t original_packets = 0;
    std::uint64_t original_bytes = 0;
    std::uint64_t reply_packets = 0;
    std::uint64_t reply_bytes = 0;
    auto operator<=>(const ConntrackCounters&) const = default;
};

struct ConntrackError {
    std::string message;
    int error_number = 0;  // errno; 0 when the failure did not come from the kernel
};

class ConntrackBackend {
  public:
    virtual ~ConntrackBackend() = default;

    // Every IPv4 entry of the namespace whose status says SRC_NAT or DST_NAT.
    virtual std::expected<std::vector<ConntrackEntry>, ConntrackError> dump_nat() = 0;

    // Deletes the entry with this original tuple in its zone (and with its id, when the
    // entry carries one). false: no such entry any more (it timed out or was replaced),
    // which is not an error.
    virtual std::expected<bool, ConntrackError> remove(const ConntrackEntry& entry) = 0;
};

// "udp 192.0.2.1:40000 -> 203.0.113.10:5000 [10.0.1.10:6000 -> 192.0.2.1:40000]"
std::string describe(const ConntrackEntry& entry);

}  // namespace natctl::netlink
