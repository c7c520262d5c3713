#include "controller/daemon/kernel_watcher.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <utility>

namespace natctl::daemon {

struct KernelEventWatcher::Subscription {
    Subscription(boost::asio::io_context& io, netlink::KernelChangeSocket s)
        : socket(std::move(s)), descriptor(io, socket.fd()) {}
    ~Subscription() {
        // The socket owns the descriptor; asio only waits on it.
        boost::system::error_code ignored;
        descriptor.cancel(ignored);
        descriptor.release();
    }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    netlink::KernelChangeSocket socket;
    boost::asio::posix::stream_descriptor descriptor;
};

KernelEventWatcher::KernelEventWatcher(boost::asio::io_context& io, Handler on_event,
                                       netlink::OwnSockets own)
    : io_(io), on_event_(std::move(on_event)), own_(own) {}

KernelEventWatcher::~KernelEventWatcher() = default;

std::expected<void, std::string> KernelEventWatcher::start() {
    using Source = netlink::KernelChangeSocket::Source;
    std::vector<std::unique_ptr<Subscription>> opened;
    const std::pair<Source, std::uint32_t> sources[] = {{Source::Nftables, own_.nft_port_id},
                                                        {Source::Routes, own_.route_port_id}};
    for (auto [source, own_port_id] : sources) {
        auto socket = netlink::KernelChangeSocket::open(source, own_port_id);
        if (!socket) return std::unexpected(socket.error());
        opened.push_back(std::make_unique<Subscription>(io_, std::move(*socket)));
    }
    subscriptions_ = std::move(opened);
    for (auto& subscription : subscriptions_)
        wait(*subscription);
    return {};
}

void KernelEventWatcher::stop() {
    // Pending waits end with operation_aborted and touch nothing.
    subscriptions_.clear();
}

void KernelEventWatcher::wait(Subscription& subscription) {
    subscription.descriptor.async_wait(
        boost::asio::posix::stream_descriptor::wait_read,
        [this, &subscription](const boost::system::error_code& error) {
            if (error == boost::asio::error::operation_aborted) return;
            const auto name = subscription.socket.name();
            if (error) {
                spdlog::error("{} events: {}; drift is only repaired by the periodic resync now",
                              name, error.message());
                return;
            }
            auto changes = subscription.socket.drain();
            if (changes.read_error) spdlog::warn("{} events: {}", name, *changes.read_error);
            if (changes.relevant) on_event_(*changes.relevant);
            wait(subscription);
        });
}

}  // namespace natctl::daemon
