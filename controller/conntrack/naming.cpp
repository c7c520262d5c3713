#include "controller/conntrack/naming.hpp"

#include <algorithm>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "controller/compiler/compile.hpp"
#include "controller/compiler/ids.hpp"
#include "controller/model/addr.hpp"
#include "controller/model/change.hpp"
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

// The prefixes a SNAT entry's source stands for: the compiler's reading, so that sessions are
// named by the prefixes the data plane translates.
std::vector<model::Cidr> source_prefixes(const model::Model& model,
                                         const model::NatGateway& gateway,
                                         const model::SnatSource& source) {
    const auto* vpc = find_vpc(model, gateway.vpc);
    if (!vpc) return {};  // not in a validated model
    return compiler::snat_source_prefixes(model, *vpc, source);
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

namespace {

bool row_order(std::uint32_t gateway_a, std::uint32_t eip_a, std::uint8_t protocol_a,
               std::uint16_t lo_a, std::uint32_t gateway_b, std::uint32_t eip_b,
               std::uint8_t protocol_b, std::uint16_t lo_b) {
    return std::tie(gateway_a, eip_a, protocol_a, lo_a) <
           std::tie(gateway_b, eip_b, protocol_b, lo_b);
}

}  // namespace

DnatEntryNames::DnatEntryNames(const model::Model& model) {
    for (const auto& eip : model.eips)
        eip_addresses_.emplace(eip.name, eip.address.value);
    std::size_t entries = 0, text = 0;
    for (const auto& gateway : model.nat_gateways)
        for (const auto& entry : gateway.dnat_entries) {
            ++entries;
            text += entry.name.size();
        }
    entries_.reserve(entries);
    text_.reserve(text);
    for (std::uint32_t index = 0; index < model.nat_gateways.size(); ++index)
        for (const auto& entry : model.nat_gateways[index].dnat_entries)
            if (auto named = row(index, entry)) entries_.push_back(*named);
    std::sort(entries_.begin(), entries_.end(), [](const Named& a, const Named& b) {
        return row_order(a.gateway, a.eip, a.protocol, a.lo, b.gateway, b.eip, b.protocol, b.lo);
    });
}

std::optional<DnatEntryNames::Named> DnatEntryNames::row(std::uint32_t gateway,
                                                         const model::DnatEntry& entry) {
    auto address = eip_addresses_.find(entry.eip);
    if (address == eip_addresses_.end()) return std::nullopt;
    Named named{gateway,
                address->second,
                0,
                0,
                0,
                static_cast<std::uint32_t>(text_.size()),
                static_cast<std::uint32_t>(entry.name.size())};
    if (!entry.ip_mapping() && entry.public_port) {
        named.protocol = entry.protocol == model::DnatProtocol::Tcp ? 6 : 17;
        named.lo = entry.public_port->lo;
        named.hi = entry.public_port->hi;
    }
    text_ += entry.name;
    return named;
}

bool DnatEntryNames::apply(const model::DnatEntryChange& change) {
    for (const auto* entry :
         {change.before ? &*change.before : nullptr, change.after ? &*change.after : nullptr})
        if (entry && !eip_addresses_.contains(entry->eip)) return false;
    const auto gateway = static_cast<std::uint32_t>(change.gateway);
    auto position = [&](const Named& key) {
        return std::lower_bound(entries_.begin(), entries_.end(), key,
                                [](const Named& a, const Named& b) {
                                    return row_order(a.gateway, a.eip, a.protocol, a.lo, b.gateway,
                                                     b.eip, b.protocol, b.lo);
                                });
    };
    if (change.before) {
        const auto text_size = text_.size();
        auto removed = row(gateway, *change.before);
        text_.resize(text_size);  // only its key was wanted
        auto at = position(*removed);
        if (at != entries_.end() && at->gateway == removed->gateway && at->eip == removed->eip &&
            at->protocol == removed->protocol && at->lo == removed->lo) {
            dead_text_ += at->text_size;
            entries_.erase(at);
        }
    }
    if (change.after) {
        auto added = row(gateway, *change.after);
        entries_.insert(position(*added), *added);
    }
    compact_text();
    return true;
}

void DnatEntryNames::compact_text() {
    if (dead_text_ * 2 < text_.size()) return;
    std::string text;
    text.reserve(text_.size() - dead_text_);
    for (auto& named : entries_) {
        const auto at = static_cast<std::uint32_t>(text.size());
        text.append(text_, named.text_at, named.text_size);
        named.text_at = at;
    }
    text_ = std::move(text);
    dead_text_ = 0;
}

const DnatEntryNames::Named* DnatEntryNames::covering(std::uint32_t gateway, std::uint32_t eip,
                                                      std::uint8_t protocol,
                                                      std::uint16_t port) const {
    // The last entry starting at or below the key: the only one whose range can hold it.
    const auto key = std::tuple{gateway, eip, protocol, port};
    auto after = std::upper_bound(
        entries_.begin(), entries_.end(), key, [](const auto& k, const Named& named) {
            return k < std::tuple{named.gateway, named.eip, named.protocol, named.lo};
        });
    if (after == entries_.begin()) return nullptr;
    const auto& named = *std::prev(after);
    if (named.gateway != gateway || named.eip != eip || named.protocol != protocol ||
        port > named.hi)
        return nullptr;
    return &named;
}

std::string_view DnatEntryNames::find(std::size_t gateway, std::uint32_t eip,
                                      PublicPort port) const {
    const auto at = static_cast<std::uint32_t>(gateway);
    const Named* named = port.protocol != 0 ? covering(at, eip, port.protocol, port.port) : nullptr;
    if (!named) named = covering(at, eip, 0, 0);
    if (!named) return {};
    return std::string_view(text_).substr(named->text_at, named->text_size);
}

SessionNames::SessionNames(const model::Model& model)
    : SessionNames(model, DnatEntryNames(model)) {}

SessionNames::SessionNames(const model::Model& model, DnatEntryNames dnat_names)
    : model_(model::without_dnat_entries(model)), dnat_names_(std::move(dnat_names)) {
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
                names.dnat = dnat_names_.find(
                    static_cast<std::size_t>(it->second.gateway - model_.nat_gateways.data()),
                    it->first, PublicPort{entry.protocol, entry.original.dport});
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
