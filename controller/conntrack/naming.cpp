#include "controller/conntrack/naming.hpp"

#include <algorithm>

#include "controller/compiler/ids.hpp"
#include "controller/model/addr.hpp"
#include "kernelstate/kernel_state.hpp"

namespace natctl::conntrack {

std::string address_text(std::uint32_t address) {
    return model::to_string(model::Ipv4{address});
}

nlohmann::json protocol_json(std::uint8_t protocol) {
    if (auto known = kernel::protocol_name(protocol)) return std::string(*known);
    return protocol;
}

nlohmann::json tuple_json(std::uint32_t src, std::uint16_t sport, std::uint32_t dst,
                          std::uint16_t dport) {
    return {
        {"src", address_text(src)}, {"sport", sport}, {"dst", address_text(dst)}, {"dport", dport}};
}

namespace {

const model::Vpc* find_vpc(const model::Model& model, const std::string& name) {
    for (const auto& vpc : model.vpcs)
        if (vpc.name == name) return &vpc;
    return nullptr;
}

// The prefixes a SNAT entry's source stands for.
std::vector<model::Cidr> source_prefixes(const model::Model& model,
                                         const model::NatGateway& gateway,
                                         const model::SnatSource& source) {
    std::vector<model::Cidr> out;
    const auto* vpc = find_vpc(model, gateway.vpc);
    if (const auto* s = std::get_if<model::CidrSource>(&source)) {
        out.push_back(s->cidr);
    } else if (!vpc) {
        return out;
    } else if (std::holds_alternative<model::VpcSource>(source)) {
        out.push_back(vpc->cidr);
    } else if (const auto* v = std::get_if<model::VSwitchSource>(&source)) {
        for (const auto& vswitch : vpc->vswitches)
            if (vswitch.name == v->name) out.push_back(vswitch.cidr);
    } else if (const auto* i = std::get_if<model::InstanceSource>(&source)) {
        for (const auto& instance : vpc->instances)
            if (instance.name == i->name)
                for (const auto& address : instance.private_ips)
                    out.push_back(model::Cidr{address, 32});
    }
    return out;
}

}  // namespace

std::map<std::uint32_t, EipInfo> eips_by_address(const model::Model& model) {
    std::map<std::uint32_t, EipInfo> out;
    for (const auto& eip : model.eips)
        out[eip.address.value].eip = &eip;
    for (const auto& gateway : model.nat_gateways)
        for (const auto& name : gateway.eips)
            for (auto& [address, info] : out)
                if (info.eip->name == name && !info.gateway) info.gateway = &gateway;
    return out;
}

const model::SnatEntry* snat_entry_for(const model::Model& model, const model::NatGateway& gateway,
                                       const std::string& eip, std::uint32_t source) {
    const model::SnatEntry* best = nullptr;
    int best_prefix = -1;
    for (const auto& entry : gateway.snat_entries) {
        if (std::find(entry.eips.begin(), entry.eips.end(), eip) == entry.eips.end()) continue;
        for (const auto& prefix : source_prefixes(model, gateway, entry.source))
            if (prefix.contains(model::Ipv4{source}) && prefix.prefix > best_prefix) {
                best = &entry;
                best_prefix = prefix.prefix;
            }
    }
    return best;
}

const model::DnatEntry* dnat_entry_for(const model::NatGateway& gateway, const std::string& eip,
                                       PublicPort port) {
    const model::DnatEntry* mapping = nullptr;
    for (const auto& entry : gateway.dnat_entries) {
        if (entry.eip != eip) continue;
        if (entry.ip_mapping()) {
            mapping = &entry;
            continue;
        }
        const std::uint8_t protocol = entry.protocol == model::DnatProtocol::Tcp ? 6 : 17;
        if (protocol == port.protocol && entry.public_port && port.port >= entry.public_port->lo &&
            port.port <= entry.public_port->hi)
            return &entry;
    }
    return mapping;
}

std::unordered_map<std::uint32_t, std::string> nat_gateway_realms(const model::Model& model) {
    std::vector<std::string> texts;
    for (const auto& gateway : model.nat_gateways)
        texts.push_back("gw:" + gateway.name);
    for (const auto& gateway : model.ipv4_gateways)
        texts.push_back("gw:" + gateway.name);
    const auto realms =
        compiler::assign_hashed_ids(texts, compiler::kRealmBase, compiler::kRealmCount);
    std::unordered_map<std::uint32_t, std::string> out;
    for (std::size_t index = 0; index < model.nat_gateways.size(); ++index)
        out.emplace(realms[index], model.nat_gateways[index].name);
    return out;
}

SessionNames::SessionNames(model::Model model) : model_(std::move(model)) {
    eips_ = eips_by_address(model_);
    for (const auto& [realm, name] : nat_gateway_realms(model_))
        realms_.emplace(realm, gateway(name));
}

SessionNames::Names SessionNames::name(const netlink::ConntrackEntry& entry) const {
    Names names;
    if (entry.src_nat()) {
        if (auto it = eips_.find(entry.reply.dst); it != eips_.end()) {
            names.snat_eip = &it->second;
            if (it->second.gateway)
                names.snat = snat_entry_for(model_, *it->second.gateway, it->second.eip->name,
                                            entry.original.src);
        }
    }
    if (entry.dst_nat()) {
        if (auto it = eips_.find(entry.original.dst); it != eips_.end()) {
            names.dnat_eip = &it->second;
            if (it->second.gateway)
                names.dnat = dnat_entry_for(*it->second.gateway, it->second.eip->name,
                                            PublicPort{entry.protocol, entry.original.dport});
        }
    }
    return names;
}

const model::NatGateway* SessionNames::gateway_of_realm(std::uint32_t realm) const {
    auto it = realms_.find(realm);
    return it == realms_.end() ? nullptr : it->second;
}

const model::NatGateway* SessionNames::gateway(const std::string& name) const {
    for (const auto& gateway : model_.nat_gateways)
        if (gateway.name == name) return &gateway;
    return nullptr;
}

}  // namespace natctl::conntrack
