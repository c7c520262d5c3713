// JSON form of the model.
//
// Canonical form (what to_json emits, and what round-trips exactly):
// - Optional scalar fields (mode, icmp_echo_reply, eip_affinity, public_ip, ...) are emitted
//   only when the model holds a value for them; defaults are never filled in.
// - Arrays that a document may omit (vpcs, eips, nat_gateways, ipv4_gateways, interfaces,
//   vswitches, instances, route_tables, routes, a gateway's eips, snat_entries,
//   dnat_entries, gateway_route_table) are emitted only when non-empty.
// - Arrays that are required (an instance's private_ips, an SNAT entry's eips) are always
//   emitted, even when empty (validate() then says they must not be).
// - limits and system_route_table are emitted when present, with only their present fields.
#include "controller/model/json.hpp"

#include <fmt/format.h>

#include <cassert>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <tuple>
#include <type_traits>
#include <utility>

#include "controller/model/addr.hpp"
#include "controller/model/field_count.hpp"

namespace natctl::model {
namespace {

using nlohmann::json;

std::string field_path(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

std::string index_path(const std::string& parent, std::size_t index) {
    return fmt::format("{}[{}]", parent, index);
}

std::string describe_type(const json& value) {
    if (value.is_number_integer()) return "an integer";
    if (value.is_number_float()) return "a fractional number";
    if (value.is_string()) return "a string";
    if (value.is_boolean()) return "a boolean";
    if (value.is_array()) return "an array";
    if (value.is_object()) return "an object";
    return "null";
}

std::string join_keys(const std::vector<std::string>& keys) {
    return fmt::format("{}", fmt::join(keys, ", "));
}

// Reads one document, collecting every problem instead of stopping at the first.
// DNAT entries read while the document streamed in (StreamingReader), per gateway path
// ("nat_gateways[3]"): what the gateway's reader would have read from its dnat_entries.
struct StreamedEntries {
    std::vector<DnatEntry> entries;
    Errors errors;
    std::vector<std::string> unread;
};

class Reader {
  public:
    Errors errors;
    std::vector<std::string> unread;  // array elements left at their default
    std::map<std::string, StreamedEntries>* streamed_dnat = nullptr;

    void fail(std::string path, std::string reason) {
        errors.push_back(Error{std::move(path), std::move(reason)});
    }

    bool expect_object(const json& value, const std::string& path) {
        if (value.is_object()) return true;
        fail(path, fmt::format("expected an object, got {}", describe_type(value)));
        return false;
    }

    void reject_unknown_fields(const json& object, const std::string& path,
                               std::initializer_list<std::string_view> known) {
        for (const auto& [key, value] : object.items()) {
            bool is_known = false;
            for (auto name : known)
                is_known = is_known || name == key;
            if (!is_known) fail(field_path(path, key), "unknown field");
        }
    }

    // Member function pointers keep the call sites one line per field.
    template <class T>
    using ReadFn = std::optional<T> (Reader::*)(const json&, const std::string&);

    template <class T>
    void required(const json& object, const std::string& path, const std::string& key, T& out,
                  ReadFn<T> read) {
        auto path_of_field = field_path(path, key);
        auto it = object.find(key);
        if (it == object.end()) {
            fail(path_of_field, "missing required field");
            return;
        }
        if (auto value = std::invoke(read, this, *it, path_of_field)) out = std::move(*value);
    }

    template <class T>
    void optional(const json& object, const std::string& path, const std::string& key,
                  std::optional<T>& out, ReadFn<T> read) {
        auto it = object.find(key);
        if (it == object.end()) return;
        out = std::invoke(read, this, *it, field_path(path, key));
    }

    template <class T>
    void array(const json& object, const std::string& path, const std::string& key,
               std::vector<T>& out, ReadFn<T> read_element, bool is_required) {
        auto path_of_field = field_path(path, key);
        auto it = object.find(key);
        if (it == object.end()) {
            if (is_required) fail(path_of_field, "missing required field");
            return;
        }
        if (!it->is_array()) {
            fail(path_of_field, fmt::format("expected an array, got {}", describe_type(*it)));
            return;
        }
        for (std::size_t i = 0; i < it->size(); ++i) {
            // An element that could not be read keeps its place (a default value, its error
            // already recorded at its path) so that the elements after it keep the indices
            // the document gives them when validate() looks at what was read.
            auto path_of_element = index_path(path_of_field, i);
            auto element = std::invoke(read_element, this, (*it)[i], path_of_element);
            if (!element) unread.push_back(std::move(path_of_element));
            out.push_back(element ? std::move(*element) : T{});
        }
    }

    // ---- scalars ----------------------------------------------------------------------

    std::optional<std::string> string(const json& value, const std::string& path) {
        if (value.is_string()) return value.get<std::string>();
        fail(path, fmt::format("expected a string, got {}", describe_type(value)));
        return std::nullopt;
    }

    std::optional<bool> boolean(const json& value, const std::string& path) {
        if (value.is_boolean()) return value.get<bool>();
        fail(path, fmt::format("expected true or false, got {}", describe_type(value)));
        return std::nullopt;
    }

    std::optional<std::uint32_t> unsigned32(const json& value, const std::string& path) {
        if (!value.is_number_integer()) {
            fail(path,
                 fmt::format("expected a non-negative integer, got {}", describe_type(value)));
            return std::nullopt;
        }
        // Parsed text stores non-negative integers as unsigned, but a document built in
        // code may hold them signed; only the sign matters here.
        if (!value.is_number_unsigned() && value.get<std::int64_t>() < 0) {
            fail(path,
                 fmt::format("expected a non-negative integer, got {}", value.get<std::int64_t>()));
            return std::nullopt;
        }
        auto number = value.get<std::uint64_t>();
        if (number > std::numeric_limits<std::uint32_t>::max()) {
            fail(path, fmt::format("{} is too large (at most {})", number,
                                   std::numeric_limits<std::uint32_t>::max()));
            return std::nullopt;
        }
        return static_cast<std::uint32_t>(number);
    }

    template <class T>
    std::optional<T> parsed_string(const json& value, const std::string& path,
                                   std::expected<T, std::string> (*parse)(std::string_view)) {
        auto text = string(value, path);
        if (!text) return std::nullopt;
        auto result = parse(*text);
        if (!result) {
            fail(path, result.error());
            return std::nullopt;
        }
        return *result;
    }

    std::optional<Ipv4> ipv4(const json& value, const std::string& path) {
        return parsed_string(value, path, &parse_ipv4);
    }
    std::optional<Cidr> cidr(const json& value, const std::string& path) {
        return parsed_string(value, path, &parse_cidr);
    }
    std::optional<PortRange> port_range(const json& value, const std::string& path) {
        return parsed_string(value, path, &parse_port_range);
    }
    std::optional<SnatPortRange> snat_port_range(const json& value, const std::string& path) {
        return parsed_string(value, path, &parse_snat_port_range);
    }

    template <class Enum>
    std::optional<Enum> enumeration(const json& value, const std::string& path,
                                    std::initializer_list<std::pair<std::string_view, Enum>> names,
                                    std::string_view what) {
        auto text = string(value, path);
        if (!text) return std::nullopt;
        std::vector<std::string> spelled;
        for (const auto& [name, enumerator] : names) {
            if (name == *text) return enumerator;
            spelled.emplace_back(name);
        }
        fail(path,
             fmt::format("unknown {} '{}' (expected one of: {})", what, *text, join_keys(spelled)));
        return std::nullopt;
    }

    std::optional<DnatProtocol> protocol(const json& value, const std::string& path) {
        return enumeration<DnatProtocol>(
            value, path,
            {{"tcp", DnatProtocol::Tcp}, {"udp", DnatProtocol::Udp}, {"any", DnatProtocol::Any}},
            "protocol");
    }
    std::optional<GatewayMode> mode(const json& value, const std::string& path) {
        return enumeration<GatewayMode>(
            value, path, {{"snat", GatewayMode::Snat}, {"masquerade", GatewayMode::Masquerade}},
            "mode");
    }
    std::optional<SessionLog> session_log(const json& value, const std::string& path) {
        return enumeration<SessionLog>(
            value, path,
            {{"off", SessionLog::Off}, {"errors", SessionLog::Errors}, {"all", SessionLog::All}},
            "session_log");
    }

    // An object with exactly one key out of `kinds`, whose value is read by the caller.
    // Returns the key, or nothing after reporting why.
    std::optional<std::string> single_key(const json& object, const std::string& path,
                                          std::initializer_list<std::string_view> kinds,
                                          std::string_view what) {
        reject_unknown_fields(object, path, kinds);
        std::vector<std::string> present;
        std::vector<std::string> spelled;
        for (auto kind : kinds) {
            spelled.emplace_back(kind);
            if (object.contains(std::string(kind))) present.emplace_back(kind);
        }
        if (present.size() == 1) return present.front();
        if (present.empty())
            fail(path,
                 fmt::format("{} needs exactly one of {} (none given)", what, join_keys(spelled)));
        else
            fail(path, fmt::format("{} needs exactly one of {} (given: {})", what,
                                   join_keys(spelled), join_keys(present)));
        return std::nullopt;
    }

    // ---- composite values -------------------------------------------------------------

    std::optional<NextHop> next_hop(const json& value, const std::string& path) {
        if (value.is_string()) {
            if (value.get<std::string>() == "blackhole") return Blackhole{};
            fail(path, fmt::format("unknown next hop '{}' (expected \"blackhole\" or an object "
                                   "with one of nat_gateway, ipv4_gateway, instance)",
                                   value.get<std::string>()));
            return std::nullopt;
        }
        if (!value.is_object()) {
            fail(path,
                 fmt::format("expected \"blackhole\" or an object, got {}", describe_type(value)));
            return std::nullopt;
        }
        auto kind =
            single_key(value, path, {"nat_gateway", "ipv4_gateway", "instance"}, "next_hop");
        if (!kind) return std::nullopt;
        auto name = string(value.at(*kind), field_path(path, *kind));
        if (!name) return std::nullopt;
        if (*kind == "nat_gateway") return NatGatewayHop{*name};
        if (*kind == "ipv4_gateway") return Ipv4GatewayHop{*name};
        return InstanceHop{*name};
    }

    std::optional<GatewayNextHop> gateway_next_hop(const json& value, const std::string& path) {
        if (value.is_string()) {
            if (value.get<std::string>() == "local") return LocalHop{};
            fail(path, fmt::format("unknown next hop '{}' (expected \"local\" or "
                                   "{{\"instance\": name}})",
                                   value.get<std::string>()));
            return std::nullopt;
        }
        if (!value.is_object()) {
            fail(path,
                 fmt::format("expected \"local\" or an object, got {}", describe_type(value)));
            return std::nullopt;
        }
        auto kind = single_key(value, path, {"instance"}, "next_hop");
        if (!kind) return std::nullopt;
        auto name = string(value.at(*kind), field_path(path, *kind));
        if (!name) return std::nullopt;
        return InstanceHop{*name};
    }

    std::optional<InternetAccess> internet_access(const json& value, const std::string& path) {
        if (value.is_string()) {
            if (value.get<std::string>() == "private") return NoInternet{};
            fail(path, fmt::format("unknown internet access '{}' (expected \"private\" or "
                                   "{{\"outside_interface\": name, \"upstream\": address}})",
                                   value.get<std::string>()));
            return std::nullopt;
        }
        if (!value.is_object()) {
            fail(path,
                 fmt::format("expected \"private\" or an object, got {}", describe_type(value)));
            return std::nullopt;
        }
        reject_unknown_fields(value, path, {"outside_interface", "upstream"});
        DirectInternet result;
        required(value, path, "outside_interface", result.outside_interface, &Reader::string);
        required(value, path, "upstream", result.upstream, &Reader::ipv4);
        return result;
    }

    std::optional<SnatSource> snat_source(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        auto kind = single_key(value, path, {"vpc", "vswitch", "instance", "cidr"}, "source");
        if (!kind) return std::nullopt;
        auto path_of_kind = field_path(path, *kind);
        if (*kind == "cidr") {
            auto parsed = cidr(value.at(*kind), path_of_kind);
            if (!parsed) return std::nullopt;
            return CidrSource{*parsed};
        }
        auto name = string(value.at(*kind), path_of_kind);
        if (!name) return std::nullopt;
        if (*kind == "vpc") return VpcSource{*name};
        if (*kind == "vswitch") return VSwitchSource{*name};
        return InstanceSource{*name};
    }

    std::optional<Route> route(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path, {"destination", "next_hop"});
        Route result;
        auto before = errors.size();
        required(value, path, "destination", result.destination, &Reader::cidr);
        required(value, path, "next_hop", result.next_hop, &Reader::next_hop);
        return errors.size() == before ? std::optional(result) : std::nullopt;
    }

    std::optional<GatewayRoute> gateway_route(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path, {"destination", "next_hop"});
        GatewayRoute result;
        auto before = errors.size();
        required(value, path, "destination", result.destination, &Reader::cidr);
        required(value, path, "next_hop", result.next_hop, &Reader::gateway_next_hop);
        return errors.size() == before ? std::optional(result) : std::nullopt;
    }

    // Composite readers below return a value even when a part of it was wrong: the errors
    // are already recorded, and the whole document is refused anyway; keeping the partial
    // value lets later fields still be checked.

    std::optional<RouteTable> route_table(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path, {"name", "routes"});
        RouteTable result;
        required(value, path, "name", result.name, &Reader::string);
        array(value, path, "routes", result.routes, &Reader::route, false);
        return result;
    }

    std::optional<SystemRouteTable> system_route_table(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path, {"name", "routes"});
        SystemRouteTable result;
        optional(value, path, "name", result.name, &Reader::string);
        array(value, path, "routes", result.routes, &Reader::route, false);
        return result;
    }

    std::optional<VSwitch> vswitch(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path, {"name", "cidr", "route_table"});
        VSwitch result;
        required(value, path, "name", result.name, &Reader::string);
        required(value, path, "cidr", result.cidr, &Reader::cidr);
        optional(value, path, "route_table", result.route_table, &Reader::string);
        return result;
    }

    std::optional<Instance> instance(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path, {"name", "vswitch", "private_ips", "public_ip"});
        Instance result;
        required(value, path, "name", result.name, &Reader::string);
        required(value, path, "vswitch", result.vswitch, &Reader::string);
        array(value, path, "private_ips", result.private_ips, &Reader::ipv4, true);
        optional(value, path, "public_ip", result.public_ip, &Reader::ipv4);
        return result;
    }

    std::optional<Vpc> vpc(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path,
                              {"name", "cidr", "interfaces", "vswitches", "instances",
                               "route_tables", "system_route_table", "internet_access"});
        Vpc result;
        required(value, path, "name", result.name, &Reader::string);
        required(value, path, "cidr", result.cidr, &Reader::cidr);
        array(value, path, "interfaces", result.interfaces, &Reader::string, false);
        array(value, path, "vswitches", result.vswitches, &Reader::vswitch, false);
        array(value, path, "instances", result.instances, &Reader::instance, false);
        array(value, path, "route_tables", result.route_tables, &Reader::route_table, false);
        optional(value, path, "system_route_table", result.system_route_table,
                 &Reader::system_route_table);
        optional(value, path, "internet_access", result.internet_access, &Reader::internet_access);
        return result;
    }

    std::optional<Eip> eip(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path,
                              {"name", "address", "instance", "private_ip", "bandwidth_mbps"});
        Eip result;
        required(value, path, "name", result.name, &Reader::string);
        required(value, path, "address", result.address, &Reader::ipv4);
        optional(value, path, "instance", result.instance, &Reader::string);
        optional(value, path, "private_ip", result.private_ip, &Reader::ipv4);
        optional(value, path, "bandwidth_mbps", result.bandwidth_mbps, &Reader::unsigned32);
        return result;
    }

    std::optional<SnatEntry> snat_entry(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path, {"name", "source", "eips", "eip_affinity"});
        SnatEntry result;
        required(value, path, "name", result.name, &Reader::string);
        required(value, path, "source", result.source, &Reader::snat_source);
        array(value, path, "eips", result.eips, &Reader::string, true);
        optional(value, path, "eip_affinity", result.eip_affinity, &Reader::boolean);
        return result;
    }

    std::optional<DnatEntry> dnat_entry(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(
            value, path, {"name", "eip", "protocol", "public_port", "private_ip", "private_port"});
        DnatEntry result;
        required(value, path, "name", result.name, &Reader::string);
        required(value, path, "eip", result.eip, &Reader::string);
        required(value, path, "protocol", result.protocol, &Reader::protocol);
        optional(value, path, "public_port", result.public_port, &Reader::port_range);
        required(value, path, "private_ip", result.private_ip, &Reader::ipv4);
        optional(value, path, "private_port", result.private_port, &Reader::port_range);
        return result;
    }

    std::optional<NatGateway> nat_gateway(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path,
                              {"name", "vpc", "mode", "outside_interface", "upstream", "eips",
                               "icmp_echo_reply", "deletion_protection", "snat_port_range",
                               "port_budget_per_eip", "max_ports_per_instance", "session_log",
                               "assign_eip_addresses", "snat_entries", "dnat_entries"});
        NatGateway result;
        required(value, path, "name", result.name, &Reader::string);
        required(value, path, "vpc", result.vpc, &Reader::string);
        optional(value, path, "mode", result.mode, &Reader::mode);
        required(value, path, "outside_interface", result.outside_interface, &Reader::string);
        required(value, path, "upstream", result.upstream, &Reader::ipv4);
        array(value, path, "eips", result.eips, &Reader::string, false);
        optional(value, path, "icmp_echo_reply", result.icmp_echo_reply, &Reader::boolean);
        optional(value, path, "deletion_protection", result.deletion_protection, &Reader::boolean);
        optional(value, path, "snat_port_range", result.snat_port_range, &Reader::snat_port_range);
        optional(value, path, "port_budget_per_eip", result.port_budget_per_eip,
                 &Reader::unsigned32);
        optional(value, path, "max_ports_per_instance", result.max_ports_per_instance,
                 &Reader::unsigned32);
        optional(value, path, "session_log", result.session_log, &Reader::session_log);
        optional(value, path, "assign_eip_addresses", result.assign_eip_addresses,
                 &Reader::boolean);
        array(value, path, "snat_entries", result.snat_entries, &Reader::snat_entry, false);
        array(value, path, "dnat_entries", result.dnat_entries, &Reader::dnat_entry, false);
        if (streamed_dnat) {
            // The streamed document left the array empty: its elements were read on the
            // fly, in document order, and their problems belong exactly here.
            if (auto found = streamed_dnat->find(path); found != streamed_dnat->end()) {
                auto& streamed = found->second;
                result.dnat_entries = std::move(streamed.entries);
                errors.insert(errors.end(), std::make_move_iterator(streamed.errors.begin()),
                              std::make_move_iterator(streamed.errors.end()));
                unread.insert(unread.end(), std::make_move_iterator(streamed.unread.begin()),
                              std::make_move_iterator(streamed.unread.end()));
            }
        }
        return result;
    }

    std::optional<Ipv4Gateway> ipv4_gateway(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(
            value, path,
            {"name", "vpc", "enabled", "outside_interface", "upstream", "gateway_route_table"});
        Ipv4Gateway result;
        required(value, path, "name", result.name, &Reader::string);
        required(value, path, "vpc", result.vpc, &Reader::string);
        optional(value, path, "enabled", result.enabled, &Reader::boolean);
        required(value, path, "outside_interface", result.outside_interface, &Reader::string);
        required(value, path, "upstream", result.upstream, &Reader::ipv4);
        array(value, path, "gateway_route_table", result.gateway_route_table,
              &Reader::gateway_route, false);
        return result;
    }

    std::optional<Limits> limits(const json& value, const std::string& path) {
        if (!expect_object(value, path)) return std::nullopt;
        reject_unknown_fields(value, path,
                              {"nat_gateways_per_vpc", "eips_per_nat_gateway",
                               "snat_entries_per_nat_gateway", "dnat_entries_per_nat_gateway"});
        Limits result;
        optional(value, path, "nat_gateways_per_vpc", result.nat_gateways_per_vpc,
                 &Reader::unsigned32);
        optional(value, path, "eips_per_nat_gateway", result.eips_per_nat_gateway,
                 &Reader::unsigned32);
        optional(value, path, "snat_entries_per_nat_gateway", result.snat_entries_per_nat_gateway,
                 &Reader::unsigned32);
        optional(value, path, "dnat_entries_per_nat_gateway", result.dnat_entries_per_nat_gateway,
                 &Reader::unsigned32);
        return result;
    }

    std::optional<int> version(const json& value, const std::string& path) {
        if (!value.is_number_integer()) {
            fail(path, fmt::format("expected the integer 1, got {}", describe_type(value)));
            return std::nullopt;
        }
        if (value.get<std::int64_t>() != 1) {
            fail(path,
                 fmt::format("unsupported version {} (this natctl reads version 1)", value.dump()));
            return std::nullopt;
        }
        return 1;
    }

    Model model(const json& document) {
        Model result;
        if (!expect_object(document, "")) return result;
        reject_unknown_fields(
            document, "", {"version", "vpcs", "eips", "nat_gateways", "ipv4_gateways", "limits"});
        required(document, "", "version", result.version, &Reader::version);
        array(document, "", "vpcs", result.vpcs, &Reader::vpc, false);
        array(document, "", "eips", result.eips, &Reader::eip, false);
        array(document, "", "nat_gateways", result.nat_gateways, &Reader::nat_gateway, false);
        array(document, "", "ipv4_gateways", result.ipv4_gateways, &Reader::ipv4_gateway, false);
        optional(document, "", "limits", result.limits, &Reader::limits);
        return result;
    }
};

// ---- writing ------------------------------------------------------------------------------

json element_json(const std::string& value) {
    return value;
}
json element_json(const Ipv4& value) {
    return to_string(value);
}
template <class T>
json element_json(const T& value) {
    return to_json(value);
}

template <class T>
void put_array(json& object, const char* key, const std::vector<T>& values, bool always = false) {
    if (values.empty() && !always) return;
    json array = json::array();
    for (const auto& value : values)
        array.push_back(element_json(value));
    object[key] = std::move(array);
}

json write_next_hop(const NextHop& hop) {
    return std::visit(
        [](const auto& alternative) -> json {
            using T = std::decay_t<decltype(alternative)>;
            if constexpr (std::is_same_v<T, NatGatewayHop>)
                return {{"nat_gateway", alternative.name}};
            else if constexpr (std::is_same_v<T, Ipv4GatewayHop>)
                return {{"ipv4_gateway", alternative.name}};
            else if constexpr (std::is_same_v<T, InstanceHop>)
                return {{"instance", alternative.name}};
            else
                return "blackhole";
        },
        hop);
}

json write_gateway_next_hop(const GatewayNextHop& hop) {
    if (const auto* instance = std::get_if<InstanceHop>(&hop))
        return {{"instance", instance->name}};
    return "local";
}

const char* session_log_name(SessionLog log) {
    switch (log) {
        case SessionLog::Off:
            return "off";
        case SessionLog::Errors:
            return "errors";
        case SessionLog::All:
            return "all";
    }
    return "off";
}

json write_snat_source(const SnatSource& source) {
    return std::visit(
        [](const auto& alternative) -> json {
            using T = std::decay_t<decltype(alternative)>;
            if constexpr (std::is_same_v<T, VpcSource>)
                return {{"vpc", alternative.name}};
            else if constexpr (std::is_same_v<T, VSwitchSource>)
                return {{"vswitch", alternative.name}};
            else if constexpr (std::is_same_v<T, InstanceSource>)
                return {{"instance", alternative.name}};
            else
                return {{"cidr", to_string(alternative.cidr)}};
        },
        source);
}

// The fields NAT and IPv4 gateways share.
template <class Gateway>
json gateway_fields(const Gateway& gateway) {
    return {{"name", gateway.name},
            {"vpc", gateway.vpc},
            {"outside_interface", gateway.outside_interface},
            {"upstream", to_string(gateway.upstream)}};
}

// A DNAT entry's one field list, written either into a JSON object or straight to text (the
// store's path for 100k entries: no JSON value per entry). Fields come in nlohmann's key
// order (sorted), which the text form writes as given, so that both dump to the same bytes.
static_assert(field_count<DnatEntry>() == 6, "DnatEntry changed: update write_fields and reader");
template <class Fields>
void write_fields(Fields& out, const DnatEntry& entry) {
    out.string("eip", entry.eip);
    out.string("name", entry.name);
    out.plain("private_ip", to_string(entry.private_ip));
    if (entry.private_port) out.plain("private_port", to_string(*entry.private_port));
    out.plain("protocol", protocol_name(entry.protocol));
    if (entry.public_port) out.plain("public_port", to_string(*entry.public_port));
}

struct JsonFields {
    json object = json::object();
    void string(const char* key, const std::string& value) { object[key] = value; }
    void plain(const char* key, std::string_view value) { object[key] = value; }
};

// `"key":value` members as nlohmann's compact dump() writes them.
struct TextFields {
    std::string& text;
    std::string_view last_key;

    void key(std::string_view name) {
        assert(last_key < name);
        text.append(last_key.empty() ? "{\"" : ",\"", 2).append(name).append("\":", 2);
        last_key = name;
    }
    // A client's string: escaped by nlohmann itself, invalid UTF-8 replaced as the store's
    // dumps replace it.
    void string(std::string_view name, const std::string& value) {
        key(name);
        text += json(value).dump(-1, ' ', false, json::error_handler_t::replace);
    }
    // Text of the model's own making (addresses, ports, enumerators): nothing to escape.
    void plain(std::string_view name, std::string_view value) {
        key(name);
        text.append(1, '"').append(value).append(1, '"');
    }
    void close() { text += last_key.empty() ? "{}" : "}"; }
};

// The reader of each object type, found by its type (each returns std::optional<T>).
constexpr std::tuple kObjectReaders{&Reader::vpc,
                                    &Reader::vswitch,
                                    &Reader::instance,
                                    &Reader::route_table,
                                    &Reader::system_route_table,
                                    &Reader::route,
                                    &Reader::eip,
                                    &Reader::nat_gateway,
                                    &Reader::snat_entry,
                                    &Reader::dnat_entry,
                                    &Reader::ipv4_gateway,
                                    &Reader::gateway_route,
                                    &Reader::limits};

}  // namespace

// Reads a model document as it is parsed (nlohmann's SAX interface): the document's tree is
// built except for the elements of nat_gateways[].dnat_entries, the one array that grows to
// 100k, which are read into DnatEntry one by one as each ends and then dropped. A 100k-entry
// document never exists whole as a tree: that tree was most of a whole-model write's peak
// memory and of its reading time. The elements are read by the same Reader functions, and
// their problems are put where the whole-tree reader reports them, so both read the same.
class StreamingReader {
  public:
    json root;
    std::map<std::string, StreamedEntries> streamed;
    std::optional<Error> syntax_error;

    bool null() { return put(nullptr); }
    bool boolean(bool value) { return put(value); }
    bool number_integer(json::number_integer_t value) { return put(value); }
    bool number_unsigned(json::number_unsigned_t value) { return put(value); }
    bool number_float(json::number_float_t value, const std::string&) { return put(value); }
    bool string(std::string& value) { return put(std::move(value)); }
    // Only binary formats (CBOR, MessagePack) have them; a JSON text never does.
    bool binary(json::binary_t&) {
        syntax_error = Error{"", "binary values are not JSON"};
        return false;
    }
    bool start_object(std::size_t) { return open(json::object()); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool key(std::string& name) {
        key_ = std::move(name);
        return true;
    }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool parse_error(std::size_t, const std::string&, const json::exception& error) {
        syntax_error = Error{"", error.what()};
        return false;
    }

  private:
    enum class Role { Other, Gateways, Gateway, DnatEntries, DnatEntry };
    struct Frame {
        json* node;
        Role role;
        std::string path;      // Gateway: "nat_gateways[i]"; DnatEntries: its gateway's
        std::size_t size = 0;  // elements opened so far (arrays)
    };

    // Where the next value goes, and the role it takes there.
    std::pair<json*, Role> slot(json&& value) {
        if (frames_.empty()) {
            root = std::move(value);
            return {&root, Role::Other};
        }
        auto& parent = frames_.back();
        if (parent.node->is_array()) {
            const auto index = parent.size++;
            if (parent.role == Role::DnatEntries) {
                element_ = std::move(value);
                element_path_ = fmt::format("{}.dnat_entries[{}]", parent.path, index);
                return {&element_, Role::DnatEntry};
            }
            parent.node->push_back(std::move(value));
            if (parent.role == Role::Gateways) return {&parent.node->back(), Role::Gateway};
            return {&parent.node->back(), Role::Other};
        }
        // A repeated key replaces the value, as in nlohmann's own tree.
        auto& member = (*parent.node)[key_];
        member = std::move(value);
        if (frames_.size() == 1 && key_ == "nat_gateways") return {&member, Role::Gateways};
        if (parent.role == Role::Gateway && key_ == "dnat_entries")
            return {&member, Role::DnatEntries};
        return {&member, Role::Other};
    }

    std::string gateway_path() const {
        return fmt::format("nat_gateways[{}]", frames_.back().size - 1);
    }

    bool put(json&& value) {
        auto [node, role] = slot(std::move(value));
        if (role == Role::DnatEntry) read_element();
        return true;
    }

    bool open(json&& value) {
        auto [node, role] = slot(std::move(value));
        std::string path;
        if (role == Role::Gateway) path = gateway_path();
        if (role == Role::DnatEntries) {
            path = frames_.back().path;
            streamed[path] = StreamedEntries{};
        }
        if (role == Role::DnatEntry) path = frames_.back().path;
        // Only an object in nat_gateways is a gateway whose entries stream.
        if (role == Role::Gateway && !node->is_object()) role = Role::Other;
        if (role == Role::DnatEntries && !node->is_array()) role = Role::Other;
        frames_.push_back(Frame{node, role, std::move(path)});
        return true;
    }

    bool close() {
        const auto role = frames_.back().role;
        frames_.pop_back();
        if (role == Role::DnatEntry) read_element();
        return true;
    }

    void read_element() {
        auto& into = streamed[frames_.back().path];
        Reader reader;
        auto entry = reader.dnat_entry(element_, element_path_);
        if (!entry) into.unread.push_back(element_path_);
        into.entries.push_back(entry ? std::move(*entry) : DnatEntry{});
        into.errors.insert(into.errors.end(), std::make_move_iterator(reader.errors.begin()),
                           std::make_move_iterator(reader.errors.end()));
        element_ = json();
    }

    std::vector<Frame> frames_;
    std::string key_;
    json element_;
    std::string element_path_;
};

std::expected<ReadResult, Errors> read_model(std::string_view text) {
    StreamingReader streaming;
    const bool parsed = json::sax_parse(text, &streaming);
    if (!parsed || streaming.syntax_error)
        return std::unexpected(
            Errors{streaming.syntax_error.value_or(Error{"", "the document could not be parsed"})});
    Reader reader;
    reader.streamed_dnat = &streaming.streamed;
    Model model = reader.model(streaming.root);
    return ReadResult{std::move(model), std::move(reader.errors), std::move(reader.unread)};
}

ReadResult read_model(const nlohmann::json& document) {
    Reader reader;
    Model model = reader.model(document);
    return ReadResult{std::move(model), std::move(reader.errors), std::move(reader.unread)};
}

std::expected<Model, Errors> from_json(const nlohmann::json& document) {
    auto read = read_model(document);
    if (!read.errors.empty()) return std::unexpected(std::move(read.errors));
    return std::move(read.model);
}

std::expected<nlohmann::json, Errors> parse_json(std::string_view text) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& error) {
        return std::unexpected(Errors{Error{"", error.what()}});
    }
}

std::expected<Model, Errors> parse_model(std::string_view text) {
    auto read = read_model(text);
    if (!read) return std::unexpected(std::move(read.error()));
    if (!read->errors.empty()) return std::unexpected(std::move(read->errors));
    return std::move(read->model);
}

Errors read_object(const json& value, ObjectOut out) {
    return std::visit(
        [&](auto* object) {
            using T = std::remove_pointer_t<decltype(object)>;
            Reader reader;
            auto read = std::get<Reader::ReadFn<T>>(kObjectReaders);
            if (auto result = std::invoke(read, reader, value, std::string()))
                *object = std::move(*result);
            return std::move(reader.errors);
        },
        out);
}

// Each type's one writer (below) and one reader (Reader) name every field of the type. A
// field added to a type and not to them would silently vanish from documents, API answers and
// the store's journal: the field count before each writer fails the build until both are
// updated, and then the count. (Before, sizeof checks at each copy of a writer did this, and
// only on x86-64 with libstdc++.)
static_assert(field_count<Route>() == 2, "Route changed: update its writer and reader");
json to_json(const Route& route) {
    return {{"destination", to_string(route.destination)},
            {"next_hop", write_next_hop(route.next_hop)}};
}

static_assert(field_count<GatewayRoute>() == 2,
              "GatewayRoute changed: update its writer and reader");
json to_json(const GatewayRoute& route) {
    return {{"destination", to_string(route.destination)},
            {"next_hop", write_gateway_next_hop(route.next_hop)}};
}

static_assert(field_count<VSwitch>() == 3, "VSwitch changed: update its writer and reader");
json to_json(const VSwitch& vswitch) {
    json out = {{"name", vswitch.name}, {"cidr", to_string(vswitch.cidr)}};
    if (vswitch.route_table) out["route_table"] = *vswitch.route_table;
    return out;
}

static_assert(field_count<Instance>() == 4, "Instance changed: update its writer and reader");
json to_json(const Instance& instance) {
    json out = {{"name", instance.name}, {"vswitch", instance.vswitch}};
    put_array(out, "private_ips", instance.private_ips, true);
    if (instance.public_ip) out["public_ip"] = to_string(*instance.public_ip);
    return out;
}

static_assert(field_count<RouteTable>() == 2, "RouteTable changed: update its writer and reader");
json to_json(const RouteTable& table) {
    json out = {{"name", table.name}};
    put_array(out, "routes", table.routes);
    return out;
}

static_assert(field_count<SystemRouteTable>() == 2,
              "SystemRouteTable changed: update its writer and reader");
json to_json(const SystemRouteTable& table) {
    json out = json::object();
    if (table.name) out["name"] = *table.name;
    put_array(out, "routes", table.routes);
    return out;
}

static_assert(field_count<DirectInternet>() == 2, "DirectInternet changed: update the Vpc writer");
static_assert(field_count<Vpc>() == 8, "Vpc changed: update its writer and reader");
json to_json(const Vpc& vpc) {
    json out = {{"name", vpc.name}, {"cidr", to_string(vpc.cidr)}};
    put_array(out, "interfaces", vpc.interfaces);
    put_array(out, "vswitches", vpc.vswitches);
    put_array(out, "instances", vpc.instances);
    put_array(out, "route_tables", vpc.route_tables);
    if (vpc.system_route_table) out["system_route_table"] = to_json(*vpc.system_route_table);
    if (vpc.direct_internet())
        out["internet_access"] = {{"outside_interface", vpc.direct_internet()->outside_interface},
                                  {"upstream", to_string(vpc.direct_internet()->upstream)}};
    else if (vpc.is_private())
        out["internet_access"] = "private";
    return out;
}

static_assert(field_count<Eip>() == 5, "Eip changed: update its writer and reader");
json to_json(const Eip& eip) {
    json out = {{"name", eip.name}, {"address", to_string(eip.address)}};
    if (eip.instance) out["instance"] = *eip.instance;
    if (eip.private_ip) out["private_ip"] = to_string(*eip.private_ip);
    if (eip.bandwidth_mbps) out["bandwidth_mbps"] = *eip.bandwidth_mbps;
    return out;
}

static_assert(field_count<SnatEntry>() == 4, "SnatEntry changed: update its writer and reader");
json to_json(const SnatEntry& entry) {
    json out = {{"name", entry.name}, {"source", write_snat_source(entry.source)}};
    put_array(out, "eips", entry.eips, true);
    if (entry.eip_affinity) out["eip_affinity"] = *entry.eip_affinity;
    return out;
}

json to_json(const DnatEntry& entry) {
    JsonFields out;
    write_fields(out, entry);
    return std::move(out.object);
}

void append_json(std::string& text, const DnatEntry& entry) {
    TextFields out{text};
    write_fields(out, entry);
    out.close();
}

static_assert(field_count<NatGateway>() == 15, "NatGateway changed: update its writer and reader");
json to_json(const NatGateway& gateway) {
    json out = gateway_fields(gateway);
    if (gateway.mode)
        out["mode"] = *gateway.mode == GatewayMode::Masquerade ? "masquerade" : "snat";
    put_array(out, "eips", gateway.eips);
    if (gateway.icmp_echo_reply) out["icmp_echo_reply"] = *gateway.icmp_echo_reply;
    if (gateway.deletion_protection) out["deletion_protection"] = *gateway.deletion_protection;
    if (gateway.snat_port_range) out["snat_port_range"] = to_string(*gateway.snat_port_range);
    if (gateway.port_budget_per_eip) out["port_budget_per_eip"] = *gateway.port_budget_per_eip;
    if (gateway.max_ports_per_instance)
        out["max_ports_per_instance"] = *gateway.max_ports_per_instance;
    if (gateway.session_log) out["session_log"] = session_log_name(*gateway.session_log);
    if (gateway.assign_eip_addresses) out["assign_eip_addresses"] = *gateway.assign_eip_addresses;
    put_array(out, "snat_entries", gateway.snat_entries);
    put_array(out, "dnat_entries", gateway.dnat_entries);
    return out;
}

static_assert(field_count<Ipv4Gateway>() == 6, "Ipv4Gateway changed: update its writer and reader");
json to_json(const Ipv4Gateway& gateway) {
    json out = gateway_fields(gateway);
    if (gateway.enabled) out["enabled"] = *gateway.enabled;
    put_array(out, "gateway_route_table", gateway.gateway_route_table);
    return out;
}

static_assert(field_count<Limits>() == 4, "Limits changed: update its writer and reader");
json to_json(const Limits& limits) {
    json out = json::object();
    if (limits.nat_gateways_per_vpc) out["nat_gateways_per_vpc"] = *limits.nat_gateways_per_vpc;
    if (limits.eips_per_nat_gateway) out["eips_per_nat_gateway"] = *limits.eips_per_nat_gateway;
    if (limits.snat_entries_per_nat_gateway)
        out["snat_entries_per_nat_gateway"] = *limits.snat_entries_per_nat_gateway;
    if (limits.dnat_entries_per_nat_gateway)
        out["dnat_entries_per_nat_gateway"] = *limits.dnat_entries_per_nat_gateway;
    return out;
}

static_assert(field_count<Model>() == 6, "Model changed: update its writer and reader");
json to_json(const Model& model) {
    json out = {{"version", model.version}};
    put_array(out, "vpcs", model.vpcs);
    put_array(out, "eips", model.eips);
    put_array(out, "nat_gateways", model.nat_gateways);
    put_array(out, "ipv4_gateways", model.ipv4_gateways);
    if (model.limits) out["limits"] = to_json(*model.limits);
    return out;
}

}  // namespace natctl::model
