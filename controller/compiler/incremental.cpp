#include "controller/compiler/incremental.hpp"

#include <algorithm>
#include <iterator>
#include <map>

#include "controller/compiler/compile.hpp"

#include "controller/compiler/rules.hpp"

namespace natctl::compiler {
namespace {

std::optional<std::uint32_t> eip_address(const model::Model& model, const std::string& name) {
    for (const auto& eip : model.eips)
        if (eip.name == name) return eip.address.value;
    return std::nullopt;
}

// Elements per set, in the order the sets are named.
using ElementsBySet = std::map<std::string, std::vector<kernel::Element>>;

bool in_private_vpc(const model::Model& model, const std::string& vpc) {
    for (const auto& candidate : model.vpcs)
        if (candidate.name == vpc) return candidate.is_private();
    return true;  // unknown: not a change this path judges
}

// An instance's public IP or associated EIP takes snat_ip for its private IPs before any IP
// mapping (compile()'s egress priority).
bool egress_claimed(const model::Model& model, std::uint32_t private_ip) {
    for (const auto& vpc : model.vpcs)
        for (const auto& host : vpc.instances)
            if (host.public_ip)
                for (const auto& ip : host.private_ips)
                    if (ip.value == private_ip) return true;
    for (const auto& associated : instance_eips(model))
        if (associated.private_ip == private_ip) return true;
    return false;
}

}  // namespace

std::optional<std::vector<SetElementChanges>> compile_dnat_change(
    const model::Model& before, const model::DnatEntryChange& change,
    const model::DnatChangeIndex& index) {
    const auto& gateway = before.nat_gateways.at(change.gateway);
    // The gateway's return route exists while it has DNAT entries.
    if (gateway.dnat_entries.empty() || (!change.after && gateway.dnat_entries.size() == 1))
        return std::nullopt;
    // The translation index leaves out entries of private VPCs.
    if (in_private_vpc(before, gateway.vpc)) return std::nullopt;
    for (const auto* entry : {&change.before, &change.after}) {
        if (!*entry) continue;
        auto address = eip_address(before, (*entry)->eip);
        if (!address) return std::nullopt;
        if ((*entry)->ip_mapping() && egress_claimed(before, (*entry)->private_ip.value))
            return std::nullopt;
    }
    auto entries_after = [&](const std::string& eip) {
        std::size_t count = index.entries_on_eip(eip);
        if (change.before && change.before->eip == eip) --count;
        if (change.after && change.after->eip == eip) ++count;
        return count;
    };
    std::optional<std::uint32_t> return_mark;
    auto mark = [&] {
        if (!return_mark) return_mark = nat_gateway_return_mark(before, change.gateway);
        return *return_mark;
    };

    // What one side of the change owns. dnat_open and return_marks belong to an EIP while it
    // has any DNAT entry: the old side owns them when the EIP loses its last entry, the new
    // side when it gains its first.
    auto owned = [&](const model::DnatEntry& entry, bool owns_eip) {
        ElementsBySet out;
        const std::uint32_t address = *eip_address(before, entry.eip);
        if (entry.ip_mapping()) {
            out[rules::kDnatIp].push_back(ip_mapping_inbound_element(address, entry));
            out[rules::kSnatIp].push_back(ip_mapping_egress_element(address, entry));
            if (gateway.answers_echo()) out[rules::kEchoLocal].push_back(address_element(address));
        } else {
            for_each_dnat_port_element(address, entry, [&](kernel::Element element) {
                out[rules::kDnatPorts].push_back(std::move(element));
            });
        }
        if (owns_eip) {
            out[rules::kDnatOpen].push_back(address_element(address));
            out[rules::kReturnMarks].push_back(return_mark_element(address, mark()));
        }
        return out;
    };
    ElementsBySet gone, coming;
    if (change.before) gone = owned(*change.before, entries_after(change.before->eip) == 0);
    if (change.after) coming = owned(*change.after, index.entries_on_eip(change.after->eip) == 0);

    std::vector<std::string> sets;
    for (const auto* side : {&gone, &coming})
        for (const auto& [set, elements] : *side)
            sets.push_back(set);
    std::sort(sets.begin(), sets.end());
    sets.erase(std::unique(sets.begin(), sets.end()), sets.end());

    std::vector<SetElementChanges> out;
    for (const auto& set : sets) {
        auto& old_elements = gone[set];
        auto& new_elements = coming[set];
        std::sort(old_elements.begin(), old_elements.end());
        std::sort(new_elements.begin(), new_elements.end());
        SetElementChanges changes{set, {}, {}};
        // An element both sides hold unchanged stays in the kernel.
        std::set_difference(old_elements.begin(), old_elements.end(), new_elements.begin(),
                            new_elements.end(), std::back_inserter(changes.removed));
        std::set_difference(new_elements.begin(), new_elements.end(), old_elements.begin(),
                            old_elements.end(), std::back_inserter(changes.added));
        if (!changes.removed.empty() || !changes.added.empty()) out.push_back(std::move(changes));
    }
    return out;
}

void apply_dnat_change(TranslationIndex& translations, const model::Model& before,
                       const model::DnatEntryChange& change) {
    auto erase = [](auto& sorted, const auto& value) {
        auto found = std::lower_bound(sorted.begin(), sorted.end(), value);
        if (found != sorted.end() && *found == value) sorted.erase(found);
    };
    auto insert = [](auto& sorted, const auto& value) {
        auto at = std::lower_bound(sorted.begin(), sorted.end(), value);
        if (at == sorted.end() || *at != value) sorted.insert(at, value);
    };
    for (const auto* entry : {&change.before, &change.after}) {
        if (!*entry) continue;
        auto address = eip_address(before, (*entry)->eip);
        if (!address) continue;
        const bool removing = entry == &change.before;
        if ((*entry)->ip_mapping()) {
            const auto private_ip = (*entry)->private_ip.value;
            const AddressMapping inbound{*address, private_ip};
            const AddressMapping egress{private_ip, *address};
            if (removing) {
                erase(translations.inbound, inbound);
                erase(translations.egress, egress);
            } else {
                insert(translations.inbound, inbound);
                insert(translations.egress, egress);
            }
        } else if (auto range = port_mapping_of(*address, **entry)) {
            if (removing)
                erase(translations.port_mappings, *range);
            else
                insert(translations.port_mappings, *range);
        }
    }
}

bool egress_claim_moved(const kernel::Table& before, const kernel::Table& after,
                        const std::function<bool(std::uint32_t)>& ip_mapped) {
    auto elements = [](const kernel::Table& table) {
        for (const auto& set : table.sets)
            if (set.name == rules::kSnatIp) {
                auto sorted = set.elements;
                std::sort(sorted.begin(), sorted.end());
                return sorted;
            }
        return std::vector<kernel::Element>{};
    };
    const auto was = elements(before);
    const auto now = elements(after);
    if (was == now) return false;
    std::vector<kernel::Element> moved;
    std::set_symmetric_difference(was.begin(), was.end(), now.begin(), now.end(),
                                  std::back_inserter(moved));
    return std::any_of(moved.begin(), moved.end(), [&](const kernel::Element& element) {
        return !element.key.empty() && element.key.is_number(0) && ip_mapped(element.key.number(0));
    });
}

}  // namespace natctl::compiler
