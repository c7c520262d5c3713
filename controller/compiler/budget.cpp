#include "controller/compiler/budget.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace natctl::compiler::budget {
namespace {

using kernel::FieldType;

std::optional<rules::RefusalLog> refusal_log(const Gateway& gateway, const char* reason,
                                             const std::string& entry) {
    if (!gateway.log_refusals) return std::nullopt;
    return rules::RefusalLog{kernel::refusal_log_prefix(reason, gateway.realm, entry),
                             kernel::kRefusalLogGroup};
}

kernel::CounterRole role(kernel::CounterRole::Kind kind, const Gateway& gateway,
                         const std::string& entry, std::string reason) {
    return kernel::CounterRole{kind, gateway.name, entry, std::move(reason)};
}

kernel::Set tuple_set(std::string name, bool timeout) {
    kernel::Set set;
    set.name = std::move(name);
    set.key = {FieldType::Ipv4, FieldType::InetProto, FieldType::InetService};
    set.dynamic = true;
    set.timeout = timeout;
    set.size = kTupleSetSize;
    return set;
}

}  // namespace

std::string full_set(const std::string& eip, std::uint32_t budget) {
    return fmt::format("budget_full/{}/{}", eip, budget);
}
std::string count_set(const std::string& eip, std::uint32_t budget) {
    return fmt::format("budget_count/{}/{}", eip, budget);
}
std::string limit_set(const std::string& eip, std::uint32_t budget) {
    return fmt::format("budget_limit/{}/{}", eip, budget);
}
std::string instance_set(const std::string& gateway) {
    return "instance_ports/" + gateway;
}
std::string try_chain(const std::string& gateway, const std::string& entry, std::size_t first) {
    return fmt::format("{}/{}", rules::snat_chain_name(gateway, entry), first);
}

std::uint32_t backstop_limit(std::uint32_t budget) {
    return budget + budget / 50;
}

std::vector<kernel::Chain> snat_entry_chains(const Gateway& gateway, const std::string& entry,
                                             const std::string& owner, const std::vector<Eip>& eips,
                                             bool affinity, rules::PortRange ports) {
    using Kind = kernel::CounterRole::Kind;
    std::vector<kernel::Chain> chains;
    kernel::Chain main{rules::snat_chain_name(gateway.name, entry), std::nullopt, {}, ""};
    if (gateway.max_ports_per_instance) {
        auto rule =
            rules::instance_limit(instance_set(gateway.name), *gateway.max_ports_per_instance,
                                  refusal_log(gateway, kernel::kRefusalInstanceLimit, entry));
        rule.counts = role(Kind::Refused, gateway, entry, kernel::kRefusalInstanceLimit);
        main.rules.push_back(std::move(rule));
    }
    auto refusal = [&](bool tcp_udp_only) {
        auto rule =
            rules::refuse(tcp_udp_only, refusal_log(gateway, kernel::kRefusalBudget, entry));
        rule.counts = role(Kind::Refused, gateway, entry, kernel::kRefusalBudget);
        return rule;
    };

    std::vector<std::uint32_t> addresses;
    for (const auto& eip : eips)
        addresses.push_back(eip.address);
    if (eips.size() == 1) {
        main.rules.push_back(rules::snat_try(
            eips.front().address, full_set(eips.front().name, gateway.budget), ports, false));
        main.rules.push_back(refusal(true));
    } else {
        std::vector<std::string> try_chains;
        for (std::size_t first = 0; first < eips.size(); ++first) {
            kernel::Chain tries{try_chain(gateway.name, entry, first), std::nullopt, {}, ""};
            for (std::size_t step = 0; step < eips.size(); ++step) {
                const auto& eip = eips[(first + step) % eips.size()];
                auto rule = rules::snat_try(eip.address, full_set(eip.name, gateway.budget), ports,
                                            step > 0);
                if (step > 0) rule.counts = role(Kind::Steered, gateway, entry, "");
                tries.rules.push_back(std::move(rule));
            }
            tries.rules.push_back(refusal(false));
            try_chains.push_back(tries.name);
            chains.push_back(std::move(tries));
        }
        main.rules.push_back(rules::snat_dispatch(affinity, try_chains));
    }
    main.rules.push_back(rules::snat_other_protocols(addresses, affinity));
    chains.insert(chains.begin(), std::move(main));
    for (auto& chain : chains)
        for (auto& rule : chain.rules)
            rule.owner = owner;
    return chains;
}

std::vector<kernel::Rule> eip_accounting_rules(const Gateway& gateway, const Eip& eip) {
    std::vector<kernel::Rule> out;
    out.push_back(rules::budget_mark_full(eip.address, count_set(eip.name, gateway.budget),
                                          full_set(eip.name, gateway.budget), gateway.budget,
                                          kFullTimeoutSeconds));
    auto backstop = rules::budget_backstop(eip.address, limit_set(eip.name, gateway.budget),
                                           backstop_limit(gateway.budget),
                                           refusal_log(gateway, kernel::kRefusalBudget, ""));
    backstop.counts = role(kernel::CounterRole::Kind::Refused, gateway, "", kernel::kRefusalBudget);
    out.push_back(std::move(backstop));
    return out;
}

std::vector<kernel::Set> eip_accounting_sets(const Gateway& gateway, const Eip& eip) {
    return {tuple_set(count_set(eip.name, gateway.budget), false),
            tuple_set(full_set(eip.name, gateway.budget), true),
            tuple_set(limit_set(eip.name, gateway.budget), false)};
}

kernel::Set instance_ports_set(const Gateway& gateway) {
    kernel::Set set;
    set.name = instance_set(gateway.name);
    set.key = {FieldType::Ipv4};
    set.dynamic = true;
    set.size = kInstanceSetSize;
    return set;
}

kernel::Set eip_set(const std::vector<Eip>& eips) {
    kernel::Set set;
    set.name = rules::kBudgetEips;
    set.key = {FieldType::Ipv4};
    for (const auto& eip : eips)
        set.elements.push_back(kernel::Element{{eip.address}, {}, {}, {}, std::nullopt});
    std::sort(set.elements.begin(), set.elements.end());
    set.elements.erase(std::unique(set.elements.begin(), set.elements.end()), set.elements.end());
    return set;
}

kernel::Chain base_chain() {
    return kernel::Chain{kBudgetChain,
                         kernel::BaseChain{"filter", "postrouting", kBudgetPriority, true},
                         {rules::budget_dispatch(kAccountingChain)},
                         ""};
}

}  // namespace natctl::compiler::budget
