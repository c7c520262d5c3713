// Port budgets in the data plane (docs/KERNEL-LAYOUT.md, "Port budgets"): the chains of a
// SNAT entry that steer a connection away from an EIP whose destination tuple is full and
// refuse it when every EIP of the entry is, and the per-EIP accounting after SNAT that
// marks tuples full. Pure: names, sets, chains; the expressions come from rules.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/compiler/rules.hpp"
#include "kernelstate/kernel_state.hpp"

namespace natctl::compiler::budget {

// A tuple marked full stays so this long after its last counted connection; then the next
// connection probes the EIP again (admitted within the slack, see backstop_limit).
inline constexpr std::uint32_t kFullTimeoutSeconds = 5;
// Most elements per accounting set: distinct destination tuples with live connections on
// one EIP, private sources per gateway. Past it dynset adds fail and budgets fail open.
inline constexpr std::uint32_t kTupleSetSize = 1048576;
inline constexpr std::uint32_t kInstanceSetSize = 65536;
inline constexpr const char* kBudgetChain = "budget";
// Static (it exists whatever the model), so that `nft list` keeps natctl's chain order
// when EIPs come and go: per-EIP chains would be appended out of the rendered order.
inline constexpr const char* kAccountingChain = "budget_accounting";
inline constexpr int kBudgetPriority = 110;  // srcnat + 10: after SNAT chose the EIP

struct Eip {
    std::string name;
    std::uint32_t address = 0;  // host order
};

struct Gateway {
    std::string name;
    std::uint32_t realm = 0;
    std::uint32_t budget = 0;  // port_budget_per_eip
    std::optional<std::uint32_t> max_ports_per_instance;
    bool log_refusals = false;  // session_log not off
};

// The accounting sets of an EIP carry the budget in their names (budget_count/<eip>/<B>):
// a `ct count` element keeps the limit it was created with for as long as it lives, so a
// budget change must start from new sets, replaced in the apply's own transaction (the rules
// that use them are rewritten in it anyway), or a destination tuple the kernel already
// counted would keep the old limit (issue 14).
std::string full_set(const std::string& eip, std::uint32_t budget);
std::string count_set(const std::string& eip, std::uint32_t budget);
std::string limit_set(const std::string& eip, std::uint32_t budget);
std::string instance_set(const std::string& gateway);
std::string try_chain(const std::string& gateway, const std::string& entry, std::size_t first);

// Connections past the budget the backstop still admits: probes of a tuple whose full mark
// expired while its connections lasted, and connections racing on other CPUs. 2%, so that
// the budget holds within a few percent.
std::uint32_t backstop_limit(std::uint32_t budget);

// The chains of one SNAT entry: snat/<gw>/<entry> and, with several EIPs, one chain per
// EIP that tries the EIPs from that one on (snat/<gw>/<entry>/<k>).
std::vector<kernel::Chain> snat_entry_chains(const Gateway& gateway, const std::string& entry,
                                             const std::string& owner, const std::vector<Eip>& eips,
                                             bool affinity, rules::PortRange ports);

// The accounting rules and sets of an EIP used by a SNAT entry of `gateway`.
std::vector<kernel::Rule> eip_accounting_rules(const Gateway& gateway, const Eip& eip);
std::vector<kernel::Set> eip_accounting_sets(const Gateway& gateway, const Eip& eip);
kernel::Set instance_ports_set(const Gateway& gateway);
// budget_eips: every EIP with accounting.
kernel::Set eip_set(const std::vector<Eip>& eips);
kernel::Chain base_chain();

}  // namespace natctl::compiler::budget
