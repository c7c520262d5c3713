// Waits on natctld's io_context for kernel change notifications (netlink/kernel_events.hpp)
// that may mean someone changed natctl's objects behind its back, and tells the daemon,
// which schedules a reconcile.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "netlink/kernel_events.hpp"

namespace natctl::daemon {

class KernelEventWatcher {
  public:
    // `on_event` gets a short description of the first relevant message of a read.
    using Handler = std::function<void(std::string_view what)>;

    KernelEventWatcher(boost::asio::io_context& io, Handler on_event, netlink::OwnSockets own = {});
    ~KernelEventWatcher();
    KernelEventWatcher(const KernelEventWatcher&) = delete;
    KernelEventWatcher& operator=(const KernelEventWatcher&) = delete;

    // Opens and subscribes both sockets in the calling thread's network namespace.
    std::expected<void, std::string> start();
    void stop();

  private:
    struct Subscription;
    void wait(Subscription& subscription);

    boost::asio::io_context& io_;
    Handler on_event_;
    netlink::OwnSockets own_;
    std::vector<std::unique_ptr<Subscription>> subscriptions_;
};

}  // namespace natctl::daemon
