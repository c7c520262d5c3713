// The model's JSON form (DESIGN.md): strict parsing that reports every problem with its
// JSON path, and serialisation that round-trips exactly (optional fields that were absent
// stay absent).
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::model {

// What could be read of a document, and every reading problem (types, unknown fields,
// missing required fields, malformed addresses / CIDRs / ports). A value or array element
// that could not be read is left at its default in `model` (elements keep their indices), so
// that validate() can still judge the rest: see validate.hpp's check_document().
struct ReadResult {
    Model model;
    Errors errors;
    std::vector<std::string> unread;  // paths of array elements that are placeholders
};
ReadResult read_model(const nlohmann::json& document);
// The same from the document's text, read as it is parsed: no tree of the whole document
// (the DNAT entries, the one array that grows large, are read one by one). A syntax error is
// the only failure; it has an empty path.
std::expected<ReadResult, Errors> read_model(std::string_view text);

// read_model when it found no problem. Semantic checks are validate()'s.
std::expected<Model, Errors> from_json(const nlohmann::json& document);

// A JSON syntax error is reported with path "" and the parser's message.
std::expected<nlohmann::json, Errors> parse_json(std::string_view text);

// Text in: a JSON syntax error is reported with path "" and the parser's message.
std::expected<Model, Errors> parse_model(std::string_view text);

nlohmann::json to_json(const Model& model);

}  // namespace natctl::model
