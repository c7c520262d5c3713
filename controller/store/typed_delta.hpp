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
#include "controller/store/text_parts.hpp"

namespace natctl::store {

// How typed_diff writes the value of an operation on a whole array (a model replaced or
// loaded whole: one operation whose value holds every entry). Json builds it as a tree in
// `forward` / `reverse`, for callers that apply or inspect the delta; Text serialises it
// straight to text (no tree of the entries exists at once), for callers that only write it:
// the operation then holds null as its value, and forward_text() / reverse_text() give the
// delta's text, byte for byte what dumping the Json form gives.
enum class LargeValues { Json, Text };

// Serialised arrays by the address of the model's vector they are the text of, for
// dump_model_parts to take instead of serialising them again.
using ArrayTexts = std::map<const void*, TextParts>;

struct TypedDelta {
    nlohmann::json forward = nlohmann::json::array();  // to_json(from) → to_json(to)
    nlohmann::json reverse = nlohmann::json::array();  // to_json(to) → to_json(from)
    // LargeValues::Text: the serialised values, by operation index.
    std::map<std::size_t, TextParts> forward_values, reverse_values;
    // The `to` array whose text each forward value is.
    std::map<std::size_t, const void*> forward_sources;
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
    // forward_text() as parts that refer to forward_values (valid while they are).
    TextParts forward_parts() const;
    // Moves the forward values out, by the `to` array each is the text of (for a snapshot of
    // `to` written instead of the delta); forward_text() no longer holds them afterwards.
    ArrayTexts take_forward_arrays();
};

// `from` is only read here; the deferred steps (TypedDelta::patch) modify it.
TypedDelta typed_diff(model::Model& from, const model::Model& to,
                      LargeValues values = LargeValues::Json);

// model::to_json(model) dumped compactly (the store's dump settings), built piece by piece:
// no JSON tree of a whole gateway's entries exists at once.
std::string dump_model(const model::Model& model);
// The same text as parts, each large array in its own string; arrays of `model` that
// `reuse` holds (typed_diff's texts of them) are taken from it, not serialised again.
TextParts dump_model_parts(const model::Model& model, ArrayTexts reuse = {});

// `object` dumped compactly with `members` (key, already serialised JSON text) added: the
// bytes nlohmann's dump of the object holding those values would give.
std::string dump_with(nlohmann::json object,
                      const std::vector<std::pair<const char*, std::string>>& members);
// The same with members given as parts, which the result takes over.
TextParts dump_with(nlohmann::json object, std::vector<std::pair<const char*, TextParts>> members);

}  // namespace natctl::store
