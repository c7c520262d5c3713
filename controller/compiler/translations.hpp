// Every address translation a (validated) model allows, indexed for lookups by the address
// and port a conntrack entry carries. Pure: no I/O. The conntrack hygiene of the reconciler
// (controller/reconciler/conntrack_hygiene.hpp) asks it whether a live NAT session still
// matches a translation that exists, so that sessions of removed or changed mappings can be
// deleted.
//
// The index is deliberately more permissive than the ruleset where the kernel's choice is
// not visible in conntrack or where an old session still works:
// - SNAT: per source address, the union of the EIPs of the longest-prefix SNAT entry of
//   *every* NAT gateway of its VPC (the realm a packet was routed to is not in conntrack),
//   plus "anything" when a masquerade gateway of its VPC covers it (the outside interface's
//   own address is not in the model).
// - 1:1 egress: both an instance's public IP and an IP mapping of the same address are
//   allowed, whatever the egress priority picks for new connections.
//
// Lookups are binary searches over sorted, disjoint vectors: O(log n) per conntrack entry.
// The lookup functions are defined here (inline) so that the reconciler can use an index
// without linking the compiler library.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "controller/model/types.hpp"

namespace natctl::compiler {

// A DNAT port mapping: public ports lo..hi of (eip, protocol) go to private_ip, port
// private_lo + (port - lo). Ranges of one (eip, protocol) are disjoint (validation).
struct PortMappingRange {
    std::uint32_t eip = 0;      // host order
    std::uint8_t protocol = 0;  // IPPROTO_TCP (6) / IPPROTO_UDP (17)
    std::uint16_t public_lo = 0;
    std::uint16_t public_hi = 0;
    std::uint32_t private_ip = 0;
    std::uint16_t private_lo = 0;
    auto operator<=>(const PortMappingRange&) const = default;
};

// The port mapping of a DNAT entry on an EIP with `eip_address`; none for IP mappings.
inline std::optional<PortMappingRange> port_mapping_of(std::uint32_t eip_address,
                                                       const model::DnatEntry& entry) {
    if (entry.ip_mapping() || !entry.public_port || !entry.private_port) return std::nullopt;
    return PortMappingRange{
        eip_address,
        static_cast<std::uint8_t>(entry.protocol == model::DnatProtocol::Udp ? 17 : 6),
        entry.public_port->lo,
        entry.public_port->hi,
        entry.private_ip.value,
        entry.private_port->lo};
}

// A 1:1 address translation (IP mapping or instance public IP), in one direction.
struct AddressMapping {
    std::uint32_t from = 0;
    std::uint32_t to = 0;
    auto operator<=>(const AddressMapping&) const = default;
};

// Disjoint source intervals with what SNAT may translate them to.
struct SnatInterval {
    std::uint32_t first = 0;
    std::uint32_t last = 0;           // inclusive
    std::vector<std::uint32_t> eips;  // sorted, unique
    bool masquerade = false;          // a masquerade gateway covers it: any translation
    bool operator==(const SnatInterval&) const = default;
};

struct AddressInterval {
    std::uint32_t first = 0;
    std::uint32_t last = 0;  // inclusive
    auto operator<=>(const AddressInterval&) const = default;
};

struct PortTarget {
    std::uint32_t address = 0;
    std::uint16_t port = 0;
    auto operator<=>(const PortTarget&) const = default;
};

// Built by index_translations; every vector is sorted (and the intervals disjoint).
struct TranslationIndex {
    std::vector<PortMappingRange> port_mappings;  // by (eip, protocol, public_lo)
    std::vector<AddressMapping> inbound;          // public → private (IP mappings, public IPs)
    std::vector<AddressMapping> egress;           // private → public (the same, reversed)
    std::vector<SnatInterval> snat;               // by first
    std::vector<AddressInterval> vpc_ranges;      // every VPC CIDR, merged
    std::vector<std::uint32_t> public_addresses;  // every EIP and instance public IP

    bool operator==(const TranslationIndex&) const = default;

    // Where a port mapping sends (eip, protocol, port); nullopt when there is none.
    std::optional<PortTarget> port_mapping(std::uint32_t eip, std::uint8_t protocol,
                                           std::uint16_t port) const {
        auto after = std::upper_bound(
            port_mappings.begin(), port_mappings.end(), std::tuple{eip, protocol, port},
            [](const auto& key, const PortMappingRange& range) {
                return key < std::tuple{range.eip, range.protocol, range.public_lo};
            });
        if (after == port_mappings.begin()) return std::nullopt;
        const auto& range = *std::prev(after);
        if (range.eip != eip || range.protocol != protocol || port > range.public_hi)
            return std::nullopt;
        return PortTarget{range.private_ip,
                          static_cast<std::uint16_t>(range.private_lo + (port - range.public_lo))};
    }

    // An IP mapping or public IP sends `public_address` to `private_address`.
    bool maps_inbound(std::uint32_t public_address, std::uint32_t private_address) const {
        return std::binary_search(inbound.begin(), inbound.end(),
                                  AddressMapping{public_address, private_address});
    }
    // An IP mapping or public IP lets `private_address` leave as `public_address`.
    bool maps_egress(std::uint32_t private_address, std::uint32_t public_address) const {
        return std::binary_search(egress.begin(), egress.end(),
                                  AddressMapping{private_address, public_address});
    }

    // The SNAT interval holding `source`, or null.
    const SnatInterval* snat_for(std::uint32_t source) const {
        auto after = std::upper_bound(
            snat.begin(), snat.end(), source,
            [](std::uint32_t key, const SnatInterval& interval) { return key < interval.first; });
        if (after == snat.begin()) return nullptr;
        const auto& interval = *std::prev(after);
        return source <= interval.last ? &interval : nullptr;
    }
    // A SNAT entry (or a masquerade gateway) may translate `source` to `translated`.
    bool snat_allows(std::uint32_t source, std::uint32_t translated) const {
        const auto* interval = snat_for(source);
        if (!interval) return false;
        return interval->masquerade ||
               std::binary_search(interval->eips.begin(), interval->eips.end(), translated);
    }

    bool in_vpc(std::uint32_t address) const {
        auto after = std::upper_bound(vpc_ranges.begin(), vpc_ranges.end(), address,
                                      [](std::uint32_t key, const AddressInterval& interval) {
                                          return key < interval.first;
                                      });
        return after != vpc_ranges.begin() && address <= std::prev(after)->last;
    }
    bool is_public_address(std::uint32_t address) const {
        return std::binary_search(public_addresses.begin(), public_addresses.end(), address);
    }
};

// The model must be valid (model::validate): port ranges of one (eip, protocol) disjoint.
TranslationIndex index_translations(const model::Model& model);

// Makes `index` (index_translations of a whole model) the index of the model after a change
// that left every DNAT entry as it was, from `light_before` and `light_after`, the indexes of
// the models without DNAT entries before and after it: what DNAT entries do not feed is
// taken from `light_after`; of the 1:1 mappings, which IP mappings feed too, only what the
// change removed or added moves. O(index less its port mappings).
void patch_without_dnat(TranslationIndex& index, const TranslationIndex& light_before,
                        const TranslationIndex& light_after);

}  // namespace natctl::compiler
