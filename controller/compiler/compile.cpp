#include "controller/compiler/compile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "controller/compiler/bandwidth.hpp"
#include "controller/compiler/budget.hpp"
#include "controller/compiler/flatten.hpp"
#include "controller/compiler/ids.hpp"
#include "controller/compiler/incremental.hpp"
#include "controller/compiler/rules.hpp"

namespace natctl::compiler {
namespace {

using kernel::Element;
using kernel::FieldType;
using kernel::Scalar;

constexpr std::uint32_t kMainTable = 254;
constexpr std::uint32_t kUnreachableMetric = 4294967295u;
constexpr std::uint32_t kPriorityReturn = 10000;
constexpr std::uint32_t kPriorityVpcLocal = 10100;
constexpr std::uint32_t kPriorityIngress = 10200;
constexpr std::uint32_t kPriorityVSwitch = 10300;

kernel::Prefix prefix_of(const model::Cidr& cidr) {
    return {cidr.first(), static_cast<std::uint8_t>(cidr.prefix)};
}

// Elements keyed by their key; the first insertion of a key wins, which is how the
// compiler expresses priorities (insert the stronger claim first).
// Collected in insertion order and sorted once by take() (a stable sort keeps the first of
// equal keys in front): the same result as a map keyed by key, without a node and a key
// copy per element.
class ElementMap {
  public:
    void insert(Element element) {
        elements_.push_back(std::move(element));
        // Sets that collect one element per entry for few keys (dnat_open, return_marks)
        // would otherwise hold every duplicate until take(): compact as the list doubles.
        if (elements_.size() >= 2 * compacted_ && elements_.size() >= 1024) compact();
    }
    std::vector<Element> take() {
        compact();
        // The desired table outlives the compile (the reconciler keeps it as its committed
        // copy): no growth slack in a 100k-element set.
        elements_.shrink_to_fit();
        return std::move(elements_);
    }

  private:
    void compact() {
        std::stable_sort(elements_.begin(), elements_.end(),
                         [](const Element& a, const Element& b) { return a.key < b.key; });
        auto last = std::unique(elements_.begin(), elements_.end(),
                                [](const Element& a, const Element& b) { return a.key == b.key; });
        elements_.erase(last, elements_.end());
        compacted_ = elements_.size();
    }

    std::vector<Element> elements_;
    std::size_t compacted_ = 0;
};

Element key_element(kernel::FieldList key) {
    return Element{std::move(key), {}, {}, {}, std::nullopt};
}
Element map_element(kernel::FieldList key, kernel::FieldList data) {
    return Element{std::move(key), {}, std::move(data), {}, std::nullopt};
}

// Prefixes that no other prefix of the list contains, sorted: the elements of a plain
// interval set that must not hold overlapping elements.
std::vector<model::Cidr> outermost(std::vector<model::Cidr> cidrs) {
    std::sort(cidrs.begin(), cidrs.end(), [](const model::Cidr& a, const model::Cidr& b) {
        if (a.first() != b.first()) return a.first() < b.first();
        return a.prefix < b.prefix;
    });
    std::vector<model::Cidr> out;
    for (const auto& cidr : cidrs)
        if (out.empty() || !out.back().contains(cidr)) out.push_back(cidr);
    return out;
}

kernel::Set make_set(std::string name, std::vector<FieldType> key, std::vector<FieldType> data,
                     bool interval) {
    kernel::Set set;
    set.name = std::move(name);
    set.key = std::move(key);
    set.data = std::move(data);
    set.interval = interval;
    return set;
}

struct Gateway {
    std::string name;
    std::string path;
    std::string outside;
    std::uint32_t upstream = 0;
    std::uint32_t realm = 0;
    std::uint32_t return_table = 0;
    std::uint32_t return_mark() const { return kernel::kReturnMarkBase | realm; }
};

class Compiler {
  public:
    explicit Compiler(const model::Model& model) : model_(model) { assign_identities(); }

    kernel::DesiredState run() {
        kernel::DesiredState state;
        state.table.sets = build_sets();
        state.table.chains = build_chains();
        build_routing();
        state.rules = sorted_unique(std::move(rules_));
        state.routes = sorted_unique(std::move(routes_));
        state.addresses = sorted_unique(std::move(addresses_));
        return state;
    }

    std::vector<kernel::Chain> chains() const { return build_chains(); }
    std::uint32_t nat_gateway_return_mark(std::size_t index) const {
        return nat_.at(index).return_mark();
    }

  private:
    template <typename T>
    static std::vector<T> sorted_unique(std::vector<T> items) {
        std::sort(items.begin(), items.end());
        items.erase(std::unique(items.begin(), items.end()), items.end());
        return items;
    }

    static std::string system_table_name(const model::Vpc& vpc) {
        if (vpc.system_route_table && vpc.system_route_table->name)
            return *vpc.system_route_table->name;
        return vpc.name + "/system";
    }

    void assign_identities() {
        for (std::size_t index = 0; index < model_.vpcs.size(); ++index)
            vpc_index_.emplace(model_.vpcs[index].name, index);
        for (const auto& eip : model_.eips)
            eip_address_.emplace(eip.name, eip.address.value);

        std::vector<std::string> realm_texts;
        std::vector<std::string> table_texts;
        for (const auto& gateway : model_.nat_gateways) {
            realm_texts.push_back("gw:" + gateway.name);
            table_texts.push_back("ret:" + gateway.name);
        }
        for (const auto& gateway : model_.ipv4_gateways) {
            realm_texts.push_back("gw:" + gateway.name);
            table_texts.push_back("ret:" + gateway.name);
            table_texts.push_back("in:" + gateway.name);
        }
        for (const auto& vpc : model_.vpcs) {
            for (const auto& table : vpc.route_tables)
                table_texts.push_back("rt:" + table.name);
            table_texts.push_back("rt:" + system_table_name(vpc));
            if (vpc.direct_internet()) {
                // A VPC's name cannot collide with a gateway's: the prefix differs.
                realm_texts.push_back("direct:" + vpc.name);
                table_texts.push_back("ret-direct:" + vpc.name);
            }
        }
        const auto realms = assign_hashed_ids(realm_texts, kRealmBase, kRealmCount);
        const auto table_ids =
            assign_hashed_ids(table_texts, kernel::kRouteTableMin, kTableIdCount);

        std::size_t next_realm = 0;
        std::size_t next_table = 0;
        for (std::size_t index = 0; index < model_.nat_gateways.size(); ++index) {
            const auto& gateway = model_.nat_gateways[index];
            nat_index_.emplace(gateway.name, index);
            nat_.push_back({gateway.name, fmt::format("nat_gateways[{}]", index),
                            gateway.outside_interface, gateway.upstream.value, realms[next_realm++],
                            table_ids[next_table++]});
        }
        for (std::size_t index = 0; index < model_.ipv4_gateways.size(); ++index) {
            const auto& gateway = model_.ipv4_gateways[index];
            igw_index_.emplace(gateway.name, index);
            igw_.push_back({gateway.name, fmt::format("ipv4_gateways[{}]", index),
                            gateway.outside_interface, gateway.upstream.value, realms[next_realm++],
                            table_ids[next_table++]});
            ingress_table_.push_back(table_ids[next_table++]);
        }
        for (std::size_t index = 0; index < model_.vpcs.size(); ++index) {
            const auto& vpc = model_.vpcs[index];
            std::unordered_map<std::string, std::uint32_t> ids;
            for (const auto& table : vpc.route_tables)
                ids.emplace(table.name, table_ids[next_table++]);
            route_table_ids_.push_back(std::move(ids));
            system_table_ids_.push_back(table_ids[next_table++]);
            std::optional<Gateway> direct;
            if (const auto* access = vpc.direct_internet())
                direct = Gateway{vpc.name,
                                 fmt::format("vpcs[{}].internet_access", index),
                                 access->outside_interface,
                                 access->upstream.value,
                                 realms[next_realm++],
                                 table_ids[next_table++]};
            direct_.push_back(std::move(direct));
        }
    }

    // ---- lookups by name ----

    std::optional<std::size_t> vpc_of(const std::string& name) const {
        auto found = vpc_index_.find(name);
        if (found == vpc_index_.end()) return std::nullopt;
        return found->second;
    }
    std::optional<std::uint32_t> eip(const std::string& name) const {
        auto found = eip_address_.find(name);
        if (found == eip_address_.end()) return std::nullopt;
        return found->second;
    }
    const model::Instance* instance(std::size_t vpc, const std::string& name) const {
        for (const auto& candidate : model_.vpcs[vpc].instances)
            if (candidate.name == name) return &candidate;
        return nullptr;
    }
    std::optional<std::size_t> first_nat_gateway(std::size_t vpc) const {
        for (std::size_t index = 0; index < model_.nat_gateways.size(); ++index)
            if (model_.nat_gateways[index].vpc == model_.vpcs[vpc].name) return index;
        return std::nullopt;
    }
    std::optional<std::size_t> ipv4_gateway(std::size_t vpc) const {
        for (std::size_t index = 0; index < model_.ipv4_gateways.size(); ++index)
            if (model_.ipv4_gateways[index].vpc == model_.vpcs[vpc].name) return index;
        return std::nullopt;
    }
    bool has_enabled_ipv4_gateway(std::size_t vpc) const {
        return enabled_ipv4_gateway(vpc).has_value();
    }
    // The gateway an instance's public IP arrives by: the VPC's enabled IPv4 gateway, else
    // its first NAT gateway. A disabled IPv4 gateway leaves traffic untouched.
    std::optional<std::size_t> enabled_ipv4_gateway(std::size_t vpc) const {
        auto gateway = ipv4_gateway(vpc);
        if (gateway && model_.ipv4_gateways[*gateway].is_enabled()) return gateway;
        return std::nullopt;
    }
    // Then the VPC's direct internet access (what a deleted IPv4 gateway left), then its
    // first NAT gateway; a private VPC has none.
    const Gateway* public_ip_gateway(std::size_t vpc) const {
        if (auto gateway = enabled_ipv4_gateway(vpc)) return &igw_[*gateway];
        if (model_.vpcs[vpc].is_private()) return nullptr;
        if (direct_[vpc]) return &*direct_[vpc];
        if (auto gateway = first_nat_gateway(vpc)) return &nat_[*gateway];
        return nullptr;
    }

    // ---- sets ----

    std::vector<kernel::Set> build_sets() {
        ElementMap dnat_ip, dnat_open, dnat_ports, echo_local, echo_silent, outside_ifaces,
            outside_realms, return_marks, snat_ip, snat_sources;
        std::vector<model::Cidr> igw_covered, private_vpcs, vpc_cidrs;

        for (std::size_t index = 0; index < model_.nat_gateways.size(); ++index) {
            const auto& gateway = model_.nat_gateways[index];
            outside_ifaces.insert(key_element({gateway.outside_interface}));
            outside_realms.insert(key_element({nat_[index].realm}));
            if (!gateway.answers_echo())
                for (const auto& name : gateway.eips)
                    if (auto address = eip(name)) echo_silent.insert(key_element({*address}));
            for (const auto& entry : gateway.dnat_entries) {
                auto address = eip(entry.eip);
                if (!address) continue;
                // The elements shared with the API's incremental path (incremental.hpp).
                dnat_open.insert(address_element(*address));
                return_marks.insert(return_mark_element(*address, nat_[index].return_mark()));
                if (entry.ip_mapping()) {
                    dnat_ip.insert(ip_mapping_inbound_element(*address, entry));
                    if (gateway.answers_echo()) echo_local.insert(address_element(*address));
                    continue;
                }
                // Shared with the API's incremental path (incremental.hpp).
                for_each_dnat_port_element(*address, entry, [&](Element element) {
                    dnat_ports.insert(std::move(element));
                });
            }
            add_snat_sources(index, snat_sources);
        }
        for (std::size_t index = 0; index < model_.ipv4_gateways.size(); ++index) {
            const auto& gateway = model_.ipv4_gateways[index];
            if (!gateway.is_enabled()) continue;
            outside_ifaces.insert(key_element({gateway.outside_interface}));
            outside_realms.insert(key_element({igw_[index].realm}));
            auto vpc = vpc_of(gateway.vpc);
            if (!vpc) continue;
            const auto& vpc_cidr = model_.vpcs[*vpc].cidr;
            for (const auto& route : gateway.gateway_route_table) {
                if (route.destination.contains(vpc_cidr))
                    igw_covered.push_back(vpc_cidr);
                else if (vpc_cidr.contains(route.destination))
                    igw_covered.push_back(route.destination);
            }
        }

        // Egress priority: an instance's own public IP, then an IP mapping (inserted after,
        // so that a private IP already claimed by a public IP keeps it).
        for (std::size_t vpc = 0; vpc < model_.vpcs.size(); ++vpc) {
            vpc_cidrs.push_back(model_.vpcs[vpc].cidr);
            if (model_.vpcs[vpc].is_private()) private_vpcs.push_back(model_.vpcs[vpc].cidr);
            if (const auto& direct = direct_[vpc]) {
                outside_ifaces.insert(key_element({direct->outside}));
                outside_realms.insert(key_element({direct->realm}));
            }
            for (const auto& host : model_.vpcs[vpc].instances) {
                if (!host.public_ip || host.private_ips.empty()) continue;
                const std::uint32_t public_ip = host.public_ip->value;
                dnat_ip.insert(map_element({public_ip}, {host.private_ips.front().value}));
                for (const auto& private_ip : host.private_ips)
                    snat_ip.insert(map_element({private_ip.value}, {public_ip}));
                if (!has_enabled_ipv4_gateway(vpc)) dnat_open.insert(key_element({public_ip}));
                if (const auto* gateway = public_ip_gateway(vpc))
                    return_marks.insert(map_element({public_ip}, {gateway->return_mark()}));
            }
        }
        // An EIP associated with an instance: 1:1 like a public IP, and before IP mappings.
        for (const auto& associated : instance_eips(model_)) {
            dnat_ip.insert(map_element({associated.address}, {associated.private_ip}));
            snat_ip.insert(map_element({associated.private_ip}, {associated.address}));
            if (!has_enabled_ipv4_gateway(associated.vpc))
                dnat_open.insert(key_element({associated.address}));
            if (const auto* gateway = public_ip_gateway(associated.vpc))
                return_marks.insert(map_element({associated.address}, {gateway->return_mark()}));
        }
        for (const auto& gateway : model_.nat_gateways)
            for (const auto& entry : gateway.dnat_entries)
                if (entry.ip_mapping())
                    if (auto address = eip(entry.eip))
                        snat_ip.insert(ip_mapping_egress_element(*address, entry));

        auto interval_elements = [](const std::vector<model::Cidr>& cidrs) {
            std::vector<Element> out;
            for (const auto& cidr : outermost(cidrs))
                out.push_back(Element{{cidr.first()}, {cidr.last()}, {}, {}, std::nullopt});
            return out;
        };

        std::vector<kernel::Set> sets;
        auto add = [&](kernel::Set set, std::vector<Element> elements) {
            set.elements = std::move(elements);
            sets.push_back(std::move(set));
        };
        add(make_set(rules::kDnatIp, {FieldType::Ipv4}, {FieldType::Ipv4}, false), dnat_ip.take());
        add(make_set(rules::kDnatOpen, {FieldType::Ipv4}, {}, false), dnat_open.take());
        add(make_set(rules::kDnatPorts,
                     {FieldType::Ipv4, FieldType::InetProto, FieldType::InetService},
                     {FieldType::Ipv4, FieldType::InetService}, false),
            dnat_ports.take());
        add(make_set(rules::kEchoLocal, {FieldType::Ipv4}, {}, false), echo_local.take());
        add(make_set(rules::kEchoSilent, {FieldType::Ipv4}, {}, false), echo_silent.take());
        // Empty: new connections flow. natctld's high availability fills it while the node is
        // not the primary (controller/compiler/ha_gate.hpp).
        add(make_set(rules::kHaHold, {FieldType::CtState}, {}, false), {});
        add(make_set(rules::kIgwCovered, {FieldType::Ipv4}, {}, true),
            interval_elements(igw_covered));
        add(make_set(rules::kOutsideIfaces, {FieldType::IfName}, {}, false), outside_ifaces.take());
        add(make_set(rules::kOutsideRealms, {FieldType::Realm}, {}, false), outside_realms.take());
        add(make_set(rules::kPrivateVpcs, {FieldType::Ipv4}, {}, true),
            interval_elements(private_vpcs));
        add(make_set(rules::kReturnMarks, {FieldType::Ipv4}, {FieldType::Mark}, false),
            return_marks.take());
        add(make_set(rules::kSnatIp, {FieldType::Ipv4}, {FieldType::Ipv4}, false), snat_ip.take());
        add(make_set(rules::kSnatSources, {FieldType::Realm, FieldType::Ipv4}, {FieldType::Verdict},
                     true),
            snat_sources.take());
        add(make_set(rules::kVpcCidrs, {FieldType::Ipv4}, {}, true), interval_elements(vpc_cidrs));
        sets.push_back(budget::eip_set(budget_eip_list()));
        for (auto& map : bandwidth::maps(metered_eips()))
            sets.push_back(std::move(map));
        std::sort(sets.begin(), sets.end(),
                  [](const kernel::Set& a, const kernel::Set& b) { return a.name < b.name; });
        // After the static sets, in model order: the kernel lists sets in creation order,
        // and these come and go with EIPs and limits (appended when added), so that `nft
        // list` keeps printing what natctl renders.
        for (auto& set : budget_sets())
            sets.push_back(std::move(set));
        return sets;
    }

    // Per gateway realm: its SNAT entries' sources flattened (longest prefix wins), or for a
    // masquerade gateway its VPC's CIDR.
    void add_snat_sources(std::size_t index, ElementMap& snat_sources) const {
        const auto& gateway = model_.nat_gateways[index];
        const std::uint32_t realm = nat_[index].realm;
        auto vpc = vpc_of(gateway.vpc);
        if (!vpc) return;
        if (gateway.effective_mode() == model::GatewayMode::Masquerade) {
            const auto& cidr = model_.vpcs[*vpc].cidr;
            snat_sources.insert(
                Element{{realm, cidr.first()},
                        {realm, cidr.last()},
                        {},
                        {},
                        kernel::Verdict{kernel::Verdict::Kind::Goto,
                                        rules::masquerade_chain_name(gateway.name)}});
            return;
        }
        std::vector<OwnedPrefix> prefixes;
        for (std::size_t entry = 0; entry < gateway.snat_entries.size(); ++entry) {
            if (entry_eips(gateway.snat_entries[entry]).empty()) continue;
            for (const auto& cidr : snat_source_prefixes(model_, model_.vpcs[*vpc],
                                                         gateway.snat_entries[entry].source))
                prefixes.push_back({cidr.first(), cidr.prefix, entry});
        }
        for (const auto& interval : flatten(prefixes))
            snat_sources.insert(Element{
                {realm, interval.first},
                {realm, interval.last},
                {},
                {},
                kernel::Verdict{kernel::Verdict::Kind::Goto,
                                rules::snat_chain_name(
                                    gateway.name, gateway.snat_entries[interval.owner].name)}});
    }

    // ---- port budgets ----

    budget::Gateway budget_gateway(std::size_t index) const {
        const auto& gateway = model_.nat_gateways[index];
        return {gateway.name, nat_[index].realm, gateway.port_budget(),
                gateway.max_ports_per_instance, gateway.log_mode() != model::SessionLog::Off};
    }

    std::vector<budget::Eip> named_entry_eips(const model::SnatEntry& entry) const {
        std::vector<budget::Eip> out;
        for (const auto& name : entry.eips)
            if (auto address = eip(name)) out.push_back({name, *address});
        return out;
    }

    // Every EIP a SNAT entry of a SNAT-mode gateway uses, once, with its gateway's index.
    std::vector<std::pair<budget::Eip, std::size_t>> budgeted_eips() const {
        std::vector<std::pair<budget::Eip, std::size_t>> out;
        std::set<std::string> seen;
        for (std::size_t index = 0; index < model_.nat_gateways.size(); ++index) {
            const auto& gateway = model_.nat_gateways[index];
            if (gateway.effective_mode() == model::GatewayMode::Masquerade) continue;
            for (const auto& entry : gateway.snat_entries)
                for (auto& eip : named_entry_eips(entry))
                    if (seen.insert(eip.name).second) out.emplace_back(std::move(eip), index);
        }
        return out;
    }

    std::vector<budget::Eip> budget_eip_list() const {
        std::vector<budget::Eip> eips;
        for (auto& [eip, gateway] : budgeted_eips())
            eips.push_back(std::move(eip));
        return eips;
    }

    std::vector<kernel::Set> budget_sets() const {
        std::vector<kernel::Set> sets;
        for (const auto& [eip, gateway] : budgeted_eips())
            for (auto& set : budget::eip_accounting_sets(budget_gateway(gateway), eip))
                sets.push_back(std::move(set));
        for (std::size_t index = 0; index < model_.nat_gateways.size(); ++index) {
            const auto& gateway = model_.nat_gateways[index];
            if (gateway.effective_mode() != model::GatewayMode::Masquerade &&
                gateway.max_ports_per_instance)
                sets.push_back(budget::instance_ports_set(budget_gateway(index)));
        }
        return sets;
    }

    std::vector<std::uint32_t> entry_eips(const model::SnatEntry& entry) const {
        std::vector<std::uint32_t> out;
        for (const auto& name : entry.eips)
            if (auto address = eip(name)) out.push_back(*address);
        return out;
    }

    // ---- EIP traffic ----

    // Every EIP, whatever it is associated with (an unassociated one has no traffic): so
    // that associating one starts no chain, only traffic.
    std::vector<bandwidth::Eip> metered_eips() const {
        std::vector<bandwidth::Eip> out;
        for (const auto& eip : model_.eips)
            out.push_back({eip.name, eip.address.value, eip.bandwidth_mbps});
        return out;
    }

    // ---- chains ----

    std::vector<kernel::Chain> build_chains() const {
        std::vector<kernel::Chain> base;
        auto base_chain = [&](std::string name, std::string type, std::string hook, int priority,
                              std::vector<kernel::Rule> chain_rules) {
            base.push_back(
                kernel::Chain{std::move(name),
                              kernel::BaseChain{std::move(type), std::move(hook), priority, true},
                              std::move(chain_rules), ""});
        };
        base_chain("prerouting", "nat", "prerouting", -100,
                   {rules::prerouting_echo_local(), rules::prerouting_dnat_ports(),
                    rules::prerouting_dnat_ip()});
        base_chain("mark_replies", "filter", "prerouting", -150, {rules::mark_replies()});
        base_chain("input", "filter", "input", 0,
                   {rules::input_ha_hold(), rules::input_echo_silent()});
        base_chain("forward", "filter", "forward", 0, rules::forward());
        base_chain("postrouting", "nat", "postrouting", 100, rules::postrouting());

        std::vector<kernel::Chain> regular;
        regular.push_back(kernel::Chain{rules::kInboundChain, std::nullopt, rules::inbound(), ""});
        regular.push_back(kernel::Chain{rules::kHaHoldChain, std::nullopt, rules::ha_hold(), ""});
        kernel::Chain accounting{budget::kAccountingChain, std::nullopt, {}, ""};
        for (const auto& [eip, gateway] : budgeted_eips())
            for (auto& rule : budget::eip_accounting_rules(budget_gateway(gateway), eip))
                accounting.rules.push_back(std::move(rule));
        regular.push_back(std::move(accounting));
        for (const auto& eip : metered_eips())
            for (auto& chain : bandwidth::eip_chains(eip))
                regular.push_back(std::move(chain));
        for (std::size_t index = 0; index < model_.nat_gateways.size(); ++index) {
            const auto& gateway = model_.nat_gateways[index];
            const auto range = gateway.port_range();
            const rules::PortRange ports{range.lo, range.hi};
            if (gateway.effective_mode() == model::GatewayMode::Masquerade) {
                auto chain_rules = rules::masquerade(ports);
                for (auto& rule : chain_rules)
                    rule.owner = nat_[index].path;
                regular.push_back(kernel::Chain{rules::masquerade_chain_name(gateway.name),
                                                std::nullopt, std::move(chain_rules), ""});
                continue;
            }
            const auto budgets = budget_gateway(index);
            for (std::size_t entry = 0; entry < gateway.snat_entries.size(); ++entry) {
                const auto& snat = gateway.snat_entries[entry];
                const auto eips = named_entry_eips(snat);
                if (eips.empty()) continue;
                for (auto& chain : budget::snat_entry_chains(
                         budgets, snat.name,
                         fmt::format("{}.snat_entries[{}]", nat_[index].path, entry), eips,
                         snat.affinity(), ports))
                    regular.push_back(std::move(chain));
            }
        }
        base.push_back(budget::base_chain());
        for (auto& chain : bandwidth::base_chains())
            base.push_back(std::move(chain));
        auto by_name = [](const kernel::Chain& a, const kernel::Chain& b) {
            return a.name < b.name;
        };
        std::sort(base.begin(), base.end(), by_name);
        std::sort(regular.begin(), regular.end(), by_name);
        for (auto& chain : regular)
            base.push_back(std::move(chain));
        return base;
    }

    // ---- policy routing ----

    kernel::Route via_gateway(std::uint32_t table, const kernel::Prefix& destination,
                              const Gateway& gateway, std::string owner) const {
        kernel::Route route;
        route.table = table;
        route.destination = destination;
        route.gateway = gateway.upstream;
        route.dev = gateway.outside;
        route.realm = gateway.realm;
        route.owner = std::move(owner);
        return route;
    }

    void add_route_table(std::size_t vpc, std::uint32_t table,
                         const std::vector<model::Route>& routes, const std::string& path,
                         bool system) {
        bool has_default = false;
        for (std::size_t index = 0; index < routes.size(); ++index) {
            const auto& route = routes[index];
            const auto destination = prefix_of(route.destination);
            const std::string owner = fmt::format("{}.routes[{}]", path, index);
            has_default = has_default || destination.length == 0;
            std::visit(
                [&](const auto& hop) {
                    using Hop = std::decay_t<decltype(hop)>;
                    if constexpr (std::is_same_v<Hop, model::NatGatewayHop>) {
                        if (auto found = nat_index_.find(hop.name); found != nat_index_.end())
                            routes_.push_back(
                                via_gateway(table, destination, nat_[found->second], owner));
                    } else if constexpr (std::is_same_v<Hop, model::Ipv4GatewayHop>) {
                        if (auto found = igw_index_.find(hop.name); found != igw_index_.end())
                            routes_.push_back(
                                via_gateway(table, destination, igw_[found->second], owner));
                    } else if constexpr (std::is_same_v<Hop, model::InstanceHop>) {
                        const auto* target = instance(vpc, hop.name);
                        if (!target || target->private_ips.empty()) return;
                        kernel::Route out;
                        out.table = table;
                        out.destination = destination;
                        out.gateway = target->private_ips.front().value;
                        out.owner = owner;
                        routes_.push_back(std::move(out));
                    } else {
                        kernel::Route out;
                        out.table = table;
                        out.destination = destination;
                        out.type = kernel::Route::Type::Blackhole;
                        out.owner = owner;
                        routes_.push_back(std::move(out));
                    }
                },
                route.next_hop);
        }
        if (has_default) return;
        // The cloud adds a default route to the first NAT gateway to the system table;
        // everything else without a default must not fall through to the main table.
        // Without a NAT gateway, the VPC's direct internet access: its public IPs leave by
        // it, and the postrouting guard drops any other source.
        if (system) {
            if (auto gateway = first_nat_gateway(vpc)) {
                routes_.push_back(via_gateway(table, {}, nat_[*gateway], path));
                return;
            }
            if (const auto& direct = direct_[vpc]) {
                routes_.push_back(via_gateway(table, {}, *direct, path));
                return;
            }
        }
        kernel::Route unreachable;
        unreachable.table = table;
        unreachable.type = kernel::Route::Type::Unreachable;
        unreachable.metric = kUnreachableMetric;
        unreachable.owner = path;
        routes_.push_back(std::move(unreachable));
    }

    void build_routing() {
        // Gateways that traffic arrives by (DNAT entries, public IPs, instance EIPs): replies
        // leave by them, whatever the route table says.
        std::set<const Gateway*> returns;
        for (std::size_t index = 0; index < model_.nat_gateways.size(); ++index) {
            const auto& gateway = model_.nat_gateways[index];
            for (const auto& entry : gateway.dnat_entries)
                if (eip(entry.eip)) returns.insert(&nat_[index]);
            if (!gateway.assigns_addresses()) continue;
            for (std::size_t slot = 0; slot < gateway.eips.size(); ++slot)
                if (auto address = eip(gateway.eips[slot]))
                    addresses_.push_back({*address, 32, gateway.outside_interface,
                                          fmt::format("{}.eips[{}]", nat_[index].path, slot)});
        }

        for (std::size_t vpc = 0; vpc < model_.vpcs.size(); ++vpc) {
            const auto& network = model_.vpcs[vpc];
            const std::string vpc_path = fmt::format("vpcs[{}]", vpc);
            rules_.push_back(kernel::PolicyRule{kPriorityVpcLocal, prefix_of(network.cidr),
                                                prefix_of(network.cidr), "", std::nullopt,
                                                std::nullopt, kMainTable, vpc_path});

            for (std::size_t index = 0; index < network.route_tables.size(); ++index)
                add_route_table(vpc, route_table_ids_[vpc].at(network.route_tables[index].name),
                                network.route_tables[index].routes,
                                fmt::format("{}.route_tables[{}]", vpc_path, index), false);
            static const std::vector<model::Route> kNoRoutes;
            add_route_table(
                vpc, system_table_ids_[vpc],
                network.system_route_table ? network.system_route_table->routes : kNoRoutes,
                vpc_path + ".system_route_table", true);

            for (std::size_t index = 0; index < network.vswitches.size(); ++index) {
                const auto& segment = network.vswitches[index];
                std::uint32_t table = system_table_ids_[vpc];
                if (segment.route_table) {
                    auto found = route_table_ids_[vpc].find(*segment.route_table);
                    if (found == route_table_ids_[vpc].end()) continue;
                    table = found->second;
                }
                for (const auto& interface : network.interfaces)
                    rules_.push_back(
                        kernel::PolicyRule{kPriorityVSwitch, prefix_of(segment.cidr), std::nullopt,
                                           interface, std::nullopt, std::nullopt, table,
                                           fmt::format("{}.vswitches[{}]", vpc_path, index)});
            }

            for (std::size_t index = 0; index < network.instances.size(); ++index) {
                const auto& host = network.instances[index];
                if (!host.public_ip) continue;
                const Gateway* gateway = public_ip_gateway(vpc);
                if (!gateway) continue;
                returns.insert(gateway);
                addresses_.push_back({host.public_ip->value, 32, gateway->outside,
                                      fmt::format("{}.instances[{}].public_ip", vpc_path, index)});
            }
        }
        for (const auto& associated : instance_eips(model_)) {
            const Gateway* gateway = public_ip_gateway(associated.vpc);
            if (!gateway) continue;
            returns.insert(gateway);
            addresses_.push_back({associated.address, 32, gateway->outside,
                                  fmt::format("eips[{}].instance", associated.eip)});
        }

        auto add_return = [&](const Gateway& gateway) {
            rules_.push_back(kernel::PolicyRule{kPriorityReturn, std::nullopt, std::nullopt, "",
                                                gateway.return_mark(), std::nullopt,
                                                gateway.return_table, gateway.path});
            routes_.push_back(via_gateway(gateway.return_table, {}, gateway, gateway.path));
        };
        for (const auto* gateway : returns)
            add_return(*gateway);

        for (std::size_t index = 0; index < model_.ipv4_gateways.size(); ++index) {
            const auto& gateway = model_.ipv4_gateways[index];
            auto vpc = vpc_of(gateway.vpc);
            if (!gateway.is_enabled() || !vpc) continue;
            bool steers = false;
            for (std::size_t slot = 0; slot < gateway.gateway_route_table.size(); ++slot) {
                const auto* hop =
                    std::get_if<model::InstanceHop>(&gateway.gateway_route_table[slot].next_hop);
                if (!hop) continue;
                const auto* target = instance(*vpc, hop->name);
                if (!target || target->private_ips.empty()) continue;
                kernel::Route route;
                route.table = ingress_table_[index];
                route.destination = prefix_of(gateway.gateway_route_table[slot].destination);
                route.gateway = target->private_ips.front().value;
                route.owner = fmt::format("{}.gateway_route_table[{}]", igw_[index].path, slot);
                routes_.push_back(std::move(route));
                steers = true;
            }
            if (steers)
                rules_.push_back(kernel::PolicyRule{
                    kPriorityIngress, std::nullopt, prefix_of(model_.vpcs[*vpc].cidr),
                    gateway.outside_interface, std::nullopt, std::nullopt, ingress_table_[index],
                    igw_[index].path});
        }
    }

    const model::Model& model_;
    std::unordered_map<std::string, std::size_t> vpc_index_, nat_index_, igw_index_;
    std::unordered_map<std::string, std::uint32_t> eip_address_;
    std::vector<Gateway> nat_, igw_;
    std::vector<std::optional<Gateway>> direct_;  // per VPC: its direct internet access
    std::vector<std::uint32_t> ingress_table_;
    std::vector<std::unordered_map<std::string, std::uint32_t>> route_table_ids_;
    std::vector<std::uint32_t> system_table_ids_;

    std::vector<kernel::PolicyRule> rules_;
    std::vector<kernel::Route> routes_;
    std::vector<kernel::Address> addresses_;
};

}  // namespace

kernel::DesiredState compile(const model::Model& model) {
    return Compiler(model).run();
}

std::vector<kernel::Chain> compile_chains(const model::Model& model) {
    return Compiler(model).chains();
}

std::uint32_t nat_gateway_return_mark(const model::Model& model, std::size_t gateway) {
    return Compiler(model).nat_gateway_return_mark(gateway);
}

std::vector<InstanceEip> instance_eips(const model::Model& model) {
    std::vector<InstanceEip> out;
    for (std::size_t index = 0; index < model.eips.size(); ++index) {
        const auto& eip = model.eips[index];
        if (!eip.instance) continue;
        for (std::size_t vpc = 0; vpc < model.vpcs.size(); ++vpc)
            for (const auto& host : model.vpcs[vpc].instances) {
                if (host.name != *eip.instance || host.private_ips.empty()) continue;
                const auto private_ip = eip.private_ip.value_or(host.private_ips.front());
                out.push_back({vpc, index, eip.address.value, private_ip.value});
            }
    }
    return out;
}

std::vector<model::Cidr> snat_source_prefixes(const model::Model& model, const model::Vpc& home,
                                              const model::SnatSource& source) {
    std::vector<model::Cidr> out;
    std::visit(
        [&](const auto& kind) {
            using Kind = std::decay_t<decltype(kind)>;
            if constexpr (std::is_same_v<Kind, model::VpcSource>) {
                for (const auto& vpc : model.vpcs)
                    if (vpc.name == kind.name) out.push_back(vpc.cidr);
            } else if constexpr (std::is_same_v<Kind, model::VSwitchSource>) {
                for (const auto& segment : home.vswitches)
                    if (segment.name == kind.name) out.push_back(segment.cidr);
            } else if constexpr (std::is_same_v<Kind, model::InstanceSource>) {
                for (const auto& host : home.instances)
                    if (host.name == kind.name)
                        for (const auto& address : host.private_ips)
                            out.push_back({address, 32});
            } else {
                out.push_back(kind.cidr);
            }
        },
        source);
    return out;
}

}  // namespace natctl::compiler
