// NFLOG: packets an nftables `log group N` rule copies to user space, read from a
// NETLINK_NETFILTER socket bound to that group (NFULNL_MSG_CONFIG). natctl's data plane
// logs the connections a NAT gateway refuses for lack of ports to group 20052 with a
// prefix naming the reason, the gateway's realm and the entry; this is the reader. libmnl
// only (no libnetfilter_log). The socket is non-blocking, its receive buffer large
// (SO_RCVBUFFORCE); when the kernel could not queue a packet the next read reports
// ENOBUFS as `overflow` (those log lines are lost; nothing to re-dump).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netlink/conntrack_backend.hpp"
#include "netlink/mnl_socket.hpp"

struct mnl_socket;
struct nlmsghdr;

namespace natctl::netlink {

inline constexpr std::uint16_t kNatctlLogGroup = 20052;

// One logged IPv4 packet: the rule's prefix and the addresses and ports of its headers.
struct NflogPacket {
    std::string prefix;
    // When the kernel stamped the packet (NFULA_TIMESTAMP); absent for packets without a
    // receive timestamp (locally generated ones).
    std::optional<std::chrono::system_clock::time_point> timestamp;
    std::uint8_t protocol = 0;  // IPPROTO_*
    ConntrackTuple tuple;       // ports of TCP, UDP, UDP-Lite, SCTP, DCCP; else 0
    std::optional<ConntrackIcmp> icmp;
    bool operator==(const NflogPacket&) const = default;
};

struct NflogBatch {
    std::vector<NflogPacket> packets;
    bool overflow = false;  // ENOBUFS: packets were lost since the last read
    bool drained = true;    // false: stopped at max_messages, more may wait
};

// One NFULNL_MSG_PACKET message as a packet; nullopt for other messages and for payloads
// that are not an IPv4 header. Exposed for unit tests.
std::optional<NflogPacket> decode_nflog_message(const nlmsghdr* header);

class NflogSocket {
  public:
    static constexpr std::size_t kDefaultReceiveBuffer = 8u << 20;
    // An IPv4 header with options (60) and the first 8 bytes of TCP/UDP/ICMP: enough for
    // addresses and ports, never a payload.
    static constexpr std::uint32_t kCopyBytes = 68;

    // Binds `group` in the calling thread's network namespace. Fails with EBUSY when
    // another process already listens on the group.
    static std::expected<NflogSocket, ConntrackError> open(
        std::uint16_t group = kNatctlLogGroup, std::size_t receive_buffer = kDefaultReceiveBuffer);

    int fd() const;
    std::expected<NflogBatch, ConntrackError> read(std::size_t max_messages);

  private:
    explicit NflogSocket(MnlSocket socket);

    MnlSocket socket_;
    std::vector<char> receive_buffer_;
};

}  // namespace natctl::netlink
