#include "controller/daemon/data_plane.hpp"

#include <tuple>
#include <utility>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/ha_gate.hpp"
#include "controller/compiler/incremental.hpp"
#include "controller/compiler/translations.hpp"
#include "controller/model/change.hpp"
#include "util/heap.hpp"

namespace natctl::daemon {

nlohmann::json summarize(const reconciler::ApplyOutcome& outcome) {
    const auto& nft = outcome.nft;
    return {
        {"table_created", nft.table_created},
        {"table_rebuilt", nft.table_rebuilt},
        {"sets_added", nft.sets_added},
        {"sets_removed", nft.sets_removed},
        {"chains_added", nft.chains_added},
        {"chains_rewritten", nft.chains_rewritten},
        {"chains_removed", nft.chains_removed},
        {"elements_added", nft.elements_added},
        {"elements_removed", nft.elements_removed},
        {"route_operations", outcome.route_operations},
        {"conntrack_removed", outcome.conntrack_removed ? nlohmann::json(*outcome.conntrack_removed)
                                                        : nlohmann::json(nullptr)},
        {"conntrack_error", outcome.conntrack_error.empty()
                                ? nlohmann::json(nullptr)
                                : nlohmann::json(outcome.conntrack_error)},
        {"conntrack_purge", outcome.conntrack_purge_deferred  ? nlohmann::json("queued")
                            : outcome.conntrack_removed       ? nlohmann::json("done")
                            : outcome.conntrack_error.empty() ? nlohmann::json(nullptr)
                                                              : nlohmann::json("failed")},
    };
}

namespace {

// The heap a compiled table holds in its set elements: of the order of what a whole-model apply
// frees (the committed copy it replaces, the compile's intermediates).
std::size_t element_bytes(const kernel::Table& table) {
    std::size_t elements = 0;
    for (const auto& set : table.sets)
        elements += set.elements.size();
    return elements * sizeof(kernel::Element);
}

}  // namespace

const char* to_string(ReconcileCause cause) {
    switch (cause) {
        case ReconcileCause::Startup:
            return "start-up";
        case ReconcileCause::Drift:
            return "drift";
        case ReconcileCause::Resync:
            return "resync";
    }
    return "?";
}

ReconcilerDataPlane::ReconcilerDataPlane(netlink::NftBackend& nft, netlink::RouteBackend& routes,
                                         netlink::ConntrackBackend* conntrack,
                                         KernelFeatures features, Clock clock)
    : reconciler_(nft, routes, conntrack),
      features_(std::move(features)),
      clock_(std::move(clock)) {}

void ReconcilerDataPlane::defer_conntrack_purges(
    netlink::ConntrackBackend& conntrack, std::unique_ptr<conntrack::NatEntrySource> tracked) {
    purger_ = std::make_unique<conntrack::ConntrackPurger>(conntrack, index_mutex_, translations_,
                                                           std::move(tracked));
}

void ReconcilerDataPlane::stop_deferring_conntrack_purges() {
    purger_.reset();
}

std::optional<conntrack::ConntrackPurger::Stats> ReconcilerDataPlane::purge_stats() const {
    if (!purger_) return std::nullopt;
    return purger_->stats();
}

void ReconcilerDataPlane::wait_for_purge() {
    if (purger_) purger_->wait_idle();
}

reconciler::Purge ReconcilerDataPlane::api_purge() {
    if (!purger_) return reconciler::Purge::Now;
    if (purger_->owes_retry()) reconciler_.owe_conntrack_purge();
    return reconciler::Purge::Deferred;
}

void ReconcilerDataPlane::committed(std::uint64_t revision) {
    if (!purge_owed_ || !purger_) return;
    purge_owed_ = false;
    purger_->request(revision);
}

std::expected<reconciler::ApplyOutcome, util::Error> ReconcilerDataPlane::run(
    const model::Model& model, bool dry_run, reconciler::Mode mode, reconciler::Purge purge) {
    const auto started = std::chrono::steady_clock::now();
    auto desired = compiler::compile(model);
    if (hold_new_flows_) compiler::close_ha_gate(desired);
    auto translations = compiler::index_translations(model);
    const auto table_bytes = element_bytes(desired.table);
    std::unique_lock index_lock(index_mutex_, std::defer_lock);
    if (!dry_run) index_lock.lock();
    auto outcome = dry_run ? reconciler_.plan(desired, &translations)
                           : reconciler_.apply(std::move(desired), &translations, mode, purge);
    if (!dry_run && apply_observer_)
        apply_observer_(outcome.has_value(), std::chrono::steady_clock::now() - started);
    if (!dry_run) {
        if (outcome)
            translations_ = std::move(translations);
        else
            translations_.reset();
        if (outcome && outcome->conntrack_purge_deferred) purge_owed_ = true;
        index_lock.unlock();
        // A whole-model apply frees the previous committed state and the compile's
        // intermediates (100k elements: well over 100 MiB); hand the free pages back
        // rather than keep the peak resident for the daemon's lifetime.
        util::release_heap_after(table_bytes);
    }
    // A conntrack purge that failed leaves the kernel state standing (the reconciler
    // retries it next time); say so, but it is not a failed apply.
    if (outcome && !outcome->conntrack_error.empty())
        spdlog::warn("conntrack hygiene: {}", outcome->conntrack_error);
    return outcome;
}

std::expected<engine::KernelChange, util::Error> ReconcilerDataPlane::apply(
    const model::Model& model) {
    auto outcome = run(model, false, reconciler::Mode::Incremental, api_purge());
    if (!outcome) return write_failed(std::move(outcome.error()));
    last_apply_time_ = clock_();
    in_sync_ = true;
    last_error_.clear();
    return engine::KernelChange{outcome->changed(), summarize(*outcome)};
}

std::unexpected<util::Error> ReconcilerDataPlane::write_failed(util::Error error) {
    last_error_ = util::describe(error);
    // The kernel may run a model the store does not have. The reconciler has dropped its
    // copy, so the next apply reads the kernel; a reconcile soon does not wait for it.
    if (error.kind == util::ErrorKind::OutcomeUnknown) repair_soon(last_error_);
    // Otherwise the reconciler left the kernel as it was, so it still matches the stored
    // model (which the API does not change on failure): in_sync_ stays as it is.
    return std::unexpected(std::move(error));
}

void ReconcilerDataPlane::repair_soon(std::string reason) {
    in_sync_ = false;
    last_error_ = std::move(reason);
    if (repair_request_) repair_request_();
}

std::expected<engine::KernelChange, util::Error> ReconcilerDataPlane::apply_change(
    const model::Model& before, const model::DnatEntryChange& change,
    const model::DnatChangeIndex& index) {
    std::optional<std::vector<compiler::SetElementChanges>> elements;
    if (translations_ && reconciler_.has_committed_state())
        elements = compiler::compile_dnat_change(before, change, index);
    if (!elements) {
        model::Model after = before;
        model::apply(after, change);
        return apply(after);
    }
    const auto started = std::chrono::steady_clock::now();
    const auto purge = api_purge();
    std::unique_lock index_lock(index_mutex_);
    compiler::apply_dnat_change(*translations_, before, change);
    auto outcome = reconciler_.apply_elements(*elements, &*translations_, purge);
    if (!outcome) translations_.reset();
    index_lock.unlock();
    return change_applied(std::move(outcome), started);
}

std::expected<engine::KernelChange, util::Error> ReconcilerDataPlane::apply_without_dnat(
    const model::Model& before, const model::Model& light_before, const model::Model& light_after,
    const model::DnatChangeIndex& index) {
    auto whole = [&] {
        return engine::DataPlane::apply_without_dnat(before, light_before, light_after, index);
    };
    if (!translations_ || !reconciler_.has_committed_state()) return whole();
    const auto started = std::chrono::steady_clock::now();
    // No kernel object but the DNAT-derived ones depends on DNAT entries, and those depend
    // on nothing the change may touch (DnatChangeIndex::accepts_without_dnat): the states of
    // the models without DNAT entries differ exactly where the whole ones do.
    auto desired_before = compiler::compile(light_before);
    auto desired_after = compiler::compile(light_after);
    if (hold_new_flows_) {
        compiler::close_ha_gate(desired_before);
        compiler::close_ha_gate(desired_after);
    }
    if (compiler::egress_claim_moved(
            desired_before.table, desired_after.table,
            [&](std::uint32_t address) { return index.has_ip_mapping_of(address); }))
        return whole();
    const auto translations_before = compiler::index_translations(light_before);
    const auto translations_after = compiler::index_translations(light_after);

    const auto purge = api_purge();
    std::unique_lock index_lock(index_mutex_);
    // What patch_without_dnat replaces, for when the delta does not apply.
    const auto saved =
        std::tuple{translations_->inbound, translations_->egress, translations_->snat,
                   translations_->vpc_ranges, translations_->public_addresses};
    compiler::patch_without_dnat(*translations_, translations_before, translations_after);
    auto outcome = reconciler_.apply_delta(desired_before, desired_after, &*translations_, purge);
    if (!outcome) {
        std::tie(translations_->inbound, translations_->egress, translations_->snat,
                 translations_->vpc_ranges, translations_->public_addresses) = saved;
        index_lock.unlock();
        return whole();
    }
    if (!*outcome) translations_.reset();
    index_lock.unlock();
    return change_applied(std::move(*outcome), started);
}

std::expected<engine::KernelChange, util::Error> ReconcilerDataPlane::change_applied(
    std::expected<reconciler::ApplyOutcome, util::Error> outcome,
    std::chrono::steady_clock::time_point started) {
    if (apply_observer_)
        apply_observer_(outcome.has_value(), std::chrono::steady_clock::now() - started);
    // On failure the next apply dumps and rebuilds both; the stored model is unchanged.
    if (!outcome) return write_failed(std::move(outcome.error()));
    if (outcome->conntrack_purge_deferred) purge_owed_ = true;
    if (!outcome->conntrack_error.empty())
        spdlog::warn("conntrack hygiene: {}", outcome->conntrack_error);
    last_apply_time_ = clock_();
    in_sync_ = true;
    last_error_.clear();
    return engine::KernelChange{outcome->changed(), summarize(*outcome)};
}

std::expected<engine::KernelChange, util::Error> ReconcilerDataPlane::plan(
    const model::Model& model) {
    auto outcome = run(model, true, reconciler::Mode::FullResync, reconciler::Purge::Now);
    if (!outcome) return std::unexpected(outcome.error());
    return engine::KernelChange{outcome->changed(), summarize(*outcome)};
}

std::expected<engine::KernelChange, util::Error> ReconcilerDataPlane::reconcile(
    const model::Model& stored, ReconcileCause cause) {
    // Start-up, drift and the periodic resync are there to see what changed behind
    // natctl's back: they read the kernel instead of trusting the committed copy.
    if (purger_ && purger_->owes_retry()) reconciler_.owe_conntrack_purge();
    auto outcome = run(stored, false, reconciler::Mode::FullResync, reconciler::Purge::Now);
    if (!outcome) {
        in_sync_ = false;
        last_error_ =
            fmt::format("{} reconcile: {}", to_string(cause), util::describe(outcome.error()));
        return std::unexpected(outcome.error());
    }
    last_apply_time_ = clock_();
    in_sync_ = true;
    last_error_.clear();
    if (outcome->changed() && cause != ReconcileCause::Startup) ++drift_repairs_;
    return engine::KernelChange{outcome->changed(), summarize(*outcome)};
}

nlohmann::json ReconcilerDataPlane::status() {
    nlohmann::json reconcile = {
        {"state", in_sync_ ? "in_sync" : "failed"},
        {"last_apply_time", nullptr},
        {"last_error", last_error_.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_error_)},
    };
    if (last_apply_time_)
        reconcile["last_apply_time"] =
            fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(*last_apply_time_));
    nlohmann::json features = {
        {"flowtable",
         features_.flowtable ? nlohmann::json(*features_.flowtable) : nlohmann::json(nullptr)},
        {"message", features_.message},
    };
    nlohmann::json out = {
        {"reconcile", std::move(reconcile)},
        {"kernel_features", std::move(features)},
        {"drift_repairs", drift_repairs_},
    };
    if (auto stats = purge_stats()) {
        nlohmann::json last = nullptr;
        if (stats->last)
            last = {
                {"revision", stats->last->revision},
                {"time", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(stats->last->time))},
                {"removed", stats->last->removed ? nlohmann::json(*stats->last->removed)
                                                 : nlohmann::json(nullptr)},
                {"error", stats->last->error.empty() ? nlohmann::json(nullptr)
                                                     : nlohmann::json(stats->last->error)},
                {"source", stats->last->source == conntrack::ConntrackPurger::Source::Tracker
                               ? "tracker"
                               : "dump"},
                {"fallback", stats->last->fallback.empty() ? nlohmann::json(nullptr)
                                                           : nlohmann::json(stats->last->fallback)},
            };
        out["conntrack_purge"] = {
            {"state", stats->running  ? "running"
                      : stats->queued ? "queued"
                                      : "idle"},
            {"purged_total", stats->purged_total},
            {"failures_total", stats->failures_total},
            {"from_tracker", stats->from_tracker},
            {"from_dump", stats->from_dump},
            {"last", std::move(last)},
        };
    }
    return out;
}

}  // namespace natctl::daemon
