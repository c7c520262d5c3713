// Durable desired state under the state directory (default /var/lib/natctl): a snapshot of
// the model plus a write-ahead journal of accepted changes. A change is on disk (fsync'd)
// before commit() returns; a one-entry change appends a small delta record, never a
// rewrite of the whole model. The journal is compacted into a new snapshot from time to
// time (temporary file, fsync, rename, fsync of the directory); a commit whose record would
// be compacted at once (a whole model loaded or replaced) writes that snapshot instead of
// the record, so the model is serialised and written once. Recent revisions are kept
// for rollback. A corrupt or unreadable state is an error naming the file and the place —
// the caller stops; it never starts from an empty model over it.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "controller/model/change.hpp"
#include "controller/model/types.hpp"

namespace natctl::store {

struct RevisionInfo {
    std::uint64_t revision = 0;
    std::int64_t unix_time = 0;  // when it was committed
    std::string author;          // e.g. "uid 0" — who made the change
    std::string summary;         // e.g. "PUT /v1/config", "rollback to 12"
};

struct StoreOptions {
    std::size_t revisions_kept = 20;  // rollback horizon
    // Journal records before a new snapshot; once the snapshot exceeds 1 MiB, the journal
    // must also have reached a quarter of its size (a 100k-entry model: ~15k DNAT changes).
    // A journal over 1 MiB that outgrew the snapshot is compacted whatever its records.
    std::size_t compact_after_records = 1000;
};

class Store {
  public:
    // Opens (creating an empty state with revision 0 if the directory holds none) and
    // loads: snapshot, then every journal record after it. A torn last record (a crash in
    // the middle of an append) is dropped — it was never acknowledged; any other damage is
    // an error.
    static std::expected<std::unique_ptr<Store>, std::string> open(const std::filesystem::path& dir,
                                                                   StoreOptions options = {});

    virtual ~Store() = default;
    virtual const model::Model& current() const = 0;
    virtual std::uint64_t revision() const = 0;

    // Makes `next` the current model as revision()+1, durably, then returns that revision.
    virtual std::expected<std::uint64_t, std::string> commit(const model::Model& next,
                                                             const std::string& author,
                                                             const std::string& summary) = 0;

    // commit() for a caller done with `next`: the store keeps it instead of copying what
    // changed into its own (a whole model replaced: no second copy of it). The default
    // goes through commit().
    virtual std::expected<std::uint64_t, std::string> commit_moved(model::Model&& next,
                                                                   const std::string& author,
                                                                   const std::string& summary);

    // The same for the model after `change` (made against current()), in time proportional
    // to the change: the journal record and the kept reverse delta are written from the
    // change itself and current() is patched in place — no comparison or copy of the whole
    // model. The default goes through commit().
    virtual std::expected<std::uint64_t, std::string> commit_change(
        const model::DnatEntryChange& change, const std::string& author,
        const std::string& summary);
    virtual std::expected<std::uint64_t, std::string> commit_change(
        const model::SnatEntryChange& change, const std::string& author,
        const std::string& summary);
    // The same for a change of everything but the DNAT entries: current() becomes
    // `light_after` (a model without DNAT entries, model::without_dnat_entries) plus
    // current()'s DNAT entries, matched by gateway position. The record holds what changed
    // outside the DNAT entry lists, which it never touches.
    virtual std::expected<std::uint64_t, std::string> commit_without_dnat(
        const model::Model& light_after, const std::string& author, const std::string& summary);

    virtual std::vector<RevisionInfo> revisions() const = 0;  // oldest first, current last
    virtual std::expected<model::Model, std::string> model_at(std::uint64_t revision) const = 0;

    // Problems that did not stop the store, for the log: a torn last journal record dropped
    // by open(), records skipped because the snapshot holds them (an interrupted compaction),
    // a compaction that failed after
    // its commit was already durable (retried at the next commit). Implementations without
    // files (test fakes) have none, hence the default.
    virtual std::vector<std::string> warnings() const { return {}; }
};

}  // namespace natctl::store
