#include "controller/reconciler/reconciler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

#include "controller/reconciler/conntrack_hygiene.hpp"
#include "netlink/route_plan.hpp"

namespace natctl::reconciler {
namespace {

// Element changes kept aside in the committed copy before they are merged into it: enough
// that merging (O(table)) is rare, few enough that the memory they take is small.
constexpr std::size_t kSettleAfterChanges = 4096;

netlink::RouteState routing_part(const kernel::DesiredState& desired) {
    return netlink::RouteState{desired.rules, desired.routes, desired.addresses};
}

// A failure to read the kernel before anything was changed: whatever went wrong, the kernel
// is as it was (a dump that lost messages leaves nothing to doubt but the dump).
util::Error reading(std::string what, util::Error error) {
    if (error.kind == util::ErrorKind::OutcomeUnknown) error.kind = util::ErrorKind::KernelRefused;
    error.message = fmt::format("{}: {}", what, error.message);
    return error;
}

}  // namespace

void Reconciler::purge_conntrack(ApplyOutcome& outcome,
                                 const compiler::TranslationIndex& translations, Purge purge) {
    if (purge == Purge::Deferred) {
        // The caller owes it now, and says so (owe_conntrack_purge) if it falls through.
        outcome.conntrack_purge_deferred = true;
        purge_pending_ = false;
        return;
    }
    auto removed = purge_stale(*conntrack_, translations);
    if (!removed) {
        outcome.conntrack_error = removed.error();
        purge_pending_ = true;
        return;
    }
    outcome.conntrack_removed = *removed;
    purge_pending_ = false;
}

std::expected<ApplyOutcome, util::Error> Reconciler::plan(
    const kernel::DesiredState& desired, const compiler::TranslationIndex* translations) {
    auto observed_routes = routes_.dump();
    if (!observed_routes)
        return std::unexpected(reading("reading routes", observed_routes.error().to_error()));
    auto route_ops = netlink::plan_route_changes(routing_part(desired), *observed_routes);
    if (!route_ops) return std::unexpected(route_ops.error().to_error());
    auto observed_table = nft_.dump();
    if (!observed_table)
        return std::unexpected(
            reading("reading table ip natctl", observed_table.error().to_error()));
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

std::expected<ApplyOutcome, util::Error> Reconciler::apply(
    const kernel::DesiredState& desired, const compiler::TranslationIndex* translations, Mode mode,
    Purge purge) {
    return apply_impl(desired, translations, mode, purge);
}

std::expected<ApplyOutcome, util::Error> Reconciler::apply(
    kernel::DesiredState&& desired, const compiler::TranslationIndex* translations, Mode mode,
    Purge purge) {
    return apply_impl(std::move(desired), translations, mode, purge);
}

void Reconciler::settle() {
    if (!committed_ || committed_->pending.empty()) return;
    for (auto& [name, changes] : committed_->pending) {
        kernel::Set* set = nullptr;
        for (auto& candidate : committed_->table.sets)
            if (candidate.name == name) set = &candidate;
        if (!set) continue;  // apply_elements only records changes of sets the copy holds
        std::vector<kernel::Element> merged;
        merged.reserve(set->elements.size() + changes.size());
        auto change = changes.begin();
        auto take_changes_before = [&](const kernel::FieldList* key) {
            for (; change != changes.end() && (!key || change->first < *key); ++change)
                if (change->second) merged.push_back(std::move(*change->second));
        };
        for (auto& element : set->elements) {
            take_changes_before(&element.key);
            if (change != changes.end() && change->first == element.key) {
                if (change->second) merged.push_back(std::move(*change->second));
                ++change;
                continue;
            }
            merged.push_back(std::move(element));
        }
        take_changes_before(nullptr);
        set->elements = std::move(merged);
    }
    committed_->pending.clear();
    committed_->pending_count = 0;
}

std::expected<ApplyOutcome, util::Error> Reconciler::apply_elements(
    const std::vector<compiler::SetElementChanges>& changes,
    const compiler::TranslationIndex* translations, Purge purge) {
    std::optional<Committed> committed = std::move(committed_);
    committed_.reset();
    if (!committed)
        return std::unexpected(util::Error{util::ErrorKind::Internal, "",
                                           "no committed copy of the table to change elements of"});
    ApplyOutcome outcome;
    auto definition = [&](const std::string& name) -> std::optional<kernel::Set> {
        for (const auto& set : committed->table.sets)
            if (set.name == name) {
                kernel::Set out;
                out.name = set.name;
                out.key = set.key;
                out.data = set.data;
                out.interval = set.interval;
                out.data_interval = set.data_interval;
                out.comment = set.comment;
                return out;
            }
        return std::nullopt;
    };
    // Removals first, as plan_nft orders them: an element whose value changes is removed
    // and added again in the same transaction.
    std::vector<kernel::Set> additions;
    for (const auto& change : changes) {
        auto set = definition(change.set);
        if (!set)
            return std::unexpected(
                util::Error{util::ErrorKind::Internal, "",
                            fmt::format("set {} is not in the committed table", change.set)});
        if (!change.removed.empty()) {
            kernel::Set gone = *set;
            gone.elements = change.removed;
            outcome.nft.elements_removed += gone.elements.size();
            outcome.nft.transaction.delete_elements(std::move(gone));
        }
        if (!change.added.empty()) {
            set->elements = change.added;
            outcome.nft.elements_added += set->elements.size();
            additions.push_back(std::move(*set));
        }
    }
    for (auto& set : additions)
        outcome.nft.transaction.add_elements(std::move(set));

    if (!outcome.nft.empty()) {
        // On any failure the copy stays dropped: after an unknown outcome the next apply
        // reads the kernel back.
        auto applied = nft_.apply(outcome.nft.transaction);
        if (!applied) return std::unexpected(applied.error().to_error());
    }
    committed_ = std::move(committed);
    for (const auto& change : changes)
        record_elements(change.set, change.removed, change.added);
    // Only a translation that went away (removed, or changed: removed and added again) can
    // leave sessions stale; a new one cannot, so a pure addition skips the conntrack dump
    // (10-20 ms whatever the model's size: the kernel walks the host's whole conntrack
    // table) unless an earlier purge is still owed.
    const bool translation_removed = std::any_of(
        changes.begin(), changes.end(),
        [](const compiler::SetElementChanges& change) { return !change.removed.empty(); });
    if (conntrack_ && translations && (purge_pending_ || translation_removed))
        purge_conntrack(outcome, *translations, purge);
    return outcome;
}

void Reconciler::record_elements(const std::string& set,
                                 const std::vector<kernel::Element>& removed,
                                 const std::vector<kernel::Element>& added) {
    auto& pending = committed_->pending[set];
    for (const auto& element : removed)
        pending.insert_or_assign(element.key, std::nullopt);
    for (const auto& element : added)
        pending.insert_or_assign(element.key, element);
    committed_->pending_count += removed.size() + added.size();
    // Merged now and then so that the changes kept aside stay few.
    if (committed_->pending_count > kSettleAfterChanges) settle();
}

std::optional<std::expected<ApplyOutcome, util::Error>> Reconciler::apply_delta(
    const kernel::DesiredState& before_state, const kernel::DesiredState& after_state,
    const compiler::TranslationIndex* translations, Purge purge) {
    if (!committed_) return std::nullopt;
    const auto& before = before_state.table;
    const auto& after = after_state.table;
    auto& table = committed_->table;
    // Every chain the change rewrites or removes must be in the copy as `before` has it, and
    // every set it adds absent from it: then `before` describes the copy where they differ.
    for (const auto& chain : before.chains) {
        const auto* now = find_chain(after, chain.name);
        if (now && *now == chain) continue;
        const auto* have = find_chain(table, chain.name);
        if (!have || *have != chain) return std::nullopt;
    }
    for (const auto& chain : after.chains)
        if (!find_chain(before, chain.name) && find_chain(table, chain.name)) return std::nullopt;
    for (const auto& set : after.sets)
        if (!find_set(before, set.name) && find_set(table, set.name)) return std::nullopt;
    for (const auto& set : before.sets)
        if (!find_set(table, set.name)) return std::nullopt;

    ApplyOutcome outcome{plan_nft(after, before), 0};
    if (outcome.nft.table_rebuilt || outcome.nft.table_created) return std::nullopt;
    // natctl's routing objects after the change: the copy's, less what `before` has and
    // `after` has not, plus the reverse.
    const netlink::RouteState& routes_before = committed_->routes;
    netlink::RouteState routes = routes_before;
    auto move_objects = [](auto& have, const auto& gone_from, const auto& kept_in) {
        for (const auto& object : gone_from)
            if (std::find(kept_in.begin(), kept_in.end(), object) == kept_in.end())
                std::erase(have, netlink::normalized(object));
    };
    auto add_objects = [](auto& have, const auto& added_to, const auto& absent_from) {
        for (const auto& object : added_to)
            if (std::find(absent_from.begin(), absent_from.end(), object) == absent_from.end())
                have.push_back(netlink::normalized(object));
    };
    move_objects(routes.rules, before_state.rules, after_state.rules);
    move_objects(routes.routes, before_state.routes, after_state.routes);
    move_objects(routes.addresses, before_state.addresses, after_state.addresses);
    add_objects(routes.rules, after_state.rules, before_state.rules);
    add_objects(routes.routes, after_state.routes, before_state.routes);
    add_objects(routes.addresses, after_state.addresses, before_state.addresses);
    auto route_ops = netlink::plan_route_changes(routes, routes_before);
    if (!route_ops) return std::nullopt;
    outcome.route_operations = route_ops->size();
    if (!outcome.changed()) return outcome;

    std::optional<Committed> committed = std::move(committed_);
    committed_.reset();
    // On any failure the copy stays dropped: the next apply reads the kernel back.
    if (auto applied = netlink::apply_route_changes(routes_, *route_ops); !applied)
        return std::unexpected(applied.error().to_error());
    if (!outcome.nft.empty()) {
        if (auto applied = nft_.apply(outcome.nft.transaction); !applied) {
            auto error = applied.error().to_error();
            if (auto restored = netlink::reconcile_routes(routes_, committed->routes); !restored) {
                error.message += fmt::format("; putting routes back also failed: {}",
                                             restored.error().message());
                error.kind = util::ErrorKind::OutcomeUnknown;
            }
            return std::unexpected(std::move(error));
        }
    }
    committed_ = std::move(committed);
    committed_->routes = std::move(routes);

    auto& chains = committed_->table.chains;
    for (const auto& chain : before.chains)
        if (!find_chain(after, chain.name))
            std::erase_if(chains,
                          [&](const kernel::Chain& have) { return have.name == chain.name; });
    for (const auto& chain : after.chains) {
        auto have = std::find_if(chains.begin(), chains.end(),
                                 [&](const kernel::Chain& c) { return c.name == chain.name; });
        if (have == chains.end())
            chains.push_back(chain);
        else if (*have != chain)
            *have = chain;
    }
    auto& sets = committed_->table.sets;
    for (const auto& set : before.sets)
        if (!find_set(after, set.name)) {
            std::erase_if(sets, [&](const kernel::Set& have) { return have.name == set.name; });
            committed_->pending.erase(set.name);
        }
    for (const auto& set : after.sets) {
        const auto* was = find_set(before, set.name);
        if (!was) {
            sets.push_back(set);
            continue;
        }
        if (set.elements == was->elements) continue;
        // Element changes by key (an interval set's intervals are disjoint, so their starts
        // tell them apart too); a changed value is a removal and an addition.
        std::map<kernel::FieldList, const kernel::Element*> old_by_key;
        for (const auto& element : was->elements)
            old_by_key.emplace(element.key, &element);
        std::vector<kernel::Element> removed, added;
        for (const auto& element : set.elements) {
            auto old = old_by_key.find(element.key);
            if (old != old_by_key.end()) {
                if (*old->second != element) {
                    removed.push_back(*old->second);
                    added.push_back(element);
                }
                old_by_key.erase(old);
            } else {
                added.push_back(element);
            }
        }
        for (const auto& [key, element] : old_by_key)
            removed.push_back(*element);
        record_elements(set.name, removed, added);
    }
    // A new translation cannot leave sessions stale; one that went away or changed can.
    const bool translation_removed = outcome.nft.elements_removed > 0 ||
                                     outcome.nft.chains_rewritten > 0 ||
                                     outcome.nft.chains_removed > 0 || outcome.nft.sets_removed > 0;
    if (conntrack_ && translations && (purge_pending_ || translation_removed))
        purge_conntrack(outcome, *translations, purge);
    return outcome;
}

template <class Desired>
std::expected<ApplyOutcome, util::Error> Reconciler::apply_impl(
    Desired&& desired, const compiler::TranslationIndex* translations, Mode mode, Purge purge) {
    settle();
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
            return std::unexpected(reading("reading routes", observed_routes.error().to_error()));
        dumped_routes = std::move(*observed_routes);
    }
    const netlink::RouteState& routes_before = committed ? committed->routes : *dumped_routes;
    auto route_ops = netlink::plan_route_changes(routing_part(desired), routes_before);
    if (!route_ops) return std::unexpected(route_ops.error().to_error());
    if (!committed) {
        auto observed_table = nft_.dump();
        if (!observed_table)
            return std::unexpected(
                reading("reading table ip natctl", observed_table.error().to_error()));
        dumped_table = std::move(*observed_table);
    }

    ApplyOutcome outcome{committed ? plan_nft(desired.table, committed->table)
                                   : plan_nft(desired.table, *dumped_table),
                         route_ops->size()};
    // Sessions can only have gone stale when what NAT translates changed (or a purge is
    // still owed from before); then they are purged once the new state is in the kernel.
    const bool purge_owed =
        conntrack_ && translations &&
        (purge_pending_ || (committed ? nat_data_changed(desired.table, committed->table)
                                      : nat_data_changed(desired.table, *dumped_table)));
    auto done = [&]() -> std::expected<ApplyOutcome, util::Error> {
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
        if (purge_owed) purge_conntrack(outcome, *translations, purge);
        return outcome;
    };
    if (auto applied = netlink::apply_route_changes(routes_, *route_ops); !applied)
        return std::unexpected(applied.error().to_error());

    if (outcome.nft.empty()) return done();
    auto applied = nft_.apply(outcome.nft.transaction);
    if (applied) return done();

    auto error = applied.error().to_error();
    if (error.kind == util::ErrorKind::OutcomeUnknown) {
        // Acknowledgements were lost; the kernel knows whether the batch went through. When
        // the read does not settle it the outcome stays unknown: another change may have
        // come between, and the next apply reads the kernel anyway.
        auto now = nft_.dump();
        if (now && plan_nft(desired.table, *now).empty()) return done();
    }
    if (auto restored = netlink::reconcile_routes(routes_, routes_before); !restored) {
        error.message +=
            fmt::format("; putting routes back also failed: {}", restored.error().message());
        error.kind = util::ErrorKind::OutcomeUnknown;  // the routes are not as they were
    }
    return std::unexpected(std::move(error));
}

}  // namespace natctl::reconciler
