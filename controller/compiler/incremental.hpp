// The compiled effect of one DNAT entry change, without compiling the model: element
// removals and additions of the sets it touches. Pure, like the compiler, and built from the
// same per-entry functions the compiler uses (for_each_dnat_port_element), so that the two
// cannot drift apart; a unit test compares the incremental result with compile() of the
// model after the change.
#pragma once

#include <cstdint>
#include <functional>
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

// The elements an IP mapping (protocol any) of `entry` on an EIP with `eip_address` owns:
// dnat_ip eip → private IP, and, unless an instance's public IP or EIP claims the private
// IP first (egress priority), snat_ip private IP → eip; echo_local eip while its gateway
// answers echo.
inline kernel::Element ip_mapping_inbound_element(std::uint32_t eip_address,
                                                  const model::DnatEntry& entry) {
    return kernel::Element{{eip_address}, {}, {entry.private_ip.value}, {}, std::nullopt};
}
inline kernel::Element ip_mapping_egress_element(std::uint32_t eip_address,
                                                 const model::DnatEntry& entry) {
    return kernel::Element{{entry.private_ip.value}, {}, {eip_address}, {}, std::nullopt};
}
inline kernel::Element address_element(std::uint32_t address) {
    return kernel::Element{{address}, {}, {}, {}, std::nullopt};
}
// What an EIP with at least one DNAT entry owns: dnat_open eip, and return_marks eip → the
// return mark of its gateway.
inline kernel::Element return_mark_element(std::uint32_t eip_address, std::uint32_t mark) {
    return kernel::Element{{eip_address}, {}, {mark}, {}, std::nullopt};
}

// Element changes of one named set; `removed` and `added` sorted by key.
struct SetElementChanges {
    std::string set;
    std::vector<kernel::Element> removed;
    std::vector<kernel::Element> added;
    bool operator==(const SetElementChanges&) const = default;
};

// What `change` (made against `before`, a valid model that `index` describes) does to
// compile(before), as element changes of dnat_ports, dnat_ip, snat_ip, echo_local,
// dnat_open and return_marks — or nullopt when it may do more than change elements (the
// gateway's first or last DNAT entry, which also adds or removes its return route; an
// entry of a private VPC; an IP mapping of a private IP an instance's public IP or EIP
// claims): compile the model then.
std::optional<std::vector<SetElementChanges>> compile_dnat_change(
    const model::Model& before, const model::DnatEntryChange& change,
    const model::DnatChangeIndex& index);

// Makes `translations` (index_translations(before)) describe the model after `change`, for
// the changes compile_dnat_change handles (port mappings and IP mappings).
void apply_dnat_change(TranslationIndex& translations, const model::Model& before,
                       const model::DnatEntryChange& change);

// Whether the 1:1 egress elements (set snat_ip: private IP → public IP) of `before` and
// `after`, two tables compiled from models without DNAT entries, differ on a private IP for
// which `ip_mapped` is true: an instance's public IP or EIP claims egress before an IP
// mapping does, so the IP mapping's own element (DNAT-derived, in neither table) comes or
// goes with the claim, and the difference of the two tables is not the whole change.
bool egress_claim_moved(const kernel::Table& before, const kernel::Table& after,
                        const std::function<bool(std::uint32_t)>& ip_mapped);

}  // namespace natctl::compiler
