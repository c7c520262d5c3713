#include "controller/reconciler/nft_plan.hpp"

#include <map>
#include <set>
#include <utility>

#include "netlink/nft_encode.hpp"

namespace natctl::reconciler {
namespace {

using ElementIdentity = std::pair<std::vector<kernel::Scalar>, std::vector<kernel::Scalar>>;

// The kernel stores every element of an interval set as a range, single values included.
kernel::Element as_stored(const kernel::Set& set, kernel::Element element) {
    if (set.interval && element.key_end.empty()) element.key_end = element.key;
    return element;
}

std::map<ElementIdentity, kernel::Element> index_elements(const kernel::Set& set) {
    std::map<ElementIdentity, kernel::Element> index;
    for (const auto& element : set.elements) {
        auto stored = as_stored(set, element);
        index.emplace(ElementIdentity{stored.key, stored.key_end}, std::move(stored));
    }
    return index;
}

bool same_definition(kernel::Set a, kernel::Set b) {
    a.elements.clear();
    b.elements.clear();
    return a == b;
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

}  // namespace

NftPlan plan_nft(const kernel::Table& desired, const kernel::ObservedTable& observed) {
    if (!observed.exists) return create_from_scratch(desired, false);
    if (needs_rebuild(desired, observed)) return create_from_scratch(desired, true);

    NftPlan plan;
    auto& tx = plan.transaction;

    for (const auto& chain : desired.chains) {
        if (observed.find_chain(chain.name)) continue;
        kernel::Chain definition = chain;
        definition.rules.clear();
        tx.add_chain(std::move(definition));
        ++plan.chains_added;
    }
    for (const auto& set : desired.sets) {
        if (observed.find_set(set.name)) continue;
        tx.add_set(set);
        ++plan.sets_added;
        plan.elements_added += set.elements.size();
    }

    // Element differences of the sets present on both sides; a changed value (same key,
    // other data or verdict) is a delete and an add in the same transaction.
    std::vector<kernel::Set> additions;
    for (const auto& set : desired.sets) {
        const auto* have = observed.find_set(set.name);
        if (!have) continue;
        auto want = index_elements(set);
        auto got = index_elements(have->set);
        kernel::Set gone = set;
        gone.elements.clear();
        kernel::Set added = gone;
        for (const auto& [identity, element] : got) {
            auto it = want.find(identity);
            if (it == want.end() || it->second != element) gone.elements.push_back(element);
        }
        for (const auto& [identity, element] : want) {
            auto it = got.find(identity);
            if (it == got.end() || it->second != element) added.elements.push_back(element);
        }
        if (!gone.elements.empty()) {
            plan.elements_removed += gone.elements.size();
            tx.delete_elements(std::move(gone));
        }
        if (!added.elements.empty()) additions.push_back(std::move(added));
    }

    // Chains are small and static in shape: a chain whose rules differ in any way (order,
    // content, a rule someone added by hand) is flushed and refilled as a whole.
    for (const auto& chain : desired.chains) {
        const auto* have = observed.find_chain(chain.name);
        if (have && rule_digests(chain) == rule_digests(*have)) continue;
        if (have) {
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

    std::set<std::string> wanted_chains;
    for (const auto& chain : desired.chains)
        wanted_chains.insert(chain.name);
    for (const auto& chain : observed.chains) {
        if (wanted_chains.contains(chain.name)) continue;
        if (!chain.rules.empty()) tx.flush_chain(chain.name);
        tx.delete_chain(chain.name);
        ++plan.chains_removed;
    }
    std::set<std::string> wanted_sets;
    for (const auto& set : desired.sets)
        wanted_sets.insert(set.name);
    for (const auto& have : observed.sets) {
        if (wanted_sets.contains(have.set.name)) continue;
        tx.delete_set(have.set.name);
        ++plan.sets_removed;
    }
    return plan;
}

}  // namespace natctl::reconciler
