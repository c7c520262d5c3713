#include "netlink/kernel_events.hpp"

#include <fmt/format.h>
// First, and in its own block: the linux/ headers below otherwise redefine in_addr.
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "kernelstate/kernel_state.hpp"
#include "netlink/mnl_socket.hpp"
#include "netlink/nlmsg_fits.hpp"

namespace natctl::netlink {
namespace {

// Large enough that a burst rarely overflows — natctld's own load of a 100k-element map
// echoes back as ~10 MiB of element notifications, which must be read (and recognised as
// its own) rather than lost; an overflow (ENOBUFS) is treated as a relevant event anyway,
// since what was lost is unknown, and costs a full resync. The kernel only charges what
// is queued.
constexpr int kReceiveBuffer = 32 * 1024 * 1024;

// The first attribute of `type` after the family header, validated against the message
// length (mnl_attr_for_each does not compile as C++: it assigns from void*).
const nlattr* find_attribute(const nlmsghdr& message, std::size_t header_size, std::uint16_t type) {
    if (message.nlmsg_len < mnl_nlmsg_size(header_size)) return nullptr;
    const auto* attr =
        static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(&message, header_size));
    const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(&message));
    int remaining = static_cast<int>(tail - reinterpret_cast<const char*>(attr));
    while (mnl_attr_ok(attr, remaining)) {
        if (mnl_attr_get_type(attr) == type) return attr;
        remaining -= static_cast<int>(MNL_ALIGN(attr->nla_len));
        attr = mnl_attr_next(attr);
    }
    return nullptr;
}

std::optional<std::uint8_t> u8_attribute(const nlmsghdr& message, std::size_t header_size,
                                         std::uint16_t type) {
    const auto* attr = find_attribute(message, header_size, type);
    if (attr == nullptr || mnl_attr_get_payload_len(attr) < 1) return std::nullopt;
    return mnl_attr_get_u8(attr);
}

}  // namespace

bool nft_event_concerns_natctl(const nlmsghdr& message) {
    if (NFNL_SUBSYS_ID(message.nlmsg_type) != NFNL_SUBSYS_NFTABLES) return false;
    if (NFNL_MSG_TYPE(message.nlmsg_type) == NFT_MSG_NEWGEN) return false;
    if (message.nlmsg_len < mnl_nlmsg_size(sizeof(nfgenmsg))) return false;
    const auto* header = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(&message));
    if (header->nfgen_family != NFPROTO_IPV4) return false;
    // Attribute 1 names the table in every nf_tables object message (NFTA_TABLE_NAME,
    // NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE,
    // NFTA_OBJ_TABLE, NFTA_FLOWTABLE_TABLE all equal 1).
    static_assert(NFTA_TABLE_NAME == 1 && NFTA_CHAIN_TABLE == 1 && NFTA_RULE_TABLE == 1 &&
                  NFTA_SET_TABLE == 1 && NFTA_SET_ELEM_LIST_TABLE == 1 && NFTA_OBJ_TABLE == 1 &&
                  NFTA_FLOWTABLE_TABLE == 1);
    const auto* attr = find_attribute(message, sizeof(nfgenmsg), 1);
    if (attr == nullptr) return false;
    const auto* text = static_cast<const char*>(mnl_attr_get_payload(attr));
    return std::string_view(text, ::strnlen(text, mnl_attr_get_payload_len(attr))) ==
           kernel::kTableName;
}

bool route_event_concerns_natctl(const nlmsghdr& message) {
    switch (message.nlmsg_type) {
        case RTM_NEWROUTE:
        case RTM_DELROUTE: {
            if (message.nlmsg_len < mnl_nlmsg_size(sizeof(rtmsg))) return false;
            const auto* route = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(&message));
            return route->rtm_family == AF_INET && route->rtm_protocol == kernel::kRouteProtocol;
        }
        case RTM_NEWRULE:
        case RTM_DELRULE:
            return u8_attribute(message, sizeof(fib_rule_hdr), FRA_PROTOCOL) ==
                   kernel::kRouteProtocol;
        case RTM_NEWADDR:
        case RTM_DELADDR:
            return u8_attribute(message, sizeof(ifaddrmsg), IFA_PROTO) == kernel::kRouteProtocol;
        default:
            return false;
    }
}

bool caused_by_socket(const nlmsghdr& message, std::uint32_t port_id) {
    return port_id != 0 && message.nlmsg_pid == port_id;
}

KernelChangeSocket::KernelChangeSocket(Source source, FileDescriptor fd, std::uint32_t own_port_id)
    : source_(source),
      fd_(std::move(fd)),
      own_port_id_(own_port_id),
      buffer_(MNL_SOCKET_BUFFER_SIZE * 4) {}

std::string_view KernelChangeSocket::name() const {
    return source_ == Source::Nftables ? "nftables" : "rtnetlink";
}

std::expected<KernelChangeSocket, std::string> KernelChangeSocket::open(Source source,
                                                                        std::uint32_t own_port_id) {
    const bool nftables = source == Source::Nftables;
    const std::string_view name = nftables ? "nftables" : "rtnetlink";
    const std::vector<int> groups =
        nftables ? std::vector<int>{NFNLGRP_NFTABLES}
                 : std::vector<int>{RTNLGRP_IPV4_RULE, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_IFADDR};
    FileDescriptor fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                               nftables ? NETLINK_NETFILTER : NETLINK_ROUTE));
    if (!fd) return std::unexpected(fmt::format("{} event socket: {}", name, std::strerror(errno)));
    sockaddr_nl address{};
    address.nl_family = AF_NETLINK;
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        return std::unexpected(
            fmt::format("{} event socket: bind: {}", name, std::strerror(errno)));
    for (int group : groups) {
        if (::setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
            return std::unexpected(fmt::format("{} event socket: joining group {}: {}", name, group,
                                               std::strerror(errno)));
    }
    set_receive_buffer(fd.get(), static_cast<std::size_t>(kReceiveBuffer));
    return KernelChangeSocket(source, std::move(fd), own_port_id);
}

KernelChangeSocket::Changes KernelChangeSocket::drain() {
    const bool nftables = source_ == Source::Nftables;
    Changes changes;
    auto& relevant = changes.relevant;
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == ENOBUFS) {
                // Notifications were dropped: one of them may have been about natctl.
                if (!relevant) relevant = fmt::format("{}: notifications lost (ENOBUFS)", name());
                continue;
            }
            changes.read_error = fmt::format("recv: {}", std::strerror(errno));
            break;
        }
        if (relevant) continue;  // one reconcile covers the rest of the burst
        int remaining = static_cast<int>(n);
        for (const auto* message = reinterpret_cast<const nlmsghdr*>(buffer_.data());
             message_fits(message, remaining);
             message = static_cast<const nlmsghdr*>(mnl_nlmsg_next(message, &remaining))) {
            if (caused_by_socket(*message, own_port_id_)) continue;
            if (nftables ? nft_event_concerns_natctl(*message)
                         : route_event_concerns_natctl(*message)) {
                relevant = fmt::format("{} message type {:#x}", name(), message->nlmsg_type);
                break;
            }
        }
    }
    return changes;
}

}  // namespace natctl::netlink
