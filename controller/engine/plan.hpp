// What a write changes in the model: objects added, changed and removed, identified by kind
// and name (docs/API.md, PLAN). Pure: a diff of two models, no kernel involved.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/model/change.hpp"
#include "controller/model/types.hpp"

namespace natctl::engine {

struct PlanObject {
    std::string kind;  // vpc, vswitch, instance, route_table, route, eip, nat_gateway, ...
    std::string name;  // routes: "<table>:<destination>", gateway routes: "<igw>:<destination>"
    std::string path;  // in the model after the change (removed: before it)
    bool operator==(const PlanObject&) const = default;
};

struct Plan {
    std::vector<PlanObject> added, changed, removed;
    // Side effects the caller asked for only indirectly (a forced delete removing routes),
    // spelled out so that nobody is surprised by them.
    std::vector<std::string> notes;

    bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
};

// Objects are matched by kind and name; an object is "changed" when its own fields differ
// (its children are objects of their own and are reported separately) or it moved to
// another parent. Lists are in document order.
Plan diff(const model::Model& before, const model::Model& after);

// diff(before, after) when both models pass model::validate, so that DNAT entry names are
// unique model-wide in each: the DNAT entries of a gateway that has the same name and equal
// entries in both (an edit elsewhere in a model of 100k entries) are not walked, as each of
// them can only match itself. On models that may be invalid, call diff().
Plan diff_of_valid(const model::Model& before, const model::Model& after);

// diff(before, after) for the model after one DNAT or SNAT entry change, from the change
// alone.
Plan diff(const model::DnatEntryChange& change);
Plan diff(const model::SnatEntryChange& change);

nlohmann::json to_json(const Plan& plan);

}  // namespace natctl::engine
