// JSON of single model objects for the per-object endpoints. The model's JSON reader only
// reads whole documents, so a body is checked by placing it where its kind sits in a minimal
// document: the errors are exactly those a whole document would give (types, unknown
// fields, missing fields, malformed addresses), with paths made relative to the body.
#pragma once

#include <expected>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::api {

std::expected<model::Vpc, model::Errors> parse_vpc(const nlohmann::json& body);
std::expected<model::VSwitch, model::Errors> parse_vswitch(const nlohmann::json& body);
std::expected<model::Instance, model::Errors> parse_instance(const nlohmann::json& body);
std::expected<model::RouteTable, model::Errors> parse_route_table(const nlohmann::json& body);
std::expected<model::Route, model::Errors> parse_route(const nlohmann::json& body);
std::expected<model::Eip, model::Errors> parse_eip(const nlohmann::json& body);
std::expected<model::NatGateway, model::Errors> parse_nat_gateway(const nlohmann::json& body);
std::expected<model::SnatEntry, model::Errors> parse_snat_entry(const nlohmann::json& body);
std::expected<model::DnatEntry, model::Errors> parse_dnat_entry(const nlohmann::json& body);
std::expected<model::Ipv4Gateway, model::Errors> parse_ipv4_gateway(const nlohmann::json& body);
std::expected<model::Limits, model::Errors> parse_limits(const nlohmann::json& body);

// Each object exactly as it appears inside model::to_json's document.
nlohmann::json to_json(const model::Vpc& vpc);
nlohmann::json to_json(const model::VSwitch& vswitch);
nlohmann::json to_json(const model::Instance& instance);
nlohmann::json to_json(const model::RouteTable& table);
nlohmann::json to_json(const model::Route& route);
nlohmann::json to_json(const model::Eip& eip);
nlohmann::json to_json(const model::NatGateway& gateway);
nlohmann::json to_json(const model::SnatEntry& entry);
nlohmann::json to_json(const model::DnatEntry& entry);
nlohmann::json to_json(const model::Ipv4Gateway& gateway);
nlohmann::json to_json(const model::Limits& limits);

}  // namespace natctl::api
