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

#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/model/types.hpp"

namespace natctl::store {

struct TypedDelta {
    nlohmann::json forward = nlohmann::json::array();  // to_json(from) → to_json(to)
    nlohmann::json reverse = nlohmann::json::array();  // to_json(to) → to_json(from)
    // Steps that turn the `from` model passed to typed_diff into a copy of `to`, touching
    // only what differs. They refer to both models, which must outlive patch().
    std::vector<std::function<void()>> steps;

    bool empty() const { return forward.empty(); }
    void patch() {
        for (auto& step : steps)
            step();
        steps.clear();
    }
};

// `from` is only read here; the deferred steps (TypedDelta::patch) modify it.
TypedDelta typed_diff(model::Model& from, const model::Model& to);

// The JSON form (model::to_json's) of one object of the model, for callers that serialise
// piecewise.
nlohmann::json to_json(const model::Vpc& vpc);
nlohmann::json to_json(const model::Eip& eip);
nlohmann::json to_json(const model::NatGateway& gateway);
nlohmann::json to_json(const model::Ipv4Gateway& gateway);
nlohmann::json to_json(const model::SnatEntry& entry);
nlohmann::json to_json(const model::DnatEntry& entry);
nlohmann::json to_json(const model::VSwitch& vswitch);
nlohmann::json to_json(const model::Instance& instance);
nlohmann::json to_json(const model::RouteTable& table);

// model::to_json(model) dumped compactly (the store's dump settings), built piece by piece:
// no JSON tree of a whole gateway's entries exists at once.
std::string dump_model(const model::Model& model);

}  // namespace natctl::store
