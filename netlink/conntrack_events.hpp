// Conntrack events: NEW and DESTROY notifications of a network namespace's entries, read
// from a NETLINK_NETFILTER socket subscribed to NFNLGRP_CONNTRACK_NEW and _DESTROY. The
// socket is non-blocking (the daemon waits for it on its io_context) and has a large
// receive buffer (SO_RCVBUFFORCE, 32 MB by default). When the kernel could not queue an
// event the next read reports ENOBUFS as `overflow`: events were lost and the reader must
// re-dump. NETLINK_NO_ENOBUFS is deliberately not set: it would make that loss silent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <vector>

#include "netlink/conntrack_backend.hpp"
#include "netlink/mnl_socket.hpp"

struct mnl_socket;

namespace natctl::netlink {

enum class ConntrackEventType { New, Destroy };

struct ConntrackEvent {
    ConntrackEventType type = ConntrackEventType::New;
    ConntrackEntry entry;
    std::optional<ConntrackCounters> counters;  // when the kernel counts (nf_conntrack_acct=1)
    bool operator==(const ConntrackEvent&) const = default;
};

// What one drain of the socket found.
struct ConntrackEventBatch {
    std::vector<ConntrackEvent> events;  // IPv4 entries with SRC_NAT or DST_NAT, in order
    bool overflow = false;               // ENOBUFS: events were lost since the last read
    bool drained = true;                 // false: stopped at max_messages, more may wait
};

// The contract the accounting needs; ConntrackEventSocket is the kernel's, tests use fakes.
class ConntrackEventSource {
  public:
    virtual ~ConntrackEventSource() = default;
    // Reads whatever is queued without blocking (at most `max_messages` netlink messages,
    // so that one busy socket cannot starve the daemon's other work).
    virtual std::expected<ConntrackEventBatch, ConntrackError> read(std::size_t max_messages) = 0;
};

class ConntrackEventSocket final : public ConntrackEventSource {
  public:
    static constexpr std::size_t kDefaultReceiveBuffer = 32u << 20;

    // Subscribes to NEW and DESTROY of the calling thread's network namespace. A buffer
    // size that cannot be forced (no CAP_NET_ADMIN) falls back to what rmem_max allows.
    static std::expected<ConntrackEventSocket, ConntrackError> open(
        std::size_t receive_buffer = kDefaultReceiveBuffer);

    int fd() const;
    // The receive buffer the kernel granted (SO_RCVBUF as read back; twice the request).
    std::size_t receive_buffer() const;

    std::expected<ConntrackEventBatch, ConntrackError> read(std::size_t max_messages) override;

  private:
    explicit ConntrackEventSocket(MnlSocket socket);

    MnlSocket socket_;
    std::vector<char> receive_buffer_;
};

}  // namespace natctl::netlink
