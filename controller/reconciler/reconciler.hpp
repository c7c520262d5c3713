// Reconciles the kernel with a DesiredState: nftables through one atomic transaction,
// policy rules / routes / addresses through rtnetlink with manual rollback. Either the
// whole DesiredState is in the kernel afterwards, or the kernel is as it was found.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>

#include "controller/compiler/translations.hpp"
#include "controller/reconciler/nft_plan.hpp"
#include "kernelstate/kernel_state.hpp"
#include "netlink/conntrack_backend.hpp"
#include "netlink/nft_transaction.hpp"
#include "netlink/route_backend.hpp"

namespace natctl::reconciler {

struct ApplyOutcome {
    NftPlan nft;  // what changed in the table (its transaction already applied)
    std::size_t route_operations = 0;
    // Conntrack hygiene (conntrack_hygiene.hpp), when it ran: stale entries removed (plan:
    // found). A failed purge does not fail the apply, whose kernel state stands; it is
    // reported here and retried by the next apply.
    std::optional<std::size_t> conntrack_removed;
    std::string conntrack_error;
    bool changed() const { return !nft.empty() || route_operations > 0; }
};

class Reconciler {
  public:
    // With a conntrack backend, apply() also deletes the conntrack entries whose translation
    // the desired state no longer allows, whenever NAT data changed (and once after
    // construction, which repairs a purge that a crash or a failure cut short).
    Reconciler(netlink::NftBackend& nft, netlink::RouteBackend& routes,
               netlink::ConntrackBackend* conntrack = nullptr)
        : nft_(nft), routes_(routes), conntrack_(conntrack) {}

    // Routes go first and nftables second: a route towards a new gateway is harmless
    // before its SNAT exists (the postrouting chain drops untranslated VPC sources on
    // outside interfaces), and when the nft transaction fails the routes are put back
    // exactly as they were dumped, which an nft rollback could not promise for rules.
    // `translations`: the index of the model `desired` was compiled from; without it (or
    // without a conntrack backend) conntrack is left alone.
    std::expected<ApplyOutcome, std::string> apply(
        const kernel::DesiredState& desired,
        const compiler::TranslationIndex* translations = nullptr);

    // What apply would do, without doing it.
    std::expected<ApplyOutcome, std::string> plan(
        const kernel::DesiredState& desired,
        const compiler::TranslationIndex* translations = nullptr);

  private:
    void purge_conntrack(ApplyOutcome& outcome, const compiler::TranslationIndex& translations);

    netlink::NftBackend& nft_;
    netlink::RouteBackend& routes_;
    netlink::ConntrackBackend* conntrack_ = nullptr;
    bool purge_pending_ = true;
};

}  // namespace natctl::reconciler
