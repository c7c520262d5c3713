// The HTTP API of natctld (/v1/…, docs/API.md) as a transport-free service: a request in,
// a response out. The daemon's HTTP server only moves bytes; everything the API decides
// (routing, request bodies, If-Match, answers and their statuses) lives here and is
// unit-testable. Writes go through the engine (controller/engine/writer.hpp), which
// validates, plans, applies and commits them.
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

#include "controller/engine/data_plane.hpp"
#include "controller/engine/writer.hpp"
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

// Port budget counters per gateway and entry (natctld: its rule counters, read through the
// same code as its metrics, controller/metrics/budget.hpp); nullopt: unreadable.
using BudgetCounts = std::map<kernel::CounterRole, kernel::CounterTotal>;
using BudgetCountsSource = std::function<std::optional<BudgetCounts>()>;

class Service {
  public:
    static constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;

    Service(store::Store& store, engine::DataPlane& data_plane)
        : store_(store), data_plane_(data_plane), writer_(store, data_plane) {}
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
    // Told of every change the fast write paths committed (engine::Writer::ChangeObserver),
    // so that what mirrors the model (the session log's names) can follow it in O(change).
    void set_change_observer(engine::Writer::ChangeObserver observer) {
        writer_.set_change_observer(std::move(observer));
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
    engine::DataPlane& data_plane_;
    engine::Writer writer_;
    std::vector<Extension> extensions_;
    const conntrack::Tracker* conntrack_ = nullptr;
    BudgetCountsSource budget_counts_;
    StatusSections status_sections_;
};

}  // namespace natctl::api
