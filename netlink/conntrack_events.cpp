#include "netlink/conntrack_events.hpp"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "netlink/mnl_receive.hpp"

#include "netlink/conntrack_socket.hpp"

namespace natctl::netlink {
namespace {

// An event message is a few hundred bytes; one datagram holds one message.
constexpr std::size_t kReceiveSize = 64 * 1024;

ConntrackError system_error(const std::string& what, int error_number) {
    return ConntrackError{fmt::format("{}: {}", what, std::strerror(error_number)), error_number};
}

struct EventState {
    std::vector<ConntrackEvent>* out = nullptr;
};

int on_event(const nlmsghdr* header, void* data) {
    auto& state = *static_cast<EventState*>(data);
    const auto type = static_cast<std::uint8_t>(header->nlmsg_type & 0xff);
    if ((header->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK) return MNL_CB_OK;
    ConntrackEventType kind;
    if (type == IPCTNL_MSG_CT_NEW)
        kind = ConntrackEventType::New;
    else if (type == IPCTNL_MSG_CT_DELETE)
        kind = ConntrackEventType::Destroy;
    else
        return MNL_CB_OK;
    std::optional<ConntrackCounters> counters;
    auto entry = decode_conntrack_message(header, &counters);
    if (entry && (entry->src_nat() || entry->dst_nat()))
        state.out->push_back(ConntrackEvent{kind, std::move(*entry), counters});
    return MNL_CB_OK;
}

}  // namespace

ConntrackEventSocket::ConntrackEventSocket(MnlSocket socket)
    : socket_(std::move(socket)), receive_buffer_(kReceiveSize) {}

std::expected<ConntrackEventSocket, ConntrackError> ConntrackEventSocket::open(
    std::size_t receive_buffer) {
    MnlSocket socket(mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!socket) return std::unexpected(system_error("opening a conntrack event socket", errno));
    // Before the subscription, so that no burst meets the default buffer.
    if (!set_receive_buffer(mnl_socket_get_fd(socket.get()), receive_buffer))
        return std::unexpected(system_error("sizing the conntrack event socket's buffer", errno));
    const unsigned groups = NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_DESTROY;
    if (mnl_socket_bind(socket.get(), groups, MNL_SOCKET_AUTOPID) < 0)
        return std::unexpected(system_error("subscribing to conntrack events", errno));
    return ConntrackEventSocket(std::move(socket));
}

int ConntrackEventSocket::fd() const {
    return mnl_socket_get_fd(socket_.get());
}

std::size_t ConntrackEventSocket::receive_buffer() const {
    int size = 0;
    socklen_t length = sizeof(size);
    if (::getsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &size, &length) < 0) return 0;
    return static_cast<std::size_t>(size);
}

std::expected<ConntrackEventBatch, ConntrackError> ConntrackEventSocket::read(
    std::size_t max_messages) {
    ConntrackEventBatch batch;
    EventState state{&batch.events};
    auto received = receive_messages(socket_.get(), receive_buffer_, max_messages, on_event, &state,
                                     "conntrack events");
    if (!received) return std::unexpected(received.error());
    batch.drained = received->drained;
    batch.overflow = received->overflow;
    return batch;
}

}  // namespace natctl::netlink
