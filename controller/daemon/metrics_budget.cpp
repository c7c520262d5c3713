#include "controller/daemon/metrics_budget.hpp"

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <utility>

#include "controller/compiler/compile.hpp"
#include "netlink/nft_encode.hpp"
#include "netlink/nft_socket.hpp"

namespace natctl::metrics {

BudgetCounterTotals::Roles BudgetCounterTotals::roles_of(const std::vector<kernel::Chain>& chains) {
    Roles roles;
    for (const auto& chain : chains)
        for (const auto& rule : chain.rules)
            if (rule.counts)
                roles.emplace(std::pair{chain.name, netlink::rule_identity_digest(rule.text)},
                              *rule.counts);
    return roles;
}

void BudgetCounterTotals::update(const Roles& roles, const kernel::ObservedTable& observed) {
    std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> seen;
    for (const auto& chain : observed.chains) {
        for (const auto& rule : chain.rules) {
            if (!rule.packets) continue;
            auto role = roles.find({chain.name, rule.digest});
            if (role == roles.end()) continue;
            std::pair<std::string, std::uint64_t> where{chain.name, rule.handle};
            auto before = last_.find(where);
            const std::uint64_t previous = before == last_.end() ? 0 : before->second;
            // Smaller than last time: the rule was rewritten and counts from zero again.
            const std::uint64_t gained =
                *rule.packets >= previous ? *rule.packets - previous : *rule.packets;
            totals_[role->second] += gained;
            seen.emplace(std::move(where), *rule.packets);
        }
    }
    last_ = std::move(seen);
}

std::map<BudgetCounterTotals::Key, std::uint64_t> BudgetCounterTotals::totals(
    const Roles& roles) const {
    auto out = totals_;
    for (const auto& [where, role] : roles)
        out.try_emplace(role, 0);
    return out;
}

BudgetCounters::BudgetCounters(BudgetSources sources) : sources_(std::move(sources)) {
    auto socket = netlink::NftSocket::open();
    if (socket)
        socket_ = std::move(*socket);
    else
        spdlog::error("port budget counters unavailable: nftables socket: {}",
                      socket.error().message);
}

BudgetCounters::~BudgetCounters() = default;

std::optional<std::map<kernel::CounterRole, std::uint64_t>> BudgetCounters::read() {
    if (!socket_) return std::nullopt;
    if (const auto revision = sources_.revision(); compiled_revision_ != revision) {
        roles_ = BudgetCounterTotals::roles_of(compiler::compile_chains(sources_.model()));
        compiled_revision_ = revision;
    }
    auto observed = socket_->dump_rules();
    if (!observed) {
        if (!std::exchange(read_failed_logged_, true))
            spdlog::warn("port budget counters: reading rule counters: {}",
                         observed.error().message);
    } else {
        read_failed_logged_ = false;
        totals_.update(roles_, *observed);
    }
    return totals_.totals(roles_);
}

void add_budget_metrics(Registry& registry, std::shared_ptr<BudgetCounters> counters) {
    registry.add_collector([counters = std::move(counters)](Exposition& out) {
        auto totals = counters->read();
        if (!totals) return;
        constexpr auto kErrorsHelp =
            "New connections refused at the gateway instead of failing inside the kernel: "
            "reason budget (every EIP of the entry at port_budget_per_eip for the "
            "destination; entry \"-\": an EIP's backstop) or instance_limit "
            "(max_ports_per_instance).";
        constexpr auto kSteeredHelp =
            "New connections that left by another EIP of their SNAT entry because the "
            "preferred EIP had reached port_budget_per_eip for the destination.";
        for (const auto& [role, count] : *totals) {
            const std::string entry = role.entry.empty() ? kernel::kRefusalNoEntry : role.entry;
            if (role.kind == kernel::CounterRole::Kind::Refused)
                out.counter("natctl_port_allocation_errors_total", kErrorsHelp,
                            {{"gateway", role.gateway}, {"entry", entry}, {"reason", role.reason}},
                            static_cast<double>(count));
            else
                out.counter("natctl_budget_steered_connections_total", kSteeredHelp,
                            {{"gateway", role.gateway}, {"entry", entry}},
                            static_cast<double>(count));
        }
    });
}

}  // namespace natctl::metrics
