#include "controller/reconciler/reconciler.hpp"

#include <fmt/format.h>

#include <utility>

#include "controller/reconciler/conntrack_hygiene.hpp"
#include "netlink/route_plan.hpp"

namespace natctl::reconciler {
namespace {

netlink::RouteState routing_part(const kernel::DesiredState& desired) {
    return netlink::RouteState{desired.rules, desired.routes, desired.addresses};
}

}  // namespace

void Reconciler::purge_conntrack(ApplyOutcome& outcome,
                                 const compiler::TranslationIndex& translations) {
    auto removed = purge_stale(*conntrack_, translations);
    if (!removed) {
        outcome.conntrack_error = removed.error();
        purge_pending_ = true;
        return;
    }
    outcome.conntrack_removed = *removed;
    purge_pending_ = false;
}

std::expected<ApplyOutcome, std::string> Reconciler::plan(
    const kernel::DesiredState& desired, const compiler::TranslationIndex* translations) {
    auto observed_routes = routes_.dump();
    if (!observed_routes) return std::unexpected(observed_routes.error().message());
    auto route_ops = netlink::plan_route_changes(routing_part(desired), *observed_routes);
    if (!route_ops) return std::unexpected(route_ops.error().message());
    auto observed_table = nft_.dump();
    if (!observed_table) return std::unexpected(observed_table.error().message);
    ApplyOutcome outcome{plan_nft(desired.table, *observed_table), route_ops->size()};
    if (conntrack_ && translations) {
        auto entries = conntrack_->dump_nat();
        if (entries)
            outcome.conntrack_removed = stale_entries(*translations, *entries).size();
        else
            outcome.conntrack_error = entries.error().message;
    }
    return outcome;
}

std::expected<ApplyOutcome, std::string> Reconciler::apply(
    const kernel::DesiredState& desired, const compiler::TranslationIndex* translations,
    Mode mode) {
    return apply_impl(desired, translations, mode);
}

std::expected<ApplyOutcome, std::string> Reconciler::apply(
    kernel::DesiredState&& desired, const compiler::TranslationIndex* translations, Mode mode) {
    return apply_impl(std::move(desired), translations, mode);
}

template <class Desired>
std::expected<ApplyOutcome, std::string> Reconciler::apply_impl(
    Desired&& desired, const compiler::TranslationIndex* translations, Mode mode) {
    // Whatever happens below, the copy is only valid again once the kernel is known to hold
    // `desired`; a failure or an unknown outcome leaves the next apply to dump.
    std::optional<Committed> committed = std::move(committed_);
    committed_.reset();
    if (mode == Mode::FullResync) committed.reset();

    // What the kernel holds: the committed copy, or a dump.
    std::optional<netlink::RouteState> dumped_routes;
    std::optional<kernel::ObservedTable> dumped_table;
    if (!committed) {
        auto observed_routes = routes_.dump();
        if (!observed_routes)
            return std::unexpected("reading routes: " + observed_routes.error().message());
        dumped_routes = std::move(*observed_routes);
    }
    const netlink::RouteState& routes_before = committed ? committed->routes : *dumped_routes;
    auto route_ops = netlink::plan_route_changes(routing_part(desired), routes_before);
    if (!route_ops) return std::unexpected(route_ops.error().message());
    if (!committed) {
        auto observed_table = nft_.dump();
        if (!observed_table)
            return std::unexpected("reading table ip natctl: " + observed_table.error().message);
        dumped_table = std::move(*observed_table);
    }

    ApplyOutcome outcome{committed ? plan_nft(desired.table, committed->table)
                                   : plan_nft(desired.table, *dumped_table),
                         route_ops->size()};
    // Sessions can only have gone stale when what NAT translates changed (or a purge is
    // still owed from before); then they are purged once the new state is in the kernel.
    const bool purge =
        conntrack_ && translations &&
        (purge_pending_ || (committed ? nat_data_changed(desired.table, committed->table)
                                      : nat_data_changed(desired.table, *dumped_table)));
    auto done = [&]() -> std::expected<ApplyOutcome, std::string> {
        netlink::RouteState routes{{}, {}, {}};
        routes.rules.reserve(desired.rules.size());
        for (const auto& rule : desired.rules)
            routes.rules.push_back(netlink::normalized(rule));
        routes.routes.reserve(desired.routes.size());
        for (const auto& route : desired.routes)
            routes.routes.push_back(netlink::normalized(route));
        routes.addresses.reserve(desired.addresses.size());
        for (const auto& address : desired.addresses)
            routes.addresses.push_back(netlink::normalized(address));
        // The table last: `desired` may be moved from.
        committed_ = Committed{std::forward<Desired>(desired).table, std::move(routes)};
        if (purge) purge_conntrack(outcome, *translations);
        return outcome;
    };
    if (auto applied = netlink::apply_route_changes(routes_, *route_ops); !applied)
        return std::unexpected(applied.error().message());

    if (outcome.nft.empty()) return done();
    auto applied = nft_.apply(outcome.nft.transaction);
    if (applied) return done();

    auto error = applied.error();
    if (error.kind == netlink::NftError::Kind::OutcomeUnknown) {
        // Acknowledgements were lost; the kernel knows whether the batch went through.
        auto now = nft_.dump();
        if (now && plan_nft(desired.table, *now).empty()) return done();
    }
    std::string message = error.message;
    if (auto restored = netlink::reconcile_routes(routes_, routes_before); !restored)
        message += fmt::format("; putting routes back also failed: {}", restored.error().message());
    return std::unexpected(message);
}

}  // namespace natctl::reconciler
