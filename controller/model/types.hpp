// Value types of the natctl model: the JSON document of DESIGN.md, parsed.
// Pure data; no I/O. Optional fields keep whether they were written so that a document
// round-trips exactly (defaults are applied by the accessors, never stored).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace natctl::model {

// An IPv4 address in host byte order.
struct Ipv4 {
    std::uint32_t value = 0;
    auto operator<=>(const Ipv4&) const = default;
};

struct Cidr {
    Ipv4 address;  // network address (host bits are zero in a valid model)
    int prefix = 0;
    auto operator<=>(const Cidr&) const = default;

    std::uint32_t first() const { return address.value & mask(); }
    std::uint32_t last() const { return first() | ~mask(); }
    std::uint32_t mask() const { return prefix == 0 ? 0u : ~0u << (32 - prefix); }
    bool contains(Ipv4 ip) const { return (ip.value & mask()) == first(); }
    bool contains(const Cidr& other) const {
        return other.prefix >= prefix && contains(other.address);
    }
    bool overlaps(const Cidr& other) const { return contains(other) || other.contains(*this); }
};

// A port or an inclusive range, written "80" or "10/20" in the model.
struct PortRange {
    std::uint16_t lo = 0;
    std::uint16_t hi = 0;
    auto operator<=>(const PortRange&) const = default;
    std::uint32_t size() const { return std::uint32_t(hi) - lo + 1; }
    bool single() const { return lo == hi; }
};

// "1025-65535": the range SNAT may allocate source ports from.
struct SnatPortRange {
    std::uint16_t lo = 1025;
    std::uint16_t hi = 65535;
    auto operator<=>(const SnatPortRange&) const = default;
};

// ---- VPC ------------------------------------------------------------------------------

struct Blackhole {
    auto operator<=>(const Blackhole&) const = default;
};
struct NatGatewayHop {
    std::string name;
    auto operator<=>(const NatGatewayHop&) const = default;
};
struct Ipv4GatewayHop {
    std::string name;
    auto operator<=>(const Ipv4GatewayHop&) const = default;
};
struct InstanceHop {
    std::string name;
    auto operator<=>(const InstanceHop&) const = default;
};
// JSON: {"nat_gateway": N} | {"ipv4_gateway": N} | {"instance": N} | "blackhole"
using NextHop = std::variant<NatGatewayHop, Ipv4GatewayHop, InstanceHop, Blackhole>;

struct Route {
    Cidr destination;
    NextHop next_hop;
    bool operator==(const Route&) const = default;
};

struct RouteTable {
    std::string name;
    std::vector<Route> routes;
    bool operator==(const RouteTable&) const = default;
};

// The VPC's system route table: used by every vSwitch without a route_table. Its name is
// optional in JSON; the effective name is "<vpc>/system".
struct SystemRouteTable {
    std::optional<std::string> name;
    std::vector<Route> routes;
    bool operator==(const SystemRouteTable&) const = default;
};

struct VSwitch {
    std::string name;
    Cidr cidr;
    std::optional<std::string> route_table;  // absent: the VPC's system route table
    bool operator==(const VSwitch&) const = default;
};

struct Instance {
    std::string name;
    std::string vswitch;
    std::vector<Ipv4> private_ips;  // the first is the primary address
    std::optional<Ipv4> public_ip;  // 1:1 both ways, beats every other egress
    bool operator==(const Instance&) const = default;
};

// How a VPC reaches the internet while none of its IPv4 gateways is enabled: what deleting
// an IPv4 gateway leaves behind (Alibaba's DeleteIpv4Gateway, InternetMode).
// JSON: "private" | {"outside_interface": IF, "upstream": IP}.
// - private: no internet path at all; nothing of the VPC leaves by an outside interface and
//   nothing from outside reaches it (SNAT, DNAT, public IPs and instance EIPs included).
// - direct: its public IPs and instance EIPs leave and arrive by this interface and upstream,
//   a NAT gateway or none; what the IPv4 gateway used before a delete in public mode.
// Absent: public IPs go by the VPC's first NAT gateway.
struct NoInternet {
    auto operator<=>(const NoInternet&) const = default;
};
struct DirectInternet {
    std::string outside_interface;
    Ipv4 upstream;
    bool operator==(const DirectInternet&) const = default;
};
using InternetAccess = std::variant<NoInternet, DirectInternet>;

struct Vpc {
    std::string name;
    Cidr cidr;
    std::vector<std::string> interfaces;  // inside interfaces of the gateway host
    std::vector<VSwitch> vswitches;
    std::vector<Instance> instances;
    std::vector<RouteTable> route_tables;
    std::optional<SystemRouteTable> system_route_table;
    std::optional<InternetAccess> internet_access;
    bool operator==(const Vpc&) const = default;

    bool is_private() const {
        return internet_access && std::holds_alternative<NoInternet>(*internet_access);
    }
    const DirectInternet* direct_internet() const {
        return internet_access ? std::get_if<DirectInternet>(&*internet_access) : nullptr;
    }
};

// ---- EIPs and NAT gateways --------------------------------------------------------------

// The largest bandwidth_mbps accepted: 100 Gbit/s, beyond what one Linux gateway forwards.
inline constexpr std::uint32_t kMaxBandwidthMbps = 100000;

struct Eip {
    std::string name;
    Ipv4 address;
    // Associated with an instance (AWS associate-address, Alibaba's EIP on an ECS or ENI):
    // 1:1 both ways with one private IP of the instance, with the egress priority of a
    // public_ip. An EIP is associated with one NAT gateway or one instance, never both.
    std::optional<std::string> instance;
    std::optional<Ipv4> private_ip;  // absent: the instance's first private IP
    // Cap on the EIP's traffic in each direction, in megabits (10^6 bits) per second,
    // enforced in the kernel (docs/KERNEL-LAYOUT.md, "EIP traffic"). Absent: uncapped.
    std::optional<std::uint32_t> bandwidth_mbps;
    bool operator==(const Eip&) const = default;
};

// Exactly one of the four source kinds. JSON: {"vpc": N} | {"vswitch": N} |
// {"instance": N} | {"cidr": "a.b.c.d/p"}
struct VpcSource {
    std::string name;
    auto operator<=>(const VpcSource&) const = default;
};
struct VSwitchSource {
    std::string name;
    auto operator<=>(const VSwitchSource&) const = default;
};
struct InstanceSource {
    std::string name;
    auto operator<=>(const InstanceSource&) const = default;
};
struct CidrSource {
    Cidr cidr;
    auto operator<=>(const CidrSource&) const = default;
};
using SnatSource = std::variant<VpcSource, VSwitchSource, InstanceSource, CidrSource>;

struct SnatEntry {
    std::string name;
    SnatSource source;
    std::vector<std::string> eips;     // EIP names, each attached to the gateway
    std::optional<bool> eip_affinity;  // default false: spread per connection
    bool operator==(const SnatEntry&) const = default;

    bool affinity() const { return eip_affinity.value_or(false); }
};

enum class DnatProtocol { Tcp, Udp, Any };

struct DnatEntry {
    std::string name;
    std::string eip;
    DnatProtocol protocol = DnatProtocol::Tcp;
    std::optional<PortRange> public_port;  // absent exactly when protocol is any
    Ipv4 private_ip;
    std::optional<PortRange> private_port;  // absent exactly when protocol is any
    bool operator==(const DnatEntry&) const = default;

    bool ip_mapping() const { return protocol == DnatProtocol::Any; }
};

enum class GatewayMode { Snat, Masquerade };
enum class SessionLog { Off, Errors, All };

struct NatGateway {
    std::string name;
    std::string vpc;
    std::optional<GatewayMode> mode;  // default snat
    std::string outside_interface;
    Ipv4 upstream;                  // next hop on the outside interface
    std::vector<std::string> eips;  // EIP names attached to this gateway
    std::optional<bool> icmp_echo_reply;
    std::optional<bool> deletion_protection;
    std::optional<SnatPortRange> snat_port_range;
    std::optional<std::uint32_t> port_budget_per_eip;
    std::optional<std::uint32_t> max_ports_per_instance;  // absent: unlimited
    std::optional<SessionLog> session_log;
    std::optional<bool> assign_eip_addresses;  // add EIPs to the outside interface
    std::vector<SnatEntry> snat_entries;
    std::vector<DnatEntry> dnat_entries;
    bool operator==(const NatGateway&) const = default;

    GatewayMode effective_mode() const { return mode.value_or(GatewayMode::Snat); }
    bool answers_echo() const { return icmp_echo_reply.value_or(true); }
    bool protected_from_deletion() const { return deletion_protection.value_or(false); }
    SnatPortRange port_range() const { return snat_port_range.value_or(SnatPortRange{}); }
    std::uint32_t port_budget() const { return port_budget_per_eip.value_or(55000); }
    SessionLog log_mode() const { return session_log.value_or(SessionLog::Off); }
    bool assigns_addresses() const { return assign_eip_addresses.value_or(true); }
};

// ---- IPv4 gateway -----------------------------------------------------------------------

struct LocalHop {
    auto operator<=>(const LocalHop&) const = default;
};
// JSON: "local" | {"instance": N}
using GatewayNextHop = std::variant<LocalHop, InstanceHop>;

struct GatewayRoute {
    Cidr destination;
    GatewayNextHop next_hop;
    bool operator==(const GatewayRoute&) const = default;
};

struct Ipv4Gateway {
    std::string name;
    std::string vpc;
    std::optional<bool> enabled;  // default true
    std::string outside_interface;
    Ipv4 upstream;
    std::vector<GatewayRoute> gateway_route_table;
    bool operator==(const Ipv4Gateway&) const = default;

    bool is_enabled() const { return enabled.value_or(true); }
};

// ---- limits and the whole document -----------------------------------------------------

struct Limits {
    std::optional<std::uint32_t> nat_gateways_per_vpc;
    std::optional<std::uint32_t> eips_per_nat_gateway;
    std::optional<std::uint32_t> snat_entries_per_nat_gateway;
    std::optional<std::uint32_t> dnat_entries_per_nat_gateway;
    bool operator==(const Limits&) const = default;

    std::uint32_t gateways_per_vpc() const { return nat_gateways_per_vpc.value_or(5); }
    std::uint32_t eips_per_gateway() const { return eips_per_nat_gateway.value_or(20); }
    std::uint32_t snat_per_gateway() const { return snat_entries_per_nat_gateway.value_or(40); }
    std::uint32_t dnat_per_gateway() const { return dnat_entries_per_nat_gateway.value_or(100); }
};

struct Model {
    int version = 1;
    std::vector<Vpc> vpcs;
    std::vector<Eip> eips;
    std::vector<NatGateway> nat_gateways;
    std::vector<Ipv4Gateway> ipv4_gateways;
    std::optional<Limits> limits;
    bool operator==(const Model&) const = default;

    Limits effective_limits() const { return limits.value_or(Limits{}); }
};

// One problem in a document: a JSON path such as
// "nat_gateways[0].dnat_entries[1].private_port" and a plain-language reason.
struct Error {
    std::string path;
    std::string reason;
    bool operator==(const Error&) const = default;
};
using Errors = std::vector<Error>;

}  // namespace natctl::model
