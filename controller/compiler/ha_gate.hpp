// The HA gate (docs/HA.md): set ha_hold of table ip natctl holds `invalid` and `new` while
// the node is not the primary (or is taking over and has not committed the peer's
// connections yet), so that no packet creates a fresh NAT mapping there, or draws a reset,
// except a clean TCP SYN. Opening or closing the gate is one element change (two elements
// of one set, one transaction); compile() always emits the set empty (open).
#pragma once

#include "controller/compiler/incremental.hpp"
#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler {

// Puts the hold element into a compiled state (a closed gate).
void close_ha_gate(kernel::DesiredState& desired);

// The element change that opens (hold false) or closes (hold true) the gate.
SetElementChanges ha_gate_change(bool hold);

// Whether `table` (as compiled, committed or dumped) holds new connections.
bool ha_gate_closed(const kernel::Table& table);

}  // namespace natctl::compiler
