#include "controller/compiler/ha_gate.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include "controller/compiler/rules.hpp"

namespace natctl::compiler {
namespace {

// Sorted by key, as the compiler keeps every set.
std::vector<kernel::Element> hold_elements() {
    return {kernel::Element{{rules::kCtStateInvalid}, {}, {}, {}, std::nullopt},
            kernel::Element{{rules::kCtStateNew}, {}, {}, {}, std::nullopt}};
}

template <class TableType>
auto* find_hold_set(TableType& table) {
    auto found = std::find_if(table.sets.begin(), table.sets.end(),
                              [](const kernel::Set& set) { return set.name == rules::kHaHold; });
    return found == table.sets.end() ? nullptr : std::to_address(found);
}

}  // namespace

void close_ha_gate(kernel::DesiredState& desired) {
    auto* set = find_hold_set(desired.table);
    if (set == nullptr || !set->elements.empty()) return;
    set->elements = hold_elements();
}

SetElementChanges ha_gate_change(bool hold) {
    SetElementChanges change;
    change.set = rules::kHaHold;
    (hold ? change.added : change.removed) = hold_elements();
    return change;
}

bool ha_gate_closed(const kernel::Table& table) {
    const auto* set = find_hold_set(table);
    return set != nullptr && set->elements == hold_elements();
}

}  // namespace natctl::compiler
