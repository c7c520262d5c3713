// natctld's Prometheus metrics on prometheus-cpp (core only): the counters, gauges and
// histograms the daemon updates as things happen live in a prometheus::Registry; figures
// read when scraped (conntrack table use, per-EIP sessions, rule counters...) are added by
// collectors into one Exposition per scrape, so that every family a collector writes comes
// from the same reading. prometheus::TextSerializer writes the text format 0.0.4.
// Rendered on the daemon's io_context thread; the registry's own metrics are atomic.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace natctl::metrics {

// Label name -> value, in the order given (the order they are rendered in).
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { Counter, Gauge, Histogram };

// Names as Prometheus accepts them: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics,
// [a-zA-Z_][a-zA-Z0-9_]* (not starting "__") for labels.
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// HELP text as the text format wants it (\\ and \n escaped): prometheus-cpp's serializer
// writes help verbatim, so a newline in it would break the exposition.
std::string escape_help(std::string_view text);

// The families of one scrape. Families keep the order of their first sample; the samples
// of a family stay together, whatever order they were added in. A sample whose name,
// labels, type or help contradict what the family already has throws
// std::invalid_argument: that is a programming error, not a runtime condition.
class Exposition {
  public:
    // A counter or gauge sample.
    void add(std::string_view name, Type type, std::string_view help, const Labels& labels,
             double value);
    void counter(std::string_view name, std::string_view help, const Labels& labels, double value) {
        add(name, Type::Counter, help, labels, value);
    }
    void gauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
        add(name, Type::Gauge, help, labels, value);
    }
    // One histogram child: `bounds` strictly increasing and finite (the +Inf bucket is
    // implicit), `counts` per bucket (not cumulative), one more than `bounds` (the last
    // one counts observations above every bound).
    void histogram(std::string_view name, std::string_view help, const Labels& labels,
                   const std::vector<double>& bounds, const std::vector<std::uint64_t>& counts,
                   double sum);
    // Families collected elsewhere (a prometheus::Registry), appended as they are; their
    // names are taken, so a collector cannot add samples to them.
    void adopt(std::vector<prometheus::MetricFamily> families);

    bool has_family(std::string_view name) const;
    const std::vector<prometheus::MetricFamily>& families() const { return families_; }
    std::string text() const;

  private:
    struct Known {
        std::size_t position;
        std::set<std::string> series;  // label sets given, to refuse duplicates
    };
    prometheus::MetricFamily& family(std::string_view name, Type type, std::string_view help,
                                     const Labels& labels);
    void add_series(std::string_view name, const Labels& labels);

    std::vector<prometheus::MetricFamily> families_;
    std::map<std::string, Known, std::less<>> index_;
};

// Default latency buckets in seconds (1 ms .. 30 s).
std::vector<double> latency_buckets();

// Owns the metrics the daemon updates as things happen, and the collectors that add
// samples at scrape time. References returned stay valid as long as the registry.
// Asking again for an existing name and labels returns the same metric; the same name
// with another type, help or buckets throws std::invalid_argument.
class Registry {
  public:
    // The hook for figures computed when scraped: called on every render(), in the order
    // added, after the registry's own metrics. It must not add samples to a family the
    // registry holds.
    using Collector = std::function<void(Exposition&)>;

    prometheus::Counter& counter(std::string_view name, std::string_view help,
                                 const Labels& labels = {});
    prometheus::Gauge& gauge(std::string_view name, std::string_view help,
                             const Labels& labels = {});
    prometheus::Histogram& histogram(std::string_view name, std::string_view help,
                                     std::vector<double> bounds, const Labels& labels = {});
    void add_collector(Collector collector);

    std::string render() const;

  private:
    using AnyFamily = std::variant<prometheus::Family<prometheus::Counter>*,
                                   prometheus::Family<prometheus::Gauge>*,
                                   prometheus::Family<prometheus::Histogram>*>;
    struct Known {
        std::string help;
        std::vector<double> bounds;  // histograms
        AnyFamily family;
    };
    template <typename Metric>
    prometheus::Family<Metric>& family(std::string_view name, std::string_view help,
                                       const Labels& labels, const std::vector<double>& bounds);

    prometheus::Registry registry_;
    std::map<std::string, Known, std::less<>> known_;
    std::vector<Collector> collectors_;
};

}  // namespace natctl::metrics
