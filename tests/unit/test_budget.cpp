// Port budgets in the data plane: the compiled SNAT entry chains (steering, refusal,
// instance limit), the per-EIP accounting after SNAT, their encoding, and the reconciler
// leaving the elements the kernel adds to dynamic sets alone.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>

#include "controller/compiler/budget.hpp"
#include "controller/compiler/compile.hpp"
#include "controller/compiler/ids.hpp"
#include "controller/compiler/render.hpp"
#include "controller/model/addr.hpp"
#include "controller/reconciler/nft_plan.hpp"
#include "controller/reconciler/reconciler.hpp"
#include "netlink/nft_encode.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"

namespace model = natctl::model;
namespace kernel = natctl::kernel;
namespace netlink = natctl::netlink;
using natctl::compiler::compile;

namespace {

model::Ipv4 ip(std::string_view text) {
    return model::parse_ipv4(text).value();
}

// VPC 10.0.0.0/16 with one vSwitch, gateway ngw-b with a two-EIP entry (affinity) and a
// one-EIP entry for one instance.
model::Model budget_model() {
    model::Model m;
    model::Vpc vpc;
    vpc.name = "vpc-b";
    vpc.cidr = model::parse_cidr("10.0.0.0/16").value();
    vpc.interfaces = {"veth-vpc"};
    vpc.vswitches = {{"vsw-b", model::parse_cidr("10.0.1.0/24").value(), std::nullopt}};
    vpc.instances = {{"vm-1", "vsw-b", {ip("10.0.1.10")}, std::nullopt}};
    m.vpcs.push_back(vpc);
    m.eips = {{"eip-a", ip("203.0.113.10")},
              {"eip-b", ip("203.0.113.11")},
              {"eip-c", ip("203.0.113.12")}};
    model::NatGateway gateway;
    gateway.name = "ngw-b";
    gateway.vpc = "vpc-b";
    gateway.outside_interface = "veth-wan";
    gateway.upstream = ip("198.51.100.1");
    gateway.eips = {"eip-a", "eip-b", "eip-c"};
    gateway.port_budget_per_eip = 50;
    gateway.snat_entries = {{"pair", model::VSwitchSource{"vsw-b"}, {"eip-a", "eip-b"}, true},
                            {"solo", model::InstanceSource{"vm-1"}, {"eip-c"}, std::nullopt}};
    m.nat_gateways.push_back(gateway);
    return m;
}

const kernel::Chain& chain_of(const kernel::DesiredState& state, std::string_view name) {
    for (const auto& chain : state.table.chains)
        if (chain.name == name) return chain;
    FAIL("no chain " << name);
    throw std::logic_error("unreachable");
}
const kernel::Set* find_set(const kernel::DesiredState& state, std::string_view name) {
    for (const auto& set : state.table.sets)
        if (set.name == name) return &set;
    return nullptr;
}
std::uint32_t realm_of(std::string_view gateway) {
    return 1 + natctl::compiler::fnv1a(fmt::format("gw:{}", gateway)) % 65000;
}

}  // namespace

TEST_CASE("budget: a multi-EIP entry tries its EIPs from the hashed one on, then refuses",
          "[budget]") {
    const auto state = compile(budget_model());
    const auto& entry = chain_of(state, "snat/ngw-b/pair");
    REQUIRE(entry.rules.size() == 2);
    CHECK(entry.rules[0].text ==
          "meta l4proto { tcp, udp } jhash ip saddr mod 2 seed 0x6e61746c vmap "
          "{ 0 : goto snat/ngw-b/pair/0, 1 : goto snat/ngw-b/pair/1 }");
    CHECK(
        entry.rules[1].text ==
        "snat to jhash ip saddr mod 2 seed 0x6e61746c map { 0 : 203.0.113.10, 1 : 203.0.113.11 }");

    const auto& second = chain_of(state, "snat/ngw-b/pair/1");
    REQUIRE(second.rules.size() == 3);
    CHECK(second.rules[0].text ==
          "meta l4proto { tcp, udp } ip daddr . meta l4proto . th dport != @budget_full/eip-b/50 "
          "snat to 203.0.113.11:1025-65535");
    CHECK(second.rules[1].text ==
          "meta l4proto { tcp, udp } ip daddr . meta l4proto . th dport != @budget_full/eip-a/50 "
          "counter packets 0 bytes 0 snat to 203.0.113.10:1025-65535");
    CHECK(second.rules[2].text == "counter packets 0 bytes 0 drop");

    // The preferred try is not counted; the steered one and the refusal are, by role.
    CHECK(!second.rules[0].counts);
    REQUIRE(second.rules[1].counts);
    CHECK(*second.rules[1].counts ==
          kernel::CounterRole{kernel::CounterRole::Kind::Steered, "ngw-b", "pair", ""});
    REQUIRE(second.rules[2].counts);
    CHECK(*second.rules[2].counts ==
          kernel::CounterRole{kernel::CounterRole::Kind::Refused, "ngw-b", "pair", "budget"});
    CHECK(second.rules[1].owner == "nat_gateways[0].snat_entries[0]");

    // The full-set test is an inverted lookup of the destination tuple.
    const auto inverted = std::find_if(
        second.rules[0].exprs.begin(), second.rules[0].exprs.end(), [](const kernel::Expr& e) {
            const auto* lookup = std::get_if<kernel::Lookup>(&e);
            return lookup && lookup->set_name == "budget_full/eip-b/50" && lookup->invert;
        });
    CHECK(inverted != second.rules[0].exprs.end());
}

TEST_CASE("budget: a single-EIP entry refuses TCP/UDP when its tuple is full", "[budget]") {
    const auto state = compile(budget_model());
    const auto& entry = chain_of(state, "snat/ngw-b/solo");
    REQUIRE(entry.rules.size() == 3);
    CHECK(entry.rules[0].text ==
          "meta l4proto { tcp, udp } ip daddr . meta l4proto . th dport != @budget_full/eip-c/50 "
          "snat to 203.0.113.12:1025-65535");
    CHECK(entry.rules[1].text == "meta l4proto { tcp, udp } counter packets 0 bytes 0 drop");
    CHECK(entry.rules[2].text == "snat to 203.0.113.12");
}

TEST_CASE("budget: each EIP is counted after SNAT and marked full at the budget", "[budget]") {
    const auto state = compile(budget_model());
    const auto& base = chain_of(state, "budget");
    REQUIRE(base.base);
    CHECK(base.base->type == "filter");
    CHECK(base.base->hook == "postrouting");
    CHECK(base.base->priority == 110);
    CHECK(base.rules.at(0).text ==
          "ct status ! confirmed meta l4proto { tcp, udp } ip saddr @budget_eips goto "
          "budget_accounting");

    const auto* eips = find_set(state, "budget_eips");
    REQUIRE(eips);
    REQUIRE(eips->elements.size() == 3);
    CHECK(eips->elements[0].key == std::vector<kernel::Scalar>{ip("203.0.113.10").value});

    const auto& accounting = chain_of(state, "budget_accounting");
    REQUIRE(accounting.rules.size() == 6);
    CHECK(accounting.rules[0].text ==
          "ip saddr 203.0.113.10 add @budget_count/eip-a/50 { ip daddr . meta l4proto . th dport "
          "ct count over 49 } update @budget_full/eip-a/50 { ip daddr . meta l4proto . th dport "
          "timeout 5s }");
    CHECK(accounting.rules[1].text ==
          "ip saddr 203.0.113.10 add @budget_limit/eip-a/50 { ip daddr . meta l4proto . th dport "
          "ct count over 51 } counter packets 0 bytes 0 drop");
    REQUIRE(accounting.rules[1].counts);
    CHECK(accounting.rules[1].counts->entry.empty());

    for (const char* name :
         {"budget_count/eip-a/50", "budget_full/eip-a/50", "budget_limit/eip-a/50"}) {
        const auto* set = find_set(state, name);
        REQUIRE(set);
        CHECK(set->dynamic);
        CHECK(set->elements.empty());
        CHECK(set->size == natctl::compiler::budget::kTupleSetSize);
        CHECK(set->timeout == (std::string_view(name) == "budget_full/eip-a/50"));
    }
    CHECK(natctl::compiler::budget::backstop_limit(55000) == 56100);
    CHECK(natctl::compiler::budget::backstop_limit(1) == 1);
}

TEST_CASE("budget: max_ports_per_instance and session_log add limit and log", "[budget]") {
    auto m = budget_model();
    m.nat_gateways[0].max_ports_per_instance = 7;
    m.nat_gateways[0].session_log = model::SessionLog::Errors;
    const auto state = compile(m);
    const auto realm = realm_of("ngw-b");
    const auto& entry = chain_of(state, "snat/ngw-b/pair");
    REQUIRE(entry.rules.size() == 3);
    CHECK(entry.rules[0].text ==
          fmt::format("meta l4proto {{ tcp, udp }} add @instance_ports/ngw-b {{ ip saddr ct count "
                      "over 7 }} counter packets 0 bytes 0 log prefix \"natctl instance_limit {} "
                      "pair\" group 20052 drop",
                      realm));
    REQUIRE(entry.rules[0].counts);
    CHECK(entry.rules[0].counts->reason == "instance_limit");
    CHECK(chain_of(state, "snat/ngw-b/pair/0").rules.back().text ==
          fmt::format("counter packets 0 bytes 0 log prefix \"natctl budget {} pair\" group 20052 "
                      "drop",
                      realm));
    CHECK(
        chain_of(state, "budget_accounting").rules.back().text ==
        fmt::format("ip saddr 203.0.113.12 add @budget_limit/eip-c/50 {{ ip daddr . meta l4proto . "
                    "th dport ct count over 51 }} counter packets 0 bytes 0 log prefix \"natctl "
                    "budget {} -\" group 20052 drop",
                    realm));
    const auto* instances = find_set(state, "instance_ports/ngw-b");
    REQUIRE(instances);
    CHECK(instances->dynamic);
    CHECK(kernel::refusal_log_prefix("budget", 42, "web") == "natctl budget 42 web");

    // Without the limit there is neither the set nor the rule.
    const auto plain = compile(budget_model());
    CHECK(!find_set(plain, "instance_ports/ngw-b"));
}

TEST_CASE("budget: the text form prints dynamic sets and the budget chain as nft does",
          "[budget]") {
    const auto text = natctl::compiler::render(compile(budget_model()));
    CHECK(text.find("\tset budget_full/eip-a/50 {\n\t\ttype ipv4_addr . inet_proto . inet_service\n"
                    "\t\tsize 1048576\n\t\tflags dynamic,timeout\n\t}\n") != std::string::npos);
    CHECK(text.find("\tchain budget {\n\t\ttype filter hook postrouting priority srcnat + 10; "
                    "policy accept;\n") != std::string::npos);
}

TEST_CASE("budget: masquerade gateways have no budget accounting", "[budget]") {
    auto m = budget_model();
    m.nat_gateways[0].mode = model::GatewayMode::Masquerade;
    m.nat_gateways[0].snat_entries.clear();
    const auto state = compile(m);
    const auto* dispatch = find_set(state, "budget_eips");
    REQUIRE(dispatch);
    CHECK(dispatch->elements.empty());
    CHECK(!find_set(state, "budget_count/eip-a/50"));
}

TEST_CASE("budget: dynset, connlimit and log rules encode", "[budget]") {
    const auto state = compile(budget_model());
    for (const auto& chain : state.table.chains) {
        for (const auto& rule : chain.rules) {
            std::vector<netlink::SetIdentity> anonymous;
            for (std::size_t index = 0; index < rule.anonymous_sets.size(); ++index)
                anonymous.push_back(
                    {fmt::format("__set{}", index), static_cast<std::uint32_t>(index + 1), true});
            auto encoded = netlink::encode_rule("natctl", chain.name, rule, anonymous);
            CHECK(encoded.has_value());
        }
    }
    for (const auto& set : state.table.sets) {
        auto encoded = netlink::encode_set("natctl", set, {set.name, 1, false});
        CHECK(encoded.has_value());
    }
}

TEST_CASE("budget: elements the data plane adds to dynamic sets are never drift", "[budget]") {
    netlink::NftFake nft;
    netlink::RouteFake routes({"veth-vpc", "veth-wan"});
    natctl::reconciler::Reconciler reconciler(nft, routes);
    const auto desired = compile(budget_model());
    REQUIRE(reconciler.apply(desired).has_value());

    kernel::Element tuple{
        {ip("198.51.100.7").value, std::uint32_t{6}, std::uint32_t{443}}, {}, {}, {}, std::nullopt};
    REQUIRE(nft.fill_dynamic_set("budget_full/eip-a/50", tuple));
    REQUIRE(nft.fill_dynamic_set("budget_count/eip-a/50", tuple));
    CHECK(!nft.fill_dynamic_set("budget_eips", tuple));  // not dynamic

    auto observed = nft.dump();
    REQUIRE(observed.has_value());
    CHECK(observed->find_set("budget_full/eip-a/50")->set.elements.size() == 1);
    auto plan = natctl::reconciler::plan_nft(desired.table, *observed);
    CHECK(plan.empty());

    auto resynced = reconciler.resync(desired);
    REQUIRE(resynced.has_value());
    CHECK(!resynced->changed());
    CHECK(nft.dump()->find_set("budget_full/eip-a/50")->set.elements.size() == 1);

    // Rewritten chains (session_log on adds log rules) leave the elements alone.
    auto logging = budget_model();
    logging.nat_gateways[0].session_log = model::SessionLog::Errors;
    auto changed = reconciler.resync(compile(logging));
    REQUIRE(changed.has_value());
    CHECK(changed->nft.chains_rewritten > 0);
    CHECK(!changed->nft.table_rebuilt);
    CHECK(nft.dump()->find_set("budget_count/eip-a/50")->set.elements.size() == 1);
}

TEST_CASE("budget: a budget change replaces the accounting sets in one transaction", "[budget]") {
    // A `ct count` element keeps the limit it was created with: a tuple counted under the
    // old budget must not keep it (issue 14), so the sets are new and the old ones go.
    netlink::NftFake nft;
    netlink::RouteFake routes({"veth-vpc", "veth-wan"});
    natctl::reconciler::Reconciler reconciler(nft, routes);
    REQUIRE(reconciler.apply(compile(budget_model())).has_value());
    kernel::Element tuple{
        {ip("198.51.100.7").value, std::uint32_t{17}, std::uint32_t{53}}, {}, {}, {}, std::nullopt};
    REQUIRE(nft.fill_dynamic_set("budget_count/eip-a/50", tuple));
    REQUIRE(nft.fill_dynamic_set("budget_full/eip-a/50", tuple));

    auto lowered = budget_model();
    lowered.nat_gateways[0].port_budget_per_eip = 40;
    const auto desired = compile(lowered);
    auto observed = nft.dump();
    REQUIRE(observed.has_value());
    auto plan = natctl::reconciler::plan_nft(desired.table, *observed);
    CHECK(!plan.table_rebuilt);
    CHECK(plan.sets_added == 9);  // three per budgeted EIP
    CHECK(plan.sets_removed == 9);

    auto changed = reconciler.resync(desired);
    REQUIRE(changed.has_value());
    auto after = nft.dump();
    REQUIRE(after.has_value());
    CHECK(!after->find_set("budget_count/eip-a/50"));
    CHECK(!after->find_set("budget_full/eip-a/50"));
    for (const char* name : {"budget_count/eip-a/40", "budget_full/eip-a/40",
                             "budget_limit/eip-a/40", "budget_count/eip-c/40"}) {
        const auto* set = after->find_set(name);
        REQUIRE(set);
        CHECK(set->set.elements.empty());
    }
    CHECK(chain_of(desired, "budget_accounting").rules[0].text.find("ct count over 39") !=
          std::string::npos);
}

TEST_CASE("budget: counters of refusal and steering rules read back from the fake", "[budget]") {
    netlink::NftFake nft;
    netlink::RouteFake routes({"veth-vpc", "veth-wan"});
    natctl::reconciler::Reconciler reconciler(nft, routes);
    REQUIRE(reconciler.apply(compile(budget_model())).has_value());
    CHECK(nft.count_packets("snat/ngw-b/pair/0", 1, 3));   // steered
    CHECK(nft.count_packets("snat/ngw-b/pair/0", 2, 2));   // refused
    CHECK(!nft.count_packets("snat/ngw-b/pair/0", 0, 1));  // no counter on the preferred try
    auto observed = nft.dump();
    REQUIRE(observed.has_value());
    const auto* chain = observed->find_chain("snat/ngw-b/pair/0");
    REQUIRE(chain);
    CHECK(!chain->rules[0].packets);
    CHECK(chain->rules[1].packets == 3u);
    CHECK(chain->rules[2].packets == 2u);
}
