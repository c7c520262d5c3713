// The HTTP API as a transport-free service (docs/API.md): every endpoint against an
// in-memory Store and a fake DataPlane that records what it is asked to apply.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <string>

#include "controller/api/explain.hpp"
#include "controller/api/object_status.hpp"
#include "controller/api/service.hpp"
#include "controller/engine/plan.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/json.hpp"
#include "controller/model/validate.hpp"
#include "tests/support/memory_store.hpp"
#include "tests/unit/source_file.hpp"

namespace {

namespace api = natctl::api;
namespace engine = natctl::engine;
namespace model = natctl::model;
namespace store = natctl::store;
namespace util = natctl::util;
using nlohmann::json;

std::string design_text() {
    return natctl::testing::source_file("tests/data/model/design-example.json");
}

model::Model design_model() {
    auto loaded = model::load_model(design_text());
    REQUIRE(loaded.has_value());
    return *loaded;
}

using natctl::testing::MemoryStore;

class FakeDataPlane : public engine::DataPlane {
  public:
    void repair_soon(std::string reason) override { repairs.push_back(std::move(reason)); }
    std::vector<std::string> repairs;
    std::expected<engine::KernelChange, util::Error> apply(const model::Model& next) override {
        if (fail_apply)
            return std::unexpected(
                util::Error{util::ErrorKind::KernelRefused, "", "netlink: File exists"});
        applied.push_back(next);
        return engine::KernelChange{true, {{"elements_added", 3}}};
    }
    std::expected<engine::KernelChange, util::Error> plan(const model::Model& next) override {
        planned.push_back(next);
        return engine::KernelChange{true, {{"elements_added", 1}}};
    }
    json status() override { return {{"reconcile", {{"state", "in_sync"}}}, {"drift_repairs", 2}}; }

    bool fail_apply = false;
    std::vector<model::Model> applied;
    std::vector<model::Model> planned;
};

struct Fixture {
    MemoryStore store{design_model()};
    FakeDataPlane plane;
    api::Service service{store, plane};

    api::HttpResponse call(std::string method, std::string target, std::string body = "",
                           std::map<std::string, std::string> headers = {}) {
        return service.handle(
            {std::move(method), std::move(target), std::move(headers), std::move(body), 1000});
    }

    // Nothing was stored and nothing reached the kernel.
    void require_untouched() {
        CHECK(store.revision() == 1);
        CHECK(store.revisions().size() == 1);
        CHECK(store.current() == design_model());
        CHECK(plane.applied.empty());
    }
};

json body_of(const api::HttpResponse& response) {
    INFO(response.body);
    return json::parse(response.body);
}

std::string header(const api::HttpResponse& response, const std::string& name) {
    for (const auto& [key, value] : response.headers)
        if (key == name) return value;
    return "";
}

// {"errors": [...]} with at least one error, each with a path and a reason.
json errors_of(const api::HttpResponse& response) {
    auto body = body_of(response);
    REQUIRE(body.contains("errors"));
    REQUIRE(body["errors"].is_array());
    REQUIRE_FALSE(body["errors"].empty());
    for (const auto& error : body["errors"]) {
        REQUIRE(error.contains("path"));
        REQUIRE(error.contains("reason"));
    }
    return body["errors"];
}

bool has_error(const json& errors, const std::string& path, const std::string& reason_part) {
    for (const auto& error : errors)
        if (error["path"] == path &&
            error["reason"].get<std::string>().find(reason_part) != std::string::npos)
            return true;
    return false;
}

bool lists(const json& objects, const std::string& kind, const std::string& name) {
    for (const auto& object : objects)
        if (object["kind"] == kind && object["name"] == name) return true;
    return false;
}

const model::NatGateway& ngw(const Fixture& f) {
    return f.store.current().nat_gateways.at(0);
}

}  // namespace

TEST_CASE("GET /v1/config returns the model with its revision as ETag", "[api]") {
    Fixture f;
    auto response = f.call("GET", "/v1/config");
    REQUIRE(response.status == 200);
    CHECK(header(response, "ETag") == "\"1\"");
    CHECK(body_of(response) == model::to_json(design_model()));
}

TEST_CASE("PUT /v1/config applies, commits and answers the plan", "[api]") {
    Fixture f;
    auto document = model::to_json(design_model());
    document["eips"].push_back({{"name", "eip-4"}, {"address", "203.0.113.13"}});
    document["nat_gateways"][0]["dnat_entries"].erase(0);
    document["nat_gateways"][0]["icmp_echo_reply"] = false;

    auto response = f.call("PUT", "/v1/config", document.dump(), {{"if-match", "\"1\""}});
    REQUIRE(response.status == 200);
    auto body = body_of(response);
    CHECK(body["revision"] == 2);
    CHECK(body["changed"] == true);
    CHECK(body["kernel"]["elements_added"] == 3);
    CHECK(body["plan"]["added"] ==
          json::array({{{"kind", "eip"}, {"name", "eip-4"}, {"path", "eips[3]"}}}));
    CHECK(body["plan"]["changed"] ==
          json::array({{{"kind", "nat_gateway"}, {"name", "ngw-1"}, {"path", "nat_gateways[0]"}}}));
    CHECK(body["plan"]["removed"] == json::array({{{"kind", "dnat_entry"},
                                                   {"name", "web"},
                                                   {"path", "nat_gateways[0].dnat_entries[0]"}}}));
    CHECK(header(response, "ETag") == "\"2\"");

    REQUIRE(f.plane.applied.size() == 1);
    CHECK(model::to_json(f.plane.applied[0]) == document);
    CHECK(model::to_json(f.store.current()) == document);
    auto history = f.store.revisions();
    REQUIRE(history.size() == 2);
    CHECK(history[1].author == "uid 1000");
    CHECK(history[1].summary == "PUT /v1/config");
}

TEST_CASE("an unchanged model is no new revision and does not touch the kernel", "[api]") {
    Fixture f;
    auto response = f.call("PUT", "/v1/config", design_text(), {{"if-match", "1"}});
    REQUIRE(response.status == 200);
    auto body = body_of(response);
    CHECK(body["changed"] == false);
    CHECK(body["revision"] == 1);
    CHECK(body["plan"]["added"].empty());
    CHECK(body["plan"]["changed"].empty());
    CHECK(body["plan"]["removed"].empty());
    f.require_untouched();
    CHECK(f.plane.planned.empty());
}

TEST_CASE("bad requests are refused with errors and change nothing", "[api]") {
    Fixture f;
    json too_many = model::to_json(design_model());
    too_many["nat_gateways"][0]["snat_entries"][1]["eips"] = json::array({"eip-9"});
    too_many["nat_gateways"][0]["dnat_entries"][0]["private_ip"] = "10.0.9.9";

    struct Case {
        std::string method, target, body;
        std::map<std::string, std::string> headers;
        int status;
        std::string path, reason;
    };
    const std::vector<Case> cases = {
        {"PUT", "/v1/config", "{\"version\": 1,", {}, 400, "", "parse error"},
        {"POST", "/v1/nat_gateways/ngw-1/dnat_entries", "[1,", {}, 400, "", "parse error"},
        {"POST",
         "/v1/nat_gateways/ngw-1/dnat_entries",
         R"({"name":"ssh","eip":"eip-2","protocol":"tcp","public_port":22,"private_ip":"10.0.1.10","private_port":"22"})",
         {},
         400,
         "public_port",
         "expected a string"},
        {"POST",
         "/v1/nat_gateways/ngw-1/dnat_entries",
         R"({"name":"ssh","eip":"eip-2","protocol":"tcp","public_port":"22","private_ip":"10.0.1.10","private_port":"22","colour":"red"})",
         {},
         400,
         "colour",
         "unknown field"},
        {"POST", "/v1/eips", "[]", {}, 400, "", "expected an object"},
        {"PUT",
         "/v1/config",
         R"({"version": 1, "eips": {}})",
         {},
         400,
         "eips",
         "expected an array"},
        {"GET", "/v1/nope", "", {}, 404, "", "no such endpoint: /v1/nope"},
        {"GET", "/v2/config", "", {}, 404, "", "no such endpoint"},
        {"DELETE", "/v1/config", "", {}, 405, "", "allowed: GET, PUT"},
        {"POST", "/v1/eips/eip-1", "{}", {}, 405, "", "not allowed"},
        {"PUT",
         "/v1/config",
         design_text(),
         {{"if-match", "\"0\""}},
         412,
         "If-Match",
         "revision 0 is stale: the current revision is 1"},
        {"DELETE",
         "/v1/nat_gateways/ngw-1/dnat_entries/web",
         "",
         {{"if-match", "7"}},
         412,
         "If-Match",
         "revision 7 is stale: the current revision is 1"},
        {"PUT",
         "/v1/config",
         design_text(),
         {{"if-match", "\"x\""}},
         400,
         "If-Match",
         "expected a revision"},
        {"PUT",
         "/v1/config",
         too_many.dump(),
         {},
         422,
         "nat_gateways[0].snat_entries[1].eips[0]",
         "eip-9"},
        {"PUT",
         "/v1/config",
         std::string(api::Service::kMaxBodyBytes + 1, ' '),
         {},
         413,
         "",
         "more than the limit"},
        {"PUT",
         "/v1/eips/eip-1",
         R"({"name": "eip-9", "address": "203.0.113.10"})",
         {},
         400,
         "name",
         "eip-9 in the body differs from eip-1 in the path"},
        {"PUT",
         "/v1/vpcs/vpc-prod/route_tables/rt-private/routes/0.0.0.0_0",
         R"({"destination": "10.9.0.0/16", "next_hop": "blackhole"})",
         {},
         400,
         "destination",
         "differs"},
        {"GET", "/v1/config?verbose=1", "", {}, 400, "?verbose", "unknown query parameter"},
        {"PUT", "/v1/config?dry_run=maybe", design_text(), {}, 400, "?dry_run", "expected 1, true"},
        {"GET", "/v1/eips/eip-9", "", {}, 404, "", "eip eip-9 does not exist"},
        {"PUT",
         "/v1/eips/eip-9",
         R"({"name": "eip-9", "address": "203.0.113.90"})",
         {},
         404,
         "",
         "eip eip-9 does not exist"},
        {"POST",
         "/v1/vpcs/vpc-x/vswitches",
         R"({"name": "v", "cidr": "10.0.5.0/24"})",
         {},
         404,
         "",
         "vpc vpc-x does not exist"},
        {"POST",
         "/v1/eips",
         R"({"name": "eip-1", "address": "203.0.113.99"})",
         {},
         409,
         "name",
         "eip eip-1 already exists"},
        {"GET", "/v1/explain?src=10.0.1.10", "", {}, 400, "?dst", "missing required"},
    };
    for (const auto& c : cases) {
        INFO(c.method << " " << c.target.substr(0, 80) << " → " << c.status);
        auto response = f.call(c.method, c.target, c.body, c.headers);
        CHECK(response.status == c.status);
        auto errors = errors_of(response);
        INFO(errors.dump());
        CHECK(has_error(errors, c.path, c.reason));
        f.require_untouched();
    }
}

TEST_CASE("405 names the allowed methods in an Allow header", "[api]") {
    Fixture f;
    auto response = f.call("POST", "/v1/status");
    REQUIRE(response.status == 405);
    CHECK(header(response, "Allow") == "GET");
}

TEST_CASE("a validation failure lists every error of the edited model", "[api]") {
    Fixture f;
    // Not attached to ngw-1, and outside every vSwitch: two independent problems.
    auto response = f.call("POST", "/v1/nat_gateways/ngw-1/dnat_entries",
                           R"({"name": "ssh", "eip": "eip-9", "protocol": "tcp",
                               "public_port": "22", "private_ip": "10.0.9.9",
                               "private_port": "22"})");
    REQUIRE(response.status == 422);
    auto errors = errors_of(response);
    INFO(errors.dump());
    CHECK(has_error(errors, "nat_gateways[0].dnat_entries[3].eip", "eip-9"));
    CHECK(has_error(errors, "nat_gateways[0].dnat_entries[3].private_ip", "10.0.9.9"));
    f.require_untouched();
}

TEST_CASE("collections and objects of every kind can be read", "[api]") {
    Fixture f;
    auto m = design_model();
    struct Read {
        std::string target;
        json expected;
    };
    const auto doc = model::to_json(m);
    const std::vector<Read> reads = {
        {"/v1/vpcs", {{"items", doc["vpcs"]}}},
        {"/v1/vpcs/vpc-prod", doc["vpcs"][0]},
        {"/v1/vpcs/vpc-prod/vswitches", {{"items", doc["vpcs"][0]["vswitches"]}}},
        {"/v1/vpcs/vpc-prod/vswitches/vsw-b", doc["vpcs"][0]["vswitches"][1]},
        {"/v1/vpcs/vpc-prod/instances/bastion", doc["vpcs"][0]["instances"][2]},
        {"/v1/vpcs/vpc-prod/route_tables", {{"items", doc["vpcs"][0]["route_tables"]}}},
        {"/v1/vpcs/vpc-prod/route_tables/rt-public", doc["vpcs"][0]["route_tables"][1]},
        {"/v1/vpcs/vpc-prod/route_tables/rt-public/routes",
         {{"items", doc["vpcs"][0]["route_tables"][1]["routes"]}}},
        {"/v1/vpcs/vpc-prod/route_tables/rt-public/routes/0.0.0.0_0",
         doc["vpcs"][0]["route_tables"][1]["routes"][0]},
        {"/v1/vpcs/vpc-prod/route_tables/rt-public/routes/0.0.0.0%2F0",
         doc["vpcs"][0]["route_tables"][1]["routes"][0]},
        {"/v1/eips", {{"items", doc["eips"]}}},
        {"/v1/eips/eip-2", doc["eips"][1]},
        {"/v1/nat_gateways/ngw-1", doc["nat_gateways"][0]},
        {"/v1/nat_gateways/ngw-1/snat_entries",
         {{"items", doc["nat_gateways"][0]["snat_entries"]}}},
        {"/v1/nat_gateways/ngw-1/snat_entries/snat-lab", doc["nat_gateways"][0]["snat_entries"][2]},
        {"/v1/nat_gateways/ngw-1/dnat_entries/games", doc["nat_gateways"][0]["dnat_entries"][1]},
        {"/v1/ipv4_gateways", {{"items", doc["ipv4_gateways"]}}},
        {"/v1/ipv4_gateways/igw-1", doc["ipv4_gateways"][0]},
        {"/v1/limits", doc["limits"]},
    };
    for (const auto& read : reads) {
        INFO(read.target);
        auto response = f.call("GET", read.target);
        REQUIRE(response.status == 200);
        CHECK(body_of(response) == read.expected);
        CHECK(header(response, "ETag") == "\"1\"");
    }
}

TEST_CASE("create, replace and delete objects of every kind", "[api]") {
    Fixture f;
    struct Write {
        std::string method, target, body;
        int status;
        std::string plan_list, kind, name;
    };
    // Each step is valid on its own in the order given; together they build a second
    // vSwitch with its own table, instance, EIP and entries, then take parts down again.
    const std::vector<Write> writes = {
        {"POST", "/v1/vpcs/vpc-prod/route_tables",
         R"({"name": "rt-lab", "routes": [{"destination": "0.0.0.0/0", "next_hop": {"nat_gateway": "ngw-1"}}]})",
         201, "added", "route_table", "rt-lab"},
        {"POST", "/v1/vpcs/vpc-prod/route_tables/rt-lab/routes",
         R"({"destination": "192.0.2.0/24", "next_hop": "blackhole"})", 201, "added", "route",
         "rt-lab:192.0.2.0/24"},
        {"PUT", "/v1/vpcs/vpc-prod/route_tables/rt-lab/routes/192.0.2.0_24",
         R"({"destination": "192.0.2.0/24", "next_hop": {"nat_gateway": "ngw-1"}})", 200, "changed",
         "route", "rt-lab:192.0.2.0/24"},
        {"POST", "/v1/vpcs/vpc-prod/vswitches",
         R"({"name": "vsw-lab", "cidr": "10.0.3.0/24", "route_table": "rt-lab"})", 201, "added",
         "vswitch", "vsw-lab"},
        {"POST", "/v1/vpcs/vpc-prod/instances",
         R"({"name": "lab-1", "vswitch": "vsw-lab", "private_ips": ["10.0.3.10"]})", 201, "added",
         "instance", "lab-1"},
        {"PUT", "/v1/vpcs/vpc-prod/instances/lab-1",
         R"({"name": "lab-1", "vswitch": "vsw-lab", "private_ips": ["10.0.3.11"]})", 200, "changed",
         "instance", "lab-1"},
        {"POST", "/v1/eips", R"({"name": "eip-4", "address": "203.0.113.13"})", 201, "added", "eip",
         "eip-4"},
        {"POST", "/v1/nat_gateways/ngw-1/eips/eip-4", "", 200, "changed", "nat_gateway", "ngw-1"},
        {"POST", "/v1/nat_gateways/ngw-1/snat_entries",
         R"({"name": "snat-lab-1", "source": {"instance": "lab-1"}, "eips": ["eip-4"]})", 201,
         "added", "snat_entry", "snat-lab-1"},
        {"PUT", "/v1/nat_gateways/ngw-1/snat_entries/snat-lab-1",
         R"({"name": "snat-lab-1", "source": {"instance": "lab-1"}, "eips": ["eip-4", "eip-1"]})",
         200, "changed", "snat_entry", "snat-lab-1"},
        {"POST", "/v1/nat_gateways/ngw-1/dnat_entries",
         R"({"name": "ssh", "eip": "eip-4", "protocol": "tcp", "public_port": "22", "private_ip": "10.0.3.11", "private_port": "22"})",
         201, "added", "dnat_entry", "ssh"},
        {"PUT", "/v1/nat_gateways/ngw-1/dnat_entries/ssh",
         R"({"name": "ssh", "eip": "eip-4", "protocol": "tcp", "public_port": "222", "private_ip": "10.0.3.11", "private_port": "22"})",
         200, "changed", "dnat_entry", "ssh"},
        {"PUT", "/v1/limits", R"({"dnat_entries_per_nat_gateway": 200})", 200, "changed", "limits",
         "limits"},
        {"PUT", "/v1/vpcs/vpc-prod/vswitches/vsw-b", R"({"name": "vsw-b", "cidr": "10.0.2.0/24"})",
         200, "changed", "vswitch", "vsw-b"},
        {"PUT", "/v1/ipv4_gateways/igw-1",
         R"({"name": "igw-1", "vpc": "vpc-prod", "outside_interface": "veth-wan", "upstream": "198.51.100.1"})",
         200, "removed", "gateway_route", "igw-1:10.0.2.0/24"},
        {"DELETE", "/v1/nat_gateways/ngw-1/dnat_entries/ssh", "", 200, "removed", "dnat_entry",
         "ssh"},
        {"DELETE", "/v1/vpcs/vpc-prod/route_tables/rt-lab/routes/192.0.2.0_24", "", 200, "removed",
         "route", "rt-lab:192.0.2.0/24"},
        {"DELETE", "/v1/nat_gateways/ngw-1/snat_entries/snat-lab-1", "", 200, "removed",
         "snat_entry", "snat-lab-1"},
        {"DELETE", "/v1/vpcs/vpc-prod/instances/lab-1", "", 200, "removed", "instance", "lab-1"},
        {"DELETE", "/v1/vpcs/vpc-prod/vswitches/vsw-lab", "", 200, "removed", "vswitch", "vsw-lab"},
        {"DELETE", "/v1/vpcs/vpc-prod/route_tables/rt-lab", "", 200, "removed", "route_table",
         "rt-lab"},
        {"DELETE", "/v1/nat_gateways/ngw-1/eips/eip-4", "", 200, "changed", "nat_gateway", "ngw-1"},
        {"DELETE", "/v1/eips/eip-4", "", 200, "removed", "eip", "eip-4"},
    };
    std::uint64_t revision = 1;
    for (const auto& w : writes) {
        INFO(w.method << " " << w.target);
        auto response =
            f.call(w.method, w.target, w.body, {{"if-match", fmt::format("\"{}\"", revision)}});
        INFO(response.body);
        REQUIRE(response.status == w.status);
        auto body = body_of(response);
        CHECK(body["changed"] == true);
        CHECK(body["revision"] == revision + 1);
        CHECK(lists(body["plan"][w.plan_list], w.kind, w.name));
        ++revision;
        CHECK(f.store.revision() == revision);
        CHECK(f.plane.applied.size() == revision - 1);
        CHECK(f.plane.applied.back() == f.store.current());
        CHECK(model::validate(f.store.current()).empty());
    }
    CHECK(f.store.current().limits->dnat_entries_per_nat_gateway == 200u);
    CHECK(f.store.current().ipv4_gateways[0].gateway_route_table.empty());
    CHECK(f.store.revisions().back().summary == "DELETE /v1/eips/eip-4");
}

TEST_CASE("a VPC can be created and deleted; deleting one with gateways is refused", "[api]") {
    Fixture f;
    auto refused = f.call("DELETE", "/v1/vpcs/vpc-prod");
    REQUIRE(refused.status == 409);
    auto errors = errors_of(refused);
    CHECK(has_error(errors, "nat_gateways[0].vpc", "nat gateway ngw-1 is in vpc vpc-prod"));
    CHECK(has_error(errors, "ipv4_gateways[0].vpc", "ipv4 gateway igw-1 is in vpc vpc-prod"));
    f.require_untouched();

    auto created = f.call("POST", "/v1/vpcs",
                          R"({"name": "vpc-dev", "cidr": "10.1.0.0/16", "interfaces": ["veth-dev"],
                              "vswitches": [{"name": "vsw-dev", "cidr": "10.1.1.0/24"}]})");
    REQUIRE(created.status == 201);
    CHECK(lists(body_of(created)["plan"]["added"], "vpc", "vpc-dev"));
    CHECK(lists(body_of(created)["plan"]["added"], "vswitch", "vsw-dev"));
    auto deleted = f.call("DELETE", "/v1/vpcs/vpc-dev");
    REQUIRE(deleted.status == 200);
    CHECK(lists(body_of(deleted)["plan"]["removed"], "vswitch", "vsw-dev"));
    CHECK(f.store.current() == design_model());
    CHECK(f.store.revision() == 3);
}

TEST_CASE("NAT gateway delete: entries need force, protection refuses even force", "[api]") {
    Fixture f;
    auto refused = f.call("DELETE", "/v1/nat_gateways/ngw-1");
    REQUIRE(refused.status == 409);
    auto errors = errors_of(refused);
    INFO(errors.dump());
    CHECK(has_error(errors, "nat_gateways[0].snat_entries", "3 SNAT entries"));
    CHECK(has_error(errors, "nat_gateways[0].dnat_entries", "3 DNAT entries"));
    CHECK(has_error(errors, "nat_gateways[0].eips", "3 associated EIPs"));
    CHECK(has_error(errors, "vpcs[0].route_tables[0].routes[0]", "rt-private:0.0.0.0/0"));
    f.require_untouched();

    SECTION("deletion_protection refuses a forced delete until switched off") {
        auto document = model::to_json(design_model());
        document["nat_gateways"][0]["deletion_protection"] = true;
        REQUIRE(
            f.call("PUT", "/v1/nat_gateways/ngw-1", document["nat_gateways"][0].dump()).status ==
            200);
        auto protected_delete = f.call("DELETE", "/v1/nat_gateways/ngw-1?force=1");
        REQUIRE(protected_delete.status == 409);
        CHECK(has_error(errors_of(protected_delete), "nat_gateways[0].deletion_protection",
                        "deletion_protection is on: switch it off first"));
        CHECK(f.store.revision() == 2);
        CHECK(f.store.current().nat_gateways.size() == 1);

        document["nat_gateways"][0]["deletion_protection"] = false;
        REQUIRE(
            f.call("PUT", "/v1/nat_gateways/ngw-1", document["nat_gateways"][0].dump()).status ==
            200);
        CHECK(f.call("DELETE", "/v1/nat_gateways/ngw-1?force=1").status == 200);
        CHECK(f.store.current().nat_gateways.empty());
    }
    SECTION("force removes entries, disassociates EIPs and removes routes to it, saying so") {
        auto forced = f.call("DELETE", "/v1/nat_gateways/ngw-1?force=1");
        INFO(forced.body);
        REQUIRE(forced.status == 200);
        auto plan = body_of(forced)["plan"];
        CHECK(lists(plan["removed"], "nat_gateway", "ngw-1"));
        CHECK(lists(plan["removed"], "snat_entry", "snat-vsw-a"));
        CHECK(lists(plan["removed"], "dnat_entry", "app-ipmap"));
        CHECK(lists(plan["removed"], "route", "rt-private:0.0.0.0/0"));
        REQUIRE(plan["notes"].size() == 3);
        CHECK(plan["notes"][2] ==
              "forced: route rt-private:0.0.0.0/0 removed (it pointed at nat gateway ngw-1)");
        const auto& now = f.store.current();
        CHECK(now.nat_gateways.empty());
        CHECK(now.eips.size() == 3);  // disassociated, not deleted
        CHECK(now.vpcs[0].route_tables[0].routes.empty());
        CHECK(now.vpcs[0].route_tables[1].routes.size() == 1);  // the IPv4 gateway's stays
        CHECK(f.plane.applied.size() == 1);
    }
}

TEST_CASE("EIP associate, disassociate and delete rules", "[api]") {
    Fixture f;
    // eip-2 is used by two SNAT entries: disassociation is refused, naming both.
    auto in_use = f.call("DELETE", "/v1/nat_gateways/ngw-1/eips/eip-2");
    REQUIRE(in_use.status == 409);
    auto errors = errors_of(in_use);
    CHECK(has_error(errors, "nat_gateways[0].snat_entries[0].eips", "snat entry snat-vsw-a uses"));
    CHECK(has_error(errors, "nat_gateways[0].snat_entries[1].eips", "snat entry snat-app-1 uses"));
    auto dnat_in_use = f.call("DELETE", "/v1/nat_gateways/ngw-1/eips/eip-3");
    REQUIRE(dnat_in_use.status == 409);
    CHECK(has_error(errors_of(dnat_in_use), "nat_gateways[0].dnat_entries[2].eip",
                    "dnat entry app-ipmap uses eip eip-3"));
    auto associated = f.call("DELETE", "/v1/eips/eip-1");
    REQUIRE(associated.status == 409);
    CHECK(has_error(errors_of(associated), "nat_gateways[0].eips[0]",
                    "eip eip-1 is associated with nat gateway ngw-1"));
    auto twice = f.call("POST", "/v1/nat_gateways/ngw-1/eips/eip-1");
    REQUIRE(twice.status == 409);
    CHECK(has_error(errors_of(twice), "", "already associated with nat gateway ngw-1"));
    CHECK(f.call("POST", "/v1/nat_gateways/ngw-1/eips/eip-7").status == 404);
    CHECK(f.call("POST", "/v1/nat_gateways/ngw-9/eips/eip-1").status == 404);
    CHECK(f.call("POST", "/v1/nat_gateways/ngw-1/eips/eip-1", R"({"x": 1})").status == 400);
    f.require_untouched();

    // Once its entry is gone, eip-3 can be disassociated, then deleted.
    REQUIRE(f.call("DELETE", "/v1/nat_gateways/ngw-1/dnat_entries/app-ipmap").status == 200);
    REQUIRE(f.call("DELETE", "/v1/nat_gateways/ngw-1/eips/eip-3").status == 200);
    CHECK(ngw(f).eips == std::vector<std::string>{"eip-1", "eip-2"});
    CHECK(f.call("DELETE", "/v1/nat_gateways/ngw-1/eips/eip-3").status == 404);
    REQUIRE(f.call("DELETE", "/v1/eips/eip-3").status == 200);
    CHECK(f.store.current().eips.size() == 2);
    REQUIRE(f.call("POST", "/v1/eips", R"({"name": "eip-3", "address": "203.0.113.12"})").status ==
            201);
    REQUIRE(f.call("POST", "/v1/nat_gateways/ngw-1/eips/eip-3").status == 200);
    CHECK(ngw(f).eips == std::vector<std::string>{"eip-1", "eip-2", "eip-3"});
}

TEST_CASE("IPv4 gateway delete needs a mode: private refuses, public removes routes", "[api]") {
    Fixture f;
    auto no_mode = f.call("DELETE", "/v1/ipv4_gateways/igw-1");
    REQUIRE(no_mode.status == 400);
    CHECK(has_error(errors_of(no_mode), "?mode", "needs ?mode=private"));
    CHECK(f.call("DELETE", "/v1/ipv4_gateways/igw-1?mode=open").status == 400);
    auto private_mode = f.call("DELETE", "/v1/ipv4_gateways/igw-1?mode=private");
    REQUIRE(private_mode.status == 409);
    CHECK(has_error(errors_of(private_mode), "vpcs[0].route_tables[1].routes[0]",
                    "route rt-public:0.0.0.0/0 points at ipv4 gateway igw-1"));
    f.require_untouched();

    SECTION("public: its routes go with it") {
        // The bastion's public_ip still has the NAT gateway to arrive by.
        auto response = f.call("DELETE", "/v1/ipv4_gateways/igw-1?mode=public");
        INFO(response.body);
        REQUIRE(response.status == 200);
        auto plan = body_of(response)["plan"];
        CHECK(lists(plan["removed"], "ipv4_gateway", "igw-1"));
        CHECK(lists(plan["removed"], "route", "rt-public:0.0.0.0/0"));
        CHECK(lists(plan["removed"], "gateway_route", "igw-1:10.0.2.0/24"));
        CHECK(plan["notes"] ==
              json::array({"mode public: route rt-public:0.0.0.0/0 removed with ipv4 gateway igw-1",
                           "mode public: public IPs of vpc vpc-prod have direct internet access "
                           "by veth-wan via 198.51.100.1"}));
        CHECK(lists(plan["changed"], "vpc", "vpc-prod"));
        CHECK(f.store.current().ipv4_gateways.empty());
        CHECK(f.store.current().vpcs[0].route_tables[1].routes.empty());
        const auto* direct = f.store.current().vpcs[0].direct_internet();
        REQUIRE(direct != nullptr);
        CHECK(direct->outside_interface == "veth-wan");
        CHECK(model::to_string(direct->upstream) == "198.51.100.1");
    }
    SECTION("private: allowed once no route points at it") {
        REQUIRE(f.call("PUT", "/v1/vpcs/vpc-prod/route_tables/rt-public/routes/0.0.0.0_0",
                       R"({"destination": "0.0.0.0/0", "next_hop": {"nat_gateway": "ngw-1"}})")
                    .status == 200);
        auto response = f.call("DELETE", "/v1/ipv4_gateways/igw-1?mode=private");
        INFO(response.body);
        REQUIRE(response.status == 200);
        CHECK(body_of(response)["plan"]["notes"] ==
              json::array({"mode private: vpc vpc-prod has no internet path (internet_access "
                           "\"private\"), public IPs and NAT gateways included"}));
        CHECK(f.store.current().ipv4_gateways.empty());
        CHECK(f.store.current().vpcs[0].is_private());

        // A new IPv4 gateway, once enabled, gives the VPC its internet back.
        REQUIRE(f.call("POST", "/v1/ipv4_gateways",
                       R"({"name": "igw-2", "vpc": "vpc-prod", "outside_interface": "veth-wan",
                           "upstream": "198.51.100.1"})")
                    .status == 201);
        CHECK(f.store.current().vpcs[0].is_private());
        auto enabled = f.call("POST", "/v1/ipv4_gateways/igw-2/enable");
        INFO(enabled.body);
        REQUIRE(enabled.status == 200);
        CHECK(body_of(enabled)["plan"]["notes"] ==
              json::array({"vpc vpc-prod is no longer private: an enabled ipv4 gateway gives it "
                           "internet access"}));
        CHECK_FALSE(f.store.current().vpcs[0].internet_access.has_value());
    }
    SECTION("private, then created enabled") {
        REQUIRE(f.call("PUT", "/v1/vpcs/vpc-prod/route_tables/rt-public/routes/0.0.0.0_0",
                       R"({"destination": "0.0.0.0/0", "next_hop": {"nat_gateway": "ngw-1"}})")
                    .status == 200);
        REQUIRE(f.call("DELETE", "/v1/ipv4_gateways/igw-1?mode=private").status == 200);
        auto created = f.call("POST", "/v1/ipv4_gateways",
                              R"({"name": "igw-2", "vpc": "vpc-prod", "enabled": true,
                                  "outside_interface": "veth-wan", "upstream": "198.51.100.1"})");
        INFO(created.body);
        REQUIRE(created.status == 201);
        CHECK_FALSE(f.store.current().vpcs[0].internet_access.has_value());
    }
}

TEST_CASE("IPv4 gateway enable and disable", "[api]") {
    Fixture f;
    auto same = f.call("POST", "/v1/ipv4_gateways/igw-1/enable");
    REQUIRE(same.status == 200);
    CHECK(body_of(same)["changed"] == false);
    f.require_untouched();
    // A disabled gateway carries nothing: refused while a route points at it.
    auto routed = f.call("POST", "/v1/ipv4_gateways/igw-1/disable");
    REQUIRE(routed.status == 422);
    CHECK(has_error(errors_of(routed), "vpcs[0].route_tables[1].routes[0].next_hop.ipv4_gateway",
                    "ipv4 gateway igw-1 is disabled"));
    f.require_untouched();
    REQUIRE(f.call("DELETE", "/v1/vpcs/vpc-prod/route_tables/rt-public/routes/0.0.0.0_0").status ==
            200);
    auto disabled = f.call("POST", "/v1/ipv4_gateways/igw-1/disable");
    REQUIRE(disabled.status == 200);
    CHECK(lists(body_of(disabled)["plan"]["changed"], "ipv4_gateway", "igw-1"));
    CHECK_FALSE(f.store.current().ipv4_gateways[0].is_enabled());
    REQUIRE(f.call("POST", "/v1/ipv4_gateways/igw-1/enable").status == 200);
    CHECK(f.store.current().ipv4_gateways[0].is_enabled());
    CHECK(f.store.revision() == 4);
    CHECK(f.call("POST", "/v1/ipv4_gateways/igw-9/enable").status == 404);
    CHECK(f.call("GET", "/v1/ipv4_gateways/igw-1/enable").status == 405);
}

TEST_CASE("IPv4 gateway lifecycle: created disabled, activated with its route tables", "[api]") {
    Fixture f;
    REQUIRE(f.call("DELETE", "/v1/ipv4_gateways/igw-1?mode=public").status == 200);
    auto created = f.call("POST", "/v1/ipv4_gateways",
                          R"({"name": "igw-2", "vpc": "vpc-prod", "outside_interface": "veth-wan",
                              "upstream": "198.51.100.1"})");
    REQUIRE(created.status == 201);
    REQUIRE(f.store.current().ipv4_gateways.size() == 1);
    CHECK(f.store.current().ipv4_gateways[0].enabled == std::optional<bool>(false));
    const auto revision = f.store.revision();

    // rt-private has 0.0.0.0/0 -> ngw-1: the activation is refused whole, naming it.
    auto refused = f.call("POST", "/v1/ipv4_gateways/igw-2/enable",
                          R"({"route_tables": ["rt-public", "rt-private"]})");
    REQUIRE(refused.status == 409);
    auto errors = errors_of(refused);
    CHECK(errors.size() == 1);
    CHECK(has_error(errors, "vpcs[0].route_tables[0].routes[0]",
                    "route table rt-private already has a default route 0.0.0.0/0 -> "
                    "nat_gateway ngw-1"));
    CHECK(f.store.revision() == revision);
    CHECK(
        f.call("POST", "/v1/ipv4_gateways/igw-2/enable", R"({"route_tables": ["rt-9"]})").status ==
        404);
    CHECK(f.call("POST", "/v1/ipv4_gateways/igw-2/enable", R"({"tables": []})").status == 400);
    CHECK(f.call("POST", "/v1/ipv4_gateways/igw-2/enable", R"({"route_tables": [1]})").status ==
          400);

    auto enabled =
        f.call("POST", "/v1/ipv4_gateways/igw-2/enable", R"({"route_tables": ["rt-public"]})");
    INFO(enabled.body);
    REQUIRE(enabled.status == 200);
    CHECK(f.store.current().ipv4_gateways[0].is_enabled());
    const auto& routes = f.store.current().vpcs[0].route_tables[1].routes;
    REQUIRE(routes.size() == 1);
    CHECK(routes[0].next_hop == model::NextHop{model::Ipv4GatewayHop{"igw-2"}});
    CHECK(body_of(enabled)["plan"]["notes"] ==
          json::array({"route table rt-public: 0.0.0.0/0 -> ipv4 gateway igw-2 added"}));
}

TEST_CASE("EIPs associated with instances: create, re-associate in one PUT, delete refused",
          "[api]") {
    Fixture f;
    REQUIRE(f.call("POST", "/v1/eips",
                   R"({"name": "eip-4", "address": "203.0.113.20", "instance": "web-1"})")
                .status == 201);
    CHECK(f.store.current().eips.back().instance == std::optional<std::string>("web-1"));
    auto moved = f.call("PUT", "/v1/eips/eip-4",
                        R"({"name": "eip-4", "address": "203.0.113.20", "instance": "app-1",
                            "private_ip": "10.0.1.21"})");
    INFO(moved.body);
    REQUIRE(moved.status == 200);
    CHECK(lists(body_of(moved)["plan"]["changed"], "eip", "eip-4"));
    CHECK(f.store.current().eips.back().private_ip == model::parse_ipv4("10.0.1.21").value());
    auto bad = f.call("PUT", "/v1/eips/eip-4",
                      R"({"name": "eip-4", "address": "203.0.113.20", "instance": "bastion"})");
    REQUIRE(bad.status == 422);
    CHECK(has_error(errors_of(bad), "eips[3].instance", "instance bastion has public_ip"));
    auto release = f.call("DELETE", "/v1/eips/eip-4");
    REQUIRE(release.status == 409);
    CHECK(has_error(errors_of(release), "eips[3].instance",
                    "eip eip-4 is associated with instance app-1"));
    REQUIRE(
        f.call("PUT", "/v1/eips/eip-4", R"({"name": "eip-4", "address": "203.0.113.20"})").status ==
        200);
    CHECK(f.call("DELETE", "/v1/eips/eip-4").status == 200);
}

TEST_CASE("PUT /v1/config reports reading and semantic errors at once", "[api]") {
    Fixture f;
    auto document = json::parse(design_text());
    document["nat_gateways"][0]["dnat_entries"][0]["public_port"] = "70000";
    document["nat_gateways"][0]["dnat_entries"][1]["eip"] = "eip-9";
    auto response = f.call("PUT", "/v1/config", document.dump());
    REQUIRE(response.status == 400);
    auto errors = errors_of(response);
    CHECK(errors.size() == 2);
    CHECK(has_error(errors, "nat_gateways[0].dnat_entries[0].public_port", "70000"));
    CHECK(has_error(errors, "nat_gateways[0].dnat_entries[1].eip", "eip eip-9 does not exist"));
    f.require_untouched();
}

TEST_CASE("dry_run answers the plan and changes nothing", "[api]") {
    Fixture f;
    for (const auto* target : {"/v1/eips?dry_run=1", "/v1/eips?dry_run=true", "/v1/eips?dry_run"}) {
        auto response = f.call("POST", target, R"({"name": "eip-4", "address": "203.0.113.13"})");
        INFO(target << ": " << response.body);
        REQUIRE(response.status == 200);
        auto body = body_of(response);
        CHECK(body["dry_run"] == true);
        CHECK(body["changed"] == true);
        CHECK(body["revision"] == 1);
        CHECK(body["kernel"]["elements_added"] == 1);
        CHECK(lists(body["plan"]["added"], "eip", "eip-4"));
    }
    auto forced = f.call("DELETE", "/v1/nat_gateways/ngw-1?force=1&dry_run=1");
    REQUIRE(forced.status == 200);
    CHECK(lists(body_of(forced)["plan"]["removed"], "nat_gateway", "ngw-1"));
    CHECK(f.plane.planned.size() == 4);
    f.require_untouched();
    // dry_run=0 is a real write.
    CHECK(f.call("POST", "/v1/eips?dry_run=0", R"({"name": "eip-4", "address": "203.0.113.13"})")
              .status == 201);
    CHECK(f.store.revision() == 2);
}

TEST_CASE("a failing data plane stores nothing; a failing store puts the kernel back", "[api]") {
    Fixture f;
    const auto body = R"({"name": "eip-4", "address": "203.0.113.13"})";
    f.plane.fail_apply = true;
    auto refused = f.call("POST", "/v1/eips", body);
    // Issue 15: a kernel refusal is 502 (kind kernel_refused), no longer 500.
    REQUIRE(refused.status == 502);
    CHECK(has_error(errors_of(refused), "", "the kernel refused the change: netlink: File exists"));
    CHECK(errors_of(refused)[0]["kind"] == "kernel_refused");
    f.require_untouched();

    f.plane.fail_apply = false;
    f.store.fail_commit = true;
    auto unstored = f.call("POST", "/v1/eips", body);
    REQUIRE(unstored.status == 500);
    CHECK(has_error(errors_of(unstored), "", "storing the change failed: disk full"));
    CHECK(errors_of(unstored)[0]["kind"] == "internal");
    CHECK(f.store.revision() == 1);
    REQUIRE(f.plane.applied.size() == 2);
    CHECK(f.plane.applied[0].eips.size() == 4);
    CHECK(f.plane.applied[1] == design_model());
}

TEST_CASE("revisions, rollback and status", "[api]") {
    Fixture f;
    REQUIRE(f.call("DELETE", "/v1/nat_gateways/ngw-1/dnat_entries/web").status == 200);
    REQUIRE(f.call("DELETE", "/v1/ipv4_gateways/igw-1?mode=public").status == 200);

    auto listed = body_of(f.call("GET", "/v1/revisions"))["revisions"];
    REQUIRE(listed.size() == 3);
    CHECK(listed[2] == json{{"revision", 3},
                            {"time", 1700000003},
                            {"author", "uid 1000"},
                            {"summary", "DELETE /v1/ipv4_gateways/igw-1?mode=public"}});

    CHECK(f.call("POST", "/v1/rollback", R"({"revision": 42})").status == 404);
    CHECK(f.call("POST", "/v1/rollback", R"({"revision": "1"})").status == 400);
    CHECK(f.call("POST", "/v1/rollback", R"({"revision": 1, "why": "x"})").status == 400);
    CHECK(f.call("POST", "/v1/rollback", R"({"revision": 1})", {{"if-match", "2"}}).status == 412);
    CHECK(f.store.revision() == 3);

    auto rolled = f.call("POST", "/v1/rollback", R"({"revision": 1})", {{"if-match", "3"}});
    REQUIRE(rolled.status == 200);
    auto body = body_of(rolled);
    CHECK(body["revision"] == 4);
    CHECK(lists(body["plan"]["added"], "dnat_entry", "web"));
    CHECK(lists(body["plan"]["added"], "ipv4_gateway", "igw-1"));
    CHECK(f.store.current() == design_model());
    CHECK(f.plane.applied.back() == design_model());
    CHECK(f.store.revisions().back().summary == "rollback to 1");

    auto status = f.call("GET", "/v1/status");
    REQUIRE(status.status == 200);
    auto status_body = body_of(status);
    CHECK(status_body["objects"].is_object());  // per-object status: its own test
    status_body.erase("objects");
    CHECK(status_body ==
          json{{"revision", 4}, {"reconcile", {{"state", "in_sync"}}}, {"drift_repairs", 2}});
}

TEST_CASE("plan: a pure diff of two models by kind and name", "[api]") {
    auto before = design_model();
    auto after = before;
    after.vpcs[0].vswitches[1].route_table.reset();
    after.vpcs[0].route_tables[1].routes[0].next_hop = model::Blackhole{};
    after.nat_gateways[0].snat_entries.erase(after.nat_gateways[0].snat_entries.begin());
    after.nat_gateways[0].dnat_entries[0].private_port = model::PortRange{8081, 8081};
    after.limits.reset();
    auto plan = engine::diff(before, after);
    using O = engine::PlanObject;
    CHECK(plan.added.empty());
    CHECK(plan.changed ==
          std::vector<O>{{"vswitch", "vsw-b", "vpcs[0].vswitches[1]"},
                         {"route", "rt-public:0.0.0.0/0", "vpcs[0].route_tables[1].routes[0]"},
                         {"dnat_entry", "web", "nat_gateways[0].dnat_entries[0]"}});
    CHECK(plan.removed ==
          std::vector<O>{{"snat_entry", "snat-vsw-a", "nat_gateways[0].snat_entries[0]"},
                         {"limits", "limits", "limits"}});
    CHECK(engine::diff(before, before).empty());
}

namespace {

json explain(Fixture& f, const std::string& query) {
    auto response = f.call("GET", "/v1/explain?" + query);
    INFO(query << ": " << response.body);
    REQUIRE(response.status == 200);
    return body_of(response);
}

bool mentions(const json& steps, const std::string& part) {
    for (const auto& step : steps)
        if (step.get<std::string>().find(part) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("explain: an EIP associated with an instance, both ways", "[api]") {
    Fixture f;
    REQUIRE(f.call("POST", "/v1/eips",
                   R"({"name": "eip-4", "address": "203.0.113.20", "instance": "app-1",
                       "private_ip": "10.0.1.21"})")
                .status == 201);
    auto out = explain(f, "src=10.0.1.21&dst=8.8.8.8:443&proto=tcp");
    CHECK(out["translation"]["kind"] == "instance_eip");
    CHECK(out["translation"]["eip"]["address"] == "203.0.113.20");
    auto in = explain(f, "src=8.8.8.8&dst=203.0.113.20:22&proto=tcp");
    CHECK(in["translation"]["kind"] == "instance_eip");
    CHECK(in["translation"]["address"] == "10.0.1.21");
    // app-1's other address keeps its SNAT entry.
    CHECK(explain(f, "src=10.0.1.20&dst=8.8.8.8:443&proto=tcp")["translation"]["kind"] !=
          "instance_eip");
}

TEST_CASE("explain egress: SNAT by longest prefix, IP mapping, public IP", "[api]") {
    Fixture f;
    SECTION("a vSwitch SNAT entry with two EIPs and affinity") {
        auto e = explain(f, "src=10.0.1.10&dst=8.8.8.8:443&proto=tcp");
        INFO(e.dump(2));
        CHECK(e["direction"] == "egress");
        CHECK(e["verdict"] == "translated");
        CHECK(e["vswitch"] == "vsw-a");
        CHECK(e["route_table"] == "rt-private");
        CHECK(e["route"] ==
              json{{"destination", "0.0.0.0/0"}, {"next_hop", {{"nat_gateway", "ngw-1"}}}});
        CHECK(e["gateway"] == json{{"kind", "nat_gateway"}, {"name", "ngw-1"}});
        CHECK(e["translation"]["kind"] == "snat_entry");
        CHECK(e["translation"]["entry"] == "snat-vsw-a");
        CHECK(e["translation"]["matching_prefix"] == "10.0.1.0/24");
        CHECK(e["translation"]["eip_affinity"] == true);
        CHECK(e["translation"]["reason"] ==
              "source becomes one of [203.0.113.10, 203.0.113.11] chosen by a hash of the "
              "source address: fixed for 10.0.1.10 (eip_affinity)");
    }
    SECTION("an instance entry (/32) beats its vSwitch's") {
        auto e = explain(f, "src=10.0.1.20&dst=8.8.8.8");
        CHECK(e["translation"]["entry"] == "snat-app-1");
        CHECK(e["translation"]["matching_prefix"] == "10.0.1.20/32");
        CHECK(e["translation"]["eip"] == json{{"name", "eip-2"}, {"address", "203.0.113.11"}});
    }
    SECTION("an IP mapping beats the SNAT entries") {
        auto e = explain(f, "src=10.0.1.21&dst=8.8.8.8");
        CHECK(e["translation"]["kind"] == "ip_mapping");
        CHECK(e["translation"]["entry"] == "app-ipmap");
        CHECK(e["translation"]["eip"] == json{{"name", "eip-3"}, {"address", "203.0.113.12"}});
    }
    SECTION("a public IP, through the IPv4 gateway") {
        auto e = explain(f, "src=10.0.2.5&dst=8.8.8.8");
        CHECK(e["route_table"] == "rt-public");
        CHECK(e["gateway"] == json{{"kind", "ipv4_gateway"}, {"name", "igw-1"}});
        CHECK(e["translation"]["kind"] == "public_ip");
        CHECK(e["translation"]["address"] == "203.0.113.50");
    }
    SECTION("no public IP behind the IPv4 gateway: dropped") {
        auto e = explain(f, "src=10.0.2.6&dst=8.8.8.8");
        CHECK(e["verdict"] == "dropped");
        CHECK_FALSE(e.contains("translation"));
    }
    SECTION("the system route table's implicit default to the first NAT gateway") {
        REQUIRE(f.call("POST", "/v1/vpcs/vpc-prod/vswitches",
                       R"({"name": "vsw-lab", "cidr": "10.0.3.0/24"})")
                    .status == 201);
        auto e = explain(f, "src=10.0.3.7&dst=1.1.1.1&proto=udp");
        INFO(e.dump(2));
        CHECK(e["route_table"] == "vpc-prod/system");
        CHECK(
            mentions(e["steps"], "behaves as if it had one to the VPC's first NAT gateway ngw-1"));
        CHECK(e["translation"]["entry"] == "snat-lab");
        CHECK(e["translation"]["eip"]["address"] == "203.0.113.10");
    }
    SECTION("inside the VPC: no translation") {
        auto e = explain(f, "src=10.0.1.10&dst=10.0.2.5");
        CHECK(e["direction"] == "internal");
        CHECK_FALSE(e.contains("translation"));
    }
}

TEST_CASE("explain ingress: DNAT port offsets, IP mapping, public IP, IPv4 gateway", "[api]") {
    Fixture f;
    SECTION("a port range maps offset by offset") {
        auto e = explain(f, "src=192.0.2.7&dst=203.0.113.10:15&proto=udp");
        INFO(e.dump(2));
        CHECK(e["direction"] == "ingress");
        CHECK(e["verdict"] == "translated");
        CHECK(e["translation"]["kind"] == "dnat_entry");
        CHECK(e["translation"]["entry"] == "games");
        CHECK(e["translation"]["address"] == "10.0.1.10");
        CHECK(e["translation"]["port"] == 85);
        CHECK(e["translation"]["offset"] == 5);
        CHECK(mentions(e["steps"], "DNAT traffic is addressed to the NAT gateway's own EIP"));
    }
    SECTION("a single port") {
        auto e = explain(f, "src=192.0.2.7&dst=203.0.113.10:80");
        CHECK(e["translation"]["entry"] == "web");
        CHECK(e["translation"]["port"] == 8080);
    }
    SECTION("an unpublished port is not forwarded") {
        auto e = explain(f, "src=192.0.2.7&dst=203.0.113.10:81");
        CHECK(e["verdict"] == "dropped");
        CHECK_FALSE(e.contains("translation"));
    }
    SECTION("an IP mapping takes every protocol, ICMP included") {
        auto e = explain(f, "src=192.0.2.7&dst=203.0.113.12&proto=icmp");
        CHECK(e["translation"]["kind"] == "ip_mapping");
        CHECK(e["translation"]["address"] == "10.0.1.21");
    }
    SECTION("ping to an EIP without IP mapping is answered by the gateway") {
        CHECK(explain(f, "src=192.0.2.7&dst=203.0.113.11&proto=icmp")["verdict"] ==
              "answered_by_gateway");
    }
    SECTION("a public IP, let in by the IPv4 gateway's local route") {
        auto e = explain(f, "src=192.0.2.7&dst=203.0.113.50:22");
        CHECK(e["translation"]["kind"] == "public_ip");
        CHECK(e["translation"]["address"] == "10.0.2.5");
        CHECK(e["route"] == json{{"destination", "10.0.2.0/24"}, {"next_hop", "local"}});
        CHECK(e["verdict"] == "translated");
    }
    SECTION("a private address from outside: the IPv4 gateway's table decides") {
        auto steered = explain(f, "src=192.0.2.7&dst=10.0.1.10:22");
        CHECK(steered["verdict"] == "forwarded");
        CHECK(mentions(steered["steps"], "steers it to instance web-1"));
        // Disabling needs the route to it gone first (a disabled gateway carries nothing).
        REQUIRE(
            f.call("DELETE", "/v1/vpcs/vpc-prod/route_tables/rt-public/routes/0.0.0.0_0").status ==
            200);
        REQUIRE(f.call("POST", "/v1/ipv4_gateways/igw-1/disable").status == 200);
        CHECK(explain(f, "src=192.0.2.7&dst=10.0.1.10:22")["verdict"] == "dropped");
    }
    SECTION("addresses natctl does not own") {
        auto e = explain(f, "src=192.0.2.7&dst=198.18.0.1");
        CHECK(e["direction"] == "none");
        CHECK(e["verdict"] == "not_natctl");
        CHECK(mentions(e["steps"], "is natctl's"));
    }
}

TEST_CASE("explain refuses malformed queries", "[api]") {
    Fixture f;
    for (const auto* query :
         {"src=10.0.1.10&dst=8.8.8.8:0", "src=10.0.1&dst=8.8.8.8",
          "src=10.0.1.10&dst=8.8.8.8&proto=sctp", "src=10.0.1.10&dst=8.8.8.8:53&proto=icmp"}) {
        INFO(query);
        auto response = f.call("GET", std::string("/v1/explain?") + query);
        CHECK(response.status == 400);
        errors_of(response);
    }
}

TEST_CASE("status lists each gateway and entry with its status and the routes to it", "[api]") {
    Fixture f;
    auto response = f.call("GET", "/v1/status");
    REQUIRE(response.status == 200);
    const auto objects = body_of(response)["objects"];
    const auto& ngw = objects["nat_gateways"][0];
    CHECK(ngw["name"] == "ngw-1");
    CHECK(ngw["status"] == "Available");
    CHECK(ngw["reason"].is_null());
    CHECK(ngw["routes"] ==
          json::array({"rt-private:0.0.0.0/0", "vpc-prod/system:0.0.0.0/0 (implicit)"}));
    CHECK(ngw["snat_entries"].size() == 3);
    CHECK(ngw["dnat_entries"][0] ==
          json({{"name", "web"}, {"status", "Available"}, {"reason", nullptr}}));
    CHECK(objects["ipv4_gateways"][0] == json({{"name", "igw-1"},
                                               {"routes", {"rt-public:0.0.0.0/0"}},
                                               {"status", "Active"},
                                               {"reason", nullptr}}));

    // A disabled IPv4 gateway is Available (created, traffic untouched).
    auto disabled_model = design_model();
    disabled_model.vpcs[0].route_tables[1].routes.clear();
    disabled_model.ipv4_gateways[0].enabled = false;
    const auto disabled = api::object_status(disabled_model, body_of(response));
    CHECK(disabled["ipv4_gateways"][0]["status"] == "Available");
    CHECK(disabled["ipv4_gateways"][0]["routes"].empty());

    // The kernel does not hold the stored model: everything Failed, with the reason.
    const json failed_plane = {{"reconcile", {{"state", "failed"}, {"last_error", "EPERM"}}}};
    const auto failed = api::object_status(design_model(), failed_plane);
    CHECK(failed["nat_gateways"][0]["status"] == "Failed");
    CHECK(failed["nat_gateways"][0]["snat_entries"][1]["reason"] ==
          "the kernel does not hold the stored model: EPERM");
    CHECK(failed["ipv4_gateways"][0]["status"] == "Failed");
}
