#include "controller/metrics/budget.hpp"

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
    std::map<std::pair<std::string, std::uint64_t>, kernel::CounterTotal> seen;
    for (const auto& chain : observed.chains) {
        for (const auto& rule : chain.rules) {
            if (!rule.packets) continue;
            auto role = roles.find({chain.name, rule.digest});
            if (role == roles.end()) continue;
            std::pair<std::string, std::uint64_t> where{chain.name, rule.handle};
            const kernel::CounterTotal now{*rule.packets, rule.bytes.value_or(0)};
            auto before = last_.find(where);
            const kernel::CounterTotal previous =
                before == last_.end() ? kernel::CounterTotal{} : before->second;
            // Smaller than last time: the rule was rewritten and counts from zero again.
            const bool restarted = now.packets < previous.packets || now.bytes < previous.bytes;
            auto& total = totals_[role->second];
            total.packets += restarted ? now.packets : now.packets - previous.packets;
            total.bytes += restarted ? now.bytes : now.bytes - previous.bytes;
            seen.emplace(std::move(where), now);
        }
    }
    last_ = std::move(seen);
}

std::map<BudgetCounterTotals::Key, kernel::CounterTotal> BudgetCounterTotals::totals(
    const Roles& roles) const {
    auto out = totals_;
    for (const auto& [where, role] : roles)
        out.try_emplace(role);
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

std::optional<std::map<kernel::CounterRole, kernel::CounterTotal>> BudgetCounters::read() {
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
        constexpr auto kBytesHelp =
            "Bytes to (inbound, before DNAT) or from (outbound, after SNAT) an EIP that "
            "passed its bandwidth cap, IP headers included.";
        constexpr auto kPacketsHelp = "Packets to or from an EIP that passed its bandwidth cap.";
        constexpr auto kCappedPacketsHelp =
            "Packets to or from an EIP dropped because they exceeded its bandwidth_mbps.";
        constexpr auto kCappedBytesHelp =
            "Bytes to or from an EIP dropped because they exceeded its bandwidth_mbps.";
        for (const auto& [role, count] : *totals) {
            const std::string entry = role.entry.empty() ? kernel::kRefusalNoEntry : role.entry;
            const Labels traffic{{"eip", role.eip}, {"direction", role.direction}};
            switch (role.kind) {
                case kernel::CounterRole::Kind::Refused:
                    out.counter(
                        "natctl_port_allocation_errors_total", kErrorsHelp,
                        {{"gateway", role.gateway}, {"entry", entry}, {"reason", role.reason}},
                        static_cast<double>(count.packets));
                    break;
                case kernel::CounterRole::Kind::Steered:
                    out.counter("natctl_budget_steered_connections_total", kSteeredHelp,
                                {{"gateway", role.gateway}, {"entry", entry}},
                                static_cast<double>(count.packets));
                    break;
                case kernel::CounterRole::Kind::EipPassed:
                    out.counter("natctl_eip_bytes_total", kBytesHelp, traffic,
                                static_cast<double>(count.bytes));
                    out.counter("natctl_eip_packets_total", kPacketsHelp, traffic,
                                static_cast<double>(count.packets));
                    break;
                case kernel::CounterRole::Kind::EipCapped:
                    out.counter("natctl_eip_capped_packets_total", kCappedPacketsHelp, traffic,
                                static_cast<double>(count.packets));
                    out.counter("natctl_eip_capped_bytes_total", kCappedBytesHelp, traffic,
                                static_cast<double>(count.bytes));
                    break;
            }
        }
        for (const auto& eip : counters->model().eips)
            if (eip.bandwidth_mbps)
                out.gauge("natctl_eip_bandwidth_cap_bits_per_second",
                          "An EIP's bandwidth_mbps in bits per second, enforced in each direction.",
                          {{"eip", eip.name}}, static_cast<double>(*eip.bandwidth_mbps) * 1e6);
    });
}

}  // namespace natctl::metrics
