// Client-side views of the model JSON that GET /v1/config returns: finding objects by kind
// and name (`natctl get`, and the current object a `modify` starts from) and the tables
// people read. Pure: JSON in, JSON or text out.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace natctl::cli {

enum class Kind {
    Vpc,
    VSwitch,
    Instance,
    RouteTable,
    Eip,
    Gateway,
    Snat,
    Dnat,
    Ipv4Gateway,
    Limits
};

// The CLI spelling ("vpc", "route-table", "gateway", "snat", …); a few aliases are accepted
// ("nat-gateway", "snat-entry", the API's underscore spellings).
std::optional<Kind> parse_kind(std::string_view text);
// For messages: "DNAT entry", "NAT gateway".
std::string_view kind_label(Kind kind);
// The CLI spellings, for --help and usage errors.
std::vector<std::string> kind_cli_names();

enum class ParentKind { None, Vpc, Gateway };
// vSwitches, instances and route tables live in a VPC; SNAT / DNAT entries in a gateway.
ParentKind parent_kind(Kind kind);

struct Found {
    std::string parent;  // empty for top-level kinds
    nlohmann::json object;
};

// Every object of `kind`, or the one called `name`, optionally only under `parent`. A
// name that matches nothing, or objects under several parents when no parent was given,
// is an error saying which.
std::expected<std::vector<Found>, std::string> select_objects(
    const nlohmann::json& model, Kind kind, const std::optional<std::string>& name,
    const std::optional<std::string>& parent);

// One table for the objects of one kind; `model` supplies cross-references (the gateway
// an EIP is associated with).
std::string render_objects(Kind kind, const std::vector<Found>& objects,
                           const nlohmann::json& model);
// The whole model: one titled table per kind that has objects.
std::string render_model(const nlohmann::json& model);

// Short text for a JSON value in a table cell: strings bare, {"vswitch": "a"} as
// "vswitch a", arrays joined with ",", null as "".
std::string cell_text(const nlohmann::json& value);

}  // namespace natctl::cli
