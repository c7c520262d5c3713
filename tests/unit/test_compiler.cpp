#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/ids.hpp"
#include "controller/compiler/render.hpp"
#include "controller/compiler/translations.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/validate.hpp"
#include "tests/unit/ipv4.hpp"

namespace model = natctl::model;
namespace kernel = natctl::kernel;
using natctl::compiler::compile;
using natctl::compiler::compile_chains;
using natctl::compiler::render;

using natctl::testing::addr;

namespace {

model::Ipv4 ip(std::string_view text) {
    return model::parse_ipv4(text).value();
}
model::Cidr cidr(std::string_view text) {
    return model::parse_cidr(text).value();
}
// One VPC (10.0.0.0/16, vSwitch vsw-a 10.0.1.0/24 on the system table), three EIPs and a
// NAT gateway ngw-1 with no entries yet.
model::Model base_model() {
    model::Model m;
    model::Vpc vpc;
    vpc.name = "vpc-a";
    vpc.cidr = cidr("10.0.0.0/16");
    vpc.interfaces = {"veth-vpc"};
    vpc.vswitches = {{"vsw-a", cidr("10.0.1.0/24"), std::nullopt}};
    vpc.instances = {{"web-1", "vsw-a", {ip("10.0.1.10")}, std::nullopt},
                     {"app-1", "vsw-a", {ip("10.0.1.20"), ip("10.0.1.21")}, std::nullopt}};
    m.vpcs.push_back(vpc);
    m.eips = {{"eip-1", ip("203.0.113.10")},
              {"eip-2", ip("203.0.113.11")},
              {"eip-3", ip("203.0.113.12")}};
    model::NatGateway gateway;
    gateway.name = "ngw-1";
    gateway.vpc = "vpc-a";
    gateway.outside_interface = "veth-wan";
    gateway.upstream = ip("198.51.100.1");
    gateway.eips = {"eip-1", "eip-2", "eip-3"};
    m.nat_gateways.push_back(gateway);
    return m;
}

model::SnatEntry snat(std::string name, model::SnatSource source, std::vector<std::string> eips,
                      std::optional<bool> affinity = std::nullopt) {
    return {std::move(name), std::move(source), std::move(eips), affinity};
}

model::DnatEntry port_mapping(std::string name, std::string eip, model::DnatProtocol protocol,
                              model::PortRange public_port, std::string_view private_ip,
                              model::PortRange private_port) {
    return {std::move(name), std::move(eip), protocol, public_port, ip(private_ip), private_port};
}

model::DnatEntry ip_mapping(std::string name, std::string eip, std::string_view private_ip) {
    return {std::move(name), std::move(eip), model::DnatProtocol::Any,
            std::nullopt,    ip(private_ip), std::nullopt};
}

const kernel::Set& set_of(const kernel::DesiredState& state, std::string_view name) {
    for (const auto& set : state.table.sets)
        if (set.name == name) return set;
    FAIL("no set " << name);
    throw std::logic_error("unreachable");
}

const kernel::Chain* chain_of(const kernel::DesiredState& state, std::string_view name) {
    for (const auto& chain : state.table.chains)
        if (chain.name == name) return &chain;
    return nullptr;
}

std::uint32_t realm_of(std::string_view gateway) {
    return 1 + natctl::compiler::fnv1a(fmt::format("gw:{}", gateway)) % 65000;
}

kernel::Element interval(std::uint32_t realm, std::string_view first, std::string_view last,
                         std::string chain) {
    return {{realm, addr(first)},
            {realm, addr(last)},
            {},
            {},
            kernel::Verdict{kernel::Verdict::Kind::Goto, chain}};
}
kernel::Element pair(std::uint32_t key, std::uint32_t value) {
    return {{key}, {}, {value}, {}, std::nullopt};
}
kernel::Element key_only(std::uint32_t key) {
    return {{key}, {}, {}, {}, std::nullopt};
}

std::vector<std::string> route_lines(const kernel::DesiredState& state) {
    std::vector<std::string> out;
    std::istringstream lines(natctl::compiler::render_ip_commands(state));
    for (std::string line; std::getline(lines, line);)
        out.push_back(line);
    return out;
}

bool has_line(const std::vector<std::string>& lines, const std::string& wanted) {
    return std::find(lines.begin(), lines.end(), wanted) != lines.end();
}

}  // namespace

TEST_CASE("compiler: SNAT sources are flattened per gateway realm, longest prefix wins",
          "[compiler]") {
    auto m = base_model();
    auto& gateway = m.nat_gateways[0];
    gateway.snat_entries = {snat("whole-vpc", model::VpcSource{"vpc-a"}, {"eip-1"}),
                            snat("vsw", model::VSwitchSource{"vsw-a"}, {"eip-2"}),
                            snat("web", model::InstanceSource{"web-1"}, {"eip-3"}),
                            snat("lab", model::CidrSource{cidr("10.9.0.0/24")}, {"eip-1"})};
    const auto state = compile(m);
    const auto realm = realm_of("ngw-1");
    CHECK(set_of(state, "snat_sources").elements ==
          std::vector<kernel::Element>{
              interval(realm, "10.0.0.0", "10.0.0.255", "snat/ngw-1/whole-vpc"),
              interval(realm, "10.0.1.0", "10.0.1.9", "snat/ngw-1/vsw"),
              interval(realm, "10.0.1.10", "10.0.1.10", "snat/ngw-1/web"),
              interval(realm, "10.0.1.11", "10.0.1.255", "snat/ngw-1/vsw"),
              interval(realm, "10.0.2.0", "10.0.255.255", "snat/ngw-1/whole-vpc"),
              interval(realm, "10.9.0.0", "10.9.0.255", "snat/ngw-1/lab")});
    const auto* chain = chain_of(state, "snat/ngw-1/web");
    REQUIRE(chain);
    REQUIRE(chain->rules.size() == 3);
    CHECK(
        chain->rules[0].text ==
        "meta l4proto { tcp, udp } ip daddr . meta l4proto . th dport != @budget_full/eip-3/55000 "
        "snat to 203.0.113.12:1025-65535");
    CHECK(chain->rules[1].text == "meta l4proto { tcp, udp } counter packets 0 bytes 0 drop");
    CHECK(chain->rules[2].text == "snat to 203.0.113.12");
    CHECK(chain->rules[0].owner == "nat_gateways[0].snat_entries[2]");
    CHECK(chain->rules[0].anonymous_sets.size() == 1);
}

TEST_CASE("compiler: two gateways of one VPC keep their SNAT sources apart by realm",
          "[compiler]") {
    auto m = base_model();
    m.nat_gateways[0].snat_entries = {snat("all", model::VpcSource{"vpc-a"}, {"eip-1"})};
    auto second = m.nat_gateways[0];
    second.name = "ngw-2";
    second.eips = {"eip-2"};
    second.snat_entries = {snat("all", model::VpcSource{"vpc-a"}, {"eip-2"})};
    m.nat_gateways.push_back(second);
    const auto state = compile(m);
    const auto& elements = set_of(state, "snat_sources").elements;
    REQUIRE(elements.size() == 2);
    std::vector<kernel::Element> expected{
        interval(realm_of("ngw-1"), "10.0.0.0", "10.0.255.255", "snat/ngw-1/all"),
        interval(realm_of("ngw-2"), "10.0.0.0", "10.0.255.255", "snat/ngw-2/all")};
    std::sort(expected.begin(), expected.end());
    CHECK(elements == expected);
    CHECK(set_of(state, "outside_realms").elements.size() == 2);
}

TEST_CASE("compiler: several EIPs spread by jhash, with and without affinity", "[compiler]") {
    auto m = base_model();
    m.nat_gateways[0].snat_entries = {
        snat("sticky", model::VSwitchSource{"vsw-a"}, {"eip-1", "eip-2"}, true),
        snat("spread", model::CidrSource{cidr("10.0.2.0/24")}, {"eip-1", "eip-2"}, false)};
    m.nat_gateways[0].snat_port_range = model::SnatPortRange{2000, 3000};
    const auto state = compile(m);

    // TCP/UDP: the hash picks the EIP tried first (port budgets, tests/unit/test_budget.cpp);
    // every other protocol keeps the plain hash over the entry's EIPs.
    const auto* sticky = chain_of(state, "snat/ngw-1/sticky");
    REQUIRE(sticky);
    REQUIRE(sticky->rules.size() == 2);
    CHECK(sticky->rules[0].text ==
          "meta l4proto { tcp, udp } jhash ip saddr mod 2 seed 0x6e61746c vmap "
          "{ 0 : goto snat/ngw-1/sticky/0, 1 : goto snat/ngw-1/sticky/1 }");
    CHECK(
        sticky->rules[1].text ==
        "snat to jhash ip saddr mod 2 seed 0x6e61746c map { 0 : 203.0.113.10, 1 : 203.0.113.11 }");
    const auto* spread = chain_of(state, "snat/ngw-1/spread");
    REQUIRE(spread);
    CHECK(spread->rules[0].text ==
          "meta l4proto { tcp, udp } jhash ip saddr . ip daddr . meta l4proto . th sport "
          ". th dport mod 2 seed 0x6e61746c vmap "
          "{ 0 : goto snat/ngw-1/spread/0, 1 : goto snat/ngw-1/spread/1 }");
    CHECK(spread->rules[1].text ==
          "snat to jhash ip saddr . ip daddr mod 2 seed 0x6e61746c map { 0 : 203.0.113.10, 1 : "
          "203.0.113.11 }");
    const auto* second = chain_of(state, "snat/ngw-1/sticky/1");
    REQUIRE(second);
    REQUIRE(second->rules.size() == 3);
    CHECK(
        second->rules[0].text ==
        "meta l4proto { tcp, udp } ip daddr . meta l4proto . th dport != @budget_full/eip-2/55000 "
        "snat to 203.0.113.11:2000-3000");
    CHECK(
        second->rules[1].text ==
        "meta l4proto { tcp, udp } ip daddr . meta l4proto . th dport != @budget_full/eip-1/55000 "
        "counter packets 0 bytes 0 snat to 203.0.113.10:2000-3000");

    auto hash_of = [](const kernel::Rule& rule) {
        for (const auto& expr : rule.exprs)
            if (const auto* hash = std::get_if<kernel::Hash>(&expr)) return *hash;
        FAIL("no hash in " << rule.text);
        throw std::logic_error("unreachable");
    };
    CHECK(hash_of(sticky->rules[0]).len == 4);
    CHECK(hash_of(sticky->rules[1]).len == 4);
    CHECK(hash_of(spread->rules[0]).len == 20);
    CHECK(hash_of(spread->rules[1]).len == 8);
    CHECK(hash_of(spread->rules[0]).seed == 0x6e61746c);
    CHECK(hash_of(spread->rules[0]).modulus == 2);

    // The dispatch map's data is a verdict; the other protocols' map addresses only.
    REQUIRE(sticky->rules[0].anonymous_sets.size() == 2);
    const auto& vmap = sticky->rules[0].anonymous_sets[1];
    CHECK(vmap.data == std::vector<kernel::FieldType>{kernel::FieldType::Verdict});
    REQUIRE(sticky->rules[1].anonymous_sets.size() == 1);
    CHECK(!sticky->rules[1].anonymous_sets[0].data_interval);
}

TEST_CASE("compiler: DNAT port ranges are expanded offset by offset", "[compiler]") {
    auto m = base_model();
    m.nat_gateways[0].dnat_entries = {
        port_mapping("games", "eip-1", model::DnatProtocol::Udp, {10, 20}, "10.0.1.10", {80, 90}),
        port_mapping("web", "eip-1", model::DnatProtocol::Tcp, {443, 443}, "10.0.1.10",
                     {8443, 8443})};
    const auto state = compile(m);
    const auto& elements = set_of(state, "dnat_ports").elements;
    REQUIRE(elements.size() == 12);
    for (std::uint32_t offset = 0; offset <= 10; ++offset) {
        const kernel::Element expected{{addr("203.0.113.10"), std::uint32_t{17}, 10 + offset},
                                       {},
                                       {addr("10.0.1.10"), 80 + offset},
                                       {},
                                       std::nullopt};
        CHECK(std::find(elements.begin(), elements.end(), expected) != elements.end());
    }
    CHECK(elements.back() ==
          kernel::Element{{addr("203.0.113.10"), std::uint32_t{17}, std::uint32_t{20}},
                          {},
                          {addr("10.0.1.10"), std::uint32_t{90}},
                          {},
                          std::nullopt});
    CHECK(std::is_sorted(elements.begin(), elements.end()));
    CHECK(set_of(state, "dnat_open").elements ==
          std::vector<kernel::Element>{key_only(addr("203.0.113.10"))});
    CHECK(
        set_of(state, "return_marks").elements ==
        std::vector<kernel::Element>{pair(addr("203.0.113.10"), 0x4e540000u | realm_of("ngw-1"))});
    CHECK(set_of(state, "dnat_ip").elements.empty());
}

TEST_CASE("compiler: an IP mapping on a secondary IP coexists with SNAT of the primary",
          "[compiler]") {
    auto m = base_model();
    m.nat_gateways[0].snat_entries = {snat("app", model::InstanceSource{"app-1"}, {"eip-2"})};
    m.nat_gateways[0].dnat_entries = {ip_mapping("app-map", "eip-3", "10.0.1.21")};
    const auto state = compile(m);
    CHECK(set_of(state, "dnat_ip").elements ==
          std::vector<kernel::Element>{pair(addr("203.0.113.12"), addr("10.0.1.21"))});
    // Only the mapped address leaves through the mapping's EIP; the primary keeps SNAT.
    CHECK(set_of(state, "snat_ip").elements ==
          std::vector<kernel::Element>{pair(addr("10.0.1.21"), addr("203.0.113.12"))});
    CHECK(set_of(state, "snat_sources").elements ==
          std::vector<kernel::Element>{
              interval(realm_of("ngw-1"), "10.0.1.20", "10.0.1.21", "snat/ngw-1/app")});
    CHECK(set_of(state, "dnat_open").elements ==
          std::vector<kernel::Element>{key_only(addr("203.0.113.12"))});
}

TEST_CASE("compiler: an instance's public IP beats an IP mapping for egress", "[compiler]") {
    auto m = base_model();
    m.vpcs[0].instances[1].public_ip = ip("203.0.113.50");
    m.nat_gateways[0].dnat_entries = {ip_mapping("app-map", "eip-3", "10.0.1.21")};
    const auto state = compile(m);
    CHECK(set_of(state, "snat_ip").elements ==
          std::vector<kernel::Element>{pair(addr("10.0.1.20"), addr("203.0.113.50")),
                                       pair(addr("10.0.1.21"), addr("203.0.113.50"))});
    CHECK(set_of(state, "dnat_ip").elements ==
          std::vector<kernel::Element>{pair(addr("203.0.113.12"), addr("10.0.1.21")),
                                       pair(addr("203.0.113.50"), addr("10.0.1.20"))});
    // No IPv4 gateway: the public IP arrives by the VPC's first NAT gateway.
    const auto mark = 0x4e540000u | realm_of("ngw-1");
    CHECK(set_of(state, "return_marks").elements ==
          std::vector<kernel::Element>{pair(addr("203.0.113.12"), mark),
                                       pair(addr("203.0.113.50"), mark)});
    CHECK(set_of(state, "dnat_open").elements ==
          std::vector<kernel::Element>{key_only(addr("203.0.113.12")),
                                       key_only(addr("203.0.113.50"))});
    const auto lines = route_lines(state);
    CHECK(has_line(lines, "ip address add 203.0.113.50/32 dev veth-wan"));
}

TEST_CASE("compiler: a masquerade gateway SNATs its VPC to the interface address", "[compiler]") {
    auto m = base_model();
    m.eips.clear();
    auto& gateway = m.nat_gateways[0];
    gateway.eips.clear();
    gateway.mode = model::GatewayMode::Masquerade;
    const auto state = compile(m);
    CHECK(set_of(state, "snat_sources").elements ==
          std::vector<kernel::Element>{
              interval(realm_of("ngw-1"), "10.0.0.0", "10.0.255.255", "masq/ngw-1")});
    const auto* chain = chain_of(state, "masq/ngw-1");
    REQUIRE(chain);
    REQUIRE(chain->rules.size() == 2);
    CHECK(chain->rules[0].text == "meta l4proto { tcp, udp } masquerade to :1025-65535");
    CHECK(chain->rules[1].text == "masquerade");
    CHECK(chain->rules[1].exprs == std::vector<kernel::Expr>{kernel::Masquerade{}});
    CHECK(state.addresses.empty());
}

TEST_CASE("compiler: IPv4 gateway coverage and the inbound policy follow `enabled`", "[compiler]") {
    auto m = base_model();
    m.vpcs[0].vswitches.push_back({"vsw-b", cidr("10.0.2.0/24"), std::nullopt});
    m.vpcs[0].instances.push_back({"bastion", "vsw-b", {ip("10.0.2.5")}, ip("203.0.113.50")});
    model::Ipv4Gateway igw;
    igw.name = "igw-1";
    igw.vpc = "vpc-a";
    igw.outside_interface = "veth-wan";
    igw.upstream = ip("198.51.100.1");
    igw.gateway_route_table = {{cidr("10.0.2.0/24"), model::LocalHop{}},
                               {cidr("10.0.2.128/25"), model::LocalHop{}},
                               {cidr("10.0.1.0/24"), model::InstanceHop{"web-1"}}};
    m.ipv4_gateways.push_back(igw);

    SECTION("enabled") {
        const auto state = compile(m);
        CHECK(set_of(state, "igw_covered").elements ==
              std::vector<kernel::Element>{
                  {{addr("10.0.1.0")}, {addr("10.0.1.255")}, {}, {}, std::nullopt},
                  {{addr("10.0.2.0")}, {addr("10.0.2.255")}, {}, {}, std::nullopt}});
        // The public IP must pass the gateway's coverage, it is not let in unconditionally.
        CHECK(set_of(state, "dnat_open").elements.empty());
        CHECK(set_of(state, "return_marks").elements ==
              std::vector<kernel::Element>{
                  pair(addr("203.0.113.50"), 0x4e540000u | realm_of("igw-1"))});
        const auto lines = route_lines(state);
        const auto in_table = natctl::compiler::assign_hashed_ids({"in:igw-1"}, 20000, 10000)[0];
        CHECK(has_line(
            lines,
            fmt::format(
                "ip rule add priority 10200 to 10.0.0.0/16 iif veth-wan lookup {} protocol 147",
                in_table)));
        CHECK(has_line(
            lines,
            fmt::format("ip route add 10.0.1.0/24 via 10.0.1.10 table {} proto 147", in_table)));
        CHECK(has_line(lines, "ip address add 203.0.113.50/32 dev veth-wan"));
        CHECK(set_of(state, "outside_realms").elements.size() == 2);
    }
    SECTION("disabled") {
        m.ipv4_gateways[0].enabled = false;
        const auto state = compile(m);
        CHECK(set_of(state, "igw_covered").elements.empty());
        CHECK(set_of(state, "dnat_open").elements ==
              std::vector<kernel::Element>{key_only(addr("203.0.113.50"))});
        for (const auto& rule : state.rules)
            CHECK(rule.priority != 10200u);
        // Traffic untouched until activation: the disabled gateway carries nothing, the
        // public IP arrives by the NAT gateway as in a VPC without an IPv4 gateway.
        CHECK(set_of(state, "outside_realms").elements.size() == 1);
        CHECK(set_of(state, "return_marks").elements ==
              std::vector<kernel::Element>{
                  pair(addr("203.0.113.50"), 0x4e540000u | realm_of("ngw-1"))});
    }
}

TEST_CASE("compiler: what a deleted IPv4 gateway leaves: a private VPC, or direct access",
          "[compiler]") {
    auto m = base_model();
    m.vpcs[0].vswitches.push_back({"vsw-b", cidr("10.0.2.0/24"), std::nullopt});
    m.vpcs[0].instances.push_back({"bastion", "vsw-b", {ip("10.0.2.5")}, ip("203.0.113.50")});
    const auto system_table =
        natctl::compiler::assign_hashed_ids({"rt:vpc-a/system"}, 20000, 10000)[0];

    SECTION("private: the VPC's addresses are dropped both ways, the public IP goes") {
        m.nat_gateways[0].snat_entries = {snat("snat-vpc", model::VpcSource{"vpc-a"}, {"eip-1"})};
        m.nat_gateways[0].dnat_entries = {ip_mapping("web-map", "eip-2", "10.0.1.10")};
        const auto open = natctl::compiler::index_translations(m);
        CHECK(open.egress.size() == 2);
        CHECK(open.inbound.size() == 2);
        CHECK(open.snat.size() == 1);
        m.vpcs[0].internet_access = model::NoInternet{};
        const auto state = compile(m);
        CHECK(set_of(state, "private_vpcs").elements ==
              std::vector<kernel::Element>{
                  {{addr("10.0.0.0")}, {addr("10.0.255.255")}, {}, {}, std::nullopt}});
        const auto* forward = chain_of(state, "forward");
        REQUIRE(forward != nullptr);
        CHECK(std::any_of(forward->rules.begin(), forward->rules.end(), [](const auto& rule) {
            return rule.text.find("ip saddr @private_vpcs") != std::string::npos &&
                   rule.text.ends_with("drop");
        }));
        const auto* inbound = chain_of(state, "inbound");
        REQUIRE(inbound != nullptr);
        CHECK(inbound->rules.front().text ==
              "ip daddr @private_vpcs counter packets 0 bytes 0 drop");
        CHECK_FALSE(has_line(route_lines(state), "ip address add 203.0.113.50/32 dev veth-wan"));
        for (const auto& element : set_of(state, "return_marks").elements)
            CHECK(element.key != kernel::FieldList{addr("203.0.113.50")});
        const auto translations = natctl::compiler::index_translations(m);
        CHECK(translations.egress.empty());
        CHECK(translations.inbound.empty());
        CHECK(translations.snat.empty());
    }
    SECTION("direct, no NAT gateway: public IPs leave and arrive by the kept interface") {
        m.nat_gateways.clear();
        m.vpcs[0].internet_access = model::DirectInternet{"veth-up", ip("192.0.2.1")};
        const auto state = compile(m);
        CHECK(set_of(state, "private_vpcs").elements.empty());
        const auto realm = 1 + natctl::compiler::fnv1a("direct:vpc-a") % 65000;
        const auto lines = route_lines(state);
        CHECK(has_line(
            lines, fmt::format(
                       "ip route add default via 192.0.2.1 dev veth-up table {} proto 147 realm {}",
                       system_table, realm)));
        CHECK(has_line(lines, "ip address add 203.0.113.50/32 dev veth-up"));
        CHECK(set_of(state, "return_marks").elements ==
              std::vector<kernel::Element>{pair(addr("203.0.113.50"), 0x4e540000u | realm)});
        CHECK(set_of(state, "outside_realms").elements ==
              std::vector<kernel::Element>{key_only(realm)});
        CHECK(set_of(state, "outside_ifaces").elements.size() == 1);
        CHECK(set_of(state, "dnat_open").elements ==
              std::vector<kernel::Element>{key_only(addr("203.0.113.50"))});
    }
    SECTION("direct beats the first NAT gateway for public IPs, not for the system default") {
        m.vpcs[0].internet_access = model::DirectInternet{"veth-up", ip("192.0.2.1")};
        const auto lines = route_lines(compile(m));
        CHECK(has_line(lines, "ip address add 203.0.113.50/32 dev veth-up"));
        CHECK(has_line(
            lines,
            fmt::format(
                "ip route add default via 198.51.100.1 dev veth-wan table {} proto 147 realm {}",
                system_table, realm_of("ngw-1"))));
    }
}

TEST_CASE("compiler: ICMP echo reply toggle", "[compiler]") {
    auto m = base_model();
    CHECK(set_of(compile(m), "echo_silent").elements.empty());
    m.nat_gateways[0].icmp_echo_reply = false;
    CHECK(set_of(compile(m), "echo_silent").elements ==
          std::vector<kernel::Element>{key_only(addr("203.0.113.10")),
                                       key_only(addr("203.0.113.11")),
                                       key_only(addr("203.0.113.12"))});
}

TEST_CASE("compiler: a flow's later packets cost one conntrack test per filter chain",
          "[compiler]") {
    // Every filter base chain (they run on every packet, unlike the nat chains) starts with
    // a test of the packet's conntrack entry that lets an established or confirmed flow's
    // packets through without a set lookup (docs/KERNEL-LAYOUT.md).
    auto m = base_model();
    const auto state = compile(m);
    auto first_rule = [&](const std::string& chain) -> const kernel::Rule& {
        for (const auto& c : state.table.chains)
            if (c.name == chain) {
                REQUIRE(c.base.has_value());
                REQUIRE_FALSE(c.rules.empty());
                return c.rules.front();
            }
        FAIL("no chain " << chain);
        throw;
    };
    CHECK(first_rule("forward").text == "ct status confirmed accept");
    CHECK(first_rule("budget").text.starts_with("ct status ! confirmed "));
    CHECK(first_rule("mark_replies").text.starts_with("ct direction reply "));
    for (const char* chain : {"forward", "budget", "mark_replies"}) {
        INFO(chain);
        const auto& exprs = first_rule(chain).exprs;
        REQUIRE_FALSE(exprs.empty());
        CHECK(std::holds_alternative<kernel::CtLoad>(exprs.front()));
        CHECK(std::none_of(
            exprs.begin(), exprs.begin() + std::min<std::size_t>(3, exprs.size()),
            [](const kernel::Expr& e) { return std::holds_alternative<kernel::Lookup>(e); }));
    }
}

TEST_CASE("compiler: system route table defaults to the VPC's first NAT gateway", "[compiler]") {
    auto m = base_model();
    const auto system_table =
        natctl::compiler::assign_hashed_ids({"rt:vpc-a/system"}, 20000, 10000)[0];
    const auto realm = realm_of("ngw-1");
    SECTION("implicit default") {
        const auto lines = route_lines(compile(m));
        CHECK(has_line(
            lines,
            fmt::format(
                "ip route add default via 198.51.100.1 dev veth-wan table {} proto 147 realm {}",
                system_table, realm)));
        CHECK(has_line(
            lines,
            fmt::format(
                "ip rule add priority 10300 from 10.0.1.0/24 iif veth-vpc lookup {} protocol 147",
                system_table)));
        CHECK(has_line(
            lines,
            "ip rule add priority 10100 from 10.0.0.0/16 to 10.0.0.0/16 lookup main protocol 147"));
        for (const auto& line : lines)
            CHECK(line.find("unreachable") == std::string::npos);
    }
    SECTION("an explicit default opts out") {
        m.vpcs[0].system_route_table =
            model::SystemRouteTable{std::nullopt, {{cidr("0.0.0.0/0"), model::Blackhole{}}}};
        const auto state = compile(m);
        std::vector<kernel::Route> in_table;
        for (const auto& route : state.routes)
            if (route.table == system_table) in_table.push_back(route);
        REQUIRE(in_table.size() == 1);
        CHECK(in_table[0].type == kernel::Route::Type::Blackhole);
        CHECK(has_line(
            route_lines(state),
            fmt::format("ip route add blackhole default table {} proto 147", system_table)));
    }
    SECTION("no NAT gateway: unreachable") {
        m.nat_gateways.clear();
        CHECK(has_line(
            route_lines(compile(m)),
            fmt::format("ip route add unreachable default table {} proto 147 metric 4294967295",
                        system_table)));
    }
}

TEST_CASE("compiler: a least-privilege route table gets an unreachable default", "[compiler]") {
    auto m = base_model();
    m.vpcs[0].route_tables = {
        {"rt-narrow", {{cidr("192.0.2.0/24"), model::NatGatewayHop{"ngw-1"}}}}};
    m.vpcs[0].vswitches[0].route_table = "rt-narrow";
    const auto table =
        natctl::compiler::assign_hashed_ids({"rt:rt-narrow", "rt:vpc-a/system"}, 20000, 10000)[0];
    const auto lines = route_lines(compile(m));
    CHECK(has_line(
        lines,
        fmt::format(
            "ip route add 192.0.2.0/24 via 198.51.100.1 dev veth-wan table {} proto 147 realm {}",
            table, realm_of("ngw-1"))));
    CHECK(has_line(
        lines, fmt::format("ip route add unreachable default table {} proto 147 metric 4294967295",
                           table)));
    CHECK(has_line(
        lines,
        fmt::format(
            "ip rule add priority 10300 from 10.0.1.0/24 iif veth-vpc lookup {} protocol 147",
            table)));
}

TEST_CASE("compiler: published services return through their gateway", "[compiler]") {
    auto m = base_model();
    m.nat_gateways[0].dnat_entries = {port_mapping("web", "eip-1", model::DnatProtocol::Tcp,
                                                   {80, 80}, "10.0.1.10", {8080, 8080})};
    const auto state = compile(m);
    const auto realm = realm_of("ngw-1");
    const auto return_table = natctl::compiler::assign_hashed_ids({"ret:ngw-1"}, 20000, 10000)[0];
    const auto lines = route_lines(state);
    CHECK(has_line(lines,
                   fmt::format("ip rule add priority 10000 fwmark 0x{:x} lookup {} protocol 147",
                               0x4e540000u | realm, return_table)));
    CHECK(has_line(
        lines, fmt::format(
                   "ip route add default via 198.51.100.1 dev veth-wan table {} proto 147 realm {}",
                   return_table, realm)));
}

TEST_CASE("compiler: realms and table ids are hash-derived and stable", "[compiler]") {
    SECTION("collisions probe upwards, the later name moves") {
        // Find two texts that collide modulo 7.
        std::vector<std::string> texts{"a"};
        for (int suffix = 0; texts.size() < 2; ++suffix) {
            auto candidate = fmt::format("b{}", suffix);
            if (natctl::compiler::fnv1a(candidate) % 7 == natctl::compiler::fnv1a("a") % 7)
                texts.push_back(candidate);
        }
        const auto ids = natctl::compiler::assign_hashed_ids({texts[1], texts[0]}, 100, 7);
        CHECK(ids[1] == 100 + natctl::compiler::fnv1a("a") % 7);
        CHECK(ids[0] == 100 + (natctl::compiler::fnv1a("a") + 1) % 7);
        CHECK_THROWS(natctl::compiler::assign_hashed_ids({"x", "y"}, 0, 1));
    }
    SECTION("adding unrelated objects renumbers nothing") {
        auto m = base_model();
        m.nat_gateways[0].dnat_entries = {ip_mapping("map", "eip-3", "10.0.1.21")};
        const auto before = compile(m);
        auto bigger = m;
        model::Vpc other;
        other.name = "vpc-b";
        other.cidr = cidr("10.1.0.0/16");
        other.interfaces = {"veth-b"};
        other.vswitches = {{"vsw-b", cidr("10.1.1.0/24"), std::nullopt}};
        bigger.vpcs.insert(bigger.vpcs.begin(), other);
        bigger.eips.push_back({"eip-9", ip("203.0.113.90")});
        auto gateway = m.nat_gateways[0];
        gateway.name = "ngw-b";
        gateway.vpc = "vpc-b";
        gateway.eips = {"eip-9"};
        gateway.dnat_entries = {};
        bigger.nat_gateways.insert(bigger.nat_gateways.begin(), gateway);
        const auto after = compile(bigger);
        // Everything vpc-a and ngw-1 had is still there, unchanged.
        for (const auto& route : before.routes) {
            auto same = route;
            same.owner.clear();
            bool found = false;
            for (auto candidate : after.routes) {
                candidate.owner.clear();
                found = found || candidate == same;
            }
            CHECK(found);
        }
        for (const auto& rule : before.rules) {
            bool found = false;
            for (const auto& candidate : after.rules)
                found =
                    found || (candidate.priority == rule.priority && candidate.from == rule.from &&
                              candidate.table == rule.table && candidate.fwmark == rule.fwmark);
            CHECK(found);
        }
        for (const auto& element : set_of(before, "return_marks").elements) {
            const auto& later = set_of(after, "return_marks").elements;
            CHECK(std::find(later.begin(), later.end(), element) != later.end());
        }
    }
}

TEST_CASE("compiler: output is deterministic and sorted", "[compiler]") {
    auto m = base_model();
    m.vpcs[0].instances[0].public_ip = ip("203.0.113.99");
    m.nat_gateways[0].snat_entries = {
        snat("vsw", model::VSwitchSource{"vsw-a"}, {"eip-2", "eip-1"}, true)};
    m.nat_gateways[0].dnat_entries = {
        port_mapping("b", "eip-1", model::DnatProtocol::Udp, {53, 53}, "10.0.1.20", {53, 53}),
        port_mapping("a", "eip-1", model::DnatProtocol::Tcp, {22, 22}, "10.0.1.20", {22, 22})};
    const auto first = compile(m);
    CHECK(first == compile(m));
    CHECK(render(first) == render(compile(m)));
    for (const auto& set : first.table.sets)
        CHECK(std::is_sorted(set.elements.begin(), set.elements.end()));
    // Static sets by name; the per-EIP budget sets (dynamic) follow in model order.
    const auto static_end = std::find_if(first.table.sets.begin(), first.table.sets.end(),
                                         [](const kernel::Set& set) { return set.dynamic; });
    CHECK(std::all_of(static_end, first.table.sets.end(),
                      [](const kernel::Set& set) { return set.dynamic; }));
    CHECK(
        std::is_sorted(first.table.sets.begin(), static_end,
                       [](const kernel::Set& a, const kernel::Set& b) { return a.name < b.name; }));
    CHECK(std::is_sorted(first.rules.begin(), first.rules.end()));
    CHECK(std::is_sorted(first.routes.begin(), first.routes.end()));
    CHECK(std::is_sorted(first.addresses.begin(), first.addresses.end()));
    // Every named set exists even when empty, so that the layout is static; each EIP with a
    // port budget adds three accounting sets (count, full, limit). The two EIP traffic
    // maps and base chains (eip_inbound/eip_outbound, eip_meter_in/eip_meter_out) too.
    CHECK(first.table.sets.size() == 17 + 2 * 3);
    CHECK(compile(model::Model{}).table.sets.size() == 17);
    CHECK(compile(model::Model{}).table.chains.size() == 11);
}

TEST_CASE("render: elements are listed the way nft lists them", "[compiler]") {
    kernel::Table table;
    table.sets.push_back(
        {"addrs",
         {kernel::FieldType::Ipv4},
         {},
         false,
         false,
         "",
         {key_only(addr("10.0.0.1")), key_only(addr("10.0.0.2")), key_only(addr("10.0.0.3"))}});
    table.sets.push_back({"names",
                          {kernel::FieldType::IfName},
                          {},
                          false,
                          false,
                          "",
                          {{{std::string("aa")}, {}, {}, {}, std::nullopt},
                           {{std::string("b")}, {}, {}, {}, std::nullopt}}});
    table.sets.push_back({"ranges",
                          {kernel::FieldType::Ipv4},
                          {},
                          true,
                          false,
                          "",
                          {{{addr("10.0.0.0")}, {addr("10.0.0.255")}, {}, {}, std::nullopt},
                           {{addr("10.0.1.7")}, {addr("10.0.1.7")}, {}, {}, std::nullopt},
                           {{addr("10.0.2.0")}, {addr("10.0.3.7")}, {}, {}, std::nullopt}}});
    table.sets.push_back(
        {"ports",
         {kernel::FieldType::Ipv4, kernel::FieldType::InetProto, kernel::FieldType::InetService},
         {},
         false,
         false,
         "",
         {{{addr("10.0.0.1"), std::uint32_t{6}, std::uint32_t{1}}, {}, {}, {}, std::nullopt},
          {{addr("10.0.0.1"), std::uint32_t{6}, std::uint32_t{256}}, {}, {}, {}, std::nullopt}}});
    CHECK(natctl::compiler::render_table(table) ==
          "table ip natctl {\n"
          "\tset addrs {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1, 10.0.0.2,\n\t\t\t     "
          "10.0.0.3 }\n\t}\n\n"
          "\tset names {\n\t\ttype ifname\n\t\telements = { \"b\",\n\t\t\t     \"aa\" }\n\t}\n\n"
          "\tset ranges {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
          "\t\telements = { 10.0.0.0/24, 10.0.1.7,\n\t\t\t     10.0.2.0-10.0.3.7 }\n\t}\n\n"
          "\tset ports {\n\t\ttype ipv4_addr . inet_proto . inet_service\n"
          "\t\telements = { 10.0.0.1 . tcp . 256,\n\t\t\t     10.0.0.1 . tcp . 1 }\n\t}\n"
          "}\n");
}

namespace {

// Every examples/*.json, sorted, with its loaded model.
std::vector<std::pair<std::filesystem::path, model::Model>> load_examples() {
    namespace fs = std::filesystem;
    const fs::path source = NATCTL_SOURCE_DIR;
    std::vector<fs::path> paths;
    for (const auto& entry : fs::directory_iterator(source / "examples"))
        if (entry.path().extension() == ".json") paths.push_back(entry.path());
    std::sort(paths.begin(), paths.end());
    std::vector<std::pair<fs::path, model::Model>> out;
    for (const auto& path : paths) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        auto loaded = model::load_model(text.str());
        INFO("example " << path.filename().string());
        REQUIRE(loaded.has_value());
        out.emplace_back(path, std::move(*loaded));
    }
    REQUIRE(!out.empty());
    return out;
}

}  // namespace

// Golden files: render(compile(example)) for every examples/*.json. Regenerate with
// NATCTL_UPDATE_GOLDEN=1 and read the difference before committing it.
TEST_CASE("compiler: golden renderings of the examples", "[compiler][golden]") {
    namespace fs = std::filesystem;
    const fs::path source = NATCTL_SOURCE_DIR;
    const bool update = std::getenv("NATCTL_UPDATE_GOLDEN") != nullptr;
    for (const auto& [example, loaded] : load_examples()) {
        INFO("example " << example.filename().string());
        const auto rendered = render(compile(loaded));
        const auto golden = source / "tests" / "golden" / (example.stem().string() + ".nft");
        if (update) {
            std::ofstream(golden) << rendered;
            continue;
        }
        std::ifstream expected_in(golden);
        REQUIRE(expected_in.good());
        std::stringstream expected;
        expected << expected_in.rdbuf();
        CHECK(rendered == expected.str());
    }
}

TEST_CASE("compiler: compile_chains gives exactly the chains of a whole compile", "[compiler]") {
    for (const auto& [example, loaded] : load_examples()) {
        INFO("example " << example.filename().string());
        const auto chains = compile_chains(loaded);
        CHECK(!chains.empty());
        CHECK(chains == compile(loaded).table.chains);
    }
}

TEST_CASE("compiler: an EIP associated with an instance is 1:1 and beats an IP mapping",
          "[compiler]") {
    auto m = base_model();
    m.eips.push_back({"eip-4", ip("203.0.113.20"), "app-1", ip("10.0.1.21")});
    m.eips.push_back({"eip-5", ip("203.0.113.21"), "web-1", std::nullopt});
    m.nat_gateways[0].dnat_entries = {ip_mapping("app-map", "eip-3", "10.0.1.21")};
    const auto state = compile(m);
    // Egress: the associated EIP wins for 10.0.1.21; web-1 leaves by eip-5 (its first IP);
    // 10.0.1.20 has neither.
    CHECK(set_of(state, "snat_ip").elements ==
          std::vector<kernel::Element>{pair(addr("10.0.1.10"), addr("203.0.113.21")),
                                       pair(addr("10.0.1.21"), addr("203.0.113.20"))});
    CHECK(set_of(state, "dnat_ip").elements ==
          std::vector<kernel::Element>{pair(addr("203.0.113.12"), addr("10.0.1.21")),
                                       pair(addr("203.0.113.20"), addr("10.0.1.21")),
                                       pair(addr("203.0.113.21"), addr("10.0.1.10"))});
    CHECK(set_of(state, "dnat_open").elements ==
          std::vector<kernel::Element>{key_only(addr("203.0.113.12")),
                                       key_only(addr("203.0.113.20")),
                                       key_only(addr("203.0.113.21"))});
    const auto lines = route_lines(state);
    CHECK(has_line(lines, "ip address add 203.0.113.20/32 dev veth-wan"));
    CHECK(has_line(lines, "ip address add 203.0.113.21/32 dev veth-wan"));

    // Re-associated: only the 1:1 elements change.
    auto moved = m;
    moved.eips[3].instance = "web-1";
    moved.eips[3].private_ip.reset();
    const auto removed = moved.eips.back().name;
    moved.eips.pop_back();
    const auto after = compile(moved);
    CHECK(set_of(after, "snat_ip").elements ==
          std::vector<kernel::Element>{pair(addr("10.0.1.10"), addr("203.0.113.20")),
                                       pair(addr("10.0.1.21"), addr("203.0.113.12"))});
    // and the removed EIP's traffic chains go
    auto kept = state.table.chains;
    std::erase_if(kept, [&](const kernel::Chain& chain) {
        return chain.name.starts_with("eip/" + removed + "/");
    });
    CHECK(kept.size() == state.table.chains.size() - 2);
    CHECK(after.table.chains == kept);
}
