#include "netlink/route_socket.hpp"
#include "netlink/nlmsg_fits.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace natctl::netlink {
namespace {

using kernel::Address;
using kernel::PolicyRule;
using kernel::Prefix;
using kernel::Route;

constexpr std::size_t kRequestSize = 4096;
constexpr std::size_t kReceiveSize = 64 * 1024;  // the kernel caps dump messages at 32 KiB
constexpr int kDumpAttempts = 5;                 // a dump interrupted by a change is retried

// Attributes of one message, indexed by type; absent ones are null.
class Attributes {
  public:
    Attributes(const nlmsghdr& message, std::size_t header_size, std::size_t max_type)
        : by_type_(max_type + 1, nullptr) {
        mnl_attr_parse(&message, static_cast<unsigned>(header_size), &Attributes::collect, this);
    }

    std::optional<std::uint32_t> u32(std::size_t type) const {
        const nlattr* attribute = get(type);
        if (attribute == nullptr || mnl_attr_get_payload_len(attribute) < sizeof(std::uint32_t))
            return std::nullopt;
        return mnl_attr_get_u32(attribute);
    }
    // Addresses travel in network byte order; natctl keeps them in host order.
    std::optional<std::uint32_t> ipv4(std::size_t type) const {
        auto value = u32(type);
        if (value) *value = ntohl(*value);
        return value;
    }
    std::optional<std::uint8_t> u8(std::size_t type) const {
        const nlattr* attribute = get(type);
        if (attribute == nullptr || mnl_attr_get_payload_len(attribute) < 1) return std::nullopt;
        return mnl_attr_get_u8(attribute);
    }
    std::optional<std::string> string(std::size_t type) const {
        const nlattr* attribute = get(type);
        if (attribute == nullptr) return std::nullopt;
        const auto* text = static_cast<const char*>(mnl_attr_get_payload(attribute));
        return std::string(text, ::strnlen(text, mnl_attr_get_payload_len(attribute)));
    }

  private:
    const nlattr* get(std::size_t type) const {
        return type < by_type_.size() ? by_type_[type] : nullptr;
    }
    static int collect(const nlattr* attribute, void* data) {
        auto& self = *static_cast<Attributes*>(data);
        auto type = static_cast<std::size_t>(mnl_attr_get_type(attribute));
        if (type < self.by_type_.size()) self.by_type_[type] = attribute;
        return MNL_CB_OK;
    }
    std::vector<const nlattr*> by_type_;
};

// Builds one request in a zeroed buffer.
class Request {
  public:
    Request(std::uint16_t type, std::uint16_t flags) : buffer_(kRequestSize, 0) {
        message_ = mnl_nlmsg_put_header(buffer_.data());
        message_->nlmsg_type = type;
        message_->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
    }
    template <typename Header>
    Header& header() {
        return *static_cast<Header*>(mnl_nlmsg_put_extra_header(message_, sizeof(Header)));
    }
    void u32(std::uint16_t type, std::uint32_t value) { mnl_attr_put_u32(message_, type, value); }
    void ipv4(std::uint16_t type, std::uint32_t host_order) {
        mnl_attr_put_u32(message_, type, htonl(host_order));
    }
    void u8(std::uint16_t type, std::uint8_t value) { mnl_attr_put_u8(message_, type, value); }
    void string(std::uint16_t type, const std::string& value) {
        mnl_attr_put_strz(message_, type, value.c_str());
    }
    std::vector<char>& buffer() { return buffer_; }

  private:
    std::vector<char> buffer_;
    nlmsghdr* message_ = nullptr;
};

std::uint8_t header_table(std::uint32_t table) {
    // Ids above 255 do not fit the header: RT_TABLE_UNSPEC there, the real id in the
    // RTA_TABLE / FRA_TABLE attribute.
    return table < 256 ? static_cast<std::uint8_t>(table) : std::uint8_t{RT_TABLE_UNSPEC};
}

bool natctl_table(std::uint32_t table) {
    return table >= kernel::kRouteTableMin && table <= kernel::kRouteTableMax;
}

std::optional<Route::Type> route_type(std::uint8_t kernel_type) {
    switch (kernel_type) {
        case RTN_UNICAST:
            return Route::Type::Unicast;
        case RTN_BLACKHOLE:
            return Route::Type::Blackhole;
        case RTN_UNREACHABLE:
            return Route::Type::Unreachable;
        default:
            return std::nullopt;
    }
}

std::uint8_t kernel_route_type(Route::Type type) {
    switch (type) {
        case Route::Type::Unicast:
            return RTN_UNICAST;
        case Route::Type::Blackhole:
            return RTN_BLACKHOLE;
        case Route::Type::Unreachable:
            return RTN_UNREACHABLE;
    }
    std::unreachable();
}

std::string extended_ack_message(const nlmsghdr& message) {
    if ((message.nlmsg_flags & NLM_F_ACK_TLVS) == 0) return {};
    const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(&message));
    std::size_t offset = sizeof(nlmsgerr);
    // Without NETLINK_CAP_ACK the request is echoed before the TLVs.
    if ((message.nlmsg_flags & NLM_F_CAPPED) == 0)
        offset += error->msg.nlmsg_len - sizeof(nlmsghdr);
    Attributes attributes(message, offset, NLMSGERR_ATTR_MAX);
    return attributes.string(NLMSGERR_ATTR_MSG).value_or("");
}

}  // namespace

std::string RouteSocket::Failure::text() const {
    std::string text = util::errno_text(error_number);
    if (!kernel_message.empty()) text += fmt::format(" ({})", kernel_message);
    return text;
}

RouteSocket::RouteSocket(MnlSocket socket)
    : socket_(std::move(socket)),
      port_id_(mnl_socket_get_portid(socket_.get())),
      receive_buffer_(kReceiveSize) {}

std::expected<RouteSocket, std::string> RouteSocket::open() {
    MnlSocket socket(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC));
    if (!socket)
        return std::unexpected(
            fmt::format("cannot open rtnetlink socket: {}", std::strerror(errno)));
    int enable = 1;
    // Extended acks carry the kernel's reason ("Nexthop has invalid gateway"); capped acks
    // keep the echoed request out of the error message.
    mnl_socket_setsockopt(socket.get(), NETLINK_EXT_ACK, &enable, sizeof(enable));
    mnl_socket_setsockopt(socket.get(), NETLINK_CAP_ACK, &enable, sizeof(enable));
    // A reply that never comes must not hang the daemon.
    timeval timeout{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(mnl_socket_get_fd(socket.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof(timeout));
    if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        return std::unexpected(
            fmt::format("cannot bind rtnetlink socket: {}", std::strerror(errno)));
    return RouteSocket(std::move(socket));
}

std::expected<void, RouteSocket::Failure> RouteSocket::transact(std::vector<char>& request,
                                                                const MessageHandler& on_message) {
    auto* header = reinterpret_cast<nlmsghdr*>(request.data());
    const std::uint32_t sequence = next_sequence_++;
    header->nlmsg_seq = sequence;
    const bool is_dump = (header->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    // rtnetlink's message types come in fours (NEW, DEL, GET, SET): a GET changes nothing, so
    // a lost answer to it leaves nothing to doubt.
    const bool changes_kernel = !is_dump && (header->nlmsg_type & 3) != 2;
    const auto lost_answer =
        changes_kernel ? util::ErrorKind::OutcomeUnknown : util::ErrorKind::KernelRefused;
    // A netlink sendto that fails has delivered nothing: the kernel is as it was.
    if (mnl_socket_sendto(socket_.get(), header, header->nlmsg_len) < 0)
        return std::unexpected(Failure{errno, "sending the request failed"});

    bool interrupted = false;
    for (;;) {
        ssize_t received =
            mnl_socket_recvfrom(socket_.get(), receive_buffer_.data(), receive_buffer_.size());
        if (received < 0)
            return std::unexpected(Failure{errno, "no answer from the kernel", lost_answer});
        const auto* message = reinterpret_cast<const nlmsghdr*>(receive_buffer_.data());
        auto remaining = static_cast<int>(received);
        for (; message_fits(message, remaining); message = mnl_nlmsg_next(message, &remaining)) {
            // Answers to an earlier request that timed out are not ours to read.
            if (message->nlmsg_seq != sequence || message->nlmsg_pid != port_id_) continue;
            if (message->nlmsg_type == NLMSG_ERROR) {
                const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(message));
                if (error->error == 0) return {};
                return std::unexpected(Failure{-error->error, extended_ack_message(*message)});
            }
            if (message->nlmsg_type == NLMSG_DONE) {
                const auto* status = static_cast<const int*>(mnl_nlmsg_get_payload(message));
                if (message->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) && *status < 0)
                    return std::unexpected(Failure{-*status, extended_ack_message(*message)});
                if (interrupted)
                    return std::unexpected(Failure{EINTR, "dump interrupted by a change"});
                return {};
            }
            if (message->nlmsg_type < NLMSG_MIN_TYPE) continue;  // NOOP, OVERRUN
            if ((message->nlmsg_flags & NLM_F_DUMP_INTR) != 0) interrupted = true;
            if (on_message) on_message(*message);
        }
        if (!is_dump && remaining > 0)
            return std::unexpected(Failure{EPROTO, "truncated answer", lost_answer});
    }
}

std::expected<std::map<std::uint32_t, std::string>, RouteSocket::Failure>
RouteSocket::interface_names() {
    std::map<std::uint32_t, std::string> names;
    Request request(RTM_GETLINK, NLM_F_DUMP);
    request.header<ifinfomsg>().ifi_family = AF_UNSPEC;
    auto done = transact(request.buffer(), [&](const nlmsghdr& message) {
        if (message.nlmsg_type != RTM_NEWLINK) return;
        const auto& link = *static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(&message));
        Attributes attributes(message, sizeof(ifinfomsg), IFLA_MAX);
        if (auto name = attributes.string(IFLA_IFNAME))
            names[static_cast<std::uint32_t>(link.ifi_index)] = *name;
    });
    if (!done) return std::unexpected(done.error());
    return names;
}

std::expected<std::uint32_t, RouteError> RouteSocket::interface_index(const std::string& name,
                                                                      const std::string& owner,
                                                                      const std::string& object) {
    if (name.empty() || name.size() >= IFNAMSIZ)
        return std::unexpected(
            RouteError{owner, object, fmt::format("invalid interface name '{}'", name), EINVAL});
    Request request(RTM_GETLINK, NLM_F_ACK);
    request.header<ifinfomsg>().ifi_family = AF_UNSPEC;
    request.string(IFLA_IFNAME, name);
    std::optional<std::uint32_t> index;
    auto done = transact(request.buffer(), [&](const nlmsghdr& message) {
        if (message.nlmsg_type == RTM_NEWLINK)
            index = static_cast<std::uint32_t>(
                static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(&message))->ifi_index);
    });
    if (!done && done.error().error_number == ENODEV)
        return std::unexpected(
            RouteError{owner, object, fmt::format("interface {} does not exist", name), ENODEV});
    if (!done)
        return std::unexpected(
            RouteError{owner, object,
                       fmt::format("cannot look up interface {}: {}", name, done.error().text()),
                       done.error().error_number});
    if (!index)
        return std::unexpected(
            RouteError{owner, object, fmt::format("interface {} does not exist", name), ENODEV});
    return *index;
}

std::expected<RouteState, RouteError> RouteSocket::dump() {
    auto failed = [](const char* what, const Failure& failure) {
        return RouteError{"", what, failure.text(), failure.error_number};
    };
    for (int attempt = 1;; ++attempt) {
        RouteState state;
        auto names = interface_names();
        if (!names) return std::unexpected(failed("dump of interfaces", names.error()));
        auto name_of = [&](std::uint32_t index) {
            auto found = names->find(index);
            return found == names->end() ? fmt::format("if{}", index) : found->second;
        };

        Request rules(RTM_GETRULE, NLM_F_DUMP);
        rules.header<fib_rule_hdr>().family = AF_INET;
        auto rules_done = transact(rules.buffer(), [&](const nlmsghdr& message) {
            if (message.nlmsg_type != RTM_NEWRULE) return;
            const auto& header = *static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(&message));
            Attributes attributes(message, sizeof(fib_rule_hdr), FRA_MAX);
            auto priority = attributes.u32(FRA_PRIORITY).value_or(0);
            if (header.family != AF_INET || attributes.u8(FRA_PROTOCOL) != kernel::kRouteProtocol ||
                priority < kernel::kRulePriorityMin || priority > kernel::kRulePriorityMax ||
                header.action != FR_ACT_TO_TBL)
                return;
            PolicyRule rule;
            rule.priority = priority;
            if (header.src_len > 0)
                rule.from = Prefix{attributes.ipv4(FRA_SRC).value_or(0), header.src_len};
            if (header.dst_len > 0)
                rule.to = Prefix{attributes.ipv4(FRA_DST).value_or(0), header.dst_len};
            rule.iif = attributes.string(FRA_IIFNAME).value_or("");
            rule.fwmark = attributes.u32(FRA_FWMARK);
            rule.fwmask = attributes.u32(FRA_FWMASK);
            rule.table = attributes.u32(FRA_TABLE).value_or(header.table);
            state.rules.push_back(std::move(rule));
        });
        if (!rules_done && rules_done.error().error_number != EINTR)
            return std::unexpected(failed("dump of policy rules", rules_done.error()));

        Request routes(RTM_GETROUTE, NLM_F_DUMP);
        routes.header<rtmsg>().rtm_family = AF_INET;
        auto routes_done = transact(routes.buffer(), [&](const nlmsghdr& message) {
            if (message.nlmsg_type != RTM_NEWROUTE) return;
            const auto& header = *static_cast<const rtmsg*>(mnl_nlmsg_get_payload(&message));
            Attributes attributes(message, sizeof(rtmsg), RTA_MAX);
            auto table = attributes.u32(RTA_TABLE).value_or(header.rtm_table);
            auto type = route_type(header.rtm_type);
            if (header.rtm_family != AF_INET || header.rtm_protocol != kernel::kRouteProtocol ||
                !natctl_table(table) || !type || (header.rtm_flags & RTM_F_CLONED) != 0)
                return;
            Route route;
            route.table = table;
            route.type = *type;
            route.destination = Prefix{attributes.ipv4(RTA_DST).value_or(0), header.rtm_dst_len};
            route.gateway = attributes.ipv4(RTA_GATEWAY);
            if (auto index = attributes.u32(RTA_OIF)) route.dev = name_of(*index);
            route.realm = attributes.u32(RTA_FLOW).value_or(0);
            route.metric = attributes.u32(RTA_PRIORITY).value_or(0);
            state.routes.push_back(std::move(route));
        });
        if (!routes_done && routes_done.error().error_number != EINTR)
            return std::unexpected(failed("dump of routes", routes_done.error()));

        Request addresses(RTM_GETADDR, NLM_F_DUMP);
        addresses.header<ifaddrmsg>().ifa_family = AF_INET;
        auto addresses_done = transact(addresses.buffer(), [&](const nlmsghdr& message) {
            if (message.nlmsg_type != RTM_NEWADDR) return;
            const auto& header = *static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(&message));
            Attributes attributes(message, sizeof(ifaddrmsg), IFA_MAX);
            if (header.ifa_family != AF_INET || attributes.u8(IFA_PROTO) != kernel::kRouteProtocol)
                return;
            auto local = attributes.ipv4(IFA_LOCAL);
            if (!local) local = attributes.ipv4(IFA_ADDRESS);
            if (!local) return;
            Address address;
            address.address = *local;
            address.prefix_length = header.ifa_prefixlen;
            address.dev = name_of(header.ifa_index);
            state.addresses.push_back(std::move(address));
        });
        if (!addresses_done && addresses_done.error().error_number != EINTR)
            return std::unexpected(failed("dump of addresses", addresses_done.error()));

        const bool consistent = rules_done && routes_done && addresses_done;
        if (consistent) return state;
        if (attempt == kDumpAttempts)
            return std::unexpected(RouteError{"", "dump of rules, routes and addresses",
                                              "kept changing while being read", EINTR});
    }
}

RouteResult RouteSocket::send_rule(const PolicyRule& rule, std::uint16_t type,
                                   std::uint16_t flags) {
    Request request(type, static_cast<std::uint16_t>(NLM_F_ACK | flags));
    auto& header = request.header<fib_rule_hdr>();
    header.family = AF_INET;
    header.action = FR_ACT_TO_TBL;
    header.table = header_table(rule.table);
    request.u32(FRA_TABLE, rule.table);
    request.u32(FRA_PRIORITY, rule.priority);
    request.u8(FRA_PROTOCOL, kernel::kRouteProtocol);
    if (rule.from && rule.from->length > 0) {
        header.src_len = rule.from->length;
        request.ipv4(FRA_SRC, rule.from->address);
    }
    if (rule.to && rule.to->length > 0) {
        header.dst_len = rule.to->length;
        request.ipv4(FRA_DST, rule.to->address);
    }
    if (!rule.iif.empty()) request.string(FRA_IIFNAME, rule.iif);
    if (rule.fwmark) request.u32(FRA_FWMARK, *rule.fwmark);
    if (rule.fwmask) request.u32(FRA_FWMASK, *rule.fwmask);
    if (auto done = transact(request.buffer()); !done)
        return std::unexpected(RouteError{rule.owner, describe(rule), done.error().text(),
                                          done.error().error_number, done.error().kind});
    return {};
}

RouteResult RouteSocket::send_route(const Route& route, std::uint16_t type, std::uint16_t flags) {
    const bool deleting = type == RTM_DELROUTE;
    std::optional<std::uint32_t> device;
    if (!route.dev.empty()) {
        auto index = interface_index(route.dev, route.owner, describe(route));
        // A route whose device is gone went with it; deleting it without the device
        // still matches by table, destination, metric, type and protocol.
        if (!index && !deleting) return std::unexpected(index.error());
        if (index) device = *index;
    }
    Request request(type, static_cast<std::uint16_t>(NLM_F_ACK | flags));
    auto& header = request.header<rtmsg>();
    header.rtm_family = AF_INET;
    header.rtm_dst_len = route.destination.length;
    header.rtm_table = header_table(route.table);
    header.rtm_protocol = kernel::kRouteProtocol;
    // Deleting with scope "nowhere" matches the route whatever its scope.
    header.rtm_scope = deleting ? RT_SCOPE_NOWHERE : RT_SCOPE_UNIVERSE;
    header.rtm_type = kernel_route_type(route.type);
    request.u32(RTA_TABLE, route.table);
    if (route.destination.length > 0) request.ipv4(RTA_DST, route.destination.address);
    if (route.gateway) request.ipv4(RTA_GATEWAY, *route.gateway);
    if (device) request.u32(RTA_OIF, *device);
    if (route.realm != 0) request.u32(RTA_FLOW, route.realm);
    request.u32(RTA_PRIORITY, route.metric);
    if (auto done = transact(request.buffer()); !done)
        return std::unexpected(RouteError{route.owner, describe(route), done.error().text(),
                                          done.error().error_number, done.error().kind});
    return {};
}

RouteResult RouteSocket::send_address(const Address& address, std::uint16_t type,
                                      std::uint16_t flags) {
    auto index = interface_index(address.dev, address.owner, describe(address));
    if (!index) return std::unexpected(index.error());
    Request request(type, static_cast<std::uint16_t>(NLM_F_ACK | flags));
    auto& header = request.header<ifaddrmsg>();
    header.ifa_family = AF_INET;
    header.ifa_prefixlen = address.prefix_length;
    header.ifa_scope = RT_SCOPE_UNIVERSE;
    header.ifa_index = *index;
    request.ipv4(IFA_LOCAL, address.address);
    request.ipv4(IFA_ADDRESS, address.address);
    if (type == RTM_NEWADDR) request.u8(IFA_PROTO, kernel::kRouteProtocol);
    if (auto done = transact(request.buffer()); !done)
        return std::unexpected(RouteError{address.owner, describe(address), done.error().text(),
                                          done.error().error_number, done.error().kind});
    return {};
}

RouteResult RouteSocket::add_rule(const PolicyRule& rule) {
    return send_rule(rule, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
}
RouteResult RouteSocket::delete_rule(const PolicyRule& rule) {
    return send_rule(rule, RTM_DELRULE, 0);
}
RouteResult RouteSocket::add_route(const Route& route) {
    return send_route(route, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
}
RouteResult RouteSocket::replace_route(const Route& route) {
    return send_route(route, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
}
RouteResult RouteSocket::delete_route(const Route& route) {
    return send_route(route, RTM_DELROUTE, 0);
}
RouteResult RouteSocket::add_address(const Address& address) {
    return send_address(address, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
}
RouteResult RouteSocket::delete_address(const Address& address) {
    return send_address(address, RTM_DELADDR, 0);
}

}  // namespace natctl::netlink
