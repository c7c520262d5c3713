#include "cli/object_requests.hpp"

#include <array>
#include <charconv>
#include <cstdint>

#include <fmt/core.h>

#include "cli/api_format.hpp"
#include "cli/exit_codes.hpp"

namespace natctl::cli {

namespace {

using nlohmann::json;

constexpr std::array kGatewayFields{
    FieldSpec{"vpc", "vpc", FieldType::Text, "VPC the gateway serves"},
    FieldSpec{"outside-interface", "outside_interface", FieldType::Text,
              "Interface towards the internet"},
    FieldSpec{"upstream", "upstream", FieldType::Text, "Next hop on the outside interface"},
    FieldSpec{"eip", "eips", FieldType::List, "Associated EIPs (repeat or comma-separate)"},
    FieldSpec{"mode", "mode", FieldType::Text, "snat or masquerade (NAT instance)"},
    FieldSpec{"icmp-echo-reply", "icmp_echo_reply", FieldType::OnOff, "Answer ping on the EIPs"},
    FieldSpec{"deletion-protection", "deletion_protection", FieldType::OnOff,
              "Refuse deletion, even forced"},
    FieldSpec{"snat-port-range", "snat_port_range", FieldType::Text, "e.g. 1025-65535"},
    FieldSpec{"port-budget-per-eip", "port_budget_per_eip", FieldType::Number,
              "Connections per EIP and destination before spilling to another EIP"},
    FieldSpec{"max-ports-per-instance", "max_ports_per_instance", FieldType::Number,
              "Connections one instance may hold"},
    FieldSpec{"session-log", "session_log", FieldType::Text, "off, errors or all"},
    FieldSpec{"assign-eip-addresses", "assign_eip_addresses", FieldType::OnOff,
              "Add the EIPs to the outside interface"},
};

constexpr std::array kEipFields{
    FieldSpec{"address", "address", FieldType::Text, "The public IPv4 address"},
    FieldSpec{"instance", "instance", FieldType::Text,
              "Associate with this instance (1:1 both ways)"},
    FieldSpec{"private-ip", "private_ip", FieldType::Text,
              "The instance's private IP (default: its first)"},
};

constexpr std::array kSnatFields{
    FieldSpec{"source", "source", FieldType::Source,
              "vpc:NAME, vswitch:NAME, instance:NAME or cidr:A.B.C.D/P"},
    FieldSpec{"eip", "eips", FieldType::List, "EIPs to translate to (repeat or comma-separate)"},
    FieldSpec{"eip-affinity", "eip_affinity", FieldType::OnOff, "Pin each private IP to one EIP"},
};

constexpr std::array kDnatFields{
    FieldSpec{"eip", "eip", FieldType::Text, "Public side: the EIP"},
    FieldSpec{"protocol", "protocol", FieldType::Text, "tcp, udp or any (IP mapping)"},
    FieldSpec{"public-port", "public_port", FieldType::Text, "Port or range LO/HI"},
    FieldSpec{"private-ip", "private_ip", FieldType::Text, "Backend address"},
    FieldSpec{"private-port", "private_port", FieldType::Text, "Port or range LO/HI"},
};

constexpr std::array kIpv4GatewayFields{
    FieldSpec{"vpc", "vpc", FieldType::Text, "VPC the gateway serves"},
    FieldSpec{"outside-interface", "outside_interface", FieldType::Text,
              "Interface towards the internet"},
    FieldSpec{"upstream", "upstream", FieldType::Text, "Next hop on the outside interface"},
    FieldSpec{"enabled", "enabled", FieldType::OnOff, "Whether it filters the VPC's traffic"},
};

CommandError usage(std::string message) {
    return {kExitUsage, std::move(message)};
}

std::string flag_of(Kind kind, std::string_view key) {
    for (const auto& spec : object_fields(kind))
        if (spec.key == key) return fmt::format("--{}", spec.flag);
    return std::string(key);
}

std::vector<std::string> split_list(const std::vector<std::string>& values) {
    std::vector<std::string> items;
    for (const auto& value : values) {
        std::size_t start = 0;
        while (start <= value.size()) {
            const std::size_t comma = std::min(value.find(',', start), value.size());
            if (comma > start) items.push_back(value.substr(start, comma - start));
            start = comma + 1;
        }
    }
    return items;
}

std::expected<json, std::string> field_value(const FieldSpec& spec,
                                             const std::vector<std::string>& values) {
    if (spec.type == FieldType::List) return json(split_list(values));
    if (values.empty()) return std::unexpected(fmt::format("--{} needs a value", spec.flag));
    // A repeated single-valued flag: the last one wins, as with most command-line tools.
    const std::string& value = values.back();
    switch (spec.type) {
        case FieldType::Text:
            return json(value);
        case FieldType::Number: {
            std::uint64_t number = 0;
            const auto [end, error] =
                std::from_chars(value.data(), value.data() + value.size(), number);
            if (error != std::errc() || end != value.data() + value.size() || value.empty())
                return std::unexpected(
                    fmt::format("--{}: {} is not a non-negative integer", spec.flag, value));
            return json(number);
        }
        case FieldType::OnOff:
            if (value == "on" || value == "true" || value == "yes") return json(true);
            if (value == "off" || value == "false" || value == "no") return json(false);
            return std::unexpected(
                fmt::format("--{}: expected on or off, got {}", spec.flag, value));
        case FieldType::Source:
            return parse_source(value);
        case FieldType::List:
            break;
    }
    return std::unexpected(std::string("unreachable"));
}

// Starts from `base` (the file, or the current object), then the flags, then the name from
// the command line, which is the object's identity and must agree with a file's.
std::expected<json, CommandError> build_object(const ObjectCommand& command, json base) {
    if (!base.is_object()) return std::unexpected(usage("the object file must hold a JSON object"));
    if (auto it = base.find("name"); it != base.end() && *it != json(command.name))
        return std::unexpected(
            usage(fmt::format("the file names the {} {}, the command line {}",
                              kind_label(command.kind), cell_text(*it), command.name)));
    for (const auto& [key, values] : command.fields) {
        const FieldSpec* spec = nullptr;
        for (const auto& candidate : object_fields(command.kind))
            if (candidate.key == key) spec = &candidate;
        if (!spec)
            return std::unexpected(usage(fmt::format("{} takes no {}", kind_label(command.kind),
                                                     flag_of(command.kind, key))));
        auto value = field_value(*spec, values);
        if (!value) return std::unexpected(usage(value.error()));
        base[key] = std::move(*value);
    }
    base["name"] = command.name;
    return base;
}

std::string collection_target(Kind kind, const std::string& parent) {
    switch (kind) {
        case Kind::Gateway:
            return "/v1/nat_gateways";
        case Kind::Eip:
            return "/v1/eips";
        case Kind::Ipv4Gateway:
            return "/v1/ipv4_gateways";
        case Kind::Snat:
            return fmt::format("/v1/nat_gateways/{}/snat_entries", url_encode(parent));
        case Kind::Dnat:
            return fmt::format("/v1/nat_gateways/{}/dnat_entries", url_encode(parent));
        default:
            return "/v1/unsupported";  // build_request never asks for other kinds
    }
}

std::string object_target(Kind kind, const std::string& parent, const std::string& name) {
    return fmt::format("{}/{}", collection_target(kind, parent), url_encode(name));
}

std::string with_dry_run(std::string target, bool dry_run, bool has_query = false) {
    if (dry_run) target += has_query ? "&dry_run=1" : "?dry_run=1";
    return target;
}

std::expected<ApiRequest, CommandError> route_request(const ObjectCommand& command) {
    // The API addresses a route by its destination with '/' written as '_' (0.0.0.0_0), as
    // a CIDR's slash cannot sit inside one path segment.
    std::string destination = command.destination;
    if (destination.find('/') == std::string::npos)
        return std::unexpected(usage(fmt::format(
            "--destination: {} is not a CIDR (write A.B.C.D/P, e.g. 0.0.0.0/0)", destination)));
    const std::string routes = fmt::format("/v1/vpcs/{}/route_tables/{}/routes",
                                           url_encode(command.parent), url_encode(command.table));
    if (command.verb == Verb::Add) {
        auto next_hop = parse_next_hop(command.next_hop);
        if (!next_hop) return std::unexpected(usage(next_hop.error()));
        return ApiRequest{"POST", with_dry_run(routes, command.dry_run),
                          json{{"destination", destination}, {"next_hop", *next_hop}}};
    }
    for (char& c : destination)
        if (c == '/') c = '_';
    return ApiRequest{
        "DELETE",
        with_dry_run(fmt::format("{}/{}", routes, url_encode(destination)), command.dry_run),
        std::nullopt};
}

// An EIP associated with an instance is a field of the EIP: associating, re-associating
// (one PUT, so that the old instance's mapping and the new one change in one apply) and
// disassociating replace the EIP object.
std::expected<ApiRequest, CommandError> instance_association(const ObjectCommand& command,
                                                             const json& model) {
    if (!command.parent.empty())
        return std::unexpected(usage("--gateway and --instance exclude each other"));
    if (command.verb == Verb::Associate && command.instance.empty())
        return std::unexpected(usage("--private-ip needs --instance NAME"));
    auto current = select_objects(model, Kind::Eip, command.name, std::nullopt);
    if (!current) return std::unexpected(CommandError{kExitRefused, current.error()});
    json object = current->front().object;
    if (command.verb == Verb::Associate) {
        object["instance"] = command.instance;
        if (command.private_ip.empty())
            object.erase("private_ip");
        else
            object["private_ip"] = command.private_ip;
    } else {
        if (!object.contains("instance"))
            return std::unexpected(CommandError{
                kExitRefused,
                fmt::format("eip {} is not associated with an instance", command.name)});
        object.erase("instance");
        object.erase("private_ip");
    }
    return ApiRequest{"PUT",
                      with_dry_run(object_target(Kind::Eip, {}, command.name), command.dry_run),
                      std::move(object)};
}

}  // namespace

std::span<const FieldSpec> object_fields(Kind kind) {
    switch (kind) {
        case Kind::Gateway:
            return kGatewayFields;
        case Kind::Eip:
            return kEipFields;
        case Kind::Snat:
            return kSnatFields;
        case Kind::Dnat:
            return kDnatFields;
        case Kind::Ipv4Gateway:
            return kIpv4GatewayFields;
        default:
            return {};
    }
}

std::expected<ApiRequest, CommandError> build_request(const ObjectCommand& command,
                                                      const json& model) {
    if (command.kind == Kind::RouteTable) return route_request(command);
    const bool nested = parent_kind(command.kind) == ParentKind::Gateway;
    const std::string parent = nested ? command.parent : std::string();

    switch (command.verb) {
        case Verb::Create: {
            auto object = build_object(command, command.file_body.value_or(json::object()));
            if (!object) return std::unexpected(object.error());
            return ApiRequest{
                "POST", with_dry_run(collection_target(command.kind, parent), command.dry_run),
                std::move(*object)};
        }
        case Verb::Modify: {
            if (!command.file_body && command.fields.empty())
                return std::unexpected(usage("nothing to modify: give -f FILE or a field flag"));
            json base;
            if (command.file_body) {
                base = *command.file_body;
            } else {
                auto current = select_objects(model, command.kind, command.name,
                                              nested ? std::optional(parent) : std::nullopt);
                if (!current) return std::unexpected(CommandError{kExitRefused, current.error()});
                base = current->front().object;
            }
            auto object = build_object(command, std::move(base));
            if (!object) return std::unexpected(object.error());
            return ApiRequest{
                "PUT",
                with_dry_run(object_target(command.kind, parent, command.name), command.dry_run),
                std::move(*object)};
        }
        case Verb::Delete: {
            std::string target = object_target(command.kind, parent, command.name);
            bool has_query = false;
            if (command.kind == Kind::Gateway && command.force) {
                target += "?force=1";
                has_query = true;
            }
            if (command.kind == Kind::Ipv4Gateway) {
                if (command.delete_mode != "public" && command.delete_mode != "private")
                    return std::unexpected(usage("--mode must be public or private"));
                target += "?mode=" + command.delete_mode;
                has_query = true;
            }
            return ApiRequest{"DELETE", with_dry_run(target, command.dry_run, has_query),
                              std::nullopt};
        }
        case Verb::Associate:
        case Verb::Disassociate:
            if (command.kind != Kind::Eip) break;
            if (!command.instance.empty() || command.from_instance || !command.private_ip.empty())
                return instance_association(command, model);
            if (command.parent.empty())
                return std::unexpected(usage(command.verb == Verb::Associate
                                                 ? "give --gateway GW or --instance NAME"
                                                 : "give --gateway GW or --instance"));
            return ApiRequest{
                command.verb == Verb::Associate ? "POST" : "DELETE",
                with_dry_run(fmt::format("/v1/nat_gateways/{}/eips/{}", url_encode(command.parent),
                                         url_encode(command.name)),
                             command.dry_run),
                std::nullopt};
        case Verb::Enable:
        case Verb::Disable: {
            if (command.kind != Kind::Ipv4Gateway) break;
            std::optional<json> body;
            if (!command.route_tables.empty()) body = json{{"route_tables", command.route_tables}};
            return ApiRequest{
                "POST",
                with_dry_run(fmt::format("/v1/ipv4_gateways/{}/{}", url_encode(command.name),
                                         command.verb == Verb::Enable ? "enable" : "disable"),
                             command.dry_run),
                std::move(body)};
        }
        case Verb::Add:
            break;
    }
    return std::unexpected(
        usage(fmt::format("that verb does not apply to a {}", kind_label(command.kind))));
}

std::expected<json, std::string> parse_next_hop(std::string_view text) {
    if (text == "blackhole") return json("blackhole");
    const auto colon = text.find(':');
    if (colon != std::string_view::npos && colon + 1 < text.size()) {
        const std::string_view kind = text.substr(0, colon);
        const std::string name(text.substr(colon + 1));
        if (kind == "nat-gateway" || kind == "nat_gateway" || kind == "gateway")
            return json{{"nat_gateway", name}};
        if (kind == "ipv4-gateway" || kind == "ipv4_gateway") return json{{"ipv4_gateway", name}};
        if (kind == "instance") return json{{"instance", name}};
    }
    return std::unexpected(fmt::format(
        "--next-hop: {} is not nat-gateway:NAME, ipv4-gateway:NAME, instance:NAME or blackhole",
        text));
}

std::expected<json, std::string> parse_source(std::string_view text) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos && text.find('/') != std::string_view::npos)
        return json{{"cidr", std::string(text)}};
    if (colon != std::string_view::npos && colon + 1 < text.size()) {
        const std::string kind(text.substr(0, colon));
        if (kind == "vpc" || kind == "vswitch" || kind == "instance" || kind == "cidr")
            return json{{kind, std::string(text.substr(colon + 1))}};
    }
    return std::unexpected(fmt::format(
        "--source: {} is not vpc:NAME, vswitch:NAME, instance:NAME or cidr:A.B.C.D/P", text));
}

}  // namespace natctl::cli
