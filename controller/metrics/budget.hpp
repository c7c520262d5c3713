// Port budget figures (docs/KERNEL-LAYOUT.md, "Port budgets"): connections refused at a
// gateway (port allocation errors, by reason) and connections steered to another EIP of
// their SNAT entry; and each EIP's traffic per direction, passed and dropped by its
// bandwidth cap ("EIP traffic"). The data plane counts them in anonymous rule counters; natctld
// reads them with a rule dump at scrape time. A chain rewrite starts a rule's counter again, so the
// totals add each rule's increase since the last read and take a smaller value (or a new rule) as
// counted from zero: they only grow, like a Prometheus counter must.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "controller/metrics/registry.hpp"
#include "controller/model/types.hpp"
#include "kernelstate/kernel_state.hpp"
#include "kernelstate/observed.hpp"

namespace natctl::netlink {
class NftSocket;
}

namespace natctl::metrics {

class BudgetCounterTotals {
  public:
    using Key = kernel::CounterRole;
    // Which rule counts what: (chain, rule digest) -> role, from the compiled chains.
    using Roles = std::map<std::pair<std::string, std::string>, kernel::CounterRole>;

    static Roles roles_of(const std::vector<kernel::Chain>& chains);

    // Adds what the counters of `observed` gained since the last update.
    void update(const Roles& roles, const kernel::ObservedTable& observed);
    // Every role known now or counted before, with its total.
    std::map<Key, kernel::CounterTotal> totals(const Roles& roles) const;

  private:
    std::map<Key, kernel::CounterTotal> totals_;
    // (chain, handle) -> the rule's counter at the last update
    std::map<std::pair<std::string, std::uint64_t>, kernel::CounterTotal> last_;
};

struct BudgetSources {
    std::function<const model::Model&()> model;
    std::function<std::uint64_t()> revision;
};

// The one reader of the budget counters: the metrics scrape and GET /v1/ports
// (api::Service::set_budget_counts) both read through it, so both show the same totals.
// Not thread-safe: natctld calls it on its io thread only.
class BudgetCounters {
  public:
    // Opens its own nftables socket; without one read() has nothing (logged).
    explicit BudgetCounters(BudgetSources sources);
    ~BudgetCounters();
    BudgetCounters(const BudgetCounters&) = delete;
    BudgetCounters& operator=(const BudgetCounters&) = delete;
    // Reads the rule counters now and returns every role's total; nullopt without a socket.
    // A failed read (logged once) returns the totals as they stood.
    std::optional<std::map<kernel::CounterRole, kernel::CounterTotal>> read();
    const model::Model& model() const { return sources_.model(); }

  private:
    BudgetSources sources_;
    std::unique_ptr<netlink::NftSocket> socket_;
    std::optional<std::uint64_t> compiled_revision_;
    BudgetCounterTotals::Roles roles_;
    BudgetCounterTotals totals_;
    bool read_failed_logged_ = false;
};

// Adds natctl_port_allocation_errors_total{gateway,entry,reason},
// natctl_budget_steered_connections_total{gateway,entry} and the EIP traffic families
// (natctl_eip_bytes_total, natctl_eip_packets_total, natctl_eip_capped_packets_total,
// natctl_eip_capped_bytes_total {eip,direction}; natctl_eip_bandwidth_cap_bits_per_second
// {eip} from the model) to the registry's scrape, read through `counters`; without its
// socket the counter families are left out.
void add_budget_metrics(Registry& registry, std::shared_ptr<BudgetCounters> counters);

}  // namespace natctl::metrics
