#include "controller/compiler/incremental.hpp"

#include <algorithm>

#include "controller/compiler/rules.hpp"

namespace natctl::compiler {
namespace {

std::optional<std::uint32_t> eip_address(const model::Model& model, const std::string& name) {
    for (const auto& eip : model.eips)
        if (eip.name == name) return eip.address.value;
    return std::nullopt;
}

std::vector<kernel::Element> port_elements(const model::Model& model,
                                           const std::optional<model::DnatEntry>& entry) {
    std::vector<kernel::Element> out;
    if (!entry) return out;
    if (auto address = eip_address(model, entry->eip))
        for_each_dnat_port_element(
            *address, *entry, [&](kernel::Element element) { out.push_back(std::move(element)); });
    return out;
}

}  // namespace

std::optional<std::vector<SetElementChanges>> compile_dnat_change(
    const model::Model& before, const model::DnatEntryChange& change,
    const model::DnatChangeIndex& index) {
    for (const auto* entry : {&change.before, &change.after}) {
        if (!*entry) continue;
        if ((*entry)->ip_mapping()) return std::nullopt;
        if (!eip_address(before, (*entry)->eip)) return std::nullopt;
    }
    // dnat_open, return_marks and the gateway's return route depend only on whether an EIP
    // has DNAT entries at all: unchanged while every EIP involved keeps at least one.
    auto entries_after = [&](const std::string& eip) {
        std::size_t count = index.entries_on_eip(eip);
        if (change.before && change.before->eip == eip) --count;
        if (change.after && change.after->eip == eip) ++count;
        return count;
    };
    for (const auto* entry : {&change.before, &change.after})
        if (*entry &&
            (index.entries_on_eip((*entry)->eip) == 0 || entries_after((*entry)->eip) == 0))
            return std::nullopt;

    auto gone = port_elements(before, change.before);
    auto coming = port_elements(before, change.after);
    std::sort(gone.begin(), gone.end());
    std::sort(coming.begin(), coming.end());
    SetElementChanges changes{rules::kDnatPorts, {}, {}};
    // An element both sides hold unchanged stays in the kernel.
    std::set_difference(gone.begin(), gone.end(), coming.begin(), coming.end(),
                        std::back_inserter(changes.removed));
    std::set_difference(coming.begin(), coming.end(), gone.begin(), gone.end(),
                        std::back_inserter(changes.added));
    std::vector<SetElementChanges> out;
    if (!changes.removed.empty() || !changes.added.empty()) out.push_back(std::move(changes));
    return out;
}

void apply_dnat_change(TranslationIndex& translations, const model::Model& before,
                       const model::DnatEntryChange& change) {
    auto& mappings = translations.port_mappings;
    if (change.before)
        if (auto address = eip_address(before, change.before->eip))
            if (auto range = port_mapping_of(*address, *change.before)) {
                auto found = std::lower_bound(mappings.begin(), mappings.end(), *range);
                if (found != mappings.end() && *found == *range) mappings.erase(found);
            }
    if (change.after)
        if (auto address = eip_address(before, change.after->eip))
            if (auto range = port_mapping_of(*address, *change.after)) {
                auto at = std::lower_bound(mappings.begin(), mappings.end(), *range);
                if (at == mappings.end() || *at != *range) mappings.insert(at, *range);
            }
}

}  // namespace natctl::compiler
