// The model's JSON form (DESIGN.md): strict parsing that reports every problem with its
// JSON path, and serialisation that round-trips exactly (optional fields that were absent
// stay absent). One reader and one writer per model type: the whole document, the API's
// single objects and the store's journal all go through them.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::model {

// What could be read of a document, and every reading problem (types, unknown fields,
// missing required fields, malformed addresses / CIDRs / ports). A value or array element
// that could not be read is left at its default in `model` (elements keep their indices), so
// that validate() can still judge the rest: see validate.hpp's document_errors().
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

// Where read_object() puts what it read: one object of the model, of any type but Model.
using ObjectOut =
    std::variant<Vpc*, VSwitch*, Instance*, RouteTable*, SystemRouteTable*, Route*, Eip*,
                 NatGateway*, SnatEntry*, DnatEntry*, Ipv4Gateway*, GatewayRoute*, Limits*>;

// One object read as it would be read inside a document, with every problem; paths are
// relative to the object ("" for the object itself). What could not be read is left as it was.
Errors read_object(const nlohmann::json& value, ObjectOut out);

// read_object() when it found no problem: from_json<Vpc>(body), from_json<DnatEntry>(body)...
// (from_json<Model> is from_json(document)).
template <class T>
std::expected<T, Errors> from_json(const nlohmann::json& value) {
    if constexpr (std::is_same_v<T, Model>) {
        return from_json(value);
    } else {
        T object{};
        auto errors = read_object(value, &object);
        if (!errors.empty()) return std::unexpected(std::move(errors));
        return object;
    }
}

// A JSON syntax error is reported with path "" and the parser's message.
std::expected<nlohmann::json, Errors> parse_json(std::string_view text);

// Text in: a JSON syntax error is reported with path "" and the parser's message.
std::expected<Model, Errors> parse_model(std::string_view text);

// Each object exactly as it appears inside the document's form.
nlohmann::json to_json(const Model& model);
nlohmann::json to_json(const Vpc& vpc);
nlohmann::json to_json(const VSwitch& vswitch);
nlohmann::json to_json(const Instance& instance);
nlohmann::json to_json(const RouteTable& table);
nlohmann::json to_json(const SystemRouteTable& table);
nlohmann::json to_json(const Route& route);
nlohmann::json to_json(const Eip& eip);
nlohmann::json to_json(const NatGateway& gateway);
nlohmann::json to_json(const SnatEntry& entry);
nlohmann::json to_json(const DnatEntry& entry);
nlohmann::json to_json(const Ipv4Gateway& gateway);
nlohmann::json to_json(const GatewayRoute& route);
nlohmann::json to_json(const Limits& limits);

// to_json(entry) dumped compactly (nlohmann's dump(): sorted keys, no spaces) and appended to
// `text`, field by field without a JSON value: DNAT entries are the list that grows to 100k,
// and the store writes them this way. The same writer as to_json(entry), so the same bytes.
void append_json(std::string& text, const DnatEntry& entry);

}  // namespace natctl::model
