// Semantic validation: each invalid document is a small edit of the DESIGN.md example (a
// valid document), with the exact list of errors it must produce.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "controller/model/json.hpp"
#include "controller/model/validate.hpp"

namespace {

using natctl::model::Errors;
using nlohmann::json;

const json kRemove = json(json::value_t::discarded);

// Sets (or, with kRemove, removes) the value at a JSON pointer; "/-" appends to an array.
struct Edit {
    std::string pointer;
    json value;
};

struct Case {
    const char* description;
    std::vector<Edit> edits;
    Errors expected;
};

json base_document() {
    std::ifstream file(std::string(NATCTL_SOURCE_DIR) + "/tests/data/model/design-example.json");
    REQUIRE(file.good());
    std::stringstream content;
    content << file.rdbuf();
    return json::parse(content.str());
}

json apply(json document, const std::vector<Edit>& edits) {
    for (const auto& edit : edits) {
        json::json_pointer pointer(edit.pointer);
        if (edit.value.is_discarded())
            document.at(pointer.parent_pointer()).erase(pointer.back());
        else
            document[pointer] = edit.value;
    }
    return document;
}

std::string show(const Errors& errors) {
    std::string text;
    for (const auto& error : errors)
        text += fmt::format("  {}: {}\n", error.path, error.reason);
    return text;
}

Errors errors_of(const json& document) {
    auto model = natctl::model::from_json(document);
    INFO((model ? std::string() : "JSON-level errors:\n" + show(model.error())));
    REQUIRE(model.has_value());
    return natctl::model::validate(*model);
}

// A second VPC, valid on its own, for cross-VPC rules.
json vpc_dev() {
    return json::parse(R"({
      "name": "vpc-dev", "cidr": "10.1.0.0/16", "interfaces": ["veth-dev"],
      "vswitches": [{"name": "vsw-dev", "cidr": "10.1.1.0/24", "route_table": "rt-dev"}],
      "instances": [{"name": "dev-1", "vswitch": "vsw-dev", "private_ips": ["10.1.1.10"]}],
      "route_tables": [{"name": "rt-dev", "routes": [
          {"destination": "0.0.0.0/0", "next_hop": "blackhole"}]}]
    })");
}

json with(json object, const std::string& key, const json& value) {
    object[key] = value;
    return object;
}

json masquerade_gateway(const std::string& name, const std::string& vpc) {
    return json{{"name", name},
                {"vpc", vpc},
                {"mode", "masquerade"},
                {"outside_interface", "veth-wan"},
                {"upstream", "198.51.100.1"}};
}

const std::string kNameChars =
    "must start with a letter or digit and contain only letters, digits, '_', '.' and '-'";
const std::string kIfnameRule = "(1-15 characters, no '/', ':' or whitespace)";
const std::string kSnatEntries = "/nat_gateways/0/snat_entries";
const std::string kDnatEntries = "/nat_gateways/0/dnat_entries";

std::vector<Case> invalid_documents() {
    const std::string long_name(65, 'a');
    return {
        // ---- names ---------------------------------------------------------------------------
        {"name with a slash",
         {{kSnatEntries + "/0/name", "snat/a"}},
         {{"nat_gateways[0].snat_entries[0].name", "name 'snat/a' " + kNameChars}}},
        {"name starting with a dash",
         {{kDnatEntries + "/0/name", "-web"}},
         {{"nat_gateways[0].dnat_entries[0].name", "name '-web' " + kNameChars}}},
        {"name too long",
         {{kDnatEntries + "/1/name", long_name}},
         {{"nat_gateways[0].dnat_entries[1].name",
           fmt::format("name '{}' is 65 characters long; at most 64 are allowed", long_name)}}},
        {"empty name",
         {{kSnatEntries + "/2/name", ""}},
         {{"nat_gateways[0].snat_entries[2].name", "a name must not be empty"}}},
        {"duplicate vpc name",
         {{"/vpcs/-", with(vpc_dev(), "name", "vpc-prod")}},
         {{"vpcs[1].name", "duplicate vpc name vpc-prod (first used at vpcs[0].name)"}}},
        {"duplicate vswitch name",
         {{"/vpcs/0/vswitches/-", {{"name", "vsw-a"}, {"cidr", "10.0.4.0/24"}}}},
         {{"vpcs[0].vswitches[2].name",
           "duplicate vswitch name vsw-a (first used at vpcs[0].vswitches[0].name)"}}},
        {"duplicate instance name across VPCs",
         {{"/vpcs/-", vpc_dev()}, {"/vpcs/1/instances/0/name", "web-1"}},
         {{"vpcs[1].instances[0].name",
           "duplicate instance name web-1 (first used at vpcs[0].instances[0].name)"}}},
        {"system route table named like a route table",
         {{"/vpcs/0/system_route_table", {{"name", "rt-private"}}}},
         {{"vpcs[0].system_route_table.name",
           "duplicate route table name rt-private (first used at "
           "vpcs[0].route_tables[0].name)"}}},
        {"duplicate eip name",
         {{"/eips/-", {{"name", "eip-1"}, {"address", "203.0.113.13"}}}},
         {{"eips[3].name", "duplicate eip name eip-1 (first used at eips[0].name)"}}},
        {"duplicate nat gateway name",
         {{"/nat_gateways/-", masquerade_gateway("ngw-1", "vpc-prod")}},
         {{"nat_gateways[1].name",
           "duplicate nat gateway name ngw-1 (first used at nat_gateways[0].name)"}}},
        {"duplicate snat entry name",
         {{kSnatEntries + "/2/name", "snat-vsw-a"}},
         {{"nat_gateways[0].snat_entries[2].name",
           "duplicate snat entry name snat-vsw-a (first used at "
           "nat_gateways[0].snat_entries[0].name)"}}},
        {"duplicate dnat entry name",
         {{kDnatEntries + "/1/name", "web"}},
         {{"nat_gateways[0].dnat_entries[1].name",
           "duplicate dnat entry name web (first used at nat_gateways[0].dnat_entries[0].name)"}}},
        {"duplicate ipv4 gateway name",
         {{"/vpcs/-", vpc_dev()},
          {"/ipv4_gateways/-",
           {{"name", "igw-1"},
            {"vpc", "vpc-dev"},
            {"outside_interface", "veth-wan"},
            {"upstream", "198.51.100.1"}}}},
         {{"ipv4_gateways[1].name",
           "duplicate ipv4 gateway name igw-1 (first used at ipv4_gateways[0].name)"}}},

        // ---- VPCs ----------------------------------------------------------------------------
        {"VPC prefix too long",
         {{"/vpcs/-", with(with(with(vpc_dev(), "cidr", "10.1.0.0/29"), "vswitches", json::array()),
                           "instances", json::array())}},
         {{"vpcs[1].cidr",
           "a VPC CIDR must have a prefix length from /8 to /28; 10.1.0.0/29 has /29"}}},
        {"VPC prefix too short",
         {{"/vpcs/-", with(with(with(vpc_dev(), "cidr", "12.0.0.0/7"), "vswitches", json::array()),
                           "instances", json::array())}},
         {{"vpcs[1].cidr",
           "a VPC CIDR must have a prefix length from /8 to /28; 12.0.0.0/7 has /7"}}},
        {"overlapping VPCs",
         {{"/vpcs/-",
           with(with(with(vpc_dev(), "cidr", "10.0.128.0/17"), "vswitches", json::array()),
                "instances", json::array())}},
         {{"vpcs[1].cidr",
           "10.0.128.0/17 overlaps vpc vpc-prod (10.0.0.0/16, vpcs[0].cidr); VPC CIDRs must "
           "not overlap"}}},
        {"VPC without interfaces",
         {{"/vpcs/0/interfaces", kRemove}},
         {{"vpcs[0].interfaces",
           "a VPC needs at least one interface (the gateway host's inside link)"}}},
        {"interface name with a colon",
         {{"/vpcs/0/interfaces/0", "veth:vpc"}},
         {{"vpcs[0].interfaces[0]", "'veth:vpc' is not a valid interface name " + kIfnameRule}}},
        {"interface name too long",
         {{"/vpcs/0/interfaces/0", "veth-vpc-inside0"}},
         {{"vpcs[0].interfaces[0]",
           "'veth-vpc-inside0' is not a valid interface name " + kIfnameRule}}},
        {"interface in two VPCs",
         {{"/vpcs/-", with(vpc_dev(), "interfaces", {"veth-vpc"})}},
         {{"vpcs[1].interfaces[0]",
           "interface veth-vpc already belongs to vpc vpc-prod (vpcs[0].interfaces[0]); an "
           "interface belongs to at most one VPC"}}},
        {"interface listed twice",
         {{"/vpcs/0/interfaces/-", "veth-vpc"}},
         {{"vpcs[0].interfaces[1]",
           "interface veth-vpc is listed twice (first at vpcs[0].interfaces[0])"}}},
        {"outside interface is a VPC interface",
         {{"/nat_gateways/0/outside_interface", "veth-vpc"}},
         {{"nat_gateways[0].outside_interface",
           "interface veth-vpc is an inside interface of vpc vpc-prod (vpcs[0].interfaces[0]); "
           "a gateway's outside interface must be a different interface"}}},

        // ---- vSwitches -----------------------------------------------------------------------
        {"vswitch outside its VPC",
         {{"/vpcs/0/vswitches/-", {{"name", "vsw-c"}, {"cidr", "10.1.0.0/24"}}}},
         {{"vpcs[0].vswitches[2].cidr", "10.1.0.0/24 is not inside the VPC CIDR 10.0.0.0/16"}}},
        {"overlapping vswitches",
         {{"/vpcs/0/vswitches/-", {{"name", "vsw-c"}, {"cidr", "10.0.1.128/25"}}}},
         {{"vpcs[0].vswitches[2].cidr",
           "10.0.1.128/25 overlaps vswitch vsw-a (10.0.1.0/24, vpcs[0].vswitches[0].cidr)"}}},
        {"vswitch route table does not exist",
         {{"/vpcs/0/vswitches/0/route_table", "rt-none"}},
         {{"vpcs[0].vswitches[0].route_table",
           "route table rt-none does not exist in vpc vpc-prod"}}},
        {"vswitch route table of another VPC",
         {{"/vpcs/-", vpc_dev()}, {"/vpcs/0/vswitches/0/route_table", "rt-dev"}},
         {{"vpcs[0].vswitches[0].route_table",
           "route table rt-dev belongs to vpc vpc-dev, not to vpc vpc-prod"}}},
        {"vswitch names the system route table",
         {{"/vpcs/0/system_route_table", {{"name", "rt-sys"}}},
          {"/vpcs/0/vswitches/0/route_table", "rt-sys"}},
         {{"vpcs[0].vswitches[0].route_table",
           "rt-sys is the system route table of vpc vpc-prod; omit route_table to use it"}}},

        // ---- instances -----------------------------------------------------------------------
        {"instance in a missing vswitch",
         {{"/vpcs/0/instances/0/vswitch", "vsw-x"}},
         {{"vpcs[0].instances[0].vswitch", "vswitch vsw-x does not exist in vpc vpc-prod"}}},
        {"instance in a vswitch of another VPC",
         {{"/vpcs/-", vpc_dev()}, {"/vpcs/0/instances/0/vswitch", "vsw-dev"}},
         {{"vpcs[0].instances[0].vswitch",
           "vswitch vsw-dev belongs to vpc vpc-dev, not to vpc vpc-prod"}}},
        {"instance without private IPs",
         {{"/vpcs/0/instances/0/private_ips", json::array()}},
         {{"vpcs[0].instances[0].private_ips", "an instance needs at least one private IP"}}},
        {"private IP outside its vswitch",
         {{"/vpcs/0/instances/0/private_ips/0", "10.0.2.10"}},
         {{"vpcs[0].instances[0].private_ips[0]",
           "10.0.2.10 is not inside vswitch vsw-a (10.0.1.0/24)"}}},
        {"private IP is the network address",
         {{"/vpcs/0/instances/0/private_ips/0", "10.0.1.0"}},
         {{"vpcs[0].instances[0].private_ips[0]",
           "10.0.1.0 is the network address of vswitch vsw-a (10.0.1.0/24)"}}},
        {"private IP is the broadcast address",
         {{"/vpcs/0/instances/1/private_ips/-", "10.0.1.255"}},
         {{"vpcs[0].instances[1].private_ips[2]",
           "10.0.1.255 is the broadcast address of vswitch vsw-a (10.0.1.0/24)"}}},
        {"private IP used twice in a VPC",
         {{"/vpcs/0/instances/1/private_ips/0", "10.0.1.10"}},
         {{"vpcs[0].instances[1].private_ips[0]",
           "10.0.1.10 is already used in vpc vpc-prod (at vpcs[0].instances[0].private_ips[0])"}}},
        {"public IP inside a VPC",
         {{"/vpcs/0/instances/2/public_ip", "10.0.9.9"}},
         {{"vpcs[0].instances[2].public_ip",
           "10.0.9.9 lies inside vpc vpc-prod (10.0.0.0/16); a public IP must be outside every "
           "VPC CIDR"}}},
        {"public IP equal to an EIP",
         {{"/vpcs/0/instances/2/public_ip", "203.0.113.10"}},
         {{"vpcs[0].instances[2].public_ip",
           "203.0.113.10 is the address of eip eip-1 (eips[0].address); a public IP and an EIP "
           "cannot share an address"}}},
        {"public IP used by two instances",
         {{"/vpcs/0/instances/0/public_ip", "203.0.113.50"}},
         {{"vpcs[0].instances[2].public_ip",
           "203.0.113.50 is already the public_ip at vpcs[0].instances[0].public_ip"}}},
        {"public IP in a VPC without any gateway",
         {{"/vpcs/-", vpc_dev()}, {"/vpcs/1/instances/0/public_ip", "203.0.113.60"}},
         {{"vpcs[1].instances[0].public_ip",
           "vpc vpc-dev has no enabled IPv4 gateway, NAT gateway or direct internet_access, so "
           "no outside interface carries 203.0.113.60; add one"}}},

        // ---- routes --------------------------------------------------------------------------
        {"duplicate route destination",
         {{"/vpcs/0/route_tables/0/routes/-",
           {{"destination", "0.0.0.0/0"}, {"next_hop", "blackhole"}}}},
         {{"vpcs[0].route_tables[0].routes[1].destination",
           "duplicate destination 0.0.0.0/0 (first at "
           "vpcs[0].route_tables[0].routes[0].destination)"}}},
        {"route to a destination inside the VPC",
         {{"/vpcs/0/route_tables/1/routes/-",
           {{"destination", "10.0.5.0/24"}, {"next_hop", "blackhole"}}}},
         {{"vpcs[0].route_tables[1].routes[1].destination",
           "10.0.5.0/24 lies inside the VPC CIDR 10.0.0.0/16; traffic inside a VPC is always "
           "delivered locally and cannot be routed"}}},
        {"route to a missing nat gateway",
         {{"/vpcs/0/route_tables/0/routes/0/next_hop", {{"nat_gateway", "ngw-9"}}}},
         {{"vpcs[0].route_tables[0].routes[0].next_hop.nat_gateway",
           "nat gateway ngw-9 does not exist"}}},
        {"route to an ipv4 gateway of another VPC",
         {{"/vpcs/-", vpc_dev()},
          {"/ipv4_gateways/-",
           {{"name", "igw-dev"},
            {"vpc", "vpc-dev"},
            {"outside_interface", "veth-wan"},
            {"upstream", "198.51.100.1"}}},
          {"/vpcs/0/route_tables/1/routes/0/next_hop", {{"ipv4_gateway", "igw-dev"}}}},
         {{"vpcs[0].route_tables[1].routes[0].next_hop.ipv4_gateway",
           "ipv4 gateway igw-dev belongs to vpc vpc-dev, not to vpc vpc-prod"}}},
        {"route to a missing instance",
         {{"/vpcs/0/route_tables/0/routes/-",
           {{"destination", "192.0.2.0/24"}, {"next_hop", {{"instance", "ghost"}}}}}},
         {{"vpcs[0].route_tables[0].routes[1].next_hop.instance",
           "instance ghost does not exist in vpc vpc-prod"}}},
        {"system route table route to a missing ipv4 gateway",
         {{"/vpcs/0/system_route_table",
           {{"routes",
             {{{"destination", "0.0.0.0/0"}, {"next_hop", {{"ipv4_gateway", "igw-9"}}}}}}}}},
         {{"vpcs[0].system_route_table.routes[0].next_hop.ipv4_gateway",
           "ipv4 gateway igw-9 does not exist"}}},

        // ---- EIPs ----------------------------------------------------------------------------
        {"two EIPs with one address",
         {{"/eips/1/address", "203.0.113.10"}},
         {{"eips[1].address",
           "address 203.0.113.10 is already used by another eip (at eips[0].address)"}}},
        {"EIP inside a VPC",
         {{"/eips/2/address", "10.0.200.1"}},
         {{"eips[2].address",
           "10.0.200.1 lies inside vpc vpc-prod (10.0.0.0/16); an EIP must be outside every "
           "VPC CIDR"}}},
        {"EIP attached to two gateways",
         {{"/vpcs/-", vpc_dev()},
          {"/nat_gateways/-", with(with(masquerade_gateway("ngw-dev", "vpc-dev"), "mode", "snat"),
                                   "eips", {"eip-1"})}},
         {{"nat_gateways[1].eips[0]",
           "eip eip-1 is already attached to nat gateway ngw-1 (nat_gateways[0].eips[0]); an "
           "EIP is attached to at most one NAT gateway"}}},

        // ---- NAT gateways --------------------------------------------------------------------
        {"nat gateway in a missing VPC",
         {{"/nat_gateways/0/vpc", "vpc-x"}},
         {{"vpcs[0].route_tables[0].routes[0].next_hop.nat_gateway",
           "nat gateway ngw-1 belongs to vpc vpc-x, not to vpc vpc-prod"},
          {"nat_gateways[0].vpc", "vpc vpc-x does not exist"}}},
        {"nat gateway upstream inside a VPC",
         {{"/nat_gateways/0/upstream", "10.0.0.1"}},
         {{"nat_gateways[0].upstream",
           "upstream 10.0.0.1 lies inside vpc vpc-prod (10.0.0.0/16); the upstream is the next "
           "hop on the outside network"}}},
        {"nat gateway upstream is an EIP",
         {{"/nat_gateways/0/upstream", "203.0.113.11"}},
         {{"nat_gateways[0].upstream",
           "upstream 203.0.113.11 is the address of eip eip-2; the upstream is the router on the "
           "outside network, not one of the gateway's own addresses"}}},
        {"nat gateway with a missing EIP",
         {{"/nat_gateways/0/eips/-", "eip-9"}},
         {{"nat_gateways[0].eips[3]", "eip eip-9 does not exist"}}},
        {"nat gateway lists an EIP twice",
         {{"/nat_gateways/0/eips/-", "eip-1"}},
         {{"nat_gateways[0].eips[3]",
           "eip eip-1 is listed twice (first at nat_gateways[0].eips[0])"}}},
        {"masquerade gateway with EIPs and entries",
         {{"/nat_gateways/0/mode", "masquerade"}},
         {{"nat_gateways[0].eips",
           "a masquerade gateway uses the outside interface's own address and takes no EIPs; "
           "remove the EIPs or set mode to snat"},
          {"nat_gateways[0].snat_entries",
           "a masquerade gateway translates its whole VPC and has no SNAT entries; remove them "
           "or set mode to snat"},
          {"nat_gateways[0].dnat_entries",
           "a masquerade gateway has no EIPs to publish DNAT entries on; remove them or set mode "
           "to snat"}}},
        {"port budget larger than the SNAT port range",
         {{"/nat_gateways/0/port_budget_per_eip", 64512}},
         {{"nat_gateways[0].port_budget_per_eip",
           "port_budget_per_eip 64512 must be from 1 to 64511, the number of ports in "
           "snat_port_range 1025-65535"}}},
        {"port budget zero",
         {{"/nat_gateways/0/snat_port_range", "2000-2999"},
          {"/nat_gateways/0/port_budget_per_eip", 0}},
         {{"nat_gateways[0].port_budget_per_eip",
           "port_budget_per_eip 0 must be from 1 to 1000, the number of ports in "
           "snat_port_range 2000-2999"}}},
        {"narrowed SNAT port range below the default port budget",
         {{"/nat_gateways/0/snat_port_range", "20000-29999"},
          {"/nat_gateways/0/port_budget_per_eip", kRemove}},
         {{"nat_gateways[0].snat_port_range",
           "snat_port_range 20000-29999 holds 10000 ports, fewer than the default "
           "port_budget_per_eip 55000; set port_budget_per_eip to at most 10000"}}},
        {"max ports per instance zero",
         {{"/nat_gateways/0/max_ports_per_instance", 0}},
         {{"nat_gateways[0].max_ports_per_instance",
           "max_ports_per_instance must be at least 1 (omit it for no limit)"}}},
        {"too many NAT gateways in a VPC",
         {{"/limits/nat_gateways_per_vpc", 1},
          {"/nat_gateways/-", masquerade_gateway("ngw-2", "vpc-prod")}},
         {{"nat_gateways[1].vpc",
           "2 NAT gateways in vpc vpc-prod exceed limits.nat_gateways_per_vpc (1); raise the "
           "limit or remove NAT gateways"}}},
        {"too many EIPs on a gateway",
         {{"/limits/eips_per_nat_gateway", 2}},
         {{"nat_gateways[0].eips",
           "3 EIPs exceed limits.eips_per_nat_gateway (2); raise the limit or remove EIPs"}}},
        {"too many SNAT and DNAT entries",
         {{"/limits/snat_entries_per_nat_gateway", 2}, {"/limits/dnat_entries_per_nat_gateway", 1}},
         {{"nat_gateways[0].snat_entries",
           "3 SNAT entries exceed limits.snat_entries_per_nat_gateway (2); raise the limit or "
           "remove SNAT entries"},
          {"nat_gateways[0].dnat_entries",
           "3 DNAT entries exceed limits.dnat_entries_per_nat_gateway (1); raise the limit or "
           "remove DNAT entries"}}},
        {"limit of zero",
         {{"/limits/eips_per_nat_gateway", 0}},
         {{"nat_gateways[0].eips",
           "3 EIPs exceed limits.eips_per_nat_gateway (0); raise the limit or remove EIPs"},
          {"limits.eips_per_nat_gateway", "limits.eips_per_nat_gateway must be at least 1"}}},

        // ---- SNAT entries --------------------------------------------------------------------
        {"SNAT source vswitch missing",
         {{kSnatEntries + "/0/source", {{"vswitch", "vsw-x"}}}},
         {{"nat_gateways[0].snat_entries[0].source.vswitch",
           "vswitch vsw-x does not exist in vpc vpc-prod"}}},
        {"SNAT source is another VPC",
         {{"/vpcs/-", vpc_dev()}, {kSnatEntries + "/0/source", {{"vpc", "vpc-dev"}}}},
         {{"nat_gateways[0].snat_entries[0].source.vpc",
           "vpc vpc-dev is not the gateway's vpc vpc-prod"}}},
        {"SNAT source instance of another VPC",
         {{"/vpcs/-", vpc_dev()}, {kSnatEntries + "/1/source", {{"instance", "dev-1"}}}},
         {{"nat_gateways[0].snat_entries[1].source.instance",
           "instance dev-1 belongs to vpc vpc-dev, not to vpc vpc-prod"}}},
        {"SNAT source CIDR outside the VPC",
         {{kSnatEntries + "/2/source", {{"cidr", "10.1.0.0/24"}}}},
         {{"nat_gateways[0].snat_entries[2].source.cidr",
           "10.1.0.0/24 is not inside the VPC CIDR 10.0.0.0/16 of the gateway's vpc vpc-prod"}}},
        {"SNAT entry without EIPs",
         {{kSnatEntries + "/1/eips", json::array()}},
         {{"nat_gateways[0].snat_entries[1].eips", "an SNAT entry needs at least one EIP"}}},
        {"SNAT entry with an EIP of no gateway",
         {{"/eips/-", {{"name", "eip-9"}, {"address", "203.0.113.19"}}},
          {kSnatEntries + "/2/eips/0", "eip-9"}},
         {{"nat_gateways[0].snat_entries[2].eips[0]",
           "eip-9 is not attached to nat gateway ngw-1"}}},
        {"SNAT entry with a missing EIP",
         {{kSnatEntries + "/2/eips/0", "eip-77"}},
         {{"nat_gateways[0].snat_entries[2].eips[0]", "eip eip-77 does not exist"}}},
        {"SNAT entry lists an EIP twice",
         {{kSnatEntries + "/0/eips/1", "eip-1"}},
         {{"nat_gateways[0].snat_entries[0].eips[1]",
           "eip eip-1 is listed twice (first at nat_gateways[0].snat_entries[0].eips[0])"}}},
        {"SNAT entry uses an IP-mapping EIP",
         {{kSnatEntries + "/2/eips/0", "eip-3"}},
         {{"nat_gateways[0].snat_entries[2].eips[0]",
           "eip-3 is used by IP mapping app-ipmap (nat_gateways[0].dnat_entries[2]); an "
           "IP-mapping EIP serves no other entry"}}},
        {"two SNAT entries with the same source prefix",
         {{kSnatEntries + "/2/source", {{"vswitch", "vsw-a"}}}},
         {{"nat_gateways[0].snat_entries[2].source",
           "source prefix 10.0.1.0/24 is already the source of SNAT entry snat-vsw-a "
           "(nat_gateways[0].snat_entries[0]); a source may sit in only one SNAT entry at the "
           "same prefix"}}},
        {"CIDR source equal to an instance address of another entry",
         {{kSnatEntries + "/2/source", {{"cidr", "10.0.1.21/32"}}}},
         {{"nat_gateways[0].snat_entries[2].source",
           "source prefix 10.0.1.21/32 is already the source of SNAT entry snat-app-1 "
           "(nat_gateways[0].snat_entries[1]); a source may sit in only one SNAT entry at the "
           "same prefix"}}},

        // ---- DNAT entries --------------------------------------------------------------------
        {"DNAT entry on an EIP of no gateway",
         {{"/eips/-", {{"name", "eip-4"}, {"address", "203.0.113.13"}}},
          {kDnatEntries + "/0/eip", "eip-4"}},
         {{"nat_gateways[0].dnat_entries[0].eip", "eip-4 is not attached to nat gateway ngw-1"}}},
        {"DNAT entry on a missing EIP",
         {{kDnatEntries + "/0/eip", "eip-9"}},
         {{"nat_gateways[0].dnat_entries[0].eip", "eip eip-9 does not exist"}}},
        {"IP mapping with ports",
         {{kDnatEntries + "/2/public_port", "80"}, {kDnatEntries + "/2/private_port", "80"}},
         {{"nat_gateways[0].dnat_entries[2].public_port",
           "protocol any maps every port and protocol; remove public_port"},
          {"nat_gateways[0].dnat_entries[2].private_port",
           "protocol any maps every port and protocol; remove private_port"}}},
        {"port mapping without private port",
         {{kDnatEntries + "/0/private_port", kRemove}},
         {{"nat_gateways[0].dnat_entries[0].private_port",
           "protocol tcp needs private_port (a port such as \"80\" or a range \"10/20\")"}}},
        {"port mapping without any port",
         {{kDnatEntries + "/1/private_port", kRemove}, {kDnatEntries + "/1/public_port", kRemove}},
         {{"nat_gateways[0].dnat_entries[1].public_port",
           "protocol udp needs public_port (a port such as \"80\" or a range \"10/20\")"},
          {"nat_gateways[0].dnat_entries[1].private_port",
           "protocol udp needs private_port (a port such as \"80\" or a range \"10/20\")"}}},
        {"port ranges of different lengths (the DESIGN.md message)",
         {{kDnatEntries + "/1/public_port", "10/19"}},
         {{"nat_gateways[0].dnat_entries[1].private_port",
           "range length 11 differs from public_port range length 10"}}},
        {"single public port to a private range",
         {{kDnatEntries + "/0/private_port", "8080/8081"}},
         {{"nat_gateways[0].dnat_entries[0].private_port",
           "range length 2 differs from public_port range length 1"}}},
        {"overlapping public port ranges",
         {{kDnatEntries + "/-",
           {{"name", "games-2"},
            {"eip", "eip-1"},
            {"protocol", "udp"},
            {"public_port", "15/16"},
            {"private_ip", "10.0.1.20"},
            {"private_port", "15/16"}}}},
         {{"nat_gateways[0].dnat_entries[3].public_port",
           "udp port 15 of eip-1 is already mapped by DNAT entry games "
           "(nat_gateways[0].dnat_entries[1], public_port 10/20); (eip, protocol, public port) "
           "must be unique"}}},
        {"public port range overlapping several mapped ranges",
         {{kDnatEntries + "/-",
           {{"name", "low"},
            {"eip", "eip-1"},
            {"protocol", "udp"},
            {"public_port", "5/9"},
            {"private_ip", "10.0.1.20"},
            {"private_port", "5/9"}}},
          {kDnatEntries + "/-",
           {{"name", "high"},
            {"eip", "eip-1"},
            {"protocol", "udp"},
            {"public_port", "21/30"},
            {"private_ip", "10.0.1.20"},
            {"private_port", "21/30"}}},
          {kDnatEntries + "/-",
           {{"name", "wide"},
            {"eip", "eip-1"},
            {"protocol", "udp"},
            {"public_port", "1/40"},
            {"private_ip", "10.0.1.20"},
            {"private_port", "101/140"}}},
          {kDnatEntries + "/-",
           {{"name", "tail"},
            {"eip", "eip-1"},
            {"protocol", "udp"},
            {"public_port", "30/31"},
            {"private_ip", "10.0.1.20"},
            {"private_port", "30/31"}}}},
         {{"nat_gateways[0].dnat_entries[5].public_port",
           "udp port 5 of eip-1 is already mapped by DNAT entry low "
           "(nat_gateways[0].dnat_entries[3], public_port 5/9); (eip, protocol, public port) "
           "must be unique"},
          {"nat_gateways[0].dnat_entries[6].public_port",
           "udp port 30 of eip-1 is already mapped by DNAT entry high "
           "(nat_gateways[0].dnat_entries[4], public_port 21/30); (eip, protocol, public port) "
           "must be unique"}}},
        {"port mapping on an IP-mapping EIP",
         {{kDnatEntries + "/-",
           {{"name", "ssh"},
            {"eip", "eip-3"},
            {"protocol", "tcp"},
            {"public_port", "22"},
            {"private_ip", "10.0.1.20"},
            {"private_port", "22"}}}},
         {{"nat_gateways[0].dnat_entries[3].eip",
           "eip-3 is used by IP mapping app-ipmap (nat_gateways[0].dnat_entries[2]); an "
           "IP-mapping EIP serves no other entry"}}},
        {"IP mapping on an EIP that other entries use",
         {{kDnatEntries + "/2/eip", "eip-1"}},
         {{"nat_gateways[0].snat_entries[0].eips[0]",
           "eip-1 is used by IP mapping app-ipmap (nat_gateways[0].dnat_entries[2]); an "
           "IP-mapping EIP serves no other entry"},
          {"nat_gateways[0].snat_entries[2].eips[0]",
           "eip-1 is used by IP mapping app-ipmap (nat_gateways[0].dnat_entries[2]); an "
           "IP-mapping EIP serves no other entry"},
          {"nat_gateways[0].dnat_entries[2].eip",
           "eip-1 is already used by DNAT entry web (nat_gateways[0].dnat_entries[0]); an IP "
           "mapping needs an EIP that no other entry uses"}}},
        {"two IP mappings for one private IP",
         {{"/eips/-", {{"name", "eip-4"}, {"address", "203.0.113.13"}}},
          {"/nat_gateways/0/eips/-", "eip-4"},
          {kDnatEntries + "/-",
           {{"name", "app-ipmap-2"},
            {"eip", "eip-4"},
            {"protocol", "any"},
            {"private_ip", "10.0.1.21"}}}},
         {{"nat_gateways[0].dnat_entries[3].private_ip",
           "10.0.1.21 already has IP mapping app-ipmap (nat_gateways[0].dnat_entries[2]); a "
           "private IP has at most one IP mapping"}}},
        {"DNAT private IP outside every vswitch",
         {{kDnatEntries + "/0/private_ip", "10.0.9.9"}},
         {{"nat_gateways[0].dnat_entries[0].private_ip",
           "10.0.9.9 is not inside any vswitch of vpc vpc-prod"}}},
        {"DNAT private IP is a broadcast address",
         {{kDnatEntries + "/0/private_ip", "10.0.2.255"}},
         {{"nat_gateways[0].dnat_entries[0].private_ip",
           "10.0.2.255 is the broadcast address of vswitch vsw-b (10.0.2.0/24)"}}},
        {"public port inside the SNAT port range of a shared EIP",
         {{kDnatEntries + "/0/public_port", "8080"}},
         {{"nat_gateways[0].dnat_entries[0].public_port",
           "public port 8080 lies in snat_port_range 1025-65535 of eip-1, which SNAT entry "
           "snat-vsw-a also uses: use a public port <= 1024 or narrow snat_port_range to leave "
           "it free"}}},
        {"public port range overlapping a narrowed SNAT port range",
         {{"/nat_gateways/0/snat_port_range", "1-30000"},
          {"/nat_gateways/0/port_budget_per_eip", 30000}},
         {{"nat_gateways[0].dnat_entries[0].public_port",
           "public port 80 lies in snat_port_range 1-30000 of eip-1, which SNAT entry "
           "snat-vsw-a also uses: use a public port >= 30001 or narrow snat_port_range to leave "
           "it free"},
          {"nat_gateways[0].dnat_entries[1].public_port",
           "public ports 10/20 overlap snat_port_range 1-30000 of eip-1, which SNAT entry "
           "snat-vsw-a also uses: use a public port >= 30001 or narrow snat_port_range to leave "
           "it free"}}},

        // ---- IPv4 gateways -------------------------------------------------------------------
        {"ipv4 gateway in a missing VPC",
         {{"/ipv4_gateways/0/vpc", "vpc-x"}},
         {{"vpcs[0].route_tables[1].routes[0].next_hop.ipv4_gateway",
           "ipv4 gateway igw-1 belongs to vpc vpc-x, not to vpc vpc-prod"},
          {"ipv4_gateways[0].vpc", "vpc vpc-x does not exist"}}},
        {"second ipv4 gateway in a VPC",
         {{"/ipv4_gateways/-",
           {{"name", "igw-2"},
            {"vpc", "vpc-prod"},
            {"outside_interface", "veth-wan"},
            {"upstream", "198.51.100.1"}}}},
         {{"ipv4_gateways[1].vpc",
           "vpc vpc-prod already has IPv4 gateway igw-1 (ipv4_gateways[0]); a VPC has at most "
           "one"}}},
        {"ipv4 gateway outside interface invalid",
         {{"/ipv4_gateways/0/outside_interface", "wan 0"}},
         {{"ipv4_gateways[0].outside_interface",
           "'wan 0' is not a valid interface name " + kIfnameRule}}},
        {"ipv4 gateway outside interface is a VPC interface",
         {{"/ipv4_gateways/0/outside_interface", "veth-vpc"}},
         {{"ipv4_gateways[0].outside_interface",
           "interface veth-vpc is an inside interface of vpc vpc-prod (vpcs[0].interfaces[0]); "
           "a gateway's outside interface must be a different interface"}}},
        {"ipv4 gateway upstream inside a VPC",
         {{"/ipv4_gateways/0/upstream", "10.0.2.1"}},
         {{"ipv4_gateways[0].upstream",
           "upstream 10.0.2.1 lies inside vpc vpc-prod (10.0.0.0/16); the upstream is the next "
           "hop on the outside network"}}},
        {"private VPC with an enabled IPv4 gateway",
         {{"/vpcs/0/internet_access", "private"}},
         {{"vpcs[0].internet_access",
           "vpc vpc-prod is private (no internet path), but its ipv4 gateway igw-1 "
           "(ipv4_gateways[0]) is enabled: remove internet_access, or disable the gateway"}}},
        {"direct internet access by an inside interface, upstream inside the VPC",
         {{"/vpcs/0/internet_access",
           json{{"outside_interface", "veth-vpc"}, {"upstream", "10.0.9.1"}}}},
         {{"vpcs[0].internet_access.outside_interface",
           "interface veth-vpc is an inside interface of vpc vpc-prod (vpcs[0].interfaces[0]); "
           "a gateway's outside interface must be a different interface"},
          {"vpcs[0].internet_access.upstream",
           "upstream 10.0.9.1 lies inside vpc vpc-prod (10.0.0.0/16); the upstream is the next "
           "hop on the outside network"}}},
        {"gateway route outside the VPC",
         {{"/ipv4_gateways/0/gateway_route_table/0/destination", "0.0.0.0/0"}},
         {{"ipv4_gateways[0].gateway_route_table[0].destination",
           "0.0.0.0/0 is not inside the VPC CIDR 10.0.0.0/16; the gateway route table only "
           "steers traffic to addresses of its VPC"}}},
        {"duplicate gateway route",
         {{"/ipv4_gateways/0/gateway_route_table/1/destination", "10.0.2.0/24"}},
         {{"ipv4_gateways[0].gateway_route_table[1].destination",
           "duplicate destination 10.0.2.0/24 (first at "
           "ipv4_gateways[0].gateway_route_table[0].destination)"}}},
        {"gateway route to a missing instance",
         {{"/ipv4_gateways/0/gateway_route_table/1/next_hop", {{"instance", "ghost"}}}},
         {{"ipv4_gateways[0].gateway_route_table[1].next_hop.instance",
           "instance ghost does not exist in vpc vpc-prod"}}},
        {"gateway route to an instance of another VPC",
         {{"/vpcs/-", vpc_dev()},
          {"/ipv4_gateways/0/gateway_route_table/1/next_hop", {{"instance", "dev-1"}}}},
         {{"ipv4_gateways[0].gateway_route_table[1].next_hop.instance",
           "instance dev-1 belongs to vpc vpc-dev, not to vpc vpc-prod"}}},
    };
}

}  // namespace

TEST_CASE("the DESIGN.md example is valid", "[model]") {
    auto errors = errors_of(base_document());
    INFO(show(errors));
    CHECK(errors.empty());
}

TEST_CASE("invalid documents report exactly their errors", "[model]") {
    auto base = base_document();
    auto cases = invalid_documents();
    CHECK(cases.size() >= 45);
    for (const auto& test : cases) {
        INFO(test.description);
        auto errors = errors_of(apply(base, test.edits));
        INFO("got:\n" << show(errors) << "expected:\n" << show(test.expected));
        CHECK(errors == test.expected);
    }
}

TEST_CASE("edits that a careless validator would refuse stay valid", "[model]") {
    auto base = base_document();
    const std::vector<std::pair<const char*, std::vector<Edit>>> valid_edits = {
        {"same public port, other protocol",
         {{kDnatEntries + "/-",
           {{"name", "web-udp"},
            {"eip", "eip-1"},
            {"protocol", "udp"},
            {"public_port", "80"},
            {"private_ip", "10.0.1.10"},
            {"private_port", "80"}}}}},
        {"public port above a narrowed SNAT port range",
         {{kDnatEntries + "/0/public_port", "8080"},
          {"/nat_gateways/0/snat_port_range", "10000-65535"},
          {"/nat_gateways/0/port_budget_per_eip", 55536}}},
        {"high public port on an EIP no SNAT entry uses",
         {{"/eips/-", {{"name", "eip-4"}, {"address", "203.0.113.13"}}},
          {"/nat_gateways/0/eips/-", "eip-4"},
          {kDnatEntries + "/0/eip", "eip-4"},
          {kDnatEntries + "/0/public_port", "8080"}}},
        {"route to a specific public CIDR",
         {{"/vpcs/0/route_tables/1/routes/-",
           {{"destination", "192.0.2.0/24"}, {"next_hop", {{"nat_gateway", "ngw-1"}}}}}}},
        {"named system route table with its own routes",
         {{"/vpcs/0/system_route_table",
           {{"name", "rt-sys"},
            {"routes", {{{"destination", "0.0.0.0/0"}, {"next_hop", "blackhole"}}}}}}}},
        {"masquerade gateway without EIPs in a second VPC",
         {{"/vpcs/-", vpc_dev()}, {"/nat_gateways/-", masquerade_gateway("ngw-dev", "vpc-dev")}}},
        {"public IP in a VPC with direct internet access and no gateway",
         {{"/vpcs/-", with(vpc_dev(), "internet_access",
                           {{"outside_interface", "veth-up"}, {"upstream", "192.0.2.1"}})},
          {"/vpcs/1/instances/0/public_ip", "203.0.113.60"}}},
        {"public IP kept in a private VPC",
         {{"/vpcs/-", with(vpc_dev(), "internet_access", "private")},
          {"/vpcs/1/instances/0/public_ip", "203.0.113.60"}}},
        {"nested SNAT sources at different prefixes",
         {{kSnatEntries + "/-",
           {{"name", "snat-vpc"}, {"source", {{"vpc", "vpc-prod"}}}, {"eips", {"eip-2"}}}}}},
        {"limits raised to exactly what is used",
         {{"/limits",
           {{"nat_gateways_per_vpc", 1},
            {"eips_per_nat_gateway", 3},
            {"snat_entries_per_nat_gateway", 3},
            {"dnat_entries_per_nat_gateway", 3}}}}},
        {"instance public IP with only a NAT gateway",
         {{"/ipv4_gateways", kRemove},
          {"/vpcs/0/route_tables/1/routes/0/next_hop", {{"nat_gateway", "ngw-1"}}}}},
    };
    for (const auto& [description, edits] : valid_edits) {
        INFO(description);
        auto errors = errors_of(apply(base, edits));
        INFO(show(errors));
        CHECK(errors.empty());
    }
}

TEST_CASE("a document with several problems reports all of them in document order", "[model]") {
    auto document = apply(base_document(), {{"/ipv4_gateways/0/upstream", "10.0.0.1"},
                                            {"/vpcs/0/vswitches/1/cidr", "10.0.1.0/25"},
                                            {kDnatEntries + "/0/public_port", "8080"},
                                            {"/eips/0/address", "203.0.113.11"},
                                            {kSnatEntries + "/1/source", {{"instance", "nobody"}}},
                                            {kDnatEntries + "/2/name", "app ipmap"}});
    auto errors = errors_of(document);
    INFO(show(errors));
    CHECK(errors ==
          Errors{
              {"vpcs[0].vswitches[1].cidr",
               "10.0.1.0/25 overlaps vswitch vsw-a (10.0.1.0/24, vpcs[0].vswitches[0].cidr)"},
              {"vpcs[0].instances[2].private_ips[0]",
               "10.0.2.5 is not inside vswitch vsw-b (10.0.1.0/25)"},
              {"eips[1].address",
               "address 203.0.113.11 is already used by another eip (at eips[0].address)"},
              {"nat_gateways[0].snat_entries[1].source.instance",
               "instance nobody does not exist in vpc vpc-prod"},
              {"nat_gateways[0].dnat_entries[0].public_port",
               "public port 8080 lies in snat_port_range 1025-65535 of eip-1, which SNAT entry "
               "snat-vsw-a also uses: use a public port <= 1024 or narrow snat_port_range to "
               "leave it free"},
              {"nat_gateways[0].dnat_entries[2].name",
               "name 'app ipmap' must start with a letter or digit and contain only letters, "
               "digits, '_', '.' and '-'"},
              {"ipv4_gateways[0].upstream",
               "upstream 10.0.0.1 lies inside vpc vpc-prod (10.0.0.0/16); the upstream is the "
               "next hop on the outside network"},
          });
}

TEST_CASE("load_model parses and validates", "[model]") {
    auto invalid = natctl::model::load_model(R"({"version": 1, "vpcs": [
        {"name": "v", "cidr": "10.0.0.0/16"}]})");
    REQUIRE_FALSE(invalid.has_value());
    CHECK(invalid.error() ==
          Errors{{"vpcs[0].interfaces",
                  "a VPC needs at least one interface (the gateway host's inside link)"}});

    auto malformed = natctl::model::load_model(R"({"version": 1, "vpcs": 3})");
    REQUIRE_FALSE(malformed.has_value());
    CHECK(malformed.error() == Errors{{"vpcs", "expected an array, got an integer"}});

    auto empty = natctl::model::load_model(R"({"version": 1})");
    CHECK(empty.has_value());
}

namespace {

Errors load_errors(const json& document) {
    auto loaded = natctl::model::load_model(document.dump());
    REQUIRE_FALSE(loaded.has_value());
    return loaded.error();
}

}  // namespace

TEST_CASE("a reading error does not hide the document's semantic errors", "[model]") {
    // Issue 14: public_port 70000 used to hide the unknown EIP of another entry.
    auto document = apply(base_document(), {{kDnatEntries + "/0/public_port", "70000"},
                                            {kDnatEntries + "/1/eip", "eip-9"}});
    auto errors = load_errors(document);
    INFO(show(errors));
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].path == "nat_gateways[0].dnat_entries[0].public_port");
    CHECK(errors[0].reason.find("70000") != std::string::npos);
    CHECK(errors[1] ==
          natctl::model::Error{"nat_gateways[0].dnat_entries[1].eip", "eip eip-9 does not exist"});

    // Both in one entry: the entry's other fields are still judged.
    document = apply(base_document(), {{kDnatEntries + "/0/public_port", "70000"},
                                       {kDnatEntries + "/0/eip", "eip-9"}});
    errors = load_errors(document);
    INFO(show(errors));
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].path == "nat_gateways[0].dnat_entries[0].eip");
    CHECK(errors[1].path == "nat_gateways[0].dnat_entries[0].public_port");

    // The API's whole-document write goes through the same function.
    auto read = natctl::model::read_model(document);
    CHECK(natctl::model::document_errors(read) == errors);
}

TEST_CASE("values that could not be read are not judged as their placeholders", "[model]") {
    // A malformed CIDR reads as 0.0.0.0/0, an unreadable route as a default route: neither
    // may produce findings about overlaps or duplicates the document does not contain.
    auto document =
        apply(base_document(),
              {{"/vpcs/0/vswitches/0/cidr", "10.0.1.0/33"},
               {"/vpcs/0/route_tables/0/routes/0", 7},
               {"/vpcs/0/route_tables/0/routes/-",
                {{"destination", "0.0.0.0/0"}, {"next_hop", {{"nat_gateway", "ngw-1"}}}}},
               {"/eips/0/address", "203.0.113"},
               {kSnatEntries + "/2/eips/0", "eip-7"}});
    auto errors = load_errors(document);
    INFO(show(errors));
    std::vector<std::string> paths;
    for (const auto& error : errors)
        paths.push_back(error.path);
    CHECK(paths == std::vector<std::string>{"vpcs[0].vswitches[0].cidr",
                                            "vpcs[0].route_tables[0].routes[0]", "eips[0].address",
                                            "nat_gateways[0].snat_entries[2].eips[0]"});
}

TEST_CASE("a document that is not an object or has another version is not judged further",
          "[model]") {
    auto errors = load_errors(json::array({1}));
    CHECK(errors == Errors{{"", "expected an object, got an array"}});
    errors = load_errors(apply(base_document(), {{"/version", 2}, {"/eips/0/name", "bad name"}}));
    CHECK(errors.size() == 1);
    CHECK(errors.at(0).path == "version");
}

TEST_CASE("EIPs associated with an instance", "[model]") {
    auto eip = [](json extra) {
        json object = {{"name", "eip-9"}, {"address", "203.0.113.30"}};
        object.update(extra);
        return Edit{"/eips/-", object};
    };
    CHECK(errors_of(apply(base_document(), {eip({{"instance", "web-1"}})})).empty());
    CHECK(errors_of(
              apply(base_document(), {eip({{"instance", "app-1"}, {"private_ip", "10.0.1.21"}})}))
              .empty());

    struct Bad {
        const char* description;
        std::vector<Edit> edits;
        Errors expected;
    };
    const std::vector<Bad> bad = {
        {"unknown instance",
         {eip({{"instance", "nobody"}})},
         {{"eips[3].instance", "instance nobody does not exist"}}},
        {"private_ip not of the instance",
         {eip({{"instance", "web-1"}, {"private_ip", "10.0.1.20"}})},
         {{"eips[3].private_ip", "10.0.1.20 is not a private IP of instance web-1"}}},
        {"private_ip without instance",
         {eip({{"private_ip", "10.0.1.10"}})},
         {{"eips[3].private_ip",
           "private_ip names the instance address an EIP is associated with; it needs "
           "instance"}}},
        {"instance with a public_ip",
         {eip({{"instance", "bastion"}})},
         {{"eips[3].instance",
           "instance bastion has public_ip 203.0.113.50 "
           "(vpcs[0].instances[2].public_ip): remove it before associating "
           "an EIP"}}},
        {"also on a NAT gateway",
         {{"/eips/2/instance", "web-1"}},
         {{"eips[2].instance",
           "eip eip-3 is associated with nat gateway ngw-1 "
           "(nat_gateways[0].eips[2]); an EIP is associated with one NAT "
           "gateway or one instance"}}},
        {"two EIPs on one private IP",
         {eip({{"instance", "web-1"}}),
          {"/eips/-",
           {{"name", "eip-10"},
            {"address", "203.0.113.31"},
            {"instance", "web-1"},
            {"private_ip", "10.0.1.10"}}}},
         {{"eips[4].private_ip",
           "10.0.1.10 of instance web-1 already has eip eip-9 (eips[3]); "
           "a private IP has at most one EIP"}}},
    };
    for (const auto& test : bad) {
        INFO(test.description);
        auto errors = errors_of(apply(base_document(), test.edits));
        INFO("got:\n" << show(errors));
        CHECK(errors == test.expected);
    }

    // Round trip: the association fields are written back only when present.
    auto document =
        apply(base_document(), {eip({{"instance", "app-1"}, {"private_ip", "10.0.1.21"}})});
    auto model = natctl::model::from_json(document);
    REQUIRE(model.has_value());
    CHECK(natctl::model::to_json(*model)["eips"][3] == document["eips"][3]);
    CHECK(!natctl::model::to_json(*model)["eips"][0].contains("instance"));
}
