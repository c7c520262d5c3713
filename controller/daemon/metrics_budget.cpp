#include "controller/daemon/metrics_budget.hpp"

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>

#include "controller/compiler/compile.hpp"
#include "netlink/nft_encode.hpp"
#include "netlink/nft_socket.hpp"

namespace natctl::metrics {

BudgetCounterTotals::Roles BudgetCounterTotals::roles_of(const kernel::DesiredState& state) {
    Roles roles;
    for (const auto& chain : state.table.chains)
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

namespace {

// Scrape-time state: the nft socket, the roles of the revision last compiled, the totals.
struct BudgetCollector {
    BudgetSources sources;
    std::unique_ptr<netlink::NftSocket> socket;
    std::optional<std::uint64_t> compiled_revision;
    BudgetCounterTotals::Roles roles;
    BudgetCounterTotals totals;
    bool read_failed_logged = false;

    void collect(Exposition& out) {
        if (!socket) return;
        if (const auto revision = sources.revision(); compiled_revision != revision) {
            roles = BudgetCounterTotals::roles_of(compiler::compile(sources.model()));
            compiled_revision = revision;
        }
        auto observed = socket->dump_rules();
        if (!observed) {
            if (!std::exchange(read_failed_logged, true))
                spdlog::warn("port budget metrics: reading rule counters: {}",
                             observed.error().message);
        } else {
            read_failed_logged = false;
            totals.update(roles, *observed);
        }
        constexpr auto kErrorsHelp =
            "New connections refused at the gateway instead of failing inside the kernel: "
            "reason budget (every EIP of the entry at port_budget_per_eip for the "
            "destination; entry \"-\": an EIP's backstop) or instance_limit "
            "(max_ports_per_instance).";
        constexpr auto kSteeredHelp =
            "New connections that left by another EIP of their SNAT entry because the "
            "preferred EIP had reached port_budget_per_eip for the destination.";
        for (const auto& [role, count] : totals.totals(roles)) {
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
    }
};

}  // namespace

void add_budget_metrics(Registry& registry, BudgetSources sources) {
    auto collector = std::make_shared<BudgetCollector>();
    collector->sources = std::move(sources);
    auto socket = netlink::NftSocket::open();
    if (socket)
        collector->socket = std::move(*socket);
    else
        spdlog::error("port budget metrics unavailable: nftables socket: {}",
                      socket.error().message);
    registry.add_collector([collector](Exposition& out) { collector->collect(out); });
}

}  // namespace natctl::metrics
