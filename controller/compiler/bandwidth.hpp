// EIP traffic in the data plane (docs/KERNEL-LAYOUT.md, "EIP traffic"): every packet to an
// EIP (before DNAT) and from an EIP (after SNAT) passes its EIP's chain for that direction,
// which drops what exceeds the EIP's bandwidth_mbps and counts the rest. Pure: names, sets,
// chains; the expressions come from rules.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler::bandwidth {

inline constexpr const char* kInboundMap = "eip_inbound";
inline constexpr const char* kOutboundMap = "eip_outbound";
inline constexpr const char* kInboundChain = "eip_meter_in";
inline constexpr const char* kOutboundChain = "eip_meter_out";
// Inbound: mangle - 10, after conntrack (-200), before DNAT (-100) rewrites the EIP away.
inline constexpr int kInboundPriority = -160;
// Outbound: after SNAT (100) wrote the EIP and after the port budget's backstop (110),
// whose drops never leave the gateway.
inline constexpr int kOutboundPriority = 120;

struct Eip {
    std::string name;
    std::uint32_t address = 0;  // host order
    std::optional<std::uint32_t> bandwidth_mbps;
};

std::string eip_chain(const std::string& eip, bool inbound);

// bandwidth_mbps in bytes per second (megabits: 10^6 bits).
std::uint64_t bytes_per_second(std::uint32_t mbps);
// The token bucket's depth: 100 ms of the rate, at least 128 KiB. A bucket smaller than one
// packet drops that packet always, and GRO hands the forward path packets of up to 64 KiB;
// 100 ms of rate lets a TCP sender's window ride the cap instead of collapsing on every
// burst (a policer drops rather than queues).
std::uint32_t burst_bytes(std::uint32_t mbps);

// eip_inbound and eip_outbound: EIP address -> goto its chain.
std::vector<kernel::Set> maps(const std::vector<Eip>& eips);
// The two base chains and, per EIP, eip/<name>/in and eip/<name>/out.
std::vector<kernel::Chain> base_chains();
std::vector<kernel::Chain> eip_chains(const Eip& eip);

}  // namespace natctl::compiler::bandwidth
