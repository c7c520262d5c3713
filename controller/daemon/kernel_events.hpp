// Kernel change notifications that may mean someone changed natctl's objects behind its
// back: nftables (NETLINK_NETFILTER, group NFNLGRP_NFTABLES) and rtnetlink (IPv4 rules,
// routes, addresses), each on its own socket, read from the daemon's io_context. Only the
// notification is used: the reconciler re-reads the kernel and decides what, if anything,
// needs repair, so a filter that lets too much through costs a dump, never correctness.
#pragma once

#include <cstddef>
#include <expected>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

struct nlmsghdr;

namespace natctl::daemon {

// True when a message from the nftables group is about table ip natctl. Generation
// messages (one per committed batch, whoever sent it) are not.
bool nft_event_concerns_natctl(const nlmsghdr& message);

// True when an rtnetlink rule / route / address message is about an object with natctl's
// protocol (147): the only ones the reconciler would touch.
bool route_event_concerns_natctl(const nlmsghdr& message);

class KernelEventWatcher {
  public:
    // `on_event` gets a short description of the first relevant message of a read.
    using Handler = std::function<void(std::string_view what)>;

    KernelEventWatcher(boost::asio::io_context& io, Handler on_event);

    // Opens and subscribes both sockets in the calling thread's network namespace.
    std::expected<void, std::string> start();
    void stop();

  private:
    struct Subscription {
        std::string name;  // "nftables" or "rtnetlink", for logs
        bool (*concerns)(const nlmsghdr&);
        std::unique_ptr<boost::asio::posix::stream_descriptor> descriptor;
    };

    std::expected<void, std::string> subscribe(Subscription& subscription, int protocol,
                                               std::initializer_list<int> groups);
    void wait(Subscription& subscription);
    void drain(Subscription& subscription);

    boost::asio::io_context& io_;
    Handler on_event_;
    Subscription nft_{"nftables", &nft_event_concerns_natctl, nullptr};
    Subscription route_{"rtnetlink", &route_event_concerns_natctl, nullptr};
    std::vector<char> buffer_;
};

}  // namespace natctl::daemon
