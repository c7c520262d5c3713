// ConntrackBackend over a long-lived NETLINK_NETFILTER socket (libmnl): deletions built by
// libnetfilter_conntrack, dumps parsed by hand. The socket belongs to the network namespace
// it was opened in (see netns.hpp): only that namespace's entries are dumped and deleted.
// Its receive buffer is raised (SO_RCVBUFFORCE as root). Dumps are received on a thread of
// their own while the calling thread parses (mnl_receive.hpp: receive_dump), and can be
// streamed to a visitor instead of collected (ConntrackEntryStream), which is how the
// accounting counts 200k entries in about the kernel's own time for the dump.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "netlink/conntrack_backend.hpp"
#include "netlink/mnl_socket.hpp"

struct mnl_socket;

namespace natctl::netlink {

// Called with each entry of a streamed dump, on the thread that asked for the dump.
using ConntrackEntryVisitor = std::function<void(const ConntrackEntry&)>;

// A dump handed over entry by entry as it is parsed, so that a consumer (the accounting)
// neither waits for the whole table nor holds it twice. Tracker uses it when its backend
// offers it, dump_nat() otherwise.
class ConntrackEntryStream {
  public:
    virtual ~ConntrackEntryStream() = default;
    // The entries dump_nat() would return, in the same order, each passed to `visit`;
    // the number passed. After an error, `visit` may have seen part of the table.
    virtual std::expected<std::size_t, ConntrackError> stream_nat(
        const ConntrackEntryVisitor& visit) = 0;
    // How many entries the namespace's table holds now (NAT'd or not), for sizing what a
    // dump is counted into; 0 when unknown.
    virtual std::size_t table_size_hint() { return 0; }
};

class ConntrackSocket final : public ConntrackBackend, public ConntrackEntryStream {
  public:
    static constexpr std::size_t kDefaultReceiveBuffer = 32u << 20;

    static std::expected<ConntrackSocket, ConntrackError> open(
        std::size_t receive_buffer = kDefaultReceiveBuffer);

    std::expected<std::vector<ConntrackEntry>, ConntrackError> dump_nat() override;
    std::expected<std::size_t, ConntrackError> stream_nat(
        const ConntrackEntryVisitor& visit) override;
    // The kernel's entry count of the namespace (IPCTNL_MSG_CT_GET_STATS); 0 on failure.
    std::size_t table_size_hint() override;
    // Deletes by original tuple, zone and (when known) id. Refuses an entry without an IPv4
    // original tuple: a delete request without a tuple would flush the whole table.
    std::expected<bool, ConntrackError> remove(const ConntrackEntry& entry) override;

  private:
    explicit ConntrackSocket(MnlSocket socket);

    MnlSocket socket_;
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
