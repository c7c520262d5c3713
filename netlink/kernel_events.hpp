// Kernel change notifications that may mean someone changed natctl's objects behind its
// back: nftables (NETLINK_NETFILTER, group NFNLGRP_NFTABLES) and rtnetlink (IPv4 rules,
// routes, addresses), each on its own socket, which natctld waits for on its io_context
// (controller/daemon/kernel_watcher.hpp). Only the
// notification is used: the reconciler re-reads the kernel and decides what, if anything,
// needs repair, so a filter that lets too much through costs a dump, never correctness.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/netns.hpp"

struct nlmsghdr;

namespace natctl::netlink {

// True when a message from the nftables group is about table ip natctl. Generation
// messages (one per committed batch, whoever sent it) are not.
bool nft_event_concerns_natctl(const nlmsghdr& message);

// True when an rtnetlink rule / route / address message is about an object with natctl's
// protocol (147): the only ones the reconciler would touch.
bool route_event_concerns_natctl(const nlmsghdr& message);

// True when `message` reports a change sent through the netlink socket with `port_id`: the
// kernel stamps every notification with the originating socket's port id (nlmsg_pid); 0 is
// the kernel itself (e.g. routes removed with their interface), never one of ours.
bool caused_by_socket(const nlmsghdr& message, std::uint32_t port_id);

// The port ids of natctld's long-lived nftables and rtnetlink sockets. Notifications of
// changes they made are natctld's own writes echoing back, not drift: acting on them would
// cost a full dump of the table after every API write. 0: unknown, nothing is ignored.
struct OwnSockets {
    std::uint32_t nft_port_id = 0;
    std::uint32_t route_port_id = 0;
};

// One subscription to kernel change notifications in the calling thread's network
// namespace: nftables (NETLINK_NETFILTER, NFNLGRP_NFTABLES) or rtnetlink (IPv4 rules, routes,
// addresses). Non-blocking: the daemon waits for fd() on its io_context, then drains.
class KernelChangeSocket {
  public:
    enum class Source { Nftables, Routes };

    // What one drain found.
    struct Changes {
        // A short description of the first message that may concern natctl (not caused by
        // `own_port_id`), or of lost notifications (ENOBUFS); none when nothing does.
        std::optional<std::string> relevant;
        std::optional<std::string> read_error;  // recv failed other than EAGAIN / ENOBUFS
    };

    static std::expected<KernelChangeSocket, std::string> open(Source source,
                                                               std::uint32_t own_port_id = 0);

    int fd() const { return fd_.get(); }
    std::string_view name() const;  // "nftables" or "rtnetlink", for logs
    // Reads everything queued without blocking.
    Changes drain();

  private:
    KernelChangeSocket(Source source, FileDescriptor fd, std::uint32_t own_port_id);

    Source source_;
    FileDescriptor fd_;
    std::uint32_t own_port_id_ = 0;
    std::vector<char> buffer_;
};

}  // namespace natctl::netlink
