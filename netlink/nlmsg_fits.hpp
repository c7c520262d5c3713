// The bounds check of a walk over the messages of a netlink datagram.
#pragma once

#include <linux/netlink.h>

#include <cstddef>

namespace natctl::netlink {

// Whether a whole message starts at `header` within the `remaining` bytes of a datagram. In
// place of libmnl's mnl_nlmsg_ok, which compares nlmsg_len as an int: a length of 2 GiB or
// more reads as negative and passes, and mnl_nlmsg_next then steps outside the buffer (found
// by fuzz/netlink_conntrack.cpp). The kernel never sends such a length; natctl's own loops
// check anyway, since they are what a malformed datagram would meet.
inline bool message_fits(const nlmsghdr* header, int remaining) {
    return remaining >= static_cast<int>(sizeof(nlmsghdr)) &&
           header->nlmsg_len >= sizeof(nlmsghdr) &&
           header->nlmsg_len <= static_cast<unsigned>(remaining);
}

}  // namespace natctl::netlink
