// The model's names for what conntrack shows: EIPs by address and the gateway each is
// attached to, the SNAT or DNAT entry a session went through, the NAT gateway behind a
// route realm (the number natctl's refusal log prefixes carry). Shared by the API views,
// the metrics and the session log, so that all three name a session the same way. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/conntrack/accounting.hpp"
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

// The DNAT entry of `gateway` that (eip, protocol, port) arrived through: a port mapping
// before an IP mapping.
const model::DnatEntry* dnat_entry_for(const model::NatGateway& gateway, const std::string& eip,
                                       PublicPort port);

// The realm the compiler gives each NAT gateway (compiler/compile.cpp assigns them with
// assign_hashed_ids over "gw:<name>" of the NAT, then the IPv4 gateways), by realm.
std::unordered_map<std::uint32_t, std::string> nat_gateway_realms(const model::Model& model);

// Names one conntrack entry at a time against one model (its own copy: the worker thread
// that logs sessions keeps it while the API thread moves on to newer revisions).
class SessionNames {
  public:
    explicit SessionNames(model::Model model);

    struct Names {
        const EipInfo* snat_eip = nullptr;  // SRC_NAT to an EIP of the model
        const model::SnatEntry* snat = nullptr;
        const EipInfo* dnat_eip = nullptr;  // DST_NAT arriving on an EIP of the model
        const model::DnatEntry* dnat = nullptr;
        // The gateway that translated it (SNAT's when both).
        const model::NatGateway* gateway() const {
            if (snat_eip && snat_eip->gateway) return snat_eip->gateway;
            return dnat_eip ? dnat_eip->gateway : nullptr;
        }
    };
    Names name(const netlink::ConntrackEntry& entry) const;

    const model::NatGateway* gateway_of_realm(std::uint32_t realm) const;
    const model::NatGateway* gateway(const std::string& name) const;
    const model::Model& model() const { return model_; }

  private:
    model::Model model_;
    std::map<std::uint32_t, EipInfo> eips_;
    std::unordered_map<std::uint32_t, const model::NatGateway*> realms_;
};

}  // namespace natctl::conntrack
