#include "controller/api/edits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <type_traits>
#include <utility>
#include <variant>

#include "controller/api/objects.hpp"
#include "controller/model/addr.hpp"

namespace natctl::api {
namespace {

using Args = std::vector<std::string>;

template <class T>
std::string name_of(const T& object) {
    return object.name;
}

template <class T>
std::expected<T*, Failure> find_named(std::vector<T>& items, const std::string& name,
                                      const char* kind) {
    for (auto& item : items)
        if (item.name == name) return &item;
    return std::unexpected(failure(404, "", fmt::format("{} {} does not exist", kind, name)));
}

template <class T>
std::size_t index_of(const std::vector<T>& items, const T& item) {
    return static_cast<std::size_t>(&item - items.data());
}

// Every route (explicit tables and the system table) whose next hop is a `Hop` named `name`.
template <class Hop>
std::vector<model::Error> routes_to(const model::Model& m, const std::string& name) {
    std::vector<model::Error> out;
    auto scan = [&](const std::vector<model::Route>& routes, const std::string& table,
                    const std::string& path) {
        for (std::size_t r = 0; r < routes.size(); ++r) {
            const auto* hop = std::get_if<Hop>(&routes[r].next_hop);
            if (hop && hop->name == name)
                out.push_back({fmt::format("{}.routes[{}]", path, r),
                               fmt::format("{}:{}", table, to_string(routes[r].destination))});
        }
    };
    for (std::size_t v = 0; v < m.vpcs.size(); ++v) {
        const auto& vpc = m.vpcs[v];
        for (std::size_t t = 0; t < vpc.route_tables.size(); ++t)
            scan(vpc.route_tables[t].routes, vpc.route_tables[t].name,
                 fmt::format("vpcs[{}].route_tables[{}]", v, t));
        if (vpc.system_route_table)
            scan(vpc.system_route_table->routes,
                 vpc.system_route_table->name.value_or(vpc.name + "/system"),
                 fmt::format("vpcs[{}].system_route_table", v));
    }
    return out;
}

template <class Hop>
void remove_routes_to(model::Model& m, const std::string& name) {
    auto points_at = [&](const model::Route& route) {
        const auto* hop = std::get_if<Hop>(&route.next_hop);
        return hop && hop->name == name;
    };
    for (auto& vpc : m.vpcs) {
        for (auto& table : vpc.route_tables)
            std::erase_if(table.routes, points_at);
        if (vpc.system_route_table) std::erase_if(vpc.system_route_table->routes, points_at);
    }
}

// "0.0.0.0/0 -> nat_gateway ngw-1", as the route is written in the model.
std::string describe_route(const model::Route& route) {
    const auto hop = std::visit(
        [](const auto& next) -> std::string {
            using T = std::decay_t<decltype(next)>;
            if constexpr (std::is_same_v<T, model::NatGatewayHop>)
                return "nat_gateway " + next.name;
            else if constexpr (std::is_same_v<T, model::Ipv4GatewayHop>)
                return "ipv4_gateway " + next.name;
            else if constexpr (std::is_same_v<T, model::InstanceHop>)
                return "instance " + next.name;
            else
                return "blackhole";
        },
        route.next_hop);
    return fmt::format("{} -> {}", to_string(route.destination), hop);
}

std::expected<nlohmann::json, Failure> parse_body(const std::string& body) {
    try {
        return nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& error) {
        return std::unexpected(failure(400, "", error.what()));
    }
}

std::optional<Failure> delete_vpc(model::Model& m, const model::Vpc& vpc, const Target&, Notes&) {
    Failure refused{409, {}};
    for (std::size_t g = 0; g < m.nat_gateways.size(); ++g)
        if (m.nat_gateways[g].vpc == vpc.name)
            refused.errors.push_back({fmt::format("nat_gateways[{}].vpc", g),
                                      fmt::format("nat gateway {} is in vpc {}: delete it first",
                                                  m.nat_gateways[g].name, vpc.name)});
    for (std::size_t g = 0; g < m.ipv4_gateways.size(); ++g)
        if (m.ipv4_gateways[g].vpc == vpc.name)
            refused.errors.push_back({fmt::format("ipv4_gateways[{}].vpc", g),
                                      fmt::format("ipv4 gateway {} is in vpc {}: delete it first",
                                                  m.ipv4_gateways[g].name, vpc.name)});
    if (refused.errors.empty()) return std::nullopt;
    return refused;
}

std::optional<Failure> delete_eip(model::Model& m, const model::Eip& eip, const Target&, Notes&) {
    if (eip.instance)
        return failure(409,
                       fmt::format("eips[{}].instance", std::find_if(m.eips.begin(), m.eips.end(),
                                                                     [&](const model::Eip& e) {
                                                                         return e.name == eip.name;
                                                                     }) -
                                                            m.eips.begin()),
                       fmt::format("eip {} is associated with instance {}: disassociate it first",
                                   eip.name, *eip.instance));
    for (std::size_t g = 0; g < m.nat_gateways.size(); ++g) {
        const auto& names = m.nat_gateways[g].eips;
        auto it = std::find(names.begin(), names.end(), eip.name);
        if (it != names.end())
            return failure(409, fmt::format("nat_gateways[{}].eips[{}]", g, it - names.begin()),
                           fmt::format("eip {} is associated with nat gateway {}: disassociate "
                                       "it first",
                                       eip.name, m.nat_gateways[g].name));
    }
    return std::nullopt;
}

// DESIGN.md: a gateway with entries or EIPs is deleted only when forced; deletion
// protection refuses even that. Routes to it would not validate after the delete, so they
// count as "in use" too and go with a forced delete.
std::optional<Failure> delete_nat_gateway(model::Model& m, const model::NatGateway& gateway,
                                          const Target& target, Notes& notes) {
    const auto path = fmt::format("nat_gateways[{}]", index_of(m.nat_gateways, gateway));
    if (gateway.protected_from_deletion())
        return failure(409, path + ".deletion_protection",
                       "deletion_protection is on: switch it off first");
    auto force = query_flag(target, "force");
    if (!force) return force.error();
    const auto routes = routes_to<model::NatGatewayHop>(m, gateway.name);
    if (!*force) {
        Failure refused{409, {}};
        auto use_force = [&](std::size_t count, const char* what, const char* field) {
            if (count > 0)
                refused.errors.push_back(
                    {fmt::format("{}.{}", path, field),
                     fmt::format("nat gateway {} has {} {}: remove them first or delete with "
                                 "?force=1",
                                 gateway.name, count, what)});
        };
        use_force(gateway.snat_entries.size(), "SNAT entries", "snat_entries");
        use_force(gateway.dnat_entries.size(), "DNAT entries", "dnat_entries");
        use_force(gateway.eips.size(), "associated EIPs", "eips");
        for (const auto& route : routes)
            refused.errors.push_back(
                {route.path, fmt::format("route {} points at nat gateway {}: remove it first or "
                                         "delete with ?force=1",
                                         route.reason, gateway.name)});
        if (!refused.errors.empty()) return refused;
        return std::nullopt;
    }
    if (!gateway.snat_entries.empty() || !gateway.dnat_entries.empty())
        notes.push_back(
            fmt::format("forced: {} SNAT and {} DNAT entries removed with nat "
                        "gateway {}",
                        gateway.snat_entries.size(), gateway.dnat_entries.size(), gateway.name));
    if (!gateway.eips.empty())
        notes.push_back(fmt::format("forced: eips {} disassociated from nat gateway {}",
                                    fmt::join(gateway.eips, ", "), gateway.name));
    for (const auto& route : routes)
        notes.push_back(fmt::format("forced: route {} removed (it pointed at nat gateway {})",
                                    route.reason, gateway.name));
    remove_routes_to<model::NatGatewayHop>(m, gateway.name);
    return std::nullopt;
}

std::optional<Failure> delete_ipv4_gateway(model::Model& m, const model::Ipv4Gateway& gateway,
                                           const Target& target, Notes& notes) {
    auto mode = target.query.find("mode");
    if (mode == target.query.end() || (mode->second != "private" && mode->second != "public"))
        return failure(400, "?mode",
                       "deleting an IPv4 gateway needs ?mode=private (refused while routes "
                       "point at it) or ?mode=public (routes pointing at it are removed)");
    const auto routes = routes_to<model::Ipv4GatewayHop>(m, gateway.name);
    // What the VPC is left with is recorded on it (vpcs[].internet_access), so that the
    // data plane, a restart and GET /v1/config all say the same.
    auto found = find_named(m.vpcs, gateway.vpc, "vpc");
    model::Vpc* vpc = found ? *found : nullptr;
    if (mode->second == "private") {
        Failure refused{409, {}};
        for (const auto& route : routes)
            refused.errors.push_back(
                {route.path, fmt::format("route {} points at ipv4 gateway {}: remove it first or "
                                         "delete with ?mode=public",
                                         route.reason, gateway.name)});
        if (!refused.errors.empty()) return refused;
        if (vpc) {
            vpc->internet_access = model::NoInternet{};
            notes.push_back(
                fmt::format("mode private: vpc {} has no internet path (internet_access "
                            "\"private\"), public IPs and NAT gateways included",
                            vpc->name));
        }
        return std::nullopt;
    }
    for (const auto& route : routes)
        notes.push_back(fmt::format("mode public: route {} removed with ipv4 gateway {}",
                                    route.reason, gateway.name));
    remove_routes_to<model::Ipv4GatewayHop>(m, gateway.name);
    if (vpc) {
        vpc->internet_access = model::DirectInternet{gateway.outside_interface, gateway.upstream};
        notes.push_back(
            fmt::format("mode public: public IPs of vpc {} have direct internet "
                        "access by {} via {}",
                        vpc->name, gateway.outside_interface, model::to_string(gateway.upstream)));
    }
    return std::nullopt;
}

std::expected<model::Vpc*, Failure> vpc_of(model::Model& m, const Args& args) {
    return find_named(m.vpcs, args.at(0), "vpc");
}
std::expected<model::NatGateway*, Failure> gateway_of(model::Model& m, const Args& args) {
    return find_named(m.nat_gateways, args.at(0), "nat gateway");
}

}  // namespace

std::vector<model::Error> routes_to_nat_gateway(const model::Model& m, const std::string& name) {
    return routes_to<model::NatGatewayHop>(m, name);
}
std::vector<model::Error> routes_to_ipv4_gateway(const model::Model& m, const std::string& name) {
    return routes_to<model::Ipv4GatewayHop>(m, name);
}

Collection<model::Vpc> vpcs() {
    return {.kind = "vpc",
            .locate = [](model::Model& m, const Args&)
                -> std::expected<std::vector<model::Vpc>*, Failure> { return &m.vpcs; },
            .parse = &from_json<model::Vpc>,
            .name_of = &name_of<model::Vpc>,
            .before_delete = &delete_vpc};
}

Collection<model::VSwitch> vswitches() {
    return {.kind = "vswitch",
            .locate = [](model::Model& m,
                         const Args& args) -> std::expected<std::vector<model::VSwitch>*, Failure> {
                auto vpc = vpc_of(m, args);
                if (!vpc) return std::unexpected(vpc.error());
                return &(*vpc)->vswitches;
            },
            .parse = &from_json<model::VSwitch>,
            .name_of = &name_of<model::VSwitch>};
}

Collection<model::Instance> instances() {
    return {
        .kind = "instance",
        .locate = [](model::Model& m,
                     const Args& args) -> std::expected<std::vector<model::Instance>*, Failure> {
            auto vpc = vpc_of(m, args);
            if (!vpc) return std::unexpected(vpc.error());
            return &(*vpc)->instances;
        },
        .parse = &from_json<model::Instance>,
        .name_of = &name_of<model::Instance>};
}

Collection<model::RouteTable> route_tables() {
    return {
        .kind = "route table",
        .locate = [](model::Model& m,
                     const Args& args) -> std::expected<std::vector<model::RouteTable>*, Failure> {
            auto vpc = vpc_of(m, args);
            if (!vpc) return std::unexpected(vpc.error());
            return &(*vpc)->route_tables;
        },
        .parse = &from_json<model::RouteTable>,
        .name_of = &name_of<model::RouteTable>};
}

Collection<model::Route> routes() {
    return {.kind = "route",
            .name_field = "destination",
            .locate = [](model::Model& m,
                         const Args& args) -> std::expected<std::vector<model::Route>*, Failure> {
                auto vpc = vpc_of(m, args);
                if (!vpc) return std::unexpected(vpc.error());
                auto table = find_named((*vpc)->route_tables, args.at(1), "route table");
                if (!table) return std::unexpected(table.error());
                return &(*table)->routes;
            },
            .parse = &from_json<model::Route>,
            .name_of = [](const model::Route& route) { return to_string(route.destination); },
            // A '/' cannot sit in a path segment: 0.0.0.0_0 stands for 0.0.0.0/0.
            .key =
                [](const std::string& name) {
                    std::string out = name;
                    std::replace(out.begin(), out.end(), '_', '/');
                    return out;
                }};
}

Collection<model::Eip> eips() {
    return {.kind = "eip",
            .locate = [](model::Model& m, const Args&)
                -> std::expected<std::vector<model::Eip>*, Failure> { return &m.eips; },
            .parse = &from_json<model::Eip>,
            .name_of = &name_of<model::Eip>,
            .before_delete = &delete_eip};
}

Collection<model::NatGateway> nat_gateways() {
    return {.kind = "nat gateway",
            .locate = [](model::Model& m,
                         const Args&) -> std::expected<std::vector<model::NatGateway>*, Failure> {
                return &m.nat_gateways;
            },
            .parse = &from_json<model::NatGateway>,
            .name_of = &name_of<model::NatGateway>,
            .before_delete = &delete_nat_gateway};
}

Collection<model::SnatEntry> snat_entries() {
    return {
        .kind = "snat entry",
        .locate = [](model::Model& m,
                     const Args& args) -> std::expected<std::vector<model::SnatEntry>*, Failure> {
            auto gateway = gateway_of(m, args);
            if (!gateway) return std::unexpected(gateway.error());
            return &(*gateway)->snat_entries;
        },
        .parse = &from_json<model::SnatEntry>,
        .name_of = &name_of<model::SnatEntry>};
}

Collection<model::DnatEntry> dnat_entries() {
    return {
        .kind = "dnat entry",
        .locate = [](model::Model& m,
                     const Args& args) -> std::expected<std::vector<model::DnatEntry>*, Failure> {
            auto gateway = gateway_of(m, args);
            if (!gateway) return std::unexpected(gateway.error());
            return &(*gateway)->dnat_entries;
        },
        .parse = &from_json<model::DnatEntry>,
        .name_of = &name_of<model::DnatEntry>};
}

Collection<model::Ipv4Gateway> ipv4_gateways() {
    return {.kind = "ipv4 gateway",
            .locate = [](model::Model& m,
                         const Args&) -> std::expected<std::vector<model::Ipv4Gateway>*, Failure> {
                return &m.ipv4_gateways;
            },
            .parse = &from_json<model::Ipv4Gateway>,
            .name_of = &name_of<model::Ipv4Gateway>,
            .before_delete = &delete_ipv4_gateway};
}

Edit edit_limits(const std::string& body) {
    return [&body](model::Model& m, Notes&) -> std::optional<Failure> {
        auto document = parse_body(body);
        if (!document) return document.error();
        auto limits = from_json<model::Limits>(*document);
        if (!limits) return Failure{400, std::move(limits.error())};
        // {} means "the defaults": stored as no limits at all, so that it round-trips.
        if (*limits == model::Limits{})
            m.limits.reset();
        else
            m.limits = *limits;
        return std::nullopt;
    };
}

Edit associate_eip(std::string gateway_name, std::string eip_name) {
    return [gateway_name, eip_name](model::Model& m, Notes&) -> std::optional<Failure> {
        auto gateway = find_named(m.nat_gateways, gateway_name, "nat gateway");
        if (!gateway) return gateway.error();
        if (auto eip = find_named(m.eips, eip_name, "eip"); !eip) return eip.error();
        for (const auto& other : m.nat_gateways)
            if (std::find(other.eips.begin(), other.eips.end(), eip_name) != other.eips.end())
                return failure(409, "",
                               fmt::format("eip {} is already associated with nat gateway {}",
                                           eip_name, other.name));
        (*gateway)->eips.push_back(eip_name);
        return std::nullopt;
    };
}

Edit disassociate_eip(std::string gateway_name, std::string eip_name) {
    return [gateway_name, eip_name](model::Model& m, Notes&) -> std::optional<Failure> {
        auto gateway = find_named(m.nat_gateways, gateway_name, "nat gateway");
        if (!gateway) return gateway.error();
        auto& names = (*gateway)->eips;
        auto it = std::find(names.begin(), names.end(), eip_name);
        if (it == names.end())
            return failure(404, "",
                           fmt::format("eip {} is not associated with nat gateway {}", eip_name,
                                       gateway_name));
        const auto path = fmt::format("nat_gateways[{}]", index_of(m.nat_gateways, **gateway));
        Failure refused{409, {}};
        const auto& snat = (*gateway)->snat_entries;
        for (std::size_t e = 0; e < snat.size(); ++e)
            if (std::find(snat[e].eips.begin(), snat[e].eips.end(), eip_name) != snat[e].eips.end())
                refused.errors.push_back(
                    {fmt::format("{}.snat_entries[{}].eips", path, e),
                     fmt::format("snat entry {} uses eip {}", snat[e].name, eip_name)});
        const auto& dnat = (*gateway)->dnat_entries;
        for (std::size_t e = 0; e < dnat.size(); ++e)
            if (dnat[e].eip == eip_name)
                refused.errors.push_back(
                    {fmt::format("{}.dnat_entries[{}].eip", path, e),
                     fmt::format("dnat entry {} uses eip {}", dnat[e].name, eip_name)});
        if (!refused.errors.empty()) return refused;
        names.erase(it);
        return std::nullopt;
    };
}

Edit enable_ipv4_gateway(std::string gateway_name, bool enable,
                         std::vector<std::string> route_tables) {
    return [gateway_name, enable, route_tables](model::Model& m,
                                                Notes& notes) -> std::optional<Failure> {
        auto gateway = find_named(m.ipv4_gateways, gateway_name, "ipv4 gateway");
        if (!gateway) return gateway.error();
        // Activation switches the named route tables to the gateway (Alibaba's
        // EnableVpcIpv4Gateway with RouteTableList): each gets 0.0.0.0/0 -> the gateway, and
        // a table that already has a default route is refused, naming it, rather than having
        // its route replaced behind the operator's back.
        if (!route_tables.empty()) {
            auto vpc = find_named(m.vpcs, (*gateway)->vpc, "vpc");
            if (!vpc) return vpc.error();
            const auto v = static_cast<std::size_t>(*vpc - m.vpcs.data());
            const auto default_route = model::parse_cidr("0.0.0.0/0").value();
            Failure refused{409, {}};
            std::vector<std::pair<std::vector<model::Route>*, std::string>> switched;
            for (std::size_t i = 0; i < route_tables.size(); ++i) {
                const auto& name = route_tables[i];
                std::vector<model::Route>* routes = nullptr;
                std::string path;
                for (std::size_t t = 0; t < (*vpc)->route_tables.size(); ++t)
                    if ((*vpc)->route_tables[t].name == name) {
                        routes = &(*vpc)->route_tables[t].routes;
                        path = fmt::format("vpcs[{}].route_tables[{}]", v, t);
                    }
                const auto system_name =
                    (*vpc)->system_route_table
                        ? (*vpc)->system_route_table->name.value_or((*vpc)->name + "/system")
                        : (*vpc)->name + "/system";
                if (!routes && name == system_name) {
                    if (!(*vpc)->system_route_table) (*vpc)->system_route_table.emplace();
                    routes = &(*vpc)->system_route_table->routes;
                    path = fmt::format("vpcs[{}].system_route_table", v);
                }
                if (!routes) {
                    refused.status = 404;
                    refused.errors.push_back({fmt::format("route_tables[{}]", i),
                                              fmt::format("route table {} does not exist in vpc {}",
                                                          name, (*vpc)->name)});
                    continue;
                }
                for (std::size_t r = 0; r < routes->size(); ++r)
                    if ((*routes)[r].destination == default_route)
                        refused.errors.push_back(
                            {fmt::format("{}.routes[{}]", path, r),
                             fmt::format("route table {} already has a default route {}: "
                                         "delete it before switching the table to ipv4 "
                                         "gateway {}",
                                         name, describe_route((*routes)[r]), gateway_name)});
                switched.emplace_back(routes, name);
            }
            if (!refused.errors.empty()) return refused;
            for (auto& [routes, name] : switched) {
                routes->push_back({default_route, model::Ipv4GatewayHop{gateway_name}});
                notes.push_back(fmt::format("route table {}: 0.0.0.0/0 -> ipv4 gateway {} added",
                                            name, gateway_name));
            }
        }
        // Only a real change is written: enabling an enabled gateway stays a no-op, also
        // when "enabled" was left to its default.
        if ((*gateway)->is_enabled() != enable) (*gateway)->enabled = enable;
        if (enable) end_private_internet(m, (*gateway)->vpc, notes);
        return std::nullopt;
    };
}

void end_private_internet(model::Model& m, const std::string& vpc_name, Notes& notes) {
    auto vpc = find_named(m.vpcs, vpc_name, "vpc");
    if (!vpc || !(*vpc)->is_private()) return;
    (*vpc)->internet_access.reset();
    notes.push_back(fmt::format(
        "vpc {} is no longer private: an enabled ipv4 gateway gives it internet access", vpc_name));
}

}  // namespace natctl::api
