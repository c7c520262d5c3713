// The rules of table ip natctl (docs/KERNEL-LAYOUT.md), each with its text exactly as
// `nft list` prints it and the libnftnl expressions nft itself generates for it
// (docs/reference/layout-sample.netlink-debug).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler::rules {

inline constexpr const char* kBudgetEips = "budget_eips";
inline constexpr const char* kDnatIp = "dnat_ip";
inline constexpr const char* kDnatOpen = "dnat_open";
inline constexpr const char* kDnatPorts = "dnat_ports";
inline constexpr const char* kEchoLocal = "echo_local";
inline constexpr const char* kEchoSilent = "echo_silent";
inline constexpr const char* kHaHold = "ha_hold";
inline constexpr const char* kIgwCovered = "igw_covered";
inline constexpr const char* kOutsideIfaces = "outside_ifaces";
inline constexpr const char* kOutsideRealms = "outside_realms";
inline constexpr const char* kPrivateVpcs = "private_vpcs";
inline constexpr const char* kReturnMarks = "return_marks";
inline constexpr const char* kSnatIp = "snat_ip";
inline constexpr const char* kSnatSources = "snat_sources";
inline constexpr const char* kVpcCidrs = "vpc_cidrs";

inline constexpr const char* kInboundChain = "inbound";
inline constexpr const char* kHaHoldChain = "ha_hold";

// Conntrack state bits: a connection's first packet (`ct state new`), and a packet that
// belongs to no connection conntrack knows (`ct state invalid`).
inline constexpr std::uint32_t kCtStateNew = 0x8;
inline constexpr std::uint32_t kCtStateInvalid = 0x1;

inline constexpr std::uint32_t kJhashSeed = 0x6e61746c;  // "natl"

struct PortRange {
    std::uint16_t lo = 0;
    std::uint16_t hi = 0;
};

std::string snat_chain_name(const std::string& gateway, const std::string& entry);
std::string masquerade_chain_name(const std::string& gateway);

// Ping to an IP-mapped EIP of a gateway that answers echo is answered by the gateway (as
// Alibaba's NAT gateway does), not translated to the backend: accepted before the DNAT
// rules, so that the request stays addressed to the EIP and is delivered locally.
kernel::Rule prerouting_echo_local();
kernel::Rule prerouting_dnat_ports();
kernel::Rule prerouting_dnat_ip();
kernel::Rule mark_replies();
kernel::Rule input_echo_silent();
// Confirmed packets first (accepted at once), then the HA gate, then the inbound check.
std::vector<kernel::Rule> forward();
// High availability (docs/HA.md): while set ha_hold holds `invalid` and `new`, the first
// packet of every connection, and every packet of a connection conntrack does not know
// (yet), goes through chain ha_hold, which lets a clean TCP SYN pass and drops the rest:
// in forward, and in input for the SNAT EIPs (budget_eips): a reply that reaches the node
// before its connection is committed would draw a TCP reset that kills the connection, or
// create a UDP entry of its own whose tuple then refuses the commit of the real one.
kernel::Rule forward_ha_hold();
kernel::Rule input_ha_hold();
std::vector<kernel::Rule> ha_hold();
std::vector<kernel::Rule> inbound();
std::vector<kernel::Rule> postrouting();

// ---- SNAT entries and port budgets (controller/compiler/budget.hpp assembles them) ----

struct RefusalLog {
    std::string prefix;
    std::uint16_t group = 0;
};

// TCP/UDP to `eip` with the port range unless the destination tuple is full on it;
// `steered` (not the entry's preferred EIP) counts the connection.
kernel::Rule snat_try(std::uint32_t eip, const std::string& full_set, PortRange ports,
                      bool steered);
// TCP/UDP: the entry's hash picks chains[hash], which tries that EIP first.
kernel::Rule snat_dispatch(bool affinity, const std::vector<std::string>& chains);
// Every other protocol: today's hash (or the only EIP), no ports, no budget.
kernel::Rule snat_other_protocols(const std::vector<std::uint32_t>& eips, bool affinity);
// Counted (and logged) drop: a port allocation error.
kernel::Rule refuse(bool tcp_udp_only, const std::optional<RefusalLog>& log);
// max_ports_per_instance: refuses a private source already holding max_connections.
kernel::Rule instance_limit(const std::string& set, std::uint32_t max_connections,
                            const std::optional<RefusalLog>& log);
// Postrouting, after SNAT: the first packet of a TCP/UDP connection from an EIP with a
// budget goes to the accounting chain, which holds two rules per EIP (mark full, backstop).
kernel::Rule budget_dispatch(const std::string& accounting_chain);
kernel::Rule budget_mark_full(std::uint32_t eip, const std::string& count_set,
                              const std::string& full_set, std::uint32_t budget,
                              std::uint32_t full_timeout_seconds);
kernel::Rule budget_backstop(std::uint32_t eip, const std::string& limit_set, std::uint32_t limit,
                             const std::optional<RefusalLog>& log);
std::vector<kernel::Rule> masquerade(PortRange ports);

// ---- EIP traffic (controller/compiler/bandwidth.hpp assembles them) ----

// `ip daddr vmap @<map>` (inbound, before DNAT) or `ip saddr vmap @<map>` (outbound, after
// SNAT): every packet to or from an EIP goes to that EIP's chain for its direction.
kernel::Rule eip_meter_dispatch(bool inbound, const std::string& map);
// The bandwidth cap: drops (and counts) what exceeds the rate.
kernel::Rule eip_cap(std::uint64_t bytes_per_second, std::uint32_t burst_bytes);
// Counts what passed.
kernel::Rule eip_count();

}  // namespace natctl::compiler::rules
