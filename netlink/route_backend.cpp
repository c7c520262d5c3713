#include "netlink/route_backend.hpp"

#include <fmt/format.h>

namespace natctl::netlink {

std::string RouteError::message() const {
    std::string text = owner.empty() ? object : fmt::format("{}: {}", owner, object);
    if (!reason.empty()) text += fmt::format(": {}", reason);
    return text;
}

util::Error RouteError::to_error() const {
    return {kind, owner, reason.empty() ? object : fmt::format("{}: {}", object, reason)};
}

std::string format_ipv4(std::uint32_t host_order_address) {
    return fmt::format("{}.{}.{}.{}", (host_order_address >> 24) & 0xff,
                       (host_order_address >> 16) & 0xff, (host_order_address >> 8) & 0xff,
                       host_order_address & 0xff);
}

std::string describe(const kernel::Prefix& prefix) {
    return fmt::format("{}/{}", format_ipv4(prefix.address), prefix.length);
}

std::string describe(const kernel::PolicyRule& rule) {
    std::string text = fmt::format("rule priority {}", rule.priority);
    if (rule.from) text += " from " + describe(*rule.from);
    if (rule.to) text += " to " + describe(*rule.to);
    if (!rule.iif.empty()) text += " iif " + rule.iif;
    if (rule.fwmark) {
        text += fmt::format(" fwmark {:#x}", *rule.fwmark);
        if (rule.fwmask) text += fmt::format("/{:#x}", *rule.fwmask);
    }
    text += fmt::format(" lookup {}", rule.table);
    return text;
}

std::string describe(const kernel::Route& route) {
    std::string text = "route ";
    if (route.type == kernel::Route::Type::Blackhole) text += "blackhole ";
    if (route.type == kernel::Route::Type::Unreachable) text += "unreachable ";
    text += describe(route.destination);
    if (route.gateway) text += " via " + format_ipv4(*route.gateway);
    if (!route.dev.empty()) text += " dev " + route.dev;
    if (route.realm != 0) text += fmt::format(" realm {}", route.realm);
    if (route.metric != 0) text += fmt::format(" metric {}", route.metric);
    text += fmt::format(" table {}", route.table);
    return text;
}

std::string describe(const kernel::Address& address) {
    return fmt::format("address {}/{} dev {}", format_ipv4(address.address), address.prefix_length,
                       address.dev);
}

}  // namespace natctl::netlink
