// The kernel side of a write, as the engine drives it: natctld wires it to the reconciler
// (controller/daemon/data_plane.hpp), the unit tests to fakes.
#pragma once

#include <cstdint>
#include <expected>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/model/change.hpp"
#include "controller/model/types.hpp"
#include "controller/model/validate.hpp"
#include "util/error.hpp"

namespace natctl::engine {

// What a change did to the kernel, as the reconciler reports it.
struct KernelChange {
    bool changed = false;
    nlohmann::json summary;  // counts: sets/chains/elements added, removed; route ops; ...
};

// Errors are typed (util/error.hpp): their kind tells what state the kernel is in, and the
// API answers with the kind's status.
class DataPlane {
  public:
    virtual ~DataPlane() = default;
    // Compiles and reconciles the kernel to `model`. On error the kernel is as it was, unless
    // the error's kind is OutcomeUnknown: then the data plane reads the kernel back and
    // repairs it to the stored model (the next write or reconcile at the latest).
    virtual std::expected<KernelChange, util::Error> apply(const model::Model& model) = 0;
    // The same for the model after `change`, made against `before` (which `index`
    // describes): in time proportional to the change where the data plane can. The default
    // applies a copy of the model after the change.
    virtual std::expected<KernelChange, util::Error> apply_change(
        const model::Model& before, const model::DnatEntryChange& change,
        const model::DnatChangeIndex& index);
    // The same for a change of everything but the DNAT entries: the model after it is
    // `light_after` (model::without_dnat_entries of it) plus before's DNAT entries;
    // `light_before` is model::without_dnat_entries(before). One SNAT entry change is one.
    // The default applies the model after the change, whole.
    virtual std::expected<KernelChange, util::Error> apply_without_dnat(
        const model::Model& before, const model::Model& light_before,
        const model::Model& light_after, const model::DnatChangeIndex& index);
    // The store committed `revision`, which the kernel now runs (after apply or
    // apply_change, or after the kernel was put back when a commit failed). Work an apply
    // left for later (a conntrack purge) may start now; the default has none.
    virtual void committed(std::uint64_t /*revision*/) {}
    // The kernel runs a model the store does not hold (a commit failed and putting the kernel
    // back failed too): reconcile it to the stored model soon, and report it out of sync
    // until then, saying `reason`.
    virtual void repair_soon(std::string reason) = 0;
    // What apply would change, without changing anything.
    virtual std::expected<KernelChange, util::Error> plan(const model::Model& model) = 0;
    // Daemon and kernel status for GET /v1/status (reconcile state, features, drift…).
    virtual nlohmann::json status() = 0;
};

}  // namespace natctl::engine
