// The receive loops of natctl's netlink sockets:
// - receive_messages(): multicast sockets (conntrack events, NFLOG packets): non-blocking
//   reads of whole datagrams until the socket is drained or the batch is full, with a
//   lost-messages report (ENOBUFS) counted as an overflow, not an error;
// - receive_dump(): the answer to a dump request, received on a thread of its own while
//   the calling thread parses (see there).
#pragma once

#include <libmnl/libmnl.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string_view>
#include <vector>

#include "netlink/conntrack_backend.hpp"

namespace natctl::netlink {

struct ReceivedMessages {
    bool drained = false;   // the socket had nothing more to read
    bool overflow = false;  // the kernel dropped messages (ENOBUFS) since the last read
};

// Reads up to `max_messages` datagrams into `buffer` and runs `callback` (with `data`) over
// the messages of each. `what` names the messages in errors ("conntrack events").
std::expected<ReceivedMessages, ConntrackError> receive_messages(mnl_socket* socket,
                                                                 std::vector<char>& buffer,
                                                                 std::size_t max_messages,
                                                                 mnl_cb_t callback, void* data,
                                                                 std::string_view what);

struct DumpReceiveOptions {
    // Datagrams in flight between the receiving and the parsing thread. A few are enough:
    // the kernel produces one at a time (see receive_dump()).
    std::size_t buffers = 8;
    // One datagram per buffer. The kernel sizes dump datagrams after the reader's last
    // recvmsg length, capped at 32 KiB (6.18 as before: 32448 bytes of messages), so a
    // larger buffer gains nothing; a datagram that does not fit fails the dump (ENOSPC).
    std::size_t buffer_size = 64 * 1024;
};

// Reads the answer to the dump request `sequence` already sent on the netlink socket `fd`
// (bound to `port_id`) and runs `callback` (with `data`) over its messages, on the calling
// thread, as mnl_cb_run() would; returns once the dump's NLMSG_DONE (or NLMSG_ERROR) has
// been read and handled.
//
// Why two threads: the kernel fills a dump's next datagram inside the reader's recvmsg,
// after copying the current one out (netlink_recvmsg → netlink_dump). Read and parsed on
// one thread, the kernel's time and ours add up; here a reader thread does nothing but
// recvmsg into a pool of buffers and the calling thread parses the filled ones, so on two
// cores a dump costs about the larger of the two.
//
// The whole answer is always read, also when `callback` fails or throws, so that the
// socket is clean for its next request; a failed recvmsg (timeout) ends the dump at once.
// `what` names the dump in errors ("the conntrack dump").
std::expected<void, ConntrackError> receive_dump(int fd, std::uint32_t sequence,
                                                 std::uint32_t port_id, mnl_cb_t callback,
                                                 void* data, std::string_view what,
                                                 DumpReceiveOptions options = {});

}  // namespace natctl::netlink
