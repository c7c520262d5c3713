#include "controller/model/addr.hpp"

#include <fmt/format.h>

#include <charconv>

namespace natctl::model {
namespace {

// A decimal number without sign, leading zeros or surrounding text.
std::expected<std::uint32_t, std::string> parse_decimal(std::string_view text, std::uint32_t max) {
    if (text.empty()) return std::unexpected("empty number");
    if (text.size() > 1 && text.front() == '0') return std::unexpected("leading zero");
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
        return std::unexpected(fmt::format("'{}' is not a decimal number", text));
    if (value > max) return std::unexpected(fmt::format("{} is larger than {}", value, max));
    return value;
}

std::expected<std::uint16_t, std::string> parse_port(std::string_view text) {
    auto value = parse_decimal(text, 65535);
    if (!value) return std::unexpected(fmt::format("port '{}': {}", text, value.error()));
    if (*value == 0) return std::unexpected("port 0 is not allowed (ports are 1-65535)");
    return static_cast<std::uint16_t>(*value);
}

}  // namespace

std::expected<Ipv4, std::string> parse_ipv4(std::string_view text) {
    std::uint32_t result = 0;
    std::string_view rest = text;
    for (int octet = 0; octet < 4; ++octet) {
        auto dot = rest.find('.');
        if ((octet < 3) != (dot != std::string_view::npos))
            return std::unexpected(fmt::format("'{}' is not an IPv4 address", text));
        auto part = rest.substr(0, dot);
        auto value = parse_decimal(part, 255);
        if (!value) return std::unexpected(fmt::format("'{}' is not an IPv4 address", text));
        result = result << 8 | *value;
        rest = octet < 3 ? rest.substr(dot + 1) : std::string_view{};
    }
    return Ipv4{result};
}

std::expected<Cidr, std::string> parse_cidr(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos)
        return std::unexpected(fmt::format("'{}' is not a CIDR (expected a.b.c.d/len)", text));
    auto address = parse_ipv4(text.substr(0, slash));
    if (!address)
        return std::unexpected(fmt::format("'{}' is not a CIDR: {}", text, address.error()));
    auto prefix = parse_decimal(text.substr(slash + 1), 32);
    if (!prefix)
        return std::unexpected(fmt::format("'{}' is not a CIDR: prefix length must be 0-32", text));
    Cidr cidr{*address, static_cast<int>(*prefix)};
    if (cidr.first() != address->value)
        return std::unexpected(fmt::format("'{}' has host bits set (the network is {})", text,
                                           to_string(Cidr{Ipv4{cidr.first()}, cidr.prefix})));
    return cidr;
}

std::expected<PortRange, std::string> parse_port_range(std::string_view text) {
    auto slash = text.find('/');
    auto lo = parse_port(text.substr(0, slash));
    if (!lo) return std::unexpected(lo.error());
    if (slash == std::string_view::npos) return PortRange{*lo, *lo};
    auto hi = parse_port(text.substr(slash + 1));
    if (!hi) return std::unexpected(hi.error());
    if (*hi <= *lo)
        return std::unexpected(
            fmt::format("range '{}' must be written low/high with low < high", text));
    return PortRange{*lo, *hi};
}

std::expected<SnatPortRange, std::string> parse_snat_port_range(std::string_view text) {
    auto dash = text.find('-');
    if (dash == std::string_view::npos)
        return std::unexpected(fmt::format("'{}' is not a port range (expected lo-hi)", text));
    auto lo = parse_port(text.substr(0, dash));
    if (!lo) return std::unexpected(lo.error());
    auto hi = parse_port(text.substr(dash + 1));
    if (!hi) return std::unexpected(hi.error());
    if (*hi < *lo) return std::unexpected(fmt::format("range '{}' has low > high", text));
    return SnatPortRange{*lo, *hi};
}

std::string to_string(Ipv4 ip) {
    auto v = ip.value;
    return fmt::format("{}.{}.{}.{}", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

std::string to_string(const Cidr& cidr) {
    return fmt::format("{}/{}", to_string(cidr.address), cidr.prefix);
}

std::string to_string(const PortRange& range) {
    return range.single() ? fmt::format("{}", range.lo) : fmt::format("{}/{}", range.lo, range.hi);
}

const char* protocol_name(DnatProtocol protocol) {
    switch (protocol) {
        case DnatProtocol::Tcp:
            return "tcp";
        case DnatProtocol::Udp:
            return "udp";
        case DnatProtocol::Any:
            return "any";
    }
    return "any";
}

std::string to_string(const SnatPortRange& range) {
    return fmt::format("{}-{}", range.lo, range.hi);
}

}  // namespace natctl::model
