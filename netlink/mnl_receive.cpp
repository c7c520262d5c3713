#include "netlink/mnl_receive.hpp"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace natctl::netlink {

std::expected<ReceivedMessages, ConntrackError> receive_messages(mnl_socket* socket,
                                                                 std::vector<char>& buffer,
                                                                 std::size_t max_messages,
                                                                 mnl_cb_t callback, void* data,
                                                                 std::string_view what) {
    auto failed = [&](std::string_view doing) {
        const int error = errno;
        return std::unexpected(
            ConntrackError{fmt::format("{} {}: {}", doing, what, std::strerror(error)), error});
    };
    ReceivedMessages out;
    for (std::size_t i = 0; i < max_messages; ++i) {
        const ssize_t received = mnl_socket_recvfrom(socket, buffer.data(), buffer.size());
        if (received < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                out.drained = true;
                break;
            }
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
                // Reported once per overflow; what is still queued is readable after it.
                out.overflow = true;
                continue;
            }
            return failed("reading");
        }
        // Multicast messages carry sequence 0 and the kernel's port id 0: no filtering on
        // either.
        const int result =
            mnl_cb_run(buffer.data(), static_cast<std::size_t>(received), 0, 0, callback, data);
        if (result < 0 && errno != EPROTO && errno != ESRCH) return failed("parsing");
    }
    return out;
}

}  // namespace natctl::netlink
