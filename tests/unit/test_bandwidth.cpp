// EIP traffic counters and bandwidth caps (issue 14, item 4): model, validation, compiler
// output, incremental reconcile, counter totals and the API's view of them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "controller/api/ports.hpp"
#include "controller/compiler/bandwidth.hpp"
#include "controller/compiler/compile.hpp"
#include "controller/compiler/rules.hpp"
#include "controller/metrics/budget.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/json.hpp"
#include "controller/model/validate.hpp"
#include "controller/reconciler/nft_plan.hpp"
#include "controller/reconciler/reconciler.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"

namespace model = natctl::model;
namespace kernel = natctl::kernel;
namespace netlink = natctl::netlink;
namespace bandwidth = natctl::compiler::bandwidth;
using natctl::compiler::compile;

namespace {

model::Ipv4 ip(std::string_view text) {
    return model::parse_ipv4(text).value();
}

// One VPC behind gateway ngw-m with a SNAT entry on eip-a (capped at 8 Mbit/s) and a DNAT
// entry on eip-b (uncapped).
model::Model metered_model() {
    model::Model m;
    model::Vpc vpc;
    vpc.name = "vpc-m";
    vpc.cidr = model::parse_cidr("10.0.0.0/16").value();
    vpc.interfaces = {"veth-vpc"};
    vpc.vswitches = {{"vsw-m", model::parse_cidr("10.0.1.0/24").value(), std::nullopt}};
    vpc.instances = {{"vm-1", "vsw-m", {ip("10.0.1.10")}, std::nullopt}};
    m.vpcs.push_back(vpc);
    m.eips = {{"eip-a", ip("203.0.113.10")}, {"eip-b", ip("203.0.113.11")}};
    m.eips[0].bandwidth_mbps = 8;
    model::NatGateway gateway;
    gateway.name = "ngw-m";
    gateway.vpc = "vpc-m";
    gateway.outside_interface = "veth-wan";
    gateway.upstream = ip("198.51.100.1");
    gateway.eips = {"eip-a", "eip-b"};
    gateway.snat_entries = {{"all", model::VSwitchSource{"vsw-m"}, {"eip-a"}, std::nullopt}};
    model::DnatEntry dnat;
    dnat.name = "web";
    dnat.eip = "eip-b";
    dnat.protocol = model::DnatProtocol::Tcp;
    dnat.public_port = model::PortRange{80, 80};
    dnat.private_ip = ip("10.0.1.10");
    dnat.private_port = model::PortRange{8080, 8080};
    gateway.dnat_entries = {dnat};
    m.nat_gateways.push_back(gateway);
    return m;
}

const kernel::Chain* find_chain(const kernel::DesiredState& state, std::string_view name) {
    for (const auto& chain : state.table.chains)
        if (chain.name == name) return &chain;
    return nullptr;
}
const kernel::Set* find_set(const kernel::DesiredState& state, std::string_view name) {
    for (const auto& set : state.table.sets)
        if (set.name == name) return &set;
    return nullptr;
}

bool has_error_at(const model::Errors& errors, const std::string& path,
                  const std::string& fragment) {
    return std::any_of(errors.begin(), errors.end(), [&](const model::Error& error) {
        return error.path == path && error.reason.find(fragment) != std::string::npos;
    });
}

kernel::CounterRole traffic_role(kernel::CounterRole::Kind kind, std::string eip,
                                 std::string direction) {
    kernel::CounterRole role;
    role.kind = kind;
    role.eip = std::move(eip);
    role.direction = std::move(direction);
    return role;
}

}  // namespace

TEST_CASE("bandwidth: bandwidth_mbps is read, written back and validated with its path",
          "[bandwidth]") {
    auto document = model::to_json(metered_model());
    CHECK(document["eips"][0]["bandwidth_mbps"] == 8);
    CHECK(!document["eips"][1].contains("bandwidth_mbps"));
    auto parsed = model::from_json(document);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == metered_model());
    CHECK(model::validate(*parsed).empty());

    for (const std::uint32_t wrong : {0u, model::kMaxBandwidthMbps + 1}) {
        auto m = metered_model();
        m.eips[1].bandwidth_mbps = wrong;
        auto errors = model::validate(m);
        CHECK(has_error_at(errors, "eips[1].bandwidth_mbps", "must be from 1 to 100000"));
    }
    auto m = metered_model();
    m.eips[1].bandwidth_mbps = model::kMaxBandwidthMbps;
    CHECK(model::validate(m).empty());

    document["eips"][1]["bandwidth_mbps"] = "fast";
    auto text = model::from_json(document);
    REQUIRE(!text.has_value());
    CHECK(has_error_at(text.error(), "eips[1].bandwidth_mbps", "non-negative integer"));
    document["eips"][1]["bandwidth_mbps"] = -5;
    auto negative = model::from_json(document);
    REQUIRE(!negative.has_value());
    CHECK(has_error_at(negative.error(), "eips[1].bandwidth_mbps", "non-negative integer"));
}

TEST_CASE("bandwidth: the cap's rate and burst, in nft's own units", "[bandwidth]") {
    CHECK(bandwidth::bytes_per_second(8) == 1000000u);
    CHECK(bandwidth::burst_bytes(8) == 131072u);  // 100 ms is below the 128 KiB floor
    CHECK(bandwidth::burst_bytes(1000) == 12500000u);
    CHECK(bandwidth::burst_bytes(model::kMaxBandwidthMbps) == 1250000000u);
    CHECK(natctl::compiler::rules::eip_cap(1000000, 131072).text ==
          "limit rate over 1000000 bytes/second burst 128 kbytes counter packets 0 bytes 0 drop");
    CHECK(natctl::compiler::rules::eip_cap(1048576, 2097152).text ==
          "limit rate over 1 mbytes/second burst 2 mbytes counter packets 0 bytes 0 drop");
    const auto cap = natctl::compiler::rules::eip_cap(1000000, 131072);
    REQUIRE(cap.exprs.size() == 3);
    CHECK(std::get<kernel::Limit>(cap.exprs[0]) == kernel::Limit{1000000, 131072, true});
}

TEST_CASE("bandwidth: every EIP is metered in both directions, a capped one also limited",
          "[bandwidth]") {
    const auto state = compile(metered_model());
    for (const auto* name : {bandwidth::kInboundMap, bandwidth::kOutboundMap}) {
        const auto* map = find_set(state, name);
        REQUIRE(map);
        REQUIRE(map->elements.size() == 2);
        const bool inbound = std::string(name) == bandwidth::kInboundMap;
        CHECK(map->elements[0].key == kernel::FieldList{ip("203.0.113.10").value});
        CHECK(*map->elements[0].verdict ==
              kernel::Verdict{kernel::Verdict::Kind::Goto,
                              inbound ? "eip/eip-a/in" : "eip/eip-a/out"});
        CHECK(*map->elements[1].verdict ==
              kernel::Verdict{kernel::Verdict::Kind::Goto,
                              inbound ? "eip/eip-b/in" : "eip/eip-b/out"});
    }
    const auto* in = find_chain(state, bandwidth::kInboundChain);
    REQUIRE(in);
    REQUIRE(in->base);
    CHECK(in->base->hook == "prerouting");
    CHECK(in->base->priority == -160);
    CHECK(in->rules.at(0).text == "ip daddr vmap @eip_inbound");
    const auto* out = find_chain(state, bandwidth::kOutboundChain);
    REQUIRE(out);
    CHECK(out->base->hook == "postrouting");
    CHECK(out->base->priority == 120);
    CHECK(out->rules.at(0).text == "ip saddr vmap @eip_outbound");

    const auto* capped = find_chain(state, "eip/eip-a/out");
    REQUIRE(capped);
    REQUIRE(capped->rules.size() == 2);
    CHECK(capped->rules[0].text ==
          "limit rate over 1000000 bytes/second burst 128 kbytes counter packets 0 bytes 0 drop");
    CHECK(*capped->rules[0].counts ==
          traffic_role(kernel::CounterRole::Kind::EipCapped, "eip-a", "outbound"));
    CHECK(capped->rules[1].text == "counter packets 0 bytes 0");
    CHECK(*capped->rules[1].counts ==
          traffic_role(kernel::CounterRole::Kind::EipPassed, "eip-a", "outbound"));
    const auto* uncapped = find_chain(state, "eip/eip-b/in");
    REQUIRE(uncapped);
    REQUIRE(uncapped->rules.size() == 1);
    CHECK(*uncapped->rules[0].counts ==
          traffic_role(kernel::CounterRole::Kind::EipPassed, "eip-b", "inbound"));
}

TEST_CASE("bandwidth: a cap change rewrites only that EIP's chains, no set, nothing else",
          "[bandwidth]") {
    netlink::NftFake nft;
    netlink::RouteFake routes({"veth-vpc", "veth-wan"});
    natctl::reconciler::Reconciler reconciler(nft, routes);
    REQUIRE(reconciler.apply(compile(metered_model())).has_value());
    auto observed = nft.dump();
    REQUIRE(observed.has_value());

    auto changed = metered_model();
    changed.eips[1].bandwidth_mbps = 50;  // eip-b gets a cap
    auto plan = natctl::reconciler::plan_nft(compile(changed).table, *observed);
    CHECK(!plan.table_rebuilt);
    CHECK(plan.sets_added == 0);
    CHECK(plan.sets_removed == 0);
    CHECK(plan.elements_added == 0);
    CHECK(plan.elements_removed == 0);
    CHECK(plan.chains_added == 0);
    CHECK(plan.chains_rewritten == 2);  // eip/eip-b/in and eip/eip-b/out

    // A new EIP: its two chains and one element in each map.
    auto added = metered_model();
    added.eips.push_back({"eip-c", ip("203.0.113.12")});
    auto grow = natctl::reconciler::plan_nft(compile(added).table, *observed);
    CHECK(!grow.table_rebuilt);
    CHECK(grow.chains_added == 2);
    CHECK(grow.chains_rewritten == 0);
    CHECK(grow.elements_added == 2);
}

TEST_CASE("bandwidth: traffic totals add packets and bytes and survive a rewritten chain",
          "[bandwidth]") {
    netlink::NftFake nft;
    netlink::RouteFake routes({"veth-vpc", "veth-wan"});
    natctl::reconciler::Reconciler reconciler(nft, routes);
    const auto desired = compile(metered_model());
    REQUIRE(reconciler.apply(desired).has_value());
    const auto roles = natctl::metrics::BudgetCounterTotals::roles_of(desired.table.chains);
    natctl::metrics::BudgetCounterTotals totals;

    REQUIRE(nft.count_packets("eip/eip-a/out", 1, 10, 15000));  // passed
    REQUIRE(nft.count_packets("eip/eip-a/out", 0, 2, 3000));    // dropped by the cap
    REQUIRE(nft.count_packets("eip/eip-b/in", 0, 4, 240));
    totals.update(roles, *nft.dump());
    auto now = totals.totals(roles);
    const auto passed_out = traffic_role(kernel::CounterRole::Kind::EipPassed, "eip-a", "outbound");
    CHECK(now[passed_out] == kernel::CounterTotal{10, 15000});
    CHECK(now[traffic_role(kernel::CounterRole::Kind::EipCapped, "eip-a", "outbound")] ==
          kernel::CounterTotal{2, 3000});
    CHECK(now[traffic_role(kernel::CounterRole::Kind::EipPassed, "eip-b", "inbound")] ==
          kernel::CounterTotal{4, 240});
    CHECK(now[traffic_role(kernel::CounterRole::Kind::EipPassed, "eip-a", "inbound")] ==
          kernel::CounterTotal{});

    // The cap is raised: the chain is refilled and its counters start from zero; the
    // totals keep what was counted before.
    auto raised = metered_model();
    raised.eips[0].bandwidth_mbps = 100;
    const auto after = compile(raised);
    REQUIRE(reconciler.apply(after).has_value());
    const auto new_roles = natctl::metrics::BudgetCounterTotals::roles_of(after.table.chains);
    REQUIRE(nft.count_packets("eip/eip-a/out", 1, 1, 1500));
    totals.update(new_roles, *nft.dump());
    now = totals.totals(new_roles);
    CHECK(now[passed_out] == kernel::CounterTotal{11, 16500});

    const auto view = natctl::api::eip_traffic_json(now, raised, std::string("eip-a"));
    REQUIRE(view.size() == 1);
    CHECK(view[0]["bandwidth_mbps"] == 100);
    CHECK(view[0]["outbound"]["bytes"] == 16500);
    CHECK(view[0]["outbound"]["packets"] == 11);
    CHECK(view[0]["outbound"]["capped_packets"] == 2);
    CHECK(view[0]["inbound"]["bytes"] == 0);
    const auto by_address = natctl::api::eip_traffic_json(now, raised, std::string("203.0.113.11"));
    REQUIRE(by_address.size() == 1);
    CHECK(by_address[0]["eip"] == "eip-b");
    CHECK(by_address[0]["bandwidth_mbps"].is_null());
    // Budget rows leave traffic roles out: every row is one of the gateway's.
    const auto budget_rows = natctl::api::budget_json(now, std::nullopt)["entries"];
    CHECK(!budget_rows.empty());
    for (const auto& row : budget_rows)
        CHECK(row["gateway"] == "ngw-m");
}
