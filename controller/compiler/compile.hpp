// The compiler: a pure function from a *validated* model to the kernel state natctl wants
// (docs/KERNEL-LAYOUT.md). Deterministic: equal models give equal states, every list sorted.
#pragma once

#include "controller/model/types.hpp"
#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler {

kernel::DesiredState compile(const model::Model& model);

}  // namespace natctl::compiler
