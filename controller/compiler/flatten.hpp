// Flattening of overlapping prefixes into disjoint address intervals where the longest
// prefix wins, so that the kernel does one interval lookup whatever the number of entries.
#pragma once

#include <cstdint>
#include <vector>

namespace natctl::compiler {

struct OwnedPrefix {
    std::uint32_t address = 0;  // network address, host order
    int length = 0;
    std::size_t owner = 0;  // index of whatever the prefix belongs to
};

struct OwnedInterval {
    std::uint32_t first = 0;
    std::uint32_t last = 0;  // inclusive
    std::size_t owner = 0;
    auto operator<=>(const OwnedInterval&) const = default;
};

// Disjoint, sorted intervals; adjacent intervals of the same owner are merged. For every
// address, the owner is that of the longest prefix containing it (no interval where none
// does). Two prefixes of equal length and address must not be given (validation forbids it).
std::vector<OwnedInterval> flatten(const std::vector<OwnedPrefix>& prefixes);

}  // namespace natctl::compiler
