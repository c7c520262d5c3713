#include "controller/api/object_status.hpp"

#include <fmt/format.h>

#include <string>
#include <variant>
#include <vector>

#include "controller/api/edits.hpp"

namespace natctl::api {
namespace {

using nlohmann::json;

json route_names(const std::vector<model::Error>& routes) {
    json out = json::array();
    for (const auto& route : routes)
        out.push_back(route.reason);
    return out;
}

// A system route table without a default route behaves as if it had one to the VPC's first
// NAT gateway (DESIGN.md): that gateway carries it too.
void add_implicit_default(const model::Model& m, const model::NatGateway& gateway, json& routes) {
    for (const auto& vpc : m.vpcs) {
        if (vpc.name != gateway.vpc) continue;
        const model::NatGateway* first = nullptr;
        for (const auto& candidate : m.nat_gateways)
            if (candidate.vpc == vpc.name && !first) first = &candidate;
        if (first != &gateway) return;
        bool has_default = false;
        if (vpc.system_route_table)
            for (const auto& route : vpc.system_route_table->routes)
                has_default = has_default || route.destination.prefix == 0;
        if (!has_default)
            routes.push_back(fmt::format(
                "{}:0.0.0.0/0 (implicit)",
                vpc.system_route_table ? vpc.system_route_table->name.value_or(vpc.name + "/system")
                                       : vpc.name + "/system"));
    }
}

json state(const char* status, const std::string& reason) {
    return {{"status", status}, {"reason", reason.empty() ? json(nullptr) : json(reason)}};
}

}  // namespace

json object_status(const model::Model& m, const json& plane_status) {
    std::string failure;
    if (plane_status.is_object()) {
        const auto reconcile = plane_status.value("reconcile", json::object());
        if (reconcile.is_object() && reconcile.value("state", "") == "failed") {
            const auto error = reconcile.value("last_error", json());
            failure = fmt::format("the kernel does not hold the stored model: {}",
                                  error.is_string() ? error.get<std::string>() : "unknown error");
        }
    }
    auto programmed = [&](json object) {
        object.update(failure.empty() ? state("Available", "") : state("Failed", failure));
        return object;
    };

    json gateways = json::array();
    for (const auto& gateway : m.nat_gateways) {
        auto routes = route_names(routes_to_nat_gateway(m, gateway.name));
        add_implicit_default(m, gateway, routes);
        json snat = json::array();
        for (const auto& entry : gateway.snat_entries)
            snat.push_back(programmed({{"name", entry.name}}));
        json dnat = json::array();
        for (const auto& entry : gateway.dnat_entries)
            dnat.push_back(programmed({{"name", entry.name}}));
        gateways.push_back(programmed({{"name", gateway.name},
                                       {"routes", std::move(routes)},
                                       {"snat_entries", std::move(snat)},
                                       {"dnat_entries", std::move(dnat)}}));
    }
    json ipv4 = json::array();
    for (const auto& gateway : m.ipv4_gateways) {
        json object = {{"name", gateway.name},
                       {"routes", route_names(routes_to_ipv4_gateway(m, gateway.name))}};
        if (!failure.empty())
            object.update(state("Failed", failure));
        else if (gateway.is_enabled())
            object.update(state("Active", ""));
        else
            object.update(state("Available",
                                "disabled: traffic untouched until it is activated "
                                "with the route tables to switch"));
        ipv4.push_back(std::move(object));
    }
    return {{"nat_gateways", std::move(gateways)}, {"ipv4_gateways", std::move(ipv4)}};
}

}  // namespace natctl::api
