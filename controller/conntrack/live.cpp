#include "controller/conntrack/live.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "netlink/conntrack_events.hpp"
#include "netlink/conntrack_socket.hpp"
#include "netlink/netns.hpp"

namespace natctl::conntrack {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRetryDelay{1000};
// Events applied per lock: long enough to be cheap, short enough for readers not to wait.
constexpr std::size_t kReadsPerBatch = 1024;

}  // namespace

struct LiveAccounting::Impl {
    Impl(netlink::ConntrackEventSocket events_socket, netlink::ConntrackSocket dump_socket,
         netlink::FileDescriptor wake_fd, LiveOptions live_options)
        : events(std::move(events_socket)),
          dumps(std::move(dump_socket)),
          tracker(dumps, events, live_options.observer),
          wake(std::move(wake_fd)),
          options(std::move(live_options)) {}

    netlink::ConntrackEventSocket events;
    netlink::ConntrackSocket dumps;
    Tracker tracker;
    netlink::FileDescriptor wake;  // eventfd: written to stop the worker or to ask for a catch-up
    LiveOptions options;
    std::atomic<bool> stopping{false};
    std::uint64_t reported_overflows = 0;

    // catch_up(): each call takes a ticket and wakes the worker; the worker notes the last
    // ticket taken *before* it drains the event socket, so everything a ticket's caller
    // could have wanted applied was queued by then. A served ticket carries the verdict of
    // the drain that served it (later drains only make it more current).
    std::mutex catch_up_mutex;
    std::condition_variable caught_up;
    std::uint64_t tickets_taken = 0;
    std::uint64_t tickets_served = 0;
    bool served_in_sync = false;

    std::thread worker;

    void stop() {
        {
            // Under the mutex: a catch_up() between its check and its wait cannot miss it.
            std::lock_guard lock(catch_up_mutex);
            stopping = true;
        }
        caught_up.notify_all();
        poke();
        if (worker.joinable()) worker.join();
    }

    void poke() {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto written = ::write(wake.get(), &one, sizeof(one));
    }

    std::expected<void, std::string> catch_up(std::chrono::milliseconds timeout) {
        std::unique_lock lock(catch_up_mutex);
        if (stopping) return std::unexpected("conntrack accounting is stopping");
        const std::uint64_t ticket = ++tickets_taken;
        lock.unlock();
        poke();
        lock.lock();
        if (!caught_up.wait_for(lock, timeout,
                                [&] { return stopping || tickets_served >= ticket; }))
            return std::unexpected(
                fmt::format("conntrack events not applied within {} ms", timeout.count()));
        if (tickets_served < ticket) return std::unexpected("conntrack accounting is stopping");
        if (!served_in_sync)
            return std::unexpected(
                "conntrack accounting is not in sync (no dump has succeeded since it started "
                "or since events were last lost)");
        return {};
    }

    // The worker: answers the tickets taken up to `last_taken`.
    void serve_catch_ups(std::uint64_t last_taken, bool in_sync) {
        {
            std::lock_guard lock(catch_up_mutex);
            tickets_served = last_taken;
            served_in_sync = in_sync;
        }
        caught_up.notify_all();
    }

    std::uint64_t last_ticket_taken() {
        std::lock_guard lock(catch_up_mutex);
        return tickets_taken;
    }

    // Waits for the sockets (or `timeout_ms`, -1: forever); returns the poll set. Out of sync
    // the event socket is left out (poll skips a negative fd): its queue is discarded by the
    // next dump anyway, and an unread socket would otherwise wake the worker in a loop.
    std::vector<pollfd> wait(int timeout_ms, bool in_sync) {
        std::vector<pollfd> fds;
        fds.push_back({wake.get(), POLLIN, 0});
        fds.push_back({in_sync ? events.fd() : -1, POLLIN, 0});
        for (const auto& watch : options.watches)
            fds.push_back({watch.fd, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR)
            spdlog::error("conntrack accounting: poll: {}", std::strerror(errno));
        return fds;
    }

    bool dump(bool first) {
        if (auto dumped = tracker.resync(); !dumped) {
            spdlog::error("conntrack accounting: {} (retrying in 1 s)", dumped.error());
            return false;
        }
        if (first)
            spdlog::info("conntrack accounting: {} NAT sessions in the first dump ({} ms)",
                         tracker.accounting().sessions(),
                         tracker.stats().last_dump_duration.count());
        return true;
    }

    // false: the socket failed, re-dump.
    bool drain() {
        while (!stopping) {
            auto more = tracker.on_readable(kReadsPerBatch);
            if (!more) {
                spdlog::error("conntrack accounting: {} (re-dumping in 1 s)", more.error());
                return false;
            }
            if (tracker.stats().overflows != reported_overflows) {
                reported_overflows = tracker.stats().overflows;
                spdlog::warn(
                    "conntrack events lost (ENOBUFS, {} so far): re-dumped, {} NAT sessions",
                    reported_overflows, tracker.accounting().sessions());
            }
            if (!*more) return true;
        }
        return true;
    }

    void run() {
        bool dumped = dump(true);
        bool first = !dumped;
        auto next_dump = Clock::now() + kRetryDelay;
        std::uint64_t served = 0;
        while (!stopping) {
            const auto until_dump =
                std::chrono::ceil<std::chrono::milliseconds>(next_dump - Clock::now());
            auto fds =
                wait(dumped ? -1 : static_cast<int>(std::max<long>(until_dump.count(), 0)), dumped);
            if (stopping) break;
            if (fds[0].revents & POLLIN) {
                std::uint64_t count = 0;  // resets the eventfd
                [[maybe_unused]] auto got = ::read(wake.get(), &count, sizeof(count));
            }
            // A catch-up does not hasten the retry of a failed dump: it is told "not in sync"
            // at once (the purge that asked then dumps by itself).
            if (!dumped && Clock::now() >= next_dump) {
                dumped = dump(first);
                first = first && !dumped;
                next_dump = Clock::now() + kRetryDelay;
            }
            // Noted before the drain: the drain then covers all the events these callers
            // could have meant. A catch-up drains even when poll saw nothing, for events
            // queued since.
            const std::uint64_t taken = last_ticket_taken();
            if (dumped && (taken != served || (fds[1].revents & (POLLIN | POLLERR)))) {
                dumped = drain();
                if (!dumped) next_dump = Clock::now() + kRetryDelay;
            }
            if (stopping) break;  // a drain cut short by stop() vouches for nothing
            if (taken != served) {
                serve_catch_ups(taken, dumped && tracker.stats().in_sync);
                served = taken;
            }
            for (std::size_t i = 0; i < options.watches.size(); ++i)
                if (fds[2 + i].revents & (POLLIN | POLLERR)) options.watches[i].on_readable();
        }
    }
};

LiveAccounting::LiveAccounting(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LiveAccounting::~LiveAccounting() {
    if (impl_) impl_->stop();
}

const Tracker& LiveAccounting::tracker() const {
    return impl_->tracker;
}

std::expected<void, std::string> LiveAccounting::catch_up(std::chrono::milliseconds timeout) {
    return impl_->catch_up(timeout);
}

std::expected<std::unique_ptr<LiveAccounting>, std::string> LiveAccounting::start(
    LiveOptions options) {
    if (options.receive_buffer == 0)
        options.receive_buffer = netlink::ConntrackEventSocket::kDefaultReceiveBuffer;
    // Subscribe first: what happens during the dump is then queued, not missed.
    auto events = netlink::ConntrackEventSocket::open(options.receive_buffer);
    if (!events) return std::unexpected(events.error().message);
    auto dumps = netlink::ConntrackSocket::open();
    if (!dumps) return std::unexpected(dumps.error().message);
    netlink::FileDescriptor wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake) return std::unexpected(fmt::format("eventfd: {}", std::strerror(errno)));
    auto impl = std::make_unique<Impl>(std::move(*events), std::move(*dumps), std::move(wake),
                                       std::move(options));
    spdlog::info("conntrack accounting: event socket receive buffer {} bytes",
                 impl->events.receive_buffer());
    impl->worker = std::thread([raw = impl.get()] { raw->run(); });
    return std::make_unique<LiveAccounting>(std::move(impl));
}

}  // namespace natctl::conntrack
