// The model's JSON form (DESIGN.md): strict parsing that reports every problem with its
// JSON path, and serialisation that round-trips exactly (optional fields that were absent
// stay absent).
#pragma once

#include <expected>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::model {

// Types, unknown fields, missing required fields, malformed addresses / CIDRs / ports: all
// reported at once. Semantic checks are validate()'s.
std::expected<Model, Errors> from_json(const nlohmann::json& document);

// Text in: a JSON syntax error is reported with path "" and the parser's message.
std::expected<Model, Errors> parse_model(std::string_view text);

nlohmann::json to_json(const Model& model);

}  // namespace natctl::model
