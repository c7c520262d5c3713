// natctld's Prometheus metrics: a small registry (counters, gauges, histograms with
// labels) rendered in the text exposition format 0.0.4, plus scrape-time collectors for
// figures read when asked (conntrack table use, per-EIP sessions...). Single-threaded like
// the rest of the daemon: everything is updated and rendered on the io_context thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace natctl::metrics {

// Label name -> value, in the order given (the order they are rendered in).
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { Counter, Gauge, Histogram };

const char* to_string(Type type);

// Names as Prometheus accepts them: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics,
// [a-zA-Z_][a-zA-Z0-9_]* (not starting "__") for labels.
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// Escapes for the text format: HELP text (\\ and \n), label values (\\, \" and \n).
std::string escape_help(std::string_view text);
std::string escape_label_value(std::string_view text);
// A sample value: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string format_value(double value);

// Builds one exposition: families keep the order of their first sample; the samples of a
// family are rendered together, whatever order they were added in. A sample whose name,
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

    bool has_family(std::string_view name) const;
    std::string text() const;

  private:
    struct Family {
        std::string name;
        Type type;
        std::string help;
        std::set<std::string> series;  // label sets given, to refuse duplicates
        std::vector<std::string> lines;
    };
    Family& family(std::string_view name, Type type, std::string_view help, const Labels& labels);

    std::vector<Family> families_;
    std::map<std::string, std::size_t, std::less<>> index_;
};

class Counter {
  public:
    void inc(double amount = 1);  // a negative amount throws std::invalid_argument
    double value() const { return value_; }

  private:
    double value_ = 0;
};

class Gauge {
  public:
    void set(double value) { value_ = value; }
    void inc(double amount = 1) { value_ += amount; }
    void dec(double amount = 1) { value_ -= amount; }
    double value() const { return value_; }

  private:
    double value_ = 0;
};

class Histogram {
  public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double value);
    const std::vector<double>& bounds() const { return bounds_; }
    // Per bucket, not cumulative; bounds().size() + 1 entries (the last: above all).
    const std::vector<std::uint64_t>& counts() const { return counts_; }
    double sum() const { return sum_; }
    std::uint64_t count() const { return count_; }

  private:
    std::vector<double> bounds_;
    std::vector<std::uint64_t> counts_;
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

// Default latency buckets in seconds (1 ms .. 30 s).
std::vector<double> latency_buckets();

// Owns the metrics the daemon updates as things happen, and the collectors that append
// samples at scrape time. References returned stay valid as long as the registry.
// Asking again for an existing name and labels returns the same metric; the same name
// with another type or help throws std::invalid_argument.
class Registry {
  public:
    // The hook for figures computed when scraped (e.g. per-EIP sessions from conntrack
    // accounting): called on every render(), in the order added, after the registry's own
    // metrics. It must not add samples to a family the registry holds.
    using Collector = std::function<void(Exposition&)>;

    Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
    Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
    Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                         const Labels& labels = {});
    void add_collector(Collector collector);

    std::string render() const;

  private:
    struct Family {
        Type type;
        std::string help;
        std::vector<double> bounds;  // histograms
        // keyed by the labels as rendered, so that children come out in a stable order
        std::map<std::string, Labels> labels;
        std::map<std::string, std::unique_ptr<Counter>> counters;
        std::map<std::string, std::unique_ptr<Gauge>> gauges;
        std::map<std::string, std::unique_ptr<Histogram>> histograms;
    };
    Family& family(std::string_view name, Type type, std::string_view help, const Labels& labels,
                   std::string& key);

    std::vector<std::string> order_;
    std::map<std::string, Family, std::less<>> families_;
    std::vector<Collector> collectors_;
};

}  // namespace natctl::metrics
