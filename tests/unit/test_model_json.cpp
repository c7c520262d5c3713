// JSON form of the model: the DESIGN.md example, exact round-trips, and every JSON-level
// error with its path.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "controller/model/addr.hpp"
#include "controller/model/json.hpp"
#include "controller/model/validate.hpp"

namespace {

using natctl::model::Error;
using natctl::model::Errors;
using nlohmann::json;

std::string read_fixture(const std::string& name) {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/tests/data/model/" + name);
    REQUIRE(file.good());
    std::stringstream content;
    content << file.rdbuf();
    return content.str();
}

std::string show(const Errors& errors) {
    std::string text;
    for (const auto& error : errors)
        text += fmt::format("  {}: {}\n", error.path, error.reason);
    return text;
}

// The JSON-level errors of a document; fails the test when it parses.
// Also checks that reading the document's text as it streams finds exactly the same.
Errors json_errors(const json& document) {
    auto model = natctl::model::from_json(document);
    REQUIRE_FALSE(model.has_value());
    auto whole = natctl::model::read_model(document);
    auto streamed = natctl::model::read_model(std::string_view(document.dump()));
    REQUIRE(streamed.has_value());
    CHECK(streamed->errors == whole.errors);
    CHECK(streamed->unread == whole.unread);
    CHECK(streamed->model == whole.model);
    return model.error();
}

json document_with(const std::string& pointer, const json& value) {
    json document = json::parse(R"({
      "version": 1,
      "vpcs": [{"name": "vpc-a", "cidr": "10.0.0.0/16", "interfaces": ["veth-a"],
                "vswitches": [{"name": "vsw-a", "cidr": "10.0.1.0/24"},
                              {"name": "vsw-b", "cidr": "10.0.2.0/24"}],
                "instances": [{"name": "i-1", "vswitch": "vsw-a", "private_ips": ["10.0.1.5"]}],
                "route_tables": [{"name": "rt", "routes": [
                    {"destination": "0.0.0.0/0", "next_hop": {"nat_gateway": "ngw"}}]}]}],
      "eips": [{"name": "eip-1", "address": "203.0.113.10"}],
      "nat_gateways": [{"name": "ngw", "vpc": "vpc-a", "outside_interface": "wan",
                        "upstream": "198.51.100.1", "eips": ["eip-1"],
                        "snat_entries": [{"name": "s", "source": {"vpc": "vpc-a"},
                                          "eips": ["eip-1"]}],
                        "dnat_entries": [{"name": "d", "eip": "eip-1", "protocol": "tcp",
                                          "public_port": "80", "private_ip": "10.0.1.5",
                                          "private_port": "8080"}]}],
      "ipv4_gateways": [{"name": "igw", "vpc": "vpc-a", "outside_interface": "wan",
                         "upstream": "198.51.100.1",
                         "gateway_route_table": [{"destination": "10.0.1.0/24",
                                                  "next_hop": "local"}]}]
    })");
    if (value.is_discarded())
        document.at(json::json_pointer(pointer).parent_pointer())
            .erase(json::json_pointer(pointer).back());
    else
        document[json::json_pointer(pointer)] = value;
    return document;
}

// Marker for document_with: remove the field instead of setting it.
const json kRemove = json(json::value_t::discarded);

}  // namespace

TEST_CASE("DESIGN.md example parses, validates clean and round-trips exactly", "[model]") {
    auto text = read_fixture("design-example.json");
    auto loaded = natctl::model::load_model(text);
    INFO((loaded ? std::string() : show(loaded.error())));
    REQUIRE(loaded.has_value());

    const auto& model = *loaded;
    REQUIRE(model.vpcs.size() == 1);
    CHECK(model.vpcs[0].instances.size() == 3);
    CHECK(model.vpcs[0].instances[2].public_ip.has_value());
    REQUIRE(model.nat_gateways.size() == 1);
    const auto& gateway = model.nat_gateways[0];
    CHECK(gateway.snat_entries.size() == 3);
    CHECK(gateway.snat_entries[0].affinity());
    CHECK_FALSE(gateway.snat_entries[1].eip_affinity.has_value());
    REQUIRE(gateway.dnat_entries.size() == 3);
    CHECK(gateway.dnat_entries[1].public_port == natctl::model::PortRange{10, 20});
    CHECK(gateway.dnat_entries[1].private_port == natctl::model::PortRange{80, 90});
    CHECK(gateway.dnat_entries[2].ip_mapping());
    CHECK_FALSE(gateway.dnat_entries[2].public_port.has_value());
    CHECK(std::holds_alternative<natctl::model::LocalHop>(
        model.ipv4_gateways[0].gateway_route_table[0].next_hop));
    CHECK(model.effective_limits().dnat_per_gateway() == 100);

    CHECK(natctl::model::to_json(model) == json::parse(text));
}

TEST_CASE("canonical documents round-trip exactly", "[model]") {
    const char* documents[] = {
        R"({"version": 1})",
        R"({"version": 1, "limits": {}})",
        R"({"version": 1, "limits": {"eips_per_nat_gateway": 7}})",
        R"({"version": 1, "vpcs": [{"name": "v", "cidr": "10.0.0.0/16",
            "system_route_table": {}}]})",
        R"({"version": 1, "vpcs": [{"name": "v", "cidr": "10.0.0.0/16", "interfaces": ["a"],
            "vswitches": [{"name": "s", "cidr": "10.0.1.0/24"}],
            "instances": [{"name": "i", "vswitch": "s", "private_ips": []}],
            "route_tables": [{"name": "rt"}],
            "system_route_table": {"name": "sys", "routes": [
              {"destination": "0.0.0.0/0", "next_hop": "blackhole"},
              {"destination": "192.0.2.0/24", "next_hop": {"instance": "i"}}]}}]})",
        R"({"version": 1, "nat_gateways": [{"name": "g", "vpc": "v", "mode": "masquerade",
            "outside_interface": "wan", "upstream": "198.51.100.1",
            "icmp_echo_reply": false, "deletion_protection": true,
            "snat_port_range": "2000-3000", "port_budget_per_eip": 100,
            "max_ports_per_instance": 50, "session_log": "errors",
            "assign_eip_addresses": false,
            "snat_entries": [{"name": "a", "source": {"cidr": "10.0.0.0/8"}, "eips": [],
                              "eip_affinity": false},
                             {"name": "b", "source": {"vpc": "v"}, "eips": ["e"]}],
            "dnat_entries": [{"name": "d", "eip": "e", "protocol": "udp",
                              "public_port": "1/2", "private_ip": "10.0.0.1",
                              "private_port": "3/4"}]}]})",
        R"({"version": 1, "vpcs": [{"name": "v", "cidr": "10.0.0.0/16",
            "internet_access": "private"}]})",
        R"({"version": 1, "vpcs": [{"name": "v", "cidr": "10.0.0.0/16",
            "internet_access": {"outside_interface": "wan", "upstream": "198.51.100.1"}}]})",
        R"({"version": 1, "ipv4_gateways": [{"name": "g", "vpc": "v", "enabled": false,
            "outside_interface": "wan", "upstream": "198.51.100.1"}]})",
    };
    for (const char* text : documents) {
        INFO(text);
        auto document = json::parse(text);
        auto model = natctl::model::from_json(document);
        INFO((model ? std::string() : show(model.error())));
        REQUIRE(model.has_value());
        CHECK(natctl::model::to_json(*model) == document);
    }
}

TEST_CASE("omitted arrays read as empty and are not written back", "[model]") {
    auto model = natctl::model::parse_model(
        R"({"version": 1, "vpcs": [{"name": "v", "cidr": "10.0.0.0/16", "interfaces": [],
            "vswitches": []}], "eips": []})");
    REQUIRE(model.has_value());
    CHECK(model->vpcs[0].interfaces.empty());
    CHECK(natctl::model::to_json(*model) ==
          json::parse(R"({"version": 1, "vpcs": [{"name": "v", "cidr": "10.0.0.0/16"}]})"));
}

TEST_CASE("JSON syntax errors have an empty path", "[model]") {
    auto model = natctl::model::parse_model(R"({"version": 1,)");
    REQUIRE_FALSE(model.has_value());
    REQUIRE(model.error().size() == 1);
    CHECK(model.error()[0].path.empty());
    CHECK(model.error()[0].reason.find("parse error") != std::string::npos);

    auto not_object = natctl::model::parse_model("[1]");
    REQUIRE_FALSE(not_object.has_value());
    CHECK(not_object.error() == Errors{{"", "expected an object, got an array"}});
}

TEST_CASE("JSON-level errors name the path and the reason", "[model]") {
    struct Case {
        const char* description;
        std::string pointer;
        json value;
        Errors expected;
    };
    const Case cases[] = {
        {"unknown field",
         "/vpcs/0/vswitches/1/colour",
         "blue",
         {{"vpcs[0].vswitches[1].colour", "unknown field"}}},
        {"unknown top-level field", "/extra", 1, {{"extra", "unknown field"}}},
        {"missing required field",
         "/vpcs/0/cidr",
         kRemove,
         {{"vpcs[0].cidr", "missing required field"}}},
        {"missing version", "/version", kRemove, {{"version", "missing required field"}}},
        {"wrong version",
         "/version",
         2,
         {{"version", "unsupported version 2 (this natctl reads version 1)"}}},
        {"version as string",
         "/version",
         "1",
         {{"version", "expected the integer 1, got a string"}}},
        {"wrong type of name",
         "/eips/0/name",
         5,
         {{"eips[0].name", "expected a string, got an integer"}}},
        {"array expected",
         "/vpcs/0/interfaces",
         "veth-a",
         {{"vpcs[0].interfaces", "expected an array, got a string"}}},
        {"object expected", "/vpcs/0", "vpc-a", {{"vpcs[0]", "expected an object, got a string"}}},
        {"boolean expected",
         "/nat_gateways/0/icmp_echo_reply",
         "yes",
         {{"nat_gateways[0].icmp_echo_reply", "expected true or false, got a string"}}},
        {"bad CIDR",
         "/vpcs/0/vswitches/0/cidr",
         "10.0.1.0/33",
         {{"vpcs[0].vswitches[0].cidr",
           "'10.0.1.0/33' is not a CIDR: prefix length must be 0-32"}}},
        {"CIDR with host bits",
         "/vpcs/0/cidr",
         "10.0.0.1/16",
         {{"vpcs[0].cidr", "'10.0.0.1/16' has host bits set (the network is 10.0.0.0/16)"}}},
        {"CIDR without prefix",
         "/vpcs/0/cidr",
         "10.0.0.0",
         {{"vpcs[0].cidr", "'10.0.0.0' is not a CIDR (expected a.b.c.d/len)"}}},
        {"bad IPv4",
         "/eips/0/address",
         "203.0.113.256",
         {{"eips[0].address", "'203.0.113.256' is not an IPv4 address"}}},
        {"bad private IP in list",
         "/vpcs/0/instances/0/private_ips/0",
         "10.0.1",
         {{"vpcs[0].instances[0].private_ips[0]", "'10.0.1' is not an IPv4 address"}}},
        {"port zero",
         "/nat_gateways/0/dnat_entries/0/public_port",
         "0",
         {{"nat_gateways[0].dnat_entries[0].public_port",
           "port 0 is not allowed (ports are 1-65535)"}}},
        {"port too large",
         "/nat_gateways/0/dnat_entries/0/private_port",
         "70000",
         {{"nat_gateways[0].dnat_entries[0].private_port",
           "port '70000': 70000 is larger than 65535"}}},
        {"reversed port range",
         "/nat_gateways/0/dnat_entries/0/public_port",
         "20/10",
         {{"nat_gateways[0].dnat_entries[0].public_port",
           "range '20/10' must be written low/high with low < high"}}},
        {"port as number",
         "/nat_gateways/0/dnat_entries/0/public_port",
         80,
         {{"nat_gateways[0].dnat_entries[0].public_port", "expected a string, got an integer"}}},
        {"bad snat_port_range",
         "/nat_gateways/0/snat_port_range",
         "2000/3000",
         {{"nat_gateways[0].snat_port_range", "'2000/3000' is not a port range (expected lo-hi)"}}},
        {"unknown protocol",
         "/nat_gateways/0/dnat_entries/0/protocol",
         "icmp",
         {{"nat_gateways[0].dnat_entries[0].protocol",
           "unknown protocol 'icmp' (expected one of: tcp, udp, any)"}}},
        {"unknown mode",
         "/nat_gateways/0/mode",
         "nat",
         {{"nat_gateways[0].mode", "unknown mode 'nat' (expected one of: snat, masquerade)"}}},
        {"unknown session_log",
         "/nat_gateways/0/session_log",
         "verbose",
         {{"nat_gateways[0].session_log",
           "unknown session_log 'verbose' (expected one of: off, errors, all)"}}},
        {"negative budget",
         "/nat_gateways/0/port_budget_per_eip",
         -1,
         {{"nat_gateways[0].port_budget_per_eip", "expected a non-negative integer, got -1"}}},
        {"fractional limit",
         "/limits",
         json{{"eips_per_nat_gateway", 1.5}},
         {{"limits.eips_per_nat_gateway",
           "expected a non-negative integer, got a fractional number"}}},
        {"huge limit",
         "/limits",
         json{{"nat_gateways_per_vpc", 5000000000}},
         {{"limits.nat_gateways_per_vpc", "5000000000 is too large (at most 4294967295)"}}},
        {"snat source with no kind",
         "/nat_gateways/0/snat_entries/0/source",
         json::object(),
         {{"nat_gateways[0].snat_entries[0].source",
           "source needs exactly one of vpc, vswitch, instance, cidr (none given)"}}},
        {"snat source with two kinds",
         "/nat_gateways/0/snat_entries/0/source",
         json{{"vpc", "vpc-a"}, {"cidr", "10.0.0.0/24"}},
         {{"nat_gateways[0].snat_entries[0].source",
           "source needs exactly one of vpc, vswitch, instance, cidr (given: vpc, cidr)"}}},
        {"snat source with unknown kind",
         "/nat_gateways/0/snat_entries/0/source",
         json{{"subnet", "x"}},
         {{"nat_gateways[0].snat_entries[0].source.subnet", "unknown field"},
          {"nat_gateways[0].snat_entries[0].source",
           "source needs exactly one of vpc, vswitch, instance, cidr (none given)"}}},
        {"snat source bad cidr",
         "/nat_gateways/0/snat_entries/0/source",
         json{{"cidr", "10.0.0.0/99"}},
         {{"nat_gateways[0].snat_entries[0].source.cidr",
           "'10.0.0.0/99' is not a CIDR: prefix length must be 0-32"}}},
        {"next hop unknown string",
         "/vpcs/0/route_tables/0/routes/0/next_hop",
         "drop",
         {{"vpcs[0].route_tables[0].routes[0].next_hop",
           "unknown next hop 'drop' (expected \"blackhole\" or an object with one of "
           "nat_gateway, ipv4_gateway, instance)"}}},
        {"next hop with two kinds",
         "/vpcs/0/route_tables/0/routes/0/next_hop",
         json{{"nat_gateway", "ngw"}, {"instance", "i-1"}},
         {{"vpcs[0].route_tables[0].routes[0].next_hop",
           "next_hop needs exactly one of nat_gateway, ipv4_gateway, instance (given: "
           "nat_gateway, instance)"}}},
        {"next hop name not a string",
         "/vpcs/0/route_tables/0/routes/0/next_hop",
         json{{"nat_gateway", 3}},
         {{"vpcs[0].route_tables[0].routes[0].next_hop.nat_gateway",
           "expected a string, got an integer"}}},
        {"gateway next hop blackhole",
         "/ipv4_gateways/0/gateway_route_table/0/next_hop",
         "blackhole",
         {{"ipv4_gateways[0].gateway_route_table[0].next_hop",
           "unknown next hop 'blackhole' (expected \"local\" or {\"instance\": name})"}}},
        {"gateway next hop nat gateway",
         "/ipv4_gateways/0/gateway_route_table/0/next_hop",
         json{{"nat_gateway", "ngw"}},
         {{"ipv4_gateways[0].gateway_route_table[0].next_hop.nat_gateway", "unknown field"},
          {"ipv4_gateways[0].gateway_route_table[0].next_hop",
           "next_hop needs exactly one of instance (none given)"}}},
        {"internet access neither private nor an object",
         "/vpcs/0/internet_access",
         "public",
         {{"vpcs[0].internet_access",
           "unknown internet access 'public' (expected \"private\" or {\"outside_interface\": "
           "name, \"upstream\": address})"}}},
        {"direct internet access without its upstream",
         "/vpcs/0/internet_access",
         json{{"outside_interface", "wan"}, {"via", "x"}},
         {{"vpcs[0].internet_access.via", "unknown field"},
          {"vpcs[0].internet_access.upstream", "missing required field"}}},
        {"null optional",
         "/vpcs/0/vswitches/0/route_table",
         nullptr,
         {{"vpcs[0].vswitches[0].route_table", "expected a string, got null"}}},
        {"missing private_ips",
         "/vpcs/0/instances/0/private_ips",
         kRemove,
         {{"vpcs[0].instances[0].private_ips", "missing required field"}}},
        {"missing snat eips",
         "/nat_gateways/0/snat_entries/0/eips",
         kRemove,
         {{"nat_gateways[0].snat_entries[0].eips", "missing required field"}}},
    };
    for (const auto& test : cases) {
        INFO(test.description);
        auto errors = json_errors(document_with(test.pointer, test.value));
        INFO(show(errors));
        CHECK(errors == test.expected);
    }
}

TEST_CASE("the JSON base document of the error table is itself valid", "[model]") {
    // Guards the table above: each case must fail because of its edit alone.
    auto model = natctl::model::from_json(document_with("/vpcs/0/name", "vpc-a"));
    INFO((model ? std::string() : show(model.error())));
    REQUIRE(model.has_value());
    auto errors = natctl::model::validate(*model);
    INFO(show(errors));
    CHECK(errors.empty());
}

TEST_CASE("every JSON-level error is reported at once", "[model]") {
    json document = json::parse(R"({
      "vpcs": [{"name": 1, "cidr": "10.0.0.0/99", "colour": "red"}],
      "eips": [{"name": "e", "address": "1.2.3"}],
      "nat_gateways": "none"
    })");
    auto errors = json_errors(document);
    INFO(show(errors));
    CHECK(errors == Errors{
                        {"version", "missing required field"},
                        {"vpcs[0].colour", "unknown field"},
                        {"vpcs[0].name", "expected a string, got an integer"},
                        {"vpcs[0].cidr", "'10.0.0.0/99' is not a CIDR: prefix length must be 0-32"},
                        {"eips[0].address", "'1.2.3' is not an IPv4 address"},
                        {"nat_gateways", "expected an array, got a string"},
                    });
}

TEST_CASE("model json: a number too large for a double is a reading error, not an exception",
          "[model]") {
    // Found by fuzz_model_json: nlohmann reports it as out_of_range, not as parse_error.
    auto parsed = natctl::model::parse_json("1e951");
    REQUIRE_FALSE(parsed);
    REQUIRE(parsed.error().size() == 1);
    CHECK(parsed.error()[0].path.empty());
    CHECK_FALSE(natctl::model::parse_model(R"({"version": 1e951})"));
}

TEST_CASE("model json: the streaming reader reads what the whole-tree reader reads", "[model]") {
    auto gateway = [](int index, const std::string& entries) {
        return fmt::format(R"({{"name": "g{}", "vpc": "v", "outside_interface": "wan",
            "upstream": "198.51.100.1", "dnat_entries": {}, "colour": 1}})",
                           index, entries);
    };
    const std::string good = R"({"name": "d", "eip": "e", "protocol": "tcp",
        "public_port": "80", "private_ip": "10.0.1.5", "private_port": "8080"})";
    const std::string documents[] = {
        R"({"version": 1})",
        fmt::format(R"({{"version": 1, "nat_gateways": [{}]}})", gateway(0, "[]")),
        // a bad element between good ones, a scalar element, a nested problem
        fmt::format(
            R"({{"version": 1, "nat_gateways": [{}, 7, {}]}})",
            gateway(0, "[" + good + R"(, 5, {"name": 3, "public_port": [1]}, )" + good + "]"),
            gateway(2, "[" + good + "]")),
        // entries before the gateway's other fields; dnat_entries not an array
        fmt::format(R"({{"nat_gateways": [{{"dnat_entries": [{}], "name": "g"}},
            {{"name": "h", "dnat_entries": {{}}}}, {{"dnat_entries": "x"}}], "version": 2}})",
                    good),
        // a repeated key: the last one counts, as in the tree
        fmt::format(R"({{"version": 1, "nat_gateways": [{{"name": "g", "dnat_entries": [{}],
            "dnat_entries": [{}, {}]}}]}})",
                    good, good, good),
        // nat_gateways where it is not the top level's is not a gateway list
        fmt::format(R"({{"version": 1, "limits": {{"nat_gateways": [{{"dnat_entries": [1]}}]}}}})"),
        R"([{"nat_gateways": [{"dnat_entries": [1]}]}])",
    };
    for (const auto& text : documents) {
        INFO(text);
        auto whole = natctl::model::read_model(json::parse(text));
        auto streamed = natctl::model::read_model(std::string_view(text));
        REQUIRE(streamed.has_value());
        CHECK(show(streamed->errors) == show(whole.errors));
        CHECK(streamed->unread == whole.unread);
        CHECK(streamed->model == whole.model);
    }
    // a syntax error: the parser's message, with an empty path
    auto broken = natctl::model::read_model(std::string_view(R"({"version": 1,)"));
    REQUIRE_FALSE(broken.has_value());
    REQUIRE(broken.error().size() == 1);
    CHECK(broken.error()[0].path.empty());
    CHECK(broken.error()[0].reason.find("parse error") != std::string::npos);
}

namespace {

// One object's own writer and reader agree with the document's form of it, where it sits.
template <class T>
void check_object(const T& object, const json& in_document) {
    INFO(in_document.dump());
    CHECK(natctl::model::to_json(object) == in_document);
    auto read = natctl::model::from_json<T>(in_document);
    INFO((read ? std::string() : show(read.error())));
    REQUIRE(read.has_value());
    CHECK(*read == object);
}

}  // namespace

TEST_CASE("model json: each type's writer and reader give its form inside the document",
          "[model]") {
    const auto document = json::parse(read_fixture("design-example.json"));
    auto loaded = natctl::model::from_json(document);
    REQUIRE(loaded.has_value());
    const auto& model = *loaded;
    const auto& vpc = model.vpcs.at(0);
    check_object(vpc, document["vpcs"][0]);
    check_object(vpc.vswitches.at(1), document["vpcs"][0]["vswitches"][1]);
    check_object(vpc.instances.at(2), document["vpcs"][0]["instances"][2]);
    check_object(vpc.route_tables.at(0), document["vpcs"][0]["route_tables"][0]);
    check_object(vpc.route_tables.at(0).routes.at(0),
                 document["vpcs"][0]["route_tables"][0]["routes"][0]);
    check_object(model.eips.at(0), document["eips"][0]);
    const auto& gateway = model.nat_gateways.at(0);
    check_object(gateway, document["nat_gateways"][0]);
    check_object(gateway.snat_entries.at(0), document["nat_gateways"][0]["snat_entries"][0]);
    for (std::size_t i = 0; i < gateway.dnat_entries.size(); ++i)
        check_object(gateway.dnat_entries[i], document["nat_gateways"][0]["dnat_entries"][i]);
    const auto& ipv4_gateway = model.ipv4_gateways.at(0);
    check_object(ipv4_gateway, document["ipv4_gateways"][0]);
    check_object(ipv4_gateway.gateway_route_table.at(0),
                 document["ipv4_gateways"][0]["gateway_route_table"][0]);
    check_object(natctl::model::Limits{.eips_per_nat_gateway = 7},
                 json{{"eips_per_nat_gateway", 7}});
    check_object(natctl::model::SystemRouteTable{}, json::object());
    check_object(model, document);
}

TEST_CASE("model json: one object's problems have paths relative to it", "[model]") {
    auto entry = natctl::model::from_json<natctl::model::DnatEntry>(json{{"name", 1},
                                                                         {"eip", "e"},
                                                                         {"protocol", "tcp"},
                                                                         {"public_port", "0"},
                                                                         {"private_ip", "10.0.0.1"},
                                                                         {"colour", "red"}});
    REQUIRE_FALSE(entry.has_value());
    CHECK(show(entry.error()) ==
          "  colour: unknown field\n"
          "  name: expected a string, got an integer\n"
          "  public_port: " +
              natctl::model::parse_port_range("0").error() + "\n");
    auto scalar = natctl::model::from_json<natctl::model::Vpc>(json(3));
    REQUIRE_FALSE(scalar.has_value());
    CHECK(show(scalar.error()) == "  : expected an object, got an integer\n");
    auto nested = natctl::model::from_json<natctl::model::Vpc>(
        json::parse(R"({"name": "v", "cidr": "10.0.0.0/16",
                        "vswitches": [{"name": "s", "cidr": "10.0.1.0/24"}, {"name": "t"}]})"));
    REQUIRE_FALSE(nested.has_value());
    CHECK(show(nested.error()) == "  vswitches[1].cidr: missing required field\n");
}

TEST_CASE("model json: a DNAT entry's text is its JSON value dumped", "[model]") {
    natctl::model::DnatEntry entry{.name = "quote\" back\\ tab\t \xc3\xa9 \x01",
                                   .eip = "bad utf-8 \xff",
                                   .protocol = natctl::model::DnatProtocol::Udp,
                                   .public_port = natctl::model::PortRange{10, 20},
                                   .private_ip = {0x0a000001},
                                   .private_port = natctl::model::PortRange{80, 90}};
    auto dumped = [](const natctl::model::DnatEntry& value) {
        return natctl::model::to_json(value).dump(-1, ' ', false, json::error_handler_t::replace);
    };
    std::string text = "[";
    natctl::model::append_json(text, entry);
    CHECK(text == "[" + dumped(entry));
    entry.protocol = natctl::model::DnatProtocol::Any;
    entry.public_port.reset();
    entry.private_port.reset();
    text.clear();
    natctl::model::append_json(text, entry);
    CHECK(text == dumped(entry));
}
