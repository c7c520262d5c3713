#include "controller/conntrack/tracker.hpp"

#include <utility>

#include <fmt/format.h>

namespace natctl::conntrack {

std::expected<void, std::string> Tracker::resync() {
    // What is queued now predates the dump: after an overflow it cannot be trusted, and
    // the dump will show its effect anyway. Events that arrive from here on are applied
    // after the dump; add() and remove() are idempotent, so an event the dump already
    // reflects changes nothing.
    // Bounded: under a flood that outruns the reads the dump goes ahead anyway.
    for (int round = 0; round < 64; ++round) {
        auto stale = events_.read(4096);
        if (!stale || stale->drained) break;
    }
    const auto start = std::chrono::steady_clock::now();
    Accounting fresh;
    auto dumped = dump_into(fresh);
    if (!dumped) {
        std::unique_lock lock(mutex_);
        ++stats_.resync_failures;
        stats_.in_sync = false;
        return std::unexpected(fmt::format("conntrack dump: {}", dumped.error().message));
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    {
        std::unique_lock lock(mutex_);
        std::swap(accounting_, fresh);
        ++stats_.resyncs;
        stats_.in_sync = true;
        stats_.last_dump_entries = *dumped;
        stats_.last_dump_duration = took;
    }
    return {};  // the old counts are freed here, outside the lock
}

std::expected<std::size_t, netlink::ConntrackError> Tracker::dump_into(Accounting& fresh) {
    if (!stream_) {
        auto entries = dumper_.dump_nat();
        if (!entries) return std::unexpected(entries.error());
        fresh.reset(*entries);
        return entries->size();
    }
    // Sized before counting: growing a 200k-entry table while counting rehashes it several
    // times. From the last dump's NAT'd entries when there was one; the first time from the
    // kernel's count of the whole table, which also counts entries without NAT (the excess
    // goes with the next re-dump). Sized at the first entry rather than before the request,
    // so that zeroing the index (4 MiB at 200k) overlaps the kernel's work on the dump.
    const std::size_t expected =
        stats_.last_dump_entries > 0 ? stats_.last_dump_entries : stream_->table_size_hint();
    bool sized = false;
    return stream_->stream_nat([&](const netlink::ConntrackEntry& entry) {
        if (!sized) {
            fresh.reserve(expected);
            sized = true;
        }
        fresh.add(entry);
    });
}

std::expected<bool, std::string> Tracker::on_readable(std::size_t max_reads) {
    auto batch = events_.read(max_reads);
    if (!batch) return std::unexpected(batch.error().message);
    if (batch->overflow) {
        // The events read before the loss did happen: the session log still wants them.
        if (observer_) {
            if (!batch->events.empty()) observer_->on_events(batch->events);
            observer_->on_overflow();
        }
        {
            std::unique_lock lock(mutex_);
            ++stats_.overflows;
            stats_.in_sync = false;
        }
        if (auto dumped = resync(); !dumped) return std::unexpected(dumped.error());
        return true;
    }
    if (!batch->events.empty()) {
        std::unique_lock lock(mutex_);
        for (const auto& event : batch->events) {
            if (event.type == netlink::ConntrackEventType::New)
                accounting_.add(event.entry);
            else
                accounting_.remove(event.entry);
        }
        stats_.events += batch->events.size();
    }
    if (observer_ && !batch->events.empty()) observer_->on_events(batch->events);
    return !batch->drained;
}

}  // namespace natctl::conntrack
