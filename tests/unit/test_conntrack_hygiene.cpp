// Conntrack hygiene without a kernel: the translation index of a model, the stale-entry
// verdict on hand-made entries (every case, including entries natctl must never touch),
// the purge against the in-memory conntrack table, and the reconciler running it only when
// NAT data changed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/translations.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/validate.hpp"
#include "controller/reconciler/conntrack_hygiene.hpp"
#include "controller/reconciler/reconciler.hpp"
#include "tests/support/conntrack_fake.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"
#include "tests/unit/ipv4.hpp"

using namespace natctl;
using netlink::ConntrackEntry;

using natctl::testing::addr;

namespace {

// vpc-a (10.0.0.0/16) with two NAT gateways and vpc-m (10.1.0.0/16) with a masquerade
// gateway.
//   ngw-1: snat-vsw-a (10.0.1.0/24 → eip-1, eip-2), snat-app-1 (app-1's 10.0.1.20 and
//          10.0.1.21 → eip-2); DNAT web tcp eip-1:80 → 10.0.1.10:8080, games udp
//          eip-1:10-20 → 10.0.1.10:80-90, IP mapping eip-3 → 10.0.1.21
//   ngw-2: snat-vpc (the whole VPC → eip-4)
//   bastion 10.0.2.5 has the public IP 203.0.113.50
constexpr const char* kModel = R"({
  "version": 1,
  "vpcs": [{
    "name": "vpc-a", "cidr": "10.0.0.0/16", "interfaces": ["veth-vpc"],
    "vswitches": [
      {"name": "vsw-a", "cidr": "10.0.1.0/24"},
      {"name": "vsw-b", "cidr": "10.0.2.0/24"}
    ],
    "instances": [
      {"name": "web-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.10"]},
      {"name": "app-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.20", "10.0.1.21"]},
      {"name": "bastion", "vswitch": "vsw-b", "private_ips": ["10.0.2.5"],
       "public_ip": "203.0.113.50"}
    ]
  }, {
    "name": "vpc-m", "cidr": "10.1.0.0/16", "interfaces": ["veth-m"],
    "vswitches": [{"name": "vsw-m", "cidr": "10.1.0.0/24"}]
  }],
  "eips": [
    {"name": "eip-1", "address": "203.0.113.10"},
    {"name": "eip-2", "address": "203.0.113.11"},
    {"name": "eip-3", "address": "203.0.113.12"},
    {"name": "eip-4", "address": "203.0.113.13"}
  ],
  "nat_gateways": [{
    "name": "ngw-1", "vpc": "vpc-a", "outside_interface": "veth-wan",
    "upstream": "198.51.100.1", "eips": ["eip-1", "eip-2", "eip-3"],
    "snat_entries": [
      {"name": "snat-vsw-a", "source": {"vswitch": "vsw-a"}, "eips": ["eip-1", "eip-2"]},
      {"name": "snat-app-1", "source": {"instance": "app-1"}, "eips": ["eip-2"]}
    ],
    "dnat_entries": [
      {"name": "web", "eip": "eip-1", "protocol": "tcp",
       "public_port": "80", "private_ip": "10.0.1.10", "private_port": "8080"},
      {"name": "games", "eip": "eip-1", "protocol": "udp",
       "public_port": "10/20", "private_ip": "10.0.1.10", "private_port": "80/90"},
      {"name": "app-ipmap", "eip": "eip-3", "protocol": "any", "private_ip": "10.0.1.21"}
    ]
  }, {
    "name": "ngw-2", "vpc": "vpc-a", "outside_interface": "veth-wan",
    "upstream": "198.51.100.1", "eips": ["eip-4"],
    "snat_entries": [
      {"name": "snat-vpc", "source": {"vpc": "vpc-a"}, "eips": ["eip-4"]}
    ]
  }, {
    "name": "ngw-m", "vpc": "vpc-m", "mode": "masquerade", "outside_interface": "veth-wan",
    "upstream": "198.51.100.1"
  }]
})";

model::Model load(std::string_view text) {
    auto loaded = model::load_model(text);
    if (!loaded) {
        std::string reasons;
        for (const auto& error : loaded.error())
            reasons += error.path + ": " + error.reason + "\n";
        FAIL(reasons);
    }
    return *loaded;
}

std::string edited(std::string text, std::string_view from, std::string_view to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return text;
}

constexpr std::uint8_t kIcmp = 1;
constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;

// Inbound through a DNAT: client → public:port, translated to private:private_port.
ConntrackEntry dnat(std::uint8_t protocol, std::string_view client, std::uint16_t client_port,
                    std::string_view public_ip, std::uint16_t port, std::string_view private_ip,
                    std::uint16_t private_port) {
    ConntrackEntry entry;
    entry.protocol = protocol;
    entry.original = {addr(client), addr(public_ip), client_port, port};
    entry.reply = {addr(private_ip), addr(client), private_port, client_port};
    entry.status = netlink::kCtStatusDstNat;
    return entry;
}

// Outbound through a SNAT: source → server, translated to translated:translated_port.
ConntrackEntry snat(std::uint8_t protocol, std::string_view source, std::uint16_t port,
                    std::string_view server, std::uint16_t server_port, std::string_view translated,
                    std::uint16_t translated_port) {
    ConntrackEntry entry;
    entry.protocol = protocol;
    entry.original = {addr(source), addr(server), port, server_port};
    entry.reply = {addr(server), addr(translated), server_port, translated_port};
    entry.status = netlink::kCtStatusSrcNat;
    return entry;
}

ConntrackEntry icmp_dnat(std::string_view client, std::string_view public_ip,
                         std::string_view private_ip) {
    auto entry = dnat(kIcmp, client, 0, public_ip, 0, private_ip, 0);
    entry.icmp = netlink::ConntrackIcmp{8, 0, 4242};
    return entry;
}

bool stale(const compiler::TranslationIndex& index, const ConntrackEntry& entry) {
    INFO(netlink::describe(entry));
    return reconciler::is_stale(index, entry);
}

}  // namespace

TEST_CASE("the translation index expands what the model allows", "[conntrack]") {
    const auto index = compiler::index_translations(load(kModel));

    auto web = index.port_mapping(addr("203.0.113.10"), kTcp, 80);
    REQUIRE(web);
    CHECK(*web == compiler::PortTarget{addr("10.0.1.10"), 8080});
    // ranges offset by offset, not beyond their ends, per protocol
    CHECK(index.port_mapping(addr("203.0.113.10"), kUdp, 10) ==
          compiler::PortTarget{addr("10.0.1.10"), 80});
    CHECK(index.port_mapping(addr("203.0.113.10"), kUdp, 15) ==
          compiler::PortTarget{addr("10.0.1.10"), 85});
    CHECK(index.port_mapping(addr("203.0.113.10"), kUdp, 20) ==
          compiler::PortTarget{addr("10.0.1.10"), 90});
    CHECK_FALSE(index.port_mapping(addr("203.0.113.10"), kUdp, 9));
    CHECK_FALSE(index.port_mapping(addr("203.0.113.10"), kUdp, 21));
    CHECK_FALSE(index.port_mapping(addr("203.0.113.10"), kUdp, 80));
    CHECK_FALSE(index.port_mapping(addr("203.0.113.10"), kTcp, 15));
    CHECK_FALSE(index.port_mapping(addr("203.0.113.11"), kTcp, 80));

    CHECK(index.maps_inbound(addr("203.0.113.12"), addr("10.0.1.21")));
    CHECK(index.maps_inbound(addr("203.0.113.50"), addr("10.0.2.5")));
    CHECK_FALSE(index.maps_inbound(addr("203.0.113.12"), addr("10.0.1.20")));
    CHECK(index.maps_egress(addr("10.0.1.21"), addr("203.0.113.12")));
    CHECK(index.maps_egress(addr("10.0.2.5"), addr("203.0.113.50")));
    CHECK_FALSE(index.maps_egress(addr("10.0.1.20"), addr("203.0.113.12")));

    // SNAT: longest prefix per gateway, union over the gateways of the VPC
    const auto* vsw_a = index.snat_for(addr("10.0.1.10"));
    REQUIRE(vsw_a);
    CHECK(vsw_a->eips == std::vector<std::uint32_t>{addr("203.0.113.10"), addr("203.0.113.11"),
                                                    addr("203.0.113.13")});
    const auto* app = index.snat_for(addr("10.0.1.20"));
    REQUIRE(app);
    CHECK(app->eips == std::vector<std::uint32_t>{addr("203.0.113.11"), addr("203.0.113.13")});
    const auto* vsw_b = index.snat_for(addr("10.0.2.5"));
    REQUIRE(vsw_b);
    CHECK(vsw_b->eips == std::vector<std::uint32_t>{addr("203.0.113.13")});
    const auto* masq = index.snat_for(addr("10.1.0.5"));
    REQUIRE(masq);
    CHECK(masq->masquerade);
    CHECK_FALSE(index.snat_for(addr("10.2.0.1")));
    CHECK_FALSE(index.snat_for(addr("9.255.255.255")));

    // the disjoint intervals cover both VPCs exactly and in order
    REQUIRE_FALSE(index.snat.empty());
    CHECK(index.snat.front().first == addr("10.0.0.0"));
    CHECK(index.snat.back().last == addr("10.1.255.255"));
    for (std::size_t i = 1; i < index.snat.size(); ++i)
        CHECK(index.snat[i - 1].last < index.snat[i].first);

    CHECK(index.in_vpc(addr("10.0.0.0")));
    CHECK(index.in_vpc(addr("10.1.255.255")));
    CHECK_FALSE(index.in_vpc(addr("10.2.0.0")));
    CHECK_FALSE(index.in_vpc(addr("192.0.2.1")));
    CHECK(index.is_public_address(addr("203.0.113.13")));
    CHECK(index.is_public_address(addr("203.0.113.50")));
    CHECK_FALSE(index.is_public_address(addr("203.0.113.99")));
}

TEST_CASE("DNAT'd entries are stale exactly when no mapping produces them", "[conntrack]") {
    const auto index = compiler::index_translations(load(kModel));

    SECTION("current port mappings, ranges offset by offset") {
        CHECK_FALSE(
            stale(index, dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 80, "10.0.1.10", 8080)));
        CHECK_FALSE(
            stale(index, dnat(kUdp, "192.0.2.1", 40000, "203.0.113.10", 15, "10.0.1.10", 85)));
    }
    SECTION("a mapping whose backend, private port or protocol changed") {
        CHECK(stale(index, dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 80, "10.0.1.20", 8080)));
        CHECK(stale(index, dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 80, "10.0.1.10", 8081)));
        CHECK(stale(index, dnat(kUdp, "192.0.2.1", 40000, "203.0.113.10", 15, "10.0.1.10", 80)));
        CHECK(stale(index, dnat(kUdp, "192.0.2.1", 40000, "203.0.113.10", 80, "10.0.1.10", 8080)));
    }
    SECTION("a removed mapping, on a kept or a removed EIP") {
        CHECK(stale(index, dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 443, "10.0.1.10", 443)));
        CHECK(stale(index, dnat(kTcp, "192.0.2.1", 40000, "203.0.113.99", 80, "10.0.1.10", 8080)));
    }
    SECTION("IP mappings and public IPs: every protocol and port to their address") {
        CHECK_FALSE(
            stale(index, dnat(kTcp, "192.0.2.1", 40000, "203.0.113.12", 5555, "10.0.1.21", 5555)));
        CHECK_FALSE(stale(index, icmp_dnat("192.0.2.1", "203.0.113.12", "10.0.1.21")));
        CHECK_FALSE(
            stale(index, dnat(kUdp, "192.0.2.1", 40000, "203.0.113.50", 53, "10.0.2.5", 53)));
        CHECK(stale(index, icmp_dnat("192.0.2.1", "203.0.113.12", "10.0.1.20")));
        CHECK(stale(index, dnat(kTcp, "192.0.2.1", 40000, "203.0.113.50", 22, "10.0.1.10", 22)));
    }
    SECTION("entries natctl did not translate are never touched") {
        // another agent's DNAT to a container network
        CHECK_FALSE(
            stale(index, dnat(kTcp, "192.0.2.1", 40000, "192.0.2.80", 80, "172.17.0.2", 80)));
        // a port-only remap on an EIP (REDIRECT-like)
        CHECK_FALSE(
            stale(index, dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 22, "203.0.113.10", 2222)));
        // not NAT'd at all
        auto plain = dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 443, "10.0.1.10", 443);
        plain.status = 0;
        CHECK_FALSE(stale(index, plain));
    }
}

TEST_CASE("SNAT'd entries are stale exactly when no translation of their source allows them",
          "[conntrack]") {
    const auto index = compiler::index_translations(load(kModel));

    SECTION("SNAT entries: longest prefix per gateway, any gateway of the VPC") {
        CHECK_FALSE(
            stale(index, snat(kTcp, "10.0.1.10", 5000, "192.0.2.1", 443, "203.0.113.10", 30000)));
        CHECK_FALSE(
            stale(index, snat(kTcp, "10.0.1.10", 5000, "192.0.2.1", 443, "203.0.113.11", 30000)));
        CHECK_FALSE(
            stale(index, snat(kTcp, "10.0.1.10", 5000, "192.0.2.1", 443, "203.0.113.13", 30000)));
        CHECK_FALSE(
            stale(index, snat(kUdp, "10.0.1.20", 5000, "192.0.2.1", 53, "203.0.113.11", 30000)));
        // app-1's /32 entry beats vsw-a's: eip-1 is no longer its EIP on ngw-1
        CHECK(stale(index, snat(kUdp, "10.0.1.20", 5000, "192.0.2.1", 53, "203.0.113.10", 30000)));
        // an EIP of no entry covering the source
        CHECK(stale(index, snat(kTcp, "10.0.2.5", 5000, "192.0.2.1", 443, "203.0.113.10", 30000)));
    }
    SECTION("1:1 egress of public IPs and IP mappings") {
        CHECK_FALSE(
            stale(index, snat(kTcp, "10.0.2.5", 5000, "192.0.2.1", 443, "203.0.113.50", 5000)));
        CHECK_FALSE(
            stale(index, snat(kTcp, "10.0.1.21", 5000, "192.0.2.1", 443, "203.0.113.12", 5000)));
        CHECK(stale(index, snat(kTcp, "10.0.1.20", 5000, "192.0.2.1", 443, "203.0.113.12", 5000)));
    }
    SECTION("masquerade gateways allow any translation of their VPC") {
        CHECK_FALSE(
            stale(index, snat(kTcp, "10.1.0.5", 5000, "192.0.2.1", 443, "198.51.100.2", 30000)));
    }
    SECTION("sources without any SNAT any more") {
        // inside a VPC, nothing covers 10.2.x: but it is in no VPC either → untouched;
        // inside vpc-a everything is covered by snat-vpc, so drop ngw-2 and look at vsw-b
        const auto without_ngw2 = compiler::index_translations(load(edited(kModel,
                                                                           R"(, {
    "name": "ngw-2", "vpc": "vpc-a", "outside_interface": "veth-wan",
    "upstream": "198.51.100.1", "eips": ["eip-4"],
    "snat_entries": [
      {"name": "snat-vpc", "source": {"vpc": "vpc-a"}, "eips": ["eip-4"]}
    ]
  })",
                                                                           "")));
        CHECK(stale(without_ngw2,
                    snat(kTcp, "10.0.2.6", 5000, "192.0.2.1", 443, "203.0.113.13", 30000)));
        CHECK(stale(without_ngw2,
                    snat(kTcp, "10.0.1.10", 5000, "192.0.2.1", 443, "203.0.113.13", 30000)));
        CHECK_FALSE(stale(without_ngw2,
                          snat(kTcp, "10.0.1.10", 5000, "192.0.2.1", 443, "203.0.113.10", 30000)));
    }
    SECTION("entries natctl did not translate are never touched") {
        // another agent's masquerade of a container network
        CHECK_FALSE(
            stale(index, snat(kTcp, "172.17.0.2", 5000, "192.0.2.1", 443, "198.51.100.2", 30000)));
        // a port-only remap of a clashing tuple
        CHECK_FALSE(
            stale(index, snat(kTcp, "10.0.1.10", 5000, "10.0.2.5", 443, "10.0.1.10", 5001)));
        auto plain = snat(kTcp, "10.0.1.10", 5000, "192.0.2.1", 443, "203.0.113.99", 5000);
        plain.status = 0;
        CHECK_FALSE(stale(index, plain));
    }
    SECTION("an entry translated both ways is stale when either side is") {
        auto both = dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 80, "10.0.1.10", 8080);
        both.status |= netlink::kCtStatusSrcNat;
        both.reply.dst = addr("198.51.100.2");  // another agent's SNAT of the client
        CHECK_FALSE(stale(index, both));
        both.reply.src = addr("10.0.1.20");  // the DNAT side went stale
        CHECK(stale(index, both));
        both.reply.src = addr("10.0.1.10");
        both.reply.dst = addr("203.0.113.11");  // natctl never SNATs a client to its EIP
        CHECK(stale(index, both));
    }
}

TEST_CASE("stale_entries keeps the order and picks only stale entries", "[conntrack]") {
    const auto index = compiler::index_translations(load(kModel));
    const std::vector<ConntrackEntry> entries{
        dnat(kTcp, "192.0.2.1", 1, "203.0.113.10", 80, "10.0.1.10", 8080),
        dnat(kTcp, "192.0.2.1", 2, "203.0.113.10", 80, "10.0.1.20", 8080),
        snat(kUdp, "172.17.0.2", 3, "192.0.2.1", 53, "198.51.100.2", 3),
        snat(kUdp, "10.0.1.20", 4, "192.0.2.1", 53, "203.0.113.10", 4),
    };
    const auto stale_ones = reconciler::stale_entries(index, entries);
    REQUIRE(stale_ones.size() == 2);
    CHECK(stale_ones[0] == entries[1]);
    CHECK(stale_ones[1] == entries[3]);
}

TEST_CASE("purge_stale deletes exactly the stale entries of the conntrack table", "[conntrack]") {
    const auto index = compiler::index_translations(load(kModel));
    netlink::ConntrackFake conntrack;
    auto keep_dnat = dnat(kUdp, "192.0.2.1", 40000, "203.0.113.10", 15, "10.0.1.10", 85);
    auto keep_foreign = snat(kTcp, "172.17.0.2", 5000, "192.0.2.1", 443, "198.51.100.2", 5000);
    auto keep_plain = dnat(kTcp, "192.0.2.1", 40001, "10.0.1.10", 22, "10.0.1.10", 22);
    keep_plain.status = 0;
    auto old_backend = dnat(kUdp, "192.0.2.2", 40000, "203.0.113.10", 15, "10.0.1.20", 85);
    old_backend.id = 7;
    auto old_eip = snat(kUdp, "10.0.1.20", 5000, "192.0.2.1", 53, "203.0.113.10", 30000);
    old_eip.zone = 3;
    for (const auto& entry : {keep_dnat, keep_foreign, keep_plain, old_backend, old_eip})
        conntrack.insert(entry);

    auto removed = reconciler::purge_stale(conntrack, index);
    REQUIRE(removed);
    CHECK(*removed == 2);
    CHECK(conntrack.entries() == std::vector<ConntrackEntry>{keep_dnat, keep_foreign, keep_plain});

    // nothing left to do
    auto again = reconciler::purge_stale(conntrack, index);
    REQUIRE(again);
    CHECK(*again == 0);
    CHECK(conntrack.removals() == 2);
}

TEST_CASE("the fake deletes by original tuple, zone and id, like the kernel", "[conntrack]") {
    netlink::ConntrackFake conntrack;
    auto entry = dnat(kUdp, "192.0.2.2", 40000, "203.0.113.10", 15, "10.0.1.20", 85);
    entry.id = 7;
    entry.zone = 2;
    conntrack.insert(entry);

    auto other_id = entry;
    other_id.id = 8;  // a new connection that reused the tuple
    CHECK(conntrack.remove(other_id) == false);
    auto other_zone = entry;
    other_zone.zone = 0;
    CHECK(conntrack.remove(other_zone) == false);
    auto without_id = entry;
    without_id.id.reset();
    without_id.reply = {};  // the reply tuple plays no part
    CHECK(conntrack.remove(without_id) == true);
    CHECK(conntrack.entries().empty());
}

TEST_CASE("purge_stale reports failures and still deletes the other entries", "[conntrack]") {
    const auto index = compiler::index_translations(load(kModel));
    netlink::ConntrackFake conntrack;
    conntrack.insert(dnat(kTcp, "192.0.2.1", 1, "203.0.113.10", 80, "10.0.1.20", 8080));
    conntrack.insert(dnat(kTcp, "192.0.2.1", 2, "203.0.113.10", 80, "10.0.1.20", 8080));
    conntrack.insert(dnat(kTcp, "192.0.2.1", 3, "203.0.113.10", 80, "10.0.1.20", 8080));

    SECTION("a failed deletion") {
        conntrack.fail_remove(1, EPERM);
        auto removed = reconciler::purge_stale(conntrack, index);
        REQUIRE_FALSE(removed);
        CHECK(removed.error().find("2 of 3 stale conntrack entries removed, 1 failed") !=
              std::string::npos);
        REQUIRE(conntrack.entries().size() == 1);
        CHECK(conntrack.entries()[0].original.sport == 2);
    }
    SECTION("a failed dump deletes nothing") {
        conntrack.fail_dump(ENOBUFS);
        auto removed = reconciler::purge_stale(conntrack, index);
        REQUIRE_FALSE(removed);
        CHECK(conntrack.entries().size() == 3);
        CHECK(conntrack.removals() == 0);
    }
}

namespace {

// A backend whose entries vanish (time out) between the dump and the deletion.
class VanishingConntrack final : public netlink::ConntrackBackend {
  public:
    explicit VanishingConntrack(netlink::ConntrackFake& fake) : fake_(fake) {}
    std::expected<std::vector<ConntrackEntry>, netlink::ConntrackError> dump_nat() override {
        auto entries = fake_.dump_nat();
        if (entries)
            for (const auto& entry : *entries)
                (void)fake_.remove(entry);
        return entries;
    }
    std::expected<bool, netlink::ConntrackError> remove(const ConntrackEntry& entry) override {
        return fake_.remove(entry);
    }

  private:
    netlink::ConntrackFake& fake_;
};

}  // namespace

TEST_CASE("entries that vanished before their deletion are not counted", "[conntrack]") {
    const auto index = compiler::index_translations(load(kModel));
    netlink::ConntrackFake fake;
    fake.insert(dnat(kTcp, "192.0.2.1", 1, "203.0.113.10", 80, "10.0.1.20", 8080));
    VanishingConntrack conntrack(fake);
    auto removed = reconciler::purge_stale(conntrack, index);
    REQUIRE(removed);
    CHECK(*removed == 0);
}

namespace {

struct Compiled {
    kernel::DesiredState desired;
    compiler::TranslationIndex translations;
};
Compiled compiled(std::string_view text) {
    auto model = load(text);
    return {compiler::compile(model), compiler::index_translations(model)};
}

}  // namespace

TEST_CASE("the reconciler purges after an apply that changed NAT data, and only then",
          "[conntrack][reconciler]") {
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-wan", "veth-vpc", "veth-m"}};
    netlink::ConntrackFake conntrack;
    reconciler::Reconciler reconciler{nft, routes, &conntrack};

    const auto a = compiled(kModel);
    auto first = reconciler.apply(a.desired, &a.translations);
    REQUIRE(first);
    CHECK(first->conntrack_error.empty());
    REQUIRE(first->conntrack_removed);  // the first apply always checks
    CHECK(*first->conntrack_removed == 0);
    CHECK(conntrack.dumps() == 1);

    auto web = dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 80, "10.0.1.10", 8080);
    auto game = dnat(kUdp, "192.0.2.1", 40000, "203.0.113.10", 15, "10.0.1.10", 85);
    auto egress = snat(kTcp, "10.0.1.10", 5000, "192.0.2.1", 443, "203.0.113.10", 30000);
    for (const auto& entry : {web, game, egress})
        conntrack.insert(entry);

    SECTION("no change: no dump") {
        auto again = reconciler.apply(a.desired, &a.translations);
        REQUIRE(again);
        CHECK_FALSE(again->changed());
        CHECK_FALSE(again->conntrack_removed);
        CHECK(conntrack.dumps() == 1);
    }
    SECTION("a change that is not NAT data (echo reply off): no dump") {
        const auto b = compiled(edited(kModel, R"("eips": ["eip-1", "eip-2", "eip-3"],)",
                                       R"("eips": ["eip-1", "eip-2", "eip-3"],
                                           "icmp_echo_reply": false,)"));
        auto outcome = reconciler.apply(b.desired, &b.translations);
        REQUIRE(outcome);
        CHECK(outcome->changed());
        CHECK_FALSE(outcome->conntrack_removed);
        CHECK(conntrack.dumps() == 1);
    }
    SECTION("the web mapping moves to another backend: its session goes, the others stay") {
        const auto b = compiled(edited(kModel, R"("public_port": "80", "private_ip": "10.0.1.10")",
                                       R"("public_port": "80", "private_ip": "10.0.1.20")"));
        auto planned = reconciler.plan(b.desired, &b.translations);
        REQUIRE(planned);
        REQUIRE(planned->conntrack_removed);
        CHECK(*planned->conntrack_removed == 1);
        CHECK(conntrack.entries().size() == 3);  // plan deletes nothing

        auto outcome = reconciler.apply(b.desired, &b.translations);
        REQUIRE(outcome);
        REQUIRE(outcome->conntrack_removed);
        CHECK(*outcome->conntrack_removed == 1);
        CHECK(conntrack.entries() == std::vector<ConntrackEntry>{game, egress});
    }
    SECTION("a SNAT entry loses an EIP: sessions translated to it go") {
        const auto b =
            compiled(edited(kModel, R"("source": {"vswitch": "vsw-a"}, "eips": ["eip-1", "eip-2"])",
                            R"("source": {"vswitch": "vsw-a"}, "eips": ["eip-2"])"));
        auto outcome = reconciler.apply(b.desired, &b.translations);
        REQUIRE(outcome);
        REQUIRE(outcome->conntrack_removed);
        CHECK(*outcome->conntrack_removed == 1);
        CHECK(conntrack.entries() == std::vector<ConntrackEntry>{web, game});
    }
    SECTION("a failed purge keeps the apply and is retried by the next apply") {
        const auto b = compiled(edited(kModel, R"("public_port": "80", "private_ip": "10.0.1.10")",
                                       R"("public_port": "80", "private_ip": "10.0.1.20")"));
        conntrack.fail_dump(EIO);
        auto outcome = reconciler.apply(b.desired, &b.translations);
        REQUIRE(outcome);
        CHECK(outcome->changed());
        CHECK_FALSE(outcome->conntrack_removed);
        CHECK_FALSE(outcome->conntrack_error.empty());
        CHECK(conntrack.entries().size() == 3);

        auto retry = reconciler.apply(b.desired, &b.translations);
        REQUIRE(retry);
        CHECK_FALSE(retry->changed());
        REQUIRE(retry->conntrack_removed);
        CHECK(*retry->conntrack_removed == 1);
    }
    SECTION("without translations conntrack is left alone") {
        const auto b = compiled(edited(kModel, R"("public_port": "80", "private_ip": "10.0.1.10")",
                                       R"("public_port": "80", "private_ip": "10.0.1.20")"));
        auto outcome = reconciler.apply(b.desired);
        REQUIRE(outcome);
        CHECK_FALSE(outcome->conntrack_removed);
        CHECK(conntrack.entries().size() == 3);
    }
}

TEST_CASE("nat_data_changed looks at the NAT sets and the snat/ and masq/ chains", "[conntrack]") {
    const auto a = compiled(kModel);
    netlink::NftFake nft;
    REQUIRE(nft.apply(reconciler::plan_nft(a.desired.table, kernel::ObservedTable{}).transaction));
    auto observed = nft.dump();
    REQUIRE(observed);
    CHECK_FALSE(reconciler::nat_data_changed(a.desired.table, *observed));
    CHECK(reconciler::nat_data_changed(a.desired.table, kernel::ObservedTable{}));

    auto with = [&](std::string_view from, std::string_view to) {
        return compiled(edited(kModel, from, to)).desired.table;
    };
    // a DNAT mapping's backend (dnat_ports)
    CHECK(reconciler::nat_data_changed(
        with(R"("private_port": "8080")", R"("private_port": "8081")"), *observed));
    // the IP mapping's backend (dnat_ip, snat_ip)
    CHECK(reconciler::nat_data_changed(with(R"("protocol": "any", "private_ip": "10.0.1.21")",
                                            R"("protocol": "any", "private_ip": "10.0.1.20")"),
                                       *observed));
    // a public IP removed
    CHECK(reconciler::nat_data_changed(with(R"(,
       "public_ip": "203.0.113.50")",
                                            ""),
                                       *observed));
    // a SNAT entry's EIPs (its chain is rewritten)
    CHECK(reconciler::nat_data_changed(
        with(R"("eips": ["eip-1", "eip-2"])", R"("eips": ["eip-1"])"), *observed));
    // the masquerade port range (masq/ chain rewritten)
    CHECK(reconciler::nat_data_changed(with(R"("mode": "masquerade",)",
                                            R"("mode": "masquerade", "snat_port_range": "2000-3000",
                 "port_budget_per_eip": 1000,)"),
                                       *observed));
    // the VPC made private: no translation changed, but none may go on
    {
        auto model = load(kModel);
        model.vpcs[0].internet_access = natctl::model::NoInternet{};
        CHECK(reconciler::nat_data_changed(natctl::compiler::compile(model).table, *observed));
    }
    // not NAT data: echo reply
    CHECK_FALSE(reconciler::nat_data_changed(
        with(R"("eips": ["eip-1", "eip-2", "eip-3"],)",
             R"("eips": ["eip-1", "eip-2", "eip-3"], "icmp_echo_reply": false,)"),
        *observed));
}

TEST_CASE("API writes answer before their purge, which the purger runs once they are committed",
          "[conntrack][daemon]") {
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-wan", "veth-vpc", "veth-m"}};
    netlink::ConntrackFake own;    // the reconciler's: start-up and resync purges
    netlink::ConntrackFake table;  // what the purger's socket sees
    daemon::ReconcilerDataPlane plane(nft, routes, &own, {std::nullopt, "flowtable: not probed"});
    plane.defer_conntrack_purges(table);

    auto first = plane.apply(load(kModel));
    REQUIRE(first);
    CHECK(first->summary["conntrack_purge"] == "queued");  // the first apply always checks
    plane.committed(1);
    plane.wait_for_purge();
    CHECK(table.dumps() == 1);

    auto web = dnat(kTcp, "192.0.2.1", 40000, "203.0.113.10", 80, "10.0.1.10", 8080);
    auto game = dnat(kUdp, "192.0.2.1", 40000, "203.0.113.10", 15, "10.0.1.10", 85);
    table.insert(web);
    table.insert(game);
    const auto moved = load(edited(kModel, R"("public_port": "80", "private_ip": "10.0.1.10")",
                                   R"("public_port": "80", "private_ip": "10.0.1.20")"));
    auto changed = plane.apply(moved);
    REQUIRE(changed);
    CHECK(changed->summary["conntrack_purge"] == "queued");
    CHECK(changed->summary["conntrack_removed"].is_null());
    CHECK(table.entries().size() == 2);  // nothing runs before the commit
    plane.committed(2);
    plane.wait_for_purge();
    CHECK(table.entries() == std::vector<ConntrackEntry>{game});
    CHECK(own.dumps() == 0);  // the API's thread never dumped

    auto stats = plane.purge_stats();
    REQUIRE(stats);
    CHECK(stats->purged_total == 1);
    CHECK(stats->failures_total == 0);
    REQUIRE(stats->last);
    CHECK(stats->last->revision == 2);
    CHECK(stats->last->removed == std::optional<std::size_t>(1));
    const auto status = plane.status()["conntrack_purge"];
    CHECK(status["state"] == "idle");
    CHECK(status["last"]["removed"] == 1);
    CHECK(status["last"]["error"].is_null());

    SECTION("a failed purge is counted and reported") {
        table.fail_dump(EIO);
        REQUIRE(plane.apply(load(kModel)));
        plane.committed(3);
        plane.wait_for_purge();
        stats = plane.purge_stats();
        CHECK(stats->failures_total == 1);
        CHECK_FALSE(plane.status()["conntrack_purge"]["last"]["error"].is_null());
    }
    SECTION("without a purger, writes purge before they answer") {
        daemon::ReconcilerDataPlane direct(nft, routes, &own,
                                           {std::nullopt, "flowtable: not probed"});
        own.insert(game);
        auto outcome = direct.apply(moved);
        REQUIRE(outcome);
        CHECK(outcome->summary["conntrack_purge"] == "done");
        CHECK_FALSE(direct.purge_stats());
    }
}
