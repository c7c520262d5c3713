#include "tests/support/route_fake.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include <fmt/format.h>

namespace natctl::netlink {
namespace {

using kernel::Address;
using kernel::PolicyRule;
using kernel::Route;

bool same_rule(const PolicyRule& a, const PolicyRule& b) {
    return std::tie(a.priority, a.from, a.to, a.iif, a.fwmark, a.fwmask, a.table) ==
           std::tie(b.priority, b.from, b.to, b.iif, b.fwmark, b.fwmask, b.table);
}

bool same_route_key(const Route& a, const Route& b) {
    return std::tie(a.table, a.destination, a.metric) == std::tie(b.table, b.destination, b.metric);
}

bool same_address(const Address& a, const Address& b) {
    return std::tie(a.dev, a.address, a.prefix_length) ==
           std::tie(b.dev, b.address, b.prefix_length);
}

RouteError kernel_error(const std::string& owner, std::string object, int error_number) {
    return RouteError{owner, std::move(object), util::errno_text(error_number), error_number};
}

// What the kernel answers for an object on an interface it does not know (ENODEV).
RouteError missing_interface(const std::string& owner, std::string object, const std::string& dev) {
    return RouteError{owner, std::move(object), fmt::format("interface {} does not exist", dev),
                      ENODEV};
}

template <typename Object>
std::vector<Object> without_owners(std::vector<Object> objects) {
    for (auto& object : objects)
        object.owner.clear();
    return objects;
}

}  // namespace

std::optional<RouteError> RouteFake::injected_failure(const std::string& owner,
                                                      std::string object) {
    const auto failing = failing_requests_.find(requests_++);
    if (failing == failing_requests_.end()) return std::nullopt;
    const int error_number = failing->second;
    failing_requests_.erase(failing);
    return kernel_error(owner, std::move(object), error_number);
}

std::expected<RouteState, RouteError> RouteFake::dump() {
    return RouteState{without_owners(state_.rules), without_owners(state_.routes),
                      without_owners(state_.addresses)};
}

RouteResult RouteFake::add_rule(const PolicyRule& rule) {
    if (auto failure = injected_failure(rule.owner, describe(rule)))
        return std::unexpected(*failure);
    if (std::ranges::any_of(state_.rules, [&](const auto& held) { return same_rule(held, rule); }))
        return std::unexpected(kernel_error(rule.owner, describe(rule), EEXIST));
    state_.rules.push_back(rule);
    return {};
}

RouteResult RouteFake::delete_rule(const PolicyRule& rule) {
    if (auto failure = injected_failure(rule.owner, describe(rule)))
        return std::unexpected(*failure);
    auto found =
        std::ranges::find_if(state_.rules, [&](const auto& held) { return same_rule(held, rule); });
    if (found == state_.rules.end())
        return std::unexpected(kernel_error(rule.owner, describe(rule), ENOENT));
    state_.rules.erase(found);
    return {};
}

RouteResult RouteFake::add_route(const Route& route) {
    if (auto failure = injected_failure(route.owner, describe(route)))
        return std::unexpected(*failure);
    if (!route.dev.empty() && !interfaces_.contains(route.dev))
        return std::unexpected(missing_interface(route.owner, describe(route), route.dev));
    if (std::ranges::any_of(state_.routes,
                            [&](const auto& held) { return same_route_key(held, route); }))
        return std::unexpected(kernel_error(route.owner, describe(route), EEXIST));
    state_.routes.push_back(route);
    return {};
}

RouteResult RouteFake::replace_route(const Route& route) {
    if (auto failure = injected_failure(route.owner, describe(route)))
        return std::unexpected(*failure);
    if (!route.dev.empty() && !interfaces_.contains(route.dev))
        return std::unexpected(missing_interface(route.owner, describe(route), route.dev));
    auto found = std::ranges::find_if(
        state_.routes, [&](const auto& held) { return same_route_key(held, route); });
    if (found == state_.routes.end())
        state_.routes.push_back(route);  // NLM_F_CREATE: replace creates a missing route
    else
        *found = route;
    return {};
}

RouteResult RouteFake::delete_route(const Route& route) {
    if (auto failure = injected_failure(route.owner, describe(route)))
        return std::unexpected(*failure);
    auto found = std::ranges::find_if(
        state_.routes, [&](const auto& held) { return same_route_key(held, route); });
    if (found == state_.routes.end())
        return std::unexpected(kernel_error(route.owner, describe(route), ESRCH));
    state_.routes.erase(found);
    return {};
}

RouteResult RouteFake::add_address(const Address& address) {
    if (auto failure = injected_failure(address.owner, describe(address)))
        return std::unexpected(*failure);
    if (!interfaces_.contains(address.dev))
        return std::unexpected(missing_interface(address.owner, describe(address), address.dev));
    if (std::ranges::any_of(state_.addresses,
                            [&](const auto& held) { return same_address(held, address); }))
        return std::unexpected(kernel_error(address.owner, describe(address), EEXIST));
    state_.addresses.push_back(address);
    return {};
}

RouteResult RouteFake::delete_address(const Address& address) {
    if (auto failure = injected_failure(address.owner, describe(address)))
        return std::unexpected(*failure);
    auto found = std::ranges::find_if(
        state_.addresses, [&](const auto& held) { return same_address(held, address); });
    if (found == state_.addresses.end())
        return std::unexpected(kernel_error(address.owner, describe(address), EADDRNOTAVAIL));
    state_.addresses.erase(found);
    return {};
}

}  // namespace natctl::netlink
