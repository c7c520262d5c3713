// natctl's output: refusals as `path: reason`, plans, status / explain / revisions, the
// tables of `natctl get`, and the selection of objects from the model JSON.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "cli/api_format.hpp"
#include "cli/model_view.hpp"
#include "cli/text_table.hpp"
#include "controller/model/validate.hpp"

namespace {

using namespace natctl::cli;
using nlohmann::json;

json example(const std::string& name) {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/examples/" + name);
    REQUIRE(file.good());
    std::stringstream content;
    content << file.rdbuf();
    return json::parse(content.str());
}

}  // namespace

TEST_CASE("cli: local validation errors print as path: reason", "[cli]") {
    auto model =
        natctl::model::load_model(R"({"version": 1, "eips": [{"name": "e", "address": "1.2.3"}]})");
    REQUIRE_FALSE(model.has_value());
    const auto lines = error_lines(model.error());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].starts_with("eips[0].address: "));

    auto syntax = natctl::model::load_model("{");
    REQUIRE_FALSE(syntax.has_value());
    CHECK(error_lines(syntax.error()).front().starts_with("(document): "));
}

TEST_CASE("cli: the daemon's refusals print as path: reason", "[cli]") {
    const std::string body = R"({"errors": [
        {"path": "nat_gateways[0].dnat_entries[1].private_port", "reason": "range length 11 differs"},
        {"path": "", "reason": "whole document"}]})";
    CHECK(answer_error_lines(422, body) ==
          std::vector<std::string>{
              "nat_gateways[0].dnat_entries[1].private_port: range length 11 differs",
              "(document): whole document"});
    // Not the documented form: still one line, never silence.
    CHECK(answer_error_lines(500, "kernel on fire\n") ==
          std::vector<std::string>{"natctld answered HTTP 500: kernel on fire"});
    CHECK(answer_error_lines(404, "") == std::vector<std::string>{"natctld answered HTTP 404"});
    CHECK(answer_error_lines(409, R"({"errors": []})") ==
          std::vector<std::string>{"natctld answered HTTP 409: {\"errors\": []}"});
}

TEST_CASE("cli: a plan prints one line per object, then the revision", "[cli]") {
    const json answer = json::parse(R"({
        "revision": 8, "changed": true, "kernel": {},
        "plan": {
          "added": [{"kind": "dnat_entry", "name": "web", "path": "nat_gateways[0].dnat_entries[0]"}],
          "changed": [{"kind": "nat_gateway", "name": "ngw-1", "path": "nat_gateways[0]"}],
          "removed": [{"kind": "snat_entry", "name": "old", "path": "nat_gateways[0].snat_entries[2]"}],
          "notes": ["forced: eips eip-1 disassociated from nat gateway ngw-1"]}})");
    CHECK(format_write_result(answer, false) ==
          "+ dnat_entry web (nat_gateways[0].dnat_entries[0])\n"
          "~ nat_gateway ngw-1 (nat_gateways[0])\n"
          "- snat_entry old (nat_gateways[0].snat_entries[2])\n"
          "note: forced: eips eip-1 disassociated from nat gateway ngw-1\n"
          "revision 8\n");
    CHECK(format_write_result(answer, true)
              .ends_with("dry run: nothing was applied (current revision 8)\n"));

    const json unchanged = json::parse(
        R"({"revision": 3, "changed": false, "plan": {"added": [], "changed": [], "removed": []}})");
    CHECK(format_write_result(unchanged, false) == "no changes (revision 3)\n");
    CHECK(format_write_result(unchanged, true) == "no changes (revision 3)\n");
}

TEST_CASE("cli: ETags carry the revision", "[cli]") {
    CHECK(revision_of_etag("\"42\"") == 42u);
    CHECK(revision_of_etag("42") == 42u);
    CHECK(revision_of_etag("W/\"7\"") == 7u);
    CHECK_FALSE(revision_of_etag("").has_value());
    CHECK_FALSE(revision_of_etag("\"\"").has_value());
    CHECK_FALSE(revision_of_etag("\"4x\"").has_value());
    const std::string message = stale_revision_message("\"12\"");
    CHECK(message.find("changed while this command ran") != std::string::npos);
    CHECK(message.find("revision 12") != std::string::npos);
}

TEST_CASE("cli: names are percent-encoded in paths and queries", "[cli]") {
    CHECK(url_encode("web-http_1.x~") == "web-http_1.x~");
    CHECK(url_encode("vpc/system") == "vpc%2Fsystem");
    CHECK(url_encode("a b?c&d") == "a%20b%3Fc%26d");
    CHECK(url_encode("198.51.100.7:443") == "198.51.100.7:443");
}

TEST_CASE("cli: tables align columns and show missing cells as -", "[cli]") {
    TextTable table({"NAME", "ADDRESS"});
    table.add_row({"eip-egress", "203.0.113.10"});
    table.add_row({"e", ""});
    CHECK(table.render() ==
          "NAME        ADDRESS\n"
          "eip-egress  203.0.113.10\n"
          "e           -\n");
    CHECK(render_pairs({{"revision", "4"}, {"drift repairs", ""}}) ==
          "revision       4\n"
          "drift repairs  -\n");
}

TEST_CASE("cli: status lists the documented fields first, then any others", "[cli]") {
    const json status = json::parse(R"({
        "drift_repairs": 2, "zz_future": "x", "revision": 5,
        "reconcile": {"state": "in_sync", "last_error": null},
        "kernel_features": {"flowtable": false, "message": "no nf_flow_table"}})");
    CHECK(format_status(status) ==
          "revision                   5\n"
          "reconcile last error       -\n"
          "reconcile state            in_sync\n"
          "kernel features flowtable  no\n"
          "kernel features message    no nf_flow_table\n"
          "drift repairs              2\n"
          "zz future                  x\n");
}

TEST_CASE("cli: explain prints the decision, then numbered steps", "[cli]") {
    const json explanation = json::parse(R"({
        "direction": "egress", "route_table": "rt-nat",
        "route": {"destination": "0.0.0.0/0", "next_hop": {"nat_gateway": "ngw-demo"}},
        "gateway": {"kind": "nat_gateway", "name": "ngw-demo"},
        "translation": {"kind": "snat_entry", "entry": "snat-vsw-app",
                        "eips": [{"name": "eip-egress", "address": "203.0.113.10"}]},
        "steps": ["10.0.2.10 is in vswitch vsw-app", "next hop: nat gateway ngw-demo"]})");
    const std::string text = format_explain(explanation);
    CHECK(text ==
          "direction          egress\n"
          "route table        rt-nat\n"
          "route destination  0.0.0.0/0\n"
          "route next hop     nat_gateway ngw-demo\n"
          "gateway            nat_gateway ngw-demo\n"
          "translation eips   eip-egress (203.0.113.10)\n"
          "translation entry  snat-vsw-app\n"
          "translation kind   snat_entry\n"
          "steps:\n"
          "  1. 10.0.2.10 is in vswitch vsw-app\n"
          "  2. next hop: nat gateway ngw-demo\n");
}

TEST_CASE("cli: revisions mark the current one and show UTC times", "[cli]") {
    const json revisions = json::parse(R"({"revisions": [
        {"revision": 1, "time": 0, "author": "uid 0", "summary": "PUT /v1/config"},
        {"revision": 2, "time": 86400, "author": "uid 0", "summary": "rollback to 1"}]})");
    CHECK(format_revisions(revisions) ==
          "REVISION     TIME                     AUTHOR  SUMMARY\n"
          "1            1970-01-01 00:00:00 UTC  uid 0   PUT /v1/config\n"
          "2 (current)  1970-01-02 00:00:00 UTC  uid 0   rollback to 1\n");
}

TEST_CASE("cli: kinds parse with their aliases", "[cli]") {
    CHECK(parse_kind("gateway") == Kind::Gateway);
    CHECK(parse_kind("nat-gateway") == Kind::Gateway);
    CHECK(parse_kind("route-table") == Kind::RouteTable);
    CHECK(parse_kind("dnat_entry") == Kind::Dnat);
    CHECK(parse_kind("ipv4-gateway") == Kind::Ipv4Gateway);
    CHECK_FALSE(parse_kind("gateways-please").has_value());
    for (const auto& name : kind_cli_names())
        CHECK(parse_kind(name).has_value());
}

TEST_CASE("cli: objects are selected from the model by kind, name and parent", "[cli]") {
    const json model = example("quickstart.json");

    auto all_dnat = select_objects(model, Kind::Dnat, std::nullopt, std::nullopt);
    REQUIRE(all_dnat.has_value());
    REQUIRE(all_dnat->size() == 1);
    CHECK(all_dnat->front().parent == "ngw-demo");
    CHECK(all_dnat->front().object == model["nat_gateways"][0]["dnat_entries"][0]);

    auto web = select_objects(model, Kind::Dnat, "web-http", "ngw-demo");
    REQUIRE(web.has_value());
    CHECK(web->front().object["private_port"] == "8080");

    auto missing = select_objects(model, Kind::Dnat, "nope", "ngw-demo");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error() == "no DNAT entry named nope in NAT gateway ngw-demo");

    auto unknown_parent = select_objects(model, Kind::VSwitch, std::nullopt, "vpc-typo");
    REQUIRE_FALSE(unknown_parent.has_value());
    CHECK(unknown_parent.error() == "no VPC named vpc-typo");

    auto vswitches = select_objects(model, Kind::VSwitch, std::nullopt, "vpc-demo");
    REQUIRE(vswitches.has_value());
    CHECK(vswitches->size() == 2);

    // The same entry name under two gateways cannot be told apart without --gateway.
    json twice = model;
    json second = twice["nat_gateways"][0];
    second["name"] = "ngw-two";
    twice["nat_gateways"].push_back(second);
    auto ambiguous = select_objects(twice, Kind::Dnat, "web-http", std::nullopt);
    REQUIRE_FALSE(ambiguous.has_value());
    CHECK(ambiguous.error().find("ngw-demo, ngw-two") != std::string::npos);
    CHECK(select_objects(twice, Kind::Dnat, "web-http", "ngw-two").has_value());

    CHECK_FALSE(select_objects(model, Kind::Limits, "x", std::nullopt).has_value());
    CHECK_FALSE(select_objects(model, Kind::Eip, std::nullopt, "ngw-demo").has_value());
}

TEST_CASE("cli: get tables show the fields people look for", "[cli]") {
    const json model = example("quickstart.json");
    auto dnat = select_objects(model, Kind::Dnat, std::nullopt, std::nullopt);
    REQUIRE(dnat.has_value());
    CHECK(render_objects(Kind::Dnat, *dnat, model) ==
          "GATEWAY   NAME      EIP      PROTOCOL  PUBLIC PORT  PRIVATE\n"
          "ngw-demo  web-http  eip-web  tcp       80           10.0.1.10:8080\n");

    auto eips = select_objects(model, Kind::Eip, std::nullopt, std::nullopt);
    REQUIRE(eips.has_value());
    CHECK(render_objects(Kind::Eip, *eips, model) ==
          "NAME        ADDRESS       GATEWAY   INSTANCE\n"
          "eip-egress  203.0.113.10  ngw-demo  -\n"
          "eip-web     203.0.113.11  ngw-demo  -\n");

    auto routes = select_objects(model, Kind::RouteTable, std::nullopt, std::nullopt);
    REQUIRE(routes.has_value());
    CHECK(render_objects(Kind::RouteTable, *routes, model) ==
          "VPC       TABLE   DESTINATION  NEXT HOP\n"
          "vpc-demo  rt-nat  0.0.0.0/0    nat_gateway ngw-demo\n");

    auto limits = select_objects(model, Kind::Limits, std::nullopt, std::nullopt);
    REQUIRE(limits.has_value());
    CHECK(render_objects(Kind::Limits, *limits, model)
              .find("nat_gateways_per_vpc          5 (default)") != std::string::npos);

    const std::string whole = render_model(model);
    for (const char* title : {"VPCs\n", "vSwitches\n", "Instances\n", "EIPs\n", "NAT gateways\n",
                              "SNAT entries\n", "DNAT entries\n"})
        CHECK(whole.find(title) != std::string::npos);
    CHECK(whole.find("IPv4 gateways") == std::string::npos);  // none in the quickstart
}

TEST_CASE("cli: status prints the host's warnings one per line, after the figures", "[cli]") {
    const json status = json::parse(R"({"revision": 2,
        "host": {"settings": "check", "values": {"ip_forward": 0},
                 "warnings": ["net.ipv4.ip_forward is 0, wanted 1: no forwarding",
                              "net.netfilter.nf_conntrack_max is 10, wanted at least 20: small"]}})");
    CHECK(format_status(status) ==
          "revision                2\n"
          "host settings           check\n"
          "host values ip forward  0\n"
          "host warnings:\n"
          "  - net.ipv4.ip_forward is 0, wanted 1: no forwarding\n"
          "  - net.netfilter.nf_conntrack_max is 10, wanted at least 20: small\n");
}

TEST_CASE("cli: status ends with one row per gateway and entry", "[cli]") {
    const json status = json::parse(R"({"revision": 5, "objects": {
        "nat_gateways": [{"name": "ngw-1", "status": "Available", "reason": null,
                          "routes": ["rt-nat:0.0.0.0/0", "rt-b:192.0.2.0/24"],
                          "snat_entries": [{"name": "s", "status": "Available", "reason": null}],
                          "dnat_entries": []}],
        "ipv4_gateways": [{"name": "igw-1", "status": "Available", "routes": [],
                           "reason": "disabled"}]}})");
    CHECK(format_status(status) ==
          "revision  5\n"
          "\n"
          "KIND          NAME     STATUS     ROUTES                               REASON\n"
          "nat_gateway   ngw-1    Available  rt-nat:0.0.0.0/0, rt-b:192.0.2.0/24  -\n"
          "snat_entry    ngw-1/s  Available  -                                    -\n"
          "ipv4_gateway  igw-1    Available  -                                    disabled\n");
}
