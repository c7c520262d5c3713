#include "controller/conntrack/live.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "netlink/conntrack_events.hpp"
#include "netlink/conntrack_socket.hpp"
#include "netlink/netns.hpp"

namespace natctl::conntrack {
namespace {

constexpr int kRetryMilliseconds = 1000;
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
    netlink::FileDescriptor wake;  // eventfd: written to stop the worker
    LiveOptions options;
    std::atomic<bool> stopping{false};
    std::uint64_t reported_overflows = 0;
    std::thread worker;

    void stop() {
        stopping = true;
        const std::uint64_t one = 1;
        [[maybe_unused]] auto written = ::write(wake.get(), &one, sizeof(one));
        if (worker.joinable()) worker.join();
    }

    // Waits for the sockets (or `timeout_ms`, -1: forever); returns the poll set.
    std::vector<pollfd> wait(int timeout_ms) {
        std::vector<pollfd> fds;
        fds.push_back({wake.get(), POLLIN, 0});
        fds.push_back({events.fd(), POLLIN, 0});
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
        while (!stopping) {
            auto fds = wait(dumped ? -1 : kRetryMilliseconds);
            if (stopping) break;
            if (!dumped) {
                dumped = dump(first);
                first = first && !dumped;
                if (!dumped) continue;
            }
            if (fds[1].revents & (POLLIN | POLLERR)) dumped = drain();
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
