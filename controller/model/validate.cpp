// Semantic validation. Every check reports at the path of the value that has to change and
// names the other party of a conflict by its path, so that an operator can fix a document
// from the error list alone. Errors are sorted into document order at the end, which lets
// the checks below be grouped by rule rather than by position.
#include "controller/model/validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "controller/model/addr.hpp"
#include "controller/model/json.hpp"

namespace natctl::model {
namespace {

constexpr std::size_t kMaxNameLength = 64;
constexpr std::size_t kMaxIfnameLength = 15;  // IFNAMSIZ - 1
constexpr int kMinVpcPrefix = 8;
constexpr int kMaxVpcPrefix = 28;

// ---- document order of paths --------------------------------------------------------------

// Field names in an order consistent with the field order of every object in DESIGN.md, so
// one table ranks the fields of all object kinds.
constexpr std::array kFieldOrder = {
    "version",
    "vpcs",
    "name",
    "cidr",
    "vpc",
    "mode",
    "enabled",
    "outside_interface",
    "upstream",
    "interfaces",
    "vswitches",
    "vswitch",
    "private_ips",
    "public_ip",
    "instances",
    "route_tables",
    "routes",
    "route_table",
    "system_route_table",
    "internet_access",
    "destination",
    "next_hop",
    "address",
    "instance",
    "source",
    "eips",
    "eip_affinity",
    "eip",
    "protocol",
    "public_port",
    "private_ip",
    "private_port",
    "icmp_echo_reply",
    "deletion_protection",
    "snat_port_range",
    "port_budget_per_eip",
    "max_ports_per_instance",
    "session_log",
    "assign_eip_addresses",
    "snat_entries",
    "dnat_entries",
    "nat_gateways",
    "gateway_route_table",
    "ipv4_gateways",
    "limits",
    "nat_gateways_per_vpc",
    "eips_per_nat_gateway",
    "snat_entries_per_nat_gateway",
    "dnat_entries_per_nat_gateway",
};

std::vector<std::size_t> order_key(std::string_view path) {
    std::vector<std::size_t> key;
    std::size_t pos = 0;
    while (pos < path.size()) {
        if (path[pos] == '.') {
            ++pos;
            continue;
        }
        if (path[pos] == '[' && path.find(']', pos) != std::string_view::npos) {
            auto close = path.find(']', pos);
            std::size_t index = 0;
            for (auto i = pos + 1; i < close; ++i)
                if (path[i] >= '0' && path[i] <= '9')
                    index = index * 10 + static_cast<std::size_t>(path[i] - '0');
            key.push_back(index);
            pos = close + 1;
            continue;
        }
        auto end = path.find_first_of(".[", pos + 1);
        auto field = path.substr(pos, end == std::string_view::npos ? path.npos : end - pos);
        auto found = std::find(kFieldOrder.begin(), kFieldOrder.end(), field);
        key.push_back(static_cast<std::size_t>(found - kFieldOrder.begin()));
        pos = end == std::string_view::npos ? path.size() : end;
    }
    return key;
}

// ---- small helpers --------------------------------------------------------------------------

bool valid_name_char(char c, bool first) {
    bool alnum = std::isalnum(static_cast<unsigned char>(c)) != 0;
    return first ? alnum : alnum || c == '_' || c == '.' || c == '-';
}

std::optional<std::string> name_problem(const std::string& name) {
    if (name.empty()) return "a name must not be empty";
    if (name.size() > kMaxNameLength)
        return fmt::format("name '{}' is {} characters long; at most {} are allowed", name,
                           name.size(), kMaxNameLength);
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!valid_name_char(name[i], i == 0))
            return fmt::format(
                "name '{}' must start with a letter or digit and contain only letters, digits, "
                "'_', '.' and '-'",
                name);
    }
    return std::nullopt;
}

bool valid_ifname(const std::string& name) {
    if (name.empty() || name.size() > kMaxIfnameLength || name == "." || name == "..") return false;
    return std::none_of(name.begin(), name.end(), [](char c) {
        return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0 ||
               std::iscntrl(static_cast<unsigned char>(c)) != 0;
    });
}

std::string ifname_problem(const std::string& name) {
    return fmt::format(
        "'{}' is not a valid interface name (1-15 characters, no '/', ':' or whitespace)", name);
}

std::string port_text(const PortRange& range) {
    return to_string(range);
}

bool ranges_overlap(std::uint32_t lo1, std::uint32_t hi1, std::uint32_t lo2, std::uint32_t hi2) {
    return lo1 <= hi2 && lo2 <= hi1;
}

// Network and broadcast addresses of a vSwitch cannot be given to an instance.
std::optional<std::string> reserved_address(const VSwitch& vswitch, Ipv4 ip) {
    if (ip.value == vswitch.cidr.first())
        return fmt::format("{} is the network address of vswitch {} ({})", to_string(ip),
                           vswitch.name, to_string(vswitch.cidr));
    if (ip.value == vswitch.cidr.last())
        return fmt::format("{} is the broadcast address of vswitch {} ({})", to_string(ip),
                           vswitch.name, to_string(vswitch.cidr));
    return std::nullopt;
}

// ---- the rules of one entry ----------------------------------------------------------
// What validate() checks about a single DNAT entry on its own (and against the gateway and
// VPC it sits in), as functions the Validator and DnatChangeIndex::accepts both call: the
// API's fast path judges one entry by exactly the rules the whole-model validator applies.

// Port presence and shape under `base`; false when the ports cannot be compared further.
bool check_dnat_ports(const DnatEntry& entry, const std::string& base, Errors& out) {
    auto fail = [&](std::string path, std::string reason) {
        out.push_back(Error{std::move(path), std::move(reason)});
    };
    if (entry.ip_mapping()) {
        if (entry.public_port)
            fail(base + ".public_port",
                 "protocol any maps every port and protocol; remove public_port");
        if (entry.private_port)
            fail(base + ".private_port",
                 "protocol any maps every port and protocol; remove private_port");
        return true;
    }
    bool ok = true;
    for (auto [port, name] : {std::pair{&entry.public_port, "public_port"},
                              std::pair{&entry.private_port, "private_port"}}) {
        if (!*port) {
            fail(base + "." + name,
                 fmt::format("protocol {} needs {} (a port such as \"80\" or a range "
                             "\"10/20\")",
                             protocol_name(entry.protocol), name));
            ok = false;
        } else if ((*port)->lo == 0 || (*port)->hi < (*port)->lo) {
            fail(base + "." + name, fmt::format("{} {} must be ports 1-65535 written lo/hi with "
                                                "lo < hi",
                                                name, port_text(**port)));
            ok = false;
        }
    }
    if (ok && entry.public_port->size() != entry.private_port->size())
        fail(base + ".private_port",
             fmt::format("range length {} differs from public_port range length {}",
                         entry.private_port->size(), entry.public_port->size()));
    return ok;
}

// A DNAT entry's private IP must be a usable address of a vSwitch of the gateway's VPC.
std::optional<std::string> dnat_private_ip_problem(const Vpc& vpc, Ipv4 private_ip) {
    for (const auto& vswitch : vpc.vswitches) {
        if (!vswitch.cidr.contains(private_ip)) continue;
        return reserved_address(vswitch, private_ip);
    }
    return fmt::format("{} is not inside any vswitch of vpc {}", to_string(private_ip), vpc.name);
}

// An EIP an entry of `gateway` names must exist and be attached to that gateway.
std::optional<std::string> entry_eip_problem(const NatGateway& gateway, const std::string& eip,
                                             bool eip_exists) {
    if (!eip_exists) return fmt::format("eip {} does not exist", eip);
    if (std::find(gateway.eips.begin(), gateway.eips.end(), eip) == gateway.eips.end())
        return fmt::format("{} is not attached to nat gateway {}", eip, gateway.name);
    return std::nullopt;
}

// The first SNAT entry of `gateway` that uses `eip`, if any: an IP-mapping EIP serves no
// other entry.
const SnatEntry* snat_entry_using(const NatGateway& gateway, const std::string& eip) {
    for (const auto& snat : gateway.snat_entries)
        if (std::find(snat.eips.begin(), snat.eips.end(), eip) != snat.eips.end()) return &snat;
    return nullptr;
}

// A port mapping's public ports must stay out of the gateway's snat_port_range on an EIP
// an SNAT entry of the gateway also uses (SNAT could hand the same port out).
std::optional<std::string> snat_port_collision(const NatGateway& gateway, const DnatEntry& entry) {
    auto range = gateway.port_range();
    const auto& ports = *entry.public_port;
    if (!ranges_overlap(ports.lo, ports.hi, range.lo, range.hi)) return std::nullopt;
    const auto* snat = snat_entry_using(gateway, entry.eip);
    if (!snat) return std::nullopt;
    std::string fix;
    if (range.lo > 1)
        fix = fmt::format("use a public port <= {} or narrow snat_port_range to leave it free",
                          range.lo - 1);
    else if (range.hi < 65535)
        fix = fmt::format("use a public port >= {} or narrow snat_port_range to leave it free",
                          range.hi + 1);
    else
        fix = "narrow snat_port_range to leave it free";
    return fmt::format("{} {} {} snat_port_range {} of {}, which SNAT entry {} also uses: {}",
                       ports.single() ? "public port" : "public ports", port_text(ports),
                       ports.single() ? "lies in" : "overlap", to_string(range), entry.eip,
                       snat->name, fix);
}

// Where an object sits: its index and the path of its name (for "first used at").
struct Place {
    std::size_t vpc = 0;
    std::size_t index = 0;
    std::string path;
};

struct VpcIndex {
    std::map<std::string, std::size_t> vswitches;
    std::map<std::string, std::size_t> instances;
    std::map<std::string, std::size_t> route_tables;
    std::vector<std::size_t> nat_gateways;
    std::vector<std::size_t> ipv4_gateways;
};

class Validator {
  public:
    explicit Validator(const Model& model) : model_(model) {}

    Errors run() {
        check_version();
        index_and_check_names();
        check_vpcs();
        check_eips();
        check_nat_gateways();
        check_eip_associations();
        check_ipv4_gateways();
        check_limits();
        std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
            return order_key(a.path) < order_key(b.path);
        });
        return std::move(errors_);
    }

  private:
    const Model& model_;
    Errors errors_;

    std::map<std::string, std::size_t> vpc_by_name_;
    std::vector<VpcIndex> vpc_index_;
    std::map<std::string, Place> vswitch_anywhere_;
    std::map<std::string, Place> instance_anywhere_;
    std::map<std::string, Place> route_table_anywhere_;
    std::map<std::string, std::size_t> eip_by_name_;
    std::map<std::string, std::size_t> nat_gateway_by_name_;
    std::map<std::string, std::size_t> ipv4_gateway_by_name_;
    // EIP name → the first gateway attachment (gateway index, path of the list element).
    std::map<std::string, std::pair<std::size_t, std::string>> eip_attachment_;
    // Inside interface → path of its first listing and the VPC it belongs to.
    std::map<std::string, std::pair<std::size_t, std::string>> inside_interfaces_;
    // DNAT entries by what must be unique about them; an EntryRef is (gateway, entry), and
    // its ordering is document order. Indexed up front so that large documents (the limits
    // can be raised) validate in n log n rather than comparing every pair of entries.
    using EntryRef = std::pair<std::size_t, std::size_t>;
    std::map<std::string, EntryRef> first_dnat_of_eip_;
    std::map<std::string, EntryRef> first_ip_mapping_of_eip_;
    std::map<Ipv4, EntryRef> first_ip_mapping_of_private_ip_;
    // (eip, protocol) → accepted public port ranges, disjoint: lo → (hi, entry).
    std::map<std::pair<std::string, DnatProtocol>,
             std::map<std::uint16_t, std::pair<std::uint16_t, EntryRef>>>
        mapped_ports_;

    void fail(std::string path, std::string reason) {
        errors_.push_back(Error{std::move(path), std::move(reason)});
    }

    // ---- names ----------------------------------------------------------------------------

    // Returns true when this is the first object of its kind with this name.
    bool check_name(std::map<std::string, std::string>& seen, std::string_view kind,
                    const std::string& name, const std::string& path) {
        if (auto problem = name_problem(name)) fail(path, *problem);
        auto [it, inserted] = seen.emplace(name, path);
        if (!inserted)
            fail(path,
                 fmt::format("duplicate {} name {} (first used at {})", kind, name, it->second));
        return inserted;
    }

    void index_and_check_names() {
        std::map<std::string, std::string> vpc_names, vswitch_names, instance_names,
            route_table_names, eip_names, nat_gateway_names, ipv4_gateway_names, snat_names,
            dnat_names;
        vpc_index_.resize(model_.vpcs.size());
        for (std::size_t v = 0; v < model_.vpcs.size(); ++v) {
            const auto& vpc = model_.vpcs[v];
            auto base = fmt::format("vpcs[{}]", v);
            if (check_name(vpc_names, "vpc", vpc.name, base + ".name"))
                vpc_by_name_.emplace(vpc.name, v);
            auto& index = vpc_index_[v];
            // Each named child of a VPC is indexed within its VPC and across all VPCs (so
            // that a reference into the wrong VPC can say where the name does live).
            auto index_children = [&](const auto& children, std::string_view field,
                                      std::string_view kind, auto& seen, auto& in_vpc,
                                      auto& anywhere) {
                for (std::size_t i = 0; i < children.size(); ++i) {
                    auto path = fmt::format("{}.{}[{}].name", base, field, i);
                    const auto& name = children[i].name;
                    check_name(seen, kind, name, path);
                    in_vpc.emplace(name, i);
                    anywhere.emplace(name, Place{v, i, path});
                }
            };
            index_children(vpc.vswitches, "vswitches", "vswitch", vswitch_names, index.vswitches,
                           vswitch_anywhere_);
            index_children(vpc.instances, "instances", "instance", instance_names, index.instances,
                           instance_anywhere_);
            index_children(vpc.route_tables, "route_tables", "route table", route_table_names,
                           index.route_tables, route_table_anywhere_);
            if (vpc.system_route_table && vpc.system_route_table->name)
                check_name(route_table_names, "route table", *vpc.system_route_table->name,
                           base + ".system_route_table.name");
        }
        for (std::size_t e = 0; e < model_.eips.size(); ++e) {
            const auto& name = model_.eips[e].name;
            check_name(eip_names, "eip", name, fmt::format("eips[{}].name", e));
            eip_by_name_.emplace(name, e);
        }
        for (std::size_t g = 0; g < model_.nat_gateways.size(); ++g) {
            const auto& gateway = model_.nat_gateways[g];
            auto base = fmt::format("nat_gateways[{}]", g);
            check_name(nat_gateway_names, "nat gateway", gateway.name, base + ".name");
            nat_gateway_by_name_.emplace(gateway.name, g);
            for (std::size_t s = 0; s < gateway.snat_entries.size(); ++s)
                check_name(snat_names, "snat entry", gateway.snat_entries[s].name,
                           fmt::format("{}.snat_entries[{}].name", base, s));
            for (std::size_t d = 0; d < gateway.dnat_entries.size(); ++d) {
                const auto& entry = gateway.dnat_entries[d];
                check_name(dnat_names, "dnat entry", entry.name,
                           fmt::format("{}.dnat_entries[{}].name", base, d));
                first_dnat_of_eip_.emplace(entry.eip, EntryRef{g, d});
                if (!entry.ip_mapping()) continue;
                first_ip_mapping_of_eip_.emplace(entry.eip, EntryRef{g, d});
                first_ip_mapping_of_private_ip_.emplace(entry.private_ip, EntryRef{g, d});
            }
            if (auto vpc = vpc_by_name_.find(gateway.vpc); vpc != vpc_by_name_.end())
                vpc_index_[vpc->second].nat_gateways.push_back(g);
        }
        for (std::size_t g = 0; g < model_.ipv4_gateways.size(); ++g) {
            const auto& gateway = model_.ipv4_gateways[g];
            check_name(ipv4_gateway_names, "ipv4 gateway", gateway.name,
                       fmt::format("ipv4_gateways[{}].name", g));
            ipv4_gateway_by_name_.emplace(gateway.name, g);
            if (auto vpc = vpc_by_name_.find(gateway.vpc); vpc != vpc_by_name_.end())
                vpc_index_[vpc->second].ipv4_gateways.push_back(g);
        }
    }

    void check_version() {
        if (model_.version != 1)
            fail("version", fmt::format("unsupported version {} (this natctl reads version 1)",
                                        model_.version));
    }

    // ---- lookups --------------------------------------------------------------------------

    // The VPC a gateway belongs to, or an error at `path`.
    std::optional<std::size_t> resolve_vpc(const std::string& name, const std::string& path) {
        if (auto it = vpc_by_name_.find(name); it != vpc_by_name_.end()) return it->second;
        fail(path, fmt::format("vpc {} does not exist", name));
        return std::nullopt;
    }

    // A name of kind `kind` that must exist inside VPC `v`.
    std::optional<std::size_t> resolve_in_vpc(const std::map<std::string, std::size_t>& local,
                                              const std::map<std::string, Place>& anywhere,
                                              std::string_view kind, const std::string& name,
                                              std::size_t v, const std::string& path) {
        if (auto it = local.find(name); it != local.end()) return it->second;
        if (auto other = anywhere.find(name); other != anywhere.end())
            fail(path, fmt::format("{} {} belongs to vpc {}, not to vpc {}", kind, name,
                                   model_.vpcs[other->second.vpc].name, model_.vpcs[v].name));
        else
            fail(path,
                 fmt::format("{} {} does not exist in vpc {}", kind, name, model_.vpcs[v].name));
        return std::nullopt;
    }

    // The VPC whose CIDR holds `ip`, if any.
    std::optional<std::size_t> vpc_containing(Ipv4 ip) const {
        for (std::size_t v = 0; v < model_.vpcs.size(); ++v)
            if (model_.vpcs[v].cidr.contains(ip)) return v;
        return std::nullopt;
    }

    std::optional<std::size_t> eip_with_address(Ipv4 address) const {
        for (std::size_t e = 0; e < model_.eips.size(); ++e)
            if (model_.eips[e].address == address) return e;
        return std::nullopt;
    }

    // ---- VPCs -----------------------------------------------------------------------------

    void check_vpcs() {
        std::map<Ipv4, std::string> private_ip_owner;  // per VPC, reset below
        std::map<Ipv4, std::string> public_ip_owner;
        for (std::size_t v = 0; v < model_.vpcs.size(); ++v) {
            const auto& vpc = model_.vpcs[v];
            auto base = fmt::format("vpcs[{}]", v);
            if (vpc.cidr.prefix < kMinVpcPrefix || vpc.cidr.prefix > kMaxVpcPrefix)
                fail(base + ".cidr",
                     fmt::format("a VPC CIDR must have a prefix length from /{} to /{}; {} has /{}",
                                 kMinVpcPrefix, kMaxVpcPrefix, to_string(vpc.cidr),
                                 vpc.cidr.prefix));
            for (std::size_t other = 0; other < v; ++other) {
                if (model_.vpcs[other].cidr.overlaps(vpc.cidr)) {
                    fail(base + ".cidr",
                         fmt::format("{} overlaps vpc {} ({}, vpcs[{}].cidr); VPC CIDRs must "
                                     "not overlap",
                                     to_string(vpc.cidr), model_.vpcs[other].name,
                                     to_string(model_.vpcs[other].cidr), other));
                    break;
                }
            }
            check_interfaces(v);
            check_vswitches(v);
            private_ip_owner.clear();
            check_instances(v, private_ip_owner, public_ip_owner);
            for (std::size_t t = 0; t < vpc.route_tables.size(); ++t)
                check_routes(v, vpc.route_tables[t].routes,
                             fmt::format("{}.route_tables[{}]", base, t));
            if (vpc.system_route_table)
                check_routes(v, vpc.system_route_table->routes, base + ".system_route_table");
        }
    }

    void check_interfaces(std::size_t v) {
        const auto& vpc = model_.vpcs[v];
        auto base = fmt::format("vpcs[{}].interfaces", v);
        if (vpc.interfaces.empty())
            fail(base, "a VPC needs at least one interface (the gateway host's inside link)");
        for (std::size_t i = 0; i < vpc.interfaces.size(); ++i) {
            const auto& name = vpc.interfaces[i];
            auto path = fmt::format("{}[{}]", base, i);
            if (!valid_ifname(name)) fail(path, ifname_problem(name));
            auto [it, inserted] = inside_interfaces_.emplace(name, std::pair{v, path});
            if (inserted) continue;
            if (it->second.first == v)
                fail(path, fmt::format("interface {} is listed twice (first at {})", name,
                                       it->second.second));
            else
                fail(path,
                     fmt::format("interface {} already belongs to vpc {} ({}); an "
                                 "interface belongs to at most one VPC",
                                 name, model_.vpcs[it->second.first].name, it->second.second));
        }
    }

    void check_vswitches(std::size_t v) {
        const auto& vpc = model_.vpcs[v];
        for (std::size_t i = 0; i < vpc.vswitches.size(); ++i) {
            const auto& vswitch = vpc.vswitches[i];
            auto base = fmt::format("vpcs[{}].vswitches[{}]", v, i);
            if (!vpc.cidr.contains(vswitch.cidr))
                fail(base + ".cidr", fmt::format("{} is not inside the VPC CIDR {}",
                                                 to_string(vswitch.cidr), to_string(vpc.cidr)));
            for (std::size_t other = 0; other < i; ++other) {
                if (vpc.vswitches[other].cidr.overlaps(vswitch.cidr)) {
                    fail(base + ".cidr",
                         fmt::format("{} overlaps vswitch {} ({}, vpcs[{}].vswitches[{}].cidr)",
                                     to_string(vswitch.cidr), vpc.vswitches[other].name,
                                     to_string(vpc.vswitches[other].cidr), v, other));
                    break;
                }
            }
            if (!vswitch.route_table) continue;
            const auto& table = *vswitch.route_table;
            if (vpc.system_route_table && vpc.system_route_table->name == table &&
                !vpc_index_[v].route_tables.contains(table)) {
                fail(base + ".route_table",
                     fmt::format("{} is the system route table of vpc {}; omit route_table to "
                                 "use it",
                                 table, vpc.name));
                continue;
            }
            resolve_in_vpc(vpc_index_[v].route_tables, route_table_anywhere_, "route table", table,
                           v, base + ".route_table");
        }
    }

    void check_instances(std::size_t v, std::map<Ipv4, std::string>& private_ip_owner,
                         std::map<Ipv4, std::string>& public_ip_owner) {
        const auto& vpc = model_.vpcs[v];
        for (std::size_t i = 0; i < vpc.instances.size(); ++i) {
            const auto& instance = vpc.instances[i];
            auto base = fmt::format("vpcs[{}].instances[{}]", v, i);
            auto vswitch_index = resolve_in_vpc(vpc_index_[v].vswitches, vswitch_anywhere_,
                                                "vswitch", instance.vswitch, v, base + ".vswitch");
            if (instance.private_ips.empty())
                fail(base + ".private_ips", "an instance needs at least one private IP");
            for (std::size_t p = 0; p < instance.private_ips.size(); ++p) {
                auto ip = instance.private_ips[p];
                auto path = fmt::format("{}.private_ips[{}]", base, p);
                if (vswitch_index) {
                    const auto& vswitch = vpc.vswitches[*vswitch_index];
                    if (!vswitch.cidr.contains(ip))
                        fail(path, fmt::format("{} is not inside vswitch {} ({})", to_string(ip),
                                               vswitch.name, to_string(vswitch.cidr)));
                    else if (auto reserved = reserved_address(vswitch, ip))
                        fail(path, *reserved);
                }
                auto [it, inserted] = private_ip_owner.emplace(ip, path);
                if (!inserted)
                    fail(path, fmt::format("{} is already used in vpc {} (at {})", to_string(ip),
                                           vpc.name, it->second));
            }
            if (instance.public_ip) check_public_ip(v, *instance.public_ip, base, public_ip_owner);
        }
    }

    void check_public_ip(std::size_t v, Ipv4 ip, const std::string& base,
                         std::map<Ipv4, std::string>& public_ip_owner) {
        auto path = base + ".public_ip";
        if (auto inside = vpc_containing(ip))
            fail(path, fmt::format("{} lies inside vpc {} ({}); a public IP must be outside "
                                   "every VPC CIDR",
                                   to_string(ip), model_.vpcs[*inside].name,
                                   to_string(model_.vpcs[*inside].cidr)));
        auto [it, inserted] = public_ip_owner.emplace(ip, path);
        if (!inserted)
            fail(path, fmt::format("{} is already the public_ip at {}", to_string(ip), it->second));
        if (auto eip = eip_with_address(ip))
            fail(path, fmt::format("{} is the address of eip {} (eips[{}].address); a public IP "
                                   "and an EIP cannot share an address",
                                   to_string(ip), model_.eips[*eip].name, *eip));
        if (!carries_public_addresses(v))
            fail(path, fmt::format("vpc {} has no enabled IPv4 gateway, NAT gateway or "
                                   "direct internet_access, so no outside interface carries {}; "
                                   "add one",
                                   model_.vpcs[v].name, to_string(ip)));
    }

    void check_routes(std::size_t v, const std::vector<Route>& routes, const std::string& table) {
        const auto& vpc = model_.vpcs[v];
        std::map<Cidr, std::string> destinations;
        for (std::size_t r = 0; r < routes.size(); ++r) {
            const auto& route = routes[r];
            auto base = fmt::format("{}.routes[{}]", table, r);
            auto destination_path = base + ".destination";
            if (vpc.cidr.contains(route.destination))
                fail(destination_path,
                     fmt::format("{} lies inside the VPC CIDR {}; traffic inside a VPC is always "
                                 "delivered locally and cannot be routed",
                                 to_string(route.destination), to_string(vpc.cidr)));
            auto [it, inserted] = destinations.emplace(route.destination, destination_path);
            if (!inserted)
                fail(destination_path, fmt::format("duplicate destination {} (first at {})",
                                                   to_string(route.destination), it->second));
            check_next_hop(v, route.next_hop, base + ".next_hop");
        }
    }

    void check_next_hop(std::size_t v, const NextHop& hop, const std::string& path) {
        const auto& vpc = model_.vpcs[v];
        if (const auto* nat = std::get_if<NatGatewayHop>(&hop)) {
            auto hop_path = path + ".nat_gateway";
            auto it = nat_gateway_by_name_.find(nat->name);
            if (it == nat_gateway_by_name_.end())
                fail(hop_path, fmt::format("nat gateway {} does not exist", nat->name));
            else if (model_.nat_gateways[it->second].vpc != vpc.name)
                fail(hop_path,
                     fmt::format("nat gateway {} belongs to vpc {}, not to vpc {}", nat->name,
                                 model_.nat_gateways[it->second].vpc, vpc.name));
        } else if (const auto* igw = std::get_if<Ipv4GatewayHop>(&hop)) {
            auto hop_path = path + ".ipv4_gateway";
            auto it = ipv4_gateway_by_name_.find(igw->name);
            if (it == ipv4_gateway_by_name_.end())
                fail(hop_path, fmt::format("ipv4 gateway {} does not exist", igw->name));
            else if (model_.ipv4_gateways[it->second].vpc != vpc.name)
                fail(hop_path,
                     fmt::format("ipv4 gateway {} belongs to vpc {}, not to vpc {}", igw->name,
                                 model_.ipv4_gateways[it->second].vpc, vpc.name));
            else if (!model_.ipv4_gateways[it->second].is_enabled())
                // A disabled gateway leaves traffic untouched; activation adds its routes.
                fail(hop_path, fmt::format("ipv4 gateway {} is disabled: activate it with the "
                                           "route tables to switch (they get this route), or "
                                           "point the route elsewhere",
                                           igw->name));
        } else if (const auto* instance = std::get_if<InstanceHop>(&hop)) {
            resolve_in_vpc(vpc_index_[v].instances, instance_anywhere_, "instance", instance->name,
                           v, path + ".instance");
        }
    }

    // ---- EIPs -----------------------------------------------------------------------------

    void check_eips() {
        std::map<Ipv4, std::string> addresses;
        for (std::size_t e = 0; e < model_.eips.size(); ++e) {
            const auto& eip = model_.eips[e];
            auto path = fmt::format("eips[{}].address", e);
            auto [it, inserted] = addresses.emplace(eip.address, path);
            if (!inserted)
                fail(path, fmt::format("address {} is already used by another eip (at {})",
                                       to_string(eip.address), it->second));
            if (auto inside = vpc_containing(eip.address))
                fail(path, fmt::format("{} lies inside vpc {} ({}); an EIP must be outside every "
                                       "VPC CIDR",
                                       to_string(eip.address), model_.vpcs[*inside].name,
                                       to_string(model_.vpcs[*inside].cidr)));
            if (eip.bandwidth_mbps &&
                (*eip.bandwidth_mbps < 1 || *eip.bandwidth_mbps > kMaxBandwidthMbps))
                fail(fmt::format("eips[{}].bandwidth_mbps", e),
                     fmt::format("bandwidth_mbps {} must be from 1 to {} (megabits per second "
                                 "in each direction); leave it out for no cap",
                                 *eip.bandwidth_mbps, kMaxBandwidthMbps));
        }
    }

    // What carries a public IP or an instance's EIP (the compiler's public_ip_gateway): an
    // enabled IPv4 gateway, else the VPC's first NAT gateway. A disabled one carries nothing.
    // A private VPC carries none by design, and keeps them for when it is public again.
    bool carries_public_addresses(std::size_t v) const {
        if (model_.vpcs[v].internet_access) return true;
        if (!vpc_index_[v].nat_gateways.empty()) return true;
        for (auto g : vpc_index_[v].ipv4_gateways)
            if (model_.ipv4_gateways[g].is_enabled()) return true;
        return false;
    }

    // An EIP associated with an instance is 1:1 with one private IP of it, like a public_ip;
    // it belongs to one gateway or one instance, and a private IP has at most one.
    void check_eip_associations() {
        std::map<Ipv4, std::size_t> associated;  // private IP → the EIP's index
        for (std::size_t e = 0; e < model_.eips.size(); ++e) {
            const auto& eip = model_.eips[e];
            auto base = fmt::format("eips[{}]", e);
            if (!eip.instance) {
                if (eip.private_ip)
                    fail(base + ".private_ip",
                         "private_ip names the instance address an EIP is associated with; it "
                         "needs instance");
                continue;
            }
            auto path = base + ".instance";
            if (auto gateway = eip_attachment_.find(eip.name); gateway != eip_attachment_.end())
                fail(path, fmt::format("eip {} is associated with nat gateway {} ({}); an EIP "
                                       "is associated with one NAT gateway or one instance",
                                       eip.name, model_.nat_gateways[gateway->second.first].name,
                                       gateway->second.second));
            auto found = instance_anywhere_.find(*eip.instance);
            if (found == instance_anywhere_.end()) {
                fail(path, fmt::format("instance {} does not exist", *eip.instance));
                continue;
            }
            const auto v = found->second.vpc;
            const auto& instance = model_.vpcs[v].instances[found->second.index];
            if (instance.public_ip)
                fail(path, fmt::format("instance {} has public_ip {} (vpcs[{}].instances[{}]."
                                       "public_ip): remove it before associating an EIP",
                                       instance.name, to_string(*instance.public_ip), v,
                                       found->second.index));
            if (!carries_public_addresses(v))
                fail(path, fmt::format("vpc {} has no enabled IPv4 gateway, NAT gateway or "
                                       "direct internet_access, so no outside interface carries "
                                       "{}; add one",
                                       model_.vpcs[v].name, to_string(eip.address)));
            if (instance.private_ips.empty()) continue;
            auto private_ip = eip.private_ip.value_or(instance.private_ips.front());
            auto ip_path = eip.private_ip ? base + ".private_ip" : path;
            if (std::find(instance.private_ips.begin(), instance.private_ips.end(), private_ip) ==
                instance.private_ips.end()) {
                fail(ip_path, fmt::format("{} is not a private IP of instance {}",
                                          to_string(private_ip), instance.name));
                continue;
            }
            auto [other, inserted] = associated.emplace(private_ip, e);
            if (!inserted)
                fail(ip_path, fmt::format("{} of instance {} already has eip {} (eips[{}]); a "
                                          "private IP has at most one EIP",
                                          to_string(private_ip), instance.name,
                                          model_.eips[other->second].name, other->second));
        }
    }

    // ---- gateways (shared) ----------------------------------------------------------------

    void check_outside(const std::string& base, const std::string& interface, Ipv4 upstream) {
        auto interface_path = base + ".outside_interface";
        if (!valid_ifname(interface)) fail(interface_path, ifname_problem(interface));
        if (auto inside = inside_interfaces_.find(interface); inside != inside_interfaces_.end())
            fail(interface_path,
                 fmt::format("interface {} is an inside interface of vpc {} ({}); a gateway's "
                             "outside interface must be a different interface",
                             interface, model_.vpcs[inside->second.first].name,
                             inside->second.second));
        auto upstream_path = base + ".upstream";
        if (auto v = vpc_containing(upstream))
            fail(upstream_path,
                 fmt::format("upstream {} lies inside vpc {} ({}); the upstream is the next hop "
                             "on the outside network",
                             to_string(upstream), model_.vpcs[*v].name,
                             to_string(model_.vpcs[*v].cidr)));
        if (auto eip = eip_with_address(upstream))
            fail(upstream_path,
                 fmt::format("upstream {} is the address of eip {}; the upstream is the router "
                             "on the outside network, not one of the gateway's own addresses",
                             to_string(upstream), model_.eips[*eip].name));
    }

    // ---- NAT gateways ---------------------------------------------------------------------

    void check_nat_gateways() {
        for (std::size_t g = 0; g < model_.nat_gateways.size(); ++g) {
            const auto& gateway = model_.nat_gateways[g];
            auto base = fmt::format("nat_gateways[{}]", g);
            auto v = resolve_vpc(gateway.vpc, base + ".vpc");
            check_outside(base, gateway.outside_interface, gateway.upstream);
            check_gateway_eips(g, base);
            check_gateway_settings(gateway, base);
            if (gateway.effective_mode() == GatewayMode::Masquerade) {
                check_masquerade(gateway, base);
                continue;
            }
            if (!v) continue;
            std::map<Cidr, std::size_t> source_owner;
            for (std::size_t s = 0; s < gateway.snat_entries.size(); ++s)
                check_snat_entry(g, *v, s, source_owner);
            for (std::size_t d = 0; d < gateway.dnat_entries.size(); ++d)
                check_dnat_entry(g, *v, d);
        }
    }

    void check_gateway_eips(std::size_t g, const std::string& base) {
        const auto& gateway = model_.nat_gateways[g];
        std::map<std::string, std::string> listed;
        for (std::size_t i = 0; i < gateway.eips.size(); ++i) {
            const auto& name = gateway.eips[i];
            auto path = fmt::format("{}.eips[{}]", base, i);
            if (!eip_by_name_.contains(name)) {
                fail(path, fmt::format("eip {} does not exist", name));
                continue;
            }
            auto [it, inserted] = listed.emplace(name, path);
            if (!inserted) {
                fail(path, fmt::format("eip {} is listed twice (first at {})", name, it->second));
                continue;
            }
            auto [attachment, first] = eip_attachment_.emplace(name, std::pair{g, path});
            if (!first)
                fail(path, fmt::format("eip {} is already attached to nat gateway {} ({}); an "
                                       "EIP is attached to at most one NAT gateway",
                                       name, model_.nat_gateways[attachment->second.first].name,
                                       attachment->second.second));
        }
    }

    void check_gateway_settings(const NatGateway& gateway, const std::string& base) {
        auto range = gateway.port_range();
        auto range_size = std::uint32_t(range.hi) - range.lo + 1;
        if (gateway.snat_port_range && (range.lo == 0 || range.hi < range.lo))
            fail(base + ".snat_port_range",
                 fmt::format("snat_port_range {} must be lo-hi with 1 <= lo <= hi <= 65535",
                             to_string(range)));
        else if (gateway.port_budget_per_eip &&
                 (*gateway.port_budget_per_eip < 1 || *gateway.port_budget_per_eip > range_size))
            fail(base + ".port_budget_per_eip",
                 fmt::format("port_budget_per_eip {} must be from 1 to {}, the number of ports in "
                             "snat_port_range {}",
                             *gateway.port_budget_per_eip, range_size, to_string(range)));
        else if (!gateway.port_budget_per_eip && gateway.port_budget() > range_size)
            // A budget the range can never reach would let ports run out inside the kernel,
            // silently, which is exactly what the budget exists to prevent.
            fail(base + ".snat_port_range",
                 fmt::format("snat_port_range {} holds {} ports, fewer than the default "
                             "port_budget_per_eip {}; set port_budget_per_eip to at most {}",
                             to_string(range), range_size, gateway.port_budget(), range_size));
        if (gateway.max_ports_per_instance && *gateway.max_ports_per_instance < 1)
            fail(base + ".max_ports_per_instance",
                 "max_ports_per_instance must be at least 1 (omit it for no limit)");
    }

    void check_masquerade(const NatGateway& gateway, const std::string& base) {
        if (!gateway.eips.empty())
            fail(base + ".eips",
                 "a masquerade gateway uses the outside interface's own address and takes no "
                 "EIPs; remove the EIPs or set mode to snat");
        if (!gateway.snat_entries.empty())
            fail(base + ".snat_entries",
                 "a masquerade gateway translates its whole VPC and has no SNAT entries; remove "
                 "them or set mode to snat");
        if (!gateway.dnat_entries.empty())
            fail(base + ".dnat_entries",
                 "a masquerade gateway has no EIPs to publish DNAT entries on; remove them or "
                 "set mode to snat");
    }

    // Checks an EIP reference of an entry of gateway g; true when it is attached to g.
    bool check_entry_eip(std::size_t g, const std::string& name, const std::string& path) {
        auto problem = entry_eip_problem(model_.nat_gateways[g], name, eip_by_name_.contains(name));
        if (problem) fail(path, std::move(*problem));
        return !problem;
    }

    const DnatEntry& dnat(EntryRef ref) const {
        return model_.nat_gateways[ref.first].dnat_entries[ref.second];
    }

    static std::string dnat_path(EntryRef ref) {
        return fmt::format("nat_gateways[{}].dnat_entries[{}]", ref.first, ref.second);
    }

    // Source prefixes of an SNAT entry (instance: its private IPs as /32s).
    std::vector<Cidr> source_prefixes(std::size_t v, const SnatSource& source) const {
        const auto& vpc = model_.vpcs[v];
        const auto& index = vpc_index_[v];
        if (const auto* vpc_source = std::get_if<VpcSource>(&source))
            return vpc_source->name == vpc.name ? std::vector{vpc.cidr} : std::vector<Cidr>{};
        if (const auto* vswitch = std::get_if<VSwitchSource>(&source)) {
            auto it = index.vswitches.find(vswitch->name);
            if (it == index.vswitches.end()) return {};
            return {vpc.vswitches[it->second].cidr};
        }
        if (const auto* instance = std::get_if<InstanceSource>(&source)) {
            auto it = index.instances.find(instance->name);
            if (it == index.instances.end()) return {};
            std::vector<Cidr> prefixes;
            for (auto ip : vpc.instances[it->second].private_ips)
                prefixes.push_back(Cidr{ip, 32});
            return prefixes;
        }
        return {std::get<CidrSource>(source).cidr};
    }

    void check_snat_source(std::size_t v, const SnatSource& source, const std::string& path) {
        const auto& vpc = model_.vpcs[v];
        if (const auto* vpc_source = std::get_if<VpcSource>(&source)) {
            if (vpc_source->name != vpc.name)
                fail(path + ".vpc",
                     fmt::format("vpc {} is not the gateway's vpc {}", vpc_source->name, vpc.name));
        } else if (const auto* vswitch = std::get_if<VSwitchSource>(&source)) {
            resolve_in_vpc(vpc_index_[v].vswitches, vswitch_anywhere_, "vswitch", vswitch->name, v,
                           path + ".vswitch");
        } else if (const auto* instance = std::get_if<InstanceSource>(&source)) {
            resolve_in_vpc(vpc_index_[v].instances, instance_anywhere_, "instance", instance->name,
                           v, path + ".instance");
        } else {
            const auto& cidr = std::get<CidrSource>(source).cidr;
            if (!vpc.cidr.contains(cidr))
                fail(path + ".cidr",
                     fmt::format("{} is not inside the VPC CIDR {} of the gateway's vpc {}",
                                 to_string(cidr), to_string(vpc.cidr), vpc.name));
        }
    }

    // source_owner: source prefix → the first SNAT entry of this gateway that has it.
    void check_snat_entry(std::size_t g, std::size_t v, std::size_t s,
                          std::map<Cidr, std::size_t>& source_owner) {
        const auto& gateway = model_.nat_gateways[g];
        const auto& entry = gateway.snat_entries[s];
        auto base = fmt::format("nat_gateways[{}].snat_entries[{}]", g, s);
        check_snat_source(v, entry.source, base + ".source");

        if (entry.eips.empty()) fail(base + ".eips", "an SNAT entry needs at least one EIP");
        std::map<std::string, std::string> listed;
        for (std::size_t i = 0; i < entry.eips.size(); ++i) {
            const auto& name = entry.eips[i];
            auto path = fmt::format("{}.eips[{}]", base, i);
            auto [it, inserted] = listed.emplace(name, path);
            if (!inserted) {
                fail(path, fmt::format("eip {} is listed twice (first at {})", name, it->second));
                continue;
            }
            if (!check_entry_eip(g, name, path)) continue;
            if (auto mapping = first_ip_mapping_of_eip_.find(name);
                mapping != first_ip_mapping_of_eip_.end())
                fail(path,
                     fmt::format("{} is used by IP mapping {} ({}); an IP-mapping EIP "
                                 "serves no other entry",
                                 name, dnat(mapping->second).name, dnat_path(mapping->second)));
        }

        // Names the earliest other entry that shares a prefix.
        std::optional<std::pair<std::size_t, Cidr>> conflict;
        auto mine = source_prefixes(v, entry.source);
        for (const auto& prefix : mine) {
            auto [owner, first] = source_owner.emplace(prefix, s);
            if (!first && owner->second != s && (!conflict || owner->second < conflict->first))
                conflict = std::pair{owner->second, prefix};
        }
        if (conflict)
            fail(base + ".source",
                 fmt::format("source prefix {} is already the source of SNAT entry {} "
                             "(nat_gateways[{}].snat_entries[{}]); a source may sit in only one "
                             "SNAT entry at the same prefix",
                             to_string(conflict->second),
                             gateway.snat_entries[conflict->first].name, g, conflict->first));
    }

    void check_dnat_entry(std::size_t g, std::size_t v, std::size_t d) {
        const auto& gateway = model_.nat_gateways[g];
        const auto& entry = gateway.dnat_entries[d];
        const EntryRef self{g, d};
        auto base = dnat_path(self);
        auto eip_attached = check_entry_eip(g, entry.eip, base + ".eip");
        bool ports_ok = check_dnat_ports(entry, base, errors_);
        check_dnat_private_ip(v, entry, base);

        auto first_user = first_dnat_of_eip_.at(entry.eip);
        auto first_mapping = first_ip_mapping_of_eip_.find(entry.eip);
        if (!entry.ip_mapping() && first_mapping != first_ip_mapping_of_eip_.end() &&
            first_mapping->second < self)
            fail(base + ".eip",
                 fmt::format("{} is used by IP mapping {} ({}); an IP-mapping EIP serves no "
                             "other entry",
                             entry.eip, dnat(first_mapping->second).name,
                             dnat_path(first_mapping->second)));
        else if (entry.ip_mapping() && first_user < self && dnat(first_user).ip_mapping())
            fail(base + ".eip",
                 fmt::format("{} is used by IP mapping {} ({}); an IP-mapping EIP serves no "
                             "other entry",
                             entry.eip, dnat(first_user).name, dnat_path(first_user)));
        else if (entry.ip_mapping() && first_user < self)
            fail(base + ".eip",
                 fmt::format("{} is already used by DNAT entry {} ({}); an IP mapping needs an "
                             "EIP that no other entry uses",
                             entry.eip, dnat(first_user).name, dnat_path(first_user)));

        if (entry.ip_mapping()) {
            auto first = first_ip_mapping_of_private_ip_.at(entry.private_ip);
            if (first < self)
                fail(base + ".private_ip",
                     fmt::format("{} already has IP mapping {} ({}); a private IP has at most "
                                 "one IP mapping",
                                 to_string(entry.private_ip), dnat(first).name, dnat_path(first)));
            return;
        }
        if (!ports_ok || !entry.public_port) return;
        check_public_port_unique(self, entry);
        if (eip_attached) check_snat_port_collision(g, entry, base);
    }

    void check_public_port_unique(EntryRef self, const DnatEntry& entry) {
        const auto& ports = *entry.public_port;
        auto& taken = mapped_ports_[{entry.eip, entry.protocol}];
        // The accepted ranges are disjoint, so the overlapping ones are neighbours of `lo`.
        std::optional<std::pair<std::uint16_t, std::pair<std::uint16_t, EntryRef>>> overlap;
        auto after = taken.upper_bound(ports.lo);
        if (after != taken.begin() && std::prev(after)->second.first >= ports.lo)
            overlap = *std::prev(after);
        else if (after != taken.end() && after->first <= ports.hi)
            overlap = *after;
        if (!overlap) {
            taken.emplace(ports.lo, std::pair{ports.hi, self});
            return;
        }
        auto other = overlap->second.second;
        PortRange theirs{overlap->first, overlap->second.first};
        fail(dnat_path(self) + ".public_port",
             fmt::format("{} port {} of {} is already mapped by DNAT entry {} ({}, public_port "
                         "{}); (eip, protocol, public port) must be unique",
                         protocol_name(entry.protocol), std::max(ports.lo, theirs.lo), entry.eip,
                         dnat(other).name, dnat_path(other), port_text(theirs)));
    }

    void check_dnat_private_ip(std::size_t v, const DnatEntry& entry, const std::string& base) {
        if (auto problem = dnat_private_ip_problem(model_.vpcs[v], entry.private_ip))
            fail(base + ".private_ip", std::move(*problem));
    }

    void check_snat_port_collision(std::size_t g, const DnatEntry& entry, const std::string& base) {
        if (auto collision = snat_port_collision(model_.nat_gateways[g], entry))
            fail(base + ".public_port", std::move(*collision));
    }

    // ---- IPv4 gateways --------------------------------------------------------------------

    void check_ipv4_gateways() {
        for (std::size_t v = 0; v < model_.vpcs.size(); ++v)
            if (const auto* direct = model_.vpcs[v].direct_internet())
                check_outside(fmt::format("vpcs[{}].internet_access", v), direct->outside_interface,
                              direct->upstream);
        std::map<std::size_t, std::size_t> gateway_of_vpc;
        for (std::size_t g = 0; g < model_.ipv4_gateways.size(); ++g) {
            const auto& gateway = model_.ipv4_gateways[g];
            auto base = fmt::format("ipv4_gateways[{}]", g);
            auto v = resolve_vpc(gateway.vpc, base + ".vpc");
            if (v) {
                auto [it, first] = gateway_of_vpc.emplace(*v, g);
                if (!first)
                    fail(base + ".vpc",
                         fmt::format("vpc {} already has IPv4 gateway {} (ipv4_gateways[{}]); a "
                                     "VPC has at most one",
                                     gateway.vpc, model_.ipv4_gateways[it->second].name,
                                     it->second));
            }
            check_outside(base, gateway.outside_interface, gateway.upstream);
            if (!v) continue;
            const auto& vpc = model_.vpcs[*v];
            if (gateway.is_enabled() && vpc.is_private())
                fail(fmt::format("vpcs[{}].internet_access", *v),
                     fmt::format("vpc {} is private (no internet path), but its ipv4 gateway {} "
                                 "({}) is enabled: remove internet_access, or disable the "
                                 "gateway",
                                 vpc.name, gateway.name, base));
            std::map<Cidr, std::string> destinations;
            for (std::size_t r = 0; r < gateway.gateway_route_table.size(); ++r) {
                const auto& route = gateway.gateway_route_table[r];
                auto route_base = fmt::format("{}.gateway_route_table[{}]", base, r);
                auto destination_path = route_base + ".destination";
                if (!vpc.cidr.contains(route.destination))
                    fail(destination_path,
                         fmt::format("{} is not inside the VPC CIDR {}; the gateway route table "
                                     "only steers traffic to addresses of its VPC",
                                     to_string(route.destination), to_string(vpc.cidr)));
                auto [it, inserted] = destinations.emplace(route.destination, destination_path);
                if (!inserted)
                    fail(destination_path, fmt::format("duplicate destination {} (first at {})",
                                                       to_string(route.destination), it->second));
                if (const auto* instance = std::get_if<InstanceHop>(&route.next_hop))
                    resolve_in_vpc(vpc_index_[*v].instances, instance_anywhere_, "instance",
                                   instance->name, *v, route_base + ".next_hop.instance");
            }
        }
    }

    // ---- limits ---------------------------------------------------------------------------

    void check_limits() {
        if (model_.limits) {
            const auto& limits = *model_.limits;
            for (auto [value, name] :
                 {std::pair{&limits.nat_gateways_per_vpc, "nat_gateways_per_vpc"},
                  std::pair{&limits.eips_per_nat_gateway, "eips_per_nat_gateway"},
                  std::pair{&limits.snat_entries_per_nat_gateway, "snat_entries_per_nat_gateway"},
                  std::pair{&limits.dnat_entries_per_nat_gateway,
                            "dnat_entries_per_nat_gateway"}}) {
                if (*value && **value < 1)
                    fail(fmt::format("limits.{}", name),
                         fmt::format("limits.{} must be at least 1", name));
            }
        }
        auto limits = model_.effective_limits();
        for (std::size_t v = 0; v < vpc_index_.size(); ++v) {
            const auto& gateways = vpc_index_[v].nat_gateways;
            if (gateways.size() <= limits.gateways_per_vpc()) continue;
            auto first_excess = gateways[limits.gateways_per_vpc()];
            fail(fmt::format("nat_gateways[{}].vpc", first_excess),
                 fmt::format("{} NAT gateways in vpc {} exceed limits.nat_gateways_per_vpc ({}); "
                             "raise the limit or remove NAT gateways",
                             gateways.size(), model_.vpcs[v].name, limits.gateways_per_vpc()));
        }
        for (std::size_t g = 0; g < model_.nat_gateways.size(); ++g) {
            const auto& gateway = model_.nat_gateways[g];
            auto base = fmt::format("nat_gateways[{}]", g);
            if (gateway.eips.size() > limits.eips_per_gateway())
                fail(base + ".eips",
                     fmt::format("{} EIPs exceed limits.eips_per_nat_gateway ({}); raise the "
                                 "limit or remove EIPs",
                                 gateway.eips.size(), limits.eips_per_gateway()));
            if (gateway.snat_entries.size() > limits.snat_per_gateway())
                fail(base + ".snat_entries",
                     fmt::format("{} SNAT entries exceed limits.snat_entries_per_nat_gateway ({}); "
                                 "raise the limit or remove SNAT entries",
                                 gateway.snat_entries.size(), limits.snat_per_gateway()));
            if (gateway.dnat_entries.size() > limits.dnat_per_gateway())
                fail(base + ".dnat_entries",
                     fmt::format("{} DNAT entries exceed limits.dnat_entries_per_nat_gateway ({}); "
                                 "raise the limit or remove DNAT entries",
                                 gateway.dnat_entries.size(), limits.dnat_per_gateway()));
        }
    }
};

}  // namespace

Errors validate(const Model& model) {
    return Validator(model).run();
}

namespace {

bool at_or_under(std::string_view path, std::string_view root) {
    if (!path.starts_with(root)) return false;
    if (path.size() == root.size() || root.empty()) return true;
    return path[root.size()] == '.' || path[root.size()] == '[';
}

// Whether `reason` cites `path` (validate() names the other party of a conflict by its path:
// "duplicate destination 0.0.0.0/0 (first at vpcs[0].route_tables[0].routes[0].destination)").
bool cites(std::string_view reason, std::string_view path) {
    auto is_path_char = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ']';
    };
    for (auto at = reason.find(path); at != std::string_view::npos;
         at = reason.find(path, at + 1)) {
        auto after = at + path.size();
        bool starts = at == 0 || !is_path_char(reason[at - 1]);
        bool ends =
            after == reason.size() ||
            !(std::isalnum(static_cast<unsigned char>(reason[after])) || reason[after] == '_');
        if (starts && ends) return true;
    }
    return false;
}

}  // namespace

Errors document_errors(const ReadResult& read) {
    Errors all = read.errors;
    std::vector<std::string_view> placeholders;
    for (const auto& error : read.errors)
        if (!error.path.empty()) placeholders.push_back(error.path);
    for (const auto& path : read.unread)
        placeholders.push_back(path);
    // A document that is not even an object, or whose version is unknown, has nothing that
    // could be judged further.
    bool judgeable = std::none_of(read.errors.begin(), read.errors.end(), [](const Error& e) {
        return e.path.empty() || e.path == "version";
    });
    if (judgeable) {
        for (auto& error : validate(read.model)) {
            // Findings about a placeholder (a value that could not be read, left at its
            // default) or citing one would be about something the document does not say.
            bool about_placeholder =
                std::any_of(placeholders.begin(), placeholders.end(), [&](std::string_view path) {
                    return at_or_under(error.path, path) || cites(error.reason, path);
                });
            if (!about_placeholder) all.push_back(std::move(error));
        }
    }
    std::stable_sort(all.begin(), all.end(), [](const Error& a, const Error& b) {
        return order_key(a.path) < order_key(b.path);
    });
    return all;
}

std::expected<Model, Errors> load_model(std::string_view text) {
    auto read = read_model(text);
    if (!read) return std::unexpected(std::move(read.error()));
    if (!read->errors.empty()) return std::unexpected(document_errors(*read));
    auto errors = validate(read->model);
    if (!errors.empty()) return std::unexpected(std::move(errors));
    return std::move(read->model);
}

DnatChangeIndex::DnatChangeIndex(const Model& model, bool known_valid) {
    if (!known_valid && !validate(model).empty()) return;
    usable_ = true;
    for (std::size_t v = 0; v < model.vpcs.size(); ++v)
        vpc_by_name_.emplace(model.vpcs[v].name, v);
    for (const auto& eip : model.eips)
        eip_names_.insert(eip.name);
    for (const auto& gateway : model.nat_gateways)
        for (const auto& entry : gateway.dnat_entries) {
            dnat_name_hashes_.insert(std::hash<std::string>{}(entry.name));
            ++entries_on_eip_[entry.eip];
            if (entry.ip_mapping()) {
                ip_mapping_eips_.insert(entry.eip);
                ip_mapping_private_ips_.insert(entry.private_ip.value);
            }
            add_public_ports(entry, false);
        }
    for (auto& [key, ranges] : public_ports_)
        std::sort(ranges.begin(), ranges.end());
}

namespace {
bool lo_less(const std::pair<std::uint16_t, std::uint16_t>& range, std::uint16_t lo) {
    return range.first < lo;
}
}  // namespace

void DnatChangeIndex::add_public_ports(const DnatEntry& entry, bool sorted) {
    if (!entry.public_port) return;
    auto& ranges = public_ports_[{entry.eip, entry.protocol}];
    const auto lo = entry.public_port->lo;
    if (!sorted) {
        ranges.emplace_back(lo, entry.public_port->hi);
        return;
    }
    auto at = std::lower_bound(ranges.begin(), ranges.end(), lo, lo_less);
    if (at == ranges.end() || at->first != lo) ranges.insert(at, {lo, entry.public_port->hi});
}

std::size_t DnatChangeIndex::entries_on_eip(const std::string& eip) const {
    auto found = entries_on_eip_.find(eip);
    return found == entries_on_eip_.end() ? 0 : found->second;
}

void DnatChangeIndex::apply(const DnatEntryChange& change) {
    if (const auto& entry = change.before) {
        if (auto name = dnat_name_hashes_.find(std::hash<std::string>{}(entry->name));
            name != dnat_name_hashes_.end())
            dnat_name_hashes_.erase(name);
        if (auto count = entries_on_eip_.find(entry->eip);
            count != entries_on_eip_.end() && --count->second == 0)
            entries_on_eip_.erase(count);
        // A valid model has at most one IP mapping per EIP.
        if (entry->ip_mapping()) {
            ip_mapping_eips_.erase(entry->eip);
            if (auto ip = ip_mapping_private_ips_.find(entry->private_ip.value);
                ip != ip_mapping_private_ips_.end())
                ip_mapping_private_ips_.erase(ip);
        }
        if (entry->public_port)
            if (auto ports = public_ports_.find({entry->eip, entry->protocol});
                ports != public_ports_.end()) {
                auto& ranges = ports->second;
                auto at =
                    std::lower_bound(ranges.begin(), ranges.end(), entry->public_port->lo, lo_less);
                if (at != ranges.end() && at->first == entry->public_port->lo) ranges.erase(at);
                if (ranges.empty()) public_ports_.erase(ports);
            }
    }
    if (const auto& entry = change.after) {
        dnat_name_hashes_.insert(std::hash<std::string>{}(entry->name));
        ++entries_on_eip_[entry->eip];
        if (entry->ip_mapping()) {
            ip_mapping_eips_.insert(entry->eip);
            ip_mapping_private_ips_.insert(entry->private_ip.value);
        }
        add_public_ports(*entry, true);
    }
}

// Applies, to the one entry a change writes, the per-entry rules validate() applies
// (check_dnat_ports, dnat_private_ip_problem, entry_eip_problem, snat_port_collision: the
// same functions), and the rules an entry takes part in with others (unique names, limits,
// unique public ports, an IP-mapping EIP and private IP serving no other entry) against the
// index, given that the model before the change is valid: anything else in the document is
// unchanged and stays valid.
bool DnatChangeIndex::accepts(const Model& model, const DnatEntryChange& change) const {
    if (!usable_ || change.gateway >= model.nat_gateways.size()) return false;
    const auto& gateway = model.nat_gateways[change.gateway];
    if (change.before) {
        if (change.position >= gateway.dnat_entries.size() ||
            gateway.dnat_entries[change.position] != *change.before)
            return false;
    }
    // Removing an entry from a valid model leaves it valid: nothing refers to a DNAT entry,
    // and every rule it took part in only gets fewer parties.
    if (!change.after) return change.before.has_value();
    const auto& entry = *change.after;

    if (name_problem(entry.name)) return false;
    if (change.before) {
        if (change.before->name != entry.name) return false;
    } else {
        if (change.position != gateway.dnat_entries.size() ||
            dnat_name_hashes_.contains(std::hash<std::string>{}(entry.name)))
            return false;
        if (gateway.dnat_entries.size() + 1 > model.effective_limits().dnat_per_gateway())
            return false;
    }
    if (gateway.effective_mode() == GatewayMode::Masquerade) return false;
    auto vpc = vpc_by_name_.find(gateway.vpc);
    if (vpc == vpc_by_name_.end()) return false;

    Errors problems;
    const bool ports_ok = check_dnat_ports(entry, {}, problems);
    if (!ports_ok || !problems.empty()) return false;
    if (entry_eip_problem(gateway, entry.eip, eip_names_.contains(entry.eip))) return false;
    if (dnat_private_ip_problem(model.vpcs[vpc->second], entry.private_ip)) return false;

    // What the entry being replaced held is given up by the change.
    const bool replaces_on_eip = change.before && change.before->eip == entry.eip;
    if (entry.ip_mapping()) {
        // The EIP serves this entry alone, and the private IP has no other IP mapping.
        if (entries_on_eip(entry.eip) != (replaces_on_eip ? 1u : 0u)) return false;
        if (snat_entry_using(gateway, entry.eip)) return false;
        const bool replaces_mapping_of_ip = change.before && change.before->ip_mapping() &&
                                            change.before->private_ip == entry.private_ip;
        if (ip_mapping_private_ips_.count(entry.private_ip.value) !=
            (replaces_mapping_of_ip ? 1u : 0u))
            return false;
        return true;
    }
    if (ip_mapping_eips_.contains(entry.eip) && !(replaces_on_eip && change.before->ip_mapping()))
        return false;

    const auto& ports = *entry.public_port;
    if (auto taken = public_ports_.find({entry.eip, entry.protocol});
        taken != public_ports_.end()) {
        const bool replacing_here = replaces_on_eip && !change.before->ip_mapping() &&
                                    change.before->protocol == entry.protocol;
        auto mine = [&](PortRanges::const_iterator it) {
            return replacing_here && it->first == change.before->public_port->lo;
        };
        auto after =
            std::upper_bound(taken->second.begin(), taken->second.end(), ports.hi,
                             [](std::uint16_t hi, const auto& range) { return hi < range.first; });
        // Ranges are disjoint: only the last ones starting at or below hi can overlap.
        while (after != taken->second.begin()) {
            auto candidate = std::prev(after);
            if (candidate->second < ports.lo) break;
            if (!mine(candidate)) return false;
            after = candidate;
        }
    }
    return !snat_port_collision(gateway, entry);
}

bool DnatChangeIndex::accepts_without_dnat(const Model& model, const Model& light_after) const {
    if (!usable_ || light_after.nat_gateways.size() != model.nat_gateways.size()) return false;
    if (light_after.version != model.version || light_after.vpcs != model.vpcs ||
        light_after.ipv4_gateways != model.ipv4_gateways || light_after.limits != model.limits)
        return false;
    for (std::size_t g = 0; g < model.nat_gateways.size(); ++g) {
        const auto& before = model.nat_gateways[g];
        const auto& after = light_after.nat_gateways[g];
        if (!after.dnat_entries.empty()) return false;
        auto before_fields = own_fields(before);
        auto after_fields = own_fields(after);
        before_fields.eips.clear();
        after_fields.eips.clear();
        if (before_fields != after_fields) return false;
        // An EIP DNAT entries use stays what it is, attached to the same gateway.
        for (const auto& eip : before.eips) {
            if (entries_on_eip(eip) == 0) continue;
            if (std::find(after.eips.begin(), after.eips.end(), eip) == after.eips.end())
                return false;
            auto was = std::find_if(model.eips.begin(), model.eips.end(),
                                    [&](const Eip& e) { return e.name == eip; });
            auto now = std::find_if(light_after.eips.begin(), light_after.eips.end(),
                                    [&](const Eip& e) { return e.name == eip; });
            if (was == model.eips.end() || now == light_after.eips.end() || *was != *now)
                return false;
        }
    }
    if (!validate(light_after).empty()) return false;
    for (const auto& gateway : light_after.nat_gateways) {
        const auto range = gateway.port_range();
        for (const auto& snat : gateway.snat_entries)
            for (const auto& eip : snat.eips) {
                if (ip_mapping_eips_.contains(eip)) return false;
                for (auto protocol : {DnatProtocol::Tcp, DnatProtocol::Udp}) {
                    auto taken = public_ports_.find({eip, protocol});
                    if (taken == public_ports_.end()) continue;
                    // Disjoint and sorted by lo: of the ranges starting at or below the
                    // range's hi, the last one reaches highest.
                    auto above = std::upper_bound(
                        taken->second.begin(), taken->second.end(), range.hi,
                        [](std::uint16_t hi, const auto& ports) { return hi < ports.first; });
                    if (above != taken->second.begin() && std::prev(above)->second >= range.lo)
                        return false;
                }
            }
    }
    return true;
}

void DnatChangeIndex::apply_without_dnat(const Model& light_after) {
    eip_names_.clear();
    for (const auto& eip : light_after.eips)
        eip_names_.insert(eip.name);
}

}  // namespace natctl::model
