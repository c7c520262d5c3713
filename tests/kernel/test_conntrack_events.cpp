// ConntrackEventSocket against a real kernel: NAT'd entries inserted into a throwaway
// namespace (libnetfilter_conntrack, CTA_NAT_* so that the kernel sets SRC_NAT and the
// reply tuple) arrive as NEW events with their translation, a flush as DESTROY events,
// entries without NAT not at all; and a burst into a small receive buffer is reported as
// an overflow (ENOBUFS), never silently lost, while the default 32 MB buffer takes it.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>

#include "netlink/conntrack_events.hpp"
#include "netlink/conntrack_socket.hpp"
#include "tests/support/netns_fixture.hpp"

using natctl::netlink::ConntrackEventBatch;
using natctl::netlink::ConntrackEventSocket;
using natctl::netlink::ConntrackEventType;

namespace {

struct HandleCloser {
    void operator()(nfct_handle* handle) const { nfct_close(handle); }
};
struct ConntrackDeleter {
    void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};

constexpr std::uint32_t kSource = 0x0a000100;  // 10.0.1.0 + n
constexpr std::uint32_t kRemote = 0xc0000201;  // 192.0.2.1
constexpr std::uint32_t kEip = 0xcb00710a;     // 203.0.113.10

class EventNamespace {
  public:
    EventNamespace() : netns_(create()) {
        run("nft add table ip natctl_ev_test");
        run("nft add chain ip natctl_ev_test post \"{ type nat hook postrouting priority 100 ; "
            "}\"");
        auto inside = netns_.enter();
        handle_.reset(nfct_open(CONNTRACK, 0));
        if (!handle_) FAIL("nfct_open: " << std::strerror(errno));
    }

    void run(const std::string& command) const {
        auto result = netns_.run(command);
        INFO(command << "\n" << result.output);
        REQUIRE(result.exit_code == 0);
    }

    // Opens an event socket inside the namespace.
    ConntrackEventSocket events(std::size_t buffer) const {
        auto inside = netns_.enter();
        auto socket = ConntrackEventSocket::open(buffer);
        if (!socket) FAIL(socket.error().message);
        return std::move(*socket);
    }

    // udp 10.0.1.x:sport -> 192.0.2.1:53, SNAT'd to 203.0.113.10 (or not NAT'd at all).
    void insert(std::uint32_t n, std::uint16_t sport, bool nat = true) {
        std::unique_ptr<nf_conntrack, ConntrackDeleter> ct(nfct_new());
        REQUIRE(ct);
        auto* c = ct.get();
        nfct_set_attr_u8(c, ATTR_L3PROTO, AF_INET);
        nfct_set_attr_u32(c, ATTR_IPV4_SRC, htonl(kSource + n));
        nfct_set_attr_u32(c, ATTR_IPV4_DST, htonl(kRemote));
        nfct_set_attr_u8(c, ATTR_L4PROTO, IPPROTO_UDP);
        nfct_set_attr_u16(c, ATTR_PORT_SRC, htons(sport));
        nfct_set_attr_u16(c, ATTR_PORT_DST, htons(53));
        nfct_set_attr_u8(c, ATTR_REPL_L3PROTO, AF_INET);
        nfct_set_attr_u32(c, ATTR_REPL_IPV4_SRC, htonl(kRemote));
        nfct_set_attr_u32(c, ATTR_REPL_IPV4_DST, htonl(kSource + n));
        nfct_set_attr_u8(c, ATTR_REPL_L4PROTO, IPPROTO_UDP);
        nfct_set_attr_u16(c, ATTR_REPL_PORT_SRC, htons(53));
        nfct_set_attr_u16(c, ATTR_REPL_PORT_DST, htons(sport));
        if (nat) nfct_set_attr_u32(c, ATTR_SNAT_IPV4, htonl(kEip));
        nfct_set_attr_u32(c, ATTR_TIMEOUT, 300);
        REQUIRE(nfct_query(handle_.get(), NFCT_Q_CREATE, c) == 0);
    }

  private:
    static natctl::testing::TestNetns create() {
        std::string error;
        auto netns = natctl::testing::TestNetns::create(&error);
        if (!netns) FAIL("cannot create a network namespace: " << error);
        return std::move(*netns);
    }
    natctl::testing::TestNetns netns_;
    std::unique_ptr<nfct_handle, HandleCloser> handle_;
};

// Everything queued, until `expected` events came or a second passed without any.
ConntrackEventBatch drain(ConntrackEventSocket& socket, std::size_t expected) {
    ConntrackEventBatch all;
    while (all.events.size() < expected) {
        pollfd fd{socket.fd(), POLLIN, 0};
        if (::poll(&fd, 1, 1000) <= 0) break;
        auto batch = socket.read(4096);
        REQUIRE(batch);
        all.overflow = all.overflow || batch->overflow;
        for (auto& event : batch->events)
            all.events.push_back(std::move(event));
    }
    return all;
}

}  // namespace

TEST_CASE("conntrack events: NEW and DESTROY of NAT'd entries with their translation",
          "[kernel][conntrack][events]") {
    EventNamespace ns;
    auto socket = ns.events(ConntrackEventSocket::kDefaultReceiveBuffer);
    CHECK(socket.receive_buffer() >= ConntrackEventSocket::kDefaultReceiveBuffer);
    {
        auto empty = socket.read(16);
        REQUIRE(empty);
        CHECK(empty->events.empty());
        CHECK(empty->drained);
    }
    constexpr std::uint32_t kCount = 50;
    for (std::uint32_t i = 0; i < kCount; ++i)
        ns.insert(i, static_cast<std::uint16_t>(40000 + i));
    ns.insert(99, 40999, false);  // no NAT: no event for the accounting

    auto created = drain(socket, kCount + 1);
    CHECK_FALSE(created.overflow);
    REQUIRE(created.events.size() == kCount);
    std::set<std::uint32_t> sources;
    for (const auto& event : created.events) {
        CHECK(event.type == ConntrackEventType::New);
        CHECK(event.entry.src_nat());
        CHECK(event.entry.protocol == IPPROTO_UDP);
        CHECK(event.entry.original.dst == kRemote);
        CHECK(event.entry.reply.dst == kEip);  // the translated source
        CHECK(event.entry.original.sport == 40000 + (event.entry.original.src - kSource));
        sources.insert(event.entry.original.src);
    }
    CHECK(sources.size() == kCount);

    ns.run("conntrack -F");
    auto destroyed = drain(socket, kCount + 1);
    CHECK_FALSE(destroyed.overflow);
    REQUIRE(destroyed.events.size() == kCount);
    for (const auto& event : destroyed.events) {
        CHECK(event.type == ConntrackEventType::Destroy);
        CHECK(event.entry.reply.dst == kEip);
    }
}

TEST_CASE("conntrack events: a burst into a small buffer reports ENOBUFS",
          "[kernel][conntrack][events]") {
    EventNamespace ns;
    auto small = ns.events(4096);
    auto large = ns.events(ConntrackEventSocket::kDefaultReceiveBuffer);
    constexpr std::uint32_t kBurst = 3000;
    for (std::uint32_t i = 0; i < kBurst; ++i)
        ns.insert(i % 200, static_cast<std::uint16_t>(10000 + i));

    auto lossy = drain(small, kBurst);
    CHECK(lossy.overflow);
    CHECK(lossy.events.size() < kBurst);

    auto complete = drain(large, kBurst);
    CHECK_FALSE(complete.overflow);
    CHECK(complete.events.size() == kBurst);
}
