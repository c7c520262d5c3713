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
    auto entries = dumper_.dump_nat();
    if (!entries) {
        std::unique_lock lock(mutex_);
        ++stats_.resync_failures;
        stats_.in_sync = false;
        return std::unexpected(fmt::format("conntrack dump: {}", entries.error().message));
    }
    Accounting fresh;
    fresh.reset(*entries);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    {
        std::unique_lock lock(mutex_);
        std::swap(accounting_, fresh);
        ++stats_.resyncs;
        stats_.in_sync = true;
        stats_.last_dump_entries = entries->size();
        stats_.last_dump_duration = took;
    }
    return {};  // the old counts are freed here, outside the lock
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
