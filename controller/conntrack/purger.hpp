// Conntrack hygiene after API writes, off the API's thread. A purge needs every NAT'd
// conntrack entry of the namespace. A dump gives them, but the kernel walks its whole
// global hash table for it (10-12 ms of kernel time with nothing to find, ~500 ms with 200k
// sessions), which on a small machine starves the write's answer even from another thread.
// natctld's conntrack accounting already holds those entries (controller/conntrack/live.hpp),
// so when it runs the purge reads them from there: it first has the accounting catch up with
// the events the kernel queued before (LiveAccounting::catch_up), then judges its entries.
// When the accounting cannot vouch for its picture (not in sync, stopping, too slow) the
// purge dumps as before; Stats counts which source each purge used.
//
// Ordering: the worker judges its entries, and deletes, under `index_mutex`, against the
// translation index current at that moment; the data plane holds the same mutex while it
// changes the kernel and that index. So a purge's deletions never interleave with an apply,
// and are always judged against the model the kernel holds: a purge asked for by revision R
// that only gets the mutex after R+1 was applied judges by R+1 (the purge is state-based, so
// that is the purge R+1 owes anyway). Entries confirmed after the catch-up (or the dump)
// are not seen; the next requested purge sees them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "controller/compiler/translations.hpp"
#include "netlink/conntrack_backend.hpp"

namespace natctl::conntrack {

class LiveAccounting;

// Where a purge can read the NAT'd entries of the namespace without a dump.
class NatEntrySource {
  public:
    using Visit = std::function<void(const netlink::ConntrackEntry&)>;
    virtual ~NatEntrySource() = default;
    // Returns once the entries reflect every conntrack event the kernel queued before the
    // call; an error when that cannot be promised.
    virtual std::expected<void, std::string> catch_up() = 0;
    // Calls `visit` for every NAT'd entry (with a lock held: keep it short). An error, and
    // no visit, when the entries cannot be trusted any more.
    virtual std::expected<void, std::string> for_each(const Visit& visit) const = 0;
};

// The conntrack accounting's tracker as a NatEntrySource; `live` must outlive it.
std::unique_ptr<NatEntrySource> tracked_nat_entries(LiveAccounting& live);

class ConntrackPurger {
  public:
    enum class Source { Tracker, Dump };
    struct Result {
        std::uint64_t revision = 0;  // the revision whose write asked for it
        std::optional<std::size_t> removed;
        std::string error;  // empty: succeeded
        std::time_t time = 0;
        Source source = Source::Dump;
        std::string fallback;  // why a purge with a tracker dumped; empty otherwise
    };
    struct Stats {
        std::uint64_t purged_total = 0;    // entries deleted
        std::uint64_t failures_total = 0;  // purges that failed
        std::uint64_t from_tracker = 0;    // purges that judged the tracker's entries
        std::uint64_t from_dump = 0;       // purges that dumped (or tried to)
        bool queued = false;
        bool running = false;
        std::optional<Result> last;
    };

    // `conntrack` is the worker's alone (a socket of its own): it deletes, and dumps when
    // `tracked` is null or fails. `index` is read only under `index_mutex`; nullopt there
    // (the last apply failed) fails the purge.
    ConntrackPurger(netlink::ConntrackBackend& conntrack, std::mutex& index_mutex,
                    const std::optional<compiler::TranslationIndex>& index,
                    std::unique_ptr<NatEntrySource> tracked = nullptr);
    ~ConntrackPurger();
    ConntrackPurger(const ConntrackPurger&) = delete;
    ConntrackPurger& operator=(const ConntrackPurger&) = delete;

    // Asks for a purge; requests made while one waits are folded into it.
    void request(std::uint64_t revision);
    // Whether the last purge failed and no other has been asked for since.
    bool owes_retry() const;
    Stats stats() const;
    // Blocks until nothing is queued or running (tests, orderly stops).
    void wait_idle();

  private:
    void run(std::stop_token stop);
    // Judges and deletes from the tracker's entries; false (and `result.fallback` says why)
    // when they cannot be used and the purge must dump.
    bool purge_from_tracker(Result& result);
    void purge_from_dump(Result& result);

    netlink::ConntrackBackend& conntrack_;
    std::mutex& index_mutex_;
    const std::optional<compiler::TranslationIndex>& index_;
    std::unique_ptr<NatEntrySource> tracked_;

    mutable std::mutex mutex_;
    std::condition_variable_any wake_;
    std::condition_variable idle_;
    std::optional<std::uint64_t> requested_;
    bool running_ = false;
    Stats stats_;
    std::jthread worker_;  // last: started once the rest exists, stopped first
};

}  // namespace natctl::conntrack
