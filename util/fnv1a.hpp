// FNV-1a: a small, stable, dependency-free hash. natctl uses it where a value must be the
// same on every machine and in every release — route table ids and realms derived from
// names, rule identity digests stored in the kernel, journal record checksums — so it must
// never change, and never be replaced by std::hash (which may differ between builds).
#pragma once

#include <cstdint>
#include <string_view>

namespace natctl::util {

constexpr std::uint32_t fnv1a32(std::string_view bytes) {
    std::uint32_t hash = 2166136261u;
    for (char c : bytes) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 16777619u;
    }
    return hash;
}

constexpr std::uint64_t fnv1a64(std::string_view bytes) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (char c : bytes) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ull;
    }
    return hash;
}

static_assert(fnv1a32("") == 2166136261u);
static_assert(fnv1a64("a") == 0xaf63dc4c8601ec8cull);

}  // namespace natctl::util
