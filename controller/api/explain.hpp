// GET /v1/explain: which route table, route, gateway and translation a packet meets, and
// why, derived from the model alone (pure; the kernel is not asked). It mirrors the
// compiler's decisions: policy routing per vSwitch, the system table's implicit default,
// the egress priority public_ip > IP mapping > SNAT entry (longest prefix), DNAT port
// offsets, and the inbound policy of an enabled IPv4 gateway.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::api {

enum class Protocol { Tcp, Udp, Icmp };

struct ExplainQuery {
    model::Ipv4 src;
    model::Ipv4 dst;
    std::optional<std::uint16_t> port;  // destination port (tcp, udp)
    Protocol protocol = Protocol::Tcp;
};

// {"direction": "egress" | "ingress" | "internal" | "none", "verdict", "vpc", "vswitch",
//  "route_table", "route", "gateway", "translation": {"kind", "entry", "eip", "address",
//  "reason", ...}, "steps": [...]} — fields that do not apply are absent.
nlohmann::json explain(const model::Model& model, const ExplainQuery& query);

}  // namespace natctl::api
