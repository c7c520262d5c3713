#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <set>

#include "controller/compiler/flatten.hpp"

using natctl::compiler::flatten;
using natctl::compiler::OwnedInterval;
using natctl::compiler::OwnedPrefix;

namespace {

std::uint32_t first_of(const OwnedPrefix& prefix) {
    return prefix.length == 0 ? 0u : prefix.address & (~0u << (32 - prefix.length));
}
std::uint32_t last_of(const OwnedPrefix& prefix) {
    return first_of(prefix) | (prefix.length == 0 ? ~0u : ~(~0u << (32 - prefix.length)));
}

// The owner of the longest prefix containing the address, by brute force.
std::optional<std::size_t> reference_owner(const std::vector<OwnedPrefix>& prefixes,
                                           std::uint32_t address) {
    std::optional<std::size_t> owner;
    int best = -1;
    for (const auto& prefix : prefixes)
        if (address >= first_of(prefix) && address <= last_of(prefix) && prefix.length > best) {
            best = prefix.length;
            owner = prefix.owner;
        }
    return owner;
}

std::optional<std::size_t> flattened_owner(const std::vector<OwnedInterval>& intervals,
                                           std::uint32_t address) {
    auto after = std::upper_bound(
        intervals.begin(), intervals.end(), address,
        [](std::uint32_t value, const OwnedInterval& interval) { return value < interval.first; });
    if (after == intervals.begin()) return std::nullopt;
    --after;
    if (address > after->last) return std::nullopt;
    return after->owner;
}

void check_structure(const std::vector<OwnedInterval>& intervals) {
    for (std::size_t index = 0; index < intervals.size(); ++index) {
        REQUIRE(intervals[index].first <= intervals[index].last);
        if (index == 0) continue;
        const auto& previous = intervals[index - 1];
        REQUIRE(std::uint64_t{previous.last} < intervals[index].first);
        // Touching intervals of one owner would have been merged.
        if (std::uint64_t{previous.last} + 1 == intervals[index].first)
            REQUIRE(previous.owner != intervals[index].owner);
    }
}

// Random prefixes that nest, touch, share an address with different lengths, and include
// /0 and /32; no two with the same address and length (the model forbids that).
std::vector<OwnedPrefix> random_prefixes(std::mt19937& random) {
    std::uniform_int_distribution<int> count_of(1, 12);
    std::uniform_int_distribution<int> length_of(0, 32);
    std::uniform_int_distribution<std::size_t> owner_of(0, 3);
    std::uniform_int_distribution<int> kind_of(0, 5);
    // A small address neighbourhood most of the time, so that prefixes overlap often.
    const std::uint32_t base = std::uniform_int_distribution<int>(0, 3)(random) == 0
                                   ? 0u
                                   : (static_cast<std::uint32_t>(random()) & 0xffff0000u);
    std::vector<OwnedPrefix> out;
    std::set<std::pair<std::uint32_t, int>> used;
    const int count = count_of(random);
    while (static_cast<int>(out.size()) < count) {
        OwnedPrefix prefix;
        switch (kind_of(random)) {
            case 0:
                prefix.length = std::uniform_int_distribution<int>(0, 1)(random) ? 0 : 32;
                break;
            case 1:
                if (!out.empty()) {  // same address as another prefix, different length
                    const auto& other = out[random() % out.size()];
                    prefix.address = first_of(other);
                    prefix.length = length_of(random);
                    break;
                }
                [[fallthrough]];
            case 2:
                if (!out.empty()) {  // adjacent to another prefix, same length
                    const auto& other = out[random() % out.size()];
                    prefix.address = last_of(other) + 1;
                    prefix.length = other.length;
                    break;
                }
                [[fallthrough]];
            default:
                prefix.length = std::uniform_int_distribution<int>(12, 32)(random);
                prefix.address = base | (static_cast<std::uint32_t>(random()) & 0xffffu);
        }
        if (kind_of(random) == 0) prefix.address = static_cast<std::uint32_t>(random());
        prefix.address = first_of(prefix);
        prefix.owner = owner_of(random);
        if (used.insert({prefix.address, prefix.length}).second) out.push_back(prefix);
    }
    return out;
}

}  // namespace

TEST_CASE("flatten: hand examples", "[flatten]") {
    SECTION("nothing") {
        CHECK(flatten({}).empty());
    }
    SECTION("one prefix") {
        CHECK(flatten({{0x0a000000, 8, 1}}) ==
              std::vector<OwnedInterval>{{0x0a000000, 0x0affffff, 1}});
    }
    SECTION("a /32 inside a /24 inside a /16: the longest wins, the rest is split around it") {
        auto intervals = flatten({{0x0a000000, 16, 0}, {0x0a000100, 24, 1}, {0x0a00010a, 32, 2}});
        CHECK(intervals == std::vector<OwnedInterval>{{0x0a000000, 0x0a0000ff, 0},
                                                      {0x0a000100, 0x0a000109, 1},
                                                      {0x0a00010a, 0x0a00010a, 2},
                                                      {0x0a00010b, 0x0a0001ff, 1},
                                                      {0x0a000200, 0x0a00ffff, 0}});
    }
    SECTION("adjacent prefixes of one owner merge, of different owners do not") {
        CHECK(flatten({{0x0a000000, 24, 3}, {0x0a000100, 24, 3}}) ==
              std::vector<OwnedInterval>{{0x0a000000, 0x0a0001ff, 3}});
        CHECK(flatten({{0x0a000100, 24, 4}, {0x0a000000, 24, 3}}) ==
              std::vector<OwnedInterval>{{0x0a000000, 0x0a0000ff, 3}, {0x0a000100, 0x0a0001ff, 4}});
    }
    SECTION("an inner prefix of the outer owner disappears into it") {
        CHECK(flatten({{0x0a000000, 16, 1}, {0x0a000100, 24, 1}}) ==
              std::vector<OwnedInterval>{{0x0a000000, 0x0a00ffff, 1}});
    }
    SECTION("/0 with prefixes at both ends of the address space") {
        CHECK(
            flatten({{0, 0, 0}, {0, 32, 1}, {0xffffffff, 32, 2}}) ==
            std::vector<OwnedInterval>{{0, 0, 1}, {1, 0xfffffffe, 0}, {0xffffffff, 0xffffffff, 2}});
    }
    SECTION("a prefix at the start of its container") {
        CHECK(flatten({{0x0a000000, 8, 0}, {0x0a000000, 9, 1}}) ==
              std::vector<OwnedInterval>{{0x0a000000, 0x0a7fffff, 1}, {0x0a800000, 0x0affffff, 0}});
    }
}

TEST_CASE("flatten: random prefix sets agree with a brute-force longest-prefix match",
          "[flatten]") {
    std::mt19937 random(20240611);
    for (int round = 0; round < 5000; ++round) {
        const auto prefixes = random_prefixes(random);
        const auto intervals = flatten(prefixes);
        check_structure(intervals);

        std::vector<std::uint32_t> samples;
        auto around = [&](std::uint32_t address) {
            samples.push_back(address);
            samples.push_back(address - 1);  // wraps at 0 on purpose: 0xffffffff is a sample too
            samples.push_back(address + 1);
        };
        for (const auto& interval : intervals) {
            around(interval.first);
            around(interval.last);
        }
        for (const auto& prefix : prefixes) {
            around(first_of(prefix));
            around(last_of(prefix));
        }
        for (int extra = 0; extra < 32; ++extra)
            samples.push_back(static_cast<std::uint32_t>(random()));
        for (auto address : samples) {
            INFO("round " << round << " address " << address);
            REQUIRE(flattened_owner(intervals, address) == reference_owner(prefixes, address));
        }
    }
}
