#include "controller/api/ports.hpp"

#include <charconv>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "controller/api/http.hpp"
#include "controller/conntrack/views.hpp"
#include "controller/model/addr.hpp"

namespace natctl::api {
namespace {

std::expected<std::size_t, Failure> count_parameter(const Target& target, const std::string& name,
                                                    std::size_t fallback, std::size_t max) {
    auto it = target.query.find(name);
    if (it == target.query.end()) return fallback;
    std::size_t value = 0;
    const auto& text = it->second;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > max)
        return std::unexpected(
            failure(400, "?" + name, fmt::format("expected a number from 0 to {}", max)));
    return value;
}

std::expected<std::optional<std::uint32_t>, Failure> address_parameter(const Target& target,
                                                                       const std::string& name) {
    auto it = target.query.find(name);
    if (it == target.query.end()) return std::nullopt;
    auto address = model::parse_ipv4(it->second);
    if (!address) return std::unexpected(failure(400, "?" + name, address.error()));
    return address->value;
}

std::optional<std::string> text_parameter(const Target& target, const std::string& name) {
    auto it = target.query.find(name);
    if (it == target.query.end()) return std::nullopt;
    return it->second;
}

std::optional<Failure> unknown_parameter(const Target& target,
                                         const std::vector<std::string>& allowed) {
    for (const auto& [key, value] : target.query)
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
            return failure(400, "?" + key,
                           fmt::format("unknown query parameter for GET {}", target.path));
    return std::nullopt;
}

}  // namespace

nlohmann::json budget_json(const BudgetCounts& counts, const std::optional<std::string>& gateway) {
    struct Row {
        std::map<std::string, std::uint64_t> refused;
        std::uint64_t steered = 0;
    };
    std::map<std::pair<std::string, std::string>, Row> rows;
    for (const auto& [role, count] : counts) {
        if (role.is_eip_traffic() || (gateway && role.gateway != *gateway)) continue;
        auto& row = rows[{role.gateway, role.entry.empty() ? kernel::kRefusalNoEntry : role.entry}];
        if (role.kind == kernel::CounterRole::Kind::Refused)
            row.refused[role.reason] += count.packets;
        else
            row.steered += count.packets;
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [key, row] : rows) {
        std::uint64_t refused = 0;
        for (const auto& [reason, count] : row.refused)
            refused += count;
        out.push_back({{"gateway", key.first},
                       {"entry", key.second},
                       {"port_allocation_errors", refused},
                       {"port_allocation_errors_by_reason", row.refused},
                       {"steered", row.steered}});
    }
    return {{"entries", std::move(out)}};
}

nlohmann::json eip_traffic_json(const BudgetCounts& counts, const model::Model& model,
                                const std::optional<std::string>& eip) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& address : model.eips) {
        if (eip && address.name != *eip && model::to_string(address.address) != *eip) continue;
        nlohmann::json row = {
            {"eip", address.name},
            {"address", model::to_string(address.address)},
            {"bandwidth_mbps",
             address.bandwidth_mbps ? nlohmann::json(*address.bandwidth_mbps) : nlohmann::json()}};
        for (const char* direction : {kernel::kDirectionInbound, kernel::kDirectionOutbound}) {
            kernel::CounterTotal passed, capped;
            for (const auto& [role, count] : counts) {
                if (!role.is_eip_traffic() || role.eip != address.name ||
                    role.direction != direction)
                    continue;
                (role.kind == kernel::CounterRole::Kind::EipPassed ? passed : capped) = count;
            }
            row[direction] = {{"bytes", passed.bytes},
                              {"packets", passed.packets},
                              {"capped_bytes", capped.bytes},
                              {"capped_packets", capped.packets}};
        }
        out.push_back(std::move(row));
    }
    return out;
}

std::optional<HttpResponse> handle_conntrack_request(const HttpRequest& request,
                                                     const model::Model& model,
                                                     const conntrack::Tracker* tracker,
                                                     const BudgetCountsSource& budget) {
    auto target = parse_target(request.target);
    if (!target) return std::nullopt;  // the main router answers
    const auto& s = target->segments;
    if (s.size() != 2 || s[0] != "v1" || (s[1] != "ports" && s[1] != "sessions"))
        return std::nullopt;
    if (request.method != "GET") {
        auto response =
            error_response(failure(405, "",
                                   fmt::format("method {} is not allowed on {} (allowed: GET)",
                                               request.method, target->path)));
        response.headers.emplace_back("Allow", "GET");
        return response;
    }
    if (!tracker)
        return error_response(
            failure(503, "", "conntrack accounting is not running (see natctld's log)"));

    if (s[1] == "ports") {
        if (auto refused = unknown_parameter(*target, {"gateway", "eip", "top"}))
            return error_response(*refused);
        auto top = count_parameter(*target, "top", 5, 10000);
        if (!top) return error_response(top.error());
        conntrack::PortsQuery query{text_parameter(*target, "gateway"),
                                    text_parameter(*target, "eip"), *top};
        auto view = conntrack::ports_view(model, *tracker, query);
        std::optional<BudgetCounts> counts;
        if (budget) counts = budget();
        view["budget"] = counts ? budget_json(*counts, query.gateway) : nlohmann::json();
        view["eip_traffic"] =
            counts ? eip_traffic_json(*counts, model, query.eip) : nlohmann::json();
        return json_response(200, view);
    }
    if (auto refused = unknown_parameter(*target, {"eip", "source", "destination", "limit"}))
        return error_response(*refused);
    auto limit = count_parameter(*target, "limit", 1000, 1000000);
    if (!limit) return error_response(limit.error());
    auto source = address_parameter(*target, "source");
    if (!source) return error_response(source.error());
    auto destination = address_parameter(*target, "destination");
    if (!destination) return error_response(destination.error());
    conntrack::SessionsQuery query{text_parameter(*target, "eip"), *source, *destination, *limit};
    return json_response(200, conntrack::sessions_view(model, *tracker, query));
}

}  // namespace natctl::api
