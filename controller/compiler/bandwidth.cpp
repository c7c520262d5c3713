#include "controller/compiler/bandwidth.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "controller/compiler/rules.hpp"

namespace natctl::compiler::bandwidth {

std::string eip_chain(const std::string& eip, bool inbound) {
    return fmt::format("eip/{}/{}", eip, inbound ? "in" : "out");
}

std::uint64_t bytes_per_second(std::uint32_t mbps) {
    return std::uint64_t{mbps} * 125000;
}

std::uint32_t burst_bytes(std::uint32_t mbps) {
    constexpr std::uint64_t kMinimum = 128 * 1024;
    return static_cast<std::uint32_t>(std::max(bytes_per_second(mbps) / 10, kMinimum));
}

std::vector<kernel::Set> maps(const std::vector<Eip>& eips) {
    std::vector<kernel::Set> out;
    for (const bool inbound : {true, false}) {
        kernel::Set map;
        map.name = inbound ? kInboundMap : kOutboundMap;
        map.key = {kernel::FieldType::Ipv4};
        map.data = {kernel::FieldType::Verdict};
        for (const auto& eip : eips)
            map.elements.push_back(kernel::Element{
                {eip.address},
                {},
                {},
                {},
                kernel::Verdict{kernel::Verdict::Kind::Goto, eip_chain(eip.name, inbound)}});
        std::sort(map.elements.begin(), map.elements.end());
        out.push_back(std::move(map));
    }
    return out;
}

std::vector<kernel::Chain> base_chains() {
    return {kernel::Chain{kInboundChain,
                          kernel::BaseChain{"filter", "prerouting", kInboundPriority, true},
                          {rules::eip_meter_dispatch(true, kInboundMap)},
                          ""},
            kernel::Chain{kOutboundChain,
                          kernel::BaseChain{"filter", "postrouting", kOutboundPriority, true},
                          {rules::eip_meter_dispatch(false, kOutboundMap)},
                          ""}};
}

std::vector<kernel::Chain> eip_chains(const Eip& eip) {
    std::vector<kernel::Chain> out;
    for (const bool inbound : {true, false}) {
        kernel::Chain chain{eip_chain(eip.name, inbound), std::nullopt, {}, ""};
        auto role = [&](kernel::CounterRole::Kind kind) {
            kernel::CounterRole counts;
            counts.kind = kind;
            counts.eip = eip.name;
            counts.direction = inbound ? kernel::kDirectionInbound : kernel::kDirectionOutbound;
            return counts;
        };
        if (eip.bandwidth_mbps) {
            auto cap = rules::eip_cap(bytes_per_second(*eip.bandwidth_mbps),
                                      burst_bytes(*eip.bandwidth_mbps));
            cap.counts = role(kernel::CounterRole::Kind::EipCapped);
            chain.rules.push_back(std::move(cap));
        }
        auto count = rules::eip_count();
        count.counts = role(kernel::CounterRole::Kind::EipPassed);
        chain.rules.push_back(std::move(count));
        out.push_back(std::move(chain));
    }
    return out;
}

}  // namespace natctl::compiler::bandwidth
