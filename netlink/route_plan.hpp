// Planning and applying changes to natctl's policy rules, routes and addresses.
// rtnetlink has no transactions, so apply_route_changes undoes, in reverse, whatever it
// already did when one request fails: the kernel is left as it was found.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "netlink/route_backend.hpp"

namespace natctl::netlink {

struct RouteOp {
    enum class Kind : std::uint8_t { Add, Replace, Delete };
    Kind kind = Kind::Add;
    std::variant<kernel::Address, kernel::Route, kernel::PolicyRule> object;
    // Replace only: the route the kernel holds now, to put back on rollback.
    std::optional<kernel::Route> replaced;
    bool operator==(const RouteOp&) const = default;
};

std::string describe(const RouteOp& op);  // "add route ...", "replace route ...", ...

// The forms the kernel stores and dumps: host bits of prefixes cleared, a /0 prefix and a
// zero mark without mask dropped (both mean "any"), a mark without mask given the full
// mask. Comparing normalised desired objects with dumped ones makes re-applies no-ops.
kernel::PolicyRule normalized(kernel::PolicyRule rule);
kernel::Route normalized(kernel::Route route);
kernel::Address normalized(kernel::Address address);

// Operations that turn `observed` (natctl's objects in the kernel) into `desired`: equal
// objects are left alone, a route whose table, destination and metric stay but whose next
// hop, type or realm change is replaced in place, anything else changed is added anew and
// the old one deleted. Adds come first (addresses, routes, rules — a rule only ever points
// at a populated table), deletes after (rules, routes, addresses), so a changed object is
// never briefly missing. Fails on two desired routes with the same kernel identity.
std::expected<std::vector<RouteOp>, RouteError> plan_route_changes(const RouteState& desired,
                                                                   const RouteState& observed);

// Runs `ops` in order. On the first failure, the ops already done are undone in reverse
// and the error of the failed op is returned (with any rollback failure appended).
RouteResult apply_route_changes(RouteBackend& backend, const std::vector<RouteOp>& ops);

// dump + plan + apply; returns the number of operations applied (0: already in sync).
std::expected<std::size_t, RouteError> reconcile_routes(RouteBackend& backend,
                                                        const RouteState& desired);

}  // namespace natctl::netlink
