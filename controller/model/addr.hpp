// Text forms of addresses, prefixes and ports, strict: a value the model cannot hold
// exactly is refused with the reason, never guessed at.
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "controller/model/types.hpp"

namespace natctl::model {

std::expected<Ipv4, std::string> parse_ipv4(std::string_view text);
// "a.b.c.d/p"; host bits must be zero (the reason names the network that was meant).
std::expected<Cidr, std::string> parse_cidr(std::string_view text);
// "80" or "10/20" (lo < hi), ports 1-65535.
std::expected<PortRange, std::string> parse_port_range(std::string_view text);
// "1025-65535" (lo <= hi), ports 1-65535.
std::expected<SnatPortRange, std::string> parse_snat_port_range(std::string_view text);

std::string to_string(Ipv4 ip);
std::string to_string(const Cidr& cidr);
std::string to_string(const PortRange& range);      // "80" or "10/20"
std::string to_string(const SnatPortRange& range);  // "1025-65535"
const char* protocol_name(DnatProtocol protocol);   // "tcp" | "udp" | "any"

}  // namespace natctl::model
