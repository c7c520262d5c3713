#include "netlink/conntrack_backend.hpp"

#include <fmt/format.h>

#include "kernelstate/kernel_state.hpp"

namespace natctl::netlink {
namespace {

std::string address(std::uint32_t host_order) {
    return fmt::format("{}.{}.{}.{}", host_order >> 24, (host_order >> 16) & 0xff,
                       (host_order >> 8) & 0xff, host_order & 0xff);
}

std::string protocol_text(std::uint8_t protocol) {
    if (auto known = kernel::protocol_name(protocol)) return std::string(*known);
    return fmt::format("proto {}", protocol);
}

std::string endpoint(std::uint32_t host_order, std::uint16_t port, bool with_port) {
    return with_port ? fmt::format("{}:{}", address(host_order), port) : address(host_order);
}

}  // namespace

std::string describe(const ConntrackEntry& entry) {
    const bool ports = entry.protocol != 1 && (entry.original.sport || entry.original.dport);
    std::string text = fmt::format("{} {} -> {}", protocol_text(entry.protocol),
                                   endpoint(entry.original.src, entry.original.sport, ports),
                                   endpoint(entry.original.dst, entry.original.dport, ports));
    if (entry.icmp)
        text += fmt::format(" type {} code {} id {}", entry.icmp->type, entry.icmp->code,
                            entry.icmp->id);
    text += fmt::format(" [{} -> {}]", endpoint(entry.reply.src, entry.reply.sport, ports),
                        endpoint(entry.reply.dst, entry.reply.dport, ports));
    if (entry.zone) text += fmt::format(" zone {}", entry.zone);
    return text;
}

}  // namespace natctl::netlink
