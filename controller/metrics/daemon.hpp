// natctld's own metrics: applies (count by result, latency),
// drift repairs, revision, reconcile state, conntrack table use, build info. Figures the
// daemon already keeps (revision, in sync, drift repairs) and the conntrack table are
// read at scrape time; applies are recorded as they happen (record_apply).
//
// Other parts of natctld add their series with Registry::add_collector (e.g. conntrack
// accounting: sessions per EIP and entry, port utilisation, ENOBUFS re-syncs).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "controller/metrics/registry.hpp"

namespace natctl::metrics {

struct DaemonFigures {
    std::function<std::uint64_t()> revision;
    std::function<bool()> in_sync;
    std::function<std::uint64_t()> drift_repairs;
};

class DaemonMetrics {
  public:
    // `netfilter`: where nf_conntrack_count and nf_conntrack_max are read (the daemon's
    // network namespace's /proc/sys/net/netfilter); missing files (no conntrack module
    // loaded yet) leave those two gauges out of the scrape.
    DaemonMetrics(Registry& registry, std::string version, DaemonFigures figures,
                  std::filesystem::path netfilter = "/proc/sys/net/netfilter");

    // One apply to the kernel (an API write or a reconcile; not a dry run).
    void record_apply(bool ok, std::chrono::duration<double> took);

  private:
    prometheus::Counter& applies_ok_;
    prometheus::Counter& applies_error_;
    prometheus::Histogram& apply_duration_;
};

}  // namespace natctl::metrics
