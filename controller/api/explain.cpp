#include "controller/api/explain.hpp"

#include <fmt/format.h>

#include <string>
#include <variant>
#include <vector>

#include "controller/api/objects.hpp"
#include "controller/compiler/compile.hpp"
#include "controller/model/addr.hpp"

namespace natctl::api {
namespace {

using model::to_string;
using nlohmann::json;

const char* protocol_name(Protocol protocol) {
    switch (protocol) {
        case Protocol::Tcp:
            return "tcp";
        case Protocol::Udp:
            return "udp";
        case Protocol::Icmp:
            return "icmp";
    }
    return "tcp";
}

json eip_json(const model::Model& m, const std::string& name) {
    for (const auto& eip : m.eips)
        if (eip.name == name) return {{"name", name}, {"address", to_string(eip.address)}};
    return {{"name", name}};
}

const model::Eip* eip_named(const model::Model& m, const std::string& name) {
    for (const auto& eip : m.eips)
        if (eip.name == name) return &eip;
    return nullptr;
}

const model::Instance* instance_with_ip(const model::Vpc& vpc, model::Ipv4 ip) {
    for (const auto& instance : vpc.instances)
        for (const auto& address : instance.private_ips)
            if (address == ip) return &instance;
    return nullptr;
}

const model::NatGateway* nat_gateway_named(const model::Model& m, const std::string& name) {
    for (const auto& gateway : m.nat_gateways)
        if (gateway.name == name) return &gateway;
    return nullptr;
}

const model::Ipv4Gateway* ipv4_gateway_of(const model::Model& m, const std::string& vpc) {
    for (const auto& gateway : m.ipv4_gateways)
        if (gateway.vpc == vpc) return &gateway;
    return nullptr;
}

// The DNAT entry with protocol any (IP mapping) whose private IP is `ip`, and its gateway.
std::pair<const model::NatGateway*, const model::DnatEntry*> ip_mapping_of(const model::Model& m,
                                                                           model::Ipv4 ip) {
    for (const auto& gateway : m.nat_gateways)
        for (const auto& entry : gateway.dnat_entries)
            if (entry.ip_mapping() && entry.private_ip == ip) return {&gateway, &entry};
    return {nullptr, nullptr};
}

class Explainer {
  public:
    Explainer(const model::Model& m, const ExplainQuery& query) : m_(m), q_(query) {}

    json run() {
        for (const auto& vpc : m_.vpcs)
            if (vpc.cidr.contains(q_.src)) return egress(vpc);
        return ingress();
    }

  private:
    const model::Model& m_;
    const ExplainQuery& q_;
    json out_ = json::object();
    std::vector<std::string> steps_;

    void step(std::string text) { steps_.push_back(std::move(text)); }

    json finish(const char* direction, const char* verdict) {
        out_["direction"] = direction;
        out_["verdict"] = verdict;
        out_["steps"] = steps_;
        return std::move(out_);
    }

    std::string dst_text() const {
        return q_.port ? fmt::format("{}:{}", to_string(q_.dst), *q_.port) : to_string(q_.dst);
    }

    // ---- egress ------------------------------------------------------------------------

    json egress(const model::Vpc& vpc) {
        out_["vpc"] = vpc.name;
        step(fmt::format("{} is inside vpc {} ({})", to_string(q_.src), vpc.name,
                         to_string(vpc.cidr)));
        if (vpc.cidr.contains(q_.dst)) {
            step(
                fmt::format("{} is inside the same VPC: the VPC-local rule sends it to the "
                            "main table before any route table; natctl translates nothing",
                            to_string(q_.dst)));
            return finish("internal", "forwarded");
        }
        const model::VSwitch* vswitch = nullptr;
        for (const auto& candidate : vpc.vswitches)
            if (candidate.cidr.contains(q_.src)) vswitch = &candidate;
        if (!vswitch) {
            step(
                fmt::format("{} lies in no vSwitch of vpc {}: natctl installs no policy rule "
                            "for it, so it is not natctl's traffic",
                            to_string(q_.src), vpc.name));
            return finish("egress", "not_natctl");
        }
        out_["vswitch"] = vswitch->name;
        step(fmt::format("{} is in vswitch {} ({})", to_string(q_.src), vswitch->name,
                         to_string(vswitch->cidr)));

        const std::vector<model::Route>* routes = nullptr;
        std::string table_name;
        bool system = !vswitch->route_table;
        if (vswitch->route_table) {
            for (const auto& table : vpc.route_tables)
                if (table.name == *vswitch->route_table) routes = &table.routes;
            table_name = *vswitch->route_table;
            step(fmt::format("vswitch {} uses route table {}", vswitch->name, table_name));
        } else {
            static const std::vector<model::Route> kNone;
            routes = vpc.system_route_table ? &vpc.system_route_table->routes : &kNone;
            table_name = vpc.system_route_table && vpc.system_route_table->name
                             ? *vpc.system_route_table->name
                             : vpc.name + "/system";
            step(fmt::format("vswitch {} has no route_table: it uses the system route table {}",
                             vswitch->name, table_name));
        }
        out_["route_table"] = table_name;
        if (!routes) {
            step(fmt::format("route table {} does not exist", table_name));
            return finish("egress", "dropped");
        }

        const model::Route* best = nullptr;
        bool has_default = false;
        for (const auto& route : *routes) {
            has_default = has_default || route.destination.prefix == 0;
            if (route.destination.contains(q_.dst) &&
                (!best || route.destination.prefix > best->destination.prefix))
                best = &route;
        }
        model::Route implicit;
        if (!best && system && !has_default) {
            for (const auto& gateway : m_.nat_gateways)
                if (gateway.vpc == vpc.name) {
                    implicit = {{}, model::NatGatewayHop{gateway.name}};
                    best = &implicit;
                    step(
                        fmt::format("no route matches; the system route table has no 0.0.0.0/0 "
                                    "route, so it behaves as if it had one to the VPC's first "
                                    "NAT gateway {}",
                                    gateway.name));
                    break;
                }
        }
        if (!best) {
            step(fmt::format("no route in {} covers {}: unreachable", table_name,
                             to_string(q_.dst)));
            return finish("egress", "dropped");
        }
        out_["route"] = to_json(*best);
        if (best != &implicit)
            step(fmt::format("route {} is the longest prefix covering {}",
                             to_string(best->destination), to_string(q_.dst)));

        return std::visit(
            [&](const auto& hop) -> json {
                using Hop = std::decay_t<decltype(hop)>;
                if constexpr (std::is_same_v<Hop, model::Blackhole>) {
                    step("the next hop is blackhole: dropped");
                    return finish("egress", "dropped");
                } else if constexpr (std::is_same_v<Hop, model::InstanceHop>) {
                    return via_instance(vpc, hop.name);
                } else if constexpr (std::is_same_v<Hop, model::NatGatewayHop>) {
                    out_["gateway"] = {{"kind", "nat_gateway"}, {"name", hop.name}};
                    step(fmt::format("next hop: nat gateway {}", hop.name));
                    return translate(vpc, nat_gateway_named(m_, hop.name));
                } else {
                    out_["gateway"] = {{"kind", "ipv4_gateway"}, {"name", hop.name}};
                    step(fmt::format("next hop: ipv4 gateway {} (no NAT of its own)", hop.name));
                    return translate(vpc, nullptr);
                }
            },
            best->next_hop);
    }

    json via_instance(const model::Vpc& vpc, const std::string& name) {
        for (const auto& instance : vpc.instances)
            if (instance.name == name && !instance.private_ips.empty()) {
                step(
                    fmt::format("next hop: instance {} ({}); the appliance forwards it on, "
                                "natctl translates nothing at this hop",
                                name, to_string(instance.private_ips.front())));
                out_["gateway"] = {{"kind", "instance"}, {"name", name}};
                return finish("egress", "forwarded");
            }
        step(fmt::format("next hop instance {} does not exist: dropped", name));
        return finish("egress", "dropped");
    }

    // Egress priority (DESIGN.md): the instance's own public_ip > an IP mapping > the SNAT
    // entry of the gateway the packet was routed to. `gateway` is null for an IPv4 gateway.
    json translate(const model::Vpc& vpc, const model::NatGateway* gateway) {
        const auto* instance = instance_with_ip(vpc, q_.src);
        if (instance && instance->public_ip) {
            out_["translation"] = {
                {"kind", "public_ip"},
                {"instance", instance->name},
                {"address", to_string(*instance->public_ip)},
                {"reason", "an instance's own public_ip beats every other egress (1:1)"}};
            step(fmt::format("instance {} has public_ip {}: source becomes {}", instance->name,
                             to_string(*instance->public_ip), to_string(*instance->public_ip)));
            return finish("egress", "translated");
        }
        for (const auto& associated : compiler::instance_eips(m_)) {
            if (associated.private_ip != q_.src.value) continue;
            const auto& eip = m_.eips[associated.eip];
            out_["translation"] = {
                {"kind", "instance_eip"},
                {"eip", eip_json(m_, eip.name)},
                {"instance", *eip.instance},
                {"reason",
                 "an EIP associated with the instance is 1:1 both ways, with the "
                 "egress priority of a public_ip"}};
            step(fmt::format("eip {} is associated with instance {} ({}): source becomes {}",
                             eip.name, *eip.instance, to_string(q_.src), to_string(eip.address)));
            return finish("egress", "translated");
        }
        if (auto [owner, mapping] = ip_mapping_of(m_, q_.src); mapping) {
            out_["translation"] = {{"kind", "ip_mapping"},
                                   {"entry", mapping->name},
                                   {"gateway", owner->name},
                                   {"eip", eip_json(m_, mapping->eip)},
                                   {"reason",
                                    "an IP mapping (DNAT protocol any) is 1:1: the private IP also "
                                    "leaves through that EIP, before any SNAT entry"}};
            const auto* eip = eip_named(m_, mapping->eip);
            step(fmt::format("dnat entry {} of {} maps eip {} 1:1 to {}: source becomes {}",
                             mapping->name, owner->name, mapping->eip, to_string(q_.src),
                             eip ? to_string(eip->address) : mapping->eip));
            return finish("egress", "translated");
        }
        if (!gateway) {
            step(
                fmt::format("{} has neither a public_ip nor an IP mapping; through an IPv4 "
                            "gateway only those leave: natctl drops untranslated VPC sources",
                            to_string(q_.src)));
            return finish("egress", "dropped");
        }
        if (gateway->effective_mode() == model::GatewayMode::Masquerade) {
            out_["translation"] = {
                {"kind", "masquerade"},
                {"gateway", gateway->name},
                {"reason", fmt::format("nat gateway {} is in masquerade mode: the source becomes "
                                       "the address of {}",
                                       gateway->name, gateway->outside_interface)}};
            step(fmt::format("masquerade to the address of {}", gateway->outside_interface));
            return finish("egress", "translated");
        }
        return snat(vpc, *gateway);
    }

    // The prefixes an SNAT source stands for, resolved in `vpc` (as the compiler does).
    static std::vector<model::Cidr> prefixes_of(const model::Model& m, const model::Vpc& vpc,
                                                const model::SnatSource& source) {
        std::vector<model::Cidr> out;
        if (const auto* cidr = std::get_if<model::CidrSource>(&source)) out.push_back(cidr->cidr);
        if (const auto* whole = std::get_if<model::VpcSource>(&source))
            for (const auto& candidate : m.vpcs)
                if (candidate.name == whole->name) out.push_back(candidate.cidr);
        if (const auto* segment = std::get_if<model::VSwitchSource>(&source))
            for (const auto& vswitch : vpc.vswitches)
                if (vswitch.name == segment->name) out.push_back(vswitch.cidr);
        if (const auto* host = std::get_if<model::InstanceSource>(&source))
            for (const auto& instance : vpc.instances)
                if (instance.name == host->name)
                    for (const auto& ip : instance.private_ips)
                        out.push_back({ip, 32});
        return out;
    }

    json snat(const model::Vpc& vpc, const model::NatGateway& gateway) {
        const model::SnatEntry* best = nullptr;
        model::Cidr best_prefix;
        for (const auto& entry : gateway.snat_entries)
            for (const auto& prefix : prefixes_of(m_, vpc, entry.source))
                if (prefix.contains(q_.src) && (!best || prefix.prefix > best_prefix.prefix)) {
                    best = &entry;
                    best_prefix = prefix;
                }
        if (!best) {
            step(
                fmt::format("no SNAT entry of {} covers {} (and it has no public_ip or IP "
                            "mapping): natctl drops untranslated VPC sources",
                            gateway.name, to_string(q_.src)));
            return finish("egress", "dropped");
        }
        json eips = json::array();
        std::vector<std::string> addresses;
        for (const auto& name : best->eips) {
            eips.push_back(eip_json(m_, name));
            if (const auto* eip = eip_named(m_, name)) addresses.push_back(to_string(eip->address));
        }
        json translation = {{"kind", "snat_entry"},
                            {"entry", best->name},
                            {"gateway", gateway.name},
                            {"matching_prefix", to_string(best_prefix)},
                            {"eips", eips},
                            {"eip_affinity", best->affinity()}};
        step(fmt::format("snat entry {} matches with prefix {}, the longest covering {}",
                         best->name, to_string(best_prefix), to_string(q_.src)));
        std::string reason;
        if (best->eips.size() == 1) {
            translation["eip"] = eips[0];
            reason = fmt::format("source becomes {} (the entry's only EIP)",
                                 addresses.empty() ? best->eips[0] : addresses[0]);
        } else if (best->affinity()) {
            // The kernel's jhash is not reproduced here; the pinning itself is what matters.
            reason = fmt::format(
                "source becomes one of [{}] chosen by a hash of the source "
                "address: fixed for {} (eip_affinity)",
                fmt::join(addresses, ", "), to_string(q_.src));
        } else {
            reason = fmt::format(
                "source becomes one of [{}] chosen per connection by a hash of "
                "the 5-tuple (no eip_affinity)",
                fmt::join(addresses, ", "));
        }
        translation["reason"] = reason;
        step(reason);
        out_["translation"] = std::move(translation);
        return finish("egress", "translated");
    }

    // ---- ingress -----------------------------------------------------------------------

    json ingress() {
        for (const auto& vpc : m_.vpcs)
            for (const auto& instance : vpc.instances)
                if (instance.public_ip && *instance.public_ip == q_.dst &&
                    !instance.private_ips.empty())
                    return public_ip_ingress(vpc, instance);
        for (const auto& eip : m_.eips)
            if (eip.address == q_.dst) return eip_ingress(eip);
        for (const auto& vpc : m_.vpcs)
            if (vpc.cidr.contains(q_.dst)) return private_ingress(vpc);
        step(
            fmt::format("neither {} nor {} is natctl's: no VPC contains the source, and the "
                        "destination is no EIP, public IP or VPC address of the model",
                        to_string(q_.src), to_string(q_.dst)));
        return finish("none", "not_natctl");
    }

    // The inbound policy of an enabled IPv4 gateway for a VPC address: covered by a gateway
    // route (longest prefix) or dropped. Returns the verdict.
    const char* ipv4_gateway_policy(const model::Ipv4Gateway& gateway, model::Ipv4 target) {
        const model::GatewayRoute* best = nullptr;
        for (const auto& route : gateway.gateway_route_table)
            if (route.destination.contains(target) &&
                (!best || route.destination.prefix > best->destination.prefix))
                best = &route;
        out_["gateway"] = {{"kind", "ipv4_gateway"}, {"name", gateway.name}};
        if (!best) {
            step(
                fmt::format("ipv4 gateway {} is enabled and no gateway route covers {}: "
                            "dropped",
                            gateway.name, to_string(target)));
            return "dropped";
        }
        out_["route"] = {{"destination", to_string(best->destination)}};
        if (const auto* appliance = std::get_if<model::InstanceHop>(&best->next_hop)) {
            out_["route"]["next_hop"] = {{"instance", appliance->name}};
            step(fmt::format("ipv4 gateway {}: gateway route {} steers it to instance {} first",
                             gateway.name, to_string(best->destination), appliance->name));
        } else {
            out_["route"]["next_hop"] = "local";
            step(fmt::format("ipv4 gateway {}: gateway route {} (local) lets it in", gateway.name,
                             to_string(best->destination)));
        }
        return "forwarded";
    }

    json public_ip_ingress(const model::Vpc& vpc, const model::Instance& instance) {
        out_["vpc"] = vpc.name;
        const auto private_ip = instance.private_ips.front();
        out_["translation"] = {
            {"kind", "public_ip"},
            {"instance", instance.name},
            {"address", to_string(private_ip)},
            {"reason", "an instance's public_ip is 1:1 both ways: every port and protocol"}};
        step(fmt::format("{} is the public_ip of instance {}: destination becomes {}",
                         to_string(q_.dst), instance.name, to_string(private_ip)));
        const auto* igw = ipv4_gateway_of(m_, vpc.name);
        if (igw && igw->is_enabled()) {
            const char* verdict = ipv4_gateway_policy(*igw, private_ip);
            return finish("ingress",
                          std::string_view(verdict) == "dropped" ? "dropped" : "translated");
        }
        step(fmt::format("vpc {} has no enabled IPv4 gateway: a public_ip is let in directly",
                         vpc.name));
        return finish("ingress", "translated");
    }

    json eip_ingress(const model::Eip& eip) {
        for (const auto& associated : compiler::instance_eips(m_)) {
            if (m_.eips[associated.eip].name != eip.name) continue;
            const auto& vpc = m_.vpcs[associated.vpc];
            out_["vpc"] = vpc.name;
            const model::Ipv4 private_ip{associated.private_ip};
            out_["translation"] = {
                {"kind", "instance_eip"},
                {"instance", *eip.instance},
                {"address", to_string(private_ip)},
                {"reason",
                 "an EIP associated with an instance is 1:1 both ways: every port "
                 "and protocol"}};
            step(fmt::format("{} is eip {}, associated with instance {}: destination becomes {}",
                             to_string(q_.dst), eip.name, *eip.instance, to_string(private_ip)));
            const auto* igw = ipv4_gateway_of(m_, vpc.name);
            if (igw && igw->is_enabled()) {
                const char* verdict = ipv4_gateway_policy(*igw, private_ip);
                return finish("ingress",
                              std::string_view(verdict) == "dropped" ? "dropped" : "translated");
            }
            return finish("ingress", "translated");
        }
        const model::NatGateway* gateway = nullptr;
        for (const auto& candidate : m_.nat_gateways)
            for (const auto& name : candidate.eips)
                if (name == eip.name) gateway = &candidate;
        if (!gateway) {
            step(
                fmt::format("{} is eip {}, associated with no NAT gateway: nothing of natctl "
                            "answers for it",
                            to_string(q_.dst), eip.name));
            return finish("ingress", "not_natctl");
        }
        out_["gateway"] = {{"kind", "nat_gateway"}, {"name", gateway->name}};
        out_["vpc"] = gateway->vpc;
        step(fmt::format("{} is eip {} of nat gateway {}", to_string(q_.dst), eip.name,
                         gateway->name));
        for (const auto& entry : gateway->dnat_entries)
            if (entry.eip == eip.name && entry.ip_mapping()) {
                out_["translation"] = {
                    {"kind", "ip_mapping"},
                    {"entry", entry.name},
                    {"eip", eip_json(m_, eip.name)},
                    {"address", to_string(entry.private_ip)},
                    {"reason",
                     "an IP mapping (protocol any) forwards every port and protocol, "
                     "ICMP included, to its private IP"}};
                step(fmt::format("dnat entry {} maps {} 1:1: destination becomes {}", entry.name,
                                 eip.name, to_string(entry.private_ip)));
                return dnat_passes();
            }
        if (q_.protocol == Protocol::Icmp) {
            if (gateway->answers_echo()) {
                step(
                    fmt::format("no IP mapping on {}: nat gateway {} answers ping itself "
                                "(icmp_echo_reply on)",
                                eip.name, gateway->name));
                return finish("ingress", "answered_by_gateway");
            }
            step(fmt::format("no IP mapping on {} and icmp_echo_reply is off on {}: dropped",
                             eip.name, gateway->name));
            return finish("ingress", "dropped");
        }
        const auto wanted =
            q_.protocol == Protocol::Udp ? model::DnatProtocol::Udp : model::DnatProtocol::Tcp;
        if (!q_.port) {
            step(
                fmt::format("no IP mapping on {}; a port mapping needs the port: give dst as "
                            "IP:PORT",
                            eip.name));
            return finish("ingress", "unknown");
        }
        for (const auto& entry : gateway->dnat_entries) {
            if (entry.eip != eip.name || entry.protocol != wanted || !entry.public_port ||
                !entry.private_port)
                continue;
            const auto& public_port = *entry.public_port;
            if (*q_.port < public_port.lo || *q_.port > public_port.hi) continue;
            const unsigned offset = *q_.port - public_port.lo;
            const unsigned private_port = entry.private_port->lo + offset;
            out_["translation"] = {
                {"kind", "dnat_entry"},
                {"entry", entry.name},
                {"eip", eip_json(m_, eip.name)},
                {"address", to_string(entry.private_ip)},
                {"port", private_port},
                {"offset", offset},
                {"reason",
                 fmt::format("public port {} is offset {} in {}, mapped to private port {} "
                             "(offset {} in {})",
                             *q_.port, offset, to_string(public_port), private_port, offset,
                             to_string(*entry.private_port))}};
            step(fmt::format("dnat entry {} ({} {} → {}:{}): destination becomes {}:{}", entry.name,
                             protocol_name(q_.protocol), to_string(public_port),
                             to_string(entry.private_ip), to_string(*entry.private_port),
                             to_string(entry.private_ip), private_port));
            return dnat_passes();
        }
        step(
            fmt::format("no DNAT entry of {} publishes {} {} on {}: not forwarded into the VPC "
                        "(only replies of connections started inside pass)",
                        gateway->name, protocol_name(q_.protocol), dst_text(), eip.name));
        return finish("ingress", "dropped");
    }

    json dnat_passes() {
        out_["translation"]["gateway"] = out_["gateway"]["name"];
        if (out_.contains("vpc"))
            if (const auto* igw = ipv4_gateway_of(m_, out_["vpc"].get<std::string>());
                igw && igw->is_enabled())
                step(
                    fmt::format("ipv4 gateway {} is enabled, but DNAT traffic is addressed to the "
                                "NAT gateway's own EIP and passes",
                                igw->name));
        return finish("ingress", "translated");
    }

    json private_ingress(const model::Vpc& vpc) {
        out_["vpc"] = vpc.name;
        step(fmt::format("{} is a private address of vpc {}, sent from the outside",
                         to_string(q_.dst), vpc.name));
        const auto* igw = ipv4_gateway_of(m_, vpc.name);
        if (igw && igw->is_enabled()) return finish("ingress", ipv4_gateway_policy(*igw, q_.dst));
        step(
            fmt::format("vpc {} has no enabled IPv4 gateway: nothing from the outside reaches a "
                        "VPC address except through a DNAT entry, a public_ip, or as a reply",
                        vpc.name));
        return finish("ingress", "dropped");
    }
};

}  // namespace

json explain(const model::Model& model, const ExplainQuery& query) {
    return Explainer(model, query).run();
}

}  // namespace natctl::api
