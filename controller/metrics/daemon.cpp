#include "controller/metrics/daemon.hpp"

#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

namespace natctl::metrics {
namespace {

constexpr const char* kApplies =
    "Applies of a model to the kernel (API writes and reconciles, not dry runs), by result.";

std::optional<std::uint64_t> read_number(const std::filesystem::path& path) {
    std::ifstream file(path);
    if (!file) return std::nullopt;
    std::string text;
    std::getline(file, text);
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end == text.data()) return std::nullopt;
    return value;
}

}  // namespace

DaemonMetrics::DaemonMetrics(Registry& registry, std::string version, DaemonFigures figures,
                             std::filesystem::path netfilter)
    : applies_ok_(registry.counter("natctl_applies_total", kApplies, {{"result", "ok"}})),
      applies_error_(registry.counter("natctl_applies_total", kApplies, {{"result", "error"}})),
      apply_duration_(registry.histogram(
          "natctl_apply_duration_seconds",
          "Time to compile a model and reconcile the kernel to it (applies only).",
          latency_buckets())) {
    registry
        .gauge("natctl_build_info", "natctld's version; the value is always 1.",
               {{"version", std::move(version)}})
        .Set(1);
    registry.add_collector([figures = std::move(figures)](Exposition& out) {
        out.counter("natctl_drift_repairs_total",
                    "Reconciles after a kernel change or a resync that had to repair natctl's "
                    "objects.",
                    {}, static_cast<double>(figures.drift_repairs()));
        out.gauge("natctl_revision", "Revision of the stored model.", {},
                  static_cast<double>(figures.revision()));
        out.gauge("natctl_reconcile_in_sync",
                  "1 when the kernel was last reconciled to the stored model successfully.", {},
                  figures.in_sync() ? 1 : 0);
    });
    registry.add_collector([netfilter = std::move(netfilter)](Exposition& out) {
        auto count = read_number(netfilter / "nf_conntrack_count");
        auto max = read_number(netfilter / "nf_conntrack_max");
        if (count)
            out.gauge("natctl_conntrack_entries",
                      "Entries in the conntrack table of natctld's network namespace.", {},
                      static_cast<double>(*count));
        if (max)
            out.gauge("natctl_conntrack_max",
                      "Size limit of the conntrack table (nf_conntrack_max).", {},
                      static_cast<double>(*max));
    });
}

void DaemonMetrics::record_apply(bool ok, std::chrono::duration<double> took) {
    (ok ? applies_ok_ : applies_error_).Increment();
    apply_duration_.Observe(took.count());
}

}  // namespace natctl::metrics
