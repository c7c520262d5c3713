// One DNAT entry of one NAT gateway created, replaced or deleted, as a value: the unit the
// API's fast write path validates, compiles, applies to the kernel, reports and stores
// without copying, serialising or re-reading the rest of the model. Pure data.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <optional>
#include <vector>

#include "controller/model/types.hpp"

namespace natctl::model {

struct DnatEntryChange {
    std::size_t gateway = 0;          // index in Model::nat_gateways
    std::size_t position = 0;         // index in its dnat_entries; a creation appends (== size)
    std::optional<DnatEntry> before;  // absent: the entry is created
    std::optional<DnatEntry> after;   // absent: the entry is deleted
    bool operator==(const DnatEntryChange&) const = default;
};

// Room for one more entry at the end of a full `entries`: a sixty-fourth more rather than
// std::vector's doubling, which at 100k entries would set aside ~12 MB that a gateway whose
// size hovers around its mark never uses. Still amortised O(1): a move of n entries every
// n/64 insertions.
inline void make_room_for_one(std::vector<DnatEntry>& entries) {
    if (entries.size() < entries.capacity()) return;
    entries.reserve(entries.size() + std::max<std::size_t>(entries.size() / 64, 16));
}

// Turns the model the change was made against into the model after it, in place.
inline void apply(Model& model, const DnatEntryChange& change) {
    auto& entries = model.nat_gateways.at(change.gateway).dnat_entries;
    if (change.after && !change.before) make_room_for_one(entries);
    const auto at = entries.begin() + static_cast<std::ptrdiff_t>(change.position);
    if (change.before && change.after)
        entries.at(change.position) = *change.after;
    else if (change.after)
        entries.insert(at, *change.after);
    else if (change.before)
        entries.erase(at);
}

}  // namespace natctl::model
