// The HA gate's side of the data plane (data_plane.hpp, controller/compiler/ha_gate.hpp).
#include <chrono>
#include <mutex>

#include <fmt/format.h>

#include "controller/compiler/ha_gate.hpp"
#include "controller/daemon/data_plane.hpp"

namespace natctl::daemon {

std::expected<void, std::string> ReconcilerDataPlane::hold_new_flows(bool hold,
                                                                     const model::Model& stored) {
    if (hold == hold_new_flows_ && in_sync_) return {};
    hold_new_flows_ = hold;
    const auto started = std::chrono::steady_clock::now();
    std::unique_lock index_lock(index_mutex_);
    if (reconciler_.has_committed_state()) {
        // No translations: the gate changes no NAT data, so conntrack hygiene has nothing to do.
        auto outcome = reconciler_.apply_elements({compiler::ha_gate_change(hold)});
        index_lock.unlock();
        if (apply_observer_)
            apply_observer_(outcome.has_value(), std::chrono::steady_clock::now() - started);
        if (outcome) return {};
        // apply_elements dropped the committed copy: the reconcile below dumps.
    } else {
        index_lock.unlock();
    }
    if (auto outcome = reconcile(stored, ReconcileCause::Resync); !outcome)
        return std::unexpected(fmt::format("{} the HA gate: {}", hold ? "closing" : "opening",
                                           util::describe(outcome.error())));
    return {};
}

}  // namespace natctl::daemon
