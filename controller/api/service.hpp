// The HTTP API of natctld (/v1/…, docs/API.md) as a transport-free service: a request in,
// a response out. The daemon's Beast server only moves bytes; everything the API decides
// (routing, validation, If-Match, plans, errors) lives here and is unit-testable.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/model/change.hpp"
#include "controller/model/types.hpp"
#include "controller/model/validate.hpp"
#include "controller/store/store.hpp"
#include "kernelstate/kernel_state.hpp"
#include "util/error.hpp"

namespace natctl::conntrack {
class Tracker;
}

namespace natctl::api {

struct HttpRequest {
    std::string method;                          // "GET", "PUT", "POST", "DELETE"
    std::string target;                          // path and query, e.g. "/v1/config?dry_run=1"
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::optional<std::uint32_t> peer_uid;  // SO_PEERCRED of the Unix socket peer
};

struct HttpResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // JSON
};

// What a change did to the kernel, as the reconciler reports it.
struct KernelChange {
    bool changed = false;
    nlohmann::json summary;  // counts: sets/chains/elements added, removed; route ops; ...
};

// The kernel side the API drives: the daemon wires it to the reconciler; tests to fakes.
// Errors are typed (util/error.hpp): their kind decides the status the API answers with.
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
    // The store committed `revision`, which the kernel now runs (after apply or
    // apply_change, or after the kernel was put back when a commit failed). Work an apply
    // left for later (a conntrack purge) may start now; the default has none.
    virtual void committed(std::uint64_t /*revision*/) {}
    // What apply would change, without changing anything.
    virtual std::expected<KernelChange, util::Error> plan(const model::Model& model) = 0;
    // Daemon and kernel status for GET /v1/status (reconcile state, features, drift…).
    virtual nlohmann::json status() = 0;
};

// Port budget counters per gateway and entry (natctld: its rule counters, read through the
// same code as its metrics, controller/metrics/budget.hpp); nullopt: unreadable.
using BudgetCounts = std::map<kernel::CounterRole, kernel::CounterTotal>;
using BudgetCountsSource = std::function<std::optional<BudgetCounts>()>;

// The DNAT change index (model/validate.hpp) of the stored model at `revision`: what the
// fast path for one-entry DNAT writes checks a change against. Rebuilt when the stored
// model changed through the general write path.
struct DnatIndexCache {
    std::uint64_t revision = 0;
    model::DnatChangeIndex index;
};

class Service {
  public:
    static constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;

    Service(store::Store& store, DataPlane& data_plane) : store_(store), data_plane_(data_plane) {}
    HttpResponse handle(const HttpRequest& request);
    // Conntrack accounting for GET /v1/ports and /v1/sessions (controller/api/ports.hpp);
    // null: those answer 503.
    void set_conntrack(const conntrack::Tracker* tracker) { conntrack_ = tracker; }
    // The transport has written the answer to the last request: what a write leaves for
    // after its answer (DataPlane::committed, a conntrack purge) starts now, so that it does
    // not compete with the answer. handle() starts it too, before the next request, for a
    // transport that does not call this.
    void answered();
    // The port budget counters GET /v1/ports shows.
    void set_budget_counts(BudgetCountsSource source) { budget_counts_ = std::move(source); }
    // Told of every one-entry DNAT change the fast write path committed, with its revision,
    // so that what mirrors the model (the session log's names) can follow it in O(change).
    // Whole-model writes are not reported: the revision moves on without a change.
    using DnatChangeObserver =
        std::function<void(const model::DnatEntryChange& change, std::uint64_t revision)>;
    void set_dnat_change_observer(DnatChangeObserver observer) {
        dnat_change_observer_ = std::move(observer);
    }
    // A section natctld adds to GET /v1/status under `name` (the host settings, say),
    // computed at each request.
    using StatusSections = std::vector<std::pair<std::string, std::function<nlohmann::json()>>>;
    void add_status_section(std::string name, std::function<nlohmann::json()> section) {
        status_sections_.emplace_back(std::move(name), std::move(section));
    }

    // Endpoints wired in by the daemon beside the model's (high availability: /v1/ha): asked
    // first; nullopt passes the request on.
    using Extension = std::function<std::optional<HttpResponse>(const HttpRequest&)>;
    void add_extension(Extension extension) { extensions_.push_back(std::move(extension)); }

  private:
    store::Store& store_;
    DataPlane& data_plane_;
    std::vector<Extension> extensions_;
    const conntrack::Tracker* conntrack_ = nullptr;
    BudgetCountsSource budget_counts_;
    DnatChangeObserver dnat_change_observer_;
    StatusSections status_sections_;
    // The revision a write committed, for DataPlane::committed once it is answered.
    std::optional<std::uint64_t> answered_revision_;
    std::optional<DnatIndexCache> dnat_index_;
    // The revision the general write path last validated whole: its index needs no second
    // validation.
    std::optional<std::uint64_t> validated_revision_;
};

}  // namespace natctl::api
