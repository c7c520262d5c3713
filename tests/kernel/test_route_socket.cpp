// RouteSocket against a real kernel: each test builds its own network namespace with veth
// pairs, talks netlink only inside it, and removes it even when a check fails.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "netlink/netns.hpp"
#include "netlink/route_plan.hpp"
#include "netlink/route_socket.hpp"
#include "tests/support/netns_fixture.hpp"

using natctl::kernel::Address;
using natctl::kernel::PolicyRule;
using natctl::kernel::Prefix;
using natctl::kernel::Route;
using natctl::netlink::RouteSocket;
using natctl::netlink::RouteState;

namespace {

// The shared throwaway namespace with two veth pairs: veth-wan (198.51.100.2/24 facing an
// upstream at .1) and veth-in (10.0.1.1/24 facing a vSwitch).
class RouteTestNamespace {
  public:
    RouteTestNamespace() : netns_(create()) {
        for (const char* link : {"veth-wan", "veth-in"}) {
            ip(fmt::format("link add {} type veth peer name {}-peer", link, link));
            ip(fmt::format("link set {} up", link));
            ip(fmt::format("link set {}-peer up", link));
        }
        ip("address add 198.51.100.2/24 dev veth-wan");
        ip("address add 10.0.1.1/24 dev veth-in");
    }

    // `ip -n <ns> ARGS` for IPv4 with protocols as numbers (natctl's 147 has no name in rt_protos),
    // which must succeed; returns its output.
    std::string ip(const std::string& arguments) const {
        auto command = fmt::format("ip -n {} -N -4 {}", netns_.name(), arguments);
        auto result = natctl::testing::run_command(command);
        INFO(command << "\n" << result.output);
        REQUIRE(result.exit_code == 0);
        return result.output;
    }

    // The socket is opened inside the namespace and keeps talking to it afterwards.
    RouteSocket open_socket() const {
        auto inside = netns_.enter();
        auto socket = RouteSocket::open();
        if (!socket) FAIL(socket.error());
        return std::move(*socket);
    }

    // Everything natctl could own, as ip(8) prints it.
    std::string listing() const {
        return ip("rule show") + ip("route show table all") + ip("-d address show");
    }

  private:
    static natctl::testing::TestNetns create() {
        std::string error;
        auto netns = natctl::testing::TestNetns::create(&error);
        if (!netns) FAIL("cannot create a network namespace: " << error);
        return std::move(*netns);
    }
    natctl::testing::TestNetns netns_;
};

constexpr std::uint32_t ip4(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
    return a << 24 | b << 16 | c << 8 | d;
}

RouteState gateway_state() {
    RouteState state;
    state.addresses = {Address{ip4(203, 0, 113, 10), 32, "veth-wan", "eips/eip-1"},
                       Address{ip4(203, 0, 113, 11), 32, "veth-wan", "eips/eip-2"}};

    Route via_upstream;
    via_upstream.table = 20417;
    via_upstream.gateway = ip4(198, 51, 100, 1);
    via_upstream.dev = "veth-wan";
    via_upstream.realm = 7;
    via_upstream.owner = "nat_gateways/ngw-1";
    Route appliance;  // gateway without device: the kernel resolves it
    appliance.table = 20417;
    appliance.destination = Prefix{ip4(10, 20, 0, 0), 16};
    appliance.gateway = ip4(10, 0, 1, 5);
    appliance.metric = 100;
    appliance.owner = "vpcs/vpc-1/route_tables/rt-private";
    Route blackhole;
    blackhole.table = 20417;
    blackhole.destination = Prefix{ip4(10, 30, 0, 0), 16};
    blackhole.type = Route::Type::Blackhole;
    Route unreachable;
    unreachable.table = 20418;
    unreachable.type = Route::Type::Unreachable;
    unreachable.metric = 4294967295U;
    Route return_path = via_upstream;
    return_path.table = 20419;
    state.routes = {via_upstream, appliance, blackhole, unreachable, return_path};

    PolicyRule return_rule;
    return_rule.priority = 10000;
    return_rule.fwmark = 0x4e540007;
    return_rule.fwmask = 0xffffffff;
    return_rule.table = 20419;
    PolicyRule inside_vpc;
    inside_vpc.priority = 10100;
    inside_vpc.from = Prefix{ip4(10, 0, 0, 0), 16};
    inside_vpc.to = Prefix{ip4(10, 0, 0, 0), 16};
    inside_vpc.table = 254;
    PolicyRule vswitch;
    vswitch.priority = 10300;
    vswitch.from = Prefix{ip4(10, 0, 1, 0), 24};
    vswitch.iif = "veth-in";
    vswitch.table = 20417;
    state.rules = {return_rule, inside_vpc, vswitch};
    return state;
}

template <typename Object>
std::vector<Object> sorted_without_owners(std::vector<Object> objects) {
    for (auto& object : objects)
        object.owner.clear();
    std::ranges::sort(objects);
    return objects;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("rules, routes and addresses are programmed with protocol 147", "[kernel][route]") {
    RouteTestNamespace ns;
    auto socket = ns.open_socket();
    auto desired = gateway_state();

    auto applied = natctl::netlink::reconcile_routes(socket, desired);
    INFO((applied ? "" : applied.error().message()));
    REQUIRE(applied);
    CHECK(*applied == 10);

    auto rules = ns.ip("rule show protocol 147");
    INFO(rules);
    CHECK(contains(rules, "10000:\tfrom all fwmark 0x4e540007 lookup 20419 proto 147"));
    CHECK(contains(rules, "10100:\tfrom 10.0.0.0/16 to 10.0.0.0/16 lookup 254 proto 147"));
    CHECK(contains(rules, "10300:\tfrom 10.0.1.0/24 iif veth-in lookup 20417 proto 147"));
    // Numeric output: 6 is blackhole, 7 unreachable.
    auto routes = ns.ip("route show table all proto 147");
    INFO(routes);
    CHECK(contains(routes, "default via 198.51.100.1 dev veth-wan table 20417 realm 7"));
    CHECK(contains(routes, "10.20.0.0/16 via 10.0.1.5 dev veth-in table 20417 metric 100"));
    CHECK(contains(routes, "6 10.30.0.0/16 table 20417"));
    CHECK(contains(routes, "7 default table 20418 metric 4294967295"));
    CHECK(contains(routes, "default via 198.51.100.1 dev veth-wan table 20419 realm 7"));
    auto addresses = ns.ip("address show dev veth-wan");
    CHECK(contains(addresses, "inet 203.0.113.10/32 scope 0 veth-wan"));
    CHECK(contains(addresses, "inet 203.0.113.11/32 scope 0 veth-wan"));

    // iproute2 6.1 neither sets nor prints IFA_PROTO; the dump, which lists only addresses
    // with IFA_PROTO 147 (the foreign-object test shows others stay invisible), proves the
    // kernel kept it.
    auto observed = socket.dump();
    REQUIRE(observed);
    CHECK(sorted_without_owners(observed->addresses) == sorted_without_owners(desired.addresses));
    CHECK(sorted_without_owners(observed->rules) ==
          sorted_without_owners(std::vector<PolicyRule>(desired.rules)));
    CHECK(observed->routes.size() == desired.routes.size());
}

TEST_CASE("re-applying the same state is a no-op", "[kernel][route]") {
    RouteTestNamespace ns;
    auto socket = ns.open_socket();
    auto desired = gateway_state();
    REQUIRE(natctl::netlink::reconcile_routes(socket, desired));
    auto before = ns.listing();

    auto observed = socket.dump();
    REQUIRE(observed);
    auto ops = natctl::netlink::plan_route_changes(desired, *observed);
    REQUIRE(ops);
    CHECK(ops->empty());
    auto again = natctl::netlink::reconcile_routes(socket, desired);
    REQUIRE(again);
    CHECK(*again == 0);
    CHECK(ns.listing() == before);
}

TEST_CASE("removing one route removes exactly it", "[kernel][route]") {
    RouteTestNamespace ns;
    auto socket = ns.open_socket();
    auto desired = gateway_state();
    REQUIRE(natctl::netlink::reconcile_routes(socket, desired));
    auto routes_before = ns.ip("route show table all");

    desired.routes.erase(desired.routes.begin() + 2);  // blackhole 10.30.0.0/16
    auto applied = natctl::netlink::reconcile_routes(socket, desired);
    REQUIRE(applied);
    CHECK(*applied == 1);
    auto routes_after = ns.ip("route show table all");
    INFO(routes_before << "----\n" << routes_after);
    CHECK_FALSE(contains(routes_after, "10.30.0.0/16"));
    std::string expected = routes_before;
    expected.erase(expected.find("6 10.30.0.0/16 table 20417 proto 147 \n"),
                   std::string("6 10.30.0.0/16 table 20417 proto 147 \n").size());
    CHECK(routes_after == expected);
}

TEST_CASE("a changed next hop is replaced in place", "[kernel][route]") {
    RouteTestNamespace ns;
    auto socket = ns.open_socket();
    auto desired = gateway_state();
    REQUIRE(natctl::netlink::reconcile_routes(socket, desired));
    desired.routes[0].gateway = ip4(198, 51, 100, 254);
    desired.routes[0].realm = 8;
    auto observed = socket.dump();
    REQUIRE(observed);
    auto ops = natctl::netlink::plan_route_changes(desired, *observed);
    REQUIRE(ops);
    REQUIRE(ops->size() == 1);
    CHECK(ops->front().kind == natctl::netlink::RouteOp::Kind::Replace);
    REQUIRE(natctl::netlink::apply_route_changes(socket, *ops));
    auto table = ns.ip("route show table 20417");
    INFO(table);
    CHECK(contains(table, "default via 198.51.100.254 dev veth-wan proto 147 realm 8"));
    CHECK_FALSE(contains(table, "198.51.100.1 "));
}

TEST_CASE("a failing route rolls back what the same apply added before it", "[kernel][route]") {
    RouteTestNamespace ns;
    auto socket = ns.open_socket();
    auto before = ns.listing();

    auto desired = gateway_state();
    SECTION("unreachable gateway") {
        Route stranded;
        stranded.table = 20420;
        stranded.gateway = ip4(192, 0, 2, 1);  // no route leads there
        stranded.dev = "veth-wan";
        stranded.owner = "vpcs/vpc-1/route_tables/rt-broken";
        desired.routes.push_back(stranded);
        auto applied = natctl::netlink::reconcile_routes(socket, desired);
        REQUIRE_FALSE(applied);
        CHECK(applied.error().owner == "vpcs/vpc-1/route_tables/rt-broken");
        CHECK(applied.error().object == "route 0.0.0.0/0 via 192.0.2.1 dev veth-wan table 20420");
        CHECK(applied.error().error_number == ENETUNREACH);
        CHECK(contains(applied.error().message(), "Network is unreachable"));
    }
    SECTION("missing device") {
        Route missing;
        missing.table = 20420;
        missing.gateway = ip4(198, 51, 100, 1);
        missing.dev = "veth-gone";
        missing.owner = "nat_gateways/ngw-2";
        desired.routes.push_back(missing);
        auto applied = natctl::netlink::reconcile_routes(socket, desired);
        REQUIRE_FALSE(applied);
        CHECK(applied.error().reason == "interface veth-gone does not exist");
        CHECK(contains(applied.error().message(),
                       "nat_gateways/ngw-2: route 0.0.0.0/0 via 198.51.100.1 dev veth-gone"));
    }
    CHECK(ns.listing() == before);
    auto observed = socket.dump();
    REQUIRE(observed);
    CHECK(*observed == RouteState{});
}

TEST_CASE("foreign rules, routes and addresses are neither listed nor touched", "[kernel][route]") {
    RouteTestNamespace ns;
    ns.ip("rule add priority 10500 from 10.5.0.0/16 lookup 20001");             // no protocol
    ns.ip("rule add priority 100 from 10.6.0.0/16 lookup 20001 protocol 147");  // not our range
    ns.ip("route add 10.77.0.0/16 via 10.0.1.9 proto static");                  // main table
    ns.ip("route add 10.78.0.0/16 via 10.0.1.9 table 20001 proto static");      // our table
    ns.ip("route add 10.79.0.0/16 via 10.0.1.9 table 300 proto 147");           // not our table
    ns.ip("address add 10.66.0.1/32 dev veth-in");                              // no protocol
    auto foreign = ns.listing();

    auto socket = ns.open_socket();
    auto observed = socket.dump();
    REQUIRE(observed);
    CHECK(*observed == RouteState{});

    auto desired = gateway_state();
    Route beside;  // shares table 20001 with the foreign route
    beside.table = 20001;
    beside.destination = Prefix{ip4(10, 80, 0, 0), 16};
    beside.gateway = ip4(10, 0, 1, 9);
    desired.routes.push_back(beside);
    REQUIRE(natctl::netlink::reconcile_routes(socket, desired));
    auto observed_ours = socket.dump();
    REQUIRE(observed_ours);
    CHECK(observed_ours->rules.size() == desired.rules.size());
    CHECK(observed_ours->routes.size() == desired.routes.size());
    CHECK(observed_ours->addresses.size() == desired.addresses.size());

    auto emptied = natctl::netlink::reconcile_routes(socket, RouteState{});
    REQUIRE(emptied);
    CHECK(*emptied == desired.rules.size() + desired.routes.size() + desired.addresses.size());
    CHECK(ns.listing() == foreign);
}

TEST_CASE("closing the socket right after deletions returns promptly", "[kernel][route]") {
    RouteTestNamespace ns;
    std::optional<RouteSocket> socket(ns.open_socket());
    REQUIRE(natctl::netlink::reconcile_routes(*socket, gateway_state()));
    REQUIRE(natctl::netlink::reconcile_routes(*socket, RouteState{}));
    auto start = std::chrono::steady_clock::now();
    socket.reset();
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed < std::chrono::seconds(1));
}

TEST_CASE("a proto 147 route appended beside natctl's own is removed, the original kept",
          "[kernel][route]") {
    RouteTestNamespace ns;
    auto socket = ns.open_socket();
    auto desired = gateway_state();
    REQUIRE(natctl::netlink::reconcile_routes(socket, desired));
    auto before = ns.listing();
    ns.ip("route append default via 198.51.100.3 dev veth-wan table 20417 proto 147 realm 7");
    CHECK(ns.listing() != before);

    auto applied = natctl::netlink::reconcile_routes(socket, desired);
    INFO((applied ? "" : applied.error().message()));
    REQUIRE(applied);
    CHECK(*applied == 1);
    CHECK(ns.listing() == before);
}
