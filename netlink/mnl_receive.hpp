// The receive loop of natctl's multicast netlink sockets (conntrack events, NFLOG packets):
// non-blocking reads of whole datagrams until the socket is drained or the batch is full,
// with a lost-messages report (ENOBUFS) counted as an overflow, not an error.
#pragma once

#include <libmnl/libmnl.h>

#include <cstddef>
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

}  // namespace natctl::netlink
