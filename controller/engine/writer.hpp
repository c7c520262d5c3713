// natctld's one write path, for whole-model and per-object writes alike: validate the model
// the write asks for, plan it (what objects change), apply it to the kernel, commit it to the
// store, and put the kernel back when the commit fails, so that kernel and store never
// disagree. One DNAT entry change takes the same steps in time proportional to the change
// (write_change). The API (controller/api/) turns requests into writes and results into
// answers; nothing here knows HTTP.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "controller/engine/data_plane.hpp"
#include "controller/engine/plan.hpp"
#include "controller/model/change.hpp"
#include "controller/model/types.hpp"
#include "controller/model/validate.hpp"
#include "controller/store/store.hpp"
#include "util/error.hpp"

namespace natctl::engine {

struct WriteOptions {
    bool dry_run = false;
    std::string author;   // the revision's author ("uid 0")
    std::string summary;  // the revision's summary ("PUT /v1/config")
    // Side effects the writer's caller made indirectly (a forced delete removing routes),
    // listed in the plan.
    std::vector<std::string> notes;
};

struct WriteResult {
    std::uint64_t revision = 0;  // the store's revision after the write
    bool changed = false;        // the model asked for differs from the stored one
    bool committed = false;      // stored as `revision`: changed and not a dry run
    Plan plan;
    // What the kernel change did (committed), or would do (a dry run); nullopt: untouched.
    std::optional<KernelChange> kernel;
};

// Why a write stored nothing: the kind tells what state the kernel is in (and decides the
// API's status); every reason has its model path.
struct WriteError {
    util::ErrorKind kind = util::ErrorKind::Internal;
    model::Errors errors;
};

using WriteOutcome = std::expected<WriteResult, WriteError>;

class Writer {
  public:
    Writer(store::Store& store, DataPlane& data_plane) : store_(store), data_plane_(data_plane) {}

    // Makes `next` the stored model and the kernel's. Taken by value so that a whole-model
    // write moves its parsed model in: at 100k entries each copy is ~25 MB and ~60 ms.
    WriteOutcome write(model::Model next, WriteOptions options);

    // write() of the stored model after `change` (made against the stored model), without
    // copying, validating, compiling or comparing the whole model. nullopt: not a change this
    // path is sure about (any refusal or error included): the caller write()s the model after
    // it, so that refusals are always whole-model validation's, with its paths.
    std::optional<WriteOutcome> write_change(const model::DnatEntryChange& change,
                                             const WriteOptions& options);
    // The same for one SNAT entry: judged against the model without its DNAT entries and
    // the DNAT index (DnatChangeIndex::accepts_without_dnat), applied by
    // DataPlane::apply_without_dnat.
    std::optional<WriteOutcome> write_change(const model::SnatEntryChange& change,
                                             const WriteOptions& options);
    // The same for a change of everything but the DNAT entries (EIPs, their associations,
    // SNAT entries): the stored model becomes `light_after` (a model without DNAT entries,
    // model::without_dnat_entries) plus its DNAT entries, in time proportional to the model
    // less its DNAT entries (DnatChangeIndex::accepts_without_dnat).
    std::optional<WriteOutcome> write_without_dnat(model::Model light_after,
                                                   const WriteOptions& options);

    // The caller has answered the last write: what its kernel change left for later
    // (DataPlane::committed, a conntrack purge) starts now, not competing with the answer.
    void answered();

    // Told of every change write_change and write_without_dnat committed, with its revision,
    // so that what mirrors the model (the session log's names) follows it in O(change).
    // `dnat_change`: the DNAT entry change it was; null when the change left every DNAT
    // entry as it was. Whole-model writes are not reported: the revision moves on without a
    // change.
    using ChangeObserver =
        std::function<void(const model::DnatEntryChange* dnat_change, std::uint64_t revision)>;
    void set_change_observer(ChangeObserver observer) { change_observer_ = std::move(observer); }

  private:
    // The result both write_change overloads start from; nullopt: a dry run, or no index.
    std::optional<WriteResult> change_prologue(Plan plan, const WriteOptions& options);
    // write_change's steps once the index accepted `change`: apply, commit, keep up.
    WriteOutcome commit_change(const model::DnatEntryChange& change, const WriteOptions& options,
                               WriteResult result);
    // The same for a change of everything but the DNAT entries; `change`: the SNAT entry
    // change it is, if any (the store records that alone, and the observer hears of it).
    WriteOutcome commit_without_dnat(const model::Model& light_before,
                                     const model::Model& light_after,
                                     const std::optional<model::SnatEntryChange>& change,
                                     const WriteOptions& options, WriteResult result);
    WriteError put_kernel_back(const std::string& store_error, const model::Model& stored,
                               std::uint64_t revision);
    WriteResult committed_as(WriteResult result, std::uint64_t revision, KernelChange kernel);
    // Whether the model at `revision` is known to pass validation (without validating it).
    bool known_valid(std::uint64_t revision) const;
    const model::DnatChangeIndex& dnat_index();

    store::Store& store_;
    DataPlane& data_plane_;
    ChangeObserver change_observer_;
    // The revision the last write committed, for DataPlane::committed once it is answered.
    std::optional<std::uint64_t> answered_revision_;
    // The index write_change checks a change against, of the stored model at `revision`.
    struct DnatIndexCache {
        std::uint64_t revision = 0;
        model::DnatChangeIndex index;
    };
    std::optional<DnatIndexCache> dnat_index_;
    // The revision write() last validated whole: its index needs no second validation.
    std::optional<std::uint64_t> validated_revision_;
};

}  // namespace natctl::engine
