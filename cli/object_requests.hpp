// The imperative verbs (`natctl dnat create …`, `route add …`) mapped onto the API's
// per-object endpoints (docs/API.md). Pure: the parsed command line and the current model
// in, the HTTP request out, so the mapping is unit-tested without a daemon.
#pragma once

#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/model_view.hpp"

namespace natctl::cli {

enum class FieldType {
    Text,    // a JSON string
    Number,  // a JSON unsigned integer
    OnOff,   // a JSON boolean written on|off
    List,    // a JSON array of strings; the flag repeats or takes a comma-separated list
    Source,  // an SNAT source written KIND:NAME (vpc, vswitch, instance) or cidr:A.B.C.D/P
};

// A flag that sets one field of an object body.
struct FieldSpec {
    std::string_view flag;  // without dashes: "public-port"
    std::string_view key;   // JSON key: "public_port"
    FieldType type;
    std::string_view help;
};

// The flags of gateway, eip, snat, dnat and ipv4-gateway create / modify.
std::span<const FieldSpec> object_fields(Kind kind);

// JSON key → the values given on the command line (only the flags that were given).
using FieldValues = std::map<std::string, std::vector<std::string>, std::less<>>;

enum class Verb { Create, Modify, Delete, Associate, Disassociate, Enable, Disable, Add };

struct ObjectCommand {
    Kind kind = Kind::Gateway;  // Kind::RouteTable stands for `route add|delete`
    Verb verb = Verb::Create;
    std::string name;
    std::string parent;          // --gateway (snat, dnat, eip associate) or --vpc (route)
    std::string instance;        // eip associate --instance
    std::string private_ip;      // eip associate --private-ip
    bool from_instance = false;  // eip disassociate --instance
    std::vector<std::string> route_tables;    // ipv4-gateway enable --route-table
    std::optional<nlohmann::json> file_body;  // -f FILE: the object's JSON
    FieldValues fields;
    bool force = false;       // gateway delete
    std::string delete_mode;  // ipv4-gateway delete: public | private
    std::string table;        // route
    std::string destination;  // route
    std::string next_hop;     // route add
    bool dry_run = false;
};

struct ApiRequest {
    std::string method;
    std::string target;
    std::optional<nlohmann::json> body;
    bool operator==(const ApiRequest&) const = default;
};

struct CommandError {
    int exit_code;  // kExitUsage for a bad command line, kExitRefused for an unknown object
    std::string message;
};

// The request for `command`, given the model the daemon returned: `modify` starts from the
// object as it is now, so that only the fields named on the command line change.
std::expected<ApiRequest, CommandError> build_request(const ObjectCommand& command,
                                                      const nlohmann::json& model);

// "nat-gateway:ngw-1" → {"nat_gateway": "ngw-1"}; "blackhole" → "blackhole".
std::expected<nlohmann::json, std::string> parse_next_hop(std::string_view text);
// "vswitch:vsw-a" → {"vswitch": "vsw-a"}; "cidr:10.0.3.0/24" or "10.0.3.0/24" → {"cidr": …}.
std::expected<nlohmann::json, std::string> parse_source(std::string_view text);

}  // namespace natctl::cli
