// The compiled effect of one DNAT entry change, without compiling the model: element
// removals and additions of the sets it touches. Pure, like the compiler, and built from the
// same per-entry functions the compiler uses (for_each_dnat_port_element), so that the two
// cannot drift apart; a unit test compares the incremental result with compile() of the
// model after the change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/compiler/translations.hpp"
#include "controller/model/change.hpp"
#include "controller/model/types.hpp"
#include "controller/model/validate.hpp"
#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler {

inline constexpr std::uint32_t kIpprotoTcp = 6;
inline constexpr std::uint32_t kIpprotoUdp = 17;

// The elements of set dnat_ports a port mapping on an EIP with `eip_address` owns: one per
// public port, (eip, protocol, port) → (private IP, private port). None for IP mappings.
template <class Emit>
void for_each_dnat_port_element(std::uint32_t eip_address, const model::DnatEntry& entry,
                                Emit&& emit) {
    if (entry.ip_mapping() || !entry.public_port || !entry.private_port) return;
    const std::uint32_t protocol =
        entry.protocol == model::DnatProtocol::Udp ? kIpprotoUdp : kIpprotoTcp;
    const auto& public_port = *entry.public_port;
    for (std::uint32_t offset = 0; offset < public_port.size(); ++offset)
        emit(kernel::Element{{eip_address, protocol, public_port.lo + offset},
                             {},
                             {entry.private_ip.value, entry.private_port->lo + offset},
                             {},
                             std::nullopt});
}

// Element changes of one named set; `removed` and `added` sorted by key.
struct SetElementChanges {
    std::string set;
    std::vector<kernel::Element> removed;
    std::vector<kernel::Element> added;
    bool operator==(const SetElementChanges&) const = default;
};

// What `change` (made against `before`, a valid model that `index` describes) does to
// compile(before), as element changes — or nullopt when it may do more than change elements
// of dnat_ports (an IP mapping, the first or last entry on an EIP, which also touch
// dnat_open, return_marks and the gateway's return route): compile the model then.
std::optional<std::vector<SetElementChanges>> compile_dnat_change(
    const model::Model& before, const model::DnatEntryChange& change,
    const model::DnatChangeIndex& index);

// Makes `translations` (index_translations(before)) describe the model after `change`, for
// the changes compile_dnat_change handles.
void apply_dnat_change(TranslationIndex& translations, const model::Model& before,
                       const model::DnatEntryChange& change);

}  // namespace natctl::compiler
