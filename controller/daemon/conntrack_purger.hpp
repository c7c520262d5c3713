// Conntrack hygiene after API writes, off the API's thread. The purge of a write dumps the
// whole conntrack table (the kernel walks its hash table: 10-20 ms whatever the model's
// size), which would otherwise hold up the write's answer; here a worker thread dumps while
// the answer goes out.
//
// Ordering: the worker judges its dump, and deletes, under `index_mutex`, against the
// translation index current at that moment; the data plane holds the same mutex while it
// changes the kernel and that index. So a purge's deletions never interleave with an apply,
// and are always judged against the model the kernel holds: a purge asked for by revision R
// that only gets the mutex after R+1 was applied judges by R+1 (the purge is state-based, so
// that is the purge R+1 owes anyway). Entries created after the dump are not seen; the next
// requested purge sees them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "controller/compiler/translations.hpp"
#include "netlink/conntrack_backend.hpp"

namespace natctl::daemon {

class ConntrackPurger {
  public:
    struct Result {
        std::uint64_t revision = 0;  // the revision whose write asked for it
        std::optional<std::size_t> removed;
        std::string error;  // empty: succeeded
        std::time_t time = 0;
    };
    struct Stats {
        std::uint64_t purged_total = 0;    // entries deleted
        std::uint64_t failures_total = 0;  // purges that failed
        bool queued = false;
        bool running = false;
        std::optional<Result> last;
    };

    // `conntrack` is the worker's alone (a socket of its own). `index` is read only under
    // `index_mutex`; nullopt there (the last apply failed) fails the purge.
    ConntrackPurger(netlink::ConntrackBackend& conntrack, std::mutex& index_mutex,
                    const std::optional<compiler::TranslationIndex>& index);
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

    netlink::ConntrackBackend& conntrack_;
    std::mutex& index_mutex_;
    const std::optional<compiler::TranslationIndex>& index_;

    mutable std::mutex mutex_;
    std::condition_variable_any wake_;
    std::condition_variable idle_;
    std::optional<std::uint64_t> requested_;
    bool running_ = false;
    Stats stats_;
    std::jthread worker_;  // last: started once the rest exists, stopped first
};

}  // namespace natctl::daemon
