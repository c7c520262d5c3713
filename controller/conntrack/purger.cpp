#include "controller/conntrack/purger.hpp"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "controller/conntrack/live.hpp"
#include "controller/reconciler/conntrack_hygiene.hpp"

namespace natctl::conntrack {
namespace {

class TrackedNatEntries final : public NatEntrySource {
  public:
    explicit TrackedNatEntries(LiveAccounting& live) : live_(live) {}

    std::expected<void, std::string> catch_up() override { return live_.catch_up(); }

    std::expected<void, std::string> for_each(const Visit& visit) const override {
        return live_.tracker().read(
            [&](const Accounting& accounting,
                const TrackerStats& stats) -> std::expected<void, std::string> {
                // Lost events since the catch-up: the old picture is still there until the
                // re-dump swaps in a fresh one, but it no longer answers for the kernel.
                if (!stats.in_sync) return std::unexpected("conntrack accounting fell out of sync");
                accounting.for_each(visit);
                return {};
            });
    }

  private:
    LiveAccounting& live_;
};

}  // namespace

std::unique_ptr<NatEntrySource> tracked_nat_entries(LiveAccounting& live) {
    return std::make_unique<TrackedNatEntries>(live);
}

ConntrackPurger::ConntrackPurger(netlink::ConntrackBackend& conntrack, std::mutex& index_mutex,
                                 const std::optional<compiler::TranslationIndex>& index,
                                 std::unique_ptr<NatEntrySource> tracked)
    : conntrack_(conntrack),
      index_mutex_(index_mutex),
      index_(index),
      tracked_(std::move(tracked)),
      worker_([this](std::stop_token stop) { run(std::move(stop)); }) {}

ConntrackPurger::~ConntrackPurger() {
    worker_.request_stop();
    if (worker_.joinable()) worker_.join();
}

void ConntrackPurger::request(std::uint64_t revision) {
    {
        std::lock_guard lock(mutex_);
        requested_ = revision;
        stats_.queued = true;
    }
    wake_.notify_one();
}

bool ConntrackPurger::owes_retry() const {
    std::lock_guard lock(mutex_);
    return !requested_ && !running_ && stats_.last && !stats_.last->error.empty();
}

ConntrackPurger::Stats ConntrackPurger::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void ConntrackPurger::wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return !requested_ && !running_; });
}

void ConntrackPurger::run(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (true) {
        if (!wake_.wait(lock, stop, [&] { return requested_.has_value(); })) return;
        Result result;
        result.revision = *requested_;
        requested_.reset();
        running_ = true;
        stats_.queued = false;
        stats_.running = true;
        lock.unlock();

        if (!purge_from_tracker(result)) purge_from_dump(result);
        result.time = std::time(nullptr);
        if (!result.error.empty())
            spdlog::warn("conntrack hygiene (revision {}): {}", result.revision, result.error);

        lock.lock();
        running_ = false;
        stats_.running = false;
        if (result.removed) stats_.purged_total += *result.removed;
        if (!result.error.empty()) ++stats_.failures_total;
        if (result.source == Source::Tracker)
            ++stats_.from_tracker;
        else
            ++stats_.from_dump;
        stats_.last = std::move(result);
        if (!requested_) idle_.notify_all();
    }
}

bool ConntrackPurger::purge_from_tracker(Result& result) {
    if (!tracked_) return false;
    if (auto caught_up = tracked_->catch_up(); !caught_up) {
        result.fallback = std::move(caught_up.error());
        return false;
    }
    std::lock_guard index_lock(index_mutex_);
    if (!index_) {
        result.source = Source::Tracker;
        result.error = "no translation index: the last apply failed";
        return true;
    }
    // Only the stale ones are copied out: the tracker's writer waits while we visit.
    std::vector<netlink::ConntrackEntry> stale;
    auto visited = tracked_->for_each([&](const netlink::ConntrackEntry& entry) {
        if (reconciler::is_stale(*index_, entry)) stale.push_back(entry);
    });
    if (!visited) {
        result.fallback = std::move(visited.error());
        return false;
    }
    result.source = Source::Tracker;
    if (auto removed = reconciler::remove_entries(conntrack_, stale))
        result.removed = *removed;
    else
        result.error = removed.error();
    return true;
}

void ConntrackPurger::purge_from_dump(Result& result) {
    result.source = Source::Dump;
    if (!result.fallback.empty())
        spdlog::debug("conntrack hygiene (revision {}) dumps: {}", result.revision,
                      result.fallback);
    auto entries = conntrack_.dump_nat();
    if (!entries) {
        result.error = entries.error().message;
        return;
    }
    std::lock_guard index_lock(index_mutex_);
    if (!index_)
        result.error = "no translation index: the last apply failed";
    else if (auto removed = reconciler::remove_stale(conntrack_, *index_, *entries))
        result.removed = *removed;
    else
        result.error = removed.error();
}

}  // namespace natctl::conntrack
