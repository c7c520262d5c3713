// ConntrackSocket and the conntrack hygiene against a real kernel: NAT'd entries are
// inserted directly (libnetfilter_conntrack, CTA_NAT_* so that the kernel itself sets the
// SRC_NAT / DST_NAT status and the reply tuple) into a throwaway network namespace, and
// exactly the stale ones must be deleted. The host's conntrack table is never touched: the
// sockets belong to the test namespace.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "controller/compiler/translations.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/validate.hpp"
#include "controller/reconciler/conntrack_hygiene.hpp"
#include "netlink/conntrack_socket.hpp"
#include "tests/support/netns_fixture.hpp"
#include "tests/unit/ipv4.hpp"

using natctl::netlink::ConntrackEntry;
using natctl::netlink::ConntrackSocket;

using natctl::testing::addr;

namespace {

// ngw-1 of vpc-a: DNAT udp eip-1:10-20 → 10.0.1.10:80-90; SNAT vsw-a → eip-1, app-1 → eip-2;
// IP mapping eip-3 → 10.0.1.21.
constexpr const char* kModel = R"({
  "version": 1,
  "vpcs": [{
    "name": "vpc-a", "cidr": "10.0.0.0/16", "interfaces": ["veth-vpc"],
    "vswitches": [{"name": "vsw-a", "cidr": "10.0.1.0/24"}],
    "instances": [
      {"name": "web-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.10"]},
      {"name": "app-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.20", "10.0.1.21"]}
    ]
  }],
  "eips": [
    {"name": "eip-1", "address": "203.0.113.10"},
    {"name": "eip-2", "address": "203.0.113.11"},
    {"name": "eip-3", "address": "203.0.113.12"}
  ],
  "nat_gateways": [{
    "name": "ngw-1", "vpc": "vpc-a", "outside_interface": "veth-wan",
    "upstream": "198.51.100.1", "eips": ["eip-1", "eip-2", "eip-3"],
    "snat_entries": [
      {"name": "snat-vsw-a", "source": {"vswitch": "vsw-a"}, "eips": ["eip-1"]},
      {"name": "snat-app-1", "source": {"instance": "app-1"}, "eips": ["eip-2"]}
    ],
    "dnat_entries": [
      {"name": "games", "eip": "eip-1", "protocol": "udp",
       "public_port": "10/20", "private_ip": "10.0.1.10", "private_port": "80/90"},
      {"name": "app-ipmap", "eip": "eip-3", "protocol": "any", "private_ip": "10.0.1.21"}
    ]
  }]
})";

struct HandleCloser {
    void operator()(nfct_handle* handle) const { nfct_close(handle); }
};
struct ConntrackDeleter {
    void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};

// What to insert: an original tuple and the NAT the kernel should set up for it.
struct Insert {
    std::uint8_t protocol = IPPROTO_UDP;
    std::string_view src, dst;
    std::uint16_t sport = 0, dport = 0;
    std::uint16_t icmp_id = 0;  // ICMP echo request when protocol is ICMP
    std::optional<std::string_view> dnat_to, snat_to;
    std::uint16_t dnat_port = 0;
    std::uint16_t zone = 0;
};

// A conntrack table in a fresh namespace where conntrack and NAT are active (a nat chain
// exists), with a libnetfilter_conntrack handle to insert entries.
class ConntrackNamespace {
  public:
    ConntrackNamespace() : netns_(create()) {
        run("nft add table ip natctl_ct_test");
        run("nft add chain ip natctl_ct_test pre \"{ type nat hook prerouting priority -100 ; }\"");
        run("nft add chain ip natctl_ct_test post \"{ type nat hook postrouting priority 100 ; "
            "}\"");
        auto inside = netns_.enter();
        handle_.reset(nfct_open(CONNTRACK, 0));
        if (!handle_) FAIL("nfct_open: " << std::strerror(errno));
        auto socket = ConntrackSocket::open();
        if (!socket) FAIL(socket.error().message);
        socket_.emplace(std::move(*socket));
    }

    void run(const std::string& command) const {
        auto result = netns_.run(command);
        INFO(command << "\n" << result.output);
        REQUIRE(result.exit_code == 0);
    }
    std::string output(const std::string& command) const { return netns_.run(command).output; }

    void insert(const Insert& spec) {
        std::unique_ptr<nf_conntrack, ConntrackDeleter> ct(nfct_new());
        REQUIRE(ct);
        auto* c = ct.get();
        nfct_set_attr_u8(c, ATTR_L3PROTO, AF_INET);
        nfct_set_attr_u32(c, ATTR_IPV4_SRC, htonl(addr(spec.src)));
        nfct_set_attr_u32(c, ATTR_IPV4_DST, htonl(addr(spec.dst)));
        nfct_set_attr_u8(c, ATTR_L4PROTO, spec.protocol);
        // the reply tuple as it would be without NAT; the kernel rewrites it for the NAT
        nfct_set_attr_u8(c, ATTR_REPL_L3PROTO, AF_INET);
        nfct_set_attr_u32(c, ATTR_REPL_IPV4_SRC, htonl(addr(spec.dst)));
        nfct_set_attr_u32(c, ATTR_REPL_IPV4_DST, htonl(addr(spec.src)));
        nfct_set_attr_u8(c, ATTR_REPL_L4PROTO, spec.protocol);
        if (spec.protocol == IPPROTO_ICMP) {
            nfct_set_attr_u8(c, ATTR_ICMP_TYPE, 8);
            nfct_set_attr_u8(c, ATTR_ICMP_CODE, 0);
            nfct_set_attr_u16(c, ATTR_ICMP_ID, htons(spec.icmp_id));
        } else {
            nfct_set_attr_u16(c, ATTR_PORT_SRC, htons(spec.sport));
            nfct_set_attr_u16(c, ATTR_PORT_DST, htons(spec.dport));
            nfct_set_attr_u16(c, ATTR_REPL_PORT_SRC, htons(spec.dport));
            nfct_set_attr_u16(c, ATTR_REPL_PORT_DST, htons(spec.sport));
        }
        if (spec.protocol == IPPROTO_TCP)
            nfct_set_attr_u8(c, ATTR_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
        if (spec.dnat_to) {
            nfct_set_attr_u32(c, ATTR_DNAT_IPV4, htonl(addr(*spec.dnat_to)));
            if (spec.dnat_port) nfct_set_attr_u16(c, ATTR_DNAT_PORT, htons(spec.dnat_port));
        }
        if (spec.snat_to) nfct_set_attr_u32(c, ATTR_SNAT_IPV4, htonl(addr(*spec.snat_to)));
        if (spec.zone) nfct_set_attr_u16(c, ATTR_ZONE, spec.zone);
        nfct_set_attr_u32(c, ATTR_TIMEOUT, 300);
        INFO("inserting " << spec.src << " -> " << spec.dst);
        REQUIRE(nfct_query(handle_.get(), NFCT_Q_CREATE, c) == 0);
    }

    ConntrackSocket& socket() { return *socket_; }

  private:
    static natctl::testing::TestNetns create() {
        std::string error;
        auto netns = natctl::testing::TestNetns::create(&error);
        if (!netns) FAIL("cannot create a network namespace: " << error);
        return std::move(*netns);
    }
    natctl::testing::TestNetns netns_;
    std::unique_ptr<nfct_handle, HandleCloser> handle_;
    std::optional<ConntrackSocket> socket_;
};

const ConntrackEntry* find(const std::vector<ConntrackEntry>& entries, std::string_view src,
                           std::uint16_t sport, std::uint16_t zone = 0) {
    for (const auto& entry : entries)
        if (entry.original.src == addr(src) && entry.original.sport == sport && entry.zone == zone)
            return &entry;
    return nullptr;
}

}  // namespace

TEST_CASE("ConntrackSocket dumps NAT'd entries with their translation", "[kernel][conntrack]") {
    ConntrackNamespace ns;
    ns.insert({.src = "192.0.2.1",
               .dst = "203.0.113.10",
               .sport = 40000,
               .dport = 15,
               .dnat_to = "10.0.1.10",
               .dnat_port = 85});
    ns.insert({.protocol = IPPROTO_ICMP,
               .src = "10.0.1.21",
               .dst = "192.0.2.1",
               .icmp_id = 77,
               .snat_to = "203.0.113.12"});
    ns.insert({.src = "10.0.1.10", .dst = "10.0.2.5", .sport = 5000, .dport = 53});  // no NAT

    auto entries = ns.socket().dump_nat();
    REQUIRE(entries);
    REQUIRE(entries->size() == 2);

    const auto* dnat = find(*entries, "192.0.2.1", 40000);
    REQUIRE(dnat);
    CHECK(dnat->protocol == IPPROTO_UDP);
    CHECK(dnat->dst_nat());
    CHECK_FALSE(dnat->src_nat());
    CHECK(dnat->original ==
          natctl::netlink::ConntrackTuple{addr("192.0.2.1"), addr("203.0.113.10"), 40000, 15});
    CHECK(dnat->reply ==
          natctl::netlink::ConntrackTuple{addr("10.0.1.10"), addr("192.0.2.1"), 85, 40000});
    CHECK(dnat->id);

    const auto* icmp = find(*entries, "10.0.1.21", 0);
    REQUIRE(icmp);
    CHECK(icmp->protocol == IPPROTO_ICMP);
    CHECK(icmp->src_nat());
    REQUIRE(icmp->icmp);
    CHECK(icmp->icmp->type == 8);
    CHECK(icmp->icmp->id == 77);
    CHECK(icmp->reply.dst == addr("203.0.113.12"));
}

TEST_CASE("a deletion carrying another id leaves the entry alone", "[kernel][conntrack]") {
    ConntrackNamespace ns;
    ns.insert({.src = "192.0.2.1",
               .dst = "203.0.113.10",
               .sport = 40000,
               .dport = 15,
               .dnat_to = "10.0.1.20",
               .dnat_port = 85});
    auto entries = ns.socket().dump_nat();
    REQUIRE(entries);
    REQUIRE(entries->size() == 1);
    auto entry = entries->front();
    REQUIRE(entry.id);

    auto other = entry;
    other.id = *entry.id + 1;  // as if the tuple had been reused by a new connection
    auto removed = ns.socket().remove(other);
    REQUIRE(removed);
    CHECK_FALSE(*removed);
    CHECK(ns.socket().dump_nat()->size() == 1);

    removed = ns.socket().remove(entry);
    REQUIRE(removed);
    CHECK(*removed);
    CHECK(ns.socket().dump_nat()->empty());
    // gone already: not an error
    removed = ns.socket().remove(entry);
    REQUIRE(removed);
    CHECK_FALSE(*removed);
}

TEST_CASE("purge_stale deletes exactly the stale entries in the kernel", "[kernel][conntrack]") {
    auto model = natctl::model::load_model(kModel);
    REQUIRE(model);
    const auto index = natctl::compiler::index_translations(*model);
    ConntrackNamespace ns;

    // kept: current DNAT range offset, SNAT to the vSwitch's EIP, the IP mapping's egress,
    // another agent's masquerade, and an entry without NAT
    ns.insert({.src = "192.0.2.1",
               .dst = "203.0.113.10",
               .sport = 40000,
               .dport = 15,
               .dnat_to = "10.0.1.10",
               .dnat_port = 85});
    ns.insert({.protocol = IPPROTO_TCP,
               .src = "10.0.1.10",
               .dst = "192.0.2.1",
               .sport = 5000,
               .dport = 443,
               .snat_to = "203.0.113.10"});
    ns.insert({.protocol = IPPROTO_ICMP,
               .src = "10.0.1.21",
               .dst = "192.0.2.1",
               .icmp_id = 77,
               .snat_to = "203.0.113.12"});
    ns.insert({.src = "172.17.0.2",
               .dst = "192.0.2.1",
               .sport = 6000,
               .dport = 53,
               .snat_to = "198.51.100.2"});
    ns.insert({.src = "10.0.1.10", .dst = "10.0.2.5", .sport = 5001, .dport = 53});
    // stale: the old backend of the range, app-1 leaving by the vSwitch's EIP (its /32 entry
    // wins), ICMP of 10.0.1.20 through the IP mapping of 10.0.1.21, a removed mapping in
    // another zone
    ns.insert({.src = "192.0.2.2",
               .dst = "203.0.113.10",
               .sport = 40000,
               .dport = 15,
               .dnat_to = "10.0.1.20",
               .dnat_port = 85});
    ns.insert({.protocol = IPPROTO_TCP,
               .src = "10.0.1.20",
               .dst = "192.0.2.1",
               .sport = 5000,
               .dport = 443,
               .snat_to = "203.0.113.10"});
    ns.insert({.protocol = IPPROTO_ICMP,
               .src = "10.0.1.20",
               .dst = "192.0.2.1",
               .icmp_id = 78,
               .snat_to = "203.0.113.12"});
    ns.insert({.src = "192.0.2.1",
               .dst = "203.0.113.10",
               .sport = 40001,
               .dport = 443,
               .dnat_to = "10.0.1.10",
               .dnat_port = 443,
               .zone = 5});

    auto before = ns.socket().dump_nat();
    REQUIRE(before);
    REQUIRE(before->size() == 8);
    CHECK(natctl::reconciler::stale_entries(index, *before).size() == 4);

    auto removed = natctl::reconciler::purge_stale(ns.socket(), index);
    REQUIRE(removed);
    CHECK(*removed == 4);

    auto after = ns.socket().dump_nat();
    REQUIRE(after);
    CHECK(after->size() == 4);
    CHECK(find(*after, "192.0.2.1", 40000));
    CHECK(find(*after, "10.0.1.10", 5000));
    CHECK(find(*after, "10.0.1.21", 0));
    CHECK(find(*after, "172.17.0.2", 6000));
    CHECK_FALSE(find(*after, "192.0.2.2", 40000));
    CHECK_FALSE(find(*after, "10.0.1.20", 5000));
    CHECK_FALSE(find(*after, "10.0.1.20", 0));
    CHECK_FALSE(find(*after, "192.0.2.1", 40001, 5));
    // the entry without NAT is not in a NAT dump; it is still in the table
    CHECK(ns.output("conntrack -L -s 10.0.1.10 -d 10.0.2.5 2>/dev/null").find("sport=5001") !=
          std::string::npos);

    auto again = natctl::reconciler::purge_stale(ns.socket(), index);
    REQUIRE(again);
    CHECK(*again == 0);
}

TEST_CASE("a streamed dump spans many datagrams and equals the collected one",
          "[kernel][conntrack]") {
    ConntrackNamespace ns;
    // ~190 bytes per entry, 32 KiB per dump datagram: 600 entries take several datagrams.
    for (std::uint16_t i = 0; i < 600; ++i)
        ns.insert({.src = "10.0.1.10",
                   .dst = "192.0.2.1",
                   .sport = static_cast<std::uint16_t>(10000 + i),
                   .dport = 53,
                   .snat_to = "203.0.113.10"});
    ns.insert({.src = "10.0.1.10", .dst = "10.0.2.5", .sport = 5000, .dport = 53});  // no NAT

    // the kernel's count includes the entry without NAT
    CHECK(ns.socket().table_size_hint() == 601);
    std::vector<ConntrackEntry> streamed;
    auto passed = ns.socket().stream_nat([&](const ConntrackEntry& e) { streamed.push_back(e); });
    REQUIRE(passed);
    CHECK(*passed == 600);
    auto collected = ns.socket().dump_nat();
    REQUIRE(collected);
    CHECK(streamed == *collected);
    // the socket is clean for the next request
    CHECK(ns.socket().table_size_hint() == 601);
}
