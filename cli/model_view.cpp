#include "cli/model_view.hpp"

#include <array>
#include <utility>

#include <fmt/core.h>

#include "cli/text_table.hpp"

namespace natctl::cli {

namespace {

using nlohmann::json;

struct KindInfo {
    Kind kind;
    std::string_view cli_name;
    std::string_view label;
    std::string_view title;  // section title in the whole-model view
};

constexpr std::array<KindInfo, 10> kKinds{{
    {Kind::Vpc, "vpc", "VPC", "VPCs"},
    {Kind::VSwitch, "vswitch", "vSwitch", "vSwitches"},
    {Kind::Instance, "instance", "instance", "Instances"},
    {Kind::RouteTable, "route-table", "route table", "Route tables"},
    {Kind::Eip, "eip", "EIP", "EIPs"},
    {Kind::Gateway, "gateway", "NAT gateway", "NAT gateways"},
    {Kind::Snat, "snat", "SNAT entry", "SNAT entries"},
    {Kind::Dnat, "dnat", "DNAT entry", "DNAT entries"},
    {Kind::Ipv4Gateway, "ipv4-gateway", "IPv4 gateway", "IPv4 gateways"},
    {Kind::Limits, "limits", "limits", "Limits"},
}};

const KindInfo& info(Kind kind) {
    for (const auto& entry : kKinds)
        if (entry.kind == kind) return entry;
    return kKinds.front();  // unreachable: every enumerator is in the table
}

// Missing or mistyped members read as empty: the view must not crash on a model written
// by a newer daemon, and validation is the daemon's job.
const json& array_member(const json& object, std::string_view key) {
    static const json empty = json::array();
    if (!object.is_object()) return empty;
    auto it = object.find(key);
    return it != object.end() && it->is_array() ? *it : empty;
}

std::string text_member(const json& object, std::string_view key) {
    if (!object.is_object()) return {};
    auto it = object.find(key);
    return it == object.end() ? std::string() : cell_text(*it);
}

std::string name_of(const json& object) {
    return text_member(object, "name");
}

// Effective value of an optional boolean, marked when it is the default so that people
// see what the kernel does without reading DESIGN.md.
std::string on_off(const json& object, std::string_view key, bool fallback) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_boolean()) return fallback ? "on (default)" : "off (default)";
    return it->get<bool>() ? "on" : "off";
}

std::string with_default(const json& object, std::string_view key, std::string_view fallback) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fmt::format("{} (default)", fallback);
    return cell_text(*it);
}

// Children of every parent: vSwitches of each VPC, SNAT entries of each gateway, …
std::vector<Found> children(const json& model, std::string_view parents_key,
                            std::string_view children_key) {
    std::vector<Found> found;
    for (const auto& parent : array_member(model, parents_key))
        for (const auto& child : array_member(parent, children_key))
            found.push_back({name_of(parent), child});
    return found;
}

std::vector<Found> route_tables(const json& model) {
    std::vector<Found> found;
    for (const auto& vpc : array_member(model, "vpcs")) {
        for (const auto& table : array_member(vpc, "route_tables"))
            found.push_back({name_of(vpc), table});
        // The system route table is stored apart and may be nameless; show it under the
        // name the daemon gives it so that `route add --table` can be pointed at it.
        if (auto system = vpc.find("system_route_table");
            system != vpc.end() && system->is_object()) {
            json table = *system;
            if (!table.contains("name")) table["name"] = name_of(vpc) + "/system";
            found.push_back({name_of(vpc), std::move(table)});
        }
    }
    return found;
}

std::vector<Found> all_objects(const json& model, Kind kind) {
    switch (kind) {
        case Kind::Vpc:
        case Kind::Eip:
        case Kind::Gateway:
        case Kind::Ipv4Gateway: {
            const std::string_view key = kind == Kind::Vpc       ? "vpcs"
                                         : kind == Kind::Eip     ? "eips"
                                         : kind == Kind::Gateway ? "nat_gateways"
                                                                 : "ipv4_gateways";
            std::vector<Found> found;
            for (const auto& object : array_member(model, key))
                found.push_back({"", object});
            return found;
        }
        case Kind::VSwitch:
            return children(model, "vpcs", "vswitches");
        case Kind::Instance:
            return children(model, "vpcs", "instances");
        case Kind::RouteTable:
            return route_tables(model);
        case Kind::Snat:
            return children(model, "nat_gateways", "snat_entries");
        case Kind::Dnat:
            return children(model, "nat_gateways", "dnat_entries");
        case Kind::Limits: {
            auto it = model.is_object() ? model.find("limits") : model.end();
            return {{"", it != model.end() && it->is_object() ? *it : json::object()}};
        }
    }
    return {};
}

// Which gateway each EIP is associated with, for the EIP table.
std::string gateway_of_eip(const json& model, const std::string& eip) {
    std::string gateways;
    for (const auto& gateway : array_member(model, "nat_gateways"))
        for (const auto& name : array_member(gateway, "eips"))
            if (name.is_string() && name.get<std::string>() == eip)
                gateways += (gateways.empty() ? "" : ",") + name_of(gateway);
    return gateways;
}

std::string port_side(const json& entry, std::string_view ip_key, std::string_view port_key) {
    std::string ip = text_member(entry, ip_key);
    std::string port = text_member(entry, port_key);
    if (port.empty()) return ip.empty() ? "(all ports)" : ip;
    return ip.empty() ? port : ip + ":" + port;
}

std::string render_kind(Kind kind, const std::vector<Found>& objects, const json& model) {
    switch (kind) {
        case Kind::Vpc: {
            TextTable table({"NAME", "CIDR", "INTERFACES", "VSWITCHES", "INSTANCES"});
            for (const auto& [parent, vpc] : objects)
                table.add_row({name_of(vpc), text_member(vpc, "cidr"),
                               text_member(vpc, "interfaces"),
                               std::to_string(array_member(vpc, "vswitches").size()),
                               std::to_string(array_member(vpc, "instances").size())});
            return table.render();
        }
        case Kind::VSwitch: {
            TextTable table({"VPC", "NAME", "CIDR", "ROUTE TABLE"});
            for (const auto& [parent, vswitch] : objects) {
                std::string route_table = text_member(vswitch, "route_table");
                table.add_row({parent, name_of(vswitch), text_member(vswitch, "cidr"),
                               route_table.empty() ? "(system)" : route_table});
            }
            return table.render();
        }
        case Kind::Instance: {
            TextTable table({"VPC", "NAME", "VSWITCH", "PRIVATE IPS", "PUBLIC IP"});
            for (const auto& [parent, instance] : objects)
                table.add_row({parent, name_of(instance), text_member(instance, "vswitch"),
                               text_member(instance, "private_ips"),
                               text_member(instance, "public_ip")});
            return table.render();
        }
        case Kind::RouteTable: {
            // One row per route: a table's routes are what people look for.
            TextTable table({"VPC", "TABLE", "DESTINATION", "NEXT HOP"});
            for (const auto& [parent, route_table] : objects) {
                const auto& routes = array_member(route_table, "routes");
                if (routes.empty())
                    table.add_row({parent, name_of(route_table), "", "(no routes)"});
                for (const auto& route : routes)
                    table.add_row({parent, name_of(route_table), text_member(route, "destination"),
                                   text_member(route, "next_hop")});
            }
            return table.render();
        }
        case Kind::Eip: {
            TextTable table({"NAME", "ADDRESS", "GATEWAY", "INSTANCE"});
            for (const auto& [parent, eip] : objects) {
                std::string instance = text_member(eip, "instance");
                if (!instance.empty() && eip.contains("private_ip"))
                    instance += " (" + text_member(eip, "private_ip") + ")";
                table.add_row({name_of(eip), text_member(eip, "address"),
                               gateway_of_eip(model, name_of(eip)), instance});
            }
            return table.render();
        }
        case Kind::Gateway: {
            TextTable table({"NAME", "VPC", "MODE", "OUTSIDE", "UPSTREAM", "EIPS", "SNAT", "DNAT",
                             "PROTECTED"});
            for (const auto& [parent, gateway] : objects)
                table.add_row({name_of(gateway), text_member(gateway, "vpc"),
                               with_default(gateway, "mode", "snat"),
                               text_member(gateway, "outside_interface"),
                               text_member(gateway, "upstream"), text_member(gateway, "eips"),
                               std::to_string(array_member(gateway, "snat_entries").size()),
                               std::to_string(array_member(gateway, "dnat_entries").size()),
                               on_off(gateway, "deletion_protection", false)});
            return table.render();
        }
        case Kind::Snat: {
            TextTable table({"GATEWAY", "NAME", "SOURCE", "EIPS", "AFFINITY"});
            for (const auto& [parent, entry] : objects)
                table.add_row({parent, name_of(entry), text_member(entry, "source"),
                               text_member(entry, "eips"), on_off(entry, "eip_affinity", false)});
            return table.render();
        }
        case Kind::Dnat: {
            TextTable table({"GATEWAY", "NAME", "EIP", "PROTOCOL", "PUBLIC PORT", "PRIVATE"});
            for (const auto& [parent, entry] : objects)
                table.add_row({parent, name_of(entry), text_member(entry, "eip"),
                               text_member(entry, "protocol"),
                               text_member(entry, "public_port").empty()
                                   ? "(all)"
                                   : text_member(entry, "public_port"),
                               port_side(entry, "private_ip", "private_port")});
            return table.render();
        }
        case Kind::Ipv4Gateway: {
            TextTable table({"NAME", "VPC", "ENABLED", "OUTSIDE", "UPSTREAM", "GATEWAY ROUTES"});
            for (const auto& [parent, gateway] : objects) {
                std::string routes;
                for (const auto& route : array_member(gateway, "gateway_route_table"))
                    routes += fmt::format("{}{} -> {}", routes.empty() ? "" : ", ",
                                          text_member(route, "destination"),
                                          text_member(route, "next_hop"));
                table.add_row({name_of(gateway), text_member(gateway, "vpc"),
                               on_off(gateway, "enabled", true),
                               text_member(gateway, "outside_interface"),
                               text_member(gateway, "upstream"), routes});
            }
            return table.render();
        }
        case Kind::Limits: {
            // Defaults are the cloud quotas of DESIGN.md; shown so the effective limit is
            // visible whether or not the document sets it.
            static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kLimits{{
                {"nat_gateways_per_vpc", "5"},
                {"eips_per_nat_gateway", "20"},
                {"snat_entries_per_nat_gateway", "40"},
                {"dnat_entries_per_nat_gateway", "100"},
            }};
            TextTable table({"LIMIT", "VALUE"});
            const json limits = objects.empty() ? json::object() : objects.front().object;
            for (const auto& [key, fallback] : kLimits)
                table.add_row({std::string(key), with_default(limits, key, fallback)});
            return table.render();
        }
    }
    return {};
}

}  // namespace

std::optional<Kind> parse_kind(std::string_view text) {
    for (const auto& entry : kKinds)
        if (entry.cli_name == text) return entry.kind;
    static constexpr std::array<std::pair<std::string_view, Kind>, 14> kAliases{{
        {"vpcs", Kind::Vpc},
        {"vswitches", Kind::VSwitch},
        {"instances", Kind::Instance},
        {"route_table", Kind::RouteTable},
        {"route-tables", Kind::RouteTable},
        {"eips", Kind::Eip},
        {"nat-gateway", Kind::Gateway},
        {"nat_gateway", Kind::Gateway},
        {"gateways", Kind::Gateway},
        {"snat-entry", Kind::Snat},
        {"snat_entry", Kind::Snat},
        {"dnat-entry", Kind::Dnat},
        {"dnat_entry", Kind::Dnat},
        {"ipv4_gateway", Kind::Ipv4Gateway},
    }};
    for (const auto& [alias, kind] : kAliases)
        if (alias == text) return kind;
    return std::nullopt;
}

std::string_view kind_label(Kind kind) {
    return info(kind).label;
}

std::vector<std::string> kind_cli_names() {
    std::vector<std::string> names;
    for (const auto& entry : kKinds)
        names.emplace_back(entry.cli_name);
    return names;
}

ParentKind parent_kind(Kind kind) {
    switch (kind) {
        case Kind::VSwitch:
        case Kind::Instance:
        case Kind::RouteTable:
            return ParentKind::Vpc;
        case Kind::Snat:
        case Kind::Dnat:
            return ParentKind::Gateway;
        default:
            return ParentKind::None;
    }
}

std::expected<std::vector<Found>, std::string> select_objects(
    const json& model, Kind kind, const std::optional<std::string>& name,
    const std::optional<std::string>& parent) {
    if (kind == Kind::Limits && name)
        return std::unexpected(std::string("limits is a single object and takes no name"));
    const std::string_view parent_label =
        parent_kind(kind) == ParentKind::Vpc ? "VPC" : "NAT gateway";
    if (parent && parent_kind(kind) == ParentKind::None)
        return std::unexpected(fmt::format("a {} belongs to no parent", kind_label(kind)));

    std::vector<Found> selected;
    for (auto& found : all_objects(model, kind)) {
        if (parent && found.parent != *parent) continue;
        if (name && name_of(found.object) != *name) continue;
        selected.push_back(std::move(found));
    }
    if (parent && selected.empty() && !name) {
        // An empty list is a fine answer, an unknown parent is not: it is usually a typo.
        const std::string_view parents_key =
            parent_kind(kind) == ParentKind::Vpc ? "vpcs" : "nat_gateways";
        bool exists = false;
        for (const auto& object : array_member(model, parents_key))
            exists = exists || name_of(object) == *parent;
        if (!exists) return std::unexpected(fmt::format("no {} named {}", parent_label, *parent));
    }
    if (!name) return selected;
    if (selected.empty()) {
        if (parent)
            return std::unexpected(fmt::format("no {} named {} in {} {}", kind_label(kind), *name,
                                               parent_label, *parent));
        return std::unexpected(fmt::format("no {} named {}", kind_label(kind), *name));
    }
    if (selected.size() > 1) {
        std::string parents;
        for (const auto& found : selected)
            parents += (parents.empty() ? "" : ", ") + found.parent;
        return std::unexpected(fmt::format(
            "{} {} exists in several {}s ({}); name the one with --{}", kind_label(kind), *name,
            parent_label, parents, parent_kind(kind) == ParentKind::Vpc ? "vpc" : "gateway"));
    }
    return selected;
}

std::string render_objects(Kind kind, const std::vector<Found>& objects, const json& model) {
    return render_kind(kind, objects, model);
}

std::string render_model(const json& model) {
    std::string out = fmt::format("Model version {}\n", text_member(model, "version"));
    for (const auto& entry : kKinds) {
        const auto objects = all_objects(model, entry.kind);
        const bool has_limits = model.is_object() && model.contains("limits");
        if (entry.kind == Kind::Limits ? !has_limits : objects.empty()) continue;
        out += fmt::format("\n{}\n", entry.title);
        out += render_kind(entry.kind, objects, model);
    }
    return out;
}

std::string cell_text(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_null()) return {};
    if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
    if (value.is_array()) {
        // Objects may contain ", " themselves; separate them more visibly than scalars.
        std::string text;
        for (const auto& item : value)
            text += (text.empty() ? "" : item.is_object() ? "; " : ",") + cell_text(item);
        return text;
    }
    if (value.is_object()) {
        // The two shapes the API uses for references read best as one phrase:
        // {"kind": "nat_gateway", "name": "ngw-1"} and {"name": "eip-1", "address": "…"}.
        if (value.size() == 2 && value.contains("name") && value.contains("kind"))
            return cell_text(value["kind"]) + " " + cell_text(value["name"]);
        if (value.size() == 2 && value.contains("name") && value.contains("address"))
            return fmt::format("{} ({})", cell_text(value["name"]), cell_text(value["address"]));
        std::string text;
        for (const auto& [key, item] : value.items())
            text += fmt::format("{}{} {}", text.empty() ? "" : ", ", key, cell_text(item));
        return text;
    }
    return value.dump();
}

}  // namespace natctl::cli
