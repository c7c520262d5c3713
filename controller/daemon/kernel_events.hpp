// Kernel change notifications that may mean someone changed natctl's objects behind its
// back: nftables (NETLINK_NETFILTER, group NFNLGRP_NFTABLES) and rtnetlink (IPv4 rules,
// routes, addresses), each on its own socket, read from the daemon's io_context. Only the
// notification is used: the reconciler re-reads the kernel and decides what, if anything,
// needs repair, so a filter that lets too much through costs a dump, never correctness.
#pragma once

#include <cstddef>
#include <cstdint>
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

// True when `message` reports a change sent through the netlink socket with `port_id`: the
// kernel stamps every notification with the originating socket's port id (nlmsg_pid); 0 is
// the kernel itself (e.g. routes removed with their interface), never one of ours.
bool caused_by_socket(const nlmsghdr& message, std::uint32_t port_id);

// The port ids of natctld's long-lived nftables and rtnetlink sockets. Notifications of
// changes they made are natctld's own writes echoing back, not drift: acting on them would
// cost a full dump of the table after every API write. 0: unknown, nothing is ignored.
struct OwnSockets {
    std::uint32_t nft_port_id = 0;
    std::uint32_t route_port_id = 0;
};

class KernelEventWatcher {
  public:
    // `on_event` gets a short description of the first relevant message of a read.
    using Handler = std::function<void(std::string_view what)>;

    KernelEventWatcher(boost::asio::io_context& io, Handler on_event, OwnSockets own = {});

    // Opens and subscribes both sockets in the calling thread's network namespace.
    std::expected<void, std::string> start();
    void stop();

  private:
    struct Subscription {
        std::string name;  // "nftables" or "rtnetlink", for logs
        bool (*concerns)(const nlmsghdr&);
        std::uint32_t own_port_id = 0;
        std::unique_ptr<boost::asio::posix::stream_descriptor> descriptor;
    };

    std::expected<void, std::string> subscribe(Subscription& subscription, int protocol,
                                               std::initializer_list<int> groups);
    void wait(Subscription& subscription);
    void drain(Subscription& subscription);

    boost::asio::io_context& io_;
    Handler on_event_;
    Subscription nft_;
    Subscription route_;
    std::vector<char> buffer_;
};

}  // namespace natctl::daemon
