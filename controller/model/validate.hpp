// Semantic validation of a parsed model: every rule of DESIGN.md, every error at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "controller/model/change.hpp"
#include "controller/model/json.hpp"
#include "controller/model/types.hpp"

namespace natctl::model {

// Empty when the model is valid. Errors are ordered by path as they appear in the document.
Errors validate(const Model& model);

// Every problem of a document that could not be read whole, at once: the reading errors plus
// validate()'s findings on what could be read, leaving out those at, under or citing a value
// that could not be read (they would judge a placeholder, not the document). A `public_port`
// of 70000 thus no longer hides an unknown EIP elsewhere in the same document.
Errors document_errors(const ReadResult& read);

// read_model + validate, every problem at once: what every entry point (render, API) uses.
std::expected<Model, Errors> load_model(std::string_view text);

// What validate() checks a DNAT entry (port or IP mapping) against, indexed from a valid model and
// kept in step with it across DNAT entry changes, so that one change is judged in O(log n) instead
// of validating the whole model (100k entries: tens of milliseconds).
//
// It only ever answers "certainly valid": accepts() is true only when validate() of the
// model after the change finds nothing. False means "not sure" (an error, anything this
// index does not cover): the caller validates the whole model, which also
// gives the exact errors and their paths. So the errors a client sees never depend on
// which path judged its change.
class DnatChangeIndex {
  public:
    DnatChangeIndex() = default;
    // `known_valid`: the caller has just validated `model` (skips doing it again). An
    // invalid model gives an index that accepts nothing.
    DnatChangeIndex(const Model& model, bool known_valid);

    // `model` is the model this index describes (the one the change was made against).
    bool accepts(const Model& model, const DnatEntryChange& change) const;
    // Keeps the index in step once the change is the current model.
    void apply(const DnatEntryChange& change);
    // A change of everything but the DNAT entries: `model` (which this index describes)
    // becomes `light_after` (a model without DNAT entries, model::without_dnat_entries) plus
    // model's DNAT entries. Accepted when validate() of `light_after` finds nothing, nothing
    // DNAT entries depend on changed (VPCs, IPv4 gateways, limits, the NAT gateways but
    // their EIP lists and SNAT entries, the EIPs that DNAT entries use and which gateway they
    // are attached to), and the two rules that join SNAT and DNAT entries hold, judged from
    // this index: no SNAT entry uses an EIP of an IP mapping, and no port mapping's public
    // ports lie in its gateway's snat_port_range on an EIP an SNAT entry uses.
    // O(model less its DNAT entries).
    bool accepts_without_dnat(const Model& model, const Model& light_after) const;
    // Keeps the index in step once an accepted change of everything but the DNAT entries is
    // the current model.
    void apply_without_dnat(const Model& light_after);
    // Whether an IP mapping maps the private IP `address` (host order).
    bool has_ip_mapping_of(std::uint32_t address) const {
        return ip_mapping_private_ips_.contains(address);
    }

    // DNAT entries of the whole model that use the EIP named `eip`.
    std::size_t entries_on_eip(const std::string& eip) const;
    bool usable() const { return usable_; }

  private:
    // Collects `entry`'s ports at the end of its list (`sorted` false: the constructor,
    // which sorts each list once) or in place.
    void add_public_ports(const DnatEntry& entry, bool sorted);

    bool usable_ = false;
    // DNAT entry names (unique across the document) by std::hash: two names sharing a hash
    // only make accepts() refuse — write() then decides — never accept.
    std::unordered_multiset<std::size_t> dnat_name_hashes_;
    std::unordered_map<std::string, std::size_t> entries_on_eip_;
    std::unordered_set<std::string> ip_mapping_eips_;
    // Private IPs of IP mappings (a valid model has at most one each).
    std::unordered_multiset<std::uint32_t> ip_mapping_private_ips_;
    std::unordered_map<std::string, std::size_t> vpc_by_name_;
    std::unordered_set<std::string> eip_names_;
    // (eip, protocol) → public port ranges of its port mappings (disjoint), (lo, hi) sorted
    // by lo: flat, 4 bytes a mapping instead of a tree node (100k entries stay indexed for
    // as long as natctld runs).
    using PortRanges = std::vector<std::pair<std::uint16_t, std::uint16_t>>;
    std::map<std::pair<std::string, DnatProtocol>, PortRanges> public_ports_;
};

}  // namespace natctl::model
