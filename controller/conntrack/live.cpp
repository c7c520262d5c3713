#include "controller/conntrack/live.hpp"

#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "netlink/conntrack_events.hpp"
#include "netlink/conntrack_socket.hpp"

namespace natctl::conntrack {

namespace asio = boost::asio;

struct LiveAccounting::Impl {
    Impl(asio::io_context& io, netlink::ConntrackEventSocket events_socket,
         netlink::ConntrackSocket dump_socket, int fd)
        : events(std::move(events_socket)),
          dumps(std::move(dump_socket)),
          tracker(dumps, events),
          descriptor(io, fd),
          retry(io),
          signals(io, SIGTERM, SIGINT) {}

    netlink::ConntrackEventSocket events;
    netlink::ConntrackSocket dumps;
    Tracker tracker;
    asio::posix::stream_descriptor descriptor;  // a dup of the event socket's fd
    asio::steady_timer retry;
    asio::signal_set signals;
    bool stopped = false;

    void wait_readable() {
        descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                              [this](const boost::system::error_code& error) {
                                  if (error || stopped) return;
                                  drain();
                              });
    }

    void drain() {
        auto more = tracker.on_readable();
        if (!more) {
            spdlog::error("conntrack accounting: {} (re-dumping in 1 s)", more.error());
            schedule_resync();
            return;
        }
        if (tracker.stats().overflows != reported_overflows) {
            reported_overflows = tracker.stats().overflows;
            spdlog::warn("conntrack events lost (ENOBUFS, {} so far): re-dumped, {} NAT sessions",
                         reported_overflows, tracker.accounting().sessions());
        }
        if (*more) {
            // Let other work (API requests) in between before reading on.
            asio::post(descriptor.get_executor(), [this] {
                if (!stopped) drain();
            });
            return;
        }
        wait_readable();
    }

    void schedule_resync() {
        retry.expires_after(std::chrono::seconds(1));
        retry.async_wait([this](const boost::system::error_code& error) {
            if (error || stopped) return;
            if (auto dumped = tracker.resync(); !dumped) {
                spdlog::error("conntrack accounting: {} (retrying in 1 s)", dumped.error());
                schedule_resync();
                return;
            }
            wait_readable();
        });
    }

    void wait_signal() {
        signals.async_wait([this](const boost::system::error_code& error, int) {
            if (error) return;
            stop();
        });
    }

    void stop() {
        stopped = true;
        boost::system::error_code ignored;
        descriptor.cancel(ignored);
        retry.cancel();
        signals.cancel(ignored);
    }

    std::uint64_t reported_overflows = 0;
};

LiveAccounting::LiveAccounting(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LiveAccounting::~LiveAccounting() {
    if (impl_) impl_->stop();
}

const Tracker& LiveAccounting::tracker() const {
    return impl_->tracker;
}

std::expected<std::unique_ptr<LiveAccounting>, std::string> LiveAccounting::start(
    asio::io_context& io, std::size_t receive_buffer) {
    if (receive_buffer == 0) receive_buffer = netlink::ConntrackEventSocket::kDefaultReceiveBuffer;
    // Subscribe first: what happens during the dump is then queued, not missed.
    auto events = netlink::ConntrackEventSocket::open(receive_buffer);
    if (!events) return std::unexpected(events.error().message);
    auto dumps = netlink::ConntrackSocket::open();
    if (!dumps) return std::unexpected(dumps.error().message);
    const int fd = ::dup(events->fd());
    if (fd < 0) return std::unexpected(fmt::format("dup of the conntrack event socket failed"));
    auto impl = std::make_unique<Impl>(io, std::move(*events), std::move(*dumps), fd);
    spdlog::info("conntrack accounting: event socket receive buffer {} bytes",
                 impl->events.receive_buffer());
    if (auto dumped = impl->tracker.resync(); !dumped) {
        spdlog::error("conntrack accounting: {} (retrying in 1 s)", dumped.error());
        impl->schedule_resync();
    } else {
        spdlog::info("conntrack accounting: {} NAT sessions in the first dump ({} ms)",
                     impl->tracker.accounting().sessions(),
                     impl->tracker.stats().last_dump_duration.count());
        impl->wait_readable();
    }
    impl->wait_signal();
    return std::unique_ptr<LiveAccounting>(new LiveAccounting(std::move(impl)));
}

}  // namespace natctl::conntrack
