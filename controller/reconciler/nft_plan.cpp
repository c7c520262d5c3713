#include "controller/reconciler/nft_plan.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "netlink/nft_encode.hpp"

namespace natctl::reconciler {
namespace {

// The kernel stores every element of an interval set as a range, single values included.
kernel::Element as_stored(const kernel::Set& set, kernel::Element element) {
    if (set.interval && element.key_end.empty()) element.key_end = element.key;
    return element;
}

// Everything but the elements (compared field by field: copying a set copies them all).
bool same_definition(const kernel::Set& a, const kernel::Set& b) {
    return a.name == b.name && a.key == b.key && a.data == b.data && a.interval == b.interval &&
           a.data_interval == b.data_interval && a.comment == b.comment && a.dynamic == b.dynamic &&
           a.timeout == b.timeout && a.size == b.size;
}

std::vector<std::string> rule_digests(const kernel::Chain& chain) {
    std::vector<std::string> digests;
    for (const auto& rule : chain.rules)
        digests.push_back(netlink::rule_identity_digest(rule.text));
    return digests;
}

std::vector<std::string> rule_digests(const kernel::ObservedChain& chain) {
    std::vector<std::string> digests;
    for (const auto& rule : chain.rules)
        digests.push_back(rule.digest);
    return digests;
}

bool needs_rebuild(const kernel::Table& desired, const kernel::ObservedTable& observed) {
    for (const auto& set : desired.sets)
        if (const auto* have = observed.find_set(set.name);
            have && !same_definition(set, have->set))
            return true;
    for (const auto& chain : desired.chains)
        if (const auto* have = observed.find_chain(chain.name); have && have->base != chain.base)
            return true;
    return false;
}

NftPlan create_from_scratch(const kernel::Table& desired, bool rebuilt) {
    NftPlan plan;
    if (rebuilt) plan.transaction.delete_table();
    plan.transaction.create_table(desired);
    plan.table_created = !rebuilt;
    plan.table_rebuilt = rebuilt;
    plan.sets_added = desired.sets.size();
    plan.chains_added = desired.chains.size();
    for (const auto& set : desired.sets)
        plan.elements_added += set.elements.size();
    return plan;
}

// ---- against the committed copy ----------------------------------------------------------

// An element's key_end as the kernel stores it (as_stored), without copying.
const kernel::FieldList& stored_key_end(const kernel::Set& set, const kernel::Element& element) {
    return set.interval && element.key_end.empty() ? element.key : element.key_end;
}

// Orders elements by their identity (key, stored key_end), as index_elements' map does.
struct IdentityLess {
    const kernel::Set& set;
    bool operator()(const kernel::Element* a, const kernel::Element* b) const {
        if (auto c = a->key <=> b->key; c != 0) return c < 0;
        return stored_key_end(set, *a) < stored_key_end(set, *b);
    }
};

bool same_stored(const kernel::Set& set, const kernel::Element& a, const kernel::Element& b) {
    return a.key == b.key && stored_key_end(set, a) == stored_key_end(set, b) && a.data == b.data &&
           a.data_end == b.data_end && a.verdict == b.verdict;
}

// The set's elements in identity order, unique by identity (the last of equals wins, as in
// index_elements). Compiler output is sorted and unique already: then no sort is needed.
std::vector<const kernel::Element*> in_identity_order(const kernel::Set& set) {
    std::vector<const kernel::Element*> order;
    order.reserve(set.elements.size());
    for (const auto& element : set.elements)
        order.push_back(&element);
    IdentityLess less{set};
    bool strictly_sorted = true;
    for (std::size_t i = 1; i < order.size() && strictly_sorted; ++i)
        strictly_sorted = less(order[i - 1], order[i]);
    if (strictly_sorted) return order;
    std::stable_sort(order.begin(), order.end(), less);
    std::vector<const kernel::Element*> unique;
    unique.reserve(order.size());
    for (const auto* element : order) {
        if (!unique.empty() && !less(unique.back(), element))
            unique.back() = element;
        else
            unique.push_back(element);
    }
    return unique;
}

// Element differences of a set present on both sides (same definition); a changed value
// (same identity, other data or verdict) is a delete and an add in the same transaction.
// Deletions go into the transaction now, additions are returned for later. Elements are
// matched by a merge over both sides in identity order (the order a map keyed by identity
// would give), copying only the elements that change.
void diff_elements(const kernel::Set& set, const kernel::Set& have, NftPlan& plan,
                   std::vector<kernel::Set>& additions) {
    // The data plane owns a dynamic set's elements (port budget accounting): never drift.
    if (set.dynamic) return;
    auto want = in_identity_order(set);
    auto got = in_identity_order(have);
    kernel::Set gone = set;
    gone.elements.clear();
    kernel::Set added = gone;
    IdentityLess less{set};
    std::size_t w = 0, g = 0;
    while (w < want.size() || g < got.size()) {
        if (g == got.size() || (w < want.size() && less(want[w], got[g]))) {
            added.elements.push_back(as_stored(set, *want[w++]));
        } else if (w == want.size() || less(got[g], want[w])) {
            gone.elements.push_back(as_stored(set, *got[g++]));
        } else {
            if (!same_stored(set, *want[w], *got[g])) {
                gone.elements.push_back(as_stored(set, *got[g]));
                added.elements.push_back(as_stored(set, *want[w]));
            }
            ++w;
            ++g;
        }
    }
    if (!gone.elements.empty()) {
        plan.elements_removed += gone.elements.size();
        plan.transaction.delete_elements(std::move(gone));
    }
    if (!added.elements.empty()) additions.push_back(std::move(added));
}

bool needs_rebuild(const kernel::Table& desired, const kernel::Table& committed) {
    for (const auto& set : desired.sets)
        if (const auto* have = find_set(committed, set.name); have && !same_definition(set, *have))
            return true;
    for (const auto& chain : desired.chains)
        if (const auto* have = find_chain(committed, chain.name); have && have->base != chain.base)
            return true;
    return false;
}

// Rules are told apart by the digest of their text, so equal texts are equal rules.
bool same_rules(const kernel::Chain& a, const kernel::Chain& b) {
    if (a.rules.size() != b.rules.size()) return false;
    for (std::size_t i = 0; i < a.rules.size(); ++i)
        if (a.rules[i].text != b.rules[i].text) return false;
    return true;
}

// The two sides a plan is made against — the kernel as dumped, or the reconciler's copy of
// what it last committed — seen through one interface, so that both plans are one algorithm.
class ObservedSide {
  public:
    explicit ObservedSide(const kernel::ObservedTable& table) : table_(table) {}
    const kernel::Set* set(const std::string& name) const {
        const auto* found = table_.find_set(name);
        return found ? &found->set : nullptr;
    }
    bool has_chain(const std::string& name) const { return table_.find_chain(name) != nullptr; }
    bool same_rules(const kernel::Chain& chain) const {
        const auto* have = table_.find_chain(chain.name);
        return have && rule_digests(chain) == rule_digests(*have);
    }
    const auto& chains() const { return table_.chains; }
    template <class Visit>
    void for_each_set(Visit visit) const {
        for (const auto& have : table_.sets)
            visit(have.set.name);
    }

  private:
    const kernel::ObservedTable& table_;
};

class CommittedSide {
  public:
    explicit CommittedSide(const kernel::Table& table) : table_(table) {}
    const kernel::Set* set(const std::string& name) const { return find_set(table_, name); }
    bool has_chain(const std::string& name) const { return find_chain(table_, name) != nullptr; }
    bool same_rules(const kernel::Chain& chain) const {
        const auto* have = find_chain(table_, chain.name);
        return have && reconciler::same_rules(chain, *have);
    }
    const auto& chains() const { return table_.chains; }
    template <class Visit>
    void for_each_set(Visit visit) const {
        for (const auto& have : table_.sets)
            visit(have.name);
    }

  private:
    const kernel::Table& table_;
};

template <class Side>
NftPlan plan_against(const kernel::Table& desired, const Side& side) {
    NftPlan plan;
    auto& tx = plan.transaction;

    for (const auto& chain : desired.chains) {
        if (side.has_chain(chain.name)) continue;
        kernel::Chain definition = chain;
        definition.rules.clear();
        tx.add_chain(std::move(definition));
        ++plan.chains_added;
    }
    for (const auto& set : desired.sets) {
        if (side.set(set.name)) continue;
        tx.add_set(set);
        ++plan.sets_added;
        plan.elements_added += set.elements.size();
    }

    // Element differences of the sets present on both sides; a changed value (same key,
    // other data or verdict) is a delete and an add in the same transaction.
    std::vector<kernel::Set> additions;
    for (const auto& set : desired.sets) {
        const auto* have = side.set(set.name);
        if (!have) continue;
        if (set.elements == have->elements) continue;  // the common case: untouched sets
        diff_elements(set, *have, plan, additions);
    }

    // Chains are small and static in shape: a chain whose rules differ in any way (order,
    // content, a rule someone added by hand) is flushed and refilled as a whole.
    for (const auto& chain : desired.chains) {
        if (side.same_rules(chain)) continue;
        if (side.has_chain(chain.name)) {
            tx.flush_chain(chain.name);
            ++plan.chains_rewritten;
        }
        for (const auto& rule : chain.rules)
            tx.add_rule(chain.name, rule);
    }

    for (auto& set : additions) {
        plan.elements_added += set.elements.size();
        tx.add_elements(std::move(set));
    }

    for (const auto& chain : side.chains()) {
        if (find_chain(desired, chain.name)) continue;
        if (!chain.rules.empty()) tx.flush_chain(chain.name);
        tx.delete_chain(chain.name);
        ++plan.chains_removed;
    }
    side.for_each_set([&](const std::string& name) {
        if (find_set(desired, name)) return;
        tx.delete_set(name);
        ++plan.sets_removed;
    });
    return plan;
}

}  // namespace

const kernel::Set* find_set(const kernel::Table& table, const std::string& name) {
    for (const auto& set : table.sets)
        if (set.name == name) return &set;
    return nullptr;
}

const kernel::Chain* find_chain(const kernel::Table& table, const std::string& name) {
    for (const auto& chain : table.chains)
        if (chain.name == name) return &chain;
    return nullptr;
}

NftPlan plan_nft(const kernel::Table& desired, const kernel::ObservedTable& observed) {
    if (!observed.exists) return create_from_scratch(desired, false);
    if (needs_rebuild(desired, observed)) return create_from_scratch(desired, true);
    return plan_against(desired, ObservedSide(observed));
}

NftPlan plan_nft(const kernel::Table& desired, const kernel::Table& committed) {
    if (needs_rebuild(desired, committed)) return create_from_scratch(desired, true);
    return plan_against(desired, CommittedSide(committed));
}

}  // namespace natctl::reconciler
