// Keeps an Accounting equal to the kernel's conntrack table: one dump at start, then NEW
// and DESTROY events. When the event socket reports ENOBUFS (events were lost), the loss
// is counted, what is still queued is discarded and the table is dumped again: the counts
// converge to the truth after every loss. Transport-free: the daemon calls
// on_readable() when the event socket is readable (conntrack_service.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>

#include "controller/conntrack/accounting.hpp"
#include "netlink/conntrack_backend.hpp"
#include "netlink/conntrack_events.hpp"

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

class Tracker {
  public:
    // Open `events` before calling resync() for the first time, so that nothing that
    // happens during the dump is missed.
    Tracker(netlink::ConntrackBackend& dumper, netlink::ConntrackEventSource& events)
        : dumper_(dumper), events_(events) {}

    // Dumps the table and replaces the counts with it.
    std::expected<void, std::string> resync();

    // Reads up to `max_reads` queued messages and applies them; on an overflow, re-dumps.
    // true: more may be queued (call again soon).
    std::expected<bool, std::string> on_readable(std::size_t max_reads = 1024);

    const Accounting& accounting() const { return accounting_; }
    const TrackerStats& stats() const { return stats_; }

  private:
    netlink::ConntrackBackend& dumper_;
    netlink::ConntrackEventSource& events_;
    Accounting accounting_;
    TrackerStats stats_;
};

}  // namespace natctl::conntrack
