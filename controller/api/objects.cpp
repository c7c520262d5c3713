#include "controller/api/objects.hpp"

#include <string>
#include <utility>

#include "controller/model/json.hpp"

namespace natctl::api {
namespace {

using nlohmann::json;

// Enough of a parent for the reader to accept it: the semantic checks that would reject
// these placeholders are validate()'s, which never sees them.
const json kVpcShell = {{"name", "v"}, {"cidr", "10.0.0.0/8"}};
const json kGatewayShell = {
    {"name", "g"}, {"vpc", "v"}, {"outside_interface", "o"}, {"upstream", "192.0.2.1"}};

// Errors of the wrapping document, with `prefix` (where the body sat) taken off.
model::Errors relative(model::Errors errors, const std::string& prefix) {
    for (auto& error : errors) {
        if (error.path == prefix)
            error.path.clear();
        else if (error.path.starts_with(prefix + "."))
            error.path = error.path.substr(prefix.size() + 1);
    }
    return errors;
}

template <class Extract>
auto parse_in(json document, const std::string& prefix, Extract extract)
    -> std::expected<decltype(extract(std::declval<model::Model&>())), model::Errors> {
    document["version"] = 1;
    auto parsed = model::from_json(document);
    if (!parsed) return std::unexpected(relative(std::move(parsed.error()), prefix));
    return extract(*parsed);
}

json in_vpc(const char* key, const json& body) {
    json vpc = kVpcShell;
    vpc[key] = json::array({body});
    return {{"vpcs", json::array({vpc})}};
}

json in_gateway(const char* key, const json& body) {
    json gateway = kGatewayShell;
    gateway[key] = json::array({body});
    return {{"nat_gateways", json::array({gateway})}};
}

}  // namespace

std::expected<model::Vpc, model::Errors> parse_vpc(const json& body) {
    return parse_in({{"vpcs", json::array({body})}}, "vpcs[0]",
                    [](model::Model& m) { return std::move(m.vpcs.at(0)); });
}
std::expected<model::VSwitch, model::Errors> parse_vswitch(const json& body) {
    return parse_in(in_vpc("vswitches", body), "vpcs[0].vswitches[0]",
                    [](model::Model& m) { return std::move(m.vpcs.at(0).vswitches.at(0)); });
}
std::expected<model::Instance, model::Errors> parse_instance(const json& body) {
    return parse_in(in_vpc("instances", body), "vpcs[0].instances[0]",
                    [](model::Model& m) { return std::move(m.vpcs.at(0).instances.at(0)); });
}
std::expected<model::RouteTable, model::Errors> parse_route_table(const json& body) {
    return parse_in(in_vpc("route_tables", body), "vpcs[0].route_tables[0]",
                    [](model::Model& m) { return std::move(m.vpcs.at(0).route_tables.at(0)); });
}
std::expected<model::Route, model::Errors> parse_route(const json& body) {
    json table = {{"name", "t"}, {"routes", json::array({body})}};
    return parse_in(
        in_vpc("route_tables", table), "vpcs[0].route_tables[0].routes[0]",
        [](model::Model& m) { return std::move(m.vpcs.at(0).route_tables.at(0).routes.at(0)); });
}
std::expected<model::Eip, model::Errors> parse_eip(const json& body) {
    return parse_in({{"eips", json::array({body})}}, "eips[0]",
                    [](model::Model& m) { return std::move(m.eips.at(0)); });
}
std::expected<model::NatGateway, model::Errors> parse_nat_gateway(const json& body) {
    return parse_in({{"nat_gateways", json::array({body})}}, "nat_gateways[0]",
                    [](model::Model& m) { return std::move(m.nat_gateways.at(0)); });
}
std::expected<model::SnatEntry, model::Errors> parse_snat_entry(const json& body) {
    return parse_in(
        in_gateway("snat_entries", body), "nat_gateways[0].snat_entries[0]",
        [](model::Model& m) { return std::move(m.nat_gateways.at(0).snat_entries.at(0)); });
}
std::expected<model::DnatEntry, model::Errors> parse_dnat_entry(const json& body) {
    return parse_in(
        in_gateway("dnat_entries", body), "nat_gateways[0].dnat_entries[0]",
        [](model::Model& m) { return std::move(m.nat_gateways.at(0).dnat_entries.at(0)); });
}
std::expected<model::Ipv4Gateway, model::Errors> parse_ipv4_gateway(const json& body) {
    return parse_in({{"ipv4_gateways", json::array({body})}}, "ipv4_gateways[0]",
                    [](model::Model& m) { return std::move(m.ipv4_gateways.at(0)); });
}
std::expected<model::Limits, model::Errors> parse_limits(const json& body) {
    return parse_in({{"limits", body}}, "limits",
                    [](model::Model& m) { return m.limits.value_or(model::Limits{}); });
}

json to_json(const model::Vpc& vpc) {
    model::Model m;
    m.vpcs.push_back(vpc);
    return model::to_json(m)["vpcs"][0];
}
json to_json(const model::VSwitch& vswitch) {
    model::Model m;
    m.vpcs.push_back({.vswitches = {vswitch}});
    return model::to_json(m)["vpcs"][0]["vswitches"][0];
}
json to_json(const model::Instance& instance) {
    model::Model m;
    m.vpcs.push_back({.instances = {instance}});
    return model::to_json(m)["vpcs"][0]["instances"][0];
}
json to_json(const model::RouteTable& table) {
    model::Model m;
    m.vpcs.push_back({.route_tables = {table}});
    return model::to_json(m)["vpcs"][0]["route_tables"][0];
}
json to_json(const model::Route& route) {
    model::Model m;
    m.vpcs.push_back({.route_tables = {{.routes = {route}}}});
    return model::to_json(m)["vpcs"][0]["route_tables"][0]["routes"][0];
}
json to_json(const model::Eip& eip) {
    model::Model m;
    m.eips.push_back(eip);
    return model::to_json(m)["eips"][0];
}
json to_json(const model::NatGateway& gateway) {
    model::Model m;
    m.nat_gateways.push_back(gateway);
    return model::to_json(m)["nat_gateways"][0];
}
json to_json(const model::SnatEntry& entry) {
    model::Model m;
    m.nat_gateways.push_back({.snat_entries = {entry}});
    return model::to_json(m)["nat_gateways"][0]["snat_entries"][0];
}
json to_json(const model::DnatEntry& entry) {
    model::Model m;
    m.nat_gateways.push_back({.dnat_entries = {entry}});
    return model::to_json(m)["nat_gateways"][0]["dnat_entries"][0];
}
json to_json(const model::Ipv4Gateway& gateway) {
    model::Model m;
    m.ipv4_gateways.push_back(gateway);
    return model::to_json(m)["ipv4_gateways"][0];
}
json to_json(const model::Limits& limits) {
    model::Model m;
    m.limits = limits;
    return model::to_json(m)["limits"];
}

}  // namespace natctl::api
