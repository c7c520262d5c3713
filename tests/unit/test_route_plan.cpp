// Planning, ordering and rollback of policy rules, routes and addresses against RouteFake.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>

#include "netlink/route_plan.hpp"
#include "tests/support/route_fake.hpp"

using natctl::kernel::Address;
using natctl::kernel::PolicyRule;
using natctl::kernel::Prefix;
using natctl::kernel::Route;
using natctl::netlink::RouteFake;
using natctl::netlink::RouteOp;
using natctl::netlink::RouteState;

namespace {

constexpr std::uint32_t ip(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    return a << 24 | b << 16 | c << 8 | d;
}

PolicyRule vswitch_rule(std::uint32_t priority, Prefix from, std::uint32_t table) {
    PolicyRule rule;
    rule.priority = priority;
    rule.from = from;
    rule.iif = "veth-in";
    rule.table = table;
    rule.owner = "vpcs/vpc-1/vswitches/vsw-a";
    return rule;
}

Route default_route(std::uint32_t table, std::uint32_t gateway) {
    Route route;
    route.table = table;
    route.destination = Prefix{0, 0};
    route.gateway = gateway;
    route.dev = "veth-wan";
    route.realm = 7;
    route.owner = "vpcs/vpc-1/route_tables/rt-private";
    return route;
}

Address eip(std::uint32_t address) {
    return Address{address, 32, "veth-wan", "eips/eip-1"};
}

RouteState sample_state() {
    RouteState state;
    state.addresses = {eip(ip(203, 0, 113, 10)), eip(ip(203, 0, 113, 11))};
    Route blackhole;
    blackhole.table = 20001;
    blackhole.destination = Prefix{ip(10, 99, 0, 0), 16};
    blackhole.type = Route::Type::Blackhole;
    Route unreachable;
    unreachable.table = 20002;
    unreachable.type = Route::Type::Unreachable;
    unreachable.metric = 4294967295U;
    state.routes = {default_route(20001, ip(198, 51, 100, 1)), blackhole, unreachable};
    PolicyRule return_path;
    return_path.priority = 10000;
    return_path.fwmark = 0x4e540007;
    return_path.fwmask = 0xffffffff;
    return_path.table = 20003;
    state.rules = {return_path, vswitch_rule(10300, Prefix{ip(10, 0, 1, 0), 24}, 20001)};
    return state;
}

RouteFake fake_holding(const RouteState& state) {
    RouteFake fake({"veth-wan", "veth-in"});
    REQUIRE(natctl::netlink::reconcile_routes(fake, state).has_value());
    return fake;
}

std::vector<RouteOp::Kind> kinds(const std::vector<RouteOp>& ops) {
    std::vector<RouteOp::Kind> result;
    for (const auto& op : ops)
        result.push_back(op.kind);
    return result;
}

}  // namespace

TEST_CASE("equal desired and observed state plans zero operations", "[route]") {
    auto desired = sample_state();
    auto fake = fake_holding(desired);
    auto observed = fake.dump();
    REQUIRE(observed);
    CHECK(observed->rules.front().owner.empty());  // owners are not stored in the kernel

    auto ops = natctl::netlink::plan_route_changes(desired, *observed);
    REQUIRE(ops);
    CHECK(ops->empty());
    auto before = fake.requests();
    auto applied = natctl::netlink::reconcile_routes(fake, desired);
    REQUIRE(applied);
    CHECK(*applied == 0);
    CHECK(fake.requests() == before);
}

TEST_CASE("desired objects are compared in the form the kernel stores", "[route]") {
    RouteState observed;
    PolicyRule marked;
    marked.priority = 10000;
    marked.fwmark = 0x4e540001;
    marked.fwmask = 0xffffffff;  // the kernel fills in the full mask
    marked.table = 20005;
    Route resolved = default_route(20001, ip(10, 0, 9, 9));  // dev resolved by the kernel
    resolved.realm = 0;
    observed.rules = {marked, vswitch_rule(10300, Prefix{ip(10, 0, 1, 0), 24}, 20001)};
    observed.routes = {resolved};

    RouteState desired;
    marked.fwmask.reset();
    PolicyRule untidy = vswitch_rule(10300, Prefix{ip(10, 0, 1, 77), 24}, 20001);
    untidy.to = Prefix{ip(1, 2, 3, 4), 0};  // "to all"
    desired.rules = {marked, untidy};
    Route without_dev = resolved;
    without_dev.dev.clear();
    desired.routes = {without_dev};

    auto ops = natctl::netlink::plan_route_changes(desired, observed);
    REQUIRE(ops);
    CHECK(ops->empty());
}

TEST_CASE("adds run addresses, routes, rules; deletes rules, routes, addresses after", "[route]") {
    RouteState old_state;
    old_state.addresses = {eip(ip(203, 0, 113, 20))};
    old_state.routes = {default_route(20009, ip(198, 51, 100, 9))};
    old_state.rules = {vswitch_rule(10300, Prefix{ip(10, 0, 9, 0), 24}, 20009)};
    auto desired = sample_state();

    auto ops = natctl::netlink::plan_route_changes(desired, old_state);
    REQUIRE(ops);
    using Kind = RouteOp::Kind;
    CHECK(kinds(*ops) == std::vector<Kind>{Kind::Add, Kind::Add, Kind::Add, Kind::Add, Kind::Add,
                                           Kind::Add, Kind::Add, Kind::Delete, Kind::Delete,
                                           Kind::Delete});
    std::vector<std::size_t> object_order;
    for (const auto& op : *ops)
        object_order.push_back(op.object.index());
    // variant indices: 0 address, 1 route, 2 rule
    CHECK(object_order == std::vector<std::size_t>{0, 0, 1, 1, 1, 2, 2, 2, 1, 0});

    auto fake = fake_holding(old_state);
    REQUIRE(natctl::netlink::apply_route_changes(fake, *ops));
    auto now = fake.dump();
    REQUIRE(now);
    auto again = natctl::netlink::plan_route_changes(desired, *now);
    REQUIRE(again);
    CHECK(again->empty());
}

TEST_CASE("a route with a new next hop is replaced in place, a moved one re-added", "[route]") {
    auto observed = sample_state();
    auto desired = observed;
    desired.routes[0].gateway = ip(198, 51, 100, 2);  // same table, destination, metric
    desired.routes[1].destination = Prefix{ip(10, 98, 0, 0), 16};

    auto ops = natctl::netlink::plan_route_changes(desired, observed);
    REQUIRE(ops);
    REQUIRE(ops->size() == 3);
    CHECK((*ops)[0].kind == RouteOp::Kind::Replace);
    CHECK(std::get<Route>((*ops)[0].object).gateway == ip(198, 51, 100, 2));
    REQUIRE((*ops)[0].replaced);
    CHECK((*ops)[0].replaced->gateway == ip(198, 51, 100, 1));
    CHECK((*ops)[1].kind == RouteOp::Kind::Add);
    CHECK(std::get<Route>((*ops)[1].object).destination.address == ip(10, 98, 0, 0));
    CHECK((*ops)[2].kind == RouteOp::Kind::Delete);
    CHECK(std::get<Route>((*ops)[2].object).destination.address == ip(10, 99, 0, 0));
}

TEST_CASE("extra routes sharing one kernel identity are deleted", "[route]") {
    RouteState observed;
    auto first = default_route(20001, ip(198, 51, 100, 1));
    auto appended = default_route(20001, ip(198, 51, 100, 2));
    first.owner.clear();
    appended.owner.clear();
    observed.routes = {first, appended};
    RouteState desired;
    desired.routes = {default_route(20001, ip(198, 51, 100, 1))};

    auto ops = natctl::netlink::plan_route_changes(desired, observed);
    REQUIRE(ops);
    REQUIRE(ops->size() == 1);
    CHECK((*ops)[0] == RouteOp{RouteOp::Kind::Delete, appended, std::nullopt});

    auto removed = natctl::netlink::plan_route_changes(RouteState{}, observed);
    REQUIRE(removed);
    CHECK(removed->size() == 2);
}

TEST_CASE("a failing operation rolls back every earlier one of the same apply", "[route]") {
    RouteState old_state = sample_state();
    RouteState desired = old_state;
    desired.addresses.push_back(eip(ip(203, 0, 113, 12)));
    desired.addresses.erase(desired.addresses.begin());
    desired.routes[0].gateway = ip(198, 51, 100, 2);  // replace
    desired.routes.push_back(default_route(20004, ip(198, 51, 100, 4)));
    desired.rules.pop_back();
    desired.rules.push_back(vswitch_rule(10301, Prefix{ip(10, 0, 2, 0), 24}, 20004));

    auto planned = natctl::netlink::plan_route_changes(desired, old_state);
    REQUIRE(planned);
    REQUIRE(planned->size() == 6);  // add address, replace + add route, add rule, 2 deletes

    for (std::size_t failing = 0; failing < planned->size(); ++failing) {
        DYNAMIC_SECTION("failing operation " << failing) {
            auto fake = fake_holding(old_state);
            const auto before = fake.state();
            fake.fail_request(failing, EPERM);
            auto applied = natctl::netlink::apply_route_changes(fake, *planned);
            REQUIRE_FALSE(applied);
            CHECK(applied.error().error_number == EPERM);
            const auto& failed = (*planned)[failing];
            CHECK(applied.error().object ==
                  std::visit([](const auto& o) { return natctl::netlink::describe(o); },
                             failed.object));
            CHECK(applied.error().message().find("Operation not permitted") != std::string::npos);
            // Same objects (ignoring order: a rolled-back delete re-adds at the end).
            auto sorted = [](RouteState state) {
                std::ranges::sort(state.rules);
                std::ranges::sort(state.routes);
                std::ranges::sort(state.addresses);
                return state;
            };
            auto after = fake.dump();
            auto before_dump = before;
            for (auto& rule : before_dump.rules)
                rule.owner.clear();
            for (auto& route : before_dump.routes)
                route.owner.clear();
            for (auto& address : before_dump.addresses)
                address.owner.clear();
            REQUIRE(after);
            CHECK(sorted(*after) == sorted(before_dump));
        }
    }
}

TEST_CASE("a missing interface fails naming it and rolls back", "[route]") {
    RouteState desired;
    desired.addresses = {eip(ip(203, 0, 113, 10))};
    Route broken = default_route(20001, ip(198, 51, 100, 1));
    broken.dev = "veth-gone";
    desired.routes = {broken};
    RouteFake fake({"veth-wan"});
    auto applied = natctl::netlink::reconcile_routes(fake, desired);
    REQUIRE_FALSE(applied);
    CHECK(applied.error().owner == "vpcs/vpc-1/route_tables/rt-private");
    CHECK(applied.error().object ==
          "route 0.0.0.0/0 via 198.51.100.1 dev veth-gone realm 7 table 20001");
    CHECK(applied.error().reason == "interface veth-gone does not exist");
    CHECK(fake.state() == RouteState{});
}

TEST_CASE("two desired routes with the same kernel identity are refused", "[route]") {
    RouteState desired;
    auto first = default_route(20001, ip(198, 51, 100, 1));
    auto second = default_route(20001, ip(198, 51, 100, 2));
    second.owner = "vpcs/vpc-1/route_tables/rt-other";
    desired.routes = {first, second};
    auto ops = natctl::netlink::plan_route_changes(desired, RouteState{});
    REQUIRE_FALSE(ops);
    CHECK(ops.error().owner == "vpcs/vpc-1/route_tables/rt-other");
    CHECK(ops.error().reason.find("conflicts with route 0.0.0.0/0 via 198.51.100.1") !=
          std::string::npos);
}

TEST_CASE("descriptions read like ip(8)", "[route]") {
    Route route = default_route(20417, ip(198, 51, 100, 1));
    route.realm = 0;
    CHECK(natctl::netlink::describe(route) ==
          "route 0.0.0.0/0 via 198.51.100.1 dev veth-wan table 20417");
    Route unreachable;
    unreachable.table = 20002;
    unreachable.type = Route::Type::Unreachable;
    unreachable.metric = 4294967295U;
    CHECK(natctl::netlink::describe(unreachable) ==
          "route unreachable 0.0.0.0/0 metric 4294967295 table 20002");
    CHECK(natctl::netlink::describe(vswitch_rule(10300, Prefix{ip(10, 0, 1, 0), 24}, 20001)) ==
          "rule priority 10300 from 10.0.1.0/24 iif veth-in lookup 20001");
    CHECK(natctl::netlink::describe(eip(ip(203, 0, 113, 10))) ==
          "address 203.0.113.10/32 dev veth-wan");
}

TEST_CASE("a rollback that fails too leaves the outcome unknown", "[route]") {
    RouteState old_state = sample_state();
    RouteState desired = old_state;
    desired.addresses.push_back(eip(ip(203, 0, 113, 12)));
    desired.routes.push_back(default_route(20004, ip(198, 51, 100, 4)));
    auto planned = natctl::netlink::plan_route_changes(desired, old_state);
    REQUIRE(planned);
    REQUIRE(planned->size() == 2);  // add address, add route

    auto fake = fake_holding(old_state);
    SECTION("a refused first operation leaves nothing to roll back: the kernel is as it was") {
        fake.fail_request(0, EPERM);
        auto applied = natctl::netlink::apply_route_changes(fake, *planned);
        REQUIRE_FALSE(applied.has_value());
        CHECK(applied.error().kind == natctl::util::ErrorKind::KernelRefused);
    }
    SECTION("the route is refused, and taking the address back fails") {
        fake.fail_request(1, EPERM);  // add route
        fake.fail_request(2, EBUSY);  // rollback: delete address
        auto applied = natctl::netlink::apply_route_changes(fake, *planned);
        REQUIRE_FALSE(applied.has_value());
        CHECK(applied.error().kind == natctl::util::ErrorKind::OutcomeUnknown);
        CHECK(applied.error().error_number == EPERM);
        CHECK(applied.error().message().find("rollback failed to delete address") !=
              std::string::npos);
        // The address the rollback could not remove is still there.
        auto after = fake.dump();
        REQUIRE(after.has_value());
        CHECK(after->addresses.size() == old_state.addresses.size() + 1);
    }
}
