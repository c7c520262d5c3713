// The API's DataPlane over the reconciler: compile the model, then reconcile the kernel
// of the daemon's network namespace with minimal diffs. Also the daemon's record of how
// the kernel stands against the stored model (status, drift repairs).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/compiler/translations.hpp"
#include "controller/conntrack/purger.hpp"
#include "controller/engine/data_plane.hpp"
#include "controller/model/types.hpp"
#include "controller/reconciler/reconciler.hpp"
#include "netlink/conntrack_backend.hpp"
#include "netlink/nft_transaction.hpp"
#include "netlink/route_backend.hpp"

namespace natctl::daemon {

// What the start-up probe found (netlink::probe_kernel_features). `flowtable` is empty
// when it was not probed.
struct KernelFeatures {
    std::optional<bool> flowtable;
    std::string message;
};

// Why the kernel is reconciled against the stored model outside an API write.
enum class ReconcileCause {
    Startup,  // the kernel may hold anything from before a crash or a reboot
    Drift,    // a change notification concerned natctl's objects
    Resync,   // the periodic safety net against lost notifications
};

class ReconcilerDataPlane final : public engine::DataPlane {
  public:
    using Clock = std::function<std::time_t()>;

    // `conntrack`: when given, every apply also deletes the conntrack entries of
    // translations the new model no longer has (the reconciler's conntrack hygiene).
    ReconcilerDataPlane(
        netlink::NftBackend& nft, netlink::RouteBackend& routes,
        netlink::ConntrackBackend* conntrack, KernelFeatures features,
        Clock clock = [] { return std::time(nullptr); });

    std::expected<engine::KernelChange, util::Error> apply(const model::Model& model) override;
    // API writes of one DNAT entry: element changes against the reconciler's committed copy
    // (compiler::compile_dnat_change, Reconciler::apply_elements), the translation index
    // patched rather than rebuilt; the whole-model path when those do not apply.
    std::expected<engine::KernelChange, util::Error> apply_change(
        const model::Model& before, const model::DnatEntryChange& change,
        const model::DnatChangeIndex& index) override;
    // API writes that leave DNAT entries alone (SNAT entries, EIPs and their associations):
    // the states of the models without DNAT entries before and after, compiled and applied
    // as a delta to the reconciler's committed copy (Reconciler::apply_delta), the
    // translation index patched (compiler::patch_without_dnat); the whole-model path when the delta
    // does not apply (a set redefined, a 1:1 egress claim changed on a private IP an IP mapping
    // maps).
    std::expected<engine::KernelChange, util::Error> apply_without_dnat(
        const model::Model& before, const model::Model& light_before,
        const model::Model& light_after, const model::DnatChangeIndex& index) override;
    std::expected<engine::KernelChange, util::Error> plan(const model::Model& model) override;
    // Hands the conntrack purge the last API write owes to the purger (when there is one).
    void committed(std::uint64_t revision) override;
    nlohmann::json status() override;
    void repair_soon(std::string reason) override;

    // From now on API writes leave their conntrack purge to a worker thread that uses
    // `conntrack` (a socket of its own) and answer without waiting for it
    // (controller/conntrack/purger.hpp); reconcile() still purges before it returns. Without this,
    // writes purge synchronously. `tracked`, when given, is where the worker reads the NAT'd
    // entries rather than dump.
    void defer_conntrack_purges(netlink::ConntrackBackend& conntrack,
                                std::unique_ptr<conntrack::NatEntrySource> tracked = nullptr);
    // Stops the worker (after the purge it runs, if any): writes purge synchronously again.
    // For the daemon's shutdown, before what the worker reads goes away.
    void stop_deferring_conntrack_purges();
    // The deferred purges so far; empty without defer_conntrack_purges.
    std::optional<conntrack::ConntrackPurger::Stats> purge_stats() const;
    // Waits for a queued or running deferred purge to finish.
    void wait_for_purge();

    // API writes (apply) diff against the reconciler's copy of what the last apply committed
    // (O(change) kernel work); reconcile() always reads the kernel back (a full resync).

    // Brings the kernel back to `stored` (the store's current model). A Drift or Resync
    // reconcile that had to change something counts as a drift repair; one that found
    // nothing to do (our own writes echoing back as notifications) does not.
    std::expected<engine::KernelChange, util::Error> reconcile(const model::Model& stored,
                                                               ReconcileCause cause);

    // High availability (data_plane_ha.cpp, docs/HA.md): while held, the HA gate drops the
    // first packet of every connection but a clean TCP SYN. Every later apply keeps it.
    // Opening or closing is one set element against the committed copy; a full reconcile
    // to `stored` when there is none. On failure the flag is still recorded (the next
    // reconcile enforces it).
    std::expected<void, std::string> hold_new_flows(bool hold, const model::Model& stored);
    bool new_flows_held() const { return hold_new_flows_; }
    // Before the first apply: what it starts with (the role natctld restored at start-up).
    void hold_new_flows_from_start(bool hold) { hold_new_flows_ = hold; }

    std::uint64_t drift_repairs() const { return drift_repairs_; }
    bool in_sync() const { return in_sync_; }

    // Told of every apply to the kernel (API writes and reconciles; not plans): whether it
    // succeeded and how long compiling and reconciling took. For the metrics.
    using ApplyObserver = std::function<void(bool ok, std::chrono::duration<double> took)>;
    void set_apply_observer(ApplyObserver observer) { apply_observer_ = std::move(observer); }

    // Called when an API write's outcome in the kernel is unknown (its answer was lost): the
    // kernel may hold a model the store does not, so natctld reconciles it soon rather than
    // at the next write or periodic resync. Called on the thread of the write.
    void set_repair_request(std::function<void()> request) { repair_request_ = std::move(request); }

  private:
    std::expected<reconciler::ApplyOutcome, util::Error> run(const model::Model& model,
                                                             bool dry_run, reconciler::Mode mode,
                                                             reconciler::Purge purge);
    // How an apply purges: deferred when a purger runs them, asking for a retry of one that
    // failed.
    reconciler::Purge api_purge();
    // The tail of an apply_change the reconciler made (or failed), `started` when it began.
    std::expected<engine::KernelChange, util::Error> change_applied(
        std::expected<reconciler::ApplyOutcome, util::Error> outcome,
        std::chrono::steady_clock::time_point started);
    // Records a failed API write (apply, apply_change) and returns its error.
    std::unexpected<util::Error> write_failed(util::Error error);

    reconciler::Reconciler reconciler_;
    // The translation index of the model the kernel last got through an apply: conntrack
    // hygiene's, kept for apply_change to patch.
    std::optional<compiler::TranslationIndex> translations_;
    // Held while the kernel and translations_ change; the purger judges and deletes under it.
    std::mutex index_mutex_;
    // The last API write owes a purge, not yet handed to the purger.
    bool purge_owed_ = false;
    KernelFeatures features_;
    Clock clock_;
    bool in_sync_ = false;  // nothing reconciled yet
    std::optional<std::time_t> last_apply_time_;
    std::string last_error_;
    std::uint64_t drift_repairs_ = 0;
    bool hold_new_flows_ = false;
    ApplyObserver apply_observer_;
    std::function<void()> repair_request_;
    // After translations_ and index_mutex_, which its worker uses.
    std::unique_ptr<conntrack::ConntrackPurger> purger_;
};

// The reconciler's outcome as the API reports it ("kernel": {...counts...}).
nlohmann::json summarize(const reconciler::ApplyOutcome& outcome);

const char* to_string(ReconcileCause cause);

}  // namespace natctl::daemon
