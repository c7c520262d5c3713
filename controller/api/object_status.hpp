// Per-object status, as the cloud consoles show it (issue 14): each NAT gateway, SNAT and
// DNAT entry and IPv4 gateway is Available, Active or Failed with a reason, and a gateway
// lists the routes that point at it. Pure: the model and the data plane's status in, JSON
// out (the "objects" member of GET /v1/status).
#pragma once

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::api {

// `plane_status`: DataPlane::status() (its reconcile.state and reconcile.last_error say
// whether the kernel holds the stored model).
//   NAT gateway, SNAT / DNAT entry: Available (programmed), Failed (the kernel does not
//     hold the stored model: reason = the data plane's last error)
//   IPv4 gateway: Active (enabled: the VPC's public traffic passes it), Available (created,
//     disabled: traffic untouched until activation), Failed (as above)
nlohmann::json object_status(const model::Model& model, const nlohmann::json& plane_status);

}  // namespace natctl::api
