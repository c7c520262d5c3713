// Issue 15's typed errors (util/error.hpp) from netlink up to the API: the kernel fakes
// refuse or lose their answers, and the real service, store, data plane and reconciler
// answer each kind with its own status and "kind", store nothing, and repair the kernel
// after an unknown outcome.
#include <catch2/catch.hpp>

#include <cerrno>
#include <string>

#include "controller/api/http.hpp"
#include "controller/api/service.hpp"
#include "controller/compiler/compile.hpp"
#include "controller/daemon/data_plane.hpp"
#include "controller/model/json.hpp"
#include "controller/reconciler/nft_plan.hpp"
#include "netlink/route_plan.hpp"
#include "tests/support/memory_store.hpp"
#include "tests/support/nft_fake.hpp"
#include "tests/support/route_fake.hpp"
#include "tests/unit/source_file.hpp"
#include "tests/unit/temp_dir.hpp"
#include "util/error.hpp"

namespace {

using namespace natctl;
using natctl::testing::TempDir;
using nlohmann::json;

std::string design_text() {
    return natctl::testing::source_file("tests/data/model/design-example.json");
}

// The fake kernel holds exactly what `model` compiles to.
bool kernel_holds(const model::Model& model, netlink::NftFake& nft, netlink::RouteFake& routes) {
    auto desired = compiler::compile(model);
    auto table = nft.dump();
    auto held = routes.dump();
    if (!table || !held) return false;
    auto route_ops =
        netlink::plan_route_changes({desired.rules, desired.routes, desired.addresses}, *held);
    return reconciler::plan_nft(desired.table, *table).empty() && route_ops && route_ops->empty();
}

// The API over the real store, data plane and reconciler, with the kernel fakes below.
struct Gateway {
    TempDir dir{"errors"};
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-vpc", "veth-wan"}};
    daemon::ReconcilerDataPlane plane{
        nft, routes, nullptr, {std::nullopt, "not probed"}, [] { return std::time_t{1700000000}; }};
    std::unique_ptr<store::Store> store;
    std::unique_ptr<api::Service> service;
    int repair_requests = 0;

    Gateway() {
        auto opened = store::Store::open(dir.state());
        REQUIRE(opened.has_value());
        store = std::move(*opened);
        service = std::make_unique<api::Service>(*store, plane);
        plane.set_repair_request([this] { ++repair_requests; });
        REQUIRE(call("PUT", "/v1/config", design_text()).status == 200);
    }

    api::HttpResponse call(const std::string& method, const std::string& target,
                           const std::string& body = "") {
        return service->handle({method, target, {}, body, 0});
    }

    bool kernel_matches_store() { return kernel_holds(store->current(), nft, routes); }
};

json only_error(const api::HttpResponse& response) {
    auto body = json::parse(response.body);
    REQUIRE(body["errors"].size() == 1);
    return body["errors"][0];
}

const std::string kNewDnat =
    R"({"name": "ssh", "eip": "eip-2", "protocol": "tcp", "public_port": "22",
        "private_ip": "10.0.1.10", "private_port": "22"})";

}  // namespace

TEST_CASE("errno_text names the errno and says what it means", "[errors]") {
    CHECK(util::errno_text(EEXIST) == "EEXIST (File exists)");
    CHECK(util::errno_text(ENOBUFS) == "ENOBUFS (No buffer space available)");
    CHECK(util::describe({util::ErrorKind::Internal, "", "bug"}) == "bug");
    CHECK(util::describe({util::ErrorKind::Invalid, "eips[0]", "bad"}) == "eips[0]: bad");
}

TEST_CASE("netlink's errors carry their kind", "[errors][netlink]") {
    using Kind = netlink::NftError::Kind;
    CHECK(netlink::NftError{Kind::Kernel, EEXIST, "x"}.to_error().kind ==
          util::ErrorKind::KernelRefused);
    // A netlink sendto that fails delivers nothing: the table is as it was.
    CHECK(netlink::NftError{Kind::Socket, ENOMEM, "x"}.to_error().kind ==
          util::ErrorKind::KernelRefused);
    CHECK(netlink::NftError{Kind::OutcomeUnknown, ENOBUFS, "x"}.to_error().kind ==
          util::ErrorKind::OutcomeUnknown);
    CHECK(netlink::NftError{Kind::Invalid, EINVAL, "x"}.to_error() ==
          util::Error{util::ErrorKind::Internal, "", "x"});

    netlink::NftFake nft;
    nft.fail_next_apply_at(0, EEXIST);
    auto refused = nft.apply(netlink::NftTransaction().add_table());
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().to_error().kind == util::ErrorKind::KernelRefused);
    CHECK(refused.error().message == "add table ip natctl: EEXIST (File exists)");

    netlink::RouteFake routes({"veth-wan"});
    kernel::Route route;
    route.owner = "vpcs[0].route_tables[0].routes[0]";
    route.table = 20001;
    route.dev = "veth-gone";
    auto missing = routes.add_route(route);
    REQUIRE_FALSE(missing.has_value());
    auto error = missing.error().to_error();
    CHECK(error.kind == util::ErrorKind::KernelRefused);
    CHECK(error.path == "vpcs[0].route_tables[0].routes[0]");
    CHECK(error.message ==
          "route 0.0.0.0/0 dev veth-gone table 20001: interface veth-gone "
          "does not exist");

    // Two desired routes with one kernel identity: the model's fault, not the kernel's.
    netlink::RouteState desired;
    route.dev = "veth-wan";
    desired.routes = {route, route};
    auto conflict = netlink::plan_route_changes(desired, {});
    REQUIRE_FALSE(conflict.has_value());
    CHECK(conflict.error().to_error().kind == util::ErrorKind::Invalid);
}

TEST_CASE("each status the API answers with has a kind", "[errors][api]") {
    for (auto [status, kind] : std::initializer_list<std::pair<int, util::ErrorKind>>{
             {400, util::ErrorKind::Invalid},
             {404, util::ErrorKind::NotFound},
             {405, util::ErrorKind::Invalid},
             {409, util::ErrorKind::Conflict},
             {412, util::ErrorKind::Conflict},
             {413, util::ErrorKind::Invalid},
             {422, util::ErrorKind::Invalid},
             {500, util::ErrorKind::Internal},
             {502, util::ErrorKind::KernelRefused},
             {503, util::ErrorKind::Unavailable},
             {504, util::ErrorKind::OutcomeUnknown}}) {
        INFO(status);
        CHECK(api::kind_of(status) == kind);
    }
    for (auto kind :
         {util::ErrorKind::Invalid, util::ErrorKind::NotFound, util::ErrorKind::Conflict,
          util::ErrorKind::KernelRefused, util::ErrorKind::OutcomeUnknown,
          util::ErrorKind::Unavailable, util::ErrorKind::Internal})
        CHECK(api::kind_of(api::status_of(kind)) == kind);
    auto answer = api::error_response(api::failure(409, "eips[0]", "in use"));
    CHECK(only_error(answer) ==
          json{{"path", "eips[0]"}, {"reason", "in use"}, {"kind", "conflict"}});
}

TEST_CASE("a kernel refusal answers 502 kernel_refused and stores nothing", "[errors][api]") {
    Gateway gateway;
    const auto revision = gateway.store->revision();

    SECTION("whole-model write (nft transaction)") {
        auto document = json::parse(design_text());
        document["nat_gateways"][0]["dnat_entries"].erase(0);
        gateway.nft.fail_next_apply_at(0, EEXIST);
        auto response = gateway.call("PUT", "/v1/config", document.dump());
        CHECK(response.status == 502);
        auto error = only_error(response);
        CHECK(error["kind"] == "kernel_refused");
        CHECK(error["path"] == "");
        CHECK(error["reason"].get<std::string>().find("EEXIST (File exists)") != std::string::npos);
        CHECK(error["reason"].get<std::string>().ends_with("; nothing was stored"));
    }
    SECTION("one DNAT entry (element changes)") {
        gateway.nft.fail_next_apply_at(0, ENOENT);
        auto response = gateway.call("POST", "/v1/nat_gateways/ngw-1/dnat_entries", kNewDnat);
        CHECK(response.status == 502);
        auto error = only_error(response);
        CHECK(error["kind"] == "kernel_refused");
        CHECK(error["reason"].get<std::string>().find("ENOENT (No such file or directory)") !=
              std::string::npos);
    }
    SECTION("routes: the failing route's model path") {
        gateway.routes.fail_request(0, EPERM);
        auto response = gateway.call("DELETE", "/v1/ipv4_gateways/igw-1?mode=public");
        CHECK(response.status == 502);
        auto error = only_error(response);
        CHECK(error["kind"] == "kernel_refused");
        INFO(error.dump());
        CHECK_FALSE(error["path"].get<std::string>().empty());
        CHECK(error["reason"].get<std::string>().find("EPERM (Operation not permitted)") !=
              std::string::npos);
    }
    CHECK(gateway.store->revision() == revision);
    CHECK(gateway.kernel_matches_store());
    CHECK(gateway.repair_requests == 0);
    // Refused means the kernel is as it was: still in sync with the stored model.
    CHECK(gateway.plane.status()["reconcile"]["state"] == "in_sync");
    CHECK(gateway.call("POST", "/v1/nat_gateways/ngw-1/dnat_entries", kNewDnat).status == 201);
}

TEST_CASE("an unknown outcome answers 504 outcome_unknown and the kernel is repaired",
          "[errors][api]") {
    Gateway gateway;
    const auto revision = gateway.store->revision();

    SECTION("whole-model write whose read-back fails") {
        auto document = json::parse(design_text());
        document["nat_gateways"][0]["dnat_entries"].erase(0);
        gateway.nft.lose_next_apply_answer();
        gateway.nft.fail_next_dump();
        auto response = gateway.call("PUT", "/v1/config", document.dump());
        CHECK(response.status == 504);
        auto error = only_error(response);
        CHECK(error["kind"] == "outcome_unknown");
        CHECK(error["reason"].get<std::string>().find(fmt::format(
                  "natctld brings the kernel back to revision {}", revision)) != std::string::npos);
    }
    SECTION("one DNAT entry whose answer is lost") {
        gateway.nft.lose_next_apply_answer();
        auto response = gateway.call("POST", "/v1/nat_gateways/ngw-1/dnat_entries", kNewDnat);
        CHECK(response.status == 504);
        CHECK(only_error(response)["kind"] == "outcome_unknown");
    }
    // Nothing stored, but the fake kernel took the change: natctld is told to repair, says
    // it is not in sync, and the repair puts the stored model back.
    CHECK(gateway.store->revision() == revision);
    CHECK_FALSE(gateway.kernel_matches_store());
    CHECK(gateway.repair_requests == 1);
    auto status = gateway.plane.status();
    CHECK(status["reconcile"]["state"] == "failed");
    CHECK(status["reconcile"]["last_error"].get<std::string>().find("ENOBUFS") !=
          std::string::npos);
    auto repaired =
        gateway.plane.reconcile(gateway.store->current(), daemon::ReconcileCause::Drift);
    REQUIRE(repaired.has_value());
    CHECK(repaired->changed);
    CHECK(gateway.kernel_matches_store());
    CHECK(gateway.plane.status()["reconcile"]["state"] == "in_sync");
}

TEST_CASE("lost ACKs that the read-back settles are no failure", "[errors][api]") {
    Gateway gateway;
    const auto revision = gateway.store->revision();
    auto document = json::parse(design_text());
    document["nat_gateways"][0]["dnat_entries"].erase(0);
    gateway.nft.lose_next_apply_answer();
    CHECK(gateway.call("PUT", "/v1/config", document.dump()).status == 200);
    CHECK(gateway.store->revision() == revision + 1);
    CHECK(gateway.repair_requests == 0);
    CHECK(gateway.kernel_matches_store());
}

TEST_CASE("a dry run whose kernel read fails answers 502, not 500", "[errors][api]") {
    Gateway gateway;
    auto document = json::parse(design_text());
    document["nat_gateways"][0]["dnat_entries"].erase(0);
    gateway.nft.fail_next_dump();  // lost messages of a read: nothing changed
    auto response = gateway.call("PUT", "/v1/config?dry_run=1", document.dump());
    CHECK(response.status == 502);
    auto error = only_error(response);
    CHECK(error["kind"] == "kernel_refused");
    CHECK(error["reason"].get<std::string>().starts_with(
        "planning the kernel change failed: reading table ip natctl: "));
    CHECK(gateway.repair_requests == 0);
}

TEST_CASE("a failed commit whose put-back the kernel refuses is repaired to the stored revision",
          "[errors][api]") {
    netlink::NftFake nft;
    netlink::RouteFake routes{{"veth-vpc", "veth-wan"}};
    daemon::ReconcilerDataPlane plane{
        nft, routes, nullptr, {std::nullopt, "not probed"}, [] { return std::time_t{1700000000}; }};
    auto stored = model::load_model(design_text());
    REQUIRE(stored.has_value());
    natctl::testing::MemoryStore store{*stored};
    REQUIRE(plane.apply(store.current()).has_value());
    int repair_requests = 0;
    plane.set_repair_request([&] { ++repair_requests; });
    api::Service service{store, plane};
    auto kernel_matches_store = [&] { return kernel_holds(store.current(), nft, routes); };
    REQUIRE(kernel_matches_store());

    // A new EIP on the gateway: its address is the change's first route request, and taking
    // it off again the put-back's.
    auto document = json::parse(design_text());
    document["eips"].push_back({{"name", "eip-9"}, {"address", "203.0.113.99"}});
    document["nat_gateways"][0]["eips"].push_back("eip-9");
    store.fail_commit = true;
    routes.fail_request(1, EBUSY);
    auto response = service.handle({"PUT", "/v1/config", {}, document.dump(), 0});
    CHECK(response.status == 500);
    auto error = only_error(response);
    CHECK(error["kind"] == "internal");
    CHECK(error["reason"].get<std::string>().find(
              "putting the kernel back to revision 1 failed too") != std::string::npos);
    CHECK(error["reason"].get<std::string>().find(
              "natctld reconciles the kernel with revision 1") != std::string::npos);

    // The kernel runs the change the store refused: natctld says so and repairs it.
    CHECK(store.revision() == 1);
    CHECK_FALSE(kernel_matches_store());
    CHECK(repair_requests == 1);
    CHECK(plane.status()["reconcile"]["state"] == "failed");
    auto repaired = plane.reconcile(store.current(), daemon::ReconcileCause::Drift);
    REQUIRE(repaired.has_value());
    CHECK(repaired->changed);
    CHECK(kernel_matches_store());
    CHECK(plane.status()["reconcile"]["state"] == "in_sync");
}
