// Conntrack hygiene: when a port mapping, an IP mapping, a public IP or a SNAT entry is
// removed or changed, the conntrack entries that were translated by it keep their old
// translation for as long as packets flow (kube-proxy's stale-UDP lesson, KERNEL-NOTES.md).
// natctl deletes exactly those entries. State-based: an entry is judged against the
// translations the desired model allows (compiler::TranslationIndex), not against a
// history of changes, so changes made while natctl was not running are repaired too.
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <vector>

#include "controller/compiler/translations.hpp"
#include "kernelstate/kernel_state.hpp"
#include "kernelstate/observed.hpp"
#include "netlink/conntrack_backend.hpp"

namespace natctl::reconciler {

// An entry is natctl's to judge only when natctl could have translated it:
// - DNAT'd (status DST_NAT, the address changed): its translated destination (reply
//   source) lies in a VPC, or its original destination is an EIP or public IP of the
//   model. It is stale unless a port mapping sends (original destination, protocol,
//   destination port) to exactly the translated address and port, or an IP mapping / public
//   IP sends the original destination to the translated address.
// - SNAT'd (status SRC_NAT, the address changed): its original source lies in a VPC, or its
//   translated source (reply destination) is an EIP or public IP of the model. It is stale
//   unless an IP mapping / public IP lets the source leave as the translated address, or
//   the source's SNAT entries (any NAT gateway of its VPC, longest prefix per gateway) hold
//   that EIP, or a masquerade gateway covers the source.
// Everything else (other agents' NAT, port-only remaps of clashing tuples) is never stale.
bool is_stale(const compiler::TranslationIndex& translations, const netlink::ConntrackEntry& entry);

std::vector<netlink::ConntrackEntry> stale_entries(
    const compiler::TranslationIndex& translations,
    const std::vector<netlink::ConntrackEntry>& entries);

// Deletes `stale` (entries already judged stale by is_stale) by their tuple, and id when
// they carry one; the number deleted (entries that vanished on their own in between are not
// counted). A failed deletion does not stop the others; the error then says how many were
// deleted. remove_stale and the daemon's purger, which judges the tracker's entries, share it.
std::expected<std::size_t, std::string> remove_entries(
    netlink::ConntrackBackend& conntrack, const std::vector<netlink::ConntrackEntry>& stale);

// Deletes the stale ones among `entries` (a dump of the NAT'd entries) with remove_entries.
std::expected<std::size_t, std::string> remove_stale(
    netlink::ConntrackBackend& conntrack, const compiler::TranslationIndex& translations,
    const std::vector<netlink::ConntrackEntry>& entries);

// Dumps the NAT'd entries and deletes the stale ones (remove_stale).
std::expected<std::size_t, std::string> purge_stale(netlink::ConntrackBackend& conntrack,
                                                    const compiler::TranslationIndex& translations);

// Whether applying `desired` over `observed` changes what NAT translates: an element of
// dnat_ports, dnat_ip, snat_ip, snat_sources or private_vpcs, or a snat/ or masq/ chain rewritten
// or removed (or the table created afresh). Only then can entries have become stale.
bool nat_data_changed(const kernel::Table& desired, const kernel::ObservedTable& observed);
// The same against the reconciler's committed copy of the table.
bool nat_data_changed(const kernel::Table& desired, const kernel::Table& committed);

}  // namespace natctl::reconciler
