#include "controller/reconciler/conntrack_hygiene.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>

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
std::vector<kernel::Element> normalised(const kernel::Set& set) {
    std::vector<kernel::Element> elements = set.elements;
    if (set.interval)
        for (auto& element : elements)
            if (element.key_end.empty()) element.key_end = element.key;
    std::sort(elements.begin(), elements.end());
    return elements;
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

std::expected<std::size_t, std::string> purge_stale(
    netlink::ConntrackBackend& conntrack, const compiler::TranslationIndex& translations) {
    auto entries = conntrack.dump_nat();
    if (!entries) return std::unexpected(entries.error().message);
    const auto stale = stale_entries(translations, *entries);
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

bool nat_data_changed(const kernel::Table& desired, const kernel::ObservedTable& observed) {
    if (!observed.exists) return true;
    static constexpr std::array<std::string_view, 4> kNatSets{"dnat_ip", "dnat_ports", "snat_ip",
                                                              "snat_sources"};
    for (std::string_view name : kNatSets) {
        const kernel::Set* want = nullptr;
        for (const auto& set : desired.sets)
            if (set.name == name) want = &set;
        const auto* have = observed.find_set(std::string(name));
        if (!want && !have) continue;
        if (!want || !have) return true;
        if (normalised(*want) != normalised(have->set)) return true;
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

}  // namespace natctl::reconciler
