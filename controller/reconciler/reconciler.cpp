#include "controller/reconciler/reconciler.hpp"

#include <fmt/format.h>

#include "netlink/route_plan.hpp"

namespace natctl::reconciler {
namespace {

netlink::RouteState routing_part(const kernel::DesiredState& desired) {
    return netlink::RouteState{desired.rules, desired.routes, desired.addresses};
}

}  // namespace

std::expected<ApplyOutcome, std::string> Reconciler::plan(const kernel::DesiredState& desired) {
    auto observed_routes = routes_.dump();
    if (!observed_routes) return std::unexpected(observed_routes.error().message());
    auto route_ops = netlink::plan_route_changes(routing_part(desired), *observed_routes);
    if (!route_ops) return std::unexpected(route_ops.error().message());
    auto observed_table = nft_.dump();
    if (!observed_table) return std::unexpected(observed_table.error().message);
    return ApplyOutcome{plan_nft(desired.table, *observed_table), route_ops->size()};
}

std::expected<ApplyOutcome, std::string> Reconciler::apply(const kernel::DesiredState& desired) {
    auto observed_routes = routes_.dump();
    if (!observed_routes)
        return std::unexpected("reading routes: " + observed_routes.error().message());
    auto route_ops = netlink::plan_route_changes(routing_part(desired), *observed_routes);
    if (!route_ops) return std::unexpected(route_ops.error().message());
    auto observed_table = nft_.dump();
    if (!observed_table)
        return std::unexpected("reading table ip natctl: " + observed_table.error().message);

    ApplyOutcome outcome{plan_nft(desired.table, *observed_table), route_ops->size()};
    if (auto applied = netlink::apply_route_changes(routes_, *route_ops); !applied)
        return std::unexpected(applied.error().message());

    if (outcome.nft.empty()) return outcome;
    auto applied = nft_.apply(outcome.nft.transaction);
    if (applied) return outcome;

    auto error = applied.error();
    if (error.kind == netlink::NftError::Kind::OutcomeUnknown) {
        // Acknowledgements were lost; the kernel knows whether the batch went through.
        auto now = nft_.dump();
        if (now && plan_nft(desired.table, *now).empty()) return outcome;
    }
    std::string message = error.message;
    if (auto restored = netlink::reconcile_routes(routes_, *observed_routes); !restored)
        message += fmt::format("; putting routes back also failed: {}", restored.error().message());
    return std::unexpected(message);
}

}  // namespace natctl::reconciler
