#include "controller/compiler/translations.hpp"

#include <iterator>

#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <variant>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/flatten.hpp"

namespace natctl::compiler {
namespace {

template <typename T>
void sort_unique(std::vector<T>& items) {
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
}

// A source interval of one gateway before the gateways are merged.
struct Coverage {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    std::vector<std::uint32_t> eips;
    bool masquerade = false;
};

class Indexer {
  public:
    explicit Indexer(const model::Model& model) : model_(model) {
        for (const auto& eip : model_.eips)
            eip_address_.emplace(eip.name, eip.address.value);
        for (const auto& vpc : model_.vpcs)
            if (vpc.is_private()) private_vpcs_.push_back(vpc.cidr);
    }

    TranslationIndex run() {
        TranslationIndex index;
        for (const auto& eip : model_.eips)
            index.public_addresses.push_back(eip.address.value);
        // A private VPC has no translation at all: its live sessions are all stale.
        for (const auto& vpc : model_.vpcs) {
            index.vpc_ranges.push_back({vpc.cidr.first(), vpc.cidr.last()});
            for (const auto& host : vpc.instances) {
                if (!host.public_ip || host.private_ips.empty()) continue;
                index.public_addresses.push_back(host.public_ip->value);
                if (vpc.is_private()) continue;
                // Inbound, a public IP reaches the instance's first private IP; every private
                // IP of the instance leaves through it.
                index.inbound.push_back({host.public_ip->value, host.private_ips.front().value});
                for (const auto& address : host.private_ips)
                    index.egress.push_back({address.value, host.public_ip->value});
            }
        }

        // Before IP mappings: an associated EIP beats them as a public IP does.
        for (const auto& associated : instance_eips(model_)) {
            if (model_.vpcs[associated.vpc].is_private()) continue;
            index.inbound.push_back({associated.address, associated.private_ip});
            index.egress.push_back({associated.private_ip, associated.address});
        }

        std::vector<Coverage> coverage;
        for (const auto& gateway : model_.nat_gateways) {
            for (const auto& entry : gateway.dnat_entries) {
                auto address = eip(entry.eip);
                if (!address || in_private_vpc(entry.private_ip.value)) continue;
                if (entry.ip_mapping()) {
                    index.inbound.push_back({*address, entry.private_ip.value});
                    index.egress.push_back({entry.private_ip.value, *address});
                    continue;
                }
                if (auto range = port_mapping_of(*address, entry))
                    index.port_mappings.push_back(*range);
            }
            add_coverage(gateway, coverage);
        }

        sort_unique(index.public_addresses);
        sort_unique(index.inbound);
        sort_unique(index.egress);
        sort_unique(index.port_mappings);
        index.vpc_ranges = merge(std::move(index.vpc_ranges));
        index.snat = disjoint(coverage);
        return index;
    }

  private:
    std::optional<std::uint32_t> eip(const std::string& name) const {
        auto found = eip_address_.find(name);
        if (found == eip_address_.end()) return std::nullopt;
        return found->second;
    }
    // Per DNAT entry: a scan of the private VPCs only (usually none), not of every VPC.
    bool in_private_vpc(std::uint32_t address) const {
        return std::any_of(
            private_vpcs_.begin(), private_vpcs_.end(),
            [&](const model::Cidr& cidr) { return cidr.contains(model::Ipv4{address}); });
    }
    const model::Vpc* vpc(const std::string& name) const {
        for (const auto& candidate : model_.vpcs)
            if (candidate.name == name) return &candidate;
        return nullptr;
    }

    // What one gateway may translate its sources to: the longest-prefix SNAT entry per
    // address (as the compiler flattens them), or its VPC as a whole for masquerade.
    void add_coverage(const model::NatGateway& gateway, std::vector<Coverage>& coverage) const {
        const auto* home = vpc(gateway.vpc);
        if (!home || home->is_private()) return;
        if (gateway.effective_mode() == model::GatewayMode::Masquerade) {
            coverage.push_back({home->cidr.first(), home->cidr.last(), {}, true});
            return;
        }
        std::vector<std::vector<std::uint32_t>> entry_eips;
        std::vector<OwnedPrefix> prefixes;
        for (std::size_t index = 0; index < gateway.snat_entries.size(); ++index) {
            std::vector<std::uint32_t> eips;
            for (const auto& name : gateway.snat_entries[index].eips)
                if (auto address = eip(name)) eips.push_back(*address);
            sort_unique(eips);
            entry_eips.push_back(std::move(eips));
            // An entry without a resolvable EIP has no chain and shadows nothing.
            if (entry_eips.back().empty()) continue;
            for (const auto& cidr :
                 snat_source_prefixes(model_, *home, gateway.snat_entries[index].source))
                prefixes.push_back({cidr.first(), cidr.prefix, index});
        }
        for (const auto& interval : flatten(prefixes))
            coverage.push_back({interval.first, interval.last, entry_eips[interval.owner], false});
    }

    static std::vector<AddressInterval> merge(std::vector<AddressInterval> intervals) {
        std::sort(intervals.begin(), intervals.end());
        std::vector<AddressInterval> out;
        for (const auto& interval : intervals) {
            if (!out.empty() && std::uint64_t(out.back().last) + 1 >= interval.first) {
                out.back().last = std::max(out.back().last, interval.last);
                continue;
            }
            out.push_back(interval);
        }
        return out;
    }

    // Overlapping coverage of several gateways → disjoint intervals, each with the union of
    // what covers it. A sweep over the interval boundaries; adjacent results with equal
    // content are merged.
    static std::vector<SnatInterval> disjoint(const std::vector<Coverage>& coverage) {
        std::vector<std::uint64_t> bounds;
        for (const auto& item : coverage) {
            bounds.push_back(item.first);
            bounds.push_back(std::uint64_t(item.last) + 1);
        }
        sort_unique(bounds);
        std::multimap<std::uint64_t, std::size_t> starts, ends;
        for (std::size_t index = 0; index < coverage.size(); ++index) {
            starts.emplace(coverage[index].first, index);
            ends.emplace(std::uint64_t(coverage[index].last) + 1, index);
        }
        std::vector<SnatInterval> out;
        std::set<std::size_t> active;
        for (std::size_t b = 0; b + 1 < bounds.size(); ++b) {
            for (auto [it, end] = ends.equal_range(bounds[b]); it != end; ++it)
                active.erase(it->second);
            for (auto [it, end] = starts.equal_range(bounds[b]); it != end; ++it)
                active.insert(it->second);
            if (active.empty()) continue;
            SnatInterval interval{static_cast<std::uint32_t>(bounds[b]),
                                  static_cast<std::uint32_t>(bounds[b + 1] - 1),
                                  {},
                                  false};
            for (std::size_t index : active) {
                const auto& item = coverage[index];
                interval.masquerade = interval.masquerade || item.masquerade;
                interval.eips.insert(interval.eips.end(), item.eips.begin(), item.eips.end());
            }
            sort_unique(interval.eips);
            if (!out.empty() && std::uint64_t(out.back().last) + 1 == interval.first &&
                out.back().eips == interval.eips && out.back().masquerade == interval.masquerade) {
                out.back().last = interval.last;
                continue;
            }
            out.push_back(std::move(interval));
        }
        return out;
    }

    std::vector<model::Cidr> private_vpcs_;
    const model::Model& model_;
    std::unordered_map<std::string, std::uint32_t> eip_address_;
};

}  // namespace

TranslationIndex index_translations(const model::Model& model) {
    return Indexer(model).run();
}

void patch_without_dnat(TranslationIndex& index, const TranslationIndex& light_before,
                        const TranslationIndex& light_after) {
    auto patch = [](std::vector<AddressMapping>& all, const std::vector<AddressMapping>& before,
                    const std::vector<AddressMapping>& after) {
        std::vector<AddressMapping> removed, added, kept;
        std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                            std::back_inserter(removed));
        std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                            std::back_inserter(added));
        if (removed.empty() && added.empty()) return;
        std::set_difference(all.begin(), all.end(), removed.begin(), removed.end(),
                            std::back_inserter(kept));
        all.clear();
        std::set_union(kept.begin(), kept.end(), added.begin(), added.end(),
                       std::back_inserter(all));
    };
    patch(index.inbound, light_before.inbound, light_after.inbound);
    patch(index.egress, light_before.egress, light_after.egress);
    index.snat = light_after.snat;
    index.vpc_ranges = light_after.vpc_ranges;
    index.public_addresses = light_after.public_addresses;
}

}  // namespace natctl::compiler
