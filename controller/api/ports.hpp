// GET /v1/ports and GET /v1/sessions (docs/API.md): the conntrack accounting of the daemon,
// named with the current model. Routed by Service::handle before the model's endpoints.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "controller/api/service.hpp"
#include "controller/model/types.hpp"

namespace natctl::conntrack {
class Tracker;
}

namespace natctl::api {

// The answer when `request` is for /v1/ports or /v1/sessions; nullopt otherwise. Without a
// tracker (accounting not running) the answer is 503.
// `budget`: the port budget counters for /v1/ports (empty: the answer has `budget: null`).
std::optional<HttpResponse> handle_conntrack_request(const HttpRequest& request,
                                                     const model::Model& model,
                                                     const conntrack::Tracker* tracker,
                                                     const BudgetCountsSource& budget = {});

// The "budget" object of GET /v1/ports: refusals (port allocation errors, by reason) and
// steered connections per gateway and entry (entry "-": an EIP's backstop), optionally
// only those of `gateway`.
nlohmann::json budget_json(const BudgetCounts& counts, const std::optional<std::string>& gateway);
// Per EIP (all, or the one named or addressed by `eip`): its bandwidth_mbps and, inbound
// and outbound, the bytes and packets that passed its cap and those it dropped.
nlohmann::json eip_traffic_json(const BudgetCounts& counts, const model::Model& model,
                                const std::optional<std::string>& eip);

}  // namespace natctl::api
