// What the API shows of the accounting (GET /v1/ports, GET /v1/sessions; docs/API.md): the
// counts of a Tracker named with the model's EIPs, gateways and SNAT/DNAT entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/conntrack/tracker.hpp"
#include "controller/model/types.hpp"

namespace natctl::conntrack {

struct PortsQuery {
    std::optional<std::string> gateway;  // only the EIPs attached to this gateway
    std::optional<std::string> eip;      // only this EIP
    std::size_t top = 5;                 // rows of each top list
};

struct SessionsQuery {
    std::optional<std::string> eip;            // translated to / arrived on this EIP
    std::optional<std::uint32_t> source;       // original source address
    std::optional<std::uint32_t> destination;  // original destination address
    std::size_t limit = 1000;
};

// {"eips": [...], "top_sources": [...], "snat_entries": [...], "dnat_entries": [...],
//  "other_addresses": [...], "conntrack": {...}}
nlohmann::json ports_view(const model::Model& model, const Tracker& tracker,
                          const PortsQuery& query);
// {"sessions": [...], "matched": N, "truncated": bool, "conntrack": {...}}
nlohmann::json sessions_view(const model::Model& model, const Tracker& tracker,
                             const SessionsQuery& query);

}  // namespace natctl::conntrack
