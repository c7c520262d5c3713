// Text forms of a DesiredState: an `nft -f` file whose table part prints exactly as
// `nft list table ip natctl` does, followed by the ip rules, routes and addresses as
// `# ip ...` comment lines.
#pragma once

#include <string>

#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler {

std::string render(const kernel::DesiredState& state);

// `nft list table ip natctl` form of the table alone (what the kernel tests compare).
std::string render_table(const kernel::Table& table);

// `ip rule add ...`, `ip route add ...`, `ip address add ...` commands, one per line.
std::string render_ip_commands(const kernel::DesiredState& state);

}  // namespace natctl::compiler
