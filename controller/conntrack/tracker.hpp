// Keeps an Accounting equal to the kernel's conntrack table: one dump at start, then NEW
// and DESTROY events. When the event socket reports ENOBUFS (events were lost), the loss
// is counted, what is still queued is discarded and the table is dumped again: the counts
// converge to the truth after every loss. Transport-free: LiveAccounting (live.hpp) calls
// resync() and on_readable() from its worker thread.
//
// One thread writes (the one calling resync() and on_readable()); any number of others
// read through read(), under a shared lock. The slow part of a re-dump (reading and
// counting 200k entries) runs outside the lock into a fresh Accounting that is swapped in,
// so readers (API requests, scrapes) wait at most for one batch of events to be applied.
// When the backend can stream its dump (netlink::ConntrackEntryStream, as ConntrackSocket
// does), entries are counted as they are parsed, while the kernel produces the next ones,
// into an Accounting sized for the table: no copy of the table in between.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "controller/conntrack/accounting.hpp"
#include "netlink/conntrack_backend.hpp"
#include "netlink/conntrack_events.hpp"
#include "netlink/conntrack_socket.hpp"

namespace natctl::conntrack {

struct TrackerStats {
    std::uint64_t events = 0;           // NEW and DESTROY events applied
    std::uint64_t overflows = 0;        // ENOBUFS reports (events lost)
    std::uint64_t resyncs = 0;          // full dumps applied (the first one included)
    std::uint64_t resync_failures = 0;  // dumps that failed (retried)
    std::uint64_t last_dump_entries = 0;
    std::chrono::milliseconds last_dump_duration{0};
    bool in_sync = false;  // false before the first dump and after a failed one
};

// Sees every event the tracker applies (the session log, new-session counters). Called on
// the tracker's writing thread, outside the lock, in the order the kernel sent them.
class TrackerObserver {
  public:
    virtual ~TrackerObserver() = default;
    virtual void on_events(const std::vector<netlink::ConntrackEvent>& events) = 0;
    // Events were lost (ENOBUFS) before a re-dump.
    virtual void on_overflow() {}
};

class Tracker {
  public:
    // Open `events` before calling resync() for the first time, so that nothing that
    // happens during the dump is missed.
    Tracker(netlink::ConntrackBackend& dumper, netlink::ConntrackEventSource& events,
            TrackerObserver* observer = nullptr)
        : dumper_(dumper),
          stream_(dynamic_cast<netlink::ConntrackEntryStream*>(&dumper)),
          events_(events),
          observer_(observer) {}

    // Dumps the table and replaces the counts with it.
    std::expected<void, std::string> resync();

    // Reads up to `max_reads` queued messages and applies them; on an overflow, re-dumps.
    // true: more may be queued (call again soon).
    std::expected<bool, std::string> on_readable(std::size_t max_reads = 1024);

    // Without a lock: for the writing thread only (and single-threaded tests).
    const Accounting& accounting() const { return accounting_; }
    const TrackerStats& stats() const { return stats_; }

    // From any thread: visit(const Accounting&, const TrackerStats&) under a shared lock.
    // Keep it short; the writer waits for it.
    template <class Visit>
    decltype(auto) read(Visit&& visit) const {
        std::shared_lock lock(mutex_);
        return visit(accounting_, stats_);
    }

  private:
    // A full dump counted into `fresh`: the number of entries dumped.
    std::expected<std::size_t, netlink::ConntrackError> dump_into(Accounting& fresh);

    netlink::ConntrackBackend& dumper_;
    netlink::ConntrackEntryStream* stream_;  // dumper_ when it streams, else null
    netlink::ConntrackEventSource& events_;
    TrackerObserver* observer_;
    mutable std::shared_mutex mutex_;  // guards accounting_ and stats_ against readers
    Accounting accounting_;
    TrackerStats stats_;
};

}  // namespace natctl::conntrack
