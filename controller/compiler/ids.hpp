// Hash-derived identities (docs/KERNEL-LAYOUT.md, "Identities that must stay stable"):
// gateway realms and kernel route table ids. Derived from names rather than positions so
// that adding or removing one object does not renumber the others.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace natctl::compiler {

// 32-bit FNV-1a.
std::uint32_t fnv1a(std::string_view text);

// One id per text, parallel to `texts`: base + fnv1a(text) % modulus; when that id is
// taken, the text that sorts later probes the next ids (wrapping within the range). Equal
// texts are allowed and are told apart by their position. Throws std::length_error when
// there are more texts than ids.
std::vector<std::uint32_t> assign_hashed_ids(const std::vector<std::string>& texts,
                                             std::uint32_t base, std::uint32_t modulus);

inline constexpr std::uint32_t kRealmBase = 1;
inline constexpr std::uint32_t kRealmCount = 65000;
inline constexpr std::uint32_t kTableIdCount = 10000;

}  // namespace natctl::compiler
