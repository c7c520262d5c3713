// The model's names for what conntrack shows: EIPs by address and the gateway each is
// attached to, the SNAT or DNAT entry a session went through, the NAT gateway behind a
// route realm (the number natctl's refusal log prefixes carry). Shared by the API views,
// the metrics and the session log, so that all three name a session the same way. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/conntrack/accounting.hpp"
#include "controller/model/change.hpp"
#include "controller/model/types.hpp"

namespace natctl::conntrack {

// The JSON forms of a session's parts, the same in the API views and the session log:
// dotted quad; "icmp" / "tcp" / "udp" / "sctp" or else the protocol number;
// {"src", "sport", "dst", "dport"}.
std::string address_text(std::uint32_t address);
nlohmann::json protocol_json(std::uint8_t protocol);
nlohmann::json tuple_json(std::uint32_t src, std::uint16_t sport, std::uint32_t dst,
                          std::uint16_t dport);

struct EipInfo {
    const model::Eip* eip = nullptr;
    const model::NatGateway* gateway = nullptr;  // the gateway it is attached to, if any
    std::uint32_t budget() const { return gateway ? gateway->port_budget() : 55000; }
};

// Every EIP of the model by address, with the first gateway that lists it.
std::map<std::uint32_t, EipInfo> eips_by_address(const model::Model& model);

// The SNAT entry of `gateway` that translates `source` to `eip`: the longest prefix
// among the entries that list the EIP.
const model::SnatEntry* snat_entry_for(const model::Model& model, const model::NatGateway& gateway,
                                       const std::string& eip, std::uint32_t source);

// The names of every DNAT entry of a model by where a session arrives, in a flat sorted
// table: a binary search per session instead of a walk of every entry (100k of them), and
// a few bytes per entry instead of a copy of the entries. Built from a model in
// O(n log n), then kept in step with one-entry changes in O(log n) plus a move of the
// table's tail (the session log's upkeep: a rebuild per API write cost ~18 ms at 100k).
class DnatEntryNames {
  public:
    explicit DnatEntryNames(const model::Model& model);
    // The table of the model after `change`, made against the model this table describes
    // (whose EIPs it keeps). false, with the table unchanged: the change names an EIP this
    // table does not know (the caller rebuilds from the model).
    bool apply(const model::DnatEntryChange& change);
    // The DNAT entry of the NAT gateway at `gateway` (its index in the model) that a session
    // to `eip` (an address), protocol and port arrived through: a port mapping before an IP
    // mapping; empty when none. The view lives as long as this object.
    std::string_view find(std::size_t gateway, std::uint32_t eip, PublicPort port) const;

  private:
    // A port mapping (protocol 6 or 17, public ports lo..hi) or an IP mapping (protocol 0).
    // Sorted by (gateway, eip, protocol, lo); the ranges of one (gateway, eip, protocol) are
    // disjoint (validation).
    struct Named {
        std::uint32_t gateway = 0;
        std::uint32_t eip = 0;
        std::uint8_t protocol = 0;
        std::uint16_t lo = 0;
        std::uint16_t hi = 0;
        std::uint32_t text_at = 0;  // the name: text_[text_at, text_at + text_size)
        std::uint32_t text_size = 0;
    };
    const Named* covering(std::uint32_t gateway, std::uint32_t eip, std::uint8_t protocol,
                          std::uint16_t port) const;
    // `entry` of the gateway at `gateway` as a row, its name appended to text_; nullopt when
    // its EIP is not one of the model's.
    std::optional<Named> row(std::uint32_t gateway, const model::DnatEntry& entry);
    // Drops the names of removed rows from text_ once they are most of it.
    void compact_text();

    std::vector<Named> entries_;
    std::string text_;
    std::size_t dead_text_ = 0;  // bytes of text_ no row refers to
    std::unordered_map<std::string, std::uint32_t> eip_addresses_;
};

// The realm the compiler gives each NAT gateway (compiler/compile.cpp assigns them with
// assign_hashed_ids over "gw:<name>" of the NAT, then the IPv4 gateways), by realm.
std::unordered_map<std::uint32_t, std::string> nat_gateway_realms(const model::Model& model);

// Names one conntrack entry at a time against one model, from a copy of its own (the
// worker thread that logs sessions keeps it while the API thread moves on to newer
// revisions). Built once per revision, so the copy leaves the DNAT entries out (100k of
// them are most of a model): their names are kept in a DnatEntryNames instead.
class SessionNames {
  public:
    explicit SessionNames(const model::Model& model);
    // With the DNAT entry names of `model` already at hand.
    SessionNames(const model::Model& model, DnatEntryNames dnat_names);

    struct Names {
        const EipInfo* snat_eip = nullptr;  // SRC_NAT to an EIP of the model
        const model::SnatEntry* snat = nullptr;
        const EipInfo* dnat_eip = nullptr;  // DST_NAT arriving on an EIP of the model
        std::string_view dnat;              // the DNAT entry's name; empty: none
        // The gateway that translated it (SNAT's when both).
        const model::NatGateway* gateway() const {
            if (snat_eip && snat_eip->gateway) return snat_eip->gateway;
            return dnat_eip ? dnat_eip->gateway : nullptr;
        }
    };
    // The views into this object live as long as it does.
    Names name(const netlink::ConntrackEntry& entry) const;

    const model::NatGateway* gateway_of_realm(std::uint32_t realm) const;
    const model::NatGateway* gateway(const std::string& name) const;
    // The model without its gateways' DNAT entries.
    const model::Model& model() const { return model_; }

  private:
    model::Model model_;
    std::map<std::uint32_t, EipInfo> eips_;
    std::unordered_map<std::uint32_t, const model::NatGateway*> realms_;
    DnatEntryNames dnat_names_;
};

}  // namespace natctl::conntrack
