// Deltas computed from the typed models, without serialising either model whole.
//
// typed_diff() produces deltas in the format of delta.hpp: applying `forward` to
// model::to_json(from) gives exactly model::to_json(to), and applying `reverse` to
// model::to_json(to) gives model::to_json(from) back. Arrays of named objects are walked in
// step while the names match (the common case: a change of a few entries); only the window
// where they diverge is matched by name. Only entries that changed are serialised, so the
// cost is one comparison pass over the model plus work proportional to the change.
//
// Entries inside arrays are addressed by index (delta.hpp's integer segments): unambiguous
// whatever the names (duplicates included) and O(1) to apply when the journal is replayed.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::store {

// How typed_diff writes the value of an operation on a whole array (a model replaced or
// loaded whole: one operation whose value holds every entry). Json builds it as a tree in
// `forward` / `reverse`, for callers that apply or inspect the delta; Text serialises it
// straight to text (no tree of the entries exists at once), for callers that only write it:
// the operation then holds null as its value, and forward_text() / reverse_text() give the
// delta's text, byte for byte what dumping the Json form gives.
enum class LargeValues { Json, Text };

struct TypedDelta {
    nlohmann::json forward = nlohmann::json::array();  // to_json(from) → to_json(to)
    nlohmann::json reverse = nlohmann::json::array();  // to_json(to) → to_json(from)
    // LargeValues::Text: the serialised values, by operation index.
    std::map<std::size_t, std::string> forward_values, reverse_values;
    // Steps that turn the `from` model passed to typed_diff into a copy of `to`, touching
    // only what differs. They refer to both models, which must outlive patch().
    std::vector<std::function<void()>> steps;

    bool empty() const { return forward.empty(); }
    void patch() {
        for (auto& step : steps)
            step();
        steps.clear();
    }
    // The compact text of each delta (the store's dump settings).
    std::string forward_text() const;
    std::string reverse_text() const;
};

// `from` is only read here; the deferred steps (TypedDelta::patch) modify it.
TypedDelta typed_diff(model::Model& from, const model::Model& to,
                      LargeValues values = LargeValues::Json);

// model::to_json(model) dumped compactly (the store's dump settings), built piece by piece:
// no JSON tree of a whole gateway's entries exists at once.
std::string dump_model(const model::Model& model);

// `object` dumped compactly with `members` (key, already serialised JSON text) added: the
// bytes nlohmann's dump of the object holding those values would give.
std::string dump_with(nlohmann::json object,
                      const std::vector<std::pair<const char*, std::string>>& members);

}  // namespace natctl::store
