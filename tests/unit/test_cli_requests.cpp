// The imperative verbs of natctl mapped onto the API (docs/API.md): method, target, body.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "cli/exit_codes.hpp"
#include "cli/object_commands.hpp"
#include "cli/object_requests.hpp"

namespace {

using namespace natctl::cli;
using nlohmann::json;

json quickstart() {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/examples/quickstart.json");
    REQUIRE(file.good());
    std::stringstream content;
    content << file.rdbuf();
    return json::parse(content.str());
}

ObjectCommand command(Kind kind, Verb verb, std::string name, std::string parent = {}) {
    ObjectCommand out;
    out.kind = kind;
    out.verb = verb;
    out.name = std::move(name);
    out.parent = std::move(parent);
    return out;
}

ApiRequest request_of(const ObjectCommand& cmd, const json& model = json::object()) {
    auto request = build_request(cmd, model);
    INFO((request ? std::string() : request.error().message));
    REQUIRE(request.has_value());
    return *request;
}

CommandError error_of(const ObjectCommand& cmd, const json& model = json::object()) {
    auto request = build_request(cmd, model);
    REQUIRE_FALSE(request.has_value());
    return request.error();
}

}  // namespace

TEST_CASE("cli: dnat create builds the entry from flags", "[cli]") {
    auto cmd = command(Kind::Dnat, Verb::Create, "web", "ngw-1");
    cmd.fields = {{"eip", {"eip-1"}},
                  {"protocol", {"tcp"}},
                  {"public_port", {"80"}},
                  {"private_ip", {"10.0.1.10"}},
                  {"private_port", {"8080"}}};
    CHECK(request_of(cmd) == ApiRequest{"POST", "/v1/nat_gateways/ngw-1/dnat_entries",
                                        json{{"name", "web"},
                                             {"eip", "eip-1"},
                                             {"protocol", "tcp"},
                                             {"public_port", "80"},
                                             {"private_ip", "10.0.1.10"},
                                             {"private_port", "8080"}}});
    cmd.dry_run = true;
    CHECK(request_of(cmd).target == "/v1/nat_gateways/ngw-1/dnat_entries?dry_run=1");
}

TEST_CASE("cli: create from a file, flags override its fields", "[cli]") {
    auto cmd = command(Kind::Eip, Verb::Create, "eip-3");
    cmd.file_body = json{{"name", "eip-3"}, {"address", "203.0.113.99"}};
    cmd.fields = {{"address", {"203.0.113.12"}}};
    CHECK(request_of(cmd) ==
          ApiRequest{"POST", "/v1/eips", json{{"name", "eip-3"}, {"address", "203.0.113.12"}}});

    cmd.file_body = json{{"name", "other"}, {"address", "203.0.113.12"}};
    const auto mismatch = error_of(cmd);
    CHECK(mismatch.exit_code == kExitUsage);
    CHECK(mismatch.message.find("other") != std::string::npos);

    cmd.file_body = json::array();
    CHECK(error_of(cmd).exit_code == kExitUsage);
}

TEST_CASE("cli: modify starts from the current object and changes only the flags", "[cli]") {
    const json model = quickstart();
    auto cmd = command(Kind::Dnat, Verb::Modify, "web-http", "ngw-demo");
    cmd.fields = {{"private_port", {"8081"}}};
    json expected = model["nat_gateways"][0]["dnat_entries"][0];
    expected["private_port"] = "8081";
    CHECK(request_of(cmd, model) ==
          ApiRequest{"PUT", "/v1/nat_gateways/ngw-demo/dnat_entries/web-http", expected});

    auto gateway = command(Kind::Gateway, Verb::Modify, "ngw-demo");
    gateway.fields = {{"deletion_protection", {"on"}}, {"port_budget_per_eip", {"30000"}}};
    const auto request = request_of(gateway, model);
    CHECK(request.target == "/v1/nat_gateways/ngw-demo");
    REQUIRE(request.body.has_value());
    CHECK((*request.body)["deletion_protection"] == true);
    CHECK((*request.body)["port_budget_per_eip"] == 30000);
    CHECK((*request.body)["snat_entries"] == model["nat_gateways"][0]["snat_entries"]);

    auto missing = command(Kind::Dnat, Verb::Modify, "nope", "ngw-demo");
    missing.fields = {{"private_port", {"1"}}};
    const auto not_found = error_of(missing, model);
    CHECK(not_found.exit_code == kExitRefused);
    CHECK(not_found.message == "no DNAT entry named nope in NAT gateway ngw-demo");

    CHECK(error_of(command(Kind::Dnat, Verb::Modify, "web-http", "ngw-demo"), model).exit_code ==
          kExitUsage);
}

TEST_CASE("cli: field values are typed from their flags", "[cli]") {
    auto snat = command(Kind::Snat, Verb::Create, "snat-lab", "ngw-1");
    snat.fields = {{"source", {"cidr:10.0.3.0/24"}},
                   {"eips", {"eip-1,eip-2", "eip-3"}},
                   {"eip_affinity", {"off"}}};
    CHECK(request_of(snat).body == json{{"name", "snat-lab"},
                                        {"source", {{"cidr", "10.0.3.0/24"}}},
                                        {"eips", {"eip-1", "eip-2", "eip-3"}},
                                        {"eip_affinity", false}});

    auto bad_number = command(Kind::Gateway, Verb::Create, "ngw");
    bad_number.fields = {{"port_budget_per_eip", {"lots"}}};
    CHECK(error_of(bad_number).message ==
          "--port-budget-per-eip: lots is not a non-negative integer");

    auto bad_bool = command(Kind::Gateway, Verb::Create, "ngw");
    bad_bool.fields = {{"icmp_echo_reply", {"maybe"}}};
    CHECK(error_of(bad_bool).exit_code == kExitUsage);

    auto foreign = command(Kind::Eip, Verb::Create, "e");
    foreign.fields = {{"protocol", {"tcp"}}};
    CHECK(error_of(foreign).exit_code == kExitUsage);
}

TEST_CASE("cli: deletes carry force and mode as the API wants them", "[cli]") {
    CHECK(request_of(command(Kind::Dnat, Verb::Delete, "web", "ngw-1")) ==
          ApiRequest{"DELETE", "/v1/nat_gateways/ngw-1/dnat_entries/web", std::nullopt});
    auto gateway = command(Kind::Gateway, Verb::Delete, "ngw-1");
    CHECK(request_of(gateway).target == "/v1/nat_gateways/ngw-1");
    gateway.force = true;
    gateway.dry_run = true;
    CHECK(request_of(gateway).target == "/v1/nat_gateways/ngw-1?force=1&dry_run=1");

    auto igw = command(Kind::Ipv4Gateway, Verb::Delete, "igw-1");
    igw.delete_mode = "public";
    CHECK(request_of(igw).target == "/v1/ipv4_gateways/igw-1?mode=public");
    igw.delete_mode = "later";
    CHECK(error_of(igw).exit_code == kExitUsage);
}

TEST_CASE("cli: associate, enable and friends address sub-resources", "[cli]") {
    CHECK(request_of(command(Kind::Eip, Verb::Associate, "eip-3", "ngw-1")) ==
          ApiRequest{"POST", "/v1/nat_gateways/ngw-1/eips/eip-3", std::nullopt});
    CHECK(request_of(command(Kind::Eip, Verb::Disassociate, "eip-3", "ngw-1")) ==
          ApiRequest{"DELETE", "/v1/nat_gateways/ngw-1/eips/eip-3", std::nullopt});
    CHECK(request_of(command(Kind::Ipv4Gateway, Verb::Enable, "igw-1")) ==
          ApiRequest{"POST", "/v1/ipv4_gateways/igw-1/enable", std::nullopt});
    CHECK(request_of(command(Kind::Ipv4Gateway, Verb::Disable, "igw-1")).target ==
          "/v1/ipv4_gateways/igw-1/disable");
    CHECK(error_of(command(Kind::Dnat, Verb::Enable, "web", "ngw-1")).exit_code == kExitUsage);
    // A name with a slash stays one path segment.
    CHECK(request_of(command(Kind::Eip, Verb::Delete, "a/b")).target == "/v1/eips/a%2Fb");
}

TEST_CASE("cli: routes are added with a next hop and deleted by destination", "[cli]") {
    auto add = command(Kind::RouteTable, Verb::Add, "", "vpc-prod");
    add.table = "rt-private";
    add.destination = "0.0.0.0/0";
    add.next_hop = "nat-gateway:ngw-1";
    CHECK(request_of(add) ==
          ApiRequest{"POST", "/v1/vpcs/vpc-prod/route_tables/rt-private/routes",
                     json{{"destination", "0.0.0.0/0"}, {"next_hop", {{"nat_gateway", "ngw-1"}}}}});

    auto remove = add;
    remove.verb = Verb::Delete;
    CHECK(request_of(remove) ==
          ApiRequest{"DELETE", "/v1/vpcs/vpc-prod/route_tables/rt-private/routes/0.0.0.0_0",
                     std::nullopt});

    remove.destination = "10.0.0.1";
    CHECK(error_of(remove).exit_code == kExitUsage);
    add.next_hop = "router:r1";
    CHECK(error_of(add).exit_code == kExitUsage);
}

TEST_CASE("cli: next hops and SNAT sources parse from KIND:NAME", "[cli]") {
    CHECK(parse_next_hop("blackhole") == json("blackhole"));
    CHECK(parse_next_hop("gateway:ngw") == json{{"nat_gateway", "ngw"}});
    CHECK(parse_next_hop("ipv4_gateway:igw") == json{{"ipv4_gateway", "igw"}});
    CHECK(parse_next_hop("instance:fw-1") == json{{"instance", "fw-1"}});
    CHECK_FALSE(parse_next_hop("instance:").has_value());
    CHECK_FALSE(parse_next_hop("ngw").has_value());

    CHECK(parse_source("vswitch:vsw-a") == json{{"vswitch", "vsw-a"}});
    CHECK(parse_source("10.0.3.0/24") == json{{"cidr", "10.0.3.0/24"}});
    CHECK(parse_source("instance:app-1") == json{{"instance", "app-1"}});
    CHECK_FALSE(parse_source("subnet:x").has_value());
    CHECK_FALSE(parse_source("vsw-a").has_value());
}

TEST_CASE("cli: gateway delete --force help says EIPs are disassociated, not released", "[cli]") {
    // A forced delete only disassociates the gateway's EIPs (the API keeps them allocated);
    // the help must not promise a release.
    CLI::App app{"natctl"};
    GlobalOptions globals;
    int exit_code = 0;
    add_object_commands(app, globals, exit_code);
    auto* remove = app.get_subcommand("gateway")->get_subcommand("delete");
    const auto description = remove->get_option("--force")->get_description();
    CHECK(description.find("disassociate") != std::string::npos);
    CHECK(description.find("release its EIPs") == std::string::npos);
    CHECK(remove->help().find("disassociate its EIPs") != std::string::npos);
}

TEST_CASE("cli: eip associate --instance moves the EIP in one PUT", "[cli]") {
    auto model = quickstart();
    model["eips"].push_back({{"name", "eip-4"}, {"address", "203.0.113.20"}});
    auto associate = command(Kind::Eip, Verb::Associate, "eip-4");
    associate.instance = "app-1";
    associate.private_ip = "10.0.2.10";
    CHECK(request_of(associate, model) == ApiRequest{"PUT", "/v1/eips/eip-4",
                                                     json{{"name", "eip-4"},
                                                          {"address", "203.0.113.20"},
                                                          {"instance", "app-1"},
                                                          {"private_ip", "10.0.2.10"}}});

    // Re-association: the object as it is, with the new instance; private_ip defaults.
    model["eips"].back()["instance"] = "app-1";
    model["eips"].back()["private_ip"] = "10.0.2.10";
    associate.instance = "app-2";
    associate.private_ip.clear();
    CHECK(request_of(associate, model).body ==
          json{{"name", "eip-4"}, {"address", "203.0.113.20"}, {"instance", "app-2"}});

    auto disassociate = command(Kind::Eip, Verb::Disassociate, "eip-4");
    disassociate.from_instance = true;
    CHECK(request_of(disassociate, model).body ==
          json{{"name", "eip-4"}, {"address", "203.0.113.20"}});

    associate.parent = "ngw-demo";
    CHECK(error_of(associate, model).exit_code == kExitUsage);
    auto neither = command(Kind::Eip, Verb::Associate, "eip-4");
    CHECK(error_of(neither, model).exit_code == kExitUsage);
    disassociate = command(Kind::Eip, Verb::Disassociate, "eip-web");
    disassociate.from_instance = true;
    CHECK(error_of(disassociate, model).exit_code == kExitRefused);
}
