// What natctl reads back from the kernel: its own nftables table (`ip natctl`) as the
// kernel holds it. Pure value types, no I/O. Set contents are decoded back into the same
// vocabulary the compiler emits (kernel::Set / kernel::Element), so that the reconciler can
// diff desired against observed directly; rules are told apart by the identity digest
// natctl stores in each rule's user data instead of by decoding their expressions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"

namespace natctl::kernel {

struct ObservedRule {
    std::uint64_t handle = 0;
    // Identity digest of Rule::text (see rule_identity_digest); empty when the rule was not
    // written by natctl (someone added it by hand), which makes it a rule to remove.
    std::string digest;
    std::string comment;
    // Packets of the rule's counter(s) since the rule was added (a chain rewrite starts
    // them again); nullopt: the rule has no counter.
    // Not part of the rule's identity: traffic does not change a rule.
    std::optional<std::uint64_t> packets;
    std::optional<std::uint64_t> bytes;  // likewise, the bytes of those packets
    bool operator==(const ObservedRule& other) const {
        return handle == other.handle && digest == other.digest && comment == other.comment;
    }
};

struct ObservedChain {
    std::string name;
    std::uint64_t handle = 0;
    std::optional<BaseChain> base;
    std::string comment;
    std::vector<ObservedRule> rules;  // in kernel (evaluation) order
    bool operator==(const ObservedChain&) const = default;
};

// Named sets only (anonymous sets belong to their rule). Elements come back sorted by key.
// Interval sets always carry key_end, also for single values (key_end == key), because the
// kernel stores every interval as a range.
struct ObservedSet {
    Set set;
    std::uint64_t handle = 0;
    bool operator==(const ObservedSet&) const = default;
};

struct ObservedTable {
    bool exists = false;                // false: no table ip natctl at all
    std::vector<ObservedSet> sets;      // in kernel order (creation order)
    std::vector<ObservedChain> chains;  // in kernel order (creation order)
    bool operator==(const ObservedTable&) const = default;

    const ObservedSet* find_set(const std::string& name) const {
        for (const auto& observed : sets)
            if (observed.set.name == name) return &observed;
        return nullptr;
    }
    const ObservedChain* find_chain(const std::string& name) const {
        for (const auto& chain : chains)
            if (chain.name == name) return &chain;
        return nullptr;
    }
};

}  // namespace natctl::kernel
