#include "controller/reconciler/conntrack_hygiene.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>
#include <tuple>

#include <fmt/format.h>

#include "netlink/nft_encode.hpp"

namespace natctl::reconciler {
namespace {

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;

bool dnat_stale(const compiler::TranslationIndex& translations,
                const netlink::ConntrackEntry& entry) {
    if (!entry.dst_nat()) return false;
    const std::uint32_t destination = entry.original.dst;
    const std::uint32_t translated = entry.reply.src;
    if (translated == destination) return false;  // a port-only remap: not natctl's
    if (!translations.in_vpc(translated) && !translations.is_public_address(destination))
        return false;
    if (translations.maps_inbound(destination, translated)) return false;
    if (entry.protocol == kTcp || entry.protocol == kUdp) {
        auto target = translations.port_mapping(destination, entry.protocol, entry.original.dport);
        if (target && target->address == translated && target->port == entry.reply.sport)
            return false;
    }
    return true;
}

bool snat_stale(const compiler::TranslationIndex& translations,
                const netlink::ConntrackEntry& entry) {
    if (!entry.src_nat()) return false;
    const std::uint32_t source = entry.original.src;
    const std::uint32_t translated = entry.reply.dst;
    if (translated == source) return false;  // a port-only remap: not natctl's
    if (!translations.in_vpc(source) && !translations.is_public_address(translated)) return false;
    if (translations.maps_egress(source, translated)) return false;
    return !translations.snat_allows(source, translated);
}

// Elements as a set, interval elements always with their end (the kernel stores single
// values of an interval set as ranges).
// Whether two sets hold the same elements once normalised: interval elements given their
// key_end (key_end = key for single values, as the kernel stores them) and sorted. Compared
// through sorted pointers, without copying the elements.
struct NormalisedView {
    const kernel::Set* set;
    const kernel::Element* element;
    const kernel::FieldList& key_end() const {
        return set->interval && element->key_end.empty() ? element->key : element->key_end;
    }
    auto tie() const {
        return std::tie(element->key, key_end(), element->data, element->data_end,
                        element->verdict);
    }
};

std::vector<NormalisedView> normalised(const kernel::Set& set) {
    std::vector<NormalisedView> elements;
    elements.reserve(set.elements.size());
    for (const auto& element : set.elements)
        elements.push_back({&set, &element});
    std::sort(elements.begin(), elements.end(),
              [](const NormalisedView& a, const NormalisedView& b) { return a.tie() < b.tie(); });
    return elements;
}

bool same_normalised(const kernel::Set& a, const kernel::Set& b) {
    if (a.elements.size() != b.elements.size()) return false;
    auto left = normalised(a);
    auto right = normalised(b);
    for (std::size_t i = 0; i < left.size(); ++i)
        if (left[i].tie() != right[i].tie()) return false;
    return true;
}

bool is_nat_chain(std::string_view name) {
    return name.starts_with("snat/") || name.starts_with("masq/");
}

}  // namespace

bool is_stale(const compiler::TranslationIndex& translations,
              const netlink::ConntrackEntry& entry) {
    return dnat_stale(translations, entry) || snat_stale(translations, entry);
}

std::vector<netlink::ConntrackEntry> stale_entries(
    const compiler::TranslationIndex& translations,
    const std::vector<netlink::ConntrackEntry>& entries) {
    std::vector<netlink::ConntrackEntry> out;
    for (const auto& entry : entries)
        if (is_stale(translations, entry)) out.push_back(entry);
    return out;
}

std::expected<std::size_t, std::string> remove_entries(
    netlink::ConntrackBackend& conntrack, const std::vector<netlink::ConntrackEntry>& stale) {
    std::size_t removed = 0;
    std::size_t failed = 0;
    std::string first_failure;
    for (const auto& entry : stale) {
        auto result = conntrack.remove(entry);
        if (!result) {
            if (failed++ == 0) first_failure = result.error().message;
            continue;
        }
        if (*result) ++removed;
    }
    if (failed > 0)
        return std::unexpected(
            fmt::format("{} of {} stale conntrack entries removed, {} failed: {}", removed,
                        stale.size(), failed, first_failure));
    return removed;
}

std::expected<std::size_t, std::string> remove_stale(
    netlink::ConntrackBackend& conntrack, const compiler::TranslationIndex& translations,
    const std::vector<netlink::ConntrackEntry>& entries) {
    return remove_entries(conntrack, stale_entries(translations, entries));
}

std::expected<std::size_t, std::string> purge_stale(
    netlink::ConntrackBackend& conntrack, const compiler::TranslationIndex& translations) {
    auto entries = conntrack.dump_nat();
    if (!entries) return std::unexpected(entries.error().message);
    return remove_stale(conntrack, translations, *entries);
}

namespace {
// What a NAT session depends on: its translations, and whether its VPC may reach the
// internet at all (private_vpcs: a VPC made private loses every session).
constexpr std::array<std::string_view, 5> kNatSets{"dnat_ip", "dnat_ports", "private_vpcs",
                                                   "snat_ip", "snat_sources"};
}  // namespace

bool nat_data_changed(const kernel::Table& desired, const kernel::ObservedTable& observed) {
    if (!observed.exists) return true;
    for (std::string_view name : kNatSets) {
        const kernel::Set* want = nullptr;
        for (const auto& set : desired.sets)
            if (set.name == name) want = &set;
        const auto* have = observed.find_set(std::string(name));
        if (!want && !have) continue;
        if (!want || !have) return true;
        if (!same_normalised(*want, have->set)) return true;
    }
    std::set<std::string> wanted;
    for (const auto& chain : desired.chains) {
        if (!is_nat_chain(chain.name)) continue;
        wanted.insert(chain.name);
        const auto* have = observed.find_chain(chain.name);
        if (!have) continue;  // a new chain is reached only through a changed snat_sources
        std::vector<std::string> want_digests, have_digests;
        for (const auto& rule : chain.rules)
            want_digests.push_back(netlink::rule_identity_digest(rule.text));
        for (const auto& rule : have->rules)
            have_digests.push_back(rule.digest);
        if (want_digests != have_digests) return true;
    }
    for (const auto& chain : observed.chains)
        if (is_nat_chain(chain.name) && !wanted.contains(chain.name)) return true;
    return false;
}

bool nat_data_changed(const kernel::Table& desired, const kernel::Table& committed) {
    auto find = [](const kernel::Table& table, std::string_view name) -> const kernel::Set* {
        for (const auto& set : table.sets)
            if (set.name == name) return &set;
        return nullptr;
    };
    for (std::string_view name : kNatSets) {
        const auto* want = find(desired, name);
        const auto* have = find(committed, name);
        if (!want && !have) continue;
        if (!want || !have) return true;
        // Normalising keeps the number of elements: sets of different sizes differ, equal
        // element lists are equal; only the rest pays for the normalised comparison.
        if (want->elements.size() != have->elements.size()) return true;
        if (want->interval == have->interval && want->elements == have->elements) continue;
        if (!same_normalised(*want, *have)) return true;
    }
    std::set<std::string_view> wanted;
    for (const auto& chain : desired.chains) {
        if (!is_nat_chain(chain.name)) continue;
        wanted.insert(chain.name);
        const kernel::Chain* have = nullptr;
        for (const auto& candidate : committed.chains)
            if (candidate.name == chain.name) have = &candidate;
        if (!have) continue;  // a new chain is reached only through a changed snat_sources
        if (chain.rules.size() != have->rules.size()) return true;
        for (std::size_t i = 0; i < chain.rules.size(); ++i)
            if (chain.rules[i].text != have->rules[i].text) return true;
    }
    for (const auto& chain : committed.chains)
        if (is_nat_chain(chain.name) && !wanted.contains(chain.name)) return true;
    return false;
}

}  // namespace natctl::reconciler
