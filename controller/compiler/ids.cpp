#include "controller/compiler/ids.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <unordered_set>

#include "util/fnv1a.hpp"

namespace natctl::compiler {

std::uint32_t fnv1a(std::string_view text) {
    return util::fnv1a32(text);
}

std::vector<std::uint32_t> assign_hashed_ids(const std::vector<std::string>& texts,
                                             std::uint32_t base, std::uint32_t modulus) {
    if (texts.size() > modulus) throw std::length_error("more objects than hash-derived ids");
    std::vector<std::size_t> order(texts.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return texts[a] < texts[b]; });

    std::vector<std::uint32_t> ids(texts.size());
    std::unordered_set<std::uint32_t> taken;
    for (std::size_t index : order) {
        std::uint32_t slot = fnv1a(texts[index]) % modulus;
        while (taken.contains(slot))
            slot = (slot + 1) % modulus;
        taken.insert(slot);
        ids[index] = base + slot;
    }
    return ids;
}

}  // namespace natctl::compiler
