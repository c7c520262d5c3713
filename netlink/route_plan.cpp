#include "netlink/route_plan.hpp"

#include <map>
#include <tuple>
#include <utility>

#include <fmt/format.h>

namespace natctl::netlink {
namespace {

using kernel::Address;
using kernel::PolicyRule;
using kernel::Prefix;
using kernel::Route;

std::optional<Prefix> normalized(std::optional<Prefix> prefix) {
    if (!prefix || prefix->length == 0) return std::nullopt;
    if (prefix->length < 32) prefix->address &= ~((std::uint32_t{1} << (32 - prefix->length)) - 1);
    return prefix;
}

// Everything but the owner: the kernel's notion of "the same rule".
auto rule_key(const PolicyRule& rule) {
    return std::tie(rule.priority, rule.from, rule.to, rule.iif, rule.fwmark, rule.fwmask,
                    rule.table);
}

// The kernel keeps one IPv4 route per table, destination, TOS and metric; natctl never
// sets a TOS.
using RouteKey = std::tuple<std::uint32_t, Prefix, std::uint32_t>;
RouteKey route_key(const Route& route) {
    return {route.table, route.destination, route.metric};
}

// A desired route without a device lets the kernel resolve it, and the dump then names the
// resolved device: only a device natctl asked for is compared.
bool same_route(const Route& desired, const Route& observed) {
    return desired.type == observed.type && desired.gateway == observed.gateway &&
           desired.realm == observed.realm && (desired.dev.empty() || desired.dev == observed.dev);
}

auto address_key(const Address& address) {
    return std::tie(address.dev, address.address, address.prefix_length);
}

template <typename Object>
RouteOp make_op(RouteOp::Kind kind, Object object) {
    return RouteOp{kind, std::move(object), std::nullopt};
}

RouteOp inverse(const RouteOp& op) {
    switch (op.kind) {
        case RouteOp::Kind::Add:
            return RouteOp{RouteOp::Kind::Delete, op.object, std::nullopt};
        case RouteOp::Kind::Delete:
            return RouteOp{RouteOp::Kind::Add, op.object, std::nullopt};
        case RouteOp::Kind::Replace:
            return RouteOp{RouteOp::Kind::Replace, *op.replaced, std::get<Route>(op.object)};
    }
    std::unreachable();
}

RouteResult run(RouteBackend& backend, const RouteOp& op) {
    const bool add = op.kind == RouteOp::Kind::Add;
    if (const auto* rule = std::get_if<PolicyRule>(&op.object))
        return add ? backend.add_rule(*rule) : backend.delete_rule(*rule);
    if (const auto* address = std::get_if<Address>(&op.object))
        return add ? backend.add_address(*address) : backend.delete_address(*address);
    const auto& route = std::get<Route>(op.object);
    switch (op.kind) {
        case RouteOp::Kind::Add:
            return backend.add_route(route);
        case RouteOp::Kind::Replace:
            return backend.replace_route(route);
        case RouteOp::Kind::Delete:
            return backend.delete_route(route);
    }
    std::unreachable();
}

}  // namespace

std::string describe(const RouteOp& op) {
    const char* verb = op.kind == RouteOp::Kind::Add       ? "add"
                       : op.kind == RouteOp::Kind::Replace ? "replace"
                                                           : "delete";
    return fmt::format("{} {}", verb,
                       std::visit([](const auto& object) { return describe(object); }, op.object));
}

PolicyRule normalized(PolicyRule rule) {
    rule.from = normalized(rule.from);
    rule.to = normalized(rule.to);
    if (rule.fwmask && !rule.fwmark) rule.fwmark = 0;
    if (rule.fwmark && !rule.fwmask) rule.fwmask = *rule.fwmark == 0 ? 0 : 0xffffffffU;
    if (rule.fwmark == 0U && rule.fwmask == 0U) rule.fwmark = rule.fwmask = std::nullopt;
    return rule;
}

Route normalized(Route route) {
    route.destination = normalized(std::optional<Prefix>(route.destination)).value_or(Prefix{});
    return route;
}

Address normalized(Address address) {
    return address;
}

std::expected<std::vector<RouteOp>, RouteError> plan_route_changes(const RouteState& desired,
                                                                   const RouteState& observed) {
    std::vector<RouteOp> address_adds, route_adds, rule_adds;
    std::vector<RouteOp> rule_deletes, route_deletes, address_deletes;

    // Addresses and rules: present in both (ignoring the owner) → left alone. Counted, so
    // that a duplicate natctl rule someone added with `ip rule` is deleted once.
    {
        std::map<std::tuple<std::string, std::uint32_t, std::uint8_t>, int> unmatched;
        for (const auto& address : observed.addresses)
            ++unmatched[address_key(address)];
        for (const auto& wanted : desired.addresses) {
            auto address = normalized(wanted);
            auto found = unmatched.find(address_key(address));
            if (found != unmatched.end() && found->second > 0)
                --found->second;
            else
                address_adds.push_back(make_op(RouteOp::Kind::Add, address));
        }
        for (const auto& address : observed.addresses) {
            auto& count = unmatched[address_key(address)];
            if (count > 0) {
                --count;
                address_deletes.push_back(make_op(RouteOp::Kind::Delete, address));
            }
        }
    }
    {
        using RuleKey =
            std::tuple<std::uint32_t, std::optional<Prefix>, std::optional<Prefix>, std::string,
                       std::optional<std::uint32_t>, std::optional<std::uint32_t>, std::uint32_t>;
        std::map<RuleKey, int> unmatched;
        for (const auto& rule : observed.rules)
            ++unmatched[rule_key(rule)];
        for (const auto& wanted : desired.rules) {
            auto rule = normalized(wanted);
            auto found = unmatched.find(rule_key(rule));
            if (found != unmatched.end() && found->second > 0)
                --found->second;
            else
                rule_adds.push_back(make_op(RouteOp::Kind::Add, rule));
        }
        for (const auto& rule : observed.rules) {
            auto& count = unmatched[rule_key(rule)];
            if (count > 0) {
                --count;
                rule_deletes.push_back(make_op(RouteOp::Kind::Delete, rule));
            }
        }
    }
    {
        // Routes appended beside one another (`ip route append`) share a key; natctl keeps
        // the first and deletes the others.
        std::map<RouteKey, const Route*> in_kernel;
        std::vector<RouteOp> duplicate_deletes;
        for (const auto& route : observed.routes)
            if (!in_kernel.emplace(route_key(route), &route).second)
                duplicate_deletes.push_back(make_op(RouteOp::Kind::Delete, route));
        std::map<RouteKey, const Route*> wanted_keys;
        for (const auto& wanted : desired.routes) {
            auto route = normalized(wanted);
            auto [previous, inserted] = wanted_keys.emplace(route_key(route), &wanted);
            if (!inserted)
                return std::unexpected(RouteError{
                    route.owner, describe(route),
                    fmt::format("conflicts with {} ({}): the kernel keeps one route per table, "
                                "destination and metric",
                                describe(*previous->second), previous->second->owner),
                    0, util::ErrorKind::Invalid});
            auto found = in_kernel.find(route_key(route));
            if (found == in_kernel.end())
                route_adds.push_back(make_op(RouteOp::Kind::Add, route));
            else if (!same_route(route, *found->second))
                route_adds.push_back(RouteOp{RouteOp::Kind::Replace, route, *found->second});
        }
        for (const auto& [key, route] : in_kernel)
            if (!wanted_keys.contains(key))
                route_deletes.push_back(make_op(RouteOp::Kind::Delete, *route));
        for (auto& op : duplicate_deletes)
            route_deletes.push_back(std::move(op));
    }

    std::vector<RouteOp> ops;
    for (auto* group :
         {&address_adds, &route_adds, &rule_adds, &rule_deletes, &route_deletes, &address_deletes})
        for (auto& op : *group)
            ops.push_back(std::move(op));
    return ops;
}

RouteResult apply_route_changes(RouteBackend& backend, const std::vector<RouteOp>& ops) {
    for (std::size_t done = 0; done < ops.size(); ++done) {
        auto result = run(backend, ops[done]);
        if (result) continue;
        RouteError error = std::move(result.error());
        for (std::size_t undo = done; undo-- > 0;) {
            auto undone = run(backend, inverse(ops[undo]));
            if (!undone) {
                error.reason += fmt::format("; rollback failed to {}: {}",
                                            describe(inverse(ops[undo])), undone.error().reason);
                // The kernel is neither as it was nor as wanted.
                error.kind = util::ErrorKind::OutcomeUnknown;
            }
        }
        return std::unexpected(std::move(error));
    }
    return {};
}

std::expected<std::size_t, RouteError> reconcile_routes(RouteBackend& backend,
                                                        const RouteState& desired) {
    auto observed = backend.dump();
    if (!observed) return std::unexpected(std::move(observed.error()));
    auto ops = plan_route_changes(desired, *observed);
    if (!ops) return std::unexpected(std::move(ops.error()));
    if (auto applied = apply_route_changes(backend, *ops); !applied)
        return std::unexpected(std::move(applied.error()));
    return ops->size();
}

}  // namespace natctl::netlink
