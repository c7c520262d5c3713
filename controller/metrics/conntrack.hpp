// Conntrack accounting as Prometheus series, computed at scrape time from the tracker
// (through its read lock) and named with the model of the moment: sessions per EIP and
// per SNAT / DNAT entry, port utilisation per EIP (the busiest destination tuple against
// the gateway's port budget), event and ENOBUFS / re-dump counters. The session log adds
// its own counters (new sessions per EIP and entry, lines written and dropped).
#pragma once

#include <functional>

#include "controller/conntrack/tracker.hpp"
#include "controller/metrics/registry.hpp"
#include "controller/model/types.hpp"

namespace natctl::conntrack {
class SessionRecorder;
}

namespace natctl::metrics {

struct ConntrackMetricsSources {
    const conntrack::Tracker* tracker = nullptr;  // null: accounting not running, no series
    // The model to name EIPs and entries with; called on the scraping thread.
    std::function<const model::Model&()> model;
    const conntrack::SessionRecorder* sessions = nullptr;  // null: no session log counters
};

void add_conntrack_metrics(Registry& registry, ConntrackMetricsSources sources);

}  // namespace natctl::metrics
