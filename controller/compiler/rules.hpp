// The rules of table ip natctl (docs/KERNEL-LAYOUT.md), each with its text exactly as
// `nft list` prints it and the libnftnl expressions nft itself generates for it
// (docs/reference/layout-sample.netlink-debug).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler::rules {

inline constexpr const char* kDnatIp = "dnat_ip";
inline constexpr const char* kDnatOpen = "dnat_open";
inline constexpr const char* kDnatPorts = "dnat_ports";
inline constexpr const char* kEchoSilent = "echo_silent";
inline constexpr const char* kIgwCovered = "igw_covered";
inline constexpr const char* kOutsideIfaces = "outside_ifaces";
inline constexpr const char* kOutsideRealms = "outside_realms";
inline constexpr const char* kReturnMarks = "return_marks";
inline constexpr const char* kSnatIp = "snat_ip";
inline constexpr const char* kSnatSources = "snat_sources";
inline constexpr const char* kVpcCidrs = "vpc_cidrs";

inline constexpr const char* kInboundChain = "inbound";

inline constexpr std::uint32_t kJhashSeed = 0x6e61746c;  // "natl"

struct PortRange {
    std::uint16_t lo = 0;
    std::uint16_t hi = 0;
};

std::string snat_chain_name(const std::string& gateway, const std::string& entry);
std::string masquerade_chain_name(const std::string& gateway);

kernel::Rule prerouting_dnat_ports();
kernel::Rule prerouting_dnat_ip();
kernel::Rule mark_replies();
kernel::Rule input_echo_silent();
kernel::Rule forward_to_inbound();
std::vector<kernel::Rule> inbound();
std::vector<kernel::Rule> postrouting();

// The two rules of a SNAT entry's chain: TCP/UDP with the gateway's port range, then
// everything else. `eips` in the entry's order (host order), at least one.
std::vector<kernel::Rule> snat_entry(const std::vector<std::uint32_t>& eips, bool affinity,
                                     PortRange ports);
std::vector<kernel::Rule> masquerade(PortRange ports);

}  // namespace natctl::compiler::rules
