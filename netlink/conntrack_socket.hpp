// ConntrackBackend over a long-lived NETLINK_NETFILTER socket (libmnl), with messages built
// and parsed by libnetfilter_conntrack. The socket belongs to the network namespace it was
// opened in (see netns.hpp): only that namespace's entries are dumped and deleted. Its
// receive buffer is raised (SO_RCVBUFFORCE as root) so that large dumps are read in few
// system calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <vector>

#include "netlink/conntrack_backend.hpp"

struct mnl_socket;

namespace natctl::netlink {

class ConntrackSocket final : public ConntrackBackend {
  public:
    static constexpr std::size_t kDefaultReceiveBuffer = 32u << 20;

    static std::expected<ConntrackSocket, ConntrackError> open(
        std::size_t receive_buffer = kDefaultReceiveBuffer);

    std::expected<std::vector<ConntrackEntry>, ConntrackError> dump_nat() override;
    // Deletes by original tuple, zone and (when known) id. Refuses an entry without an IPv4
    // original tuple: a delete request without a tuple would flush the whole table.
    std::expected<bool, ConntrackError> remove(const ConntrackEntry& entry) override;

  private:
    struct SocketCloser {
        void operator()(mnl_socket* socket) const;
    };
    explicit ConntrackSocket(std::unique_ptr<mnl_socket, SocketCloser> socket);

    std::unique_ptr<mnl_socket, SocketCloser> socket_;
    std::uint32_t port_id_ = 0;
    std::uint32_t next_sequence_ = 1;
    std::vector<char> receive_buffer_;
};

}  // namespace natctl::netlink

struct nlmsghdr;

namespace natctl::netlink {

// One ctnetlink message (dump answer or event) as an IPv4 entry; nullopt for other
// families and for messages that are not entries. `counters` (may be null) receives the
// entry's packet and byte counters when the message carries them (nf_conntrack_acct=1).
// Shared with conntrack_events.cpp.
std::optional<ConntrackEntry> decode_conntrack_message(const nlmsghdr* header,
                                                       std::optional<ConntrackCounters>* counters);

}  // namespace natctl::netlink
