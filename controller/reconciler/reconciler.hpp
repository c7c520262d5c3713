// Reconciles the kernel with a DesiredState: nftables through one atomic transaction,
// policy rules / routes / addresses through rtnetlink with manual rollback. Either the
// whole DesiredState is in the kernel afterwards, or the kernel is as it was found (errors
// of kind KernelRefused, Invalid, Internal), or natctl could not tell (OutcomeUnknown: the
// committed copy is dropped, so the next apply reads the kernel and repairs it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/compiler/incremental.hpp"
#include "controller/compiler/translations.hpp"
#include "controller/reconciler/nft_plan.hpp"
#include "kernelstate/kernel_state.hpp"
#include "netlink/conntrack_backend.hpp"
#include "netlink/nft_transaction.hpp"
#include "netlink/route_backend.hpp"
#include "util/error.hpp"

namespace natctl::reconciler {

struct ApplyOutcome {
    NftPlan nft;  // what changed in the table (its transaction already applied)
    std::size_t route_operations = 0;
    // Conntrack hygiene (conntrack_hygiene.hpp), when it ran: stale entries removed (plan:
    // found). A failed purge does not fail the apply, whose kernel state stands; it is
    // reported here and retried by the next apply.
    std::optional<std::size_t> conntrack_removed;
    std::string conntrack_error;
    // With Purge::Deferred: a purge is owed and left to the caller (conntrack_removed is
    // then empty).
    bool conntrack_purge_deferred = false;
    bool changed() const { return !nft.empty() || route_operations > 0; }
};

// How apply() learns what the kernel holds. Incremental: from its in-memory copy of what
// the last successful apply committed (desired state as the kernel stores it), so that a
// one-entry change costs O(change) kernel work and no dump (KERNEL-NOTES.md, kube-proxy's
// partial syncs); when there is no valid copy (first apply, after a failure or an unknown
// outcome) it dumps the kernel anyway. FullResync: always dumps table and routes, which is
// what sees and repairs changes made behind natctl's back (drift, periodic resync).
enum class Mode : std::uint8_t { Incremental, FullResync };

// When the conntrack purge an apply owes runs. Deferred: not at all; the outcome says it is
// owed and the caller runs it (remove_stale against the same translations) before anything
// else changes the kernel, so that an API write can answer without waiting for a dump of the
// whole conntrack table.
enum class Purge : std::uint8_t { Now, Deferred };

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
    std::expected<ApplyOutcome, util::Error> apply(
        const kernel::DesiredState& desired,
        const compiler::TranslationIndex* translations = nullptr, Mode mode = Mode::Incremental,
        Purge purge = Purge::Now);
    // The same, keeping `desired` as the committed copy without copying it.
    std::expected<ApplyOutcome, util::Error> apply(
        kernel::DesiredState&& desired, const compiler::TranslationIndex* translations = nullptr,
        Mode mode = Mode::Incremental, Purge purge = Purge::Now);

    // apply(desired, translations, Mode::FullResync).
    std::expected<ApplyOutcome, util::Error> resync(
        const kernel::DesiredState& desired,
        const compiler::TranslationIndex* translations = nullptr) {
        return apply(desired, translations, Mode::FullResync);
    }

    // Applies element changes of sets the committed copy holds (compiler::compile_dnat_change)
    // as one transaction and records them in the copy: O(change), no diff of the table.
    // `translations`: the index of the model after the change (for conntrack hygiene, which
    // runs as apply() would run it). Needs has_committed_state(); fails otherwise, like any
    // failure dropping the copy so that the next apply dumps.
    std::expected<ApplyOutcome, util::Error> apply_elements(
        const std::vector<compiler::SetElementChanges>& changes,
        const compiler::TranslationIndex* translations = nullptr, Purge purge = Purge::Now);

    // Applies what turns state `before` into state `after` (the compiler's output for two
    // models that differ only in objects both states hold whole: the models without their
    // DNAT entries before and after a change that leaves DNAT entries alone) to the kernel
    // and to the committed copy, routes first and the table in one transaction, without
    // reading or diffing the rest of the copy: O(before + after + natctl's routes). nullopt:
    // not a change this can make (no committed copy, a set or base chain redefined, a chain
    // the copy holds otherwise than `before`); nothing was touched, apply() the whole state
    // instead. `translations`: the index of the model after the change, for conntrack
    // hygiene as apply() runs it.
    std::optional<std::expected<ApplyOutcome, util::Error>> apply_delta(
        const kernel::DesiredState& before, const kernel::DesiredState& after,
        const compiler::TranslationIndex* translations = nullptr, Purge purge = Purge::Now);

    // A deferred purge did not complete (it failed, or never ran): the next apply that has
    // translations purges whether or not NAT data changed.
    void owe_conntrack_purge() { purge_pending_ = true; }

    bool has_committed_state() const { return committed_.has_value(); }

    // What apply would do, without doing it. Always judged against the kernel (a dump).
    std::expected<ApplyOutcome, util::Error> plan(
        const kernel::DesiredState& desired,
        const compiler::TranslationIndex* translations = nullptr);

  private:
    // What the last successful apply left in the kernel: the desired table and natctl's
    // routing objects in the form the kernel stores them (routes normalised).
    struct Committed {
        kernel::Table table;
        netlink::RouteState routes;
        // Element changes made by apply_elements since `table` was last brought up to date:
        // per set, key → the element the kernel now holds under it (nullopt: none). Kept
        // aside and merged in one pass when the table is read whole (settle()), so that a
        // one-element change does not shift a vector of 100k elements.
        std::map<std::string, std::map<kernel::FieldList, std::optional<kernel::Element>>> pending;
        std::size_t pending_count = 0;
    };
    // Merges the pending element changes into committed_->table.
    void settle();
    // Records element changes the kernel took in committed_->pending (settled when many).
    void record_elements(const std::string& set, const std::vector<kernel::Element>& removed,
                         const std::vector<kernel::Element>& added);

    template <class Desired>
    std::expected<ApplyOutcome, util::Error> apply_impl(
        Desired&& desired, const compiler::TranslationIndex* translations, Mode mode, Purge purge);
    void purge_conntrack(ApplyOutcome& outcome, const compiler::TranslationIndex& translations,
                         Purge purge);

    netlink::NftBackend& nft_;
    netlink::RouteBackend& routes_;
    netlink::ConntrackBackend* conntrack_ = nullptr;
    bool purge_pending_ = true;
    std::optional<Committed> committed_;
};

}  // namespace natctl::reconciler
