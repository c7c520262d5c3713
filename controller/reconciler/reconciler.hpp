// Reconciles the kernel with a DesiredState: nftables through one atomic transaction,
// policy rules / routes / addresses through rtnetlink with manual rollback. Either the
// whole DesiredState is in the kernel afterwards, or the kernel is as it was found.
#pragma once

#include <cstddef>
#include <expected>
#include <string>

#include "controller/reconciler/nft_plan.hpp"
#include "kernelstate/kernel_state.hpp"
#include "netlink/nft_transaction.hpp"
#include "netlink/route_backend.hpp"

namespace natctl::reconciler {

struct ApplyOutcome {
    NftPlan nft;  // what changed in the table (its transaction already applied)
    std::size_t route_operations = 0;
    bool changed() const { return !nft.empty() || route_operations > 0; }
};

class Reconciler {
  public:
    Reconciler(netlink::NftBackend& nft, netlink::RouteBackend& routes)
        : nft_(nft), routes_(routes) {}

    // Routes go first and nftables second: a route towards a new gateway is harmless
    // before its SNAT exists (the postrouting chain drops untranslated VPC sources on
    // outside interfaces), and when the nft transaction fails the routes are put back
    // exactly as they were dumped, which an nft rollback could not promise for rules.
    std::expected<ApplyOutcome, std::string> apply(const kernel::DesiredState& desired);

    // What apply would do, without doing it.
    std::expected<ApplyOutcome, std::string> plan(const kernel::DesiredState& desired);

  private:
    netlink::NftBackend& nft_;
    netlink::RouteBackend& routes_;
};

}  // namespace natctl::reconciler
