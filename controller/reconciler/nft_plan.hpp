// The nftables half of the reconciler: the minimal transaction that turns natctl's table
// as observed in the kernel into the desired one. Pure: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"
#include "kernelstate/observed.hpp"
#include "netlink/nft_transaction.hpp"

namespace natctl::reconciler {

struct NftPlan {
    netlink::NftTransaction transaction;
    // What the transaction does, for `apply` output and logs.
    bool table_created = false;
    bool table_rebuilt = false;  // a set or base chain changed its definition
    std::size_t sets_added = 0;
    std::size_t sets_removed = 0;
    std::size_t chains_added = 0;
    std::size_t chains_rewritten = 0;
    std::size_t chains_removed = 0;
    std::size_t elements_added = 0;
    std::size_t elements_removed = 0;

    bool empty() const { return transaction.empty(); }
};

// Order inside the one transaction, so that every reference resolves and no packet sees a
// half-applied state (the batch is atomic anyway, but the kernel checks references op by
// op): new chains; new sets (their elements may jump to new chains); stale elements out;
// changed chains flushed and refilled; new elements in; obsolete chains flushed and
// deleted; obsolete sets deleted. A set or base chain whose definition changed cannot be
// edited in place (rules refer to it), so the table is deleted and created again inside
// the same transaction — conntrack keeps every live connection's translation.
NftPlan plan_nft(const kernel::Table& desired, const kernel::ObservedTable& observed);

// The same plan against `committed`, a table natctl applied itself and that the kernel
// holds unchanged (the reconciler's in-memory copy): what plan_nft would produce against
// the dump of that table, without the dump. Elements are diffed by a sorted merge (both
// sides come from the compiler, sorted by key), with no per-element allocation for the
// elements both sides share.
NftPlan plan_nft(const kernel::Table& desired, const kernel::Table& committed);

// The set or chain of `table` named `name`; null when it has none.
const kernel::Set* find_set(const kernel::Table& table, const std::string& name);
const kernel::Chain* find_chain(const kernel::Table& table, const std::string& name);

}  // namespace natctl::reconciler
