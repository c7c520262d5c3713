#include "controller/daemon/conntrack_purger.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "controller/reconciler/conntrack_hygiene.hpp"

namespace natctl::daemon {

ConntrackPurger::ConntrackPurger(netlink::ConntrackBackend& conntrack, std::mutex& index_mutex,
                                 const std::optional<compiler::TranslationIndex>& index)
    : conntrack_(conntrack),
      index_mutex_(index_mutex),
      index_(index),
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
        Result result{*requested_, std::nullopt, {}, 0};
        requested_.reset();
        running_ = true;
        stats_.queued = false;
        stats_.running = true;
        lock.unlock();

        auto entries = conntrack_.dump_nat();
        if (!entries) {
            result.error = entries.error().message;
        } else {
            std::lock_guard index_lock(index_mutex_);
            if (!index_)
                result.error = "no translation index: the last apply failed";
            else if (auto removed = reconciler::remove_stale(conntrack_, *index_, *entries))
                result.removed = *removed;
            else
                result.error = removed.error();
        }
        result.time = std::time(nullptr);
        if (!result.error.empty())
            spdlog::warn("conntrack hygiene (revision {}): {}", result.revision, result.error);

        lock.lock();
        running_ = false;
        stats_.running = false;
        if (result.removed) stats_.purged_total += *result.removed;
        if (!result.error.empty()) ++stats_.failures_total;
        stats_.last = std::move(result);
        if (!requested_) idle_.notify_all();
    }
}

}  // namespace natctl::daemon
