#include "controller/engine/writer.hpp"

#include <fmt/format.h>

#include <utility>

namespace natctl::engine {
namespace {

WriteError single(util::ErrorKind kind, std::string path, std::string reason) {
    return {kind, {model::Error{std::move(path), std::move(reason)}}};
}

// The data plane could not apply a write; the store still holds `revision`. The reason says
// what state that leaves.
WriteError apply_failure(const util::Error& error, std::uint64_t revision) {
    switch (error.kind) {
        case util::ErrorKind::KernelRefused:
            return single(error.kind, error.path,
                          fmt::format("the kernel refused the change: {}; nothing was stored",
                                      error.message));
        case util::ErrorKind::OutcomeUnknown:
            return single(error.kind, error.path,
                          fmt::format("the kernel may or may not have taken the change: {}; "
                                      "nothing was stored, and natctld brings the kernel back "
                                      "to revision {}",
                                      error.message, revision));
        case util::ErrorKind::Invalid:
            return single(error.kind, error.path,
                          fmt::format("the change cannot be programmed: {}; nothing was stored",
                                      error.message));
        default:
            return single(
                error.kind, error.path,
                fmt::format("applying the change failed: {}; nothing was stored", error.message));
    }
}

}  // namespace

WriteOutcome Writer::write(model::Model next, WriteOptions options) {
    // The store's current model until a commit succeeds; afterwards it is not read again (a
    // failed commit leaves it as it was, which put_kernel_back relies on).
    const model::Model& previous = store_.current();
    const std::uint64_t revision = store_.revision();
    if (auto errors = model::validate(next); !errors.empty())
        return std::unexpected(WriteError{util::ErrorKind::Invalid, std::move(errors)});

    // `next` is valid now; when `previous` is known to be, the plan skips what is equal.
    WriteResult result{revision, false, false,
                       known_valid(revision) ? diff_of_valid(previous, next) : diff(previous, next),
                       std::nullopt};
    result.plan.notes = std::move(options.notes);
    // An unchanged model is not a new revision, and the kernel is not touched: drift repair is
    // the reconciler's business, not a side effect of a no-op write.
    if (next == previous) return result;
    result.changed = true;

    if (options.dry_run) {
        auto kernel = data_plane_.plan(next);
        if (!kernel)
            return std::unexpected(single(
                kernel.error().kind, kernel.error().path,
                fmt::format("planning the kernel change failed: {}", kernel.error().message)));
        result.kernel = std::move(*kernel);
        return result;
    }

    auto kernel = data_plane_.apply(next);
    if (!kernel) return std::unexpected(apply_failure(kernel.error(), revision));
    // `next` is not read again: the store keeps it rather than copying it.
    auto committed = store_.commit_moved(std::move(next), options.author, options.summary);
    // The kernel already runs `next`; put it back so that kernel and store agree.
    if (!committed) return std::unexpected(put_kernel_back(committed.error(), previous, revision));
    validated_revision_ = *committed;
    // Indexed now, while the write is O(model) anyway, rather than by the next one-entry
    // change, which would otherwise pay for it (100k entries: ~40 ms).
    dnat_index();
    return committed_as(std::move(result), *committed, std::move(*kernel));
}

// What both write_change overloads do first. An index exists only for a valid model: only
// then is an unchanged entry write()'s "unchanged" too.
std::optional<WriteResult> Writer::change_prologue(Plan plan, const WriteOptions& options) {
    if (options.dry_run || !dnat_index().usable()) return std::nullopt;
    return WriteResult{store_.revision(), false, false, std::move(plan), std::nullopt};
}

std::optional<WriteOutcome> Writer::write_change(const model::DnatEntryChange& change,
                                                 const WriteOptions& options) {
    const bool unchanged = change.before && change.after && *change.before == *change.after;
    auto result = change_prologue(diff(change), options);
    if (!result) return std::nullopt;
    if (unchanged) return std::move(*result);
    if (!dnat_index_->index.accepts(store_.current(), change)) return std::nullopt;
    return commit_change(change, options, std::move(*result));
}

std::optional<WriteOutcome> Writer::write_change(const model::SnatEntryChange& change,
                                                 const WriteOptions& options) {
    const bool unchanged = change.before && change.after && *change.before == *change.after;
    auto result = change_prologue(diff(change), options);
    if (!result) return std::nullopt;
    if (unchanged) return std::move(*result);
    const model::Model& current = store_.current();
    if (!model::applies_to(current, change)) return std::nullopt;
    auto light_before = model::without_dnat_entries(current);
    auto light_after = light_before;
    model::apply(light_after, change);
    if (!dnat_index_->index.accepts_without_dnat(current, light_after)) return std::nullopt;
    return commit_without_dnat(light_before, light_after, change, options, std::move(*result));
}

std::optional<WriteOutcome> Writer::write_without_dnat(model::Model light_after,
                                                       const WriteOptions& options) {
    if (options.dry_run || !options.notes.empty()) return std::nullopt;
    const model::Model& current = store_.current();
    const auto& index = dnat_index();
    if (!index.usable()) return std::nullopt;
    auto light_before = model::without_dnat_entries(current);
    // Equal to diff() of the whole models: neither side has DNAT entries to list.
    WriteResult result{store_.revision(), false, false, diff(light_before, light_after),
                       std::nullopt};
    if (light_after == light_before) return result;
    if (!index.accepts_without_dnat(current, light_after)) return std::nullopt;
    return commit_without_dnat(light_before, light_after, std::nullopt, options, std::move(result));
}

WriteOutcome Writer::commit_change(const model::DnatEntryChange& change,
                                   const WriteOptions& options, WriteResult result) {
    const std::uint64_t revision = store_.revision();
    result.changed = true;
    auto kernel = data_plane_.apply_change(store_.current(), change, dnat_index_->index);
    if (!kernel) return std::unexpected(apply_failure(kernel.error(), revision));
    auto committed = store_.commit_change(change, options.author, options.summary);
    if (!committed)
        return std::unexpected(put_kernel_back(committed.error(), store_.current(), revision));
    dnat_index_->index.apply(change);
    dnat_index_->revision = *committed;
    if (change_observer_) change_observer_(&change, *committed);
    return committed_as(std::move(result), *committed, std::move(*kernel));
}

WriteOutcome Writer::commit_without_dnat(const model::Model& light_before,
                                         const model::Model& light_after,
                                         const std::optional<model::SnatEntryChange>& change,
                                         const WriteOptions& options, WriteResult result) {
    const std::uint64_t revision = store_.revision();
    result.changed = true;
    auto kernel = data_plane_.apply_without_dnat(store_.current(), light_before, light_after,
                                                 dnat_index_->index);
    if (!kernel) return std::unexpected(apply_failure(kernel.error(), revision));
    auto committed = change
                         ? store_.commit_change(*change, options.author, options.summary)
                         : store_.commit_without_dnat(light_after, options.author, options.summary);
    if (!committed)
        return std::unexpected(put_kernel_back(committed.error(), store_.current(), revision));
    dnat_index_->index.apply_without_dnat(light_after);
    dnat_index_->revision = *committed;
    if (change_observer_) change_observer_(nullptr, *committed);
    return committed_as(std::move(result), *committed, std::move(*kernel));
}

// `result` of a write the kernel took and the store committed as `revision`; the data plane
// hears of it once the caller has answered.
WriteResult Writer::committed_as(WriteResult result, std::uint64_t revision, KernelChange kernel) {
    answered_revision_ = revision;
    result.revision = revision;
    result.committed = true;
    result.kernel = std::move(kernel);
    return result;
}

bool Writer::known_valid(std::uint64_t revision) const {
    return validated_revision_ == revision ||
           (dnat_index_ && dnat_index_->revision == revision && dnat_index_->index.usable());
}

void Writer::answered() {
    if (auto revision = std::exchange(answered_revision_, std::nullopt))
        data_plane_.committed(*revision);
}

// A store commit failed after the kernel took the change: the kernel goes back to `stored`
// (the model at `revision`, which the failed commit left current).
WriteError Writer::put_kernel_back(const std::string& store_error, const model::Model& stored,
                                   std::uint64_t revision) {
    auto restored = data_plane_.apply(stored);
    if (restored) {
        answered_revision_ = revision;
        return single(util::ErrorKind::Internal, "",
                      fmt::format("storing the change failed: {}; the kernel was put back to "
                                  "revision {}",
                                  store_error, revision));
    }
    auto reason = fmt::format(
        "storing the change failed: {}; putting the kernel back to revision "
        "{} failed too: {}; natctld reconciles the kernel with revision {}",
        store_error, revision, util::describe(restored.error()), revision);
    data_plane_.repair_soon(reason);
    return single(util::ErrorKind::Internal, "", std::move(reason));
}

const model::DnatChangeIndex& Writer::dnat_index() {
    if (!dnat_index_ || dnat_index_->revision != store_.revision())
        dnat_index_ = DnatIndexCache{
            store_.revision(),
            model::DnatChangeIndex(store_.current(), known_valid(store_.revision()))};
    return dnat_index_->index;
}

}  // namespace natctl::engine
