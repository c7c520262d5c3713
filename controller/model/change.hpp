// One DNAT or SNAT entry of one NAT gateway created, replaced or deleted, as a value: the
// unit the API's fast write path validates, compiles, applies to the kernel, reports and
// stores without copying, serialising or re-reading the rest of the model. Pure data.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <optional>
#include <vector>

#include "controller/model/types.hpp"

namespace natctl::model {

template <class Entry>
struct GatewayEntryChange {
    std::size_t gateway = 0;      // index in Model::nat_gateways
    std::size_t position = 0;     // index in its entry list; a creation appends (== size)
    std::optional<Entry> before;  // absent: the entry is created
    std::optional<Entry> after;   // absent: the entry is deleted
    bool operator==(const GatewayEntryChange&) const = default;
};
using DnatEntryChange = GatewayEntryChange<DnatEntry>;
using SnatEntryChange = GatewayEntryChange<SnatEntry>;

// The list of a gateway an entry type lives in, and its name in the document.
template <class Entry>
struct EntryList;
template <>
struct EntryList<DnatEntry> {
    static constexpr auto member = &NatGateway::dnat_entries;
    static constexpr const char* name = "dnat_entries";
};
template <>
struct EntryList<SnatEntry> {
    static constexpr auto member = &NatGateway::snat_entries;
    static constexpr const char* name = "snat_entries";
};
template <class Entry>
std::vector<Entry>& entries_of(NatGateway& gateway) {
    return gateway.*EntryList<Entry>::member;
}
template <class Entry>
const std::vector<Entry>& entries_of(const NatGateway& gateway) {
    return gateway.*EntryList<Entry>::member;
}

// Room for one more entry at the end of a full `entries`: a sixty-fourth more rather than
// std::vector's doubling, which at 100k entries would set aside ~12 MB that a gateway whose
// size hovers around its mark never uses. Still amortised O(1): a move of n entries every
// n/64 insertions.
template <class Entry>
void make_room_for_one(std::vector<Entry>& entries) {
    if (entries.size() < entries.capacity()) return;
    entries.reserve(entries.size() + std::max<std::size_t>(entries.size() / 64, 16));
}

// Whether `change` can be made to `model`: its gateway exists, the entry it replaces or
// deletes sits at its position, and a creation appends.
template <class Entry>
bool applies_to(const Model& model, const GatewayEntryChange<Entry>& change) {
    if (change.gateway >= model.nat_gateways.size()) return false;
    const auto& entries = entries_of<Entry>(model.nat_gateways[change.gateway]);
    if (!change.before) return change.position == entries.size();
    return change.position < entries.size() && entries[change.position] == *change.before;
}

// Turns the model the change was made against into the model after it, in place.
template <class Entry>
void apply(Model& model, const GatewayEntryChange<Entry>& change) {
    auto& entries = entries_of<Entry>(model.nat_gateways.at(change.gateway));
    if (change.after && !change.before) make_room_for_one(entries);
    const auto at = entries.begin() + static_cast<std::ptrdiff_t>(change.position);
    if (change.before && change.after)
        entries.at(change.position) = *change.after;
    else if (change.after)
        entries.insert(at, *change.after);
    else if (change.before)
        entries.erase(at);
}

// The model without its DNAT entries: what every kernel object but the DNAT-derived ones is
// compiled from, and what an SNAT entry change is validated against (with the rules that
// join SNAT and DNAT entries checked apart). O(model less its DNAT entries).
Model without_dnat_entries(const Model& model);
// Makes `model`'s every part but its DNAT entries `light`'s (a model without DNAT entries
// with as many NAT gateways, matched by position).
void adopt_without_dnat_entries(Model& model, Model light);

// The fields of an object without its children (which are objects of their own).
Vpc own_fields(const Vpc& vpc);
NatGateway own_fields(const NatGateway& gateway);
Ipv4Gateway own_fields(const Ipv4Gateway& gateway);

}  // namespace natctl::model
