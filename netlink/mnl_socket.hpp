// What every libmnl socket of natctl shares: its owner, and how its receive buffer is sized.
#pragma once

#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <memory>

namespace natctl::netlink {

struct MnlSocketClose {
    void operator()(mnl_socket* socket) const { mnl_socket_close(socket); }
};
using MnlSocket = std::unique_ptr<mnl_socket, MnlSocketClose>;

// Asks for a receive buffer of `bytes` (at most 1 GiB): SO_RCVBUFFORCE lifts the rmem_max
// cap (it needs CAP_NET_ADMIN, which natctld has); without it, SO_RCVBUF takes what the cap
// allows. false: neither call took.
inline bool set_receive_buffer(int fd, std::size_t bytes) {
    const int size = static_cast<int>(std::min<std::size_t>(bytes, std::size_t{1} << 30));
    return ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == 0 ||
           ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0;
}

}  // namespace natctl::netlink
