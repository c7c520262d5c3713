// The reconciler against the in-memory backends: minimal diffs, idempotence, atomic
// failure, errors that name the entry.
#include <catch2/catch.hpp>

#include <algorithm>

#include "controller/reconciler/reconciler.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"

using namespace natctl;
using kernel::FieldType;

namespace {

constexpr std::uint32_t ip(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    return a << 24 | b << 16 | c << 8 | d;
}

kernel::Element port_mapping(std::uint32_t eip, std::uint32_t proto, std::uint32_t port,
                             std::uint32_t backend, std::uint32_t backend_port) {
    kernel::Element element;
    element.key = {eip, proto, port};
    element.data = {backend, backend_port};
    return element;
}

kernel::Rule rule(std::string text, std::vector<kernel::Expr> exprs, std::string owner = {}) {
    kernel::Rule r;
    r.text = std::move(text);
    r.exprs = std::move(exprs);
    r.owner = std::move(owner);
    return r;
}

// A small table of the natctl layout's shape: a DNAT port map with `mappings` entries, a
// verdict map into per-entry chains, and base chains that use them.
kernel::DesiredState state_with(std::size_t mappings, std::vector<std::string> snat_chains) {
    kernel::DesiredState state;
    kernel::Set dnat{.name = "dnat_ports",
                     .key = {FieldType::Ipv4, FieldType::InetProto, FieldType::InetService},
                     .data = {FieldType::Ipv4, FieldType::InetService}};
    for (std::uint32_t i = 0; i < mappings; ++i)
        dnat.elements.push_back(
            port_mapping(ip(203, 0, 113, 10), 6, 1 + i, ip(10, 0, 1, 10), 8000 + i));
    kernel::Set sources{.name = "snat_sources",
                        .key = {FieldType::Realm, FieldType::Ipv4},
                        .data = {FieldType::Verdict},
                        .interval = true};
    std::uint32_t subnet = 1;
    for (const auto& chain : snat_chains) {
        kernel::Element element;
        element.key = {5u, ip(10, 0, subnet, 0)};
        element.key_end = {5u, ip(10, 0, subnet, 255)};
        element.verdict = kernel::Verdict{kernel::Verdict::Kind::Goto, chain};
        sources.elements.push_back(element);
        ++subnet;
    }
    state.table.sets = {dnat, sources};

    kernel::Chain prerouting{.name = "prerouting",
                             .base = kernel::BaseChain{"nat", "prerouting", -100, true}};
    prerouting.rules.push_back(
        rule("dnat ip to ip daddr . meta l4proto . th dport map @dnat_ports",
             {kernel::PayloadLoad{kernel::PayloadBase::Network, 16, 4, 8}, kernel::MetaLoad{16, 9},
              kernel::PayloadLoad{kernel::PayloadBase::Transport, 2, 2, 10},
              kernel::Lookup{.sreg = 8, .dreg = 1, .set_name = "dnat_ports"},
              kernel::Nat{.type = kernel::Nat::Type::Dnat, .addr_min = 1, .proto_min = 9}}));
    kernel::Chain postrouting{.name = "postrouting",
                              .base = kernel::BaseChain{"nat", "postrouting", 100, true}};
    postrouting.rules.push_back(
        rule("rt classid . ip saddr vmap @snat_sources",
             {kernel::RtLoad{0, 1}, kernel::PayloadLoad{kernel::PayloadBase::Network, 12, 4, 9},
              kernel::Lookup{.sreg = 1, .dreg = 0, .set_name = "snat_sources"}}));
    state.table.chains = {prerouting, postrouting};
    for (const auto& name : snat_chains) {
        kernel::Chain chain{.name = name};
        chain.rules.push_back(rule("snat to 203.0.113.10",
                                   {kernel::Immediate{.dreg = 1, .data = {203, 0, 113, 10}},
                                    kernel::Nat{.type = kernel::Nat::Type::Snat, .addr_min = 1}},
                                   "nat_gateways[0].snat_entries[0]"));
        state.table.chains.push_back(chain);
    }

    kernel::Route route{.table = 20001,
                        .destination = {0, 0},
                        .gateway = ip(198, 51, 100, 1),
                        .dev = "veth-wan",
                        .realm = 5};
    state.routes = {route};
    state.rules = {kernel::PolicyRule{.priority = 10300,
                                      .from = kernel::Prefix{ip(10, 0, 1, 0), 24},
                                      .iif = "veth-vpc",
                                      .table = 20001}};
    state.addresses = {kernel::Address{.address = ip(203, 0, 113, 10), .dev = "veth-wan"}};
    return state;
}

struct Fakes {
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-wan", "veth-vpc"}};
    reconciler::Reconciler reconciler{nft, routes};
};

}  // namespace

TEST_CASE("cold apply creates everything and a second apply changes nothing", "[reconciler]") {
    Fakes fakes;
    auto desired = state_with(100, {"snat/ngw-1/a", "snat/ngw-1/b"});
    auto first = fakes.reconciler.apply(desired);
    REQUIRE(first);
    CHECK(first->nft.table_created);
    CHECK(first->nft.elements_added == 102);
    CHECK(first->route_operations == 3);

    auto second = fakes.reconciler.apply(desired);
    REQUIRE(second);
    CHECK_FALSE(second->changed());
    CHECK(fakes.nft.applied_transactions() == 1);
}

TEST_CASE("changing one entry among many sends only that element", "[reconciler]") {
    Fakes fakes;
    auto desired = state_with(1000, {"snat/ngw-1/a"});
    REQUIRE(fakes.reconciler.apply(desired));

    auto changed = desired;
    changed.table.sets[0].elements[500].data = {ip(10, 0, 1, 11), 9999u};
    auto outcome = fakes.reconciler.apply(changed);
    REQUIRE(outcome);
    CHECK(outcome->nft.elements_removed == 1);
    CHECK(outcome->nft.elements_added == 1);
    CHECK(outcome->nft.chains_rewritten == 0);
    CHECK(outcome->nft.transaction.ops().size() == 2);
    CHECK(outcome->route_operations == 0);

    auto observed = fakes.nft.dump();
    REQUIRE(observed);
    const auto* dnat = observed->find_set("dnat_ports");
    REQUIRE(dnat);
    CHECK(std::count(dnat->set.elements.begin(), dnat->set.elements.end(),
                     changed.table.sets[0].elements[500]) == 1);
}

TEST_CASE("removing an SNAT entry removes its chain and the elements that jump to it",
          "[reconciler]") {
    Fakes fakes;
    REQUIRE(fakes.reconciler.apply(state_with(3, {"snat/ngw-1/a", "snat/ngw-1/b"})));
    auto outcome = fakes.reconciler.apply(state_with(3, {"snat/ngw-1/a"}));
    REQUIRE(outcome);
    CHECK(outcome->nft.chains_removed == 1);
    CHECK(outcome->nft.elements_removed == 1);
    auto observed = fakes.nft.dump();
    REQUIRE(observed);
    CHECK(observed->find_chain("snat/ngw-1/b") == nullptr);
    CHECK(observed->find_chain("snat/ngw-1/a") != nullptr);
}

TEST_CASE("a failing nft transaction leaves table and routes as they were", "[reconciler]") {
    Fakes fakes;
    auto before = state_with(10, {"snat/ngw-1/a"});
    REQUIRE(fakes.reconciler.apply(before));
    auto table_before = fakes.nft.dump();
    auto routes_before = fakes.routes.dump();
    REQUIRE(table_before);
    REQUIRE(routes_before);

    auto after = state_with(20, {"snat/ngw-1/a", "snat/ngw-1/b"});
    after.routes[0].gateway = ip(198, 51, 100, 9);
    fakes.nft.fail_next_apply_at(1, ENOENT);
    auto outcome = fakes.reconciler.apply(after);
    REQUIRE_FALSE(outcome);
    auto table_after = fakes.nft.dump();
    auto routes_after = fakes.routes.dump();
    REQUIRE(table_after);
    REQUIRE(routes_after);
    CHECK(*table_after == *table_before);
    CHECK(*routes_after == *routes_before);
}

TEST_CASE("a chain edited behind natctl's back is rewritten", "[reconciler]") {
    Fakes fakes;
    auto desired = state_with(5, {"snat/ngw-1/a"});
    REQUIRE(fakes.reconciler.apply(desired));
    netlink::NftTransaction tamper;
    tamper.flush_chain("prerouting");
    REQUIRE(fakes.nft.apply(tamper));

    // An API write trusts the copy of what it committed; a resync reads the kernel.
    auto outcome = fakes.reconciler.resync(desired);
    REQUIRE(outcome);
    CHECK(outcome->nft.chains_rewritten == 1);
    CHECK_FALSE(fakes.reconciler.plan(desired)->changed());
}

TEST_CASE("a changed set definition rebuilds the table in one transaction", "[reconciler]") {
    Fakes fakes;
    auto desired = state_with(5, {"snat/ngw-1/a"});
    REQUIRE(fakes.reconciler.apply(desired));
    desired.table.sets[0].comment = "port mappings";
    auto outcome = fakes.reconciler.apply(desired);
    REQUIRE(outcome);
    CHECK(outcome->nft.table_rebuilt);
    CHECK_FALSE(fakes.reconciler.plan(desired)->changed());
}

TEST_CASE("an incremental apply diffs against what it committed, without dumping", "[reconciler]") {
    Fakes fakes;
    auto desired = state_with(50, {"snat/ngw-1/a"});
    CHECK_FALSE(fakes.reconciler.has_committed_state());
    REQUIRE(fakes.reconciler.apply(desired));
    CHECK(fakes.reconciler.has_committed_state());

    // A change made behind natctl's back is not seen by the next incremental apply...
    netlink::NftTransaction tamper;
    tamper.flush_chain("prerouting");
    REQUIRE(fakes.nft.apply(tamper));
    auto blind = fakes.reconciler.apply(desired);
    REQUIRE(blind);
    CHECK_FALSE(blind->changed());
    CHECK(fakes.reconciler.plan(desired)->changed());  // plan reads the kernel

    // ...nor does it stop a one-element change from going in as one element...
    auto changed = desired;
    changed.table.sets[0].elements[7].data = {ip(10, 0, 1, 12), 9000u};
    auto one = fakes.reconciler.apply(changed);
    REQUIRE(one);
    CHECK(one->nft.elements_removed == 1);
    CHECK(one->nft.elements_added == 1);
    CHECK(one->nft.chains_rewritten == 0);
    CHECK(one->nft.transaction.ops().size() == 2);

    // ...and a resync sees and repairs it.
    auto repaired = fakes.reconciler.resync(changed);
    REQUIRE(repaired);
    CHECK(repaired->nft.chains_rewritten == 1);
    CHECK(repaired->nft.elements_added == 0);
    CHECK_FALSE(fakes.reconciler.plan(changed)->changed());
}

TEST_CASE("after a failed apply the next apply reads the kernel again", "[reconciler]") {
    Fakes fakes;
    auto before = state_with(10, {"snat/ngw-1/a"});
    REQUIRE(fakes.reconciler.apply(before));
    auto after = state_with(20, {"snat/ngw-1/a", "snat/ngw-1/b"});
    fakes.nft.fail_next_apply_at(1, ENOENT);
    REQUIRE_FALSE(fakes.reconciler.apply(after));
    CHECK_FALSE(fakes.reconciler.has_committed_state());

    netlink::NftTransaction tamper;
    tamper.flush_chain("prerouting");
    REQUIRE(fakes.nft.apply(tamper));
    auto outcome = fakes.reconciler.apply(after);
    REQUIRE(outcome);
    CHECK(outcome->nft.chains_rewritten == 1);
    CHECK(outcome->nft.elements_added == 11);
    CHECK_FALSE(fakes.reconciler.plan(after)->changed());
    CHECK(fakes.reconciler.has_committed_state());
}

TEST_CASE("planning against the committed copy equals planning against its dump", "[reconciler]") {
    auto base = state_with(200, {"snat/ngw-1/a", "snat/ngw-1/b", "snat/ngw-1/c"});
    std::vector<kernel::DesiredState> variants;
    variants.push_back(base);  // nothing changed
    {
        auto v = state_with(260, {"snat/ngw-1/a", "snat/ngw-1/c"});  // added, chain removed
        v.table.sets[0].elements[3].data = {ip(10, 0, 1, 99), 1u};   // a changed value
        variants.push_back(v);
    }
    {
        auto v = state_with(150, {"snat/ngw-1/a", "snat/ngw-1/b", "snat/ngw-1/c", "snat/x"});
        v.table.chains[0].rules[0].text += " counter";  // a rewritten chain
        variants.push_back(v);
    }
    {
        auto v = base;
        v.table.sets[1].comment = "sources";  // a changed definition: rebuild
        variants.push_back(v);
    }
    for (const auto& desired : variants) {
        Fakes fakes;
        REQUIRE(fakes.reconciler.apply(base));
        auto observed = fakes.nft.dump();
        REQUIRE(observed);
        auto from_dump = reconciler::plan_nft(desired.table, *observed);
        auto from_copy = reconciler::plan_nft(desired.table, base.table);
        CHECK(from_copy.table_rebuilt == from_dump.table_rebuilt);
        CHECK(from_copy.sets_added == from_dump.sets_added);
        CHECK(from_copy.sets_removed == from_dump.sets_removed);
        CHECK(from_copy.chains_added == from_dump.chains_added);
        CHECK(from_copy.chains_rewritten == from_dump.chains_rewritten);
        CHECK(from_copy.chains_removed == from_dump.chains_removed);
        CHECK(from_copy.elements_added == from_dump.elements_added);
        CHECK(from_copy.elements_removed == from_dump.elements_removed);
        const auto& a = from_copy.transaction.ops();
        const auto& b = from_dump.transaction.ops();
        REQUIRE(a.size() == b.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            CHECK(a[i].kind == b[i].kind);
            CHECK(a[i].chain_name == b[i].chain_name);
            CHECK(a[i].set.name == b[i].set.name);
            CHECK(a[i].set.elements == b[i].set.elements);
            CHECK(a[i].rule.text == b[i].rule.text);
        }
        // and the kernel ends up the same either way
        REQUIRE(fakes.reconciler.apply(desired));
        CHECK_FALSE(fakes.reconciler.plan(desired)->changed());
    }
}
